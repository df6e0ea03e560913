//! The configuration loader on arbitrary bytes (`doq_server::fuzzing::config`): the first byte picks
//! a TOML file, a YAML file, command-line flags or environment variables, the rest is their text.
//! Loading answers a configuration that validates, or an error; it never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    doq_server::fuzzing::config(data);
});
