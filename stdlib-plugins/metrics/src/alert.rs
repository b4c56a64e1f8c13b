//! Alerting rules: a threshold over a metric (its value, a rate, a window average, minimum or
//! maximum, or a quantile), checked every `every` seconds on the plugin's background thread,
//! with hysteresis (`clear`), firing and resolving through a webhook (an HTTP POST of JSON).
//!
//! A rule fires when the value goes past its threshold (`above`: greater than it, `below`:
//! less than it), and resolves only once the value is back past `clear` (by default the
//! threshold itself): a value that hovers around the threshold does not flap.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use tusk_plugin_sdk::PluginError;

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
    metric: String,
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

/// A checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub metric: String,
    pub labels: Option<Labels>,
    pub measure: Measure,
    /// True: fires above the threshold; false: below it.
    pub above: bool,
    pub threshold: f64,
    pub clear: f64,
    pub every: Duration,
    pub webhook: Option<Url>,
}

impl Rule {
    /// `rate(errors{code="500"}[60s]) > 10`: the condition, for messages and webhooks.
    pub fn condition(&self) -> String {
        let labels = match &self.labels {
            Some(labels) if !labels.is_empty() => {
                let pairs: Vec<String> = labels.iter().map(|(name, value)| format!("{name}={value:?}")).collect();
                format!("{{{}}}", pairs.join(","))
            }
            _ => String::new(),
        };
        let selector = format!("{}{labels}", self.metric);
        let measured = match &self.measure {
            Measure::Value => selector,
            Measure::Rate(window) => format!("rate({selector}[{}s])", window.as_secs_f64()),
            Measure::Avg(window) => format!("avg_over_time({selector}[{}s])", window.as_secs_f64()),
            Measure::Min(window) => format!("min_over_time({selector}[{}s])", window.as_secs_f64()),
            Measure::Max(window) => format!("max_over_time({selector}[{}s])", window.as_secs_f64()),
            Measure::Quantile(q) => format!("quantile({q}, {selector})"),
        };
        format!("{measured} {} {}", if self.above { ">" } else { "<" }, self.threshold)
    }

    /// The measured value now, `None` without data (the metric or series does not exist yet).
    pub fn measure(&self, store: &Store) -> Result<Option<f64>, String> {
        let Some(family) = store.get(&self.metric) else { return Ok(None) };
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
}

/// The message for a rule with a script function in it.
pub const LAMBDA_RULES: &str = "alert rules with a lambda condition or action need the host's event loop, which TuskLang does not have yet; use a threshold (`above` or `below`, with `clear` for hysteresis) and a `webhook`";

/// Reads a rule from its JSON form.
pub fn parse(json: serde_json::Value) -> Result<Rule, PluginError> {
    if let Some(object) = json.as_object() {
        for key in ["condition", "action", "when", "then", "on_fire", "on_resolve"] {
            if object.contains_key(key) {
                return Err(PluginError::message(LAMBDA_RULES));
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
    let (above, threshold) = match (raw.above, raw.below) {
        (Some(threshold), None) => (true, threshold),
        (None, Some(threshold)) => (false, threshold),
        (Some(_), Some(_)) => return Err(bad("give either `above` or `below`, not both".to_string())),
        (None, None) => {
            return Err(bad("a rule needs a threshold: `above: N` or `below: N`".to_string()));
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
    Ok(Rule {
        name: raw.name,
        metric: raw.metric,
        labels,
        measure,
        above,
        threshold,
        clear,
        every: Duration::from_secs_f64(raw.every),
        webhook,
    })
}

/// A rule and where it stands.
#[derive(Debug)]
pub struct RuleState {
    pub rule: Rule,
    pub firing: bool,
    pub value: Option<f64>,
    pub checks: u64,
    pub fired: u64,
    pub last_error: Option<String>,
    pub next_due: Instant,
}

impl RuleState {
    pub fn new(rule: Rule, now: Instant) -> RuleState {
        RuleState { rule, firing: false, value: None, checks: 0, fired: 0, last_error: None, next_due: now }
    }

    /// Measures and moves between ok and firing; returns the webhook call to make, if any.
    pub fn check(&mut self, store: &Store, now: Instant) -> Option<(Url, serde_json::Value)> {
        self.checks += 1;
        self.next_due = now + self.rule.every;
        let value = match self.rule.measure(store) {
            Ok(value) => value,
            Err(error) => {
                self.last_error = Some(error);
                return None;
            }
        };
        self.value = value;
        let value = value?;
        let rule = &self.rule;
        let transition = if !self.firing {
            let past = if rule.above { value > rule.threshold } else { value < rule.threshold };
            past.then_some("firing")
        } else {
            let back = if rule.above { value < rule.clear } else { value > rule.clear };
            back.then_some("resolved")
        };
        let state = transition?;
        self.firing = state == "firing";
        if self.firing {
            self.fired += 1;
        }
        let webhook = rule.webhook.clone()?;
        let labels: serde_json::Map<String, serde_json::Value> = rule
            .labels
            .iter()
            .flatten()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect();
        let at = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs_f64()).unwrap_or(0.0);
        let payload = json!({
            "alert": rule.name,
            "state": state,
            "metric": rule.metric,
            "labels": labels,
            "condition": rule.condition(),
            "value": value,
            "threshold": rule.threshold,
            "clear": rule.clear,
            "at": at,
        });
        Some((webhook, payload))
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
        parse(json).map_err(|error| error.to_string())
    }

    #[test]
    fn rules_are_checked() {
        assert_eq!(
            rule(json!({"name": "x", "metric": "m"})).unwrap_err(),
            "alert `x`: a rule needs a threshold: `above: N` or `below: N`"
        );
        assert_eq!(
            rule(json!({"name": "x", "metric": "m", "above": 5, "clear": 6})).unwrap_err(),
            "alert `x`: `clear` (6) must not be above the threshold (5): the alert resolves once the value is back below it"
        );
        assert_eq!(
            rule(json!({"name": "x", "metric": "m", "above": 5, "rate": 10, "avg": 10})).unwrap_err(),
            "alert `x`: give at most one of rate, avg, min, max and quantile"
        );
        assert_eq!(rule(json!({"name": "x", "metric": "m", "above": 1, "action": "f"})).unwrap_err(), LAMBDA_RULES);
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
        let mut state = RuleState::new(rule, Instant::now());
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
