//! What the tests of the editing, conversion and tooling commands share: running the real
//! `tusk` binary in a scratch folder (plugin discovery and the grants file kept out of the
//! real home), with standard input, and reading what it printed.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What one run of the binary produced (standard error with trailing spaces removed from
/// each line: ariadne pads some).
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tusk ARGS` in `dir`, with `stdin` as standard input when given.
pub fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("TUSK_PLUGIN_PATH")
        .env("XDG_DATA_HOME", dir.join(".xdg/data"))
        .env("XDG_CONFIG_HOME", dir.join(".xdg/config"))
        .env("XDG_CACHE_HOME", dir.join(".xdg/cache"));
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the tusk binary starts");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    Output {
        code: output.status.code().expect("tusk exits normally, not by a signal"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr)
            .unwrap()
            .lines()
            .map(|line| format!("{}\n", line.trim_end()))
            .collect(),
    }
}

/// Asserts the exit code and both outputs at once, so a failure shows all three.
pub fn assert_output(output: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (output.code, output.stdout.as_str(), output.stderr.as_str()),
        (code, stdout, stderr),
        "exit code, stdout, stderr"
    );
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The text of `dir/name`.
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}
