//! The scenarios, each written once and run against both front doors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use domain::{EventKind, Progress, TaskId};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::frontdoor::{FrontDoor, Kind, all_instances};
use crate::process::ReplicaProcesses;
use crate::replicas::{Replicas, replica_settings};
use crate::slow::SlowForwarder;
use crate::{backend_of, client};
use system_tests::sse::SseReader;

/// How long the slow backend holds each answer.
const SLOW_DELAY: Duration = Duration::from_millis(300);

/// The longest a freshly started front door may take to reach every replica.
const WARM_UP: Duration = Duration::from_secs(15);

/// A small Python source with one function, different for every `n`.
fn python_source(n: usize) -> String {
    format!("def value_{n}():\n    return {n}\n")
}

/// Requests per replica, in the replicas' order.
fn counts_of(instances: &[String]) -> Vec<usize> {
    all_instances()
        .iter()
        .map(|id| instances.iter().filter(|seen| *seen == id).count())
        .collect()
}

/// a. A replica whose answers take 300 ms holds its requests longer; least connections sends it
/// fewer new ones.
pub async fn a_slow_backend_receives_fewer_new_requests(
    kind: Kind,
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const REQUESTS: usize = 300;
    const CLIENTS: usize = 12;
    let mut replicas = Replicas::start(pool_options, connect, replica_settings()).await;
    let mut upstreams = replicas.addresses();
    let slow = SlowForwarder::start(upstreams[0], SLOW_DELAY).await;
    upstreams[0] = slow.address;
    let front_door = FrontDoor::start(kind, &upstreams, true).await;
    front_door
        .wait_until_serving(&all_instances(), WARM_UP)
        .await;

    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(Mutex::new(Vec::with_capacity(REQUESTS)));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, answered, url) = (
                next.clone(),
                answered.clone(),
                front_door.url("/api/languages"),
            );
            tokio::spawn(async move {
                let client = client();
                while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                    let response = client.get(&url).send().await.expect("request sent");
                    assert_eq!(response.status().as_u16(), 200, "{response:?}");
                    let instance = backend_of(&response).expect("X-Backend-Instance");
                    answered.lock().await.push(instance);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("a client");
    }
    let elapsed = started.elapsed();
    let counts = counts_of(&answered.lock().await);
    let others = (counts[1] + counts[2]) as f64 / 2.0;
    eprintln!(
        "[{kind}] slow backend: {REQUESTS} requests from {CLIENTS} clients in {elapsed:?}: \
         api-1 (slow) {}, api-2 {}, api-3 {} ({:.0} % of the others' average)",
        counts[0],
        counts[1],
        counts[2],
        100.0 * counts[0] as f64 / others
    );
    assert_eq!(counts.iter().sum::<usize>(), REQUESTS);
    assert!(
        (counts[0] as f64) < 0.6 * others,
        "through {kind}, the slow replica got {} of {REQUESTS} requests, the others {} and {}",
        counts[0],
        counts[1],
        counts[2]
    );
    drop(front_door);
    drop(slow);
    replicas.stop_all().await;
}

fn is_post_without_key(n: usize) -> bool {
    n % 6 == 2
}

/// What one request of the mixed load is.
fn mixed_request(
    client: &reqwest::Client,
    front_door: &FrontDoor,
    n: usize,
) -> reqwest::RequestBuilder {
    match n % 6 {
        0 | 3 => client.get(front_door.url("/api/languages")),
        1 | 4 => client.get(front_door.url("/api/queue")),
        _ if is_post_without_key(n) => client
            .post(front_door.url("/api/tasks"))
            .json(&json!({ "source": python_source(n), "filename": "calc.py" })),
        // A careful client's POST: a replay of it is recognised, so a front door may retry it.
        _ => client
            .post(front_door.url("/api/tasks"))
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "source": python_source(n), "filename": "calc.py" })),
    }
}

/// What a load run got back: the replica of each answered request, and each failure with the
/// number of its request.
struct LoadOutcome {
    answered: Vec<String>,
    failures: Vec<(usize, String)>,
    elapsed: Duration,
}

/// Sends requests `0..total`, each made by `request`, from `clients` concurrent clients (each its
/// own session) through the front door. `done` counts finished requests as they come, so the
/// caller can act in the middle of the load. Only 200 and 202 count as answered.
fn spawn_load(
    front_door: Arc<FrontDoor>,
    total: usize,
    clients: usize,
    request: fn(&reqwest::Client, &FrontDoor, usize) -> reqwest::RequestBuilder,
    done: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<LoadOutcome> {
    tokio::spawn(async move {
        let next = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(Mutex::new(Vec::with_capacity(total)));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (next, done, answered, failures, front_door) = (
                    next.clone(),
                    done.clone(),
                    answered.clone(),
                    failures.clone(),
                    front_door.clone(),
                );
                tokio::spawn(async move {
                    let client = client();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= total {
                            break;
                        }
                        match request(&client, &front_door, n).send().await {
                            Ok(response) if matches!(response.status().as_u16(), 200 | 202) => {
                                let instance = backend_of(&response).unwrap_or_default();
                                answered.lock().await.push(instance);
                            }
                            Ok(response) => {
                                let status = response.status();
                                let body = response.text().await.unwrap_or_default();
                                failures
                                    .lock()
                                    .await
                                    .push((n, format!("#{n}: {status} {body}")));
                            }
                            Err(error) => {
                                failures.lock().await.push((n, format!("#{n}: {error:?}")));
                            }
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a client");
        }
        let elapsed = started.elapsed();
        let answered = std::mem::take(&mut *answered.lock().await);
        let failures = std::mem::take(&mut *failures.lock().await);
        LoadOutcome {
            answered,
            failures,
            elapsed,
        }
    })
}

/// b. A replica stopped in the middle of 2 000 mixed requests costs none of them; started again
/// on its port, it is back in rotation within a bounded time.
pub async fn a_replica_killed_under_load_fails_no_request_and_returns(
    kind: Kind,
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const REQUESTS: usize = 2_000;
    const CLIENTS: usize = 16;
    const KILL_AFTER: usize = 600;
    const VICTIM: usize = 1;
    const RETURN_WITHIN: Duration = Duration::from_secs(45);
    let mut replicas = Replicas::start(pool_options, connect, replica_settings()).await;
    let front_door = Arc::new(FrontDoor::start(kind, &replicas.addresses(), true).await);
    front_door
        .wait_until_serving(&all_instances(), WARM_UP)
        .await;

    let done = Arc::new(AtomicUsize::new(0));
    let victim = replicas.take(VICTIM);
    let killer = {
        let done = done.clone();
        tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < KILL_AFTER {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let at = done.load(Ordering::Relaxed);
            victim.stop().await;
            (at, done.load(Ordering::Relaxed))
        })
    };
    let load = spawn_load(front_door.clone(), REQUESTS, CLIENTS, mixed_request, done)
        .await
        .expect("the load");
    let elapsed = load.elapsed;
    let (stop_began, stop_ended) = killer.await.expect("the replica stops");
    let counts = counts_of(&load.answered);
    // nginx never sends a POST without an Idempotency-Key again once it has written it: when the
    // stopping replica drops a connection it had already taken (in its listen backlog), that POST
    // is answered 503. The gateway must lose none.
    let (excused, failures): (Vec<_>, Vec<_>) = load.failures.into_iter().partition(|(n, text)| {
        kind == Kind::Nginx && is_post_without_key(*n) && text.contains(": 503 ")
    });
    eprintln!(
        "[{kind}] killed replica: {REQUESTS} mixed requests from {CLIENTS} clients in {elapsed:?}; \
         api-2 stopped between answers {stop_began} and {stop_ended}; answered by api-1/2/3: \
         {counts:?}; failed: {}; POSTs without a key answered 503: {}",
        failures.len(),
        excused.len()
    );
    for (_, text) in &excused {
        eprintln!("[{kind}] killed replica: {text}");
    }
    let failures: Vec<String> = failures.into_iter().map(|(_, text)| text).collect();
    assert!(
        failures.is_empty(),
        "through {kind}, {} of {REQUESTS} requests failed while a replica stopped:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        excused.len() <= 3,
        "through {kind}, {} POSTs without a key failed: more than a stop's race explains",
        excused.len()
    );

    replicas.restart(VICTIM).await;
    let back_after = front_door
        .wait_until_serving(&[Replicas::instance_id(VICTIM)], RETURN_WITHIN)
        .await;
    eprintln!("[{kind}] killed replica: api-2 back in rotation {back_after:?} after its restart");
    drop(front_door);
    replicas.stop_all().await;
}

/// GETs, and POSTs that carry an `Idempotency-Key`: what a careful client sends.
fn keyed_request(
    client: &reqwest::Client,
    front_door: &FrontDoor,
    n: usize,
) -> reqwest::RequestBuilder {
    match n % 3 {
        0 => client.get(front_door.url("/api/languages")),
        1 => client.get(front_door.url("/api/queue")),
        _ => client
            .post(front_door.url("/api/tasks"))
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "source": python_source(n), "filename": "calc.py" })),
    }
}

/// b'. The same load with a replica PROCESS killed by SIGKILL in the middle: requests it had read
/// die with it, so only what may be sent twice is sent again — GETs, and POSTs carrying an
/// `Idempotency-Key` (which every POST of this load does, as a careful client's would). None of
/// the 2 000 fails; the replica, started again, is back in rotation.
pub async fn a_replica_process_killed_hard_costs_no_keyed_request(
    kind: Kind,
    _pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const REQUESTS: usize = 2_000;
    const CLIENTS: usize = 16;
    const KILL_AFTER: usize = 600;
    const VICTIM: usize = 1;
    const RETURN_WITHIN: Duration = Duration::from_secs(45);
    let mut replicas = ReplicaProcesses::start(&connect, replica_settings()).await;
    let front_door = Arc::new(FrontDoor::start(kind, &replicas.addresses(), true).await);
    front_door
        .wait_until_serving(&all_instances(), WARM_UP)
        .await;

    let done = Arc::new(AtomicUsize::new(0));
    let load = spawn_load(
        front_door.clone(),
        REQUESTS,
        CLIENTS,
        keyed_request,
        done.clone(),
    );
    while done.load(Ordering::Relaxed) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed_at = done.load(Ordering::Relaxed);
    replicas.kill(VICTIM);
    let load = load.await.expect("the load");
    let elapsed = load.elapsed;
    let counts = counts_of(&load.answered);
    let failures: Vec<String> = load.failures.into_iter().map(|(_, text)| text).collect();
    eprintln!(
        "[{kind}] SIGKILLed replica: {REQUESTS} requests from {CLIENTS} clients in {elapsed:?}; \
         api-2 killed after {killed_at} answers; answered by api-1/2/3: {counts:?}; failed: {}",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "through {kind}, {} of {REQUESTS} requests failed after a replica was killed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    replicas.spawn(VICTIM).await;
    let back_after = front_door
        .wait_until_serving(&[Replicas::instance_id(VICTIM)], RETURN_WITHIN)
        .await;
    eprintln!(
        "[{kind}] SIGKILLed replica: api-2 back in rotation {back_after:?} after its restart"
    );
}

/// c. Events published one every 300 ms reach a client through the front door at once, and a
/// 20 s silence (no heartbeat either) does not cut the stream.
pub async fn an_event_stream_passes_unbuffered_and_survives_a_quiet_gap(
    kind: Kind,
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const EVENTS: u32 = 10;
    const EVERY: Duration = Duration::from_millis(300);
    const QUIET: Duration = Duration::from_secs(20);
    // Far under the 5 s a buffering front door would hold an event for, and wide enough for a
    // loaded 2-core machine's scheduling.
    const MAX_DELAY: Duration = Duration::from_secs(1);
    let mut settings = replica_settings();
    // No heartbeat during the quiet gap: the stream carries nothing at all.
    settings.stream.heartbeat_secs = 60;
    let mut replicas = Replicas::start(pool_options, connect, settings).await;
    let front_door = FrontDoor::start(kind, &replicas.addresses(), true).await;
    front_door
        .wait_until_serving(&all_instances(), WARM_UP)
        .await;
    replicas.wait_for_event_subscriptions().await;

    let client = client();
    let created = client
        .post(front_door.url("/api/tasks"))
        .json(&json!({ "source": python_source(1), "filename": "calc.py" }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(created.status().as_u16(), 202, "{created:?}");
    let created: Value = created.json().await.expect("a JSON body");
    let id = created["id"].as_str().expect("an id").to_owned();
    let task: TaskId = id.parse().expect("a task id");

    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client
            .get(front_door.url(&format!("/api/tasks/{id}/events")))
            .header("accept", "text/event-stream")
            // Asked for, and still refused: a compressor would hold events back.
            .header("accept-encoding", "gzip")
            .send(),
    )
    .await
    .expect("the stream opens within 10 s")
    .expect("request sent");
    assert_eq!(response.status().as_u16(), 200, "{response:?}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let encoding = response.headers().get("content-encoding").cloned();
    assert!(
        encoding.is_none(),
        "a compressed event stream: {encoding:?}"
    );
    let mut stream = SseReader::new(response);

    let redis = replicas.get(0).probe.redis();
    let ttl = replicas.settings().stream.event_ttl_secs;
    let publish = |progress: Progress, kind: EventKind| async move {
        let sent = Instant::now();
        store::events::publish(redis, ttl, task, progress, kind)
            .await
            .expect("the event is published");
        sent
    };
    let mut delays = Vec::new();
    let mut tick = tokio::time::interval(EVERY);
    for number in 0..EVENTS {
        tick.tick().await;
        let progress = Progress::new((number * 9) as u8, number, EVENTS).expect("progress");
        let unit = format!("value_{number}");
        let sent = publish(progress, EventKind::Generating { unit: unit.clone() }).await;
        let event = stream
            .next(Duration::from_secs(5))
            .await
            .expect("the stream goes on");
        assert_eq!(event.event, "generating", "{event:?}");
        assert_eq!(event.data["unit"], unit.as_str(), "{event:?}");
        delays.push(event.arrived - sent);
    }

    tokio::time::sleep(QUIET).await;
    let progress = Progress::new(100, EVENTS, EVENTS).expect("progress");
    let completed = EventKind::Completed {
        file_name: "test_calc.py".into(),
        tests: EVENTS,
    };
    let sent = publish(progress, completed).await;
    let last = stream
        .next(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("{kind} cut the stream during a {QUIET:?} quiet gap"));
    assert_eq!(last.event, "completed", "{last:?}");
    let after_gap = last.arrived - sent;
    assert!(
        stream.next(Duration::from_secs(5)).await.is_none(),
        "the stream ends after `completed`"
    );

    let mut sorted = delays.clone();
    sorted.sort();
    eprintln!(
        "[{kind}] event stream: delays publish→client of {EVENTS} events every {EVERY:?}: \
         p50 {:?}, max {:?} (all: {delays:?}); `completed` after a {QUIET:?} quiet gap: {after_gap:?}",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    );
    for delay in delays.iter().chain([&after_gap]) {
        assert!(
            *delay < MAX_DELAY,
            "through {kind}, an event took {delay:?} (the bound is {MAX_DELAY:?}): {delays:?}"
        );
    }
    drop(front_door);
    replicas.stop_all().await;
}

/// The header as whole seconds, which must be at least 1.
fn retry_after(response: &reqwest::Response) -> u64 {
    let value = response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {response:?}"));
    let seconds: u64 = value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("Retry-After is not whole seconds: {value:?}"));
    assert!(seconds >= 1, "Retry-After: {seconds}");
    seconds
}

/// Sends `GET path` on a connection of its own and reads one answer; returns the answer's head
/// (lowercase) and whether the front door closed the connection within 500 ms after it.
async fn answer_then_close(front_door: &FrontDoor, path: &str) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut connection = tokio::net::TcpStream::connect(front_door.address)
        .await
        .expect("connect to the front door");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
        front_door.address
    );
    connection
        .write_all(request.as_bytes())
        .await
        .expect("send a request");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer_length = loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end + 4]).to_lowercase();
            let body_length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .expect("a content-length");
            if received.len() >= end + 4 + body_length {
                break end + 4;
            }
        }
        let read = tokio::time::timeout_at(deadline, connection.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .expect("the answer reads");
        assert!(read > 0, "the connection closed before a whole answer");
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..answer_length]).to_lowercase();
    let closed = match tokio::time::timeout(
        Duration::from_millis(500),
        connection.read(&mut buffer),
    )
    .await
    {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    };
    (head, closed)
}

/// A JSON error body in the api's shape, `{"error": {"code", "message"}}`; returns it.
async fn json_error(kind: Kind, response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("a body");
    assert_eq!(actual, status, "through {kind}: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "through {kind}, a {status} as `{content_type}`: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|error| {
        panic!("through {kind}, a {status} body that is not JSON ({error}): {text}")
    });
    for field in ["code", "message"] {
        assert!(
            body["error"][field]
                .as_str()
                .is_some_and(|value| !value.is_empty()),
            "through {kind}, a {status} without error.{field}: {text}"
        );
    }
    body
}

/// d. Over the rate (on `/api/`, then on uploads): 429 with `Retry-After` and JSON; over the body
/// limit: 413; every replica down: a JSON 503 with `Retry-After`. The client is not allowlisted
/// here.
pub async fn limits_and_outages_answer_json_with_retry_after(
    kind: Kind,
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const BURST: usize = 40;
    const UPLOADS: usize = 12;
    let mut replicas = Replicas::start(pool_options, connect, replica_settings()).await;
    let front_door = FrontDoor::start(kind, &replicas.addresses(), false).await;
    front_door
        .wait_until_serving(&all_instances(), WARM_UP)
        .await;
    let client = client();

    // 3 MB, over the 2 200 KiB limit.
    let source = "x".repeat(3_000_000);
    let too_large = client
        .post(front_door.url("/api/tasks"))
        .header("content-type", "application/json")
        .body(json!({ "source": source, "filename": "big.py" }).to_string())
        .send()
        .await
        .expect("an answer to a body over the limit");
    let body = json_error(kind, too_large, 413).await;
    eprintln!("[{kind}] limits: 3 MB body → 413 {body}");

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut limited = None;
    let burst_started = std::time::Instant::now();
    for _ in 0..BURST {
        let response = client
            .get(front_door.url("/api/languages"))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        if status == 429 && limited.is_none() {
            limited = Some(response);
        }
    }
    eprintln!("[{kind}] limits: {BURST} quick requests to /api/languages → {statuses:?}");
    let limited = limited.unwrap_or_else(|| panic!("through {kind}, no 429 in {statuses:?}"));
    let wait = retry_after(&limited);
    let body = json_error(kind, limited, 429).await;
    eprintln!("[{kind}] limits: 429 with Retry-After {wait} s: {body}");
    let passed = statuses.get(&200).copied().unwrap_or(0);
    // The bucket refills at 10 r/s while the burst is sent: a slow machine lets more through.
    let refilled = (burst_started.elapsed().as_secs_f64() * 10.0).floor() as usize;
    assert!(
        (15..=30 + refilled).contains(&passed),
        "through {kind}, {passed} of {BURST} quick requests passed; the burst is 20: {statuses:?}"
    );
    assert_eq!(
        passed + statuses.get(&429).copied().unwrap_or(0),
        BURST,
        "{statuses:?}"
    );

    // The client waits as told, so what follows is not rate limited by what came before.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;

    // Uploads have their own, lower limit: 2 r/s with a burst of 5.
    let mut upload_statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let uploads_started = std::time::Instant::now();
    for n in 0..UPLOADS {
        let file =
            reqwest::multipart::Part::bytes(python_source(n).into_bytes()).file_name("calc.py");
        let response = client
            .post(front_door.url("/api/tasks"))
            .multipart(reqwest::multipart::Form::new().part("file", file))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        *upload_statuses.entry(status).or_default() += 1;
        if status == 429 {
            retry_after(&response);
            json_error(kind, response, 429).await;
        }
    }
    eprintln!("[{kind}] limits: {UPLOADS} quick uploads → {upload_statuses:?}");
    let accepted = upload_statuses.get(&202).copied().unwrap_or(0);
    // The burst, plus what the 2 r/s rate refilled while the uploads were sent (a loaded machine
    // sends them slower, and both limiters then rightly let more through).
    let refilled = (2.0 * uploads_started.elapsed().as_secs_f64()).floor() as usize;
    assert!(
        (4..=7 + refilled).contains(&accepted),
        "through {kind}, {accepted} of {UPLOADS} quick uploads were accepted; the burst is 5 \
         and {refilled} more were refilled while they were sent: {upload_statuses:?}"
    );
    assert_eq!(
        accepted + upload_statuses.get(&429).copied().unwrap_or(0),
        UPLOADS,
        "{upload_statuses:?}"
    );

    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    replicas.stop_all().await;
    let (head, closed) = answer_then_close(&front_door, "/api/languages").await;
    assert!(
        !closed || head.contains("\r\nconnection: close\r\n"),
        "through {kind}, the answer with every replica down keeps the connection alive by its \
         headers but the connection is closed after it, so a client reusing it gets a reset:\n{head}"
    );
    // What a client following Retry-After on its pooled connection sees.
    for attempt in 0..3 {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            client.get(front_door.url("/api/languages")).send(),
        )
        .await
        .unwrap_or_else(|_| panic!("through {kind}, no answer within 10 s with every replica down"))
        .expect("request sent");
        let wait = retry_after(&response);
        let body = json_error(kind, response, 503).await;
        if attempt == 0 {
            eprintln!("[{kind}] every replica down → 503 with Retry-After {wait} s: {body}");
        }
    }
}

/// Every value of a response header.
fn header_values(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|value| value.to_str().unwrap_or_default().to_owned())
        .collect()
}

/// The front door's own `/health`; one request id on every answer (made when the client sent
/// none); security headers; the answering replica named; text compressed when asked for.
pub async fn headers_health_and_compression(
    kind: Kind,
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut replicas = Replicas::start(pool_options, connect, replica_settings()).await;
    let front_door = FrontDoor::start(kind, &replicas.addresses(), true).await;
    front_door
        .wait_until_serving(&all_instances(), WARM_UP)
        .await;
    let client = client();

    let health = client
        .get(front_door.url("/health"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(health.status().as_u16(), 200);
    assert!(
        backend_of(&health).is_none(),
        "through {kind}, /health is answered by a replica, not the front door"
    );
    assert_eq!(health.text().await.expect("a body").trim(), "healthy");

    let made = client
        .get(front_door.url("/api/languages"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(made.status().as_u16(), 200);
    let ids = header_values(&made, "x-request-id");
    assert!(
        ids.len() == 1 && !ids[0].is_empty(),
        "through {kind}, request ids {ids:?}"
    );
    assert!(backend_of(&made).is_some(), "no X-Backend-Instance");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(
            header_values(&made, name),
            [value],
            "through {kind}, header {name}"
        );
    }

    let kept = client
        .get(front_door.url("/api/languages"))
        .header("x-request-id", "frontdoor-test-42")
        .send()
        .await
        .expect("request sent");
    assert_eq!(
        header_values(&kept, "x-request-id"),
        ["frontdoor-test-42"],
        "through {kind}, the client's request id"
    );

    let document = client
        .get(front_door.url("/api/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request sent");
    assert_eq!(document.status().as_u16(), 200);
    assert_eq!(
        header_values(&document, "content-encoding"),
        ["gzip"],
        "through {kind}, JSON asked for with gzip"
    );
    let compressed = document.bytes().await.expect("a body");
    assert!(
        compressed.starts_with(&[0x1f, 0x8b]),
        "through {kind}, a gzip body"
    );
    eprintln!(
        "[{kind}] headers: request id {:?}; /api/openapi.json gzipped to {} bytes",
        ids[0],
        compressed.len()
    );
    drop(front_door);
    replicas.stop_all().await;
}
