//! The `doq` binary under a name this package owns, so its e2e tests get its path from Cargo.
use std::process::ExitCode;

fn main() -> ExitCode {
    doq_server::cli::main()
}
