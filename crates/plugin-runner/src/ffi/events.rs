//! The host API of long-lived plugins (ABI 1.2) in the runner, over the event channel
//! (`crate::events`); retaining a function is a request on the main channel, since it
//! belongs to the call in progress. Part of the `ffi` module (its `unsafe` is the ABI's).
//!
//! Only `retain_function` uses the session (on its thread); the others run on any of the
//! plugin's threads and touch nothing but the event channel.

use std::ffi::c_void;

use tusk_plugin_abi::{ErrorOut, PostDone, StrRef, TValue, error_kind, status};
use tusk_plugin_wire::{PostFailure, Request};

use super::{guarded, peek, refuse, report, session, text_of};
use crate::local::Local;

/// Writes an error whose text lives as long as the thread's buffer (texts made on another
/// thread than the session's cannot use the session's buffer).
fn thread_error(out: *mut ErrorOut, message: String) -> u32 {
    thread_local! {
        static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    if out.is_null() {
        return status::ERROR;
    }
    TEXT.with(|text| {
        let mut text = text.borrow_mut();
        *text = message;
        let record =
            ErrorOut { kind: error_kind::MESSAGE, argument: -1, message: StrRef::new(&text), help: StrRef::EMPTY };
        // SAFETY: the plugin passes a valid, writable error record (checked non-null); the text
        // stays in this thread's buffer until its next error, as the ABI allows.
        unsafe { out.write(record) };
    });
    status::ERROR
}

fn write_id(out: *mut u64, id: u64) {
    if !out.is_null() {
        // SAFETY: a non-null out-pointer from the plugin is valid and writable.
        unsafe { out.write(id) };
    }
}

pub(super) unsafe extern "C" fn host_retain_function(
    ctx: *mut c_void,
    call: *mut c_void,
    function: *const TValue,
    out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(session) = session(ctx) else { return refuse(error) };
        if call.is_null() {
            report(
                session,
                error,
                error_kind::MESSAGE,
                "functions can only be retained during a call into the plugin".into(),
            );
            return status::ERROR;
        }
        // SAFETY: the plugin passes a valid value (or null).
        let function = unsafe { function.as_ref() }.map(|raw| peek(session, raw)).unwrap_or_default();
        let Local::Function(function_id) = function else {
            report(session, error, error_kind::MESSAGE, "only a script function can be retained".into());
            return status::INVALID;
        };
        match session.request(Request::Retain(function_id)) {
            Ok(Some(id)) => match id.parse::<u64>() {
                Ok(id) => {
                    write_id(out, id);
                    status::OK
                }
                Err(_) => {
                    report(session, error, error_kind::MESSAGE, format!("the host answered {id:?} to a retain"));
                    status::ERROR
                }
            },
            Ok(None) => {
                report(session, error, error_kind::MESSAGE, "the host retained nothing".into());
                status::ERROR
            }
            Err(message) => {
                report(session, error, error_kind::SCRIPT, message);
                status::ERROR
            }
        }
    })
}

pub(super) unsafe extern "C" fn host_release_function(_ctx: *mut c_void, function: u64) {
    guarded((), || crate::events::release(function))
}

/// The plugin's opaque `done` argument, handed back on the event thread.
struct Token(*mut c_void);

// SAFETY: the token is the plugin's own, opaque here; the ABI lets `done` run on any thread.
unsafe impl Send for Token {}

pub(super) unsafe extern "C" fn host_post(
    _ctx: *mut c_void,
    function: u64,
    args_json: StrRef,
    done: PostDone,
    token: *mut c_void,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let token = Token(token);
        let reply = Box::new(move |result: Result<String, PostFailure>| {
            let token = token;
            deliver(done, token.0, result);
        });
        match crate::events::post(function, text_of(args_json), reply) {
            Ok(()) => status::OK,
            Err(message) => thread_error(error, message),
        }
    })
}

/// Calls the plugin's `done` with a posted call's outcome.
fn deliver(done: PostDone, token: *mut c_void, result: Result<String, PostFailure>) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &result {
        // SAFETY: `done` and `token` came together from the plugin's `post`; the texts live
        // for the call.
        Ok(json) => unsafe { done(token, status::OK, StrRef::new(json), std::ptr::null()) },
        Err(failure) => {
            let kind = if failure.script { error_kind::SCRIPT } else { error_kind::MESSAGE };
            let record = ErrorOut { kind, argument: -1, message: StrRef::new(&failure.message), help: StrRef::EMPTY };
            // SAFETY: as above.
            unsafe { done(token, status::ERROR, StrRef::EMPTY, &record) }
        }
    }));
    drop(outcome);
}

pub(super) unsafe extern "C" fn host_start_service(
    _ctx: *mut c_void,
    name: StrRef,
    out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || match crate::events::start_service(&text_of(name)) {
        Ok(id) => {
            write_id(out, id);
            status::OK
        }
        Err(message) => thread_error(error, message),
    })
}

pub(super) unsafe extern "C" fn host_end_service(_ctx: *mut c_void, service: u64) {
    guarded((), || crate::events::end_service(service))
}
