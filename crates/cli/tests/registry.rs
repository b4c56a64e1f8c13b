//! Runs the real `tusk` binary on registries and lockfiles: `tusk plugin keygen`, `pack`,
//! `publish`, `search`, `install NAME`, `install` from the lockfile, `outdated`, `update`, and
//! `install --path` / `--git` from a local repository (no network).
//!
//! Every run gets its own home (`HOME`, `XDG_*`) in a temporary folder. The registry test
//! plugins of tusk-plugin-registry and the sandbox runner are built once per test binary by
//! the test kit; crates made by `tusk plugin new` build into a target folder of their own inside
//! ours, as in the plugin tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

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

/// Where crates made by `tusk plugin new` are built (shared with the plugin tests).
fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("tusk-cli-plugin-builds")
}

#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Env {
    root: TempDir,
}

impl Env {
    fn new() -> Env {
        let root = tempfile::tempdir().unwrap();
        for dir in ["work", "data", "config/tusk", "cache", "home"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        Env { root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn work(&self) -> PathBuf {
        self.path("work")
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_tusk"))
            .args(args)
            .current_dir(self.work())
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("TUSK_PLUGIN_RUNNER", built().binary(RUNNER, RUNNER))
            .env_remove("TUSK_PLUGIN_PATH")
            .env_remove("TUSK_SDK_PATH")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .expect("the tusk binary starts");
        Output {
            code: output.status.code().expect("tusk exits normally"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs and expects success.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.code, 0, "tusk {args:?}: {output:?}");
        output.stdout
    }

    /// Runs and expects exit code 1 with `needle` in the error.
    fn refused(&self, args: &[&str], needle: &str) {
        let output = self.run(args);
        assert_eq!(output.code, 1, "tusk {args:?}: {output:?}");
        assert!(output.stderr.contains(needle), "expected `{needle}` in: {}", output.stderr);
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
