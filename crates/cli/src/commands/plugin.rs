//! `tusk plugin …`: list, inspect, check, create, install, remove and document plugins, one
//! file per subcommand; this module dispatches and holds what several of them share (finding
//! an installed plugin, describing permissions and modes, reading a plugin folder or building a
//! plugin crate into a staged folder).

mod build;
mod check;
mod docs;
mod info;
mod install;
mod list;
mod new;
mod registry;

use std::path::{Path, PathBuf};

use tusk::plugins::{HostSettings, PluginHost};
use tusk::{Diagnostic, Engine};
use tusk_plugin_catalog::{
    Catalog, DiscoveredPlugin, ExecutionMode, FileAccess, GrantSet, Grants, MANIFEST_FILE, Manifest, NetworkAccess,
    Origin, Permissions, SearchPath, default_library_name, parse_manifest,
};

use crate::cli::PluginCommand;
use crate::commands::{CommandEngine, Context, Status};
use crate::output;

pub use self::build::Profile;
pub use self::registry::start_auto_update_if_due;

/// Runs `tusk plugin …`.
pub fn plugin(context: &Context, command: PluginCommand) -> anyhow::Result<Status> {
    match command {
        PluginCommand::List => list::list(context),
        PluginCommand::Info(args) => info::info(context, &args.plugin),
        PluginCommand::Check(args) => check::check(context, &args.plugin, args.write_capabilities),
        PluginCommand::New(args) => new::new(&args),
        // A name is a registry plugin, unless a plugin folder or crate of that name is here
        // (`tusk plugin install greeter` right after `tusk plugin new greeter`).
        PluginCommand::Install(args) => match args.target.as_deref().map(target) {
            Some(Target::Folder(path)) => install::install(context, &args, &path),
            Some(Target::Installed(name)) if Path::new(&name).join(MANIFEST_FILE).is_file() => {
                install::install(context, &args, Path::new(&name))
            }
            _ => registry::install(context, &args),
        },
        PluginCommand::Pack(args) => registry::pack(context, &args),
        PluginCommand::Keygen(args) => registry::keygen(&args),
        PluginCommand::Publish(args) => registry::publish(&args),
        PluginCommand::Yank(args) => registry::yank(&args),
        PluginCommand::Search(args) => registry::search(&args),
        PluginCommand::Outdated(args) => registry::outdated(&args),
        PluginCommand::Update(args) => registry::update(&args),
        PluginCommand::Remove(args) => install::remove(context, &args.name),
        PluginCommand::Docs(args) => docs::docs(context, &args.plugin),
    }
}

/// What the plugin argument of `info`, `check` and `docs` means.
enum Target {
    /// An installed plugin, by name.
    Installed(String),
    /// A plugin folder or crate.
    Folder(PathBuf),
}

/// The one rule for plugin arguments: with a `/` in it, or `.` or `..` alone, it is the path of
/// a plugin folder or crate; otherwise it is the name of an installed plugin (`./NAME` names
/// a folder of that name in the working directory).
fn target(argument: &str) -> Target {
    if argument.contains('/') || argument == "." || argument == ".." {
        Target::Folder(PathBuf::from(argument))
    } else {
        Target::Installed(argument.to_string())
    }
}

/// How a command that loads a plugin to look at it runs it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loading {
    /// `tusk plugin docs`: sandboxed with nothing granted (reading documentation must not
    /// let a plugin touch anything).
    Docs,
    /// `tusk plugin check`: sandboxed with the user's grants, and only what the plugin also
    /// declares; what is not granted is refused when the plugin tries it.
    Check,
    /// `tusk plugin info`: as a script would run it.
    AsScripts,
}

impl Loading {
    fn adjust(self, settings: &mut HostSettings) {
        match self {
            Loading::Docs => {
                settings.inspecting = true;
                settings.grants.flags = GrantSet::default();
                settings.grants.plugins.clear();
            }
            Loading::Check => settings.inspecting = true,
            Loading::AsScripts => {}
        }
    }
}

/// An engine over the installed plugins as scripts in the working directory see them.
fn installed(context: &Context) -> Result<(CommandEngine, Vec<Diagnostic>), Status> {
    context.engine_with_diagnostics(Path::new("."))
}

/// The installed plugin called `name`, or a message saying which ones there are.
fn find<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a DiscoveredPlugin, String> {
    if let Some(plugin) = catalog.plugin(name) {
        return Ok(plugin);
    }
    let names: Vec<&str> = catalog.plugins.iter().map(DiscoveredPlugin::name).collect();
    Err(if names.is_empty() {
        format!(
            "no plugin named `{name}` is installed (no plugins are installed; `tusk plugin list` shows where tusk looks)"
        )
    } else {
        format!("no plugin named `{name}` is installed (installed: {})", names.join(", "))
    })
}

/// Prints `Error: message` and ends the command with exit code 1.
fn fail(message: &str) -> Status {
    output::write_stderr(&format!("Error: {message}\n"));
    Status::ScriptError
}

/// Plugin names are what `[plugin] name` allows: `[a-z][a-z0-9_]*`. Checked before a name
/// becomes a folder name, so that `tusk plugin remove ../x` cannot reach outside.
fn is_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Where a search folder came from, as the user would name it.
fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::EnvPath => "TUSK_PLUGIN_PATH",
        Origin::Project => "project",
        Origin::User => "user",
        Origin::Bundled => "bundled",
    }
}

/// The folder `tusk plugin install` installs into: `$XDG_DATA_HOME/tusk/plugins`
/// (`~/.local/share/tusk/plugins`), the user entry of the standard search path.
fn user_plugins_dir() -> Option<PathBuf> {
    SearchPath::standard(None).roots.into_iter().find(|root| root.origin == Origin::User).map(|root| root.dir)
}

/// Where the plugin runs: `in-process` (trusted in the grants file, or first-party and shipped
/// with tusk) or `sandboxed` (the sandboxed runner), with the reason.
fn mode_text(host: &PluginHost, grants: &Grants, plugin: &DiscoveredPlugin) -> String {
    let asked = match plugin.manifest().mode {
        ExecutionMode::InProcess => "in-process",
        ExecutionMode::Sandboxed => "sandboxed",
    };
    match host.execution_mode(plugin) {
        ExecutionMode::Sandboxed if grants.execution_mode(plugin) == ExecutionMode::InProcess => {
            "sandboxed (--sandbox or --sandbox-all)".to_string()
        }
        ExecutionMode::InProcess if grants.is_trusted(plugin.name()) => {
            "in-process (trusted in the grants file)".to_string()
        }
        ExecutionMode::InProcess => "in-process (first-party, shipped with tusk)".to_string(),
        ExecutionMode::Sandboxed if asked == "in-process" => {
            format!(
                "sandboxed (asks for in-process: add `trusted = true` under [{}] in the grants file)",
                plugin.name()
            )
        }
        ExecutionMode::Sandboxed => "sandboxed".to_string(),
    }
}

/// `@a, @b` or `-`.
fn operators_text(manifest: &Manifest) -> String {
    list_or_dash(manifest.operators.iter().map(|name| format!("@{name}")).collect())
}

/// `f, g` or `-`.
fn functions_text(manifest: &Manifest) -> String {
    list_or_dash(manifest.functions.clone())
}

fn list_or_dash(items: Vec<String>) -> String {
    if items.is_empty() { "-".to_string() } else { items.join(", ") }
}

/// What a plugin asks for, one item per kind: `read ${script_dir}/data`, `connect to
/// api.example.com:443`, `environment HOME, TUSK_*`, `databases`. Empty: nothing.
fn permission_items(permissions: &Permissions) -> Vec<String> {
    let mut items = Vec::new();
    match permissions.file_system {
        FileAccess::None => {}
        FileAccess::Read => items.push(format!("read {}", permissions.paths.join(", "))),
        FileAccess::ReadWrite => items.push(format!("read and write {}", permissions.paths.join(", "))),
    }
    match permissions.network {
        NetworkAccess::None => {}
        NetworkAccess::Outbound => items.push(format!("connect to {}", permissions.hosts.join(", "))),
        NetworkAccess::Inbound => items.push(format!("listen on and connect to {}", permissions.hosts.join(", "))),
    }
    if !permissions.env.is_empty() {
        items.push(format!("environment {}", permissions.env.join(", ")));
    }
    if permissions.database {
        items.push("databases".to_string());
    }
    items
}

/// `none` or the items joined with `; ` (and `(optional)` when the plugin loads without them).
fn permissions_text(permissions: &Permissions) -> String {
    let items = permission_items(permissions);
    match (items.is_empty(), permissions.optional) {
        (true, _) => "none".to_string(),
        (false, true) => format!("{} (optional)", items.join("; ")),
        (false, false) => items.join("; "),
    }
}

/// The flags that grant exactly what a manifest declares (`--allow-read=${script_dir}/data`).
fn manifest_flags(permissions: &Permissions) -> Vec<String> {
    let mut flags = Vec::new();
    if permissions.file_system != FileAccess::None && !permissions.paths.is_empty() {
        flags.push(format!("--allow-read={}", permissions.paths.join(",")));
        if permissions.file_system == FileAccess::ReadWrite {
            flags.push(format!("--allow-write={}", permissions.paths.join(",")));
        }
    }
    if permissions.network != NetworkAccess::None && !permissions.hosts.is_empty() {
        flags.push(format!("--allow-net={}", permissions.hosts.join(",")));
    }
    if !permissions.env.is_empty() {
        flags.push(format!("--allow-env={}", permissions.env.join(",")));
    }
    if permissions.database {
        flags.push("--allow-db".to_string());
    }
    flags
}

/// The fields of a library's info record, as text (read from the file, nothing loaded).
struct InfoSummary {
    package: String,
    version: String,
    abi: String,
    sdk_version: String,
    target: String,
    panic: &'static str,
    /// `None` when this tusk can load it, else why not.
    incompatible: Option<String>,
}

/// Reads and checks the info record of `library`.
fn info_summary(library: &Path) -> Result<InfoSummary, String> {
    let info = tusk_plugin_host::read_info_record(library).map_err(|error| error.to_string())?;
    let text = |bytes: &[u8]| {
        let end = bytes.iter().position(|&byte| byte == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };
    Ok(InfoSummary {
        package: text(&info.package),
        version: text(&info.version),
        abi: format!("{}.{}", info.abi_major, info.abi_minor),
        sdk_version: text(&info.sdk_version),
        target: text(&info.target),
        panic: if info.panic_unwind == 1 { "unwind" } else { "abort" },
        incompatible: tusk_plugin_host::check_info_record(library, &info).err().map(|error| error.to_string()),
    })
}

impl InfoSummary {
    /// `plugin ABI 1.0, tusk-plugin-sdk 0.1.0, x86_64-linux, panic=unwind`.
    fn one_line(&self) -> String {
        format!("plugin ABI {}, tusk-plugin-sdk {}, {}, panic={}", self.abi, self.sdk_version, self.target, self.panic)
    }
}

/// A plugin ready to be checked, loaded or installed: its files staged in a temporary plugin
/// folder (a crate built first), and its manifest validated there.
struct Prepared {
    /// The validated manifest; its `dir` is the staged folder.
    manifest: Manifest,
    /// What the user named (the crate or the folder), canonical.
    source_dir: PathBuf,
    /// The library as the user has it (in the folder, or where cargo built it): messages
    /// about it name this file rather than the staged copy.
    library: PathBuf,
    /// The profile, when it was built from a crate.
    built: Option<Profile>,
    /// The temporary search folder holding the staged plugin folder (and `.cache`).
    staging: tempfile::TempDir,
}

/// Why a plugin could not be prepared (the problems were printed): `"manifest"` or `"build"`.
struct NotPrepared(&'static str);

/// Reads the plugin at `path` and stages it in a temporary folder of its own, so that loading
/// it sees no other plugin and leaves the user's folders alone: a folder with `plugin.toml`
/// and its library is copied (manifest, library, schema, README and licence); a crate
/// (`Cargo.toml` next to `plugin.toml`) has its manifest checked, is built with cargo, and its
/// library is staged under the name the manifest gives. Manifest diagnostics point into the
/// user's `plugin.toml`.
fn prepare(context: &Context, engine: &mut Engine, path: &Path, profile: Profile) -> Result<Prepared, NotPrepared> {
    let source_dir = path.canonicalize().map_err(|error| {
        output::write_stderr(&format!("Error: cannot read {}: {error}\n", path.display()));
        NotPrepared("manifest")
    })?;
    let is_crate = source_dir.join("Cargo.toml").is_file();
    let manifest_path = source_dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).map_err(|error| {
        let hint = if is_crate {
            "a plugin crate needs a plugin.toml next to its Cargo.toml (`tusk plugin new` makes one)"
        } else {
            "a plugin folder holds a plugin.toml and the plugin's library"
        };
        output::write_stderr(&format!("Error: cannot read {}: {error}\nHelp: {hint}\n", manifest_path.display()));
        NotPrepared("manifest")
    })?;
    let source = engine.sources_mut().add(manifest_path.display().to_string(), text.as_str());
    let (name, library, library_name, schema) = match (is_crate, parse_manifest(&source_dir, &text, source)) {
        (false, Ok(manifest)) => {
            let relative = |path: &Path| path.strip_prefix(&manifest.dir).unwrap_or(path).to_path_buf();
            let schema = manifest.config_schema.as_deref().map(relative);
            (manifest.name.clone(), manifest.library.clone(), relative(&manifest.library), schema)
        }
        (false, Err(diagnostics)) => {
            context.report_diagnostics(engine, &diagnostics);
            return Err(NotPrepared("manifest"));
        }
        (true, result) => {
            // Everything but the library (X012, not built yet) is checked before building: a
            // typo in the manifest is reported at once instead of after a build.
            let before_build: Vec<Diagnostic> = result
                .err()
                .unwrap_or_default()
                .into_iter()
                .filter(|diagnostic| diagnostic.code != Some("X012"))
                .collect();
            if !before_build.is_empty() {
                context.report_diagnostics(engine, &before_build);
                return Err(NotPrepared("manifest"));
            }
            let (name, library_name, schema) = staging_names(&text).ok_or(NotPrepared("manifest"))?;
            let library = build::build_cdylib(&source_dir, &name, profile).map_err(|message| {
                output::write_stderr(&format!("Error: {message}\n"));
                NotPrepared("build")
            })?;
            (name, library, PathBuf::from(library_name), schema.map(PathBuf::from))
        }
    };
    let staging = tempfile::Builder::new().prefix("tusk-plugin-").tempdir().map_err(|error| {
        output::write_stderr(&format!("Error: cannot create a temporary folder: {error}\n"));
        NotPrepared("manifest")
    })?;
    let staged = staging.path().join(&name);
    if let Err(message) = stage(&source_dir, &staged, &library, &library_name, schema.as_deref()) {
        output::write_stderr(&format!("Error: {message}\n"));
        return Err(NotPrepared("manifest"));
    }
    match parse_manifest(&staged, &text, source) {
        Ok(manifest) => Ok(Prepared { manifest, source_dir, library, built: is_crate.then_some(profile), staging }),
        Err(diagnostics) => {
            context.report_diagnostics(engine, &diagnostics);
            Err(NotPrepared("manifest"))
        }
    }
}

/// The plugin name, the library file name and the schema path of a manifest that passed
/// validation except for the library.
fn staging_names(text: &str) -> Option<(String, String, Option<String>)> {
    let table: toml::Table = text.parse().ok()?;
    let plugin = table.get("plugin")?.as_table()?;
    let name = plugin.get("name")?.as_str()?.to_string();
    let library = plugin
        .get("library")
        .and_then(|library| library.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| default_library_name(&name));
    let schema = table
        .get("config")
        .and_then(|config| config.get("schema"))
        .and_then(|schema| schema.as_str())
        .map(str::to_string);
    Some((name, library, schema))
}

/// Copies what a plugin folder holds: the manifest, the library (under `library_name`), the
/// configuration schema, and the README and licence files of `source_dir`.
fn stage(
    source_dir: &Path,
    target: &Path,
    library: &Path,
    library_name: &Path,
    schema: Option<&Path>,
) -> Result<(), String> {
    let mut files = vec![(source_dir.join(MANIFEST_FILE), target.join(MANIFEST_FILE))];
    files.push((library.to_path_buf(), target.join(library_name)));
    if let Some(schema) = schema
        && source_dir.join(schema).is_file()
    {
        files.push((source_dir.join(schema), target.join(schema)));
    }
    for file in extra_files(source_dir) {
        files.push((source_dir.join(&file), target.join(&file)));
    }
    copy_files(&files)
}

/// Copies `(from, to)` pairs, creating folders as needed.
fn copy_files(files: &[(PathBuf, PathBuf)]) -> Result<(), String> {
    for (from, to) in files {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::fs::copy(from, to).map_err(|error| format!("cannot copy {}: {error}", from.display()))?;
    }
    Ok(())
}

/// README and licence files at the top of a plugin folder or crate.
fn extra_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            let upper = name.to_ascii_uppercase();
            upper.starts_with("README") || upper.starts_with("LICENSE") || upper.starts_with("LICENCE")
        })
        .collect();
    files.sort();
    files
}

/// An engine whose only plugin is the prepared one, loaded as `loading` says (then `adjust`ed),
/// with a cache of its own: for `check`, `docs` and `info` of a plugin folder or crate.
fn engine_for_prepared(
    context: &Context,
    prepared: &Prepared,
    loading: Loading,
    adjust: impl FnOnce(&mut HostSettings),
) -> Result<(CommandEngine, Vec<Diagnostic>), Status> {
    let root = prepared.staging.path().to_path_buf();
    context.engine_with_settings(Path::new("."), move |settings| {
        settings.search =
            SearchPath { roots: vec![tusk_plugin_catalog::SearchRoot { dir: root.clone(), origin: Origin::EnvPath }] };
        settings.index_file = None;
        settings.cache_dir = root.join(".cache");
        loading.adjust(settings);
        adjust(settings);
    })
}

/// The plugin folder or crate `argument` names ([`target`]): an installed plugin's folder, or
/// the path itself. `None` (the problem printed) when no plugin of that name is installed.
fn folder_of(context: &Context, argument: &str) -> Result<PathBuf, Status> {
    match target(argument) {
        Target::Folder(path) => Ok(path),
        Target::Installed(name) => {
            let (engine, _) = installed(context)?;
            let Some(host) = engine.plugins() else { return Err(fail("plugins are not available in this build")) };
            find(host.catalog(), &name).map(|plugin| plugin.manifest().dir.clone()).map_err(|message| fail(&message))
        }
    }
}
