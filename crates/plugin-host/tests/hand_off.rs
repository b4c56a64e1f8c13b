//! The hand-off desk (ABI 1.4) across the sandbox boundary, with real TCP connections: a
//! connection one plugin deposits, another takes and serves, whichever of them runs in-process
//! and whichever in a sandboxed runner. The socket crosses as `SCM_RIGHTS` over the runner's
//! event channel; the bytes read ahead travel with it. The test is the connection's far end: it
//! listens, accepts what the depositing plugin connected, and talks to the plugin that took it.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use serde_json::json;
use support::TestHost;

/// Long enough never to fire on a working machine; only keeps a broken test from hanging.
const GUARD: Duration = Duration::from_secs(30);

/// The depositing plugin connects to the test's listener (sandboxed through the broker).
fn loopback(_: &std::path::Path) -> Vec<String> {
    vec!["--allow-net=127.0.0.1".to_string()]
}

/// `handoff_a` and `handoff_b`, those named in `sandboxed` in runners, the others in-process.
fn host(sandboxed: &[&str]) -> TestHost {
    let host = TestHost::mixed(&["handoff_a", "handoff_b"], loopback, sandboxed);
    assert!(host.setup.iter().all(|diagnostic| !diagnostic.is_error()), "{:?}", host.setup);
    host
}

fn ticket(host: &mut TestHost, expression: &str) -> u64 {
    let value = host.value(expression).unwrap_or_else(|failure| panic!("{expression}: {}", failure.message));
    value.as_u64().unwrap_or_else(|| panic!("{expression} gave {value}"))
}

fn message(host: &mut TestHost, expression: &str) -> String {
    host.value(expression).expect_err(expression).message
}

/// `from` deposits a connection to the test, `to` takes it and echoes; the test checks the
/// bytes read ahead came first, then its own came back, over the very connection it accepted.
fn round_trip(host: &mut TestHost, from: &str, to: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ticket = ticket(host, &format!("@{from}.deposit({port}, \"ahead:\")"));
    let (mut far_end, _) = listener.accept().unwrap();
    far_end.set_read_timeout(Some(GUARD)).unwrap();
    let taken = host.value(&format!("@{to}.echo({ticket})")).unwrap_or_else(|failure| panic!("{}", failure.message));
    // The taker's socket is connected to the test's listener: its peer is our own address.
    assert_eq!(taken, json!(format!("taken from 127.0.0.1:{port}")));
    far_end.write_all(b"hello over the hand-off\n").unwrap();
    let expected = b"ahead:hello over the hand-off\n";
    let mut echoed = vec![0u8; expected.len()];
    far_end.read_exact(&mut echoed).unwrap();
    assert_eq!(String::from_utf8_lossy(&echoed), String::from_utf8_lossy(expected));
    // Once the taker has it, no other copy keeps the connection open: when the test ends its
    // side, the taker's echo ends and closes, and the test sees the end of the stream. (A
    // copy left behind in the depositor or the host would keep it open, and the read block.)
    far_end.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    far_end.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    // The ticket was good once, whoever asks next.
    for taker in [from, to] {
        assert_eq!(
            message(host, &format!("@{taker}.take({ticket})")),
            format!("@{taker}.take: the connection of ticket {ticket} was taken already (a ticket is good once)")
        );
    }
}

#[test]
fn a_connection_deposited_in_process_is_taken_and_served_by_a_sandboxed_plugin() {
    let mut host = host(&["handoff_b"]);
    round_trip(&mut host, "handoff_a", "handoff_b");
}

#[test]
fn a_connection_deposited_by_a_sandboxed_plugin_is_taken_and_served_in_process() {
    let mut host = host(&["handoff_a"]);
    round_trip(&mut host, "handoff_a", "handoff_b");
}

#[test]
fn a_connection_passes_between_two_sandboxed_plugins() {
    let mut host = host(&["handoff_a", "handoff_b"]);
    round_trip(&mut host, "handoff_a", "handoff_b");
    // And back the other way, through the same runners.
    round_trip(&mut host, "handoff_b", "handoff_a");
}

/// A posted call's `done` runs on the runner's event thread, the one that reads the host's
/// answers: a take there must read its own answer rather than wait for itself.
#[test]
fn a_sandboxed_plugin_takes_a_connection_in_the_done_of_a_posted_call() {
    let mut host = host(&["handoff_b"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ticket = ticket(&mut host, &format!("@handoff_a.deposit({port}, \"later:\")"));
    let (mut far_end, _) = listener.accept().unwrap();
    far_end.set_read_timeout(Some(GUARD)).unwrap();
    assert_eq!(host.value(&format!("@handoff_b.echo_when(() => {ticket})")).unwrap(), json!("posted"));
    let end = host.runtime.run_events(Some(std::time::Instant::now() + GUARD));
    assert_eq!(end, tusk_eval::events::LoopEnd::Idle);
    assert_eq!(host.value("@handoff_b.last_error()").unwrap(), json!(null));
    far_end.write_all(b"ping\n").unwrap();
    let mut echoed = [0u8; 11];
    far_end.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"later:ping\n");
}

#[test]
fn a_sandboxed_plugin_gets_the_desks_refusals_word_for_word() {
    let mut host = host(&["handoff_b"]);
    assert_eq!(
        message(&mut host, "@handoff_b.take(123456789012)"),
        "@handoff_b.take: no connection was ever deposited under ticket 123456789012"
    );
    // The same words in-process.
    assert_eq!(
        message(&mut host, "@handoff_a.take(123456789012)"),
        "@handoff_a.take: no connection was ever deposited under ticket 123456789012"
    );
    // Only sockets are deposited: the runner checks before anything crosses.
    let pipe = message(&mut host, "@handoff_b.deposit_pipe()");
    assert!(pipe.starts_with("@handoff_b.deposit_pipe: descriptor ") && pipe.ends_with(" is not a socket"), "{pipe}");
    // The runner still works after the refusals.
    round_trip(&mut host, "handoff_a", "handoff_b");
}

#[test]
fn the_desk_holds_a_sandboxed_deposit_until_it_is_taken() {
    // The runner's copy is closed once the host has its own: while the connection waits on
    // the desk the far end sees no end of stream, and once the taker closes it, it does.
    let mut host = host(&["handoff_a"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ticket = ticket(&mut host, &format!("@handoff_a.deposit({port}, \"\")"));
    let (mut far_end, _) = listener.accept().unwrap();
    far_end.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let waiting = far_end.read(&mut [0u8; 1]).expect_err("the desk keeps the connection open");
    assert!(matches!(waiting.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{waiting}");
    assert_eq!(host.value(&format!("@handoff_b.take({ticket})")).unwrap(), json!("taken"));
    far_end.set_read_timeout(Some(GUARD)).unwrap();
    assert_eq!(far_end.read(&mut [0u8; 1]).unwrap(), 0);
}
