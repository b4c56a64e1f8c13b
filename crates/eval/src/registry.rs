//! The symbol table: every operator and function, built-in or from a plugin, is registered
//! here through the one [`Plugin`] trait.
//!
//! A symbol's implementation sits in a cell so that a plugin can be registered as a lazy stub
//! (from its manifest) and patched with the real function on first use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::context::CallContext;
use crate::error::RuntimeError;
use crate::function::NativeFn;
use crate::value::{Key, Value};

/// A source of operators and functions. The built-in `core` and `std` sets implement it, and
/// the plugin host adapts dynamic plugins to it.
pub trait Plugin {
    /// The plugin's name (`core`, `std`, `logging`, …).
    fn name(&self) -> &str;
    /// Registers the plugin's symbols.
    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError>;
}

/// Operator (`@name`) or function (`name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    /// Called as `@name(args)`.
    Operator,
    /// Called as `name(args)` and usable as a value.
    Function,
}

/// Documentation of a symbol, shown by `:help` and `tusk plugin docs`.
#[derive(Clone, Debug, Default)]
pub struct SymbolDoc {
    /// `len(value)`
    pub signature: String,
    /// One sentence.
    pub summary: String,
    /// Runnable examples: `expression => expected JSON`.
    pub examples: Vec<String>,
}

/// Loads a lazy symbol's implementation on first use.
pub type LazyLoader = dyn Fn(&mut CallContext<'_, '_>) -> Result<Rc<NativeFn>, RuntimeError>;

/// How a symbol is implemented right now.
#[derive(Clone)]
pub enum Implementation {
    /// Ready to call.
    Native(Rc<NativeFn>),
    /// A stub: calling the loader produces the implementation (lazy plugin loading).
    /// The loader gets the call's context: a plugin's configuration can come from the
    /// running script's `[plugins.NAME]` section.
    Lazy(Rc<LazyLoader>),
}

/// One registered operator or function.
pub struct Symbol {
    /// The name without `@`.
    pub name: Key,
    /// Operator or function.
    pub kind: SymbolKind,
    /// The plugin that provides it.
    pub plugin: Key,
    /// Documentation.
    pub doc: SymbolDoc,
    /// Bit `i` set: argument `i` is passed as a zero-argument lambda, evaluated only if the
    /// operator calls it (`@if`, `@cache`).
    pub lazy_arguments: u64,
    /// True for symbols with effects outside the script (writing files, printing, network):
    /// `tusk check` does not run them.
    pub side_effects: bool,
    implementation: RefCell<Slot>,
}

/// What a symbol's cell holds: the implementation as the plugin gave it. A symbol with side
/// effects must not run in a dry run: [`Symbol::call`] checks that itself, and the functions
/// handed out to be kept ([`Symbol::loaded`], [`Symbol::resolve`]) are wrapped by
/// [`guard_dry_run`] as they leave the cell, so the cell holds one function, never two.
enum Slot {
    /// Loaded.
    Native(Rc<NativeFn>),
    /// A lazy stub's loader.
    Lazy(Rc<LazyLoader>),
}

impl Slot {
    fn new(implementation: Implementation) -> Slot {
        match implementation {
            Implementation::Native(function) => Slot::Native(function),
            Implementation::Lazy(loader) => Slot::Lazy(loader),
        }
    }
}

impl Symbol {
    /// The implementation, loading a lazy plugin if this is its first use; wrapped so that it
    /// returns `null` in a dry run when the symbol has side effects.
    pub fn resolve(&self, ctx: &mut CallContext<'_, '_>) -> Result<Rc<NativeFn>, RuntimeError> {
        let function = self.resolve_unguarded(ctx)?;
        Ok(self.guarded(function))
    }

    /// The implementation as it is in the cell, loading a lazy plugin first: only for a
    /// caller that has checked that this is not a dry run (or that the symbol has no side
    /// effects).
    pub(crate) fn resolve_unguarded(&self, ctx: &mut CallContext<'_, '_>) -> Result<Rc<NativeFn>, RuntimeError> {
        let loader = match &*self.implementation.borrow() {
            Slot::Native(function) => return Ok(function.clone()),
            Slot::Lazy(loader) => loader.clone(),
        };
        let function = loader(ctx)?;
        *self.implementation.borrow_mut() = Slot::Native(function.clone());
        Ok(function)
    }

    /// Calls the symbol (loading a lazy plugin first): `null` without running it in a dry run
    /// when it has side effects.
    pub fn call(&self, ctx: &mut CallContext<'_, '_>, args: &[Value]) -> Result<Value, RuntimeError> {
        if self.side_effects && ctx.options().dry_run {
            return Ok(Value::Null);
        }
        let function = self.resolve_unguarded(ctx)?;
        function(ctx, args)
    }

    /// Replaces the implementation (hot reload, lazy patching).
    pub fn set_implementation(&self, implementation: Implementation) {
        *self.implementation.borrow_mut() = Slot::new(implementation);
    }

    /// The implementation if it is loaded, wrapped as by [`Symbol::resolve`]. The same `Rc`
    /// on every call for a symbol without side effects.
    pub fn loaded(&self) -> Option<Rc<NativeFn>> {
        self.loaded_unguarded().map(|function| self.guarded(function))
    }

    /// The implementation if it is loaded, as it is in the cell: only for a caller that has
    /// checked that this is not a dry run.
    #[inline]
    pub(crate) fn loaded_unguarded(&self) -> Option<Rc<NativeFn>> {
        match &*self.implementation.borrow() {
            Slot::Native(function) => Some(function.clone()),
            Slot::Lazy(_) => None,
        }
    }

    /// `function`, wrapped by [`guard_dry_run`] when the symbol has side effects.
    fn guarded(&self, function: Rc<NativeFn>) -> Rc<NativeFn> {
        if self.side_effects { guard_dry_run(function) } else { function }
    }

    /// `@name` or `name`, as scripts write it.
    pub fn display_name(&self) -> String {
        match self.kind {
            SymbolKind::Operator => format!("@{}", self.name),
            SymbolKind::Function => self.name.to_string(),
        }
    }
}

/// Makes a side-effecting implementation return `null` in a dry run.
///
/// The check lives in the implementation itself because a symbol is reached by several routes
/// that bypass any check at the call site: builtins compile to direct native calls, and a
/// function passed as a value (`map(xs, print)`) is called through the value. A dry run that
/// misses one route writes files while `tusk check` or a fuzzer runs.
fn guard_dry_run(function: Rc<NativeFn>) -> Rc<NativeFn> {
    Rc::new(move |ctx: &mut CallContext<'_, '_>, args: &[Value]| {
        if ctx.options().dry_run {
            return Ok(Value::Null);
        }
        function(ctx, args)
    })
}

/// What a plugin declares for one symbol.
pub struct SymbolSpec {
    name: Key,
    kind: SymbolKind,
    doc: SymbolDoc,
    lazy_arguments: u64,
    side_effects: bool,
    implementation: Implementation,
}

impl SymbolSpec {
    /// A function `name(args)`.
    pub fn function(
        name: &str,
        function: impl Fn(&mut crate::CallContext<'_, '_>, &[crate::Value]) -> Result<crate::Value, RuntimeError> + 'static,
    ) -> SymbolSpec {
        SymbolSpec::new(name, SymbolKind::Function, Implementation::Native(Rc::new(function)))
    }

    /// An operator `@name(args)`.
    pub fn operator(
        name: &str,
        function: impl Fn(&mut crate::CallContext<'_, '_>, &[crate::Value]) -> Result<crate::Value, RuntimeError> + 'static,
    ) -> SymbolSpec {
        SymbolSpec::new(name, SymbolKind::Operator, Implementation::Native(Rc::new(function)))
    }

    /// A symbol with any implementation (the plugin host registers lazy stubs this way).
    pub fn new(name: &str, kind: SymbolKind, implementation: Implementation) -> SymbolSpec {
        SymbolSpec {
            name: Key::new(name),
            kind,
            doc: SymbolDoc { signature: name.to_string(), ..SymbolDoc::default() },
            lazy_arguments: 0,
            side_effects: false,
            implementation,
        }
    }

    /// Sets the signature shown in docs, e.g. `len(value)`.
    pub fn signature(mut self, signature: &str) -> SymbolSpec {
        self.doc.signature = signature.to_string();
        self
    }

    /// Sets the one-sentence summary.
    pub fn summary(mut self, summary: &str) -> SymbolSpec {
        self.doc.summary = summary.to_string();
        self
    }

    /// Adds an example `expression => expected JSON` (tests run these).
    pub fn example(mut self, example: &str) -> SymbolSpec {
        self.doc.examples.push(example.to_string());
        self
    }

    /// Marks argument `index` as lazy.
    pub fn lazy_argument(mut self, index: u32) -> SymbolSpec {
        self.lazy_arguments |= 1 << index.min(63);
        self
    }

    /// Marks the symbol as having side effects.
    pub fn side_effects(mut self) -> SymbolSpec {
        self.side_effects = true;
        self
    }
}

/// Why a registration failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two plugins provide the same symbol (or one registers it twice).
    #[error("{}", if first == second {
        format!("`{name}` is already registered by `{first}`")
    } else {
        format!("`{name}` is provided by both `{first}` and `{second}`")
    })]
    Duplicate {
        /// `@name` or `name`.
        name: String,
        /// The plugin that registered it first.
        first: String,
        /// The plugin that tried again.
        second: String,
    },
    /// A name that scripts could not write.
    #[error("`{0}` is not a valid name for an operator or function")]
    InvalidName(String),
}

/// Hands a plugin's registrations to the registry.
pub struct Registrar<'r> {
    registry: &'r mut Registry,
    plugin: Key,
}

impl Registrar<'_> {
    /// Registers one symbol.
    pub fn add(&mut self, spec: SymbolSpec) -> Result<Rc<Symbol>, RegistryError> {
        self.registry.insert(&self.plugin, spec)
    }

    /// The plugin this registrar registers for.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }
}

fn valid_name(name: &str, kind: SymbolKind) -> bool {
    let part_ok = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match kind {
        SymbolKind::Operator => name.split('.').all(part_ok),
        SymbolKind::Function => part_ok(name),
    }
}

/// The registry's tables: hashed with foldhash, not SipHash, because every installed plugin's
/// symbols are inserted at start-up (a few hundred for a hundred plugins) and every name a
/// script calls is looked up when compiling; the names are not chosen by an attacker.
type SymbolTable = HashMap<Key, Rc<Symbol>, foldhash::fast::RandomState>;

/// All symbols by name. Operators and functions have separate namespaces.
#[derive(Default)]
pub struct Registry {
    operators: SymbolTable,
    functions: SymbolTable,
    plugins: Vec<Key>,
    /// The names in `plugins`, to tell a new plugin from one registering again without a
    /// scan of the list (a thousand installed plugins made that scan quadratic at start-up).
    plugin_names: std::collections::HashSet<Key, foldhash::fast::RandomState>,
    /// Where `@cache` shares its values, when an embedder installed a store.
    cache_store: Option<Rc<dyn crate::CacheStore>>,
}

impl Registry {
    /// An empty registry (no core, no std).
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers every symbol of `plugin`.
    pub fn register(&mut self, plugin: &dyn Plugin) -> Result<(), RegistryError> {
        let name = Key::new(plugin.name());
        if self.plugin_names.insert(name.clone()) {
            self.plugins.push(name.clone());
        }
        let mut registrar = Registrar { registry: self, plugin: name };
        plugin.register(&mut registrar)
    }

    fn insert(&mut self, plugin: &Key, spec: SymbolSpec) -> Result<Rc<Symbol>, RegistryError> {
        if !valid_name(&spec.name, spec.kind) {
            return Err(RegistryError::InvalidName(spec.name.to_string()));
        }
        let table = match spec.kind {
            SymbolKind::Operator => &mut self.operators,
            SymbolKind::Function => &mut self.functions,
        };
        if let Some(existing) = table.get(&spec.name) {
            return Err(RegistryError::Duplicate {
                name: existing.display_name(),
                first: existing.plugin.to_string(),
                second: plugin.to_string(),
            });
        }
        let symbol = Rc::new(Symbol {
            name: spec.name.clone(),
            kind: spec.kind,
            plugin: plugin.clone(),
            doc: spec.doc,
            lazy_arguments: spec.lazy_arguments,
            side_effects: spec.side_effects,
            implementation: RefCell::new(Slot::new(spec.implementation)),
        });
        table.insert(spec.name, symbol.clone());
        Ok(symbol)
    }

    /// Removes a symbol (used when the user picks one provider over another).
    pub fn remove(&mut self, kind: SymbolKind, name: &str) -> Option<Rc<Symbol>> {
        match kind {
            SymbolKind::Operator => self.operators.remove(name),
            SymbolKind::Function => self.functions.remove(name),
        }
    }

    /// The operator `@name`.
    pub fn operator(&self, name: &str) -> Option<&Rc<Symbol>> {
        self.operators.get(name)
    }

    /// The function `name`.
    pub fn function(&self, name: &str) -> Option<&Rc<Symbol>> {
        self.functions.get(name)
    }

    /// Every symbol, operators first, each group sorted by name.
    pub fn symbols(&self) -> Vec<&Rc<Symbol>> {
        let mut operators: Vec<_> = self.operators.values().collect();
        operators.sort_by(|a, b| a.name.cmp(&b.name));
        let mut functions: Vec<_> = self.functions.values().collect();
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        operators.extend(functions);
        operators
    }

    /// Installs the store `@cache` shares its values through (it decides per script whether it
    /// is in use).
    pub fn set_cache_store(&mut self, store: Rc<dyn crate::CacheStore>) {
        self.cache_store = Some(store);
    }

    /// The store `@cache` shares its values through, if one is installed.
    pub fn cache_store(&self) -> Option<&Rc<dyn crate::CacheStore>> {
        self.cache_store.as_ref()
    }

    /// Names of the registered plugins, in registration order.
    pub fn plugins(&self) -> &[Key] {
        &self.plugins
    }
}
