//! The discovery index's file format: a compact binary encoding, read at every start-up.
//!
//! Reading the same content as JSON (serde) cost about 23,000 instructions per installed plugin,
//! most of a 100-plugin start-up's extra time; this format stores strings as length-prefixed
//! bytes and numbers as little-endian words. At start-up only each entry's head is checked (its
//! lengths and the UTF-8 of its strings) and nothing is copied: discovery keeps the file's bytes
//! and a plugin's full manifest (its body) is decoded when something asks for it, usually the
//! first call of one of its symbols. Any mistake in a file's structure (truncated, corrupt,
//! another format) reads as "no index": discovery then parses every manifest and writes a new
//! one.
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

use super::Stamp;
use crate::manifest::{Example, ExecutionMode, FileAccess, Manifest, NetworkAccess, Permissions};

/// The first bytes of every index file (a JSON index from an older tusk starts with `{`).
pub(super) const MAGIC: &[u8; 8] = b"TUSKIDX\0";

/// One entry's head as checked at start-up: where its parts are in the file's bytes (every
/// string range holds valid UTF-8) and the stamps it was cached with.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    /// The whole entry, head and body (copied as it is when the index is rewritten).
    pub(super) whole: Range<usize>,
    /// The manifest path the entry was cached for.
    pub(super) key: Range<usize>,
    pub(super) manifest: Stamp,
    pub(super) library: Option<Stamp>,
    pub(super) name: Range<usize>,
    pub(super) library_path: Range<usize>,
    /// Where the operator, function and type lists start (read by [`for_each_symbol`]).
    pub(super) symbols: usize,
    /// The encoded manifest (read by [`manifest`]).
    pub(super) body: Range<usize>,
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
/// `None` for anything else. Allocates one vector, whatever the number of entries.
pub(super) fn decode(bytes: &[u8], format: u32, host: &str) -> Option<Vec<Entry>> {
    let mut input = Reader { bytes, at: 0 };
    if input.bytes(MAGIC.len())? != MAGIC.as_slice() || input.u32()? != format || input.borrowed_str()? != host {
        return None;
    }
    let count = input.u32()? as usize;
    // The count comes from the file: bound the allocation by what the file can hold.
    let mut entries = Vec::with_capacity(count.min(input.rest() / 64));
    for _ in 0..count {
        let start = input.at;
        let key = input.str_range()?;
        let manifest = input.stamp()?;
        let library = if input.flag()? { Some(input.stamp()?) } else { None };
        let name = input.str_range()?;
        let library_path = input.str_range()?;
        let symbols = input.at;
        for _ in 0..3 {
            input.skip_strs()?;
        }
        let length = input.u32()? as usize;
        let body = input.at..input.at.checked_add(length)?;
        input.bytes(length)?;
        entries.push(Entry { whole: start..input.at, key, manifest, library, name, library_path, symbols, body });
    }
    (input.rest() == 0).then_some(entries)
}

/// The string at `range` of an index's bytes (checked when the head was read).
pub(super) fn str_at(bytes: &[u8], range: Range<usize>) -> &str {
    bytes.get(range).and_then(|text| std::str::from_utf8(text).ok()).unwrap_or_default()
}

/// Calls `each(list, name)` for every operator (`list` 0), function (1) and type (2) of the
/// head whose lists start at `at`.
pub(super) fn for_each_symbol(bytes: &[u8], at: usize, mut each: impl FnMut(usize, &str)) {
    let mut input = Reader { bytes, at };
    for list in 0..3 {
        let Some(count) = input.u32() else { return };
        for _ in 0..count {
            let Some(name) = input.borrowed_str() else { return };
            each(list, name);
        }
    }
}

/// Decodes the manifest of an entry's body; `None` if it does not decode exactly.
pub(super) fn manifest(bytes: &[u8], body: Range<usize>) -> Option<Manifest> {
    let mut input = Reader { bytes: bytes.get(..body.end)?, at: body.start };
    let manifest = input.manifest()?;
    (input.rest() == 0).then_some(manifest)
}

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

    /// Where the next string is, after checking that it is UTF-8.
    fn str_range(&mut self) -> Option<Range<usize>> {
        let text = self.borrowed_str()?;
        Some(self.at - text.len()..self.at)
    }

    fn skip_strs(&mut self) -> Option<()> {
        for _ in 0..self.u32()? {
            self.borrowed_str()?;
        }
        Some(())
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
