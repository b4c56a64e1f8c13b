//! Manifest validation: one test per rule, asserting exact diagnostics.

use super::*;
use tusk_diagnostics::{RenderOptions, render};

const VALID: &str = r#"
[plugin]
name = "logging"
version = "0.1.0"
description = "Structured logging"
author = "Ann Example"
license = "MIT"
repository = "https://example.com/logging"
abi = "1.0"

[dependencies]
tusk = ">=0.1, <1"
core = "^0.1"

[capabilities]
operators = ["log", "log.set_level"]
functions = ["log_level"]
types = ["logging.sink"]

[permissions]
file_system = "read_write"
paths = ["${script_dir}/logs", "/tmp/tusk-*"]
network = "outbound"
hosts = ["api.example.com:443", "127.0.0.1:*", "[::1]:80"]
database = false
env = ["HOME", "TUSK_*"]

[config]
schema = "config.schema.json"

[[examples]]
code = '@log("info", "hi")'
result = 'null'

[[examples]]
code = '@log.set_level("debug")'
"#;

/// A plugin folder with the default library, a schema and `text` as its manifest.
fn folder(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(default_library_name("logging")), b"").unwrap();
    std::fs::write(dir.path().join("config.schema.json"), b"{}").unwrap();
    std::fs::write(dir.path().join(MANIFEST_FILE), text).unwrap();
    dir
}

fn load(dir: &Path) -> Result<Manifest, Vec<Diagnostic>> {
    load_manifest(dir, &mut SourceMap::new())
}

/// Each diagnostic as `code line:col message | label | help`.
fn check(text: &str) -> Vec<String> {
    let dir = folder(text);
    let mut sources = SourceMap::new();
    let diagnostics = load_manifest(dir.path(), &mut sources).unwrap_err();
    diagnostics
        .iter()
        .map(|d| {
            let label = d.primary.as_ref().unwrap();
            let (line, column) = sources.get(label.location.source).line_col(label.location.span.start);
            format!(
                "{} {line}:{column} {} | {} | {}",
                d.code.unwrap(),
                d.message,
                label.message,
                d.help.as_deref().unwrap_or("")
            )
        })
        .collect()
}

/// VALID with `from` replaced by `to`.
fn variant(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from}");
    VALID.replacen(from, to, 1)
}

#[test]
fn valid_manifest_reads_every_field() {
    let dir = folder(VALID);
    let manifest = load(dir.path()).unwrap();
    let canonical = dir.path().canonicalize().unwrap();
    assert_eq!(manifest.name, "logging");
    assert_eq!(manifest.version, Version::new(0, 1, 0));
    assert_eq!(manifest.description, "Structured logging");
    assert_eq!(manifest.author, "Ann Example");
    assert_eq!(manifest.license, "MIT");
    assert_eq!(manifest.repository, "https://example.com/logging");
    assert_eq!(manifest.dir, canonical);
    assert_eq!(manifest.library, canonical.join(default_library_name("logging")));
    assert_eq!(manifest.abi, (1, 0));
    assert_eq!(manifest.mode, ExecutionMode::Sandboxed);
    assert!(!manifest.first_party);
    assert!(manifest.hot_reload);
    let dependencies: Vec<_> = manifest.dependencies.iter().map(|(name, req)| format!("{name} {req}")).collect();
    assert_eq!(dependencies, ["core ^0.1", "tusk >=0.1, <1"]);
    assert_eq!(manifest.operators, ["log", "log.set_level"]);
    assert_eq!(manifest.functions, ["log_level"]);
    assert_eq!(manifest.types, ["logging.sink"]);
    assert_eq!(
        manifest.permissions,
        Permissions {
            file_system: FileAccess::ReadWrite,
            paths: vec!["${script_dir}/logs".into(), "/tmp/tusk-*".into()],
            network: NetworkAccess::Outbound,
            hosts: vec!["api.example.com:443".into(), "127.0.0.1:*".into(), "[::1]:80".into()],
            database: false,
            env: vec!["HOME".into(), "TUSK_*".into()],
            optional: false,
        }
    );
    // Optional permissions: the plugin loads without them.
    let optional = folder(&variant("env = [\"HOME\", \"TUSK_*\"]", "env = [\"HOME\", \"TUSK_*\"]\noptional = true"));
    assert!(load(optional.path()).unwrap().permissions.optional);
    assert_eq!(manifest.config_schema, Some(canonical.join("config.schema.json")));
    assert_eq!(
        manifest.examples,
        [
            Example { code: "@log(\"info\", \"hi\")".into(), result: Some(serde_json::Value::Null) },
            Example { code: "@log.set_level(\"debug\")".into(), result: None },
        ]
    );
    assert_eq!(manifest.manifest_path(), canonical.join("plugin.toml"));
}

#[test]
fn minimal_manifest_takes_defaults() {
    let text = "[plugin]\nname = \"logging\"\nversion = \"1.2.3\"\ndescription = \"d\"\nauthor = \"a\"\nlicense = \"MIT\"\nrepository = \"r\"\nabi = \"1.7\"\nfirst_party = true\nhot_reload = false\n";
    let dir = folder(text);
    let manifest = load(dir.path()).unwrap();
    assert_eq!(manifest.abi, (1, 7));
    assert_eq!(manifest.mode, ExecutionMode::InProcess, "first-party plugins default to in-process");
    assert!(!manifest.hot_reload);
    assert!(manifest.dependencies.is_empty() && manifest.operators.is_empty() && manifest.examples.is_empty());
    assert!(manifest.permissions.is_empty());
    assert_eq!(manifest.config_schema, None);
}

#[test]
fn default_library_name_follows_the_platform() {
    let expected = if cfg!(windows) {
        "tusk_plugin_logging.dll"
    } else if cfg!(target_os = "macos") {
        "libtusk_plugin_logging.dylib"
    } else {
        "libtusk_plugin_logging.so"
    };
    assert_eq!(default_library_name("logging"), expected);
}

#[test]
fn syntax_error_points_at_the_position() {
    assert_eq!(
        check("[plugin]\nname = \n"),
        [
            "X001 2:8 invalid TOML: string values must be quoted, expected literal string | string values must be quoted, expected literal string | fix the TOML syntax here (https://toml.io describes it)"
        ]
    );
}

#[test]
fn empty_manifest_needs_plugin_table() {
    assert_eq!(
        check(""),
        [
            "X003 1:1 missing required table [plugin] | the manifest starts here | start the file with `[plugin]` and its `name`, `version`, `description`, `author`, `license`, `repository` and `abi`"
        ]
    );
}

#[test]
fn unknown_keys_are_rejected_in_every_table() {
    let text = variant("name = \"logging\"", "name = \"logging\"\nnmae = \"x\"")
        .replace("[config]", "[confg]\nx = 1\n[config]")
        .replace("database = false", "database = false\nexec = true")
        .replace("result = 'null'", "result = 'null'\nexpect = '1'");
    assert_eq!(
        check(&text),
        [
            "X002 4:1 unknown key `nmae` in [plugin] | not a known key | did you mean `name`?",
            "X002 27:1 unknown key `exec` in [permissions] | not a known key | the keys of [permissions] are: file_system, paths, network, hosts, database, env, optional",
            "X002 30:2 unknown key `confg` in plugin.toml | not a known key | did you mean `config`?",
            "X002 38:1 unknown key `expect` in example 1 | not a known key | the keys of example 1 are: code, result",
        ]
    );
}

#[test]
fn missing_required_keys_are_all_reported() {
    let text = "[plugin]\nname = \"logging\"\nlicense = \"MIT\"\n";
    assert_eq!(
        check(text),
        [
            "X003 1:1 missing required key `version` in [plugin] | this table needs `version` | add `version = \"0.1.0\"` to [plugin]",
            "X003 1:1 missing required key `description` in [plugin] | this table needs `description` | add `description = \"What the plugin does\"` to [plugin]",
            "X003 1:1 missing required key `author` in [plugin] | this table needs `author` | add `author = \"Ann Example <ann@example.com>\"` to [plugin]",
            "X003 1:1 missing required key `repository` in [plugin] | this table needs `repository` | add `repository = \"https://example.com/my_plugin\"` to [plugin]",
            "X003 1:1 missing required key `abi` in [plugin] | this table needs `abi` | add `abi = \"1.0\"` to [plugin]",
        ]
    );
}

#[test]
fn wrong_types_and_empty_values() {
    let text = variant("version = \"0.1.0\"", "version = 1")
        .replace("license = \"MIT\"", "license = \" \"")
        .replace("operators = [\"log\", \"log.set_level\"]", "operators = [\"log\", 2]");
    assert_eq!(
        check(&text),
        [
            "X004 4:11 `version` in [plugin] must be a string, found an integer | expected a string | write it like `version = \"0.1.0\"`",
            "X005 7:11 `license` in [plugin] must not be empty | empty | write it like `license = \"MIT\"`",
            "X004 16:21 each entry of `operators` in [capabilities] must be a string, found an integer | expected a string | write it like `operators = [\"log\", \"log.set_level\"]`",
        ]
    );
}

#[test]
fn names_follow_the_language_rules() {
    let text = variant("name = \"logging\"", "name = \"Logging\"").replace(
        "operators = [\"log\", \"log.set_level\"]\nfunctions = [\"log_level\"]\ntypes = [\"logging.sink\"]",
        "operators = [\"@log\", \"log..x\", \"ok-name\"]\nfunctions = [\"log.level\"]\ntypes = [\"9sink\"]",
    );
    assert_eq!(
        check(&text),
        [
            "X006 3:8 invalid plugin name `Logging` | not a valid name | plugin names are lowercase letters, digits and `_`, starting with a letter, like `my_plugin`",
            "X006 16:14 invalid operator name `@log` | not a valid name | write operators without `@`, like `log`",
            "X006 16:22 invalid operator name `log..x` | not a valid name | names are letters, digits, `_` and `-`, not starting with a digit; parts may be joined with `.`",
            "X006 17:14 invalid function name `log.level` | not a valid name | function names cannot be dotted; only operators can (`@log.set_level`)",
            "X006 18:10 invalid type name `9sink` | not a valid name | names are letters, digits, `_` and `-`, not starting with a digit; parts may be joined with `.`",
        ]
    );
}

#[test]
fn duplicate_operator_points_at_both() {
    let text = variant("operators = [\"log\", \"log.set_level\"]", "operators = [\"log\", \"log\"]");
    assert_eq!(check(&text), ["X007 16:21 operator `log` is listed twice | listed again here | remove one of them"]);
    let diagnostics = load(folder(&text).path()).unwrap_err();
    assert_eq!(diagnostics[0].secondary[0].message, "first listed here");
}

#[test]
fn bad_versions_and_requirements() {
    let text = variant("version = \"0.1.0\"", "version = \"0.1\"")
        .replace("core = \"^0.1\"", "core = \"^^1\"\nOther = \"1\"\nlogging = \"1\"\nstd = 1");
    assert_eq!(
        check(&text),
        [
            "X008 4:11 invalid version `0.1`: unexpected end of input while parsing minor version number | not a semantic version | write a full semantic version such as `0.1.0` or `1.2.3-beta.1`",
            "X009 13:8 invalid version requirement `^^1` for `core`: unexpected character '^' while parsing major version number | not a semver requirement | write a requirement such as `^1.2`, `~0.3` or `>=0.1, <1`",
            "X006 14:1 invalid plugin name `Other` in [dependencies] | not a valid name | list `tusk`, `core`, `std` or plugin names (lowercase letters, digits and `_`)",
            "X018 15:1 plugin `logging` depends on itself | this is the plugin's own name | remove this line",
            "X004 16:7 `std` in [dependencies] must be a string, found an integer | expected a string | write it like `std = \"^1.0\"`",
        ]
    );
}

#[test]
fn abi_must_be_supported_major() {
    assert_eq!(
        check(&variant("abi = \"1.0\"", "abi = \"2.1\"")),
        [
            "X010 9:7 unsupported plugin ABI 2.1; this host loads ABI 1.x | built for ABI 2 | rebuild the plugin against a tusk-plugin-sdk with ABI 1, or use a tusk release that loads ABI 2"
        ]
    );
    assert_eq!(
        check(&variant("abi = \"1.0\"", "abi = \"1\"")),
        [
            "X010 9:7 invalid plugin ABI version `1` | expected `major.minor` | write the ABI the plugin was built for, like `abi = \"1.0\"`"
        ]
    );
    assert_eq!(
        check(&variant("abi = \"1.0\"", "abi = 1.0")),
        [
            "X004 9:7 `abi` in [plugin] must be a string, found a float | expected a string | write it like `abi = \"1.0\"`"
        ]
    );
}

#[test]
fn invalid_choices_list_the_allowed_values() {
    let text = variant("abi = \"1.0\"", "abi = \"1.0\"\nmode = \"fast\"")
        .replace("network = \"outbound\"", "network = \"all\"");
    assert_eq!(
        check(&text),
        [
            "X005 10:8 invalid value \"fast\" for `mode` in [plugin] | expected one of \"in-process\", \"sandboxed\" | use one of \"in-process\", \"sandboxed\"",
            "X005 24:11 invalid value \"all\" for `network` in [permissions] | expected one of \"none\", \"outbound\", \"inbound\" | use one of \"none\", \"outbound\", \"inbound\"",
            "X013 25:9 `hosts` has no effect without `network` | `network` is \"none\" | add `network = \"outbound\"` to [permissions], or remove `hosts`",
        ]
    );
}

#[test]
fn library_must_stay_inside_the_folder() {
    let with_library = |library: &str| variant("abi = \"1.0\"", &format!("abi = \"1.0\"\nlibrary = \"{library}\""));
    assert_eq!(
        check(&with_library("/usr/lib/libx.so")),
        [format!(
            "X011 10:11 library path `/usr/lib/libx.so` is absolute | must be a file inside the plugin folder | name the library relative to the plugin folder, like `library = \"{}\"`",
            default_library_name("logging")
        )]
    );
    assert_eq!(
        check(&with_library("lib/../../libx.so")),
        [format!(
            "X011 10:11 library path `lib/../../libx.so` leaves the plugin folder | must be a file inside the plugin folder | name the library relative to the plugin folder, like `library = \"{}\"`",
            default_library_name("logging")
        )]
    );
    let lines = check(&with_library("libother.so"));
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("X012 10:11 library `libother.so` not found in the plugin folder | no such file | build the plugin and copy its library to /"), "{}", lines[0]);
}

#[cfg(unix)]
#[test]
fn library_symlink_escaping_the_folder_is_rejected() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("libx.so"), b"").unwrap();
    let text = variant("abi = \"1.0\"", "abi = \"1.0\"\nlibrary = \"libx.so\"");
    let dir = folder(&text);
    std::os::unix::fs::symlink(outside.path().join("libx.so"), dir.path().join("libx.so")).unwrap();
    let diagnostics = load(dir.path()).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].message, "library path `libx.so` leads outside the plugin folder");
    assert_eq!(
        diagnostics[0].primary.as_ref().unwrap().message,
        format!("resolves to {}", outside.path().canonicalize().unwrap().join("libx.so").display())
    );
    assert_eq!(
        diagnostics[0].help.as_deref(),
        Some("copy the library into the plugin folder instead of linking to it")
    );
}

#[test]
fn missing_default_library_points_at_the_plugin_table() {
    let dir = folder(VALID);
    std::fs::remove_file(dir.path().join(default_library_name("logging"))).unwrap();
    let diagnostics = load(dir.path()).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        diagnostics[0].message,
        format!("library `{}` not found in the plugin folder", default_library_name("logging"))
    );
    let label = diagnostics[0].primary.as_ref().unwrap();
    assert_eq!((label.location.span.start, label.message.as_str()), (1, "the default library name comes from `name`"));
}

#[test]
fn permissions_need_their_lists() {
    let text = variant("paths = [\"${script_dir}/logs\", \"/tmp/tusk-*\"]\n", "")
        .replace("hosts = [\"api.example.com:443\", \"127.0.0.1:*\", \"[::1]:80\"]", "hosts = []");
    assert_eq!(
        check(&text),
        [
            "X013 21:15 `file_system = \"read_write\"` needs a non-empty `paths` list | which paths? | add `paths = [\"${script_dir}/data\"]` to [permissions]",
            "X013 22:11 `network = \"outbound\"` needs a non-empty `hosts` list | which hosts? | add `hosts = [\"api.example.com:443\"]` to [permissions]",
        ]
    );
    let text = variant("file_system = \"read_write\"", "file_system = \"none\"");
    assert_eq!(
        check(&text),
        [
            "X013 22:9 `paths` has no effect without `file_system` | `file_system` is \"none\" | add `file_system = \"read\"` to [permissions], or remove `paths`"
        ]
    );
}

#[test]
fn patterns_are_checked() {
    let text = variant(
        "paths = [\"${script_dir}/logs\", \"/tmp/tusk-*\"]",
        "paths = [\"logs\", \"${nope}/x\", \"/a/../b\", \"${home}x\"]",
    )
    .replace("\"[::1]:80\"", "\"example.com\", \"a b:1\", \"x:99999\"")
    .replace("\"TUSK_*\"", "\"A=B\"");
    assert_eq!(
        check(&text),
        [
            "X014 22:10 invalid path pattern `logs`: must be absolute or start with a variable | must be absolute or start with a variable | write an absolute path or start with ${script_dir} or ${home}, like `${script_dir}/logs`; `*` matches within one path component",
            "X014 22:18 invalid path pattern `${nope}/x`: unknown variable `${nope}` | unknown variable `${nope}` | write an absolute path or start with ${script_dir} or ${home}, like `${script_dir}/logs`; `*` matches within one path component",
            "X014 22:31 invalid path pattern `/a/../b`: must not contain `..` | must not contain `..` | write an absolute path or start with ${script_dir} or ${home}, like `${script_dir}/logs`; `*` matches within one path component",
            "X014 22:42 invalid path pattern `${home}x`: `${home}` must be followed by `/` | `${home}` must be followed by `/` | write an absolute path or start with ${script_dir} or ${home}, like `${script_dir}/logs`; `*` matches within one path component",
            "X014 24:48 invalid host pattern `example.com`: expected `host:port` | expected `host:port` | write `host:port`, like `api.example.com:443`; `*` may stand for part of the host or for any port (`127.0.0.1:*`)",
            "X014 24:63 invalid host pattern `a b:1`: the host must be a name, an IPv4 address or a bracketed IPv6 address | the host must be a name, an IPv4 address or a bracketed IPv6 address | write `host:port`, like `api.example.com:443`; `*` may stand for part of the host or for any port (`127.0.0.1:*`)",
            "X014 24:72 invalid host pattern `x:99999`: the port must be a number up to 65535 or `*` | the port must be a number up to 65535 or `*` | write `host:port`, like `api.example.com:443`; `*` may stand for part of the host or for any port (`127.0.0.1:*`)",
            "X014 26:16 invalid environment variable pattern `A=B`: only letters, digits, `_` and `*` are allowed | only letters, digits, `_` and `*` are allowed | list variable names such as `HOME` or `TUSK_*`",
        ]
    );
}

#[test]
fn schema_must_exist_inside_the_folder() {
    let schema = |path: &str| variant("schema = \"config.schema.json\"", &format!("schema = \"{path}\""));
    assert_eq!(
        check(&schema("../s.json")),
        [
            "X015 29:10 configuration schema `../s.json` leaves the plugin folder | leaves the plugin folder | put the JSON Schema file in the plugin folder, like `schema = \"config.schema.json\"`"
        ]
    );
    assert_eq!(
        check(&schema("missing.json")),
        [
            "X015 29:10 configuration schema `missing.json` no such file in the plugin folder | no such file in the plugin folder | put the JSON Schema file in the plugin folder, like `schema = \"config.schema.json\"`"
        ]
    );
}

#[test]
fn example_results_must_be_json() {
    assert_eq!(
        check(&variant("result = 'null'", "result = '{'")),
        [
            "X016 33:10 `result` of example 1 is not valid JSON: EOF while parsing an object at line 1 column 1 | expected JSON text | write the expected value as JSON, like `result = '{\"ok\": true}'`"
        ]
    );
}

#[test]
fn unreadable_manifest_has_no_location() {
    let dir = tempfile::tempdir().unwrap();
    let diagnostics = load(dir.path()).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].code, Some("X017"));
    assert_eq!(diagnostics[0].primary, None);
    assert!(diagnostics[0].message.starts_with("cannot read "), "{}", diagnostics[0].message);
}

#[test]
fn rendered_diagnostic_points_into_plugin_toml() {
    let dir = folder(&variant("version = \"0.1.0\"", "version = \"x\""));
    let mut sources = SourceMap::new();
    let diagnostics = load_manifest(dir.path(), &mut sources).unwrap_err();
    let rendered = render(&diagnostics[0], &sources, RenderOptions::PLAIN);
    let rendered = rendered.replace(&dir.path().display().to_string(), "DIR");
    assert_eq!(
        rendered,
        "[X008] Error: invalid version `x`: unexpected character 'x' while parsing major version number\n   ,-[ DIR/plugin.toml:4:11 ]\n   |\n 4 | version = \"x\"\n   |           ^|^  \n   |            `--- not a semantic version\n   | \n   | Help: write a full semantic version such as `0.1.0` or `1.2.3-beta.1`\n---'\n"
    );
}

/// The standard plugins are built with this workspace's SDK, so their manifests must declare
/// the ABI it builds them for (`tusk plugin info` shows both, and any difference as an oddity).
#[test]
fn standard_plugins_declare_the_abi_they_are_built_for() {
    let current = format!("abi = \"{}.{}\"", tusk_plugin_abi::ABI_MAJOR, tusk_plugin_abi::ABI_MINOR);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut manifests: Vec<_> = std::fs::read_dir(root.join("stdlib-plugins"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("plugin.toml"))
        .filter(|path| path.is_file())
        .collect();
    manifests.push(root.join("examples/plugins/my_plugin/plugin.toml"));
    assert!(manifests.len() > 10, "found only {manifests:?}");
    for path in manifests {
        let text = std::fs::read_to_string(&path).unwrap();
        let declared = text.lines().find(|line| line.starts_with("abi = ")).unwrap_or("no `abi` line");
        assert_eq!(declared, current, "{}", path.display());
    }
}
