//! Exit statuses: what a CI or rollout job branches on.

use darklaunch::insight::ReleaseStatus;

/// The process's exit status. Each outcome has its own code, stable across releases.
///
/// | code | meaning |
/// |---|---|
/// | 0 | safe: every candidate judged is safe to release |
/// | 1 | not safe: some candidate is not safe |
/// | 2 | usage error: bad arguments |
/// | 3 | undecided: no candidate is not safe, but some needs more evidence |
/// | 4 | Prometheus unreachable (connection refused, unknown host, timeout) |
/// | 5 | Prometheus answered, but with an error or something that is not a query result |
/// | 6 | no such metric: Prometheus has never stored the metric asked for |
/// | 7 | no data: the metric exists, but not for this experiment (or candidate, or window) |
/// | 8 | the output could not be written |
/// | 9 | `merge`: a source could not be read (a file missing or unreadable, over the size cap) |
/// | 10 | `merge`: a source URL could not be reached (connection refused, unknown host, timeout) |
/// | 11 | `merge`: a source URL refused the token (HTTP 401 or 403: missing or wrong token) |
/// | 12 | `merge`: a source URL answered another HTTP error (404, 500, a redirect, not HTTP) |
/// | 13 | `merge`: a source is not a valid snapshot (truncated, not JSON, corrupt) |
/// | 14 | `merge`: snapshots that cannot be merged (another experiment, version or noise settings) |
/// | 15 | `merge`: no sources given |
///
/// *No data* is never *safe*: an experiment Prometheus knows nothing about exits 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: every candidate judged is safe to release.
    Safe,
    /// 1: some candidate is not safe to release.
    NotSafe,
    /// 2: bad arguments.
    Usage,
    /// 3: nothing is unsafe, but some candidate needs more evidence.
    Undecided,
    /// 4: Prometheus could not be reached.
    Unreachable,
    /// 5: Prometheus answered with an error or an unusable response.
    PrometheusError,
    /// 6: Prometheus does not have the metric.
    NoSuchMetric,
    /// 7: the metric has no data for the experiment (or candidate, or window).
    NoData,
    /// 8: writing the output failed.
    Output,
    /// 9: a `merge` source could not be read (a file missing or unreadable, or over the cap).
    SourceUnreadable,
    /// 10: a `merge` source URL could not be reached.
    SourceUnreachable,
    /// 11: a `merge` source URL refused the bearer token (HTTP 401 or 403).
    SourceToken,
    /// 12: a `merge` source URL answered another HTTP error, or not HTTP.
    SourceHttp,
    /// 13: a `merge` source is not a valid snapshot.
    InvalidSnapshot,
    /// 14: the snapshots cannot be merged (another experiment, version or noise settings).
    CannotMerge,
    /// 15: `merge` was given no sources.
    NoSources,
}

impl Exit {
    /// Every exit status, in code order.
    pub const ALL: [Exit; 16] = [
        Exit::Safe,
        Exit::NotSafe,
        Exit::Usage,
        Exit::Undecided,
        Exit::Unreachable,
        Exit::PrometheusError,
        Exit::NoSuchMetric,
        Exit::NoData,
        Exit::Output,
        Exit::SourceUnreadable,
        Exit::SourceUnreachable,
        Exit::SourceToken,
        Exit::SourceHttp,
        Exit::InvalidSnapshot,
        Exit::CannotMerge,
        Exit::NoSources,
    ];

    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Safe => 0,
            Exit::NotSafe => 1,
            Exit::Usage => 2,
            Exit::Undecided => 3,
            Exit::Unreachable => 4,
            Exit::PrometheusError => 5,
            Exit::NoSuchMetric => 6,
            Exit::NoData => 7,
            Exit::Output => 8,
            Exit::SourceUnreadable => 9,
            Exit::SourceUnreachable => 10,
            Exit::SourceToken => 11,
            Exit::SourceHttp => 12,
            Exit::InvalidSnapshot => 13,
            Exit::CannotMerge => 14,
            Exit::NoSources => 15,
        }
    }

    /// A short name: `safe`, `not_safe`, `usage`, `undecided`, `unreachable`,
    /// `prometheus_error`, `no_such_metric`, `no_data`, `output`, `source_unreadable`,
    /// `source_unreachable`, `source_token`, `source_http`, `invalid_snapshot`, `cannot_merge`,
    /// `no_sources`.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Safe => "safe",
            Exit::NotSafe => "not_safe",
            Exit::Usage => "usage",
            Exit::Undecided => "undecided",
            Exit::Unreachable => "unreachable",
            Exit::PrometheusError => "prometheus_error",
            Exit::NoSuchMetric => "no_such_metric",
            Exit::NoData => "no_data",
            Exit::Output => "output",
            Exit::SourceUnreadable => "source_unreadable",
            Exit::SourceUnreachable => "source_unreachable",
            Exit::SourceToken => "source_token",
            Exit::SourceHttp => "source_http",
            Exit::InvalidSnapshot => "invalid_snapshot",
            Exit::CannotMerge => "cannot_merge",
            Exit::NoSources => "no_sources",
        }
    }

    /// The exit status of a verdict.
    pub fn of_status(status: ReleaseStatus) -> Exit {
        match status {
            ReleaseStatus::Safe => Exit::Safe,
            ReleaseStatus::NotSafe => Exit::NotSafe,
            ReleaseStatus::Inconclusive => Exit::Undecided,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The exit codes as `--help` and the README list them.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  safe: every candidate judged is safe to release
  1  not safe: some candidate is not safe to release
  2  usage error: bad arguments
  3  undecided: nothing is unsafe, but some candidate needs more evidence
  4  Prometheus unreachable (connection refused, unknown host, timeout)
  5  Prometheus error: an error answer, or a response that is not a query result
  6  no such metric: Prometheus has never stored the metric
  7  no data for the experiment (or candidate, or window); never 'safe'
  8  the output could not be written
  9  merge: a source could not be read (file missing or unreadable, over --max-bytes)
 10  merge: a source URL unreachable (connection refused, unknown host, timeout)
 11  merge: a source URL refused the token (HTTP 401/403): give --token or --token-env
 12  merge: a source URL answered another HTTP error (404, 500, a redirect, not HTTP)
 13  merge: a source is not a valid snapshot (truncated, not JSON, corrupt)
 14  merge: snapshots that cannot be merged (another experiment, version, noise settings)
 15  merge: no sources given";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_distinct_in_order_and_documented() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, (0..16).collect::<Vec<u8>>());
        let names: HashSet<&str> = Exit::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), Exit::ALL.len());
        for exit in Exit::ALL {
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n{:>3}  ", exit.code())),
                "{exit:?} is not in the help"
            );
        }
    }

    #[test]
    fn statuses_map_to_their_codes() {
        assert_eq!(Exit::of_status(ReleaseStatus::Safe).code(), 0);
        assert_eq!(Exit::of_status(ReleaseStatus::NotSafe).code(), 1);
        assert_eq!(Exit::of_status(ReleaseStatus::Inconclusive).code(), 3);
    }
}
