//! One simulated user: what it sends, and how a task is followed to its end.

use std::io::{BufRead as _, BufReader};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::report::{Failure, Kind, Record, Tally};
use crate::client::{Outcome, finish, new_agent, snippet};

/// The header the api replicas name themselves in.
const BACKEND_HEADER: &str = "x-backend-instance";
/// What the read scenario cycles through, each user starting at its own place.
pub const READ_PATHS: [&str; 4] = ["/health", "/api/languages", "/api/models", "/api/queue"];
/// In the mixed scenario, one request in this many is a task, the others reads.
pub const MIXED_TASK_EVERY: usize = 10;
/// The wait before asking again about a task whose event stream ended without an ending.
const RECHECK_AFTER: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Read,
    Generate,
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Read => "read",
            Scenario::Generate => "generate",
            Scenario::Mixed => "mixed",
        }
    }
}

impl FromStr for Scenario {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Scenario> {
        match text {
            "read" => Ok(Scenario::Read),
            "generate" => Ok(Scenario::Generate),
            "mixed" => Ok(Scenario::Mixed),
            other => anyhow::bail!("unknown scenario `{other}`: read, generate or mixed"),
        }
    }
}

/// What a user's request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Read(&'static str),
    Task,
}

/// The `index`th request of user `user`. Users start at different places in the cycle, so at any
/// moment the kinds are spread over the users (and in `mixed`, not every user submits at once).
pub fn step(scenario: Scenario, user: usize, index: usize) -> Step {
    let read = Step::Read(READ_PATHS[(user + index) % READ_PATHS.len()]);
    match scenario {
        Scenario::Read => read,
        Scenario::Generate => Step::Task,
        Scenario::Mixed if (user + index) % MIXED_TASK_EVERY == MIXED_TASK_EVERY - 1 => Step::Task,
        Scenario::Mixed => read,
    }
}

/// What every user shares.
#[derive(Debug, Clone)]
pub struct Plan {
    pub base_url: String,
    pub scenario: Scenario,
    /// Sent with every task; `None` lets the service choose.
    pub model: Option<String>,
    /// Requests per user; `None` to go on until the deadline.
    pub requests: Option<usize>,
    /// No request starts after this.
    pub deadline: Option<Instant>,
    /// Makes this run's sources differ from an earlier run's, so the result cache does not
    /// answer them.
    pub run_stamp: u128,
    pub read_timeout: Duration,
    pub task_timeout: Duration,
}

/// Finished requests, for the progress line.
pub struct Counters {
    pub done: AtomicUsize,
    pub failed: AtomicUsize,
}

/// Sends user `user`'s requests one after the other with one client (one connection, one
/// session cookie) until the plan says stop.
pub fn run(plan: &Plan, user: usize, counters: &Counters) -> Tally {
    let agent = new_agent(plan.read_timeout);
    let mut tally = Tally::default();
    for index in 0.. {
        if plan.requests.is_some_and(|requests| index >= requests)
            || plan
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
        {
            break;
        }
        let record = match step(plan.scenario, user, index) {
            Step::Read(path) => read(&agent, plan, path),
            Step::Task => task(&agent, plan, user, index),
        };
        if record.result.is_err() {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        counters.done.fetch_add(1, Ordering::Relaxed);
        tally.add(record);
    }
    tally
}

fn backend_of(response: &ureq::http::Response<ureq::Body>) -> Option<String> {
    response
        .headers()
        .get(BACKEND_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A failure's kind for a request that got no answer.
fn transport_failure(stage: &str, error: &ureq::Error) -> Failure {
    let kind = crate::client::transport_kind(error);
    Failure {
        kind: format!("{stage}transport ({kind})"),
        example: error.to_string(),
    }
}

fn outcome_failure(stage: &str, outcome: Outcome) -> Result<(), Failure> {
    match outcome {
        Outcome::Success => Ok(()),
        Outcome::Status(code, body) => Err(Failure {
            kind: format!("{stage}HTTP {code}"),
            example: body,
        }),
        Outcome::Transport(error) => Err(Failure {
            kind: format!("{stage}transport (body)"),
            example: error,
        }),
    }
}

fn read(agent: &ureq::Agent, plan: &Plan, path: &str) -> Record {
    let started = Instant::now();
    let (result, backend) = match agent.get(&format!("{}{path}", plan.base_url)).call() {
        Err(error) => (Err(transport_failure("", &error)), None),
        Ok(response) => {
            let backend = backend_of(&response);
            (
                outcome_failure("", finish(Ok(response), |_| Ok(()))),
                backend,
            )
        }
    };
    Record {
        kind: Kind::Read,
        latency: started.elapsed(),
        result,
        backend,
    }
}

/// A source no other request of any run sends: one Python function named after the run, the
/// user and the request.
pub fn task_source(run_stamp: u128, user: usize, index: usize) -> String {
    format!(
        "def load_{run_stamp}_{user}_{index}(value):\n    \"\"\"Adds {index} to value.\"\"\"\n    return value + {index}\n"
    )
}

/// Submits one task and follows it to its end; the latency is from before the submission to the
/// terminal event.
fn task(agent: &ureq::Agent, plan: &Plan, user: usize, index: usize) -> Record {
    let mut body = serde_json::json!({
        "source": task_source(plan.run_stamp, user, index),
        "filename": "load.py",
    });
    if let Some(model) = &plan.model {
        body["model"] = serde_json::Value::from(model.as_str());
    }
    let started = Instant::now();
    let deadline = started + plan.task_timeout;
    let sent = agent
        .post(&format!("{}/api/tasks", plan.base_url))
        .content_type("application/json")
        .send(body.to_string());
    let (result, backend) = match sent {
        Err(error) => (Err(transport_failure("", &error)), None),
        Ok(response) => {
            let backend = backend_of(&response);
            let mut accepted = None;
            let outcome = finish(Ok(response), |body| {
                accepted = Some(submission(body)?);
                Ok(())
            });
            let result = match (outcome_failure("", outcome), accepted) {
                (Ok(()), Some(Submission::Ended(ending))) => ending,
                (Ok(()), Some(Submission::Running(id))) => follow(agent, plan, &id, deadline),
                (Ok(()), None) => Err(Failure {
                    kind: "bad answer".into(),
                    example: "the submission was not read".into(),
                }),
                (Err(failure), _) => Err(failure),
            };
            (result, backend)
        }
    };
    Record {
        kind: Kind::Generate,
        latency: started.elapsed(),
        result,
        backend,
    }
}

/// What the answer to a submission says.
#[derive(Debug, PartialEq)]
pub enum Submission {
    /// Queued or running: follow this id.
    Running(String),
    /// Already over (a result answered from the cache): its ending.
    Ended(Result<(), Failure>),
}

/// Reads a 2xx answer of `POST /api/tasks` (or `GET /api/tasks/{id}`): its id and status.
pub fn submission(body: &str) -> Result<Submission, String> {
    let task: serde_json::Value = serde_json::from_str(body)
        .map_err(|_| format!("the answer is not JSON: {}", snippet(body)))?;
    let id = task
        .get("id")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("no task id in {}", snippet(body)))?;
    let status = task
        .get("status")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("queued");
    let error = || {
        let code = task
            .pointer("/error/code")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("failed");
        let message = task
            .pointer("/error/message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        format!("{code}: {message}")
    };
    let code = task
        .pointer("/error/code")
        .and_then(serde_json::Value::as_str);
    Ok(match status {
        "succeeded" => Submission::Ended(Ok(())),
        "failed" if code == Some(NO_PASSING_TESTS) => Submission::Ended(Ok(())),
        "failed" => Submission::Ended(Err(Failure {
            kind: "task failed".into(),
            example: error(),
        })),
        "cancelled" => Submission::Ended(Err(Failure {
            kind: "task cancelled".into(),
            example: String::new(),
        })),
        _ => Submission::Running(id.to_owned()),
    })
}

/// Follows `/api/tasks/{id}/events` to a terminal event. A stream that ends without one (the
/// replica stopped, or live progress is down) is followed by a look at the task itself, and
/// resumed after the last event seen while the task runs on; all before `deadline`.
fn follow(agent: &ureq::Agent, plan: &Plan, id: &str, deadline: Instant) -> Result<(), Failure> {
    let events_url = format!("{}/api/tasks/{id}/events", plan.base_url);
    let task_url = format!("{}/api/tasks/{id}", plan.base_url);
    let timed_out = || Failure {
        kind: "task timed out".into(),
        example: format!("not over after {} s", plan.task_timeout.as_secs()),
    };
    let mut last_event_id: Option<String> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timed_out());
        }
        let mut request = agent.get(&events_url).header("accept", "text/event-stream");
        if let Some(last) = &last_event_id {
            request = request.header("last-event-id", last.as_str());
        }
        match request
            .config()
            .timeout_global(Some(remaining))
            .build()
            .call()
        {
            Err(ureq::Error::Timeout(_)) => return Err(timed_out()),
            Err(error) => return Err(transport_failure("events: ", &error)),
            Ok(response) if !response.status().is_success() => {
                return outcome_failure("events: ", finish(Ok(response), |_| Ok(())));
            }
            Ok(mut response) => {
                let mut parser = SseParser::default();
                for line in BufReader::new(response.body_mut().as_reader()).lines() {
                    // A broken stream is not the task's failure: look at the task below.
                    let Ok(line) = line else { break };
                    let Some(event) = parser.feed(&line) else {
                        continue;
                    };
                    if event.id.is_some() {
                        last_event_id = event.id.clone();
                    }
                    if let Some(ending) = ending_of(&event) {
                        return ending;
                    }
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(timed_out());
        }
        let looked = agent
            .get(&task_url)
            .config()
            .timeout_global(Some(plan.read_timeout.min(remaining)))
            .build()
            .call();
        let mut state = None;
        let outcome = match looked {
            Err(error) => return Err(transport_failure("status: ", &error)),
            Ok(response) => finish(Ok(response), |body| {
                state = Some(submission(body)?);
                Ok(())
            }),
        };
        outcome_failure("status: ", outcome)?;
        if let Some(Submission::Ended(ending)) = state {
            return ending;
        }
        std::thread::sleep(RECHECK_AFTER.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
    pub id: Option<String>,
}

/// Server-sent events from a stream's lines: `event:`, `data:` (several join with newlines) and
/// `id:` fields, comments (`:`) ignored, an event dispatched at the blank line that ends it.
#[derive(Debug, Default)]
pub struct SseParser {
    name: Option<String>,
    data: Option<String>,
    id: Option<String>,
}

impl SseParser {
    pub fn feed(&mut self, line: &str) -> Option<SseEvent> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            let event = (self.name.is_some() || self.data.is_some()).then(|| SseEvent {
                name: self.name.take().unwrap_or_else(|| "message".to_owned()),
                data: self.data.take().unwrap_or_default(),
                id: self.id.take(),
            });
            self.id = None;
            return event;
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

/// The task's ending when `event` is terminal: `completed` is a success, `error` and
/// `cancelled` are failures; every other event (progress, heartbeats) is not an ending.
/// A task that ended because none of the model's tests passed when run: the service did all it
/// should (generated, ran, reported), so for a load test it is a served request, not a failure.
const NO_PASSING_TESTS: &str = "no_passing_tests";

pub fn ending_of(event: &SseEvent) -> Option<Result<(), Failure>> {
    match event.name.as_str() {
        "completed" => Some(Ok(())),
        "error" => {
            let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
            let field = |name: &str| {
                data.get(name)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            if field("code") == NO_PASSING_TESTS {
                return Some(Ok(()));
            }
            Some(Err(Failure {
                kind: "task failed".into(),
                example: format!("{}: {}", field("code"), field("message")),
            }))
        }
        "cancelled" => Some(Err(Failure {
            kind: "task cancelled".into(),
            example: snippet(&event.data),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_whose_tests_did_not_pass_was_still_served() {
        let ended = |code: &str| SseEvent {
            name: "error".into(),
            data: format!(r#"{{"code":"{code}","message":"m"}}"#),
            id: None,
        };
        assert!(matches!(
            ending_of(&ended("no_passing_tests")),
            Some(Ok(()))
        ));
        assert!(matches!(
            ending_of(&ended("model_unavailable")),
            Some(Err(_))
        ));
    }

    #[test]
    fn scenarios_send_what_they_say() {
        let steps = |scenario, user| -> Vec<Step> {
            (0..20).map(|index| step(scenario, user, index)).collect()
        };
        let reads = steps(Scenario::Read, 0);
        assert!(reads.iter().all(|step| matches!(step, Step::Read(_))));
        assert_eq!(&reads[..4], &READ_PATHS.map(Step::Read));
        // Another user starts one further along the cycle.
        assert_eq!(steps(Scenario::Read, 1)[0], Step::Read(READ_PATHS[1]));
        assert!(
            steps(Scenario::Generate, 3)
                .iter()
                .all(|step| *step == Step::Task)
        );
        for user in 0..MIXED_TASK_EVERY {
            let mixed = steps(Scenario::Mixed, user);
            let tasks = mixed.iter().filter(|step| **step == Step::Task).count();
            assert_eq!(tasks, 20 / MIXED_TASK_EVERY, "user {user}");
        }
        // Users do not all submit at the same moment.
        assert_ne!(
            steps(Scenario::Mixed, 0)
                .iter()
                .position(|s| *s == Step::Task),
            steps(Scenario::Mixed, 1)
                .iter()
                .position(|s| *s == Step::Task)
        );
        assert_eq!("mixed".parse::<Scenario>().ok(), Some(Scenario::Mixed));
        assert!("Read".parse::<Scenario>().is_err());
    }

    #[test]
    fn every_request_has_its_own_source() {
        let mut sources = std::collections::HashSet::new();
        for run in [1, 2] {
            for user in [0, 1, 10] {
                for index in [0, 1, 10] {
                    assert!(sources.insert(task_source(run, user, index)));
                }
            }
        }
        assert!(task_source(1, 2, 3).starts_with("def load_1_2_3(value):"));
    }

    #[test]
    fn parses_server_sent_events() {
        let stream = "event: started\ndata: {\"attempt\":1}\nid: 1\n\n\
                      : keep-alive comment\n\
                      event: heartbeat\ndata: {}\n\n\
                      data: one\ndata: two\r\n\r\n\
                      event: completed\ndata:{\"tests\":2}\nid: 7\n\n\
                      \n";
        let mut parser = SseParser::default();
        let events: Vec<SseEvent> = stream.lines().filter_map(|l| parser.feed(l)).collect();
        let event = |name: &str, data: &str, id: Option<&str>| SseEvent {
            name: name.into(),
            data: data.into(),
            id: id.map(str::to_owned),
        };
        assert_eq!(
            events,
            vec![
                event("started", "{\"attempt\":1}", Some("1")),
                event("heartbeat", "{}", None),
                event("message", "one\ntwo", None),
                event("completed", "{\"tests\":2}", Some("7")),
            ]
        );
    }

    #[test]
    fn only_terminal_events_end_a_task() {
        let event = |name: &str, data: &str| SseEvent {
            name: name.into(),
            data: data.into(),
            id: None,
        };
        assert_eq!(ending_of(&event("completed", "{}")), Some(Ok(())));
        let failed = ending_of(&event(
            "error",
            r#"{"event":"error","code":"provider_error","message":"down"}"#,
        ));
        assert_eq!(
            failed,
            Some(Err(Failure {
                kind: "task failed".into(),
                example: "provider_error: down".into()
            }))
        );
        assert!(matches!(
            ending_of(&event("cancelled", "{}")),
            Some(Err(Failure { kind, .. })) if kind == "task cancelled"
        ));
        for name in [
            "started",
            "parsing_completed",
            "generating",
            "result",
            "warning",
            "heartbeat",
            "message",
        ] {
            assert_eq!(ending_of(&event(name, "{}")), None, "{name}");
        }
    }

    #[test]
    fn reads_a_submission() {
        assert_eq!(
            submission(r#"{"id":"a1","status":"queued","position":3}"#),
            Ok(Submission::Running("a1".into()))
        );
        assert_eq!(
            submission(r#"{"id":"a1","status":"running"}"#),
            Ok(Submission::Running("a1".into()))
        );
        // A result from the cache is already over.
        assert_eq!(
            submission(r#"{"id":"a1","status":"succeeded","cache_hit":true}"#),
            Ok(Submission::Ended(Ok(())))
        );
        assert_eq!(
            submission(
                r#"{"id":"a1","status":"failed","error":{"code":"invalid_output","message":"m"}}"#
            ),
            Ok(Submission::Ended(Err(Failure {
                kind: "task failed".into(),
                example: "invalid_output: m".into()
            })))
        );
        assert!(matches!(
            submission(r#"{"id":"a1","status":"cancelled"}"#),
            Ok(Submission::Ended(Err(_)))
        ));
        assert!(submission(r#"{"status":"queued"}"#).is_err());
        assert!(submission("<html>").is_err());
    }
}
