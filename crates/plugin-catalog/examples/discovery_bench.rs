//! Micro-benchmark of plugin discovery: 100 generated plugin folders, discovered cold (no index:
//! every manifest parsed, index written), warm (index hit: no TOML parsed) and without an index.
//!
//! Run with `cargo run --release -p tusk-plugin-catalog --example discovery_bench`.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tusk_diagnostics::SourceMap;
use tusk_plugin_catalog::manifest::default_library_name;
use tusk_plugin_catalog::{Origin, SearchPath, SearchRoot, discover};

const PLUGINS: usize = 100;
const RUNS: usize = 30;

fn write_plugins(root: &Path) {
    for n in 0..PLUGINS {
        let name = format!("plugin_{n:03}");
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(default_library_name(&name)), vec![0u8; 4096]).unwrap();
        std::fs::write(dir.join("config.schema.json"), br#"{"type": "object"}"#).unwrap();
        let manifest = format!(
            r#"[plugin]
name = "{name}"
version = "1.{n}.0"
description = "Generated plugin {n}"
author = "Bench"
license = "MIT"
repository = "https://example.com/{name}"
abi = "1.0"

[dependencies]
tusk = ">=0.1, <1"
core = "^0.1"

[capabilities]
operators = ["{name}", "{name}.get", "{name}.set", "{name}.list"]
functions = ["{name}_fn"]
types = ["{name}.handle"]

[permissions]
file_system = "read"
paths = ["${{script_dir}}/data", "/tmp/{name}-*"]
network = "outbound"
hosts = ["api.example.com:443"]
env = ["HOME", "TUSK_*"]

[config]
schema = "config.schema.json"

[[examples]]
code = '@{name}.get("x")'
result = 'null'
"#
        );
        std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("plugin-index.bin");
    write_plugins(root.path());
    let search = SearchPath { roots: vec![SearchRoot { dir: root.path().to_path_buf(), origin: Origin::User }] };
    let preferences = HashMap::new();

    let measure = |index: Option<&Path>, remove_index: bool, expect_parsed: usize| {
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            if remove_index {
                let _ = std::fs::remove_file(cache.path().join("plugin-index.bin"));
            }
            let mut sources = SourceMap::new();
            let start = Instant::now();
            let catalog = discover(&search, index, &preferences, &mut sources);
            times.push(start.elapsed());
            assert_eq!(catalog.plugins.len(), PLUGINS);
            assert!(catalog.diagnostics.is_empty(), "{:?}", catalog.diagnostics);
            assert_eq!(catalog.stats.parsed, expect_parsed);
        }
        median(times)
    };
    let no_index = measure(None, false, PLUGINS);
    let cold = measure(Some(&index), true, PLUGINS);
    // Leave one index in place for the warm runs.
    discover(&search, Some(&index), &preferences, &mut SourceMap::new());
    let warm = measure(Some(&index), false, 0);
    let index_size = std::fs::metadata(&index).unwrap().len();
    println!("{PLUGINS} plugins, median of {RUNS} runs:");
    println!("  no index (parse all):          {:>8.3} ms", no_index.as_secs_f64() * 1e3);
    println!("  cold (parse all, write index): {:>8.3} ms", cold.as_secs_f64() * 1e3);
    println!("  warm (index hit, no TOML):     {:>8.3} ms", warm.as_secs_f64() * 1e3);
    println!("  index file: {index_size} bytes");
}
