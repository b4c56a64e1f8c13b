//! Runs the real `tusk` binary on plugins: `tusk plugin list|info|check|new|install|remove|docs`,
//! the permission flags and their messages, unknown-operator hints, and plugin shutdown at
//! exit, on errors and on Ctrl-C.
//!
//! Every run gets its own home: `XDG_DATA_HOME`, `XDG_CONFIG_HOME`, `XDG_CACHE_HOME` and
//! `TUSK_PLUGIN_PATH` point into a temporary folder, so tests never touch the real one. The test
//! plugin `cli_probe` (tests/fixtures/cli_probe) and the sandbox runner are built once per test
//! binary, in one cargo run, into the target folder of these tests; every run of the binary uses
//! that runner (`TUSK_PLUGIN_RUNNER`). Plugin crates made by `tusk plugin new` are not in the
//! workspace: they build into a target folder of their own inside ours (kept between runs, so
//! only the first run pays for compiling their dependencies), never into the source tree.
//!
//! Untrusted plugins run in the sandboxed runner, which may note on standard error that the
//! kernel offers a weaker sandbox; such notes depend on the machine and are removed before
//! comparing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Env, assert_output, clean_stderr, shared_target_dir};

impl Env {
    /// A home with `TUSK_PLUGIN_PATH` and the runner built for these tests.
    fn new() -> Env {
        Env::home(built().binary(RUNNER, RUNNER), true)
    }

    /// Installs the test plugin into `root` (a search folder) as `root/cli_probe`.
    fn add_probe(&self, root: &Path) -> PathBuf {
        let dir = root.join("cli_probe");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(probe_dir().join("plugin.toml"), dir.join("plugin.toml")).unwrap();
        std::fs::copy(probe_library(), dir.join("libtusk_plugin_cli_probe.so")).unwrap();
        dir
    }

    /// Trusts the test plugin (in-process) and grants what it asks for, in the grants file.
    fn trust_probe(&self) {
        std::fs::create_dir_all(self.path("config/tusk")).unwrap();
        let grants = "[cli_probe]\ntrusted = true\nallow_read = [\"${script_dir}/data\"]\n";
        std::fs::write(self.path("config/tusk/grants.toml"), grants).unwrap();
    }
}

/// The target folder these tests were built in (cargo's `CARGO_TARGET_TMPDIR` is its `tmp`).
fn workspace_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the tmp folder is inside the target folder").to_path_buf()
}

fn probe_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cli_probe")
}

const PROBE: &str = "tusk-plugin-cli-probe";
const RUNNER: &str = "tusk-plugin-runner";

/// The test plugin and the runner, built once per test binary (in one cargo run).
fn built() -> &'static tusk_plugin_testkit::Built {
    static BUILT: OnceLock<tusk_plugin_testkit::Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        tusk_plugin_testkit::build_packages(&probe_dir(), &[PROBE, RUNNER], tusk_plugin_testkit::Profile::Debug)
            .unwrap_or_else(|error| panic!("{error}"))
    })
}

/// The test plugin's library.
fn probe_library() -> &'static Path {
    built().library(PROBE)
}

/// A plugin folder with a manifest and a library file that is not a real library (enough for
/// discovery, listing and installing, which never open it).
fn fake_plugin(root: &Path, name: &str, extra: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("libtusk_plugin_{name}.so")), b"not a library").unwrap();
    std::fs::write(
        dir.join("plugin.toml"),
        format!(
            "[plugin]\nname = \"{name}\"\nversion = \"0.2.0\"\ndescription = \"Fake plugin {name}\"\nauthor = \"Tests\"\n\
             license = \"MIT\"\nrepository = \"https://example.invalid/{name}\"\nabi = \"1.0\"\n{extra}"
        ),
    )
    .unwrap();
    dir
}

/// The plugin ABI libraries built against this SDK carry (`ABI_MAJOR.ABI_MINOR`), which the
/// probe's manifest declares.
fn library_abi() -> String {
    format!("{}.{}", tusk_plugin_abi::ABI_MAJOR, tusk_plugin_abi::ABI_MINOR)
}

/// `plugin ABI 1.10, tusk-plugin-sdk 0.1.0`, as `tusk plugin check` shows a library.
fn record_text() -> String {
    format!("plugin ABI {}, tusk-plugin-sdk {}", library_abi(), tusk_plugin_sdk::SDK_VERSION)
}

fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_tusk")).parent().unwrap().join("plugins")
}

#[test]
fn list_shows_every_plugin_with_shadowed_copies_and_manifest_problems() {
    let env = Env::new();
    let probe = env.add_probe(&env.plugin_path());
    let shadowed = env.add_probe(&env.user_plugins());
    let fake = fake_plugin(&env.plugin_path(), "fake", "[capabilities]\nfunctions = [\"fake_fn\"]\n");
    let broken = fake_plugin(&env.plugin_path(), "broken", "");
    let manifest = broken.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("0.2.0", "1.0");
    std::fs::write(&manifest, text).unwrap();
    let output = env.run(&["plugin", "list"]);
    let stdout = format!(
        "cli_probe 1.0.0: Test plugin of the tusk command's tests
  folder:      {probe} (TUSK_PLUGIN_PATH)
  mode:        sandboxed
  operators:   @cli_probe.read, @cli_probe.wait
  functions:   cli_probe_twice
  permissions: read ${{script_dir}}/data
  shadows:     {shadowed}

fake 0.2.0: Fake plugin fake
  folder:      {fake} (TUSK_PLUGIN_PATH)
  mode:        sandboxed
  operators:   -
  functions:   fake_fn
  permissions: none

search path:
  {plugins} (TUSK_PLUGIN_PATH)
  {work}/plugins (project, not found)
  {user} (user)
  {bundled} (bundled, not found)
",
        probe = probe.display(),
        shadowed = shadowed.display(),
        fake = fake.display(),
        plugins = env.plugin_path().display(),
        work = env.work().display(),
        user = env.user_plugins().display(),
        bundled = bundled_dir().display(),
    );
    // Problems are warnings here: listing works, and so do scripts that do not need the plugin.
    let stderr = format!(
        "[X008] Warning: invalid version `1.0`: unexpected end of input while parsing minor version number
   ,-[ {manifest}:3:11 ]
   |
 3 | version = \"1.0\"
   |           ^^|^^
   |             `---- not a semantic version
   |
   | Help: write a full semantic version such as `0.1.0` or `1.2.3-beta.1`
---'
[X021] Warning: plugin `cli_probe` in {probe} shadows the one in {shadowed}
  Note: using version 1.0.0 from {probe}; version 1.0.0 is ignored
  Help: remove the plugin folder you do not want, or reorder TUSK_PLUGIN_PATH
",
        manifest = manifest.display(),
        probe = probe.display(),
        shadowed = shadowed.display(),
    );
    assert_output(&output, 0, &stdout, &stderr);
    let output = env.run(&["--color", "never", "check", "-"]);
    assert_eq!((output.code, output.stderr.as_str()), (0, stderr.as_str()), "`tusk check` shows them too");
}

#[test]
fn list_without_plugins_shows_where_tusk_looks() {
    let env = Env::new();
    let output = env.run(&["plugin", "list"]);
    let stdout = format!(
        "no plugins found

search path:
  {} (TUSK_PLUGIN_PATH)
  {}/plugins (project, not found)
  {} (user, not found)
  {} (bundled, not found)
",
        env.plugin_path().display(),
        env.work().display(),
        env.user_plugins().display(),
        bundled_dir().display()
    );
    assert_output(&output, 0, &stdout, "");
}

#[test]
fn info_shows_the_manifest_the_grants_and_the_info_record() {
    let env = Env::new();
    let probe = env.add_probe(&env.plugin_path());
    let output = env.run(&["plugin", "info", "cli_probe"]);
    let data = env.work().join("data");
    let grants = env.path("config/tusk/grants.toml");
    let stdout = format!(
        "name:         cli_probe
version:      1.0.0
description:  Test plugin of the tusk command's tests
author:       TuskLang for Rust
license:      MIT
repository:   https://example.invalid/tusklang-rust
folder:       {probe} (TUSK_PLUGIN_PATH)
manifest:     {probe}/plugin.toml
library:      {probe}/libtusk_plugin_cli_probe.so
plugin ABI:   {abi_shown}
mode:         sandboxed
hot reload:   yes
operators:    @cli_probe.read, @cli_probe.wait
functions:    cli_probe_twice
types:        -
permissions:  read ${{script_dir}}/data
granted:      no: plugin `cli_probe` needs read access to {data}; run with --allow-read={data} or add `allow_read = [\"${{script_dir}}/data\"]` under [cli_probe] in {grants}
dependencies: -
config schema: -
examples:     1
library info record (read from the file, not loaded):
  package:    tusk-plugin-cli-probe 1.0.0
  SDK:        tusk-plugin-sdk {sdk}
  target:     {arch}-{os}
  panics:     unwind
  loadable:   yes
sandbox: not started: plugin `cli_probe` needs read access to {data}
",
        probe = probe.display(),
        data = data.display(),
        grants = grants.display(),
        // The library's ABI (the manifest says the same, so it is not repeated).
        abi_shown = library_abi(),
        sdk = tusk_plugin_sdk::SDK_VERSION,
        arch = std::env::consts::ARCH,
        os = std::env::consts::OS,
    );
    assert_output(&output, 0, &stdout, "");

    let data = data.display().to_string();
    let output = env.run(&[&format!("--allow-read={data}"), "plugin", "info", "cli_probe"]);
    assert!(output.stdout.contains("\ngranted:      yes\n"), "{}", output.stdout);
    assert!(output.stdout.contains("\nsandboxed: runner "), "{}", output.stdout);

    let output = env.run(&["plugin", "info", "nope"]);
    assert_output(&output, 1, "", "Error: no plugin named `nope` is installed (installed: cli_probe)\n");
}

#[test]
fn check_of_the_template_plugin_passes() {
    let env = Env::new();
    let template =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/my_plugin").canonicalize().unwrap();
    let template = template.display().to_string();
    // The template is a member of this workspace: it builds into the target folder of the
    // workspace build these tests come from, as a developer's `tusk plugin check` would.
    let output =
        env.command(&["plugin", "check", &template]).env("CARGO_TARGET_DIR", workspace_target_dir()).output().unwrap();
    let stdout = format!(
        "checking {template}
ok      build (cargo build, debug profile)
ok      manifest: my_plugin 1.0.0
ok      library libmy_plugin.so: {record}, {arch}-{os}, panic=unwind
ok      load: registers @my_operator, my_function, as the manifest declares
ok      example @my_operator(\"tusk\") => \"Hello, tusk!\"
ok      example @my_operator(\"tusk\") => \"Hello, tusk!\"
ok      shutdown
7 checks passed
",
        record = record_text(),
        arch = std::env::consts::ARCH,
        os = std::env::consts::OS,
    );
    let stderr = clean_stderr(&String::from_utf8(output.stderr).unwrap());
    assert_eq!(
        (output.status.code(), String::from_utf8(output.stdout).unwrap().as_str(), stderr.as_str()),
        (Some(0), stdout.as_str(), format!("building my_plugin: cargo build in {template}\n").as_str())
    );
}

#[test]
fn check_of_a_broken_manifest_fails_pointing_into_it() {
    let env = Env::new();
    let dir = fake_plugin(&env.work(), "shaky", "[capabilities]\noperators = [\"@shake\"]\n");
    let output = env.run(&["plugin", "check", "./shaky"]);
    let manifest = dir.join("plugin.toml");
    let stderr = format!(
        "[X006] Error: invalid operator name `@shake`
    ,-[ {manifest}:10:14 ]
    |
 10 | operators = [\"@shake\"]
    |              ^^^^|^^^
    |                  `----- not a valid name
    |
    | Help: write operators without `@`, like `shake`
----'
",
        manifest = manifest.display()
    );
    assert_output(&output, 1, "checking ./shaky\nFAILED  manifest\n1 of 1 checks failed\n", &stderr);
}

#[test]
fn check_loads_the_plugin_with_the_users_grants_only_and_runs_every_example() {
    let env = Env::new();
    let dir = env.add_probe(&env.work());
    let output = env.run(&["plugin", "check", "./cli_probe"]);
    let data = env.work().join("data");
    let stdout = format!(
        "checking ./cli_probe
ok      manifest: cli_probe 1.0.0
ok      library libtusk_plugin_cli_probe.so: {}, {}-{}, panic=unwind
note    plugin `cli_probe` needs read access to {}: not granted, so refused while checking
ok      load: registers @cli_probe.read, @cli_probe.wait, cli_probe_twice, as the manifest declares
ok      example cli_probe_twice(21) => 42
ok      example cli_probe_twice(2) => 4
ok      shutdown
6 checks passed
",
        record_text(),
        std::env::consts::ARCH,
        std::env::consts::OS,
        data.display(),
    );
    assert_output(&output, 0, &stdout, "");
    // Granted, nothing to note.
    let output = env.run(&[&format!("--allow-read={}", data.display()), "plugin", "check", "./cli_probe"]);
    assert!(!output.stdout.contains("\nnote "), "{output:?}");
    assert_eq!(output.stdout.lines().last(), Some("6 checks passed"), "{output:?}");

    // An installed plugin is checked by its name.
    env.add_probe(&env.plugin_path());
    let output = env.run(&["plugin", "check", "cli_probe"]);
    assert!(output.stdout.starts_with("checking cli_probe\nok      manifest: cli_probe 1.0.0\n"), "{output:?}");
    assert_eq!(output.stdout.lines().last(), Some("6 checks passed"), "{output:?}");

    // A library that is not a plugin fails at the info record, before anything is loaded.
    let library = dir.join("libtusk_plugin_cli_probe.so");
    std::fs::write(&library, b"not a library").unwrap();
    let output = env.run(&["plugin", "check", "./cli_probe"]);
    let stdout = format!(
        "checking ./cli_probe
ok      manifest: cli_probe 1.0.0
FAILED  library: {} is not a TuskLang plugin: it has no info record (build it with `tusk_plugin_sdk::export_plugin!`)
1 of 2 checks failed
",
        library.display()
    );
    assert_output(&output, 1, &stdout, "");
}

#[test]
fn check_writes_the_capabilities_from_what_the_plugin_registers() {
    let env = Env::new();
    let dir = env.add_probe(&env.work());
    let manifest = dir.join("plugin.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    // The index forgot the function and names an operator that does not exist.
    let stale = original
        .replace("functions = [\"cli_probe_twice\"]", "# kept: a comment in the table\nfunctions = []")
        .replace("\"cli_probe.wait\"]", "\"cli_probe.wait\", \"cli_probe.gone\"]");
    assert_ne!(stale, original, "the fixture's manifest changed: update this test");
    std::fs::write(&manifest, &stale).unwrap();

    let library_line = format!(
        "ok      library libtusk_plugin_cli_probe.so: {}, {}-{}, panic=unwind\n",
        record_text(),
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    // `check` grants nothing the user did not: the probe's read permission is noted, not given.
    let library_line = format!(
        "{library_line}note    plugin `cli_probe` needs read access to {}: not granted, so refused while checking\n",
        env.work().join("data").display()
    );
    let output = env.run(&["plugin", "check", "./cli_probe"]);
    let stdout = format!(
        "checking ./cli_probe\nok      manifest: cli_probe 1.0.0\n{library_line}FAILED  load: plugin `cli_probe` does not \
         match its manifest: the manifest declares operator `@cli_probe.gone`, which the library does not register; \
         the library registers function `cli_probe_twice`, which the manifest does not declare\n1 of 3 checks failed\n"
    );
    assert_output(
        &output,
        1,
        &stdout,
        "Help: `tusk plugin check --write-capabilities PATH` rewrites [capabilities] in plugin.toml from what the \
         plugin registers\n",
    );

    let output = env.run(&["plugin", "check", "--write-capabilities", "./cli_probe"]);
    let stdout = format!(
        "checking ./cli_probe\nok      manifest: cli_probe 1.0.0\n{library_line}ok      load: registers \
         @cli_probe.read, @cli_probe.wait, cli_probe_twice\nok      capabilities: wrote operators @cli_probe.read, \
         @cli_probe.wait; functions cli_probe_twice to {}; check again to run the examples\n4 checks passed\n",
        manifest.canonicalize().unwrap().display()
    );
    assert_output(&output, 0, &stdout, "");
    let rewritten = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        rewritten.contains(
            "[capabilities]\noperators = [\"cli_probe.read\", \"cli_probe.wait\"]\nfunctions = [\"cli_probe_twice\"]\n# kept: a comment in the table\n"
        ),
        "{rewritten}"
    );
    // Now the index matches: the full check passes, and writing again changes nothing.
    assert_eq!(env.run(&["plugin", "check", "./cli_probe"]).code, 0);
    let output = env.run(&["plugin", "check", "--write-capabilities", "./cli_probe"]);
    assert!(
        output.stdout.contains("ok      capabilities: plugin.toml lists what the plugin registers\n"),
        "{}",
        output.stdout
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), rewritten);
}

#[test]
fn newcomer_flow_takes_three_commands() {
    let env = Env::new();
    let output = env.run(&["plugin", "new", "greeter"]);
    let stdout = "created the plugin crate greeter in greeter: @greeter(name) and greeter_shout(text)
next:
  tusk plugin check ./greeter      build it and check it
  tusk plugin install ./greeter    install it for your scripts
  tusk -e '@greeter(\"you\")'
";
    assert_output(&output, 0, stdout, "");

    let output = env.run(&["plugin", "install", "greeter"]);
    let installed = env.user_plugins().join("greeter");
    let stdout = format!(
        "installed greeter 0.1.0 in {}\n  operators:   @greeter\n  functions:   greeter_shout\n  permissions: none\n",
        installed.display()
    );
    let stderr = format!("building greeter: cargo build --release in {}\n", env.work().join("greeter").display());
    assert_output(&output, 0, &stdout, &stderr);

    assert_output(&env.run(&["-e", "@greeter(\"x\")"]), 0, "Hello, x!\n", "");
    assert_output(&env.run(&["-e", "greeter_shout(\"x\")"]), 0, "X!\n", "");
}

#[test]
fn a_new_plugin_passes_its_checks_and_its_own_test() {
    let env = Env::new();
    assert_eq!(env.run(&["plugin", "new", "my_tool", "tools/tool"]).code, 0);
    let crate_dir = env.work().join("tools/tool");
    let mut names: Vec<String> = walk(&crate_dir).into_iter().filter(|path| !path.starts_with("target")).collect();
    names.sort();
    assert_eq!(
        names,
        [".gitignore", "Cargo.lock", "Cargo.toml", "README.md", "plugin.toml", "src/lib.rs", "tests/plugin.rs"]
    );
    let cargo_toml = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk").canonicalize().unwrap();
    assert!(cargo_toml.contains(&format!("tusk-plugin-sdk = {{ path = \"{}\" }}", sdk.display())), "{cargo_toml}");

    let output = env.run(&["plugin", "check", "tools/tool"]);
    assert_eq!((output.code, output.stdout.lines().last()), (0, Some("9 checks passed")), "{output:?}");
    assert!(output.stdout.contains("\nok      example my_tool_shout(\"hey\") => \"HEY!\"\n"), "{}", output.stdout);

    // The crate's own test (tusk-plugin-testkit) passes as created.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let test = Command::new(cargo)
        .args(["test", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", shared_target_dir())
        // Its sandboxed test needs the runner; this one is already built.
        .env("TUSK_PLUGIN_RUNNER", built().binary(RUNNER, RUNNER))
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );

    let output = env.run(&["plugin", "new", "my_tool", "tools/tool"]);
    assert_output(&output, 1, "", "Error: tools/tool already exists and is not empty\n");
    let output = env.run(&["plugin", "new", "My-Tool"]);
    let stderr = "Error: invalid plugin name `My-Tool`: plugin names are lowercase letters, digits and `_`, starting with a letter, like `my_plugin`\n";
    assert_output(&output, 1, "", stderr);
}

/// Files below `dir`, relative, with `/` separators.
fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            files.extend(walk(&entry.path()).into_iter().map(|inner| format!("{name}/{inner}")));
        } else {
            files.push(name);
        }
    }
    files
}

#[test]
fn install_refuses_conflicts_unless_forced_and_remove_undoes_it() {
    let env = Env::new();
    let first = env.add_probe(&env.path("src/a"));
    let output = env.run(&["plugin", "install", first.to_str().unwrap()]);
    let installed = env.user_plugins().join("cli_probe");
    let grant = "--allow-read=${script_dir}/data";
    let stdout = format!(
        "installed cli_probe 1.0.0 in {}
  operators:   @cli_probe.read, @cli_probe.wait
  functions:   cli_probe_twice
  permissions: read ${{script_dir}}/data
  grant them with {grant} or under [cli_probe] in ~/.config/tusk/grants.toml
",
        installed.display()
    );
    assert_output(&output, 0, &stdout, "");
    let mut files = walk(&installed);
    files.sort();
    assert_eq!(files, [".tusk-install.toml", "libtusk_plugin_cli_probe.so", "plugin.toml"]);
    // Installing again from the same place replaces its files inside the same folder (which
    // hot reload watches), leaving nothing beside it.
    let folder = || {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(&installed).unwrap();
        (metadata.dev(), metadata.ino())
    };
    let before = folder();
    std::fs::write(installed.join("left-over.txt"), "from the old build").unwrap();
    assert_output(&env.run(&["plugin", "install", first.to_str().unwrap()]), 0, &stdout, "");
    assert_eq!(folder(), before, "the installed folder was replaced, not kept");
    let mut files = walk(&installed);
    files.sort();
    assert_eq!(files, [".tusk-install.toml", "libtusk_plugin_cli_probe.so", "plugin.toml"]);
    let mut beside = walk(&env.user_plugins());
    beside.retain(|path| !path.starts_with("cli_probe/"));
    assert_eq!(beside, Vec::<String>::new(), "nothing left beside the plugin");

    let second = env.add_probe(&env.path("src/b"));
    let rival = fake_plugin(&env.path("src"), "rival", "[capabilities]\noperators = [\"cli_probe.read\"]\n");
    let help = "Help: remove the other plugin first (`tusk plugin remove NAME` for the user's plugins), or pass --force to install anyway (two plugins providing one operator then need a choice under [plugin_preferences] in ~/.config/tusk/config.toml)\n";
    let output = env.run(&["plugin", "install", second.to_str().unwrap()]);
    let stderr = format!(
        "Error: cannot install plugin `cli_probe`:\n  - plugin `cli_probe` is already installed in {}, from {}\n{help}",
        installed.display(),
        first.display()
    );
    assert_output(&output, 1, "", &stderr);
    let output = env.run(&["plugin", "install", rival.to_str().unwrap()]);
    let stderr = format!(
        "Error: cannot install plugin `rival`:\n  - operator `@cli_probe.read` is already provided by plugin `cli_probe` in {} (user)\n{help}",
        installed.display()
    );
    assert_output(&output, 1, "", &stderr);
    // Built-in operators cannot be replaced: refused even with --force.
    let shadow = fake_plugin(&env.path("src"), "shadow", "[capabilities]\noperators = [\"env\"]\n");
    let output = env.run(&["plugin", "install", "--force", shadow.to_str().unwrap()]);
    let stderr = "Error: cannot install plugin `shadow`:\n  - operator `@env` is built into tusk\nHelp: rename it in the \
                  plugin (its manifest and its code): built-in operators and functions cannot be replaced, not even \
                  with --force\n";
    assert_output(&output, 1, "", stderr);
    assert!(!env.user_plugins().join("shadow").exists());
    let output = env.run(&["plugin", "install", "--force", rival.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stdout.ends_with(&format!(
            "  warning: operator `@cli_probe.read` is already provided by plugin `cli_probe` in {} (user)\n",
            installed.display()
        )),
        "{}",
        output.stdout
    );

    // A plugin of the same name on TUSK_PLUGIN_PATH would hide the installed one.
    let ahead = env.add_probe(&env.plugin_path());
    let output = env.run(&["plugin", "install", first.to_str().unwrap()]);
    assert!(
        output.stderr.contains(&format!(
            "  - plugin `cli_probe` is also installed in {} (TUSK_PLUGIN_PATH), which comes first on the search path and would hide this one\n",
            ahead.display()
        )),
        "{}",
        output.stderr
    );
    std::fs::remove_dir_all(&ahead).unwrap();

    let output = env.run(&["plugin", "remove", "cli_probe"]);
    assert_output(&output, 0, &format!("removed cli_probe from {}\n", installed.display()), "");
    assert!(!installed.exists());
    let output = env.run(&["plugin", "remove", "cli_probe"]);
    let stderr = format!("Error: no plugin named `cli_probe` is installed in {}\n", env.user_plugins().display());
    assert_output(&output, 1, "", &stderr);
    let ahead = env.add_probe(&env.plugin_path());
    let output = env.run(&["plugin", "remove", "cli_probe"]);
    let stderr = format!(
        "Error: plugin `cli_probe` is not in the user's plugin folder {}: it is in {} (TUSK_PLUGIN_PATH), which `tusk plugin remove` leaves alone\n",
        env.user_plugins().display(),
        ahead.display()
    );
    assert_output(&output, 1, "", &stderr);
    assert_output(&env.run(&["plugin", "remove", "../x"]), 1, "", "Error: invalid plugin name `../x`\n");
}

#[test]
fn docs_are_markdown_from_the_manifest_and_the_loaded_plugin() {
    let env = Env::new();
    env.add_probe(&env.plugin_path());
    let output = env.run(&["plugin", "docs", "cli_probe"]);
    let stdout = "# cli_probe 1.0.0

Test plugin of the tusk command's tests

| | |
|---|---|
| Author | TuskLang for Rust |
| License | MIT |
| Repository | https://example.invalid/tusklang-rust |
| Plugin ABI | 1.10 |

## Operators

### `@cli_probe.read(path)`

The text of a file the user allowed the plugin to read.

### `@cli_probe.wait()`

Waits until the host cancels the call (Ctrl-C), at most 30 seconds.

## Functions

### `cli_probe_twice(n)`

Twice `n`.

```tusk
cli_probe_twice(2)  # => 4
```

## Permissions

- Reads files: `${script_dir}/data`

Grant them with `--allow-read=${script_dir}/data`, or under `[cli_probe]` in `~/.config/tusk/grants.toml`.

## Configuration

None.

## Dependencies

None.

## Performance characteristics

Not documented: the plugin's README.md has no `## Performance characteristics` section.

## Security considerations

Not documented: the plugin's README.md has no `## Security considerations` section.

## Examples

```tusk
cli_probe_twice(21)  # => 42
```
";
    assert_output(&output, 0, stdout, "");
    // A bare word is an installed plugin's name, even with a folder of that name here: the
    // folder (a crate that would not build) is left alone.
    let folder = env.work().join("cli_probe");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("Cargo.toml"), "not a crate").unwrap();
    std::fs::copy(probe_dir().join("plugin.toml"), folder.join("plugin.toml")).unwrap();
    assert_output(&env.run(&["plugin", "docs", "cli_probe"]), 0, stdout, "");
    let output = env.run(&["plugin", "docs", "nope"]);
    assert_output(&output, 1, "", "Error: no plugin named `nope` is installed (installed: cli_probe)\n");
}

/// The standard plugins with the operators and functions the mission's brief names for them
/// (each may have more): every one must show in `tusk plugin list` and `tusk plugin docs`.
const STANDARD_SURFACES: [(&str, &[&str], &[&str]); 11] = [
    ("logging", &["log"], &["set_level", "add_sink"]),
    ("pipeline", &["pipeline"], &["create_pipeline", "execute_pipeline"]),
    ("encryption", &["encrypt"], &["hash", "verify"]),
    ("auth", &["auth"], &["generate_token", "validate_token"]),
    ("redis", &["redis"], &["cache_get", "cache_set"]),
    ("metrics", &["metrics"], &["increment_counter", "record_histogram"]),
    ("tensorflow", &["tensorflow"], &["load_model", "predict"]),
    ("nlp", &["nlp"], &["tokenize", "classify"]),
    ("postgres", &["postgres"], &["create_pool", "execute_query"]),
    ("http", &["http_server", "http_route", "http_middleware"], &["start_server", "add_route"]),
    ("websocket", &["websocket"], &["broadcast_message"]),
];

#[test]
fn standard_plugins_list_and_document_the_briefs_names_with_performance_and_security() {
    let env = Env::new();
    let stdlib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib-plugins");
    let packages: Vec<String> = STANDARD_SURFACES.iter().map(|(name, _, _)| format!("tusk-plugin-{name}")).collect();
    let package_names: Vec<&str> = packages.iter().map(String::as_str).collect();
    let built = tusk_plugin_testkit::build_packages(&stdlib, &package_names, tusk_plugin_testkit::Profile::Debug)
        .unwrap_or_else(|error| panic!("{error}"));
    // Installed as `tusk plugin install` lays a plugin out: manifest, schema, README, library.
    for ((name, _, _), package) in STANDARD_SURFACES.iter().zip(&packages) {
        let source = stdlib.join(name);
        let dir = env.plugin_path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "toml" || extension == "json" || extension == "md")
                && path.file_name().is_some_and(|file| file != "Cargo.toml")
            {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::copy(built.library(package), dir.join(format!("libtusk_plugin_{name}.so"))).unwrap();
    }
    let list = env.run(&["plugin", "list"]);
    assert_eq!((list.code, list.stderr.as_str()), (0, ""), "{}", list.stdout);
    for (name, operators, functions) in STANDARD_SURFACES {
        let entry: Vec<&str> = list
            .stdout
            .split("\n\n")
            .find(|entry| entry.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("`{name}` is not listed:\n{}", list.stdout))
            .lines()
            .collect();
        let listed = |label: &str| -> Vec<String> {
            let line = entry.iter().find_map(|line| line.strip_prefix(&format!("  {label}:"))).unwrap();
            line.trim().split(", ").map(str::to_string).collect()
        };
        for operator in operators {
            assert!(listed("operators").contains(&format!("@{operator}")), "{name}: @{operator} in {entry:?}");
        }
        for function in functions {
            assert!(listed("functions").contains(&function.to_string()), "{name}: {function} in {entry:?}");
        }

        let docs = env.run(&["plugin", "docs", name]);
        assert_eq!((docs.code, docs.stderr.as_str()), (0, ""), "{name}");
        let headings: Vec<&str> = docs.stdout.lines().filter(|line| line.starts_with("### `")).collect();
        let written =
            operators.iter().map(|operator| format!("@{operator}")).chain(functions.iter().map(|f| f.to_string()));
        for symbol in written {
            // A documented symbol: its signature, a summary and examples under its heading.
            let heading = headings
                .iter()
                .find(|heading| heading.starts_with(&format!("### `{symbol}(")))
                .unwrap_or_else(|| panic!("{name}: no heading for {symbol} in {headings:?}"));
            let section = docs.stdout.split(&format!("{heading}\n\n")).nth(1).unwrap();
            let summary = section.lines().next().unwrap();
            assert!(!summary.is_empty() && !summary.starts_with('#'), "{name}: {symbol} has no summary");
            let body = section.split("\n### ").next().unwrap();
            assert!(body.contains("```tusk\n"), "{name}: {symbol} has no examples");
        }
        for title in ["Performance characteristics", "Security considerations"] {
            let section = docs
                .stdout
                .split(&format!("\n## {title}\n\n"))
                .nth(1)
                .unwrap_or_else(|| panic!("{name}: no `## {title}` section"));
            let section = section.split("\n## ").next().unwrap();
            assert!(!section.starts_with("Not documented"), "{name}: {title}: {section}");
            let readme = std::fs::read_to_string(stdlib.join(name).join("README.md")).unwrap();
            assert!(
                readme.contains(&format!("## {title}\n\n{}", section.trim_end())),
                "{name}: {title} is its README's"
            );
        }
    }
}

#[test]
fn a_missing_permission_names_the_flag_that_grants_it() {
    let env = Env::new();
    env.add_probe(&env.plugin_path());
    let data = env.work().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("note.txt"), "hello").unwrap();
    std::fs::write(env.work().join("read.tsk"), "note: @cli_probe.read(\"data/note.txt\")\n").unwrap();
    let output = env.run(&["read.tsk"]);
    let data = data.display();
    let grants = env.path("config/tusk/grants.toml");
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains(&format!("plugin `cli_probe` needs read access to {data}\n")), "{}", output.stderr);
    assert!(
        output.stderr.contains(&format!(
            "| Help: run with --allow-read={data} or add `allow_read = [\"${{script_dir}}/data\"]` under [cli_probe] in {}\n",
            grants.display()
        )),
        "{}",
        output.stderr
    );
    let flag = format!("--allow-read={data}");
    assert_output(&env.run(&[&flag, "read.tsk", "--compact"]), 0, "{\"note\":\"hello\"}\n", "");

    // Per call: the grant covers the folder the manifest names, nothing else.
    std::fs::write(env.work().join("outside.tsk"), "x: @cli_probe.read(\"/etc/hostname\")\n").unwrap();
    let output = env.run(&[&flag, "outside.tsk"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output
            .stderr
            .contains("plugin `cli_probe` may not read /etc/hostname; run with --allow-read=/etc/hostname to allow it"),
        "{}",
        output.stderr
    );
}

#[test]
fn permission_flags_are_checked_before_anything_runs() {
    let env = Env::new();
    let output = env.run(&["--allow-read=data", "-e", "1"]);
    let stderr = "error: invalid value 'data' for '--allow-read[=<PATHS>]': invalid entry `data` in `--allow-read`: expected absolute paths (or starting with ${script_dir} or ${home}) without `..`

For more information, try '--help'.
";
    assert_output(&output, 2, "", stderr);
    let output = env.run(&["--allow-db", "--allow-net", "--allow-env=HOME,TUSK_*", "--allow-write=/tmp", "-e", "1"]);
    assert_output(&output, 0, "1\n", "");
    let output = env.run(&["--grants", "missing.toml", "-e", "1"]);
    assert_output(&output, 2, "", "Error: cannot read the grants file missing.toml: no such file\n");
    std::fs::write(env.work().join("grants.toml"), "[Logging]\n").unwrap();
    let output = env.run(&["--grants", "grants.toml", "-e", "1"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.starts_with("[X006] Error: invalid plugin name `Logging`"), "{}", output.stderr);
}

#[test]
fn unknown_operators_name_the_plugins_that_provide_them() {
    let env = Env::new();
    fake_plugin(&env.plugin_path(), "left", "[capabilities]\noperators = [\"shared\"]\n");
    fake_plugin(&env.plugin_path(), "right", "[capabilities]\noperators = [\"shared\"]\n");
    let broken = env.plugin_path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("plugin.toml"), "[plugin]\n").unwrap();
    let output = env.run(&["-e", "@shared(1)"]);
    let stderr = "[R006] Error: unknown operator `@shared`
   ,-[ <expression>:1:1 ]
   |
 1 | @shared(1)
   | ^^^|^^^
   |    `----- no plugin provides this operator
   |
   | Help: `tusk plugin list` shows the operators of installed plugins; `--compat` keeps unknown operators as text
   |
   | Note 1: operator `@shared` is provided by `left` and `right`; choose one in [plugin_preferences]
   |
   | Note 2: 1 plugin folder has an invalid plugin.toml and cannot be used; `tusk plugin list` shows why
---'
";
    assert_output(&output, 1, "", stderr);
    let output = env.run(&["-e", "@nothing(1)"]);
    assert!(
        output
            .stderr
            .contains("| Note 1: no installed plugin provides `@nothing`; `tusk plugin install PATH` installs one\n"),
        "{}",
        output.stderr
    );
    // A likely typo gets its suggestion and no word on installing.
    let output = env.run(&["-e", "@file.raed(1)"]);
    assert!(output.stderr.contains("| Help: did you mean `@file.read`?\n"), "{}", output.stderr);
    assert!(!output.stderr.contains("tusk plugin install"), "{}", output.stderr);
    // A script that does not use them runs without a word about broken plugins.
    assert_output(&env.run(&["-e", "1 + 1"]), 0, "2\n", "");
}

/// The marker file the test plugin appends to (`waiting` in a call, `shutdown` at shutdown).
fn marker(env: &Env) -> PathBuf {
    env.path("marker.txt")
}

#[test]
fn plugins_are_shut_down_at_exit_and_after_errors() {
    let env = Env::new();
    env.trust_probe();
    env.add_probe(&env.plugin_path());
    let output = env.command(&["-e", "cli_probe_twice(2)"]).env("CLI_PROBE_MARKER", marker(&env)).output().unwrap();
    assert_eq!((output.status.code(), output.stdout.as_slice()), (Some(0), &b"4\n"[..]));
    assert_eq!(std::fs::read_to_string(marker(&env)).unwrap(), "shutdown\n");

    std::fs::remove_file(marker(&env)).unwrap();
    let output = env.command(&["-e", "cli_probe_twice(\"x\")"]).env("CLI_PROBE_MARKER", marker(&env)).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected an int"));
    assert_eq!(std::fs::read_to_string(marker(&env)).unwrap(), "shutdown\n");
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_running_call_and_shuts_plugins_down() {
    let env = Env::new();
    env.trust_probe();
    env.add_probe(&env.plugin_path());
    std::fs::write(env.work().join("wait.tsk"), "waited: @cli_probe.wait()\n").unwrap();
    let child = env
        .command(&["wait.tsk"])
        .env("CLI_PROBE_MARKER", marker(&env))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(marker(&env)).unwrap_or_default() != "waiting\n" {
        assert!(started.elapsed() < Duration::from_secs(20), "the plugin call never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "the call did not end after Ctrl-C");
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).as_ref(),
            clean_stderr(&String::from_utf8_lossy(&output.stderr)).as_str()
        ),
        (Some(130), "", "\ninterrupted: stopping plugins (press Ctrl-C again to quit without shutting them down)\n")
    );
    assert_eq!(std::fs::read_to_string(marker(&env)).unwrap(), "waiting\nshutdown\n");
}

#[test]
fn a_library_removed_or_rebuilt_after_indexing_is_noticed_when_the_plugin_loads() {
    let env = Env::new();
    env.trust_probe();
    let probe = env.add_probe(&env.plugin_path());
    let library = probe.join("libtusk_plugin_cli_probe.so");
    // The first run writes the discovery index; the ones after it read it.
    assert_output(&env.run(&["-e", "cli_probe_twice(2)"]), 0, "4\n", "");

    std::fs::remove_file(&library).unwrap();
    // A script that does not use the plugin does not look at its library.
    assert_output(&env.run(&["-e", "1"]), 0, "1\n", "");
    let output = env.run(&["-e", "cli_probe_twice(2)"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains(
            "plugin `cli_probe` cannot be loaded: library `libtusk_plugin_cli_probe.so` not found in the plugin folder"
        ),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("build the plugin and copy its library to"), "{}", output.stderr);
    let listed = env.run(&["plugin", "list"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(!listed.stdout.contains("cli_probe 1.0.0"), "{}", listed.stdout);
    assert!(
        listed.stderr.contains("[X012] Warning: library `libtusk_plugin_cli_probe.so` not found in the plugin folder"),
        "{}",
        listed.stderr
    );

    // Put back (a rebuilt library is a new file with a new stamp): it loads again.
    std::fs::copy(probe_library(), &library).unwrap();
    assert_output(&env.run(&["-e", "cli_probe_twice(21)"]), 0, "42\n", "");
    assert_output(&env.run(&["-e", "cli_probe_twice(4)"]), 0, "8\n", "");
}
