//! `darklaunch-fleet merge`: insight snapshots of one experiment, read from files, stdin or
//! instances' live report services, merged into one ([`darklaunch::insight::Snapshot::merge`])
//! and rendered as the report one insight fed every run would make.

use std::io::Write;

use darklaunch::insight::{InsightOptions, ReleaseStatus, Report, Snapshot, SnapshotError};

use crate::cli::{MergeArgs, ReportFormat};
use crate::error::FleetError;
use crate::exit::Exit;
use crate::render::{escape, thousands};
use crate::source::{Reader, Source};
use crate::verdict::worst;

/// What one source contributed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSummary {
    /// The source as given.
    pub name: String,
    /// Its snapshot's sampled runs.
    pub runs: u64,
}

/// The merge of every source.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The merged snapshot.
    pub snapshot: Snapshot,
    /// Each source, in the order read.
    pub sources: Vec<SourceSummary>,
}

/// Parses the sources given: none is [`FleetError::NoSources`], `-` more than once a usage
/// error (stdin reads once), a bad URL a usage error; nothing is read yet.
pub fn parse_sources(sources: &[String]) -> Result<Vec<Source>, FleetError> {
    if sources.is_empty() {
        return Err(FleetError::NoSources);
    }
    let parsed = sources
        .iter()
        .map(|text| Source::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    if parsed.iter().filter(|s| **s == Source::Stdin).count() > 1 {
        return Err(FleetError::Usage(String::from(
            "- (stdin) is given more than once; it can be read only once",
        )));
    }
    Ok(parsed)
}

/// Reads (with `read`), decodes and merges `sources` one after another into the first; the
/// first snapshot with runs decides the experiment. Stops at the first failure, naming the
/// source.
pub fn merge_sources(
    sources: &[Source],
    read: &mut dyn FnMut(&Source) -> Result<Vec<u8>, FleetError>,
) -> Result<Merged, FleetError> {
    if sources.is_empty() {
        return Err(FleetError::NoSources);
    }
    let mut merged: Option<Snapshot> = None;
    // The source whose snapshot decided the experiment.
    let mut decided_by: Option<String> = None;
    let mut summaries = Vec::with_capacity(sources.len());
    for source in sources {
        let name = source.name();
        let bytes = read(source)?;
        let snapshot = Snapshot::from_json(&bytes).map_err(|error| decode_error(source, error))?;
        drop(bytes);
        summaries.push(SourceSummary {
            name: name.clone(),
            runs: snapshot.runs(),
        });
        match &mut merged {
            None => merged = Some(snapshot),
            Some(into) => into
                .merge(&snapshot)
                .map_err(|error| FleetError::CannotMerge {
                    source: name.clone(),
                    detail: match &decided_by {
                        Some(first) => format!("{error} (the experiment of {first})"),
                        None => error.to_string(),
                    },
                })?,
        }
        if decided_by.is_none() && merged.as_ref().is_some_and(|m| !m.experiment().is_empty()) {
            decided_by = Some(name);
        }
    }
    match merged {
        Some(snapshot) => Ok(Merged {
            snapshot,
            sources: summaries,
        }),
        None => Err(FleetError::NoSources),
    }
}

/// A snapshot that does not decode: a version this build does not read cannot be merged;
/// anything else is not a valid snapshot.
fn decode_error(source: &Source, error: SnapshotError) -> FleetError {
    let name = source.name();
    match error {
        SnapshotError::UnsupportedVersion { .. } => FleetError::CannotMerge {
            source: name,
            detail: error.to_string(),
        },
        other => {
            let hint = match source {
                Source::Url(url) if !url.trim_end_matches('/').ends_with("/snapshot.json") => {
                    " (is it the URL of an instance's <mount>/snapshot.json?)"
                }
                _ => "",
            };
            FleetError::InvalidSnapshot {
                source: name,
                detail: format!("{other}{hint}"),
            }
        }
    }
}

/// The merged report's verdict: the worst candidate's status; undecided without candidates
/// (no evidence is never safe).
pub fn status(report: &Report) -> ReleaseStatus {
    worst(report.candidates.iter().map(|c| c.verdict.status)).unwrap_or(ReleaseStatus::Inconclusive)
}

/// The status in words, as the summary line says it.
fn status_words(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Safe => "safe",
        ReleaseStatus::NotSafe => "not safe",
        ReleaseStatus::Inconclusive => "undecided",
    }
}

/// The output of a merge in `format`: the terminal report with the sources and the verdict,
/// the HTML report, or the merged snapshot's JSON.
pub fn render(
    merged: &Merged,
    options: &InsightOptions,
    format: ReportFormat,
) -> Result<(Vec<u8>, ReleaseStatus), FleetError> {
    let report = merged.snapshot.report_with(options);
    let status = status(&report);
    let body = match format {
        ReportFormat::Text => {
            let mut text = report.to_terminal();
            text.push_str(&format!(
                "\nMerged from {} {}\n",
                thousands(merged.sources.len() as u64),
                if merged.sources.len() == 1 {
                    "source"
                } else {
                    "sources"
                }
            ));
            for source in &merged.sources {
                text.push_str(&format!(
                    "  {}  {} runs\n",
                    escape(&source.name),
                    thousands(source.runs)
                ));
            }
            text.push_str(&format!("\n{}\n", summary_line(merged, status)));
            text.into_bytes()
        }
        ReportFormat::Html => report.to_html().into_bytes(),
        ReportFormat::Json => {
            let mut json = merged.snapshot.to_json().map_err(|error| {
                FleetError::Output(format!(
                    "the merged snapshot could not be serialized: {error}"
                ))
            })?;
            json.push(b'\n');
            json
        }
    };
    Ok((body, status))
}

/// `merged verdict of experiment "e" (3 sources, 3,000 runs): not safe (exit 1)`.
fn summary_line(merged: &Merged, status: ReleaseStatus) -> String {
    let experiment = merged.snapshot.experiment();
    format!(
        "merged verdict of experiment {} ({} {}, {} runs): {} (exit {})",
        if experiment.is_empty() {
            String::from("(none: no runs)")
        } else {
            escape(&format!("{experiment:?}"))
        },
        thousands(merged.sources.len() as u64),
        if merged.sources.len() == 1 {
            "source"
        } else {
            "sources"
        },
        thousands(merged.snapshot.runs()),
        status_words(status),
        Exit::of_status(status).code()
    )
}

/// `darklaunch-fleet merge`: reads `args`' sources (stdin from `stdin`), merges them, writes
/// the output to `--output` or `out` and messages to `err`; returns the exit status.
pub fn merge_command(
    args: &MergeArgs,
    stdin: &mut dyn std::io::Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let result = (|| {
        let sources = parse_sources(&args.sources)?;
        let token = args.token()?;
        let mut reader = Reader::new(args.timeout, token, args.max_bytes, stdin);
        let merged = merge_sources(&sources, &mut |source| reader.read(source))?;
        let (body, status) = render(&merged, &args.options(), args.format)?;
        Ok::<_, FleetError>((merged, body, status))
    })();
    let (merged, body, status) = match result {
        Ok(done) => done,
        Err(error) => {
            let _ = writeln!(err, "darklaunch-fleet: {}", escape(&error.to_string()));
            return error.exit();
        }
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, &body)
            .map_err(|error| format!("{}: {error}", escape(&path.display().to_string()))),
        None => out
            .write_all(&body)
            .and_then(|()| out.flush())
            .map_err(|error| error.to_string()),
    };
    if let Err(detail) = written {
        let _ = writeln!(err, "darklaunch-fleet: {}", FleetError::Output(detail));
        return Exit::Output;
    }
    // The text report ends with this line; other outputs say it on stderr for whoever
    // watches the job.
    if args.format != ReportFormat::Text || args.output.is_some() {
        let _ = writeln!(err, "darklaunch-fleet: {}", summary_line(&merged, status));
    }
    Exit::of_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use darklaunch::insight::Insight;
    use darklaunch::Experiment;

    /// A snapshot's JSON of `runs` runs of `experiment`, every `bad`-th mismatching.
    fn snapshot(experiment: &str, runs: u64, bad: u64) -> Vec<u8> {
        let insight = Insight::new();
        let exp: Experiment<u64> = Experiment::builder(experiment)
            .publisher(insight.clone())
            .build()
            .unwrap();
        for n in 0..runs {
            exp.run(|| n, || if bad > 0 && n % bad == 0 { n + 1 } else { n });
        }
        insight.snapshot().to_json().unwrap()
    }

    fn files(names: &[&str]) -> Vec<Source> {
        names.iter().map(|n| Source::File(n.into())).collect()
    }

    fn merge_these(inputs: Vec<(&str, Vec<u8>)>) -> Result<Merged, FleetError> {
        let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
        let mut inputs = inputs.into_iter();
        merge_sources(&files(&names), &mut |_| Ok(inputs.next().unwrap().1))
    }

    #[test]
    fn counts_add_and_the_worst_candidate_decides() {
        let merged = merge_these(vec![
            ("a.json", snapshot("e", 300, 0)),
            ("b.json", snapshot("e", 200, 10)),
        ])
        .unwrap();
        assert_eq!(merged.snapshot.runs(), 500);
        assert_eq!(
            merged.sources,
            vec![
                SourceSummary {
                    name: "a.json".into(),
                    runs: 300
                },
                SourceSummary {
                    name: "b.json".into(),
                    runs: 200
                }
            ]
        );
        let report = merged.snapshot.report();
        assert_eq!(report.candidates[0].mismatched, 20);
        assert_eq!(status(&report), ReleaseStatus::NotSafe);
        let (text, status) =
            render(&merged, &InsightOptions::default(), ReportFormat::Text).unwrap();
        assert_eq!(status, ReleaseStatus::NotSafe);
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("experiment e"), "{text}");
        assert!(
            text.contains(
                "merged verdict of experiment \"e\" (2 sources, 500 runs): not safe (exit 1)"
            ),
            "{text}"
        );
    }

    #[test]
    fn failures_name_the_source_and_have_their_codes() {
        let good = snapshot("e", 10, 0);
        type Case<'a> = (Vec<(&'a str, Vec<u8>)>, Exit, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![
                    ("a.json", good.clone()),
                    ("cut.json", good[..good.len() / 2].to_vec()),
                ],
                Exit::InvalidSnapshot,
                "cut.json",
            ),
            (
                vec![("junk.json", b"hello, world".to_vec())],
                Exit::InvalidSnapshot,
                "junk.json",
            ),
            (
                vec![("empty.json", Vec::new())],
                Exit::InvalidSnapshot,
                "empty.json",
            ),
            (
                vec![(
                    "other.json",
                    br#"{"format":"something-else","version":1}"#.to_vec(),
                )],
                Exit::InvalidSnapshot,
                "other.json",
            ),
            (
                vec![(
                    "v9.json",
                    br#"{"format":"darklaunch.insight.snapshot","version":9}"#.to_vec(),
                )],
                Exit::CannotMerge,
                "v9.json",
            ),
            (
                vec![
                    ("a.json", good.clone()),
                    ("tax.json", snapshot("tax", 10, 0)),
                ],
                Exit::CannotMerge,
                "tax.json",
            ),
        ];
        for (inputs, exit, name) in cases {
            let error = merge_these(inputs).unwrap_err();
            assert_eq!(error.exit(), exit, "{error}");
            assert!(error.to_string().contains(name), "{error}");
        }
        let error = merge_these(vec![
            ("a.json", good.clone()),
            ("tax.json", snapshot("tax", 10, 0)),
        ])
        .unwrap_err();
        assert!(
            error.to_string().contains("(the experiment of a.json)"),
            "{error}"
        );
        assert_eq!(
            merge_sources(&[], &mut |_| Ok(good.clone())).unwrap_err(),
            FleetError::NoSources
        );
        assert_eq!(parse_sources(&[]).unwrap_err().exit(), Exit::NoSources);
        assert_eq!(
            parse_sources(&["-".into(), "-".into()]).unwrap_err().exit(),
            Exit::Usage
        );
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_a_panic() {
        let good = snapshot("e", 50, 7);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bytes = good.clone();
            // Flip, cut or splice a few bytes.
            let at = (seed as usize) % bytes.len();
            match round % 3 {
                0 => bytes[at] = (seed >> 32) as u8,
                1 => bytes.truncate(at),
                _ => {
                    let tail = bytes.split_off(at);
                    bytes.extend_from_slice(b"\",{}[]0-e");
                    bytes.extend(tail);
                }
            }
            let result = merge_these(vec![("a.json", good.clone()), ("x.json", bytes)]);
            if let Err(error) = result {
                assert!(
                    matches!(error.exit(), Exit::InvalidSnapshot | Exit::CannotMerge),
                    "{error}"
                );
            }
        }
    }
}
