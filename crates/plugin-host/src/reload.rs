//! Hot reload: when a plugin's library (or its `plugin.toml`) changes, the host loads the new
//! build next to the running one and swaps it in between two calls, or keeps the running one
//! and says why.
//!
//! A reload reads the manifest afresh, checks the grants, reads the library's bytes once,
//! checks their info record (no plugin code runs before that), copies them to a new
//! content-addressed file (new bytes, new file, so the dynamic linker gives new code), loads
//! and initialises that copy with the configuration the running generation got, and checks
//! what it registered against the manifest. Only then does it patch every registry symbol of
//! the plugin, in one step on the interpreter thread; nothing after the first patch can fail.
//! If anything before fails, the running generation keeps serving and the error is reported.
//!
//! The new build runs where the running one runs. A sandboxed one starts in a new runner
//! process (its `initialize` runs there, inside the sandbox); an in-process one is loaded into
//! this process.
//!
//! The replaced generation is retired, not unloaded: a call still running on it holds it and
//! finishes on it, and its `shutdown` runs when the last such call returns. A sandboxed one's
//! runner process then ends. An in-process one's library stays mapped for the life of the
//! process (unloading Rust code is unsound: its thread-local destructors and registered
//! callbacks would point into unmapped memory): each in-process reload
//! keeps one more image mapped, a bounded leak meant for development, not for reloading in a
//! loop for days.
//!
//! Threads: the [`Watcher`] only queues paths and raises a flag. The interpreter thread takes
//! them at safe points: before a plugin call of a watched plugin (one atomic load when nothing
//! changed), between REPL lines, and in `tusk run --watch`'s loop.

mod watch;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tusk_diagnostics::{Diagnostic, RenderOptions, SourceMap, render_all};
use tusk_eval::{CallContext, DirectCall, Implementation, NativeFn, RuntimeError, Symbol, SymbolKind, Value};

pub use self::watch::{Changes, DEFAULT_DEBOUNCE, WatchError, Watcher};
use crate::host::PluginHost;
use crate::loader::{
    Expected, LoadError, LoadedPlugin, LoadedSymbol, check_info_record, content_hash, fresh_cache_copy,
    load_with_record, parse_info_record,
};
use tusk_plugin_catalog::manifest::{ExecutionMode, load_manifest};
use tusk_plugin_catalog::permissions::{PermissionError, check};

/// Why a new build was not swapped in. The running generation (if any) keeps serving.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// No installed plugin has that name: `:reload loging`.
    #[error("no plugin `{0}` is installed")]
    NotInstalled(String),
    /// The manifest says `hot_reload = false`.
    #[error("its plugin.toml says `hot_reload = false`")]
    Disabled,
    /// The new `plugin.toml` is invalid (rendered diagnostics, pointing into the file).
    #[error("its plugin.toml is invalid:\n{0}")]
    Manifest(String),
    /// The new `plugin.toml` names another plugin.
    #[error("its plugin.toml now names plugin `{0}`")]
    Renamed(String),
    /// The new build asks for permissions the user has not granted.
    #[error("{}", .0.to_diagnostic().message)]
    Permission(PermissionError),
    /// The library failed a check, or its `initialize` failed.
    #[error("{0}")]
    Load(LoadError),
}

impl From<LoadError> for ReloadError {
    fn from(error: LoadError) -> ReloadError {
        ReloadError::Load(error)
    }
}

/// What a reload of one plugin did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ReloadOutcome {
    /// The new build serves every later call.
    Swapped {
        /// Its generation (the first load is 1).
        generation: u64,
        /// The content-addressed copy it runs from.
        library: PathBuf,
        /// From the start of the reload (or from the moment the file change settled, for a
        /// change the watcher reported) until the new build served.
        elapsed: Duration,
        /// Things that need a restart: symbols new in this build, changed dependencies.
        notes: Vec<String>,
    },
    /// The library holds the bytes that already run.
    Unchanged {
        /// The generation that serves.
        generation: u64,
    },
    /// The plugin has not been loaded yet: its first call loads the build on disk.
    NotLoaded,
    /// The new build was refused.
    Failed {
        /// Why.
        error: ReloadError,
        /// The generation that keeps serving.
        serving: Option<u64>,
    },
}

/// The outcome of reloading one plugin.
#[derive(Clone, Debug)]
pub struct Reload {
    /// The plugin.
    pub plugin: String,
    /// What happened.
    pub outcome: ReloadOutcome,
}

impl Reload {
    /// True when a new build was refused.
    pub fn is_failure(&self) -> bool {
        matches!(self.outcome, ReloadOutcome::Failed { .. })
    }

    /// True when a new build now serves.
    pub fn is_swap(&self) -> bool {
        matches!(self.outcome, ReloadOutcome::Swapped { .. })
    }

    /// A failure as a diagnostic (code X060), for printing with the engine's renderer.
    pub fn to_diagnostic(&self) -> Option<Diagnostic> {
        let ReloadOutcome::Failed { serving, .. } = &self.outcome else { return None };
        let help = match serving {
            Some(_) => "fix the plugin and rebuild it: the change is picked up again when the library is written",
            None => "check the plugin name with `tusk plugin list`",
        };
        Some(Diagnostic::error(self.to_string()).with_code("X060").with_help(help))
    }
}

impl fmt::Display for Reload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plugin = &self.plugin;
        match &self.outcome {
            ReloadOutcome::Swapped { generation, notes, .. } => {
                write!(f, "plugin `{plugin}` reloaded: generation {generation} serves")?;
                for note in notes {
                    write!(f, "; {note}")?;
                }
                Ok(())
            }
            ReloadOutcome::Unchanged { generation } => {
                write!(f, "plugin `{plugin}` is unchanged: generation {generation} serves")
            }
            ReloadOutcome::NotLoaded => {
                write!(f, "plugin `{plugin}` is not loaded yet: its first call loads the build on disk")
            }
            ReloadOutcome::Failed { error, serving: Some(generation) } => {
                write!(f, "plugin `{plugin}` was not reloaded: {error}; generation {generation} keeps serving")
            }
            ReloadOutcome::Failed { error, serving: None } => write!(f, "plugin `{plugin}` was not reloaded: {error}"),
        }
    }
}

/// What [`PluginHost::wait_for_changes`] saw.
#[derive(Clone, Debug, Default)]
pub struct Update {
    /// Watched files that changed and that no reload covers: scripts, and the files of plugins
    /// that are not loaded (their next call loads the new build).
    pub files: Vec<PathBuf>,
    /// Reloads of plugins whose files changed (unchanged bytes are left out).
    pub reloads: Vec<Reload>,
}

/// The reload bookkeeping of a [`PluginHost`].
#[derive(Default)]
pub struct ReloadState {
    watcher: RefCell<Option<Watcher>>,
    /// The registry symbols of each plugin (its stubs, remembered when the registry makes them
    /// on the first look-up of one of its names): what a swap patches; a symbol made later
    /// loads the generation that serves then. Weak: the registry owns them.
    symbols: RefCell<HashMap<String, Vec<Weak<Symbol>>>>,
    /// Watched plugin files (normalised as the watcher reports them) and their plugin.
    plugin_files: RefCell<HashMap<PathBuf, String>>,
    /// Generation of each plugin that was reloaded at least once (absent: 1).
    generations: RefCell<HashMap<String, u64>>,
    /// Changed files that are not plugin files, taken from the watcher by a poll and kept for
    /// [`PluginHost::wait_for_changes`].
    files: RefCell<Vec<PathBuf>>,
    /// The last reloads that did something (swaps and failures), oldest first.
    recent: RefCell<std::collections::VecDeque<Reload>>,
    /// Set during a poll: a poll reached from inside one (a replaced generation's `shutdown`
    /// logging through the printer, say) does nothing.
    polling: Cell<bool>,
}

impl ReloadState {
    /// Remembers the registry symbols made for `plugin`.
    pub(crate) fn remember_symbols(&self, plugin: &str, symbols: Vec<Weak<Symbol>>) {
        self.symbols.borrow_mut().entry(plugin.to_string()).or_default().extend(symbols);
    }

    fn registry_symbol(&self, plugin: &str, kind: SymbolKind, name: &str) -> Option<Weak<Symbol>> {
        let symbols = self.symbols.borrow();
        symbols
            .get(plugin)?
            .iter()
            .find(|weak| weak.upgrade().is_some_and(|symbol| symbol.kind == kind && symbol.name.as_str() == name))
            .cloned()
    }

    fn generation(&self, plugin: &str) -> u64 {
        self.generations.borrow().get(plugin).copied().unwrap_or(1)
    }

    fn record(&self, reload: &Reload) {
        if reload.is_swap() || reload.is_failure() {
            let mut recent = self.recent.borrow_mut();
            if recent.len() == RECENT_RELOADS {
                recent.pop_front();
            }
            recent.push_back(reload.clone());
        }
    }
}

/// How many reloads [`PluginHost::recent_reloads`] remembers.
const RECENT_RELOADS: usize = 64;

/// Hot reload's safe point before a call of a watched plugin's symbol.
struct SafePoint {
    /// Raised by the watcher when a change has settled.
    pending: Arc<AtomicBool>,
    host: Weak<PluginHost>,
    /// The generation the call would go to.
    generation: Rc<LoadedPlugin>,
    registry_symbol: Weak<Symbol>,
}

impl SafePoint {
    /// Applies settled changes; the registry symbol when they retired this generation (the
    /// call goes through it to the new one), `None` to call this one.
    #[inline]
    fn moved_on(&self) -> Option<Rc<Symbol>> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        if let Some(host) = self.host.upgrade() {
            host.poll_and_report();
        }
        if self.generation.is_retired() { self.registry_symbol.upgrade() } else { None }
    }
}

/// A watched plugin's direct call: the safe point, then the call.
struct Watched {
    point: SafePoint,
    direct: Rc<dyn DirectCall>,
}

impl DirectCall for Watched {
    fn call(&self, ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
        match self.point.moved_on() {
            Some(symbol) => {
                let args: Vec<Value> = args.iter().map(|&arg| arg.clone()).collect();
                symbol.call(ctx, &args)
            }
            None => self.direct.call(ctx, args),
        }
    }
}

/// A function standing in for a symbol the new build no longer provides.
fn removed_function(plugin: &str, display: String, generation: u64) -> Rc<NativeFn> {
    let message = format!("`{display}` was removed from plugin `{plugin}` by its reload (generation {generation})");
    Rc::new(move |_: &mut CallContext<'_, '_>, _: &[Value]| {
        Err(RuntimeError::message(message.clone()).with_help("restart to drop it, or rebuild the plugin with it"))
    })
}

/// The content hash a cache copy was named after (`<hash>.so` or `<hash>-<n>.so`).
fn hash_of_copy(path: &Path) -> Option<&str> {
    let stem = path.file_stem()?.to_str()?;
    Some(stem.split('-').next().unwrap_or(stem))
}

impl PluginHost {
    /// Starts watching the library and `plugin.toml` of every installed plugin that allows hot
    /// reload. From then on a watched plugin's calls first apply settled changes, so the first
    /// call after a rebuild already runs the new build; [`PluginHost::poll_reloads`] and
    /// [`PluginHost::wait_for_changes`] apply them between calls.
    pub fn watch_plugins(self: &Rc<Self>) -> Result<(), WatchError> {
        self.ensure_watcher()?;
        for plugin in self.catalog().plugins.iter().filter(|plugin| plugin.manifest().hot_reload) {
            for file in [plugin.manifest().library.clone(), plugin.manifest().manifest_path()] {
                self.watch_path(&file)?;
                self.reload.plugin_files.borrow_mut().insert(watch::normalize(&file), plugin.name().to_string());
            }
        }
        // Functions handed out before watching started do not look for changes: patch them.
        for loaded in self.loaded() {
            self.patch_symbols(&loaded, &loaded.name);
        }
        Ok(())
    }

    /// Also reports changes to `file` (a script, for `tusk run --watch`) from
    /// [`PluginHost::wait_for_changes`].
    pub fn watch_file(&self, file: &Path) -> Result<(), WatchError> {
        self.ensure_watcher()?;
        self.watch_path(file)
    }

    fn ensure_watcher(&self) -> Result<(), WatchError> {
        if self.reload.watcher.borrow().is_none() {
            *self.reload.watcher.borrow_mut() = Some(Watcher::new(DEFAULT_DEBOUNCE)?);
        }
        Ok(())
    }

    fn watch_path(&self, file: &Path) -> Result<(), WatchError> {
        match self.reload.watcher.borrow_mut().as_mut() {
            Some(watcher) => watcher.watch(file),
            None => Ok(()),
        }
    }

    /// The last reloads that swapped or failed (at most 64), oldest first, however they were
    /// started: for `tusk plugin status`, and for measuring swaps.
    pub fn recent_reloads(&self) -> Vec<Reload> {
        self.reload.recent.borrow().iter().cloned().collect()
    }

    /// True when the watcher has settled changes that no poll has applied yet.
    pub fn has_pending_changes(&self) -> bool {
        self.reload.watcher.borrow().as_ref().is_some_and(Watcher::has_changes)
    }

    /// True while plugin files are watched.
    pub fn is_watching(&self) -> bool {
        self.reload.watcher.borrow().is_some()
    }

    /// The generation of a loaded plugin that serves now (1 until its first reload).
    pub fn generation(&self, plugin: &str) -> Option<u64> {
        self.loaded().iter().any(|loaded| loaded.name == plugin).then(|| self.reload.generation(plugin))
    }

    /// Applies the changes the watcher has seen settle: each changed, loaded plugin is
    /// reloaded (in load order). Unchanged bytes (a `touch`) are left out of the result.
    /// Changed script files are kept for [`PluginHost::wait_for_changes`].
    pub fn poll_reloads(self: &Rc<Self>) -> Vec<Reload> {
        if self.reload.polling.replace(true) {
            return Vec::new();
        }
        let changes = match self.reload.watcher.borrow().as_ref() {
            Some(watcher) => watcher.take(),
            None => Changes::default(),
        };
        let loaded = self.loaded();
        let mut changed_plugins = Vec::new();
        for path in changes.paths {
            let plugin = self.reload.plugin_files.borrow().get(&path).cloned();
            match plugin {
                Some(plugin) if loaded.iter().any(|generation| generation.name == plugin) => {
                    changed_plugins.push(plugin);
                }
                // A plugin that is not loaded (never called, or its last build failed to load)
                // picks the new build up on its next call; `tusk run --watch` re-runs for it.
                _ => {
                    let mut files = self.reload.files.borrow_mut();
                    if !files.contains(&path) {
                        files.push(path);
                    }
                }
            }
        }
        let started = changes.settled_at.unwrap_or_else(Instant::now);
        let reloads = loaded
            .iter()
            .filter(|loaded| changed_plugins.contains(&loaded.name))
            .map(|loaded| self.reload_loaded(loaded, started))
            .filter(|reload| !matches!(reload.outcome, ReloadOutcome::Unchanged { .. }))
            .collect();
        self.reload.polling.set(false);
        reloads
    }

    /// Checks one plugin's files now (the REPL's `:reload NAME`), changed or not.
    pub fn reload(self: &Rc<Self>, plugin: &str) -> Reload {
        let loaded = self.loaded().into_iter().find(|loaded| loaded.name == plugin);
        match loaded {
            Some(loaded) => self.reload_loaded(&loaded, Instant::now()),
            None if self.catalog().plugin(plugin).is_some() => {
                Reload { plugin: plugin.to_string(), outcome: ReloadOutcome::NotLoaded }
            }
            None => Reload {
                plugin: plugin.to_string(),
                outcome: ReloadOutcome::Failed { error: ReloadError::NotInstalled(plugin.to_string()), serving: None },
            },
        }
    }

    /// Checks every loaded plugin's files now (the REPL's `:reload`), changed or not.
    pub fn reload_all(self: &Rc<Self>) -> Vec<Reload> {
        // Settled changes first, so that what they did is reported rather than "unchanged".
        let polled = self.poll_reloads();
        self.loaded()
            .iter()
            .map(|loaded| match polled.iter().find(|reload| reload.plugin == loaded.name) {
                Some(reload) => reload.clone(),
                None => self.reload_loaded(loaded, Instant::now()),
            })
            .collect()
    }

    /// Waits until a watched file changes (or `timeout` passes), applies plugin reloads and
    /// returns what changed. For `tusk run --watch`, which re-runs the script afterwards.
    pub fn wait_for_changes(self: &Rc<Self>, timeout: Option<Duration>) -> Update {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        loop {
            let reloads = self.poll_reloads();
            let files = std::mem::take(&mut *self.reload.files.borrow_mut());
            if !files.is_empty() || !reloads.is_empty() {
                return Update { files, reloads };
            }
            let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return Update::default();
            }
            let changed = match self.reload.watcher.borrow().as_ref() {
                Some(watcher) => watcher.wait(left),
                None => return Update::default(),
            };
            if !changed {
                return Update::default();
            }
        }
    }

    /// Applies settled changes from inside a plugin call, reporting through the printer (no
    /// caller is there to receive the results).
    fn poll_and_report(self: &Rc<Self>) {
        for reload in self.poll_reloads() {
            let level = if reload.is_failure() { 4 } else { 2 };
            self.services().log(&reload.plugin, level, &reload.to_string(), &Value::Null);
        }
    }

    /// The implementation a registry symbol gets for a loaded plugin's symbol. While the host
    /// watches, it first applies settled changes; when they retired the generation this
    /// implementation belongs to, the call goes to the new one (it has not started yet, so it
    /// belongs to the new build).
    pub(crate) fn dispatch(self: &Rc<Self>, loaded: &Rc<LoadedPlugin>, symbol: &LoadedSymbol) -> Implementation {
        let implementation = loaded.implementation(symbol);
        let pending = match self.reload.watcher.borrow().as_ref() {
            Some(watcher) => watcher.pending_flag(),
            None => return implementation,
        };
        let Some(registry_symbol) =
            symbol.kind.and_then(|kind| self.reload.registry_symbol(&loaded.name, kind, &symbol.name))
        else {
            return implementation;
        };
        let point = SafePoint { pending, host: Rc::downgrade(self), generation: loaded.clone(), registry_symbol };
        match implementation {
            Implementation::Direct(direct) => Implementation::Direct(Rc::new(Watched { point, direct })),
            Implementation::Native(function) => {
                Implementation::Native(Rc::new(move |ctx: &mut CallContext<'_, '_>, args: &[Value]| {
                    match point.moved_on() {
                        Some(symbol) => symbol.call(ctx, args),
                        None => function(ctx, args),
                    }
                }))
            }
            lazy @ Implementation::Lazy(_) => lazy,
        }
    }

    fn reload_loaded(self: &Rc<Self>, loaded: &Rc<LoadedPlugin>, started: Instant) -> Reload {
        let plugin = loaded.name.clone();
        let serving = self.reload.generation(&plugin);
        let outcome = match self.replace(loaded, started) {
            Ok(outcome) => outcome,
            Err(error) => ReloadOutcome::Failed { error, serving: Some(serving) },
        };
        let reload = Reload { plugin, outcome };
        self.reload.record(&reload);
        reload
    }

    /// Loads the build on disk next to `old` and swaps it in; on any error `old` keeps serving.
    fn replace(self: &Rc<Self>, old: &Rc<LoadedPlugin>, started: Instant) -> Result<ReloadOutcome, ReloadError> {
        let name = old.name.as_str();
        let installed = self.catalog().plugin(name).ok_or_else(|| ReloadError::NotInstalled(name.to_string()))?;
        let mut sources = SourceMap::new();
        let manifest = load_manifest(&installed.manifest().dir, &mut sources).map_err(|diagnostics| {
            ReloadError::Manifest(render_all(&diagnostics, &sources, RenderOptions { color: false, unicode: false }))
        })?;
        if manifest.name != name {
            return Err(ReloadError::Renamed(manifest.name));
        }
        if !manifest.hot_reload {
            return Err(ReloadError::Disabled);
        }
        // A new build may ask for more than the running one had: the grants decide again.
        if !manifest.permissions.optional {
            check(&manifest.permissions, &self.settings.grants, name).map_err(ReloadError::Permission)?;
        }
        let library = &manifest.library;
        let bytes = std::fs::read(library)
            .map_err(|error| LoadError::Io(format!("cannot read {}: {error}", library.display())))?;
        // Checked on the user's file, before copying, so that the error names that file.
        let info = parse_info_record(library, &bytes)?;
        check_info_record(library, &info)?;
        if hash_of_copy(&old.loaded_from) == Some(content_hash(&bytes).as_str()) {
            return Ok(ReloadOutcome::Unchanged { generation: self.reload.generation(name) });
        }
        let copy = fresh_cache_copy(&bytes, library, name, &self.settings.cache_dir)?;
        let version = manifest.version.to_string();
        let expected = Expected {
            name: &manifest.name,
            version: &version,
            operators: &manifest.operators,
            functions: &manifest.functions,
            types: &manifest.types,
            capabilities: true,
        };
        // The new build runs where the running one does: in a runner process (whose `init`
        // happens there, inside the sandbox) or in this one.
        let new = match old.mode() {
            ExecutionMode::Sandboxed => {
                let new = LoadedPlugin::load_isolated(
                    &copy,
                    &expected,
                    &old.config_json,
                    self.services(),
                    &self.settings.grants.for_plugin(name, &manifest.permissions),
                    &self.settings.sandbox,
                )?;
                self.note_missing_protection(&new);
                new
            }
            // The copy holds exactly `bytes`, whose record was just read.
            ExecutionMode::InProcess => load_with_record(&copy, &info, &expected, &old.config_json, self.services())?,
        };

        // The swap. Nothing from here on can fail, and no call runs in between: the
        // interpreter thread is here.
        let generation = self.reload.generation(name) + 1;
        self.reload.generations.borrow_mut().insert(name.to_string(), generation);
        let mut notes = self.patch_symbols(&new, name);
        self.declare(name, &manifest.permissions);
        self.replace_loaded(name, new);
        old.retire();
        if manifest.dependencies != installed.manifest().dependencies {
            notes.push("its dependencies changed: restart to load them in order".to_string());
        }
        Ok(ReloadOutcome::Swapped { generation, library: copy, elapsed: started.elapsed(), notes })
    }

    /// Points every registry symbol made for `plugin` at `generation`. Returns notes on
    /// symbols the registry has no stub of (new in this build).
    fn patch_symbols(self: &Rc<Self>, generation: &Rc<LoadedPlugin>, plugin: &str) -> Vec<String> {
        let registered: Vec<Rc<Symbol>> = self
            .reload
            .symbols
            .borrow()
            .get(plugin)
            .map(|symbols| symbols.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        let number = self.reload.generation(plugin);
        for symbol in &registered {
            let implementation = match generation.symbol(symbol.kind, &symbol.name) {
                Some(loaded_symbol) => self.dispatch(generation, loaded_symbol),
                None => Implementation::Native(removed_function(plugin, symbol.display_name(), number)),
            };
            symbol.set_implementation(implementation);
        }
        generation
            .symbols
            .iter()
            .filter_map(|loaded_symbol| Some((loaded_symbol.kind?, loaded_symbol)))
            .filter(|(kind, loaded_symbol)| !self.registers(plugin, *kind, &loaded_symbol.name))
            .map(|(kind, loaded_symbol)| {
                let display = match kind {
                    SymbolKind::Operator => format!("@{}", loaded_symbol.name),
                    SymbolKind::Function => loaded_symbol.name.clone(),
                };
                format!("`{display}` is new in this build: restart to use it")
            })
            .collect()
    }
}
