//! The runner's side of the C ABI: the one module of the runner with `unsafe`.
//!
//! It opens the plugin library (after the lockdown), calls its descriptor, and implements the
//! host API table the plugin calls: values live in the runner's handle table; calling a script
//! function, logging and permission checks become messages to the host. The plugin sees the
//! same table with the same behaviour as in-process, so it cannot tell where it runs. Every
//! entry point is wrapped in `catch_unwind` and refuses threads other than the session's; the
//! plugin's current or next call then fails with an error naming it (never a silent `null`).
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

mod events;

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tusk_plugin_abi::{
    ABI_MAJOR, ABI_MINOR, ENTRY_SYMBOL, ErrorOut, FOREIGN_THREAD_MESSAGE, HostApi, InfoRecord, PluginDescriptor,
    StrRef, SymbolInfo, TValue, error_kind, fixed_text, foreign_thread_error, status, tag,
};
use tusk_plugin_boundary::fs::{Grant, IoFailure, WriteMode, read_granted, write_granted};
use tusk_plugin_wire::{CallError, Request, Symbol};

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

/// A symbol's dispatch handle, valid until the plugin's `shutdown`.
#[derive(Clone, Copy)]
pub(crate) struct SymbolHandle(*const c_void);

fn text_of(text: StrRef) -> String {
    if text.ptr.is_null() || text.len == 0 {
        return String::new();
    }
    // SAFETY: the plugin passes text it owns for the duration of the call.
    let bytes = unsafe { std::slice::from_raw_parts(text.ptr, text.len) };
    String::from_utf8_lossy(bytes).into_owned()
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
    if descriptor.abi_major != ABI_MAJOR || (descriptor.size as usize) < std::mem::size_of::<PluginDescriptor>() {
        return Err(format!(
            "{} is incompatible: its descriptor is ABI {} with {} bytes, this runner expects ABI {ABI_MAJOR} with at least {}",
            path.display(),
            descriptor.abi_major,
            descriptor.size,
            std::mem::size_of::<PluginDescriptor>()
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
    let api: &'static HostApi = Box::leak(Box::new(HostApi {
        size: std::mem::size_of::<HostApi>() as u32,
        abi_minor: ABI_MINOR,
        context: (session as *const Session).cast_mut().cast::<c_void>(),
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
    }));
    let mut error = ErrorOut::EMPTY;
    ALIVE.store(true, Ordering::Release);
    // SAFETY: the table and its context live for the rest of the process.
    let code = unsafe { (descriptor.init)(api, StrRef::new(config_json), &mut error) };
    let refused = refused_threads(session);
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
    let mut name = StrRef::EMPTY;
    let mut version = StrRef::EMPTY;
    // SAFETY: valid out-pointers; the texts are copied at once.
    unsafe { (descriptor.identity)(&mut name, &mut version) };
    (text_of(name), text_of(version))
}

/// What `init` registered: dispatch handles by index, and their descriptions for the host.
pub(crate) fn symbols() -> (Vec<Option<SymbolHandle>>, Vec<Symbol>) {
    let Some(descriptor) = descriptor() else { return (Vec::new(), Vec::new()) };
    // SAFETY: called after a successful `init`.
    let count = unsafe { (descriptor.symbol_count)() };
    let mut handles = Vec::with_capacity(count as usize);
    let mut symbols = Vec::with_capacity(count as usize);
    for index in 0..count {
        let mut info = SymbolInfo::EMPTY;
        // SAFETY: `index` is below the count; `info` is a valid out-pointer.
        if unsafe { (descriptor.symbol_info)(index, &mut info) } != status::OK {
            handles.push(None);
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
        handles.push(Some(SymbolHandle(info.handle)));
        symbols.push(Symbol {
            index,
            name: text_of(info.name),
            kind: info.kind,
            side_effects: info.side_effects != 0,
            lazy_arguments: info.lazy_arguments,
            signature: text_of(info.signature),
            summary: text_of(info.summary),
            examples,
        });
    }
    (handles, symbols)
}

/// Tells the plugin that nothing holds object `id` any more.
fn drop_object(id: u64) {
    if let (true, Some(descriptor)) = (ALIVE.load(Ordering::Acquire), descriptor()) {
        // SAFETY: the plugin is initialised and not shut down; `id` came from it.
        unsafe { (descriptor.drop_object)(id) };
    }
}

/// Calls a symbol. The call's id doubles as the per-call context pointer the plugin passes
/// back when it calls a script function (non-null: ids start at 1).
pub(crate) fn call(
    session: &'static Session,
    symbol: SymbolHandle,
    call_id: u64,
    args: &[Local],
) -> Result<Local, CallError> {
    let descriptor = descriptor().ok_or_else(|| CallError {
        panicked: false,
        kind: error_kind::MESSAGE,
        argument: None,
        message: "no plugin is loaded".into(),
        help: String::new(),
    })?;
    // Refused calls from the plugin's threads since its last call fail this one.
    if let Some(refused) = refused_threads(session) {
        return Err(refused);
    }
    let mut temporaries = Vec::new();
    let raw: Vec<TValue> = args.iter().map(|arg| give(session, arg, Some(&mut temporaries))).collect();
    let mut out = TValue::NULL;
    let mut error = ErrorOut::EMPTY;
    // SAFETY: the plugin is initialised; `raw` and the strings it borrows (owned by `args`)
    // outlive the call; the context pointer is only handed back to this module.
    let code = unsafe {
        (descriptor.call)(symbol.0, call_id as usize as *mut c_void, raw.as_ptr(), raw.len(), &mut out, &mut error)
    };
    // Copy the error out before anything else can call into the plugin.
    let failure = (code != status::OK).then(|| CallError {
        panicked: code == status::PANIC,
        kind: error.kind,
        argument: u32::try_from(error.argument).ok(),
        message: text_of(error.message),
        help: text_of(error.help),
    });
    release_all(session, temporaries);
    let result = match failure {
        None => Ok(take(session, &out)),
        Some(failure) => Err(failure),
    };
    // ... and so do refused calls during it, whatever it returned.
    match refused_threads(session) {
        Some(refused) => Err(refused),
        None => result,
    }
}

/// The error for calls other threads attempted since the last check (they were refused).
fn refused_threads(session: &Session) -> Option<CallError> {
    match session.thread.take_foreign_calls() {
        0 => None,
        refused => Some(CallError {
            panicked: false,
            kind: error_kind::MESSAGE,
            argument: None,
            message: foreign_thread_error(&session.plugin, refused),
            help: String::new(),
        }),
    }
}

fn release_all(session: &Session, handles: Vec<u64>) {
    let released: Vec<Option<Local>> = {
        let mut table = session.handles.borrow_mut();
        handles.into_iter().map(|handle| table.release(handle)).collect()
    };
    // Dropped outside the borrow: a plugin object's drop calls into the plugin.
    drop(released);
}

fn is_handle_tag(value: &TValue) -> bool {
    matches!(value.tag, tag::STRING | tag::ARRAY | tag::OBJECT | tag::FUNCTION | tag::OPAQUE | tag::PLUGIN_OBJECT)
}

/// Converts a plugin's value, consuming the reference it carries.
fn take(session: &Session, raw: &TValue) -> Local {
    match raw.tag {
        tag::BOOL => Local::Bool(raw.a != 0),
        tag::INT => Local::Int(raw.a as i64),
        tag::FLOAT => Local::Float(f64::from_bits(raw.a)),
        tag::STR => Local::Str(Rc::from(text_of(StrRef { ptr: raw.a as *const u8, len: raw.b as usize }))),
        tag::RANGE => Local::Range(raw.a as i64, raw.b as i64),
        _ if is_handle_tag(raw) => {
            let (value, released) = {
                let mut table = session.handles.borrow_mut();
                let value = table.get(raw.a).cloned().unwrap_or_default();
                (value, table.release(raw.a))
            };
            drop(released);
            value
        }
        _ => Local::Null,
    }
}

/// Converts a plugin's value without touching its reference.
fn peek(session: &Session, raw: &TValue) -> Local {
    if is_handle_tag(raw) {
        session.handles.borrow().get(raw.a).cloned().unwrap_or_default()
    } else {
        take(session, raw)
    }
}

/// Converts a value for the plugin. Heap values get a handle holding one reference, owned by
/// the plugin (`temporaries` is `None`) or by the call (`Some`: released when it returns).
fn give(session: &Session, value: &Local, temporaries: Option<&mut Vec<u64>>) -> TValue {
    let scalar = |tag: u32, a: u64, b: u64| TValue { tag, flags: 0, a, b };
    let (tag, id) = match value {
        Local::Null => return TValue::NULL,
        Local::Bool(b) => return scalar(tag::BOOL, u64::from(*b), 0),
        Local::Int(n) => return scalar(tag::INT, *n as u64, 0),
        Local::Float(x) => return scalar(tag::FLOAT, x.to_bits(), 0),
        Local::Range(start, end) => return scalar(tag::RANGE, *start as u64, *end as u64),
        // Strings handed in for a call are borrowed: no handle, no copy (as in-process).
        Local::Str(text) if temporaries.is_some() => return scalar(tag::STR, text.as_ptr() as u64, text.len() as u64),
        Local::Str(_) => (tag::STRING, 0),
        Local::Array(_) => (tag::ARRAY, 0),
        Local::Object(_) => (tag::OBJECT, 0),
        Local::Function(_) => (tag::FUNCTION, 0),
        Local::Opaque(_) => (tag::OPAQUE, 0),
        Local::PluginObject(object) => (tag::PLUGIN_OBJECT, object.id),
    };
    let handle = session.handles.borrow_mut().insert(value.clone(), 0);
    if let Some(temporaries) = temporaries {
        temporaries.push(handle);
    }
    TValue { tag, flags: 0, a: handle, b: id }
}

/// The session behind a host API table, when called on the session's thread. Other threads
/// get nothing (and their attempt is counted): the handle table is not shared between threads
/// (as in-process).
fn session(context: *mut c_void) -> Option<&'static Session> {
    let session = context.cast::<Session>().cast_const();
    if session.is_null() {
        return None;
    }
    // SAFETY: every host API function receives the `context` of the table `init` built,
    // which points at the session, leaked at start-up (it lives as long as the process). Only
    // its `thread` field (an id and an atomic) is borrowed before the thread check.
    let thread = unsafe { &(*session).thread };
    if !thread.check() {
        return None;
    }
    // SAFETY: as above; on the session's thread the whole (single-threaded) session may be used.
    Some(unsafe { &*session })
}

/// Writes the refusal of a call from another thread (static text: the session's buffers
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

fn guarded<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

fn report(session: &Session, out: *mut ErrorOut, kind: u32, message: String) {
    if out.is_null() {
        return;
    }
    let mut buffer = session.error_text.borrow_mut();
    buffer.0 = message;
    buffer.1.clear();
    let record = ErrorOut { kind, argument: -1, message: StrRef::new(&buffer.0), help: StrRef::new(&buffer.1) };
    // SAFETY: the plugin passes a valid, writable error record.
    unsafe { out.write(record) };
}

/// Reads `len` values from a plugin-provided pointer.
fn values<'a>(items: *const TValue, len: usize) -> &'a [TValue] {
    if len == 0 || items.is_null() {
        return &[];
    }
    // SAFETY: the plugin passes `len` values that live for the duration of the call.
    unsafe { std::slice::from_raw_parts(items, len) }
}

fn write_out(out: *mut TValue, value: TValue) {
    if !out.is_null() {
        // SAFETY: the plugin passes a valid out-pointer.
        unsafe { out.write(value) };
    }
}

unsafe extern "C" fn host_make_string(ctx: *mut c_void, text: StrRef) -> TValue {
    guarded(TValue::NULL, || {
        let Some(session) = session(ctx) else { return TValue::NULL };
        give(session, &Local::Str(Rc::from(text_of(text))), None)
    })
}

unsafe extern "C" fn host_make_array(ctx: *mut c_void, items: *const TValue, len: usize) -> TValue {
    guarded(TValue::NULL, || {
        let Some(session) = session(ctx) else { return TValue::NULL };
        let items: Vec<Local> = values(items, len).iter().map(|item| take(session, item)).collect();
        give(session, &Local::Array(Rc::new(items)), None)
    })
}

unsafe extern "C" fn host_make_object(
    ctx: *mut c_void,
    keys: *const StrRef,
    items: *const TValue,
    len: usize,
) -> TValue {
    guarded(TValue::NULL, || {
        let Some(session) = session(ctx) else { return TValue::NULL };
        let keys: &[StrRef] = if len == 0 || keys.is_null() {
            &[]
        } else {
            // SAFETY: the plugin passes `len` keys.
            unsafe { std::slice::from_raw_parts(keys, len) }
        };
        let mut entries: Vec<(Rc<str>, Local)> = Vec::with_capacity(len);
        let mut index: std::collections::HashMap<Rc<str>, usize> = std::collections::HashMap::new();
        for (key, item) in keys.iter().zip(values(items, len)) {
            let key: Rc<str> = Rc::from(text_of(*key));
            let item = take(session, item);
            // Later keys win, in the first key's position (as the host's objects do).
            match index.get(&key) {
                Some(&at) => entries[at].1 = item,
                None => {
                    index.insert(key.clone(), entries.len());
                    entries.push((key, item));
                }
            }
        }
        give(session, &Local::Object(Rc::new(entries)), None)
    })
}

unsafe extern "C" fn host_retain(ctx: *mut c_void, value: *const TValue) {
    guarded((), || {
        let Some(session) = session(ctx) else { return };
        // SAFETY: the plugin passes a valid value.
        let Some(raw) = (unsafe { value.as_ref() }) else { return };
        if is_handle_tag(raw) {
            session.handles.borrow_mut().retain(raw.a);
        }
    })
}

unsafe extern "C" fn host_release(ctx: *mut c_void, value: *const TValue) {
    guarded((), || {
        let Some(session) = session(ctx) else { return };
        // SAFETY: the plugin passes a valid value.
        let Some(raw) = (unsafe { value.as_ref() }) else { return };
        if is_handle_tag(raw) {
            release_all(session, vec![raw.a]);
        }
    })
}

unsafe extern "C" fn host_string_view(ctx: *mut c_void, value: *const TValue, out: *mut StrRef) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return status::INVALID };
        // SAFETY: the plugin passes a valid value.
        let Some(raw) = (unsafe { value.as_ref() }) else { return status::INVALID };
        let table = session.handles.borrow();
        let Some(found) = table.get(raw.a) else { return status::NOT_FOUND };
        let Local::Str(text) = found else { return status::INVALID };
        if !out.is_null() {
            // SAFETY: valid out-pointer; the text lives in the slot's `Rc`, which the plugin's
            // handle keeps alive.
            unsafe { out.write(StrRef::new(text)) };
        }
        status::OK
    })
}

unsafe extern "C" fn host_length(ctx: *mut c_void, value: *const TValue) -> usize {
    guarded(0, || {
        let Some(session) = session(ctx) else { return 0 };
        // SAFETY: the plugin passes a valid value.
        let Some(raw) = (unsafe { value.as_ref() }) else { return 0 };
        match session.handles.borrow().get(raw.a) {
            Some(Local::Array(items)) => items.len(),
            Some(Local::Object(entries)) => entries.len(),
            _ => 0,
        }
    })
}

unsafe extern "C" fn host_array_get(ctx: *mut c_void, array: *const TValue, index: usize, out: *mut TValue) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return status::INVALID };
        // SAFETY: the plugin passes a valid value.
        let Some(raw) = (unsafe { array.as_ref() }) else { return status::INVALID };
        let item = match session.handles.borrow().get(raw.a) {
            Some(Local::Array(items)) => items.get(index).cloned(),
            _ => return status::INVALID,
        };
        let Some(item) = item else { return status::NOT_FOUND };
        write_out(out, give(session, &item, None));
        status::OK
    })
}

unsafe extern "C" fn host_object_get(ctx: *mut c_void, object: *const TValue, key: StrRef, out: *mut TValue) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return status::INVALID };
        // SAFETY: the plugin passes a valid value.
        let Some(raw) = (unsafe { object.as_ref() }) else { return status::INVALID };
        let key = text_of(key);
        let found = match session.handles.borrow().get(raw.a) {
            Some(Local::Object(entries)) => {
                entries.iter().find(|(name, _)| **name == *key).map(|(_, item)| item.clone())
            }
            _ => return status::INVALID,
        };
        let Some(found) = found else { return status::NOT_FOUND };
        write_out(out, give(session, &found, None));
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
        let Some(session) = session(ctx) else { return status::INVALID };
        // SAFETY: the plugin passes a valid value.
        let Some(raw) = (unsafe { object.as_ref() }) else { return status::INVALID };
        let (key_ref, item) = {
            let table = session.handles.borrow();
            let Some(Local::Object(entries)) = table.get(raw.a) else { return status::INVALID };
            let Some((name, item)) = entries.get(index) else { return status::NOT_FOUND };
            // The key lives inside the object, which the plugin's handle keeps alive.
            (StrRef::new(name), item.clone())
        };
        let given = give(session, &item, None);
        if !key.is_null() {
            // SAFETY: valid out-pointer.
            unsafe { key.write(key_ref) };
        }
        write_out(out, given);
        status::OK
    })
}

/// The runner has no interpreter to make isolates of: a sandboxed plugin calls the function
/// itself, one item after another.
unsafe extern "C" fn host_map_parallel(
    ctx: *mut c_void,
    _call: *mut c_void,
    _function: *const TValue,
    _items: *const TValue,
    _workers: u32,
    _out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return refuse(error) };
        let reason = "sandboxed plugins call script functions on the interpreter's thread only".to_string();
        report(session, error, error_kind::MESSAGE, reason);
        status::UNSUPPORTED
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
        let Some(session) = session(ctx) else { return refuse(error) };
        if call.is_null() {
            report(
                session,
                error,
                error_kind::SCRIPT,
                "lambdas can only be called during a call into the plugin".into(),
            );
            return status::ERROR;
        }
        // SAFETY: the plugin passes a valid function value.
        let function = unsafe { function.as_ref() }.map(|raw| peek(session, raw)).unwrap_or_default();
        let Local::Function(function_id) = function else {
            report(session, error, error_kind::SCRIPT, "only script functions can be called".into());
            return status::ERROR;
        };
        let mut wire_args = Vec::with_capacity(argc);
        for raw in values(args, argc) {
            match session.wire(&peek(session, raw)) {
                Ok(arg) => wire_args.push(arg),
                Err(message) => {
                    report(session, error, error_kind::SCRIPT, message);
                    return status::ERROR;
                }
            }
        }
        match session.callback(call as usize as u64, function_id, wire_args) {
            Ok(value) => {
                let local = session.local(value);
                write_out(out, give(session, &local, None));
                status::OK
            }
            Err(message) => {
                report(session, error, error_kind::SCRIPT, message);
                status::ERROR
            }
        }
    })
}

unsafe extern "C" fn host_make_plugin_object(ctx: *mut c_void, type_name: StrRef, object: u64) -> TValue {
    guarded(TValue::NULL, || {
        let Some(session) = session(ctx) else { return TValue::NULL };
        let reference = ObjectRef { id: object, type_name: Rc::from(text_of(type_name)), on_drop: drop_object };
        give(session, &Local::PluginObject(Rc::new(reference)), None)
    })
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, message: StrRef, fields: *const TValue) {
    guarded((), || {
        let Some(session) = session(ctx) else { return };
        // SAFETY: `fields` is a valid value or a null pointer.
        let fields = unsafe { fields.as_ref() }.map(|raw| peek(session, raw)).unwrap_or_default();
        let fields = session.wire(&fields).unwrap_or(tusk_plugin_wire::WireValue::Null);
        session.send(&tusk_plugin_wire::ToHost::Log { level, message: text_of(message), fields });
    })
}

/// Asks the host (which checks the user's grants) before a host-mediated access.
fn ask(session: &'static Session, request: Request) -> Result<Option<String>, String> {
    session.request(request)
}

/// The runner asks the host, which checks the user's grants and answers with the resolved
/// path (relative paths mean the script's folder).
struct AskHost(&'static Session);

impl AskHost {
    fn resolved(&self, request: Request, path: &str) -> Result<PathBuf, String> {
        ask(self.0, request).map(|resolved| PathBuf::from(resolved.unwrap_or_else(|| path.to_string())))
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

fn io_failure(session: &Session, error: *mut ErrorOut, failure: IoFailure) -> u32 {
    match failure {
        IoFailure::Denied(message) => {
            report(session, error, error_kind::PERMISSION_DENIED, message);
            status::DENIED
        }
        IoFailure::Failed(message) => {
            report(session, error, error_kind::MESSAGE, message);
            status::ERROR
        }
    }
}

unsafe extern "C" fn host_read_file(ctx: *mut c_void, path: StrRef, out: *mut TValue, error: *mut ErrorOut) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return refuse(error) };
        match read_granted(&AskHost(session), &text_of(path)) {
            Ok(text) => {
                write_out(out, give(session, &Local::Str(Rc::from(text)), None));
                status::OK
            }
            Err(failure) => io_failure(session, error, failure),
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
        let Some(session) = session(ctx) else { return refuse(error) };
        match write_granted(&AskHost(session), &text_of(path), text_of(data).as_bytes(), mode) {
            Ok(()) => status::OK,
            Err(failure) => io_failure(session, error, failure),
        }
    })
}

unsafe extern "C" fn host_resolve_path(ctx: *mut c_void, path: StrRef, out: *mut TValue) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return status::INVALID };
        let path = text_of(path);
        let resolved = ask(session, Request::Resolve(path.clone())).ok().flatten().unwrap_or(path);
        write_out(out, give(session, &Local::Str(Rc::from(resolved)), None));
        status::OK
    })
}

unsafe extern "C" fn host_read_env(ctx: *mut c_void, name: StrRef, out: *mut TValue, error: *mut ErrorOut) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return refuse(error) };
        match ask(session, Request::Env(text_of(name))) {
            Ok(Some(value)) => {
                write_out(out, give(session, &Local::Str(Rc::from(value)), None));
                status::OK
            }
            Ok(None) => status::NOT_FOUND,
            Err(message) => {
                report(session, error, error_kind::PERMISSION_DENIED, message);
                status::DENIED
            }
        }
    })
}

unsafe extern "C" fn host_check_connect(ctx: *mut c_void, host: StrRef, port: u16, error: *mut ErrorOut) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return refuse(error) };
        match ask(session, Request::Connect { host: text_of(host), port }) {
            Ok(_) => status::OK,
            Err(message) => {
                report(session, error, error_kind::PERMISSION_DENIED, message);
                status::DENIED
            }
        }
    })
}

unsafe extern "C" fn host_is_cancelled(ctx: *mut c_void, _call: *mut c_void) -> u32 {
    guarded(0, || session(ctx).map_or(0, |session| u32::from(session.is_cancelled())))
}
