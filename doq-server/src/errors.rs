//! The one place errors meet the wire: which HTTP status, problem `detail`, `errors[0].message` and `code`
//! each failure of each route gets (docs/errors.md §6). Handlers return `Result<_, ApiError>`. The gRPC half
//! ([`grpc_status`]) gives each failure of each RPC its code and DOQ's exact text (docs/errors.md §6, §7.2).
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use doq_api::{Error, ErrorKind, Reply};
use serde_json::Value;

use crate::http::problem::{Problem, ProblemItem};

/// The operation a request performs; DOQ words its errors per operation, so the mapping needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /API/v1/queues`.
    CreateQueue,
    /// `GET /API/v1/queues`.
    ListQueues,
    /// `GET /API/v1/queues/{q}`.
    QueueInfo,
    /// `PUT /API/v1/queues/{q}`.
    UpdateQueue,
    /// `DELETE /API/v1/queues/{q}`.
    DeleteQueue,
    /// `POST …/{q}/purge` (EXT).
    Purge,
    /// `POST …/{q}/messages`.
    Enqueue,
    /// `GET …/{q}/messages`.
    Dequeue,
    /// `GET …/messages/{id}`.
    GetMessage,
    /// `DELETE …/messages/{id}`.
    DeleteMessage,
    /// `POST …/messages/{id}/ack`.
    Ack,
    /// `POST …/messages/{id}/nack`.
    Nack,
    /// `POST …/messages/{id}/touch`.
    Touch,
    /// `PUT …/messages/{id}/priority`.
    UpdatePriority,
    /// `POST /API/v1/ids`.
    ReserveIds,
    /// `POST …/{q}/batch/enqueue` (EXT).
    BatchEnqueue,
    /// `POST …/{q}/batch/dequeue` (EXT).
    BatchDequeue,
    /// `POST …/{q}/batch/ack` (EXT).
    BatchAck,
    /// `GET …/{q}/peek` (EXT).
    Peek,
    /// `GET /API/v1/cluster/servers`.
    ClusterServers,
    /// `GET /API/v1/cluster/status` (EXT).
    ClusterStatus,
    /// `POST /API/v1/cluster/join`.
    Join,
    /// `POST /API/v1/cluster/leave`.
    Leave,
    /// `GET|POST /db/backup`.
    Backup,
    /// `POST /db/restore`.
    Restore,
    /// `GET /metrics`.
    Metrics,
}

impl Route {
    /// The route's own `detail` text, used when §6 names no specific one.
    fn detail(self) -> &'static str {
        match self {
            // (sic) DOQ's create handler reuses the enqueue text.
            Self::CreateQueue => "Failed to enqueue a message",
            Self::ListQueues => "Failed to get queues",
            Self::QueueInfo => "Failed to get stats for a queue",
            Self::UpdateQueue => "Failed to update a queue",
            Self::DeleteQueue => "Failed to delete a queue",
            Self::Purge | Self::BatchEnqueue | Self::BatchDequeue | Self::BatchAck | Self::Peek => {
                "Queue not found"
            }
            Self::Enqueue => "Failed to enqueue a message",
            Self::Dequeue => "Failed to dequeue a message from a queue",
            Self::GetMessage => "Failed to get a message from a queue",
            Self::DeleteMessage => "Failed to delete a message from a queue",
            Self::Ack => "Failed to ack a message from a queue",
            Self::Nack => "Failed to nack a message from a queue",
            Self::Touch => "Failed to touch a message from a queue",
            // (sic)
            Self::UpdatePriority => "Failed to update priority a message",
            Self::ReserveIds => "Failed to generate ids",
            Self::ClusterServers | Self::ClusterStatus => "Failed to get the cluster status",
            Self::Join | Self::Leave => "Membership change refused",
            Self::Backup => "Failed to backup database",
            Self::Restore => "Failed to restore database",
            Self::Metrics => "Failed to render metrics",
        }
    }
}

/// One 422 item: where the bad value is, what was expected, and the value itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// `body.priority`, `path.id`, `query.ack`, …
    pub location: String,
    /// JSON-Schema wording, such as `expected number >= 0`.
    pub message: String,
    /// The offending value; `None` leaves it out (for values too large to echo).
    pub value: Option<Value>,
}

impl Violation {
    /// A violation at `location`.
    pub fn new(
        location: impl Into<String>,
        message: impl Into<String>,
        value: Option<Value>,
    ) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
            value,
        }
    }
}

/// Why a request failed, before it is turned into a problem response.
#[derive(Debug)]
enum Failure {
    /// An operation failed in the engine, the store or consensus.
    Operation { route: Route, error: Error },
    /// The request breaks the schema or a limit.
    Invalid(Vec<Violation>),
    /// A body-taking route got an empty body.
    BodyRequired,
    /// The body is over `limits.max_body_bytes`.
    BodyTooLarge,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// No route has this path.
    RouteNotFound,
    /// The path exists, the method does not.
    MethodNotAllowed,
    /// An admin operation from a non-loopback client while no `auth.token` is set.
    AdminLocalOnly,
}

/// A failed request. Converts into DOQ's `application/problem+json` response.
#[derive(Debug)]
pub struct ApiError(Failure);

impl ApiError {
    /// `error` happened while serving `route`.
    pub fn new(route: Route, error: Error) -> Self {
        Self(Failure::Operation { route, error })
    }

    /// A 422 with these items (never empty: an empty list still answers 422).
    pub fn invalid(violations: Vec<Violation>) -> Self {
        Self(Failure::Invalid(violations))
    }

    /// A 422 with one item.
    pub fn violation(
        location: impl Into<String>,
        message: impl Into<String>,
        value: Option<Value>,
    ) -> Self {
        Self::invalid(vec![Violation::new(location, message, value)])
    }

    /// A 500 for a reply that does not fit the command (a bug in the layers below).
    pub fn unexpected_reply(route: Route, reply: &Reply) -> Self {
        Self::new(
            route,
            Error::Internal(format!("unexpected reply {reply:?}")),
        )
    }

    /// 400 `request body is required`.
    pub fn body_required() -> Self {
        Self(Failure::BodyRequired)
    }

    /// 413 `request body is too large`.
    pub fn body_too_large() -> Self {
        Self(Failure::BodyTooLarge)
    }

    /// 415 `unsupported media type`.
    pub fn unsupported_media_type() -> Self {
        Self(Failure::UnsupportedMediaType)
    }

    /// 404 for a path no route matches.
    pub fn route_not_found() -> Self {
        Self(Failure::RouteNotFound)
    }

    /// 405 for a known path with another method (the caller keeps the `Allow` header).
    pub fn method_not_allowed() -> Self {
        Self(Failure::MethodNotAllowed)
    }

    /// 403 `admin_local_only` (docs/http.md §2): admin operations are local-only without `auth.token`.
    pub fn admin_local_only() -> Self {
        Self(Failure::AdminLocalOnly)
    }

    /// The doq error behind an operation failure, if that is what this is.
    pub fn error(&self) -> Option<&Error> {
        match &self.0 {
            Failure::Operation { error, .. } => Some(error),
            Failure::Invalid(_)
            | Failure::BodyRequired
            | Failure::BodyTooLarge
            | Failure::UnsupportedMediaType
            | Failure::RouteNotFound
            | Failure::MethodNotAllowed
            | Failure::AdminLocalOnly => None,
        }
    }

    /// The stable snake_case `code` of docs/errors.md §6.
    pub fn code(&self) -> &'static str {
        match &self.0 {
            Failure::Operation { error, .. } => error.code(),
            Failure::Invalid(_) => "validation_failed",
            Failure::BodyRequired => "body_required",
            Failure::BodyTooLarge => "body_too_large",
            Failure::UnsupportedMediaType => "unsupported_media_type",
            Failure::RouteNotFound => "route_not_found",
            Failure::MethodNotAllowed => "method_not_allowed",
            Failure::AdminLocalOnly => "admin_local_only",
        }
    }

    /// The problem this error is answered with.
    fn problem(self) -> Problem {
        let code = self.code();
        match self.0 {
            Failure::Operation { route, error } => operation_problem(route, &error),
            Failure::Invalid(items) => {
                let errors = items
                    .into_iter()
                    .map(|v| ProblemItem {
                        message: v.message,
                        location: Some(v.location),
                        value: v.value,
                    })
                    .collect();
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation failed",
                    errors,
                    code,
                )
            }
            Failure::BodyRequired => Problem::new(
                StatusCode::BAD_REQUEST,
                "request body is required",
                vec![],
                code,
            ),
            Failure::BodyTooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is too large",
                vec![],
                code,
            ),
            Failure::UnsupportedMediaType => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported media type",
                vec![],
                code,
            ),
            Failure::RouteNotFound => {
                Problem::new(StatusCode::NOT_FOUND, "Not Found", vec![], code)
            }
            Failure::MethodNotAllowed => Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                vec![],
                code,
            ),
            Failure::AdminLocalOnly => Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                vec![ProblemItem::text(
                    "admin operations are local-only without auth.token".into(),
                )],
                code,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.problem().into_response()
    }
}

/// The default HTTP status of each error class. No wildcard: a new kind must be mapped here.
pub fn status(kind: ErrorKind) -> StatusCode {
    match kind {
        // DOQ routes override this with their own 400/409 (see `operation_problem`); extension routes keep 404.
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        // DOQ clients expect 400 for an empty queue.
        ErrorKind::Empty => StatusCode::BAD_REQUEST,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        // The outcome may be unknown: retry (docs/errors.md §6).
        ErrorKind::Unavailable | ErrorKind::Storage => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `errors[0].message` an error gets when its route has no text of its own.
fn message(error: &Error) -> String {
    match error {
        Error::QueueNotFound(q) => format!("Failed to get a queue: {q}"),
        Error::QueueEmpty(q) => format!("Queue is empty: {q}"),
        Error::MessageNotFound { queue } => {
            format!("Failed to get a message from a queue: {queue}")
        }
        Error::LeaseNotHeld { queue } => format!("Message not found: {queue}"),
        Error::StaleReceipt { queue } => format!("Stale receipt: {queue}"),
        Error::InvalidSettings { reason, .. } => reason.clone(),
        Error::QueueInUse(q) => format!("Queue is used as a dead-letter queue: {q}"),
        Error::Invalid { message, .. } => message.clone(),
        Error::MembershipRefused(reason) => reason.clone(),
        Error::Unavailable(why) | Error::OutcomeUnknown(why) => why.clone(),
        Error::Storage { .. } | Error::Internal(_) => error.to_string(),
        // `doq_api::Error` is non-exhaustive; a variant added there shows its own text until mapped here.
        other => other.to_string(),
    }
}

/// The problem for `error` on `route`, with DOQ's per-route texts (docs/errors.md §6).
fn operation_problem(route: Route, error: &Error) -> Problem {
    let kind = error.kind();
    let code = error.code();
    match kind {
        ErrorKind::Unavailable | ErrorKind::Storage => {
            tracing::warn!(error = %error, ?route, "request failed: retry");
            return Problem::new(
                status(kind),
                "Service unavailable",
                vec![ProblemItem::text(message(error))],
                code,
            )
            .retry_after(1);
        }
        ErrorKind::Internal => {
            tracing::error!(error = %error, ?route, "request failed on a bug");
            return Problem::new(
                status(kind),
                "unexpected error occurred",
                vec![ProblemItem::text(message(error))],
                code,
            );
        }
        ErrorKind::Invalid => {
            if let Error::Invalid {
                location,
                message,
                value,
            } = error
            {
                let item = ProblemItem {
                    message: message.clone(),
                    location: Some(location.clone()),
                    value: Some(Value::String(value.clone())),
                };
                return Problem::new(status(kind), "validation failed", vec![item], code);
            }
        }
        ErrorKind::NotFound | ErrorKind::Empty | ErrorKind::Conflict => {}
    }
    let (status, detail, message) = match (route, error) {
        (Route::CreateQueue, Error::InvalidSettings { name, .. }) => (
            StatusCode::CONFLICT,
            route.detail(),
            format!("Failed to create a queue: {name}"),
        ),
        (Route::UpdateQueue, Error::InvalidSettings { name, .. } | Error::QueueNotFound(name)) => (
            StatusCode::CONFLICT,
            route.detail(),
            format!("Failed to update a queue: {name}"),
        ),
        // (sic) DOQ's delete handler reuses the dequeue text.
        (Route::DeleteQueue, Error::QueueNotFound(name)) => (
            StatusCode::BAD_REQUEST,
            "Failed to dequeue a message from a queue",
            format!("Failed to delete a queue: {name}"),
        ),
        (Route::QueueInfo, Error::QueueNotFound(_)) => (
            StatusCode::BAD_REQUEST,
            route.detail(),
            "queue not found".to_string(),
        ),
        (Route::Enqueue, Error::QueueNotFound(_)) => {
            (StatusCode::CONFLICT, route.detail(), message(error))
        }
        (Route::DeleteMessage, Error::MessageNotFound { queue }) => (
            StatusCode::BAD_REQUEST,
            route.detail(),
            format!("Failed to delete a message from a queue: {queue}"),
        ),
        (Route::Ack | Route::Nack | Route::Touch, Error::MessageNotFound { queue }) => (
            StatusCode::BAD_REQUEST,
            route.detail(),
            format!("Message not found: {queue}"),
        ),
        // (sic) both texts are DOQ's.
        (
            Route::UpdatePriority,
            Error::QueueNotFound(queue)
            | Error::MessageNotFound { queue }
            | Error::LeaseNotHeld { queue },
        ) => (
            StatusCode::CONFLICT,
            route.detail(),
            format!("Failed to dequeue a message from a queue: {queue}"),
        ),
        (
            Route::Dequeue
            | Route::GetMessage
            | Route::DeleteMessage
            | Route::Ack
            | Route::Nack
            | Route::Touch
            | Route::QueueInfo
            | Route::ListQueues,
            _,
        ) if kind == ErrorKind::NotFound || kind == ErrorKind::Empty => {
            (StatusCode::BAD_REQUEST, route.detail(), message(error))
        }
        (
            Route::Purge
            | Route::BatchEnqueue
            | Route::BatchDequeue
            | Route::BatchAck
            | Route::Peek,
            Error::QueueNotFound(_),
        ) => (StatusCode::NOT_FOUND, "Queue not found", message(error)),
        (Route::Restore, Error::BackupInvalid(_)) => {
            (StatusCode::BAD_REQUEST, route.detail(), message(error))
        }
        (Route::Backup, Error::SinceTooOld) => (
            StatusCode::CONFLICT,
            "Incremental backup not possible",
            message(error),
        ),
        (Route::DeleteQueue, Error::QueueInUse(_)) => {
            (StatusCode::CONFLICT, route.detail(), message(error))
        }
        _ => (status(kind), route.detail(), message(error)),
    };
    Problem::new(status, detail, vec![ProblemItem::text(message)], code)
}

// ---- gRPC (docs/errors.md §6 gRPC column, §7.2 texts): the status each failure of each RPC gets. ----

/// The RPC a failure happened in; DOQ words its gRPC errors per RPC, some with the queue name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcOp<'a> {
    /// `GenerateIDs`.
    GenerateIds,
    /// `CreateQueue` of the named queue.
    CreateQueue(&'a str),
    /// `UpdateQueue` of the named queue.
    UpdateQueue(&'a str),
    /// `DeleteQueue` of the named queue.
    DeleteQueue(&'a str),
    /// `GetQueue` of the named queue.
    GetQueue(&'a str),
    /// `GetQueues`.
    GetQueues,
    /// `Enqueue` and `EnqueueStream`.
    Enqueue,
    /// `Dequeue` and `DequeueStream`.
    Dequeue,
    /// `Get`.
    Get,
    /// `Delete`.
    Delete,
    /// `Ack`.
    Ack,
    /// `Nack`.
    Nack,
    /// `Touch`.
    Touch,
    /// `UpdatePriority`.
    UpdatePriority,
    /// `DOQExt.EnqueueBatch` (EXT).
    EnqueueBatch,
    /// `DOQExt.DequeueBatch` (EXT).
    DequeueBatch,
    /// `DOQExt.AckBatch` (EXT).
    AckBatch,
    /// `DOQExt.Subscribe` (EXT).
    Subscribe,
}

impl GrpcOp<'_> {
    /// DOQ's status message for any failure of this RPC (docs/grpc.md §7.2); clients match on it.
    fn text(self) -> String {
        match self {
            Self::GenerateIds => "failed to generate ids".into(),
            Self::CreateQueue(name) => format!("failed to create a queue {name}"),
            Self::UpdateQueue(name) => format!("failed to update a queue {name}"),
            Self::DeleteQueue(name) => format!("failed to delete a queue {name}"),
            Self::GetQueue(name) => format!("failed to get a queue {name}"),
            Self::GetQueues => "failed to get queues".into(),
            Self::Enqueue => "failed to enqueue a message".into(),
            Self::Dequeue => "failed to dequeue a message".into(),
            Self::Get => "failed to get a message".into(),
            Self::Delete => "failed to delete a message".into(),
            // (sic) DOQ's Nack reuses the Ack text.
            Self::Ack | Self::Nack => "failed to ack a message".into(),
            Self::Touch => "failed to touch a message".into(),
            // (sic)
            Self::UpdatePriority => "failed to update prioprity of a message".into(),
            // The extension's own texts, in DOQ's style; the ErrorInfo reason says why.
            Self::EnqueueBatch => "failed to enqueue messages".into(),
            Self::DequeueBatch => "failed to dequeue messages".into(),
            Self::AckBatch => "failed to ack messages".into(),
            Self::Subscribe => "failed to subscribe to a queue".into(),
        }
    }
}

/// The gRPC code of each error class (docs/errors.md §6, gRPC column). No wildcard: a new kind must be mapped here.
fn grpc_code(op: GrpcOp<'_>, error: &Error) -> tonic::Code {
    match error.kind() {
        // DOQ's empty-queue answer is a NotFound too.
        ErrorKind::NotFound | ErrorKind::Empty => tonic::Code::NotFound,
        ErrorKind::Invalid => tonic::Code::InvalidArgument,
        // An impossible settings combination is a bad argument on create; on update, and for a queue in
        // use or a stale receipt, the request is fine but the state forbids it.
        ErrorKind::Conflict => match (op, error) {
            (GrpcOp::CreateQueue(_), Error::InvalidSettings { .. }) => tonic::Code::InvalidArgument,
            _ => tonic::Code::FailedPrecondition,
        },
        // gRPC's own code for "may have completed" (docs/errors.md §6): sent, but not answered in time.
        ErrorKind::Unavailable if matches!(error, Error::OutcomeUnknown(_)) => {
            tonic::Code::DeadlineExceeded
        }
        // Nothing was applied (or, for storage, the outcome is unknown): retry.
        ErrorKind::Unavailable | ErrorKind::Storage => tonic::Code::Unavailable,
        ErrorKind::Internal => tonic::Code::Internal,
    }
}

/// The status `error` gets when it ends RPC `op`: a typed code, DOQ's exact text, and an `ErrorInfo`
/// whose reason is the error's stable code. Internal detail goes to the log only.
pub fn grpc_status(op: GrpcOp<'_>, error: &Error) -> tonic::Status {
    let code = grpc_code(op, error);
    let text = match (op, error.kind()) {
        (GrpcOp::GenerateIds, ErrorKind::Invalid) => "number must be between 1 and 1000".into(),
        _ => op.text(),
    };
    match error.kind() {
        ErrorKind::Unavailable | ErrorKind::Storage => {
            tracing::warn!(error = %error, ?op, "gRPC request failed: retry");
        }
        ErrorKind::Internal => tracing::error!(error = %error, ?op, "gRPC request failed on a bug"),
        ErrorKind::NotFound | ErrorKind::Empty | ErrorKind::Invalid | ErrorKind::Conflict => {
            tracing::debug!(error = %error, ?op, "gRPC request failed");
        }
    }
    let mut metadata = std::collections::BTreeMap::new();
    if let Error::Invalid {
        location, message, ..
    } = error
    {
        metadata.insert("location".to_string(), location.clone());
        metadata.insert("message".to_string(), message.clone());
    }
    crate::grpc::status_details::status(code, text, error.code(), metadata)
}

/// The `code` and `message` of one failed item of a batch ack (`DOQExt.AckBatch`, like HTTP's
/// `…/batch/ack`): the error's stable code and the text HTTP's ack route gives it.
pub fn item_failure(error: &Error) -> (&'static str, String) {
    match error.kind() {
        ErrorKind::Unavailable | ErrorKind::Storage => {
            tracing::warn!(error = %error, "batch ack item failed: retry");
        }
        ErrorKind::Internal => tracing::error!(error = %error, "batch ack item failed on a bug"),
        ErrorKind::NotFound | ErrorKind::Empty | ErrorKind::Invalid | ErrorKind::Conflict => {}
    }
    let text = match error {
        Error::MessageNotFound { queue } => format!("Message not found: {queue}"),
        other => message(other),
    };
    (error.code(), text)
}

/// DOQ's answer to a `CreateQueue` or `UpdateQueue` without `settings` (INVALID_ARGUMENT).
pub fn grpc_settings_required(op: GrpcOp<'_>) -> tonic::Status {
    let text = match op {
        GrpcOp::CreateQueue(_) => "invalid settings provided".to_string(),
        GrpcOp::UpdateQueue(_) => "queue settings are required".to_string(),
        other => other.text(),
    };
    let metadata = std::collections::BTreeMap::from([
        ("location".to_string(), "settings".to_string()),
        (
            "message".to_string(),
            "expected required property settings to be present".to_string(),
        ),
    ]);
    crate::grpc::status_details::status(
        tonic::Code::InvalidArgument,
        text,
        "validation_failed",
        metadata,
    )
}

/// A missing or wrong bearer token (UNAUTHENTICATED).
pub fn grpc_unauthenticated() -> tonic::Status {
    crate::grpc::status_details::status(
        tonic::Code::Unauthenticated,
        "missing or invalid bearer token".into(),
        "unauthorized",
        std::collections::BTreeMap::new(),
    )
}

/// A status tonic's codec raised before a handler saw the message. The only one doq re-maps is the
/// oversized message: OUT_OF_RANGE in tonic, RESOURCE_EXHAUSTED in the contract (docs/http.md §2.1), like
/// grpc-go. doq itself never answers OUT_OF_RANGE, so the code alone identifies it.
pub fn grpc_transport_status(status: tonic::Status) -> tonic::Status {
    match status.code() {
        tonic::Code::OutOfRange => crate::grpc::status_details::status(
            tonic::Code::ResourceExhausted,
            status.message().to_string(),
            "body_too_large",
            std::collections::BTreeMap::new(),
        ),
        _ => status,
    }
}
