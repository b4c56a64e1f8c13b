//! The network broker of a sandboxed plugin whose network grant names hosts: the runner may
//! not connect a socket itself (seccomp denies `connect`) nor look names up (no UDP), so it asks
//! here, over a socket pair of its own, from whichever of its threads wants to connect. The
//! broker checks the request against what the plugin may do (granted and declared), looks the
//! name up or connects, and hands the connected socket over with `SCM_RIGHTS`. Host names are
//! thereby pinned: a connection is made only to an address the granted name resolved to here,
//! or to a granted address itself. The runner's `connect` and `getaddrinfo` speak this
//! protocol for the plugin, which keeps using ordinary sockets.
//!
//! One line per request, one line per answer:
//!
//! - `lookup NAME` → `ok ADDRESS…` (possibly none), `denied`, or `unknown` (no such host);
//! - `connect ADDRESS PORT` → `ok` (with the connected socket attached) or `no ERRNO`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use tusk_plugin_boundary::fdpass;
use tusk_plugin_catalog::permissions::PluginGrants;

/// The longest request line (a host name is at most 253 bytes).
const MAX_LINE: u64 = 512;

/// Serves the runner's end of `socket` on a thread of its own until the runner closes it.
pub(crate) fn start(socket: UnixStream, grants: PluginGrants, connect_timeout: Duration) -> std::io::Result<()> {
    std::thread::Builder::new().name("tusk-net-broker".into()).spawn(move || {
        let mut broker = Broker { grants, connect_timeout, resolved: Vec::new() };
        broker.serve(socket);
    })?;
    Ok(())
}

struct Broker {
    grants: PluginGrants,
    connect_timeout: Duration,
    /// Granted names looked up so far, with their addresses: what a connection may go to.
    resolved: Vec<(String, Vec<IpAddr>)>,
}

enum Answer {
    Text(String),
    Connected(TcpStream),
}

impl Broker {
    fn serve(&mut self, socket: UnixStream) {
        let Ok(reading) = socket.try_clone() else { return };
        let mut reader = BufReader::new(reading);
        let mut line = String::new();
        loop {
            line.clear();
            match (&mut reader).take(MAX_LINE).read_line(&mut line) {
                Ok(0) | Err(_) => return,
                // A line without its end is longer than any request: not the runner's protocol.
                Ok(_) if !line.ends_with('\n') => return,
                Ok(_) => {}
            }
            let sent = match self.answer(line.trim_end()) {
                Answer::Text(text) => (&socket).write_all(text.as_bytes()),
                Answer::Connected(stream) => fdpass::send(&socket, b"ok\n", &[stream.as_fd()]),
            };
            if sent.is_err() {
                return;
            }
        }
    }

    fn answer(&mut self, request: &str) -> Answer {
        let words: Vec<&str> = request.split(' ').collect();
        match words.as_slice() {
            ["lookup", name] => Answer::Text(self.lookup(name)),
            ["connect", address, port] => match (address.parse::<IpAddr>(), port.parse::<u16>()) {
                (Ok(address), Ok(port)) => self.connect(address.to_canonical(), port),
                _ => Answer::Text(format!("no {}\n", nix::libc::EINVAL)),
            },
            _ => Answer::Text(format!("no {}\n", nix::libc::EINVAL)),
        }
    }

    fn lookup(&mut self, name: &str) -> String {
        if !self.grants.may_reach(name) {
            return "denied\n".to_string();
        }
        let Ok(addresses) = (name, 0).to_socket_addrs() else { return "unknown\n".to_string() };
        let mut found: Vec<IpAddr> = Vec::new();
        for address in addresses.map(|address| address.ip().to_canonical()) {
            if !found.contains(&address) {
                found.push(address);
            }
        }
        let text: Vec<String> = found.iter().map(IpAddr::to_string).collect();
        let answer = format!("ok {}\n", text.join(" "));
        let name = name.to_ascii_lowercase();
        self.resolved.retain(|(known, _)| *known != name);
        self.resolved.push((name, found));
        answer
    }

    fn connect(&self, address: IpAddr, port: u16) -> Answer {
        let granted = self.grants.may_connect(&address.to_string(), port)
            || self
                .resolved
                .iter()
                .any(|(name, addresses)| addresses.contains(&address) && self.grants.may_connect(name, port));
        if !granted {
            return Answer::Text(format!("no {}\n", nix::libc::EACCES));
        }
        match TcpStream::connect_timeout(&SocketAddr::new(address, port), self.connect_timeout) {
            Ok(stream) => Answer::Connected(stream),
            Err(error) => Answer::Text(format!("no {}\n", error.raw_os_error().unwrap_or(nix::libc::EIO))),
        }
    }
}
