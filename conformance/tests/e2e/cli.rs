//! The command line (docs/cli.md §9, §10): `--version`, usage errors, `doq config`.
use std::{process::Output, time::Duration};

/// Runs the binary with `args` in a temporary directory; bounded, and killed if it overruns.
async fn run(args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::from(crate::command())
        .args(args)
        .current_dir(tmp.path())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(20), child)
        .await
        .unwrap_or_else(|_| panic!("doq {args:?} did not finish"))
        .expect("run doq")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn version_prints_version_and_backends() {
    crate::init_tracing();
    let out = run(&["--version"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    for backend in doq_storage::BACKENDS {
        assert!(
            stdout.contains(backend),
            "backend {backend} missing: {stdout}"
        );
    }
}

#[tokio::test]
async fn usage_errors_exit_2() {
    crate::init_tracing();
    for args in [
        &["--no.such.key", "1"][..],
        &["--http.port", "not-a-port"][..],
        &["--storage.backend", "floppy"][..],
        &["config", "--no.such.key", "1"][..],
    ] {
        let out = run(args).await;
        assert_eq!(out.status.code(), Some(2), "doq {args:?}: {out:?}");
        assert!(
            !out.stderr.is_empty(),
            "doq {args:?} exited 2 without saying why"
        );
    }
}

/// An open Raft port without `cluster.secret` would let anyone vote, replicate and write (docs/cluster.md §5).
#[tokio::test]
async fn a_raft_port_beyond_loopback_without_a_secret_exits_2() {
    crate::init_tracing();
    let out = run(&[
        "--raft.address",
        "0.0.0.0:0",
        "--raft.advertise_address",
        "10.0.0.1:9000",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("cluster.secret"), "{out:?}");
}

#[tokio::test]
async fn config_prints_effective_toml_with_secrets_masked() {
    crate::init_tracing();
    let defaults = text(&run(&["config"]).await.stdout);
    assert!(
        defaults.lines().any(|l| l.trim() == "port = 8000"),
        "{defaults}"
    );
    let out = run(&[
        "config",
        "--http.port",
        "8123",
        "--auth.token",
        "s3cret-token",
    ])
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.lines().any(|l| l.trim() == "port = 8123"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[http]") && stdout.contains("[storage]"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("s3cret-token"),
        "the token is printed: {stdout}"
    );
}

#[tokio::test]
async fn config_describe_lists_every_key_with_its_default_and_meaning() {
    crate::init_tracing();
    let out = run(&["config", "--describe"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for line in [
        "\nhttp.port = 8000\n",
        "\nprometheus.enabled = true\n",
        "\nauth.protect_metrics = false\n",
        "\nlogging.access = true\n",
        "\nqueue.stats.window_side = 10\n",
        "\nstorage.rocksdb.compression = \"lz4\"\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    assert!(!stdout.contains("(undocumented)"), "{stdout}");
}
