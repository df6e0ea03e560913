//! Bearer-token check for gRPC (docs/grpc.md §7.1): with `auth.token` set, every RPC except health needs the
//! metadata entry `authorization: Bearer <token>`, compared in constant time; otherwise UNAUTHENTICATED.
use std::sync::Arc;

use tonic::{service::Interceptor, Request, Status};

use crate::{errors, server::constant_time_eq};

/// The interceptor: no token configured lets everything through.
#[derive(Clone, Debug)]
pub(crate) struct Bearer {
    token: Arc<str>,
}

impl Bearer {
    /// Checks against `token` (empty: no check).
    pub(crate) fn new(token: &str) -> Self {
        Self {
            token: Arc::from(token),
        }
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if self.token.is_empty() {
            return Ok(request);
        }
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(presented.as_bytes(), self.token.as_bytes()) {
            Ok(request)
        } else {
            Err(errors::grpc_unauthenticated())
        }
    }
}
