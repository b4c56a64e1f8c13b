//! The symbol table: every operator and function, built-in or from a plugin, is registered
//! here through the one [`Plugin`] trait.
//!
//! A symbol's implementation sits in a cell so that a plugin can be registered as a lazy stub
//! (from its manifest) and patched with the real function on first use.
//!
//! Installed plugins are not even registered as stubs up front: the registry holds a
//! [`DeferredSymbols`] source (the plugin host's catalogue) and makes a plugin's stubs on the
//! first look-up of one of its names, so that a plugin no script uses costs no symbol at
//! start-up.

use std::cell::{Cell, OnceCell, RefCell};
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

/// Loads a lazy symbol's implementation on first use (a `Native` or `Direct` one).
pub type LazyLoader = dyn Fn(&mut CallContext<'_, '_>) -> Result<Implementation, RuntimeError>;

/// A loaded symbol's implementation that borrows its arguments: the interpreter's symbol call
/// lends what it already holds (the call's constants by reference, its other operands
/// evaluated once) instead of copying each into an argument array and dropping the copies
/// after the call (a string constant's reference count, out of line, on every call). The
/// plugin host implements it for an in-process plugin's symbol, whose arguments cross to the
/// plugin as borrowed views anyway.
pub trait DirectCall {
    /// Calls the symbol with `args` lent for the call.
    fn call(&self, ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError>;

    /// Calls the symbol with arguments held in an array, lending each (the routes that have
    /// an array already).
    fn call_values(&self, ctx: &mut CallContext<'_, '_>, args: &[Value]) -> Result<Value, RuntimeError> {
        let lent: smallvec::SmallVec<[&Value; 4]> = args.iter().collect();
        self.call(ctx, &lent)
    }

    /// The same call as a [`Thunk`], when the implementation has one: the interpreter's symbol
    /// call then reads it from the symbol and calls it, with no reference count, borrow or
    /// trait object in between. It must do exactly what [`DirectCall::call`] does, and its
    /// context must stay valid for as long as a copy of the thunk can be called (the thunk is
    /// `Copy`: a call in flight keeps its own copy after the symbol is patched).
    fn thunk(&self) -> Option<Thunk> {
        None
    }
}

/// The function of a [`Thunk`]: called with the thunk's context word, the call's context and
/// the arguments lent.
pub type ThunkFn =
    fn(context: *const (), ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError>;

/// A loaded symbol's call as its provider built it for the interpreter: a plain function and
/// the word it is called with. The plugin host makes one per in-process plugin symbol (the
/// function one of its own, monomorphised per kind of entry, that calls the plugin's entry; the
/// word the address of what it found for the symbol when it loaded it), so the interpreter's
/// call of a loaded plugin symbol is a built-in's: two words read from the symbol, one call.
///
/// This crate never looks at the context: it hands it back to the function. Making a thunk is
/// safe because calling a safe `fn` is, whatever the word; a provider whose function reads
/// through the word keeps that function private and pairs it only with words it made, valid for
/// as long as the thunk can be called.
#[derive(Clone, Copy)]
pub struct Thunk {
    function: ThunkFn,
    context: *const (),
}

impl Thunk {
    /// `function`, to be called with `context`.
    pub fn new(function: ThunkFn, context: *const ()) -> Thunk {
        Thunk { function, context }
    }

    /// Calls the function with the context word.
    #[inline(always)]
    pub fn call(self, ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
        (self.function)(self.context, ctx, args)
    }
}

impl std::fmt::Debug for Thunk {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Thunk").field("context", &self.context).finish_non_exhaustive()
    }
}

/// How a symbol is implemented right now.
#[derive(Clone)]
pub enum Implementation {
    /// Ready to call.
    Native(Rc<NativeFn>),
    /// Ready to call, taking its arguments lent; the routes that keep a function (a function
    /// value, [`Symbol::resolve`]) get a `NativeFn` that lends the arguments it is given.
    Direct(Rc<dyn DirectCall>),
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
    /// The thunk of a `Direct` implementation that has one (see [`DirectCall::thunk`]), kept
    /// beside the cell so that the interpreter's symbol call reads it without a borrow; set
    /// with the cell, every time.
    thunk: Cell<Option<Thunk>>,
}

/// What a symbol's cell holds: the implementation as the plugin gave it. A symbol with side
/// effects must not run in a dry run: [`Symbol::call`] checks that itself, and the functions
/// handed out to be kept ([`Symbol::loaded`], [`Symbol::resolve`]) are wrapped by
/// [`guard_dry_run`] as they leave the cell, so the cell holds one function, never two.
enum Slot {
    /// Loaded.
    Native(Rc<NativeFn>),
    /// Loaded, called with its arguments lent.
    Direct(Rc<dyn DirectCall>),
    /// A lazy stub's loader.
    Lazy(Rc<LazyLoader>),
}

impl Slot {
    fn new(implementation: Implementation) -> Slot {
        match implementation {
            Implementation::Native(function) => Slot::Native(function),
            Implementation::Direct(direct) => Slot::Direct(direct),
            Implementation::Lazy(loader) => Slot::Lazy(loader),
        }
    }

    /// The thunk the interpreter calls for this implementation, if it has one.
    fn thunk(&self) -> Option<Thunk> {
        match self {
            Slot::Direct(direct) => direct.thunk(),
            Slot::Native(_) | Slot::Lazy(_) => None,
        }
    }
}

/// What the interpreter's symbol call finds in a symbol's cell.
pub(crate) enum Loaded {
    /// A function taking its arguments in an array.
    Native(Rc<NativeFn>),
    /// A direct call, taking them lent.
    Direct(Rc<dyn DirectCall>),
}

/// A `NativeFn` that calls `direct`, lending it the arguments it is given: for the routes
/// that keep a function rather than calling through the symbol.
fn native_of(direct: Rc<dyn DirectCall>) -> Rc<NativeFn> {
    Rc::new(move |ctx: &mut CallContext<'_, '_>, args: &[Value]| direct.call_values(ctx, args))
}

impl Symbol {
    fn new(plugin: Key, spec: SymbolSpec) -> Symbol {
        let slot = Slot::new(spec.implementation);
        Symbol {
            name: spec.name,
            kind: spec.kind,
            plugin,
            doc: spec.doc,
            lazy_arguments: spec.lazy_arguments,
            side_effects: spec.side_effects,
            thunk: Cell::new(slot.thunk()),
            implementation: RefCell::new(slot),
        }
    }

    /// Puts `implementation` in the cell, and its thunk (or none) beside it.
    fn store(&self, implementation: Implementation) {
        let slot = Slot::new(implementation);
        self.thunk.set(slot.thunk());
        *self.implementation.borrow_mut() = slot;
    }

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
        Ok(match self.load(ctx)? {
            Loaded::Native(function) => function,
            Loaded::Direct(direct) => native_of(direct),
        })
    }

    /// What the cell holds, loading a lazy plugin first (unguarded, as
    /// [`Symbol::resolve_unguarded`]).
    pub(crate) fn load(&self, ctx: &mut CallContext<'_, '_>) -> Result<Loaded, RuntimeError> {
        let loader = match &*self.implementation.borrow() {
            Slot::Native(function) => return Ok(Loaded::Native(function.clone())),
            Slot::Direct(direct) => return Ok(Loaded::Direct(direct.clone())),
            Slot::Lazy(loader) => loader.clone(),
        };
        let implementation = loader(ctx)?;
        let loaded = match &implementation {
            Implementation::Native(function) => Loaded::Native(function.clone()),
            Implementation::Direct(direct) => Loaded::Direct(direct.clone()),
            Implementation::Lazy(_) => {
                return Err(RuntimeError::message(format!(
                    "internal error: loading `{}` gave another stub (please report)",
                    self.display_name()
                )));
            }
        };
        self.store(implementation);
        Ok(loaded)
    }

    /// Calls the symbol (loading a lazy plugin first): `null` without running it in a dry run
    /// when it has side effects.
    pub fn call(&self, ctx: &mut CallContext<'_, '_>, args: &[Value]) -> Result<Value, RuntimeError> {
        if self.side_effects && ctx.options().dry_run {
            return Ok(Value::Null);
        }
        match self.load(ctx)? {
            Loaded::Native(function) => function(ctx, args),
            Loaded::Direct(direct) => direct.call_values(ctx, args),
        }
    }

    /// Replaces the implementation (hot reload, lazy patching).
    pub fn set_implementation(&self, implementation: Implementation) {
        self.store(implementation);
    }

    /// The thunk of the loaded implementation, when it has one: the interpreter's symbol call
    /// calls it directly (only for a caller that has checked that this is not a dry run).
    #[inline(always)]
    pub(crate) fn thunk(&self) -> Option<Thunk> {
        self.thunk.get()
    }

    /// The implementation if it is loaded, wrapped as by [`Symbol::resolve`]. The same `Rc`
    /// on every call for a `Native` symbol without side effects (a `Direct` one's is made on
    /// each call).
    pub fn loaded(&self) -> Option<Rc<NativeFn>> {
        self.loaded_unguarded().map(|function| self.guarded(function))
    }

    /// The implementation if it is loaded, as it is in the cell: only for a caller that has
    /// checked that this is not a dry run.
    pub(crate) fn loaded_unguarded(&self) -> Option<Rc<NativeFn>> {
        match self.loaded_call()? {
            Loaded::Native(function) => Some(function),
            Loaded::Direct(direct) => Some(native_of(direct)),
        }
    }

    /// The implementation if it is loaded, as the interpreter's symbol call takes it: only
    /// for a caller that has checked that this is not a dry run.
    #[inline]
    pub(crate) fn loaded_call(&self) -> Option<Loaded> {
        match &*self.implementation.borrow() {
            Slot::Native(function) => Some(Loaded::Native(function.clone())),
            Slot::Direct(direct) => Some(Loaded::Direct(direct.clone())),
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

/// Symbols a registry knows by name only until something looks one up: the stubs of installed
/// plugins. Each provider (a plugin) is numbered from 0; the registry makes all of a provider's
/// symbols, in the order [`DeferredSymbols::for_each_symbol`] gives them, on the first look-up
/// of any of them, and keeps them from then on like registered ones.
///
/// A source must answer consistently: a name [`DeferredSymbols::provider_of`] gives a provider
/// for is one that provider's [`DeferredSymbols::for_each_symbol`] lists, and no name is
/// listed by two providers or is already registered (the plugin host checks that with
/// [`Registry::check_unregistered`] before it hands the source over, leaving out what fails,
/// and every name it hands over passes [`SymbolKind::is_valid_name`]).
pub trait DeferredSymbols {
    /// How many providers there are.
    fn provider_count(&self) -> usize;
    /// The name of provider `provider` (the plugin its symbols say they come from).
    fn provider_name(&self, provider: usize) -> Key;
    /// The provider that registers `name`, if any.
    fn provider_of(&self, kind: SymbolKind, name: &str) -> Option<usize>;
    /// Calls `each` for every symbol `provider` registers, in registration order.
    fn for_each_symbol(&self, provider: usize, each: &mut dyn FnMut(SymbolKind, &str));
    /// The implementation of one of `provider`'s symbols (a lazy stub), when it is made.
    fn stub(&self, provider: usize, kind: SymbolKind, name: &str) -> Implementation;
    /// Told the symbols just made for `provider` (hot reload patches them).
    fn made(&self, provider: usize, symbols: &[Rc<Symbol>]);
}

/// One provider's symbols, once made.
type ProviderSymbols = OnceCell<Box<[Rc<Symbol>]>>;

/// A deferred source and the symbols made from it so far, per provider.
struct Deferred {
    source: Rc<dyn DeferredSymbols>,
    made: Box<[ProviderSymbols]>,
}

impl Deferred {
    /// `provider`'s symbols, made on the first call.
    fn symbols(&self, provider: usize) -> &[Rc<Symbol>] {
        let Some(slot) = self.made.get(provider) else { return &[] };
        slot.get_or_init(|| {
            let plugin = self.source.provider_name(provider);
            let mut symbols = Vec::new();
            self.source.for_each_symbol(provider, &mut |kind, name| {
                let implementation = self.source.stub(provider, kind, name);
                symbols.push(Rc::new(Symbol::new(plugin.clone(), SymbolSpec::new(name, kind, implementation))));
            });
            self.source.made(provider, &symbols);
            symbols.into_boxed_slice()
        })
    }

    fn lookup(&self, kind: SymbolKind, name: &str) -> Option<&Rc<Symbol>> {
        let provider = self.source.provider_of(kind, name)?;
        self.symbols(provider).iter().find(|symbol| symbol.kind == kind && symbol.name.as_str() == name)
    }
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

/// Which bytes a name may have: bit 0, those that may start a part of it (letters and `_`);
/// bit 1, those that may follow (also digits and `-`).
const NAME_BYTES: [u8; 256] = {
    let mut classes = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        classes[byte] = if b.is_ascii_alphabetic() || b == b'_' {
            3
        } else if b.is_ascii_digit() || b == b'-' {
            2
        } else {
            0
        };
        byte += 1;
    }
    classes
};

impl SymbolKind {
    /// Whether scripts can write `name` as this kind of symbol: `[A-Za-z_][A-Za-z0-9_-]*`, and
    /// for an operator such parts joined by `.`. Only ASCII passes. On bytes, with a table: every
    /// installed plugin's names are checked at every start-up (and plugin manifests and the
    /// discovery index are checked by this same rule).
    pub fn is_valid_name(self, name: &[u8]) -> bool {
        let mut part = name;
        loop {
            let Some((&first, rest)) = part.split_first() else { return false };
            if NAME_BYTES[usize::from(first)] & 1 == 0 {
                return false;
            }
            match rest.iter().position(|&byte| NAME_BYTES[usize::from(byte)] & 2 == 0) {
                None => return true,
                // Only an operator has more parts, after a `.`.
                Some(end) if rest[end] == b'.' && self == SymbolKind::Operator => part = &rest[end + 1..],
                Some(_) => return false,
            }
        }
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
    /// Sources of symbols made on first look-up (installed plugins), consulted after the tables.
    deferred: Vec<Deferred>,
    /// Deferred symbols [`Registry::remove`] took out (made ones cannot leave their provider's
    /// list, so they are hidden instead).
    removed: Vec<(SymbolKind, Key)>,
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
        self.add_plugin_name(&name);
        let mut registrar = Registrar { registry: self, plugin: name };
        plugin.register(&mut registrar)
    }

    fn add_plugin_name(&mut self, name: &Key) {
        if self.plugin_names.insert(name.clone()) {
            self.plugins.push(name.clone());
        }
    }

    /// Hands the registry symbols to make on their first look-up (see [`DeferredSymbols`]):
    /// its providers count as registered plugins from now on, their symbols do not exist until
    /// something looks one of them up (a script's compilation, [`Registry::symbols`]).
    pub fn defer(&mut self, source: Rc<dyn DeferredSymbols>) {
        let count = source.provider_count();
        // Grown once: a thousand installed plugins would otherwise rehash the set ten times.
        self.plugins.reserve(count);
        self.plugin_names.reserve(count);
        for provider in 0..count {
            self.add_plugin_name(&source.provider_name(provider));
        }
        self.deferred.push(Deferred { source, made: (0..count).map(|_| OnceCell::new()).collect() });
    }

    /// Whether `plugin` could register `name` now: a name scripts can write, and not registered
    /// (or deferred) already. [`Registrar::add`] fails with the same error.
    pub fn check_available(&self, plugin: &str, kind: SymbolKind, name: &str) -> Result<(), RegistryError> {
        if !kind.is_valid_name(name.as_bytes()) {
            return Err(RegistryError::InvalidName(name.to_string()));
        }
        self.check_unregistered(plugin, kind, name)
    }

    /// [`Registry::check_available`] for a name known to pass [`SymbolKind::is_valid_name`]:
    /// whether it is registered (or deferred) already. The plugin host's names are: its
    /// catalogue checked each by that rule when it read it (a manifest, or the discovery index),
    /// and start-up checks every installed plugin's names here.
    pub fn check_unregistered(&self, plugin: &str, kind: SymbolKind, name: &str) -> Result<(), RegistryError> {
        match self.lookup(kind, name) {
            Some(existing) => Err(RegistryError::Duplicate {
                name: existing.display_name(),
                first: existing.plugin.to_string(),
                second: plugin.to_string(),
            }),
            None => Ok(()),
        }
    }

    fn insert(&mut self, plugin: &Key, spec: SymbolSpec) -> Result<Rc<Symbol>, RegistryError> {
        self.check_available(plugin, spec.kind, &spec.name)?;
        let name = spec.name.clone();
        let symbol = Rc::new(Symbol::new(plugin.clone(), spec));
        match symbol.kind {
            SymbolKind::Operator => self.operators.insert(name, symbol.clone()),
            SymbolKind::Function => self.functions.insert(name, symbol.clone()),
        };
        Ok(symbol)
    }

    /// Removes a symbol (used when the user picks one provider over another).
    pub fn remove(&mut self, kind: SymbolKind, name: &str) -> Option<Rc<Symbol>> {
        let removed = match kind {
            SymbolKind::Operator => self.operators.remove(name),
            SymbolKind::Function => self.functions.remove(name),
        };
        if removed.is_some() {
            return removed;
        }
        let deferred = self.lookup_deferred(kind, name)?.clone();
        self.removed.push((kind, deferred.name.clone()));
        Some(deferred)
    }

    /// The operator `@name`.
    pub fn operator(&self, name: &str) -> Option<&Rc<Symbol>> {
        self.lookup(SymbolKind::Operator, name)
    }

    /// The function `name`.
    pub fn function(&self, name: &str) -> Option<&Rc<Symbol>> {
        self.lookup(SymbolKind::Function, name)
    }

    fn lookup(&self, kind: SymbolKind, name: &str) -> Option<&Rc<Symbol>> {
        let table = match kind {
            SymbolKind::Operator => &self.operators,
            SymbolKind::Function => &self.functions,
        };
        table.get(name).or_else(|| self.lookup_deferred(kind, name))
    }

    fn lookup_deferred(&self, kind: SymbolKind, name: &str) -> Option<&Rc<Symbol>> {
        if self.is_removed(kind, name) {
            return None;
        }
        self.deferred.iter().find_map(|deferred| deferred.lookup(kind, name))
    }

    fn is_removed(&self, kind: SymbolKind, name: &str) -> bool {
        self.removed.iter().any(|(removed_kind, removed)| *removed_kind == kind && removed.as_str() == name)
    }

    /// Every symbol, operators first, each group sorted by name. Makes every deferred symbol.
    pub fn symbols(&self) -> Vec<&Rc<Symbol>> {
        let deferred = self
            .deferred
            .iter()
            .flat_map(|deferred| (0..deferred.made.len()).flat_map(|provider| deferred.symbols(provider)))
            .filter(|symbol| !self.is_removed(symbol.kind, &symbol.name));
        let (mut operators, mut functions): (Vec<_>, Vec<_>) = self
            .operators
            .values()
            .chain(self.functions.values())
            .chain(deferred)
            .partition(|symbol| symbol.kind == SymbolKind::Operator);
        operators.sort_by(|a, b| a.name.cmp(&b.name));
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        operators.extend(functions);
        operators
    }

    /// How many symbols of deferred sources have been made so far (a provider's all at once,
    /// on the first look-up of one of them): what installed plugins cost the registry.
    pub fn deferred_symbols_made(&self) -> usize {
        self.deferred
            .iter()
            .flat_map(|deferred| deferred.made.iter())
            .filter_map(OnceCell::get)
            .map(|made| made.len())
            .sum()
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

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn names_are_parts_of_letters_digits_underscores_and_dashes_dotted_for_operators() {
        for good in ["a", "_", "log", "_x-y", "Z9", "a-", "snake_case2"] {
            assert!(SymbolKind::Function.is_valid_name(good.as_bytes()), "{good}");
            assert!(SymbolKind::Operator.is_valid_name(good.as_bytes()), "{good}");
        }
        for dotted in ["log.set_level", "_x-y.Z9", "a.b.c"] {
            assert!(SymbolKind::Operator.is_valid_name(dotted.as_bytes()), "{dotted}");
            assert!(!SymbolKind::Function.is_valid_name(dotted.as_bytes()), "{dotted}");
        }
        for bad in ["", "@log", "log.", ".log", "1x", "-x", "a b", "log..x", ".", "é", "aé", "a.é", "a\0"] {
            assert!(!SymbolKind::Operator.is_valid_name(bad.as_bytes()), "{bad}");
            assert!(!SymbolKind::Function.is_valid_name(bad.as_bytes()), "{bad}");
        }
        let mut registry = Registry::new();
        let error = registry.insert(&Key::new("p"), SymbolSpec::function("a.b", |_, _| Ok(Value::Null))).err();
        assert_eq!(error, Some(RegistryError::InvalidName("a.b".into())));
    }
}
