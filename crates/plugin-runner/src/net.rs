//! The network of a plugin whose grant names hosts (`NetGrant::Brokered`): seccomp denies the
//! runner `connect`, so a connection is made by the host's network broker, which checks the
//! grant, connects, and hands the socket back (`SCM_RIGHTS`) over a socket pair of its own;
//! names are looked up by the broker too (only granted ones: no DNS query carries data out).
//!
//! The plugin keeps using ordinary sockets: the runner executable defines `connect` and
//! `getaddrinfo` (exported from it by the build script), and the dynamic linker binds the
//! plugin's calls of these C library functions to these definitions, which speak to the broker
//! and put the connected socket in place of the plugin's own. A plugin that makes the system
//! call itself gets seccomp's refusal. In the other modes they pass the call on unchanged.
//!
//! The second `unsafe` module of the runner (with `ffi`): C entry points and raw descriptors.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::libc;
use tusk_plugin_boundary::fdpass;
use tusk_plugin_wire::PREAMBLE;

/// True once the plugin's connections go through the broker.
static BROKERED: AtomicBool = AtomicBool::new(false);
/// The runner's end of the broker socket; one request at a time, from any thread.
static BROKER: Mutex<Option<UnixStream>> = Mutex::new(None);

/// What comes with the preamble: the memfd of the channel's rings, the event channel, and the
/// broker socket (when the plugin reaches the network through the host).
pub(crate) struct Preamble {
    pub(crate) rings: OwnedFd,
    pub(crate) events: UnixStream,
    pub(crate) broker: Option<UnixStream>,
}

/// Reads the byte the host sends before the first frame, and the descriptors attached to it.
pub(crate) fn receive_preamble(channel: &UnixStream) -> Result<Preamble, String> {
    let mut byte = [0u8; 1];
    let mut sockets = Vec::new();
    let read = fdpass::receive(channel, &mut byte, &mut sockets)
        .map_err(|error| format!("cannot read the host's preamble: {error}"))?;
    let mut sockets = sockets.into_iter();
    match (read == 1 && byte[0] == PREAMBLE, sockets.next(), sockets.next(), sockets.next(), sockets.next()) {
        (true, Some(rings), Some(events), broker, None) => {
            Ok(Preamble { rings, events: UnixStream::from(events), broker: broker.map(UnixStream::from) })
        }
        _ => Err("the host did not start with the preamble".into()),
    }
}

/// From now on the plugin's connections and name lookups go through `broker`.
pub(crate) fn use_broker(broker: UnixStream) {
    *BROKER.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(broker);
    BROKERED.store(true, Ordering::Release);
    // The definitions below are only reached through the dynamic linker: keep them linked.
    std::hint::black_box([connect as *const (), getaddrinfo as *const ()]);
}

/// Sends one request line and reads the answer line, with the descriptor attached to it.
fn ask(request: &str) -> std::io::Result<(String, Option<OwnedFd>)> {
    let guard = BROKER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(broker) = guard.as_ref() else { return Err(std::io::ErrorKind::NotConnected.into()) };
    (&*broker).write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    let mut sockets = Vec::new();
    while !answer.ends_with(b"\n") {
        let mut chunk = [0u8; 512];
        let read = fdpass::receive(broker, &mut chunk, &mut sockets)?;
        if read == 0 || answer.len() + read > 4096 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    answer.pop();
    // One socket at most comes with an answer; any other is closed here.
    Ok((String::from_utf8_lossy(&answer).into_owned(), sockets.into_iter().next()))
}

fn set_errno(code: c_int) {
    // SAFETY: `__errno_location` returns this thread's errno.
    unsafe { *libc::__errno_location() = code };
}

/// The address `address` holds when it is an IPv4 or IPv6 socket address of `length` bytes.
fn ip_address(address: *const libc::sockaddr, length: libc::socklen_t) -> Option<SocketAddr> {
    if address.is_null() || (length as usize) < std::mem::size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: `length` bytes are readable at `address` (the caller's contract); each read
    // below checks the length first and copies unaligned.
    unsafe {
        let family = std::ptr::read_unaligned(address.cast::<libc::sa_family_t>());
        match c_int::from(family) {
            libc::AF_INET if length as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                let v4 = std::ptr::read_unaligned(address.cast::<libc::sockaddr_in>());
                let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(v4.sin_port)))
            }
            libc::AF_INET6 if length as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let v6 = std::ptr::read_unaligned(address.cast::<libc::sockaddr_in6>());
                let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
                Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(v6.sin6_port)))
            }
            _ => None,
        }
    }
}

/// `connect(2)` as the plugin calls it. Brokered: the broker connects and the connected socket
/// takes the place of `fd` (its blocking mode, close-on-exec flag, `TCP_NODELAY` and
/// `SO_KEEPALIVE` carried over); other families and modes go to the kernel unchanged.
///
/// # Safety
///
/// As `connect(2)`: `address` points at `length` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, address: *const libc::sockaddr, length: libc::socklen_t) -> c_int {
    let target = if BROKERED.load(Ordering::Acquire) { ip_address(address, length) } else { None };
    let Some(target) = target else {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { libc::syscall(libc::SYS_connect, fd, address, length) } as c_int;
    };
    match ask(&format!("connect {} {}\n", target.ip(), target.port())) {
        Ok((answer, Some(socket))) if answer == "ok" => take_place(fd, socket),
        Ok((answer, _)) => {
            set_errno(answer.strip_prefix("no ").and_then(|code| code.parse().ok()).unwrap_or(libc::EACCES));
            -1
        }
        Err(_) => {
            set_errno(libc::EACCES);
            -1
        }
    }
}

/// Puts `socket` where `fd` is, keeping what the plugin set on `fd`.
fn take_place(fd: c_int, socket: OwnedFd) -> c_int {
    let option = |level: c_int, name: c_int| -> Option<c_int> {
        let mut value: c_int = 0;
        let mut size = std::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: a valid out-pointer and its size.
        let result = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast::<c_void>(), &mut size) };
        (result == 0 && value != 0).then_some(value)
    };
    let nodelay = option(libc::IPPROTO_TCP, libc::TCP_NODELAY);
    let keepalive = option(libc::SOL_SOCKET, libc::SO_KEEPALIVE);
    // SAFETY: plain descriptor calls; a bad `fd` makes them fail with EBADF, which is returned.
    unsafe {
        let status = libc::fcntl(fd, libc::F_GETFL);
        let descriptor = libc::fcntl(fd, libc::F_GETFD);
        if status < 0 || descriptor < 0 {
            return -1;
        }
        let cloexec = if descriptor & libc::FD_CLOEXEC != 0 { libc::O_CLOEXEC } else { 0 };
        if libc::dup3(socket.as_raw_fd(), fd, cloexec) < 0 {
            return -1;
        }
        if status & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK);
        }
        let one: c_int = 1;
        let size = std::mem::size_of::<c_int>() as libc::socklen_t;
        for (set, level, name) in
            [(nodelay, libc::IPPROTO_TCP, libc::TCP_NODELAY), (keepalive, libc::SOL_SOCKET, libc::SO_KEEPALIVE)]
        {
            if set.is_some() {
                libc::setsockopt(fd, level, name, (&raw const one).cast::<c_void>(), size);
            }
        }
    }
    0
}

type GetAddrInfo =
    unsafe extern "C" fn(*const c_char, *const c_char, *const libc::addrinfo, *mut *mut libc::addrinfo) -> c_int;

/// The C library's `getaddrinfo`, the definition after the runner's.
fn system_getaddrinfo() -> Option<GetAddrInfo> {
    static FOUND: OnceLock<usize> = OnceLock::new();
    let address = *FOUND.get_or_init(|| {
        // SAFETY: looks a symbol up by a NUL-terminated name.
        unsafe { libc::dlsym(libc::RTLD_NEXT, c"getaddrinfo".as_ptr()) as usize }
    });
    // SAFETY: a non-null `getaddrinfo` of the C library has exactly this signature.
    (address != 0).then(|| unsafe { std::mem::transmute::<usize, GetAddrInfo>(address) })
}

/// `getaddrinfo(3)` as the plugin calls it. Brokered: numeric addresses are answered here,
/// names by the broker (a name the plugin may not reach fails with `EAI_SYSTEM` and `EACCES`);
/// only numeric services. Otherwise the C library's.
///
/// # Safety
///
/// As `getaddrinfo(3)`: `node` and `service` are null or NUL-terminated, `hints` null or
/// valid, `result` writable. The list is allocated as the C library does, so that its
/// `freeaddrinfo` releases it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    result: *mut *mut libc::addrinfo,
) -> c_int {
    if !BROKERED.load(Ordering::Acquire) || node.is_null() {
        return match system_getaddrinfo() {
            // SAFETY: the caller's arguments, passed on unchanged.
            Some(system) => unsafe { system(node, service, hints, result) },
            None => libc::EAI_FAIL,
        };
    }
    // SAFETY: the caller's contract (see above).
    let (name, service, hints) = unsafe {
        (
            CStr::from_ptr(node).to_string_lossy().into_owned(),
            (!service.is_null()).then(|| CStr::from_ptr(service).to_string_lossy().into_owned()),
            hints.as_ref().copied(),
        )
    };
    let (flags, family, socktype) = hints.map_or((0, libc::AF_UNSPEC, 0), |h| (h.ai_flags, h.ai_family, h.ai_socktype));
    let port = match service.as_deref().map(str::parse::<u16>) {
        None => 0,
        Some(Ok(port)) => port,
        Some(Err(_)) => return libc::EAI_SERVICE,
    };
    let addresses = match name.parse::<IpAddr>() {
        Ok(address) => vec![address],
        Err(_) if flags & libc::AI_NUMERICHOST != 0 => return libc::EAI_NONAME,
        Err(_) => match ask(&format!("lookup {name}\n")) {
            Ok((answer, _)) if answer == "denied" => {
                set_errno(libc::EACCES);
                return libc::EAI_SYSTEM;
            }
            Ok((answer, _)) => match answer.strip_prefix("ok") {
                Some(list) => list.split_whitespace().filter_map(|address| address.parse().ok()).collect(),
                None => return libc::EAI_NONAME,
            },
            Err(_) => return libc::EAI_FAIL,
        },
    };
    let wanted: Vec<IpAddr> = addresses
        .into_iter()
        .filter(|address| match family {
            libc::AF_INET => address.is_ipv4(),
            libc::AF_INET6 => address.is_ipv6(),
            _ => true,
        })
        .collect();
    if wanted.is_empty() {
        return libc::EAI_NONAME;
    }
    let socktype = if socktype == 0 { libc::SOCK_STREAM } else { socktype };
    let protocol = if socktype == libc::SOCK_DGRAM { libc::IPPROTO_UDP } else { libc::IPPROTO_TCP };
    let canonical = (flags & libc::AI_CANONNAME != 0).then_some(name);
    // SAFETY: allocation only (see `address_list`).
    match unsafe { address_list(&wanted, port, socktype, protocol, canonical.as_deref()) } {
        Some(list) => {
            // SAFETY: `result` is writable (the caller's contract).
            unsafe { *result = list };
            0
        }
        None => libc::EAI_MEMORY,
    }
}

/// An `addrinfo` list as glibc builds it: each entry one `malloc` block with its socket
/// address behind it, the canonical name (first entry only) a block of its own.
///
/// # Safety
///
/// None beyond the allocation; the caller hands the list to the plugin, which frees it with
/// `freeaddrinfo`.
unsafe fn address_list(
    addresses: &[IpAddr],
    port: u16,
    socktype: c_int,
    protocol: c_int,
    canonical: Option<&str>,
) -> Option<*mut libc::addrinfo> {
    let entry_size = std::mem::size_of::<libc::addrinfo>() + std::mem::size_of::<libc::sockaddr_in6>();
    let mut next: *mut libc::addrinfo = std::ptr::null_mut();
    for (index, address) in addresses.iter().enumerate().rev() {
        // SAFETY: a zeroed block large enough for the entry and either socket address; every
        // field is written through properly aligned pointers (malloc's alignment).
        unsafe {
            let entry = libc::calloc(1, entry_size).cast::<libc::addrinfo>();
            if entry.is_null() {
                libc::freeaddrinfo(next);
                return None;
            }
            let socket_address = entry.add(1).cast::<libc::sockaddr>();
            let length = match address {
                IpAddr::V4(v4) => {
                    let target = socket_address.cast::<libc::sockaddr_in>();
                    (*target).sin_family = libc::AF_INET as libc::sa_family_t;
                    (*target).sin_port = port.to_be();
                    (*target).sin_addr.s_addr = u32::from(*v4).to_be();
                    std::mem::size_of::<libc::sockaddr_in>()
                }
                IpAddr::V6(v6) => {
                    let target = socket_address.cast::<libc::sockaddr_in6>();
                    (*target).sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    (*target).sin6_port = port.to_be();
                    (*target).sin6_addr.s6_addr = v6.octets();
                    std::mem::size_of::<libc::sockaddr_in6>()
                }
            };
            (*entry).ai_family = if address.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
            (*entry).ai_socktype = socktype;
            (*entry).ai_protocol = protocol;
            (*entry).ai_addrlen = length as libc::socklen_t;
            (*entry).ai_addr = socket_address;
            (*entry).ai_next = next;
            if index == 0
                && let Some(name) = canonical
                && let Ok(name) = std::ffi::CString::new(name)
            {
                (*entry).ai_canonname = libc::strdup(name.as_ptr());
            }
            next = entry;
        }
    }
    Some(next)
}
