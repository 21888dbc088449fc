//! Comparing intended writes against a real SQLite file: the control's writes are carried
//! out, the candidate's never reach the database, differing writes are mismatches with a diff
//! naming the write and the field, identical ones match; in every run form.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{params, Connection};
use serde::Serialize;

use darklaunch::diff::DiffOptions;
use darklaunch::effects::{same_unordered, Effected, Effects};
use darklaunch::publish::Recorder;
use darklaunch::{Experiment, Verdict};

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Stock {
    sku: String,
    quantity: i64,
}

fn database(name: &str) -> (PathBuf, Connection) {
    let path = std::env::temp_dir().join(format!(
        "darklaunch-effects-{}-{name}.sqlite",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let connection = Connection::open(&path).unwrap();
    connection
        .execute_batch("CREATE TABLE stock (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL);")
        .unwrap();
    (path, connection)
}

/// Writes the stock rows through `effects`: an `INSERT OR REPLACE` per row, carried out only by
/// the control's recorder.
fn restock(
    path: &PathBuf,
    effects: &Effects<Stock>,
    rows: &[(&str, i64)],
) -> Effected<usize, Stock> {
    let connection = Connection::open(path).unwrap();
    for (sku, quantity) in rows {
        let write = Stock {
            sku: (*sku).to_owned(),
            quantity: *quantity,
        };
        effects
            .perform(write, |write| {
                connection
                    .execute(
                        "INSERT OR REPLACE INTO stock (sku, quantity) VALUES (?1, ?2)",
                        params![write.sku, write.quantity],
                    )
                    .unwrap()
            })
            .unwrap();
    }
    effects.finish(rows.len())
}

fn rows_in(path: &PathBuf) -> Vec<(String, i64)> {
    let connection = Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT sku, quantity FROM stock ORDER BY sku")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn experiment(recorder: &Recorder<Effected<usize, Stock>>) -> Experiment<Effected<usize, Stock>> {
    Experiment::builder("restock")
        .diff(DiffOptions::new())
        .publisher(recorder.clone())
        .build()
        .unwrap()
}

#[test]
fn the_candidates_writes_never_reach_the_database_and_differences_are_diffed() {
    let (path, _connection) = database("sync");
    let recorder = Recorder::new();
    let experiment = experiment(&recorder);

    let same = experiment.run(
        || {
            restock(
                &path,
                &Effects::carrying_out(),
                &[("apple", 3), ("pear", 5)],
            )
        },
        || {
            restock(
                &path,
                &Effects::recording_only(),
                &[("apple", 3), ("pear", 5)],
            )
        },
    );
    assert_eq!(same.value, 2);
    let differing = experiment
        .trial()
        .control(|| restock(&path, &Effects::carrying_out(), &[("fig", 1), ("kiwi", 2)]))
        .candidate("v2", || {
            restock(
                &path,
                &Effects::recording_only(),
                &[("fig", 1), ("kiwi", 20), ("lime", 9)],
            )
        })
        .run();
    assert_eq!(
        differing.effects.len(),
        2,
        "the caller gets the control's writes"
    );

    // Only the control's writes are in the real file.
    assert_eq!(
        rows_in(&path),
        [
            ("apple".into(), 3),
            ("fig".into(), 1),
            ("kiwi".into(), 2),
            ("pear".into(), 5)
        ]
    );
    let results = recorder.results();
    assert_eq!(results[0].candidates()[0].verdict(), Verdict::Match);
    let mismatch = &results[1].candidates()[0];
    assert_eq!(mismatch.verdict(), Verdict::Mismatch);
    let paths: Vec<&str> = mismatch
        .diff()
        .unwrap()
        .differences
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(paths, ["$.effects[1].quantity", "$.effects[2]", "$.value"]);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_detached_candidate_records_its_writes_in_the_background_and_writes_nothing() {
    let (path, _connection) = database("detached");
    let recorder = Recorder::new();
    let experiment = experiment(&recorder);
    let (control_path, candidate_path) = (path.clone(), path.clone());
    let saved = experiment
        .run_detached(
            async move { restock(&control_path, &Effects::carrying_out(), &[("plum", 4)]) },
            async move { restock(&candidate_path, &Effects::recording_only(), &[("plum", 40)]) },
        )
        .await;
    assert_eq!(
        saved.effects,
        [Stock {
            sku: "plum".into(),
            quantity: 4
        }]
    );
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    assert_eq!(rows_in(&path), [("plum".into(), 4)]);
    let diff = recorder.results()[0].candidates()[0]
        .diff()
        .cloned()
        .unwrap();
    assert_eq!(diff.differences[0].path, "$.effects[0].quantity");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn writes_in_another_order_match_when_order_does_not_matter() {
    let (path, _connection) = database("unordered");
    let recorder = Recorder::new();
    let experiment: Experiment<Effected<usize, Stock>> = Experiment::builder("restock-unordered")
        .compare(same_unordered)
        .diff(
            DiffOptions::new()
                .try_unordered_arrays("$.effects")
                .unwrap(),
        )
        .publisher(recorder.clone())
        .build()
        .unwrap();
    experiment.run(
        || restock(&path, &Effects::carrying_out(), &[("a", 1), ("b", 2)]),
        || restock(&path, &Effects::recording_only(), &[("b", 2), ("a", 1)]),
    );
    experiment.run(
        || restock(&path, &Effects::carrying_out(), &[("a", 1), ("b", 2)]),
        || restock(&path, &Effects::recording_only(), &[("b", 2), ("a", 2)]),
    );
    let verdicts: Vec<Verdict> = recorder
        .results()
        .iter()
        .map(|r| r.candidates()[0].verdict())
        .collect();
    assert_eq!(verdicts, [Verdict::Match, Verdict::Mismatch]);
    assert_eq!(rows_in(&path), [("a".into(), 1), ("b".into(), 2)]);
    let _ = std::fs::remove_file(&path);
}
