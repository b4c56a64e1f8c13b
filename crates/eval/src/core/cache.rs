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

/// Cached values and when they expire, by call site and captured values.
type Store = Rc<RefCell<HashMap<(Location, String), (Value, Instant)>>>;

pub(super) fn cache() -> SymbolSpec {
    let store: Store = Rc::default();
    SymbolSpec::operator("cache", move |ctx, args| {
        expect_arity("@cache", args, 2, 2)?;
        let ttl = parse_ttl(&args[0]).map_err(|message| RuntimeError::argument(0, message))?;
        // Keyed by call site and by what the expression captured: the same `@cache` inside a
        // lambda caches one value per argument, not one for all of them.
        let captured = match &args[1] {
            Value::Func(function) => function.captured().iter().map(crate::to_display).collect::<Vec<_>>().join("\u{1f}"),
            _ => String::new(),
        };
        let key = (ctx.call_site(), captured);
        if let Some((value, expires)) = store.borrow().get(&key)
            && Instant::now() < *expires
        {
            return Ok(value.clone());
        }
        let value = ctx.call(&args[1], &[])?;
        // A TTL too long to represent as an instant never expires.
        let expires = Instant::now().checked_add(ttl).unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400));
        store.borrow_mut().insert(key, (value.clone(), expires));
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
        Value::Int(_) | Value::Float(_) if value.as_f64().is_some_and(|seconds| seconds < 0.0) => {
            Err("the TTL must not be negative".to_string())
        }
        Value::Float(seconds) => {
            Duration::try_from_secs_f64(*seconds).map_err(|_| format!("the TTL {seconds} is not a usable duration"))
        }
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
            Duration::try_from_secs_f64(seconds).map_err(|_| format!("the TTL {text:?} is too long"))
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
