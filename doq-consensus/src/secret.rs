//! `cluster.secret` as a key, never as a password on the wire (docs/cluster.md §5): node-to-node calls carry a
//! short-lived HMAC token bound to the receiving node's address, and a join or leave sent over HTTP
//! proves the secret with an HMAC over a nonce the receiving member issued and over the request body.
//! Whoever receives a token or a proof (a wrong address, a rogue member) learns nothing it can reuse
//! elsewhere: the secret itself never leaves the node.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use ring::{
    hmac,
    rand::{SecureRandom, SystemRandom},
};
use tonic::{service::Interceptor, Request, Status};
use tracing::warn;

/// The metadata key of a node-to-node call's token.
pub const CALL_TOKEN_HEADER: &str = "x-doq-cluster-token";
/// The HTTP header a member puts on a refused join or leave: the nonce to prove the secret over.
pub const NONCE_HEADER: &str = "x-doq-cluster-nonce";
/// The HTTP header of a join or leave that proves the secret: `<nonce> <mac>`.
pub const PROOF_HEADER: &str = "x-doq-cluster-proof";

/// How far a call token's time may be from the receiver's clock. Tokens are bound to the receiver's
/// address, so the window only limits replays of a captured token to that same receiver.
const CALL_WINDOW: Duration = Duration::from_secs(300);
/// How long a nonce a member issued stays usable for a proof.
const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// The shared secret, held as an HMAC-SHA256 key. Cheap to clone.
#[derive(Clone)]
pub struct ClusterSecret {
    key: hmac::Key,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random_part() -> String {
    let mut bytes = [0u8; 16];
    // SystemRandom only fails when the OS has no randomness at all; a zero nonce is still bound to time.
    let _ = SystemRandom::new().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl ClusterSecret {
    /// The key for `secret`, or `None` when it is empty (no secret configured).
    pub fn new(secret: &str) -> Option<Self> {
        (!secret.is_empty()).then(|| Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        })
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(&(p.len() as u64).to_le_bytes());
            ctx.update(p);
        }
        URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
    }

    fn verify(&self, parts: &[&[u8]], mac: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(mac) else {
            return false;
        };
        let mut msg = Vec::new();
        for p in parts {
            msg.extend_from_slice(&(p.len() as u64).to_le_bytes());
            msg.extend_from_slice(p);
        }
        hmac::verify(&self.key, &msg, &tag).is_ok()
    }

    /// A token for one call to the node whose advertise address is `receiver`: `<ms>.<random>.<mac>`.
    pub fn call_token(&self, receiver: &str) -> String {
        self.call_token_at(receiver, now_ms())
    }

    fn call_token_at(&self, receiver: &str, ms: u64) -> String {
        let (ms, rand) = (ms.to_string(), random_part());
        let mac = self.mac(&[
            b"doq-call",
            receiver.as_bytes(),
            ms.as_bytes(),
            rand.as_bytes(),
        ]);
        format!("{ms}.{rand}.{mac}")
    }

    /// Whether `token` was made with this secret for `receiver` (this node) within the time window.
    pub fn check_call_token(&self, receiver: &str, token: &str) -> bool {
        self.check_call_token_at(receiver, token, now_ms())
    }

    fn check_call_token_at(&self, receiver: &str, token: &str, now: u64) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some(ms), Some(rand), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(at) = ms.parse::<u64>() else {
            return false;
        };
        let window = u64::try_from(CALL_WINDOW.as_millis()).unwrap_or(u64::MAX);
        if at.abs_diff(now) > window {
            return false;
        }
        self.verify(
            &[
                b"doq-call",
                receiver.as_bytes(),
                ms.as_bytes(),
                rand.as_bytes(),
            ],
            mac,
        )
    }

    /// A fresh nonce to hand a node that wants to join or leave: `<ms>.<random>.<mac>`. It needs no
    /// state: any member with the secret can tell its own nonces (and its peers') from forged ones.
    pub fn nonce(&self) -> String {
        self.nonce_at(now_ms())
    }

    fn nonce_at(&self, ms: u64) -> String {
        let (ms, rand) = (ms.to_string(), random_part());
        let mac = self.mac(&[b"doq-nonce", ms.as_bytes(), rand.as_bytes()]);
        format!("{ms}.{rand}.{mac}")
    }

    fn check_nonce(&self, nonce: &str, now: u64) -> bool {
        let mut parts = nonce.splitn(3, '.');
        let (Some(ms), Some(rand), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(at) = ms.parse::<u64>() else {
            return false;
        };
        let lifetime = u64::try_from(NONCE_LIFETIME.as_millis()).unwrap_or(u64::MAX);
        // A little slack for a peer whose clock runs ahead of this one.
        if at > now.saturating_add(5_000) || now.saturating_sub(at) > lifetime {
            return false;
        }
        self.verify(&[b"doq-nonce", ms.as_bytes(), rand.as_bytes()], mac)
    }

    /// The proof header value for a request to `path` with `body`, over a member's `nonce`.
    pub fn prove(&self, nonce: &str, path: &str, body: &[u8]) -> String {
        let mac = self.mac(&[
            b"doq-proof",
            nonce.as_bytes(),
            path.to_ascii_lowercase().as_bytes(),
            body,
        ]);
        format!("{nonce} {mac}")
    }

    /// Whether `proof` (a [`PROOF_HEADER`] value) proves the secret for a request to `path` with
    /// `body`, over a nonce that is still fresh. The body is bound, so a relayed proof can only repeat
    /// the very same join or leave.
    pub fn check_proof(&self, proof: &str, path: &str, body: &[u8]) -> bool {
        self.check_proof_at(proof, path, body, now_ms())
    }

    fn check_proof_at(&self, proof: &str, path: &str, body: &[u8], now: u64) -> bool {
        let Some((nonce, mac)) = proof.trim().split_once(' ') else {
            return false;
        };
        self.check_nonce(nonce, now)
            && self.verify(
                &[
                    b"doq-proof",
                    nonce.as_bytes(),
                    path.to_ascii_lowercase().as_bytes(),
                    body,
                ],
                mac,
            )
    }
}

/// The server-side check of node-to-node calls. As a tonic interceptor it runs on the request's
/// headers, before the body is read or decoded, so an unauthenticated peer cannot make this node
/// buffer and decode a large message.
#[derive(Clone, Debug)]
pub struct CallCheck {
    secret: Option<ClusterSecret>,
    /// This node's advertise address: tokens made for any other address are refused.
    me: String,
}

impl CallCheck {
    /// Checks calls to the node advertised at `me` against `secret` (none: every call passes).
    pub fn new(secret: Option<ClusterSecret>, me: String) -> Self {
        Self { secret, me }
    }
}

impl Interceptor for CallCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(secret) = &self.secret else {
            return Ok(request);
        };
        let token = request
            .metadata()
            .get(CALL_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if secret.check_call_token(&self.me, token) {
            Ok(request)
        } else {
            if !token.is_empty() {
                warn!(me = %self.me, "refused a cluster call: its token is for another address, too old, or made with another secret");
            }
            Err(Status::unauthenticated("missing or wrong cluster secret"))
        }
    }
}

#[cfg(test)]
mod tests {
    use doq_proto::cluster::{
        cluster_client::ClusterClient,
        cluster_server::{Cluster, ClusterServer},
        Frame,
    };
    use tonic::{service::interceptor::InterceptedService, Response};

    use super::*;

    /// A cluster service that must never be reached by an unauthenticated call.
    struct Unreachable;

    #[tonic::async_trait]
    impl Cluster for Unreachable {
        async fn append_entries(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
            Ok(Response::new(Frame::default()))
        }
        async fn vote(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
            Ok(Response::new(Frame::default()))
        }
        async fn install_snapshot(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
            Ok(Response::new(Frame::default()))
        }
        async fn forward(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
            Ok(Response::new(Frame::default()))
        }
        async fn read_index(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
            Ok(Response::new(Frame::default()))
        }
        async fn change_membership(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
            Ok(Response::new(Frame::default()))
        }
    }

    /// The secret is checked before the message is decoded: an oversize call without a token is refused
    /// as unauthenticated, the same call with one reaches the decoder (and its size limit).
    #[tokio::test]
    async fn calls_are_checked_before_their_message_is_decoded() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let secret = ClusterSecret::new("s3cret").unwrap();
        let server = ClusterServer::new(Unreachable).max_decoding_message_size(64 << 10);
        let service =
            InterceptedService::new(server, CallCheck::new(Some(secret.clone()), addr.clone()));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let mut client = ClusterClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
            .max_encoding_message_size(1 << 20);
        let big = || Frame {
            payload: vec![7u8; 256 << 10],
        };
        let refused = client.forward(Request::new(big())).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
        let mut wrong = Request::new(big());
        let elsewhere = secret.call_token("10.9.9.9:9000").parse().unwrap();
        wrong.metadata_mut().insert(CALL_TOKEN_HEADER, elsewhere);
        let refused = client.forward(wrong).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
        let mut proven = Request::new(big());
        let token = secret.call_token(&addr).parse().unwrap();
        proven.metadata_mut().insert(CALL_TOKEN_HEADER, token);
        let decoded = client.forward(proven).await.unwrap_err();
        assert_eq!(decoded.code(), tonic::Code::OutOfRange, "{decoded:?}");
        let mut small = Request::new(Frame::default());
        let token = secret.call_token(&addr).parse().unwrap();
        small.metadata_mut().insert(CALL_TOKEN_HEADER, token);
        client.forward(small).await.unwrap();
    }

    #[test]
    fn call_tokens_bind_secret_receiver_and_time() {
        let s = ClusterSecret::new("s3cret").unwrap();
        let t = s.call_token_at("10.0.0.1:9000", 1_000_000);
        assert!(s.check_call_token_at("10.0.0.1:9000", &t, 1_000_000));
        assert!(s.check_call_token_at("10.0.0.1:9000", &t, 1_200_000));
        // Replayed to another node, too late, with another secret, or tampered: refused.
        assert!(!s.check_call_token_at("10.0.0.2:9000", &t, 1_000_000));
        assert!(!s.check_call_token_at("10.0.0.1:9000", &t, 1_400_000));
        let other = ClusterSecret::new("other").unwrap();
        assert!(!other.check_call_token_at("10.0.0.1:9000", &t, 1_000_000));
        let tampered = t.replacen("1000000", "1000001", 1);
        assert!(!s.check_call_token_at("10.0.0.1:9000", &tampered, 1_000_000));
        assert!(!s.check_call_token_at("10.0.0.1:9000", "", 1_000_000));
        assert!(!t.contains("s3cret"));
        assert!(ClusterSecret::new("").is_none());
    }

    #[test]
    fn proofs_bind_nonce_path_and_body() {
        let s = ClusterSecret::new("s3cret").unwrap();
        let nonce = s.nonce_at(5_000_000);
        let body = br#"{"id":"n1","addr":"h:9000"}"#;
        let proof = s.prove(&nonce, "/API/v1/cluster/join", body);
        assert!(s.check_proof_at(&proof, "/api/v1/cluster/join", body, 5_010_000));
        assert!(!s.check_proof_at(&proof, "/api/v1/cluster/leave", body, 5_010_000));
        assert!(!s.check_proof_at(&proof, "/api/v1/cluster/join", b"{}", 5_010_000));
        // A stale nonce, a nonce from another secret, or a proof made with another secret: refused.
        assert!(!s.check_proof_at(&proof, "/api/v1/cluster/join", body, 5_070_001));
        let other = ClusterSecret::new("other").unwrap();
        let forged = other.prove(&nonce, "/API/v1/cluster/join", body);
        assert!(!s.check_proof_at(&forged, "/api/v1/cluster/join", body, 5_010_000));
        let foreign_nonce = other.nonce_at(5_000_000);
        let relabelled = s.prove(&foreign_nonce, "/API/v1/cluster/join", body);
        assert!(!s.check_proof_at(&relabelled, "/api/v1/cluster/join", body, 5_010_000));
        assert!(!proof.contains("s3cret"));
    }
}
