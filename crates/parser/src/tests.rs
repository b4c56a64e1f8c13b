//! Parser tests: AST shapes and rendered diagnostics.

use tusk_diagnostics::{RenderOptions, SourceMap, render_all};

use crate::ast::*;
use crate::{ParseOptions, ValueBuilder, parse, parse_building};

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

// ---- the descent pass against chumsky

use std::path::{Path, PathBuf};

use crate::differential::{self, Outcome, Pass};

/// Both parsers on one document: when chumsky accepts it the descent pass must accept it too
/// and build the same tree, and it must never accept what chumsky rejects. Returns whether
/// chumsky accepted it.
fn check_passes_agree(name: &str, source: &str) -> bool {
    let options = ParseOptions::default();
    let chumsky = differential::document(source, options, Pass::Chumsky);
    let descent = differential::document(source, options, Pass::Descent);
    match (&chumsky, &descent) {
        (Outcome::Accepted(expected), Outcome::Accepted(found)) => {
            assert_eq!(expected, found, "{name}: the descent pass built a different tree");
            check_built_statements(name, source, expected);
            true
        }
        (Outcome::Accepted(_), Outcome::Rejected) => panic!("{name}: the descent pass gave up on valid input"),
        (Outcome::Rejected, Outcome::Accepted(found)) => {
            panic!("{name}: the descent pass accepted what chumsky rejects: {found:#?}")
        }
        (Outcome::NotParsed, Outcome::NotParsed) | (Outcome::Rejected, Outcome::Rejected) => false,
        _ => panic!("{name}: the passes disagree on whether the input reaches them"),
    }
}

/// A value of [`TreeBuilder`]: the literals it was built from, so that it can be compared with
/// what the tree holds.
#[derive(Debug, PartialEq)]
enum Built {
    Scalar(String),
    Unary(UnaryOp, Box<Built>),
    Array(Vec<Built>),
    Object(Vec<(String, Built)>),
}

/// Builds [`Built`]s, refusing objects with a repeated key (as the evaluator's builder does).
struct TreeBuilder;

impl<'src> ValueBuilder<'src> for TreeBuilder {
    type Value = Built;

    fn scalar(&mut self, literal: ExprKind<'src>) -> Option<Built> {
        assert!(
            matches!(
                literal,
                ExprKind::Null
                    | ExprKind::Bool(_)
                    | ExprKind::Int(_)
                    | ExprKind::Float(_)
                    | ExprKind::Str(_)
                    | ExprKind::Range(..)
            ),
            "not a scalar literal: {literal:?}"
        );
        Some(Built::Scalar(format!("{literal:?}")))
    }

    fn unary(&mut self, op: UnaryOp, operand: Built) -> Option<Built> {
        Some(Built::Unary(op, Box::new(operand)))
    }

    fn array(&mut self, items: std::vec::Drain<'_, Built>) -> Built {
        Built::Array(items.collect())
    }

    fn object(&mut self, entries: std::vec::Drain<'_, (std::borrow::Cow<'src, str>, Built)>) -> Option<Built> {
        let entries: Vec<(String, Built)> = entries.map(|(key, value)| (key.into_owned(), value)).collect();
        let unique = entries.iter().enumerate().all(|(i, (key, _))| entries[..i].iter().all(|(k, _)| k != key));
        unique.then_some(Built::Object(entries))
    }
}

/// What [`TreeBuilder`] should build from a tree: `None` when it is not made only of literals.
fn built_from_tree(expr: &Expr<'_>) -> Option<Built> {
    Some(match &expr.kind {
        ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Range(..) => Built::Scalar(format!("{:?}", expr.kind)),
        ExprKind::Unary(op, operand) => Built::Unary(*op, Box::new(built_from_tree(operand)?)),
        ExprKind::Array(items) => Built::Array(items.iter().map(built_from_tree).collect::<Option<_>>()?),
        ExprKind::Object(items) => {
            let mut entries = Vec::new();
            for item in items {
                let ItemKind::Entry { key, value } = &item.kind else { return None };
                let [key] = &**key else { return None };
                entries.push((std::borrow::Cow::Owned(key.name.to_string()), built_from_tree(value)?));
            }
            TreeBuilder.object(entries.drain(..))?
        }
        _ => return None,
    })
}

/// `parse_building` on a document the descent pass accepts: every top-level entry made only of
/// literals is built, into what its tree holds, with the tree's key and spans; every other
/// statement is the tree's.
fn check_built_statements(name: &str, source: &str, tree: &Document<'_>) {
    let built = parse_building(source, ParseOptions::default(), &mut TreeBuilder);
    assert!(built.errors.is_empty(), "{name}: {:?}", built.errors);
    let statements = built.ast.expect("a document").statements;
    assert_eq!(statements.len(), tree.items.len(), "{name}");
    for (statement, item) in statements.iter().zip(&tree.items) {
        let literals = match &item.kind {
            ItemKind::Entry { value, .. } => built_from_tree(value),
            _ => None,
        };
        match statement {
            Statement::Item(parsed) => {
                assert_eq!(parsed, item, "{name}");
                assert_eq!(literals, None, "{name}: an entry made only of literals was not built: {item:?}");
            }
            Statement::Built { key, value, value_span, span } => {
                let ItemKind::Entry { key: tree_key, value: tree_value } = &item.kind else {
                    panic!("{name}: built a statement that is no entry: {item:?}")
                };
                assert_eq!((key, *span, *value_span), (tree_key, item.span, tree_value.span), "{name}");
                assert_eq!(Some(value), literals.as_ref(), "{name}");
            }
        }
    }
}

fn check_expression_passes_agree(source: &str) -> bool {
    let options = ParseOptions::default();
    let chumsky = differential::expression(source, options, Pass::Chumsky);
    let descent = differential::expression(source, options, Pass::Descent);
    match (&chumsky, &descent) {
        (Outcome::Accepted(expected), Outcome::Accepted(found)) => {
            assert_eq!(expected, found, "{source:?}: the descent pass built a different tree");
            true
        }
        (Outcome::Rejected, Outcome::Rejected) | (Outcome::NotParsed, Outcome::NotParsed) => false,
        _ => panic!("{source:?}: chumsky {chumsky:?}, descent {descent:?}"),
    }
}

fn tsk_files_under(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()));
    for entry in entries.map(|entry| entry.expect("a directory entry")) {
        let path = entry.path();
        if path.is_dir() {
            tsk_files_under(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "tsk") {
            files.push(path);
        }
    }
}

/// The layout pass fed by the lexer a few tokens at a time (as `parse` runs it) makes exactly
/// the tokens and errors it makes over the whole token buffer, in both modes, whether the
/// input is refused as too deep or not.
fn check_lexing_in_chunks(name: &str, source: &str) {
    use crate::layout::{LayoutMode, layout, lex_and_lay_out_in_chunks};
    let lexed = tusk_lexer::lex(source);
    for mode in [LayoutMode::Document, LayoutMode::Expression] {
        for max_depth in [256, 3] {
            let mut expected_errors = Vec::new();
            let expected = layout(source, &lexed.tokens, max_depth, mode, &mut expected_errors);
            for chunk in [3, 4, 5, 8, 512] {
                let (mut lex_errors, mut errors) = (Vec::new(), Vec::new());
                let found = lex_and_lay_out_in_chunks(source, chunk, max_depth, mode, &mut lex_errors, &mut errors);
                let context = format!("{name} (chunks of {chunk}, depth {max_depth})");
                assert_eq!(lex_errors, lexed.errors, "{context}: lexer errors");
                assert_eq!(errors, expected_errors, "{context}: layout errors");
                assert_eq!(found.tokens, expected.tokens, "{context}: tokens");
                assert_eq!(found.parseable, expected.parseable, "{context}");
                assert_eq!(found.unclosed, expected.unclosed, "{context}");
            }
        }
    }
}

/// The descent pass reading a document's laid-out tokens a part at a time, as `parse` and
/// `parse_building` run it, accepts exactly what it accepts over the whole buffer of them and
/// builds the same statements, for parts of any size; and a document with errors is never
/// taken by that route (it is laid out again, for the grammar to word them).
fn check_reading_in_parts(name: &str, source: &str) {
    use crate::descent::{Built, Items, StatementReader, TopLevel};
    use crate::layout::{LayoutMode, lex_and_lay_out, lex_and_lay_out_streaming};

    fn read<'s, R: StatementReader<'s>>(
        source: &'s str,
        tokens: Option<&[crate::layout::SpannedToken]>,
        part: usize,
        reader: R,
    ) -> (bool, Option<Vec<R::Statement>>) {
        let mut top_level = TopLevel::new(source, 256, reader);
        let clean = match tokens {
            Some(tokens) => top_level.read_part(tokens, true),
            None => lex_and_lay_out_streaming(source, part, 256, &mut |part, last| top_level.read_part(part, last)),
        };
        (clean, top_level.finish())
    }

    let (mut lex_errors, mut errors) = (Vec::new(), Vec::new());
    let layout = lex_and_lay_out(source, 256, LayoutMode::Document, &mut lex_errors, &mut errors);
    let clean = layout.parseable && layout.unclosed.is_none() && lex_errors.is_empty() && errors.is_empty();
    let (_, whole) = read(source, Some(&layout.tokens), 0, Items);
    let (_, whole_built) = read(source, Some(&layout.tokens), 0, Built(&mut TreeBuilder));
    for part in [1, 2, 3, 7, 64, 4096] {
        let context = format!("{name} (parts of {part})");
        let (streamed_clean, items) = read(source, None, part, Items);
        assert_eq!(streamed_clean && items.is_some(), clean && whole.is_some(), "{context}: accepted");
        if clean {
            assert_eq!(items, whole, "{context}: statements");
        }
        let (_, built) = read(source, None, part, Built(&mut TreeBuilder));
        if clean {
            assert_eq!(built, whole_built, "{context}: built statements");
        }
    }
}

#[test]
fn reading_in_parts_agrees_on_tricky_input() {
    let sources = [
        "",
        "\n",
        "a: 1",
        "a: 1\nb: 2\n\n\nc: [1,\n 2]\n",
        "a: 1; b: 2\nc: 3, d: 4\n",
        "a: 1 b: 2\n",
        "a: 1\n}\nb: 2\n",
        "[section]\nk: 1\n\n[other.x]\nz: @env(\"A\")\ny: $g\n$g: 2\n",
        "list:\n  - 1\n  - 2\nafter: 1\nobj:\n  a: 1\n  b:\n    c: 2\nend: 3\n",
        "blk >\n  x: 1\n  inner >\n    y: 2\n  <\n<\nz: 1\n",
        "f: (a, b) =>\n  a +\n  b\ng: x ?\n  1 :\n  2\nh: -9223372036854775808\n",
        "s {\n  a: 1\n  b: [1, 2]\n}\nt { u: \"${a}\" }\nv: {a: 1, a: 2}\n",
        "a: 1\nb: \"bad \\q escape\"\nc: 2\n",
        "a: 1\nb: 99999999999999999999\nc: 2\n",
        "a: 1\n  b: 2\nc: 3\n",
        "a: 1\nb: [1, 2\nc: 3\n",
        "a: 1\nb: (((((1)))))\n",
    ];
    for source in sources {
        check_reading_in_parts(&format!("{source:?}"), source);
    }
    // A document refused as too deep after its first parts were read.
    let deep = format!("a: 1\nb: 2\nc: {}1{}\n", "[".repeat(300), "]".repeat(300));
    check_reading_in_parts("deep", &deep);
    let parsed = parse(&deep, ParseOptions::default());
    assert!(parsed.ast.is_none());
    assert_eq!(parsed.errors.len(), 1);
    assert!(matches!(parsed.errors[0].kind, crate::ParseErrorKind::TooDeep { limit: 256 }), "{:?}", parsed.errors);
    // An error in a later part: the statements read before it are dropped, the grammar reports it.
    let late_error = format!("{}z: [1, 2\n", "a: 1\n".repeat(5000));
    check_reading_in_parts("late error", &late_error);
    let parsed = parse(&late_error, ParseOptions::default());
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    assert_eq!(parsed.errors[0].span.start as usize, late_error.len() - 1, "{:?}", parsed.errors);
}

#[test]
fn layout_in_chunks_agrees_on_tricky_input() {
    let sources = [
        "",
        "a: 1",
        "\n\n  a: 1\n",
        "list:\n  - name: \"a\", x: 1, y: [1, 2]\n  - b\n  - key: value\n    more: 2\nafter: 1\n",
        "- k: v",
        "a:\n  - k:\n      deep: 1\n  - j = 2; - 3\n",
        "x: \"${a + \"${b}\"} and ${[1, 2]}\"\ny: \"${unclosed\n",
        "a: [[[[[[[[1]]]]]]]]\nb: \"bad \\q escape\"\nc: 99999999999999999999\n",
        "b {\n  c {\n    d: (1 + (2 * (3 - 4)))\n",
        "blk >\n  x: 1\n  inner >\n    y: 2\n  <\n",
        "t: a ?\n  b :\n  c\n",
        "$g: 1; h: -9223372036854775808; r: 5-3\n",
        "n: 1\n    m: 2\n  o: 3\n",
        "[section]\n  k: 1\n[other.x]\nz: @env(\"A\")\n",
        "url: http://x\ncolor: #333\n",
    ];
    for source in sources {
        check_lexing_in_chunks(&format!("{source:?}"), source);
    }
    // A `- key: value` item whose line is longer than a chunk.
    let long = format!("list:\n  - key: [{}]\n  - other: 1\n", vec!["1"; 40].join(", "));
    check_lexing_in_chunks("long item line", &long);
}

/// Every `.tsk` file of a folder through both parsers; returns (files, accepted by chumsky).
fn check_folder(dir: &Path) -> (usize, usize) {
    let mut files = Vec::new();
    tsk_files_under(dir, &mut files);
    files.sort();
    let mut accepted = 0;
    for path in &files {
        let source =
            std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        check_lexing_in_chunks(&path.display().to_string(), &source);
        check_reading_in_parts(&path.display().to_string(), &source);
        check_plain_reader_on_mutations(&path.display().to_string(), &source, 12);
        accepted += usize::from(check_passes_agree(&path.display().to_string(), &source));
    }
    (files.len(), accepted)
}

#[test]
fn descent_pass_agrees_on_examples_and_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for folder in ["examples", "tests/cases", "bench/workloads"] {
        let (files, accepted) = check_folder(&root.join(folder));
        println!("{folder}: {files} files, {accepted} accepted by both parsers");
        // The benchmark workloads are few; the other folders hold dozens of valid files.
        let least = if folder == "bench/workloads" { 1 } else { 11 };
        assert!(accepted >= least, "{folder}: {files} files, {accepted} valid");
    }
}

#[test]
fn descent_pass_agrees_on_the_conformance_files() {
    // The real TuskLang files live outside the repository (shared/conformance/tusktsk).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/tusktsk");
    if !dir.is_dir() {
        let reason = format!("the conformance files are not at {}", dir.display());
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}, and CI=true requires them");
        eprintln!("skipping: {reason}");
        return;
    }
    let (files, accepted) = check_folder(&dir);
    println!("conformance: {files} files, {accepted} accepted by both parsers");
    assert!(files > 0);
}

#[test]
fn descent_pass_agrees_on_every_construct() {
    let valid = [
        "",
        "\n",
        ";",
        "a: 1",
        "a = 1; b = 2, c: 3",
        ";a: 1;;\n",
        "$g: 1\nb: $g + 1",
        "$g = 1; b { $h: 2 }",
        "[server]\nport: 8080\n[a.b.c]\nx: 1\n[ \"q\" . 1 ]\n",
        "a.b.c: 1\n\"k.k\".true.null.false.7: 2",
        "block {\n  k: true\n}\nangle >\n  j: null\n  inner >\n    x: 1\n  <\n<\n",
        "outer >\n  inner >\n    x: 1\n  < <\n",
        "b { a: 1, b: a + 1 }\narr [1, 2, 3]\nempty {}\nnone []\n",
        "database:\n  host: \"localhost\"\n  pool:\n    min: 2\n    max: min * 5\nfeatures:\n  - \"search\"\n  - {a: 1}\n  - [1]\n",
        "a:\n  - 1; - 2, - 3\n  -4\nb: 1",
        "a {\n b:\n   }\n",
        "list: [\n  1\n  2,\n]\nl2: [,]\nl3: [,1]\nl4: [1,]\n",
        "x: f(1, 2,)\ny: f()\nz: f(\n  1\n  2\n)\n",
        "s: \"a ${1 + 2} b ${\"c ${d}\"}\"\nr: \"\"\"\n  raw\n  \"\"\"\nh: <<<EOT\nline\nEOT\nq: 'x\\n\\u{1F418}'",
        "p: 1 + 2 * 3 - 4 / 5 % 6\nc: a < b == c >= d != e <= f > g\nl: a && b || c && !d\n",
        "t: a ? b : c ? d : e\nu: a ? b ? c : d : e\nv: x == \"p\" ?\n    1 :\n    2\nw: y\n  ? 1\n  : 2\n",
        "n: -1\nm: --x\no: !-x\nk: -(a + b)\nj: -a.b[1](2)\ni: -9223372036854775808\nh2: --9223372036854775808\n",
        "f: x => x * 2\ng: (a, b) => a + b\nh: () => 1\ni: (a,) => a\nj: x => y => x + y\nk: (x) => (y) => x\n",
        "m: a.b.c[0](1)(2).d\nn: @env(\"HOME\", \"/\")\no: @request.method\np: @op()()\nq: @a.b(1).c\n",
        "r: 8000-9000\ns: 0xFF_FF + 1_000 + 1.5e3 + 2.5_0\nt: [true, false, null, $g]\n",
        "u: (a)\nv: ((a + b)) * c\nw: (x => x)(1)\nx: [a [1]]\ny: {a: 1}.a\nz: a + x => x\n",
        "key {\n  nested: [\n    { a: 1 }\n    { b: 2 }\n  ]\n}\n",
        "a: 1 // comment\nb: 2 # comment\n",
        "404: \"not found\"\ntrue: 1\n'single': 2\n\"esc\\taped\": 3\n",
        "f: @if(a,\n  b,\n  c\n)\n",
        "a: {\n}\nb: [\n]\n",
        "a: -4\nb: [-1, !true, --3, -2.5, -\"s\"]\nc: { x: 1, x: 2 }\nd: [{ x: 1, x: 2 }]\ne { f: g }\n",
        "a:\n  - 1\n  - [2, { b: 3 }]\n  - -4\nc:\n  d: 'x'\n  e:\n    f: \"\"\"raw\"\"\"\n",
        "a: [1][0]\nb: 1 + 2\nc: -[1]\nd: { e: 1 }.e\nf: [1, 2 * 3]\ng: { h.i: 1 }\nj: { $k: 1 }\nl: 1-3\n",
        "m: {\"q k\": 1, 2: 2, true: 3}\nn > \n  o: [\n    1,\n  ]\n<\np: $g\n[s]\nt.u: 1\n",
        "a:\n  - 1 + 2\nb:\n  - 1\n  - x\nc: \"${1}\"\nd: 9223372036854775807\ne: -9223372036854775808\n",
    ];
    for source in valid {
        assert!(check_passes_agree(source, source), "{source:?} should be valid");
    }
    let invalid = [
        "a: 1 2",
        "a:",
        "a: (1 +\nb: 2",
        "a: ]",
        "[a] b: 1",
        "a { [x] }",
        "a: [1,,2]",
        "a: f(,1)",
        "a: f(1,,2)",
        "a: (,) => 1",
        "a: (a, b)",
        "a: (a) => ",
        "a: x =>",
        "a: 1\n- 2",
        "a:\n  - 1\n  b: 2",
        "a:\n  b: 1\n  - 2",
        "a: b ? c",
        "a: \"${}\"",
        "a: .5",
        "a: x.1",
        "a: 1 +\n",
        "a.b > \n  x: 1\n<",
        "$g:\n  a: 1",
        "}",
        "a: 1 }",
        "a: (1\n+ 2)",
        "a: x\n  .y",
        "a: [1 NL\n, 2]",
        "[]",
        "a.: 1",
    ];
    for source in invalid {
        assert!(!check_passes_agree(source, source), "{source:?} should be invalid");
    }
    for source in ["1 + 2", "\nx => x\n", "a ? b : c", "{a: 1}", "[1, 2]", "f(x)(y)", "-1"] {
        assert!(check_expression_passes_agree(source), "{source:?} should be valid");
    }
    for source in ["1 2", "a:", "1\n2", "(", ""] {
        assert!(!check_expression_passes_agree(source), "{source:?} should be invalid");
    }
}

/// Inside blocks the descent pass reads `name: literal` without its general statement rules
/// (`Descent::name_and_literal`): every literal, both assignments and every token that may end
/// the value must give chumsky's tree, and any other shape must go the general way.
#[test]
fn block_entries_of_a_name_and_a_literal_agree_with_the_grammar() {
    let literals =
        ["1", "0xFF", "1_000", "2.5", "1.5e3", "\"s\"", "'q\\n'", "true", "false", "null", "$g", "8000-9000"];
    let literals = literals.iter().chain(&["\"\"\"raw\"\"\"", "9223372036854775807"]);
    for literal in literals {
        for assign in [":", " =", " :"] {
            let valid = [
                format!("b {{ k{assign} {literal} }}"),
                format!("b {{\n  k{assign} {literal}\n  j: 2\n}}"),
                format!("b {{ k{assign} {literal}, j{assign} {literal}; l{assign} {literal} }}"),
                format!("b >\n  k{assign} {literal}\n<\n"),
                format!("b:\n  k{assign} {literal}\nc: 1\n"),
                format!("b:\n  c {{ k{assign} {literal} }}\n  d: [{{ k{assign} {literal} }}]\n"),
                format!("b {{ k{assign} {literal} // comment\n}}"),
                format!("b {{ k{assign} -{literal} }}"),
                format!("b {{ k{assign} {literal} + 1 }}"),
                format!("b {{ k{assign} {literal} ? 1 : 2 }}"),
                format!("b {{ k.j{assign} {literal} }}"),
                format!("b {{ \"k\"{assign} {literal} }}"),
                format!("b {{ 7{assign} {literal} }}"),
                format!("b {{ true{assign} {literal} }}"),
            ];
            for source in &valid {
                assert!(check_passes_agree(source, source), "{source:?} should be valid");
            }
            // Shapes near it whose validity does not matter here, only that both agree.
            for source in [format!("b {{ k{assign}\n  {literal} }}"), format!("b {{ k{assign} {literal}.x }}")] {
                check_passes_agree(&source, &source);
            }
            let invalid = [
                format!("b {{ k{assign} {literal} 2 }}"),
                format!("b {{ k{assign} {literal} j: 2 }}"),
                format!("b {{ k{assign} {literal} ]"),
                format!("b {{ k{assign} {literal} )"),
                format!("b {{ k{assign} {literal}"),
            ];
            for source in &invalid {
                assert!(!check_passes_agree(source, source), "{source:?} should be invalid");
            }
        }
    }
    // The tree itself: a block of such entries, spans included.
    use tusk_diagnostics::Span;
    let source = "b {\n  port: 8080\n  host = \"h\"\n}";
    let document = parse(source, ParseOptions::default()).ast.expect("valid");
    let ExprKind::Object(body) = entry_value(&document.items[0]) else { panic!("not an object") };
    assert_eq!(body.len(), 2);
    assert_eq!(body[0].span, Span::new(6, 16));
    assert_eq!(entry_value(&body[0]), &ExprKind::Int(8080));
    assert_eq!(body[1].span, Span::new(19, 29));
    assert_eq!(entry_value(&body[1]), &ExprKind::Str("h".into()));
    let ItemKind::Entry { key, value } = &body[1].kind else { panic!("not an entry") };
    assert_eq!((key[0].name.as_ref(), key[0].span), ("host", Span::new(19, 23)));
    assert_eq!(value.span, Span::new(26, 29));
}

/// Objects and arrays that are a whole value or item are read without the expression levels
/// (`Descent::lone_bracketed`); followed by more of an expression they are read again the
/// general way. Both must give chumsky's tree.
#[test]
fn whole_objects_and_arrays_agree_with_the_grammar() {
    for bracketed in ["{a: 1}", "{ a: [1, {b: 2}] }", "{}", "[1, 2]", "[]", "[\n  {a: 1}\n  [2]\n]", "{\n  a: 1\n}"] {
        let valid = [
            format!("k: {bracketed}"),
            format!("k = {bracketed}; j: 1"),
            format!("b {{ k: {bracketed}, j: {bracketed} }}"),
            format!("b {{\n  k: {bracketed}\n}}"),
            format!("b >\n  k: {bracketed}\n<\n"),
            format!("b:\n  k: {bracketed}\nc: 1\n"),
            format!("k: [{bracketed}, {bracketed},]"),
            format!("k: [\n  {bracketed}\n  {bracketed}\n]"),
            format!("k: f({bracketed}, {bracketed})"),
            format!("k: f(\n  {bracketed}\n)"),
            format!("k: [[{bracketed}]]"),
            format!("k: {bracketed} + 1"),
            format!("k: {bracketed}.a"),
            format!("k: {bracketed}[0]"),
            format!("k: {bracketed}(1)"),
            format!("k: {bracketed} ? 1 : 2"),
            format!("k: {bracketed} == {bracketed}"),
            format!("k: [{bracketed}.a, {bracketed}[0] + 1]"),
            format!("k: f({bracketed} * 2)"),
            format!("k: -{bracketed}"),
        ];
        for source in &valid {
            assert!(check_passes_agree(source, source), "{source:?} should be valid");
        }
        let invalid = [
            format!("k: {bracketed} 1"),
            format!("k: [{bracketed} 1]"),
            format!("k: f({bracketed} 1)"),
            format!("k: {bracketed} j: 1"),
            format!("k: [{bracketed},, 1]"),
            format!("k: {bracketed} )"),
        ];
        for source in &invalid {
            assert!(!check_passes_agree(source, source), "{source:?} should be invalid");
        }
    }
    // Nested past the depth bound, such a value is refused by the layout pass, before this
    // reading: with the same error, and the descent pass takes what is within it.
    let shallow = ParseOptions { max_depth: 4 };
    for (source, refused) in
        [("k: [[1]]", false), ("k: [[[[[1]]]]]", true), ("k: {a: {b: [{}]}}", false), ("k: [{a: [{b: [1]}]}]", true)]
    {
        let parsed = parse(source, shallow);
        let errors: Vec<String> = parsed.errors.iter().map(|error| error.kind.to_string()).collect();
        let expected =
            if refused { vec!["nesting is too deep (the limit is 4 levels)".to_string()] } else { Vec::new() };
        assert_eq!(errors, expected, "{source}");
        assert_eq!(parsed.ast.is_some(), !refused, "{source}");
    }
}

#[test]
fn unclosed_angle_blocks_are_closed_at_the_end_with_one_error() {
    // Found by the parse_differential fuzzer: every unclosed `name >` block failed at the end of
    // the input and the grammar's recovery retried each one inside the others, so 13 of them
    // took seconds and each further one doubled that. Now the layout pass reports the innermost
    // and closes them all, and the rest of the file is checked as usual.
    let mut source: String = (0..16).map(|level| format!("{}k{level} >\n", "  ".repeat(level))).collect();
    source.push_str("  x: 1 2\n");
    let parsed = parse(&source, ParseOptions::default());
    assert_eq!(parsed.errors.len(), 2, "{:#?}", parsed.errors);
    assert!(parsed.is_incomplete(), "the REPL asks for more lines");
    let rendered = check_errors(&source);
    assert!(rendered.contains("unclosed `k15 >` block opened here"), "{rendered}");
    assert!(rendered.contains("expected `<` closing a block here"), "{rendered}");
    assert!(rendered.contains("Help: end the block with a line holding only `<`"), "{rendered}");
    // A block opened in an indented block that closed before the end (this looped forever,
    // adding closers, in the first version of the fix).
    let rendered = check_errors("a:\n  b >\n    c: 1\nx: 2\n");
    assert!(rendered.contains("unclosed `b >` block opened here"), "{rendered}");
    // Closed blocks, nested and indented, parse as before.
    let closed = items("a >\n  b:\n    c >\n      d: 1\n    <\n<\n");
    assert_eq!(closed.len(), 1);
}

#[test]
fn brackets_left_open_line_after_line_are_closed_at_the_end() {
    // Found by the parse_differential fuzzer (a 6.7 KB mutation of a TuskLang file took 1.9 s,
    // 13 s under ASan): each line opened `@json({` without closing it, and the grammar's
    // recovery retried every enclosing bracket inside the others. The layout pass now closes
    // them at the end and reports the innermost.
    let source: String = (0..100).map(|n| format!("r{n}: @json({{\"a\": {n}, \"m\": m\n")).collect();
    let rendered = check_errors(&source);
    assert!(rendered.contains("unclosed `{` opened here"), "{rendered}");
    assert!(rendered.contains("Help: add the missing `}`"), "{rendered}");
    assert!(parse(&source, ParseOptions::default()).is_incomplete());
}

/// Integers of up to 18 digits take a shortcut; longer ones, hexadecimal, `_` and the values
/// around `i64::MAX` take `from_str_radix`, and all agree.
#[test]
fn integer_values_on_both_sides_of_the_digit_shortcut() {
    let source = "a: 0\nb: 007\nc: 999999999999999999\nd: 1000000000000000000\ne: 9223372036854775807\n\
                  f: 0x1F\ng: 1_000\n";
    let parsed = items(source);
    let values: Vec<_> = parsed.iter().map(|item| entry_value(item).clone()).collect();
    let expected = [0, 7, 999_999_999_999_999_999, 1_000_000_000_000_000_000, i64::MAX, 31, 1000];
    assert_eq!(values, expected.map(ExprKind::Int).to_vec());
    assert!(
        check_errors("x: 9223372036854775808\n").contains("too large"),
        "{}",
        check_errors("x: 9223372036854775808\n")
    );
}

/// Escapes are decoded between runs of plain text copied whole, at the start, the middle and
/// the end of a string, next to multi-byte characters.
#[test]
fn escapes_between_runs_of_plain_text() {
    let source = r#"a: "\"x\" é\\ \u{e9}\n\t$ \$"
b: "\\"
c: "é\"é"
"#;
    let parsed = items(source);
    let values: Vec<_> = parsed.iter().map(|item| entry_value(item).clone()).collect();
    let texts: Vec<_> = values
        .iter()
        .map(|value| match value {
            ExprKind::Str(text) => text.to_string(),
            other => panic!("not a string: {other:?}"),
        })
        .collect();
    assert_eq!(texts, ["\"x\" é\\ é\n\t$ $", "\\", "é\"é"]);
}

/// The plain reader on `source` with nesting bounded by `max_depth`, making trees (`parse`'s
/// route) and building values (`parse_building`'s). When it makes trees of the input, the
/// descent pass takes it too, without errors, and makes exactly those trees (nodes, keys, spans,
/// and which strings are borrowed), and so does the grammar; when it builds the input's values
/// it makes its trees too (it builds less: a builder may refuse a value), and the descent pass's
/// route of `parse_building` makes exactly its statements. True when it made the trees.
fn check_plain_reader(name: &str, source: &str, max_depth: usize) -> bool {
    let options = ParseOptions { max_depth };
    let trees = differential::plain_document(source, options).map(|document| document.items);
    if let Some(items) = &trees {
        let expected = crate::parse_by_descent(source, options);
        assert!(
            expected.errors.is_empty(),
            "{name} {source:?}: the plain reader made trees of input with errors: {:?}",
            expected.errors
        );
        let expected = expected.ast.expect("a document").items;
        assert_eq!(&expected, items, "{name} {source:?}: the plain reader made other trees");
        assert_eq!(borrowed_strings(&expected), borrowed_strings(items), "{name} {source:?}");
        match differential::document(source, options, Pass::Chumsky) {
            Outcome::Accepted(grammar) => assert_eq!(&grammar.items, items, "{name} {source:?}: the grammar's trees"),
            other => panic!("{name} {source:?}: the plain reader made trees of what the grammar made {other:?} of"),
        }
    }
    let Some(statements) = crate::plain::document(source, max_depth, crate::plain::Building(&mut TreeBuilder)) else {
        return trees.is_some();
    };
    assert!(trees.is_some(), "{name} {source:?}: the plain reader built values of a document it made no trees of");
    let expected = crate::parse_building_by_descent(source, options, &mut TreeBuilder);
    assert!(
        expected.errors.is_empty(),
        "{name} {source:?}: the plain reader took input with errors: {:?}",
        expected.errors
    );
    assert_eq!(expected.ast.map(|document| document.statements), Some(statements), "{name} {source:?}");
    true
}

/// For each key part and string literal of `items`, in order: whether its text is borrowed
/// from the source (`Cow::Borrowed`), which `==` on the trees does not tell.
fn borrowed_strings(items: &[Item<'_>]) -> Vec<bool> {
    fn of_expr(expr: &Expr<'_>, out: &mut Vec<bool>) {
        match &expr.kind {
            ExprKind::Str(text) => out.push(matches!(text, std::borrow::Cow::Borrowed(_))),
            ExprKind::Array(items) => items.iter().for_each(|item| of_expr(item, out)),
            ExprKind::Object(items) => of_items(items, out),
            _ => {}
        }
    }
    fn of_items(items: &[Item<'_>], out: &mut Vec<bool>) {
        for item in items {
            match &item.kind {
                ItemKind::Entry { key, value } => {
                    out.extend(key.iter().map(|part| matches!(part.name, std::borrow::Cow::Borrowed(_))));
                    of_expr(value, out);
                }
                ItemKind::Section { path } => {
                    out.extend(path.iter().map(|part| matches!(part.name, std::borrow::Cow::Borrowed(_))));
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    of_items(items, &mut out);
    out
}

/// [`check_plain_reader`] on `source` and on `count` mutated copies of it (bytes that matter
/// to the lexer and the layout pass put in, bytes and lines taken out or repeated), at the
/// default depth limit and at small ones. Returns how many inputs it took.
fn check_plain_reader_on_mutations(name: &str, source: &str, count: usize) -> usize {
    const PIECES: [&str; 34] = [
        "\n", " ", "\t", ",", ",,", "{", "}", "[", "]", "\"", "#", " #", "//", " //", "\\", "\\n", "\\u{41}", "-", ".",
        ":", "=", "==", "1", "1.5", "a", "true", "$", "${", "'", ";", "\r", "\n  ", "\n,", "_",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ source.len() as u64;
    let mut next = |bound: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % bound.max(1)
    };
    let mut taken = 0;
    for depth in [256, 3, 2] {
        taken += usize::from(check_plain_reader(name, source, depth));
    }
    for _ in 0..count {
        let mut bytes = source.as_bytes().to_vec();
        for _ in 0..1 + next(2) {
            let at = next(bytes.len() + 1);
            match next(4) {
                0 | 1 => {
                    let piece = PIECES[next(PIECES.len())];
                    bytes.splice(at..at, piece.bytes());
                }
                2 => {
                    let end = (at + 1 + next(6)).min(bytes.len());
                    bytes.drain(at.min(end)..end);
                }
                _ => {
                    let end = (at + 1 + next(40)).min(bytes.len());
                    let copy = bytes[at.min(end)..end].to_vec();
                    bytes.splice(at..at, copy);
                }
            }
        }
        let Ok(mutated) = String::from_utf8(bytes) else { continue };
        let depth = [256, 256, 8, 7, 3][next(5)];
        taken += usize::from(check_plain_reader(name, &mutated, depth));
    }
    taken
}

/// A config in the shape of the benchmark's (`bench/gen_config.py`), with comments, blank lines
/// and the separators and spacings the plain reader takes.
const PLAIN_CONFIG: &str = r#"# generated
title: "TuskLang benchmark configuration"
version = 3
debug: false
nothing: null

[meta]
generated_by: "gen_config.py"   # a comment after a value
owners: ["platform", "sre", "data"]
notes: "Quotes \"inside\", a backslash \\ and a tab\there; café $5 ✓"

[defaults.more]
timeout_ms: 2500
backoff: 1.5
log {
    level: "info"
    // a comment of its own
    format: "json", sample_rate: 0.25
}
svc-1 {
    host: "alpha-0.eu-west.example.internal"
    ports: [8988, 9229,]
    limits: {
        burst: [24, 193, 5910]
        ratios: [0.5767,
            0.7422
            0.3821]
        empty: {}
        none: [ ]
    }
    routes: [
        { path: "/api/v3", cache: true, headers: ["X-Trace-12", "X-Tenant"] }

        { path: "/api/v2", method: "DELETE", timeout_ms: 2900, nested: [[1], [], {a: [{}]}] }
    ]
}
list [1, 2]
"#;

#[test]
fn plain_reader_agrees_with_the_descent_pass() {
    assert!(check_plain_reader("config", PLAIN_CONFIG, 256), "the plain reader takes the config");
    let taken = check_plain_reader_on_mutations("config", PLAIN_CONFIG, 4000);
    println!("the plain reader took {taken} of 4,003 inputs");
    assert!(taken > 500, "{taken}");
    // What it must take (with its statements checked), and what it must leave to the descent
    // pass (which takes some of these, and refuses others).
    let taken = [
        "",
        "\n",
        "# only a comment",
        "a: 1",
        "a:1",
        "a = 1",
        "a: 1 # c",
        "a: 1 // c",
        "a: 007",
        "a: 1.25",
        "a: 123456789012345678",
        "a: true\nb: false\nc: null",
        "a-b_c: 1",
        "_a: 1",
        "a: \"x\\\"y\\\\\\n\"",
        "a: \"$x\"",
        "a: \"line\nbreak\"\nb: 1",
        "[s]\na: 1",
        "[ s . t ]\na: 1",
        "a {\n b: 1\n}",
        "a {b: 1, c: 2}",
        "a {b: 1,, c: 2}",
        "a {,b: 1}",
        "a {\n,b: 1\n}",
        "a: {}",
        "a {}",
        "a: []",
        "a: [\n]",
        "a: [1,]",
        "a: [1,\n2]",
        "a: [1\n\n2]",
        "a: [1 # c\n 2]",
        "a [1]",
        "a: 1\na: 2",
        "a: [[[1]]]",
        "a: [1, {b: 2}, [3]]",
        "\n\na: 1\n\n",
        "a: 1\n# c\n\nb: 2\n",
    ];
    for source in taken {
        assert!(check_plain_reader("taken", source, 256), "the plain reader gives up on {source:?}");
    }
    let left = [
        "a: 1# c",
        "a: 1//c",
        "a: -1",
        "a: 1.",
        "a: .5",
        "a: 1e5",
        "a: 1.5e3",
        "a: 1_000",
        "a: 0x10",
        "a: 1-2",
        "a: 1.5.2",
        "a: 99999999999999999999",
        "a: trueish",
        "true: 1",
        "a: \"\\u{41}\"",
        "a: \"\\q\"",
        "a: \"${x}\"",
        "a: 'x'",
        "a: \"\"\"x\"\"\"",
        " a: 1",
        "a: 1\n b: 2",
        "[s]a: 1",
        "a: [1,,2]",
        "a: [,1]",
        "a: [1\n,2]",
        "a: [1 2]",
        "a: {b: 1}.b",
        "a: [1] + [2]",
        "a:\n  b: 1",
        "a: 1;b: 2",
        "a: 1, b: 2",
        "a: 1\r\nb: 2",
        "\u{feff}a: 1",
        "a >\n b: 1\n<",
        "- 1",
        "$x: 1",
        "a: $x",
        "a: @env(\"x\")",
        "a: b",
        "a:\n",
        "a:",
        "a",
        "a: 1 }",
        "}",
        "a {\n b: 1\n",
        "a: \"unterminated",
        "a=>1",
        "a==1",
        "\"a\": 1",
        "a.b: 1",
        "a: [1, 2",
        "a {b: 1 c: 2}",
        "a: 1 2",
    ];
    for source in left {
        assert!(!check_plain_reader("left", source, 256), "the plain reader takes {source:?}");
    }
    // A repeated key: a tree has it (the evaluator warns about it), the builder refuses it.
    for source in ["a {b: 1, b: 2}", "a: [{b: 1}, {c: 2, c: 3}]"] {
        assert!(check_plain_reader("repeated", source, 256), "the plain reader gives up on {source:?}");
        assert!(crate::plain::document(source, 256, crate::plain::Building(&mut TreeBuilder)).is_none());
    }
    // Nesting: the reader leaves input as deep as the limit to the layout pass, which refuses it
    // past the limit.
    assert!(check_plain_reader("depth", "a: [[1]]", 3));
    assert!(!check_plain_reader("depth", "a: [[[1]]]", 3));
    assert!(!check_plain_reader("depth", "[s]", 1));
    // (Each `.` of a section's path counts as a level until the `]`.)
    assert!(check_plain_reader("depth", "[a.b]\nc: [1]", 3));
    assert!(!check_plain_reader("depth", "[a.b.c]\nd: 1", 3));
    assert!(!check_plain_reader("depth", "a {}", 0));
}

#[test]
fn an_unterminated_quoted_key_or_value_ending_in_a_wide_character_is_an_error_not_a_panic() {
    // Found by fuzzing the evaluator (input `'é`): a quoted key's closing quote was dropped by
    // position, and an unterminated string has none, so the cut fell inside the `é`.
    let sources = ["'é", "\"é", "'é: 1", "a.'日本", "a: 'é", "a: \"x\" + 'é", "[s]\n'🐘", "a { 'é }"];
    for source in sources {
        let out = check_errors(source);
        assert!(out.contains("unterminated string"), "{source:?}: {out}");
        let built = parse_building(source, ParseOptions::default(), &mut TreeBuilder);
        assert!(!built.errors.is_empty(), "{source:?}: the builder's route found no error");
    }
    // A closed string's body keeps its last character, wide or not.
    let items = items("'é': 'ü'");
    let ItemKind::Entry { key, value, .. } = &items[0].kind else { panic!("not an entry: {:?}", items[0]) };
    assert_eq!(key[0].name, "é");
    assert_eq!(value.kind, ExprKind::Str("ü".into()));
}

#[test]
fn an_interpolation_left_open_at_the_end_closes_the_blocks_around_it() {
    // Found by fuzzing: the layout pass stopped closing at an open `${`, so every `name >`
    // block around it failed at the end of the input and the grammar's recovery retried each
    // inside the others (18 blocks took a second, each one more doubled it). The string is now
    // closed with its interpolation, and the blocks after it, innermost first.
    let source = "a >\n  b >\n    w: \"x ${y";
    let out = check_errors(source);
    assert!(out.contains("unterminated interpolation"), "{out}");
    assert!(out.contains("unclosed `b >` block opened here"), "{out}");
    let deep = "x >\n".repeat(40) + "w: \"${ \"${ y";
    let out = check_errors(&deep);
    assert!(out.contains("unclosed `x >` block opened here"), "{out}");
}
