//! The weighted fair queue's ready index: one heap per exact group, a seeded weighted pick.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::prng::Prng;
use crate::message::{Group, MessageId, Priority};

/// Ready messages of a weighted fair queue, by group name (byte-wise order, as the pick needs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Weighted {
    groups: BTreeMap<Group, BTreeSet<(Priority, MessageId)>>,
}

/// DOQ's weight of a group (docs/semantics.md §4.3): 0 when blocked, 10 when unlimited, else scaled by free slots.
pub(crate) fn weight(leases: u32, max_unacked: u32) -> u64 {
    if max_unacked == 0 {
        return 10;
    }
    if leases >= max_unacked {
        return 0;
    }
    let max = u64::from(max_unacked) + 1;
    10 * (max - u64::from(leases)) / max
}

impl Weighted {
    pub(crate) fn insert(&mut self, group: &Group, key: (Priority, MessageId)) {
        self.groups.entry(group.clone()).or_default().insert(key);
    }

    pub(crate) fn remove(&mut self, group: &Group, key: (Priority, MessageId)) {
        if let Some(heap) = self.groups.get_mut(group) {
            heap.remove(&key);
            if heap.is_empty() {
                self.groups.remove(group);
            }
        }
    }

    fn weights<'a>(
        &'a self,
        leases: &'a HashMap<Group, u32>,
        max_unacked: u32,
    ) -> impl Iterator<Item = (&'a Group, u64)> + 'a {
        self.groups.iter().map(move |(g, heap)| {
            let w = if heap.is_empty() {
                0
            } else {
                weight(leases.get(g).copied().unwrap_or(0), max_unacked)
            };
            (g, w)
        })
    }

    pub(crate) fn has_deliverable(&self, leases: &HashMap<Group, u32>, max_unacked: u32) -> bool {
        self.weights(leases, max_unacked).any(|(_, w)| w > 0)
    }

    /// Picks a group with probability proportional to its weight and pops its head.
    pub(crate) fn select(
        &mut self,
        leases: &HashMap<Group, u32>,
        max_unacked: u32,
        prng: &mut Prng,
    ) -> Option<(Group, (Priority, MessageId))> {
        let total: u64 = self.weights(leases, max_unacked).map(|(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let r = prng.next_u64() % total;
        let mut cumulative = 0;
        let mut chosen = None;
        for (g, w) in self.weights(leases, max_unacked) {
            cumulative += w;
            if cumulative > r {
                chosen = Some(g.clone());
                break;
            }
        }
        let group = chosen?;
        let heap = self.groups.get_mut(&group)?;
        let key = heap.pop_first()?;
        if heap.is_empty() {
            self.groups.remove(&group);
        }
        Some((group, key))
    }

    pub(crate) fn clear(&mut self) {
        self.groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_doq_formula() {
        let got: Vec<u64> = [0, 3, 5, 9, 10].iter().map(|l| weight(*l, 10)).collect();
        assert_eq!(got, vec![10, 7, 5, 1, 0]);
        assert_eq!(weight(91, 100), 0);
        assert_eq!(weight(1000, 0), 10);
    }
}
