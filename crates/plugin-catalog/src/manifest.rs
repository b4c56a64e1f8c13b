//! `plugin.toml`: reading it and validating it strictly, with every mistake reported as a
//! diagnostic pointing into the file.
//!
//! All problems of one manifest are collected in one pass. The codes, each with a minimal input
//! that produces it:
//!
//! | code | problem | example |
//! |---|---|---|
//! | X001 | TOML syntax | `name = ` |
//! | X002 | unknown key in any table | `nmae = "x"` in `[plugin]` |
//! | X003 | missing required key or table | `[plugin]` without `author` |
//! | X004 | value of the wrong type | `version = 1` |
//! | X005 | value not among the allowed ones, or empty | `mode = "fast"`, `license = ""` |
//! | X006 | name scripts could not write | `name = "Logging"`, `operators = ["@log"]` |
//! | X007 | the same name listed twice | `operators = ["log", "log"]` |
//! | X008 | bad semver version | `version = "0.1"` |
//! | X009 | bad semver requirement | `core = "^^1"` in `[dependencies]` |
//! | X010 | malformed or unsupported plugin ABI | `abi = "2.0"` |
//! | X011 | library path leaving the plugin folder | `library = "../x.so"` |
//! | X012 | library file missing | no `libtusk_plugin_logging.so` next to `plugin.toml` |
//! | X013 | permission without its list, or list without its permission | `file_system = "read"` without `paths` |
//! | X014 | bad path, host or environment pattern | `paths = ["logs"]`, `hosts = ["example.com"]` |
//! | X015 | configuration schema outside the folder or missing | `schema = "../s.json"` |
//! | X016 | example result that is not JSON | `result = "{"` |
//! | X017 | manifest unreadable | no `plugin.toml` in the folder |
//! | X018 | plugin depending on itself | `logging = "^1"` in logging's `[dependencies]` |

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};
use tusk_diagnostics::{Diagnostic, SourceId, SourceMap};

use crate::names::{is_dotted_name, is_env_pattern, is_name_part, is_plugin_name};
use crate::paths::PATH_VARIABLES;
use crate::toml_check::{self, Checker};

/// The manifest's file name inside a plugin folder.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// The plugin ABI major version this host loads; `abi = "M.m"` must have this major.
///
/// Minor versions only append to the size-prefixed tables, so any minor of the supported major
/// is accepted here; the loader compares the library's own record.
pub const SUPPORTED_ABI_MAJOR: u32 = tusk_plugin_abi::ABI_MAJOR;

/// Where a plugin's code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionMode {
    /// In the interpreter's process: fastest, trusted, permissions advisory.
    InProcess,
    /// In a sandboxed runner process that enforces the permissions.
    Sandboxed,
}

/// File system access a plugin asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAccess {
    /// No file access.
    #[default]
    None,
    /// Reading the listed paths.
    Read,
    /// Reading and writing the listed paths.
    ReadWrite,
}

/// Network access a plugin asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkAccess {
    /// No network.
    #[default]
    None,
    /// Connecting to the listed hosts.
    Outbound,
    /// Listening on the listed addresses (and connecting to them).
    Inbound,
}

/// The `[permissions]` table: what the plugin declares it needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// `file_system`.
    pub file_system: FileAccess,
    /// `paths`: absolute path patterns, possibly starting with `${script_dir}` or `${home}`,
    /// with `*` wildcards inside components. Unexpanded.
    pub paths: Vec<String>,
    /// `network`.
    pub network: NetworkAccess,
    /// `hosts`: `host:port` patterns; `*` in the host or as the port.
    pub hosts: Vec<String>,
    /// `database`.
    pub database: bool,
    /// `env`: environment variable names, `*` wildcards allowed.
    pub env: Vec<String>,
    /// `optional`: the plugin loads without these permissions and uses what the user grants
    /// of them (a logging plugin writes files only where the user configures and grants a
    /// sink; it declares `paths = ["/"]` as optional). Without it every declared permission
    /// must be granted before the plugin loads.
    #[serde(default)]
    pub optional: bool,
}

impl Permissions {
    /// True when the plugin asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.file_system == FileAccess::None
            && self.network == NetworkAccess::None
            && !self.database
            && self.env.is_empty()
    }
}

/// One `[[examples]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// TuskLang code.
    pub code: String,
    /// The expected result, already parsed from its JSON text.
    pub result: Option<serde_json::Value>,
}

/// A validated `plugin.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `[a-z][a-z0-9_]*`; the plugin's identity.
    pub name: String,
    /// The plugin's own version.
    pub version: Version,
    /// One line for listings.
    pub description: String,
    /// Who wrote it.
    pub author: String,
    /// SPDX licence expression.
    pub license: String,
    /// Where the source lives.
    pub repository: String,
    /// The plugin folder, canonical (symbolic links resolved).
    pub dir: PathBuf,
    /// The library, absolute and canonical, inside `dir`.
    pub library: PathBuf,
    /// Plugin ABI `(major, minor)` the library was built for.
    pub abi: (u32, u32),
    /// The mode the plugin asks for (default: in-process for first-party plugins, else sandboxed).
    /// The user's trust decides the mode it really gets.
    pub mode: ExecutionMode,
    /// The manifest claims to be shipped with tusk; only believed for plugins found next to the
    /// executable (see `DiscoveredPlugin::is_first_party`).
    pub first_party: bool,
    /// Whether the host may reload it when its files change.
    pub hot_reload: bool,
    /// Requirements on `tusk`, `core`, `std` and other plugins, sorted by name.
    pub dependencies: Vec<(String, VersionReq)>,
    /// Operators without `@`, as written in scripts.
    pub operators: Vec<String>,
    /// Functions.
    pub functions: Vec<String>,
    /// The types of the plugin objects it creates.
    pub types: Vec<String>,
    /// What the plugin needs.
    pub permissions: Permissions,
    /// The JSON Schema of its configuration, absolute, inside `dir`.
    pub config_schema: Option<PathBuf>,
    /// Examples for `tusk plugin check` and `tusk plugin docs`.
    pub examples: Vec<Example>,
}

impl Manifest {
    /// The `plugin.toml` this manifest was read from.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }
}

/// The library file name a plugin gets when its manifest names none:
/// `libtusk_plugin_<name>.so`, `.dylib` on macOS, `tusk_plugin_<name>.dll` on Windows.
pub fn default_library_name(name: &str) -> String {
    format!("{}tusk_plugin_{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// Reads and validates `dir/plugin.toml`, adding its text to `sources` so that the diagnostics
/// can point into it.
pub fn load_manifest(dir: &Path, sources: &mut SourceMap) -> Result<Manifest, Vec<Diagnostic>> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|error| vec![unreadable(&path, &error)])?;
    let source = sources.add(path.display().to_string(), text.as_str());
    parse_manifest(dir, &text, source)
}

/// Validates manifest `text` of the plugin in `dir`; `source` is the text's id in the caller's
/// source map. The folder must exist: the library and schema paths are checked against it.
pub fn parse_manifest(dir: &Path, text: &str, source: SourceId) -> Result<Manifest, Vec<Diagnostic>> {
    let dir = dir.canonicalize().map_err(|error| vec![unreadable(dir, &error)])?;
    let document = toml_check::parse(text, source)?;
    let mut reader = Reader { checker: Checker::new(source), dir };
    match reader.manifest(document.get_ref()) {
        Some(manifest) if reader.checker.diagnostics.is_empty() => Ok(manifest),
        _ => {
            let mut diagnostics = reader.checker.diagnostics;
            diagnostics.sort_by_key(|d| d.primary.as_ref().map(|label| label.location.span.start));
            Err(diagnostics)
        }
    }
}

/// Example: a folder without `plugin.toml`.
fn unreadable(path: &Path, error: &std::io::Error) -> Diagnostic {
    Diagnostic::error(format!("cannot read {}: {error}", path.display()))
        .with_code("X017")
        .with_help("every plugin folder needs a readable plugin.toml")
}

const TOP_KEYS: &[&str] = &["plugin", "dependencies", "capabilities", "permissions", "config", "examples"];
const PLUGIN_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "author",
    "license",
    "repository",
    "library",
    "abi",
    "mode",
    "first_party",
    "hot_reload",
];
const CAPABILITY_KEYS: &[&str] = &["operators", "functions", "types"];
const PERMISSION_KEYS: &[&str] = &["file_system", "paths", "network", "hosts", "database", "env", "optional"];
const CONFIG_KEYS: &[&str] = &["schema"];
const EXAMPLE_KEYS: &[&str] = &["code", "result"];
/// Dependencies checked against the host instead of other plugins.
const HOST_COMPONENTS: [&str; 3] = ["tusk", "core", "std"];

struct Reader {
    checker: Checker,
    dir: PathBuf,
}

impl Reader {
    fn manifest(&mut self, root: &DeTable<'_>) -> Option<Manifest> {
        self.checker.unknown_keys(root, "plugin.toml", TOP_KEYS);
        let Some(plugin_value) = root.get("plugin") else {
            // Example: an empty plugin.toml.
            self.checker.push(
                Diagnostic::error("missing required table [plugin]")
                    .with_code("X003")
                    .with_primary(self.checker.location(0..0), "the manifest starts here")
                    .with_help("start the file with `[plugin]` and its `name`, `version`, `description`, `author`, `license`, `repository` and `abi`"),
            );
            return None;
        };
        let plugin = self.checker.table(plugin_value, "[plugin]", "[plugin]")?;
        let header = plugin_value.span();
        self.checker.unknown_keys(plugin, "[plugin]", PLUGIN_KEYS);

        let name = self.checker.required_string(plugin, header.clone(), "name", "[plugin]", "name = \"my_plugin\"");
        if let Some((name, span)) = &name
            && !is_plugin_name(name)
        {
            self.invalid_name(
                &format!("invalid plugin name `{name}`"),
                span.clone(),
                "plugin names are lowercase letters, digits and `_`, starting with a letter, like `my_plugin`",
            );
        }
        let version = self
            .checker
            .required_string(plugin, header.clone(), "version", "[plugin]", "version = \"0.1.0\"")
            .and_then(|(text, span)| self.version(text, span));
        let mut text_field = |key: &str, example: &str| {
            let (text, span) = self.checker.required_string(plugin, header.clone(), key, "[plugin]", example)?;
            if text.trim().is_empty() {
                self.checker.push(
                    Diagnostic::error(format!("`{key}` in [plugin] must not be empty"))
                        .with_code("X005")
                        .with_primary(self.checker.location(span), "empty")
                        .with_help(format!("write it like `{example}`")),
                );
                return None;
            }
            Some(text.to_string())
        };
        let description = text_field("description", "description = \"What the plugin does\"");
        let author = text_field("author", "author = \"Ann Example <ann@example.com>\"");
        let license = text_field("license", "license = \"MIT\"");
        let repository = text_field("repository", "repository = \"https://example.com/my_plugin\"");
        let library_field = self.checker.string(plugin, "library", "[plugin]", "library = \"libtusk_plugin_x.so\"");
        let abi = self.checker.required_string(plugin, header.clone(), "abi", "[plugin]", "abi = \"1.0\"");
        let abi = abi.and_then(|(text, span)| self.abi(text, span));
        let mode = self.mode(plugin);
        let first_party = self.checker.bool(plugin, "first_party", "[plugin]", "first_party = false").unwrap_or(false);
        let hot_reload = self.checker.bool(plugin, "hot_reload", "[plugin]", "hot_reload = true").unwrap_or(true);

        let plugin_name = name.as_ref().map(|(name, _)| *name).filter(|name| is_plugin_name(name));
        let library = plugin_name.and_then(|plugin_name| self.library(plugin_name, library_field, header.clone()));
        let dependencies = self.dependencies(root, plugin_name);
        let (operators, functions, types) = self.capabilities(root);
        let permissions = self.permissions(root);
        let config_schema = self.config(root);
        let examples = self.examples(root);

        Some(Manifest {
            name: plugin_name?.to_string(),
            version: version?,
            description: description?,
            author: author?,
            license: license?,
            repository: repository?,
            dir: self.dir.clone(),
            library: library?,
            abi: abi?,
            mode: mode.unwrap_or(if first_party { ExecutionMode::InProcess } else { ExecutionMode::Sandboxed }),
            first_party,
            hot_reload,
            dependencies,
            operators,
            functions,
            types,
            permissions,
            config_schema,
            examples,
        })
    }

    fn invalid_name(&mut self, message: &str, span: Range<usize>, help: &str) {
        self.checker.push(
            Diagnostic::error(message)
                .with_code("X006")
                .with_primary(self.checker.location(span), "not a valid name")
                .with_help(help),
        );
    }

    /// Example: `version = "0.1"`.
    fn version(&mut self, text: &str, span: Range<usize>) -> Option<Version> {
        match Version::parse(text) {
            Ok(version) => Some(version),
            Err(error) => {
                self.checker.push(
                    Diagnostic::error(format!("invalid version `{text}`: {error}"))
                        .with_code("X008")
                        .with_primary(self.checker.location(span), "not a semantic version")
                        .with_help("write a full semantic version such as `0.1.0` or `1.2.3-beta.1`"),
                );
                None
            }
        }
    }

    /// Example: `abi = "1"` (malformed) or `abi = "2.0"` (unsupported).
    fn abi(&mut self, text: &str, span: Range<usize>) -> Option<(u32, u32)> {
        let parsed = text.split_once('.').and_then(|(major, minor)| {
            let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            if !digits(major) || !digits(minor) {
                return None;
            }
            Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
        });
        let location = self.checker.location(span);
        match parsed {
            None => {
                self.checker.push(
                    Diagnostic::error(format!("invalid plugin ABI version `{text}`"))
                        .with_code("X010")
                        .with_primary(location, "expected `major.minor`")
                        .with_help(format!(
                            "write the ABI the plugin was built for, like `abi = \"{SUPPORTED_ABI_MAJOR}.0\"`"
                        )),
                );
                None
            }
            Some((major, minor)) if major != SUPPORTED_ABI_MAJOR => {
                self.checker.push(
                    Diagnostic::error(format!(
                        "unsupported plugin ABI {major}.{minor}; this host loads ABI {SUPPORTED_ABI_MAJOR}.x"
                    ))
                    .with_code("X010")
                    .with_primary(location, format!("built for ABI {major}"))
                    .with_help(format!(
                        "rebuild the plugin against a tusk-plugin-sdk with ABI {SUPPORTED_ABI_MAJOR}, or use a tusk release that loads ABI {major}"
                    )),
                );
                None
            }
            Some(abi) => Some(abi),
        }
    }

    fn mode(&mut self, plugin: &DeTable<'_>) -> Option<ExecutionMode> {
        let (text, span) = self.checker.string(plugin, "mode", "[plugin]", "mode = \"sandboxed\"")?;
        match text {
            // "native" and "isolated" are the spellings of the first manifests, still read.
            "in-process" | "native" => Some(ExecutionMode::InProcess),
            "sandboxed" | "isolated" => Some(ExecutionMode::Sandboxed),
            _ => {
                self.invalid_choice("mode", "[plugin]", text, span, &["in-process", "sandboxed"]);
                None
            }
        }
    }

    /// Example: `mode = "fast"`.
    fn invalid_choice(&mut self, key: &str, table_name: &str, text: &str, span: Range<usize>, allowed: &[&str]) {
        let quoted: Vec<String> = allowed.iter().map(|choice| format!("\"{choice}\"")).collect();
        self.checker.push(
            Diagnostic::error(format!("invalid value \"{text}\" for `{key}` in {table_name}"))
                .with_code("X005")
                .with_primary(self.checker.location(span), format!("expected one of {}", quoted.join(", ")))
                .with_help(format!("use one of {}", quoted.join(", "))),
        );
    }

    /// Checks that the library stays inside the plugin folder and exists.
    fn library(&mut self, name: &str, field: Option<(&str, Range<usize>)>, header: Range<usize>) -> Option<PathBuf> {
        let default = default_library_name(name);
        let (text, span, written) = match field {
            Some((text, span)) => (text.to_string(), span, true),
            None => (default.clone(), header, false),
        };
        let relative = Path::new(&text);
        let escape = if text.is_empty() {
            Some("is empty")
        } else if relative.has_root()
            || relative.is_absolute()
            || relative.components().any(|c| matches!(c, Component::Prefix(_)))
        {
            Some("is absolute")
        } else if relative.components().any(|c| c == Component::ParentDir) {
            Some("leaves the plugin folder")
        } else {
            None
        };
        let help = format!("name the library relative to the plugin folder, like `library = \"{default}\"`");
        if let Some(reason) = escape {
            // Example: `library = "../libx.so"`.
            self.checker.push(
                Diagnostic::error(format!("library path `{text}` {reason}"))
                    .with_code("X011")
                    .with_primary(self.checker.location(span), "must be a file inside the plugin folder")
                    .with_help(help),
            );
            return None;
        }
        let label = if written { "no such file" } else { "the default library name comes from `name`" };
        let Ok(canonical) = self.dir.join(relative).canonicalize() else {
            // Example: a plugin folder that was never built.
            self.checker.push(
                Diagnostic::error(format!("library `{text}` not found in the plugin folder"))
                    .with_code("X012")
                    .with_primary(self.checker.location(span), label)
                    .with_help(format!(
                        "build the plugin and copy its library to {}, or set `library` in [plugin] to its file name",
                        self.dir.display()
                    )),
            );
            return None;
        };
        if !canonical.starts_with(&self.dir) {
            // Example: `libx.so` is a symbolic link to `/usr/lib/libx.so`.
            self.checker.push(
                Diagnostic::error(format!("library path `{text}` leads outside the plugin folder"))
                    .with_code("X011")
                    .with_primary(self.checker.location(span), format!("resolves to {}", canonical.display()))
                    .with_help("copy the library into the plugin folder instead of linking to it"),
            );
            return None;
        }
        if !canonical.is_file() {
            self.checker.push(
                Diagnostic::error(format!("library `{text}` is not a file"))
                    .with_code("X012")
                    .with_primary(self.checker.location(span), label)
                    .with_help(help),
            );
            return None;
        }
        Some(canonical)
    }

    fn dependencies(&mut self, root: &DeTable<'_>, plugin_name: Option<&str>) -> Vec<(String, VersionReq)> {
        let Some(value) = root.get("dependencies") else {
            return Vec::new();
        };
        let Some(table) = self.checker.table(value, "[dependencies]", "[dependencies]") else {
            return Vec::new();
        };
        let mut dependencies = Vec::new();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            if !HOST_COMPONENTS.contains(&name) && !is_plugin_name(name) {
                self.invalid_name(
                    &format!("invalid plugin name `{name}` in [dependencies]"),
                    key.span(),
                    "list `tusk`, `core`, `std` or plugin names (lowercase letters, digits and `_`)",
                );
                continue;
            }
            if Some(name) == plugin_name {
                self.checker.push(
                    Diagnostic::error(format!("plugin `{name}` depends on itself"))
                        .with_code("X018")
                        .with_primary(self.checker.location(key.span()), "this is the plugin's own name")
                        .with_help("remove this line"),
                );
                continue;
            }
            let DeValue::String(text) = value.get_ref() else {
                self.checker.wrong_type(
                    value,
                    &format!("`{name}` in [dependencies]"),
                    "a string",
                    &format!("{name} = \"^1.0\""),
                );
                continue;
            };
            match VersionReq::parse(text) {
                Ok(requirement) => dependencies.push((name.to_string(), requirement)),
                // Example: `core = "^^1"`.
                Err(error) => self.checker.push(
                    Diagnostic::error(format!("invalid version requirement `{text}` for `{name}`: {error}"))
                        .with_code("X009")
                        .with_primary(self.checker.location(value.span()), "not a semver requirement")
                        .with_help("write a requirement such as `^1.2`, `~0.3` or `>=0.1, <1`"),
                ),
            }
        }
        dependencies.sort_by(|a, b| a.0.cmp(&b.0));
        dependencies
    }

    fn capabilities(&mut self, root: &DeTable<'_>) -> (Vec<String>, Vec<String>, Vec<String>) {
        let empty = (Vec::new(), Vec::new(), Vec::new());
        let Some(value) = root.get("capabilities") else {
            return empty;
        };
        let Some(table) = self.checker.table(value, "[capabilities]", "[capabilities]") else {
            return empty;
        };
        self.checker.unknown_keys(table, "[capabilities]", CAPABILITY_KEYS);
        let operators = self.symbol_list(table, "operators", "operator", "operators = [\"log\", \"log.set_level\"]");
        let functions = self.symbol_list(table, "functions", "function", "functions = [\"my_function\"]");
        let types = self.symbol_list(table, "types", "type", "types = [\"my_plugin.handle\"]");
        (operators, functions, types)
    }

    fn symbol_list(&mut self, table: &DeTable<'_>, key: &str, kind: &str, example: &str) -> Vec<String> {
        let Some((entries, _)) = self.checker.string_list(table, key, "[capabilities]", example) else {
            return Vec::new();
        };
        let mut names: Vec<String> = Vec::with_capacity(entries.len());
        let mut spans: Vec<Range<usize>> = Vec::with_capacity(entries.len());
        for (name, span) in entries {
            let valid = match kind {
                "function" => is_name_part(name),
                _ => is_dotted_name(name),
            };
            if !valid {
                let help = if let Some(bare) = name.strip_prefix('@').filter(|_| kind == "operator") {
                    format!("write operators without `@`, like `{bare}`")
                } else if kind == "function" && is_dotted_name(name) {
                    "function names cannot be dotted; only operators can (`@log.set_level`)".to_string()
                } else {
                    "names are letters, digits, `_` and `-`, not starting with a digit; parts may be joined with `.`"
                        .to_string()
                };
                self.invalid_name(&format!("invalid {kind} name `{name}`"), span, &help);
                continue;
            }
            if let Some(first) = names.iter().position(|existing| existing == name) {
                // Example: `operators = ["log", "log"]`.
                self.checker.push(
                    Diagnostic::error(format!("{kind} `{name}` is listed twice"))
                        .with_code("X007")
                        .with_primary(self.checker.location(span), "listed again here")
                        .with_secondary(self.checker.location(spans[first].clone()), "first listed here")
                        .with_help("remove one of them"),
                );
                continue;
            }
            names.push(name.to_string());
            spans.push(span);
        }
        names
    }

    fn permissions(&mut self, root: &DeTable<'_>) -> Permissions {
        let mut permissions = Permissions::default();
        let Some(value) = root.get("permissions") else {
            return permissions;
        };
        let Some(table) = self.checker.table(value, "[permissions]", "[permissions]") else {
            return permissions;
        };
        self.checker.unknown_keys(table, "[permissions]", PERMISSION_KEYS);
        let file_system = self.checker.string(table, "file_system", "[permissions]", "file_system = \"read\"");
        if let Some((text, span)) = &file_system {
            match *text {
                "none" => {}
                "read" => permissions.file_system = FileAccess::Read,
                "read_write" => permissions.file_system = FileAccess::ReadWrite,
                _ => self.invalid_choice(
                    "file_system",
                    "[permissions]",
                    text,
                    span.clone(),
                    &["none", "read", "read_write"],
                ),
            }
        }
        let paths = self.checker.string_list(table, "paths", "[permissions]", "paths = [\"${script_dir}/data\"]");
        if let Some((entries, _)) = &paths {
            for (pattern, span) in entries {
                match path_pattern_problem(pattern) {
                    Some(problem) => self.invalid_pattern("path", pattern, span.clone(), &problem, PATH_HELP),
                    None => permissions.paths.push(pattern.to_string()),
                }
            }
        }
        self.needs_list(
            ("file_system", file_system.as_ref(), permissions.file_system != FileAccess::None),
            (
                "paths",
                paths.as_ref().map(|(entries, span)| (entries.len(), span.clone())),
                "paths = [\"${script_dir}/data\"]",
            ),
            "file_system = \"read\"",
        );

        let network = self.checker.string(table, "network", "[permissions]", "network = \"outbound\"");
        if let Some((text, span)) = &network {
            match *text {
                "none" => {}
                "outbound" => permissions.network = NetworkAccess::Outbound,
                "inbound" => permissions.network = NetworkAccess::Inbound,
                _ => self.invalid_choice(
                    "network",
                    "[permissions]",
                    text,
                    span.clone(),
                    &["none", "outbound", "inbound"],
                ),
            }
        }
        let hosts = self.checker.string_list(table, "hosts", "[permissions]", "hosts = [\"api.example.com:443\"]");
        if let Some((entries, _)) = &hosts {
            for (pattern, span) in entries {
                match host_pattern_problem(pattern) {
                    Some(problem) => self.invalid_pattern("host", pattern, span.clone(), problem, HOST_HELP),
                    None => permissions.hosts.push(pattern.to_string()),
                }
            }
        }
        self.needs_list(
            ("network", network.as_ref(), permissions.network != NetworkAccess::None),
            (
                "hosts",
                hosts.as_ref().map(|(entries, span)| (entries.len(), span.clone())),
                "hosts = [\"api.example.com:443\"]",
            ),
            "network = \"outbound\"",
        );

        permissions.database =
            self.checker.bool(table, "database", "[permissions]", "database = true").unwrap_or(false);
        if let Some((entries, _)) =
            self.checker.string_list(table, "env", "[permissions]", "env = [\"HOME\", \"TUSK_*\"]")
        {
            for (pattern, span) in entries {
                if is_env_pattern(pattern) {
                    permissions.env.push(pattern.to_string());
                } else {
                    self.invalid_pattern(
                        "environment variable",
                        pattern,
                        span,
                        "only letters, digits, `_` and `*` are allowed",
                        "list variable names such as `HOME` or `TUSK_*`",
                    );
                }
            }
        }
        permissions.optional =
            self.checker.bool(table, "optional", "[permissions]", "optional = true").unwrap_or(false);
        permissions
    }

    /// A permission other than "none" needs a non-empty list; a list needs its permission.
    ///
    /// Example: `file_system = "read"` without `paths`, or `hosts = [...]` without `network`.
    fn needs_list(
        &mut self,
        (permission, permission_field, granted): (&str, Option<&(&str, Range<usize>)>, bool),
        (list, list_field, list_example): (&str, Option<(usize, Range<usize>)>, &str),
        permission_example: &str,
    ) {
        match (granted, permission_field, list_field) {
            (true, Some((text, span)), None | Some((0, _))) => self.checker.push(
                Diagnostic::error(format!("`{permission} = \"{text}\"` needs a non-empty `{list}` list"))
                    .with_code("X013")
                    .with_primary(self.checker.location(span.clone()), format!("which {list}?"))
                    .with_help(format!("add `{list_example}` to [permissions]")),
            ),
            (false, _, Some((count, span))) if count > 0 => self.checker.push(
                Diagnostic::error(format!("`{list}` has no effect without `{permission}`"))
                    .with_code("X013")
                    .with_primary(self.checker.location(span), format!("`{permission}` is \"none\""))
                    .with_help(format!("add `{permission_example}` to [permissions], or remove `{list}`")),
            ),
            _ => {}
        }
    }

    fn invalid_pattern(&mut self, kind: &str, pattern: &str, span: Range<usize>, problem: &str, help: &str) {
        // Example: `paths = ["logs"]`.
        self.checker.push(
            Diagnostic::error(format!("invalid {kind} pattern `{pattern}`: {problem}"))
                .with_code("X014")
                .with_primary(self.checker.location(span), problem.to_string())
                .with_help(help),
        );
    }

    fn config(&mut self, root: &DeTable<'_>) -> Option<PathBuf> {
        let value = root.get("config")?;
        let table = self.checker.table(value, "[config]", "[config]")?;
        self.checker.unknown_keys(table, "[config]", CONFIG_KEYS);
        let (text, span) = self.checker.string(table, "schema", "[config]", "schema = \"config.schema.json\"")?;
        let relative = Path::new(text);
        let problem = if text.is_empty() || relative.has_root() || relative.is_absolute() {
            Some("must be a path relative to the plugin folder".to_string())
        } else if relative.components().any(|c| c == Component::ParentDir) {
            Some("leaves the plugin folder".to_string())
        } else {
            match self.dir.join(relative).canonicalize() {
                Err(_) => Some("no such file in the plugin folder".to_string()),
                Ok(canonical) if !canonical.starts_with(&self.dir) => {
                    Some(format!("leads outside the plugin folder (to {})", canonical.display()))
                }
                Ok(canonical) if !canonical.is_file() => Some("is not a file".to_string()),
                Ok(canonical) => return Some(canonical),
            }
        };
        let problem = problem.unwrap_or_default();
        // Example: `schema = "../schema.json"`.
        self.checker.push(
            Diagnostic::error(format!("configuration schema `{text}` {problem}"))
                .with_code("X015")
                .with_primary(self.checker.location(span), problem)
                .with_help("put the JSON Schema file in the plugin folder, like `schema = \"config.schema.json\"`"),
        );
        None
    }

    fn examples(&mut self, root: &DeTable<'_>) -> Vec<Example> {
        let Some(value) = root.get("examples") else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.checker.wrong_type(value, "[[examples]]", "an array of tables", "[[examples]]");
            return Vec::new();
        };
        let mut examples = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let table_name = format!("example {}", index + 1);
            let Some(table) = self.checker.table(item, &table_name, "[[examples]]") else {
                continue;
            };
            self.checker.unknown_keys(table, &table_name, EXAMPLE_KEYS);
            let code = self.checker.required_string(table, item.span(), "code", &table_name, "code = '@my_op(1)'");
            let result = self.checker.string(table, "result", &table_name, "result = 'null'");
            let result = match result {
                None => Some(None),
                Some((text, span)) => match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(json) => Some(Some(json)),
                    Err(error) => {
                        // Example: `result = "{"`.
                        self.checker.push(
                            Diagnostic::error(format!("`result` of {table_name} is not valid JSON: {error}"))
                                .with_code("X016")
                                .with_primary(self.checker.location(span), "expected JSON text")
                                .with_help("write the expected value as JSON, like `result = '{\"ok\": true}'`"),
                        );
                        None
                    }
                },
            };
            if let (Some((code, _)), Some(result)) = (code, result) {
                examples.push(Example { code: code.to_string(), result });
            }
        }
        examples
    }
}

const PATH_HELP: &str = "write an absolute path or start with ${script_dir} or ${home}, like `${script_dir}/logs`; `*` matches within one path component";
const HOST_HELP: &str =
    "write `host:port`, like `api.example.com:443`; `*` may stand for part of the host or for any port (`127.0.0.1:*`)";

/// Why `pattern` is not an acceptable path pattern, if it is not.
pub(crate) fn path_pattern_problem(pattern: &str) -> Option<String> {
    if let Some(rest) = pattern.strip_prefix("${") {
        let Some((variable, after)) = rest.split_once('}') else {
            return Some("`${` without a closing `}`".to_string());
        };
        if !PATH_VARIABLES.contains(&variable) {
            return Some(format!("unknown variable `${{{variable}}}`"));
        }
        if !(after.is_empty() || after.starts_with('/') || after.starts_with('\\')) {
            return Some(format!("`${{{variable}}}` must be followed by `/`"));
        }
        if after.contains("${") {
            return Some("variables may only start a pattern".to_string());
        }
        return parent_components(after);
    }
    if pattern.contains("${") {
        return Some("variables may only start a pattern".to_string());
    }
    if !Path::new(pattern).is_absolute() {
        return Some("must be absolute or start with a variable".to_string());
    }
    parent_components(pattern)
}

fn parent_components(path: &str) -> Option<String> {
    Path::new(path).components().any(|c| c == Component::ParentDir).then(|| "must not contain `..`".to_string())
}

/// Why `pattern` is not an acceptable `host:port` pattern, if it is not.
pub(crate) fn host_pattern_problem(pattern: &str) -> Option<&'static str> {
    let Some((host, port)) = pattern.rsplit_once(':') else {
        return Some("expected `host:port`");
    };
    if port != "*" && port.parse::<u16>().is_err() {
        return Some("the port must be a number up to 65535 or `*`");
    }
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.' || c == '*')
    } else {
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '*')
    };
    if !host_ok {
        return Some("the host must be a name, an IPv4 address or a bracketed IPv6 address");
    }
    None
}

#[cfg(test)]
mod tests;
