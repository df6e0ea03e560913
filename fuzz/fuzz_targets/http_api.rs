//! The HTTP API (router, path and query parameters, JSON bodies) on arbitrary requests, against a
//! fresh single node over a memory store per input (`doq_server::fuzzing::http`). No request may
//! panic, hang or get a 5xx: bad input is a 4xx (docs/http.md §2).
//!
//! An input is up to eight requests separated by a line `---`. Each request is a first line
//! `METHOD PATH`, then the body (everything after the first newline), sent as JSON. So the corpus
//! can be written by hand: `POST /API/v1/queues\n{"name":"q","type":"delayed","settings":{}}`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    doq_server::fuzzing::http(data);
});
