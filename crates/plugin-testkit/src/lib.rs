//! Test a TuskLang plugin the way users will run it: build its library with cargo, install it
//! (manifest and library) into a temporary plugin folder, load it through the real plugin
//! host (sandboxed, with the runner built from the same sources, unless trusted), and evaluate
//! `.tsk` snippets against it.
//!
//! The same builder serves the workspace's own tests: [`build_packages`] builds fixture
//! plugins (and executables) once per test process, in one cargo run, into the test's target
//! folder.
//!
//! ```no_run
//! let mut plugin = tusk_plugin_testkit::PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
//! assert_eq!(plugin.eval_expression("@my_operator(\"tusk\")").unwrap(), serde_json::json!("Hello, tusk!"));
//! assert_eq!(plugin.run_examples(), Vec::<String>::new());
//! ```

#![warn(missing_docs)]

mod build;

use std::path::{Path, PathBuf};

use tusk::plugins::HostSettings;
use tusk::{Engine, Mode};
use tusk_plugin_catalog::{GrantSet, Grants, SearchPath};

pub use build::{Built, Profile, build_packages, build_plugin, runner};
/// How [`Engine::run_services_for`] ended, for tests of plugins with services.
pub use tusk::ServicesEnd;

/// A plugin installed in a temporary folder, with an engine that can call it.
pub struct PluginTest {
    engine: Engine,
    name: String,
    plugin_dir: PathBuf,
    grants: GrantSet,
    script_dir: PathBuf,
    trusted: bool,
    config_file: Option<PathBuf>,
    /// Plugins installed beside this one ([`PluginTest::with_plugin`]), by name.
    others: Vec<String>,
    /// Plugins installed beside this one that run in-process whatever this one does
    /// ([`PluginTest::with_plugin_in_process`]).
    trusted_others: Vec<String>,
    _root: tempfile::TempDir,
}

impl PluginTest {
    /// Builds and installs the plugin whose crate (with `Cargo.toml` and `plugin.toml`) is at
    /// `package_dir`. Panics with the build or manifest errors: a test cannot go on without it.
    pub fn for_package(package_dir: &str) -> PluginTest {
        PluginTest::new(Path::new(package_dir)).unwrap_or_else(|message| panic!("{message}"))
    }

    /// As [`PluginTest::for_package`], returning errors instead of panicking.
    pub fn new(package_dir: &Path) -> Result<PluginTest, String> {
        let root = tempfile::tempdir().map_err(|error| error.to_string())?;
        let (name, plugin_dir) = install(package_dir, &root.path().join("plugins"))?;
        let script_dir = root.path().join("scripts");
        std::fs::create_dir_all(&script_dir).map_err(|error| error.to_string())?;
        let mut test = PluginTest {
            engine: Engine::new(),
            name,
            plugin_dir,
            grants: GrantSet::default(),
            script_dir,
            trusted: false,
            config_file: None,
            others: Vec::new(),
            trusted_others: Vec::new(),
            _root: root,
        };
        test.restart()?;
        Ok(test)
    }

    /// A fresh engine with the plugin installed (and the current grants).
    fn restart(&mut self) -> Result<(), String> {
        let mut engine = Engine::new();
        let mut settings = HostSettings::standard(&self.script_dir);
        let plugins_root = self.plugin_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        settings.search = SearchPath::from_parts(Some(plugins_root.as_os_str()), None, None, None);
        settings.index_file = None;
        settings.cache_dir = self.script_dir.join("../cache");
        let mut grants = Grants::new(&self.script_dir);
        grants.flags = self.grants.clone();
        if self.trusted {
            for name in std::iter::once(&self.name).chain(&self.others) {
                grants.plugins.insert(name.clone(), GrantSet { trusted: true, ..self.grants.clone() });
            }
        }
        for name in &self.trusted_others {
            grants.plugins.insert(name.clone(), GrantSet { trusted: true, ..self.grants.clone() });
        }
        settings.grants = grants;
        settings.config_file = self.config_file.clone();
        if !self.trusted {
            // Found here rather than next to the test executable, where a plugin crate outside
            // the tusk workspace would not have one.
            settings.sandbox.runner = Some(runner()?);
        }
        let diagnostics = engine.enable_plugins(settings);
        let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
        if !errors.is_empty() {
            return Err(engine.render_diagnostics(&errors, false));
        }
        self.engine = engine;
        Ok(())
    }

    /// Builds and installs the plugin crate at `package_dir` beside this one (a test of two
    /// plugins working together), with the same grants and trust, then restarts the engine.
    pub fn with_plugin(&mut self, package_dir: &str) -> &mut PluginTest {
        let plugins = self.plugin_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let (name, _) = install(Path::new(package_dir), &plugins).unwrap_or_else(|message| panic!("{message}"));
        self.others.push(name);
        self.restart().unwrap_or_else(|message| panic!("{message}"));
        self
    }

    /// As [`PluginTest::with_plugin`], with that plugin trusted (in-process) even while this
    /// one runs sandboxed: a test of two plugins working together across the sandbox.
    pub fn with_plugin_in_process(&mut self, package_dir: &str) -> &mut PluginTest {
        let plugins = self.plugin_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let (name, _) = install(Path::new(package_dir), &plugins).unwrap_or_else(|message| panic!("{message}"));
        self.trusted_others.push(name);
        self.restart().unwrap_or_else(|message| panic!("{message}"));
        self
    }

    /// Grants a permission as the command-line flag would (`--allow-write=/tmp/x`), then
    /// restarts the engine (plugins load again on first use).
    pub fn grant(&mut self, flag: &str) -> &mut PluginTest {
        self.grants.apply_flag(flag).unwrap_or_else(|error| panic!("bad flag {flag}: {error:?}"));
        self.restart().unwrap_or_else(|message| panic!("{message}"));
        self
    }

    /// Runs the plugin in-process, as a trusted (or first-party) plugin runs, instead of in the
    /// sandboxed runner that untrusted plugins get. Restarts the engine.
    pub fn in_process(&mut self) -> &mut PluginTest {
        self.trusted = true;
        self.restart().unwrap_or_else(|message| panic!("{message}"));
        self
    }

    /// Uses `toml` as the user's configuration file (`[plugins.NAME]` tables). Restarts the
    /// engine.
    pub fn with_user_config(&mut self, toml: &str) -> &mut PluginTest {
        let path = self.script_dir.join("../user-config.toml");
        std::fs::write(&path, toml).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        self.config_file = Some(path);
        self.restart().unwrap_or_else(|message| panic!("{message}"));
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder the plugin is installed in.
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// The folder scripts run in (for relative paths).
    pub fn script_dir(&self) -> &Path {
        &self.script_dir
    }

    /// The engine, for anything the helpers do not cover.
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Evaluates a document; the error is the rendered diagnostics.
    pub fn eval(&mut self, source: &str) -> Result<serde_json::Value, String> {
        let directory = self.script_dir.clone();
        match self.engine.eval_named("test.tsk", source, Some(&directory)) {
            Ok(document) => serde_json::to_value(document.value()).map_err(|error| error.to_string()),
            Err(error) => Err(self.engine.render(&error, false)),
        }
    }

    /// Evaluates one expression; the error is the rendered diagnostics.
    pub fn eval_expression(&mut self, source: &str) -> Result<serde_json::Value, String> {
        match self.engine.eval_expression(source) {
            Ok(value) => serde_json::to_value(&value).map_err(|error| error.to_string()),
            Err(error) => Err(self.engine.render(&error, false)),
        }
    }

    /// Runs the examples of the manifest (`[[examples]]`) and of every symbol the plugin
    /// registered (`expression => expected JSON`). Returns one message per failure.
    pub fn run_examples(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut examples: Vec<(String, Option<serde_json::Value>)> = Vec::new();
        let manifest_text = std::fs::read_to_string(self.plugin_dir.join("plugin.toml")).unwrap_or_default();
        if let Ok(manifest) = manifest_text.parse::<toml::Table>()
            && let Some(list) = manifest.get("examples").and_then(|e| e.as_array())
        {
            for example in list {
                let code = example.get("code").and_then(|c| c.as_str()).unwrap_or_default().to_string();
                let result = example.get("result").and_then(|r| r.as_str()).and_then(|r| serde_json::from_str(r).ok());
                examples.push((code, result));
            }
        }
        // Loading the plugin makes its own symbol examples available.
        if let Some(host) = self.engine.plugins().cloned() {
            match host.load(&self.name, None) {
                Ok(plugin) => {
                    for symbol in &plugin.symbols {
                        for example in &symbol.examples {
                            match example.rsplit_once(" => ") {
                                Some((code, expected)) => {
                                    examples.push((code.to_string(), serde_json::from_str(expected).ok()));
                                }
                                None => examples.push((example.clone(), None)),
                            }
                        }
                    }
                }
                Err(error) => failures.push(format!("the plugin does not load: {error}")),
            }
        }
        for (code, expected) in examples {
            match (self.eval_expression(&code), expected) {
                (Ok(got), Some(want)) if got != want => failures.push(format!("{code}: expected {want}, got {got}")),
                (Err(error), _) => failures.push(format!("{code}: {error}")),
                _ => {}
            }
        }
        failures
    }

    /// Evaluates in compat mode (for plugins that implement reference operators).
    pub fn compat(&mut self) -> &mut PluginTest {
        self.engine.set_mode(Mode::Compat);
        self
    }
}

/// Builds the plugin crate at `package_dir` and installs it (manifest, library, schema and
/// docs) into the plugin folder `plugins`; its name and folder.
fn install(package_dir: &Path, plugins: &Path) -> Result<(String, PathBuf), String> {
    let library = build_plugin(package_dir)?;
    let manifest_text = std::fs::read_to_string(package_dir.join("plugin.toml"))
        .map_err(|error| format!("cannot read {}/plugin.toml: {error}", package_dir.display()))?;
    let manifest: toml::Table = manifest_text.parse().map_err(|error| format!("plugin.toml: {error}"))?;
    let plugin = manifest.get("plugin").and_then(|p| p.as_table()).ok_or("plugin.toml has no [plugin] table")?;
    let name = plugin.get("name").and_then(|n| n.as_str()).ok_or("plugin.toml has no plugin name")?.to_string();
    let plugin_dir = plugins.join(&name);
    copy_dir(package_dir, &plugin_dir, &["plugin.toml"], &["json", "md"])?;
    let library_name = plugin
        .get("library")
        .and_then(|l| l.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("libtusk_plugin_{name}.so"));
    std::fs::copy(&library, plugin_dir.join(&library_name))
        .map_err(|error| format!("cannot copy {}: {error}", library.display()))?;
    Ok((name, plugin_dir))
}

/// Whether the tests run under CI (`CI=true`), where a missing server or model fails a test
/// instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// What a test that needs an outside resource (a database server, a built model) does without
/// it: `connect()`'s value, or, when it fails, `None` after printing
/// `skipped: WHAT is not available (ERROR)` — except under `CI=true`, where it panics with
/// `WHAT is required under CI=true: ERROR` (CI provides every such resource, so its absence is a
/// failure, never a silent skip).
///
/// ```no_run
/// let Some(mut redis) = tusk_plugin_testkit::require("Redis on 127.0.0.1:6379", || {
///     std::net::TcpStream::connect("127.0.0.1:6379")
/// }) else {
///     return;
/// };
/// ```
pub fn require<T, E: std::fmt::Display>(what: &str, connect: impl FnOnce() -> Result<T, E>) -> Option<T> {
    match connect() {
        Ok(value) => Some(value),
        Err(error) if in_ci() => panic!("{what} is required under CI=true: {error}"),
        Err(error) => {
            eprintln!("skipped: {what} is not available ({error})");
            None
        }
    }
}

/// Whether a server accepts TCP connections at `address` (`"127.0.0.1:6379"`); `what` names it
/// in the message (`"Redis"`). The rules of [`require`]: outside CI a missing server prints why
/// the test is skipped and gives `false`; under `CI=true` it panics.
pub fn require_server(address: &str, what: &str) -> bool {
    require(&format!("{what} on {address}"), || {
        let addresses = std::net::ToSocketAddrs::to_socket_addrs(address)?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, format!("{address} resolves to nothing"));
        for socket in addresses {
            match std::net::TcpStream::connect_timeout(&socket, std::time::Duration::from_secs(5)) {
                Ok(_) => return Ok(()),
                Err(error) => last = error,
            }
        }
        Err(last)
    })
    .is_some()
}

fn copy_dir(from: &Path, to: &Path, files: &[&str], extensions: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|error| error.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|error| error.to_string())?.filter_map(Result::ok) {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().to_string();
        let wanted = files.contains(&file_name.as_str())
            || path.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e));
        if wanted && path.is_file() {
            std::fs::copy(&path, to.join(&file_name)).map_err(|error| error.to_string())?;
        }
    }
    Ok(())
}
