//! Sandboxed plugins: the same plugin library, run by `tusk-plugin-runner` in a
//! child process that locked itself down before loading it (see the runner crate), spoken to
//! with the `tusk-plugin-wire` protocol through shared-memory rings (a socket pair tells each
//! end when the other is gone).
//!
//! [`SandboxedPlugin`] is the host's side of one such plugin. A call sends `Call` and pumps
//! messages until its `Result`: `Callback`s run script functions on the interpreter's thread
//! (which may call the plugin again: calls nest, innermost first), `Request`s are answered
//! from the user's grants, `Log`s go to the host's log, and a `Map` runs a script function
//! over a whole batch of items here (on isolates, or item after item). Only the time spent
//! waiting for the runner counts against the call's deadline, less the time the runner was
//! runnable but waited for a CPU (a busy machine's share), and a call waits ten deadlines at
//! most however busy the machine is. A runner that crashes,
//! runs out of memory or misses the deadline (it is then killed) fails the call in progress
//! with an error naming the plugin and the cause; the next call starts a fresh runner with
//! the same configuration. Runners stop themselves when idle and start again on the next call;
//! they die with the host (parent-death signal, and a kill when the plugin is dropped).

mod broker;
mod convert;
mod events;
mod process;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tusk_eval::isolate::{ParallelError, ParallelItems};
use tusk_eval::{CallContext, Value};
use tusk_plugin_wire::{
    CallError, FsGrants, Init, Limits, MapFailure, MapOutcome, NetGrant, PROTOCOL_VERSION, Ready, Request, Symbol,
    ToHost, ToRunner, WireValue,
};
pub use tusk_plugin_wire::{Layer as SandboxLayer, LayerState};

use crate::ffi::{HostServices, PluginFailure};
use tusk_plugin_catalog::permissions::{NetworkReach, PluginGrants};

use self::convert::{CallValues, Converter, Objects};
use self::process::{Ending, NoHello, Process, ReadFailure, ending, signal_name};

/// How sandboxed plugins run: which plugins are forced into the sandbox, and the runner's
/// limits. Part of [`HostSettings`](crate::host::HostSettings).
#[derive(Clone, Debug)]
pub struct SandboxSettings {
    /// `--sandbox NAME`: run these plugins sandboxed even when the user trusts them.
    pub plugins: Vec<String>,
    /// `--sandbox-all`: run every plugin sandboxed.
    pub all: bool,
    /// `--plugin-timeout`: how long one call may keep the runner busy before it is killed.
    pub call_timeout: Duration,
    /// How long a plugin's `shutdown` may take before its runner is killed.
    pub shutdown_timeout: Duration,
    /// A runner without calls for this long stops (and starts again on the next call).
    pub idle_timeout: Option<Duration>,
    /// Address-space limit of a runner, in bytes.
    pub memory_limit: Option<u64>,
    /// CPU time limit of a runner over its life, in seconds.
    pub cpu_limit: Option<u64>,
    /// How deeply calls into a plugin and its callbacks may nest.
    pub max_depth: u32,
    /// Refuse to run sandboxed plugins unless Landlock is at least this ABI version
    /// (0: use what the kernel has, and say so).
    pub min_landlock_abi: u32,
    /// The runner executable (default: see [`locate_runner`]).
    pub runner: Option<PathBuf>,
}

impl Default for SandboxSettings {
    fn default() -> SandboxSettings {
        SandboxSettings {
            plugins: Vec::new(),
            all: false,
            call_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(2),
            idle_timeout: Some(Duration::from_secs(60)),
            memory_limit: Some(1 << 30),
            cpu_limit: None,
            max_depth: 32,
            min_landlock_abi: 0,
            runner: None,
        }
    }
}

impl SandboxSettings {
    /// True when the flags force `plugin` into the sandbox.
    pub fn forces(&self, plugin: &str) -> bool {
        self.all || self.plugins.iter().any(|name| name == plugin)
    }
}

/// The name of the runner executable.
pub const RUNNER_NAME: &str = "tusk-plugin-runner";

/// Finds the runner: `TUSK_PLUGIN_RUNNER`, else next to the current executable (installed, the
/// release archive, the build tree), else in a `{debug,release}` or `target/{debug,release}`
/// folder above it (tests and `cargo run`, where executables live in `target/debug/deps` or
/// `target/debug/examples`, or below a `CARGO_TARGET_DIR` elsewhere), else on `PATH` (a `tusk`
/// copied on its own somewhere).
pub fn locate_runner() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("TUSK_PLUGIN_RUNNER") {
        return Ok(PathBuf::from(path));
    }
    let executable = std::env::current_exe().map_err(|error| format!("cannot find the current executable: {error}"))?;
    let mut candidates = Vec::new();
    let mut folder = executable.parent();
    while let Some(directory) = folder {
        candidates.push(directory.join(RUNNER_NAME));
        for profile in ["debug", "release"] {
            candidates.push(directory.join(profile).join(RUNNER_NAME));
            candidates.push(directory.join("target").join(profile).join(RUNNER_NAME));
        }
        folder = directory.parent();
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|directory| directory.join(RUNNER_NAME)));
    }
    candidates.into_iter().find(|candidate| candidate.is_file()).ok_or_else(|| {
        format!(
            "cannot find the plugin runner `{RUNNER_NAME}`: looked next to {}, in target folders above it and on PATH; \
             keep it beside tusk (`cargo xtask install --prefix DIR` installs both), build it with \
             `cargo build -p tusk-plugin-runner`, or set TUSK_PLUGIN_RUNNER",
            executable.display()
        )
    })
}

/// What `tusk plugin info` shows about a sandboxed plugin.
#[derive(Clone, Debug)]
pub struct SandboxReport {
    /// The runner executable.
    pub runner: PathBuf,
    /// The runner's process id, when one is running.
    pub pid: Option<u32>,
    /// The layers as the last runner applied them.
    pub layers: Vec<SandboxLayer>,
    /// How many times the runner was started again (after crashes, timeouts, idle stops).
    pub restarts: u32,
    /// The call deadline.
    pub call_timeout: Duration,
}

impl fmt::Display for SandboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => writeln!(f, "sandboxed: runner {} (pid {pid})", self.runner.display())?,
            None => writeln!(f, "sandboxed: runner {} (stopped; starts on the next call)", self.runner.display())?,
        }
        writeln!(f, "  deadline per call: {}", seconds(self.call_timeout))?;
        for layer in &self.layers {
            let state = match layer.state {
                LayerState::Active => "active",
                LayerState::Partial => "partial",
                LayerState::Unavailable => "UNAVAILABLE",
                LayerState::Off => "off",
            };
            writeln!(
                f,
                "  {}: {state}{}",
                layer.name,
                if layer.detail.is_empty() { String::new() } else { format!(" ({})", layer.detail) }
            )?;
        }
        if self.restarts > 0 {
            writeln!(f, "  restarts: {}", self.restarts)?;
        }
        Ok(())
    }
}

impl SandboxReport {
    /// What this kernel lacks of the sandbox, one item per layer that is unavailable or in
    /// force only in part (empty: everything is in force).
    pub fn missing(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter_map(|layer| match layer.state {
                LayerState::Unavailable => Some(format!("{} is unavailable ({})", layer.name, layer.detail)),
                // The detail of a partial layer ends with what the kernel cannot do.
                LayerState::Partial => {
                    Some(format!("{}: {}", layer.name, layer.detail.rsplit("; ").next().unwrap_or(&layer.detail)))
                }
                _ => None,
            })
            .collect()
    }
}

/// `5s`, `1.5s`, `250ms`.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// What the kernel layers should allow a plugin that may do `grants` (granted and
/// declared): the files and folders it may open (wildcard patterns widened to the folder
/// before their first wildcard; the host checks the exact pattern on every host-mediated
/// access) and how it may reach the network.
pub(crate) fn kernel_grants(grants: &PluginGrants) -> (FsGrants, NetGrant) {
    let texts = |folders: Option<Vec<PathBuf>>| -> (bool, Vec<String>) {
        match folders {
            None => (true, Vec::new()),
            Some(folders) => (false, folders.iter().map(|folder| folder.display().to_string()).collect()),
        }
    };
    let (read_all, read) = texts(grants.readable_folders());
    let (write_all, write) = texts(grants.writable_folders());
    let net = match grants.network_reach() {
        NetworkReach::None => NetGrant::None,
        NetworkReach::Brokered => NetGrant::Brokered,
        NetworkReach::Direct => NetGrant::All,
    };
    (FsGrants { read_all, write_all, read, write }, net)
}

/// Why a call failed.
pub(crate) enum CallFailure {
    /// The plugin reported an error (or panicked and the SDK caught it): as in-process.
    Plugin(PluginFailure),
    /// The runner crashed, hung, broke the protocol, or the call could not be made.
    Fault(String),
}

/// The host side of a sandboxed plugin.
pub struct SandboxedPlugin {
    name: String,
    runner_path: PathBuf,
    init: Init,
    /// What the plugin may do (granted and declared), for the network broker.
    grants: PluginGrants,
    settings: SandboxSettings,
    services: Rc<dyn HostServices>,
    process: RefCell<Option<Process>>,
    /// What the first runner registered (later runners must register the same).
    symbols: Vec<Symbol>,
    layers: RefCell<Vec<SandboxLayer>>,
    generation: Cell<u64>,
    restarts: Cell<u32>,
    /// Ids of the calls in progress, innermost last.
    calls: RefCell<Vec<u64>>,
    next_id: Cell<u64>,
    values: RefCell<CallValues>,
    objects: Rc<RefCell<Objects>>,
    /// Why the runner died, for calls further out that are still unwinding.
    fault: RefCell<Option<String>>,
    shut_down: Cell<bool>,
    /// The functions the current runner retained (released when its event channel closes).
    retained: RefCell<events::Retained>,
}

impl SandboxedPlugin {
    /// Starts the runner for `plugin`, loads `library` in it with `config_json`, and waits until
    /// it is ready. Returns the plugin and what it registered, with its own name and version.
    pub(crate) fn start(
        plugin: &str,
        library: &Path,
        config_json: &str,
        grants: &PluginGrants,
        settings: &SandboxSettings,
        services: Rc<dyn HostServices>,
    ) -> Result<(Rc<SandboxedPlugin>, Ready), String> {
        let runner_path = match &settings.runner {
            Some(path) => path.clone(),
            None => locate_runner()?,
        };
        let library = std::fs::canonicalize(library).unwrap_or_else(|_| library.to_path_buf());
        let (fs, net) = kernel_grants(grants);
        let init = Init {
            protocol: PROTOCOL_VERSION,
            plugin: plugin.to_string(),
            library: library.display().to_string(),
            config_json: config_json.to_string(),
            fs,
            net,
            limits: Limits {
                memory_bytes: settings.memory_limit.unwrap_or(0),
                cpu_seconds: settings.cpu_limit.unwrap_or(0),
                idle_millis: settings.idle_timeout.map_or(0, |idle| idle.as_millis().max(1) as u64),
                max_depth: settings.max_depth,
                min_landlock_abi: settings.min_landlock_abi,
            },
        };
        let mut remote = SandboxedPlugin {
            name: plugin.to_string(),
            runner_path,
            init,
            grants: grants.clone(),
            settings: settings.clone(),
            services,
            process: RefCell::new(None),
            symbols: Vec::new(),
            layers: RefCell::new(Vec::new()),
            generation: Cell::new(0),
            restarts: Cell::new(0),
            calls: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            values: RefCell::new(CallValues::default()),
            objects: Rc::new(RefCell::new(Objects::default())),
            fault: RefCell::new(None),
            shut_down: Cell::new(false),
            retained: RefCell::new(events::Retained::default()),
        };
        let ready = remote.launch()?;
        remote.symbols = ready.symbols.clone();
        Ok((Rc::new(remote), ready))
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The runner's process id, when one is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.borrow().as_ref().map(Process::pid)
    }

    /// The sandbox as the last runner set it up.
    pub fn report(&self) -> SandboxReport {
        SandboxReport {
            runner: self.runner_path.clone(),
            pid: self.pid(),
            layers: self.layers.borrow().clone(),
            restarts: self.restarts.get(),
            call_timeout: self.settings.call_timeout,
        }
    }

    /// Script values held for the call in progress (zero between calls: a leak check).
    pub(crate) fn live_values(&self) -> usize {
        self.values.borrow().values_len()
    }

    fn converter(&self) -> Converter<'_> {
        Converter { plugin: &self.name, calls: &self.values, objects: &self.objects }
    }

    /// Spawns a runner, sends `Init` and waits for `Ready`, serving logs and requests.
    fn launch(&self) -> Result<Ready, String> {
        // A connection the broker makes for the plugin may take as long as a call.
        let broker = (self.init.net == NetGrant::Brokered).then(|| (self.grants.clone(), self.settings.call_timeout));
        let mut process = Process::spawn(&self.runner_path, &self.name, broker, self.settings.call_timeout)?;
        if let Some(channel) = process.take_events() {
            // Served without an event loop too: the hand-off desk needs none.
            let plugin = std::sync::Arc::from(self.name.as_str());
            let loop_ = self.services.events().map(|sender| crate::events::PluginEvents { plugin, sender });
            let retained = events::Retained::default();
            events::start(channel, &self.name, loop_, retained.clone())?;
            *self.retained.borrow_mut() = retained;
        }
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        self.objects.borrow_mut().restart(generation);
        let deadline = Instant::now() + self.settings.call_timeout;
        if process.send(&ToRunner::Init(Box::new(self.init.clone()))).is_err() {
            return Err(self.describe_end(&mut process, None));
        }
        self.check_hello(&mut process, deadline)?;
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match process.receive(left) {
                Ok(message) => message,
                Err(ReadFailure::TimedOut) => {
                    process.kill();
                    return Err(format!(
                        "plugin `{}` did not start within {} and was stopped (its `init` took too long)",
                        self.name,
                        seconds(self.settings.call_timeout)
                    ));
                }
                Err(ReadFailure::Closed) => return Err(self.describe_end(&mut process, None)),
                Err(ReadFailure::Invalid(problem)) => {
                    process.kill();
                    return Err(format!("plugin `{}` sent an invalid message ({problem}) and was stopped", self.name));
                }
            };
            match message {
                ToHost::Ready(ready) => break *ready,
                ToHost::InitFailed { message } => {
                    process.wait_for_exit(Duration::from_millis(200));
                    return Err(message);
                }
                ToHost::Log { level, message, fields } => self.log(level, &message, fields),
                ToHost::Request { id, request } => {
                    let result = self.serve_request(request);
                    if process.send(&ToRunner::Reply { id, result }).is_err() {
                        return Err(self.describe_end(&mut process, None));
                    }
                }
                _ => {
                    process.kill();
                    return Err(format!("plugin `{}` broke the protocol while starting and was stopped", self.name));
                }
            }
        };
        if ready.protocol != PROTOCOL_VERSION {
            return Err(self.other_protocol(&format!("speaks protocol {}", ready.protocol)));
        }
        *self.layers.borrow_mut() = ready.layers.clone();
        *self.process.borrow_mut() = Some(process);
        *self.fault.borrow_mut() = None;
        Ok(ready)
    }

    /// Makes sure the runner speaks this host's protocol, from the first bytes it writes (which
    /// no version changes): a runner of another build is named as such, with the remedy,
    /// rather than failing later in whatever way the protocols' differences make it fail.
    fn check_hello(&self, process: &mut Process, deadline: Instant) -> Result<(), String> {
        let problem = match process.read_hello(deadline) {
            Ok(PROTOCOL_VERSION) => return Ok(()),
            Ok(spoken) => format!("speaks protocol {spoken}"),
            Err(NoHello::Invalid) => "does not say which protocol it speaks".to_string(),
            Err(NoHello::TimedOut) => {
                format!("did not say which protocol it speaks within {}", seconds(self.settings.call_timeout))
            }
            // Runners older than the hello end here: they refuse the `Init` and exit.
            Err(NoHello::Closed) => match process.wait_for_exit(Duration::from_millis(500)).map(ending) {
                Some(Ending::Code(code)) => {
                    format!("ended (exit status {code}) before it said which protocol it speaks")
                }
                Some(Ending::Signal(signal)) => {
                    format!("ended (killed by signal {}) before it said which protocol it speaks", signal_name(signal))
                }
                None => "closed its channel before it said which protocol it speaks".to_string(),
            },
        };
        process.kill();
        Err(self.other_protocol(&problem))
    }

    /// The refusal of a runner that speaks another protocol than this host (`problem` says how
    /// that showed).
    fn other_protocol(&self, problem: &str) -> String {
        format!(
            "the plugin runner at {} {problem}, this tusk needs {PROTOCOL_VERSION} (reinstall tusk with its \
             runner: `cargo xtask install --prefix DIR` installs both; or set TUSK_PLUGIN_RUNNER to the runner \
             built with this tusk)",
            self.runner_path.display()
        )
    }

    /// Makes sure a runner is there for an outermost call: restarts it after a fault or an
    /// idle stop (re-running `init` with the same configuration).
    fn ensure_running(&self) -> Result<(), String> {
        let exited = {
            let mut process = self.process.borrow_mut();
            match process.as_mut() {
                Some(process) => process.has_exited(),
                None => true,
            }
        };
        if !exited {
            return Ok(());
        }
        // Stopped while no call ran: an idle stop (it said so) or a crash between calls. Read
        // what it left (logs), then start again either way.
        if let Some(mut process) = self.process.borrow_mut().take() {
            let mut idle = false;
            while let Ok(message) = process.receive(Duration::from_millis(1)) {
                match message {
                    ToHost::Log { level, message, fields } => self.log(level, &message, fields),
                    ToHost::IdleExit => idle = true,
                    _ => {}
                }
            }
            if !idle {
                let text = self.describe_end(&mut process, None);
                self.services.log(
                    &self.name,
                    3,
                    &format!("{text} while no call was running; starting it again"),
                    &Value::Null,
                );
            }
        }
        self.restart()
    }

    fn restart(&self) -> Result<(), String> {
        self.restarts.set(self.restarts.get() + 1);
        let ready = self.launch()?;
        if ready.symbols != self.symbols {
            if let Some(mut process) = self.process.borrow_mut().take() {
                process.kill();
            }
            return Err(format!("plugin `{}` registered other symbols when it was started again", self.name));
        }
        Ok(())
    }

    /// Calls symbol `index` with `args`.
    pub(crate) fn call(&self, index: u32, ctx: &mut CallContext<'_, '_>, args: &[Value]) -> Result<Value, CallFailure> {
        self.call_with(index, Some(ctx), args)
    }

    /// Calls symbol `name` outside a script (benchmarks, `tusk plugin` tools): the plugin
    /// cannot call script functions then. Errors are the messages a script would see.
    pub fn call_outside_script(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let index = self
            .symbols
            .iter()
            .find(|symbol| symbol.name == name)
            .map(|symbol| symbol.index)
            .ok_or_else(|| format!("plugin `{}` has no symbol `{name}`", self.name))?;
        self.call_with(index, None, args).map_err(|failure| match failure {
            CallFailure::Plugin(failure) => failure.message,
            CallFailure::Fault(message) => message,
        })
    }

    /// Starts the runner if none is running (as the next call would).
    pub fn start_runner(&self) -> Result<(), String> {
        if !self.calls.borrow().is_empty() {
            return Err(format!("plugin `{}` is in a call", self.name));
        }
        self.ensure_running()
    }

    /// Stops the runner at once (SIGKILL, no `shutdown`); the next call starts a new one. For
    /// draining a retired generation after its last call, and for measuring cold starts.
    pub fn stop_runner(&self) {
        if let Some(mut process) = self.process.borrow_mut().take() {
            process.kill();
        }
        *self.fault.borrow_mut() = Some(format!("plugin `{}` was stopped", self.name));
    }

    fn call_with(
        &self,
        index: u32,
        ctx: Option<&mut CallContext<'_, '_>>,
        args: &[Value],
    ) -> Result<Value, CallFailure> {
        if self.shut_down.get() {
            return Err(CallFailure::Fault(format!("plugin `{}` has been shut down", self.name)));
        }
        let outermost = self.calls.borrow().is_empty();
        let result = self.call_inner(index, ctx, args, outermost);
        if outermost {
            // Script functions sent during this call are valid only during it.
            self.values.borrow_mut().clear();
        }
        result
    }

    fn call_inner(
        &self,
        index: u32,
        mut ctx: Option<&mut CallContext<'_, '_>>,
        args: &[Value],
        outermost: bool,
    ) -> Result<Value, CallFailure> {
        if outermost {
            self.ensure_running().map_err(CallFailure::Fault)?;
        } else if self.process.borrow().is_none() {
            let fault = self.fault.borrow().clone();
            return Err(CallFailure::Fault(fault.unwrap_or_else(|| format!("plugin `{}` stopped", self.name))));
        }
        if self.calls.borrow().len() >= self.settings.max_depth as usize {
            return Err(CallFailure::Fault(format!(
                "calls between the script and plugin `{}` nest more than {} deep",
                self.name, self.settings.max_depth
            )));
        }
        let converter = self.converter();
        let wire_args =
            args.iter().map(|arg| converter.to_wire(arg)).collect::<Result<Vec<_>, _>>().map_err(CallFailure::Fault)?;
        // An idle runner may stop at the very moment the call is sent; it then says so
        // without having read the call, which is safe to send again to a new runner.
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            self.calls.borrow_mut().push(id);
            let outcome = self.exchange(id, index, wire_args.clone(), ctx.as_deref_mut());
            self.calls.borrow_mut().pop();
            match outcome {
                Err(Exchange::IdleExit) if outermost && attempts == 1 => {
                    self.process.borrow_mut().take();
                    self.restart().map_err(CallFailure::Fault)?;
                }
                Err(Exchange::IdleExit) => {
                    break Err(CallFailure::Fault(
                        self.fail(Fault::Protocol("stopped in the middle of a call".into())),
                    ));
                }
                Err(Exchange::Fault(message)) => break Err(CallFailure::Fault(message)),
                Ok(result) => break Ok(result),
            }
        };
        match outcome? {
            Ok(value) => self.converter().value(value).map_err(CallFailure::Fault),
            Err(error) => Err(CallFailure::Plugin(failure(error))),
        }
    }

    /// How often a call that waits for its result looks at the user's cancel flag.
    const CANCEL_CHECK: Duration = Duration::from_millis(20);

    /// How long a call waits for its runner, in all, before the scheduling delays are noted
    /// (at most a tenth of the deadline): reading them costs more than a short call.
    const DELAY_MARK: Duration = Duration::from_millis(100);
    /// How many deadlines a call may wait for its runner, scheduling delays given back or not:
    /// a runner that gets almost no CPU is still stopped in a bounded time.
    const MOST_DEADLINES: u32 = 10;

    /// Sends the call and pumps messages until its result.
    fn exchange(
        &self,
        id: u64,
        index: u32,
        args: Vec<WireValue>,
        mut ctx: Option<&mut CallContext<'_, '_>>,
    ) -> Result<Result<WireValue, CallError>, Exchange> {
        self.send(ToRunner::Call { id, symbol: index, args })?;
        let mut budget = self.settings.call_timeout;
        let mut cancel_sent = false;
        // The waits also hold the time the runner and this thread were runnable but had no CPU
        // (on a busy machine, a share of every round trip): that is given back when the budget
        // runs out, counted from a mark taken once the call has waited a while.
        let mut waited = Duration::ZERO;
        let mark_after = Self::DELAY_MARK.min(self.settings.call_timeout / 10);
        let mut delay_mark = None;
        loop {
            let started = Instant::now();
            // Until the user cancels, the wait is cut into slices, so that a Ctrl-C during a
            // long call reaches the plugin's `is_cancelled` as it does in-process.
            let slice = if cancel_sent { budget } else { budget.min(Self::CANCEL_CHECK) };
            let received = match self.process.borrow_mut().as_mut() {
                Some(process) => process.receive(slice),
                None => return Err(Exchange::Fault(self.current_fault())),
            };
            let elapsed = started.elapsed();
            budget = budget.saturating_sub(elapsed);
            waited += elapsed;
            if delay_mark.is_none() && waited >= mark_after {
                delay_mark = self.process.borrow().as_ref().and_then(Process::scheduling_delay);
            }
            let message = match received {
                Ok(message) => message,
                Err(ReadFailure::TimedOut) if !budget.is_zero() => {
                    if self.services.cancelled() {
                        self.send(ToRunner::Cancel)?;
                        cancel_sent = true;
                    }
                    continue;
                }
                Err(ReadFailure::TimedOut) => {
                    let ceiling = self.settings.call_timeout.saturating_mul(Self::MOST_DEADLINES);
                    match self.scheduling_refund(&mut delay_mark) {
                        Some(refund) if waited < ceiling => {
                            budget = refund.min(ceiling - waited);
                            continue;
                        }
                        _ => return Err(Exchange::Fault(self.fail(Fault::Timeout))),
                    }
                }
                Err(ReadFailure::Closed) => return Err(Exchange::Fault(self.fail(Fault::Closed))),
                Err(ReadFailure::Invalid(problem)) => return Err(Exchange::Fault(self.fail(Fault::Protocol(problem)))),
            };
            match message {
                ToHost::Result { id: answered, result } if answered == id => return Ok(result),
                ToHost::Callback { id: callback, call_id, function, args } if call_id == id => {
                    let result = self.run_callback(function, args, ctx.as_deref_mut());
                    // The script function may have called the plugin again, which may have
                    // killed the runner: then this call fails with the same cause.
                    if self.process.borrow().is_none() {
                        return Err(Exchange::Fault(self.current_fault()));
                    }
                    self.send(ToRunner::CallbackResult { id: callback, result })?;
                }
                ToHost::Map { id: map, call_id, function, items, workers } if call_id == id => {
                    let outcome = self.run_map(function, items, workers, ctx.as_deref_mut());
                    // As after a callback: the runner may have been killed meanwhile.
                    if self.process.borrow().is_none() {
                        return Err(Exchange::Fault(self.current_fault()));
                    }
                    self.send(ToRunner::MapResult { id: map, outcome })?;
                }
                ToHost::Request { id: request_id, request: Request::Retain(function) } => {
                    let retained = self.retained.borrow().clone();
                    let result = events::retain(&self.name, &self.converter(), function, ctx.as_deref_mut(), &retained);
                    self.send(ToRunner::Reply { id: request_id, result })?;
                }
                ToHost::Request { id: request_id, request } => {
                    let result = self.serve_request(request);
                    self.send(ToRunner::Reply { id: request_id, result })?;
                }
                ToHost::Log { level, message, fields } => self.log(level, &message, fields),
                ToHost::IdleExit if self.calls.borrow().len() == 1 => {
                    if let Some(mut process) = self.process.borrow_mut().take() {
                        process.wait_for_exit(Duration::from_millis(500));
                        process.kill();
                    }
                    return Err(Exchange::IdleExit);
                }
                _ => return Err(Exchange::Fault(self.fail(Fault::Protocol("an answer out of order".into())))),
            }
        }
    }

    /// The scheduling delay since `mark`, which moves to now; `None` when there is none worth
    /// waiting for (under a millisecond) or the kernel does not say.
    fn scheduling_refund(&self, mark: &mut Option<Duration>) -> Option<Duration> {
        let now = self.process.borrow().as_ref()?.scheduling_delay()?;
        let refund = now.checked_sub(mark.replace(now)?)?;
        (refund >= Duration::from_millis(1)).then_some(refund)
    }

    fn run_callback(
        &self,
        function: u64,
        args: Vec<WireValue>,
        ctx: Option<&mut CallContext<'_, '_>>,
    ) -> Result<WireValue, String> {
        let converter = self.converter();
        let function = converter.value(WireValue::Function(function))?;
        let args = args.into_iter().map(|arg| converter.value(arg)).collect::<Result<Vec<_>, _>>()?;
        // No borrow of this plugin's state is held here: the script function may call the
        // plugin again.
        let Some(ctx) = ctx else {
            return Err("lambdas can only be called during a call into the plugin".into());
        };
        let value = ctx.call(&function, &args).map_err(|error| error.to_string())?;
        self.converter().to_wire(&value)
    }

    /// A `Map`: the function called once per item here, on the host, the whole batch for one
    /// round trip; on isolates when `workers` is not 0, else on the interpreter's thread.
    fn run_map(
        &self,
        function: u64,
        items: WireValue,
        workers: u32,
        ctx: Option<&mut CallContext<'_, '_>>,
    ) -> MapOutcome {
        let converter = self.converter();
        let (function, items) = match (converter.value(WireValue::Function(function)), converter.value(items)) {
            (Ok(function), Ok(items)) => (function, items),
            (Err(message), _) | (_, Err(message)) => return Err(MapFailure::Failed(message)),
        };
        let items = match &items {
            Value::Array(values) => ParallelItems::Values(values),
            Value::Range(start, end) => ParallelItems::Range(*start, *end),
            _ => return Err(MapFailure::Failed("parallel calls need an array or a range of items".into())),
        };
        // No borrow of this plugin's state is held here: the script function may call the
        // plugin again.
        let Some(ctx) = ctx else {
            return Err(MapFailure::Failed("lambdas can only be called during a call into the plugin".into()));
        };
        let results = if workers == 0 {
            let count = match items {
                ParallelItems::Values(values) => values.len(),
                ParallelItems::Range(start, end) => usize::try_from(end.saturating_sub(start)).unwrap_or(0),
            };
            // The results are a collection of `count` values: refuse what could never be built.
            if let Err(error) = ctx.check_collection_len(count) {
                return Err(MapFailure::Failed(error.at(ctx.call_site()).to_string()));
            }
            let mut results = Vec::with_capacity(count);
            let mut each = |item: Value| -> Result<(), String> {
                results.push(ctx.call(&function, std::slice::from_ref(&item)).map_err(|error| error.to_string())?);
                Ok(())
            };
            let done = match items {
                ParallelItems::Values(values) => values.iter().try_for_each(|item| each(item.clone())),
                ParallelItems::Range(start, end) => (start..end).try_for_each(|number| each(Value::Int(number))),
            };
            if let Err(message) = done {
                return Err(MapFailure::Failed(message));
            }
            results
        } else {
            match tusk_eval::isolate::map_parallel(ctx, &function, items, workers as usize) {
                Ok(results) => results,
                Err(ParallelError::Unsupported(reason)) => return Err(MapFailure::Unsupported(reason)),
                Err(ParallelError::Failed(error)) => return Err(MapFailure::Failed(error.to_string())),
            }
        };
        self.converter().to_wire(&Value::array(results)).map_err(MapFailure::Failed)
    }

    fn serve_request(&self, request: Request) -> Result<Option<String>, String> {
        let plugin = &self.name;
        match request {
            Request::Read(path) => {
                self.services.may_read(plugin, Path::new(&path)).map(|resolved| Some(resolved.display().to_string()))
            }
            Request::Write(path) => {
                self.services.may_write(plugin, Path::new(&path)).map(|resolved| Some(resolved.display().to_string()))
            }
            Request::Resolve(path) => {
                Ok(Some(self.services.resolve_path(plugin, Path::new(&path)).display().to_string()))
            }
            Request::Env(name) => self.services.may_read_env(plugin, &name).map(|()| std::env::var(&name).ok()),
            Request::Connect { host, port } => self.services.may_connect(plugin, &host, port).map(|()| None),
            // Outside a call's exchange (while starting or stopping) there is no call to keep a
            // function of.
            Request::Retain(_) => Err("functions can only be retained during a call into the plugin".into()),
        }
    }

    fn log(&self, level: u32, message: &str, fields: WireValue) {
        let fields = self.converter().value(fields).unwrap_or_default();
        self.services.log(&self.name, level, message, &fields);
    }

    /// Sends a message, preceded by the drops of plugin objects the script released.
    fn send(&self, message: ToRunner) -> Result<(), Exchange> {
        let drops = std::mem::take(&mut self.objects.borrow_mut().drops);
        let sent = match self.process.borrow_mut().as_mut() {
            None => return Err(Exchange::Fault(self.current_fault())),
            Some(process) if drops.is_empty() => process.send(&message),
            Some(process) => {
                let mut batch: Vec<ToRunner> = drops.into_iter().map(|id| ToRunner::DropObject { id }).collect();
                batch.push(message);
                process.send_all(&batch)
            }
        };
        sent.map_err(|error| {
            let fault = match error.kind() {
                // The runner left no room in its ring for the whole deadline.
                std::io::ErrorKind::TimedOut => Fault::Timeout,
                std::io::ErrorKind::InvalidData => Fault::Protocol(error.to_string()),
                // Otherwise the runner is gone; its end says how.
                _ => Fault::Closed,
            };
            Exchange::Fault(self.fail(fault))
        })
    }

    fn current_fault(&self) -> String {
        self.fault.borrow().clone().unwrap_or_else(|| format!("plugin `{}` stopped", self.name))
    }

    /// Ends the runner after a fault; returns (and keeps, for outer calls) the message.
    fn fail(&self, fault: Fault) -> String {
        let Some(mut process) = self.process.borrow_mut().take() else { return self.current_fault() };
        let message = match fault {
            Fault::Timeout => {
                process.kill();
                format!(
                    "plugin `{}` did not answer within {} and was stopped",
                    self.name,
                    seconds(self.settings.call_timeout)
                )
            }
            Fault::Protocol(problem) => {
                process.kill();
                format!("plugin `{}` sent an invalid message ({problem}) and was stopped", self.name)
            }
            Fault::Closed => self.describe_end(&mut process, Some(Duration::from_millis(500))),
        };
        *self.fault.borrow_mut() = Some(message.clone());
        message
    }

    /// Why a runner that closed its channel ended.
    fn describe_end(&self, process: &mut Process, grace: Option<Duration>) -> String {
        let status = match process.wait_for_exit(grace.unwrap_or(Duration::from_millis(500))) {
            Some(status) => status,
            None => {
                process.kill();
                return format!("plugin `{}` closed its channel and was stopped", self.name);
            }
        };
        let name = &self.name;
        match ending(status) {
            Ending::Signal(signal) => {
                let markers = process.stderr_markers();
                let limit = self.settings.memory_limit.unwrap_or(0);
                if markers.contains(&process::MARKERS[0]) {
                    if limit > 0 {
                        format!("plugin `{name}` ran out of memory (limit {} MiB)", limit >> 20)
                    } else {
                        format!("plugin `{name}` ran out of memory")
                    }
                } else if signal == nix::libc::SIGXCPU {
                    format!("plugin `{name}` used up its CPU time (limit {} s)", self.settings.cpu_limit.unwrap_or(0))
                } else if markers.contains(&process::MARKERS[1]) {
                    format!("plugin `{name}` crashed: stack overflow (killed by signal {})", signal_name(signal))
                } else {
                    format!("plugin `{name}` crashed: killed by signal {}", signal_name(signal))
                }
            }
            Ending::Code(0) => format!("plugin `{name}` stopped unexpectedly"),
            Ending::Code(code) => format!("plugin `{name}` crashed: its runner exited with status {code}"),
        }
    }

    /// Runs the plugin's `shutdown` in its runner and ends the runner (once). `limit` bounds
    /// the wait (the settings' shutdown timeout when `None`); past it the runner is killed.
    pub(crate) fn shutdown(&self, limit: Option<Duration>) -> Result<(), String> {
        if self.shut_down.replace(true) {
            return Ok(());
        }
        let Some(mut process) = self.process.borrow_mut().take() else { return Ok(()) };
        if process.has_exited() || process.send(&ToRunner::Shutdown).is_err() {
            return Ok(());
        }
        let limit = limit.unwrap_or(self.settings.shutdown_timeout);
        if limit.is_zero() {
            process.kill();
            return Err(format!(
                "plugin `{}` was stopped without shutting down: the time for shutting plugins down ran out",
                self.name
            ));
        }
        let deadline = Instant::now() + limit;
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match process.receive(left) {
                Ok(ToHost::ShutdownDone { error }) => {
                    break error
                        .map_or(Ok(()), |error| Err(format!("plugin `{}` failed to shut down: {error}", self.name)));
                }
                Ok(ToHost::Log { level, message, fields }) => self.log(level, &message, fields),
                Ok(ToHost::Request { id, request }) => {
                    let result = self.serve_request(request);
                    if process.send(&ToRunner::Reply { id, result }).is_err() {
                        break Ok(());
                    }
                }
                // An idle runner already ran `shutdown` when it stopped.
                Ok(ToHost::IdleExit) | Err(ReadFailure::Closed) => break Ok(()),
                Ok(_) | Err(ReadFailure::Invalid(_)) => {
                    break Err(format!("plugin `{}` broke the protocol while shutting down", self.name));
                }
                Err(ReadFailure::TimedOut) => {
                    break Err(format!(
                        "plugin `{}` did not shut down within {} and was stopped",
                        self.name,
                        seconds(limit)
                    ));
                }
            }
        };
        process.wait_for_exit(Duration::from_millis(200));
        process.kill();
        result
    }
}

impl Drop for SandboxedPlugin {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.get_mut().take() {
            process.kill();
        }
    }
}

/// Why an exchange stopped without a result.
enum Exchange {
    Fault(String),
    /// The runner stopped for idleness without reading the call.
    IdleExit,
}

enum Fault {
    Timeout,
    Closed,
    Protocol(String),
}

fn failure(error: CallError) -> PluginFailure {
    PluginFailure {
        status: if error.panicked { tusk_plugin_abi::status::PANIC } else { tusk_plugin_abi::status::ERROR },
        kind: error.kind,
        argument: error.argument.map(|index| index as usize),
        message: error.message,
        help: error.help,
    }
}
