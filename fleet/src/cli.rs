//! The command line: `darklaunch-fleet <command> [options]`. One subcommand per job:
//! `verdict` (from Prometheus) and `merge` (insight snapshots from many instances).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use darklaunch::insight::{Insight, InsightOptions, ReleasePolicy};

use crate::error::FleetError;
use crate::exit::EXIT_CODES_HELP;
use crate::prometheus::MAX_BODY;
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
    /// Merge insight snapshots of one experiment from many instances into one report.
    ///
    /// Each SOURCE is a snapshot file (written from Snapshot::to_json), - for stdin, or the
    /// http:// URL of an instance's live report service's `<mount>/snapshot.json`. The sources
    /// are read one after another and merged into the first (which decides the experiment);
    /// the merged report is printed as text, as the HTML report, or as the merged snapshot
    /// itself (--format json), which merges again. The exit status is the merged report's
    /// verdict (the worst candidate decides), or what went wrong with which source.
    #[command(after_help = EXIT_CODES_HELP)]
    Merge(MergeArgs),
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document (also for errors: `{"error": {"kind", "exit_code", "message"}}`).
    Json,
}

/// `darklaunch-fleet merge`'s output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// The report as terminal text, then the sources and the verdict.
    Text,
    /// The report as one self-contained HTML page.
    Html,
    /// The merged snapshot itself (a snapshot file that merges again).
    Json,
}

/// A bearer token: kept out of `Debug` output and messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks a token: visible ASCII (as an HTTP header carries it), not empty.
    pub fn new(token: &str) -> Result<Self, String> {
        if token.is_empty() {
            Err(String::from("the token is empty"))
        } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
            Err(String::from(
                "the token must be visible ASCII, without spaces or control characters",
            ))
        } else {
            Ok(Self(token.to_owned()))
        }
    }

    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// `darklaunch-fleet merge`'s options.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Snapshot files, - for stdin, or http:// URLs of instances' `<mount>/snapshot.json`.
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,

    /// Send `Authorization: Bearer TOKEN` to every URL source (visible to other users in the
    /// process list: prefer --token-env).
    #[arg(long, value_name = "TOKEN", value_parser = Token::new, conflicts_with = "token_env")]
    pub token: Option<Token>,

    /// Read the bearer token from this environment variable.
    #[arg(long, value_name = "VAR", value_parser = non_empty)]
    pub token_env: Option<String>,

    /// Output format: text, html (the HTML report) or json (the merged snapshot).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Write the output to this file instead of stdout (written only when the merge
    /// succeeds).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Link samples' trace ids in the HTML report through this template, an http(s) URL with
    /// {trace_id} where the id goes, e.g. `https://tempo.example/trace/{trace_id}`.
    #[arg(long, value_name = "TEMPLATE", value_parser = trace_link)]
    pub trace_link: Option<String>,

    /// Give up on a URL source after this long (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = timeout)]
    pub timeout: Duration,

    /// The most bytes read of one source (a file, stdin or a URL's body); a larger source is
    /// refused.
    #[arg(long, value_name = "BYTES", default_value_t = MAX_BODY, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes: u64,

    /// Runs a candidate needs before any verdict but undecided.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub min_runs: u64,

    /// The highest acceptable mismatch rate, in (0, 1) (0.001 is 0.1 %).
    #[arg(long, value_name = "RATE", default_value_t = 0.001, value_parser = rate)]
    pub max_mismatch_rate: f64,

    /// The highest acceptable candidate error rate and timeout rate, in (0, 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.001, value_parser = rate)]
    pub max_error_rate: f64,

    /// The highest acceptable ratio of the candidate's p99 latency to the control's (default:
    /// latency is shown but does not decide).
    #[arg(long, value_name = "RATIO", value_parser = ratio)]
    pub max_p99_ratio: Option<f64>,

    /// The most the candidate may be slower than the control at the median of the paired
    /// ratio (candidate ÷ control on the same runs), e.g. 1.2.
    #[arg(long, value_name = "RATIO", value_parser = ratio)]
    pub max_median_slowdown: Option<f64>,

    /// The same at the p99 of the paired ratio, e.g. 1.5.
    #[arg(long, value_name = "RATIO", value_parser = ratio)]
    pub max_p99_slowdown: Option<f64>,

    /// The confidence level of the bounds, in (0, 1).
    #[arg(long, value_name = "LEVEL", default_value_t = 0.95, value_parser = rate)]
    pub confidence: f64,
}

impl MergeArgs {
    /// The policy to judge the merged report against.
    pub fn policy(&self) -> ReleasePolicy {
        let mut policy = ReleasePolicy::default();
        policy.min_runs = self.min_runs;
        policy.mismatch_tolerance = self.max_mismatch_rate;
        policy.error_tolerance = self.max_error_rate;
        policy.max_p99_ratio = self.max_p99_ratio;
        policy.max_median_slowdown = self.max_median_slowdown;
        policy.max_p99_slowdown = self.max_p99_slowdown;
        policy.confidence = self.confidence;
        policy
    }

    /// The options the merged report is made with: the policy and the trace link.
    pub fn options(&self) -> InsightOptions {
        let mut options = InsightOptions::default();
        options.policy = self.policy();
        options.trace_link = self.trace_link.clone();
        options
    }

    /// The bearer token: `--token`'s, or the value of `--token-env`'s variable (a usage error
    /// when it is unset, empty or not a token).
    pub fn token(&self) -> Result<Option<Token>, FleetError> {
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        let Some(var) = &self.token_env else {
            return Ok(None);
        };
        match std::env::var(var) {
            Ok(value) => Token::new(&value)
                .map(Some)
                .map_err(|problem| FleetError::Usage(format!("--token-env {var}: {problem}"))),
            Err(std::env::VarError::NotPresent) => Err(FleetError::Usage(format!(
                "--token-env {var}: the variable is not set"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(FleetError::Usage(format!(
                "--token-env {var}: the variable is not valid UTF-8"
            ))),
        }
    }
}

fn trace_link(text: &str) -> Result<String, String> {
    // The library's own check of a template.
    let options = InsightOptions::default().trace_link(text);
    match Insight::<u64>::try_with_options(options) {
        Ok(_) => Ok(text.to_owned()),
        Err(error) => Err(error.to_string()),
    }
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
            Command::Merge(_) => panic!("not verdict"),
        }
    }

    fn merge(args: &[&str]) -> MergeArgs {
        match parse(args).unwrap().command {
            Command::Merge(args) => args,
            Command::Verdict(_) => panic!("not merge"),
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
    fn merge_options_reach_the_policy_and_options() {
        let args = merge(&["merge", "a.json", "-", "http://p/snapshot.json"]);
        assert_eq!(args.sources, ["a.json", "-", "http://p/snapshot.json"]);
        assert_eq!(args.policy(), ReleasePolicy::default());
        assert_eq!(args.format, ReportFormat::Text);
        assert_eq!(args.max_bytes, MAX_BODY);
        assert_eq!(args.token().unwrap(), None);
        assert_eq!(args.options().trace_link, None);
        let args = merge(&[
            "merge",
            "a.json",
            "--token",
            "s3cret",
            "--format",
            "html",
            "--output",
            "r.html",
            "--trace-link",
            "https://tempo.example/trace/{trace_id}",
            "--min-runs",
            "10",
            "--max-mismatch-rate",
            "0.05",
            "--max-error-rate",
            "0.02",
            "--max-p99-ratio",
            "2",
            "--max-median-slowdown",
            "1.2",
            "--max-p99-slowdown",
            "1.5",
            "--confidence",
            "0.9",
            "--timeout",
            "3s",
            "--max-bytes",
            "1000",
        ]);
        let policy = args.policy();
        assert_eq!(
            (
                policy.min_runs,
                policy.mismatch_tolerance,
                policy.error_tolerance
            ),
            (10, 0.05, 0.02)
        );
        assert_eq!(policy.max_p99_ratio, Some(2.0));
        assert_eq!(policy.max_median_slowdown, Some(1.2));
        assert_eq!(policy.max_p99_slowdown, Some(1.5));
        assert_eq!(policy.confidence, 0.9);
        assert_eq!(args.format, ReportFormat::Html);
        assert_eq!(args.output, Some(PathBuf::from("r.html")));
        assert_eq!(
            args.options().trace_link.as_deref(),
            Some("https://tempo.example/trace/{trace_id}")
        );
        assert_eq!(args.token().unwrap().unwrap().expose(), "s3cret");
        assert_eq!(args.timeout, Duration::from_secs(3));
        assert_eq!(args.max_bytes, 1000);
        // No sources parse (and are refused when run, with their own exit status).
        assert!(merge(&["merge"]).sources.is_empty());
    }

    #[test]
    fn the_token_can_come_from_the_environment() {
        let var = "DARKLAUNCH_FLEET_CLI_TEST_TOKEN";
        let args = merge(&["merge", "a.json", "--token-env", var]);
        // Unset: a usage error naming the variable.
        let error = args.token().unwrap_err();
        assert_eq!(error.exit(), crate::exit::Exit::Usage);
        assert!(error.to_string().contains(var), "{error}");
        std::env::set_var(var, "from-the-env");
        assert_eq!(args.token().unwrap().unwrap().expose(), "from-the-env");
        std::env::set_var(var, "with space");
        assert_eq!(args.token().unwrap_err().exit(), crate::exit::Exit::Usage);
        std::env::remove_var(var);
    }

    #[test]
    fn bad_merge_arguments_are_usage_errors() {
        for args in [
            &["merge", "a", "--format", "yaml"][..],
            &["merge", "a", "--token", ""],
            &["merge", "a", "--token", "x", "--token-env", "V"],
            &[
                "merge",
                "a",
                "--trace-link",
                "javascript:alert(1)//{trace_id}",
            ],
            &["merge", "a", "--trace-link", "https://tempo.example/trace/"],
            &["merge", "a", "--max-bytes", "0"],
            &["merge", "a", "--timeout", "0s"],
            &["merge", "a", "--max-mismatch-rate", "2"],
            &["merge", "a", "--max-p99-slowdown", "-1"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
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
        let merge = command.find_subcommand_mut("merge").unwrap();
        let help = merge.render_long_help().to_string();
        for words in [
            "11  merge: a source URL refused the token",
            "15  merge: no sources",
            "--token-env",
            "--trace-link",
        ] {
            assert!(help.contains(words), "{words}: {help}");
        }
    }
}
