//! Finding installed plugins: an ordered search path, one level deep, manifests only (no library
//! is opened), with an index file so that an unchanged installation parses no TOML at start-up.
//!
//! The search path is `TUSK_PLUGIN_PATH`, then the project's `plugins/` folder, then the user's
//! data folder, then the bundled folder of the executable: `<prefix>/lib/tusk/plugins` for a
//! `tusk` installed as `<prefix>/bin/tusk`, else `plugins/` next to the executable (the build
//! tree, where `cargo xtask build` lays the standard plugins out). A plugin name found in an earlier folder
//! shadows the same name in later ones. The index maps each manifest path to the parsed manifest
//! and the modification stamps of the manifest and the library; an entry whose stamps both
//! match is reused without reading the manifest.
//!
//! Diagnostic codes: X020 two plugins provide one symbol, X021 a plugin shadows another
//! (warning), X022 a search folder cannot be read (warning), X023 a preference names a plugin
//! that does not provide the symbol, X024 a plugin redefines a built-in symbol.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use tusk_diagnostics::{Diagnostic, SourceMap};
use tusk_eval::{Registry, SymbolKind};

use crate::manifest::{MANIFEST_FILE, Manifest, SUPPORTED_ABI_MAJOR, load_manifest};

/// Which entry of the search path a folder came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Origin {
    /// An entry of `TUSK_PLUGIN_PATH`.
    EnvPath,
    /// `plugins/` in the script's (or working) directory.
    Project,
    /// `~/.local/share/tusk/plugins` (or under `$XDG_DATA_HOME`).
    User,
    /// The plugins shipped with tusk: `../lib/tusk/plugins` from the executable's folder, or
    /// `plugins/` next to the executable.
    Bundled,
}

/// One folder of the search path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRoot {
    /// A folder whose subfolders are plugin folders.
    pub dir: PathBuf,
    /// Where it came from.
    pub origin: Origin,
}

/// The folders searched for plugins, earlier ones first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchPath {
    /// The folders in search order.
    pub roots: Vec<SearchRoot>,
}

impl SearchPath {
    /// The standard search path from the environment: `TUSK_PLUGIN_PATH`, `project_dir/plugins`,
    /// the user's data folder and the bundled folder of the running executable.
    pub fn standard(project_dir: Option<&Path>) -> SearchPath {
        let env_path = std::env::var_os("TUSK_PLUGIN_PATH");
        let exe_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
        SearchPath::from_parts(
            env_path.as_deref(),
            project_dir,
            crate::paths::user_plugins_dir().as_deref(),
            exe_dir.as_deref(),
        )
    }

    /// The search path from explicit parts (what [`SearchPath::standard`] reads from the
    /// environment): an OS path list, the project directory (its `plugins/` is searched), the
    /// user's plugin folder and the executable's directory (its [`bundled_dir`] is searched).
    /// Empty list entries and repeated folders are dropped.
    pub fn from_parts(
        env_path: Option<&OsStr>,
        project_dir: Option<&Path>,
        user_dir: Option<&Path>,
        exe_dir: Option<&Path>,
    ) -> SearchPath {
        let mut search = SearchPath::default();
        let mut add = |dir: PathBuf, origin: Origin| {
            if !dir.as_os_str().is_empty() && !search.roots.iter().any(|root| root.dir == dir) {
                search.roots.push(SearchRoot { dir, origin });
            }
        };
        for dir in env_path.map(|paths| std::env::split_paths(paths).collect::<Vec<_>>()).unwrap_or_default() {
            add(dir, Origin::EnvPath);
        }
        if let Some(project_dir) = project_dir {
            add(project_dir.join("plugins"), Origin::Project);
        }
        if let Some(user_dir) = user_dir {
            add(user_dir.to_path_buf(), Origin::User);
        }
        if let Some(exe_dir) = exe_dir {
            add(bundled_dir(exe_dir), Origin::Bundled);
        }
        search
    }
}

/// The folder of the plugins shipped with the `tusk` in `exe_dir`: `<prefix>/lib/tusk/plugins`
/// when the executable is installed as `<prefix>/bin/tusk` (that folder exists), else
/// `plugins/` beside the executable.
pub fn bundled_dir(exe_dir: &Path) -> PathBuf {
    let installed = exe_dir.join("..").join("lib").join("tusk").join("plugins");
    if installed.is_dir() { crate::paths::normalize(&installed) } else { exe_dir.join("plugins") }
}

/// An installed plugin as discovery found it.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveredPlugin {
    /// Its validated manifest.
    pub manifest: Manifest,
    /// The search path entry it was found in.
    pub origin: Origin,
    /// Folders of plugins with the same name that this one hides (later in the search path).
    pub shadowed: Vec<PathBuf>,
}

impl DiscoveredPlugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// True for a plugin that says it is first-party *and* was found next to the executable.
    /// A `first_party = true` anywhere else is a claim nobody checked, so it earns no trust.
    pub fn is_first_party(&self) -> bool {
        self.manifest.first_party && self.origin == Origin::Bundled
    }
}

/// What the index did during one discovery (for tests, `tusk plugin status` and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Manifests taken from the index without reading them.
    pub reused: usize,
    /// Manifests read and parsed (new, changed, invalid, or no index).
    pub parsed: usize,
    /// Whether the index file was (re)written.
    pub written: bool,
}

/// Who provides a symbol.
#[derive(Clone, Debug)]
enum Provider {
    One(usize),
    /// Several plugins and no preference: nobody gets it until the user chooses.
    Conflict(Vec<usize>),
}

/// Every installed, valid plugin, with lookups by name and by the symbols they provide.
#[derive(Debug, Default)]
pub struct Catalog {
    /// The plugins, in search order.
    pub plugins: Vec<DiscoveredPlugin>,
    /// Invalid manifests, conflicts, shadowing notes.
    pub diagnostics: Vec<Diagnostic>,
    /// What the index did.
    pub stats: IndexStats,
    by_name: HashMap<String, usize>,
    symbols: HashMap<(SymbolKind, String), Provider>,
    types: HashMap<String, Provider>,
}

impl Catalog {
    /// Builds a catalog from plugins in search order: the first of each name wins, symbols are
    /// indexed and conflicts resolved by `preferences` (symbol as written, `@op` or `function`,
    /// to plugin name).
    pub fn new(found: Vec<DiscoveredPlugin>, preferences: &HashMap<String, String>) -> Catalog {
        // Sized once: a manifest is a large value, and a growing vector copies all of them.
        let mut catalog = Catalog { plugins: Vec::with_capacity(found.len()), ..Catalog::default() };
        for plugin in found {
            if let Some(&winner) = catalog.by_name.get(plugin.name()) {
                let kept: &mut DiscoveredPlugin = &mut catalog.plugins[winner];
                kept.shadowed.push(plugin.manifest.dir.clone());
                // Example: `logging` both in `TUSK_PLUGIN_PATH` and in the user's data folder.
                catalog.diagnostics.push(
                    Diagnostic::warning(format!(
                        "plugin `{}` in {} shadows the one in {}",
                        plugin.name(),
                        kept.manifest.dir.display(),
                        plugin.manifest.dir.display()
                    ))
                    .with_code("X021")
                    .with_note(format!(
                        "using version {} from {}; version {} is ignored",
                        kept.manifest.version,
                        kept.manifest.dir.display(),
                        plugin.manifest.version
                    ))
                    .with_help("remove the plugin folder you do not want, or reorder TUSK_PLUGIN_PATH"),
                );
                continue;
            }
            catalog.by_name.insert(plugin.name().to_string(), catalog.plugins.len());
            catalog.plugins.push(plugin);
        }

        // One hash insert per symbol and no formatting on the common path (one provider):
        // this runs at every start-up for every installed plugin.
        let n_symbols = catalog.plugins.iter().map(|p| p.manifest.operators.len() + p.manifest.functions.len()).sum();
        let mut symbols: HashMap<(SymbolKind, String), Provider> = HashMap::with_capacity(n_symbols);
        let mut types: HashMap<String, Provider> = HashMap::new();
        fn add<K: std::hash::Hash + Eq>(table: &mut HashMap<K, Provider>, key: K, index: usize) {
            match table.entry(key) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(Provider::One(index));
                }
                std::collections::hash_map::Entry::Occupied(mut slot) => match slot.get_mut() {
                    Provider::One(first) => {
                        let first = *first;
                        slot.insert(Provider::Conflict(vec![first, index]));
                    }
                    Provider::Conflict(indexes) => indexes.push(index),
                },
            }
        }
        for (index, plugin) in catalog.plugins.iter().enumerate() {
            for operator in &plugin.manifest.operators {
                add(&mut symbols, (SymbolKind::Operator, operator.clone()), index);
            }
            for function in &plugin.manifest.functions {
                add(&mut symbols, (SymbolKind::Function, function.clone()), index);
            }
            for type_name in &plugin.manifest.types {
                add(&mut types, type_name.clone(), index);
            }
        }
        let mut conflicts: Vec<(SymbolKind, String, Vec<usize>)> = symbols
            .iter()
            .filter_map(|((kind, name), provider)| match provider {
                Provider::Conflict(indexes) => Some((*kind, name.clone(), indexes.clone())),
                Provider::One(_) => None,
            })
            .collect();
        conflicts.sort_by(|a, b| (a.0 == SymbolKind::Function, &a.1).cmp(&(b.0 == SymbolKind::Function, &b.1)));
        for (kind, name, providers) in conflicts {
            let provider = catalog.choose(&written_name(kind, &name), providers, preferences);
            symbols.insert((kind, name), provider);
        }
        // Preferences for symbols with a single provider can still name the wrong plugin.
        let mut preferred: Vec<(&String, &String)> = preferences.iter().collect();
        preferred.sort();
        for (written, plugin) in preferred {
            let key = match written.strip_prefix('@') {
                Some(operator) => (SymbolKind::Operator, operator.to_string()),
                None => (SymbolKind::Function, written.clone()),
            };
            if let Some(Provider::One(index)) = symbols.get(&key)
                && catalog.plugins[*index].name() != plugin
            {
                catalog.wrong_preference(written, plugin, &[catalog.plugins[*index].name().to_string()]);
            }
        }
        let mut type_conflicts: Vec<(String, Vec<usize>)> = types
            .iter()
            .filter_map(|(name, provider)| match provider {
                Provider::Conflict(indexes) => Some((name.clone(), indexes.clone())),
                Provider::One(_) => None,
            })
            .collect();
        type_conflicts.sort();
        for (name, providers) in type_conflicts {
            catalog.type_conflict(&name, &providers);
        }
        catalog.symbols = symbols;
        catalog.types = types;
        catalog
    }

    /// Example: `"@log" = "metrics"` while only `logging` provides `@log`.
    fn wrong_preference(&mut self, written: &str, preferred: &str, names: &[String]) {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.diagnostics.push(
            Diagnostic::error(format!(
                "the preference for `{written}` names plugin `{preferred}`, which does not provide it"
            ))
            .with_code("X023")
            .with_note(format!("`{written}` is provided by {}", list_names(&names)))
            .with_help(format!("prefer {}", list_names(&names).replace(" and ", " or "))),
        );
    }

    /// Picks the provider of a symbol several plugins declare, reporting the conflict unless a
    /// preference names one of them.
    fn choose(&mut self, written: &str, providers: Vec<usize>, preferences: &HashMap<String, String>) -> Provider {
        let names: Vec<&str> = providers.iter().map(|&index| self.plugins[index].name()).collect();
        if let Some(preferred) = preferences.get(written) {
            if let Some(position) = names.iter().position(|name| name == preferred) {
                return Provider::One(providers[position]);
            }
            let owned: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            self.wrong_preference(written, preferred, &owned);
        }
        let names: Vec<&str> = providers.iter().map(|&index| self.plugins[index].name()).collect();
        // Example: plugins `logging` and `audit` both list `log` in `operators`.
        self.diagnostics.push(
            Diagnostic::error(format!("`{written}` is provided by {}", list_names(&names)))
                .with_code("X020")
                .with_note(
                    providers
                        .iter()
                        .map(|&index| {
                            let manifest = &self.plugins[index].manifest;
                            format!("`{}` is in {}", manifest.name, manifest.dir.display())
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
                .with_help(format!(
                    "uninstall one of them, or choose one: `\"{written}\" = \"{}\"` under [plugin_preferences] in ~/.config/tusk/config.toml",
                    names[0]
                )),
        );
        Provider::Conflict(providers)
    }

    /// Object types have no preference: two plugins creating one type would confuse their
    /// objects, whichever is loaded.
    fn type_conflict(&mut self, name: &str, providers: &[usize]) {
        let names: Vec<&str> = providers.iter().map(|&index| self.plugins[index].name()).collect();
        // Example: plugins `a` and `b` both list `types = ["shared.handle"]`.
        self.diagnostics.push(
            Diagnostic::error(format!("type `{name}` is created by {}", list_names(&names)))
                .with_code("X020")
                .with_help(
                    "handle type names must be unique; prefix them with the plugin name, like `my_plugin.handle`",
                ),
        );
    }

    /// The plugin called `name`.
    pub fn plugin(&self, name: &str) -> Option<&DiscoveredPlugin> {
        self.by_name.get(name).map(|&index| &self.plugins[index])
    }

    /// The plugin that provides operator (`@` omitted) or function `name`; `None` when nobody
    /// does or when several do and no preference chose one.
    pub fn provider(&self, kind: SymbolKind, name: &str) -> Option<&DiscoveredPlugin> {
        match self.symbols.get(&(kind, name.to_string()))? {
            Provider::One(index) => Some(&self.plugins[*index]),
            Provider::Conflict(_) => None,
        }
    }

    /// Every plugin that declares the symbol, in search order.
    pub fn providers(&self, kind: SymbolKind, name: &str) -> Vec<&DiscoveredPlugin> {
        match self.symbols.get(&(kind, name.to_string())) {
            None => Vec::new(),
            Some(Provider::One(index)) => vec![&self.plugins[*index]],
            Some(Provider::Conflict(indexes)) => indexes.iter().map(|&index| &self.plugins[index]).collect(),
        }
    }

    /// The plugin that creates handle type `name`.
    pub fn type_provider(&self, name: &str) -> Option<&DiscoveredPlugin> {
        match self.types.get(name)? {
            Provider::One(index) => Some(&self.plugins[*index]),
            Provider::Conflict(_) => None,
        }
    }

    /// A hint for an unknown symbol: which installed plugin provides it, or `None`.
    ///
    /// Example: `operator `@log` is provided by plugin `logging` 0.1.0, which is installed but
    /// not loaded`.
    pub fn unknown_symbol_hint(&self, kind: SymbolKind, name: &str) -> Option<String> {
        let providers = self.providers(kind, name);
        let written = written_name(kind, name);
        let what = match kind {
            SymbolKind::Operator => "operator",
            SymbolKind::Function => "function",
        };
        match providers.as_slice() {
            [] => None,
            [plugin] => Some(format!(
                "{what} `{written}` is provided by plugin `{}` {}, which is installed but not loaded",
                plugin.name(),
                plugin.manifest.version
            )),
            several => {
                let names: Vec<&str> = several.iter().map(|plugin| plugin.name()).collect();
                Some(format!(
                    "{what} `{written}` is provided by {}; choose one in [plugin_preferences]",
                    list_names(&names)
                ))
            }
        }
    }

    /// Errors for plugins that declare a symbol the built-in `core` or `std` sets (or anything
    /// else already in `registry`) provide: registering them would fail later, at first use.
    pub fn check_builtins(&self, registry: &Registry) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for plugin in &self.plugins {
            let declared = plugin
                .manifest
                .operators
                .iter()
                .map(|name| (SymbolKind::Operator, name))
                .chain(plugin.manifest.functions.iter().map(|name| (SymbolKind::Function, name)));
            for (kind, name) in declared {
                let existing = match kind {
                    SymbolKind::Operator => registry.operator(name),
                    SymbolKind::Function => registry.function(name),
                };
                if let Some(symbol) = existing {
                    // Example: a plugin declaring `operators = ["json.parse"]`.
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "plugin `{}` declares `{}`, which the built-in `{}` set provides",
                            plugin.name(),
                            written_name(kind, name),
                            symbol.plugin
                        ))
                        .with_code("X024")
                        .with_note(format!("the plugin is in {}", plugin.manifest.dir.display()))
                        .with_help("rename the symbol in the plugin; built-in symbols cannot be replaced"),
                    );
                }
            }
        }
        diagnostics
    }
}

/// `@name` for operators, `name` for functions: how scripts and preferences write them.
fn written_name(kind: SymbolKind, name: &str) -> String {
    match kind {
        SymbolKind::Operator => format!("@{name}"),
        SymbolKind::Function => name.to_string(),
    }
}

/// "`a` and `b`", "`a`, `b` and `c`".
pub(crate) fn list_names(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Finds every plugin on `search`, reusing and refreshing the index at `index_file` (none:
/// parse everything). Manifests that were read are added to `sources` so that their
/// diagnostics can be rendered. Never fails: problems end up in [`Catalog::diagnostics`].
pub fn discover(
    search: &SearchPath,
    index_file: Option<&Path>,
    preferences: &HashMap<String, String>,
    sources: &mut SourceMap,
) -> Catalog {
    let mut old_index = index_file.and_then(read_index).unwrap_or_default();
    let mut stats = IndexStats::default();
    let mut diagnostics = Vec::new();
    // Sized for the installation the index knows (a manifest is a large value, and a growing
    // vector copies all of them).
    let mut found = Vec::with_capacity(old_index.entries.len());
    // Index keys and stamps, parallel to `found`, so the index can be written from borrowed
    // manifests instead of clones.
    let mut stamps: Vec<(String, Stamp, Option<Stamp>)> = Vec::with_capacity(old_index.entries.len());
    for root in &search.roots {
        let entries = match std::fs::read_dir(&root.dir) {
            Ok(entries) => entries,
            // Most search folders do not exist on most machines; that is not worth a word.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                // Example: a `plugins/` folder without read permission.
                diagnostics.push(
                    Diagnostic::warning(format!("cannot read plugin folder {}: {error}", root.dir.display()))
                        .with_code("X022")
                        .with_help("fix its permissions or remove it from the search path"),
                );
                continue;
            }
        };
        let mut folders: Vec<std::ffi::OsString> = entries
            .filter_map(Result::ok)
            // The entry's type comes with the directory listing on most systems: plain files
            // are skipped without a `stat`. Links are kept (a linked plugin folder is fine).
            .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_file()))
            .map(|entry| entry.file_name())
            .filter(|name| !name.as_encoded_bytes().starts_with(b"."))
            .collect();
        // Directory order is the file system's; sorting makes shadowing within one root stable.
        // By name, which orders the folders of one root as their paths would, without
        // comparing paths component by component.
        folders.sort_unstable();
        for name in folders {
            let folder = root.dir.join(name);
            let manifest_path = folder.join(MANIFEST_FILE);
            let Ok(metadata) = std::fs::metadata(&manifest_path) else {
                continue;
            };
            if !metadata.is_file() {
                continue;
            }
            let key = manifest_path.to_string_lossy().into_owned();
            let manifest_stamp = Stamp::of(&metadata);
            let cached = old_index.entries.remove(&key).and_then(|entry| entry.fresh(manifest_stamp));
            let (manifest, library_stamp) = match cached {
                Some(fresh) => {
                    stats.reused += 1;
                    fresh
                }
                None => {
                    stats.parsed += 1;
                    match load_manifest(&folder, sources) {
                        Ok(manifest) => {
                            let library_stamp = stamp_of_path(&manifest.library);
                            (manifest, library_stamp)
                        }
                        Err(errors) => {
                            diagnostics.extend(errors);
                            continue;
                        }
                    }
                }
            };
            found.push(DiscoveredPlugin { manifest, origin: root.origin, shadowed: Vec::new() });
            stamps.push((key, manifest_stamp, library_stamp));
        }
    }
    // Rewrite when something was parsed or something disappeared; an unchanged installation
    // costs no write.
    if let Some(index_file) = index_file
        && (stats.parsed > 0 || !old_index.entries.is_empty() || !old_index.matches_host())
    {
        let entries = stamps
            .iter()
            .zip(&found)
            .map(|((key, manifest, library), plugin)| (key.as_str(), *manifest, *library, &plugin.manifest));
        stats.written = index_file::encode(INDEX_FORMAT, &host_id(), entries)
            .is_some_and(|bytes| write_index(index_file, &bytes).is_ok());
    }
    let mut catalog = Catalog::new(found, preferences);
    diagnostics.append(&mut catalog.diagnostics);
    catalog.diagnostics = diagnostics;
    catalog.stats = stats;
    catalog
}

/// Bumped when the entry layout or the meaning of a cached manifest changes.
const INDEX_FORMAT: u32 = 3;

/// The index file as read: parsed manifests keyed by manifest path.
struct Index {
    /// Whether the file was written by this host in this format (another host version or
    /// ABI rebuilds everything: a newer host may validate manifests differently).
    current: bool,
    entries: HashMap<String, IndexEntry>,
}

impl Default for Index {
    fn default() -> Index {
        Index { current: true, entries: HashMap::new() }
    }
}

impl Index {
    fn matches_host(&self) -> bool {
        self.current
    }
}

fn host_id() -> String {
    format!("tusk-plugin-catalog {} abi {SUPPORTED_ABI_MAJOR}", env!("CARGO_PKG_VERSION"))
}

/// One cached manifest with the stamps of its manifest file and library.
///
/// The configuration schema has no stamp: it is read afresh whenever a plugin is configured,
/// so a changed schema needs no index refresh (and start-up saves a `stat` per plugin).
type IndexEntry = index_file::Entry;

impl IndexEntry {
    /// The cached manifest (and library stamp) if the manifest and the library are as they
    /// were when it was cached.
    fn fresh(self, manifest: Stamp) -> Option<(Manifest, Option<Stamp>)> {
        let library = stamp_of_path(&self.plugin.library);
        (self.manifest == manifest && library.is_some() && library == self.library).then_some((self.plugin, library))
    }
}

/// What tells a changed file from an unchanged one without reading it.
///
/// The change time is included where the platform has one: tools that copy files while
/// keeping their modification time (`cp -p`, tar, rsync -t) still change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified_ns: u64,
    changed_ns: i64,
    size: u64,
}

impl Stamp {
    fn of(metadata: &Metadata) -> Stamp {
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
        #[cfg(unix)]
        let changed_ns = {
            use std::os::unix::fs::MetadataExt;
            metadata.ctime().saturating_mul(1_000_000_000).saturating_add(metadata.ctime_nsec())
        };
        #[cfg(not(unix))]
        let changed_ns = 0;
        Stamp { modified_ns, changed_ns, size: metadata.len() }
    }
}

fn stamp_of_path(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|metadata| Stamp::of(&metadata))
}

/// The index at `path`, or `None` when it is missing, unreadable, corrupt or from another host:
/// every one of those just means "parse everything" (and a rewrite: an index from another
/// host counts as out of date).
fn read_index(path: &Path) -> Option<Index> {
    let bytes = std::fs::read(path).ok()?;
    match index_file::decode(&bytes, INDEX_FORMAT, &host_id()) {
        Some(entries) => Some(Index { current: true, entries }),
        None => Some(Index { current: false, entries: HashMap::new() }),
    }
}

/// Writes the index through a temporary file and a rename, so that a concurrent tusk reads
/// either the old or the new index, never half of one.
fn write_index(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut temporary = path.as_os_str().to_os_string();
    temporary.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

mod index_file;

#[cfg(test)]
pub(crate) mod tests;
