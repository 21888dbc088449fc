//! Bad configuration is a `ConfigError` from `build()` with a message that says what to fix.

use std::time::Duration;

use darklaunch::{ConfigError, Experiment, Sampler};

fn build_error(
    builder: darklaunch::ExperimentBuilder<u8, std::convert::Infallible>,
) -> ConfigError {
    builder.build().expect_err("the configuration is invalid")
}

#[test]
fn every_bad_setting_is_a_config_error_with_a_fix() {
    let cases: Vec<(ConfigError, &str)> = vec![
        (build_error(Experiment::builder("")), "non-blank name"),
        (build_error(Experiment::builder("   ")), "non-blank name"),
        (
            build_error(Experiment::builder("x").sampler(Sampler::percent(f64::NAN))),
            "from 0 to 100",
        ),
        (
            build_error(Experiment::builder("x").sampler(Sampler::percent(-1.0))),
            "from 0 to 100",
        ),
        (
            build_error(Experiment::builder("x").sampler(Sampler::percent(100.1))),
            "from 0 to 100",
        ),
        (
            build_error(Experiment::builder("x").sampler(Sampler::keyed(200.0))),
            "from 0 to 100",
        ),
        (
            build_error(Experiment::builder("x").sampler(Sampler::rate_limit(0))),
            "at least 1",
        ),
        (
            build_error(Experiment::builder("x").candidate_timeout(Duration::ZERO)),
            "candidate_timeout is zero",
        ),
        (
            build_error(Experiment::builder("x").max_in_flight(0)),
            "max_in_flight is zero",
        ),
        (
            build_error(Experiment::builder("x").candidate_name("")),
            "candidate name is empty",
        ),
        (
            build_error(Experiment::builder("x").candidate_name("control")),
            "two behaviours are named \"control\"",
        ),
    ];
    for (error, fix) in cases {
        let message = error.to_string();
        assert!(message.contains(fix), "{message:?} should mention {fix:?}");
    }
}

#[test]
fn a_sampler_handle_rejects_bad_rates_and_keeps_the_old_one() {
    let (_sampler, handle) = Sampler::runtime(5.0);
    assert!(matches!(
        handle.set_percent(-3.0),
        Err(ConfigError::InvalidPercent { .. })
    ));
    assert_eq!(handle.percent(), 5.0);
}

#[test]
fn experiments_are_send_sync_and_cheap_to_clone() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Experiment<u8>>();
    shareable::<Experiment<Vec<String>, std::io::Error>>();
    let experiment: Experiment<u8> = Experiment::builder("clone").build().unwrap();
    let copy = experiment.clone();
    copy.run(|| 1, || 1);
    assert_eq!(experiment.stats().runs, 1, "clones share counters");
}

#[cfg(feature = "insight")]
#[test]
fn bad_noise_calibration_is_a_config_error_with_a_fix() {
    use darklaunch::noise::NoiseCalibration;

    let cases = [
        (NoiseCalibration::new().percent(f64::NAN), "from 0 to 100"),
        (NoiseCalibration::new().percent(101.0), "from 0 to 100"),
        (NoiseCalibration::new().window(1), "use at least 2"),
        (NoiseCalibration::new().max_paths(0), "max_paths is zero"),
        (
            NoiseCalibration::new().relative_threshold(1.5),
            "relative_threshold 1.5 is invalid: use a number from 0 to 1",
        ),
        (
            NoiseCalibration::new().absolute_threshold(f64::NAN),
            "absolute_threshold NaN is invalid",
        ),
    ];
    for (calibration, fix) in cases {
        let error = build_error(Experiment::builder("x").calibrate_noise(calibration));
        assert!(error.to_string().contains(fix), "{error} lacks {fix:?}");
    }
    assert!(Experiment::<u8>::builder("x")
        .calibrate_noise(NoiseCalibration::new().percent(0.0).warmup(0))
        .build()
        .is_ok());
}
