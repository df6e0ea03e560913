//! A `doq` node the bench starts itself: loopback only, a temporary data directory, `storage.sync =
//! always`, stopped by its PID (SIGTERM via kill(1), then SIGKILL if it lingers) when the bench ends.
use std::{
    fs::File,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use doq_proto::queue::{doq_client::DoqClient, GetQueuesRequest};
use tempfile::TempDir;

/// How long a starting node may take to answer gRPC.
const READY: Duration = Duration::from_secs(30);

/// A running node and the directory it lives in.
#[derive(Debug)]
pub(crate) struct Node {
    child: Child,
    grpc_port: u16,
    dir: TempDir,
}

/// A port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Node {
    /// Starts `binary` with `backend` and waits until its gRPC API answers.
    pub(crate) async fn start(binary: &Path, backend: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (http_port, grpc_port) = (free_port()?, free_port()?);
        let log = File::create(dir.path().join("doq.log"))?;
        let child = Command::new(binary)
            .args(["--http.host", "127.0.0.1", "--http.port"])
            .arg(http_port.to_string())
            .args(["--grpc.address", &format!("127.0.0.1:{grpc_port}")])
            .args(["--storage.sync", "always", "--storage.backend", backend])
            .arg("--storage.data_dir")
            .arg(dir.path().join("data"))
            .args(["--logging.level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let mut node = Self {
            child,
            grpc_port,
            dir,
        };
        node.wait_ready().await?;
        Ok(node)
    }

    /// The node's gRPC address as a URL.
    pub(crate) fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("doq exited with {status}:\n{}", self.log());
            }
            if let Ok(mut c) = DoqClient::connect(self.grpc_url()).await {
                if c.get_queues(GetQueuesRequest::default()).await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!("doq did not answer gRPC within {READY:?}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("doq.log")).unwrap_or_default()
    }

    /// SIGTERM, wait up to 15 s for a clean exit, else SIGKILL.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                anyhow::bail!("doq did not stop within 15 s after SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
