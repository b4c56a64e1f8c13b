//! Alerting rules, checked every `every` seconds with hysteresis, firing and resolving through
//! a webhook (an HTTP POST of JSON) and/or an action (a script function).
//!
//! A rule's test is either a threshold over a metric (its value, a rate, a window average,
//! minimum or maximum, or a quantile) or a script function:
//! - Threshold: the rule fires when the value goes past its threshold (`above`: greater than
//!   it, `below`: less than it) and resolves only once the value is back past `clear` (by
//!   default the threshold itself): a value that hovers around the threshold does not flap.
//! - Script (`condition: v => …`, with the measured value, or null without a metric; a metric
//!   without data yet changes nothing, as for thresholds): fires when it returns true; resolves when `clear: v => …` returns true, or without `clear` when
//!   the condition returns false. Script functions run on the interpreter's thread, through
//!   the host's event loop: the background thread posts the call and the answer comes back
//!   later (a rule waiting for its answer is not asked again meanwhile).
//!
//! The `action` (a script function) is called with the same object the webhook receives, on
//! every change.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use tusk_plugin_sdk::{OwnedValue, PluginError, RetainedFunction};

use crate::aggregate;
use crate::http::{self, Url};
use crate::store::{Labels, Store, check_label_name};

/// What a rule looks at.
#[derive(Clone, Debug, PartialEq)]
pub enum Measure {
    Value,
    Rate(Duration),
    Avg(Duration),
    Min(Duration),
    Max(Duration),
    Quantile(f64),
}

/// A rule as written (a script object or a `[[plugins.metrics.alerts]]` table).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    metric: Option<String>,
    #[serde(default)]
    labels: Option<serde_json::Map<String, serde_json::Value>>,
    rate: Option<f64>,
    avg: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    quantile: Option<f64>,
    above: Option<f64>,
    below: Option<f64>,
    clear: Option<f64>,
    #[serde(default = "default_every")]
    every: f64,
    webhook: Option<String>,
}

fn default_every() -> f64 {
    10.0
}

/// What decides whether a rule fires.
#[derive(Clone, Debug)]
pub enum Test {
    /// Fires past `threshold` (greater than it when `above`, less when not), resolves once
    /// back past `clear`.
    Threshold { above: bool, threshold: f64, clear: f64 },
    /// Fires when `condition(value)` is true; resolves when `clear(value)` is true, or, without
    /// `clear`, when `condition(value)` is false.
    Script { condition: RetainedFunction, clear: Option<RetainedFunction> },
}

/// The script functions of a rule written in a script (`condition`, `clear`, `action`).
#[derive(Clone, Debug, Default)]
pub struct Functions {
    pub condition: Option<RetainedFunction>,
    pub clear: Option<RetainedFunction>,
    pub action: Option<RetainedFunction>,
}

/// The keys whose values may be script functions in a rule written in a script.
pub const FUNCTION_KEYS: [&str; 3] = ["condition", "clear", "action"];

/// A checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    /// `None` only for a script condition that measures what it wants itself.
    pub metric: Option<String>,
    pub labels: Option<Labels>,
    pub measure: Measure,
    pub test: Test,
    pub every: Duration,
    pub webhook: Option<Url>,
    pub action: Option<RetainedFunction>,
}

impl Rule {
    /// `rate(errors{code="500"}[60s]) > 10`, or `script(rate(…))`: the condition, for
    /// messages and webhooks.
    pub fn condition(&self) -> String {
        let measured = self.measured();
        match &self.test {
            Test::Threshold { above, threshold, .. } => {
                format!("{measured} {} {threshold}", if *above { ">" } else { "<" })
            }
            Test::Script { .. } => format!("script({measured})"),
        }
    }

    /// What the rule measures, in PromQL's words (empty without a metric).
    fn measured(&self) -> String {
        let Some(metric) = &self.metric else { return String::new() };
        let labels = match &self.labels {
            Some(labels) if !labels.is_empty() => {
                let pairs: Vec<String> = labels.iter().map(|(name, value)| format!("{name}={value:?}")).collect();
                format!("{{{}}}", pairs.join(","))
            }
            _ => String::new(),
        };
        let selector = format!("{metric}{labels}");
        match &self.measure {
            Measure::Value => selector,
            Measure::Rate(window) => format!("rate({selector}[{}s])", window.as_secs_f64()),
            Measure::Avg(window) => format!("avg_over_time({selector}[{}s])", window.as_secs_f64()),
            Measure::Min(window) => format!("min_over_time({selector}[{}s])", window.as_secs_f64()),
            Measure::Max(window) => format!("max_over_time({selector}[{}s])", window.as_secs_f64()),
            Measure::Quantile(q) => format!("quantile({q}, {selector})"),
        }
    }

    /// The measured value now, `None` without data (the metric or series does not exist yet,
    /// or the rule has no metric).
    pub fn measure(&self, store: &Store) -> Result<Option<f64>, String> {
        let Some(metric) = &self.metric else { return Ok(None) };
        let Some(family) = store.get(metric) else { return Ok(None) };
        let labels = self.labels.as_ref();
        Ok(match &self.measure {
            Measure::Value => aggregate::value(&family, labels),
            Measure::Rate(window) => aggregate::rate(&family, *window, labels),
            Measure::Avg(window) => aggregate::window_stats(&family, *window, labels).map(|stats| stats.avg),
            Measure::Min(window) => aggregate::window_stats(&family, *window, labels).map(|stats| stats.min),
            Measure::Max(window) => aggregate::window_stats(&family, *window, labels).map(|stats| stats.max),
            Measure::Quantile(q) => {
                aggregate::quantile(store, &family, *q, labels).map_err(|error| error.to_string())?
            }
        })
    }

    /// Whether a script function is part of the rule (it needs the event loop).
    pub fn has_functions(&self) -> bool {
        matches!(self.test, Test::Script { .. }) || self.action.is_some()
    }
}

/// Reads a rule from its JSON form and the script functions taken out of it.
pub fn parse(json: serde_json::Value, functions: Functions) -> Result<Rule, PluginError> {
    if let Some(object) = json.as_object() {
        for key in ["condition", "action"] {
            if object.contains_key(key) {
                let name = object.get("name").and_then(|name| name.as_str()).unwrap_or("?");
                return Err(PluginError::message(format!(
                    "alert `{name}`: `{key}` must be a script function (v => …), which only a script can give"
                )));
            }
        }
    }
    let raw: RawRule =
        serde_json::from_value(json).map_err(|error| PluginError::message(format!("invalid alert rule: {error}")))?;
    let bad = |message: String| PluginError::message(format!("alert `{}`: {message}", raw.name));
    if raw.name.is_empty() {
        return Err(PluginError::message("invalid alert rule: the name is empty"));
    }
    let window = |seconds: f64| -> Result<Duration, PluginError> {
        if seconds > 0.0 && seconds.is_finite() {
            Ok(Duration::from_secs_f64(seconds))
        } else {
            Err(bad(format!("a window is a number of seconds > 0, not {seconds}")))
        }
    };
    let measures: Vec<Measure> = [
        raw.rate.map(|seconds| window(seconds).map(Measure::Rate)),
        raw.avg.map(|seconds| window(seconds).map(Measure::Avg)),
        raw.min.map(|seconds| window(seconds).map(Measure::Min)),
        raw.max.map(|seconds| window(seconds).map(Measure::Max)),
        raw.quantile.map(|q| {
            if (0.0..=1.0).contains(&q) {
                Ok(Measure::Quantile(q))
            } else {
                Err(bad(format!("a quantile is between 0 and 1, not {q}")))
            }
        }),
    ]
    .into_iter()
    .flatten()
    .collect::<Result<_, _>>()?;
    if measures.len() > 1 {
        return Err(bad("give at most one of rate, avg, min, max and quantile".to_string()));
    }
    let measure = measures.into_iter().next().unwrap_or(Measure::Value);
    let test = match functions.condition {
        Some(condition) => {
            if raw.above.is_some() || raw.below.is_some() || raw.clear.is_some() {
                return Err(bad(
                    "give either a `condition` function or a threshold (`above`/`below`, `clear`), not both"
                        .to_string(),
                ));
            }
            Test::Script { condition, clear: functions.clear }
        }
        None => {
            if functions.clear.is_some() {
                return Err(bad(
                    "a `clear` function goes with a `condition` function; with a threshold `clear` is a number"
                        .to_string(),
                ));
            }
            let (above, threshold) = match (raw.above, raw.below) {
                (Some(threshold), None) => (true, threshold),
                (None, Some(threshold)) => (false, threshold),
                (Some(_), Some(_)) => return Err(bad("give either `above` or `below`, not both".to_string())),
                (None, None) => {
                    return Err(bad(
                        "a rule needs a threshold (`above: N` or `below: N`) or a `condition` function".to_string()
                    ));
                }
            };
            if !threshold.is_finite() {
                return Err(bad("the threshold must be a finite number".to_string()));
            }
            let clear = raw.clear.unwrap_or(threshold);
            if above && clear > threshold {
                return Err(bad(format!(
                    "`clear` ({clear}) must not be above the threshold ({threshold}): the alert resolves once the value is back below it"
                )));
            }
            if !above && clear < threshold {
                return Err(bad(format!(
                    "`clear` ({clear}) must not be below the threshold ({threshold}): the alert resolves once the value is back above it"
                )));
            }
            if raw.metric.is_none() {
                return Err(bad("a threshold rule needs a `metric`".to_string()));
            }
            Test::Threshold { above, threshold, clear }
        }
    };
    if !(raw.every > 0.0 && raw.every.is_finite()) {
        return Err(bad(format!("`every` is a number of seconds > 0, not {}", raw.every)));
    }
    let labels = match raw.labels {
        Some(map) => {
            let mut labels = Labels::new();
            for (name, value) in map {
                check_label_name(&name).map_err(|error| bad(error.to_string()))?;
                let value = match value {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                labels.push((name, value));
            }
            labels.sort();
            Some(labels)
        }
        None => None,
    };
    let webhook = raw.webhook.as_deref().map(Url::parse).transpose().map_err(bad)?;
    if raw.metric.is_none() && (labels.is_some() || measure != Measure::Value) {
        return Err(bad("labels, rate, avg, min, max and quantile need a `metric`".to_string()));
    }
    Ok(Rule {
        name: raw.name,
        metric: raw.metric,
        labels,
        measure,
        test,
        every: Duration::from_secs_f64(raw.every),
        webhook,
        action: functions.action,
    })
}

/// A rule and where it stands.
#[derive(Debug)]
pub struct RuleState {
    /// Tells this rule from a later one of the same name (answers of script functions come
    /// back later).
    pub id: u64,
    pub rule: Rule,
    pub firing: bool,
    pub value: Option<f64>,
    pub checks: u64,
    pub fired: u64,
    pub last_error: Option<String>,
    pub next_due: Instant,
    /// A script function's answer is awaited.
    pub asking: bool,
}

/// A change of state to announce: through the webhook and to the action.
#[derive(Debug)]
pub struct Change {
    pub webhook: Option<Url>,
    pub action: Option<RetainedFunction>,
    pub payload: serde_json::Value,
}

/// What one check of a rule leads to.
#[derive(Debug)]
pub enum Step {
    Unchanged,
    Changed(Change),
    /// Call this script function with the measured value (null without one), then give its
    /// answer to [`RuleState::answer`].
    Ask(RetainedFunction, OwnedValue),
}

impl RuleState {
    pub fn new(id: u64, rule: Rule, now: Instant) -> RuleState {
        RuleState {
            id,
            rule,
            firing: false,
            value: None,
            checks: 0,
            fired: 0,
            last_error: None,
            next_due: now,
            asking: false,
        }
    }

    /// Measures and moves between ok and firing (threshold rules), or says which script
    /// function to ask (script rules).
    pub fn check(&mut self, store: &Store, now: Instant) -> Step {
        self.next_due = now + self.rule.every;
        if self.asking {
            return Step::Unchanged;
        }
        self.checks += 1;
        let value = match self.rule.measure(store) {
            Ok(value) => value,
            Err(error) => {
                self.last_error = Some(error);
                return Step::Unchanged;
            }
        };
        self.value = value;
        match &self.rule.test {
            Test::Threshold { above, threshold, clear } => {
                let Some(value) = value else { return Step::Unchanged };
                let past = match (self.firing, *above) {
                    (false, true) => value > *threshold,
                    (false, false) => value < *threshold,
                    (true, true) => value < *clear,
                    (true, false) => value > *clear,
                };
                if past { self.change() } else { Step::Unchanged }
            }
            Test::Script { condition, clear } => {
                // A metric without data yet changes nothing, as for thresholds; a rule without
                // a metric is asked with null (the function measures what it wants).
                if self.rule.metric.is_some() && value.is_none() {
                    return Step::Unchanged;
                }
                let function = match (self.firing, clear) {
                    (true, Some(clear)) => clear.clone(),
                    _ => condition.clone(),
                };
                self.asking = true;
                Step::Ask(function, value.map(OwnedValue::Float).unwrap_or(OwnedValue::Null))
            }
        }
    }

    /// The answer of the script function [`RuleState::check`] asked for.
    pub fn answer(&mut self, outcome: Result<OwnedValue, PluginError>) -> Step {
        self.asking = false;
        let which = if self.firing && matches!(self.rule.test, Test::Script { clear: Some(_), .. }) {
            "clear"
        } else {
            "condition"
        };
        let answer = match outcome {
            Ok(OwnedValue::Bool(answer)) => answer,
            Ok(other) => {
                self.last_error = Some(format!(
                    "the {which} of alert `{}` returned {}, not true or false",
                    self.rule.name,
                    describe(&other)
                ));
                return Step::Unchanged;
            }
            Err(error) => {
                self.last_error = Some(format!("the {which} of alert `{}` failed: {error}", self.rule.name));
                return Step::Unchanged;
            }
        };
        // Not firing: the condition was asked (true fires). Firing: `clear` if there is one
        // (true resolves), else the condition (false resolves).
        let changes = match (self.firing, which) {
            (false, _) | (true, "clear") => answer,
            _ => !answer,
        };
        if changes { self.change() } else { Step::Unchanged }
    }

    /// Moves to the other state; what to announce.
    fn change(&mut self) -> Step {
        self.firing = !self.firing;
        if self.firing {
            self.fired += 1;
        }
        let rule = &self.rule;
        if rule.webhook.is_none() && rule.action.is_none() {
            return Step::Unchanged;
        }
        let labels: serde_json::Map<String, serde_json::Value> = rule
            .labels
            .iter()
            .flatten()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect();
        let at = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs_f64()).unwrap_or(0.0);
        let mut payload = serde_json::Map::new();
        payload.insert("alert".into(), json!(rule.name));
        payload.insert("state".into(), json!(if self.firing { "firing" } else { "resolved" }));
        payload.insert("metric".into(), json!(rule.metric));
        payload.insert("labels".into(), serde_json::Value::Object(labels));
        payload.insert("condition".into(), json!(rule.condition()));
        payload.insert("value".into(), json!(self.value));
        if let Test::Threshold { threshold, clear, .. } = &rule.test {
            payload.insert("threshold".into(), json!(threshold));
            payload.insert("clear".into(), json!(clear));
        }
        payload.insert("at".into(), json!(at));
        Step::Changed(Change {
            webhook: rule.webhook.clone(),
            action: rule.action.clone(),
            payload: serde_json::Value::Object(payload),
        })
    }

    /// The state as JSON, for `@metrics.alerts()`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "name": self.rule.name,
            "condition": self.rule.condition(),
            "state": if self.firing { "firing" } else { "ok" },
            "value": self.value,
            "checks": self.checks,
            "fired": self.fired,
            "last_error": self.last_error,
        })
    }
}

/// `the int 5`, `a string`: a value a script condition returned, for its error.
fn describe(value: &OwnedValue) -> String {
    match value {
        OwnedValue::Null => "null".to_string(),
        OwnedValue::Bool(_) => "a bool".to_string(),
        OwnedValue::Int(n) => format!("the int {n}"),
        OwnedValue::Float(x) => format!("the float {x}"),
        OwnedValue::String(_) => "a string".to_string(),
        OwnedValue::Array(_) => "an array".to_string(),
        OwnedValue::Object(_) => "an object".to_string(),
        OwnedValue::Range(..) => "a range".to_string(),
        OwnedValue::Bytes(_) => "a byte string".to_string(),
    }
}

/// Posts a webhook call; the error, if any, is the rule's `last_error`.
pub fn send(webhook: &Url, payload: &serde_json::Value) -> Result<(), String> {
    let body = payload.to_string();
    http::post(webhook, "application/json", &[], body.as_bytes(), Duration::from_secs(5)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Settings;

    fn rule(json: serde_json::Value) -> Result<Rule, String> {
        parse(json, Functions::default()).map_err(|error| error.to_string())
    }

    #[test]
    fn rules_are_checked() {
        assert_eq!(
            rule(json!({"name": "x", "metric": "m"})).unwrap_err(),
            "alert `x`: a rule needs a threshold (`above: N` or `below: N`) or a `condition` function"
        );
        assert_eq!(
            rule(json!({"name": "x", "metric": "m", "above": 5, "clear": 6})).unwrap_err(),
            "alert `x`: `clear` (6) must not be above the threshold (5): the alert resolves once the value is back below it"
        );
        assert_eq!(
            rule(json!({"name": "x", "metric": "m", "above": 5, "rate": 10, "avg": 10})).unwrap_err(),
            "alert `x`: give at most one of rate, avg, min, max and quantile"
        );
        assert_eq!(
            rule(json!({"name": "x", "metric": "m", "above": 1, "action": "f"})).unwrap_err(),
            "alert `x`: `action` must be a script function (v => …), which only a script can give"
        );
        assert_eq!(rule(json!({"name": "x", "above": 1})).unwrap_err(), "alert `x`: a threshold rule needs a `metric`");
        assert!(
            rule(json!({"name": "x", "metric": "m", "above": 1, "extra": 1}))
                .unwrap_err()
                .contains("unknown field `extra`")
        );
        let parsed =
            rule(json!({"name": "x", "metric": "errors", "labels": {"code": 500}, "rate": 60, "above": 10})).unwrap();
        assert_eq!(parsed.condition(), "rate(errors{code=\"500\"}[60s]) > 10");
    }

    #[test]
    fn hysteresis_keeps_a_hovering_value_from_flapping() {
        let store = Store::new(Settings::default());
        let rule = rule(json!({"name": "hot", "metric": "temp", "above": 30, "clear": 25})).unwrap();
        let mut state = RuleState::new(1, rule, Instant::now());
        let mut states = Vec::new();
        for value in [20.0, 31.0, 29.0, 31.0, 26.0, 24.0, 29.0, 31.0] {
            store.gauge_set("temp", value, &Vec::new()).unwrap();
            state.check(&store, Instant::now());
            states.push(state.firing);
        }
        assert_eq!(states, [false, true, true, true, true, false, false, true]);
        assert_eq!(state.fired, 2);
    }
}
