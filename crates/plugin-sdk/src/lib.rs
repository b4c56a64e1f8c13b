//! Write TuskLang plugins in plain Rust.
//!
//! A plugin is a `cdylib` crate with a manifest (`plugin.toml`) beside it. The crate implements
//! [`TuskPlugin`], registers its operators, functions and types in
//! [`TuskPlugin::initialize`], and exports itself with [`export_plugin!`]. The plugin author
//! writes no `unsafe`; this crate depends on no other TuskLang crate, and the binary interface
//! it speaks ([`abi`], the `tusk-plugin-abi` crate) is versioned independently of tusk releases.
//!
//! ```
//! use tusk_plugin_sdk::{PluginContext, PluginError, SymbolDoc, TuskPlugin, Value, export_plugin};
//!
//! #[derive(Default)]
//! pub struct MyPlugin;
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default)]
//! struct Settings {
//!     greeting: Option<String>,
//! }
//!
//! impl TuskPlugin for MyPlugin {
//!     fn name(&self) -> &str {
//!         "my_plugin"
//!     }
//!     fn version(&self) -> &str {
//!         "1.0.0"
//!     }
//!     fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
//!         let settings: Settings = context.config()?;
//!         let greeting = settings.greeting.unwrap_or_else(|| "hello".to_string());
//!         context.register_operator_with(
//!             "my_operator",
//!             SymbolDoc {
//!                 signature: "@my_operator([name])".into(),
//!                 summary: "Greets `name` (default: world).".into(),
//!                 examples: vec![r#"@my_operator("tusk") => "hello, tusk""#.into()],
//!                 ..SymbolDoc::default()
//!             },
//!             move |args: &[Value]| {
//!                 let name = args.first().and_then(Value::as_str).unwrap_or("world");
//!                 Ok(Value::from(format!("{greeting}, {name}")))
//!             },
//!         )?;
//!         context.register_function("my_function", |args: &[Value]| {
//!             let n = args.first().ok_or_else(|| PluginError::missing_argument("n"))?;
//!             let n = n.as_int().ok_or_else(|| PluginError::message("expected an integer").at_argument(0))?;
//!             Ok(Value::from(n * 2))
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! export_plugin!(MyPlugin);
//! ```
//!
//! In a script: `greeting: @my_operator("tusk")` and `twice: my_function(21)`.
//!
//! # One place for each fact
//!
//! - The **manifest** (`plugin.toml`) is the truth for the plugin's name, version,
//!   dependencies, permissions and configuration schema: the host reads them before any code of
//!   the plugin runs (plugins load lazily, on their first call, and only with the permissions
//!   the user granted). [`TuskPlugin::name`] and [`TuskPlugin::version`] repeat the first two so
//!   the host can tell that the library is the one the manifest describes.
//! - The **registrations** made in `initialize` are the truth for the plugin's operators,
//!   functions and types, and their [`SymbolDoc`]s. The manifest's `[capabilities]` lists
//!   are an index of them, so that `@name` can be routed to the plugin without loading it: the
//!   host refuses a library whose registrations differ from its index, and
//!   `tusk plugin check --write-capabilities` rewrites the index from the registrations.
//!
//! # Values, threads and errors
//!
//! - A [`Value`] is a view of a host value, valid on the interpreter's thread: it is neither
//!   `Send` nor `Sync`. Arguments are borrowed for the call (`&[Value]`; clone one to keep it).
//!   [`Value::to_owned_value`] copies a value into an [`OwnedValue`], plain Rust data a plugin
//!   may send to its own threads, store, or serialize; [`OwnedValue::into_value`] turns it back
//!   during a later call. The host refuses host-API calls from other threads with an error
//!   naming the plugin.
//! - Byte strings (ABI 1.7): [`Value::as_bytes`] reads one without a copy, [`Value::bytes`]
//!   makes one (one copy into the host), and [`Value::bytes_with`] lets the plugin write a new
//!   one in the host's memory, so large results (ciphertexts, files) are never copied;
//!   [`Value::bytes_uninit`] (ABI 1.10) hands it memory nothing was written to, which it writes
//!   once (a cipher's output straight from its input) and cuts to what it wrote.
//!   [`Value::to_owned_value`] copies one into [`OwnedValue::Bytes`]. The arguments and
//!   result of a posted call ([`RetainedFunction::post`]) cross to the host as JSON, where a
//!   byte string is its base64 text: the script function gets that text, not bytes.
//! - Every failure is a [`PluginError`]: an [`ErrorKind`], a message, an optional hint and the
//!   argument it is about. A panic in plugin code is caught at the boundary and reported as the
//!   error of the call.
//! - [`host`] has the host's services: logging, file and environment access the user granted,
//!   network permission checks, cancellation, and [`host::map_parallel`], which calls a
//!   script function over many items on interpreter isolates (threads with interpreters of
//!   their own) when the function's captures are plain data.
//!
//! # Long-lived plugins
//!
//! A plugin that serves (a socket, a subscription, a timer) keeps script functions beyond the
//! call that passed them ([`RetainedFunction`]), posts calls of them from its own threads and
//! gets their results back, and keeps `tusk` running while it serves ([`ServiceGuard`], also
//! [`PluginContext::keep_alive`]). The model (threads, ordering, errors, shutdown) and an
//! example are in [`retained`], as are the subscription readers
//! ([`retained::SubscriptionReaders`]): handlers for a server's pub/sub messages, kept across
//! lost connections, over a small connect/read trait.
//!
//! A server may hand an open connection to another plugin (an HTTP server's upgraded request
//! to the websocket plugin): `host::deposit_socket` gives the socket to the host for a
//! single-use ticket, which a script passes on and the other plugin redeems with
//! `host::take_socket` (ABI 1.4, Unix, both plugins in-process).

#![warn(missing_docs)]

/// The binary interface between host and plugin (the `tusk-plugin-abi` crate). Plugin code
/// does not need it; [`export_plugin!`] does.
pub use tusk_plugin_abi as abi;

mod error;
#[doc(hidden)]
pub mod ffi;
mod owned;
mod plugin;
pub mod retained;
mod value;

// Re-exports are the crate's API (semver-relevant).
pub use error::{ErrorKind, PluginError};
pub use ffi::UninitBytes;
pub use owned::OwnedValue;
pub use plugin::{Level, PluginContext, SymbolDoc, TuskOperator, TuskPlugin, host};
pub use retained::{RetainedFunction, ServiceGuard};
pub use value::{Array, Kind, Object, Value};

/// The SDK's version, recorded in every plugin's info record.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
