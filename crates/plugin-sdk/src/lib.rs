//! Write TuskLang plugins in plain Rust.
//!
//! A plugin is a `cdylib` crate that implements [`TuskPlugin`], registers its operators and
//! functions in [`TuskPlugin::initialize`], and exports itself with [`export_plugin!`]. The
//! plugin author writes no `unsafe`; this crate depends on no other TuskLang crate, and the
//! binary interface it speaks (see [`abi`]) is versioned independently of tusk releases.
//!
//! ```
//! use tusk_plugin_sdk::{OperatorError, PluginContext, PluginError, TuskOperator, TuskPlugin, Value, export_plugin};
//!
//! #[derive(Default)]
//! pub struct MyPlugin;
//!
//! impl TuskPlugin for MyPlugin {
//!     fn name(&self) -> &str {
//!         "my_plugin"
//!     }
//!     fn version(&self) -> &str {
//!         "1.0.0"
//!     }
//!     fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
//!         context.register_operator(MyOperator)?;
//!         context.register_function("my_function", |args: &[Value]| {
//!             let n = args.first().and_then(Value::as_int).ok_or_else(|| OperatorError::MissingArgument("n".into()))?;
//!             Ok(Value::from(n * 2))
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! struct MyOperator;
//!
//! impl TuskOperator for MyOperator {
//!     fn name(&self) -> &str {
//!         "my_operator"
//!     }
//!     fn execute(&self, args: &[Value]) -> Result<Value, OperatorError> {
//!         let name = args.first().and_then(Value::as_str).unwrap_or("world");
//!         Ok(Value::from(format!("hello, {name}")))
//!     }
//! }
//!
//! export_plugin!(MyPlugin);
//! ```
//!
//! In a script: `greeting: @my_operator("tusk")` and `twice: my_function(21)`.

#![warn(missing_docs)]

pub mod abi;
mod error;
#[doc(hidden)]
pub mod ffi;
mod plugin;
mod value;

// Re-exports are the crate's API (semver-relevant).
pub use error::{OperatorError, PluginError};
pub use plugin::{FunctionDoc, Level, PluginContext, TuskOperator, TuskPlugin, host};
pub use value::{Array, Kind, Object, Value};

/// The SDK's version, recorded in every plugin's info record.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
