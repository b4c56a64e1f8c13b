//! Criterion benches of the pipeline on a mid-size config (lex, lex+parse, parse+evaluate, and
//! evaluating a program compiled once) and of
//! the two call paths of the interpreter: a builtin (native) call and a lambda call, each reported
//! as the time of 1000 calls, so microseconds read as nanoseconds per call (the same loop without
//! the call is measured and subtracted).
//!
//! `cargo bench -p tusk --bench frontend` (filter with a name: `-- calls/`). The config is
//! generated in-process (the shape of `bench/gen_config.py`, 150 services, about 135 kB), so the
//! bench needs no data files.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const WORDS: [&str; 8] = ["alpha", "beta", "gamma", "delta", "edge", "core", "batch", "stream"];
const REGIONS: [&str; 4] = ["eu-west", "eu-central", "us-east", "ap-south"];
const METHODS: [&str; 3] = ["GET", "POST", "DELETE"];

/// A deterministic config in the shape of `bench/gen_config.py`: sections, nested blocks, arrays
/// of scalars, arrays of inline objects, escaped and non-ASCII strings, ints, floats and booleans.
fn mid_size_config(services: usize) -> String {
    let mut out = String::from(
        "title: \"TuskLang benchmark configuration\"\nversion: 3\ndebug: false\n\n[meta]\n\
         notes: \"Quotes \\\"inside\\\", a backslash \\\\ and a tab\\there; caf\u{e9} \u{2713}\"\n\
         owners: [\"platform\", \"sre\", \"data\"]\n\n[defaults]\ntimeout_ms: 2500\nbackoff: 1.5\n\
         log {\n    level: \"info\"\n    sample_rate: 0.25\n}\n\n[services]\n",
    );
    let mut seed: u64 = 20261127;
    let mut next = |m: u64| {
        seed = (1103515245 * seed + 12345) & 0x7FFF_FFFF;
        seed % m
    };
    for s in 0..services {
        let w1 = WORDS[next(8) as usize];
        let w2 = WORDS[next(8) as usize];
        let region = REGIONS[next(4) as usize];
        let _ = write!(
            out,
            "svc{s:05} {{\n    host: \"{w1}-{s}.{region}.example.internal\"\n    port: {}\n    enabled: {}\n    \
             weight: {}.{:02}\n    description: \"Service svc{s:05} handles {w1} and {w2} traffic (\\\"tier {}\\\")\"\n    \
             tags: [\"{w1}\", \"{w2}\", \"{region}\"]\n    ports: [{}, {}]\n    limits {{\n        cpu: {}.25\n        \
             memory_mb: {}\n        burst: [{}, {}, {}]\n        ratios: [0.{:04}, 0.{:04}]\n    }}\n    env {{\n        \
             MODE: \"production\"\n        THREADS: \"{}\"\n    }}\n    routes: [\n",
            1024 + next(60000),
            next(10) != 0,
            next(100),
            next(100),
            next(4),
            8000 + next(1000),
            9000 + next(1000),
            next(16),
            128 * (1 + next(64)),
            next(100),
            next(1000),
            next(10000),
            next(10000),
            next(10000),
            1 + next(32),
        );
        for r in 0..1 + next(4) {
            let _ = writeln!(
                out,
                "        {{ path: \"/api/v{}/{w1}/{}/{r}\", method: \"{}\", timeout_ms: {}, cache: {}, headers: [\"X-Trace-{}\", \"X-Tenant\"] }}",
                1 + next(3),
                WORDS[next(8) as usize],
                METHODS[next(3) as usize],
                100 * (1 + next(50)),
                next(2) == 1,
                next(100),
            );
        }
        out.push_str("    ]\n}\n");
    }
    out
}

fn config(c: &mut Criterion) {
    let source = mid_size_config(150);
    let parsed = tusk_parser::parse(&source, tusk_parser::ParseOptions::default());
    assert!(parsed.errors.is_empty(), "the generated config parses: {:?}", parsed.errors);
    assert!(tusk::Engine::new().eval_str(&source).is_ok(), "the generated config evaluates");

    let mut group = c.benchmark_group("config");
    group.throughput(Throughput::Bytes(source.len() as u64));
    group.bench_function("lex", |b| b.iter(|| tusk_lexer::lex(black_box(&source))));
    group.bench_function("lex+parse", |b| {
        b.iter(|| tusk_parser::parse(black_box(&source), tusk_parser::ParseOptions::default()))
    });
    group.bench_function("parse+eval", |b| b.iter(|| tusk::Engine::new().eval_str(black_box(&source)).unwrap()));
    // Compiled once, then only evaluated: what `Engine::run` saves over `eval_str`.
    let mut engine = tusk::Engine::new();
    let program = engine.compile(&source).expect("the generated config compiles");
    group.bench_function("run (compiled once)", |b| b.iter(|| engine.run(black_box(&program)).unwrap()));
    group.finish();
}

/// Evaluates `source` (a document whose `r` entry loops `n` times) and returns the time it took.
fn eval_time(engine: &mut tusk::Engine, source: &str) -> Duration {
    let start = Instant::now();
    let document = engine.eval_str(source).expect("the bench script evaluates");
    let elapsed = start.elapsed();
    black_box(document);
    elapsed
}

/// Calls per criterion iteration: one iteration is a batch of this many calls, so the reported
/// time in microseconds reads as nanoseconds per call.
const BATCH: u64 = 1000;

/// Criterion's `iters` iterations are `iters * BATCH` calls: the loop with the call minus the
/// same loop without it. The sources are built outside the timed part; parsing and compiling them
/// is a constant that the subtraction removes. The result is never zero (criterion refuses that),
/// which only matters when noise swamps a tiny sample.
fn per_batch(
    with_call_source: impl Fn(u64) -> String,
    without_call_source: impl Fn(u64) -> String,
) -> impl FnMut(u64) -> Duration {
    move |iters| {
        let (with_call, without_call) = (with_call_source(iters * BATCH), without_call_source(iters * BATCH));
        // A fresh engine pays one-time costs (value stack growth, first symbol loads) on its first
        // run; warm it with both shapes so that neither timed run carries them.
        let mut engine = tusk::Engine::new();
        eval_time(&mut engine, &with_call_source(1));
        eval_time(&mut engine, &without_call_source(1));
        let cost = eval_time(&mut engine, &with_call);
        let base = eval_time(&mut engine, &without_call);
        cost.saturating_sub(base).max(Duration::from_nanos(1))
    }
}

fn calls(c: &mut Criterion) {
    // Each timed batch runs both loops, so a sample takes about five times what it reports.
    let mut group = c.benchmark_group("calls");
    group.measurement_time(Duration::from_secs(2));
    // One `abs` call per element; the baseline does the same arithmetic without the call.
    group.bench_function("builtin call (abs), 1000 calls", |b| {
        b.iter_custom(per_batch(
            |n| format!("r: reduce(range(0, {n}), 0, (t, i) => t + abs(i - 1000000))"),
            |n| format!("r: reduce(range(0, {n}), 0, (t, i) => t + (i - 1000000))"),
        ))
    });
    // One call of a one-argument lambda defined in the document (resolved to a module slot).
    group.bench_function("lambda call, 1000 calls", |b| {
        b.iter_custom(per_batch(
            |n| format!("inc: x => x + 1\nr: reduce(range(0, {n}), 0, (t, i) => t + inc(i))"),
            |n| format!("r: reduce(range(0, {n}), 0, (t, i) => t + (i + 1))"),
        ))
    });
    group.finish();

    // The whole loops, for reference: one reduce step with and without the builtin call.
    let n = 100_000;
    let mut group = c.benchmark_group("reduce");
    group.throughput(Throughput::Elements(n));
    for (name, body) in [("plain", "t + (i - 1000000)"), ("abs", "t + abs(i - 1000000)")] {
        let source = format!("r: reduce(range(0, {n}), 0, (t, i) => {body})");
        group.bench_function(name, |b| b.iter(|| tusk::Engine::new().eval_str(&source).unwrap()));
    }
    let source = "fib: n => n < 2 ? n : fib(n - 1) + fib(n - 2)\nr: fib(20)";
    group.throughput(Throughput::Elements(21891));
    group.bench_function("fib(20)", |b| b.iter(|| tusk::Engine::new().eval_str(source).unwrap()));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = config, calls
}
criterion_main!(benches);
