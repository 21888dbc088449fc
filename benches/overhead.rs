//! What an experiment adds to a call, measured side by side in one run.
//!
//! Groups:
//! * `overhead/1us`: around a ~1 µs control — the control alone, the control and candidate
//!   called back to back (the cost a sampled-in run cannot avoid), darklaunch sampled out,
//!   sampled in (sync and `run_async`), the same through a one-candidate trial, and the peer
//!   `scientisto` on the same workload.
//! * `overhead/empty`: the same around a control that does nothing, where a few nanoseconds
//!   are not lost in the workload's own noise.
//!
//! Both groups also run the experiment with a guard on its candidate (sampled out and in) and
//! serving its candidate to every key (sampled out, where the candidate runs alone, and in).
//!
//! After criterion's report a summary prints each budget as a difference of medians:
//! sampled-out ≤ 5 ns over the bare call; sampled-in ≤ candidate's cost + 250 ns; a guard
//! ≤ 2 ns sampled out and ≤ 10 ns sampled in over the same experiment without one; serving no
//! more than the sampled-in overhead.
//!
//! Run: `cargo bench --bench overhead`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use darklaunch::guard::GuardRails;
use darklaunch::{Experiment, ExperimentResult, Sampler, ServeShare};

/// About a microsecond of dependent arithmetic on this machine kind.
fn workload(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..800u64 {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    x
}

fn nothing(seed: u64) -> u64 {
    black_box(seed)
}

fn experiment(name: &str, sampler: Sampler) -> Experiment<u64> {
    with(name, sampler, |builder| builder)
}

type Builder = darklaunch::ExperimentBuilder<u64, std::convert::Infallible>;

fn with(
    name: &str,
    sampler: Sampler,
    configure: impl FnOnce(Builder) -> Builder,
) -> Experiment<u64> {
    configure(Experiment::builder(name))
        .sampler(sampler)
        // A publisher that looks at the verdict, as a real one would.
        .publisher(|result: &ExperimentResult<u64>| {
            black_box(result.matched());
        })
        .build()
        .expect("valid configuration")
}

fn bench_group(c: &mut Criterion, group_name: &str, work: fn(u64) -> u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sampled_out = experiment("bench-sampled-out", Sampler::percent(0.0));
    let sampled_in = experiment("bench-sampled-in", Sampler::always());
    let guard = |builder: Builder| builder.guard(GuardRails::default());
    let guarded_out = with("bench-guarded-out", Sampler::percent(0.0), guard);
    let guarded_in = with("bench-guarded-in", Sampler::always(), guard);
    let serve = |builder: Builder| builder.serve(ServeShare::new(100.0));
    let served_out = with("bench-served-out", Sampler::percent(0.0), serve);
    let served_in = with("bench-served-in", Sampler::always(), serve);
    let recording = with("bench-recording", Sampler::always(), |builder| {
        builder.record_inputs(darklaunch::input::RecordInputs::new())
    });
    #[cfg(feature = "cpu-time")]
    let cpu_timed = with("bench-cpu-time", Sampler::always(), |builder| {
        builder.cpu_time(true)
    });

    let mut group = c.benchmark_group(group_name);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("control_alone", |b| b.iter(|| work(black_box(1))));
    group.bench_function("control_then_candidate", |b| {
        b.iter(|| {
            let control = work(black_box(1));
            black_box(work(black_box(1)));
            control
        })
    });
    group.bench_function("darklaunch_sampled_out", |b| {
        b.iter(|| sampled_out.run(|| work(black_box(1)), || work(black_box(1))))
    });
    group.bench_function("darklaunch_sampled_in", |b| {
        b.iter(|| sampled_in.run(|| work(black_box(1)), || work(black_box(1))))
    });
    group.bench_function("guarded_sampled_out", |b| {
        b.iter(|| guarded_out.run(|| work(black_box(1)), || work(black_box(1))))
    });
    group.bench_function("guarded_sampled_in", |b| {
        b.iter(|| guarded_in.run(|| work(black_box(1)), || work(black_box(1))))
    });
    // Served and sampled out, only the candidate runs: compare with the control alone.
    group.bench_function("served_sampled_out", |b| {
        b.iter(|| served_out.run(|| work(black_box(1)), || work(black_box(1))))
    });
    group.bench_function("served_sampled_in", |b| {
        b.iter(|| served_in.run(|| work(black_box(1)), || work(black_box(1))))
    });
    // The same through a trial (per-call options, any number of candidates).
    group.bench_function("trial_sampled_out", |b| {
        b.iter(|| {
            sampled_out
                .trial()
                .control(|| work(black_box(1)))
                .candidate("v2", || work(black_box(1)))
                .run()
        })
    });
    group.bench_function("trial_sampled_in", |b| {
        b.iter(|| {
            sampled_in
                .trial()
                .control(|| work(black_box(1)))
                .candidate("v2", || work(black_box(1)))
                .run()
        })
    });
    // A recording experiment's matching run with an input: the input is serialized, then
    // dropped (matches keep none by default).
    group.bench_function("trial_input_sampled_in", |b| {
        let input = [1u64, 2, 3, 4];
        b.iter(|| {
            recording
                .trial()
                .input(&input)
                .control(|| work(black_box(1)))
                .candidate("v2", || work(black_box(1)))
                .run()
        })
    });
    #[cfg(feature = "cpu-time")]
    group.bench_function("cpu_time_sampled_in", |b| {
        b.iter(|| cpu_timed.run(|| work(black_box(1)), || work(black_box(1))))
    });
    group.bench_function("scientisto", |b| {
        b.iter(|| {
            scientisto::Experiment::new("bench-scientisto")
                .control(|| work(black_box(1)))
                .experiment(|| work(black_box(1)))
                .publish(|o: &scientisto::Observation<u64, u64>| {
                    black_box(o.is_matching());
                })
                .run()
        })
    });
    group.bench_function(BenchmarkId::new("async", "control_then_candidate"), |b| {
        b.to_async(&runtime).iter(|| async {
            let control = async { work(black_box(1)) }.await;
            black_box(async { work(black_box(1)) }.await);
            control
        })
    });
    group.bench_function(BenchmarkId::new("async", "darklaunch_run_async"), |b| {
        b.to_async(&runtime).iter(|| {
            sampled_in.run_async(async { work(black_box(1)) }, async { work(black_box(1)) })
        })
    });
    group.bench_function(BenchmarkId::new("async", "trial_run_async"), |b| {
        b.to_async(&runtime).iter(|| {
            sampled_in
                .trial()
                .control(async { work(black_box(1)) })
                .candidate("v2", async { work(black_box(1)) })
                .run_async()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_group(c, "overhead/1us", workload);
    bench_group(c, "overhead/empty", nothing);
}

/// The median of one benchmark, in nanoseconds, from criterion's saved estimates — only if
/// this run wrote them (`since` is when the run started), so that a filtered run never mixes in
/// an earlier run's figures.
fn median_ns(group: &str, id: &str, since: std::time::SystemTime) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!(
        "{dir}/criterion/{}/{id}/new/estimates.json",
        group.replace('/', "_")
    );
    let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if written < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn summary(since: std::time::SystemTime) {
    println!("\nbudget summary (differences of medians, same run):");
    for group in ["overhead/1us", "overhead/empty"] {
        let get = |id: &str| median_ns(group, id, since);
        let (Some(alone), Some(both), Some(out), Some(sync_in), Some(peer)) = (
            get("control_alone"),
            get("control_then_candidate"),
            get("darklaunch_sampled_out"),
            get("darklaunch_sampled_in"),
            get("scientisto"),
        ) else {
            println!(
                "  {group}: not all of its benchmarks ran in this run (filtered?); no summary"
            );
            continue;
        };
        println!("  {group}: control alone {alone:.1} ns, control+candidate {both:.1} ns");
        println!(
            "    sampled out        {out:8.1} ns  = control + {:6.1} ns   (budget ≤ 5 ns)",
            out - alone
        );
        println!(
            "    sampled in (sync)  {sync_in:8.1} ns  = control+candidate + {:6.1} ns   (budget ≤ 250 ns)",
            sync_in - both
        );
        println!(
            "    scientisto         {peer:8.1} ns  = control+candidate + {:6.1} ns",
            peer - both
        );
        if let (Some(g_out), Some(g_in)) = (get("guarded_sampled_out"), get("guarded_sampled_in")) {
            println!(
                "    guard, sampled out {g_out:8.1} ns  = unguarded + {:6.1} ns   (budget ≤ 2 ns)",
                g_out - out
            );
            println!(
                "    guard, sampled in  {g_in:8.1} ns  = unguarded + {:6.1} ns   (budget ≤ 10 ns)",
                g_in - sync_in
            );
        }
        if let (Some(s_out), Some(s_in)) = (get("served_sampled_out"), get("served_sampled_in")) {
            println!(
                "    served, sampled out {s_out:7.1} ns  = candidate alone + {:6.1} ns   (budget ≤ sampled-in overhead {:.1} ns)",
                s_out - alone,
                sync_in - both
            );
            println!(
                "    served, sampled in {s_in:8.1} ns  = control+candidate + {:6.1} ns   (budget ≤ sampled-in overhead {:.1} ns)",
                s_in - both,
                sync_in - both
            );
        }
        if let (Some(trial_in), Some(input_in)) =
            (get("trial_sampled_in"), get("trial_input_sampled_in"))
        {
            println!(
                "    recorded input     {input_in:8.1} ns  = trial without input + {:6.1} ns   (a 4-number input serialized per sampled run)",
                input_in - trial_in
            );
        }
        if let Some(cpu) = get("cpu_time_sampled_in") {
            println!(
                "    cpu_time(true)     {cpu:8.1} ns  = sampled in + {:6.1} ns   (two thread-CPU reads per behaviour)",
                cpu - sync_in
            );
        }
        if let (Some(async_both), Some(async_in)) = (
            get("async/control_then_candidate"),
            get("async/darklaunch_run_async"),
        ) {
            println!(
                "    run_async          {async_in:8.1} ns  = async control+candidate + {:6.1} ns   (budget ≤ 250 ns)",
                async_in - async_both
            );
        }
    }
}

fn main() {
    let started = std::time::SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    summary(started);
}
