//! `tusk convert`: JSON, YAML and TOML into idiomatic TuskLang that evaluates to the same
//! document, and into the other formats; clear errors for data TuskLang cannot hold.

mod common;

use common::{assert_output, read, run, write};

const YAML: &str = "\
name: api
version: 1.5
enabled: yes
ports: [80, 443]
base: &base
  host: localhost
  port: 5432
db:
  primary: *base
  replicas:
    - host: r1
      port: 5433
    - {host: r2, port: 5434}
\"my key\": \"x ${y} \\\"q\\\"\"
text: |
  line one
  line two
empty: {}
nothing: ~
";

const YAML_AS_TUSK: &str = "\
name: \"api\"
version: 1.5
enabled: \"yes\"
ports: [80, 443]

base {
    host: \"localhost\"
    port: 5432
}

db {
    primary {
        host: \"localhost\"
        port: 5432
    }
    replicas: [{ host: \"r1\", port: 5433 }, { host: \"r2\", port: 5434 }]
}

\"my key\": \"x \\${y} \\\"q\\\"\"
text: \"line one\\nline two\\n\"
empty: {}
nothing: null
";

#[test]
fn yaml_becomes_tusklang_that_evaluates_to_the_same_document() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", YAML);
    let converted = run(dir.path(), &["convert", "app.yaml"], None);
    assert_output(&converted, 0, YAML_AS_TUSK, "");
    write(dir.path(), "app.tsk", &converted.stdout);
    let direct = run(dir.path(), &["convert", "app.yaml", "--format", "json", "--compact"], None);
    assert_output(&run(dir.path(), &["app.tsk", "--compact"], None), 0, &direct.stdout, "");
    assert_eq!(
        direct.stdout,
        "{\"name\":\"api\",\"version\":1.5,\"enabled\":\"yes\",\"ports\":[80,443],\"base\":{\"host\":\"localhost\",\
         \"port\":5432},\"db\":{\"primary\":{\"host\":\"localhost\",\"port\":5432},\"replicas\":[{\"host\":\"r1\",\
         \"port\":5433},{\"host\":\"r2\",\"port\":5434}]},\"my key\":\"x ${y} \\\"q\\\"\",\"text\":\"line one\\nline two\\n\",\
         \"empty\":{},\"nothing\":null}\n"
    );
}

#[test]
fn toml_tables_become_sections_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "title = \"x\"\nwhen = 1979-05-27T07:32:00Z\n\n[server]\nport = 80\nzeta = 1\nalpha = 2\n\n\
                [server.tls]\ncert = \"c.pem\"\n\n[limits]\nrates = [1.0, 2.5]\n";
    write(dir.path(), "app.toml", toml);
    let converted = run(dir.path(), &["convert", "app.toml"], None);
    assert_output(
        &converted,
        0,
        "title: \"x\"\nwhen: \"1979-05-27T07:32:00Z\"\n\n[server]\nport: 80\nzeta: 1\nalpha: 2\ntls {\n    cert: \"c.pem\"\n}\n\n\
         [limits]\nrates: [1.0, 2.5]\n",
        "",
    );
    write(dir.path(), "app.tsk", &converted.stdout);
    assert_output(
        &run(dir.path(), &["app.tsk", "--format", "toml"], None),
        0,
        "title = \"x\"\nwhen = \"1979-05-27T07:32:00Z\"\n\n[server]\nport = 80\nzeta = 1\nalpha = 2\n\n\
         [server.tls]\ncert = \"c.pem\"\n\n[limits]\nrates = [1.0, 2.5]\n",
        "",
    );
}

#[test]
fn json_from_standard_input_and_long_arrays_over_lines() {
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"z": 1, "a": [{"name": "a rather long name number one", "tags": ["x", "y"]}, {"name": "another long name, number two"}], "min": -9223372036854775808}"#;
    assert_output(
        &run(dir.path(), &["convert", "--from", "json", "-"], Some(json)),
        0,
        "z: 1\na: [\n    { name: \"a rather long name number one\", tags: [\"x\", \"y\"] },\n    \
         { name: \"another long name, number two\" },\n]\nmin: -9223372036854775807 - 1\n",
        "",
    );
}

#[test]
fn data_tusklang_cannot_hold_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    assert_output(
        &run(dir.path(), &["convert", "--from", "json", "-"], Some("[1, 2]")),
        1,
        "",
        "Error: a TuskLang document is an object (key: value entries), not an array\n",
    );
    assert_output(
        &run(dir.path(), &["convert", "--from", "yaml", "-"], Some("a: .inf\n")),
        1,
        "",
        "Error: `a` is inf: output formats do not write infinite or NaN floats (make it a string with `str()` \
         or a finite number first)\n",
    );
    assert_output(
        &run(dir.path(), &["convert", "--from", "yaml", "-"], Some("a: 1\n---\nb: 2\n")),
        1,
        "",
        "Error: <stdin> is not valid YAML: it holds 2 documents (separated by `---`); convert one at a time\n",
    );
    assert_output(
        &run(dir.path(), &["convert", "-"], Some("{}")),
        2,
        "",
        "Error: cannot tell the format of <stdin>; pass --from json, --from yaml or --from toml\n",
    );
    write(dir.path(), "bad.toml", "a = \n");
    let output = run(dir.path(), &["convert", "bad.toml"], None);
    assert_eq!(output.code, 1);
    assert!(output.stderr.starts_with("Error: bad.toml is not valid TOML: "), "{}", output.stderr);
    assert!(read(dir.path(), "bad.toml").starts_with("a ="));
}
