//! Every unary RPC: its happy path and the code, DOQ text and reason of each of its failures (docs/errors.md §6,
//! §7.2, §7.3).
//! This file holds the helpers; the tests are grouped by RPC family: `queues`, `messages`,
//! `leases` (ack, nack, touch, update priority) and `unavailable`.
mod leases;
mod messages;
mod queues;
mod unavailable;

use std::collections::HashMap;

use doq_api::{Command, QueueKind, QueueName, QueueSettings};
use doq_proto::queue::{
    queue_settings::Strategy as PbStrategy, AckRequest, CreateQueueRequest, DeleteQueueRequest,
    DeleteRequest, DequeueRequest, EnqueueRequest, GenerateIDsRequest, GetQueueRequest,
    GetQueuesRequest, GetRequest, NackRequest, QueueSettings as PbSettings, TouchRequest,
    UpdatePriorityRequest, UpdateQueueRequest,
};
use tonic::{Code, Request};

use super::{check, eventually, failure, soon, Harness};

fn settings(strategy: PbStrategy, max_unacked: u32, ack_timeout: u32) -> Option<PbSettings> {
    Some(PbSettings {
        strategy: strategy as i32,
        max_unacked,
        ack_timeout,
    })
}

fn with_metadata<T>(message: T, key: &'static str, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(key, value.parse().expect("ascii metadata"));
    request
}

fn dequeue_req(queue: &str, ack: bool) -> DequeueRequest {
    DequeueRequest {
        queue_name: queue.into(),
        ack,
    }
}

fn ack_req(queue: &str, id: u64) -> AckRequest {
    AckRequest {
        queue_name: queue.into(),
        id,
    }
}
