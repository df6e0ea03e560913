//! The nemesis: the faults a run injects, and the schedules that string them together. Every fault
//! runs for a bounded time and undoes itself (heal, SIGCONT, restart) before the next one starts;
//! every step is written to the history.
use std::{
    fmt,
    time::{Duration, Instant},
};

use clap::ValueEnum;
use rand::{rngs::StdRng, seq::SliceRandom, Rng};

use super::{cluster::Cluster, disk, history::Recorder, node::NodeState};

/// How long a restarted node may take to answer again.
const RESTART_DEADLINE: Duration = Duration::from_secs(30);

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// A random minority (1 node of 3, 2 of 5) is cut off from the majority.
    PartitionMinority,
    /// The leader is cut off from the other nodes.
    PartitionLeader,
    /// Two nodes cannot reach each other, but both reach the third (a non-transitive partition).
    PartitionBridge,
    /// Random partitions of the kinds above, switched on and off every 1–3 s.
    PartitionFlap,
    /// The leader is frozen with SIGSTOP, then resumed with SIGCONT.
    PauseLeader,
    /// A follower is frozen with SIGSTOP, then resumed.
    PauseFollower,
    /// The leader is SIGKILLed and restarted a few seconds later.
    KillLeader,
    /// A follower is SIGKILLed and restarted.
    KillFollower,
    /// A random node is SIGKILLed and restarted after 1–3 s, over and over.
    KillLoop,
    /// Every node is SIGKILLed at once, then all restart: acknowledged writes must be on disk.
    KillAll,
    /// The leader's clock jumps an hour back for half the fault, then a follower's does (through the
    /// node's test-only control file). Stamps are the leader's and never go back, so nothing changes.
    ClockJump,
    /// The leader's disk is slow (every state-machine commit and Raft log write sleeps 50 ms first)
    /// for half the fault, then a follower's.
    SlowDisk,
    /// A follower restarts on a tmpfs with 1 MiB to spare and writes until the disk is full (ENOSPC);
    /// halfway through, the tmpfs grows (space freed). Then it is killed, its directory is copied
    /// back to disk and it restarts there.
    Enospc,
    /// A follower's data files are overwritten with garbage; it must refuse them (exit) rather than
    /// serve them. Its directory is then wiped and it rejoins, catching up from the others.
    CorruptFollower,
}

impl Fault {
    /// Every fault, in the order of the schedules.
    pub const ALL: [Fault; 14] = [
        Fault::PartitionMinority,
        Fault::PartitionLeader,
        Fault::PartitionBridge,
        Fault::PartitionFlap,
        Fault::PauseLeader,
        Fault::PauseFollower,
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::KillLoop,
        Fault::KillAll,
        Fault::ClockJump,
        Fault::SlowDisk,
        Fault::Enospc,
        Fault::CorruptFollower,
    ];
}

/// How far `clock-jump` moves a node's clock back.
const CLOCK_JUMP_MS: i64 = -3_600_000;
/// How long every write sleeps on a `slow-disk` node.
const SLOW_DISK_MS: u64 = 50;
/// Free space on the `enospc` tmpfs when the node starts on it.
const ENOSPC_HEADROOM: u64 = 1 << 20;
/// How long a node with garbage for data may take to refuse it.
const REFUSE_DEADLINE: Duration = Duration::from_secs(20);

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// A named schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Every fault once for 8 s with 4 s of calm after each: about 2 minutes of faults, under
    /// 3 minutes in all. Runs in CI.
    Short,
    /// Every fault twice, in a random order, for 14 s with 6 s of calm: under 10 minutes of faults,
    /// then the drain waits for abandoned leases to expire.
    Long,
    /// Rounds of every fault, each round in a random order, for 20 s with 10 s of calm, until the
    /// faults and calm fill `--minutes` (default 30); then the drain waits for abandoned leases.
    Soak,
}

/// The `soak` schedule's default length in minutes.
pub const SOAK_MINUTES: u64 = 30;

/// One step: a fault and how long it lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// The fault.
    pub fault: Fault,
    /// How long it lasts.
    pub secs: u64,
}

/// The faults of a run, in order, and the calm between them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    /// The steps.
    pub steps: Vec<Step>,
    /// Seconds without faults after each step (the cluster recovers; clients keep going).
    pub calm_secs: u64,
}

impl Schedule {
    /// The preset's schedule over `faults` (all when empty), shuffled by `rng` for the long ones;
    /// `minutes` is the soak's length.
    pub fn preset(preset: Preset, faults: &[Fault], minutes: u64, rng: &mut StdRng) -> Self {
        let faults: Vec<Fault> = if faults.is_empty() {
            Fault::ALL.to_vec()
        } else {
            faults.to_vec()
        };
        match preset {
            Preset::Short => Self {
                steps: faults.iter().map(|f| Step { fault: *f, secs: 8 }).collect(),
                calm_secs: 4,
            },
            Preset::Long => {
                let mut steps: Vec<Step> = faults
                    .iter()
                    .chain(faults.iter())
                    .map(|f| Step {
                        fault: *f,
                        secs: 14,
                    })
                    .collect();
                steps.shuffle(rng);
                Self {
                    steps,
                    calm_secs: 6,
                }
            }
            Preset::Soak => {
                let (secs, calm_secs) = (20, 10);
                let budget = minutes.saturating_mul(60);
                let mut steps = Vec::new();
                'rounds: loop {
                    let mut round = faults.clone();
                    round.shuffle(rng);
                    for fault in round {
                        if (steps.len() as u64 + 1) * (secs + calm_secs) > budget {
                            break 'rounds;
                        }
                        steps.push(Step { fault, secs });
                    }
                }
                Self { steps, calm_secs }
            }
        }
    }

    /// How long the faults and calm periods take, without recovery time.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.steps.iter().map(|s| s.secs + self.calm_secs).sum())
    }
}

/// Describes a partition as its components, e.g. `[[1],[0,2]]`, from the blocked peers per node.
fn describe(blocked: &[Vec<usize>]) -> String {
    let parts: Vec<String> = blocked
        .iter()
        .enumerate()
        .map(|(i, b)| format!("{i}-x-{b:?}"))
        .filter(|s| !s.ends_with("[]"))
        .collect();
    parts.join(" ")
}

/// The blocked peers per node for node `alone` cut off from everyone else.
fn cut_off(alone: usize, n: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            if i == alone {
                (0..n).filter(|j| *j != alone).collect()
            } else {
                vec![alone]
            }
        })
        .collect()
}

/// The blocked peers per node for `minority` cut off from everyone else (they still reach each
/// other).
fn split(minority: &[usize], n: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            let inside = minority.contains(&i);
            (0..n)
                .filter(|j| *j != i && minority.contains(j) != inside)
                .collect()
        })
        .collect()
}

/// A bridge: `a` and `c` cannot reach each other; everyone reaches the rest.
fn bridge(a: usize, c: usize, n: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            if i == a {
                vec![c]
            } else if i == c {
                vec![a]
            } else {
                Vec::new()
            }
        })
        .collect()
}

/// Runs faults against a cluster.
pub struct Nemesis<'a> {
    /// The cluster.
    pub cluster: &'a mut Cluster,
    /// Where fault events go.
    pub rec: Recorder,
    /// The run's random source (seeded).
    pub rng: StdRng,
    /// Nodes whose directory is on a tmpfs right now (`enospc`).
    pub mounted: Vec<usize>,
}

impl Nemesis<'_> {
    fn n(&self) -> usize {
        self.cluster.nodes.len()
    }

    fn random_node(&mut self) -> usize {
        let n = self.n();
        self.rng.random_range(0..n)
    }

    /// A random largest minority: 1 node of 3, 2 of 5.
    fn random_minority(&mut self) -> Vec<usize> {
        let n = self.n();
        let mut nodes: Vec<usize> = (0..n).collect();
        nodes.shuffle(&mut self.rng);
        nodes.truncate((n - 1) / 2);
        nodes
    }

    /// The leader, or a random node when none is known (recorded).
    async fn leader_or_any(&mut self) -> usize {
        if let Some(l) = self.cluster.leader().await {
            return l;
        }
        let i = self.random_node();
        self.rec
            .nemesis(format!("no leader known; picking node-{i} instead"));
        i
    }

    async fn follower(&mut self) -> usize {
        let leader = self.cluster.leader().await;
        let n = self.n();
        let candidates: Vec<usize> = (0..n).filter(|i| Some(*i) != leader).collect();
        candidates[self.rng.random_range(0..candidates.len())]
    }

    fn partition(&mut self, name: &str, blocked: &[Vec<usize>]) -> anyhow::Result<()> {
        self.rec
            .nemesis(format!("partition {name}: {}", describe(blocked)));
        self.cluster.net().partition(blocked)
    }

    fn heal(&mut self) -> anyhow::Result<()> {
        self.rec.nemesis("heal");
        self.cluster.net().heal()
    }

    async fn random_partition(&mut self) -> anyhow::Result<()> {
        let n = self.n();
        match self.rng.random_range(0..3) {
            0 => {
                let minority = self.random_minority();
                self.partition("minority", &split(&minority, n))
            }
            1 => {
                let l = self.leader_or_any().await;
                self.partition("leader", &cut_off(l, n))
            }
            _ => {
                let mut nodes: Vec<usize> = (0..n).collect();
                nodes.shuffle(&mut self.rng);
                self.partition("bridge", &bridge(nodes[0], nodes[1], n))
            }
        }
    }

    async fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        self.rec.nemesis(format!("kill node-{i}"));
        self.cluster.nodes[i].resume()?;
        self.cluster.nodes[i].kill().await
    }

    async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.rec.nemesis(format!("restart node-{i}"));
        self.cluster.restart(i, RESTART_DEADLINE).await?;
        self.rec.nemesis(format!("node-{i} answers again"));
        Ok(())
    }

    /// Injects `step.fault` for `step.secs`, then undoes it.
    pub async fn run(&mut self, step: Step) -> anyhow::Result<()> {
        let n = self.n();
        let hold = Duration::from_secs(step.secs);
        let until = Instant::now() + hold;
        self.rec
            .nemesis(format!("start {} for {} s", step.fault, step.secs));
        match step.fault {
            Fault::PartitionMinority => {
                let minority = self.random_minority();
                self.partition("minority", &split(&minority, n))?;
                tokio::time::sleep(hold).await;
                self.heal()?;
            }
            Fault::PartitionLeader => {
                let l = self.leader_or_any().await;
                self.partition("leader", &cut_off(l, n))?;
                tokio::time::sleep(hold).await;
                self.heal()?;
            }
            Fault::PartitionBridge => {
                let mut nodes: Vec<usize> = (0..n).collect();
                nodes.shuffle(&mut self.rng);
                self.partition("bridge", &bridge(nodes[0], nodes[1], n))?;
                tokio::time::sleep(hold).await;
                self.heal()?;
            }
            Fault::PartitionFlap => {
                while Instant::now() < until {
                    self.random_partition().await?;
                    self.pause_for(1000..3000, until).await;
                    self.heal()?;
                    self.pause_for(1000..3000, until).await;
                }
            }
            Fault::PauseLeader | Fault::PauseFollower => {
                let i = if step.fault == Fault::PauseLeader {
                    self.leader_or_any().await
                } else {
                    self.follower().await
                };
                self.rec.nemesis(format!("pause node-{i} (SIGSTOP)"));
                self.cluster.nodes[i].pause()?;
                tokio::time::sleep(hold).await;
                self.rec.nemesis(format!("resume node-{i} (SIGCONT)"));
                self.cluster.nodes[i].resume()?;
            }
            Fault::KillLeader | Fault::KillFollower => {
                let i = if step.fault == Fault::KillLeader {
                    self.leader_or_any().await
                } else {
                    self.follower().await
                };
                self.kill(i).await?;
                tokio::time::sleep(hold).await;
                self.restart(i).await?;
            }
            Fault::KillLoop => {
                while Instant::now() < until {
                    let i = self.random_node();
                    self.kill(i).await?;
                    self.pause_for(1000..3000, until).await;
                    self.restart(i).await?;
                    self.pause_for(1000..3000, until).await;
                }
            }
            Fault::ClockJump => {
                let half = hold / 2;
                let l = self.leader_or_any().await;
                self.jump(l, CLOCK_JUMP_MS)?;
                tokio::time::sleep(half).await;
                self.jump(l, 0)?;
                let f = self.follower().await;
                self.jump(f, CLOCK_JUMP_MS)?;
                tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
                self.jump(f, 0)?;
            }
            Fault::SlowDisk => {
                let half = hold / 2;
                let l = self.leader_or_any().await;
                self.slow(l, SLOW_DISK_MS)?;
                tokio::time::sleep(half).await;
                self.slow(l, 0)?;
                let f = self.follower().await;
                self.slow(f, SLOW_DISK_MS)?;
                tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
                self.slow(f, 0)?;
            }
            Fault::Enospc => {
                let f = self.follower().await;
                self.enospc(f, hold, until).await?;
            }
            Fault::CorruptFollower => {
                let f = self.follower().await;
                self.corrupt(f, until).await?;
            }
            Fault::KillAll => {
                for i in 0..n {
                    self.kill(i).await?;
                }
                tokio::time::sleep(hold.min(Duration::from_secs(3))).await;
                for i in 0..n {
                    self.cluster.nodes[i].spawn(None)?;
                    self.rec.nemesis(format!("restart node-{i}"));
                }
                // Each restart alone cannot elect a leader; wait for all to answer together.
                self.cluster
                    .wait(
                        Instant::now() + RESTART_DEADLINE,
                        "every node to answer after kill-all",
                        |v| v.len() == n,
                    )
                    .await?;
                let left = until.saturating_duration_since(Instant::now());
                tokio::time::sleep(left).await;
            }
        }
        self.rec.nemesis(format!("end {}", step.fault));
        Ok(())
    }

    /// Sets node `i`'s clock offset (0: back to the system clock).
    fn jump(&mut self, i: usize, offset_ms: i64) -> anyhow::Result<()> {
        self.rec.nemesis(if offset_ms == 0 {
            format!("clock of node-{i} back to the system clock")
        } else {
            format!("clock of node-{i} jumps by {offset_ms} ms")
        });
        self.cluster.nodes[i].control(offset_ms, 0)
    }

    /// Sets node `i`'s disk delay (0: a normal disk).
    fn slow(&mut self, i: usize, delay_ms: u64) -> anyhow::Result<()> {
        self.rec.nemesis(if delay_ms == 0 {
            format!("disk of node-{i} back to normal")
        } else {
            format!("disk of node-{i} slow: every write waits {delay_ms} ms")
        });
        self.cluster.nodes[i].control(0, delay_ms)
    }

    /// Whether node `i` died on its own (recorded when it did).
    fn died(&mut self, i: usize, when: &str) -> bool {
        match self.cluster.nodes[i].exited() {
            Some(status) => {
                self.rec
                    .nemesis(format!("node-{i} exited on its own {when} ({status})"));
                true
            }
            None => false,
        }
    }

    /// The `enospc` fault on node `i`.
    async fn enospc(&mut self, i: usize, hold: Duration, until: Instant) -> anyhow::Result<()> {
        self.kill(i).await?;
        let dir = self.cluster.nodes[i].data_path();
        let mut tmpfs = disk::Tmpfs::mount(&dir, ENOSPC_HEADROOM)?;
        self.mounted.push(i);
        self.rec.nemesis(format!(
            "node-{i}'s directory is on a {} KiB tmpfs ({} KiB free)",
            tmpfs.size / 1024,
            ENOSPC_HEADROOM / 1024
        ));
        self.cluster.nodes[i].spawn(None)?;
        self.rec.nemesis(format!("restart node-{i} on the tmpfs"));
        tokio::time::sleep(hold / 2).await;
        let died_full = self.died(i, "on a full disk");
        let grown = tmpfs.size + (256 << 20);
        tmpfs.grow(grown)?;
        self.rec.nemesis(format!(
            "node-{i}'s tmpfs grows to {} MiB (space freed)",
            grown >> 20
        ));
        if died_full {
            // With space again, it must come back on the directory it left behind.
            self.cluster.nodes[i].kill().await?;
            self.cluster.nodes[i].spawn(None)?;
            self.rec
                .nemesis(format!("restart node-{i} on the grown tmpfs"));
        }
        tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
        if !died_full {
            self.died(i, "after the space was freed");
        }
        self.kill(i).await?;
        tmpfs.restore(true)?;
        self.mounted.retain(|m| *m != i);
        self.rec
            .nemesis(format!("node-{i}'s directory is back on disk"));
        self.restart(i).await
    }

    /// The `corrupt-follower` fault on node `i`: garbage, then a wiped directory and a rejoin.
    async fn corrupt(&mut self, i: usize, until: Instant) -> anyhow::Result<()> {
        self.kill(i).await?;
        let dir = self.cluster.nodes[i].data_path();
        let (files, bytes) = disk::garble(&dir, &mut self.rng, 256 << 20)?;
        self.rec.nemesis(format!(
            "node-{i}'s {files} data files overwritten with {bytes} bytes of garbage"
        ));
        self.cluster.nodes[i].spawn(None)?;
        let refuse_by = Instant::now() + REFUSE_DEADLINE;
        let mut refused = false;
        while Instant::now() < refuse_by {
            if self.died(i, "on a garbage data directory") {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !refused {
            // Serving garbage would show up in the history as lost or unexpected messages.
            self.rec.nemesis(format!(
                "node-{i} still runs on a garbage data directory after {REFUSE_DEADLINE:?}"
            ));
        }
        self.kill(i).await?;
        std::fs::remove_dir_all(&dir)?;
        let through = (0..self.n()).find(|j| *j != i).unwrap_or(0);
        self.rec.nemesis(format!(
            "node-{i}'s directory wiped; it rejoins through node-{through}"
        ));
        self.cluster.nodes[i].spawn(Some(through))?;
        self.cluster
            .wait(
                Instant::now() + RESTART_DEADLINE,
                &format!("node-{i} to answer after rejoining"),
                |views| views.iter().any(|v| v.node == i),
            )
            .await?;
        self.rec.nemesis(format!("node-{i} answers again"));
        tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
        Ok(())
    }

    /// Sleeps a random time in `ms`, but not past `until`.
    async fn pause_for(&mut self, ms: std::ops::Range<u64>, until: Instant) {
        let d = Duration::from_millis(self.rng.random_range(ms));
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(d.min(left)).await;
    }

    /// Undoes everything: heal, clocks and disks back to normal, SIGCONT, restart the dead.
    pub async fn recover(&mut self) -> anyhow::Result<()> {
        self.heal()?;
        for i in 0..self.n() {
            self.cluster.nodes[i].control(0, 0)?;
        }
        for i in std::mem::take(&mut self.mounted) {
            // A step that failed halfway left this node on its tmpfs: bring its directory back.
            self.rec
                .nemesis(format!("node-{i}'s directory back from its tmpfs"));
            self.kill(i).await?;
            let dir = self.cluster.nodes[i].data_path();
            disk::Tmpfs::adopt(&dir).restore(true)?;
        }
        for i in 0..self.n() {
            match self.cluster.state(i) {
                NodeState::Paused => {
                    self.rec.nemesis(format!("resume node-{i} (SIGCONT)"));
                    self.cluster.nodes[i].resume()?;
                }
                NodeState::Dead => self.restart(i).await?,
                NodeState::Running => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_cut_off_node_blocks_everyone_and_everyone_blocks_it() {
        assert_eq!(cut_off(1, 3), vec![vec![1], vec![0, 2], vec![1]]);
    }

    #[test]
    fn a_split_cuts_the_minority_off_as_a_group() {
        assert_eq!(split(&[1], 3), cut_off(1, 3));
        assert_eq!(
            split(&[0, 3], 5),
            vec![
                vec![1, 2, 4],
                vec![0, 3],
                vec![0, 3],
                vec![1, 2, 4],
                vec![0, 3]
            ]
        );
    }

    #[test]
    fn a_bridge_blocks_only_the_two_ends() {
        assert_eq!(bridge(0, 2, 3), vec![vec![2], vec![], vec![0]]);
    }

    #[test]
    fn the_short_schedule_fits_in_ci_and_the_long_one_in_ten_minutes() {
        let mut rng = StdRng::seed_from_u64(1);
        let short = Schedule::preset(Preset::Short, &[], SOAK_MINUTES, &mut rng);
        assert_eq!(short.steps.len(), Fault::ALL.len());
        assert!(short.duration() <= Duration::from_secs(180), "{short:?}");
        let long = Schedule::preset(Preset::Long, &[], SOAK_MINUTES, &mut rng);
        assert_eq!(long.steps.len(), 2 * Fault::ALL.len());
        assert!(long.duration() <= Duration::from_secs(600), "{long:?}");
    }

    #[test]
    fn the_soak_fills_its_minutes_with_rounds_of_every_fault() {
        let mut rng = StdRng::seed_from_u64(2);
        let soak = Schedule::preset(Preset::Soak, &[], 30, &mut rng);
        assert_eq!(soak.steps.len(), 60);
        assert_eq!(soak.duration(), Duration::from_secs(30 * 60));
        for round in soak.steps.chunks(Fault::ALL.len()).take(4) {
            let mut seen: Vec<Fault> = round.iter().map(|s| s.fault).collect();
            seen.sort_by_key(|f| Fault::ALL.iter().position(|a| a == f));
            assert_eq!(seen, Fault::ALL.to_vec());
        }
    }
}
