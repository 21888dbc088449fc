//! Guarantee 5 with measured resident memory: detached candidates 100x slower than the control,
//! at full rate, for 300,000 runs, keep the process's RSS flat (the cap sheds, nothing piles
//! up). In a test binary of its own, so that no other test's allocations share the reading.

mod common;

use std::time::Duration;

use darklaunch::Experiment;

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn memory_stays_bounded_when_candidates_are_much_slower_than_the_control() {
    let Some(baseline) = resident_bytes() else {
        common::skip_or_fail(
            "detached_memory",
            "no /proc/self/status on this platform: RSS cannot be measured",
        );
        return;
    };
    const CAP: usize = 1_024;
    let experiment: Experiment<Vec<u8>> = Experiment::builder("slow-candidates")
        .max_in_flight(CAP)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let peak = runtime.block_on(async {
        let mut peak = baseline;
        let mut max_in_flight = 0;
        for i in 0..300_000u64 {
            // The control takes ~1 µs; the candidate 100 µs (a sleep, so at least a timer tick).
            let value = experiment
                .run_detached(
                    async move {
                        std::hint::black_box((0..300u64).sum::<u64>());
                        vec![i as u8; 64]
                    },
                    async move {
                        tokio::time::sleep(Duration::from_micros(100)).await;
                        vec![i as u8; 64]
                    },
                )
                .await;
            assert_eq!(value.len(), 64);
            if i % 1_000 == 0 {
                peak = peak.max(resident_bytes().unwrap_or(0));
                max_in_flight = max_in_flight.max(experiment.stats().in_flight());
            }
        }
        assert!(max_in_flight <= CAP as u64, "{max_in_flight} in flight");
        peak
    });
    assert!(runtime
        .block_on(experiment.flush(Duration::from_secs(30)))
        .is_complete());
    let stats = experiment.stats();
    assert!(stats.reconciles(), "{stats:?}");
    assert!(stats.shed > 0, "full rate must hit the cap: {stats:?}");
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "peak RSS growth {} KiB with {CAP} in flight; {stats:?}",
        growth / 1024
    );
    // 300,000 runs at ~1 KiB each would be ~300 MiB if nothing bounded them, and a leak of
    // 100 B a run 30 MiB; bounded, the growth measured is ~3 MiB.
    assert!(
        growth < 12 * 1024 * 1024,
        "RSS grew by {} KiB",
        growth / 1024
    );
}
