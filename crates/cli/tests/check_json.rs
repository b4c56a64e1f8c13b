//! `tusk check --format json`: one JSON object per diagnostic and line on standard output,
//! with the place of the primary label (line and column in characters, byte range) and every
//! label, note and help; exit codes as in text mode.

mod common;

use common::{assert_output, run, write};

#[test]
fn warnings_errors_and_unreadable_files_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "warn.tsk", "a: 1\na: 2\nb: yes\n");
    write(dir.path(), "error.tsk", "x: \"é\" + (1\n");
    let expected = [
        r#"{"file":"warn.tsk","line":2,"column":1,"end_line":2,"end_column":2,"start":5,"end":6,"severity":"warning","code":"W001","message":"`a` is defined more than once in this scope; the last one wins","labels":[{"file":"warn.tsk","line":2,"column":1,"end_line":2,"end_column":2,"start":5,"end":6,"message":"defined again here","primary":true},{"file":"warn.tsk","line":1,"column":1,"end_line":1,"end_column":2,"start":0,"end":1,"message":"first defined here","primary":false}],"notes":[],"help":null}"#,
        r#"{"file":"warn.tsk","line":3,"column":4,"end_line":3,"end_column":7,"start":13,"end":16,"severity":"warning","code":"W002","message":"bare word `yes` is read as the string \"yes\"","labels":[{"file":"warn.tsk","line":3,"column":4,"end_line":3,"end_column":7,"start":13,"end":16,"message":"names no entry or parameter","primary":true}],"notes":[],"help":"write \"yes\" to make the string explicit"}"#,
        r#"{"file":"error.tsk","line":1,"column":12,"end_line":1,"end_column":12,"start":12,"end":12,"severity":"error","code":"P002","message":"input ended early","labels":[{"file":"error.tsk","line":1,"column":12,"end_line":1,"end_column":12,"start":12,"end":12,"message":"expected `)` here","primary":true},{"file":"error.tsk","line":1,"column":10,"end_line":1,"end_column":11,"start":10,"end":11,"message":"unclosed `(` opened here","primary":false}],"notes":[],"help":"add the missing `)`"}"#,
        r#"{"file":"missing.tsk","line":null,"column":null,"end_line":null,"end_column":null,"start":null,"end":null,"severity":"error","code":null,"message":"cannot read missing.tsk: No such file or directory (os error 2)","labels":[],"notes":[],"help":null}"#,
    ];
    assert_output(
        &run(dir.path(), &["check", "--format", "json", "warn.tsk", "error.tsk", "missing.tsk"], None),
        2,
        &format!("{}\n", expected.join("\n")),
        "",
    );
    // Warnings alone exit 0; `--deny-warnings` makes them errors (exit 1), `--quiet` drops them.
    assert_output(
        &run(dir.path(), &["check", "--format", "json", "warn.tsk"], None),
        0,
        &format!("{}\n{}\n", expected[0], expected[1]),
        "",
    );
    let denied = run(dir.path(), &["check", "--format", "json", "--deny-warnings", "warn.tsk"], None);
    assert_eq!(denied.code, 1);
    let first: serde_json::Value = serde_json::from_str(denied.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        (&first["severity"], &first["notes"][0]),
        (&serde_json::json!("error"), &serde_json::json!("`--deny-warnings` makes warnings errors"))
    );
    assert_output(&run(dir.path(), &["check", "--format", "json", "--quiet", "warn.tsk"], None), 0, "", "");
}

#[test]
fn a_clean_file_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.tsk", "a: 1\n");
    assert_output(&run(dir.path(), &["check", "--format", "json", "ok.tsk"], None), 0, "", "");
    let stdin = run(dir.path(), &["check", "--format", "json", "-"], Some("a: (\n"));
    assert_eq!((stdin.code, stdin.stderr.as_str()), (1, ""));
    let diagnostic: serde_json::Value = serde_json::from_str(stdin.stdout.trim_end()).unwrap();
    assert_eq!((&diagnostic["file"], &diagnostic["line"]), (&serde_json::json!("<stdin>"), &serde_json::json!(1)));
}
