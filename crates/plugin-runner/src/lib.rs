//! The sandboxed plugin runner. The host spawns it with one end of a socket pair as standard
//! input; it then, in this order and before any plugin code runs: arms the parent-death signal,
//! takes the channel off standard input, says which protocol it speaks on it (the
//! [`tusk_plugin_wire::runner_hello`]), reads the preamble (and what comes with it: the shared memory
//! of the rings that carry the messages, the event channel, the network broker socket), reads
//! `Init`, pre-validates the library file (its info record, nothing
//! executed), locks itself down (rlimits → Landlock → no new privileges →
//! seccomp, see [`lockdown`]), opens the library, runs the plugin's `init` and reports `Ready`
//! with the sandbox layers in force. Then it serves calls until the host says `Shutdown`,
//! closes the channel or leaves it idle for too long.
//!
//! All `unsafe` lives in `ffi` (the plugin's host API) and `net` (its connections through the
//! host); the message pump is `session`.

mod channel;
mod events;
mod ffi;
mod local;
mod lockdown;
mod net;
mod session;
mod validate;

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use tusk_plugin_boundary::ring::SharedRings;
use tusk_plugin_wire::{NetGrant, PROTOCOL_VERSION, Ready, ToHost, ToRunner, runner_hello};

use crate::channel::{Channel, Received};
use crate::session::Session;

/// Exit status when the runner was started wrongly (by hand, or its host already died).
const EXIT_USAGE: i32 = 2;
/// Exit status after `InitFailed` was reported.
const EXIT_INIT_FAILED: i32 = 4;

/// Runs the runner; returns the process exit status.
pub fn run(args: impl Iterator<Item = OsString>) -> i32 {
    // First of all: die with the host. (The parent-death signal fires when the thread that
    // spawned us ends; the host spawns runners from the interpreter's thread, which owns them.)
    if let Err(error) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        eprintln!("tusk-plugin-runner: cannot set the parent-death signal: {error}");
        return EXIT_USAGE;
    }
    let args: Vec<OsString> = args.collect();
    let parent = match args.as_slice() {
        [flag, pid] if flag == "--parent" => pid.to_str().and_then(|pid| pid.parse::<i32>().ok()),
        _ => None,
    };
    let Some(parent) = parent else {
        eprintln!("tusk-plugin-runner: this program is started by the TuskLang plugin host, not by hand");
        return EXIT_USAGE;
    };
    // The host may have died before the signal was armed; then we were re-parented.
    if nix::unistd::getppid().as_raw() != parent {
        return EXIT_USAGE;
    }
    let (channel, broker) = match take_channel() {
        Ok(taken) => taken,
        Err(error) => {
            eprintln!("tusk-plugin-runner: {error}");
            return EXIT_USAGE;
        }
    };
    start(channel, broker)
}

/// Takes the socket off standard input and puts `/dev/null` there, so that a plugin reading
/// its standard input cannot steal protocol bytes; reads the preamble, maps the channel's
/// rings that come with it, and takes the event channel and the network broker socket that
/// may come too.
fn take_channel() -> Result<(Channel, Option<UnixStream>), String> {
    let socket = nix::unistd::dup(std::io::stdin().as_fd()).map_err(|error| format!("no channel on stdin: {error}"))?;
    let null = std::fs::File::open("/dev/null").map_err(|error| format!("cannot open /dev/null: {error}"))?;
    nix::unistd::dup2_stdin(&null).map_err(|error| format!("cannot replace stdin: {error}"))?;
    let socket = UnixStream::from(socket);
    // Before anything else, the protocol this runner speaks: a host of another build can then
    // say so instead of waiting for answers that do not come.
    (&socket).write_all(&runner_hello()).map_err(|error| format!("cannot greet the host: {error}"))?;
    let preamble = net::receive_preamble(&socket)?;
    events::use_channel(preamble.events);
    let rings = SharedRings::open(preamble.rings).map_err(|error| format!("cannot map the channel: {error}"))?;
    Ok((Channel::new(socket, rings), preamble.broker))
}

fn start(mut channel: Channel, broker: Option<UnixStream>) -> i32 {
    let init = match channel.receive(None) {
        Received::Message(ToRunner::Init(init)) => init,
        Received::Closed => return 0,
        _ => {
            channel.send(&ToHost::InitFailed { message: "the host did not start with Init".into() });
            return EXIT_INIT_FAILED;
        }
    };
    let mut fail = |message: String| {
        channel.send(&ToHost::InitFailed { message });
        EXIT_INIT_FAILED
    };
    if init.protocol != PROTOCOL_VERSION {
        return fail(format!(
            "the plugin runner speaks protocol {PROTOCOL_VERSION}, the host {}: the runner binary is stale, rebuild it",
            init.protocol
        ));
    }
    let library = Path::new(&init.library);
    let record = match validate::check(library) {
        Ok(record) => record,
        Err(message) => return fail(message),
    };
    match (&init.net, broker) {
        (NetGrant::Brokered, Some(broker)) => net::use_broker(broker),
        (NetGrant::Brokered, None) => {
            return fail("the host sent no network broker for a brokered network grant".into());
        }
        _ => {}
    }
    let layers = match lockdown::apply(&init) {
        Ok(layers) => layers,
        Err(message) => return fail(format!("cannot lock the sandbox down: {message}")),
    };
    if let Err(message) = ffi::open(library, &record.package, &record.version) {
        return fail(message);
    }
    let idle = (init.limits.idle_millis > 0).then(|| Duration::from_millis(init.limits.idle_millis));
    let session = Session::leak(&init.plugin, channel, init.limits.max_depth, idle);
    if let Err(message) = ffi::init(session, &init.config_json) {
        session.send(&ToHost::InitFailed { message });
        return EXIT_INIT_FAILED;
    }
    let (handles, symbols) = ffi::symbols();
    session.set_symbols(handles);
    let (name, version) = ffi::identity();
    session.send(&ToHost::Ready(Box::new(Ready { protocol: PROTOCOL_VERSION, name, version, symbols, layers })));
    session.serve()
}
