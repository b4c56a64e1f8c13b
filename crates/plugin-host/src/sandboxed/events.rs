//! Long-lived sandboxed plugins, the host's half of the event channel (see
//! `tusk_plugin_wire::EventToHost`): one thread per runner reads what the plugin's threads
//! send and turns it into work for the interpreter's event loop; the answers go back on the
//! same channel, written from whichever thread has them (one frame at a time, under a lock).
//! When the runner goes away (it crashed, was stopped, or stopped when idle) the services it
//! started end with it, so a dead runner never keeps `tusk` running, and the functions it
//! retained are released (its handles died with it).
//!
//! The same thread serves the hand-off desk for the runner (ABI 1.4): a deposit's socket comes
//! attached to its frame and goes on the process's desk, a take's leaves attached to the
//! answer. Neither needs the interpreter, so both are answered here at once, from any of the
//! plugin's threads, with or without an event loop.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use tusk_eval::CallContext;
use tusk_plugin_boundary::fdpass::{self, Receiver};
use tusk_plugin_hostapi::sockets;
use tusk_plugin_wire::{EventToHost, EventToRunner, PostFailure, encode_frame, read_frame};

use super::convert::Converter;
use crate::events::PluginEvents;

/// The most sockets one runner may have waiting on the hand-off desk at once: each is a
/// descriptor of this process, and a hostile runner must not exhaust them.
pub(crate) const MAX_WAITING_DEPOSITS: usize = 256;

/// How many tickets that were never issued one runner may present before its takes are
/// refused: tickets carry random bits so that they cannot be guessed, and this keeps a hostile
/// plugin from trying its way through them.
pub(crate) const MAX_UNKNOWN_TICKETS: usize = 64;

/// The writing side of a runner's event channel.
#[derive(Clone)]
struct Writer(Arc<Mutex<(UnixStream, Vec<u8>)>>);

impl Writer {
    /// Sends `message`, with `socket` attached when the message carries one; false when the
    /// runner is gone (its reader thread ends its services).
    fn send_with(&self, message: &EventToRunner, socket: Option<&OwnedFd>) -> bool {
        let mut writer = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (stream, buffer) = &mut *writer;
        if encode_frame(buffer, |out| message.encode(out)).is_err() {
            return false;
        }
        let fds: Vec<_> = socket.iter().map(|socket| socket.as_fd()).collect();
        fdpass::send(stream, buffer, &fds).is_ok()
    }

    fn send(&self, message: &EventToRunner) -> bool {
        self.send_with(message, None)
    }
}

/// The functions one runner retained (ids of the loop's table).
#[derive(Clone, Default)]
pub(crate) struct Retained(Arc<Mutex<Vec<u64>>>);

/// Starts the thread that serves a runner's event channel; `events` is the engine's loop, when
/// it has one (the hand-off desk is served without).
pub(crate) fn start(
    channel: UnixStream,
    plugin: &str,
    events: Option<PluginEvents>,
    retained: Retained,
) -> Result<(), String> {
    let writer = channel.try_clone().map_err(|error| format!("cannot use the runner's event channel: {error}"))?;
    let writer = Writer(Arc::new(Mutex::new((writer, Vec::new()))));
    std::thread::Builder::new()
        .name(format!("tusk-events-{plugin}"))
        .spawn(move || {
            serve(&channel, events.as_ref(), &writer, &retained);
            let ids = std::mem::take(&mut *retained.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            if let Some(events) = &events {
                for id in ids {
                    events.sender.release(&events.plugin, id);
                }
            }
        })
        .map(|_| ())
        .map_err(|error| format!("cannot start the thread of the runner's event channel: {error}"))
}

fn serve(channel: &UnixStream, events: Option<&PluginEvents>, writer: &Writer, retained: &Retained) {
    // The runner's service ids, and the loop's.
    let mut services: HashMap<u64, u64> = HashMap::new();
    // Tickets of the sockets this runner deposited (pruned as they are taken).
    let mut deposited: Vec<u64> = Vec::new();
    // Takes of tickets that were never issued.
    let mut unknown = 0usize;
    let mut buffer = Vec::new();
    // A frame carries one descriptor at most (a deposit's); more are closed, and end the channel.
    let mut reader = Receiver::new(channel, 1);
    while let Ok(true) = read_frame(&mut reader, &mut buffer) {
        let mut fds = reader.descriptors();
        // A runner that sends nonsense is cut off here (descriptors it sent are closed with
        // `fds`); its calls on the main channel fail by their own deadlines and checks.
        let Ok(message) = EventToHost::decode(&buffer) else { break };
        if fds.len() != message.descriptors() {
            break;
        }
        match message {
            EventToHost::Post { id, function, args_json } => {
                let answer = writer.clone();
                let reply = Box::new(move |result: Result<String, tusk_plugin_hostapi::PostFailure>| {
                    let result = result.map_err(|error| PostFailure { script: error.script, message: error.message });
                    answer.send(&EventToRunner::PostDone { id, result });
                });
                let refused = match events {
                    Some(events) => {
                        events.post(function, args_json, reply).err().map(|_| tusk_eval::events::SHUTTING_DOWN)
                    }
                    None => Some(crate::ffi::NO_LOOP),
                };
                if let Some(why) = refused {
                    let failure = PostFailure { script: false, message: why.to_string() };
                    writer.send(&EventToRunner::PostDone { id, result: Err(failure) });
                }
            }
            EventToHost::StartService { id, name } => {
                let result = match events {
                    Some(events) => events.sender.start_service(&events.plugin, &name).map(|service| {
                        services.insert(id, service);
                    }),
                    None => Err(crate::ffi::NO_LOOP.to_string()),
                };
                writer.send(&EventToRunner::ServiceStarted { id, result });
            }
            EventToHost::EndService { id } => {
                if let (Some(service), Some(events)) = (services.remove(&id), events) {
                    events.sender.end_service(service);
                }
            }
            EventToHost::Release { function } => {
                retained.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).retain(|id| *id != function);
                if let Some(events) = events {
                    events.sender.release(&events.plugin, function);
                }
            }
            EventToHost::Deposit { id, prefix } => {
                let socket = fds.pop().expect("a deposit's descriptor was counted");
                let result = deposit(socket, prefix, &mut deposited);
                let ticket = result.as_ref().ok().copied();
                if !writer.send(&EventToRunner::Deposited { id, result })
                    && let Some(ticket) = ticket
                {
                    // Nobody will ever know the ticket: close the socket now.
                    drop(sockets::take(ticket));
                }
            }
            EventToHost::Take { id, ticket } => {
                let taken = if unknown >= MAX_UNKNOWN_TICKETS {
                    Err(format!(
                        "this plugin presented {unknown} tickets that were never issued: it may take no more \
                         connections (a ticket is handed over, not guessed)"
                    ))
                } else {
                    sockets::take_or_why(ticket).map_err(|(missing, message)| {
                        unknown += usize::from(missing == sockets::Missing::NeverIssued);
                        message
                    })
                };
                match taken {
                    // The runner gets a copy; ours closes here (a runner gone by now loses it).
                    Ok((socket, prefix)) => {
                        writer.send_with(&EventToRunner::Taken { id, result: Ok(prefix) }, Some(&socket));
                    }
                    Err(message) => {
                        writer.send(&EventToRunner::Taken { id, result: Err(message) });
                    }
                }
            }
        }
    }
    if let Some(events) = events {
        for (_, service) in services {
            events.sender.end_service(service);
        }
    }
}

/// Puts a socket a runner sent on the desk, once it is found to be one and the runner has
/// room; a socket refused is closed here (the runner still has its own copy).
fn deposit(socket: OwnedFd, prefix: Vec<u8>, deposited: &mut Vec<u64>) -> Result<u64, String> {
    let raw = std::os::fd::AsRawFd::as_raw_fd(&socket);
    sockets::check_socket(i64::from(raw))?;
    deposited.retain(|ticket| sockets::is_waiting(*ticket));
    if deposited.len() >= MAX_WAITING_DEPOSITS {
        return Err(format!(
            "{MAX_WAITING_DEPOSITS} sockets of this plugin wait on the hand-off desk already: take some first"
        ));
    }
    let ticket = sockets::deposit(socket, prefix);
    deposited.push(ticket);
    Ok(ticket)
}

/// Retains the script function `function` of the call in progress (the runner's
/// `Request::Retain`): the reply is the retained function's id.
pub(crate) fn retain(
    plugin: &str,
    converter: &Converter<'_>,
    function: u64,
    ctx: Option<&mut CallContext<'_, '_>>,
    retained: &Retained,
) -> Result<Option<String>, String> {
    let Some(ctx) = ctx else { return Err("functions can only be retained during a call into the plugin".into()) };
    let value = converter.value(tusk_plugin_wire::WireValue::Function(function))?;
    if !matches!(value, tusk_eval::Value::Func(_)) {
        return Err("only a script function can be retained".into());
    }
    let site = ctx.call_site();
    let id = ctx.runtime().events().retain(plugin, value, site);
    retained.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(id);
    Ok(Some(id.to_string()))
}

/// The host's side of the hand-off against a runner that breaks the rules: the test is the
/// runner, speaking the protocol over a real socket pair with real descriptors.
#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    use super::*;

    /// A channel served by the host's thread (no event loop: the desk needs none), and the
    /// runner's end.
    fn served() -> UnixStream {
        let (host, runner) = UnixStream::pair().unwrap();
        start(host, "test", None, Retained::default()).unwrap();
        runner
    }

    fn send(runner: &UnixStream, message: &EventToHost, fds: &[std::os::fd::BorrowedFd<'_>]) {
        let mut buffer = Vec::new();
        encode_frame(&mut buffer, |out| message.encode(out)).unwrap();
        fdpass::send(runner, &buffer, fds).unwrap();
    }

    /// The host's next answer and the descriptors that came with it; `None` once it hung up.
    fn answer(runner: &UnixStream) -> Option<(EventToRunner, Vec<OwnedFd>)> {
        let mut reader = Receiver::new(runner, 1);
        let mut buffer = Vec::new();
        match read_frame(&mut reader, &mut buffer) {
            Ok(true) => Some((EventToRunner::decode(&buffer).unwrap(), reader.descriptors())),
            _ => None,
        }
    }

    /// True when every copy of the other end of `peer` is closed (it reads the end of stream).
    fn closed(peer: &UnixStream) -> bool {
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        matches!((&*peer).read(&mut [0u8; 1]), Ok(0))
    }

    #[test]
    fn a_deposit_and_a_take_cross_the_channel_with_their_bytes() {
        let runner = served();
        let (socket, peer) = UnixStream::pair().unwrap();
        send(&runner, &EventToHost::Deposit { id: 1, prefix: b"ahead".to_vec() }, &[socket.as_fd()]);
        drop(socket);
        let Some((EventToRunner::Deposited { id: 1, result: Ok(ticket) }, fds)) = answer(&runner) else {
            panic!("no ticket")
        };
        assert!(fds.is_empty());
        assert!(sockets::is_waiting(ticket));
        send(&runner, &EventToHost::Take { id: 2, ticket }, &[]);
        let Some((EventToRunner::Taken { id: 2, result: Ok(prefix) }, mut fds)) = answer(&runner) else {
            panic!("nothing taken")
        };
        assert_eq!(prefix, b"ahead");
        let taken = UnixStream::from(fds.pop().expect("the socket came with the answer"));
        (&taken).write_all(b"x").unwrap();
        let mut byte = [0u8; 1];
        (&peer).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
        // The host kept no copy: the taker's is the last.
        drop(taken);
        assert!(closed(&peer));
        send(&runner, &EventToHost::Take { id: 3, ticket }, &[]);
        let Some((EventToRunner::Taken { id: 3, result: Err(why) }, fds)) = answer(&runner) else { panic!() };
        assert_eq!(why, format!("the connection of ticket {ticket} was taken already (a ticket is good once)"));
        assert!(fds.is_empty(), "a refusal carries no descriptor");
    }

    #[test]
    fn what_is_not_a_socket_is_refused_and_closed() {
        let runner = served();
        let (reader, mut writer) = std::io::pipe().unwrap();
        send(&runner, &EventToHost::Deposit { id: 1, prefix: Vec::new() }, &[reader.as_fd()]);
        drop(reader);
        let Some((EventToRunner::Deposited { id: 1, result: Err(why) }, _)) = answer(&runner) else { panic!() };
        assert!(why.starts_with("descriptor ") && why.ends_with(" is not a socket"), "{why}");
        // The host closed its copy: the pipe has no reader left.
        assert_eq!(writer.write(b"x").unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn descriptors_where_none_belong_are_closed_and_end_the_channel() {
        let runner = served();
        let (socket, peer) = UnixStream::pair().unwrap();
        let release = EventToHost::Release { function: 1 };
        send(&runner, &release, &[socket.as_fd()]);
        drop(socket);
        assert!(answer(&runner).is_none(), "the host hung up");
        assert!(closed(&peer), "the stray descriptor was closed");
    }

    #[test]
    fn more_descriptors_than_a_deposit_carries_are_closed_and_end_the_channel() {
        let runner = served();
        let pairs: Vec<(UnixStream, UnixStream)> = (0..3).map(|_| UnixStream::pair().unwrap()).collect();
        let fds: Vec<_> = pairs.iter().map(|(socket, _)| socket.as_fd()).collect();
        send(&runner, &EventToHost::Deposit { id: 1, prefix: Vec::new() }, &fds);
        let peers: Vec<UnixStream> = pairs.into_iter().map(|(_, peer)| peer).collect();
        assert!(answer(&runner).is_none(), "the host hung up");
        assert!(peers.iter().all(closed), "every descriptor was closed");
    }

    #[test]
    fn a_deposit_without_its_socket_ends_the_channel() {
        let runner = served();
        send(&runner, &EventToHost::Deposit { id: 1, prefix: Vec::new() }, &[]);
        assert!(answer(&runner).is_none(), "the host hung up");
    }

    #[test]
    fn a_runner_that_keeps_guessing_tickets_is_refused_takes() {
        let runner = served();
        let (socket, _peer) = UnixStream::pair().unwrap();
        let ticket = sockets::deposit(OwnedFd::from(socket), Vec::new());
        // Guesses around a waiting ticket: never issued, each one.
        for id in 0..MAX_UNKNOWN_TICKETS as u64 {
            send(&runner, &EventToHost::Take { id, ticket: ticket ^ (id + 1) }, &[]);
            let Some((EventToRunner::Taken { result: Err(why), .. }, _)) = answer(&runner) else { panic!() };
            assert!(why.starts_with("no connection was ever deposited under ticket "), "{why}");
        }
        // Now even the right ticket is refused, and the socket still waits for its taker.
        send(&runner, &EventToHost::Take { id: 100, ticket }, &[]);
        let Some((EventToRunner::Taken { result: Err(why), .. }, fds)) = answer(&runner) else { panic!() };
        assert_eq!(
            why,
            "this plugin presented 64 tickets that were never issued: it may take no more connections (a ticket is \
             handed over, not guessed)"
        );
        assert!(fds.is_empty());
        assert!(sockets::take(ticket).is_ok());
    }

    #[test]
    fn one_runner_keeps_only_so_many_sockets_waiting() {
        let runner = served();
        let (socket, _peer) = UnixStream::pair().unwrap();
        let mut tickets = Vec::new();
        for id in 0..=MAX_WAITING_DEPOSITS as u64 {
            send(&runner, &EventToHost::Deposit { id, prefix: Vec::new() }, &[socket.as_fd()]);
            match answer(&runner) {
                Some((EventToRunner::Deposited { result: Ok(ticket), .. }, _)) => tickets.push(ticket),
                Some((EventToRunner::Deposited { result: Err(why), .. }, _)) => {
                    assert_eq!(tickets.len(), MAX_WAITING_DEPOSITS);
                    assert_eq!(why, "256 sockets of this plugin wait on the hand-off desk already: take some first");
                }
                _ => panic!("no answer"),
            }
        }
        assert_eq!(tickets.len(), MAX_WAITING_DEPOSITS, "the last deposit was refused");
        // Taken ones make room again.
        drop(sockets::take(tickets[0]));
        send(&runner, &EventToHost::Deposit { id: 999, prefix: Vec::new() }, &[socket.as_fd()]);
        let Some((EventToRunner::Deposited { id: 999, result: Ok(ticket) }, _)) = answer(&runner) else { panic!() };
        tickets[0] = ticket;
        for ticket in tickets {
            drop(sockets::take(ticket));
        }
    }
}
