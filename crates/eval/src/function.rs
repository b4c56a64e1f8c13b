//! Callable values: script lambdas (closures over captured values and their module) and
//! native functions registered by plugins.

use std::fmt;
use std::rc::Rc;

use crate::context::CallContext;
use crate::error::RuntimeError;
use crate::ir::LambdaProto;
use crate::module::Module;
use crate::value::{Key, Value};

/// The signature of every native function and operator.
pub type NativeFn = dyn Fn(&mut CallContext<'_, '_>, &[Value]) -> Result<Value, RuntimeError>;

/// A function value.
pub enum Function {
    /// A lambda written in TuskLang.
    Closure(Closure),
    /// A function implemented in Rust (or in a plugin).
    Native(NativeFunction),
}

/// A lambda with what it captured.
pub struct Closure {
    pub(crate) proto: Rc<LambdaProto>,
    pub(crate) captures: Box<[Value]>,
    pub(crate) module: Rc<Module>,
}

/// A native function value: a name for messages and the implementation.
#[derive(Clone)]
pub struct NativeFunction {
    /// The name it was registered under.
    pub name: Key,
    /// The implementation.
    pub func: Rc<NativeFn>,
}

impl Function {
    /// The name for traces and messages (`<lambda>` when it has none).
    pub fn name(&self) -> &str {
        match self {
            Function::Closure(closure) => closure.proto.name.as_deref().unwrap_or("<lambda>"),
            Function::Native(native) => &native.name,
        }
    }

    /// The values a lambda captured from enclosing lambdas (empty for natives). `@cache` keys
    /// its entries by them, so `x => @cache("1h", f(x))` caches per `x`.
    pub fn captured(&self) -> &[Value] {
        match self {
            Function::Closure(closure) => &closure.captures,
            Function::Native(_) => &[],
        }
    }

    /// The number of parameters of a lambda (`None` for natives, which check their own).
    pub fn arity(&self) -> Option<usize> {
        match self {
            Function::Closure(closure) => Some(closure.proto.params as usize),
            Function::Native(_) => None,
        }
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<function {}>", self.name())
    }
}
