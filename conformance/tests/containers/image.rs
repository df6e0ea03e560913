//! The test image and deploy/Dockerfile must not drift: the image deploy/test-image.sh builds has exactly
//! the runtime layout the Dockerfile declares (user, volume, ports, healthcheck, entrypoint, config
//! file), and the config file both copy is one a container can run with.
use std::{collections::BTreeSet, path::Path, process::Command};

use doq_server::config::{Config, Sources};
use serde_json::Value;

use crate::{
    docker::{docker, test_image},
    repo,
};

/// The Dockerfile's runtime layout: everything from the marker line test-image.sh copies.
fn runtime_block() -> Vec<String> {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let start = dockerfile
        .find("# --- runtime layout")
        .expect("deploy/Dockerfile marks its runtime layout");
    // Join continuation lines, drop comments and blanks.
    dockerfile[start..]
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// The argument of the one `instruction` line of the runtime block.
fn instruction(block: &[String], name: &str) -> String {
    let found: Vec<&String> = block
        .iter()
        .filter(|l| l.split_whitespace().next() == Some(name))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} in the runtime layout: {block:?}"
    );
    found[0][name.len()..].trim().to_string()
}

fn json_array(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text} is not a JSON array: {e}"))
}

#[test]
fn test_image_has_the_dockerfiles_runtime_layout() {
    let block = runtime_block();
    let config: Value = serde_json::from_str(&docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        test_image(),
    ]))
    .unwrap();

    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(json_array(&instruction(&block, "ENTRYPOINT"))),
        "entrypoint"
    );
    let health = instruction(&block, "HEALTHCHECK");
    let (_, cmd) = health.split_once("CMD ").expect("HEALTHCHECK … CMD [..]");
    let mut test = vec!["CMD".to_string()];
    test.extend(json_array(cmd.trim()));
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!(test),
        "healthcheck"
    );
    assert_eq!(config["User"], instruction(&block, "USER"), "user");
    let volumes: BTreeSet<String> = json_array(&instruction(&block, "VOLUME"))
        .into_iter()
        .collect();
    let in_image: BTreeSet<String> = config["Volumes"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(in_image, volumes, "volumes");
    let exposed: BTreeSet<String> = instruction(&block, "EXPOSE")
        .split_whitespace()
        .map(|p| format!("{p}/tcp"))
        .collect();
    let in_image: BTreeSet<String> = config["ExposedPorts"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(in_image, exposed, "exposed ports");
}

#[test]
fn the_container_config_serves_every_exposed_port_from_the_data_volume() {
    let block = runtime_block();
    let copy = instruction(&block, "COPY");
    let (src, dst) = copy.split_once(' ').expect("COPY <src> <dst>");
    assert_eq!(dst.trim(), "/etc/doq/doq.toml");
    let entrypoint = json_array(&instruction(&block, "ENTRYPOINT"));
    assert!(
        entrypoint.windows(2).any(|w| w == ["--config", dst.trim()]),
        "the entrypoint reads the copied config: {entrypoint:?}"
    );
    let sources = Sources {
        file: Some(repo().join(src.trim())),
        flags: Vec::new(),
    };
    let c = Config::load_with_env(&sources, &[]).expect("the container config loads");
    assert_eq!(
        c.http.host, "0.0.0.0",
        "HTTP reachable from outside the container"
    );
    assert!(
        c.grpc.address.starts_with("0.0.0.0:"),
        "gRPC reachable from outside the container: {}",
        c.grpc.address
    );
    assert_eq!(
        c.consensus, "single",
        "the image alone runs one node; Raft is switched on by env"
    );
    let volume = json_array(&instruction(&block, "VOLUME"));
    assert_eq!(
        volume,
        [c.storage.data_dir.display().to_string()],
        "data in the volume"
    );
    let exposed: Vec<String> = instruction(&block, "EXPOSE")
        .split_whitespace()
        .map(String::from)
        .collect();
    let grpc_port = c
        .grpc
        .address
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let raft_port = Config::default()
        .raft
        .address
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    for port in [c.http.port.to_string(), grpc_port, raft_port] {
        assert!(
            exposed.contains(&port),
            "port {port} is exposed: {exposed:?}"
        );
    }
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim() == "target/"),
        ".dockerignore keeps target/ out of the build context"
    );
}

/// `cargo tree` of doq-server's dependencies (normal and build), one `name vX` per line, sorted, without
/// the workspace's own crates (whose paths differ).
fn dependency_versions(dir: &Path) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "doq-server",
            "-e",
            "normal,build",
        ])
        .args(["--prefix", "none"])
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("(/"))
        .map(|l| l.trim_end_matches(" (*)").to_string())
        .collect()
}

/// The Dockerfile's dependency layer (manifests over placeholder sources, in a workspace cut down to
/// doq's crates) must resolve to the same dependency versions as the real workspace; otherwise the
/// cached layer would build other crates than the image ships, or fail (a new crate, a new target).
/// The build step is replaced by `cargo tree`: the check needs no registry and compiles nothing.
#[test]
fn dockerfile_dependency_layer_resolves_like_the_workspace() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let joined = dockerfile.replace("\\\n", " ");
    let dir = tempfile::tempdir().unwrap();
    let mut copied = 0;
    // The COPY lines before the layer's RUN: manifests into the work dir (never an absolute path).
    for line in joined.lines().map(str::trim) {
        if line.starts_with("RUN set -eu;") {
            break;
        }
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        let mut parts: Vec<&str> = args.split_whitespace().collect();
        let dest = parts.pop().unwrap();
        assert!(
            !dest.starts_with('/') && !args.starts_with("--"),
            "the dependency layer copies manifests into the work dir: {line}"
        );
        for src in parts {
            let to = dir
                .path()
                .join(dest)
                .join(Path::new(src).file_name().unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(repo().join(src), &to).unwrap();
            copied += 1;
        }
    }
    assert!(
        copied >= 3,
        "the dependency layer copies the manifests first"
    );
    let layer = joined
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("RUN set -eu;") && l.contains("cargo build"))
        .expect("the dependency layer's RUN");
    let build = "cargo build --release -p doq-server --bin doq;";
    assert!(layer.contains(build), "{layer}");
    let script = layer
        .trim_start_matches("RUN ")
        .replace(build, "true;")
        .split("rm -rf")
        .next()
        .unwrap()
        .to_string();
    let status = Command::new("sh")
        .args(["-euc", &script])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "the layer's script: {script}");
    assert_eq!(
        dependency_versions(dir.path()),
        dependency_versions(&repo())
    );
}
