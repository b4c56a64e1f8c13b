//! The runner's end of the channel: framed messages in and out through the shared-memory
//! rings, with the idle timeout on reads between calls (no other deadline: the host enforces
//! call deadlines, and the parent-death signal ends the runner if the host dies). The socket
//! carries nothing after the preamble; its hang-up says that the host closed the channel.

use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tusk_plugin_boundary::poll::is_hung_up;
use tusk_plugin_boundary::ring::{ReadFailure, RingReceiver, RingSender, SharedRings, Side};
use tusk_plugin_wire::{ToHost, ToRunner, encode_frame};

/// How often a runner waiting for the host looks whether the host closed the channel (the
/// host kills its runners when it drops them, and their death signal fires when it dies:
/// this only matters for a host that closes the channel and leaves the runner be, so it may
/// take a while).
const HOST_GONE_CHECK: Duration = Duration::from_millis(500);

/// What a read produced.
pub(crate) enum Received {
    Message(ToRunner),
    /// The host closed the socket (it exited or dropped the plugin).
    Closed,
    /// Nothing arrived within the timeout.
    TimedOut,
    /// Bytes that are not a message.
    Broken(String),
}

pub(crate) struct Channel {
    socket: UnixStream,
    sender: RingSender,
    receiver: RingReceiver,
    outbox: Vec<u8>,
}

impl Channel {
    pub(crate) fn new(socket: UnixStream, rings: SharedRings) -> Channel {
        let (sender, receiver) = rings.split(Side::Runner);
        Channel { socket, sender, receiver, outbox: Vec::new() }
    }

    /// Sends a message; a host that is gone ends the runner (nothing is left to serve).
    pub(crate) fn send(&mut self, message: &ToHost) {
        let socket = &self.socket;
        let sent = encode_frame(&mut self.outbox, |out| message.encode(out))
            .and_then(|()| self.sender.send(&self.outbox, None, || is_hung_up(socket)));
        if let Err(error) = sent {
            if error.kind() != ErrorKind::BrokenPipe {
                eprintln!("tusk-plugin-runner: cannot write to the host: {error}");
            }
            std::process::exit(0);
        }
    }

    /// True when a message (or part of one) is waiting to be read.
    pub(crate) fn has_pending(&self) -> bool {
        self.receiver.has_pending()
    }

    pub(crate) fn receive(&mut self, timeout: Option<Duration>) -> Received {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        let socket = &self.socket;
        match self.receiver.receive(deadline, HOST_GONE_CHECK, || is_hung_up(socket)) {
            Ok(body) => match ToRunner::decode(body) {
                Ok(message) => Received::Message(message),
                Err(error) => Received::Broken(format!("invalid message from the host: {error}")),
            },
            Err(ReadFailure::Closed) => Received::Closed,
            Err(ReadFailure::TimedOut) => Received::TimedOut,
            Err(ReadFailure::Invalid(problem)) => Received::Broken(format!("cannot read from the host: {problem}")),
        }
    }
}
