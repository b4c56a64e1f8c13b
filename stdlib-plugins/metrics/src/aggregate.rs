//! Aggregation over the store: current values, rates and min/max/average over a window (from
//! the sampled history), and quantiles (histogram buckets, summary observations).
//!
//! A selection is one series (labels given) or every series of the metric (no labels): values
//! and rates add up, histogram buckets and summary observations merge, window statistics pool
//! every sample.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tusk_plugin_sdk::PluginError;

use crate::store::{Family, HistogramData, Kind, Labels, Series, SeriesValue, Store, lock, quantile_of_sorted};

/// Min, max and average of the samples in a window (the current value included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowStats {
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub last: f64,
    pub samples: usize,
}

/// The family `name`, or an error naming it.
pub fn family(store: &Store, name: &str) -> Result<Arc<Family>, PluginError> {
    store.get(name).ok_or_else(|| PluginError::message(format!("no metric `{name}` has been recorded or declared")))
}

/// The selected series: the one with `labels`, or all of them.
fn select(family: &Family, labels: Option<&Labels>) -> Vec<Arc<Series>> {
    let map = family.series.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    match labels {
        Some(labels) => map.get(labels).cloned().into_iter().collect(),
        None => map.values().cloned().collect(),
    }
}

/// A counter's or gauge's value, an observation count otherwise; summed over the selection.
/// `None` when nothing is selected.
pub fn value(family: &Family, labels: Option<&Labels>) -> Option<f64> {
    let series = select(family, labels);
    (!series.is_empty()).then(|| series.iter().map(|series| series.level()).sum())
}

/// The per-second increase over the last `window`: counters, and the observation counts of
/// histograms and summaries (a gauge's is its average slope).
pub fn rate(family: &Family, window: Duration, labels: Option<&Labels>) -> Option<f64> {
    let series = select(family, labels);
    if series.is_empty() {
        return None;
    }
    let now = Instant::now();
    Some(series.iter().map(|series| series_rate(series, window, now)).sum())
}

fn series_rate(series: &Series, window: Duration, now: Instant) -> f64 {
    let current = series.level();
    let history = series.history();
    // The oldest sample inside the window; else the newest one (a window shorter than the
    // sampling interval).
    let start =
        history.iter().find(|(at, _)| now.saturating_duration_since(*at) <= window).or_else(|| history.last()).copied();
    match start {
        Some((at, then)) => {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            if elapsed > 0.0 { (current - then) / elapsed } else { 0.0 }
        }
        None => 0.0,
    }
}

/// Min, max and average of the sampled values in the last `window` plus the current one,
/// pooled over the selection.
pub fn window_stats(family: &Family, window: Duration, labels: Option<&Labels>) -> Option<WindowStats> {
    let series = select(family, labels);
    if series.is_empty() {
        return None;
    }
    let now = Instant::now();
    let mut values = Vec::new();
    let mut last = 0.0;
    for series in &series {
        values.extend(
            series
                .history()
                .into_iter()
                .filter(|(at, _)| now.saturating_duration_since(*at) <= window)
                .map(|(_, value)| value),
        );
        let current = series.level();
        values.push(current);
        last += current;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let avg = values.iter().sum::<f64>() / values.len() as f64;
    Some(WindowStats { min, max, avg, last, samples: values.len() })
}

/// The `q` quantile of a histogram (estimated from buckets) or a summary (exact over its
/// recent observations). `Ok(None)` without observations.
pub fn quantile(store: &Store, family: &Family, q: f64, labels: Option<&Labels>) -> Result<Option<f64>, PluginError> {
    if !(0.0..=1.0).contains(&q) {
        return Err(PluginError::message(format!("a quantile is between 0 and 1, not {q}")));
    }
    let series = select(family, labels);
    match family.kind {
        Kind::Histogram => {
            let mut merged: Option<HistogramData> = None;
            for series in &series {
                if let SeriesValue::Histogram(data) = &series.value {
                    let data = lock(data);
                    match &mut merged {
                        Some(merged) => merged.merge(&data),
                        None => merged = Some(data.clone()),
                    }
                }
            }
            Ok(merged.and_then(|data| data.quantile(q)))
        }
        Kind::Summary => {
            let mut values = Vec::new();
            let now = Instant::now();
            for series in &series {
                if let SeriesValue::Summary(data) = &series.value {
                    let data = lock(data);
                    values.extend(
                        data.window
                            .iter()
                            .filter(|(at, _)| now.saturating_duration_since(*at) <= store.settings.summary_max_age)
                            .map(|(_, value)| *value),
                    );
                }
            }
            values.sort_by(f64::total_cmp);
            Ok(quantile_of_sorted(&values, q))
        }
        kind => Err(PluginError::message(format!(
            "`{}` is a {}; quantiles are for histograms and summaries",
            family.name,
            kind.name()
        ))),
    }
}
