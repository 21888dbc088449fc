//! Guarantee 4: candidates never run when the call is sampled out, and nothing is allocated or
//! timed then. Plus the samplers' statistics and stickiness.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common;

use darklaunch::publish::Recorder;
use darklaunch::{Clock, Experiment, ManualClock, Sampler};

fn sampled_out_experiment(clock: &ManualClock, recorder: &Recorder<u64>) -> Experiment<u64> {
    Experiment::builder("sampled-out")
        .sampler(Sampler::never())
        .clock(Clock::manual(clock))
        .publisher(recorder.clone())
        .build()
        .unwrap()
}

#[test]
fn sampled_out_calls_never_run_the_candidate_nor_read_the_clock() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment = sampled_out_experiment(&clock, &recorder);
    let candidate_runs = AtomicUsize::new(0);
    let reads_before = clock.reads();
    for i in 0..1_000u64 {
        let value = experiment.run(
            || i,
            || {
                candidate_runs.fetch_add(1, Ordering::SeqCst);
                i
            },
        );
        assert_eq!(value, i);
        let value = experiment
            .trial()
            .key(i)
            .context("i", i)
            .control(|| i)
            .candidate("a", || {
                candidate_runs.fetch_add(1, Ordering::SeqCst);
                i
            })
            .run();
        assert_eq!(value, i);
    }
    assert_eq!(candidate_runs.load(Ordering::SeqCst), 0);
    assert_eq!(
        clock.reads(),
        reads_before,
        "no clock read when sampled out"
    );
    assert!(recorder.is_empty());
    let stats = experiment.stats();
    assert_eq!(
        (stats.runs, stats.sampled, stats.sampled_out()),
        (2_000, 0, 2_000)
    );
}

#[test]
fn sampled_out_calls_allocate_nothing() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment = sampled_out_experiment(&clock, &recorder);
    let keyed: Experiment<u64> = Experiment::builder("sampled-out-keyed")
        .sampler(Sampler::keyed(0.0).and(Sampler::percent(50.0)))
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let info = allocation_counter::measure(|| {
        for i in 0..100u64 {
            experiment.run(|| i, || i + 1);
            keyed
                .trial()
                .key("user-42")
                .context("route", "/checkout")
                .context("attempt", i)
                .control(|| i)
                .candidate("v2", || i + 1)
                .candidate("v3", || i + 2)
                .run();
            runtime.block_on(experiment.run_async(async { i }, async { i + 1 }));
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn sampled_in_calls_do_allocate_so_the_counter_works() {
    let experiment: Experiment<u64> = Experiment::builder("sampled-in").build().unwrap();
    let info = allocation_counter::measure(|| {
        experiment.run(|| 1, || 1);
    });
    assert!(info.count_total > 0);
}

#[test]
fn percent_sampling_lands_within_statistical_tolerance() {
    for percent in [1.0, 10.0, 50.0] {
        let experiment: Experiment<u8> = Experiment::builder("percent")
            .sampler(Sampler::percent(percent))
            .build()
            .unwrap();
        let n = 200_000u64;
        for _ in 0..n {
            experiment.run(|| 1, || 1);
        }
        let p = percent / 100.0;
        let expected = n as f64 * p;
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        let sampled = experiment.stats().sampled as f64;
        // Six standard deviations: a false failure about once in 500 million runs.
        assert!(
            (sampled - expected).abs() < 6.0 * sigma,
            "{percent} %: sampled {sampled}, expected {expected} ± {}",
            6.0 * sigma
        );
    }
}

#[test]
fn keyed_sampling_is_sticky_and_rate_accurate() {
    let experiment: Experiment<u8> = Experiment::builder("keyed")
        .sampler(Sampler::keyed(20.0))
        .build()
        .unwrap();
    let decisions: Vec<bool> = (0..50_000u32)
        .map(|user| experiment.samples(&user))
        .collect();
    for _ in 0..3 {
        let again: Vec<bool> = (0..50_000u32)
            .map(|user| experiment.samples(&user))
            .collect();
        assert_eq!(decisions, again);
    }
    let share = decisions.iter().filter(|d| **d).count() as f64 / decisions.len() as f64;
    assert!((share - 0.20).abs() < 0.01, "{share}");

    // The trial's key gives the same decision as `samples`.
    let candidate_runs = Arc::new(AtomicUsize::new(0));
    for user in 0..2_000u32 {
        let runs = candidate_runs.clone();
        experiment
            .trial()
            .key(user)
            .control(|| 1)
            .candidate("v2", move || {
                runs.fetch_add(1, Ordering::SeqCst);
                1
            })
            .run();
    }
    let expected = decisions[..2_000].iter().filter(|d| **d).count();
    assert_eq!(candidate_runs.load(Ordering::SeqCst), expected);
}

#[test]
fn keyed_sampling_differs_between_experiments_and_follows_the_salt() {
    let build = |name: &str, salt: Option<&str>| {
        let builder = Experiment::<u8>::builder(name).sampler(Sampler::keyed(50.0));
        match salt {
            Some(salt) => builder.sampling_salt(salt),
            None => builder,
        }
        .build()
        .unwrap()
    };
    let a = build("alpha", None);
    let b = build("beta", None);
    let renamed = build("alpha-renamed", Some("alpha"));
    let keys: Vec<String> = (0..2_000).map(|i| format!("user-{i}")).collect();
    let decide = |e: &Experiment<u8>| {
        keys.iter()
            .map(|k| e.samples(k.as_str()))
            .collect::<Vec<_>>()
    };
    assert_ne!(decide(&a), decide(&b), "independent cohorts per experiment");
    assert_eq!(decide(&a), decide(&renamed), "the salt keeps the cohort");
}

#[test]
fn the_kill_switch_stops_new_candidates_immediately() {
    let (sampler, handle) = Sampler::runtime(100.0);
    let experiment: Experiment<u8> = Experiment::builder("kill")
        .sampler(sampler)
        .build()
        .unwrap();
    let candidate_runs = Arc::new(AtomicUsize::new(0));
    let run = |experiment: &Experiment<u8>| {
        let runs = candidate_runs.clone();
        experiment.run(
            || 1,
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
                1
            },
        );
    };
    run(&experiment);
    assert_eq!(candidate_runs.load(Ordering::SeqCst), 1);
    // Killed from another thread; the very next call sees it.
    let remote = handle.clone();
    std::thread::spawn(move || remote.kill()).join().unwrap();
    for _ in 0..1_000 {
        run(&experiment);
    }
    assert_eq!(candidate_runs.load(Ordering::SeqCst), 1);
    handle.resume();
    run(&experiment);
    assert_eq!(candidate_runs.load(Ordering::SeqCst), 2);
}

/// Printed by the child process of `keyed_decisions_are_the_same_in_another_process`.
fn keyed_decisions_line() -> String {
    let experiment: Experiment<u8> = Experiment::builder("cross-process")
        .sampler(Sampler::keyed(30.0))
        .build()
        .unwrap();
    (0..256u32)
        .map(|user| {
            if experiment.samples(&format!("user-{user}")) {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

#[test]
fn print_keyed_decisions_for_the_parent_process() {
    if std::env::var_os("DARKLAUNCH_KEYED_CHILD").is_some() {
        println!("DECISIONS={}", keyed_decisions_line());
    }
}

#[test]
fn keyed_decisions_are_the_same_in_another_process() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            // Its name in this binary: its module, then its function.
            "sampling::print_keyed_decisions_for_the_parent_process",
            "--nocapture",
        ])
        .env("DARKLAUNCH_KEYED_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let child = stdout
        .lines()
        .find_map(|line| line.strip_prefix("DECISIONS="))
        .unwrap_or_else(|| panic!("the child printed no decisions: {stdout}"));
    assert_eq!(child, keyed_decisions_line());
}

#[test]
fn the_stable_key_hash_never_changes() {
    // Pinned values: a change here would move every keyed cohort of every user. They equal
    // XXH3-64(b"user-42\xff", seed = XXH3-64(b"pricing-v2")) and XXH3-64 of 42 as eight
    // little-endian bytes, as computed by the reference implementation (Python's `xxhash`).
    assert_eq!(
        darklaunch::stable_key_hash("pricing-v2", "user-42"),
        darklaunch::stable_key_hash("pricing-v2", &String::from("user-42")),
    );
    assert_eq!(
        darklaunch::stable_key_hash("pricing-v2", "user-42"),
        PINNED_STR
    );
    assert_eq!(
        darklaunch::stable_key_hash("pricing-v2", &42u64),
        PINNED_U64
    );
}
const PINNED_STR: u64 = 13_614_631_556_030_689_596;
const PINNED_U64: u64 = 18_173_829_067_514_733_700;

/// Keyed decisions pinned for a fixed experiment name, 400 keys and six rates: the whole
/// hash-to-decision mapping, not only the hash. **Changing this table is a breaking change
/// for every fleet**: on upgrade, every instance would put a different cohort of users in the
/// dark launch (and a served share would switch users back and forth). `keyed` and
/// `runtime_keyed` must agree with it, and a runtime rate change must land on the same cohort.
const GOLDEN_EXPERIMENT: &str = "golden-cohorts";
const GOLDEN_KEYED: [(f64, &str); 6] = [
    (0.1, "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"),
    (1.0, "0000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000001000000000000000000100000000000000000000000000000010000000000000000000000000000000000000000000000000000000001000000000000000000000000000000000000000000000000"),
    (5.0, "1000000100000000000000000000000000000000000000000000000000110000000000000010000000001000000010000000000000000000000000001000000000000000000000000000000000000000000000000010001000000000010000000000000000000000000000000000000000000000000000000001000100000000000000100000000000001000000000000000011000000000000000000000000000000000000000000000000000000001000000100000000000000000000000000000000000000000"),
    (25.0, "1000000111000010100000110110000010110000110000001010010101110000100010000110000000001001010010010010000111100100101000001000001010100000010000010000000100000000000100100011101100000000111110000001000100101001010001110101100000000000010001001011000100111010100101100101100000001010000000000000011001010000000010000001001100000001001010001010000000000101110000100000000000000000000000001010000100010000"),
    (50.0, "1000000111011110101000110111000010111100111001001010010101110011110011100111100011001101111110010010001111101110101101011100111110100100010000011001111100000111100100100111111100010000111110001011000111101001110011110101101000100000011001001111010110111010100111111101100010101010000110000000011001111000100011011101111100010111101111001010001000000101110110101001110101010000001010101111011110010010"),
    (90.0, "1111110111111110111111111111111111111111111111111111011111111111110111100111111011111101111111111110111111111111111111111111111110111111111111111101111111110111110110110111111111111011111110001011110111111001111011111111111111110111111111011111010111111111111111111111110111111111111111111111111101111111110111111111111111111111111111111111101101111111110111111111111111011111111111111111011111111111"),
];

fn golden_decisions(experiment: &Experiment<u64>) -> String {
    (0..400)
        .map(|i| {
            if experiment.samples(&format!("user-{i}")) {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

#[test]
fn keyed_decisions_match_the_golden_table_for_every_keyed_sampler() {
    for (percent, expected) in GOLDEN_KEYED {
        let keyed: Experiment<u64> = Experiment::builder(GOLDEN_EXPERIMENT)
            .sampler(Sampler::keyed(percent))
            .build()
            .unwrap();
        assert_eq!(golden_decisions(&keyed), expected, "keyed({percent})");
        let (sampler, _handle) = Sampler::runtime_keyed(percent);
        let runtime: Experiment<u64> = Experiment::builder(GOLDEN_EXPERIMENT)
            .sampler(sampler)
            .build()
            .unwrap();
        assert_eq!(
            golden_decisions(&runtime),
            expected,
            "runtime_keyed({percent})"
        );
    }
    // A rate set at runtime lands on the same cohorts as the rate set at build.
    let (sampler, handle) = Sampler::runtime_keyed(0.0);
    let runtime: Experiment<u64> = Experiment::builder(GOLDEN_EXPERIMENT)
        .sampler(sampler)
        .build()
        .unwrap();
    for (percent, expected) in GOLDEN_KEYED {
        handle.set_percent(percent).unwrap();
        assert_eq!(
            golden_decisions(&runtime),
            expected,
            "set_percent({percent})"
        );
    }
}

#[test]
fn raising_a_keyed_rate_only_adds_keys() {
    for pair in GOLDEN_KEYED.windows(2) {
        let ((low, lower), (high, higher)) = (pair[0], pair[1]);
        for (i, (a, b)) in lower.chars().zip(higher.chars()).enumerate() {
            assert!(
                a == '0' || b == '1',
                "user-{i} sampled at {low} % but not at {high} %"
            );
        }
    }
}

/// A candidate future that counts how often it is polled (and never finishes).
struct CountedPolls(Arc<AtomicUsize>);

impl std::future::Future for CountedPolls {
    type Output = u64;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u64> {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::Pending
    }
}

#[test]
fn sampled_out_in_every_run_form_polls_no_candidate_allocates_nothing_and_reads_no_clock() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment = sampled_out_experiment(&clock, &recorder);
    let forms = EveryForm::new();
    let reads_before = clock.reads();
    let info = allocation_counter::measure(|| run_every_form_sampled_out(&experiment, &forms, 50));
    assert_eq!(
        info.count_total, 0,
        "sampled out allocates nothing: {info:?}"
    );
    assert_eq!(
        clock.reads(),
        reads_before,
        "no clock read when sampled out"
    );
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled), (50 * 8, 0), "{stats:?}");
    assert!(recorder.is_empty());
}

/// A manual clock cannot see a stray `Instant::now()`: on the default clock, the probe counts
/// every real clock read the library makes on this thread (all of them go through one module;
/// a lint forbids any other).
#[cfg(feature = "test-probes")]
#[test]
fn sampled_out_in_every_run_form_reads_no_real_clock() {
    use darklaunch::probe::real_clock_reads;
    let recorder = Recorder::new();
    let experiment: Experiment<u64> = Experiment::builder("sampled-out-real-clock")
        .sampler(Sampler::never())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let forms = EveryForm::new();
    let before = real_clock_reads();
    run_every_form_sampled_out(&experiment, &forms, 20);
    assert_eq!(
        real_clock_reads(),
        before,
        "a sampled-out run read a real clock"
    );
    assert!(recorder.is_empty());

    // The probe sees the reads a sampled-in run makes, so the zero above means something.
    let sampled_in: Experiment<u64> = Experiment::builder("sampled-in-real-clock")
        .build()
        .unwrap();
    let before = real_clock_reads();
    sampled_in.run(|| 1, || 1);
    assert!(
        real_clock_reads() > before,
        "the probe counts real clock reads"
    );
}

/// What `run_every_form_sampled_out` needs, made before any allocation is counted.
struct EveryForm {
    runtime: tokio::runtime::Runtime,
    polls: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
}

impl EveryForm {
    fn new() -> Self {
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            polls: Arc::new(AtomicUsize::new(0)),
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Runs every run form `rounds` times on a sampled-out `experiment` and checks that no
/// candidate was called or polled and each form returned the control's value.
fn run_every_form_sampled_out(experiment: &Experiment<u64>, forms: &EveryForm, rounds: u64) {
    let EveryForm {
        runtime,
        polls,
        runs,
    } = forms;
    for i in 0..rounds {
        let counted = || {
            runs.fetch_add(1, Ordering::SeqCst);
            i + 1
        };
        assert_eq!(experiment.run(|| i, counted), i);
        assert_eq!(
            experiment
                .trial()
                .control(|| i)
                .candidate("v2", counted)
                .run(),
            i
        );
        let blocking_runs = runs.clone();
        let blocking = move || {
            blocking_runs.fetch_add(1, Ordering::SeqCst);
            i + 1
        };
        assert_eq!(experiment.run_detached_blocking(|| i, blocking), i);
        let blocking_runs = runs.clone();
        let blocking = move || {
            blocking_runs.fetch_add(1, Ordering::SeqCst);
            i + 1
        };
        assert_eq!(
            experiment
                .trial()
                .control(|| i)
                .candidate("v2", blocking)
                .run_detached_blocking(),
            i
        );
        runtime.block_on(async {
            let value = experiment
                .run_async(async { i }, CountedPolls(polls.clone()))
                .await;
            assert_eq!(value, i);
            let value = experiment
                .trial()
                .control(async { i })
                .candidate("v2", CountedPolls(polls.clone()))
                .run_async()
                .await;
            assert_eq!(value, i);
            let value = experiment
                .run_detached(async { i }, CountedPolls(polls.clone()))
                .await;
            assert_eq!(value, i);
            let value = experiment
                .trial()
                .control(async { i })
                .candidate("v2", CountedPolls(polls.clone()))
                .run_detached()
                .await;
            assert_eq!(value, i);
        });
    }
    assert_eq!(
        polls.load(Ordering::SeqCst),
        0,
        "no candidate future was polled"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "no candidate closure was called"
    );
}

#[test]
fn a_when_sampler_follows_its_condition() {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let condition = flag.clone();
    let experiment: Experiment<u64> = Experiment::builder("when")
        .sampler(Sampler::when(move || condition.load(Ordering::SeqCst)))
        .build()
        .unwrap();
    experiment.run(|| 1, || 1);
    flag.store(true, Ordering::SeqCst);
    experiment.run(|| 1, || 1);
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled), (2, 1), "{stats:?}");
}

#[test]
fn rate_limits_up_to_u32_max_are_valid_and_beyond_are_config_errors() {
    for (per_second, valid) in [
        (1, true),
        (u64::from(u32::MAX), true),
        (u64::from(u32::MAX) + 1, false),
        (0, false),
    ] {
        let built = Experiment::<u64>::builder("rate")
            .sampler(Sampler::rate_limit(per_second))
            .build();
        assert_eq!(built.is_ok(), valid, "rate_limit({per_second})");
    }
}

/// `calls_user_code` decides whether the sampler runs under `catch_unwind`: a panicking
/// condition, alone or anywhere in an `and` chain, must never reach the caller.
#[test]
fn a_panicking_condition_anywhere_in_a_sampler_never_reaches_the_caller() {
    common::silence_expected_panics(&["condition bug"]);
    for sampler in [
        Sampler::when(|| panic!("condition bug")),
        Sampler::always().and(Sampler::when(|| panic!("condition bug"))),
        Sampler::always().and(Sampler::always().and(Sampler::when(|| panic!("condition bug")))),
    ] {
        let experiment: Experiment<u64> = Experiment::builder("panicking-condition")
            .sampler(sampler)
            .on_error(|_| {})
            .build()
            .unwrap();
        assert_eq!(experiment.run(|| 7, || 8), 7);
        let stats = experiment.stats();
        assert_eq!(stats.sampled, 0, "{stats:?}");
        assert_eq!(stats.callback_errors_by(darklaunch::Operation::Sampler), 1);
    }
}

#[test]
fn samplers_and_handles_say_what_they_are() {
    assert_eq!(format!("{:?}", Sampler::always()), "Sampler::always()");
    assert_eq!(format!("{:?}", Sampler::never()), "Sampler::never()");
    assert_eq!(
        format!("{:?}", Sampler::percent(5.0)),
        "Sampler::percent(5)"
    );
    assert_eq!(format!("{:?}", Sampler::keyed(25.0)), "Sampler::keyed(25)");
    let (_, handle) = Sampler::runtime(10.0);
    assert!(!handle.is_killed());
    assert_eq!(
        format!("{handle:?}"),
        "SamplerHandle { percent: 10.0, killed: false }"
    );
    handle.kill();
    assert!(handle.is_killed());
    handle.resume();
    assert!(!handle.is_killed());
}

/// The sampling decisions of 200 calls at 50 % and the order in which a three-candidate trial
/// ran its behaviours on the sampled ones, under `seed`.
fn seeded_history(seed: u64) -> (Vec<bool>, Vec<Vec<&'static str>>) {
    let experiment: Experiment<u64> = Experiment::builder("seeded")
        .sampler(Sampler::percent(50.0))
        .seed(seed)
        .build()
        .unwrap();
    let mut decisions = Vec::new();
    let mut orders = Vec::new();
    for i in 0..200u64 {
        let ran = std::sync::Mutex::new(Vec::new());
        let step = |name: &'static str| {
            ran.lock().unwrap().push(name);
            i
        };
        let value = experiment
            .trial()
            .control(|| step("control"))
            .candidate("a", || step("a"))
            .candidate("b", || step("b"))
            .candidate("c", || step("c"))
            .run();
        assert_eq!(value, i);
        let ran = ran.into_inner().unwrap();
        decisions.push(ran.len() > 1);
        if ran.len() > 1 {
            orders.push(ran);
        }
    }
    (decisions, orders)
}

#[test]
fn a_seeded_experiment_repeats_its_decisions_and_orders_and_another_seed_does_not() {
    let (decisions, orders) = seeded_history(42);
    assert_eq!(seeded_history(42), (decisions.clone(), orders.clone()));
    let sampled = decisions.iter().filter(|d| **d).count();
    assert!(
        (60..=140).contains(&sampled),
        "{sampled} of 200 sampled at 50 %"
    );
    let distinct: std::collections::HashSet<&Vec<&str>> = orders.iter().collect();
    assert!(
        distinct.len() > 12,
        "orders are shuffled: {} distinct",
        distinct.len()
    );
    let (other_decisions, other_orders) = seeded_history(43);
    assert_ne!(other_decisions, decisions);
    assert_ne!(other_orders, orders);
}

#[test]
fn unseeded_experiments_draw_differently() {
    let history = |_: ()| {
        let experiment: Experiment<u64> = Experiment::builder("unseeded")
            .sampler(Sampler::percent(50.0))
            .build()
            .unwrap();
        (0..128)
            .map(|_| experiment.samples(&()))
            .collect::<Vec<bool>>()
    };
    assert_ne!(history(()), history(()));
}
