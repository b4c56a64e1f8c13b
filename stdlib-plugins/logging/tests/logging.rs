//! The logging plugin through the real host: its built library is installed in a temporary
//! plugin folder, scripts configure it and log, and the tests read what it wrote (file sinks
//! for most, a child process for standard error and standard output).
//!
//! Most tests use the test kit's engine, which runs the plugin the way the host decides for a
//! plugin found in an ordinary folder (sandboxed, where the host supports it); one test runs it
//! in-process, the way a first-party plugin runs next to `tusk`.

use std::path::{Path, PathBuf};

use serde_json::json;
use tusk::plugins::{GrantSet, Grants, HostSettings, SearchPath};
use tusk_plugin_testkit::PluginTest;

/// A plugin with a `logs` folder next to the scripts.
fn setup() -> (PluginTest, PathBuf) {
    let plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    let logs = plugin.script_dir().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    (plugin, logs)
}

/// Grants the plugin reading and writing the `logs` folder.
fn grant_logs(plugin: &mut PluginTest, logs: &Path) {
    plugin.grant(&format!("--allow-read={}", logs.display()));
    plugin.grant(&format!("--allow-write={}", logs.display()));
}

/// A script section configuring the plugin, then `body`.
fn script(config: &str, body: &str) -> String {
    format!("plugins: {{logging: {{{config}}}}}\n{body}")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    lines(path).iter().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The headline of the rendered diagnostic (code, operator and message).
fn error(plugin: &mut PluginTest, source: &str) -> String {
    let rendered = plugin.eval_expression(source).expect_err(source);
    rendered.lines().next().unwrap_or_default().to_string()
}

#[test]
fn json_sink_records_levels_messages_and_structured_fields() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("app.jsonl");
    let body = format!(
        "sink: @log.add_sink(\"{}\", \"json\")
a: @log(\"info\", \"user signed in\", {{user: 1, ok: true}})
b: @log(\"warn\", \"disk\", {{free: 1.5, unit: \"GB\", none: null, tags: [\"a\", 2], nested: {{x: {{y: 1}}}}, window: 1-3}})
c: @log(\"error\", \"line one\\nline \\\"two\\\"\")
d: @log(\"info\", 42)
e: @log(\"info\", [1, {{k: \"v\"}}], {{\"odd key\": \"tab\\there\"}})
",
        path.display()
    );
    let document = plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    assert_eq!(document["sink"], json!(path.display().to_string()));
    assert_eq!(document["a"], json!(null));
    assert_eq!(
        json_lines(&path),
        vec![
            json!({"level": "INFO", "fields": {"message": "user signed in", "user": 1, "ok": true}, "target": "tusk"}),
            json!({"level": "WARN", "fields": {"message": "disk", "free": 1.5, "unit": "GB", "none": null, "tags": ["a", 2], "nested": {"x": {"y": 1}}, "window": {"min": 1, "max": 3, "type": "range"}}, "target": "tusk"}),
            json!({"level": "ERROR", "fields": {"message": "line one\nline \"two\""}, "target": "tusk"}),
            json!({"level": "INFO", "fields": {"message": "42"}, "target": "tusk"}),
            json!({"level": "INFO", "fields": {"message": "[1,{\"k\":\"v\"}]", "odd key": "tab\there"}, "target": "tusk"}),
        ]
    );
    // Field order is the script's, not alphabetical.
    assert!(
        lines(&path)[1]
            .starts_with(r#"{"level":"WARN","fields":{"message":"disk","free":1.5,"unit":"GB","none":null,"#)
    );
}

#[test]
fn text_sink_writes_one_line_per_event() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("app.log");
    let body = format!(
        "sink: @log.add_sink(\"{}\", \"text\")
a: @log(\"info\", \"user signed in\", {{user: 1, ok: true, ratio: 0.5, whole: 2.0}})
b: @log(\"warn\", \"forged\\n INFO tusk: admin logged in\")
c: @log(\"error\", \"quoted\", {{name: \"a \\\"b\\\"\\nc\", \"odd key\": 1, list: [1, null]}})
d: @log(\"debug\", \"hidden\")
",
        path.display()
    );
    plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    assert_eq!(
        lines(&path),
        vec![
            r#" INFO tusk: user signed in user=1 ok=true ratio=0.5 whole=2.0"#,
            r#" WARN tusk: forged\n INFO tusk: admin logged in"#,
            r#"ERROR tusk: quoted name="a \"b\"\nc" "odd key"=1 list=[1,null]"#,
        ]
    );
}

#[test]
fn timestamps_are_rfc3339_utc() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let (json_path, text_path) = (logs.join("t.jsonl"), logs.join("t.log"));
    let body = format!(
        "s1: @log.add_sink(\"{}\", \"json\")\ns2: @log.add_sink(\"{}\", \"text\")\na: @log(\"info\", \"stamped\")\n",
        json_path.display(),
        text_path.display()
    );
    plugin.eval(&script("target: \"none\"", &body)).unwrap();
    let is_rfc3339_utc = |text: &str| {
        let bytes = text.as_bytes();
        text.len() >= 21
            && text.ends_with('Z')
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[10] == b'T'
            && bytes[13] == b':'
            && bytes[16] == b':'
            && bytes[19] == b'.'
            && text[..4].bytes().all(|b| b.is_ascii_digit())
    };
    let event = &json_lines(&json_path)[0];
    assert!(is_rfc3339_utc(event["timestamp"].as_str().unwrap()), "{event}");
    assert_eq!(event["fields"], json!({"message": "stamped"}));
    let line = &lines(&text_path)[0];
    let (timestamp, rest) = line.split_once(' ').unwrap();
    assert!(is_rfc3339_utc(timestamp), "{line}");
    assert_eq!(rest, " INFO tusk: stamped");
}

#[test]
fn the_configured_level_filters_events() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("levels.log");
    let body = "a: @log(\"trace\", \"t\")\nb: @log(\"debug\", \"d\")\nc: @log(\"info\", \"i\")\nd: @log(\"warn\", \"w\")\ne: @log(\"error\", \"e\")\n";
    let config =
        format!("level: \"warn\", timestamps: false, target: \"none\", sinks: [{{path: \"{}\"}}]", path.display());
    plugin.eval(&script(&config, body)).unwrap();
    assert_eq!(lines(&path), vec![" WARN tusk: w", "ERROR tusk: e"]);

    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("levels.log");
    let config =
        format!("level: \"trace\", timestamps: false, target: \"none\", sinks: [{{path: \"{}\"}}]", path.display());
    plugin.eval(&script(&config, body)).unwrap();
    assert_eq!(lines(&path), vec!["TRACE tusk: t", "DEBUG tusk: d", " INFO tusk: i", " WARN tusk: w", "ERROR tusk: e"]);
}

#[test]
fn set_level_changes_the_filter_at_run_time() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("runtime.log");
    let body = format!(
        "sink: @log.add_sink(\"{}\")
a: @log(\"debug\", \"before\")
b: @log.set_level(\"debug\")
c: @log(\"debug\", \"after\")
d: @log.set_level(\"off\")
e: @log(\"error\", \"silenced\")
f: @log.set_level(\"error\")
g: @log(\"warn\", \"below error\")
h: @log(\"error\", \"back\")
",
        path.display()
    );
    let document = plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    assert_eq!([&document["b"], &document["d"], &document["f"]], [&json!("info"), &json!("debug"), &json!("off")]);
    assert_eq!(lines(&path), vec!["DEBUG tusk: after", "ERROR tusk: back"]);
}

#[test]
fn set_format_changes_the_format_of_sinks_added_later() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let (first, second) = (logs.join("first.log"), logs.join("second.log"));
    let body = format!(
        "s1: @log.add_sink(\"{}\")
a: @log.set_format(\"json\")
s2: @log.add_sink(\"{}\")
b: @log(\"info\", \"both\", {{n: 1}})
c: @log.set_format(\"text\")
",
        first.display(),
        second.display()
    );
    let document = plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    assert_eq!([&document["a"], &document["c"]], [&json!("text"), &json!("json")]);
    assert_eq!(lines(&first), vec![" INFO tusk: both n=1"]);
    assert_eq!(
        json_lines(&second),
        vec![json!({"level": "INFO", "fields": {"message": "both", "n": 1}, "target": "tusk"})]
    );
}

#[test]
fn configured_sinks_open_at_start_with_their_own_formats() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let (text, json) = (logs.join("c.log"), logs.join("c.jsonl"));
    let config = format!(
        "format: \"text\", timestamps: false, target: \"none\", sinks: [{{path: \"{}\"}}, {{path: \"{}\", format: \"json\"}}]",
        text.display(),
        json.display()
    );
    plugin.eval(&script(&config, "a: @log(\"info\", \"configured\")\n")).unwrap();
    assert_eq!(lines(&text), vec![" INFO tusk: configured"]);
    assert_eq!(
        json_lines(&json),
        vec![json!({"level": "INFO", "fields": {"message": "configured"}, "target": "tusk"})]
    );
}

#[test]
fn adding_the_same_sink_twice_only_changes_its_format() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("twice.log");
    let body = format!(
        "s1: @log.add_sink(\"{0}\", \"text\")\na: @log(\"info\", \"one\")\ns2: @log.add_sink(\"{0}\", \"json\")\nb: @log(\"info\", \"two\")\n",
        path.display()
    );
    plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    assert_eq!(
        lines(&path),
        vec![
            " INFO tusk: one".to_string(),
            r#"{"level":"INFO","fields":{"message":"two"},"target":"tusk"}"#.to_string()
        ]
    );
}

#[test]
fn a_sink_without_a_write_grant_is_refused_with_the_flag_to_add() {
    let (mut plugin, logs) = setup();
    let path = logs.join("denied.log");
    assert_eq!(
        error(&mut plugin, &format!("@log.add_sink(\"{}\")", path.display())),
        format!(
            "[R015] Error: @log.add_sink: permission denied: plugin `logging` may not write {0}; run with --allow-write={0} to allow it",
            path.display()
        )
    );
    assert!(!path.exists(), "nothing is created without the grant");
    // A grant for another folder does not cover it either.
    let other = plugin.script_dir().join("elsewhere");
    plugin.grant(&format!("--allow-write={}", other.display()));
    assert_eq!(
        error(&mut plugin, &format!("@log.add_sink(\"{}\")", path.display())),
        format!(
            "[R015] Error: @log.add_sink: permission denied: plugin `logging` may not write {0}; run with --allow-write={0} to allow it",
            path.display()
        )
    );
    // Logging itself needs no grant.
    plugin.grant(&format!("--allow-write={}", logs.display()));
    assert_eq!(plugin.eval(&script("target: \"none\"", "a: @log(\"info\", \"fine\")\n")).unwrap()["a"], json!(null));
    assert_eq!(
        plugin.eval_expression(&format!("@log.add_sink(\"{}\")", path.display())).unwrap(),
        json!(path.display().to_string())
    );
    assert!(path.exists());
}

#[test]
fn an_existing_sink_file_is_appended_to_with_the_write_grant_alone() {
    let (mut plugin, logs) = setup();
    let path = logs.join("existing.log");
    std::fs::write(&path, "an earlier line\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    plugin.grant(&format!("--allow-write={}", logs.display()));
    let body = format!("s: @log.add_sink(\"{}\")\na: @log(\"info\", \"appended\")\n", path.display());
    plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    assert_eq!(lines(&path), vec!["an earlier line", " INFO tusk: appended"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn a_relative_sink_path_means_the_scripts_folder() {
    let (mut plugin, _logs) = setup();
    let script_dir = plugin.script_dir().to_path_buf();
    plugin.grant(&format!("--allow-write={}", script_dir.display()));
    let body = "s: @log.add_sink(\"relative.log\")\na: @log(\"info\", \"here\")\n";
    plugin.eval(&script("timestamps: false, target: \"none\"", body)).unwrap();
    assert_eq!(lines(&script_dir.join("relative.log")), vec![" INFO tusk: here"]);
}

#[test]
fn a_configured_sink_without_a_grant_stops_the_plugin_from_starting() {
    let (mut plugin, logs) = setup();
    let path = logs.join("configured.log");
    let config = format!("sinks: [{{path: \"{}\"}}]", path.display());
    let rendered = plugin.eval(&script(&config, "a: @log(\"info\", \"x\")\n")).unwrap_err();
    assert_eq!(
        rendered.lines().next().unwrap(),
        format!(
            "[R015] Error: @log: plugin `logging` failed to initialize: permission denied: plugin `logging` may not write {0}; run with --allow-write={0} to allow it",
            path.display()
        )
    );
}

#[test]
fn sink_paths_must_be_files_in_existing_folders() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    assert_eq!(
        error(&mut plugin, &format!("@log.add_sink(\"{}\")", logs.display())),
        format!("[R009] Error: @log.add_sink: the sink {} is not a regular file", logs.display())
    );
    let missing = logs.join("no/such/dir/app.log");
    assert_eq!(
        error(&mut plugin, &format!("@log.add_sink(\"{}\")", missing.display())),
        format!(
            "[R015] Error: @log.add_sink: cannot open the sink {0}: cannot append to {0}: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

#[test]
fn invalid_arguments_are_reported_exactly() {
    let (mut plugin, _logs) = setup();
    let cases = [
        (
            r#"@log("loud", "x")"#,
            "[R015] Error: @log: invalid level: `loud` (expected trace, debug, info, warn or error)",
        ),
        (
            r#"@log("INFO", "x")"#,
            "[R015] Error: @log: invalid level: `INFO` (expected trace, debug, info, warn or error)",
        ),
        (
            r#"@log("off", "x")"#,
            "[R015] Error: @log: invalid level: `off` (expected trace, debug, info, warn or error)",
        ),
        (r#"@log(3, "x")"#, "[R015] Error: @log: invalid level: `3` (expected trace, debug, info, warn or error)"),
        (r#"@log()"#, "[R015] Error: @log: missing argument: level"),
        (r#"@log("info")"#, "[R015] Error: @log: missing argument: message"),
        (r#"@log("info", "m", [1])"#, "[R009] Error: @log: the fields must be an object, found array"),
        (r#"@log("info", "m", "k=v")"#, "[R009] Error: @log: the fields must be an object, found string"),
        (
            r#"@log("info", "m", {message: 1})"#,
            "[R009] Error: @log: the field name `message` is reserved for the message",
        ),
        (r#"@log("info", "m", {}, 1)"#, "[R015] Error: @log: @log takes at most 3 arguments, but 4 were given"),
        (
            r#"@log.set_level("verbose")"#,
            "[R015] Error: @log.set_level: invalid level: `verbose` (expected trace, debug, info, warn, error or off)",
        ),
        (
            r#"@log.set_level(null)"#,
            "[R015] Error: @log.set_level: invalid level: `null` (expected trace, debug, info, warn, error or off)",
        ),
        (r#"@log.set_level()"#, "[R015] Error: @log.set_level: missing argument: level"),
        (
            r#"@log.set_level("info", "debug")"#,
            "[R015] Error: @log.set_level: @log.set_level takes at most 1 arguments, but 2 were given",
        ),
        (
            r#"@log.set_format("xml")"#,
            "[R009] Error: @log.set_format: unknown format `xml`; the formats are text and json",
        ),
        (r#"@log.set_format(1)"#, "[R009] Error: @log.set_format: the format must be a string, found int"),
        (r#"@log.set_format()"#, "[R015] Error: @log.set_format: missing argument: format"),
        (r#"@log.add_sink()"#, "[R015] Error: @log.add_sink: missing argument: path"),
        (r#"@log.add_sink(7)"#, "[R009] Error: @log.add_sink: the path must be a string, found int"),
        (
            r#"@log.add_sink("/tmp/x.log", "yaml")"#,
            "[R009] Error: @log.add_sink: unknown format `yaml`; the formats are text and json",
        ),
        (
            r#"@log.add_sink("/tmp/x.log", "json", 1)"#,
            "[R015] Error: @log.add_sink: @log.add_sink takes at most 2 arguments, but 3 were given",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(&mut plugin, source), expected, "{source}");
    }
    let many: Vec<String> = (0..33).map(|index| format!("f{index}: {index}")).collect();
    assert_eq!(
        error(&mut plugin, &format!("@log(\"info\", \"m\", {{{}}})", many.join(", "))),
        "[R009] Error: @log: an event has at most 32 fields, found 33"
    );
}

#[test]
fn invalid_configuration_is_refused_before_the_plugin_starts() {
    let (mut plugin, _logs) = setup();
    let rendered = plugin.eval(&script("level: \"loud\"", "a: @log(\"info\", \"x\")\n")).unwrap_err();
    assert_eq!(
        rendered.lines().next().unwrap(),
        r#"[R015] Error: @log: invalid configuration for plugin `logging`: `/level` must be one of "trace", "debug", "info", "warn", "error", "off", found "loud""#
    );
    let rendered = plugin.eval(&script("colour: true", "a: @log(\"info\", \"x\")\n")).unwrap_err();
    assert_eq!(
        rendered.lines().next().unwrap(),
        "[R015] Error: @log: invalid configuration for plugin `logging`: `/colour` is not a known field (known fields: level, format, target, timestamps, sinks)"
    );
}

#[test]
fn field_shapes_past_the_cap_travel_as_one_json_field() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("shapes.jsonl");
    let body = format!(
        "s: @log.add_sink(\"{}\", \"json\")\nall: map(range(0, 1030), i => @log(\"info\", \"e${{i}}\", @json.parse(\"{{\\\"k${{i}}\\\": ${{i}}}}\")))\n",
        path.display()
    );
    plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    let events = json_lines(&path);
    assert_eq!(events.len(), 1030);
    assert_eq!(events[1023]["fields"], json!({"message": "e1023", "k1023": 1023}));
    assert_eq!(events[1024]["fields"], json!({"message": "e1024", "fields": {"k1024": 1024}}));
    // Shapes already seen keep their own callsite.
    let again =
        format!("s: @log.add_sink(\"{}\", \"json\")\na: @log(\"info\", \"again\", {{k5: 5}})\n", path.display());
    plugin.eval(&script("timestamps: false, target: \"none\"", &again)).unwrap();
    assert_eq!(json_lines(&path)[1030]["fields"], json!({"message": "again", "k5": 5}));
}

#[test]
fn shutdown_flushes_the_sinks_and_later_calls_fail_cleanly() {
    let (mut plugin, logs) = setup();
    grant_logs(&mut plugin, &logs);
    let path = logs.join("shutdown.log");
    let body = format!("s: @log.add_sink(\"{}\")\na: @log(\"info\", \"last words\")\n", path.display());
    plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    let host = plugin.engine().plugins().expect("plugins are enabled").clone();
    assert_eq!(host.shutdown_all(), Vec::<(String, String)>::new());
    assert_eq!(lines(&path), vec![" INFO tusk: last words"]);
    assert_eq!(
        error(&mut plugin, r#"@log("info", "too late")"#),
        "[R015] Error: @log: plugin `logging` has been shut down"
    );
}

#[test]
fn every_example_passes() {
    let (mut plugin, _logs) = setup();
    // `@log.add_sink`'s example writes this file. Another test run may have left it (or may be
    // writing it right now), so the grants cover both cases: reading it when it exists, and
    // the folder for the host's atomic write through a temporary file next to it.
    let example = "/tmp/tusk-logging-example.log";
    plugin.grant(&format!("--allow-read={example}"));
    plugin.grant("--allow-write=/tmp");
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
    let _ = std::fs::remove_file(example);
}

/// Set in the child process of `console_targets_write_to_stderr_and_stdout`: the target it
/// should log to.
const CHILD_TARGET: &str = "TUSK_LOGGING_TEST_CHILD_TARGET";

#[test]
fn console_targets_write_to_stderr_and_stdout() {
    if let Ok(target) = std::env::var(CHILD_TARGET) {
        // The child: log to the console; the parent reads what arrived. In-process, as the
        // first-party plugin runs for scripts: a sandboxed plugin's standard output goes to
        // tusk's standard error (marked with its name), never into the document's stream.
        let (mut plugin, _logs) = setup();
        plugin.in_process();
        let body = "a: @log(\"info\", \"to the console\", {n: 1})\nb: @log.set_format(\"json\")\nc: @log(\"warn\", \"as json\")\nd: @log(\"debug\", \"filtered\")\n";
        plugin.eval(&script(&format!("timestamps: false, target: \"{target}\""), body)).unwrap();
        return;
    }
    // Our lines, without what the test harness printed before them on the same line.
    let ours = |text: &str| -> Vec<String> {
        let start = |line: &str| match (line.find(" tusk: "), line.find("{\"level\"")) {
            (Some(at), _) if at >= 5 => Some(at - 5),
            (_, Some(at)) => Some(at),
            _ => None,
        };
        text.lines().filter_map(|line| start(line).map(|at| line[at..].to_string())).collect()
    };
    let expected = vec![
        " INFO tusk: to the console n=1".to_string(),
        r#"{"level":"WARN","fields":{"message":"as json"},"target":"tusk"}"#.to_string(),
    ];
    for target in ["stderr", "stdout"] {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "console_targets_write_to_stderr_and_stdout", "--nocapture", "--test-threads=1"])
            .env(CHILD_TARGET, target)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let (written, other) = if target == "stderr" { (stderr, stdout) } else { (stdout, stderr) };
        assert_eq!(ours(&written), expected, "{target}");
        assert_eq!(ours(&other), Vec::<String>::new(), "{target}");
    }
}

/// An engine that runs the installed plugin in-process (the user trusts it), with `flags`.
fn in_process(plugin: &PluginTest, flags: &[String]) -> tusk::Engine {
    let script_dir = plugin.script_dir();
    let mut settings = HostSettings::standard(script_dir);
    let plugins_root = plugin.plugin_dir().parent().expect("the plugin folder has a parent");
    settings.search = SearchPath::from_parts(Some(plugins_root.as_os_str()), None, None, None);
    settings.index_file = None;
    settings.cache_dir = script_dir.join("../in-process-cache");
    let mut grants = Grants::new(script_dir);
    grants.flags = GrantSet::from_flags(flags.iter().map(String::as_str)).unwrap();
    grants.plugins.insert("logging".to_string(), GrantSet { trusted: true, ..GrantSet::default() });
    settings.grants = grants;
    let mut engine = tusk::Engine::new();
    let problems: Vec<_> = engine.enable_plugins(settings).into_iter().filter(|d| d.is_error()).collect();
    assert!(problems.is_empty(), "{}", engine.render_diagnostics(&problems, false));
    engine
}

#[test]
fn in_process_each_instance_owns_its_dispatcher_and_starts_again_cleanly() {
    let (plugin, logs) = setup();
    let flags = [format!("--allow-read={}", logs.display()), format!("--allow-write={}", logs.display())];
    let (first, second) = (logs.join("first.jsonl"), logs.join("second.log"));
    let mut engine = in_process(&plugin, &flags);
    let source = script(
        &format!("timestamps: false, target: \"none\", sinks: [{{path: \"{}\", format: \"json\"}}]", first.display()),
        "a: @log(\"info\", \"in-process\", {n: 1})\nb: @log.set_level(\"warn\")\nc: @log(\"info\", \"dropped\")\nd: @log(\"warn\", \"kept\")\n",
    );
    let directory = plugin.script_dir().to_path_buf();
    engine.eval_named("first.tsk", &source, Some(&directory)).map_err(|error| engine.render(&error, false)).unwrap();
    // Dropping the engine shuts the plugin down: the sink is complete afterwards.
    drop(engine);
    assert_eq!(
        json_lines(&first),
        vec![
            json!({"level": "INFO", "fields": {"message": "in-process", "n": 1}, "target": "tusk"}),
            json!({"level": "WARN", "fields": {"message": "kept"}, "target": "tusk"}),
        ]
    );
    // The same library image starts again with new settings. A plugin that had installed a
    // process-global subscriber could not (tracing refuses a second global default), and one
    // that kept its level in a global would still filter at warn.
    let mut engine = in_process(&plugin, &flags);
    let source = script(
        &format!("level: \"debug\", timestamps: false, target: \"none\", sinks: [{{path: \"{}\"}}]", second.display()),
        "a: @log(\"debug\", \"second life\")\n",
    );
    engine.eval_named("second.tsk", &source, Some(&directory)).map_err(|error| engine.render(&error, false)).unwrap();
    drop(engine);
    assert_eq!(lines(&second), vec!["DEBUG tusk: second life"]);
}
