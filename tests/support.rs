// Shared pieces of the end-to-end harnesses: running a test body in a child process with a
// fixed environment, and a line diff for readable failures.
//
// `@env` and `@date` read the real process environment, and since edition 2024 changing the
// environment of a running (multi-threaded) test process is `unsafe`, which the workspace
// denies. So a test that needs a known environment re-runs its own test binary, filtered to
// itself, with the environment set on the child `Command`; the parent only checks the exit
// status. The child prints its failures to the inherited standard output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the child process so that the test body knows it runs there.
const CHILD_MARKER: &str = "TUSK_TESTS_CHILD";

/// 2025-07-04T12:34:56Z: the clock the reference oracles were run with (SOURCE.md), in seconds.
pub const FROZEN_EPOCH: &str = "1751632496";

/// Variables passed through to the child: the harness switches and where temporary files go.
/// Nothing else: the conformance files read `HOME`, `HOSTNAME` and friends through `@env`, and
/// the reference oracles ran with an empty environment.
const PASSED_THROUGH: &[&str] = &["TMPDIR", "TUSK_BLESS", "TUSK_CASES", "CI"];

/// Runs `body` in a child process whose environment holds only `PASSED_THROUGH` and `vars`.
/// `test_name` is the name of the calling `#[test]` function (the child runs only that test).
pub fn with_environment(test_name: &str, vars: &[(&str, &str)], body: impl FnOnce()) {
    if std::env::var_os(CHILD_MARKER).is_some() {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut command = Command::new(exe);
    command.args([test_name, "--exact", "--nocapture", "--test-threads=1"]).env_clear().env(CHILD_MARKER, "1");
    for name in PASSED_THROUGH {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("the test binary can run itself");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The child's report is only interesting when it failed, or when it says something
    // (blessed files, skipped folders).
    if !output.status.success() {
        // The child's panic message (on its standard error) is the report.
        let message: Vec<&str> = stderr.lines().filter(|line| !line.starts_with("note: run with")).collect();
        panic!("`{test_name}` failed in its child process:\n{}", message.join("\n"));
    }
    print!("{}", child_report(&stdout));
    // libtest exits successfully when the filter matches nothing: make sure it ran.
    assert!(stdout.contains("1 passed"), "the child process did not run `{test_name}`:\n{stdout}\n{stderr}");
}

/// The child's output without libtest's own lines.
fn child_report(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|line| {
            !(line.starts_with("running ")
                || line.starts_with("test ")
                || line.trim().is_empty()
                || *line == "failures:")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The repository root (the parent of this package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

/// True when regenerating expectations was asked for (`TUSK_BLESS=1`).
pub fn blessing() -> bool {
    std::env::var("TUSK_BLESS").is_ok_and(|value| !value.is_empty() && value != "0")
}

/// A line diff of `expected` and `actual`: `-` lines expected, `+` lines produced, with three
/// lines of context around each change. The longest common subsequence is enough here:
/// expectation files are small.
pub fn diff(expected: &str, actual: &str) -> String {
    const CONTEXT: usize = 3;
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    // Each line of the diff: its marker and text.
    let (mut i, mut j, mut lines) = (0, 0, Vec::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push((' ', old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            lines.push(('+', new[j]));
            j += 1;
        } else {
            lines.push(('-', old[i]));
            i += 1;
        }
    }
    let changed: Vec<usize> = lines.iter().enumerate().filter(|(_, (mark, _))| *mark != ' ').map(|(n, _)| n).collect();
    let near_change = |n: usize| changed.iter().any(|&c| c.abs_diff(n) <= CONTEXT);
    let mut out = String::new();
    let mut skipped = false;
    for (n, (mark, text)) in lines.iter().enumerate() {
        if near_change(n) {
            out.push_str(&format!("{mark} {text}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  ...\n");
            skipped = true;
        }
    }
    out
}
