//! Runtime errors: a kind, the location of the expression that failed, and the trace of
//! lambda calls it happened in.

use std::fmt;

use tusk_diagnostics::{Diagnostic, Location, SourceMap};

/// What went wrong while evaluating.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeErrorKind {
    /// `1 + true`: an operator applied to values it does not accept.
    #[error("cannot apply `{op}` to {left} and {right}")]
    BinaryTypes {
        /// The operator.
        op: &'static str,
        /// The left operand's type.
        left: String,
        /// The right operand's type.
        right: String,
    },
    /// `-"a"`, `!{}`: a unary operator on a value it does not accept.
    #[error("cannot apply `{op}` to {operand}")]
    UnaryType {
        /// The operator.
        op: &'static str,
        /// The operand's type.
        operand: String,
    },
    /// `9223372036854775807 + 1`.
    #[error("integer overflow in `{op}`")]
    Overflow {
        /// The operator or function.
        op: &'static str,
    },
    /// `1 / 0`, `1 % 0`.
    #[error("division by zero")]
    DivisionByZero,
    /// `f: x => y` with no `y` anywhere.
    #[error("`{name}` is not defined")]
    UndefinedName {
        /// The name.
        name: String,
    },
    /// `a: b` before `b: 1`, evaluated: the entry exists but has no value yet.
    #[error("`{name}` is used before it is defined")]
    NotYetDefined {
        /// The name.
        name: String,
    },
    /// `@frobnicate()`.
    #[error("unknown operator `@{name}`")]
    UnknownOperator {
        /// The operator name without `@`.
        name: String,
    },
    /// `5(1)`.
    #[error("{type_name} is not callable")]
    NotCallable {
        /// The type of what was called.
        type_name: String,
    },
    /// `(a, b) => a` called with one argument.
    #[error("`{name}` takes {expected} argument{}, but {got} {} given", if expected == "1" { "" } else { "s" }, if *got == 1 { "was" } else { "were" })]
    ArgumentCount {
        /// The function.
        name: String,
        /// How many it takes.
        expected: String,
        /// How many it got.
        got: usize,
    },
    /// `len(5)`: an argument of the wrong type or value.
    #[error("{message}")]
    Argument {
        /// Which argument (0-based).
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// `{a: 1}.b`.
    #[error("{type_name} has no key `{key}`")]
    NoSuchKey {
        /// The key.
        key: String,
        /// The type (object, or another type that has no keys).
        type_name: String,
    },
    /// `[1][5]`.
    #[error("index {index} is out of bounds for length {len}")]
    IndexOutOfBounds {
        /// The index.
        index: i64,
        /// The length.
        len: usize,
    },
    /// A configured limit was exceeded (call depth, operations, sizes).
    #[error("{what} limit exceeded ({limit})")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// `assert(false, "msg")`.
    #[error("assertion failed: {0}")]
    AssertionFailed(String),
    /// `error("msg")`.
    #[error("{0}")]
    Raised(String),
    /// An error reported by an operator or function (plugins included).
    #[error("{0}")]
    Operator(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The embedder raised the run's interrupt flag ([`crate::Options::interrupt`]), e.g. on Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// A bug in tusk itself.
    #[error("internal error: {0} (please report this)")]
    Internal(String),
}

/// One frame of the call trace: the lambda and where it was called.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceFrame {
    /// The lambda's name (the entry it was defined in) or `<lambda>`.
    pub name: String,
    /// Where it was called.
    pub call_site: Option<Location>,
}

#[derive(Clone, Debug, PartialEq)]
struct ErrorData {
    kind: RuntimeErrorKind,
    location: Option<Location>,
    labels: Vec<(String, Location)>,
    trace: Vec<TraceFrame>,
    /// Outer calls left out of `trace` once it was full.
    skipped_frames: usize,
    notes: Vec<String>,
    help: Option<String>,
    /// The operator or function the error came out of, for "in `@env`" wording.
    origin: Option<String>,
}

/// A runtime error (boxed, so results stay small on the hot path).
#[derive(Clone, PartialEq)]
pub struct RuntimeError(Box<ErrorData>);

impl RuntimeError {
    /// An error of `kind` with no location yet (the interpreter adds it).
    pub fn new(kind: RuntimeErrorKind) -> RuntimeError {
        RuntimeError(Box::new(ErrorData {
            kind,
            location: None,
            labels: Vec::new(),
            trace: Vec::new(),
            skipped_frames: 0,
            notes: Vec::new(),
            help: None,
            origin: None,
        }))
    }

    /// An error with a message, as operators and plugins report them.
    pub fn message(message: impl Into<String>) -> RuntimeError {
        RuntimeError::new(RuntimeErrorKind::Operator(message.into()))
    }

    /// An error about argument `index` (0-based).
    pub fn argument(index: usize, message: impl Into<String>) -> RuntimeError {
        RuntimeError::new(RuntimeErrorKind::Argument { index, message: message.into() })
    }

    /// What went wrong.
    pub fn kind(&self) -> &RuntimeErrorKind {
        &self.0.kind
    }

    /// Where, if known.
    pub fn location(&self) -> Option<Location> {
        self.0.location
    }

    /// The lambda calls the error happened in, innermost first.
    pub fn trace(&self) -> &[TraceFrame] {
        &self.0.trace
    }

    /// Sets the location unless one is set already (the innermost location wins).
    pub fn at(mut self, location: Location) -> RuntimeError {
        if self.0.location.is_none() {
            self.0.location = Some(location);
        }
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, message: impl Into<String>, location: Location) -> RuntimeError {
        self.0.labels.push((message.into(), location));
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> RuntimeError {
        self.0.notes.push(note.into());
        self
    }

    /// Sets the help text.
    pub fn with_help(mut self, help: impl Into<String>) -> RuntimeError {
        self.0.help = Some(help.into());
        self
    }

    /// Records which operator or function raised it, unless already recorded.
    pub fn in_callable(mut self, name: &str) -> RuntimeError {
        if self.0.origin.is_none() {
            self.0.origin = Some(name.to_string());
        }
        self
    }

    pub(crate) fn push_frame(mut self, frame: TraceFrame) -> RuntimeError {
        self.0.trace.push(frame);
        self
    }

    /// Counts an outer call that the (full) trace leaves out.
    pub(crate) fn skip_frame(mut self) -> RuntimeError {
        self.0.skipped_frames += 1;
        self
    }

    /// The renderable form. The trace becomes notes, innermost call first.
    pub fn to_diagnostic(&self, sources: &SourceMap) -> Diagnostic {
        let message = match (&self.0.origin, &self.0.kind) {
            (
                Some(origin),
                RuntimeErrorKind::Operator(_) | RuntimeErrorKind::Argument { .. } | RuntimeErrorKind::Io(_),
            ) => {
                format!("{origin}: {}", self.0.kind)
            }
            _ => self.0.kind.to_string(),
        };
        let mut diagnostic = Diagnostic::error(message).with_code(self.code());
        if let Some(location) = self.0.location {
            diagnostic = diagnostic.with_primary(location, self.primary_label());
        }
        for (message, location) in &self.0.labels {
            diagnostic = diagnostic.with_secondary(*location, message.clone());
        }
        // A recursion repeats one frame many times: one note per run of equal frames.
        for run in self.0.trace.chunk_by(|a, b| a == b) {
            let frame = &run[0];
            let place = frame.call_site.map(|site| sources.describe(site)).unwrap_or_else(|| "the host".to_string());
            let times = if run.len() > 1 { format!(" ({} times)", run.len()) } else { String::new() };
            diagnostic = diagnostic.with_note(format!("in `{}`, called at {place}{times}", frame.name));
        }
        if self.0.skipped_frames > 0 {
            let skipped = self.0.skipped_frames;
            diagnostic =
                diagnostic.with_note(format!("and {skipped} more outer call{}", if skipped == 1 { "" } else { "s" }));
        }
        for note in &self.0.notes {
            diagnostic = diagnostic.with_note(note.clone());
        }
        if let Some(help) = &self.0.help {
            diagnostic = diagnostic.with_help(help.clone());
        } else if let RuntimeErrorKind::LimitExceeded { what, .. } = &self.0.kind {
            diagnostic = diagnostic.with_help(limit_help(what));
        }
        diagnostic
    }

    fn primary_label(&self) -> String {
        match &self.0.kind {
            RuntimeErrorKind::BinaryTypes { left, right, .. } => format!("{left} and {right}"),
            RuntimeErrorKind::DivisionByZero => "the divisor is zero".to_string(),
            RuntimeErrorKind::Argument { index, .. } => format!("in argument {}", index + 1),
            RuntimeErrorKind::LimitExceeded { .. } | RuntimeErrorKind::Interrupted => {
                "while evaluating this".to_string()
            }
            RuntimeErrorKind::Overflow { .. } => "the result does not fit in 64 bits".to_string(),
            RuntimeErrorKind::NotYetDefined { .. } => "not evaluated yet at this point".to_string(),
            RuntimeErrorKind::UndefinedName { .. } => "not defined".to_string(),
            // Without a label the renderer draws no underline, and a line with several calls
            // does not say which one failed.
            RuntimeErrorKind::UnaryType { operand, .. } => operand.clone(),
            RuntimeErrorKind::NotCallable { .. } => "called here".to_string(),
            RuntimeErrorKind::ArgumentCount { got, .. } => {
                format!("called with {got} argument{}", if *got == 1 { "" } else { "s" })
            }
            RuntimeErrorKind::NoSuchKey { .. } => "no such key".to_string(),
            RuntimeErrorKind::IndexOutOfBounds { .. } => "out of bounds".to_string(),
            RuntimeErrorKind::AssertionFailed(_) => "this assertion".to_string(),
            RuntimeErrorKind::Raised(_) => "raised here".to_string(),
            RuntimeErrorKind::UnknownOperator { .. } | RuntimeErrorKind::Operator(_) | RuntimeErrorKind::Io(_) => {
                "in this call".to_string()
            }
            RuntimeErrorKind::Internal(_) => String::new(),
        }
    }

    fn code(&self) -> &'static str {
        match &self.0.kind {
            RuntimeErrorKind::BinaryTypes { .. } | RuntimeErrorKind::UnaryType { .. } => "R001",
            RuntimeErrorKind::Overflow { .. } => "R002",
            RuntimeErrorKind::DivisionByZero => "R003",
            RuntimeErrorKind::UndefinedName { .. } => "R004",
            RuntimeErrorKind::NotYetDefined { .. } => "R005",
            RuntimeErrorKind::UnknownOperator { .. } => "R006",
            RuntimeErrorKind::NotCallable { .. } => "R007",
            RuntimeErrorKind::ArgumentCount { .. } => "R008",
            RuntimeErrorKind::Argument { .. } => "R009",
            RuntimeErrorKind::NoSuchKey { .. } => "R010",
            RuntimeErrorKind::IndexOutOfBounds { .. } => "R011",
            RuntimeErrorKind::LimitExceeded { .. } => "R012",
            RuntimeErrorKind::AssertionFailed(_) => "R013",
            RuntimeErrorKind::Raised(_) => "R014",
            RuntimeErrorKind::Operator(_) => "R015",
            RuntimeErrorKind::Io(_) => "R016",
            RuntimeErrorKind::Interrupted => "R019",
            RuntimeErrorKind::Internal(_) => "R999",
        }
    }
}

impl fmt::Debug for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RuntimeError({:?} at {:?})", self.0.kind, self.0.location)
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.origin {
            Some(origin) => write!(f, "{origin}: {}", self.0.kind),
            None => write!(f, "{}", self.0.kind),
        }
    }
}

impl std::error::Error for RuntimeError {}

impl From<RuntimeErrorKind> for RuntimeError {
    fn from(kind: RuntimeErrorKind) -> RuntimeError {
        RuntimeError::new(kind)
    }
}

/// How to raise a limit: the command-line flag and the embedder's field.
fn limit_help(what: &str) -> String {
    let (flag, field) = match what {
        "call depth" => (Some("--max-call-depth"), "max_call_depth"),
        "operation" => (Some("--max-operations"), "max_operations"),
        "value nesting depth" => (Some("--max-depth"), "max_nesting_depth"),
        "string size" => (None, "max_string_bytes"),
        _ => (None, "max_collection_len"),
    };
    match flag {
        Some(flag) => format!("raise the limit with `{flag} N` (embedders: `Limits::{field}`)"),
        None => format!("embedders raise this limit with `Limits::{field}`; the tusk command keeps the default"),
    }
}
