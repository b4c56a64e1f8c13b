//! The evaluator's intermediate form: the AST with every name resolved to a slot, every
//! function and operator resolved to its symbol, and constants folded. The interpreter walks
//! this tree; no name is looked up in a map while a program runs.

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;

use tusk_diagnostics::{Location, Span};
use tusk_parser::ast::BinaryOp;

use crate::function::NativeFunction;
use crate::registry::Symbol;
use crate::value::{Key, Value};

/// One node of compiled code.
pub(crate) enum Node {
    /// A constant (literals, folded expressions, constant arrays and objects).
    Const(Value),
    /// A parameter or local of the running lambda.
    Local(u32),
    /// A value the running lambda captured.
    Capture(u32),
    /// An entry of the module, by slot; errors with `name` if not evaluated yet.
    Slot { slot: u32, name: Key, location: Location },
    /// A global variable by index.
    Global { index: u32, name: Key, location: Location },
    /// A global variable by name (not declared in the file; `@variable` may set it).
    GlobalByName { name: Key, location: Location },
    /// `!x`
    Not(Box<Node>, Location),
    /// `-x`
    Neg(Box<Node>, Location),
    /// Arithmetic and comparison.
    Binary { op: BinaryOp, lhs: Box<Node>, rhs: Box<Node>, location: Location },
    /// `a && b` (short-circuit, returns a bool)
    And(Box<Node>, Box<Node>),
    /// `a || b` (short-circuit, returns the first truthy operand or the last)
    Or(Box<Node>, Box<Node>),
    /// `c ? a : b`
    Cond(Box<Node>, Box<Node>, Box<Node>),
    /// A call of a value: a lambda or a function value.
    Call(Box<Call>),
    /// A call of a native function known when compiling.
    CallNative(Box<NativeCall>),
    /// An operator call, or a function whose symbol may still be a lazy plugin stub.
    CallSymbol(Box<SymbolCall>),
    /// A lambda: builds a closure over the listed captures.
    Lambda { proto: Rc<LambdaProto>, captures: Box<[Capture]> },
    /// `[a, b]` with non-constant items.
    Array(Box<[Node]>),
    /// `{ … }` with non-constant entries.
    Object(Box<[ObjectEntry]>),
    /// `a.name`; `hint` is where the key was found last time (objects read at one place in
    /// the code mostly share their layout, so the key is mostly there again).
    Member { object: Box<Node>, key: Key, location: Location, hint: Cell<u32> },
    /// `a[i]`
    Index { object: Box<Node>, index: Box<Node>, location: Location },
    /// `"a ${b} c"`
    Interpolate(Box<[Node]>),
    /// `@op.path` without parentheses: call the operator, then walk the path.
    Path { base: Box<Node>, path: Box<[Key]>, location: Location },
    /// Stores the value of `node` into a local (object entries referenced by later siblings).
    SetLocal(u32, Box<Node>),
    /// Stores the value of `node` into a module slot.
    SetSlot(u32, Box<Node>),
    /// `$name: value` inside a block: sets the global (index and name), yields the value.
    SetGlobal(u32, Key, Box<Node>),
    /// Compat mode only: an entry's value, or its raw `text` when evaluating it fails.
    CompatFallback { node: Box<Node>, text: Key, location: Location },
}

/// `callee(args)`.
pub(crate) struct Call {
    pub callee: Node,
    pub args: Box<[Node]>,
    pub location: Location,
    pub arg_spans: Box<[Span]>,
}

/// `len(x)`: the native is known at compile time.
pub(crate) struct NativeCall {
    pub function: NativeFunction,
    pub args: Box<[Node]>,
    pub location: Location,
    pub arg_spans: Box<[Span]>,
    /// The call is the built-in `str(x)`: `text + str(x)` appends `x`'s text without making
    /// the string (decided here once, not by comparing names on every `+`).
    pub is_str: bool,
}

/// `@env(…)`, or a function from a plugin that is loaded on first use.
pub(crate) struct SymbolCall {
    pub symbol: Rc<Symbol>,
    pub args: Box<[Node]>,
    pub location: Location,
    pub arg_spans: Box<[Span]>,
}

/// Where a closure's captured value comes from in the frame that creates it.
#[derive(Clone, Copy)]
pub(crate) enum Capture {
    Local(u32),
    Capture(u32),
}

/// A compiled lambda.
pub(crate) struct LambdaProto {
    /// The entry the lambda was defined under, for traces.
    pub name: Option<Key>,
    /// Number of parameters.
    pub params: u32,
    /// Frame size: parameters plus locals of object literals inside.
    pub locals: u32,
    pub body: Node,
    /// Where the lambda is written: an isolate finds the same lambda in its own compilation
    /// of the source by it.
    pub location: Location,
}

/// One entry of an object literal or block.
pub(crate) struct ObjectEntry {
    /// The key path (more than one part for `a.b.c: v`; empty for a `$global` set inside the
    /// block, which is evaluated for its effect only).
    pub path: Box<[Key]>,
    /// The value (wrapped in `SetLocal`/`SetSlot` when a later sibling refers to it).
    pub value: Node,
    /// The path is one key that no earlier entry's path starts with: the object being built
    /// does not have it yet, so it is added without looking for it.
    pub new_key: bool,
}

impl ObjectEntry {
    /// The entries of an object literal, each marked with whether it adds a new key.
    pub(crate) fn mark_new_keys(entries: &mut [ObjectEntry]) {
        let mut seen: HashSet<&Key> = HashSet::with_capacity(entries.len());
        let mut new_keys = Vec::with_capacity(entries.len());
        for entry in entries.iter() {
            new_keys.push(entry.path.len() == 1 && !seen.contains(&entry.path[0]));
            if let Some(first) = entry.path.first() {
                seen.insert(first);
            }
        }
        for (entry, new_key) in entries.iter_mut().zip(new_keys) {
            entry.new_key = new_key;
        }
    }
}

/// A compiled document: what to do, in order.
pub(crate) enum DocOp {
    /// An entry of the current section: evaluate, store in its slot, insert into the document.
    /// `location` is the value's, for errors about the value as a whole.
    Entry { path: Box<[Key]>, value: Node, slot: Option<u32>, location: Location },
    /// `$name: value` (the name too, so that `@variable("name")` finds it).
    Global { index: u32, name: Key, value: Node },
    /// `[a.b]`: later entries go into this section of the document. `slots` keep the values
    /// of `a` and `a.b` for names that refer to them.
    Section { path: Box<[Key]>, slots: Box<[Option<u32>]> },
}

/// A compiled document or REPL line.
pub(crate) struct Program {
    pub ops: Vec<DocOp>,
    /// Slots and globals the module must have.
    pub slots: u32,
    pub globals: u32,
    /// `$names` the program reads without defining them (in order of first use).
    pub globals_read: Vec<Key>,
    /// For a REPL expression line: the expression to print.
    pub expression: Option<Node>,
}
