//! str, upper, lower, trim, split, join, replace, starts_with, ends_with.

use crate::context::{arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::registry::SymbolSpec;
use crate::value::{IntText, Text, Value};

fn string_function(
    name: &'static str,
    summary: &'static str,
    example: &'static str,
    f: fn(&str) -> String,
) -> SymbolSpec {
    SymbolSpec::function(name, move |_ctx, args| {
        expect_arity(name, args, 1, 1)?;
        Ok(Value::from(f(arg_str(args, 0)?)))
    })
    .signature(&format!("{name}(text)"))
    .summary(summary)
    .example(example)
}

fn str_function() -> SymbolSpec {
    SymbolSpec::function("str", |_ctx, args| {
        expect_arity("str", args, 1, 1)?;
        Ok(match &args[0] {
            Value::Str(s) => Value::Str(s.clone()),
            Value::Int(n) => Value::Str(Text::new(IntText::new(*n).as_str())),
            other => Value::from(crate::output::to_display(other)),
        })
    })
    .signature("str(value)")
    .summary("The value as text: strings as they are, everything else as it displays.")
    .example("str(42) + \"!\" => \"42!\"")
    .example("str([1, \"a\"]) => \"[1, \\\"a\\\"]\"")
}

/// The one character `text` is made of: searching for a `char` finds the same places as
/// searching for the one-character string, faster (no general substring search).
fn single_char(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

fn split() -> SymbolSpec {
    SymbolSpec::function("split", |ctx, args| {
        expect_arity("split", args, 1, 2)?;
        let text = arg_str(args, 0)?;
        let parts: Vec<Value> = match args.get(1) {
            None => text.split_whitespace().map(Value::string).collect(),
            Some(_) => {
                let separator = arg_str(args, 1)?;
                if separator.is_empty() {
                    text.chars().map(|c| Value::string(c.encode_utf8(&mut [0; 4]))).collect()
                } else if let Some(separator) = single_char(separator) {
                    text.split(separator).map(Value::string).collect()
                } else {
                    text.split(separator).map(Value::string).collect()
                }
            }
        };
        ctx.check_collection_len(parts.len())?;
        Ok(Value::array(parts))
    })
    .signature("split(text[, separator])")
    .summary("The parts of the text between separators (whitespace runs when none is given; characters for \"\").")
    .example("split(\"a,b,,c\", \",\") => [\"a\", \"b\", \"\", \"c\"]")
}

fn join() -> SymbolSpec {
    SymbolSpec::function("join", |ctx, args| {
        expect_arity("join", args, 1, 2)?;
        let separator = if args.len() == 2 { arg_str(args, 1)? } else { "" };
        let items: Vec<Value> = match &args[0] {
            Value::Array(items) => items.to_vec(),
            Value::Range(start, end) => {
                ctx.check_collection_len(end.saturating_sub(*start).max(0) as usize)?;
                (*start..*end).map(Value::Int).collect()
            }
            other => {
                return Err(RuntimeError::argument(
                    0,
                    format!("argument 1 must be an array or range, not {}", other.type_name()),
                ));
            }
        };
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(separator);
            }
            match item {
                Value::Str(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
            ctx.check_string_len(out.len())?;
        }
        Ok(Value::from(out))
    })
    .signature("join(items[, separator])")
    .summary("The items as text, joined by the separator.")
    .example("join([1, \"b\", true], \"-\") => \"1-b-true\"")
    .example("join(1-3, \",\") => \"1,2,3\"")
}

fn replace() -> SymbolSpec {
    SymbolSpec::function("replace", |ctx, args| {
        expect_arity("replace", args, 3, 3)?;
        let text = arg_str(args, 0)?;
        let from = arg_str(args, 1)?;
        let to = arg_str(args, 2)?;
        if from.is_empty() {
            return Err(RuntimeError::argument(1, "the text to replace is empty"));
        }
        let out = match single_char(from) {
            Some(from) => text.replace(from, to),
            None => text.replace(from, to),
        };
        ctx.check_string_len(out.len())?;
        Ok(Value::from(out))
    })
    .signature("replace(text, from, to)")
    .summary("The text with every `from` replaced by `to`.")
    .example("replace(\"a=1;b=2\", \"=\", \":\") => \"a:1;b:2\"")
}

fn affix(name: &'static str, test: fn(&str, &str) -> bool, example: &'static str) -> SymbolSpec {
    SymbolSpec::function(name, move |_ctx, args| {
        expect_arity(name, args, 2, 2)?;
        Ok(Value::Bool(test(arg_str(args, 0)?, arg_str(args, 1)?)))
    })
    .signature(&format!("{name}(text, part)"))
    .summary(if name == "starts_with" {
        "True if the text starts with the part."
    } else {
        "True if the text ends with the part."
    })
    .example(example)
}

pub(super) fn specs() -> Vec<SymbolSpec> {
    vec![
        str_function(),
        string_function("upper", "The text in upper case.", "upper(\"tusk\") => \"TUSK\"", str::to_uppercase),
        string_function("lower", "The text in lower case.", "lower(\"TUSK\") => \"tusk\"", str::to_lowercase),
        string_function(
            "trim",
            "The text without leading and trailing whitespace.",
            "trim(\"  a b \") => \"a b\"",
            |s| s.trim().to_string(),
        ),
        split(),
        join(),
        replace(),
        affix("starts_with", |text, part| text.starts_with(part), "starts_with(\"tusklang\", \"tusk\") => true"),
        affix("ends_with", |text, part| text.ends_with(part), "ends_with(\"config.tsk\", \".tsk\") => true"),
    ]
}
