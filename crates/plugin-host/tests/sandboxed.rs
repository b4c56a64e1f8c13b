//! Sandboxed plugins through the real host: the template plugin behaves the same sandboxed and
//! in-process, callbacks nest, plugin objects round-trip and are dropped, crashes, hangs and
//! memory exhaustion become errors at the call and the next call works, idle runners stop and
//! come back, runners die with the host, and the kernel layers really block file and network
//! access that was not granted.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use tusk_eval::{Options, Runtime, Value};
use tusk_plugin_catalog::{ExecutionMode, GrantSet, Grants, SearchPath};
use tusk_plugin_host::LayerState;
use tusk_plugin_host::host::{HostSettings, PluginHost};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const RUNNER: &str = "tusk-plugin-runner";

/// Builds the plugins and the runner (once per test binary, in one cargo run).
fn built() -> &'static tusk_plugin_testkit::Built {
    static BUILT: OnceLock<tusk_plugin_testkit::Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let packages = [TEMPLATE.0, FIXTURE.0, RUNNER];
        tusk_plugin_testkit::build_packages(&workspace(), &packages, tusk_plugin_testkit::Profile::Debug)
            .unwrap_or_else(|error| panic!("{error}"))
    })
}

const TEMPLATE: (&str, &str) = ("my_plugin", "examples/plugins/my_plugin");
const FIXTURE: (&str, &str) = ("sandbox_fixture", "crates/plugin-runner/tests/fixture");

/// A runtime with the real plugin host, over a temporary plugin folder.
struct Setup {
    runtime: Runtime,
    host: Rc<PluginHost>,
    logs: Rc<RefCell<Vec<String>>>,
    root: tempfile::TempDir,
}

impl Setup {
    fn new(plugin: (&str, &str), configure: impl FnOnce(&mut HostSettings, &Path)) -> Setup {
        Setup::declaring(plugin, "", configure)
    }

    /// As [`Setup::new`], with `permissions` (a `[permissions]` table) added to the manifest.
    fn declaring(plugin: (&str, &str), permissions: &str, configure: impl FnOnce(&mut HostSettings, &Path)) -> Setup {
        let built = built();
        let root = tempfile::tempdir().unwrap();
        let (name, package) = plugin;
        let plugin_dir = root.path().join("plugins").join(name);
        std::fs::create_dir_all(&plugin_dir).unwrap();
        let manifest = std::fs::read_to_string(workspace().join(package).join("plugin.toml")).unwrap();
        std::fs::write(plugin_dir.join("plugin.toml"), format!("{manifest}\n{permissions}")).unwrap();
        let library = built.library(name);
        std::fs::copy(library, plugin_dir.join(library.file_name().unwrap())).unwrap();
        let script_dir = root.path().join("scripts");
        std::fs::create_dir_all(&script_dir).unwrap();
        let mut settings = HostSettings::standard(&script_dir);
        settings.search = SearchPath::from_parts(Some(root.path().join("plugins").as_os_str()), None, None, None);
        settings.index_file = None;
        settings.cache_dir = root.path().join("cache");
        settings.config_file = None;
        settings.grants = Grants::new(&script_dir);
        settings.sandbox.runner = Some(built.binary(RUNNER, RUNNER).to_path_buf());
        configure(&mut settings, root.path());
        let mut runtime = Runtime::new(Options::default());
        let logs = Rc::new(RefCell::new(Vec::new()));
        let sink = logs.clone();
        let host = PluginHost::discover(
            settings,
            runtime.sources_mut(),
            Rc::new(move |line: &str| sink.borrow_mut().push(line.to_string())),
        );
        let problems: Vec<String> = host.install(runtime.registry_mut()).iter().map(|d| d.message.clone()).collect();
        assert!(problems.is_empty(), "{problems:?}");
        Setup { runtime, host, logs, root }
    }

    /// Evaluates a document: its JSON, or the first error's message.
    fn eval(&mut self, source: &str) -> Result<String, String> {
        let id = self.runtime.add_source("test.tsk", source.to_string());
        match self.runtime.evaluate(id, None) {
            Ok(evaluation) => Ok(serde_json::to_string(&Value::object(evaluation.document)).unwrap()),
            Err(failure) => Err(failure.diagnostics[0].message.clone()),
        }
    }

    fn value(&mut self, expression: &str) -> String {
        let document =
            self.eval(&format!("v: {expression}\n")).unwrap_or_else(|message| panic!("{expression}: {message}"));
        let parsed: serde_json::Value = serde_json::from_str(&document).unwrap();
        parsed["v"].to_string()
    }

    fn error(&mut self, expression: &str) -> String {
        match self.eval(&format!("v: {expression}\n")) {
            Ok(document) => panic!("{expression} succeeded: {document}"),
            Err(message) => message,
        }
    }

    fn pid(&mut self) -> u32 {
        self.value("@sb.pid()").parse().unwrap()
    }
}

fn fixture(configure: impl FnOnce(&mut HostSettings, &Path)) -> Setup {
    Setup::new(FIXTURE, configure)
}

fn trusted(name: &str) -> impl FnOnce(&mut HostSettings, &Path) {
    let name = name.to_string();
    move |settings: &mut HostSettings, _: &Path| {
        settings.grants.plugins.insert(name, GrantSet { trusted: true, ..GrantSet::default() });
    }
}

/// True while a process with this id exists and is not a zombie.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn the_template_plugin_behaves_the_same_sandboxed_and_in_process() {
    let source = "a: @my_operator(\"tusk\")\nb: my_function(21)\nc: map([1, 2], my_function)\nd: my_function(1.5)\n";
    let bad = ["my_function(\"no\")", "my_function()", "@my_operator(1)"];
    let mut outcomes = Vec::new();
    for trust in [false, true] {
        let mut setup =
            if trust { Setup::new(TEMPLATE, trusted("my_plugin")) } else { Setup::new(TEMPLATE, |_, _| {}) };
        let document = setup.eval(source).unwrap();
        let errors: Vec<String> = bad.iter().map(|expression| setup.error(expression)).collect();
        let mode = setup.host.loaded()[0].mode();
        assert_eq!(mode, if trust { ExecutionMode::InProcess } else { ExecutionMode::Sandboxed });
        assert_eq!(setup.host.sandbox_report("my_plugin").is_some(), !trust);
        outcomes.push((document, errors));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0].0, r#"{"a":"Hello, tusk!","b":42,"c":[2,4],"d":3.0}"#);
    assert_eq!(outcomes[0].1[0], "my_function: expected a number, found string");
}

#[test]
fn values_errors_and_panics_cross_unchanged() {
    let mut sandboxed = fixture(|_, _| {});
    let mut native = fixture(trusted("sandbox_fixture"));
    let values = [
        "@sb.echo({a: [1, 2.5, \"x\", null, true], b: {c: {d: []}}})",
        "@sb.echo(\"héllo ✓\")",
        "@sb.echo(-9223372036854775807)",
    ];
    for expression in values {
        assert_eq!(sandboxed.value(expression), native.value(expression), "{expression}");
    }
    for expression in ["@sb.fail()", "@sb.panic()", "@sb.bump(1)"] {
        assert_eq!(sandboxed.error(expression), native.error(expression), "{expression}");
    }
    assert_eq!(sandboxed.error("@sb.panic()"), "@sb.panic: plugin panicked: boom");
    assert_ne!(sandboxed.pid(), std::process::id());
    assert_eq!(native.pid(), std::process::id());
}

#[test]
fn callbacks_nest_and_the_depth_is_limited() {
    let mut setup = fixture(|settings, _| settings.sandbox.max_depth = 8);
    assert_eq!(setup.value("@sb.call(x => x + 1, 41)"), "42");
    assert_eq!(setup.value("@sb.call(x => @sb.call(y => @sb.call(z => z * 2, y + 1), x), 20)"), "42");
    // The script function sees its closure, and a function passed back and forth stays itself.
    assert_eq!(setup.eval("k: 5\nf: @sb.echo(x => x + k)\nv: f(1)\n").unwrap(), r#"{"k":5,"v":6}"#);
    // Recursion through the plugin, within the limit and past it.
    let document = "f: n => n < 1 ? 0 : @sb.call(f, n - 1) + 1\nv: f(6)\n";
    assert_eq!(setup.eval(document).unwrap(), r#"{"v":6}"#);
    let message = setup.eval("f: n => n < 1 ? 0 : @sb.call(f, n - 1) + 1\nv: f(20)\n").unwrap_err();
    assert!(message.contains("nest more than 8 deep"), "{message}");
    // A script error inside the callback reaches the plugin, which reports it.
    let message = setup.error("@sb.call(x => x.missing.deeper, 1)");
    assert!(message.starts_with("@sb.call:"), "{message}");
    // A function kept by the plugin is not valid in a later call.
    setup.eval("x: @sb.stash(y => y)\n").unwrap();
    let message = setup.error("@sb.call(@sb.unstash(), 1)");
    assert!(message.contains("only valid during the call that passed it"), "{message}");
    // The runner survived all of it.
    assert_eq!(setup.value("@sb.echo(7)"), "7");
}

#[test]
fn a_map_runs_on_the_host_in_one_round_trip() {
    let mut setup = fixture(|settings, _| settings.sandbox.max_depth = 8);
    // No workers: the host calls the function on the interpreter's thread, item after item.
    assert_eq!(setup.value("@sb.map(x => x * 2, 5, 0)"), "[0,2,4,6,8]");
    assert_eq!(setup.value("@sb.map(x => x, 0, 0)"), "[]");
    // There the function may call the plugin again, even another map.
    assert_eq!(setup.value("@sb.map(x => @sb.echo(x) + 1, 3, 0)"), "[1,2,3]");
    assert_eq!(setup.value("@sb.map(x => len(@sb.map(y => y, x, 0)), 4, 0)"), "[0,1,2,3]");
    // With workers, on the host's isolates.
    let squares: Vec<i64> = serde_json::from_str(&setup.value("@sb.map(x => x * x, 3000, 2)")).unwrap();
    assert_eq!(squares, (0..3000).map(|x| x * x).collect::<Vec<i64>>());
    // A function that cannot leave the interpreter's thread is refused before anything ran.
    let refused = setup.value("@sb.map(x => @sb.echo(x), 3, 2)");
    assert!(refused.starts_with("\"unsupported: ") && refused.contains("@sb.echo"), "{refused}");
    // The error is the first failing item's, either way.
    for workers in [0, 2] {
        let message = setup.error(&format!("@sb.map(x => x == 2 ? 1 / 0 : x == 3 ? [][1] : x, 5, {workers})"));
        assert!(message.starts_with("@sb.map:") && message.contains("division by zero"), "{message}");
    }
    // Past the depth limit, as for single callbacks.
    let message = setup.eval("f: n => n < 1 ? 0 : @sb.map(x => f(n - 1), 1, 0)[0] + 1\nv: f(20)\n").unwrap_err();
    assert!(message.contains("nest more than 8 deep"), "{message}");
    assert_eq!(setup.value("@sb.echo(7)"), "7");
    // In-process, a batch without workers saves nothing: the plugin is told to call the
    // function itself.
    let mut native = fixture(trusted("sandbox_fixture"));
    assert_eq!(
        native.value("@sb.map(x => x * 2, 5, 0)"),
        r#""unsupported: an in-process plugin calls script functions itself""#
    );
    assert_eq!(native.value("@sb.map(x => x * 2, 5, 2)"), "[0,2,4,6,8]");
}

#[test]
fn plugin_objects_round_trip_and_are_dropped_in_the_runner() {
    let mut setup = fixture(|_, _| {});
    let document = setup.eval("c: @sb.open(10)\na: @sb.bump(c)\nb: @sb.bump(c)\nt: type_of(c)\n").unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(
        (parsed["a"].as_i64(), parsed["b"].as_i64(), parsed["t"].as_str()),
        (Some(11), Some(12), Some("sb.counter"))
    );
    // The document above was dropped; its counter too.
    assert_eq!(setup.value("@sb.live()"), "0");
    // A temporary object is dropped as soon as the script is done with it, as in-process.
    assert_eq!(setup.value("[@sb.bump(@sb.open(1)), @sb.live()]"), "[2,0]");
    let document = setup.eval("x: @sb.open(1)\nv: [@sb.bump(x), @sb.live()]\n").unwrap();
    assert!(document.ends_with(r#""v":[2,1]}"#), "{document}");
    assert_eq!(setup.value("@sb.live()"), "0");
    // The same object returned twice keeps one identity (and one drop).
    assert_eq!(setup.value("@sb.bump(@sb.echo(@sb.echo(@sb.open(5))))"), "6");
    assert_eq!(setup.value("@sb.live()"), "0");
}

#[test]
fn a_crash_fails_the_call_and_the_next_call_starts_a_new_runner() {
    let mut setup = fixture(|_, _| {});
    let first = setup.pid();
    assert_eq!(setup.error("@sb.crash()"), "@sb.crash: plugin `sandbox_fixture` crashed: killed by signal SIGSEGV");
    assert!(!running(first));
    let second = setup.pid();
    assert_ne!(first, second);
    assert_eq!(setup.error("@sb.abort()"), "@sb.abort: plugin `sandbox_fixture` crashed: killed by signal SIGABRT");
    assert_eq!(setup.value("@sb.echo(1)"), "1");
    let report = setup.host.sandbox_report("sandbox_fixture").unwrap();
    assert_eq!(report.restarts, 2);
    // A crash inside a nested call fails every call out to the script.
    let message = setup.error("@sb.call(x => @sb.crash(), 1)");
    assert!(message.contains("crashed: killed by signal SIGSEGV"), "{message}");
    assert_eq!(setup.value("@sb.echo(2)"), "2");
}

/// A stand-in for a runner of another build: a shell script at `ROOT/old-runner`.
fn fake_runner(script: &'static str) -> impl FnOnce(&mut HostSettings, &Path) {
    move |settings: &mut HostSettings, root: &Path| {
        let runner = root.join("old-runner");
        // Written by a child process: a file this (multi-threaded) test process had open for
        // writing could still be open in a child another test forks meanwhile, and starting it
        // would then fail with ETXTBSY.
        let written = std::process::Command::new("sh")
            .args(["-c", "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"", "sh", script])
            .arg(&runner)
            .status()
            .unwrap();
        assert!(written.success());
        settings.sandbox.runner = Some(runner);
        settings.sandbox.call_timeout = Duration::from_millis(500);
    }
}

#[test]
fn a_runner_of_another_protocol_is_named_at_once() {
    let cases = [
        // A newer or older runner that says its protocol.
        ("#!/bin/sh\nprintf 'T\\005\\000\\000\\000' >&0\nexec sleep 60\n", "speaks protocol 5"),
        // A runner older than the hello: it refuses the `Init` and exits.
        ("#!/bin/sh\nexit 4\n", "ended (exit status 4) before it said which protocol it speaks"),
        // Something else, silent.
        ("#!/bin/sh\nexec sleep 60\n", "did not say which protocol it speaks within 500ms"),
        ("#!/bin/sh\nprintf 'HTTP/1.1 200' >&0\nexec sleep 60\n", "does not say which protocol it speaks"),
    ];
    for (script, problem) in cases {
        let mut setup = fixture(fake_runner(script));
        let runner = setup.root.path().join("old-runner");
        assert_eq!(
            setup.error("@sb.pid()"),
            format!(
                "@sb.pid: plugin `sandbox_fixture` failed to initialize: the plugin runner at {} {problem}, \
                 this tusk needs {} (reinstall tusk with its runner: `cargo xtask install --prefix DIR` installs \
                 both; or set TUSK_PLUGIN_RUNNER to the runner built with this tusk)",
                runner.display(),
                tusk_plugin_wire::PROTOCOL_VERSION
            )
        );
    }
}

#[test]
fn a_hung_call_is_stopped_at_its_deadline() {
    let mut setup = fixture(|settings, _| settings.sandbox.call_timeout = Duration::from_millis(300));
    // The runner is started first, so that the bound below covers the hung call alone. The
    // bound is far above the deadline (a loaded machine stretches both) and far below the
    // hang, which never ends by itself: it tells a stop at the deadline from none.
    assert_eq!(setup.value("@sb.echo(1)"), "1");
    let started = std::time::Instant::now();
    assert_eq!(
        setup.error("@sb.hang()"),
        "@sb.hang: plugin `sandbox_fixture` did not answer within 300ms and was stopped"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(setup.value("@sb.echo(3)"), "3");
}

/// Registers `@nap()`, an embedder's operator that sleeps for `pause` on the host.
fn register_nap(runtime: &mut Runtime, pause: Duration) {
    struct Nap(RefCell<Option<tusk_eval::SymbolSpec>>);
    impl tusk_eval::Plugin for Nap {
        fn name(&self) -> &str {
            "nap"
        }
        fn register(&self, registrar: &mut tusk_eval::Registrar<'_>) -> Result<(), tusk_eval::RegistryError> {
            registrar.add(self.0.borrow_mut().take().unwrap()).map(|_| ())
        }
    }
    let spec = tusk_eval::SymbolSpec::operator("nap", move |_, _| {
        std::thread::sleep(pause);
        Ok(Value::Null)
    });
    runtime.register(&Nap(RefCell::new(Some(spec)))).unwrap();
}

#[test]
fn the_deadline_counts_the_plugin_s_own_time_not_its_callbacks() {
    let mut setup = fixture(|settings, _| settings.sandbox.call_timeout = Duration::from_millis(300));
    register_nap(&mut setup.runtime, Duration::from_millis(100));
    // Six callbacks of 100 ms on the host: twice the deadline, none of it the plugin's.
    let times: Vec<u64> = serde_json::from_str(&setup.value("@sb.callbacks(x => @nap(), 6)")).unwrap();
    assert_eq!(times.len(), 6);
    assert!(times.iter().all(|&nanos| nanos >= 100_000_000), "every callback slept: {times:?}");
    // So does a map on the host.
    assert_eq!(setup.value("@sb.map(x => [@nap(), x][1], 6, 0)"), "[0,1,2,3,4,5]");
    // The plugin's own time still counts.
    assert_eq!(
        setup.error("@sb.hang()"),
        "@sb.hang: plugin `sandbox_fixture` did not answer within 300ms and was stopped"
    );
    assert_eq!(setup.value("@sb.echo(5)"), "5");
}

#[test]
fn running_out_of_memory_is_reported_with_the_limit() {
    let mut setup = fixture(|settings, _| settings.sandbox.memory_limit = Some(128 << 20));
    assert_eq!(setup.value("@sb.hog(16)"), "16");
    assert_eq!(setup.error("@sb.hog(512)"), "@sb.hog: plugin `sandbox_fixture` ran out of memory (limit 128 MiB)");
    assert_eq!(setup.value("@sb.echo(4)"), "4");
}

#[test]
fn idle_runners_stop_and_start_again_on_the_next_call() {
    let mut setup = fixture(|settings, _| settings.sandbox.idle_timeout = Some(Duration::from_millis(200)));
    setup.eval("x: @sb.log(\"hello\")\n").unwrap();
    let first = setup.pid();
    // Generous: the runner stops after 200 ms, but a loaded machine may be slow to schedule it.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!running(first), "the idle runner should have stopped");
    let second = setup.pid();
    assert_ne!(first, second);
    assert_eq!(setup.host.sandbox_report("sandbox_fixture").unwrap().restarts, 1);
    assert!(
        setup.logs.borrow().iter().any(|line| line.contains("[sandbox_fixture] info: hello")),
        "{:?}",
        setup.logs.borrow()
    );
    assert!(!setup.logs.borrow().iter().any(|line| line.contains("crashed")), "{:?}", setup.logs.borrow());
}

#[test]
fn runners_die_with_their_host() {
    let mut setup = fixture(|_, _| {});
    let pid = setup.pid();
    assert!(running(pid));
    drop(setup);
    assert!(!running(pid));
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the runner was not reaped");
}

#[test]
fn landlock_blocks_files_outside_the_grants() {
    let mut granted_dir = PathBuf::new();
    let declared = "[permissions]\nfile_system = \"read\"\npaths = [\"${script_dir}\"]\n";
    let mut setup = Setup::declaring(FIXTURE, declared, |settings, root| {
        granted_dir = root.join("scripts");
        std::fs::write(granted_dir.join("ok.txt"), "inside").unwrap();
        std::fs::write(root.join("secret.txt"), "outside").unwrap();
        settings.grants.flags.apply_flag(&format!("--allow-read={}", granted_dir.display())).unwrap();
    });
    let inside = granted_dir.join("ok.txt");
    let outside = setup.root.path().join("secret.txt");
    assert_eq!(setup.value(&format!("@sb.read_direct({:?})", inside.display().to_string())), "\"inside\"");
    assert_eq!(setup.value(&format!("@sb.read({:?})", inside.display().to_string())), "\"inside\"");
    assert_eq!(
        setup.error(&format!("@sb.read_direct({:?})", outside.display().to_string())),
        "@sb.read_direct: direct read failed: Permission denied (os error 13)"
    );
    let message = setup.error(&format!("@sb.read({:?})", outside.display().to_string()));
    assert!(message.contains("plugin `sandbox_fixture` may not read"), "{message}");
    // The same refusal text as in-process.
    let mut native = Setup::declaring(FIXTURE, declared, |settings, root| {
        trusted("sandbox_fixture")(settings, root);
        settings.grants.flags.apply_flag(&format!("--allow-read={}", root.join("scripts").display())).unwrap();
    });
    let native_message = native.error(&format!("@sb.read({:?})", outside.display().to_string()));
    assert_eq!(
        message.replace(&setup.root.path().display().to_string(), "ROOT"),
        native_message
            .replace(&native.root.path().display().to_string(), "ROOT")
            .replace(&setup.root.path().display().to_string(), "ROOT")
    );
}

#[test]
fn sockets_need_the_network_grant() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut denied = fixture(|_, _| {});
    assert_eq!(
        denied.error(&format!("@sb.connect({port})")),
        "@sb.connect: direct connect failed: Operation not permitted (os error 1)"
    );
    let declared = "[permissions]\nnetwork = \"outbound\"\nhosts = [\"127.0.0.1:*\"]\n";
    let mut allowed = Setup::declaring(FIXTURE, declared, |settings, _| {
        settings.grants.flags.apply_flag("--allow-net=127.0.0.1").unwrap();
    });
    assert_eq!(allowed.value(&format!("@sb.connect({port})")), "\"connected\"");
    // A grant the plugin does not declare does not apply.
    let mut undeclared = fixture(|settings, _| settings.grants.flags.apply_flag("--allow-net=127.0.0.1").unwrap());
    assert_eq!(
        undeclared.error(&format!("@sb.connect({port})")),
        "@sb.connect: direct connect failed: Operation not permitted (os error 1)"
    );
}

#[test]
fn environment_variables_come_from_the_host_after_the_grant_check() {
    // The runner's own environment is empty; granted variables are read through the host.
    let mut denied = fixture(|_, _| {});
    let message = denied.error("@sb.env(\"PATH\")");
    assert!(message.contains("may not read the environment variable PATH"), "{message}");
    let declared = "[permissions]\nenv = [\"PATH\"]\n";
    let mut allowed = Setup::declaring(FIXTURE, declared, |settings, _| {
        settings.grants.flags.apply_flag("--allow-env=PATH").unwrap();
    });
    assert_eq!(allowed.value("@sb.env(\"PATH\")"), serde_json::to_string(&std::env::var("PATH").unwrap()).unwrap());
}

#[test]
fn the_report_names_the_layers_in_force() {
    let mut setup = fixture(|settings, _| settings.sandbox.plugins.push("sandbox_fixture".into()));
    setup.value("@sb.echo(1)");
    let report = setup.host.sandbox_report("sandbox_fixture").unwrap();
    eprintln!("{report}");
    let names: Vec<&str> = report.layers.iter().map(|layer| layer.name.as_str()).collect();
    assert_eq!(names, ["rlimits", "landlock", "no_new_privs", "seccomp"]);
    for layer in &report.layers {
        // Partial: a kernel older than the newest Landlock ABI the runner asks for.
        assert!(
            matches!(layer.state, LayerState::Active | LayerState::Partial),
            "{layer:?} (this test expects a kernel with Landlock and seccomp)"
        );
    }
    assert!(
        report.to_string().contains("landlock: active (ABI ") || report.to_string().contains("landlock: partial (ABI "),
        "{report}"
    );
}

#[test]
fn the_sandbox_flags_override_trust() {
    let mut forced = fixture(|settings, root| {
        trusted("sandbox_fixture")(settings, root);
        settings.sandbox.all = true;
    });
    assert_ne!(forced.pid(), std::process::id());
    assert_eq!(forced.host.loaded()[0].mode(), ExecutionMode::Sandboxed);
}

#[test]
fn byte_strings_cross_both_ways_sandboxed_and_in_process() {
    let mut sandboxed = fixture(|_, _| {});
    let mut native = fixture(trusted("sandbox_fixture"));
    for setup in [&mut sandboxed, &mut native] {
        assert_eq!(
            setup.value("@sb.bytes_info(bytes([1, 2, 250]))"),
            r#"{"type":"bytes","len":3,"sum":253,"truthy":true}"#
        );
        assert_eq!(setup.value("@sb.bytes_info(bytes(\"\"))"), r#"{"type":"bytes","len":0,"sum":0,"truthy":false}"#);
        // Made in the plugin, in place and by copy, and read back by the script.
        assert_eq!(setup.value("hex(@sb.fill_bytes(5))"), "\"0001020304\"");
        assert_eq!(setup.value("len(@sb.fill_bytes(70000)) + @sb.fill_bytes(70000)[69999]"), "70111");
        assert_eq!(setup.value("type_of(@sb.fill_bytes(0)) + str(len(@sb.fill_bytes(0)))"), "\"bytes0\"");
        // Made by the host around the plugin's data (ABI 1.9), then written in place.
        assert_eq!(setup.value("hex(@sb.around_bytes(from_hex(\"00ff10\")))"), "\"aa01001100bb\"");
        assert_eq!(setup.value("hex(@sb.around_bytes(bytes(\"\")))"), "\"aa00bb\"");
        let large = "@sb.around_bytes(@sb.fill_bytes(70000))";
        assert_eq!(setup.value(&format!("len({large}) + {large}[70000] + {large}[70002]")), "70302");
        // Written once into uninitialised room (ABI 1.10): all of it, a front of it (cut to
        // what was written), none; a failed or panicking fill makes no byte string.
        assert_eq!(setup.value("hex(@sb.uninit_bytes(4, 4, \"ok\"))"), "\"00010203\"");
        assert_eq!(setup.value("hex(@sb.uninit_bytes(8, 3, \"ok\"))"), "\"000102\"");
        assert_eq!(
            setup.value("type_of(@sb.uninit_bytes(8, 0, \"ok\")) + str(len(@sb.uninit_bytes(0, 0, \"ok\")))"),
            "\"bytes0\""
        );
        let large = "@sb.uninit_bytes(100000, 70000, \"ok\")";
        assert_eq!(setup.value(&format!("len({large}) + {large}[69999]")), "70111");
        assert_eq!(setup.error("@sb.uninit_bytes(8, 5, \"fail\")"), "@sb.uninit_bytes: the fill failed after 5 bytes");
        assert_eq!(
            setup.error("@sb.uninit_bytes(8, 5, \"panic\")"),
            "@sb.uninit_bytes: plugin panicked: the fill panicked after 5 bytes"
        );
        // The plugin goes on after both.
        assert_eq!(setup.value("hex(@sb.uninit_bytes(2, 2, \"ok\"))"), "\"0001\"");
        assert_eq!(setup.value("hex(@sb.reverse_bytes(from_hex(\"00ff10\")))"), "\"10ff00\"");
        assert_eq!(setup.value("map(@sb.bytes_pair(bytes(\"ab\")), hex)"), r#"["6162","0102ff"]"#);
        assert_eq!(setup.value("@sb.echo(bytes([0, 255])) == bytes([0, 255])"), "true");
        assert_eq!(setup.value("hex(@sb.echo([bytes([7]), {k: bytes([8, 9])}])[1].k)"), "\"0809\"");
        // A borrowed byte string kept past its call is the plugin's own copy.
        setup.eval("a: @sb.stash(bytes([4, 5]))\n").unwrap();
        assert_eq!(setup.value("hex(@sb.unstash())"), "\"0405\"");
        assert_eq!(setup.error("@sb.bytes_info(\"text\")"), "@sb.bytes_info: expected bytes, got string");
    }
}
