//! `@every`, `@after` and `@cancel` through the real `tusk` command: the script keeps running
//! after its document while a timer is pending, timers fire in order of their due times, an
//! error in a timer's function is reported with its location and the timer keeps running, a
//! cancelled timer never fires, SIGTERM stops a running loop with exit code 0, and `tusk
//! check` starts no timer.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tusk(dir: &std::path::Path, script: &str, args: &[&str]) -> Command {
    std::fs::write(dir.join("script.tsk"), script).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
    command
        .args(args)
        .arg("script.tsk")
        .current_dir(dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env_remove("TUSK_PLUGIN_PATH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(script: &str, args: &[&str]) -> (Output, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = tusk(dir.path(), script, args).output().unwrap();
    (output, started.elapsed())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_script_runs_until_its_timers_are_done() {
    let script = "ticker: @every(\"30ms\", () => print(\"tick\"))\n\
                  stop: @after(\"100ms\", () => @cancel(ticker))\n\
                  once: @after(\"10ms\", () => print(\"once\"))\n\
                  never: @after(\"50ms\", () => print(\"never\"))\n\
                  cancelled: @cancel(never)\n";
    let (output, elapsed) = run(script, &[]);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{errors}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\n  \"ticker\": \"<timer>\",\n  \"stop\": \"<timer>\",\n  \"once\": \"<timer>\",\n  \"never\": \"<timer>\",\n  \"cancelled\": true\n}\n"
    );
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.first(), Some(&"once"), "the earliest timer fires first: {errors}");
    assert_eq!(lines[1..], ["tick", "tick", "tick"], "{errors}");
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
}

#[test]
fn an_error_in_a_timer_is_reported_with_its_location_and_the_timer_goes_on() {
    let script = "ticks: @every(\"20ms\", t => \"x\" * 2)\n\
                  stop: @after(\"70ms\", () => @cancel(ticks))\n";
    let (output, _) = run(script, &[]);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{errors}");
    let reports = errors.matches("[R001] Error: cannot apply `*` to string and int").count();
    assert!((2..=4).contains(&reports), "the timer kept running: {errors}");
    assert!(errors.contains(",-[ script.tsk:1:28 ]"), "{errors}");
    assert!(errors.contains("in a timer's function (the timer keeps running)"), "{errors}");
}

#[test]
fn wrong_arguments_are_script_errors() {
    let (output, _) = run("t: @every(\"0s\", () => 1)\n", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("the interval must be longer than zero"), "{}", stderr(&output));
    let (output, _) = run("t: @after(\"soon\", () => 1)\n", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("invalid duration \"soon\""), "{}", stderr(&output));
    let (output, _) = run("t: @cancel(1)\n", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("argument 1 must be a timer (from @every or @after), not int"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sigterm_stops_a_running_loop_with_exit_code_0() {
    let dir = tempfile::tempdir().unwrap();
    let child = tusk(dir.path(), "ticker: @every(\"20ms\", () => print(\"tick\"))\n", &[]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{errors}");
    assert!(stopped.elapsed() < Duration::from_secs(5));
    assert!(errors.contains("tick\n"), "{errors}");
    // A tick already due when the signal came may still run in the grace period; no timer
    // fires after that one.
    let (_, after) = errors
        .split_once("stopping: running handlers get 5s to finish (press Ctrl-C again to quit at once)\n")
        .unwrap_or_else(|| panic!("no stopping line: {errors}"));
    assert!(after.is_empty() || after == "tick\n", "{errors}");
}

#[test]
fn check_starts_no_timer() {
    let (output, elapsed) = run("ticker: @every(\"10ms\", () => print(\"tick\"))\n", &["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("tick"));
    assert!(elapsed < Duration::from_secs(5));
}
