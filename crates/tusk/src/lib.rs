//! Embed TuskLang in a Rust program: evaluate configuration files and scripts into documents,
//! register Rust closures as `@operators` and functions, set limits, and deserialize the
//! result into your own types.
//!
//! ```
//! use serde::Deserialize;
//! use tusk::{DeserializeValue, Engine, Value};
//!
//! #[derive(Deserialize)]
//! struct Server {
//!     host: String,
//!     port: u16,
//!     workers: u32,
//! }
//!
//! let mut engine = Engine::new();
//! // A Rust closure becomes the operator `@cores()`.
//! engine.register_operator("cores", |_ctx, _args| Ok(Value::Int(4)));
//! // And one becomes the function `double(x)`.
//! engine.register_function("double", |_ctx, args| Ok(Value::Int(tusk::arg_int(args, 0)? * 2)));
//!
//! let document = engine
//!     .eval_str("[server]\nhost: \"0.0.0.0\"\nport: 8000 + 80\nworkers: double(@cores())\n")
//!     .expect("valid TuskLang");
//! let server: Server = document.get("server").expect("a server section").deserialize().unwrap();
//! assert_eq!((server.host.as_str(), server.port, server.workers), ("0.0.0.0", 8080, 8));
//!
//! // Errors carry their location and render like the CLI's.
//! let error = engine.eval_str("port: 80 +\n").unwrap_err();
//! assert!(engine.render(&error, false).contains("<string>:1:11"));
//! ```

#![warn(missing_docs)]

mod document;
mod engine;
pub mod format;

/// Dynamic plugins: settings, grants and the host (with the default `plugins` feature).
///
/// The manifest, permission and info-record items serve plugin tooling (`tusk plugin …`):
/// reading a manifest, saying what a plugin asks for, and checking a library without loading it.
#[cfg(feature = "plugins")]
pub mod plugins {
    pub use tusk_plugin_host::host::{HostSettings, PluginHost, current_versions};
    pub use tusk_plugin_host::loader::{LoadError, LoadedPlugin, LoadedSymbol, check_info_record, read_info_record};
    pub use tusk_plugin_host::manifest::{default_library_name, parse_manifest};
    pub use tusk_plugin_host::reload::{Reload, ReloadError, ReloadOutcome, Update, WatchError};
    pub use tusk_plugin_host::{
        Access, Catalog, DiscoveredPlugin, Example, ExecutionMode, FileAccess, GrantSet, Grants, MANIFEST_FILE,
        Manifest, NetworkAccess, Origin, PermissionError, Permissions, SUPPORTED_ABI_MAJOR, SearchPath, SearchRoot,
        check as check_permissions, load_manifest,
    };
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
pub use document::{DeserializeValue, Document};
pub use engine::{Engine, Error, LineResult, ReplSession};
pub use tusk_diagnostics::{
    Diagnostic, Label, Location, RenderOptions, Severity, SourceId, SourceMap, Span, closest_name,
};
pub use tusk_eval::{
    CallContext, Function, Handle, Limits, Mode, Object, Options, Plugin, Registrar, RegistryError, RuntimeError,
    RuntimeErrorKind, Str, Symbol, SymbolDoc, SymbolKind, SymbolSpec, Value, arg_function, arg_int, arg_number,
    arg_object, arg_str, expect_arity, from_value,
};
