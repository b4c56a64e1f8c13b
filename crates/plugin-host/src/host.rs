//! `PluginHost`: the plugins an engine can use. At start-up it only reads manifests (through
//! the discovery index) and hands the registry the catalogue as the source of every declared
//! operator and function: the registry makes a plugin's lazy stubs on the first look-up of one
//! of its names (compiling a script that uses it), and the first call of one resolves the plugin's dependencies, checks permissions, builds its
//! configuration, loads and initialises each plugin in order, and patches the stub so later
//! calls go straight to the plugin. Plugins are shut down in reverse order when the host is
//! dropped (the engine's drop, the end of the process, Ctrl-C).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tusk_diagnostics::{Diagnostic, SourceMap};
use tusk_eval::{
    CallContext, DeferredSymbols, Implementation, Key, Registry, RegistryError, RuntimeError, SymbolKind, Value,
};

use crate::ffi::HostServices;
use crate::loader::{Expected, LoadedPlugin, cache_copy, load};
use tusk_plugin_catalog::discovery::{Catalog, DiscoveredPlugin, SearchPath, builtin_clash, discover};
use tusk_plugin_catalog::manifest::Permissions;
use tusk_plugin_catalog::permissions::{Grants, PluginGrants, Refusal, check};
use tusk_plugin_catalog::resolve::{HostVersions, resolve};

/// Where plugins come from and what they may do.
pub struct HostSettings {
    /// Folders searched for plugins, in order.
    pub search: SearchPath,
    /// The discovery index (`None`: read every manifest every time).
    pub index_file: Option<PathBuf>,
    /// Where loaded libraries are copied (content-addressed).
    pub cache_dir: PathBuf,
    /// Which plugin provides a symbol several plugins provide (`symbol` → plugin).
    pub preferences: HashMap<String, String>,
    /// What the user granted.
    pub grants: Grants,
    /// Versions plugins' `[dependencies]` are checked against.
    pub versions: HostVersions,
    /// Which plugins run sandboxed regardless of trust (`--sandbox`, `--sandbox-all`), and the
    /// sandboxed runners' limits (`--plugin-timeout`).
    pub sandbox: crate::sandboxed::SandboxSettings,
    /// The user's configuration file (`[plugins.NAME]` tables, `[plugin_preferences]`).
    pub config_file: Option<PathBuf>,
    /// True (the default): a plugin whose registrations differ from its manifest's
    /// `[capabilities]` is refused. False only for `tusk plugin check --write-capabilities`,
    /// which loads a plugin to rewrite those lists.
    pub verify_capabilities: bool,
    /// Loading only to look at plugins (`tusk plugin docs`, `tusk plugin check`): every
    /// plugin runs sandboxed, trusted or not, and one whose declared permissions are not all
    /// granted loads anyway, with the part that is granted (the rest is refused).
    pub inspecting: bool,
}

impl HostSettings {
    /// The standard settings for scripts in `script_dir`: the standard search path, index and
    /// cache in the user's cache folder, no grants.
    pub fn standard(script_dir: &Path) -> HostSettings {
        let cache_root = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .map(|cache| cache.join("tusk"))
            .unwrap_or_else(|| std::env::temp_dir().join("tusk-cache"));
        HostSettings {
            search: SearchPath::standard(Some(script_dir)),
            index_file: tusk_plugin_catalog::paths::default_index_file(),
            cache_dir: std::env::var_os("TUSK_PLUGIN_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| cache_root.join("plugins")),
            preferences: HashMap::new(),
            grants: Grants::new(script_dir),
            versions: current_versions(),
            sandbox: crate::sandboxed::SandboxSettings::default(),
            config_file: tusk_plugin_catalog::paths::default_config_file(),
            verify_capabilities: true,
            inspecting: false,
        }
    }
}

/// The versions of tusk and of the built-in `core` and `std` sets (released together).
pub fn current_versions() -> HostVersions {
    let version = semver::Version::parse(env!("CARGO_PKG_VERSION")).unwrap_or(semver::Version::new(0, 0, 0));
    HostVersions { tusk: version.clone(), core: version.clone(), std: version }
}

/// Host services backed by the user's grants and the plugins' declarations.
struct GrantedServices {
    grants: Grants,
    /// What each loaded plugin's manifest declares (a plugin missing here declared nothing).
    declared: RefCell<HashMap<String, Permissions>>,
    per_plugin: RefCell<HashMap<String, PluginGrants>>,
    log: Rc<dyn Fn(&str)>,
    cancelled: Arc<AtomicBool>,
    /// The engine's event loop (set by the engine before any plugin loads).
    events: RefCell<Option<tusk_eval::events::EventSender>>,
}

impl GrantedServices {
    fn with<T>(&self, plugin: &str, check: impl FnOnce(&PluginGrants) -> T) -> T {
        let mut cache = self.per_plugin.borrow_mut();
        let grants = cache.entry(plugin.to_string()).or_insert_with(|| self.plugin_grants(plugin));
        check(grants)
    }

    /// What `plugin` may do: granted and declared.
    fn plugin_grants(&self, plugin: &str) -> PluginGrants {
        let declared = self.declared.borrow().get(plugin).cloned().unwrap_or_default();
        self.grants.for_plugin(plugin, &declared)
    }

    /// Records what `plugin` declares (before it loads, and again when a reload swaps in a
    /// build with another manifest).
    fn declare(&self, plugin: &str, permissions: &Permissions) {
        self.declared.borrow_mut().insert(plugin.to_string(), permissions.clone());
        self.per_plugin.borrow_mut().remove(plugin);
    }

    /// The message for a refused access: the flag that would grant it, or (granted but not
    /// declared) that the plugin's manifest must ask for it first.
    fn refused(plugin: &str, what: &str, flag: &str, why: Refusal) -> String {
        match why {
            Refusal::NotGranted => format!("plugin `{plugin}` may not {what}; run with {flag} to allow it"),
            Refusal::NotDeclared => format!(
                "plugin `{plugin}` may not {what}: its manifest does not declare it (under [permissions] in its \
                 plugin.toml), so the grant does not apply to it"
            ),
        }
    }
}

impl HostServices for GrantedServices {
    fn may_read(&self, plugin: &str, path: &Path) -> Result<PathBuf, String> {
        let checked = self.with(plugin, |grants| match grants.read_refusal(path) {
            None => Ok(grants.resolve(path)),
            Some(why) => Err(why),
        });
        checked.map_err(|why| {
            let resolved = self.resolve_path(plugin, path);
            let what = format!("read {}", shown(path, &resolved));
            Self::refused(plugin, &what, &format!("--allow-read={}", resolved.display()), why)
        })
    }

    fn may_write(&self, plugin: &str, path: &Path) -> Result<PathBuf, String> {
        let checked = self.with(plugin, |grants| match grants.write_refusal(path) {
            None => Ok(grants.resolve(path)),
            Some(why) => Err(why),
        });
        checked.map_err(|why| {
            let resolved = self.resolve_path(plugin, path);
            let what = format!("write {}", shown(path, &resolved));
            Self::refused(plugin, &what, &format!("--allow-write={}", resolved.display()), why)
        })
    }

    fn resolve_path(&self, plugin: &str, path: &Path) -> PathBuf {
        self.with(plugin, |grants| grants.resolve(path))
    }

    fn may_read_env(&self, plugin: &str, name: &str) -> Result<(), String> {
        match self.with(plugin, |grants| grants.env_refusal(name)) {
            None => Ok(()),
            Some(why) => Err(Self::refused(
                plugin,
                &format!("read the environment variable {name}"),
                &format!("--allow-env={name}"),
                why,
            )),
        }
    }

    fn may_connect(&self, plugin: &str, host: &str, port: u16) -> Result<(), String> {
        match self.with(plugin, |grants| grants.connect_refusal(host, port)) {
            None => Ok(()),
            Some(why) => Err(Self::refused(
                plugin,
                &format!("connect to {host}:{port}"),
                &format!("--allow-net={host}:{port}"),
                why,
            )),
        }
    }

    fn log(&self, plugin: &str, level: u32, message: &str, fields: &Value) {
        let level = ["trace", "debug", "info", "warn", "error"].get(level as usize).copied().unwrap_or("info");
        let fields =
            if matches!(fields, Value::Null) { String::new() } else { format!(" {}", tusk_eval::to_display(fields)) };
        (self.log)(&format!("[{plugin}] {level}: {message}{fields}"));
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn events(&self) -> Option<tusk_eval::events::EventSender> {
        self.events.borrow().clone()
    }
}

/// `path` as the plugin gave it, and where it leads when that is somewhere else (a relative
/// path, a link): `link.txt (which is /elsewhere/file.txt)`.
fn shown(path: &Path, resolved: &Path) -> String {
    if path == resolved {
        path.display().to_string()
    } else {
        format!("{} (which is {})", path.display(), resolved.display())
    }
}

/// The plugins of an engine.
pub struct PluginHost {
    catalog: Catalog,
    pub(crate) settings: HostSettings,
    services: Rc<GrantedServices>,
    loaded: RefCell<HashMap<String, Rc<LoadedPlugin>>>,
    load_order: RefCell<Vec<String>>,
    /// Set (never cleared) when the first plugin starts loading; see [`PluginHost::load_started`].
    load_started: Arc<AtomicBool>,
    /// Runs once, when the first plugin starts loading (see [`PluginHost::on_first_load`]).
    first_load: RefCell<Option<Box<dyn FnOnce()>>>,
    pub(crate) user_config: Option<tusk_plugin_catalog::config::UserConfig>,
    setup_diagnostics: Vec<Diagnostic>,
    /// Hot reload: the watcher, the registry symbols to patch, generation numbers.
    pub(crate) reload: crate::reload::ReloadState,
    /// For each plugin (by its index in the catalogue) whose symbols clashed at
    /// [`PluginHost::install`], how many of the symbols it provides were registered before
    /// the clash (the rest never are). Empty when nothing clashed.
    partly_registered: RefCell<HashMap<usize, usize>>,
}

/// The installed plugins' symbols as the registry's deferred source: the registry makes a
/// plugin's lazy stubs on the first look-up of one of its names, and asks here which plugin
/// provides a name (the catalogue's table). Weak: the registry must not keep the host, whose
/// drop shuts the plugins down, alive.
struct InstalledSymbols {
    host: std::rc::Weak<PluginHost>,
}

impl DeferredSymbols for InstalledSymbols {
    fn provider_count(&self) -> usize {
        self.host.upgrade().map_or(0, |host| host.catalog.plugins.len())
    }

    fn provider_name(&self, provider: usize) -> Key {
        let host = self.host.upgrade();
        Key::new(host.as_ref().and_then(|host| host.catalog.plugins.get(provider)).map_or("", |plugin| plugin.name()))
    }

    fn provider_of(&self, kind: SymbolKind, name: &str) -> Option<usize> {
        self.host.upgrade()?.catalog.provider_index(kind, name)
    }

    fn for_each_symbol(&self, provider: usize, each: &mut dyn FnMut(SymbolKind, &str)) {
        if let Some(host) = self.host.upgrade() {
            host.for_each_registered(provider, each);
        }
    }

    fn stub(&self, provider: usize, kind: SymbolKind, name: &str) -> Implementation {
        let host = self.host.clone();
        let plugin_name = self.provider_name(provider);
        let symbol_key = Key::new(name);
        let loader = move |ctx: &mut CallContext<'_, '_>| {
            let host = host.upgrade().ok_or_else(|| RuntimeError::message("the plugin host is gone"))?;
            let loaded = host.load(&plugin_name, Some(ctx))?;
            let symbol = loaded.symbol(kind, &symbol_key).ok_or_else(|| {
                RuntimeError::message(format!("plugin `{plugin_name}` did not register `{symbol_key}`"))
            })?;
            Ok(host.dispatch(&loaded, symbol))
        };
        Implementation::Lazy(Rc::new(loader))
    }

    fn made(&self, provider: usize, symbols: &[Rc<tusk_eval::Symbol>]) {
        if let Some(host) = self.host.upgrade()
            && let Some(plugin) = host.catalog.plugins.get(provider)
        {
            host.reload.remember_symbols(plugin.name(), symbols.iter().map(Rc::downgrade).collect());
        }
    }
}

impl PluginHost {
    /// Discovers the installed plugins (manifests only, through the index).
    pub fn discover(mut settings: HostSettings, sources: &mut SourceMap, log: Rc<dyn Fn(&str)>) -> Rc<PluginHost> {
        let mut setup_diagnostics = Vec::new();
        let user_config = match &settings.config_file {
            Some(path) => match tusk_plugin_catalog::config::UserConfig::load(path, sources) {
                Ok(config) => Some(config),
                Err(diagnostics) => {
                    setup_diagnostics.extend(diagnostics);
                    None
                }
            },
            None => None,
        };
        // Preferences from the user's file count, unless the embedder set its own.
        if let Some(config) = &user_config {
            for (symbol, plugin) in config.preferences() {
                settings.preferences.entry(symbol.clone()).or_insert_with(|| plugin.clone());
            }
        }
        let catalog = discover(&settings.search, settings.index_file.as_deref(), &settings.preferences, sources);
        let services = Rc::new(GrantedServices {
            grants: settings.grants.clone(),
            declared: RefCell::new(HashMap::new()),
            per_plugin: RefCell::new(HashMap::new()),
            log,
            cancelled: Arc::new(AtomicBool::new(false)),
            events: RefCell::new(None),
        });
        Rc::new(PluginHost {
            catalog,
            settings,
            services,
            loaded: RefCell::new(HashMap::new()),
            load_order: RefCell::new(Vec::new()),
            load_started: Arc::new(AtomicBool::new(false)),
            first_load: RefCell::new(None),
            user_config,
            setup_diagnostics,
            reload: crate::reload::ReloadState::default(),
            partly_registered: RefCell::new(HashMap::new()),
        })
    }

    /// Problems found while setting up (an unreadable or invalid user configuration file).
    pub fn setup_diagnostics(&self) -> &[Diagnostic] {
        &self.setup_diagnostics
    }

    /// The installed plugins.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Connects plugins to the engine's event loop (retained functions, posts, services):
    /// the engine calls this before any plugin loads.
    pub fn set_event_sender(&self, sender: tusk_eval::events::EventSender) {
        *self.services.events.borrow_mut() = Some(sender);
    }

    /// Set to ask running plugin calls to stop (`is_cancelled` in the SDK), e.g. on Ctrl-C.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.services.cancelled.clone()
    }

    /// Set (never cleared) when this host starts loading its first plugin, before any plugin
    /// code runs: a Ctrl-C handler on another thread reads it to tell whether there is anything
    /// to shut down (the host itself is not `Send`).
    pub fn load_started(&self) -> Arc<AtomicBool> {
        self.load_started.clone()
    }

    /// Runs `callback` when the first plugin starts loading, before any plugin code runs (at
    /// once if one already has). The tusk command installs its Ctrl-C handler, and starts its
    /// thread, only then: a script that uses no plugin pays nothing for the installed ones.
    pub fn on_first_load(&self, callback: impl FnOnce() + 'static) {
        if self.load_started.load(Ordering::SeqCst) {
            callback();
        } else {
            *self.first_load.borrow_mut() = Some(Box::new(callback));
        }
    }

    /// Makes every declared operator and function of every installed plugin known to
    /// `registry`, which makes a plugin's lazy stubs on the first look-up of one of its names.
    /// Returns problems (a plugin clashing with a built-in, or with another plugin).
    pub fn install(self: &Rc<Self>, registry: &mut Registry) -> Vec<Diagnostic> {
        // @cache in a plugin's store, when configured (cache_store.rs).
        registry.set_cache_store(Rc::new(crate::cache_store::PluginCacheStore { host: Rc::downgrade(self) }));
        // One walk of each plugin's names and one registry look-up per name for both checks:
        // a declared name the registry has already (a built-in) is an error of its own (X024,
        // as `Catalog::check_builtins` reports it); and each provided name is checked as
        // registering the stubs would check it: a plugin's symbols are registered in order up
        // to the first one that fails, and that failure is reported (X050) although no stub
        // exists yet. A built-in clash is that look-up's `Duplicate`.
        let mut builtin_clashes = Vec::new();
        let mut clashes = Vec::new();
        let mut partly_registered = HashMap::new();
        let catalog = &self.catalog;
        for (index, plugin) in catalog.plugins.iter().enumerate() {
            let mut registered = 0;
            let mut failure = None;
            // A contested plugin (another one declares one of its names) may declare more than
            // it provides: its built-in clashes are looked for among all it declares (rare).
            let contested = catalog.is_contested(index);
            if contested {
                builtin_clashes.extend(catalog.builtin_clashes(index, registry));
            }
            catalog.for_each_provided(index, |kind, name| {
                // The catalogue checked the name's spelling when it read it.
                let checked = registry.check_unregistered(plugin.name(), kind, name);
                if !contested && let Err(RegistryError::Duplicate { first, .. }) = &checked {
                    builtin_clashes.push(builtin_clash(plugin, kind, name, first));
                }
                match checked {
                    Ok(()) if failure.is_none() => registered += 1,
                    Err(error) if failure.is_none() => failure = Some(error),
                    _ => {}
                }
            });
            if let Some(error) = failure {
                partly_registered.insert(index, registered);
                clashes.push(Diagnostic::error(error.to_string()).with_code("X050").with_help(
                    "uninstall one of the plugins, or pick one provider in the user configuration (preferences)",
                ));
            }
        }
        *self.partly_registered.borrow_mut() = partly_registered;
        registry.defer(Rc::new(InstalledSymbols { host: Rc::downgrade(self) }));
        builtin_clashes.append(&mut clashes);
        builtin_clashes
    }

    /// Calls `each` for every symbol the registry has (or makes) a stub of for the plugin at
    /// `index`: those it provides, up to the first one that [`PluginHost::install`] found
    /// clashing.
    fn for_each_registered(&self, index: usize, each: &mut dyn FnMut(SymbolKind, &str)) {
        let mut left = self.partly_registered.borrow().get(&index).copied().unwrap_or(usize::MAX);
        self.catalog.for_each_provided(index, |kind, name| {
            if left > 0 {
                left -= 1;
                each(kind, name);
            }
        });
    }

    /// True when the registry has (or makes on its first look-up) a stub of `plugin`'s `name`:
    /// the catalogue's table names `plugin` as its provider (so it declares it) and, only for a
    /// plugin whose registration [`PluginHost::install`] found clashing, the name comes before
    /// the clash (the one case that walks the plugin's names).
    pub fn registers(&self, plugin: &str, kind: SymbolKind, name: &str) -> bool {
        let Some(index) = self.catalog.provider_index(kind, name) else { return false };
        if self.catalog.plugins[index].name() != plugin {
            return false;
        }
        if !self.partly_registered.borrow().contains_key(&index) {
            return true;
        }
        let mut found = false;
        self.for_each_registered(index, &mut |registered_kind, registered| {
            found |= registered_kind == kind && registered == name;
        });
        found
    }

    /// Loads `name` and its dependencies (once). `ctx` supplies the running script's
    /// `[plugins.NAME]` configuration.
    pub fn load(
        &self,
        name: &str,
        mut ctx: Option<&mut CallContext<'_, '_>>,
    ) -> Result<Rc<LoadedPlugin>, RuntimeError> {
        if let Some(loaded) = self.loaded.borrow().get(name) {
            return Ok(loaded.clone());
        }
        let order = resolve(&self.catalog, &[name], &self.settings.versions).map_err(|errors| {
            let messages: Vec<String> = errors.iter().map(|error| error.to_diagnostic().message).collect();
            RuntimeError::message(messages.join("; "))
        })?;
        let first_load = self.first_load.borrow_mut().take();
        if let Some(callback) = first_load {
            callback();
        }
        self.load_started.store(true, Ordering::SeqCst);
        for plugin in order {
            if self.loaded.borrow().contains_key(plugin.name()) {
                continue;
            }
            let config = script_config(plugin.name(), ctx.as_deref_mut());
            let loaded = self.load_one(plugin, &config)?;
            self.loaded.borrow_mut().insert(plugin.name().to_string(), loaded);
            self.load_order.borrow_mut().push(plugin.name().to_string());
        }
        self.loaded
            .borrow()
            .get(name)
            .cloned()
            .ok_or_else(|| RuntimeError::message(format!("plugin `{name}` did not load")))
    }

    /// Where `plugin` runs: sandboxed when the flags force it (`--sandbox NAME`,
    /// `--sandbox-all`), else as the grants decide (in-process only when trusted or first-party).
    pub fn execution_mode(&self, plugin: &DiscoveredPlugin) -> tusk_plugin_catalog::manifest::ExecutionMode {
        if self.settings.inspecting || self.settings.sandbox.forces(plugin.name()) {
            tusk_plugin_catalog::manifest::ExecutionMode::Sandboxed
        } else {
            self.settings.grants.execution_mode(plugin)
        }
    }

    /// The sandbox of a loaded plugin that runs sandboxed: its runner and the layers in force
    /// on this kernel (`tusk plugin info NAME`). `None` when it is not loaded or runs in-process.
    pub fn sandbox_report(&self, name: &str) -> Option<crate::sandboxed::SandboxReport> {
        self.loaded.borrow().get(name).and_then(|plugin| plugin.sandbox_report())
    }

    fn load_one(
        &self,
        plugin: &DiscoveredPlugin,
        config: &serde_json::Value,
    ) -> Result<Rc<LoadedPlugin>, RuntimeError> {
        // Discovery vouched for the manifest; whether the library is still there and still
        // inside the plugin folder is checked now, when it is about to be used.
        plugin.check_library(&mut SourceMap::new()).map_err(|diagnostics| library_error(plugin.name(), diagnostics))?;
        let manifest = plugin.manifest();
        match check(&manifest.permissions, &self.settings.grants, plugin.name()) {
            Ok(()) => {}
            // Looking at a plugin, or permissions the plugin declares optional: what is not
            // granted is refused when the plugin tries it.
            Err(_) if self.settings.inspecting || manifest.permissions.optional => {}
            Err(error) => {
                let diagnostic = error.to_diagnostic();
                let mut runtime_error = RuntimeError::message(diagnostic.message);
                if let Some(help) = diagnostic.help {
                    runtime_error = runtime_error.with_help(help);
                }
                return Err(runtime_error);
            }
        }
        // The user's `[plugins.NAME]`, overlaid by the script's, with schema defaults filled in
        // and validated before `initialize` ever sees it.
        let schema = match &manifest.config_schema {
            Some(path) => {
                Some(tusk_plugin_catalog::config::ConfigSchema::load(plugin.name(), path).map_err(config_error)?)
            }
            None => None,
        };
        let config = tusk_plugin_catalog::config::configure(
            plugin.name(),
            schema.as_ref(),
            self.user_config.as_ref(),
            Some(config),
        )
        .map_err(config_error)?;
        let config_json = serde_json::to_string(&config).unwrap_or_else(|_| "{}".into());
        let library = &manifest.library;
        let cache = &self.settings.cache_dir;
        let copy = match crate::loader::known_cache_copy(library, plugin.name(), cache) {
            Some(copy) => copy,
            None => {
                // Checked on the user's file first, so that an incompatible build is refused
                // naming the file the user built, not its cache copy. Read once for both.
                let bytes = std::fs::read(library)
                    .map_err(|error| RuntimeError::message(format!("cannot read {}: {error}", library.display())))?;
                crate::loader::parse_info_record(library, &bytes)
                    .and_then(|info| crate::loader::check_info_record(library, &info))
                    .map_err(|error| RuntimeError::message(error.to_string()))?;
                let copy = cache_copy(&bytes, library, plugin.name(), cache)
                    .map_err(|error| RuntimeError::message(error.to_string()))?;
                crate::loader::remember_cache_copy(library, plugin.name(), cache, &copy);
                copy
            }
        };
        let version = manifest.version.to_string();
        let expected = Expected {
            name: &manifest.name,
            version: &version,
            operators: &manifest.operators,
            functions: &manifest.functions,
            types: &manifest.types,
            capabilities: self.settings.verify_capabilities,
        };
        self.services.declare(plugin.name(), &manifest.permissions);
        if self.execution_mode(plugin) == tusk_plugin_catalog::manifest::ExecutionMode::Sandboxed {
            let loaded = LoadedPlugin::load_isolated(
                &copy,
                &expected,
                &config_json,
                self.services.clone(),
                &self.settings.grants.for_plugin(plugin.name(), &manifest.permissions),
                &self.settings.sandbox,
            )
            .map_err(|error| RuntimeError::message(error.to_string()))?;
            self.note_missing_protection(&loaded);
            return Ok(loaded);
        }
        load(&copy, &expected, &config_json, self.services.clone())
            .map_err(|error| RuntimeError::message(error.to_string()))
    }

    /// The host services plugins of this host call (grants, logging through the printer).
    pub(crate) fn services(&self) -> Rc<dyn HostServices> {
        self.services.clone()
    }

    /// Says which sandbox layers (or parts of them) this kernel lacks, once per machine and
    /// finding (a marker file in the cache folder remembers it was said; `tusk plugin info`
    /// shows the layers any time).
    pub(crate) fn note_missing_protection(&self, loaded: &LoadedPlugin) {
        let Some(report) = loaded.sandbox_report() else { return };
        let missing = report.missing();
        if missing.is_empty() {
            return;
        }
        let finding = missing.join("; ");
        let marker =
            self.settings.cache_dir.join(format!("sandbox-note-{}", crate::loader::content_hash(finding.as_bytes())));
        if marker.exists() {
            return;
        }
        // Said even when the marker cannot be written (it is said again next time then).
        let _ = std::fs::create_dir_all(&self.settings.cache_dir).and_then(|()| std::fs::write(&marker, &finding));
        let message = format!(
            "sandboxed plugins run with less protection on this system: {finding} (said once; `tusk plugin info {}` \
             shows the sandbox)",
            loaded.name
        );
        self.services.log(&loaded.name, 3, &message, &Value::Null);
    }

    /// Records what `plugin`'s manifest declares, for the checks of its host-mediated I/O (a
    /// reload swapping in a build with another manifest).
    pub(crate) fn declare(&self, plugin: &str, permissions: &Permissions) {
        self.services.declare(plugin, permissions);
    }

    /// Makes `plugin` the generation that serves `name` (hot reload; the load order stays).
    pub(crate) fn replace_loaded(&self, name: &str, plugin: Rc<LoadedPlugin>) {
        self.loaded.borrow_mut().insert(name.to_string(), plugin);
    }

    /// The plugins loaded so far, in load order.
    pub fn loaded(&self) -> Vec<Rc<LoadedPlugin>> {
        let loaded = self.loaded.borrow();
        self.load_order.borrow().iter().filter_map(|name| loaded.get(name).cloned()).collect()
    }

    /// Shuts every loaded plugin down, dependents first. Returns the plugins that failed.
    ///
    /// A sandboxed plugin's `shutdown` gets the sandbox's shutdown timeout, and all of them
    /// together [`SHUTDOWN_TOTAL`]: a runner that is not done by then is killed, and one whose
    /// turn comes after that is killed without being asked, so that a process ends promptly
    /// however many plugins hang.
    pub fn shutdown_all(&self) -> Vec<(String, String)> {
        let deadline = std::time::Instant::now() + SHUTDOWN_TOTAL;
        let mut failures = Vec::new();
        for plugin in self.loaded().into_iter().rev() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let limit = left.min(self.settings.sandbox.shutdown_timeout);
            let _watch = (plugin.mode() == tusk_plugin_catalog::manifest::ExecutionMode::InProcess)
                .then(|| watch_in_process_shutdown(&plugin.name, self.settings.sandbox.shutdown_timeout));
            if let Err(message) = plugin.shutdown_within(Some(limit)) {
                failures.push((plugin.name.clone(), message));
            }
        }
        failures
    }
}

/// An in-process plugin's `shutdown` runs on this thread and cannot be cut short; when it
/// takes longer than `after`, a thread says so on standard error, naming the plugin (the
/// host's own log is this thread's, which is busy). Dropping the returned sender (the
/// shutdown returned) ends the watch silently.
fn watch_in_process_shutdown(plugin: &str, after: std::time::Duration) -> Option<std::sync::mpsc::Sender<()>> {
    let (done, returned) = std::sync::mpsc::channel::<()>();
    let message = format!(
        "tusk: plugin `{plugin}` has not shut down after {}s and cannot be stopped (it runs in-process); waiting for it\n",
        after.as_secs_f64()
    );
    let watch = move || {
        if returned.recv_timeout(after) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            use std::io::Write;
            let _ = std::io::stderr().write_all(message.as_bytes());
        }
    };
    std::thread::Builder::new().name("tusk-shutdown-watch".into()).spawn(watch).ok()?;
    Some(done)
}

/// How long [`PluginHost::shutdown_all`] waits for sandboxed plugins' `shutdown`, in all.
pub const SHUTDOWN_TOTAL: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for PluginHost {
    fn drop(&mut self) {
        // Nobody else will see these: say them where the host's messages go.
        for (plugin, message) in self.shutdown_all() {
            self.services.log(&plugin, 4, &message, &Value::Null);
        }
    }
}

/// The error of a plugin whose library no longer passes its manifest's checks (see
/// [`DiscoveredPlugin::check_library`]): the first problem, naming the plugin, with its help.
fn library_error(name: &str, diagnostics: Vec<Diagnostic>) -> RuntimeError {
    let mut diagnostics = diagnostics.into_iter();
    let Some(first) = diagnostics.next() else {
        return RuntimeError::message(format!("plugin `{name}` cannot be loaded"));
    };
    let mut runtime_error = RuntimeError::message(format!("plugin `{name}` cannot be loaded: {}", first.message));
    if let Some(help) = first.help {
        runtime_error = runtime_error.with_help(help);
    }
    for other in diagnostics {
        runtime_error = runtime_error.with_note(other.message);
    }
    runtime_error
}

fn config_error(error: tusk_plugin_catalog::config::ConfigError) -> RuntimeError {
    let mut diagnostics = error.to_diagnostics().into_iter();
    let Some(first) = diagnostics.next() else { return RuntimeError::message(error.to_string()) };
    let mut runtime_error = RuntimeError::message(first.message);
    if let Some(help) = first.help {
        runtime_error = runtime_error.with_help(help);
    }
    for other in diagnostics {
        runtime_error = runtime_error.with_note(other.message);
    }
    runtime_error
}

/// The running script's `[plugins.NAME]` section, as JSON (an empty object when absent).
pub(crate) fn script_config(name: &str, ctx: Option<&mut CallContext<'_, '_>>) -> serde_json::Value {
    let section = ctx.and_then(|ctx| {
        let document = ctx.module().document();
        document.get("plugins").and_then(|plugins| plugins.as_object().and_then(|p| p.get(name)).cloned())
    });
    match section {
        Some(value) => serde_json::to_value(&value).unwrap_or(serde_json::Value::Object(Default::default())),
        None => serde_json::Value::Object(Default::default()),
    }
}
