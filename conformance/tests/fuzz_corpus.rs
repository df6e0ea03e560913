//! The committed fuzz corpus (`fuzz/corpus`, docs/conformance.md §13.2) replayed through the entry
//! points the cargo-fuzz targets drive (every target: the backup reader, the node-to-node codec and
//! RPC payloads, the HTTP API, both gRPC services and the configuration loader), plus a bounded,
//! seeded pass of byte mutations of every input.
//! A cold cargo-fuzz build does not fit CI's budget, so this is the bounded pass every push gets: a
//! decoder that panics on any of these inputs fails the test, and the failing input is printed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test: a failure here is a test failure"
)]
use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use doq_storage::backup::Reader;

/// Mutated variants per corpus input.
const VARIANTS: u64 = 48;
/// Items read from one backup at most, so a decoder bug cannot hang the test.
const MAX_ITEMS: usize = 1 << 16;

/// The inputs of one target's corpus, in name order (so a seed names the same inputs on every run).
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "the corpus of {target} is empty: {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
}

/// One to four edits of `input`: overwrite, insert or delete a byte, truncate, or repeat a slice.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if at < out.len() => out[at] = rng.next().to_le_bytes()[0],
            1 => out.insert(at, rng.next().to_le_bytes()[0]),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => out.truncate(at),
            _ => {
                let end = (at + rng.below(16)).min(out.len());
                let slice = out[at..end].to_vec();
                out.splice(at..at, slice);
            }
        }
    }
    out
}

/// Runs `check` on every corpus input of `target` and on `VARIANTS` mutations of each.
fn replay(target: &str, check: impl Fn(&[u8])) {
    let mut failures = Vec::new();
    for (path, input) in corpus(target) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ input.len() as u64);
        let mut run = |bytes: &[u8], what: String| {
            if catch_unwind(AssertUnwindSafe(|| check(bytes))).is_err() {
                failures.push(format!("{what}: {bytes:02x?}"));
            }
        };
        run(&input, path.display().to_string());
        for variant in 0..VARIANTS {
            let bytes = mutate(&input, &mut rng);
            run(&bytes, format!("{} variant {variant}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} inputs panicked in {target}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_node_to_node_codec_never_panics_on_the_corpus_and_its_mutations() {
    replay("raft_codec", |bytes| {
        doq_consensus::fuzzing::log_entry(bytes);
        doq_consensus::fuzzing::forwarded_command(bytes);
        doq_consensus::fuzzing::forwarded_outcome(bytes);
    });
}

#[test]
fn the_cluster_rpc_payloads_never_panic_on_the_corpus_and_its_mutations() {
    replay("cluster_rpc", |bytes| {
        doq_consensus::fuzzing::stored_entry(bytes);
        doq_consensus::fuzzing::cluster_rpc(bytes);
    });
}

#[test]
fn the_grpc_services_never_panic_or_fail_internally_on_the_corpus_and_its_mutations() {
    replay("grpc_api", doq_server::fuzzing::grpc);
}

#[test]
fn the_http_api_never_panics_or_answers_5xx_on_the_corpus_and_its_mutations() {
    replay("http_api", doq_server::fuzzing::http);
}

#[test]
fn the_configuration_loader_never_panics_on_the_corpus_and_its_mutations() {
    replay("config", doq_server::fuzzing::config);
}

#[test]
fn the_backup_reader_never_panics_on_the_corpus_and_its_mutations() {
    replay("backup_reader", |bytes| {
        let Ok(mut reader) = Reader::open(bytes) else {
            return;
        };
        let _ = reader.header();
        for _ in 0..MAX_ITEMS {
            match reader.next_item() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    });
}
