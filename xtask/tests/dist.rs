//! The product as a user gets it: `cargo xtask dist` builds the release archive once per test
//! process (in the dev profile and without the ML plugins, which keeps the suite's time
//! reasonable; the layout is the same), and each test unpacks it into its own temporary folder
//! outside the source tree and runs what is inside, with no tusk environment variable set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The source tree (the workspace root).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The target folder this test was built in (`<target>/<profile>/deps/<test>`): the archive's
/// build shares it, so nothing already built is built again.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).and_then(Path::parent).unwrap().to_path_buf()
}

/// The archive, built by `cargo xtask dist --debug --no-ml` at most once per process.
fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let out_dir = target_dir().join("xtask-tests");
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["dist", "--debug", "--no-ml", "--out-dir"])
            .arg(&out_dir)
            .env("CARGO_TARGET_DIR", target_dir())
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(output.status.success(), "cargo xtask dist failed");
        let archive = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
        let name = archive.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("tusk-{}-", env!("CARGO_PKG_VERSION"))), "{name}");
        assert!(name.ends_with(".tar.gz"), "{name}");
        archive
    })
}

/// A fresh copy of the archive's contents: the temporary folder and the unpacked
/// `tusk-VERSION-TARGET/`.
fn unpack() -> (tempfile::TempDir, PathBuf) {
    let archive = archive();
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(dir.path()).status().unwrap();
    assert!(status.success());
    let name = archive.file_name().unwrap().to_string_lossy().trim_end_matches(".tar.gz").to_string();
    let root = dir.path().join(name);
    assert!(root.is_dir());
    (dir, root)
}

/// `program` with `args` in `work`, as a user would run it: the user folders of tusk inside
/// `home` and no `TUSK_*` variable.
fn run(program: &Path, args: &[&str], work: &Path, home: &Path) -> Output {
    std::fs::create_dir_all(work).unwrap();
    let mut command = Command::new(program);
    command.args(args).current_dir(work);
    user_environment(&mut command, home);
    command.output().unwrap()
}

fn user_environment(command: &mut Command, home: &Path) {
    for (variable, _) in std::env::vars_os() {
        if variable.to_string_lossy().starts_with("TUSK_") {
            command.env_remove(&variable);
        }
    }
    command
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The standard plugins of the source tree (their `[plugin] name`), without the ML plugins the
/// test archive leaves out.
fn standard_plugins() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("stdlib-plugins")).unwrap() {
        let manifest = entry.unwrap().path().join("plugin.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let table: toml::Table = text.parse().unwrap();
        let name = table["plugin"]["name"].as_str().unwrap().to_string();
        if !["tensorflow", "nlp"].contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// Each standard plugin's main operator, called as scripts call it, and the JSON it gives.
/// The plugins that need a server have their own test below.
const MAIN_OPERATORS: &[(&str, &str, &str)] = &[
    (
        "auth",
        r#"validate_token(@auth("jwt", {sub: "ada"}, "k3y-for-the-tests-only-0123456789abcdef"), "k3y-for-the-tests-only-0123456789abcdef").sub"#,
        r#""ada""#,
    ),
    (
        "encryption",
        r#"@decrypt("chacha20_poly1305", @encrypt("chacha20_poly1305", "attack at dawn", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")"#,
        r#""attack at dawn""#,
    ),
    ("http", r#"@http.response(201, "made").status"#, "201"),
    ("logging", r#"@log("info", "hello from the bundled logging plugin")"#, "null"),
    ("metrics", r#"@metrics("counter", "bundled_test_total", 2)"#, "2"),
    ("pipeline", r#"@pipeline("map", [1, 2, 3], x => x * 2)"#, "[2,4,6]"),
    ("query", r#"@query("SELECT 1 + 1 AS two")"#, r#"[{"two":2}]"#),
    ("websocket", r#"@websocket.stats().connections"#, "0"),
];

/// The standard plugins that need a server: the operator call, its grants and its result.
const SERVER_OPERATORS: &[(&str, &str, &str, &str)] = &[
    (
        "postgres",
        r#"@postgres("query", "postgres://postgres@127.0.0.1:5432/test", "SELECT 1 AS one")"#,
        "127.0.0.1:5432",
        r#"[{"one":1}]"#,
    ),
    ("redis", r#"@redis("get", "tusk_dist_test_never_set")"#, "127.0.0.1:6379", "null"),
];

#[test]
fn every_standard_plugin_is_bundled_in_process_and_needs_no_install() {
    let (dir, root) = unpack();
    let tusk = root.join("bin/tusk");
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    for file in ["bin/tusk-plugin-runner", "LICENSE", "README.md", "share/doc/tusk/LICENSE", "share/tusk/Cargo.lock"] {
        assert!(root.join(file).is_file(), "{file} is missing from the archive");
    }
    let third_party = std::fs::read_to_string(root.join("THIRD-PARTY-LICENSES.md")).unwrap();
    assert!(third_party.contains("| serde_json |") && third_party.contains("Permission is hereby granted"));

    let listed = run(&tusk, &["plugin", "list"], &work, &home);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed = text(&listed.stdout);
    let plugins_dir = root.join("lib/tusk/plugins").canonicalize().unwrap();
    let plugins = standard_plugins();
    for name in &plugins {
        let folder = format!("  folder:      {} (bundled)\n", plugins_dir.join(name).display());
        let entry = listed
            .split("\n\n")
            .find(|entry| entry.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("`tusk plugin list` does not list the standard plugin {name}:\n{listed}"));
        assert!(entry.contains(&folder), "{entry}");
        assert!(entry.contains("  mode:        in-process (first-party, shipped with tusk)\n"), "{entry}");
    }

    // Every standard plugin's main operator, in one script (each plugin loads on first use).
    let mut covered: Vec<&str> =
        MAIN_OPERATORS.iter().map(|row| row.0).chain(SERVER_OPERATORS.iter().map(|row| row.0)).collect();
    covered.sort();
    assert_eq!(covered, plugins, "MAIN_OPERATORS and SERVER_OPERATORS must call every standard plugin");
    let script: String = MAIN_OPERATORS.iter().map(|(name, call, _)| format!("{name}: {call}\n")).collect();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("stdlib.tsk"), &script).unwrap();
    let output = run(&tusk, &["stdlib.tsk", "--format", "json", "--compact"], &work, &home);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (name, call, expected) in MAIN_OPERATORS {
        let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
        assert_eq!(document[name], expected, "{call}");
    }
    assert!(text(&output.stderr).contains("hello from the bundled logging plugin"), "{}", text(&output.stderr));

    // The ML plugins were left out of this archive: using one says how to build it.
    let output = run(&tusk, &["-e", r#"@tensorflow("predict", "model.onnx", [1])"#], &work, &home);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("unknown operator `@tensorflow`") && stderr.contains("`cargo xtask build --ml`"),
        "{stderr}"
    );
}

#[test]
fn standard_plugins_that_need_a_server_work_bundled() {
    let (dir, root) = unpack();
    let tusk = root.join("bin/tusk");
    for (name, call, address, expected) in SERVER_OPERATORS {
        if let Err(error) = std::net::TcpStream::connect(address) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{name}: a server on {address} is required under CI=true: {error}"
            );
            eprintln!("skipped @{name}: no server on {address} ({error})");
            continue;
        }
        let net = format!("--allow-net={address}");
        let output = run(&tusk, &["--allow-db", &net, "-e", call], &dir.path().join("work"), &dir.path().join("home"));
        assert!(output.status.success(), "{call}: {}", text(&output.stderr));
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(value, serde_json::from_str::<serde_json::Value>(expected).unwrap(), "{call}");
        // Without the grant, the in-process plugin is still refused the connection.
        let output = run(&tusk, &["-e", call], &dir.path().join("work"), &dir.path().join("home"));
        assert!(!output.status.success(), "{call} connected without --allow-net");
    }
}

#[test]
fn a_tusk_copied_alone_says_where_it_looked_for_its_runner() {
    let (dir, root) = unpack();
    let home = dir.path().join("home");
    let plugins = root.join("lib/tusk/plugins");
    let call = r#"@pipeline("map", [1, 2], x => x + 1)"#;
    // From TUSK_PLUGIN_PATH the same plugin is not first-party: it runs sandboxed, in the
    // runner beside tusk.
    let mut command = Command::new(root.join("bin/tusk"));
    user_environment(&mut command, &home);
    let output = command.args(["-e", call]).env("TUSK_PLUGIN_PATH", &plugins).current_dir(dir.path()).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap(), serde_json::json!([2, 3]));

    let alone = dir.path().join("elsewhere");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(root.join("bin/tusk"), alone.join("tusk")).unwrap();
    let mut command = Command::new(alone.join("tusk"));
    user_environment(&mut command, &home);
    let output = command
        .args(["-e", call])
        .env("TUSK_PLUGIN_PATH", &plugins)
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot find the plugin runner `tusk-plugin-runner`: looked next to {}, in target folders above it and on PATH",
            alone.join("tusk").display()
        )),
        "{stderr}"
    );
}

/// A plugin author with an unpacked tusk and no clone of the tusk sources: `tusk plugin new`,
/// `cargo test`, `tusk plugin install .`, and the new operator in a script.
#[test]
fn a_plugin_written_with_the_unpacked_tusk_builds_tests_and_installs() {
    let (dir, root) = unpack();
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let bin = root.join("bin");
    let path = std::env::join_paths(
        std::iter::once(bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let command = |program: &str, args: &[&str], cwd: &Path| {
        let mut command = Command::new(program);
        command.args(args).current_dir(cwd).env("PATH", &path);
        user_environment(&mut command, &home);
        // Nothing of this build's cargo settings leaks into the author's cargo.
        for variable in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO_MANIFEST_DIR", "RUSTFLAGS"] {
            command.env_remove(variable);
        }
        command
    };

    let output = command("tusk", &["plugin", "new", "demo"], &work).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let demo = work.join("demo");
    let cargo_toml = std::fs::read_to_string(demo.join("Cargo.toml")).unwrap();
    let sdk = root.join("share/tusk/crates/plugin-sdk").canonicalize().unwrap();
    assert!(cargo_toml.contains(&format!("tusk-plugin-sdk = {{ path = \"{}\" }}", sdk.display())), "{cargo_toml}");
    assert!(cargo_toml.contains("tusk-plugin-sdk = \"0.1\""), "the comment on the registry version: {cargo_toml}");
    let source_tree = workspace_root().display().to_string();
    for file in ["Cargo.toml", "Cargo.lock", "plugin.toml", "src/lib.rs", "tests/plugin.rs", "README.md"] {
        let contents = std::fs::read_to_string(demo.join(file)).unwrap();
        assert!(!contents.contains(&source_tree), "{file} points into the source tree: {contents}");
    }

    // The author's `cargo test`, as generated. Its target folder is shared between runs of
    // this test (the tusk crates and their dependencies then build once).
    let shared_target = target_dir().join("xtask-tests").join("plugin-author");
    let shared_target = shared_target.to_str().unwrap();
    let output = command("cargo", &["test", "--target-dir", shared_target], &demo).output().unwrap();
    assert!(output.status.success(), "cargo test of the new plugin failed:\n{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("test result: ok. 1 passed"), "{}", text(&output.stdout));

    let output = command("tusk", &["plugin", "install", "."], &demo).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = command("tusk", &["-e", r#"@demo("x")"#], &work).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Hello, x!\n");

    // A name the bundled plugins already use is created, with a warning at once.
    let output = command("tusk", &["plugin", "new", "log"], &work).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let logging = root.join("lib/tusk/plugins/logging").canonicalize().unwrap();
    assert!(
        stderr.starts_with(&format!(
            "warning: `@log` is taken: the bundled plugin `logging` in {} provides it",
            logging.display()
        )),
        "{stderr}"
    );
}

/// The newcomer flow: the unpacked tusk runs a script on the standard plugins, a third-party
/// plugin is signed, published into a folder registry and installed by name (sandboxed, with
/// the archive's runner), and `tusk plugin list` shows the bundled and the installed plugins.
#[test]
fn a_newcomer_uses_the_standard_plugins_and_installs_one_from_a_registry() {
    let (dir, root) = unpack();
    let tusk = root.join("bin/tusk");
    let home = dir.path().join("home");
    let work = dir.path().join("work");

    // The third-party plugin: the registry tests' `reg_base`, built as its author would.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "tusk-plugin-reg-base"])
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .unwrap();
    assert!(status.success(), "the registry test plugin builds");
    let fixture = workspace_root().join("crates/plugin-registry/tests/fixtures/reg_base");
    let folder = dir.path().join("reg_base");
    std::fs::create_dir_all(&folder).unwrap();
    for file in ["plugin.toml", "README.md"] {
        std::fs::copy(fixture.join(file), folder.join(file)).unwrap();
    }
    let library = format!("{}tusk_plugin_reg_base{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    std::fs::copy(target_dir().join("debug").join(&library), folder.join(&library)).unwrap();

    let ok = |args: &[&str]| {
        let output = run(&tusk, args, &work, &home);
        assert!(output.status.success(), "tusk {args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    };
    ok(&["plugin", "keygen"]);
    let key = home.join("config/tusk/signing.key").display().to_string();
    let packed = ok(&["plugin", "pack", &folder.display().to_string(), "--out", "pkgs", "--sign", &key]);
    let archive = packed.lines().next().unwrap().rsplit_once(" into ").unwrap().1.to_string();
    let registry = dir.path().join("registry");
    ok(&["plugin", "publish", &archive, "--registry", &registry.display().to_string()]);
    let public = std::fs::read_to_string(home.join("config/tusk/signing.pub")).unwrap();
    std::fs::write(
        home.join("config/tusk/config.toml"),
        format!(
            "[registry]\ntrusted_keys = [\"{}\"]\n\n[registries.local]\nurl = \"{}\"\n",
            public.lines().nth(1).unwrap(),
            registry.display()
        ),
    )
    .unwrap();

    let installed = ok(&["plugin", "install", "reg_base"]);
    assert!(installed.starts_with("installed reg_base 1.0.0 from registry `local`"), "{installed}");
    std::fs::write(
        work.join("main.tsk"),
        "doubled: @pipeline(\"map\", [1, 2], x => x * 2)\ntripled: reg_base_triple(3)\n",
    )
    .unwrap();
    assert_eq!(ok(&["main.tsk", "--format", "json", "--compact"]), "{\"doubled\":[2,4],\"tripled\":9}\n");

    let listed = ok(&["plugin", "list"]);
    let bundled = root.join("lib/tusk/plugins/pipeline").canonicalize().unwrap();
    assert!(listed.contains(&format!("  folder:      {} (bundled)\n", bundled.display())), "{listed}");
    let project = work.join("plugins/reg_base");
    assert!(listed.contains(&format!("  folder:      {} (project)", project.display())), "{listed}");
}
