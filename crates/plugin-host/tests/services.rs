//! Long-lived plugins, in-process and sandboxed alike: a plugin's thread calls script functions
//! it retained, the host runs them on the interpreter's thread in order and hands back values
//! and errors, handler errors are reported with their location and do not stop the service,
//! retained functions are released, the loop ends with the last service, and through the
//! `tusk` command SIGTERM stops a service gracefully (the running handler finishes, the
//! plugin's `shutdown` runs, exit code 0).

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Mode, TestHost};
use tusk_eval::events::LoopEnd;

fn host(mode: Mode) -> TestHost {
    match mode {
        Mode::InProcess => TestHost::new(&["events"], &[]),
        Mode::Sandboxed => TestHost::sandboxed(&["events"], |_| Vec::new(), |_| {}),
    }
}

/// Runs the loop until it is idle (bounded: a failure must not hang the test).
fn serve(host: &mut TestHost) -> LoopEnd {
    host.runtime.run_events(Some(Instant::now() + Duration::from_secs(30)))
}

fn log(host: &mut TestHost) -> serde_json::Value {
    host.value("@events.log()").unwrap_or_else(|failure| panic!("{}", failure.message))
}

fn values_come_back_in_order(mode: Mode) {
    let mut host = host(mode);
    host.eval("factor: 10\nstarted: @events.count(3, n => n * factor)\n").unwrap();
    assert_eq!(serve(&mut host), LoopEnd::Idle, "the loop ends with the last service");
    assert_eq!(log(&mut host), json!(["1 -> 10", "2 -> 20", "3 -> 30"]));
    assert_eq!(host.runtime.events().retained_count(), 0, "the thread's handle was released");
}

fn posts_run_in_the_order_they_were_posted(mode: Mode) {
    let mut host = host(mode);
    host.eval("started: @events.burst(200, n => \"#${n}\")\n").unwrap();
    assert_eq!(serve(&mut host), LoopEnd::Idle);
    let expected: Vec<String> = (1..=200).map(|n| format!("{n} -> #{n}")).collect();
    assert_eq!(log(&mut host), json!(expected));
}

fn a_handler_error_is_reported_and_the_service_goes_on(mode: Mode) {
    let mut host = host(mode);
    host.eval("started: @events.count(3, n => n == 2 ? \"x\" * n : n)\n").unwrap();
    assert_eq!(serve(&mut host), LoopEnd::Idle);
    assert_eq!(
        log(&mut host),
        json!(["1 -> 1", "2 -> error: test.tsk:1:41: cannot apply `*` to string and int", "3 -> 3"])
    );
    let reported = host.runtime.events().take_reported();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].message, "cannot apply `*` to string and int");
    let location = reported[0].primary.as_ref().expect("a location").location;
    assert_eq!(host.runtime.sources().describe(location), "test.tsk:1:41");
    assert!(
        reported[0]
            .notes
            .iter()
            .any(|note| note == "in a script function plugin `events` called from its service (the service goes on)"),
        "{:?}",
        reported[0].notes
    );
}

fn byte_strings_cross_posted_calls_intact(mode: Mode) {
    let mut host = host(mode);
    host.eval("started: @events.bytes((b, o, t) => [b, hex(b), o, t, bytes(\"hi\")])\n").unwrap();
    assert_eq!(serve(&mut host), LoopEnd::Idle);
    // `hex(b)` shows the function got a byte string, not its base64 text; the text `AP8B`
    // stays text both ways.
    assert_eq!(
        log(&mut host),
        json!(["Ok(Array([Bytes([0, 255, 1]), String(\"00ff01\"), Object([(\"a\\\"b/[0]\", Bytes([]))]), \
             String(\"AP8B\"), Bytes([104, 105])]))"])
    );
}

fn retained_functions_are_released(mode: Mode) {
    let mut host = host(mode);
    assert_eq!(host.value("@events.retain(x => x)").unwrap(), json!(true));
    // Released from the plugin (sandboxed: over the event channel, so it may take a moment);
    // the value goes on the interpreter's thread.
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.runtime.events().retained_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(host.runtime.events().retained_count(), 0);
}

fn the_host_thread_cannot_wait_for_itself(mode: Mode) {
    let mut host = host(mode);
    let failure = host.value("@events.call_here(() => 1)").unwrap_err();
    assert!(
        failure
            .message
            .contains("RetainedFunction::call waits for the interpreter's thread, so it cannot be used on it"),
        "{}",
        failure.message
    );
}

fn only_functions_are_retained(mode: Mode) {
    let mut host = host(mode);
    let failure = host.value("@events.count(1, 5)").unwrap_err();
    assert!(failure.message.contains("expected a function, not int"), "{}", failure.message);
}

/// The time from a plugin thread's `RetainedFunction::call` to its result, with an idle loop
/// (printed with `--nocapture`; bench/README.md has the figures of a release build).
fn post_to_result_latency(mode: Mode) {
    let mut host = host(mode);
    host.eval("started: @events.time(2000, n => n + 1)\n").unwrap();
    assert_eq!(serve(&mut host), LoopEnd::Idle);
    let log = log(&mut host);
    let line = log[0].as_str().expect("a latency line");
    println!("post-to-result latency ({mode:?}): {line}");
    let p50: f64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("p50");
    // A figure, not a target: timings are checked in bench/, never asserted in tests.
    assert!(p50.is_finite() && p50 > 0.0, "{line}");
}

#[test]
fn in_process_post_to_result_latency() {
    post_to_result_latency(Mode::InProcess);
}

#[test]
fn sandboxed_post_to_result_latency() {
    post_to_result_latency(Mode::Sandboxed);
}

#[test]
fn in_process_values_come_back_in_order() {
    values_come_back_in_order(Mode::InProcess);
}

#[test]
fn in_process_posts_run_in_the_order_they_were_posted() {
    posts_run_in_the_order_they_were_posted(Mode::InProcess);
}

#[test]
fn in_process_a_handler_error_is_reported_and_the_service_goes_on() {
    a_handler_error_is_reported_and_the_service_goes_on(Mode::InProcess);
}

#[test]
fn in_process_byte_strings_cross_posted_calls_intact() {
    byte_strings_cross_posted_calls_intact(Mode::InProcess);
}

#[test]
fn in_process_retained_functions_are_released() {
    retained_functions_are_released(Mode::InProcess);
}

#[test]
fn in_process_the_host_thread_cannot_wait_for_itself() {
    the_host_thread_cannot_wait_for_itself(Mode::InProcess);
}

#[test]
fn in_process_only_functions_are_retained() {
    only_functions_are_retained(Mode::InProcess);
}

#[test]
fn sandboxed_values_come_back_in_order() {
    values_come_back_in_order(Mode::Sandboxed);
}

#[test]
fn sandboxed_posts_run_in_the_order_they_were_posted() {
    posts_run_in_the_order_they_were_posted(Mode::Sandboxed);
}

#[test]
fn sandboxed_a_handler_error_is_reported_and_the_service_goes_on() {
    a_handler_error_is_reported_and_the_service_goes_on(Mode::Sandboxed);
}

#[test]
fn sandboxed_byte_strings_cross_posted_calls_intact() {
    byte_strings_cross_posted_calls_intact(Mode::Sandboxed);
}

#[test]
fn sandboxed_retained_functions_are_released() {
    retained_functions_are_released(Mode::Sandboxed);
}

#[test]
fn sandboxed_the_host_thread_cannot_wait_for_itself() {
    the_host_thread_cannot_wait_for_itself(Mode::Sandboxed);
}

#[test]
fn sandboxed_only_functions_are_retained() {
    only_functions_are_retained(Mode::Sandboxed);
}

/// A runner that dies takes its services and retained functions with it: the loop does not
/// wait for a dead plugin, and nothing it held stays alive.
#[test]
fn sandboxed_a_runner_that_dies_ends_its_services_and_releases_its_functions() {
    let mut host = host(Mode::Sandboxed);
    host.eval("held: @events.hold(\"doomed\")\nkept: @events.keep(x => x)\n").unwrap();
    assert_eq!(host.runtime.events().retained_count(), 1);
    assert_eq!(host.runtime.event_sender().services().len(), 1);
    let failure = host.value("@events.exit()").unwrap_err();
    assert!(failure.message.contains("events"), "{}", failure.message);
    assert_eq!(serve(&mut host), LoopEnd::Idle, "the dead runner's service ended");
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.runtime.events().retained_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(host.runtime.events().retained_count(), 0);
}

/// A home for `tusk` with the fixture installed (trusted or not).
struct Tusk {
    root: tempfile::TempDir,
}

impl Tusk {
    fn new(mode: Mode) -> Tusk {
        support::tusk();
        let root = tempfile::tempdir().unwrap();
        for dir in ["work", "plugins", "home", "config/tusk", "cache", "data"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let tusk = Tusk { root };
        support::install(&tusk.path("plugins"), "events");
        if mode == Mode::InProcess {
            std::fs::write(tusk.path("config/tusk/grants.toml"), "[events]\ntrusted = true\n").unwrap();
        }
        tusk
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().canonicalize().unwrap().join(relative)
    }

    fn command(&self, script: &str) -> Command {
        std::fs::write(self.path("work/script.tsk"), script).unwrap();
        let mut command = Command::new(support::tusk());
        command
            .arg("script.tsk")
            .current_dir(self.path("work"))
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("TUSK_PLUGIN_PATH", self.path("plugins"))
            .env("TUSK_PLUGIN_RUNNER", support::runner())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

fn tusk_exits_when_the_last_service_ends(mode: Mode) {
    let tusk = Tusk::new(mode);
    let started = Instant::now();
    let output = tusk.command("done: @events.count(3, n => print(\"handled ${n}\"))\n").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "{\n  \"done\": null\n}\n");
    let handled: Vec<&str> = stderr.lines().filter(|line| line.starts_with("handled")).collect();
    assert_eq!(handled, ["handled 1", "handled 2", "handled 3"], "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// SIGTERM while a slow handler runs: the handler finishes, the next posted call is not
/// started after the stop (the service refuses new work), the plugin's `shutdown` runs and
/// tusk exits with 0.
fn sigterm_stops_gracefully(mode: Mode) {
    let tusk = Tusk::new(mode);
    let script = "held: @events.hold(\"forever\")\n\
                  slow: @events.count(2, n => [print(\"started ${n}\"), \
                  print(\"finished ${n} after ${@events.sleep(600)}ms\")])\n";
    let mut child = tusk.command(script).spawn().unwrap();
    // The signal must reach tusk while the first handler runs: earlier, while the script is
    // still evaluated (slow under load, and slower sandboxed), it is an interrupt (exit 130).
    let (lines_sender, lines) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            let _ = lines_sender.send(line.clone());
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == "started 1" => break,
            Ok(_) => {}
            Err(error) => {
                let _ = child.kill();
                panic!("the first handler did not start ({error}): {}", reader.join().unwrap());
            }
        }
    }
    let stopped = Instant::now();
    nix_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    let text = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(stopped.elapsed() < Duration::from_secs(5), "took {:?}: {text}", stopped.elapsed());
    assert!(text.contains("stopping: running handlers get 5s to finish"), "{text}");
    assert!(text.contains("finished 1 after 600ms"), "the running handler finished: {text}");
    assert!(!text.contains("started 2"), "no handler starts after the stop: {text}");
    assert!(text.contains("events: shutdown (1 held services end)"), "the plugin was shut down: {text}");
}

/// Sends a signal with the `kill` command (the tests link no signal crate).
fn nix_kill(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

#[test]
fn in_process_tusk_exits_when_the_last_service_ends() {
    tusk_exits_when_the_last_service_ends(Mode::InProcess);
}

#[test]
fn sandboxed_tusk_exits_when_the_last_service_ends() {
    tusk_exits_when_the_last_service_ends(Mode::Sandboxed);
}

#[test]
fn in_process_sigterm_stops_gracefully() {
    sigterm_stops_gracefully(Mode::InProcess);
}

#[test]
fn sandboxed_sigterm_stops_gracefully() {
    sigterm_stops_gracefully(Mode::Sandboxed);
}
