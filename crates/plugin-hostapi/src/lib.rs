//! The host API table a plugin calls ([`HostApi`]), written once for both places a plugin runs:
//! the in-process host, where the values live, and the sandboxed runner, which asks the host
//! over the wire. Each implements [`Backend`]; this crate owns every `extern "C"` entry of the
//! table and what the two do alike: the checks of pointers and lengths, `catch_unwind` (no
//! panic unwinds into plugin code), the owner-thread check, the handle table, the conversion
//! of values to and from [`TValue`] and the error records; and, in [`descriptor`], what both
//! read from a plugin's descriptor (its identity, the symbols it registered). Both modules
//! allow `unsafe`, each block with its SAFETY comment.
//!
//! The table's layout is the ABI's: entries are only ever appended, and [`Context::leak`]
//! fills every entry the ABI has.
//!
//! # Safety
//!
//! Every entry is an `unsafe extern "C" fn` the plugin calls through its table, under the ABI's
//! contract: `context` is the table's own, and every non-null pointer (values, out-slots,
//! `StrRef` texts, arrays with their lengths) is valid for the duration of the call. Null
//! pointers and zero lengths are checked. The private helpers that read or write through such
//! pointers (`text_of` and the like) are only ever called on the arguments of those entries.
#![allow(unsafe_code)]

pub mod descriptor;
pub mod sockets;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use smallvec::SmallVec;
use tusk_plugin_abi::{
    ABI_MINOR, BytesFill, ErrorOut, FILL_FAILED, FOREIGN_THREAD_MESSAGE, HostApi, OwnerThread, PostDone, StrRef,
    TValue, error_kind, status, tag,
};
use tusk_plugin_boundary::HandleTable;
use tusk_plugin_boundary::fs::{Grant, IoFailure, WriteMode, read_granted, write_granted};

/// Handles lent to the plugin for one call, released when it returns.
pub type Temporaries = SmallVec<[u64; 4]>;

/// What a value is, as far as the table cares when it hands the value to the plugin.
pub enum Shape<'a> {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A range.
    Range(i64, i64),
    /// A string, lent without a copy to the call it is an argument of.
    Str(&'a str),
    /// A byte string, lent without a copy to the call it is an argument of (ABI 1.7; an older
    /// plugin gets it as an `OPAQUE` handle).
    Bytes(&'a [u8]),
    /// An array.
    Array,
    /// An object.
    Object,
    /// A script function.
    Function,
    /// One of this plugin's own objects, by the plugin's id.
    PluginObject(u64),
    /// Anything else (a foreign value of the host or of another plugin).
    Opaque,
}

/// What looking into a container found.
pub enum Lookup<T> {
    /// The item.
    Found(T),
    /// No such index or key.
    Missing,
    /// The value is not a container of that kind.
    NotAContainer,
}

/// An error a backend reports to the plugin through its error record.
pub struct Failure {
    /// One of `error_kind`.
    pub kind: u32,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// An error with a plain message.
    pub fn message(message: impl Into<String>) -> Failure {
        Failure { kind: error_kind::MESSAGE, message: message.into() }
    }

    /// The error of a script function the plugin called.
    pub fn script(message: impl Into<String>) -> Failure {
        Failure { kind: error_kind::SCRIPT, message: message.into() }
    }
}

/// Why [`Backend::map_parallel`] gave no results.
pub enum ParallelFailure {
    /// Nothing visible ran: the function or an item cannot leave the interpreter's thread, or
    /// the backend has no isolates; the plugin calls the function itself.
    Unsupported(String),
    /// The script's error of the first item, in item order, that failed.
    Failed(String),
}

/// Why a socket was not deposited or taken ([`Backend::deposit_socket`],
/// [`Backend::take_socket`]); each is one of the entries' statuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandOffFailure {
    /// `UNSUPPORTED`: the backend cannot hand sockets over here.
    Unsupported(Cow<'static, str>),
    /// `INVALID`: what was deposited is not a socket.
    Invalid(String),
    /// `NOT_FOUND`: no socket waits under the ticket (never issued, or taken already).
    NotFound(String),
    /// `ERROR`: the hand-off failed on the way (a sandboxed runner's host went away).
    Failed(String),
}

/// Why a posted call of a retained function gave no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostFailure {
    /// The script function itself failed (rather than the post: shutdown, a released function).
    pub script: bool,
    /// What went wrong; a script error starts with its location.
    pub message: String,
}

/// Where a posted call's outcome goes (on whichever thread has it): the result as JSON text.
pub type Reply = Box<dyn FnOnce(Result<String, PostFailure>) + Send>;

/// The context of the plugin call in progress, as the plugin passes it back (never null): the
/// host's per-call state in-process, the call's id in the runner.
#[derive(Clone, Copy)]
pub struct CallPointer(NonNull<c_void>);

impl CallPointer {
    /// The pointer, as the backend handed it to the plugin's `call`.
    pub fn as_ptr(self) -> *mut c_void {
        self.0.as_ptr()
    }
}

/// The error when a plugin uses a script function or foreign value after the call that passed
/// it returned: the same text in-process and sandboxed.
pub fn kept_past_its_call(plugin: &str) -> String {
    format!("plugin `{plugin}` used a script value that is only valid during the call that passed it")
}

/// What differs between the in-process host and the sandboxed runner behind the host API:
/// the values the handles name, and where script functions, grants and the event loop are.
///
/// Functions taking a [`Context`] run on the thread that owns it, with nothing of the context
/// borrowed (they may call back into the plugin). The `Shared` ones may run on any thread.
pub trait Backend: Sized + 'static {
    /// A value a handle names.
    type Value: Clone + Default;
    /// What the plugin's other threads reach (the event loop), set before the plugin starts.
    type Shared: Sync + 'static;
    /// Decides whether the plugin may read or write a file.
    type Grant<'a>: Grant
    where
        Self: 'a;

    /// The plugin's name, for error texts.
    fn plugin(&self) -> &str;

    /// What `value` is.
    fn shape<'v>(context: &Context<Self>, value: &'v Self::Value) -> Shape<'v>;
    /// A boolean value.
    fn bool(value: bool) -> Self::Value;
    /// An integer value.
    fn int(value: i64) -> Self::Value;
    /// A float value.
    fn float(value: f64) -> Self::Value;
    /// A range value.
    fn range(start: i64, end: i64) -> Self::Value;
    /// A string value.
    fn string(text: &str) -> Self::Value;
    /// A byte string holding a copy of `data`.
    fn bytes(data: &[u8]) -> Self::Value;
    /// A byte string of `len` zero bytes, and a pointer to its bytes through which the plugin
    /// fills it before the value is used (the value must be the only reference to them).
    fn bytes_buffer(len: usize) -> (Self::Value, *mut u8);
    /// A byte string of `before` zero bytes, a copy of `data` and `after` zero bytes, and a
    /// pointer to its bytes as with [`Backend::bytes_buffer`]; `None` when the length
    /// overflows `usize`.
    fn bytes_around(before: usize, data: &[u8], after: usize) -> Option<(Self::Value, *mut u8)>;
    /// A byte string of the bytes in `bytes` (the shared allocation itself, no copy).
    fn shared_bytes(bytes: std::rc::Rc<[u8]>) -> Self::Value;
    /// An array value.
    fn array(items: Vec<Self::Value>) -> Self::Value;
    /// An object value; a later key replaces an earlier one's value, in the earlier's place.
    fn object(entries: Vec<(String, Self::Value)>) -> Self::Value;
    /// Items of an array, entries of an object, 0 for other values.
    fn length(value: &Self::Value) -> usize;
    /// Item `index` of an array.
    fn item(value: &Self::Value, index: usize) -> Lookup<Self::Value>;
    /// The value under `key` of an object.
    fn field(value: &Self::Value, key: &str) -> Lookup<Self::Value>;
    /// Entry `index` of an object: its key (living as long as the object) and value.
    fn entry(value: &Self::Value, index: usize) -> Lookup<(&str, Self::Value)>;

    /// Calls a script function during the plugin call `call`. The error is the script's.
    fn call_function(
        context: &Context<Self>,
        call: CallPointer,
        function: Self::Value,
        args: &[Self::Value],
    ) -> Result<Self::Value, String>;
    /// Calls `function` once per item of `items` (an array or a range) during the plugin call
    /// `call`, on up to `workers` interpreter isolates, and gives the array of the results in
    /// item order.
    fn map_parallel(
        context: &Context<Self>,
        call: CallPointer,
        function: Self::Value,
        items: Self::Value,
        workers: usize,
    ) -> Result<Self::Value, ParallelFailure>;
    /// Keeps the script function `function` beyond the call `call`; returns its retained id.
    fn retain_function(context: &Context<Self>, call: CallPointer, function: Self::Value) -> Result<u64, Failure>;
    /// Wraps plugin object `id` as a value.
    fn plugin_object(context: &'static Context<Self>, type_name: String, id: u64) -> Self::Value;
    /// A log record from the plugin (level 0 trace … 4 error).
    fn log(context: &Context<Self>, level: u32, message: &str, fields: Self::Value);
    /// The grants of the plugin's file I/O.
    fn grant(context: &Context<Self>) -> Self::Grant<'_>;
    /// The absolute path `path` means for the plugin.
    fn resolve_path(context: &Context<Self>, path: String) -> String;
    /// An environment variable, if the plugin may read it (`Err`: the refusal).
    fn read_env(context: &Context<Self>, name: &str) -> Result<Option<String>, String>;
    /// May the plugin connect to `host:port` (`Err`: the refusal)?
    fn check_connect(context: &Context<Self>, host: &str, port: u16) -> Result<(), String>;
    /// True when the running call should stop.
    fn is_cancelled(context: &Context<Self>) -> bool;

    /// Lets go of a retained function (any thread).
    fn release_function(shared: &Self::Shared, function: u64);
    /// Posts a call of a retained function to the event loop (any thread).
    fn post(shared: &Self::Shared, function: u64, args_json: String, reply: Reply) -> Result<(), Cow<'static, str>>;
    /// Starts a service that keeps the event loop running (any thread).
    fn start_service(shared: &Self::Shared, name: &str) -> Result<u64, Cow<'static, str>>;
    /// Ends a service (any thread).
    fn end_service(shared: &Self::Shared, service: u64);
    /// Puts `socket` (an open socket, checked) and the bytes read ahead of it on the
    /// process's hand-off desk ([`sockets`]) and returns the ticket; on failure `socket` comes
    /// back, still the plugin's (the ABI's contract). In-process the desk is at hand; a
    /// sandboxed runner sends a copy to the host and closes its own once the host has it. Any
    /// thread.
    #[cfg(unix)]
    fn deposit_socket(
        shared: &Self::Shared,
        socket: std::os::fd::OwnedFd,
        prefix: Vec<u8>,
    ) -> Result<u64, (std::os::fd::OwnedFd, HandOffFailure)>;
    /// The socket deposited under `ticket` and the bytes read ahead of it, once (the desk's
    /// rules: a ticket is good once). Any thread.
    #[cfg(unix)]
    fn take_socket(shared: &Self::Shared, ticket: u64) -> Result<(std::os::fd::OwnedFd, Vec<u8>), HandOffFailure>;
}

/// One plugin's host API table and the state behind it; the table's `context` points here.
/// Leaked: the plugin keeps pointers to it for the rest of the process.
pub struct Context<B: Backend> {
    api: HostApi,
    /// The thread that owns the context; the only field besides `shared` other threads touch.
    thread: OwnerThread,
    /// Written before the plugin gets the table, never after.
    shared: B::Shared,
    handles: RefCell<HandleTable<B::Value>>,
    /// Texts of the last error reported (valid until the next one, as the ABI says).
    error_text: RefCell<(String, String)>,
    /// Counts outermost calls. Script functions and foreign values the plugin gets are valid
    /// until the outermost call that gave them returns: a handle from an earlier epoch cannot
    /// be called. (The runner never starts an epoch: the host checks its script values.)
    epoch: Cell<u64>,
    /// The ABI minor the plugin was built for: values of later tags reach it as `OPAQUE`.
    plugin_abi_minor: Cell<u32>,
    backend: B,
}

impl<B: Backend> Context<B> {
    /// Creates the context of one plugin, owned by the calling thread.
    pub fn leak(backend: B, shared: B::Shared) -> &'static Context<B> {
        let context: &'static mut Context<B> = Box::leak(Box::new(Context {
            api: table::<B>(),
            thread: OwnerThread::current(),
            shared,
            handles: RefCell::new(HandleTable::default()),
            error_text: RefCell::new((String::new(), String::new())),
            epoch: Cell::new(0),
            plugin_abi_minor: Cell::new(ABI_MINOR),
            backend,
        }));
        context.api.context = (context as *mut Context<B>).cast::<c_void>();
        context
    }

    /// Records the ABI minor the plugin was built for (from its info record), before the
    /// plugin gets any value: a plugin older than 1.7 gets byte strings as `OPAQUE` handles,
    /// which it can keep and give back but not read.
    pub fn set_plugin_abi_minor(&self, minor: u32) {
        self.plugin_abi_minor.set(minor);
    }

    /// The table to hand to the plugin's `init`.
    pub fn api(&self) -> &HostApi {
        &self.api
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// What the plugin's other threads reach.
    pub fn shared(&self) -> &B::Shared {
        &self.shared
    }

    /// Calls from other threads refused since the last time this was asked: the plugin's
    /// current call fails with `tusk_plugin_abi::foreign_thread_error` when there were any.
    pub fn refused_calls(&self) -> u64 {
        self.thread.take_foreign_calls()
    }

    /// Values the plugin currently holds (for leak checks in tests).
    pub fn live_handles(&self) -> usize {
        self.handles.borrow().live()
    }

    /// Starts a new epoch: what the plugin got before is out of reach. The in-process host
    /// starts one when an outermost call returns, so that what a call gave the plugin is
    /// reachable until then.
    pub fn begin_epoch(&self) {
        self.epoch.set(self.epoch.get() + 1);
    }

    /// Converts a value for the plugin. Heap values get a handle holding one reference, which
    /// belongs to the plugin (`temporaries` is `None`) or to the call (`Some`: released by
    /// [`Context::release_all`] when the call returns); strings lent to a call are borrowed.
    pub fn give(&self, value: &B::Value, temporaries: Option<&mut Temporaries>) -> TValue {
        let scalar = |tag: u32, a: u64, b: u64| TValue { tag, flags: 0, a, b };
        let (tag, id) = match B::shape(self, value) {
            Shape::Null => return TValue::NULL,
            Shape::Bool(b) => return scalar(tag::BOOL, u64::from(b), 0),
            Shape::Int(n) => return scalar(tag::INT, n as u64, 0),
            Shape::Float(x) => return scalar(tag::FLOAT, x.to_bits(), 0),
            Shape::Range(start, end) => return scalar(tag::RANGE, start as u64, end as u64),
            Shape::Str(text) if temporaries.is_some() => {
                return scalar(tag::STR, text.as_ptr() as u64, text.len() as u64);
            }
            Shape::Str(_) => (tag::STRING, 0),
            Shape::Bytes(_) if self.plugin_abi_minor.get() < 7 => (tag::OPAQUE, 0),
            Shape::Bytes(data) if temporaries.is_some() => {
                return scalar(tag::BYTES_REF, data.as_ptr() as u64, data.len() as u64);
            }
            Shape::Bytes(_) => (tag::BYTES, 0),
            Shape::Array => (tag::ARRAY, 0),
            Shape::Object => (tag::OBJECT, 0),
            Shape::Function => (tag::FUNCTION, 0),
            Shape::PluginObject(id) => (tag::PLUGIN_OBJECT, id),
            Shape::Opaque => (tag::OPAQUE, 0),
        };
        let handle = self.handles.borrow_mut().insert(value.clone(), self.epoch.get());
        if let Some(temporaries) = temporaries {
            temporaries.push(handle);
        }
        TValue { tag, flags: 0, a: handle, b: id }
    }

    /// [`Context::give`] for a value taken out of `parent` (an array or object the plugin
    /// holds): it is as old as its container, so a function kept inside a kept array stays out
    /// of reach too.
    fn give_from(&self, value: &B::Value, parent: &TValue) -> TValue {
        let given = self.give(value, None);
        if given.is_handle() {
            let mut handles = self.handles.borrow_mut();
            if let Some(epoch) = handles.slot(parent.a).map(|slot| slot.epoch) {
                handles.set_epoch(given.a, epoch);
            }
        }
        given
    }

    /// Converts a plugin's value, consuming the reference it carries.
    ///
    /// # Safety
    ///
    /// A `STR` or `BYTES_REF` value's pointer and length must name memory that is valid for
    /// the duration of this call (as the plugin's arguments and results are).
    pub unsafe fn take(&self, raw: &TValue) -> B::Value {
        match raw.tag {
            tag::BOOL => B::bool(raw.a != 0),
            tag::INT => B::int(raw.a as i64),
            tag::FLOAT => B::float(f64::from_bits(raw.a)),
            // SAFETY: the caller's contract.
            tag::STR => B::string(&unsafe { text_view(StrRef { ptr: raw.a as *const u8, len: raw.b as usize }) }),
            tag::RANGE => B::range(raw.a as i64, raw.b as i64),
            // SAFETY: the caller's contract (as for `STR`).
            tag::BYTES_REF => B::bytes(unsafe { bytes_at(raw.a as *const u8, raw.b as usize) }),
            _ if is_handle(raw) => {
                let (value, released) = {
                    let mut handles = self.handles.borrow_mut();
                    let value = handles.get(raw.a).cloned().unwrap_or_default();
                    (value, handles.release(raw.a))
                };
                // Dropped outside the borrow: dropping a plugin object calls into the plugin,
                // which may release more handles.
                drop(released);
                value
            }
            _ => B::Value::default(),
        }
    }

    /// Converts a plugin's value without touching its reference.
    ///
    /// # Safety
    ///
    /// As [`Context::take`].
    unsafe fn peek(&self, raw: &TValue) -> B::Value {
        if is_handle(raw) {
            self.handles.borrow().get(raw.a).cloned().unwrap_or_default()
        } else {
            // SAFETY: the caller's contract; a value that is not a handle carries no reference.
            unsafe { self.take(raw) }
        }
    }

    /// True when `raw` is a script function or foreign value given during an earlier outermost
    /// call (the plugin kept it past the call that passed it).
    pub fn is_stale(&self, raw: &TValue) -> bool {
        matches!(raw.tag, tag::FUNCTION | tag::OPAQUE)
            && self.handles.borrow().slot(raw.a).is_some_and(|slot| slot.epoch != self.epoch.get())
    }

    /// Releases the handles a call lent.
    pub fn release_all(&self, temporaries: Temporaries) {
        if temporaries.is_empty() {
            return;
        }
        let released: SmallVec<[Option<B::Value>; 4]> = {
            let mut handles = self.handles.borrow_mut();
            temporaries.into_iter().map(|handle| handles.release(handle)).collect()
        };
        // Dropped outside the borrow (see `take`).
        drop(released);
    }

    /// Writes an error record with this context's text buffer.
    fn report(&self, out: *mut ErrorOut, kind: u32, message: String) {
        if out.is_null() {
            return;
        }
        let mut buffer = self.error_text.borrow_mut();
        buffer.0 = message;
        buffer.1.clear();
        let record = ErrorOut { kind, argument: -1, message: StrRef::new(&buffer.0), help: StrRef::new(&buffer.1) };
        // SAFETY: the plugin passes a valid, writable error record (checked non-null).
        unsafe { out.write(record) };
    }

    fn io_failure(&self, error: *mut ErrorOut, failure: IoFailure) -> u32 {
        match failure {
            IoFailure::Denied(message) => self.denied(error, message),
            IoFailure::Failed(message) => {
                self.report(error, error_kind::MESSAGE, message);
                status::ERROR
            }
        }
    }

    fn denied(&self, error: *mut ErrorOut, message: String) -> u32 {
        self.report(error, error_kind::PERMISSION_DENIED, message);
        status::DENIED
    }
}

fn is_handle(value: &TValue) -> bool {
    value.is_handle()
}

/// A new shared byte string of `len` zero bytes and a pointer to them, for the plugin to fill
/// ([`Backend::bytes_buffer`] of both backends): one allocation, zeroed in place (the
/// iterator's length is known, so the `Rc` is allocated once and written directly).
pub fn zeroed_bytes(len: usize) -> (std::rc::Rc<[u8]>, *mut u8) {
    let mut bytes: std::rc::Rc<[u8]> = std::iter::repeat_n(0u8, len).collect();
    let data = std::rc::Rc::get_mut(&mut bytes).map_or(std::ptr::null_mut(), |bytes| bytes.as_mut_ptr());
    (bytes, data)
}

/// A new shared byte string of `before` zero bytes, a copy of `data` and `after` zero bytes,
/// and a pointer to them, for the plugin to write ([`Backend::bytes_around`] of both backends):
/// one allocation, each byte written once (no zeroing of the part `data` then covers); `None`
/// when the length overflows `usize` or is above `isize::MAX`.
pub fn bytes_around(before: usize, data: &[u8], after: usize) -> Option<(std::rc::Rc<[u8]>, *mut u8)> {
    let len = before.checked_add(data.len())?.checked_add(after)?;
    if len > isize::MAX as usize {
        return None;
    }
    let mut bytes = std::rc::Rc::<[u8]>::new_uninit_slice(len);
    let slots = std::rc::Rc::get_mut(&mut bytes)?;
    let (head, rest) = slots.split_at_mut(before);
    let (middle, tail) = rest.split_at_mut(data.len());
    head.iter_mut().chain(tail.iter_mut()).for_each(|slot| {
        slot.write(0);
    });
    // SAFETY: `middle` is `data.len()` bytes of a new allocation, which `data` (the caller's
    // slice) cannot overlap; `MaybeUninit<u8>` has the layout of `u8`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), middle.as_mut_ptr().cast::<u8>(), data.len()) };
    // SAFETY: every byte was written just above: `head` and `tail` zeroed, `middle` copied.
    let mut bytes = unsafe { bytes.assume_init() };
    let pointer = std::rc::Rc::get_mut(&mut bytes)?.as_mut_ptr();
    Some((bytes, pointer))
}

/// A new shared byte string written by `fill` ([`HostApi::make_bytes_filled`] of both
/// backends): `capacity` bytes allocated and left uninitialised, `fill` given a pointer to them
/// and answering how many it wrote at the front. The result holds exactly those bytes (the
/// allocation itself when `fill` wrote them all, else a copy of the written front); when `fill`
/// answers [`FILL_FAILED`] (`ERROR`) or more than `capacity` (`INVALID`), the bytes are freed
/// unread and the status is the error. `capacity` must be at most `isize::MAX` (`INVALID`).
///
/// # Safety
///
/// `fill` writes only within the `capacity` bytes at the pointer it is given, and only while it
/// runs, and the count it answers (unless `FILL_FAILED` or above `capacity`) is of bytes at the
/// front that it wrote.
pub unsafe fn filled_bytes(capacity: usize, fill: impl FnOnce(*mut u8) -> usize) -> Result<std::rc::Rc<[u8]>, u32> {
    if capacity > isize::MAX as usize {
        return Err(status::INVALID);
    }
    let mut bytes = std::rc::Rc::<[u8]>::new_uninit_slice(capacity);
    // A new `Rc` is unique; `None` cannot occur, and is refused rather than assumed.
    let slots = std::rc::Rc::get_mut(&mut bytes).ok_or(status::ERROR)?;
    let written = fill(slots.as_mut_ptr().cast::<u8>());
    if written == FILL_FAILED {
        return Err(status::ERROR);
    }
    if written > capacity {
        return Err(status::INVALID);
    }
    if written == capacity {
        // SAFETY: `fill` wrote all `capacity` bytes (the caller's contract for its count).
        return Ok(unsafe { bytes.assume_init() });
    }
    // SAFETY: `fill` wrote the first `written` bytes (the caller's contract); `MaybeUninit<u8>`
    // has the layout of `u8`, and the slice ends within the allocation (`written < capacity`).
    let front = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u8>(), written) };
    Ok(std::rc::Rc::from(front))
}

/// The `len` bytes at `data` (none when `len` is 0, whatever the pointer).
///
/// # Safety
///
/// Unless `len` is 0, `data` must point at `len` readable bytes that stay valid and unchanged
/// for `'a`.
unsafe fn bytes_at<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || data.is_null() {
        return &[];
    }
    // SAFETY: the caller's contract; `len` is not 0 and `data` not null.
    unsafe { std::slice::from_raw_parts(data, len) }
}

/// Copies a text out of the plugin's memory (lossily, should it not be UTF-8).
///
/// # Safety
///
/// A non-null `text.ptr` must point at `text.len` bytes that are valid for the duration of the
/// call.
pub unsafe fn text_of(text: StrRef) -> String {
    // SAFETY: the caller's contract.
    unsafe { text_view(text) }.into_owned()
}

/// The text a plugin lent, borrowed where it is valid UTF-8 (invalid sequences replaced, in a
/// copy, otherwise): a string value is then built with one copy of the plugin's bytes.
///
/// # Safety
///
/// As [`text_of`]; the view must not outlive the plugin's text.
pub unsafe fn text_view<'a>(text: StrRef) -> Cow<'a, str> {
    if text.ptr.is_null() || text.len == 0 {
        return Cow::Borrowed("");
    }
    // SAFETY: the caller's contract (checked non-null above).
    let bytes = unsafe { std::slice::from_raw_parts(text.ptr, text.len) };
    // `from_utf8` first: it checks ASCII a word at a time, while `from_utf8_lossy` walks every
    // byte (a 1 MiB result checked 15–30 times faster), and nearly every text is valid.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The context behind a table's `context`, on the thread that owns it; `None` (and the attempt
/// counted) on any other thread.
fn context<B: Backend>(pointer: *mut c_void) -> Option<&'static Context<B>> {
    let context = pointer.cast::<Context<B>>().cast_const();
    if context.is_null() {
        return None;
    }
    // SAFETY: every entry receives the `context` of the table it belongs to, a leaked
    // `Context<B>` (the entries are instantiated for `B` by `table::<B>` only). Only its
    // `thread` field (an id and an atomic) is borrowed here, so another thread reads nothing
    // the owner writes without synchronisation.
    let thread = unsafe { &(*context).thread };
    if !thread.check() {
        return None;
    }
    // SAFETY: as above; on the owning thread the whole (single-threaded) context may be used.
    Some(unsafe { &*context })
}

/// What the plugin's other threads reach, from any thread.
fn shared<B: Backend>(pointer: *mut c_void) -> Option<&'static B::Shared> {
    let context = pointer.cast::<Context<B>>().cast_const();
    if context.is_null() {
        return None;
    }
    // SAFETY: as in `context`; only the `shared` field is borrowed: written before the plugin
    // got the table (which happens-before any of its threads could call here), never again,
    // and `Sync`.
    Some(unsafe { &(*context).shared })
}

/// Writes the refusal of a call from another thread (static text: the context's buffers
/// belong to its thread) and returns its status.
fn refuse(error: *mut ErrorOut) -> u32 {
    write_out(
        error,
        ErrorOut {
            kind: error_kind::MESSAGE,
            argument: -1,
            message: StrRef::new(FOREIGN_THREAD_MESSAGE),
            help: StrRef::EMPTY,
        },
    );
    status::ERROR
}

/// What a call without its table's context gets from the entries any thread may use.
const NO_CONTEXT: &str = "the host API was called without its table's context";

/// Writes an error from any thread: static text as it is, other text in a buffer of the
/// calling thread (the context's buffer belongs to its owner), valid until that thread's next
/// error, as the ABI allows.
fn thread_error(out: *mut ErrorOut, message: Cow<'static, str>) -> u32 {
    thread_local! {
        static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    }
    if out.is_null() {
        return status::ERROR;
    }
    let record = |text: &str| ErrorOut {
        kind: error_kind::MESSAGE,
        argument: -1,
        message: StrRef::new(text),
        help: StrRef::EMPTY,
    };
    match message {
        Cow::Borrowed(text) => write_out(out, record(text)),
        Cow::Owned(text) => TEXT.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            *buffer = text;
            write_out(out, record(&buffer));
        }),
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

fn guarded<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The table of backend `B`, without its context (set by [`Context::leak`]).
fn table<B: Backend>() -> HostApi {
    HostApi {
        size: std::mem::size_of::<HostApi>() as u32,
        abi_minor: ABI_MINOR,
        context: std::ptr::null_mut(),
        make_string: make_string::<B>,
        make_array: make_array::<B>,
        make_object: make_object::<B>,
        retain: retain::<B>,
        release: release::<B>,
        string_view: string_view::<B>,
        length: length::<B>,
        array_get: array_get::<B>,
        object_get: object_get::<B>,
        object_entry: object_entry::<B>,
        call_function: call_function::<B>,
        make_plugin_object: make_plugin_object::<B>,
        log: log::<B>,
        read_file: read_file::<B>,
        write_file: write_file::<B>,
        read_env: read_env::<B>,
        check_connect: check_connect::<B>,
        is_cancelled: is_cancelled::<B>,
        append_file: append_file::<B>,
        resolve_path: resolve_path::<B>,
        retain_function: retain_function::<B>,
        release_function: release_function::<B>,
        post: post::<B>,
        start_service: start_service::<B>,
        end_service: end_service::<B>,
        map_parallel: map_parallel::<B>,
        deposit_socket: deposit_socket::<B>,
        take_socket: take_socket::<B>,
        make_bytes: make_bytes::<B>,
        make_bytes_buffer: make_bytes_buffer::<B>,
        bytes_view: bytes_view::<B>,
        make_bytes_around: make_bytes_around::<B>,
        make_bytes_filled: make_bytes_filled::<B>,
    }
}

unsafe extern "C" fn make_bytes<B: Backend>(ctx: *mut c_void, data: *const u8, len: usize) -> TValue {
    guarded(TValue::NULL, || {
        let Some(cx) = context::<B>(ctx) else { return TValue::NULL };
        if len > isize::MAX as usize {
            return TValue::NULL;
        }
        // SAFETY: the plugin's bytes live for the call (the ABI's contract for `make_bytes`).
        cx.give(&B::bytes(unsafe { bytes_at(data, len) }), None)
    })
}

unsafe extern "C" fn make_bytes_buffer<B: Backend>(
    ctx: *mut c_void,
    len: usize,
    data: *mut *mut u8,
    out: *mut TValue,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        if len > isize::MAX as usize || data.is_null() || out.is_null() {
            return status::INVALID;
        }
        let (value, bytes) = B::bytes_buffer(len);
        hand_over(cx, value, bytes, data, out)
    })
}

/// Gives the plugin a new byte string for it to write (`make_bytes_buffer`,
/// `make_bytes_around`): its handle in `out`, its bytes in `data_out`. The handle holds the only
/// reference to the bytes until the plugin gives it back.
fn hand_over<B: Backend>(
    cx: &Context<B>,
    value: B::Value,
    bytes: *mut u8,
    data_out: *mut *mut u8,
    out: *mut TValue,
) -> u32 {
    write_out(out, cx.give(&value, None));
    drop(value);
    write_out(data_out, bytes);
    status::OK
}

unsafe extern "C" fn make_bytes_around<B: Backend>(
    ctx: *mut c_void,
    before: usize,
    data: *const u8,
    len: usize,
    after: usize,
    data_out: *mut *mut u8,
    out: *mut TValue,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        if len > isize::MAX as usize || (data.is_null() && len > 0) || data_out.is_null() || out.is_null() {
            return status::INVALID;
        }
        // SAFETY: the plugin's bytes live for the call (the ABI's contract), `len` checked above.
        let Some((value, bytes)) = B::bytes_around(before, unsafe { bytes_at(data, len) }, after) else {
            return status::INVALID;
        };
        hand_over(cx, value, bytes, data_out, out)
    })
}

unsafe extern "C" fn make_bytes_filled<B: Backend>(
    ctx: *mut c_void,
    capacity: usize,
    fill: BytesFill,
    state: *mut c_void,
    out: *mut TValue,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        if out.is_null() {
            return status::INVALID;
        }
        // No borrow of the context is held while `fill` runs: it may call this table.
        // SAFETY: the ABI's contract for `fill`: it writes within the bytes it is given while it
        // runs, and answers how many it wrote at their front.
        let bytes = unsafe { filled_bytes(capacity, |data| fill(state, data, capacity)) };
        match bytes {
            Ok(bytes) => {
                write_out(out, cx.give(&B::shared_bytes(bytes), None));
                status::OK
            }
            Err(code) => code,
        }
    })
}

unsafe extern "C" fn bytes_view<B: Backend>(ctx: *mut c_void, value: *const TValue, out: *mut StrRef) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        let Some(raw) = value_at(value) else { return status::INVALID };
        // Only a `BYTES` handle: the same bytes given to an older plugin as `OPAQUE` stay opaque.
        if raw.tag != tag::BYTES {
            return status::INVALID;
        }
        let handles = cx.handles.borrow();
        let Some(slot) = handles.slot(raw.a) else { return status::NOT_FOUND };
        let Shape::Bytes(bytes) = B::shape(cx, &slot.value) else { return status::INVALID };
        // The bytes live in the value's shared allocation, which the plugin's handle keeps alive.
        write_out(out, StrRef { ptr: bytes.as_ptr(), len: bytes.len() });
        status::OK
    })
}

unsafe extern "C" fn make_string<B: Backend>(ctx: *mut c_void, text: StrRef) -> TValue {
    guarded(TValue::NULL, || {
        let Some(cx) = context::<B>(ctx) else { return TValue::NULL };
        // SAFETY: the plugin's text lives for the call.
        cx.give(&B::string(&unsafe { text_view(text) }), None)
    })
}

unsafe extern "C" fn make_array<B: Backend>(ctx: *mut c_void, items: *const TValue, len: usize) -> TValue {
    guarded(TValue::NULL, || {
        let Some(cx) = context::<B>(ctx) else { return TValue::NULL };
        // SAFETY: the plugin's values (and the texts they point at) live for the call.
        let values = items_at(items, len).iter().map(|item| unsafe { cx.take(item) }).collect();
        cx.give(&B::array(values), None)
    })
}

unsafe extern "C" fn make_object<B: Backend>(
    ctx: *mut c_void,
    keys: *const StrRef,
    values: *const TValue,
    len: usize,
) -> TValue {
    guarded(TValue::NULL, || {
        let Some(cx) = context::<B>(ctx) else { return TValue::NULL };
        let entries = items_at(keys, len)
            .iter()
            .zip(items_at(values, len))
            // SAFETY: the plugin's keys and values live for the call.
            .map(|(key, value)| unsafe { (text_of(*key), cx.take(value)) })
            .collect();
        cx.give(&B::object(entries), None)
    })
}

unsafe extern "C" fn retain<B: Backend>(ctx: *mut c_void, value: *const TValue) {
    guarded((), || {
        let Some(cx) = context::<B>(ctx) else { return };
        let Some(raw) = value_at(value) else { return };
        if is_handle(raw) {
            cx.handles.borrow_mut().retain(raw.a);
        }
    })
}

unsafe extern "C" fn release<B: Backend>(ctx: *mut c_void, value: *const TValue) {
    guarded((), || {
        let Some(cx) = context::<B>(ctx) else { return };
        let Some(raw) = value_at(value) else { return };
        if is_handle(raw) {
            // Dropped outside the table's borrow (see `Context::take`).
            let released = cx.handles.borrow_mut().release(raw.a);
            drop(released);
        }
    })
}

unsafe extern "C" fn string_view<B: Backend>(ctx: *mut c_void, value: *const TValue, out: *mut StrRef) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        let Some(raw) = value_at(value) else { return status::INVALID };
        let handles = cx.handles.borrow();
        let Some(slot) = handles.slot(raw.a) else { return status::NOT_FOUND };
        let Shape::Str(text) = B::shape(cx, &slot.value) else { return status::INVALID };
        // The text lives in the value's shared allocation, which the plugin's handle keeps alive.
        write_out(out, StrRef::new(text));
        status::OK
    })
}

unsafe extern "C" fn length<B: Backend>(ctx: *mut c_void, value: *const TValue) -> usize {
    guarded(0, || {
        let Some(cx) = context::<B>(ctx) else { return 0 };
        let Some(raw) = value_at(value) else { return 0 };
        cx.handles.borrow().get(raw.a).map_or(0, B::length)
    })
}

/// Writes what a lookup into the container `raw` found, given as old as its container.
fn found<B: Backend>(cx: &Context<B>, raw: &TValue, lookup: Lookup<B::Value>, out: *mut TValue) -> u32 {
    match lookup {
        Lookup::Found(value) => {
            write_out(out, cx.give_from(&value, raw));
            status::OK
        }
        Lookup::Missing => status::NOT_FOUND,
        Lookup::NotAContainer => status::INVALID,
    }
}

unsafe extern "C" fn array_get<B: Backend>(
    ctx: *mut c_void,
    array: *const TValue,
    index: usize,
    out: *mut TValue,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        let Some(raw) = value_at(array) else { return status::INVALID };
        let lookup = cx.handles.borrow().get(raw.a).map_or(Lookup::NotAContainer, |value| B::item(value, index));
        found(cx, raw, lookup, out)
    })
}

unsafe extern "C" fn object_get<B: Backend>(
    ctx: *mut c_void,
    object: *const TValue,
    key: StrRef,
    out: *mut TValue,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        let Some(raw) = value_at(object) else { return status::INVALID };
        // SAFETY: the plugin's key lives for the call.
        let key = unsafe { text_of(key) };
        let lookup = cx.handles.borrow().get(raw.a).map_or(Lookup::NotAContainer, |value| B::field(value, &key));
        found(cx, raw, lookup, out)
    })
}

unsafe extern "C" fn object_entry<B: Backend>(
    ctx: *mut c_void,
    object: *const TValue,
    index: usize,
    key: *mut StrRef,
    out: *mut TValue,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        let Some(raw) = value_at(object) else { return status::INVALID };
        let (key_ref, value) = {
            let handles = cx.handles.borrow();
            match handles.get(raw.a).map_or(Lookup::NotAContainer, |value| B::entry(value, index)) {
                // The key lives inside the object, which the plugin's handle keeps alive.
                Lookup::Found((entry_key, value)) => (StrRef::new(entry_key), value),
                Lookup::Missing => return status::NOT_FOUND,
                Lookup::NotAContainer => return status::INVALID,
            }
        };
        let given = cx.give_from(&value, raw);
        write_out(key, key_ref);
        write_out(out, given);
        status::OK
    })
}

unsafe extern "C" fn call_function<B: Backend>(
    ctx: *mut c_void,
    call: *mut c_void,
    function: *const TValue,
    args: *const TValue,
    argc: usize,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return refuse(error) };
        let Some(call) = NonNull::new(call) else {
            cx.report(error, error_kind::SCRIPT, "lambdas can only be called during a call into the plugin".into());
            return status::ERROR;
        };
        let Some(function_raw) = value_at(function) else { return status::INVALID };
        if cx.is_stale(function_raw) {
            cx.report(error, error_kind::SCRIPT, kept_past_its_call(cx.backend.plugin()));
            return status::ERROR;
        }
        // SAFETY: the plugin's values live for the call.
        let function = unsafe { cx.peek(function_raw) };
        // SAFETY: as above.
        let args: SmallVec<[B::Value; 4]> = items_at(args, argc).iter().map(|arg| unsafe { cx.peek(arg) }).collect();
        match B::call_function(cx, CallPointer(call), function, &args) {
            Ok(value) => {
                write_out(out, cx.give(&value, None));
                status::OK
            }
            Err(message) => {
                cx.report(error, error_kind::SCRIPT, message);
                status::ERROR
            }
        }
    })
}

unsafe extern "C" fn map_parallel<B: Backend>(
    ctx: *mut c_void,
    call: *mut c_void,
    function: *const TValue,
    items: *const TValue,
    workers: u32,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return refuse(error) };
        let Some(call) = NonNull::new(call) else {
            cx.report(error, error_kind::SCRIPT, "lambdas can only be called during a call into the plugin".into());
            return status::ERROR;
        };
        let (Some(function_raw), Some(items_raw)) = (value_at(function), value_at(items)) else {
            return status::INVALID;
        };
        if cx.is_stale(function_raw) {
            cx.report(error, error_kind::SCRIPT, kept_past_its_call(cx.backend.plugin()));
            return status::ERROR;
        }
        // SAFETY: the plugin's values live for the call.
        let (function, items) = unsafe { (cx.peek(function_raw), cx.peek(items_raw)) };
        match B::map_parallel(cx, CallPointer(call), function, items, workers as usize) {
            Ok(results) => {
                write_out(out, cx.give(&results, None));
                status::OK
            }
            Err(ParallelFailure::Unsupported(reason)) => {
                cx.report(error, error_kind::MESSAGE, reason);
                status::UNSUPPORTED
            }
            Err(ParallelFailure::Failed(message)) => {
                cx.report(error, error_kind::SCRIPT, message);
                status::ERROR
            }
        }
    })
}

unsafe extern "C" fn make_plugin_object<B: Backend>(ctx: *mut c_void, type_name: StrRef, object: u64) -> TValue {
    guarded(TValue::NULL, || {
        let Some(cx) = context::<B>(ctx) else { return TValue::NULL };
        // SAFETY: the plugin's text lives for the call.
        let type_name = unsafe { text_of(type_name) };
        cx.give(&B::plugin_object(cx, type_name, object), None)
    })
}

unsafe extern "C" fn log<B: Backend>(ctx: *mut c_void, level: u32, message: StrRef, fields: *const TValue) {
    guarded((), || {
        let Some(cx) = context::<B>(ctx) else { return };
        // SAFETY: the plugin's values and text live for the call.
        let (fields, message) =
            unsafe { (value_at(fields).map(|raw| cx.peek(raw)).unwrap_or_default(), text_of(message)) };
        B::log(cx, level, &message, fields);
    })
}

unsafe extern "C" fn read_file<B: Backend>(
    ctx: *mut c_void,
    path: StrRef,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return refuse(error) };
        // SAFETY: the plugin's text lives for the call.
        let path = unsafe { text_of(path) };
        match read_granted(&B::grant(cx), &path) {
            Ok(text) => {
                write_out(out, cx.give(&B::string(&text), None));
                status::OK
            }
            Err(failure) => cx.io_failure(error, failure),
        }
    })
}

unsafe extern "C" fn write_file<B: Backend>(ctx: *mut c_void, path: StrRef, data: StrRef, error: *mut ErrorOut) -> u32 {
    write_granted_file::<B>(ctx, path, data, error, WriteMode::Replace)
}

unsafe extern "C" fn append_file<B: Backend>(
    ctx: *mut c_void,
    path: StrRef,
    data: StrRef,
    error: *mut ErrorOut,
) -> u32 {
    write_granted_file::<B>(ctx, path, data, error, WriteMode::Append)
}

fn write_granted_file<B: Backend>(
    ctx: *mut c_void,
    path: StrRef,
    data: StrRef,
    error: *mut ErrorOut,
    mode: WriteMode,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return refuse(error) };
        // SAFETY: the plugin's texts live for the call (the entries' arguments).
        let (path, data) = unsafe { (text_of(path), text_of(data)) };
        match write_granted(&B::grant(cx), &path, data.as_bytes(), mode) {
            Ok(()) => status::OK,
            Err(failure) => cx.io_failure(error, failure),
        }
    })
}

unsafe extern "C" fn resolve_path<B: Backend>(ctx: *mut c_void, path: StrRef, out: *mut TValue) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return status::INVALID };
        // SAFETY: the plugin's text lives for the call.
        let resolved = B::resolve_path(cx, unsafe { text_of(path) });
        write_out(out, cx.give(&B::string(&resolved), None));
        status::OK
    })
}

unsafe extern "C" fn read_env<B: Backend>(
    ctx: *mut c_void,
    name: StrRef,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return refuse(error) };
        // SAFETY: the plugin's text lives for the call.
        let name = unsafe { text_of(name) };
        match B::read_env(cx, &name) {
            Ok(Some(value)) => {
                write_out(out, cx.give(&B::string(&value), None));
                status::OK
            }
            Ok(None) => status::NOT_FOUND,
            Err(message) => cx.denied(error, message),
        }
    })
}

unsafe extern "C" fn check_connect<B: Backend>(ctx: *mut c_void, host: StrRef, port: u16, error: *mut ErrorOut) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return refuse(error) };
        // SAFETY: the plugin's text lives for the call.
        let host = unsafe { text_of(host) };
        match B::check_connect(cx, &host, port) {
            Ok(()) => status::OK,
            Err(message) => cx.denied(error, message),
        }
    })
}

unsafe extern "C" fn is_cancelled<B: Backend>(ctx: *mut c_void, _call: *mut c_void) -> u32 {
    guarded(0, || context::<B>(ctx).map_or(0, |cx| u32::from(B::is_cancelled(cx))))
}

unsafe extern "C" fn retain_function<B: Backend>(
    ctx: *mut c_void,
    call: *mut c_void,
    function: *const TValue,
    out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(cx) = context::<B>(ctx) else { return refuse(error) };
        let Some(call) = NonNull::new(call) else {
            cx.report(
                error,
                error_kind::MESSAGE,
                "functions can only be retained during a call into the plugin".into(),
            );
            return status::ERROR;
        };
        let Some(raw) = value_at(function) else { return status::INVALID };
        if raw.tag != tag::FUNCTION {
            cx.report(error, error_kind::MESSAGE, "only a script function can be retained".into());
            return status::INVALID;
        }
        if cx.is_stale(raw) {
            cx.report(error, error_kind::SCRIPT, kept_past_its_call(cx.backend.plugin()));
            return status::ERROR;
        }
        // SAFETY: the plugin's value lives for the call.
        let function = unsafe { cx.peek(raw) };
        match B::retain_function(cx, CallPointer(call), function) {
            Ok(id) => {
                write_out(out, id);
                status::OK
            }
            Err(failure) => {
                cx.report(error, failure.kind, failure.message);
                status::ERROR
            }
        }
    })
}

unsafe extern "C" fn release_function<B: Backend>(ctx: *mut c_void, function: u64) {
    guarded((), || {
        if let Some(shared) = shared::<B>(ctx) {
            B::release_function(shared, function);
        }
    })
}

/// The plugin's opaque `done` argument, handed back to it on whichever thread replies.
struct Token(*mut c_void);

// SAFETY: the token is the plugin's own, opaque here; the ABI lets `done` run on any thread, so
// the plugin made it sendable (the SDK's is a boxed `Send` closure).
unsafe impl Send for Token {}

unsafe extern "C" fn post<B: Backend>(
    ctx: *mut c_void,
    function: u64,
    args_json: StrRef,
    done: PostDone,
    token: *mut c_void,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(shared) = shared::<B>(ctx) else { return thread_error(error, NO_CONTEXT.into()) };
        let token = Token(token);
        let reply: Reply = Box::new(move |result| {
            let token = token;
            deliver(done, token.0, result);
        });
        // SAFETY: the plugin's text lives for the call.
        let args_json = unsafe { text_of(args_json) };
        match B::post(shared, function, args_json, reply) {
            Ok(()) => status::OK,
            Err(message) => thread_error(error, message),
        }
    })
}

/// Calls the plugin's `done` with a posted call's outcome.
fn deliver(done: PostDone, token: *mut c_void, result: Result<String, PostFailure>) {
    let outcome = catch_unwind(AssertUnwindSafe(|| match &result {
        // SAFETY: `done` and `token` came together from the plugin's `post`; the texts live
        // for the call.
        Ok(json) => unsafe { done(token, status::OK, StrRef::new(json), std::ptr::null()) },
        Err(failure) => {
            let kind = if failure.script { error_kind::SCRIPT } else { error_kind::MESSAGE };
            let record = ErrorOut { kind, argument: -1, message: StrRef::new(&failure.message), help: StrRef::EMPTY };
            // SAFETY: as above.
            unsafe { done(token, status::ERROR, StrRef::EMPTY, &record) }
        }
    }));
    // The SDK's `done` catches its own panics; a plugin without the SDK that unwinds into us
    // loses its reply, not the host.
    drop(outcome);
}

unsafe extern "C" fn start_service<B: Backend>(
    ctx: *mut c_void,
    name: StrRef,
    out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(shared) = shared::<B>(ctx) else { return thread_error(error, NO_CONTEXT.into()) };
        // SAFETY: the plugin's text lives for the call.
        let name = unsafe { text_of(name) };
        match B::start_service(shared, &name) {
            Ok(id) => {
                write_out(out, id);
                status::OK
            }
            Err(message) => thread_error(error, message),
        }
    })
}

unsafe extern "C" fn end_service<B: Backend>(ctx: *mut c_void, service: u64) {
    guarded((), || {
        if let Some(shared) = shared::<B>(ctx) {
            B::end_service(shared, service);
        }
    })
}

// ---- ABI 1.4: handing an open connection to another plugin.

/// Reports a hand-off's failure with its status.
fn hand_off_error(error: *mut ErrorOut, failure: HandOffFailure) -> u32 {
    let (code, message) = match failure {
        HandOffFailure::Unsupported(message) => (status::UNSUPPORTED, message),
        HandOffFailure::Invalid(message) => (status::INVALID, message.into()),
        HandOffFailure::NotFound(message) => (status::NOT_FOUND, message.into()),
        HandOffFailure::Failed(message) => (status::ERROR, message.into()),
    };
    thread_error(error, message);
    code
}

#[cfg(not(unix))]
const NO_HAND_OFF_HERE: &str = "handing sockets between plugins needs a Unix system";

unsafe extern "C" fn deposit_socket<B: Backend>(
    ctx: *mut c_void,
    socket: i64,
    prefix: *const u8,
    prefix_len: usize,
    out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(shared) = shared::<B>(ctx) else { return thread_error(error, NO_CONTEXT.into()) };
        #[cfg(unix)]
        {
            let raw = match sockets::check_socket(socket) {
                Ok(raw) => raw,
                Err(message) => return hand_off_error(error, HandOffFailure::Invalid(message)),
            };
            let prefix = items_at(prefix, prefix_len).to_vec();
            // SAFETY: the ABI's contract: on this call the caller gives up its open socket
            // (checked open and a socket above), which nothing else owns from now on. On a
            // failure it is given back below, unclosed, as the ABI says.
            let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
            match B::deposit_socket(shared, socket, prefix) {
                Ok(ticket) => {
                    write_out(out, ticket);
                    status::OK
                }
                Err((socket, failure)) => {
                    // Still the caller's: not closed here.
                    let _ = std::os::fd::IntoRawFd::into_raw_fd(socket);
                    hand_off_error(error, failure)
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (shared, socket, prefix, prefix_len, out);
            hand_off_error(error, HandOffFailure::Unsupported(NO_HAND_OFF_HERE.into()))
        }
    })
}

unsafe extern "C" fn take_socket<B: Backend>(
    ctx: *mut c_void,
    ticket: u64,
    socket: *mut i64,
    prefix: *mut *const u8,
    prefix_len: *mut usize,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(shared) = shared::<B>(ctx) else { return thread_error(error, NO_CONTEXT.into()) };
        #[cfg(unix)]
        {
            thread_local! {
                /// The bytes read ahead of the last socket this thread took (the ABI lends
                /// them until the thread's next take).
                static AHEAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
            }
            if socket.is_null() {
                // Checked before the take: a socket taken with nowhere to put it would be
                // closed, and the ticket spent.
                return status::INVALID;
            }
            match B::take_socket(shared, ticket) {
                Ok((taken, ahead)) => {
                    let (pointer, length) = AHEAD.with(|buffer| {
                        let mut buffer = buffer.borrow_mut();
                        *buffer = ahead;
                        (buffer.as_ptr(), buffer.len())
                    });
                    write_out(prefix, pointer);
                    write_out(prefix_len, length);
                    // From here the descriptor is the caller's, as the ABI says.
                    write_out(socket, i64::from(std::os::fd::IntoRawFd::into_raw_fd(taken)));
                    status::OK
                }
                Err(failure) => hand_off_error(error, failure),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (shared, ticket, socket, prefix, prefix_len);
            hand_off_error(error, HandOffFailure::Unsupported(NO_HAND_OFF_HERE.into()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(bytes: &[u8]) -> Cow<'_, str> {
        // SAFETY: `bytes` is a live slice for the whole call.
        unsafe { text_view(StrRef { ptr: bytes.as_ptr(), len: bytes.len() }) }
    }

    #[test]
    fn a_valid_text_is_borrowed_and_an_invalid_one_is_replaced_in_a_copy() {
        let valid = "grüße, 世界".as_bytes();
        assert!(matches!(view(valid), Cow::Borrowed("grüße, 世界")));
        let invalid = b"ab\xffc\xe2\x82";
        let replaced = view(invalid);
        assert!(matches!(replaced, Cow::Owned(_)));
        assert_eq!(replaced, "ab\u{FFFD}c\u{FFFD}");
        // SAFETY: a null pointer is the ABI's empty text.
        assert_eq!(unsafe { text_of(StrRef { ptr: std::ptr::null(), len: 5 }) }, "");
    }
}
