//! abs, round, floor, ceil, int, float.

use crate::context::{arg_int, arg_number, expect_arity};
use crate::error::{RuntimeError, RuntimeErrorKind};
use crate::registry::SymbolSpec;
use crate::value::Value;

fn float_to_int(x: f64) -> Result<Value, RuntimeError> {
    if !x.is_finite() || x.abs() >= 9.223_372_036_854_776e18 {
        return Err(RuntimeError::argument(0, format!("{x:e} does not fit in an integer")));
    }
    Ok(Value::Int(x as i64))
}

fn abs() -> SymbolSpec {
    SymbolSpec::function("abs", |_ctx, args| {
        if args.len() != 1 {
            expect_arity("abs", args, 1, 1)?;
        }
        match &args[0] {
            Value::Int(n) => n
                .checked_abs()
                .map(Value::Int)
                .ok_or_else(|| RuntimeError::new(RuntimeErrorKind::Overflow { op: "abs" })),
            Value::Float(x) => Ok(Value::Float(x.abs())),
            other => Err(RuntimeError::argument(0, format!("argument 1 must be a number, not {}", other.type_name()))),
        }
    })
    .signature("abs(x)")
    .summary("The absolute value.")
    .example("abs(-3) => 3")
}

fn round() -> SymbolSpec {
    SymbolSpec::function("round", |_ctx, args| {
        expect_arity("round", args, 1, 2)?;
        if let Value::Int(n) = &args[0] {
            return Ok(Value::Int(*n));
        }
        let x = arg_number(args, 0)?;
        match args.get(1) {
            None => float_to_int(x.round()),
            Some(_) => {
                let digits = arg_int(args, 1)?.clamp(-300, 300) as i32;
                let factor = 10f64.powi(digits);
                Ok(Value::Float((x * factor).round() / factor))
            }
        }
    })
    .signature("round(x[, digits])")
    .summary("Rounds half away from zero: to an integer, or to `digits` decimals as a float.")
    .example("round(2.5) => 3")
    .example("round(3.14159, 2) => 3.14")
}

fn floor() -> SymbolSpec {
    SymbolSpec::function("floor", |_ctx, args| {
        expect_arity("floor", args, 1, 1)?;
        match &args[0] {
            Value::Int(n) => Ok(Value::Int(*n)),
            _ => float_to_int(arg_number(args, 0)?.floor()),
        }
    })
    .signature("floor(x)")
    .summary("The largest integer not above x.")
    .example("floor(-1.5) => -2")
}

fn ceil() -> SymbolSpec {
    SymbolSpec::function("ceil", |_ctx, args| {
        expect_arity("ceil", args, 1, 1)?;
        match &args[0] {
            Value::Int(n) => Ok(Value::Int(*n)),
            _ => float_to_int(arg_number(args, 0)?.ceil()),
        }
    })
    .signature("ceil(x)")
    .summary("The smallest integer not below x.")
    .example("ceil(1.2) => 2")
}

fn int() -> SymbolSpec {
    SymbolSpec::function("int", |_ctx, args| {
        expect_arity("int", args, 1, 1)?;
        match &args[0] {
            Value::Int(n) => Ok(Value::Int(*n)),
            Value::Float(x) => float_to_int(x.trunc()),
            Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
            Value::Str(s) => {
                let text = s.trim();
                text.parse::<i64>()
                    .map(Value::Int)
                    .or_else(|_| {
                        text.parse::<f64>().map_err(|_| ()).and_then(|x| float_to_int(x.trunc()).map_err(|_| ()))
                    })
                    .map_err(|_| RuntimeError::argument(0, format!("{text:?} is not a number")))
            }
            other => Err(RuntimeError::argument(0, format!("cannot convert {} to an integer", other.type_name()))),
        }
    })
    .signature("int(value)")
    .summary("An integer from a number (truncated), a bool or numeric text.")
    .example("int(\"42\") => 42")
    .example("int(-2.7) => -2")
}

fn float() -> SymbolSpec {
    SymbolSpec::function("float", |_ctx, args| {
        expect_arity("float", args, 1, 1)?;
        match &args[0] {
            Value::Int(n) => Ok(Value::Float(*n as f64)),
            Value::Float(x) => Ok(Value::Float(*x)),
            Value::Bool(b) => Ok(Value::Float(if *b { 1.0 } else { 0.0 })),
            Value::Str(s) => s
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| RuntimeError::argument(0, format!("{:?} is not a number", s.as_str()))),
            other => Err(RuntimeError::argument(0, format!("cannot convert {} to a float", other.type_name()))),
        }
    })
    .signature("float(value)")
    .summary("A float from a number, a bool or numeric text.")
    .example("float(\"1.5\") => 1.5")
}

pub(super) fn specs() -> Vec<SymbolSpec> {
    vec![abs(), round(), floor(), ceil(), int(), float()]
}
