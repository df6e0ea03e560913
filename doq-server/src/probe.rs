//! `doq probe`: asks the local node's `/readyz` (or another health path) and turns the answer into an
//! exit code, so a container's HEALTHCHECK needs no curl or shell in the image. With `tls.cert` set the
//! node serves HTTPS only, and the probe speaks TLS too, accepting exactly the node's own certificate
//! (the first one in `tls.cert`): it talks to itself over loopback, where no name would match.
use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_rustls::{
    rustls::{
        self,
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
        pki_types::{pem::PemObject as _, CertificateDer, ServerName, UnixTime},
        CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme,
    },
    TlsConnector,
};

use crate::config::Config;

/// How long the whole probe may take; Docker's own timeout is a little longer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most of an answer the probe reads (a status line and a one-line reason).
const MAX_ANSWER: u64 = 64 * 1024;

/// The `host:port` of this node's HTTP listener as the node itself reaches it from inside its
/// container: a wildcard bind host is probed on loopback.
pub(crate) fn probe_addr(config: &Config) -> String {
    let host = match config.http.host.as_str() {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("{host}:{}", config.http.port)
}

/// Gets `path` from the node `config` describes; `Ok` (printing the answer) only on 200.
pub(crate) fn probe(config: &Config, path: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = runtime.block_on(async {
        tokio::time::timeout(PROBE_TIMEOUT, get(config, path))
            .await
            .with_context(|| format!("no answer within {PROBE_TIMEOUT:?}"))?
    })?;
    println!("{body}");
    Ok(())
}

/// One `GET path` on the node; the body of a 200, an error otherwise.
async fn get(config: &Config, path: &str) -> anyhow::Result<String> {
    let addr = probe_addr(config);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let tcp = TcpStream::connect(&addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    let (status, body) = if config.tls.cert.is_empty() {
        exchange(tcp, &addr, &path).await?
    } else {
        let connector = own_certificate_connector(&config.tls.cert)?;
        let name = ServerName::try_from(
            addr.rsplit_once(':')
                .map_or(addr.as_str(), |(h, _)| h)
                .trim_matches(['[', ']'])
                .to_string(),
        )
        .context("probe address")?;
        let tls = connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {addr}"))?;
        exchange(tls, &addr, &path).await?
    };
    anyhow::ensure!(status == 200, "GET {path} on {addr}: {status}: {body}");
    Ok(body)
}

/// Writes a bare HTTP/1.1 request and reads the whole answer (the server closes the connection).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    addr: &str,
    path: &str,
) -> anyhow::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    io.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    (&mut io).take(MAX_ANSWER).read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP answer from {addr}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .trim()
        .to_string();
    Ok((status, body))
}

/// A TLS client that accepts only the certificate the node serves: the first one of `cert_file`.
fn own_certificate_connector(cert_file: &str) -> anyhow::Result<TlsConnector> {
    let own = CertificateDer::pem_file_iter(cert_file)
        .context("tls.cert")?
        .next()
        .context("tls.cert holds no certificate")?
        .context("tls.cert")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(OwnCertificate { own, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Trusts exactly one certificate, whatever name it carries; handshake signatures are still verified,
/// so the server must hold that certificate's key.
#[derive(Debug)]
struct OwnCertificate {
    own: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for OwnCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.own.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use tokio::net::TcpListener;

    use super::{get, probe_addr};
    use crate::{
        config::Config,
        server::{self, Deps, Listeners, Node},
    };

    #[test]
    fn a_wildcard_bind_is_probed_on_loopback() {
        let mut c = Config::default();
        assert_eq!(probe_addr(&c), "127.0.0.1:8000");
        c.http.port = 9001;
        c.http.host = "::".into();
        assert_eq!(probe_addr(&c), "[::1]:9001");
        c.http.host = "10.1.2.3".into();
        assert_eq!(probe_addr(&c), "10.1.2.3:9001");
    }

    fn testdata(name: &str) -> String {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/tls")
            .join(name)
            .display()
            .to_string()
    }

    /// A single node on a loopback port, with TLS when `tls` is set; returns it and its config.
    async fn node(dir: &std::path::Path, tls: bool) -> (Node, Config) {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = Config::default();
        config.storage.backend = "memory".into();
        config.storage.data_dir = dir.to_path_buf();
        config.http.host = "0.0.0.0".into();
        config.http.port = http.local_addr().unwrap().port();
        if tls {
            config.tls.cert = testdata("cert.pem");
            config.tls.key = testdata("key.pem");
        }
        let listeners = Listeners {
            http,
            grpc: None,
            raft: None,
        };
        let node = server::start(config.clone(), listeners, Deps::default())
            .await
            .unwrap();
        (node, config)
    }

    #[tokio::test]
    async fn probes_a_plain_and_a_tls_node_and_fails_on_a_non_200() {
        let dir = tempfile::tempdir().unwrap();
        for tls in [false, true] {
            let (node, config) = node(dir.path(), tls).await;
            assert_eq!(get(&config, "/readyz").await.unwrap(), "OK", "tls: {tls}");
            assert_eq!(get(&config, "livez").await.unwrap(), "OK", "tls: {tls}");
            // Outside the API an unknown path is the admin UI's page (deep links), so ask the API.
            let missing = get(&config, "/API/v1/no-such-route").await.unwrap_err();
            assert!(missing.to_string().contains("404"), "{missing:#}");
            node.stop().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_tls_probe_refuses_another_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (node, mut config) = node(dir.path(), true).await;
        // The probe trusts only the first certificate of tls.cert: the CA's is not the node's.
        config.tls.cert = testdata("ca.pem");
        let refused = get(&config, "/readyz").await.unwrap_err();
        assert!(
            format!("{refused:#}").contains("TLS handshake"),
            "{refused:#}"
        );
        node.stop().await.unwrap();
    }
}
