//! `@every(interval, fn)`, `@after(delay, fn)` and `@cancel(timer)`: timers on the event loop.
//!
//! A timer is a service: the script keeps running (after its document is built) while one is
//! pending. Its function runs on the interpreter's thread, between other handlers; it gets the
//! timer's handle when it takes an argument (so it can cancel itself). An error in it is
//! reported with its location and the timer keeps running.

use std::rc::Rc;

use crate::context::{arg_function, expect_arity};
use crate::error::RuntimeError;
use crate::events::TimerHandle;
use crate::registry::SymbolSpec;
use crate::value::{Foreign, Value};

fn duration(value: &Value, what: &str) -> Result<std::time::Duration, RuntimeError> {
    super::cache::parse_ttl(value).map_err(|message| RuntimeError::argument(0, message.replace("the TTL", what)))
}

fn start(ctx: &mut crate::CallContext<'_, '_>, args: &[Value], repeat: bool) -> Result<Value, RuntimeError> {
    let name = if repeat { "@every" } else { "@after" };
    expect_arity(name, args, 2, 2)?;
    let delay = duration(&args[0], if repeat { "the interval" } else { "the delay" })?;
    if repeat && delay.is_zero() {
        return Err(RuntimeError::argument(0, "the interval must be longer than zero"));
    }
    let function = arg_function(args, 1)?.clone();
    let site = ctx.call_site();
    let events = ctx.runtime().events();
    let id = events.timer_id();
    let handle = Value::Foreign(Rc::new(Foreign { type_name: Rc::from("timer"), data: Box::new(TimerHandle { id }) }));
    events.add_timer(site, delay, repeat.then_some(delay), function, handle.clone());
    Ok(handle)
}

pub(super) fn every() -> SymbolSpec {
    SymbolSpec::operator("every", |ctx, args| start(ctx, args, true))
        .side_effects()
        .signature("@every(interval, fn)")
        .summary(
            "Calls `fn` every `interval` (`\"10s\"`, `\"250ms\"`, or seconds) once the script is evaluated, until \
             cancelled; returns the timer, which `fn` gets if it takes an argument.",
        )
}

pub(super) fn after() -> SymbolSpec {
    SymbolSpec::operator("after", |ctx, args| start(ctx, args, false))
        .side_effects()
        .signature("@after(delay, fn)")
        .summary(
            "Calls `fn` once, `delay` (`\"1s\"`, or seconds) after now, unless cancelled first; returns the timer.",
        )
}

pub(super) fn cancel() -> SymbolSpec {
    SymbolSpec::operator("cancel", |ctx, args| {
        expect_arity("@cancel", args, 1, 1)?;
        let id = match &args[0] {
            Value::Foreign(handle) => handle.data.downcast_ref::<TimerHandle>().map(|timer| timer.id),
            _ => None,
        };
        let Some(id) = id else {
            return Err(RuntimeError::argument(
                0,
                format!("argument 1 must be a timer (from @every or @after), not {}", args[0].type_name()),
            ));
        };
        Ok(Value::Bool(ctx.runtime().events().cancel_timer(id)))
    })
    .side_effects()
    .signature("@cancel(timer)")
    .summary("Stops a timer from `@every` or `@after`; true if it was still pending.")
}
