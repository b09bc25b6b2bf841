//! The users of `bench tasks`: each submits a task, follows its event stream to the terminal
//! event and submits the next, all of them on one tokio runtime of a few threads. A thousand users
//! are a thousand small futures, not a thousand threads: the load generator's own CPU per task
//! stays far below the services' it measures, and it is reported beside theirs.
//!
//! The users share one HTTP client and its pool of keep-alive connections; each keeps its own
//! session by sending back the cookie its first answer set. A stream is read to its end after the
//! terminal event (the server ends it right after), so its connection goes back to the pool
//! instead of being closed: a task costs no new connection once the users are under way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{self, HeaderValue};

use super::tcp::TcpCounters;
use super::{CpuSample, Measured, Services, TasksBenchArgs};
use crate::bench::SESSION_COOKIE;
use crate::client::snippet;
use crate::loadtest::user::SseParser;

/// Threads of the load generator's runtime: enough that a user's event is read as it arrives
/// while the services take the machine's cores, few enough that the generator stays small.
const LOAD_THREADS: usize = 2;
/// How long one request may take, from sending it to the end of its answer or stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a submission may be refused with 503 while the workers announce their models.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(60);
/// After the terminal event the server ends the stream at once; a stream that does not end
/// within this is dropped (its connection closed) rather than waited for.
const STREAM_END_GRACE: Duration = Duration::from_secs(2);

/// When the client saw each step of one task, from the bench's clock.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TaskTiming {
    pub submitted: Duration,
    pub accepted: Duration,
    pub stream_open: Duration,
    pub started: Option<Duration>,
    pub generating: Option<Duration>,
    pub result: Option<Duration>,
    pub ended: Duration,
}

/// One user: the shared client and the session cookie its first answer set.
struct User {
    client: reqwest::Client,
    base_url: Arc<str>,
    cookie: Option<HeaderValue>,
}

impl User {
    fn new(client: reqwest::Client, base_url: Arc<str>) -> User {
        User {
            client,
            base_url,
            cookie: None,
        }
    }

    fn request(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => builder.header(header::COOKIE, cookie.clone()),
            None => builder,
        }
    }

    /// Keeps the session cookie an answer set (the first one, and any replacement).
    fn keep_cookie(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default().trim();
            if pair
                .strip_prefix(SESSION_COOKIE)
                .is_some_and(|rest| rest.starts_with('='))
                && let Ok(cookie) = HeaderValue::from_str(pair)
            {
                self.cookie = Some(cookie);
            }
        }
    }

    /// Submits one task and follows its stream to the terminal event. `Err` says what went wrong,
    /// its first word (up to a colon) the kind counted in the failure table.
    async fn one_task(&mut self, body: String, clock: Instant) -> Result<TaskTiming, String> {
        let submitted = clock.elapsed();
        let posted = self
            .request(self.client.post(format!("{}/api/tasks", self.base_url)))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|error| format!("submit: {}", failure_kind(&error)))?;
        self.keep_cookie(&posted);
        let status = posted.status().as_u16();
        let answer = posted
            .text()
            .await
            .map_err(|error| format!("submit: reading the answer: {}", failure_kind(&error)))?;
        let accepted = clock.elapsed();
        if status != 202 {
            return Err(format!("HTTP {status} {}", snippet(&answer)));
        }
        let id = serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|json| json["id"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("no task id in {}", snippet(&answer)))?;
        let mut stream = self
            .request(
                self.client
                    .get(format!("{}/api/tasks/{id}/events", self.base_url)),
            )
            .header(header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|error| format!("events: {}", failure_kind(&error)))?;
        let stream_open = clock.elapsed();
        if !stream.status().is_success() {
            return Err(format!("events: HTTP {}", stream.status().as_u16()));
        }
        let mut timing = TaskTiming {
            submitted,
            accepted,
            stream_open,
            ..TaskTiming::default()
        };
        let mut lines = LineSplitter::default();
        let mut parser = SseParser::default();
        loop {
            let chunk = stream
                .chunk()
                .await
                .map_err(|error| format!("events: reading the stream: {}", failure_kind(&error)))?;
            let Some(chunk) = chunk else {
                return Err("events: the stream ended before the task did".to_owned());
            };
            let now = clock.elapsed();
            let mut ending = None;
            lines.feed(&chunk, |line| {
                let Some(event) = parser.feed(line) else {
                    return;
                };
                match event.name.as_str() {
                    "started" => timing.started = Some(now),
                    "generating" => timing.generating = Some(now),
                    "result" => timing.result = Some(now),
                    "completed" => ending = Some(Ok(())),
                    "error" | "cancelled" => {
                        ending = Some(Err(format!(
                            "task {}: {}",
                            event.name,
                            snippet(&event.data)
                        )));
                    }
                    _ => {}
                }
            });
            if let Some(ending) = ending {
                timing.ended = now;
                // The rest of the stream (its end comes right after) is read, so the connection
                // is kept for the next request.
                let _ = tokio::time::timeout(STREAM_END_GRACE, async {
                    while let Ok(Some(_)) = stream.chunk().await {}
                })
                .await;
                return ending.map(|()| timing);
            }
        }
    }
}

/// Cuts a byte stream into lines (without their `\n`), whatever the chunks' boundaries.
#[derive(Default)]
struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    fn feed(&mut self, chunk: &[u8], mut on_line: impl FnMut(&str)) {
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = self.pending[start..].iter().position(|&byte| byte == b'\n') {
            let line = &self.pending[start..start + offset];
            on_line(&String::from_utf8_lossy(line));
            start += offset + 1;
        }
        self.pending.drain(..start);
    }
}

/// What kind of failure a request met, in a few words for the failure table: the I/O error
/// underneath when there is one (a reset, a refusal, an early end), else reqwest's kind.
fn failure_kind(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
                std::io::ErrorKind::BrokenPipe => "broken pipe".to_owned(),
                std::io::ErrorKind::UnexpectedEof => "connection closed".to_owned(),
                std::io::ErrorKind::TimedOut => "timeout".to_owned(),
                kind => format!("i/o ({kind})"),
            };
        }
        source = current.source();
    }
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        // hyper's "connection closed before message completed" and the like.
        format!("body ({})", innermost(error))
    } else {
        format!("other ({})", innermost(error))
    }
}

/// The last error of a chain, in its own words.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The HTTP client every user shares: no proxy from the environment, keep-alive connections
/// kept as long as the users need them.
fn new_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .context("cannot build the load generator's HTTP client")
}

/// The body of one task: a function no other task of the run has.
pub(super) fn task_body(stamp: u64, user: usize, index: usize) -> String {
    serde_json::json!({
        "source": format!(
            "def task_{stamp}_{user}_{index}(value):\n    \"\"\"Adds {index} to value.\"\"\"\n    return value + {index}\n"
        ),
        "filename": "tasks.py",
        "language": "python",
        "model": "simulator",
        "validate": "syntax",
    })
    .to_string()
}

/// The load generator's runtime.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(LOAD_THREADS)
        .thread_name("bench-users")
        .enable_all()
        .build()
        .context("cannot start the load generator's runtime")
}

/// One task end to end before the measurement: the api refuses the model with 503 until a
/// worker's announcement names it.
pub(super) fn warm_up(base_url: &str, stamp: u64) -> anyhow::Result<()> {
    let client = new_client()?;
    runtime()?.block_on(async {
        let mut user = User::new(client, Arc::from(base_url));
        let started = Instant::now();
        loop {
            let timing = user
                .one_task(task_body(stamp, usize::MAX, 0), Instant::now())
                .await;
            match timing {
                Ok(_) => return Ok(()),
                Err(error)
                    if error.starts_with("HTTP 503") && started.elapsed() < ANNOUNCE_TIMEOUT =>
                {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(error) => anyhow::bail!("the first task did not end well: {error}"),
            }
        }
    })
}

/// What the users share while they run.
struct Shared {
    clock: Instant,
    stamp: u64,
    /// Users past their first task.
    warmed: AtomicUsize,
    ended_well: AtomicUsize,
    stop_submitting: AtomicBool,
    /// Failure kind → how many.
    failures: Mutex<BTreeMap<String, usize>>,
}

/// Runs the users: each submits and follows tasks one after the other until the window closes.
pub(super) fn drive(
    services: &Services,
    options: &TasksBenchArgs,
    stamp: u64,
) -> anyhow::Result<Measured> {
    let client = new_client()?;
    let base_url: Arc<str> = Arc::from(services.api.base_url.as_str());
    let processes = services.processes();
    let users = options.in_flight;
    let shared = Arc::new(Shared {
        clock: Instant::now(),
        stamp,
        warmed: AtomicUsize::new(0),
        ended_well: AtomicUsize::new(0),
        stop_submitting: AtomicBool::new(false),
        failures: Mutex::new(BTreeMap::new()),
    });
    let tcp_before = TcpCounters::take();
    runtime()?.block_on(async {
        let mut running = tokio::task::JoinSet::new();
        for index in 0..users {
            let user = User::new(client.clone(), base_url.clone());
            running.spawn(run_user(user, index, shared.clone()));
        }
        // The window opens when every user is past its first task, and closes `seconds` later.
        while shared.warmed.load(Ordering::Acquire) < users {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let window_start = shared.clock.elapsed();
        let cpu_start = CpuSample::take(&processes);
        tokio::time::sleep(Duration::from_secs(options.seconds as u64)).await;
        let window_end = shared.clock.elapsed();
        let cpu_end = CpuSample::take(&processes);
        shared.stop_submitting.store(true, Ordering::Release);
        let mut timings = Vec::new();
        while let Some(ended) = running.join_next().await {
            match ended {
                Ok(mine) => timings.extend(mine),
                Err(error) => {
                    eprintln!("    a user stopped early: {error}");
                    count_failure(&shared, "user panicked".to_owned());
                }
            }
        }
        let failures = shared
            .failures
            .lock()
            .map(|failures| failures.clone())
            .unwrap_or_default();
        Ok(Measured {
            timings,
            window: (window_start, window_end),
            failures,
            ended_well: shared.ended_well.load(Ordering::Acquire),
            cpu: cpu_end.seconds_since(&cpu_start),
            tcp: TcpCounters::take().since(&tcp_before),
        })
    })
}

/// One user's tasks until submissions stop; its first task is left out of what it returns.
async fn run_user(mut user: User, index: usize, shared: Arc<Shared>) -> Vec<TaskTiming> {
    let mut mine = Vec::new();
    let mut task = 0;
    while !shared.stop_submitting.load(Ordering::Acquire) {
        let body = task_body(shared.stamp, index, task);
        match user.one_task(body, shared.clock).await {
            Ok(timing) => {
                shared.ended_well.fetch_add(1, Ordering::Relaxed);
                if task > 0 {
                    mine.push(timing);
                }
            }
            Err(error) => {
                let kind = error.split(':').next().unwrap_or_default().to_owned();
                count_failure(&shared, kind);
                eprintln!(
                    "    user {index}, task {task}, at {:.1} s: {error}",
                    shared.clock.elapsed().as_secs_f64()
                );
            }
        }
        if task == 0 {
            shared.warmed.fetch_add(1, Ordering::AcqRel);
        }
        task += 1;
    }
    mine
}

fn count_failure(shared: &Shared, kind: String) {
    if let Ok(mut failures) = shared.failures.lock() {
        *failures.entry(kind).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_across_chunks() {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for chunk in [&b"event: sta"[..], b"rted\ndata: {}\n", b"\nid: 4", b"\n"] {
            splitter.feed(chunk, |line| lines.push(line.to_owned()));
        }
        assert_eq!(lines, ["event: started", "data: {}", "", "id: 4"]);
        splitter.feed(b"tail without end", |line| lines.push(line.to_owned()));
        assert_eq!(lines.len(), 4, "a line is given only once it ends");
    }
}
