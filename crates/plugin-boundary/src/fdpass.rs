//! Descriptors across the sandbox boundary: the one way the host and a runner hand each other
//! open files and sockets, as `SCM_RIGHTS` ancillary data on a Unix stream socket. It carries
//! the preamble's descriptors (the rings' memfd, the event channel, the broker's socket), the
//! network broker's connected sockets, and the sockets of the hand-off desk (ABI 1.4) both
//! ways on the event channel.
//!
//! The descriptors travel with the first byte of what [`send`] writes, and a reader gets them
//! with the read that reaches that byte (the kernel never hands them to a read of earlier
//! bytes). A reader that asks for exactly one frame's bytes therefore gets exactly that
//! frame's descriptors ([`Receiver`]). Whatever is received is owned at once ([`OwnedFd`]), so
//! a descriptor that arrives where none belongs is closed when it is dropped, never leaked;
//! a message with more descriptors than the reader makes room for is refused, and the kernel
//! closes those that did not fit.
//!
//! The crate's second `unsafe` module (with `ring::shm`): owning what `recvmsg` installed.
#![allow(unsafe_code)]

use std::io::{self, IoSlice, IoSliceMut, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, sendmsg};

/// The most descriptors one message may carry (the preamble's three are the most any sends).
pub const MAX_DESCRIPTORS: usize = 4;

/// Writes all of `bytes` to `socket` with `fds` attached to the first byte (at most
/// [`MAX_DESCRIPTORS`]). The descriptors stay the caller's: the receiver gets copies. A
/// closed peer is an error (`EPIPE`), never a signal.
pub fn send(socket: &UnixStream, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.len() > MAX_DESCRIPTORS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} descriptors are more than a message carries ({MAX_DESCRIPTORS})", fds.len()),
        ));
    }
    if bytes.is_empty() {
        // Ancillary data needs at least one byte to travel with.
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "descriptors need a byte to travel with"));
    }
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let control = [ControlMessage::ScmRights(&raw)];
    let control: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &control };
    let sent = loop {
        match sendmsg::<UnixAddr>(socket.as_raw_fd(), &[IoSlice::new(bytes)], control, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(sent) => break sent,
            // Interrupted before anything was sent: the descriptors did not go either.
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => return Err(error.into()),
        }
    };
    // The descriptors went with the first byte; the rest is plain bytes.
    let mut rest = &bytes[sent..];
    while !rest.is_empty() {
        match nix::sys::socket::send(socket.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => rest = &rest[written..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Reads once from `socket` into `buffer`, as `read` does, and appends the descriptors that
/// came with the bytes to `fds`. More than [`MAX_DESCRIPTORS`] in one message is an error
/// (those that arrived are closed, and the kernel closed the rest).
pub fn receive(socket: &UnixStream, buffer: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    let mut space = nix::cmsg_space!([RawFd; MAX_DESCRIPTORS]);
    let mut buffers = [IoSliceMut::new(buffer)];
    let message = recvmsg::<()>(socket.as_raw_fd(), &mut buffers, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut received = Vec::new();
    for control in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = control {
            // SAFETY: the kernel installed these descriptors in this process for this call
            // just now; nothing else knows their numbers, so each is owned exactly once here.
            received.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    if message.flags.contains(MsgFlags::MSG_CTRUNC) {
        // `received` is dropped (closed) with the error.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message carried more descriptors than the {MAX_DESCRIPTORS} it may"),
        ));
    }
    let bytes = message.bytes;
    fds.append(&mut received);
    Ok(bytes)
}

/// A [`Read`] over a Unix stream socket that keeps the descriptors that come with the bytes,
/// at most `limit` until [`Receiver::descriptors`] (more is an error: they are closed).
pub struct Receiver<'a> {
    socket: &'a UnixStream,
    received: Vec<OwnedFd>,
    limit: usize,
}

impl<'a> Receiver<'a> {
    /// Reads `socket`, keeping at most `limit` descriptors at a time.
    pub fn new(socket: &'a UnixStream, limit: usize) -> Receiver<'a> {
        Receiver { socket, received: Vec::new(), limit }
    }

    /// The descriptors received since the last call.
    pub fn descriptors(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.received)
    }
}

impl Read for Receiver<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = receive(self.socket, buffer, &mut self.received)?;
        if self.received.len() > self.limit {
            let count = self.received.len();
            self.received.clear();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{count} descriptors arrived where at most {} belong", self.limit),
            ));
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn descriptors_travel_with_their_bytes_only() {
        let (left, right) = UnixStream::pair().unwrap();
        let (a, _b) = UnixStream::pair().unwrap();
        send(&left, b"one", &[]).unwrap();
        send(&left, b"two", &[a.as_fd()]).unwrap();
        let mut reader = Receiver::new(&right, 1);
        let mut buffer = [0u8; 3];
        reader.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"one");
        assert!(reader.descriptors().is_empty());
        reader.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"two");
        let fds = reader.descriptors();
        assert_eq!(fds.len(), 1);
        // The copy is a socket of its own number, connected as the original is.
        assert_ne!(fds[0].as_raw_fd(), a.as_raw_fd());
        let copy = UnixStream::from(fds.into_iter().next().unwrap());
        (&copy).write_all(b"x").unwrap();
        let mut got = [0u8; 1];
        (&_b).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"x");
    }

    #[test]
    fn too_many_descriptors_are_refused_and_closed() {
        let (left, right) = UnixStream::pair().unwrap();
        let sockets: Vec<UnixStream> = (0..3).map(|_| UnixStream::pair().unwrap().0).collect();
        let fds: Vec<BorrowedFd<'_>> = sockets.iter().map(AsFd::as_fd).collect();
        send(&left, b"x", &fds).unwrap();
        let mut reader = Receiver::new(&right, 1);
        let mut byte = [0u8; 1];
        let error = reader.read(&mut byte).unwrap_err();
        assert_eq!(error.to_string(), "3 descriptors arrived where at most 1 belong");
        assert!(reader.descriptors().is_empty());
        // More than a message may carry at all: refused before anything is sent.
        let many: Vec<BorrowedFd<'_>> = (0..5).map(|_| sockets[0].as_fd()).collect();
        assert_eq!(
            send(&left, b"x", &many).unwrap_err().to_string(),
            "5 descriptors are more than a message carries (4)"
        );
    }

    #[test]
    fn a_descriptor_received_and_dropped_is_closed() {
        let (left, right) = UnixStream::pair().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        send(&left, b"x", &[a.as_fd()]).unwrap();
        drop(a);
        let mut fds = Vec::new();
        receive(&right, &mut [0u8; 1], &mut fds).unwrap();
        assert_eq!(fds.len(), 1);
        // The received copy is the last one of `a`: dropping it ends `b`'s stream.
        drop(fds);
        assert_eq!((&b).read(&mut [0u8; 1]).unwrap(), 0);
    }

    #[test]
    fn a_closed_peer_is_an_error_not_a_signal() {
        let (left, right) = UnixStream::pair().unwrap();
        drop(right);
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(send(&left, b"x", &[a.as_fd()]).unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
