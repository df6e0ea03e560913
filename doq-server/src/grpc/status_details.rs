//! The binary details every non-OK doq status carries (docs/errors.md §6 [EXT]): a `google.rpc.Status` whose
//! `details` hold one `google.rpc.ErrorInfo{reason=<code>, domain="doq"}`, in `grpc-status-details-bin`.
//! The three messages are declared here with prost's derive, so no extra proto crate is needed.
use std::collections::BTreeMap;

use prost::Message as _;
use tonic::{Code, Status};

/// `ErrorInfo.domain` of every doq error.
pub(crate) const DOMAIN: &str = "doq";

/// The type URL of `google.rpc.ErrorInfo` inside an `Any`.
pub(crate) const ERROR_INFO_TYPE: &str = "type.googleapis.com/google.rpc.ErrorInfo";

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    /// The gRPC code, repeated from the status.
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    /// The message, repeated from the status.
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    /// Typed details; doq sends one `ErrorInfo`.
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Any {
    /// Names the packed message's type.
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    /// The packed message.
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `google.rpc.ErrorInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ErrorInfo {
    /// doq's stable snake_case error code (docs/errors.md §6), such as `queue_empty`.
    #[prost(string, tag = "1")]
    pub(crate) reason: String,
    /// Always `doq`.
    #[prost(string, tag = "2")]
    pub(crate) domain: String,
    /// Extra facts, such as where a validation error is (`location`) and why (`message`).
    #[prost(btree_map = "string, string", tag = "3")]
    pub(crate) metadata: BTreeMap<String, String>,
}

/// A status with `code` and `message` whose details name doq's `reason`.
pub(crate) fn status(
    code: Code,
    message: String,
    reason: &str,
    metadata: BTreeMap<String, String>,
) -> Status {
    let info = ErrorInfo {
        reason: reason.to_string(),
        domain: DOMAIN.to_string(),
        metadata,
    };
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![Any {
            type_url: ERROR_INFO_TYPE.to_string(),
            value: info.encode_to_vec(),
        }],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}

/// The `ErrorInfo` inside a status's details, if it carries one (tests read it back).
#[cfg(test)]
pub(crate) fn error_info(status: &Status) -> Option<ErrorInfo> {
    let rpc = RpcStatus::decode(status.details()).ok()?;
    let any = rpc
        .details
        .into_iter()
        .find(|a| a.type_url == ERROR_INFO_TYPE)?;
    ErrorInfo::decode(any.value.as_slice()).ok()
}
