//! The structural diff and what leaves the process: properties, hostile values, values of any
//! depth, and redaction on every output. One test binary, one module per guarantee; the
//! README's guarantee→test table names each file.
//!
//! `redaction_everywhere` publishes OpenTelemetry metrics to the global (no-op) meter
//! provider, so it stays out of `tests/publish/`, whose `otel_publisher` sets the global
//! providers and counts what reaches them.

#[path = "../common/mod.rs"]
mod common;

mod deep_values;
mod diff_hostile;
mod diff_props;
mod redaction_everywhere;
