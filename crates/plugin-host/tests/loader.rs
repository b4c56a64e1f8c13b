//! Loads the template plugin (examples/plugins/my_plugin) through the real loader and calls it
//! from scripts.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use tusk_eval::{Implementation, Mode, Options, Runtime, SymbolKind, SymbolSpec, Value};
use tusk_plugin_host::ffi::HostServices;
use tusk_plugin_host::loader::{
    Expected, LoadError, cache_copy, known_cache_copy, load, parse_info_record, read_info_record, remember_cache_copy,
};

/// Builds a workspace cdylib package (once per test binary) and returns the library path.
fn build_cdylib(package: &str) -> PathBuf {
    let built = tusk_plugin_testkit::build_packages(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[package],
        tusk_plugin_testkit::Profile::Debug,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    built.library(package).to_path_buf()
}

struct AllowAll;

impl HostServices for AllowAll {
    fn may_read(&self, _: &str, path: &Path) -> Result<PathBuf, String> {
        Ok(path.to_path_buf())
    }
    fn may_write(&self, _: &str, path: &Path) -> Result<PathBuf, String> {
        Ok(path.to_path_buf())
    }
    fn resolve_path(&self, _: &str, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    fn may_read_env(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn may_connect(&self, _: &str, _: &str, _: u16) -> Result<(), String> {
        Ok(())
    }
    fn log(&self, _: &str, _: u32, _: &str, _: &Value) {}
    fn cancelled(&self) -> bool {
        false
    }
}

fn expected<'a>(operators: &'a [String], functions: &'a [String]) -> Expected<'a> {
    Expected { name: "my_plugin", version: "1.0.0", operators, functions, types: &[], capabilities: true }
}

#[test]
fn a_remembered_cache_copy_serves_until_the_library_changes() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libx.so");
    std::fs::write(&library, b"build one").unwrap();
    let cache = dir.path().join("cache");
    assert_eq!(known_cache_copy(&library, "x", &cache), None, "nothing remembered yet");
    let copy = cache_copy(b"build one", &library, "x", &cache).unwrap();
    remember_cache_copy(&library, "x", &cache, &copy);
    assert_eq!(known_cache_copy(&library, "x", &cache), Some(copy.clone()));
    assert_eq!(std::fs::read(&copy).unwrap(), b"build one");
    // A rebuild (new bytes, new times) is not the remembered file.
    std::fs::write(&library, b"build two").unwrap();
    assert_eq!(known_cache_copy(&library, "x", &cache), None);
    // Nor is a copy that was cleaned out of the cache.
    std::fs::write(&library, b"build one").unwrap();
    let copy = cache_copy(b"build one", &library, "x", &cache).unwrap();
    remember_cache_copy(&library, "x", &cache, &copy);
    std::fs::remove_file(&copy).unwrap();
    assert_eq!(known_cache_copy(&library, "x", &cache), None);
}

#[test]
fn template_plugin_loads_and_serves_calls() {
    let library = build_cdylib("my_plugin");
    let info = read_info_record(&library).expect("info record");
    assert_eq!(tusk_plugin_abi::fixed_text(&info.package), "my_plugin");
    let cache = tempfile::tempdir().unwrap();
    let copy = cache_copy(&std::fs::read(&library).unwrap(), &library, "my_plugin", cache.path()).unwrap();
    let operators = vec!["my_operator".to_string()];
    let functions = vec!["my_function".to_string()];
    let plugin = load(&copy, &expected(&operators, &functions), "{}", Rc::new(AllowAll)).expect("loads");

    let mut runtime = Runtime::new(Options { mode: Mode::Default, ..Options::default() });
    for (kind, name) in [(SymbolKind::Operator, "my_operator"), (SymbolKind::Function, "my_function")] {
        let symbol = plugin.symbol(kind, name).unwrap().clone();
        // The operator through the function the routes that keep one get, the function
        // through the direct call the registry's symbols get.
        let implementation = match kind {
            SymbolKind::Operator => Implementation::Native(plugin.native_function(&symbol)),
            SymbolKind::Function => plugin.implementation(&symbol),
        };
        assert_eq!(matches!(implementation, Implementation::Direct(_)), kind == SymbolKind::Function);
        let spec = SymbolSpec::new(name, kind, implementation);
        struct One(std::cell::RefCell<Option<SymbolSpec>>);
        impl tusk_eval::Plugin for One {
            fn name(&self) -> &str {
                "my_plugin"
            }
            fn register(&self, registrar: &mut tusk_eval::Registrar<'_>) -> Result<(), tusk_eval::RegistryError> {
                registrar.add(self.0.borrow_mut().take().unwrap()).map(|_| ())
            }
        }
        runtime.register(&One(std::cell::RefCell::new(Some(spec)))).unwrap();
    }
    let id =
        runtime.add_source("t.tsk", "a: @my_operator(\"tusk\")\nb: my_function(21)\nc: map([1, 2], my_function)\n");
    let document = runtime.evaluate(id, None).map_err(|f| format!("{:?}", f.diagnostics)).unwrap().document;
    assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), r#"{"a":"Hello, tusk!","b":42,"c":[2,4]}"#);

    let id = runtime.add_source("bad.tsk", "x: my_function(\"no\")\n");
    let failure = runtime.evaluate(id, None).unwrap_err();
    assert_eq!(failure.diagnostics[0].message, "my_function: expected a number, found string");
    // An array is lent as a handle (the call's out-of-line route), released after the call.
    let id = runtime.add_source("array.tsk", "x: my_function([1, 2])\n");
    let failure = runtime.evaluate(id, None).unwrap_err();
    assert_eq!(failure.diagnostics[0].message, "my_function: expected a number, found array");
    assert_eq!(plugin.live_handles(), 0);
    plugin.shutdown().unwrap();
    let id = runtime.add_source("after.tsk", "x: my_function(1)\n");
    let failure = runtime.evaluate(id, None).unwrap_err();
    assert!(failure.diagnostics[0].message.contains("has been shut down"), "{:?}", failure.diagnostics[0]);
}

#[test]
fn the_info_record_read_from_its_section_is_the_one_in_the_whole_file() {
    let library = build_cdylib("my_plugin");
    let bytes = std::fs::read(&library).unwrap();
    let from_section = read_info_record(&library).expect("info record");
    let from_bytes = parse_info_record(&library, &bytes).expect("info record");
    assert_eq!(format!("{from_section:?}"), format!("{from_bytes:?}"));
    // Cut short, the section table (at the end) is gone: the file is read whole and scanned.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("libcut.so");
    std::fs::write(&cut, &bytes[..bytes.len() - 4096]).unwrap();
    let scanned = read_info_record(&cut).expect("the record found by its magic");
    assert_eq!(format!("{scanned:?}"), format!("{from_bytes:?}"));
    // A section table pointing past the end of the file is not followed.
    let mut lying = bytes.clone();
    lying[0x28..0x30].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    std::fs::write(&cut, &lying).unwrap();
    let scanned = read_info_record(&cut).expect("the record found by its magic");
    assert_eq!(tusk_plugin_abi::fixed_text(&scanned.package), "my_plugin");
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused_before_loading() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"\x7fELF not really").unwrap();
    match read_info_record(file.path()) {
        Err(LoadError::NotAPlugin { .. }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}
