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
    let mut parsed = tusk_eval::from_json_text(args_json)
        .map_err(|error| failed(format!("plugin `{plugin}` posted arguments that are not JSON: {error}")))?;
    let args: Vec<Value> = match &mut parsed {
        // The array is the parser's alone: its items are taken, not copied.
        Value::Array(items) => std::mem::take(std::rc::Rc::make_mut(items)),
        _ => return Err(failed(format!("plugin `{plugin}` posted arguments that are not a JSON array"))),
    };
    match runtime.call_at(&function, &args, site) {
        Ok(value) => serde_json::to_string(&value).map_err(|error| {
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
