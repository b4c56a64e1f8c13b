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
                    Some(events) => events.post(function, args_json, reply).err().map(|_| tusk_eval::events::SHUTTING_DOWN),
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
                if !writer.send(&EventToRunner::Deposited { id, result }) && let Some(ticket) = ticket {
                    // Nobody will ever know the ticket: close the socket now.
                    drop(sockets::take(ticket));
                }
            }
            EventToHost::Take { id, ticket } => match sockets::take(ticket) {
                // The runner gets a copy; ours closes here (a runner gone by now loses it).
                Ok((socket, prefix)) => {
                    writer.send_with(&EventToRunner::Taken { id, result: Ok(prefix) }, Some(&socket));
                }
                Err(message) => {
                    writer.send(&EventToRunner::Taken { id, result: Err(message) });
                }
            },
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
