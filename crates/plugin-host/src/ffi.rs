//! The host side of the C ABI: the one module of the plugin host with `unsafe`.
//!
//! It opens libraries (never closes them: unloading Rust code whose thread-locals and
//! destructors may still be registered is unsound), calls the plugin descriptor, and implements
//! the host API table the plugin calls back into. Host values given to a plugin live in a
//! per-plugin handle table ([`HostContext`]); every callback is wrapped in `catch_unwind` so
//! that no panic ever unwinds into plugin code, and checks its pointers before reading them.
//!
//! The host API may only be called on the thread that owns the context (the interpreter's):
//! the handle table is not shared between threads. A call from another thread is refused
//! before anything but the context's [`OwnerThread`] is touched, and the plugin's current or
//! next call fails with an error naming it.
//!
//! # Safety
//!
//! Every `host_*` function is an `unsafe extern "C" fn` the plugin calls through its table,
//! under the ABI's contract: `ctx` is the table's own `context`, and every non-null pointer
//! (values, out-slots, `StrRef` texts, arrays with their lengths) is valid for the duration of
//! the call. Null pointers and zero lengths are checked. The private helpers that read or
//! write through such pointers (`text_of` and the like) are only ever called on the arguments
//! of those functions.
#![allow(unsafe_code)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::rc::Rc;

mod events;

use smallvec::SmallVec;
use tusk_eval::isolate::{ParallelError, ParallelItems};
use tusk_eval::{CallContext, Foreign, Key, Object, RuntimeError, Text, Value};
use tusk_plugin_abi::{
    ABI_MINOR, ENTRY_SYMBOL, ErrorOut, FOREIGN_THREAD_MESSAGE, HostApi, OwnerThread, PluginDescriptor, StrRef,
    SymbolInfo, TValue, error_kind, foreign_thread_error, status, tag,
};
use tusk_plugin_boundary::HandleTable;
use tusk_plugin_boundary::fs::{Grant, IoFailure, WriteMode, read_granted, write_granted};

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

fn text_of(text: StrRef) -> String {
    if text.ptr.is_null() || text.len == 0 {
        return String::new();
    }
    // SAFETY: the plugin passes `len` bytes it owns for the duration of the call (checked
    // non-null above).
    let bytes = unsafe { std::slice::from_raw_parts(text.ptr, text.len) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// An error reported by the plugin, copied out of its memory.
pub(crate) struct PluginFailure {
    pub(crate) status: u32,
    pub(crate) kind: u32,
    pub(crate) argument: Option<usize>,
    pub(crate) message: String,
    pub(crate) help: String,
}

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
    let code = unsafe { (descriptor.init)(&host.api, StrRef::new(config_json), &mut error) };
    let result = if code == status::OK { Ok(()) } else { Err(failure(code, &error)) };
    host.refused_threads()?;
    result
}

/// Calls the plugin's `shutdown`.
pub(crate) fn shutdown(host: &HostContext, descriptor: &PluginDescriptor) -> Result<(), PluginFailure> {
    let mut error = ErrorOut::EMPTY;
    // SAFETY: called once, after the last call.
    let code = unsafe { (descriptor.shutdown)(&mut error) };
    let result = if code == status::OK { Ok(()) } else { Err(failure(code, &error)) };
    host.refused_threads()?;
    result
}

/// The plugin's name and version as its `name()` and `version()` return them.
pub(crate) fn identity(descriptor: &PluginDescriptor) -> (String, String) {
    let mut name = StrRef::EMPTY;
    let mut version = StrRef::EMPTY;
    // SAFETY: valid out-pointers; the texts are copied at once.
    unsafe { (descriptor.identity)(&mut name, &mut version) };
    (text_of(name), text_of(version))
}

/// What `init` registered, copied out of the plugin.
pub(crate) struct RegisteredSymbol {
    pub(crate) handle: SymbolHandle,
    pub(crate) name: String,
    pub(crate) kind: u32,
    pub(crate) side_effects: bool,
    pub(crate) lazy_arguments: u64,
    pub(crate) signature: String,
    pub(crate) summary: String,
    pub(crate) examples: Vec<String>,
}

/// A symbol's dispatch handle: valid until the plugin's `shutdown`.
#[derive(Clone, Copy)]
pub(crate) struct SymbolHandle(*const c_void);

pub(crate) fn symbols(descriptor: &PluginDescriptor) -> Vec<RegisteredSymbol> {
    // SAFETY: called after a successful `init`.
    let count = unsafe { (descriptor.symbol_count)() };
    let mut symbols = Vec::with_capacity(count as usize);
    for index in 0..count {
        let mut info = SymbolInfo::EMPTY;
        // SAFETY: `index` is below the count; `info` is a valid out-pointer.
        if unsafe { (descriptor.symbol_info)(index, &mut info) } != status::OK {
            continue;
        }
        let examples = if info.examples.is_null() {
            Vec::new()
        } else {
            // SAFETY: the plugin describes `example_count` texts, valid until `shutdown`.
            unsafe { std::slice::from_raw_parts(info.examples, info.example_count) }
                .iter()
                .map(|t| text_of(*t))
                .collect()
        };
        symbols.push(RegisteredSymbol {
            handle: SymbolHandle(info.handle),
            name: text_of(info.name),
            kind: info.kind,
            side_effects: info.side_effects != 0,
            lazy_arguments: info.lazy_arguments,
            signature: text_of(info.signature),
            summary: text_of(info.summary),
            examples,
        });
    }
    symbols
}

/// Per-plugin host state; its address is the `context` of the plugin's host API table.
pub struct HostContext {
    api: HostApi,
    /// The interpreter's thread; the only field other threads may touch.
    thread: OwnerThread,
    plugin: String,
    handles: RefCell<HandleTable<Value>>,
    services: Rc<dyn HostServices>,
    descriptor: Cell<Option<&'static PluginDescriptor>>,
    alive: Cell<bool>,
    error_text: RefCell<(String, String)>,
    /// Calls into the plugin in progress (calls nest through script functions).
    calls: Cell<u32>,
    /// Counts outermost calls. Script functions and foreign values the plugin gets are valid
    /// until the outermost call that gave them returns, as in a sandboxed runner (which
    /// cannot reach them after that): a handle from an earlier epoch cannot be called.
    call_epoch: Cell<u64>,
    /// The engine's event loop; the one field the plugin's other threads reach (`ffi::events`).
    events: Option<crate::events::PluginEvents>,
}

impl HostContext {
    /// Creates the context for one plugin (leaked: the plugin keeps pointers to it forever).
    pub(crate) fn leak(plugin: &str, services: Rc<dyn HostServices>) -> &'static HostContext {
        let events = services
            .events()
            .map(|sender| crate::events::PluginEvents { plugin: std::sync::Arc::from(plugin), sender });
        let context: &'static mut HostContext = Box::leak(Box::new(HostContext {
            api: HostApi {
                size: std::mem::size_of::<HostApi>() as u32,
                abi_minor: ABI_MINOR,
                context: std::ptr::null_mut(),
                make_string: host_make_string,
                make_array: host_make_array,
                make_object: host_make_object,
                retain: host_retain,
                release: host_release,
                string_view: host_string_view,
                length: host_length,
                array_get: host_array_get,
                object_get: host_object_get,
                object_entry: host_object_entry,
                call_function: host_call_function,
                make_plugin_object: host_make_plugin_object,
                log: host_log,
                read_file: host_read_file,
                write_file: host_write_file,
                read_env: host_read_env,
                check_connect: host_check_connect,
                is_cancelled: host_is_cancelled,
                append_file: host_append_file,
                resolve_path: host_resolve_path,
                retain_function: events::host_retain_function,
                release_function: events::host_release_function,
                post: events::host_post,
                start_service: events::host_start_service,
                end_service: events::host_end_service,
                map_parallel: host_map_parallel,
            },
            thread: OwnerThread::current(),
            plugin: plugin.to_string(),
            handles: RefCell::new(HandleTable::default()),
            services,
            descriptor: Cell::new(None),
            alive: Cell::new(true),
            error_text: RefCell::new((String::new(), String::new())),
            calls: Cell::new(0),
            call_epoch: Cell::new(0),
            events,
        }));
        context.api.context = (context as *mut HostContext).cast::<c_void>();
        context
    }

    pub(crate) fn set_descriptor(&self, descriptor: &'static PluginDescriptor) {
        self.descriptor.set(Some(descriptor));
    }

    /// Marks the plugin as shut down: dropping its objects no longer calls into it.
    pub(crate) fn retire(&self) {
        self.alive.set(false);
    }

    /// Fails when other threads tried to use this context since the last check (their calls
    /// were refused): the plugin is told by the failure of its current call.
    fn refused_threads(&self) -> Result<(), PluginFailure> {
        match self.thread.take_foreign_calls() {
            0 => Ok(()),
            refused => Err(PluginFailure {
                status: status::ERROR,
                kind: error_kind::MESSAGE,
                argument: None,
                message: foreign_thread_error(&self.plugin, refused),
                help: String::new(),
            }),
        }
    }

    /// Host values the plugin currently holds (for leak checks in tests).
    pub fn live_handles(&self) -> usize {
        self.handles.borrow().live()
    }

    fn error(&self, out: *mut ErrorOut, kind: u32, message: String) {
        if out.is_null() {
            return;
        }
        let mut buffer = self.error_text.borrow_mut();
        buffer.0 = message;
        buffer.1.clear();
        let record = ErrorOut { kind, argument: -1, message: StrRef::new(&buffer.0), help: StrRef::new(&buffer.1) };
        // SAFETY: the plugin passes a valid, writable error record.
        unsafe { out.write(record) };
    }
}

/// A plugin object held by the script; dropping the last reference tells the plugin.
struct PluginObject {
    id: u64,
    owner: &'static HostContext,
}

impl Drop for PluginObject {
    fn drop(&mut self) {
        if let (true, Some(descriptor)) = (self.owner.alive.get(), self.owner.descriptor.get()) {
            // SAFETY: the plugin is initialised and not shut down; `id` came from it.
            unsafe { (descriptor.drop_object)(self.id) };
        }
    }
}

/// The host context behind a host API table's `context`, on the thread that owns it; `None`
/// (and the attempt counted) on any other thread.
fn context<'a>(pointer: *mut c_void) -> Option<&'a HostContext> {
    let host = pointer.cast::<HostContext>().cast_const();
    if host.is_null() {
        return None;
    }
    // SAFETY: every host API function receives the `context` of the table it belongs to, a
    // leaked `HostContext`. Only its `thread` field (an id and an atomic) is borrowed here, so
    // another thread reads nothing the interpreter's thread writes without synchronisation.
    let thread = unsafe { &(*host).thread };
    if !thread.check() {
        return None;
    }
    // SAFETY: as above; on the owning thread the whole (single-threaded) context may be used.
    Some(unsafe { &*host })
}

/// Writes the refusal of a call from another thread (static text: the context's buffers
/// belong to its thread) and returns its status.
fn refuse(error: *mut ErrorOut) -> u32 {
    if !error.is_null() {
        let record = ErrorOut {
            kind: error_kind::MESSAGE,
            argument: -1,
            message: StrRef::new(FOREIGN_THREAD_MESSAGE),
            help: StrRef::EMPTY,
        };
        // SAFETY: the plugin passes a valid, writable error record (checked non-null).
        unsafe { error.write(record) };
    }
    status::ERROR
}

/// The value a plugin passes by pointer, if the pointer is not null.
fn value_at<'a>(value: *const TValue) -> Option<&'a TValue> {
    // SAFETY: a non-null value pointer from the plugin points at a value that lives for the
    // duration of the call.
    unsafe { value.as_ref() }
}

/// Reads `len` items from a plugin-provided pointer (none when it is null).
fn items_at<'a, T>(items: *const T, len: usize) -> &'a [T] {
    if len == 0 || items.is_null() {
        return &[];
    }
    // SAFETY: the plugin passes `len` items that live for the duration of the call.
    unsafe { std::slice::from_raw_parts(items, len) }
}

/// Writes to a plugin-provided out-pointer, if it is not null.
fn write_out<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: a non-null out-pointer from the plugin is valid and writable.
        unsafe { out.write(value) };
    }
}

fn str_value(text: StrRef) -> Value {
    Value::Str(Text::from(text_of(text)))
}

/// Converts a plugin's value to a host value, consuming the reference it carries.
fn take(host: &HostContext, raw: &TValue) -> Value {
    match raw.tag {
        tag::BOOL => Value::Bool(raw.a != 0),
        tag::INT => Value::Int(raw.a as i64),
        tag::FLOAT => Value::Float(f64::from_bits(raw.a)),
        tag::STR => str_value(StrRef { ptr: raw.a as *const u8, len: raw.b as usize }),
        tag::RANGE => Value::Range(raw.a as i64, raw.b as i64),
        tag::STRING | tag::ARRAY | tag::OBJECT | tag::FUNCTION | tag::OPAQUE | tag::PLUGIN_OBJECT => {
            let mut handles = host.handles.borrow_mut();
            let value = handles.get(raw.a).cloned().unwrap_or_default();
            handles.release(raw.a);
            value
        }
        _ => Value::Null,
    }
}

/// Converts a plugin's value to a host value without touching its reference.
fn peek(host: &HostContext, raw: &TValue) -> Value {
    match raw.tag {
        tag::STRING | tag::ARRAY | tag::OBJECT | tag::FUNCTION | tag::OPAQUE | tag::PLUGIN_OBJECT => {
            host.handles.borrow().get(raw.a).cloned().unwrap_or_default()
        }
        _ => take(host, raw),
    }
}

/// Converts a host value for the plugin. Heap values get a handle holding one reference,
/// which belongs to the plugin (`temporaries` is `None`) or to the call (`Some`: released
/// when the call returns).
fn give(host: &HostContext, value: &Value, temporaries: Option<&mut SmallVec<[u64; 4]>>) -> TValue {
    let scalar = |tag: u32, a: u64, b: u64| TValue { tag, flags: 0, a, b };
    let (tag, id) = match value {
        Value::Null => return TValue::NULL,
        Value::Bool(b) => return scalar(tag::BOOL, u64::from(*b), 0),
        Value::Int(n) => return scalar(tag::INT, *n as u64, 0),
        Value::Float(x) => return scalar(tag::FLOAT, x.to_bits(), 0),
        Value::Range(start, end) => return scalar(tag::RANGE, *start as u64, *end as u64),
        // Strings handed in for a call are borrowed: no handle, no copy.
        Value::Str(text) if temporaries.is_some() => return scalar(tag::STR, text.as_ptr() as u64, text.len() as u64),
        Value::Str(_) => (tag::STRING, 0),
        Value::Array(_) => (tag::ARRAY, 0),
        Value::Object(_) => (tag::OBJECT, 0),
        Value::Func(_) => (tag::FUNCTION, 0),
        Value::Foreign(foreign) => match foreign.data.downcast_ref::<PluginObject>() {
            Some(object) if std::ptr::eq(object.owner, host) => (tag::PLUGIN_OBJECT, object.id),
            _ => (tag::OPAQUE, 0),
        },
    };
    let handle = host.handles.borrow_mut().insert(value.clone(), host.call_epoch.get());
    if let Some(temporaries) = temporaries {
        temporaries.push(handle);
    }
    TValue { tag, flags: 0, a: handle, b: id }
}

/// [`give`] for a value taken out of `parent` (an array or object the plugin holds): it is as
/// old as its container, so a function kept inside a kept array stays out of reach too.
fn give_from(host: &HostContext, value: &Value, parent: &TValue) -> TValue {
    let given = give(host, value, None);
    if given.is_handle() {
        let mut handles = host.handles.borrow_mut();
        if let Some(epoch) = handles.slot(parent.a).map(|slot| slot.epoch) {
            handles.set_epoch(given.a, epoch);
        }
    }
    given
}

/// True when `raw` is a script function or foreign value given during an earlier outermost
/// call (the plugin kept it past the call that passed it).
fn is_stale(host: &HostContext, raw: &TValue) -> bool {
    matches!(raw.tag, tag::FUNCTION | tag::OPAQUE)
        && host.handles.borrow().slot(raw.a).is_some_and(|slot| slot.epoch != host.call_epoch.get())
}

/// Calls a plugin symbol with host values: the fast path of every plugin operator call.
pub(crate) fn call(
    host: &'static HostContext,
    descriptor: &PluginDescriptor,
    symbol: SymbolHandle,
    ctx: &mut CallContext<'_, '_>,
    args: &[Value],
) -> Result<Value, PluginFailure> {
    // Refused calls from the plugin's threads since its last call fail this one.
    host.refused_threads()?;
    if host.calls.get() == 0 {
        // A new outermost call: what the plugin got during earlier ones is out of reach.
        host.call_epoch.set(host.call_epoch.get() + 1);
    }
    let mut temporaries: SmallVec<[u64; 4]> = SmallVec::new();
    let raw: SmallVec<[TValue; 6]> = args.iter().map(|arg| give(host, arg, Some(&mut temporaries))).collect();
    let mut out = TValue::NULL;
    let mut error = ErrorOut::EMPTY;
    let call_context = (ctx as *mut CallContext<'_, '_>).cast::<c_void>();
    host.calls.set(host.calls.get() + 1);
    // SAFETY: the plugin is initialised; `raw` and the values it borrows outlive the call;
    // `call_context` is only used by callbacks during this call.
    let code = unsafe { (descriptor.call)(symbol.0, call_context, raw.as_ptr(), raw.len(), &mut out, &mut error) };
    host.calls.set(host.calls.get() - 1);
    // Copied before anything else can call into the plugin (its texts live until then).
    let result = if code != status::OK {
        Err(failure(code, &error))
    } else if is_stale(host, &out) {
        take(host, &out);
        Err(PluginFailure {
            status: status::ERROR,
            kind: error_kind::SCRIPT,
            argument: None,
            message: crate::sandboxed::kept_past_its_call(&host.plugin),
            help: String::new(),
        })
    } else {
        Ok(take(host, &out))
    };
    if !temporaries.is_empty() {
        let mut handles = host.handles.borrow_mut();
        for handle in temporaries {
            handles.release(handle);
        }
    }
    // ... and so do refused calls during it, whatever it returned.
    host.refused_threads()?;
    result
}

fn guarded<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

unsafe extern "C" fn host_make_string(ctx: *mut c_void, text: StrRef) -> TValue {
    guarded(TValue::NULL, || {
        let Some(host) = context(ctx) else { return TValue::NULL };
        give(host, &str_value(text), None)
    })
}

unsafe extern "C" fn host_make_array(ctx: *mut c_void, items: *const TValue, len: usize) -> TValue {
    guarded(TValue::NULL, || {
        let Some(host) = context(ctx) else { return TValue::NULL };
        let values: Vec<Value> = items_at(items, len).iter().map(|item| take(host, item)).collect();
        give(host, &Value::array(values), None)
    })
}

unsafe extern "C" fn host_make_object(
    ctx: *mut c_void,
    keys: *const StrRef,
    values: *const TValue,
    len: usize,
) -> TValue {
    guarded(TValue::NULL, || {
        let Some(host) = context(ctx) else { return TValue::NULL };
        let mut object = Object::with_capacity(len);
        for (key, value) in items_at(keys, len).iter().zip(items_at(values, len)) {
            object.insert(Key::from(text_of(*key)), take(host, value));
        }
        give(host, &Value::object(object), None)
    })
}

unsafe extern "C" fn host_retain(ctx: *mut c_void, value: *const TValue) {
    guarded((), || {
        let Some(host) = context(ctx) else { return };
        let Some(raw) = value_at(value) else { return };
        if raw.is_handle() {
            host.handles.borrow_mut().retain(raw.a);
        }
    })
}

unsafe extern "C" fn host_release(ctx: *mut c_void, value: *const TValue) {
    guarded((), || {
        let Some(host) = context(ctx) else { return };
        let Some(raw) = value_at(value) else { return };
        if raw.is_handle() {
            // Drop the value outside the table's borrow: dropping a plugin object calls back
            // into the plugin, which may release more handles.
            let released = host.handles.borrow_mut().release(raw.a);
            drop(released);
        }
    })
}

unsafe extern "C" fn host_string_view(ctx: *mut c_void, value: *const TValue, out: *mut StrRef) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return status::INVALID };
        let Some(raw) = value_at(value) else { return status::INVALID };
        let handles = host.handles.borrow();
        let Some(slot) = handles.slot(raw.a) else { return status::NOT_FOUND };
        let Value::Str(text) = &slot.value else { return status::INVALID };
        // The text lives in the value's shared allocation, which the slot keeps alive.
        write_out(out, StrRef::new(text));
        status::OK
    })
}

unsafe extern "C" fn host_length(ctx: *mut c_void, value: *const TValue) -> usize {
    guarded(0, || {
        let Some(host) = context(ctx) else { return 0 };
        let Some(raw) = value_at(value) else { return 0 };
        match host.handles.borrow().slot(raw.a).map(|slot| &slot.value) {
            Some(Value::Array(items)) => items.len(),
            Some(Value::Object(object)) => object.len(),
            _ => 0,
        }
    })
}

unsafe extern "C" fn host_array_get(ctx: *mut c_void, array: *const TValue, index: usize, out: *mut TValue) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return status::INVALID };
        let Some(raw) = value_at(array) else { return status::INVALID };
        let item = match host.handles.borrow().slot(raw.a).map(|slot| &slot.value) {
            Some(Value::Array(items)) => items.get(index).cloned(),
            _ => return status::INVALID,
        };
        let Some(item) = item else { return status::NOT_FOUND };
        write_out(out, give_from(host, &item, raw));
        status::OK
    })
}

unsafe extern "C" fn host_object_get(ctx: *mut c_void, object: *const TValue, key: StrRef, out: *mut TValue) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return status::INVALID };
        let Some(raw) = value_at(object) else { return status::INVALID };
        let key = text_of(key);
        let found = match host.handles.borrow().slot(raw.a).map(|slot| &slot.value) {
            Some(Value::Object(object)) => object.get(&key).cloned(),
            _ => return status::INVALID,
        };
        let Some(found) = found else { return status::NOT_FOUND };
        write_out(out, give_from(host, &found, raw));
        status::OK
    })
}

unsafe extern "C" fn host_object_entry(
    ctx: *mut c_void,
    object: *const TValue,
    index: usize,
    key: *mut StrRef,
    out: *mut TValue,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return status::INVALID };
        let Some(raw) = value_at(object) else { return status::INVALID };
        let (key_ref, value) = {
            let handles = host.handles.borrow();
            let Some(Value::Object(object)) = handles.slot(raw.a).map(|slot| &slot.value) else {
                return status::INVALID;
            };
            let Some((entry_key, value)) = object.iter().nth(index) else { return status::NOT_FOUND };
            // The key lives inside the object, which the plugin's handle keeps alive.
            (StrRef::new(entry_key), value.clone())
        };
        let given = give_from(host, &value, raw);
        write_out(key, key_ref);
        write_out(out, given);
        status::OK
    })
}

unsafe extern "C" fn host_call_function(
    ctx: *mut c_void,
    call: *mut c_void,
    function: *const TValue,
    args: *const TValue,
    argc: usize,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return refuse(error) };
        if call.is_null() {
            host.error(error, error_kind::SCRIPT, "lambdas can only be called during a call into the plugin".into());
            return status::ERROR;
        }
        let Some(function_raw) = value_at(function) else { return status::INVALID };
        if is_stale(host, function_raw) {
            host.error(error, error_kind::SCRIPT, crate::sandboxed::kept_past_its_call(&host.plugin));
            return status::ERROR;
        }
        // SAFETY: `call` is the `CallContext` of the plugin call in progress on this thread (the
        // thread that owns the context, checked above).
        let call_context = unsafe { &mut *call.cast::<CallContext<'_, '_>>() };
        let function = peek(host, function_raw);
        let args: SmallVec<[Value; 4]> = items_at(args, argc).iter().map(|arg| peek(host, arg)).collect();
        match call_context.call(&function, &args) {
            Ok(value) => {
                write_out(out, give(host, &value, None));
                status::OK
            }
            Err(runtime_error) => {
                host.error(error, error_kind::SCRIPT, script_error_text(&runtime_error));
                status::ERROR
            }
        }
    })
}

unsafe extern "C" fn host_map_parallel(
    ctx: *mut c_void,
    call: *mut c_void,
    function: *const TValue,
    items: *const TValue,
    workers: u32,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return refuse(error) };
        if call.is_null() {
            host.error(error, error_kind::SCRIPT, "lambdas can only be called during a call into the plugin".into());
            return status::ERROR;
        }
        let (Some(function_raw), Some(items_raw)) = (value_at(function), value_at(items)) else {
            return status::INVALID;
        };
        if is_stale(host, function_raw) {
            host.error(error, error_kind::SCRIPT, crate::sandboxed::kept_past_its_call(&host.plugin));
            return status::ERROR;
        }
        // SAFETY: `call` is the `CallContext` of the plugin call in progress on this thread (the
        // thread that owns the context, checked above).
        let call_context = unsafe { &mut *call.cast::<CallContext<'_, '_>>() };
        let function = peek(host, function_raw);
        let items = peek(host, items_raw);
        let items = match &items {
            Value::Array(values) => ParallelItems::Values(values),
            Value::Range(start, end) => ParallelItems::Range(*start, *end),
            _ => return status::INVALID,
        };
        match tusk_eval::isolate::map_parallel(call_context, &function, items, workers as usize) {
            Ok(results) => {
                write_out(out, give(host, &Value::array(results), None));
                status::OK
            }
            Err(ParallelError::Unsupported(reason)) => {
                host.error(error, error_kind::MESSAGE, reason);
                status::UNSUPPORTED
            }
            Err(ParallelError::Failed(runtime_error)) => {
                host.error(error, error_kind::SCRIPT, script_error_text(&runtime_error));
                status::ERROR
            }
        }
    })
}

fn script_error_text(error: &RuntimeError) -> String {
    match error.location() {
        Some(_) => error.to_string(),
        None => error.to_string(),
    }
}

unsafe extern "C" fn host_make_plugin_object(ctx: *mut c_void, type_name: StrRef, object: u64) -> TValue {
    guarded(TValue::NULL, || {
        let Some(host) = context(ctx) else { return TValue::NULL };
        let data: Box<dyn Any> = Box::new(PluginObject { id: object, owner: host });
        let handle = Foreign { type_name: Rc::from(text_of(type_name)), data };
        give(host, &Value::Foreign(Rc::new(handle)), None)
    })
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, message: StrRef, fields: *const TValue) {
    guarded((), || {
        let Some(host) = context(ctx) else { return };
        let fields = value_at(fields).map(|raw| peek(host, raw)).unwrap_or_default();
        host.services.log(&host.plugin, level, &text_of(message), &fields);
    })
}

fn denied(host: &HostContext, error: *mut ErrorOut, message: String) -> u32 {
    host.error(error, error_kind::PERMISSION_DENIED, message);
    status::DENIED
}

/// The in-process host decides from the user's grants itself.
struct CheckedHere<'a>(&'a HostContext);

impl Grant for CheckedHere<'_> {
    fn may_read(&self, path: &str) -> Result<PathBuf, String> {
        self.0.services.may_read(&self.0.plugin, Path::new(path))
    }
    fn may_write(&self, path: &str) -> Result<PathBuf, String> {
        self.0.services.may_write(&self.0.plugin, Path::new(path))
    }
}

fn io_failure(host: &HostContext, error: *mut ErrorOut, failure: IoFailure) -> u32 {
    match failure {
        IoFailure::Denied(message) => denied(host, error, message),
        IoFailure::Failed(message) => {
            host.error(error, error_kind::MESSAGE, message);
            status::ERROR
        }
    }
}

unsafe extern "C" fn host_read_file(ctx: *mut c_void, path: StrRef, out: *mut TValue, error: *mut ErrorOut) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return refuse(error) };
        match read_granted(&CheckedHere(host), &text_of(path)) {
            Ok(text) => {
                write_out(out, give(host, &Value::from(text), None));
                status::OK
            }
            Err(failure) => io_failure(host, error, failure),
        }
    })
}

unsafe extern "C" fn host_write_file(ctx: *mut c_void, path: StrRef, data: StrRef, error: *mut ErrorOut) -> u32 {
    write_file(ctx, path, data, error, WriteMode::Replace)
}

unsafe extern "C" fn host_append_file(ctx: *mut c_void, path: StrRef, data: StrRef, error: *mut ErrorOut) -> u32 {
    write_file(ctx, path, data, error, WriteMode::Append)
}

fn write_file(ctx: *mut c_void, path: StrRef, data: StrRef, error: *mut ErrorOut, mode: WriteMode) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return refuse(error) };
        match write_granted(&CheckedHere(host), &text_of(path), text_of(data).as_bytes(), mode) {
            Ok(()) => status::OK,
            Err(failure) => io_failure(host, error, failure),
        }
    })
}

unsafe extern "C" fn host_resolve_path(ctx: *mut c_void, path: StrRef, out: *mut TValue) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return status::INVALID };
        let resolved = host.services.resolve_path(&host.plugin, Path::new(&text_of(path)));
        write_out(out, give(host, &Value::from(resolved.display().to_string()), None));
        status::OK
    })
}

unsafe extern "C" fn host_read_env(ctx: *mut c_void, name: StrRef, out: *mut TValue, error: *mut ErrorOut) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return refuse(error) };
        let name = text_of(name);
        if let Err(message) = host.services.may_read_env(&host.plugin, &name) {
            return denied(host, error, message);
        }
        match std::env::var(&name) {
            Ok(value) => {
                write_out(out, give(host, &Value::from(value), None));
                status::OK
            }
            Err(_) => status::NOT_FOUND,
        }
    })
}

unsafe extern "C" fn host_check_connect(ctx: *mut c_void, host_name: StrRef, port: u16, error: *mut ErrorOut) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return refuse(error) };
        match host.services.may_connect(&host.plugin, &text_of(host_name), port) {
            Ok(()) => status::OK,
            Err(message) => denied(host, error, message),
        }
    })
}

unsafe extern "C" fn host_is_cancelled(ctx: *mut c_void, _call: *mut c_void) -> u32 {
    guarded(0, || context(ctx).map_or(0, |host| u32::from(host.services.cancelled())))
}
