//! Scopes and name resolution for the compiler.
//!
//! Document-level names (top-level keys, section keys, sections) always get a module slot.
//! Keys of blocks and object literals get storage only when some expression refers to them:
//! a module slot at document level, a frame local inside a lambda. A lambda that uses a
//! local of an enclosing lambda captures it by value when the closure is made.

use std::collections::HashMap;
use std::rc::Rc;

use tusk_diagnostics::{Diagnostic, Location, Span};
use tusk_parser::ast::{Item, ItemKind};

use super::{Compiler, symbol_value};
use crate::ir::{Capture, Node};
use crate::registry::Symbol;
use crate::value::{Key, Value};

/// Where a definition or a use stands in evaluation order: the compile unit (a file is one
/// unit, each REPL entry the next one) in the high half, the byte position inside the unit's
/// source in the low half. Positions of different units cannot be compared, orders can: a
/// REPL entry comes after every name the entries before it defined.
pub(crate) type Order = u64;

/// Compiler state that outlives one compilation: the REPL compiles entry after entry into the
/// same module. Cloned before a REPL entry, so that an entry that fails leaves no trace.
#[derive(Clone, Default)]
pub(crate) struct CompileState {
    sections: Vec<SectionScope>,
    section_by_path: HashMap<Vec<Key>, usize>,
    globals: HashMap<Key, Declared>,
    pub(crate) slots: u32,
    pub(crate) globals_count: u32,
    pub(crate) current_section: usize,
    /// The compile unit being compiled (see [`Order`]).
    unit: u32,
}

#[derive(Clone)]
struct SectionScope {
    parent: Option<usize>,
    keys: HashMap<Key, Declared>,
}

/// A declared name: its storage and where it is defined.
#[derive(Clone)]
struct Declared {
    index: u32,
    /// The order of its earliest defining statement: a use after it is in order (all a use
    /// needs to know of the definitions, kept without a vector per name).
    earliest: Order,
    /// The compile unit that defined it last, and its first definition there: what a
    /// duplicate in that unit, or a use before the definition, points at. A REPL entry that
    /// redefines a name of an earlier entry is not a duplicate.
    unit: u32,
    first: Location,
}

impl Declared {
    fn new(index: u32, unit: u32, earliest: Order, first: Location) -> Declared {
        Declared { index, earliest, unit, first }
    }

    /// Records one more definition; returns where the name was first defined in the same unit.
    fn redefine(&mut self, unit: u32, order: Order, location: Location) -> Option<Location> {
        self.earliest = self.earliest.min(order);
        if self.unit == unit {
            return Some(self.first);
        }
        self.unit = unit;
        self.first = location;
        None
    }
}

impl CompileState {
    pub(crate) fn new() -> CompileState {
        let mut state = CompileState::default();
        state.sections.push(SectionScope { parent: None, keys: HashMap::new() });
        state.section_by_path.insert(Vec::new(), 0);
        state
    }

    /// Starts the next compile unit: what it defines comes after everything defined so far.
    pub(crate) fn begin_unit(&mut self) {
        self.unit += 1;
    }

    /// The order of `position` in the current unit.
    pub(crate) fn order(&self, position: u32) -> Order {
        (u64::from(self.unit) << 32) | u64::from(position)
    }

    fn new_slot(&mut self) -> u32 {
        self.slots += 1;
        self.slots - 1
    }

    /// Declares `name` in the current section; returns the first definition's location if the
    /// section already had it from the same unit.
    pub(crate) fn declare_key(&mut self, name: &str, location: Location, position: u32) -> Option<Location> {
        let section = self.current_section;
        self.declare_in(section, name, location, position).1
    }

    /// Declares `name` at the top level, as the first thing of a new unit (the REPL's
    /// `:load`); returns its slot.
    pub(crate) fn declare_top_level(&mut self, name: &str, location: Location) -> u32 {
        self.declare_in(0, name, location, 0).0
    }

    fn declare_in(&mut self, section: usize, name: &str, location: Location, position: u32) -> (u32, Option<Location>) {
        let (unit, order) = (self.unit, self.order(position));
        if let Some(existing) = self.sections[section].keys.get_mut(name) {
            return (existing.index, existing.redefine(unit, order, location));
        }
        let index = self.new_slot();
        self.sections[section].keys.insert(Key::new(name), Declared::new(index, unit, order, location));
        (index, None)
    }

    pub(crate) fn declare_global(&mut self, name: &str, location: Location, position: u32) {
        let (unit, order) = (self.unit, self.order(position));
        if let Some(existing) = self.globals.get_mut(name) {
            existing.redefine(unit, order, location);
            return;
        }
        let index = self.globals_count;
        self.globals_count += 1;
        self.globals.insert(Key::new(name), Declared::new(index, unit, order, location));
    }

    pub(crate) fn global_index(&self, name: &str) -> Option<u32> {
        self.globals.get(name).map(|declared| declared.index)
    }

    pub(crate) fn global_index_or_declare(&mut self, name: &str, location: Location, position: u32) -> u32 {
        self.declare_global(name, location, position);
        self.globals[name].index
    }

    /// The global's index, the order of its earliest definition and where that is.
    pub(crate) fn global_decl(&self, name: &str) -> Option<(u32, Order, Location)> {
        self.globals.get(name).map(|declared| (declared.index, declared.earliest, declared.first))
    }

    /// Declares the section `path` (and its prefixes) and makes it current.
    pub(crate) fn declare_section(&mut self, path: &[Key], locations: &[Location], position: u32) {
        let mut parent = 0;
        let order = self.order(position);
        for depth in 0..path.len() {
            let prefix = path[..=depth].to_vec();
            let scope = match self.section_by_path.get(&prefix) {
                Some(&scope) => {
                    if let Some(key) = self.sections[parent].keys.get_mut(&path[depth]) {
                        key.earliest = key.earliest.min(order);
                    }
                    scope
                }
                None => {
                    self.declare_in(parent, &path[depth], locations[depth], position);
                    self.sections.push(SectionScope { parent: Some(parent), keys: HashMap::new() });
                    let scope = self.sections.len() - 1;
                    self.section_by_path.insert(prefix, scope);
                    scope
                }
            };
            parent = scope;
        }
        self.current_section = parent;
    }

    /// Makes a declared section current; returns the slots the values of the section and of
    /// each enclosing section (`[a.b]` changes `a` too) are kept in, outermost first.
    pub(crate) fn enter_section(&mut self, path: &[Key]) -> Vec<Option<u32>> {
        let Some(&scope) = self.section_by_path.get(path) else { return Vec::new() };
        self.current_section = scope;
        (1..=path.len())
            .map(|length| {
                let prefix = self.section_by_path.get(&path[..length])?;
                let parent = self.sections[*prefix].parent?;
                self.sections[parent].keys.get(&path[length - 1]).map(|key| key.index)
            })
            .collect()
    }

    /// The slot of `name` in the current section.
    pub(crate) fn section_key_slot(&self, name: &str) -> Option<u32> {
        self.sections[self.current_section].keys.get(name).map(|key| key.index)
    }
}

/// Where a block key's value is kept once something refers to it.
#[derive(Clone, Copy)]
pub(crate) enum Storage {
    Local(u32),
    Slot(u32),
}

pub(crate) struct BlockKey {
    /// The byte position of its earliest definition (see [`Declared`]).
    earliest: u32,
    first: Span,
    storage: Option<Storage>,
    /// Defined by a dotted key (`d.e: 1`), which merges instead of replacing.
    dotted: bool,
}

/// The keys of a block. Every block and object literal of a file gets one, so it hashes with
/// foldhash rather than SipHash (names are not attacker-chosen keys of a long-lived table),
/// and the compiler reuses the tables of closed blocks (see `Compiler::spare_block_keys`).
pub(crate) type BlockKeys = HashMap<Key, BlockKey, foldhash::fast::FixedState>;

/// Tables of closed blocks larger than this are dropped rather than reused: clearing a table
/// costs its capacity, which small blocks reusing a big one would pay again and again.
const REUSED_BLOCK_KEYS: usize = 64;

/// A scope on the compiler's stack.
pub(crate) enum Scope {
    Lambda { params: Vec<Key>, locals: u32, captures: Vec<Capture> },
    Block { keys: BlockKeys, lambda_depth: usize },
}

/// What a name refers to.
pub(crate) enum Resolved {
    /// An entry, parameter or local.
    Entry(Node),
    /// A registered function.
    Function(Rc<Symbol>),
    /// Nothing (an error was reported if it is defined only later).
    Missing,
}

impl PartialEq for Capture {
    fn eq(&self, other: &Capture) -> bool {
        match (self, other) {
            (Capture::Local(a), Capture::Local(b)) | (Capture::Capture(a), Capture::Capture(b)) => a == b,
            _ => false,
        }
    }
}

impl Compiler<'_> {
    pub(super) fn enter_lambda(&mut self, params: Vec<Key>) {
        let locals = params.len() as u32;
        self.scopes.push(Scope::Lambda { params, locals, captures: Vec::new() });
        self.lambda_depth += 1;
    }

    pub(super) fn leave_lambda(&mut self) -> (u32, Vec<Capture>) {
        self.lambda_depth -= 1;
        match self.scopes.pop() {
            Some(Scope::Lambda { locals, captures, .. }) => (locals, captures),
            _ => unreachable!("scopes are balanced"),
        }
    }

    pub(super) fn enter_block(&mut self, items: &[Item<'_>]) {
        let mut keys = self.spare_block_keys.pop().unwrap_or_default();
        let mut duplicates = Vec::new();
        for item in items {
            if let ItemKind::Entry { key, .. } = &item.kind {
                let name = &*key[0].name;
                match keys.get_mut(name) {
                    Some(existing) => {
                        existing.earliest = existing.earliest.min(item.span.start);
                        // `d.e: 1` and `d.f: 2` merge into `d`; only whole keys are repeats.
                        if key.len() == 1 && !existing.dotted {
                            duplicates.push((Key::new(name), key[0].span, existing.first));
                        }
                        existing.dotted |= key.len() > 1;
                    }
                    None => {
                        keys.insert(
                            Key::new(name),
                            BlockKey {
                                earliest: item.span.start,
                                first: key[0].span,
                                storage: None,
                                dotted: key.len() > 1,
                            },
                        );
                    }
                }
            }
        }
        for (name, span, first) in duplicates {
            let first = self.location(first);
            self.duplicate_key(&name, "block", span, first);
        }
        self.scopes.push(Scope::Block { keys, lambda_depth: self.lambda_depth });
    }

    pub(super) fn leave_block(&mut self) -> HashMap<Key, Storage> {
        match self.scopes.pop() {
            Some(Scope::Block { mut keys, .. }) => {
                let storage =
                    keys.drain().filter_map(|(name, key)| key.storage.map(|storage| (name, storage))).collect();
                if keys.capacity() <= REUSED_BLOCK_KEYS {
                    self.spare_block_keys.push(keys);
                }
                storage
            }
            _ => unreachable!("scopes are balanced"),
        }
    }

    /// Index in `scopes` of the lambda at `level` (1 = outermost).
    fn lambda_scope_index(&self, level: usize) -> usize {
        let mut seen = 0;
        for (index, scope) in self.scopes.iter().enumerate() {
            if matches!(scope, Scope::Lambda { .. }) {
                seen += 1;
                if seen == level {
                    return index;
                }
            }
        }
        unreachable!("lambda level {level} exists")
    }

    /// A node reading local `index` of the lambda at `owner` from the current lambda,
    /// capturing it through every lambda in between.
    fn access_local(&mut self, owner: usize, index: u32) -> Node {
        let mut source = Capture::Local(index);
        for level in owner + 1..=self.lambda_depth {
            let scope_index = self.lambda_scope_index(level);
            let Scope::Lambda { captures, .. } = &mut self.scopes[scope_index] else { unreachable!() };
            let position = match captures.iter().position(|existing| *existing == source) {
                Some(position) => position,
                None => {
                    captures.push(source);
                    captures.len() - 1
                }
            };
            source = Capture::Capture(position as u32);
        }
        match source {
            Capture::Local(index) => Node::Local(index),
            Capture::Capture(index) => Node::Capture(index),
        }
    }

    fn new_local(&mut self, owner: usize) -> u32 {
        let scope_index = self.lambda_scope_index(owner);
        let Scope::Lambda { locals, .. } = &mut self.scopes[scope_index] else { unreachable!() };
        *locals += 1;
        *locals - 1
    }

    /// Resolves a name that is used as a value.
    pub(super) fn resolve(&mut self, name: &str, span: Span) -> Option<Node> {
        match self.resolve_name(name, span) {
            Resolved::Entry(node) => Some(node),
            Resolved::Function(symbol) => Some(Node::Const(symbol_value(&symbol))),
            Resolved::Missing => None,
        }
    }

    /// Resolves a name in call position.
    pub(super) fn resolve_callable(&mut self, name: &str, span: Span) -> Resolved {
        self.resolve_name(name, span)
    }

    pub(super) fn resolve_name(&mut self, name: &str, span: Span) -> Resolved {
        let location = self.location(span);
        let mut level = self.lambda_depth;
        let mut defined_later: Option<Location> = None;
        for scope_index in (0..self.scopes.len()).rev() {
            match &self.scopes[scope_index] {
                Scope::Lambda { params, .. } => {
                    if let Some(index) = params.iter().position(|param| param == name) {
                        let owner = level;
                        return Resolved::Entry(self.access_local(owner, index as u32));
                    }
                    level -= 1;
                }
                Scope::Block { keys, lambda_depth } => {
                    let Some(key) = keys.get(name) else { continue };
                    let in_order = *lambda_depth == self.lambda_depth;
                    if in_order && key.earliest >= self.position {
                        defined_later.get_or_insert(self.location(key.first));
                        continue;
                    }
                    let owner = *lambda_depth;
                    let storage = match key.storage {
                        Some(storage) => storage,
                        None => {
                            let storage = if owner == 0 {
                                let slot = self.state.slots;
                                self.state.slots += 1;
                                Storage::Slot(slot)
                            } else {
                                Storage::Local(self.new_local(owner))
                            };
                            if let Scope::Block { keys, .. } = &mut self.scopes[scope_index]
                                && let Some(key) = keys.get_mut(name)
                            {
                                key.storage = Some(storage);
                            }
                            storage
                        }
                    };
                    return Resolved::Entry(match storage {
                        Storage::Slot(slot) => Node::Slot { slot, name: Key::new(name), location },
                        Storage::Local(index) => self.access_local(owner, index),
                    });
                }
            }
        }
        let in_order = self.lambda_depth == 0;
        let position = self.state.order(self.position);
        let mut section = Some(self.state.current_section);
        while let Some(index) = section {
            let scope = &self.state.sections[index];
            if let Some(key) = scope.keys.get(name) {
                if !in_order || key.earliest < position {
                    return Resolved::Entry(Node::Slot { slot: key.index, name: Key::new(name), location });
                }
                defined_later.get_or_insert(key.first);
            }
            section = scope.parent;
        }
        if let Some(symbol) = self.registry.function(name) {
            return Resolved::Function(symbol.clone());
        }
        if let Some(first) = defined_later {
            self.error(
                Diagnostic::error(format!("`{name}` is used before it is defined"))
                    .with_code("R005")
                    .with_primary(location, "used here")
                    .with_secondary(first, "defined here, later")
                    .with_help("entries are evaluated top to bottom; move the definition up"),
            );
            return Resolved::Entry(Node::Const(Value::Null));
        }
        Resolved::Missing
    }

    /// Names visible from here, for "did you mean" suggestions.
    pub(super) fn visible_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for scope in &self.scopes {
            match scope {
                Scope::Lambda { params, .. } => names.extend(params.iter().map(|p| p.to_string())),
                Scope::Block { keys, .. } => names.extend(keys.keys().map(|k| k.to_string())),
            }
        }
        let mut section = Some(self.state.current_section);
        while let Some(index) = section {
            names.extend(self.state.sections[index].keys.keys().map(|k| k.to_string()));
            section = self.state.sections[index].parent;
        }
        names
    }
}
