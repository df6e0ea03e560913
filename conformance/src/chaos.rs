//! `doq-chaos`: a Jepsen-style fault harness. It runs a 3- or 5-node doq Raft cluster of real `doq`
//! processes, each in its own network namespace (a host with its own address), drives bounded
//! concurrent clients through every node while a nemesis partitions, pauses and kills nodes, jumps
//! clocks, slows and fills disks and garbles a data directory, records the history, heals, drains,
//! and checks the history against the contract.
//!
//! Start at [`run`] (the two processes of a run), then [`checker`] (what is checked).
//! [`history`] is the recorded format, [`workload`] the clients, [`nemesis`] the faults,
//! [`net`] the namespaces, [`disk`] the disk faults, [`cluster`] and [`node`] the `doq` processes, [`report`] the table, and
//! [`cli`] the command line.
pub mod checker;
pub mod cli;
pub mod cluster;
pub mod disk;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod node;
pub mod report;
pub mod run;
pub mod workload;
