//! Hostile plugins in-process: each fixture misbehaves one way that the host can survive
//! in its own process (a panic, a lying manifest, an incompatible build, a dependency cycle,
//! a permission it was not granted, a reload to a build that fails). Each test asserts the
//! exact error and that a well-behaved plugin still serves afterwards.
//!
//! The fatal ones (segfault, abort, unbounded allocation, endless loop, raw file, network and
//! process access that bypass the host API) cannot be survived in-process; they run against
//! the sandboxed runner in `hostile_sandboxed.rs`.

mod support;

use serde_json::json;
use support::{Failure, TestHost, install, with_abi_major};

/// The template plugin answers: the host is still fine.
fn assert_host_still_serves(host: &mut TestHost) {
    assert_eq!(host.value("@my_operator(\"tusk\")").unwrap(), json!("Hello, tusk!"));
}

fn failure(message: &str, notes: &[&str], help: Option<&str>) -> Failure {
    Failure {
        message: message.to_string(),
        notes: notes.iter().map(|note| note.to_string()).collect(),
        help: help.map(str::to_string),
    }
}

#[test]
fn a_panic_in_initialize_refuses_the_plugin() {
    let mut host = TestHost::new(&["panic_init", "my_plugin"], &[]);
    assert_eq!(
        host.value("@panic_init()").unwrap_err(),
        failure(
            "@panic_init: plugin `panic_init` failed to initialize: plugin panicked: the fixture panics in initialize",
            &[],
            None
        )
    );
    assert_host_still_serves(&mut host);
    // Later calls get the same answer, not a half-initialised plugin.
    assert_eq!(
        host.value("@panic_init()").unwrap_err().message,
        "@panic_init: plugin `panic_init` failed to initialize: plugin panicked: the fixture panics in initialize"
    );
}

/// What a call of the `panic_op` fixture's panicking operator fails with.
fn operator_panic() -> Failure {
    failure(
        "@panic_op: plugin panicked: the fixture panics in an operator",
        &["the plugin `panic_op` panicked; the host caught it and keeps running"],
        None,
    )
}

#[test]
fn a_panic_in_an_operator_is_an_error_at_the_call() {
    let mut host = TestHost::new(&["panic_op", "my_plugin"], &[]);
    assert_eq!(host.value("@panic_op()").unwrap_err(), operator_panic());
    // The plugin itself keeps serving its other operators, and so does everything else.
    assert_eq!(host.value("@panic_op.fine()").unwrap(), json!("still serving"));
    assert_host_still_serves(&mut host);
}

#[test]
fn a_panic_through_a_loaded_symbols_thunk_is_an_error_at_the_call() {
    let mut host = TestHost::new(&["panic_op", "my_plugin"], &[]);
    // The first call loads the plugin and patches the symbol; the later ones take its thunk
    // (the interpreter calls the host's function for the symbol directly).
    for _ in 0..3 {
        assert_eq!(host.value("@panic_op()").unwrap_err(), operator_panic());
    }
    // The error points at the call, in a loop as well.
    let id = host.runtime.add_source("loop.tsk", "ok: 1\nvalue: map(range(0, 3), i => @panic_op())\n");
    let Err(failure) = host.runtime.evaluate(id, Some(host.script_dir.clone())) else { panic!("the call panics") };
    let error = failure.diagnostics.iter().find(|d| d.is_error()).expect("an error");
    let label = error.primary.as_ref().expect("a label at the call");
    let (line, column) = host.runtime.sources().get(label.location.source).line_col(label.location.span.start);
    assert_eq!((line, column), (2, 30), "{error:?}");
    assert_eq!(host.value("@panic_op.fine()").unwrap(), json!("still serving"));
    assert_eq!(host.value("@panic_op.fine()").unwrap(), json!("still serving"));
    assert_host_still_serves(&mut host);
}

#[test]
fn a_manifest_that_lies_about_the_operators_refuses_the_plugin() {
    let mut host = TestHost::new(&["liar", "my_plugin"], &[]);
    assert_eq!(
        host.value("@liar.declared()").unwrap_err(),
        failure(
            "@liar.declared: plugin `liar` does not match its manifest: the manifest declares operator `@liar.also_declared`, \
             which the library does not register; the library registers operator `@liar.undeclared`, which the \
             manifest does not declare",
            &[],
            None
        )
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn a_library_built_for_another_abi_is_refused_before_loading() {
    let mut host = TestHost::new(&["my_plugin", "panic_op"], &[]);
    // The template plugin's library with ABI major 2 in its info record; `panic_op` stays
    // well-behaved enough to show the host is fine.
    let library = host.plugin_dir("my_plugin").join("libmy_plugin.so");
    std::fs::write(&library, with_abi_major(&support::library("my_plugin"), 2)).unwrap();
    let path = library.canonicalize().unwrap();
    let sdk = tusk_plugin_sdk::SDK_VERSION;
    let minor = tusk_plugin_abi::ABI_MINOR;
    assert_eq!(
        host.value("@my_operator(\"tusk\")").unwrap_err(),
        failure(
            &format!(
                "@my_operator: {} is incompatible: its plugin ABI version is 2.{minor} (tusk-plugin-sdk {sdk}), this host expects \
                 1.x: rebuild the plugin against a tusk-plugin-sdk with ABI 1",
                path.display()
            ),
            &[],
            None
        )
    );
    // Nothing of it was copied to the cache, let alone loaded.
    assert!(!host.root.path().join("cache/my_plugin").exists());
    assert_eq!(host.value("@panic_op.fine()").unwrap(), json!("still serving"));
}

#[test]
fn plugins_that_depend_on_each_other_are_refused_with_the_cycle() {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    let script_dir = root.path().join("scripts");
    std::fs::create_dir_all(&script_dir).unwrap();
    install(&plugins, "my_plugin");
    for (name, other) in [("cycle_a", "cycle_b"), ("cycle_b", "cycle_a")] {
        let dir = plugins.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        // Never loaded: the cycle is found from the manifests alone.
        std::fs::write(dir.join(format!("lib{name}.so")), b"").unwrap();
        std::fs::write(
            dir.join("plugin.toml"),
            format!(
                "[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ndescription = \"d\"\nauthor = \"a\"\n\
                 license = \"MIT\"\nrepository = \"r\"\nlibrary = \"lib{name}.so\"\nabi = \"1.0\"\n\n\
                 [dependencies]\n{other} = \"^1\"\n\n[capabilities]\noperators = [\"{name}\"]\n"
            ),
        )
        .unwrap();
    }
    let mut host = TestHost::start(support::Mode::InProcess, root, plugins, script_dir, &[]);
    assert_eq!(
        host.value("@cycle_a()").unwrap_err(),
        failure("@cycle_a: dependency cycle: cycle_a -> cycle_b -> cycle_a", &[], None)
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn a_permission_the_manifest_declares_but_the_user_did_not_grant_refuses_the_plugin() {
    let mut host = TestHost::new(&["read_outside", "my_plugin"], &[]);
    let scripts = host.script_dir.display().to_string();
    let grants = host.root.path().join("grants.toml").display().to_string();
    assert_eq!(
        host.value("@read_outside.host(\"/etc/hostname\")").unwrap_err(),
        failure(
            &format!("@read_outside.host: plugin `read_outside` needs read access to {scripts}"),
            &[],
            Some(&format!(
                "run with --allow-read={scripts} or add `allow_read = [\"${{script_dir}}\"]` under [read_outside] in \
                 {grants}"
            ))
        )
    );
    assert_host_still_serves(&mut host);
}

/// A folder outside every grant, with a file in it.
fn outside_file() -> (tempfile::TempDir, String) {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().canonicalize().unwrap().join("secret.txt");
    std::fs::write(&secret, "not for plugins").unwrap();
    (outside, secret.display().to_string())
}

#[test]
fn reading_outside_the_grant_through_the_host_is_refused() {
    let (_outside, secret) = outside_file();
    let mut host = TestHost::granting(&["read_outside", "my_plugin"], |script_dir| {
        vec![format!("--allow-read={}", script_dir.display())]
    });
    // Inside its grant it reads; outside, the host refuses.
    let mine = host.script_dir.join("mine.txt");
    std::fs::write(&mine, "granted").unwrap();
    assert_eq!(host.value(&format!("@read_outside.host(\"{}\")", mine.display())).unwrap(), json!("granted"));
    assert_eq!(
        host.value(&format!("@read_outside.host(\"{secret}\")")).unwrap_err(),
        failure(
            &format!(
                "@read_outside.host: permission denied: plugin `read_outside` may not read {secret}; run with --allow-read={secret} to allow it"
            ),
            &[],
            None
        )
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn writing_outside_the_grant_through_the_host_is_refused() {
    let (_outside, secret) = outside_file();
    let mut host = TestHost::granting(&["write_outside", "my_plugin"], |script_dir| {
        vec![format!("--allow-read={}", script_dir.display()), format!("--allow-write={}", script_dir.display())]
    });
    let mine = host.script_dir.join("mine.txt");
    assert_eq!(host.value(&format!("@write_outside.host(\"{}\", \"ok\")", mine.display())).unwrap(), json!(true));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "ok");
    assert_eq!(
        host.value(&format!("@write_outside.host(\"{secret}\", \"overwritten\")")).unwrap_err(),
        failure(
            &format!(
                "@write_outside.host: permission denied: plugin `write_outside` may not write {secret}; run with --allow-write={secret} to allow it"
            ),
            &[],
            None
        )
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "not for plugins");
    assert_host_still_serves(&mut host);
}

#[test]
fn connecting_without_the_network_grant_through_the_host_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut host = TestHost::new(&["connect", "my_plugin"], &[]);
    assert_eq!(
        host.value(&format!("@connect.host({port})")).unwrap_err(),
        failure(
            &format!(
                "@connect.host: permission denied: plugin `connect` may not connect to 127.0.0.1:{port}; run with --allow-net=127.0.0.1:{port} to allow it"
            ),
            &[],
            None
        )
    );
    // The host refused before any connection was made.
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err());
    assert_host_still_serves(&mut host);
}

/// The error of a call after `refused` host-API calls from the `threads` fixture's own threads.
fn refused_on_other_threads(operator: &str, refused: u64) -> String {
    format!(
        "{operator}: plugin `threads` used host values or services on a thread other than the interpreter's \
         ({refused} times, refused); a plugin's own threads work on copies (`Value::to_owned_value`)"
    )
}

/// Hostile (trusted, in-process): a plugin that makes, clones and drops values on threads of
/// its own, and even retains and releases a live handle there through raw ABI words. The host
/// refuses each such call without touching its handle table (no panic, no corrupted count),
/// fails the call with an error naming the plugin instead of returning its result, and the
/// plugin, the host and their shutdown stay fine.
#[test]
fn host_values_used_on_a_plugins_own_threads_fail_the_call_naming_the_plugin() {
    let mut host = TestHost::new(&["threads", "my_plugin"], &[]);
    // Four threads, 200 rounds, a string and an array each: 1,600 refused calls.
    assert_eq!(
        host.value("@threads.churn(200)").unwrap_err().message,
        refused_on_other_threads("@threads.churn", 1600)
    );
    // One `retain` and two `release`s of a live handle.
    assert_eq!(host.value("@threads.smuggle()").unwrap_err().message, refused_on_other_threads("@threads.smuggle", 3));
    // A thread that outlives its call fails the call during which it used the host.
    assert_eq!(host.value("@threads.later()").unwrap(), json!("started"));
    assert_eq!(host.value("@threads.join()").unwrap_err().message, refused_on_other_threads("@threads.join", 20));
    assert_eq!(host.value("@threads.fine()").unwrap(), json!(1));
    assert_host_still_serves(&mut host);
    assert_eq!(host.host.shutdown_all(), Vec::<(String, String)>::new());
}

#[test]
fn appending_through_a_dangling_link_to_outside_the_grant_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().canonicalize().unwrap().join("created.txt");
    let mut host = TestHost::granting(&["escape", "my_plugin"], |script_dir| {
        vec![format!("--allow-read={}", script_dir.display()), format!("--allow-write={}", script_dir.display())]
    });
    std::os::unix::fs::symlink(&target, host.script_dir.join("link.txt")).unwrap();
    assert_eq!(
        host.value("escape_append(\"link.txt\", \"through the link\")").unwrap_err(),
        failure(
            &format!(
                "escape_append: permission denied: plugin `escape` may not write link.txt (which is {0}); run with \
                 --allow-write={0} to allow it",
                target.display()
            ),
            &[],
            None
        )
    );
    assert!(!target.exists(), "the link's target outside the grant was created");
    // Appending to a file in the grant works, and so does a link that stays inside.
    std::os::unix::fs::symlink(host.script_dir.join("log.txt"), host.script_dir.join("inward.txt")).unwrap();
    assert_eq!(host.value("escape_append(\"inward.txt\", \"a\")").unwrap(), json!(true));
    assert_eq!(host.value("escape_append(\"log.txt\", \"b\")").unwrap(), json!(true));
    assert_eq!(std::fs::read_to_string(host.script_dir.join("log.txt")).unwrap(), "ab");
    assert_host_still_serves(&mut host);
}

#[test]
fn a_grant_the_manifest_does_not_declare_is_not_used() {
    let (outside, secret) = outside_file();
    let outside = outside.path().canonicalize().unwrap();
    let mut host = TestHost::granting(&["read_outside", "my_plugin"], |script_dir| {
        vec![format!("--allow-read={},{}", script_dir.display(), outside.display())]
    });
    let mine = host.script_dir.join("mine.txt");
    std::fs::write(&mine, "granted").unwrap();
    assert_eq!(host.value(&format!("@read_outside.host(\"{}\")", mine.display())).unwrap(), json!("granted"));
    assert_eq!(
        host.value(&format!("@read_outside.host(\"{secret}\")")).unwrap_err(),
        failure(
            &format!(
                "@read_outside.host: permission denied: plugin `read_outside` may not read {secret}: its manifest \
                 does not declare it (under [permissions] in its plugin.toml), so the grant does not apply to it"
            ),
            &[],
            None
        )
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn a_lambda_kept_past_its_call_is_refused_as_in_the_sandbox() {
    let mut host = TestHost::new(&["keeper", "my_plugin"], &[]);
    // During the call that passed it, it can be called.
    assert_eq!(host.value("keeper_apply((x) => x * 2, 21)").unwrap(), json!(42));
    assert_eq!(host.value("keeper_keep(() => 42)").unwrap(), json!(true));
    assert_eq!(
        host.value("keeper_call()").unwrap_err(),
        failure(
            "keeper_call: plugin `keeper` used a script value that is only valid during the call that passed it",
            &[],
            None
        )
    );
    assert_host_still_serves(&mut host);
}

#[test]
fn a_failure_through_nested_calls_is_collapsed_and_names_the_plugin_once() {
    let mut host = TestHost::new(&["keeper", "my_plugin"], &[]);
    let script = "rec = (n) => n > 0 ? keeper_apply(rec, n - 1) : int(\"bottom\")\nx: rec(20)\n";
    assert_eq!(
        host.eval(script).unwrap_err(),
        failure(
            "keeper_apply: … 19 more calls of keeper_apply: int: \"bottom\" is not a number",
            &["in `rec`, called at test.tsk:2:4", "plugin `keeper` passed this on from a script function it called"],
            None
        )
    );
}
