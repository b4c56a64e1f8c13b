//! Spans, source files and renderer-neutral diagnostics shared by every phase of TuskLang.
//!
//! A [`Span`] is a byte range; a [`Location`] adds the [`SourceId`] of a file in a [`SourceMap`].
//! Every error type of the lexer, parser, evaluator and plugin host turns itself into a
//! [`Diagnostic`]; [`render`] is the only code in the workspace that talks to ariadne.

mod render;
mod source;
mod span;

pub use render::{RenderOptions, render, render_all};
pub use source::{SourceFile, SourceId, SourceMap};
pub use span::{Location, Span};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something the user may want to change; evaluation goes on.
    Warning,
    /// Evaluation (or parsing) of the input failed.
    Error,
}

/// A message attached to a place in a source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where the label points.
    pub location: Location,
    /// What the label says (may be empty).
    pub message: String,
}

impl Label {
    /// A label at `location` saying `message`.
    pub fn new(location: Location, message: impl Into<String>) -> Label {
        Label { location, message: message.into() }
    }
}

/// A renderer-neutral diagnostic: severity, code, message, labels, notes and help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable, searchable code such as `P001` (lexer `L`, parser `P`, runtime `R`, plugins `X`).
    pub code: Option<&'static str>,
    /// The headline, lowercase, without a final period.
    pub message: String,
    /// The main place the diagnostic is about; `None` for errors that have no place (I/O).
    pub primary: Option<Label>,
    /// Further places that explain the main one ("opened here", "defined here").
    pub secondary: Vec<Label>,
    /// Extra facts, each printed as a `Note:` line.
    pub notes: Vec<String>,
    /// A suggestion for the fix, printed as a `Help:` line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a message and no location yet.
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code: None,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning with a message and no location yet.
    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message) }
    }

    /// Sets the stable code.
    pub fn with_code(mut self, code: &'static str) -> Diagnostic {
        self.code = Some(code);
        self
    }

    /// Sets the primary label.
    pub fn with_primary(mut self, location: Location, message: impl Into<String>) -> Diagnostic {
        self.primary = Some(Label::new(location, message));
        self
    }

    /// Adds a secondary label.
    pub fn with_secondary(mut self, location: Location, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label::new(location, message));
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Sets the help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// True for errors, false for warnings.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest of `candidates` to `name` by edit distance, for "did you mean" hints.
///
/// Lives here because the parser, the evaluator and the plugin host all suggest names.
pub fn closest_name<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let max_distance = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= max_distance)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    // Optimal string alignment: swapping two neighbours (`evn` for `env`) is one edit, the
    // most common typo there is.
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        table[i * width] = i;
    }
    for (j, cell) in table.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_name_suggests_one_typo_away() {
        assert_eq!(closest_name("lenght", ["len", "length", "keys"]), Some("length"));
        assert_eq!(closest_name("zzz", ["len", "keys"]), None);
        assert_eq!(closest_name("evn", ["env", "date"]), Some("env"));
    }
}
