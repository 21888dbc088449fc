//! The publishers: JSON lines, `tracing` events and OpenTelemetry metrics and spans. One test
//! binary, one module per publisher; the README's guarantee→test table names each file.
//!
//! `otel_publisher` sets OpenTelemetry's global providers (once, in one test) and counts what
//! reaches them: no other test of this binary may publish to a global provider.
//! `tracing_publisher` installs its subscribers per thread (`with_default`), never globally.

#[path = "../common/mod.rs"]
mod common;

mod jsonl_publisher;
mod otel_publisher;
mod trace_links;
mod tracing_publisher;
