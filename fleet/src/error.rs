//! What can go wrong, each with its own exit status and message.

use std::fmt;

use crate::exit::Exit;

/// A failure of a command: its message says what happened and what to check.
#[derive(Clone, Debug, PartialEq)]
pub enum FleetError {
    /// Bad arguments (exit 2).
    Usage(String),
    /// Prometheus could not be reached at `url` (exit 4).
    Unreachable {
        /// The URL asked.
        url: String,
        /// Why: the transport's error.
        detail: String,
    },
    /// Prometheus answered with an error, or with something that is not a usable query result
    /// (exit 5).
    Prometheus {
        /// What was asked (a PromQL query or an API path).
        request: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// Prometheus has never stored `metric` (exit 6).
    NoSuchMetric {
        /// The metric's name.
        metric: String,
        /// The Prometheus server asked.
        url: String,
    },
    /// The metric exists but has no series for what was asked (exit 7).
    NoData {
        /// What was looked for, in words (experiment, candidate, window).
        what: String,
    },
    /// Writing the output failed (exit 8).
    Output(String),
}

impl FleetError {
    /// The exit status of this failure.
    pub fn exit(&self) -> Exit {
        match self {
            FleetError::Usage(_) => Exit::Usage,
            FleetError::Unreachable { .. } => Exit::Unreachable,
            FleetError::Prometheus { .. } => Exit::PrometheusError,
            FleetError::NoSuchMetric { .. } => Exit::NoSuchMetric,
            FleetError::NoData { .. } => Exit::NoData,
            FleetError::Output(_) => Exit::Output,
        }
    }
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Usage(message) => write!(f, "usage error: {message}"),
            FleetError::Unreachable { url, detail } => write!(
                f,
                "Prometheus unreachable at {url}: {detail} (is the server up, and is --prometheus right?)"
            ),
            FleetError::Prometheus { request, detail } => {
                write!(f, "Prometheus error for {request}: {detail}")
            }
            FleetError::NoSuchMetric { metric, url } => write!(
                f,
                "no such metric: Prometheus at {url} has no series of {metric} at all (are the \
                 instances scraped, and do they export darklaunch's OpenTelemetry metrics?)"
            ),
            FleetError::NoData { what } => write!(
                f,
                "no data: {what} (no data is never safe: check the experiment's name, or widen --window)"
            ),
            FleetError::Output(detail) => write!(f, "could not write the output: {detail}"),
        }
    }
}

impl std::error::Error for FleetError {}
