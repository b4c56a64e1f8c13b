//! The host side of the C ABI: one of the plugin host's two modules with `unsafe`.
//!
//! It opens libraries (never closes them: unloading Rust code whose thread-locals and
//! destructors may still be registered is unsound), calls the plugin descriptor, and is the
//! in-process [`Backend`] of the host API table (`tusk-plugin-hostapi`, which owns the table's
//! entries, their pointer checks, `catch_unwind` and the thread check): host values given to a
//! plugin live in its context's handle table ([`HostContext`]), script functions run on the
//! interpreter's call context, grants are checked here from the user's.
//!
//! The host API may only be called on the thread that owns the context (the interpreter's):
//! the handle table is not shared between threads. A call from another thread is refused,
//! and the plugin's current or next call fails with an error naming it.
//!
//! # Safety
//!
//! The texts and values a plugin returns from its descriptor's functions (names, error
//! records, results) are read at once, while the plugin keeps them valid (until its next call).
#![allow(unsafe_code)]

use std::any::Any;
use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tusk_eval::isolate::{ParallelError, ParallelItems};
use tusk_eval::{Bytes, CallContext, Foreign, Key, Object, RuntimeError, Text, Value};
use tusk_plugin_abi::{
    CallFn, CallReturn, ENTRY_SYMBOL, ErrorOut, LeanCallFn, PluginDescriptor, StrRef, TValue, error_kind,
    foreign_thread_error, status, tag,
};
use tusk_plugin_boundary::fs::Grant;
use tusk_plugin_hostapi::descriptor;
pub(crate) use tusk_plugin_hostapi::descriptor::{RegisteredSymbol, SymbolHandle};
use tusk_plugin_hostapi::{
    Backend, CallPointer, Context, Failure, HandOffFailure, Lookup, ParallelFailure, Reply, Shape, Temporaries,
};

/// What the host does for plugins beyond values: permission-checked I/O, logging,
/// cancellation. Implemented by the plugin manager from the user's grants.
pub trait HostServices {
    /// May the plugin read this file? Returns the resolved path to open (relative paths are
    /// relative to the script, so the check and the I/O must use the same resolved path).
    fn may_read(&self, plugin: &str, path: &Path) -> Result<PathBuf, String>;
    /// May the plugin write this file? Returns the resolved path to write.
    fn may_write(&self, plugin: &str, path: &Path) -> Result<PathBuf, String>;
    /// The absolute path `path` means for the plugin (relative paths are relative to the script).
    fn resolve_path(&self, plugin: &str, path: &Path) -> PathBuf;
    /// May the plugin read this environment variable?
    fn may_read_env(&self, plugin: &str, name: &str) -> Result<(), String>;
    /// May the plugin connect to `host:port`?
    fn may_connect(&self, plugin: &str, host: &str, port: u16) -> Result<(), String>;
    /// A log record from the plugin (level 0 trace … 4 error).
    fn log(&self, plugin: &str, level: u32, message: &str, fields: &Value);
    /// True when the running call should stop (deadline, Ctrl-C).
    fn cancelled(&self) -> bool;
    /// The engine's event loop, for long-lived plugins (retained functions, posts, services).
    fn events(&self) -> Option<tusk_eval::events::EventSender> {
        None
    }
}

/// A loaded library's entry point. The library stays mapped for the life of the process.
pub(crate) fn open_library(path: &Path) -> Result<&'static PluginDescriptor, String> {
    #[cfg(unix)]
    // SAFETY: loading runs the library's initialisers. The host only loads files whose info
    // record it has checked, from its own content-addressed copy; in-process plugins are
    // trusted code (the sandboxed runner is the boundary for untrusted ones).
    let library = unsafe {
        libloading::os::unix::Library::open(
            Some(path),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
        )
    }
    .map(libloading::Library::from);
    #[cfg(not(unix))]
    // SAFETY: as above.
    let library = unsafe { libloading::Library::new(path) };
    let library = library.map_err(|error| format!("cannot load {}: {error}", path.display()))?;
    // Never unloaded: see the module documentation.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    type Entry = extern "C" fn() -> *const PluginDescriptor;
    // SAFETY: the symbol is the SDK's entry point, whose signature is fixed for ABI major 1.
    let entry = unsafe { library.get::<Entry>(ENTRY_SYMBOL.as_bytes()) }.map_err(|_| {
        format!("{} exports no `{ENTRY_SYMBOL}`: it was not built with `export_plugin!`", path.display())
    })?;
    let descriptor = entry();
    // SAFETY: the descriptor is a static of the library, which is never unloaded.
    unsafe { descriptor.as_ref() }.ok_or_else(|| format!("{}: the entry point returned no descriptor", path.display()))
}

/// The plugin's info record as the descriptor has it (compared with the file's).
pub(crate) fn descriptor_info(descriptor: &PluginDescriptor) -> Option<tusk_plugin_abi::InfoRecord> {
    // SAFETY: the descriptor points at the library's static info record (or is null).
    unsafe { descriptor.info.as_ref() }.copied()
}

/// Copies a text the plugin handed back (an error record's, a symbol's description).
fn text_of(text: StrRef) -> String {
    // SAFETY: only called on texts the plugin just returned, which it keeps valid until its
    // next call (the module's contract).
    unsafe { tusk_plugin_hostapi::text_of(text) }
}

/// An error reported by the plugin, copied out of its memory.
pub(crate) struct PluginFailure {
    pub(crate) status: u32,
    pub(crate) kind: u32,
    pub(crate) argument: Option<usize>,
    pub(crate) message: String,
    pub(crate) help: String,
}

#[cold]
fn failure(code: u32, error: &ErrorOut) -> PluginFailure {
    PluginFailure {
        status: code,
        kind: error.kind,
        argument: usize::try_from(error.argument).ok(),
        message: text_of(error.message),
        help: text_of(error.help),
    }
}

/// Calls the plugin's `init`.
pub(crate) fn init(
    descriptor: &PluginDescriptor,
    host: &'static HostContext,
    config_json: &str,
) -> Result<(), PluginFailure> {
    let mut error = ErrorOut::EMPTY;
    // SAFETY: the host API table and its context live for the rest of the process.
    let code = unsafe { (descriptor.init)(host.api(), StrRef::new(config_json), &mut error) };
    let result = if code == status::OK { Ok(()) } else { Err(failure(code, &error)) };
    refused_threads(host)?;
    result
}

/// Calls the plugin's `shutdown`.
pub(crate) fn shutdown(host: &HostContext, descriptor: &PluginDescriptor) -> Result<(), PluginFailure> {
    let mut error = ErrorOut::EMPTY;
    // SAFETY: called once, after the last call.
    let code = unsafe { (descriptor.shutdown)(&mut error) };
    let result = if code == status::OK { Ok(()) } else { Err(failure(code, &error)) };
    refused_threads(host)?;
    result
}

/// The plugin's name and version as its `name()` and `version()` return them.
pub(crate) fn identity(descriptor: &PluginDescriptor) -> (String, String) {
    // SAFETY: the descriptor is a loaded plugin's.
    unsafe { descriptor::identity(descriptor) }
}

/// What `init` registered, copied out of the plugin.
pub(crate) fn symbols(descriptor: &PluginDescriptor) -> Vec<RegisteredSymbol> {
    // SAFETY: called after a successful `init`.
    unsafe { descriptor::symbols(descriptor) }.into_iter().flatten().collect()
}

/// The host API's state for one plugin; its address is the `context` of the plugin's table.
pub(crate) type HostContext = Context<InProcess>;

/// The in-process backend of the host API: values live in the host, script functions run on
/// the interpreter's call context, grants are checked here.
pub(crate) struct InProcess {
    plugin: String,
    services: Rc<dyn HostServices>,
    descriptor: Cell<Option<&'static PluginDescriptor>>,
    alive: Cell<bool>,
    /// Calls into the plugin in progress (calls nest through script functions).
    calls: Cell<u32>,
    /// Set when the plugin's `shutdown` starts: later calls fail cleanly. Here rather than in
    /// the `LoadedPlugin`, because a symbol's thunk holds no reference to that.
    closed: Cell<bool>,
    /// The shutdown of a retired generation dropped while calls were still running on it
    /// through symbol thunks (which hold no reference to it): run when the outermost of them
    /// returns (see [`call_raw`]). `shutdown_deferred` says whether there is one, for that
    /// check on every call.
    deferred_shutdown: Cell<Option<Box<dyn FnOnce()>>>,
    shutdown_deferred: Cell<bool>,
}

/// Creates the context of one plugin (leaked: the plugin keeps pointers to it forever).
pub(crate) fn leak_context(plugin: &str, services: Rc<dyn HostServices>) -> &'static HostContext {
    let events =
        services.events().map(|sender| crate::events::PluginEvents { plugin: std::sync::Arc::from(plugin), sender });
    let backend = InProcess {
        plugin: plugin.to_string(),
        services,
        descriptor: Cell::new(None),
        alive: Cell::new(true),
        calls: Cell::new(0),
        closed: Cell::new(false),
        deferred_shutdown: Cell::new(None),
        shutdown_deferred: Cell::new(false),
    };
    Context::leak(backend, events)
}

impl InProcess {
    pub(crate) fn set_descriptor(&self, descriptor: &'static PluginDescriptor) {
        self.descriptor.set(Some(descriptor));
    }

    /// Marks the plugin as shut down: dropping its objects no longer calls into it.
    pub(crate) fn retire(&self) {
        self.alive.set(false);
    }

    /// Marks the plugin as shutting down: its symbols' calls fail from now on.
    pub(crate) fn close(&self) {
        self.closed.set(true);
    }

    /// True while calls into the plugin are in progress on this thread.
    pub(crate) fn in_call(&self) -> bool {
        self.calls.get() > 0
    }

    /// Runs `shutdown` when the outermost call in progress returns.
    pub(crate) fn defer_shutdown(&self, shutdown: Box<dyn FnOnce()>) {
        self.deferred_shutdown.set(Some(shutdown));
        self.shutdown_deferred.set(true);
    }

    /// The plugin's name.
    pub(crate) fn plugin_name(&self) -> &str {
        &self.plugin
    }
}

/// Runs a shutdown deferred by [`InProcess::defer_shutdown`].
#[cold]
#[inline(never)]
fn run_deferred_shutdown(backend: &InProcess) {
    backend.shutdown_deferred.set(false);
    if let Some(shutdown) = backend.deferred_shutdown.take() {
        shutdown();
    }
}

/// Fails when other threads tried to use the context since the last check (their calls were
/// refused): the plugin is told by the failure of its current call.
#[inline]
fn refused_threads(host: &HostContext) -> Result<(), PluginFailure> {
    match host.refused_calls() {
        0 => Ok(()),
        refused => Err(refused_failure(host, refused)),
    }
}

#[cold]
fn refused_failure(host: &HostContext, refused: u64) -> PluginFailure {
    PluginFailure {
        status: status::ERROR,
        kind: error_kind::MESSAGE,
        argument: None,
        message: foreign_thread_error(&host.backend().plugin, refused),
        help: String::new(),
    }
}

/// A plugin object held by the script; dropping the last reference tells the plugin.
struct PluginObject {
    id: u64,
    owner: &'static HostContext,
}

impl Drop for PluginObject {
    fn drop(&mut self) {
        let owner = self.owner.backend();
        if let (true, Some(descriptor)) = (owner.alive.get(), owner.descriptor.get()) {
            // SAFETY: the plugin is initialised and not shut down; `id` came from it.
            unsafe { (descriptor.drop_object)(self.id) };
        }
    }
}

/// What a host API function writes when the host runs no event loop.
pub(crate) const NO_LOOP: &str = "this host runs no event loop: retained functions, posts and services need one \
                       (the tusk command and `Engine` have one)";

/// The interpreter's call context behind a call pointer.
///
/// # Safety
///
/// `call` must be the pointer [`call`] handed to the plugin for the call in progress on this
/// thread, and no other reference to that call context may be in use.
unsafe fn call_context<'a>(call: CallPointer) -> &'a mut CallContext<'a, 'a> {
    // SAFETY: the caller's contract.
    unsafe { &mut *call.as_ptr().cast::<CallContext<'a, 'a>>() }
}

impl Backend for InProcess {
    type Value = Value;
    type Shared = Option<crate::events::PluginEvents>;
    type Grant<'a> = CheckedHere<'a>;

    fn plugin(&self) -> &str {
        &self.plugin
    }

    fn shape<'v>(context: &HostContext, value: &'v Value) -> Shape<'v> {
        match value {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Int(n) => Shape::Int(*n),
            Value::Float(x) => Shape::Float(*x),
            Value::Range(start, end) => Shape::Range(*start, *end),
            Value::Str(text) => Shape::Str(text),
            Value::Array(_) => Shape::Array,
            Value::Object(_) => Shape::Object,
            Value::Func(_) => Shape::Function,
            Value::Bytes(bytes) => Shape::Bytes(bytes),
            Value::Foreign(foreign) => match foreign.data.downcast_ref::<PluginObject>() {
                Some(object) if std::ptr::eq(object.owner, context) => Shape::PluginObject(object.id),
                _ => Shape::Opaque,
            },
        }
    }

    fn bool(value: bool) -> Value {
        Value::Bool(value)
    }

    fn int(value: i64) -> Value {
        Value::Int(value)
    }

    fn float(value: f64) -> Value {
        Value::Float(value)
    }

    fn range(start: i64, end: i64) -> Value {
        Value::Range(start, end)
    }

    fn string(text: &str) -> Value {
        Value::Str(Text::from(text))
    }

    fn bytes(data: &[u8]) -> Value {
        Value::bytes(data)
    }

    fn bytes_buffer(len: usize) -> (Value, *mut u8) {
        let (bytes, data) = tusk_plugin_hostapi::zeroed_bytes(len);
        (Value::Bytes(Bytes::from(bytes)), data)
    }

    fn bytes_around(before: usize, data: &[u8], after: usize) -> Option<(Value, *mut u8)> {
        let (bytes, pointer) = tusk_plugin_hostapi::bytes_around(before, data, after)?;
        Some((Value::Bytes(Bytes::from(bytes)), pointer))
    }

    fn shared_bytes(bytes: Rc<[u8]>) -> Value {
        Value::Bytes(Bytes::from(bytes))
    }

    fn array(items: Vec<Value>) -> Value {
        Value::array(items)
    }

    fn object(entries: Vec<(String, Value)>) -> Value {
        let mut object = Object::with_capacity(entries.len());
        for (key, value) in entries {
            object.insert(Key::from(key), value);
        }
        Value::object(object)
    }

    fn length(value: &Value) -> usize {
        match value {
            Value::Array(items) => items.len(),
            Value::Object(object) => object.len(),
            _ => 0,
        }
    }

    fn item(value: &Value, index: usize) -> Lookup<Value> {
        match value {
            Value::Array(items) => items.get(index).cloned().map_or(Lookup::Missing, Lookup::Found),
            _ => Lookup::NotAContainer,
        }
    }

    fn field(value: &Value, key: &str) -> Lookup<Value> {
        match value {
            Value::Object(object) => object.get(key).cloned().map_or(Lookup::Missing, Lookup::Found),
            _ => Lookup::NotAContainer,
        }
    }

    fn entry(value: &Value, index: usize) -> Lookup<(&str, Value)> {
        match value {
            Value::Object(object) => object
                .iter()
                .nth(index)
                .map_or(Lookup::Missing, |(key, value)| Lookup::Found((key.as_str(), value.clone()))),
            _ => Lookup::NotAContainer,
        }
    }

    fn call_function(
        _context: &HostContext,
        call: CallPointer,
        function: Value,
        args: &[Value],
    ) -> Result<Value, String> {
        // SAFETY: the table only passes call pointers of the plugin's call in progress, on the
        // thread that owns the context (checked), where `call` lent it.
        let call_context = unsafe { call_context(call) };
        call_context.call(&function, args).map_err(|error| error.to_string())
    }

    fn map_parallel(
        _context: &HostContext,
        call: CallPointer,
        function: Value,
        items: Value,
        workers: usize,
    ) -> Result<Value, ParallelFailure> {
        // No isolates asked for: a batch saves nothing over the plugin's own calls here.
        if workers == 0 {
            return Err(ParallelFailure::Unsupported("an in-process plugin calls script functions itself".into()));
        }
        let items = match &items {
            Value::Array(values) => ParallelItems::Values(values),
            Value::Range(start, end) => ParallelItems::Range(*start, *end),
            _ => return Err(ParallelFailure::Failed("parallel calls need an array or a range of items".into())),
        };
        // SAFETY: as in `call_function`.
        let call_context = unsafe { call_context(call) };
        match tusk_eval::isolate::map_parallel(call_context, &function, items, workers) {
            Ok(results) => Ok(Value::array(results)),
            Err(ParallelError::Unsupported(reason)) => Err(ParallelFailure::Unsupported(reason)),
            Err(ParallelError::Failed(error)) => Err(ParallelFailure::Failed(error.to_string())),
        }
    }

    fn retain_function(context: &HostContext, call: CallPointer, function: Value) -> Result<u64, Failure> {
        let Some(events) = context.shared() else { return Err(Failure::message(NO_LOOP)) };
        // SAFETY: as in `call_function`.
        let call_context = unsafe { call_context(call) };
        let site = call_context.call_site();
        Ok(call_context.runtime().events().retain(&events.plugin, function, site))
    }

    fn plugin_object(context: &'static HostContext, type_name: String, id: u64) -> Value {
        let data: Box<dyn Any> = Box::new(PluginObject { id, owner: context });
        Value::Foreign(Rc::new(Foreign { type_name: Rc::from(type_name), data }))
    }

    fn log(context: &HostContext, level: u32, message: &str, fields: Value) {
        let backend = context.backend();
        backend.services.log(&backend.plugin, level, message, &fields);
    }

    fn grant(context: &HostContext) -> CheckedHere<'_> {
        CheckedHere(context.backend())
    }

    fn resolve_path(context: &HostContext, path: String) -> String {
        let backend = context.backend();
        backend.services.resolve_path(&backend.plugin, Path::new(&path)).display().to_string()
    }

    fn read_env(context: &HostContext, name: &str) -> Result<Option<String>, String> {
        let backend = context.backend();
        backend.services.may_read_env(&backend.plugin, name)?;
        Ok(std::env::var(name).ok())
    }

    fn check_connect(context: &HostContext, host: &str, port: u16) -> Result<(), String> {
        let backend = context.backend();
        backend.services.may_connect(&backend.plugin, host, port)
    }

    fn is_cancelled(context: &HostContext) -> bool {
        context.backend().services.cancelled()
    }

    fn release_function(shared: &Self::Shared, function: u64) {
        if let Some(events) = shared {
            events.sender.release(&events.plugin, function);
        }
    }

    fn post(shared: &Self::Shared, function: u64, args_json: String, reply: Reply) -> Result<(), Cow<'static, str>> {
        let Some(events) = shared else { return Err(NO_LOOP.into()) };
        match events.post(function, args_json, reply) {
            Ok(()) => Ok(()),
            Err(_unused) => Err(tusk_eval::events::SHUTTING_DOWN.into()),
        }
    }

    fn start_service(shared: &Self::Shared, name: &str) -> Result<u64, Cow<'static, str>> {
        let Some(events) = shared else { return Err(NO_LOOP.into()) };
        events.sender.start_service(&events.plugin, name).map_err(|_| tusk_eval::events::SHUTTING_DOWN.into())
    }

    fn end_service(shared: &Self::Shared, service: u64) {
        if let Some(events) = shared {
            events.sender.end_service(service);
        }
    }

    // In-process plugins share the process's descriptors, and so the hand-off desk.
    #[cfg(unix)]
    fn deposit_socket(
        _shared: &Self::Shared,
        socket: std::os::fd::OwnedFd,
        prefix: Vec<u8>,
    ) -> Result<u64, (std::os::fd::OwnedFd, HandOffFailure)> {
        Ok(tusk_plugin_hostapi::sockets::deposit(socket, prefix))
    }

    #[cfg(unix)]
    fn take_socket(_shared: &Self::Shared, ticket: u64) -> Result<(std::os::fd::OwnedFd, Vec<u8>), HandOffFailure> {
        tusk_plugin_hostapi::sockets::take(ticket).map_err(HandOffFailure::NotFound)
    }
}

/// The in-process host decides from the user's grants itself.
pub(crate) struct CheckedHere<'a>(&'a InProcess);

impl Grant for CheckedHere<'_> {
    fn may_read(&self, path: &str) -> Result<PathBuf, String> {
        self.0.services.may_read(&self.0.plugin, Path::new(path))
    }
    fn may_write(&self, path: &str) -> Result<PathBuf, String> {
        self.0.services.may_write(&self.0.plugin, Path::new(path))
    }
}

/// The function that calls `symbol`: its own entry when the plugin has one (ABI 1.5), else
/// the descriptor's `call`. Valid until the plugin's `shutdown`, after which no call reaches
/// it (the symbol's closure checks first).
pub(crate) fn entry_of(descriptor: &PluginDescriptor, symbol: SymbolHandle) -> CallFn {
    entry_for(descriptor, symbol.as_ptr())
}

fn entry_for(descriptor: &PluginDescriptor, symbol: *const c_void) -> CallFn {
    if (descriptor.size as usize) < tusk_plugin_abi::SYMBOL_CALL_END {
        return descriptor.call;
    }
    // SAFETY: the descriptor's size covers the field (checked above), so the plugin set it;
    // the descriptor is an initialised plugin's (symbols are read after `init`) and `symbol`
    // a handle it described.
    unsafe { (descriptor.symbol_call)(symbol) }.unwrap_or(descriptor.call)
}

/// The lean entry of `symbol` (ABI 1.6) when the plugin has one: `None` for a plugin built
/// for ABI 1.0–1.5 (its descriptor ends before the field) and for a symbol without one. Valid
/// as [`entry_of`]'s.
pub(crate) fn lean_entry_of(descriptor: &PluginDescriptor, symbol: SymbolHandle) -> Option<LeanCallFn> {
    lean_entry_for(descriptor, symbol.as_ptr())
}

fn lean_entry_for(descriptor: &PluginDescriptor, symbol: *const c_void) -> Option<LeanCallFn> {
    if (descriptor.size as usize) < tusk_plugin_abi::LEAN_CALL_END {
        return None;
    }
    // SAFETY: the descriptor's size covers the field (checked above), so the plugin set it;
    // the descriptor is an initialised plugin's and `symbol` a handle it described.
    unsafe { (descriptor.lean_call)(symbol) }
}

/// A symbol's entry, called with the arguments already lent: an ABI 1.6 lean entry, or a
/// [`CallFn`] (a symbol's own entry of ABI 1.5 or the descriptor's `call`).
pub(crate) trait Entry: Copy + 'static {
    /// Calls the entry; what it returns, and what it leaves in `out` and `error`, follow a lean
    /// entry's contract ([`CallReturn`]): a scalar result in the return alone, any other result
    /// written to `out`, `error` written in full when the call fails.
    ///
    /// # Safety
    ///
    /// The plugin is initialised and `self` is its entry for `symbol` (a handle it described;
    /// see [`entry_of`] and [`lean_entry_of`]); `raw` and the values it borrows outlive the call; `call_context` is
    /// the call's context, only used by callbacks during this call; `out` and `error` are valid
    /// for writes.
    unsafe fn enter_raw(
        self,
        symbol: *const c_void,
        call_context: *mut c_void,
        raw: &[TValue],
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> CallReturn;

    /// Calls the entry and converts its result.
    ///
    /// # Safety
    ///
    /// As [`Entry::enter_raw`].
    #[inline(always)]
    unsafe fn enter(
        self,
        host: &'static HostContext,
        symbol: *const c_void,
        call_context: *mut c_void,
        raw: &[TValue],
    ) -> Result<Value, Box<PluginFailure>> {
        let mut out = MaybeUninit::<TValue>::uninit();
        let mut error = MaybeUninit::<ErrorOut>::uninit();
        // SAFETY: the caller's contract; both out-pointers are valid for writes.
        let returned = unsafe { self.enter_raw(symbol, call_context, raw, out.as_mut_ptr(), error.as_mut_ptr()) };
        // SAFETY: the entry wrote `out` and `error` as `returned` says (`enter_raw`'s contract).
        unsafe { converted(host, returned, &out, &error) }
    }
}

impl Entry for CallFn {
    #[inline(always)]
    unsafe fn enter_raw(
        self,
        symbol: *const c_void,
        call_context: *mut c_void,
        raw: &[TValue],
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> CallReturn {
        // SAFETY: the caller's contract: both are valid for writes. Initialised, as they were
        // for plugins of ABI 1.0–1.5, which may leave a field of either unwritten.
        unsafe {
            out.write(TValue::NULL);
            error.write(ErrorOut::EMPTY);
        }
        // SAFETY: the caller's contract; both out-pointers are valid and initialised.
        let code = unsafe { self(symbol, call_context, raw.as_ptr(), raw.len(), out, error) };
        // A `CallFn` writes every result to `out` (which `CallReturn::ok` repeats) and its
        // error to `error`.
        // SAFETY: `out` was initialised above.
        if code == status::OK { CallReturn::ok(unsafe { &*out }) } else { CallReturn::failed(code) }
    }
}

impl Entry for LeanCallFn {
    #[inline(always)]
    unsafe fn enter_raw(
        self,
        symbol: *const c_void,
        call_context: *mut c_void,
        raw: &[TValue],
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> CallReturn {
        // Neither is initialised: a lean entry writes `out` only for a result that is not a
        // scalar and `error` in full when it fails (`CallReturn`'s contract), and each is read
        // only then.
        // SAFETY: the caller's contract; both out-pointers are valid for writes.
        unsafe { self(symbol, call_context, raw.as_ptr(), raw.len(), out, error) }
    }
}

/// A call's result or failure from what its entry returned, copied out of the plugin (its
/// texts live until its next call).
///
/// # Safety
///
/// `returned`, `out` and `error` are what an entry's call returned and left ([`Entry::enter_raw`]).
#[inline(always)]
unsafe fn converted(
    host: &'static HostContext,
    returned: CallReturn,
    out: &MaybeUninit<TValue>,
    error: &MaybeUninit<ErrorOut>,
) -> Result<Value, Box<PluginFailure>> {
    if returned.status != status::OK {
        // SAFETY: an entry that fails writes every field of `error` (the function's contract).
        return Err(Box::new(failure(returned.status, unsafe { error.assume_init_ref() })));
    }
    match scalar_result(returned.tag, returned.a) {
        Some(value) => Ok(value),
        // SAFETY: an entry whose result is not a scalar writes it to `out` in full.
        None => heap_result(host, unsafe { out.assume_init_ref() }),
    }
}

/// A call's result, or its failure as the caller's error. Calls the plugin's threads made
/// into the host, refused since its last call (which checked the same way), fail this one,
/// whatever it returned: checked once, after the call, which catches a refusal before it as
/// well as one during it.
#[inline(always)]
fn finish(
    host: &'static HostContext,
    result: Result<Value, Box<PluginFailure>>,
    failed: impl FnOnce(PluginFailure) -> RuntimeError,
) -> Result<Value, RuntimeError> {
    match host.refused_calls() {
        0 => result.map_err(|failure| failed(*failure)),
        refused => Err(refused_after(host, refused, result, failed)),
    }
}

/// The failure of a call during or before which the plugin's threads were refused: its
/// result, whatever it was, is dropped.
#[cold]
#[inline(never)]
fn refused_after(
    host: &'static HostContext,
    refused: u64,
    result: Result<Value, Box<PluginFailure>>,
    failed: impl FnOnce(PluginFailure) -> RuntimeError,
) -> RuntimeError {
    drop(result);
    failed(refused_failure(host, refused))
}

/// The bits of a return's first word (its status in the low half, its tag in the high half)
/// that are zero only for status `OK` with a scalar's tag, `NULL` to `FLOAT` (0 to 3).
const SCALAR_RETURN_MASK: u64 = !((tag::FLOAT as u64) << 32);
const _: () = assert!(status::OK == 0 && tag::NULL == 0 && tag::FLOAT == 3);

/// How many arguments a call lends from a fixed-size array.
const INLINE_ARGUMENTS: usize = 4;

// A number's kind (`Value::number_bits`) is its ABI tag, and the two tags differ in the low bit
// alone: a number crosses either way without a switch on its kind.
const _: () = assert!(Value::INT_KIND == tag::INT as u64 && Value::FLOAT_KIND == tag::FLOAT as u64);
const _: () = assert!(tag::FLOAT == tag::INT | 1);

/// Lends `args` in `raw` when each is a number or a string (lent as a borrowed view, as
/// [`Context::give`](tusk_plugin_hostapi::Context::give) lends it): most arguments of hot calls;
/// and there are at most [`INLINE_ARGUMENTS`]; false otherwise (some slots may then be written,
/// none is read), for [`FastSymbol::call_lending`], which lends every kind. A number is lent
/// with one test of its tag and a string with one more: a `match` on every kind that crosses
/// inline became a jump table for every argument, and a function of its own for the other
/// kinds, called from here, widened the common call's frame.
#[inline(always)]
fn lend_all(raw: &mut [MaybeUninit<TValue>; INLINE_ARGUMENTS], args: &[&Value]) -> bool {
    args.len() <= INLINE_ARGUMENTS
        && raw.iter_mut().zip(args).all(|(slot, arg)| {
            let words = match arg.number_bits() {
                Some((kind, bits)) => [kind, bits, 0],
                None => match arg {
                    Value::Str(text) => [u64::from(tag::STR), text.as_ptr() as u64, text.len() as u64],
                    _ => return false,
                },
            };
            slot.write(lent_value(words));
            true
        })
}

/// The `TValue` of a lent number or string from its three words: the tag (the number's kind is
/// its ABI tag, asserted above) with the reserved flags (zero), and the two payload words.
#[inline(always)]
fn lent_value(words: [u64; 3]) -> TValue {
    #[cfg(target_endian = "little")]
    // SAFETY: `TValue` is `repr(C)`: two `u32`s and two `u64`s, 24 bytes without padding, and
    // any bits make a valid one; on a little-endian target the first word's low half is `tag`
    // and its high half `flags` (zero: every tag here is below 2^32). One store of the word
    // where the two halves were two.
    return unsafe { std::mem::transmute::<[u64; 3], TValue>(words) };
    #[cfg(not(target_endian = "little"))]
    TValue::new(words[0] as u32, words[1], words[2])
}

/// The call itself, with the arguments already lent, converted; the depth of calls in
/// progress is kept (see [`FastSymbol::call`]). The route of calls that lend a handle.
#[inline(always)]
fn call_raw<E: Entry>(
    host: &'static HostContext,
    entry: E,
    symbol: SymbolHandle,
    ctx: &mut CallContext<'_, '_>,
    raw: &[TValue],
) -> Result<Value, Box<PluginFailure>> {
    let calls = &host.backend().calls;
    calls.set(calls.get() + 1);
    let call_context = (ctx as *mut CallContext<'_, '_>).cast::<c_void>();
    // SAFETY: `entry` is the plugin's entry for `symbol` (see `entry_of`, `lean_entry_of`);
    // `raw` and the values it borrows outlive the call; `call_context` is only used by
    // callbacks during this call.
    let result = unsafe { entry.enter(host, symbol.as_ptr(), call_context, raw) };
    left_call(host);
    result
}

/// One call fewer in progress, its result copied out of the plugin already. When it was the
/// outermost, a new epoch starts (what the plugin got during it is out of reach from now on),
/// and a shutdown that waited for it runs.
#[inline(always)]
fn left_call(host: &'static HostContext) {
    let backend = host.backend();
    // One less, rather than the depth kept across the call: nested calls leave it as they
    // found it, and the frame has one register fewer to save.
    let depth = backend.calls.get() - 1;
    backend.calls.set(depth);
    if depth == 0 {
        host.begin_epoch();
        if backend.shutdown_deferred.get() {
            run_deferred_shutdown(backend);
        }
    }
}

/// Where an entry writes a result that is not a scalar and a failure.
struct Outs {
    out: MaybeUninit<TValue>,
    error: MaybeUninit<ErrorOut>,
}

/// An in-process plugin's symbol as the interpreter calls it, found once when the symbol is
/// loaded: the host context, the symbol's entry (its lean one of ABI 1.6, else its own of ABI
/// 1.5, else the descriptor's `call`), its handle, the crash note and its name for errors.
/// Leaked, as the context and the crash note are: its [`Thunk`](tusk_eval::Thunk) is a plain
/// copyable pair that a call in flight keeps after a reload patched the symbol, so what it
/// points at lives for the rest of the process (one per symbol and generation, as each
/// generation's image stays mapped).
///
/// `repr(C)` with the crash note first: a call marks the note at the symbol's own address.
#[repr(C)]
pub(crate) struct FastSymbol<E> {
    crash_note: crate::crash::CrashNote,
    host: &'static HostContext,
    entry: E,
    handle: SymbolHandle,
    /// `@op` or `f`, for errors.
    display: Box<str>,
}

impl<E: Entry> FastSymbol<E> {
    /// Finds what a call of `handle` through `entry` needs, once, for the rest of the process.
    pub(crate) fn leak(
        host: &'static HostContext,
        entry: E,
        handle: SymbolHandle,
        crash_note: crate::crash::CrashNote,
        display: String,
    ) -> &'static FastSymbol<E> {
        Box::leak(Box::new(FastSymbol { crash_note, host, entry, handle, display: display.into_boxed_str() }))
    }

    /// Calls the symbol: fails cleanly once the plugin is shutting down, marks the call for the
    /// crash handler, and turns the plugin's failure (a panic caught by the SDK, an error, a
    /// refused thread) into the interpreter's error, which the interpreter then locates.
    ///
    /// The common call (at most [`INLINE_ARGUMENTS`] arguments, numbers and strings, a scalar
    /// result, no refused thread, no shutdown waiting) is all here, inlined into the symbol's
    /// thunk: one frame, the result built where the caller wants it. Anything else leaves it
    /// for a function of its own before the call ([`FastSymbol::call_lending`]) or after it
    /// ([`FastSymbol::finish_call`]), so the common frame keeps only what it needs across the
    /// plugin's call.
    #[inline(always)]
    pub(crate) fn call(&'static self, ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
        let host = self.host;
        let backend = host.backend();
        if backend.closed.get() {
            return Err(self.shut_down());
        }
        let mut raw = [MaybeUninit::<TValue>::uninit(); INLINE_ARGUMENTS];
        if !lend_all(&mut raw, args) {
            return self.call_lending(ctx, args);
        }
        // SAFETY: every argument was written to its slot (`lend_all`), and `TValue` has the
        // layout of `MaybeUninit<TValue>`.
        let raw = unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<TValue>(), args.len()) };
        let running = crate::crash::running(&self.crash_note);
        backend.calls.set(backend.calls.get() + 1);
        let mut outs = Outs { out: MaybeUninit::uninit(), error: MaybeUninit::uninit() };
        let call_context = (ctx as *mut CallContext<'_, '_>).cast::<c_void>();
        // SAFETY: `entry` is the plugin's entry for the symbol's handle (see `entry_of`,
        // `lean_entry_of`); `raw` and the values it borrows outlive the call; `call_context`
        // is only used by callbacks during this call; `out` and `error` are valid for writes.
        let returned = unsafe {
            self.entry.enter_raw(
                self.handle.as_ptr(),
                call_context,
                raw,
                outs.out.as_mut_ptr(),
                outs.error.as_mut_ptr(),
            )
        };
        // In two words, which travel in registers (a `CallReturn` would be passed by address);
        // the first is the return's first register as it came back.
        let words = (u64::from(returned.status) | u64::from(returned.tag) << 32, returned.a);
        // A scalar (nothing to copy out of the plugin), no refused thread (which would fail the
        // call), no shutdown waiting for the outermost call: the call is over. Status `OK` and
        // a tag of at most `FLOAT` are one masked test of the first word.
        if words.0 & SCALAR_RETURN_MASK == 0 && host.refused_calls() == 0 && !backend.shutdown_deferred.get() {
            // `left_call` without the deferred shutdown (checked above).
            let depth = backend.calls.get() - 1;
            backend.calls.set(depth);
            if depth == 0 {
                host.begin_epoch();
            }
            drop(running);
            // A number (the commonest result) with one test of the tag, its low bit telling a
            // float from an integer, rather than a switch on it; `null` and booleans out of
            // line: inline, the compiler wrote every scalar's `Value` with one pair of stores,
            // merging a boolean's byte into the number's word.
            if returned.tag & !1 == tag::INT {
                return Ok(Value::from_number_bits(returned.tag & 1 != 0, returned.a));
            }
            return null_or_bool(returned.tag, returned.a);
        }
        self.finish_call(words, &outs, running)
    }

    /// The end of a call whose result is not a scalar, that failed, during which the plugin's
    /// threads were refused or after which a deferred shutdown may be due.
    #[inline(never)]
    fn finish_call(
        &self,
        words: (u64, u64),
        outs: &Outs,
        running: crate::crash::Running,
    ) -> Result<Value, RuntimeError> {
        let returned = CallReturn { status: words.0 as u32, tag: (words.0 >> 32) as u32, a: words.1 };
        // SAFETY: `returned` and `outs` are what the entry's call returned and left.
        let result = unsafe { converted(self.host, returned, &outs.out, &outs.error) };
        left_call(self.host);
        drop(running);
        finish(self.host, result, |failure| self.failed(failure))
    }

    /// A call with an argument that is not a number or a string (a `null`, a boolean or a
    /// range, lent inline here; an array, an object, a function, … lent as a handle) or with
    /// more than [`INLINE_ARGUMENTS`] arguments: the handles are released when it returns. Out
    /// of line, so that the common call's frame has no room for the list.
    #[inline(never)]
    fn call_lending(&'static self, ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
        let host = self.host;
        let _running = crate::crash::running(&self.crash_note);
        let mut temporaries = Temporaries::new();
        let raw: smallvec::SmallVec<[TValue; 4]> =
            args.iter().map(|arg| lend_inline(arg).unwrap_or_else(|| host.give(arg, Some(&mut temporaries)))).collect();
        let result = call_raw(host, self.entry, self.handle, ctx, &raw);
        host.release_all(temporaries);
        finish(host, result, |failure| self.failed(failure))
    }

    /// The interpreter's error for the plugin's failure.
    #[cold]
    fn failed(&self, failure: PluginFailure) -> RuntimeError {
        crate::loader::runtime_error(&self.host.backend().plugin, &self.display, failure)
    }

    /// The error of a call once the plugin is shutting down.
    #[cold]
    #[inline(never)]
    fn shut_down(&self) -> RuntimeError {
        crate::loader::shut_down_error(&self.host.backend().plugin)
    }

    /// The symbol's thunk for the interpreter.
    pub(crate) fn thunk(&'static self) -> tusk_eval::Thunk {
        tusk_eval::Thunk::new(thunk_call::<E>, std::ptr::from_ref(self).cast::<()>())
    }
}

/// The function of a [`FastSymbol`]'s thunk. Private to this module, and paired only with the
/// address of a leaked `FastSymbol<E>` of the same `E` (in [`FastSymbol::thunk`]).
fn thunk_call<E: Entry>(
    context: *const (),
    ctx: &mut CallContext<'_, '_>,
    args: &[&Value],
) -> Result<Value, RuntimeError> {
    // SAFETY: this function is only paired with the address of a `FastSymbol<E>` (see above),
    // leaked, so valid and never written for the rest of the process.
    let symbol: &'static FastSymbol<E> = unsafe { &*context.cast::<FastSymbol<E>>() };
    symbol.call(ctx, args)
}

/// A result that is not a scalar: a handle the plugin made (or kept), or a borrowed string.
/// Out of line: the handle table's code would widen every call's frame.
#[inline(never)]
fn heap_result(host: &'static HostContext, out: &TValue) -> Result<Value, Box<PluginFailure>> {
    if host.is_stale(out) {
        Err(Box::new(stale_result(host, out)))
    } else {
        // SAFETY: the plugin's result lives until its next call.
        Ok(unsafe { host.take(out) })
    }
}

/// [`Context::give`](tusk_plugin_hostapi::Context::give) of an argument lent to one call, for
/// the scalars and strings (most arguments of hot calls), converted inline: a string is lent
/// as a borrowed `STR` view, as `give` lends it, without a handle. `None` for a value that
/// needs a handle.
#[inline(always)]
fn lend_inline(arg: &Value) -> Option<TValue> {
    Some(match arg {
        Value::Int(n) => TValue::new(tag::INT, *n as u64, 0),
        Value::Float(x) => TValue::new(tag::FLOAT, x.to_bits(), 0),
        Value::Bool(b) => TValue::new(tag::BOOL, u64::from(*b), 0),
        Value::Null => TValue::NULL,
        Value::Str(text) => TValue::new(tag::STR, text.as_ptr() as u64, text.len() as u64),
        Value::Range(start, end) => TValue::new(tag::RANGE, *start as u64, *end as u64),
        _ => return None,
    })
}

/// A scalar result, converted inline (what [`Context::take`](tusk_plugin_hostapi::Context::take)
/// does for these tags); `None` for everything else.
#[inline(always)]
fn scalar_result(kind: u32, a: u64) -> Option<Value> {
    match kind {
        tag::INT => Some(Value::Int(a as i64)),
        tag::FLOAT => Some(Value::Float(f64::from_bits(a))),
        tag::BOOL => Some(Value::Bool(a != 0)),
        tag::NULL => Some(Value::Null),
        _ => None,
    }
}

/// The result `NULL` or `BOOL` of the common call ([`FastSymbol::call`]); any other tag reads
/// as `null`.
#[inline(never)]
fn null_or_bool(kind: u32, a: u64) -> Result<Value, RuntimeError> {
    Ok(if kind == tag::BOOL { Value::Bool(a != 0) } else { Value::Null })
}

/// A result the plugin kept from an earlier call (a function or opaque value it was lent).
#[cold]
fn stale_result(host: &HostContext, out: &TValue) -> PluginFailure {
    // SAFETY: the plugin's result lives until its next call.
    drop(unsafe { host.take(out) });
    PluginFailure {
        status: status::ERROR,
        kind: error_kind::SCRIPT,
        argument: None,
        message: tusk_plugin_hostapi::kept_past_its_call(&host.backend().plugin),
        help: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tusk_plugin_abi::{ABI_MAJOR, HostApi, SymbolInfo};

    unsafe extern "C" fn init(_: *const tusk_plugin_abi::HostApi, _: StrRef, _: *mut ErrorOut) -> u32 {
        status::OK
    }
    unsafe extern "C" fn shutdown(_: *mut ErrorOut) -> u32 {
        status::OK
    }
    unsafe extern "C" fn symbol_count() -> u32 {
        0
    }
    unsafe extern "C" fn symbol_info(_: u32, _: *mut SymbolInfo) -> u32 {
        status::NOT_FOUND
    }
    unsafe extern "C" fn drop_object(_: u64) {}
    unsafe extern "C" fn identity(_: *mut StrRef, _: *mut StrRef) {}
    /// A call entry that answers `N` (the descriptor's shared `call` answers 1, symbol 1's own
    /// entry 2, so a test tells which one ran).
    unsafe extern "C" fn answering<const N: u64>(
        _: *const c_void,
        _: *mut c_void,
        _: *const TValue,
        _: usize,
        out: *mut TValue,
        _: *mut ErrorOut,
    ) -> u32 {
        // SAFETY: the test passes a valid out-slot.
        unsafe { out.write(TValue::new(tag::INT, N, 0)) };
        status::OK
    }
    /// Symbol 1 has its own entry, symbol 0 none.
    unsafe extern "C" fn symbol_call(symbol: *const c_void) -> Option<CallFn> {
        (symbol as usize == 1).then_some(answering::<2> as CallFn)
    }
    /// A lean entry that answers 3 (or fails when `argc` is 1, writing its error, or answers a
    /// range through `out` when `argc` is 2).
    unsafe extern "C" fn lean(
        _: *const c_void,
        _: *mut c_void,
        _: *const TValue,
        argc: usize,
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> tusk_plugin_abi::CallReturn {
        use tusk_plugin_abi::CallReturn;
        match argc {
            1 => {
                let record = ErrorOut {
                    kind: error_kind::MESSAGE,
                    argument: 0,
                    message: StrRef::new("lean no"),
                    help: StrRef::EMPTY,
                };
                // SAFETY: the test passes an error record valid for writes.
                unsafe { error.write(record) };
                CallReturn::failed(status::ERROR)
            }
            2 => {
                let range = TValue::new(tag::RANGE, 1, 5);
                // SAFETY: as above, for `out`.
                unsafe { out.write(range) };
                CallReturn::ok(&range)
            }
            _ => CallReturn::ok(&TValue::new(tag::INT, 3, 0)),
        }
    }
    /// Symbol 1 has a lean entry too, symbol 0 none.
    unsafe extern "C" fn lean_call(symbol: *const c_void) -> Option<LeanCallFn> {
        (symbol as usize == 1).then_some(lean as LeanCallFn)
    }

    fn descriptor(size: usize) -> PluginDescriptor {
        PluginDescriptor {
            size: size as u32,
            abi_major: ABI_MAJOR,
            info: std::ptr::null(),
            init,
            shutdown,
            symbol_count,
            symbol_info,
            call: answering::<1>,
            drop_object,
            identity,
            symbol_call,
            lean_call,
        }
    }

    /// What the chosen entry answers for `symbol`: 1 from `call`, 2 from the symbol's own.
    fn answer(descriptor: &PluginDescriptor, symbol: usize) -> u64 {
        let entry = entry_for(descriptor, symbol as *const c_void);
        let (mut out, mut error) = (TValue::NULL, ErrorOut::EMPTY);
        // SAFETY: the test's entries only write `out`.
        let code =
            unsafe { entry(symbol as *const c_void, std::ptr::null_mut(), std::ptr::null(), 0, &mut out, &mut error) };
        assert_eq!(code, status::OK);
        out.a
    }

    #[test]
    fn a_symbols_own_entry_is_used_only_when_the_descriptor_has_the_field_and_the_symbol_an_entry() {
        let current = descriptor(std::mem::size_of::<PluginDescriptor>());
        assert_eq!(answer(&current, 1), 2);
        assert_eq!(answer(&current, 0), 1, "a symbol without an entry goes through `call`");
        // An ABI 1.0–1.4 plugin's descriptor ends before `symbol_call`: never read, `call` serves.
        let older = descriptor(tusk_plugin_abi::MIN_DESCRIPTOR_SIZE);
        assert_eq!(answer(&older, 1), 1);
        assert_eq!(
            tusk_plugin_abi::MIN_DESCRIPTOR_SIZE,
            tusk_plugin_abi::SYMBOL_CALL_END - std::mem::size_of::<usize>()
        );
    }

    /// The test's symbol handle `n` (the test entries tell symbols by number).
    fn handle(n: usize) -> *const c_void {
        n as *const c_void
    }

    /// What a lean entry's call gives through [`Entry::enter`], with `argc` arguments (the
    /// test's entry answers by count).
    fn lean_answer(entry: LeanCallFn, argc: usize) -> Result<Value, Box<PluginFailure>> {
        let host = leak_context("lean", Rc::new(NoServices));
        let args = vec![TValue::NULL; argc];
        // SAFETY: the test's entry reads nothing, writes `out` or `error` as `CallReturn` says,
        // and makes no callback, so it needs no call context.
        unsafe { entry.enter(host, handle(1), std::ptr::null_mut(), &args) }
    }

    #[test]
    fn a_lean_entry_is_used_only_when_the_descriptor_has_the_field_and_its_results_and_errors_arrive() {
        let current = descriptor(std::mem::size_of::<PluginDescriptor>());
        let entry = lean_entry_for(&current, handle(1)).expect("symbol 1 has a lean entry");
        assert!(lean_entry_for(&current, std::ptr::null()).is_none(), "a symbol without one");
        // An ABI 1.5 plugin's descriptor ends before `lean_call`: never read, and its symbol's
        // own entry serves (the host falls back to `entry_of`).
        let older = descriptor(tusk_plugin_abi::LEAN_CALL_END - std::mem::size_of::<usize>());
        assert!(lean_entry_for(&older, handle(1)).is_none());
        assert_eq!(answer(&older, 1), 2);
        assert_eq!(tusk_plugin_abi::LEAN_CALL_END - std::mem::size_of::<usize>(), tusk_plugin_abi::SYMBOL_CALL_END);

        // A scalar comes back in the return, anything else through `out`, a failure through
        // `error` (none of them initialised by the host).
        assert!(matches!(lean_answer(entry, 0), Ok(Value::Int(3))));
        assert!(matches!(lean_answer(entry, 2), Ok(Value::Range(1, 5))));
        let Err(failure) = lean_answer(entry, 1) else { panic!("the entry fails with one argument") };
        assert_eq!((failure.status, failure.argument, failure.message.as_str()), (status::ERROR, Some(0), "lean no"));
    }

    #[test]
    fn byte_strings_are_lent_to_a_current_plugin_and_opaque_to_one_older_than_abi_1_7() {
        let host = leak_context("bytes", Rc::new(NoServices));
        let value = Value::bytes(&[1, 2, 3]);
        let mut temporaries = tusk_plugin_hostapi::Temporaries::new();
        // An argument is lent as a view of the host's bytes, without a handle.
        let lent = host.give(&value, Some(&mut temporaries));
        assert_eq!((lent.tag, lent.a, lent.b), (tag::BYTES_REF, value.as_bytes().unwrap().as_ptr() as u64, 3));
        assert!(temporaries.is_empty());
        // Kept (inside a container, or made by the plugin), it is a handle the plugin can read.
        let kept = host.give(&value, None);
        assert_eq!(kept.tag, tag::BYTES);
        let mut view = StrRef::EMPTY;
        // SAFETY: `kept` is a live handle of this context, `view` a valid out-pointer.
        assert_eq!(unsafe { (host.api().bytes_view)(host.api().context, &kept, &mut view) }, status::OK);
        // SAFETY: the view is valid while `kept` lives.
        assert_eq!(unsafe { std::slice::from_raw_parts(view.ptr, view.len) }, [1, 2, 3]);
        // SAFETY: `kept` carries the reference this call consumes.
        assert!(unsafe { host.take(&kept) }.deep_eq(&value));

        // A plugin built for ABI 1.6 has no byte strings: it gets an opaque handle, which it can
        // give back unchanged, and which it cannot read as bytes.
        host.set_plugin_abi_minor(6);
        let lent = host.give(&value, Some(&mut temporaries));
        assert_eq!(lent.tag, tag::OPAQUE);
        assert_eq!(temporaries.len(), 1);
        // SAFETY: as above.
        assert_eq!(unsafe { (host.api().bytes_view)(host.api().context, &lent, &mut view) }, status::INVALID);
        // SAFETY: `lent` is the plugin's result here; a handle the call holds, retained for it.
        let back = unsafe {
            (host.api().retain)(host.api().context, &lent);
            host.take(&lent)
        };
        assert!(back.deep_eq(&value));
        host.release_all(temporaries);
        assert_eq!(host.live_handles(), 0);
    }

    /// Calls `make_bytes_around` of `host`'s table: the status, and the value made (with the
    /// bytes as they were before the plugin wrote any, and after it wrote 0xee first) on `OK`.
    fn around(host: &'static HostContext, before: usize, data: &[u8], after: usize) -> (u32, Option<Value>) {
        let (mut pointer, mut out) = (std::ptr::null_mut::<u8>(), TValue::NULL);
        let api = host.api();
        // SAFETY: `data` is readable for the call; `pointer` and `out` are valid out-pointers.
        let code = unsafe {
            (api.make_bytes_around)(api.context, before, data.as_ptr(), data.len(), after, &mut pointer, &mut out)
        };
        if code != status::OK {
            return (code, None);
        }
        let len = before + data.len() + after;
        if len > 0 {
            // SAFETY: on `OK` the host gave `len` bytes at `pointer` to write until the handle
            // goes back (taken just below).
            unsafe { pointer.write(0xee) };
        }
        // SAFETY: on `OK` `out` is a new handle whose reference this call consumes.
        (code, Some(unsafe { host.take(&out) }))
    }

    #[test]
    fn a_byte_string_made_around_a_plugins_bytes_holds_them_between_zeroes_and_takes_its_writes() {
        let host = leak_context("around", Rc::new(NoServices));
        let (code, value) = around(host, 2, &[5, 6, 7], 4);
        assert_eq!(code, status::OK);
        assert_eq!(value.unwrap().as_bytes().unwrap(), [0xee, 0, 5, 6, 7, 0, 0, 0, 0]);
        let (code, value) = around(host, 0, &[1; 70_000], 0);
        assert_eq!(code, status::OK);
        let value = value.unwrap();
        let bytes = value.as_bytes().unwrap();
        assert_eq!((bytes.len(), bytes[0], bytes[69_999]), (70_000, 0xee, 1));
        let (code, value) = around(host, 0, &[], 0);
        assert_eq!(code, status::OK);
        assert_eq!(value.unwrap().as_bytes().unwrap(), [] as [u8; 0]);

        // Lengths past `isize::MAX`, null pointers: refused, nothing made.
        assert_eq!(around(host, usize::MAX, &[1], 0).0, status::INVALID);
        assert_eq!(around(host, isize::MAX as usize, &[1], 0).0, status::INVALID);
        let api = host.api();
        let (mut pointer, mut out) = (std::ptr::null_mut::<u8>(), TValue::NULL);
        // SAFETY: a null data pointer with a length, which the host must refuse before reading.
        let code = unsafe { (api.make_bytes_around)(api.context, 0, std::ptr::null(), 3, 0, &mut pointer, &mut out) };
        assert_eq!(code, status::INVALID);
        // SAFETY: a null out-pointer, which the host must refuse before writing.
        let code = unsafe {
            (api.make_bytes_around)(api.context, 1, [1u8].as_ptr(), 1, 0, &mut pointer, std::ptr::null_mut())
        };
        assert_eq!(code, status::INVALID);
        assert_eq!(host.live_handles(), 0);
    }

    #[test]
    fn a_plugin_of_abi_1_8_keeps_its_table_and_its_zeroed_buffers() {
        // The 1.9 entry is appended after the last of 1.8: every field an older plugin reads
        // stays where it was, and its table's `size` check still passes.
        assert_eq!(std::mem::offset_of!(HostApi, make_bytes_around), tusk_plugin_abi::BYTES_END);
        let host = leak_context("older", Rc::new(NoServices));
        host.set_plugin_abi_minor(8);
        let api = host.api();
        assert!(api.size as usize >= tusk_plugin_abi::BYTES_AROUND_END);
        let (mut pointer, mut out) = (std::ptr::null_mut::<u8>(), TValue::NULL);
        // SAFETY: valid out-pointers.
        assert_eq!(unsafe { (api.make_bytes_buffer)(api.context, 3, &mut pointer, &mut out) }, status::OK);
        // SAFETY: 3 writable bytes, written before the handle is taken back.
        let written = unsafe { std::slice::from_raw_parts_mut(pointer, 3) };
        written[1] = 9;
        // SAFETY: `out` is a new handle whose reference this call consumes.
        let value = unsafe { host.take(&out) };
        assert_eq!(value.as_bytes().unwrap(), [0, 9, 0]);
        // Its byte-string arguments are lent as before (a view, no handle).
        let mut temporaries = tusk_plugin_hostapi::Temporaries::new();
        assert_eq!(host.give(&value, Some(&mut temporaries)).tag, tag::BYTES_REF);
        assert_eq!(host.live_handles(), 0);
    }

    /// A plugin built with the SDK whose `around` returns `Value::bytes_around(2, "abc", 3, …)`,
    /// the fill upper-casing the data in place and marking both ends.
    #[derive(Default)]
    struct AroundPlugin;

    impl tusk_plugin_sdk::TuskPlugin for AroundPlugin {
        fn name(&self) -> &str {
            "around"
        }

        fn version(&self) -> &str {
            "1.0.0"
        }

        fn initialize(&mut self, context: &tusk_plugin_sdk::PluginContext) -> Result<(), tusk_plugin_sdk::PluginError> {
            context.register_function("around", |_: &[tusk_plugin_sdk::Value]| {
                Ok(tusk_plugin_sdk::Value::bytes_around(2, b"abc", 3, |out| {
                    out[2..5].make_ascii_uppercase();
                    out[0] = b'<';
                    out[7] = b'>';
                }))
            })?;
            // Room for 8 bytes, 5 written: "ab" appended, then "cde" written through the spare
            // room's pointer and declared, as a C library's output is.
            context.register_function("uninit", |_: &[tusk_plugin_sdk::Value]| {
                tusk_plugin_sdk::Value::bytes_uninit(8, |out| {
                    out.extend_from_slice(b"ab");
                    let spare = out.spare_capacity_mut();
                    for (slot, &byte) in spare.iter_mut().zip(b"cde") {
                        slot.write(byte);
                    }
                    // SAFETY: the three bytes after the two appended were written just above.
                    unsafe { out.set_len(5) };
                    out.as_mut_slice()[0] = b'A';
                    Ok::<(), tusk_plugin_sdk::PluginError>(())
                })
            })?;
            // Every byte of the room, and inside the fill another byte string made the same way
            // (the host's entry called again while its first call runs).
            context.register_function("uninit_nested", |_: &[tusk_plugin_sdk::Value]| {
                tusk_plugin_sdk::Value::bytes_uninit(3, |out| {
                    let inner = tusk_plugin_sdk::Value::bytes_uninit(2, |inner| {
                        inner.extend_from_slice(b"yz");
                        Ok::<(), tusk_plugin_sdk::PluginError>(())
                    })?;
                    out.extend_from_slice(b"x");
                    out.extend_from_slice(inner.as_bytes().unwrap_or_default());
                    Ok(())
                })
            })?;
            context.register_function("uninit_fails", |_: &[tusk_plugin_sdk::Value]| {
                tusk_plugin_sdk::Value::bytes_uninit(4, |out| {
                    out.extend_from_slice(b"half");
                    Err(tusk_plugin_sdk::PluginError::message("the fill failed after 4 bytes"))
                })
            })?;
            context.register_function("uninit_panics", |_: &[tusk_plugin_sdk::Value]| {
                tusk_plugin_sdk::Value::bytes_uninit(4, |out| {
                    out.extend_from_slice(b"abc");
                    // Two bytes into room for one: the writer refuses with a panic.
                    out.extend_from_slice(b"de");
                    Ok::<(), tusk_plugin_sdk::PluginError>(())
                })
            })?;
            Ok(())
        }
    }

    tusk_plugin_sdk::export_plugin!(AroundPlugin);

    /// What the SDK plugin's `around` returns when it runs against `table` (the host's own, or
    /// a copy cut to an older ABI's).
    fn sdk_around(host: &'static HostContext, table: &'static HostApi) -> Value {
        sdk_call(host, table, "around").unwrap()
    }

    /// What the SDK plugin's function `name` returns when it runs against `table`: its value,
    /// or its status and error message.
    fn sdk_call(host: &'static HostContext, table: &'static HostApi, name: &str) -> Result<Value, (u32, String)> {
        // The SDK plugin is one per test binary, and its `init` keeps the table it is given
        // until `shutdown`: tests running side by side must not interleave the two.
        static SDK_PLUGIN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _alone = SDK_PLUGIN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let descriptor = tusk_plugin_entry_v1();
        // SAFETY: the entry returns the SDK's descriptor, which lives for the process.
        let descriptor = unsafe { &*descriptor };
        let mut error = ErrorOut::EMPTY;
        // SAFETY: `table` and the context it names live for the rest of the process.
        assert_eq!(unsafe { (descriptor.init)(table, StrRef::new("{}"), &mut error) }, status::OK);
        let symbol = symbols(descriptor).into_iter().find(|symbol| symbol.symbol.name == name).unwrap();
        let entry = entry_of(descriptor, symbol.handle);
        let (mut out, mut error) = (TValue::NULL, ErrorOut::EMPTY);
        // SAFETY: a registered symbol, no arguments, valid out-pointers; the functions make no
        // callback that needs a call context.
        let code =
            unsafe { entry(symbol.handle.as_ptr(), std::ptr::null_mut(), std::ptr::null(), 0, &mut out, &mut error) };
        let result = if code == status::OK {
            // SAFETY: on `OK` `out` is the result, whose reference passes to the host.
            Ok(unsafe { host.take(&out) })
        } else {
            // The plugin's error text lives until its next call (the shutdown below).
            Err((code, text_of(error.message)))
        };
        assert!(super::shutdown(host, descriptor).is_ok());
        result
    }

    /// What the tests' [`scripted_fill`] does: write `write` bytes (1, 2, 3, … wrapping at 256) at the front of
    /// the host's room and answer `answer`; `calls` counts its calls.
    struct FillScript {
        write: usize,
        answer: usize,
        calls: usize,
    }

    /// A plugin's fill for `make_bytes_filled`, scripted by the [`FillScript`] at `state`.
    unsafe extern "C" fn scripted_fill(state: *mut c_void, data: *mut u8, capacity: usize) -> usize {
        // SAFETY: the test passes its `FillScript`, not otherwise borrowed during the call.
        let script = unsafe { &mut *state.cast::<FillScript>() };
        script.calls += 1;
        for index in 0..script.write.min(capacity) {
            // SAFETY: within the `capacity` bytes the host gave for this call.
            unsafe { data.add(index).write((index as u8).wrapping_add(1)) };
        }
        script.answer
    }

    /// Calls `make_bytes_filled` of `host`'s table with `capacity` and the fill `script`: the
    /// status, the value made on `OK`, and how often the fill ran.
    fn filled(host: &'static HostContext, capacity: usize, write: usize, answer: usize) -> (u32, Option<Value>, usize) {
        let mut script = FillScript { write, answer, calls: 0 };
        let mut out = TValue::NULL;
        let api = host.api();
        // SAFETY: `scripted_fill` gets this call's `script`; `out` is a valid out-pointer.
        let code = unsafe {
            (api.make_bytes_filled)(api.context, capacity, scripted_fill, (&raw mut script).cast(), &mut out)
        };
        if code != status::OK {
            assert_eq!(out.tag, tag::NULL, "no value on status {code}");
            return (code, None, script.calls);
        }
        // SAFETY: on `OK` `out` is a new handle whose reference this call consumes.
        (code, Some(unsafe { host.take(&out) }), script.calls)
    }

    #[test]
    fn a_byte_string_filled_by_the_plugin_is_exactly_what_it_wrote() {
        let host = leak_context("filled", Rc::new(NoServices));
        let bytes = |value: Option<Value>| value.unwrap().as_bytes().unwrap().to_vec();
        // All the room written: the allocation itself.
        let (code, value, calls) = filled(host, 5, 5, 5);
        assert_eq!((code, bytes(value), calls), (status::OK, vec![1, 2, 3, 4, 5], 1));
        let (code, value, _) = filled(host, 70_000, 70_000, 70_000);
        let value = bytes(value);
        assert_eq!((code, value.len(), value[69_999]), (status::OK, 70_000, (69_999 % 256) as u8 + 1));
        // Fewer bytes than the room: cut to them, the rest never read.
        let (code, value, _) = filled(host, 8, 3, 3);
        assert_eq!((code, bytes(value)), (status::OK, vec![1, 2, 3]));
        // Written but not declared: only what the answer covers.
        let (code, value, _) = filled(host, 8, 8, 2);
        assert_eq!((code, bytes(value)), (status::OK, vec![1, 2]));
        let (code, value, calls) = filled(host, 0, 0, 0);
        assert_eq!((code, bytes(value), calls), (status::OK, vec![], 1));
        let (code, value, _) = filled(host, 4, 0, 0);
        assert_eq!((code, bytes(value)), (status::OK, vec![]));
        assert_eq!(host.live_handles(), 0);
    }

    #[test]
    fn a_failed_fill_or_a_count_beyond_the_room_makes_nothing_and_bad_arguments_are_refused_before_it() {
        let host = leak_context("filled", Rc::new(NoServices));
        // The status, whether a value was made, and how often the fill ran.
        let refused = |capacity, write, answer| {
            let (code, value, calls) = filled(host, capacity, write, answer);
            (code, value.is_some(), calls)
        };
        assert_eq!(refused(4, 2, tusk_plugin_abi::FILL_FAILED), (status::ERROR, false, 1));
        assert_eq!(refused(4, 4, 5), (status::INVALID, false, 1));
        assert_eq!(refused(0, 0, 1), (status::INVALID, false, 1));
        // A room past `isize::MAX`: refused, the fill never called.
        assert_eq!(refused(isize::MAX as usize + 1, 0, 0), (status::INVALID, false, 0));
        assert_eq!(refused(usize::MAX, 0, 0), (status::INVALID, false, 0));
        let mut script = FillScript { write: 1, answer: 1, calls: 0 };
        let api = host.api();
        // SAFETY: a null out-pointer, which the host must refuse before calling the fill.
        let code = unsafe {
            (api.make_bytes_filled)(api.context, 1, scripted_fill, (&raw mut script).cast(), std::ptr::null_mut())
        };
        assert_eq!((code, script.calls), (status::INVALID, 0));
        assert_eq!(host.live_handles(), 0);
    }

    #[test]
    fn the_sdk_fills_uninitialised_bytes_on_a_host_of_abi_1_10_and_on_an_older_one() {
        let host = leak_context("uninit", Rc::new(NoServices));
        // A host of ABI 1.9: its table ends before `make_bytes_filled` (which the SDK must not
        // call) and says minor 9. The SDK writes its own buffer and copies it.
        // SAFETY: a bitwise copy of a table of function pointers and a context pointer.
        let mut older = unsafe { std::ptr::read(host.api()) };
        older.size = tusk_plugin_abi::BYTES_AROUND_END as u32;
        older.abi_minor = 9;
        older.make_bytes_filled = refuse_filled;
        let older: &'static HostApi = Box::leak(Box::new(older));
        for table in [host.api(), older] {
            let value = sdk_call(host, table, "uninit").unwrap();
            assert_eq!(value.as_bytes().unwrap(), b"Abcde");
            assert_eq!(sdk_call(host, table, "uninit_nested").unwrap().as_bytes().unwrap(), b"xyz");
            let (code, message) = sdk_call(host, table, "uninit_fails").unwrap_err();
            assert_eq!((code, message.as_str()), (status::ERROR, "the fill failed after 4 bytes"));
            let (code, message) = sdk_call(host, table, "uninit_panics").unwrap_err();
            assert_eq!(code, status::PANIC);
            assert!(message.contains("2 bytes written into a byte string with room for 1 more"), "{message}");
            assert_eq!(host.live_handles(), 0);
        }
        assert!(!FILLED_CALLED.load(std::sync::atomic::Ordering::Relaxed));
    }

    /// Set when [`refuse_filled`] is called.
    static FILLED_CALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Stands for whatever lies past the end of an ABI 1.9 host's table: the SDK must not call it.
    unsafe extern "C" fn refuse_filled(
        _: *mut c_void,
        _: usize,
        _: tusk_plugin_abi::BytesFill,
        _: *mut c_void,
        _: *mut TValue,
    ) -> u32 {
        FILLED_CALLED.store(true, std::sync::atomic::Ordering::Relaxed);
        status::ERROR
    }

    #[test]
    fn the_sdk_makes_a_byte_string_around_data_on_a_host_of_abi_1_9_and_on_an_older_one() {
        let host = leak_context("around", Rc::new(NoServices));
        let expected = *b"<\0ABC\0\0>";
        assert_eq!(sdk_around(host, host.api()).as_bytes().unwrap(), expected);
        // A host of ABI 1.8: its table ends before `make_bytes_around` (which the SDK must not
        // call) and says minor 8. The SDK falls back to `make_bytes_buffer` and a copy.
        // SAFETY: a bitwise copy of a table of function pointers and a context pointer.
        let mut older = unsafe { std::ptr::read(host.api()) };
        older.size = tusk_plugin_abi::BYTES_END as u32;
        older.abi_minor = 8;
        older.make_bytes_around = refuse_around;
        let older: &'static HostApi = Box::leak(Box::new(older));
        assert_eq!(sdk_around(host, older).as_bytes().unwrap(), expected);
        assert!(!AROUND_CALLED.load(std::sync::atomic::Ordering::Relaxed));
        assert_eq!(host.live_handles(), 0);
    }

    /// Set when [`refuse_around`] is called.
    static AROUND_CALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Stands for whatever lies past the end of an older host's table: the SDK must not call it.
    unsafe extern "C" fn refuse_around(
        _: *mut c_void,
        _: usize,
        _: *const u8,
        _: usize,
        _: usize,
        _: *mut *mut u8,
        _: *mut TValue,
    ) -> u32 {
        AROUND_CALLED.store(true, std::sync::atomic::Ordering::Relaxed);
        status::ERROR
    }

    /// Host services that allow nothing (the lean entry's test makes no callback).
    struct NoServices;

    impl HostServices for NoServices {
        fn may_read(&self, _: &str, _: &Path) -> Result<PathBuf, String> {
            Err("no".into())
        }
        fn may_write(&self, _: &str, _: &Path) -> Result<PathBuf, String> {
            Err("no".into())
        }
        fn resolve_path(&self, _: &str, path: &Path) -> PathBuf {
            path.to_path_buf()
        }
        fn may_read_env(&self, _: &str, _: &str) -> Result<(), String> {
            Err("no".into())
        }
        fn may_connect(&self, _: &str, _: &str, _: u16) -> Result<(), String> {
            Err("no".into())
        }
        fn log(&self, _: &str, _: u32, _: &str, _: &Value) {}
        fn cancelled(&self) -> bool {
            false
        }
    }
}
