//! len, keys, values, has, get, range, map, filter, reduce, sort, sort_by, reverse, sum,
//! min, max, contains.

use std::cmp::Ordering;

use crate::context::{CallContext, arg_function, arg_int, arg_object, arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::path::Path;
use crate::registry::SymbolSpec;
use crate::value::Value;

/// The items of an iterable value, produced one at a time (ranges allocate nothing).
enum Items<'a> {
    Slice(std::slice::Iter<'a, Value>),
    Range(std::ops::Range<i64>),
    Chars(std::str::Chars<'a>),
    Bytes(std::slice::Iter<'a, u8>),
}

impl Iterator for Items<'_> {
    type Item = Value;

    #[inline]
    fn next(&mut self) -> Option<Value> {
        match self {
            Items::Slice(items) => items.next().cloned(),
            Items::Range(range) => range.next().map(Value::Int),
            Items::Chars(chars) => chars.next().map(|c| Value::string(c.encode_utf8(&mut [0; 4]))),
            Items::Bytes(bytes) => bytes.next().map(|&byte| Value::Int(i64::from(byte))),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Items::Slice(items) => items.size_hint(),
            Items::Range(range) => range.size_hint(),
            Items::Chars(chars) => chars.size_hint(),
            Items::Bytes(bytes) => bytes.size_hint(),
        }
    }
}

fn items(value: &Value, index: usize) -> Result<Items<'_>, RuntimeError> {
    match value {
        Value::Array(items) => Ok(Items::Slice(items.iter())),
        Value::Range(start, end) => Ok(Items::Range(*start..*end)),
        Value::Str(s) => Ok(Items::Chars(s.chars())),
        Value::Bytes(bytes) => Ok(Items::Bytes(bytes.iter())),
        Value::Object(_) => Err(RuntimeError::argument(index, "objects are not iterable")
            .with_help("iterate over `keys(obj)` or `values(obj)`")),
        other => Err(RuntimeError::argument(
            index,
            format!("argument {} must be an array, range, string or bytes, not {}", index + 1, other.type_name()),
        )),
    }
}

fn length(value: &Value) -> Option<usize> {
    match value {
        Value::Array(items) => Some(items.len()),
        Value::Object(object) => Some(object.len()),
        Value::Str(s) => Some(s.chars().count()),
        Value::Bytes(bytes) => Some(bytes.len()),
        Value::Range(start, end) => Some(end.saturating_sub(*start).max(0) as usize),
        _ => None,
    }
}

fn collect(ctx: &CallContext<'_, '_>, values: Vec<Value>) -> Result<Value, RuntimeError> {
    ctx.check_collection_len(values.len())?;
    Ok(Value::array(values))
}

fn len() -> SymbolSpec {
    SymbolSpec::function("len", |_ctx, args| {
        expect_arity("len", args, 1, 1)?;
        length(&args[0])
            .map(|n| Value::Int(n as i64))
            .ok_or_else(|| RuntimeError::argument(0, format!("{} has no length", args[0].type_name())))
    })
    .signature("len(value)")
    .summary(
        "Items of an array or object, characters (not bytes) of a string, bytes of a byte string, numbers in a range.",
    )
    .example("len(\"héllo\") => 5")
    .example("len(range(2, 5)) => 3")
}

fn keys() -> SymbolSpec {
    SymbolSpec::function("keys", |_ctx, args| {
        expect_arity("keys", args, 1, 1)?;
        let object = arg_object(args, 0)?;
        Ok(Value::array(object.keys().map(|k| Value::string(k)).collect()))
    })
    .signature("keys(object)")
    .summary("The keys of an object, in order.")
    .example("keys({b: 1, a: 2}) => [\"b\", \"a\"]")
}

fn values() -> SymbolSpec {
    SymbolSpec::function("values", |_ctx, args| {
        expect_arity("values", args, 1, 1)?;
        Ok(Value::array(arg_object(args, 0)?.values().cloned().collect()))
    })
    .signature("values(object)")
    .summary("The values of an object, in order.")
    .example("values({b: 1, a: 2}) => [1, 2]")
}

fn has() -> SymbolSpec {
    SymbolSpec::function("has", |_ctx, args| {
        expect_arity("has", args, 2, 2)?;
        Ok(Value::Bool(match &args[0] {
            Value::Object(object) => match &args[1] {
                Value::Int(n) => object.contains_key(&n.to_string()),
                _ => object.contains_key(arg_str(args, 1)?),
            },
            Value::Array(items) => {
                let index = arg_int(args, 1)?;
                index >= -(items.len() as i64) && index < items.len() as i64
            }
            other => {
                return Err(RuntimeError::argument(
                    0,
                    format!("argument 1 must be an object or array, not {}", other.type_name()),
                ));
            }
        }))
    })
    .signature("has(object, key)")
    .summary("True if the object has the key (or the array has the index).")
    .example("has({a: 1}, \"a\") => true")
}

fn get() -> SymbolSpec {
    SymbolSpec::function("get", |_ctx, args| {
        expect_arity("get", args, 2, 3)?;
        let path = match &args[1] {
            Value::Str(s) => s.to_string(),
            Value::Int(n) => n.to_string(),
            other => {
                return Err(RuntimeError::argument(
                    1,
                    format!("argument 2 must be a key path, not {}", other.type_name()),
                ));
            }
        };
        let path = Path::parse(&path).map_err(|error| RuntimeError::argument(1, error.to_string()))?;
        Ok(path.lookup(&args[0]).unwrap_or_else(|_| args.get(2).cloned().unwrap_or(Value::Null)))
    })
    .signature("get(value, \"a.b\", default)")
    .summary("The value at a path of keys and array indexes (`a.b[0]`, `a.\"b.c\"`), or the default when any part is missing.")
    .example("get({a: {b: [10, 20]}}, \"a.b.1\") => 20")
    .example("get({a: 1}, \"x.y\", 0) => 0")
}

fn range() -> SymbolSpec {
    SymbolSpec::function("range", |_ctx, args| {
        expect_arity("range", args, 1, 2)?;
        let (start, end) =
            if args.len() == 1 { (0, arg_int(args, 0)?) } else { (arg_int(args, 0)?, arg_int(args, 1)?) };
        Ok(Value::Range(start, end.max(start)))
    })
    .signature("range(start, end)")
    .summary("The integers from `start` up to but not including `end` (`range(n)` starts at 0); lazy.")
    .example("map(range(3), x => x * 2) => [0, 2, 4]")
}

fn map() -> SymbolSpec {
    SymbolSpec::function("map", |ctx, args| {
        expect_arity("map", args, 2, 2)?;
        let function = arg_function(args, 1)?;
        let iter = items(&args[0], 0)?;
        ctx.check_collection_len(iter.size_hint().0)?;
        let mut out = Vec::with_capacity(iter.size_hint().0);
        for item in iter {
            ctx.count_operation()?;
            out.push(ctx.call_owned(function, [item])?);
        }
        Ok(Value::array(out))
    })
    .signature("map(items, f)")
    .summary("`f(item)` for each item of an array, range or string.")
    .example("map([1, 2, 3], x => x * 10) => [10, 20, 30]")
}

fn filter() -> SymbolSpec {
    SymbolSpec::function("filter", |ctx, args| {
        expect_arity("filter", args, 2, 2)?;
        let function = arg_function(args, 1)?;
        let mut out = Vec::new();
        for item in items(&args[0], 0)? {
            ctx.count_operation()?;
            if ctx.call(function, std::slice::from_ref(&item))?.is_truthy() {
                out.push(item);
            }
        }
        collect(ctx, out)
    })
    .signature("filter(items, f)")
    .summary("The items for which `f(item)` is truthy.")
    .example("filter(range(6), x => x % 2 == 0) => [0, 2, 4]")
}

fn reduce() -> SymbolSpec {
    SymbolSpec::function("reduce", |ctx, args| {
        expect_arity("reduce", args, 3, 3)?;
        let function = arg_function(args, 2)?;
        let mut accumulator = args[1].clone();
        for item in items(&args[0], 0)? {
            ctx.count_operation()?;
            accumulator = ctx.call_owned(function, [accumulator, item])?;
        }
        Ok(accumulator)
    })
    .signature("reduce(items, init, f)")
    .summary("Folds the items: `f(accumulator, item)`, starting from `init`.")
    .example("reduce([1, 2, 3], 0, (acc, x) => acc + x) => 6")
}

fn compare_values(a: &Value, b: &Value) -> Result<Ordering, RuntimeError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Ok(x.as_str().cmp(y.as_str())),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Ok(x.total_cmp(&y)),
            _ => Err(RuntimeError::message(format!("cannot compare {} with {}", a.type_name(), b.type_name()))),
        },
    }
}

fn sort_values(values: &mut [Value]) -> Result<(), RuntimeError> {
    let mut failure = None;
    values.sort_by(|a, b| {
        compare_values(a, b).unwrap_or_else(|error| {
            failure.get_or_insert(error);
            Ordering::Equal
        })
    });
    failure.map_or(Ok(()), Err)
}

fn sort() -> SymbolSpec {
    SymbolSpec::function("sort", |ctx, args| {
        expect_arity("sort", args, 1, 1)?;
        let mut values: Vec<Value> = items(&args[0], 0)?.collect();
        ctx.check_collection_len(values.len())?;
        sort_values(&mut values)?;
        Ok(Value::array(values))
    })
    .signature("sort(items)")
    .summary("The items sorted (numbers or strings; stable).")
    .example("sort([3, 1.5, 2]) => [1.5, 2, 3]")
}

fn sort_by() -> SymbolSpec {
    SymbolSpec::function("sort_by", |ctx, args| {
        expect_arity("sort_by", args, 2, 2)?;
        let function = arg_function(args, 1)?;
        let mut keyed = Vec::new();
        for item in items(&args[0], 0)? {
            ctx.count_operation()?;
            let key = ctx.call(function, std::slice::from_ref(&item))?;
            keyed.push((key, item));
        }
        let mut failure = None;
        keyed.sort_by(|(a, _), (b, _)| {
            compare_values(a, b).unwrap_or_else(|error| {
                failure.get_or_insert(error);
                Ordering::Equal
            })
        });
        if let Some(error) = failure {
            return Err(error);
        }
        Ok(Value::array(keyed.into_iter().map(|(_, item)| item).collect()))
    })
    .signature("sort_by(items, f)")
    .summary("The items sorted by the key `f(item)` (stable).")
    .example("sort_by([\"ccc\", \"a\", \"bb\"], s => len(s)) => [\"a\", \"bb\", \"ccc\"]")
}

fn reverse() -> SymbolSpec {
    SymbolSpec::function("reverse", |ctx, args| {
        expect_arity("reverse", args, 1, 1)?;
        match &args[0] {
            Value::Str(s) => Ok(Value::from(s.chars().rev().collect::<String>())),
            other => {
                let mut values: Vec<Value> = items(other, 0)?.collect();
                ctx.check_collection_len(values.len())?;
                values.reverse();
                Ok(Value::array(values))
            }
        }
    })
    .signature("reverse(items)")
    .summary("The items (or characters) in reverse order.")
    .example("reverse([1, 2, 3]) => [3, 2, 1]")
}

fn sum() -> SymbolSpec {
    SymbolSpec::function("sum", |ctx, args| {
        expect_arity("sum", args, 1, 1)?;
        let mut total = Value::Int(0);
        for item in items(&args[0], 0)? {
            ctx.count_operation()?;
            total = crate::interp::binary_op(tusk_parser::ast::BinaryOp::Add, &total, &item)?;
            if matches!(total, Value::Str(_)) {
                return Err(RuntimeError::argument(0, "sum adds numbers; use join() for strings"));
            }
        }
        Ok(total)
    })
    .signature("sum(items)")
    .summary("The sum of the numbers (0 for none).")
    .example("sum(range(1, 5)) => 10")
}

fn extreme(name: &'static str, want: Ordering) -> SymbolSpec {
    SymbolSpec::function(name, move |ctx, args| {
        expect_arity(name, args, 1, usize::MAX)?;
        let candidates: Vec<Value> = match args {
            // One number is its own maximum; one collection is searched.
            [single @ (Value::Int(_) | Value::Float(_))] => vec![single.clone()],
            [collection] => items(collection, 0)?.collect(),
            _ => args.to_vec(),
        };
        let mut best: Option<Value> = None;
        for candidate in candidates {
            ctx.count_operation()?;
            best = Some(match best {
                Some(current) if compare_values(&candidate, &current)? != want => current,
                _ => candidate,
            });
        }
        best.ok_or_else(|| RuntimeError::argument(0, format!("{name} of an empty collection")))
    })
    .signature(&format!("{name}(items) or {name}(a, b, …)"))
    .summary(if want == Ordering::Less { "The smallest item." } else { "The largest item." })
    .example(&format!("{name}([3, 7, 5]) => {}", if want == Ordering::Less { 3 } else { 7 }))
}

fn contains() -> SymbolSpec {
    SymbolSpec::function("contains", |_ctx, args| {
        expect_arity("contains", args, 2, 2)?;
        Ok(Value::Bool(match (&args[0], &args[1]) {
            (Value::Str(haystack), Value::Str(needle)) => haystack.contains(needle.as_str()),
            (Value::Str(_), other) => {
                return Err(RuntimeError::argument(
                    1,
                    format!("a string can only contain a string, not {}", other.type_name()),
                ));
            }
            (Value::Array(items), needle) => items.iter().any(|item| item.deep_eq(needle)),
            (Value::Object(object), Value::Str(key)) => object.contains_key(key),
            (Value::Range(start, end), needle) => match needle {
                Value::Int(n) => n >= start && n < end,
                Value::Float(x) if x.fract() == 0.0 => *x >= *start as f64 && *x < *end as f64,
                _ => false,
            },
            (other, _) => {
                return Err(RuntimeError::argument(0, format!("{} cannot contain anything", other.type_name())));
            }
        }))
    })
    .signature("contains(collection, item)")
    .summary("True if a string contains a substring, an array an equal item, an object a key, a range a number.")
    .example("contains([1, [2]], [2]) => true")
    .example("contains(\"tusk\", \"us\") => true")
}

fn set() -> SymbolSpec {
    SymbolSpec::function("set", |ctx, args| {
        expect_arity("set", args, 3, 3)?;
        match &args[0] {
            Value::Object(object) => {
                let mut object = (**object).clone();
                object.insert(crate::value::Key::new(arg_str(args, 1)?), args[2].clone());
                ctx.check_collection_len(object.len())?;
                Ok(Value::object(object))
            }
            Value::Array(items) => {
                let index = arg_int(args, 1)?;
                let resolved = if index < 0 { index + items.len() as i64 } else { index };
                let Some(position) = usize::try_from(resolved).ok().filter(|p| *p < items.len()) else {
                    return Err(RuntimeError::argument(
                        1,
                        format!("index {index} is out of bounds for length {}", items.len()),
                    ));
                };
                let mut items = (**items).clone();
                items[position] = args[2].clone();
                Ok(Value::array(items))
            }
            other => Err(RuntimeError::argument(
                0,
                format!("argument 1 must be an object or array, not {}", other.type_name()),
            )),
        }
    })
    .signature("set(collection, key, value)")
    .summary("A copy of the object (or array) with `key` (or the index) set to `value`; the original is unchanged.")
    .example("set({a: 1}, \"b\", 2) => {\"a\": 1, \"b\": 2}")
    .example("set([0, 0], 1, 5) => [0, 5]")
}

fn push() -> SymbolSpec {
    SymbolSpec::function("push", |ctx, args| {
        expect_arity("push", args, 2, 2)?;
        let Value::Array(items) = &args[0] else {
            return Err(RuntimeError::argument(0, format!("argument 1 must be an array, not {}", args[0].type_name())));
        };
        ctx.check_collection_len(items.len() + 1)?;
        let mut items = (**items).clone();
        items.push(args[1].clone());
        Ok(Value::array(items))
    })
    .signature("push(array, value)")
    .summary("A copy of the array with `value` appended; the original is unchanged.")
    .example("push([1], 2) => [1, 2]")
}

pub(super) fn specs() -> Vec<SymbolSpec> {
    vec![
        len(),
        keys(),
        values(),
        has(),
        get(),
        range(),
        map(),
        filter(),
        reduce(),
        sort(),
        sort_by(),
        reverse(),
        sum(),
        extreme("min", Ordering::Less),
        extreme("max", Ordering::Greater),
        contains(),
        set(),
        push(),
    ]
}
