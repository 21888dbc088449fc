//! Flags held in memory: an OpenFeature provider for tests, demos and examples.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use open_feature::provider::{FeatureProvider, ProviderMetadata, ResolutionDetails};
use open_feature::{
    async_trait, EvaluationContext, EvaluationError, EvaluationErrorCode, EvaluationResult,
    StructValue,
};

/// A flag's value in [`InMemoryFlags`].
#[derive(Clone, Debug, PartialEq)]
pub enum FlagValue {
    /// A float flag.
    Float(f64),
    /// A boolean flag.
    Bool(bool),
    /// The provider fails this flag with a general error (to test what a caller does then).
    Failing(String),
    /// Evaluating this flag panics inside the provider.
    Panicking,
    /// Evaluating this flag never completes.
    Hanging,
}

/// An OpenFeature provider whose flags live in memory and change when told to, from any
/// thread; clones share the flags. Register it with the SDK
/// (`OpenFeature::singleton_mut().await.set_named_provider(name, flags.clone())`) and change a
/// flag with [`set`](Self::set). For tests, demos and examples: real deployments use their flag
/// service's provider.
#[derive(Clone, Debug, Default)]
pub struct InMemoryFlags {
    flags: Arc<Mutex<HashMap<String, FlagValue>>>,
    metadata: Arc<ProviderMetadata>,
}

impl InMemoryFlags {
    /// No flags yet (every evaluation is `FLAG_NOT_FOUND`).
    pub fn new() -> Self {
        Self {
            flags: Arc::default(),
            metadata: Arc::new(ProviderMetadata::new("darklaunch in-memory flags")),
        }
    }

    /// Sets `flag` to `value` (the next evaluation sees it).
    pub fn set(&self, flag: impl Into<String>, value: FlagValue) {
        self.lock().insert(flag.into(), value);
    }

    /// Removes `flag`.
    pub fn remove(&self, flag: &str) {
        self.lock().remove(flag);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, FlagValue>> {
        self.flags
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn resolve<V>(
        &self,
        flag: &str,
        pick: impl FnOnce(&FlagValue) -> Option<V>,
    ) -> EvaluationResult<ResolutionDetails<V>> {
        let value = self.lock().get(flag).cloned();
        let error = |code, message: &str| EvaluationError {
            code,
            message: Some(message.to_string()),
        };
        match value {
            None => Err(error(EvaluationErrorCode::FlagNotFound, "no such flag")),
            Some(FlagValue::Failing(message)) => Err(error(
                EvaluationErrorCode::General(message.clone()),
                &message,
            )),
            Some(FlagValue::Panicking) => panic!("in-memory flag {flag} panics"),
            Some(FlagValue::Hanging) => std::future::pending().await,
            Some(value) => pick(&value)
                .map(ResolutionDetails::new)
                .ok_or_else(|| error(EvaluationErrorCode::TypeMismatch, "another type")),
        }
    }
}

#[async_trait]
impl FeatureProvider for InMemoryFlags {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        flag: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        self.resolve(flag, |value| match value {
            FlagValue::Bool(value) => Some(*value),
            _ => None,
        })
        .await
    }

    async fn resolve_int_value(
        &self,
        flag: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        self.resolve(flag, |_| None).await
    }

    async fn resolve_float_value(
        &self,
        flag: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        self.resolve(flag, |value| match value {
            FlagValue::Float(value) => Some(*value),
            _ => None,
        })
        .await
    }

    async fn resolve_string_value(
        &self,
        flag: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        self.resolve(flag, |_| None).await
    }

    async fn resolve_struct_value(
        &self,
        flag: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        self.resolve(flag, |_| None).await
    }
}
