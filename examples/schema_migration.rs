//! A schema migration dark-launched in SQLite: a customer service moving from one table
//! (`customers_v1`: `full_name`) to two (`customers`: `first_name`, `last_name`, and
//! `customer_emails`).
//!
//! 1. Reads are dark-launched: the old query and the new join, compared on every customer.
//! 2. Writes are dark-launched through the effects recorder: the old code's renames are carried
//!    out, the new code's are only recorded, and each pair is compared as the row it would
//!    leave behind. The new code has a defect (it drops middle names); the mismatches are
//!    written to JSON lines with their inputs. The new table is checked untouched.
//! 3. The defect is fixed and the recorded inputs are replayed against the fix: every case is
//!    fixed, and nothing was written during the replay.
//!
//! Run: `cargo run --example schema_migration`

use std::error::Error;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use darklaunch::diff::DiffOptions;
use darklaunch::effects::{Effected, Effects};
use darklaunch::input::RecordInputs;
use darklaunch::publish::{JsonLinesPublisher, Recorder};
use darklaunch::replay::Cases;
use darklaunch::Experiment;

/// A customer as the service returns it, whichever layout it was read from.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct Customer {
    id: i64,
    name: String,
    email: Option<String>,
}

/// A rename command: the write path's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Rename {
    id: i64,
    name: String,
}

/// A write, in the layout-independent terms both codes are compared in: the customer's name
/// as the row will hold it after the write.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct NameWritten {
    id: i64,
    name: String,
}

const PEOPLE: [(&str, &str); 6] = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Brewster Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Mary Ann Evans", "mary@example.com"),
    ("Edsger Dijkstra", "edsger@example.com"),
    ("Barbara Liskov", "barbara@example.com"),
];

fn create(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.execute_batch(
        "CREATE TABLE customers_v1 (id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, email TEXT);
         CREATE TABLE customers (id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL);
         CREATE TABLE customer_emails (customer_id INTEGER NOT NULL REFERENCES customers(id), email TEXT NOT NULL);",
    )?;
    for (index, (name, email)) in PEOPLE.iter().enumerate() {
        let id = index as i64 + 1;
        db.execute(
            "INSERT INTO customers_v1 (id, full_name, email) VALUES (?1, ?2, ?3)",
            params![id, name, email],
        )?;
        // The backfill: the migration's own (tested) split.
        let (first, last) = split_fixed(name);
        db.execute(
            "INSERT INTO customers (id, first_name, last_name) VALUES (?1, ?2, ?3)",
            params![id, first, last],
        )?;
        db.execute(
            "INSERT INTO customer_emails (customer_id, email) VALUES (?1, ?2)",
            params![id, email],
        )?;
    }
    Ok(db)
}

fn find_old(db: &Connection, id: i64) -> rusqlite::Result<Option<Customer>> {
    db.query_row(
        "SELECT id, full_name, email FROM customers_v1 WHERE id = ?1",
        [id],
        |row| {
            Ok(Customer {
                id: row.get(0)?,
                name: row.get(1)?,
                email: row.get(2)?,
            })
        },
    )
    .optional()
}

fn find_new(db: &Connection, id: i64) -> rusqlite::Result<Option<Customer>> {
    db.query_row(
        "SELECT c.id, c.first_name || ' ' || c.last_name, e.email
           FROM customers c LEFT JOIN customer_emails e ON e.customer_id = c.id
          WHERE c.id = ?1",
        [id],
        |row| {
            Ok(Customer {
                id: row.get(0)?,
                name: row.get(1)?,
                email: row.get(2)?,
            })
        },
    )
    .optional()
}

/// The new code's split, with the defect: a middle name is dropped.
fn split_defective(name: &str) -> (String, String) {
    let mut words = name.split_whitespace();
    let first = words.next().unwrap_or_default().to_owned();
    let last = words.last().unwrap_or_default().to_owned();
    (first, last)
}

/// The fix: everything after the first word is the last name.
fn split_fixed(name: &str) -> (String, String) {
    match name.trim().split_once(' ') {
        Some((first, rest)) => (first.to_owned(), rest.trim().to_owned()),
        None => (name.trim().to_owned(), String::new()),
    }
}

/// The old write path: one update of `customers_v1`.
fn rename_old(
    db: &Connection,
    fx: &Effects<NameWritten>,
    rename: &Rename,
) -> Effected<bool, NameWritten> {
    let write = NameWritten {
        id: rename.id,
        name: rename.name.clone(),
    };
    let done = fx.perform(write, |write| {
        db.execute(
            "UPDATE customers_v1 SET full_name = ?1 WHERE id = ?2",
            params![write.name, write.id],
        )
    });
    let updated = matches!(done, Ok(Some(Ok(1))) | Ok(None));
    fx.finish(updated)
}

/// The new write path: the name split into the new columns.
fn rename_new(
    db: &Connection,
    fx: &Effects<NameWritten>,
    rename: &Rename,
    split: fn(&str) -> (String, String),
) -> Effected<bool, NameWritten> {
    let (first, last) = split(&rename.name);
    // Compared as the name the row will hold: first and last joined as the new read does.
    let write = NameWritten {
        id: rename.id,
        name: format!("{first} {last}"),
    };
    let done = fx.perform(write, |write| {
        db.execute(
            "UPDATE customers SET first_name = ?1, last_name = ?2 WHERE id = ?3",
            params![first, last, write.id],
        )
    });
    let updated = matches!(done, Ok(Some(Ok(1))) | Ok(None));
    fx.finish(updated)
}

fn new_layout_names(db: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement =
        db.prepare("SELECT first_name || ' ' || last_name FROM customers ORDER BY id")?;
    let names = statement.query_map([], |row| row.get(0))?.collect();
    names
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!(
        "darklaunch-schema-migration-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let database: PathBuf = dir.join("customers.sqlite");
    let mismatches = dir.join("renames.jsonl");
    let _ = std::fs::remove_file(&database);
    let _ = std::fs::remove_file(&mismatches);
    let db = create(&database)?;
    println!("SQLite database: {}", database.display());

    // 1. Reads.
    let reads: Experiment<Option<Customer>, rusqlite::Error> = Experiment::builder("customer-read")
        .diff(DiffOptions::new())
        .build()?;
    for id in 1..=(PEOPLE.len() as i64 + 1) {
        reads.run(|| find_old(&db, id), || find_new(&db, id))?;
    }
    let read_stats = reads.stats();
    println!(
        "reads:  {} compared, {} matched, {} mismatched",
        read_stats.sampled, read_stats.matched, read_stats.mismatched
    );
    assert_eq!(read_stats.mismatched, 0, "the backfill is right");

    // 2. Writes, with the defect.
    let before = new_layout_names(&db)?;
    let writes_recorder = Recorder::new();
    let writes: Experiment<Effected<bool, NameWritten>> = Experiment::builder("customer-rename")
        .diff(DiffOptions::new())
        .record_inputs(RecordInputs::new())
        .publisher(writes_recorder.clone())
        .publisher(JsonLinesPublisher::to_file(&mismatches)?)
        .build()?;
    let renames: Vec<Rename> = [
        (1, "Augusta Ada King"),
        (2, "Grace Hopper"),
        (3, "Alan Mathison Turing"),
        (4, "George Eliot"),
        (6, "Barbara Jane Liskov"),
    ]
    .into_iter()
    .map(|(id, name)| Rename {
        id,
        name: name.to_owned(),
    })
    .collect();
    for rename in &renames {
        let done = writes
            .trial()
            .input(rename)
            .control(|| rename_old(&db, &Effects::carrying_out(), rename))
            .candidate("split-v2", || {
                rename_new(&db, &Effects::recording_only(), rename, split_defective)
            })
            .run();
        assert!(done.value, "the old code renamed customer {}", rename.id);
    }
    let write_stats = writes.stats();
    println!(
        "writes: {} compared, {} matched, {} mismatched",
        write_stats.sampled, write_stats.matched, write_stats.mismatched
    );
    for result in writes_recorder
        .results()
        .iter()
        .filter(|r| r.has_mismatch())
    {
        let diff = result.candidates()[0].diff().expect("diffed");
        for difference in &diff.differences {
            println!("  mismatch: {difference}");
        }
    }
    assert_eq!(
        write_stats.mismatched, 3,
        "three renames have a middle name"
    );
    // The old table has every rename; the new one not a single write.
    for rename in &renames {
        assert_eq!(
            find_old(&db, rename.id)?.map(|c| c.name),
            Some(rename.name.clone())
        );
    }
    assert_eq!(
        new_layout_names(&db)?,
        before,
        "the candidate wrote nothing"
    );
    println!("old layout renamed; new layout untouched by the candidate");

    // 3. The fix, replayed on the recorded inputs: nothing is written by either side.
    let cases: Cases<Rename> = Cases::read("customer-rename", [&mismatches])?;
    println!(
        "recorded cases: {} (in {})",
        cases.len(),
        mismatches.display()
    );
    let db = &db;
    let replay_check = |split: fn(&str) -> (String, String)| {
        writes.replay(
            &cases,
            |rename: &Rename| rename_old(db, &Effects::recording_only(), rename),
            move |rename: &Rename| rename_new(db, &Effects::recording_only(), rename, split),
        )
    };
    let unfixed = replay_check(split_defective);
    assert_eq!(
        unfixed.still_differ.len(),
        cases.len(),
        "the defect reproduces"
    );
    let fixed = replay_check(split_fixed);
    print!("{}", fixed.summary());
    fixed.assert_fixed();
    assert_eq!(new_layout_names(db)?, before, "the replay wrote nothing");
    println!("every recorded mismatch is fixed");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
