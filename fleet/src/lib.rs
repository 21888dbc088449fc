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
//! The binary is a thin shell over [`run`]; the pieces are public for tests and for tools
//! built on them: [`promql`] builds the queries, [`prometheus`] talks to the server and parses
//! its answers, [`histogram`] computes bucket quantiles, [`verdict`] judges, [`render`] prints.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod error;
pub mod exit;
pub mod histogram;
pub mod prometheus;
pub mod promql;
pub mod render;
pub mod verdict;

use std::io::Write;

pub use cli::{Cli, Command, Format, VerdictArgs};
pub use error::FleetError;
pub use exit::Exit;
pub use verdict::{fleet_verdict, FleetVerdict};

/// Runs a parsed command line, writing the result to `out` and messages to `err`; returns
/// the exit status.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    match cli.command {
        Command::Verdict(args) => verdict_command(&args, out, err),
    }
}

/// `darklaunch-fleet verdict`.
fn verdict_command(args: &VerdictArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let result = prometheus::HttpPrometheus::new(&args.prometheus, args.timeout)
        .and_then(|api| fleet_verdict(&api, &args.selection(), &args.policy()));
    let written = match &result {
        Ok(verdict) => {
            let body = match args.format {
                Format::Text => render::text(verdict),
                Format::Json => render::json(verdict) + "\n",
            };
            // In text the warnings are part of the report; in JSON they are in the document,
            // and also said on stderr for whoever watches the job.
            if args.format == Format::Json {
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
            match args.format {
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
