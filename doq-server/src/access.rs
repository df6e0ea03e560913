//! Who may call what over HTTP (docs/http.md §2): the bearer token on `/API/…` and `/db/…`, and the admin
//! operations (join, leave, `/db/backup`, `/db/restore`), which change or reveal everything.
//!
//! - With `auth.token` set, every protected route needs it (401 otherwise).
//! - Without a token, admin operations are served to loopback clients only (403 `admin_local_only`):
//!   a default install must not let anyone who reaches port 8000 wipe the data or join the cluster.
//! - A join or leave that proves `cluster.secret` (an HMAC over a nonce this member issued and over
//!   the body, see `doq_consensus::secret`) is served from any address, with or without a token, since
//!   that is how a node on another host joins. A refused join or leave carries a fresh nonce in
//!   `x-doq-cluster-nonce`, so the joining node can prove the secret on its next attempt.
use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::{
        connect_info::{ConnectInfo, Connected},
        FromRequestParts, Request,
    },
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    serve::IncomingStream,
};
use doq_consensus::{
    secret::{NONCE_HEADER, PROOF_HEADER},
    ClusterSecret,
};

use crate::{bearer::bearer_matches, errors::ApiError, tls::TlsListener};

/// The TCP peer of a connection, as the access rules see it (axum's `ConnectInfo`), over plain TCP or TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The largest join or leave body a proof is checked over (they are a few dozen bytes).
const MAX_PROVEN_BODY: usize = 64 * 1024;

/// The access rules of one node.
#[derive(Clone, Debug)]
pub struct Access {
    token: Arc<str>,
    secret: Option<ClusterSecret>,
    /// `auth.protect_metrics`: `/metrics` follows the `/API/…` rules instead of being open.
    protect_metrics: bool,
}

/// What kind of route a path is, for access purposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Open to anyone (health, UI, docs, metrics).
    Open,
    /// `/API/…` and `/db/…`: needs the token when one is set.
    Protected,
    /// `/db/backup`, `/db/restore`: also local-only without a token.
    Admin,
    /// Join and leave: admin, or proven by the cluster secret.
    Membership,
}

fn kind(path: &str, protect_metrics: bool) -> Kind {
    let lower = path.to_ascii_lowercase();
    // The router ignores one trailing slash (docs/http.md §2), so the rules do too.
    let p = lower.strip_suffix('/').unwrap_or(&lower);
    match p {
        "/api/v1/cluster/join" | "/api/v1/cluster/leave" => Kind::Membership,
        "/db/backup" | "/db/restore" => Kind::Admin,
        "/metrics" if protect_metrics => Kind::Protected,
        _ if p == "/api" || p.starts_with("/api/") || p.starts_with("/db/") || p == "/db" => {
            Kind::Protected
        }
        _ => Kind::Open,
    }
}

impl Access {
    /// Rules for `auth.token` (empty: none) and `cluster.secret` (empty: none).
    pub fn new(token: &str, secret: &str) -> Self {
        Self {
            token: Arc::from(token),
            secret: ClusterSecret::new(secret),
            protect_metrics: false,
        }
    }

    /// With `protect`, `/metrics` needs the token like `/API/…` (`auth.protect_metrics`, docs/config.md §10).
    #[must_use]
    pub fn protect_metrics(mut self, protect: bool) -> Self {
        self.protect_metrics = protect;
        self
    }

    /// The startup log line that says how admin operations are protected (docs/http.md §2).
    pub fn describe(&self) -> &'static str {
        match (self.token.is_empty(), self.secret.is_some()) {
            (false, _) => "admin operations (join, leave, /db/backup, /db/restore) need auth.token",
            (true, true) => "auth.token is not set: admin operations (join, leave, /db/backup, /db/restore) are served to loopback clients only; nodes proving cluster.secret may join or leave from anywhere",
            (true, false) => "auth.token is not set: admin operations (join, leave, /db/backup, /db/restore) are served to loopback clients only",
        }
    }

    fn bearer_ok(&self, req: &Request) -> bool {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        bearer_matches(authorization, &self.token)
    }

    /// The middleware: lets a request through or answers 401/403.
    pub async fn check(self: Arc<Self>, req: Request, next: Next) -> Response {
        let kind = kind(req.uri().path(), self.protect_metrics);
        if kind == Kind::Open {
            return next.run(req).await;
        }
        let req = if kind == Kind::Membership && req.headers().contains_key(PROOF_HEADER) {
            let (ok, req) = self.proven(req).await;
            if ok {
                return next.run(req).await;
            }
            // A wrong proof counts as none: the usual rules decide.
            req
        } else {
            req
        };
        let refused = if self.token.is_empty() {
            // Through the extractor, so axum's `MockConnectInfo` works in tests as a socket does here.
            let (mut parts, body) = req.into_parts();
            let local = ConnectInfo::<ClientAddr>::from_request_parts(&mut parts, &())
                .await
                .is_ok_and(|ConnectInfo(ClientAddr(peer))| is_loopback(&peer));
            let req = Request::from_parts(parts, body);
            if kind == Kind::Protected || local {
                return next.run(req).await;
            }
            ApiError::admin_local_only().into_response()
        } else {
            if self.bearer_ok(&req) {
                return next.run(req).await;
            }
            unauthorized()
        };
        self.with_nonce(kind, refused)
    }

    /// Checks the proof over the buffered body; gives the request back with its body either way.
    async fn proven(&self, req: Request) -> (bool, Request) {
        let Some(secret) = &self.secret else {
            return (false, req);
        };
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_PROVEN_BODY).await else {
            return (false, Request::from_parts(parts, Body::empty()));
        };
        let ok = parts
            .headers
            .get(PROOF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proof| secret.check_proof(proof, parts.uri.path(), &bytes));
        (ok, Request::from_parts(parts, Body::from(bytes)))
    }

    /// A refused join or leave carries a nonce to prove the secret over.
    fn with_nonce(&self, kind: Kind, mut resp: Response) -> Response {
        if let (Kind::Membership, Some(secret)) = (kind, &self.secret) {
            if let Ok(v) = HeaderValue::from_str(&secret.nonce()) {
                resp.headers_mut().insert(NONCE_HEADER, v);
            }
        }
        resp
    }
}

/// Loopback, including IPv4-mapped IPv6 (`::ffff:127.0.0.1`).
fn is_loopback(peer: &SocketAddr) -> bool {
    match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// 401 with `WWW-Authenticate` (docs/http.md §2, §6).
fn unauthorized() -> Response {
    let mut body = serde_json::json!({
        "title": "Unauthorized", "status": 401, "detail": "Authentication required",
        "errors": [{"message": "missing or invalid bearer token"}], "code": "unauthorized",
    });
    if let Some(id) = crate::http::layers::current_request_id() {
        body["request_id"] = serde_json::Value::String(id);
    }
    let mut resp = (StatusCode::UNAUTHORIZED, body.to_string()).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"doq\""),
    );
    resp
}

#[cfg(test)]
mod tests;
