//! `tusk run FILE` (and plain `tusk FILE`): evaluate a script, print its document, then serve
//! its timers and plugin services until none is left (or Ctrl-C / SIGTERM stops them);
//! `tusk run --watch FILE` does the first two again whenever the script or a plugin library
//! changes.
//!
//! Warnings (a key defined twice, a bare word read as a string) are printed on standard error
//! before the document, unless `--quiet`; `--deny-warnings` makes them errors. Plugin discovery
//! problems are not printed, unless the script fails on an operator nobody provides.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tusk::Engine;

use crate::cli::{Input, OutputArgs};
use crate::commands::{Context, Status, evaluate, plugin, print_value, script_dir};
use crate::{interrupt, output};

/// Runs the command.
pub fn run(context: &Context, input: &Input, output_args: &OutputArgs) -> anyhow::Result<Status> {
    plugin::start_auto_update_if_due(&script_dir(input));
    let mut engine = match context.engine(&script_dir(input)) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let (status, document) = run_once(context, &mut engine, input, output_args)?;
    // The process ends soon: its memory goes back to the system whole, which is much faster
    // than freeing a big document value by value (a tenth of the time of a large config).
    std::mem::forget(document);
    if status != Status::Success {
        return Ok(status);
    }
    Ok(serve(context, &mut engine))
}

/// One run: evaluate, then print the document or the errors. The document comes back for the
/// caller to drop or not.
fn run_once(
    context: &Context,
    engine: &mut Engine,
    input: &Input,
    output_args: &OutputArgs,
) -> anyhow::Result<(Status, Option<tusk::Document>)> {
    let result = evaluate(engine, input);
    if interrupt::interrupted() {
        return Ok((Status::Interrupted, None));
    }
    let document = match result {
        Ok(document) => document,
        Err(error) => return Ok((context.report(engine, &error), None)),
    };
    if context.report_warnings(engine, document.warnings()) {
        return Ok((Status::ScriptError, Some(document)));
    }
    let status = print_value(document.value(), output_args, false)?;
    Ok((status, Some(document)))
}

/// After the document: runs the event loop while the script's timers or a plugin's services
/// are active (at once done when there are none). Ctrl-C and SIGTERM stop it gracefully; the
/// command then ends with 0 and the engine's drop shuts the plugins down.
fn serve(context: &Context, engine: &mut Engine) -> Status {
    let color = context.stderr_color;
    engine.on_handler_error(color, output::write_stderr);
    // Services a plugin's thread starts later need the handler too once a plugin is loaded.
    let plugins_loaded = engine.plugins().is_some_and(|host| host.load_started().load(Ordering::SeqCst));
    if engine.has_services() || plugins_loaded {
        interrupt::watch_services(engine.services());
    }
    engine.run_services();
    interrupt::unwatch_services();
    Status::Success
}

/// `tusk run --watch FILE`: runs the script, then waits until the script or a plugin library
/// changes and runs it again, with the same engine. Timers and plugin services are not served
/// in this mode (each run would wait for them instead of for the next change). A changed plugin that is loaded is
/// reloaded in place first (the new build checked, initialised and swapped in); a build that
/// fails is reported and the running one keeps serving, so nothing is run again for it. Ends
/// with Ctrl-C.
pub fn watch(context: &Context, input: &Input, output_args: &OutputArgs) -> anyhow::Result<Status> {
    let Input::Path(path) = input else {
        output::write_stderr("Error: `--watch` needs a file, not standard input\n");
        return Ok(Status::UsageOrIo);
    };
    let mut engine = match context.engine(&script_dir(input)) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    if let Err(error) = engine.watch_plugins().and_then(|()| engine.watch_file(path)) {
        output::write_stderr(&format!("Error: {error}\n"));
        return Ok(Status::UsageOrIo);
    }
    // After the watch started: an update it applies is picked up by hot reload.
    plugin::start_auto_update_if_due(&script_dir(input));
    loop {
        run_once(context, &mut engine, input, output_args)?;
        if interrupt::interrupted() {
            return Ok(Status::Interrupted);
        }
        output::write_stderr(&format!("[watching {} and the plugin libraries; Ctrl-C stops]\n", path.display()));
        loop {
            // A bounded wait, so that a Ctrl-C (which only sets a flag once plugins are loaded)
            // ends the loop promptly.
            let update = engine.wait_for_changes(Some(Duration::from_millis(250)));
            if interrupt::interrupted() {
                return Ok(Status::Interrupted);
            }
            let mut run_again = !update.files.is_empty();
            for reload in &update.reloads {
                match reload.to_diagnostic() {
                    Some(diagnostic) => context.report_diagnostics(&engine, &[diagnostic]),
                    None => {
                        output::write_stderr(&format!("{reload}\n"));
                        run_again = true;
                    }
                }
            }
            if run_again {
                break;
            }
        }
    }
}
