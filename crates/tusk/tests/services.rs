//! The embedding API of the event loop: `Engine::run_services` runs a script's timers after its
//! document and returns when none is left, a stop from another thread ends it gracefully,
//! `run_services_for` returns while services still run, handler errors go to the embedder's
//! reporter with their location, and embedders post work of their own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tusk::events::Job;
use tusk::{Engine, ServicesEnd};

fn engine_with_errors() -> (Engine, Arc<Mutex<Vec<String>>>) {
    let mut engine = Engine::new();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    engine.on_handler_error(false, move |text| sink.lock().unwrap().push(text.to_string()));
    (engine, errors)
}

#[test]
fn run_services_returns_when_the_last_timer_is_done() {
    let (mut engine, errors) = engine_with_errors();
    let printed = Arc::new(Mutex::new(Vec::new()));
    let sink = printed.clone();
    engine.on_print(move |text| sink.lock().unwrap().push(text.to_string()));
    engine
        .eval_str("a: @after(\"30ms\", () => print(\"second\"))\nb: @after(\"10ms\", () => print(\"first\"))\n")
        .unwrap();
    assert!(engine.has_services());
    let started = Instant::now();
    assert_eq!(engine.run_services(), ServicesEnd::Idle);
    assert!(started.elapsed() >= Duration::from_millis(25));
    assert_eq!(*printed.lock().unwrap(), ["first", "second"]);
    assert!(errors.lock().unwrap().is_empty());
    assert!(!engine.has_services());
}

#[test]
fn a_stop_from_another_thread_ends_the_loop() {
    let (mut engine, _) = engine_with_errors();
    engine.eval_str("t: @every(\"5ms\", () => 1)\n").unwrap();
    let services = engine.services();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        services.stop()
    });
    assert_eq!(engine.run_services(), ServicesEnd::Stopped);
    assert!(stopper.join().unwrap());
    assert!(!engine.has_services(), "a stop ends the timers");
}

#[test]
fn run_services_for_returns_while_services_run() {
    let (mut engine, _) = engine_with_errors();
    engine.eval_str("t: @every(\"5ms\", () => 1)\n").unwrap();
    assert_eq!(engine.run_services_for(Duration::from_millis(30)), ServicesEnd::TimedOut);
    assert!(engine.has_services());
}

#[test]
fn handler_errors_go_to_the_reporter_with_their_location() {
    let (mut engine, errors) = engine_with_errors();
    engine.eval_named("timers.tsk", "t: @after(\"1ms\", () => 1 / 0)\n", None).unwrap();
    assert_eq!(engine.run_services(), ServicesEnd::Idle);
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("timers.tsk:1:"), "{}", errors[0]);
    assert!(errors[0].contains("in a timer's function"), "{}", errors[0]);
}

struct Count(Arc<Mutex<Vec<String>>>, u32);

impl Job for Count {
    fn run(self: Box<Self>, runtime: &mut tusk::events::Runtime) {
        let _ = runtime;
        self.0.lock().unwrap().push(format!("ran {}", self.1));
    }
    fn cancel(self: Box<Self>, reason: &str) {
        self.0.lock().unwrap().push(format!("cancelled {}: {reason}", self.1));
    }
}

#[test]
fn embedders_post_work_from_their_threads() {
    let (mut engine, _) = engine_with_errors();
    let services = engine.services();
    let log = Arc::new(Mutex::new(Vec::new()));
    let service = services.start_service("embedder", "worker").unwrap();
    let worker = {
        let log = log.clone();
        std::thread::spawn(move || {
            for n in 0..3 {
                assert!(services.post(Box::new(Count(log.clone(), n))).is_ok());
            }
            services.end_service(service);
        })
    };
    assert_eq!(engine.run_services(), ServicesEnd::Idle);
    worker.join().unwrap();
    assert_eq!(*log.lock().unwrap(), ["ran 0", "ran 1", "ran 2"]);
}

#[test]
fn a_handler_still_running_when_the_grace_period_ends_is_interrupted() {
    let (mut engine, errors) = engine_with_errors();
    // The flag the grace period's watchdog raises.
    let interrupt = engine.interrupt_flag();
    engine
        .eval_named("slow.tsk", "t: @after(\"1ms\", () => reduce(range(0, 1000000000), 0, (a, b) => a + b))\n", None)
        .unwrap();
    let services = engine.services();
    services.set_grace(Duration::from_millis(100));
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        services.stop();
    });
    let started = Instant::now();
    assert_eq!(engine.run_services(), ServicesEnd::Stopped);
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(interrupt.load(std::sync::atomic::Ordering::SeqCst), "the watchdog raised the flag");
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("interrupted"), "{}", errors[0]);
    assert!(errors[0].contains("slow.tsk:1:"), "{}", errors[0]);
}
