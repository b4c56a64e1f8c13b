//! The plugin side of the C ABI: the one module of the SDK with `unsafe`, and the support of
//! `export_plugin!` (hidden from the docs: not for plugin code).
//!
//! It turns the host's function table into safe calls, and the plugin's traits into the
//! `extern "C"` descriptor the host calls. Every value this module wraps into a `Value` came
//! from the host table (a handle whose reference this side now owns, or a scalar), which is
//! what `Value::from_raw` asks for. Every entry from the host is wrapped in
//! `catch_unwind`: a panic in plugin code becomes an error carrying the panic message and
//! never unwinds across the boundary (which would abort the host).
//!
//! # Safety
//!
//! The descriptor's functions (`init`, `call`, `symbol_info`, …) are `unsafe extern "C" fn`s
//! the host calls under the ABI's contract: every non-null pointer is valid for the call,
//! `symbol` is a handle from `symbol_info`, and calls happen between `init` and `shutdown`.
#![allow(unsafe_code)]

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::abi::{
    ABI_MAJOR, BYTES_AROUND_END, BYTES_END, BYTES_FILLED_END, CallReturn, ErrorOut, FILL_FAILED, HostApi, InfoRecord,
    PluginDescriptor, StrRef, SymbolInfo, TValue, error_kind, status, symbol_kind, tag,
};
use crate::error::{ErrorKind, PluginError};
use crate::plugin::{PluginContext, Registration, SymbolKind, TuskPlugin};
use crate::value::Value;

/// The smallest host table this SDK can use: ABI 1.0's, every field up to `is_cancelled`.
/// Later fields are used only when the host's table covers them.
const MIN_HOST_SIZE: u32 = std::mem::offset_of!(HostApi, append_file) as u32;

/// True when the host's table has the field that ends at `end` (a newer ABI minor's).
fn host_has(host: &HostApi, end: usize) -> bool {
    host.size as usize >= end
}

impl Value {
    /// Takes ownership of a raw ABI value.
    ///
    /// # Safety
    ///
    /// `raw` must be a value the host made for this plugin: a `STRING`, `BYTES`, `ARRAY`,
    /// `OBJECT`, `FUNCTION`, `OPAQUE` or `PLUGIN_OBJECT` handle whose reference the caller owns
    /// and gives up (the `Value` releases it when dropped), a scalar, a `STR` whose pointer and
    /// length describe UTF-8 text that outlives the `Value`, or a `BYTES_REF` whose pointer and
    /// length describe bytes that outlive it.
    #[doc(hidden)]
    pub unsafe fn from_raw(raw: TValue) -> Value {
        Value::inline(raw)
    }
}

static HOST: AtomicPtr<HostApi> = AtomicPtr::new(std::ptr::null_mut());
static FACTORY: OnceLock<fn() -> Box<dyn TuskPlugin>> = OnceLock::new();
static DESCRIPTOR: OnceLock<PluginDescriptor> = OnceLock::new();
static LOADED: Mutex<Option<Box<Loaded>>> = Mutex::new(None);
static OBJECTS: Mutex<Option<Objects>> = Mutex::new(None);

/// The running plugin: its instance, registrations and their ABI descriptions.
struct Loaded {
    plugin: Box<dyn TuskPlugin>,
    name: String,
    version: String,
    // Boxed so that `SymbolInfo::handle` (a pointer to the registration) stays put.
    #[allow(clippy::vec_box)]
    registrations: Vec<Box<Registration>>,
    examples: Vec<Vec<StrRef>>,
}

// SAFETY: `examples` holds pointers into `registrations`, which `Loaded` owns.
unsafe impl Send for Loaded {}

#[derive(Default)]
struct Objects {
    next: u64,
    live: HashMap<u64, Arc<dyn Any + Send + Sync>>,
}

/// The host's context for the call in progress (for callbacks into script lambdas).
///
/// A static rather than a thread-local: a thread-local of a shared library is reached through
/// `__tls_get_addr`, twice per call, which was a large part of the plugin's side of a call. One
/// image of the library serves one host context, and only that context's owner thread calls
/// `call` (the host's context is single-threaded), so only that thread writes here. Another
/// thread of the plugin may read the pointer, but the host refuses every table function called
/// on a thread other than the owner's before it looks at the pointer.
static CALL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// The call context for a callback into the host.
fn current_call() -> *mut c_void {
    CALL.load(Ordering::Relaxed)
}

thread_local! {
/// Texts of the last error this thread reported (valid until the next call).
static ERROR_TEXT: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
}

/// Silences the plugin's panic hook (this library's own copy of std has its own hook): the
/// default one prints to the host's terminal, while every panic is caught at the boundary and
/// reaches the user as the error of the call.
fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// The message of a caught panic.
fn panic_text(payload: &(dyn Any + Send)) -> (String, Option<String>) {
    (format!("plugin panicked: {}", panic_message(payload)), None)
}

fn host() -> &'static HostApi {
    let pointer = HOST.load(Ordering::Acquire);
    assert!(!pointer.is_null(), "no TuskLang host: plugin values can only be used while the plugin is loaded");
    // SAFETY: the host passed this table to `init` and keeps it alive until after `shutdown`.
    unsafe { &*pointer }
}

/// The text a `StrRef` from the host describes.
///
/// # Safety
///
/// Unless `text` is empty or null, it must point at `len` bytes of UTF-8 that stay valid and
/// unchanged for `'a` (the host hands out text of Rust strings, valid for the call or as long
/// as the handle it belongs to).
unsafe fn view<'a>(text: StrRef) -> &'a str {
    if text.len == 0 || text.ptr.is_null() {
        return "";
    }
    // SAFETY: the caller vouches for the pointer, the length, the encoding and the lifetime.
    unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(text.ptr, text.len)) }
}

// Inlined: reading a string argument (a borrowed `STR`) is a tag test and two loads.
#[inline]
pub(crate) fn string_view(value: &Value) -> &str {
    let raw = value.raw();
    match raw.tag {
        // SAFETY: a `STR` value is an argument borrowed from the host for the call, which
        // outlives `value` (the condition of `Value::from_raw`).
        tag::STR => unsafe { view(StrRef { ptr: raw.a as *const u8, len: raw.b as usize }) },
        tag::STRING => {
            let host = host();
            let mut out = StrRef::EMPTY;
            // SAFETY: `raw` is a live string handle; `out` is a valid out-pointer.
            let code = unsafe { (host.string_view)(host.context, raw, &mut out) };
            // SAFETY: the host's view lives as long as the handle, which `value` holds.
            if code == status::OK { unsafe { view(out) } } else { "" }
        }
        _ => "",
    }
}

/// The bytes a `BYTES_REF` or `BYTES` value holds.
#[inline]
pub(crate) fn bytes_view(value: &Value) -> &[u8] {
    let raw = value.raw();
    let text = match raw.tag {
        tag::BYTES_REF => StrRef { ptr: raw.a as *const u8, len: raw.b as usize },
        tag::BYTES => {
            let host = host();
            let mut out = StrRef::EMPTY;
            // A `BYTES` handle comes only from a host that has `bytes_view` (ABI 1.7).
            if !host_has(host, BYTES_END) {
                return &[];
            }
            // SAFETY: `raw` is a live byte-string handle; `out` is a valid out-pointer.
            if unsafe { (host.bytes_view)(host.context, raw, &mut out) } != status::OK {
                return &[];
            }
            out
        }
        _ => return &[],
    };
    if text.len == 0 || text.ptr.is_null() {
        return &[];
    }
    // SAFETY: a `BYTES_REF` is an argument borrowed from the host for the call, which outlives
    // `value` (the condition of `Value::from_raw`); the view of a `BYTES` handle lives as long
    // as the handle, which `value` holds.
    unsafe { std::slice::from_raw_parts(text.ptr, text.len) }
}

/// A new byte string holding a copy of `data`: a host of ABI 1.7 or later makes a byte
/// string; an older one, which has none, an array of the bytes as ints.
pub(crate) fn make_bytes(data: &[u8]) -> Value {
    let host = host();
    if !host_has(host, BYTES_END) {
        return make_array(data.iter().map(|&byte| Value::from(i64::from(byte))).collect());
    }
    // SAFETY: the host copies the bytes before returning; the result is a new byte-string
    // handle whose reference passes to the `Value`.
    unsafe { Value::from_raw((host.make_bytes)(host.context, data.as_ptr(), data.len())) }
}

/// A new byte string of `len` bytes that `fill` writes in place, in the host's memory (no copy
/// on a host of ABI 1.7 or later; on an older one the bytes become an array of ints).
pub(crate) fn make_bytes_with(len: usize, fill: impl FnOnce(&mut [u8])) -> Value {
    let host = host();
    if !host_has(host, BYTES_END) {
        return filled_copy(len, |_| {}, fill);
    }
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut out = TValue::NULL;
    // SAFETY: `data` and `out` are valid out-pointers.
    let code = unsafe { (host.make_bytes_buffer)(host.context, len, &mut data, &mut out) };
    // SAFETY: `code`, `out` and `data` are what `make_bytes_buffer` answered for `len` bytes.
    unsafe { fill_host_bytes(code, out, data, len, |_| {}, fill) }
}

/// The host ABI minor from which the table has `make_bytes_around`.
const BYTES_AROUND_MINOR: u32 = 9;

/// A new byte string of `before` zero bytes, a copy of `data` and `after` zero bytes, that
/// `fill` then writes in place: on a host of ABI 1.9 or later the host writes each byte once
/// (the copy of `data` where an older host's buffer is zeroed first and `data` copied over it).
pub(crate) fn make_bytes_around(before: usize, data: &[u8], after: usize, fill: impl FnOnce(&mut [u8])) -> Value {
    // Beyond `isize::MAX` no allocation can succeed: the host refuses the length, and the
    // fallback's buffer would fail the same way.
    let len = before.saturating_add(data.len()).saturating_add(after);
    let copy_in = |buffer: &mut [u8]| buffer[before..before + data.len()].copy_from_slice(data);
    let host = host();
    // The table's size says the field is there; the minor, that the host is one that fills it.
    if !host_has(host, BYTES_AROUND_END) || host.abi_minor < BYTES_AROUND_MINOR {
        return make_bytes_with(len, |out| {
            copy_in(out);
            fill(out);
        });
    }
    let mut pointer: *mut u8 = std::ptr::null_mut();
    let mut out = TValue::NULL;
    // SAFETY: `data` is `data.len()` readable bytes for the call; `pointer` and `out` are
    // valid out-pointers.
    let code = unsafe {
        (host.make_bytes_around)(host.context, before, data.as_ptr(), data.len(), after, &mut pointer, &mut out)
    };
    // SAFETY: `code`, `out` and `pointer` are what `make_bytes_around` answered for `len` bytes.
    unsafe { fill_host_bytes(code, out, pointer, len, copy_in, fill) }
}

/// The byte string the host made for `make_bytes_buffer` or `make_bytes_around` (status `code`,
/// handle `out`, its `len` bytes at `data`), after `fill` wrote it in place; when the host
/// refused, a buffer of the plugin's own that `prepare` sets up as the host would have, filled
/// and copied.
///
/// # Safety
///
/// `code`, `out` and `data` are what one of those entries answered for a byte string of `len`
/// bytes: on `OK`, `out` is a new handle whose reference passes to the result and `data` its
/// bytes, which only this plugin reaches until the handle goes back to the host.
unsafe fn fill_host_bytes(
    code: u32,
    out: TValue,
    data: *mut u8,
    len: usize,
    prepare: impl FnOnce(&mut [u8]),
    fill: impl FnOnce(&mut [u8]),
) -> Value {
    // SAFETY: on `OK` `out` is a new byte-string handle (the caller's contract); otherwise the
    // host left it `NULL`.
    let value = unsafe { Value::from_raw(out) };
    if code != status::OK || (data.is_null() && len > 0) {
        drop(value);
        return filled_copy(len, prepare, fill);
    }
    let buffer: &mut [u8] = if len == 0 {
        &mut []
    } else {
        // SAFETY: the host gave `len` writable bytes that only this plugin reaches until the
        // handle goes back to the host, which `value` holds and `fill` cannot reach.
        unsafe { std::slice::from_raw_parts_mut(data, len) }
    };
    fill(buffer);
    value
}

/// A byte string of `len` bytes made from the plugin's own buffer, zeroed, set up by `prepare`
/// and written by `fill`, then copied to the host.
fn filled_copy(len: usize, prepare: impl FnOnce(&mut [u8]), fill: impl FnOnce(&mut [u8])) -> Value {
    let mut buffer = vec![0u8; len];
    prepare(&mut buffer);
    fill(&mut buffer);
    make_bytes(&buffer)
}

/// A byte string being written by the plugin ([`Value::bytes_uninit`]): room for
/// [`capacity`](UninitBytes::capacity) bytes, of which the first [`len`](UninitBytes::len) are
/// written. Only those become the byte string; the rest was never zeroed or copied, and the
/// script never sees it. Safe methods append bytes; a writer that cannot take a slice (a C
/// library writing through a pointer) writes the [spare room](UninitBytes::spare_capacity_mut)
/// and then declares what it wrote with the `unsafe` [`set_len`](UninitBytes::set_len), as with
/// a `Vec`.
pub struct UninitBytes<'a> {
    buffer: &'a mut [MaybeUninit<u8>],
    len: usize,
}

impl std::fmt::Debug for UninitBytes<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("UninitBytes").field("len", &self.len).field("capacity", &self.buffer.len()).finish()
    }
}

impl UninitBytes<'_> {
    /// The most bytes the byte string can hold (what `bytes_uninit` was asked for).
    pub fn capacity(&self) -> usize {
        self.buffer.len()
    }

    /// How many bytes at the front are written: the byte string's length if the fill ends now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The written front.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let written = &mut self.buffer[..self.len];
        // SAFETY: the first `len` bytes are written (the invariant every method keeps);
        // `MaybeUninit<u8>` has the layout of `u8`.
        unsafe { std::slice::from_raw_parts_mut(written.as_mut_ptr().cast::<u8>(), written.len()) }
    }

    /// The room after the written front, not initialised.
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        &mut self.buffer[self.len..]
    }

    /// Appends `data` after the written front.
    ///
    /// # Panics
    ///
    /// When `data` does not fit in the room left (a fill that asked for too little capacity).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let room = self.buffer.len() - self.len;
        assert!(data.len() <= room, "{} bytes written into a byte string with room for {room} more", data.len());
        let end = self.len + data.len();
        let slots = &mut self.buffer[self.len..end];
        // SAFETY: `slots` is `data.len()` writable bytes, which cannot overlap `data` (a shared
        // borrow while `self` is borrowed exclusively); `MaybeUninit<u8>` has the layout of `u8`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), slots.as_mut_ptr().cast::<u8>(), data.len()) };
        self.len = end;
    }

    /// Declares the first `len` bytes written (the spare room's bytes up to it written through
    /// [`spare_capacity_mut`](UninitBytes::spare_capacity_mut)); a smaller `len` than
    /// [`len`](UninitBytes::len) drops the end of the front.
    ///
    /// # Safety
    ///
    /// `len` is at most [`capacity`](UninitBytes::capacity), and every one of the first `len`
    /// bytes has been written.
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.buffer.len());
        self.len = len;
    }
}

/// The host ABI minor from which the table has `make_bytes_filled`.
const BYTES_FILLED_MINOR: u32 = 10;

/// What the trampoline of [`make_bytes_uninit`] shares with it: the fill (taken when it runs)
/// and how it ended.
struct FillState<F, E> {
    fill: Option<F>,
    outcome: Option<Result<(), E>>,
    panic: Option<Box<dyn Any + Send>>,
}

/// The [`crate::abi::BytesFill`] of [`make_bytes_uninit`]: runs the plugin's fill over the
/// host's bytes, keeps its error or panic in the state for the caller (nothing unwinds into
/// the host), and answers the written length.
///
/// # Safety
///
/// `state` is the `FillState<F, E>` of the `make_bytes_uninit` call that passed it; `data` is
/// `capacity` bytes only this call writes while it runs (the host's contract).
unsafe extern "C" fn fill_trampoline<F, E>(state: *mut c_void, data: *mut u8, capacity: usize) -> usize
where
    F: FnOnce(&mut UninitBytes<'_>) -> Result<(), E>,
{
    // SAFETY: the caller's contract: `state` is this call's `FillState<F, E>`, not otherwise
    // borrowed while the host runs.
    let state = unsafe { &mut *state.cast::<FillState<F, E>>() };
    // A host that called twice gets nothing the second time.
    let Some(fill) = state.fill.take() else { return FILL_FAILED };
    let buffer: &mut [MaybeUninit<u8>] = if capacity == 0 || data.is_null() {
        &mut []
    } else {
        // SAFETY: the host's `capacity` bytes at `data`, this call's to write while it runs.
        unsafe { std::slice::from_raw_parts_mut(data.cast::<MaybeUninit<u8>>(), capacity) }
    };
    let start = buffer.as_ptr();
    let mut writer = UninitBytes { buffer, len: 0 };
    match catch_unwind(AssertUnwindSafe(|| fill(&mut writer))) {
        // The writer cannot be swapped for another (no other writer has its lifetime, and there
        // is no public constructor); checked all the same, since its length is taken to count
        // bytes at `data`.
        Ok(Ok(())) if std::ptr::eq(writer.buffer.as_ptr(), start) && writer.buffer.len() == capacity => {
            state.outcome = Some(Ok(()));
            writer.len
        }
        Ok(Ok(())) => FILL_FAILED,
        Ok(Err(error)) => {
            state.outcome = Some(Err(error));
            FILL_FAILED
        }
        Err(payload) => {
            state.panic = Some(payload);
            FILL_FAILED
        }
    }
}

/// A new byte string of at most `capacity` bytes that `fill` writes once, in the host's memory,
/// with nothing zeroed or copied first (ABI 1.10's `make_bytes_filled`); the byte string is the
/// front `fill` wrote. On an older host, or one that refuses, the plugin's own uninitialised
/// buffer is written and copied to the host. A panic in `fill` frees the bytes and unwinds on
/// from here.
pub(crate) fn make_bytes_uninit<F, E>(capacity: usize, fill: F) -> Result<Value, E>
where
    F: FnOnce(&mut UninitBytes<'_>) -> Result<(), E>,
{
    let host = host();
    // The table's size says the field is there; the minor, that the host is one that fills it.
    if !host_has(host, BYTES_FILLED_END) || host.abi_minor < BYTES_FILLED_MINOR {
        return uninit_copy(capacity, fill);
    }
    let mut state = FillState { fill: Some(fill), outcome: None, panic: None };
    let mut out = TValue::NULL;
    // SAFETY: `fill_trampoline::<F, E>` is given this call's `state`, which lives until the host
    // returns; `out` is a valid out-pointer.
    let code = unsafe {
        (host.make_bytes_filled)(
            host.context,
            capacity,
            fill_trampoline::<F, E>,
            (&raw mut state).cast::<c_void>(),
            &mut out,
        )
    };
    // SAFETY: on `OK` `out` is a new byte-string handle whose reference passes to the `Value`;
    // otherwise the host left it `NULL`.
    let value = unsafe { Value::from_raw(out) };
    if let Some(payload) = state.panic {
        std::panic::resume_unwind(payload);
    }
    match (code, state.outcome, state.fill) {
        (status::OK, Some(Ok(())), _) => Ok(value),
        (_, Some(Err(error)), _) => Err(error),
        // The host refused before calling the fill: the plugin's own buffer and a copy.
        (_, None, Some(fill)) => uninit_copy(capacity, fill),
        // The fill ran and succeeded, and the host then failed to make the value (or answered
        // `OK` without calling it): a broken host, reported as the call's panic.
        _ => panic!("the host failed to make a byte string of {capacity} bytes (status {code})"),
    }
}

/// [`make_bytes_uninit`] in the plugin's own buffer (no zeroing either), copied to the host.
fn uninit_copy<F, E>(capacity: usize, fill: F) -> Result<Value, E>
where
    F: FnOnce(&mut UninitBytes<'_>) -> Result<(), E>,
{
    let mut buffer: Vec<u8> = Vec::with_capacity(capacity);
    let mut writer = UninitBytes { buffer: &mut buffer.spare_capacity_mut()[..capacity], len: 0 };
    fill(&mut writer)?;
    let len = writer.len;
    // SAFETY: the writer's first `len` bytes are written (its invariant), and they are the
    // vector's first `len` bytes of capacity.
    unsafe { buffer.set_len(len) };
    Ok(make_bytes(&buffer))
}

pub(crate) fn make_string(text: &str) -> Value {
    let host = host();
    // SAFETY: the host copies the text before returning; the result is a new string handle
    // whose reference passes to the `Value`.
    unsafe { Value::from_raw((host.make_string)(host.context, StrRef::new(text))) }
}

pub(crate) fn make_array(items: Vec<Value>) -> Value {
    let host = host();
    let raw: Vec<TValue> = items.into_iter().map(Value::into_raw).collect();
    // SAFETY: `raw` holds `raw.len()` values whose references the host takes over; the result
    // is a new array handle whose reference passes to the `Value`.
    unsafe { Value::from_raw((host.make_array)(host.context, raw.as_ptr(), raw.len())) }
}

pub(crate) fn make_object<K: AsRef<str>>(entries: Vec<(K, Value)>) -> Value {
    let host = host();
    // The owned keys must outlive the call: views into keys dropped by `into_iter` dangled.
    let (owned_keys, values): (Vec<K>, Vec<TValue>) =
        entries.into_iter().map(|(key, value)| (key, value.into_raw())).unzip();
    let keys: Vec<StrRef> = owned_keys.iter().map(|key| StrRef::new(key.as_ref())).collect();
    // SAFETY: `keys` and `values` hold `values.len()` items each; keys are copied, values'
    // references are taken over by the host; the result is a new object handle.
    unsafe { Value::from_raw((host.make_object)(host.context, keys.as_ptr(), values.as_ptr(), values.len())) }
}

pub(crate) fn retain(value: &TValue) {
    let host = host();
    // SAFETY: `value` is a live handle.
    unsafe { (host.retain)(host.context, value) }
}

pub(crate) fn release(value: &TValue) {
    let pointer = HOST.load(Ordering::Acquire);
    if pointer.is_null() {
        return;
    }
    // SAFETY: as in `host()`; `value` is a handle this side owns a reference to.
    unsafe { ((*pointer).release)((*pointer).context, value) }
}

pub(crate) fn length(value: &TValue) -> usize {
    let host = host();
    // SAFETY: `value` is a live value.
    unsafe { (host.length)(host.context, value) }
}

pub(crate) fn array_get(array: &TValue, index: usize) -> Option<Value> {
    let host = host();
    let mut out = TValue::NULL;
    // SAFETY: `array` is a live handle; `out` receives a new reference.
    let code = unsafe { (host.array_get)(host.context, array, index, &mut out) };
    // SAFETY: on success `out` holds a value whose reference this side owns.
    (code == status::OK).then(|| unsafe { Value::from_raw(out) })
}

pub(crate) fn object_get(object: &TValue, key: &str) -> Option<Value> {
    let host = host();
    let mut out = TValue::NULL;
    // SAFETY: `object` is a live handle, the key is borrowed for the call; `out` receives a new
    // reference.
    let code = unsafe { (host.object_get)(host.context, object, StrRef::new(key), &mut out) };
    // SAFETY: on success `out` holds a value whose reference this side owns.
    (code == status::OK).then(|| unsafe { Value::from_raw(out) })
}

pub(crate) fn object_entry(object: &Value, index: usize) -> Option<(&str, Value)> {
    let object = object.raw();
    let host = host();
    let mut key = StrRef::EMPTY;
    let mut out = TValue::NULL;
    // SAFETY: `object` is a live handle; `key` receives a view that lives as long as the
    // object, `out` a new reference.
    let code = unsafe { (host.object_entry)(host.context, object, index, &mut key, &mut out) };
    // SAFETY: on success `key` views the entry's key inside the object, which outlives the
    // borrow of `object`, and `out` holds a value whose reference this side owns.
    (code == status::OK).then(|| unsafe { (view(key), Value::from_raw(out)) })
}

fn error_from(error: &ErrorOut) -> PluginError {
    // SAFETY: the host filled `error` with its own text, valid until its next call.
    let message = unsafe { view(error.message) }.to_string();
    match error.kind {
        error_kind::PERMISSION_DENIED => PluginError::permission_denied(message),
        _ => PluginError::new(ErrorKind::Script, message),
    }
}

pub(crate) fn call_function(function: &TValue, args: &[Value]) -> Result<Value, PluginError> {
    let host = host();
    let mut out = TValue::NULL;
    let mut error = ErrorOut::EMPTY;
    let call = current_call();
    // SAFETY: `Value` is `repr(transparent)` over `TValue`, so the slice is one of `TValue`s;
    // the arguments are borrowed for the call.
    let code = unsafe {
        (host.call_function)(
            host.context,
            call,
            function,
            args.as_ptr().cast::<TValue>(),
            args.len(),
            &mut out,
            &mut error,
        )
    };
    if code == status::OK {
        // SAFETY: on success `out` holds the result, whose reference this side owns.
        Ok(unsafe { Value::from_raw(out) })
    } else {
        Err(error_from(&error))
    }
}

pub(crate) fn map_parallel(
    function: &Value,
    items: &Value,
    workers: usize,
) -> Result<crate::plugin::host::Parallel, PluginError> {
    use crate::plugin::host::Parallel;
    let host = host();
    if !host_has(host, std::mem::offset_of!(HostApi, map_parallel) + std::mem::size_of::<usize>()) {
        return Ok(Parallel::Unsupported("this tusk has no interpreter isolates (plugin ABI 1.3)".to_string()));
    }
    let mut out = TValue::NULL;
    let mut error = ErrorOut::EMPTY;
    let call = current_call();
    let workers = u32::try_from(workers).unwrap_or(u32::MAX);
    // SAFETY: both values are borrowed for the call; the table covers the field (checked above).
    let code =
        unsafe { (host.map_parallel)(host.context, call, function.raw(), items.raw(), workers, &mut out, &mut error) };
    match code {
        // SAFETY: on success `out` holds the result array, whose reference this side owns.
        status::OK => Ok(Parallel::Done(unsafe { Value::from_raw(out) })),
        // SAFETY: the host filled `error` with its own text, valid until its next call.
        status::UNSUPPORTED => Ok(Parallel::Unsupported(unsafe { view(error.message) }.to_string())),
        status::INVALID => Err(PluginError::message("map_parallel takes a function and an array or a range")),
        _ => Err(error_from(&error)),
    }
}

pub(crate) fn new_plugin_object(type_name: &str, object: Arc<dyn Any + Send + Sync>) -> Value {
    let id = {
        let mut objects = OBJECTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let objects = objects.get_or_insert_with(Objects::default);
        objects.next += 1;
        let id = objects.next;
        objects.live.insert(id, object);
        id
    };
    let host = host();
    // SAFETY: the type name is borrowed for the call; the host records the object id, calls
    // `drop_object` when it is released, and returns a new handle whose reference passes to
    // the `Value`.
    unsafe { Value::from_raw((host.make_plugin_object)(host.context, StrRef::new(type_name), id)) }
}

pub(crate) fn plugin_object(id: u64) -> Option<Arc<dyn Any + Send + Sync>> {
    let objects = OBJECTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    objects.as_ref()?.live.get(&id).cloned()
}

pub(crate) fn log(level: u32, message: &str, fields: &Value) {
    let pointer = HOST.load(Ordering::Acquire);
    if pointer.is_null() {
        return;
    }
    // SAFETY: as in `host()`; `fields` is borrowed for the call.
    unsafe { ((*pointer).log)((*pointer).context, level, StrRef::new(message), fields.raw()) }
}

fn io_result(code: u32, error: &ErrorOut) -> Result<(), PluginError> {
    match code {
        status::OK => Ok(()),
        // SAFETY (both arms): the host filled `error` with its own text, valid until its next call.
        status::DENIED => Err(PluginError::permission_denied(unsafe { view(error.message) }.to_string())),
        _ => Err(PluginError::message(unsafe { view(error.message) }.to_string())),
    }
}

pub(crate) fn read_file(path: &str) -> Result<String, PluginError> {
    let host = host();
    let mut out = TValue::NULL;
    let mut error = ErrorOut::EMPTY;
    // SAFETY: the path is borrowed for the call; `out` receives a new string reference.
    let code = unsafe { (host.read_file)(host.context, StrRef::new(path), &mut out, &mut error) };
    io_result(code, &error)?;
    // SAFETY: on success `out` holds a new string handle whose reference this side owns.
    let text = unsafe { Value::from_raw(out) };
    Ok(text.as_str().unwrap_or_default().to_string())
}

pub(crate) fn write_file(path: &str, text: &str) -> Result<(), PluginError> {
    let host = host();
    let mut error = ErrorOut::EMPTY;
    // SAFETY: both texts are borrowed for the call.
    let code = unsafe { (host.write_file)(host.context, StrRef::new(path), StrRef::new(text), &mut error) };
    io_result(code, &error)
}

pub(crate) fn append_file(path: &str, text: &str) -> Result<(), PluginError> {
    let host = host();
    if !host_has(host, std::mem::offset_of!(HostApi, append_file) + std::mem::size_of::<usize>()) {
        return Err(PluginError::message("this version of tusk cannot append to files: update it"));
    }
    let mut error = ErrorOut::EMPTY;
    // SAFETY: both texts are borrowed for the call; the table covers the field (checked above).
    let code = unsafe { (host.append_file)(host.context, StrRef::new(path), StrRef::new(text), &mut error) };
    io_result(code, &error)
}

pub(crate) fn resolve_path(path: &str) -> String {
    let host = host();
    if !host_has(host, std::mem::offset_of!(HostApi, resolve_path) + std::mem::size_of::<usize>()) {
        return path.to_string();
    }
    let mut out = TValue::NULL;
    // SAFETY: the path is borrowed for the call; `out` receives a new string reference.
    let code = unsafe { (host.resolve_path)(host.context, StrRef::new(path), &mut out) };
    if code != status::OK {
        return path.to_string();
    }
    // SAFETY: on success `out` holds a new string handle whose reference this side owns.
    let resolved = unsafe { Value::from_raw(out) };
    resolved.as_str().map_or_else(|| path.to_string(), str::to_string)
}

pub(crate) fn read_env(name: &str) -> Result<Option<String>, PluginError> {
    let host = host();
    let mut out = TValue::NULL;
    let mut error = ErrorOut::EMPTY;
    // SAFETY: as in `read_file`.
    let code = unsafe { (host.read_env)(host.context, StrRef::new(name), &mut out, &mut error) };
    if code == status::NOT_FOUND {
        return Ok(None);
    }
    io_result(code, &error)?;
    // SAFETY: on success `out` holds a new string handle whose reference this side owns.
    let value = unsafe { Value::from_raw(out) };
    Ok(value.as_str().map(str::to_string))
}

pub(crate) fn check_connect(host_name: &str, port: u16) -> Result<(), PluginError> {
    let host = host();
    let mut error = ErrorOut::EMPTY;
    // SAFETY: the host name is borrowed for the call.
    let code = unsafe { (host.check_connect)(host.context, StrRef::new(host_name), port, &mut error) };
    io_result(code, &error)
}

pub(crate) fn is_cancelled() -> bool {
    let host = host();
    let call = current_call();
    // SAFETY: `call` is the context of the call in progress (or null outside calls).
    unsafe { (host.is_cancelled)(host.context, call) != 0 }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Fills `out` with an error whose texts live in this thread's buffer until the next call.
fn write_error(out: *mut ErrorOut, kind: u32, argument: Option<usize>, message: String, help: Option<String>) {
    if out.is_null() {
        return;
    }
    ERROR_TEXT.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.0 = message;
        buffer.1 = help.unwrap_or_default();
        let record = ErrorOut {
            kind,
            argument: argument.map_or(-1, |index| index.min(i32::MAX as usize) as i32),
            message: StrRef::new(&buffer.0),
            help: StrRef::new(&buffer.1),
        };
        // SAFETY: the host passes a valid, writable `ErrorOut`.
        unsafe { out.write(record) };
    });
}

fn write_plugin_error(out: *mut ErrorOut, error: &PluginError) {
    write_error(out, error.kind().code(), error.argument(), error.to_string(), error.help().map(str::to_string));
}

/// Runs `body`, turning a panic into `PANIC` with its message in `error`.
fn guarded(error: *mut ErrorOut, body: impl FnOnce() -> u32) -> u32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(payload) => panicked(error, &*payload),
    }
}

/// Reports a caught panic in `error`: `PANIC`.
#[cold]
fn panicked(error: *mut ErrorOut, payload: &(dyn Any + Send)) -> u32 {
    let (message, help) = panic_text(payload);
    write_error(error, error_kind::PANIC, None, message, help);
    status::PANIC
}

unsafe extern "C" fn init(host_api: *const HostApi, config: StrRef, error: *mut ErrorOut) -> u32 {
    guarded(error, || {
        // SAFETY: the host passes its table, valid until after `shutdown`.
        let host_size = unsafe { host_api.as_ref() }.map_or(0, |table| table.size);
        if host_size < MIN_HOST_SIZE {
            write_error(
                error,
                error_kind::MESSAGE,
                None,
                format!("the host's API table is {host_size} bytes, this plugin needs {MIN_HOST_SIZE}: update tusk"),
                None,
            );
            return status::ERROR;
        }
        HOST.store(host_api.cast_mut(), Ordering::Release);
        install_panic_hook();
        let Some(factory) = FACTORY.get() else {
            write_error(error, error_kind::MESSAGE, None, "the plugin was not exported".to_string(), None);
            return status::ERROR;
        };
        let mut plugin = factory();
        // SAFETY: the host passes its configuration text, valid for the call.
        let context = PluginContext::new(unsafe { view(config) }.to_string(), plugin.name());
        if let Err(plugin_error) = plugin.initialize(&context) {
            write_plugin_error(error, &plugin_error);
            return status::ERROR;
        }
        let registrations: Vec<Box<Registration>> =
            context.registrations.into_inner().into_iter().map(Box::new).collect();
        let examples = registrations
            .iter()
            .map(|registration| registration.doc.examples.iter().map(|example| StrRef::new(example)).collect())
            .collect();
        let loaded = Loaded {
            name: plugin.name().to_string(),
            version: plugin.version().to_string(),
            plugin,
            registrations,
            examples,
        };
        *LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Box::new(loaded));
        status::OK
    })
}

unsafe extern "C" fn shutdown(error: *mut ErrorOut) -> u32 {
    guarded(error, || {
        let loaded = LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        *OBJECTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        let Some(mut loaded) = loaded else { return status::OK };
        match loaded.plugin.shutdown() {
            Ok(()) => status::OK,
            Err(plugin_error) => {
                write_plugin_error(error, &plugin_error);
                status::ERROR
            }
        }
    })
}

unsafe extern "C" fn symbol_count() -> u32 {
    catch_unwind(|| {
        let loaded = LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loaded.as_ref().map_or(0, |loaded| loaded.registrations.len() as u32)
    })
    .unwrap_or(0)
}

unsafe extern "C" fn symbol_info(index: u32, out: *mut SymbolInfo) -> u32 {
    catch_unwind(AssertUnwindSafe(|| {
        let loaded = LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(loaded) = loaded.as_ref() else { return status::NOT_FOUND };
        let Some(registration) = loaded.registrations.get(index as usize) else { return status::NOT_FOUND };
        let examples = &loaded.examples[index as usize];
        let info = SymbolInfo {
            handle: (&**registration as *const Registration).cast::<c_void>(),
            name: StrRef::new(&registration.name),
            kind: match registration.kind {
                SymbolKind::Operator => symbol_kind::OPERATOR,
                SymbolKind::Function => symbol_kind::FUNCTION,
                SymbolKind::Type => symbol_kind::TYPE,
            },
            side_effects: u32::from(registration.doc.side_effects),
            lazy_arguments: registration.doc.lazy_arguments,
            signature: StrRef::new(&registration.doc.signature),
            summary: StrRef::new(&registration.doc.summary),
            examples: examples.as_ptr(),
            example_count: examples.len(),
        };
        // SAFETY: the host passes a valid, writable `SymbolInfo`.
        unsafe { out.write(info) };
        status::OK
    }))
    .unwrap_or(status::PANIC)
}

/// The descriptor's `call`: any symbol, through its registration's lean entry.
unsafe extern "C" fn call(
    symbol: *const c_void,
    call_context: *mut c_void,
    args: *const TValue,
    argc: usize,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    guarded(error, || {
        // SAFETY: `symbol` is a `SymbolInfo::handle` of the loaded plugin; the host calls only
        // between `init` and `shutdown`, while the registration is alive.
        let registration = unsafe { &*symbol.cast::<Registration>() };
        let Some((_, entries)) = registration.callable.as_ref() else {
            write_error(error, error_kind::INVALID_OPERATION, None, format!("`{}` is a type", registration.name), None);
            return status::ERROR;
        };
        // SAFETY: the lean entry was made for this registration's closure; the descriptor's
        // contract (module documentation) is the entry's.
        unsafe { entered_as_call(entries.lean, symbol, call_context, args, argc, out, error) }
    })
}

/// The descriptor's `symbol_call` (ABI 1.5): the entry [`symbol_entry`] made for the
/// symbol's closure, `None` for a type.
unsafe extern "C" fn symbol_call(symbol: *const c_void) -> Option<crate::abi::CallFn> {
    // SAFETY: `symbol` is a `SymbolInfo::handle` of the loaded plugin, alive until `shutdown`.
    let registration = unsafe { symbol.cast::<Registration>().as_ref() }?;
    registration.callable.as_ref().map(|(_, entries)| entries.symbol)
}

/// The descriptor's `lean_call` (ABI 1.6): the entry [`lean_entry`] made for the symbol's
/// closure, `None` for a type.
unsafe extern "C" fn lean_call(symbol: *const c_void) -> Option<crate::abi::LeanCallFn> {
    // SAFETY: `symbol` is a `SymbolInfo::handle` of the loaded plugin, alive until `shutdown`.
    let registration = unsafe { symbol.cast::<Registration>().as_ref() }?;
    registration.callable.as_ref().map(|(_, entries)| entries.lean)
}

/// The entries of a registered closure's type. A trait's, implemented for every closure type,
/// rather than generic functions: the compiler places a method made for a type in that type's
/// codegen unit, so a closure's entries are compiled beside the closure (a plugin's handler
/// function and its lean entry in one unit), where its one call (see [`entered_as_call`]) can
/// be inlined and its `Result` kept out of memory. A generic function made for the closure
/// lands in the unit of the SDK's module instead, and the handler is then called.
pub(crate) trait ClosureEntries:
    Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + Sized + 'static
{
    /// A symbol's lean entry, one per closure type (ABI 1.6): calls the closure (its only
    /// caller: [`ClosureEntries::symbol_entry`] and the descriptor's `call` come through here) and returns a
    /// scalar result in registers rather than through `out`, writing `out` and `error` only when
    /// they must be (the host does not initialise them).
    ///
    /// # Safety
    ///
    /// As the descriptor's `call` (`symbol` is the handle of a registration made by `plugin::callable::<Self>`,
    /// which has a closure: a type's registration gets no entry); `out` and `error` need only be
    /// valid for writes.
    unsafe extern "C" fn lean_entry(
        symbol: *const c_void,
        call_context: *mut c_void,
        args: *const TValue,
        argc: usize,
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> CallReturn {
        // The return is made as two words (`Returned`) and laid out as a `CallReturn` only at the
        // end: built as the struct on both sides of the `catch_unwind`, it went through the stack.
        let body = || {
            // SAFETY: `symbol` is a `SymbolInfo::handle` of the loaded plugin; the host calls only
            // between `init` and `shutdown`, while the registration is alive.
            let registration = unsafe { &*symbol.cast::<Registration>() };
            // Not tested, unlike the descriptor's `call` (which any symbol reaches): a closure's
            // type is often zero-sized, and then the registration is not read at all.
            // SAFETY: the registration was made by `plugin::callable::<Self>` (the function's
            // contract), which gives it its closure, never taken away while it is alive.
            let (callable, _) = unsafe { registration.callable.as_ref().unwrap_unchecked() };
            // SAFETY: this entry is handed out only with an `Arc<Self>` made into this `Callable`
            // (the function's contract), so the data pointer of the trait object is a `Self`.
            let function = unsafe { &*std::sync::Arc::as_ptr(callable).cast::<Self>() };
            // SAFETY: the host passes `argc` values, borrowed for the call (a null `args` only
            // with `argc` 0, which is not read); `Value` is `repr(transparent)` over `TValue`.
            let args: &[Value] =
                if argc == 0 { &[] } else { unsafe { std::slice::from_raw_parts(args.cast::<Value>(), argc) } };
            // A panic in `function` unwinds through the marker (which restores the previous call)
            // to the `catch_unwind` below: one per call.
            let _current = CurrentCall::enter(call_context);
            match function(args) {
                Ok(value) => {
                    let raw = value.into_raw();
                    if CallReturn::in_out(raw.tag) {
                        // SAFETY: the host passes an out-slot valid for writes; the reference
                        // moves to it (a scalar has none, and goes in the return alone).
                        unsafe { out.write(raw) };
                    }
                    Returned::ok(&raw)
                }
                Err(plugin_error) => Returned::failed(lean_failure(error, plugin_error)),
            }
        };
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(returned) => returned.laid_out(),
            Err(payload) => Returned::failed(panicked(error, &*payload)).laid_out(),
        }
    }

    /// A symbol's own entry, one per closure type (ABI 1.5): called as the descriptor's `call`
    /// but only for registrations whose closure is a `Self`, through the lean entry made for it.
    ///
    /// # Safety
    ///
    /// As the descriptor's `call`, and `symbol` must be the handle of a registration made by
    /// `plugin::callable::<Self>` (the only place this entry is handed out, beside its own closure).
    unsafe extern "C" fn symbol_entry(
        symbol: *const c_void,
        call_context: *mut c_void,
        args: *const TValue,
        argc: usize,
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> u32 {
        // SAFETY: the function's contract is `Self::lean_entry`'s, with `out` and `error` valid
        // for writes.
        unsafe { entered_as_call(Self::lean_entry, symbol, call_context, args, argc, out, error) }
    }
}

impl<F> ClosureEntries for F where F: Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + 'static {}

/// A [`CallReturn`] as two words: the status in the first's low half, the tag in its high
/// half, and the payload word.
#[derive(Clone, Copy)]
struct Returned(u64, u64);

impl Returned {
    #[inline(always)]
    fn ok(value: &TValue) -> Returned {
        Returned(u64::from(status::OK) | u64::from(value.tag) << 32, value.a)
    }

    #[inline(always)]
    fn failed(status: u32) -> Returned {
        Returned(u64::from(status) | u64::from(tag::NULL) << 32, 0)
    }

    #[inline(always)]
    fn laid_out(self) -> CallReturn {
        // The fields put back one by one cost four instructions that change nothing where the
        // first word already has the struct's layout.
        #[cfg(target_endian = "little")]
        // SAFETY: `CallReturn` is `repr(C)`: two `u32`s and a `u64`, 16 bytes without padding
        // (asserted where it is defined), and any bits make a valid one; on a little-endian
        // target the first word's low half is `status` and its high half `tag`.
        return unsafe { std::mem::transmute::<[u64; 2], CallReturn>([self.0, self.1]) };
        #[cfg(not(target_endian = "little"))]
        CallReturn { status: self.0 as u32, tag: (self.0 >> 32) as u32, a: self.1 }
    }
}

/// A call through a lean entry made to keep the contract of a [`crate::abi::CallFn`]: a scalar
/// result, which the lean entry returns alone, is written to `out` too. The closure is called
/// only from its lean entry (every other route comes here), so that the compiler, seeing one
/// call, can inline it there and keep its `Result` out of memory on the common call.
///
/// # Safety
///
/// `lean` must be the lean entry of the registration `symbol`, and the arguments what the
/// entry's contract asks for (`out` and `error` valid for writes).
#[inline(always)]
unsafe fn entered_as_call(
    lean: crate::abi::LeanCallFn,
    symbol: *const c_void,
    call_context: *mut c_void,
    args: *const TValue,
    argc: usize,
    out: *mut TValue,
    error: *mut ErrorOut,
) -> u32 {
    // `call` read no argument from a null `args` whatever `argc` said; a lean entry reads
    // `argc` of them.
    let argc = if args.is_null() { 0 } else { argc };
    // SAFETY: the function's contract.
    let returned = unsafe { lean(symbol, call_context, args, argc, out, error) };
    if returned.status == status::OK && !CallReturn::in_out(returned.tag) {
        // SAFETY: `out` is valid for writes (the function's contract); a scalar holds no
        // reference, so the slot owns nothing the return does not.
        unsafe { out.write(TValue::new(returned.tag, returned.a, 0)) };
    }
    returned.status
}

/// A lean entry's error: written in full, `ERROR`. Out of line, so that the entry's common
/// return is a scalar's few instructions.
#[cold]
#[inline(never)]
fn lean_failure(error: *mut ErrorOut, plugin_error: PluginError) -> u32 {
    write_plugin_error(error, &plugin_error);
    status::ERROR
}

/// Marks the host's call context as the one in progress on this thread, and restores the
/// previous one when dropped, also when the plugin's function panics (calls nest through
/// script functions).
struct CurrentCall(*mut c_void);

impl CurrentCall {
    #[inline(always)]
    fn enter(call_context: *mut c_void) -> CurrentCall {
        // A load and a store rather than a swap: only the owner thread writes (see `CALL`).
        let previous = CALL.load(Ordering::Relaxed);
        CALL.store(call_context, Ordering::Relaxed);
        CurrentCall(previous)
    }
}

impl Drop for CurrentCall {
    // Inlined into each symbol's entry: out of line it was a call through the library's
    // offset table on every call.
    #[inline(always)]
    fn drop(&mut self) {
        CALL.store(self.0, Ordering::Relaxed);
    }
}

unsafe extern "C" fn drop_object(object: u64) {
    let _ = catch_unwind(|| {
        let removed = OBJECTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_mut()?.live.remove(&object);
        drop(removed);
        Some(())
    });
}

unsafe extern "C" fn identity(name: *mut StrRef, version: *mut StrRef) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let loaded = LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (name_text, version_text) = match loaded.as_ref() {
            Some(loaded) => (StrRef::new(&loaded.name), StrRef::new(&loaded.version)),
            None => (StrRef::EMPTY, StrRef::EMPTY),
        };
        // SAFETY: the host passes valid out-pointers; the texts live until `shutdown`.
        unsafe {
            name.write(name_text);
            version.write(version_text);
        }
    }));
}

/// The body of the exported entry symbol (used by `export_plugin!`).
#[doc(hidden)]
pub fn entry(info: &'static InfoRecord, factory: fn() -> Box<dyn TuskPlugin>) -> *const PluginDescriptor {
    let _ = FACTORY.set(factory);
    DESCRIPTOR.get_or_init(|| PluginDescriptor {
        size: std::mem::size_of::<PluginDescriptor>() as u32,
        abi_major: ABI_MAJOR,
        info,
        init,
        shutdown,
        symbol_count,
        symbol_info,
        call,
        drop_object,
        identity,
        symbol_call,
        lean_call,
    })
}

/// Exports a plugin type: `export_plugin!(MyPlugin)` (the type implements `Default`) or
/// `export_plugin!(MyPlugin, MyPlugin::new())`. It emits the info record the host reads from
/// the file before loading it, and the entry symbol. Use it once per plugin library.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        $crate::export_plugin!($plugin, <$plugin as ::core::default::Default>::default());
    };
    ($plugin:ty, $constructor:expr) => {
        #[doc(hidden)]
        #[used]
        #[allow(unsafe_code)]
        #[cfg_attr(target_os = "macos", unsafe(link_section = "__DATA,__tusk_plugin"))]
        #[cfg_attr(not(target_os = "macos"), unsafe(link_section = ".tusk_plugin_info"))]
        pub static TUSK_PLUGIN_INFO: $crate::abi::InfoRecord =
            $crate::abi::InfoRecord::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), $crate::SDK_VERSION);

        #[doc(hidden)]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn tusk_plugin_entry_v1() -> *const $crate::abi::PluginDescriptor {
            fn make() -> ::std::boxed::Box<dyn $crate::TuskPlugin> {
                let plugin: $plugin = $constructor;
                ::std::boxed::Box::new(plugin)
            }
            $crate::ffi::entry(&TUSK_PLUGIN_INFO, make)
        }
    };
}

// ---- Long-lived plugins (ABI 1.2): retained functions, posts, services. Safe wrappers are in
// `retained.rs`.

/// The end of the last ABI 1.2 field: a host whose table is shorter has no event loop API.
const EVENTS_END: usize = std::mem::offset_of!(HostApi, end_service) + std::mem::size_of::<usize>();

/// The host table if it has the ABI 1.2 functions; `None` before `init` or after `shutdown`
/// (a plugin thread that outlives its plugin must not panic in a `Drop`).
fn events_host() -> Result<&'static HostApi, PluginError> {
    let pointer = HOST.load(Ordering::Acquire);
    // SAFETY: the host passed this table to `init` and keeps it alive until after `shutdown`
    // (and in fact for the life of the process: tables are never freed).
    let Some(host) = (unsafe { pointer.as_ref() }) else {
        return Err(PluginError::message("the plugin is not loaded by a TuskLang host (or was shut down)"));
    };
    if !host_has(host, EVENTS_END) {
        return Err(PluginError::message(
            "this tusk is too old for long-lived plugins: retained functions and services need plugin ABI 1.2",
        ));
    }
    Ok(host)
}

/// The host's ABI minor, 0 before `init`: what a host understands beyond its table's fields
/// (posted calls that carry byte strings, 1.8).
pub(crate) fn host_abi_minor() -> u32 {
    let pointer = HOST.load(Ordering::Acquire);
    // SAFETY: the host passed this table to `init` and keeps it alive for the life of the
    // process (tables are never freed).
    unsafe { pointer.as_ref() }.map_or(0, |host| host.abi_minor)
}

/// The thread retained functions were made on: the host's (interpreter or runner session)
/// thread, which must never wait for a posted call's result.
static HOST_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// True on the thread the host calls the plugin on.
pub(crate) fn on_host_thread() -> bool {
    HOST_THREAD.get().is_some_and(|thread| *thread == std::thread::current().id())
}

pub(crate) fn retain_function(function: &TValue) -> Result<u64, PluginError> {
    let host = events_host()?;
    let call = current_call();
    let mut id = 0u64;
    let mut error = ErrorOut::EMPTY;
    // SAFETY: `function` is a live value of this plugin; `call` is the call in progress (or
    // null, which the host refuses).
    let code = unsafe { (host.retain_function)(host.context, call, function, &mut id, &mut error) };
    if code != status::OK {
        return Err(error_from(&error));
    }
    let _ = HOST_THREAD.set(std::thread::current().id());
    Ok(id)
}

pub(crate) fn release_function(id: u64) {
    if let Ok(host) = events_host() {
        // SAFETY: any thread may release; `id` came from `retain_function`.
        unsafe { (host.release_function)(host.context, id) };
    }
}

/// What a posted call's outcome is handed to: the result as JSON text (the host's, borrowed for
/// the reply: read it without a copy), or the error.
type PostReply = Box<dyn for<'a> FnOnce(Result<&'a str, PluginError>) + Send>;

unsafe extern "C" fn post_done(token: *mut c_void, code: u32, result: StrRef, error: *const ErrorOut) {
    if token.is_null() {
        return;
    }
    // SAFETY: `token` is the `Box<PostReply>` leaked by `post`, handed back exactly once.
    let reply = unsafe { Box::from_raw(token.cast::<PostReply>()) };
    let outcome = if code == status::OK {
        // SAFETY: the host's text is valid for this call, and the reply only borrows it for
        // the call.
        Ok(unsafe { view(result) })
    } else {
        // SAFETY: on an error status the host passes its filled error record (or null).
        match unsafe { error.as_ref() } {
            Some(error) => {
                // SAFETY: the host's text is valid for this call.
                let message = unsafe { view(error.message) }.to_string();
                let kind = if error.kind == error_kind::SCRIPT { ErrorKind::Script } else { ErrorKind::Message };
                Err(PluginError::new(kind, message))
            }
            None => Err(PluginError::message("the host gave no reason")),
        }
    };
    // A panic in the plugin's own reply must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(move || (*reply)(outcome)));
}

pub(crate) fn post(id: u64, args_json: &str, reply: PostReply) -> Result<(), PluginError> {
    let host = events_host()?;
    let token = Box::into_raw(Box::new(reply)).cast::<c_void>();
    let mut error = ErrorOut::EMPTY;
    // SAFETY: the arguments are borrowed for the call; `token` is handed to `post_done`
    // exactly once when the host accepts the post, never when it refuses it.
    let code = unsafe { (host.post)(host.context, id, StrRef::new(args_json), post_done, token, &mut error) };
    if code == status::OK {
        return Ok(());
    }
    // SAFETY: refused: the host never calls `post_done`, so the box is still ours.
    drop(unsafe { Box::from_raw(token.cast::<PostReply>()) });
    // SAFETY: on refusal the host filled `error` with static text.
    Err(PluginError::message(unsafe { view(error.message) }.to_string()))
}

pub(crate) fn start_service(name: &str) -> Result<u64, PluginError> {
    let host = events_host()?;
    let mut id = 0u64;
    let mut error = ErrorOut::EMPTY;
    // SAFETY: the name is borrowed for the call; any thread may start a service.
    let code = unsafe { (host.start_service)(host.context, StrRef::new(name), &mut id, &mut error) };
    if code == status::OK {
        Ok(id)
    } else {
        // SAFETY: the host filled `error` with static text.
        Err(PluginError::message(unsafe { view(error.message) }.to_string()))
    }
}

pub(crate) fn end_service(id: u64) {
    if let Ok(host) = events_host() {
        // SAFETY: any thread may end a service; `id` came from `start_service`.
        unsafe { (host.end_service)(host.context, id) };
    }
}

// ---- Handing an open connection to another plugin (ABI 1.4). Safe wrappers are in `host`.

/// The end of the last ABI 1.4 field: a host whose table is shorter has no hand-off desk.
#[cfg(unix)]
const SOCKETS_END: usize = std::mem::offset_of!(HostApi, take_socket) + std::mem::size_of::<usize>();

/// The host table if it has the ABI 1.4 functions.
#[cfg(unix)]
fn sockets_host() -> Result<&'static HostApi, PluginError> {
    let host = events_host()?;
    if !host_has(host, SOCKETS_END) {
        return Err(PluginError::message(
            "this tusk is too old to hand connections between plugins: that needs plugin ABI 1.4",
        ));
    }
    Ok(host)
}

#[cfg(unix)]
pub(crate) fn deposit_socket(socket: std::os::fd::OwnedFd, prefix: &[u8]) -> Result<u64, PluginError> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let host = sockets_host()?;
    let raw = socket.into_raw_fd();
    let mut ticket = 0u64;
    let mut error = ErrorOut::EMPTY;
    // SAFETY: `raw` is an open descriptor this plugin owned (it was an `OwnedFd`); the bytes
    // are borrowed for the call; any thread may deposit.
    let code = unsafe {
        (host.deposit_socket)(host.context, i64::from(raw), prefix.as_ptr(), prefix.len(), &mut ticket, &mut error)
    };
    if code == status::OK {
        return Ok(ticket);
    }
    // SAFETY: on a refusal the descriptor is still ours (the ABI says so), and nothing else
    // took it: it is closed here rather than leaked.
    drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) });
    // SAFETY: the host filled `error` with text valid until this thread's next error.
    Err(PluginError::message(unsafe { view(error.message) }.to_string()))
}

#[cfg(unix)]
pub(crate) fn take_socket(ticket: u64) -> Result<(std::os::fd::OwnedFd, Vec<u8>), PluginError> {
    use std::os::fd::FromRawFd;
    let host = sockets_host()?;
    let mut socket = -1i64;
    let (mut prefix, mut prefix_len) = (std::ptr::null::<u8>(), 0usize);
    let mut error = ErrorOut::EMPTY;
    // SAFETY: every out-pointer is valid; any thread may take.
    let code =
        unsafe { (host.take_socket)(host.context, ticket, &mut socket, &mut prefix, &mut prefix_len, &mut error) };
    if code != status::OK {
        // SAFETY: the host filled `error` with text valid until this thread's next error.
        return Err(PluginError::message(unsafe { view(error.message) }.to_string()));
    }
    let ahead = if prefix.is_null() || prefix_len == 0 {
        Vec::new()
    } else {
        // SAFETY: the host lends `prefix_len` bytes until this thread's next take.
        unsafe { std::slice::from_raw_parts(prefix, prefix_len) }.to_vec()
    };
    let raw = std::os::fd::RawFd::try_from(socket)
        .ok()
        .filter(|raw| *raw >= 0)
        .ok_or_else(|| PluginError::message(format!("the host handed out {socket}, not a descriptor")))?;
    // SAFETY: on `OK` the host gives up the descriptor it held for the ticket: it is open, and
    // from now on this plugin's alone (the desk hands each deposit out once).
    Ok((unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) }, ahead))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls a registration through the entry the descriptor's `symbol_call` hands out for it.
    fn call_entry(registration: &Registration, args: &[TValue]) -> (u32, TValue, ErrorOut) {
        let symbol = (registration as *const Registration).cast::<c_void>();
        // SAFETY: `symbol` is a live registration.
        let entry = unsafe { symbol_call(symbol) }.expect("a function has its own entry");
        let (mut out, mut error) = (TValue::NULL, ErrorOut::EMPTY);
        // SAFETY: the arguments are scalars borrowed for the call; both out-pointers are valid.
        let code = unsafe { entry(symbol, std::ptr::null_mut(), args.as_ptr(), args.len(), &mut out, &mut error) };
        (code, out, error)
    }

    #[test]
    fn each_closure_has_its_own_entry_with_the_results_errors_and_panics_of_call() {
        let context = PluginContext::new(String::new(), "entries");
        context
            .register_function("add", |args: &[Value]| {
                let sum = args.iter().map(|value| value.as_int().unwrap_or(0)).sum::<i64>();
                Ok(Value::from(sum))
            })
            .unwrap();
        context
            .register_operator_fn("refuse", |_: &[Value]| Err(PluginError::message("not today").at_argument(1)))
            .unwrap();
        context.register_operator_fn("explode", |_: &[Value]| panic!("the entry panics")).unwrap();
        context.register_type("handle").unwrap();
        let registrations = context.registrations.borrow();
        let int = |n: i64| TValue::new(tag::INT, n as u64, 0);

        let (code, out, _) = call_entry(&registrations[0], &[int(2), int(40)]);
        assert_eq!((code, out), (status::OK, int(42)));

        let (code, _, error) = call_entry(&registrations[1], &[]);
        assert_eq!((code, error.kind, error.argument), (status::ERROR, error_kind::MESSAGE, 1));
        // SAFETY: the error text lives until this thread's next error.
        assert_eq!(unsafe { view(error.message) }, "not today");

        let (code, _, error) = call_entry(&registrations[2], &[]);
        assert_eq!((code, error.kind), (status::PANIC, error_kind::PANIC));
        // SAFETY: as above.
        assert_eq!(unsafe { view(error.message) }, "plugin panicked: the entry panics");

        // Two closures of different types get different entries; a type gets none, and the
        // descriptor's `call` still serves every symbol alike.
        let entry_of =
            |registration: &Registration| registration.callable.as_ref().map(|(_, entries)| entries.symbol as usize);
        assert_ne!(entry_of(&registrations[0]), entry_of(&registrations[1]));
        let handle = (&registrations[3] as *const Registration).cast::<c_void>();
        // SAFETY: a live registration.
        assert!(unsafe { symbol_call(handle) }.is_none());
        let symbol = (&registrations[0] as *const Registration).cast::<c_void>();
        let (mut out, mut error) = (TValue::NULL, ErrorOut::EMPTY);
        let args = [int(1), int(2)];
        // SAFETY: as in `call_entry`.
        let code = unsafe { call(symbol, std::ptr::null_mut(), args.as_ptr(), 2, &mut out, &mut error) };
        assert_eq!((code, out), (status::OK, int(3)));
    }

    #[test]
    fn the_older_entries_call_through_the_lean_one_and_still_write_every_result_to_out() {
        let context = PluginContext::new(String::new(), "older");
        context.register_function("count", |args: &[Value]| Ok(Value::from(args.len() as i64))).unwrap();
        context.register_function("span", |_: &[Value]| Ok(Value::range(2, 7))).unwrap();
        context.register_function("yes", |_: &[Value]| Ok(Value::from(true))).unwrap();
        context.register_type("handle").unwrap();
        let registrations = context.registrations.borrow();
        let symbol = |index: usize| (&registrations[index] as *const Registration).cast::<c_void>();
        let args = [TValue::new(tag::INT, 1, 0), TValue::new(tag::INT, 2, 0)];
        // Through the symbol's own entry (ABI 1.5) and the descriptor's `call` (ABI 1.0), with
        // `out` set beforehand to something else, so that a slot left alone would show.
        for through_call in [false, true] {
            let answer = |index: usize, args: *const TValue, argc: usize| {
                let (mut out, mut error) = (TValue::new(tag::STR, 9, 9), ErrorOut::EMPTY);
                // SAFETY: `symbol(index)` is a live registration; `args` is null or points at
                // `argc` scalars; both out-pointers are valid.
                let code = unsafe {
                    if through_call {
                        call(symbol(index), std::ptr::null_mut(), args, argc, &mut out, &mut error)
                    } else {
                        let entry = symbol_call(symbol(index)).expect("a function has its own entry");
                        entry(symbol(index), std::ptr::null_mut(), args, argc, &mut out, &mut error)
                    }
                };
                (code, out, error)
            };
            assert_eq!(answer(0, args.as_ptr(), 2).1, TValue::new(tag::INT, 2, 0));
            assert_eq!(answer(0, std::ptr::null(), 3).1, TValue::new(tag::INT, 0, 0), "a null `args` is no argument");
            assert_eq!(answer(1, std::ptr::null(), 0).1, TValue::new(tag::RANGE, 2, 7));
            let (code, out, _) = answer(2, std::ptr::null(), 0);
            assert_eq!((code, out), (status::OK, TValue::new(tag::BOOL, 1, 0)));
        }
        let (mut out, mut error) = (TValue::NULL, ErrorOut::EMPTY);
        // SAFETY: as above.
        let code = unsafe { call(symbol(3), std::ptr::null_mut(), std::ptr::null(), 0, &mut out, &mut error) };
        assert_eq!((code, error.kind), (status::ERROR, error_kind::INVALID_OPERATION));
        // SAFETY: the error text lives until this thread's next error.
        assert_eq!(unsafe { view(error.message) }, "`handle` is a type");
    }

    /// Calls a registration through its lean entry (ABI 1.6), with `out` and `error` left
    /// uninitialised as the host leaves them; `out` is read only when the return says so.
    fn call_lean(registration: &Registration, args: &[TValue]) -> (CallReturn, Option<TValue>, Option<ErrorOut>) {
        let symbol = (registration as *const Registration).cast::<c_void>();
        // SAFETY: `symbol` is a live registration.
        let entry = unsafe { lean_call(symbol) }.expect("a function has a lean entry");
        let mut out = std::mem::MaybeUninit::<TValue>::uninit();
        let mut error = std::mem::MaybeUninit::<ErrorOut>::uninit();
        // SAFETY: the arguments are borrowed for the call; both out-pointers are valid for writes.
        let returned = unsafe {
            entry(symbol, std::ptr::null_mut(), args.as_ptr(), args.len(), out.as_mut_ptr(), error.as_mut_ptr())
        };
        if returned.status != status::OK {
            // SAFETY: a failing lean entry writes every field of `error`.
            return (returned, None, Some(unsafe { error.assume_init() }));
        }
        // SAFETY: a lean entry writes `out` for every result that goes through it.
        let out = CallReturn::in_out(returned.tag).then(|| unsafe { out.assume_init() });
        (returned, out, None)
    }

    #[test]
    fn a_lean_entry_returns_scalars_in_the_return_and_the_rest_through_out_errors_and_panics_in_full() {
        let context = PluginContext::new(String::new(), "lean");
        context
            .register_function("add", |args: &[Value]| {
                Ok(Value::from(args.iter().filter_map(Value::as_int).sum::<i64>()))
            })
            .unwrap();
        context.register_function("half", |_: &[Value]| Ok(Value::from(0.5))).unwrap();
        context.register_function("span", |_: &[Value]| Ok(Value::range(2, 7))).unwrap();
        context
            .register_operator_fn("refuse", |_: &[Value]| Err(PluginError::message("not today").at_argument(1)))
            .unwrap();
        context.register_operator_fn("explode", |_: &[Value]| panic!("the lean entry panics")).unwrap();
        context.register_type("handle").unwrap();
        let registrations = context.registrations.borrow();
        let int = |n: i64| TValue::new(tag::INT, n as u64, 0);

        let (returned, out, _) = call_lean(&registrations[0], &[int(2), int(40)]);
        assert_eq!((returned, out), (CallReturn { status: status::OK, tag: tag::INT, a: 42 }, None));
        let (returned, out, _) = call_lean(&registrations[1], &[]);
        assert_eq!(
            (returned.status, returned.tag, f64::from_bits(returned.a), out),
            (status::OK, tag::FLOAT, 0.5, None)
        );
        let (returned, out, _) = call_lean(&registrations[2], &[]);
        assert_eq!((returned.status, out), (status::OK, Some(TValue::new(tag::RANGE, 2, 7))));

        let (returned, _, error) = call_lean(&registrations[3], &[]);
        let error = error.expect("an error record");
        assert_eq!((returned.status, error.kind, error.argument), (status::ERROR, error_kind::MESSAGE, 1));
        // SAFETY: the error text lives until this thread's next error.
        assert_eq!(unsafe { view(error.message) }, "not today");
        // SAFETY: as above.
        assert_eq!(unsafe { view(error.help) }, "");

        let (returned, _, error) = call_lean(&registrations[4], &[]);
        let error = error.expect("an error record");
        assert_eq!((returned.status, error.kind, error.argument), (status::PANIC, error_kind::PANIC, -1));
        // SAFETY: as above.
        assert_eq!(unsafe { view(error.message) }, "plugin panicked: the lean entry panics");

        // A type has no lean entry, as it has no own entry.
        let handle = (&registrations[5] as *const Registration).cast::<c_void>();
        // SAFETY: a live registration.
        assert!(unsafe { lean_call(handle) }.is_none());
    }
}
