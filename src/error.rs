//! Configuration errors: everything wrong with an experiment's definition is reported by
//! `build()`, never later as a panic.

/// A mistake in an experiment's configuration, reported by
/// [`ExperimentBuilder::build`](crate::ExperimentBuilder::build) or by a sampler handle.
///
/// The message says what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The experiment's name is empty or blank.
    #[error(
        "experiment name is empty: give the experiment a non-blank name such as \"pricing-v2\""
    )]
    EmptyName,
    /// A sampling percentage is not a number between 0 and 100.
    #[error("sampling percentage {value} is invalid: use a number from 0 to 100 (for example 5.0 for 5 %)")]
    InvalidPercent {
        /// The rejected value, as given.
        value: f64,
    },
    /// A rate limit is not a positive whole number of runs per second.
    #[error("rate limit of {value} runs per second is invalid: use at least 1")]
    InvalidRateLimit {
        /// The rejected value.
        value: u64,
    },
    /// A duration that must be positive is zero.
    #[error("{setting} is zero: use a positive duration, or leave it unset for no limit")]
    ZeroDuration {
        /// The setting's builder method.
        setting: &'static str,
    },
    /// A cap that must be positive is zero.
    #[error("{setting} is zero: use at least 1, or leave it unset for the default")]
    ZeroCap {
        /// The setting's builder method.
        setting: &'static str,
    },
    /// A behaviour name is empty.
    #[error("the {role} name is empty: give it a non-blank name")]
    EmptyBehaviorName {
        /// `"control"` or `"candidate"`.
        role: &'static str,
    },
    /// Two behaviours share one name.
    #[error(
        "two behaviours are named \"{name}\": give the control and every candidate a distinct name"
    )]
    DuplicateBehaviorName {
        /// The shared name.
        name: String,
    },
    /// A noise calibration window is shorter than two comparisons.
    #[error("noise calibration window of {value} comparisons is invalid: use at least 2 (for example 10000)")]
    InvalidWindow {
        /// The rejected value.
        value: u64,
    },
    /// A threshold is not a number from 0 to 1.
    #[error("{setting} {value} is invalid: use a number from 0 to 1 (for example 0.2 for 20 %)")]
    InvalidThreshold {
        /// The setting's method.
        setting: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A ratio that must be positive and finite is not.
    #[error("{setting} {value} is invalid: use a positive, finite ratio (for example 2.0 for twice as slow)")]
    InvalidRatio {
        /// The setting's method.
        setting: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A guard's window is zero or too long.
    #[error(
        "guard window of {value} runs is invalid: use 1 to 10,000,000 runs (for example 1000)"
    )]
    InvalidGuardWindow {
        /// The rejected value.
        value: u64,
    },
    /// A guard's minimum count is zero or longer than its window.
    #[error("guard min_runs of {value} is invalid: use at least 1 and at most the window ({window} runs)")]
    InvalidMinRuns {
        /// The rejected value.
        value: u64,
        /// The guard's window.
        window: u64,
    },
    /// A guard's probe share is not above 0 and at most 100 %.
    #[error("guard probe_percent {value} is invalid: use more than 0 and at most 100 (for example 5.0 for 5 %)")]
    InvalidProbePercent {
        /// The rejected value.
        value: f64,
    },
    /// A serving share is not a number from 0 to 100.
    #[error("serving share {value} is invalid: use a percentage from 0 to 100 (for example 10.0 for 10 % of keys)")]
    InvalidServeShare {
        /// The rejected value.
        value: f64,
    },
    /// A candidate is given a guard, or is served, under a name the experiment cannot run.
    #[error("{setting} names \"{name}\": {problem}")]
    InvalidCandidateName {
        /// The setting's builder method.
        setting: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The insight's trace link template (`InsightOptions::trace_link`) is wrong.
    #[error("trace link template \"{template}\" is invalid: {problem}")]
    InvalidTraceLink {
        /// The template given (cut to 256 bytes).
        template: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A ramp's schedule of serving shares is wrong.
    #[error("ramp schedule is invalid: {problem}")]
    InvalidRamp {
        /// What is wrong with it.
        problem: &'static str,
    },
}
