//! The TuskLang evaluator: runtime values, the compiler from AST to slot-resolved IR, the
//! tree-walking interpreter, the operator registry and the built-in `core` and `std` plugins.
//!
//! This crate loads no libraries and prints nothing: plugins reach it through the
//! [`Plugin`] trait, output leaves through the print hook and through diagnostics.

mod cache_store;
mod compile;
mod context;
pub(crate) mod core;
mod de;
mod error;
pub mod events;
mod function;
mod interp;
mod ir;
pub mod isolate;
mod module;
mod object;
mod options;
mod output;
pub mod path;
mod registry;
mod runtime;
mod stdlib;
mod value;

// Re-exports are the crate's API (semver-relevant).
pub use crate::cache_store::CacheStore;
pub use crate::context::{
    CallContext, arg_bytes, arg_function, arg_int, arg_number, arg_object, arg_str, expect_arity,
};
pub use crate::core::Core;
pub use crate::core::json::{from_json, from_json_text};
pub use crate::de::{DeError, from_value};
pub use crate::error::{RuntimeError, RuntimeErrorKind, TraceFrame};
pub use crate::function::{Function, NativeFn, NativeFunction};
pub use crate::module::Module;
pub use crate::object::Object;
pub use crate::options::{Limits, Mode, Options};
pub use crate::output::{base64_text, bytes_display, format_float, to_display, write_json};
pub use crate::registry::{
    DeferredSymbols, DirectCall, Implementation, LazyLoader, Plugin, Registrar, Registry, RegistryError, Symbol,
    SymbolDoc, SymbolKind, SymbolSpec, Thunk, ThunkFn,
};
pub use crate::runtime::{Compiled, Evaluation, Failure, LineOutcome, Printer, Runtime, Session};
pub use crate::stdlib::Std;
pub use crate::value::{Bytes, Foreign, Key, Text, Value};

#[cfg(test)]
mod tests;
