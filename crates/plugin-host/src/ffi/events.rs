//! The host API of long-lived plugins (ABI 1.2), in-process: retained functions, `post` and
//! services. Part of the `ffi` module (its `unsafe` is the ABI's).
//!
//! `retain_function` runs on the interpreter's thread during a call, like the rest of the
//! table. The others may be called from any of the plugin's threads: they touch only the
//! context's `events` field (set before the plugin's `init`, never written again, `Send +
//! Sync`) and never the single-threaded handle table; their error texts are static.

use std::ffi::c_void;

use tusk_eval::CallContext;
use tusk_plugin_abi::{ErrorOut, PostDone, StrRef, TValue, error_kind, status, tag};

use super::{HostContext, context, guarded, is_stale, peek, refuse, text_of, value_at, write_out};
use crate::events::{PluginEvents, PostError};

const NO_LOOP: &str = "this host runs no event loop: retained functions, posts and services need one \
                       (the tusk command and `Engine` have one)";

/// The context's event loop from any thread.
fn events_of<'a>(pointer: *mut c_void) -> Option<&'a PluginEvents> {
    let host = pointer.cast::<HostContext>().cast_const();
    if host.is_null() {
        return None;
    }
    // SAFETY: `pointer` is the `context` of the table this function belongs to, a leaked
    // `HostContext`. Only its `events` field is read: written once before the plugin's `init`
    // (which happens-before the plugin could start a thread that calls here) and never again,
    // and `PluginEvents` is `Sync`.
    unsafe { (*host).events.as_ref() }
}

/// Writes an error with static text (callable from any thread).
fn static_error(out: *mut ErrorOut, kind: u32, message: &'static str) -> u32 {
    write_out(out, ErrorOut { kind, argument: -1, message: StrRef::new(message), help: StrRef::EMPTY });
    status::ERROR
}

pub(super) unsafe extern "C" fn host_retain_function(
    ctx: *mut c_void,
    call: *mut c_void,
    function: *const TValue,
    out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(host) = context(ctx) else { return refuse(error) };
        let Some(events) = host.events.as_ref() else { return static_error(error, error_kind::MESSAGE, NO_LOOP) };
        if call.is_null() {
            host.error(
                error,
                error_kind::MESSAGE,
                "functions can only be retained during a call into the plugin".into(),
            );
            return status::ERROR;
        }
        let Some(raw) = value_at(function) else { return status::INVALID };
        if raw.tag != tag::FUNCTION {
            host.error(error, error_kind::MESSAGE, "only a function value can be retained".into());
            return status::INVALID;
        }
        if is_stale(host, raw) {
            host.error(error, error_kind::SCRIPT, crate::sandboxed::kept_past_its_call(&host.plugin));
            return status::ERROR;
        }
        // SAFETY: `call` is the `CallContext` of the plugin call in progress on this thread (the
        // thread that owns the context, checked above).
        let call_context = unsafe { &mut *call.cast::<CallContext<'_, '_>>() };
        let value = peek(host, raw);
        let site = call_context.call_site();
        let id = call_context.runtime().events().retain(&events.plugin, value, site);
        write_out(out, id);
        status::OK
    })
}

pub(super) unsafe extern "C" fn host_release_function(ctx: *mut c_void, function: u64) {
    guarded((), || {
        if let Some(events) = events_of(ctx) {
            events.sender.release(&events.plugin, function);
        }
    })
}

/// The plugin's opaque `done` argument, handed back to it on whichever thread replies.
struct Token(*mut c_void);

// SAFETY: the token is the plugin's own, opaque to the host; the ABI lets `done` run on any
// thread, so the plugin made it sendable (the SDK's is a boxed `Send` closure).
unsafe impl Send for Token {}

pub(super) unsafe extern "C" fn host_post(
    ctx: *mut c_void,
    function: u64,
    args_json: StrRef,
    done: PostDone,
    token: *mut c_void,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(events) = events_of(ctx) else { return static_error(error, error_kind::MESSAGE, NO_LOOP) };
        let token = Token(token);
        let reply = Box::new(move |result: Result<String, PostError>| {
            let token = token;
            deliver(done, token.0, result);
        });
        match events.post(function, text_of(args_json), reply) {
            Ok(()) => status::OK,
            Err(_unused) => static_error(error, error_kind::MESSAGE, tusk_eval::events::SHUTTING_DOWN),
        }
    })
}

/// Calls the plugin's `done` with a posted call's outcome.
fn deliver(done: PostDone, token: *mut c_void, result: Result<String, PostError>) {
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
    // The SDK's `done` catches its own panics; a plugin without the SDK that unwinds into us
    // loses its reply, not the host.
    drop(outcome);
}

pub(super) unsafe extern "C" fn host_start_service(
    ctx: *mut c_void,
    name: StrRef,
    out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    guarded(status::PANIC, || {
        let Some(events) = events_of(ctx) else { return static_error(error, error_kind::MESSAGE, NO_LOOP) };
        match events.sender.start_service(&events.plugin, &text_of(name)) {
            Ok(id) => {
                write_out(out, id);
                status::OK
            }
            Err(_) => static_error(error, error_kind::MESSAGE, tusk_eval::events::SHUTTING_DOWN),
        }
    })
}

pub(super) unsafe extern "C" fn host_end_service(ctx: *mut c_void, service: u64) {
    guarded((), || {
        if let Some(events) = events_of(ctx) {
            events.sender.end_service(service);
        }
    })
}
