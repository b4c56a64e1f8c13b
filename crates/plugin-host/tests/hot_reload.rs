//! Hot reload through the real host: a rebuilt library serves the next call, a build that
//! fails a check or its `initialize` leaves the running one serving, calls in flight finish on
//! the generation they started on, and the watcher applies changes before the next call.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{TestHost, replace_file, swap_build, with_abi_major};
use tusk_eval::Value;
use tusk_plugin_host::reload::{ReloadError, ReloadOutcome};

/// A host with the swap fixture installed at generation 1.
fn swap_host() -> TestHost {
    let host = TestHost::new(&["swap"], &[]);
    replace_file(&host.plugin_dir("swap").join("libhostile_swap.so"), &swap_build("ok", 1));
    host
}

fn swap_library(host: &TestHost) -> std::path::PathBuf {
    host.plugin_dir("swap").join("libhostile_swap.so")
}

#[test]
fn a_rebuilt_library_serves_the_next_call_and_the_old_one_shuts_down() {
    let mut host = swap_host();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    replace_file(&swap_library(&host), &swap_build("ok", 2));
    let reload = host.host.reload("swap");
    assert_eq!(reload.to_string(), "plugin `swap` reloaded: generation 2 serves");
    assert_eq!(host.value("@swap.version()").unwrap(), json!(2));
    assert_eq!(host.host.generation("swap"), Some(2));
    assert_eq!(host.take_printed(), vec!["[swap] info: swap generation 1 shut down"]);
    // The bytes that already run are not loaded again.
    let again = host.host.reload("swap");
    assert_eq!(again.to_string(), "plugin `swap` is unchanged: generation 2 serves");
}

#[test]
fn a_build_whose_initialize_fails_leaves_the_running_one_serving() {
    let mut host = swap_host();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    replace_file(&swap_library(&host), &swap_build("fail", 2));
    let reload = host.host.reload("swap");
    assert_eq!(
        reload.to_string(),
        "plugin `swap` was not reloaded: plugin `swap` failed to initialize: generation 2 refuses to start; \
         generation 1 keeps serving"
    );
    let diagnostic = reload.to_diagnostic().unwrap();
    assert_eq!(diagnostic.code, Some("X060"));
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    assert!(host.take_printed().is_empty(), "the running generation was not shut down");
    // A fixed build is picked up afterwards.
    replace_file(&swap_library(&host), &swap_build("ok", 3));
    assert!(host.host.reload("swap").is_swap());
    assert_eq!(host.value("@swap.version()").unwrap(), json!(3));
}

#[test]
fn an_incompatible_build_is_refused_naming_the_file_and_both_versions() {
    let mut host = swap_host();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    let library = swap_library(&host);
    let bytes = std::fs::read(&library).unwrap();
    std::fs::write(host.root.path().join("v1.so"), &bytes).unwrap();
    replace_file(&library, &with_abi_major(&host.root.path().join("v1.so"), 2));
    let reload = host.host.reload("swap");
    let path = library.canonicalize().unwrap();
    assert_eq!(
        reload.to_string(),
        format!(
            "plugin `swap` was not reloaded: {} is incompatible: its plugin ABI version is 2.{minor} \
             (tusk-plugin-sdk {sdk}), this host expects 1.x: rebuild the plugin against a tusk-plugin-sdk with ABI 1; \
             generation 1 keeps serving",
            path.display(),
            sdk = tusk_plugin_sdk::SDK_VERSION,
            minor = tusk_plugin_abi::ABI_MINOR
        )
    );
    assert!(matches!(reload.outcome, ReloadOutcome::Failed { error: ReloadError::Load(_), serving: Some(1) }));
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
}

/// Adds `@test.rebuild()`, which rebuilds the swap plugin as generation 2 and reloads it; called
/// back from inside `@swap.hold`, it reloads while generation 1 runs that call. The log it
/// returns gets the reload's outcome and what had been printed by then.
fn rebuild_operator(host: &mut TestHost) -> Rc<RefCell<Vec<String>>> {
    let plugin_host = host.host.clone();
    let library = swap_library(host);
    let printed = host.printed.clone();
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let seen = log.clone();
    host.operator("test.rebuild", move || {
        replace_file(&library, &swap_build("ok", 2));
        let reload = plugin_host.reload("swap");
        seen.borrow_mut().push(reload.to_string());
        seen.borrow_mut().extend(printed.borrow().iter().cloned());
        Value::Null
    });
    log
}

#[test]
fn a_call_in_flight_finishes_on_the_generation_it_started_on() {
    let mut host = swap_host();
    let log = rebuild_operator(&mut host);
    let document = host.eval("held: @swap.hold(() => @test.rebuild())\nafter: @swap.version()\n").unwrap();
    assert_eq!(document, json!({"held": 1, "after": 2}));
    // Generation 1 was still running the call when generation 2 took over, so its shutdown
    // waited for that call to return.
    assert_eq!(*log.borrow(), vec!["plugin `swap` reloaded: generation 2 serves"]);
    assert_eq!(host.take_printed(), vec!["[swap] info: swap generation 1 shut down"]);
}

#[test]
fn a_call_in_flight_through_a_symbols_thunk_finishes_before_its_generation_shuts_down() {
    let mut host = swap_host();
    let log = rebuild_operator(&mut host);
    // The first call loads the plugin and patches `@swap.hold`; the second goes through its
    // thunk, which holds no reference to generation 1: the reload inside it patches the
    // symbol again, and the shutdown of generation 1 waits for the held call to return.
    let document = host.eval("first: @swap.hold(() => 0)\nheld: @swap.hold(() => @test.rebuild())\n").unwrap();
    assert_eq!(document, json!({"first": 1, "held": 1}));
    assert_eq!(*log.borrow(), vec!["plugin `swap` reloaded: generation 2 serves"]);
    assert_eq!(host.take_printed(), vec!["[swap] info: swap generation 1 shut down"]);
    // The reloaded plugin is called through generation 2's thunk (its first call after the
    // patch already is), and keeps answering.
    for _ in 0..3 {
        assert_eq!(host.value("@swap.hold(() => 0)").unwrap(), json!(2));
        assert_eq!(host.value("@swap.version()").unwrap(), json!(2));
    }
    assert!(host.take_printed().is_empty());
}

#[test]
fn going_back_to_a_build_still_in_flight_loads_a_fresh_image() {
    let mut host = swap_host();
    let plugin_host = host.host.clone();
    let library = swap_library(&host);
    let copies: Rc<RefCell<Vec<String>>> = Rc::default();
    let seen = copies.clone();
    host.operator("test.back_and_forth", move || {
        for build in [swap_build("ok", 2), swap_build("ok", 1)] {
            replace_file(&library, &build);
            match plugin_host.reload("swap").outcome {
                ReloadOutcome::Swapped { library, .. } => {
                    seen.borrow_mut().push(library.file_name().unwrap().to_string_lossy().into_owned())
                }
                other => panic!("not swapped: {other:?}"),
            }
        }
        Value::Null
    });
    let document = host.eval("held: @swap.hold(() => @test.back_and_forth())\nafter: @swap.version()\n").unwrap();
    // Generation 3 has generation 1's bytes, but generation 1 was initialised (in flight), so
    // generation 3 runs from a second copy: its own image, untouched by generation 1's
    // shutdown when the held call returned.
    assert_eq!(document, json!({"held": 1, "after": 1}));
    let copies = copies.borrow();
    assert!(copies[1].ends_with("-2.so"), "{copies:?}");
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    assert_eq!(host.host.generation("swap"), Some(3));
}

#[test]
fn hot_reload_off_in_the_manifest_is_respected() {
    let mut host = swap_host();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    let manifest = host.plugin_dir("swap").join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("[plugin]\n", "[plugin]\nhot_reload = false\n");
    std::fs::write(&manifest, text).unwrap();
    replace_file(&swap_library(&host), &swap_build("ok", 2));
    let reload = host.host.reload("swap");
    assert_eq!(
        reload.to_string(),
        "plugin `swap` was not reloaded: its plugin.toml says `hot_reload = false`; generation 1 keeps serving"
    );
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
}

#[test]
fn plugins_not_loaded_yet_and_unknown_names_are_reported() {
    let host = swap_host();
    assert_eq!(
        host.host.reload("swap").to_string(),
        "plugin `swap` is not loaded yet: its first call loads the build on disk"
    );
    assert_eq!(host.host.reload("swop").to_string(), "plugin `swop` was not reloaded: no plugin `swop` is installed");
}

#[test]
fn the_watcher_applies_a_settled_change_before_the_next_call() {
    let mut host = swap_host();
    host.host.watch_plugins().unwrap();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    replace_file(&swap_library(&host), &swap_build("ok", 2));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host.host.has_pending_changes() {
        assert!(Instant::now() < deadline, "the watcher saw no change");
        std::thread::sleep(Duration::from_millis(5));
    }
    // No explicit poll: the call itself applies the change first.
    assert_eq!(host.value("@swap.version()").unwrap(), json!(2));
    assert_eq!(
        host.take_printed(),
        vec!["[swap] info: plugin `swap` reloaded: generation 2 serves", "[swap] info: swap generation 1 shut down"]
    );
    // A failing build is reported through the printer, and the call is served all the same.
    replace_file(&swap_library(&host), &swap_build("fail", 3));
    let update = host.host.wait_for_changes(Some(Duration::from_secs(10)));
    assert_eq!(update.reloads.len(), 1);
    assert_eq!(
        update.reloads[0].to_string(),
        "plugin `swap` was not reloaded: plugin `swap` failed to initialize: generation 3 refuses to start; \
         generation 2 keeps serving"
    );
    assert_eq!(host.value("@swap.version()").unwrap(), json!(2));
}

#[test]
fn a_watched_script_is_reported_as_changed() {
    let host = swap_host();
    let script = host.script_dir.join("main.tsk");
    std::fs::write(&script, "a: 1\n").unwrap();
    host.host.watch_file(&script).unwrap();
    std::fs::write(&script, "a: 2\n").unwrap();
    let update = host.host.wait_for_changes(Some(Duration::from_secs(10)));
    assert_eq!(update.files, vec![script.canonicalize().unwrap()]);
    assert!(update.reloads.is_empty());
}

#[test]
fn a_rebuilt_plugin_that_failed_to_load_is_picked_up_by_its_next_call() {
    let mut host = TestHost::new(&["swap"], &[]);
    let library = swap_library(&host);
    replace_file(&library, &swap_build("fail", 1));
    host.host.watch_plugins().unwrap();
    assert_eq!(
        host.value("@swap.version()").unwrap_err().message,
        "@swap.version: plugin `swap` failed to initialize: generation 1 refuses to start"
    );
    // Not loaded, so nothing to swap: the change is reported as a changed file (for
    // `tusk run --watch` to run the script again), and the next call loads the new build.
    replace_file(&library, &swap_build("ok", 2));
    let update = host.host.wait_for_changes(Some(Duration::from_secs(10)));
    assert_eq!(update.files, vec![library.canonicalize().unwrap()]);
    assert!(update.reloads.is_empty());
    assert_eq!(host.value("@swap.version()").unwrap(), json!(2));
}

#[test]
fn reloading_everything_reports_what_the_watcher_already_applied() {
    let mut host = swap_host();
    host.host.watch_plugins().unwrap();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    replace_file(&swap_library(&host), &swap_build("ok", 2));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host.host.has_pending_changes() {
        assert!(Instant::now() < deadline, "the watcher saw no change");
        std::thread::sleep(Duration::from_millis(5));
    }
    let reloads: Vec<String> = host.host.reload_all().iter().map(ToString::to_string).collect();
    assert_eq!(reloads, vec!["plugin `swap` reloaded: generation 2 serves"]);
    let again: Vec<String> = host.host.reload_all().iter().map(ToString::to_string).collect();
    assert_eq!(again, vec!["plugin `swap` is unchanged: generation 2 serves"]);
}

#[test]
fn the_new_build_is_initialised_with_the_configuration_of_the_running_one() {
    let mut host = swap_host();
    // The script's `[plugins.swap]` section configures the first load.
    let document = host.eval("[plugins.swap]\ngreeting: \"hi\"\n\n[result]\nconfig: @swap.config()\n").unwrap();
    assert_eq!(document["result"]["config"], json!(r#"{"greeting":"hi"}"#));
    replace_file(&swap_library(&host), &swap_build("ok", 2));
    assert!(host.host.reload("swap").is_swap());
    // Evaluated without the section: the configuration is the one the plugin was loaded with.
    assert_eq!(host.value("[@swap.version(), @swap.config()]").unwrap(), json!([2, r#"{"greeting":"hi"}"#]));
}

/// Rewrites the installed `plugin.toml` of the swap fixture.
fn edit_manifest(host: &TestHost, edit: impl FnOnce(String) -> String) {
    let manifest = host.plugin_dir("swap").join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, edit(text)).unwrap();
}

#[test]
fn a_build_that_does_not_match_its_new_manifest_is_refused() {
    let mut host = swap_host();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    edit_manifest(&host, |text| text.replace("\"swap.config\"]", "\"swap.config\", \"swap.missing\"]"));
    replace_file(&swap_library(&host), &swap_build("ok", 2));
    assert_eq!(
        host.host.reload("swap").to_string(),
        "plugin `swap` was not reloaded: plugin `swap` does not match its manifest: the manifest declares operator \
         `@swap.missing`, which the library does not register; generation 1 keeps serving"
    );
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
}

#[test]
fn a_new_manifest_that_asks_for_more_than_was_granted_is_refused() {
    let mut host = swap_host();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    edit_manifest(&host, |text| text + "\n[permissions]\nenv = [\"HOME\"]\n");
    replace_file(&swap_library(&host), &swap_build("ok", 2));
    assert_eq!(
        host.host.reload("swap").to_string(),
        "plugin `swap` was not reloaded: plugin `swap` needs access to the environment variables HOME; generation 1 keeps serving"
    );
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
}

#[test]
fn an_invalid_new_manifest_is_refused_with_its_diagnostics() {
    let mut host = swap_host();
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
    edit_manifest(&host, |text| text.replace("version = \"1.0.0\"", "version = \"1.0\""));
    let text = host.host.reload("swap").to_string();
    assert!(text.starts_with("plugin `swap` was not reloaded: its plugin.toml is invalid:\n"), "{text}");
    assert!(text.contains("X008"), "{text}");
    assert!(text.ends_with("; generation 1 keeps serving"), "{text}");
    assert_eq!(host.value("@swap.version()").unwrap(), json!(1));
}
