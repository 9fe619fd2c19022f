//! The `tap-bitbucket` binary: parse the command line, run, and turn any failure into one
//! readable line on stderr and an exit code. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    tap_bitbucket::main_with_args(std::env::args_os())
}
