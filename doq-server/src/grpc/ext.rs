//! `impl DoqExt for DoqExtService`: the extension service `doq.ext.v1.DOQExt` (docs/grpc.md §7.4), served
//! beside `queue.DOQ` on the same server, consensus and limits. Each method is a thin hop into
//! `batches.rs` or `subscribe.rs`.
use doq_proto::ext::{
    doq_ext_server::DoqExt, AckBatchRequest, AckBatchResponse, DequeueBatchRequest,
    DequeueBatchResponse, EnqueueBatchRequest, EnqueueBatchResponse, SubscribeRequest,
};
use tonic::{Request, Response, Status, Streaming};

use crate::grpc::{batches, subscribe, DoqService};

/// The `DOQExt` service: the same shared state as [`DoqService`], under the extension's trait.
#[derive(Clone, Debug)]
pub struct DoqExtService(pub DoqService);

#[tonic::async_trait]
impl DoqExt for DoqExtService {
    async fn enqueue_batch(
        &self,
        request: Request<EnqueueBatchRequest>,
    ) -> Result<Response<EnqueueBatchResponse>, Status> {
        batches::enqueue(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn dequeue_batch(
        &self,
        request: Request<DequeueBatchRequest>,
    ) -> Result<Response<DequeueBatchResponse>, Status> {
        batches::dequeue(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn ack_batch(
        &self,
        request: Request<AckBatchRequest>,
    ) -> Result<Response<AckBatchResponse>, Status> {
        batches::ack(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    type SubscribeStream = subscribe::Deliveries;

    async fn subscribe(
        &self,
        request: Request<Streaming<SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Ok(Response::new(subscribe::start(
            &self.0,
            request.into_inner(),
        )))
    }
}
