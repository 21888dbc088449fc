//! Noise calibration and the insight publisher under concurrency, with exact accounting:
//! every run, comparison, calibration and mismatch is counted once, from threads and from
//! detached candidates alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use darklaunch::insight::{Insight, Report};
use darklaunch::noise::NoiseCalibration;
use darklaunch::{Experiment, Sampler, Stats};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Answer {
    value: u64,
    nonce: u64,
}

fn answer(input: u64) -> Answer {
    Answer {
        value: input * 3,
        nonce: fastrand::u64(..),
    }
}

fn defective(input: u64) -> bool {
    input % 37 == 1
}

fn rewritten(input: u64) -> Answer {
    let mut answer = answer(input);
    if defective(input) {
        answer.value += 1;
    }
    answer
}

fn experiment(name: &str, insight: &Insight<Answer>, sampler: Sampler) -> Experiment<Answer> {
    Experiment::builder(name)
        .sampler(sampler)
        .calibrate_noise(NoiseCalibration::new().percent(25.0).window(u64::MAX))
        .publisher(insight.clone())
        .build()
        .unwrap()
}

/// Checks that the stats, the noise model, the report and the calibrations all agree.
fn check(
    stats: Stats,
    report: &Report,
    noise: darklaunch::noise::NoiseSnapshot,
    inputs: &[u64],
    calibrations: u64,
) {
    assert!(stats.reconciles(), "{stats:?}");
    let sampled = stats.sampled;
    assert_eq!(stats.published, sampled, "{stats:?}");
    assert_eq!(stats.comparisons(), sampled);
    let mismatches = inputs.iter().filter(|&&i| defective(i)).count() as u64;
    // Defects are never noise; every other run differs only by its nonce. A few runs judged
    // before the first calibration finished were published as mismatches; the report judges
    // them again.
    let candidate = &report.candidates[0];
    assert_eq!(
        stats.mismatched,
        mismatches + candidate.reclassified_as_noise,
        "{stats:?}"
    );
    assert!(
        candidate.reclassified_as_noise < 20,
        "{}",
        candidate.reclassified_as_noise
    );
    assert_eq!(stats.noise + stats.mismatched, sampled, "{stats:?}");

    assert_eq!(noise.comparisons, sampled);
    assert_eq!(noise.calibrations, calibrations);
    let nonce = noise.paths.iter().find(|p| p.path == "$.nonce").unwrap();
    assert!(nonce.is_noise);
    assert_eq!(nonce.raw, sampled);
    assert_eq!(nonce.noise, calibrations);
    let value = noise.paths.iter().find(|p| p.path == "$.value").unwrap();
    assert_eq!(
        (value.raw, value.noise, value.is_noise),
        (mismatches, 0, false)
    );

    assert_eq!(report.runs, sampled);
    assert_eq!(candidate.runs, sampled);
    assert_eq!(candidate.mismatched, mismatches);
    assert_eq!(
        candidate.noise,
        stats.noise + candidate.reclassified_as_noise
    );
    assert_eq!(candidate.groups.len(), 1);
    assert_eq!(candidate.groups[0].count, mismatches);
    assert_eq!(candidate.groups[0].shape[0].path, "$.value");
    assert_eq!(report.control_latency.count, sampled);
    assert_eq!(candidate.latency.count, sampled);
    let timeline_runs: u64 = candidate.timeline.iter().map(|p| p.runs).sum();
    let timeline_mismatches: u64 = candidate.timeline.iter().map(|p| p.mismatches).sum();
    assert_eq!(
        (timeline_runs, timeline_mismatches),
        (sampled, stats.mismatched)
    );
}

#[test]
fn threads_account_for_every_run_and_calibration() {
    const THREADS: u64 = 4;
    const RUNS: u64 = 20_000;
    let insight = Insight::new();
    let experiment = experiment("stress-sync", &insight, Sampler::always());
    let calibrations = Arc::new(AtomicU64::new(0));
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let experiment = experiment.clone();
            let calibrations = calibrations.clone();
            scope.spawn(move || {
                for n in 0..RUNS {
                    let input = thread * RUNS + n;
                    let returned = experiment
                        .trial()
                        .control(|| answer(input))
                        .calibration(|| {
                            calibrations.fetch_add(1, Ordering::Relaxed);
                            answer(input)
                        })
                        .candidate("v2", || rewritten(input))
                        .run();
                    assert_eq!(returned.value, input * 3);
                }
            });
        }
    });
    let inputs: Vec<u64> = (0..THREADS * RUNS).collect();
    let calibrations = calibrations.load(Ordering::Relaxed);
    // About a quarter of the runs calibrate (plus the warm-up).
    assert!((15_000..25_000).contains(&calibrations), "{calibrations}");
    check(
        experiment.stats(),
        &insight.report(),
        experiment.noise().unwrap(),
        &inputs,
        calibrations,
    );
}

#[test]
fn detached_runs_account_for_every_run_and_calibration() {
    const TASKS: u64 = 4;
    const RUNS: u64 = 10_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let insight = Insight::new();
    let experiment = experiment("stress-detached", &insight, Sampler::percent(50.0));
    let calibrations = Arc::new(AtomicU64::new(0));
    // Counted where the defect happens, independently of the experiment and the report.
    let defects_run = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let experiment = experiment.clone();
                let calibrations = calibrations.clone();
                let defects_run = defects_run.clone();
                tokio::spawn(async move {
                    for n in 0..RUNS {
                        let input = task * RUNS + n;
                        let calibrations = calibrations.clone();
                        let defects_run = defects_run.clone();
                        let returned = experiment
                            .trial()
                            .control(async move { answer(input) })
                            .calibration(async move {
                                calibrations.fetch_add(1, Ordering::Relaxed);
                                answer(input)
                            })
                            .candidate("v2", async move {
                                if defective(input) {
                                    defects_run.fetch_add(1, Ordering::Relaxed);
                                }
                                rewritten(input)
                            })
                            .run_detached()
                            .await;
                        assert_eq!(returned.value, input * 3);
                        if n % 4 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(experiment
            .flush(Duration::from_secs(30))
            .await
            .is_complete());
    });
    let stats = experiment.stats();
    assert_eq!(stats.runs, TASKS * RUNS);
    // Which inputs were sampled is random: the candidate counted the defects it ran.
    let report = insight.report();
    let candidate = &report.candidates[0];
    let defects_run = defects_run.load(Ordering::Relaxed);
    assert!(defects_run > 0);
    assert_eq!(stats.mismatched, defects_run, "{stats:?}");
    let sampled_defects = candidate.mismatched;
    assert_eq!(
        defects_run,
        sampled_defects + candidate.reclassified_as_noise
    );
    assert!(
        candidate.reclassified_as_noise < 20,
        "{}",
        candidate.reclassified_as_noise
    );
    assert!(
        stats.sampled > 15_000 && stats.sampled < 25_000,
        "{stats:?}"
    );
    let calibrations = calibrations.load(Ordering::Relaxed);
    let noise = experiment.noise().unwrap();
    assert_eq!(noise.calibrations, calibrations);
    // Runs over the in-flight cap are shed before their candidates (and calibration) start;
    // every other sampled run is published, compared and, if drawn, calibrated.
    assert!(
        stats.reconciles() && stats.published + stats.shed == stats.sampled,
        "{stats:?}"
    );
    assert_eq!(noise.comparisons, stats.published, "{noise:?} {stats:?}");
    assert_eq!(stats.noise + stats.mismatched, stats.published);
    assert_eq!(report.runs, stats.published);
    assert_eq!(report.candidates[0].groups[0].count, sampled_defects);
    assert!(noise
        .paths
        .iter()
        .any(|p| p.path == "$.nonce" && p.is_noise && p.noise == calibrations));
}
