//! The client side of node-to-node TLS (docs/cluster.md §5): with `tls.cert`/`tls.key` set, a node's HTTP and Raft
//! listeners speak TLS only, so joins go out over HTTPS and Raft and forwarded calls over gRPC with TLS.
//! Peers' certificates must chain to `tls.ca` or, without it, to a certificate in `tls.cert` (a cluster
//! whose nodes share one certificate, or whose `tls.cert` file carries the CA after the leaf).
//!
//! [`post`] and [`get_streamed`] are the small HTTP/1.1 client joins and `doq backup` use (reqwest is
//! built without TLS here).
use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::http::{header, HeaderMap, Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::{
    rustls::{
        self,
        pki_types::{pem::PemObject as _, CertificateDer, ServerName},
        ClientConfig, RootCertStore,
    },
    TlsConnector,
};

/// How long one request may take, connection and TLS handshake included.
const REQUEST_DEADLINE: Duration = Duration::from_secs(70);

/// What a node trusts when it calls its peers.
#[derive(Clone)]
pub struct PeerTls {
    /// For Raft and forwarding (tonic).
    pub grpc: tonic::transport::ClientTlsConfig,
    /// For joins (HTTPS).
    https: Arc<ClientConfig>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls").finish_non_exhaustive()
    }
}

impl PeerTls {
    /// Trusts the PEM certificates in `ca` (`tls.ca`), or in `cert` (`tls.cert`) when `ca` is empty.
    pub fn load(cert: &Path, ca: &str) -> anyhow::Result<Self> {
        let (key, path) = if ca.is_empty() {
            ("tls.cert", cert)
        } else {
            ("tls.ca", Path::new(ca))
        };
        let pem = std::fs::read(path).with_context(|| format!("{key}: read {}", path.display()))?;
        let mut roots = RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(&pem) {
            let der =
                der.with_context(|| format!("{key}: PEM certificates in {}", path.display()))?;
            roots.add(der).with_context(|| {
                format!(
                    "{key}: a certificate in {} cannot be a root",
                    path.display()
                )
            })?;
        }
        anyhow::ensure!(
            !roots.is_empty(),
            "{key}: no certificate in {}",
            path.display()
        );
        let mut https =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .context("tls: protocol versions")?
                .with_root_certificates(roots)
                .with_no_client_auth();
        https.alpn_protocols = vec![b"http/1.1".to_vec()];
        let grpc = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem));
        Ok(Self {
            grpc,
            https: Arc::new(https),
        })
    }
}

/// An answer to [`post`].
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// `POST http(s)://{addr}{path}` with a JSON `body` and extra `headers`; HTTPS when `tls` is given.
pub async fn post(
    addr: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    tls: Option<&PeerTls>,
) -> anyhow::Result<Answer> {
    let call = async {
        let resp = request(Method::POST, addr, path, headers, body, tls).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(REQUEST_DEADLINE, call)
        .await
        .with_context(|| format!("POST {addr}{path}: no answer within {REQUEST_DEADLINE:?}"))?
}

/// `GET http(s)://{addr}{path}`, handing a 2xx body to `sink` chunk by chunk as it arrives (a backup
/// is never held in memory). Any other status is an error carrying the body's text.
pub async fn get_streamed(
    addr: &str,
    path: &str,
    headers: &[(&str, String)],
    tls: Option<&PeerTls>,
    mut sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let resp = tokio::time::timeout(
        REQUEST_DEADLINE,
        request(Method::GET, addr, path, headers, Vec::new(), tls),
    )
    .await
    .with_context(|| format!("GET {addr}{path}: no answer within {REQUEST_DEADLINE:?}"))??;
    let (parts, mut body) = resp.into_parts();
    if !parts.status.is_success() {
        let text = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        anyhow::bail!(
            "GET {addr}{path}: {}: {}",
            parts.status,
            String::from_utf8_lossy(&text)
        );
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.context("read the response")?;
        if let Some(data) = frame.data_ref() {
            sink(data)?;
        }
    }
    Ok(())
}

async fn request(
    method: Method,
    addr: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    tls: Option<&PeerTls>,
) -> anyhow::Result<Response<Incoming>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(Bytes::from(body)))?;
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => send(TokioIo::new(tcp), req).await,
        Some(tls) => {
            let host = addr
                .rsplit_once(':')
                .map_or(addr, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(host.to_owned())
                .with_context(|| format!("{host} cannot name a TLS server"))?;
            let stream = TlsConnector::from(tls.https.clone())
                .connect(name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {addr}"))?;
            send(TokioIo::new(stream), req).await
        }
    }
}

async fn send<T>(io: TokioIo<T>, req: Request<Full<Bytes>>) -> anyhow::Result<Response<Incoming>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    Ok(sender.send_request(req).await?)
}

#[cfg(test)]
mod tests;
