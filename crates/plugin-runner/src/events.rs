//! Long-lived plugins in the runner: the event channel to the host (see
//! `tusk_plugin_wire::EventToHost`). The plugin's threads write posts, service starts and ends
//! and releases, one frame at a time under a lock; a thread started on first use reads the
//! host's answers and hands them to the plugin. Nothing here touches the session (whose
//! handle table belongs to its thread): arguments and results are JSON text.
//!
//! The hand-off desk of ABI 1.4 is reached here too, from any plugin thread: a deposit sends
//! a copy of the socket attached to its frame (`SCM_RIGHTS`) and waits for the ticket, a take
//! waits for the answer that carries the socket. A wait on the reader thread itself (a posted
//! call's `done` that takes a socket) reads the channel in place instead of waiting for itself.

use std::cell::Cell;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use tusk_plugin_boundary::fdpass::{self, Receiver};
use tusk_plugin_wire::{EventToHost, EventToRunner, PostFailure, encode_frame, read_frame};

/// Where a posted call's outcome goes.
pub(crate) type Reply = Box<dyn FnOnce(Result<String, PostFailure>) + Send>;

struct Events {
    /// The channel and a frame buffer, for the writers.
    writer: Mutex<(UnixStream, Vec<u8>)>,
    /// Its reading side and the reader thread's frame buffer; locked for one frame at a time,
    /// never while an answer is handed to the plugin.
    reader: Mutex<(UnixStream, Vec<u8>)>,
    /// The reader thread was started.
    reading: OnceLock<()>,
    state: Mutex<State>,
    answered: Condvar,
}

/// The host's answer to a deposit or a take.
enum HandOff {
    Deposited(Result<u64, String>),
    Taken(Result<(OwnedFd, Vec<u8>), String>),
}

#[derive(Default)]
struct State {
    next_id: u64,
    posts: HashMap<u64, Reply>,
    /// Services asked for and not answered yet (`None`), or answered.
    starting: HashMap<u64, Option<Result<(), String>>>,
    /// Deposits and takes asked for and not answered yet (`None`), or answered.
    hand_offs: HashMap<u64, Option<HandOff>>,
    /// Services running.
    running: usize,
    /// The host closed the channel (or broke it): nothing more will be answered.
    closed: Option<String>,
}

static EVENTS: OnceLock<Events> = OnceLock::new();

thread_local! {
    /// True on the reader thread, which hands answers to the plugin: a wait there (a posted
    /// call's `done` that takes a socket) reads the channel itself rather than wait for itself.
    static READER: Cell<bool> = const { Cell::new(false) };
}

/// Takes the runner's end of the event channel from the preamble.
pub(crate) fn use_channel(channel: UnixStream) {
    let Ok(reader) = channel.try_clone() else { return };
    let _ = EVENTS.set(Events {
        writer: Mutex::new((channel, Vec::new())),
        reader: Mutex::new((reader, Vec::new())),
        reading: OnceLock::new(),
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

    /// Sends `message`, with `socket` attached when the message carries one (the host gets a
    /// copy; `socket` stays the caller's).
    fn send_with(&self, message: &EventToHost, socket: Option<&OwnedFd>) -> Result<(), String> {
        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (stream, buffer) = &mut *writer;
        let fds: Vec<_> = socket.iter().map(|socket| socket.as_fd()).collect();
        encode_frame(buffer, |out| message.encode(out))
            .and_then(|()| fdpass::send(stream, buffer, &fds))
            .map_err(|error| format!("the host's event channel is closed ({error})"))
    }

    fn send(&self, message: &EventToHost) -> Result<(), String> {
        self.send_with(message, None)
    }

    /// Starts the reader thread (once).
    fn ensure_reader(&'static self) -> Result<(), String> {
        let mut started = Ok(());
        self.reading.get_or_init(|| {
            let spawned = std::thread::Builder::new().name("tusk-runner-events".into()).spawn(move || {
                READER.with(|reader| reader.set(true));
                while self.pump() {}
            });
            if let Err(error) = spawned {
                let why = format!("cannot start the runner's event thread: {error}");
                // Nothing will read the host's answers: whoever waits or asks later is told.
                self.close(why.clone());
                started = Err(why);
            }
        });
        started
    }

    /// Reads one message and hands it on; false once the channel is closed (every waiter and
    /// posted call has been told why).
    fn pump(&self) -> bool {
        let read = {
            let mut reader = self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let (stream, buffer) = &mut *reader;
            // One descriptor at most per frame (a take's); more are closed and end the channel.
            let mut receiver = Receiver::new(stream, 1);
            match read_frame(&mut receiver, buffer) {
                Ok(true) => {
                    let fds = receiver.descriptors();
                    match EventToRunner::decode(buffer) {
                        Ok(message) if message.descriptors() == fds.len() => Ok((message, fds)),
                        Ok(message) => Err(format!(
                            "the host sent {} descriptors with an event message that carries {}",
                            fds.len(),
                            message.descriptors()
                        )),
                        Err(error) => Err(format!("the host sent an invalid event message ({error})")),
                    }
                }
                Ok(false) => Err("the host closed the event channel".to_string()),
                Err(error) => Err(format!("the host's event channel broke ({error})")),
            }
        };
        match read {
            Ok((message, fds)) => {
                self.dispatch(message, fds);
                true
            }
            Err(why) => {
                self.close(why);
                false
            }
        }
    }

    fn dispatch(&self, message: EventToRunner, mut fds: Vec<OwnedFd>) {
        match message {
            EventToRunner::PostDone { id, result } => {
                let reply = self.state().posts.remove(&id);
                if let Some(reply) = reply {
                    reply(result);
                }
            }
            EventToRunner::ServiceStarted { id, result } => {
                if let Some(slot) = self.state().starting.get_mut(&id) {
                    *slot = Some(result);
                }
                self.answered.notify_all();
            }
            EventToRunner::Deposited { id, result } => self.answer(id, HandOff::Deposited(result)),
            EventToRunner::Taken { id, result } => {
                // Counted by `pump`: exactly one descriptor came with an `Ok`.
                let result = result.map(|prefix| (fds.pop().expect("a take's descriptor was counted"), prefix));
                self.answer(id, HandOff::Taken(result));
            }
        }
    }

    /// Hands a deposit's or take's answer to its waiter (one no longer waiting drops it: a
    /// socket in it is closed).
    fn answer(&self, id: u64, answer: HandOff) {
        if let Some(slot) = self.state().hand_offs.get_mut(&id) {
            *slot = Some(answer);
        }
        self.answered.notify_all();
    }

    fn close(&self, why: String) {
        let replies: Vec<Reply> = {
            let mut state = self.state();
            state.closed.get_or_insert(why.clone());
            state.posts.drain().map(|(_, reply)| reply).collect()
        };
        self.answered.notify_all();
        for reply in replies {
            reply(Err(PostFailure { script: false, message: why.clone() }));
        }
    }

    /// A new id, unless the channel is closed.
    fn next_id(&self, state: &mut State) -> Result<u64, String> {
        if let Some(why) = &state.closed {
            return Err(why.clone());
        }
        state.next_id += 1;
        Ok(state.next_id)
    }

    /// Waits until `done` finds the answer in the state (or the channel closes: `Err` says
    /// why). On the reader thread it reads the channel itself.
    fn wait_for<T>(&self, mut done: impl FnMut(&mut State) -> Option<T>) -> Result<T, String> {
        let on_reader = READER.with(Cell::get);
        let mut state = self.state();
        loop {
            if let Some(answer) = done(&mut state) {
                return Ok(answer);
            }
            if let Some(why) = &state.closed {
                return Err(why.clone());
            }
            if on_reader {
                drop(state);
                self.pump();
                state = self.state();
            } else {
                state = self.answered.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
    }

    /// Sends a deposit or take (`socket` attached to a deposit) and waits for its answer.
    fn hand_off(
        &'static self,
        message: impl FnOnce(u64) -> EventToHost,
        socket: Option<&OwnedFd>,
    ) -> Result<HandOff, String> {
        self.ensure_reader()?;
        let id = {
            let mut state = self.state();
            let id = self.next_id(&mut state)?;
            state.hand_offs.insert(id, None);
            id
        };
        if let Err(error) = self.send_with(&message(id), socket) {
            self.state().hand_offs.remove(&id);
            return Err(error);
        }
        let answer = self.wait_for(|state| match state.hand_offs.get(&id) {
            Some(Some(_)) => state.hand_offs.remove(&id).flatten(),
            _ => None,
        });
        if answer.is_err() {
            self.state().hand_offs.remove(&id);
        }
        answer
    }
}

/// True while the plugin serves: a service runs or a posted call waits for its answer (the
/// runner then does not stop for idleness).
pub(crate) fn busy() -> bool {
    EVENTS.get().is_some_and(|events| {
        let state = events.state();
        state.running > 0 || !state.posts.is_empty() || !state.starting.is_empty() || !state.hand_offs.is_empty()
    })
}

/// Posts a call of retained function `function`; `reply` gets its outcome once (also when the
/// host goes away first). Fails, without calling `reply`, when the channel is closed.
pub(crate) fn post(function: u64, args_json: String, reply: Reply) -> Result<(), String> {
    let events = events()?;
    events.ensure_reader()?;
    let id = {
        let mut state = events.state();
        let id = events.next_id(&mut state)?;
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
        let id = events.next_id(&mut state)?;
        state.starting.insert(id, None);
        id
    };
    if let Err(error) = events.send(&EventToHost::StartService { id, name: name.to_string() }) {
        events.state().starting.remove(&id);
        return Err(error);
    }
    let answer = events.wait_for(|state| match state.starting.get(&id) {
        Some(Some(_)) => {
            let result = state.starting.remove(&id).flatten()?;
            if result.is_ok() {
                state.running += 1;
            }
            Some(result)
        }
        _ => None,
    });
    if answer.is_err() {
        events.state().starting.remove(&id);
    }
    answer?.map(|()| id)
}

/// Deposits `socket` with the host (a copy travels; ours is closed once the host has it) and
/// returns the ticket; on failure `socket` comes back, unclosed.
pub(crate) fn deposit(socket: OwnedFd, prefix: Vec<u8>) -> Result<u64, (OwnedFd, String)> {
    let events = match events() {
        Ok(events) => events,
        Err(why) => return Err((socket, why)),
    };
    match events.hand_off(|id| EventToHost::Deposit { id, prefix }, Some(&socket)) {
        Ok(HandOff::Deposited(Ok(ticket))) => Ok(ticket),
        Ok(HandOff::Deposited(Err(why))) => Err((socket, format!("the host refused the socket: {why}"))),
        Ok(HandOff::Taken(_)) => Err((socket, "the host answered a deposit as a take".to_string())),
        Err(why) => Err((socket, why)),
    }
}

/// Why a take gave no socket.
pub(crate) enum TakeFailure {
    /// No socket waits under the ticket (the desk's message).
    NotFound(String),
    /// The host could not be asked.
    Failed(String),
}

/// Takes the socket deposited under `ticket` from the host's desk.
pub(crate) fn take(ticket: u64) -> Result<(OwnedFd, Vec<u8>), TakeFailure> {
    let events = events().map_err(TakeFailure::Failed)?;
    match events.hand_off(|id| EventToHost::Take { id, ticket }, None) {
        Ok(HandOff::Taken(Ok(taken))) => Ok(taken),
        Ok(HandOff::Taken(Err(why))) => Err(TakeFailure::NotFound(why)),
        Ok(HandOff::Deposited(_)) => Err(TakeFailure::Failed("the host answered a take as a deposit".to_string())),
        Err(why) => Err(TakeFailure::Failed(why)),
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

/// The runner's half of the hand-off against a host that answers once and then hangs up: the
/// test is the host, over a real socket pair with real descriptors. (One test: the channel is
/// the process's.)
#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    use super::*;

    fn answer(host: &UnixStream, message: &EventToRunner, socket: Option<&OwnedFd>) {
        let mut buffer = Vec::new();
        encode_frame(&mut buffer, |out| message.encode(out)).unwrap();
        let fds: Vec<_> = socket.iter().map(|socket| socket.as_fd()).collect();
        fdpass::send(host, &buffer, &fds).unwrap();
    }

    fn request(host: &UnixStream) -> (EventToHost, Vec<OwnedFd>) {
        let mut reader = Receiver::new(host, 1);
        let mut buffer = Vec::new();
        assert!(read_frame(&mut reader, &mut buffer).unwrap());
        (EventToHost::decode(&buffer).unwrap(), reader.descriptors())
    }

    #[test]
    fn deposits_and_takes_reach_the_host_and_a_gone_host_leaves_the_socket_with_the_plugin() {
        let (host, runner) = UnixStream::pair().unwrap();
        use_channel(runner);
        let serving = std::thread::spawn(move || {
            let (EventToHost::Deposit { id, prefix }, mut fds) = request(&host) else { panic!("not a deposit") };
            assert_eq!((prefix.as_slice(), fds.len()), (&b"ahead"[..], 1));
            let deposited = fds.pop().unwrap();
            answer(&host, &EventToRunner::Deposited { id, result: Ok(7) }, None);
            let (EventToHost::Take { id, ticket: 7 }, fds) = request(&host) else { panic!("not a take of 7") };
            assert!(fds.is_empty());
            answer(&host, &EventToRunner::Taken { id, result: Ok(prefix) }, Some(&deposited));
            drop(deposited);
            let (EventToHost::Take { id, ticket: 8 }, _) = request(&host) else { panic!("not a take of 8") };
            let refusal = "no connection was ever deposited under ticket 8".to_string();
            answer(&host, &EventToRunner::Taken { id, result: Err(refusal) }, None);
        });
        let (socket, peer) = UnixStream::pair().unwrap();
        let ticket = deposit(OwnedFd::from(socket), b"ahead".to_vec()).unwrap_or_else(|(_, why)| panic!("{why}"));
        assert_eq!(ticket, 7);
        let (taken, ahead) = take(7).unwrap_or_else(|_| panic!("nothing taken"));
        assert_eq!(ahead, b"ahead");
        (&UnixStream::from(taken)).write_all(b"x").unwrap();
        let mut byte = [0u8; 1];
        (&peer).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
        // The taken copy was the last one: the runner closed its own after the deposit.
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        assert_eq!((&peer).read(&mut byte).unwrap(), 0);
        match take(8) {
            Err(TakeFailure::NotFound(why)) => assert_eq!(why, "no connection was ever deposited under ticket 8"),
            _ => panic!("a ticket never issued was taken"),
        }
        serving.join().unwrap();
        // The host is gone: a deposit fails and the socket is still the plugin's, open.
        let (socket, peer) = UnixStream::pair().unwrap();
        let raw = socket.as_raw_fd();
        let Err((back, why)) = deposit(OwnedFd::from(socket), Vec::new()) else { panic!("deposited with no host") };
        assert_eq!(back.as_raw_fd(), raw);
        assert!(
            why == "the host closed the event channel" || why.starts_with("the host's event channel is closed ("),
            "{why}"
        );
        (&UnixStream::from(back)).write_all(b"y").unwrap();
        (&peer).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"y");
        match take(9) {
            Err(TakeFailure::Failed(why)) => assert!(why.contains("event channel"), "{why}"),
            _ => panic!("taken with no host"),
        }
    }
}
