//! Typed functions: plain Rust closures (`|x: i64| x * 2`) adapted to the native calling
//! convention, with their arguments converted and checked ([`crate::convert`]).

use tusk_eval::{CallContext, NativeFn, RuntimeError, Value, expect_arity};

use crate::convert::{Arg, IntoReturn};

/// A Rust closure or function that [`Engine::register_fn`](crate::Engine::register_fn) can
/// register: up to eight arguments of [`Arg`] types, a result of an [`IntoReturn`] type.
/// `Args` is the tuple of argument types; it only tells the implementations apart.
pub trait TypedFunction<Args, Ret>: 'static {
    /// The argument types as errors and `:help` name them.
    #[doc(hidden)]
    fn parameters() -> Vec<String>;

    /// The function in the native calling convention, registered as `name`.
    #[doc(hidden)]
    fn into_native(self, name: &str) -> Box<NativeFn>;
}

/// The error for argument `index` of `name` that did not convert.
fn argument_error(name: &str, index: usize, error: &crate::ConversionError) -> RuntimeError {
    RuntimeError::argument(index, error.describe(&format!("argument {}", index + 1))).in_callable(name)
}

macro_rules! typed_function {
    ($($arg:ident $index:tt),*) => {
        impl<F, R, $($arg,)*> TypedFunction<($($arg,)*), R> for F
        where
            F: Fn($($arg),*) -> R + for<'a> Fn($(<$arg as Arg>::Item<'a>),*) -> R + 'static,
            R: IntoReturn,
            $($arg: Arg,)*
        {
            fn parameters() -> Vec<String> {
                vec![$(<$arg as Arg>::expected_type()),*]
            }

            #[allow(unused_variables, non_snake_case)]
            fn into_native(self, name: &str) -> Box<NativeFn> {
                // The closure has two `Fn` bounds; this helper picks the one for borrowed items.
                // It takes as many parameters as the closure (up to eight).
                #[allow(clippy::too_many_arguments)]
                fn call<R, $($arg),*>(function: &impl Fn($($arg),*) -> R, $($arg: $arg),*) -> R {
                    function($($arg),*)
                }
                let optional: &[bool] = &[$(<$arg as Arg>::OPTIONAL),*];
                let required = optional.iter().rposition(|optional| !optional).map_or(0, |last| last + 1);
                let count = optional.len();
                let name = name.to_string();
                Box::new(move |_ctx: &mut CallContext<'_, '_>, args: &[Value]| {
                    expect_arity(&name, args, required, count).map_err(|error| error.in_callable(&name))?;
                    let missing = Value::Null;
                    let result = call(
                        &self,
                        $(<$arg as Arg>::convert(args.get($index).unwrap_or(&missing))
                            .map_err(|error| argument_error(&name, $index, &error))?),*
                    );
                    result.into_return().map_err(|message| RuntimeError::message(message).in_callable(&name))
                })
            }
        }
    };
}

typed_function!();
typed_function!(A0 0);
typed_function!(A0 0, A1 1);
typed_function!(A0 0, A1 1, A2 2);
typed_function!(A0 0, A1 1, A2 2, A3 3);
typed_function!(A0 0, A1 1, A2 2, A3 3, A4 4);
typed_function!(A0 0, A1 1, A2 2, A3 3, A4 4, A5 5);
typed_function!(A0 0, A1 1, A2 2, A3 3, A4 4, A5 5, A6 6);
typed_function!(A0 0, A1 1, A2 2, A3 3, A4 4, A5 5, A6 6, A7 7);
