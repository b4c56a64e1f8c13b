//! Permission flags, the grants file, manifest checks with exact fix messages, per-call checks.

use super::*;
use crate::discovery::Origin;

fn grants(script_dir: &str) -> Grants {
    let mut grants = Grants::new(script_dir);
    grants.home = Some(PathBuf::from("/home/ann"));
    grants.grants_file = PathBuf::from("/home/ann/.config/tusk/grants.toml");
    grants
}

fn needs(file_system: FileAccess, paths: &[&str]) -> Permissions {
    Permissions { file_system, paths: paths.iter().map(|p| p.to_string()).collect(), ..Permissions::default() }
}

/// A manifest asking for everything, so that the grants alone decide.
fn declares_everything() -> Permissions {
    Permissions {
        file_system: FileAccess::ReadWrite,
        paths: vec!["/".into()],
        network: NetworkAccess::Outbound,
        hosts: vec!["*:*".into()],
        database: true,
        env: vec!["*".into()],
        optional: false,
    }
}

fn only(items: &[&str]) -> Access {
    Access::Only(items.iter().map(|item| item.to_string()).collect())
}

#[test]
fn flags_parse_lists_and_empty_means_all() {
    let set = GrantSet::from_flags([
        "--allow-read=/data,/tmp/x-*",
        "--allow-read=/more",
        "--allow-write=",
        "--allow-net=api.example.com:443,localhost",
        "--allow-env=HOME,TUSK_*",
        "--allow-db",
    ])
    .unwrap();
    assert_eq!(
        set,
        GrantSet {
            read: only(&["/data", "/tmp/x-*", "/more"]),
            write: Access::All,
            net: only(&["api.example.com:443", "localhost"]),
            env: only(&["HOME", "TUSK_*"]),
            db: true,
            trusted: false,
        }
    );
    assert_eq!(GrantSet::from_flags(["--allow-net"]).unwrap().net, Access::All);
    assert_eq!(GrantSet::from_flags(["--allow-read=/a", "--allow-read"]).unwrap().read, Access::All);
    assert_eq!(GrantSet::from_flags(["--allow-all"]).unwrap(), GrantSet::all());
    assert!(!GrantSet::all().trusted, "--allow-all never implies in-process trust");
}

#[test]
fn bad_flags_say_why() {
    let error = |flag: &str| GrantSet::from_flags([flag]).unwrap_err().to_string();
    assert_eq!(error("--allow-everything"), "unknown permission flag `--allow-everything`");
    assert_eq!(error("--allow-db=yes"), "`--allow-db` takes no value");
    assert_eq!(
        error("--allow-read=data"),
        "invalid entry `data` in `--allow-read`: expected absolute paths (or starting with ${script_dir} or ${home}) without `..`"
    );
    assert_eq!(
        error("--allow-net=a b"),
        "invalid entry `a b` in `--allow-net`: expected `host` or `host:port`, like `api.example.com:443`"
    );
    assert_eq!(
        error("--allow-env=A=B"),
        "invalid entry `A=B` in `--allow-env`: expected variable names such as `HOME` or `TUSK_*`"
    );
    assert_eq!(GrantSet::from_flags(["--nope"]).unwrap_err().to_diagnostic().code, Some("X042"));
}

#[test]
fn grants_file_reads_per_plugin_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grants.toml");
    std::fs::write(
        &path,
        "[logging]\nallow_write = [\"/var/log/app\"]\nallow_read = true\ntrusted = true\n\n[http]\nallow_net = [\"*.example.com:443\"]\nallow_db = true\nallow_env = false\n",
    )
    .unwrap();
    let mut grants = grants("/srv/app");
    grants.load_file(&path, &mut SourceMap::new()).unwrap();
    assert_eq!(grants.grants_file, path);
    assert_eq!(
        grants.plugins["logging"],
        GrantSet { read: Access::All, write: only(&["/var/log/app"]), trusted: true, ..GrantSet::default() }
    );
    assert_eq!(grants.plugins["http"], GrantSet { net: only(&["*.example.com:443"]), db: true, ..GrantSet::default() });
    assert!(grants.is_trusted("logging"));
    assert!(!grants.is_trusted("http"));

    // A missing file grants nothing and is not an error.
    let mut empty = Grants::new("/srv/app");
    empty.load_file(&dir.path().join("missing.toml"), &mut SourceMap::new()).unwrap();
    assert!(empty.plugins.is_empty());
}

#[test]
fn grants_file_errors_point_into_it() {
    let errors =
        parse_grants_file("[Logging]\n[http]\nallow_nett = []\nallow_db = \"yes\"\n", tusk_diagnostics::SourceId(0))
            .unwrap_err();
    let listed: Vec<_> = errors
        .iter()
        .map(|d| format!("{} {:?} {}", d.code.unwrap(), d.primary.as_ref().unwrap().location.span.range(), d.message))
        .collect();
    assert_eq!(
        listed,
        [
            "X006 1..8 invalid plugin name `Logging`",
            "X002 17..27 unknown key `allow_nett` in [http]",
            "X004 44..49 `allow_db` in [http] must be a boolean, found a string",
        ]
    );
    assert_eq!(errors[1].help.as_deref(), Some("did you mean `allow_net`?"));
}

#[test]
fn missing_write_grant_prints_the_exact_fix() {
    let mut grants = grants("/srv/app");
    grants.flags = GrantSet::from_flags(["--allow-read=/var/log"]).unwrap();
    let error = check(&needs(FileAccess::ReadWrite, &["/var/log/app"]), &grants, "logging").unwrap_err();
    assert_eq!(error.missing, [MissingGrant::Write("/var/log/app".to_string())]);
    assert_eq!(
        error.to_string(),
        "plugin `logging` needs write access to /var/log/app; run with --allow-write=/var/log/app or add `allow_write = [\"/var/log/app\"]` under [logging] in ~/.config/tusk/grants.toml"
    );
    let diagnostic = error.to_diagnostic();
    assert_eq!(diagnostic.code, Some("X040"));
    assert_eq!(diagnostic.message, "plugin `logging` needs write access to /var/log/app");
}

#[test]
fn several_missing_grants_are_listed_together() {
    let grants = grants("/srv/app");
    let needs = Permissions {
        file_system: FileAccess::ReadWrite,
        paths: vec!["${script_dir}/logs".into(), "/tmp/tusk-*".into()],
        network: NetworkAccess::Outbound,
        hosts: vec!["api.example.com:443".into()],
        database: true,
        env: vec!["HOME".into()],
        optional: false,
    };
    let error = check(&needs, &grants, "logging").unwrap_err();
    assert_eq!(
        error.headline(),
        "plugin `logging` needs read access to /srv/app/logs and /tmp/tusk-*, write access to /srv/app/logs and /tmp/tusk-*, network access to api.example.com:443, access to the environment variables HOME and database access"
    );
    assert_eq!(
        error.fix(),
        "run with '--allow-read=/srv/app/logs,/tmp/tusk-*' '--allow-write=/srv/app/logs,/tmp/tusk-*' --allow-net=api.example.com:443 --allow-env=HOME --allow-db or add `allow_read = [\"${script_dir}/logs\", \"/tmp/tusk-*\"]`, `allow_write = [\"${script_dir}/logs\", \"/tmp/tusk-*\"]`, `allow_net = [\"api.example.com:443\"]`, `allow_env = [\"HOME\"]` and `allow_db = true` under [logging] in ~/.config/tusk/grants.toml"
    );
}

#[test]
fn grants_cover_declared_patterns() {
    let mut grants = grants("/srv/app");
    grants.flags =
        GrantSet::from_flags(["--allow-net=*.example.com", "--allow-env=TUSK_*,HOME", "--allow-db"]).unwrap();
    grants.plugins.insert(
        "logging".into(),
        GrantSet { read: only(&["${script_dir}"]), write: only(&["/tmp/*"]), ..GrantSet::default() },
    );
    let declared = Permissions {
        file_system: FileAccess::Read,
        paths: vec!["${script_dir}/logs".into(), "/srv/app/data/*.json".into()],
        network: NetworkAccess::Outbound,
        hosts: vec!["api.example.com:443".into(), "cdn.example.com:*".into()],
        database: true,
        env: vec!["TUSK_*".into(), "HOME".into()],
        optional: false,
    };
    assert_eq!(check(&declared, &grants, "logging"), Ok(()));
    // The file's grants are per plugin: another plugin gets only the flags.
    let other = check(&declared, &grants, "other").unwrap_err();
    assert_eq!(
        other.missing,
        [MissingGrant::Read("${script_dir}/logs".into()), MissingGrant::Read("/srv/app/data/*.json".into())]
    );
    // `/tmp/*` covers `/tmp/tusk-*`; `/tmp/tusk-a*` would not.
    assert_eq!(
        check(&needs(FileAccess::ReadWrite, &["/tmp/tusk-*"]), &grants, "logging").unwrap_err().missing,
        [MissingGrant::Read("/tmp/tusk-*".into())]
    );
    let mut narrow = grants.clone();
    narrow.flags.net = only(&["api.example.com:443"]);
    let error = check(&declared, &narrow, "logging").unwrap_err();
    assert_eq!(error.missing, [MissingGrant::Net("cdn.example.com:*".into())]);
}

#[test]
fn per_call_path_checks_normalise_and_resolve_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("app/logs")).unwrap();
    std::fs::create_dir_all(root.join("secret")).unwrap();
    let mut grants = grants(root.join("app").to_str().unwrap());
    grants.flags.read = only(&["${script_dir}/logs", &format!("{}/tmp-*", root.display())]);
    grants.flags.write = only(&["${script_dir}/logs"]);
    let plugin = grants.for_plugin("logging", &needs(FileAccess::ReadWrite, &["/"]));
    assert!(plugin.may_read(&root.join("app/logs/today.log")));
    assert!(plugin.may_read(Path::new("logs/new/file.txt")), "relative to the script directory");
    assert!(plugin.may_write(Path::new("logs")));
    assert!(!plugin.may_read(&root.join("app/logs/../../secret/key")), "`..` is resolved before matching");
    assert!(!plugin.may_read(Path::new("logs/../../secret/key")));
    assert!(!plugin.may_read(&root.join("app/logsX")));
    assert!(plugin.may_read(&root.join("tmp-1/a")));
    assert!(!plugin.may_write(&root.join("tmp-1/a")));
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.join("secret"), root.join("app/logs/link")).unwrap();
        assert!(!plugin.may_read(&root.join("app/logs/link/key")), "a link inside a granted folder leads outside");
        // A link to a file that does not exist yet: writing through it would create that file.
        std::os::unix::fs::symlink(root.join("secret/new.txt"), root.join("app/logs/dangling")).unwrap();
        assert!(!plugin.may_write(&root.join("app/logs/dangling")), "a dangling link leads outside");
        std::os::unix::fs::symlink(root.join("app/logs/new.txt"), root.join("app/logs/inward")).unwrap();
        assert!(plugin.may_write(&root.join("app/logs/inward")), "a dangling link that stays inside is fine");
    }
}

#[test]
fn a_plugin_gets_what_is_granted_and_declared_both() {
    let mut grants = grants("/srv/app");
    grants.flags = GrantSet::from_flags([
        "--allow-read=/home/ann,/srv/app",
        "--allow-write=/srv",
        "--allow-net=api.example.com:443,db.internal",
        "--allow-env=HOME,TUSK_*",
    ])
    .unwrap();
    let declared = Permissions {
        file_system: FileAccess::ReadWrite,
        paths: vec!["${script_dir}/data".into(), "/var/cache/x".into()],
        network: NetworkAccess::Outbound,
        hosts: vec!["*.example.com:443".into()],
        database: true,
        env: vec!["TUSK_LEVEL".into()],
        optional: false,
    };
    let plugin = grants.for_plugin("p", &declared);
    assert!(plugin.may_read(Path::new("/srv/app/data/a.txt")) && plugin.may_write(Path::new("/srv/app/data/a.txt")));
    assert_eq!(plugin.read_refusal(Path::new("/home/ann/x")), Some(Refusal::NotDeclared), "granted, not declared");
    assert_eq!(plugin.read_refusal(Path::new("/var/cache/x")), Some(Refusal::NotGranted), "declared, not granted");
    assert_eq!(plugin.readable_folders(), Some(vec![PathBuf::from("/srv/app/data")]));
    assert_eq!(plugin.writable_folders(), Some(vec![PathBuf::from("/srv/app/data")]));
    assert!(plugin.may_connect("api.example.com", 443));
    assert_eq!(plugin.connect_refusal("db.internal", 5432), Some(Refusal::NotDeclared));
    assert_eq!(plugin.connect_refusal("www.example.com", 443), Some(Refusal::NotGranted));
    assert!(plugin.may_reach("api.example.com") && !plugin.may_reach("db.internal"));
    assert!(plugin.may_read_env("TUSK_LEVEL"));
    assert_eq!(plugin.env_refusal("HOME"), Some(Refusal::NotDeclared));
    assert!(!plugin.may_use_database(), "declared but not granted");
    assert_eq!(plugin.network_reach(), NetworkReach::Brokered);
    // Nothing declared: the grants give nothing.
    let nothing = grants.for_plugin("p", &Permissions::default());
    assert!(!nothing.may_read(Path::new("/srv/app/x")) && !nothing.may_connect("api.example.com", 443));
    assert_eq!((nothing.readable_folders(), nothing.network_reach()), (Some(vec![]), NetworkReach::None));
    // A database grant the plugin declares reaches the network directly (drivers connect
    // wherever their connection string says).
    grants.flags.db = true;
    assert_eq!(grants.for_plugin("p", &declared).network_reach(), NetworkReach::Direct);
}

#[test]
fn folders_of_both_sides_are_the_deeper_of_each_overlapping_pair() {
    let paths = |items: &[&str]| Some(items.iter().map(PathBuf::from).collect::<Vec<_>>());
    assert_eq!(folders_of_both(paths(&["/a", "/b/c"]), paths(&["/a/x", "/b", "/d"])), paths(&["/b/c", "/a/x"]));
    assert_eq!(folders_of_both(None, paths(&["/a"])), paths(&["/a"]));
    assert_eq!(folders_of_both(paths(&["/a"]), None), paths(&["/a"]));
    assert_eq!(folders_of_both(None, None), None);
    assert_eq!(PathGrant::Only(vec![PathBuf::from("/logs/*.txt")]).folders(), paths(&["/logs"]));
}

#[test]
fn per_call_network_env_and_database_checks() {
    let mut grants = grants("/srv/app");
    grants.flags = GrantSet::from_flags([
        "--allow-net=api.example.com:443,127.0.0.1:*,*.internal,[::1]:8080",
        "--allow-env=TUSK_*",
    ])
    .unwrap();
    let plugin = grants.for_plugin("http", &declares_everything());
    assert!(plugin.may_connect("api.example.com", 443));
    assert!(plugin.may_connect("API.Example.com", 443), "host names ignore case");
    assert!(!plugin.may_connect("api.example.com", 80));
    assert!(plugin.may_connect("127.0.0.1", 5432));
    assert!(plugin.may_connect("db.internal", 1));
    assert!(plugin.may_connect("::1", 8080));
    assert!(plugin.may_connect("[::1]", 8080));
    assert!(!plugin.may_connect("::1", 80));
    assert!(!plugin.may_connect("evil.com", 443));
    assert!(plugin.may_read_env("TUSK_HOME"));
    assert!(!plugin.may_read_env("HOME"));
    assert!(!plugin.may_use_database());
    let nothing = Grants::new("/srv/app").for_plugin("x", &declares_everything());
    assert!(!nothing.may_read(Path::new("/")) && !nothing.may_connect("a", 1) && !nothing.may_read_env("A"));
    let everything = {
        let mut g = Grants::new("/srv/app");
        g.flags = GrantSet::all();
        g
    }
    .for_plugin("x", &declares_everything());
    assert!(
        everything.may_write(Path::new("/etc/passwd"))
            && everything.may_connect("a", 1)
            && everything.may_use_database()
    );
}

#[test]
fn execution_mode_needs_trust() {
    let dir = tempfile::tempdir().unwrap();
    crate::discovery::tests::write_plugin(dir.path(), "p", "p", "1.0.0", "first_party = true\n");
    let manifest = crate::manifest::load_manifest(&dir.path().join("p"), &mut SourceMap::new()).unwrap();
    let plugin = |origin| DiscoveredPlugin::new(manifest.clone(), origin);
    let mut grants = grants("/srv/app");
    assert_eq!(grants.execution_mode(&plugin(Origin::Bundled)), ExecutionMode::InProcess);
    assert_eq!(
        grants.execution_mode(&plugin(Origin::User)),
        ExecutionMode::Sandboxed,
        "an unverified first-party claim"
    );
    grants.plugins.insert("p".into(), GrantSet { trusted: true, ..GrantSet::default() });
    assert_eq!(grants.execution_mode(&plugin(Origin::User)), ExecutionMode::InProcess);
}

#[test]
fn shell_quoting_only_when_needed() {
    assert_eq!(shell_quote("--allow-read=/a,/b"), "--allow-read=/a,/b");
    assert_eq!(shell_quote("--allow-read=/tmp/x-*"), "'--allow-read=/tmp/x-*'");
    assert_eq!(shell_quote("--allow-read=/it's"), "'--allow-read=/it'\\''s'");
}
