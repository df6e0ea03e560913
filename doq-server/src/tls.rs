//! TLS for both listeners (docs/http.md §2 "TLS", §7.1): with `tls.cert` and `tls.key` (PEM files) HTTP and gRPC
//! serve TLS only. [`Tls::load`] reads the files once at start-up, so a missing or malformed file stops
//! the node before it serves anything. Each listener gets its own ALPN (`http/1.1` for HTTP, which is
//! served over HTTP/1 only; `h2` for gRPC).
//!
//! Handshakes run in tasks of their own under [`HANDSHAKE_DEADLINE`], so a slow or silent client never
//! holds up accepting the others; a failed handshake is logged at debug level and dropped. Only
//! connections whose handshake succeeded reach axum (through [`TlsListener`]) or tonic (through
//! [`Tls::grpc_incoming`]).
#[cfg(test)]
mod tests;

use std::{io, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use futures::{Stream, StreamExt as _};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{
    rustls::{
        self,
        pki_types::{pem::PemObject as _, CertificateDer, PrivateKeyDer},
        ServerConfig,
    },
    server::TlsStream,
    TlsAcceptor,
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// Longest a client may take to finish its handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const READY: usize = 64;
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A connection whose handshake succeeded, and its peer.
type Accepted = (TlsStream<TcpStream>, SocketAddr);

/// The node's certificate and key, as one acceptor per protocol.
#[derive(Clone)]
pub struct Tls {
    http: TlsAcceptor,
    grpc: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the PEM certificate chain at `cert` and the PEM private key (PKCS#8, PKCS#1 or SEC1) at
    /// `key`, and checks that they belong together.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .with_context(|| format!("tls.cert: read PEM certificates from {}", cert.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "tls.cert: no certificate in {}",
            cert.display()
        );
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("tls.key: read a PEM private key from {}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let acceptor = |alpn: &[u8]| -> anyhow::Result<TlsAcceptor> {
            let mut config = ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .context("tls: protocol versions")?
                .with_no_client_auth()
                .with_single_cert(certs.clone(), key.clone_key())
                .context("tls: the key does not match the certificate")?;
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok(TlsAcceptor::from(Arc::new(config)))
        };
        Ok(Self {
            http: acceptor(b"http/1.1")?,
            grpc: acceptor(b"h2")?,
        })
    }

    /// `listener` as an axum listener that yields TLS connections, until `stop`.
    pub fn http_listener(
        &self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        Ok(TlsListener {
            ready: accept(listener, self.http.clone(), stop),
            local,
        })
    }

    /// `listener`'s TLS connections as the incoming stream tonic serves, until `stop`.
    pub fn grpc_incoming(
        &self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> impl Stream<Item = Result<TlsStream<TcpStream>, io::Error>> + Send + 'static {
        ReceiverStream::new(accept(listener, self.grpc.clone(), stop)).map(|(tls, _)| Ok(tls))
    }
}

/// An axum listener over TLS connections.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<Accepted>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop stopped (the node is stopping): nothing will come any more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Accepts TCP connections on `listener` until `stop` (or until nobody takes connections any more),
/// handshakes each in its own task, and hands out the ones that succeed.
fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    stop: CancellationToken,
) -> mpsc::Receiver<Accepted> {
    let (tx, rx) = mpsc::channel(READY);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                () = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            // Small writes (one gRPC frame, one response) must not wait for Nagle.
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}
