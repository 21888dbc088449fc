//! Reading recorded cases from JSON lines.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::diff::Diff;
use crate::observation::Verdict;
use crate::text::{capped, escape_control};

/// The longest line read, in bytes: a longer one is [`Unreadable`] (and read no further).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The longest reason kept for an unreadable line, in bytes.
const MAX_REASON: usize = 512;

/// Where a case came from: a file (or the name given to a reader) and a line, from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file's path as given, or the reader's name.
    pub file: Arc<str>,
    /// The line number, from 1.
    pub line: u64,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", escape_control(&self.file), self.line)
    }
}

/// How a behaviour ended, as a JSON lines record tells it (values appear only in the diff).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedOutcome {
    /// [`Outcome::kind`](crate::Outcome::kind): `value`, `error`, `panicked` or `timed_out`.
    pub kind: String,
    /// The panic message, for a behaviour that panicked.
    pub panic: Option<String>,
}

/// One recorded run of one candidate, with its input.
#[derive(Clone, Debug, PartialEq)]
pub struct Case<I> {
    /// Where it was read.
    pub source: Source,
    /// The candidate's name.
    pub candidate: String,
    /// The verdict it was published with.
    pub verdict: Verdict,
    /// The run's context, as recorded.
    pub context: Map<String, Value>,
    /// The run's input.
    pub input: I,
    /// The control's recorded outcome.
    pub control: RecordedOutcome,
    /// The candidate's recorded outcome.
    pub candidate_outcome: RecordedOutcome,
    /// The recorded diff, when one was computed.
    pub diff: Option<Diff>,
}

/// A line that could not be read as a case of the experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// Where.
    pub source: Source,
    /// Why, in words (capped, control characters escaped).
    pub reason: String,
}

/// Lines passed over on purpose, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Records of other experiments.
    pub other_experiment: u64,
    /// Records of other candidates (after [`Cases::candidate`]).
    pub other_candidate: u64,
    /// Records of this experiment that carry no input (the trial named none, or its
    /// serialization failed).
    pub without_input: u64,
    /// Guard records (a trip or re-arm, not a run).
    pub guard_records: u64,
    /// Blank lines.
    pub blank_lines: u64,
}

/// The recorded cases of one experiment, with what was skipped and what could not be read.
#[derive(Clone, Debug)]
pub struct Cases<I> {
    pub(crate) experiment: String,
    pub(crate) cases: Vec<Case<I>>,
    pub(crate) skipped: Skipped,
    pub(crate) unreadable: Vec<Unreadable>,
}

impl<I: DeserializeOwned> Cases<I> {
    /// Reads the cases of `experiment` from JSON lines files (of one instance or many): every
    /// record of that experiment that carries an input readable as an `I`.
    ///
    /// # Errors
    ///
    /// A file that cannot be opened or read (named in the error). Lines that cannot be read
    /// are not errors: they are listed in [`unreadable`](Self::unreadable).
    pub fn read(
        experiment: &str,
        paths: impl IntoIterator<Item = impl AsRef<Path>>,
    ) -> io::Result<Self> {
        let mut cases = Self::empty(experiment);
        for path in paths {
            let path = path.as_ref();
            let named = |error: io::Error| {
                io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            };
            let file = File::open(path).map_err(named)?;
            cases
                .read_lines(&path.display().to_string(), BufReader::new(file))
                .map_err(named)?;
        }
        Ok(cases)
    }

    /// Reads the cases of `experiment` from one reader, naming it `name` in each
    /// [`Source`].
    ///
    /// # Errors
    ///
    /// The reader's error.
    pub fn from_reader(experiment: &str, name: &str, reader: impl BufRead) -> io::Result<Self> {
        let mut cases = Self::empty(experiment);
        cases.read_lines(name, reader)?;
        Ok(cases)
    }

    fn empty(experiment: &str) -> Self {
        Cases {
            experiment: experiment.to_owned(),
            cases: Vec::new(),
            skipped: Skipped::default(),
            unreadable: Vec::new(),
        }
    }

    fn read_lines(&mut self, name: &str, mut reader: impl BufRead) -> io::Result<()> {
        let file: Arc<str> = Arc::from(name);
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            let source = Source {
                file: file.clone(),
                line: number,
            };
            match read_line(&mut reader, &mut line)? {
                Line::End => return Ok(()),
                Line::TooLong => {
                    self.add_unreadable(source, format!("longer than {MAX_LINE_BYTES} bytes"))
                }
                Line::Read => self.add_line(source, &line),
            }
        }
        Ok(())
    }

    fn add_unreadable(&mut self, source: Source, reason: String) {
        let reason = escape_control(&capped(&reason, MAX_REASON)).into_owned();
        self.unreadable.push(Unreadable { source, reason });
    }

    fn add_line(&mut self, source: Source, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            self.skipped.blank_lines += 1;
            return;
        }
        let record: Value = match serde_json::from_slice(line) {
            Ok(Value::Object(record)) => Value::Object(record),
            Ok(_) => return self.add_unreadable(source, String::from("not a JSON object")),
            Err(error) => return self.add_unreadable(source, format!("not JSON: {error}")),
        };
        if record.get("experiment").and_then(Value::as_str) != Some(self.experiment.as_str()) {
            self.skipped.other_experiment += 1;
            return;
        }
        if record.get("guard").is_some() {
            self.skipped.guard_records += 1;
            return;
        }
        match case_of(source.clone(), record) {
            Ok(Some(case)) => self.cases.push(case),
            Ok(None) => self.skipped.without_input += 1,
            Err(reason) => self.add_unreadable(source, reason),
        }
    }
}

impl<I> Cases<I> {
    /// Only the cases of candidate `name`; the others are counted in
    /// [`Skipped::other_candidate`].
    pub fn candidate(mut self, name: &str) -> Self {
        let before = self.cases.len();
        self.cases.retain(|case| case.candidate == name);
        self.skipped.other_candidate += (before - self.cases.len()) as u64;
        self
    }

    /// The experiment whose cases these are.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// The cases, in the order read.
    pub fn cases(&self) -> &[Case<I>] {
        &self.cases
    }

    /// How many cases were read.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// Whether no case was read.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// What was passed over on purpose, counted.
    pub fn skipped(&self) -> &Skipped {
        &self.skipped
    }

    /// The lines that could not be read, with where and why.
    pub fn unreadable(&self) -> &[Unreadable] {
        &self.unreadable
    }
}

enum Line {
    Read,
    TooLong,
    End,
}

/// Reads one line (without its `\n`) into `out`, at most [`MAX_LINE_BYTES`]; the rest of a
/// longer line is consumed and dropped.
fn read_line(reader: &mut impl BufRead, out: &mut Vec<u8>) -> io::Result<Line> {
    let limit = MAX_LINE_BYTES as u64 + 1;
    let read = reader.by_ref().take(limit).read_until(b'\n', out)?;
    if read == 0 {
        return Ok(Line::End);
    }
    if out.last() == Some(&b'\n') {
        out.pop();
        return Ok(Line::Read);
    }
    if out.len() <= MAX_LINE_BYTES {
        return Ok(Line::Read); // the last line, without a newline
    }
    // Over the limit: drop the rest of the line.
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let read = reader
            .by_ref()
            .take(64 * 1024)
            .read_until(b'\n', &mut rest)?;
        if read == 0 || rest.last() == Some(&b'\n') {
            return Ok(Line::TooLong);
        }
    }
}

/// The case in a record of the experiment; `None` when it carries no input.
fn case_of<I: DeserializeOwned>(
    source: Source,
    mut record: Value,
) -> Result<Option<Case<I>>, String> {
    let Some(input) = record.get_mut("input").map(Value::take) else {
        return Ok(None);
    };
    if record.get("input_cut") == Some(&Value::Bool(true)) {
        return Err(String::from(
            "its input was cut when it was recorded (over the size cap, or too deep), so it cannot be replayed",
        ));
    }
    let diff = match record.get_mut("diff").map(Value::take) {
        None | Some(Value::Null) => None,
        Some(diff) => Some(
            serde_json::from_value::<Diff>(diff)
                .map_err(|error| format!("unreadable diff: {error}"))?,
        ),
    };
    let context = match record.get_mut("context").map(Value::take) {
        Some(Value::Object(context)) => context,
        _ => Map::new(),
    };
    let text = |field: &str| -> Result<String, String> {
        record
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("no text field `{field}`"))
    };
    let verdict_text = text("verdict")?;
    let verdict = Verdict::ALL
        .into_iter()
        .find(|verdict| verdict.as_str() == verdict_text)
        .ok_or_else(|| format!("unknown verdict `{verdict_text}`"))?;
    let outcome = |role: &str| -> Result<RecordedOutcome, String> {
        Ok(RecordedOutcome {
            kind: text(&format!("{role}_outcome"))?,
            panic: record
                .get(format!("{role}_panic"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    };
    let input = I::deserialize(input)
        .map_err(|error| format!("its input is not a {}: {error}", std::any::type_name::<I>()))?;
    Ok(Some(Case {
        source,
        candidate: text("candidate")?,
        verdict,
        context,
        input,
        control: outcome("control")?,
        candidate_outcome: outcome("candidate")?,
        diff,
    }))
}
