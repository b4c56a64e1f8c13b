//! Long-lived sandboxed plugins, the host's half of the event channel (see
//! `tusk_plugin_wire::EventToHost`): one thread per runner reads what the plugin's threads
//! send and turns it into work for the interpreter's event loop; the answers go back on the
//! same channel, written from whichever thread has them (one frame at a time, under a lock).
//! When the runner goes away (it crashed, was stopped, or stopped when idle) the services it
//! started end with it, so a dead runner never keeps `tusk` running, and the functions it
//! retained are released (its handles died with it).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use tusk_eval::CallContext;
use tusk_plugin_wire::{EventToHost, EventToRunner, PostFailure, read_frame, write_frame};

use super::convert::Converter;
use crate::events::PluginEvents;

/// The writing side of a runner's event channel.
#[derive(Clone)]
struct Writer(Arc<Mutex<(UnixStream, Vec<u8>)>>);

impl Writer {
    fn send(&self, message: &EventToRunner) {
        let mut writer = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (stream, buffer) = &mut *writer;
        // A runner that is gone cannot be told; its reader thread ends its services.
        let _ = write_frame(stream, buffer, |out| message.encode(out)).and_then(|()| stream.flush());
    }
}

/// The functions one runner retained (ids of the loop's table).
#[derive(Clone, Default)]
pub(crate) struct Retained(Arc<Mutex<Vec<u64>>>);

/// Starts the thread that serves a runner's event channel.
pub(crate) fn start(channel: UnixStream, events: PluginEvents, retained: Retained) -> Result<(), String> {
    let writer = channel.try_clone().map_err(|error| format!("cannot use the runner's event channel: {error}"))?;
    let writer = Writer(Arc::new(Mutex::new((writer, Vec::new()))));
    std::thread::Builder::new()
        .name(format!("tusk-events-{}", events.plugin))
        .spawn(move || {
            serve(channel, &events, &writer, &retained);
            let ids = std::mem::take(&mut *retained.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            for id in ids {
                events.sender.release(&events.plugin, id);
            }
        })
        .map(|_| ())
        .map_err(|error| format!("cannot start the thread of the runner's event channel: {error}"))
}

fn serve(mut channel: UnixStream, events: &PluginEvents, writer: &Writer, retained: &Retained) {
    // The runner's service ids, and the loop's.
    let mut services: HashMap<u64, u64> = HashMap::new();
    let mut buffer = Vec::new();
    while let Ok(true) = read_frame(&mut channel, &mut buffer) {
        // A runner that sends nonsense is cut off here; its calls on the main channel fail by
        // their own deadlines and checks.
        let Ok(message) = EventToHost::decode(&buffer) else { break };
        match message {
            EventToHost::Post { id, function, args_json } => {
                let answer = writer.clone();
                let reply = Box::new(move |result: Result<String, tusk_plugin_hostapi::PostFailure>| {
                    let result = result.map_err(|error| PostFailure { script: error.script, message: error.message });
                    answer.send(&EventToRunner::PostDone { id, result });
                });
                if events.post(function, args_json, reply).is_err() {
                    let failure = PostFailure { script: false, message: tusk_eval::events::SHUTTING_DOWN.to_string() };
                    writer.send(&EventToRunner::PostDone { id, result: Err(failure) });
                }
            }
            EventToHost::StartService { id, name } => {
                let result = events.sender.start_service(&events.plugin, &name).map(|service| {
                    services.insert(id, service);
                });
                writer.send(&EventToRunner::ServiceStarted { id, result });
            }
            EventToHost::EndService { id } => {
                if let Some(service) = services.remove(&id) {
                    events.sender.end_service(service);
                }
            }
            EventToHost::Release { function } => {
                retained.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).retain(|id| *id != function);
                events.sender.release(&events.plugin, function);
            }
        }
    }
    for (_, service) in services {
        events.sender.end_service(service);
    }
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
