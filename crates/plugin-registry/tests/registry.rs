//! Registries end to end without the tusk command: publish into a folder registry, serve it
//! over HTTP on 127.0.0.1, resolve, install, update, reproduce from the lockfile, and every
//! failure the installer must survive with nothing on disk changed.

mod common;

use std::path::{Path, PathBuf};

use common::{HostCheck, Server, plugin_folder, snapshot};
use tusk_plugin_registry::install::{self, Compatibility, InstallOptions, Scope, Unsigned};
use tusk_plugin_registry::package::pack_folder;
use tusk_plugin_registry::signing::{self, KeyPair, TrustedKey};
use tusk_plugin_registry::{IndexEntry, Lockfile, Registry, RegistryError, publish};

/// A folder registry, a project folder to install into, and a trusted signing key.
struct World {
    dir: tempfile::TempDir,
    key: KeyPair,
    trusted: Vec<TrustedKey>,
}

impl World {
    fn new() -> World {
        let key = signing::generate_key_pair().unwrap();
        let trusted = vec![TrustedKey::parse(&key.public_file).unwrap()];
        World { dir: tempfile::tempdir().unwrap(), key, trusted }
    }

    fn registry_dir(&self) -> PathBuf {
        self.dir.path().join("registry")
    }

    fn registry(&self) -> Registry {
        Registry::new("test", &self.registry_dir().display().to_string())
    }

    fn scope(&self) -> Scope {
        let project = self.dir.path().join("project");
        Scope { plugins_dir: project.join("plugins"), lock_path: project.join("tusk.lock") }
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    /// Packs test plugin `name` as `version` with `dependencies`, signed unless `sign` is
    /// false, and publishes it; returns the archive and the entry.
    fn publish(&self, name: &str, version: &str, dependencies: &str, sign: bool) -> (Vec<u8>, IndexEntry) {
        let folder = plugin_folder(&self.dir.path().join("build"), name, version, dependencies);
        let (meta, archive) = pack_folder(&folder, &HostCheck).unwrap();
        let signature = sign.then(|| signing::sign(&archive, &self.key.secret_file, &meta.file_name()).unwrap());
        let entry = publish::publish(&self.registry_dir(), &archive, signature.as_deref()).unwrap();
        (archive, entry)
    }

    fn options(&self, allow_unsigned: bool) -> InstallOptions<'_> {
        InstallOptions {
            trusted_keys: &self.trusted,
            unsigned: if allow_unsigned { Unsigned::Install } else { Unsigned::Refuse },
            compatibility: Compatibility::current(semver::Version::new(0, 1, 0)),
            check: &HostCheck,
        }
    }

    fn install(&self, registry: &Registry, requests: &[(&str, &str)]) -> Result<install::Outcome, RegistryError> {
        let requests: Vec<(String, semver::VersionReq)> =
            requests.iter().map(|(name, requirement)| (name.to_string(), requirement.parse().unwrap())).collect();
        install::install(registry, &requests, None, &self.scope(), &self.options(false))
    }

    fn lock(&self) -> Lockfile {
        Lockfile::load(&self.scope().lock_path).unwrap()
    }

    fn locked_versions(&self) -> Vec<String> {
        self.lock().plugins.iter().map(|plugin| format!("{} {}", plugin.name, plugin.version)).collect()
    }

    fn installed_version(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.scope().plugins_dir.join(name).join("plugin.toml")).unwrap();
        let table: toml::Table = text.parse().unwrap();
        table["plugin"]["version"].as_str().unwrap().to_string()
    }

    /// Rewrites the index file of `name` with `edit` applied to its text.
    fn edit_index(&self, name: &str, edit: impl Fn(&str) -> String) {
        let path = self.registry_dir().join(tusk_plugin_registry::index::index_path(name).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(&text)).unwrap();
    }
}

/// Asserts that `result` failed with a message containing `needle`, and that the project
/// folder is as `before`.
fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, RegistryError>,
    needle: &str,
    project: &Path,
    before: &[String],
) {
    let error = result.expect_err("the operation must fail").to_string();
    assert!(error.contains(needle), "expected `{needle}` in: {error}");
    assert_eq!(snapshot(project), before, "the project folder changed after: {error}");
}

#[test]
fn folder_registry_publish_search_install_update_and_reproduce() {
    let world = World::new();
    world.publish("reg_base", "1.0.0", "", true);
    world.publish("reg_app", "1.0.0", "reg_base = \"^1\"", true);
    let registry = world.registry();

    let found = registry.search_list().unwrap();
    let names: Vec<String> =
        found.iter().filter(|entry| entry.matches(&["depends".into()])).map(|e| e.name.clone()).collect();
    assert_eq!(names, ["reg_app"]);

    let outcome = world.install(&registry, &[("reg_app", "^1")]).unwrap();
    let installed: Vec<String> = outcome.installed.iter().map(|(plugin, _)| plugin.name.clone()).collect();
    assert_eq!(installed, ["reg_app", "reg_base"]);
    assert_eq!(world.locked_versions(), ["reg_app 1.0.0", "reg_base 1.0.0"]);
    let lock = world.lock();
    assert_eq!(lock.requirements.get("reg_app").map(String::as_str), Some("^1"));
    assert_eq!(lock.plugin("reg_app").unwrap().dependencies, ["reg_base 1.0.0"]);
    assert_eq!(lock.plugin("reg_app").unwrap().source, format!("registry+{}", world.registry_dir().display()));
    // No staging or replaced folders are left behind.
    let mut left: Vec<String> = std::fs::read_dir(&world.scope().plugins_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["reg_app", "reg_base"]);

    // A new compatible version: outdated lists it, a plain install keeps the locked one,
    // update takes it and rewrites the lock.
    world.publish("reg_base", "1.1.0", "", true);
    world.publish("reg_base", "2.0.0", "", true);
    let compatibility = Compatibility::current(semver::Version::new(0, 1, 0));
    let outdated = install::outdated(&registry, &world.scope(), &compatibility).unwrap();
    assert_eq!(outdated.len(), 1);
    assert_eq!(
        (
            outdated[0].name.as_str(),
            outdated[0].locked.as_str(),
            outdated[0].compatible.as_deref(),
            outdated[0].latest.as_deref()
        ),
        ("reg_base", "1.0.0", Some("1.1.0"), Some("2.0.0"))
    );
    let again = world.install(&registry, &[("reg_app", "^1")]).unwrap();
    assert!(again.installed.is_empty(), "{again:?}");
    let update = install::install(&registry, &[], Some(&[]), &world.scope(), &world.options(false)).unwrap();
    let updated: Vec<String> =
        update.installed.iter().map(|(plugin, _)| format!("{} {}", plugin.name, plugin.version)).collect();
    assert_eq!(updated, ["reg_base 1.1.0"], "reg_app needs reg_base ^1, so 2.0.0 is out");
    assert_eq!(world.installed_version("reg_base"), "1.1.0");
    assert_eq!(world.locked_versions(), ["reg_app 1.0.0", "reg_base 1.1.0"]);

    // On another machine: the lockfile alone reproduces the set.
    std::fs::remove_dir_all(&world.scope().plugins_dir).unwrap();
    let lookup = |source: &str| source.strip_prefix("registry+").map(|location| Registry::new("test", location));
    let (installed, _) = install::reproduce(&world.scope(), &lookup, &world.options(false)).unwrap();
    let reproduced: Vec<String> =
        installed.iter().map(|plugin| format!("{} {}", plugin.name, plugin.version)).collect();
    assert_eq!(reproduced, ["reg_app 1.0.0", "reg_base 1.1.0"]);
    assert_eq!(world.installed_version("reg_base"), "1.1.0");

    // A lockfile whose checksum no longer matches the registry is an error, and nothing changes.
    let lock_text = std::fs::read_to_string(&world.scope().lock_path).unwrap();
    let base_checksum = world.lock().plugin("reg_base").unwrap().checksum.clone();
    std::fs::write(&world.scope().lock_path, lock_text.replace(&base_checksum, &format!("sha256:{}", "0".repeat(64))))
        .unwrap();
    let before = snapshot(&world.project());
    assert_refused(
        install::reproduce(&world.scope(), &lookup, &world.options(false)),
        "checksum mismatch for reg_base 1.1.0 (locked in",
        &world.project(),
        &before,
    );

    // Published versions are immutable.
    let folder = plugin_folder(&world.dir.path().join("again"), "reg_base", "1.1.0", "");
    let (_, archive) = pack_folder(&folder, &HostCheck).unwrap();
    let error = publish::publish(&world.registry_dir(), &archive, None).unwrap_err().to_string();
    assert!(error.contains("reg_base 1.1.0 for") && error.contains("is already published"), "{error}");
}

#[test]
fn conflicting_requirements_name_both_and_change_nothing() {
    let world = World::new();
    world.publish("reg_base", "1.0.0", "", true);
    world.publish("reg_base", "2.0.0", "", true);
    world.publish("reg_app", "1.0.0", "reg_base = \"^1\"", true);
    let before = snapshot(&world.project());
    assert_refused(
        world.install(&world.registry(), &[("reg_app", "^1"), ("reg_base", "^2")]),
        "conflicting requirements on `reg_base`: you asked for reg_base ^2 and reg_app 1.0.0 needs reg_base ^1",
        &world.project(),
        &before,
    );
    assert_refused(
        world.install(&world.registry(), &[("../reg_app", "*")]),
        "invalid plugin name `../reg_app`: it contains a path separator",
        &world.project(),
        &before,
    );
    assert_refused(
        world.install(&world.registry(), &[("reg_nope", "*")]),
        "no plugin named `reg_nope` in the registry",
        &world.project(),
        &before,
    );
}

#[test]
fn http_registry_installs_and_recovers_from_a_cut_download() {
    let world = World::new();
    let (archive, entry) = world.publish("reg_base", "1.0.0", "", true);
    let server = Server::start(&world.registry_dir());
    let registry = Registry::new("web", &server.url);

    server.cut(&entry.file, archive.len() / 2);
    world.install(&world.registry(), &[]).unwrap();
    let before = snapshot(&world.project());
    assert_refused(world.install(&registry, &[("reg_base", "^1")]), "was cut short", &world.project(), &before);
    assert!(server.requests.lock().unwrap().contains(&entry.file));

    server.heal();
    world.install(&registry, &[("reg_base", "^1")]).unwrap();
    assert_eq!(world.installed_version("reg_base"), "1.0.0");
    assert!(world.lock().plugin("reg_base").unwrap().source.starts_with("registry+http://127.0.0.1:"));
}

#[test]
fn unreachable_registries_are_clear_errors() {
    let world = World::new();
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let before = snapshot(&world.project());
    assert_refused(
        world.install(&Registry::new("gone", &format!("http://127.0.0.1:{port}")), &[("reg_base", "*")]),
        &format!("cannot reach registry `gone` (http://127.0.0.1:{port}): "),
        &world.project(),
        &before,
    );
    assert_refused(
        world.install(&Registry::new("missing", "/nonexistent/registry"), &[("reg_base", "*")]),
        "cannot reach registry `missing` (/nonexistent/registry): no such folder",
        &world.project(),
        &before,
    );
}

#[test]
fn unsigned_untrusted_and_tampered_packages_are_refused() {
    let world = World::new();
    world.publish("reg_base", "1.0.0", "", false);
    let registry = world.registry();
    let before = snapshot(&world.project());
    assert_refused(
        world.install(&registry, &[("reg_base", "*")]),
        "package reg_base-1.0.0-",
        &world.project(),
        &before,
    );
    assert_refused(
        world.install(&registry, &[("reg_base", "*")]),
        "is not signed; pass --allow-unsigned",
        &world.project(),
        &before,
    );
    let requests = [("reg_base".to_string(), semver::VersionReq::STAR)];
    let outcome = install::install(&registry, &requests, None, &world.scope(), &world.options(true)).unwrap();
    assert!(outcome.notes[0].contains("is not signed (installed because of --allow-unsigned)"), "{:?}", outcome.notes);

    // Signed by a key nobody trusts.
    let stranger = signing::generate_key_pair().unwrap();
    let folder = plugin_folder(&world.dir.path().join("s"), "reg_app", "1.0.0", "reg_base = \"^1\"");
    let (meta, archive) = pack_folder(&folder, &HostCheck).unwrap();
    let signature = signing::sign(&archive, &stranger.secret_file, &meta.file_name()).unwrap();
    let entry = publish::publish(&world.registry_dir(), &archive, Some(&signature)).unwrap();
    assert_eq!(entry.key_id.as_deref(), Some(stranger.key_id.as_str()));
    let before = snapshot(&world.project());
    assert_refused(
        world.install(&registry, &[("reg_app", "*")]),
        &format!("is signed by key {}, which is not among the trusted keys", stranger.key_id),
        &world.project(),
        &before,
    );

    // The archive replaced on the server: its checksum no longer matches the index.
    let archive_path = world.registry_dir().join(&entry.file);
    let mut tampered = archive.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xff;
    std::fs::write(&archive_path, &tampered).unwrap();
    assert_refused(
        world.install(&registry, &[("reg_app", "*")]),
        "checksum mismatch for archives/reg_app/",
        &world.project(),
        &before,
    );

    // Archive and index checksum both replaced: the signature gives it away.
    let world = World::new();
    let (archive, entry) = world.publish("reg_base", "1.0.0", "", true);
    let other_folder = plugin_folder(&world.dir.path().join("evil"), "reg_base", "1.0.0", "");
    std::fs::write(other_folder.join("README.md"), "changed by someone else\n").unwrap();
    let (_, evil) = pack_folder(&other_folder, &HostCheck).unwrap();
    assert_ne!(evil, archive);
    std::fs::write(world.registry_dir().join(&entry.file), &evil).unwrap();
    let evil_checksum = tusk_plugin_registry::sha256_hex(&evil);
    world.edit_index("reg_base", |text| {
        text.replace(&entry.cksum, &evil_checksum)
            .replace(&format!("\"size\":{}", archive.len()), &format!("\"size\":{}", evil.len()))
    });
    let before = snapshot(&world.project());
    assert_refused(
        world.install(&world.registry(), &[("reg_base", "*")]),
        "bad signature on reg_base-1.0.0-",
        &world.project(),
        &before,
    );
}

#[test]
fn index_entries_lying_about_abi_or_target_are_refused() {
    let world = World::new();
    let (_, entry) = world.publish("reg_base", "1.0.0", "", true);
    let before = snapshot(&world.project());
    let abi = format!("\"abi\":\"{}\"", entry.abi);
    let (major, minor) = entry.abi_version().unwrap();
    assert!(minor > 0, "the test lowers the minor");
    let lower = format!("{major}.{}", minor - 1);
    world.edit_index("reg_base", |text| text.replace(&abi, &format!("\"abi\":\"{lower}\"")));
    assert_refused(
        world.install(&world.registry(), &[("reg_base", "*")]),
        &format!(
            "the index entry of reg_base 1.0.0 lies about its ABI: it says {lower}, the library speaks {}",
            entry.abi
        ),
        &world.project(),
        &before,
    );
    // An index entry for an ABI this tusk does not load is never downloaded.
    world.edit_index("reg_base", |text| text.replace(&format!("\"abi\":\"{lower}\""), "\"abi\":\"9.0\""));
    assert_refused(
        world.install(&world.registry(), &[("reg_base", "*")]),
        "1.0.0 (plugin ABI 9.0, this tusk loads",
        &world.project(),
        &before,
    );
}

/// A gzip-compressed tar archive with raw entries: `(path, kind, link target, bytes)`, the
/// path written into the header as is (the tar crate's builder refuses `..`).
fn raw_archive(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (path, kind, link, bytes) in entries {
        let mut header = tar::Header::new_old();
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if !link.is_empty() {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(*kind);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, *bytes).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn hostile_archives_are_refused_before_anything_leaves_the_staging_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "zip slip",
            raw_archive(&[("../escaped.txt", tar::EntryType::Regular, "", b"x")]),
            "entry `../escaped.txt` would be written outside the plugin folder",
        ),
        (
            "absolute",
            raw_archive(&[("/tmp/escaped.txt", tar::EntryType::Regular, "", b"x")]),
            "entry `/tmp/escaped.txt` is an absolute path",
        ),
        (
            "symlink",
            raw_archive(&[("link", tar::EntryType::Symlink, "/etc/passwd", b"")]),
            "entry `link` is a symbolic link",
        ),
        (
            "hard link",
            raw_archive(&[("link", tar::EntryType::Link, "/etc/passwd", b"")]),
            "entry `link` is a hard link",
        ),
        ("not gzip", b"PK\x03\x04 a zip file".to_vec(), "corrupt package case.tskpkg: not a gzip-compressed archive"),
        (
            "no checksums",
            raw_archive(&[("plugin.toml", tar::EntryType::Regular, "", b"[plugin]")]),
            "it has no CHECKSUMS list",
        ),
    ];
    for (label, archive, needle) in cases {
        let destination = dir.path().join(label.replace(' ', "_"));
        let error = tusk_plugin_registry::unpack(&archive, "case.tskpkg", &destination).unwrap_err().to_string();
        assert!(error.contains(needle), "{label}: expected `{needle}` in: {error}");
        assert!(!dir.path().join("escaped.txt").exists() && !Path::new("/tmp/escaped.txt").exists(), "{label}");
    }

    // A real package cut short, and one with a file changed after its checksum list was made.
    let world = World::new();
    let folder = plugin_folder(&world.dir.path().join("b"), "reg_base", "1.0.0", "");
    let (_, archive) = pack_folder(&folder, &HostCheck).unwrap();
    let error =
        tusk_plugin_registry::unpack(&archive[..archive.len() / 2], "cut.tskpkg", &dir.path().join("cut")).unwrap_err();
    assert!(error.to_string().starts_with("corrupt package cut.tskpkg: "), "{error}");
    let mut entries = Vec::new();
    let mut reader = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if path == "README.md" {
            bytes = b"swapped\n".to_vec();
        }
        entries.push((path, bytes));
    }
    let rebuilt: Vec<(&str, tar::EntryType, &str, &[u8])> =
        entries.iter().map(|(path, bytes)| (path.as_str(), tar::EntryType::Regular, "", bytes.as_slice())).collect();
    let error =
        tusk_plugin_registry::unpack(&raw_archive(&rebuilt), "swap.tskpkg", &dir.path().join("swap")).unwrap_err();
    assert!(error.to_string().contains("`README.md` does not match CHECKSUMS"), "{error}");
}

#[test]
fn packing_is_deterministic_and_complete() {
    let world = World::new();
    let folder = plugin_folder(&world.dir.path().join("p"), "reg_app", "1.2.3", "reg_base = \"^1.1\"");
    let (meta, first) = pack_folder(&folder, &HostCheck).unwrap();
    let (_, second) = pack_folder(&folder, &HostCheck).unwrap();
    assert_eq!(first, second);
    assert_eq!(meta.file_name(), format!("reg_app-1.2.3-{}-{}.tskpkg", std::env::consts::ARCH, std::env::consts::OS));
    assert_eq!(meta.dependencies.get("reg_base").map(ToString::to_string).as_deref(), Some("^1.1"));
    let unpacked = world.dir.path().join("unpacked");
    let again = tusk_plugin_registry::unpack(&first, "p.tskpkg", &unpacked).unwrap();
    assert_eq!(again, meta);
    let mut files: Vec<String> = std::fs::read_dir(&unpacked)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let library = tusk_plugin_catalog::default_library_name("reg_app");
    let mut expected =
        vec!["CHECKSUMS".to_string(), "README.md".into(), library, "plugin.toml".into(), "tskpkg.json".into()];
    expected.sort();
    assert_eq!(files, expected);
}

#[test]
fn an_update_reports_the_permissions_of_the_version_it_replaces() {
    let world = World::new();
    world.publish("reg_base", "1.0.0", "", true);
    world.install(&world.registry(), &[("reg_base", "^1")]).unwrap();
    let folder = plugin_folder(&world.dir.path().join("wider"), "reg_base", "1.1.0", "");
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    std::fs::write(folder.join("plugin.toml"), format!("{manifest}\n[permissions]\nenv = [\"HOME\"]\n")).unwrap();
    let (meta, archive) = pack_folder(&folder, &HostCheck).unwrap();
    let signature = signing::sign(&archive, &world.key.secret_file, &meta.file_name()).unwrap();
    let entry = publish::publish(&world.registry_dir(), &archive, Some(&signature)).unwrap();
    assert_eq!(entry.permissions["env"], serde_json::json!(["HOME"]));

    let update = install::install(&world.registry(), &[], Some(&[]), &world.scope(), &world.options(false)).unwrap();
    assert_eq!(update.installed.len(), 1);
    assert_eq!(update.previous_permissions["reg_base"]["env"], serde_json::json!([]));
    assert_eq!(update.installed[0].1.as_ref().unwrap().permissions["env"], serde_json::json!(["HOME"]));
}

#[test]
fn yanked_versions_are_skipped_unless_locked_and_yanking_edits_only_that_flag() {
    let world = World::new();
    world.publish("reg_base", "1.0.0", "", true);
    world.publish("reg_base", "1.1.0", "", true);
    let registry = world.registry();
    let index_file = world.registry_dir().join(tusk_plugin_registry::index::index_path("reg_base").unwrap());
    let before = std::fs::read_to_string(&index_file).unwrap();
    let v110 = semver::Version::new(1, 1, 0);

    // Installed and locked at 1.1.0, then 1.1.0 is yanked.
    world.install(&registry, &[("reg_base", "^1")]).unwrap();
    assert_eq!(world.locked_versions(), ["reg_base 1.1.0"]);
    let yanked = publish::yank(&world.registry_dir(), "reg_base", &v110, true).unwrap();
    assert_eq!(yanked.targets, [Compatibility::current(semver::Version::new(0, 1, 0)).target]);
    assert!(yanked.changed);
    let after = std::fs::read_to_string(&index_file).unwrap();
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(old_lines[0], new_lines[0], "the line of 1.0.0 is left byte for byte");
    let entries = registry.entries("reg_base").unwrap();
    assert_eq!(entries.iter().map(|entry| entry.yanked).collect::<Vec<_>>(), [false, true]);
    // Yanking twice changes nothing; the search list shows the newest version not yanked.
    assert!(!publish::yank(&world.registry_dir(), "reg_base", &v110, true).unwrap().changed);
    assert_eq!(registry.search_list().unwrap()[0].version, semver::Version::new(1, 0, 0));

    // The locked yanked version is kept by an install of something else and reproduced from
    // the lockfile (with a warning), but `update` moves off it and a new install skips it.
    world.publish("reg_app", "1.0.0", "reg_base = \"^1\"", true);
    world.install(&registry, &[("reg_app", "^1")]).unwrap();
    assert_eq!(world.locked_versions(), ["reg_app 1.0.0", "reg_base 1.1.0"]);
    std::fs::remove_dir_all(&world.scope().plugins_dir).unwrap();
    let lookup = |source: &str| source.strip_prefix("registry+").map(|location| Registry::new("test", location));
    let (installed, notes) = install::reproduce(&world.scope(), &lookup, &world.options(false)).unwrap();
    assert_eq!(installed.len(), 2);
    assert_eq!(
        notes,
        [format!(
            "reg_base 1.1.0 is yanked in registry `test`; installed because {} locks it",
            world.scope().lock_path.display()
        )]
    );
    let update = install::install(&registry, &[], Some(&[]), &world.scope(), &world.options(false)).unwrap();
    let updated: Vec<String> =
        update.installed.iter().map(|(plugin, _)| format!("{} {}", plugin.name, plugin.version)).collect();
    assert_eq!(updated, ["reg_base 1.0.0"], "the only version not yanked");
    assert_eq!(world.installed_version("reg_base"), "1.0.0");
    let before = snapshot(&world.project());
    assert_refused(
        world.install(&registry, &[("reg_base", "=1.1.0")]),
        "no usable version of `reg_base` matches =1.1.0 (you asked for reg_base =1.1.0): 1.1.0",
        &world.project(),
        &before,
    );

    // Un-yanked, it is chosen again.
    assert!(publish::yank(&world.registry_dir(), "reg_base", &v110, false).unwrap().changed);
    assert_eq!(
        std::fs::read_to_string(&index_file).unwrap().lines().nth(1).map(|line| line.contains("\"yanked\":false")),
        Some(true)
    );
    assert_eq!(registry.search_list().unwrap()[1].version, v110);
    let update = install::install(&registry, &[], Some(&[]), &world.scope(), &world.options(false)).unwrap();
    assert_eq!(update.installed[0].0.version, "1.1.0");

    // A version or plugin that is not there, and a folder that is not a registry.
    let error = publish::yank(&world.registry_dir(), "reg_base", &semver::Version::new(9, 0, 0), true).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("reg_base 9.0.0 is not published in {} (published: 1.0.0, 1.1.0)", world.registry_dir().display())
    );
    let error = publish::yank(&world.registry_dir(), "nothing", &v110, true).unwrap_err();
    assert_eq!(error.to_string(), format!("there is no plugin named `nothing` in {}", world.registry_dir().display()));
    let error = publish::yank(&world.project(), "reg_base", &v110, true).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{} is not a folder registry (it has no config.json)", world.project().display())
    );
    let error = publish::yank(&world.registry_dir(), "../x", &v110, true).unwrap_err();
    assert_eq!(error.to_string(), "invalid plugin name `../x`: it contains a path separator");
}

#[test]
fn an_update_replaces_files_inside_the_installed_folder_and_puts_them_back_on_failure() {
    use std::os::unix::fs::MetadataExt;

    let world = World::new();
    world.publish("reg_base", "1.0.0", "", true);
    let registry = world.registry();
    world.install(&registry, &[("reg_base", "^1")]).unwrap();
    let folder = world.scope().plugins_dir.join("reg_base");
    // A file the new build does not have: moved aside, and back when the update fails.
    std::fs::write(folder.join("notes.txt"), "mine").unwrap();
    let inode = std::fs::metadata(&folder).unwrap().ino();
    let before = snapshot(&world.project());
    world.publish("reg_base", "1.1.0", "", true);
    let entry = registry.entries("reg_base").unwrap().into_iter().find(|entry| entry.vers.minor == 1).unwrap();
    let archive = registry.download(&entry).unwrap();
    let options = world.options(false);

    // The lockfile cannot be written (its folder is missing): every old file is put back.
    let mut staging = install::Staging::new(&world.scope().plugins_dir).unwrap();
    staging.stage_package(&registry, &entry, &archive, Vec::new(), &options).unwrap();
    let lock = world.lock();
    let unwritable = world.project().join("missing/tusk.lock");
    assert_refused(staging.commit(Some((&unwritable, &lock))), "missing/tusk.lock", &world.project(), &before);
    assert_eq!(std::fs::metadata(&folder).unwrap().ino(), inode);

    // It can: the folder is the same one (a watcher of it sees the change), with the new files only.
    let mut staging = install::Staging::new(&world.scope().plugins_dir).unwrap();
    staging.stage_package(&registry, &entry, &archive, Vec::new(), &options).unwrap();
    staging.commit(Some((&world.scope().lock_path, &lock))).unwrap();
    assert_eq!(std::fs::metadata(&folder).unwrap().ino(), inode);
    assert_eq!(world.installed_version("reg_base"), "1.1.0");
    assert!(!folder.join("notes.txt").exists());
    let mut left: Vec<String> = std::fs::read_dir(&world.scope().plugins_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["reg_base"], "no staged or replaced folder is left");
}
