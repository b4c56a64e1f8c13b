//! Runs the real `tusk` binary on registries and lockfiles: `tusk plugin keygen`, `pack`,
//! `publish`, `search`, `install NAME`, `install` from the lockfile, `outdated`, `update`, and
//! `install --path` / `--git` from a local repository (no network).
//!
//! Every run gets its own home (`HOME`, `XDG_*`) in a temporary folder. The registry test
//! plugins of tusk-plugin-registry and the sandbox runner are built once per test binary by
//! the test kit; crates made by `tusk plugin new` build into a target folder of their own inside
//! ours, as in the plugin tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{Env, run_command};

const RUNNER: &str = "tusk-plugin-runner";
const PACKAGES: [&str; 3] = ["tusk-plugin-reg-base", "tusk-plugin-reg-app", RUNNER];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-registry/tests/fixtures")
}

fn built() -> &'static tusk_plugin_testkit::Built {
    static BUILT: OnceLock<tusk_plugin_testkit::Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        tusk_plugin_testkit::build_packages(&fixtures(), &PACKAGES, tusk_plugin_testkit::Profile::Debug)
            .unwrap_or_else(|error| panic!("{error}"))
    })
}

impl Env {
    /// A home with the runner built for these tests (`TUSK_PLUGIN_PATH` unset).
    fn new() -> Env {
        Env::home(built().binary(RUNNER, RUNNER), false)
    }

    /// A built plugin folder of registry test plugin `name`, its manifest saying `version`.
    fn plugin_folder(&self, name: &str, version: &str) -> PathBuf {
        let package = format!("tusk-plugin-{}", name.replace('_', "-"));
        let dir = self.path(&format!("build/{name}-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = std::fs::read_to_string(fixtures().join(name).join("plugin.toml")).unwrap();
        std::fs::write(
            dir.join("plugin.toml"),
            manifest.replace("version = \"1.0.0\"", &format!("version = \"{version}\"")),
        )
        .unwrap();
        std::fs::copy(built().library(&package), dir.join(format!("libtusk_plugin_{name}.so"))).unwrap();
        dir
    }

    /// Lists the project's plugin folder.
    fn installed(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.work().join("plugins")) else { return Vec::new() };
        let mut names: Vec<String> =
            entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }
}

#[test]
fn pack_publish_search_install_reproduce_and_update_through_the_tusk_command() {
    let env = Env::new();
    let keygen = env.ok(&["plugin", "keygen"]);
    assert!(keygen.starts_with("key ") && keygen.contains("trusted_keys = [\"RW"), "{keygen}");
    let key_file = env.path("config/tusk/signing.key");
    let public = std::fs::read_to_string(env.path("config/tusk/signing.pub")).unwrap();
    assert_eq!(
        std::fs::metadata(&key_file)
            .map(|meta| std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777)
            .unwrap(),
        0o600
    );
    env.refused(&["plugin", "keygen"], "exists already; tusk does not overwrite keys");

    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    for name in ["reg_base", "reg_app"] {
        let folder = env.plugin_folder(name, "1.0.0");
        let folder = folder.display().to_string();
        let packed = env.ok(&["plugin", "pack", &folder, "--out", "pkgs", "--sign", &key_file.display().to_string()]);
        let file = format!("pkgs/{name}-1.0.0-{target}.tskpkg");
        assert!(
            packed.starts_with(&format!(
                "packed {name} 1.0.0 for {target} (plugin ABI {}.{}) into {file}\n",
                tusk_plugin_abi::ABI_MAJOR,
                tusk_plugin_abi::ABI_MINOR
            )),
            "{packed}"
        );
        let published = env.ok(&["plugin", "publish", &file, "--registry", "../reg"]);
        assert!(
            published.starts_with(&format!("published {name} 1.0.0 for {target} in ../reg (signed by key ")),
            "{published}"
        );
    }
    let key_line = public.lines().nth(1).unwrap();
    std::fs::write(
        env.path("config/tusk/config.toml"),
        format!(
            "[registry]\ntrusted_keys = [\"{key_line}\"]\n\n[registries.local]\nurl = \"{}\"\n",
            env.path("reg").display()
        ),
    )
    .unwrap();

    assert_eq!(
        env.ok(&["plugin", "search", "depends"]),
        "reg_app 1.0.0 (local): Registry test plugin that depends on reg_base\n"
    );
    assert_eq!(env.ok(&["plugin", "search", "nothing-like-this"]), "no plugin matches `nothing-like-this`\n");

    let installed = env.ok(&["plugin", "install", "reg_app@^1"]);
    let plugins = env.work().join("plugins");
    assert_eq!(
        installed,
        format!(
            "installed reg_app 1.0.0 from registry `local` in {0}/reg_app\n  permissions: none\n\
             installed reg_base 1.0.0 from registry `local` in {0}/reg_base\n  permissions: none\nrecorded in {1}\n",
            plugins.display(),
            env.work().join("tusk.lock").display()
        )
    );
    // Both run (sandboxed), and `tusk plugin list` shows them in the project folder.
    assert_eq!(env.ok(&["-e", "reg_app_quadruple(2) + reg_base_triple(1)"]), "11\n");
    let list = env.ok(&["plugin", "list"]);
    assert!(
        list.contains(&format!(
            "reg_app 1.0.0: Registry test plugin that depends on reg_base\n  folder:      {}/reg_app (project)",
            plugins.display()
        )),
        "{list}"
    );

    // On another machine: the lockfile reproduces the set.
    std::fs::remove_dir_all(&plugins).unwrap();
    let reproduced = env.ok(&["plugin", "install"]);
    assert!(
        reproduced.ends_with(&format!("2 plugins installed from {}\n", env.work().join("tusk.lock").display())),
        "{reproduced}"
    );
    assert_eq!(env.installed(), ["reg_app", "reg_base"]);

    // A lockfile checksum that does not match is refused, and nothing changes.
    let lock = std::fs::read_to_string(env.work().join("tusk.lock")).unwrap();
    let start = lock.find("sha256:").unwrap();
    let tampered = format!("{}sha256:{}{}", &lock[..start], "0".repeat(64), &lock[start + 71..]);
    std::fs::write(env.work().join("tusk.lock"), &tampered).unwrap();
    let before = std::fs::metadata(plugins.join("reg_app")).unwrap().modified().unwrap();
    env.refused(&["plugin", "install"], "checksum mismatch for reg_app 1.0.0 (locked in");
    assert_eq!(std::fs::metadata(plugins.join("reg_app")).unwrap().modified().unwrap(), before);
    std::fs::write(env.work().join("tusk.lock"), &lock).unwrap();

    // An unsigned newer version: outdated lists it, update refuses it without the flag.
    let folder = env.plugin_folder("reg_base", "1.1.0");
    env.ok(&["plugin", "pack", &folder.display().to_string(), "--out", "pkgs"]);
    let file = format!("pkgs/reg_base-1.1.0-{target}.tskpkg");
    let published = env.ok(&["plugin", "publish", &file, "--registry", "local"]);
    assert!(published.ends_with("(unsigned: installs need --allow-unsigned)\n"), "{published}");
    let outdated = env.ok(&["plugin", "outdated"]);
    assert_eq!(
        outdated,
        format!(
            "{:<20} {:<12} {:<12} latest\n{:<20} {:<12} {:<12} 1.1.0\n",
            "plugin", "locked", "update to", "reg_base", "1.0.0", "1.1.0"
        )
    );
    env.refused(
        &["plugin", "update"],
        &format!("package reg_base-1.1.0-{target}.tskpkg is not signed; pass --allow-unsigned"),
    );
    assert!(lock == std::fs::read_to_string(env.work().join("tusk.lock")).unwrap());
    let updated = env.ok(&["plugin", "update", "reg_base", "--allow-unsigned"]);
    assert!(updated.starts_with("installed reg_base 1.1.0 from registry `local`"), "{updated}");
    assert!(updated.contains("is not signed (installed because of --allow-unsigned)"), "{updated}");
    let lock = std::fs::read_to_string(env.work().join("tusk.lock")).unwrap();
    assert!(lock.contains("name = \"reg_base\"\nversion = \"1.1.0\""), "{lock}");
    assert_eq!(
        env.ok(&["plugin", "outdated"]),
        format!("every plugin in {} is up to date\n", env.work().join("tusk.lock").display())
    );

    // auto_update is off unless configured.
    assert_eq!(env.ok(&["plugin", "update", "--if-due"]), "no update check: auto_update is off\n");
    // Names that could leave a folder never reach the file system.
    env.refused(&["plugin", "install", "a..b"], "invalid plugin name `a..b`: it contains `..`");
}

#[test]
fn install_from_a_path_and_a_local_git_repository_records_and_reproduces_them() {
    let env = Env::new();
    assert_eq!(env.run(&["plugin", "new", "gitplug"]).code, 0);
    let crate_dir = env.work().join("gitplug");
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&crate_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "--quiet"]);
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", "plugin"]);
    let url = format!("file://{}", crate_dir.display());

    let installed = env.ok(&["plugin", "install", "--git", &url, "--debug"]);
    assert!(installed.starts_with(&format!("installed gitplug 0.1.0 (git+{url}#")), "{installed}");
    let lock = std::fs::read_to_string(env.work().join("tusk.lock")).unwrap();
    assert!(lock.contains(&format!("source = \"git+{url}#")) && lock.contains("checksum = \"sha256:"), "{lock}");
    assert_eq!(env.ok(&["-e", "@gitplug(\"x\")"]), "Hello, x!\n");

    let installed = env.ok(&["plugin", "install", "--path", "gitplug", "--debug"]);
    assert!(
        installed
            .starts_with(&format!("installed gitplug 0.1.0 (path+{})", crate_dir.canonicalize().unwrap().display())),
        "{installed}"
    );

    std::fs::remove_dir_all(env.work().join("plugins")).unwrap();
    let reproduced = env.ok(&["plugin", "install", "--debug"]);
    assert!(
        reproduced.ends_with(&format!("1 plugins installed from {}\n", env.work().join("tusk.lock").display())),
        "{reproduced}"
    );
    assert_eq!(env.installed(), ["gitplug"]);

    // The source changed since it was locked: refused, the installed plugin untouched.
    let lib = crate_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace("Hello", "Howdy")).unwrap();
    env.refused(&["plugin", "install", "--debug"], "checksum mismatch for gitplug 0.1.0 from path+");
    assert_eq!(env.ok(&["-e", "@gitplug(\"x\")"]), "Hello, x!\n");
}

/// The hot-reload fixture of the plugin host, built once per test binary.
fn swap_library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let built =
            tusk_plugin_testkit::build_packages(&workspace, &["hostile-swap"], tusk_plugin_testkit::Profile::Debug)
                .unwrap_or_else(|error| panic!("{error}"));
        built.library("hostile-swap").to_path_buf()
    })
}

impl Env {
    /// Makes a signing key, trusts it and configures the folder registry `local` (at `reg`)
    /// with `extra` lines under [registry]; returns the secret key file.
    fn trusted_registry(&self, extra: &str) -> String {
        self.ok(&["plugin", "keygen"]);
        let public = std::fs::read_to_string(self.path("config/tusk/signing.pub")).unwrap();
        let key_line = public.lines().nth(1).unwrap();
        std::fs::write(
            self.path("config/tusk/config.toml"),
            format!(
                "[registry]\ntrusted_keys = [\"{key_line}\"]\n{extra}\n[registries.local]\nurl = \"{}\"\n",
                self.path("reg").display()
            ),
        )
        .unwrap();
        self.path("config/tusk/signing.key").display().to_string()
    }

    /// Packs (signed with `key`, if given) and publishes a plugin folder into `local`.
    fn publish(&self, folder: &Path, key: Option<&str>) {
        let folder = folder.display().to_string();
        let mut pack = vec!["plugin", "pack", &folder, "--out", "pkgs"];
        if let Some(key) = key {
            pack.extend(["--sign", key]);
        }
        let packed = self.ok(&pack);
        let file = packed.lines().next().unwrap().rsplit_once(" into ").unwrap().1.to_string();
        self.ok(&["plugin", "publish", &file, "--registry", "local"]);
    }

    /// A folder of the hot-reload fixture `swap` at `version` (`1.N.0`), its library's marker
    /// saying `generation` (what `@swap.version()` returns). The library says which version
    /// it is and the host checks that against the manifest, so its `1.0.0` (the version it
    /// reports and the one in its info record) is rewritten too.
    fn swap_folder(&self, version: &str, generation: u32) -> PathBuf {
        assert_eq!(version.len(), "1.0.0".len(), "the version is patched in place");
        let dir = self.path(&format!("build/swap-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-host/tests/fixtures/swap/plugin.toml");
        let manifest = std::fs::read_to_string(fixture).unwrap();
        std::fs::write(
            dir.join("plugin.toml"),
            manifest.replace("version = \"1.0.0\"", &format!("version = \"{version}\"")),
        )
        .unwrap();
        let mut bytes = std::fs::read(swap_library()).unwrap();
        let prefix = b"SWAP-MARKER:";
        let at = bytes.windows(prefix.len()).position(|window| window == prefix).unwrap() + prefix.len();
        bytes[at..at + 12].copy_from_slice(format!("ok  {generation:08}").as_bytes());
        let mut patched = 0;
        while let Some(at) = bytes.windows(5).position(|window| window == b"1.0.0") {
            bytes[at..at + 5].copy_from_slice(version.as_bytes());
            patched += 1;
            if version == "1.0.0" {
                break;
            }
        }
        assert!(patched > 0, "the fixture's version string was not found in its library");
        std::fs::write(dir.join("libhostile_swap.so"), bytes).unwrap();
        dir
    }
}

#[test]
fn run_watch_and_the_repl_pick_up_updates_through_hot_reload() {
    let env = Env::new();
    let key = env.trusted_registry("");
    env.publish(&env.swap_folder("1.0.0", 1), Some(&key));
    let installed = env.ok(&["plugin", "install", "swap"]);
    assert!(installed.starts_with("installed swap 1.0.0 from registry `local`"), "{installed}");
    std::fs::write(env.work().join("main.tsk"), "version: @swap.version()\n").unwrap();

    let watching = env.spawn(&["run", "--watch", "--compact", "main.tsk"]);
    let mut repl = env.spawn(&["repl"]);
    let mut repl_stdin = repl.child.stdin.take().unwrap();
    let mut repl_version = || {
        std::io::Write::write_all(&mut repl_stdin, b"@swap.version()\n").unwrap();
        repl.stdout.until(|line| line.chars().last().is_some_and(|c| c.is_ascii_digit()))
    };
    assert_eq!(watching.stdout.until(|line| line.starts_with('{')), r#"{"version":1}"#);
    assert!(repl_version().ends_with('1'));

    // Two updates in a row: each is reloaded in place (the second one proves the watch
    // follows the plugin folder that the first update swapped in).
    for (version, generation) in [("1.1.0", 2), ("1.2.0", 3)] {
        println!("update to {version}");
        env.publish(&env.swap_folder(version, generation), Some(&key));
        let updated = env.ok(&["plugin", "update"]);
        assert!(updated.starts_with(&format!("installed swap {version} from registry `local`")), "{updated}");
        assert_eq!(
            watching.stderr.until(|line| line.contains("reloaded")),
            format!("plugin `swap` reloaded: generation {generation} serves")
        );
        assert_eq!(watching.stdout.until(|line| line.starts_with('{')), format!("{{\"version\":{generation}}}"));
        // The REPL applies the change before the next call once the watcher has seen it settle.
        let mut seen = Vec::new();
        for _ in 0..200 {
            let line = repl_version();
            if line.ends_with(&generation.to_string()) {
                break;
            }
            seen.push(line);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(seen.len() < 200, "the REPL kept the old build: {seen:?}");
    }
}

#[test]
fn yank_marks_a_version_that_new_installs_skip() {
    let env = Env::new();
    let key = env.trusted_registry("");
    env.publish(&env.plugin_folder("reg_base", "1.0.0"), Some(&key));
    env.publish(&env.plugin_folder("reg_base", "1.1.0"), Some(&key));
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let registry = env.path("reg");

    assert_eq!(
        env.ok(&["plugin", "yank", "reg_base@1.1.0", "--registry", "local"]),
        format!("reg_base 1.1.0 ({target}) is now yanked in {}\n", registry.display())
    );
    assert_eq!(
        env.ok(&["plugin", "yank", "reg_base@1.1.0"]),
        format!("reg_base 1.1.0 ({target}) was already yanked in {}\n", registry.display())
    );
    assert_eq!(
        env.ok(&["plugin", "search", "dependencies"]),
        "reg_base 1.0.0 (local): Registry test plugin with no dependencies\n"
    );
    let installed = env.ok(&["plugin", "install", "reg_base"]);
    assert!(installed.starts_with("installed reg_base 1.0.0 from registry `local`"), "{installed}");
    env.refused(&["plugin", "install", "reg_base@=1.1.0"], &format!("1.1.0 {target} (yanked)"));
    assert_eq!(
        env.ok(&["plugin", "outdated"]),
        format!("every plugin in {} is up to date\n", env.work().join("tusk.lock").display())
    );

    assert_eq!(
        env.ok(&["plugin", "yank", "reg_base@1.1.0", "--undo", "--registry", &registry.display().to_string()]),
        format!("reg_base 1.1.0 ({target}) is now not yanked in {}\n", registry.display())
    );
    let updated = env.ok(&["plugin", "update"]);
    assert!(updated.starts_with("installed reg_base 1.1.0 from registry `local`"), "{updated}");

    env.refused(&["plugin", "yank", "reg_base"], "`reg_base` names no version: yank takes NAME@VERSION");
    env.refused(&["plugin", "yank", "reg_base@1.x"], "invalid version `1.x` in `reg_base@1.x`");
    env.refused(
        &["plugin", "yank", "reg_base@9.0.0"],
        &format!("reg_base 9.0.0 is not published in {} (published: 1.0.0, 1.1.0)", registry.display()),
    );
    env.refused(&["plugin", "yank", "../x@1.0.0"], "invalid plugin name `../x`: it contains a path separator");
    env.refused(
        &["plugin", "yank", "reg_base@1.0.0", "--registry", "http://127.0.0.1:9/reg"],
        "is served over HTTP, which takes no uploads: publish and yank in the folder its server serves",
    );
}

/// What `tusk run` prints for `version: @swap.version()`.
fn version(generation: u32) -> String {
    format!("{{\n  \"version\": {generation}\n}}\n")
}

/// Waits (at most a minute) until `file` exists and its text satisfies `wanted`; its text.
fn wait_for_file(file: &Path, wanted: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..600 {
        text = std::fs::read_to_string(file).unwrap_or_default();
        if wanted(&text) {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{} never became what the test waits for; it is:\n{text}", file.display());
}

#[test]
fn auto_update_applies_signed_updates_in_the_background_at_most_once_per_interval() {
    let env = Env::new();
    let key = env.trusted_registry("");
    env.publish(&env.swap_folder("1.0.0", 1), Some(&key));
    env.ok(&["plugin", "install", "swap"]);
    env.publish(&env.swap_folder("1.1.0", 2), Some(&key));
    std::fs::write(env.work().join("main.tsk"), "version: @swap.version()\n").unwrap();
    let log = env.path("cache/tusk/auto-update.log");
    let lock = env.work().join("tusk.lock");

    // Off (the default): `tusk run` starts no check.
    assert_eq!(env.ok(&["run", "main.tsk"]), version(1));
    assert!(!log.exists(), "no check was started, so nothing was logged");

    // On: the run starts a check in the background, which installs the signed update.
    let config = std::fs::read_to_string(env.path("config/tusk/config.toml")).unwrap();
    std::fs::write(
        env.path("config/tusk/config.toml"),
        config.replace("[registry]\n", "[registry]\nauto_update = true\nauto_update_interval_hours = 1\n"),
    )
    .unwrap();
    // The script runs on whichever build is in place when it first calls the plugin.
    let first = env.ok(&["run", "main.tsk"]);
    assert!(first == version(1) || first == version(2), "{first}");
    wait_for_file(&lock, |text| text.contains("name = \"swap\"\nversion = \"1.1.0\""));
    let text = wait_for_file(&log, |text| text.contains("installed swap 1.1.0") && text.contains("recorded in"));
    assert!(text.starts_with(&format!("auto_update: checking {} (unix time ", lock.display())), "{text}");
    assert!(
        text.contains(&format!(
            "installed swap 1.1.0 from registry `local` in {}",
            env.work().join("plugins/swap").display()
        )),
        "{text}"
    );

    // Checked a moment ago: not again within the interval, whoever asks.
    env.publish(&env.swap_folder("1.2.0", 3), None);
    assert_eq!(env.ok(&["run", "main.tsk"]), version(2));
    assert_eq!(env.ok(&["plugin", "update", "--if-due"]), "no update check: the last check is recent\n");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), text, "no second check was started");

    // Due again, with an unsigned newer version: never installed automatically.
    for stamp in std::fs::read_dir(env.path("cache/tusk/auto-update")).unwrap() {
        std::fs::remove_file(stamp.unwrap().path()).unwrap();
    }
    let lock_before = std::fs::read_to_string(&lock).unwrap();
    assert_eq!(env.ok(&["run", "main.tsk"]), version(2));
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let refused =
        wait_for_file(&log, |text| text.contains(&format!("package swap-1.2.0-{target}.tskpkg is not signed")));
    // No offer of --allow-unsigned, which --if-due refuses: the way to install it by hand.
    assert!(
        refused.contains(&format!(
            "package swap-1.2.0-{target}.tskpkg is not signed; automatic updates install only packages signed by a \
             trusted key; run `tusk plugin update --allow-unsigned` to install it by hand"
        )),
        "{refused}"
    );
    assert!(!refused.contains("pass --allow-unsigned"), "{refused}");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), lock_before);
    let manifest = std::fs::read_to_string(env.work().join("plugins/swap/plugin.toml")).unwrap();
    assert!(manifest.contains("version = \"1.1.0\""), "{manifest}");
    let both = env.run(&["plugin", "update", "--if-due", "--allow-unsigned"]);
    assert_eq!(both.code, 2, "{both:?}");
    assert!(both.stderr.contains("cannot be used with"), "{both:?}");
}

#[test]
fn install_from_a_cargo_registry_goes_through_cargo_and_changes_nothing_when_it_fails() {
    let env = Env::new();
    env.refused(&["plugin", "install", "--crate", "../evil"], "invalid crate name `../evil`");

    // Cargo's own registry replaced by a local directory source (no network): one crate, which
    // is not a tusk plugin.
    let source = env.path("crates");
    let package = source.join("notaplugin-1.0.0");
    std::fs::create_dir_all(package.join("src")).unwrap();
    let manifest = "[package]\nname = \"notaplugin\"\nversion = \"1.0.0\"\nedition = \"2021\"\n";
    let library = "pub fn nothing() {}\n";
    std::fs::write(package.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(package.join("src/lib.rs"), library).unwrap();
    let sha = |text: &str| tusk_plugin_registry::sha256_hex(text.as_bytes());
    std::fs::write(
        package.join(".cargo-checksum.json"),
        format!(
            "{{\"files\":{{\"Cargo.toml\":\"{}\",\"src/lib.rs\":\"{}\"}},\"package\":\"{}\"}}",
            sha(manifest),
            sha(library),
            sha("notaplugin-1.0.0")
        ),
    )
    .unwrap();
    let cargo_home = env.path("cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    std::fs::write(
        cargo_home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"local\"\n\n[source.local]\ndirectory = \"{}\"\n\n[net]\noffline = true\n",
            source.display()
        ),
    )
    .unwrap();
    let with_local_registry = |args: &[&str]| {
        let mut command = env.command(args);
        command.env("CARGO_HOME", &cargo_home);
        run_command(command)
    };

    let missing = with_local_registry(&["plugin", "install", "--crate", "nosuch@1.0.0"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("cargo cannot fetch crate `nosuch@1.0.0`"), "{missing:?}");
    assert!(missing.stderr.contains("nosuch"), "cargo says what it did not find: {missing:?}");

    // Found and fetched by cargo (the lockfile source would be `crate+notaplugin@1.0.0`), then
    // refused because it is no plugin: nothing is installed and no lockfile written.
    let not_plugin = with_local_registry(&["plugin", "install", "--crate", "notaplugin", "--debug"]);
    assert_eq!(not_plugin.code, 1, "{not_plugin:?}");
    assert!(not_plugin.stderr.contains("cannot build the plugin from crate+notaplugin@1.0.0"), "{not_plugin:?}");
    assert_eq!(env.installed(), Vec::<String>::new());
    assert!(!env.work().join("tusk.lock").exists());
}
