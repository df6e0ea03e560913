//! The `doq` binary: everything happens in `doq_server::cli::main`.
fn main() -> std::process::ExitCode {
    doq_server::cli::main()
}
