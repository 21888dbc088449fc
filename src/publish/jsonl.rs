//! Mismatch records as JSON lines (work in progress).

/// Writes mismatch records as JSON lines (work in progress).
#[derive(Debug, Default)]
pub struct JsonLinesPublisher {}
