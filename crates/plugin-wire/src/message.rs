//! The messages, both ways, and their encoding.
//!
//! Before the first frame the host sends one byte, [`PREAMBLE`], over the socket it started the
//! runner with, which carries (as `SCM_RIGHTS` ancillary data) the memfd of the shared-memory
//! rings that carry the frames from then on (one per direction; the socket itself carries
//! nothing more, its hang-up tells each end that the other is gone), the runner's end of the
//! event channel (see [`crate::EventToHost`]) and, third, the runner's end of the network broker
//! socket when the plugin may reach the network through the host (see [`NetGrant::Brokered`]).
//!
//! The runner, for its part, first writes [`runner_hello`] on that socket: the protocol it
//! speaks, in a form no version changes.
//!
//! One exchange: the host sends [`ToRunner::Init`]; the runner locks itself down, loads the
//! library, runs the plugin's `init` and answers [`ToHost::Ready`] (or `InitFailed`). Then the
//! host sends `Call`s, each answered by a `Result` with the same id. While a call runs, the
//! runner may send `Callback` (call a script function), `Request` (a permission-checked host
//! service) and `Log`; the host answers the first two by id. A callback's script function may
//! call the plugin again, so a `Call` can arrive while the runner waits for a `CallbackResult`:
//! exchanges nest strictly, innermost first, and the ids say which answer belongs to which
//! request. `Map` is a callback for a whole batch of items (answered by `MapResult`): one
//! round trip instead of one per item. `DropObject` may come between any two messages, `Cancel` at any time while a call
//! runs; `Shutdown` ends the session.

use crate::codec::{Decoded, Decoder, Encoder};
use crate::value::WireValue;

/// Bumped whenever a message or its encoding changes; the host refuses a runner whose
/// [`runner_hello`] names another version, and the runner an `Init` of another version.
pub const PROTOCOL_VERSION: u32 = 9;

/// The length of [`runner_hello`].
pub const HELLO_BYTES: usize = 5;

/// What the runner writes on the socket it was started with before anything else:
/// [`PREAMBLE`] and its [`PROTOCOL_VERSION`] (little-endian). Unlike everything after it, this
/// stays the same from one protocol version to the next, so that a host can always tell which
/// protocol a runner of another build speaks and say so, rather than fail in whatever way the
/// differences make it fail (a wait that runs into the start-up deadline, a garbled message).
pub fn runner_hello() -> [u8; HELLO_BYTES] {
    let [a, b, c, d] = PROTOCOL_VERSION.to_le_bytes();
    [PREAMBLE, a, b, c, d]
}

/// The protocol version a [`runner_hello`] names, or `None` for bytes that are not one.
pub fn hello_version(hello: &[u8; HELLO_BYTES]) -> Option<u32> {
    let [first, a, b, c, d] = *hello;
    (first == PREAMBLE).then(|| u32::from_le_bytes([a, b, c, d]))
}

/// The byte the host sends before the first frame, with the rings' memfd and the runner's end
/// of the event channel attached and, third, the broker socket when the network is brokered.
pub const PREAMBLE: u8 = b'T';

/// File-system grants, as absolute paths for the runner's Landlock rules. Wildcard patterns
/// are widened to the folder before their first wildcard: the host checks the exact pattern on
/// every host-mediated access, the kernel enforces the folder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsGrants {
    /// Everything may be read.
    pub read_all: bool,
    /// Everything may be written.
    pub write_all: bool,
    /// Readable paths (files or folders).
    pub read: Vec<String>,
    /// Writable paths (files or folders); also readable.
    pub write: Vec<String>,
}

/// How the plugin may reach the network, for the runner's seccomp and Landlock rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetGrant {
    /// No sockets at all.
    #[default]
    None,
    /// Its own sockets, to anywhere (a database grant, or everything granted and declared).
    All,
    /// TCP connections made by the host, after checking the grants, and handed over through
    /// the broker socket: the runner may create TCP sockets but not connect them itself, and
    /// host names are looked up by the host (only granted ones).
    Brokered,
}

/// Resource limits of the runner (0 = none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Address-space limit (`RLIMIT_AS`) in bytes.
    pub memory_bytes: u64,
    /// CPU time limit (`RLIMIT_CPU`) in seconds, for the runner's whole life.
    pub cpu_seconds: u64,
    /// The runner stops itself after this long without a message (milliseconds).
    pub idle_millis: u64,
    /// How deeply calls and callbacks may nest.
    pub max_depth: u32,
    /// Refuse to load unless Landlock is at least this ABI version (0: best effort).
    pub min_landlock_abi: u32,
}

/// The first message: what to load and how to confine it.
#[derive(Clone, Debug, PartialEq)]
pub struct Init {
    /// [`PROTOCOL_VERSION`] of the host.
    pub protocol: u32,
    /// The plugin's name (for messages).
    pub plugin: String,
    /// Absolute path of the library (the host's content-addressed copy).
    pub library: String,
    /// The plugin's configuration as JSON.
    pub config_json: String,
    /// File-system grants.
    pub fs: FsGrants,
    /// Network grants.
    pub net: NetGrant,
    /// Resource limits.
    pub limits: Limits,
}

/// How far a sandbox layer took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerState {
    /// Fully in force.
    Active,
    /// In force, without some of its rules (an older kernel).
    Partial,
    /// The kernel does not support it.
    Unavailable,
    /// Not needed with the grants given (e.g. network rules with `--allow-net`).
    Off,
}

/// One sandbox layer as the runner applied it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// `rlimits`, `landlock`, `no_new_privs`, `seccomp`, …
    pub name: String,
    /// How far it took effect.
    pub state: LayerState,
    /// Details: ABI version, what is denied, limits.
    pub detail: String,
}

/// One registered symbol, as the plugin described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The index to pass in `Call`.
    pub index: u32,
    /// The name without `@`.
    pub name: String,
    /// The ABI's `symbol_kind`.
    pub kind: u32,
    /// Has effects outside the script.
    pub side_effects: bool,
    /// Lazy-argument bits.
    pub lazy_arguments: u64,
    /// e.g. `@log(level, message)`.
    pub signature: String,
    /// One sentence.
    pub summary: String,
    /// `expression => expected JSON`.
    pub examples: Vec<String>,
}

/// The runner is locked down, the plugin loaded and initialised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// [`PROTOCOL_VERSION`] of the runner.
    pub protocol: u32,
    /// The plugin's own name (its `name()`).
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// What `init` registered.
    pub symbols: Vec<Symbol>,
    /// The sandbox layers, in the order applied.
    pub layers: Vec<Layer>,
}

/// A call that failed in the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// The plugin panicked (the SDK caught it).
    pub panicked: bool,
    /// The ABI's `error_kind`.
    pub kind: u32,
    /// The argument the error is about.
    pub argument: Option<u32>,
    /// The message.
    pub message: String,
    /// A hint, possibly empty.
    pub help: String,
}

/// A host service the plugin asked for; the host checks the user's grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// May the plugin read this file? (The runner reads it itself, at the resolved path the
    /// host replies with: relative paths are relative to the script, not the runner.)
    Read(String),
    /// May the plugin write this file? (The runner writes it itself, at the resolved path.)
    Write(String),
    /// The absolute path a relative one means (relative to the script's folder).
    Resolve(String),
    /// The value of an environment variable (the runner's environment is empty).
    Env(String),
    /// May the plugin connect to `host:port`?
    Connect {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// Keep script function `function` (a [`WireValue::Function`] of the call in progress)
    /// beyond the call; the reply is the retained function's id, in decimal.
    Retain(u64),
}

/// Messages from the host to the runner.
#[derive(Clone, Debug, PartialEq)]
pub enum ToRunner {
    /// Load and initialise (the first message).
    Init(Box<Init>),
    /// Call symbol `symbol` with arguments.
    Call {
        /// Echoed by the `Result`.
        id: u64,
        /// [`Symbol::index`].
        symbol: u32,
        /// The arguments.
        args: Vec<WireValue>,
    },
    /// The answer to a `Callback`: the script function's result or its error text.
    CallbackResult {
        /// The callback's id.
        id: u64,
        /// Result or error message.
        result: Result<WireValue, String>,
    },
    /// The answer to a `Map`.
    MapResult {
        /// The map's id.
        id: u64,
        /// The results, the refusal or the first error.
        outcome: MapOutcome,
    },
    /// The answer to a `Request`: granted (with the variable's value for `Env`) or the refusal.
    Reply {
        /// The request's id.
        id: u64,
        /// `Ok(None)` granted (or an unset variable), `Ok(Some(value))` a variable's value,
        /// `Err(message)` refused.
        result: Result<Option<String>, String>,
    },
    /// The script dropped its last reference to a plugin object.
    DropObject {
        /// The plugin's object id.
        id: u64,
    },
    /// Run the plugin's `shutdown` and exit.
    Shutdown,
    /// The user asked the running calls to stop (Ctrl-C): the plugin's `is_cancelled` turns
    /// true until the next outermost call. Sent while the host waits for a call's result.
    Cancel,
}

/// How a `Map` went: the array of the results, in item order, or why there is none.
pub type MapOutcome = Result<WireValue, MapFailure>;

/// Why a `Map` has no results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapFailure {
    /// Nothing ran (the function cannot leave the interpreter's thread); why.
    Unsupported(String),
    /// The script's error for the first item, in item order, that failed.
    Failed(String),
}

/// Messages from the runner to the host.
#[derive(Clone, Debug, PartialEq)]
pub enum ToHost {
    /// Loaded and initialised.
    Ready(Box<Ready>),
    /// Locking down, loading or `init` failed.
    InitFailed {
        /// Why.
        message: String,
    },
    /// The outcome of a `Call`.
    Result {
        /// The call's id.
        id: u64,
        /// The value or the plugin's error.
        result: Result<WireValue, CallError>,
    },
    /// The plugin calls a script function during call `call_id`.
    Callback {
        /// Echoed by the `CallbackResult`.
        id: u64,
        /// The call in progress.
        call_id: u64,
        /// The function's id ([`WireValue::Function`]).
        function: u64,
        /// The arguments.
        args: Vec<WireValue>,
    },
    /// The plugin calls a script function once per item of `items` during call `call_id`
    /// (the host's `map_parallel`): on up to `workers` interpreter isolates, or with `workers`
    /// 0 on the interpreter's thread, item after item.
    Map {
        /// Echoed by the `MapResult`.
        id: u64,
        /// The call in progress.
        call_id: u64,
        /// The function's id ([`WireValue::Function`]).
        function: u64,
        /// An array or a range.
        items: WireValue,
        /// Isolates to use; 0 for none.
        workers: u32,
    },
    /// The plugin asks for a host service.
    Request {
        /// Echoed by the `Reply`.
        id: u64,
        /// What it asks for.
        request: Request,
    },
    /// A log record.
    Log {
        /// 0 trace … 4 error.
        level: u32,
        /// The message.
        message: String,
        /// An object or null.
        fields: WireValue,
    },
    /// `shutdown` ran; the runner exits next.
    ShutdownDone {
        /// The plugin's shutdown error, if any.
        error: Option<String>,
    },
    /// The runner was idle for its idle time and exits without having read anything more; a
    /// message the host sent meanwhile was not acted on.
    IdleExit,
}

mod tag {
    pub const INIT: u8 = 1;
    pub const CALL: u8 = 2;
    pub const CALLBACK_RESULT: u8 = 3;
    pub const REPLY: u8 = 4;
    pub const DROP_OBJECT: u8 = 5;
    pub const SHUTDOWN: u8 = 6;
    pub const CANCEL: u8 = 7;
    pub const MAP_RESULT: u8 = 8;

    pub const READY: u8 = 101;
    pub const INIT_FAILED: u8 = 102;
    pub const RESULT: u8 = 103;
    pub const CALLBACK: u8 = 104;
    pub const REQUEST: u8 = 105;
    pub const LOG: u8 = 106;
    pub const SHUTDOWN_DONE: u8 = 107;
    pub const IDLE_EXIT: u8 = 108;
    pub const MAP: u8 = 109;
}

fn encode_result<T, E>(
    encoder: &mut Encoder<'_>,
    result: &Result<T, E>,
    ok: impl FnOnce(&mut Encoder<'_>, &T),
    err: impl FnOnce(&mut Encoder<'_>, &E),
) {
    match result {
        Ok(value) => {
            encoder.byte(0);
            ok(encoder, value);
        }
        Err(error) => {
            encoder.byte(1);
            err(encoder, error);
        }
    }
}

/// The counterpart of [`encode_result`]: a tag byte (0 for `Ok`, 1 for `Err`), then the value.
fn decode_result<'a, T, E>(
    d: &mut Decoder<'a>,
    ok: impl FnOnce(&mut Decoder<'a>) -> Decoded<T>,
    err: impl FnOnce(&mut Decoder<'a>) -> Decoded<E>,
) -> Decoded<Result<T, E>> {
    match d.byte()? {
        0 => Ok(Ok(ok(d)?)),
        1 => Ok(Err(err(d)?)),
        _ => d.fail("invalid result tag"),
    }
}

impl ToRunner {
    /// Appends the message's encoding (without frame header) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut e = Encoder { out };
        match self {
            ToRunner::Init(init) => {
                e.byte(tag::INIT);
                e.u32(init.protocol);
                e.str(&init.plugin);
                e.str(&init.library);
                e.str(&init.config_json);
                e.bool(init.fs.read_all);
                e.bool(init.fs.write_all);
                e.strs(&init.fs.read);
                e.strs(&init.fs.write);
                e.byte(match &init.net {
                    NetGrant::None => 0,
                    NetGrant::All => 1,
                    NetGrant::Brokered => 2,
                });
                e.u64(init.limits.memory_bytes);
                e.u64(init.limits.cpu_seconds);
                e.u64(init.limits.idle_millis);
                e.u32(init.limits.max_depth);
                e.u32(init.limits.min_landlock_abi);
            }
            ToRunner::Call { id, symbol, args } => {
                e.byte(tag::CALL);
                e.u64(*id);
                e.u32(*symbol);
                e.values(args);
            }
            ToRunner::CallbackResult { id, result } => {
                e.byte(tag::CALLBACK_RESULT);
                e.u64(*id);
                encode_result(&mut e, result, |e, value| e.value(value), |e, message| e.str(message));
            }
            ToRunner::MapResult { id, outcome } => {
                e.byte(tag::MAP_RESULT);
                e.u64(*id);
                encode_result(
                    &mut e,
                    outcome,
                    |e, value| e.value(value),
                    |e, failure| {
                        let (unsupported, message) = match failure {
                            MapFailure::Unsupported(reason) => (true, reason),
                            MapFailure::Failed(message) => (false, message),
                        };
                        e.bool(unsupported);
                        e.str(message);
                    },
                );
            }
            ToRunner::Reply { id, result } => {
                e.byte(tag::REPLY);
                e.u64(*id);
                encode_result(&mut e, result, |e, value| e.option_str(value.as_deref()), |e, message| e.str(message));
            }
            ToRunner::DropObject { id } => {
                e.byte(tag::DROP_OBJECT);
                e.u64(*id);
            }
            ToRunner::Shutdown => e.byte(tag::SHUTDOWN),
            ToRunner::Cancel => e.byte(tag::CANCEL),
        }
    }

    /// Decodes one message that fills `bytes` exactly.
    pub fn decode(bytes: &[u8]) -> Result<ToRunner, crate::DecodeError> {
        let mut d = Decoder::new(bytes);
        let message = ToRunner::decode_from(&mut d)?;
        d.finish()?;
        Ok(message)
    }

    fn decode_from(d: &mut Decoder<'_>) -> Decoded<ToRunner> {
        Ok(match d.byte()? {
            tag::INIT => {
                let protocol = d.u32()?;
                let plugin = d.str()?;
                let library = d.str()?;
                let config_json = d.str()?;
                let fs = FsGrants { read_all: d.bool()?, write_all: d.bool()?, read: d.strs()?, write: d.strs()? };
                let net = match d.byte()? {
                    0 => NetGrant::None,
                    1 => NetGrant::All,
                    2 => NetGrant::Brokered,
                    _ => return d.fail("unknown network grant"),
                };
                let limits = Limits {
                    memory_bytes: d.u64()?,
                    cpu_seconds: d.u64()?,
                    idle_millis: d.u64()?,
                    max_depth: d.u32()?,
                    min_landlock_abi: d.u32()?,
                };
                ToRunner::Init(Box::new(Init { protocol, plugin, library, config_json, fs, net, limits }))
            }
            tag::CALL => ToRunner::Call { id: d.u64()?, symbol: d.u32()?, args: d.values()? },
            tag::CALLBACK_RESULT => {
                let id = d.u64()?;
                let result = decode_result(d, Decoder::value, Decoder::str)?;
                ToRunner::CallbackResult { id, result }
            }
            tag::MAP_RESULT => {
                let id = d.u64()?;
                let outcome = decode_result(d, Decoder::value, |d| {
                    Ok(if d.bool()? { MapFailure::Unsupported(d.str()?) } else { MapFailure::Failed(d.str()?) })
                })?;
                ToRunner::MapResult { id, outcome }
            }
            tag::REPLY => {
                let id = d.u64()?;
                let result = decode_result(d, Decoder::option_str, Decoder::str)?;
                ToRunner::Reply { id, result }
            }
            tag::DROP_OBJECT => ToRunner::DropObject { id: d.u64()? },
            tag::SHUTDOWN => ToRunner::Shutdown,
            tag::CANCEL => ToRunner::Cancel,
            _ => return d.fail("unknown message tag"),
        })
    }
}

fn encode_layer_state(state: LayerState) -> u8 {
    match state {
        LayerState::Active => 0,
        LayerState::Partial => 1,
        LayerState::Unavailable => 2,
        LayerState::Off => 3,
    }
}

impl ToHost {
    /// Appends the message's encoding (without frame header) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut e = Encoder { out };
        match self {
            ToHost::Ready(ready) => {
                e.byte(tag::READY);
                e.u32(ready.protocol);
                e.str(&ready.name);
                e.str(&ready.version);
                e.u64(ready.symbols.len() as u64);
                for symbol in &ready.symbols {
                    e.u32(symbol.index);
                    e.str(&symbol.name);
                    e.u32(symbol.kind);
                    e.bool(symbol.side_effects);
                    e.u64(symbol.lazy_arguments);
                    e.str(&symbol.signature);
                    e.str(&symbol.summary);
                    e.strs(&symbol.examples);
                }
                e.u64(ready.layers.len() as u64);
                for layer in &ready.layers {
                    e.str(&layer.name);
                    e.byte(encode_layer_state(layer.state));
                    e.str(&layer.detail);
                }
            }
            ToHost::InitFailed { message } => {
                e.byte(tag::INIT_FAILED);
                e.str(message);
            }
            ToHost::Result { id, result } => {
                e.byte(tag::RESULT);
                e.u64(*id);
                encode_result(
                    &mut e,
                    result,
                    |e, value| e.value(value),
                    |e, error| {
                        e.bool(error.panicked);
                        e.u32(error.kind);
                        match error.argument {
                            None => e.byte(0),
                            Some(index) => {
                                e.byte(1);
                                e.u32(index);
                            }
                        }
                        e.str(&error.message);
                        e.str(&error.help);
                    },
                );
            }
            ToHost::Callback { id, call_id, function, args } => {
                e.byte(tag::CALLBACK);
                e.u64(*id);
                e.u64(*call_id);
                e.u64(*function);
                e.values(args);
            }
            ToHost::Map { id, call_id, function, items, workers } => {
                e.byte(tag::MAP);
                e.u64(*id);
                e.u64(*call_id);
                e.u64(*function);
                e.value(items);
                e.u32(*workers);
            }
            ToHost::Request { id, request } => {
                e.byte(tag::REQUEST);
                e.u64(*id);
                match request {
                    Request::Read(path) => {
                        e.byte(0);
                        e.str(path);
                    }
                    Request::Write(path) => {
                        e.byte(1);
                        e.str(path);
                    }
                    Request::Env(name) => {
                        e.byte(2);
                        e.str(name);
                    }
                    Request::Resolve(path) => {
                        e.byte(4);
                        e.str(path);
                    }
                    Request::Connect { host, port } => {
                        e.byte(3);
                        e.str(host);
                        e.u32(u32::from(*port));
                    }
                    Request::Retain(function) => {
                        e.byte(5);
                        e.u64(*function);
                    }
                }
            }
            ToHost::Log { level, message, fields } => {
                e.byte(tag::LOG);
                e.u32(*level);
                e.str(message);
                e.value(fields);
            }
            ToHost::ShutdownDone { error } => {
                e.byte(tag::SHUTDOWN_DONE);
                e.option_str(error.as_deref());
            }
            ToHost::IdleExit => e.byte(tag::IDLE_EXIT),
        }
    }

    /// Decodes one message that fills `bytes` exactly.
    pub fn decode(bytes: &[u8]) -> Result<ToHost, crate::DecodeError> {
        let mut d = Decoder::new(bytes);
        let message = ToHost::decode_from(&mut d)?;
        d.finish()?;
        Ok(message)
    }

    fn decode_from(d: &mut Decoder<'_>) -> Decoded<ToHost> {
        Ok(match d.byte()? {
            tag::READY => {
                let protocol = d.u32()?;
                let name = d.str()?;
                let version = d.str()?;
                // A symbol is at least eight bytes (index, name, kind, flag, bits, three texts).
                let count = d.count(8)?;
                let mut symbols = Vec::with_capacity(count);
                for _ in 0..count {
                    symbols.push(Symbol {
                        index: d.u32()?,
                        name: d.str()?,
                        kind: d.u32()?,
                        side_effects: d.bool()?,
                        lazy_arguments: d.u64()?,
                        signature: d.str()?,
                        summary: d.str()?,
                        examples: d.strs()?,
                    });
                }
                let count = d.count(3)?;
                let mut layers = Vec::with_capacity(count);
                for _ in 0..count {
                    let name = d.str()?;
                    let state = match d.byte()? {
                        0 => LayerState::Active,
                        1 => LayerState::Partial,
                        2 => LayerState::Unavailable,
                        3 => LayerState::Off,
                        _ => return d.fail("unknown layer state"),
                    };
                    layers.push(Layer { name, state, detail: d.str()? });
                }
                ToHost::Ready(Box::new(Ready { protocol, name, version, symbols, layers }))
            }
            tag::INIT_FAILED => ToHost::InitFailed { message: d.str()? },
            tag::RESULT => {
                let id = d.u64()?;
                let result = decode_result(d, Decoder::value, |d| {
                    let panicked = d.bool()?;
                    let kind = d.u32()?;
                    let argument = match d.byte()? {
                        0 => None,
                        1 => Some(d.u32()?),
                        _ => return d.fail("invalid option tag"),
                    };
                    Ok(CallError { panicked, kind, argument, message: d.str()?, help: d.str()? })
                })?;
                ToHost::Result { id, result }
            }
            tag::CALLBACK => {
                ToHost::Callback { id: d.u64()?, call_id: d.u64()?, function: d.u64()?, args: d.values()? }
            }
            tag::MAP => ToHost::Map {
                id: d.u64()?,
                call_id: d.u64()?,
                function: d.u64()?,
                items: d.value()?,
                workers: d.u32()?,
            },
            tag::REQUEST => {
                let id = d.u64()?;
                let request = match d.byte()? {
                    0 => Request::Read(d.str()?),
                    1 => Request::Write(d.str()?),
                    2 => Request::Env(d.str()?),
                    3 => Request::Connect { host: d.str()?, port: d.u16()? },
                    4 => Request::Resolve(d.str()?),
                    5 => Request::Retain(d.u64()?),
                    _ => return d.fail("unknown request"),
                };
                ToHost::Request { id, request }
            }
            tag::LOG => ToHost::Log { level: d.u32()?, message: d.str()?, fields: d.value()? },
            tag::SHUTDOWN_DONE => ToHost::ShutdownDone { error: d.option_str()? },
            tag::IDLE_EXIT => ToHost::IdleExit,
            _ => return d.fail("unknown message tag"),
        })
    }
}
