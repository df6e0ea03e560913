//! `doq probe`: asks the local node's `/readyz` (or another health path) over HTTP and turns the answer
//! into an exit code, so a container's HEALTHCHECK needs no curl or shell in the image.
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Config;

/// How long the probe waits for an answer; Docker's own timeout is a little longer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The URL of `path` on this node's HTTP listener, as the node itself would be reached from inside its
/// container: a wildcard bind host is probed on loopback.
pub(crate) fn probe_url(config: &Config, path: &str) -> String {
    let host = match config.http.host.as_str() {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    format!("http://{host}:{}{path}", config.http.port)
}

/// Gets `path` from the node `config` describes; `Ok` only on 200.
pub(crate) fn probe(config: &Config, path: &str) -> anyhow::Result<()> {
    if !config.tls.cert.is_empty() {
        anyhow::bail!(
            "doq probe speaks plain HTTP, but tls.cert is set: probe with an HTTPS client instead"
        );
    }
    let url = probe_url(config, path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(PROBE_TIMEOUT).build()?;
        let resp = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            println!("{}", body.trim());
            Ok(())
        } else {
            anyhow::bail!("GET {url}: {status}: {}", body.trim())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::probe_url;
    use crate::config::Config;

    #[test]
    fn a_wildcard_bind_is_probed_on_loopback() {
        let mut c = Config::default();
        assert_eq!(probe_url(&c, "/readyz"), "http://127.0.0.1:8000/readyz");
        c.http.port = 9001;
        c.http.host = "::".into();
        assert_eq!(probe_url(&c, "livez"), "http://[::1]:9001/livez");
        c.http.host = "10.1.2.3".into();
        assert_eq!(
            probe_url(&c, "/readyz?leader=true"),
            "http://10.1.2.3:9001/readyz?leader=true"
        );
    }
}
