//! Hostile plugins in sandboxed runners: the fatal misbehaviours (a segfault, an abort,
//! allocation without bound, an endless loop) and raw file, network and process access that
//! bypasses the host API. The host survives each, the call gets an exact error, and a
//! well-behaved plugin serves the next call. The survivable misbehaviours of `hostile.rs`
//! give the same errors here as in-process, and hot reload swaps sandboxed plugins too (the
//! replaced runner ends).

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Failure, TestHost, replace_file, swap_build, with_abi_major};

/// A host whose plugins all run sandboxed, with a short deadline and a small memory limit.
fn sandboxed(fixtures: &[&str], flags: impl FnOnce(&std::path::Path) -> Vec<String>) -> TestHost {
    TestHost::sandboxed(fixtures, flags, |settings| {
        settings.sandbox.call_timeout = Duration::from_millis(500);
        settings.sandbox.memory_limit = Some(256 << 20);
    })
}

fn no_flags(_: &std::path::Path) -> Vec<String> {
    Vec::new()
}

/// The template plugin (sandboxed too) answers: the host is still fine.
fn assert_host_still_serves(host: &mut TestHost) {
    assert_eq!(host.value("@my_operator(\"tusk\")").unwrap(), json!("Hello, tusk!"));
}

fn message(host: &mut TestHost, expression: &str) -> String {
    host.value(expression).unwrap_err().message
}

#[test]
fn a_segfault_kills_only_the_runner() {
    let mut host = sandboxed(&["segfault", "my_plugin"], no_flags);
    assert_eq!(message(&mut host, "@segfault()"), "@segfault: plugin `segfault` crashed: killed by signal SIGSEGV");
    assert_host_still_serves(&mut host);
}

#[test]
fn an_abort_kills_only_the_runner() {
    let mut host = sandboxed(&["abort", "my_plugin"], no_flags);
    assert_eq!(message(&mut host, "@abort()"), "@abort: plugin `abort` crashed: killed by signal SIGABRT");
    assert_host_still_serves(&mut host);
}

#[test]
fn allocating_without_bound_hits_the_memory_limit() {
    // A generous deadline: the limit, not the clock, has to stop it.
    let mut host = TestHost::sandboxed(&["hog", "my_plugin"], no_flags, |settings| {
        settings.sandbox.call_timeout = Duration::from_secs(30);
        settings.sandbox.memory_limit = Some(128 << 20);
    });
    assert_eq!(message(&mut host, "@hog()"), "@hog: plugin `hog` ran out of memory (limit 128 MiB)");
    assert_host_still_serves(&mut host);
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let mut host = sandboxed(&["spin", "my_plugin"], no_flags);
    let started = std::time::Instant::now();
    assert_eq!(message(&mut host, "@spin()"), "@spin: plugin `spin` did not answer within 500ms and was stopped");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_host_still_serves(&mut host);
}

#[test]
fn a_cancelled_call_is_told_so_in_the_runner() {
    let mut host = TestHost::sandboxed(&["spin"], no_flags, |settings| {
        settings.sandbox.call_timeout = Duration::from_secs(20);
    });
    let flag = host.host.cancel_flag();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let started = std::time::Instant::now();
    let message = message(&mut host, "@spin.polite()");
    raiser.join().unwrap();
    assert!(message.starts_with("@spin.polite: cancelled after "), "{message}");
    // Asked within the host's check interval, not at the deadline.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_reply_trickled_a_byte_at_a_time_is_stopped_at_the_deadline() {
    let mut host = TestHost::sandboxed(&["escape", "my_plugin"], script_dir_grants, |settings| {
        settings.sandbox.call_timeout = Duration::from_secs(2);
    });
    let started = std::time::Instant::now();
    // A byte every half second would keep a per-read timeout happy for a minute.
    assert_eq!(
        message(&mut host, "escape_trickle(60)"),
        "escape_trickle: plugin `escape` did not answer within 2s and was stopped"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_host_still_serves(&mut host);
}

/// The channel's shared memory is the plugin's to write too: positions it corrupts end the
/// runner with a clear error, never a crash or a hang of the host, and the next call gets a
/// fresh runner.
#[test]
fn a_plugin_scribbling_over_the_channel_s_rings_is_stopped_with_a_clear_error() {
    let mut host = TestHost::sandboxed(&["escape", "my_plugin"], script_dir_grants, |settings| {
        settings.sandbox.call_timeout = Duration::from_secs(2);
    });
    assert_eq!(
        message(&mut host, "escape_scribble(\"head\")"),
        "escape_scribble: plugin `escape` sent an invalid message (the channel's shared memory was corrupted: \
         the writer's position is further ahead than the ring holds) and was stopped"
    );
    // The host's own ring: the runner claims to have read what the host never wrote, which the
    // host sees when it next writes.
    assert_eq!(host.value("escape_scribble(\"tail\")").unwrap(), json!("scribbled"));
    assert_eq!(
        message(&mut host, "escape_scribble(\"tail\")"),
        "escape_scribble: plugin `escape` sent an invalid message (the channel's shared memory was corrupted: \
         the reader's position is not behind the writer's) and was stopped"
    );
    assert_eq!(host.value("escape_scribble(\"none\")").unwrap_err().message, "escape_scribble: expected head or tail");
    assert_host_still_serves(&mut host);
}

#[test]
fn a_shutdown_that_never_returns_is_cut_short_and_reported() {
    let mut host = sandboxed(&["stuck"], no_flags);
    assert_eq!(host.value("stuck_ok()").unwrap(), json!(true));
    let printed = host.printed.clone();
    let started = std::time::Instant::now();
    drop(host);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(
        printed.borrow().last().map(String::as_str),
        Some("[stuck] error: plugin `stuck` did not shut down within 2s and was stopped")
    );
}

#[test]
fn a_grant_the_manifest_does_not_declare_is_not_used_through_the_host_or_directly() {
    let (outside, secret) = outside_file();
    let outside = outside.path().canonicalize().unwrap();
    // The user grants the folder outside too; the plugin declares only its script folder.
    let mut host = sandboxed(&["read_outside", "my_plugin"], |script_dir| {
        vec![format!("--allow-read={},{}", script_dir.display(), outside.display())]
    });
    let mine = host.script_dir.join("mine.txt");
    std::fs::write(&mine, "granted").unwrap();
    assert_eq!(host.value(&format!("@read_outside.host(\"{}\")", mine.display())).unwrap(), json!("granted"));
    assert_eq!(
        message(&mut host, &format!("@read_outside.host(\"{secret}\")")),
        format!(
            "@read_outside.host: permission denied: plugin `read_outside` may not read {secret}: its manifest does \
             not declare it (under [permissions] in its plugin.toml), so the grant does not apply to it"
        )
    );
    assert_eq!(
        message(&mut host, &format!("@read_outside.raw(\"{secret}\")")),
        format!("@read_outside.raw: cannot read {secret}: Permission denied (os error 13)")
    );
    assert_host_still_serves(&mut host);
}

/// Answers each connection's first line with `pong`.
fn answer_pong(listener: std::net::TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::{BufRead, Write};
            let mut line = String::new();
            if std::io::BufReader::new(&stream).read_line(&mut line).is_ok() {
                let _ = (&stream).write_all(b"pong\n");
            }
        }
    });
}

/// The network grant the `netprobe` fixture declares.
fn netprobe_grant(_: &std::path::Path) -> Vec<String> {
    vec!["--allow-net=127.0.0.1,localhost".to_string()]
}

#[test]
fn a_granted_host_is_reached_through_the_host_and_no_other_address_is() {
    // One port on two loopback addresses: only the granted one may be reached.
    let other = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let granted = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the same port is free on 127.0.0.1");
    answer_pong(other);
    answer_pong(granted);
    let mut host = sandboxed(&["netprobe", "my_plugin"], netprobe_grant);
    assert_eq!(host.value(&format!("netprobe_tcp(\"127.0.0.1\", {port})")).unwrap(), json!("pong"));
    // A granted name is looked up by the host, and reaches what it resolves to.
    assert_eq!(host.value(&format!("netprobe_tcp(\"localhost\", {port})")).unwrap(), json!("pong"));
    assert_eq!(
        message(&mut host, &format!("netprobe_tcp(\"127.0.0.2\", {port})")),
        format!("netprobe_tcp: cannot connect to 127.0.0.2:{port}: Permission denied (os error 13)")
    );
    // The system call itself, past the C library: seccomp.
    assert_eq!(
        message(&mut host, &format!("netprobe_raw_tcp(\"127.0.0.1\", {port})")),
        format!("netprobe_raw_tcp: cannot connect to 127.0.0.1:{port}: Operation not permitted (os error 1)")
    );
    // A name the plugin may not reach is not even looked up.
    assert_eq!(
        message(&mut host, &format!("netprobe_tcp(\"example.com\", {port})")),
        format!("netprobe_tcp: cannot connect to example.com:{port}: Permission denied (os error 13)")
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn udp_and_unix_sockets_are_refused_under_a_tcp_grant() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("socket");
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    unix.set_nonblocking(true).unwrap();
    let mut host = sandboxed(&["netprobe", "my_plugin"], netprobe_grant);
    let port = udp.local_addr().unwrap().port();
    assert_eq!(
        message(&mut host, &format!("netprobe_udp({port})")),
        "netprobe_udp: cannot connect to udp: Operation not permitted (os error 1)"
    );
    assert_eq!(
        message(&mut host, &format!("netprobe_unix(\"{}\")", path.display())),
        format!("netprobe_unix: cannot connect to {}: Operation not permitted (os error 1)", path.display())
    );
    assert!(udp.recv(&mut [0u8; 16]).is_err(), "a datagram got through");
    assert!(unix.accept().is_err(), "a Unix connection got through");
    assert_host_still_serves(&mut host);
}

#[test]
fn a_lambda_kept_past_its_call_is_refused_as_in_process() {
    let mut host = sandboxed(&["keeper", "my_plugin"], no_flags);
    assert_eq!(host.value("keeper_apply((x) => x * 2, 21)").unwrap(), json!(42));
    assert_eq!(host.value("keeper_keep(() => 42)").unwrap(), json!(true));
    assert_eq!(
        host.value("keeper_call()").unwrap_err(),
        Failure {
            message: "keeper_call: plugin `keeper` used a script value that is only valid during the call that passed \
                      it"
            .into(),
            notes: vec![],
            help: None
        }
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn a_failure_through_nested_calls_is_collapsed_as_in_process() {
    let mut host = sandboxed(&["keeper"], no_flags);
    let script = "rec = (n) => n > 0 ? keeper_apply(rec, n - 1) : int(\"bottom\")\nx: rec(20)\n";
    assert_eq!(
        host.eval(script).unwrap_err(),
        Failure {
            message: "keeper_apply: … 19 more calls of keeper_apply: int: \"bottom\" is not a number".into(),
            notes: vec![
                "in `rec`, called at test.tsk:2:4".into(),
                "plugin `keeper` passed this on from a script function it called".into()
            ],
            help: None
        }
    );
}

/// Read and write access to the script folder (what the fixtures that write declare).
fn script_dir_grants(script_dir: &std::path::Path) -> Vec<String> {
    vec![format!("--allow-read={}", script_dir.display()), format!("--allow-write={}", script_dir.display())]
}

/// A folder outside every grant, with a file in it.
fn outside_file() -> (tempfile::TempDir, String) {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().canonicalize().unwrap().join("secret.txt");
    std::fs::write(&secret, "not for plugins").unwrap();
    (outside, secret.display().to_string())
}

#[test]
fn reading_a_file_outside_the_grant_directly_is_blocked_by_the_kernel() {
    let (_outside, secret) = outside_file();
    let mut host =
        sandboxed(&["read_outside", "my_plugin"], |script_dir| vec![format!("--allow-read={}", script_dir.display())]);
    let mine = host.script_dir.join("mine.txt");
    std::fs::write(&mine, "granted").unwrap();
    assert_eq!(host.value(&format!("@read_outside.raw(\"{}\")", mine.display())).unwrap(), json!("granted"));
    assert_eq!(
        message(&mut host, &format!("@read_outside.raw(\"{secret}\")")),
        format!("@read_outside.raw: cannot read {secret}: Permission denied (os error 13)")
    );
    // Through the host API the refusal is the host's, worded as in-process.
    assert_eq!(
        message(&mut host, &format!("@read_outside.host(\"{secret}\")")),
        format!(
            "@read_outside.host: permission denied: plugin `read_outside` may not read {secret}; run with \
             --allow-read={secret} to allow it"
        )
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn writing_a_file_outside_the_grant_directly_is_blocked_by_the_kernel() {
    let (_outside, secret) = outside_file();
    let mut host = sandboxed(&["write_outside", "my_plugin"], |script_dir| {
        vec![format!("--allow-read={}", script_dir.display()), format!("--allow-write={}", script_dir.display())]
    });
    let mine = host.script_dir.join("mine.txt");
    assert_eq!(host.value(&format!("@write_outside.raw(\"{}\", \"ok\")", mine.display())).unwrap(), json!(true));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "ok");
    assert_eq!(
        message(&mut host, &format!("@write_outside.raw(\"{secret}\", \"overwritten\")")),
        format!("@write_outside.raw: cannot write {secret}: Permission denied (os error 13)")
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "not for plugins");
    assert_host_still_serves(&mut host);
}

#[test]
fn connecting_directly_without_the_network_grant_is_blocked_by_the_kernel() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut host = sandboxed(&["connect", "my_plugin"], no_flags);
    assert_eq!(
        message(&mut host, &format!("@connect.raw({port})")),
        format!("@connect.raw: cannot connect to 127.0.0.1:{port}: Operation not permitted (os error 1)")
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "a connection got through");
    assert_host_still_serves(&mut host);
}

#[test]
fn spawning_a_process_is_blocked() {
    let mut host = sandboxed(&["spawn", "my_plugin"], no_flags);
    // seccomp refuses `execve` (and the empty environment would give it nothing to use).
    assert_eq!(message(&mut host, "@spawn()"), "@spawn: cannot spawn /bin/sh: Operation not permitted (os error 1)");
    assert_host_still_serves(&mut host);
}

#[test]
fn survivable_misbehaviour_gives_the_in_process_errors() {
    let mut host = sandboxed(&["panic_init", "panic_op", "liar", "my_plugin"], no_flags);
    assert_eq!(
        host.value("@panic_init()").unwrap_err(),
        Failure {
            message: "@panic_init: plugin `panic_init` failed to initialize: plugin panicked: the fixture panics in \
                      initialize"
                .into(),
            notes: vec![],
            help: None
        }
    );
    assert_eq!(
        host.value("@panic_op()").unwrap_err(),
        Failure {
            message: "@panic_op: plugin panicked: the fixture panics in an operator".into(),
            notes: vec!["the plugin `panic_op` panicked; the host caught it and keeps running".into()],
            help: None
        }
    );
    assert_eq!(host.value("@panic_op.fine()").unwrap(), json!("still serving"));
    assert_eq!(
        message(&mut host, "@liar.declared()"),
        "@liar.declared: plugin `liar` does not match its manifest: the manifest declares operator \
         `@liar.also_declared`, which the library does not register; the library registers operator \
         `@liar.undeclared`, which the manifest does not declare"
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn an_incompatible_library_is_refused_before_a_runner_starts() {
    let mut host = sandboxed(&["my_plugin", "panic_op"], no_flags);
    let library = host.plugin_dir("my_plugin").join("libmy_plugin.so");
    std::fs::write(&library, with_abi_major(&support::library("my_plugin"), 2)).unwrap();
    let sdk = tusk_plugin_sdk::SDK_VERSION;
    let minor = tusk_plugin_abi::ABI_MINOR;
    assert_eq!(
        message(&mut host, "@my_operator(\"tusk\")"),
        format!(
            "@my_operator: {} is incompatible: its plugin ABI version is 2.{minor} (tusk-plugin-sdk {sdk}), this host \
             expects 1.x: rebuild the plugin against a tusk-plugin-sdk with ABI 1",
            library.canonicalize().unwrap().display()
        )
    );
    assert_eq!(host.value("@panic_op.fine()").unwrap(), json!("still serving"));
}

#[test]
fn a_sandboxed_plugin_is_reloaded_in_a_new_runner_and_the_old_runner_ends() {
    let mut host = sandboxed(&["swap"], no_flags);
    let library = host.plugin_dir("swap").join("libhostile_swap.so");
    replace_file(&library, &swap_build("ok", 1));
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    let first_runner = host.host.loaded()[0].sandboxed().and_then(|remote| remote.pid()).expect("a runner");
    // A build whose initialize fails (inside its sandbox) leaves the running one serving.
    replace_file(&library, &swap_build("fail", 2));
    assert_eq!(
        host.host.reload("swap").to_string(),
        "plugin `swap` was not reloaded: plugin `swap` failed to initialize: generation 2 refuses to start; \
         generation 1 keeps serving"
    );
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    replace_file(&library, &swap_build("ok", 3));
    assert_eq!(host.host.reload("swap").to_string(), "plugin `swap` reloaded: generation 2 serves");
    assert_eq!(host.value("@swap.version()").unwrap(), json!(3));
    let second_runner = host.host.loaded()[0].sandboxed().and_then(|remote| remote.pid()).expect("a runner");
    assert_ne!(first_runner, second_runner);
    assert!(!std::path::Path::new(&format!("/proc/{first_runner}")).exists(), "the replaced runner still runs");
    assert!(host.take_printed().contains(&"[swap] info: swap generation 1 shut down".to_string()));
}

/// Hostile: the `threads` fixture of `hostile.rs` in a runner. The runner refuses the calls of
/// the plugin's own threads as the in-process host does, and says so with the same error
/// instead of handing back `null`s.
#[test]
fn host_values_used_on_a_plugins_own_threads_fail_the_call_naming_the_plugin() {
    let refused = |operator: &str, refused: u64| {
        format!(
            "{operator}: plugin `threads` used host values or services on a thread other than the interpreter's \
             ({refused} times, refused); a plugin's own threads work on copies (`Value::to_owned_value`)"
        )
    };
    let mut host = sandboxed(&["threads", "my_plugin"], no_flags);
    assert_eq!(message(&mut host, "@threads.churn(200)"), refused("@threads.churn", 1600));
    assert_eq!(message(&mut host, "@threads.smuggle()"), refused("@threads.smuggle", 3));
    assert_eq!(host.value("@threads.later()").unwrap(), json!("started"));
    assert_eq!(message(&mut host, "@threads.join()"), refused("@threads.join", 20));
    assert_eq!(host.value("@threads.fine()").unwrap(), json!(1));
    assert_host_still_serves(&mut host);
    assert_eq!(host.host.shutdown_all(), Vec::<(String, String)>::new());
}
