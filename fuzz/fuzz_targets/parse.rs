//! Fuzzes the parser: a document, a lone expression and a REPL line, each with the default
//! options. Nothing may panic, overflow the stack or hang, and every error points into the
//! input and renders.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk_diagnostics::{RenderOptions, SourceMap, Span, render_all};
use tusk_parser::{ParseError, ParseOptions, parse, parse_expression, parse_line};

/// How many errors of each parse are rendered.
const RENDERED_ERRORS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let options = ParseOptions::default();
    let document = parse(source, options);
    check_errors(source, &document.errors);
    let expression = parse_expression(source, options);
    check_errors(source, &expression.errors);
    let line = parse_line(source, options);
    check_errors(source, &line.errors);
});

fn check_errors(source: &str, errors: &[ParseError]) {
    let in_bounds = |span: Span| span.start <= span.end && span.end as usize <= source.len();
    for error in errors {
        assert!(in_bounds(error.span), "error span {:?} outside the input ({}): {error:?}", error.span, source.len());
        for (label, span) in &error.labels {
            assert!(in_bounds(*span), "label {label:?} at {span:?} outside the input ({})", source.len());
        }
    }
    if errors.is_empty() {
        return;
    }
    // The CLI renders every error through ariadne; a bad span there is a panic too. Garbage
    // input has an error every few bytes, and rendering each one costs a pass over the source,
    // so only the first few are rendered (their spans were all checked above).
    let mut map = SourceMap::new();
    let id = map.add("<fuzz>", source);
    let diagnostics: Vec<_> = errors.iter().take(RENDERED_ERRORS).map(|error| error.to_diagnostic(id)).collect();
    let rendered = render_all(&diagnostics, &map, RenderOptions { color: false, unicode: false });
    assert!(!rendered.is_empty());
}
