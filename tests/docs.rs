// The language reference's examples are run, so the reference and the interpreter agree.
// `docs/language.md` writes examples three ways, and each is checked here:
//
// - `expr` ⇒ `result` on one line: the expression evaluates to the result, written as JSON;
// - a ```tusk block followed by a line starting with "gives `…`": the block evaluates to that
//   JSON document;
// - a row of the diagnostics table whose example is one code span (optionally followed by
//   "in compat mode"): evaluating it reports that code.
//
// The examples run in a child process whose environment holds only `PORT=9090` (the one
// variable the reference's `@env` examples set) and a frozen `SOURCE_DATE_EPOCH`.

mod support;

use serde_json::Value as Json;
use tusk::{Engine, Mode};

const REFERENCE: &str = include_str!("../docs/language.md");

/// `expr` ⇒ `result` pairs: the code spans on either side of each ` ⇒ `.
fn arrow_examples() -> Vec<(usize, String, String)> {
    let mut examples = Vec::new();
    for (number, line) in REFERENCE.lines().enumerate() {
        let mut rest = line;
        while let Some(arrow) = rest.find("` ⇒ `") {
            let before = &rest[..arrow];
            let expression = &before[before.rfind('`').expect("an opening backtick") + 1..];
            let after = &rest[arrow + "` ⇒ `".len()..];
            let end = after.find('`').expect("a closing backtick");
            examples.push((number + 1, expression.to_string(), after[..end].to_string()));
            rest = &after[end..];
        }
    }
    examples
}

/// ```tusk blocks followed by "gives `json`".
fn document_examples() -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = REFERENCE.lines().collect();
    let mut examples = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index] == "```tusk" {
            let start = index + 1;
            let end = start + lines[start..].iter().position(|line| *line == "```").expect("a closing fence");
            let following = lines[end + 1..].iter().find(|line| !line.is_empty()).copied().unwrap_or_default();
            if let Some(rest) = following.strip_prefix("gives `") {
                let json = &rest[..rest.find('`').expect("a closing backtick")];
                examples.push((start, lines[start..end].join("\n") + "\n", json.to_string()));
            }
            index = end;
        }
        index += 1;
    }
    examples
}

/// Rows of the diagnostics table: (code, input, compat mode).
fn diagnostic_examples() -> Vec<(usize, String, String, bool)> {
    let mut examples = Vec::new();
    for (number, line) in REFERENCE.lines().enumerate() {
        let cells: Vec<&str> = line.split(" | ").map(|cell| cell.trim_matches(|c| c == '|' || c == ' ')).collect();
        let [code, _kind, example] = cells.as_slice() else { continue };
        let Some(code) = code.strip_prefix('`').and_then(|code| code.strip_suffix('`')) else { continue };
        let (example, compat) = match example.strip_suffix(" in compat mode") {
            Some(example) => (example, true),
            None => (*example, false),
        };
        let Some(input) = example.strip_prefix('`').and_then(|input| input.strip_suffix('`')) else { continue };
        if !input.contains('`') {
            examples.push((number + 1, code.to_string(), input.to_string(), compat));
        }
    }
    examples
}

fn json_of(value: &tusk::Value) -> Json {
    serde_json::from_str(&tusk::format::to_json(value, true).expect("examples have finite floats")).unwrap()
}

#[test]
fn every_documented_example_gives_its_documented_result() {
    support::with_environment(
        "every_documented_example_gives_its_documented_result",
        &[("PORT", "9090"), ("SOURCE_DATE_EPOCH", support::FROZEN_EPOCH)],
        || {
            let mut failures = Vec::new();
            let arrows = arrow_examples();
            let documents = document_examples();
            let diagnostics = diagnostic_examples();
            let counts = (arrows.len(), documents.len(), diagnostics.len());
            assert!(counts.0 > 50 && counts.1 >= 3 && counts.2 > 25, "the examples are found: {counts:?}");
            for (line, expression, expected) in &arrows {
                let expected: Json = match serde_json::from_str(expected) {
                    Ok(json) => json,
                    Err(error) => {
                        failures.push(format!("line {line}: `{expected}` is not JSON ({error})"));
                        continue;
                    }
                };
                match Engine::new().eval_expression(expression) {
                    Ok(value) if json_of(&value) == expected => {}
                    Ok(value) => failures.push(format!("line {line}: `{expression}` gives {}", json_of(&value))),
                    Err(error) => failures.push(format!("line {line}: `{expression}` fails: {error}")),
                }
            }
            for (line, source, expected) in &documents {
                let expected: Json = serde_json::from_str(expected).unwrap();
                match Engine::new().eval_str(source) {
                    Ok(document) if json_of(document.value()) == expected => {}
                    Ok(document) => {
                        failures.push(format!("line {line}: the block gives {}", json_of(document.value())))
                    }
                    Err(error) => failures.push(format!("line {line}: the block fails: {error}")),
                }
            }
            for (line, code, input, compat) in &diagnostics {
                let mut engine = Engine::new();
                if *compat {
                    engine.set_mode(Mode::Compat);
                }
                let reported: Vec<&str> = match engine.eval_str(input) {
                    Ok(document) => document.warnings().iter().filter_map(|d| d.code).collect(),
                    Err(error) => error.diagnostics().iter().filter_map(|d| d.code).collect(),
                };
                if !reported.contains(&code.as_str()) {
                    failures.push(format!("line {line}: `{input}` reports {reported:?}, not {code}"));
                }
            }
            assert!(failures.is_empty(), "docs/language.md disagrees with the interpreter:\n{}", failures.join("\n"));
        },
    );
}
