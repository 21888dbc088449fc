//! The insight: calibration and grouping on synthetic data, verdict statistics, accounting
//! under concurrency, redaction, escaping and depth in its reports. One test binary, one
//! module per guarantee; the README's guarantee→test table names each file.
//!
//! The insight's resident-memory test is `tests/insight_memory.rs`, a binary of its own: its
//! reading of the process's RSS must not share the process with other tests.

#[path = "../common/mod.rs"]
mod common;

mod insight_anytime;
mod insight_breakdown;
mod insight_deep;
mod insight_escaping;
mod insight_flapping;
mod insight_guards;
mod insight_paired;
mod insight_ramp;
mod insight_redaction;
mod insight_snapshot;
mod insight_statistics;
mod insight_stress;
mod insight_synthetic;
