//! `darklaunch-fleet merge` end to end, running the built binary: real insights (runs fed
//! through real `Experiment`s, each run to one of several "instances" and to one insight fed
//! the union), their snapshots written to files or served by `ReportService` over real HTTP on
//! 127.0.0.1 behind a bearer token; the merged snapshot must count what the union insight
//! counts (runs, verdict counts per candidate, groups), and its report say the same verdicts.
//! Then every failure, each with its exit code and a message naming the source.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use axum::Router;
use darklaunch::diff::DiffOptions;
use darklaunch::insight::live::ReportService;
use darklaunch::insight::{Insight, Report, Snapshot};
use darklaunch::noise::NoiseCalibration;
use darklaunch::Experiment;
use serde::Serialize;

const BIN: &str = env!("CARGO_BIN_EXE_darklaunch-fleet");
const EXPERIMENT: &str = "merge-pricing";
const TOKEN: &str = "correct-horse-battery-staple";
const PANIC: &str = "v2 exploded (expected by the merge test)";

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Reply {
    total: u64,
    tax: u64,
}

/// Several instances' insights and one insight fed every instance's runs.
struct Fleet {
    instances: Vec<Insight<Reply>>,
    union: Insight<Reply>,
}

/// `runs` runs of `experiment` spread over `instances` instances. Candidate `v3` always
/// agrees; with `broken`, candidate `v2` also runs: it gets the total wrong on 4 % of runs,
/// the tax on 2 %, and panics on 1 %.
fn fleet(experiment: &str, instances: usize, runs: u64, broken: bool) -> Fleet {
    common::silence_expected_panics(&[PANIC]);
    let union = Insight::new();
    let insights: Vec<Insight<Reply>> = (0..instances).map(|_| Insight::new()).collect();
    let experiments: Vec<Experiment<Reply>> = insights
        .iter()
        .map(|insight| {
            Experiment::builder(experiment)
                .diff(DiffOptions::new())
                .publisher(insight.clone())
                .publisher(union.clone())
                .build()
                .unwrap()
        })
        .collect();
    for n in 0..runs {
        // Uneven, interleaved shares.
        let instance = ((n * 7919) % 13) as usize % instances;
        let control = Reply {
            total: n,
            tax: n / 10,
        };
        let trial = experiments[instance]
            .trial()
            .control(|| control.clone())
            .candidate("v3", || control.clone());
        if broken {
            trial
                .candidate("v2", || match n % 100 {
                    0..=3 => Reply {
                        total: n + 1,
                        ..control.clone()
                    },
                    4 | 5 => Reply {
                        tax: n,
                        ..control.clone()
                    },
                    6 => panic!("{PANIC}"),
                    _ => control.clone(),
                })
                .run();
        } else {
            trial.run();
        }
    }
    Fleet {
        instances: insights,
        union,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "darklaunch-fleet-merge-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes each instance's snapshot to `dir/instance-<i>.json`.
fn write_snapshots(fleet: &Fleet, dir: &Path) -> Vec<String> {
    fleet
        .instances
        .iter()
        .enumerate()
        .map(|(i, insight)| {
            let path = dir.join(format!("instance-{i}.json"));
            std::fs::write(&path, insight.snapshot().to_json().unwrap()).unwrap();
            path.display().to_string()
        })
        .collect()
}

fn run(args: &[&str]) -> Output {
    run_with(args, None, &[])
}

fn run_with(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("merge")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run darklaunch-fleet");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "the tool panicked: {stderr}");
    output
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the tests compare per candidate: runs, the verdict counts, the groups (by shape, with
/// their counts), ungrouped mismatches, and the status.
type Counts = (u64, [u64; 6], BTreeMap<String, u64>, u64, String);

fn counts(report: &Report) -> (u64, BTreeMap<String, Counts>) {
    let candidates = report
        .candidates
        .iter()
        .map(|c| {
            let groups = c
                .groups
                .iter()
                .map(|g| {
                    let shape: Vec<String> = g
                        .shape
                        .iter()
                        .map(|e| format!("{} {}", e.path, e.kind))
                        .collect();
                    (shape.join(", "), g.count)
                })
                .collect();
            (
                c.name.clone(),
                (
                    c.runs,
                    [
                        c.matched,
                        c.mismatched,
                        c.noise,
                        c.ignored,
                        c.errors,
                        c.timeouts,
                    ],
                    groups,
                    c.ungrouped_mismatches,
                    c.verdict.status.as_str().to_owned(),
                ),
            )
        })
        .collect();
    (report.runs, candidates)
}

/// The merged snapshot on `output`'s stdout counts what the union insight counts.
fn assert_merged_is_the_union(output: &Output, fleet: &Fleet) {
    let merged = Snapshot::from_json(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is a snapshot: {e}: {}", stderr(output)));
    assert_eq!(merged.experiment(), EXPERIMENT);
    let union = fleet.union.report();
    let (runs, candidates) = counts(&merged.report());
    let (union_runs, union_candidates) = counts(&union);
    assert_eq!(runs, union_runs);
    assert_eq!(candidates, union_candidates);
}

#[test]
fn merging_snapshot_files_counts_what_one_insight_fed_every_run_counts() {
    let fleet = fleet(EXPERIMENT, 3, 3_000, true);
    let dir = temp_dir("files");
    let files = write_snapshots(&fleet, &dir);
    let union = fleet.union.report();
    assert_eq!(union.runs, 3_000);
    let v2 = union.candidates.iter().find(|c| c.name == "v2").unwrap();
    let shapes: Vec<_> = v2
        .groups
        .iter()
        .map(|g| (g.shape.clone(), g.count))
        .collect();
    assert_eq!(
        (v2.mismatched, v2.errors, v2.groups.len()),
        (180, 30, 2),
        "{shapes:?}"
    );
    // Every instance saw a part only.
    for insight in &fleet.instances {
        assert!(insight.report().runs < 3_000);
    }

    // JSON: the merged snapshot.
    let args: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .chain(["--format", "json"])
        .collect();
    let output = run(&args);
    assert_eq!(code(&output), 1, "v2 is not safe: {}", stderr(&output));
    assert_merged_is_the_union(&output, &fleet);
    assert!(
        stderr(&output).contains(&format!(
            "merged verdict of experiment \"{EXPERIMENT}\" (3 sources, 3,000 runs): not safe (exit 1)"
        )),
        "{}",
        stderr(&output)
    );

    // Merges compose: (0 + 1), then that (on stdin) + 2.
    let first = run(&[&files[0], &files[1], "--format", "json"]);
    assert_eq!(code(&first), 1);
    let output = run_with(
        &["-", &files[2], "--format", "json"],
        Some(&first.stdout),
        &[],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_merged_is_the_union(&output, &fleet);

    // Text: the report names the experiment, each candidate's verdict, the sources and the
    // merged verdict.
    let output = run(&[&files[0], &files[1], &files[2]]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(text.contains(&format!("experiment {EXPERIMENT}")), "{text}");
    assert!(text.contains("[not_safe] v2"), "{text}");
    assert!(text.contains(&files[2]), "{text}");
    assert!(
        text.contains(&format!(
            "merged verdict of experiment \"{EXPERIMENT}\" (3 sources, 3,000 runs): not safe (exit 1)"
        )),
        "{text}"
    );
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    // HTML to a file: nothing on stdout, the summary on stderr.
    let html = dir.join("report.html");
    let output = run(&[
        &files[0],
        &files[1],
        &files[2],
        "--format",
        "html",
        "--output",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("not safe (exit 1)"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..100]);
    assert!(page.trim_end().ends_with("</html>"));
    assert!(page.contains(EXPERIMENT));
    assert!(page.contains("v2"));

    // An output that cannot be written: exit 8, and nothing half-written.
    let output = run(&[&files[0], "--output", "/nonexistent/dir/report.txt"]);
    assert_eq!(code(&output), 8, "{}", stderr(&output));
    assert!(stderr(&output).contains("could not write"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_exit_status_is_the_merged_verdict() {
    let dir = temp_dir("statuses");
    // Only the clean candidate: safe under a 1 % tolerance, undecided under the default 0.1 %
    // (0 mismatches in 3,000 runs do not yet bound the rate under 0.1 %).
    let clean = fleet(EXPERIMENT, 2, 3_000, false);
    let files = write_snapshots(&clean, &dir);
    let output = run(&[
        &files[0],
        &files[1],
        "--max-mismatch-rate",
        "0.01",
        "--max-error-rate",
        "0.01",
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    assert!(stdout(&output).contains("safe (exit 0)"));
    let output = run(&[&files[0], &files[1]]);
    assert_eq!(code(&output), 3, "{}", stdout(&output));
    assert!(stdout(&output).contains("undecided (exit 3)"));
    // Each instance alone has too few runs for a 2,000-run minimum; merged they have enough.
    let output = run(&[
        &files[0],
        "--min-runs",
        "2000",
        "--max-mismatch-rate",
        "0.01",
        "--max-error-rate",
        "0.01",
    ]);
    assert_eq!(code(&output), 3, "{}", stdout(&output));
    let output = run(&[
        &files[0],
        &files[1],
        "--min-runs",
        "2000",
        "--max-mismatch-rate",
        "0.01",
        "--max-error-rate",
        "0.01",
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves each insight's `ReportService` (behind the token) under `/darklaunch` on its own
/// port of 127.0.0.1, as separate instances would; returns the addresses.
fn serve(runtime: &tokio::runtime::Runtime, insights: &[Insight<Reply>]) -> Vec<SocketAddr> {
    insights
        .iter()
        .map(|insight| {
            let service = ReportService::new(insight.clone()).bearer_token(TOKEN);
            let app = Router::new().nest_service("/darklaunch", service);
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .await
                    .expect("bind 127.0.0.1");
                let addr = listener.local_addr().unwrap();
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
                addr
            })
        })
        .collect()
}

#[test]
fn merging_live_instances_over_http_with_the_token() {
    let fleet = fleet(EXPERIMENT, 2, 2_000, true);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addrs = serve(&runtime, &fleet.instances);
    let urls: Vec<String> = addrs
        .iter()
        .map(|addr| format!("http://{addr}/darklaunch/snapshot.json"))
        .collect();

    // The token from the environment, and on the command line.
    let output = run_with(
        &[
            &urls[0],
            &urls[1],
            "--token-env",
            "DL_TOKEN",
            "--format",
            "json",
        ],
        None,
        &[("DL_TOKEN", TOKEN)],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_merged_is_the_union(&output, &fleet);
    let output = run(&[&urls[0], &urls[1], "--token", TOKEN]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(stdout(&output).contains(&urls[1]));

    // A URL and a file merge too.
    let dir = temp_dir("http");
    let files = write_snapshots(&fleet, &dir);
    let output = run(&[&urls[0], &files[1], "--token", TOKEN, "--format", "json"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_merged_is_the_union(&output, &fleet);

    // A wrong token and none: exit 11, saying "token", naming the URL, never the token.
    let output = run(&[&urls[0], &urls[1], "--token", "wrong-token"]);
    assert_eq!(code(&output), 11, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("refused the token") && message.contains(&urls[0]),
        "{message}"
    );
    assert!(!message.contains("wrong-token"), "{message}");
    assert!(output.stdout.is_empty());
    let output = run(&[&urls[0]]);
    assert_eq!(code(&output), 11, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("needs a token"),
        "{}",
        stderr(&output)
    );
    // An unset token variable is a usage error.
    let output = run(&[&urls[0], "--token-env", "DL_FLEET_TEST_UNSET_TOKEN"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));

    // Nobody listening: exit 10.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/darklaunch/snapshot.json");
    let output = run(&[&urls[0], &dead, "--token", TOKEN, "--timeout", "3s"]);
    assert_eq!(code(&output), 10, "{}", stderr(&output));
    assert!(stderr(&output).contains(&dead), "{}", stderr(&output));
    assert!(stderr(&output).contains("unreachable"));

    // Another HTTP error: exit 12 with the status.
    let wrong_path = format!("http://{}/darklaunch/nope", addrs[0]);
    let output = run(&[&wrong_path, "--token", TOKEN]);
    assert_eq!(code(&output), 12, "{}", stderr(&output));
    assert!(stderr(&output).contains("HTTP 404"), "{}", stderr(&output));
    assert!(stderr(&output).contains("snapshot.json"));

    // The HTML report page is no snapshot: exit 13, with a hint about the URL.
    let page = format!("http://{}/darklaunch/", addrs[0]);
    let output = run(&[&page, "--token", TOKEN]);
    assert_eq!(code(&output), 13, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("<mount>/snapshot.json"),
        "{}",
        stderr(&output)
    );

    // A body over the cap: refused (exit 9), not held.
    let output = run(&[&urls[0], "--token", TOKEN, "--max-bytes", "1000"]);
    assert_eq!(code(&output), 9, "{}", stderr(&output));
    assert!(stderr(&output).contains("larger than 1000 bytes"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server on 127.0.0.1 that answers every connection with `response` (after reading the
/// request's head); returns its URL for `path`.
fn canned(response: &'static [u8], path: &str) -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match std::io::Read::read(&mut stream, &mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let _ = stream.write_all(response);
        }
    });
    format!("http://{addr}{path}")
}

#[test]
fn other_http_answers_are_http_errors() {
    for (response, words) in [
        (
            &b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\nboom"[..],
            "HTTP 500: boom",
        ),
        (
            b"HTTP/1.1 302 Found\r\nlocation: http://elsewhere.example/snapshot.json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            "a redirect to http://elsewhere.example/snapshot.json",
        ),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not a usable HTTP answer"),
    ] {
        let url = canned(response, "/darklaunch/snapshot.json");
        let output = run(&[&url, "--token", TOKEN, "--timeout", "5s"]);
        assert_eq!(code(&output), 12, "{words}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains(words) && message.contains(&url), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
    }
}

#[test]
fn bad_sources_have_their_codes_and_name_the_source() {
    let dir = temp_dir("bad");
    let fleet = fleet(EXPERIMENT, 1, 200, true);
    let good = write_snapshots(&fleet, &dir).remove(0);
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let truncated = write("truncated.json", &bytes[..bytes.len() * 2 / 3]);
    let not_json = write(
        "notes.txt",
        b"these are not the snapshots you are looking for\n",
    );
    let other = fleet_snapshot_of("tax-v2", &dir);
    let missing = dir.join("missing.json").display().to_string();
    let big = write("big.json", &vec![b' '; 5_000]);
    let (strict, lax) = (
        calibrated_snapshot(0.1, &dir),
        calibrated_snapshot(0.5, &dir),
    );

    for (args, exit, words) in [
        (
            vec![&good[..], &truncated[..]],
            13,
            vec![&truncated[..], "not a darklaunch insight snapshot"],
        ),
        (
            vec![&not_json[..]],
            13,
            vec![&not_json[..], "not a darklaunch insight snapshot"],
        ),
        (
            vec![&good[..], &other[..]],
            14,
            vec![&other[..], "tax-v2", EXPERIMENT, "the experiment of"],
        ),
        (
            vec![&strict[..], &lax[..]],
            14,
            vec![&lax[..], "noise calibration thresholds"],
        ),
        (vec![], 15, vec!["no sources"]),
        (
            vec![&good[..], &missing[..]],
            9,
            vec![&missing[..], "no such file"],
        ),
        (
            vec![&big[..], "--max-bytes", "4096"],
            9,
            vec![&big[..], "larger than 4096 bytes"],
        ),
        (vec!["-", "-"], 2, vec!["more than once"]),
        (
            vec!["https://p/snapshot.json"],
            2,
            vec!["https is not supported"],
        ),
    ] {
        for format in ["text", "json", "html"] {
            let mut all = args.clone();
            all.extend(["--format", format]);
            let output = run(&all);
            assert_eq!(code(&output), exit, "{all:?}: {}", stderr(&output));
            assert!(output.stdout.is_empty(), "{all:?}");
            let message = stderr(&output);
            for word in &words {
                assert!(message.contains(word), "{all:?}: {word:?} in {message}");
            }
        }
    }
    // Empty stdin is not a snapshot either.
    let output = run_with(&["-"], Some(b""), &[]);
    assert_eq!(code(&output), 13, "{}", stderr(&output));
    assert!(stderr(&output).contains("stdin"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A snapshot of [`EXPERIMENT`] calibrating noise with `threshold`, written to `dir`.
fn calibrated_snapshot(threshold: f64, dir: &Path) -> String {
    let insight = Insight::new();
    let experiment: Experiment<Reply> = Experiment::builder(EXPERIMENT)
        .calibrate_noise(
            NoiseCalibration::new()
                .percent(100.0)
                .relative_threshold(threshold),
        )
        .publisher(insight.clone())
        .build()
        .unwrap();
    for n in 0..50u64 {
        let reply = Reply { total: n, tax: n };
        experiment
            .trial()
            .control(|| reply.clone())
            .calibration(|| reply.clone())
            .candidate("v3", || reply.clone())
            .run();
    }
    let path = dir.join(format!("calibrated-{threshold}.json"));
    std::fs::write(&path, insight.snapshot().to_json().unwrap()).unwrap();
    path.display().to_string()
}

fn fleet_snapshot_of(experiment: &str, dir: &Path) -> String {
    let fleet = fleet(experiment, 1, 50, false);
    let path = dir.join(format!("{experiment}.json"));
    std::fs::write(&path, fleet.instances[0].snapshot().to_json().unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn help_lists_merge_and_its_exit_codes() {
    let output = Command::new(BIN)
        .args(["merge", "--help"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for words in [
        "--token-env",
        "--format",
        "--output",
        "--trace-link",
        "--max-mismatch-rate",
        " 9  merge: a source could not be read",
        "10  merge: a source URL unreachable",
        "11  merge: a source URL refused the token",
        "12  merge: a source URL answered another HTTP error",
        "13  merge: a source is not a valid snapshot",
        "14  merge: snapshots that cannot be merged",
        "15  merge: no sources given",
    ] {
        assert!(help.contains(words), "{words:?} in {help}");
    }
}
