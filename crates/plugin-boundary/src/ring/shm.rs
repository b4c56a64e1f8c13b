//! The one `unsafe` module of the crate: the shared mapping behind the sandbox channel's rings
//! (a sealed memfd, mapped by both processes), the 32-bit words in it, byte copies in and out
//! of it, and futex waits and wake-ups on its words.
//!
//! The other process may write anything anywhere in the mapping at any time. Everything here
//! is written so that this cannot make us misbehave: the mapping's size is fixed by seals (the
//! peer cannot shrink the file under us, which would turn our accesses into `SIGBUS`), every
//! offset is checked against that size here, words are only read atomically, and bytes are
//! only copied out into memory of our own before anything looks at them.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// A shared mapping of a sealed memfd, read and written by this process and the peer.
pub(crate) struct Mapping {
    base: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is plain memory owned by this value (unmapped once, in `drop`); every
// access through it is either atomic or a byte copy that tolerates concurrent writes (the peer
// process writes it concurrently anyway), so sharing it between threads adds nothing.
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

    /// Copies `into.len()` bytes from `offset` into our own memory.
    pub(crate) fn copy_out(&self, offset: usize, into: &mut [u8]) {
        assert!(offset.checked_add(into.len()).is_some_and(|end| end <= self.len), "read outside the mapping");
        // SAFETY: the source range lies inside the mapping (checked) and cannot overlap
        // `into`, which is our own memory. The peer may write the source concurrently; the
        // copy then gets some bytes (any byte value is valid), which are only looked at in
        // `into`, after the copy.
        unsafe { std::ptr::copy_nonoverlapping(self.base.as_ptr().add(offset), into.as_mut_ptr(), into.len()) }
    }

    /// Copies `bytes` into the mapping at `offset`.
    pub(crate) fn copy_in(&self, offset: usize, bytes: &[u8]) {
        assert!(offset.checked_add(bytes.len()).is_some_and(|end| end <= self.len), "write outside the mapping");
        // SAFETY: the destination range lies inside the mapping (checked) and cannot overlap
        // `bytes`, our own memory. Nothing in this process holds a reference into the
        // mapping's bytes (only into its words, which are never in a data range).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.as_ptr().add(offset), bytes.len()) }
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
