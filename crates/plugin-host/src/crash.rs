//! A last word when an in-process plugin takes the process down. A trusted plugin runs in the
//! interpreter's process, so a segmentation fault or an abort in it ends tusk, and without a
//! word the user cannot tell which plugin it was. Before each in-process call (and `init` and
//! `shutdown`), the host points [`CURRENT`] at a note written for that symbol beforehand; a
//! handler for the fatal signals writes that line and the signal to standard error, with
//! nothing but async-signal-safe calls, and then lets the signal's previous disposition (the
//! default action, or the Rust runtime's stack-overflow report) take its course.
//!
//! The only `unsafe` module of the host besides `ffi`: signal handlers and raw writes.
#![allow(unsafe_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The fatal signals a crashing plugin raises, and their names for the line.
const SIGNALS: [(Signal, &str); 5] = [
    (Signal::SIGSEGV, "signal 11, SIGSEGV)\n"),
    (Signal::SIGBUS, "signal 7, SIGBUS)\n"),
    (Signal::SIGILL, "signal 4, SIGILL)\n"),
    (Signal::SIGABRT, "signal 6, SIGABRT)\n"),
    (Signal::SIGFPE, "signal 8, SIGFPE)\n"),
];

/// The note of the plugin code running now (leaked), or null.
static CURRENT: AtomicPtr<CrashNote> = AtomicPtr::new(std::ptr::null_mut());
/// What each of [`SIGNALS`] did before the handler was installed.
static PREVIOUS: OnceLock<[SigAction; 5]> = OnceLock::new();

/// What a crash while one plugin symbol runs says: `tusk: plugin NAME crashed in WHAT (` (the
/// signal follows). Made once per symbol; the line lives as long as the process, and so does
/// the note where it is marked (a symbol's is the first field of its leaked `FastSymbol`, whose
/// address the call has at hand, so that marking a call loads nothing).
pub(crate) struct CrashNote(&'static [u8]);

impl CrashNote {
    /// `what` is the call (`@op`, `f`) or the phase (`initialize`, `shutdown`). Installs the
    /// handler the first time, so that marking a call (on every plugin call) has nothing to check.
    pub(crate) fn new(plugin: &str, what: &str) -> CrashNote {
        install();
        let line = format!("tusk: plugin `{plugin}` crashed in {what} (");
        CrashNote(Box::leak(line.into_bytes().into_boxed_slice()))
    }

    /// [`CrashNote::new`], leaked for [`running`] (for the phases, which have no symbol).
    pub(crate) fn leak(plugin: &str, what: &str) -> &'static CrashNote {
        Box::leak(Box::new(CrashNote::new(plugin, what)))
    }
}

/// Marks `note` as the plugin code running from now until the returned guard drops (which
/// restores the previous mark: calls nest through script functions). The handler was
/// installed when the note was made.
#[inline(always)]
pub(crate) fn running(note: &'static CrashNote) -> Running {
    // Only the interpreter's thread marks and unmarks (the signal handler only reads), so a
    // load and a store do what an atomic swap would, without its locked instruction on every
    // plugin call.
    let previous = CURRENT.load(Ordering::Relaxed);
    CURRENT.store(std::ptr::from_ref(note).cast_mut(), Ordering::Release);
    Running(previous)
}

/// Restores the previous mark when dropped.
pub(crate) struct Running(*mut CrashNote);

impl Drop for Running {
    // Not `#[inline(always)]`, though it must be inlined into every call (the compiler does:
    // one store): a trait method marked inline is exported for other crates' drop glue, and
    // with it `CURRENT`, which every use in this crate then reaches through the offset table
    // (a load and a register held across the plugin's call) instead of at its own address.
    fn drop(&mut self) {
        CURRENT.store(self.0, Ordering::Release);
    }
}

fn install() {
    PREVIOUS.get_or_init(|| {
        // On the alternate stack when there is one (the Rust runtime sets one up to report
        // stack overflows, which then still happens: the previous handler runs after ours).
        let flags = SaFlags::SA_ONSTACK | SaFlags::SA_SIGINFO;
        let action = SigAction::new(SigHandler::SigAction(on_fatal_signal), flags, SigSet::empty());
        SIGNALS.map(|(signal, _)| {
            // SAFETY: the handler only makes async-signal-safe calls (see `on_fatal_signal`).
            unsafe { nix::sys::signal::sigaction(signal, &action) }
                .unwrap_or_else(|_| SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty()))
        })
    });
}

extern "C" fn on_fatal_signal(number: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    let note = CURRENT.load(Ordering::Acquire);
    let index = SIGNALS.iter().position(|(signal, _)| *signal as libc::c_int == number);
    if !note.is_null() {
        // SAFETY: `note` points at a leaked note, never written after it was made, and so does
        // its line; reading them is a plain load, and `write` is async-signal-safe.
        unsafe {
            let line = (*note).0;
            let _ = libc::write(2, line.as_ptr().cast(), line.len());
            let suffix = index.map_or(")\n", |index| SIGNALS[index].1);
            let _ = libc::write(2, suffix.as_ptr().cast(), suffix.len());
        }
    }
    // Back to what the signal did before. A fault happens again when the faulting instruction
    // runs again on return, and then ends the process as it would have (or reaches the
    // runtime's stack-overflow report, with the real fault address); a signal that was sent
    // (`abort`, `kill`: a code of zero or below) is sent again.
    if let (Some(previous), Some(index)) = (PREVIOUS.get(), index) {
        // SAFETY: `sigaction` and `raise` are async-signal-safe; the action is the one the
        // process had; `info` is the kernel's for this signal.
        unsafe {
            let _ = nix::sys::signal::sigaction(SIGNALS[index].0, &previous[index]);
            if info.is_null() || (*info).si_code <= 0 {
                libc::raise(number);
            }
        }
    }
}
