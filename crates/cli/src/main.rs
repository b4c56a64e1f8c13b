//! The `tusk` command: parses arguments, runs one command and turns its outcome into an exit
//! code (0 success, 1 error in the script, 2 usage or I/O error, 0 when stdout is closed early).
//!
//! Startup stays cheap on purpose (`tusk -e 1` is used in shell loops): nothing here touches the
//! terminal or the line editor unless the REPL is asked for.

mod cli;
mod commands;
mod interrupt;
mod output;

use std::process::ExitCode;

/// Loading a document allocates a key, a value and a syntax node every few bytes of input;
/// mimalloc does that markedly faster than the system allocator (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::cli::Cli;
use crate::commands::Status;

fn main() -> ExitCode {
    if let Some(help) = Cli::plugin_help_requested() {
        return match output::write_stdout(&help) {
            Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => ExitCode::from(Status::UsageOrIo.code()),
            _ => ExitCode::SUCCESS,
        };
    }
    let cli = match Cli::parse_args() {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` come here too, with exit code 0; usage errors get 2.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(Status::UsageOrIo.code()));
        }
    };
    match commands::dispatch(cli) {
        Ok(status) => ExitCode::from(status.code()),
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            output::write_stderr(&format!("Error: {error:#}\n"));
            ExitCode::from(Status::UsageOrIo.code())
        }
    }
}
