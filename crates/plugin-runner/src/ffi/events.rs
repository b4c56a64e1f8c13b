//! The host API of long-lived plugins (ABI 1.2) in the runner.

use std::ffi::c_void;

use tusk_plugin_abi::{ErrorOut, PostDone, StrRef, TValue, error_kind, status};

const NOT_YET: &str = "long-lived plugins are not available in the sandbox yet";

fn static_error(out: *mut ErrorOut, message: &'static str) -> u32 {
    if !out.is_null() {
        let record = ErrorOut { kind: error_kind::MESSAGE, argument: -1, message: StrRef::new(message), help: StrRef::EMPTY };
        // SAFETY: the plugin passes a valid, writable error record (checked non-null).
        unsafe { out.write(record) };
    }
    status::ERROR
}

pub(super) unsafe extern "C" fn host_retain_function(
    _ctx: *mut c_void,
    _call: *mut c_void,
    _function: *const TValue,
    _out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    static_error(error, NOT_YET)
}

pub(super) unsafe extern "C" fn host_release_function(_ctx: *mut c_void, _function: u64) {}

pub(super) unsafe extern "C" fn host_post(
    _ctx: *mut c_void,
    _function: u64,
    _args_json: StrRef,
    _done: PostDone,
    _token: *mut c_void,
    error: *mut ErrorOut,
) -> u32 {
    static_error(error, NOT_YET)
}

pub(super) unsafe extern "C" fn host_start_service(
    _ctx: *mut c_void,
    _name: StrRef,
    _out: *mut u64,
    error: *mut ErrorOut,
) -> u32 {
    static_error(error, NOT_YET)
}

pub(super) unsafe extern "C" fn host_end_service(_ctx: *mut c_void, _service: u64) {}
