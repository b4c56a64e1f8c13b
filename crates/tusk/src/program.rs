//! Compile once, run many times: a [`Program`], and the [`Scope`] of `$globals` a run gets
//! from the host.

use std::rc::Rc;

use tusk_diagnostics::Diagnostic;
use tusk_eval::{Compiled, Key, Object, Value};

use crate::convert::IntoValue;

/// A script parsed and compiled once by [`Engine::compile`](crate::Engine::compile); each
/// [`Engine::run`](crate::Engine::run) evaluates it afresh (new entries, new document) without
/// parsing or compiling it again. It belongs to the engine that compiled it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Program {
    pub(crate) compiled: Compiled,
}

impl Program {
    /// The `$globals` the script reads without defining them, in order of first use: what a
    /// [`Scope`] (or [`Engine::set_global`](crate::Engine::set_global)) should supply. A run
    /// that reads one nobody supplied fails with an error naming it, at the place it is read.
    pub fn globals(&self) -> impl ExactSizeIterator<Item = &str> {
        self.compiled.globals_read().iter().map(Key::as_str)
    }

    /// Warnings found while compiling (bare words, duplicate keys); every run's document
    /// reports them as well.
    pub fn warnings(&self) -> &[Diagnostic] {
        self.compiled.warnings()
    }
}

/// Values a script sees as `$name` globals, supplied by the host for one run
/// ([`Engine::run_with_scope`](crate::Engine::run_with_scope)).
///
/// ```
/// let mut scope = tusk::Scope::new();
/// scope.set("region", "eu-west-1").set("replicas", 3);
/// assert_eq!(scope.get("replicas").and_then(tusk::Value::as_int), Some(3));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Shared with the runs that use it; copied only when changed while one holds it.
    values: Rc<Object>,
}

impl Scope {
    /// An empty scope.
    pub fn new() -> Scope {
        Scope::default()
    }

    /// Sets `$name` (without the `$`); a later `set` of the same name replaces the value.
    pub fn set(&mut self, name: &str, value: impl IntoValue) -> &mut Scope {
        Rc::make_mut(&mut self.values).insert(Key::new(name.trim_start_matches('$')), value.into_value());
        self
    }

    /// The value of `$name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name.trim_start_matches('$'))
    }

    /// Removes `$name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        Rc::make_mut(&mut self.values).remove(name.trim_start_matches('$'))
    }

    /// The names and values, in the order they were first set.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.values.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// Number of globals.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the scope supplies nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values, shared.
    pub(crate) fn shared(&self) -> Rc<Object> {
        self.values.clone()
    }

    /// The globals of a run: `under`'s values, and this scope's, which win.
    pub(crate) fn layered_over(&self, under: &Scope) -> Rc<Object> {
        if under.is_empty() {
            return self.values.clone();
        }
        if self.is_empty() {
            return under.values.clone();
        }
        let mut merged = (*under.values).clone();
        for (name, value) in self.values.iter() {
            merged.insert(name.clone(), value.clone());
        }
        Rc::new(merged)
    }
}
