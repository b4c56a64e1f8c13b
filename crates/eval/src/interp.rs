//! The tree-walking interpreter over the IR.
//!
//! Lambda frames live on one value stack; a call pushes the arguments, runs the body with
//! `base` pointing at them and truncates the stack afterwards. Limits are checked at each
//! lambda call (depth, operations), which is where every unbounded computation passes,
//! and `stacker` grows the native stack there so deep recursion ends in the depth limit's
//! clean error rather than a stack overflow.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use smallvec::SmallVec;
use tusk_diagnostics::{Location, closest_name};
use tusk_parser::ast::{BinaryOp, UnaryOp};

use crate::context::CallContext;
use crate::error::{RuntimeError, RuntimeErrorKind, TraceFrame};
use crate::function::{Closure, Function, NativeFn};
use crate::ir::{Capture, DocOp, Node, ObjectEntry, Program};
use crate::module::Module;
use crate::options::Limits;
use crate::output::TextBuilder;
use crate::registry::{DirectCall, Loaded};
use crate::runtime::Runtime;
use crate::value::{Bytes, Key, Object, Value};

type Args = SmallVec<[Value; 4]>;

/// Stack space kept free before a lambda call, and how much to add when it runs low.
const STACK_RED_ZONE: usize = 1024 * 1024;
const STACK_GROWTH: usize = 8 * 1024 * 1024;
/// Trace frames kept in an error (a runaway recursion would otherwise record thousands).
const MAX_TRACE_FRAMES: usize = 20;

/// Evaluation state of one run.
pub struct Interpreter<'r> {
    pub(crate) runtime: &'r mut Runtime,
    stack: Vec<Value>,
    base: usize,
    closure: Option<Rc<Function>>,
    pub(crate) module: Rc<Module>,
    depth: usize,
    pub(crate) operations: u64,
    pub(crate) limits: Limits,
    interrupt: Option<Arc<AtomicBool>>,
}

/// Operations between two looks at the interrupt flag (a power of two): frequent enough to stop
/// within microseconds, rare enough to cost nothing measurable.
const INTERRUPT_POLL_INTERVAL: u64 = 1024;

impl<'r> Interpreter<'r> {
    pub(crate) fn new(runtime: &'r mut Runtime, module: Rc<Module>) -> Interpreter<'r> {
        let limits = runtime.options.limits;
        let interrupt = runtime.options.interrupt.clone();
        Interpreter {
            runtime,
            stack: Vec::with_capacity(256),
            base: 0,
            closure: None,
            module,
            depth: 0,
            operations: 0,
            limits,
            interrupt,
        }
    }

    /// Runs a compiled document (or REPL line) in the current module.
    pub(crate) fn run_program(&mut self, program: &Program) -> Result<Option<Value>, RuntimeError> {
        self.module.ensure_slots(program.slots as usize, program.globals as usize);
        for op in &program.ops {
            match op {
                DocOp::Entry { path, value, slot, location } => {
                    let computed = !matches!(value, Node::Const(_));
                    let value = self.eval(value)?;
                    // Constants nest no deeper than the source; computed values can nest as
                    // deep as a loop makes them, and the writers of documents recurse (and
                    // indent) once per level.
                    if computed && value.nests_deeper_than(self.limits.max_nesting_depth) {
                        return Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                            what: "value nesting depth",
                            limit: self.limits.max_nesting_depth as u64,
                        })
                        .at(*location));
                    }
                    let module = self.module.clone();
                    let section = module.current_section.borrow();
                    let mut document = module.document.borrow_mut();
                    let target = section_object(&mut document, &section);
                    insert_path(target, path, value.clone());
                    if let Some(slot) = slot {
                        let stored =
                            if path.len() == 1 { value } else { target.get(&path[0]).cloned().unwrap_or_default() };
                        module.slots.borrow_mut()[*slot as usize] = Some(stored);
                    }
                }
                DocOp::Global { index, name, value } => {
                    let value = self.eval(value)?;
                    self.module.define_global(*index, name, value);
                }
                DocOp::Section { path, slots } => {
                    self.close_section();
                    let module = self.module.clone();
                    section_object(&mut module.document.borrow_mut(), path);
                    *module.current_section.borrow_mut() = path.to_vec();
                    *module.current_section_slot.borrow_mut() = slots.clone();
                }
            }
        }
        self.close_section();
        match &program.expression {
            Some(node) => self.eval(node).map(Some),
            None => Ok(None),
        }
    }

    /// Stores the current section's object, and those of its enclosing sections, in their
    /// slots, so names can refer to them.
    fn close_section(&mut self) {
        let module = self.module.clone();
        let slots = module.current_section_slot.borrow();
        let section = module.current_section.borrow();
        let mut document = module.document.borrow_mut();
        for (depth, slot) in slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let value = Value::Object(Rc::new(section_object(&mut document, &section[..=depth]).clone()));
            module.slots.borrow_mut()[*slot as usize] = Some(value);
        }
    }

    #[inline(always)]
    fn tick(&mut self) -> Result<(), RuntimeError> {
        self.operations += 1;
        if self.operations > self.limits.max_operations {
            return Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                what: "operation",
                limit: self.limits.max_operations,
            }));
        }
        if self.operations & (INTERRUPT_POLL_INTERVAL - 1) == 0
            && self.interrupt.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            return Err(RuntimeError::new(RuntimeErrorKind::Interrupted));
        }
        Ok(())
    }

    /// Counts one operation of a builtin's loop against the limit.
    pub(crate) fn count_operation(&mut self) -> Result<(), RuntimeError> {
        self.tick()
    }

    fn eval_args(&mut self, nodes: &[Node]) -> Result<Args, RuntimeError> {
        let mut args = Args::with_capacity(nodes.len());
        for node in nodes {
            args.push(self.eval(node)?);
        }
        Ok(args)
    }

    /// Evaluates a node. The hottest node kinds are handled here; the rest live in
    /// [`Interpreter::eval_other`], which keeps this function's stack frame small (it recurses
    /// once per nested expression, so its prologue runs more often than anything else).
    /// A node whose value is one of its children's (the chosen branch of `c ? a : b`, the
    /// right operand of `a || b` once `a` is falsy) goes round the loop instead of recursing.
    pub(crate) fn eval(&mut self, mut node: &Node) -> Result<Value, RuntimeError> {
        loop {
            return match node {
                Node::Const(value) => Ok(copy_value(value)),
                Node::Local(index) => Ok(copy_value(&self.stack[self.base + *index as usize])),
                Node::Capture(index) => match self.closure.as_deref() {
                    Some(Function::Closure(closure)) => Ok(closure.captures[*index as usize].clone()),
                    _ => Err(RuntimeError::new(RuntimeErrorKind::Internal("capture outside a closure".into()))),
                },
                Node::Slot { slot, name, location } => match self.module.slots.borrow().get(*slot as usize) {
                    Some(Some(value)) => Ok(value.clone()),
                    _ => {
                        Err(RuntimeError::new(RuntimeErrorKind::NotYetDefined { name: name.to_string() }).at(*location))
                    }
                },
                Node::Member { object, key, hint, .. } => {
                    // A member of a local object is read in place: no reference count taken
                    // and dropped again for the object.
                    if let Node::Local(slot) = **object
                        && let Value::Object(found) = &self.stack[self.base + slot as usize]
                        && let Some(value) = found.get_key_hinted(key, hint)
                    {
                        return Ok(copy_value(value));
                    }
                    self.eval_other(node)
                }
                Node::Not(operand, location) => {
                    let value = self.eval(operand)?;
                    unary_op(UnaryOp::Not, &value).map_err(|error| error.at(*location))
                }
                Node::Neg(operand, location) => {
                    let value = self.eval(operand)?;
                    unary_op(UnaryOp::Neg, &value).map_err(|error| error.at(*location))
                }
                Node::Binary { op, lhs, rhs, location } => {
                    // A chain of `+` (mostly text: `"k" + str(i) + …`) is looked at first: the
                    // integer look below would walk down to its first operand each time.
                    if *op == BinaryOp::Add
                        && (matches!(**lhs, Node::Binary { op: BinaryOp::Add, .. }) || str_argument(rhs).is_some())
                    {
                        return self.eval_add_chain(node);
                    }
                    // Two integer locals or constants (`n - 1`, `i % 97`) are read where they
                    // are: no values made, copied through memory and forgotten.
                    if let Some((a, b)) = self.int_operands(lhs, rhs)
                        && let Some(value) = int_fast_path(*op, a, b)
                    {
                        return Ok(value);
                    }
                    // Operands that are locals or constants (most of them) are read without a
                    // trip through `eval`.
                    let left = self.eval_arg(lhs)?;
                    let right = self.eval_arg(rhs)?;
                    if let (Value::Int(a), Value::Int(b)) = (&left, &right)
                        && let Some(value) = int_fast_path(*op, *a, *b)
                    {
                        // Two integers own nothing: skip their (out-of-line) drop glue, which
                        // cost call-heavy scripts a sixth of their instructions.
                        std::mem::forget(left);
                        std::mem::forget(right);
                        return Ok(value);
                    }
                    self.binary_slow(*op, &left, &right, *location)
                }
                Node::And(lhs, rhs) => {
                    if !self.eval_truthy(lhs)? {
                        return Ok(Value::Bool(false));
                    }
                    Ok(Value::Bool(self.eval_truthy(rhs)?))
                }
                Node::Or(lhs, rhs) => {
                    let left = self.eval(lhs)?;
                    if left.is_truthy() {
                        Ok(left)
                    } else {
                        left.discard();
                        node = rhs;
                        continue;
                    }
                }
                Node::Cond(condition, then, otherwise) => {
                    node = if self.eval_truthy(condition)? { then } else { otherwise };
                    continue;
                }
                Node::Call(call) => self.eval_call(call),
                Node::CallNative(call) => self.eval_native(call),
                Node::CallSymbol(call) => self.eval_symbol_call(call),
                _ => self.eval_other(node),
            };
        }
    }

    /// The two operands' integers when both are locals or constants holding integers.
    #[inline(always)]
    fn int_operands(&self, lhs: &Node, rhs: &Node) -> Option<(i64, i64)> {
        Some((self.peek_int(lhs)?, self.peek_int(rhs)?))
    }

    /// The value of a local, or of a member of a local object, read in place; `None` for
    /// other nodes and for a missing member.
    #[inline(always)]
    fn in_place<'a>(&'a self, node: &'a Node) -> Option<&'a Value> {
        match node {
            Node::Local(index) => Some(&self.stack[self.base + *index as usize]),
            Node::Member { .. } => self.member_in_place(node),
            _ => None,
        }
    }

    /// [`Interpreter::in_place`] of a member (out of line: it is reached from every place
    /// an operand is read, and inlined there it made those places, `eval` first, bigger).
    #[inline(never)]
    fn member_in_place<'a>(&'a self, node: &'a Node) -> Option<&'a Value> {
        let Node::Member { object, key, hint, .. } = node else { return None };
        match **object {
            Node::Local(slot) => match &self.stack[self.base + slot as usize] {
                Value::Object(found) => found.get_key_hinted(key, hint),
                _ => None,
            },
            _ => None,
        }
    }

    /// The integer a local, a member of a local object or a constant holds, read in place, or
    /// that integer arithmetic on them gives (`s + i * i`); `None` for anything else. Nothing
    /// is evaluated that could have an effect, so after a `None` the node is evaluated the
    /// general way.
    #[inline(always)]
    fn peek_int(&self, node: &Node) -> Option<i64> {
        match node {
            Node::Local(index) => match self.stack[self.base + *index as usize] {
                Value::Int(n) => Some(n),
                _ => None,
            },
            Node::Const(Value::Int(n)) => Some(*n),
            Node::Binary { .. } => self.peek_int_arithmetic(node),
            Node::Member { .. } => match self.in_place(node) {
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            },
            _ => None,
        }
    }

    /// [`Interpreter::peek_int`] of an operator node: its operands' integers combined without
    /// values made for them (an integer in registers rather than a 24-byte result in memory).
    /// Overflow, a zero divisor and the operators that do not give an integer are `None`.
    #[inline(never)]
    fn peek_int_arithmetic(&self, node: &Node) -> Option<i64> {
        let Node::Binary { op, lhs, rhs, .. } = node else { return None };
        // A chain of `+` is mostly text (`"k" + str(i) + …`), which this would find out only
        // at its first operand, each time: it is left to the chain's own evaluation.
        if !matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Rem)
            || (*op == BinaryOp::Add && matches!(**lhs, Node::Binary { op: BinaryOp::Add, .. }))
        {
            return None;
        }
        int_arithmetic(*op, self.peek_int(lhs)?, self.peek_int(rhs)?)
    }

    /// Whether `node`'s value is truthy; the value (mostly a bool) is dropped without the drop
    /// glue when it owns nothing.
    #[inline(always)]
    fn eval_truthy(&mut self, node: &Node) -> Result<bool, RuntimeError> {
        // An integer comparison (the commonest condition) gives its answer without making
        // the bool value and going back through `eval`.
        if let Node::Binary { op, lhs, rhs, location } = node
            && !matches!(op, BinaryOp::Add)
        {
            if let Some((a, b)) = self.int_operands(lhs, rhs)
                && let Some(truthy) = int_comparison(*op, a, b)
            {
                return Ok(truthy);
            }
            let left = self.eval_arg(lhs)?;
            let right = self.eval_arg(rhs)?;
            if let (Value::Int(a), Value::Int(b)) = (&left, &right)
                && let Some(truthy) = int_comparison(*op, *a, *b)
            {
                std::mem::forget(left);
                std::mem::forget(right);
                return Ok(truthy);
            }
            let value = self.binary_slow(*op, &left, &right, *location)?;
            left.discard();
            right.discard();
            let truthy = value.is_truthy();
            value.discard();
            return Ok(truthy);
        }
        let value = self.eval(node)?;
        let truthy = value.is_truthy();
        value.discard();
        Ok(truthy)
    }

    #[inline(never)]
    fn eval_call(&mut self, call: &crate::ir::Call) -> Result<Value, RuntimeError> {
        // A function defined as an entry (every recursive call) is taken from its slot here,
        // as the function alone: no trip through `eval`, no value to drop afterwards.
        let function = match &call.callee {
            Node::Slot { slot, .. } => match self.module.slots.borrow().get(*slot as usize) {
                Some(Some(Value::Func(function))) => Some(function.clone()),
                _ => None,
            },
            _ => None,
        };
        let result = match function {
            Some(function) => {
                let argc = self.push_args(&call.args)?;
                self.call_function(&function, argc, call.location)
            }
            None => {
                let callee = self.eval(&call.callee)?;
                let argc = self.push_args(&call.args)?;
                self.call_on_stack(&callee, argc, call.location)
            }
        };
        result.map_err(|error| attach_argument(error, call.location, &call.arg_spans))
    }

    /// Calls a built-in.
    #[inline(never)]
    fn eval_native(&mut self, call: &crate::ir::NativeCall) -> Result<Value, RuntimeError> {
        let function = &call.function;
        self.call_native(&*function.func, &call.args, call.location)
            .map_err(|error| attach_argument(error.in_callable(&function.name), call.location, &call.arg_spans))
    }

    /// Calls an operator or a plugin's function through its symbol. Once the symbol is loaded
    /// (a built-in operator always, a plugin's symbol after its first call patched the lazy stub
    /// in place) the call is a built-in's: one look at the symbol's cell, then the arguments
    /// in a fixed-size array, or lent to a direct call (an in-process plugin's symbol). A dry
    /// run is checked here, so the symbol's function is called without its dry-run wrapper.
    #[inline(never)]
    fn eval_symbol_call(&mut self, call: &crate::ir::SymbolCall) -> Result<Value, RuntimeError> {
        let symbol = &call.symbol;
        if symbol.side_effects && self.runtime.options.dry_run {
            return Ok(Value::Null);
        }
        // A loaded in-process plugin symbol: its thunk, read from the symbol without a borrow
        // or a reference count, is called with the arguments lent. The name is made only for
        // an error.
        if let Some(thunk) = symbol.thunk() {
            return self
                .call_lent(&call.args, call.location, |ctx, args| thunk.call(ctx, args))
                .map_err(|error| symbol_error(error, call));
        }
        let result = match symbol.loaded_call() {
            Some(Loaded::Direct(direct)) => self.call_direct(&*direct, &call.args, call.location),
            Some(Loaded::Native(function)) => self.call_native(&*function, &call.args, call.location),
            None => return self.first_symbol_call(call),
        };
        result
            .map_err(|error| attach_argument(error.in_callable(&symbol.display_name()), call.location, &call.arg_spans))
    }

    /// The first call of a lazy stub: the arguments, then the load (which reads the call's
    /// context for the plugin's configuration), then the call.
    #[cold]
    #[inline(never)]
    fn first_symbol_call(&mut self, call: &crate::ir::SymbolCall) -> Result<Value, RuntimeError> {
        let symbol = &call.symbol;
        let args = self.eval_args(&call.args)?;
        let mut ctx = CallContext::new(self, call.location);
        let loaded =
            symbol.load(&mut ctx).map_err(|error| error.in_callable(&symbol.display_name()).at(call.location))?;
        let result = match loaded {
            Loaded::Native(function) => function(&mut ctx, &args),
            Loaded::Direct(direct) => direct.call_values(&mut ctx, &args),
        };
        result
            .map_err(|error| attach_argument(error.in_callable(&symbol.display_name()), call.location, &call.arg_spans))
    }

    /// Calls a direct implementation with its arguments lent (see [`Interpreter::call_lent`]).
    #[inline(always)]
    fn call_direct(
        &mut self,
        direct: &dyn DirectCall,
        nodes: &[Node],
        location: Location,
    ) -> Result<Value, RuntimeError> {
        self.call_lent(nodes, location, |ctx, args| direct.call(ctx, args))
    }

    /// Calls `function` with its arguments lent: a constant argument as a reference to the
    /// call's own constant (no copy to make and drop), any other evaluated into this frame and
    /// lent from there, for the common arities; more arguments are evaluated into an array.
    #[inline(always)]
    fn call_lent(
        &mut self,
        nodes: &[Node],
        location: Location,
        function: impl FnOnce(&mut CallContext<'_, 'r>, &[&Value]) -> Result<Value, RuntimeError>,
    ) -> Result<Value, RuntimeError> {
        match nodes {
            [] => function(&mut CallContext::new(self, location), &[]),
            [a] => {
                let first = self.operand(a)?;
                let result = function(&mut CallContext::new(self, location), &[lent(a, &first)]);
                first.discard();
                result
            }
            [a, b] => {
                let first = self.operand(a)?;
                let second = self.operand(b)?;
                let result = function(&mut CallContext::new(self, location), &[lent(a, &first), lent(b, &second)]);
                first.discard();
                second.discard();
                result
            }
            [a, b, c] => {
                let first = self.operand(a)?;
                let second = self.operand(b)?;
                let third = self.operand(c)?;
                let args = [lent(a, &first), lent(b, &second), lent(c, &third)];
                let result = function(&mut CallContext::new(self, location), &args);
                first.discard();
                second.discard();
                third.discard();
                result
            }
            nodes => {
                let args = self.eval_args(nodes)?;
                let lent: SmallVec<[&Value; 4]> = args.iter().collect();
                function(&mut CallContext::new(self, location), &lent)
            }
        }
    }

    /// A call's operand to lend: `null` (nothing to drop) for a constant, which is lent from
    /// the node itself (see [`lent`]).
    #[inline(always)]
    fn operand(&mut self, node: &Node) -> Result<Value, RuntimeError> {
        match node {
            Node::Const(_) => Ok(Value::Null),
            node => self.eval_arg(node),
        }
    }

    /// Calls a native function with its arguments in a fixed-size array for the common arities
    /// (no vector to fill and free on every call). Arguments that are locals or constants are
    /// read without a trip through [`Interpreter::eval`], and scalar arguments are dropped
    /// without the drop glue.
    #[inline(always)]
    fn call_native(&mut self, function: &NativeFn, nodes: &[Node], location: Location) -> Result<Value, RuntimeError> {
        match nodes {
            [] => function(&mut CallContext::new(self, location), &[]),
            [a] => {
                let args = [self.eval_arg(a)?];
                let result = function(&mut CallContext::new(self, location), &args);
                let [a] = args;
                a.discard();
                result
            }
            [a, b] => {
                let first = self.eval_arg(a)?;
                let args = [first, self.eval_arg(b)?];
                let result = function(&mut CallContext::new(self, location), &args);
                let [a, b] = args;
                a.discard();
                b.discard();
                result
            }
            [a, b, c] => {
                let first = self.eval_arg(a)?;
                let second = self.eval_arg(b)?;
                let args = [first, second, self.eval_arg(c)?];
                let result = function(&mut CallContext::new(self, location), &args);
                let [a, b, c] = args;
                a.discard();
                b.discard();
                c.discard();
                result
            }
            nodes => {
                let args = self.eval_args(nodes)?;
                function(&mut CallContext::new(self, location), &args)
            }
        }
    }

    /// [`Interpreter::eval`] of a call's argument, with the two commonest kinds inline.
    #[inline(always)]
    fn eval_arg(&mut self, node: &Node) -> Result<Value, RuntimeError> {
        match node {
            Node::Local(index) => Ok(copy_value(&self.stack[self.base + *index as usize])),
            Node::Const(value) => Ok(copy_value(value)),
            // A lambda call (`fib(n - 1) + fib(n - 2)`) goes to the call without a frame of
            // `eval` in between.
            Node::Call(call) => self.eval_call(call),
            // A member of a local object (`o.name`), read in place.
            Node::Member { .. } => match self.in_place(node) {
                Some(value) => Ok(copy_value(value)),
                None => self.eval(node),
            },
            // An argument such as `n - 1`: two integer locals or constants, computed here.
            Node::Binary { op, lhs, rhs, .. } => match self.int_operands(lhs, rhs) {
                Some((a, b)) => match int_fast_path(*op, a, b) {
                    Some(value) => Ok(value),
                    None => self.eval(node),
                },
                None => self.eval(node),
            },
            node => self.eval(node),
        }
    }

    /// `$name` has no value: neither the script nor the host defined it.
    #[cold]
    fn undefined_global(&self, name: &str, location: Location) -> RuntimeError {
        let error = RuntimeError::new(RuntimeErrorKind::UndefinedName { name: format!("${name}") }).at(location);
        let known = self.module.global_names();
        if let Some(close) = closest_name(name, known.iter().map(Key::as_str)) {
            return error.with_help(format!("did you mean `${close}`?"));
        }
        let Some(host) = &self.module.host_globals else { return error };
        let supplied: Vec<String> = host.keys().map(|name| format!("`${name}`")).collect();
        let supplied = if supplied.is_empty() { "none".to_string() } else { supplied.join(", ") };
        error.with_help(format!(
            "the script does not define it and the host does not supply it (the host supplies: {supplied})"
        ))
    }

    #[inline(never)]
    fn eval_other(&mut self, node: &Node) -> Result<Value, RuntimeError> {
        match node {
            Node::Global { index, name, location } => match self.module.globals.borrow().get(*index as usize) {
                Some(Some(value)) => Ok(value.clone()),
                _ => Err(RuntimeError::new(RuntimeErrorKind::NotYetDefined { name: format!("${name}") }).at(*location)),
            },
            Node::GlobalByName { name, location } => match self.module.global(name) {
                Some(value) => Ok(value),
                None => Err(self.undefined_global(name, *location)),
            },
            Node::Lambda { proto, captures } => {
                let captured = captures
                    .iter()
                    .map(|capture| match capture {
                        Capture::Local(index) => Ok(self.stack[self.base + *index as usize].clone()),
                        Capture::Capture(index) => match self.closure.as_deref() {
                            Some(Function::Closure(closure)) => Ok(closure.captures[*index as usize].clone()),
                            _ => Err(RuntimeError::new(RuntimeErrorKind::Internal("capture outside a closure".into()))),
                        },
                    })
                    .collect::<Result<Box<[Value]>, RuntimeError>>()?;
                let closure = Closure { proto: proto.clone(), captures: captured, module: self.module.clone() };
                Ok(Value::Func(Rc::new(Function::Closure(closure))))
            }
            Node::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items.iter() {
                    values.push(self.eval(item)?);
                }
                Ok(Value::array(values))
            }
            Node::Object(entries) => self.eval_object(entries),
            Node::Member { object, key, location, .. } => {
                member_key(&self.eval(object)?, key).map_err(|error| error.at(*location))
            }
            Node::Index { object, index, location } => {
                let container = match **object {
                    // A local container (or a member of a local object, `acc.counts[i]`) is
                    // read in place after the index: a local is written once, by the entry
                    // that defines it, before anything reads it, so the index cannot change it.
                    Node::Local(_) => None,
                    Node::Member { .. } if self.in_place(object).is_some() => None,
                    _ => Some(self.eval(object)?),
                };
                let position = self.eval(index)?;
                let result = match &container {
                    Some(container) => index_value(container, &position),
                    None => match self.in_place(object) {
                        Some(container) => index_value(container, &position),
                        // Not reached (the member was there before the index, and locals do
                        // not change), but evaluating the container is always right.
                        None => self.eval(object).and_then(|container| index_value(&container, &position)),
                    },
                };
                result.map_err(|error| error.at(*location))
            }
            Node::Interpolate(parts) => {
                let mut text = String::new();
                for part in parts.iter() {
                    match &self.eval(part)? {
                        Value::Str(s) => text.push_str(s),
                        other => text.push_str(&other.to_string()),
                    }
                    if text.len() > self.limits.max_string_bytes {
                        return Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                            what: "string size",
                            limit: self.limits.max_string_bytes as u64,
                        }));
                    }
                }
                Ok(Value::from(text))
            }
            Node::Path { base, path, location } => {
                let mut value = self.eval(base)?;
                for key in path.iter() {
                    value = member_key(&value, key).map_err(|error| error.at(*location))?;
                }
                Ok(value)
            }
            Node::SetLocal(index, node) => {
                let value = self.eval(node)?;
                self.stack[self.base + *index as usize] = value.clone();
                Ok(value)
            }
            Node::SetSlot(slot, node) => {
                let value = self.eval(node)?;
                self.module.slots.borrow_mut()[*slot as usize] = Some(value.clone());
                Ok(value)
            }
            Node::SetGlobal(index, name, node) => {
                let value = self.eval(node)?;
                self.module.define_global(*index, name, value.clone());
                Ok(value)
            }
            Node::CompatFallback { node, text, location } => match self.eval(node) {
                // A limit is not the file's fault and must stay an error in every mode.
                Err(error) if !matches!(error.kind(), RuntimeErrorKind::LimitExceeded { .. }) => {
                    let mut warning = error.at(*location).to_diagnostic(self.runtime.sources());
                    warning.severity = tusk_diagnostics::Severity::Warning;
                    warning.notes.push(format!("compat mode: the value is its text, {:?}", text.as_str()));
                    self.module.warnings.borrow_mut().push(warning);
                    Ok(Value::string(text))
                }
                result => result,
            },
            _ => Err(RuntimeError::new(RuntimeErrorKind::Internal("node kind reached the wrong evaluator".into()))),
        }
    }

    #[inline(never)]
    fn binary_slow(
        &self,
        op: BinaryOp,
        left: &Value,
        right: &Value,
        location: Location,
    ) -> Result<Value, RuntimeError> {
        let value = binary_op(op, left, right).map_err(|error| error.at(location))?;
        if matches!(value, Value::Str(_) | Value::Bytes(_) | Value::Array(_)) {
            return self.check_size(value, location);
        }
        Ok(value)
    }

    /// `a + b + c + …`, the left-nested chain whose root is `node`. Once the running value is
    /// a string, every further `+` appends an operand's text, so the rest of the chain is
    /// gathered and written into one new string instead of one new string per `+`. Operands
    /// are evaluated in the same order, and a size-limit error names the `+` that crossed it.
    #[inline(never)]
    fn eval_add_chain(&mut self, node: &Node) -> Result<Value, RuntimeError> {
        // The right operands and locations of the chain's `+`s, outermost first.
        let mut spine: SmallVec<[(&Node, Location); 8]> = SmallVec::new();
        let mut first = node;
        while let Node::Binary { op: BinaryOp::Add, lhs, rhs, location } = first {
            spine.push((rhs, *location));
            first = lhs;
        }
        spine.reverse();
        // A chain that starts with a string constant (`"k" + str(i) + …`) starts its text
        // from the constant in place.
        if let Node::Const(Value::Str(start)) = first {
            let mut text = TextBuilder::with_capacity(start.len() + 8 * spine.len());
            text.push_str(start);
            self.append_chain(&mut text, &spine)?;
            return Ok(Value::Str(text.finish()));
        }
        let mut value = self.eval(first)?;
        let mut next = 0;
        while !matches!(value, Value::Str(_)) {
            let Some((rhs, location)) = spine.get(next) else { return Ok(value) };
            next += 1;
            let right = self.eval(rhs)?;
            value = if let (Value::Int(a), Value::Int(b)) = (&value, &right)
                && let Some(sum) = int_fast_path(BinaryOp::Add, *a, *b)
            {
                sum
            } else {
                self.binary_slow(BinaryOp::Add, &value, &right, *location)?
            };
        }
        if next == spine.len() {
            return Ok(value);
        }
        let mut text = TextBuilder::with_capacity(value.as_str().map_or(0, str::len) + 8 * (spine.len() - next));
        text.push(&value);
        value.discard();
        self.append_chain(&mut text, &spine[next..])?;
        Ok(Value::Str(text.finish()))
    }

    /// The rest of a `+` chain whose running value is the string in `text`: each operand's
    /// text appended in turn.
    #[inline(always)]
    fn append_chain(&mut self, text: &mut TextBuilder, spine: &[(&Node, Location)]) -> Result<(), RuntimeError> {
        for (rhs, location) in spine {
            // `text + str(x)` appends the same text as `text + x`: skip making the string.
            let operand = str_argument(rhs).unwrap_or(rhs);
            self.push_text(text, operand)?;
            if text.len() > self.limits.max_string_bytes {
                return Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                    what: "string size",
                    limit: self.limits.max_string_bytes as u64,
                })
                .at(*location));
            }
        }
        Ok(())
    }

    /// Appends the display text of `node`'s value. A local's or a constant's is read in place
    /// and an integer operation on two of them (`i % 97`) is appended as its number: no value
    /// is made, copied and dropped for them.
    #[inline(always)]
    fn push_text(&mut self, text: &mut TextBuilder, node: &Node) -> Result<(), RuntimeError> {
        match node {
            Node::Local(index) => text.push(&self.stack[self.base + *index as usize]),
            Node::Const(value) => text.push(value),
            _ => {
                if let Some(n) = self.peek_int(node) {
                    text.push_int(n);
                    return Ok(());
                }
                let operand = self.eval(node)?;
                text.push(&operand);
                operand.discard();
            }
        }
        Ok(())
    }

    fn check_size(&self, value: Value, location: Location) -> Result<Value, RuntimeError> {
        match &value {
            Value::Str(s) if s.len() > self.limits.max_string_bytes => {
                Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                    what: "string size",
                    limit: self.limits.max_string_bytes as u64,
                })
                .at(location))
            }
            Value::Bytes(bytes) if bytes.len() > self.limits.max_string_bytes => {
                Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                    what: "bytes size",
                    limit: self.limits.max_string_bytes as u64,
                })
                .at(location))
            }
            Value::Array(items) if items.len() > self.limits.max_collection_len => {
                Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                    what: "collection size",
                    limit: self.limits.max_collection_len as u64,
                })
                .at(location))
            }
            _ => Ok(value),
        }
    }

    fn eval_object(&mut self, entries: &[ObjectEntry]) -> Result<Value, RuntimeError> {
        let mut object = Object::with_capacity(entries.len());
        for entry in entries {
            let value = self.eval(&entry.value)?;
            if entry.new_key {
                object.push_new(entry.path[0].clone(), value);
            } else if !entry.path.is_empty() {
                insert_path(&mut object, &entry.path, value);
            }
        }
        Ok(Value::object(object))
    }

    /// Evaluates arguments onto the stack; on an error the stack is left as it was.
    #[inline(always)]
    fn push_args(&mut self, nodes: &[Node]) -> Result<usize, RuntimeError> {
        let start = self.stack.len();
        for node in nodes {
            match self.eval_arg(node) {
                Ok(value) => self.stack.push(value),
                Err(error) => {
                    self.stack.truncate(start);
                    return Err(error);
                }
            }
        }
        Ok(nodes.len())
    }

    /// Calls a function value with arguments.
    pub(crate) fn call_value(&mut self, callee: &Value, args: &[Value], site: Location) -> Result<Value, RuntimeError> {
        self.stack.extend_from_slice(args);
        self.call_on_stack(callee, args.len(), site)
    }

    /// Calls a function value with arguments it may consume (no copies). Inlined into the
    /// builtins' loops (`map`, `reduce`), which call it once per item.
    #[inline(always)]
    pub(crate) fn call_value_owned<const N: usize>(
        &mut self,
        callee: &Value,
        args: [Value; N],
        site: Location,
    ) -> Result<Value, RuntimeError> {
        self.stack.extend(args);
        self.call_on_stack(callee, N, site)
    }

    /// Calls `callee` with the `argc` values on top of the stack, which it consumes.
    fn call_on_stack(&mut self, callee: &Value, argc: usize, site: Location) -> Result<Value, RuntimeError> {
        let base = self.stack.len() - argc;
        let Value::Func(function) = callee else {
            self.stack.truncate(base);
            return Err(
                RuntimeError::new(RuntimeErrorKind::NotCallable { type_name: callee.type_name().to_string() }).at(site)
            );
        };
        self.call_function(function, argc, site)
    }

    /// Calls `function` with the `argc` values on top of the stack, which it consumes.
    /// Inlined into its two callers: one more call level on every lambda call costs
    /// call-heavy scripts several percent.
    #[inline(always)]
    fn call_function(&mut self, function: &Rc<Function>, argc: usize, site: Location) -> Result<Value, RuntimeError> {
        let base = self.stack.len() - argc;
        match &**function {
            Function::Closure(closure) => self.call_closure(function, closure, base, site),
            Function::Native(native) => {
                let args: Args = self.stack.drain(base..).collect();
                let func = native.func.clone();
                let mut ctx = CallContext::new(self, site);
                func(&mut ctx, &args).map_err(|error| error.in_callable(&native.name).at(site))
            }
        }
    }

    /// Runs a lambda whose arguments are on the stack from `base` up. Inlined into
    /// [`Interpreter::call_function`]: out of line, its frame and register saves cost every
    /// `reduce`/`map` step about 20 instructions.
    #[inline(always)]
    fn call_closure(
        &mut self,
        function: &Rc<Function>,
        closure: &Closure,
        base: usize,
        site: Location,
    ) -> Result<Value, RuntimeError> {
        let proto = &closure.proto;
        let argc = self.stack.len() - base;
        if argc != proto.params as usize {
            self.stack.truncate(base);
            return Err(RuntimeError::new(RuntimeErrorKind::ArgumentCount {
                name: proto.name.as_deref().unwrap_or("<lambda>").to_string(),
                expected: proto.params.to_string(),
                got: argc,
            })
            .at(site));
        }
        if self.depth >= self.limits.max_call_depth {
            self.stack.truncate(base);
            return Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                what: "call depth",
                limit: self.limits.max_call_depth as u64,
            })
            .at(site));
        }
        if let Err(error) = self.tick() {
            self.stack.truncate(base);
            return Err(error.at(site));
        }
        if proto.locals > proto.params {
            self.stack.resize(base + proto.locals as usize, Value::Null);
        }
        let saved_base = std::mem::replace(&mut self.base, base);
        // A lambda that captured nothing has no `Capture` node to read `self.closure`: the
        // running closure is left unset, which spares a reference count taken and dropped.
        let saved_closure =
            if closure.captures.is_empty() { self.closure.take() } else { self.closure.replace(function.clone()) };
        let saved_module = (!Rc::ptr_eq(&self.module, &closure.module))
            .then(|| std::mem::replace(&mut self.module, closure.module.clone()));
        self.depth += 1;
        // Growing the stack is checked every few levels: the red zone covers the frames in
        // between, and the check itself is not free on the hottest path there is.
        let result = if self.depth.is_multiple_of(8) {
            stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.eval(&proto.body))
        } else {
            self.eval(&proto.body)
        };
        self.depth -= 1;
        if let Some(module) = saved_module {
            self.module = module;
        }
        self.closure = saved_closure;
        self.base = saved_base;
        // The frame's values are mostly numbers: drop them without the drop glue where they
        // own nothing.
        while self.stack.len() > base {
            if let Some(value) = self.stack.pop() {
                value.discard();
            }
        }
        result.map_err(|error| {
            if error.trace().len() < MAX_TRACE_FRAMES {
                error.push_frame(TraceFrame {
                    name: proto.name.as_deref().unwrap_or("<lambda>").to_string(),
                    call_site: Some(site),
                })
            } else {
                error.skip_frame()
            }
        })
    }

    /// Runs another module's program (cross-file operators), then comes back.
    pub(crate) fn run_in_module(
        &mut self,
        module: Rc<Module>,
        program: &Program,
    ) -> Result<Option<Value>, RuntimeError> {
        let saved_module = std::mem::replace(&mut self.module, module);
        let saved_closure = self.closure.take();
        let saved_base = self.base;
        self.base = self.stack.len();
        let result = self.run_program(program);
        self.base = saved_base;
        self.closure = saved_closure;
        self.module = saved_module;
        result
    }
}

/// A copy of `value`: an integer's without the out-of-line `clone` (integers are most of the
/// operands and arguments read from locals and constants).
#[inline(always)]
fn copy_value(value: &Value) -> Value {
    match value {
        Value::Int(n) => Value::Int(*n),
        other => other.clone(),
    }
}

/// What a direct call borrows for the operand `node`: the constant itself, or its value as
/// [`Interpreter::operand`] evaluated it.
#[inline(always)]
fn lent<'a>(node: &'a Node, evaluated: &'a Value) -> &'a Value {
    match node {
        Node::Const(value) => value,
        _ => evaluated,
    }
}

/// `x` when `node` is the call `str(x)` of the built-in.
#[inline(always)]
fn str_argument(node: &Node) -> Option<&Node> {
    match node {
        Node::CallNative(call) if call.is_str && call.args.len() == 1 => Some(&call.args[0]),
        _ => None,
    }
}

/// The error of a symbol's call, named and located (out of line: the symbol call's frame
/// stays a built-in call's).
#[cold]
#[inline(never)]
fn symbol_error(error: RuntimeError, call: &crate::ir::SymbolCall) -> RuntimeError {
    attach_argument(error.in_callable(&call.symbol.display_name()), call.location, &call.arg_spans)
}

/// Puts the argument's label on an error that names an argument index.
fn attach_argument(error: RuntimeError, call: Location, arg_spans: &[tusk_diagnostics::Span]) -> RuntimeError {
    match error.kind() {
        RuntimeErrorKind::Argument { index, .. } if error.location().is_none() => match arg_spans.get(*index) {
            Some(span) => error.at(Location::new(call.source, *span)),
            None => error.at(call),
        },
        _ => error.at(call),
    }
}

/// The object of the section `path` in the document, created (or replaced, if the key held
/// something else) on the way.
pub(crate) fn section_object<'d>(document: &'d mut Object, path: &[Key]) -> &'d mut Object {
    let mut object = document;
    for key in path {
        if !matches!(object.get(key), Some(Value::Object(_))) {
            object.insert(key.clone(), Value::object(Object::new()));
        }
        object = match object.get_mut(key) {
            Some(Value::Object(inner)) => Rc::make_mut(inner),
            _ => unreachable!("just inserted an object"),
        };
    }
    object
}

/// Inserts `value` at a dotted key path, creating (or replacing) objects on the way.
pub(crate) fn insert_path(object: &mut Object, path: &[Key], value: Value) {
    match path {
        [] => {}
        [key] => {
            object.insert(key.clone(), value);
        }
        [first, rest @ ..] => insert_path(section_object(object, std::slice::from_ref(first)), rest, value),
    }
}

/// An integer comparison's answer; `None` for the other operators.
#[inline(always)]
fn int_comparison(op: BinaryOp, a: i64, b: i64) -> Option<bool> {
    Some(match op {
        BinaryOp::Lt => a < b,
        BinaryOp::LtEq => a <= b,
        BinaryOp::Gt => a > b,
        BinaryOp::GtEq => a >= b,
        BinaryOp::Eq => a == b,
        BinaryOp::NotEq => a != b,
        _ => return None,
    })
}

/// `+ - * %` of two integers when the result is an integer without overflow (as
/// [`int_fast_path`] computes it, without making a value); `None` for the rest.
#[inline(always)]
fn int_arithmetic(op: BinaryOp, a: i64, b: i64) -> Option<i64> {
    match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Rem if b != 0 => a.checked_rem(b),
        _ => None,
    }
}

/// Integer arithmetic and comparison without overflow; `None` sends the operation down the
/// general (and error-reporting) path.
#[inline(always)]
fn int_fast_path(op: BinaryOp, a: i64, b: i64) -> Option<Value> {
    Some(match op {
        BinaryOp::Add => Value::Int(a.checked_add(b)?),
        BinaryOp::Sub => Value::Int(a.checked_sub(b)?),
        BinaryOp::Mul => Value::Int(a.checked_mul(b)?),
        BinaryOp::Rem if b != 0 => Value::Int(a.checked_rem(b)?),
        BinaryOp::Lt => Value::Bool(a < b),
        BinaryOp::LtEq => Value::Bool(a <= b),
        BinaryOp::Gt => Value::Bool(a > b),
        BinaryOp::GtEq => Value::Bool(a >= b),
        BinaryOp::Eq => Value::Bool(a == b),
        BinaryOp::NotEq => Value::Bool(a != b),
        _ => return None,
    })
}

fn type_error(op: &'static str, left: &Value, right: &Value) -> RuntimeError {
    RuntimeError::new(RuntimeErrorKind::BinaryTypes {
        op,
        left: left.type_name().to_string(),
        right: right.type_name().to_string(),
    })
}

/// `-x`, `!x`.
pub(crate) fn unary_op(op: UnaryOp, value: &Value) -> Result<Value, RuntimeError> {
    match (op, value) {
        (UnaryOp::Not, value) => Ok(Value::Bool(!value.is_truthy())),
        (UnaryOp::Neg, Value::Int(n)) => {
            n.checked_neg().map(Value::Int).ok_or_else(|| RuntimeError::new(RuntimeErrorKind::Overflow { op: "-" }))
        }
        (UnaryOp::Neg, Value::Float(x)) => Ok(Value::Float(-x)),
        (UnaryOp::Neg, other) => {
            Err(RuntimeError::new(RuntimeErrorKind::UnaryType { op: "-", operand: other.type_name().to_string() }))
        }
    }
}

fn compare(op: BinaryOp, left: &Value, right: &Value) -> Result<Value, RuntimeError> {
    let ordering = match (left, right) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Str(a), Value::Str(b)) => a.as_str().cmp(b.as_str()),
        (Value::Bytes(a), Value::Bytes(b)) => a.as_slice().cmp(b.as_slice()),
        _ => match (left.as_f64(), right.as_f64()) {
            (Some(a), Some(b)) => match a.partial_cmp(&b) {
                Some(ordering) => ordering,
                None => return Ok(Value::Bool(false)),
            },
            _ => return Err(type_error(op.symbol(), left, right)),
        },
    };
    Ok(Value::Bool(match op {
        BinaryOp::Lt => ordering.is_lt(),
        BinaryOp::LtEq => ordering.is_le(),
        BinaryOp::Gt => ordering.is_gt(),
        _ => ordering.is_ge(),
    }))
}

fn arithmetic(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Result<Value, RuntimeError> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => {
            int(*a, *b).map(Value::Int).ok_or_else(|| RuntimeError::new(RuntimeErrorKind::Overflow { op: op.symbol() }))
        }
        _ => match (left.as_f64(), right.as_f64()) {
            (Some(a), Some(b)) => Ok(Value::Float(float(a, b))),
            _ => Err(type_error(op.symbol(), left, right)),
        },
    }
}

/// Every binary operator except `&&` and `||` (which short-circuit in the interpreter).
pub(crate) fn binary_op(op: BinaryOp, left: &Value, right: &Value) -> Result<Value, RuntimeError> {
    match op {
        BinaryOp::Add => match (left, right) {
            (Value::Str(_), _) | (_, Value::Str(_)) => {
                let mut text =
                    TextBuilder::with_capacity(left.as_str().map_or(8, str::len) + right.as_str().map_or(8, str::len));
                text.push(left);
                text.push(right);
                Ok(Value::Str(text.finish()))
            }
            (Value::Bytes(a), Value::Bytes(b)) => Ok(Value::Bytes(Bytes::from([a.as_slice(), b.as_slice()].concat()))),
            (Value::Array(a), Value::Array(b)) => {
                let mut items = Vec::with_capacity(a.len() + b.len());
                items.extend(a.iter().cloned());
                items.extend(b.iter().cloned());
                Ok(Value::array(items))
            }
            (Value::Object(a), Value::Object(b)) => {
                let mut merged = (**a).clone();
                for (key, value) in b.iter() {
                    merged.insert(key.clone(), value.clone());
                }
                Ok(Value::object(merged))
            }
            _ => arithmetic(op, left, right, i64::checked_add, |a, b| a + b),
        },
        BinaryOp::Sub => arithmetic(op, left, right, i64::checked_sub, |a, b| a - b),
        BinaryOp::Mul => arithmetic(op, left, right, i64::checked_mul, |a, b| a * b),
        BinaryOp::Div => match (left.as_f64(), right.as_f64()) {
            (Some(_), Some(0.0)) => Err(RuntimeError::new(RuntimeErrorKind::DivisionByZero)),
            (Some(a), Some(b)) => {
                if let (Value::Int(i64::MIN), Value::Int(-1)) = (left, right) {
                    return Err(RuntimeError::new(RuntimeErrorKind::Overflow { op: "/" }));
                }
                if let (Value::Int(x), Value::Int(y)) = (left, right)
                    && x.checked_rem(*y) == Some(0)
                {
                    return x
                        .checked_div(*y)
                        .map(Value::Int)
                        .ok_or_else(|| RuntimeError::new(RuntimeErrorKind::Overflow { op: "/" }));
                }
                Ok(Value::Float(a / b))
            }
            _ => Err(type_error("/", left, right)),
        },
        BinaryOp::Rem => match (left, right) {
            (Value::Int(_), Value::Int(0)) => Err(RuntimeError::new(RuntimeErrorKind::DivisionByZero)),
            // The remainder of any integer by -1 is 0 (`checked_rem` calls i64::MIN % -1 an overflow).
            (Value::Int(_), Value::Int(-1)) => Ok(Value::Int(0)),
            (Value::Float(_) | Value::Int(_), Value::Float(b)) if *b == 0.0 => {
                Err(RuntimeError::new(RuntimeErrorKind::DivisionByZero))
            }
            (Value::Float(_), Value::Int(0)) => Err(RuntimeError::new(RuntimeErrorKind::DivisionByZero)),
            _ => arithmetic(op, left, right, i64::checked_rem, |a, b| a % b),
        },
        BinaryOp::Eq => Ok(Value::Bool(left.deep_eq(right))),
        BinaryOp::NotEq => Ok(Value::Bool(!left.deep_eq(right))),
        BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => compare(op, left, right),
        BinaryOp::And => Ok(Value::Bool(left.is_truthy() && right.is_truthy())),
        BinaryOp::Or => Ok(if left.is_truthy() { left.clone() } else { right.clone() }),
    }
}

/// `value.key` with the key as the interpreter holds it.
fn member_key(value: &Value, key: &Key) -> Result<Value, RuntimeError> {
    match value {
        Value::Object(object) => match object.get_key(key) {
            Some(value) => Ok(value.clone()),
            None => member(value, key),
        },
        _ => member(value, key),
    }
}

/// `value.key`.
pub(crate) fn member(value: &Value, key: &str) -> Result<Value, RuntimeError> {
    match value {
        Value::Object(object) => object.get(key).cloned().ok_or_else(|| {
            let error =
                RuntimeError::new(RuntimeErrorKind::NoSuchKey { key: key.to_string(), type_name: "object".into() });
            match closest_name(key, object.keys().map(|k| k.as_str())) {
                Some(suggestion) => error.with_help(format!("did you mean `{suggestion}`?")),
                None => error.with_help(format!("`get(value, \"{key}\", default)` reads a key that may be missing")),
            }
        }),
        Value::Range(start, end) if key == "min" => Ok(Value::Int(*start)),
        Value::Range(start, end) if key == "max" => Ok(Value::Int(end.saturating_sub(1).max(start.saturating_sub(1)))),
        other => Err(RuntimeError::new(RuntimeErrorKind::NoSuchKey {
            key: key.to_string(),
            type_name: other.type_name().to_string(),
        })),
    }
}

/// `value[index]`: arrays, strings, byte strings (a byte: an int 0-255) and ranges by
/// integer (negative counts from the end), objects by string.
pub(crate) fn index_value(value: &Value, index: &Value) -> Result<Value, RuntimeError> {
    let position = |i: i64, len: usize| -> Result<usize, RuntimeError> {
        let resolved = if i < 0 { i.checked_add(len as i64) } else { Some(i) };
        match resolved {
            Some(r) if r >= 0 && (r as usize) < len => Ok(r as usize),
            _ => Err(RuntimeError::new(RuntimeErrorKind::IndexOutOfBounds { index: i, len })),
        }
    };
    match (value, index) {
        (Value::Array(items), Value::Int(i)) => Ok(items[position(*i, items.len())?].clone()),
        (Value::Str(s), Value::Int(i)) => {
            let count = s.chars().count();
            let at = position(*i, count)?;
            Ok(Value::string(&s.chars().nth(at).map(String::from).unwrap_or_default()))
        }
        (Value::Bytes(bytes), Value::Int(i)) => Ok(Value::Int(i64::from(bytes[position(*i, bytes.len())?]))),
        (Value::Range(start, end), Value::Int(i)) => {
            let len = end.saturating_sub(*start).max(0) as usize;
            Ok(Value::Int(start + position(*i, len)? as i64))
        }
        (Value::Object(_), Value::Str(key)) => member(value, key),
        (container, index) => Err(RuntimeError::new(RuntimeErrorKind::BinaryTypes {
            op: "[]",
            left: container.type_name().to_string(),
            right: index.type_name().to_string(),
        })),
    }
}
