//! The discovery index's file format: a compact binary encoding, read at every start-up.
//!
//! Reading the same content as JSON (serde) cost about 23,000 instructions per installed plugin,
//! most of a 100-plugin start-up's extra time; this format stores strings as length-prefixed
//! bytes and numbers as little-endian words. At start-up only each entry's head is checked: its
//! lengths, and the plugin's name and its operator, function and type names by the manifest's
//! own spelling rules (which also makes them ASCII). Those names are copied once, as inline keys,
//! into one vector for all entries, which every later walk reads without a check; the paths are
//! compared and used as they are; a plugin's full manifest (its body) is decoded when something
//! asks for it, usually the first call of one of its symbols. Any mistake in a file's structure
//! (truncated, corrupt, another format, a name no valid manifest has) reads as "no index":
//! discovery then parses every manifest and writes a new one.
//!
//! Layout: [`MAGIC`], the format number (`u32`), the host id, the entry count (`u32`), then per
//! entry the head: the manifest path, the manifest's stamp, the library's (a presence byte
//! first), the plugin's name, its library path, its operators, functions and types; then the
//! body: a `u32` byte length and the manifest's fields in declaration order. A string is a `u32`
//! byte length and the UTF-8 bytes; a list is a `u32` count and its items; `Option` is a byte 0
//! or 1 and the value.

use std::ops::Range;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};

use tusk_eval::Key;

use super::Stamp;
use crate::manifest::{Example, ExecutionMode, FileAccess, Manifest, NetworkAccess, Permissions};
use crate::names::{dotted_name, name_part, plugin_name};

/// The first bytes of every index file (a JSON index from an older tusk starts with `{`).
pub(super) const MAGIC: &[u8; 8] = b"TUSKIDX\0";

/// An index as read at start-up: the file's bytes, the checked head of every entry, and the
/// symbol names of all entries.
#[derive(Default)]
pub(super) struct Heads {
    pub(super) bytes: Vec<u8>,
    pub(super) entries: Vec<Entry>,
    /// Every entry's operators, functions and types, entry after entry (see [`Entry::symbols`]):
    /// checked and copied once, so that the catalogue's tables and the registry's checks read
    /// them without looking at the file's bytes again.
    names: Vec<Key>,
    /// The file the index was read from (empty for an index made in memory).
    pub(super) file: PathBuf,
}

/// One entry's head as checked at start-up: where its parts are in the file's bytes and the
/// stamps it was cached with.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    /// The whole entry, head and body (copied as it is when the index is rewritten).
    pub(super) whole: Range<usize>,
    /// The manifest path the entry was cached for (bytes, compared with the path found).
    pub(super) key: Range<usize>,
    pub(super) manifest: Stamp,
    pub(super) library: Option<Stamp>,
    /// Where the library's stamp is in the file's bytes, when there is one (patched by
    /// [`patch_stamp`] when a rebuilt library passes its checks at load).
    pub(super) library_stamp_at: Option<usize>,
    /// The plugin's name (checked as a manifest checks it).
    pub(super) name: Key,
    pub(super) library_path: Range<usize>,
    /// Where its operators, functions and types start in [`Heads::names`], and where its types
    /// end.
    symbols: [u32; 4],
    /// The encoded manifest (read by [`Heads::manifest`]).
    body: Range<usize>,
}

impl Heads {
    /// The operators, functions and types of entry `at`.
    pub(super) fn symbols(&self, at: usize) -> [&[Key]; 3] {
        let [operators, functions, types, end] = self.entries[at].symbols.map(|index| index as usize);
        [&self.names[operators..functions], &self.names[functions..types], &self.names[types..end]]
    }

    /// The path at `range` of the file (a manifest or library path of an entry's head), as the
    /// operating system takes it. `None` only where paths must be UTF-8 and this one is not.
    pub(super) fn path(&self, range: Range<usize>) -> Option<&Path> {
        let bytes = self.bytes.get(range)?;
        #[cfg(unix)]
        return Some(Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes)));
        #[cfg(not(unix))]
        return std::str::from_utf8(bytes).ok().map(Path::new);
    }

    /// Decodes the manifest of entry `at`; `None` if its body does not decode exactly.
    pub(super) fn manifest(&self, at: usize) -> Option<Manifest> {
        let body = self.entries[at].body.clone();
        let mut input = Reader { bytes: self.bytes.get(..body.end)?, at: body.start };
        let manifest = input.manifest()?;
        (input.rest() == 0).then_some(manifest)
    }
}

/// What [`encode`] writes for one plugin.
pub(super) enum Item<'a> {
    /// An entry of the index that was read, unchanged: its bytes are copied.
    Kept(&'a [u8]),
    /// A manifest that was parsed: (manifest path, manifest stamp, library stamp, manifest).
    New(&'a str, Stamp, Option<Stamp>, &'a Manifest),
}

/// Encodes the index. `None` when a path is not UTF-8 (such an installation is simply not
/// indexed).
pub(super) fn encode<'a>(format: u32, host: &str, items: impl ExactSizeIterator<Item = Item<'a>>) -> Option<Vec<u8>> {
    let mut out = Writer(Vec::with_capacity(64 + items.len() * 640));
    out.0.extend_from_slice(MAGIC);
    out.u32(format);
    out.str(host);
    out.u32(u32::try_from(items.len()).ok()?);
    for item in items {
        let (key, manifest_stamp, library_stamp, manifest) = match item {
            Item::Kept(bytes) => {
                out.0.extend_from_slice(bytes);
                continue;
            }
            Item::New(key, manifest_stamp, library_stamp, manifest) => (key, manifest_stamp, library_stamp, manifest),
        };
        out.str(key);
        out.stamp(manifest_stamp);
        match library_stamp {
            Some(stamp) => {
                out.u8(1);
                out.stamp(stamp);
            }
            None => out.u8(0),
        }
        out.str(&manifest.name);
        out.path(&manifest.library)?;
        out.strs(&manifest.operators);
        out.strs(&manifest.functions);
        out.strs(&manifest.types);
        let length_at = out.0.len();
        out.u32(0);
        out.manifest(manifest)?;
        let length = u32::try_from(out.0.len() - length_at - 4).ok()?;
        out.0[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
    }
    Some(out.0)
}

/// Checks the heads of an index written by [`encode`] with the same `format` and `host`;
/// `None` for anything else. Allocates two vectors, whatever the number of entries.
pub(super) fn decode(bytes: Vec<u8>, format: u32, host: &str) -> Option<Heads> {
    let mut input = Reader { bytes: &bytes, at: 0 };
    if input.bytes(MAGIC.len())? != MAGIC.as_slice() || input.u32()? != format || input.borrowed_str()? != host {
        return None;
    }
    let count = input.u32()? as usize;
    // The count comes from the file: bound the allocations by what the file can hold (an entry
    // takes at least 64 bytes, a name 4).
    let mut entries = Vec::with_capacity(count.min(input.rest() / 64));
    let mut names = Vec::with_capacity((count * 2).min(input.rest() / 4));
    // One entry's names as found, before they are copied.
    let mut found: Vec<Range<usize>> = Vec::new();
    for _ in 0..count {
        let start = input.at;
        let key = input.byte_range()?;
        let manifest = input.stamp()?;
        let library_stamp_at = input.flag()?.then_some(input.at);
        let library = if library_stamp_at.is_some() { Some(input.stamp()?) } else { None };
        let texts_at = input.at;
        let name = input.name(plugin_name)?;
        let library_path = input.byte_range()?;
        let mut symbols = [0; 4];
        found.clear();
        let rules: [fn(&[u8]) -> bool; 3] = [dotted_name, name_part, dotted_name];
        for (list, rule) in rules.into_iter().enumerate() {
            symbols[list] = u32::try_from(names.len() + found.len()).ok()?;
            for _ in 0..input.u32()? {
                found.push(input.name(rule)?);
            }
        }
        symbols[3] = u32::try_from(names.len() + found.len()).ok()?;
        // The names are ASCII (every rule says so): one UTF-8 check of the stretch from the
        // plugin's name to its last type makes all of them text at once, unless a length or
        // the library path in between is not (a long name, a path outside ASCII).
        let texts = bytes.get(texts_at..input.at)?;
        let texts = std::str::from_utf8(texts).ok();
        let text = |range: &Range<usize>| match texts {
            Some(texts) => texts.get(range.start - texts_at..range.end - texts_at),
            None => std::str::from_utf8(bytes.get(range.clone())?).ok(),
        };
        let name = Key::new(text(&name)?);
        for range in &found {
            names.push(Key::new(text(range)?));
        }
        let length = input.u32()? as usize;
        let body = input.at..input.at.checked_add(length)?;
        input.bytes(length)?;
        entries.push(Entry {
            whole: start..input.at,
            key,
            manifest,
            library,
            library_stamp_at,
            name,
            library_path,
            symbols,
            body,
        });
    }
    if input.rest() != 0 {
        return None;
    }
    Some(Heads { bytes, entries, names, file: PathBuf::new() })
}

/// Writes `stamp` over the one at `at` of an index's bytes (see [`Entry::library_stamp_at`]);
/// `None` when the bytes are too short.
pub(super) fn patch_stamp(bytes: &mut [u8], at: usize, stamp: Stamp) -> Option<()> {
    let mut encoded = Writer(Vec::with_capacity(STAMP_LEN));
    encoded.stamp(stamp);
    bytes.get_mut(at..at.checked_add(STAMP_LEN)?)?.copy_from_slice(&encoded.0);
    Some(())
}

/// The bytes of an encoded [`Stamp`]: three little-endian words.
const STAMP_LEN: usize = 24;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    fn str(&mut self, text: &str) {
        // Manifests and paths are far below 4 GiB; `encode` is never given more.
        self.u32(text.len() as u32);
        self.0.extend_from_slice(text.as_bytes());
    }

    fn path(&mut self, path: &Path) -> Option<()> {
        self.str(path.to_str()?);
        Some(())
    }

    fn strs(&mut self, items: &[String]) {
        self.u32(items.len() as u32);
        for item in items {
            self.str(item);
        }
    }

    fn stamp(&mut self, stamp: Stamp) {
        self.u64(stamp.modified_ns);
        self.u64(stamp.changed_ns as u64);
        self.u64(stamp.size);
    }

    fn manifest(&mut self, manifest: &Manifest) -> Option<()> {
        self.str(&manifest.name);
        self.str(&manifest.version.to_string());
        self.str(&manifest.description);
        self.str(&manifest.author);
        self.str(&manifest.license);
        self.str(&manifest.repository);
        self.path(&manifest.dir)?;
        self.path(&manifest.library)?;
        self.u32(manifest.abi.0);
        self.u32(manifest.abi.1);
        self.u8(match manifest.mode {
            ExecutionMode::InProcess => 0,
            ExecutionMode::Sandboxed => 1,
        });
        self.bool(manifest.first_party);
        self.bool(manifest.hot_reload);
        self.u32(manifest.dependencies.len() as u32);
        for (name, requirement) in &manifest.dependencies {
            self.str(name);
            self.str(&requirement.to_string());
        }
        self.strs(&manifest.operators);
        self.strs(&manifest.functions);
        self.strs(&manifest.types);
        let permissions = &manifest.permissions;
        self.u8(match permissions.file_system {
            FileAccess::None => 0,
            FileAccess::Read => 1,
            FileAccess::ReadWrite => 2,
        });
        self.strs(&permissions.paths);
        self.u8(match permissions.network {
            NetworkAccess::None => 0,
            NetworkAccess::Outbound => 1,
            NetworkAccess::Inbound => 2,
        });
        self.strs(&permissions.hosts);
        self.bool(permissions.database);
        self.strs(&permissions.env);
        self.bool(permissions.optional);
        match &manifest.config_schema {
            Some(schema) => {
                self.u8(1);
                self.path(schema)?;
            }
            None => self.u8(0),
        }
        self.u32(manifest.examples.len() as u32);
        for example in &manifest.examples {
            self.str(&example.code);
            match &example.result {
                Some(result) => {
                    self.u8(1);
                    self.str(&serde_json::to_string(result).ok()?);
                }
                None => self.u8(0),
            }
        }
        Some(())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(len)?;
        let head = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    fn flag(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn borrowed_str(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.bytes(len)?).ok()
    }

    /// Where the next string is (its bytes are not looked at).
    fn byte_range(&mut self) -> Option<Range<usize>> {
        let len = self.u32()? as usize;
        self.bytes(len)?;
        Some(self.at - len..self.at)
    }

    /// Where the next string is, if it is a name that `rule` accepts (every name rule accepts
    /// ASCII only).
    fn name(&mut self, rule: fn(&[u8]) -> bool) -> Option<Range<usize>> {
        let range = self.byte_range()?;
        rule(self.bytes.get(range.clone())?).then_some(range)
    }

    fn string(&mut self) -> Option<String> {
        self.borrowed_str().map(str::to_string)
    }

    fn path(&mut self) -> Option<PathBuf> {
        self.borrowed_str().map(PathBuf::from)
    }

    fn strings(&mut self) -> Option<Vec<String>> {
        let count = self.u32()? as usize;
        // Every string takes at least its 4-byte length: a corrupt count cannot make this
        // allocate more than the file's size.
        let mut items = Vec::with_capacity(count.min(self.rest() / 4));
        for _ in 0..count {
            items.push(self.string()?);
        }
        Some(items)
    }

    fn stamp(&mut self) -> Option<Stamp> {
        Some(Stamp { modified_ns: self.u64()?, changed_ns: self.u64()? as i64, size: self.u64()? })
    }

    fn manifest(&mut self) -> Option<Manifest> {
        let name = self.string()?;
        let version = Version::parse(self.borrowed_str()?).ok()?;
        let description = self.string()?;
        let author = self.string()?;
        let license = self.string()?;
        let repository = self.string()?;
        let dir = self.path()?;
        let library = self.path()?;
        let abi = (self.u32()?, self.u32()?);
        let mode = match self.u8()? {
            0 => ExecutionMode::InProcess,
            1 => ExecutionMode::Sandboxed,
            _ => return None,
        };
        let first_party = self.flag()?;
        let hot_reload = self.flag()?;
        let count = self.u32()? as usize;
        let mut dependencies = Vec::with_capacity(count.min(self.rest() / 8));
        for _ in 0..count {
            let name = self.string()?;
            let requirement = VersionReq::parse(self.borrowed_str()?).ok()?;
            dependencies.push((name, requirement));
        }
        let operators = self.strings()?;
        let functions = self.strings()?;
        let types = self.strings()?;
        let file_system = match self.u8()? {
            0 => FileAccess::None,
            1 => FileAccess::Read,
            2 => FileAccess::ReadWrite,
            _ => return None,
        };
        let paths = self.strings()?;
        let network = match self.u8()? {
            0 => NetworkAccess::None,
            1 => NetworkAccess::Outbound,
            2 => NetworkAccess::Inbound,
            _ => return None,
        };
        let hosts = self.strings()?;
        let database = self.flag()?;
        let env = self.strings()?;
        let optional = self.flag()?;
        let permissions = Permissions { file_system, paths, network, hosts, database, env, optional };
        let config_schema = if self.flag()? { Some(self.path()?) } else { None };
        let count = self.u32()? as usize;
        let mut examples = Vec::with_capacity(count.min(self.rest() / 5));
        for _ in 0..count {
            let code = self.string()?;
            let result = if self.flag()? { Some(serde_json::from_str(self.borrowed_str()?).ok()?) } else { None };
            examples.push(Example { code, result });
        }
        Some(Manifest {
            name,
            version,
            description,
            author,
            license,
            repository,
            dir,
            library,
            abi,
            mode,
            first_party,
            hot_reload,
            dependencies,
            operators,
            functions,
            types,
            permissions,
            config_schema,
            examples,
        })
    }
}
