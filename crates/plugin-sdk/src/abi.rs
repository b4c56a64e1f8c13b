//! The Tusk Plugin ABI (TPA): every type that crosses between the host and a plugin library.
//!
//! Only `repr(C)` structs, fixed-width integers, raw pointer + length pairs and `extern "C"`
//! function pointers cross; never a Rust trait object, `String`, `Vec` or `Result`. The ABI
//! version is independent of the tusk release. Within a major version the descriptor and the
//! host API table only grow at their end and carry their own byte size, so an older plugin
//! keeps working with a newer host (the host reads only what the size covers) and a newer
//! plugin can detect an older host.
//!
//! Ownership rules:
//! - Arguments are borrowed for the duration of one call. `STR` arguments point into the host's
//!   memory; handles in arguments belong to the host (a plugin that keeps one calls `retain`).
//! - A result's reference passes to the host. Heap results are built with the host API
//!   (`make_string`, `make_array`, `make_object`), so memory is always freed by its allocator.
//! - Plugin objects (connections, models) stay in the plugin; the host holds a handle and calls
//!   `drop_object` when the script drops the last reference.
//! - Error texts (`ErrorOut`) point into plugin memory that stays valid until the next call into
//!   the plugin on the same thread; the host copies them at once.

use std::ffi::c_void;

/// Major version: changes only when something is removed or changes meaning.
pub const ABI_MAJOR: u32 = 1;
/// Minor version: grows when something is appended (1: `append_file`, `resolve_path`).
pub const ABI_MINOR: u32 = 1;
/// The first bytes of the info record, found in the library file before it is loaded.
pub const INFO_MAGIC: [u8; 16] = *b"TUSK-PLUGIN-INFO";
/// The one symbol a plugin library exports (its name carries the ABI major).
pub const ENTRY_SYMBOL: &str = "tusk_plugin_entry_v1";

/// Status codes of every ABI function.
pub mod status {
    /// Success.
    pub const OK: u32 = 0;
    /// The operation failed; `ErrorOut` says why.
    pub const ERROR: u32 = 1;
    /// The plugin panicked; `ErrorOut` holds the panic message.
    pub const PANIC: u32 = 2;
    /// A key, index or symbol does not exist.
    pub const NOT_FOUND: u32 = 3;
    /// A value of the wrong kind was given.
    pub const INVALID: u32 = 4;
    /// A permission was not granted.
    pub const DENIED: u32 = 5;
}

/// Value tags of [`TValue`].
pub mod tag {
    /// `null`.
    pub const NULL: u32 = 0;
    /// `a` is 0 or 1.
    pub const BOOL: u32 = 1;
    /// `a` is the `i64`.
    pub const INT: u32 = 2;
    /// `a` holds the `f64` bits.
    pub const FLOAT: u32 = 3;
    /// A borrowed string: `a` is a pointer, `b` the length in bytes (UTF-8), valid for the call.
    pub const STR: u32 = 4;
    /// A host string handle in `a`.
    pub const STRING: u32 = 5;
    /// A host array handle in `a`.
    pub const ARRAY: u32 = 6;
    /// A host object (map) handle in `a`.
    pub const OBJECT: u32 = 7;
    /// A host function (script lambda or native) handle in `a`.
    pub const FUNCTION: u32 = 8;
    /// An integer range `a..b` (`b` excluded), inline.
    pub const RANGE: u32 = 9;
    /// A plugin-owned object: `a` is the host handle, `b` the plugin's object id.
    pub const PLUGIN_OBJECT: u32 = 10;
    /// A host value of a kind this ABI version does not describe (another plugin's object).
    pub const OPAQUE: u32 = 11;
}

/// A value crossing the boundary: 24 bytes, scalars inline, everything else a handle.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TValue {
    /// One of [`tag`].
    pub tag: u32,
    /// Reserved, zero.
    pub flags: u32,
    /// First payload word.
    pub a: u64,
    /// Second payload word.
    pub b: u64,
}

impl TValue {
    /// `null`.
    pub const NULL: TValue = TValue { tag: tag::NULL, flags: 0, a: 0, b: 0 };

    /// True for the tags whose payload is a host handle the holder owns a reference to.
    pub fn is_handle(&self) -> bool {
        matches!(self.tag, tag::STRING | tag::ARRAY | tag::OBJECT | tag::FUNCTION | tag::OPAQUE | tag::PLUGIN_OBJECT)
    }
}

/// Borrowed UTF-8 text: pointer and length.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrRef {
    /// First byte (may dangle when `len` is 0).
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// A view of a `&str` (valid as long as the string is).
    pub fn new(text: &str) -> StrRef {
        StrRef { ptr: text.as_ptr(), len: text.len() }
    }

    /// The empty string.
    pub const EMPTY: StrRef = StrRef { ptr: std::ptr::null(), len: 0 };
}

/// What failed, filled by the side that reports an error.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ErrorOut {
    /// One of the `ERROR_KIND_*` values of [`error_kind`].
    pub kind: u32,
    /// The argument the error is about (0-based), or -1.
    pub argument: i32,
    /// The message.
    pub message: StrRef,
    /// A hint, possibly empty.
    pub help: StrRef,
}

impl ErrorOut {
    /// An empty error record for an out-parameter.
    pub const EMPTY: ErrorOut = ErrorOut { kind: 0, argument: -1, message: StrRef::EMPTY, help: StrRef::EMPTY };
}

/// The kinds of errors, mirroring the SDK's error enums.
pub mod error_kind {
    /// A free-form message.
    pub const MESSAGE: u32 = 0;
    /// A required argument is missing.
    pub const MISSING_ARGUMENT: u32 = 1;
    /// The requested operation does not exist or cannot be done.
    pub const INVALID_OPERATION: u32 = 2;
    /// An unknown algorithm was requested.
    pub const INVALID_ALGORITHM: u32 = 3;
    /// An unknown metric type was requested.
    pub const INVALID_METRIC_TYPE: u32 = 4;
    /// An unknown level was requested.
    pub const INVALID_LEVEL: u32 = 5;
    /// A permission was not granted.
    pub const PERMISSION_DENIED: u32 = 6;
    /// A script lambda the plugin called raised an error.
    pub const SCRIPT: u32 = 7;
    /// The plugin panicked.
    pub const PANIC: u32 = 8;
    /// Configuration was rejected.
    pub const CONFIGURATION: u32 = 9;
}

/// Operator or function.
pub mod symbol_kind {
    /// Called as `@name(args)`.
    pub const OPERATOR: u32 = 0;
    /// Called as `name(args)`.
    pub const FUNCTION: u32 = 1;
    /// A custom handle type (not callable).
    pub const TYPE: u32 = 2;
}

/// One registered symbol, described to the host after `init`. Pointers stay valid until
/// `shutdown`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SymbolInfo {
    /// What the host passes to `call` to invoke this symbol (direct dispatch, no lookup).
    pub handle: *const c_void,
    /// The name without `@`.
    pub name: StrRef,
    /// One of [`symbol_kind`].
    pub kind: u32,
    /// Non-zero if the symbol has side effects outside the script.
    pub side_effects: u32,
    /// Bit `i` set: argument `i` is lazy (a zero-argument function).
    pub lazy_arguments: u64,
    /// e.g. `@log(level, message, fields)`.
    pub signature: StrRef,
    /// One sentence.
    pub summary: StrRef,
    /// Examples `expression => expected JSON`.
    pub examples: *const StrRef,
    /// Number of examples.
    pub example_count: usize,
}

/// The plugin's data-only record, placed in its own linker section and readable from the
/// file without loading it. Fixed-size, NUL-padded text fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfoRecord {
    /// [`INFO_MAGIC`].
    pub magic: [u8; 16],
    /// `size_of::<InfoRecord>()` in the plugin.
    pub record_size: u32,
    /// [`ABI_MAJOR`] the plugin was built with.
    pub abi_major: u32,
    /// [`ABI_MINOR`] the plugin was built with.
    pub abi_minor: u32,
    /// `size_of::<TValue>()` in the plugin.
    pub value_size: u32,
    /// `size_of::<PluginDescriptor>()` in the plugin.
    pub descriptor_size: u32,
    /// 1 if the plugin unwinds on panic (required in-process), 0 if it aborts.
    pub panic_unwind: u32,
    /// The SDK version (`tusk-plugin-sdk`'s crate version).
    pub sdk_version: [u8; 32],
    /// The plugin package name.
    pub package: [u8; 64],
    /// The plugin package version.
    pub version: [u8; 32],
    /// `arch-os` it was built for.
    pub target: [u8; 32],
}

const _: () = assert!(std::mem::size_of::<TValue>() == 24);
const _: () = assert!(std::mem::size_of::<InfoRecord>() == 16 + 6 * 4 + 32 + 64 + 32 + 32);

/// Copies `text` into a NUL-padded array (truncated to fit) at compile time.
pub const fn fixed<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < bytes.len() && i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// The text of a NUL-padded field.
pub fn fixed_text(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    std::str::from_utf8(&field[..end]).unwrap_or("<invalid utf-8>")
}

/// Copies `parts`, one after the other, into a NUL-padded array at compile time.
pub const fn fixed_joined<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut part = 0;
    while part < parts.len() {
        let bytes = parts[part].as_bytes();
        let mut i = 0;
        while i < bytes.len() && at < N {
            out[at] = bytes[i];
            at += 1;
            i += 1;
        }
        part += 1;
    }
    out
}

impl InfoRecord {
    /// The record for a plugin package (used by `export_plugin!`).
    pub const fn new(package: &str, version: &str) -> InfoRecord {
        InfoRecord {
            magic: INFO_MAGIC,
            record_size: std::mem::size_of::<InfoRecord>() as u32,
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            value_size: std::mem::size_of::<TValue>() as u32,
            descriptor_size: std::mem::size_of::<PluginDescriptor>() as u32,
            panic_unwind: if cfg!(panic = "unwind") { 1 } else { 0 },
            sdk_version: fixed(env!("CARGO_PKG_VERSION")),
            package: fixed(package),
            version: fixed(version),
            target: fixed_joined(&[std::env::consts::ARCH, "-", std::env::consts::OS]),
        }
    }
}

/// Functions the host gives the plugin. Size-prefixed and append-only. `context` is passed
/// back to every function; `call` is the per-call context the host passed to `call`.
#[repr(C)]
pub struct HostApi {
    /// `size_of::<HostApi>()` in the host.
    pub size: u32,
    /// The host's [`ABI_MINOR`].
    pub abi_minor: u32,
    /// Opaque host state for this plugin.
    pub context: *mut c_void,
    /// A new string (copied). Returns a `STRING` handle.
    pub make_string: unsafe extern "C" fn(context: *mut c_void, text: StrRef) -> TValue,
    /// A new array; consumes the items' references.
    pub make_array: unsafe extern "C" fn(context: *mut c_void, items: *const TValue, len: usize) -> TValue,
    /// A new object; consumes the values' references.
    pub make_object:
        unsafe extern "C" fn(context: *mut c_void, keys: *const StrRef, values: *const TValue, len: usize) -> TValue,
    /// Adds a reference to a handle.
    pub retain: unsafe extern "C" fn(context: *mut c_void, value: *const TValue),
    /// Drops a reference to a handle.
    pub release: unsafe extern "C" fn(context: *mut c_void, value: *const TValue),
    /// The text of a `STRING`, valid while the handle lives.
    pub string_view: unsafe extern "C" fn(context: *mut c_void, value: *const TValue, out: *mut StrRef) -> u32,
    /// Items of an array, entries of an object (0 for other values).
    pub length: unsafe extern "C" fn(context: *mut c_void, value: *const TValue) -> usize,
    /// Item `index` of an array (a new reference in `out`).
    pub array_get:
        unsafe extern "C" fn(context: *mut c_void, array: *const TValue, index: usize, out: *mut TValue) -> u32,
    /// The value under `key` (a new reference in `out`), or `NOT_FOUND`.
    pub object_get:
        unsafe extern "C" fn(context: *mut c_void, object: *const TValue, key: StrRef, out: *mut TValue) -> u32,
    /// Entry `index` of an object: key (valid while the object lives) and value (new reference).
    pub object_entry: unsafe extern "C" fn(
        context: *mut c_void,
        object: *const TValue,
        index: usize,
        key: *mut StrRef,
        value: *mut TValue,
    ) -> u32,
    /// Calls a function value (a script lambda) with arguments (borrowed); result in `out`.
    pub call_function: unsafe extern "C" fn(
        context: *mut c_void,
        call: *mut c_void,
        function: *const TValue,
        args: *const TValue,
        argc: usize,
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> u32,
    /// Wraps plugin object `object` (of the registered type `type_name`) as a host value.
    pub make_plugin_object: unsafe extern "C" fn(context: *mut c_void, type_name: StrRef, object: u64) -> TValue,
    /// Logs through the host: level 0 trace … 4 error; `fields` is an object or null.
    pub log: unsafe extern "C" fn(context: *mut c_void, level: u32, message: StrRef, fields: *const TValue),
    /// Reads a file the user granted (permission-checked by the host). Result: a `STRING`.
    pub read_file:
        unsafe extern "C" fn(context: *mut c_void, path: StrRef, out: *mut TValue, error: *mut ErrorOut) -> u32,
    /// Writes a file the user granted (atomically).
    pub write_file: unsafe extern "C" fn(context: *mut c_void, path: StrRef, data: StrRef, error: *mut ErrorOut) -> u32,
    /// Reads an environment variable the user granted; `NOT_FOUND` if unset.
    pub read_env:
        unsafe extern "C" fn(context: *mut c_void, name: StrRef, out: *mut TValue, error: *mut ErrorOut) -> u32,
    /// Checks that the plugin may open a network connection to `host:port`.
    pub check_connect: unsafe extern "C" fn(context: *mut c_void, host: StrRef, port: u16, error: *mut ErrorOut) -> u32,
    /// Non-zero when the host asks the running call to stop (deadline, Ctrl-C).
    pub is_cancelled: unsafe extern "C" fn(context: *mut c_void, call: *mut c_void) -> u32,
    // ---- ABI 1.1 (a plugin checks `size` before using these)
    /// Appends to a file the user granted (created if missing).
    pub append_file:
        unsafe extern "C" fn(context: *mut c_void, path: StrRef, data: StrRef, error: *mut ErrorOut) -> u32,
    /// The absolute path `path` means (relative paths are relative to the running script).
    pub resolve_path: unsafe extern "C" fn(context: *mut c_void, path: StrRef, out: *mut TValue) -> u32,
}

/// What the plugin's entry symbol returns. Size-prefixed and append-only.
#[repr(C)]
pub struct PluginDescriptor {
    /// `size_of::<PluginDescriptor>()` in the plugin.
    pub size: u32,
    /// [`ABI_MAJOR`].
    pub abi_major: u32,
    /// The info record (the same bytes the host read from the file).
    pub info: *const InfoRecord,
    /// Creates the plugin, runs its `initialize` with the configuration (JSON text).
    pub init: unsafe extern "C" fn(host: *const HostApi, config_json: StrRef, error: *mut ErrorOut) -> u32,
    /// Runs the plugin's `shutdown`.
    pub shutdown: unsafe extern "C" fn(error: *mut ErrorOut) -> u32,
    /// Number of symbols registered by `init`.
    pub symbol_count: unsafe extern "C" fn() -> u32,
    /// Symbol `index`.
    pub symbol_info: unsafe extern "C" fn(index: u32, out: *mut SymbolInfo) -> u32,
    /// Calls the symbol whose `SymbolInfo::handle` is `symbol`. `call` is the host's per-call
    /// context, passed back in callbacks.
    pub call: unsafe extern "C" fn(
        symbol: *const c_void,
        call: *mut c_void,
        args: *const TValue,
        argc: usize,
        out: *mut TValue,
        error: *mut ErrorOut,
    ) -> u32,
    /// The script dropped its last reference to plugin object `object`.
    pub drop_object: unsafe extern "C" fn(object: u64),
    /// Plugin name (as `name()` returns it) and version, valid until `shutdown`.
    pub identity: unsafe extern "C" fn(name: *mut StrRef, version: *mut StrRef),
}
