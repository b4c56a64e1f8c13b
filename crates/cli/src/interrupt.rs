//! Ctrl-C during an evaluation: the first press raises the engine's interrupt flag, which the
//! evaluator checks every thousand or so operations (ending the run with `R019`
//! "interrupted") and plugins read through `host::is_cancelled()`; the command then prints no
//! result, drops the engine (which shuts the loaded plugins down, dependents first) and exits
//! with 130, or, in the REPL, returns to the prompt. A second press exits with 130 at once,
//! without shutting plugins down.
//!
//! The handler runs on the `ctrlc` crate's watcher thread and cannot shut plugins down itself:
//! the plugin host belongs to the interpreter's thread, hence the flag.
//!
//! Outside the REPL the handler (and the `ctrlc` crate's thread) is installed only when an
//! engine starts loading its first plugin; until then the first Ctrl-C exits at once, as it
//! does without plugins: there is nothing to clean up, so `tusk -e 1` keeps the default SIGINT
//! behaviour and pays nothing, however many plugins are installed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::output;

/// The handler's view of the current engine's plugins.
struct State {
    presses: AtomicUsize,
    current: Mutex<Option<Watched>>,
    /// The event loop running now (`tusk FILE` serving after its document): the first Ctrl-C or
    /// SIGTERM stops it gracefully.
    services: Mutex<Option<tusk::Services>>,
}

#[derive(Clone)]
struct Watched {
    /// The host's cancel flag (what `is_cancelled()` reads).
    cancel: Arc<AtomicBool>,
    /// Set once the host starts loading a plugin.
    started: Arc<AtomicBool>,
    /// The REPL: an evaluation is always stopped rather than the process ended.
    keep_running: bool,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Makes Ctrl-C cancel the plugins of the engine created last (`tusk check` makes one engine
/// per file, one after the other).
pub fn watch(cancel: Arc<AtomicBool>, started: Arc<AtomicBool>) {
    install(Watched { cancel, started, keep_running: false });
}

/// Makes Ctrl-C stop the REPL's current evaluation (its engine's interrupt flag), plugins or not.
pub fn watch_repl(cancel: Arc<AtomicBool>, started: Arc<AtomicBool>) {
    install(Watched { cancel, started, keep_running: true });
}

fn install(watched: Watched) {
    let state = STATE.get_or_init(|| {
        if let Some(problem) = install_handler() {
            output::write_stderr(&problem);
        }
        State { presses: AtomicUsize::new(0), current: Mutex::new(None), services: Mutex::new(None) }
    });
    if let Ok(mut current) = state.current.lock() {
        *current = Some(watched);
    }
}

/// Installs the handler; says what it means when that fails. Without the handler Ctrl-C keeps
/// its default (the process ends at once, and loaded plugins are not shut down), which is worth
/// a word.
fn install_handler() -> Option<String> {
    ctrlc::set_handler(on_interrupt).err().map(|error| {
        format!("tusk: Ctrl-C cannot be caught ({error}); it will end tusk at once, without shutting plugins down\n")
    })
}

fn on_interrupt() {
    let Some(state) = STATE.get() else { std::process::exit(130) };
    let presses = state.presses.fetch_add(1, Ordering::SeqCst) + 1;
    let services = state.services.lock().ok().and_then(|services| services.clone());
    if let Some(services) = services {
        if presses == 1 {
            // Said before the stop: once stopped, the main thread may end the process.
            output::write_stderr(&format!(
                "\nstopping: running handlers get {}s to finish (press Ctrl-C again to quit at once)\n",
                services.grace().as_secs_f64()
            ));
            services.stop();
            return;
        }
        std::process::exit(130);
    }
    let current = state.current.lock().ok().and_then(|current| current.clone());
    match current {
        Some(watched) if presses == 1 && (watched.keep_running || watched.started.load(Ordering::SeqCst)) => {
            watched.cancel.store(true, Ordering::SeqCst);
            if watched.started.load(Ordering::SeqCst) {
                output::write_stderr(
                    "\ninterrupted: stopping plugins (press Ctrl-C again to quit without shutting them down)\n",
                );
            }
        }
        // The process exits from this thread while the interpreter may be running: the
        // second press is the user saying "now", and with nothing loaded there is nothing to
        // clean up.
        _ => std::process::exit(130),
    }
}

/// Makes Ctrl-C and SIGTERM stop `services` gracefully while they run (until
/// [`unwatch_services`]).
pub fn watch_services(services: tusk::Services) {
    let state = STATE.get_or_init(|| {
        if let Some(problem) = install_handler() {
            output::write_stderr(&problem);
        }
        State { presses: AtomicUsize::new(0), current: Mutex::new(None), services: Mutex::new(None) }
    });
    if let Ok(mut current) = state.services.lock() {
        *current = Some(services);
    }
}

/// The event loop has ended: Ctrl-C goes back to what it did before it ran; a stop it asked
/// for is not an interruption of the command.
pub fn unwatch_services() {
    if let Some(state) = STATE.get() {
        if let Ok(mut current) = state.services.lock() {
            *current = None;
        }
        state.presses.store(0, Ordering::SeqCst);
    }
}

/// True once Ctrl-C was pressed (and not yet [`reset`]): the command should stop, print no
/// result and exit with 130.
pub fn interrupted() -> bool {
    STATE.get().is_some_and(|state| state.presses.load(Ordering::SeqCst) > 0)
}

/// Forgets a Ctrl-C that has been dealt with (the REPL goes on with the next entry).
pub fn reset() {
    if let Some(state) = STATE.get() {
        state.presses.store(0, Ordering::SeqCst);
        if let Ok(current) = state.current.lock()
            && let Some(watched) = current.as_ref()
        {
            watched.cancel.store(false, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_that_cannot_be_installed_is_reported() {
        // Another handler first: the process can have only one.
        ctrlc::set_handler(|| {}).expect("the first handler installs");
        let problem = install_handler().expect("the second handler is refused");
        assert!(problem.starts_with("tusk: Ctrl-C cannot be caught ("), "{problem}");
        assert!(problem.ends_with("it will end tusk at once, without shutting plugins down\n"), "{problem}");
    }
}
