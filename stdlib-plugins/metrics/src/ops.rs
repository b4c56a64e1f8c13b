//! The operators and functions: argument reading and registration. The work is in `store`,
//! `aggregate`, `exposition`, `push`, `alert` and `service`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use smallvec::SmallVec;

use tusk_plugin_sdk::{
    Kind as ValueKind, OwnedValue, PluginContext, PluginError, RetainedFunction, ServiceGuard, SymbolDoc, Value,
};

use crate::State;
use crate::aggregate;
use crate::alert;
use crate::config::check_grant;
use crate::exposition;
use crate::http;
use crate::store::{Kind, LabelSet, Labels, check_label_name};

/// The arguments of one call, with the spelling of the symbol for messages.
struct Args<'a> {
    values: &'a [Value],
    symbol: &'static str,
}

// The readers of the hot arguments are inlined into each handler, their errors made out of
// line (`ok_or_else`): an increment reads a name, perhaps a number, and usually no labels.
impl Args<'_> {
    #[inline]
    fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.values.len() > count {
            return Err(self.too_many(count));
        }
        Ok(())
    }

    #[cold]
    fn too_many(&self, count: usize) -> PluginError {
        PluginError::message(format!("{} takes at most {count} arguments, got {}", self.symbol, self.values.len()))
            .at_argument(count)
    }

    #[inline]
    fn required(&self, index: usize, what: &str) -> Result<&Value, PluginError> {
        self.values
            .get(index)
            .ok_or_else(|| PluginError::missing_argument(format!("{what} (argument {} of {})", index + 1, self.symbol)))
    }

    #[inline]
    fn string(&self, index: usize, what: &str) -> Result<&str, PluginError> {
        let value = self.required(index, what)?;
        value.as_str().ok_or_else(|| {
            PluginError::message(format!("the {what} must be a string, got {}", value.type_name())).at_argument(index)
        })
    }

    #[inline]
    fn number(&self, index: usize, what: &str) -> Result<f64, PluginError> {
        let value = self.required(index, what)?;
        value.as_float().ok_or_else(|| {
            PluginError::message(format!("the {what} must be a number, got {}", value.type_name())).at_argument(index)
        })
    }

    /// A number, or `default` when the argument is absent or null.
    #[inline]
    fn number_or(&self, index: usize, what: &str, default: f64) -> Result<f64, PluginError> {
        match self.values.get(index) {
            None => Ok(default),
            Some(value) if value.is_null() => Ok(default),
            Some(_) => self.number(index, what),
        }
    }

    fn seconds(&self, index: usize) -> Result<Duration, PluginError> {
        let seconds = self.number(index, "window (seconds)")?;
        if seconds > 0.0 && seconds < 1e9 {
            Ok(Duration::from_secs_f64(seconds))
        } else {
            Err(PluginError::message(format!("the window must be a number of seconds > 0, got {seconds}"))
                .at_argument(index))
        }
    }

    /// The labels object at `index` (absent or null: none), sorted by name, as the call
    /// gives them: nothing is allocated to find a series that exists.
    #[inline]
    fn labels(&self, index: usize) -> Result<CallLabels<'_>, PluginError> {
        match self.values.get(index) {
            None => Ok(CallLabels::default()),
            Some(value) if value.is_null() => Ok(CallLabels::default()),
            Some(value) => self.call_labels(index, value),
        }
    }

    fn call_labels<'a>(&self, index: usize, value: &'a Value) -> Result<CallLabels<'a>, PluginError> {
        let object = value.as_object().ok_or_else(|| not_labels(index, value))?;
        let mut labels = CallLabels::default();
        for (name, value) in object.entries() {
            check_label_name(name).map_err(|error| error.at_argument(index))?;
            let text = match value.kind() {
                ValueKind::String => LabelText::String(value),
                ValueKind::Int => LabelText::Int(IntText::new(value.as_int().unwrap_or_default())),
                ValueKind::Float => LabelText::Written(value.as_float().unwrap_or_default().to_string()),
                ValueKind::Bool => LabelText::Bool(value.as_bool().unwrap_or_default()),
                _ => return Err(not_a_label_value(index, name, &value)),
            };
            labels.0.push((name, text));
        }
        // An object's keys differ, so the order by name is the order of `Labels`' sort.
        labels.0.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Ok(labels)
    }

    /// The labels object at `index`, or `None` when absent or null (every series).
    fn optional_labels(&self, index: usize) -> Result<Option<Labels>, PluginError> {
        let Some(value) = self.values.get(index) else { return Ok(None) };
        if value.is_null() {
            return Ok(None);
        }
        Ok(Some(self.call_labels(index, value)?.to_labels().into_owned()))
    }
}

#[cold]
fn not_labels(index: usize, value: &Value) -> PluginError {
    PluginError::message(format!("the labels must be an object ({{method: \"GET\"}}), got {}", value.type_name()))
        .at_argument(index)
}

#[cold]
fn not_a_label_value(index: usize, name: &str, value: &Value) -> PluginError {
    PluginError::message(format!("the label `{name}` must be a string, number or bool, got {}", value.type_name()))
        .at_argument(index)
}

/// A call's labels, borrowed from its labels object, sorted by name: the store compares them
/// with the labels of the series it remembers and keeps them (`to_labels`) only for a new one.
#[derive(Default)]
struct CallLabels<'a>(SmallVec<[(&'a str, LabelText); 4]>);

/// A label's value as the text a series keeps: a string as the script's value holds it, a
/// whole number written out here, a float written as `f64`'s `Display` does.
enum LabelText {
    String(Value),
    Int(IntText),
    Bool(bool),
    Written(String),
}

impl LabelText {
    #[inline]
    fn as_str(&self) -> &str {
        match self {
            LabelText::String(value) => value.as_str().unwrap_or_default(),
            LabelText::Int(int) => int.as_str(),
            LabelText::Bool(true) => "true",
            LabelText::Bool(false) => "false",
            LabelText::Written(text) => text,
        }
    }
}

/// An `i64` in decimal (as its `Display` writes it), without the formatting machinery.
struct IntText {
    digits: [u8; 20],
    start: u8,
}

impl IntText {
    fn new(value: i64) -> IntText {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = value.unsigned_abs();
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if value < 0 {
            start -= 1;
            digits[start] = b'-';
        }
        IntText { digits, start: start as u8 }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[usize::from(self.start)..]).unwrap_or_default()
    }
}

impl LabelSet for CallLabels<'_> {
    #[inline]
    fn count(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn pair(&self, index: usize) -> (&str, &str) {
        let (name, text) = &self.0[index];
        (name, text.as_str())
    }

    fn to_labels(&self) -> Cow<'_, Labels> {
        Cow::Owned(self.0.iter().map(|(name, text)| (name.to_string(), text.as_str().to_string())).collect())
    }
}

/// A number as a script value: whole numbers as integers (counters count), others as floats.
/// Whole is tested by a round trip through `i64` rather than `fract`, which is a call into the
/// C library's `trunc` on targets without SSE 4.1 (every increment returns through here).
fn number_value(value: f64) -> Value {
    // The range first: within it the conversion needs none of the saturating checks of `as`.
    if value.abs() < 9.0e15 {
        let whole = value as i64;
        if whole as f64 == value {
            return Value::from(whole);
        }
    }
    Value::from(value)
}

fn optional_number(value: Option<f64>) -> Value {
    value.filter(|value| !value.is_nan()).map(number_value).unwrap_or_else(Value::null)
}

/// JSON made by the plugin as a script value.
fn json_value(json: serde_json::Value) -> Result<Value, PluginError> {
    let owned: OwnedValue = serde_json::from_value(json).map_err(|error| PluginError::message(error.to_string()))?;
    Ok(owned.into_value())
}

/// Registers one symbol with its handler (a function item, see `register_with`).
type Register = fn(&PluginContext, &Arc<State>, &'static Symbol) -> Result<(), PluginError>;

/// The `Register` of a handler: a closure that names the handler itself, so that each symbol
/// is registered with a closure type of its own rather than one `fn` pointer type, inlined
/// into the symbol's entry (`symbol_call`).
macro_rules! handled_by {
    ($handler:ident) => {
        |context, state, symbol| {
            register_with(
                context,
                state,
                symbol,
                #[inline(always)]
                |state: &State, args: &Args<'_>| $handler(state, args),
            )
        }
    };
}

struct Symbol {
    /// As written: `@metrics.counter` (an operator) or `increment_counter` (a function).
    written: &'static str,
    signature: &'static str,
    summary: &'static str,
    examples: &'static [&'static str],
    side_effects: bool,
    register: Register,
}

const SYMBOLS: &[Symbol] = &[
    Symbol {
        written: "@metrics",
        signature: "@metrics(metric_type, metric_name, value[, labels])",
        summary: "Records `value` in the metric: a counter increases by it (returns the new total), a gauge is set to it (returns it), a histogram or summary observes it (returns null). The types are counter, gauge, histogram and summary.",
        examples: &[
            r#"@metrics("counter", "example_requests", 2, {method: "GET"}) => 2"#,
            r#"@metrics("histogram", "example_latency_seconds", 0.25) => null"#,
        ],
        side_effects: true,
        register: handled_by!(metrics),
    },
    Symbol {
        written: "increment_counter",
        signature: "increment_counter(name[, by[, labels]])",
        summary: "Adds `by` (default 1, never negative) to a counter; returns the new total.",
        examples: &[r#"increment_counter("example_jobs") => 1"#],
        side_effects: true,
        register: handled_by!(counter),
    },
    Symbol {
        written: "record_histogram",
        signature: "record_histogram(name, value[, labels])",
        summary: "Observes `value` in a histogram (buckets from its declaration or the configuration's `buckets`).",
        examples: &[r#"record_histogram("example_sizes", 512) => null"#],
        side_effects: true,
        register: handled_by!(histogram),
    },
    Symbol {
        written: "@metrics.counter",
        signature: "@metrics.counter(name[, by[, labels]])",
        summary: "Adds `by` (default 1, never negative) to a counter; returns the new total. `name_total` and `name` are the same counter.",
        examples: &[r#"@metrics.counter("example_hits", 3, {page: "/"}) => 3"#],
        side_effects: true,
        register: handled_by!(counter),
    },
    Symbol {
        written: "@metrics.gauge",
        signature: "@metrics.gauge(name, value[, labels])",
        summary: "Sets a gauge; returns the value.",
        examples: &[r#"@metrics.gauge("example_queue_depth", 7) => 7"#],
        side_effects: true,
        register: handled_by!(gauge),
    },
    Symbol {
        written: "@metrics.gauge_add",
        signature: "@metrics.gauge_add(name, delta[, labels])",
        summary: "Adds `delta` (negative to decrease) to a gauge; returns the new value.",
        examples: &[r#"@metrics.gauge_add("example_in_flight", -1) => -1"#],
        side_effects: true,
        register: handled_by!(gauge_add),
    },
    Symbol {
        written: "@metrics.histogram",
        signature: "@metrics.histogram(name, value[, labels])",
        summary: "Observes `value` in a histogram.",
        examples: &[r#"@metrics.histogram("example_response_seconds", 0.3) => null"#],
        side_effects: true,
        register: handled_by!(histogram),
    },
    Symbol {
        written: "@metrics.summary",
        signature: "@metrics.summary(name, value[, labels])",
        summary: "Observes `value` in a summary, which reports the configured quantiles over its recent observations.",
        examples: &[r#"@metrics.summary("example_payload_bytes", 1200) => null"#],
        side_effects: true,
        register: handled_by!(summary),
    },
    Symbol {
        written: "@metrics.describe",
        signature: "@metrics.describe(name, metric_type, help[, {buckets}])",
        summary: "Declares a metric with its help text (and a histogram's bucket bounds) before it is first used; returns the name.",
        examples: &[
            r#"@metrics.describe("example_db_seconds", "histogram", "Query time.", {buckets: [0.01, 0.1, 1]}) => "example_db_seconds""#,
        ],
        side_effects: true,
        register: handled_by!(describe),
    },
    Symbol {
        written: "@metrics.value",
        signature: "@metrics.value(name[, labels])",
        summary: "A counter's or gauge's value, a histogram's or summary's observation count; without labels, summed over every series; null for no such series.",
        examples: &[],
        side_effects: false,
        register: handled_by!(value),
    },
    Symbol {
        written: "@metrics.rate",
        signature: "@metrics.rate(name, window_seconds[, labels])",
        summary: "The per-second increase over the last `window_seconds` (counters; observation counts of histograms and summaries), from values sampled every `sample_interval`; without labels, summed over every series.",
        examples: &[],
        side_effects: false,
        register: handled_by!(rate),
    },
    Symbol {
        written: "@metrics.window",
        signature: "@metrics.window(name, window_seconds[, labels])",
        summary: "{min, max, avg, last, samples} of the values sampled over the last `window_seconds` and the current one.",
        examples: &[],
        side_effects: false,
        register: handled_by!(window),
    },
    Symbol {
        written: "@metrics.quantile",
        signature: "@metrics.quantile(name, q[, labels])",
        summary: "The `q` quantile (0 to 1) of a histogram (estimated from its buckets, as histogram_quantile does) or a summary (exact, over its recent observations); null without observations.",
        examples: &[],
        side_effects: false,
        register: handled_by!(quantile),
    },
    Symbol {
        written: "@metrics.text",
        signature: "@metrics.text()",
        summary: "Every metric as OpenMetrics text (what /metrics serves), for an http route to return.",
        examples: &[],
        side_effects: false,
        register: handled_by!(text),
    },
    Symbol {
        written: "@metrics.serve",
        signature: "@metrics.serve([address])",
        summary: "Serves /metrics on a listener of its own (default 127.0.0.1:9464; port 0 picks one), keeping tusk running (a service) until it is stopped; returns the address. Addresses other than loopback need --allow-net for them.",
        examples: &[],
        side_effects: true,
        register: handled_by!(serve),
    },
    Symbol {
        written: "@metrics.push",
        signature: "@metrics.push()",
        summary: "Pushes to the configured InfluxDB and DogStatsD targets now; returns {influxdb, dogstatsd} with the lines sent to each.",
        examples: &[],
        side_effects: true,
        register: handled_by!(push),
    },
    Symbol {
        written: "@metrics.push_status",
        signature: "@metrics.push_status()",
        summary: "For each configured target: {pushes, failures, last_error}.",
        examples: &[],
        side_effects: false,
        register: handled_by!(push_status),
    },
    Symbol {
        written: "@metrics.alert",
        signature: "@metrics.alert({name, metric, labels, rate|avg|min|max|quantile, above|below|condition, clear, every, webhook, action})",
        summary: "Adds an alerting rule checked every `every` seconds (default 10) in the background: it fires when the measured value goes above (below) the threshold, or when `condition: v => …` returns true, and resolves once the value is back below (above) `clear` (or `clear: v => …` returns true, or the condition false), POSTing JSON to `webhook` and calling `action: e => …` with it each time. Script functions run through the event loop, which keeps running while such a rule exists. Returns the rule's condition.",
        examples: &[],
        side_effects: true,
        register: handled_by!(add_alert),
    },
    Symbol {
        written: "@metrics.alerts",
        signature: "@metrics.alerts()",
        summary: "Every rule with its state: [{name, condition, state, value, checks, fired, last_error}].",
        examples: &[],
        side_effects: false,
        register: handled_by!(alerts),
    },
    Symbol {
        written: "@metrics.remove_alert",
        signature: "@metrics.remove_alert(name)",
        summary: "Removes a rule; whether there was one. The last rule with script functions ends the service that keeps tusk running.",
        examples: &[],
        side_effects: true,
        register: handled_by!(remove_alert),
    },
    Symbol {
        written: "@metrics.response",
        signature: "@metrics.response()",
        summary: "The exposition as an http route's response: {status: 200, headers: {content-type}, body: the OpenMetrics text}.",
        examples: &[],
        side_effects: false,
        register: handled_by!(response),
    },
    Symbol {
        written: "@metrics.check_alerts",
        signature: "@metrics.check_alerts()",
        summary: "Checks every rule now (sending its webhooks) and returns the states, as @metrics.alerts() does.",
        examples: &[],
        side_effects: true,
        register: handled_by!(check_alerts),
    },
];

/// Registers every symbol of the plugin.
pub fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    for symbol in SYMBOLS {
        (symbol.register)(context, state, symbol)?;
    }
    Ok(())
}

/// Registers `symbol`, handled by `handler`. The handler is a closure of its own type (no
/// pointer), so each symbol's closure is a type of its own too, and the SDK's entry made for
/// it calls the handler directly, inlined, instead of through a `fn` pointer shared by every
/// symbol (a call and a frame less on every increment).
fn register_with<H>(
    context: &PluginContext,
    state: &Arc<State>,
    symbol: &'static Symbol,
    handler: H,
) -> Result<(), PluginError>
where
    H: Fn(&State, &Args<'_>) -> Result<Value, PluginError> + Send + Sync + 'static,
{
    let doc = SymbolDoc {
        signature: symbol.signature.to_string(),
        summary: symbol.summary.to_string(),
        examples: symbol.examples.iter().map(|example| example.to_string()).collect(),
        side_effects: symbol.side_effects,
        ..SymbolDoc::default()
    };
    let call = symbol_call(state.clone(), symbol.written, handler);
    match symbol.written.strip_prefix('@') {
        Some(name) => context.register_operator_with(name, doc, call),
        None => context.register_function_with(symbol.written, doc, call),
    }
}

/// The closure registered for a symbol, inlined into the SDK's entry for it (the entry's call
/// of a separate closure was a frame of six saved registers on every increment).
fn symbol_call<H>(
    state: Arc<State>,
    written: &'static str,
    handler: H,
) -> impl Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + 'static
where
    H: Fn(&State, &Args<'_>) -> Result<Value, PluginError> + Send + Sync + 'static,
{
    #[inline(always)]
    move |values: &[Value]| handler(&state, &Args { values, symbol: written })
}

#[inline(always)]
fn metrics(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    // The seed's commonest form, `(type, name, value)` without labels, read without the
    // general readers (as `counter`'s).
    if let [kind, name, value] = args.values
        && let (Some(kind), Some(name), Some(value)) =
            (kind.as_str().and_then(Kind::parse), name.as_str(), value.as_float())
    {
        return record(state, kind, name, value, &Labels::new());
    }
    metrics_in_general(state, args)
}

#[inline(never)]
fn metrics_in_general(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(4)?;
    let kind_name = args.string(0, "metric type")?;
    let kind = Kind::parse(kind_name).ok_or_else(|| {
        PluginError::invalid_metric_type(format!("`{kind_name}`; the types are {}", Kind::NAMES)).at_argument(0)
    })?;
    let name = args.string(1, "metric name")?;
    let labels = args.labels(3)?;
    let value = match kind {
        Kind::Counter => args.number_or(2, "value", 1.0)?,
        _ => args.number(2, "value")?,
    };
    record(state, kind, name, value, &labels)
}

/// `@metrics(type, name, value, labels)`'s work: a counter increases by `value`, a gauge is
/// set to it, a histogram or summary observes it.
#[inline(always)]
fn record<L: LabelSet + ?Sized>(
    state: &State,
    kind: Kind,
    name: &str,
    value: f64,
    labels: &L,
) -> Result<Value, PluginError> {
    let store = &state.store;
    Ok(match kind {
        Kind::Counter => number_value(store.increment(name, value, labels)?),
        Kind::Gauge => number_value(store.gauge_set(name, value, labels)?),
        Kind::Histogram | Kind::Summary => {
            store.observe(name, kind, value, labels)?;
            Value::null()
        }
    })
}

// The commonest forms of the hot handlers are read inline (into the symbol's entry), the
// others out of line, so that the entry's common path keeps a small frame.
#[inline(always)]
fn counter(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    // The commonest increment, `@metrics.counter(name)`: by one, no labels, read without the
    // general readers (their calls and checks were a third of the handler's own work).
    if let [only] = args.values
        && let Some(name) = only.as_str()
    {
        return Ok(number_value(
            state.store.increment(name, 1.0, &Labels::new()).map_err(|error| error.at_argument(1))?,
        ));
    }
    counter_in_general(state, args)
}

#[inline(never)]
fn counter_in_general(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let name = args.string(0, "metric name")?;
    let by = args.number_or(1, "increment", 1.0)?;
    let labels = args.labels(2)?;
    Ok(number_value(state.store.increment(name, by, &labels).map_err(|error| error.at_argument(1))?))
}

fn gauge(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let name = args.string(0, "metric name")?;
    let value = args.number(1, "value")?;
    Ok(number_value(state.store.gauge_set(name, value, &args.labels(2)?)?))
}

fn gauge_add(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let name = args.string(0, "metric name")?;
    let delta = args.number(1, "delta")?;
    Ok(number_value(state.store.gauge_add(name, delta, &args.labels(2)?)?))
}

#[inline(always)]
fn observe(state: &State, args: &Args<'_>, kind: Kind) -> Result<Value, PluginError> {
    // The commonest observation, `(name, value)` without labels, read without the general
    // readers (as `counter`'s).
    if let [name, value] = args.values
        && let (Some(name), Some(value)) = (name.as_str(), value.as_float())
    {
        state.store.observe(name, kind, value, &Labels::new())?;
        return Ok(Value::null());
    }
    observe_in_general(state, args, kind)
}

#[inline(never)]
fn observe_in_general(state: &State, args: &Args<'_>, kind: Kind) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let name = args.string(0, "metric name")?;
    let value = args.number(1, "value")?;
    state.store.observe(name, kind, value, &args.labels(2)?)?;
    Ok(Value::null())
}

#[inline(always)]
fn histogram(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    observe(state, args, Kind::Histogram)
}

#[inline(always)]
fn summary(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    observe(state, args, Kind::Summary)
}

fn describe(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(4)?;
    let name = args.string(0, "metric name")?;
    let kind_name = args.string(1, "metric type")?;
    let kind = Kind::parse(kind_name).ok_or_else(|| {
        PluginError::invalid_metric_type(format!("`{kind_name}`; the types are {}", Kind::NAMES)).at_argument(1)
    })?;
    let help = args.string(2, "help text")?;
    let mut bounds = None;
    if let Some(options) = args.values.get(3).filter(|value| !value.is_null()) {
        let object = options.as_object().ok_or_else(|| {
            PluginError::message("the options must be an object ({buckets: [0.1, 1]})").at_argument(3)
        })?;
        for (key, value) in object.entries() {
            match key {
                "buckets" => {
                    let array = value
                        .as_array()
                        .ok_or_else(|| PluginError::message("buckets must be an array of numbers").at_argument(3))?;
                    let list =
                        array.iter().map(|item| item.as_float()).collect::<Option<Vec<f64>>>().ok_or_else(|| {
                            PluginError::message("buckets must be an array of numbers").at_argument(3)
                        })?;
                    bounds = Some(list);
                }
                other => {
                    return Err(
                        PluginError::message(format!("unknown option `{other}`; the option is buckets")).at_argument(3)
                    );
                }
            }
        }
    }
    state.store.declare(name, kind, help, bounds)?;
    Ok(Value::from(name))
}

fn value(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let family = aggregate::family(&state.store, args.string(0, "metric name")?)?;
    Ok(optional_number(aggregate::value(&family, args.optional_labels(1)?.as_ref())))
}

fn rate(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let family = aggregate::family(&state.store, args.string(0, "metric name")?)?;
    let window = args.seconds(1)?;
    Ok(optional_number(aggregate::rate(&family, window, args.optional_labels(2)?.as_ref())))
}

fn window(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let family = aggregate::family(&state.store, args.string(0, "metric name")?)?;
    let window = args.seconds(1)?;
    match aggregate::window_stats(&family, window, args.optional_labels(2)?.as_ref()) {
        None => Ok(Value::null()),
        Some(stats) => Ok(Value::object(vec![
            ("min", number_value(stats.min)),
            ("max", number_value(stats.max)),
            ("avg", number_value(stats.avg)),
            ("last", number_value(stats.last)),
            ("samples", Value::from(stats.samples)),
        ])),
    }
}

fn quantile(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let family = aggregate::family(&state.store, args.string(0, "metric name")?)?;
    let q = args.number(1, "quantile")?;
    let labels = args.optional_labels(2)?;
    let result =
        aggregate::quantile(&state.store, &family, q, labels.as_ref()).map_err(|error| error.at_argument(1))?;
    Ok(optional_number(result))
}

fn text(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    Ok(Value::from(exposition::text(&state.store)))
}

fn serve(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let address = match args.values.first() {
        None => crate::DEFAULT_LISTEN.to_string(),
        Some(value) if value.is_null() => crate::DEFAULT_LISTEN.to_string(),
        Some(value) => match (value.as_str(), value.as_int()) {
            (Some(text), _) => text.to_string(),
            (None, Some(port)) => format!("127.0.0.1:{port}"),
            _ => {
                return Err(PluginError::message(format!(
                    "the address must be \"host:port\" or a port number, got {}",
                    value.type_name()
                ))
                .at_argument(0));
            }
        },
    };
    let mut slot = crate::store::lock(&state.service.listener);
    if let Some(listener) = slot.as_ref() {
        return Err(PluginError::message(format!("/metrics is already served on {}", listener.address)));
    }
    let listener = http::serve(&address, state.store.clone())?;
    let bound = listener.address.to_string();
    *crate::store::lock(&state.service.serving) = Some(ServiceGuard::start(&format!("metrics /metrics on {bound}"))?);
    *slot = Some(listener);
    Ok(Value::from(bound))
}

fn push(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    let targets = &state.service.shared.targets;
    if targets.influx.is_none() && targets.statsd.is_none() {
        return Err(PluginError::message("no push target is configured")
            .with_help("set `influxdb = {url = …}` or `dogstatsd = {address = …}` in [plugins.metrics]"));
    }
    let mut entries = Vec::new();
    if let Some(influx) = &targets.influx {
        let lines =
            influx.push(&state.store).map_err(|error| PluginError::message(format!("InfluxDB push: {error}")))?;
        entries.push(("influxdb", Value::from(lines)));
    }
    if let Some(statsd) = &targets.statsd {
        let lines =
            statsd.push(&state.store).map_err(|error| PluginError::message(format!("DogStatsD push: {error}")))?;
        entries.push(("dogstatsd", Value::from(lines)));
    }
    Ok(Value::object(entries))
}

fn push_status(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    let targets = &state.service.shared.targets;
    let mut status = serde_json::Map::new();
    let describe = |status: &crate::push::PushStatus| serde_json::json!({"pushes": status.pushes, "failures": status.failures, "last_error": status.last_error});
    if let Some(influx) = &targets.influx {
        status.insert("influxdb".into(), describe(&crate::store::lock(&influx.status)));
    }
    if let Some(statsd) = &targets.statsd {
        status.insert("dogstatsd".into(), describe(&crate::store::lock(&statsd.status)));
    }
    json_value(serde_json::Value::Object(status))
}

fn add_alert(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let rule = args.required(0, "rule")?;
    let Some(object) = rule.as_object() else {
        return Err(PluginError::message(format!(
            "the rule must be an object ({{name, metric, above, webhook}} or {{name, condition: v => …, action: e => …}}), got {}",
            rule.type_name()
        ))
        .at_argument(0));
    };
    // The script functions are kept aside; the rest is read as JSON.
    let mut functions = alert::Functions::default();
    let mut data = Vec::new();
    for (key, value) in object.entries() {
        if value.kind() != ValueKind::Function {
            data.push((key.to_string(), value.to_owned_value()?));
            continue;
        }
        let function = RetainedFunction::new(&value)?;
        match key {
            "condition" => functions.condition = Some(function),
            "clear" => functions.clear = Some(function),
            "action" => functions.action = Some(function),
            other => {
                return Err(PluginError::message(format!(
                    "`{other}` cannot be a function; only {} can",
                    alert::FUNCTION_KEYS.join(", ")
                ))
                .at_argument(0));
            }
        }
    }
    let json =
        serde_json::to_value(OwnedValue::Object(data)).map_err(|error| PluginError::message(error.to_string()))?;
    let rule = alert::parse(json, functions).map_err(|error| error.at_argument(0))?;
    if let Some(webhook) = &rule.webhook {
        check_grant("the webhook", &webhook.host, webhook.port)?;
    }
    let condition = rule.condition();
    state.service.add_rule(rule)?;
    Ok(Value::from(condition))
}

fn remove_alert(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    Ok(Value::from(state.service.remove_rule(args.string(0, "rule name")?)))
}

/// `{status: 200, headers: {content-type}, body}`: the exposition as an http route's response.
fn response(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    Ok(Value::object(vec![
        ("status", Value::from(200)),
        ("headers", Value::object(vec![("content-type", Value::from(exposition::CONTENT_TYPE))])),
        ("body", Value::from(exposition::text(&state.store))),
    ]))
}

fn alerts(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    let list: Vec<serde_json::Value> =
        crate::store::lock(&state.service.shared.rules).iter().map(alert::RuleState::to_json).collect();
    json_value(serde_json::Value::Array(list))
}

fn check_alerts(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    json_value(serde_json::Value::Array(state.service.check_now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_written_as_display_writes_them() {
        for value in [0, 7, -7, 200, 10, -10, 1_000_000, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(IntText::new(value).as_str(), value.to_string());
        }
    }
}
