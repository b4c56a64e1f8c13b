//! The OpenMetrics text of every metric: what `/metrics` serves and `@metrics.text()` returns.
//!
//! prometheus-client writes the counters, gauges and histograms (descriptors, label escaping,
//! number formats) from a collector over the store. It has no summary type, so summaries are
//! written here in the same format, before the closing `# EOF`.

use std::fmt::Write as _;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::store::{Kind, SeriesValue, Store, lock};

/// The content type of the text (OpenMetrics 1.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The store seen as a prometheus-client collector.
#[derive(Debug)]
struct StoreCollector(Arc<Store>);

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in self.0.sorted_families() {
            let metric_type = match family.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
                Kind::Summary => continue,
            };
            let series = family.sorted_series();
            if series.is_empty() {
                continue;
            }
            let help = escape_help(&lock(&family.help));
            let mut metric = encoder.encode_descriptor(&family.name, &help, None, metric_type)?;
            for (labels, series) in &series {
                let mut encoder = metric.encode_family(labels)?;
                match &series.value {
                    SeriesValue::Counter(counter) => {
                        encoder.encode_counter::<NoLabelSet, f64, f64>(&counter.get(), None)?
                    }
                    SeriesValue::Gauge(gauge) => encoder.encode_gauge(&gauge.get())?,
                    SeriesValue::Histogram(data) => {
                        let data = lock(data).clone();
                        let mut buckets: Vec<(f64, u64)> =
                            data.bounds.iter().copied().zip(data.counts.iter().copied()).collect();
                        buckets.push((f64::INFINITY, data.counts.last().copied().unwrap_or(0)));
                        encoder.encode_histogram::<NoLabelSet>(data.sum, data.count, &buckets, None)?;
                    }
                    SeriesValue::Summary(_) => {}
                }
            }
        }
        Ok(())
    }
}

/// The OpenMetrics text of every metric in `store`, ending with `# EOF`.
pub fn text(store: &Arc<Store>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StoreCollector(store.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode_registry(&mut out, &registry);
    for family in store.sorted_families().iter().filter(|family| family.kind == Kind::Summary) {
        let series = family.sorted_series();
        if series.is_empty() {
            continue;
        }
        let name = &family.name;
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&lock(&family.help)));
        let _ = writeln!(out, "# TYPE {name} summary");
        for (labels, series) in &series {
            let SeriesValue::Summary(data) = &series.value else { continue };
            let (sum, count, quantiles) = store.summary_quantiles(data);
            for (q, value) in quantiles {
                let _ = writeln!(out, "{name}{} {}", label_text(labels, Some(("quantile", &number(q)))), number(value));
            }
            let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), number(sum));
            let _ = writeln!(out, "{name}_count{} {count}", label_text(labels, None));
        }
    }
    out.push_str("# EOF\n");
    out
}

/// `{a="1",b="x"}` (with `extra` last), or nothing for no labels.
fn label_text(labels: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<String> =
        labels.iter().map(|(name, value)| format!("{name}=\"{}\"", escape_label_value(value))).collect();
    if let Some((name, value)) = extra {
        pairs.push(format!("{name}=\"{value}\""));
    }
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

/// A number as OpenMetrics writes it: `NaN`, `+Inf`, `-Inf`, else Rust's shortest round trip
/// with a `.0` for whole numbers.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() }
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// HELP text: prometheus-client writes it as given, so the escapes OpenMetrics requires are
/// made here.
fn escape_help(help: &str) -> String {
    escape_label_value(help)
}
