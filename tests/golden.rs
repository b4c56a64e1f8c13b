// Golden tests: every `tests/cases/<area>/<name>.tsk` is evaluated and its outcome compared with
// the expectation files beside it:
//
// - `<name>.json`: the document as pretty JSON, present when evaluation succeeds;
// - `<name>.diag`: the rendered diagnostics (`Engine::render(&error, false)`: no colour, ASCII),
//   the errors when evaluation fails, the warnings when it succeeds with some;
// - `<name>.printed`: what `print()` wrote, when it wrote anything.
//
// A file that should exist and does not, or exists and should not, is a failure too.
// To regenerate the expectations after an intended change, run
//
//     TUSK_BLESS=1 cargo test -p tusk-tests --test golden
//
// and review the diff with git before committing it: never bless output you have not read.
// `TUSK_CASES=<text>` limits the run (and the blessing) to the cases whose name contains it.
//
// Case options are comment lines at the very top of a case:
// - `# mode: strict` or `# mode: compat` selects the language mode (default: the default mode);
// - `# max-depth: N` and `# max-call-depth: N` lower the nesting and call-depth limits.
//
// Each case runs in a fresh temporary directory, which is what relative paths (`@file`,
// `@file.write`, `@stem.tsk.get`) resolve against; the files of `<name>.files/`, if that folder
// exists, are copied there first. The temporary path is shown as `$DIR` in expectations.
// The harness runs with a fixed environment (see `ENVIRONMENT`), so `@env` and `@date` are
// deterministic.

mod support;

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tusk::{Engine, Mode};

/// The areas of `tests/cases`; a folder not listed here is a mistake.
const AREAS: &[&str] = &["syntax", "eval", "operators", "errors", "regressions"];

/// The environment the cases see (and nothing else, apart from TMPDIR).
const ENVIRONMENT: &[(&str, &str)] = &[
    ("SOURCE_DATE_EPOCH", support::FROZEN_EPOCH),
    ("TUSK_TEST_GREETING", "hello from the harness"),
    ("TUSK_TEST_PORT", "9090"),
    ("TUSK_TEST_FLAG", "yes"),
    ("TUSK_TEST_RATIO", "0.25"),
    ("TUSK_TEST_EMPTY", ""),
];

/// What evaluating a case produced, normalised for comparison.
#[derive(Debug, Default)]
struct Outcome {
    json: Option<String>,
    diagnostics: Option<String>,
    printed: Option<String>,
}

/// The options a case asks for in its leading comment lines.
#[derive(Debug, Default)]
struct CaseOptions {
    mode: Option<Mode>,
    max_depth: Option<usize>,
    max_call_depth: Option<usize>,
}

impl CaseOptions {
    fn parse(source: &str) -> CaseOptions {
        let mut options = CaseOptions::default();
        for line in source.lines().take_while(|line| line.starts_with("# ")) {
            let Some((key, value)) = line[2..].split_once(':') else { continue };
            let value = value.trim();
            match key.trim() {
                "mode" => {
                    options.mode = Some(match value {
                        "strict" => Mode::Strict,
                        "compat" => Mode::Compat,
                        "default" => Mode::Default,
                        other => panic!("unknown mode {other:?} in a case header"),
                    })
                }
                "max-depth" => options.max_depth = Some(value.parse().expect("max-depth is a number")),
                "max-call-depth" => options.max_call_depth = Some(value.parse().expect("max-call-depth is a number")),
                _ => {}
            }
        }
        options
    }
}

/// Evaluates `source` as the file `name` in `directory` and normalises what came out.
fn evaluate(name: &str, source: &str, directory: &Path) -> Outcome {
    let options = CaseOptions::parse(source);
    let mut engine = Engine::new();
    engine.set_mode(options.mode.unwrap_or(Mode::Default));
    if let Some(depth) = options.max_depth {
        engine.options_mut().limits.max_nesting_depth = depth;
    }
    if let Some(depth) = options.max_call_depth {
        engine.options_mut().limits.max_call_depth = depth;
    }
    let printed = Rc::new(RefCell::new(String::new()));
    let sink = Rc::clone(&printed);
    engine.on_print(move |text| {
        sink.borrow_mut().push_str(text);
        sink.borrow_mut().push('\n');
    });
    let (json, diagnostics) = match engine.eval_named(name, source, Some(directory)) {
        Ok(document) => (
            Some(tusk::format::to_json(document.value(), false).unwrap_or_else(|error| format!("<{error}>"))),
            engine.render_diagnostics(document.warnings(), false),
        ),
        Err(error) => (None, engine.render(&error, false)),
    };
    let normalise = |text: String| -> Option<String> {
        let text = text.replace("\r\n", "\n").replace(&directory.display().to_string(), "$DIR");
        // Expectation files end with one newline and carry no trailing spaces (editors strip them).
        let text: Vec<&str> = text.lines().map(str::trim_end).collect();
        let text = text.join("\n");
        let text = text.trim_end();
        (!text.is_empty()).then(|| format!("{text}\n"))
    };
    let printed = printed.borrow().clone();
    Outcome { json: json.and_then(normalise), diagnostics: normalise(diagnostics), printed: normalise(printed) }
}

/// Evaluates one case file and compares (or, when blessing, writes) its expectation files.
/// Returns the failures as readable text.
fn check(case: &Path) -> Vec<String> {
    let cases_dir = support::repo_root().join("tests/cases");
    let name = case.strip_prefix(&cases_dir).unwrap_or(case).display().to_string();
    let source = fs::read_to_string(case).unwrap_or_else(|error| panic!("cannot read {name}: {error}"));
    let workdir = tempfile::tempdir().expect("a temporary directory");
    // Canonical, so that the paths in messages are the ones the harness replaces.
    let directory = workdir.path().canonicalize().expect("the temporary directory exists");
    let fixtures = case.with_extension("files");
    if fixtures.is_dir() {
        copy_dir(&fixtures, &directory);
    }
    let outcome = evaluate(&name, &source, &directory);
    let mut failures = Vec::new();
    for (extension, actual) in [("json", &outcome.json), ("diag", &outcome.diagnostics), ("printed", &outcome.printed)]
    {
        let path = case.with_extension(extension);
        let expected = fs::read_to_string(&path).ok().map(|text| text.replace("\r\n", "\n"));
        if expected.as_deref() == actual.as_deref() {
            continue;
        }
        if support::blessing() {
            match actual {
                Some(text) => fs::write(&path, text).expect("expectation files are writable"),
                None => fs::remove_file(&path).expect("stale expectation files are removable"),
            }
            println!("blessed {}", path.display());
            continue;
        }
        let file = format!("{}.{extension}", name.trim_end_matches(".tsk"));
        failures.push(match (expected, actual) {
            (None, Some(actual)) => format!("{file} is missing; the case produced:\n{actual}"),
            (Some(expected), None) => {
                format!("{file} exists, but the case produced no such output; it expects:\n{expected}")
            }
            (Some(expected), Some(actual)) => {
                format!("{file} differs (- expected, + actual):\n{}", support::diff(&expected, actual))
            }
            (None, None) => unreachable!("equal options were skipped"),
        });
    }
    failures
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("a fixture folder is readable") {
        let entry = entry.expect("a fixture entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            fs::create_dir_all(&target).expect("the temporary directory is writable");
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("fixtures can be copied");
        }
    }
}

/// Every case file, sorted; also reports expectation files whose case is gone.
fn case_files() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let cases_dir = support::repo_root().join("tests/cases");
    let mut cases = Vec::new();
    let mut orphans = Vec::new();
    for entry in fs::read_dir(&cases_dir).expect("tests/cases exists") {
        let area = entry.expect("a directory entry").path();
        let area_name = area.file_name().unwrap_or_default().to_string_lossy().into_owned();
        assert!(AREAS.contains(&area_name.as_str()), "unknown area tests/cases/{area_name}: use one of {AREAS:?}");
        for file in fs::read_dir(&area).expect("an area is a folder") {
            let path = file.expect("a directory entry").path();
            match path.extension().and_then(|extension| extension.to_str()) {
                Some("tsk") => cases.push(path),
                Some("json" | "diag" | "printed") if !path.with_extension("tsk").exists() => orphans.push(path),
                _ => {}
            }
        }
    }
    cases.sort();
    orphans.sort();
    (cases, orphans)
}

#[test]
fn golden_cases_match_their_expectations() {
    support::with_environment("golden_cases_match_their_expectations", ENVIRONMENT, || {
        let (mut cases, mut orphans) = case_files();
        assert!(!cases.is_empty(), "no cases found");
        if let Ok(filter) = std::env::var("TUSK_CASES") {
            cases.retain(|case| case.to_string_lossy().contains(&filter));
            orphans.retain(|orphan| orphan.to_string_lossy().contains(&filter));
        }
        let mut failures: Vec<String> = cases.iter().flat_map(|case| check(case)).collect();
        for orphan in orphans {
            if support::blessing() {
                fs::remove_file(&orphan).expect("stale expectation files are removable");
                println!("removed {}", orphan.display());
            } else {
                failures.push(format!("{} has no case file", orphan.display()));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} golden cases failed (TUSK_BLESS=1 regenerates the expectations):\n\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    });
}

/// Evaluates generated source with the default limits and returns the rendered errors.
fn errors_of_generated(name: &str, source: &str) -> String {
    let workdir = tempfile::tempdir().expect("a temporary directory");
    let outcome = evaluate(name, source, workdir.path());
    assert!(outcome.json.is_none(), "{name} should be refused, but it evaluated");
    outcome.diagnostics.expect("a refused input has diagnostics")
}

/// The start of a long text, for assertion messages that must not print megabytes.
fn head(text: &str) -> String {
    text.chars().take(400).collect()
}

// Inputs far deeper than any limit: each must end in one clean error, not a stack overflow
// (which would abort this test binary) and not a hang. Generated, because a 100 000-level file
// is no reading matter.

#[test]
fn a_hundred_thousand_nested_brackets_are_a_clean_error() {
    const DEPTH: usize = 100_000;
    let cases = [
        ("brackets", format!("a: {}1{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH))),
        ("unclosed_brackets", format!("a: {}\n", "[".repeat(DEPTH))),
        ("parentheses", format!("a: {}1{}\n", "(".repeat(DEPTH), ")".repeat(DEPTH))),
        ("objects", format!("a: {}1{}\n", "{b: ".repeat(DEPTH), "}".repeat(DEPTH))),
        ("blocks", format!("{}x: 1\n{}", "a {\n".repeat(DEPTH), "}\n".repeat(DEPTH))),
        ("angle_blocks", format!("{}x: 1\n{}", "a >\n".repeat(DEPTH), "<\n".repeat(DEPTH))),
        ("interpolations", format!("a: {}1{}\n", "\"${".repeat(DEPTH), "}\"".repeat(DEPTH))),
        ("calls", format!("a: {}1{}\n", "abs(".repeat(DEPTH), ")".repeat(DEPTH))),
        ("operator_arguments", format!("a: {}1{}\n", "@json(".repeat(DEPTH), ")".repeat(DEPTH))),
        ("unary_minus", format!("a: {}1\n", "-".repeat(DEPTH))),
        ("negations", format!("a: {}true\n", "!".repeat(DEPTH))),
        ("ternaries", format!("a: {}1{}\n", "true ? ".repeat(DEPTH), " : 0".repeat(DEPTH))),
        ("lambdas", format!("a: {}1\n", "x => ".repeat(DEPTH))),
        ("operator_chain", format!("a: {}\n", vec!["1"; DEPTH].join(" + "))),
    ];
    for (name, source) in cases {
        let errors = errors_of_generated(name, &source);
        assert!(errors.contains("nesting is too deep (the limit is 256 levels)"), "{name}: {}", head(&errors));
        assert_eq!(errors.matches("Error:").count(), 1, "{name} should report one error: {}", head(&errors));
    }
}

#[test]
fn a_thousand_indentation_levels_are_a_clean_error() {
    // Each level is one space deeper, so the file grows with the square of the depth.
    let source: String = (0..1_000).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
    let errors = errors_of_generated("indentation", &format!("{source}{}x: 1\n", " ".repeat(1_000)));
    assert!(errors.contains("nesting is too deep (the limit is 256 levels)"), "{}", head(&errors));
}

#[test]
fn unbounded_recursion_is_a_clean_error_at_the_call_depth_limit() {
    for (name, source) in [
        ("direct", "f: x => f(x)\ny: f(1)\n"),
        ("not_tail", "f: n => 1 + f(n + 1)\ny: f(0)\n"),
        ("mutual", "a: n => b(n)\nb: n => a(n)\ny: a(0)\n"),
        ("through_map", "f: n => map([n], f)\ny: f(0)\n"),
        ("through_an_operator", "f: n => @if(true, f(n), 0)\ny: f(0)\n"),
    ] {
        let errors = errors_of_generated(name, source);
        assert!(errors.contains("call depth limit exceeded (2000)"), "{name}: {}", head(&errors));
    }
}

#[test]
fn an_operator_chain_within_the_nesting_limit_evaluates() {
    // A chain of binary operators nests in the tree, so it counts toward the nesting limit
    // (ARCHITECTURE.md, Limits); 200 terms are well within it.
    let source = format!("sum: {}\n", vec!["1"; 200].join(" + "));
    let workdir = tempfile::tempdir().expect("a temporary directory");
    let outcome = evaluate("operator_chain", &source, workdir.path());
    assert_eq!(outcome.json.as_deref(), Some("{\n  \"sum\": 200\n}\n"), "{:?}", outcome.diagnostics.map(|d| head(&d)));
}

#[test]
fn an_operator_path_without_parentheses_reads_from_the_operator_result() {
    // `@request.method`: the longest registered prefix is called with no
    // arguments and the rest of the name is a path into its result.
    let mut engine = Engine::new();
    engine
        .register_operator("request", |_ctx, _args| {
            let headers: tusk::Object =
                [(tusk::Key::new("host"), tusk::Value::from("example.com"))].into_iter().collect();
            let request: tusk::Object = [
                (tusk::Key::new("method"), tusk::Value::from("GET")),
                (tusk::Key::new("headers"), tusk::Value::object(headers)),
            ]
            .into_iter()
            .collect();
            Ok(tusk::Value::object(request))
        })
        .expect("`@request` is free");
    let document = engine
        .eval_str("method: @request.method\nhost: @request.headers.host\nall: @request().method\n")
        .unwrap_or_else(|error| panic!("{}", engine.render(&error, false)));
    assert_eq!(
        tusk::format::to_json(document.value(), true).unwrap(),
        r#"{"method":"GET","host":"example.com","all":"GET"}"#
    );
    let error = engine.eval_str("missing: @request.body\n").expect_err("the request has no body");
    assert!(engine.render(&error, false).contains("object has no key `body`"), "{}", engine.render(&error, false));
}
