//! Runs the real `tusk` binary: every subcommand, every output format, exit codes 0/1/2,
//! standard input, modes, limits, colour and a closed output pipe.
//!
//! Diagnostics are compared with trailing spaces removed from each line (ariadne pads some
//! lines), so the expected texts here carry no invisible whitespace.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::Output;
use tempfile::TempDir;

/// A `tusk` invocation inside a scratch directory holding the fixture files.
struct Tusk {
    command: Command,
    stdin: Option<Vec<u8>>,
}

impl Tusk {
    fn stdin(self, text: &str) -> Tusk {
        self.stdin_bytes(text.as_bytes())
    }

    fn stdin_bytes(mut self, bytes: &[u8]) -> Tusk {
        self.stdin = Some(bytes.to_vec());
        self
    }

    fn env(mut self, key: &str, value: &str) -> Tusk {
        self.command.env(key, value);
        self
    }

    fn run(mut self) -> Output {
        self.command.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        self.command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("the tusk binary starts");
        if let Some(text) = &self.stdin {
            child.stdin.take().unwrap().write_all(text).unwrap();
        }
        Output::of(child.wait_with_output().unwrap())
    }
}

/// A scratch directory with the fixture files every test may use.
fn fixtures() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        (
            "app.tsk",
            "name: \"api\"\nport: 8000 + 80\ntags: [\"a\", \"b\"]\n[server]\nhost: \"0.0.0.0\"\n\
             limits { rps: 2.5, burst: 10 }\n",
        ),
        ("bare.tsk", "level: info\n"),
        ("broken.tsk", "name: \"abc\n"),
        ("undefined.tsk", "a: missing_name + 1\n"),
        ("null.tsk", "a: null\n"),
        ("write.tsk", "written: @file.write(\"out.txt\", \"data\")\n"),
        ("deep.tsk", "f: n => n < 1 ? 0 : 1 + f(n - 1)\nx: f(50)\n"),
        ("unknown_op.tsk", "a: @nothing(1)\nb: 2\n"),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn tusk(dir: &Path, args: &[&str]) -> Tusk {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
    // Plugin discovery, the index and the grants file must never touch the real home.
    command
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("TUSK_PLUGIN_PATH")
        .env("XDG_DATA_HOME", dir.join(".xdg/data"))
        .env("XDG_CONFIG_HOME", dir.join(".xdg/config"))
        .env("XDG_CACHE_HOME", dir.join(".xdg/cache"));
    Tusk { command, stdin: None }
}

fn assert_output(output: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (output.code, output.stdout.as_str(), output.stderr.as_str()),
        (code, stdout, stderr),
        "exit code, stdout, stderr"
    );
}

const APP_JSON: &str = r#"{
  "name": "api",
  "port": 8080,
  "tags": [
    "a",
    "b"
  ],
  "server": {
    "host": "0.0.0.0",
    "limits": {
      "rps": 2.5,
      "burst": 10
    }
  }
}
"#;

const BROKEN_ERROR: &str = "\
[L003] Error: unterminated string
   ,-[ broken.tsk:1:7 ]
   |
 1 | name: \"abc
   |       |
   |       `-- this string is never closed
   |
   | Help: add the closing quote
---'
";

const BARE_WORD_WARNING: &str = "\
[W002] Warning: bare word `info` is read as the string \"info\"
   ,-[ bare.tsk:1:8 ]
   |
 1 | level: info
   |        ^^|^
   |          `--- names no entry or parameter
   |
   | Help: write \"info\" to make the string explicit
---'
";

#[test]
fn file_argument_prints_pretty_json() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["app.tsk"]).run(), 0, APP_JSON, "");
}

#[test]
fn run_subcommand_is_the_same_as_a_file_argument() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["run", "app.tsk"]).run(), 0, APP_JSON, "");
}

#[test]
fn compact_json_is_one_line() {
    let dir = fixtures();
    let expected = "{\"name\":\"api\",\"port\":8080,\"tags\":[\"a\",\"b\"],\"server\":{\"host\":\"0.0.0.0\",\
                    \"limits\":{\"rps\":2.5,\"burst\":10}}}\n";
    assert_output(&tusk(dir.path(), &["app.tsk", "--compact"]).run(), 0, expected, "");
    assert_output(&tusk(dir.path(), &["run", "--format", "json", "--compact", "app.tsk"]).run(), 0, expected, "");
}

#[test]
fn yaml_format() {
    let dir = fixtures();
    let expected = "name: api\nport: 8080\ntags:\n  - a\n  - b\nserver:\n  host: \"0.0.0.0\"\n  limits:\n    rps: 2.5\n    burst: 10\n";
    assert_output(&tusk(dir.path(), &["app.tsk", "--format", "yaml"]).run(), 0, expected, "");
}

#[test]
fn toml_format() {
    let dir = fixtures();
    let expected = "name = \"api\"\nport = 8080\ntags = [\"a\", \"b\"]\n\n[server]\nhost = \"0.0.0.0\"\n\n\
                    [server.limits]\nrps = 2.5\nburst = 10\n";
    assert_output(&tusk(dir.path(), &["run", "app.tsk", "--format", "toml"]).run(), 0, expected, "");
}

#[test]
fn toml_cannot_hold_null_and_that_is_exit_1() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["null.tsk", "--format=toml"]).run();
    assert_output(&output, 1, "", "Error: TOML has no null: `a` (leave the key out, or use JSON or YAML)\n");
}

#[test]
fn toml_of_a_value_that_is_not_a_table_says_so() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["-e", "[1, 2]", "--format", "toml"]).run();
    let expected =
        "Error: TOML can only write a table of keys, and the value is an array (JSON and YAML can write it)\n";
    assert_output(&output, 1, "", expected);
    let output = tusk(dir.path(), &["get", "app.tsk", "port", "--format", "toml"]).run();
    assert_output(&output, 1, "", &expected.replace("an array", "an int"));
}

#[test]
fn an_infinite_float_is_an_error_in_every_format() {
    let dir = fixtures();
    std::fs::write(dir.path().join("inf.tsk"), "limits { ratio: float(\"inf\") }\n").unwrap();
    let expected = "Error: `limits.ratio` is inf: output formats do not write infinite or NaN floats (make it a \
                    string with `str()` or a finite number first)\n";
    for format in ["json", "yaml", "toml", "flat"] {
        assert_output(&tusk(dir.path(), &["inf.tsk", "--format", format]).run(), 1, "", expected);
    }
}

#[test]
fn flat_format_uses_dotted_keys() {
    let dir = fixtures();
    let expected = "name = \"api\"\nport = 8080\ntags[0] = \"a\"\ntags[1] = \"b\"\nserver.host = \"0.0.0.0\"\n\
                    server.limits.rps = 2.5\nserver.limits.burst = 10\n";
    assert_output(&tusk(dir.path(), &["--format", "flat", "app.tsk"]).run(), 0, expected, "");
}

#[test]
fn get_prints_strings_raw_and_other_values_as_json() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["get", "app.tsk", "server.host"]).run(), 0, "0.0.0.0\n", "");
    assert_output(&tusk(dir.path(), &["get", "app.tsk", "port"]).run(), 0, "8080\n", "");
    assert_output(&tusk(dir.path(), &["get", "app.tsk", "tags.1"]).run(), 0, "b\n", "");
    assert_output(
        &tusk(dir.path(), &["get", "app.tsk", "server.limits"]).run(),
        0,
        "{\n  \"rps\": 2.5,\n  \"burst\": 10\n}\n",
        "",
    );
    assert_output(&tusk(dir.path(), &["get", "app.tsk", "tags", "--compact"]).run(), 0, "[\"a\",\"b\"]\n", "");
    assert_output(&tusk(dir.path(), &["get", "app.tsk", "name", "--format", "json"]).run(), 0, "\"api\"\n", "");
    assert_output(
        &tusk(dir.path(), &["get", "app.tsk", "server.limits", "--format", "yaml"]).run(),
        0,
        "rps: 2.5\nburst: 10\n",
        "",
    );
}

#[test]
fn get_of_a_missing_key_says_what_is_there_and_exits_1() {
    let dir = fixtures();
    let cases = [
        ("server.prt", "Error: no value at `server.prt`: `server` has no key `prt` (its keys: host, limits)\n"),
        ("nope", "Error: no value at `nope`: the document has no key `nope` (its keys: name, port, tags, server)\n"),
        ("tags.5", "Error: no value at `tags.5`: `tags` has no item `5` (it has 2 items)\n"),
        ("tags[-3]", "Error: no value at `tags[-3]`: `tags` has no item `-3` (it has 2 items)\n"),
        ("port.x", "Error: no value at `port.x`: `port` is an int, which has no keys or items\n"),
        ("name.first", "Error: no value at `name.first`: `name` is a string, which has no keys or items\n"),
        ("server[0]", "Error: no value at `server[0]`: `server` is an object, not an array: `[0]` indexes arrays\n"),
    ];
    for (path, message) in cases {
        assert_output(&tusk(dir.path(), &["get", "app.tsk", path]).run(), 1, "", message);
    }
}

#[test]
fn get_paths_index_arrays_quote_keys_and_read_range_ends() {
    let dir = fixtures();
    std::fs::write(
        dir.path().join("paths.tsk"),
        "hosts: [\"a\", \"b\", \"c\"]\n\"a.b\": 1\na { b: 2 }\nports: 8000-8100\n\"my key\": {x: [10, 20]}\n",
    )
    .unwrap();
    let cases = [
        ("hosts[0]", "a\n"),
        ("hosts[-1]", "c\n"),
        ("hosts.-1", "c\n"),
        ("hosts.1", "b\n"),
        ("\"a.b\"", "1\n"),
        ("[\"a.b\"]", "1\n"),
        ("a.b", "2\n"),
        ("a[\"b\"]", "2\n"),
        ("ports.min", "8000\n"),
        ("ports.max", "8100\n"),
        ("\"my key\".x[1]", "20\n"),
    ];
    for (path, value) in cases {
        assert_output(&tusk(dir.path(), &["get", "paths.tsk", path]).run(), 0, value, "");
    }
    // Every path the flat format prints leads back to its value.
    let flat = tusk(dir.path(), &["paths.tsk", "--format", "flat"]).run();
    assert_eq!(
        flat.stdout,
        "hosts[0] = \"a\"\nhosts[1] = \"b\"\nhosts[2] = \"c\"\n\"a.b\" = 1\na.b = 2\nports.min = 8000\n\
         ports.max = 8100\nports.type = \"range\"\n\"my key\".x[0] = 10\n\"my key\".x[1] = 20\n"
    );
    for line in flat.stdout.lines() {
        let (path, json) = line.split_once(" = ").unwrap();
        let output = tusk(dir.path(), &["get", "paths.tsk", path, "--format", "json"]).run();
        assert_output(&output, 0, &format!("{json}\n"), "");
    }
}

#[test]
fn get_refuses_a_path_that_does_not_parse_with_exit_2() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["get", "app.tsk", "tags[x]"]).run();
    assert_output(
        &output,
        2,
        "",
        "Error: invalid path `tags[x]`: `[x]` is not an index: write `[0]` or `[\"key\"]` (at character 5)\n",
    );
}

#[test]
fn get_of_a_broken_file_reports_the_script_error() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["get", "broken.tsk", "port"]).run(), 1, "", BROKEN_ERROR);
}

#[test]
fn check_of_a_clean_file_prints_a_summary() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["check", "app.tsk"]).run(), 0, "checked 1 file: no errors, no warnings\n", "");
    assert_output(&tusk(dir.path(), &["check", "app.tsk", "--quiet"]).run(), 0, "", "");
}

#[test]
fn check_prints_warnings_and_exits_0() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["check", "bare.tsk", "app.tsk"]).run();
    assert_output(&output, 0, "checked 2 files: no errors, 1 warning\n", BARE_WORD_WARNING);
}

const DUPLICATE_WARNING: &str = "\
[W001] Warning: `port` is defined more than once in this scope; the last one wins
   ,-[ dup.tsk:2:1 ]
   |
 1 | port: 80
   | ^^|^
   |   `--- first defined here
 2 | port: 8080
   | ^^|^
   |   `--- defined again here
---'
";

#[test]
fn run_prints_warnings_unless_quiet_and_deny_warnings_makes_them_errors() {
    let dir = fixtures();
    std::fs::write(dir.path().join("dup.tsk"), "port: 80\nport: 8080\n").unwrap();
    let output = tusk(dir.path(), &["dup.tsk", "--compact"]).run();
    assert_output(&output, 0, "{\"port\":8080}\n", DUPLICATE_WARNING);
    assert_output(&tusk(dir.path(), &["dup.tsk", "--compact", "-q"]).run(), 0, "{\"port\":8080}\n", "");
    let denied = DUPLICATE_WARNING
        .replace("[W001] Warning:", "[W001] Error:")
        .replace("---'", "   |\n   | Note: `--deny-warnings` makes warnings errors\n---'");
    for args in [
        &["dup.tsk", "--deny-warnings"][..],
        &["get", "dup.tsk", "port", "--deny-warnings"],
        &["check", "dup.tsk", "--deny-warnings"],
    ] {
        assert_output(&tusk(dir.path(), args).run(), 1, "", &denied);
    }
    let output = tusk(dir.path(), &["-e", "[yes, 1]", "--deny-warnings"]).run();
    assert_eq!((output.code, output.stdout.as_str()), (1, ""));
    assert!(
        output.stderr.starts_with("[W002] Error: bare word `yes` is read as the string \"yes\"\n"),
        "{}",
        output.stderr
    );
}

#[test]
fn strict_check_fails_on_a_duplicate_key() {
    let dir = fixtures();
    std::fs::write(dir.path().join("dup.tsk"), "port: 80\nport: 8080\nblock { a: 1, a: 2 }\n").unwrap();
    let output = tusk(dir.path(), &["check", "--strict", "dup.tsk"]).run();
    assert_eq!((output.code, output.stdout.as_str()), (1, ""));
    let first_lines: Vec<&str> = output.stderr.lines().filter(|line| line.starts_with('[')).collect();
    assert_eq!(
        first_lines,
        [
            "[R020] Error: `port` is defined more than once in this scope",
            "[R020] Error: `a` is defined more than once in this block"
        ]
    );
}

#[test]
fn a_file_that_is_not_utf8_is_a_located_error_exit_1() {
    let dir = fixtures();
    std::fs::write(dir.path().join("latin1.tsk"), b"a: 1\nb: \"caf\xe9\"\n").unwrap();
    let expected = "\
[L010] Error: the file is not UTF-8 text: byte 0xE9 at offset 12 is not valid UTF-8
   ,-[ latin1.tsk:2:8 ]
   |
 2 | b: \"caf\u{fffd}\"
   |        |
   |        `-- not UTF-8
   |
   | Help: TuskLang files are UTF-8; convert the file (for example `iconv -f latin1 -t utf-8`)
---'
";
    assert_output(&tusk(dir.path(), &["latin1.tsk"]).run(), 1, "", expected);
    let binary: Vec<u8> = vec![0x7f, b'E', b'L', b'F', 0x02, 0x01, 0x01, 0x00, 0xff, 0xfe];
    let output = tusk(dir.path(), &["-"]).stdin_bytes(&binary).run();
    assert_eq!(output.code, 1);
    assert_eq!(
        output.stderr.lines().take(2).collect::<Vec<_>>(),
        ["[L010] Error: the file is not UTF-8 text: byte 0xFF at offset 8 is not valid UTF-8", "   ,-[ <stdin>:1:9 ]"]
    );
}

#[test]
fn a_cross_file_cycle_is_found_on_the_first_hop_back() {
    let dir = fixtures();
    std::fs::write(dir.path().join("first.tsk"), "p: print(\"evaluating first\")\nx: @second.tsk.get(\"y\")\n")
        .unwrap();
    std::fs::write(dir.path().join("second.tsk"), "q: print(\"evaluating second\")\ny: @first.tsk.get(\"p\")\n")
        .unwrap();
    std::fs::write(dir.path().join("itself.tsk"), "p: print(\"evaluating itself\")\nx: @itself.tsk.get(\"p\")\n")
        .unwrap();
    let root = dir.path().canonicalize().unwrap();
    let output = tusk(dir.path(), &["first.tsk"]).run();
    assert_eq!(output.code, 1);
    let lines: Vec<&str> = output.stderr.lines().take(3).collect();
    let cycle = format!(
        "[R015] Error: @first.tsk.get: cross-file cycle: {0}/first.tsk -> {0}/second.tsk -> {0}/first.tsk",
        root.display()
    );
    assert_eq!(lines, ["evaluating first", "evaluating second", cycle.as_str()]);
    let output = tusk(dir.path(), &["itself.tsk"]).run();
    let lines: Vec<&str> = output.stderr.lines().take(2).collect();
    let cycle =
        format!("[R015] Error: @itself.tsk.get: cross-file cycle: {0}/itself.tsk -> {0}/itself.tsk", root.display());
    assert_eq!(lines, ["evaluating itself", cycle.as_str()]);
}

#[test]
fn check_prints_errors_and_exits_1() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["check", "broken.tsk"]).run(), 1, "", BROKEN_ERROR);
}

#[test]
fn check_reports_errors_found_while_evaluating() {
    let dir = fixtures();
    let expected = "\
[R004] Error: `missing_name` is not defined
   ,-[ undefined.tsk:1:4 ]
   |
 1 | a: missing_name + 1
   |    ^^^^^^|^^^^^
   |          `------- not an entry, parameter or function
   |
   | Help: to use the text, quote it: \"missing_name\"
---'
";
    assert_output(&tusk(dir.path(), &["check", "undefined.tsk"]).run(), 1, "", expected);
}

#[test]
fn check_reports_every_file_and_exits_1_if_any_has_errors() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["check", "bare.tsk", "broken.tsk", "app.tsk"]).run();
    assert_output(&output, 1, "", &format!("{BARE_WORD_WARNING}{BROKEN_ERROR}"));
}

#[test]
fn check_of_an_unreadable_file_exits_2_after_checking_the_others() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["check", "missing.tsk", "broken.tsk"]).run();
    let expected = format!("Error: cannot read missing.tsk: No such file or directory (os error 2)\n{BROKEN_ERROR}");
    assert_output(&output, 2, "", &expected);
}

#[test]
fn check_does_not_run_operators_with_side_effects() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["check", "write.tsk"]).run(), 0, "checked 1 file: no errors, no warnings\n", "");
    assert!(!dir.path().join("out.txt").exists(), "check wrote the file");
    assert_output(&tusk(dir.path(), &["write.tsk", "--compact"]).run(), 0, "{\"written\":4}\n", "");
    assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "data");
}

#[test]
fn check_reads_standard_input() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["check", "-"]).stdin("level: info\n").run();
    let summary = "checked 1 file: no errors, 1 warning\n";
    assert_output(&output, 0, summary, &BARE_WORD_WARNING.replace("bare.tsk", "<stdin>"));
}

#[test]
fn eval_prints_the_value() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["eval", "1 + 2"]).run(), 0, "3\n", "");
    assert_output(&tusk(dir.path(), &["-e", "map(range(0, 3), x => x * x)", "--compact"]).run(), 0, "[0,1,4]\n", "");
    assert_output(&tusk(dir.path(), &["--eval", "{a: 1}", "--format", "flat"]).run(), 0, "a = 1\n", "");
    assert_output(&tusk(dir.path(), &["eval", "-1"]).run(), 0, "-1\n", "");
}

#[test]
fn eval_prints_a_string_raw_unless_a_format_is_given() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["-e", "\"v\" + 2"]).run(), 0, "v2\n", "");
    assert_output(&tusk(dir.path(), &["-e", "\"v\" + 2", "--format", "json"]).run(), 0, "\"v2\"\n", "");
    assert_output(&tusk(dir.path(), &["-e", "upper(\"a\")", "--format", "yaml"]).run(), 0, "A\n", "");
}

#[test]
fn eval_error_is_exit_1_with_the_diagnostic() {
    let dir = fixtures();
    let expected = "\
[R004] Error: `nope` is not defined
   ,-[ <expression>:1:1 ]
   |
 1 | nope + 1
   | ^^|^
   |   `--- not an entry, parameter or function
   |
   | Help: to use the text, quote it: \"nope\"
---'
";
    assert_output(&tusk(dir.path(), &["eval", "nope + 1"]).run(), 1, "", expected);
}

#[test]
fn dash_reads_the_script_from_standard_input() {
    let dir = fixtures();
    let script = std::fs::read_to_string(dir.path().join("app.tsk")).unwrap();
    assert_output(&tusk(dir.path(), &["-"]).stdin(&script).run(), 0, APP_JSON, "");
    assert_output(&tusk(dir.path(), &["run", "-", "--compact"]).stdin("a: 1\n").run(), 0, "{\"a\":1}\n", "");
    assert_output(&tusk(dir.path(), &["get", "-", "a"]).stdin("a: \"x\"\n").run(), 0, "x\n", "");
}

#[test]
fn no_arguments_with_piped_input_runs_standard_input() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["--compact"]).stdin("a: 1 + 1\n").run(), 0, "{\"a\":2}\n", "");
}

#[test]
fn errors_in_standard_input_are_named_stdin() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["-"]).stdin("name: \"abc\n").run();
    assert_output(&output, 1, "", &BROKEN_ERROR.replace("broken.tsk", "<stdin>"));
}

#[test]
fn stdin_scripts_resolve_relative_paths_against_the_working_directory() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["-", "--compact"]).stdin("a: @file.exists(\"app.tsk\")\n").run();
    assert_output(&output, 0, "{\"a\":true}\n", "");
}

#[test]
fn script_error_is_exit_1() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["broken.tsk"]).run(), 1, "", BROKEN_ERROR);
}

#[test]
fn missing_file_is_exit_2() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["missing.tsk"]).run();
    assert_output(&output, 2, "", "Error: cannot read missing.tsk: No such file or directory (os error 2)\n");
}

#[test]
fn usage_errors_are_exit_2() {
    let dir = fixtures();
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "error: unexpected argument '--bogus' found"),
        (&["app.tsk", "--format", "xml"], "error: invalid value 'xml' for '--format <FORMAT>'"),
        (&["--strict", "--compat", "app.tsk"], "error: the argument '--strict' cannot be used with '--compat'"),
        (&["check"], "error: the following required arguments were not provided:"),
        (&["get", "app.tsk"], "error: the following required arguments were not provided:"),
        (&["-e", "1", "app.tsk"], "error: the argument '--eval <EXPR>' cannot be used with '[FILE]'"),
        (&["--format", "yaml", "run", "app.tsk"], "error: `--format` cannot be used before the subcommand `run`"),
        (&["app.tsk", "repl"], "error: `FILE` cannot be used before the subcommand `repl`"),
        (
            &["--max-call-depth", "many", "app.tsk"],
            "error: invalid value 'many' for '--max-call-depth <N>': invalid digit found in string",
        ),
    ];
    for (args, first_line) in cases {
        let output = tusk(dir.path(), args).run();
        assert_eq!((output.code, output.stdout.as_str()), (2, ""), "{args:?}");
        assert_eq!(output.stderr.lines().next(), Some(*first_line), "{args:?}");
    }
}

#[test]
fn a_mistyped_command_is_named_with_the_likely_one() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["chek", "app.tsk"]).run();
    assert_eq!((output.code, output.stdout.as_str()), (2, ""));
    assert_eq!(
        output.stderr.lines().next(),
        Some("error: `chek` is neither a file nor a command; did you mean `tusk check`?")
    );
    let output = tusk(dir.path(), &["--strict", "evl", "1"]).run();
    assert_eq!(
        output.stderr.lines().next(),
        Some("error: `evl` is neither a file nor a command; did you mean `tusk eval`?")
    );
    let output = tusk(dir.path(), &["version"]).run();
    assert_eq!((output.code, output.stdout.as_str()), (2, ""));
    assert_eq!(
        output.stderr.lines().next(),
        Some("error: `version` is neither a file nor a command; `tusk --version` prints the version")
    );
    // A file of that name is run, as always.
    std::fs::write(dir.path().join("chek"), "a: 1\n").unwrap();
    assert_output(&tusk(dir.path(), &["chek", "--compact"]).run(), 0, "{\"a\":1}\n", "");
    let output = tusk(dir.path(), &["nothing_like_a_command.tsk"]).run();
    assert_eq!(
        output.stderr,
        "Error: cannot read nothing_like_a_command.tsk: No such file or directory (os error 2)\n"
    );
}

#[test]
fn an_expression_may_start_with_a_minus() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["-e", "-7 % 3"]).run(), 0, "-1\n", "");
    assert_output(&tusk(dir.path(), &["eval", "-7 % 3"]).run(), 0, "-1\n", "");
}

#[test]
fn plugin_options_are_listed_by_help_plugins_not_by_every_command() {
    let dir = fixtures();
    let help = tusk(dir.path(), &["eval", "--help"]).run();
    assert_eq!(help.code, 0);
    assert!(!help.stdout.contains("--allow-read"), "{}", help.stdout);
    assert!(!help.stdout.contains("--sandbox"), "{}", help.stdout);
    let short_help = tusk(dir.path(), &["eval", "-h"]).run();
    assert!(short_help.stdout.lines().count() < 25, "{}", short_help.stdout);
    let plugins = tusk(dir.path(), &["help", "plugins"]).run();
    assert_eq!((plugins.code, plugins.stderr.as_str()), (0, ""));
    assert!(plugins.stdout.starts_with("Options for plugins, accepted by every command (before or after it)\n"));
    for flag in ["--allow-read", "--allow-net", "--allow-all", "--grants", "--sandbox <NAME>", "--plugin-timeout"] {
        assert!(plugins.stdout.contains(flag), "{flag} missing from:\n{}", plugins.stdout);
    }
    assert!(tusk(dir.path(), &["--help"]).run().stdout.contains("`tusk help plugins` lists the options"));
    // Hidden, still accepted.
    assert_output(&tusk(dir.path(), &["-e", "1", "--allow-env=HOME", "--plugin-timeout", "2"]).run(), 0, "1\n", "");
}

#[test]
fn colour_follows_clicolor_force_and_no_color() {
    let dir = fixtures();
    let forced = tusk(dir.path(), &["broken.tsk"]).env("CLICOLOR_FORCE", "1").run();
    assert!(forced.stderr.contains("\x1b["), "{:?}", forced.stderr);
    let refused = tusk(dir.path(), &["broken.tsk"]).env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1").run();
    assert_output(&refused, 1, "", BROKEN_ERROR);
    let not_forced = tusk(dir.path(), &["broken.tsk"]).env("CLICOLOR_FORCE", "0").run();
    assert_output(&not_forced, 1, "", BROKEN_ERROR);
}

#[test]
fn env_bool_conversion_lists_the_accepted_spellings() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["-e", "@env(\"DEBUG\", false)"]).env("DEBUG", "True").run();
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains(
            "Help: a bool variable is `true`, `1`, `yes` or `on`, or `false`, `0`, `no`, `off` or empty (lowercase)"
        ),
        "{}",
        output.stderr
    );
}

#[test]
fn help_and_version_are_exit_0() {
    let dir = fixtures();
    let help = tusk(dir.path(), &["--help"]).run();
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage: tusk [OPTIONS] [FILE]\n       tusk [OPTIONS] -e <EXPR>\n"), "{}", help.stdout);
    for command in ["run", "get", "check", "eval", "repl"] {
        assert!(help.stdout.contains(&format!("\n  {command} ")), "{command} missing from --help");
    }
    let version = tusk(dir.path(), &["--version"]).run();
    assert_output(&version, 0, &format!("tusk {}\n", env!("CARGO_PKG_VERSION")), "");
}

#[test]
fn global_options_work_before_and_after_the_subcommand() {
    let dir = fixtures();
    for args in [&["--strict", "check", "bare.tsk"][..], &["check", "bare.tsk", "--strict"][..]] {
        let output = tusk(dir.path(), args).run();
        assert_eq!(output.code, 1, "{args:?}");
        assert_eq!(output.stderr.lines().next(), Some("[R004] Error: `info` is not defined"), "{args:?}");
    }
}

#[test]
fn strict_makes_a_bare_word_an_error() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["bare.tsk", "--compact"]).run();
    assert_output(&output, 0, "{\"level\":\"info\"}\n", BARE_WORD_WARNING);
    let expected = "\
[R004] Error: `info` is not defined
   ,-[ bare.tsk:1:8 ]
   |
 1 | level: info
   |        ^^|^
   |          `--- not an entry, parameter or function
   |
   | Help: to use the text, quote it: \"info\"
---'
";
    assert_output(&tusk(dir.path(), &["--strict", "bare.tsk"]).run(), 1, "", expected);
}

#[test]
fn compat_keeps_unknown_operators_as_text() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["unknown_op.tsk"]).run();
    assert_eq!((output.code, output.stderr.lines().next()), (1, Some("[R006] Error: unknown operator `@nothing`")));
    let output = tusk(dir.path(), &["--compat", "unknown_op.tsk", "--compact", "--quiet"]).run();
    assert_output(&output, 0, "{\"a\":\"@nothing(1)\",\"b\":2}\n", "");
}

#[test]
fn limit_flags_reach_the_engine() {
    let dir = fixtures();
    assert_output(&tusk(dir.path(), &["deep.tsk", "--compact"]).run(), 0, "{\"x\":50}\n", "");

    let output = tusk(dir.path(), &["--max-call-depth", "10", "deep.tsk"]).run();
    assert_eq!((output.code, output.stderr.lines().next()), (1, Some("[R012] Error: call depth limit exceeded (10)")));

    let output = tusk(dir.path(), &["deep.tsk", "--max-operations", "20"]).run();
    assert_eq!((output.code, output.stderr.lines().next()), (1, Some("[R012] Error: operation limit exceeded (20)")));

    let output = tusk(dir.path(), &["--max-depth", "3", "-e", "[[[[1]]]]"]).run();
    let expected = "\
[P003] Error: nesting is too deep (the limit is 3 levels)
   ,-[ <expression>:1:4 ]
   |
 1 | [[[[1]]]]
   |    |
   |    `-- this is one level too many
   |
   | Help: flatten the structure, or raise the nesting limit (`--max-depth`)
---'
";
    assert_output(&output, 1, "", expected);
    assert_output(&tusk(dir.path(), &["--max-depth", "4", "-e", "[[[[1]]]]", "--compact"]).run(), 0, "[[[[1]]]]\n", "");
}

#[test]
fn print_goes_to_standard_error() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["-", "--compact"]).stdin("a: print(\"hello\")\nb: 1\n").run();
    assert_output(&output, 0, "{\"a\":null,\"b\":1}\n", "hello\n");
}

#[test]
fn color_always_colours_diagnostics_and_never_or_a_pipe_does_not() {
    let dir = fixtures();
    let coloured = tusk(dir.path(), &["--color", "always", "broken.tsk"]).run();
    assert_eq!(coloured.code, 1);
    assert!(coloured.stderr.contains("\x1b["), "no ANSI colour in {:?}", coloured.stderr);
    // Standard error is a pipe here, so `auto` means no colour, as does NO_COLOR with `auto`.
    assert_output(&tusk(dir.path(), &["broken.tsk"]).run(), 1, "", BROKEN_ERROR);
    assert_output(&tusk(dir.path(), &["--color=never", "broken.tsk"]).run(), 1, "", BROKEN_ERROR);
    assert_output(&tusk(dir.path(), &["--color=auto", "broken.tsk"]).env("NO_COLOR", "1").run(), 1, "", BROKEN_ERROR);
}

#[test]
fn closed_output_pipe_is_exit_0_without_a_message() {
    let dir = fixtures();
    // About 2 MB of JSON: far more than a pipe buffer, so tusk is still writing when the
    // reader goes away.
    std::fs::write(dir.path().join("big.tsk"), "items: map(range(0, 200000), x => x)\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tusk"))
        .arg("big.tsk")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first_bytes = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first_bytes).unwrap();
    assert_eq!(&first_bytes, b"{\n  \"items\": [\n ");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn repl_reports_an_entry_left_open_at_the_end_of_input() {
    let dir = fixtures();
    let output = tusk(dir.path(), &["repl"]).stdin("1 + 1\nlist: [1,\n2\n").run();
    assert_eq!((output.code, output.stdout.as_str()), (0, "2\n"));
    assert_eq!(
        output.stderr.lines().take(2).collect::<Vec<_>>(),
        ["[P002] Error: input ended early", "   ,-[ <repl:2>:2:2 ]"]
    );
}

#[test]
fn repl_reads_piped_input_line_by_line() {
    let dir = fixtures();
    let script = "x: 2\nx * 3\nserver {\n  port: 80\n}\nserver.port + x\nnope\n\"still here\"\n:quit\n99\n";
    let output = tusk(dir.path(), &["repl"]).stdin(script).run();
    assert_eq!((output.code, output.stdout.as_str()), (0, "6\n82\n\"still here\"\n"));
    assert_eq!(output.stderr.lines().next(), Some("[R004] Error: `nope` is not defined"));
}
