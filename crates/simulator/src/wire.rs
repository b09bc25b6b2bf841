//! The OpenAI chat-completions wire format, as far as the simulator speaks it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A chat request. Fields the simulator does not use (temperature, tools …) are accepted and
/// ignored, as a lenient server would.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

impl ChatRequest {
    pub(crate) fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub(crate) fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|options| options.include_usage)
            .unwrap_or(false)
    }

    pub(crate) fn last_user_message(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|message| message.role == "user")
            .map(ChatMessage::text)
    }

    /// Characters of every message's text, for the prompt token estimate.
    pub(crate) fn prompt_chars(&self) -> usize {
        self.messages
            .iter()
            .map(|message| message.text().chars().count())
            .sum()
    }
}

impl ChatMessage {
    /// The text of a message: a plain string, or the `text` of its content parts joined.
    pub(crate) fn text(&self) -> String {
        match &self.content {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect(),
            _ => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    pub(crate) fn new(prompt_tokens: u32, completion_tokens: u32) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

const FINGERPRINT: &str = "fp_aiut_sim";

/// What every chunk and answer of one completion share.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub id: String,
    pub created: u32,
    pub model: String,
}

impl Completion {
    pub(crate) fn new(model: &str) -> Completion {
        Completion {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0),
            model: model.to_owned(),
        }
    }

    /// The whole answer of a non-streaming request.
    pub(crate) fn answer_json(&self, content: &str, usage: Usage) -> String {
        let body = AnswerBody {
            id: &self.id,
            object: "chat.completion",
            created: self.created,
            model: &self.model,
            system_fingerprint: FINGERPRINT,
            choices: [AnswerChoice {
                index: 0,
                message: AnswerMessage {
                    role: "assistant",
                    content,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: "stop",
            }],
            usage,
        };
        to_json(&body)
    }

    /// One SSE event carrying `delta`; `usage` is `Some(None)` to send `"usage": null`, as OpenAI
    /// does on every chunk when the final usage chunk was asked for.
    pub(crate) fn chunk_event(
        &self,
        delta: Delta<'_>,
        finish_reason: Option<&'static str>,
        usage: Option<Option<Usage>>,
    ) -> String {
        let chunk = ChunkBody {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: FINGERPRINT,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
            usage,
        };
        sse_event(&to_json(&chunk))
    }

    /// The last chunk before `[DONE]` when usage was asked for: no choices, only the usage.
    pub(crate) fn usage_event(&self, usage: Usage) -> String {
        let chunk = ChunkBody {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: FINGERPRINT,
            choices: Vec::new(),
            usage: Some(Some(usage)),
        };
        sse_event(&to_json(&chunk))
    }
}

pub(crate) const DONE_EVENT: &str = "data: [DONE]\n\n";

fn sse_event(data: &str) -> String {
    format!("data: {data}\n\n")
}

fn to_json(value: &impl Serialize) -> String {
    // These types hold only strings and numbers, which always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

#[derive(Serialize)]
struct AnswerBody<'a> {
    id: &'a str,
    object: &'static str,
    created: u32,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [AnswerChoice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct AnswerChoice<'a> {
    index: u32,
    message: AnswerMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct ChunkBody<'a> {
    id: &'a str,
    object: &'static str,
    created: u32,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// What a chunk adds to the message: the role on the first, content on all but the last.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
}

/// An OpenAI-style error answer: `{"error":{"message","type","param","code"}}`.
pub(crate) fn error_response(
    status: StatusCode,
    message: Option<&str>,
    retry_after_secs: Option<u64>,
) -> Response {
    let (default_message, _, code) = error_defaults(status);
    let mut response = error_with_code(status, message.unwrap_or(default_message), code);
    if let Some(seconds) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// An OpenAI-style error answer with a chosen `code`.
pub(crate) fn error_with_code(status: StatusCode, message: &str, code: Option<&str>) -> Response {
    let (_, kind, _) = error_defaults(status);
    let body = serde_json::json!({
        "error": {
            "message": message,
            "type": kind,
            "param": null,
            "code": code,
        }
    });
    (status, Json(body)).into_response()
}

/// The message, type and code OpenAI uses for a status.
fn error_defaults(status: StatusCode) -> (&'static str, &'static str, Option<&'static str>) {
    match status.as_u16() {
        400 => ("The request is not valid.", "invalid_request_error", None),
        401 => (
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => (
            "You are not allowed to use this model.",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        404 => (
            "The model does not exist or you do not have access to it.",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        429 => (
            "Rate limit reached for requests. Please try again later.",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        500..=599 => (
            "The server had an error while processing your request.",
            "server_error",
            None,
        ),
        _ => ("The request failed.", "invalid_request_error", None),
    }
}
