//! `doq-chaos`: the fault harness (see `doq_conformance::chaos`).
use std::process::ExitCode;

fn main() -> ExitCode {
    doq_conformance::chaos::cli::main()
}
