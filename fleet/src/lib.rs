//! `darklaunch-fleet`: one darklaunch release verdict for a whole fleet, from the metrics
//! Prometheus scraped off every instance.
//!
//! Each instance of a service publishes its experiment's runs with darklaunch's
//! `OtelPublisher`; Prometheus scrapes them all. `darklaunch-fleet verdict` sums
//! `darklaunch_runs_total` by candidate and outcome over the fleet (or its `increase` over a
//! window), and judges each candidate with the very function darklaunch's in-process insight
//! uses ([`darklaunch::insight::verdict_from_counts`]): the same anytime-valid bounds on the
//! mismatch, error and timeout rates, the same policy, the same statuses. Latency quantiles
//! per behaviour come from `darklaunch_duration_seconds_bucket`, computed as PromQL's
//! `histogram_quantile` computes them. The exit status tells a CI or rollout job what to do
//! ([`Exit`]).
//!
//! `darklaunch-fleet merge` reads the insight snapshots of many instances (files, stdin, or
//! each instance's live report service at `<mount>/snapshot.json`), merges them with
//! [`darklaunch::insight::Snapshot::merge`] into what one insight fed every run would have
//! gathered, and prints the merged report (terminal text or HTML) or the merged snapshot.
//!
//! The binary is a thin shell over [`run`]; the pieces are public for tests and for tools
//! built on them: [`promql`] builds the queries, [`prometheus`] talks to the server and parses
//! its answers, [`histogram`] computes bucket quantiles, [`verdict`] judges, [`render`] prints,
//! [`source`] reads snapshot sources and [`merge`] merges them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod error;
pub mod exit;
pub mod histogram;
pub mod merge;
pub mod prometheus;
pub mod promql;
pub mod render;
pub mod source;
pub mod verdict;

use std::io::Write;

pub use cli::{Cli, Command, Format, MergeArgs, ReportFormat, VerdictArgs};
pub use error::FleetError;
pub use exit::Exit;
pub use verdict::{fleet_verdict, FleetVerdict};

/// Runs a parsed command line, writing the result to `out` and messages to `err`; returns
/// the exit status. `merge -` reads the process's standard input.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let stdin = std::io::stdin();
    run_with_stdin(cli, &mut stdin.lock(), out, err)
}

/// [`run`], with `stdin` as the standard input (what `merge -` reads).
pub fn run_with_stdin(
    cli: Cli,
    stdin: &mut dyn std::io::Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    match cli.command {
        Command::Verdict(args) => verdict_command(&args, out, err),
        Command::Merge(args) => merge::merge_command(&args, stdin, out, err),
    }
}

/// `darklaunch-fleet verdict`.
fn verdict_command(args: &VerdictArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let result = prometheus::HttpPrometheus::new(&args.prometheus, args.timeout)
        .and_then(|api| fleet_verdict(&api, &args.selection(), &args.policy()));
    report(&result, args.format, out, err)
}

/// Writes a verdict (to `out`) or a failure (to `err`, and as JSON to `out` with
/// [`Format::Json`]); returns the exit status: the verdict's, the failure's, or
/// [`Exit::Output`] when `out` cannot be written.
pub fn report(
    result: &Result<FleetVerdict, FleetError>,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let written = match result {
        Ok(verdict) => {
            let body = match format {
                Format::Text => render::text(verdict),
                Format::Json => render::json(verdict) + "\n",
            };
            // In text the warnings are part of the report; in JSON they are in the document,
            // and also said on stderr for whoever watches the job.
            if format == Format::Json {
                for warning in &verdict.warnings {
                    let _ = writeln!(
                        err,
                        "darklaunch-fleet: warning: {}",
                        render::escape(warning)
                    );
                }
            }
            out.write_all(body.as_bytes()).and_then(|()| out.flush())
        }
        Err(error) => {
            let _ = writeln!(
                err,
                "darklaunch-fleet: {}",
                render::escape(&error.to_string())
            );
            match format {
                Format::Json => {
                    writeln!(out, "{}", render::json_error(error)).and_then(|()| out.flush())
                }
                Format::Text => Ok(()),
            }
        }
    };
    match (result, written) {
        (_, Err(error)) => {
            let _ = writeln!(
                err,
                "darklaunch-fleet: {}",
                FleetError::Output(error.to_string())
            );
            Exit::Output
        }
        (Ok(verdict), Ok(())) => Exit::of_status(verdict.status),
        (Err(error), Ok(())) => error.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A writer that always fails, as a closed pipe does.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
    }

    fn failure(error: FleetError, format: Format) -> (Exit, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let exit = report(&Err(error), format, &mut out, &mut err);
        (
            exit,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn failures_exit_with_their_codes_and_messages() {
        let cases = [
            (FleetError::Usage("x".into()), Exit::Usage, "usage error"),
            (
                FleetError::Unreachable {
                    url: "http://p".into(),
                    detail: "refused".into(),
                },
                Exit::Unreachable,
                "unreachable",
            ),
            (
                FleetError::Prometheus {
                    request: "q".into(),
                    detail: "bad".into(),
                },
                Exit::PrometheusError,
                "Prometheus error",
            ),
            (
                FleetError::NoSuchMetric {
                    metric: "m_total".into(),
                    url: "http://p".into(),
                },
                Exit::NoSuchMetric,
                "no such metric",
            ),
            (
                FleetError::NoData {
                    what: "experiment \"e\"".into(),
                },
                Exit::NoData,
                "no data",
            ),
        ];
        for (error, exit, words) in cases {
            let (got, out, err) = failure(error.clone(), Format::Text);
            assert_eq!(got, exit);
            assert!(out.is_empty());
            assert!(err.contains(words), "{err}");
            let (got, out, _) = failure(error, Format::Json);
            assert_eq!(got, exit);
            let json: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(json["error"]["exit_code"], exit.code());
            assert_eq!(json["error"]["kind"], exit.name());
        }
        // Control characters in a message are escaped.
        let (_, _, err) = failure(
            FleetError::NoData {
                what: "\u{1b}[2J".into(),
            },
            Format::Text,
        );
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }

    #[test]
    fn an_unwritable_output_is_its_own_exit() {
        let mut err = Vec::new();
        let exit = report(
            &Err(FleetError::NoData { what: "e".into() }),
            Format::Json,
            &mut Broken,
            &mut err,
        );
        assert_eq!(exit, Exit::Output);
        assert!(String::from_utf8(err).unwrap().contains("could not write"));
    }

    #[test]
    fn a_bad_url_is_a_usage_error_before_any_request() {
        let cli = Cli::try_parse_from([
            "darklaunch-fleet",
            "verdict",
            "--prometheus",
            "localhost:9090",
            "--experiment",
            "e",
        ])
        .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(cli, &mut out, &mut err), Exit::Usage);
        assert!(String::from_utf8(err).unwrap().contains("http://"));
    }
}
