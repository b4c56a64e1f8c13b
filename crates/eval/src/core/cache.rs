//! `@cache(ttl, expr)`: `expr` is evaluated only on a miss; a hit returns the stored value
//! until the TTL runs out. Entries are keyed by call site, so each `@cache` in a file is its
//! own cache, and they live as long as the engine.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tusk_diagnostics::Location;

use crate::context::expect_arity;
use crate::error::RuntimeError;
use crate::registry::SymbolSpec;
use crate::value::Value;

pub(super) fn cache() -> SymbolSpec {
    let store: Rc<RefCell<HashMap<Location, (Value, Instant)>>> = Rc::default();
    SymbolSpec::operator("cache", move |ctx, args| {
        expect_arity("@cache", args, 2, 2)?;
        let ttl = parse_ttl(&args[0]).map_err(|message| RuntimeError::argument(0, message))?;
        let key = ctx.call_site();
        if let Some((value, expires)) = store.borrow().get(&key)
            && Instant::now() < *expires
        {
            return Ok(value.clone());
        }
        let value = ctx.call(&args[1], &[])?;
        store.borrow_mut().insert(key, (value.clone(), Instant::now() + ttl));
        Ok(value)
    })
    .lazy_argument(1)
    .signature("@cache(ttl, expr)")
    .summary("`expr`, evaluated only when this call site's cached value is missing or older than `ttl` (`30s`, `5m`, `1h`, `1d`, or seconds).")
    .example("@cache(\"5m\", 40 + 2) => 42")
}

/// `"30s"`, `"5m"`, `"1h"`, `"1d"`, `"250ms"` or a number of seconds.
pub(crate) fn parse_ttl(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Int(seconds) if *seconds >= 0 => Ok(Duration::from_secs(*seconds as u64)),
        Value::Float(seconds) if *seconds >= 0.0 && seconds.is_finite() => Ok(Duration::from_secs_f64(*seconds)),
        Value::Str(text) => {
            let text = text.trim();
            let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
            let (number, unit) = text.split_at(split);
            let number: f64 = number
                .parse()
                .map_err(|_| format!("invalid duration {text:?}: expected a number and a unit such as \"5m\""))?;
            let seconds = match unit {
                "" | "s" => number,
                "ms" => number / 1000.0,
                "m" => number * 60.0,
                "h" => number * 3600.0,
                "d" => number * 86400.0,
                other => return Err(format!("unknown duration unit {other:?}: use ms, s, m, h or d")),
            };
            Ok(Duration::from_secs_f64(seconds))
        }
        other => {
            Err(format!("the TTL must be a duration like \"5m\" or a number of seconds, not {}", other.type_name()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl(&Value::string("5m")), Ok(Duration::from_secs(300)));
        assert_eq!(parse_ttl(&Value::string("250ms")), Ok(Duration::from_millis(250)));
        assert_eq!(parse_ttl(&Value::Int(2)), Ok(Duration::from_secs(2)));
        assert!(parse_ttl(&Value::string("5x")).unwrap_err().contains("unknown duration unit"));
    }
}
