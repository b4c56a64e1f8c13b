//! The cost of one metrics increment: the plugin's own work (`Store`, no host involved), and
//! the whole call from a script through the in-process plugin, beside a built-in call.
//!
//! `cargo bench -p tusk-plugin-metrics --bench increment`; `bench/metrics.py` runs the same
//! calls through the `tusk` command beside Python's prometheus_client.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tusk_plugin_metrics::store::{Kind, Settings, Store};
use tusk_plugin_testkit::PluginTest;

/// Calls per script evaluation: the evaluation's own cost (parse, `reduce` set-up) is spread
/// over them.
const CALLS: u64 = 10_000;

fn store(c: &mut Criterion) {
    let store = Store::new(Settings::default());
    let none = Vec::new();
    let labels = vec![("code".to_string(), "200".to_string()), ("method".to_string(), "GET".to_string())];
    let mut group = c.benchmark_group("store");
    group.bench_function("counter", |b| b.iter(|| store.increment(black_box("requests"), 1.0, &none).unwrap()));
    group.bench_function("counter_two_labels", |b| {
        b.iter(|| store.increment(black_box("labelled"), 1.0, black_box(&labels)).unwrap())
    });
    group.bench_function("gauge_set", |b| b.iter(|| store.gauge_set(black_box("depth"), 3.0, &none).unwrap()));
    group.bench_function("histogram", |b| {
        b.iter(|| store.observe(black_box("latency"), Kind::Histogram, 0.2, &none).unwrap())
    });
    group.finish();
}

fn through_the_plugin(c: &mut Criterion) {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    let mut group = c.benchmark_group("script");
    group.throughput(Throughput::Elements(CALLS));
    group.sample_size(20);
    let cases = [
        ("loop_only", "acc + 1".to_string()),
        ("builtin_abs", "acc + abs(i)".to_string()),
        ("metrics_counter", r#"acc + @metrics.counter("bench_requests")"#.to_string()),
        ("metrics_seed_form", r#"acc + @metrics("counter", "bench_seed", 1)"#.to_string()),
        ("increment_counter", r#"acc + increment_counter("bench_function")"#.to_string()),
        (
            "metrics_counter_two_labels",
            r#"acc + @metrics.counter("bench_labelled", 1, {method: "GET", code: 200})"#.to_string(),
        ),
        ("record_histogram", r#"record_histogram("bench_latency", 0.2) == null ? acc + 1 : acc"#.to_string()),
    ];
    for (name, body) in cases {
        let source = format!("reduce(range(0, {CALLS}), 0, (acc, i) => {body})");
        plugin.eval_expression(&source).unwrap_or_else(|error| panic!("{source}\n{error}"));
        group.bench_function(name, |b| b.iter(|| plugin.eval_expression(&source).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, store, through_the_plugin);
criterion_main!(benches);
