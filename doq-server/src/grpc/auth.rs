//! Bearer-token check for gRPC (docs/grpc.md §7.1): with `auth.token` set, every RPC except health needs the
//! metadata entry `authorization: Bearer <token>`, compared in constant time; otherwise UNAUTHENTICATED.
use std::sync::Arc;

use tonic::{service::Interceptor, Request, Status};

use crate::{bearer::bearer_matches, errors};

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
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if bearer_matches(authorization, &self.token) {
            Ok(request)
        } else {
            Err(errors::grpc_unauthenticated())
        }
    }
}
