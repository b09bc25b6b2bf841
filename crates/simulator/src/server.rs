//! The routes and what they answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::answer;
use super::config::{AnswerMix, Behaviour, Rates, RatesChange, SimulatorConfig};
use super::rng::{self, SplitMix64};
use super::stats::Counters;
use super::wire::{self, ChatRequest, Completion, Delta, Usage, error_response};

/// Prompts carry whole source files (up to 1 MiB), JSON-escaped, plus the instructions.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the handlers share: the fixed settings and the mutable script, draws and counters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SimulatorConfig,
    pub seed: u64,
    /// The answers' mix and seed.
    pub answering: answer::Answering,
    script: Mutex<VecDeque<Behaviour>>,
    /// The failure rates now: the configured ones until changed at run time.
    rates: Mutex<Rates>,
    rng: Mutex<SplitMix64>,
    pub stats: Counters,
    pub prompts: crate::stats::RecentPrompts,
    /// Cancelled when the server stops, so hangs, stalls and paced answers end at once.
    pub stopping: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment or push, never left half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(config: SimulatorConfig) -> Shared {
        let seed = config.seed.unwrap_or_else(rng::random_seed);
        Shared {
            script: Mutex::new(config.script.iter().cloned().collect()),
            rates: Mutex::new(config.rates()),
            rng: Mutex::new(SplitMix64::new(seed)),
            seed,
            answering: answer::Answering {
                mix: config.answers.clone(),
                seed: config.seed.unwrap_or(AnswerMix::DEFAULT_SEED),
            },
            config,
            stats: Counters::default(),
            prompts: crate::stats::RecentPrompts::default(),
            stopping: CancellationToken::new(),
        }
    }

    pub(crate) fn set_script(&self, script: Vec<Behaviour>) {
        *lock(&self.script) = script.into();
    }

    pub(crate) fn push_script(&self, behaviour: Behaviour) {
        lock(&self.script).push_back(behaviour);
    }

    pub(crate) fn pending_script(&self) -> Vec<Behaviour> {
        lock(&self.script).iter().cloned().collect()
    }

    pub(crate) fn rates(&self) -> Rates {
        *lock(&self.rates)
    }

    /// Applies `change` when the result is valid; the rates in force afterwards.
    pub(crate) fn change_rates(&self, change: &RatesChange) -> anyhow::Result<Rates> {
        let mut rates = lock(&self.rates);
        let updated = rates.updated(change);
        updated.validate()?;
        *rates = updated;
        Ok(updated)
    }

    /// The next scripted behaviour, else one drawn from the rates. Scripted requests draw
    /// nothing, so the drawn sequence depends only on the seed.
    fn next_behaviour(&self) -> Behaviour {
        if let Some(scripted) = lock(&self.script).pop_front() {
            return scripted;
        }
        let draw = lock(&self.rng).next_unit();
        let rates = self.rates();
        let mut threshold = rates.error_rate;
        if draw < threshold {
            return Behaviour::status(self.config.error_status);
        }
        threshold += rates.hang_rate;
        if draw < threshold {
            return Behaviour::Hang;
        }
        threshold += rates.cut_rate;
        if draw < threshold {
            return Behaviour::Cut;
        }
        threshold += rates.stall_rate;
        if draw < threshold {
            return Behaviour::Stall;
        }
        Behaviour::Answer
    }

    /// Waits until `deadline`; `false` when the simulator starts stopping first.
    async fn wait_until(&self, deadline: Instant) -> bool {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => true,
            () = self.stopping.cancelled() => false,
        }
    }

    async fn hang(&self) {
        let deadline = Instant::now() + Duration::from_secs(self.config.hang_secs);
        self.wait_until(deadline).await;
    }

    /// `None` when the request may pass, else the 401 answer.
    fn check_key(&self, headers: &HeaderMap) -> Option<Response> {
        let expected = self.config.api_key.as_deref()?;
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        let message = match given {
            Some(given) if given == expected => return None,
            Some(_) => "Incorrect API key provided.",
            None => {
                "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            }
        };
        Some(error_response(
            StatusCode::UNAUTHORIZED,
            Some(message),
            None,
        ))
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/healthz", get(healthz))
        .route("/sim/script", post(set_script).get(pending_script))
        .route("/sim/stats", get(stats).delete(reset_stats))
        .route("/sim/rates", get(rates).put(change_rates))
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.stats.request();
    let response = respond(&shared, &headers, &body).await;
    shared.stats.status(response.status().as_u16());
    response
}

async fn respond(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    let started = Instant::now();
    if let Some(refusal) = shared.check_key(headers) {
        return refusal;
    }
    let request: ChatRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("We could not parse the JSON body of your request: {error}");
            return error_response(StatusCode::BAD_REQUEST, Some(&message), None);
        }
    };
    if request.messages.is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            Some("'messages' must contain at least one message."),
            None,
        );
    }
    shared.prompts.record(request.last_user_message());
    let behaviour = shared.next_behaviour();
    tracing::debug!(
        ?behaviour,
        model = %request.model,
        stream = request.is_stream(),
        "chat completion"
    );
    let interruption = match behaviour {
        Behaviour::Cut => Some(Interruption::Cut),
        Behaviour::Stall => Some(Interruption::Stall),
        _ => None,
    };
    let content = match behaviour {
        Behaviour::Fail {
            status,
            retry_after_secs,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let retry_after = retry_after_secs
                .or((status == StatusCode::TOO_MANY_REQUESTS)
                    .then_some(shared.config.retry_after_secs));
            return error_response(status, message.as_deref(), retry_after);
        }
        Behaviour::Hang => {
            shared.stats.hang();
            shared.hang().await;
            return held_on_purpose();
        }
        Behaviour::Reply { content } => content,
        Behaviour::Answer | Behaviour::Cut | Behaviour::Stall => {
            let user_message = request.last_user_message();
            // Parsing a large source takes a while; keep it off the async workers, and turn a
            // panic in it into a 500 instead of a dropped connection.
            let answering = shared.answering.clone();
            match tokio::task::spawn_blocking(move || {
                answer::answer(user_message.as_deref(), &answering)
            })
            .await
            {
                Ok(content) => content,
                Err(error) => {
                    tracing::error!(%error, "writing the answer failed");
                    return error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some("The simulator failed to write an answer."),
                        None,
                    );
                }
            }
        }
    };
    let pieces = answer::pieces(&content);
    let completion_tokens = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    let plan = Plan {
        shared: Arc::clone(shared),
        completion: Completion::new(&request.model),
        usage: Usage::new(
            answer::estimate_tokens(request.prompt_chars()),
            completion_tokens,
        ),
        include_usage: request.include_usage(),
        content,
        pieces,
        interruption,
        started,
    };
    if request.is_stream() {
        plan.stream()
    } else {
        plan.whole().await
    }
}

fn held_on_purpose() -> Response {
    error_response(
        StatusCode::GATEWAY_TIMEOUT,
        Some("The simulator held this request unanswered on purpose."),
        None,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interruption {
    Cut,
    Stall,
}

/// One answer on its way out.
struct Plan {
    shared: Arc<Shared>,
    completion: Completion,
    content: String,
    pieces: Vec<String>,
    usage: Usage,
    include_usage: bool,
    interruption: Option<Interruption>,
    started: Instant,
}

/// Where a stream is.
#[derive(Debug, Clone, Copy)]
enum Step {
    Piece(usize),
    Finish,
    Usage,
    Done,
    End,
}

type Event = Result<String, std::io::Error>;

impl Plan {
    /// When the `index`th piece is due: the time to first token, then one piece per tick.
    fn due(&self, index: usize) -> Instant {
        let config = &self.shared.config;
        let mut offset = Duration::from_millis(config.first_token_ms);
        if config.tokens_per_sec > 0.0 {
            offset += Duration::try_from_secs_f64(index as f64 / config.tokens_per_sec)
                .unwrap_or(Duration::ZERO);
        }
        self.started + offset
    }

    fn interrupts_at(&self, sent: usize) -> bool {
        self.interruption.is_some()
            && sent
                == usize::try_from(self.shared.config.cut_after_chunks)
                    .unwrap_or(usize::MAX)
                    .min(self.pieces.len())
    }

    /// Ends a stream part-way: at once for a cut, after the hang time for a stall. The error makes
    /// the server drop the connection without finishing the body.
    async fn interrupt(&self) -> std::io::Error {
        if self.interruption == Some(Interruption::Stall) {
            self.shared.stats.stall();
            self.shared.hang().await;
        } else {
            self.shared.stats.cut();
            let_the_sent_part_out().await;
        }
        std::io::Error::other("the simulator interrupted this answer on purpose")
    }

    fn chunk_usage(&self) -> Option<Option<Usage>> {
        self.include_usage.then_some(None)
    }

    /// A non-streaming answer, after the time the stream would have taken.
    async fn whole(self) -> Response {
        if self.interruption == Some(Interruption::Stall) {
            self.shared.stats.stall();
            self.shared.hang().await;
            return held_on_purpose();
        }
        if !self.shared.wait_until(self.due(self.pieces.len())).await {
            return stopping();
        }
        let json = self.completion.answer_json(&self.content, self.usage);
        let mut response = if self.interruption == Some(Interruption::Cut) {
            self.shared.stats.cut();
            let bytes = Bytes::from(json);
            let half = bytes.slice(..bytes.len() / 2);
            let first: Event = Ok(String::from_utf8_lossy(&half).into_owned());
            let cut = futures::stream::once(async {
                let_the_sent_part_out().await;
                Err(std::io::Error::other(
                    "the simulator cut this answer on purpose",
                ))
            });
            Response::new(Body::from_stream(
                futures::stream::once(async { first }).chain(cut),
            ))
        } else {
            self.shared
                .stats
                .answered(self.usage.prompt_tokens, self.usage.completion_tokens);
            Response::new(Body::from(json))
        };
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }

    /// A server-sent-events answer: one chunk per piece, the finish chunk, the usage chunk when
    /// asked for, then `[DONE]`.
    fn stream(self) -> Response {
        let first = if self.pieces.is_empty() {
            Step::Finish
        } else {
            Step::Piece(0)
        };
        let events = futures::stream::unfold((self, first), |(plan, step)| async move {
            let (event, next) = plan.advance(step).await?;
            Some((event, (plan, next)))
        });
        let mut response = Response::new(Body::from_stream(events));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    async fn advance(&self, step: Step) -> Option<(Event, Step)> {
        match step {
            Step::Piece(index) => {
                if self.interrupts_at(index) {
                    return Some((Err(self.interrupt().await), Step::End));
                }
                if !self.shared.wait_until(self.due(index)).await {
                    return Some((Err(std::io::Error::other("stopping")), Step::End));
                }
                let delta = Delta {
                    role: (index == 0).then_some("assistant"),
                    content: self.pieces.get(index).map(String::as_str),
                };
                let event = self.completion.chunk_event(delta, None, self.chunk_usage());
                self.shared.stats.chunk();
                let next = if index + 1 < self.pieces.len() {
                    Step::Piece(index + 1)
                } else {
                    Step::Finish
                };
                Some((Ok(event), next))
            }
            Step::Finish => {
                if self.interrupts_at(self.pieces.len()) {
                    return Some((Err(self.interrupt().await), Step::End));
                }
                let delta = Delta {
                    role: self.pieces.is_empty().then_some("assistant"),
                    content: None,
                };
                let event = self
                    .completion
                    .chunk_event(delta, Some("stop"), self.chunk_usage());
                let next = if self.include_usage {
                    Step::Usage
                } else {
                    Step::Done
                };
                Some((Ok(event), next))
            }
            Step::Usage => Some((Ok(self.completion.usage_event(self.usage)), Step::Done)),
            Step::Done => {
                self.shared
                    .stats
                    .answered(self.usage.prompt_tokens, self.usage.completion_tokens);
                Some((Ok(wire::DONE_EVENT.to_owned()), Step::End))
            }
            Step::End => None,
        }
    }
}

/// A moment for the server to write out the headers and chunks already handed over: an error
/// from the body right after them would drop the connection with them still buffered, and the
/// client would see no response at all instead of a partial one.
async fn let_the_sent_part_out() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn stopping() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        Some("The simulator is stopping."),
        None,
    )
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = shared.check_key(&headers) {
        return refusal;
    }
    let data: Vec<_> = shared
        .config
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "aiunittest"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn set_script(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let script: Vec<Behaviour> = match serde_json::from_slice(&body) {
        Ok(script) => script,
        Err(error) => {
            let message = format!(
                "expected a JSON list of behaviours (\"answer\", \"hang\", \"cut\", \"stall\", \
                 {{\"status\": 429, \"retry_after_secs\": 0}}, {{\"content\": \"…\"}}): {error}"
            );
            return error_response(StatusCode::BAD_REQUEST, Some(&message), None);
        }
    };
    if let Some(error) = script
        .iter()
        .find_map(|behaviour| behaviour.validate().err())
    {
        return error_response(StatusCode::BAD_REQUEST, Some(&error.to_string()), None);
    }
    let queued = script.len();
    shared.set_script(script);
    axum::Json(json!({"queued": queued})).into_response()
}

async fn pending_script(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.pending_script()).into_response()
}

async fn rates(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.rates()).into_response()
}

async fn change_rates(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let change: RatesChange = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(error) => {
            let message = format!(
                "expected a JSON object of the rates to change (error_rate, hang_rate, cut_rate, \
                 stall_rate; each 0 to 1): {error}"
            );
            return error_response(StatusCode::BAD_REQUEST, Some(&message), None);
        }
    };
    match shared.change_rates(&change) {
        Ok(rates) => {
            tracing::info!(?rates, "failure rates changed");
            axum::Json(rates).into_response()
        }
        Err(error) => error_response(StatusCode::BAD_REQUEST, Some(&error.to_string()), None),
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats.snapshot()).into_response()
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.stats.reset();
    StatusCode::NO_CONTENT
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    let message = format!("Unknown request URL: {method} {}.", uri.path());
    wire::error_with_code(StatusCode::NOT_FOUND, &message, Some("unknown_url"))
}
