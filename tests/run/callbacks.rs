//! Guarantee 3: a panic in any user callback never reaches the caller; it goes to the error hook
//! with the operation's name and is counted.

use std::sync::{Arc, Mutex};

use darklaunch::publish::Recorder;
use darklaunch::{CallbackError, Experiment, ExperimentResult, Operation, Sampler, Verdict};

use crate::common;

fn quiet_panics() {
    common::silence_expected_panics(&[" bug"]);
}

/// A hook that keeps every error it receives.
fn hook() -> (
    Arc<Mutex<Vec<CallbackError>>>,
    impl Fn(&CallbackError) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |error: &CallbackError| {
        sink.lock().unwrap().push(error.clone())
    })
}

fn operations(seen: &Mutex<Vec<CallbackError>>) -> Vec<Operation> {
    seen.lock().unwrap().iter().map(|e| e.operation).collect()
}

#[test]
fn a_panicking_comparator_is_reported_and_the_run_counts_as_a_mismatch() {
    quiet_panics();
    let (seen, on_error) = hook();
    let experiment: Experiment<u8> = Experiment::builder("bad-compare")
        .compare(|_, _| panic!("comparator bug"))
        .on_error(on_error)
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 1), 1);
    let errors = seen.lock().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].operation, Operation::Compare);
    assert_eq!(errors[0].message, "comparator bug");
    assert_eq!(errors[0].candidate.as_deref(), Some("candidate"));
    assert_eq!(&*errors[0].experiment, "bad-compare");
    let stats = experiment.stats();
    assert_eq!(stats.callback_errors_by(Operation::Compare), 1);
    assert_eq!(stats.mismatched, 1);
}

#[test]
fn a_panicking_error_comparator_is_reported() {
    quiet_panics();
    let (seen, on_error) = hook();
    let experiment: Experiment<u8, String> = Experiment::builder("bad-error-compare")
        .compare_errors(|_, _| panic!("error comparator bug"))
        .on_error(on_error)
        .build()
        .unwrap();
    assert_eq!(
        experiment.run(|| Err("x".to_string()), || Err("x".to_string())),
        Err("x".to_string())
    );
    assert_eq!(operations(&seen), [Operation::CompareErrors]);
}

#[test]
fn a_panicking_publisher_is_reported_and_the_others_still_publish() {
    quiet_panics();
    let (seen, on_error) = hook();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("bad-publisher")
        .publisher(|_: &ExperimentResult<u8>| panic!("publisher bug"))
        .publisher(recorder.clone())
        .on_error(on_error)
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 2), 1);
    assert_eq!(operations(&seen), [Operation::Publish]);
    assert_eq!(
        recorder.len(),
        1,
        "the second publisher still received the run"
    );
    let stats = experiment.stats();
    assert_eq!((stats.published, stats.publish_failed), (0, 1));
    assert!(stats.reconciles());
}

#[test]
fn a_panicking_cleaner_is_reported_and_nothing_uncleaned_is_published() {
    quiet_panics();
    let (seen, on_error) = hook();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("bad-cleaner")
        .clean(|_| panic!("cleaner bug"))
        .publisher(recorder.clone())
        .on_error(on_error)
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 1), 1);
    assert!(operations(&seen).iter().all(|op| *op == Operation::Clean));
    assert_eq!(
        operations(&seen).len(),
        2,
        "control and candidate cleaning both failed"
    );
    assert!(recorder.is_empty());
    assert_eq!(experiment.stats().publish_failed, 1);
}

#[test]
fn a_panicking_ignore_rule_is_reported_and_does_not_ignore() {
    quiet_panics();
    let (seen, on_error) = hook();
    let experiment: Experiment<u8> = Experiment::builder("bad-ignore")
        .ignore(|_, _| panic!("ignore bug"))
        .on_error(on_error)
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 2), 1);
    assert_eq!(operations(&seen), [Operation::Ignore]);
    assert_eq!(experiment.stats().mismatched, 1);
}

#[test]
fn a_panicking_sampler_condition_is_reported_and_samples_out() {
    quiet_panics();
    let (seen, on_error) = hook();
    let candidate_ran = Arc::new(Mutex::new(false));
    let experiment: Experiment<u8> = Experiment::builder("bad-sampler")
        .sampler(Sampler::when(|| panic!("sampler bug")))
        .on_error(on_error)
        .build()
        .unwrap();
    let ran = candidate_ran.clone();
    assert_eq!(
        experiment.run(
            || 1,
            move || {
                *ran.lock().unwrap() = true;
                1
            }
        ),
        1
    );
    assert_eq!(operations(&seen), [Operation::Sampler]);
    assert!(!*candidate_ran.lock().unwrap());
    assert_eq!(experiment.stats().sampled, 0);
}

#[test]
fn a_panicking_before_run_is_reported_and_runs_only_the_control() {
    quiet_panics();
    let (seen, on_error) = hook();
    let experiment: Experiment<u8> = Experiment::builder("bad-setup")
        .before_run(|| panic!("setup bug"))
        .on_error(on_error)
        .build()
        .unwrap();
    let mut candidate_ran = false;
    assert_eq!(
        experiment.run(
            || 1,
            || {
                candidate_ran = true;
                1
            }
        ),
        1
    );
    assert!(!candidate_ran);
    assert_eq!(operations(&seen), [Operation::BeforeRun]);
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled), (1, 0));
    assert!(stats.reconciles());
}

#[test]
fn a_panicking_hook_is_swallowed_and_the_error_still_counted() {
    quiet_panics();
    let experiment: Experiment<u8> = Experiment::builder("bad-hook")
        .compare(|_, _| panic!("comparator bug"))
        .on_error(|_| panic!("hook bug"))
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 1), 1);
    assert_eq!(experiment.stats().callback_errors, 1);
}

#[test]
fn a_duplicate_candidate_name_is_reported_and_not_run() {
    let (seen, on_error) = hook();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("duplicate-names")
        .publisher(recorder.clone())
        .on_error(on_error)
        .build()
        .unwrap();
    let mut second_ran = false;
    let mut control_named_ran = false;
    let value = experiment
        .trial()
        .control(|| 1)
        .candidate("v2", || 1)
        .candidate("v2", || {
            second_ran = true;
            2
        })
        .candidate("control", || {
            control_named_ran = true;
            3
        })
        .run();
    assert_eq!(value, 1);
    assert!(!second_ran && !control_named_ran);
    assert_eq!(operations(&seen), [Operation::Trial, Operation::Trial]);
    let result = &recorder.results()[0];
    assert_eq!(result.candidates().len(), 1);
    assert_eq!(result.candidates()[0].verdict(), Verdict::Match);
}

#[test]
fn publishers_hear_of_shed_runs() {
    struct CountSheds(Arc<Mutex<Vec<String>>>);
    impl darklaunch::Publisher<u8> for CountSheds {
        fn publish(&self, _: &ExperimentResult<u8>) {}
        fn shed(&self, experiment: &str) {
            self.0.lock().unwrap().push(experiment.to_string());
        }
    }
    let sheds = Arc::new(Mutex::new(Vec::new()));
    let experiment: Experiment<u8> = Experiment::builder("sheds")
        .max_in_flight(1)
        .publisher(CountSheds(sheds.clone()))
        .build()
        .unwrap();
    // The candidate runs the experiment again while its own run holds the only slot.
    let value = experiment.run(|| 1, || experiment.run(|| 2, || 2));
    assert_eq!(value, 1);
    assert_eq!(*sheds.lock().unwrap(), ["sheds"]);
    let stats = experiment.stats();
    assert_eq!((stats.sampled, stats.shed, stats.published), (2, 1, 1));
}

/// Every callback that can panic, each in an experiment of its own, in every run form: the
/// panic is counted under its operation, exactly once per run, and nowhere else.
#[tokio::test]
async fn every_callback_panic_is_counted_under_its_operation_in_every_run_form() {
    quiet_panics();
    type Case = (Operation, fn() -> Experiment<u8, String>);
    let cases: [Case; 7] = [
        (Operation::Compare, || {
            Experiment::builder("c")
                .compare(|_: &u8, _: &u8| panic!("compare bug"))
                .build()
                .unwrap()
        }),
        (Operation::CompareErrors, || {
            Experiment::builder("ce")
                .compare_errors(|_: &String, _: &String| panic!("compare_errors bug"))
                .build()
                .unwrap()
        }),
        (Operation::Ignore, || {
            Experiment::builder("i")
                .ignore(|_, _| panic!("ignore bug"))
                .build()
                .unwrap()
        }),
        (Operation::Clean, || {
            Experiment::builder("cl")
                .clean(|_| panic!("clean bug"))
                .build()
                .unwrap()
        }),
        (Operation::Sampler, || {
            Experiment::builder("s")
                .sampler(Sampler::when(|| panic!("sampler bug")))
                .build()
                .unwrap()
        }),
        (Operation::BeforeRun, || {
            Experiment::builder("b")
                .before_run(|| panic!("before_run bug"))
                .build()
                .unwrap()
        }),
        (Operation::Publish, || {
            Experiment::builder("p")
                .publisher(|_: &ExperimentResult<u8, String>| panic!("publisher bug"))
                .build()
                .unwrap()
        }),
    ];
    for (operation, make) in cases {
        let experiment = make();
        // Values that mismatch (so compare and ignore are asked), and errors that differ (so
        // compare_errors is asked), in each form.
        let value = |v: u8| -> Result<u8, String> { Ok(v) };
        let error = |e: &str| -> Result<u8, String> { Err(e.to_string()) };
        let (control, candidate) = if operation == Operation::CompareErrors {
            (error("a"), error("b"))
        } else {
            (value(1), value(2))
        };
        let (c1, k1) = (control.clone(), candidate.clone());
        assert_eq!(experiment.run(|| c1, || k1), control);
        let (c2, k2) = (control.clone(), candidate.clone());
        assert_eq!(
            experiment
                .trial()
                .control(|| c2)
                .candidate("v2", || k2)
                .run(),
            control
        );
        let (c3, k3) = (control.clone(), candidate.clone());
        assert_eq!(
            experiment.run_async(async { c3 }, async { k3 }).await,
            control
        );
        let (c4, k4) = (control.clone(), candidate.clone());
        assert_eq!(
            experiment.run_detached(async { c4 }, async { k4 }).await,
            control
        );
        let (c5, k5) = (control.clone(), candidate.clone());
        assert_eq!(experiment.run_detached_blocking(|| c5, || k5), control);
        let (c6, k6) = (control.clone(), candidate.clone());
        assert_eq!(
            experiment
                .trial()
                .control(async { c6 })
                .candidate("v2", async { k6 })
                .run_async()
                .await,
            control
        );
        let (c7, k7) = (control.clone(), candidate.clone());
        assert_eq!(
            experiment
                .trial()
                .control(async { c7 })
                .candidate("v2", async { k7 })
                .run_detached()
                .await,
            control
        );
        let (c8, k8) = (control.clone(), candidate.clone());
        assert_eq!(
            experiment
                .trial()
                .control(|| c8)
                .candidate("v2", || k8)
                .run_detached_blocking(),
            control
        );
        let report = experiment.flush(std::time::Duration::from_secs(10)).await;
        assert!(report.is_complete(), "{operation}: {report}");
        // `clean` is called for the control's value and the candidate's: two panics a run.
        let per_run = if operation == Operation::Clean { 2 } else { 1 };
        let stats = experiment.stats();
        assert_eq!(
            stats.callback_errors_by(operation),
            8 * per_run,
            "{operation}: {stats:?}"
        );
        assert_eq!(
            stats.callback_errors,
            8 * per_run,
            "{operation}: only there: {stats:?}"
        );
        assert!(stats.reconciles(), "{operation}: {stats:?}");
        // `Debug` names each operation's count.
        let debug = format!("{stats:?}");
        assert!(
            debug.contains(&format!("\"{operation}\": {}", 8 * per_run)),
            "{debug}"
        );
    }
}
