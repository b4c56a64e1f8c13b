//! Waiting for the other end of the sandbox channel. A call's answer (or the next call of a
//! loop) usually comes within a few microseconds, while waking a thread blocked on another CPU
//! costs several times that on a virtual machine (bench/README.md has the figures): both ends
//! look at their ring (see [`crate::ring`]) without blocking for up to [`SPIN`] before they
//! sleep.
//!
//! Polling pays only while the other end runs on another CPU at the same time. When every CPU
//! is busy, the kernel queues the woken peer behind the very thread that polls for its answer
//! (the waker is expected to sleep), and each message then costs a whole spin: a callback's
//! round trip went from 5 µs to over 100 µs. So a [`Spinner`] stops polling after a spin that
//! found nothing, and tries again after a number of waits that doubles with each fruitless
//! try (up to [`MAX_SKIP`]); one spin that finds its message resets it. A fruitless spin
//! followed by a long wait (over [`LONG_WAIT`]: the other end was busy, as in a long call or
//! between calls) does not count: it says nothing about whether polling pays.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// How long a reader polls before it blocks.
pub const SPIN: Duration = Duration::from_micros(50);

/// The most waits a [`Spinner`] blocks at once without polling first, after fruitless spins.
pub const MAX_SKIP: u32 = 1024;

/// A wait after a fruitless spin that lasts this long was for a busy peer, not a slow wake-up.
pub const LONG_WAIT: Duration = Duration::from_millis(1);

fn readable(stream: &UnixStream, timeout: PollTimeout) -> bool {
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, timeout).is_ok_and(|ready| ready > 0)
}

/// True when the socket has data now (or the peer is gone), without waiting.
pub fn is_readable(stream: &UnixStream) -> bool {
    readable(stream, PollTimeout::ZERO)
}

/// True when the other end of the socket is closed (its process ended), without waiting.
/// Bytes it wrote do not count: the sandbox channel's socket carries nothing after its
/// preamble, and a plugin that writes to it anyway must not pass for gone.
pub fn is_hung_up(stream: &UnixStream) -> bool {
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::empty())];
    poll(&mut fds, PollTimeout::ZERO).is_ok_and(|ready| ready > 0)
        && fds[0].revents().is_some_and(|events| events.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
}

/// Decides whether a wait polls before it blocks, from how the last spins went.
#[derive(Debug, Default)]
pub struct Spinner {
    /// Waits left that block without polling.
    skip: u32,
    /// What `skip` was set to after the last fruitless spin (0: the last spin found data).
    backoff: u32,
    /// `backoff` before the last spin, while it was fruitless and its wait not yet reported.
    before: Option<u32>,
}

impl Spinner {
    /// Polls `ready` without blocking until it is true (true) or [`SPIN`] has passed (false);
    /// false at once while polling has not been paying off. After false, the caller blocks
    /// and reports how long with [`Spinner::blocked_for`].
    pub fn spin_until(&mut self, mut ready: impl FnMut() -> bool) -> bool {
        self.before = None;
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        let started = Instant::now();
        loop {
            if ready() {
                self.backoff = 0;
                return true;
            }
            if started.elapsed() >= SPIN {
                self.before = Some(self.backoff);
                self.backoff = (self.backoff * 2).clamp(1, MAX_SKIP);
                self.skip = self.backoff;
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// How long the blocking wait after a fruitless spin took: when it was long, the spin does
    /// not count.
    pub fn blocked_for(&mut self, waited: Duration) {
        if let Some(before) = self.before.take()
            && waited >= LONG_WAIT
        {
            self.backoff = before;
            self.skip = before;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_socket_is_readable_with_data_and_hung_up_only_once_its_peer_is_gone() {
        let (mut a, b) = UnixStream::pair().unwrap();
        assert!(!is_readable(&b));
        a.write_all(b"x").unwrap();
        assert!(is_readable(&b));
        assert!(!is_hung_up(&b), "data is no hang-up");
        let (c, d) = UnixStream::pair().unwrap();
        assert!(!is_hung_up(&d));
        drop(c);
        assert!(is_readable(&d) && is_hung_up(&d), "hang-up");
    }

    #[test]
    fn fruitless_spins_back_off_and_a_fruitful_one_resets() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut spinner = Spinner::default();
        assert!(!spinner.spin_until(|| is_readable(&b)), "nothing was sent");
        assert_eq!((spinner.skip, spinner.backoff), (1, 1));
        a.write_all(b"x").unwrap();
        assert!(!spinner.spin_until(|| is_readable(&b)), "skipped: polling did not pay off");
        assert!(spinner.spin_until(|| is_readable(&b)), "polls again after the skip");
        assert_eq!((spinner.skip, spinner.backoff), (0, 0));
        let (_c, d) = UnixStream::pair().unwrap();
        for expected in [1, 2, 4, 8] {
            assert!(!spinner.spin_until(|| is_readable(&d)));
            assert_eq!(spinner.skip, expected, "doubles with each fruitless spin");
            while spinner.skip > 0 {
                assert!(!spinner.spin_until(|| is_readable(&d)));
            }
        }
        spinner.backoff = MAX_SKIP;
        assert!(!spinner.spin_until(|| is_readable(&d)));
        assert_eq!(spinner.skip, MAX_SKIP, "bounded");
    }

    #[test]
    fn a_fruitless_spin_before_a_long_wait_does_not_count() {
        let (_a, b) = UnixStream::pair().unwrap();
        let mut spinner = Spinner::default();
        assert!(!spinner.spin_until(|| is_readable(&b)));
        spinner.blocked_for(LONG_WAIT);
        assert_eq!((spinner.skip, spinner.backoff), (0, 0), "polls again next time");
        assert!(!spinner.spin_until(|| is_readable(&b)));
        spinner.blocked_for(Duration::from_micros(5));
        assert_eq!((spinner.skip, spinner.backoff), (1, 1), "a short wait counts");
        assert!(!spinner.spin_until(|| is_readable(&b)), "skipped");
        spinner.blocked_for(2 * LONG_WAIT);
        assert_eq!((spinner.skip, spinner.backoff), (0, 1), "a skipped spin is no fruitless one");
        assert!(!spinner.spin_until(|| is_readable(&b)));
        spinner.blocked_for(2 * LONG_WAIT);
        assert_eq!((spinner.skip, spinner.backoff), (1, 1), "the long wait undid the doubling");
    }
}
