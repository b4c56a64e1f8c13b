//! Installed plugins cost the registry nothing until a script names one of their symbols: the
//! host hands the registry the catalogue, and a plugin's stubs are made on the first look-up of
//! one of its names. The clashes found at start-up are those registering every stub found.
//! No library is loaded here (the plugins are manifests with a placeholder library).

use std::path::Path;
use std::rc::Rc;

use tusk_diagnostics::SourceMap;
use tusk_eval::{Options, Runtime, SymbolKind};
use tusk_plugin_catalog::SearchPath;
use tusk_plugin_catalog::manifest::default_library_name;
use tusk_plugin_host::host::{HostSettings, PluginHost};

fn write_plugin(plugins: &Path, name: &str, capabilities: &str) {
    let dir = plugins.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(default_library_name(name)), b"\x7fELF").unwrap();
    let manifest = format!(
        "[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ndescription = \"d\"\nauthor = \"a\"\nlicense = \"MIT\"\n\
         repository = \"r\"\nabi = \"1.0\"\n\n[capabilities]\n{capabilities}"
    );
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
}

/// A runtime with core and std and the plugins under `plugins` installed; the start-up
/// diagnostics as `CODE message`.
fn start(root: &Path, plugins: &Path) -> (Runtime, Rc<PluginHost>, Vec<String>) {
    start_with_index(root, plugins, None)
}

/// [`start`] with the discovery index at `index_file`.
fn start_with_index(root: &Path, plugins: &Path, index_file: Option<&Path>) -> (Runtime, Rc<PluginHost>, Vec<String>) {
    let mut runtime = Runtime::new(Options::default());
    let mut settings = HostSettings::standard(root);
    settings.search = SearchPath::from_parts(Some(plugins.as_os_str()), None, None, None);
    settings.index_file = index_file.map(Path::to_path_buf);
    settings.config_file = None;
    settings.cache_dir = root.join("cache");
    let host = PluginHost::discover(settings, &mut SourceMap::new(), Rc::new(|_: &str| {}));
    let mut diagnostics = host.catalog().diagnostics.clone();
    diagnostics.extend(host.install(runtime.registry_mut()));
    let listed = diagnostics.iter().map(|d| format!("{} {}", d.code.unwrap_or("-"), d.message)).collect();
    (runtime, host, listed)
}

fn compile_error_help(runtime: &mut Runtime, source: &str) -> Option<String> {
    let id = runtime.add_source("test.tsk", source);
    let Err(failure) = runtime.compile(id, None) else { panic!("a compile error") };
    failure.diagnostics.iter().find(|d| d.is_error()).and_then(|d| d.help.clone())
}

#[test]
fn an_unused_plugin_has_no_symbol_in_the_registry() {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    write_plugin(&plugins, "alpha", "operators = [\"alpha.op\"]\nfunctions = [\"alpha_fn\"]\n");
    write_plugin(&plugins, "beta", "operators = [\"beta.op\"]\nfunctions = [\"beta_fn\", \"beta_other\"]\n");
    let (mut runtime, _host, diagnostics) = start(root.path(), &plugins);
    assert_eq!(diagnostics, Vec::<String>::new());
    assert_eq!(runtime.registry().deferred_symbols_made(), 0);
    let plugins_known: Vec<&str> = runtime.registry().plugins().iter().map(|name| name.as_str()).collect();
    assert_eq!(plugins_known, ["core", "std", "alpha", "beta"]);

    // Compiling a script that names one of alpha's makes alpha's stubs, and only those.
    let id = runtime.add_source("test.tsk", "x: alpha_fn(1)\n");
    runtime.compile(id, None).unwrap_or_else(|failure| panic!("{:?}", failure.diagnostics));
    assert_eq!(runtime.registry().deferred_symbols_made(), 2);
    let symbol = runtime.registry().operator("alpha.op").unwrap();
    assert_eq!((symbol.plugin.as_str(), symbol.loaded().is_none()), ("alpha", true));
    assert_eq!(runtime.registry().deferred_symbols_made(), 2);

    // Names nobody provides cost a look-up, no symbol.
    assert!(runtime.registry().function("gamma_fn").is_none());
    assert!(runtime.registry().function("alpha.op").is_none());
    assert_eq!(runtime.registry().deferred_symbols_made(), 2);

    // "Did you mean" still sees every plugin's names.
    assert_eq!(compile_error_help(&mut runtime, "x: beta_fm(1)\n").as_deref(), Some("did you mean `beta_fn`?"));
    assert_eq!(compile_error_help(&mut runtime, "x: @beta.oq(1)\n").as_deref(), Some("did you mean `@beta.op`?"));
    assert_eq!(runtime.registry().deferred_symbols_made(), 5);

    // An embedder's function with a plugin's name clashes as it did with a registered stub.
    let error = runtime.registry().check_available("embedder", SymbolKind::Function, "beta_other").unwrap_err();
    assert_eq!(error.to_string(), "`beta_other` is provided by both `beta` and `embedder`");
}

#[test]
fn clashes_are_reported_at_start_up_and_stop_the_plugin_s_registration_there() {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    // `len` is std's: `dup_first` is registered, `len` and what follows it are not.
    write_plugin(&plugins, "dup", "functions = [\"dup_first\", \"len\", \"dup_after\"]\n");
    // Two plugins declaring one name, no preference: neither gets it.
    write_plugin(&plugins, "left", "operators = [\"shared\", \"left_only\"]\n");
    write_plugin(&plugins, "right", "operators = [\"shared\"]\n");
    let (mut runtime, host, diagnostics) = start(root.path(), &plugins);
    assert_eq!(
        diagnostics,
        [
            "X020 `@shared` is provided by `left` and `right`",
            "X024 plugin `dup` declares `len`, which the built-in `std` set provides",
            "X050 `len` is provided by both `std` and `dup`",
        ]
    );
    assert_eq!(runtime.registry().deferred_symbols_made(), 0);
    let registry = runtime.registry();
    assert_eq!(registry.function("dup_first").unwrap().plugin.as_str(), "dup");
    assert_eq!(registry.function("len").unwrap().plugin.as_str(), "std");
    assert!(registry.function("dup_after").is_none());
    assert!(registry.operator("shared").is_none());
    assert_eq!(registry.operator("left_only").unwrap().plugin.as_str(), "left");
    assert_eq!(registry.deferred_symbols_made(), 2);
    // What hot reload asks of every symbol of a new build: the provider only, up to the clash.
    let (operator, function) = (SymbolKind::Operator, SymbolKind::Function);
    let registers = [
        ("dup", function, "dup_first"),
        ("dup", function, "len"),
        ("dup", function, "dup_after"),
        ("dup", operator, "dup_first"),
        ("left", operator, "left_only"),
        ("left", function, "left_only"),
        ("right", operator, "left_only"),
        ("left", operator, "shared"),
        ("right", operator, "shared"),
    ]
    .map(|(plugin, kind, name)| host.registers(plugin, kind, name));
    assert_eq!(registers, [true, false, false, false, true, false, false, false, false]);
    let id = runtime.add_source("test.tsk", "x: @shared(1)\n");
    let Err(failure) = runtime.compile(id, None) else { panic!("an unknown operator") };
    assert_eq!(failure.diagnostics[0].message, "unknown operator `@shared`");
}

#[test]
fn a_built_in_name_two_plugins_declare_is_reported_for_both_and_registered_for_neither() {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    let index = root.path().join("cache").join("plugin-index.bin");
    write_plugin(&plugins, "one", "functions = [\"len\", \"one_fn\"]\n");
    write_plugin(&plugins, "two", "functions = [\"len\"]\noperators = [\"two.op\"]\n");
    write_plugin(&plugins, "three", "operators = [\"two.op\", \"three.op\"]\nfunctions = [\"keys\"]\n");
    // Not contested: its clash with a built-in is found by the registration check itself.
    write_plugin(&plugins, "four", "functions = [\"four_fn\", \"values\"]\n");
    // The same with every manifest parsed, then read from the index (written by the first run).
    for run in ["parsed", "written", "from the index"] {
        let index_file = (run != "parsed").then_some(index.as_path());
        let (runtime, host, diagnostics) = start_with_index(root.path(), &plugins, index_file);
        let reused = host.catalog().stats.reused;
        assert_eq!(reused, if run == "from the index" { 4 } else { 0 }, "{run}");
        assert_eq!(
            diagnostics,
            [
                "X020 `@two.op` is provided by `three` and `two`",
                "X020 `len` is provided by `one` and `two`",
                "X024 plugin `four` declares `values`, which the built-in `std` set provides",
                "X024 plugin `one` declares `len`, which the built-in `std` set provides",
                "X024 plugin `three` declares `keys`, which the built-in `std` set provides",
                "X024 plugin `two` declares `len`, which the built-in `std` set provides",
                "X050 `values` is provided by both `std` and `four`",
                "X050 `keys` is provided by both `std` and `three`",
            ],
            "{run}"
        );
        let registry = runtime.registry();
        assert_eq!(registry.function("len").unwrap().plugin.as_str(), "std");
        assert_eq!(registry.function("one_fn").unwrap().plugin.as_str(), "one");
        assert_eq!(registry.function("four_fn").unwrap().plugin.as_str(), "four");
        assert!(registry.operator("two.op").is_none());
        // `three.op` comes before the clash in `three`'s manifest: it is registered.
        assert_eq!(registry.operator("three.op").unwrap().plugin.as_str(), "three");
    }
}
