//! One runner process seen from the host: spawning it with its end of a socket pair as
//! standard input, framed messages with a read deadline, a thread that forwards its standard
//! error and keeps the tail (to tell "out of memory" from other aborts), and ending it: the
//! process group is killed with SIGKILL, then reaped, and its exit is put into words.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tusk_plugin_wire::{ToHost, ToRunner, read_frame, write_frame};

/// What the runner's standard error said that matters for crash reports, and whether it closed.
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

/// What reading a message produced, when it did not produce one.
pub(crate) enum ReadFailure {
    /// Nothing within the deadline.
    TimedOut,
    /// The runner closed the channel (exited, crashed, or closed it on purpose).
    Closed,
    /// Bytes that are not a message, or a read error.
    Invalid(String),
}

/// A running runner process and its channel.
pub(crate) struct Process {
    child: Child,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    timeout: Option<Duration>,
    tail: Arc<(Mutex<Tail>, Condvar)>,
    exited: Option<ExitStatus>,
}

impl Process {
    /// Starts `runner`. The runner gets an empty environment (a plugin reads variables only
    /// through the host, which checks grants) and its own process group, so that killing it
    /// also kills anything it forked.
    pub(crate) fn spawn(runner: &Path) -> Result<Process, String> {
        let (host_end, runner_end) =
            UnixStream::pair().map_err(|error| format!("cannot create the runner's socket: {error}"))?;
        let mut command = Command::new(runner);
        command
            .arg("--parent")
            .arg(std::process::id().to_string())
            .stdin(Stdio::from(OwnedFd::from(runner_end)))
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
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
        let tail = Arc::new((Mutex::new(Tail::default()), Condvar::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            let spawned =
                std::thread::Builder::new().name("tusk-runner-stderr".into()).spawn(move || forward(stderr, &tail));
            if spawned.is_err() {
                let _ = child.kill();
                let _ = child.wait();
                return Err("cannot start the thread that reads the runner's standard error".into());
            }
        }
        let writer = host_end.try_clone().map_err(|error| format!("cannot use the runner's socket: {error}"))?;
        Ok(Process {
            child,
            reader: BufReader::with_capacity(64 * 1024, host_end),
            writer,
            inbox: Vec::new(),
            outbox: Vec::new(),
            timeout: None,
            tail,
            exited: None,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a message (write errors mean the runner is gone; the caller finds out why).
    pub(crate) fn send(&mut self, message: &ToRunner) -> std::io::Result<()> {
        write_frame(&mut self.writer, &mut self.outbox, |out| message.encode(out))
    }

    /// Sends several messages with one write (pending object drops before a call).
    pub(crate) fn send_all(&mut self, messages: &[ToRunner]) -> std::io::Result<()> {
        let mut batch = Vec::new();
        for message in messages {
            write_frame(&mut batch, &mut self.outbox, |out| message.encode(out))?;
        }
        self.writer.write_all(&batch)
    }

    /// Reads one message, waiting at most `deadline`.
    pub(crate) fn receive(&mut self, deadline: Duration) -> Result<ToHost, ReadFailure> {
        // A zero timeout means "block forever" to the socket; keep at least a millisecond.
        let deadline = deadline.max(Duration::from_millis(1));
        // Resetting the timeout costs a system call; only do it when the deadline moved by
        // more than a little (a call that gets its answer at once never resets it).
        let stale = match self.timeout {
            Some(current) => current > deadline + deadline / 16 || current + current / 16 < deadline,
            None => true,
        };
        if stale {
            self.reader
                .get_ref()
                .set_read_timeout(Some(deadline))
                .map_err(|error| ReadFailure::Invalid(format!("cannot set the read deadline: {error}")))?;
            self.timeout = Some(deadline);
        }
        if self.reader.buffer().is_empty() {
            spin_until_readable(self.reader.get_ref());
        }
        match read_frame(&mut self.reader, &mut self.inbox) {
            Ok(true) => ToHost::decode(&self.inbox).map_err(|error| ReadFailure::Invalid(error.to_string())),
            Ok(false) => Err(ReadFailure::Closed),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(ReadFailure::TimedOut)
            }
            Err(error) if matches!(error.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => {
                Err(ReadFailure::Closed)
            }
            Err(error) => Err(ReadFailure::Invalid(error.to_string())),
        }
    }

    /// True when the process has ended (it is reaped then).
    pub(crate) fn has_exited(&mut self) -> bool {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
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

    /// Kills the process group and reaps the runner; returns how it ended.
    pub(crate) fn kill(&mut self) -> Option<ExitStatus> {
        if !self.has_exited() {
            let pid = self.child.id() as i32;
            // The group first (anything the plugin forked), then the runner itself in case
            // it left the group.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
        self.exited
    }

    /// The [`MARKERS`] the runner wrote to standard error, once that has closed (waiting at
    /// most a moment: a grandchild may keep it open, and a busy machine may be slow to run the
    /// thread that reads it).
    pub(crate) fn stderr_markers(&self) -> Vec<&'static str> {
        let (lock, closed) = &*self.tail;
        let guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (guard, _) = closed
            .wait_timeout_while(guard, Duration::from_secs(2), |tail| !tail.closed)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.seen.clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies the runner's standard error to ours (a plugin's messages show up where they would
/// in-process) and keeps the last bytes.
fn forward(mut stderr: impl Read, tail: &(Mutex<Tail>, Condvar)) {
    let mut buffer = [0u8; 4096];
    loop {
        let read = match stderr.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let _ = std::io::stderr().write_all(&buffer[..read]);
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
    tail.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).closed = true;
    tail.1.notify_all();
}

/// How long a reader polls before it blocks. A call's answer usually comes within a few
/// microseconds; blocking instead costs a wake-up of the sleeping thread, which on a virtual
/// machine's other CPU took about 25 µs (two per round trip: p50 57 µs unpinned, 6.5 µs with
/// host and runner on one CPU).
const SPIN: Duration = Duration::from_micros(50);

/// Polls the socket without blocking until it has data or [`SPIN`] has passed.
fn spin_until_readable(stream: &UnixStream) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let started = Instant::now();
    loop {
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|ready| ready > 0) || started.elapsed() >= SPIN {
            return;
        }
        std::hint::spin_loop();
    }
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
