//! `@cache(ttl, expr)`: `expr` is evaluated only on a miss; a hit returns the stored value
//! until the TTL runs out. Entries are keyed by call site, so each `@cache` in a file is its
//! own cache, and they live as long as the engine, unless a shared [`CacheStore`](crate::CacheStore) is
//! installed and in use: then they live in it, shared by every process that runs the script,
//! and the store expires them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tusk_diagnostics::Location;

use crate::context::{CallContext, expect_arity};
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
        if let Some(store) = ctx.runtime().registry().cache_store().cloned()
            && !ttl.is_zero()
            && store.active(ctx)?
        {
            let key = shared_key(ctx, &captured);
            if let Some(value) = store.get(ctx, &key)? {
                return Ok(value);
            }
            let value = ctx.call(&args[1], &[])?;
            store.set(ctx, &key, &value, ttl)?;
            return Ok(value);
        }
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

/// The key of a call site in a shared store: the same in every process that runs the same
/// file. The file's name, line and column place the call; a hash of the call's text keeps two
/// different expressions evaluated under the same name (`<expression>`) apart.
fn shared_key(ctx: &mut CallContext<'_, '_>, captured: &str) -> String {
    let site = ctx.call_site();
    let sources = ctx.runtime().sources();
    let (name, text_hash) = match sources.try_get(site.source) {
        Some(file) => {
            let text = file.text.get(site.span.start as usize..site.span.end as usize).unwrap_or_default();
            (sources.describe(site), fnv1a(text.as_bytes()))
        }
        None => ("<unknown>".to_string(), 0),
    };
    let mut key = format!("tusk:cache:{name}:{text_hash:016x}");
    if !captured.is_empty() {
        key.push_str(&format!(":{:016x}", fnv1a(captured.as_bytes())));
    }
    key
}

/// FNV-1a: a hash that is the same in every process and build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
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
