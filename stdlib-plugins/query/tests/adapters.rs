//! `@query` on every adapter with the same table of cases: SQLite (in-memory), PostgreSQL on
//! 127.0.0.1:5432 and MariaDB/MySQL on 127.0.0.1:3306, through the real host with the plugin
//! in-process. Only the table's DDL and the few answers where the databases really differ
//! (booleans, PostgreSQL's missing last insert id, each database's own error words) are per
//! adapter.
//!
//! A missing server skips its adapter with a printed reason, except under `CI=true`.

use mysql::prelude::Queryable;
use serde_json::{Value as Json, json};
use tusk_plugin_testkit::{PluginTest, require};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

fn postgres_client() -> Option<postgres::Client> {
    require("PostgreSQL on 127.0.0.1:5432", || {
        postgres::Client::connect("host=127.0.0.1 port=5432 user=postgres dbname=test", postgres::NoTls)
    })
}

fn mysql_client() -> Option<mysql::Conn> {
    require("MariaDB/MySQL on 127.0.0.1:3306", || {
        mysql::Conn::new(
            mysql::OptsBuilder::new()
                .ip_or_hostname(Some("127.0.0.1"))
                .tcp_port(3306)
                .user(Some("root"))
                .db_name(Some("test"))
                .prefer_socket(false),
        )
    })
}

/// The plugin configured for `kind`, in-process, with the grants it needs: a server's network
/// grant, nothing for SQLite in memory.
fn plugin(kind: Kind) -> PluginTest {
    let mut plugin = configured(kind);
    plugin.in_process();
    plugin
}

/// The plugin configured for `kind` with the grants it needs, sandboxed as other plugins run.
fn configured(kind: Kind) -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    match kind {
        Kind::Sqlite => {}
        Kind::Postgres => {
            plugin.grant("--allow-net=127.0.0.1:5432").with_user_config(
                "[plugins.query]\ndefault = \"postgresql\"\n[plugins.query.postgresql]\nhost = \"127.0.0.1\"\nport = 5432\ndatabase = \"test\"\nuser = \"postgres\"\ntls = \"disable\"\n",
            );
        }
        Kind::MySql => {
            plugin.grant("--allow-net=127.0.0.1:3306").with_user_config(
                "[plugins.query]\ndefault = \"mysql\"\n[plugins.query.mysql]\nurl = \"mysql://root@127.0.0.1:3306/test\"\n",
            );
        }
    }
    plugin
}

/// What a case should give.
enum Expect {
    Value(Json),
    /// An error whose text contains this.
    Error(&'static str),
}

/// One case: a label, the expression (with `{t}` for the table), and the answer per adapter.
struct Case {
    label: &'static str,
    expression: &'static str,
    expect: fn(Kind) -> Expect,
}

fn same(value: Json) -> Expect {
    Expect::Value(value)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            label: "insert with placeholders, unicode and NULL",
            expression: r#"@query("INSERT INTO {t} (name, score, active, note) VALUES (?, ?, ?, ?)", "ünïcödé ✓ 日本", 9.5, true, null)"#,
            expect: |kind| {
                same(json!({"changes": 1, "last_id": if kind == Kind::Postgres { Json::Null } else { json!(1) }}))
            },
        },
        Case {
            label: "quotes and question marks inside values and literals stay data",
            expression: r#"@q("INSERT INTO {t} (name, score, active, note) VALUES (?, ?, ?, 'literal ? stays')", "O'Brien \"q\" ?; DROP TABLE {t}", 1.25, false)"#,
            expect: |kind| {
                same(json!({"changes": 1, "last_id": if kind == Kind::Postgres { Json::Null } else { json!(2) }}))
            },
        },
        Case {
            label: "select: rows as objects in column order, typed cells, NULL",
            expression: r#"@query("SELECT id, name, score, note FROM {t} WHERE score > ? ORDER BY id", 1)"#,
            expect: |_| {
                same(json!([
                    {"id": 1, "name": "ünïcödé ✓ 日本", "score": 9.5, "note": null},
                    {"id": 2, "name": "O'Brien \"q\" ?; DROP TABLE {t}", "score": 1.25, "note": "literal ? stays"},
                ]))
            },
        },
        Case {
            label: "booleans as each database stores them",
            expression: r#"@query("SELECT active FROM {t} ORDER BY id")"#,
            expect: |kind| match kind {
                Kind::Postgres => same(json!([{"active": true}, {"active": false}])),
                Kind::Sqlite | Kind::MySql => same(json!([{"active": 1}, {"active": 0}])),
            },
        },
        Case {
            label: "aggregates",
            expression: r#"@query("SELECT COUNT(*) AS n, MAX(score) AS top FROM {t} WHERE note IS NULL")"#,
            expect: |_| same(json!([{"n": 1, "top": 9.5}])),
        },
        Case {
            label: "update counts the rows it changed",
            expression: r#"@query("UPDATE {t} SET score = score + ? WHERE name LIKE ?", 0.5, "%")"#,
            expect: |kind| {
                same(json!({"changes": 2, "last_id": if kind == Kind::Postgres { Json::Null } else { json!(0) }}))
            },
        },
        Case {
            label: "a byte string binds as binary data",
            expression: r#"@query("UPDATE {t} SET data = ? WHERE id = ?", bytes([0, 255, 0, 10]), 1)"#,
            expect: |kind| {
                same(json!({"changes": 1, "last_id": if kind == Kind::Postgres { Json::Null } else { json!(0) }}))
            },
        },
        Case {
            label: "a binary column comes back as a byte string, a text column as text",
            expression: r#"map(@query("SELECT data, name FROM {t} ORDER BY id"), row => [type_of(row.data), row.data == bytes([0, 255, 0, 10]), row.data == null ? "" : hex(row.data), type_of(row.name)])"#,
            expect: |_| same(json!([["bytes", true, "00ff000a", "string"], ["null", false, "", "string"]])),
        },
        Case {
            label: "no rows is an empty array",
            expression: r#"@query("SELECT id FROM {t} WHERE name = ?", "nobody")"#,
            expect: |_| same(json!([])),
        },
        Case {
            label: "a syntax error with the database's message",
            expression: r#"@query("SELEC id FROM {t}")"#,
            expect: |kind| {
                Expect::Error(match kind {
                    Kind::Sqlite => "sqlite: near \"SELEC\": syntax error",
                    Kind::Postgres => "postgres: syntax error at or near \"SELEC\"",
                    Kind::MySql => "mysql: You have an error in your SQL syntax",
                })
            },
        },
        Case {
            label: "a missing table",
            expression: r#"@query("SELECT * FROM {t}_missing")"#,
            expect: |kind| {
                Expect::Error(match kind {
                    Kind::Sqlite => "sqlite: no such table: {t}_missing",
                    Kind::Postgres => "postgres: relation \"{t}_missing\" does not exist",
                    Kind::MySql => "mysql: Table 'test.{t}_missing' doesn't exist",
                })
            },
        },
        Case {
            label: "a constraint violation",
            expression: r#"@query("INSERT INTO {t} (name, score, active) VALUES (?, ?, ?)", "ünïcödé ✓ 日本", 0, false)"#,
            expect: |kind| {
                Expect::Error(match kind {
                    Kind::Sqlite => "sqlite: UNIQUE constraint failed: {t}.name",
                    Kind::Postgres => "postgres: duplicate key value violates unique constraint",
                    Kind::MySql => "mysql: Duplicate entry 'ünïcödé ✓ 日本' for key",
                })
            },
        },
        Case {
            label: "too few arguments for the placeholders",
            expression: r#"@query("SELECT id FROM {t} WHERE id = ? AND name = ?", 1)"#,
            expect: |_| Expect::Error("the statement has 2 parameters but 1 value was given"),
        },
        Case {
            label: "a function is not a parameter",
            expression: r#"@query("SELECT ? AS f", x => x)"#,
            expect: |_| Expect::Error("argument 2 of @query: a function cannot be sent to a database"),
        },
    ]
}

fn create_table(kind: Kind, table: &str) -> String {
    let (id, boolean, binary) = match kind {
        Kind::Sqlite => ("id INTEGER PRIMARY KEY AUTOINCREMENT", "BOOLEAN", "BLOB"),
        Kind::Postgres => ("id SERIAL PRIMARY KEY", "BOOLEAN", "BYTEA"),
        Kind::MySql => ("id INTEGER PRIMARY KEY AUTO_INCREMENT", "BOOLEAN", "BLOB"),
    };
    format!(
        "CREATE TABLE {table} ({id}, name VARCHAR(100) NOT NULL UNIQUE, score DOUBLE PRECISION, active {boolean} NOT NULL, note TEXT, data {binary})"
    )
}

fn run_cases(kind: Kind) {
    let table = format!("tusk_query_{}_{}", format!("{kind:?}").to_lowercase(), std::process::id());
    let mut plugin = plugin(kind);
    let created = plugin.eval_expression(&format!("@query(\"{}\")", create_table(kind, &table))).unwrap();
    assert_eq!(created["changes"], json!(0), "{kind:?}: CREATE TABLE");
    let mut failures = Vec::new();
    for case in cases() {
        let expression = case.expression.replace("{t}", &table);
        match ((case.expect)(kind), plugin.eval_expression(&expression)) {
            (Expect::Value(expected), Ok(got)) => {
                let expected: Json = serde_json::from_str(&expected.to_string().replace("{t}", &table)).unwrap();
                if got != expected {
                    failures.push(format!("{kind:?} / {}: expected {expected}, got {got}", case.label));
                }
            }
            (Expect::Error(words), Err(error)) => {
                let words = words.replace("{t}", &table);
                if !error.contains(&words) {
                    failures.push(format!("{kind:?} / {}: the error should contain {words:?}:\n{error}", case.label));
                }
            }
            (Expect::Value(expected), Err(error)) => {
                failures.push(format!("{kind:?} / {}: expected {expected}, got the error\n{error}", case.label))
            }
            (Expect::Error(words), Ok(got)) => {
                failures.push(format!("{kind:?} / {}: expected an error with {words:?}, got {got}", case.label))
            }
        }
    }
    let dropped = plugin.eval_expression(&format!("@query(\"DROP TABLE {table}\")"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    dropped.unwrap();
}

#[test]
fn sqlite_cases() {
    run_cases(Kind::Sqlite);
}

#[test]
fn postgres_cases() {
    let Some(mut client) = postgres_client() else { return };
    let table = format!("tusk_query_postgres_{}", std::process::id());
    let _ = client.batch_execute(&format!("DROP TABLE IF EXISTS {table}"));
    run_cases(Kind::Postgres);
}

#[test]
fn mysql_cases() {
    let Some(mut client) = mysql_client() else { return };
    let table = format!("tusk_query_mysql_{}", std::process::id());
    client.query_drop(format!("DROP TABLE IF EXISTS {table}")).unwrap();
    run_cases(Kind::MySql);
}

#[test]
fn postgres_pool_recovers_from_a_terminated_session() {
    let Some(mut client) = postgres_client() else { return };
    let mut plugin = plugin(Kind::Postgres);
    let pid = plugin.eval_expression("@query(\"SELECT pg_backend_pid() AS pid\")").unwrap()[0]["pid"].as_i64().unwrap()
        as i32;
    let terminated: bool = client.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
    assert!(terminated);
    wait_until_ended(&mut client, pid);
    let after = plugin.eval_expression("@query(\"SELECT pg_backend_pid() AS pid, ? AS ok\", \"yes\")").unwrap();
    assert_eq!(after[0]["ok"], json!("yes"));
    assert_ne!(after[0]["pid"].as_i64().unwrap() as i32, pid);
}

#[test]
fn mysql_pool_recovers_from_a_killed_connection() {
    let Some(mut client) = mysql_client() else { return };
    let mut plugin = plugin(Kind::MySql);
    let id = plugin.eval_expression("@query(\"SELECT CONNECTION_ID() AS id\")").unwrap()[0]["id"].as_i64().unwrap();
    client.query_drop(format!("KILL CONNECTION {id}")).unwrap();
    let after = plugin.eval_expression("@query(\"SELECT CONNECTION_ID() AS id, ? AS ok\", \"yes\")").unwrap();
    assert_eq!(after[0]["ok"], json!("yes"));
    assert_ne!(after[0]["id"].as_i64().unwrap(), id);
}

#[test]
fn mysql_wrong_password_does_not_show_the_password() {
    let Some(mut client) = mysql_client() else { return };
    let user = format!("tusk_pw_{}", std::process::id());
    client.query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'right-Secret-1'")).unwrap();
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant("--allow-net=127.0.0.1:3306").in_process();
    let attempts = [
        format!(
            "[plugins.query]\ndefault = \"mysql\"\n[plugins.query.mysql]\nhost = \"127.0.0.1\"\nuser = \"{user}\"\npassword = \"wrong-Secret-2\"\ndatabase = \"test\"\n"
        ),
        format!(
            "[plugins.query]\ndefault = \"mariadb\"\n[plugins.query.mysql]\nurl = \"mysql://{user}:wrong-Secret-2@127.0.0.1:3306/test\"\n"
        ),
    ];
    let mut messages = Vec::new();
    for config in &attempts {
        plugin.with_user_config(config);
        messages.push(plugin.eval_expression("@query(\"SELECT 1\")").expect_err("a wrong password must fail"));
    }
    client.query_drop(format!("DROP USER '{user}'@'%'")).unwrap();
    for message in messages {
        assert!(message.contains("Access denied for user"), "{message}");
        assert!(
            !message.contains("wrong-Secret-2") && !message.contains("right-Secret-1"),
            "the password leaked: {message}"
        );
    }
}

#[test]
fn servers_need_the_network_grant() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin
        .grant("--allow-db")
        .with_user_config("[plugins.query]\ndefault = \"postgresql\"\n[plugins.query.postgresql]\nurl = \"postgres://postgres:hunter2-secret@127.0.0.1:5432/test\"\n")
        .in_process();
    let denied = plugin.eval_expression("@query(\"SELECT 1\")").unwrap_err();
    assert!(denied.contains("permission denied") && denied.contains("127.0.0.1:5432"), "{denied}");
    assert!(!denied.contains("hunter2-secret"), "{denied}");
}

/// Sandboxed, each server answers with its network grant alone (connections made by the host's
/// broker) and with the database grant too (the drivers' own sockets).
#[test]
fn servers_answer_sandboxed() {
    let servers = [(Kind::Postgres, postgres_client().is_some()), (Kind::MySql, mysql_client().is_some())];
    for (kind, available) in servers {
        if !available {
            continue;
        }
        for database_grant in [false, true] {
            let mut plugin = configured(kind);
            if database_grant {
                plugin.grant("--allow-db");
            }
            match plugin.eval_expression("@query(\"SELECT ? AS v\", \"sandboxed\")") {
                Ok(rows) => assert_eq!(rows, json!([{"v": "sandboxed"}]), "{kind:?}, database grant {database_grant}"),
                Err(error) => panic!("{kind:?} sandboxed, database grant {database_grant}: {error}"),
            }
        }
    }
}

/// Waits until the server has ended backend `pid` (pg_terminate_backend only signals it), so
/// that the connection is dead before the next call, as one that died while idle in the pool.
fn wait_until_ended(client: &mut postgres::Client, pid: i32) {
    for _ in 0..1000 {
        let left: i64 =
            client.query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", &[&pid]).unwrap().get(0);
        if left == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("backend {pid} did not end");
}
