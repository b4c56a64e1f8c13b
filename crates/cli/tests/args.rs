//! `--arg NAME VALUE` and `--argjson NAME JSON`: globals from the command line, for every
//! command that evaluates, with usage errors (exit 2) for bad names and bad JSON.

mod common;

use common::{assert_output, run, write};

#[test]
fn arg_and_argjson_are_globals_of_the_script() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.tsk", "env: $env\nport: $ports[0] + 1\nurl: \"https://${$host}\"\n");
    assert_output(
        &run(
            dir.path(),
            &[
                "--arg",
                "env",
                "prod",
                "--argjson",
                "ports",
                "[8080, 443]",
                "app.tsk",
                "--arg",
                "$host",
                "-x.org",
                "--compact",
            ],
            None,
        ),
        0,
        "{\"env\":\"prod\",\"port\":8081,\"url\":\"https://-x.org\"}\n",
        "",
    );
    assert_output(
        &run(
            dir.path(),
            &["get", "app.tsk", "env", "--arg", "env", "dev", "--argjson", "ports", "[1]", "--arg", "host", "h"],
            None,
        ),
        0,
        "dev\n",
        "",
    );
    assert_output(
        &run(dir.path(), &["eval", "--argjson", "o", "{\"b\": 1, \"a\": null}", "keys($o)"], None),
        0,
        "[\n  \"b\",\n  \"a\"\n]\n",
        "",
    );
    // `--arg` takes two values: the second is not read as the file or a mistyped command.
    assert_output(&run(dir.path(), &["--arg", "x", "chek", "-e", "$x"], None), 0, "chek\n", "");
}

#[test]
fn a_missing_global_names_the_flag_that_sets_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.tsk", "env: $env\n");
    assert_output(
        &run(dir.path(), &["app.tsk"], None),
        1,
        "",
        "\
[R004] Error: `$env` is not defined
   ,-[ app.tsk:1:6 ]
   |
 1 | env: $env
   |      ^^|^
   |        `--- not defined
   |
   | Note: `--arg env VALUE` or `--argjson env JSON` sets it from the command line
---'
",
    );
}

#[test]
fn bad_names_and_bad_json_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert_output(
        &run(dir.path(), &["--arg", "1x", "y", "-e", "1"], None),
        2,
        "",
        "Error: --arg `1x`: a global's name is letters, digits, `_` and `-`, starting with a letter or `_`\n",
    );
    assert_output(
        &run(dir.path(), &["--argjson", "x", "{", "-e", "1"], None),
        2,
        "",
        "Error: --argjson x: `{` is not JSON: EOF while parsing an object at line 1 column 1\n",
    );
    assert_output(
        &run(dir.path(), &["--argjson", "x", "18446744073709551615", "-e", "1"], None),
        2,
        "",
        "Error: --argjson x: the value must be an integer a script can hold (64-bit signed), not 18446744073709551615\n",
    );
}
