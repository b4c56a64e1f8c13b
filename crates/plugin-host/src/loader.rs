//! Loading one plugin library, with every check made before any plugin code runs:
//! the info record is read from the file (no `dlopen` yet) and compared with what this host
//! expects; the exact bytes are copied to a content-addressed cache and loaded from there
//! (so a rebuilt library is a new file, which hot reload needs); after `init`, what the plugin
//! registered must equal what its manifest declares.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};
use tusk_eval::{CallContext, DirectCall, Implementation, NativeFn, RuntimeError, SymbolKind, Thunk, Value};
use tusk_plugin_abi::{self as abi, InfoRecord, PluginDescriptor, TValue, error_kind, fixed_text, status, symbol_kind};

use crate::crash::{self, CrashNote};
use crate::ffi::{self, FastSymbol, HostContext, HostServices, PluginFailure, RegisteredSymbol, SymbolHandle};
use crate::sandboxed::{CallFailure, SandboxedPlugin};

/// Why a plugin library could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The library file could not be read or copied.
    #[error("{0}")]
    Io(String),
    /// The file has no info record: not a TuskLang plugin, or built without `export_plugin!`.
    #[error("{path} is not a TuskLang plugin: it has no info record (build it with `tusk_plugin_sdk::export_plugin!`)")]
    NotAPlugin {
        /// The file.
        path: String,
    },
    /// A field of the info record does not match what this host expects.
    #[error("{path} is incompatible: its {field} is {found}, this host expects {expected}")]
    Incompatible {
        /// The file.
        path: String,
        /// Which field.
        field: String,
        /// What the file says.
        found: String,
        /// What the host needs.
        expected: String,
    },
    /// `dlopen` or the entry symbol failed.
    #[error("{0}")]
    Open(String),
    /// The plugin's `initialize` failed (or panicked).
    #[error("plugin `{plugin}` failed to initialize: {message}")]
    Init {
        /// The plugin.
        plugin: String,
        /// What it said.
        message: String,
    },
    /// The library is not the plugin the manifest describes, or registers other symbols.
    #[error("plugin `{plugin}` does not match its manifest: {message}")]
    ManifestMismatch {
        /// The plugin.
        plugin: String,
        /// The differences.
        message: String,
    },
}

/// Reads the info record from a library file without loading it.
///
/// An ELF library's record is read where its section table says it is (a few kilobytes);
/// reading the whole file, megabytes for a plugin built with debug information, was most of a
/// plugin's first use in a new process. Other files are read whole and scanned.
pub fn read_info_record(path: &Path) -> Result<InfoRecord, LoadError> {
    let cannot_read = |error: std::io::Error| LoadError::Io(format!("cannot read {}: {error}", path.display()));
    #[cfg(unix)]
    {
        let file = std::fs::File::open(path).map_err(cannot_read)?;
        if let Some(info) = info_record_in_section(&file) {
            return Ok(info);
        }
    }
    let bytes = std::fs::read(path).map_err(cannot_read)?;
    parse_info_record(path, &bytes)
}

/// Finds the info record in the bytes of the library at `path` (named in the error).
pub fn parse_info_record(path: &Path, bytes: &[u8]) -> Result<InfoRecord, LoadError> {
    find_info_record(bytes).ok_or_else(|| LoadError::NotAPlugin { path: path.display().to_string() })
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap_or_default())
}

/// The name of the ELF section the SDK puts the info record in.
const INFO_SECTION: &str = ".tusk_plugin_info";

/// Finds and decodes the record: the ELF section when there is one, else a scan for the magic.
fn find_info_record(bytes: &[u8]) -> Option<InfoRecord> {
    info_record_in_section(bytes).or_else(|| {
        let start = bytes.windows(16).position(|window| window == abi::INFO_MAGIC)?;
        decode_info_record(bytes.get(start..start.checked_add(std::mem::size_of::<InfoRecord>())?)?)
    })
}

/// The record in its ELF section, when the library is an ELF file that has one.
fn info_record_in_section<B: LibraryBytes + ?Sized>(library: &B) -> Option<InfoRecord> {
    let size = std::mem::size_of::<InfoRecord>();
    let (offset, length) = elf_section(library, INFO_SECTION)?;
    if length < size {
        return None;
    }
    decode_info_record(&library.at(offset, size)?)
}

/// A library's bytes, read by position: held in memory, or read from its file as needed.
trait LibraryBytes {
    /// The `length` bytes at `offset`, or `None` past the end.
    fn at(&self, offset: usize, length: usize) -> Option<std::borrow::Cow<'_, [u8]>>;
}

impl LibraryBytes for [u8] {
    fn at(&self, offset: usize, length: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        self.get(offset..offset.checked_add(length)?).map(std::borrow::Cow::Borrowed)
    }
}

#[cfg(unix)]
impl LibraryBytes for std::fs::File {
    fn at(&self, offset: usize, length: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        use std::os::unix::fs::FileExt;
        // A hostile section table may name any length: never more than the file holds.
        let end = offset.checked_add(length)?;
        if end as u64 > self.metadata().ok()?.len() {
            return None;
        }
        let mut bytes = vec![0; length];
        self.read_exact_at(&mut bytes, offset as u64).ok()?;
        Some(std::borrow::Cow::Owned(bytes))
    }
}

/// Decodes a record (`size_of::<InfoRecord>()` bytes that start with the magic).
fn decode_info_record(record: &[u8]) -> Option<InfoRecord> {
    if record.len() < std::mem::size_of::<InfoRecord>() || record.get(..16) != Some(&abi::INFO_MAGIC[..]) {
        return None;
    }
    let field = |offset: &mut usize, length: usize| {
        let slice = &record[*offset..*offset + length];
        *offset += length;
        slice
    };
    let mut offset = 16;
    let numbers: Vec<u32> = (0..6).map(|_| u32_at(field(&mut offset, 4), 0)).collect();
    let mut text = |length: usize| -> Vec<u8> { field(&mut offset, length).to_vec() };
    let sdk_version = text(32);
    let package = text(64);
    let version = text(32);
    let target = text(32);
    Some(InfoRecord {
        magic: abi::INFO_MAGIC,
        record_size: numbers[0],
        abi_major: numbers[1],
        abi_minor: numbers[2],
        value_size: numbers[3],
        descriptor_size: numbers[4],
        panic_unwind: numbers[5],
        sdk_version: sdk_version.try_into().ok()?,
        package: package.try_into().ok()?,
        version: version.try_into().ok()?,
        target: target.try_into().ok()?,
    })
}

/// `(offset, size)` of a named section in a 64-bit little-endian ELF file.
fn elf_section<B: LibraryBytes + ?Sized>(library: &B, name: &str) -> Option<(usize, usize)> {
    let header = library.at(0, 0x40)?;
    if header.get(0..4)? != b"\x7fELF" || header.get(4)? != &2 || header.get(5)? != &1 {
        return None;
    }
    let u16_at = |bytes: &[u8], offset: usize| -> Option<usize> {
        Some(u16::from_le_bytes(bytes.get(offset..offset + 2)?.try_into().ok()?) as usize)
    };
    let u64_at = |bytes: &[u8], offset: usize| -> Option<usize> {
        usize::try_from(u64::from_le_bytes(bytes.get(offset..offset + 8)?.try_into().ok()?)).ok()
    };
    let section_table = u64_at(&header, 0x28)?;
    let entry_size = u16_at(&header, 0x3a)?;
    let count = u16_at(&header, 0x3c)?;
    let names_index = u16_at(&header, 0x3e)?;
    if entry_size < 0x28 {
        return None;
    }
    let table = library.at(section_table, count.checked_mul(entry_size)?)?;
    let names_header = table.get(names_index.checked_mul(entry_size)?..)?;
    let names = library.at(u64_at(names_header, 0x18)?, u64_at(names_header, 0x20)?)?;
    for index in 0..count {
        let base = table.get(index * entry_size..)?;
        let start = u32_at(base, 0) as usize;
        let end = start + names.get(start..)?.iter().position(|&b| b == 0)?;
        if names.get(start..end)? == name.as_bytes() {
            return Some((u64_at(base, 0x18)?, u64_at(base, 0x20)?));
        }
    }
    None
}

/// Compares an info record with what this host can run in-process.
pub fn check_info_record(path: &Path, info: &InfoRecord) -> Result<(), LoadError> {
    let mismatch = |field: &str, found: String, expected: String| LoadError::Incompatible {
        path: path.display().to_string(),
        field: field.to_string(),
        found,
        expected,
    };
    if info.abi_major != abi::ABI_MAJOR {
        return Err(mismatch(
            "plugin ABI version",
            format!("{}.{} (tusk-plugin-sdk {})", info.abi_major, info.abi_minor, fixed_text(&info.sdk_version)),
            format!("{major}.x: rebuild the plugin against a tusk-plugin-sdk with ABI {major}", major = abi::ABI_MAJOR),
        ));
    }
    if info.record_size as usize != std::mem::size_of::<InfoRecord>() {
        return Err(mismatch(
            "info record size",
            info.record_size.to_string(),
            std::mem::size_of::<InfoRecord>().to_string(),
        ));
    }
    if info.value_size as usize != std::mem::size_of::<TValue>() {
        return Err(mismatch("value size", info.value_size.to_string(), std::mem::size_of::<TValue>().to_string()));
    }
    if (info.descriptor_size as usize) < tusk_plugin_abi::MIN_DESCRIPTOR_SIZE {
        return Err(mismatch(
            "descriptor size",
            info.descriptor_size.to_string(),
            format!("at least {}", tusk_plugin_abi::MIN_DESCRIPTOR_SIZE),
        ));
    }
    let host_target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    if fixed_text(&info.target) != host_target {
        return Err(mismatch("target", fixed_text(&info.target).to_string(), host_target));
    }
    if info.panic_unwind != 1 {
        return Err(mismatch(
            "panic strategy",
            "abort".to_string(),
            "unwind (a panicking plugin would take the host down; build without `panic = \"abort\"`)".to_string(),
        ));
    }
    Ok(())
}

/// Copies a library's bytes (already read from `library`) to `<cache>/<name>/<sha256
/// prefix>.<ext>` (once) and returns the copy.
pub fn cache_copy(bytes: &[u8], library: &Path, name: &str, cache: &Path) -> Result<PathBuf, LoadError> {
    let extension = library.extension().and_then(|e| e.to_str()).unwrap_or("so");
    let target = cache.join(name).join(format!("{}.{extension}", content_hash(bytes)));
    write_copy(&target, bytes)?;
    Ok(target)
}

/// The cache copy an earlier load made of exactly this file (same device, inode, size,
/// modification and change time), which then passed every check: a later process loads it
/// without reading and hashing the library again (most of a plugin's first use).
pub fn known_cache_copy(library: &Path, name: &str, cache: &Path) -> Option<PathBuf> {
    let hash = std::fs::read_to_string(stamp_file(library, name, cache)?).ok()?;
    let extension = library.extension().and_then(|e| e.to_str()).unwrap_or("so");
    let copy = cache.join(name).join(format!("{}.{extension}", hash.trim()));
    copy.is_file().then_some(copy)
}

/// Records that `copy` holds the bytes of `library` as it is now (see [`known_cache_copy`]).
/// A failure only costs the next process a hash.
pub fn remember_cache_copy(library: &Path, name: &str, cache: &Path, copy: &Path) {
    if let (Some(file), Some(hash)) = (stamp_file(library, name, cache), copy.file_stem().and_then(|s| s.to_str())) {
        let _ = tusk_plugin_boundary::fs::write_atomically(&file, hash.as_bytes());
    }
}

#[cfg(unix)]
fn stamp_file(library: &Path, name: &str, cache: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(library).ok()?;
    let stamp = format!(
        "{:x}-{:x}-{:x}-{:x}.{:x}-{:x}.{:x}",
        metadata.dev(),
        metadata.ino(),
        metadata.size(),
        metadata.mtime(),
        metadata.mtime_nsec(),
        metadata.ctime(),
        metadata.ctime_nsec()
    );
    Some(cache.join(name).join(format!("{stamp}.stamp")))
}

#[cfg(not(unix))]
fn stamp_file(_library: &Path, _name: &str, _cache: &Path) -> Option<PathBuf> {
    None
}

/// The content address of library bytes: the first 16 bytes of their SHA-256, in hex.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

/// Writes `bytes` (already read from `library`) to the cache for a new generation of a running
/// plugin: `<cache>/<name>/<hash>.<ext>`, or `<hash>-<n>.<ext>` when the plain copy's image is
/// initialised in this process right now.
///
/// The loader opens files, and the dynamic linker hands back the image it already has for a
/// file it has open: initialising that image again would overwrite the statics of the running
/// instance (its host table, its registrations) under it. Going back to an earlier build while
/// that generation still serves calls is the case this guards (A, then B, then A again). A
/// different file with the same bytes is a different image with statics of its own.
pub fn fresh_cache_copy(bytes: &[u8], library: &Path, name: &str, cache: &Path) -> Result<PathBuf, LoadError> {
    let hash = content_hash(bytes);
    let extension = library.extension().and_then(|e| e.to_str()).unwrap_or("so");
    let directory = cache.join(name);
    let in_use = initialised_images();
    let target = std::iter::once(directory.join(format!("{hash}.{extension}")))
        .chain((2..).map(|n| directory.join(format!("{hash}-{n}.{extension}"))))
        .find(|candidate| !in_use.contains(&canonical(candidate)))
        .unwrap_or_default();
    drop(in_use);
    // No `fsync` here: it is most of a reload's time on a busy disk, and the copy is checked
    // instead. A copy torn by a crash has other bytes than its name says; comparing them with
    // the bytes in hand (one read from the page cache) catches that, and the copy is rewritten.
    if std::fs::read(&target).is_ok_and(|existing| existing == bytes) {
        return Ok(target);
    }
    if let Some(directory) = target.parent() {
        std::fs::create_dir_all(directory)
            .map_err(|error| LoadError::Io(format!("cannot create {}: {error}", directory.display())))?;
    }
    tusk_plugin_boundary::fs::write_atomically_with(&target, bytes, false)
        .map_err(|error| LoadError::Io(format!("cannot write {}: {error}", target.display())))?;
    Ok(target)
}

fn write_copy(target: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    if target.exists() {
        return Ok(());
    }
    if let Some(directory) = target.parent() {
        std::fs::create_dir_all(directory)
            .map_err(|error| LoadError::Io(format!("cannot create {}: {error}", directory.display())))?;
    }
    tusk_plugin_boundary::fs::write_atomically(target, bytes)
        .map_err(|error| LoadError::Io(format!("cannot write {}: {error}", target.display())))
}

/// Library files whose plugin is initialised (between `init` and `shutdown`) in this process.
/// Process-wide because images are: two engines share whatever the dynamic linker mapped.
static INITIALISED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn initialised_images() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<PathBuf>> {
    INITIALISED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One registered symbol of a loaded plugin.
#[derive(Clone)]
pub struct LoadedSymbol {
    /// The name (without `@`).
    pub name: String,
    /// Operator, function, or `None` for a type.
    pub kind: Option<SymbolKind>,
    /// e.g. `@log(level, message)`.
    pub signature: String,
    /// One sentence.
    pub summary: String,
    /// `expression => expected JSON`.
    pub examples: Vec<String>,
    /// Lazy argument bits.
    pub lazy_arguments: u64,
    /// Has effects outside the script.
    pub side_effects: bool,
    handle: SymbolRef,
    /// What an in-process call of it needs, made on its first use.
    fast: std::cell::OnceCell<FastEntry>,
}

/// An in-process symbol's [`FastSymbol`], by the kind of entry the plugin has for it.
#[derive(Clone, Copy)]
enum FastEntry {
    /// A lean entry (ABI 1.6).
    Lean(&'static FastSymbol<abi::LeanCallFn>),
    /// Its own entry (ABI 1.5) or the descriptor's `call`.
    Own(&'static FastSymbol<abi::CallFn>),
}

impl LoadedSymbol {
    /// `@name` for an operator, `name` otherwise, as scripts write it.
    fn display_name(&self) -> String {
        match self.kind {
            Some(SymbolKind::Operator) => format!("@{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// How a symbol is dispatched: a direct pointer in-process, an index in a sandboxed runner.
#[derive(Clone, Copy)]
enum SymbolRef {
    InProcess(SymbolHandle),
    Sandboxed(u32),
}

/// Where a loaded plugin runs.
enum Backend {
    /// In this process: direct calls through the descriptor.
    InProcess { host: &'static HostContext, descriptor: &'static PluginDescriptor },
    /// In a sandboxed runner process.
    Sandboxed(Rc<SandboxedPlugin>),
}

/// A plugin library loaded in this process and initialised.
pub struct LoadedPlugin {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it was loaded from (the cache copy).
    pub loaded_from: PathBuf,
    /// What it registered.
    pub symbols: Vec<LoadedSymbol>,
    /// The configuration JSON `initialize` received (a reload initialises the next generation
    /// with the same).
    pub config_json: String,
    backend: Backend,
    shut_down: std::cell::Cell<bool>,
    /// Replaced by a newer generation: `shutdown` runs when the last reference goes.
    retired: std::cell::Cell<bool>,
    services: Rc<dyn HostServices>,
}

/// What the manifest says the library must be and provide.
pub struct Expected<'a> {
    /// `name` from the manifest.
    pub name: &'a str,
    /// `version` from the manifest.
    pub version: &'a str,
    /// Operators from `[capabilities]`.
    pub operators: &'a [String],
    /// Functions from `[capabilities]`.
    pub functions: &'a [String],
    /// Types from `[capabilities]`.
    pub types: &'a [String],
    /// True: what the library registers must be what `[capabilities]` lists. False: only the
    /// name and version are compared (for `tusk plugin check --write-capabilities`, which loads
    /// a plugin to rewrite those lists from its registrations).
    pub capabilities: bool,
}

fn failure_text(failure: &PluginFailure) -> String {
    if failure.help.is_empty() { failure.message.clone() } else { format!("{} ({})", failure.message, failure.help) }
}

/// Loads `library` (already copied to the cache), initialises it with `config_json`, and
/// checks it against the manifest.
pub fn load(
    library: &Path,
    expected: &Expected<'_>,
    config_json: &str,
    services: Rc<dyn HostServices>,
) -> Result<Rc<LoadedPlugin>, LoadError> {
    let info = read_info_record(library)?;
    load_with_record(library, &info, expected, config_json, services)
}

/// [`load`] for a copy whose bytes the caller has just written and whose info record it has
/// just read from those bytes (a hot reload): reading a large library once more was a
/// quarter of a reload's time.
pub fn load_with_record(
    library: &Path,
    info: &InfoRecord,
    expected: &Expected<'_>,
    config_json: &str,
    services: Rc<dyn HostServices>,
) -> Result<Rc<LoadedPlugin>, LoadError> {
    check_info_record(library, info)?;
    let descriptor = ffi::open_library(library).map_err(LoadError::Open)?;
    if descriptor.abi_major != abi::ABI_MAJOR || (descriptor.size as usize) < tusk_plugin_abi::MIN_DESCRIPTOR_SIZE {
        return Err(LoadError::Incompatible {
            path: library.display().to_string(),
            field: "descriptor".into(),
            found: format!("ABI {} with {} bytes", descriptor.abi_major, descriptor.size),
            expected: format!("ABI {} with at least {} bytes", abi::ABI_MAJOR, tusk_plugin_abi::MIN_DESCRIPTOR_SIZE),
        });
    }
    let loaded_info = ffi::descriptor_info(descriptor);
    if loaded_info.map(|record| (record.package, record.version)) != Some((info.package, info.version)) {
        return Err(LoadError::ManifestMismatch {
            plugin: expected.name.to_string(),
            message: "the loaded library's info record differs from the file's".into(),
        });
    }
    let host = ffi::leak_context(expected.name, services.clone());
    host.backend().set_descriptor(descriptor);
    host.set_plugin_abi_minor(info.abi_minor);
    let running = crash::running(CrashNote::leak(expected.name, "its initialize"));
    let initialised = ffi::init(descriptor, host, config_json);
    drop(running);
    initialised
        .map_err(|failure| LoadError::Init { plugin: expected.name.to_string(), message: failure_text(&failure) })?;
    initialised_images().insert(canonical(library));
    let plugin = Rc::new(LoadedPlugin {
        name: expected.name.to_string(),
        version: expected.version.to_string(),
        loaded_from: library.to_path_buf(),
        symbols: ffi::symbols(descriptor)
            .into_iter()
            .map(|RegisteredSymbol { handle, symbol }| LoadedSymbol {
                kind: match symbol.kind {
                    symbol_kind::OPERATOR => Some(SymbolKind::Operator),
                    symbol_kind::FUNCTION => Some(SymbolKind::Function),
                    _ => None,
                },
                name: symbol.name,
                signature: symbol.signature,
                summary: symbol.summary,
                examples: symbol.examples,
                lazy_arguments: symbol.lazy_arguments,
                side_effects: symbol.side_effects,
                handle: SymbolRef::InProcess(handle),
                fast: std::cell::OnceCell::new(),
            })
            .collect(),
        config_json: config_json.to_string(),
        backend: Backend::InProcess { host, descriptor },
        shut_down: std::cell::Cell::new(false),
        retired: std::cell::Cell::new(false),
        services,
    });
    if let Err(message) = plugin.check_against(expected, ffi::identity(descriptor)) {
        let _ = plugin.shutdown();
        return Err(LoadError::ManifestMismatch { plugin: expected.name.to_string(), message });
    }
    Ok(plugin)
}

impl LoadedPlugin {
    fn check_against(&self, expected: &Expected<'_>, (name, version): (String, String)) -> Result<(), String> {
        let mut problems = Vec::new();
        if name != expected.name {
            problems.push(format!("it calls itself `{name}`, the manifest says `{}`", expected.name));
        }
        if version != expected.version {
            problems.push(format!("its version is {version}, the manifest says {}", expected.version));
        }
        let lists: &[(Option<SymbolKind>, &[String], &str)] = if expected.capabilities {
            &[
                (Some(SymbolKind::Operator), expected.operators, "operator"),
                (Some(SymbolKind::Function), expected.functions, "function"),
                (None, expected.types, "type"),
            ]
        } else {
            &[]
        };
        for &(kind, declared, label) in lists {
            let registered: Vec<&str> =
                self.symbols.iter().filter(|s| s.kind == kind).map(|s| s.name.as_str()).collect();
            let prefix = if label == "operator" { "@" } else { "" };
            for missing in declared.iter().filter(|d| !registered.contains(&d.as_str())) {
                problems.push(format!(
                    "the manifest declares {label} `{prefix}{missing}`, which the library does not register"
                ));
            }
            for extra in registered.iter().filter(|r| !declared.iter().any(|d| d == *r)) {
                problems.push(format!(
                    "the library registers {label} `{prefix}{extra}`, which the manifest does not declare"
                ));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }

    /// The symbol `name` of `kind`.
    pub fn symbol(&self, kind: SymbolKind, name: &str) -> Option<&LoadedSymbol> {
        self.symbols.iter().find(|symbol| symbol.kind == Some(kind) && symbol.name == name)
    }

    /// The evaluator-side implementation of a symbol: converts arguments, calls the plugin, and
    /// turns plugin errors and panics into runtime errors at the call. An in-process plugin's
    /// symbol is a [`DirectCall`] (the interpreter lends it the arguments and calls the
    /// symbol's own entry through it, no closure in between); a sandboxed one's a function.
    pub fn implementation(self: &Rc<Self>, symbol: &LoadedSymbol) -> Implementation {
        match self.in_process_symbol(symbol) {
            Some(direct) => Implementation::Direct(direct),
            None => Implementation::Native(self.native_function(symbol)),
        }
    }

    /// The evaluator-side function for a symbol, as [`LoadedPlugin::implementation`] but
    /// always a `NativeFn` (an in-process symbol's lends the arguments it is given).
    pub fn native_function(self: &Rc<Self>, symbol: &LoadedSymbol) -> Rc<NativeFn> {
        if let Some(direct) = self.in_process_symbol(symbol) {
            return Rc::new(move |ctx: &mut CallContext<'_, '_>, args: &[Value]| direct.call_values(ctx, args));
        }
        let plugin = self.clone();
        let display = symbol.display_name();
        match (&self.backend, symbol.handle) {
            (Backend::Sandboxed(remote), SymbolRef::Sandboxed(index)) => {
                let remote = remote.clone();
                Rc::new(move |ctx: &mut CallContext<'_, '_>, args: &[Value]| {
                    if plugin.shut_down.get() {
                        return Err(shut_down_error(&plugin.name));
                    }
                    remote.call(index, ctx, args).map_err(|failure| match failure {
                        CallFailure::Plugin(failure) => runtime_error(&plugin.name, &display, failure),
                        CallFailure::Fault(message) => RuntimeError::message(message).in_callable(&display),
                    })
                })
            }
            _ => Rc::new(|_: &mut CallContext<'_, '_>, _: &[Value]| {
                Err(RuntimeError::message("internal error: a symbol of another plugin (please report)"))
            }),
        }
    }

    /// `symbol` as an in-process call, when this generation runs in-process: through the
    /// symbol's lean entry when the plugin has one (ABI 1.6), else its own entry or `call`.
    fn in_process_symbol(self: &Rc<Self>, symbol: &LoadedSymbol) -> Option<Rc<dyn DirectCall>> {
        let (Backend::InProcess { host, descriptor }, SymbolRef::InProcess(handle)) = (&self.backend, symbol.handle)
        else {
            return None;
        };
        // Made once per symbol of this generation (it is leaked), however many
        // implementations are made of it.
        let fast = *symbol.fast.get_or_init(|| {
            let display = symbol.display_name();
            let crash_note = CrashNote::new(&self.name, &display);
            match ffi::lean_entry_of(descriptor, handle) {
                Some(entry) => FastEntry::Lean(FastSymbol::leak(host, entry, handle, crash_note, display)),
                None => {
                    let entry = ffi::entry_of(descriptor, handle);
                    FastEntry::Own(FastSymbol::leak(host, entry, handle, crash_note, display))
                }
            }
        });
        let thunk = match fast {
            FastEntry::Lean(fast) => fast.thunk(),
            FastEntry::Own(fast) => fast.thunk(),
        };
        Some(Rc::new(InProcessSymbol { thunk, _generation: self.clone() }))
    }

    /// Runs the plugin's `shutdown` (once); later calls fail cleanly. A sandboxed plugin gets
    /// the shutdown timeout of its sandbox settings, then its runner is killed.
    pub fn shutdown(&self) -> Result<(), String> {
        self.shutdown_within(None)
    }

    /// [`LoadedPlugin::shutdown`], a sandboxed plugin getting at most `limit` (when given).
    /// An in-process plugin's `shutdown` runs on this thread and cannot be cut short.
    pub fn shutdown_within(&self, limit: Option<std::time::Duration>) -> Result<(), String> {
        if self.shut_down.replace(true) {
            return Ok(());
        }
        match &self.backend {
            Backend::InProcess { host, descriptor } => shut_down_in_process(host, descriptor, &self.loaded_from),
            Backend::Sandboxed(remote) => {
                let result = remote.shutdown(limit);
                initialised_images().remove(&canonical(&self.loaded_from));
                result
            }
        }
    }

    /// Deactivates this generation after a newer one took its place (hot reload): `shutdown`
    /// runs as soon as nothing holds it any more, that is when the calls still running on it
    /// have returned. The library stays mapped (it is never unloaded).
    pub fn retire(&self) {
        self.retired.set(true);
    }

    /// True once a newer generation replaced this one.
    pub fn is_retired(&self) -> bool {
        self.retired.get()
    }

    /// True after `shutdown`.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.get()
    }

    /// Host values the plugin still holds (a leak check for tests and `tusk plugin check`).
    pub fn live_handles(&self) -> usize {
        match &self.backend {
            Backend::InProcess { host, .. } => host.live_handles(),
            Backend::Sandboxed(remote) => remote.live_values(),
        }
    }
}

/// An in-process plugin's `shutdown`, once its flag is set: later calls of its symbols fail,
/// its `shutdown` runs (marked for the crash handler), its objects no longer call into it, and
/// its image may be loaded afresh.
fn shut_down_in_process(
    host: &'static HostContext,
    descriptor: &'static PluginDescriptor,
    loaded_from: &Path,
) -> Result<(), String> {
    let backend = host.backend();
    backend.close();
    let name = backend.plugin_name();
    let running = crash::running(CrashNote::leak(name, "its shutdown"));
    let result = ffi::shutdown(host, descriptor)
        .map_err(|failure| format!("plugin `{name}` failed to shut down: {}", failure_text(&failure)));
    drop(running);
    backend.retire();
    initialised_images().remove(&canonical(loaded_from));
    result
}

impl Drop for LoadedPlugin {
    fn drop(&mut self) {
        // Only a retired generation shuts itself down: a current one is shut down by its host,
        // in reverse dependency order.
        if !self.retired.get() || self.shut_down.get() {
            return;
        }
        // Calls still running on it came through symbol thunks, which hold no reference to
        // it (a call through anything else would): its `shutdown` waits for the outermost of
        // them to return, as it would have waited for the last reference.
        if let Backend::InProcess { host, descriptor } = self.backend
            && host.backend().in_call()
        {
            self.shut_down.set(true);
            let (loaded_from, services) = (self.loaded_from.clone(), self.services.clone());
            host.backend().defer_shutdown(Box::new(move || {
                if let Err(message) = shut_down_in_process(host, descriptor, &loaded_from) {
                    let name = host.backend().plugin_name();
                    services.log(name, 4, &format!("the replaced generation: {message}"), &Value::Null);
                }
            }));
            return;
        }
        if let Err(message) = self.shutdown() {
            self.services.log(&self.name, 4, &format!("the replaced generation: {message}"), &Value::Null);
        }
    }
}

/// An in-process plugin's symbol, called directly by the interpreter: through its thunk (see
/// [`FastSymbol`]), or through this for the routes that keep a function. It holds its
/// generation, so a call in flight through it keeps it; a call through the thunk holds
/// nothing, and the generation's shutdown waits for it instead (see `LoadedPlugin`'s `drop`).
///
/// Not generic over the kind of entry, and calling through the thunk rather than
/// `FastSymbol::call`: a generic implementation of another crate's trait is compiled for other
/// crates too, so everything it reaches (the crash note's static among them) would be
/// exported, and every use of an exported static goes through the offset table.
struct InProcessSymbol {
    thunk: Thunk,
    /// Held, never read: it keeps the generation while this can be called.
    _generation: Rc<LoadedPlugin>,
}

impl DirectCall for InProcessSymbol {
    fn call(&self, ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
        self.thunk.call(ctx, args)
    }

    fn thunk(&self) -> Option<Thunk> {
        Some(self.thunk)
    }
}

/// The error of a call of a plugin that has been shut down.
#[cold]
pub(crate) fn shut_down_error(plugin: &str) -> RuntimeError {
    RuntimeError::message(format!("plugin `{plugin}` has been shut down"))
}

/// The error of a failed plugin call, at the call of `display`: the plugin's message with
/// nested failures of the same symbol collapsed, and the plugin named once (in a note, unless
/// the message names it already).
#[cold]
pub(crate) fn runtime_error(plugin: &str, display: &str, failure: PluginFailure) -> RuntimeError {
    let message = collapse_repeats(display, &failure.message);
    let names_plugin = message.contains(&format!("plugin `{plugin}`"));
    let mut error = match failure.argument {
        Some(index) => RuntimeError::argument(index, message),
        None => RuntimeError::message(message),
    };
    if !failure.help.is_empty() {
        error = error.with_help(failure.help);
    }
    if failure.status == status::PANIC {
        error = error.with_note(format!("the plugin `{plugin}` panicked; the host caught it and keeps running"));
    } else if !names_plugin && failure.kind == error_kind::SCRIPT {
        error = error.with_note(format!("plugin `{plugin}` passed this on from a script function it called"));
    } else if !names_plugin {
        error = error.with_note(format!("the error comes from plugin `{plugin}`"));
    }
    error.in_callable(display)
}

/// A failure that passed through script functions calling `display` again arrives as
/// `display: display: …: cause` (each level names its call); this makes it
/// `… N more calls of display: cause`, which the error's own `display: ` then leads.
fn collapse_repeats(display: &str, message: &str) -> String {
    let Some(rest) = message.strip_prefix(&format!("{display}: ")) else { return message.to_string() };
    let (count, cause) = rest
        .strip_prefix("… ")
        .and_then(|rest| rest.split_once(" more call"))
        .and_then(|(count, rest)| {
            let cause = rest.strip_prefix("s of ").or_else(|| rest.strip_prefix(" of "))?;
            let cause = cause.strip_prefix(&format!("{display}: "))?;
            Some((count.replace(',', "").parse::<usize>().ok()? + 1, cause))
        })
        .unwrap_or((1, rest));
    let plural = if count == 1 { "" } else { "s" };
    format!("… {} more call{plural} of {display}: {cause}", with_thousands(count))
}

/// `1998` → `1,998`.
fn with_thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// Sandboxed plugins: loading through a runner, and what the CLI shows about them.
impl LoadedPlugin {
    /// Starts `library` in a sandboxed runner (see [`crate::sandboxed`]), initialises it with
    /// `config_json`, and checks what it registered against the manifest, with the same
    /// errors as an in-process load.
    pub(crate) fn load_isolated(
        library: &Path,
        expected: &Expected<'_>,
        config_json: &str,
        services: Rc<dyn HostServices>,
        grants: &tusk_plugin_catalog::permissions::PluginGrants,
        settings: &crate::sandboxed::SandboxSettings,
    ) -> Result<Rc<LoadedPlugin>, LoadError> {
        let (remote, ready) =
            SandboxedPlugin::start(expected.name, library, config_json, grants, settings, services.clone())
                .map_err(|message| LoadError::Init { plugin: expected.name.to_string(), message })?;
        let symbols = ready
            .symbols
            .iter()
            .map(|symbol| LoadedSymbol {
                kind: match symbol.kind {
                    symbol_kind::OPERATOR => Some(SymbolKind::Operator),
                    symbol_kind::FUNCTION => Some(SymbolKind::Function),
                    _ => None,
                },
                name: symbol.name.clone(),
                signature: symbol.signature.clone(),
                summary: symbol.summary.clone(),
                examples: symbol.examples.clone(),
                lazy_arguments: symbol.lazy_arguments,
                side_effects: symbol.side_effects,
                handle: SymbolRef::Sandboxed(symbol.index),
                fast: std::cell::OnceCell::new(),
            })
            .collect();
        let plugin = Rc::new(LoadedPlugin {
            name: expected.name.to_string(),
            version: expected.version.to_string(),
            loaded_from: library.to_path_buf(),
            symbols,
            config_json: config_json.to_string(),
            backend: Backend::Sandboxed(remote),
            shut_down: std::cell::Cell::new(false),
            retired: std::cell::Cell::new(false),
            services,
        });
        if let Err(message) = plugin.check_against(expected, (ready.name.clone(), ready.version.clone())) {
            let _ = plugin.shutdown();
            return Err(LoadError::ManifestMismatch { plugin: expected.name.to_string(), message });
        }
        Ok(plugin)
    }

    /// Where the plugin runs.
    pub fn mode(&self) -> tusk_plugin_catalog::manifest::ExecutionMode {
        match self.backend {
            Backend::InProcess { .. } => tusk_plugin_catalog::manifest::ExecutionMode::InProcess,
            Backend::Sandboxed(_) => tusk_plugin_catalog::manifest::ExecutionMode::Sandboxed,
        }
    }

    /// The sandboxed runner, for a plugin that runs in one.
    pub fn sandboxed(&self) -> Option<&Rc<SandboxedPlugin>> {
        match &self.backend {
            Backend::Sandboxed(remote) => Some(remote),
            Backend::InProcess { .. } => None,
        }
    }

    /// The sandbox layers in force, for a plugin that runs sandboxed (`tusk plugin info`).
    pub fn sandbox_report(&self) -> Option<crate::sandboxed::SandboxReport> {
        self.sandboxed().map(|remote| remote.report())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_failures_of_one_symbol_collapse_into_a_count() {
        assert_eq!(collapse_repeats("f", "boom"), "boom");
        assert_eq!(collapse_repeats("f", "g: boom"), "g: boom");
        let mut message = "int: bad".to_string();
        for _ in 0..1999 {
            // Each level wraps the inner one as its call's error text does: `f: …`.
            message = format!("f: {}", collapse_repeats("f", &message));
        }
        assert_eq!(message, "f: … 1,998 more calls of f: int: bad");
        assert_eq!(collapse_repeats("f", "f: int: bad"), "… 1 more call of f: int: bad");
        assert_eq!(
            (with_thousands(7), with_thousands(1000), with_thousands(1234567)),
            ("7".into(), "1,000".into(), "1,234,567".into())
        );
    }
}
