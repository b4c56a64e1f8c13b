//! One runner process seen from the host: spawning it with its end of a socket pair as
//! standard input (the preamble hands it the shared-memory rings that carry the messages; the
//! runner's first bytes on it say which protocol it speaks; the socket then only tells either
//! end that the other is gone), framed messages read against one
//! deadline, a thread that forwards what the
//! runner writes to its standard output and standard error (to ours, marked with the plugin's
//! name, control characters made visible) and keeps the tail (to tell "out of memory" from other
//! aborts), and ending it: the process group is killed with SIGKILL, then the runner is reaped,
//! and its exit is put into words.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};

use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use tusk_plugin_boundary::fdpass;
use tusk_plugin_boundary::poll::is_hung_up;
use tusk_plugin_boundary::ring::{RingReceiver, RingSender, RingWaker, SharedRings, Side};
use tusk_plugin_wire::{HELLO_BYTES, PREAMBLE, ToHost, ToRunner, encode_frame, hello_version};

use tusk_plugin_catalog::permissions::PluginGrants;

/// What the runner's output said that matters for crash reports, and whether it closed.
#[derive(Default)]
struct Tail {
    /// The last bytes (kept across reads so that a marker split between two reads is found).
    bytes: Vec<u8>,
    /// The [`MARKERS`] seen so far (anywhere: a backtrace may follow the line).
    seen: Vec<&'static str>,
    closed: bool,
}

/// Lines of the Rust runtime that name a cause: the allocation-failure handler (memory limit)
/// and the stack-overflow handler, both of which then abort.
pub(crate) const MARKERS: [&str; 2] = ["memory allocation of", "has overflowed its stack"];

const TAIL_BYTES: usize = 4096;

/// What reading a message produced, when it did not produce one: nothing within the deadline,
/// the runner gone (exited, crashed, or closed its socket on purpose), or bytes that are not a
/// message.
pub(crate) use tusk_plugin_boundary::ring::ReadFailure;

/// Why the runner did not say which protocol it speaks.
pub(crate) enum NoHello {
    /// Nothing within the deadline.
    TimedOut,
    /// It closed the socket (ended) first.
    Closed,
    /// Bytes that are not a hello.
    Invalid,
}

/// A running runner process and its channel.
pub(crate) struct Process {
    child: Child,
    /// Carries nothing after the preamble: it hangs up when the runner is gone.
    socket: UnixStream,
    sender: RingSender,
    receiver: RingReceiver,
    /// How long a message may wait for the runner to make room for it.
    send_timeout: Duration,
    outbox: Vec<u8>,
    tail: Arc<(Mutex<Tail>, Condvar)>,
    exited: Option<ExitStatus>,
    /// The host's end of the event channel, until `take_events` hands it to its thread.
    events: Option<UnixStream>,
}

impl Process {
    /// Starts `runner` for `plugin`. The runner gets an empty environment (a plugin reads
    /// variables only through the host, which checks grants) and its own process group, so
    /// that killing it also kills anything it forked. Its standard output and standard error
    /// share one pipe, which a thread forwards to our standard error line by line, each line
    /// marked `[plugin NAME]`: nothing a plugin prints reaches our standard output (where the
    /// document goes).
    ///
    /// With `broker` (what the plugin may do, and how long a connection may take), the
    /// runner's network requests are served by a broker thread (see [`super::broker`]) over a
    /// socket pair whose runner end travels with the preamble. A message the runner leaves no
    /// room for within `send_timeout` fails to send.
    pub(crate) fn spawn(
        runner: &Path,
        plugin: &str,
        broker: Option<(PluginGrants, Duration)>,
        send_timeout: Duration,
    ) -> Result<Process, String> {
        let (host_end, runner_end) =
            UnixStream::pair().map_err(|error| format!("cannot create the runner's socket: {error}"))?;
        let (events, runner_events) =
            UnixStream::pair().map_err(|error| format!("cannot create the runner's event channel: {error}"))?;
        let rings =
            SharedRings::create().map_err(|error| format!("cannot create the runner's shared memory: {error}"))?;
        send_preamble(&host_end, plugin, &rings, &runner_events, broker)?;
        drop(runner_events);
        let (sender, receiver) = rings.split(Side::Host);
        let (output, output_writer) =
            std::io::pipe().map_err(|error| format!("cannot create the runner's output pipe: {error}"))?;
        let stdout_writer =
            output_writer.try_clone().map_err(|error| format!("cannot create the runner's output pipe: {error}"))?;
        let mut command = Command::new(runner);
        command
            .arg("--parent")
            .arg(std::process::id().to_string())
            .stdin(Stdio::from(OwnedFd::from(runner_end)))
            .stdout(stdout_writer)
            .stderr(output_writer)
            .env_clear()
            // glibc reserves 64 MiB of address space per malloc arena and thread; with an
            // address-space limit that would make threaded plugins run out of memory early.
            .env("MALLOC_ARENA_MAX", "2")
            .process_group(0);
        if let Some(backtrace) = std::env::var_os("RUST_BACKTRACE") {
            command.env("RUST_BACKTRACE", backtrace);
        }
        let mut child =
            command.spawn().map_err(|error| format!("cannot start the plugin runner {}: {error}", runner.display()))?;
        // The writing ends now live only in the runner: the pipe closes when it (and anything
        // it started) is gone.
        drop(command);
        let tail = Arc::new((Mutex::new(Tail::default()), Condvar::new()));
        let forwarded = tail.clone();
        let prefix = format!("[plugin {plugin}] ");
        let watched = host_end.try_clone().map(|socket| (socket, receiver.waker()));
        let spawned = std::thread::Builder::new()
            .name("tusk-runner-output".into())
            .spawn(move || forward(output, watched.ok(), &prefix, &forwarded));
        if spawned.is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot start the thread that reads the runner's output".into());
        }
        Ok(Process {
            child,
            socket: host_end,
            sender,
            receiver,
            send_timeout,
            outbox: Vec::new(),
            tail,
            exited: None,
            events: Some(events),
        })
    }

    /// The host's end of the event channel (once).
    pub(crate) fn take_events(&mut self) -> Option<UnixStream> {
        self.events.take()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long the runner's main thread (where calls run) has been runnable but waiting for a
    /// CPU since it started (the kernel's `run_delay`): time the machine's load took, not the
    /// plugin. The calling thread's own delay is left out: added to the runner's it can exceed
    /// the time that passed (both wait at once on a busy machine), and a deadline refunded more
    /// than it lasted never comes. `None` where the kernel does not say.
    pub(crate) fn scheduling_delay(&self) -> Option<Duration> {
        run_delay(&format!("/proc/{}/schedstat", self.child.id()))
    }

    /// Reads what the runner writes on its socket before anything else, the protocol version
    /// it speaks (see [`tusk_plugin_wire::runner_hello`]), waiting until `deadline` at most.
    pub(crate) fn read_hello(&mut self, deadline: Instant) -> Result<u32, NoHello> {
        let mut hello = [0u8; HELLO_BYTES];
        let mut read = 0;
        while read < HELLO_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoHello::TimedOut);
            }
            // Rounded up: a wait shorter than a millisecond must not become a busy loop.
            let wait = u16::try_from(left.as_millis()).unwrap_or(u16::MAX - 1) + 1;
            let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(wait)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(_) => return Err(NoHello::Closed),
            }
            match (&self.socket).read(&mut hello[read..]) {
                Ok(0) => return Err(NoHello::Closed),
                Ok(count) => read += count,
                Err(error) if matches!(error.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
                Err(_) => return Err(NoHello::Closed),
            }
        }
        hello_version(&hello).ok_or(NoHello::Invalid)
    }

    /// Sends a message (errors mean the runner is gone, stopped reading or corrupted the ring;
    /// the caller finds out which).
    pub(crate) fn send(&mut self, message: &ToRunner) -> std::io::Result<()> {
        encode_frame(&mut self.outbox, |out| message.encode(out))?;
        let socket = &self.socket;
        self.sender.send(&self.outbox, Some(Instant::now() + self.send_timeout), || is_hung_up(socket))
    }

    /// Sends several messages at once (pending object drops before a call).
    pub(crate) fn send_all(&mut self, messages: &[ToRunner]) -> std::io::Result<()> {
        let mut batch = Vec::new();
        for message in messages {
            encode_frame(&mut self.outbox, |out| message.encode(out))?;
            batch.extend_from_slice(&self.outbox);
        }
        let socket = &self.socket;
        self.sender.send(&batch, Some(Instant::now() + self.send_timeout), || is_hung_up(socket))
    }

    /// Reads one message, waiting at most `budget` in all: the deadline is one instant for
    /// every piece the message takes, so a runner that sends a frame a byte at a time cannot
    /// stretch it.
    pub(crate) fn receive(&mut self, budget: Duration) -> Result<ToHost, ReadFailure> {
        let socket = &self.socket;
        let body = self.receiver.receive(Some(Instant::now() + budget), GONE_CHECK, || is_hung_up(socket))?;
        ToHost::decode(body).map_err(|error| ReadFailure::Invalid(error.to_string()))
    }

    /// True when the runner has ended. Noticing it ends the rest of its process group and
    /// reaps the runner.
    pub(crate) fn has_exited(&mut self) -> bool {
        if self.exited.is_none() {
            // Looked at without reaping: until it is reaped, the runner's pid (which is its
            // group's id) cannot be reused, so the group kill below reaches only what the
            // runner left behind.
            let ended = waitid(
                Id::Pid(Pid::from_raw(self.child.id() as i32)),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
            );
            if !matches!(ended, Ok(WaitStatus::StillAlive)) {
                self.kill();
            }
        }
        self.exited.is_some()
    }

    /// Waits up to `grace` for the process to end by itself.
    pub(crate) fn wait_for_exit(&mut self, grace: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if self.has_exited() {
                return self.exited;
            }
            if start.elapsed() >= grace {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Kills the process group (whether or not the runner itself is still there: what it left
    /// behind goes too) and reaps the runner; returns how the runner ended.
    pub(crate) fn kill(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            let pid = Pid::from_raw(self.child.id() as i32);
            // The group first (anything the plugin forked), then the runner itself in case
            // it left the group. The runner is not reaped yet, so its pid is still its own.
            let _ = killpg(pid, Signal::SIGKILL);
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
            // What the runner wrote last is forwarded before its end is reported (and before
            // the host may exit).
            drop(self.output_closed());
        }
        self.exited
    }

    /// Waits (a moment at most) until the thread forwarding the runner's output has seen the
    /// pipe close and written everything.
    fn output_closed(&self) -> std::sync::MutexGuard<'_, Tail> {
        let (lock, closed) = &*self.tail;
        let guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (guard, _) = closed
            .wait_timeout_while(guard, Duration::from_secs(2), |tail| !tail.closed)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard
    }

    /// The [`MARKERS`] the runner wrote, once its output has closed (waiting at most a moment:
    /// a busy machine may be slow to run the thread that reads it).
    pub(crate) fn stderr_markers(&self) -> Vec<&'static str> {
        self.output_closed().seen.clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends the byte that comes before the first frame, with the rings' shared memory and the
/// runner's end of the event channel attached, and the runner's end of a new broker socket
/// when the plugin reaches the network through the host (starting the broker on the host's
/// end).
fn send_preamble(
    channel: &UnixStream,
    plugin: &str,
    rings: &SharedRings,
    events: &UnixStream,
    broker: Option<(PluginGrants, Duration)>,
) -> Result<(), String> {
    let failed = |error: std::io::Error| format!("cannot set up the channels of plugin `{plugin}`: {error}");
    let preamble = [PREAMBLE];
    let Some((grants, connect_timeout)) = broker else {
        return fdpass::send(channel, &preamble, &[rings.fd(), events.as_fd()]).map_err(failed);
    };
    let (host_end, runner_end) = UnixStream::pair().map_err(failed)?;
    fdpass::send(channel, &preamble, &[rings.fd(), events.as_fd(), runner_end.as_fd()]).map_err(failed)?;
    super::broker::start(host_end, grants, connect_timeout).map_err(failed)
}

/// How often a wait for the runner looks whether it is gone, in case the output thread has not
/// said so yet (it wakes the wait as soon as the channel's socket hangs up).
const GONE_CHECK: Duration = Duration::from_millis(100);

/// Copies the runner's output to our standard error, one line at a time, each marked with
/// `prefix` and with control characters and terminal escapes shown as text (a plugin must not
/// drive the user's terminal), and keeps the last bytes for crash reports. Meanwhile it
/// watches the channel's socket: when it hangs up (the runner is gone), the host's wait for a
/// message is woken at once, so that a wait sleeping on the ring needs no frequent wake-ups
/// to notice a crash.
fn forward(
    mut output: std::io::PipeReader,
    mut watched: Option<(UnixStream, RingWaker)>,
    prefix: &str,
    tail: &(Mutex<Tail>, Condvar),
) {
    let mut buffer = [0u8; 4096];
    let mut line = Vec::new();
    loop {
        if let Some((socket, waker)) = &watched {
            let mut fds =
                [PollFd::new(output.as_fd(), PollFlags::POLLIN), PollFd::new(socket.as_fd(), PollFlags::empty())];
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            let hung_up = fds[1].revents().is_some_and(|events| !events.is_empty());
            let output_ready = fds[0].revents().is_some_and(|events| !events.is_empty());
            if hung_up {
                waker.wake();
                watched = None;
            }
            if !output_ready {
                continue;
            }
        }
        let read = match output.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        for &byte in &buffer[..read] {
            if byte == b'\n' || line.len() >= LINE_LIMIT {
                write_line(prefix, &line);
                line.clear();
            }
            if byte != b'\n' {
                line.push(byte);
            }
        }
        let mut guard = tail.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.bytes.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&guard.bytes).into_owned();
        for marker in MARKERS {
            if !guard.seen.contains(&marker) && text.contains(marker) {
                guard.seen.push(marker);
            }
        }
        if guard.bytes.len() > TAIL_BYTES {
            let excess = guard.bytes.len() - TAIL_BYTES;
            guard.bytes.drain(..excess);
        }
    }
    if !line.is_empty() {
        write_line(prefix, &line);
    }
    tail.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).closed = true;
    tail.1.notify_all();
}

/// A line longer than this is forwarded in pieces (each marked).
const LINE_LIMIT: usize = 4096;

fn write_line(prefix: &str, line: &[u8]) {
    let text = format!("{prefix}{}\n", neutralise(&String::from_utf8_lossy(line)));
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// `text` with every control character (C0, DEL, C1; a tab stays) written as `\u{1b}`, so that
/// escape sequences are shown rather than obeyed.
fn run_delay(path: &str) -> Option<Duration> {
    parse_run_delay(&std::fs::read_to_string(path).ok()?)
}

/// The second field of a `schedstat` line (time on a CPU, time waiting for one, time slices,
/// in nanoseconds).
fn parse_run_delay(line: &str) -> Option<Duration> {
    line.split_ascii_whitespace().nth(1)?.parse().ok().map(Duration::from_nanos)
}

pub(crate) fn neutralise(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// The signal's name (`SIGSEGV`), or its number.
pub(crate) fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map(|signal| signal.as_str().to_string()).unwrap_or_else(|_| format!("signal {signal}"))
}

/// How the runner ended, from its exit status and the tail of its standard error.
pub(crate) enum Ending {
    Signal(i32),
    Code(i32),
}

pub(crate) fn ending(status: ExitStatus) -> Ending {
    match status.signal() {
        Some(signal) => Ending::Signal(signal),
        None => Ending::Code(status.code().unwrap_or(-1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_delay_is_the_second_schedstat_field() {
        assert_eq!(parse_run_delay("230917879 46738160 414\n"), Some(Duration::from_nanos(46_738_160)));
        assert_eq!(parse_run_delay("0 0 1"), Some(Duration::ZERO));
        assert_eq!(parse_run_delay("12"), None);
        assert_eq!(parse_run_delay("12 -3 1"), None);
        assert_eq!(parse_run_delay(""), None);
    }
}
