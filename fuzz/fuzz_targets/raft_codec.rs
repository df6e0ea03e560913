//! The node-to-node codec (`doq-consensus/src/raft/codec.rs`): log entries, forwarded commands
//! and forwarded outcomes on arbitrary bytes. Decoding must answer an error, never panic, and
//! whatever decodes must encode back to something that decodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    doq_consensus::fuzzing::log_entry(data);
    doq_consensus::fuzzing::forwarded_command(data);
    doq_consensus::fuzzing::forwarded_outcome(data);
});
