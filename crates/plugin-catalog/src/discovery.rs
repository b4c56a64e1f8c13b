//! Finding installed plugins: an ordered search path, one level deep, manifests only (no library
//! is opened), with an index file so that an unchanged installation parses no TOML at start-up.
//!
//! The search path is `TUSK_PLUGIN_PATH`, then the project's `plugins/` folder, then the user's
//! data folder, then the bundled folder of the executable: `<prefix>/lib/tusk/plugins` for a
//! `tusk` installed as `<prefix>/bin/tusk`, else `plugins/` next to the executable (the build
//! tree, where `cargo xtask build` lays the standard plugins out). A plugin name found in an earlier folder
//! shadows the same name in later ones. The index holds, per manifest path, the stamps of the
//! manifest and the library and the encoded manifest; an entry whose manifest stamp matches is
//! reused without reading the manifest (one `stat` per installed plugin), and its manifest is
//! decoded only when something asks for it. The library's stamp is compared when the plugin is
//! about to be loaded ([`DiscoveredPlugin::check_library`]), not at every start-up.
//!
//! Diagnostic codes: X020 two plugins provide one symbol, X021 a plugin shadows another
//! (warning), X022 a search folder cannot be read (warning), X023 a preference names a plugin
//! that does not provide the symbol, X024 a plugin redefines a built-in symbol.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tusk_diagnostics::{Diagnostic, SourceMap};
use tusk_eval::{Key, Registry, SymbolKind};

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
///
/// A plugin taken from the discovery index keeps only its name and which entry of the index
/// (shared by every plugin of one discovery) it is: its manifest is decoded on the first call of
/// [`DiscoveredPlugin::manifest`], so that start-up allocates nothing for an installed plugin
/// that a script does not use. A manifest is boxed: a catalogue of a thousand plugins is built
/// and moved at every start-up, so a plugin stays a few words.
#[derive(Clone)]
pub struct DiscoveredPlugin {
    /// The search path entry it was found in.
    pub origin: Origin,
    /// Folders of plugins with the same name that this one hides (later in the search path).
    pub shadowed: Vec<PathBuf>,
    name: Key,
    manifest: Held,
}

/// Where a plugin's manifest is.
#[derive(Clone)]
enum Held {
    /// Parsed from its file.
    Parsed(Box<Manifest>),
    /// Entry `at` of the index it was read from, and the manifest once decoded.
    Indexed { index: Arc<index_file::Heads>, at: usize, decoded: OnceLock<Box<Manifest>> },
}

impl DiscoveredPlugin {
    /// A plugin whose manifest was read from its folder.
    pub fn new(manifest: Manifest, origin: Origin) -> DiscoveredPlugin {
        DiscoveredPlugin {
            origin,
            shadowed: Vec::new(),
            name: Key::new(&manifest.name),
            manifest: Held::Parsed(Box::new(manifest)),
        }
    }

    fn from_index(index: &Arc<index_file::Heads>, at: usize, origin: Origin) -> DiscoveredPlugin {
        DiscoveredPlugin {
            origin,
            shadowed: Vec::new(),
            name: index.entries[at].name.clone(),
            manifest: Held::Indexed { index: index.clone(), at, decoded: OnceLock::new() },
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its validated manifest (decoded from the index on first use).
    pub fn manifest(&self) -> &Manifest {
        match &self.manifest {
            Held::Parsed(manifest) => manifest,
            Held::Indexed { index, at, decoded } => decoded
                .get_or_init(|| Box::new(index.manifest(*at).unwrap_or_else(|| self.reread_manifest(index, *at)))),
        }
    }

    /// The manifest from the plugin's folder, for an index entry whose body does not decode
    /// although its head did (only a damaged index file or a bug gets here). Should the file
    /// no longer parse either, the plugin keeps its name and symbols and gets a manifest
    /// without permissions, sandboxed, whose library path is the one the index recorded: loading
    /// it checks the library's own record, so nothing the index cannot vouch for is trusted.
    fn reread_manifest(&self, index: &index_file::Heads, at: usize) -> Manifest {
        let entry = &index.entries[at];
        let key = index.path(entry.key.clone()).unwrap_or(Path::new(""));
        let folder = key.parent().unwrap_or(key);
        if let Ok(manifest) = load_manifest(folder, &mut SourceMap::new()) {
            return manifest;
        }
        let [operators, functions, types] = index.symbols(at).map(|names| names.iter().map(Key::to_string).collect());
        Manifest {
            name: self.name.to_string(),
            version: semver::Version::new(0, 0, 0),
            description: String::new(),
            author: String::new(),
            license: String::new(),
            repository: String::new(),
            dir: folder.to_path_buf(),
            library: index.path(entry.library_path.clone()).map(Path::to_path_buf).unwrap_or_default(),
            abi: (SUPPORTED_ABI_MAJOR, 0),
            mode: crate::manifest::ExecutionMode::Sandboxed,
            first_party: false,
            hot_reload: false,
            dependencies: Vec::new(),
            operators,
            functions,
            types,
            permissions: crate::manifest::Permissions::default(),
            config_schema: None,
            examples: Vec::new(),
        }
    }

    /// Checks, before the plugin's library is loaded, that the library is still one its
    /// manifest's checks accept: start-up stats only manifests, so a library removed, rewritten
    /// or replaced since discovery indexed it is noticed here, once per load, by comparing its
    /// stamp with the one the index recorded (one `stat`). When they differ, the plugin's
    /// manifest is read and checked again from its folder: a library that is gone (X012) or now
    /// leads outside the folder (X011) is an error (diagnostics pointing into `sources`), and
    /// one that passes has its new stamp written into the index, so that the next process's
    /// check is one `stat` again. A plugin whose manifest this discovery parsed was checked
    /// moments ago and is not looked at again.
    pub fn check_library(&self, sources: &mut SourceMap) -> Result<(), Vec<Diagnostic>> {
        let Held::Indexed { index, at, .. } = &self.manifest else { return Ok(()) };
        let entry = &index.entries[*at];
        let library = index.path(entry.library_path.clone()).and_then(stamp_of_path);
        if library.is_some() && library == entry.library {
            return Ok(());
        }
        let manifest_path = index.path(entry.key.clone()).unwrap_or(Path::new(""));
        let manifest_stamp = stamp_of_path(manifest_path);
        let manifest = load_manifest(manifest_path.parent().unwrap_or(manifest_path), sources)?;
        // The new stamp is recorded only for the manifest the entry holds (unchanged since
        // discovery) and a library at the path it names, stat'ed before the checks: a file that
        // changes during them has another stamp again, and is checked again next time.
        if manifest_stamp == Some(entry.manifest)
            && index.path(entry.library_path.clone()) == Some(manifest.library.as_path())
            && let (Some(old), Some(new)) = (entry.library, library)
        {
            refresh_library_stamp(&index.file, &index.bytes[entry.key.clone()], entry.manifest, old, new);
        }
        Ok(())
    }

    /// Calls `each` for every operator (`@` omitted) and function the manifest declares,
    /// without decoding the manifest.
    pub fn for_each_declared(&self, mut each: impl FnMut(SymbolKind, &str)) {
        self.for_each_name(|list, name| match list {
            0 => each(SymbolKind::Operator, name.as_str()),
            1 => each(SymbolKind::Function, name.as_str()),
            _ => {}
        });
    }

    /// Operators (list 0), functions (1) and types (2): from the index's head for a plugin taken
    /// from the index (also once its manifest is decoded, so that every walk agrees with the
    /// catalogue's tables), else from the manifest.
    fn for_each_name(&self, mut each: impl FnMut(usize, &Key)) {
        match &self.manifest {
            Held::Indexed { index, at, .. } => {
                for (list, names) in index.symbols(*at).into_iter().enumerate() {
                    for name in names {
                        each(list, name);
                    }
                }
            }
            Held::Parsed(manifest) => {
                for (list, names) in [&manifest.operators, &manifest.functions, &manifest.types].into_iter().enumerate()
                {
                    for name in names {
                        each(list, &Key::new(name));
                    }
                }
            }
        }
    }

    fn manifest_if_decoded(&self) -> Option<&Manifest> {
        match &self.manifest {
            Held::Parsed(manifest) => Some(manifest),
            Held::Indexed { decoded, .. } => decoded.get().map(|manifest| &**manifest),
        }
    }

    /// True for a plugin that says it is first-party *and* was found next to the executable.
    /// A `first_party = true` anywhere else is a claim nobody checked, so it earns no trust.
    pub fn is_first_party(&self) -> bool {
        self.origin == Origin::Bundled && self.manifest().first_party
    }
}

impl PartialEq for DiscoveredPlugin {
    fn eq(&self, other: &DiscoveredPlugin) -> bool {
        self.origin == other.origin && self.shadowed == other.shadowed && self.manifest() == other.manifest()
    }
}

impl std::fmt::Debug for DiscoveredPlugin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DiscoveredPlugin")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("shadowed", &self.shadowed)
            .field("manifest", &self.manifest_if_decoded())
            .finish()
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

/// The catalogue's tables, keyed by inline names (no allocation for a name of up to 23 bytes)
/// and hashed with foldhash: every installed plugin's symbols are inserted at every start-up, and
/// the names are not chosen by an attacker.
type Table<V> = HashMap<Key, V, foldhash::fast::RandomState>;

/// Every installed, valid plugin, with lookups by name and by the symbols they provide.
#[derive(Debug, Default)]
pub struct Catalog {
    /// The plugins, in search order.
    pub plugins: Vec<DiscoveredPlugin>,
    /// Invalid manifests, conflicts, shadowing notes.
    pub diagnostics: Vec<Diagnostic>,
    /// What the index did.
    pub stats: IndexStats,
    by_name: Table<usize>,
    operators: Table<Provider>,
    functions: Table<Provider>,
    types: Table<Provider>,
    /// Per plugin: whether another plugin declares one of its names too (see
    /// [`Catalog::for_each_provided`]).
    contested: Vec<bool>,
}

impl Catalog {
    /// Builds a catalog from plugins in search order: the first of each name wins, symbols are
    /// indexed and conflicts resolved by `preferences` (symbol as written, `@op` or `function`,
    /// to plugin name).
    pub fn new(found: Vec<DiscoveredPlugin>, preferences: &HashMap<String, String>) -> Catalog {
        // The plugins stay in the vector they were found in (no move of every plugin into a
        // new one): only shadowed ones are taken out, which is rare.
        let mut catalog = Catalog {
            by_name: Table::with_capacity_and_hasher(found.len(), Default::default()),
            plugins: found,
            ..Catalog::default()
        };
        let mut hidden = Vec::new();
        for index in 0..catalog.plugins.len() {
            let winner = match catalog.by_name.entry(catalog.plugins[index].name.clone()) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(index);
                    continue;
                }
                std::collections::hash_map::Entry::Occupied(slot) => *slot.get(),
            };
            let (kept, plugin) = (&catalog.plugins[winner], &catalog.plugins[index]);
            let (kept_manifest, hidden_manifest) = (kept.manifest(), plugin.manifest());
            // Example: `logging` both in `TUSK_PLUGIN_PATH` and in the user's data folder.
            let diagnostic = Diagnostic::warning(format!(
                "plugin `{}` in {} shadows the one in {}",
                plugin.name(),
                kept_manifest.dir.display(),
                hidden_manifest.dir.display()
            ))
            .with_code("X021")
            .with_note(format!(
                "using version {} from {}; version {} is ignored",
                kept_manifest.version,
                kept_manifest.dir.display(),
                hidden_manifest.version
            ))
            .with_help("remove the plugin folder you do not want, or reorder TUSK_PLUGIN_PATH");
            let dir = hidden_manifest.dir.clone();
            catalog.plugins[winner].shadowed.push(dir);
            catalog.diagnostics.push(diagnostic);
            hidden.push(index);
        }
        if !hidden.is_empty() {
            let mut index = 0;
            catalog.plugins.retain(|_| {
                index += 1;
                hidden.binary_search(&(index - 1)).is_err()
            });
            catalog.by_name.clear();
            for (index, plugin) in catalog.plugins.iter().enumerate() {
                catalog.by_name.insert(plugin.name.clone(), index);
            }
        }

        // One hash insert per symbol and no formatting on the common path (one provider):
        // this runs at every start-up for every installed plugin. A plugin any of whose names
        // another one declares too is marked contested, so that [`Catalog::for_each_provided`]
        // looks up the provider of its names only then.
        let mut operators: Table<Provider> = Table::with_capacity_and_hasher(catalog.plugins.len(), Default::default());
        let mut functions: Table<Provider> = Table::with_capacity_and_hasher(catalog.plugins.len(), Default::default());
        let mut types: Table<Provider> = Table::default();
        let mut contested = vec![false; catalog.plugins.len()];
        fn add(table: &mut Table<Provider>, key: &Key, index: usize, contested: &mut [bool]) {
            match table.entry(key.clone()) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(Provider::One(index));
                }
                std::collections::hash_map::Entry::Occupied(mut slot) => {
                    contested[index] = true;
                    match slot.get_mut() {
                        Provider::One(first) => {
                            let first = *first;
                            contested[first] = true;
                            slot.insert(Provider::Conflict(vec![first, index]));
                        }
                        Provider::Conflict(indexes) => indexes.push(index),
                    }
                }
            }
        }
        for (index, plugin) in catalog.plugins.iter().enumerate() {
            plugin.for_each_name(|list, name| {
                let table = match list {
                    0 => &mut operators,
                    1 => &mut functions,
                    _ => &mut types,
                };
                add(table, name, index, &mut contested);
            });
        }
        fn conflicts(table: &Table<Provider>) -> impl Iterator<Item = (String, Vec<usize>)> + '_ {
            table.iter().filter_map(|(name, provider)| match provider {
                Provider::Conflict(indexes) => Some((name.to_string(), indexes.clone())),
                Provider::One(_) => None,
            })
        }
        let mut symbol_conflicts: Vec<(SymbolKind, String, Vec<usize>)> = conflicts(&operators)
            .map(|(name, indexes)| (SymbolKind::Operator, name, indexes))
            .chain(conflicts(&functions).map(|(name, indexes)| (SymbolKind::Function, name, indexes)))
            .collect();
        symbol_conflicts.sort_by(|a, b| (a.0 == SymbolKind::Function, &a.1).cmp(&(b.0 == SymbolKind::Function, &b.1)));
        for (kind, name, providers) in symbol_conflicts {
            let provider = catalog.choose(&written_name(kind, &name), providers, preferences);
            let table = match kind {
                SymbolKind::Operator => &mut operators,
                SymbolKind::Function => &mut functions,
            };
            table.insert(Key::new(&name), provider);
        }
        // Preferences for symbols with a single provider can still name the wrong plugin.
        let mut preferred: Vec<(&String, &String)> = preferences.iter().collect();
        preferred.sort();
        for (written, plugin) in preferred {
            let provider = match written.strip_prefix('@') {
                Some(operator) => operators.get(operator),
                None => functions.get(written.as_str()),
            };
            if let Some(Provider::One(index)) = provider
                && catalog.plugins[*index].name() != plugin
            {
                catalog.wrong_preference(written, plugin, &[catalog.plugins[*index].name().to_string()]);
            }
        }
        let mut type_conflicts: Vec<(String, Vec<usize>)> = conflicts(&types).collect();
        type_conflicts.sort();
        for (name, providers) in type_conflicts {
            catalog.type_conflict(&name, &providers);
        }
        catalog.operators = operators;
        catalog.functions = functions;
        catalog.types = types;
        catalog.contested = contested;
        catalog
    }

    fn table(&self, kind: SymbolKind) -> &Table<Provider> {
        match kind {
            SymbolKind::Operator => &self.operators,
            SymbolKind::Function => &self.functions,
        }
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
                            let manifest = self.plugins[index].manifest();
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
        self.provider_index(kind, name).map(|index| &self.plugins[index])
    }

    /// Where in [`Catalog::plugins`] the provider of `name` is (see [`Catalog::provider`]).
    pub fn provider_index(&self, kind: SymbolKind, name: &str) -> Option<usize> {
        match self.table(kind).get(name)? {
            Provider::One(index) => Some(*index),
            Provider::Conflict(_) => None,
        }
    }

    /// Calls `each` for every operator (`@` omitted) and function the plugin at `index` provides:
    /// what it declares, less what another plugin was preferred for, and less what several
    /// plugins provide without a preference (reported as X020 when the catalogue was built).
    /// The names come from the index without decoding the manifest; only a plugin whose names
    /// another one declares too has each name's provider looked up.
    pub fn for_each_provided(&self, index: usize, mut each: impl FnMut(SymbolKind, &str)) {
        let Some(plugin) = self.plugins.get(index) else { return };
        if !self.is_contested(index) {
            plugin.for_each_declared(each);
        } else {
            plugin.for_each_declared(|kind, name| {
                if self.provider_index(kind, name) == Some(index) {
                    each(kind, name);
                }
            });
        }
    }

    /// Whether another plugin declares one of the names of the plugin at `index` (then it may
    /// provide less than it declares).
    pub fn is_contested(&self, index: usize) -> bool {
        self.contested.get(index) != Some(&false)
    }

    /// Every plugin that declares the symbol, in search order.
    pub fn providers(&self, kind: SymbolKind, name: &str) -> Vec<&DiscoveredPlugin> {
        match self.table(kind).get(name) {
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
                plugin.manifest().version
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
        (0..self.plugins.len()).flat_map(|index| self.builtin_clashes(index, registry)).collect()
    }

    /// [`Catalog::check_builtins`] for the plugin at `index`.
    pub fn builtin_clashes(&self, index: usize, registry: &Registry) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        let Some(plugin) = self.plugins.get(index) else { return diagnostics };
        plugin.for_each_declared(|kind, name| {
            let existing = match kind {
                SymbolKind::Operator => registry.operator(name),
                SymbolKind::Function => registry.function(name),
            };
            if let Some(symbol) = existing {
                diagnostics.push(builtin_clash(plugin, kind, name, &symbol.plugin));
            }
        });
        diagnostics
    }
}

/// The error for a plugin that declares `name`, which the built-in `set` (or another source the
/// registry had before the plugins) provides (see [`Catalog::check_builtins`]).
pub fn builtin_clash(plugin: &DiscoveredPlugin, kind: SymbolKind, name: &str, set: &str) -> Diagnostic {
    // Example: a plugin declaring `operators = ["json.parse"]`.
    Diagnostic::error(format!(
        "plugin `{}` declares `{}`, which the built-in `{set}` set provides",
        plugin.name(),
        written_name(kind, name),
    ))
    .with_code("X024")
    .with_note(format!("the plugin is in {}", plugin.manifest().dir.display()))
    .with_help("rename the symbol in the plugin; built-in symbols cannot be replaced")
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
///
/// An index entry is reused when the stamp of the plugin's `plugin.toml` is the one it was
/// cached with: one `stat` per installed plugin. A folder's own time stamps would not do: they
/// do not change when a file in the folder is rewritten in place (an edited manifest), and a
/// stale entry must never be served. The library's stamp, the other fact an entry depends on
/// (the manifest's checks want the library to exist inside the folder), is compared only when
/// the plugin is loaded ([`DiscoveredPlugin::check_library`]): most installed plugins are not
/// used by a given script, and a `stat` each was half of what they cost a start-up.
pub fn discover(
    search: &SearchPath,
    index_file: Option<&Path>,
    preferences: &HashMap<String, String>,
    sources: &mut SourceMap,
) -> Catalog {
    let mut old_index = index_file.and_then(read_index).unwrap_or_default();
    let mut stats = IndexStats::default();
    let mut diagnostics = Vec::new();
    let mut found = Vec::with_capacity(old_index.heads.entries.len());
    // What the index would be rewritten with, parallel to `found`.
    let mut sources_of: Vec<Cached> = Vec::with_capacity(old_index.heads.entries.len());
    // One buffer for every manifest path.
    let mut manifest_path = PathBuf::new();
    // `/plugin.toml`, appended to each folder's path as bytes.
    let manifest_file = {
        let mut file = std::ffi::OsString::from(std::path::MAIN_SEPARATOR_STR);
        file.push(MANIFEST_FILE);
        file
    };
    // `name/plugin.toml`, relative to a root, as bytes.
    let mut relative = Vec::new();
    for root in &search.roots {
        let listing = match listing::Listing::read(&root.dir) {
            Ok(listing) => listing,
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
        let root_prefix = root.dir.join("");
        for name in listing.folders() {
            // `root/name/plugin.toml`, appended as bytes (the root ends with a separator).
            let path = manifest_path.as_mut_os_string();
            path.clear();
            path.push(&root_prefix);
            path.push(name);
            path.push(&manifest_file);
            relative.clear();
            relative.extend_from_slice(name.as_encoded_bytes());
            relative.extend_from_slice(manifest_file.as_encoded_bytes());
            let Some((manifest_stamp, true)) = listing.stamp(&relative, &manifest_path) else {
                continue;
            };
            let cached = old_index
                .take(manifest_path.as_os_str().as_encoded_bytes())
                .filter(|&at| old_index.heads.entries[at].manifest == manifest_stamp);
            if let Some(at) = cached {
                stats.reused += 1;
                found.push(DiscoveredPlugin::from_index(&old_index.heads, at, root.origin));
                sources_of.push(Cached::Kept(at));
                continue;
            }
            stats.parsed += 1;
            let folder = manifest_path.parent().unwrap_or(&manifest_path);
            match load_manifest(folder, sources) {
                Ok(manifest) => {
                    let library_stamp = stamp_of_path(&manifest.library);
                    let key = manifest_path.to_string_lossy().into_owned();
                    found.push(DiscoveredPlugin::new(manifest, root.origin));
                    sources_of.push(Cached::Parsed(key, manifest_stamp, library_stamp));
                }
                Err(errors) => diagnostics.extend(errors),
            }
        }
    }
    // Rewrite when something was parsed, disappeared or moved; an unchanged installation costs
    // no write.
    if let Some(index_file) = index_file
        && (stats.parsed > 0 || old_index.changed())
    {
        let items = sources_of.iter().zip(&found).map(|(cached, plugin)| match cached {
            Cached::Kept(at) => {
                index_file::Item::Kept(&old_index.heads.bytes[old_index.heads.entries[*at].whole.clone()])
            }
            Cached::Parsed(key, manifest, library) => {
                index_file::Item::New(key, *manifest, *library, plugin.manifest())
            }
        });
        stats.written = index_file::encode(INDEX_FORMAT, &host_id(), items)
            .is_some_and(|bytes| write_index(index_file, &bytes).is_ok());
    }
    let mut catalog = Catalog::new(found, preferences);
    diagnostics.append(&mut catalog.diagnostics);
    catalog.diagnostics = diagnostics;
    catalog.stats = stats;
    catalog
}

/// Where a discovered plugin's index entry comes from when the index is rewritten.
enum Cached {
    /// The entry of the index that was read (its bytes are copied).
    Kept(usize),
    /// A manifest that was parsed: its path and the stamps of it and its library.
    Parsed(String, Stamp, Option<Stamp>),
}

/// Bumped when the entry layout or the meaning of a cached manifest changes.
const INDEX_FORMAT: u32 = 4;

/// The index file as read: its bytes and the heads of its entries (shared with the plugins taken
/// from it), in the order discovery wrote them, which is the order it meets them in again.
struct Index {
    /// Whether the file was written by this host in this format (another host version or
    /// ABI rebuilds everything: a newer host may validate manifests differently).
    current: bool,
    heads: Arc<index_file::Heads>,
    /// Which entries discovery has looked up.
    taken: Vec<bool>,
    /// The entry the next look-up most likely wants.
    next: usize,
    /// Set when an entry was wanted before one that precedes it: the index is rewritten in the
    /// new order, so that later look-ups are again one comparison each.
    out_of_order: bool,
}

impl Default for Index {
    fn default() -> Index {
        Index::new(true, index_file::Heads::default())
    }
}

impl Index {
    fn new(current: bool, heads: index_file::Heads) -> Index {
        Index { current, taken: vec![false; heads.entries.len()], heads: Arc::new(heads), next: 0, out_of_order: false }
    }

    /// The entry cached for manifest path `key` (its bytes), marked as looked up.
    fn take(&mut self, key: &[u8]) -> Option<usize> {
        let entries = &self.heads.entries;
        let matches = |at: usize| !self.taken[at] && self.heads.bytes.get(entries[at].key.clone()) == Some(key);
        let at = if self.next < entries.len() && matches(self.next) {
            self.next
        } else {
            (0..entries.len()).find(|&at| matches(at))?
        };
        self.out_of_order |= at < self.next;
        self.next = at + 1;
        self.taken[at] = true;
        Some(at)
    }

    /// Whether the file must be rewritten even if no manifest was parsed: written by another
    /// host, an entry nobody looked up (a removed plugin) or entries in another order.
    fn changed(&self) -> bool {
        !self.current || self.out_of_order || self.taken.iter().any(|taken| !taken)
    }
}

fn host_id() -> String {
    format!("tusk-plugin-catalog {} abi {SUPPORTED_ABI_MAJOR}", env!("CARGO_PKG_VERSION"))
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
    /// A stamp from the raw fields: seconds and nanoseconds of the modification and change
    /// times, and the size.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn from_parts(modified_s: i64, modified_ns: u32, changed_s: i64, changed_ns: u32, size: u64) -> Stamp {
        let modified_ns = u64::try_from(modified_s)
            .map_or(0, |seconds| seconds.saturating_mul(1_000_000_000).saturating_add(u64::from(modified_ns)));
        let changed_ns = changed_s.saturating_mul(1_000_000_000).saturating_add(i64::from(changed_ns));
        Stamp { modified_ns, changed_ns, size }
    }

    fn of(metadata: &Metadata) -> Stamp {
        // Nanoseconds since 1970 (0 before it), from the raw fields where there are some:
        // `modified()` builds a `SystemTime` and a `Duration` for the same number, two stamps
        // per installed plugin at every start-up.
        #[cfg(unix)]
        let (modified_ns, changed_ns) = {
            use std::os::unix::fs::MetadataExt;
            let modified_ns = u64::try_from(metadata.mtime()).map_or(0, |seconds| {
                seconds.saturating_mul(1_000_000_000).saturating_add(u64::try_from(metadata.mtime_nsec()).unwrap_or(0))
            });
            (modified_ns, metadata.ctime().saturating_mul(1_000_000_000).saturating_add(metadata.ctime_nsec()))
        };
        #[cfg(not(unix))]
        let (modified_ns, changed_ns) = {
            let modified_ns = metadata
                .modified()
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
            (modified_ns, 0)
        };
        Stamp { modified_ns, changed_ns, size: metadata.len() }
    }
}

fn stamp_of_path(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|metadata| Stamp::of(&metadata))
}

/// The index at `path`, or `None` when it is missing or unreadable; a corrupt file or one
/// from another host reads as an empty index that is out of date: every one of those just
/// means "parse everything" (and a rewrite).
fn read_index(path: &Path) -> Option<Index> {
    let bytes = std::fs::read(path).ok()?;
    match index_file::decode(bytes, INDEX_FORMAT, &host_id()) {
        Some(mut heads) => {
            heads.file = path.to_path_buf();
            Some(Index::new(true, heads))
        }
        None => Some(Index::new(false, index_file::Heads::default())),
    }
}

/// Records `new` as the library stamp of the entry of index `file` for manifest path `key`,
/// if the file still holds that entry as it was read (manifest stamp `manifest`, library stamp
/// `old`): the file is read again, since another process may have rewritten it since. Any
/// failure leaves the file as it is, which only costs the next load the same checks again.
fn refresh_library_stamp(file: &Path, key: &[u8], manifest: Stamp, old: Stamp, new: Stamp) {
    let Ok(bytes) = std::fs::read(file) else { return };
    let Some(heads) = index_file::decode(bytes, INDEX_FORMAT, &host_id()) else { return };
    let Some(at) = heads.entries.iter().find_map(|entry| {
        (heads.bytes.get(entry.key.clone()) == Some(key) && entry.manifest == manifest && entry.library == Some(old))
            .then_some(entry.library_stamp_at)
            .flatten()
    }) else {
        return;
    };
    let mut bytes = heads.bytes;
    if index_file::patch_stamp(&mut bytes, at, new).is_some() {
        let _ = write_index(file, &bytes);
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
mod listing;

#[cfg(test)]
pub(crate) mod tests;
