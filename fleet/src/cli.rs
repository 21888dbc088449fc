//! The command line: `darklaunch-fleet <command> [options]`. One subcommand per job, so that
//! more (such as merging insight snapshots from many instances) join `verdict` beside it.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use darklaunch::insight::ReleasePolicy;

use crate::exit::EXIT_CODES_HELP;
use crate::promql::{self, Selection, Window};

/// One darklaunch release verdict for a whole fleet.
#[derive(Debug, Parser)]
#[command(name = "darklaunch-fleet", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Judge an experiment on the runs of every instance Prometheus scrapes.
    ///
    /// Reads darklaunch_runs_total and darklaunch_duration_seconds_bucket for the experiment
    /// over Prometheus's HTTP API, sums them over all instances, and judges each candidate
    /// with darklaunch's insight statistics: anytime-valid bounds on the mismatch, error and
    /// timeout rates against the policy, and latency quantiles from the buckets.
    #[command(after_help = EXIT_CODES_HELP)]
    Verdict(VerdictArgs),
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document (also for errors: `{"error": {"kind", "exit_code", "message"}}`).
    Json,
}

/// `darklaunch-fleet verdict`'s options.
#[derive(Debug, Args)]
pub struct VerdictArgs {
    /// Prometheus's base URL, e.g. http://127.0.0.1:9090 (a path prefix is kept).
    #[arg(long, value_name = "URL")]
    pub prometheus: String,

    /// The experiment's name (the `experiment` label).
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub experiment: String,

    /// Judge only this candidate (default: every candidate; the worst decides the exit).
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub candidate: Option<String>,

    /// Count only the runs of this window (PromQL `increase`, e.g. 1h, 30m, 1d12h; its
    /// counts are Prometheus's estimates, rounded). Default: the counters as they stand,
    /// since each instance started.
    #[arg(long, value_name = "DURATION", value_parser = Window::parse)]
    pub window: Option<Window>,

    /// Runs a candidate needs before any verdict but undecided.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub min_runs: u64,

    /// The highest acceptable mismatch rate, in (0, 1) (0.001 is 0.1 %).
    #[arg(long, value_name = "RATE", default_value_t = 0.001, value_parser = rate)]
    pub max_mismatch_rate: f64,

    /// The highest acceptable candidate error rate and timeout rate, in (0, 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.001, value_parser = rate)]
    pub max_error_rate: f64,

    /// The highest acceptable ratio of the candidate's p99 latency to the control's, from the
    /// duration buckets (default: latency is shown but does not decide).
    #[arg(long, value_name = "RATIO", value_parser = ratio)]
    pub max_p99_ratio: Option<f64>,

    /// The confidence level of the bounds, in (0, 1).
    #[arg(long, value_name = "LEVEL", default_value_t = 0.95, value_parser = rate)]
    pub confidence: f64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Give up on a Prometheus request after this long (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = timeout)]
    pub timeout: Duration,

    /// The runs counter's name in Prometheus.
    #[arg(long, value_name = "METRIC", default_value = promql::RUNS_METRIC, value_parser = metric)]
    pub runs_metric: String,

    /// The duration histogram's name in Prometheus, without `_bucket`.
    #[arg(long, value_name = "METRIC", default_value = promql::DURATION_METRIC, value_parser = metric)]
    pub duration_metric: String,
}

impl VerdictArgs {
    /// What to read from Prometheus.
    pub fn selection(&self) -> Selection {
        Selection {
            experiment: self.experiment.clone(),
            candidate: self.candidate.clone(),
            window: self.window.clone(),
            runs_metric: self.runs_metric.clone(),
            duration_metric: self.duration_metric.clone(),
        }
    }

    /// The policy to judge against.
    pub fn policy(&self) -> ReleasePolicy {
        let mut policy = ReleasePolicy::default();
        policy.min_runs = self.min_runs;
        policy.mismatch_tolerance = self.max_mismatch_rate;
        policy.error_tolerance = self.max_error_rate;
        policy.max_p99_ratio = self.max_p99_ratio;
        policy.confidence = self.confidence;
        policy
    }
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err(String::from("must not be empty"))
    } else {
        Ok(text.to_owned())
    }
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value < 1.0 => Ok(value),
        Ok(_) => Err(String::from("must be strictly between 0 and 1, e.g. 0.001")),
        Err(_) => Err(String::from("not a number")),
    }
}

fn ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        Ok(_) => Err(String::from("must be a positive number, e.g. 1.5")),
        Err(_) => Err(String::from("not a number")),
    }
}

fn timeout(text: &str) -> Result<Duration, String> {
    let duration = promql::parse_duration(text)?;
    if duration.is_zero() {
        return Err(String::from("must be more than zero"));
    }
    Ok(duration)
}

fn metric(text: &str) -> Result<String, String> {
    if promql::is_metric_name(text) {
        Ok(text.to_owned())
    } else {
        Err(String::from(
            "not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("darklaunch-fleet").chain(args.iter().copied()))
    }

    fn verdict(args: &[&str]) -> VerdictArgs {
        match parse(args).unwrap().command {
            Command::Verdict(args) => args,
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_library_policy() {
        let args = verdict(&[
            "verdict",
            "--prometheus",
            "http://p:9090",
            "--experiment",
            "e",
        ]);
        assert_eq!(args.policy(), ReleasePolicy::default());
        assert_eq!(args.format, Format::Text);
        assert_eq!(args.timeout, Duration::from_secs(10));
        let s = args.selection();
        assert_eq!(
            (s.runs_metric.as_str(), s.duration_metric.as_str()),
            (promql::RUNS_METRIC, promql::DURATION_METRIC)
        );
        assert_eq!(s.window, None);
    }

    #[test]
    fn options_reach_the_policy_and_selection() {
        let args = verdict(&[
            "verdict",
            "--prometheus",
            "http://p",
            "--experiment",
            "e",
            "--candidate",
            "v2",
            "--window",
            "1h",
            "--min-runs",
            "500",
            "--max-mismatch-rate",
            "0.01",
            "--max-error-rate",
            "0.02",
            "--max-p99-ratio",
            "1.5",
            "--confidence",
            "0.99",
            "--format",
            "json",
            "--timeout",
            "500ms",
        ]);
        let policy = args.policy();
        assert_eq!(policy.min_runs, 500);
        assert_eq!(policy.mismatch_tolerance, 0.01);
        assert_eq!(policy.error_tolerance, 0.02);
        assert_eq!(policy.max_p99_ratio, Some(1.5));
        assert_eq!(policy.confidence, 0.99);
        assert_eq!(args.format, Format::Json);
        assert_eq!(args.timeout, Duration::from_millis(500));
        let s = args.selection();
        assert_eq!(s.candidate.as_deref(), Some("v2"));
        assert_eq!(s.window.unwrap().as_str(), "1h");
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        let base = ["verdict", "--prometheus", "http://p", "--experiment", "e"];
        for extra in [
            &["--max-mismatch-rate", "0"][..],
            &["--max-mismatch-rate", "1"],
            &["--max-mismatch-rate", "NaN"],
            &["--max-error-rate", "-0.1"],
            &["--confidence", "1.5"],
            &["--max-p99-ratio", "0"],
            &["--max-p99-ratio", "inf"],
            &["--window", "1x"],
            &["--window", "0s"],
            &["--timeout", "0s"],
            &["--min-runs", "-1"],
            &["--format", "yaml"],
            &["--runs-metric", "not-a-metric"],
            &["--experiment", ""],
            &["--nonsense"],
        ] {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            let error = parse(&args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{extra:?}");
            assert!(error.use_stderr());
        }
        assert_eq!(
            parse(&["verdict", "--experiment", "e"])
                .unwrap_err()
                .exit_code(),
            2
        );
        assert_eq!(parse(&[]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit status:"), "{help}");
        let mut command = Cli::command();
        let verdict = command.find_subcommand_mut("verdict").unwrap();
        let help = verdict.render_long_help().to_string();
        assert!(help.contains("7  no data"), "{help}");
        assert!(help.contains("--max-mismatch-rate"), "{help}");
    }
}
