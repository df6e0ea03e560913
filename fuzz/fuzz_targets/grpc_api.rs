//! Both gRPC services (`queue.DOQ` and `doq.ext.v1.DOQExt`) on arbitrary protobuf messages, against
//! a fresh single node over a memory store per input (`doq_server::fuzzing::grpc`): up to eight calls,
//! each a selector byte, a u16 length and the message. No call may panic, hang or answer
//! `INTERNAL`/`UNKNOWN`/`DATA_LOSS`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    doq_server::fuzzing::grpc(data);
});
