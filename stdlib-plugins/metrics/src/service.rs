//! What one plugin instance runs: the store, the push targets, the alert rules, the optional
//! `/metrics` listener, and one background thread that samples the store (for rates), pushes
//! on each target's interval and checks each rule on its own.
//!
//! The background thread never calls the host (host calls are refused off the interpreter's
//! thread): grants are checked when a target or rule is set up, on the interpreter's thread,
//! and the thread only sends to what was granted.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tusk_plugin_sdk::PluginError;

use crate::alert::{self, RuleState};
use crate::http::MetricsListener;
use crate::push::Targets;
use crate::store::{Store, lock};

/// State shared with the background thread.
#[derive(Debug)]
pub struct Shared {
    pub store: Arc<Store>,
    pub targets: Targets,
    pub rules: Mutex<Vec<RuleState>>,
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
        Ok(Service { shared, thread: Mutex::new(Some(thread)), listener: Mutex::new(None) })
    }

    /// Adds (or replaces, by name) a rule and wakes the thread so it is checked at once.
    pub fn add_rule(&self, rule: alert::Rule) {
        let mut rules = lock(&self.shared.rules);
        rules.retain(|state| state.rule.name != rule.name);
        rules.push(RuleState::new(rule, Instant::now()));
        drop(rules);
        self.shared.wake.notify_all();
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

/// Checks the rules that are due (all of them with `all`), then sends their webhooks without
/// holding the rules' lock.
fn check_rules(shared: &Shared, all: bool) {
    let now = Instant::now();
    let mut calls = Vec::new();
    {
        let mut rules = lock(&shared.rules);
        for (index, state) in rules.iter_mut().enumerate() {
            if (all || state.next_due <= now)
                && let Some(call) = state.check(&shared.store, now)
            {
                calls.push((index, call));
            }
        }
    }
    for (index, (webhook, payload)) in calls {
        let result = alert::send(&webhook, &payload);
        if let Some(state) = lock(&shared.rules).get_mut(index) {
            state.last_error = result.err();
        }
    }
}

fn run(shared: &Shared) {
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
        let wait = next.saturating_duration_since(Instant::now());
        let (stop, _) = shared.wake.wait_timeout(stop, wait).unwrap_or_else(|poisoned| poisoned.into_inner());
        if *stop {
            return;
        }
    }
}
