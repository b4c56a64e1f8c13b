//! What a native function or operator sees of the interpreter: a way to call back into
//! script lambdas, the call site, the module's directory, the limits, and argument helpers.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use tusk_diagnostics::Location;

use crate::error::{RuntimeError, RuntimeErrorKind};
use crate::interp::Interpreter;
use crate::module::Module;
use crate::options::{Limits, Options};
use crate::runtime::Runtime;
use crate::value::{Object, Value};

/// The interpreter as a native function sees it during one call.
pub struct CallContext<'i, 'r> {
    interp: &'i mut Interpreter<'r>,
    site: Location,
}

impl<'i, 'r> CallContext<'i, 'r> {
    pub(crate) fn new(interp: &'i mut Interpreter<'r>, site: Location) -> CallContext<'i, 'r> {
        CallContext { interp, site }
    }

    /// Calls a function value (a script lambda or a native) with arguments.
    pub fn call(&mut self, function: &Value, args: &[Value]) -> Result<Value, RuntimeError> {
        self.interp.call_value(function, args, self.site)
    }

    /// Calls a function value, handing it the arguments (no copies): the fast way for
    /// builtins that call a lambda per item.
    pub fn call_owned<const N: usize>(&mut self, function: &Value, args: [Value; N]) -> Result<Value, RuntimeError> {
        self.interp.call_value_owned(function, args, self.site)
    }

    /// Where the native was called from.
    pub fn call_site(&self) -> Location {
        self.site
    }

    /// The directory of the running file (`None` for the REPL and `tusk eval`).
    pub fn directory(&self) -> Option<&Path> {
        self.interp.module.directory()
    }

    /// Resolves a path against the running file's directory (or the working directory).
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        match (path.is_absolute(), self.directory()) {
            (false, Some(directory)) => directory.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The module of the running file.
    pub fn module(&self) -> &Rc<Module> {
        &self.interp.module
    }

    /// The evaluation options.
    pub fn options(&self) -> &Options {
        &self.interp.runtime.options
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.interp.limits
    }

    /// The runtime (sources, registry, caches), for operators that evaluate other files.
    pub fn runtime(&mut self) -> &mut Runtime {
        self.interp.runtime
    }

    /// Counts one step of a loop a builtin runs on the script's behalf (`map`, `reduce`, …),
    /// so the operation limit also bounds loops over huge ranges.
    pub fn count_operation(&mut self) -> Result<(), RuntimeError> {
        self.interp.count_operation()
    }

    /// Fails if a collection of `len` items would exceed the size limit.
    pub fn check_collection_len(&self, len: usize) -> Result<(), RuntimeError> {
        if len > self.interp.limits.max_collection_len {
            return Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                what: "collection size",
                limit: self.interp.limits.max_collection_len as u64,
            }));
        }
        Ok(())
    }

    /// Fails if a string of `len` bytes would exceed the size limit.
    pub fn check_string_len(&self, len: usize) -> Result<(), RuntimeError> {
        if len > self.interp.limits.max_string_bytes {
            return Err(RuntimeError::new(RuntimeErrorKind::LimitExceeded {
                what: "string size",
                limit: self.interp.limits.max_string_bytes as u64,
            }));
        }
        Ok(())
    }

    /// Evaluates another file into a document (cross-file operators). Each file is evaluated
    /// once per runtime; a file that is still being evaluated is a cycle, which is an error.
    pub fn evaluate_file(&mut self, path: &Path) -> Result<Object, RuntimeError> {
        crate::runtime::evaluate_file_from(self.interp, path)
    }
}

/// Fails unless the number of arguments is within `min..=max`.
pub fn expect_arity(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), RuntimeError> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            min.to_string()
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(RuntimeError::new(RuntimeErrorKind::ArgumentCount {
            name: name.to_string(),
            expected,
            got: args.len(),
        }));
    }
    Ok(())
}

fn wrong_type(index: usize, what: &str, value: &Value) -> RuntimeError {
    RuntimeError::argument(index, format!("argument {} must be {what}, not {}", index + 1, value.type_name()))
}

/// Argument `index` as an integer (a float with no fraction is accepted).
pub fn arg_int(args: &[Value], index: usize) -> Result<i64, RuntimeError> {
    match args.get(index) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::Float(x)) if x.fract() == 0.0 && x.abs() < 9.2e18 => Ok(*x as i64),
        Some(other) => Err(wrong_type(index, "an integer", other)),
        None => Err(RuntimeError::argument(index, format!("argument {} is missing", index + 1))),
    }
}

/// Argument `index` as a number.
pub fn arg_number(args: &[Value], index: usize) -> Result<f64, RuntimeError> {
    match args.get(index) {
        Some(value) => value.as_f64().ok_or_else(|| wrong_type(index, "a number", value)),
        None => Err(RuntimeError::argument(index, format!("argument {} is missing", index + 1))),
    }
}

/// Argument `index` as a string.
pub fn arg_str(args: &[Value], index: usize) -> Result<&str, RuntimeError> {
    match args.get(index) {
        Some(Value::Str(s)) => Ok(s.as_str()),
        Some(other) => Err(wrong_type(index, "a string", other)),
        None => Err(RuntimeError::argument(index, format!("argument {} is missing", index + 1))),
    }
}

/// Argument `index` as a byte string.
pub fn arg_bytes(args: &[Value], index: usize) -> Result<&[u8], RuntimeError> {
    match args.get(index) {
        Some(Value::Bytes(bytes)) => Ok(bytes.as_slice()),
        Some(other) => Err(wrong_type(index, "bytes", other)),
        None => Err(RuntimeError::argument(index, format!("argument {} is missing", index + 1))),
    }
}

/// Argument `index` as a function.
pub fn arg_function(args: &[Value], index: usize) -> Result<&Value, RuntimeError> {
    match args.get(index) {
        Some(value @ Value::Func(_)) => Ok(value),
        Some(other) => Err(wrong_type(index, "a function", other)),
        None => Err(RuntimeError::argument(index, format!("argument {} is missing", index + 1))),
    }
}

/// Argument `index` as an object.
pub fn arg_object(args: &[Value], index: usize) -> Result<&Object, RuntimeError> {
    match args.get(index) {
        Some(Value::Object(object)) => Ok(object),
        Some(other) => Err(wrong_type(index, "an object", other)),
        None => Err(RuntimeError::argument(index, format!("argument {} is missing", index + 1))),
    }
}
