//! The error hook: where panics from user callbacks go instead of reaching the caller.

use std::borrow::Cow;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Which user callback (or library step) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// The value comparator (`compare`).
    Compare,
    /// The error comparator (`compare_errors`).
    CompareErrors,
    /// An ignore rule (`ignore` / `ignore_when`).
    Ignore,
    /// The cleaner (`clean`).
    Clean,
    /// The sampler (a `Sampler::when` condition).
    Sampler,
    /// The `before_run` setup.
    BeforeRun,
    /// A publisher.
    Publish,
    /// Serializing values for a structural diff.
    Diff,
    /// A detached run could not be started (no async runtime to run its candidate on); the
    /// run was shed.
    Detach,
    /// A trial was malformed (for example two candidates with one name); the offending
    /// candidate was not run.
    Trial,
    /// A deadline could not be armed on tokio (a runtime built without timers); it is armed
    /// on darklaunch's own timer thread instead. Reported once per experiment.
    Timer,
    /// A feature flag could not be had or was refused (`darklaunch::flags`, feature
    /// `openfeature`); its last good value stays. Reported once until the flag recovers.
    Flags,
    /// A trial's input could not be recorded (its `Serialize` failed or panicked, or the
    /// input `clean` panicked); the run was published without it.
    Input,
}

impl Operation {
    /// Every operation, in a fixed order (the order of [`Operation::index`]).
    pub const ALL: [Operation; 13] = [
        Operation::Compare,
        Operation::CompareErrors,
        Operation::Ignore,
        Operation::Clean,
        Operation::Sampler,
        Operation::BeforeRun,
        Operation::Publish,
        Operation::Diff,
        Operation::Detach,
        Operation::Trial,
        Operation::Timer,
        Operation::Flags,
        Operation::Input,
    ];

    /// A stable lowercase name: `compare`, `compare_errors`, `ignore`, `clean`, `sampler`,
    /// `before_run`, `publish`, `diff`, `detach`, `trial`, `timer`, `flags`, `input`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Compare => "compare",
            Operation::CompareErrors => "compare_errors",
            Operation::Ignore => "ignore",
            Operation::Clean => "clean",
            Operation::Sampler => "sampler",
            Operation::BeforeRun => "before_run",
            Operation::Publish => "publish",
            Operation::Diff => "diff",
            Operation::Detach => "detach",
            Operation::Trial => "trial",
            Operation::Timer => "timer",
            Operation::Flags => "flags",
            Operation::Input => "input",
        }
    }

    /// The position of this operation in [`Operation::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure inside the experiment machinery that was kept away from the caller: a user
/// callback panicked, or a trial was malformed.
#[derive(Clone, Debug)]
pub struct CallbackError {
    /// The experiment's name.
    pub experiment: Arc<str>,
    /// What was being done.
    pub operation: Operation,
    /// The candidate concerned, where there is one.
    pub candidate: Option<Cow<'static, str>>,
    /// The panic message, or what was wrong.
    pub message: String,
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "experiment \"{}\": {} failed",
            self.experiment, self.operation
        )?;
        if let Some(candidate) = &self.candidate {
            write!(f, " for candidate \"{candidate}\"")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CallbackError {}

/// The function that receives every [`CallbackError`].
pub(crate) type ErrorHook = Arc<dyn Fn(&CallbackError) + Send + Sync>;

/// The hook used when none is configured: a `tracing` warning (target `darklaunch`) when the
/// `tracing` feature is on, otherwise nothing. Every error is counted in the stats either way.
pub(crate) fn default_hook() -> ErrorHook {
    Arc::new(|_error: &CallbackError| {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "darklaunch",
            experiment = %_error.experiment,
            operation = _error.operation.as_str(),
            candidate = _error.candidate.as_deref(),
            message = %_error.message,
            "darklaunch callback failed"
        );
    })
}

/// Every user callback runs through these.
impl<T, E> crate::experiment::Inner<T, E> {
    /// Calls user code; a panic goes to the error hook (and is counted) instead of the caller.
    pub(crate) fn guarded<R>(
        &self,
        operation: Operation,
        candidate: Option<&str>,
        callback: impl FnOnce() -> R,
    ) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(callback)) {
            Ok(value) => Some(value),
            Err(payload) => {
                self.report(operation, candidate, crate::run::panic_message(&*payload));
                None
            }
        }
    }

    /// Counts a failure and hands it to the error hook; a panicking hook is swallowed.
    pub(crate) fn report(&self, operation: Operation, candidate: Option<&str>, message: String) {
        self.state.counters.callback_error(operation);
        let error = CallbackError {
            experiment: self.settings.name.clone(),
            operation,
            candidate: candidate.map(|name| Cow::Owned(name.to_owned())),
            message,
        };
        let _ = catch_unwind(AssertUnwindSafe(|| (self.settings.hook)(&error)));
    }
}
