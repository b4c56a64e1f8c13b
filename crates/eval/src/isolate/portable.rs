//! Values in a form that may cross threads: deep copies of plain data, and functions as what
//! an isolate needs to rebuild them (where the lambda is written, its fingerprint, copies of
//! its captures; a built-in by name).

use std::rc::Rc;

use tusk_diagnostics::Location;

use crate::function::Function;
use crate::object::Object;
use crate::value::{Key, Value, with_stack};

/// How deeply a value may nest to cross: the copy, the rebuilt value and the copy's drop all
/// recurse once per level, and this keeps them far from the end of any thread's stack. A
/// deeper value stays on the interpreter's thread (the pipeline then runs sequentially).
pub(super) const MAX_DEPTH: usize = 1_000;

/// A value copied out of an interpreter: owns everything, shares nothing, `Send + Sync`.
#[derive(Debug)]
pub enum PortableValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Box<str>),
    /// A byte string.
    Bytes(Box<[u8]>),
    /// An array.
    Array(Vec<PortableValue>),
    /// An object, entries in order.
    Object(Vec<(Key, PortableValue)>),
    /// `start..end`.
    Range(i64, i64),
    /// A function an isolate can rebuild.
    Function(Box<PortableFunction>),
}

/// A function that can cross.
#[derive(Debug)]
pub enum PortableFunction {
    /// A script lambda: its module (an index into the blueprint's), where it is written (the
    /// isolate compiles that source itself), the fingerprint of its code, and copies of what
    /// it captured.
    Closure { module: usize, location: Location, fingerprint: u64, captures: Vec<PortableValue> },
    /// A built-in function, by name.
    Builtin(Key),
}

/// Why something cannot cross.
#[derive(Debug, PartialEq)]
pub(super) enum Refusal {
    /// A value that cannot cross, as a noun phrase ("a `postgres.connection` value, which
    /// belongs to the interpreter's thread"); the context says where it was.
    Value(String),
    /// A whole sentence that already says where ("`helper` calls `@env`, …").
    Said(String),
}

impl Refusal {
    /// The sentence, with `context` making one of a noun phrase.
    pub(super) fn say(self, context: impl FnOnce(&str) -> String) -> String {
        match self {
            Refusal::Value(noun) => context(&noun),
            Refusal::Said(sentence) => sentence,
        }
    }
}

/// How [`copy`] copies a function: given the function, the depth and the budget.
pub(super) type CopyFunction<'f> =
    dyn FnMut(&Rc<Function>, usize, &mut usize) -> Result<PortableFunction, Refusal> + 'f;

/// Copies `value`, handing functions to `function` (which decides whether and how they cross).
/// `budget` counts the values copied, so that data shared many times over (`[a, a]` nested
/// forty levels) cannot make the copy explode.
pub(super) fn copy(
    value: &Value,
    depth: usize,
    budget: &mut usize,
    function: &mut CopyFunction<'_>,
) -> Result<PortableValue, Refusal> {
    if depth > MAX_DEPTH {
        return Err(Refusal::Value(format!("a value nested more than {MAX_DEPTH} levels deep")));
    }
    if *budget == 0 {
        return Err(Refusal::Value("more data than can be copied to other threads".to_string()));
    }
    *budget -= 1;
    Ok(match value {
        Value::Null => PortableValue::Null,
        Value::Bool(b) => PortableValue::Bool(*b),
        Value::Int(n) => PortableValue::Int(*n),
        Value::Float(x) => PortableValue::Float(*x),
        Value::Str(text) => PortableValue::Str(Box::from(text.as_str())),
        Value::Bytes(bytes) => PortableValue::Bytes(Box::from(bytes.as_slice())),
        Value::Range(start, end) => PortableValue::Range(*start, *end),
        // Containers recurse: `with_stack` keeps the recursion off the end of the stack.
        Value::Array(items) => PortableValue::Array(with_stack(|| {
            items.iter().map(|item| copy(item, depth + 1, budget, function)).collect::<Result<_, _>>()
        })?),
        Value::Object(object) => PortableValue::Object(with_stack(|| {
            object
                .iter()
                .map(|(key, value)| Ok((key.clone(), copy(value, depth + 1, budget, function)?)))
                .collect::<Result<_, Refusal>>()
        })?),
        Value::Func(f) => PortableValue::Function(Box::new(with_stack(|| function(f, depth + 1, budget))?)),
        Value::Foreign(foreign) => {
            return Err(Refusal::Value(format!(
                "a `{}` value, which belongs to the interpreter's thread",
                foreign.type_name
            )));
        }
    })
}

/// Copies plain data (no functions): what a worker's results must be.
pub(super) fn copy_data(value: &Value, budget: &mut usize) -> Result<PortableValue, Refusal> {
    copy(value, 0, budget, &mut |_, _, _| {
        Err(Refusal::Value("a function, which cannot leave the thread that made it".to_string()))
    })
}

impl PortableValue {
    /// The value again, on this thread; `function` rebuilds functions.
    pub(super) fn to_value(
        &self,
        function: &mut dyn FnMut(&PortableFunction) -> Result<Value, String>,
    ) -> Result<Value, String> {
        Ok(match self {
            PortableValue::Null => Value::Null,
            PortableValue::Bool(b) => Value::Bool(*b),
            PortableValue::Int(n) => Value::Int(*n),
            PortableValue::Float(x) => Value::Float(*x),
            PortableValue::Str(text) => Value::string(text),
            PortableValue::Bytes(bytes) => Value::bytes(bytes),
            PortableValue::Range(start, end) => Value::Range(*start, *end),
            PortableValue::Array(items) => {
                Value::array(with_stack(|| items.iter().map(|item| item.to_value(function)).collect::<Result<_, _>>())?)
            }
            PortableValue::Object(entries) => with_stack(|| {
                let mut object = Object::with_capacity(entries.len());
                for (key, value) in entries {
                    object.insert(key.clone(), value.to_value(function)?);
                }
                Ok::<_, String>(Value::object(object))
            })?,
            PortableValue::Function(portable) => function(portable)?,
        })
    }

    /// The value again, for plain data (what workers send back).
    pub(super) fn to_data(&self) -> Value {
        // Results are copied with `copy_data`, which refuses functions.
        self.to_value(&mut |_| Ok(Value::Null)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = {
        const fn crosses<T: Send + Sync>() {}
        crosses::<PortableValue>();
    };

    fn nested(depth: usize) -> Value {
        let mut value = Value::Int(1);
        for _ in 0..depth {
            value = Value::array(vec![value]);
        }
        value
    }

    #[test]
    fn plain_data_round_trips() {
        let mut object = Object::new();
        object.insert(Key::new("name"), Value::string("ada"));
        object.insert(Key::new("tags"), Value::array(vec![Value::Bool(true), Value::Null, Value::Float(2.5)]));
        object.insert(Key::new("span"), Value::Range(3, 9));
        let value = Value::object(object);
        let mut budget = 100;
        let copied = copy_data(&value, &mut budget).unwrap();
        assert!(copied.to_data().deep_eq(&value));
        assert_eq!(budget, 100 - 7);
    }

    #[test]
    fn values_nested_too_deeply_or_too_large_stay_behind() {
        let mut budget = usize::MAX;
        assert!(copy_data(&nested(MAX_DEPTH), &mut budget).is_ok());
        assert_eq!(
            copy_data(&nested(MAX_DEPTH + 1), &mut budget).unwrap_err(),
            Refusal::Value("a value nested more than 1000 levels deep".to_string())
        );
        // A value a hundred thousand levels deep is refused without recursing through it.
        assert!(copy_data(&nested(100_000), &mut budget).is_err());
        let mut shared = Value::Int(0);
        for _ in 0..40 {
            shared = Value::array(vec![shared.clone(), shared]);
        }
        let mut budget = 1_000_000;
        assert_eq!(
            copy_data(&shared, &mut budget).unwrap_err(),
            Refusal::Value("more data than can be copied to other threads".to_string())
        );
    }

    #[test]
    fn functions_do_not_come_back_as_data() {
        let function = Value::Func(Rc::new(Function::Native(crate::function::NativeFunction {
            name: Key::new("abs"),
            func: Rc::new(|_, _| Ok(Value::Null)),
        })));
        let mut budget = 10;
        assert_eq!(
            copy_data(&Value::array(vec![function]), &mut budget).unwrap_err(),
            Refusal::Value("a function, which cannot leave the thread that made it".to_string())
        );
    }
}
