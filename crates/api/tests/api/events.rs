//! Live progress: the server-sent events of a task (replay, resume, the end), and the original
//! tool's `POST /api/generate-test` and `POST /api/generate-test-stream`. Events are published into
//! Redis by the test, as a worker would.

use std::time::Duration;

use domain::{EventKind, Progress, TaskId, UnitSummary};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::time::timeout;

use crate::helpers::*;
use crate::openapi::{assert_documented, fetch_document, problems};

/// The longest any step of a stream may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

const SOURCE: &str = "def add(a, b):\n    return a + b\n";
const UNIT_TESTS: &str = "def test_add():\n    assert add(1, 2) == 3\n";
const TEST_FILE: &str = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n";

/// One server-sent event.
#[derive(Debug)]
struct SseFrame {
    event: String,
    id: Option<String>,
    data: Value,
}

/// Reads a `text/event-stream` body event by event.
struct SseReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
    ended: bool,
}

impl SseReader {
    async fn open(
        app: &TestApp,
        client: &reqwest::Client,
        id: &str,
        last_event_id: Option<&str>,
    ) -> SseReader {
        let mut request = client
            .get(app.url(&format!("/api/tasks/{id}/events")))
            .header("accept", "text/event-stream");
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last);
        }
        let response = timeout(WAIT, request.send())
            .await
            .expect("the stream opens within 10 s")
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader {
            response,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next event other than a heartbeat, or `None` once the stream has ended.
    async fn next(&mut self) -> Option<SseFrame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 events");
                match parse_frame(&block) {
                    Some(frame) if frame.event != "heartbeat" => return Some(frame),
                    _ => continue,
                }
            }
            if self.ended {
                assert!(
                    self.buffer.iter().all(u8::is_ascii_whitespace),
                    "the stream ended inside an event: {:?}",
                    String::from_utf8_lossy(&self.buffer)
                );
                return None;
            }
            let chunk = timeout(WAIT, self.response.chunk())
                .await
                .expect("the stream moves on within 10 s")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => self.ended = true,
            }
        }
    }

    async fn assert_ended(&mut self) {
        if let Some(frame) = self.next().await {
            panic!("the stream goes on after its end: {frame:?}");
        }
    }
}

/// One event block: `event:`, `id:` and `data:` lines; comments and blank blocks are none.
fn parse_frame(block: &str) -> Option<SseFrame> {
    let mut event = None;
    let mut id = None;
    let mut data = Vec::new();
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
    Some(SseFrame {
        event: event.unwrap_or_else(|| "message".to_owned()),
        id,
        data,
    })
}

/// What a worker publishes for a one-unit task, in order; the last is `completed`.
fn one_unit_events() -> Vec<(Progress, EventKind)> {
    let progress = |percent, completed, total| {
        Progress::new(percent, completed, total).expect("valid progress")
    };
    vec![
        (progress(0, 0, 0), EventKind::Started { attempt: 1 }),
        (
            progress(5, 0, 1),
            EventKind::ParsingCompleted {
                units: vec![UnitSummary {
                    name: "add".into(),
                    kind: "function".into(),
                    container: None,
                    line: 1,
                }],
            },
        ),
        (
            progress(5, 0, 1),
            EventKind::Generating { unit: "add".into() },
        ),
        (
            progress(95, 1, 1),
            EventKind::Result {
                unit: "add".into(),
                code: UNIT_TESTS.into(),
            },
        ),
        (
            progress(100, 1, 1),
            EventKind::Completed {
                file_name: "test_calc.py".into(),
                tests: 1,
            },
        ),
    ]
}

async fn publish(app: &TestApp, task: &str, (progress, kind): (Progress, EventKind)) {
    let task: TaskId = task.parse().expect("a task id");
    store::events::publish(app.probe.redis(), 60, task, progress, kind)
        .await
        .expect("the event is published");
}

/// Checks an event's data against the documented `Event` schema, and that it is this task's.
fn assert_documented_event(document: &Value, frame: &SseFrame, task: &str) {
    let schema = json!({"$ref": "#/components/schemas/Event"});
    let problems = problems(document, &schema, &frame.data);
    assert!(problems.is_empty(), "{problems:#?}\n{frame:?}");
    assert_eq!(frame.data["task_id"], task, "{frame:?}");
    assert_eq!(frame.data["event"], frame.event.as_str(), "{frame:?}");
}

#[sqlx::test(migrations = false)]
async fn events_are_replayed_followed_live_and_resumed(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id").to_owned();
    app.wait_for_event_subscription().await;

    let mut events = one_unit_events();
    let last = events.pop().expect("a last event");
    for event in events {
        publish(&app, &id, event).await;
    }

    let mut stream = SseReader::open(&app, &app.client, &id, None).await;
    let expected = ["started", "parsing_completed", "generating", "result"];
    let mut numbers = Vec::new();
    for name in expected {
        let frame = stream.next().await.expect("a replayed event");
        assert_eq!(frame.event, name, "{frame:?}");
        let number = number_of(&frame);
        assert_eq!(frame.data["seq"], number, "the id is the event's number");
        assert!(
            numbers.last().is_none_or(|last| *last < number),
            "numbers grow: {numbers:?}, then {number}"
        );
        numbers.push(number);
        assert_documented_event(&document, &frame, &id);
    }

    // A live event, then the end: `completed` is the last thing a stream sends.
    publish(&app, &id, last).await;
    let completed = stream.next().await.expect("the live event");
    assert_eq!(completed.event, "completed");
    assert!(number_of(&completed) > numbers[3], "{completed:?}");
    assert_eq!(completed.data["file_name"], "test_calc.py");
    assert_eq!(completed.data["tests"], 1);
    assert_eq!(completed.data["progress"], 100);
    assert_documented_event(&document, &completed, &id);
    stream.assert_ended().await;

    // A client that saw the third event gets only what came after it.
    let third = numbers[2].to_string();
    let mut resumed = SseReader::open(&app, &app.client, &id, Some(&third)).await;
    let result = resumed.next().await.expect("the fourth event");
    assert_eq!(
        (result.event.as_str(), number_of(&result)),
        ("result", numbers[3])
    );
    assert_eq!(result.data["code"], UNIT_TESTS);
    let end = resumed.next().await.expect("the fifth event");
    assert_eq!(
        (end.event.as_str(), number_of(&end)),
        ("completed", number_of(&completed))
    );
    resumed.assert_ended().await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_stream_is_refused_for_other_sessions_and_bad_event_ids(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");
    let path = "/api/tasks/{id}/events";
    let events = |client: &reqwest::Client, task: &str, last: &str| {
        client
            .get(app.url(&format!("/api/tasks/{task}/events")))
            .header("last-event-id", last)
            .send()
    };

    let theirs = events(&new_client(), id, "0").await.expect("sent");
    let (status, body) = assert_documented(&document, "get", path, theirs).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("task_not_found"))
    );

    for bad in ["soon", "-1", "1.5", "18446744073709551616"] {
        let answer = events(&app.client, id, bad).await.expect("sent");
        let (status, body) = assert_documented(&document, "get", path, answer).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_last_event_id")),
            "{bad}"
        );
    }
    let answer = events(&app.client, "not-a-uuid", "0").await.expect("sent");
    let (status, _) = assert_documented(&document, "get", path, answer).await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_task_that_ended_without_events_gets_its_ending_from_the_table(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    app.wait_for_event_subscription().await;

    let succeeded = json_with_status(app.post_task(&python_task()).await, 202).await;
    let succeeded = succeeded["id"].as_str().expect("an id");
    finish_task(&app.pool, succeeded, "test_calc.py", TEST_FILE).await;
    let mut stream = SseReader::open(&app, &app.client, succeeded, None).await;
    let ending = stream.next().await.expect("one event");
    assert_eq!(ending.event, "completed", "{ending:?}");
    assert_eq!(ending.id, None, "a synthesised event has no number");
    assert_eq!(ending.data["file_name"], "test_calc.py");
    assert_eq!(ending.data["progress"], 100);
    assert_documented_event(&document, &ending, succeeded);
    stream.assert_ended().await;

    let failed = json!({"source": python_source(7), "filename": "seven.py"});
    let failed = json_with_status(app.post_task(&failed).await, 202).await;
    let failed = failed["id"].as_str().expect("an id");
    fail_task(
        &app.pool,
        failed,
        "provider_error",
        "the provider kept failing",
    )
    .await;
    let mut stream = SseReader::open(&app, &app.client, failed, None).await;
    let ending = stream.next().await.expect("one event");
    assert_eq!(ending.event, "error", "{ending:?}");
    assert_eq!(ending.data["code"], "provider_error");
    assert_eq!(ending.data["message"], "the provider kept failing");
    assert_documented_event(&document, &ending, failed);
    stream.assert_ended().await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn cancelling_a_queued_task_ends_its_stream(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");
    app.wait_for_event_subscription().await;
    publish(&app, id, one_unit_events().remove(0)).await;

    let mut stream = SseReader::open(&app, &app.client, id, None).await;
    let started = stream.next().await.expect("the replayed event");
    assert_eq!(started.event, "started");
    json_with_status(app.delete(&format!("/api/tasks/{id}")).await, 200).await;
    let cancelled = stream.next().await.expect("the cancellation");
    assert_eq!(cancelled.event, "cancelled", "{cancelled:?}");
    assert!(
        number_of(&cancelled) > number_of(&started),
        "numbered after the last one: {cancelled:?}"
    );
    stream.assert_ended().await;
    app.stop().await;
}

/// Marks a task failed behind the API's back, as a worker would.
async fn fail_task(pool: &PgPool, id: &str, code: &str, message: &str) {
    sqlx::query(
        "update tasks set status = 'failed', started_at = now(), finished_at = now(), \
         attempts = 1, error_code = $2, error_message = $3, updated_at = now() \
         where id = $1::uuid",
    )
    .bind(id)
    .bind(code)
    .bind(message)
    .execute(pool)
    .await
    .expect("fail the task");
}

/// The id of the one queued task, once there is one (at most 10 s).
async fn queued_task(pool: &PgPool) -> String {
    let wait = async {
        loop {
            let found: Option<String> =
                sqlx::query_scalar("select id::text from tasks where status = 'queued' limit 1")
                    .fetch_optional(pool)
                    .await
                    .expect("query the tasks");
            if let Some(id) = found {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(WAIT, wait)
        .await
        .expect("a task is queued within 10 s")
}

/// Ends the next queued task the way a worker does, in the background.
fn finish_next_task(pool: PgPool, outcome: Outcome) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let id = queued_task(&pool).await;
        // Ended while the request waits, not before it started waiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        match outcome {
            Outcome::Succeeded => {
                let units = json!([{
                    "name": "add",
                    "kind": "function",
                    "container": null,
                    "start_line": 1,
                    "end_line": 2,
                    "code": UNIT_TESTS,
                }]);
                sqlx::query(
                    "update tasks set status = 'succeeded', started_at = now(), \
                     finished_at = now(), attempts = 1, result_file_name = 'test_calc.py', \
                     result_code = $2, result_units = $3, progress_done = 1, progress_total = 1, \
                     updated_at = now() where id = $1::uuid",
                )
                .bind(&id)
                .bind(TEST_FILE)
                .bind(units)
                .execute(&pool)
                .await
                .expect("finish the task");
            }
            Outcome::Failed => {
                fail_task(&pool, &id, "no_valid_tests", "no unit got tests that parse").await;
            }
        }
        id
    })
}

enum Outcome {
    Succeeded,
    Failed,
}

fn generate(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.client.post(app.url(path))
}

#[sqlx::test(migrations = false)]
async fn generate_test_answers_with_the_tests_in_the_original_shape(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let finisher = finish_next_task(app.pool.clone(), Outcome::Succeeded);
    let request = generate(&app, "/api/generate-test")
        .json(&json!({"code": SOURCE, "language": "python", "filename": "calc.py"}));
    let response = timeout(WAIT, request.send())
        .await
        .expect("answered within 10 s")
        .expect("sent");
    let (status, body) = assert_documented(&document, "post", "/api/generate-test", response).await;
    let id = timeout(WAIT, finisher)
        .await
        .expect("the finisher ends")
        .expect("the finisher ran");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["task_id"], id.as_str());
    assert_eq!(body["file_name"], "test_calc.py");
    assert_eq!(body["code"], TEST_FILE);
    assert_eq!(body["git_urls"], Value::Null);
    assert_eq!(
        body["tests"],
        json!([{
            "name": "add",
            "type": "function",
            "test_code": UNIT_TESTS,
            "original_snippet": "def add(a, b):\n    return a + b",
            "file_name": "test_calc.py",
        }])
    );

    // The task is an ordinary task of the session, with its units.
    let task = app.task(&id).await;
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["file_name"], "calc.py");
    assert_eq!(task["result"]["units"][0]["name"], "add");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn generate_test_answers_502_when_the_task_fails_and_504_when_it_takes_too_long(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    settings.stream.wait_timeout_secs = 3;
    let app = spawn_app_with(pool_options, connect, settings).await;
    let document = fetch_document(&app).await;
    let path = "/api/generate-test";

    let finisher = finish_next_task(app.pool.clone(), Outcome::Failed);
    let request = generate(&app, path).json(&json!({"code": SOURCE, "file_name": "calc.py"}));
    let response = timeout(WAIT, request.send())
        .await
        .expect("answered within 10 s")
        .expect("sent");
    let (status, body) = assert_documented(&document, "post", path, response).await;
    timeout(WAIT, finisher)
        .await
        .expect("the finisher ends")
        .expect("the finisher ran");
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "no_valid_tests");
    assert_eq!(body["error"]["message"], "no unit got tests that parse");

    // Nobody finishes this one.
    let request =
        generate(&app, path).json(&json!({"code": python_source(2), "language": "python"}));
    let response = timeout(WAIT, request.send())
        .await
        .expect("answered within 10 s")
        .expect("sent");
    let (status, body) = assert_documented(&document, "post", path, response).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "generation_timeout");
    let waiting: String = sqlx::query_scalar("select id::text from tasks where status = 'queued'")
        .fetch_one(&app.pool)
        .await
        .expect("the task stays queued");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains(&waiting)),
        "the message names the task to follow: {body}"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn the_generate_routes_refuse_bad_input_with_json_errors(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    settings.limits.max_source_bytes = 1024;
    settings.limits.max_body_bytes = 4096;
    let app = spawn_app_with(pool_options, connect, settings).await;
    let document = fetch_document(&app).await;

    let long_source = (0..60).map(python_source).collect::<String>();
    assert!((1024..4000).contains(&long_source.len()));
    for path in ["/api/generate-test", "/api/generate-test-stream"] {
        let json_body = |body: &str| {
            generate(&app, path)
                .header("content-type", "application/json")
                .body(body.to_owned())
        };
        let cases = [
            (json_body("[1, 2]"), 400, "invalid_json"),
            (json_body("\"def f(): pass\""), 400, "invalid_json"),
            (json_body("{\"code\": "), 400, "invalid_json"),
            (
                generate(&app, path).json(&json!({"language": "python"})),
                400,
                "invalid_json",
            ),
            (
                generate(&app, path).json(&json!({"code": 42, "language": "python"})),
                400,
                "invalid_json",
            ),
            (
                generate(&app, path).json(&json!({"code": SOURCE, "language": "cobol"})),
                422,
                "unknown_language",
            ),
            (
                generate(&app, path).json(&json!({"code": SOURCE})),
                422,
                "language_required",
            ),
            (
                generate(&app, path)
                    .json(&json!({"code": SOURCE, "language": "python", "model": "nope"})),
                422,
                "unknown_model",
            ),
            (
                generate(&app, path).json(&json!({"code": "x = 1\n", "language": "python"})),
                422,
                "no_testable_unit",
            ),
            (
                generate(&app, path).json(&json!({"code": long_source, "language": "python"})),
                413,
                "source_too_large",
            ),
            (
                generate(&app, path).json(&json!({"code": "y".repeat(8192), "language": "python"})),
                413,
                "payload_too_large",
            ),
            (
                generate(&app, path)
                    .header("content-type", "text/plain")
                    .body(SOURCE),
                415,
                "unsupported_media_type",
            ),
            (
                generate(&app, path)
                    .multipart(reqwest::multipart::Form::new().text("code", SOURCE)),
                415,
                "unsupported_media_type",
            ),
        ];
        for (request, status, code) in cases {
            let response = timeout(WAIT, request.send())
                .await
                .expect("answered within 10 s")
                .expect("sent");
            let (actual, body) = assert_documented(&document, "post", path, response).await;
            assert_eq!(
                (actual, body["error"]["code"].as_str()),
                (status, Some(code)),
                "{path}: {body}"
            );
        }
    }
    let count: i64 = sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "refused requests make no task");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn generate_test_stream_sends_the_original_status_lines(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    app.wait_for_event_subscription().await;

    let request = generate(&app, "/api/generate-test-stream")
        .json(&json!({"code": SOURCE, "language": "python", "file_name": "calc.py"}));
    let mut response = timeout(WAIT, request.send())
        .await
        .expect("answered within 10 s")
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/x-ndjson");
    let id = queued_task(&app.pool).await;
    for event in one_unit_events() {
        publish(&app, &id, event).await;
    }

    let mut text = Vec::new();
    let read_all = async {
        while let Some(chunk) = response.chunk().await.expect("the stream reads") {
            text.extend_from_slice(&chunk);
        }
    };
    timeout(WAIT, read_all)
        .await
        .expect("the stream ends within 10 s of its last event");
    let text = String::from_utf8(text).expect("UTF-8 lines");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .filter(|line: &Value| line["event"] != "heartbeat")
        .collect();
    assert!(text.ends_with('\n'), "every line ends with a newline");

    let schema = json!({"$ref": "#/components/schemas/GenerateStreamLine"});
    for line in &lines {
        let problems = problems(&document, &schema, line);
        assert!(problems.is_empty(), "{problems:#?}\n{line}");
        assert_eq!(line["task_id"], id.as_str());
    }
    let statuses: Vec<&str> = lines
        .iter()
        .map(|line| line["status"].as_str().unwrap_or("(tests)"))
        .collect();
    assert_eq!(
        statuses,
        [
            "started",
            "parsing_completed",
            "generating",
            "(tests)",
            "completed"
        ],
        "{text}"
    );
    assert_eq!(lines[1]["total_snippets"], 1);
    assert_eq!(lines[2]["current_snippet"], "add");
    assert_eq!(lines[3]["name"], "add");
    assert_eq!(
        lines[3]["type"], lines[1]["units"][0]["kind"],
        "a result names its unit's kind, as /api/generate-test does"
    );
    assert_eq!(lines[3]["test_code"], UNIT_TESTS);
    assert_eq!(lines[3]["success"], true);
    assert_eq!(lines[4]["test_count"], 1);
    assert_eq!(lines[4]["file_name"], "test_calc.py");
    assert_eq!(lines[4]["progress"], 100);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn without_redis_a_stream_sends_the_state_and_closes(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    // Nothing listens on port 1: the event subscription never comes up.
    settings.redis.url = "redis://127.0.0.1:1".into();
    let app = spawn_app_with(pool_options, connect, settings).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id").to_owned();

    let read = |path: String| {
        let client = app.client.clone();
        async move {
            let response = client.get(path).send().await.expect("the stream opens");
            assert_eq!(response.status().as_u16(), 200);
            response.text().await.expect("the stream ends")
        }
    };
    let queued = timeout(WAIT, read(app.url(&format!("/api/tasks/{id}/events"))))
        .await
        .expect("a stream without Redis closes at once");
    assert!(queued.contains("event: heartbeat"), "{queued}");
    assert!(
        !queued.contains("\nid:"),
        "a state read from the table has no event id: {queued}"
    );

    finish_task(&app.pool, &id, "test_calc.py", TEST_FILE).await;
    let finished = timeout(WAIT, read(app.url(&format!("/api/tasks/{id}/events"))))
        .await
        .expect("a stream without Redis closes at once");
    assert!(finished.contains("event: completed"), "{finished}");
    app.stop().await;
}

/// Publishes through the replica's own Redis connection, trying again while it reconnects after a
/// restart (at most 10 s).
async fn publish_when_back(app: &TestApp, task: &str, (progress, kind): (Progress, EventKind)) {
    let task: TaskId = task.parse().expect("a task id");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match store::events::publish(app.probe.redis(), 60, task, progress, kind.clone()).await {
            Ok(_) => return,
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "Redis is not back within 10 s: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Waits (at most 10 s) until the replica's event subscription is `up` or down.
async fn wait_for_subscription(app: &TestApp, up: bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.probe.is_subscribed() != up {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the event subscription is not {} within 10 s",
            if up { "up" } else { "down" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn number_of(frame: &SseFrame) -> u64 {
    frame
        .id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a numbered event: {frame:?}"))
}

/// The next event other than a heartbeat, within 10 s however many heartbeats come meanwhile.
async fn next_within(reader: &mut SseReader) -> Option<SseFrame> {
    timeout(WAIT, reader.next())
        .await
        .expect("an event within 10 s, not only heartbeats")
}

#[sqlx::test(migrations = false)]
async fn a_stream_follows_its_task_across_a_redis_restart_and_flush(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let redis = PrivateRedis::start().await;
    let mut settings = test_settings(&unique_prefix());
    settings.redis.url = redis.url();
    // Heartbeats fall inside the outage, where a stream must go on.
    settings.stream.heartbeat_secs = 1;
    let app = spawn_app_with(pool_options, connect, settings).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id").to_owned();
    app.wait_for_event_subscription().await;
    let mut events = one_unit_events().into_iter();
    let mut next_event = || events.next().expect("one more event");

    publish(&app, &id, next_event()).await;
    publish(&app, &id, next_event()).await;
    let mut stream = SseReader::open(&app, &app.client, &id, None).await;
    let mut seen = Vec::new();
    for name in ["started", "parsing_completed"] {
        let frame = next_within(&mut stream).await.expect("a replayed event");
        assert_eq!(frame.event, name, "{frame:?}");
        seen.push(number_of(&frame));
    }
    let before_restart = *seen.last().expect("a number");

    // Redis goes away for a while (heartbeats come meanwhile) and comes back empty.
    let redis = {
        let port = redis.port;
        drop(redis);
        wait_for_subscription(&app, false).await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        PrivateRedis::start_on(port).await
    };
    wait_for_subscription(&app, true).await;
    publish_when_back(&app, &id, next_event()).await;
    let generating = next_within(&mut stream)
        .await
        .expect("the event after the restart");
    assert_eq!(generating.event, "generating", "{generating:?}");
    seen.push(number_of(&generating));

    // A client that saw only what came before the restart resumes after it.
    let mut resumed =
        SseReader::open(&app, &app.client, &id, Some(&before_restart.to_string())).await;
    let caught_up = next_within(&mut resumed)
        .await
        .expect("the event after the restart");
    assert_eq!(caught_up.event, "generating", "{caught_up:?}");
    assert_eq!(number_of(&caught_up), number_of(&generating));

    // A flush forgets the counter and the log, not the numbering.
    redis.flush_all().await;
    publish(&app, &id, next_event()).await;
    publish(&app, &id, next_event()).await;
    let mut after_flush = Vec::new();
    for reader in [&mut stream, &mut resumed] {
        let mut numbers = Vec::new();
        for name in ["result", "completed"] {
            let frame = next_within(reader).await.expect("an event after the flush");
            assert_eq!(frame.event, name, "{frame:?}");
            numbers.push(number_of(&frame));
        }
        reader.assert_ended().await;
        after_flush.push(numbers);
    }
    assert_eq!(
        after_flush[0], after_flush[1],
        "both clients saw the same events"
    );
    seen.extend(&after_flush[0]);
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "numbers only grow: {seen:?}"
    );
    app.stop().await;
    drop(redis);
}
