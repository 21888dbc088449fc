//! Runs as `tracing` events (work in progress).

/// Publishes runs as `tracing` events (work in progress).
#[derive(Debug, Default)]
pub struct TracingPublisher {}
