//! Parser tests: AST shapes and rendered diagnostics.

use tusk_diagnostics::{RenderOptions, SourceMap, render_all};

use crate::ast::*;
use crate::{ParseOptions, parse};

fn check_errors(source: &str) -> String {
    let parsed = parse(source, ParseOptions::default());
    let mut map = SourceMap::new();
    let id = map.add("test.tsk", source);
    let diagnostics: Vec<_> = parsed.errors.iter().map(|error| error.to_diagnostic(id)).collect();
    render_all(&diagnostics, &map, RenderOptions::PLAIN)
}

fn items(source: &str) -> Vec<Item<'_>> {
    let parsed = parse(source, ParseOptions::default());
    assert!(parsed.errors.is_empty(), "{source:?}: {:#?}", parsed.errors);
    parsed.ast.expect("parsed").items
}

fn entry_value<'a>(item: &'a Item<'a>) -> &'a ExprKind<'a> {
    match &item.kind {
        ItemKind::Entry { value, .. } => &value.kind,
        other => panic!("not an entry: {other:?}"),
    }
}

#[test]
fn entries_in_every_style() {
    let source = "a: 1\nb = 'x'\n[server]\nport: 8080\nblock {\n  k: true\n}\nangle >\n  j: null\n<\n";
    let parsed = items(source);
    assert_eq!(parsed.len(), 6);
    assert!(matches!(entry_value(&parsed[0]), ExprKind::Int(1)));
    assert!(matches!(&parsed[2].kind, ItemKind::Section { path } if path[0].name == "server"));
    assert!(matches!(entry_value(&parsed[4]), ExprKind::Object(items) if items.len() == 1));
    assert!(matches!(entry_value(&parsed[5]), ExprKind::Object(items) if items.len() == 1));
}

#[test]
fn indented_blocks_and_lists() {
    let source = "database:\n  host: \"h\"\n  port: 5432\nfeatures:\n  - logging\n  - metrics\nafter: 1\n";
    let parsed = items(source);
    assert_eq!(parsed.len(), 3);
    assert!(matches!(entry_value(&parsed[0]), ExprKind::Object(items) if items.len() == 2));
    assert!(matches!(entry_value(&parsed[1]), ExprKind::Array(items) if items.len() == 2));
}

#[test]
fn precedence_and_lambdas() {
    let parsed = items("f: (a, b) => a + b * 2 > 3 ? \"big\" : \"small\"\n");
    let ExprKind::Lambda(params, body) = entry_value(&parsed[0]) else { panic!() };
    assert_eq!(params.len(), 2);
    let ExprKind::Ternary(condition, _, _) = &body.kind else { panic!("{body:?}") };
    let ExprKind::Binary(BinaryOp::Gt, lhs, _) = &condition.kind else { panic!() };
    assert!(
        matches!(&lhs.kind, ExprKind::Binary(BinaryOp::Add, _, rhs) if matches!(rhs.kind, ExprKind::Binary(BinaryOp::Mul, _, _)))
    );
}

#[test]
fn multi_line_values() {
    let source =
        "sampling: @optimize(\"x\", {\n    debug: 0.1,      # 10%\n    info: 0.5\n})\nlist: [\n  \"a\"\n  \"b\",\n]\n";
    let parsed = items(source);
    assert!(
        matches!(entry_value(&parsed[0]), ExprKind::Operator { name: "optimize", args: Some(args), .. } if args.len() == 2)
    );
    assert!(matches!(entry_value(&parsed[1]), ExprKind::Array(items) if items.len() == 2));
}

#[test]
fn interpolation_parses_expressions() {
    let parsed = items("s: \"a ${1 + 2} b\"\n");
    assert!(matches!(entry_value(&parsed[0]), ExprKind::Interpolated(parts) if parts.len() == 3));
}

#[test]
fn recovery_reports_every_error() {
    let out = check_errors("a: (1 +\nb: 2\nc: ]\nd: 4\n");
    assert_eq!(out.matches("Error").count(), 2, "{out}");
}

#[test]
fn unclosed_brace_points_at_opener() {
    let out = check_errors("a {\n  b: 1\n");
    assert!(out.contains("input ended early"), "{out}");
    assert!(out.contains("unclosed `{` opened here"), "{out}");
}

#[test]
fn deep_nesting_is_refused_cleanly() {
    let source = "a: ".to_string() + &"[".repeat(100_000) + &"]".repeat(100_000);
    let out = check_errors(&source);
    assert!(out.contains("nesting is too deep"), "{out}");
}

#[test]
fn trailing_words_get_a_hint() {
    let out = check_errors("s_bare: hello world\n");
    assert!(out.contains("expected"), "{out}");
    assert!(out.contains("quote text that contains spaces"), "{out}");
}

#[test]
fn ternaries_may_span_lines() {
    let parsed = items("c: x == \"p\" ?\n    1 :\n    2\nd: y\n  ? 1\n  : 2\n");
    assert!(matches!(entry_value(&parsed[0]), ExprKind::Ternary(..)));
    assert!(matches!(entry_value(&parsed[1]), ExprKind::Ternary(..)));
}

#[test]
fn deeply_nested_interpolation_is_refused_cleanly() {
    // The lexer used to recurse once per `"${` and overflowed the stack before the layout pass
    // could refuse the depth; now the depth reaches the layout pass and is refused there.
    let source = "a: ".to_string() + &"\"${".repeat(100_000);
    let out = check_errors(&source);
    assert!(out.contains("nesting is too deep"), "{out}");
}

#[test]
fn parsing_again_and_again_does_not_leak_the_grammar() {
    // Found by fuzzing under LeakSanitizer: the recursive rules referred to themselves through
    // strong `Rc`s (`Recursive::declare`), so every parse leaked its whole grammar, tens of KB
    // each time, which a REPL or a server that reloads its configuration piles up.
    fn resident_bytes() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096)
    }
    let parse_many = |times: usize| {
        for _ in 0..times {
            // `-1` alone is not a document, so both the fast and the rich grammar are built.
            let parsed = parse("-1", ParseOptions::default());
            assert!(!parsed.errors.is_empty());
            let parsed = crate::parse_expression("-1", ParseOptions::default());
            assert!(parsed.errors.is_empty());
        }
    };
    parse_many(1_000);
    let Some(before) = resident_bytes() else { return };
    parse_many(10_000);
    let after = resident_bytes().unwrap_or(before);
    assert!(after.saturating_sub(before) < 32 << 20, "resident memory grew from {before} to {after} bytes");
}
