//! `tusk completions SHELL` and `tusk man [COMMAND]`: generated from the clap definition, so
//! they always list the commands and options this binary has.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::commands::Status;
use crate::output;

/// The command line with the plugin options shown: `--help` hides them (`tusk help plugins`
/// lists them), but completions and the man page should know every option.
fn full_command() -> clap::Command {
    let mut command = Cli::command().mut_args(|arg| arg.hide(false));
    command.build();
    command
}

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Status> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut full_command(), "tusk", &mut script);
    output::write_stdout(&String::from_utf8(script)?)?;
    Ok(Status::Success)
}

/// Prints the man page of `tusk`, or of one of its subcommands (`tusk-set(1)`).
pub fn man(subcommand: Option<&str>) -> anyhow::Result<Status> {
    let command = full_command();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(found) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|sub| sub.get_name()).collect();
                output::write_stderr(&format!(
                    "Error: `{name}` is not a tusk command (the commands: {})\n",
                    names.join(", ")
                ));
                return Ok(Status::UsageOrIo);
            };
            let version = command.get_version().unwrap_or_default().to_string();
            found.clone().name(format!("tusk-{name}")).version(version)
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    output::write_stdout(&String::from_utf8(roff)?)?;
    Ok(Status::Success)
}
