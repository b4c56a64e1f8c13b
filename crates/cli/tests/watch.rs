//! `tusk run --watch`: the script runs again when it changes, and when a plugin library
//! changes the plugin is reloaded in place first; a build whose `initialize` fails is reported
//! and the running one keeps serving. Uses the hot-reload fixture of the plugin host.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Running;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The swap fixture's library (built once per test binary).
fn swap_library() -> PathBuf {
    let package = "hostile-swap";
    let built = tusk_plugin_testkit::build_packages(&workspace(), &[package], tusk_plugin_testkit::Profile::Debug)
        .unwrap_or_else(|error| panic!("{error}"));
    built.library(package).to_path_buf()
}

/// The fixture with its marker set to `status` and `generation` (see its `MARKER`).
fn swap_build(library: &Path, status: &str, generation: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(library).unwrap();
    let prefix = b"SWAP-MARKER:";
    let at = bytes.windows(prefix.len()).position(|window| window == prefix).unwrap() + prefix.len();
    bytes[at..at + 12].copy_from_slice(format!("{status:<4}{generation:08}").as_bytes());
    bytes
}

/// Replaces a file the way a build does: a new file renamed over the old one.
fn replace_file(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[test]
fn run_watch_reruns_on_script_and_plugin_changes() {
    let library = swap_library();
    let root = tempfile::tempdir().unwrap();
    let plugin_dir = root.path().join("plugins/swap");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(
        workspace().join("crates/plugin-host/tests/fixtures/swap/plugin.toml"),
        plugin_dir.join("plugin.toml"),
    )
    .unwrap();
    let installed = plugin_dir.join("libhostile_swap.so");
    replace_file(&installed, &swap_build(&library, "ok", 1));
    let grants = root.path().join("grants.toml");
    std::fs::write(&grants, "[swap]\ntrusted = true\n").unwrap();
    let script = root.path().join("main.tsk");
    std::fs::write(&script, "version: @swap.version()\n").unwrap();
    for folder in ["cache", "data", "config"] {
        std::fs::create_dir_all(root.path().join(folder)).unwrap();
    }

    let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
    command
        .args(["run", "--watch", "--compact", "--grants"])
        .arg(&grants)
        .arg(&script)
        .env_remove("TUSK_PLUGIN_PATH")
        .env("XDG_CACHE_HOME", root.path().join("cache"))
        .env("XDG_DATA_HOME", root.path().join("data"))
        .env("XDG_CONFIG_HOME", root.path().join("config"))
        .env("TUSK_PLUGIN_CACHE", root.path().join("cache/plugins"))
        .env("NO_COLOR", "1");
    let watching = Running::spawn(command);
    let waiting = |line: &str| line.starts_with("[watching");

    assert_eq!(watching.stdout.until(|line| line.starts_with('{')), r#"{"version":1}"#);
    watching.stderr.until(waiting);

    // A rebuilt plugin: reloaded in place, then the script runs again.
    replace_file(&installed, &swap_build(&library, "ok", 2));
    assert_eq!(watching.stderr.until(|line| line.contains("reloaded")), "plugin `swap` reloaded: generation 2 serves");
    assert_eq!(watching.stdout.until(|line| line.starts_with('{')), r#"{"version":2}"#);
    watching.stderr.until(waiting);

    // A build whose initialize fails: reported, the script is not run again for it, and
    // generation 2 keeps serving.
    replace_file(&installed, &swap_build(&library, "fail", 3));
    assert_eq!(
        watching.stderr.until(|line| line.contains("was not reloaded")),
        "[X060] Error: plugin `swap` was not reloaded: plugin `swap` failed to initialize: generation 3 refuses to \
         start; generation 2 keeps serving"
    );

    // The script changed: it runs again, on generation 2.
    std::fs::write(&script, "version: @swap.version()\nnext: version + 1\n").unwrap();
    assert_eq!(watching.stdout.until(|line| line.starts_with('{')), r#"{"version":2,"next":3}"#);
    watching.stderr.until(waiting);
}

#[test]
fn run_watch_needs_a_file() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_tusk")).args(["run", "--watch", "-"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "Error: `--watch` needs a file, not standard input\n");
}

#[test]
fn repl_reload_swaps_a_rebuilt_plugin_and_keeps_the_old_one_when_the_new_one_fails() {
    use std::io::Write;

    let library = swap_library();
    let root = tempfile::tempdir().unwrap();
    let plugin_dir = root.path().join("plugins/swap");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(
        workspace().join("crates/plugin-host/tests/fixtures/swap/plugin.toml"),
        plugin_dir.join("plugin.toml"),
    )
    .unwrap();
    let installed = plugin_dir.join("libhostile_swap.so");
    replace_file(&installed, &swap_build(&library, "ok", 1));
    let grants = root.path().join("grants.toml");
    std::fs::write(&grants, "[swap]\ntrusted = true\n").unwrap();
    for folder in ["cache", "data", "config"] {
        std::fs::create_dir_all(root.path().join(folder)).unwrap();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
    command
        .args(["repl", "--grants"])
        .arg(&grants)
        .current_dir(root.path())
        .env_remove("TUSK_PLUGIN_PATH")
        .env("XDG_CACHE_HOME", root.path().join("cache"))
        .env("XDG_DATA_HOME", root.path().join("data"))
        .env("XDG_CONFIG_HOME", root.path().join("config"))
        .env("TUSK_PLUGIN_CACHE", root.path().join("cache/plugins"))
        .env("NO_COLOR", "1");
    let mut repl = Running::spawn(command);
    let mut stdin = repl.child.stdin.take().unwrap();
    let mut send = |line: &str| writeln!(stdin, "{line}").unwrap();

    send(":reload");
    repl.stdout.until(|line| line.ends_with("no plugin is loaded yet (plugins load on their first call)"));
    send("@swap.version()");
    repl.stdout.until(|line| line.ends_with('1'));
    replace_file(&installed, &swap_build(&library, "ok", 2));
    send(":reload swap");
    repl.stdout.until(|line| line.ends_with("plugin `swap` reloaded: generation 2 serves"));
    send("@swap.version()");
    repl.stdout.until(|line| line.ends_with('2'));
    replace_file(&installed, &swap_build(&library, "fail", 3));
    send(":reload");
    repl.stderr.until(|line| {
        line.contains(
            "plugin `swap` was not reloaded: plugin `swap` failed to initialize: generation 3 refuses to start; \
             generation 2 keeps serving",
        )
    });
    send("@swap.version()");
    repl.stdout.until(|line| line.ends_with('2'));
}
