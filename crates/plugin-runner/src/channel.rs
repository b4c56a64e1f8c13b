//! The runner's end of the socket: framed messages in and out, with the idle timeout on reads
//! between calls (the socket is blocking otherwise: the host enforces call deadlines, and the
//! parent-death signal ends the runner if the host dies).

use std::io::{BufReader, ErrorKind};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tusk_plugin_boundary::poll::Spinner;
use tusk_plugin_wire::{ToHost, ToRunner, read_frame, write_frame};

/// What a read produced.
pub(crate) enum Received {
    Message(ToRunner),
    /// The host closed the socket (it exited or dropped the plugin).
    Closed,
    /// Nothing arrived within the timeout.
    TimedOut,
    /// A read error or bytes that are not a message.
    Broken(String),
}

pub(crate) struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    timeout: Option<Duration>,
    spinner: Spinner,
}

impl Channel {
    pub(crate) fn new(stream: UnixStream) -> std::io::Result<Channel> {
        let writer = stream.try_clone()?;
        Ok(Channel {
            reader: BufReader::with_capacity(64 * 1024, stream),
            writer,
            inbox: Vec::new(),
            outbox: Vec::new(),
            timeout: None,
            spinner: Spinner::default(),
        })
    }

    /// Sends a message; a host that is gone ends the runner (nothing is left to serve).
    pub(crate) fn send(&mut self, message: &ToHost) {
        if let Err(error) = write_frame(&mut self.writer, &mut self.outbox, |out| message.encode(out)) {
            if !matches!(error.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                eprintln!("tusk-plugin-runner: cannot write to the host: {error}");
            }
            std::process::exit(0);
        }
    }

    /// True when a message (or part of one, or the end) is waiting to be read.
    pub(crate) fn has_pending(&self) -> bool {
        !self.reader.buffer().is_empty() || tusk_plugin_boundary::poll::is_readable(self.reader.get_ref())
    }

    pub(crate) fn receive(&mut self, timeout: Option<Duration>) -> Received {
        if timeout != self.timeout {
            // Only when it changes: a `setsockopt` per message would cost a system call.
            if let Err(error) = self.reader.get_ref().set_read_timeout(timeout) {
                return Received::Broken(format!("cannot set the idle timeout: {error}"));
            }
            self.timeout = timeout;
        }
        // Either way the read follows: blocking when nothing came while spinning.
        let ready = !self.reader.buffer().is_empty() || self.spinner.spin_until_readable(self.reader.get_ref());
        let started = Instant::now();
        let read = read_frame(&mut self.reader, &mut self.inbox);
        if !ready {
            self.spinner.blocked_for(started.elapsed());
        }
        match read {
            Ok(false) => Received::Closed,
            Ok(true) => match ToRunner::decode(&self.inbox) {
                Ok(message) => Received::Message(message),
                Err(error) => Received::Broken(format!("invalid message from the host: {error}")),
            },
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Received::TimedOut,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => Received::Closed,
            Err(error) => Received::Broken(format!("cannot read from the host: {error}")),
        }
    }
}
