//! Waiting for the other end of the sandbox channel. A call's answer (or the next call of a
//! loop) usually comes within a few microseconds, while waking a thread blocked on another CPU
//! costs several times that on a virtual machine (bench/README.md has the figures): both ends
//! poll without blocking for [`SPIN`] before they block.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// How long a reader polls before it blocks.
pub const SPIN: Duration = Duration::from_micros(50);

fn readable(stream: &UnixStream, timeout: PollTimeout) -> bool {
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, timeout).is_ok_and(|ready| ready > 0)
}

/// True when the socket has data now (or the peer is gone), without waiting.
pub fn is_readable(stream: &UnixStream) -> bool {
    readable(stream, PollTimeout::ZERO)
}

/// Polls the socket without blocking until it has data (true) or [`SPIN`] has passed (false).
pub fn spin_until_readable(stream: &UnixStream) -> bool {
    let started = Instant::now();
    loop {
        if readable(stream, PollTimeout::ZERO) {
            return true;
        }
        if started.elapsed() >= SPIN {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Waits until the socket has data (true) or `deadline` passes (false): polls without blocking
/// for up to [`SPIN`], then blocks in `poll` for the time left. Hang-up and errors count as
/// readable: the read that follows says what happened.
pub fn wait_until_readable(stream: &UnixStream, deadline: Instant) -> bool {
    if spin_until_readable(stream) {
        return true;
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return readable(stream, PollTimeout::ZERO);
        }
        // Whole milliseconds, rounded up, so that the last wait does not end early.
        let millis = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        if readable(stream, PollTimeout::from(millis)) {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn data_is_seen_and_silence_times_out() {
        let (mut a, b) = UnixStream::pair().unwrap();
        assert!(!wait_until_readable(&b, Instant::now() + Duration::from_millis(5)));
        a.write_all(b"x").unwrap();
        assert!(spin_until_readable(&b));
        assert!(wait_until_readable(&b, Instant::now()));
    }
}
