//! What the hot-reload and hostile-plugin tests share: the fixture libraries and the runner
//! (built once per test binary, in one cargo run), a temporary plugin folder, and a runtime with the real
//! plugin host installed in it.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;

use tusk_diagnostics::{Diagnostic, SourceMap};
use tusk_eval::{Options, Plugin, Registrar, RegistryError, Runtime, SymbolSpec, Value};
use tusk_plugin_catalog::{GrantSet, Grants, SearchPath};
use tusk_plugin_host::host::{HostSettings, PluginHost};
use tusk_plugin_testkit::Profile;

/// The runner's package, and its executable's name.
const RUNNER: &str = "tusk-plugin-runner";

/// Every fixture package plus the template plugin (the well-behaved control).
const PACKAGES: &[&str] = &[
    "my_plugin",
    "hostile-abort",
    "hostile-connect",
    "hostile-escape",
    "hostile-hog",
    "hostile-keeper",
    "hostile-liar",
    "hostile-netprobe",
    "hostile-nosy",
    "hostile-panic-init",
    "hostile-panic-op",
    "hostile-read-outside",
    "hostile-segfault",
    "hostile-spawn",
    "hostile-spin",
    "hostile-stuck",
    "hostile-swap",
    "hostile-threads",
    "hostile-write-outside",
    "fixture-events",
    "fixture-handoff-a",
    "fixture-handoff-b",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// True when `TUSK_FIXTURE_PROFILE=release` asks for optimised fixture libraries (a few
/// hundred KiB instead of megabytes of debug information: what a released plugin weighs, for
/// measuring swaps).
fn release_fixtures() -> bool {
    std::env::var("TUSK_FIXTURE_PROFILE").is_ok_and(|profile| profile == "release")
}

/// The fixture libraries and the runner, built once per test binary in one cargo run.
fn built() -> &'static tusk_plugin_testkit::Built {
    static BUILT: OnceLock<tusk_plugin_testkit::Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = if release_fixtures() { Profile::Release } else { Profile::Debug };
        let mut packages = PACKAGES.to_vec();
        packages.push(RUNNER);
        tusk_plugin_testkit::build_packages(&workspace(), &packages, profile).unwrap_or_else(|error| panic!("{error}"))
    })
}

/// The built library of a package.
pub fn library(package: &str) -> PathBuf {
    built().library(package).to_path_buf()
}

/// The source folder of a fixture (with its `plugin.toml`).
pub fn fixture_dir(fixture: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixture)
}

/// A build of the swap fixture: its marker patched to `status` (`ok` or `fail`) and
/// `generation`. Each distinct marker is distinct bytes, hence a new content-addressed file.
pub fn swap_build(status: &str, generation: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(library("hostile-swap")).expect("the swap fixture is built");
    let prefix = b"SWAP-MARKER:";
    let at = bytes.windows(prefix.len()).position(|window| window == prefix).expect("the marker is in the library")
        + prefix.len();
    let marker = format!("{status:<4}{generation:08}");
    bytes[at..at + 12].copy_from_slice(marker.as_bytes());
    bytes
}

/// A copy of a library's bytes with the info record's ABI major set to `major`.
pub fn with_abi_major(library: &Path, major: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(library).expect("the library is built");
    let magic = tusk_plugin_abi::INFO_MAGIC;
    let at = bytes.windows(magic.len()).position(|window| window == magic).expect("an info record");
    // magic (16 bytes), record_size (4), then abi_major (4).
    bytes[at + 20..at + 24].copy_from_slice(&major.to_le_bytes());
    bytes
}

/// The runner executable of sandboxed plugins (built with the fixtures).
pub fn runner() -> PathBuf {
    built().binary(RUNNER, RUNNER).to_path_buf()
}

/// The `tusk` executable, built once per test binary on first use (the runner is built with
/// the fixtures, which `tusk` finds through `TUSK_PLUGIN_RUNNER` in the tests that run it).
pub fn tusk() -> PathBuf {
    let profile = if release_fixtures() { Profile::Release } else { Profile::Debug };
    tusk_plugin_testkit::build_packages(&workspace(), &["tusk-cli"], profile)
        .unwrap_or_else(|error| panic!("{error}"))
        .binary("tusk-cli", "tusk")
        .to_path_buf()
}

/// Where the plugins of a [`TestHost`] run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In the test's process: every installed plugin is trusted.
    InProcess,
    /// In sandboxed runner processes: no plugin is trusted.
    Sandboxed,
}

/// A temporary plugin folder, a script folder, a cache, and a runtime whose registry has the
/// real plugin host installed.
pub struct TestHost {
    pub root: tempfile::TempDir,
    pub plugins: PathBuf,
    pub script_dir: PathBuf,
    pub runtime: Runtime,
    pub host: Rc<PluginHost>,
    pub printed: Rc<RefCell<Vec<String>>>,
    pub setup: Vec<Diagnostic>,
}

impl TestHost {
    /// Installs fixtures (`my_plugin` is the template plugin) and starts a host with the
    /// grants `flags` (command-line spelling: `--allow-read=/x`).
    pub fn new(fixtures: &[&str], flags: &[&str]) -> TestHost {
        let flags: Vec<String> = flags.iter().map(|flag| flag.to_string()).collect();
        TestHost::granting(fixtures, |_| flags)
    }

    /// As [`TestHost::new`], with flags that may name the script folder.
    pub fn granting(fixtures: &[&str], flags: impl FnOnce(&Path) -> Vec<String>) -> TestHost {
        TestHost::with_mode(Mode::InProcess, fixtures, flags, |_| {})
    }

    /// As [`TestHost::granting`], with the plugins in sandboxed runners whose settings
    /// `configure` may change (deadline, memory limit).
    pub fn sandboxed(
        fixtures: &[&str],
        flags: impl FnOnce(&Path) -> Vec<String>,
        configure: impl FnOnce(&mut HostSettings),
    ) -> TestHost {
        TestHost::with_mode(Mode::Sandboxed, fixtures, flags, configure)
    }

    /// As [`TestHost::granting`], with every plugin trusted but those named in `sandboxed`,
    /// which the sandbox takes anyway (`--sandbox NAME`): both modes in one host.
    pub fn mixed(fixtures: &[&str], flags: impl FnOnce(&Path) -> Vec<String>, sandboxed: &[&str]) -> TestHost {
        let sandboxed: Vec<String> = sandboxed.iter().map(|name| name.to_string()).collect();
        TestHost::with_mode(Mode::InProcess, fixtures, flags, |settings| {
            settings.sandbox.runner = Some(runner());
            settings.sandbox.plugins = sandboxed;
        })
    }

    fn with_mode(
        mode: Mode,
        fixtures: &[&str],
        flags: impl FnOnce(&Path) -> Vec<String>,
        configure: impl FnOnce(&mut HostSettings),
    ) -> TestHost {
        let root = tempfile::tempdir().unwrap();
        let plugins = root.path().join("plugins");
        let script_dir = root.path().join("scripts");
        std::fs::create_dir_all(&script_dir).unwrap();
        let script_dir = script_dir.canonicalize().unwrap();
        for fixture in fixtures {
            install(&plugins, fixture);
        }
        let flags = flags(&script_dir);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        TestHost::configured(mode, root, plugins, script_dir, &flags, configure)
    }

    /// Starts a host on plugin folders already prepared under `root/plugins`.
    pub fn start(
        mode: Mode,
        root: tempfile::TempDir,
        plugins: PathBuf,
        script_dir: PathBuf,
        flags: &[&str],
    ) -> TestHost {
        TestHost::configured(mode, root, plugins, script_dir, flags, |_| {})
    }

    fn configured(
        mode: Mode,
        root: tempfile::TempDir,
        plugins: PathBuf,
        script_dir: PathBuf,
        flags: &[&str],
        configure: impl FnOnce(&mut HostSettings),
    ) -> TestHost {
        let printed: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut runtime = Runtime::new(Options::default());
        let sink = printed.clone();
        let printer: Rc<dyn Fn(&str)> = Rc::new(move |text: &str| sink.borrow_mut().push(text.to_string()));
        runtime.set_printer(Some(printer.clone()));
        let mut settings = HostSettings::standard(&script_dir);
        settings.search = SearchPath::from_parts(Some(plugins.as_os_str()), None, None, None);
        settings.index_file = None;
        settings.config_file = None;
        settings.cache_dir = root.path().join("cache");
        let mut grants = Grants::new(&script_dir);
        grants.flags = GrantSet::from_flags(flags.iter().copied()).expect("valid flags");
        grants.grants_file = root.path().join("grants.toml");
        match mode {
            // Trust is what runs a plugin in-process; it grants no permission.
            Mode::InProcess => {
                for entry in std::fs::read_dir(&plugins).into_iter().flatten().flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    grants.plugins.insert(name, GrantSet { trusted: true, ..GrantSet::default() });
                }
            }
            Mode::Sandboxed => settings.sandbox.runner = Some(runner()),
        }
        settings.grants = grants;
        configure(&mut settings);
        let host = PluginHost::discover(settings, runtime.sources_mut(), printer);
        host.set_event_sender(runtime.event_sender());
        let mut setup = host.catalog().diagnostics.clone();
        setup.extend(host.install(runtime.registry_mut()));
        TestHost { root, plugins, script_dir, runtime, host, printed, setup }
    }

    /// The folder a plugin is installed in.
    pub fn plugin_dir(&self, plugin: &str) -> PathBuf {
        self.plugins.join(plugin)
    }

    /// Evaluates a document; the error is the first error diagnostic, as text.
    pub fn eval(&mut self, source: &str) -> Result<serde_json::Value, Failure> {
        let id = self.runtime.add_source("test.tsk", source);
        match self.runtime.evaluate(id, Some(self.script_dir.clone())) {
            Ok(evaluation) => Ok(serde_json::to_value(Value::object(evaluation.document)).unwrap()),
            Err(failure) => {
                let error = failure.diagnostics.iter().find(|d| d.is_error()).expect("an error").clone();
                Err(Failure::of(&error))
            }
        }
    }

    /// Evaluates `key: EXPRESSION` and returns the value.
    pub fn value(&mut self, expression: &str) -> Result<serde_json::Value, Failure> {
        self.eval(&format!("value: {expression}\n")).map(|document| document["value"].clone())
    }

    /// Registers an operator the script can call (an embedder's operator).
    pub fn operator(&mut self, name: &str, function: impl Fn() -> Value + 'static) {
        struct One(RefCell<Option<SymbolSpec>>);
        impl Plugin for One {
            fn name(&self) -> &str {
                "test"
            }
            fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
                registrar.add(self.0.borrow_mut().take().unwrap()).map(|_| ())
            }
        }
        let spec = SymbolSpec::operator(name, move |_, _| Ok(function()));
        self.runtime.register(&One(RefCell::new(Some(spec)))).unwrap();
    }

    /// What went through the printer (`print()`, plugin logs, reload reports), and forgets it.
    pub fn take_printed(&self) -> Vec<String> {
        std::mem::take(&mut *self.printed.borrow_mut())
    }

    /// The sources, for rendering.
    pub fn sources(&self) -> &SourceMap {
        self.runtime.sources()
    }
}

/// An error diagnostic's text parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Failure {
    fn of(diagnostic: &Diagnostic) -> Failure {
        Failure { message: diagnostic.message.clone(), notes: diagnostic.notes.clone(), help: diagnostic.help.clone() }
    }
}

/// Copies a fixture's `plugin.toml` and library into `plugins/<name>/`.
pub fn install(plugins: &Path, fixture: &str) -> PathBuf {
    let (manifest_dir, package) = match fixture {
        "my_plugin" => (workspace().join("examples/plugins/my_plugin"), "my_plugin".to_string()),
        "events" => (fixture_dir("events"), "fixture-events".to_string()),
        "handoff_a" | "handoff_b" => (fixture_dir(fixture), format!("fixture-{}", fixture.replace('_', "-"))),
        other => (fixture_dir(other), format!("hostile-{}", other.replace('_', "-"))),
    };
    let dir = plugins.join(fixture);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(manifest_dir.join("plugin.toml"), dir.join("plugin.toml")).unwrap();
    let library = library(&package);
    std::fs::copy(&library, dir.join(library.file_name().unwrap())).unwrap();
    dir
}

/// Replaces a file the way a build does (a new file renamed over the old one), so that a
/// reader never sees half of it.
pub fn replace_file(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}
