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
    /// A `merge` source could not be read: a file missing or unreadable, stdin failing, or
    /// more bytes than the cap (exit 9).
    SourceUnreadable {
        /// The source as given on the command line.
        source: String,
        /// Why.
        detail: String,
    },
    /// A `merge` source URL could not be reached (exit 10).
    SourceUnreachable {
        /// The URL.
        source: String,
        /// Why: the transport's error.
        detail: String,
    },
    /// A `merge` source URL answered HTTP 401 or 403: the bearer token is missing or wrong
    /// (exit 11).
    SourceToken {
        /// The URL.
        source: String,
        /// The HTTP status (401 or 403).
        status: u16,
        /// Whether a token was sent.
        sent: bool,
    },
    /// A `merge` source URL answered another HTTP error, a redirect, or something that is not
    /// HTTP (exit 12).
    SourceHttp {
        /// The URL.
        source: String,
        /// What it answered.
        detail: String,
    },
    /// A `merge` source is not a valid snapshot (exit 13).
    InvalidSnapshot {
        /// The source as given on the command line.
        source: String,
        /// The snapshot error's text.
        detail: String,
    },
    /// A `merge` source's snapshot cannot be merged with the ones before it: another
    /// experiment, snapshot version or noise settings (exit 14).
    CannotMerge {
        /// The source as given on the command line.
        source: String,
        /// The snapshot error's text.
        detail: String,
    },
    /// `merge` was given no sources (exit 15).
    NoSources,
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
            FleetError::SourceUnreadable { .. } => Exit::SourceUnreadable,
            FleetError::SourceUnreachable { .. } => Exit::SourceUnreachable,
            FleetError::SourceToken { .. } => Exit::SourceToken,
            FleetError::SourceHttp { .. } => Exit::SourceHttp,
            FleetError::InvalidSnapshot { .. } => Exit::InvalidSnapshot,
            FleetError::CannotMerge { .. } => Exit::CannotMerge,
            FleetError::NoSources => Exit::NoSources,
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
            FleetError::SourceUnreadable { source, detail } => {
                write!(f, "cannot read source {source}: {detail}")
            }
            FleetError::SourceUnreachable { source, detail } => write!(
                f,
                "source {source} unreachable: {detail} (is the instance up, and is the URL right?)"
            ),
            FleetError::SourceToken {
                source,
                status,
                sent: true,
            } => write!(
                f,
                "source {source} refused the token (HTTP {status}): check --token or --token-env \
                 against the instance's ReportService::bearer_token"
            ),
            FleetError::SourceToken {
                source,
                status,
                sent: false,
            } => write!(
                f,
                "source {source} needs a token (HTTP {status}): give --token or --token-env"
            ),
            FleetError::SourceHttp { source, detail } => {
                write!(f, "source {source}: {detail}")
            }
            FleetError::InvalidSnapshot { source, detail } => {
                write!(f, "source {source} is not a valid snapshot: {detail}")
            }
            FleetError::CannotMerge { source, detail } => {
                write!(f, "cannot merge source {source}: {detail}")
            }
            FleetError::NoSources => write!(
                f,
                "no sources: give snapshot files, - for stdin, or http:// URLs of an \
                 instance's <mount>/snapshot.json"
            ),
        }
    }
}

impl std::error::Error for FleetError {}
