//! One search root as discovery reads it at every start-up: the names of its plugin folders,
//! sorted, and the stamps of files under it.
//!
//! On Linux the root is opened once and read with `getdents64` into one buffer (std's
//! `read_dir` makes a `CString` and an `OsString` per entry), its names are kept in one byte
//! vector, and files under it are stat'ed relative to its descriptor, so that the kernel walks
//! two path components per file instead of the whole path: one `statx` per installed plugin
//! (its manifest) is most of what a start-up with many plugins asks of the kernel. Elsewhere
//! std does the same through full paths.

use std::ffi::OsStr;
use std::ops::Range;
use std::path::Path;

use super::Stamp;

/// The folders of one root (every entry that is not a plain file and does not start with a
/// dot), sorted by name.
pub(super) struct Listing {
    /// Every kept name, one after the other.
    names: Vec<u8>,
    /// Per folder: the first eight bytes of its name as one number (see [`sort_prefix`]) and
    /// where the name is in `names`.
    folders: Vec<(u64, Range<usize>)>,
    #[cfg(target_os = "linux")]
    root: rustix::fd::OwnedFd,
}

impl Listing {
    /// Lists `dir` (an error for a missing or unreadable folder).
    pub(super) fn read(dir: &Path) -> std::io::Result<Listing> {
        let mut listing = Listing::open(dir)?;
        let names = &listing.names;
        // Directory order is the file system's; sorting makes shadowing within one root stable.
        // By name, which orders the folders of one root as their paths would, without
        // comparing paths component by component; most comparisons are decided by the first
        // eight bytes, as one number.
        listing.folders.sort_unstable_by(|(a, a_range), (b, b_range)| {
            a.cmp(b).then_with(|| names[a_range.clone()].cmp(&names[b_range.clone()]))
        });
        Ok(listing)
    }

    #[cfg(target_os = "linux")]
    fn open(dir: &Path) -> std::io::Result<Listing> {
        use rustix::fs::{FileType, Mode, OFlags, RawDir};
        let root = rustix::fs::openat(
            rustix::fs::CWD,
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let (mut names, mut folders) = (Vec::new(), Vec::new());
        // Room for a hundred or more entries per `getdents64`; one entry needs at most 280
        // bytes (a name is at most 255), so the buffer is never too small for the next one.
        let mut buffer = Vec::with_capacity(32 * 1024);
        let mut entries = RawDir::new(&root, buffer.spare_capacity_mut());
        while let Some(entry) = entries.next() {
            let entry = entry?;
            // The entry's type comes with the listing on most file systems: plain files are
            // skipped without a `stat`. Links are kept (a linked plugin folder is fine).
            if entry.file_type() != FileType::RegularFile {
                push(&mut names, &mut folders, entry.file_name().to_bytes());
            }
        }
        Ok(Listing { names, folders, root })
    }

    #[cfg(not(target_os = "linux"))]
    fn open(dir: &Path) -> std::io::Result<Listing> {
        let (mut names, mut folders) = (Vec::new(), Vec::new());
        for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
            if entry.file_type().is_ok_and(|kind| !kind.is_file()) {
                let name = entry.file_name();
                // Kept as bytes that `os_str` turns back into the name: any name on Unix, and
                // UTF-8 names elsewhere (std has no safe way back from other encoded bytes).
                #[cfg(not(unix))]
                let Some(name) = name.to_str() else { continue };
                push(&mut names, &mut folders, name.as_encoded_bytes());
            }
        }
        Ok(Listing { names, folders })
    }

    /// The folders' names, sorted.
    pub(super) fn folders(&self) -> impl Iterator<Item = &OsStr> {
        self.folders.iter().map(|(_, range)| os_str(&self.names[range.clone()]))
    }

    /// The stamp of the file at `relative` (to the root; `full` is the same file's whole path),
    /// and whether it is a plain file; `None` when it cannot be stat'ed.
    pub(super) fn stamp(&self, relative: &[u8], full: &Path) -> Option<(Stamp, bool)> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{AtFlags, StatxFlags};
            let flags = StatxFlags::TYPE | StatxFlags::MTIME | StatxFlags::CTIME | StatxFlags::SIZE;
            match rustix::fs::statx(&self.root, relative, AtFlags::empty(), flags) {
                Ok(stat) => {
                    const TYPE_MASK: u16 = 0o170_000;
                    const REGULAR_FILE: u16 = 0o100_000;
                    let stamp = Stamp::from_parts(
                        stat.stx_mtime.tv_sec,
                        stat.stx_mtime.tv_nsec,
                        stat.stx_ctime.tv_sec,
                        stat.stx_ctime.tv_nsec,
                        stat.stx_size,
                    );
                    return Some((stamp, stat.stx_mode & TYPE_MASK == REGULAR_FILE));
                }
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => return None,
                // A kernel without `statx`, or a sandbox that refuses it: std knows the
                // older calls.
                Err(_) => {}
            }
        }
        let _ = relative;
        let metadata = std::fs::metadata(full).ok()?;
        Some((Stamp::of(&metadata), metadata.is_file()))
    }
}

#[cfg(unix)]
fn os_str(bytes: &[u8]) -> &OsStr {
    <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes)
}

#[cfg(not(unix))]
fn os_str(bytes: &[u8]) -> &OsStr {
    // `Listing::open` keeps only UTF-8 names here.
    std::str::from_utf8(bytes).map(OsStr::new).unwrap_or_default()
}

/// Adds `name` (unless it starts with a dot: `.`, `..`, hidden folders) to a listing's names.
fn push(names: &mut Vec<u8>, folders: &mut Vec<(u64, Range<usize>)>, name: &[u8]) {
    if name.starts_with(b".") {
        return;
    }
    let start = names.len();
    names.extend_from_slice(name);
    folders.push((sort_prefix(name), start..names.len()));
}

/// The first eight bytes of a file name as a big-endian number (padded with zeros): ordering
/// names by it and then by the whole name is ordering them by their bytes, since a file name has
/// no zero byte.
fn sort_prefix(name: &[u8]) -> u64 {
    let mut word = [0; 8];
    let length = name.len().min(8);
    word[..length].copy_from_slice(&name[..length]);
    u64::from_be_bytes(word)
}
