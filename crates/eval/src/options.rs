//! Evaluation settings: the language mode and the limits.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// How strictly the language is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The language as documented: a bare word that names nothing is a string, with a warning.
    #[default]
    Default,
    /// A bare word that names nothing is an error.
    Strict,
    /// Load any real TuskLang file the way the reference SDKs do: a value that does not parse
    /// and an unknown operator evaluate to their raw text; errors become warnings.
    Compat,
}

/// Limits that keep any input from running away. Exceeding one is a clean error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How deeply lambdas may call each other.
    pub max_call_depth: usize,
    /// How many lambda calls and builtin iterations a run may perform (`u64::MAX`: no limit).
    pub max_operations: u64,
    /// The longest string a run may build, in bytes.
    pub max_string_bytes: usize,
    /// The most items an array or object may hold.
    pub max_collection_len: usize,
    /// How deeply the source may nest brackets, blocks and operators.
    pub max_nesting_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_call_depth: 2_000,
            max_operations: u64::MAX,
            max_string_bytes: 256 << 20,
            max_collection_len: 64 << 20,
            max_nesting_depth: 256,
        }
    }
}

/// Everything that changes how a file is evaluated.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Default, strict or compat.
    pub mode: Mode,
    /// The limits.
    pub limits: Limits,
    /// Do not run operators with side effects (`tusk check`, fuzzing); they return `null`.
    pub dry_run: bool,
    /// Raised by another thread (a Ctrl-C handler) to stop the run: the interpreter checks it
    /// every few thousand operations and ends with the error `R019` "interrupted". The embedder
    /// lowers it again before the next run.
    pub interrupt: Option<Arc<AtomicBool>>,
}
