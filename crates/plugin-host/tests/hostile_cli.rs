//! Hostile plugins through the real `tusk` command: what only a whole process shows (its
//! standard output, its exit, the processes left behind, a crash in-process). Every run gets a
//! home, configuration, cache and plugin folder of its own in a temporary folder.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run produced.
#[derive(Debug)]
struct Output {
    /// The exit code, or `None` when a signal ended the process.
    code: Option<i32>,
    /// The signal that ended it.
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A temporary home with plugins installed, and a working folder (the scripts' folder).
struct Tusk {
    root: tempfile::TempDir,
}

impl Tusk {
    fn new(fixtures: &[&str]) -> Tusk {
        // Built (once) before any test starts its clock.
        support::tusk();
        let root = tempfile::tempdir().unwrap();
        for dir in ["work", "plugins", "home", "config/tusk", "cache", "data"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let tusk = Tusk { root };
        for fixture in fixtures {
            support::install(&tusk.path("plugins"), fixture);
        }
        tusk
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().canonicalize().unwrap().join(relative)
    }

    /// The working folder, where scripts are.
    fn work(&self) -> PathBuf {
        self.path("work")
    }

    /// Trusts `plugins` (runs them in-process) in the grants file.
    fn trust(&self, plugins: &[&str]) {
        let grants: String = plugins.iter().map(|name| format!("[{name}]\ntrusted = true\n")).collect();
        std::fs::write(self.path("config/tusk/grants.toml"), grants).unwrap();
    }

    /// Read and write access to the working folder, which the fixtures that write declare.
    fn work_grants(&self) -> Vec<String> {
        let work = self.work().display().to_string();
        vec![format!("--allow-read={work}"), format!("--allow-write={work}")]
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(support::tusk());
        command
            .args(args)
            .current_dir(self.work())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("TUSK_PLUGIN_PATH", self.path("plugins"))
            .env("TUSK_PLUGIN_RUNNER", support::runner())
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("tusk starts");
        use std::os::unix::process::ExitStatusExt;
        Output {
            code: output.status.code(),
            signal: output.status.signal(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs with `script` as `work/script.tsk`.
    fn run_script(&self, script: &str, args: &[&str]) -> Output {
        std::fs::write(self.work().join("script.tsk"), script).unwrap();
        let mut all: Vec<&str> = args.to_vec();
        all.push("script.tsk");
        self.run(&all)
    }
}

/// The lines of standard error without the sandbox's note about what this kernel lacks.
fn stderr_lines(output: &Output) -> Vec<&str> {
    output.stderr.lines().filter(|line| !line.contains("run with less protection on this system")).collect()
}

#[test]
fn a_sandboxed_plugin_cannot_write_into_the_document_on_standard_output() {
    let tusk = Tusk::new(&["escape"]);
    let grants = tusk.work_grants();
    let flags: Vec<&str> = grants.iter().map(String::as_str).collect();
    let output = tusk.run_script("x: escape_print(\"{\\\"x\\\": \\\"pwned\\\"}\\u{1b}[31m\")\n", &flags);
    assert_eq!(output.code, Some(0), "{output:?}");
    // Exactly the document: what the plugin printed went elsewhere.
    assert_eq!(output.stdout, "{\n  \"x\": \"printed\"\n}\n");
    // To standard error, marked with the plugin's name, the escape shown and not obeyed (its
    // standard output and standard error share one pipe, so both writes end up on one line).
    assert!(!output.stderr.contains('\u{1b}'), "a raw escape reached the terminal: {output:?}");
    assert_eq!(
        stderr_lines(&output),
        vec![r#"[plugin escape] {"x": "pwned"}\u{1b}[31m{"x": "pwned"}\u{1b}[31m"#],
        "{output:?}"
    );
}

#[test]
fn a_plugin_cannot_leave_a_process_behind() {
    let tusk = Tusk::new(&["escape"]);
    for detach in ["false", "true"] {
        let mut command = tusk.command(&tusk.work_grants().iter().map(String::as_str).collect::<Vec<_>>());
        command.args(["-e", &format!("escape_fork({detach})")]);
        let started = Instant::now();
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // As `tusk … | cat` does: read until every writer of the pipe is gone. A child left
        // behind would keep it open for the minute it sleeps.
        let mut stdout = String::new();
        child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "the output stayed open for {:?}", started.elapsed());
        assert_eq!((status.code(), stdout.as_str()), (Some(1), ""), "{stderr}");
        assert!(
            stderr.contains("escape_fork: cannot fork: Operation not permitted (os error 1)"),
            "detach {detach}: {stderr}"
        );
    }
}

#[test]
fn a_shutdown_that_never_returns_delays_the_exit_briefly_and_is_reported() {
    let tusk = Tusk::new(&["stuck"]);
    let started = Instant::now();
    let output = tusk.run(&["-e", "stuck_ok()"]);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!((output.code, output.stdout.as_str()), (Some(0), "true\n"), "{output:?}");
    assert_eq!(
        stderr_lines(&output),
        vec!["[stuck] error: plugin `stuck` did not shut down within 2s and was stopped"],
        "{output:?}"
    );
}

/// The files in `folder`, sorted.
fn files_in(folder: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn docs_and_check_grant_a_plugin_nothing_the_user_did_not() {
    let tusk = Tusk::new(&["nosy"]);
    std::fs::write(tusk.work().join("secret.txt"), "work secret").unwrap();
    std::fs::write(tusk.path("home/secret.txt"), "home secret").unwrap();
    let folder = tusk.path("plugins/nosy").display().to_string();
    for trusted in [false, true] {
        if trusted {
            // Trust runs it in-process for scripts; docs and check still start it sandboxed.
            tusk.trust(&["nosy"]);
        }
        for command in [
            ["plugin", "docs", "nosy"],
            ["plugin", "docs", &folder],
            ["plugin", "check", "nosy"],
            ["plugin", "check", &folder],
        ] {
            let output = tusk.run(&command);
            assert_eq!(output.code, Some(0), "{command:?}: {output:?}");
            assert!(!output.stdout.contains("secret") && !output.stderr.contains("secret"), "{command:?}: {output:?}");
            if command[1] == "docs" {
                // `initialize` ran (its summary is there) and read nothing.
                assert!(output.stdout.contains("\nLoot: []\n"), "{command:?}: {output:?}");
            } else {
                assert!(output.stdout.contains("\nnote    plugin `nosy` needs read access to "), "{output:?}");
            }
            assert_eq!(files_in(&tusk.work()), ["secret.txt"], "{command:?} (trusted: {trusted})");
            assert_eq!(files_in(&tusk.path("home")), ["secret.txt"], "{command:?} (trusted: {trusted})");
        }
    }
}

#[test]
fn what_the_kernel_lacks_of_the_sandbox_is_said_once() {
    let tusk = Tusk::new(&["keeper"]);
    let notes = |output: &Output| output.stderr.matches("sandboxed plugins run with less protection").count();
    let first = tusk.run(&["-e", "keeper_apply((x) => x + 1, 1)"]);
    assert_eq!((first.code, first.stdout.as_str()), (Some(0), "2\n"), "{first:?}");
    let second = tusk.run(&["-e", "keeper_apply((x) => x + 1, 1)"]);
    assert_eq!((second.code, second.stdout.as_str()), (Some(0), "2\n"), "{second:?}");
    assert_eq!(notes(&second), 0, "said again: {second:?}");
    if notes(&first) == 0 {
        eprintln!("this kernel enforces every sandbox layer: there was nothing to say");
    } else {
        assert!(first.stderr.contains("(said once; `tusk plugin info keeper` shows the sandbox)"), "{first:?}");
    }
}

#[test]
fn a_crash_in_a_trusted_plugin_says_which_plugin_it_was() {
    let tusk = Tusk::new(&["segfault", "abort"]);
    tusk.trust(&["segfault", "abort"]);
    for (expression, signal, line) in [
        ("@segfault()", 11, "tusk: plugin `segfault` crashed in @segfault (signal 11, SIGSEGV)"),
        ("@abort()", 6, "tusk: plugin `abort` crashed in @abort (signal 6, SIGABRT)"),
    ] {
        let output = tusk.run(&["-e", expression]);
        // The default action still ends the process, with the signal.
        assert_eq!((output.code, output.signal), (None, Some(signal)), "{output:?}");
        assert!(output.stderr.lines().any(|text| text == line), "{output:?}");
    }
}

#[test]
fn a_failure_deep_in_plugin_and_script_calls_names_each_once() {
    let tusk = Tusk::new(&["keeper"]);
    tusk.trust(&["keeper"]);
    let script = "rec = (n) => n > 0 ? keeper_apply(rec, n - 1) : int(\"bottom\")\nx: rec(10000)\n";
    let output = tusk.run_script(script, &["--max-call-depth", "100000", "--color", "never"]);
    assert_eq!(output.code, Some(1), "{output:?}");
    assert_eq!(
        output.stderr.lines().next(),
        Some("[R015] Error: keeper_apply: … 9,999 more calls of keeper_apply: int: \"bottom\" is not a number")
    );
    assert_eq!(output.stderr.matches("plugin `keeper`").count(), 1, "{}", output.stderr);
    assert!(output.stderr.len() < 2048, "{} bytes of error", output.stderr.len());
}

#[test]
fn a_trusted_plugin_stuck_in_shutdown_is_named() {
    let tusk = Tusk::new(&["stuck"]);
    tusk.trust(&["stuck"]);
    let mut child = tusk.command(&["-e", "stuck_ok()"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // In-process, its shutdown cannot be cut short: tusk says which plugin it waits for.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        line,
        "tusk: plugin `stuck` has not shut down after 2s and cannot be stopped (it runs in-process); waiting for it\n"
    );
}
