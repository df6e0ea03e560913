//! The round-robin fair queue's ready index: a tree of dot-separated group paths with a rotating
//! cursor per internal node (docs/semantics.md §4.2).
//!
//! Every group path ends in a *leaf* child of its last segment's node, so a group that is also a
//! prefix of another (`a` and `a.b`) is an implicit leaf among its node's children, never stranded.
//! For groups that are never prefixes this visits in exactly DOQ's order.
use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use super::records::GroupRecord;
use crate::{
    message::{Group, MessageId, Priority},
    queue::QueueId,
};

const ROOT: u32 = 0;

#[derive(Clone, Debug)]
struct Node {
    parent: u32,
    segment: Arc<str>,
    leaf: bool,
    /// Children in insertion order (ascending node id).
    children: Vec<u32>,
    /// The child the next visit starts at; 0 means the first child.
    cursor: u32,
    /// The full group path: what `max_unacked` counts leases by.
    path: Group,
    heap: BTreeSet<(Priority, MessageId)>,
}

impl Node {
    fn new(parent: u32, segment: Arc<str>, leaf: bool, path: Group) -> Self {
        Self {
            parent,
            segment,
            leaf,
            children: Vec::new(),
            cursor: 0,
            path,
            heap: BTreeSet::new(),
        }
    }
}

/// The group tree of one round-robin queue. Changes to nodes are collected as dirty/removed sets
/// and written out by [`RoundRobin::drain_changes`], so the rotation survives a restart exactly.
#[derive(Clone, Debug)]
pub(crate) struct RoundRobin {
    nodes: HashMap<u32, Node>,
    /// `(parent, segment)` → internal node.
    internal: HashMap<(u32, Arc<str>), u32>,
    /// internal node → its leaf.
    leaves: HashMap<u32, u32>,
    next_node: u32,
    dirty: BTreeSet<u32>,
    removed: BTreeSet<u32>,
}

/// Whether a child whose full path is given may not be visited because its group is at `max_unacked`.
pub(crate) trait Blocked {
    fn blocked(&self, path: &Group) -> bool;
}

impl RoundRobin {
    /// An empty tree (just the root). The root is marked dirty so it is persisted with the queue.
    pub(crate) fn new(next_node: u32) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, Node::new(ROOT, Arc::from(""), false, Group::new("")));
        let mut dirty = BTreeSet::new();
        dirty.insert(ROOT);
        Self {
            nodes,
            internal: HashMap::new(),
            leaves: HashMap::new(),
            next_node: next_node.max(1),
            dirty,
            removed: BTreeSet::new(),
        }
    }

    /// Rebuilds the tree from persisted nodes (any order). Nodes whose parent is missing are dropped.
    pub(crate) fn from_records(next_node: u32, mut records: Vec<GroupRecord>) -> Self {
        let mut tree = Self::new(next_node);
        tree.dirty.clear();
        records.sort_by_key(|r| r.node);
        for r in records {
            if r.node == ROOT {
                if let Some(root) = tree.nodes.get_mut(&ROOT) {
                    root.cursor = r.cursor;
                }
                continue;
            }
            let Some(parent) = tree.nodes.get(&r.parent) else {
                continue;
            };
            if parent.leaf {
                continue;
            }
            let path = if r.leaf {
                parent.path.clone()
            } else if r.parent == ROOT {
                Group::new(&r.segment)
            } else {
                Group::new(&format!("{}.{}", parent.path.as_str(), r.segment))
            };
            let segment: Arc<str> = Arc::from(r.segment.as_str());
            let mut node = Node::new(r.parent, segment.clone(), r.leaf, path);
            node.cursor = r.cursor;
            tree.nodes.insert(r.node, node);
            if let Some(parent) = tree.nodes.get_mut(&r.parent) {
                parent.children.push(r.node);
            }
            if r.leaf {
                tree.leaves.insert(r.parent, r.node);
            } else {
                tree.internal.insert((r.parent, segment), r.node);
            }
            tree.next_node = tree.next_node.max(r.node.saturating_add(1));
        }
        tree
    }

    /// The next node id to assign (persisted in the queue record).
    pub(crate) fn next_node(&self) -> u32 {
        self.next_node
    }

    /// Finds the leaf for a group path, creating missing nodes at the end of their parents' children.
    fn leaf_for(&mut self, group: &Group) -> u32 {
        let mut node = ROOT;
        for segment in group.as_str().split('.') {
            let key = (node, Arc::<str>::from(segment));
            node = match self.internal.get(&key) {
                Some(child) => *child,
                None => {
                    let path = match self.nodes.get(&node) {
                        Some(p) if node != ROOT => {
                            Group::new(&format!("{}.{segment}", p.path.as_str()))
                        }
                        _ => Group::new(segment),
                    };
                    let child = self.add_node(node, key.1.clone(), false, path);
                    self.internal.insert(key, child);
                    child
                }
            };
        }
        if let Some(leaf) = self.leaves.get(&node) {
            return *leaf;
        }
        let leaf = self.add_node(node, Arc::from(""), true, group.clone());
        self.leaves.insert(node, leaf);
        leaf
    }

    fn add_node(&mut self, parent: u32, segment: Arc<str>, leaf: bool, path: Group) -> u32 {
        let id = self.next_node;
        self.next_node = self.next_node.saturating_add(1);
        self.nodes
            .insert(id, Node::new(parent, segment, leaf, path));
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children.push(id);
        }
        self.dirty.insert(id);
        id
    }

    pub(crate) fn insert(&mut self, group: &Group, key: (Priority, MessageId)) {
        let leaf = self.leaf_for(group);
        if let Some(node) = self.nodes.get_mut(&leaf) {
            node.heap.insert(key);
        }
    }

    pub(crate) fn remove(&mut self, group: &Group, key: (Priority, MessageId)) {
        let Some(leaf) = self.find_leaf(group) else {
            return;
        };
        if let Some(node) = self.nodes.get_mut(&leaf) {
            node.heap.remove(&key);
        }
        self.prune(leaf);
    }

    fn find_leaf(&self, group: &Group) -> Option<u32> {
        let mut node = ROOT;
        for segment in group.as_str().split('.') {
            node = *self.internal.get(&(node, Arc::<str>::from(segment)))?;
        }
        self.leaves.get(&node).copied()
    }

    /// Removes an emptied leaf and its emptied ancestors (never the root); a parent cursor that
    /// pointed at a removed child falls back to the first child.
    fn prune(&mut self, mut node: u32) {
        while node != ROOT {
            let Some(n) = self.nodes.get(&node) else {
                return;
            };
            if (n.leaf && !n.heap.is_empty()) || (!n.leaf && !n.children.is_empty()) {
                return;
            }
            let (parent, segment, leaf) = (n.parent, n.segment.clone(), n.leaf);
            self.nodes.remove(&node);
            if leaf {
                self.leaves.remove(&parent);
            } else {
                self.internal.remove(&(parent, segment));
            }
            self.dirty.remove(&node);
            self.removed.insert(node);
            if let Some(p) = self.nodes.get_mut(&parent) {
                p.children.retain(|c| *c != node);
                if p.cursor == node {
                    p.cursor = 0;
                }
                self.dirty.insert(parent);
            }
            node = parent;
        }
    }

    /// Pops the next message in rotation order, or `None` when nothing is deliverable.
    pub(crate) fn select(
        &mut self,
        blocked: &dyn Blocked,
    ) -> Option<(Group, (Priority, MessageId))> {
        let (leaf, key) = self.visit(ROOT, blocked)?;
        let group = self
            .nodes
            .get(&leaf)
            .map(|n| n.path.clone())
            .unwrap_or_default();
        // The cursor advance happened during the visit, before this removal (docs/semantics.md §4.2).
        self.prune(leaf);
        Some((group, key))
    }

    /// The rotation walk: from the root, each internal node tries its children from its cursor on,
    /// advancing the cursor past every child it tries, and descends into the first one not blocked; a
    /// subtree that yields nothing hands back to its parent, which tries its next child. Iterative, with
    /// an explicit stack, so a deep group path costs heap, not native stack.
    fn visit(&mut self, root: u32, blocked: &dyn Blocked) -> Option<(u32, (Priority, MessageId))> {
        /// An internal node being walked: which child to try next.
        struct Frame {
            node: u32,
            start: usize,
            tried: usize,
            count: usize,
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut enter = Some(root);
        loop {
            if let Some(node) = enter.take() {
                // A missing node yields nothing, like an empty one.
                if let Some(n) = self.nodes.get_mut(&node) {
                    if n.leaf {
                        if let Some(k) = n.heap.pop_first() {
                            return Some((node, k));
                        }
                    } else if !n.children.is_empty() {
                        let start = n.children.iter().position(|c| *c == n.cursor).unwrap_or(0);
                        let count = n.children.len();
                        stack.push(Frame {
                            node,
                            start,
                            tried: 0,
                            count,
                        });
                    }
                }
            }
            let frame = stack.last_mut()?;
            if frame.tried >= frame.count {
                stack.pop();
                continue;
            }
            let (node, i, count) = (
                frame.node,
                (frame.start + frame.tried) % frame.count,
                frame.count,
            );
            frame.tried += 1;
            let Some(n) = self.nodes.get_mut(&node) else {
                stack.pop();
                continue;
            };
            let (Some(&child), Some(&next)) = (n.children.get(i), n.children.get((i + 1) % count))
            else {
                stack.pop();
                continue;
            };
            if n.cursor != next {
                n.cursor = next;
                self.dirty.insert(node);
            }
            let is_blocked = self
                .nodes
                .get(&child)
                .is_none_or(|c| blocked.blocked(&c.path));
            if !is_blocked {
                enter = Some(child);
            }
        }
    }

    /// Whether a visit would yield anything, without changing the tree.
    pub(crate) fn has_deliverable(&self, blocked: &dyn Blocked) -> bool {
        self.can_yield(ROOT, blocked)
    }

    /// Depth-first over unblocked children for a non-empty leaf; iterative like [`RoundRobin::visit`].
    fn can_yield(&self, root: u32, blocked: &dyn Blocked) -> bool {
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            let Some(n) = self.nodes.get(&node) else {
                continue;
            };
            if n.leaf {
                if !n.heap.is_empty() {
                    return true;
                }
                continue;
            }
            for c in &n.children {
                if self
                    .nodes
                    .get(c)
                    .is_some_and(|child| !blocked.blocked(&child.path))
                {
                    stack.push(*c);
                }
            }
        }
        false
    }

    /// Empties the tree (purge): every node but the root is removed, the root's cursor reset.
    pub(crate) fn clear(&mut self) {
        let ids: Vec<u32> = self
            .nodes
            .keys()
            .copied()
            .filter(|id| *id != ROOT)
            .collect();
        for id in ids {
            self.nodes.remove(&id);
            self.removed.insert(id);
            self.dirty.remove(&id);
        }
        self.internal.clear();
        self.leaves.clear();
        if let Some(root) = self.nodes.get_mut(&ROOT) {
            root.children.clear();
            root.cursor = 0;
        }
        self.dirty.insert(ROOT);
    }

    /// The node changes since the last call, as records to put and node ids to delete.
    pub(crate) fn drain_changes(&mut self, queue: QueueId) -> (Vec<GroupRecord>, Vec<u32>) {
        let puts = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|id| {
                self.nodes.get(&id).map(|n| GroupRecord {
                    queue,
                    node: id,
                    parent: n.parent,
                    segment: n.segment.to_string(),
                    leaf: n.leaf,
                    cursor: n.cursor,
                })
            })
            .collect();
        let deletes = std::mem::take(&mut self.removed).into_iter().collect();
        (puts, deletes)
    }

    /// Feeds the tree's shape (not its messages) into a digest.
    pub(crate) fn digest(&self, h: &mut super::digest::Fnv) {
        let mut ids: Vec<&u32> = self.nodes.keys().collect();
        ids.sort();
        for id in ids {
            if let Some(n) = self.nodes.get(id) {
                h.u64(u64::from(*id));
                h.u64(u64::from(n.parent));
                h.str(&n.segment);
                h.u64(u64::from(n.leaf));
                h.u64(u64::from(n.cursor));
                for c in &n.children {
                    h.u64(u64::from(*c));
                }
                for (p, m) in &n.heap {
                    h.i64(p.0);
                    h.u64(m.0);
                }
            }
        }
        h.u64(u64::from(self.next_node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;
    impl Blocked for Never {
        fn blocked(&self, _: &Group) -> bool {
            false
        }
    }

    fn order(groups: &[(&str, &[u64])]) -> Vec<u64> {
        let mut t = RoundRobin::new(1);
        for (g, ids) in groups {
            for id in *ids {
                t.insert(&Group::new(g), (Priority(10), MessageId(*id)));
            }
        }
        std::iter::from_fn(|| t.select(&Never).map(|(_, (_, id))| id.0)).collect()
    }

    #[test]
    fn flat_groups_rotate_like_doq() {
        let got = order(&[
            ("customer-1", &[0, 1, 2, 3]),
            ("customer-2", &[4, 5]),
            ("customer-3", &[6]),
            ("customer-4", &[7]),
        ]);
        assert_eq!(got, vec![0, 4, 6, 7, 1, 5, 2, 3]);
    }

    #[test]
    fn hierarchical_groups_rotate_like_api_md() {
        let got = order(&[
            ("c1.p1.u1", &[1, 2]),
            ("c1.p1.u2", &[3]),
            ("c1.p2.u1", &[4, 5]),
            ("c1.p2.u2", &[6]),
            ("c1.p3.u1", &[7]),
            ("c1.p3.u2", &[8]),
            ("c2", &[9]),
            ("c3.p1", &[10, 11]),
            ("c3.p2", &[12]),
            ("c4.p1.u1", &[13]),
            ("c4.p1.u2", &[14]),
            ("c4.p2.u2", &[15]),
        ]);
        assert_eq!(got, vec![1, 9, 10, 13, 4, 12, 15, 7, 11, 14, 3, 6, 8, 2, 5]);
    }

    /// Walks are iterative: a path far deeper than the API allows (the group limit keeps real ones under
    /// 514 segments) is walked on a thread with a small stack. A recursive walk overflows it.
    #[test]
    fn deep_paths_do_not_recurse() {
        let deep = vec!["s"; 4000].join(".");
        let walked = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut t = RoundRobin::new(1);
                t.insert(&Group::new(&deep), (Priority(1), MessageId(7)));
                t.insert(&Group::new("shallow"), (Priority(1), MessageId(8)));
                let ready = t.has_deliverable(&Never);
                let got: Vec<u64> =
                    std::iter::from_fn(|| t.select(&Never).map(|(_, (_, id))| id.0)).collect();
                (ready, got, t.has_deliverable(&Never))
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(walked, (true, vec![7, 8], false));
    }

    #[test]
    fn blocked_subtrees_are_skipped_and_keep_their_messages() {
        struct Only(&'static str);
        impl Blocked for Only {
            fn blocked(&self, path: &Group) -> bool {
                path.as_str().starts_with(self.0)
            }
        }
        let mut t = RoundRobin::new(1);
        t.insert(&Group::new("a.x"), (Priority(1), MessageId(1)));
        t.insert(&Group::new("b.y"), (Priority(1), MessageId(2)));
        assert!(t.has_deliverable(&Only("a")));
        assert_eq!(t.select(&Only("a")).map(|(_, (_, id))| id.0), Some(2));
        assert!(!t.has_deliverable(&Only("a")));
        assert_eq!(t.select(&Only("a")), None);
        assert_eq!(t.select(&Never).map(|(_, (_, id))| id.0), Some(1));
    }

    #[test]
    fn prefix_group_is_an_implicit_leaf_not_stranded() {
        let got = order(&[("a", &[1, 2]), ("a.b", &[3])]);
        assert_eq!(got.len(), 3);
        assert_eq!(got, vec![1, 3, 2]);
    }

    #[test]
    fn records_round_trip_keeps_rotation() {
        let mut t = RoundRobin::new(1);
        for (g, id) in [("x", 1), ("y", 2), ("x", 3), ("z", 4)] {
            t.insert(&Group::new(g), (Priority(1), MessageId(id)));
        }
        assert_eq!(t.select(&Never).map(|(_, (_, id))| id.0), Some(1));
        let (puts, _) = t.drain_changes(QueueId(1));
        let mut copy = RoundRobin::from_records(t.next_node(), puts);
        for (g, id) in [("x", 3), ("y", 2), ("z", 4)] {
            copy.insert(&Group::new(g), (Priority(1), MessageId(id)));
        }
        let a: Vec<u64> =
            std::iter::from_fn(|| t.select(&Never).map(|(_, (_, id))| id.0)).collect();
        let b: Vec<u64> =
            std::iter::from_fn(|| copy.select(&Never).map(|(_, (_, id))| id.0)).collect();
        assert_eq!(a, b);
    }
}
