//! Syslog sinks: every event as one RFC 5424 message, in one datagram, to a local syslog
//! daemon's Unix datagram socket (`/dev/log` by default) or to a UDP address (RFC 5426).
//!
//! The framing is written here rather than taken from the `syslog` crate: that crate's RFC 5424
//! formatter takes the MSGID as a number (so no `-`), keeps structured data in a map sorted by
//! name (losing the order of the script's fields), does not check SD-NAMEs, header fields or
//! the UTF-8 BOM, and always stamps the current time; each of those is a line or two here,
//! and tests check the exact bytes.
//!
//! A message is `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG`, with the
//! event's fields as the parameters of one SD-ELEMENT (`[tusk@32473 user="42"]`, `-` when
//! there are none) and the message last.
//!
//! Sending is checked against the user's grants like every other I/O of the plugin: a UDP
//! destination through the host's connect check (`--allow-net`), a Unix socket through the
//! host's write check on its path (`--allow-write`; connecting to a socket is writing to it).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;

use serde::Deserialize;
use tusk_plugin_sdk::{ErrorKind, host};

use crate::config::Level;
use crate::error::LoggingError;
use crate::fields::FieldValue;

/// The local syslog daemon's socket.
pub(crate) const DEFAULT_SOCKET: &str = "/dev/log";
/// The syslog port (RFC 5426).
const DEFAULT_UDP_PORT: u16 = 514;
/// The APP-NAME when none is configured.
const DEFAULT_APP_NAME: &str = "tusk";
/// The SD-ID of the element holding the event's fields. `name@number` is the private form;
/// 32473 is the enterprise number RFC 5612 reserves for examples, so users with their own
/// number set `sd_id`.
const DEFAULT_SD_ID: &str = "tusk@32473";
/// RFC 5424's UTF-8 marker in front of a message that is not plain ASCII.
const BOM: &str = "\u{feff}";

/// The facility names and codes of RFC 5424 §6.2.1 that have a common name.
const FACILITIES: [(&str, u8); 20] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// A syslog sink's settings, as `{syslog: {…}}` in the configuration and in `@log.add_sink`
/// (`config.schema.json` describes them).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyslogConfig {
    /// `unix` or `udp`; default: `udp` when `address` is given, else `unix`.
    pub(crate) transport: Option<String>,
    /// The Unix datagram socket (default `/dev/log`).
    pub(crate) path: Option<String>,
    /// `host:port` (port 514 when left out) for UDP.
    pub(crate) address: Option<String>,
    pub(crate) facility: Option<String>,
    pub(crate) app_name: Option<String>,
    /// Default: this machine's name.
    pub(crate) hostname: Option<String>,
    pub(crate) msgid: Option<String>,
    pub(crate) sd_id: Option<String>,
}

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    Unix(String),
    Udp { host: String, port: u16 },
}

impl Destination {
    /// How errors and `@log.add_sink` name the sink: `syslog unix /dev/log`,
    /// `syslog udp 127.0.0.1:514`.
    pub(crate) fn name(&self) -> String {
        match self {
            Destination::Unix(path) => format!("syslog unix {path}"),
            Destination::Udp { host, port } if host.contains(':') => format!("syslog udp [{host}]:{port}"),
            Destination::Udp { host, port } => format!("syslog udp {host}:{port}"),
        }
    }
}

/// The parts of every message that do not change per event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) facility: u8,
    pub(crate) hostname: String,
    pub(crate) app_name: String,
    pub(crate) procid: String,
    pub(crate) msgid: String,
    pub(crate) sd_id: String,
}

impl SyslogConfig {
    /// Checks the settings and fills the defaults.
    pub(crate) fn resolve(&self) -> Result<(Destination, Header), LoggingError> {
        let invalid = |message: String| Err(LoggingError::InvalidSyslog(message));
        let transport = match (self.transport.as_deref(), &self.address) {
            (Some(transport @ ("unix" | "udp")), _) => transport,
            (Some(other), _) => {
                return invalid(format!("unknown syslog transport `{other}`; the transports are unix and udp"));
            }
            (None, Some(_)) => "udp",
            (None, None) => "unix",
        };
        let destination = match (transport, &self.path, &self.address) {
            ("unix", path, None) => Destination::Unix(path.clone().unwrap_or_else(|| DEFAULT_SOCKET.to_string())),
            ("udp", None, Some(address)) => {
                let (host, port) = split_address(address)?;
                Destination::Udp { host, port }
            }
            ("udp", None, None) => return invalid("the udp transport needs an `address` (host:port)".to_string()),
            ("udp", Some(_), _) => {
                return invalid("`path` is for the unix transport; the udp transport takes an `address`".to_string());
            }
            (_, _, _) => {
                return invalid("`address` is for the udp transport; the unix transport takes a `path`".to_string());
            }
        };
        let facility = match self.facility.as_deref() {
            None => 1,
            Some(name) => match FACILITIES.iter().find(|(known, _)| *known == name) {
                Some(&(_, code)) => code,
                None => {
                    return invalid(format!(
                        "unknown syslog facility `{name}`; the facilities are kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp and local0 to local7"
                    ));
                }
            },
        };
        let hostname = match &self.hostname {
            Some(name) => header_field("hostname", name, 255)?,
            None => this_host(),
        };
        let app_name = header_field("app_name", self.app_name.as_deref().unwrap_or(DEFAULT_APP_NAME), 48)?;
        let msgid = match &self.msgid {
            Some(msgid) => header_field("msgid", msgid, 32)?,
            None => "-".to_string(),
        };
        let sd_id = self.sd_id.as_deref().unwrap_or(DEFAULT_SD_ID);
        if !is_sd_name(sd_id) {
            return invalid(format!(
                "`sd_id` must be 1 to 32 printable ASCII characters other than space, =, ] and \", found `{sd_id}`"
            ));
        }
        let header =
            Header { facility, hostname, app_name, procid: std::process::id().to_string(), msgid, sd_id: sd_id.into() };
        Ok((destination, header))
    }
}

/// `host:port`, `host` (port 514), `[v6]:port` or a bare IPv6 address.
fn split_address(address: &str) -> Result<(String, u16), LoggingError> {
    let bad_port = || LoggingError::InvalidSyslog(format!("the syslog address `{address}` has no valid port"));
    if let Ok(socket) = address.parse::<SocketAddr>() {
        return Ok((socket.ip().to_string(), socket.port()));
    }
    if address.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((address.to_string(), DEFAULT_UDP_PORT));
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|port| *port != 0).ok_or_else(bad_port)?),
        None => (address, DEFAULT_UDP_PORT),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(LoggingError::InvalidSyslog(format!("the syslog address `{address}` has no host")));
    }
    Ok((host.to_string(), port))
}

/// A header field: 1 to `max` printable ASCII characters (no spaces).
fn header_field(what: &str, value: &str, max: usize) -> Result<String, LoggingError> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(LoggingError::InvalidSyslog(format!(
            "`{what}` must be 1 to {max} printable ASCII characters without spaces, found `{value}`"
        )));
    }
    Ok(value.to_string())
}

/// This machine's name, or `-` (RFC 5424's NILVALUE) when it has none a header may carry.
fn this_host() -> String {
    let name = nix::unistd::gethostname().ok().and_then(|name| name.into_string().ok()).unwrap_or_default();
    header_field("hostname", &name, 255).unwrap_or_else(|_| "-".to_string())
}

/// An SD-NAME: 1 to 32 printable ASCII characters except `=`, space, `]` and `"`.
fn is_sd_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|byte| byte.is_ascii_graphic() && !b"=]\"".contains(&byte))
}

/// A field name as an SD-NAME: characters it may not hold become `_`, and it is cut at 32.
fn param_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_graphic() && !"=]\"".contains(c) { c } else { '_' }).take(32).collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// RFC 5424 §6.3.3: `"`, `\` and `]` in a PARAM-VALUE are escaped with a backslash.
fn push_param_value(out: &mut String, value: &str) {
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The severity of RFC 5424 §6.2.1 for a level (syslog has no trace: it is debug).
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One message. `timestamp` is RFC 3339 (`None` writes the NILVALUE `-`).
pub(crate) fn frame(
    header: &Header,
    level: Level,
    timestamp: Option<&str>,
    message: &str,
    fields: &[(String, FieldValue)],
) -> String {
    let priority = u32::from(header.facility) * 8 + u32::from(severity(level));
    let mut out = format!(
        "<{priority}>1 {} {} {} {} {} ",
        timestamp.unwrap_or("-"),
        header.hostname,
        header.app_name,
        header.procid,
        header.msgid
    );
    if fields.is_empty() {
        out.push('-');
    } else {
        out.push('[');
        out.push_str(&header.sd_id);
        for (name, value) in fields {
            out.push(' ');
            out.push_str(&param_name(name));
            out.push_str("=\"");
            push_param_value(&mut out, &value.text());
            out.push('"');
        }
        out.push(']');
    }
    if !message.is_empty() {
        out.push(' ');
        if !message.is_ascii() {
            out.push_str(BOM);
        }
        out.push_str(message);
    }
    out
}

/// An open syslog sink.
pub(crate) struct SyslogSink {
    pub(crate) destination: Destination,
    header: Header,
    socket: Socket,
}

enum Socket {
    Unix(UnixDatagram),
    Udp(UdpSocket),
}

impl SyslogSink {
    /// Checks the grant for the destination, then connects a socket to it.
    pub(crate) fn open(config: &SyslogConfig) -> Result<SyslogSink, LoggingError> {
        let (destination, header) = config.resolve()?;
        let name = destination.name();
        let failed = |error: io::Error| LoggingError::Syslog { sink: name.clone(), reason: reason(&error) };
        let socket = match &destination {
            Destination::Unix(path) => {
                let resolved = host::resolve_path(path);
                check_unix_grant(&resolved, &name)?;
                Socket::Unix(connect_unix(&resolved).map_err(failed)?)
            }
            Destination::Udp { host: address, port } => {
                host::check_connect(address, *port)
                    .map_err(|error| LoggingError::PermissionDenied(error.message_text().to_string()))?;
                Socket::Udp(connect_udp(address, *port).map_err(failed)?)
            }
        };
        Ok(SyslogSink { destination, header, socket })
    }

    /// Sends one event.
    pub(crate) fn send(
        &self,
        level: Level,
        timestamp: Option<&str>,
        message: &str,
        fields: &[(String, FieldValue)],
    ) -> Result<(), LoggingError> {
        let frame = frame(&self.header, level, timestamp, message, fields);
        let sent = match &self.socket {
            Socket::Unix(socket) => socket.send(frame.as_bytes()).or_else(|error| {
                // The daemon may have restarted and bound a new socket at the same path (the
                // old one refuses; after a failed reconnect the socket is not connected).
                let reconnect = matches!(error.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotConnected);
                match &self.destination {
                    Destination::Unix(path) if reconnect => {
                        socket.connect(host::resolve_path(path))?;
                        socket.send(frame.as_bytes())
                    }
                    _ => Err(error),
                }
            }),
            Socket::Udp(socket) => socket.send(frame.as_bytes()),
        };
        sent.map(drop).map_err(|error| LoggingError::Syslog { sink: self.destination.name(), reason: reason(&error) })
    }
}

/// Asks the host whether the plugin may write (and so connect to) the socket at `path`.
///
/// The SDK has no check-only call for writing, so this appends nothing through the host: the
/// host checks the grant first (a refusal names the flag to add), then opens the path, which
/// for a socket fails (`ENXIO`) and changes nothing. That is why the path must be a socket
/// before asking: appending nothing to a missing path would create a file there.
fn check_unix_grant(path: &str, name: &str) -> Result<(), LoggingError> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| LoggingError::Syslog { sink: name.to_string(), reason: reason(&error) })?;
    if !metadata.file_type().is_socket() {
        return Err(LoggingError::Syslog { sink: name.to_string(), reason: format!("{path} is not a socket") });
    }
    match host::append_file(path, "") {
        Err(error) if error.kind() == ErrorKind::PermissionDenied => {
            Err(LoggingError::PermissionDenied(error.message_text().to_string()))
        }
        _ => Ok(()),
    }
}

fn connect_unix(path: &str) -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    Ok(socket)
}

fn connect_udp(address: &str, port: u16) -> io::Result<UdpSocket> {
    let target = (address, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{address} has no address")))?;
    let local: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local)?;
    socket.connect(target)?;
    Ok(socket)
}

/// An I/O error as a reason; a sandbox's refusal to make the socket (its system call filter
/// answers `EPERM`; file permissions on a socket give `EACCES`) says what would allow it.
fn reason(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(nix::libc::EPERM) => format!(
            "{error}; a sandboxed plugin may open UDP sockets only with --allow-net for every host, and Unix sockets only with --allow-net and --allow-write for every path (first-party plugins run in-process, where the grants alone decide)"
        ),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            facility: 16,
            hostname: "web1".into(),
            app_name: "billing".into(),
            procid: "42".into(),
            msgid: "-".into(),
            sd_id: "tusk@32473".into(),
        }
    }

    fn text(value: &str) -> FieldValue {
        FieldValue::Text(value.to_string())
    }

    #[test]
    fn frames_follow_rfc_5424() {
        let header = header();
        assert_eq!(frame(&header, Level::Info, None, "started", &[]), "<134>1 - web1 billing 42 - - started");
        assert_eq!(
            frame(&header, Level::Error, Some("2026-03-01T10:00:00.123456Z"), "failed", &[]),
            "<131>1 2026-03-01T10:00:00.123456Z web1 billing 42 - - failed"
        );
        let fields = [
            ("user".to_string(), FieldValue::Int(42)),
            ("ratio".to_string(), FieldValue::Float(2.0)),
            ("ok".to_string(), FieldValue::Bool(false)),
            ("quote".to_string(), text(r#"a "b" \c ]d"#)),
            ("odd key=x]".to_string(), text("v")),
            ("".to_string(), text("empty name")),
        ];
        assert_eq!(
            frame(&header, Level::Warn, None, "", &fields),
            r#"<132>1 - web1 billing 42 - [tusk@32473 user="42" ratio="2.0" ok="false" quote="a \"b\" \\c \]d" odd_key_x_="v" _="empty name"]"#
        );
        // Not ASCII: the message starts with the BOM.
        assert_eq!(frame(&header, Level::Debug, None, "héllo", &[]), "<135>1 - web1 billing 42 - - \u{feff}héllo");
        assert_eq!(frame(&header, Level::Trace, None, "t", &[]), "<135>1 - web1 billing 42 - - t");
        let long = "n".repeat(40);
        assert_eq!(
            frame(&header, Level::Info, None, "m", &[(long, FieldValue::Int(1))]),
            format!("<134>1 - web1 billing 42 - [tusk@32473 {}=\"1\"] m", "n".repeat(32))
        );
    }

    #[test]
    fn settings_default_to_the_local_socket_and_the_user_facility() {
        let (destination, header) = SyslogConfig::default().resolve().unwrap();
        assert_eq!(destination, Destination::Unix("/dev/log".into()));
        assert_eq!((header.facility, header.app_name.as_str()), (1, "tusk"));
        assert_eq!((header.msgid.as_str(), header.sd_id.as_str()), ("-", "tusk@32473"));
        assert_eq!(header.procid, std::process::id().to_string());
        let config = SyslogConfig { address: Some("logs.example.com".into()), ..SyslogConfig::default() };
        assert_eq!(config.resolve().unwrap().0, Destination::Udp { host: "logs.example.com".into(), port: 514 });
        let config = SyslogConfig { address: Some("[::1]:5514".into()), ..SyslogConfig::default() };
        let destination = config.resolve().unwrap().0;
        assert_eq!(destination, Destination::Udp { host: "::1".into(), port: 5514 });
        assert_eq!(destination.name(), "syslog udp [::1]:5514");
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let cases = [
            (
                SyslogConfig { transport: Some("tcp".into()), ..SyslogConfig::default() },
                "unknown syslog transport `tcp`; the transports are unix and udp",
            ),
            (
                SyslogConfig { transport: Some("udp".into()), ..SyslogConfig::default() },
                "the udp transport needs an `address` (host:port)",
            ),
            (
                SyslogConfig { transport: Some("unix".into()), address: Some("h:1".into()), ..SyslogConfig::default() },
                "`address` is for the udp transport; the unix transport takes a `path`",
            ),
            (
                SyslogConfig { path: Some("/s".into()), address: Some("h:1".into()), ..SyslogConfig::default() },
                "`path` is for the unix transport; the udp transport takes an `address`",
            ),
            (
                SyslogConfig { address: Some("h:99999".into()), ..SyslogConfig::default() },
                "the syslog address `h:99999` has no valid port",
            ),
            (
                SyslogConfig { address: Some(":514".into()), ..SyslogConfig::default() },
                "the syslog address `:514` has no host",
            ),
            (
                SyslogConfig { facility: Some("local8".into()), ..SyslogConfig::default() },
                "unknown syslog facility `local8`; the facilities are kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp and local0 to local7",
            ),
            (
                SyslogConfig { app_name: Some("my app".into()), ..SyslogConfig::default() },
                "`app_name` must be 1 to 48 printable ASCII characters without spaces, found `my app`",
            ),
            (
                SyslogConfig { msgid: Some(String::new()), ..SyslogConfig::default() },
                "`msgid` must be 1 to 32 printable ASCII characters without spaces, found ``",
            ),
            (
                SyslogConfig { sd_id: Some("a=b".into()), ..SyslogConfig::default() },
                "`sd_id` must be 1 to 32 printable ASCII characters other than space, =, ] and \", found `a=b`",
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.resolve().unwrap_err().to_string(), expected);
        }
    }
}
