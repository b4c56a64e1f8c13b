//! The one `unsafe` module of the crate: the shared mapping behind the sandbox channel's rings
//! (a sealed memfd, mapped by both processes), the 32-bit words in it, byte copies in and out
//! of it, and futex waits and wake-ups on its words.
//!
//! The other process may write anything anywhere in the mapping at any time. Everything here
//! is written so that this cannot make us misbehave: the mapping's size is fixed by seals (the
//! peer cannot shrink the file under us, which would turn our accesses into `SIGBUS`), every
//! offset is checked against that size here, and every access is atomic: the ring's 32-bit
//! words at their size, its data in aligned 8-byte words, copied out into memory of our own
//! before anything looks at them. A plain copy (`copy_nonoverlapping`) racing with the peer's
//! writes would be a data race, undefined behaviour in Rust's memory model whatever the
//! hardware does; a relaxed atomic load or store of a word compiles to the same plain move.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A shared mapping of a sealed memfd, read and written by this process and the peer.
pub(crate) struct Mapping {
    base: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is plain memory owned by this value (unmapped once, in `drop`); every
// access through it is atomic (the peer process writes it concurrently anyway), so sharing it
// between threads adds nothing.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`: no access relies on exclusive use of the memory.
unsafe impl Sync for Mapping {}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

impl Mapping {
    /// Creates a memfd of `len` bytes, seals its size, and maps it shared.
    pub(crate) fn create(len: usize) -> io::Result<Mapping> {
        // SAFETY: the name is a NUL-terminated string; the flags are valid for memfd_create.
        let raw =
            unsafe { libc::memfd_create(c"tusk-sandbox-ring".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
        if raw < 0 {
            return Err(last_error());
        }
        // SAFETY: memfd_create just returned this descriptor, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: plain system calls on a descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(last_error());
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: as above; F_ADD_SEALS takes an int argument.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(last_error());
        }
        Mapping::map(fd, len)
    }

    /// Maps a memfd made by [`Mapping::create`] in the other process: it must be exactly `len`
    /// bytes and sealed against shrinking.
    pub(crate) fn open(fd: OwnedFd, len: usize) -> io::Result<Mapping> {
        // SAFETY: F_GET_SEALS takes no argument and only reads the descriptor's state.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 || seals & libc::F_SEAL_SHRINK == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the channel's memory is not sealed"));
        }
        let size = std::fs::File::from(fd.try_clone()?).metadata()?.len();
        if size != len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the channel's memory is {size} bytes, expected {len}"),
            ));
        }
        Mapping::map(fd, len)
    }

    fn map(fd: OwnedFd, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of `len` bytes of a file at least that long (its size
        // is sealed); the kernel picks the address, so nothing of ours is replaced.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last_error());
        }
        let base = NonNull::new(base.cast::<u8>()).ok_or_else(last_error)?;
        Ok(Mapping { base, len, fd })
    }

    /// The memfd, to hand to the other process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The 32-bit word at `offset`. Panics if it is not an aligned word inside the mapping
    /// (the offsets are constants of the ring layout, never values read from the mapping).
    pub(crate) fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.len, "word {offset} outside the mapping");
        // SAFETY: the word lies inside the mapping (checked), which is page-aligned and lives
        // as long as `self`; every access to it from either process is atomic (a hostile peer
        // may write it non-atomically, which gives us some value, never undefined memory).
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }
    }

    /// The 8-byte data word at `offset`, which must be aligned (the ring's data starts and
    /// ends on such a boundary; the callers below round their ranges to it).
    fn data_word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.len, "data word {offset} outside the mapping");
        // SAFETY: the word lies inside the mapping (checked) at an 8-aligned offset of a
        // page-aligned mapping that lives as long as `self`; this process reaches the data
        // bytes only through these words, atomically and never at another size, so a peer
        // writing them at the same time gives us some value, never a data race.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }
    }

    /// Copies `into.len()` bytes from `offset` into our own memory: whole aligned words, each
    /// loaded atomically, so that the peer writing the same bytes meanwhile (only a hostile
    /// one does) is no data race; what arrives is looked at only in `into`, after the copy.
    pub(crate) fn copy_out(&self, offset: usize, into: &mut [u8]) {
        let end = offset.checked_add(into.len()).and_then(|end| end.checked_next_multiple_of(8));
        assert!(end.is_some_and(|end| end <= self.len), "read outside the mapping");
        let skip = offset % 8;
        let mut at = offset - skip;
        let mut into = into;
        if skip > 0 && !into.is_empty() {
            let word = self.data_word(at).load(Ordering::Relaxed).to_ne_bytes();
            let count = into.len().min(8 - skip);
            into[..count].copy_from_slice(&word[skip..skip + count]);
            into = &mut into[count..];
            at += 8;
        }
        let (words, rest) = into.as_chunks_mut::<8>();
        for chunk in words {
            *chunk = self.data_word(at).load(Ordering::Relaxed).to_ne_bytes();
            at += 8;
        }
        if !rest.is_empty() {
            let word = self.data_word(at).load(Ordering::Relaxed).to_ne_bytes();
            rest.copy_from_slice(&word[..rest.len()]);
        }
    }

    /// Copies `bytes` into the mapping at `offset`, in whole aligned words stored atomically
    /// (see [`Mapping::copy_out`]). A word that is only partly ours is loaded and stored back
    /// with our bytes in it: only this process writes a ring's data, so the other bytes keep
    /// their values (a hostile peer scribbling on them meanwhile only spoils what it reads).
    pub(crate) fn copy_in(&self, offset: usize, bytes: &[u8]) {
        let end = offset.checked_add(bytes.len()).and_then(|end| end.checked_next_multiple_of(8));
        assert!(end.is_some_and(|end| end <= self.len), "write outside the mapping");
        let skip = offset % 8;
        let mut at = offset - skip;
        let mut bytes = bytes;
        if skip > 0 && !bytes.is_empty() {
            let count = bytes.len().min(8 - skip);
            self.store_part(at, skip, &bytes[..count]);
            bytes = &bytes[count..];
            at += 8;
        }
        let (words, rest) = bytes.as_chunks::<8>();
        for chunk in words {
            self.data_word(at).store(u64::from_ne_bytes(*chunk), Ordering::Relaxed);
            at += 8;
        }
        if !rest.is_empty() {
            self.store_part(at, 0, rest);
        }
    }

    /// Stores `part` at byte `skip` of the data word at `offset`, keeping the word's other bytes.
    fn store_part(&self, offset: usize, skip: usize, part: &[u8]) {
        let word = self.data_word(offset);
        let mut value = word.load(Ordering::Relaxed).to_ne_bytes();
        value[skip..skip + part.len()].copy_from_slice(part);
        word.store(u64::from_ne_bytes(value), Ordering::Relaxed);
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the range `map` mapped; no reference into it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Sleeps while `word` holds `expected`, at most `timeout` (a wake-up, a signal or a spurious
/// return end it early; the caller looks again either way).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: FUTEX_WAIT (shared: the word is in memory another process maps) reads the word
    // at a valid, aligned address and a timespec that lives across the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
}

/// Wakes the waiters on `word`.
pub(crate) fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid, aligned word; it only wakes threads waiting on it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
}
