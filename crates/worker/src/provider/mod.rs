//! Model providers: the OpenAI-compatible client, and the retry, fallback and concurrency rules
//! around it. The offline scaffolder needs none of this; [`crate::pipeline`] calls it directly.

mod openai;
mod retry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use codegen::prompt::Prompt;
use domain::{ModelId, ModelKind, ModelRegistry, ModelSpec};
use store::model_keys::ApiKey;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use openai::OpenAiModel;
pub use retry::{Backoff, RetryPolicy};

use crate::metrics::Metrics;

/// Why a model call did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth trying again: rate limits, server errors, timeouts, dropped connections, cut streams.
    #[error("{message}")]
    Retryable {
        reason: &'static str,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help: a bad key, an unknown model, a refused request.
    #[error("{message}")]
    Fatal { code: &'static str, message: String },
    #[error("cancelled")]
    Cancelled,
}

/// One model's answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub text: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub first_token: Option<Duration>,
    pub elapsed: Duration,
}

/// What a call through the retry and fallback rules cost, answered or not.
#[derive(Debug, Clone, Default)]
pub struct CallReport {
    pub retries: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl CallReport {
    pub fn add(&mut self, other: &CallReport) {
        self.retries += other.retries;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// The hosted models of the registry, each with its client and concurrency limit.
#[derive(Clone)]
pub struct Models {
    registry: Arc<ModelRegistry>,
    clients: Arc<HashMap<ModelId, OpenAiModel>>,
    policy: RetryPolicy,
    metrics: Metrics,
}

impl Models {
    /// Builds a client for every hosted model whose key is present now (`lookup` reads the
    /// environment).
    pub fn new(
        registry: ModelRegistry,
        lookup: &dyn Fn(&str) -> Option<String>,
        policy: RetryPolicy,
        metrics: Metrics,
    ) -> anyhow::Result<Models> {
        Models::with_keys(registry, &HashMap::new(), lookup, policy, metrics)
    }

    /// Builds a client for every enabled hosted model that has a key: its stored key (opened
    /// from the registry, in `keys`), else the variable its `api_key_env` names, else none when
    /// it needs none.
    pub fn with_keys(
        registry: ModelRegistry,
        keys: &HashMap<ModelId, ApiKey>,
        lookup: &dyn Fn(&str) -> Option<String>,
        policy: RetryPolicy,
        metrics: Metrics,
    ) -> anyhow::Result<Models> {
        let mut clients = HashMap::new();
        for spec in &registry.models {
            if spec.kind != ModelKind::Openai || !spec.enabled {
                continue;
            }
            let key = match keys.get(&spec.id) {
                Some(key) => Some(key.expose().to_owned()),
                None if spec.stored_key => continue,
                None => {
                    if !spec.availability(lookup).is_available() {
                        continue;
                    }
                    spec.api_key_env.as_deref().and_then(lookup)
                }
            };
            clients.insert(spec.id.clone(), OpenAiModel::new(spec, key)?);
        }
        Ok(Models {
            registry: Arc::new(registry),
            clients: Arc::new(clients),
            policy,
            metrics,
        })
    }

    /// The ids of the models this worker can call: the enabled `offline` entries and the hosted
    /// models it holds a client for. It announces them.
    pub fn servable(&self) -> Vec<String> {
        self.registry
            .models
            .iter()
            .filter(|spec| self.can_serve(spec))
            .map(|spec| spec.id.to_string())
            .collect()
    }

    fn can_serve(&self, spec: &ModelSpec) -> bool {
        spec.enabled && (spec.kind == ModelKind::Offline || self.clients.contains_key(&spec.id))
    }

    pub fn registry(&self) -> &ModelRegistry {
        &self.registry
    }

    pub fn spec(&self, id: &ModelId) -> Option<&ModelSpec> {
        self.registry.get(id)
    }

    /// Asks `model`, retrying retryable errors with backoff, then each available fallback in turn.
    /// Returns the answer and the model that gave it, or the last error; `report` adds up retries
    /// and tokens either way.
    pub async fn ask(
        &self,
        model: &ModelId,
        prompt: &Prompt,
        cancel: &CancellationToken,
        report: &mut CallReport,
    ) -> Result<(Answer, ModelId), ProviderError> {
        if let Some(spec) = self.registry.get(model)
            && !spec.enabled
        {
            return Err(ProviderError::Fatal {
                code: "model_disabled",
                message: format!("model `{model}` was disabled by the administrator"),
            });
        }
        let chain = self
            .registry
            .attempt_chain_where(model, &|spec| self.can_serve(spec));
        let mut last_error = ProviderError::Fatal {
            code: "unknown_model",
            message: format!("model `{model}` is not in this worker's registry"),
        };
        for spec in chain {
            if spec.kind == ModelKind::Offline {
                // Scaffolds are not an answer to a prompt; the pipeline makes them itself.
                continue;
            }
            let Some(client) = self.clients.get(&spec.id) else {
                last_error = ProviderError::Fatal {
                    code: "model_unavailable",
                    message: if spec.stored_key {
                        format!(
                            "model `{}` has a stored key this worker cannot decrypt: check \
                             AIUT_MODEL_KEYS__CURRENT and AIUT_MODEL_KEYS__PREVIOUS",
                            spec.id
                        )
                    } else {
                        format!(
                            "model `{}` has no key on this worker: set {}",
                            spec.id,
                            spec.api_key_env.as_deref().unwrap_or("its key")
                        )
                    },
                };
                continue;
            };
            match self.ask_one(client, prompt, cancel, report).await {
                Ok(answer) => return Ok((answer, spec.id.clone())),
                Err(error @ ProviderError::Retryable { .. }) => {
                    self.metrics.fallback(spec.id.as_str());
                    tracing::warn!(model = %spec.id, error = %error, "model keeps failing; trying the next");
                    last_error = error;
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error)
    }

    /// The admin's test: one tiny request to `model` through its client, without retries or
    /// fallbacks.
    pub async fn probe(
        &self,
        model: &ModelId,
        cancel: &CancellationToken,
    ) -> Result<Answer, ProviderError> {
        let Some(client) = self.clients.get(model) else {
            return Err(ProviderError::Fatal {
                code: "model_unavailable",
                message: format!("model `{model}` has no client on this worker"),
            });
        };
        let prompt = Prompt {
            system: "You are checking that a connection works.".into(),
            user: "Answer with the single word: ready".into(),
        };
        let outcome = client.complete(&prompt, cancel).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(ProviderError::Retryable { .. }) => "retryable",
            Err(ProviderError::Fatal { .. }) => "fatal",
            Err(ProviderError::Cancelled) => "cancelled",
        };
        self.metrics.model_call(model.as_str(), label);
        outcome
    }

    async fn ask_one(
        &self,
        client: &OpenAiModel,
        prompt: &Prompt,
        cancel: &CancellationToken,
        report: &mut CallReport,
    ) -> Result<Answer, ProviderError> {
        let model = client.id().as_str();
        let mut backoff = Backoff::new(self.policy);
        loop {
            let call = tracing::info_span!(
                "model.call",
                model,
                retry = backoff.retries(),
                outcome = tracing::field::Empty,
                prompt_tokens = tracing::field::Empty,
                completion_tokens = tracing::field::Empty,
                "otel.status_code" = tracing::field::Empty,
            );
            let outcome = client
                .complete(prompt, cancel)
                .instrument(call.clone())
                .await;
            let label = match &outcome {
                Ok(_) => "ok",
                Err(ProviderError::Retryable { .. }) => "retryable",
                Err(ProviderError::Fatal { .. }) => "fatal",
                Err(ProviderError::Cancelled) => "cancelled",
            };
            call.record("outcome", label);
            if let Ok(answer) = &outcome {
                call.record("prompt_tokens", answer.prompt_tokens);
                call.record("completion_tokens", answer.completion_tokens);
            } else if label != "cancelled" {
                call.record("otel.status_code", "ERROR");
            }
            drop(call);
            match outcome {
                Ok(answer) => {
                    self.metrics.model_call(model, "ok");
                    self.metrics.model_answered(
                        model,
                        answer.elapsed.as_secs_f64(),
                        answer.first_token.map(|delay| delay.as_secs_f64()),
                    );
                    self.metrics
                        .tokens(model, answer.prompt_tokens, answer.completion_tokens);
                    report.prompt_tokens += answer.prompt_tokens;
                    report.completion_tokens += answer.completion_tokens;
                    return Ok(answer);
                }
                Err(ProviderError::Retryable {
                    reason,
                    message,
                    retry_after,
                }) => {
                    self.metrics.model_call(model, "retryable");
                    let Some(delay) = backoff.next_delay(retry_after) else {
                        return Err(ProviderError::Retryable {
                            reason,
                            message: format!(
                                "{message} (gave up after {} retries)",
                                backoff.retries()
                            ),
                            retry_after,
                        });
                    };
                    self.metrics.retry(model, reason);
                    report.retries += 1;
                    tracing::info!(
                        model,
                        reason,
                        delay_ms = delay.as_millis() as u64,
                        "retrying the model call"
                    );
                    tokio::select! {
                        () = cancel.cancelled() => return Err(ProviderError::Cancelled),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(error @ ProviderError::Fatal { .. }) => {
                    self.metrics.model_call(model, "fatal");
                    return Err(error);
                }
                Err(ProviderError::Cancelled) => {
                    self.metrics.model_call(model, "cancelled");
                    return Err(ProviderError::Cancelled);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        }
    }

    fn served(
        registry: ModelRegistry,
        keys: &HashMap<ModelId, ApiKey>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<String> {
        Models::with_keys(registry, keys, lookup, policy(), Metrics::new(1))
            .expect("the models build")
            .servable()
    }

    #[test]
    fn a_worker_serves_the_enabled_models_it_holds_a_key_for() {
        let none = |_: &str| None;
        let every_key = |_: &str| Some("sk-test".to_owned());
        let registry = ModelRegistry::default();
        assert_eq!(
            served(registry.clone(), &HashMap::new(), &none),
            ["offline"]
        );
        assert_eq!(
            served(registry.clone(), &HashMap::new(), &every_key),
            ["offline", "gpt-4.1-mini", "deepseek-chat"]
        );

        // A stored key serves its model when it was opened, whatever the environment says.
        let mut stored = registry.clone();
        stored.models[1].stored_key = true;
        let id = stored.models[1].id.clone();
        assert_eq!(
            served(stored.clone(), &HashMap::new(), &every_key),
            ["offline", "deepseek-chat"]
        );
        let opened = HashMap::from([(id, ApiKey::new("sk-stored"))]);
        assert_eq!(
            served(stored.clone(), &opened, &none),
            ["offline", "gpt-4.1-mini"]
        );

        // Disabled models are not served.
        let mut disabled = stored;
        disabled.models[0].enabled = false;
        disabled.models[1].enabled = false;
        assert!(served(disabled, &opened, &none).is_empty());
    }
}
