//! Turns [`Diagnostic`]s into text with ariadne. The only place in the workspace that builds
//! ariadne reports, and the only place that sets its index type (ariadne counts characters by
//! default, our spans are bytes).

use ariadne::{CharSet, Color, Config, IndexType, Label as AriadneLabel, Report, ReportKind, Source};

use crate::{Diagnostic, Severity, SourceId, SourceMap};

/// How to render.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// ANSI colours (only the CLI decides this, from the terminal and `--color`).
    pub color: bool,
    /// Unicode box drawing instead of ASCII (tests use ASCII for stable snapshots).
    pub unicode: bool,
}

impl RenderOptions {
    /// No colour, ASCII: what golden tests compare against.
    pub const PLAIN: RenderOptions = RenderOptions { color: false, unicode: false };
}

struct Cache<'a> {
    map: &'a SourceMap,
    sources: Vec<Option<Source<std::sync::Arc<str>>>>,
}

impl ariadne::Cache<SourceId> for Cache<'_> {
    type Storage = std::sync::Arc<str>;

    fn fetch(&mut self, id: &SourceId) -> Result<&Source<Self::Storage>, impl std::fmt::Debug> {
        let index = id.0 as usize;
        let Some(file) = self.map.try_get(*id) else {
            return Err(format!("unknown source {index}"));
        };
        if self.sources.len() <= index {
            self.sources.resize_with(index + 1, || None);
        }
        Ok(self.sources[index].get_or_insert_with(|| Source::from(file.text.clone())))
    }

    fn display<'a>(&self, id: &'a SourceId) -> Option<impl std::fmt::Display + 'a> {
        self.map.try_get(*id).map(|file| file.name.clone())
    }
}

/// Renders one diagnostic to a string.
pub fn render(diagnostic: &Diagnostic, map: &SourceMap, options: RenderOptions) -> String {
    let Some(primary) = &diagnostic.primary else {
        return render_without_location(diagnostic);
    };
    let kind = match diagnostic.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let config = Config::default()
        .with_index_type(IndexType::Byte)
        .with_color(options.color)
        .with_char_set(if options.unicode { CharSet::Unicode } else { CharSet::Ascii });
    let span_of = |label: &crate::Label| {
        let text_len = map.try_get(label.location.source).map_or(0, |file| file.text.len());
        let range = label.location.span.range();
        let start = range.start.min(text_len);
        (label.location.source, start..range.end.clamp(start, text_len))
    };
    let mut builder = Report::build(kind, span_of(primary)).with_config(config).with_message(&diagnostic.message);
    if let Some(code) = diagnostic.code {
        builder = builder.with_code(code);
    }
    let primary_color = if diagnostic.is_error() { Color::Red } else { Color::Yellow };
    // ariadne starts a new snippet, with a header that repeats the primary location, whenever a
    // label comes after one further down the same file; labels in file order (the primary's
    // file first) give one snippet per file, each headed by the place it shows.
    let labels: Vec<&crate::Label> = std::iter::once(primary).chain(&diagnostic.secondary).collect();
    let mut in_order: Vec<usize> = (0..labels.len()).collect();
    in_order.sort_by_key(|&index| {
        let location = labels[index].location;
        (location.source != primary.location.source, location.source.0, location.span.start)
    });
    for (order, &index) in in_order.iter().enumerate() {
        let label = labels[index];
        let mut ariadne_label = AriadneLabel::new(span_of(label)).with_order(order as i32);
        ariadne_label = if index == 0 {
            ariadne_label.with_color(primary_color).with_priority(1)
        } else {
            ariadne_label.with_color(Color::Blue)
        };
        if !label.message.is_empty() {
            ariadne_label = ariadne_label.with_message(&label.message);
        }
        builder = builder.with_label(ariadne_label);
    }
    for note in &diagnostic.notes {
        builder = builder.with_note(note);
    }
    if let Some(help) = &diagnostic.help {
        builder = builder.with_help(help);
    }
    let mut out = Vec::new();
    let cache = Cache { map, sources: Vec::new() };
    if builder.finish().write(cache, &mut out).is_err() {
        return render_without_location(diagnostic);
    }
    let text = String::from_utf8_lossy(&out);
    if options.color { merge_colour_runs(&text) } else { text.into_owned() }
}

/// ariadne colours a snippet character by character (`ESC[33ma ESC[0m ESC[33mb ESC[0m`);
/// a terminal shows the same with one sequence per run of equal colour, which is what this
/// makes of it: a reset directly followed by the sequence it ended is dropped with it.
fn merge_colour_runs(text: &str) -> String {
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(text.len());
    let mut in_force: Option<&str> = None;
    let mut rest = text;
    while let Some(start) = rest.find('\x1b') {
        out.push_str(&rest[..start]);
        let escape = &rest[start..];
        let length = escape.find('m').map_or(escape.len(), |end| end + 1);
        let sequence = &escape[..length];
        rest = &escape[length..];
        if sequence == RESET {
            if let Some(current) = in_force
                && let Some(after) = rest.strip_prefix(current)
            {
                rest = after;
                continue;
            }
            in_force = None;
        } else {
            in_force = Some(sequence);
        }
        out.push_str(sequence);
    }
    out.push_str(rest);
    out
}

/// Renders several diagnostics, one after the other.
pub fn render_all<'a>(
    diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
    map: &SourceMap,
    options: RenderOptions,
) -> String {
    diagnostics.into_iter().map(|diagnostic| render(diagnostic, map, options)).collect()
}

fn render_without_location(diagnostic: &Diagnostic) -> String {
    let severity = match diagnostic.severity {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
    };
    let mut out = match diagnostic.code {
        Some(code) => format!("[{code}] {severity}: {}\n", diagnostic.message),
        None => format!("{severity}: {}\n", diagnostic.message),
    };
    for note in &diagnostic.notes {
        out.push_str(&format!("  Note: {note}\n"));
    }
    if let Some(help) = &diagnostic.help {
        out.push_str(&format!("  Help: {help}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Location, Span};

    #[test]
    fn labels_of_one_file_share_one_snippet_headed_by_the_primary_location() {
        let mut map = SourceMap::new();
        let id = map.add("dup.tsk", "a: 1\nb: 2\na: 3\n");
        let diagnostic = Diagnostic::warning("`a` is defined more than once")
            .with_primary(Location::new(id, Span::new(10, 11)), "defined again here")
            .with_secondary(Location::new(id, Span::new(0, 1)), "first defined here");
        let text = render(&diagnostic, &map, RenderOptions::PLAIN);
        assert_eq!(text.matches("dup.tsk:").count(), 1, "{text}");
        assert!(text.contains(",-[ dup.tsk:3:1 ]"), "{text}");
        let first = text.find("first defined here").unwrap();
        assert!(first < text.find("defined again here").unwrap(), "{text}");
    }

    #[test]
    fn a_second_file_is_headed_by_its_own_label() {
        let mut map = SourceMap::new();
        let main = map.add("main.tsk", "x: @other.tsk.get(\"k\")\n");
        let other = map.add("other.tsk", "\n\nk: 1 + true\n");
        let diagnostic = Diagnostic::error("cannot apply `+`")
            .with_primary(Location::new(other, Span::new(5, 13)), "here")
            .with_secondary(Location::new(main, Span::new(3, 22)), "called here");
        let text = render(&diagnostic, &map, RenderOptions::PLAIN);
        assert!(text.contains(",-[ other.tsk:3:4 ]"), "{text}");
        assert!(text.contains("|-[ main.tsk:1:4 ]"), "{text}");
    }

    #[test]
    fn colour_comes_in_one_sequence_per_run() {
        let mut map = SourceMap::new();
        let id = map.add("t.tsk", "port: 8080\n");
        let diagnostic =
            Diagnostic::error("boom").with_code("R001").with_primary(Location::new(id, Span::new(6, 10)), "here");
        let text = render(&diagnostic, &map, RenderOptions { color: true, unicode: true });
        // The source line: the plain part in one grey run, the label's span in one red run.
        assert!(text.contains("\x1b[38;5;249mport: \x1b[0m\x1b[31m8080\x1b[0m\n"), "{text:?}");
        assert_eq!(merge_colour_runs("\x1b[33ma\x1b[0m\x1b[33mb\x1b[0m c"), "\x1b[33mab\x1b[0m c");
    }

    #[test]
    fn renders_file_line_col_and_labels_by_bytes() {
        let mut map = SourceMap::new();
        let id = map.add("t.tsk", "é: 1 +\n");
        let diagnostic = Diagnostic::error("input ended early")
            .with_code("P002")
            .with_primary(Location::new(id, Span::new(7, 7)), "expected an expression");
        let text = render(&diagnostic, &map, RenderOptions::PLAIN);
        assert!(text.contains("[P002] Error: input ended early"), "{text}");
        // Byte 7 is the end of line 1, which is its seventh character because `é` takes two bytes.
        assert!(text.contains("t.tsk:1:7"), "{text}");
    }
}
