//! The nemesis: the faults a run injects, and the schedules that string them together. Every fault
//! runs for a bounded time and undoes itself (heal, SIGCONT, restart) before the next one starts;
//! every step is written to the history.
use std::{
    fmt,
    time::{Duration, Instant},
};

use clap::ValueEnum;
use rand::{rngs::StdRng, seq::SliceRandom, Rng};

use super::{cluster::Cluster, history::Recorder, node::NodeState};

/// How long a restarted node may take to answer again.
const RESTART_DEADLINE: Duration = Duration::from_secs(30);

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// A random node is cut off from the other two (a minority of one, a majority of two).
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
}

impl Fault {
    /// Every fault, in the order of the schedules.
    pub const ALL: [Fault; 10] = [
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
    ];
}

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
    /// Every fault twice, in a random order, for 14 s with 6 s of calm: under 7 minutes of faults,
    /// then the drain waits for abandoned leases to expire: under 10 minutes in all.
    Long,
}

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
    /// The preset's schedule over `faults` (all when empty), shuffled by `rng` for the long one.
    pub fn preset(preset: Preset, faults: &[Fault], rng: &mut StdRng) -> Self {
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
}

impl Nemesis<'_> {
    fn n(&self) -> usize {
        self.cluster.nodes.len()
    }

    fn random_node(&mut self) -> usize {
        let n = self.n();
        self.rng.random_range(0..n)
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
                let i = self.random_node();
                self.partition("minority", &cut_off(i, n))
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
                let i = self.random_node();
                self.partition("minority", &cut_off(i, n))?;
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

    /// Sleeps a random time in `ms`, but not past `until`.
    async fn pause_for(&mut self, ms: std::ops::Range<u64>, until: Instant) {
        let d = Duration::from_millis(self.rng.random_range(ms));
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(d.min(left)).await;
    }

    /// Undoes everything: heal, SIGCONT, restart the dead.
    pub async fn recover(&mut self) -> anyhow::Result<()> {
        self.heal()?;
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
    fn a_bridge_blocks_only_the_two_ends() {
        assert_eq!(bridge(0, 2, 3), vec![vec![2], vec![], vec![0]]);
    }

    #[test]
    fn the_short_schedule_fits_in_ci_and_the_long_one_in_ten_minutes() {
        let mut rng = StdRng::seed_from_u64(1);
        let short = Schedule::preset(Preset::Short, &[], &mut rng);
        assert_eq!(short.steps.len(), Fault::ALL.len());
        assert!(short.duration() <= Duration::from_secs(130), "{short:?}");
        let long = Schedule::preset(Preset::Long, &[], &mut rng);
        assert_eq!(long.steps.len(), 2 * Fault::ALL.len());
        assert!(long.duration() <= Duration::from_secs(400), "{long:?}");
    }
}
