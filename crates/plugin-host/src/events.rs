//! Long-lived plugins, the host's half: a plugin's view of the engine's event loop, and the job
//! that runs a posted call of a retained script function.
//!
//! Both execution modes share this: in-process the host API functions (`ffi::events`) post a
//! [`PostJob`] whose reply calls the plugin's `done` function; sandboxed, the runner's event
//! channel ([`crate::isolated`]'s events thread) posts one whose reply goes back over that
//! channel. Arguments and results cross as JSON text: plain data, made and read on any thread.

use std::sync::{Arc, Mutex};

use tusk_eval::events::{EventSender, Job};
use tusk_eval::{Runtime, Value};
use tusk_plugin_hostapi::{PostFailure, Reply};

/// The event loop as one plugin reaches it: `Send + Sync`, used from the plugin's threads.
#[derive(Clone)]
pub(crate) struct PluginEvents {
    pub(crate) plugin: Arc<str>,
    pub(crate) sender: EventSender,
}

/// A call of a retained script function, posted by a plugin.
struct PostJob {
    plugin: Arc<str>,
    function: u64,
    args_json: String,
    /// Shared with the poster, who takes it back if the post is refused.
    reply: Arc<Mutex<Option<Reply>>>,
}

impl PostJob {
    fn reply(&self, result: Result<String, PostFailure>) {
        let reply = self.reply.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(reply) = reply {
            reply(result);
        }
    }
}

impl Job for PostJob {
    fn run(self: Box<Self>, runtime: &mut Runtime) {
        let result = run_post(runtime, &self.plugin, self.function, &self.args_json);
        self.reply(result);
    }

    fn cancel(self: Box<Self>, reason: &str) {
        self.reply(Err(PostFailure { script: false, message: reason.to_string() }));
    }
}

impl PluginEvents {
    /// Posts a call of retained function `function`; when the loop refuses it (it is stopping)
    /// the reply comes back unused, for the caller to report the refusal its own way.
    pub(crate) fn post(&self, function: u64, args_json: String, reply: Reply) -> Result<(), Reply> {
        let slot = Arc::new(Mutex::new(Some(reply)));
        let job = Box::new(PostJob { plugin: self.plugin.clone(), function, args_json, reply: slot.clone() });
        match self.sender.post(job) {
            Ok(()) => Ok(()),
            Err(refused) => {
                drop(refused);
                let reply = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
                Err(reply.expect("a refused job never replied"))
            }
        }
    }
}

fn run_post(runtime: &mut Runtime, plugin: &str, function: u64, args_json: &str) -> Result<String, PostFailure> {
    let failed = |message: String| PostFailure { script: false, message };
    let (function, site) = runtime.events().retained(plugin, function).map_err(failed)?;
    let parsed = tusk_eval::from_json_text(args_json)
        .map_err(|error| failed(format!("plugin `{plugin}` posted arguments that are not JSON: {error}")))?;
    let (args, wrapped) = posted_args(parsed).map_err(|error| failed(format!("plugin `{plugin}` posted {error}")))?;
    match runtime.call_at(&function, &args, site) {
        Ok(value) => answer(&value, wrapped).map_err(|error| {
            failed(format!("the script function's result cannot be handed to plugin `{plugin}`: {error}"))
        }),
        Err(error) => {
            let place = error.location().map(|location| runtime.sources().describe(location));
            let message = match place {
                Some(place) => format!("{place}: {error}"),
                None => error.to_string(),
            };
            runtime.report_handler_error(
                &error,
                &format!("in a script function plugin `{plugin}` called from its service (the service goes on)"),
            );
            Err(PostFailure { script: true, message })
        }
    }
}

/// The arguments of a post, and whether it was wrapped (`{"args", "bytes"}`, ABI 1.8) rather
/// than a plain array. The error completes "plugin `…` posted …".
fn posted_args(mut parsed: Value) -> Result<(Vec<Value>, bool), String> {
    let (mut args, paths, wrapped) = match &mut parsed {
        Value::Array(_) => (std::mem::take(&mut parsed), Value::Null, false),
        Value::Object(object) => {
            // The object is the parser's alone: its entries are taken, not copied.
            let object = std::rc::Rc::make_mut(object);
            let mut take = |key: &str| object.get_mut(key).map(std::mem::take).unwrap_or_default();
            (take("args"), take("bytes"), true)
        }
        _ => return Err("arguments that are not a JSON array".to_string()),
    };
    if wrapped {
        let Value::Array(paths) = &paths else {
            return Err("arguments without the `bytes` array of their byte strings' paths".to_string());
        };
        for path in paths.iter() {
            restore_bytes(&mut args, path)?;
        }
    }
    let Value::Array(items) = &mut args else {
        return Err("arguments whose `args` is not an array".to_string());
    };
    // The array is the parser's alone: its items are taken, not copied.
    Ok((std::mem::take(std::rc::Rc::make_mut(items)), wrapped))
}

/// Turns the base64 text at `path` in `value` back into the byte string it stands for.
fn restore_bytes(value: &mut Value, path: &Value) -> Result<(), String> {
    use base64::Engine as _;
    let nowhere =
        || format!("a byte-string path that leads nowhere: {}", serde_json::to_string(path).unwrap_or_default());
    let Value::Array(steps) = path else {
        return Err(nowhere());
    };
    let mut at = value;
    for step in steps.iter() {
        at = match (at, step) {
            (Value::Array(items), Value::Int(index)) => usize::try_from(*index)
                .ok()
                .and_then(|index| std::rc::Rc::make_mut(items).get_mut(index))
                .ok_or_else(nowhere)?,
            (Value::Object(object), Value::Str(key)) => {
                std::rc::Rc::make_mut(object).get_mut(key.as_str()).ok_or_else(nowhere)?
            }
            _ => return Err(nowhere()),
        };
    }
    let bytes = match &*at {
        Value::Str(text) => base64::engine::general_purpose::STANDARD.decode(text.as_str()).ok(),
        _ => None,
    };
    let bytes = bytes.ok_or_else(|| {
        format!(
            "a byte-string path that does not lead to base64 text: {}",
            serde_json::to_string(path).unwrap_or_default()
        )
    })?;
    *at = Value::Bytes(bytes.into());
    Ok(())
}

/// The JSON answer to a post: the plain result, or for a wrapped post
/// `{"value": ..., "bytes": [path, ...]}` listing where its byte strings are.
fn answer(value: &Value, wrapped: bool) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(value)?;
    if !wrapped {
        return Ok(json);
    }
    let mut paths = Vec::new();
    collect_bytes(value, &mut Vec::new(), &mut paths);
    Ok(format!("{{\"value\":{json},\"bytes\":{}}}", serde_json::to_string(&paths)?))
}

/// Adds the path of every byte string in `value` (found at `path`) to `paths`.
fn collect_bytes(value: &Value, path: &mut Vec<serde_json::Value>, paths: &mut Vec<Vec<serde_json::Value>>) {
    match value {
        Value::Bytes(_) => paths.push(path.clone()),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(index.into());
                collect_bytes(item, path, paths);
                path.pop();
            }
        }
        Value::Object(object) => {
            for (key, item) in object.iter() {
                path.push(key.as_str().into());
                collect_bytes(item, path, paths);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(json: &str) -> Result<(Vec<Value>, bool), String> {
        posted_args(tusk_eval::from_json_text(json).unwrap())
    }

    #[test]
    fn a_plain_post_keeps_base64_text_as_text() {
        let (args, wrapped) = posted(r#"["AP8B", {"k": "eA=="}]"#).unwrap();
        assert!(!wrapped);
        assert_eq!(args[0].as_str(), Some("AP8B"));
        assert_eq!(answer(&Value::Array(args.into()), wrapped).unwrap(), r#"["AP8B",{"k":"eA=="}]"#);
    }

    #[test]
    fn a_wrapped_post_restores_its_byte_strings() {
        let json = r#"{"args": ["AP8B", "AP8B", [1, [""]], {"a\"b/0": "eA==", "": {"1": "eXo="}}],
                       "bytes": [[0], [2, 1, 0], [3, "a\"b/0"], [3, "", "1"]]}"#;
        let (args, wrapped) = posted(json).unwrap();
        assert!(wrapped);
        assert_eq!(args[0].as_bytes(), Some(&[0u8, 255, 1][..]));
        assert_eq!(args[1].as_str(), Some("AP8B"), "a text not listed stays text");
        let Value::Array(inner) = &args[2] else { panic!("{:?}", args[2]) };
        let Value::Array(innermost) = &inner[1] else { panic!("{:?}", inner[1]) };
        assert_eq!(innermost[0].as_bytes(), Some(&[][..]));
        let Value::Object(object) = &args[3] else { panic!("{:?}", args[3]) };
        assert_eq!(object.get("a\"b/0").and_then(Value::as_bytes), Some(&b"x"[..]));
        let Some(Value::Object(nested)) = object.get("") else { panic!("{object:?}") };
        assert_eq!(nested.get("1").and_then(Value::as_bytes), Some(&b"yz"[..]));
        // The answer lists the same paths, the byte strings written as base64 text.
        assert_eq!(
            answer(&Value::Array(args.into()), wrapped).unwrap(),
            r#"{"value":["AP8B","AP8B",[1,[""]],{"a\"b/0":"eA==","":{"1":"eXo="}}],"bytes":[[0],[2,1,0],[3,"a\"b/0"],[3,"","1"]]}"#
        );
    }

    #[test]
    fn a_wrapped_post_without_bytes_is_answered_wrapped() {
        let (args, wrapped) = posted(r#"{"args": [3], "bytes": []}"#).unwrap();
        assert!(matches!(args[0], Value::Int(3)), "{:?}", args[0]);
        assert_eq!(answer(&args[0], wrapped).unwrap(), r#"{"value":3,"bytes":[]}"#);
        assert_eq!(answer(&Value::bytes(b""), wrapped).unwrap(), r#"{"value":"","bytes":[[]]}"#);
    }

    #[test]
    fn a_bad_wrapped_post_is_an_error() {
        let cases = [
            ("5", "arguments that are not a JSON array"),
            (r#"{"args": [1]}"#, "arguments without the `bytes` array of their byte strings' paths"),
            (r#"{"args": 1, "bytes": []}"#, "arguments whose `args` is not an array"),
            (r#"{"args": [1], "bytes": [[1]]}"#, "a byte-string path that leads nowhere: [1]"),
            (r#"{"args": [1], "bytes": [[-1]]}"#, "a byte-string path that leads nowhere: [-1]"),
            (r#"{"args": [{"a": 1}], "bytes": [[0, "b"]]}"#, r#"a byte-string path that leads nowhere: [0,"b"]"#),
            (r#"{"args": [1], "bytes": [0]}"#, "a byte-string path that leads nowhere: 0"),
            (r#"{"args": [1], "bytes": [[0]]}"#, "a byte-string path that does not lead to base64 text: [0]"),
            (r#"{"args": ["*"], "bytes": [[0]]}"#, "a byte-string path that does not lead to base64 text: [0]"),
        ];
        for (json, message) in cases {
            assert_eq!(posted(json).unwrap_err(), message, "{json}");
        }
    }
}
