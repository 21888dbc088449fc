//! The attribute cache: the metric attribute sets of each experiment and behaviour, and the
//! span attribute keys of each context key, built once and reused so that a matching run
//! allocates nothing.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::{Key, KeyValue, Value};

use super::metrics::SHED_OUTCOME;
use crate::observation::{ExperimentResult, Verdict};

/// Attribute sets cached for at most this many (experiment, behaviour) pairs; beyond, they are
/// built per run (still correct, just slower).
const MAX_CACHED_BEHAVIORS: usize = 1024;
/// Context keys (`darklaunch.context.<key>`) cached for at most this many distinct keys.
const MAX_CACHED_CONTEXT_KEYS: usize = 256;

pub(super) const EXPERIMENT: Key = Key::from_static_str("experiment");
pub(super) const CANDIDATE: Key = Key::from_static_str("candidate");
const OUTCOME: Key = Key::from_static_str("outcome");
const BEHAVIOR: Key = Key::from_static_str("behavior");

/// The span attribute key of context entry `key`: `darklaunch.context.<key>`.
pub(super) fn context_key(key: &str) -> Key {
    let mut name = String::with_capacity("darklaunch.context.".len() + key.len());
    name.push_str("darklaunch.context.");
    name.push_str(key);
    Key::from(Arc::<str>::from(name))
}

/// The `experiment` attribute value of `name`.
pub(super) fn experiment_value(name: &str) -> Value {
    Value::from(Arc::<str>::from(name))
}

/// The attributes of a shed run of `experiment`.
pub(super) fn shed_attrs(experiment: &Value) -> [KeyValue; 3] {
    [
        KeyValue::new(EXPERIMENT, experiment.clone()),
        KeyValue::new(CANDIDATE, ""),
        KeyValue::new(OUTCOME, SHED_OUTCOME),
    ]
}

/// Attribute sets, built once per experiment, behaviour and context key.
#[derive(Default)]
pub(super) struct Cache {
    pub(super) experiments: HashMap<Box<str>, ExperimentAttrs>,
    pub(super) behaviors: usize,
    pub(super) context_keys: HashMap<Box<str>, Key>,
}

pub(super) struct ExperimentAttrs {
    pub(super) name: Value,
    pub(super) shed: [KeyValue; 3],
    pub(super) behaviors: HashMap<Box<str>, BehaviorAttrs>,
}

pub(super) struct BehaviorAttrs {
    /// `experiment`, `behavior`.
    pub(super) duration: [KeyValue; 2],
    /// `experiment`, `candidate`, `outcome`, by [`Verdict::index`].
    pub(super) runs: [[KeyValue; 3]; 6],
}

impl BehaviorAttrs {
    pub(super) fn new(experiment: &Value, behavior: &str) -> Self {
        let behavior = Value::from(Arc::<str>::from(behavior));
        Self {
            duration: [
                KeyValue::new(EXPERIMENT, experiment.clone()),
                KeyValue::new(BEHAVIOR, behavior.clone()),
            ],
            runs: Verdict::ALL.map(|verdict| {
                [
                    KeyValue::new(EXPERIMENT, experiment.clone()),
                    KeyValue::new(CANDIDATE, behavior.clone()),
                    KeyValue::new(OUTCOME, verdict.as_str()),
                ]
            }),
        }
    }
}

impl Cache {
    /// Whether no more experiments or behaviours are cached.
    pub(super) fn behaviors_full(&self) -> bool {
        self.behaviors >= MAX_CACHED_BEHAVIORS
    }

    pub(super) fn context_keys_full(&self) -> bool {
        self.context_keys.len() >= MAX_CACHED_CONTEXT_KEYS
    }

    /// The experiment's entry, made if missing and the cache is not full.
    pub(super) fn experiment(&mut self, experiment: &str) -> Option<&mut ExperimentAttrs> {
        if !self.experiments.contains_key(experiment) {
            if self.behaviors_full() {
                return None;
            }
            self.behaviors += 1;
            let name = experiment_value(experiment);
            let attrs = ExperimentAttrs {
                shed: shed_attrs(&name),
                name,
                behaviors: HashMap::new(),
            };
            self.experiments.insert(experiment.into(), attrs);
        }
        self.experiments.get_mut(experiment)
    }

    /// Caches what `result` needs, within the caps.
    pub(super) fn fill<T, E>(&mut self, result: &ExperimentResult<T, E>) {
        self.fill_behaviors(result);
        for (key, _) in result.context().iter() {
            if self.context_keys_full() {
                break;
            }
            if !self.context_keys.contains_key(key) {
                self.context_keys.insert(key.into(), context_key(key));
            }
        }
    }

    fn fill_behaviors<T, E>(&mut self, result: &ExperimentResult<T, E>) {
        if self.experiment(result.name()).is_none() {
            return;
        }
        let mut behaviors = self.behaviors;
        let Some(experiment) = self.experiments.get_mut(result.name()) else {
            return;
        };
        let names = std::iter::once(result.control().name())
            .chain(result.candidates().iter().map(|c| c.name()));
        for name in names {
            if behaviors >= MAX_CACHED_BEHAVIORS {
                break;
            }
            if !experiment.behaviors.contains_key(name) {
                let attrs = BehaviorAttrs::new(&experiment.name, name);
                experiment.behaviors.insert(name.into(), attrs);
                behaviors += 1;
            }
        }
        self.behaviors = behaviors;
    }
}
