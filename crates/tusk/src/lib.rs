//! Embed TuskLang in a Rust program: evaluate configuration files and scripts into documents,
//! compile a script once and run it many times with values from the host, register Rust
//! functions and `@operators`, set limits, and deserialize the result into your own types.
//!
//! ```
//! use serde::Deserialize;
//! use tusk::{DeserializeValue, Engine, Scope, Value};
//!
//! #[derive(Deserialize)]
//! struct Server {
//!     host: String,
//!     port: u16,
//!     workers: u32,
//! }
//!
//! let mut engine = Engine::new();
//! // A typed Rust closure becomes the function `double(x)`: arguments and result convert.
//! engine.register_fn("double", |x: i64| x * 2)?;
//! // An untyped one becomes the operator `@cores()`.
//! engine.register_operator("cores", |_ctx, _args| Ok(Value::Int(4)))?;
//! // Every script this engine runs sees `$region`.
//! engine.set_global("region", "eu-west-1");
//!
//! // Compile once: the program reads `$base_port`, which each run supplies.
//! let program = engine.compile(
//!     "[server]\nhost: \"${$region}.example.com\"\nport: $base_port + 80\nworkers: double(@cores())\n",
//! )?;
//! assert_eq!(program.globals().collect::<Vec<_>>(), ["region", "base_port"]);
//! for base_port in [8000, 9000] {
//!     let mut scope = Scope::new();
//!     scope.set("base_port", base_port);
//!     let document = engine.run_with_scope(&program, &scope)?;
//!     let server: Server = document.get("server").expect("a server section").deserialize()?;
//!     assert_eq!((server.host.as_str(), server.port, server.workers), ("eu-west-1.example.com", base_port + 80, 8));
//! }
//!
//! // Errors carry their location and render like the CLI's; a typed function's errors name
//! // the function, the argument and the types.
//! let error = engine.eval_str("port: double(\"80\")\n").unwrap_err();
//! assert_eq!(error.to_string(), "double: argument 1 must be an integer, not string");
//! assert!(engine.render(&error, false).contains("<string>:1:14"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod analysis;
pub mod convert;
mod document;
pub mod edit;
mod engine;
pub mod format;
mod program;
mod typed;

/// Dynamic plugins: the settings of [`Engine::enable_plugins`], what the user grants, and hot
/// reload (with the default `plugins` feature).
///
/// Plugin tooling (reading manifests, checking libraries without loading them) is not here:
/// `tusk-plugin-catalog` and `tusk-plugin-host` serve it directly.
#[cfg(feature = "plugins")]
pub mod plugins {
    pub use tusk_plugin_catalog::{GrantSet, Grants, HostVersions, Origin, SearchPath, SearchRoot};
    pub use tusk_plugin_host::reload::{Reload, ReloadError, ReloadOutcome, Update, WatchError};
    pub use tusk_plugin_host::{HostSettings, PluginHost, SandboxSettings, current_versions};
}

/// Paths into documents (`server.port`, `hosts[0]`, `a."b.c"`): the syntax of `tusk get`,
/// the flat format and [`Document::get`].
pub mod path {
    pub use tusk_eval::path::{LookupError, Path, PathError, Segment, display_key};
}

/// The lexer's view of source text, for syntax highlighting and completion.
pub mod syntax {
    pub use tusk_lexer::{LexError, LexErrorKind, Lexed, Token, TokenKind, lex};
}

// Re-exports are the crate's API (semver-relevant).
pub use convert::{ConversionError, FromValue, IntoReturn, IntoValue, Serde, to_value};
pub use document::{DeserializeValue, Document};
pub use engine::{Engine, Error, LineResult, ReplSession, Services, ServicesEnd};

/// The event loop's parts for embedders that post their own work ([`Engine::services`]): a
/// [`events::Job`] runs on the interpreter's thread with the engine's runtime.
pub mod events {
    // `Compiled` and `Failure`: a job that compiles a source once and runs it per event
    // (`tusk serve`'s API files) keeps the compiled program; `render_all` writes its failures.
    pub use tusk_diagnostics::render_all;
    pub use tusk_eval::events::{DEFAULT_GRACE, EventSender, Job, LoopEnd, SHUTTING_DOWN, Service};
    pub use tusk_eval::{Compiled, Failure, Runtime};
}
pub use program::{Program, Scope};
pub use tusk_diagnostics::{
    Diagnostic, Label, Location, RenderOptions, Severity, SourceId, SourceMap, Span, closest_name,
};
pub use tusk_eval::{
    Bytes, CallContext, Foreign, Function, Key, Limits, Mode, Object, Options, Plugin, Registrar, RegistryError,
    RuntimeError, RuntimeErrorKind, Symbol, SymbolDoc, SymbolKind, SymbolSpec, Value, arg_bytes, arg_function, arg_int,
    arg_number, arg_object, arg_str, expect_arity, from_value,
};
pub use typed::TypedFunction;
