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
    let mut label = AriadneLabel::new(span_of(primary)).with_color(primary_color).with_priority(1);
    if !primary.message.is_empty() {
        label = label.with_message(&primary.message);
    }
    builder = builder.with_label(label);
    for secondary in &diagnostic.secondary {
        let mut label = AriadneLabel::new(span_of(secondary)).with_color(Color::Blue);
        if !secondary.message.is_empty() {
            label = label.with_message(&secondary.message);
        }
        builder = builder.with_label(label);
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
    String::from_utf8_lossy(&out).into_owned()
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
