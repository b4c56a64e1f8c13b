//! The runner's own values: what the plugin's host API handles point at. Data from the host is
//! shared (`Rc`) so that the plugin can look into big arrays and objects item by item without
//! copies; plugin objects are reference-counted so the plugin's `drop_object` runs when neither
//! the host nor the plugin holds one any more.

use std::rc::Rc;

use tusk_plugin_wire::{MAX_DEPTH, WireValue};

/// A value in the runner.
#[derive(Clone, Default)]
pub(crate) enum Local {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Array(Rc<Vec<Local>>),
    Object(Rc<Vec<(Rc<str>, Local)>>),
    Range(i64, i64),
    /// A host function, by its id for the current outer call.
    Function(u64),
    /// A host value of another kind, by its id for the current outer call.
    Opaque(u64),
    /// One of this plugin's objects.
    PluginObject(Rc<ObjectRef>),
}

/// A plugin object held by the runner: the last reference going away tells the plugin.
pub(crate) struct ObjectRef {
    pub(crate) id: u64,
    pub(crate) type_name: Rc<str>,
    /// Called with the id when the last reference is dropped (the plugin's `drop_object`).
    pub(crate) on_drop: fn(u64),
}

impl Drop for ObjectRef {
    fn drop(&mut self) {
        (self.on_drop)(self.id);
    }
}

impl Local {
    /// Converts a value from the host. `object` resolves a plugin object id to the runner's
    /// reference (`None` for an id the runner no longer knows, which becomes opaque).
    pub(crate) fn from_wire(value: WireValue, object: &dyn Fn(u64) -> Option<Rc<ObjectRef>>) -> Local {
        match value {
            WireValue::Null => Local::Null,
            WireValue::Bool(b) => Local::Bool(b),
            WireValue::Int(n) => Local::Int(n),
            WireValue::Float(x) => Local::Float(x),
            WireValue::Str(text) => Local::Str(Rc::from(text)),
            WireValue::Bytes(bytes) => Local::Bytes(Rc::from(bytes)),
            WireValue::Array(items) => {
                Local::Array(Rc::new(items.into_iter().map(|item| Local::from_wire(item, object)).collect()))
            }
            WireValue::Object(entries) => Local::Object(Rc::new(
                entries.into_iter().map(|(key, item)| (Rc::from(key), Local::from_wire(item, object))).collect(),
            )),
            WireValue::Range(start, end) => Local::Range(start, end),
            WireValue::Function(id) => Local::Function(id),
            WireValue::Opaque(id) => Local::Opaque(id),
            WireValue::PluginObject { id, .. } => match object(id) {
                Some(reference) => Local::PluginObject(reference),
                None => Local::Opaque(u64::MAX),
            },
        }
    }

    /// Converts a value for the host. `export` records each plugin object that crosses (the
    /// host now holds it). Values nested deeper than the wire allows are an error.
    pub(crate) fn to_wire(&self, export: &mut dyn FnMut(&Rc<ObjectRef>)) -> Result<WireValue, String> {
        self.to_wire_at(export, 0)
    }

    fn to_wire_at(&self, export: &mut dyn FnMut(&Rc<ObjectRef>), depth: usize) -> Result<WireValue, String> {
        if depth > MAX_DEPTH {
            return Err(format!("the value is nested more than {MAX_DEPTH} levels deep"));
        }
        Ok(match self {
            Local::Null => WireValue::Null,
            Local::Bool(b) => WireValue::Bool(*b),
            Local::Int(n) => WireValue::Int(*n),
            Local::Float(x) => WireValue::Float(*x),
            Local::Str(text) => WireValue::Str(text.to_string()),
            Local::Bytes(bytes) => WireValue::Bytes(bytes.to_vec()),
            Local::Array(items) => {
                WireValue::Array(items.iter().map(|item| item.to_wire_at(export, depth + 1)).collect::<Result<_, _>>()?)
            }
            Local::Object(entries) => WireValue::Object(
                entries
                    .iter()
                    .map(|(key, item)| Ok((key.to_string(), item.to_wire_at(export, depth + 1)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Local::Range(start, end) => WireValue::Range(*start, *end),
            Local::Function(id) => WireValue::Function(*id),
            Local::Opaque(id) => WireValue::Opaque(*id),
            Local::PluginObject(object) => {
                export(object);
                WireValue::PluginObject { id: object.id, type_name: object.type_name.to_string() }
            }
        })
    }
}
