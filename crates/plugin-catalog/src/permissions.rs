//! What the user grants plugins, from command-line flags and from the grants file, checked
//! against what a manifest's `[permissions]` declares and, call by call, by host-mediated I/O.
//!
//! **In-process plugins are trusted code.** They run in the interpreter's process and
//! can make any system call directly, so for them every check here is advisory: it keeps honest
//! plugins honest and gives consistent errors, but it stops nothing hostile. Only the sandboxed
//! runner (sandboxed mode: Landlock, seccomp, namespaces) enforces permissions against hostile
//! code. That is why a plugin runs natively only when the user says `trusted = true` for it or
//! when it is a first-party plugin shipped next to the executable.
//!
//! Flags grant to every plugin, the grants file per plugin name:
//!
//! ```toml
//! # ~/.config/tusk/grants.toml
//! [logging]
//! allow_write = ["/var/log/app"]   # or `true` for everything
//! allow_env = ["TUSK_*"]
//! trusted = true                   # run in-process
//! ```
//!
//! Path patterns may start with `${script_dir}` or `${home}`; `*` matches inside one path
//! component, and a granted folder covers everything below it. Host patterns are `host:port`
//! (`*` in the host, `*` or no port for any port); environment patterns use `*` too.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use tusk_diagnostics::{Diagnostic, SourceMap};

use crate::discovery::DiscoveredPlugin;
use crate::glob::{path_match, wildcard_match};
use crate::manifest::{ExecutionMode, FileAccess, NetworkAccess, Permissions};
use crate::names::{is_env_pattern, is_plugin_name};
use crate::paths::{PathVariables, display_path, expand, home_dir, normalize, resolve_links};
use crate::toml_check::{self, Checker};

/// One kind of access: nothing, everything, or what matches a list of patterns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Nothing (the default).
    #[default]
    None,
    /// Everything (`--allow-read` without a list, `allow_read = true`).
    All,
    /// What the patterns match.
    Only(Vec<String>),
}

impl Access {
    fn add(&mut self, other: &Access) {
        match (&mut *self, other) {
            (Access::All, _) | (_, Access::None) => {}
            (_, Access::All) => *self = Access::All,
            (Access::None, Access::Only(patterns)) => *self = Access::Only(patterns.clone()),
            (Access::Only(mine), Access::Only(patterns)) => {
                for pattern in patterns {
                    if !mine.contains(pattern) {
                        mine.push(pattern.clone());
                    }
                }
            }
        }
    }

    fn patterns(&self) -> &[String] {
        match self {
            Access::Only(patterns) => patterns,
            _ => &[],
        }
    }
}

/// A set of grants: from the flags (for every plugin) or from one plugin's table in the grants
/// file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantSet {
    /// `--allow-read`, `allow_read`.
    pub read: Access,
    /// `--allow-write`, `allow_write`.
    pub write: Access,
    /// `--allow-net`, `allow_net`: `host:port` or `host` (any port) patterns.
    pub net: Access,
    /// `--allow-env`, `allow_env`.
    pub env: Access,
    /// `--allow-db`, `allow_db`.
    pub db: bool,
    /// `trusted = true` (grants file only): the plugin may run in-process.
    pub trusted: bool,
}

impl GrantSet {
    /// Everything (`--allow-all`), except in-process trust, which is never implied.
    pub fn all() -> GrantSet {
        GrantSet { read: Access::All, write: Access::All, net: Access::All, env: Access::All, db: true, trusted: false }
    }

    /// The grants of permission flags such as `--allow-read=/data,/tmp`, `--allow-net`,
    /// `--allow-db`, `--allow-all`. A flag without a list (or with an empty one) grants all of
    /// its kind; repeated flags add up.
    pub fn from_flags<'a>(flags: impl IntoIterator<Item = &'a str>) -> Result<GrantSet, FlagError> {
        let mut grants = GrantSet::default();
        for flag in flags {
            grants.apply_flag(flag)?;
        }
        Ok(grants)
    }

    /// Adds one permission flag.
    pub fn apply_flag(&mut self, flag: &str) -> Result<(), FlagError> {
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        let list = || -> Access {
            let items: Vec<String> = value
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect();
            if items.is_empty() { Access::All } else { Access::Only(items) }
        };
        let no_value = |grants: &mut GrantSet, apply: fn(&mut GrantSet)| match value {
            Some(_) => Err(FlagError::UnexpectedValue { flag: name.to_string() }),
            None => {
                apply(grants);
                Ok(())
            }
        };
        match name {
            "--allow-read" => {
                let access = list();
                check_path_patterns(name, &access)?;
                self.read.add(&access);
            }
            "--allow-write" => {
                let access = list();
                check_path_patterns(name, &access)?;
                self.write.add(&access);
            }
            "--allow-net" => {
                let access = list();
                for pattern in access.patterns() {
                    if !is_net_grant(pattern) {
                        return Err(FlagError::BadValue {
                            flag: name.to_string(),
                            value: pattern.clone(),
                            expected: "`host` or `host:port`, like `api.example.com:443`",
                        });
                    }
                }
                self.net.add(&access);
            }
            "--allow-env" => {
                let access = list();
                for pattern in access.patterns() {
                    if !is_env_pattern(pattern) {
                        return Err(FlagError::BadValue {
                            flag: name.to_string(),
                            value: pattern.clone(),
                            expected: "variable names such as `HOME` or `TUSK_*`",
                        });
                    }
                }
                self.env.add(&access);
            }
            "--allow-db" => no_value(self, |grants| grants.db = true)?,
            "--allow-all" => no_value(self, |grants| grants.add(&GrantSet::all()))?,
            _ => return Err(FlagError::Unknown { flag: flag.to_string() }),
        }
        Ok(())
    }

    fn add(&mut self, other: &GrantSet) {
        self.read.add(&other.read);
        self.write.add(&other.write);
        self.net.add(&other.net);
        self.env.add(&other.env);
        self.db |= other.db;
        self.trusted |= other.trusted;
    }
}

/// Path grants must be absolute (or start with a variable): a relative grant would mean
/// something different in every working directory.
fn check_path_patterns(flag: &str, access: &Access) -> Result<(), FlagError> {
    for pattern in access.patterns() {
        if crate::manifest::path_pattern_problem(pattern).is_some() {
            return Err(FlagError::BadValue {
                flag: flag.to_string(),
                value: pattern.clone(),
                expected: "absolute paths (or starting with ${script_dir} or ${home}) without `..`",
            });
        }
    }
    Ok(())
}

/// `host`, `host:port` or `host:*`.
fn is_net_grant(pattern: &str) -> bool {
    if crate::manifest::host_pattern_problem(pattern).is_none() {
        return true;
    }
    crate::manifest::host_pattern_problem(&format!("{pattern}:*")).is_none()
}

/// A permission flag that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagError {
    /// `--allow-everything`.
    Unknown {
        /// The flag as given.
        flag: String,
    },
    /// `--allow-db=yes`: the flag takes no value.
    UnexpectedValue {
        /// The flag name.
        flag: String,
    },
    /// `--allow-read=data` (relative), `--allow-net=a b`.
    BadValue {
        /// The flag name.
        flag: String,
        /// The offending list entry.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Unknown { flag } => write!(f, "unknown permission flag `{flag}`"),
            FlagError::UnexpectedValue { flag } => write!(f, "`{flag}` takes no value"),
            FlagError::BadValue { flag, value, expected } => {
                write!(f, "invalid entry `{value}` in `{flag}`: expected {expected}")
            }
        }
    }
}

impl std::error::Error for FlagError {}

impl FlagError {
    /// The error as a diagnostic (`X042`).
    pub fn to_diagnostic(&self) -> Diagnostic {
        let help = match self {
            FlagError::Unknown { .. } => {
                "the permission flags are --allow-read, --allow-write, --allow-net, --allow-env, --allow-db and --allow-all"
            }
            FlagError::UnexpectedValue { .. } => "write the flag alone",
            FlagError::BadValue { .. } => "separate entries with commas; leave the list out to allow everything",
        };
        Diagnostic::error(self.to_string()).with_code("X042").with_help(help)
    }
}

/// Everything the user granted: flags for all plugins, the grants file per plugin, and the
/// values of `${script_dir}` and `${home}`.
#[derive(Clone, Debug)]
pub struct Grants {
    /// From the command line; applies to every plugin.
    pub flags: GrantSet,
    /// From the grants file, by plugin name.
    pub plugins: BTreeMap<String, GrantSet>,
    /// `${script_dir}`, and the base of relative paths in per-call checks.
    pub script_dir: PathBuf,
    /// `${home}`.
    pub home: Option<PathBuf>,
    /// The grants file that error messages tell the user to edit.
    pub grants_file: PathBuf,
}

impl Grants {
    /// No grants yet, for scripts in `script_dir`; `${home}` and the grants file shown in
    /// messages come from the environment.
    pub fn new(script_dir: impl Into<PathBuf>) -> Grants {
        Grants {
            flags: GrantSet::default(),
            plugins: BTreeMap::new(),
            script_dir: script_dir.into(),
            home: home_dir(),
            grants_file: crate::paths::default_grants_file()
                .unwrap_or_else(|| PathBuf::from("~/.config/tusk/grants.toml")),
        }
    }

    /// Reads a grants file into [`Grants::plugins`] (a missing file grants nothing). Errors
    /// point into the file.
    pub fn load_file(&mut self, path: &Path, sources: &mut SourceMap) -> Result<(), Vec<Diagnostic>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(vec![
                    Diagnostic::error(format!("cannot read {}: {error}", path.display()))
                        .with_code("X041")
                        .with_help("fix the file's permissions or remove it"),
                ]);
            }
        };
        let source = sources.add(path.display().to_string(), text.as_str());
        self.plugins = parse_grants_file(&text, source)?;
        self.grants_file = path.to_path_buf();
        Ok(())
    }

    /// Whether the user trusts `plugin` to run in-process.
    pub fn is_trusted(&self, plugin: &str) -> bool {
        self.plugins.get(plugin).is_some_and(|grants| grants.trusted)
    }

    /// Where `plugin` runs: in-process when the user trusts it, or when it is a first-party
    /// plugin shipped with tusk that asks for it; sandboxed otherwise.
    pub fn execution_mode(&self, plugin: &DiscoveredPlugin) -> ExecutionMode {
        if self.is_trusted(plugin.name())
            || (plugin.is_first_party() && plugin.manifest().mode == ExecutionMode::InProcess)
        {
            ExecutionMode::InProcess
        } else {
            ExecutionMode::Sandboxed
        }
    }

    fn variables(&self) -> PathVariables {
        PathVariables { script_dir: Some(self.script_dir.clone()), home: self.home.clone() }
    }

    /// What `plugin` may do, ready for per-call checks: what the user grants it (the flags
    /// plus its table in the grants file) *and* what its manifest declares. A grant a plugin
    /// did not ask for is not used (`--allow-read=$HOME` lets no plugin that declares no file
    /// access read the home folder), and a declaration the user did not grant is not allowed.
    pub fn for_plugin(&self, plugin: &str, declared: &Permissions) -> PluginGrants {
        let variables = self.variables();
        let declared_paths = || {
            Access::Only(declared.paths.iter().filter(|_| declared.file_system != FileAccess::None).cloned().collect())
        };
        let declared = Allowed {
            read: path_grant(&declared_paths(), &variables),
            write: match declared.file_system {
                FileAccess::ReadWrite => path_grant(&declared_paths(), &variables),
                _ => PathGrant::None,
            },
            net: match declared.network {
                NetworkAccess::None => Access::None,
                _ => Access::Only(declared.hosts.clone()),
            },
            env: Access::Only(declared.env.clone()),
            db: declared.database,
        };
        PluginGrants { granted: self.granted(plugin), declared, script_dir: self.script_dir.clone() }
    }

    /// What the user grants `plugin` (the flags plus its table in the grants file), whatever it
    /// declares.
    fn granted(&self, plugin: &str) -> Allowed {
        let mut set = self.flags.clone();
        if let Some(file) = self.plugins.get(plugin) {
            set.add(file);
        }
        let variables = self.variables();
        Allowed {
            read: path_grant(&set.read, &variables),
            write: path_grant(&set.write, &variables),
            net: set.net.clone(),
            env: set.env.clone(),
            db: set.db,
        }
    }
}

/// Path patterns as absolute, normalised paths with links resolved up to the first wildcard.
fn path_grant(access: &Access, variables: &PathVariables) -> PathGrant {
    match access {
        Access::None => PathGrant::None,
        Access::All => PathGrant::All,
        Access::Only(patterns) if patterns.is_empty() => PathGrant::None,
        Access::Only(patterns) => PathGrant::Only(
            patterns
                .iter()
                // A pattern whose variable has no value grants nothing rather than failing.
                .filter_map(|pattern| expand(pattern, variables).ok())
                .map(|pattern| resolve_pattern(&normalize(Path::new(&pattern))))
                .collect(),
        ),
    }
}

/// Parses a grants file: one table per plugin name.
fn parse_grants_file(
    text: &str,
    source: tusk_diagnostics::SourceId,
) -> Result<BTreeMap<String, GrantSet>, Vec<Diagnostic>> {
    const KEYS: &[&str] = &["allow_read", "allow_write", "allow_net", "allow_env", "allow_db", "allow_all", "trusted"];
    let document = toml_check::parse(text, source)?;
    let mut checker = Checker::new(source);
    let mut plugins = BTreeMap::new();
    for (key, value) in document.get_ref().iter() {
        let name: &str = key.get_ref();
        if !is_plugin_name(name) {
            // Example: `[Logging]`.
            checker.push(
                Diagnostic::error(format!("invalid plugin name `{name}`"))
                    .with_code("X006")
                    .with_primary(checker.location(key.span()), "not a plugin name")
                    .with_help("use one table per plugin, named like the plugin: `[logging]`"),
            );
            continue;
        }
        let table_name = format!("[{name}]");
        let Some(table) = checker.table(value, &table_name, &format!("[{name}]")) else {
            continue;
        };
        checker.unknown_keys(table, &table_name, KEYS);
        let mut grants = GrantSet::default();
        let access = |checker: &mut Checker, key: &str, example: &str| -> Access {
            let Some(value) = table.get(key) else {
                return Access::None;
            };
            match value.get_ref() {
                toml::de::DeValue::Boolean(true) => Access::All,
                toml::de::DeValue::Boolean(false) => Access::None,
                _ => match checker.string_list(table, key, &table_name, example) {
                    Some((items, _)) => Access::Only(items.iter().map(|(item, _)| item.to_string()).collect()),
                    None => Access::None,
                },
            }
        };
        grants.read = access(&mut checker, "allow_read", "allow_read = [\"${script_dir}/data\"]");
        grants.write = access(&mut checker, "allow_write", "allow_write = [\"/var/log/app\"]");
        grants.net = access(&mut checker, "allow_net", "allow_net = [\"api.example.com:443\"]");
        grants.env = access(&mut checker, "allow_env", "allow_env = [\"HOME\"]");
        grants.db = checker.bool(table, "allow_db", &table_name, "allow_db = true").unwrap_or(false);
        if checker.bool(table, "allow_all", &table_name, "allow_all = true").unwrap_or(false) {
            grants.add(&GrantSet::all());
        }
        grants.trusted = checker.bool(table, "trusted", &table_name, "trusted = true").unwrap_or(false);
        plugins.insert(name.to_string(), grants);
    }
    if checker.diagnostics.is_empty() { Ok(plugins) } else { Err(checker.diagnostics) }
}

/// Resolves symbolic links in the part of a pattern before its first wildcard, so that grants
/// and checked paths compare in the same (link-free) form.
fn resolve_pattern(pattern: &Path) -> PathBuf {
    let mut prefix = PathBuf::new();
    let mut rest = PathBuf::new();
    for component in pattern.components() {
        let wild = matches!(component, Component::Normal(part) if part.to_string_lossy().contains('*'));
        if wild || !rest.as_os_str().is_empty() {
            rest.push(component);
        } else {
            prefix.push(component);
        }
    }
    let mut resolved = resolve_links(&prefix);
    resolved.push(rest);
    resolved
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PathGrant {
    None,
    All,
    /// Absolute, normalised, links resolved up to the first wildcard.
    Only(Vec<PathBuf>),
}

impl PathGrant {
    fn covers(&self, path: &Path) -> bool {
        match self {
            PathGrant::None => false,
            PathGrant::All => true,
            PathGrant::Only(patterns) => patterns.iter().any(|pattern| path_match(pattern, path)),
        }
    }

    /// The files and folders these patterns reach, each pattern cut before its first
    /// wildcard; `None` for everything.
    fn folders(&self) -> Option<Vec<PathBuf>> {
        match self {
            PathGrant::None => Some(Vec::new()),
            PathGrant::All => None,
            PathGrant::Only(patterns) => Some(
                patterns
                    .iter()
                    .map(|pattern| {
                        pattern
                            .components()
                            .take_while(|component| !component.as_os_str().to_string_lossy().contains('*'))
                            .collect()
                    })
                    .collect(),
            ),
        }
    }
}

/// What the folders of both sides reach together: each folder of one side that lies inside a
/// folder of the other (`None` is everything).
fn folders_of_both(a: Option<Vec<PathBuf>>, b: Option<Vec<PathBuf>>) -> Option<Vec<PathBuf>> {
    let (a, b) = match (a, b) {
        (None, other) | (other, None) => return other,
        (Some(a), Some(b)) => (a, b),
    };
    let mut both: Vec<PathBuf> =
        a.iter().filter(|inner| b.iter().any(|outer| inner.starts_with(outer))).cloned().collect();
    for inner in b.iter().filter(|inner| a.iter().any(|outer| inner.starts_with(outer))) {
        if !both.contains(inner) {
            both.push(inner.clone());
        }
    }
    Some(both)
}

/// One side of what a plugin may do: the user's grants, or the manifest's declarations.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Allowed {
    read: PathGrant,
    write: PathGrant,
    net: Access,
    env: Access,
    db: bool,
}

impl Allowed {
    fn may_connect(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match &self.net {
            Access::None => false,
            Access::All => true,
            Access::Only(patterns) => patterns.iter().any(|pattern| {
                let (pattern_host, pattern_port) = split_host(pattern);
                let port_ok = match pattern_port {
                    None | Some("*") => true,
                    Some(granted) => granted.parse::<u16>() == Ok(port),
                };
                port_ok && wildcard_match(&pattern_host.to_ascii_lowercase(), &host)
            }),
        }
    }

    /// May the plugin connect to `host` on some port?
    fn may_reach(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match &self.net {
            Access::None => false,
            Access::All => true,
            Access::Only(patterns) => {
                patterns.iter().any(|pattern| wildcard_match(&split_host(pattern).0.to_ascii_lowercase(), &host))
            }
        }
    }

    fn may_read_env(&self, name: &str) -> bool {
        match &self.env {
            Access::None => false,
            Access::All => true,
            // Windows environment names ignore case; elsewhere they do not.
            Access::Only(patterns) if cfg!(windows) => {
                patterns.iter().any(|pattern| wildcard_match(&pattern.to_ascii_uppercase(), &name.to_ascii_uppercase()))
            }
            Access::Only(patterns) => patterns.iter().any(|pattern| wildcard_match(pattern, name)),
        }
    }

    /// True when every host pattern matches every host and port (`*`, `*:*`).
    fn reaches_everything(&self) -> bool {
        match &self.net {
            Access::None => false,
            Access::All => true,
            Access::Only(patterns) => patterns.iter().any(|pattern| {
                let (host, port) = split_host(pattern);
                host == "*" && matches!(port, None | Some("*"))
            }),
        }
    }
}

/// What one plugin may do, for the checks host-mediated I/O makes on every call: what the user
/// grants it and its manifest declares, both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginGrants {
    granted: Allowed,
    declared: Allowed,
    script_dir: PathBuf,
}

/// Why a plugin may not do something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The user did not grant it (a flag or the grants file would).
    NotGranted,
    /// The user granted it, but the plugin's manifest does not declare it.
    NotDeclared,
}

impl Refusal {
    fn of(granted: bool, declared: bool) -> Option<Refusal> {
        match (granted, declared) {
            (false, _) => Some(Refusal::NotGranted),
            (true, false) => Some(Refusal::NotDeclared),
            (true, true) => None,
        }
    }
}

/// How a sandboxed plugin may use the network, for the runner's kernel layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkReach {
    /// No sockets at all.
    None,
    /// Connections made by the host, each checked against the grants (host names pinned).
    Brokered,
    /// The plugin's own sockets, to anywhere (a database grant, or everything granted and
    /// declared): drivers connect wherever their connection strings say.
    Direct,
}

impl PluginGrants {
    /// Makes `path` absolute (relative to the script directory) and resolves it the way the OS
    /// will: symbolic links first (the existing prefix is canonicalized, so `granted/link/../x`
    /// follows the link before climbing, as the kernel does; a dangling link is followed to
    /// the file writing would create), then `.`/`..` in the part that does not exist yet.
    /// Checking a purely textual normalization would let a link in a granted folder lead
    /// outside it.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        let absolute = if path.is_absolute() { path.to_path_buf() } else { self.script_dir.join(path) };
        normalize(&resolve_links(&absolute))
    }

    /// May the plugin read `path`?
    pub fn may_read(&self, path: &Path) -> bool {
        self.read_refusal(path).is_none()
    }

    /// Why the plugin may not read `path` (`None`: it may).
    pub fn read_refusal(&self, path: &Path) -> Option<Refusal> {
        let path = self.resolve(path);
        Refusal::of(self.granted.read.covers(&path), self.declared.read.covers(&path))
    }

    /// May the plugin create, change or delete `path`?
    pub fn may_write(&self, path: &Path) -> bool {
        self.write_refusal(path).is_none()
    }

    /// Why the plugin may not write `path` (`None`: it may).
    pub fn write_refusal(&self, path: &Path) -> Option<Refusal> {
        let path = self.resolve(path);
        Refusal::of(self.granted.write.covers(&path), self.declared.write.covers(&path))
    }

    /// May the plugin connect to (or listen on) `host:port`? Host names compare without case.
    pub fn may_connect(&self, host: &str, port: u16) -> bool {
        self.connect_refusal(host, port).is_none()
    }

    /// Why the plugin may not connect to `host:port` (`None`: it may).
    pub fn connect_refusal(&self, host: &str, port: u16) -> Option<Refusal> {
        Refusal::of(self.granted.may_connect(host, port), self.declared.may_connect(host, port))
    }

    /// May the plugin connect to `host` on some port (may the host look its name up)?
    pub fn may_reach(&self, host: &str) -> bool {
        self.granted.may_reach(host) && self.declared.may_reach(host)
    }

    /// May the plugin read environment variable `name`?
    pub fn may_read_env(&self, name: &str) -> bool {
        self.env_refusal(name).is_none()
    }

    /// Why the plugin may not read environment variable `name` (`None`: it may).
    pub fn env_refusal(&self, name: &str) -> Option<Refusal> {
        Refusal::of(self.granted.may_read_env(name), self.declared.may_read_env(name))
    }

    /// May the plugin use databases?
    pub fn may_use_database(&self) -> bool {
        self.granted.db && self.declared.db
    }

    /// The files and folders a sandboxed plugin may open for reading (`None`: everything).
    pub fn readable_folders(&self) -> Option<Vec<PathBuf>> {
        folders_of_both(self.granted.read.folders(), self.declared.read.folders())
    }

    /// The files and folders a sandboxed plugin may open for writing (`None`: everything).
    pub fn writable_folders(&self) -> Option<Vec<PathBuf>> {
        folders_of_both(self.granted.write.folders(), self.declared.write.folders())
    }

    /// How a sandboxed plugin may reach the network.
    pub fn network_reach(&self) -> NetworkReach {
        if self.may_use_database() || (self.granted.reaches_everything() && self.declared.reaches_everything()) {
            NetworkReach::Direct
        } else if self.granted.net != Access::None && self.declared.net != Access::None {
            NetworkReach::Brokered
        } else {
            NetworkReach::None
        }
    }
}

/// `host:port` → (`host`, Some(`port`)); `[::1]:80` → (`::1`, Some(`80`)); `host` → (`host`, None).
fn split_host(pattern: &str) -> (&str, Option<&str>) {
    if let Some(rest) = pattern.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (rest, None),
        };
    }
    match pattern.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (pattern, None),
    }
}

/// One thing a plugin declares and the user has not granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MissingGrant {
    /// Reading a path pattern (as declared, `${script_dir}` unexpanded).
    Read(String),
    /// Writing a path pattern.
    Write(String),
    /// Connecting to (or listening on) a `host:port` pattern.
    Net(String),
    /// Reading an environment variable pattern.
    Env(String),
    /// Using databases.
    Database,
}

/// A plugin declares permissions the user has not granted.
///
/// Example: `[permissions] file_system = "read_write"`, `paths = ["/var/log/app"]` without
/// `--allow-read`/`--allow-write` or a grants file entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionError {
    /// The plugin.
    pub plugin: String,
    /// What is missing, in declaration order.
    pub missing: Vec<MissingGrant>,
    /// Each missing path pattern with `${…}` expanded, for flags (shells do not know
    /// `${script_dir}`).
    expanded: Vec<(String, String)>,
    /// The grants file, `~`-shortened, for the message.
    grants_file: String,
}

/// The kinds of grant in message order, with their words, flag and grants-file key.
const KINDS: [(&str, &str, &str); 5] = [
    ("read access to", "--allow-read", "allow_read"),
    ("write access to", "--allow-write", "allow_write"),
    ("network access to", "--allow-net", "allow_net"),
    ("access to the environment variables", "--allow-env", "allow_env"),
    ("database access", "--allow-db", "allow_db"),
];

impl PermissionError {
    fn kind_of(missing: &MissingGrant) -> usize {
        match missing {
            MissingGrant::Read(_) => 0,
            MissingGrant::Write(_) => 1,
            MissingGrant::Net(_) => 2,
            MissingGrant::Env(_) => 3,
            MissingGrant::Database => 4,
        }
    }

    /// The missing patterns of one kind: (as declared, as a flag value).
    fn values(&self, kind: usize) -> Vec<(&str, &str)> {
        self.missing
            .iter()
            .filter(|missing| PermissionError::kind_of(missing) == kind)
            .filter_map(|missing| match missing {
                MissingGrant::Read(value)
                | MissingGrant::Write(value)
                | MissingGrant::Net(value)
                | MissingGrant::Env(value) => {
                    let flag_value = self
                        .expanded
                        .iter()
                        .find(|(declared, _)| declared == value)
                        .map_or(value.as_str(), |(_, expanded)| expanded.as_str());
                    Some((value.as_str(), flag_value))
                }
                MissingGrant::Database => None,
            })
            .collect()
    }

    fn kinds(&self) -> Vec<usize> {
        let mut kinds: Vec<usize> = self.missing.iter().map(PermissionError::kind_of).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }

    /// `plugin `logging` needs write access to /var/log/app`.
    pub fn headline(&self) -> String {
        let parts: Vec<String> = self
            .kinds()
            .into_iter()
            .map(|kind| {
                let values: Vec<&str> = self.values(kind).iter().map(|(_, flag_value)| *flag_value).collect();
                if values.is_empty() {
                    KINDS[kind].0.to_string()
                } else {
                    format!("{} {}", KINDS[kind].0, join_and(&values))
                }
            })
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        format!("plugin `{}` needs {}", self.plugin, join_and(&parts))
    }

    /// `run with --allow-write=/var/log/app or add ... in ~/.config/tusk/grants.toml`.
    pub fn fix(&self) -> String {
        let mut flags = Vec::new();
        let mut lines = Vec::new();
        for kind in self.kinds() {
            let (_, flag, key) = KINDS[kind];
            let values = self.values(kind);
            if values.is_empty() {
                flags.push(flag.to_string());
                lines.push(format!("`{key} = true`"));
                continue;
            }
            let flag_values: Vec<&str> = values.iter().map(|(_, flag_value)| *flag_value).collect();
            flags.push(shell_quote(&format!("{flag}={}", flag_values.join(","))));
            let quoted: Vec<String> = values.iter().map(|(declared, _)| format!("{declared:?}")).collect();
            lines.push(format!("`{key} = [{}]`", quoted.join(", ")));
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        format!(
            "run with {} or add {} under [{}] in {}",
            flags.join(" "),
            join_and(&lines),
            self.plugin,
            self.grants_file
        )
    }

    /// The error as a diagnostic (`X040`): the headline, and the fix as help.
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic::error(self.headline()).with_code("X040").with_help(self.fix())
    }
}

impl fmt::Display for PermissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.headline(), self.fix())
    }
}

impl std::error::Error for PermissionError {}

/// "a", "a and b", "a, b and c" (without quotes; values are paths and flags).
fn join_and(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Single-quotes a flag for POSIX shells when it holds anything a shell would interpret (`*`
/// would be globbed, spaces split).
fn shell_quote(flag: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:,=@%+".contains(c);
    if flag.chars().all(safe) { flag.to_string() } else { format!("'{}'", flag.replace('\'', r"'\''")) }
}

/// Checks that `grants` cover everything `needs` declares for `plugin`; the error lists every
/// missing grant with the exact flags and grants-file line that would add them. (Declared
/// permissions marked `optional` are listed too; the host loads such a plugin anyway.)
pub fn check(needs: &Permissions, grants: &Grants, plugin: &str) -> Result<(), PermissionError> {
    let effective = grants.granted(plugin);
    let variables = grants.variables();
    let mut missing = Vec::new();
    let mut expanded = Vec::new();
    if needs.file_system != FileAccess::None {
        for pattern in &needs.paths {
            let Ok(concrete) = expand(pattern, &variables) else {
                continue;
            };
            // The declared pattern is compared as if it were a path: a granted `*` covers a
            // declared `*`, a granted folder covers patterns below it.
            let path = resolve_pattern(&normalize(Path::new(&concrete)));
            if !effective.read.covers(&path) {
                missing.push(MissingGrant::Read(pattern.clone()));
            }
            if needs.file_system == FileAccess::ReadWrite && !effective.write.covers(&path) {
                missing.push(MissingGrant::Write(pattern.clone()));
            }
            expanded.push((pattern.clone(), concrete));
        }
    }
    if needs.network != NetworkAccess::None {
        for pattern in &needs.hosts {
            if !net_covers(&effective.net, pattern) {
                missing.push(MissingGrant::Net(pattern.clone()));
            }
        }
    }
    for pattern in &needs.env {
        let covered = match &effective.env {
            Access::None => false,
            Access::All => true,
            Access::Only(granted) => granted.iter().any(|grant| wildcard_match(grant, pattern)),
        };
        if !covered {
            missing.push(MissingGrant::Env(pattern.clone()));
        }
    }
    if needs.database && !effective.db {
        missing.push(MissingGrant::Database);
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(PermissionError {
        plugin: plugin.to_string(),
        missing,
        expanded,
        grants_file: display_path(&grants.grants_file, grants.home.as_deref()),
    })
}

/// A declared `host:port` pattern is covered when a grant's host pattern matches its host text
/// and the grant allows its port (a declared `*` port needs a grant for any port).
fn net_covers(net: &Access, declared: &str) -> bool {
    let (host, port) = split_host(declared);
    match net {
        Access::None => false,
        Access::All => true,
        Access::Only(patterns) => patterns.iter().any(|pattern| {
            let (granted_host, granted_port) = split_host(pattern);
            let port_ok = match granted_port {
                None | Some("*") => true,
                Some(granted) => Some(granted) == port,
            };
            port_ok && wildcard_match(&granted_host.to_ascii_lowercase(), &host.to_ascii_lowercase())
        }),
    }
}

#[cfg(test)]
mod tests;
