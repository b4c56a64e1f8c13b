//! The operators and functions: argument reading, the Redis command of each, and registration.

use std::sync::Arc;
use std::time::Duration;

use redis::{ConnectionLike, cmd};
use tusk_plugin_sdk::{Kind, PluginContext, PluginError, RetainedFunction, SymbolDoc, Value};

use crate::State;
use crate::codec::{self, argument, encode};
use crate::listen::Target;
use crate::pool::Failure;

/// One operation of the plugin.
type Operation = fn(&State, &Args<'_>) -> Result<Value, PluginError>;

/// The arguments of one call, with the operator's name for messages; `offset` skips the
/// operation name of the `@redis(operation, …)` form.
pub(crate) struct Args<'a> {
    values: &'a [Value],
    offset: usize,
    operator: &'a str,
}

impl Args<'_> {
    fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(self.offset + index)
    }

    fn len(&self) -> usize {
        self.values.len().saturating_sub(self.offset)
    }

    fn required(&self, index: usize, name: &str) -> Result<&Value, PluginError> {
        self.get(index).ok_or_else(|| {
            PluginError::missing_argument(format!("{name} (argument {} of {})", self.offset + index + 1, self.operator))
        })
    }

    fn bad(&self, index: usize, message: impl Into<String>) -> PluginError {
        PluginError::message(format!("{}: {}", self.operator, message.into())).at_argument(self.offset + index)
    }

    fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.len() > count {
            return Err(self.bad(count, format!("takes at most {} arguments, got {}", count, self.len())));
        }
        Ok(())
    }

    /// A key (or field, channel): a string, or an integer used as its decimal text.
    fn key(&self, index: usize, name: &str) -> Result<String, PluginError> {
        let value = self.required(index, name)?;
        name_of(value)
            .ok_or_else(|| self.bad(index, format!("the {name} must be a string, got a {}", value.type_name())))
    }

    /// The keys from `index` on: several arguments, or one array.
    fn keys(&self, index: usize, name: &str) -> Result<Vec<String>, PluginError> {
        let first = self.required(index, name)?;
        let keys: Vec<String> = if let Some(array) = first.as_array() {
            if self.len() > index + 1 {
                return Err(
                    self.bad(index + 1, format!("pass the {name}s as one array or as separate arguments, not both"))
                );
            }
            array
                .iter()
                .map(|item| {
                    name_of(&item).ok_or_else(|| {
                        self.bad(index, format!("each {name} must be a string, got a {}", item.type_name()))
                    })
                })
                .collect::<Result<_, _>>()?
        } else {
            (index..self.len()).map(|position| self.key(position, name)).collect::<Result<_, _>>()?
        };
        if keys.is_empty() {
            return Err(self.bad(index, format!("at least one {name} is needed")));
        }
        Ok(keys)
    }

    /// Stored values from `index` on: several arguments, or one array.
    fn values_from(&self, index: usize, name: &str) -> Result<Vec<String>, PluginError> {
        let first = self.required(index, name)?;
        let texts: Vec<String> = match (first.as_array(), self.len() == index + 1) {
            (Some(array), true) => array.iter().map(|item| encode(&item, name)).collect::<Result<_, _>>()?,
            _ => (index..self.len())
                .map(|position| encode(self.get(position).unwrap_or(&Value::null()), name))
                .collect::<Result<_, _>>()?,
        };
        if texts.is_empty() {
            return Err(self.bad(index, format!("at least one {name} is needed")));
        }
        Ok(texts)
    }

    fn int(&self, index: usize, name: &str, default: i64) -> Result<i64, PluginError> {
        match self.get(index) {
            None => Ok(default),
            Some(value) => value
                .as_int()
                .ok_or_else(|| self.bad(index, format!("the {name} must be an integer, got a {}", value.type_name()))),
        }
    }

    fn number(&self, index: usize, name: &str) -> Result<f64, PluginError> {
        let value = self.required(index, name)?;
        match value.as_float() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err(self.bad(index, format!("the {name} must be a number, got {}", shown(value)))),
        }
    }

    /// An expiry: seconds (a number), or a duration string (`"250ms"`, `"30s"`, `"5m"`, `"1h"`,
    /// `"1d"`), in milliseconds.
    fn ttl(&self, index: usize) -> Result<u64, PluginError> {
        let value = self.required(index, "ttl")?;
        ttl_millis(value).map_err(|message| self.bad(index, message))
    }

    fn handle(&self, state: &State, what: &str, command: &redis::Cmd) -> Result<redis::Value, PluginError> {
        let pool = state.pool()?;
        let what = format!("{}{what}", self.operator);
        pool.query(&what, command)
    }

    /// Runs `command` and reads its reply as a TuskLang value.
    fn run(&self, state: &State, command: &redis::Cmd) -> Result<Value, PluginError> {
        let reply = self.handle(state, "", command)?;
        codec::reply(reply, &|| self.operator.to_string())
    }
}

/// The text of a key-like value.
fn name_of(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string).or_else(|| value.as_int().map(|n| n.to_string()))
}

fn shown(value: &Value) -> String {
    match value.as_str() {
        Some(text) => format!("{text:?}"),
        None => format!("a {}", value.type_name()),
    }
}

/// Milliseconds of an expiry: seconds as a number, or a duration string.
pub(crate) fn ttl_millis(value: &Value) -> Result<u64, String> {
    let seconds = if let Some(text) = value.as_str() {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().map_err(|_| {
            format!(
                "the ttl {text:?} is not a duration: write seconds (30) or \"250ms\", \"30s\", \"5m\", \"1h\", \"1d\""
            )
        })?;
        match unit {
            "" | "s" => number,
            "ms" => number / 1000.0,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            "d" => number * 86400.0,
            other => return Err(format!("unknown duration unit {other:?} in the ttl: use ms, s, m, h or d")),
        }
    } else if let Some(seconds) = value.as_float() {
        seconds
    } else {
        return Err(format!("the ttl must be seconds or a duration string like \"5m\", got a {}", value.type_name()));
    };
    let millis = (seconds * 1000.0).round();
    if !(1.0..=1e15).contains(&millis) {
        return Err(format!("the ttl must be at least 1 millisecond and finite, got {seconds} seconds"));
    }
    Ok(millis as u64)
}

fn get(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    args.run(state, cmd("GET").arg(&key))
}

fn set(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let key = args.key(0, "key")?;
    let text = encode(args.required(1, "value")?, "value")?;
    let mut command = cmd("SET");
    command.arg(&key).arg(text);
    match args.get(2) {
        None => {}
        Some(value) if value.is_null() => {}
        Some(value) if value.kind() == Kind::Object => {
            let options = value.as_object().unwrap_or_else(|| unreachable!());
            for (name, option) in options.entries() {
                match name {
                    "ttl" if option.is_null() => {}
                    "ttl" => {
                        command.arg("PX").arg(ttl_millis(&option).map_err(|message| args.bad(2, message))?);
                    }
                    "nx" | "only_if_missing" if option.is_truthy() => {
                        command.arg("NX");
                    }
                    "xx" | "only_if_exists" if option.is_truthy() => {
                        command.arg("XX");
                    }
                    "nx" | "xx" | "only_if_missing" | "only_if_exists" => {}
                    other => {
                        return Err(args.bad(
                            2,
                            format!("unknown option `{other}`: use ttl, nx (only_if_missing) or xx (only_if_exists)"),
                        ));
                    }
                }
            }
        }
        Some(_) => {
            command.arg("PX").arg(args.ttl(2)?);
        }
    }
    // OK when written, nil when NX/XX kept it from being written.
    let reply = args.handle(state, "", &command)?;
    Ok(Value::from(!matches!(reply, redis::Value::Nil)))
}

fn del(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let keys = args.keys(0, "key")?;
    args.run(state, cmd("DEL").arg(&keys))
}

fn exists(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    let reply = args.handle(state, "", cmd("EXISTS").arg(&key))?;
    Ok(Value::from(matches!(reply, redis::Value::Int(n) if n > 0)))
}

fn incr_by(state: &State, args: &Args<'_>, sign: i64) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let key = args.key(0, "key")?;
    match args.get(1) {
        Some(value) if value.kind() == Kind::Float => {
            let by = args.number(1, "increment")? * sign as f64;
            args.run(state, cmd("INCRBYFLOAT").arg(&key).arg(by))
        }
        _ => {
            let by = args.int(1, "increment", 1)?;
            let by = by.checked_mul(sign).ok_or_else(|| args.bad(1, "the increment is out of range"))?;
            args.run(state, cmd("INCRBY").arg(&key).arg(by))
        }
    }
}

fn incr(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    incr_by(state, args, 1)
}

fn decr(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    incr_by(state, args, -1)
}

fn mget(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let keys = args.keys(0, "key")?;
    args.run(state, cmd("MGET").arg(&keys))
}

fn mset(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let value = args.required(0, "entries")?;
    let Some(entries) = value.as_object() else {
        return Err(
            args.bad(0, format!("the entries must be an object {{key: value, …}}, got a {}", value.type_name()))
        );
    };
    if entries.is_empty() {
        return Err(args.bad(0, "the object has no entries to set"));
    }
    let mut command = cmd("MSET");
    for (key, value) in entries.entries() {
        command.arg(key).arg(encode(&value, &format!("the value of {key:?}"))?);
    }
    args.handle(state, "", &command)?;
    Ok(Value::from(true))
}

fn expire(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let key = args.key(0, "key")?;
    let millis = args.ttl(1)?;
    let reply = args.handle(state, "", cmd("PEXPIRE").arg(&key).arg(millis))?;
    Ok(Value::from(matches!(reply, redis::Value::Int(1))))
}

fn ttl(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    match args.handle(state, "", cmd("PTTL").arg(&key))? {
        redis::Value::Int(-2) => Ok(Value::null()),
        redis::Value::Int(-1) => Ok(Value::from(-1)),
        redis::Value::Int(millis) => Ok(Value::from(millis as f64 / 1000.0)),
        other => Err(args.bad(0, format!("unexpected reply {other:?}"))),
    }
}

fn persist(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    let reply = args.handle(state, "", cmd("PERSIST").arg(&key))?;
    Ok(Value::from(matches!(reply, redis::Value::Int(1))))
}

/// The most keys `@redis.scan` returns unless told otherwise.
const SCAN_LIMIT: i64 = 10_000;

fn scan(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let pattern = match args.get(0) {
        None => "*".to_string(),
        Some(_) => args.key(0, "pattern")?,
    };
    let limit = args.int(1, "limit", SCAN_LIMIT)?;
    if limit < 1 {
        return Err(args.bad(1, "the limit must be at least 1"));
    }
    let limit = limit as usize;
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let reply =
            args.handle(state, "", cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000))?;
        let redis::Value::Array(mut parts) = reply else {
            return Err(args.bad(0, "unexpected SCAN reply"));
        };
        let batch = parts.pop();
        let next = parts.pop();
        let cursor_text = match next {
            Some(redis::Value::BulkString(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            other => return Err(args.bad(0, format!("unexpected SCAN cursor {other:?}"))),
        };
        cursor = cursor_text.parse().map_err(|_| args.bad(0, format!("unexpected SCAN cursor {cursor_text}")))?;
        if let Some(redis::Value::Array(items)) = batch {
            for item in items {
                keys.push(codec::key_text(item, &|| args.operator.to_string())?);
            }
        }
        if cursor == 0 || keys.len() >= limit || tusk_plugin_sdk::host::is_cancelled() {
            break;
        }
    }
    // SCAN may return a key twice; sorted and unique reads the same every run.
    keys.sort();
    keys.dedup();
    keys.truncate(limit);
    Ok(Value::array(keys.into_iter().map(Value::from).collect()))
}

fn hset(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let key = args.key(0, "key")?;
    let mut command = cmd("HSET");
    command.arg(&key);
    let second = args.required(1, "field")?;
    if let Some(entries) = second.as_object() {
        if args.len() > 2 {
            return Err(args.bad(2, "with an object of fields, no third argument"));
        }
        if entries.is_empty() {
            return Err(args.bad(1, "the object has no fields to set"));
        }
        for (field, value) in entries.entries() {
            command.arg(field).arg(encode(&value, &format!("field {field:?}"))?);
        }
    } else {
        let field = args.key(1, "field")?;
        let text = encode(args.required(2, "value")?, "value")?;
        command.arg(field).arg(text);
    }
    args.run(state, &command)
}

fn hget(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let key = args.key(0, "key")?;
    let field = args.key(1, "field")?;
    args.run(state, cmd("HGET").arg(&key).arg(&field))
}

fn hgetall(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    let reply = args.handle(state, "", cmd("HGETALL").arg(&key))?;
    let what = || format!("{}({key:?})", args.operator);
    match reply {
        redis::Value::Array(items) => {
            let mut entries = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(field), Some(value)) = (items.next(), items.next()) {
                entries.push((codec::key_text(field, &what)?, codec::reply(value, &what)?));
            }
            Ok(Value::object(entries))
        }
        other => codec::reply(other, &what),
    }
}

fn hdel(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let key = args.key(0, "key")?;
    let fields = args.keys(1, "field")?;
    args.run(state, cmd("HDEL").arg(&key).arg(&fields))
}

fn hincr(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let key = args.key(0, "key")?;
    let field = args.key(1, "field")?;
    match args.get(2) {
        Some(value) if value.kind() == Kind::Float => {
            let by = args.number(2, "increment")?;
            args.run(state, cmd("HINCRBYFLOAT").arg(&key).arg(&field).arg(by))
        }
        _ => {
            let by = args.int(2, "increment", 1)?;
            args.run(state, cmd("HINCRBY").arg(&key).arg(&field).arg(by))
        }
    }
}

fn push(state: &State, args: &Args<'_>, name: &str) -> Result<Value, PluginError> {
    let key = args.key(0, "key")?;
    let values = args.values_from(1, "value")?;
    args.run(state, cmd(name).arg(&key).arg(&values))
}

fn lpush(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    push(state, args, "LPUSH")
}

fn rpush(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    push(state, args, "RPUSH")
}

fn lpop(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    args.run(state, cmd("LPOP").arg(&key))
}

fn rpop(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    args.run(state, cmd("RPOP").arg(&key))
}

fn lrange(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let key = args.key(0, "key")?;
    let start = args.int(1, "start", 0)?;
    let stop = args.int(2, "stop", -1)?;
    args.run(state, cmd("LRANGE").arg(&key).arg(start).arg(stop))
}

fn llen(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    args.run(state, cmd("LLEN").arg(&key))
}

fn sadd(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let key = args.key(0, "key")?;
    let members = args.values_from(1, "member")?;
    args.run(state, cmd("SADD").arg(&key).arg(&members))
}

fn srem(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let key = args.key(0, "key")?;
    let members = args.values_from(1, "member")?;
    args.run(state, cmd("SREM").arg(&key).arg(&members))
}

fn smembers(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    let reply = args.handle(state, "", cmd("SMEMBERS").arg(&key))?;
    let mut items = match reply {
        redis::Value::Array(items) | redis::Value::Set(items) => items,
        other => return codec::reply(other, &|| args.operator.to_string()),
    };
    // A set has no order; sorted by stored text, a script reads the same list every run.
    items.sort_by(|a, b| match (a, b) {
        (redis::Value::BulkString(a), redis::Value::BulkString(b)) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    });
    codec::reply(redis::Value::Array(items), &|| args.operator.to_string())
}

fn sismember(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let key = args.key(0, "key")?;
    let member = encode(args.required(1, "member")?, "member")?;
    let reply = args.handle(state, "", cmd("SISMEMBER").arg(&key).arg(member))?;
    Ok(Value::from(matches!(reply, redis::Value::Int(1))))
}

fn scard(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let key = args.key(0, "key")?;
    args.run(state, cmd("SCARD").arg(&key))
}

fn zadd(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let key = args.key(0, "key")?;
    let mut command = cmd("ZADD");
    command.arg(&key);
    let second = args.required(1, "score")?;
    if let Some(entries) = second.as_object() {
        if args.len() > 2 {
            return Err(args.bad(2, "with an object {member: score}, no third argument"));
        }
        if entries.is_empty() {
            return Err(args.bad(1, "the object has no members to add"));
        }
        for (member, score) in entries.entries() {
            let score = score.as_float().filter(|x| x.is_finite()).ok_or_else(|| {
                args.bad(1, format!("the score of {member:?} must be a number, got {}", shown(&score)))
            })?;
            command.arg(score).arg(encode(&Value::from(member), "member")?);
        }
    } else {
        let score = args.number(1, "score")?;
        let member = encode(args.required(2, "member")?, "member")?;
        command.arg(score).arg(member);
    }
    args.run(state, &command)
}

/// Members with scores: `[{member, score}]` from a WITHSCORES reply.
fn with_scores(args: &Args<'_>, reply: redis::Value) -> Result<Value, PluginError> {
    let what = || args.operator.to_string();
    let redis::Value::Array(items) = reply else { return codec::reply(reply, &what) };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(member), Some(score)) = (items.next(), items.next()) {
        let score = match score {
            redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).parse::<f64>().ok(),
            redis::Value::Double(x) => Some(x),
            redis::Value::Int(n) => Some(n as f64),
            _ => None,
        }
        .ok_or_else(|| args.bad(0, "a score in the reply is not a number"))?;
        out.push(Value::object(vec![("member", codec::reply(member, &what)?), ("score", Value::from(score))]));
    }
    Ok(Value::array(out))
}

fn scores_option(args: &Args<'_>, index: usize) -> Result<bool, PluginError> {
    match args.get(index) {
        None => Ok(false),
        Some(value) if value.is_null() => Ok(false),
        Some(value) => {
            let Some(options) = value.as_object() else {
                return Err(args.bad(
                    index,
                    format!("the options must be an object {{scores: true}}, got a {}", value.type_name()),
                ));
            };
            let mut scores = false;
            for (name, option) in options.entries() {
                match name {
                    "scores" => scores = option.is_truthy(),
                    other => return Err(args.bad(index, format!("unknown option `{other}`: use scores"))),
                }
            }
            Ok(scores)
        }
    }
}

fn zrange(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(4)?;
    let key = args.key(0, "key")?;
    let start = args.int(1, "start", 0)?;
    let stop = args.int(2, "stop", -1)?;
    let scores = scores_option(args, 3)?;
    let mut command = cmd("ZRANGE");
    command.arg(&key).arg(start).arg(stop);
    if scores {
        command.arg("WITHSCORES");
        let reply = args.handle(state, "", &command)?;
        return with_scores(args, reply);
    }
    args.run(state, &command)
}

/// A score bound: a number, `"-inf"`/`"+inf"`, or `"(5"` (exclusive) as Redis writes it.
fn bound(args: &Args<'_>, index: usize, name: &str) -> Result<String, PluginError> {
    let value = args.required(index, name)?;
    if let Some(text) = value.as_str() {
        let number = text.strip_prefix('(').unwrap_or(text);
        if matches!(number, "-inf" | "+inf" | "inf") || number.parse::<f64>().is_ok_and(f64::is_finite) {
            return Ok(text.to_string());
        }
        return Err(args.bad(
            index,
            format!("the {name} must be a number, \"-inf\", \"+inf\" or \"(N\" for exclusive, got {text:?}"),
        ));
    }
    Ok(args.number(index, name)?.to_string())
}

fn zrangebyscore(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(4)?;
    let key = args.key(0, "key")?;
    let min = bound(args, 1, "min")?;
    let max = bound(args, 2, "max")?;
    let scores = scores_option(args, 3)?;
    let mut command = cmd("ZRANGEBYSCORE");
    command.arg(&key).arg(min).arg(max);
    if scores {
        command.arg("WITHSCORES");
        let reply = args.handle(state, "", &command)?;
        return with_scores(args, reply);
    }
    args.run(state, &command)
}

fn zscore(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let key = args.key(0, "key")?;
    let member = encode(args.required(1, "member")?, "member")?;
    match args.handle(state, "", cmd("ZSCORE").arg(&key).arg(member))? {
        redis::Value::Nil => Ok(Value::null()),
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes)
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| args.bad(0, "the score in the reply is not a number")),
        redis::Value::Double(x) => Ok(Value::from(x)),
        other => Err(args.bad(0, format!("unexpected reply {other:?}"))),
    }
}

fn zrem(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let key = args.key(0, "key")?;
    let members = args.values_from(1, "member")?;
    args.run(state, cmd("ZREM").arg(&key).arg(&members))
}

fn zincr(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let key = args.key(0, "key")?;
    let member = encode(args.required(1, "member")?, "member")?;
    let by = if args.get(2).is_some() { args.number(2, "increment")? } else { 1.0 };
    match args.handle(state, "", cmd("ZINCRBY").arg(&key).arg(by).arg(member))? {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes)
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| args.bad(0, "the score in the reply is not a number")),
        redis::Value::Double(x) => Ok(Value::from(x)),
        other => Err(args.bad(0, format!("unexpected reply {other:?}"))),
    }
}

/// One command of a pipeline or transaction: `["SET", "k", "v"]`.
fn command_of(args: &Args<'_>, value: &Value, index: usize, position: usize) -> Result<redis::Cmd, PluginError> {
    let Some(parts) = value.as_array() else {
        return Err(args.bad(
            index,
            format!("command {} must be an array [\"NAME\", args…], got a {}", position + 1, value.type_name()),
        ));
    };
    let Some(name) = parts.get(0).and_then(|name| name.as_str().map(str::to_string)) else {
        return Err(args.bad(index, format!("command {} must start with the command's name, a string", position + 1)));
    };
    command_named(args, &name, parts.iter().skip(1), index)
}

fn command_named(
    args: &Args<'_>,
    name: &str,
    parts: impl Iterator<Item = Value>,
    index: usize,
) -> Result<redis::Cmd, PluginError> {
    let upper = name.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "SUBSCRIBE"
            | "PSUBSCRIBE"
            | "SSUBSCRIBE"
            | "MONITOR"
            | "MULTI"
            | "EXEC"
            | "DISCARD"
            | "WATCH"
            | "RESET"
            | "QUIT"
    ) {
        return Err(args
            .bad(index, format!("{upper} changes the state of the pooled connection and cannot be sent this way"))
            .with_help("use @redis.subscribe for SUBSCRIBE, @redis.transaction for MULTI/EXEC"));
    }
    let mut command = cmd(&upper);
    for part in parts {
        command.arg(argument(&part, &format!("an argument of {upper}"))?);
    }
    Ok(command)
}

fn command(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let name = args.key(0, "command")?;
    let command = command_named(args, &name, (1..args.len()).filter_map(|i| args.get(i).cloned()), 0)?;
    args.run(state, &command)
}

/// Sends all `commands` at once and reads every reply, counting them so that a lost
/// connection says how far it got.
fn send_all(connection: &mut redis::Connection, packed: &[u8], count: usize) -> Result<Vec<redis::Value>, Failure> {
    connection.send_packed_command(packed)?;
    let mut replies = Vec::with_capacity(count);
    for _ in 0..count {
        match connection.recv_response() {
            Ok(value) => replies.push(value),
            Err(error) => return Err(Failure { error, replies: replies.len() }),
        }
    }
    Ok(replies)
}

fn commands_of(args: &Args<'_>) -> Result<Vec<redis::Cmd>, PluginError> {
    args.at_most(1)?;
    let list = args.required(0, "commands")?;
    let Some(items) = list.as_array() else {
        return Err(
            args.bad(0, format!("the commands must be an array of [\"NAME\", args…], got a {}", list.type_name()))
        );
    };
    if items.is_empty() {
        return Err(args.bad(0, "the list of commands is empty"));
    }
    items.iter().enumerate().map(|(position, item)| command_of(args, &item, 0, position)).collect()
}

fn pipeline(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let commands = commands_of(args)?;
    let mut packed = Vec::new();
    for command in &commands {
        command.write_packed_command(&mut packed);
    }
    let pool = state.pool()?;
    let replies = pool.run(args.operator, |connection| send_all(connection, &packed, commands.len()))?;
    // Every command ran; the first that failed is the error, naming its place.
    let mut values = Vec::with_capacity(replies.len());
    for (position, reply) in replies.into_iter().enumerate() {
        let what = || format!("{}: command {} ({})", args.operator, position + 1, name_of_command(&commands[position]));
        values.push(codec::reply(reply, &what)?);
    }
    Ok(Value::array(values))
}

fn name_of_command(command: &redis::Cmd) -> String {
    command
        .args_iter()
        .next()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

fn transaction(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let commands = commands_of(args)?;
    let mut packed = Vec::new();
    cmd("MULTI").write_packed_command(&mut packed);
    for command in &commands {
        command.write_packed_command(&mut packed);
    }
    cmd("EXEC").write_packed_command(&mut packed);
    let pool = state.pool()?;
    let mut replies = pool.run(args.operator, |connection| {
        let replies = send_all(connection, &packed, commands.len() + 2)?;
        if !connection.is_open() {
            return Err(Failure {
                error: redis::RedisError::from(std::io::Error::other("closed")),
                replies: replies.len(),
            });
        }
        Ok(replies)
    })?;
    let exec = replies.pop().unwrap_or(redis::Value::Nil);
    // A command refused while queueing (a wrong number of arguments) aborts the whole
    // transaction: EXEC answers EXECABORT and nothing ran.
    for (position, reply) in replies.iter().enumerate().skip(1) {
        if let redis::Value::ServerError(error) = reply {
            return Err(PluginError::message(format!(
                "{}: command {} ({}) was refused, so nothing ran: {error}",
                args.operator,
                position,
                name_of_command(&commands[position - 1])
            )));
        }
    }
    match exec {
        redis::Value::Array(results) => {
            let mut values = Vec::with_capacity(results.len());
            for (position, reply) in results.into_iter().enumerate() {
                let what = || {
                    format!(
                        "{}: command {} ({}) failed; the others ran (Redis does not roll back)",
                        args.operator,
                        position + 1,
                        name_of_command(&commands[position])
                    )
                };
                values.push(codec::reply(reply, &what)?);
            }
            Ok(Value::array(values))
        }
        redis::Value::Nil => Err(PluginError::message(format!("{}: the transaction was aborted", args.operator))),
        other => codec::reply(other, &|| args.operator.to_string()),
    }
}

fn publish(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let channel = args.key(0, "channel")?;
    let message = encode(args.required(1, "message")?, "message")?;
    args.run(state, cmd("PUBLISH").arg(&channel).arg(message))
}

/// The channels (or patterns) of argument 0: one name, or an array of them.
fn names(args: &Args<'_>, what: &str) -> Result<Vec<String>, PluginError> {
    let first = args.required(0, what)?;
    let names = match first.as_array() {
        Some(array) => array
            .iter()
            .map(|item| {
                name_of(&item)
                    .ok_or_else(|| args.bad(0, format!("each {what} must be a string, got a {}", item.type_name())))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![args.key(0, what)?],
    };
    if names.is_empty() {
        return Err(args.bad(0, format!("at least one {what} is needed")));
    }
    Ok(names)
}

/// `@redis.subscribe(channels, handler)` / `@redis.psubscribe(patterns, handler)`.
fn subscribe_handler(state: &State, args: &Args<'_>, target: Target, names: &[String]) -> Result<Value, PluginError> {
    let handler =
        RetainedFunction::new(args.required(1, "handler")?).map_err(|error| args.bad(1, error.message_text()))?;
    let pool = state.pool()?;
    let count = state.listener.subscribe(&pool, target, names, &handler, args.operator)?;
    Ok(Value::from(count as i64))
}

fn subscribe(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let channels = names(args, "channel")?;
    let timeout = match args.get(1) {
        None => Duration::ZERO,
        Some(value) if value.kind() == Kind::Function => {
            return subscribe_handler(state, args, Target::Channel, &channels);
        }
        Some(value) => match value.as_float() {
            Some(seconds) if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) => {
                Duration::from_secs_f64(seconds)
            }
            _ => {
                return Err(args
                    .bad(1, "the timeout must be a number of seconds between 0 and 86400")
                    .with_help("or pass a handler function: m => … is called with {channel, message}"));
            }
        },
    };
    let pool = state.pool()?;
    let messages = state.subscriber.receive(&pool, &channels, timeout)?;
    let mut values = Vec::with_capacity(messages.len());
    for message in messages {
        let what = || format!("{}: a message on {:?}", args.operator, message.channel);
        let payload = codec::decode_bytes(&message.payload, &what)?;
        values.push(Value::object(vec![("channel", Value::from(message.channel.as_str())), ("message", payload)]));
    }
    Ok(Value::array(values))
}

fn psubscribe(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let patterns = names(args, "pattern")?;
    match args.get(1) {
        Some(value) if value.kind() == Kind::Function => subscribe_handler(state, args, Target::Pattern, &patterns),
        Some(value) => Err(args.bad(1, format!("the handler must be a function, got a {}", value.type_name()))),
        None => {
            Err(PluginError::missing_argument(format!("handler (argument {} of {})", args.offset + 2, args.operator))
                .with_help("m => … is called with {channel, pattern, message}"))
        }
    }
}

fn unsubscribe_from(state: &State, args: &Args<'_>, target: Target, what: &str) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let names = if args.len() == 0 { None } else { Some(names(args, what)?) };
    Ok(Value::from(state.listener.unsubscribe(target, names.as_deref()) as i64))
}

fn unsubscribe(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    unsubscribe_from(state, args, Target::Channel, "channel")
}

fn punsubscribe(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    unsubscribe_from(state, args, Target::Pattern, "pattern")
}

fn subscriptions(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    Ok(state.listener.status())
}

fn cache_get(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let key = args.key(0, "key")?;
    let value = args.run(state, cmd("GET").arg(&key))?;
    match args.get(1) {
        Some(default) if value.is_null() => Ok(default.clone()),
        _ => Ok(value),
    }
}

fn cache_set(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let key = args.key(0, "key")?;
    let value = args.required(1, "value")?;
    let text = encode(value, "value")?;
    let mut command = cmd("SET");
    command.arg(&key).arg(text);
    if let Some(ttl) = args.get(2)
        && !ttl.is_null()
    {
        command.arg("PX").arg(args.ttl(2)?);
    }
    args.handle(state, "", &command)?;
    Ok(value.clone())
}

/// Every operation: name (after `redis.`), signature, summary, implementation.
const OPERATIONS: &[(&str, &str, &str, Operation)] = &[
    ("get", "@redis.get(key)", "The key's value (read back as stored: see the README's value rule), or null.", get),
    (
        "set",
        "@redis.set(key, value[, ttl | {ttl, nx, xx}])",
        "Stores the value, with an expiry (seconds or \"5m\") if given; true, or false when nx/xx kept it from being written.",
        set,
    ),
    ("del", "@redis.del(key, …)", "Deletes keys; how many existed.", del),
    ("exists", "@redis.exists(key)", "Whether the key exists.", exists),
    ("incr", "@redis.incr(key[, by])", "Adds 1 (or `by`, an integer or a float) to a number and returns it.", incr),
    ("decr", "@redis.decr(key[, by])", "Subtracts 1 (or `by`) from a number and returns it.", decr),
    ("mget", "@redis.mget(keys)", "The values of several keys (null for missing ones).", mget),
    ("mset", "@redis.mset({key: value, …})", "Stores several keys at once.", mset),
    (
        "expire",
        "@redis.expire(key, ttl)",
        "Sets the key's expiry (seconds or \"5m\"); false when the key does not exist.",
        expire,
    ),
    (
        "ttl",
        "@redis.ttl(key)",
        "Seconds until the key expires (fractional), -1 for a key without expiry, null for a missing key.",
        ttl,
    ),
    ("persist", "@redis.persist(key)", "Removes the key's expiry; whether it had one.", persist),
    (
        "scan",
        "@redis.scan([pattern[, limit]])",
        "The keys matching a glob pattern (SCAN, never KEYS), sorted, at most `limit` (10000).",
        scan,
    ),
    (
        "hset",
        "@redis.hset(key, field, value) or (key, {field: value, …})",
        "Sets hash fields; how many were new.",
        hset,
    ),
    ("hget", "@redis.hget(key, field)", "A hash field's value, or null.", hget),
    ("hgetall", "@redis.hgetall(key)", "The whole hash as an object ({} when missing).", hgetall),
    ("hdel", "@redis.hdel(key, field, …)", "Deletes hash fields; how many existed.", hdel),
    ("hincr", "@redis.hincr(key, field[, by])", "Adds to a hash field's number and returns it.", hincr),
    ("lpush", "@redis.lpush(key, value, …)", "Pushes values at the head of a list; its new length.", lpush),
    ("rpush", "@redis.rpush(key, value, …)", "Pushes values at the tail of a list; its new length.", rpush),
    ("lpop", "@redis.lpop(key)", "Removes and returns the list's first value (null when empty).", lpop),
    ("rpop", "@redis.rpop(key)", "Removes and returns the list's last value (null when empty).", rpop),
    (
        "lrange",
        "@redis.lrange(key[, start[, stop]])",
        "The list's values from start to stop, both included (default: all; negative counts from the end).",
        lrange,
    ),
    ("llen", "@redis.llen(key)", "The list's length.", llen),
    ("sadd", "@redis.sadd(key, member, …)", "Adds members to a set; how many were new.", sadd),
    ("srem", "@redis.srem(key, member, …)", "Removes members from a set; how many were there.", srem),
    ("smembers", "@redis.smembers(key)", "The set's members, sorted by their stored text.", smembers),
    ("sismember", "@redis.sismember(key, member)", "Whether the member is in the set.", sismember),
    ("scard", "@redis.scard(key)", "How many members the set has.", scard),
    (
        "zadd",
        "@redis.zadd(key, score, member) or (key, {member: score, …})",
        "Adds members with scores to a sorted set; how many were new.",
        zadd,
    ),
    (
        "zrange",
        "@redis.zrange(key[, start[, stop[, {scores: true}]]])",
        "Members by rank (default: all), or [{member, score}] with scores.",
        zrange,
    ),
    (
        "zrangebyscore",
        "@redis.zrangebyscore(key, min, max[, {scores: true}])",
        "Members with scores between min and max (numbers, \"-inf\", \"+inf\", \"(5\" exclusive).",
        zrangebyscore,
    ),
    ("zscore", "@redis.zscore(key, member)", "The member's score, or null.", zscore),
    ("zrem", "@redis.zrem(key, member, …)", "Removes members from a sorted set; how many were there.", zrem),
    ("zincr", "@redis.zincr(key, member[, by])", "Adds to a member's score and returns the new score.", zincr),
    (
        "pipeline",
        "@redis.pipeline([[\"NAME\", args…], …])",
        "Sends the commands in one round trip; their replies in order.",
        pipeline,
    ),
    (
        "transaction",
        "@redis.transaction([[\"NAME\", args…], …])",
        "Runs the commands in MULTI/EXEC, all together; their replies in order.",
        transaction,
    ),
    ("command", "@redis.command(name, args…)", "Any other Redis command; its reply.", command),
    ("publish", "@redis.publish(channel, message)", "Publishes a message; how many subscribers received it.", publish),
    (
        "subscribe",
        "@redis.subscribe(channel | [channels], handler | timeout)",
        "With a handler: calls it with {channel, message} for every message, from the event loop (tusk keeps running while subscribed), and returns how many channels and patterns have handlers. With a timeout: waits up to `timeout` seconds and returns [{channel, message}], or [] at the timeout.",
        subscribe,
    ),
    (
        "psubscribe",
        "@redis.psubscribe(pattern | [patterns], handler)",
        "Calls the handler with {channel, pattern, message} for every message on a channel matching a glob pattern, from the event loop; how many channels and patterns have handlers.",
        psubscribe,
    ),
    (
        "unsubscribe",
        "@redis.unsubscribe([channel | [channels]])",
        "Removes the handlers of these channels (of every channel without an argument); how many channels and patterns still have handlers (at 0 tusk may exit).",
        unsubscribe,
    ),
    (
        "punsubscribe",
        "@redis.punsubscribe([pattern | [patterns]])",
        "Removes the handlers of these patterns (of every pattern without an argument); how many channels and patterns still have handlers.",
        punsubscribe,
    ),
    (
        "subscriptions",
        "@redis.subscriptions()",
        "The handler subscriptions: {channels, patterns, connected, client_id, reconnects, received, handler_errors, last_error}.",
        subscriptions,
    ),
];

/// `@redis(operation, …)`: the seed's form of every operation.
fn dispatch(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let operation = args.required(0, "operation")?;
    let name = operation.as_str().ok_or_else(|| {
        PluginError::message(format!("@redis: the operation must be a string, got a {}", operation.type_name()))
            .at_argument(0)
    })?;
    let Some((_, _, _, run)) = OPERATIONS.iter().find(|(known, ..)| known.eq_ignore_ascii_case(name)) else {
        let known: Vec<&str> = OPERATIONS.iter().map(|(known, ..)| *known).collect();
        return Err(PluginError::invalid_operation(format!("@redis has no operation `{name}`"))
            .with_help(format!("use one of {}", known.join(", "))));
    };
    run(state, &Args { values: args.values, offset: 1, operator: &format!("@redis(\"{name}\")") })
}

/// Registers every operator and function (the manifest's `[capabilities]` lists exactly these).
pub(crate) fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    let dispatch_state = state.clone();
    context.register_operator_with(
        "redis",
        SymbolDoc {
            signature: "@redis(operation, …)".into(),
            summary: "Runs one operation by name: @redis(\"get\", key), @redis(\"set\", key, value), and every @redis.OPERATION.".into(),
            side_effects: true,
            examples: vec![
                r#"[@redis("set", "tusk:example:greeting", "hello", 60), @redis("get", "tusk:example:greeting")] => [true, "hello"]"#.into(),
            ],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| dispatch(&dispatch_state, &Args { values: args, offset: 0, operator: "@redis" }),
    )?;
    for (name, signature, summary, run) in OPERATIONS {
        let state = state.clone();
        let operator = format!("@redis.{name}");
        let run = *run;
        context.register_operator_with(
            &format!("redis.{name}"),
            SymbolDoc {
                signature: (*signature).into(),
                summary: (*summary).into(),
                side_effects: true,
                ..SymbolDoc::default()
            },
            move |args: &[Value]| run(&state, &Args { values: args, offset: 0, operator: &operator }),
        )?;
    }
    let get_state = state.clone();
    context.register_function_with(
        "cache_get",
        SymbolDoc {
            signature: "cache_get(key[, default])".into(),
            summary: "The cached value of a key in Redis, or `default` (null) when it is missing or expired.".into(),
            side_effects: true,
            examples: vec![
                r#"[cache_set("tusk:example:answer", {n: 42}, "1m"), cache_get("tusk:example:answer")] => [{"n": 42}, {"n": 42}]"#.into(),
            ],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| cache_get(&get_state, &Args { values: args, offset: 0, operator: "cache_get" }),
    )?;
    let set_state = state.clone();
    context.register_function_with(
        "cache_set",
        SymbolDoc {
            signature: "cache_set(key, value[, ttl])".into(),
            summary: "Caches a value in Redis, expiring after `ttl` (seconds or \"5m\") if given; returns the value."
                .into(),
            side_effects: true,
            examples: vec![r#"cache_set("tusk:example:list", [1, "two"], 60) => [1, "two"]"#.into()],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| cache_set(&set_state, &Args { values: args, offset: 0, operator: "cache_set" }),
    )?;
    Ok(())
}
