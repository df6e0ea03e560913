//! A chaos run, in two processes. The **supervisor** (`doq-chaos run`, in the root namespace)
//! creates the namespaces, starts the **inner** run inside the hub namespace (`ip netns exec <hub>
//! doq-chaos inner`), waits for it within a hard deadline, and then, whatever happened, SIGKILLs by
//! PID every process left in its namespaces and deletes them. The inner run starts the cluster,
//! runs the workload and the nemesis, heals, drains, checks the history and prints the table.
//!
//! Exit codes: 0 valid, 1 a violation, 2 inconclusive (acknowledged enqueues whose fate the final
//! reads could not settle), 3 the harness failed (e.g. the cluster never formed), 4 the run overran
//! its deadline, 5 the host lacks root, `ip` or `nft`.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context};
use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    checker,
    cluster::Cluster,
    history::{Answer, Call, EventKind, Meta, QueueMeta, Recorder},
    nemesis::{Nemesis, Schedule},
    net::Net,
    node::NodeConfig,
    report,
    workload::{self, Client},
};

/// The queues' ack timeout: the smallest the API accepts, so abandoned leases expire within a run.
const ACK_TIMEOUT_S: u64 = 60;
/// How long the cluster may take to form.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Load without faults before the first fault and after the last one.
const WARMUP: Duration = Duration::from_secs(5);
/// How long the healed cluster may take to converge.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(60);
/// How long the drain and the final reads may take, each.
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);

/// Everything the inner run needs, written by the supervisor as `plan.json` in the output dir.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The namespaces' tag.
    pub tag: String,
    /// The `doq` binary.
    pub doq: PathBuf,
    /// `storage.backend`.
    pub backend: String,
    /// The output directory: history, report, node logs and data.
    pub out: PathBuf,
    /// Cluster size.
    pub nodes: usize,
    /// Concurrent clients, spread over the nodes.
    pub clients: usize,
    /// Per-request timeout, milliseconds.
    pub op_timeout_ms: u64,
    /// The faults.
    pub schedule: Schedule,
    /// The seed of the schedule and the workload.
    pub seed: u64,
    /// Whether the drain first waits for every lease to expire.
    pub await_leases: bool,
    /// Keep the nodes' data directories after a valid run.
    pub keep_data: bool,
    /// Extra arguments for every `doq` node.
    pub node_args: Vec<String>,
}

impl Plan {
    /// An upper bound on the inner run's duration; the supervisor kills it after that.
    pub fn deadline(&self) -> Duration {
        let restarts = self.schedule.steps.len() as u64 * 30;
        let leases = if self.await_leases {
            ACK_TIMEOUT_S + 30
        } else {
            0
        };
        self.schedule.duration()
            + START_DEADLINE
            + 2 * WARMUP
            + CONVERGE_DEADLINE
            + 2 * DRAIN_DEADLINE
            + Duration::from_secs(restarts + leases + 30)
    }
}

/// Whether the effective user is root (namespaces and nftables need it).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Fails unless the host can run the harness.
pub fn preflight() -> anyhow::Result<()> {
    if !is_root() {
        bail!("doq-chaos needs root (network namespaces and nftables)");
    }
    super::net::sh("ip", &["-V"]).context("`ip` (iproute2) is required")?;
    super::net::sh("nft", &["--version"]).context("`nft` (nftables) is required")?;
    Ok(())
}

/// The supervisor: sets up, runs the inner process in the hub, and cleans up whatever happens.
pub async fn supervise(plan: Plan) -> ExitCode {
    if let Err(e) = preflight() {
        eprintln!("doq-chaos: {e:#}");
        return ExitCode::from(5);
    }
    let stale = Net::cleanup_stale();
    if !stale.is_empty() {
        eprintln!("doq-chaos: removed the namespaces of dead runs: {stale:?}");
    }
    let net = Net::new(&plan.tag, plan.nodes);
    let code = match supervised(&plan, &net).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("doq-chaos: {e:#}");
            3
        }
    };
    net.destroy();
    eprintln!(
        "doq-chaos: namespaces removed; history, report and logs in {}",
        plan.out.display()
    );
    ExitCode::from(code)
}

async fn supervised(plan: &Plan, net: &Net) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&plan.out)?;
    let plan_path = plan.out.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_vec_pretty(plan)?)?;
    net.create().context("create the network namespaces")?;
    let me = std::env::current_exe().context("locate doq-chaos")?;
    let mut inner = tokio::process::Command::new("ip")
        .args(["netns", "exec", &net.hub()])
        .arg(&me)
        .arg("inner")
        .arg("--plan")
        .arg(&plan_path)
        .kill_on_drop(true)
        .spawn()
        .context("start the inner run")?;
    let deadline = plan.deadline();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        status = tokio::time::timeout(deadline, inner.wait()) => match status {
            Ok(status) => Ok(status?.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(3)),
            Err(_) => {
                eprintln!("doq-chaos: the run overran its {deadline:?} deadline; killing it");
                let _ = inner.start_kill();
                let _ = inner.wait().await;
                Ok(4)
            }
        },
        _ = tokio::signal::ctrl_c() => {
            let _ = inner.start_kill();
            let _ = inner.wait().await;
            bail!("interrupted")
        }
        _ = term.recv() => {
            let _ = inner.start_kill();
            let _ = inner.wait().await;
            bail!("terminated")
        }
    }
}

/// The inner run (inside the hub namespace).
pub async fn inner(plan_path: &Path) -> ExitCode {
    let plan: Plan = match std::fs::read(plan_path)
        .map_err(anyhow::Error::from)
        .and_then(|b| serde_json::from_slice(&b).map_err(anyhow::Error::from))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("doq-chaos inner: read {}: {e}", plan_path.display());
            return ExitCode::from(3);
        }
    };
    let config = NodeConfig {
        doq: plan.doq.clone(),
        backend: plan.backend.clone(),
        data_dir: plan.out.join("data"),
        log_dir: plan.out.clone(),
        extra_args: plan.node_args.clone(),
    };
    let net = Net::new(&plan.tag, plan.nodes);
    let mut cluster = Cluster::new(plan.nodes, &net, &config);
    let result = run(&plan, &mut cluster).await;
    cluster.stop().await;
    let _ = net.heal();
    match result {
        Ok(report) => {
            let code = if !report.valid() {
                1
            } else if !report.conclusive() {
                2
            } else {
                if !plan.keep_data {
                    let _ = std::fs::remove_dir_all(&config.data_dir);
                }
                0
            };
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("doq-chaos: the run failed: {e:#}");
            ExitCode::from(3)
        }
    }
}

/// The queues of the workload: one delayed and one fair (round-robin) queue.
fn queues() -> Vec<QueueMeta> {
    ["chaos-delayed", "chaos-fair"]
        .iter()
        .map(|n| QueueMeta {
            name: (*n).to_owned(),
            ack_timeout_ms: ACK_TIMEOUT_S * 1000,
        })
        .collect()
}

async fn create_queues(cluster: &Cluster, queues: &[QueueMeta]) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let base = cluster.nodes[0].base();
    for q in queues {
        let settings = if workload::is_fair(&q.name) {
            json!({ "strategy": "round_robin", "ack_timeout": ACK_TIMEOUT_S })
        } else {
            json!({ "ack_timeout": ACK_TIMEOUT_S })
        };
        let kind = if workload::is_fair(&q.name) {
            "fair"
        } else {
            "delayed"
        };
        let body = json!({ "name": q.name, "type": kind, "settings": settings });
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let got = http
                .post(format!("{base}/API/v1/queues"))
                .json(&body)
                .send()
                .await;
            match got {
                Ok(r) if r.status().is_success() => break,
                other if Instant::now() > until => bail!("create {}: {other:?}", q.name),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    Ok(())
}

async fn run(plan: &Plan, cluster: &mut Cluster) -> anyhow::Result<checker::Report> {
    let rec = Recorder::new(Some(&plan.out.join("history.jsonl")))?;
    let queues = queues();
    rec.record(
        super::history::NEMESIS,
        None,
        EventKind::Meta(Meta {
            started_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
                .unwrap_or(0),
            seed: plan.seed,
            backend: plan.backend.clone(),
            queues: queues.clone(),
        }),
    );
    rec.nemesis(format!(
        "cluster of {} {} nodes starting",
        plan.nodes, plan.backend
    ));
    cluster.start(START_DEADLINE).await?;
    create_queues(cluster, &queues).await?;
    rec.nemesis("cluster formed; workload starting");

    let timeout = Duration::from_millis(plan.op_timeout_ms);
    let stop = Arc::new(AtomicBool::new(false));
    let hard_stop = Instant::now() + plan.deadline();
    let workers: Vec<_> = (0..plan.clients)
        .map(|p| {
            let node = p % plan.nodes;
            let client = Client::new(
                u32::try_from(p).unwrap_or(u32::MAX),
                node,
                cluster.nodes[node].base(),
                timeout,
                rec.clone(),
            );
            let (queues, stop, seed) = (queues.clone(), stop.clone(), plan.seed);
            tokio::spawn(async move {
                workload::worker(client, queues, hard_stop, seed, &stop).await;
            })
        })
        .collect();

    tokio::time::sleep(WARMUP).await;
    let mut nemesis = Nemesis {
        cluster,
        rec: rec.clone(),
        rng: StdRng::seed_from_u64(plan.seed),
        mounted: Vec::new(),
    };
    let mut fault_error = None;
    for step in &plan.schedule.steps {
        if let Err(e) = nemesis.run(*step).await {
            rec.nemesis(format!("fault {} failed: {e:#}", step.fault));
            fault_error = Some(e);
            break;
        }
        if let Err(e) = nemesis.recover().await {
            rec.nemesis(format!("recovery after {} failed: {e:#}", step.fault));
            fault_error = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_secs(plan.schedule.calm_secs)).await;
    }
    rec.nemesis("faults over; recovering");
    nemesis.recover().await?;
    tokio::time::sleep(WARMUP).await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = tokio::time::timeout(timeout + Duration::from_secs(5), w).await;
    }
    rec.nemesis("workload stopped; waiting for the cluster to converge");
    let cluster = nemesis.cluster;
    cluster.converge(CONVERGE_DEADLINE).await?;

    let clients: Vec<Client> = (0..plan.nodes)
        .map(|i| {
            Client::new(
                2000 + u32::try_from(i).unwrap_or(0),
                i,
                cluster.nodes[i].base(),
                timeout,
                rec.clone(),
            )
        })
        .collect();
    if plan.await_leases {
        rec.nemesis("waiting for abandoned leases to expire");
        let until = Instant::now() + Duration::from_secs(ACK_TIMEOUT_S + 15);
        if !workload::await_leases(&clients[0], &queues, until).await {
            rec.nemesis("some leases were still live at the deadline");
        }
    }
    rec.nemesis("drain");
    let until = Instant::now() + DRAIN_DEADLINE;
    let drainers = queues.iter().enumerate().flat_map(|(qi, q)| {
        cluster
            .nodes
            .iter()
            .map(move |n| (qi, q.name.clone(), n.index, n.base()))
    });
    let drainers: Vec<_> = drainers
        .map(|(qi, queue, node, base)| {
            let process = 1000 + u32::try_from(qi * 16 + node).unwrap_or(0);
            let client = Client::new(process, node, base, timeout, rec.clone());
            workload::drain(client, queue, until)
        })
        .collect();
    futures::future::join_all(drainers).await;
    let unread = unsettled_ids(&rec);
    rec.nemesis(format!("read {} ids that no ack settled", unread.len()));
    workload::read_all(&clients, &unread, Instant::now() + DRAIN_DEADLINE).await;
    rec.nemesis("done");
    rec.flush()?;

    let report = checker::check(&rec.events());
    let table = report::table(&report);
    println!("{table}");
    if let Some(e) = fault_error {
        println!("note: the schedule stopped early: {e:#}");
    }
    std::fs::write(plan.out.join("report.md"), &table)?;
    std::fs::write(
        plan.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(report)
}

/// Every (queue, id) the history knows (from enqueue answers and deliveries) that no successful ack
/// removed: the final reads settle their fate.
fn unsettled_ids(rec: &Recorder) -> Vec<(String, String)> {
    let events = rec.events();
    let mut known = BTreeSet::new();
    let mut acked = BTreeSet::new();
    let mut last_call: std::collections::HashMap<u32, Call> = std::collections::HashMap::new();
    for e in &events {
        match &e.kind {
            EventKind::Invoke { call } => {
                last_call.insert(e.process, call.clone());
            }
            EventKind::Ok { answer } => match (last_call.get(&e.process), answer) {
                (Some(c), Answer::Enqueued { id } | Answer::Delivered { id, .. }) => {
                    known.insert((c.queue().to_owned(), id.clone()));
                }
                (Some(Call::Ack { queue, id, .. }), Answer::Done) => {
                    acked.insert((queue.clone(), id.clone()));
                }
                _ => {}
            },
            _ => {}
        }
    }
    known.difference(&acked).cloned().collect()
}
