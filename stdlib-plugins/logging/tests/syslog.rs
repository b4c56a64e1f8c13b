//! Syslog sinks through the real host, received by the test itself: a Unix datagram socket in
//! a temporary folder and a UDP socket on 127.0.0.1 stand in for the syslog daemon, and the
//! tests compare the exact RFC 5424 messages they receive.
//!
//! Most tests run the plugin in-process (trusted), as the first-party plugin runs next to
//! `tusk`; the sandboxed tests check that the grants are asked for and that a sandbox's refusal
//! is reported cleanly.

use std::net::UdpSocket;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tusk_plugin_testkit::PluginTest;

/// Long enough never to fire on a working machine; only keeps a broken test from hanging.
const RECEIVE_GUARD: Duration = Duration::from_secs(60);

/// A syslog daemon's Unix datagram socket, bound in a folder of the test.
struct UnixReceiver {
    socket: UnixDatagram,
    path: PathBuf,
}

impl UnixReceiver {
    fn bind(folder: &Path) -> UnixReceiver {
        let path = folder.join("log.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(RECEIVE_GUARD)).unwrap();
        UnixReceiver { socket, path }
    }

    fn receive(&self) -> String {
        let mut buffer = vec![0u8; 65536];
        let length = self.socket.recv(&mut buffer).expect("a syslog message arrives");
        String::from_utf8(buffer[..length].to_vec()).unwrap()
    }

    /// Nothing more arrived (the sender is done: every send happened during the calls).
    fn assert_empty(&self) {
        self.socket.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 16];
        let error = self.socket.recv(&mut buffer).expect_err("no further message");
        assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
        self.socket.set_nonblocking(false).unwrap();
    }
}

/// A syslog daemon listening on UDP on 127.0.0.1.
struct UdpReceiver {
    socket: UdpSocket,
}

impl UdpReceiver {
    fn bind() -> UdpReceiver {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(RECEIVE_GUARD)).unwrap();
        UdpReceiver { socket }
    }

    fn address(&self) -> String {
        self.socket.local_addr().unwrap().to_string()
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    fn receive(&self) -> String {
        let mut buffer = vec![0u8; 65536];
        let (length, _) = self.socket.recv_from(&mut buffer).expect("a syslog message arrives");
        String::from_utf8(buffer[..length].to_vec()).unwrap()
    }
}

fn plugin() -> PluginTest {
    PluginTest::for_package(env!("CARGO_MANIFEST_DIR"))
}

/// A script section configuring the plugin, then `body`.
fn script(config: &str, body: &str) -> String {
    format!("plugins: {{logging: {{{config}}}}}\n{body}")
}

/// The headline of the rendered diagnostic (code, symbol and message).
fn error(plugin: &mut PluginTest, source: &str) -> String {
    let rendered = plugin.eval_expression(source).expect_err(source);
    rendered.lines().next().unwrap_or_default().to_string()
}

/// `2026-03-01T10:00:00.123456Z`: RFC 3339, UTC, microseconds (RFC 5424 allows at most six
/// fraction digits).
fn is_rfc3339_utc_micros(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    text.len() == 27
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19] == b'.'
        && digits(20..26)
        && bytes[26] == b'Z'
}

#[test]
fn a_unix_socket_receives_exact_rfc5424_messages() {
    let mut plugin = plugin();
    let receiver = UnixReceiver::bind(plugin.script_dir());
    plugin.grant(&format!("--allow-write={}", receiver.path.display()));
    plugin.in_process();
    let config = format!(
        "timestamps: false, target: \"none\", sinks: [{{syslog: {{path: \"{}\", facility: \"local3\", app_name: \"billing\", hostname: \"web1\", msgid: \"audit\"}}}}]",
        receiver.path.display()
    );
    let body = r#"a: @log("info", "user signed in", {user: 42, admin: false, ratio: 0.5})
b: @log("error", "payment failed", {reason: "card \"declined\" [code 51] c:\\x", tags: ["x", 1], none: null, "odd key": 1})
c: @log("debug", "filtered out")
d: @log("warn", "héllo wörld")
e: @log("info", "")
"#;
    let document = plugin.eval(&script(&config, body)).unwrap();
    assert_eq!(document["a"], json!(null));
    let pid = std::process::id();
    assert_eq!(
        receiver.receive(),
        format!(r#"<158>1 - web1 billing {pid} audit [tusk@32473 user="42" admin="false" ratio="0.5"] user signed in"#)
    );
    // §6.3.3: `"`, `\` and `]` are escaped in parameter values; field names that are not
    // SD-NAMEs have their other characters replaced.
    assert_eq!(
        receiver.receive(),
        format!(
            r#"<155>1 - web1 billing {pid} audit [tusk@32473 reason="card \"declined\" [code 51\] c:\\x" tags="[\"x\",1\]" none="null" odd_key="1"] payment failed"#
        )
    );
    // A message that is not ASCII starts with the UTF-8 BOM; an empty one is left out.
    assert_eq!(receiver.receive(), format!("<156>1 - web1 billing {pid} audit - \u{feff}héllo wörld"));
    assert_eq!(receiver.receive(), format!("<158>1 - web1 billing {pid} audit -"));
    receiver.assert_empty();
}

#[test]
fn udp_messages_carry_the_time_the_host_name_and_the_defaults() {
    let mut plugin = plugin();
    let receiver = UdpReceiver::bind();
    plugin.grant(&format!("--allow-net={}", receiver.address()));
    plugin.in_process();
    let body = format!(
        "sink: add_sink({{syslog: {{address: \"{}\"}}}})\na: @log(\"info\", \"over udp\", {{n: 1}})\n",
        receiver.address()
    );
    let document = plugin.eval(&script("target: \"none\"", &body)).unwrap();
    assert_eq!(document["sink"], json!(format!("syslog udp {}", receiver.address())));
    let message = receiver.receive();
    // `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`: facility user (1) and
    // severity informational (6), this machine's name, app `tusk`, no message id.
    let parts: Vec<&str> = message.splitn(8, ' ').collect();
    assert_eq!(parts[0], "<14>1");
    assert!(is_rfc3339_utc_micros(parts[1]), "{message}");
    let hostname = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(
        parts[2..],
        [hostname.as_str(), "tusk", &std::process::id().to_string(), "-", r#"[tusk@32473"#, r#"n="1"] over udp"#]
    );
}

#[test]
fn syslog_sinks_come_from_the_user_configuration_and_from_add_sink() {
    let mut plugin = plugin();
    let (first, second) = (UdpReceiver::bind(), UdpReceiver::bind());
    plugin.with_user_config(&format!(
        "[plugins.logging]\ntimestamps = false\ntarget = \"none\"\nsinks = [{{syslog = {{address = \"{}\", app_name = \"from-config\", hostname = \"h\", facility = \"daemon\"}}}}]\n",
        first.address()
    ));
    plugin.grant("--allow-net=127.0.0.1");
    plugin.in_process();
    let body = format!(
        "a: @log(\"warn\", \"one\")\nsink: @log.add_sink({{syslog: {{transport: \"udp\", address: \"127.0.0.1:{}\", app_name: \"added\", hostname: \"h\", sd_id: \"app@99999\"}}}})\nb: @log(\"error\", \"two\", {{k: \"v\"}})\n",
        second.port()
    );
    let document = plugin.eval(&body).unwrap();
    assert_eq!(document["sink"], json!(format!("syslog udp {}", second.address())));
    let pid = std::process::id();
    assert_eq!(first.receive(), format!("<28>1 - h from-config {pid} - - one"));
    assert_eq!(first.receive(), format!(r#"<27>1 - h from-config {pid} - [tusk@32473 k="v"] two"#));
    assert_eq!(second.receive(), format!(r#"<11>1 - h added {pid} - [app@99999 k="v"] two"#));
}

#[test]
fn adding_a_destination_again_replaces_its_settings() {
    let mut plugin = plugin();
    let receiver = UdpReceiver::bind();
    plugin.grant(&format!("--allow-net={}", receiver.address()));
    plugin.in_process();
    let sink = |app: &str| {
        format!("add_sink({{syslog: {{address: \"{}\", app_name: \"{app}\", hostname: \"h\"}}}})", receiver.address())
    };
    let body = format!("s1: {}\ns2: {}\na: @log(\"info\", \"once\")\n", sink("first"), sink("second"));
    plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    assert_eq!(receiver.receive(), format!("<14>1 - h second {} - - once", std::process::id()));
    // Exactly one message: a datagram sent twice would be waiting now.
    receiver.socket.set_nonblocking(true).unwrap();
    assert_eq!(receiver.socket.recv(&mut [0u8; 16]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn a_receiver_that_went_away_fails_the_log_call() {
    let mut plugin = plugin();
    let receiver = UnixReceiver::bind(plugin.script_dir());
    let path = receiver.path.clone();
    plugin.grant(&format!("--allow-write={}", path.display()));
    plugin.in_process();
    let sink = format!("add_sink({{syslog: {{path: \"{}\"}}}})", path.display());
    assert_eq!(plugin.eval_expression(&sink).unwrap(), json!(format!("syslog unix {}", path.display())));
    drop(receiver);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        error(&mut plugin, r#"@log("error", "lost?")"#),
        format!("[R015] Error: @log: syslog unix {}: No such file or directory (os error 2)", path.display())
    );
    // A daemon that restarted (a new socket at the same path) gets the next event.
    let restarted = UnixReceiver::bind(plugin.script_dir());
    assert_eq!(plugin.eval_expression(r#"@log("error", "back")"#).unwrap(), json!(null));
    assert!(restarted.receive().ends_with(" - - back"));
}

#[test]
fn missing_sockets_and_bad_settings_are_reported_exactly() {
    let mut plugin = plugin();
    let folder = plugin.script_dir().to_path_buf();
    plugin.grant(&format!("--allow-write={}", folder.display()));
    plugin.in_process();
    let missing = folder.join("none.sock");
    let file = folder.join("plain.txt");
    std::fs::write(&file, "").unwrap();
    let cases = [
        (
            format!("add_sink({{syslog: {{path: \"{}\"}}}})", missing.display()),
            format!("[R015] Error: add_sink: syslog unix {}: No such file or directory (os error 2)", missing.display()),
        ),
        (
            format!("add_sink({{syslog: {{path: \"{}\"}}}})", file.display()),
            format!("[R015] Error: add_sink: syslog unix {0}: {0} is not a socket", file.display()),
        ),
        (
            r#"add_sink({syslog: {facility: "local8"}})"#.to_string(),
            "[R009] Error: add_sink: unknown syslog facility `local8`; the facilities are kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp and local0 to local7".to_string(),
        ),
        (
            r#"@log.add_sink({syslog: {transport: "tcp"}})"#.to_string(),
            "[R009] Error: @log.add_sink: unknown syslog transport `tcp`; the transports are unix and udp".to_string(),
        ),
        (
            r#"add_sink({syslog: {transport: "udp"}})"#.to_string(),
            "[R009] Error: add_sink: the udp transport needs an `address` (host:port)".to_string(),
        ),
        (
            r#"add_sink({syslog: {address: "127.0.0.1:70000"}})"#.to_string(),
            "[R009] Error: add_sink: the syslog address `127.0.0.1:70000` has no valid port".to_string(),
        ),
        (
            r#"add_sink({syslog: {app_name: "my app"}})"#.to_string(),
            "[R009] Error: add_sink: `app_name` must be 1 to 48 printable ASCII characters without spaces, found `my app`".to_string(),
        ),
        (
            r#"add_sink({syslog: {port: 514}})"#.to_string(),
            "[R009] Error: add_sink: unknown field `port`, expected one of `transport`, `path`, `address`, `facility`, `app_name`, `hostname`, `msgid`, `sd_id`".to_string(),
        ),
        (
            r#"add_sink({syslog: {}, format: "json"})"#.to_string(),
            "[R009] Error: add_sink: `format` is for file sinks; syslog sinks send RFC 5424 messages".to_string(),
        ),
        (
            r#"add_sink({path: "a.log", syslog: {}})"#.to_string(),
            "[R009] Error: add_sink: a sink is either {path, format} (a file) or {syslog: {…}} (a syslog daemon)".to_string(),
        ),
        (
            r#"add_sink({syslog: {}}, "json")"#.to_string(),
            "[R009] Error: add_sink: a sink object takes no second argument; a file sink's format goes inside it ({path, format})".to_string(),
        ),
        (
            r#"add_sink({syslog: {app_name: x => x}})"#.to_string(),
            "[R015] Error: add_sink: a function cannot be copied out of the interpreter (only null, bool, int, float, string, bytes, array, object and range values can)".to_string(),
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(&mut plugin, &source), expected, "{source}");
    }
}

#[test]
fn a_configured_syslog_sink_that_cannot_connect_stops_the_plugin_from_starting() {
    let mut plugin = plugin();
    let missing = plugin.script_dir().join("none.sock");
    plugin.in_process();
    let config = format!("sinks: [{{syslog: {{path: \"{}\"}}}}]", missing.display());
    let rendered = plugin.eval(&script(&config, "a: @log(\"info\", \"x\")\n")).unwrap_err();
    assert_eq!(
        rendered.lines().next().unwrap(),
        format!(
            "[R015] Error: @log: plugin `logging` failed to initialize: syslog unix {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    // The schema refuses what the plugin would refuse, before it starts.
    let rendered =
        plugin.eval(&script("sinks: [{syslog: {facility: \"local9\"}}]", "a: 1\nb: @log(\"info\", \"x\")\n"));
    assert!(rendered.unwrap_err().starts_with("[R015] Error: @log: invalid configuration for plugin `logging`: "));
}

/// Adding either receiver as a sink is refused with the flag that would grant it.
fn assert_refused_without_grants(plugin: &mut PluginTest, unix: &UnixReceiver, udp: &UdpReceiver) {
    assert_eq!(
        error(plugin, &format!("add_sink({{syslog: {{path: \"{}\"}}}})", unix.path.display())),
        format!(
            "[R015] Error: add_sink: permission denied: plugin `logging` may not write {0}; run with --allow-write={0} to allow it",
            unix.path.display()
        )
    );
    assert_eq!(
        error(plugin, &format!("add_sink({{syslog: {{address: \"{}\"}}}})", udp.address())),
        format!(
            "[R015] Error: add_sink: permission denied: plugin `logging` may not connect to {0}; run with --allow-net={0} to allow it",
            udp.address()
        )
    );
}

#[test]
fn sending_needs_the_grant_in_process() {
    let mut plugin = plugin();
    let unix = UnixReceiver::bind(plugin.script_dir());
    let udp = UdpReceiver::bind();
    plugin.in_process();
    assert_refused_without_grants(&mut plugin, &unix, &udp);
    // The refused socket was left as it was.
    assert!(std::fs::symlink_metadata(&unix.path).unwrap().file_type().is_socket());
}

#[test]
fn a_sandboxed_plugin_is_refused_cleanly_without_the_grant_and_sends_with_it() {
    let mut plugin = plugin();
    let unix = UnixReceiver::bind(plugin.script_dir());
    let udp = UdpReceiver::bind();
    assert_refused_without_grants(&mut plugin, &unix, &udp);
    // A grant for the one address passes the host's check, but the sandbox hands out no UDP
    // socket for it (its network grants are per TCP connection): the error says what would.
    plugin.grant(&format!("--allow-net={}", udp.address()));
    assert_eq!(
        error(&mut plugin, &format!("add_sink({{syslog: {{address: \"{}\"}}}})", udp.address())),
        format!(
            "[R015] Error: add_sink: syslog udp {}: Operation not permitted (os error 1); a sandboxed plugin may open UDP sockets only with --allow-net for every host, and Unix sockets only with --allow-net and --allow-write for every path (first-party plugins run in-process, where the grants alone decide)",
            udp.address()
        )
    );
    // With the network granted the sandboxed plugin sends (its process id is the runner's).
    plugin.grant("--allow-net");
    let body = format!(
        "s: add_sink({{syslog: {{address: \"{}\", hostname: \"h\"}}}})\na: @log(\"warn\", \"from the sandbox\")\n",
        udp.address()
    );
    plugin.eval(&script("timestamps: false, target: \"none\"", &body)).unwrap();
    let message = udp.receive();
    assert!(message.starts_with("<12>1 - h tusk "), "{message}");
    assert!(message.ends_with(" - - from the sandbox"), "{message}");
}
