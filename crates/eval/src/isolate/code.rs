//! What an isolate needs to know about compiled code: whether a lambda may run off the
//! interpreter's thread, which module entries and globals it reads, and a fingerprint of its
//! shape, by which an isolate finds the same lambda in its own compilation of the source.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use tusk_diagnostics::Span;

use crate::ir::{Capture, DocOp, LambdaProto, Node, Program};
use crate::registry::{Registry, Symbol, SymbolKind};
use crate::value::Key;

/// Calls `visit` on `node` and on every node inside it, the bodies of nested lambdas included,
/// parents before children. The compiler bounds how deeply nodes nest, so recursing is safe.
pub(super) fn walk<'n>(node: &'n Node, visit: &mut dyn FnMut(&'n Node)) {
    visit(node);
    match node {
        Node::Const(_)
        | Node::Local(_)
        | Node::Capture(_)
        | Node::Slot { .. }
        | Node::Global { .. }
        | Node::GlobalByName { .. } => {}
        Node::Not(operand, _) | Node::Neg(operand, _) => walk(operand, visit),
        Node::Binary { lhs, rhs, .. } | Node::And(lhs, rhs) | Node::Or(lhs, rhs) => {
            walk(lhs, visit);
            walk(rhs, visit);
        }
        Node::Cond(condition, then, otherwise) => {
            walk(condition, visit);
            walk(then, visit);
            walk(otherwise, visit);
        }
        Node::Call(call) => {
            walk(&call.callee, visit);
            call.args.iter().for_each(|arg| walk(arg, visit));
        }
        Node::CallNative(call) => call.args.iter().for_each(|arg| walk(arg, visit)),
        Node::CallSymbol(call) => call.args.iter().for_each(|arg| walk(arg, visit)),
        Node::Lambda { proto, .. } => walk(&proto.body, visit),
        Node::Array(items) | Node::Interpolate(items) => items.iter().for_each(|item| walk(item, visit)),
        Node::Object(entries) => entries.iter().for_each(|entry| walk(&entry.value, visit)),
        Node::Member { object, .. } => walk(object, visit),
        Node::Index { object, index, .. } => {
            walk(object, visit);
            walk(index, visit);
        }
        Node::Path { base, .. } => walk(base, visit),
        Node::SetLocal(_, value) | Node::SetSlot(_, value) | Node::SetGlobal(_, _, value) => walk(value, visit),
        Node::CompatFallback { node, .. } => walk(node, visit),
    }
}

/// A hash of a lambda's shape: parameters, frame, and every node's kind with the slots,
/// locals, captures and names it refers to (constants left out). Two compilations of the same
/// source give the same fingerprint; a lambda compiled in another context (an interactive
/// session's earlier lines) gives another, and the isolate refuses it rather than run code
/// that reads the wrong slots.
pub(super) fn fingerprint(proto: &LambdaProto) -> u64 {
    let mut hasher = DefaultHasher::new();
    proto.params.hash(&mut hasher);
    proto.locals.hash(&mut hasher);
    walk(&proto.body, &mut |node| {
        std::mem::discriminant(node).hash(&mut hasher);
        match node {
            Node::Local(index) | Node::Capture(index) | Node::SetLocal(index, _) | Node::SetSlot(index, _) => {
                index.hash(&mut hasher)
            }
            Node::Slot { slot, .. } => slot.hash(&mut hasher),
            Node::Global { index, .. } | Node::SetGlobal(index, ..) => index.hash(&mut hasher),
            Node::GlobalByName { name, .. } | Node::Member { object: _, key: name, .. } => name.hash(&mut hasher),
            Node::Binary { op, .. } => std::mem::discriminant(op).hash(&mut hasher),
            Node::CallNative(call) => call.function.name.hash(&mut hasher),
            Node::CallSymbol(call) => call.symbol.name.hash(&mut hasher),
            Node::Lambda { proto, captures } => {
                proto.params.hash(&mut hasher);
                proto.locals.hash(&mut hasher);
                for capture in captures.iter() {
                    match capture {
                        Capture::Local(index) => (0u8, *index).hash(&mut hasher),
                        Capture::Capture(index) => (1u8, *index).hash(&mut hasher),
                    }
                }
            }
            _ => {}
        }
    });
    hasher.finish()
}

/// What a lambda reads from its module besides its arguments and captures.
#[derive(Default)]
pub(super) struct Reads {
    /// Module slots (entries the lambda names), with the names.
    pub slots: Vec<(u32, Key)>,
    /// Globals the compiler resolved to an index, with the names.
    pub globals: Vec<(u32, Key)>,
    /// Globals read by name (the host's, or set by `@variable`).
    pub named_globals: Vec<Key>,
}

/// True for what a worker may call: the built-in functions without side effects. Operators
/// (`@env`, `@file`, `@cache`, timers, cross-file reads, every plugin's) and plugin functions
/// belong to the interpreter's thread: their state, handles and permissions live there.
pub(super) fn worker_may_call(symbol: &Symbol) -> bool {
    symbol.kind == SymbolKind::Function && matches!(symbol.plugin.as_str(), "core" | "std") && !symbol.side_effects
}

/// Checks that a lambda (nested lambdas included) calls nothing a worker may not, and lists
/// what it reads from its module. The error says why it must stay on the interpreter's thread.
pub(super) fn examine(proto: &LambdaProto, registry: &Registry) -> Result<Reads, String> {
    let mut reads = Reads::default();
    let mut refusal: Option<String> = None;
    walk(&proto.body, &mut |node| {
        if refusal.is_some() {
            return;
        }
        match node {
            Node::Slot { slot, name, .. } => reads.slots.push((*slot, name.clone())),
            Node::Global { index, name, .. } => reads.globals.push((*index, name.clone())),
            Node::GlobalByName { name, .. } => reads.named_globals.push(name.clone()),
            Node::CallSymbol(call) if !worker_may_call(&call.symbol) => refusal = Some(refused_call(&call.symbol)),
            Node::CallNative(call) => match registry.function(&call.function.name) {
                Some(symbol) if worker_may_call(symbol) => {}
                Some(symbol) => refusal = Some(refused_call(symbol)),
                None => {
                    refusal =
                        Some(format!("calls `{}`, which runs only on the interpreter's thread", call.function.name))
                }
            },
            Node::SetGlobal(_, name, _) => refusal = Some(format!("sets the global `${name}`")),
            Node::SetSlot(..) => refusal = Some("sets an entry of the document".to_string()),
            _ => {}
        }
    });
    match refusal {
        Some(reason) => Err(reason),
        None => Ok(reads),
    }
}

fn refused_call(symbol: &Symbol) -> String {
    match (symbol.kind, symbol.plugin.as_str()) {
        (SymbolKind::Operator, _) => {
            format!("calls `@{}`, and operators run only on the interpreter's thread", symbol.name)
        }
        (_, "core" | "std") => format!("calls `{}`, which has effects outside the script", symbol.name),
        (_, plugin) => {
            format!("calls `{}` of the plugin `{plugin}`, which runs only on the interpreter's thread", symbol.name)
        }
    }
}

/// Every lambda of a compiled program, by where it is written and its fingerprint (a lazy
/// argument's wrapper and the lambda it wraps share a span, not a shape).
pub(super) fn lambdas(program: &Program) -> HashMap<(Span, u64), Rc<LambdaProto>> {
    let mut found = HashMap::new();
    let mut visit = |node: &Node| {
        if let Node::Lambda { proto, .. } = node {
            found.entry((proto.location.span, fingerprint(proto))).or_insert_with(|| proto.clone());
        }
    };
    for op in &program.ops {
        match op {
            DocOp::Entry { value, .. } | DocOp::Global { value, .. } => walk(value, &mut visit),
            DocOp::Section { .. } => {}
        }
    }
    if let Some(expression) = &program.expression {
        walk(expression, &mut visit);
    }
    found
}
