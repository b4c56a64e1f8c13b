//! `tusk set` and `tusk fmt`: files rewritten in place with their comments and style kept,
//! atomically, and refused (unchanged) when they do not parse.

mod common;

use common::{assert_output, read, run, write};

const CONFIG: &str = "\
# Service configuration
name = \"api\"   # shown in logs

[server]
host = \"0.0.0.0\"
port = 8080

[database]
pool {
    min = 2
}
";

#[test]
fn set_replaces_a_value_and_keeps_comments_and_style() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.tsk", CONFIG);
    assert_output(&run(dir.path(), &["set", "app.tsk", "server.port", "9090"], None), 0, "", "");
    assert_eq!(read(dir.path(), "app.tsk"), CONFIG.replace("port = 8080", "port = 9090"));
    assert_output(&run(dir.path(), &["get", "app.tsk", "server.port"], None), 0, "9090\n", "");
}

#[test]
fn set_adds_a_missing_key_in_its_section_or_block() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.tsk", CONFIG);
    assert_output(&run(dir.path(), &["set", "app.tsk", "server.tls", "true"], None), 0, "", "");
    assert_output(&run(dir.path(), &["set", "app.tsk", "database.pool.max", "min * 5"], None), 0, "", "");
    assert_output(&run(dir.path(), &["set", "-s", "app.tsk", "cache.dir", "/var/cache/${app}"], None), 0, "", "");
    assert_eq!(
        read(dir.path(), "app.tsk"),
        "\
# Service configuration
name = \"api\"   # shown in logs

[server]
host = \"0.0.0.0\"
port = 8080
tls = true

[database]
pool {
    min = 2
    max = min * 5
}

[cache]
dir = \"/var/cache/\\${app}\"
"
    );
    assert_output(
        &run(dir.path(), &["--format", "flat", "app.tsk"], None),
        0,
        "name = \"api\"\nserver.host = \"0.0.0.0\"\nserver.port = 8080\nserver.tls = true\n\
         database.pool.min = 2\ndatabase.pool.max = 10\ncache.dir = \"/var/cache/${app}\"\n",
        "",
    );
}

#[test]
fn set_refuses_a_broken_file_and_a_value_that_is_not_an_expression() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.tsk", "a: (1\n");
    let output = run(dir.path(), &["set", "broken.tsk", "a", "2"], None);
    assert_eq!(output.code, 1);
    assert!(output.stderr.contains("broken.tsk:1:"), "{}", output.stderr);
    assert_eq!(read(dir.path(), "broken.tsk"), "a: (1\n");

    write(dir.path(), "app.tsk", "a: 1\n");
    assert_output(
        &run(dir.path(), &["set", "app.tsk", "a", "hello world"], None),
        1,
        "",
        "Error: `hello world` is not a TuskLang expression (expected an operator, end of line, the end of the entry or the end of the input, \
         found `world`); quote text (`'\"text\"'`) or pass --string\n",
    );
    assert_output(
        &run(dir.path(), &["set", "app.tsk", "a.b", "2"], None),
        1,
        "",
        "Error: `a` is not an object in the file, so `a.b` cannot be added to it; set `a` itself\n",
    );
    assert_eq!(run(dir.path(), &["set", "missing.tsk", "a", "2"], None).code, 2);
    assert_eq!(read(dir.path(), "app.tsk"), "a: 1\n");
}

#[test]
fn set_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.tsk", "a: 1\n");
    let file = dir.path().join("app.tsk");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_output(&run(dir.path(), &["set", "app.tsk", "a", "2"], None), 0, "", "");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("app.tsk")]);
}

#[test]
fn fmt_rewrites_whitespace_only_and_check_lists_unformatted_files() {
    let dir = tempfile::tempdir().unwrap();
    let messy = "\n\n# config   \nport:8080\nhost =\"a\"\n\n\n\nlist: [1 ,2,3]   \ntotal: port+1 # sum\nname: max-min\n\
                 text: \"a  ,b   \"\nblock {\n    x:1\n}";
    let tidy = "# config\nport: 8080\nhost = \"a\"\n\nlist: [1, 2, 3]\ntotal: port + 1 # sum\nname: max-min\n\
                text: \"a  ,b   \"\nblock {\n    x: 1\n}\n";
    write(dir.path(), "messy.tsk", messy);
    write(dir.path(), "tidy.tsk", tidy);
    assert_output(
        &run(dir.path(), &["fmt", "--check", "messy.tsk", "tidy.tsk"], None),
        1,
        "messy.tsk is not formatted\n",
        "",
    );
    assert_eq!(read(dir.path(), "messy.tsk"), messy);
    assert_output(&run(dir.path(), &["fmt", "messy.tsk", "tidy.tsk"], None), 0, "", "");
    assert_eq!(read(dir.path(), "messy.tsk"), tidy);
    assert_output(&run(dir.path(), &["fmt", "--check", "messy.tsk"], None), 0, "", "");
}

#[test]
fn fmt_reports_syntax_errors_and_leaves_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.tsk", "a: \"open\n");
    let output = run(dir.path(), &["fmt", "broken.tsk"], None);
    assert_eq!((output.code, output.stdout.as_str()), (1, ""));
    assert!(output.stderr.starts_with("[L003] Error: unterminated string"), "{}", output.stderr);
    assert_eq!(read(dir.path(), "broken.tsk"), "a: \"open\n");
}
