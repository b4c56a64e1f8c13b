//! The hand-off desk of ABI 1.4: open sockets one plugin deposits and another takes, by
//! single-use tickets.
//!
//! Two plugin libraries share no Rust object (each has its own statics and runtime), but in
//! one process they share the descriptor table, so an HTTP server that upgraded a request can
//! pass the connection itself to the plugin that serves the protocol. The desk is the
//! process's, like the descriptors it holds: every in-process plugin's table reaches the same
//! one. Between the deposit and the take the desk owns the descriptor ([`OwnedFd`]), so one
//! that nobody takes is closed when the depositor takes it back or the process ends; nothing
//! outside the desk ever sees a descriptor number, only tickets, which are never reused.
//!
//! A ticket is not guessable: a sandboxed plugin is untrusted, and one that could name the
//! next ticket could take a connection meant for another plugin. Each ticket is the deposit's
//! number (counting up from 1) times 2^[`SECRET_BITS`] plus that many random bits, below 2^53
//! so that it stays exact wherever a script's number goes (JSON readers that use doubles). The
//! number still tells a ticket that was taken from one never issued, and the host refuses a
//! sandboxed runner that keeps presenting tickets that do not exist.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[cfg(unix)]
use std::os::fd::OwnedFd;

/// A socket waiting to be taken, with the bytes its depositor read ahead.
#[cfg(unix)]
struct Deposit {
    socket: OwnedFd,
    prefix: Vec<u8>,
}

/// Random bits of a ticket, below its deposit's number.
pub const SECRET_BITS: u32 = 22;

#[cfg(unix)]
struct Desk {
    /// By ticket: sorted, so that the deposits of one number are one range.
    waiting: BTreeMap<u64, Deposit>,
    /// The number of the last deposit (they count up from 1 and are never reused).
    issued: u64,
}

#[cfg(unix)]
static DESK: Mutex<Desk> = Mutex::new(Desk { waiting: BTreeMap::new(), issued: 0 });

#[cfg(unix)]
fn desk() -> std::sync::MutexGuard<'static, Desk> {
    DESK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The random bits of deposit `number`: SipHash of the number under the process's random key
/// (std's `RandomState`, seeded from the system once), which a plugin cannot predict from
/// tickets it has seen.
#[cfg(unix)]
fn secret(number: u64) -> u64 {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(std::collections::hash_map::RandomState::new).hash_one(number) & ((1 << SECRET_BITS) - 1)
}

/// Keeps `socket` and `prefix` until [`take`]; returns the ticket.
#[cfg(unix)]
pub fn deposit(socket: OwnedFd, prefix: Vec<u8>) -> u64 {
    let mut desk = desk();
    desk.issued += 1;
    let ticket = desk.issued.saturating_mul(1 << SECRET_BITS) | secret(desk.issued);
    desk.waiting.insert(ticket, Deposit { socket, prefix });
    ticket
}

/// The socket deposited under `ticket`, and the bytes read ahead; once.
#[cfg(unix)]
pub fn take(ticket: u64) -> Result<(OwnedFd, Vec<u8>), String> {
    take_or_why(ticket).map_err(|(_, message)| message)
}

/// Why no socket waits under a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// It was taken (a ticket is good once): what a depositor that takes its ticket back to
    /// see whether anyone accepted it expects.
    Taken,
    /// It was never issued: a mistake, or a guess.
    NeverIssued,
}

/// [`take`], saying which way the ticket is missing as well as in words.
#[cfg(unix)]
pub fn take_or_why(ticket: u64) -> Result<(OwnedFd, Vec<u8>), (Missing, String)> {
    let mut desk = desk();
    if let Some(deposit) = desk.waiting.remove(&ticket) {
        return Ok((deposit.socket, deposit.prefix));
    }
    let number = ticket >> SECRET_BITS;
    let first = number << SECRET_BITS;
    // A deposit of that number that still waits has another ticket: this one was never issued.
    let waits = desk.waiting.range(first..=first | ((1 << SECRET_BITS) - 1)).next().is_some();
    if (1..=desk.issued).contains(&number) && !waits {
        Err((Missing::Taken, format!("the connection of ticket {ticket} was taken already (a ticket is good once)")))
    } else {
        Err((Missing::NeverIssued, format!("no connection was ever deposited under ticket {ticket}")))
    }
}

/// Whether the socket of `ticket` still waits to be taken.
#[cfg(unix)]
pub fn is_waiting(ticket: u64) -> bool {
    desk().waiting.contains_key(&ticket)
}

/// How many sockets wait to be taken (for leak checks in tests).
#[cfg(unix)]
pub fn waiting() -> usize {
    desk().waiting.len()
}

/// Why `fd` cannot be deposited, if it is not an open socket (the host checks what a
/// sandboxed runner sends too, not only what an in-process plugin hands over).
#[cfg(unix)]
pub fn check_socket(fd: i64) -> Result<std::os::fd::RawFd, String> {
    let raw = std::os::fd::RawFd::try_from(fd).ok().filter(|raw| *raw >= 0);
    let Some(raw) = raw else { return Err(format!("{fd} is not a file descriptor")) };
    // SAFETY: `fstat` only writes the record it is given, which is large enough; a descriptor
    // that is not open is reported as EBADF, never touched.
    let mut record: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(raw, &mut record) } != 0 {
        return Err(format!("descriptor {raw} is not open: {}", std::io::Error::last_os_error()));
    }
    if record.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(format!("descriptor {raw} is not a socket"));
    }
    Ok(raw)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_good_once_and_bogus_ones_are_told_apart() {
        let (left, _right) = std::os::unix::net::UnixStream::pair().unwrap();
        let ticket = deposit(OwnedFd::from(left), b"ahead".to_vec());
        let (socket, prefix) = take(ticket).unwrap();
        assert_eq!(prefix, b"ahead");
        assert!(check_socket(i64::from(std::os::fd::AsRawFd::as_raw_fd(&socket))).is_ok());
        assert_eq!(
            take(ticket).unwrap_err(),
            format!("the connection of ticket {ticket} was taken already (a ticket is good once)")
        );
        assert_eq!(take(u64::MAX).unwrap_err(), format!("no connection was ever deposited under ticket {}", u64::MAX));
        assert_eq!(take(0).unwrap_err(), "no connection was ever deposited under ticket 0");
    }

    #[test]
    fn tickets_cannot_be_guessed_from_the_last_one() {
        let (left, _right) = std::os::unix::net::UnixStream::pair().unwrap();
        let tickets: Vec<u64> = (0..8).map(|_| deposit(OwnedFd::from(left.try_clone().unwrap()), Vec::new())).collect();
        // Below 2^53, and not one after another: each carries random low bits.
        assert!(tickets.iter().all(|ticket| *ticket < 1 << 53));
        let secrets: std::collections::BTreeSet<u64> =
            tickets.iter().map(|ticket| ticket & ((1 << SECRET_BITS) - 1)).collect();
        assert!(secrets.len() > 1, "{tickets:?}");
        // The neighbours of a waiting ticket were never issued, and the ticket still waits.
        let waiting = tickets[3];
        for guess in [waiting - 1, waiting + 1, waiting ^ 1] {
            assert_eq!(take(guess).unwrap_err(), format!("no connection was ever deposited under ticket {guess}"));
        }
        for ticket in tickets {
            assert!(take(ticket).is_ok());
        }
    }

    #[test]
    fn only_open_sockets_can_be_deposited() {
        assert_eq!(check_socket(-1).unwrap_err(), "-1 is not a file descriptor");
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
        assert_eq!(check_socket(i64::from(raw)).unwrap_err(), format!("descriptor {raw} is not a socket"));
        assert!(check_socket(1 << 30).unwrap_err().starts_with(&format!("descriptor {} is not open", 1 << 30)));
    }
}
