//! One isolate: an interpreter of its own, on the thread that made it, with its own
//! compilation of the sources its function comes from and copies of what it reads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use tusk_diagnostics::{Location, SourceId, Span};
use tusk_parser::{Line, ParseOptions};

use super::ParallelError;
use super::code;
use super::portable::{PortableFunction, PortableValue};
use crate::compile::{CompileState, Compiler, parse_document};
use crate::function::{Closure, Function, NativeFunction};
use crate::interp::Interpreter;
use crate::ir::{LambdaProto, Program};
use crate::module::Module;
use crate::options::Options;
use crate::registry::{Implementation, Plugin, Registrar, Registry, RegistryError, SymbolKind, SymbolSpec};
use crate::runtime::Runtime;
use crate::value::{Key, Value};

/// Everything an isolate is built from: plain data, shared read-only by every worker.
pub(super) struct Blueprint {
    pub options: Options,
    pub modules: Vec<ModuleCopy>,
    pub function: PortableFunction,
    /// Where the function is called from (the operator that asked for isolates), for traces.
    pub site: Location,
    /// The symbols of the interpreter's runtime beyond the built-in ones, so that sources
    /// compile the same here (a lambda passed to a plugin's operator is compiled as part of
    /// that call, and an unknown operator's arguments are not compiled at all).
    pub symbols: Vec<SymbolShape>,
}

/// What the compiler sees of a symbol.
pub(super) struct SymbolShape {
    pub plugin: Key,
    pub name: Key,
    pub kind: SymbolKind,
    pub lazy_arguments: u64,
    pub side_effects: bool,
}

/// A plugin of stand-ins: symbols a worker knows by name and never calls (the code that
/// calls them stays on the interpreter's thread).
struct StandIns<'a> {
    plugin: &'a Key,
    symbols: Vec<&'a SymbolShape>,
}

impl Plugin for StandIns<'_> {
    fn name(&self) -> &str {
        self.plugin
    }

    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        for shape in &self.symbols {
            let name = shape.name.clone();
            let refuse = move |_: &mut crate::CallContext<'_, '_>, _: &[Value]| {
                Err(crate::RuntimeError::message(format!("`{name}` cannot run on an isolate")))
            };
            let mut spec = SymbolSpec::new(&shape.name, shape.kind, Implementation::Native(Rc::new(refuse)));
            for index in (0..64).filter(|index| shape.lazy_arguments & (1 << index) != 0) {
                spec = spec.lazy_argument(index);
            }
            if shape.side_effects {
                spec = spec.side_effects();
            }
            registrar.add(spec)?;
        }
        Ok(())
    }
}

/// A module as an isolate needs it: the source texts its lambdas are written in (shared, not
/// copied) and copies of the entries and globals the function reads.
pub(super) struct ModuleCopy {
    pub source: SourceId,
    pub directory: Option<PathBuf>,
    pub sources: Vec<SourceCopy>,
    pub slots: Vec<(u32, PortableValue)>,
    pub globals: Vec<(u32, PortableValue)>,
    pub named_globals: Vec<(Key, PortableValue)>,
}

/// A source text to compile again.
pub(super) struct SourceCopy {
    pub id: SourceId,
    pub text: Arc<str>,
    /// A line of a session (`tusk -e`, the REPL, an embedder's expression), parsed as the
    /// session parses lines; otherwise a file.
    pub line: bool,
}

struct IsolateModule {
    module: Rc<Module>,
    lambdas: HashMap<(SourceId, Span, u64), Rc<LambdaProto>>,
}

/// An interpreter on this thread, ready to call the blueprint's function.
pub(super) struct Isolate {
    runtime: Runtime,
    modules: Vec<IsolateModule>,
    function: Value,
    module: Rc<Module>,
    site: Location,
    /// Operations counted so far, across runs: the limit is per isolate.
    operations: u64,
}

impl Isolate {
    /// Compiles the sources again and rebuilds the function. Fails (with the reason) when
    /// this compilation does not hold the same lambda: the function then stays on the
    /// interpreter's thread.
    pub(super) fn new(blueprint: &Blueprint) -> Result<Isolate, String> {
        let mut runtime = Runtime::new(blueprint.options.clone());
        let mut plugins: Vec<&Key> = blueprint.symbols.iter().map(|shape| &shape.plugin).collect();
        plugins.sort();
        plugins.dedup();
        for plugin in plugins {
            let symbols = blueprint.symbols.iter().filter(|shape| &shape.plugin == plugin).collect();
            runtime
                .register(&StandIns { plugin, symbols })
                .map_err(|error| format!("cannot be compiled here: {error}"))?;
        }
        let mut modules = Vec::with_capacity(blueprint.modules.len());
        for copy in &blueprint.modules {
            let module = Rc::new(Module::new(copy.source, copy.directory.clone(), None));
            let mut lambdas = HashMap::new();
            for source in &copy.sources {
                let program = compile(&runtime, source);
                module.ensure_slots(program.slots as usize, program.globals as usize);
                for ((span, fingerprint), proto) in code::lambdas(&program) {
                    lambdas.insert((source.id, span, fingerprint), proto);
                }
            }
            // The fingerprints matched: the slots the lambdas read are the ones copied.
            let slots = copy.slots.iter().map(|(slot, _)| *slot as usize + 1).max().unwrap_or(0);
            let globals = copy.globals.iter().map(|(index, _)| *index as usize + 1).max().unwrap_or(0);
            module.ensure_slots(slots, globals);
            modules.push(IsolateModule { module, lambdas });
        }
        let mut isolate = Isolate {
            runtime,
            modules,
            function: Value::Null,
            module: Rc::new(Module::default()),
            site: blueprint.site,
            operations: 0,
        };
        // Values go in once every module exists: an entry may hold a function of another one.
        for (index, copy) in blueprint.modules.iter().enumerate() {
            let module = isolate.modules[index].module.clone();
            for (slot, value) in &copy.slots {
                let value = isolate.rebuild(value)?;
                module.slots.borrow_mut()[*slot as usize] = Some(value);
            }
            for (index, value) in &copy.globals {
                let value = isolate.rebuild(value)?;
                module.globals.borrow_mut()[*index as usize] = Some(value);
            }
            for (name, value) in &copy.named_globals {
                let value = isolate.rebuild(value)?;
                module.set_global(name, value);
            }
        }
        isolate.function = isolate.rebuild_function(&blueprint.function)?;
        if let PortableFunction::Closure { module, .. } = &blueprint.function {
            isolate.module = isolate.modules[*module].module.clone();
        }
        Ok(isolate)
    }

    /// Rebuilds a value of the interpreter's thread here.
    fn rebuild(&self, value: &PortableValue) -> Result<Value, String> {
        rebuild(&self.modules, self.runtime.registry(), value)
    }

    fn rebuild_function(&self, function: &PortableFunction) -> Result<Value, String> {
        rebuild_function(&self.modules, self.runtime.registry(), function)
    }

    /// Calls the function once per item that `next` hands out, until it hands out none;
    /// `done` gets each result (`false` from it stops the loop).
    pub(super) fn run<'i>(
        &mut self,
        mut next: impl FnMut() -> Option<Item<'i>>,
        mut done: impl FnMut(Result<Value, ParallelError>) -> bool,
    ) {
        let Isolate { runtime, modules, function, module, site, operations } = self;
        let mut interpreter = Interpreter::new(runtime, module.clone());
        interpreter.operations = *operations;
        while let Some(item) = next() {
            let item = match item {
                Item::Int(n) => Value::Int(n),
                Item::Copied(value) => match rebuild(modules, interpreter.runtime.registry(), value) {
                    Ok(value) => value,
                    Err(reason) => {
                        done(Err(ParallelError::Unsupported(format!("an item {reason}"))));
                        break;
                    }
                },
            };
            let result = interpreter.call_value_owned(function, [item], *site).map_err(ParallelError::Failed);
            if !done(result) {
                break;
            }
        }
        *operations = interpreter.operations;
    }
}

/// An item for the function: an integer of a range, or a copy of an array's item.
pub(super) enum Item<'a> {
    Int(i64),
    Copied(&'a PortableValue),
}

fn rebuild(modules: &[IsolateModule], registry: &Registry, value: &PortableValue) -> Result<Value, String> {
    value.to_value(&mut |function| rebuild_function(modules, registry, function))
}

fn rebuild_function(
    modules: &[IsolateModule],
    registry: &Registry,
    function: &PortableFunction,
) -> Result<Value, String> {
    let function = match function {
        PortableFunction::Builtin(name) => {
            let func = registry.function(name).and_then(|symbol| symbol.loaded());
            let Some(func) = func else { return Err(format!("uses `{name}`, which isolates do not have")) };
            Function::Native(NativeFunction { name: name.clone(), func })
        }
        PortableFunction::Closure { module, location, fingerprint, captures } => {
            let module = modules.get(*module).ok_or_else(not_the_same_code)?;
            let key = (location.source, location.span, *fingerprint);
            let proto = module.lambdas.get(&key).ok_or_else(not_the_same_code)?;
            let captures = captures.iter().map(|value| rebuild(modules, registry, value)).collect::<Result<_, _>>()?;
            Function::Closure(Closure { proto: proto.clone(), captures, module: module.module.clone() })
        }
    };
    Ok(Value::Func(Rc::new(function)))
}

/// A lambda holds its module and the module holds the lambda's entry: the cycle a runtime
/// breaks for the modules it made, and an isolate for its own.
impl Drop for Isolate {
    fn drop(&mut self) {
        self.function = Value::Null;
        for module in &self.modules {
            module.module.release();
        }
    }
}

fn not_the_same_code() -> String {
    "was compiled in a context an isolate cannot rebuild (an interactive session's earlier lines)".to_string()
}

/// Parses and compiles a source the way the runtime does. Errors are not reported: the
/// function was compiled without errors on the interpreter's thread, and what fails here
/// (operators of plugins this runtime lacks) is code the function does not call.
fn compile(runtime: &Runtime, source: &SourceCopy) -> Program {
    let options = ParseOptions { max_depth: runtime.options.limits.max_nesting_depth };
    let mut state = CompileState::new();
    let compiler = |state| Compiler::new(runtime.registry(), source.id, &source.text, runtime.options.mode, state);
    if source.line {
        let parsed = tusk_parser::parse_line(&source.text, options);
        return match parsed.ast {
            Some(Line::Statements(document)) => compiler(&mut state).compile_document(document.into()).0,
            Some(Line::Expression(expression)) => compiler(&mut state).compile_expression(&expression).0,
            None => Program { ops: Vec::new(), slots: 0, globals: 0, globals_read: Vec::new(), expression: None },
        };
    }
    let parsed = parse_document(&source.text, options);
    match parsed.ast {
        Some(document) => {
            compiler(&mut state).recovered_from_errors(!parsed.errors.is_empty()).compile_document(document).0
        }
        None => Program { ops: Vec::new(), slots: 0, globals: 0, globals_read: Vec::new(), expression: None },
    }
}
