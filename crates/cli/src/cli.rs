//! The command line as clap sees it: the top-level invocation (`tusk FILE`, `tusk -e EXPR`,
//! `tusk`), one subcommand per file under `commands/`, and the options every subcommand shares.
//!
//! Options that change how scripts are evaluated (mode, limits, colour, plugin permissions) are
//! `global`, so they work before or after a subcommand; they live in [`GlobalArgs`]. Options that
//! change what is printed live in [`OutputArgs`], flattened into the subcommands that print
//! documents.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use tusk_plugin_catalog::GrantSet;

/// `tusk`: run, check and explore TuskLang files.
#[derive(Debug, Parser)]
#[command(
    name = "tusk",
    version,
    about = "Run, check and explore TuskLang configuration files and scripts",
    override_usage = "tusk [OPTIONS] [FILE]\n       tusk [OPTIONS] -e <EXPR>\n       tusk [OPTIONS] <COMMAND>",
    after_help = "With no FILE and no command, `tusk` starts the REPL when standard input is a terminal \
                  and runs standard input otherwise.\n\n\
                  Plugins are found on TUSK_PLUGIN_PATH, in the script's plugins/ folder, in the user's data \
                  folder (tusk plugin install puts them there) and in plugins/ next to the executable; \
                  `tusk plugin list` shows them, and `tusk help plugins` lists the options that grant them \
                  permissions and set their sandbox."
)]
pub struct Cli {
    /// What to do (`run` when only a FILE is given)
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The script to run, `-` for standard input (the same as `tusk run FILE`)
    #[arg(value_name = "FILE", value_parser = parse_input)]
    pub input: Option<Input>,

    /// Evaluate an expression and print its value (the same as `tusk eval EXPR`)
    #[arg(short = 'e', long = "eval", value_name = "EXPR", conflicts_with = "input", allow_hyphen_values = true)]
    pub expression: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// The subcommands. A new one is a variant here and a file in `commands/`.
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
    /// Change or add one value in a file, keeping its comments, layout and style
    #[command(after_help = "VALUE is a TuskLang expression: 8080, true, \"text\" (quoted for the shell: '\"text\"'), \
                            [1, 2], @env(\"PORT\", 80); --string takes it as text. A missing key is added next to its \
                            siblings: in its section, block or object, or as a new [section] in a file of sections. \
                            The file is replaced atomically.")]
    Set(SetArgs),
    /// Format files in place: whitespace only, keeping comments, line breaks, the order of
    /// everything and the file's style
    #[command(after_help = "Trailing whitespace goes, runs of blank lines become one, the file ends with one line \
                            break, on a line `key: value`, `key = value`, `a, b` and `a + b` are spaced, and the \
                            lines of `{ }`, `[ ]` and `name > <` bodies are indented one step (the file's own) \
                            deeper than the line that opens them, indented blocks inside them kept as they are \
                            relative to their key. The result is checked to have the same tokens and tree. \
                            Files are replaced atomically, and only when they change.")]
    Fmt(FmtArgs),
    /// Convert JSON, YAML or TOML into TuskLang (or into another of those formats)
    #[command(after_help = "The input format comes from --from or the file's extension (.json, .yaml, .yml, \
                            .toml). The output is TuskLang unless --format says otherwise; evaluating it gives \
                            the same document, so `tusk out.tsk --format yaml` goes back.")]
    Convert(ConvertArgs),
    /// Serve TuskLang API files (`#!api`) over HTTP: each request runs the file its path names,
    /// with `@request` bound, and its last bare expression is the response
    #[command(after_help = "DIR maps /a/b to DIR/a/b.tsk (or DIR/a/b/index.tsk) and / to DIR/index.tsk; only files \
                            whose first line is #!api are served. A FILE answers every path. Files are compiled once \
                            and again when they change. @request has method, path, url, query, headers, cookies, \
                            body (JSON and forms parsed), text, ip, user_agent and timestamp. A string answer that \
                            holds JSON (what @json({...}) makes) is sent as application/json. Needs the http plugin; \
                            --compat reads files written for the reference SDKs. Ctrl-C stops.")]
    Serve(ServeArgs),
    /// Run the language server on standard input and output (diagnostics, hover, completion,
    /// go to definition), for editors
    Lsp,
    /// Print a shell completion script
    #[command(after_help = "bash: tusk completions bash > ~/.local/share/bash-completion/completions/tusk\n\
                            zsh:  tusk completions zsh > ~/.zfunc/_tusk (with ~/.zfunc in fpath)\n\
                            fish: tusk completions fish > ~/.config/fish/completions/tusk.fish")]
    Completions(CompletionsArgs),
    /// Print the man page (roff): `tusk man | man -l -`, or `tusk man set` for one command's
    Man(ManArgs),
    /// List, inspect, check, create, install, remove and document plugins; pack, publish,
    /// search and update them in registries
    #[command(
        subcommand,
        after_help = "A plugin in three commands: `tusk plugin new greeter`, `tusk plugin install ./greeter`, \
                      `tusk -e '@greeter(\"you\")'`.\n\
                      NAME or PATH (info, check, docs): an argument with a `/` in it, or `.` or `..`, is the path of \
                      a plugin folder or crate; anything else is the name of an installed plugin (write `./greeter` \
                      for the folder greeter here). install takes a path or a registry plugin's NAME[@REQ], remove a name.\n\
                      check and docs start the plugin in its sandbox even when it is trusted: check with your grants \
                      (no more), docs with nothing granted.\n\
                      `tusk plugin new` takes tusk-plugin-sdk from TUSK_SDK_PATH (the SDK crate's folder), else from \
                      the source tree this tusk was built from; without either it writes placeholders to edit."
    )]
    Plugin(PluginCommand),
}

/// `tusk plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins tusk finds: version, folder, mode, operators, functions, permissions,
    /// shadowed copies and manifest problems
    List,
    /// Everything about one plugin: manifest, permissions and whether they are granted,
    /// dependencies, the info record of its library (read without loading it) and, for a
    /// sandboxed plugin, the sandbox layers in force (it is started in its sandbox to see them)
    Info(PluginArgs),
    /// Validate a plugin: manifest, library, loading (sandboxed, with your grants only),
    /// registrations, examples (exit 1 on any failure; a crate is built with `cargo build` first)
    Check(PluginCheckArgs),
    /// Create a plugin crate with one operator, one function, a manifest, a README and a test
    New(PluginNewArgs),
    /// Install plugins: from a registry (NAME[@REQ]), from a lockfile (no argument), or built
    /// from source (PATH, --path, --git, --crate)
    #[command(after_help = "PATH (an argument with a `/`, or `.`): the plugin crate or folder is built and installed \
                            for the current user in $XDG_DATA_HOME/tusk/plugins/NAME (~/.local/share/tusk/plugins/NAME), \
                            which every script searches.\n\
                            NAME[@REQ], --path, --git, --crate and no argument install into the project: \
                            ./plugins, recorded in ./tusk.lock (--project DIR for another folder; --user for the \
                            user's plugin folder, recorded in tusk.lock beside it). With no argument, exactly the \
                            locked set is installed. Registry packages must be signed by a key in `trusted_keys` \
                            under [registry] in ~/.config/tusk/config.toml unless --allow-unsigned is given.")]
    Install(PluginInstallArgs),
    /// Build a plugin and pack it as NAME-VERSION-TARGET.tskpkg, optionally signed
    Pack(PluginPackArgs),
    /// Make a signing key pair for `tusk plugin pack --sign`
    Keygen(PluginKeygenArgs),
    /// Add a package to a folder registry
    Publish(PluginPublishArgs),
    /// Mark a published version as yanked in a folder registry (new installs skip it;
    /// lockfiles that name it still install it), or clear the mark with --undo
    Yank(PluginYankArgs),
    /// Search the registries' plugins by name and description
    Search(PluginSearchArgs),
    /// List locked plugins that have newer versions in their registry
    Outdated(PluginScopeArgs),
    /// Update locked plugins to the newest versions their requirements allow
    Update(PluginUpdateArgs),
    /// Remove a plugin installed with `tusk plugin install`
    Remove(PluginNameArgs),
    /// Print a plugin's documentation as Markdown (starts it in its sandbox, with nothing
    /// granted, to read its symbol docs)
    Docs(PluginArgs),
}

/// `tusk plugin remove NAME`.
#[derive(Debug, Args)]
pub struct PluginNameArgs {
    /// The plugin's name, as in its plugin.toml
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `tusk plugin info|docs NAME|PATH`.
#[derive(Debug, Args)]
pub struct PluginArgs {
    /// An installed plugin's name, or (with a `/`, or `.`) the path of a plugin folder
    /// (plugin.toml and library) or crate (Cargo.toml and plugin.toml)
    #[arg(value_name = "NAME|PATH")]
    pub plugin: String,
}

/// `tusk plugin check [--write-capabilities] NAME|PATH`.
#[derive(Debug, Args)]
pub struct PluginCheckArgs {
    /// An installed plugin's name, or (with a `/`, or `.`) the path of a plugin folder
    /// (plugin.toml and library) or crate (Cargo.toml and plugin.toml)
    #[arg(value_name = "NAME|PATH")]
    pub plugin: String,

    /// Rewrite `[capabilities]` in plugin.toml from what the plugin registers (the
    /// registrations are the truth; the lists are their index)
    #[arg(long)]
    pub write_capabilities: bool,
}

/// `tusk plugin new NAME [PATH]`.
#[derive(Debug, Args)]
pub struct PluginNewArgs {
    /// The plugin's name: lowercase letters, digits and `_`, starting with a letter
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Where to create the crate (default: ./NAME)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// `tusk plugin install [NAME[@REQ]|PATH]`.
#[derive(Debug, Args)]
pub struct PluginInstallArgs {
    /// A plugin in a registry, with an optional semver requirement (`greeter@^1.2`), or (with a
    /// `/`, or `.`, or naming a folder here with a plugin.toml) a plugin crate (built with
    /// `cargo build --release`) or a built plugin folder
    #[arg(value_name = "NAME[@REQ]|PATH")]
    pub target: Option<String>,

    /// Build the plugin crate in DIR and install it into the project (recorded in tusk.lock)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["target", "git", "crate_name"])]
    pub path: Option<PathBuf>,

    /// Clone the git repository at URL, build the plugin crate at its root and install it
    #[arg(long, value_name = "URL", conflicts_with_all = ["target", "crate_name"])]
    pub git: Option<String>,

    /// The revision (commit, tag or branch) of --git to build (default: its default branch)
    #[arg(long, value_name = "REV", requires = "git")]
    pub rev: Option<String>,

    /// Download the plugin crate NAME (at version VER) from cargo's registry, build and install it
    #[arg(long = "crate", value_name = "NAME[@VER]", conflicts_with = "target")]
    pub crate_name: Option<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Install even if a plugin of that name is installed from elsewhere, or another plugin
    /// provides one of its operators or functions
    #[arg(long)]
    pub force: bool,

    /// Build with the debug profile instead of release (faster to build, slower to run)
    #[arg(long)]
    pub debug: bool,
}

/// Where registry installs go and which registry they use (`tusk plugin install`, `update`,
/// `outdated`).
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The registry: a name under [registries] in ~/.config/tusk/config.toml, a folder, or a
    /// URL (default: [registry] default, or the only one configured)
    #[arg(long, value_name = "NAME|DIR|URL")]
    pub registry: Option<String>,

    /// Install packages that are not signed, or signed by a key that is not trusted (a
    /// signature that does not verify is refused all the same)
    #[arg(long)]
    pub allow_unsigned: bool,

    #[command(flatten)]
    pub scope: PluginScopeArgs,
}

/// Which plugin folder and lockfile a registry command works on.
#[derive(Debug, Args)]
pub struct PluginScopeArgs {
    /// The project folder: plugins go into DIR/plugins, recorded in DIR/tusk.lock (default: the
    /// current folder)
    #[arg(long, value_name = "DIR", conflicts_with = "user")]
    pub project: Option<PathBuf>,

    /// The user's plugin folder (~/.local/share/tusk/plugins), recorded in tusk.lock beside it
    #[arg(long)]
    pub user: bool,
}

/// `tusk plugin pack [PATH]`.
#[derive(Debug, Args)]
pub struct PluginPackArgs {
    /// A plugin crate (built with `cargo build --release`) or a built plugin folder
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// Where to write the package (default: the current folder)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Sign the package with this secret key (from `tusk plugin keygen`): writes PACKAGE.minisig
    #[arg(long, value_name = "KEYFILE")]
    pub sign: Option<PathBuf>,

    /// Build with the debug profile instead of release
    #[arg(long)]
    pub debug: bool,
}

/// `tusk plugin keygen`.
#[derive(Debug, Args)]
pub struct PluginKeygenArgs {
    /// Where to write signing.key and signing.pub (default: ~/.config/tusk)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `tusk plugin publish ARCHIVE --registry DIR`.
#[derive(Debug, Args)]
pub struct PluginPublishArgs {
    /// The package (`tusk plugin pack` makes it); ARCHIVE.minisig beside it is its signature
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,

    /// The folder registry: a folder, or a configured registry whose url is a folder (serve
    /// that folder with any file server to make it an HTTP registry)
    #[arg(long, value_name = "NAME|DIR")]
    pub registry: Option<String>,
}

/// `tusk plugin yank NAME@VERSION`.
#[derive(Debug, Args)]
pub struct PluginYankArgs {
    /// The plugin and the exact version to yank
    #[arg(value_name = "NAME@VERSION")]
    pub spec: String,

    /// The folder registry: a folder, or a configured registry whose url is a folder
    #[arg(long, value_name = "NAME|DIR")]
    pub registry: Option<String>,

    /// Clear the mark: the version can be chosen again
    #[arg(long)]
    pub undo: bool,
}

/// `tusk plugin search WORDS…`.
#[derive(Debug, Args)]
pub struct PluginSearchArgs {
    /// Words that must all appear in a plugin's name or description
    #[arg(value_name = "WORDS", required = true)]
    pub words: Vec<String>,

    /// Search only this registry (default: every configured one)
    #[arg(long, value_name = "NAME|DIR|URL")]
    pub registry: Option<String>,
}

/// `tusk plugin update [NAME…]`.
#[derive(Debug, Args)]
pub struct PluginUpdateArgs {
    /// The plugins to update (default: every locked plugin)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Install packages that are not signed, or signed by a key that is not trusted
    #[arg(long)]
    pub allow_unsigned: bool,

    /// Only when `auto_update = true` under [registry] and the last check is older than
    /// `auto_update_interval_hours`; never installs an unsigned package (for a timer or a shell
    /// profile)
    #[arg(long, conflicts_with = "allow_unsigned")]
    pub if_due: bool,

    #[command(flatten)]
    pub scope: PluginScopeArgs,
}

/// `tusk run FILE`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The script, `-` for standard input
    #[arg(value_name = "FILE", value_parser = parse_input)]
    pub input: Input,

    /// Run again whenever the script or a plugin library changes (changed plugins are reloaded
    /// in place; Ctrl-C stops)
    #[arg(long)]
    pub watch: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tusk serve FILE|DIR`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// An API file, or a folder of them
    #[arg(value_name = "FILE|DIR")]
    pub path: PathBuf,

    /// The port to listen on (0 picks a free one; the URL is printed on standard error)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// The address to listen on; other than loopback ones need --allow-net for them
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

/// `tusk get FILE PATH`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The script, `-` for standard input
    #[arg(value_name = "FILE", value_parser = parse_input)]
    pub input: Input,

    /// Where the value is: `server.port`, `routes[0].path`, `hosts[-1]`, `a."key.with.dots"`,
    /// `ports.min` (the syntax the flat format prints)
    #[arg(value_name = "PATH", allow_hyphen_values = true)]
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

    /// How diagnostics are printed: text (rendered snippets on standard error) or json (one
    /// JSON object per diagnostic and line on standard output, with file, line, column, byte
    /// range, code, message, labels, notes and help)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

/// `tusk check --format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    #[default]
    Text,
    Json,
}

/// `tusk set FILE PATH VALUE`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The file to change
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where the value goes: `server.port`, `hosts[0]`, `a."key.with.dots"`
    #[arg(value_name = "PATH", allow_hyphen_values = true)]
    pub path: String,

    /// The new value: a TuskLang expression (or text with --string)
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    pub value: String,

    /// Take VALUE as text and write it as a quoted string
    #[arg(short, long)]
    pub string: bool,
}

/// `tusk convert FILE`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The data file, `-` for standard input (then --from is needed)
    #[arg(value_name = "FILE", value_parser = parse_input)]
    pub input: Input,

    /// The input format (default: from the file's extension)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub from: Option<DataFormat>,

    /// Output format (default tusk)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// JSON on one line instead of indented
    #[arg(long)]
    pub compact: bool,
}

/// What `tusk convert` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    /// JSON
    Json,
    /// YAML 1.2 (one document; anchors and aliases resolved)
    Yaml,
    /// TOML (dates and times become strings)
    Toml,
}

/// `tusk completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `tusk man [COMMAND]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand (`set`, `plugin`, ...): its own page, tusk-COMMAND(1)
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `tusk fmt [--check] FILE...`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The files to format
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Change nothing; list the files that are not formatted and exit with 1 if there are any
    #[arg(long)]
    pub check: bool,
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
    /// One `path = json` line per value, in the path syntax of `tusk get`
    Flat,
    /// TuskLang source that evaluates to the same document
    Tusk,
}

/// Options that apply to every subcommand.
#[derive(Clone, Debug, Default, Args)]
pub struct GlobalArgs {
    /// Colour diagnostics: auto means when standard error is a terminal, unless NO_COLOR is set,
    /// CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 colours even into a pipe)
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// A bare word that names nothing, or a key defined twice, is an error instead of a warning
    #[arg(long, global = true, conflicts_with = "compat")]
    pub strict: bool,

    /// Read files the way the reference SDKs do: unparsable values and unknown operators become
    /// their raw text, errors become warnings
    #[arg(long, global = true)]
    pub compat: bool,

    /// Do not print warnings (nor `check`'s summary)
    #[arg(short, long, global = true, conflicts_with = "deny_warnings")]
    pub quiet: bool,

    /// Treat warnings as errors: print them as errors and exit with 1 (run, get, check, eval)
    #[arg(long, global = true)]
    pub deny_warnings: bool,

    /// Set the global variable `$NAME` to the string VALUE in the script (repeatable)
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "VALUE"], action = ArgAction::Append,
          allow_hyphen_values = true, global = true)]
    pub string_args: Vec<String>,

    /// Set the global variable `$NAME` to a JSON value in the script (repeatable):
    /// `--argjson ports '[80, 443]'`
    #[arg(long = "argjson", num_args = 2, value_names = ["NAME", "JSON"], action = ArgAction::Append,
          allow_hyphen_values = true, global = true)]
    pub json_args: Vec<String>,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub permissions: PermissionArgs,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Where plugins run: sandboxed (a locked-down runner process) unless the user trusts them.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Plugin sandbox")]
pub struct SandboxArgs {
    // Hidden from every command's help (they are many and rarely needed there); `tusk help
    // plugins` lists them.
    /// Run this plugin sandboxed even if the grants file trusts it (repeatable)
    #[arg(long = "sandbox", value_name = "NAME", action = ArgAction::Append, global = true, hide = true)]
    pub sandbox: Vec<String>,

    /// Run every plugin sandboxed
    #[arg(long, global = true, hide = true)]
    pub sandbox_all: bool,

    /// Stop a sandboxed plugin call after this many seconds (default 10)
    #[arg(long, value_name = "SECONDS", global = true, hide = true, value_parser = positive_seconds)]
    pub plugin_timeout: Option<f64>,

    /// Memory limit of a sandboxed plugin, in MiB (default 1024; 0 for none)
    #[arg(long, value_name = "MIB", global = true, hide = true)]
    pub plugin_memory: Option<u64>,

    /// CPU time limit of a sandboxed plugin's runner, in seconds (default none)
    #[arg(long, value_name = "SECONDS", global = true, hide = true)]
    pub plugin_cpu: Option<u64>,
}

impl SandboxArgs {
    /// Puts the flags into the plugin host's settings.
    pub fn apply(&self, settings: &mut tusk::plugins::HostSettings) {
        let sandbox = &mut settings.sandbox;
        sandbox.plugins.extend(self.sandbox.iter().cloned());
        sandbox.all |= self.sandbox_all;
        if let Some(seconds) = self.plugin_timeout {
            sandbox.call_timeout = std::time::Duration::from_secs_f64(seconds);
        }
        if let Some(mib) = self.plugin_memory {
            sandbox.memory_limit = (mib > 0).then_some(mib << 20);
        }
        if let Some(seconds) = self.plugin_cpu {
            sandbox.cpu_limit = (seconds > 0).then_some(seconds);
        }
    }
}

fn positive_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() && seconds < 1e9 => Ok(seconds),
        _ => Err(format!("`{value}` is not a positive number of seconds")),
    }
}

/// What plugins may do: flags grant to every plugin, the grants file per plugin. A plugin gets
/// what is granted and also declared in its plugin.toml: a grant it did not declare does not
/// apply to it.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Plugin permissions (each plugin gets only what its plugin.toml also declares)")]
pub struct PermissionArgs {
    /// Let plugins read these paths (comma-separated, absolute or starting with ${script_dir}
    /// or ${home}); every path without a list
    #[arg(long, value_name = "PATHS", num_args = 0..=1, require_equals = true, default_missing_value = "",
          action = ArgAction::Append, global = true, hide = true, value_parser = allow_read)]
    pub allow_read: Vec<String>,

    /// Let plugins create, change and delete these paths; every path without a list
    #[arg(long, value_name = "PATHS", num_args = 0..=1, require_equals = true, default_missing_value = "",
          action = ArgAction::Append, global = true, hide = true, value_parser = allow_write)]
    pub allow_write: Vec<String>,

    /// Let plugins connect to these hosts (`host` or `host:port`); every host without a list
    #[arg(long, value_name = "HOSTS", num_args = 0..=1, require_equals = true, default_missing_value = "",
          action = ArgAction::Append, global = true, hide = true, value_parser = allow_net)]
    pub allow_net: Vec<String>,

    /// Let plugins read these environment variables (`*` wildcards); every variable without a list
    #[arg(long, value_name = "NAMES", num_args = 0..=1, require_equals = true, default_missing_value = "",
          action = ArgAction::Append, global = true, hide = true, value_parser = allow_env)]
    pub allow_env: Vec<String>,

    /// Let plugins use databases
    #[arg(long, global = true, hide = true)]
    pub allow_db: bool,

    /// Grant everything above to every plugin
    #[arg(long, global = true, hide = true)]
    pub allow_all: bool,

    /// Per-plugin grants (default: ~/.config/tusk/grants.toml, under $XDG_CONFIG_HOME if set)
    #[arg(long, value_name = "FILE", global = true, hide = true)]
    pub grants: Option<PathBuf>,
}

impl PermissionArgs {
    /// The flags as the plugin host reads them (`--allow-read=/a,/b`, `--allow-db`).
    pub fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        for (name, values) in [
            ("--allow-read", &self.allow_read),
            ("--allow-write", &self.allow_write),
            ("--allow-net", &self.allow_net),
            ("--allow-env", &self.allow_env),
        ] {
            for value in values {
                flags.push(flag_text(name, value));
            }
        }
        if self.allow_db {
            flags.push("--allow-db".to_string());
        }
        if self.allow_all {
            flags.push("--allow-all".to_string());
        }
        flags
    }

    /// The grants of the flags (validated while parsing, so this cannot fail in practice).
    pub fn grant_set(&self) -> Result<GrantSet, String> {
        GrantSet::from_flags(self.flags().iter().map(String::as_str)).map_err(|error| error.to_string())
    }
}

fn flag_text(name: &str, value: &str) -> String {
    if value.is_empty() { name.to_string() } else { format!("{name}={value}") }
}

/// Checks one permission flag's value the way the plugin host will read it, so that a bad
/// value is a usage error (exit 2) before anything runs.
fn permission_value(name: &str, value: &str) -> Result<String, String> {
    GrantSet::default().apply_flag(&flag_text(name, value)).map_err(|error| error.to_string())?;
    Ok(value.to_string())
}

fn allow_read(value: &str) -> Result<String, String> {
    permission_value("--allow-read", value)
}

fn allow_write(value: &str) -> Result<String, String> {
    permission_value("--allow-write", value)
}

fn allow_net(value: &str) -> Result<String, String> {
    permission_value("--allow-net", value)
}

fn allow_env(value: &str) -> Result<String, String> {
    permission_value("--allow-env", value)
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
    /// `tusk help plugins`: the text to print, when that is what the arguments ask for.
    pub fn plugin_help_requested() -> Option<String> {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        (args.len() == 2 && args[0] == "help" && args[1] == "plugins").then(plugin_help)
    }

    /// Parses the process arguments. Usage errors carry exit code 2, `--help` and `--version`
    /// exit code 0.
    pub fn parse_args() -> Result<Cli, clap::Error> {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        if let Some(cli) = Cli::parse_eval_only(&args) {
            return Ok(cli);
        }
        reject_mistyped_command(&args)?;
        let cli = Cli::try_parse_from(args)?;
        cli.reject_top_level_arguments_with_subcommand()?;
        Ok(cli)
    }

    /// `tusk -e EXPR` (or `--eval EXPR`) and nothing else, the form shell loops use: parsed
    /// without building the subcommands. clap builds the whole command tree and copies every
    /// global option into each subcommand before it parses (and `reject_mistyped_command`
    /// builds the tree once more), which was about half of the instructions `tusk -e 1` runs
    /// itself. The options' values are clap's own defaults, read from a command of the options
    /// alone; `None` (the full parse) for anything else, or an EXPR that is not UTF-8 or
    /// starts with `-` (left to clap's rules about hyphens).
    fn parse_eval_only(args: &[std::ffi::OsString]) -> Option<Cli> {
        use clap::FromArgMatches;
        let [_, flag, expression] = args else { return None };
        if flag != "-e" && flag != "--eval" {
            return None;
        }
        let expression = expression.to_str().filter(|expression| !expression.starts_with('-'))?;
        let options = GlobalArgs::augment_args(OutputArgs::augment_args(clap::Command::new("tusk")));
        let defaults = options.try_get_matches_from(["tusk"]).ok()?;
        Some(Cli {
            command: None,
            input: None,
            expression: Some(expression.to_string()),
            output: OutputArgs::from_arg_matches(&defaults).ok()?,
            global: GlobalArgs::from_arg_matches(&defaults).ok()?,
        })
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
            Command::Set(_) => "set",
            Command::Fmt(_) => "fmt",
            Command::Convert(_) => "convert",
            Command::Completions(_) => "completions",
            Command::Lsp => "lsp",
            Command::Serve(_) => "serve",
            Command::Man(_) => "man",
            Command::Plugin(_) => "plugin",
        };
        let message = format!("`{argument}` cannot be used before the subcommand `{subcommand}`");
        Err(<Cli as CommandFactory>::command().error(ErrorKind::ArgumentConflict, message))
    }
}

/// `tusk help plugins`: the permission and sandbox options, which every command accepts and
/// no command's help lists.
fn plugin_help() -> String {
    let command = SandboxArgs::augment_args(PermissionArgs::augment_args(clap::Command::new("tusk")))
        .mut_args(|arg| arg.hide(false))
        .override_usage("tusk [OPTIONS] [COMMAND] [PLUGIN OPTIONS]")
        .about("Options for plugins, accepted by every command (before or after it)")
        .after_help("Plugins declare the permissions they need in plugin.toml; `tusk plugin info NAME` shows them.")
        .disable_help_flag(true);
    command.clone().render_help().to_string()
}

/// `tusk chek x.tsk` or `tusk version`: the first free argument is no file and no command, but
/// close to a command (or `version`, which is `--version`). Without this, clap reads it as the
/// script to run and the error is about a file or an argument after it.
fn reject_mistyped_command(args: &[std::ffi::OsString]) -> Result<(), clap::Error> {
    let command = <Cli as CommandFactory>::command();
    // How many arguments follow a flag as its values (`--arg NAME VALUE` takes two).
    let values_taken = |flag: &str| {
        command
            .get_arguments()
            .find(|arg| match flag.strip_prefix("--") {
                Some(long) => arg.get_long() == Some(long),
                None => flag.len() == 2 && arg.get_short() == flag.chars().nth(1),
            })
            .filter(|arg| arg.get_action().takes_values())
            .map_or(0, |arg| arg.get_num_args().map_or(1, |range| range.min_values()))
    };
    let mut rest = args.iter().skip(1).filter_map(|arg| arg.to_str());
    let word = loop {
        let Some(arg) = rest.next() else { return Ok(()) };
        if arg == "--" {
            return Ok(());
        }
        if arg.starts_with('-') && arg.len() > 1 {
            if !arg.contains('=') {
                for _ in 0..values_taken(arg) {
                    rest.next();
                }
            }
            continue;
        }
        break arg;
    };
    let subcommands: Vec<&str> = command.get_subcommands().map(|sub| sub.get_name()).collect();
    if subcommands.contains(&word) || word == "help" || std::path::Path::new(word).exists() {
        return Ok(());
    }
    let message = if word == "version" {
        "`version` is neither a file nor a command; `tusk --version` prints the version".to_string()
    } else if let Some(suggestion) = tusk::closest_name(word, subcommands.iter().copied()) {
        format!("`{word}` is neither a file nor a command; did you mean `tusk {suggestion}`?")
    } else {
        return Ok(());
    };
    Err(<Cli as CommandFactory>::command().error(ErrorKind::InvalidSubcommand, message))
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

    #[test]
    fn eval_alone_parses_as_clap_parses_it() {
        for args in [["tusk", "-e", "1"], ["tusk", "--eval", "@env(\"HOME\", \"x\") + \" y\""], ["tusk", "-e", ""]] {
            let args: Vec<std::ffi::OsString> = args.map(Into::into).into();
            let quick = Cli::parse_eval_only(&args).expect("the quick parse applies");
            let full = Cli::try_parse_from(&args).unwrap();
            assert_eq!(format!("{quick:?}"), format!("{full:?}"));
        }
        for args in [
            &["tusk", "-e", "-1"][..],
            &["tusk", "-e"],
            &["tusk", "-e", "1", "--compact"],
            &["tusk", "--strict", "-e", "1"],
            &["tusk", "run", "x.tsk"],
            &["tusk", "x.tsk"],
            &["tusk", "-e=1"],
        ] {
            let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            assert!(Cli::parse_eval_only(&args).is_none(), "{args:?}");
        }
    }
}
