//! `impl Doq for DoqService`: one method per RPC of `queue.DOQ`, each a thin hop into the file that
//! implements it (`queues.rs`, `messages.rs`, `enqueue_stream.rs`, `dequeue_stream.rs`).
use doq_api::Error;
use doq_proto::queue::{
    doq_server::Doq, AckRequest, AckResponse, CreateQueueRequest, CreateQueueResponse,
    DeleteQueueRequest, DeleteQueueResponse, DeleteRequest, DeleteResponse, DequeueRequest,
    DequeueResponse, EnqueueRequest, EnqueueResponse, GenerateIDsRequest, GenerateIDsResponse,
    GetQueueRequest, GetQueueResponse, GetQueuesRequest, GetQueuesResponse, GetRequest,
    GetResponse, NackRequest, NackResponse, TouchRequest, TouchResponse, UpdatePriorityRequest,
    UpdatePriorityResponse, UpdateQueueRequest, UpdateQueueResponse,
};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    errors::{grpc_status, GrpcOp},
    grpc::{convert, dequeue_stream, enqueue_stream, messages, queues, DoqService},
};

#[tonic::async_trait]
impl Doq for DoqService {
    async fn generate_i_ds(
        &self,
        request: Request<GenerateIDsRequest>,
    ) -> Result<Response<GenerateIDsResponse>, Status> {
        messages::generate_ids(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn create_queue(
        &self,
        request: Request<CreateQueueRequest>,
    ) -> Result<Response<CreateQueueResponse>, Status> {
        queues::create(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn update_queue(
        &self,
        request: Request<UpdateQueueRequest>,
    ) -> Result<Response<UpdateQueueResponse>, Status> {
        queues::update(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete_queue(
        &self,
        request: Request<DeleteQueueRequest>,
    ) -> Result<Response<DeleteQueueResponse>, Status> {
        queues::delete(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_queue(
        &self,
        request: Request<GetQueueRequest>,
    ) -> Result<Response<GetQueueResponse>, Status> {
        queues::get(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_queues(
        &self,
        request: Request<GetQueuesRequest>,
    ) -> Result<Response<GetQueuesResponse>, Status> {
        queues::list(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn enqueue(
        &self,
        request: Request<EnqueueRequest>,
    ) -> Result<Response<EnqueueResponse>, Status> {
        let fail = |e: Error| grpc_status(GrpcOp::Enqueue, &e);
        let input = convert::enqueue(request.into_inner(), &self.options.limits).map_err(fail)?;
        messages::enqueue(self.consensus.clone(), input)
            .await
            .map(Response::new)
            .map_err(fail)
    }

    type EnqueueStreamStream = enqueue_stream::Responses;

    async fn enqueue_stream(
        &self,
        request: Request<Streaming<EnqueueRequest>>,
    ) -> Result<Response<Self::EnqueueStreamStream>, Status> {
        Ok(Response::new(enqueue_stream::start(
            self,
            request.into_inner(),
        )))
    }

    async fn dequeue(
        &self,
        request: Request<DequeueRequest>,
    ) -> Result<Response<DequeueResponse>, Status> {
        messages::dequeue(self, request).await
    }

    type DequeueStreamStream = dequeue_stream::Responses;

    async fn dequeue_stream(
        &self,
        request: Request<Streaming<DequeueRequest>>,
    ) -> Result<Response<Self::DequeueStreamStream>, Status> {
        Ok(Response::new(dequeue_stream::start(
            self,
            request.into_inner(),
        )))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        messages::get(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        messages::delete(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        messages::ack(self, request).await.map(Response::new)
    }

    async fn nack(&self, request: Request<NackRequest>) -> Result<Response<NackResponse>, Status> {
        messages::nack(self, request).await.map(Response::new)
    }

    async fn update_priority(
        &self,
        request: Request<UpdatePriorityRequest>,
    ) -> Result<Response<UpdatePriorityResponse>, Status> {
        messages::update_priority(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn touch(
        &self,
        request: Request<TouchRequest>,
    ) -> Result<Response<TouchResponse>, Status> {
        messages::touch(self, request).await.map(Response::new)
    }
}
