//! deploy/k8s rendered with `kubectl kustomize` (what `kubectl apply -k` would send), checked for what
//! doq needs: the names that discovery derives (`<service>-internal`, pod hostnames), ports that match
//! the image's config, probes that never need leadership, and `DOQ_*` variables that are real config
//! keys and, loaded the way a pod loads them, make a valid node configuration.
use std::{collections::BTreeMap, path::Path, process::Command};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use doq_server::config::{Config, Sources};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::repo;

/// `kubectl kustomize <dir>`, each document as JSON. Fails, saying so, without kubectl.
fn render(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl is not installed or cannot run ({e}); the manifest checks need `kubectl kustomize`")
        });
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered manifests"))
}

/// The dotted config keys doq knows (`cluster.service_name`, …).
fn config_keys() -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v.as_object() {
            Some(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            None => out.push(prefix.to_string()),
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &serde_json::to_value(Config::default()).unwrap(),
        &mut out,
    );
    out
}

/// `DOQ_CLUSTER__SERVICE_NAME` → `cluster.service_name`.
fn key_of(var: &str) -> String {
    var.trim_start_matches("DOQ_")
        .to_ascii_lowercase()
        .replace("__", ".")
}

/// The pod's environment as the kubelet would fill it for pod `pod` in `namespace`.
fn pod_env(container: &Value, docs: &[Value], namespace: &str, pod: &str) -> Vec<(String, String)> {
    let mut env = vec![("HOSTNAME".to_string(), pod.to_string())];
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap().to_string();
        let value = if let Some(v) = var["value"].as_str() {
            v.to_string()
        } else if var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace" {
            namespace.to_string()
        } else if let Some(secret) = var["valueFrom"]["secretKeyRef"].as_object() {
            // A generated Secret is in the output; a production one is created beforehand.
            let name = secret["name"].as_str().unwrap();
            docs.iter()
                .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == name)
                .map_or_else(
                    || "created-out-of-band".to_string(),
                    |s| {
                        let key = secret["key"].as_str().unwrap();
                        let encoded = s["data"][key].as_str().unwrap_or_default();
                        String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap()
                    },
                )
        } else {
            panic!("env {name}: a source the check does not know: {var}")
        };
        env.push((name, value));
    }
    env
}

/// Checks one rendered overlay; returns the StatefulSet's container for overlay-specific checks.
fn check_overlay(docs: &[Value], namespace: &str) -> Value {
    let sts = find(docs, "StatefulSet", "doq");
    assert_eq!(sts["metadata"]["namespace"], namespace);
    let spec = &sts["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["podManagementPolicy"], "Parallel");
    let pod_labels = &spec["template"]["metadata"]["labels"];
    let selects_pods = |selector: &Value| {
        selector
            .as_object()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| pod_labels[k] == *v))
    };
    assert!(selects_pods(&spec["selector"]["matchLabels"]));

    let container = &spec["template"]["spec"]["containers"][0];
    let env: BTreeMap<String, Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_string(), v.clone()))
        .collect();
    let known = config_keys();
    for name in env.keys().filter(|n| n.starts_with("DOQ_")) {
        assert!(known.contains(&key_of(name)), "{name} is no doq config key");
    }
    let service = env["DOQ_CLUSTER__SERVICE_NAME"]["value"].as_str().unwrap();
    assert_eq!(
        env["DOQ_CLUSTER__NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert!(
        env["DOQ_CLUSTER__SECRET"]["valueFrom"]["secretKeyRef"].is_object(),
        "the cluster secret comes from a Secret"
    );

    // Discovery looks peers up in `<service>-internal`: the StatefulSet's governing Service.
    let internal = format!("{service}-internal");
    assert_eq!(spec["serviceName"], internal);
    let headless = find(docs, "Service", &internal);
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert!(selects_pods(&headless["spec"]["selector"]));
    let client = find(docs, "Service", service);
    assert!(selects_pods(&client["spec"]["selector"]));
    let pdb = find(docs, "PodDisruptionBudget", "doq");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(selects_pods(&pdb["spec"]["selector"]["matchLabels"]));

    // Ports: those of the image's config, named as the SRV lookup and the probes expect.
    let image_config = Config::load_with_env(
        &Sources {
            file: Some(repo().join("deploy/doq.toml")),
            flags: Vec::new(),
        },
        &[],
    )
    .unwrap();
    let grpc_port: u64 = image_config
        .grpc
        .address
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let raft = env["DOQ_RAFT__ADDRESS"]["value"].as_str().unwrap();
    let raft_port: u64 = raft.rsplit(':').next().unwrap().parse().unwrap();
    let ports: BTreeMap<String, u64> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeMap<String, u64> = [
        ("http".to_string(), u64::from(image_config.http.port)),
        ("grpc".to_string(), grpc_port),
        ("raft".to_string(), raft_port),
    ]
    .into();
    assert_eq!(ports, want, "container ports");
    let svc_ports = |s: &Value| -> BTreeMap<String, Value> {
        s["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["targetPort"].clone(),
                )
            })
            .collect()
    };
    // SRV records `_http._tcp.<service>-internal…` exist only for a port named http.
    assert_eq!(svc_ports(headless)["http"], "http");
    assert_eq!(svc_ports(client)["http"], "http");
    assert_eq!(svc_ports(client)["grpc"], "grpc");

    // Probes: never leadership for readiness (a rolling update waits for every pod to be Ready).
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/livez", "port": "http"})
    );
    assert_eq!(container["startupProbe"]["httpGet"]["path"], "/livez");
    let ready = container["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(ready, "/readyz", "readiness must not require leadership");

    for kind in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][what].is_string(),
                "resources.{kind}.{what} is set"
            );
        }
    }
    // The volume holds the image's data_dir; the pod runs as the image's user.
    let claim = spec["volumeClaimTemplates"][0]["metadata"]["name"]
        .as_str()
        .unwrap();
    assert!(container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == claim
            && m["mountPath"] == image_config.storage.data_dir.display().to_string()));
    assert_eq!(
        spec["template"]["spec"]["securityContext"]["runAsUser"],
        10001
    );

    // What a pod would run with: the image's config file plus this environment, as doq loads it.
    let env = pod_env(container, docs, namespace, "doq-1");
    let config = Config::load_with_env(
        &Sources {
            file: Some(repo().join("deploy/doq.toml")),
            flags: Vec::new(),
        },
        &env,
    )
    .unwrap_or_else(|e| panic!("the pod's configuration does not load: {e}"));
    let stable = format!("doq-1.{internal}.{namespace}.svc.cluster.local");
    assert_eq!(config.consensus, "raft");
    assert_eq!(config.cluster.node_id, stable);
    assert_eq!(
        config.raft.advertise_address,
        format!("{stable}:{raft_port}")
    );
    assert!(!config.cluster.secret.is_empty());
    container.clone()
}

#[test]
fn dev_overlay_renders_a_discoverable_cluster() {
    let docs = render(&repo().join("deploy/k8s/overlays/dev"));
    let container = check_overlay(&docs, "doq-dev");
    find(&docs, "Namespace", "doq-dev");
    assert_eq!(container["image"], "doq:dev");
    // The generated Secret is the one the StatefulSet reads (kustomize renames it with a hash).
    let secret = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "DOQ_CLUSTER__SECRET")
        .unwrap()["valueFrom"]["secretKeyRef"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("doq-cluster-"), "{secret}");
    find(&docs, "Secret", &secret);
}

#[test]
fn prod_overlay_renders_a_discoverable_cluster_without_a_secret_in_git() {
    let docs = render(&repo().join("deploy/k8s/overlays/prod"));
    let container = check_overlay(&docs, "doq");
    assert!(
        !docs.iter().any(|d| d["kind"] == "Secret"),
        "production's secret is created out of band, never rendered from git"
    );
    assert!(
        container["image"].as_str().unwrap().contains(':'),
        "a pinned image"
    );
}

#[test]
fn leader_service_component_switches_readiness_and_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let k8s = repo().join("deploy/k8s");
    // kustomize refuses absolute paths: point at the repository relatively from the temp dir.
    let up = dir.path().components().count().saturating_sub(1);
    let rel = format!(
        "{}{}",
        "../".repeat(up),
        k8s.display().to_string().trim_start_matches('/')
    );
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("resources: [\"{rel}/base\"]\ncomponents: [\"{rel}/components/leader-service\"]\n"),
    )
    .unwrap();
    let docs = render(dir.path());
    let sts = find(&docs, "StatefulSet", "doq");
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        "/readyz?leader=true"
    );
    assert_eq!(sts["spec"]["updateStrategy"]["type"], "OnDelete");
    let leader = find(&docs, "Service", "doq-leader");
    assert_eq!(
        leader["spec"]["selector"],
        sts["spec"]["selector"]["matchLabels"]
    );
}
