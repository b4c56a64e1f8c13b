//! The runner spoken to directly through its channel, as the host does: its hello (the protocol
//! it speaks), start-up refusals, a full session (Init → Ready → Call → Result → Shutdown →
//! ShutdownDone), and hostile bytes from the "host" ending the runner instead of confusing it.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tusk_plugin_boundary::poll::is_hung_up;
use tusk_plugin_boundary::ring::{RingReceiver, RingSender, SharedRings, Side};
use tusk_plugin_wire::{
    FsGrants, HELLO_BYTES, Init, Limits, NetGrant, PREAMBLE, PROTOCOL_VERSION, ToHost, ToRunner, WireValue,
    encode_frame, hello_version, runner_hello,
};

fn runner_binary() -> &'static str {
    env!("CARGO_BIN_EXE_tusk-plugin-runner")
}

fn fixture() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let package = "sandbox_fixture";
        let built = tusk_plugin_testkit::build_packages(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            &[package],
            tusk_plugin_testkit::Profile::Debug,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        std::fs::canonicalize(built.library(package)).unwrap()
    })
}

struct Runner {
    child: Child,
    socket: UnixStream,
    sender: RingSender,
    receiver: RingReceiver,
    /// The host's end of the event channel (unused here; kept open for the runner).
    _events: UnixStream,
}

impl Runner {
    fn start() -> Runner {
        let (host, runner_end) = UnixStream::pair().unwrap();
        let child = Command::new(runner_binary())
            .args(["--parent", &std::process::id().to_string()])
            .stdin(Stdio::from(OwnedFd::from(runner_end)))
            .stderr(Stdio::null())
            .env_clear()
            .spawn()
            .unwrap();
        // The preamble with the rings' memory and the runner's end of the event channel, here
        // without a network broker (the plugin gets no network).
        let rings = SharedRings::create().unwrap();
        let (events, runner_events) = UnixStream::pair().unwrap();
        let fds = [std::os::fd::AsRawFd::as_raw_fd(&rings.fd()), std::os::fd::AsRawFd::as_raw_fd(&runner_events)];
        nix::sys::socket::sendmsg::<nix::sys::socket::UnixAddr>(
            std::os::fd::AsRawFd::as_raw_fd(&host),
            &[std::io::IoSlice::new(&[PREAMBLE])],
            &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
            nix::sys::socket::MsgFlags::empty(),
            None,
        )
        .unwrap();
        // The runner's first bytes: the protocol it speaks, in the form no version changes.
        let mut hello = [0u8; HELLO_BYTES];
        (&host).read_exact(&mut hello).unwrap();
        assert_eq!(hello, runner_hello());
        assert_eq!(hello_version(&hello), Some(PROTOCOL_VERSION));
        let (sender, receiver) = rings.split(Side::Host);
        Runner { child, socket: host, sender, receiver, _events: events }
    }

    fn send(&mut self, message: &ToRunner) {
        let mut buffer = Vec::new();
        encode_frame(&mut buffer, |out| message.encode(out)).unwrap();
        self.send_bytes(&buffer);
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        let socket = &self.socket;
        self.sender.send(bytes, Some(Instant::now() + Duration::from_secs(10)), || is_hung_up(socket)).unwrap();
    }

    fn receive(&mut self) -> Option<ToHost> {
        let socket = &self.socket;
        let deadline = Some(Instant::now() + Duration::from_secs(10));
        let body = self.receiver.receive(deadline, Duration::from_millis(5), || is_hung_up(socket)).ok()?;
        Some(ToHost::decode(body).unwrap())
    }

    fn exit_code(mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

fn init(library: &str, protocol: u32) -> ToRunner {
    ToRunner::Init(Box::new(Init {
        protocol,
        plugin: "sandbox_fixture".into(),
        library: library.into(),
        config_json: "{}".into(),
        fs: FsGrants::default(),
        net: NetGrant::None,
        limits: Limits { memory_bytes: 512 << 20, cpu_seconds: 0, idle_millis: 0, max_depth: 8, min_landlock_abi: 0 },
    }))
}

#[test]
fn a_runner_started_by_hand_refuses_to_run() {
    let status = Command::new(runner_binary()).stdin(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert_eq!(status.code(), Some(2));
    // A wrong parent: the runner only serves the process that started it.
    let status = Command::new(runner_binary()).args(["--parent", "1"]).stdin(Stdio::null()).status().unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn a_full_session() {
    let mut runner = Runner::start();
    runner.send(&init(&fixture().display().to_string(), PROTOCOL_VERSION));
    let Some(ToHost::Ready(ready)) = runner.receive() else { panic!("no Ready") };
    assert_eq!((ready.name.as_str(), ready.version.as_str()), ("sandbox_fixture", "1.0.0"));
    let names: Vec<&str> = ready.layers.iter().map(|layer| layer.name.as_str()).collect();
    assert_eq!(names, ["rlimits", "landlock", "no_new_privs", "seccomp"]);
    let echo = ready.symbols.iter().find(|symbol| symbol.name == "sb.echo").unwrap().index;
    let value =
        WireValue::Object(vec![("a".into(), WireValue::Array(vec![WireValue::Int(1), WireValue::Str("x".into())]))]);
    runner.send(&ToRunner::Call { id: 1, symbol: echo, args: vec![value.clone()] });
    assert_eq!(runner.receive(), Some(ToHost::Result { id: 1, result: Ok(value) }));
    // A callback outside any script: the runner asks, the "host" answers.
    let call = ready.symbols.iter().find(|symbol| symbol.name == "sb.call").unwrap().index;
    runner.send(&ToRunner::Call { id: 2, symbol: call, args: vec![WireValue::Function(9), WireValue::Int(1)] });
    let Some(ToHost::Callback { id, call_id: 2, function: 9, args }) = runner.receive() else { panic!("no Callback") };
    assert_eq!(args, [WireValue::Int(1)]);
    runner.send(&ToRunner::CallbackResult { id, result: Ok(WireValue::Int(2)) });
    assert_eq!(runner.receive(), Some(ToHost::Result { id: 2, result: Ok(WireValue::Int(2)) }));
    runner.send(&ToRunner::Shutdown);
    assert_eq!(runner.receive(), Some(ToHost::ShutdownDone { error: None }));
    assert_eq!(runner.exit_code(), Some(0));
}

#[test]
fn a_stale_protocol_and_a_file_that_is_not_a_plugin_are_refused_before_loading() {
    let mut runner = Runner::start();
    runner.send(&init(&fixture().display().to_string(), PROTOCOL_VERSION + 1));
    let Some(ToHost::InitFailed { message }) = runner.receive() else { panic!("no InitFailed") };
    assert!(message.contains("the runner binary is stale"), "{message}");
    assert_eq!(runner.exit_code(), Some(4));

    let mut runner = Runner::start();
    let not_a_plugin = std::fs::canonicalize(runner_binary()).unwrap();
    runner.send(&init(&not_a_plugin.display().to_string(), PROTOCOL_VERSION));
    let Some(ToHost::InitFailed { message }) = runner.receive() else { panic!("no InitFailed") };
    assert!(message.ends_with("is not a TuskLang plugin: it has no info record"), "{message}");
    assert_eq!(runner.exit_code(), Some(4));
}

#[test]
fn garbage_from_the_host_ends_the_runner() {
    let mut runner = Runner::start();
    runner.send(&init(&fixture().display().to_string(), PROTOCOL_VERSION));
    assert!(matches!(runner.receive(), Some(ToHost::Ready(_))));
    runner.send_bytes(&[3, 0, 0, 0, 0xff, 0xff, 0xff]);
    assert_eq!(runner.receive(), None);
    assert_eq!(runner.exit_code(), Some(3));
    // A host that goes away ends the runner cleanly.
    let mut runner = Runner::start();
    runner.send(&init(&fixture().display().to_string(), PROTOCOL_VERSION));
    assert!(matches!(runner.receive(), Some(ToHost::Ready(_))));
    drop(runner.socket);
    assert_eq!(runner.child.wait().unwrap().code(), Some(0));
}
