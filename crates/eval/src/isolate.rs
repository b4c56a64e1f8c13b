//! Interpreter isolates: a script function called on other threads.
//!
//! Values and compiled code live behind `Rc` on the interpreter's thread, and the compiled
//! code holds registry symbols whose implementation a lazy plugin stub patches in place. Making
//! all of that `Arc` and `Sync` would put atomic reference counts on every value copy of the
//! interpreter's hot path, so an isolate shares the *source* instead: each worker thread has
//! its own runtime (the built-in plugins only), compiles the function's source text (an
//! `Arc<str>`, not copied) once, and finds the function in its compilation by where it is
//! written and by a fingerprint of its code's shape. What the function captured, and the
//! document entries and globals it reads, cross as deep copies ([`PortableValue`]); so do the
//! items and the results.
//!
//! What may cross: plain data (null, booleans, numbers, strings, arrays, objects, ranges),
//! script lambdas whose captures and entries are such data or such lambdas, and built-in
//! functions. What may not: values of plugins or of the embedder (`Foreign`), and functions
//! that call an operator (`@env`, `@file`, `@cache`, timers, cross-file reads, every plugin's),
//! a plugin's function or a built-in with effects (`print`), or that set a global: their state,
//! handles and permissions belong to the interpreter's thread. [`map_parallel`] says why in
//! [`ParallelError::Unsupported`] (before any item runs, except for a result that is a
//! function, which cannot come back), and the caller runs the function itself: the workers'
//! calls had no effect anyone can see. Each worker counts operations against the limits on its
//! own.

mod code;
mod portable;
mod worker;

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use tusk_diagnostics::Location;

pub use self::portable::{PortableFunction, PortableValue};
use self::portable::{Refusal, copy, copy_data};
use self::worker::{Blueprint, Isolate, Item, ModuleCopy, SourceCopy, SymbolShape};
use crate::context::CallContext;
use crate::error::{RuntimeError, RuntimeErrorKind};
use crate::function::Function;
use crate::module::Module;
use crate::runtime::Runtime;
use crate::value::{Key, Value};

/// The most worker threads one call may use.
pub const MAX_WORKERS: usize = 64;
/// Items a worker takes at a time: large enough that handing out work costs nothing next to
/// the calls, small enough that the workers finish together.
const MAX_CHUNK: usize = 1024;
/// Stack of a worker thread (the interpreter grows it further for deep recursion).
const WORKER_STACK: usize = 8 << 20;

/// Why [`map_parallel`] did not produce results.
#[derive(Debug)]
pub enum ParallelError {
    /// The function or the items cannot leave the interpreter's thread; the text says why
    /// ("`f` captures a `postgres.connection` value, which belongs to the interpreter's
    /// thread"). Nothing the function did is visible (it could not have effects): call it on
    /// this thread instead.
    Unsupported(String),
    /// The function failed for an item: the error of the first item that failed, in item
    /// order, as the same call on this thread would have reported it.
    Failed(RuntimeError),
}

/// The items [`map_parallel`] calls the function with.
#[derive(Clone, Copy)]
pub enum ParallelItems<'a> {
    /// An array's items.
    Values(&'a [Value]),
    /// The integers `start..end`.
    Range(i64, i64),
}

impl ParallelItems<'_> {
    fn len(&self) -> usize {
        match self {
            ParallelItems::Values(values) => values.len(),
            ParallelItems::Range(start, end) => usize::try_from(end.saturating_sub(*start)).unwrap_or(0),
        }
    }
}

/// Calls `function` with each item on up to `workers` isolates and returns the results in
/// item order, equal to calling it item after item on this thread. `ctx` is the call of the
/// operator that asks (its call site appears in traces).
pub fn map_parallel(
    ctx: &mut CallContext<'_, '_>,
    function: &Value,
    items: ParallelItems<'_>,
    workers: usize,
) -> Result<Vec<Value>, ParallelError> {
    let count = items.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    // The results are a collection of `count` values: refuse what could never be built.
    ctx.check_collection_len(count).map_err(|error| ParallelError::Failed(error.at(ctx.call_site())))?;
    let workers = workers.clamp(1, MAX_WORKERS).min(count);
    let site = ctx.call_site();
    let runtime: &Runtime = ctx.runtime();
    // Copies recurse once per level of nesting (bounded): make sure the stack has room.
    let (blueprint, items) = stacker::maybe_grow(1 << 20, 4 << 20, || export(runtime, function, items, site))
        .map_err(ParallelError::Unsupported)?;
    run_workers(&blueprint, &items, count, workers)
}

/// The items as the workers see them.
enum CopiedItems {
    Range(i64),
    Values(Vec<PortableValue>),
}

impl CopiedItems {
    fn get(&self, position: usize) -> Item<'_> {
        match self {
            CopiedItems::Range(start) => Item::Int(start + position as i64),
            CopiedItems::Values(values) => Item::Copied(&values[position]),
        }
    }
}

fn export(
    runtime: &Runtime,
    function: &Value,
    items: ParallelItems<'_>,
    site: Location,
) -> Result<(Blueprint, CopiedItems), String> {
    let Value::Func(function) = function else {
        return Err(format!("a {} is not a function", function.type_name()));
    };
    let mut exporter = Exporter::new(runtime);
    let mut budget = runtime.options.limits.max_collection_len;
    let function =
        exporter.function(function, 0, &mut budget).map_err(|refusal| refusal.say(|noun| noun.to_string()))?;
    let items = match items {
        ParallelItems::Range(start, _) => CopiedItems::Range(start),
        ParallelItems::Values(values) => CopiedItems::Values(
            values
                .iter()
                .map(|value| exporter.value(value, 0, &mut budget))
                .collect::<Result<_, Refusal>>()
                .map_err(|refusal| refusal.say(|noun| format!("the data holds {noun}")))?,
        ),
    };
    let symbols = runtime
        .registry()
        .symbols()
        .into_iter()
        .filter(|symbol| !matches!(symbol.plugin.as_str(), "core" | "std"))
        .map(|symbol| SymbolShape {
            plugin: symbol.plugin.clone(),
            name: symbol.name.clone(),
            kind: symbol.kind,
            lazy_arguments: symbol.lazy_arguments,
            side_effects: symbol.side_effects,
        })
        .collect();
    let blueprint = Blueprint { options: runtime.options.clone(), modules: exporter.modules, function, site, symbols };
    Ok((blueprint, items))
}

/// Copies functions and values for isolates, with the modules their lambdas come from.
struct Exporter<'r> {
    runtime: &'r Runtime,
    modules: Vec<ModuleCopy>,
    /// The module each copy is of (same index).
    originals: Vec<Rc<Module>>,
    /// Lambdas already examined, with their fingerprints.
    examined: std::collections::HashMap<*const crate::ir::LambdaProto, u64>,
    /// Entries and globals already copied (or being copied: a recursive function reads
    /// the entry that holds it).
    copied: HashSet<(usize, Read)>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Read {
    Slot(u32),
    Global(u32),
    Named(Key),
}

impl<'r> Exporter<'r> {
    fn new(runtime: &'r Runtime) -> Exporter<'r> {
        Exporter {
            runtime,
            modules: Vec::new(),
            originals: Vec::new(),
            examined: std::collections::HashMap::new(),
            copied: HashSet::new(),
        }
    }

    fn value(&mut self, value: &Value, depth: usize, budget: &mut usize) -> Result<PortableValue, Refusal> {
        copy(value, depth, budget, &mut |function, depth, budget| self.function(function, depth, budget))
    }

    fn function(
        &mut self,
        function: &Rc<Function>,
        depth: usize,
        budget: &mut usize,
    ) -> Result<PortableFunction, Refusal> {
        let who = match function.name() {
            "<lambda>" => "a lambda".to_string(),
            name => format!("`{name}`"),
        };
        match &**function {
            Function::Native(native) => {
                let builtin = self
                    .runtime
                    .registry()
                    .function(&native.name)
                    .filter(|symbol| code::worker_may_call(symbol))
                    .and_then(|symbol| symbol.loaded())
                    .is_some_and(|func| Rc::ptr_eq(&func, &native.func));
                if builtin {
                    Ok(PortableFunction::Builtin(native.name.clone()))
                } else {
                    Err(Refusal::Said(format!(
                        "{who} is a function of a plugin or of the host, which runs only on the interpreter's thread"
                    )))
                }
            }
            Function::Closure(closure) => {
                let module = self.module_of(closure).map_err(|reason| Refusal::Said(format!("{who} {reason}")))?;
                let fingerprint = match self.examined.get(&Rc::as_ptr(&closure.proto)) {
                    Some(fingerprint) => *fingerprint,
                    None => {
                        let fingerprint = code::fingerprint(&closure.proto);
                        self.examined.insert(Rc::as_ptr(&closure.proto), fingerprint);
                        let reads = code::examine(&closure.proto, self.runtime.registry())
                            .map_err(|reason| Refusal::Said(format!("{who} {reason}")))?;
                        self.copy_reads(module, reads, &who, depth, budget)?;
                        fingerprint
                    }
                };
                let captures = closure
                    .captures
                    .iter()
                    .map(|value| self.value(value, depth + 1, budget))
                    .collect::<Result<_, Refusal>>()
                    .map_err(|refusal| Refusal::Said(refusal.say(|noun| format!("{who} captures {noun}"))))?;
                Ok(PortableFunction::Closure { module, location: closure.proto.location, fingerprint, captures })
            }
        }
    }

    /// The index of the closure's module among the copies, with the closure's source added.
    fn module_of(&mut self, closure: &crate::function::Closure) -> Result<usize, String> {
        let index = match self.originals.iter().position(|module| Rc::ptr_eq(module, &closure.module)) {
            Some(index) => index,
            None => {
                self.originals.push(closure.module.clone());
                self.modules.push(ModuleCopy {
                    source: closure.module.source,
                    directory: closure.module.directory.clone(),
                    sources: Vec::new(),
                    slots: Vec::new(),
                    globals: Vec::new(),
                    named_globals: Vec::new(),
                });
                self.modules.len() - 1
            }
        };
        let source = closure.proto.location.source;
        let copy = &mut self.modules[index];
        if !copy.sources.iter().any(|known| known.id == source) {
            let Some(file) = self.runtime.sources().try_get(source) else {
                return Err("comes from another engine".to_string());
            };
            copy.sources.push(SourceCopy {
                id: source,
                text: file.text.clone(),
                line: source != closure.module.source,
            });
        }
        Ok(index)
    }

    /// Copies the entries and globals a lambda of `module` reads.
    fn copy_reads(
        &mut self,
        module: usize,
        reads: code::Reads,
        who: &str,
        depth: usize,
        budget: &mut usize,
    ) -> Result<(), Refusal> {
        let original = self.originals[module].clone();
        let mut wanted: Vec<(Read, Key, Option<Value>)> = Vec::new();
        for (slot, name) in reads.slots {
            let value = original.slots.borrow().get(slot as usize).cloned().flatten();
            wanted.push((Read::Slot(slot), name, value));
        }
        for (index, name) in reads.globals {
            let value = original.globals.borrow().get(index as usize).cloned().flatten();
            wanted.push((Read::Global(index), Key::new(format!("${name}")), value));
        }
        for name in reads.named_globals {
            let value = original.global(&name);
            wanted.push((Read::Named(name.clone()), Key::new(format!("${name}")), value));
        }
        for (read, name, value) in wanted {
            let Some(value) = value else { continue };
            // Marked before copying: a recursive function reads the entry that holds it.
            if !self.copied.insert((module, read.clone())) {
                continue;
            }
            let copied = self.value(&value, depth + 1, budget).map_err(|refusal| {
                Refusal::Said(refusal.say(|noun| format!("{who} reads `{name}`, which holds {noun}")))
            })?;
            let copy = &mut self.modules[module];
            match read {
                Read::Slot(slot) => copy.slots.push((slot, copied)),
                Read::Global(index) => copy.globals.push((index, copied)),
                Read::Named(name) => copy.named_globals.push((name, copied)),
            }
        }
        Ok(())
    }
}

/// A chunk's outcome, sent from a worker: its index and its results (or why it stopped).
type ChunkOutcome = (usize, Result<Vec<PortableValue>, ParallelError>);

fn run_workers(
    blueprint: &Blueprint,
    items: &CopiedItems,
    count: usize,
    workers: usize,
) -> Result<Vec<Value>, ParallelError> {
    let chunk = (count / (workers * 16)).clamp(1, MAX_CHUNK);
    let chunks = count.div_ceil(chunk);
    let next_chunk = AtomicUsize::new(0);
    // The lowest chunk that failed: later chunks are not worth running.
    let first_failed = AtomicUsize::new(usize::MAX);
    let shared =
        Shared { blueprint, items, count, chunk, chunks, next_chunk: &next_chunk, first_failed: &first_failed };
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<ChunkOutcome>();
        let mut started = 0;
        let mut refused = None;
        for number in 0..workers {
            let sender = sender.clone();
            let shared = &shared;
            let spawned = std::thread::Builder::new()
                .name(format!("tusk-isolate-{number}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, move || {
                    let outcome = catch_unwind(AssertUnwindSafe(|| shared.work(&sender)));
                    if let Err(panic) = outcome {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|text| text.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        shared.first_failed.fetch_min(0, Ordering::SeqCst);
                        let error =
                            RuntimeError::new(RuntimeErrorKind::Internal(format!("an isolate panicked: {message}")));
                        let _ = sender.send((0, Err(ParallelError::Failed(error))));
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
        }
        drop(sender);
        if started == 0 {
            let error = refused.map(|error| error.to_string()).unwrap_or_default();
            return Err(ParallelError::Unsupported(format!("no worker thread could be started: {error}")));
        }
        let result = collect(&receiver, count, chunks);
        // Workers still running see the failure (or run out of chunks) and stop.
        first_failed.fetch_min(0, Ordering::SeqCst);
        result
    })
}

/// Puts the chunks back in order as they arrive, turning them into values on this thread
/// while the workers go on. Ends at the first failure in item order.
fn collect(receiver: &mpsc::Receiver<ChunkOutcome>, count: usize, chunks: usize) -> Result<Vec<Value>, ParallelError> {
    let mut pending: Vec<Option<Vec<PortableValue>>> = (0..chunks).map(|_| None).collect();
    let mut results = Vec::with_capacity(count);
    let mut ready = 0;
    let mut failure: Option<(usize, ParallelError)> = None;
    let before_failure = |failure: &Option<(usize, ParallelError)>, index: usize| {
        failure.as_ref().is_none_or(|(failed, _)| index < *failed)
    };
    for (index, outcome) in receiver.iter() {
        match outcome {
            Ok(values) => pending[index] = Some(values),
            Err(error) => {
                if before_failure(&failure, index) {
                    failure = Some((index, error));
                }
            }
        }
        while ready < chunks && before_failure(&failure, ready) {
            let Some(values) = pending[ready].take() else { break };
            results.extend(values.iter().map(PortableValue::to_data));
            ready += 1;
        }
        if ready == chunks || !before_failure(&failure, ready) {
            break;
        }
    }
    match failure {
        Some((failed, error)) if ready >= failed => Err(error),
        _ if ready == chunks => Ok(results),
        _ => Err(ParallelError::Failed(RuntimeError::new(RuntimeErrorKind::Internal(
            "the isolates stopped before every item was done".to_string(),
        )))),
    }
}

/// What every worker shares.
struct Shared<'a> {
    blueprint: &'a Blueprint,
    items: &'a CopiedItems,
    count: usize,
    chunk: usize,
    chunks: usize,
    next_chunk: &'a AtomicUsize,
    first_failed: &'a AtomicUsize,
}

impl Shared<'_> {
    /// One worker: builds its isolate, then takes chunks until none is left.
    fn work(&self, sender: &mpsc::Sender<ChunkOutcome>) {
        let mut isolate = match Isolate::new(self.blueprint) {
            Ok(isolate) => isolate,
            Err(reason) => {
                self.first_failed.fetch_min(0, Ordering::SeqCst);
                let _ = sender.send((0, Err(ParallelError::Unsupported(format!("the function {reason}")))));
                return;
            }
        };
        let mut budget = self.blueprint.options.limits.max_collection_len;
        loop {
            let index = self.next_chunk.fetch_add(1, Ordering::SeqCst);
            if index >= self.chunks || index > self.first_failed.load(Ordering::SeqCst) {
                return;
            }
            let (start, end) = (index * self.chunk, ((index + 1) * self.chunk).min(self.count));
            let mut results = Vec::with_capacity(end - start);
            let mut failure = None;
            let mut position = start;
            isolate.run(
                || {
                    // A chunk after one that failed is cut short: its results are not used.
                    if position == end || index > self.first_failed.load(Ordering::Relaxed) {
                        return None;
                    }
                    position += 1;
                    Some(self.items.get(position - 1))
                },
                |result| {
                    let copied = result.and_then(|value| {
                        copy_data(&value, &mut budget).map_err(|refusal| {
                            ParallelError::Unsupported(refusal.say(|noun| format!("the function returned {noun}")))
                        })
                    });
                    match copied {
                        Ok(value) => {
                            results.push(value);
                            true
                        }
                        Err(error) => {
                            failure = Some(error);
                            false
                        }
                    }
                },
            );
            let outcome = match failure {
                Some(error) => {
                    self.first_failed.fetch_min(index, Ordering::SeqCst);
                    Err(error)
                }
                None => Ok(results),
            };
            if sender.send((index, outcome)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
