//! The command line as clap sees it: the top-level invocation (`tusk FILE`, `tusk -e EXPR`,
//! `tusk`), one subcommand per file under `commands/`, and the options every subcommand shares.
//!
//! Options that change how scripts are evaluated (mode, limits, colour) are `global`, so they
//! work before or after a subcommand; later flags of that kind (`--sandbox`, `--allow-…`) belong
//! in [`GlobalArgs`]. Options that change what is printed live in [`OutputArgs`], flattened into
//! the subcommands that print documents.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// `tusk`: run, check and explore TuskLang files.
#[derive(Debug, Parser)]
#[command(
    name = "tusk",
    version,
    about = "Run, check and explore TuskLang configuration files and scripts",
    override_usage = "tusk [OPTIONS] [FILE]\n       tusk [OPTIONS] -e <EXPR>\n       tusk [OPTIONS] <COMMAND>",
    after_help = "With no FILE and no command, `tusk` starts the REPL when standard input is a terminal \
                  and runs standard input otherwise."
)]
pub struct Cli {
    /// What to do (`run` when only a FILE is given)
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The script to run, `-` for standard input (the same as `tusk run FILE`)
    #[arg(value_name = "FILE", value_parser = parse_input)]
    pub input: Option<Input>,

    /// Evaluate an expression and print its value (the same as `tusk eval EXPR`)
    #[arg(short = 'e', long = "eval", value_name = "EXPR", conflicts_with = "input")]
    pub expression: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// The subcommands. A new one (`tusk plugin …`) is a variant here and a file in `commands/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate a file and print the document (the default command)
    Run(RunArgs),
    /// Print one value of a document, found by its dotted path
    Get(GetArgs),
    /// Report errors and warnings without running operators that have side effects
    Check(CheckArgs),
    /// Evaluate an expression and print its value
    Eval(EvalArgs),
    /// Start the interactive prompt
    Repl,
}

/// `tusk run FILE`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The script, `-` for standard input
    #[arg(value_name = "FILE", value_parser = parse_input)]
    pub input: Input,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tusk get FILE PATH`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The script, `-` for standard input
    #[arg(value_name = "FILE", value_parser = parse_input)]
    pub input: Input,

    /// Dotted path of the value: `server.port`, `routes.0.path`
    #[arg(value_name = "PATH")]
    pub path: String,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tusk check FILE...`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scripts to check, `-` for standard input
    #[arg(value_name = "FILE", required = true, value_parser = parse_input)]
    pub inputs: Vec<Input>,
}

/// `tusk eval EXPR`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The expression: `1 + 2`, `map(range(3), x => x * x)`
    #[arg(value_name = "EXPR", allow_hyphen_values = true)]
    pub expression: String,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How values are written to standard output.
#[derive(Clone, Debug, Default, Args)]
pub struct OutputArgs {
    /// Output format (default json; `get` and `eval` print a lone string raw unless a format
    /// is given)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// JSON on one line instead of indented
    #[arg(long)]
    pub compact: bool,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Pretty JSON (one line with --compact)
    Json,
    /// Block-style YAML
    Yaml,
    /// TOML (the document must be a table without nulls)
    Toml,
    /// One `dotted.key = json` line per value
    Flat,
}

/// Options that apply to every subcommand.
#[derive(Clone, Debug, Default, Args)]
pub struct GlobalArgs {
    /// Colour diagnostics: auto means when standard error is a terminal and NO_COLOR is unset
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// A bare word that names nothing is an error instead of a string
    #[arg(long, global = true, conflicts_with = "compat")]
    pub strict: bool,

    /// Read files the way the reference SDKs do: unparsable values and unknown operators become
    /// their raw text, errors become warnings
    #[arg(long, global = true)]
    pub compat: bool,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Evaluation limits; unset ones keep the engine's defaults.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// How deeply lambdas may call each other
    #[arg(long, value_name = "N", global = true)]
    pub max_call_depth: Option<usize>,

    /// How many lambda calls and builtin iterations a run may perform
    #[arg(long, value_name = "N", global = true)]
    pub max_operations: Option<u64>,

    /// How deeply the source may nest brackets, blocks and operators
    #[arg(long, value_name = "N", global = true)]
    pub max_depth: Option<usize>,
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    // No doc comments on the variants: clap would turn them into a long list that repeats
    // the option's own help.
    #[default]
    Auto,
    Always,
    Never,
}

/// Where a script comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `-`
    Stdin,
    /// A file.
    Path(PathBuf),
}

impl Cli {
    /// Parses the process arguments. Usage errors carry exit code 2, `--help` and `--version`
    /// exit code 0.
    pub fn parse_args() -> Result<Cli, clap::Error> {
        let cli = Cli::try_parse()?;
        cli.reject_top_level_arguments_with_subcommand()?;
        Ok(cli)
    }

    /// `tusk FILE`, `-e`, `--format` and `--compact` before a subcommand would be silently
    /// ignored. clap's `args_conflicts_with_subcommands` would reject them, but it rejects the
    /// global options (`tusk --strict check f.tsk`) too, so the conflict is checked here.
    fn reject_top_level_arguments_with_subcommand(&self) -> Result<(), clap::Error> {
        let Some(command) = &self.command else { return Ok(()) };
        let given = [
            (self.input.is_some(), "FILE"),
            (self.expression.is_some(), "--eval"),
            (self.output.format.is_some(), "--format"),
            (self.output.compact, "--compact"),
        ];
        let Some((_, argument)) = given.iter().find(|(present, _)| *present) else { return Ok(()) };
        let subcommand = match command {
            Command::Run(_) => "run",
            Command::Get(_) => "get",
            Command::Check(_) => "check",
            Command::Eval(_) => "eval",
            Command::Repl => "repl",
        };
        let message = format!("`{argument}` cannot be used before the subcommand `{subcommand}`");
        Err(<Cli as CommandFactory>::command().error(ErrorKind::ArgumentConflict, message))
    }
}

fn parse_input(argument: &str) -> Result<Input, String> {
    Ok(if argument == "-" { Input::Stdin } else { Input::Path(PathBuf::from(argument)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
