//! Discovery: search path order, shadowing, conflicts, preferences and the index cache.

use super::*;
use crate::manifest::default_library_name;

/// Writes a valid plugin `name` into `root/folder` with extra manifest lines.
pub(crate) fn write_plugin(root: &Path, folder: &str, name: &str, version: &str, extra: &str) -> PathBuf {
    let dir = root.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(default_library_name(name)), b"\x7fELF").unwrap();
    let text = format!(
        "[plugin]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"d\"\nauthor = \"a\"\nlicense = \"MIT\"\nrepository = \"r\"\nabi = \"1.0\"\n{extra}"
    );
    std::fs::write(dir.join(MANIFEST_FILE), text).unwrap();
    dir
}

fn roots(dirs: &[(&Path, Origin)]) -> SearchPath {
    SearchPath {
        roots: dirs.iter().map(|(dir, origin)| SearchRoot { dir: dir.to_path_buf(), origin: *origin }).collect(),
    }
}

fn run(search: &SearchPath, index: Option<&Path>) -> Catalog {
    discover(search, index, &HashMap::new(), &mut SourceMap::new())
}

fn messages(catalog: &Catalog) -> Vec<String> {
    catalog.diagnostics.iter().map(|d| format!("{} {}", d.code.unwrap_or("-"), d.message)).collect()
}

#[test]
fn search_path_from_parts_keeps_order_and_drops_repeats() {
    let env_path = std::env::join_paths(["/a", "", "/b", "/a"]).unwrap();
    let search = SearchPath::from_parts(
        Some(&env_path),
        Some(Path::new("/proj")),
        Some(Path::new("/home/u/.local/share/tusk/plugins")),
        Some(Path::new("/opt/tusk/bin")),
    );
    let listed: Vec<_> = search.roots.iter().map(|root| (root.dir.to_str().unwrap(), root.origin)).collect();
    assert_eq!(
        listed,
        [
            ("/a", Origin::EnvPath),
            ("/b", Origin::EnvPath),
            ("/proj/plugins", Origin::Project),
            ("/home/u/.local/share/tusk/plugins", Origin::User),
            ("/opt/tusk/bin/plugins", Origin::Bundled),
        ]
    );
}

#[test]
fn finds_plugins_one_level_deep_and_skips_other_folders() {
    let root = tempfile::tempdir().unwrap();
    write_plugin(
        root.path(),
        "logging",
        "logging",
        "0.1.0",
        "[capabilities]\noperators = [\"log\"]\nfunctions = [\"log_level\"]\ntypes = [\"logging.sink\"]\n",
    );
    write_plugin(&root.path().join("nested"), "deep", "deep", "1.0.0", "");
    write_plugin(root.path(), ".hidden", "hidden", "1.0.0", "");
    std::fs::create_dir(root.path().join("empty")).unwrap();
    std::fs::write(root.path().join("README.md"), "not a plugin").unwrap();
    let catalog = run(&roots(&[(root.path(), Origin::User), (Path::new("/nonexistent/tusk"), Origin::Project)]), None);
    assert_eq!(messages(&catalog), Vec::<String>::new());
    let names: Vec<_> = catalog.plugins.iter().map(DiscoveredPlugin::name).collect();
    assert_eq!(names, ["logging"]);
    assert_eq!(catalog.plugin("logging").unwrap().origin, Origin::User);
    assert_eq!(catalog.provider(SymbolKind::Operator, "log").unwrap().name(), "logging");
    assert_eq!(catalog.provider(SymbolKind::Function, "log_level").unwrap().name(), "logging");
    assert!(catalog.provider(SymbolKind::Function, "log").is_none(), "operators and functions are separate");
    assert_eq!(catalog.type_provider("logging.sink").unwrap().name(), "logging");
    assert_eq!(
        catalog.unknown_symbol_hint(SymbolKind::Operator, "log").as_deref(),
        Some("operator `@log` is provided by plugin `logging` 0.1.0, which is installed but not loaded")
    );
    assert_eq!(catalog.unknown_symbol_hint(SymbolKind::Operator, "nope"), None);
    assert_eq!(catalog.stats, IndexStats { reused: 0, parsed: 1, written: false });
}

#[test]
fn invalid_manifests_become_diagnostics() {
    let root = tempfile::tempdir().unwrap();
    write_plugin(root.path(), "good", "good", "1.0.0", "");
    let bad = write_plugin(root.path(), "bad", "bad", "1.0.0", "");
    std::fs::write(bad.join(MANIFEST_FILE), "[plugin]\nname = \"bad\"\n").unwrap();
    let mut sources = SourceMap::new();
    let catalog = discover(&roots(&[(root.path(), Origin::User)]), None, &HashMap::new(), &mut sources);
    assert_eq!(catalog.plugins.len(), 1);
    assert_eq!(catalog.diagnostics.len(), 6, "{:?}", messages(&catalog));
    assert_eq!(catalog.diagnostics[0].message, "missing required key `version` in [plugin]");
    let source = catalog.diagnostics[0].primary.as_ref().unwrap().location.source;
    assert_eq!(sources.get(source).name, bad.join(MANIFEST_FILE).display().to_string());
}

#[test]
fn earlier_roots_shadow_later_ones() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let winner = write_plugin(first.path(), "logging", "logging", "0.2.0", "");
    let loser = write_plugin(second.path(), "logging", "logging", "0.1.0", "");
    let catalog = run(&roots(&[(first.path(), Origin::EnvPath), (second.path(), Origin::User)]), None);
    assert_eq!(catalog.plugins.len(), 1);
    let plugin = catalog.plugin("logging").unwrap();
    assert_eq!(plugin.manifest().version.to_string(), "0.2.0");
    let loser = loser.canonicalize().unwrap();
    let winner = winner.canonicalize().unwrap();
    assert_eq!(plugin.shadowed, std::slice::from_ref(&loser));
    let diagnostic = &catalog.diagnostics[0];
    assert!(!diagnostic.is_error());
    assert_eq!(diagnostic.code, Some("X021"));
    assert_eq!(
        diagnostic.message,
        format!("plugin `logging` in {} shadows the one in {}", winner.display(), loser.display())
    );
    assert_eq!(diagnostic.notes, [format!("using version 0.2.0 from {}; version 0.1.0 is ignored", winner.display())]);
}

#[test]
fn two_providers_of_one_operator_conflict_unless_preferred() {
    let root = tempfile::tempdir().unwrap();
    write_plugin(
        root.path(),
        "audit",
        "audit",
        "1.0.0",
        "[capabilities]\noperators = [\"log\"]\ntypes = [\"shared.h\"]\n",
    );
    write_plugin(
        root.path(),
        "logging",
        "logging",
        "1.0.0",
        "[capabilities]\noperators = [\"log\", \"log.flush\"]\ntypes = [\"shared.h\"]\n",
    );
    let search = roots(&[(root.path(), Origin::User)]);
    let catalog = run(&search, None);
    assert_eq!(
        messages(&catalog),
        [
            "X020 `@log` is provided by `audit` and `logging`",
            "X020 type `shared.h` is created by `audit` and `logging`"
        ]
    );
    assert_eq!(
        catalog.diagnostics[0].help.as_deref(),
        Some(
            "uninstall one of them, or choose one: `\"@log\" = \"audit\"` under [plugin_preferences] in ~/.config/tusk/config.toml"
        )
    );
    assert!(catalog.provider(SymbolKind::Operator, "log").is_none());
    assert_eq!(catalog.providers(SymbolKind::Operator, "log").len(), 2);
    assert_eq!(catalog.provider(SymbolKind::Operator, "log.flush").unwrap().name(), "logging");
    assert_eq!(
        catalog.unknown_symbol_hint(SymbolKind::Operator, "log").as_deref(),
        Some("operator `@log` is provided by `audit` and `logging`; choose one in [plugin_preferences]")
    );

    let preferences = HashMap::from([("@log".to_string(), "logging".to_string())]);
    let catalog = discover(&search, None, &preferences, &mut SourceMap::new());
    assert_eq!(messages(&catalog), ["X020 type `shared.h` is created by `audit` and `logging`"]);
    assert_eq!(catalog.provider(SymbolKind::Operator, "log").unwrap().name(), "logging");

    let preferences = HashMap::from([("@log.flush".to_string(), "audit".to_string())]);
    let catalog = discover(&search, None, &preferences, &mut SourceMap::new());
    let wrong = catalog.diagnostics.iter().find(|d| d.code == Some("X023")).unwrap();
    assert_eq!(wrong.message, "the preference for `@log.flush` names plugin `audit`, which does not provide it");
    assert_eq!(wrong.help.as_deref(), Some("prefer `logging`"));
    assert_eq!(catalog.provider(SymbolKind::Operator, "log.flush").unwrap().name(), "logging");

    let preferences = HashMap::from([("@log".to_string(), "metrics".to_string())]);
    let catalog = discover(&search, None, &preferences, &mut SourceMap::new());
    assert_eq!(
        messages(&catalog)[..2],
        [
            "X023 the preference for `@log` names plugin `metrics`, which does not provide it",
            "X020 `@log` is provided by `audit` and `logging`"
        ]
    );
}

#[test]
fn builtin_symbols_cannot_be_redeclared() {
    let root = tempfile::tempdir().unwrap();
    write_plugin(root.path(), "dup", "dup", "1.0.0", "[capabilities]\noperators = [\"json.parse\", \"fresh\"]\n");
    let catalog = run(&roots(&[(root.path(), Origin::User)]), None);
    let mut registry = Registry::new();
    registry.register(&tusk_eval::Core).unwrap();
    let diagnostics = catalog.check_builtins(&registry);
    let listed: Vec<_> = diagnostics.iter().map(|d| format!("{} {}", d.code.unwrap(), d.message)).collect();
    assert_eq!(listed, ["X024 plugin `dup` declares `@json.parse`, which the built-in `core` set provides"]);
}

#[test]
fn first_party_is_believed_only_next_to_the_executable() {
    let root = tempfile::tempdir().unwrap();
    write_plugin(root.path(), "std_http", "std_http", "1.0.0", "first_party = true\n");
    let bundled = run(&roots(&[(root.path(), Origin::Bundled)]), None);
    assert!(bundled.plugin("std_http").unwrap().is_first_party());
    let elsewhere = run(&roots(&[(root.path(), Origin::Project)]), None);
    assert!(!elsewhere.plugin("std_http").unwrap().is_first_party());
}

#[test]
fn the_bundled_folder_of_an_installation_is_under_lib_else_beside_the_executable() {
    let prefix = tempfile::tempdir().unwrap();
    let bin = prefix.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    assert_eq!(bundled_dir(&bin), bin.join("plugins"), "the build tree: nothing installed");
    std::fs::create_dir_all(prefix.path().join("lib/tusk/plugins")).unwrap();
    assert_eq!(bundled_dir(&bin), prefix.path().join("lib/tusk/plugins"));
    let search = SearchPath::from_parts(None, None, None, Some(&bin));
    assert_eq!(search.roots, [SearchRoot { dir: prefix.path().join("lib/tusk/plugins"), origin: Origin::Bundled }]);
}

#[test]
fn index_skips_parsing_until_something_changes() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("tusk/plugin-index.bin");
    for n in 0..5 {
        write_plugin(root.path(), &format!("p{n}"), &format!("p{n}"), "1.0.0", "");
    }
    let search = roots(&[(root.path(), Origin::User)]);

    let cold = run(&search, Some(&index));
    assert_eq!(cold.stats, IndexStats { reused: 0, parsed: 5, written: true });
    let warm = run(&search, Some(&index));
    assert_eq!(warm.stats, IndexStats { reused: 5, parsed: 0, written: false });
    assert_eq!(warm.plugins, cold.plugins, "the index gives back the same manifests");

    // A changed manifest is parsed again; the others are not.
    let p1 = root.path().join("p1");
    let text = std::fs::read_to_string(p1.join(MANIFEST_FILE)).unwrap().replace("1.0.0", "1.0.1");
    std::fs::write(p1.join(MANIFEST_FILE), text).unwrap();
    let changed = run(&search, Some(&index));
    assert_eq!(changed.stats, IndexStats { reused: 4, parsed: 1, written: true });
    assert_eq!(changed.plugin("p1").unwrap().manifest().version.to_string(), "1.0.1");

    // A rebuilt library or a removed one is not looked at by discovery (one `stat` per plugin,
    // its manifest): loading checks it (see the `check_library` tests below).
    std::fs::write(root.path().join("p2").join(default_library_name("p2")), b"\x7fELF rebuilt").unwrap();
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 5, parsed: 0, written: false });
    std::fs::remove_file(root.path().join("p3").join(default_library_name("p3"))).unwrap();
    let missing = run(&search, Some(&index));
    assert_eq!(missing.stats, IndexStats { reused: 5, parsed: 0, written: false });
    let errors = missing.plugin("p3").unwrap().check_library(&mut SourceMap::new()).unwrap_err();
    assert_eq!(
        errors.iter().map(|d| format!("{} {}", d.code.unwrap_or("-"), d.message)).collect::<Vec<_>>(),
        [format!("X012 library `{}` not found in the plugin folder", default_library_name("p3"))]
    );

    // A removed plugin folder rewrites the index once; then it is stable again.
    std::fs::remove_dir_all(root.path().join("p3")).unwrap();
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 4, parsed: 0, written: true });
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 4, parsed: 0, written: false });

    // An added plugin folder is parsed and indexed; the others are reused.
    write_plugin(root.path(), "p5", "p5", "1.0.0", "[capabilities]\nfunctions = [\"p5_fn\"]\n");
    let added = run(&search, Some(&index));
    assert_eq!(added.stats, IndexStats { reused: 4, parsed: 1, written: true });
    assert_eq!(added.provider(SymbolKind::Function, "p5_fn").unwrap().name(), "p5");
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 5, parsed: 0, written: false });

    // A corrupt index is rebuilt.
    std::fs::write(&index, b"{not json").unwrap();
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 0, parsed: 5, written: true });
}

/// The library stamp the index holds for the plugin whose manifest is at `manifest`.
fn indexed_library_stamp(index: &Path, manifest: &Path) -> Option<Stamp> {
    let heads = read_index(index).unwrap().heads;
    let key = manifest.as_os_str().as_encoded_bytes();
    heads.entries.iter().find(|entry| heads.bytes.get(entry.key.clone()) == Some(key)).unwrap().library
}

#[test]
fn a_library_rewritten_after_indexing_is_checked_at_load_and_its_new_stamp_recorded() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("plugin-index.bin");
    let folder = write_plugin(root.path(), "p", "p", "1.0.0", "");
    let (library, manifest) = (folder.join(default_library_name("p")), folder.join(MANIFEST_FILE));
    let search = roots(&[(root.path(), Origin::User)]);
    run(&search, Some(&index));
    let before = indexed_library_stamp(&index, &manifest);
    assert_eq!(before, stamp_of_path(&library));

    // Rewritten in place, longer: another size, whatever the clock's resolution.
    std::fs::write(&library, b"\x7fELF rebuilt by the plugin's author").unwrap();
    let warm = run(&search, Some(&index));
    assert_eq!(warm.stats, IndexStats { reused: 1, parsed: 0, written: false });
    assert_eq!(warm.plugin("p").unwrap().check_library(&mut SourceMap::new()), Ok(()));
    let after = indexed_library_stamp(&index, &manifest);
    assert_ne!(after, before);
    assert_eq!(after, stamp_of_path(&library), "the load recorded the rebuilt library's stamp");

    // The next process finds the recorded stamp: nothing is checked or written again.
    let bytes = std::fs::read(&index).unwrap();
    let again = run(&search, Some(&index));
    assert_eq!(again.plugin("p").unwrap().check_library(&mut SourceMap::new()), Ok(()));
    assert_eq!(std::fs::read(&index).unwrap(), bytes);
    assert_eq!(again.plugin("p").unwrap().manifest().library, library.canonicalize().unwrap());
}

#[test]
fn a_removed_or_escaping_library_is_refused_at_load_with_the_manifest_check_error() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("plugin-index.bin");
    let folder = write_plugin(root.path(), "p", "p", "1.0.0", "");
    let library = folder.join(default_library_name("p"));
    let search = roots(&[(root.path(), Origin::User)]);
    run(&search, Some(&index));
    let bytes = std::fs::read(&index).unwrap();

    std::fs::remove_file(&library).unwrap();
    let removed = run(&search, Some(&index));
    assert_eq!(removed.stats, IndexStats { reused: 1, parsed: 0, written: false });
    let errors = removed.plugin("p").unwrap().check_library(&mut SourceMap::new()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, Some("X012"));
    assert_eq!(errors[0].message, "library `libtusk_plugin_p.so` not found in the plugin folder");
    let help = errors[0].help.as_deref().unwrap();
    assert!(help.contains(&folder.canonicalize().unwrap().display().to_string()), "{help}");
    assert_eq!(std::fs::read(&index).unwrap(), bytes, "a failed check records nothing");

    // Replaced by a link to a file outside the plugin folder.
    #[cfg(unix)]
    {
        let elsewhere = outside.path().join("libx.so");
        std::fs::write(&elsewhere, b"\x7fELF elsewhere").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &library).unwrap();
        let linked = run(&search, Some(&index));
        assert_eq!(linked.stats, IndexStats { reused: 1, parsed: 0, written: false });
        let errors = linked.plugin("p").unwrap().check_library(&mut SourceMap::new()).unwrap_err();
        assert_eq!(errors[0].code, Some("X011"));
        assert_eq!(errors[0].message, "library path `libtusk_plugin_p.so` leads outside the plugin folder");
        assert_eq!(std::fs::read(&index).unwrap(), bytes);
    }
    let _ = outside;
}

#[test]
fn a_manifest_edited_after_indexing_is_parsed_again_at_start_up() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("plugin-index.bin");
    let folder = write_plugin(root.path(), "p", "p", "1.0.0", "[capabilities]\nfunctions = [\"old_fn\"]\n");
    let search = roots(&[(root.path(), Origin::User)]);
    run(&search, Some(&index));
    let text = std::fs::read_to_string(folder.join(MANIFEST_FILE)).unwrap().replace("old_fn", "new_fn");
    std::fs::write(folder.join(MANIFEST_FILE), text).unwrap();
    let edited = run(&search, Some(&index));
    assert_eq!(edited.stats, IndexStats { reused: 0, parsed: 1, written: true });
    assert!(edited.provider(SymbolKind::Function, "old_fn").is_none());
    assert_eq!(edited.provider(SymbolKind::Function, "new_fn").unwrap().name(), "p");
    assert_eq!(edited.plugin("p").unwrap().check_library(&mut SourceMap::new()), Ok(()));
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 1, parsed: 0, written: false });
}

/// A manifest with every field set to something other than its default.
fn full_manifest() -> Manifest {
    use crate::manifest::{Example, ExecutionMode, FileAccess, NetworkAccess, Permissions};
    Manifest {
        name: "full".into(),
        version: semver::Version::parse("1.2.3-beta.1+build.5").unwrap(),
        description: "Every field — with UTF-8".into(),
        author: "a".into(),
        license: "MIT OR Apache-2.0".into(),
        repository: "https://example.invalid/full".into(),
        dir: PathBuf::from("/plugins/full"),
        library: PathBuf::from("/plugins/full/libfull.so"),
        abi: (1, 4),
        mode: ExecutionMode::InProcess,
        first_party: true,
        hot_reload: false,
        dependencies: vec![
            ("core".into(), semver::VersionReq::parse("^1.0").unwrap()),
            ("other".into(), semver::VersionReq::parse(">=0.2, <0.4").unwrap()),
        ],
        operators: vec!["full.op".into(), "run".into()],
        functions: vec!["full_fn".into()],
        types: vec!["full.handle".into()],
        permissions: Permissions {
            file_system: FileAccess::ReadWrite,
            paths: vec!["$HOME/data".into()],
            network: NetworkAccess::Outbound,
            hosts: vec!["*.example.com:443".into()],
            database: true,
            env: vec!["FULL_*".into()],
            optional: true,
        },
        config_schema: Some(PathBuf::from("/plugins/full/schema.json")),
        examples: vec![
            Example { code: "full_fn(1)".into(), result: Some(serde_json::json!({"a": [1, 2.5, null]})) },
            Example { code: "@full.op()".into(), result: None },
        ],
    }
}

#[test]
fn the_binary_index_gives_back_every_field_and_refuses_damaged_files() {
    let manifest = full_manifest();
    let stamp = Stamp { modified_ns: 1, changed_ns: -2, size: 3 };
    let library = Some(Stamp { modified_ns: u64::MAX, changed_ns: i64::MIN, size: 0 });
    let entries = [
        index_file::Item::New("/plugins/full/plugin.toml", stamp, library, &manifest),
        index_file::Item::New("/p/x.toml", stamp, None, &manifest),
    ];
    let bytes = index_file::encode(7, "host a", entries.into_iter()).unwrap();

    let decoded = index_file::decode(bytes.clone(), 7, "host a").unwrap();
    assert_eq!(decoded.entries.len(), 2);
    let entry = &decoded.entries[0];
    assert_eq!(decoded.path(entry.key.clone()), Some(Path::new("/plugins/full/plugin.toml")));
    assert_eq!((entry.manifest, entry.library), (stamp, library));
    assert_eq!(entry.name, "full");
    assert_eq!(decoded.path(entry.library_path.clone()), Some(Path::new("/plugins/full/libfull.so")));
    // The names of both entries, copied once into one vector.
    for at in 0..2 {
        let symbols = decoded.symbols(at).map(|names| names.iter().map(Key::as_str).collect::<Vec<_>>());
        assert_eq!(symbols, [vec!["full.op", "run"], vec!["full_fn"], vec!["full.handle"]]);
    }
    assert_eq!(decoded.manifest(0), Some(manifest.clone()));
    assert_eq!(decoded.entries[1].library, None);
    assert_eq!(decoded.path(decoded.entries[1].key.clone()), Some(Path::new("/p/x.toml")));

    // A kept entry is copied byte for byte.
    let kept = [index_file::Item::Kept(&bytes[decoded.entries[1].whole.clone()])];
    let rewritten = index_file::encode(7, "host a", kept.into_iter()).unwrap();
    let again = index_file::decode(rewritten, 7, "host a").unwrap();
    assert_eq!(again.manifest(0), Some(manifest));

    // Another format or host, a truncated file, trailing bytes and an old JSON index all read
    // as no index.
    assert!(index_file::decode(bytes.clone(), 8, "host a").is_none());
    assert!(index_file::decode(bytes.clone(), 7, "host b").is_none());
    for cut in [0, 8, bytes.len() / 2, bytes.len() - 1] {
        assert!(index_file::decode(bytes[..cut].to_vec(), 7, "host a").is_none(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(index_file::decode(longer, 7, "host a").is_none());
    assert!(index_file::decode(b"{\"format\": 2}".to_vec(), 7, "host a").is_none());
}

/// Every name of an index's heads is trusted without a check once decoded: a head with a name
/// no valid manifest could have reads as no index, like any other damage.
#[test]
fn an_index_head_with_a_name_no_manifest_could_have_is_refused() {
    let manifest = full_manifest();
    let stamp = Stamp { modified_ns: 1, changed_ns: 2, size: 3 };
    let entries = [index_file::Item::New("/plugins/full/plugin.toml", stamp, None, &manifest)];
    let bytes = index_file::encode(7, "host a", entries.into_iter()).unwrap();
    // The same length each time, so that only the name's spelling is wrong; found with its
    // length in front (the manifest path holds `full` too, and paths are not names).
    for (good, bad) in [
        (&b"full"[..], &b"Full"[..]),
        (b"full.op", b"full op"),
        (b"full.op", b"full..o"),
        (b"run", b"9un"),
        (b"full_fn", b"full.fn"),
        (b"full.handle", b"full.h\xc3\xa9dle"),
        (b"full.handle", b"full.handl\0"),
    ] {
        let mut field = (good.len() as u32).to_le_bytes().to_vec();
        field.extend_from_slice(good);
        let at = bytes.windows(field.len()).position(|window| window == field).unwrap() + 4;
        let mut damaged = bytes.clone();
        damaged[at..at + bad.len()].copy_from_slice(bad);
        assert!(index_file::decode(damaged, 7, "host a").is_none(), "{} read as a name", String::from_utf8_lossy(bad));
    }
}

/// Damage anywhere in an index file is either refused or read without a panic: every byte of a
/// two-entry index changed in turn, and whatever decodes has names that pass the manifest's
/// rules and bodies that decode or do not without a panic.
#[test]
fn damage_anywhere_in_the_index_is_refused_or_read_without_a_panic() {
    let manifest = full_manifest();
    let stamp = Stamp { modified_ns: 1, changed_ns: 2, size: 3 };
    let entries = [
        index_file::Item::New("/plugins/full/plugin.toml", stamp, Some(stamp), &manifest),
        index_file::Item::New("/p/x.toml", stamp, None, &manifest),
    ];
    let bytes = index_file::encode(7, "host a", entries.into_iter()).unwrap();
    let mut decoded_after_damage = 0;
    for at in 0..bytes.len() {
        for change in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] ^= change;
            let Some(heads) = index_file::decode(damaged, 7, "host a") else { continue };
            decoded_after_damage += 1;
            for (index, entry) in heads.entries.iter().enumerate() {
                assert!(crate::names::is_plugin_name(&entry.name), "byte {at}: name {:?}", entry.name);
                let [operators, functions, types] = heads.symbols(index);
                assert!(operators.iter().chain(types).all(|name| crate::names::is_dotted_name(name)), "byte {at}");
                assert!(functions.iter().all(|name| crate::names::is_name_part(name)), "byte {at}");
                let _ = heads.path(entry.key.clone());
                let _ = heads.path(entry.library_path.clone());
                let _ = heads.manifest(index);
            }
        }
    }
    // Stamps, paths and most of the bodies are not checked at start-up: changes there decode.
    assert!(decoded_after_damage > 0);
}

#[test]
fn an_index_from_another_format_is_replaced() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("tusk").join("plugin-index");
    write_plugin(root.path(), "p", "p", "1.0.0", "");
    let search = roots(&[(root.path(), Origin::User)]);
    std::fs::create_dir_all(index.parent().unwrap()).unwrap();
    std::fs::write(&index, b"{\"format\": 2, \"host\": \"old\", \"entries\": {}}").unwrap();
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 0, parsed: 1, written: true });
    assert!(std::fs::read(&index).unwrap().starts_with(index_file::MAGIC));
    assert_eq!(run(&search, Some(&index)).stats, IndexStats { reused: 1, parsed: 0, written: false });
}

#[test]
fn plugin_folders_are_taken_in_the_order_of_their_names_bytes() {
    let root = tempfile::tempdir().unwrap();
    // Names that share their first eight bytes, end within them, or differ only after them.
    let folders = ["b", "a_long_name_2", "a_long_name_10", "a_long", "a_long_name", "ab", "a_long_nb"];
    for name in folders {
        write_plugin(root.path(), name, name, "1.0.0", "");
    }
    let catalog = run(&roots(&[(root.path(), Origin::User)]), None);
    let names: Vec<&str> = catalog.plugins.iter().map(DiscoveredPlugin::name).collect();
    assert_eq!(names, ["a_long", "a_long_name", "a_long_name_10", "a_long_name_2", "a_long_nb", "ab", "b"]);

    let listed = tempfile::tempdir().unwrap();
    let mut by_bytes: Vec<std::ffi::OsString> =
        ["zz", "a\u{e9}", "a", "aaaaaaaa", "aaaaaaaa\u{e9}", "aaaaaaa", "aaaaaaab", "\u{e9}"].map(Into::into).into();
    for name in &by_bytes {
        std::fs::create_dir(listed.path().join(name)).unwrap();
    }
    // Neither a plain file nor a hidden folder is a plugin folder.
    std::fs::write(listed.path().join("file"), "").unwrap();
    std::fs::create_dir(listed.path().join(".hidden")).unwrap();
    let listing = listing::Listing::read(listed.path()).unwrap();
    by_bytes.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    assert_eq!(listing.folders().map(std::ffi::OsStr::to_os_string).collect::<Vec<_>>(), by_bytes);
    let stamp = listing.stamp(b"a/", &listed.path().join("a")).unwrap();
    assert_eq!(stamp, (Stamp::of(&std::fs::metadata(listed.path().join("a")).unwrap()), false));
    let stamp = listing.stamp(b"file", &listed.path().join("file")).unwrap();
    assert_eq!(stamp, (Stamp::of(&std::fs::metadata(listed.path().join("file")).unwrap()), true));
    assert_eq!(listing.stamp(b"none", &listed.path().join("none")), None);
}

#[test]
fn list_names_joins_with_and() {
    assert_eq!(list_names(&["a"]), "`a`");
    assert_eq!(list_names(&["a", "b"]), "`a` and `b`");
    assert_eq!(list_names(&["a", "b", "c"]), "`a`, `b` and `c`");
}

#[test]
fn plugins_from_the_index_decode_their_manifest_only_when_asked() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("plugin-index.bin");
    write_plugin(root.path(), "p", "p", "1.0.0", "[capabilities]\noperators = [\"p.op\"]\nfunctions = [\"p_fn\"]\n");
    let search = roots(&[(root.path(), Origin::User)]);
    let cold = run(&search, Some(&index));
    let warm = run(&search, Some(&index));
    assert_eq!(warm.stats, IndexStats { reused: 1, parsed: 0, written: false });
    let plugin = warm.plugin("p").unwrap();
    assert!(plugin.manifest_if_decoded().is_none(), "start-up decoded the manifest");
    // The symbol tables and the declared names come from the index's head.
    assert!(std::ptr::eq(warm.provider(SymbolKind::Operator, "p.op").unwrap(), plugin));
    assert!(std::ptr::eq(warm.provider(SymbolKind::Function, "p_fn").unwrap(), plugin));
    let mut declared = Vec::new();
    plugin.for_each_declared(|kind, name| declared.push((kind, name.to_string())));
    assert_eq!(declared, [(SymbolKind::Operator, "p.op".to_string()), (SymbolKind::Function, "p_fn".to_string())]);
    assert!(plugin.manifest_if_decoded().is_none());
    assert_eq!(plugin.manifest(), cold.plugin("p").unwrap().manifest());
}

#[test]
fn an_index_entry_whose_manifest_does_not_decode_is_read_from_the_plugin_folder() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("plugin-index.bin");
    write_plugin(root.path(), "p", "p", "1.2.3", "");
    let search = roots(&[(root.path(), Origin::User)]);
    let cold = run(&search, Some(&index));
    // The version in the entry's body made unreadable; the head (name, symbols) still checks.
    let bytes = std::fs::read(&index).unwrap();
    let at = bytes.windows(5).position(|window| window == b"1.2.3").unwrap();
    let mut damaged = bytes.clone();
    damaged[at + 4] = b'x';
    std::fs::write(&index, &damaged).unwrap();
    let warm = run(&search, Some(&index));
    assert_eq!(warm.stats, IndexStats { reused: 1, parsed: 0, written: false });
    assert_eq!(warm.plugin("p").unwrap().manifest(), cold.plugin("p").unwrap().manifest());
}

#[test]
fn a_reordered_search_path_rewrites_the_index_once() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("plugin-index.bin");
    write_plugin(first.path(), "a", "a", "1.0.0", "");
    write_plugin(second.path(), "b", "b", "1.0.0", "");
    run(&roots(&[(first.path(), Origin::User), (second.path(), Origin::User)]), Some(&index));
    let swapped = roots(&[(second.path(), Origin::User), (first.path(), Origin::User)]);
    assert_eq!(run(&swapped, Some(&index)).stats, IndexStats { reused: 2, parsed: 0, written: true });
    let again = run(&swapped, Some(&index));
    assert_eq!(again.stats, IndexStats { reused: 2, parsed: 0, written: false });
    let names: Vec<&str> = again.plugins.iter().map(DiscoveredPlugin::name).collect();
    assert_eq!(names, ["b", "a"]);
}
