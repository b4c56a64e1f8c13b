//! Long-lived plugins in the runner: the event channel to the host (see
//! `tusk_plugin_wire::EventToHost`). The plugin's threads write posts, service starts and ends
//! and releases, one frame at a time under a lock; a thread started on first use reads the
//! host's answers and hands them to the plugin. Nothing here touches the session (whose
//! handle table belongs to its thread): arguments and results are JSON text.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use tusk_plugin_wire::{EventToHost, EventToRunner, PostFailure, read_frame, write_frame};

/// Where a posted call's outcome goes.
pub(crate) type Reply = Box<dyn FnOnce(Result<String, PostFailure>) + Send>;

struct Events {
    /// The channel and a frame buffer, for the writers.
    writer: Mutex<(UnixStream, Vec<u8>)>,
    /// Its reading side, until the reader thread takes it.
    reader: Mutex<Option<UnixStream>>,
    state: Mutex<State>,
    answered: Condvar,
}

#[derive(Default)]
struct State {
    next_id: u64,
    posts: HashMap<u64, Reply>,
    /// Services asked for and not answered yet (`None`), or answered.
    starting: HashMap<u64, Option<Result<(), String>>>,
    /// Services running.
    running: usize,
    /// The host closed the channel (or broke it): nothing more will be answered.
    closed: Option<String>,
}

static EVENTS: OnceLock<Events> = OnceLock::new();

/// Takes the runner's end of the event channel from the preamble.
pub(crate) fn use_channel(channel: UnixStream) {
    let reader = channel.try_clone().ok();
    let _ = EVENTS.set(Events {
        writer: Mutex::new((channel, Vec::new())),
        reader: Mutex::new(reader),
        state: Mutex::new(State::default()),
        answered: Condvar::new(),
    });
}

fn events() -> Result<&'static Events, String> {
    EVENTS.get().ok_or_else(|| "the host gave this runner no event channel".to_string())
}

impl Events {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn send(&self, message: &EventToHost) -> Result<(), String> {
        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (stream, buffer) = &mut *writer;
        write_frame(stream, buffer, |out| message.encode(out))
            .and_then(|()| stream.flush())
            .map_err(|error| format!("the host's event channel is closed ({error})"))
    }

    /// Starts the reader thread (once).
    fn ensure_reader(&'static self) -> Result<(), String> {
        let Some(stream) = self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() else {
            return Ok(());
        };
        std::thread::Builder::new()
            .name("tusk-runner-events".into())
            .spawn(move || self.read(stream))
            .map(|_| ())
            .map_err(|error| format!("cannot start the runner's event thread: {error}"))
    }

    fn read(&'static self, mut stream: UnixStream) {
        let mut buffer = Vec::new();
        let why = loop {
            match read_frame(&mut stream, &mut buffer) {
                Ok(true) => {}
                Ok(false) => break "the host closed the event channel".to_string(),
                Err(error) => break format!("the host's event channel broke ({error})"),
            }
            match EventToRunner::decode(&buffer) {
                Ok(EventToRunner::PostDone { id, result }) => {
                    let reply = self.state().posts.remove(&id);
                    if let Some(reply) = reply {
                        reply(result);
                    }
                }
                Ok(EventToRunner::ServiceStarted { id, result }) => {
                    if let Some(slot) = self.state().starting.get_mut(&id) {
                        *slot = Some(result);
                    }
                    self.answered.notify_all();
                }
                Err(error) => break format!("the host sent an invalid event message ({error})"),
            }
        };
        let replies: Vec<Reply> = {
            let mut state = self.state();
            state.closed = Some(why.clone());
            state.posts.drain().map(|(_, reply)| reply).collect()
        };
        self.answered.notify_all();
        for reply in replies {
            reply(Err(PostFailure { script: false, message: why.clone() }));
        }
    }
}

/// True while the plugin serves: a service runs or a posted call waits for its answer (the
/// runner then does not stop for idleness).
pub(crate) fn busy() -> bool {
    EVENTS.get().is_some_and(|events| {
        let state = events.state();
        state.running > 0 || !state.posts.is_empty() || !state.starting.is_empty()
    })
}

/// Posts a call of retained function `function`; `reply` gets its outcome once (also when the
/// host goes away first). Fails, without calling `reply`, when the channel is closed.
pub(crate) fn post(function: u64, args_json: String, reply: Reply) -> Result<(), String> {
    let events = events()?;
    events.ensure_reader()?;
    let id = {
        let mut state = events.state();
        if let Some(why) = &state.closed {
            return Err(why.clone());
        }
        state.next_id += 1;
        let id = state.next_id;
        state.posts.insert(id, reply);
        id
    };
    if let Err(error) = events.send(&EventToHost::Post { id, function, args_json }) {
        // Not sent: the reply is still ours to drop unused.
        events.state().posts.remove(&id);
        return Err(error);
    }
    Ok(())
}

/// Starts a service and waits for the host's answer.
pub(crate) fn start_service(name: &str) -> Result<u64, String> {
    let events = events()?;
    events.ensure_reader()?;
    let id = {
        let mut state = events.state();
        if let Some(why) = &state.closed {
            return Err(why.clone());
        }
        state.next_id += 1;
        let id = state.next_id;
        state.starting.insert(id, None);
        id
    };
    if let Err(error) = events.send(&EventToHost::StartService { id, name: name.to_string() }) {
        events.state().starting.remove(&id);
        return Err(error);
    }
    let mut state = events.state();
    loop {
        if let Some(Some(result)) = state.starting.get(&id) {
            let result = result.clone();
            state.starting.remove(&id);
            if result.is_ok() {
                state.running += 1;
            }
            return result.map(|()| id);
        }
        if let Some(why) = &state.closed {
            let why = why.clone();
            state.starting.remove(&id);
            return Err(why);
        }
        state = events.answered.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
    }
}

/// Ends a service.
pub(crate) fn end_service(id: u64) {
    if let Ok(events) = events() {
        {
            let mut state = events.state();
            state.running = state.running.saturating_sub(1);
        }
        let _ = events.send(&EventToHost::EndService { id });
    }
}

/// Lets go of a retained function.
pub(crate) fn release(function: u64) {
    if let Ok(events) = events() {
        let _ = events.send(&EventToHost::Release { function });
    }
}
