//! Config throughput: MB/s of the TuskLang front end and evaluator on the generated ~5 MB config,
//! beside `toml` and `serde_json` on the same content, plus a check that the evaluated TuskLang
//! document equals `config.json`.
//!
//! Run from the workspace root after `python3 bench/gen_config.py --out bench/data`:
//! `cargo bench -p tusk --bench config_throughput -- [DATA_DIR] [RUNS] [STAGE]` (defaults
//! `bench/data`, 10, every stage; a STAGE substring such as `lex+parse` or `lex only` runs only
//! the matching stages and skips the check, which is handy under `perf record`).
//! Each stage reads its own file once, runs once to warm up, then `RUNS` timed runs; only the stage
//! itself is timed (dropping its result is not). MB is 10^6 bytes of the stage's own input file.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// One measured stage: its name, its input file, and the median and best run.
struct Stage {
    name: &'static str,
    input: &'static str,
    bytes: usize,
    times: Vec<Duration>,
}

impl Stage {
    fn median(&self) -> Duration {
        self.times[self.times.len() / 2]
    }

    fn best(&self) -> Duration {
        self.times[0]
    }

    fn mb_per_s(&self, time: Duration) -> f64 {
        self.bytes as f64 / 1e6 / time.as_secs_f64()
    }
}

/// How many runs, and which stages (a substring of their names; `None` runs them all).
struct Plan<'a> {
    runs: usize,
    only: Option<&'a str>,
}

/// Runs `run` once to warm up and then `runs` times, timing each run but not the drop of its
/// result; `None` when the plan leaves the stage out.
fn measure<T>(
    plan: &Plan<'_>,
    name: &'static str,
    input: &'static str,
    bytes: usize,
    mut run: impl FnMut() -> T,
) -> Option<Stage> {
    if plan.only.is_some_and(|only| !name.contains(only)) {
        return None;
    }
    let runs = plan.runs;
    drop(black_box(run()));
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let result = black_box(run());
        times.push(start.elapsed());
        drop(result);
    }
    times.sort();
    Some(Stage { name, input, bytes, times })
}

fn read(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| {
        eprintln!("cannot read {}: {error}", path.display());
        eprintln!("generate the data first: python3 bench/gen_config.py --out bench/data");
        std::process::exit(2);
    })
}

/// The differences between two JSON trees, as `path: left != right` lines (at most `limit`).
fn differences(left: &Json, right: &Json, path: &mut String, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || left == right {
        return;
    }
    match (left, right) {
        (Json::Object(a), Json::Object(b)) => {
            let a_keys: Vec<&String> = a.keys().collect();
            let b_keys: Vec<&String> = b.keys().collect();
            if a_keys != b_keys {
                let only_a: Vec<&&String> = a_keys.iter().filter(|key| !b.contains_key(**key)).collect();
                let only_b: Vec<&&String> = b_keys.iter().filter(|key| !a.contains_key(**key)).collect();
                out.push(format!("{path}: keys only in tusk {only_a:?}, only in json {only_b:?}"));
            }
            for (key, value) in a {
                if let Some(other) = b.get(key) {
                    let length = path.len();
                    path.push('.');
                    path.push_str(key);
                    differences(value, other, path, out, limit);
                    path.truncate(length);
                }
            }
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            for (index, (value, other)) in a.iter().zip(b).enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                differences(value, other, path, out, limit);
                path.truncate(length);
            }
        }
        _ => out.push(format!("{path}: tusk {left} != json {right}")),
    }
}

/// Evaluates config.tsk once and compares it, through serde, with config.json.
fn check_document(tsk: &str, json: &str) -> bool {
    let mut engine = tusk::Engine::new();
    let document = match engine.eval_str(tsk) {
        Ok(document) => document,
        Err(error) => {
            println!("check: config.tsk does not evaluate:\n{}", engine.render(&error, false));
            return false;
        }
    };
    let ours = serde_json::to_value(document.value()).expect("a document serializes");
    let theirs: Json = serde_json::from_str(json).expect("config.json is valid JSON");
    let mut found = Vec::new();
    differences(&ours, &theirs, &mut String::from("$"), &mut found, 20);
    if found.is_empty() {
        println!("check: the TuskLang document equals config.json");
        true
    } else {
        println!("check: the TuskLang document DIFFERS from config.json (first {}):", found.len());
        for line in &found {
            println!("  {line}");
        }
        false
    }
}

fn main() {
    // `cargo bench` passes `--bench`; every other argument is positional.
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/data"));
    let runs: usize = args.get(1).and_then(|runs| runs.parse().ok()).unwrap_or(10).max(1);
    let plan = Plan { runs, only: args.get(2).map(String::as_str) };

    let tsk = read(&dir, "config.tsk");
    let toml_text = read(&dir, "config.toml");
    let json = read(&dir, "config.json");

    let ok = plan.only.is_none() && check_document(&tsk, &json);
    if plan.only.is_none() {
        let lexed = tusk_lexer::lex(&tsk);
        let parsed = tusk_parser::parse(&tsk, tusk_parser::ParseOptions::default());
        println!(
            "input: {} ({} tokens, {} lex errors, {} parse errors), {runs} runs after 1 warm-up",
            dir.display(),
            lexed.tokens.len(),
            lexed.errors.len(),
            parsed.errors.len()
        );
    }

    let stages: Vec<Stage> = [
        measure(&plan, "tusk lex only", "config.tsk", tsk.len(), || tusk_lexer::lex(&tsk)),
        measure(&plan, "tusk lex+parse", "config.tsk", tsk.len(), || {
            tusk_parser::parse(&tsk, tusk_parser::ParseOptions::default())
        }),
        // A fresh engine per run, as a program loading its config would have; creating it is timed
        // too (it is small next to the evaluation).
        measure(&plan, "tusk parse+eval", "config.tsk", tsk.len(), || tusk::Engine::new().eval_str(&tsk)),
        measure(&plan, "toml::from_str::<toml::Value>", "config.toml", toml_text.len(), || {
            toml::from_str::<toml::Value>(&toml_text).expect("valid TOML")
        }),
        measure(&plan, "serde_json::from_str::<Value>", "config.json", json.len(), || {
            serde_json::from_str::<Json>(&json).expect("valid JSON")
        }),
    ]
    .into_iter()
    .flatten()
    .collect();

    println!("| stage | input | bytes | best ms | median ms | best MB/s | median MB/s |");
    println!("|---|---|--:|--:|--:|--:|--:|");
    for stage in &stages {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.0} | {:.0} |",
            stage.name,
            stage.input,
            stage.bytes,
            stage.best().as_secs_f64() * 1e3,
            stage.median().as_secs_f64() * 1e3,
            stage.mb_per_s(stage.best()),
            stage.mb_per_s(stage.median())
        );
    }
    // One machine-readable line per stage for bench/run.py.
    for stage in &stages {
        println!("RESULT\t{}\t{:.3}\t{:.6}", stage.name, stage.mb_per_s(stage.median()), stage.median().as_secs_f64());
    }
    if plan.only.is_none() {
        println!("RESULT\tcheck\t{}", if ok { "equal" } else { "differs" });
    }
}
