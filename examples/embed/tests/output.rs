//! The example runs, and prints what its comments promise.

use std::process::Command;

#[test]
fn the_example_prints_every_part() {
    let output = Command::new(env!("CARGO_BIN_EXE_tusk-example-embed"))
        .env_remove("TUSK_EXAMPLE_PORT")
        .output()
        .expect("the example starts");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr, "");
    // ariadne pads some lines with spaces.
    let stdout: String =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| format!("{}\n", line.trim_end())).collect();
    assert_eq!(stdout, EXPECTED);
}

const EXPECTED: &str = r#"a second `slug`: `slug` is already registered by `embedder`
document: {"server":{"host":"app-01.internal","port":8080,"workers":8,"tags":["web","staging"]},"handlers":{}}
listening on app-01.internal:8080 with 8 workers, tagged web, staging
greet("Ada") = Hello, Ada! This is app-01.internal (staging).
retry delays: 100, 400, 900, 1600, 2000
the tenant template reads $tenant, $domain, $load
{"name":"Acme Corp","url":"https://acme-corp.example.com/","replicas":2}
{"name":"Globex","url":"https://globex.example.com/","replicas":8}
without $load:
[R004] Error: `$load` is not defined
   ,-[ tenant.tsk:3:21 ]
   |
 3 | replicas: clamp(int($load / 100), 1, 8)
   |                     ^^|^^
   |                       `---- not defined
   |
   | Help: the script does not define it and the host does not supply it (the host supplies: `$domain`, `$tenant`)
---'

an error, as the program sees it: clamp: the lower bound 10 is above the upper bound 1
and rendered for a person:
[R009] Error: clamp: the lower bound 10 is above the upper bound 1
   ,-[ broken.tsk:2:24 ]
   |
 2 | bounded: n => clamp(n, 10, 1)
   |                        ^|
   |                         `-- in argument 2
   |
   | Note: in `bounded`, called at broken.tsk:3:8
---'

slug: argument 1 must be a string, not int
"#;
