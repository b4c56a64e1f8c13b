//! The event loop: what keeps a script running after its document is built.
//!
//! A script that starts a service (a timer, a plugin's listening socket or subscription) is not
//! done when its last entry is evaluated: the service calls script functions later. The loop
//! runs those calls on the interpreter's thread, one at a time, until no service is left (or it
//! is asked to stop).
//!
//! Two halves:
//! - [`EventSender`] (`Send + Sync`, cheap to clone) is what other threads hold: they post
//!   [`Job`]s, start and end services, release retained functions and ask the loop to stop.
//!   It never touches a [`Value`].
//! - [`EventLoop`] lives in the [`Runtime`], on the interpreter's thread: the retained
//!   functions (script values kept beyond the call that passed them), the timers, and the
//!   reporting of handler errors. [`Runtime::run_events`] is the loop itself.
//!
//! Ordering: jobs run one at a time, in the order they were posted (so the posts of one thread
//! run in that thread's order); due timers run before the next job. A handler's error is
//! reported (with its script location) and the loop goes on.
//!
//! Cost per job (a busy server posts one per request): the loop takes every queued job in one
//! lock round and runs them back to back; finding the queue empty, it yields its core a few
//! times before it parks; and a post wakes the loop (a system call) only when it is parked on
//! the condition variable, not while it is working or yielding.
//!
//! Stopping ([`EventSender::stop`], e.g. on Ctrl-C or SIGTERM): new posts and services are
//! refused, timers end, jobs already posted still run until the grace period has passed (then
//! they are cancelled: their poster is told), and a handler still running when the grace period
//! ends is interrupted through the run's interrupt flag ([`crate::Options::interrupt`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tusk_diagnostics::{Diagnostic, Location, SourceMap};

use crate::error::RuntimeError;
use crate::interp::Interpreter;
use crate::module::Module;
use crate::runtime::Runtime;
use crate::value::{Key, Value};

/// What a refused post or service is told while the loop stops.
pub const SHUTTING_DOWN: &str = "tusk is shutting down: no new work is accepted";

/// How many times the loop, finding the queue empty while a service runs, gives up its core
/// (`yield_now`) and looks again before it parks on the condition variable. A busy server's
/// threads usually post the next request in that time, so the loop never parks and the post
/// costs no wake-up: under `bench/http.py` on a loaded 2-core machine this took the
/// interpreter's thread from about 0.3 context switches per request to none, and the CPU per
/// request down by a sixth. An idle loop pays a few `sched_yield` calls, then sleeps.
const YIELDS_BEFORE_PARKING: u32 = 4;

/// The grace period of a stop unless the embedder sets another ([`EventSender::set_grace`]).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Work for the interpreter's thread, posted from any thread.
///
/// Exactly one of `run` and `cancel` is called, once: `run` on the interpreter's thread when
/// the loop gets to it, `cancel` (on whichever thread drops it) when the loop stops or the
/// runtime goes away before that.
pub trait Job: Send {
    /// Does the work, on the interpreter's thread.
    fn run(self: Box<Self>, runtime: &mut Runtime);
    /// The job will never run; `reason` says why.
    fn cancel(self: Box<Self>, reason: &str);
}

/// A service that keeps the loop running (a listening socket, a subscription, a timer thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Who started it (a plugin's name).
    pub owner: String,
    /// What it is, for messages (`http 127.0.0.1:8080`).
    pub name: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Box<dyn Job>>,
    /// Retained functions whose holders let go (dropped on the interpreter's thread).
    releases: Vec<(String, u64)>,
    services: BTreeMap<u64, Service>,
    next_service: u64,
    /// When a stop was asked for (from then on nothing new is accepted).
    stopping: Option<Instant>,
    /// Bumped by every change the loop may be waiting for.
    generation: u64,
    /// The loop returned after a stop (the grace watchdog has nothing left to do).
    finished: bool,
    /// The loop is parked on the condition variable: only then does a post need to wake it
    /// (a post to a busy loop is picked up with the next batch, without a system call).
    waiting: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Set with `State::stopping` (cleared by a resume): read between the jobs of a batch
    /// without taking the lock.
    stop_requested: AtomicBool,
    grace: Mutex<Duration>,
    /// The running evaluation's interrupt flag, raised when a stop's grace period is over.
    interrupt: Mutex<Option<Arc<AtomicBool>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job never runs under the lock, so a poisoned lock only means a panic between two
        // plain field updates: the state is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The thread-safe handle of a runtime's event loop.
#[derive(Clone)]
pub struct EventSender {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSender").finish_non_exhaustive()
    }
}

impl EventSender {
    /// Queues a job. While the loop stops, the job is handed back unrun (its reason to refuse
    /// is [`SHUTTING_DOWN`]).
    pub fn post(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        let mut state = self.shared.lock();
        if state.stopping.is_some() {
            return Err(job);
        }
        state.queue.push_back(job);
        state.generation += 1;
        let parked = state.waiting;
        drop(state);
        if parked {
            self.shared.wake.notify_all();
        }
        Ok(())
    }

    /// Starts a service: the loop keeps running until it ends ([`EventSender::end_service`]).
    pub fn start_service(&self, owner: &str, name: &str) -> Result<u64, String> {
        let mut state = self.shared.lock();
        if state.stopping.is_some() {
            return Err(SHUTTING_DOWN.to_string());
        }
        state.next_service += 1;
        let id = state.next_service;
        state.services.insert(id, Service { owner: owner.to_string(), name: name.to_string() });
        state.generation += 1;
        drop(state);
        self.shared.wake.notify_all();
        Ok(id)
    }

    /// Ends a service (an id that is not running is ignored).
    pub fn end_service(&self, id: u64) {
        let mut state = self.shared.lock();
        if state.services.remove(&id).is_some() {
            state.generation += 1;
            drop(state);
            self.shared.wake.notify_all();
        }
    }

    /// The services running now, oldest first.
    pub fn services(&self) -> Vec<Service> {
        self.shared.lock().services.values().cloned().collect()
    }

    /// Lets go of a function `owner` retained (from any thread; the value is dropped on the
    /// interpreter's thread, by the loop or the next retain). Another holder's id is ignored.
    pub fn release(&self, owner: &str, retained: u64) {
        let mut state = self.shared.lock();
        state.releases.push((owner.to_string(), retained));
        state.generation += 1;
        drop(state);
        self.shared.wake.notify_all();
    }

    /// Asks the loop to stop gracefully: nothing new is accepted, timers end, jobs already
    /// posted run until the grace period is over, and a handler still running then is
    /// interrupted. Returns false if a stop was already asked for.
    pub fn stop(&self) -> bool {
        let mut state = self.shared.lock();
        if state.stopping.is_some() {
            return false;
        }
        state.stopping = Some(Instant::now());
        self.shared.stop_requested.store(true, Ordering::SeqCst);
        state.finished = false;
        state.generation += 1;
        drop(state);
        self.shared.wake.notify_all();
        let interrupt = self.shared.interrupt.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(flag) = interrupt {
            let grace = self.grace();
            let shared = self.shared.clone();
            // The handler running now cannot be asked anything until it returns: a watchdog
            // raises the run's interrupt flag if the loop has not finished by the deadline.
            let watchdog = move || {
                let deadline = Instant::now() + grace;
                let mut state = shared.lock();
                while !state.finished {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    state = shared.wake.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
                }
            };
            let _ = std::thread::Builder::new().name("tusk-grace".into()).spawn(watchdog);
        }
        true
    }

    /// Accepts work again after a stop (the REPL serves again after Ctrl-C ended `:serve`).
    pub fn resume(&self) {
        let mut state = self.shared.lock();
        state.stopping = None;
        self.shared.stop_requested.store(false, Ordering::SeqCst);
        state.generation += 1;
    }

    /// True once a stop was asked for (and the loop was not resumed since).
    pub fn is_stopping(&self) -> bool {
        self.shared.lock().stopping.is_some()
    }

    /// How long a stop lets posted jobs and the running handler finish.
    pub fn set_grace(&self, grace: Duration) {
        *self.shared.grace.lock().unwrap_or_else(|p| p.into_inner()) = grace;
    }

    /// The grace period of a stop.
    pub fn grace(&self) -> Duration {
        *self.shared.grace.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reports a handler's error: the diagnostic (with the script location) and the sources to
/// render it against.
pub type ErrorReporter = Rc<dyn Fn(&Diagnostic, &SourceMap)>;

struct Timer {
    id: u64,
    /// Where it was started (the handler's trace says "called at" there).
    site: Location,
    due: Instant,
    every: Option<Duration>,
    function: Value,
    /// What the function gets when it takes an argument (the timer's handle, to cancel it).
    handle: Value,
}

struct Retained {
    owner: Key,
    function: Value,
    site: Location,
}

/// The interpreter-side half of the loop, owned by the [`Runtime`].
pub struct EventLoop {
    shared: Arc<Shared>,
    retained: HashMap<u64, Retained>,
    next_retained: u64,
    timers: Vec<Timer>,
    next_timer: u64,
    reporter: Option<ErrorReporter>,
    reported: Vec<Diagnostic>,
}

impl Default for EventLoop {
    fn default() -> EventLoop {
        EventLoop {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                stop_requested: AtomicBool::new(false),
                grace: Mutex::new(DEFAULT_GRACE),
                interrupt: Mutex::new(None),
            }),
            retained: HashMap::new(),
            next_retained: 0,
            timers: Vec::new(),
            next_timer: 0,
            reporter: None,
            reported: Vec::new(),
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Whoever waits for a job's result hears that it will not come.
        let jobs: Vec<_> = {
            let mut state = self.shared.lock();
            state.stopping.get_or_insert_with(Instant::now);
            self.shared.stop_requested.store(true, Ordering::SeqCst);
            state.finished = true;
            state.queue.drain(..).collect()
        };
        self.shared.wake.notify_all();
        for job in jobs {
            job.cancel("the engine running the script was dropped");
        }
    }
}

/// A timer's handle, as scripts hold it (`@every` and `@after` return it, `@cancel` takes it).
pub(crate) struct TimerHandle {
    pub(crate) id: u64,
}

/// Jobs the loop took from the queue and has not run yet. Whatever is left when it is dropped
/// (a stop came between two jobs, or a job panicked) goes back to the queue's front, in order,
/// so the stopping rules (or the loop's drop) run or cancel each of them exactly once.
struct Batch<'a> {
    jobs: VecDeque<Box<dyn Job>>,
    shared: &'a Shared,
}

impl Batch<'_> {
    fn give_back(&mut self) {
        if self.jobs.is_empty() {
            return;
        }
        let mut state = self.shared.lock();
        while let Some(job) = self.jobs.pop_back() {
            state.queue.push_front(job);
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// How [`Runtime::run_events`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopEnd {
    /// No service, timer or job is left.
    Idle,
    /// A stop was asked for; jobs were run or cancelled and the timers ended.
    Stopped,
    /// The time given ran out first.
    TimedOut,
}

impl EventLoop {
    /// The thread-safe handle.
    pub fn sender(&self) -> EventSender {
        EventSender { shared: self.shared.clone() }
    }

    /// Keeps `function` alive for `owner` until [`EventSender::release`] (or
    /// [`EventLoop::release`]) with the returned id. `site` is where it was handed over (the
    /// operator call): a handler's error trace says it was called there.
    pub fn retain(&mut self, owner: &str, function: Value, site: Location) -> u64 {
        self.collect_releases();
        self.next_retained += 1;
        self.retained.insert(self.next_retained, Retained { owner: Key::new(owner), function, site });
        self.next_retained
    }

    /// The function `owner` retained under `id`, and where it was retained.
    pub fn retained(&self, owner: &str, id: u64) -> Result<(Value, Location), String> {
        match self.retained.get(&id) {
            Some(retained) if retained.owner.as_str() == owner => Ok((retained.function.clone(), retained.site)),
            _ => Err(format!("`{owner}` holds no retained function {id} (it was released, or never retained)")),
        }
    }

    /// Drops a retained function now (on the interpreter's thread).
    pub fn release(&mut self, id: u64) {
        self.retained.remove(&id);
    }

    /// Retained functions alive (for leak checks in tests).
    pub fn retained_count(&mut self) -> usize {
        self.collect_releases();
        self.retained.len()
    }

    fn collect_releases(&mut self) {
        let releases = std::mem::take(&mut self.shared.lock().releases);
        self.apply_releases(releases);
    }

    fn apply_releases(&mut self, releases: Vec<(String, u64)>) {
        for (owner, id) in releases {
            if self.retained.get(&id).is_some_and(|retained| retained.owner.as_str() == owner) {
                self.retained.remove(&id);
            }
        }
    }

    /// Where handler errors go. Without a reporter they are kept for
    /// [`EventLoop::take_reported`].
    pub fn set_reporter(&mut self, reporter: Option<ErrorReporter>) {
        self.reporter = reporter;
    }

    /// Handler errors kept because no reporter was set.
    pub fn take_reported(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.reported)
    }

    /// Starts a timer calling `function` after `delay`, and then every `every` if given.
    pub(crate) fn add_timer(
        &mut self,
        site: Location,
        delay: Duration,
        every: Option<Duration>,
        function: Value,
        handle: Value,
    ) {
        let due = Instant::now().checked_add(delay).unwrap_or_else(far_future);
        self.timers.push(Timer { id: self.next_timer, site, due, every, function, handle });
    }

    /// A new timer id.
    pub(crate) fn timer_id(&mut self) -> u64 {
        self.next_timer += 1;
        self.next_timer
    }

    /// Ends a timer; false if it is not running (fired already, or cancelled).
    pub(crate) fn cancel_timer(&mut self, id: u64) -> bool {
        let before = self.timers.len();
        self.timers.retain(|timer| timer.id != id);
        self.timers.len() != before
    }

    /// Timers running now.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    fn take_due(&mut self, now: Instant) -> Option<Timer> {
        let index = self.timers.iter().enumerate().filter(|(_, t)| t.due <= now).min_by_key(|(_, t)| t.due)?.0;
        Some(self.timers.swap_remove(index))
    }

    fn next_due(&self) -> Option<Instant> {
        self.timers.iter().map(|timer| timer.due).min()
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 86_400)
}

impl Runtime {
    /// The event loop (retained functions, timers, handler errors).
    pub fn events(&mut self) -> &mut EventLoop {
        &mut self.events
    }

    /// The thread-safe handle of the event loop.
    pub fn event_sender(&self) -> EventSender {
        self.events.sender()
    }

    /// Reports the error of a handler the loop ran (a job's or a timer's function): to the
    /// reporter, with its script location. `context` says who called the handler.
    pub fn report_handler_error(&mut self, error: &RuntimeError, context: &str) {
        let diagnostic = error.to_diagnostic(self.sources()).with_note(context.to_string());
        match self.events.reporter.clone() {
            Some(reporter) => reporter(&diagnostic, self.sources()),
            None => self.events.reported.push(diagnostic),
        }
    }

    /// Runs the event loop on this thread until no service, timer or posted job is left
    /// ([`LoopEnd::Idle`]), a stop was asked for ([`LoopEnd::Stopped`]) or `until` passes
    /// ([`LoopEnd::TimedOut`]).
    pub fn run_events(&mut self, until: Option<Instant>) -> LoopEnd {
        let shared = self.events.shared.clone();
        *shared.interrupt.lock().unwrap_or_else(|p| p.into_inner()) = self.options.interrupt.clone();
        let end = self.event_loop(&shared, until);
        if end == LoopEnd::Stopped {
            self.events.timers.clear();
            let mut state = shared.lock();
            state.finished = true;
            drop(state);
            shared.wake.notify_all();
        }
        end
    }

    fn event_loop(&mut self, shared: &Arc<Shared>, until: Option<Instant>) -> LoopEnd {
        // Every job queued when the loop looks is taken in one go and run before the lock is
        // taken again: a busy server's requests cost one lock round per batch, not per job.
        let mut batch = Batch { jobs: VecDeque::new(), shared };
        let mut idle_yields = 0;
        loop {
            let (releases, stopping) = {
                let mut state = shared.lock();
                std::mem::swap(&mut batch.jobs, &mut state.queue);
                (std::mem::take(&mut state.releases), state.stopping)
            };
            self.events.apply_releases(releases);
            if let Some(stopped_at) = stopping {
                self.events.timers.clear();
                if batch.jobs.is_empty() {
                    return LoopEnd::Stopped;
                }
                let grace = *shared.grace.lock().unwrap_or_else(|p| p.into_inner());
                while let Some(job) = batch.jobs.pop_front() {
                    if Instant::now() < stopped_at + grace {
                        job.run(self);
                    } else {
                        job.cancel("tusk is shutting down: the grace period ended before this call ran");
                    }
                }
                continue;
            }
            if !batch.jobs.is_empty() {
                idle_yields = 0;
                while let Some(job) = batch.jobs.pop_front() {
                    if shared.stop_requested.load(Ordering::SeqCst) {
                        // The rest goes back to the queue's front, for the stopping rules.
                        batch.jobs.push_front(job);
                        batch.give_back();
                        break;
                    }
                    // Due timers run before the next job.
                    if !self.events.timers.is_empty() {
                        while let Some(timer) = self.events.take_due(Instant::now()) {
                            self.fire(timer, Instant::now());
                        }
                    }
                    job.run(self);
                }
                continue;
            }
            if let Some(timer) = self.events.take_due(Instant::now()) {
                self.fire(timer, Instant::now());
                continue;
            }
            let mut state = shared.lock();
            if !state.queue.is_empty() || state.stopping.is_some() {
                // Posted (or stopped) since the queue was looked at: the generation already
                // counts it, so waiting for the next one would miss it.
                continue;
            }
            if state.services.is_empty() && self.events.timers.is_empty() {
                return LoopEnd::Idle;
            }
            let deadline = match (self.events.next_due(), until) {
                (Some(due), Some(until)) => Some(due.min(until)),
                (due, until) => due.or(until),
            };
            if until.is_some_and(|until| Instant::now() >= until) {
                return LoopEnd::TimedOut;
            }
            if idle_yields < YIELDS_BEFORE_PARKING {
                idle_yields += 1;
                drop(state);
                std::thread::yield_now();
                continue;
            }
            let seen = state.generation;
            state.waiting = true;
            while state.generation == seen {
                match deadline {
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        state = shared.wake.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
                    }
                    None => state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
                }
            }
            state.waiting = false;
        }
    }

    fn fire(&mut self, mut timer: Timer, now: Instant) {
        let args = match &timer.function {
            Value::Func(function) if function.arity() == Some(0) => Vec::new(),
            _ => vec![timer.handle.clone()],
        };
        let function = timer.function.clone();
        let site = timer.site;
        let repeats = timer.every.is_some();
        if let Some(every) = timer.every {
            // The next tick counts from this one's due time (no drift), but never in the past:
            // a slow handler skips ticks instead of running them back to back.
            timer.due = (timer.due + every).max(now);
            self.events.timers.push(timer);
        }
        if let Err(error) = self.call_at(&function, &args, site) {
            let context =
                if repeats { "in a timer's function (the timer keeps running)" } else { "in a timer's function" };
            self.report_handler_error(&error, context);
        }
    }

    /// Calls a function value from the loop, as if from `site` (where it was handed over).
    pub fn call_at(&mut self, function: &Value, args: &[Value], site: Location) -> Result<Value, RuntimeError> {
        let module = match function {
            Value::Func(f) => match &**f {
                crate::function::Function::Closure(closure) => closure.module.clone(),
                crate::function::Function::Native(_) => Rc::new(Module::default()),
            },
            _ => Rc::new(Module::default()),
        };
        Interpreter::new(self, module).call_value(function, args, site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    struct Record(Arc<Mutex<Vec<String>>>, &'static str);

    impl Job for Record {
        fn run(self: Box<Self>, _runtime: &mut Runtime) {
            self.0.lock().unwrap().push(format!("ran {}", self.1));
        }
        fn cancel(self: Box<Self>, reason: &str) {
            self.0.lock().unwrap().push(format!("cancelled {}: {reason}", self.1));
        }
    }

    #[test]
    fn jobs_from_another_thread_run_in_order_until_the_last_service_ends() {
        let mut runtime = Runtime::new(Options::default());
        let sender = runtime.event_sender();
        let log = Arc::new(Mutex::new(Vec::new()));
        let service = sender.start_service("test", "worker").unwrap();
        let worker = {
            let log = log.clone();
            std::thread::spawn(move || {
                for name in ["a", "b", "c"] {
                    assert!(sender.post(Box::new(Record(log.clone(), name))).is_ok());
                    std::thread::sleep(Duration::from_millis(5));
                }
                sender.end_service(service);
            })
        };
        assert_eq!(runtime.run_events(Some(Instant::now() + Duration::from_secs(10))), LoopEnd::Idle);
        worker.join().unwrap();
        assert_eq!(*log.lock().unwrap(), ["ran a", "ran b", "ran c"]);
    }

    #[test]
    fn a_stop_refuses_new_work_and_cancels_what_is_past_the_grace_period() {
        let mut runtime = Runtime::new(Options::default());
        let sender = runtime.event_sender();
        let log = Arc::new(Mutex::new(Vec::new()));
        sender.start_service("test", "worker").unwrap();
        assert!(sender.post(Box::new(Record(log.clone(), "queued"))).is_ok());
        sender.set_grace(Duration::ZERO);
        assert!(sender.stop());
        assert!(!sender.stop());
        let Err(refused) = sender.post(Box::new(Record(log.clone(), "late"))) else { panic!("posted while stopping") };
        refused.cancel(SHUTTING_DOWN);
        assert_eq!(sender.start_service("test", "late").unwrap_err(), SHUTTING_DOWN);
        assert_eq!(runtime.run_events(None), LoopEnd::Stopped);
        let log = log.lock().unwrap();
        assert_eq!(log[0], format!("cancelled late: {SHUTTING_DOWN}"));
        assert_eq!(log[1], "cancelled queued: tusk is shutting down: the grace period ended before this call ran");
    }

    /// Asks the loop to stop (with no grace) when it runs.
    struct StopNow(EventSender, Arc<Mutex<Vec<String>>>);

    impl Job for StopNow {
        fn run(self: Box<Self>, _runtime: &mut Runtime) {
            self.0.set_grace(Duration::ZERO);
            assert!(self.0.stop());
            self.1.lock().unwrap().push("ran stop".to_string());
        }
        fn cancel(self: Box<Self>, reason: &str) {
            self.1.lock().unwrap().push(format!("cancelled stop: {reason}"));
        }
    }

    #[test]
    fn a_stop_during_a_batch_sends_the_rest_of_it_through_the_stopping_rules() {
        let mut runtime = Runtime::new(Options::default());
        let sender = runtime.event_sender();
        let log = Arc::new(Mutex::new(Vec::new()));
        sender.start_service("test", "worker").unwrap();
        // Queued before the loop runs: one batch, whose first job stops the loop.
        assert!(sender.post(Box::new(Record(log.clone(), "a"))).is_ok());
        assert!(sender.post(Box::new(StopNow(sender.clone(), log.clone()))).is_ok());
        assert!(sender.post(Box::new(Record(log.clone(), "b"))).is_ok());
        assert!(sender.post(Box::new(Record(log.clone(), "c"))).is_ok());
        assert_eq!(runtime.run_events(None), LoopEnd::Stopped);
        let late = "tusk is shutting down: the grace period ended before this call ran";
        assert_eq!(
            *log.lock().unwrap(),
            [
                "ran a".to_string(),
                "ran stop".to_string(),
                format!("cancelled b: {late}"),
                format!("cancelled c: {late}")
            ]
        );
    }

    #[test]
    fn retained_functions_belong_to_their_holder_and_go_when_released() {
        let mut runtime = Runtime::new(Options::default());
        let site = Location::new(runtime.add_source("<test>", ""), tusk_diagnostics::Span::default());
        let id = runtime.events().retain("a", Value::Int(1), site);
        assert!(matches!(runtime.events().retained("a", id), Ok((Value::Int(1), _))));
        assert_eq!(
            runtime.events().retained("b", id).unwrap_err(),
            format!("`b` holds no retained function {id} (it was released, or never retained)")
        );
        let sender = runtime.event_sender();
        let other = sender.clone();
        std::thread::spawn(move || other.release("b", id)).join().unwrap();
        assert_eq!(runtime.events().retained_count(), 1, "only its holder releases it");
        std::thread::spawn(move || sender.release("a", id)).join().unwrap();
        assert_eq!(runtime.events().retained_count(), 0);
    }

    #[test]
    fn a_time_limit_ends_the_loop_while_a_service_runs() {
        let mut runtime = Runtime::new(Options::default());
        runtime.event_sender().start_service("test", "forever").unwrap();
        let started = Instant::now();
        assert_eq!(runtime.run_events(Some(started + Duration::from_millis(30))), LoopEnd::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
