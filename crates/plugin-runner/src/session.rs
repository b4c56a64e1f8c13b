//! The runner's session with the host: the message pump that serves calls, waits for the
//! answers to callbacks and requests (serving nested calls meanwhile), drops plugin objects
//! the host released, and ends the process on shutdown, idleness, a closed channel or a
//! protocol error. Everything here is single-threaded; the plugin's host API reaches the
//! session through the context pointer of its table (see `ffi`).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use tusk_plugin_wire::{CallError, MapFailure, MapOutcome, Request, ToHost, ToRunner, WireValue};

use crate::channel::{Channel, Received};
use crate::ffi::{self, RunnerContext, SymbolHandle};
use crate::local::{Local, ObjectRef};

/// What the pump waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    /// Nothing: the top-level loop between calls.
    Nothing,
    /// The `CallbackResult` with this id.
    Callback(u64),
    /// The `MapResult` with this id.
    Map(u64),
    /// The `Reply` with this id.
    Reply(u64),
}

enum Answer {
    Callback(Result<WireValue, String>),
    Map(MapOutcome),
    Reply(Result<Option<String>, String>),
}

/// The runner's state for its one plugin.
pub(crate) struct Session {
    pub(crate) plugin: String,
    channel: RefCell<Channel>,
    /// Plugin objects the host holds, by id (the host's `DropObject` removes them).
    exported: RefCell<HashMap<u64, Rc<ObjectRef>>>,
    /// Ids of the calls in progress, innermost last.
    calls: RefCell<Vec<u64>>,
    next_id: Cell<u64>,
    max_depth: usize,
    idle: Option<Duration>,
    symbols: RefCell<Vec<Option<SymbolHandle>>>,
    /// Set while the runner stops on its own: the host is not listening, requests fail fast.
    stopping: Cell<bool>,
    /// Set by the host's `Cancel` (Ctrl-C), cleared when the next outermost call starts: what
    /// the plugin's `is_cancelled` reports.
    cancelled: Cell<bool>,
    /// Objects the host dropped while the plugin was running (read by `is_cancelled`): their
    /// drop calls into the plugin, so it waits until the call returns.
    deferred_drops: RefCell<Vec<u64>>,
    /// The plugin's host API table and its handle table, once `init` made them.
    pub(crate) context: OnceCell<&'static RunnerContext>,
}

impl Session {
    /// Creates the session; it lives for the rest of the process (the plugin keeps pointers).
    pub(crate) fn leak(plugin: &str, channel: Channel, max_depth: u32, idle: Option<Duration>) -> &'static Session {
        Box::leak(Box::new(Session {
            plugin: plugin.to_string(),
            channel: RefCell::new(channel),
            exported: RefCell::new(HashMap::new()),
            calls: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            max_depth: max_depth.max(1) as usize,
            idle,
            symbols: RefCell::new(Vec::new()),
            stopping: Cell::new(false),
            cancelled: Cell::new(false),
            deferred_drops: RefCell::new(Vec::new()),
            context: OnceCell::new(),
        }))
    }

    pub(crate) fn send(&self, message: &ToHost) {
        self.channel.borrow_mut().send(message);
    }

    pub(crate) fn set_symbols(&self, symbols: Vec<Option<SymbolHandle>>) {
        *self.symbols.borrow_mut() = symbols;
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// A value from the host, with plugin objects resolved to the runner's references.
    pub(crate) fn local(&self, value: WireValue) -> Local {
        Local::from_wire(value, &|id| self.exported.borrow().get(&id).cloned())
    }

    /// A value for the host; plugin objects in it are now held by the host too.
    pub(crate) fn wire(&self, value: &Local) -> Result<WireValue, String> {
        let mut crossing = Vec::new();
        let wire = value.to_wire(&mut |object| crossing.push(object.clone()))?;
        let replaced: Vec<Option<Rc<ObjectRef>>> = {
            let mut exported = self.exported.borrow_mut();
            crossing.into_iter().map(|object| exported.insert(object.id, object)).collect()
        };
        // Dropped after the borrow: these are the same objects, but the drop must never run
        // plugin code while the map is borrowed.
        drop(replaced);
        Ok(wire)
    }

    /// The top-level loop: serves the host until the session ends. Never returns.
    pub(crate) fn serve(&'static self) -> ! {
        let _ = self.pump(Awaiting::Nothing);
        unreachable_end()
    }

    /// Calls a script function on the host during call `call_id` and waits for its result,
    /// serving nested calls meanwhile.
    pub(crate) fn callback(
        &'static self,
        call_id: u64,
        function: u64,
        args: Vec<WireValue>,
    ) -> Result<WireValue, String> {
        self.may_call_back()?;
        let id = self.next_id();
        self.send(&ToHost::Callback { id, call_id, function, args });
        match self.pump(Awaiting::Callback(id)) {
            Answer::Callback(result) => result,
            _ => unreachable_end(),
        }
    }

    /// Calls a script function once per item of `items` on the host during call `call_id`, in
    /// one round trip (see [`ToHost::Map`]), serving nested calls meanwhile.
    pub(crate) fn map(&'static self, call_id: u64, function: u64, items: WireValue, workers: u32) -> MapOutcome {
        if let Err(message) = self.may_call_back() {
            return Err(MapFailure::Failed(message));
        }
        let id = self.next_id();
        self.send(&ToHost::Map { id, call_id, function, items, workers });
        match self.pump(Awaiting::Map(id)) {
            Answer::Map(outcome) => outcome,
            _ => unreachable_end(),
        }
    }

    fn may_call_back(&self) -> Result<(), String> {
        if self.stopping.get() {
            return Err("the plugin is stopping; it cannot call script functions now".into());
        }
        if self.calls.borrow().len() >= self.max_depth {
            return Err(format!(
                "calls between the script and plugin `{}` nest more than {} deep",
                self.plugin, self.max_depth
            ));
        }
        Ok(())
    }

    /// Asks the host for a service (a permission check, an environment variable).
    pub(crate) fn request(&'static self, request: Request) -> Result<Option<String>, String> {
        if self.stopping.get() {
            return Err("the plugin is stopping; host services are not available now".into());
        }
        let id = self.next_id();
        self.send(&ToHost::Request { id, request });
        match self.pump(Awaiting::Reply(id)) {
            Answer::Reply(result) => result,
            _ => unreachable_end(),
        }
    }

    /// True when the host asked the running calls to stop. While the plugin runs, the only
    /// message the host sends unasked is `Cancel` (and a `DropObject` may precede it), so a
    /// waiting message is read here, without blocking when there is none.
    pub(crate) fn is_cancelled(&'static self) -> bool {
        while !self.cancelled.get() && self.channel.borrow().has_pending() {
            let received = self.channel.borrow_mut().receive(None);
            match received {
                Received::Message(ToRunner::Cancel) => self.cancelled.set(true),
                Received::Message(ToRunner::DropObject { id }) => self.deferred_drops.borrow_mut().push(id),
                Received::Message(other) => protocol_error(&format!("unexpected message {}", describe(&other))),
                Received::Closed => std::process::exit(0),
                Received::TimedOut => break,
                Received::Broken(problem) => protocol_error(&problem),
            }
        }
        self.cancelled.get()
    }

    fn drop_deferred(&self) {
        let ids = std::mem::take(&mut *self.deferred_drops.borrow_mut());
        let removed: Vec<Option<Rc<ObjectRef>>> = {
            let mut exported = self.exported.borrow_mut();
            ids.into_iter().map(|id| exported.remove(&id)).collect()
        };
        drop(removed);
    }

    fn pump(&'static self, awaiting: Awaiting) -> Answer {
        loop {
            let idle = if awaiting == Awaiting::Nothing { self.idle } else { None };
            let received = self.channel.borrow_mut().receive(idle);
            let message = match received {
                Received::Message(message) => message,
                Received::Closed => std::process::exit(0),
                // A plugin that serves is not idle: its threads post calls whenever they like.
                Received::TimedOut if crate::events::busy() => continue,
                Received::TimedOut => self.stop_idle(),
                Received::Broken(problem) => protocol_error(&problem),
            };
            match message {
                ToRunner::Call { id, symbol, args } => self.serve_call(id, symbol, args),
                ToRunner::DropObject { id } => {
                    let removed = self.exported.borrow_mut().remove(&id);
                    drop(removed);
                }
                ToRunner::CallbackResult { id, result } if awaiting == Awaiting::Callback(id) => {
                    return Answer::Callback(result);
                }
                ToRunner::MapResult { id, outcome } if awaiting == Awaiting::Map(id) => return Answer::Map(outcome),
                ToRunner::Reply { id, result } if awaiting == Awaiting::Reply(id) => return Answer::Reply(result),
                ToRunner::Shutdown if awaiting == Awaiting::Nothing => self.shut_down(),
                ToRunner::Cancel => self.cancelled.set(true),
                other => protocol_error(&format!("unexpected message {}", describe(&other))),
            }
        }
    }

    fn serve_call(&'static self, id: u64, symbol: u32, args: Vec<WireValue>) {
        let result = if self.calls.borrow().len() >= self.max_depth {
            Err(error(format!(
                "calls between the script and plugin `{}` nest more than {} deep",
                self.plugin, self.max_depth
            )))
        } else {
            let handle = self.symbols.borrow().get(symbol as usize).copied().flatten();
            match handle {
                None => Err(error(format!("plugin `{}` has no symbol #{symbol}", self.plugin))),
                Some(handle) => {
                    let args: Vec<Local> = args.into_iter().map(|arg| self.local(arg)).collect();
                    if self.calls.borrow().is_empty() {
                        self.cancelled.set(false);
                    }
                    self.calls.borrow_mut().push(id);
                    let result = ffi::call(self, handle, id, &args);
                    self.calls.borrow_mut().pop();
                    self.drop_deferred();
                    drop(args);
                    result.and_then(|value| {
                        self.wire(&value)
                            .map_err(|message| error(format!("the plugin's result cannot be sent: {message}")))
                    })
                }
            }
        };
        self.send(&ToHost::Result { id, result });
    }

    fn shut_down(&'static self) -> ! {
        let error = ffi::shutdown().err();
        self.send(&ToHost::ShutdownDone { error });
        std::process::exit(0)
    }

    fn stop_idle(&'static self) -> ! {
        // The host is not reading: callbacks and requests during the plugin's shutdown fail
        // at once (logs wait in the ring and are read with the next call).
        self.stopping.set(true);
        let _ = ffi::shutdown();
        self.send(&ToHost::IdleExit);
        std::process::exit(0)
    }
}

fn error(message: String) -> CallError {
    CallError {
        panicked: false,
        kind: tusk_plugin_abi::error_kind::MESSAGE,
        argument: None,
        message,
        help: String::new(),
    }
}

fn describe(message: &ToRunner) -> &'static str {
    match message {
        ToRunner::Init(_) => "Init",
        ToRunner::Call { .. } => "Call",
        ToRunner::CallbackResult { .. } => "CallbackResult",
        ToRunner::MapResult { .. } => "MapResult",
        ToRunner::Reply { .. } => "Reply",
        ToRunner::DropObject { .. } => "DropObject",
        ToRunner::Shutdown => "Shutdown",
        ToRunner::Cancel => "Cancel",
    }
}

/// The host broke the protocol: nothing sensible can follow.
fn protocol_error(problem: &str) -> ! {
    eprintln!("tusk-plugin-runner: {problem}");
    std::process::exit(3)
}

fn unreachable_end() -> ! {
    protocol_error("internal error: the message pump returned the wrong answer")
}
