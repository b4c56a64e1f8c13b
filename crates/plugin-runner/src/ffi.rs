//! The runner's side of the C ABI: one of the runner's two modules with `unsafe`.
//!
//! It opens the plugin library (after the lockdown), calls its descriptor, and is the
//! runner's [`Backend`] of the host API table (`tusk-plugin-hostapi`, which owns the table's
//! entries, their pointer checks, `catch_unwind` and the thread check): values live in the
//! runner's handle table; calling a script function, logging and permission checks become
//! messages to the host. The plugin sees the same table with the same behaviour as
//! in-process, so it cannot tell where it runs.
//!
//! # Safety
//!
//! The texts and values a plugin returns from its descriptor's functions (names, error
//! records, results) are read at once, while the plugin keeps them valid (until its next call).
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tusk_plugin_abi::{
    ABI_MAJOR, ENTRY_SYMBOL, ErrorOut, InfoRecord, PluginDescriptor, StrRef, TValue, error_kind, fixed_text,
    foreign_thread_error, status,
};
use tusk_plugin_boundary::fs::Grant;
use tusk_plugin_hostapi::descriptor;
pub(crate) use tusk_plugin_hostapi::descriptor::SymbolHandle;
use tusk_plugin_hostapi::{
    Backend, CallPointer, Context, Failure, HandOffFailure, Lookup, ParallelFailure, Reply, Shape, Temporaries,
};
use tusk_plugin_wire::{CallError, MapFailure, Request, Symbol, WireValue};

use crate::local::{Local, ObjectRef};
use crate::session::Session;

/// The loaded plugin's descriptor (a static of the library, which is never unloaded: the
/// process ends instead).
static DESCRIPTOR: OnceLock<DescriptorRef> = OnceLock::new();
/// False before `init` succeeded and after `shutdown`: objects dropped then are not reported.
static ALIVE: AtomicBool = AtomicBool::new(false);

struct DescriptorRef(&'static PluginDescriptor);

// SAFETY: the descriptor holds function pointers and a pointer to an immutable static; the
// runner only ever uses it from the session's thread.
unsafe impl Send for DescriptorRef {}
// SAFETY: as above.
unsafe impl Sync for DescriptorRef {}

fn descriptor() -> Option<&'static PluginDescriptor> {
    DESCRIPTOR.get().map(|d| d.0)
}

/// Copies a text the plugin handed back (an error record's, a symbol's description).
fn text_of(text: StrRef) -> String {
    // SAFETY: only called on texts the plugin just returned, which it keeps valid until its
    // next call (the module's contract).
    unsafe { tusk_plugin_hostapi::text_of(text) }
}

/// Opens the library (it runs its initialisers: the sandbox is already in place) and checks
/// its descriptor against the info record read from the file.
pub(crate) fn open(path: &Path, package: &str, version: &str) -> Result<(), String> {
    // SAFETY: loading runs the library's initialisers; the runner is locked down by now, which
    // is the point of loading it here rather than in the host.
    let library = unsafe {
        libloading::os::unix::Library::open(
            Some(path),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
        )
    }
    .map_err(|error| format!("cannot load {}: {error}", path.display()))?;
    let library: &'static libloading::os::unix::Library = Box::leak(Box::new(library));
    type Entry = extern "C" fn() -> *const PluginDescriptor;
    // SAFETY: the symbol is the SDK's entry point, whose signature is fixed for ABI major 1.
    let entry = unsafe { library.get::<Entry>(ENTRY_SYMBOL.as_bytes()) }.map_err(|_| {
        format!("{} exports no `{ENTRY_SYMBOL}`: it was not built with `export_plugin!`", path.display())
    })?;
    let descriptor = entry();
    // SAFETY: the descriptor is a static of the library, which is never unloaded.
    let descriptor = unsafe { descriptor.as_ref() }
        .ok_or_else(|| format!("{}: the entry point returned no descriptor", path.display()))?;
    if descriptor.abi_major != ABI_MAJOR || (descriptor.size as usize) < tusk_plugin_abi::MIN_DESCRIPTOR_SIZE {
        return Err(format!(
            "{} is incompatible: its descriptor is ABI {} with {} bytes, this runner expects ABI {ABI_MAJOR} with at least {}",
            path.display(),
            descriptor.abi_major,
            descriptor.size,
            tusk_plugin_abi::MIN_DESCRIPTOR_SIZE
        ));
    }
    // SAFETY: the descriptor points at the library's static info record (or is null).
    let info: Option<InfoRecord> = unsafe { descriptor.info.as_ref() }.copied();
    let same = info.is_some_and(|info| fixed_text(&info.package) == package && fixed_text(&info.version) == version);
    if !same {
        return Err(format!("{}: the loaded library's info record differs from the file's", path.display()));
    }
    let _ = DESCRIPTOR.set(DescriptorRef(descriptor));
    Ok(())
}

fn failure_text(error: &ErrorOut) -> String {
    let message = text_of(error.message);
    let help = text_of(error.help);
    if help.is_empty() { message } else { format!("{message} ({help})") }
}

/// Runs the plugin's `init` with the runner's host API table.
pub(crate) fn init(session: &'static Session, config_json: &str) -> Result<(), String> {
    let descriptor = descriptor().ok_or("no plugin is loaded")?;
    let context = Context::leak(Remote { session }, ());
    // SAFETY: the descriptor points at the library's static info record (or is null).
    if let Some(info) = unsafe { descriptor.info.as_ref() } {
        context.set_plugin_abi_minor(info.abi_minor);
    }
    let _ = session.context.set(context);
    let mut error = ErrorOut::EMPTY;
    ALIVE.store(true, Ordering::Release);
    // SAFETY: the table and its context live for the rest of the process.
    let code = unsafe { (descriptor.init)(context.api(), StrRef::new(config_json), &mut error) };
    let refused = refused_threads(context);
    if code == status::OK && refused.is_none() {
        Ok(())
    } else if let Some(refused) = refused {
        ALIVE.store(false, Ordering::Release);
        Err(refused.message)
    } else {
        ALIVE.store(false, Ordering::Release);
        Err(failure_text(&error))
    }
}

/// Runs the plugin's `shutdown` (once).
pub(crate) fn shutdown() -> Result<(), String> {
    let Some(descriptor) = descriptor() else { return Ok(()) };
    if !ALIVE.swap(false, Ordering::AcqRel) {
        return Ok(());
    }
    let mut error = ErrorOut::EMPTY;
    // SAFETY: called once, after the last call.
    let code = unsafe { (descriptor.shutdown)(&mut error) };
    if code == status::OK { Ok(()) } else { Err(failure_text(&error)) }
}

/// The plugin's name and version as its `name()` and `version()` return them.
pub(crate) fn identity() -> (String, String) {
    let Some(descriptor) = descriptor() else { return (String::new(), String::new()) };
    // SAFETY: the descriptor is the loaded plugin's.
    unsafe { descriptor::identity(descriptor) }
}

/// What `init` registered: dispatch handles by index, and their descriptions for the host.
pub(crate) fn symbols() -> (Vec<Option<SymbolHandle>>, Vec<Symbol>) {
    let Some(descriptor) = descriptor() else { return (Vec::new(), Vec::new()) };
    // SAFETY: called after a successful `init`.
    let registered = unsafe { descriptor::symbols(descriptor) };
    let handles = registered.iter().map(|symbol| symbol.as_ref().map(|symbol| symbol.handle)).collect();
    let symbols = registered.into_iter().flatten().map(|registered| registered.symbol).collect();
    (handles, symbols)
}

/// Tells the plugin that nothing holds object `id` any more.
fn drop_object(id: u64) {
    if let (true, Some(descriptor)) = (ALIVE.load(Ordering::Acquire), descriptor()) {
        // SAFETY: the plugin is initialised and not shut down; `id` came from it.
        unsafe { (descriptor.drop_object)(id) };
    }
}

/// The host API's state in the runner; its address is the `context` of the plugin's table.
pub(crate) type RunnerContext = Context<Remote>;

/// The runner's backend of the host API: values live in the runner's handle table; script
/// functions, logs and permission checks are messages to the host over the session.
pub(crate) struct Remote {
    session: &'static Session,
}

/// Calls a symbol. The call's id doubles as the per-call context pointer the plugin passes
/// back when it calls a script function (non-null: ids start at 1).
pub(crate) fn call(
    session: &'static Session,
    symbol: SymbolHandle,
    call_id: u64,
    args: &[Local],
) -> Result<Local, CallError> {
    let (Some(descriptor), Some(context)) = (descriptor(), session.context.get().copied()) else {
        return Err(CallError {
            panicked: false,
            kind: error_kind::MESSAGE,
            argument: None,
            message: "no plugin is loaded".into(),
            help: String::new(),
        });
    };
    // Refused calls from the plugin's threads since its last call fail this one.
    if let Some(refused) = refused_threads(context) {
        return Err(refused);
    }
    let mut temporaries = Temporaries::new();
    let raw: Vec<TValue> = args.iter().map(|arg| context.give(arg, Some(&mut temporaries))).collect();
    let mut out = TValue::NULL;
    let mut error = ErrorOut::EMPTY;
    // SAFETY: the plugin is initialised; `raw` and the strings it borrows (owned by `args`)
    // outlive the call; the context pointer is only handed back to the host API table.
    let code = unsafe {
        (descriptor.call)(
            symbol.as_ptr(),
            call_id as usize as *mut c_void,
            raw.as_ptr(),
            raw.len(),
            &mut out,
            &mut error,
        )
    };
    // Copy the error out before anything else can call into the plugin.
    let failure = (code != status::OK).then(|| CallError {
        panicked: code == status::PANIC,
        kind: error.kind,
        argument: u32::try_from(error.argument).ok(),
        message: text_of(error.message),
        help: text_of(error.help),
    });
    context.release_all(temporaries);
    let result = match failure {
        // SAFETY: the plugin's result lives until its next call.
        None => Ok(unsafe { context.take(&out) }),
        Some(failure) => Err(failure),
    };
    // ... and so do refused calls during it, whatever it returned.
    match refused_threads(context) {
        Some(refused) => Err(refused),
        None => result,
    }
}

/// The error for calls other threads attempted since the last check (they were refused).
fn refused_threads(context: &RunnerContext) -> Option<CallError> {
    match context.refused_calls() {
        0 => None,
        refused => Some(CallError {
            panicked: false,
            kind: error_kind::MESSAGE,
            argument: None,
            message: foreign_thread_error(&context.backend().session.plugin, refused),
            help: String::new(),
        }),
    }
}

impl Backend for Remote {
    type Value = Local;
    type Shared = ();
    type Grant<'a> = AskHost;

    fn plugin(&self) -> &str {
        &self.session.plugin
    }

    fn shape<'v>(_context: &RunnerContext, value: &'v Local) -> Shape<'v> {
        match value {
            Local::Null => Shape::Null,
            Local::Bool(b) => Shape::Bool(*b),
            Local::Int(n) => Shape::Int(*n),
            Local::Float(x) => Shape::Float(*x),
            Local::Range(start, end) => Shape::Range(*start, *end),
            Local::Str(text) => Shape::Str(text),
            Local::Bytes(bytes) => Shape::Bytes(bytes),
            Local::Array(_) => Shape::Array,
            Local::Object(_) => Shape::Object,
            Local::Function(_) => Shape::Function,
            Local::Opaque(_) => Shape::Opaque,
            Local::PluginObject(object) => Shape::PluginObject(object.id),
        }
    }

    fn bool(value: bool) -> Local {
        Local::Bool(value)
    }

    fn int(value: i64) -> Local {
        Local::Int(value)
    }

    fn float(value: f64) -> Local {
        Local::Float(value)
    }

    fn range(start: i64, end: i64) -> Local {
        Local::Range(start, end)
    }

    fn string(text: &str) -> Local {
        Local::Str(Rc::from(text))
    }

    fn bytes(data: &[u8]) -> Local {
        Local::Bytes(Rc::from(data))
    }

    fn bytes_buffer(len: usize) -> (Local, *mut u8) {
        let (bytes, data) = tusk_plugin_hostapi::zeroed_bytes(len);
        (Local::Bytes(bytes), data)
    }

    fn bytes_around(before: usize, data: &[u8], after: usize) -> Option<(Local, *mut u8)> {
        let (bytes, pointer) = tusk_plugin_hostapi::bytes_around(before, data, after)?;
        Some((Local::Bytes(bytes), pointer))
    }

    fn shared_bytes(bytes: Rc<[u8]>) -> Local {
        Local::Bytes(bytes)
    }

    fn array(items: Vec<Local>) -> Local {
        Local::Array(Rc::new(items))
    }

    fn object(entries: Vec<(String, Local)>) -> Local {
        let mut unique: Vec<(Rc<str>, Local)> = Vec::with_capacity(entries.len());
        let mut index: std::collections::HashMap<Rc<str>, usize> = std::collections::HashMap::new();
        for (key, item) in entries {
            let key: Rc<str> = Rc::from(key);
            // Later keys win, in the first key's position (as the host's objects do).
            match index.get(&key) {
                Some(&at) => unique[at].1 = item,
                None => {
                    index.insert(key.clone(), unique.len());
                    unique.push((key, item));
                }
            }
        }
        Local::Object(Rc::new(unique))
    }

    fn length(value: &Local) -> usize {
        match value {
            Local::Array(items) => items.len(),
            Local::Object(entries) => entries.len(),
            _ => 0,
        }
    }

    fn item(value: &Local, index: usize) -> Lookup<Local> {
        match value {
            Local::Array(items) => items.get(index).cloned().map_or(Lookup::Missing, Lookup::Found),
            _ => Lookup::NotAContainer,
        }
    }

    fn field(value: &Local, key: &str) -> Lookup<Local> {
        match value {
            Local::Object(entries) => entries
                .iter()
                .find(|(name, _)| **name == *key)
                .map_or(Lookup::Missing, |(_, item)| Lookup::Found(item.clone())),
            _ => Lookup::NotAContainer,
        }
    }

    fn entry(value: &Local, index: usize) -> Lookup<(&str, Local)> {
        match value {
            Local::Object(entries) => {
                entries.get(index).map_or(Lookup::Missing, |(name, item)| Lookup::Found((&**name, item.clone())))
            }
            _ => Lookup::NotAContainer,
        }
    }

    fn call_function(
        context: &RunnerContext,
        call: CallPointer,
        function: Local,
        args: &[Local],
    ) -> Result<Local, String> {
        let session = context.backend().session;
        let Local::Function(function_id) = function else {
            return Err("only script functions can be called".into());
        };
        let wire_args = args.iter().map(|arg| session.wire(arg)).collect::<Result<Vec<_>, _>>()?;
        // The call pointer is the call's id (see `call`).
        session.callback(call.as_ptr() as usize as u64, function_id, wire_args).map(|value| session.local(value))
    }

    /// The host maps the items in one round trip: on its isolates, or (`workers` 0) on the
    /// interpreter's thread, which spares a sandboxed plugin a round trip per item.
    fn map_parallel(
        context: &RunnerContext,
        call: CallPointer,
        function: Local,
        items: Local,
        workers: usize,
    ) -> Result<Local, ParallelFailure> {
        let session = context.backend().session;
        let Local::Function(function_id) = function else {
            return Err(ParallelFailure::Failed("only script functions can be called".into()));
        };
        let items = session.wire(&items).map_err(ParallelFailure::Failed)?;
        let workers = u32::try_from(workers).unwrap_or(u32::MAX);
        // The call pointer is the call's id (see `call`).
        match session.map(call.as_ptr() as usize as u64, function_id, items, workers) {
            Ok(results) => Ok(session.local(results)),
            Err(MapFailure::Unsupported(reason)) => Err(ParallelFailure::Unsupported(reason)),
            Err(MapFailure::Failed(message)) => Err(ParallelFailure::Failed(message)),
        }
    }

    fn retain_function(context: &RunnerContext, _call: CallPointer, function: Local) -> Result<u64, Failure> {
        let Local::Function(function_id) = function else {
            return Err(Failure::message("only a script function can be retained"));
        };
        match context.backend().session.request(Request::Retain(function_id)) {
            Ok(Some(id)) => {
                id.parse::<u64>().map_err(|_| Failure::message(format!("the host answered {id:?} to a retain")))
            }
            Ok(None) => Err(Failure::message("the host retained nothing")),
            Err(message) => Err(Failure::script(message)),
        }
    }

    fn plugin_object(_context: &'static RunnerContext, type_name: String, id: u64) -> Local {
        Local::PluginObject(Rc::new(ObjectRef { id, type_name: Rc::from(type_name), on_drop: drop_object }))
    }

    fn log(context: &RunnerContext, level: u32, message: &str, fields: Local) {
        let session = context.backend().session;
        let fields = session.wire(&fields).unwrap_or(WireValue::Null);
        session.send(&tusk_plugin_wire::ToHost::Log { level, message: message.to_string(), fields });
    }

    fn grant(context: &RunnerContext) -> AskHost {
        AskHost(context.backend().session)
    }

    fn resolve_path(context: &RunnerContext, path: String) -> String {
        let request = Request::Resolve(path.clone());
        context.backend().session.request(request).ok().flatten().unwrap_or(path)
    }

    fn read_env(context: &RunnerContext, name: &str) -> Result<Option<String>, String> {
        context.backend().session.request(Request::Env(name.to_string()))
    }

    fn check_connect(context: &RunnerContext, host: &str, port: u16) -> Result<(), String> {
        context.backend().session.request(Request::Connect { host: host.to_string(), port }).map(|_| ())
    }

    fn is_cancelled(context: &RunnerContext) -> bool {
        context.backend().session.is_cancelled()
    }

    fn release_function(_shared: &(), function: u64) {
        crate::events::release(function);
    }

    fn post(_shared: &(), function: u64, args_json: String, reply: Reply) -> Result<(), Cow<'static, str>> {
        let reply: crate::events::Reply = Box::new(move |result| {
            reply(result.map_err(|failure| tusk_plugin_hostapi::PostFailure {
                script: failure.script,
                message: failure.message,
            }));
        });
        crate::events::post(function, args_json, reply).map_err(Cow::Owned)
    }

    fn start_service(_shared: &(), name: &str) -> Result<u64, Cow<'static, str>> {
        crate::events::start_service(name).map_err(Cow::Owned)
    }

    fn end_service(_shared: &(), service: u64) {
        crate::events::end_service(service);
    }

    /// The desk is the host's: a copy of the socket travels over the event channel.
    fn deposit_socket(
        _shared: &(),
        socket: std::os::fd::OwnedFd,
        prefix: Vec<u8>,
    ) -> Result<u64, (std::os::fd::OwnedFd, HandOffFailure)> {
        crate::events::deposit(socket, prefix).map_err(|(socket, why)| (socket, HandOffFailure::Failed(why)))
    }

    fn take_socket(_shared: &(), ticket: u64) -> Result<(std::os::fd::OwnedFd, Vec<u8>), HandOffFailure> {
        crate::events::take(ticket).map_err(|failure| match failure {
            crate::events::TakeFailure::NotFound(why) => HandOffFailure::NotFound(why),
            crate::events::TakeFailure::Failed(why) => HandOffFailure::Failed(why),
        })
    }
}

/// The runner asks the host, which checks the user's grants and answers with the resolved
/// path (relative paths mean the script's folder).
pub(crate) struct AskHost(&'static Session);

impl AskHost {
    fn resolved(&self, request: Request, path: &str) -> Result<PathBuf, String> {
        self.0.request(request).map(|resolved| PathBuf::from(resolved.unwrap_or_else(|| path.to_string())))
    }
}

impl Grant for AskHost {
    fn may_read(&self, path: &str) -> Result<PathBuf, String> {
        self.resolved(Request::Read(path.to_string()), path)
    }
    fn may_write(&self, path: &str) -> Result<PathBuf, String> {
        self.resolved(Request::Write(path.to_string()), path)
    }
}
