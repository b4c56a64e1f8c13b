//! The sandbox channel's messages travel through shared memory: one ring per direction in a
//! mapping that the host creates (a sealed memfd) and hands to the runner with the preamble.
//! A message is written into the ring and the reader woken with a futex only when it sleeps,
//! so a round trip makes no system call while both ends are running and two futex calls when
//! one of them sleeps; under load this matters because every socket read and write is a
//! system call on the way to the wake-up that costs the most (bench/README.md has the figures).
//!
//! Each ring is a byte stream of the same length-prefixed frames as the socket carried, so a
//! message larger than the ring goes through in pieces, the writer waiting for the reader to
//! make room. The socket stays: it carries the preamble, and its hang-up is how each end sees
//! that the other has gone (a sleeping reader wakes every few milliseconds to look).
//!
//! The other end may be hostile (the host reads what a plugin's runner wrote): positions are
//! 32-bit counters, each end keeps its own position privately and only publishes it, and a
//! peer's position that claims more bytes than the ring holds (or room that was never there)
//! is an error, as is a frame longer than [`MAX_FRAME`]. A peer that stops reading or writing
//! only makes the wait run into its deadline.

mod shm;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tusk_plugin_wire::MAX_FRAME;

use crate::poll::Spinner;
use shm::{Mapping, futex_wait, futex_wake};

/// Data bytes of each direction's ring (a power of two).
pub const RING_BYTES: usize = 256 * 1024;

/// The four words of a ring, each in a cache line of its own, before its data.
const HEAD: usize = 0;
const TAIL: usize = 64;
const READER_WAITING: usize = 128;
const WRITER_WAITING: usize = 192;
const DATA: usize = 256;
const REGION: usize = DATA + RING_BYTES;

/// The size of the whole shared mapping: the host-to-runner ring, then the runner-to-host one.
pub const MAPPING_BYTES: usize = 2 * REGION;

/// How often a writer waiting for room looks whether the reader is gone (rare: only a
/// message larger than the room left waits).
const ROOM_CHECK: Duration = Duration::from_millis(10);

/// Which end of the channel this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Host,
    Runner,
}

/// Why no frame came.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadFailure {
    /// Nothing within the deadline.
    TimedOut,
    /// The other end is gone.
    Closed,
    /// Bytes that are not a frame, or positions that cannot be.
    Invalid(String),
}

/// The shared memory of one channel, before it is split into its two ends.
pub struct SharedRings {
    mapping: Arc<Mapping>,
}

impl SharedRings {
    /// Creates the mapping (the host, before it starts the runner).
    pub fn create() -> io::Result<SharedRings> {
        Ok(SharedRings { mapping: Arc::new(Mapping::create(MAPPING_BYTES)?) })
    }

    /// Maps the memory the host created (the runner): it must have the expected size and be
    /// sealed against shrinking.
    pub fn open(fd: std::os::fd::OwnedFd) -> io::Result<SharedRings> {
        Ok(SharedRings { mapping: Arc::new(Mapping::open(fd, MAPPING_BYTES)?) })
    }

    /// The memfd, to send to the runner.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.mapping.fd()
    }

    /// This side's writing and reading ends.
    pub fn split(self, side: Side) -> (RingSender, RingReceiver) {
        let (out, into) = match side {
            Side::Host => (0, REGION),
            Side::Runner => (REGION, 0),
        };
        let sender = RingSender { ring: Ring { mapping: self.mapping.clone(), base: out }, head: 0 };
        let receiver = RingReceiver {
            ring: Ring { mapping: self.mapping, base: into },
            tail: 0,
            spinner: Spinner::default(),
            inbox: Vec::new(),
            start: 0,
            consumed: 0,
        };
        (sender, receiver)
    }
}

/// One direction's ring in the mapping.
#[derive(Clone)]
struct Ring {
    mapping: Arc<Mapping>,
    base: usize,
}

impl Ring {
    fn word(&self, offset: usize) -> &AtomicU32 {
        self.mapping.word(self.base + offset)
    }

    /// The data offset of stream position `position`, and how many bytes follow it before the
    /// ring wraps.
    fn place(&self, position: u32) -> (usize, usize) {
        let at = position as usize & (RING_BYTES - 1);
        (self.base + DATA + at, RING_BYTES - at)
    }
}

fn corrupted(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the channel's shared memory was corrupted: {what}"))
}

/// This process's writing end.
pub struct RingSender {
    ring: Ring,
    /// Bytes written so far (mod 2³²): ours alone, only ever stored to the mapping.
    head: u32,
}

impl RingSender {
    /// Writes `bytes` (whole frames), waiting for room while the ring is full, until
    /// `deadline`. `gone` says whether the reader's process has ended; it is asked when a wait
    /// for room finds none.
    pub fn send(
        &mut self,
        mut bytes: &[u8],
        deadline: Option<Instant>,
        mut gone: impl FnMut() -> bool,
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            let tail = self.ring.word(TAIL).load(Ordering::Acquire);
            let used = self.head.wrapping_sub(tail) as usize;
            if used > RING_BYTES {
                return Err(corrupted("the reader's position is not behind the writer's"));
            }
            let room = RING_BYTES - used;
            if room == 0 {
                self.wait_for_room(tail, deadline, &mut gone)?;
                continue;
            }
            let (offset, before_wrap) = self.ring.place(self.head);
            let count = room.min(bytes.len());
            let first = count.min(before_wrap);
            self.ring.mapping.copy_in(offset, &bytes[..first]);
            if count > first {
                let (start, _) = self.ring.place(0);
                self.ring.mapping.copy_in(start, &bytes[first..count]);
            }
            self.head = self.head.wrapping_add(count as u32);
            // Sequentially consistent with the reader's flag: either it sees the new head
            // before it sleeps, or we see that it sleeps and wake it.
            self.ring.word(HEAD).store(self.head, Ordering::SeqCst);
            if self.ring.word(READER_WAITING).load(Ordering::SeqCst) != 0 {
                futex_wake(self.ring.word(HEAD));
            }
            bytes = &bytes[count..];
        }
        Ok(())
    }

    fn wait_for_room(&self, tail: u32, deadline: Option<Instant>, gone: &mut impl FnMut() -> bool) -> io::Result<()> {
        let slice = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "the reader made no room in time"));
                }
                left.min(ROOM_CHECK)
            }
            None => ROOM_CHECK,
        };
        let waiting = self.ring.word(WRITER_WAITING);
        waiting.store(1, Ordering::SeqCst);
        if self.ring.word(TAIL).load(Ordering::SeqCst) == tail {
            futex_wait(self.ring.word(TAIL), tail, slice);
        }
        waiting.store(0, Ordering::Relaxed);
        if self.ring.word(TAIL).load(Ordering::Acquire) == tail && gone() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(())
    }
}

/// This process's reading end, with the bytes of a frame still arriving.
pub struct RingReceiver {
    ring: Ring,
    /// Bytes read so far (mod 2³²): ours alone, only ever stored to the mapping.
    tail: u32,
    spinner: Spinner,
    /// Bytes copied out of the ring: at most one frame being read, after complete ones.
    inbox: Vec<u8>,
    /// The first byte of `inbox` not yet returned.
    start: usize,
    /// The length of the frame last returned (header included), dropped on the next read.
    consumed: usize,
}

/// Wakes a [`RingReceiver`] sleeping for bytes, from another thread (one that sees the writer
/// go), so that it looks at once whether the writer is gone.
pub struct RingWaker {
    ring: Ring,
}

impl RingWaker {
    pub fn wake(&self) {
        futex_wake(self.ring.word(HEAD));
    }
}

impl RingReceiver {
    /// A waker for this receiver's sleeps.
    pub fn waker(&self) -> RingWaker {
        RingWaker { ring: self.ring.clone() }
    }

    /// Bytes the writer published and we have not read; an error when the writer's position
    /// claims more than the ring holds.
    fn waiting(&self) -> io::Result<usize> {
        let head = self.ring.word(HEAD).load(Ordering::Acquire);
        let waiting = head.wrapping_sub(self.tail) as usize;
        if waiting > RING_BYTES {
            return Err(corrupted("the writer's position is further ahead than the ring holds"));
        }
        Ok(waiting)
    }

    /// True when bytes are waiting in the ring or in the inbox (or the positions are
    /// corrupted, which the next read reports).
    pub fn has_pending(&self) -> bool {
        self.inbox.len() > self.start + self.consumed || !matches!(self.waiting(), Ok(0))
    }

    /// Copies what the ring holds (up to a bound) into the inbox and frees its room.
    fn fill(&mut self) -> io::Result<usize> {
        let waiting = self.waiting()?;
        if waiting == 0 {
            return Ok(0);
        }
        if self.start > 0 {
            self.inbox.drain(..self.start);
            self.start = 0;
        }
        let old = self.inbox.len();
        self.inbox.resize(old + waiting, 0);
        let (offset, before_wrap) = self.ring.place(self.tail);
        let first = waiting.min(before_wrap);
        self.ring.mapping.copy_out(offset, &mut self.inbox[old..old + first]);
        if waiting > first {
            let (start, _) = self.ring.place(0);
            self.ring.mapping.copy_out(start, &mut self.inbox[old + first..]);
        }
        self.tail = self.tail.wrapping_add(waiting as u32);
        self.ring.word(TAIL).store(self.tail, Ordering::SeqCst);
        if self.ring.word(WRITER_WAITING).load(Ordering::SeqCst) != 0 {
            futex_wake(self.ring.word(TAIL));
        }
        Ok(waiting)
    }

    /// The total length (header included) of the complete frame at the front of the inbox.
    fn frame_length(&self) -> Option<usize> {
        let available = &self.inbox[self.start..];
        let header = available.get(..4)?;
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        (length <= MAX_FRAME && available.len() >= 4 + length).then_some(4 + length)
    }

    fn frame_too_long(&self) -> Option<usize> {
        let header = self.inbox.get(self.start..self.start + 4)?;
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        (length > MAX_FRAME).then_some(length)
    }

    /// The body of the next frame, waiting for it until `deadline` (`None`: no limit). `gone`
    /// says whether the writer's process has ended; it is asked when a wait finds nothing,
    /// every `check` at the latest and whenever a [`RingWaker`] wakes the wait. A frame that
    /// arrives in pieces is kept across calls that time out.
    pub fn receive(
        &mut self,
        deadline: Option<Instant>,
        check: Duration,
        mut gone: impl FnMut() -> bool,
    ) -> Result<&[u8], ReadFailure> {
        self.start += std::mem::take(&mut self.consumed);
        if self.start == self.inbox.len() {
            self.inbox.clear();
            self.start = 0;
        }
        loop {
            if let Some(length) = self.frame_too_long() {
                return Err(ReadFailure::Invalid(format!(
                    "frame of {length} bytes is larger than the limit of {MAX_FRAME}"
                )));
            }
            if let Some(length) = self.frame_length() {
                self.consumed = length;
                return Ok(&self.inbox[self.start + 4..self.start + length]);
            }
            match self.fill() {
                Ok(0) => {}
                Ok(_) => continue,
                Err(error) => return Err(ReadFailure::Invalid(error.to_string())),
            }
            self.wait(deadline, check, &mut gone)?;
        }
    }

    /// Waits until the writer publishes bytes (spinning first while that pays, see
    /// [`Spinner`]), the deadline passes, or the writer is gone.
    fn wait(
        &mut self,
        deadline: Option<Instant>,
        check: Duration,
        gone: &mut impl FnMut() -> bool,
    ) -> Result<(), ReadFailure> {
        let tail = self.tail;
        let head = self.ring.word(HEAD);
        if self.spinner.spin_until(|| head.load(Ordering::Relaxed) != tail) {
            return Ok(());
        }
        let blocked = Instant::now();
        let outcome = loop {
            let slice = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break Err(ReadFailure::TimedOut);
                    }
                    left.min(check)
                }
                None => check,
            };
            let waiting = self.ring.word(READER_WAITING);
            waiting.store(1, Ordering::SeqCst);
            let seen = head.load(Ordering::SeqCst);
            if seen == tail {
                futex_wait(head, tail, slice);
            }
            waiting.store(0, Ordering::Relaxed);
            if head.load(Ordering::Acquire) != tail {
                break Ok(());
            }
            if gone() {
                // What it wrote just before it went is still read first.
                break if head.load(Ordering::Acquire) != tail { Ok(()) } else { Err(ReadFailure::Closed) };
            }
        };
        self.spinner.blocked_for(blocked.elapsed());
        outcome
    }
}

#[cfg(test)]
mod tests;
