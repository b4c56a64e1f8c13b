//! What one plugin instance runs: the store, the push targets, the alert rules, the optional
//! `/metrics` listener, and one background thread that samples the store (for rates), pushes
//! on each target's interval and checks each rule on its own.
//!
//! The background thread never calls the host (host calls are refused off the interpreter's
//! thread): grants are checked when a target or rule is set up, on the interpreter's thread,
//! and the thread only sends to what was granted. Rules with script functions (a condition, an
//! action) have them called through the host's event loop: the thread posts the call, the
//! answer comes back to [`Shared::answer`], and a service keeps `tusk` running while such a
//! rule exists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tusk_plugin_sdk::{OwnedValue, PluginError, ServiceGuard};

use crate::alert::{self, Change, RuleState, Step};
use crate::http::MetricsListener;
use crate::push::Targets;
use crate::store::{Store, lock};

/// State shared with the background thread.
#[derive(Debug)]
pub struct Shared {
    pub store: Arc<Store>,
    pub targets: Targets,
    pub rules: Mutex<Vec<RuleState>>,
    /// Webhook calls of changes found by script functions' answers, for the thread to send.
    outbox: Mutex<Vec<(u64, Change)>>,
    next_rule_id: AtomicU64,
    pub sample_interval: Duration,
    /// True once the plugin shuts down; the condition variable wakes the thread for it and
    /// for new rules.
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The running service of one plugin instance.
#[derive(Debug)]
pub struct Service {
    pub shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub listener: Mutex<Option<MetricsListener>>,
    /// Keeps `tusk` running while a rule has script functions.
    scripted: Mutex<Option<ServiceGuard>>,
    /// Keeps `tusk` running while `@metrics.serve` listens.
    pub serving: Mutex<Option<ServiceGuard>>,
}

impl Service {
    pub fn start(store: Arc<Store>, targets: Targets, sample_interval: Duration) -> Result<Service, PluginError> {
        if targets.statsd.is_some() {
            store.buffer_observations();
        }
        let shared = Arc::new(Shared {
            store,
            targets,
            rules: Mutex::new(Vec::new()),
            outbox: Mutex::new(Vec::new()),
            next_rule_id: AtomicU64::new(1),
            sample_interval,
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("metrics".to_string())
                .spawn(move || run(&shared))
                .map_err(|error| PluginError::message(format!("cannot start the metrics thread: {error}")))?
        };
        Ok(Service {
            shared,
            thread: Mutex::new(Some(thread)),
            listener: Mutex::new(None),
            scripted: Mutex::new(None),
            serving: Mutex::new(None),
        })
    }

    /// Adds (or replaces, by name) a rule and wakes the thread so it is checked at once. A
    /// rule with script functions starts the service that keeps `tusk` running (on the
    /// interpreter's thread, during a call).
    pub fn add_rule(&self, rule: alert::Rule) -> Result<(), PluginError> {
        if rule.has_functions() {
            let mut scripted = lock(&self.scripted);
            if scripted.is_none() {
                *scripted = Some(ServiceGuard::start("metrics alert rules with script functions")?);
            }
        }
        let id = self.shared.next_rule_id.fetch_add(1, Ordering::Relaxed);
        let mut rules = lock(&self.shared.rules);
        rules.retain(|state| state.rule.name != rule.name);
        rules.push(RuleState::new(id, rule, Instant::now()));
        drop(rules);
        self.update_scripted();
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Removes a rule by name; whether there was one.
    pub fn remove_rule(&self, name: &str) -> bool {
        let mut rules = lock(&self.shared.rules);
        let before = rules.len();
        rules.retain(|state| state.rule.name != name);
        let removed = rules.len() != before;
        drop(rules);
        self.update_scripted();
        removed
    }

    /// Ends the service of script rules when none is left.
    fn update_scripted(&self) {
        if !lock(&self.shared.rules).iter().any(|state| state.rule.has_functions()) {
            lock(&self.scripted).take();
        }
    }

    /// Checks every rule now (on the calling thread), sending webhooks; returns the states.
    pub fn check_now(&self) -> Vec<serde_json::Value> {
        check_rules(&self.shared, true);
        lock(&self.shared.rules).iter().map(RuleState::to_json).collect()
    }

    /// Stops the thread and the listener, then pushes one last time (a script's metrics
    /// would otherwise be lost when it ends between two intervals).
    pub fn stop(&self) -> Vec<String> {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        let Some(thread) = lock(&self.thread).take() else { return Vec::new() };
        let _ = thread.join();
        lock(&self.listener).take();
        lock(&self.serving).take();
        // The rules' script functions are released, and with them the service.
        lock(&self.shared.rules).retain(|state| !state.rule.has_functions());
        lock(&self.scripted).take();
        let mut errors = Vec::new();
        if let Some(influx) = &self.shared.targets.influx
            && let Err(error) = influx.push(&self.shared.store)
        {
            errors.push(format!("final InfluxDB push: {error}"));
        }
        if let Some(statsd) = &self.shared.targets.statsd
            && let Err(error) = statsd.push(&self.shared.store)
        {
            errors.push(format!("final DogStatsD push: {error}"));
        }
        errors
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Checks the rules that are due (all of them with `all`), then, without holding the rules'
/// lock, sends their webhooks, posts their actions and asks their script conditions.
fn check_rules(shared: &Arc<Shared>, all: bool) {
    let now = Instant::now();
    let mut changes = std::mem::take(&mut *lock(&shared.outbox));
    let mut asks = Vec::new();
    {
        let mut rules = lock(&shared.rules);
        for state in rules.iter_mut() {
            if !(all || state.next_due <= now) {
                continue;
            }
            match state.check(&shared.store, now) {
                Step::Unchanged => {}
                Step::Changed(change) => changes.push((state.id, change)),
                Step::Ask(function, value) => asks.push((state.id, function, value)),
            }
        }
    }
    for (id, change) in changes {
        announce(shared, id, change);
    }
    for (id, function, value) in asks {
        let answers = shared.clone();
        let posted = function.post(vec![value], move |outcome| answers.answer(id, outcome));
        if let Err(error) = posted {
            shared.answer(id, Err(error));
        }
    }
}

/// Sends a change to the rule's webhook and posts it to its action.
fn announce(shared: &Arc<Shared>, id: u64, change: Change) {
    if let Some(action) = &change.action {
        let errors = shared.clone();
        let argument: Result<OwnedValue, _> = serde_json::from_value(change.payload.clone());
        let posted = match argument {
            Ok(argument) => action.post(vec![argument], move |outcome| {
                if let Err(error) = outcome {
                    errors.set_error(id, format!("the action failed: {error}"));
                }
            }),
            Err(error) => Err(PluginError::message(error.to_string())),
        };
        if let Err(error) = posted {
            shared.set_error(id, format!("the action could not be called: {}", error.message_text()));
        }
    }
    if let Some(webhook) = &change.webhook {
        let result = alert::send(webhook, &change.payload);
        if let Err(error) = result {
            shared.set_error(id, error);
        }
    }
}

impl Shared {
    /// A script condition's answer (on whatever thread the host gives it): a change it causes
    /// is announced by the background thread.
    fn answer(&self, id: u64, outcome: Result<OwnedValue, PluginError>) {
        let step = {
            let mut rules = lock(&self.rules);
            match rules.iter_mut().find(|state| state.id == id) {
                Some(state) => state.answer(outcome),
                // Removed or replaced meanwhile.
                None => Step::Unchanged,
            }
        };
        if let Step::Changed(change) = step {
            lock(&self.outbox).push((id, change));
            let _stop = lock(&self.stop);
            self.wake.notify_all();
        }
    }

    fn set_error(&self, id: u64, message: String) {
        if let Some(state) = lock(&self.rules).iter_mut().find(|state| state.id == id) {
            state.last_error = Some(message);
        }
    }
}

fn run(shared: &Arc<Shared>) {
    let start = Instant::now();
    let mut next_sample = start;
    let mut next_influx = shared.targets.influx.as_ref().map(|influx| start + influx.interval);
    let mut next_statsd = shared.targets.statsd.as_ref().map(|statsd| start + statsd.interval);
    loop {
        let now = Instant::now();
        if now >= next_sample {
            shared.store.sample(now);
            next_sample = now + shared.sample_interval;
        }
        if let (Some(due), Some(influx)) = (next_influx, &shared.targets.influx)
            && now >= due
        {
            // Failures are kept in the target's status (`@metrics.push_status()`).
            let _ = influx.push(&shared.store);
            next_influx = Some(Instant::now() + influx.interval);
        }
        if let (Some(due), Some(statsd)) = (next_statsd, &shared.targets.statsd)
            && now >= due
        {
            let _ = statsd.push(&shared.store);
            next_statsd = Some(Instant::now() + statsd.interval);
        }
        check_rules(shared, false);
        let mut next = next_sample;
        for due in [next_influx, next_statsd].into_iter().flatten() {
            next = next.min(due);
        }
        for state in lock(&shared.rules).iter() {
            next = next.min(state.next_due);
        }
        let stop = lock(&shared.stop);
        if *stop {
            return;
        }
        // An answer that came in meanwhile is announced at once (answers notify while holding
        // `stop`, so none is missed between this look and the wait).
        if !lock(&shared.outbox).is_empty() {
            continue;
        }
        let wait = next.saturating_duration_since(Instant::now());
        let (stop, _) = shared.wake.wait_timeout(stop, wait).unwrap_or_else(|poisoned| poisoned.into_inner());
        if *stop {
            return;
        }
    }
}
