//! The payloads of the node-to-node RPCs (cluster.proto) on arbitrary bytes
//! (`doq_consensus::fuzzing`): AppendEntries, InstallSnapshot, a stored log entry, Vote and
//! ChangeMembership. Decoding must answer an error, never panic; whatever decodes must survive an
//! encode/decode round trip. (Forwarded commands and outcomes are `raft_codec`'s.)
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    doq_consensus::fuzzing::stored_entry(data);
    doq_consensus::fuzzing::cluster_rpc(data);
});
