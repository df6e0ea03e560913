//! TLS end to end on real loopback sockets: HTTPS and gRPC over TLS answer, plaintext gets nothing on
//! either port, and bad certificate or key files stop the node at start-up.
use std::{io, path::PathBuf, sync::Arc};

use doq_proto::queue::{doq_client::DoqClient, GetQueuesRequest};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{
    rustls::{
        self,
        pki_types::{pem::PemObject as _, CertificateDer, ServerName},
        ClientConfig, RootCertStore,
    },
    TlsConnector,
};
use tonic::transport::{Endpoint, Uri};

use super::Tls;
use crate::{
    config::Config,
    server::{self, Deps, Listeners, Node},
};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tls")
        .join(name)
}

/// A client that trusts only the test CA, offering `alpn`.
fn connector(alpn: &[u8]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(testdata("ca.pem")).expect("test CA");
    roots.add(ca).expect("add the test CA");
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

fn loopback() -> ServerName<'static> {
    ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
}

async fn start_tls_node(dir: &std::path::Path) -> Node {
    let mut config = Config::default();
    config.storage.backend = "memory".into();
    config.storage.data_dir = dir.to_path_buf();
    config.tls.cert = testdata("cert.pem").display().to_string();
    config.tls.key = testdata("key.pem").display().to_string();
    let listeners = Listeners {
        http: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        raft: None,
    };
    server::start(config, listeners, Deps::default())
        .await
        .expect("a node with TLS starts")
}

/// Sends a bare HTTP/1.1 GET over `io` and returns everything the server answers.
async fn get_livez<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut io: S) -> String {
    let request = b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if io.write_all(request).await.is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    let _ = io.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn http_and_grpc_serve_tls_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_tls_node(dir.path()).await;

    let tcp = TcpStream::connect(node.http_addr).await.unwrap();
    let tls = connector(b"http/1.1")
        .connect(loopback(), tcp)
        .await
        .expect("HTTPS handshake");
    let answer = get_livez(tls).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("OK"), "{answer}");
    let plain = get_livez(TcpStream::connect(node.http_addr).await.unwrap()).await;
    assert!(
        !plain.contains("200"),
        "plaintext HTTP got an answer: {plain}"
    );

    let grpc_addr = node.grpc_addr.expect("gRPC is served");
    let channel = Endpoint::try_from(format!("http://{grpc_addr}"))
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| async move {
            let tcp = TcpStream::connect(grpc_addr).await?;
            let tls = connector(b"h2").connect(loopback(), tcp).await?;
            Ok::<_, io::Error>(TokioIo::new(tls))
        }))
        .await
        .expect("gRPC over TLS connects");
    let queues = DoqClient::new(channel)
        .get_queues(GetQueuesRequest::default())
        .await
        .expect("an RPC over TLS");
    assert!(queues.into_inner().queues.is_empty());
    let plain = async {
        DoqClient::connect(format!("http://{grpc_addr}"))
            .await
            .map_err(|e| e.to_string())?
            .get_queues(GetQueuesRequest::default())
            .await
            .map_err(|e| e.to_string())
    };
    assert!(
        plain.await.is_err(),
        "plaintext gRPC must not be served next to TLS"
    );
    node.stop().await.unwrap();
}

#[test]
fn bad_files_are_startup_errors() {
    let err = Tls::load(&testdata("missing.pem"), &testdata("key.pem")).unwrap_err();
    assert!(format!("{err:#}").contains("tls.cert"), "{err:#}");
    let err = Tls::load(&testdata("cert.pem"), &testdata("missing.pem")).unwrap_err();
    assert!(format!("{err:#}").contains("tls.key"), "{err:#}");
    let err = Tls::load(&testdata("key.pem"), &testdata("key.pem")).unwrap_err();
    assert!(format!("{err:#}").contains("no certificate"), "{err:#}");
    let err = Tls::load(&testdata("ca.pem"), &testdata("key.pem")).unwrap_err();
    assert!(
        format!("{err:#}").contains("does not match"),
        "a key of another certificate: {err:#}"
    );
    assert!(Tls::load(&testdata("cert.pem"), &testdata("key.pem")).is_ok());
}
