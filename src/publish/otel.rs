//! OpenTelemetry metrics and spans (work in progress).

/// Publishes runs as OpenTelemetry metrics and spans (work in progress).
#[derive(Debug, Default)]
pub struct OtelPublisher {}
