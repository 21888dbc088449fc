//! Rates from a feature-flag service, through OpenFeature (feature `openfeature`).
//!
//! [`FlagRates`] polls an OpenFeature [`Client`] for up to three flags and feeds an
//! experiment's runtime handles with them:
//!
//! * a float flag for the **sampling percentage** (0 to 100), set on a
//!   [`SamplerHandle`] (from [`Sampler::runtime`](crate::Sampler::runtime) or
//!   [`Sampler::runtime_keyed`](crate::Sampler::runtime_keyed));
//! * a float flag for the **serving share** (0 to 100 % of keys), set on a [`ServeShare`];
//! * a boolean **kill switch**: while it is on, the sampler is killed (no new candidates run)
//!   and the serving share is held at 0 (every key gets the control's outcome); when it goes
//!   off, both come back to what their flags say.
//!
//! A flag that fails (a provider error, a missing flag, a value of another type, a panicking
//! provider, no answer within the [evaluation timeout](FlagRates::evaluation_timeout)) keeps
//! the last good value and is reported **once** through the experiment's error hook
//! ([`Operation::Flags`]) until it recovers. A bad value (NaN,
//! negative, over 100) is refused the same way, with a message that says why.
//!
//! ```
//! use darklaunch::flags::{FlagRates, FlagValue, InMemoryFlags};
//! use darklaunch::{Experiment, Sampler, ServeShare};
//! use open_feature::OpenFeature;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let flags = InMemoryFlags::new();
//! flags.set("checkout.sample", FlagValue::Float(5.0));
//! flags.set("checkout.serve", FlagValue::Float(10.0));
//! flags.set("checkout.kill", FlagValue::Bool(false));
//! let mut api = OpenFeature::singleton_mut().await;
//! api.set_named_provider("doc-checkout", flags.clone()).await;
//! let client = api.create_named_client("doc-checkout");
//! drop(api);
//!
//! let (sampler, sampling) = Sampler::runtime_keyed(0.0);
//! let share = ServeShare::new(0.0);
//! let experiment: Experiment<u64> = Experiment::builder("checkout-v2")
//!     .sampler(sampler)
//!     .serve(share.clone())
//!     .build()
//!     .unwrap();
//! let rates = FlagRates::new(client, &experiment)
//!     .sampling_percent("checkout.sample", sampling.clone())
//!     .serving_share("checkout.serve", share.clone())
//!     .kill_switch("checkout.kill", sampling.clone());
//! rates.poll_once().await;
//! assert_eq!((sampling.percent(), share.percent()), (5.0, 10.0));
//!
//! flags.set("checkout.kill", FlagValue::Bool(true));
//! rates.poll_once().await;
//! assert!(sampling.is_killed());
//! assert_eq!(share.percent(), 0.0); // every key back on the control
//!
//! // In a service: poll every 10 s on the runtime until the poller is dropped.
//! let poller = rates.spawn(&tokio::runtime::Handle::current());
//! drop(poller);
//! # }
//! ```
//!
//! ## Cohorts: flagd's fractional targeting and darklaunch's keyed sampling
//!
//! A flag service that splits users itself (flagd's `fractional` operation buckets the
//! targeting key with MurmurHash3; LaunchDarkly and Unleash have hashes of their own) picks
//! *other* users than darklaunch's keyed sampling and serving, which hash the key with XXH3-64
//! seeded with the experiment's sampling salt. Both are sticky, but a user in the flag
//! service's 10 % is not, in general, in darklaunch's 10 %. To keep one cohort:
//!
//! * let the flag carry only the **rate** (a plain float flag, as here) and darklaunch pick
//!   the keys: the cohort is then darklaunch's, the same on every instance, and raising the
//!   rate only adds keys; or
//! * let the flag service pick the keys: evaluate the flag per request with the user as the
//!   targeting key, and run the experiment with [`Sampler::when`](crate::Sampler::when) (or
//!   serve through a trial whose candidate list depends on the variant), so that darklaunch
//!   follows the service's cohort.
//!
//! Mixing the two (a fractional flag *and* a keyed sampler on the same percentage) samples the
//! intersection of two unrelated cohorts: about p² of users, not p.

mod memory;

use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use open_feature::{Client, EvaluationContext};

use crate::experiment::Experiment;
use crate::hook::Operation;
use crate::sample::SamplerHandle;
use crate::serve::ServeShare;

pub use memory::{FlagValue, InMemoryFlags};

/// The default time between two polls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// The default bound on one flag evaluation.
pub const DEFAULT_EVALUATION_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls an OpenFeature client for an experiment's sampling percentage, serving share and
/// kill switch; see the [module docs](self).
pub struct FlagRates<T, E> {
    client: Client,
    experiment: Experiment<T, E>,
    context: EvaluationContext,
    sampling: Option<(String, SamplerHandle)>,
    serving: Option<(String, ServeShare)>,
    kill: Option<(String, SamplerHandle)>,
    poll_interval: Duration,
    timeout: Duration,
    state: Mutex<PollState>,
}

/// What the polls remember.
#[derive(Default)]
struct PollState {
    /// Flags whose failure has been reported and that have not recovered since.
    failing: HashSet<String>,
    /// Whether the kill switch is on.
    killed: bool,
    /// The serving flag's last good value (applied once the kill switch goes off).
    serving: Option<f64>,
}

impl<T, E> FlagRates<T, E> {
    /// Polls `client` for `experiment` (whose error hook hears of failing flags). No flag yet:
    /// add them with [`sampling_percent`](Self::sampling_percent),
    /// [`serving_share`](Self::serving_share) and [`kill_switch`](Self::kill_switch).
    pub fn new(client: Client, experiment: &Experiment<T, E>) -> Self {
        Self {
            client,
            experiment: experiment.clone(),
            context: EvaluationContext::default(),
            sampling: None,
            serving: None,
            kill: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            timeout: DEFAULT_EVALUATION_TIMEOUT,
            state: Mutex::default(),
        }
    }

    /// The float flag `flag` (0 to 100) sets `handle`'s sampling percentage.
    pub fn sampling_percent(mut self, flag: impl Into<String>, handle: SamplerHandle) -> Self {
        self.sampling = Some((flag.into(), handle));
        self
    }

    /// The float flag `flag` (0 to 100) sets the share of keys served the candidate.
    pub fn serving_share(mut self, flag: impl Into<String>, share: ServeShare) -> Self {
        self.serving = Some((flag.into(), share));
        self
    }

    /// The boolean flag `flag` kills `handle` (and holds the serving share at 0) while true.
    pub fn kill_switch(mut self, flag: impl Into<String>, handle: SamplerHandle) -> Self {
        self.kill = Some((flag.into(), handle));
        self
    }

    /// The targeting key the flags are evaluated with (for example the service's name), for
    /// flag rules that target services or regions.
    pub fn targeting_key(mut self, key: impl Into<String>) -> Self {
        self.context = self.context.with_targeting_key(key);
        self
    }

    /// The time between two polls of [`spawn`](Self::spawn) (default 10 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long one flag evaluation may take before it counts as failed (default 2 s), so
    /// that a provider that never answers cannot stall the polls.
    pub fn evaluation_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Evaluates every flag once and applies what it says (the kill switch first). Never
    /// panics and never fails: a flag that cannot be had keeps its last good value.
    pub async fn poll_once(&self) {
        if let Some((flag, handle)) = &self.kill {
            let evaluated = self
                .bounded(self.client.get_bool_value(flag, Some(&self.context), None))
                .await;
            if let Some(killed) = self.settled(flag, flatten(evaluated)) {
                self.apply_kill(handle, killed);
            }
        }
        if let Some((flag, handle)) = &self.sampling {
            if let Some(percent) = self.float(flag).await {
                let applied = handle
                    .set_percent(percent)
                    .map_err(|error| error.to_string());
                self.settled(flag, applied.map_err(|message| refused(percent, &message)));
            }
        }
        if let Some((flag, share)) = &self.serving {
            if let Some(percent) = self.float(flag).await {
                let killed = self.lock().killed;
                let applied = if killed {
                    // Checked now, applied when the kill switch goes off.
                    ServeShare::new(percent)
                        .validate()
                        .map_err(|error| error.to_string())
                } else {
                    share
                        .set_percent(percent)
                        .map_err(|error| error.to_string())
                };
                if self
                    .settled(flag, applied.map_err(|message| refused(percent, &message)))
                    .is_some()
                {
                    self.lock().serving = Some(percent);
                }
            }
        }
    }

    /// Polls every [`poll_interval`](Self::poll_interval) on `runtime` until the returned
    /// poller is dropped or [stopped](FlagPoller::stop). The first poll is at once.
    pub fn spawn(self, runtime: &tokio::runtime::Handle) -> FlagPoller
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let rates = Arc::new(self);
        let task = runtime.spawn(async move {
            loop {
                rates.poll_once().await;
                rates.experiment.sleep(rates.poll_interval).await;
            }
        });
        FlagPoller { task }
    }

    async fn float(&self, flag: &str) -> Option<f64> {
        let evaluated = self
            .bounded(self.client.get_float_value(flag, Some(&self.context), None))
            .await;
        self.settled(flag, flatten(evaluated))
    }

    fn apply_kill(&self, handle: &SamplerHandle, killed: bool) {
        let mut state = self.lock();
        if killed == state.killed {
            return;
        }
        state.killed = killed;
        let serving = state.serving;
        drop(state);
        if killed {
            handle.kill();
            if let Some((_, share)) = &self.serving {
                let _ = share.set_percent(0.0);
            }
        } else {
            handle.resume();
            if let (Some((_, share)), Some(percent)) = (&self.serving, serving) {
                let _ = share.set_percent(percent);
            }
        }
    }

    /// A flag's value if it was had; otherwise its failure is reported, once until the flag
    /// recovers.
    fn settled<V>(&self, flag: &str, evaluated: Result<V, String>) -> Option<V> {
        let problem = match evaluated {
            Ok(value) => {
                self.lock().failing.remove(flag);
                return Some(value);
            }
            Err(problem) => problem,
        };
        if self.lock().failing.insert(flag.to_string()) {
            self.experiment.inner.report(
                Operation::Flags,
                None,
                format!(
                    "flag \"{}\": {}; keeping its last good value",
                    crate::text::escape_control(flag),
                    crate::text::escape_control(&problem)
                ),
            );
        }
        None
    }

    /// Awaits one evaluation, its panic caught and its wait bounded by the timeout.
    async fn bounded<F: Future>(&self, evaluation: F) -> Result<F::Output, String> {
        let mut evaluation = pin!(evaluation);
        let mut deadline = pin!(self.experiment.sleep(self.timeout));
        let timeout = self.timeout;
        poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| evaluation.as_mut().poll(cx))) {
                Ok(Poll::Ready(output)) => return Poll::Ready(Ok(output)),
                Err(payload) => {
                    return Poll::Ready(Err(format!(
                        "the flag provider panicked: {}",
                        crate::run::panic_message(&*payload)
                    )))
                }
                Ok(Poll::Pending) => {}
            }
            deadline.as_mut().poll(cx).map(|()| {
                Err(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                ))
            })
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PollState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An evaluation's value, or what went wrong with it.
fn flatten<V>(evaluated: Result<open_feature::EvaluationResult<V>, String>) -> Result<V, String> {
    evaluated?.map_err(|error| match error.message {
        Some(message) => format!("the provider said {:?}: {message}", error.code),
        None => format!("the provider said {:?}", error.code),
    })
}

/// Why a flag's value was refused.
fn refused(value: f64, message: &str) -> String {
    format!("value {value} refused: {message}")
}

impl<T, E> std::fmt::Debug for FlagRates<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlagRates")
            .field("experiment", &self.experiment.name())
            .field("sampling", &self.sampling.as_ref().map(|(flag, _)| flag))
            .field("serving", &self.serving.as_ref().map(|(flag, _)| flag))
            .field("kill", &self.kill.as_ref().map(|(flag, _)| flag))
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// Polls flags in the background until dropped; made by [`FlagRates::spawn`].
#[derive(Debug)]
#[must_use = "the polls stop when the poller is dropped"]
pub struct FlagPoller {
    task: tokio::task::JoinHandle<()>,
}

impl FlagPoller {
    /// Stops polling (as dropping the poller does).
    pub fn stop(self) {}
}

impl Drop for FlagPoller {
    fn drop(&mut self) {
        self.task.abort();
    }
}
