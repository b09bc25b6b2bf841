//! One OpenAI-compatible model, reached with `async-openai`, always streaming.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest,
};
use codegen::prompt::Prompt;
use domain::{ModelId, ModelSpec};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Answer, ProviderError};

/// A refused HTTP exchange, with what `async-openai`'s own errors leave out: the status code's
/// class and the server's `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
struct HttpRefusal {
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    message: String,
}

pub struct OpenAiModel {
    spec: ModelSpec,
    client: Client<OpenAIConfig>,
    permits: Arc<Semaphore>,
}

impl OpenAiModel {
    pub fn new(spec: &ModelSpec, key: Option<String>) -> anyhow::Result<OpenAiModel> {
        let base_url = spec
            .base_url
            .clone()
            .with_context(|| format!("model `{}` has no base_url", spec.id))?;
        let config = OpenAIConfig::new()
            .with_api_base(base_url)
            .with_api_key(key.unwrap_or_default());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        let service = tower::service_fn(move |factory: HttpRequestFactory| {
            let http = http.clone();
            async move {
                let request = factory.build().await?;
                let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
                if response.status().is_success() {
                    return Ok(response);
                }
                Err(OpenAIError::Boxed(Box::new(refusal(response).await)))
            }
        });
        let client = Client::with_config(config).with_http_service(service);
        Ok(OpenAiModel {
            spec: spec.clone(),
            client,
            permits: Arc::new(Semaphore::new(
                usize::try_from(spec.max_concurrency.max(1)).unwrap_or(1),
            )),
        })
    }

    pub fn id(&self) -> &ModelId {
        &self.spec.id
    }

    /// One streamed call, bounded by the model's concurrency limit and then by its timeout.
    pub async fn complete(
        &self,
        prompt: &Prompt,
        cancel: &CancellationToken,
    ) -> Result<Answer, ProviderError> {
        // Waiting for one of the model's slots is not the model's time: under load a healthy
        // model would otherwise "time out" and burn attempts and fallbacks. The timeout starts
        // when the call does.
        let _permit = tokio::select! {
            () = cancel.cancelled() => return Err(ProviderError::Cancelled),
            permit = self.permits.acquire() => permit.map_err(|_| ProviderError::Cancelled)?,
        };
        let timeout = Duration::from_secs(self.spec.timeout_secs);
        tokio::select! {
            () = cancel.cancelled() => Err(ProviderError::Cancelled),
            outcome = tokio::time::timeout(timeout, self.call(prompt)) => {
                outcome.unwrap_or_else(|_| Err(ProviderError::Retryable {
                    reason: "timeout",
                    message: format!(
                        "model `{}` did not finish within {} s",
                        self.spec.id, self.spec.timeout_secs
                    ),
                    retry_after: None,
                }))
            }
        }
    }

    async fn call(&self, prompt: &Prompt) -> Result<Answer, ProviderError> {
        let started = Instant::now();
        // `max_tokens` rather than its successor `max_completion_tokens`: every OpenAI-compatible
        // server (DeepSeek, Ollama, vLLM) reads the older name, not all read the newer.
        #[allow(deprecated)]
        let request = CreateChatCompletionRequest {
            model: self.spec.remote_name().to_owned(),
            messages: vec![
                ChatCompletionRequestMessage::from(ChatCompletionRequestSystemMessage::from(
                    prompt.system.as_str(),
                )),
                ChatCompletionRequestMessage::from(ChatCompletionRequestUserMessage::from(
                    prompt.user.as_str(),
                )),
            ],
            temperature: Some(self.spec.temperature),
            max_tokens: Some(self.spec.max_tokens),
            stream: Some(true),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..Default::default()
        };
        let mut stream = self
            .client
            .chat()
            .create_stream(request)
            .await
            .map_err(|error| classify(&self.spec.id, error))?;
        let mut answer = Answer::default();
        let mut finished = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| classify(&self.spec.id, error))?;
            if let Some(usage) = &chunk.usage {
                answer.prompt_tokens = u64::from(usage.prompt_tokens);
                answer.completion_tokens = u64::from(usage.completion_tokens);
            }
            for choice in &chunk.choices {
                if let Some(content) = &choice.delta.content
                    && !content.is_empty()
                {
                    answer.first_token.get_or_insert_with(|| started.elapsed());
                    answer.text.push_str(content);
                }
                if choice.finish_reason.is_some() {
                    finished = true;
                }
            }
        }
        if !finished {
            return Err(ProviderError::Retryable {
                reason: "cut_stream",
                message: format!(
                    "model `{}` stopped streaming before finishing its answer",
                    self.spec.id
                ),
                retry_after: None,
            });
        }
        answer.elapsed = started.elapsed();
        Ok(answer)
    }
}

async fn refusal(response: reqwest::Response) -> HttpRefusal {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.text().await.unwrap_or_default();
    // OpenAI-style bodies carry `{"error": {"message": …}}`; anything else is shown as sent, cut short.
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| json["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    HttpRefusal {
        status,
        retry_after,
        message,
    }
}

/// Sorts a client error into retryable and fatal, with a message that names the model.
fn classify(model: &ModelId, error: OpenAIError) -> ProviderError {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpRefusal>() {
            Ok(refusal) => classify_refusal(model, &refusal),
            Err(other) => ProviderError::Retryable {
                reason: "connection",
                message: format!("model `{model}`: {other}"),
                retry_after: None,
            },
        },
        OpenAIError::ApiError(api) => classify_refusal(
            model,
            &HttpRefusal {
                status: api.status_code,
                retry_after: None,
                message: api.api_error.message,
            },
        ),
        OpenAIError::Reqwest(error) => ProviderError::Retryable {
            reason: if error.is_timeout() {
                "timeout"
            } else {
                "connection"
            },
            message: format!("model `{model}` could not be reached: {error}"),
            retry_after: None,
        },
        OpenAIError::StreamError(error) => ProviderError::Retryable {
            reason: "cut_stream",
            message: format!("model `{model}`'s stream broke: {error}"),
            retry_after: None,
        },
        OpenAIError::JSONDeserialize(error, _) => ProviderError::Retryable {
            reason: "bad_response",
            message: format!("model `{model}` sent an answer that is not OpenAI's format: {error}"),
            retry_after: None,
        },
        other => ProviderError::Fatal {
            code: "provider_error",
            message: format!("model `{model}`: {other}"),
        },
    }
}

fn classify_refusal(model: &ModelId, refusal: &HttpRefusal) -> ProviderError {
    let status = refusal.status.as_u16();
    let detail = &refusal.message;
    match status {
        429 => ProviderError::Retryable {
            reason: "rate_limited",
            message: format!("model `{model}` is rate limited (429): {detail}"),
            retry_after: refusal.retry_after,
        },
        408 | 500..=599 => ProviderError::Retryable {
            reason: "server_error",
            message: format!("model `{model}` failed ({status}): {detail}"),
            retry_after: refusal.retry_after,
        },
        401 | 403 => ProviderError::Fatal {
            code: "provider_auth",
            message: format!(
                "the provider refused the key for model `{model}` ({status}): {detail}; check the key in its environment variable"
            ),
        },
        404 => ProviderError::Fatal {
            code: "provider_model_not_found",
            message: format!("the provider does not know model `{model}` (404): {detail}"),
        },
        _ => ProviderError::Fatal {
            code: "provider_rejected",
            message: format!(
                "the provider rejected the request for model `{model}` ({status}): {detail}"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelId {
        ModelId::parse("m").expect("valid")
    }

    fn refused(status: u16, retry_after: Option<u64>) -> ProviderError {
        classify_refusal(
            &model(),
            &HttpRefusal {
                status: reqwest::StatusCode::from_u16(status).expect("status"),
                retry_after: retry_after.map(Duration::from_secs),
                message: "detail".into(),
            },
        )
    }

    #[test]
    fn statuses_sort_into_retryable_and_fatal() {
        assert!(matches!(
            refused(429, Some(3)),
            ProviderError::Retryable { reason: "rate_limited", retry_after: Some(delay), .. }
                if delay == Duration::from_secs(3)
        ));
        for status in [500, 502, 503, 504, 408] {
            assert!(
                matches!(refused(status, None), ProviderError::Retryable { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            refused(401, None),
            ProviderError::Fatal {
                code: "provider_auth",
                ..
            }
        ));
        assert!(matches!(
            refused(403, None),
            ProviderError::Fatal {
                code: "provider_auth",
                ..
            }
        ));
        assert!(matches!(refused(404, None), ProviderError::Fatal { .. }));
        assert!(matches!(refused(400, None), ProviderError::Fatal { .. }));
    }

    #[test]
    fn the_auth_message_names_the_model_and_never_a_key() {
        let ProviderError::Fatal { message, .. } = refused(401, None) else {
            panic!("fatal expected");
        };
        assert!(
            message.contains("`m`") && message.contains("401"),
            "{message}"
        );
    }
}
