//! `WireValue`: a value as it crosses the process boundary. Data is deep-copied; what cannot be
//! copied (script functions, plugin objects, foreign host values) crosses as an id that the
//! side owning it resolves.

/// A value on the wire.
#[derive(Clone, Debug, PartialEq)]
pub enum WireValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// UTF-8 text.
    Str(String),
    /// A byte string (protocol 9).
    Bytes(Vec<u8>),
    /// Items in order.
    Array(Vec<WireValue>),
    /// Entries in order (keys are unique when the host sends them).
    Object(Vec<(String, WireValue)>),
    /// Integers `start..end`, end excluded.
    Range(i64, i64),
    /// A host function (script lambda), valid until the outermost call that sent it returns.
    Function(u64),
    /// An object owned by the plugin; it lives in the runner and crosses as its id.
    PluginObject {
        /// The plugin's object id.
        id: u64,
        /// The registered type name (`type_of` shows it).
        type_name: String,
    },
    /// A host value the protocol does not describe (another plugin's object), valid like a
    /// function for the duration of the outermost call.
    Opaque(u64),
}
