//! The public seam for one sampled run (`Experiment::begin`, `begin_keyed`, `SampledRun`):
//! sampled out it costs nothing, keyed decisions are the trial's, and every way a run can end
//! is counted exactly once. `tests/run/run_forms.rs` runs the caller-facing guarantees through its
//! `run`, `run_async` and `detach`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use darklaunch::publish::Recorder;
use darklaunch::{
    Candidates, Clock, Experiment, ManualClock, Observation, Operation, Outcome, Sampler,
    SyncCandidates, Verdict,
};

use crate::common;

#[test]
fn a_sampled_out_begin_allocates_nothing_and_reads_no_clock() {
    let clock = ManualClock::new();
    let experiment: Experiment<u64> = Experiment::builder("seam-sampled-out")
        .sampler(Sampler::never())
        .clock(Clock::manual(&clock))
        .build()
        .unwrap();
    #[cfg(feature = "test-probes")]
    let real_reads = darklaunch::probe::real_clock_reads();
    let info = allocation_counter::measure(|| {
        for user in 0..100u64 {
            assert!(experiment.begin().is_none());
            assert!(experiment.begin_keyed(&user).is_none());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(clock.reads(), 0);
    #[cfg(feature = "test-probes")]
    assert_eq!(darklaunch::probe::real_clock_reads(), real_reads);
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled), (200, 0), "{stats:?}");
}

#[test]
fn begin_keyed_decides_exactly_as_a_keyed_trial_does() {
    let seam: Experiment<u64> = Experiment::builder("same-name")
        .sampler(Sampler::keyed(30.0))
        .build()
        .unwrap();
    let trial: Experiment<u64> = Experiment::builder("same-name")
        .sampler(Sampler::keyed(30.0))
        .build()
        .unwrap();
    let mut sampled = 0;
    for user in 0..1_000u32 {
        let key = format!("user-{user}");
        let by_seam = match seam.begin_keyed(key.as_str()) {
            Some(run) => {
                run.skip();
                true
            }
            None => false,
        };
        let ran = AtomicUsize::new(0);
        trial
            .trial()
            .key(key.as_str())
            .control(|| 1)
            .candidate("v2", || {
                ran.fetch_add(1, Ordering::SeqCst);
                1
            })
            .run();
        let by_trial = ran.load(Ordering::SeqCst) == 1;
        assert_eq!(by_seam, by_trial, "{key}");
        assert_eq!(by_seam, seam.samples(key.as_str()), "{key}");
        sampled += usize::from(by_seam);
    }
    assert!((250..350).contains(&sampled), "{sampled} of 1,000 at 30 %");
}

#[test]
fn every_way_a_run_ends_is_counted_once() {
    let recorder = Recorder::new();
    let experiment: Experiment<u64> = Experiment::builder("seam-ends")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    experiment.begin().unwrap().skip();
    drop(experiment.begin().unwrap());
    experiment.begin().unwrap().finish(
        Outcome::Value(4),
        Duration::from_micros(30),
        vec![
            Observation::new("same", Duration::from_micros(10), Outcome::Value(4)),
            Observation::new("other", Duration::from_micros(20), Outcome::Value(5)),
        ],
    );
    let value = experiment
        .begin()
        .unwrap()
        .context("route", "/price")
        .run(|| 7, SyncCandidates::new().candidate(|| 7));
    assert_eq!(value, 7);

    let stats = experiment.stats();
    assert_eq!(stats.runs, 4, "{stats:?}");
    assert_eq!(stats.sampled, 4, "{stats:?}");
    assert_eq!(stats.skipped, 1, "{stats:?}");
    assert_eq!(stats.dropped, 1, "{stats:?}");
    assert_eq!(stats.published, 2, "{stats:?}");
    assert_eq!((stats.matched, stats.mismatched), (2, 1), "{stats:?}");
    assert!(stats.reconciles(), "{stats:?}");

    let results = recorder.results();
    assert_eq!(results.len(), 2);
    let finished = &results[0];
    assert_eq!(finished.control().duration(), Duration::from_micros(30));
    assert_eq!(
        finished.candidate("same").unwrap().verdict(),
        Verdict::Match
    );
    let other = finished.candidate("other").unwrap();
    assert_eq!(other.verdict(), Verdict::Mismatch);
    assert_eq!(other.observation().duration(), Duration::from_micros(20));
    let ran = &results[1];
    assert_eq!(ran.candidates()[0].name(), "candidate");
    assert_eq!(ran.context().get("route").unwrap().to_string(), "/price");
}

/// A candidate future that never finishes and counts its polls.
struct Hanging(Arc<AtomicUsize>);

impl std::future::Future for Hanging {
    type Output = u64;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u64> {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::Pending
    }
}

#[tokio::test(start_paused = true)]
async fn over_max_in_flight_a_detached_run_is_shed_and_its_candidates_never_polled() {
    let recorder = Recorder::new();
    let experiment: Experiment<u64> = Experiment::builder("seam-shed")
        .max_in_flight(1)
        .candidate_timeout(Duration::from_secs(1))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let first = Arc::new(AtomicUsize::new(0));
    let shed = Arc::new(AtomicUsize::new(0));
    let run = experiment.begin().unwrap();
    assert!(run.detach(
        Outcome::Value(1),
        Duration::ZERO,
        Candidates::new().candidate(Hanging(first.clone())),
    ));
    // The first run's candidate is still in flight: the second is over the cap.
    let run = experiment.begin().unwrap();
    assert!(!run.detach(
        Outcome::Value(2),
        Duration::ZERO,
        Candidates::new().candidate(Hanging(shed.clone())),
    ));
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    assert_eq!(
        shed.load(Ordering::SeqCst),
        0,
        "a shed run's candidate was polled"
    );
    assert!(first.load(Ordering::SeqCst) > 0);
    let stats = experiment.stats();
    assert_eq!(
        (stats.shed, stats.timeouts, stats.published),
        (1, 1, 1),
        "{stats:?}"
    );
    assert!(stats.reconciles(), "{stats:?}");
    assert_eq!(recorder.len(), 1);
}

#[tokio::test]
async fn a_taken_candidate_name_is_reported_and_not_run() {
    type Reported = Vec<(Operation, Option<String>)>;
    let seen: Arc<Mutex<Reported>> = Arc::default();
    let told = seen.clone();
    let recorder = Recorder::new();
    let experiment: Experiment<u64> = Experiment::builder("seam-names")
        .on_error(move |error| {
            told.lock().unwrap().push((
                error.operation,
                error.candidate.as_deref().map(String::from),
            ))
        })
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = |value: u64| {
        let ran = ran.clone();
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
            value
        }
    };
    let value = experiment
        .begin()
        .unwrap()
        .run_async(
            async { 3 },
            Candidates::new()
                .add("control", counted(3))
                .add("v2", counted(3))
                .add("v2", counted(4)),
        )
        .await;
    assert_eq!(value, 3);
    assert_eq!(ran.load(Ordering::SeqCst), 1, "only the first v2 ran");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (Operation::Trial, Some(String::from("control"))),
            (Operation::Trial, Some(String::from("v2"))),
        ]
    );
    let results = recorder.results();
    assert_eq!(results[0].candidates().len(), 1);
    assert_eq!(results[0].candidates()[0].verdict(), Verdict::Match);
}

#[test]
fn a_panicking_before_run_gives_no_run_and_is_counted() {
    common::silence_expected_panics(&["setup bug"]);
    let experiment: Experiment<u64> = Experiment::builder("seam-before-run")
        .before_run(|| panic!("setup bug"))
        .on_error(|_| {})
        .build()
        .unwrap();
    assert!(experiment.begin().is_none());
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled), (1, 0), "{stats:?}");
    assert_eq!(stats.callback_errors_by(Operation::BeforeRun), 1);
}

#[test]
fn after_shutdown_begin_gives_no_run() {
    let experiment: Experiment<u64> = Experiment::builder("seam-closed").build().unwrap();
    assert!(experiment
        .shutdown_blocking(Duration::from_secs(1))
        .is_complete());
    assert!(experiment.begin().is_none());
    assert_eq!(experiment.stats().sampled, 0);
}

#[cfg(feature = "insight")]
#[test]
fn the_calibration_runs_only_when_the_run_calibrates() {
    use darklaunch::noise::NoiseCalibration;
    let calibrations = AtomicUsize::new(0);
    let calibrated: Experiment<u64> = Experiment::builder("seam-calibrated")
        .calibrate_noise(NoiseCalibration::new().percent(100.0))
        .build()
        .unwrap();
    let plain: Experiment<u64> = Experiment::builder("seam-plain").build().unwrap();
    for (experiment, expected) in [(&calibrated, true), (&plain, false)] {
        let run = experiment.begin().unwrap();
        assert_eq!(run.calibrates(), expected);
        let value = run.run(
            || 5,
            SyncCandidates::new().candidate(|| 5).calibration(|| {
                calibrations.fetch_add(1, Ordering::SeqCst);
                5
            }),
        );
        assert_eq!(value, 5);
    }
    assert_eq!(calibrations.load(Ordering::SeqCst), 1);
    let noise = calibrated.noise().unwrap();
    assert_eq!(noise.calibrations, 1, "{noise:?}");
    // The calibration is not a candidate.
    assert_eq!(calibrated.stats().matched, 1);
}
