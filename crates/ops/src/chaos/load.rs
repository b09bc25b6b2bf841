//! The mixed load a fault is injected under, each client on a thread of its own:
//! - readers: `GET /api/languages` and `GET /api/queue`, back to back with a short pause;
//! - creators: `POST /api/tasks` without an `Idempotency-Key`, each with a source no other request
//!   sends (a marker comment names the run, the scenario, the client and the count), at a
//!   steady pace; each task they are given is followed by a stream client;
//! - stream clients: `GET /api/tasks/{id}/events` with the creator's session, to the task's
//!   terminal event; a dropped stream is opened again with `Last-Event-ID` after a growing
//!   pause, and numbered events at or below the last one seen are ignored, as the web UI does;
//! - a waiter: `POST /api/generate-test`, which answers when its task has ended.
//!
//! Everything stops by itself: readers, creators and the waiter when told to stop creating
//! (a request in flight ends within its timeout), stream clients at their task's end or at the
//! deadline they are given.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::report::{Failures, RequestKind, Timed};
use crate::client::{new_agent, snippet};
use crate::loadtest::user::{SseEvent, SseParser};

const READ_PATHS: [&str; 2] = ["/api/languages", "/api/queue"];
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const CREATE_TIMEOUT: Duration = Duration::from_secs(15);
/// The gateway gives up on a request after 60 s; a wait is not held longer.
const WAIT_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest one stream connection is held before it is opened again (with `Last-Event-ID`,
/// so nothing is missed): it bounds how long a client may outlive its deadline.
const STREAM_CONNECTION_LIMIT: Duration = Duration::from_secs(20);
/// The web UI's pauses before opening a dropped stream again: 0.5 s, doubling, up to 10 s; here
/// up to 5 s, so a bounded run sees the end if the stack offers it.
const FIRST_RECONNECT: Duration = Duration::from_millis(500);
const LONGEST_RECONNECT: Duration = Duration::from_secs(5);
const TERMINAL_EVENTS: [&str; 3] = ["completed", "error", "cancelled"];

/// How much load, and where.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub base_url: String,
    /// Starts every marker of this scenario's sources.
    pub marker_prefix: String,
    /// Times are measured from here.
    pub origin: Instant,
    pub readers: usize,
    pub creators: usize,
    pub waiters: usize,
    /// A creator's pause between two creates.
    pub create_every: Duration,
    /// A reader's pause between two reads.
    pub read_pause: Duration,
}

/// A task a client was given.
#[derive(Clone)]
pub struct Created {
    pub id: String,
    pub marker: String,
    /// The creator's client, with its session: the owner's view of the task.
    pub agent: ureq::Agent,
}

/// How a stream client ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    pub id: String,
    /// The terminal event seen, if any.
    pub ending: Option<String>,
    /// Why it stopped without one.
    pub reason: String,
    pub reconnects: usize,
}

/// What the load saw; filled in by the clients as they go.
#[derive(Default)]
pub struct Seen {
    pub requests: Vec<Timed>,
    pub failures: BTreeMap<String, (usize, String)>,
    pub created: Vec<Created>,
    /// Markers of creates and waits answered with an error: a row for them is one the client was
    /// told does not exist.
    pub refused: Vec<String>,
    pub streams: Vec<StreamEnd>,
}

impl Seen {
    pub fn failures(&self) -> Vec<Failures> {
        self.failures
            .iter()
            .map(|(kind, (count, example))| Failures {
                kind: kind.clone(),
                count: *count,
                example: example.clone(),
            })
            .collect()
    }
}

struct Shared {
    plan: LoadPlan,
    seen: Mutex<Seen>,
    creating: AtomicBool,
    /// When stream clients give up; none while the load runs.
    follow_until: Mutex<Option<Instant>>,
    followers: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a push or an assignment, never left half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running load.
pub struct Load {
    shared: Arc<Shared>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(plan: LoadPlan) -> Load {
        let shared = Arc::new(Shared {
            plan,
            seen: Mutex::new(Seen::default()),
            creating: AtomicBool::new(true),
            follow_until: Mutex::new(None),
            followers: Mutex::new(Vec::new()),
        });
        let mut clients = Vec::new();
        for reader in 0..shared.plan.readers {
            let shared = Arc::clone(&shared);
            clients.push(std::thread::spawn(move || read_loop(&shared, reader)));
        }
        for creator in 0..shared.plan.creators {
            let shared = Arc::clone(&shared);
            clients.push(std::thread::spawn(move || create_loop(&shared, creator)));
        }
        for waiter in 0..shared.plan.waiters {
            let shared = Arc::clone(&shared);
            clients.push(std::thread::spawn(move || wait_loop(&shared, waiter)));
        }
        Load { shared, clients }
    }

    /// Stops reading, creating and waiting: no request starts from now on.
    pub fn stop_creating(&self) {
        self.shared.creating.store(false, Ordering::SeqCst);
    }

    /// Whether the readers, creators and waiters have ended (their last requests answered).
    pub fn clients_done(&self) -> bool {
        self.clients.iter().all(JoinHandle::is_finished)
    }

    /// From now on, stream clients give up at `deadline`.
    pub fn follow_until(&self, deadline: Instant) {
        *lock(&self.shared.follow_until) = Some(deadline);
    }

    /// Stream clients still following.
    pub fn streams_following(&self) -> usize {
        lock(&self.shared.followers)
            .iter()
            .filter(|follower| !follower.is_finished())
            .count()
    }

    /// Waits for every client to end (stream clients end by their deadline) and gives what they
    /// saw.
    pub fn finish(mut self) -> Seen {
        self.stop_creating();
        for client in self.clients.drain(..) {
            let _ = client.join();
        }
        let followers: Vec<JoinHandle<()>> = lock(&self.shared.followers).drain(..).collect();
        for follower in followers {
            let _ = follower.join();
        }
        std::mem::take(&mut *lock(&self.shared.seen))
    }

    /// Ids given out so far.
    pub fn created_count(&self) -> usize {
        lock(&self.shared.seen).created.len()
    }
}

impl Shared {
    fn creating(&self) -> bool {
        self.creating.load(Ordering::SeqCst)
    }

    fn since_origin(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.plan.origin).as_secs_f64()
    }

    fn record(&self, kind: RequestKind, started: Instant, outcome: Result<(), Failure>) {
        let ended = Instant::now();
        let mut seen = lock(&self.seen);
        seen.requests.push(Timed {
            kind,
            started: self.since_origin(started),
            ended: self.since_origin(ended),
            served: outcome.is_ok(),
        });
        if let Err(failure) = outcome {
            let name = match kind {
                RequestKind::Read => "read",
                RequestKind::Create => "create",
                RequestKind::Wait => "wait",
            };
            let entry = seen
                .failures
                .entry(format!("{name}: {}", failure.kind))
                .or_insert((0, failure.example));
            entry.0 += 1;
        }
    }
}

/// Why a request failed: a short kind to count by and an example.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    kind: String,
    example: String,
}

fn transport(error: &ureq::Error) -> Failure {
    let kind = crate::client::transport_kind(error);
    Failure {
        kind: format!("transport ({kind})"),
        example: error.to_string(),
    }
}

/// A finished request's status and body, or why there is none.
fn answer(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, String), Failure> {
    let mut response = sent.map_err(|error| transport(&error))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|error| Failure {
            kind: "transport (body)".into(),
            example: error.to_string(),
        })?;
    Ok((status, body))
}

fn http_failure(status: u16, body: &str) -> Failure {
    Failure {
        kind: format!("HTTP {status}"),
        example: snippet(body),
    }
}

fn read_loop(shared: &Shared, reader: usize) {
    let agent = new_agent(READ_TIMEOUT);
    let mut index = reader;
    while shared.creating() {
        let path = READ_PATHS[index % READ_PATHS.len()];
        index += 1;
        let started = Instant::now();
        let outcome = answer(agent.get(&format!("{}{path}", shared.plan.base_url)).call())
            .and_then(|(status, body)| {
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(http_failure(status, &body))
                }
            });
        shared.record(RequestKind::Read, started, outcome);
        std::thread::sleep(shared.plan.read_pause);
    }
}

/// A source no other request sends: one Python function, its marker in a comment.
pub fn source(marker: &str, count: usize) -> String {
    let name = marker.replace('-', "_");
    format!(
        "# {marker}\ndef {name}(value):\n    \"\"\"Adds {count} to value.\"\"\"\n    return value + {count}\n"
    )
}

fn create_loop(shared: &Arc<Shared>, creator: usize) {
    // One client, so one session: its tasks are its own, and its stream clients share it.
    let agent = new_agent(CREATE_TIMEOUT);
    let mut count = 0;
    while shared.creating() {
        count += 1;
        let marker = format!("{}c{creator}-{count}", shared.plan.marker_prefix);
        // Syntax checks only: the model's path is what is under test, and running every task's
        // tests in the sandbox would take the little CPU a small machine has.
        let body = serde_json::json!({
            "source": source(&marker, count),
            "filename": "chaos.py",
            "validate": "syntax",
        });
        let started = Instant::now();
        let outcome = answer(
            agent
                .post(&format!("{}/api/tasks", shared.plan.base_url))
                .content_type("application/json")
                .send(body.to_string()),
        )
        .and_then(|(status, body)| {
            if !(200..300).contains(&status) {
                return Err(http_failure(status, &body));
            }
            task_id(&body).ok_or_else(|| Failure {
                kind: "no task id".into(),
                example: snippet(&body),
            })
        });
        match outcome {
            Ok(id) => {
                shared.record(RequestKind::Create, started, Ok(()));
                let created = Created {
                    id,
                    marker,
                    agent: agent.clone(),
                };
                lock(&shared.seen).created.push(created.clone());
                let follower = {
                    let shared = Arc::clone(shared);
                    std::thread::spawn(move || follow(&shared, &created))
                };
                lock(&shared.followers).push(follower);
            }
            Err(failure) => {
                shared.record(RequestKind::Create, started, Err(failure));
                lock(&shared.seen).refused.push(marker);
            }
        }
        let pause = shared.plan.create_every.saturating_sub(started.elapsed());
        std::thread::sleep(pause);
    }
}

fn task_id(body: &str) -> Option<String> {
    let task: serde_json::Value = serde_json::from_str(body).ok()?;
    task.get("id")
        .or_else(|| task.get("task_id"))?
        .as_str()
        .map(str::to_owned)
}

/// The gateway's own code for a backend that failed to answer; any other 502 from
/// `generate-test` is the api saying the task failed on the model side.
const GATEWAY_BAD_GATEWAY: &str = "bad_gateway";

fn wait_loop(shared: &Shared, waiter: usize) {
    let agent = new_agent(WAIT_TIMEOUT);
    let mut count = 0;
    while shared.creating() {
        count += 1;
        let marker = format!("{}w{waiter}-{count}", shared.plan.marker_prefix);
        let body = serde_json::json!({"code": source(&marker, count), "filename": "chaos.py"});
        let started = Instant::now();
        let outcome = answer(
            agent
                .post(&format!("{}/api/generate-test", shared.plan.base_url))
                .content_type("application/json")
                .send(body.to_string()),
        )
        .and_then(|(status, body)| wait_outcome(status, &body));
        if outcome.is_err() {
            lock(&shared.seen).refused.push(marker);
        }
        shared.record(RequestKind::Wait, started, outcome);
    }
}

/// A wait is served when it answers 200, or 502 for a task the model failed (the api's own
/// error, with the task's code): the task ended, and the client was told how.
fn wait_outcome(status: u16, body: &str) -> Result<(), Failure> {
    if status == 200 {
        return Ok(());
    }
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|body| body.pointer("/error/code")?.as_str().map(str::to_owned));
    match code {
        Some(code) if status == 502 && code != GATEWAY_BAD_GATEWAY => Ok(()),
        _ => Err(http_failure(status, body)),
    }
}

/// Follows `created`'s event stream to its terminal event, as a browser would.
fn follow(shared: &Shared, created: &Created) {
    let url = format!("{}/api/tasks/{}/events", shared.plan.base_url, created.id);
    let mut last_seq: u64 = 0;
    let mut delay = FIRST_RECONNECT;
    let mut reconnects = 0;
    let mut reason = String::from("never connected");
    let end = |ending: Option<String>, reason: String, reconnects: usize| {
        lock(&shared.seen).streams.push(StreamEnd {
            id: created.id.clone(),
            ending,
            reason,
            reconnects,
        });
    };
    loop {
        let deadline = *lock(&shared.follow_until);
        let limit = match deadline {
            Some(deadline) if Instant::now() >= deadline => {
                return end(
                    None,
                    format!(
                        "no end by the deadline after {reconnects} reconnects (last: {reason})"
                    ),
                    reconnects,
                );
            }
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(STREAM_CONNECTION_LIMIT),
            None => STREAM_CONNECTION_LIMIT,
        };
        let mut request = created
            .agent
            .get(&url)
            .header("accept", "text/event-stream");
        if last_seq > 0 {
            request = request.header("last-event-id", last_seq.to_string());
        }
        match request.config().timeout_global(Some(limit)).build().call() {
            Err(error) => reason = transport(&error).kind,
            Ok(mut response) => {
                let status = response.status().as_u16();
                if status == 404 || status == 400 {
                    // The web UI gives up here: the task cannot be followed.
                    let body = response.body_mut().read_to_string().unwrap_or_default();
                    return end(
                        None,
                        format!("HTTP {status}: {}", snippet(&body)),
                        reconnects,
                    );
                }
                if (200..300).contains(&status) {
                    let mut parser = SseParser::default();
                    for line in BufReader::new(response.body_mut().as_reader()).lines() {
                        let Ok(line) = line else { break };
                        let Some(event) = parser.feed(&line) else {
                            continue;
                        };
                        if !is_new(&event, &mut last_seq) {
                            continue;
                        }
                        if TERMINAL_EVENTS.contains(&event.name.as_str()) {
                            return end(Some(event.name), String::new(), reconnects);
                        }
                        delay = FIRST_RECONNECT;
                    }
                    reason = "the stream ended without the task's end".into();
                } else {
                    reason = format!("HTTP {status}");
                }
            }
        }
        reconnects += 1;
        let pause = match *lock(&shared.follow_until) {
            Some(deadline) => delay.min(deadline.saturating_duration_since(Instant::now())),
            None => delay,
        };
        std::thread::sleep(pause);
        delay = (delay * 2).min(LONGEST_RECONNECT);
    }
}

/// Whether the client takes `event`: an unnumbered one always, a numbered one only past the last
/// number seen (which it then becomes), as the web UI's stream does.
fn is_new(event: &SseEvent, last_seq: &mut u64) -> bool {
    let Some(id) = &event.id else {
        return true;
    };
    match id.trim().parse::<u64>() {
        Ok(seq) if seq <= *last_seq => false,
        Ok(seq) => {
            *last_seq = seq;
            true
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_is_its_own_and_carries_its_marker() {
        let one = source("aiut-chaos-x-api-kill-c0-1", 1);
        let two = source("aiut-chaos-x-api-kill-c0-2", 2);
        assert_ne!(one, two);
        assert!(one.starts_with("# aiut-chaos-x-api-kill-c0-1\n"), "{one}");
        assert!(
            one.contains("def aiut_chaos_x_api_kill_c0_1(value):"),
            "{one}"
        );
        let marker = regex_like_marker(&one).expect("a marker");
        assert_eq!(marker, "aiut-chaos-x-api-kill-c0-1");
    }

    /// What `substring(source from MARKER_PATTERN)` finds in a source.
    fn regex_like_marker(source: &str) -> Option<&str> {
        let start = source.find("aiut-chaos-")?;
        let rest = &source[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    }

    #[test]
    fn numbered_events_at_or_below_the_last_seen_are_ignored() {
        let event = |id: Option<&str>| SseEvent {
            name: "generating".into(),
            data: "{}".into(),
            id: id.map(str::to_owned),
        };
        let mut last = 0;
        assert!(is_new(&event(Some("1")), &mut last));
        assert!(is_new(&event(Some("3")), &mut last));
        assert_eq!(last, 3);
        assert!(!is_new(&event(Some("3")), &mut last));
        assert!(
            !is_new(&event(Some("2")), &mut last),
            "numbers started again"
        );
        assert!(
            is_new(&event(None), &mut last),
            "the state sent in place of the log"
        );
        assert_eq!(last, 3);
    }

    #[test]
    fn a_wait_is_served_when_its_task_ended_whatever_the_model_did() {
        assert_eq!(wait_outcome(200, "{}"), Ok(()));
        let model_failed = r#"{"error":{"code":"provider_error","message":"down"}}"#;
        assert_eq!(wait_outcome(502, model_failed), Ok(()));
        let gateway = r#"{"error":{"code":"bad_gateway","message":"the backend failed"}}"#;
        assert_eq!(
            wait_outcome(502, gateway).map_err(|failure| failure.kind),
            Err("HTTP 502".to_owned())
        );
        assert!(wait_outcome(502, "<html>").is_err());
        assert!(wait_outcome(504, r#"{"error":{"code":"generation_timeout"}}"#).is_err());
        assert!(wait_outcome(503, "{}").is_err());
    }

    #[test]
    fn the_task_id_is_read_from_either_answer() {
        assert_eq!(
            task_id(r#"{"id":"a1","status":"queued"}"#).as_deref(),
            Some("a1")
        );
        assert_eq!(
            task_id(r#"{"task_id":"b2","tests":[]}"#).as_deref(),
            Some("b2")
        );
        assert_eq!(task_id(r#"{"status":"queued"}"#), None);
        assert_eq!(task_id("<html>"), None);
    }
}
