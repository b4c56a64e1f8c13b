//! Values between the interpreter and the wire. Data is deep-copied; script functions and
//! foreign host values cross as ids into a table that lives until the outermost call into the
//! plugin returns; the plugin's own objects cross as their ids and come back as host handles
//! whose last drop queues a `DropObject` for the runner.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use tusk_eval::{Bytes, Foreign, Key, Object, Value};
use tusk_plugin_wire::{MAX_DEPTH, WireValue};

/// Functions and foreign values sent during the current outermost call, by id.
#[derive(Default)]
pub(crate) struct CallValues {
    next: u64,
    values: HashMap<u64, Value>,
}

impl CallValues {
    fn insert(&mut self, value: &Value) -> u64 {
        // Ids are never reused within a host, so a stale id from an earlier call is an error
        // instead of someone else's function.
        self.next += 1;
        self.values.insert(self.next, value.clone());
        self.next
    }

    pub(crate) fn get(&self, id: u64) -> Option<Value> {
        self.values.get(&id).cloned()
    }

    /// How many values the current call holds.
    pub(crate) fn values_len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn clear(&mut self) {
        self.values.clear();
    }
}

/// The plugin objects the script holds, for one plugin.
#[derive(Default)]
pub(crate) struct Objects {
    /// Runner generation the ids belong to (a restarted runner knows none of the old ones).
    pub(crate) generation: u64,
    /// Live host handles by object id, so that an object keeps one identity.
    live: HashMap<u64, Weak<Foreign>>,
    /// Objects the script dropped, sent to the runner before the next message.
    pub(crate) drops: Vec<u64>,
}

impl Objects {
    /// A new runner generation: the old objects are gone with the old process.
    pub(crate) fn restart(&mut self, generation: u64) {
        self.generation = generation;
        self.live.clear();
        self.drops.clear();
    }
}

/// The host side of a plugin object that lives in the runner.
pub(crate) struct SandboxedObject {
    id: u64,
    generation: u64,
    objects: Weak<RefCell<Objects>>,
}

impl Drop for SandboxedObject {
    fn drop(&mut self) {
        let Some(objects) = self.objects.upgrade() else { return };
        // `try_borrow_mut`: never panic in a drop; the table is only borrowed briefly and
        // never while handles are dropped.
        if let Ok(mut objects) = objects.try_borrow_mut()
            && objects.generation == self.generation
        {
            if objects.live.get(&self.id).is_some_and(|weak| weak.strong_count() == 0) {
                objects.live.remove(&self.id);
            }
            objects.drops.push(self.id);
        }
    }
}

/// Converts values for one plugin.
pub(crate) struct Converter<'a> {
    pub(crate) plugin: &'a str,
    pub(crate) calls: &'a RefCell<CallValues>,
    pub(crate) objects: &'a Rc<RefCell<Objects>>,
}

impl Converter<'_> {
    pub(crate) fn to_wire(&self, value: &Value) -> Result<WireValue, String> {
        self.to_wire_at(value, 0)
    }

    fn to_wire_at(&self, value: &Value, depth: usize) -> Result<WireValue, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "a value nested more than {MAX_DEPTH} levels deep cannot be passed to the sandboxed plugin `{}`",
                self.plugin
            ));
        }
        Ok(match value {
            Value::Null => WireValue::Null,
            Value::Bool(b) => WireValue::Bool(*b),
            Value::Int(n) => WireValue::Int(*n),
            Value::Float(x) => WireValue::Float(*x),
            Value::Str(text) => WireValue::Str(text.to_string()),
            Value::Range(start, end) => WireValue::Range(*start, *end),
            Value::Array(items) => {
                WireValue::Array(items.iter().map(|item| self.to_wire_at(item, depth + 1)).collect::<Result<_, _>>()?)
            }
            Value::Object(object) => WireValue::Object(
                object
                    .iter()
                    .map(|(key, item)| Ok((key.to_string(), self.to_wire_at(item, depth + 1)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Func(_) => WireValue::Function(self.calls.borrow_mut().insert(value)),
            Value::Bytes(bytes) => WireValue::Bytes(bytes.to_vec()),
            Value::Foreign(foreign) => match self.own_object(foreign.data.as_ref()) {
                Some(id) => WireValue::PluginObject { id, type_name: foreign.type_name.to_string() },
                None => WireValue::Opaque(self.calls.borrow_mut().insert(value)),
            },
        })
    }

    /// The object id, when `data` is one of this plugin's objects of the current runner.
    fn own_object(&self, data: &dyn Any) -> Option<u64> {
        let object = data.downcast_ref::<SandboxedObject>()?;
        let current = self.objects.borrow().generation;
        (Weak::ptr_eq(&object.objects, &Rc::downgrade(self.objects)) && object.generation == current)
            .then_some(object.id)
    }

    pub(crate) fn value(&self, value: WireValue) -> Result<Value, String> {
        Ok(match value {
            WireValue::Null => Value::Null,
            WireValue::Bool(b) => Value::Bool(b),
            WireValue::Int(n) => Value::Int(n),
            WireValue::Float(x) => Value::Float(x),
            WireValue::Str(text) => Value::from(text),
            WireValue::Bytes(bytes) => Value::Bytes(Bytes::from(bytes)),
            WireValue::Range(start, end) => Value::Range(start, end),
            WireValue::Array(items) => {
                Value::array(items.into_iter().map(|item| self.value(item)).collect::<Result<_, _>>()?)
            }
            WireValue::Object(entries) => {
                let mut object = Object::with_capacity(entries.len());
                for (key, item) in entries {
                    object.insert(Key::from(key), self.value(item)?);
                }
                Value::object(object)
            }
            WireValue::Function(id) | WireValue::Opaque(id) => {
                self.calls.borrow().get(id).ok_or_else(|| tusk_plugin_hostapi::kept_past_its_call(self.plugin))?
            }
            WireValue::PluginObject { id, type_name } => self.object(id, &type_name),
        })
    }

    fn object(&self, id: u64, type_name: &str) -> Value {
        let mut objects = self.objects.borrow_mut();
        if let Some(object) = objects.live.get(&id).and_then(Weak::upgrade) {
            return Value::Foreign(object);
        }
        // The script dropped it and sees it again before the drop was sent: keep it alive.
        objects.drops.retain(|&dropped| dropped != id);
        let data: Box<dyn Any> =
            Box::new(SandboxedObject { id, generation: objects.generation, objects: Rc::downgrade(self.objects) });
        let object = Rc::new(Foreign { type_name: Rc::from(type_name), data });
        objects.live.insert(id, Rc::downgrade(&object));
        Value::Foreign(object)
    }
}
