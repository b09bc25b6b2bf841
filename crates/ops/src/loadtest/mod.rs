//! `cargo xtask loadtest`: many users with a session each, against a running deployment (the
//! gateway by default), with a summary, the spread over the api replicas and pass/fail
//! thresholds.
//!
//! How it works:
//! - each user is one thread with one HTTP client of its own: one keep-alive connection and one
//!   cookie jar, so one `aiut_session` each. All users start together and send their requests
//!   back to back;
//! - a user sends `--requests` requests, or with `--duration` goes on until that time has passed
//!   (the duration replaces the default request count; with both, whichever comes first). A
//!   request in flight at the end is finished, within its own timeout ([`READ_TIMEOUT`], or
//!   [`TASK_TIMEOUT`] for a task), so everything stops by itself;
//! - scenarios: `read` cycles `GET /health` (answered by the gateway itself), `/api/languages`,
//!   `/api/models` and `/api/queue`; `generate` makes every request one task (`POST /api/tasks`
//!   with a source no other request sends, then its event stream to the end; a result answered
//!   from the cache counts as a success); `mixed` is nine reads then one task, per user;
//! - latency is measured over the successful requests, from before sending to the end of the
//!   body, and for a task from the submission to its terminal event; failures are counted apart,
//!   by kind (`HTTP 429`, `transport (timeout)`, `task failed`, …). QPS is every finished request
//!   (successful or not) over the wall time;
//! - each answer's `X-Backend-Instance` names the replica that served it (for a task, the one that
//!   took the submission); `--test-lb` judges that spread (see [`report::balance_verdict`]).

mod report;
// Its server-sent events parser is shared with `chaos`.
pub(crate) mod user;

use std::io::IsTerminal as _;
use std::path::Path;
use std::str::FromStr;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::client::{new_agent, snippet};
use crate::project_root;
use report::{Tally, Thresholds};
use user::{Plan, Scenario};

const DEFAULT_URL: &str = "http://127.0.0.1:80";
/// Where `cargo xtask deploy` records the deployment, relative to the workspace root.
const STATE_FILE: &str = ".aiut/state.json";
const DEFAULT_USERS: usize = 10;
const DEFAULT_REQUESTS: usize = 100;
/// Enough threads for any load one machine can drive; more is a typo.
const MAX_USERS: usize = 5000;
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest one read may take, from the connection to the end of the body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one task may take, from its submission to its terminal event.
const TASK_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest the checks before the load may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the progress line is redrawn on a terminal, and written otherwise.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
const LOG_EVERY: Duration = Duration::from_secs(5);

/// `loadtest`'s options.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct LoadtestArgs {
    /// the gateway to load [default: `gateway_url` of .aiut/state.json, written by deploy, else
    /// http://127.0.0.1:80]
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// users, each with its own session, thread and connection
    #[arg(long, value_name = "N", default_value_t = DEFAULT_USERS, value_parser = users)]
    users: usize,
    /// requests per user [default: 100, none with only --duration]
    #[arg(long, value_name = "M", value_parser = requests)]
    requests: Option<usize>,
    /// run for this long instead (ms, s, m, h: 30s, 2m); with --requests too, whichever ends
    /// first
    #[arg(long, value_name = "30s", value_parser = duration)]
    duration: Option<Duration>,
    /// read cycles /health, /api/languages, /api/models, /api/queue; generate submits one task
    /// per request (a new source each time) and follows its events to the end, latency from
    /// submission to the terminal event; mixed is 9 reads then 1 task per user
    #[arg(long, value_name = "read|generate|mixed", default_value = "read", value_parser = Scenario::from_str)]
    scenario: Scenario,
    /// the tasks' model [default: the service's default_model]
    #[arg(long, value_name = "ID", value_parser = model)]
    model: Option<String>,
    /// also require the answers balanced: at least 2 backends (and all the gateway reports
    /// available), each within ±tolerance % of an even share
    #[arg(long)]
    test_lb: bool,
    /// print one JSON object on stdout instead of the table
    #[arg(long)]
    json: bool,
    /// fail when fewer requests succeed, in %
    #[arg(long, value_name = "99", default_value_t = 99.0, value_parser = percentage)]
    min_success: f64,
    /// fail when the mean latency is higher, in ms
    #[arg(long, value_name = "2000", default_value_t = 2000.0, value_parser = non_negative)]
    max_mean_ms: f64,
    /// fail below this many requests/s [default: 100; not checked for generate unless given]
    #[arg(long, value_name = "100", value_parser = non_negative)]
    min_qps: Option<f64>,
    /// with --test-lb, how far from an even share each backend may be, in %
    #[arg(long, value_name = "15", default_value_t = 15.0, value_parser = percentage)]
    balance_tolerance: f64,
}

fn users(value: &str) -> Result<usize, String> {
    bounded(value, 1..=MAX_USERS)
}

fn requests(value: &str) -> Result<usize, String> {
    bounded(value, 1..=10_000_000)
}

fn percentage(value: &str) -> Result<f64, String> {
    bounded(value, 0.0..=100.0)
}

fn non_negative(value: &str) -> Result<f64, String> {
    bounded(value, 0.0..=f64::MAX)
}

fn duration(value: &str) -> Result<Duration, String> {
    parse_duration(value).map_err(|error| error.to_string())
}

fn model(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("needs a model id".to_owned());
    }
    Ok(value.to_owned())
}

impl LoadtestArgs {
    /// Requests per user: the given count; none with only a duration; else the default.
    fn requests_per_user(&self) -> Option<usize> {
        match (self.requests, self.duration) {
            (Some(requests), _) => Some(requests),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_REQUESTS),
        }
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_success: self.min_success,
            max_mean_ms: self.max_mean_ms,
            min_qps: self.min_qps.or(match self.scenario {
                // Tasks take seconds each: requests per second says nothing about the service.
                Scenario::Generate => None,
                Scenario::Read | Scenario::Mixed => Some(100.0),
            }),
            balance_tolerance: self.test_lb.then_some(self.balance_tolerance),
        }
    }
}

/// `value` as a number within `range`.
fn bounded<T>(value: &str, range: std::ops::RangeInclusive<T>) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    let number: T = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    if !range.contains(&number) {
        return Err(format!(
            "must be between {} and {}, not {value}",
            range.start(),
            range.end()
        ));
    }
    Ok(number)
}

/// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds; decimals allowed (`1.5s`).
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => anyhow::bail!(
            "--duration `{text}`: unknown unit `{other}` (use ms, s, m or h, e.g. 30s or 2m)"
        ),
    };
    let amount: f64 = number
        .parse()
        .ok()
        .filter(|amount: &f64| amount.is_finite())
        .with_context(|| format!("--duration `{text}` is not a duration (e.g. 30s, 2m, 500ms)"))?;
    let seconds = amount * seconds_per_unit;
    anyhow::ensure!(
        seconds > 0.0 && seconds <= MAX_DURATION.as_secs_f64(),
        "--duration must be more than 0 and at most 24h, not `{text}`"
    );
    Ok(Duration::from_secs_f64(seconds))
}

/// The gateway's URL from the deployment's state file (`None` when there is none), else the
/// gateway's usual address.
fn default_url(state_file: Option<&str>) -> anyhow::Result<String> {
    let Some(text) = state_file else {
        return Ok(DEFAULT_URL.to_owned());
    };
    let state: serde_json::Value = serde_json::from_str(text)
        .with_context(|| format!("{STATE_FILE} is not JSON; pass --url"))?;
    state
        .get("gateway_url")
        .and_then(serde_json::Value::as_str)
        .filter(|url| !url.trim().is_empty())
        .map(str::to_owned)
        .with_context(|| format!("{STATE_FILE} has no `gateway_url`; pass --url"))
}

/// The base URL without a trailing slash; `http://` only (the client speaks no TLS).
fn base_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    anyhow::ensure!(
        url.starts_with("http://") && url.len() > "http://".len(),
        "--url `{url}`: give an http:// URL (this load generator does not speak TLS; use the gateway's plain listener)"
    );
    Ok(url.to_owned())
}

pub fn run(options: &LoadtestArgs) -> anyhow::Result<bool> {
    let url = match &options.url {
        Some(url) => url.clone(),
        None => {
            let path = project_root().join(STATE_FILE);
            let text = read_if_present(&path)?;
            default_url(text.as_deref())?
        }
    };
    let url = base_url(&url)?;
    let model = preflight_model(&url, options)?;
    let expected_backends = if options.test_lb {
        available_backends(&url)
    } else {
        None
    };
    let plan = Plan {
        base_url: url.clone(),
        scenario: options.scenario,
        model: model.clone(),
        requests: options.requests_per_user(),
        deadline: None,
        run_stamp: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
        read_timeout: READ_TIMEOUT,
        task_timeout: TASK_TIMEOUT,
    };
    eprintln!(
        "==> {} users × {} against {url}, scenario {}{}",
        options.users,
        match (plan.requests, options.duration) {
            (Some(requests), Some(duration)) => {
                format!("{requests} requests or {duration:?}, whichever first")
            }
            (Some(requests), None) => format!("{requests} requests"),
            (None, Some(duration)) => format!("{duration:?}"),
            (None, None) => "nothing".to_owned(),
        },
        options.scenario.name(),
        model
            .as_deref()
            .map(|model| format!(", model {model}"))
            .unwrap_or_default()
    );
    let (tally, wall) = drive(&plan, options.users, options.duration);

    let summary = tally.summary(wall);
    let thresholds = options.thresholds();
    let balance = report::balance_verdict(
        &summary.backends,
        options.balance_tolerance,
        expected_backends,
    );
    let checks = report::check(&summary, &thresholds, &balance);
    let context = report::Context {
        url: &url,
        scenario: options.scenario.name(),
        users: options.users,
        requests_per_user: plan.requests,
        duration: options.duration,
        model: model.as_deref(),
        test_lb: options.test_lb,
        expected_backends,
    };
    if options.json {
        println!(
            "{}",
            report::to_json(&context, &summary, &balance, &checks, &thresholds)
        );
    } else {
        print!(
            "{}",
            report::to_table(&context, &summary, &balance, &checks)
        );
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|check| check.passed == Some(false))
        .map(|check| check.name)
        .collect();
    if failed.is_empty() {
        Ok(true)
    } else {
        eprintln!("loadtest failed: {}", failed.join(", "));
        Ok(false)
    }
}

fn read_if_present(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Checks that something answers at `url`, and returns the model the tasks will ask for: the
/// given one, else the service's default (`default_model` of `/api/models`). `None` for the
/// read scenario without `--model`.
fn preflight_model(url: &str, options: &LoadtestArgs) -> anyhow::Result<Option<String>> {
    let agent = new_agent(PREFLIGHT_TIMEOUT);
    let models_url = format!("{url}/api/models");
    let mut response = agent.get(&models_url).call().map_err(|error| {
        anyhow::anyhow!(
            "nothing answers at {url} ({error}); deploy with `cargo xtask deploy` or pass --url"
        )
    })?;
    let status = response.status();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    if options.model.is_some() || options.scenario == Scenario::Read {
        return Ok(options.model.clone());
    }
    anyhow::ensure!(
        status.is_success(),
        "GET {models_url} answered {status} ({}); pass --model",
        snippet(&body)
    );
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|models| models.get("default_model")?.as_str().map(str::to_owned))
        .map(Some)
        .with_context(|| {
            format!(
                "GET {models_url} names no default_model ({}); pass --model",
                snippet(&body)
            )
        })
}

/// The backends the gateway can send to now (`available` of `/gateway/status`); `None` when the
/// URL is not a gateway or it does not say.
fn available_backends(url: &str) -> Option<usize> {
    let agent = new_agent(PREFLIGHT_TIMEOUT);
    let mut response = agent.get(&format!("{url}/gateway/status")).call().ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = response.body_mut().read_to_string().ok()?;
    let status: serde_json::Value = serde_json::from_str(&body).ok()?;
    usize::try_from(status.get("available")?.as_u64()?).ok()
}

/// Runs the users, each on its own thread, all started at once, and shows the progress on
/// stderr. Returns what they saw and the wall time, from the start to the last user's end.
fn drive(plan: &Plan, users: usize, duration: Option<Duration>) -> (Tally, Duration) {
    let start_line = Barrier::new(users + 1);
    let counters = user::Counters {
        done: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    };
    let planned = plan.requests.map(|requests| requests.saturating_mul(users));
    let terminal = std::io::stderr().is_terminal();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..users)
            .map(|index| {
                let (start_line, counters) = (&start_line, &counters);
                scope.spawn(move || {
                    start_line.wait();
                    let started = Instant::now();
                    let mut plan = plan.clone();
                    plan.deadline = duration.map(|duration| started + duration);
                    let tally = user::run(&plan, index, counters);
                    (tally, Instant::now())
                })
            })
            .collect();
        start_line.wait();
        let started = Instant::now();
        let mut last_logged = started;
        let line = || {
            report::progress_line(
                counters.done.load(Ordering::Relaxed),
                counters.failed.load(Ordering::Relaxed),
                planned,
                started.elapsed(),
                duration,
            )
        };
        // Spaces over what a longer line before left on the terminal.
        let mut drawn = 0_usize;
        let mut redraw = |line: String| {
            let count = line.chars().count();
            eprint!("\r{line}{}", " ".repeat(drawn.saturating_sub(count)));
            drawn = count;
        };
        while !threads
            .iter()
            .all(std::thread::ScopedJoinHandle::is_finished)
        {
            std::thread::sleep(REDRAW_EVERY);
            if terminal {
                redraw(line());
            } else if last_logged.elapsed() >= LOG_EVERY {
                last_logged = Instant::now();
                eprintln!("{}", line());
            }
        }
        if terminal {
            redraw(line());
            eprintln!();
        }
        let mut tally = Tally::default();
        let mut ended = started;
        for thread in threads {
            match thread.join() {
                Ok((user_tally, user_ended)) => {
                    tally.absorb(user_tally);
                    ended = ended.max(user_ended);
                }
                Err(_) => tally.user_panicked(),
            }
        }
        (tally, ended.saturating_duration_since(started))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LoadtestArgs, clap::Error> {
        crate::cli::parse_args::<LoadtestArgs>(&text.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn parses_every_option() {
        let options = parse(
            "--url http://h:8099 --users 50 --requests=20 --test-lb --scenario mixed \
             --duration 2m --model sim-fast --json --min-success 95.5 --max-mean-ms 300 \
             --min-qps 0 --balance-tolerance=10",
        )
        .expect("valid options");
        assert_eq!(
            options,
            LoadtestArgs {
                url: Some("http://h:8099".into()),
                users: 50,
                requests: Some(20),
                duration: Some(Duration::from_secs(120)),
                scenario: Scenario::Mixed,
                model: Some("sim-fast".into()),
                test_lb: true,
                json: true,
                min_success: 95.5,
                max_mean_ms: 300.0,
                min_qps: Some(0.0),
                balance_tolerance: 10.0,
            }
        );
        assert_eq!(
            parse("").ok(),
            Some(LoadtestArgs {
                url: None,
                users: DEFAULT_USERS,
                requests: None,
                duration: None,
                scenario: Scenario::Read,
                model: None,
                test_lb: false,
                json: false,
                min_success: 99.0,
                max_mean_ms: 2000.0,
                min_qps: None,
                balance_tolerance: 15.0,
            })
        );
    }

    #[test]
    fn refuses_bad_options() {
        for bad in [
            "--users 0",
            "--users x",
            "--users 100000",
            "--requests 0",
            "--requests",
            "--scenario write",
            "--min-success 101",
            "--min-success -1",
            "--max-mean-ms -5",
            "--balance-tolerance 0x",
            "--duration 0s",
            "--duration 3days",
            "--test-lb=yes",
            "--model=",
            "--frobnicate",
            "users 3",
        ] {
            assert!(parse(bad).is_err(), "`{bad}` was accepted");
        }
    }

    #[test]
    fn duration_replaces_the_default_count_but_not_a_given_one() {
        let requests = |text: &str| parse(text).map(|options| options.requests_per_user()).ok();
        assert_eq!(requests(""), Some(Some(DEFAULT_REQUESTS)));
        assert_eq!(requests("--requests 7"), Some(Some(7)));
        assert_eq!(requests("--duration 30s"), Some(None));
        assert_eq!(requests("--duration 30s --requests 7"), Some(Some(7)));
    }

    #[test]
    fn durations_have_units() {
        let duration = |text: &str| parse_duration(text).ok();
        assert_eq!(duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(duration(" 10s "), Some(Duration::from_secs(10)));
        for bad in [
            "", "s", "0", "0ms", "-3s", "3 days", "1.2.3s", "25h", "1e3s", "NaNs",
        ] {
            assert_eq!(duration(bad), None, "`{bad}` was accepted");
        }
    }

    #[test]
    fn the_qps_threshold_is_off_by_default_for_tasks_only() {
        let min_qps = |text: &str| parse(text).map(|options| options.thresholds().min_qps).ok();
        assert_eq!(min_qps(""), Some(Some(100.0)));
        assert_eq!(min_qps("--scenario mixed"), Some(Some(100.0)));
        assert_eq!(min_qps("--scenario generate"), Some(None));
        assert_eq!(min_qps("--scenario generate --min-qps 2"), Some(Some(2.0)));
        let balance = |text: &str| {
            parse(text)
                .map(|options| options.thresholds().balance_tolerance)
                .ok()
        };
        assert_eq!(balance(""), Some(None));
        assert_eq!(balance("--test-lb"), Some(Some(15.0)));
    }

    #[test]
    fn the_url_comes_from_the_state_file_when_there_is_one() {
        assert_eq!(default_url(None).ok().as_deref(), Some(DEFAULT_URL));
        assert_eq!(
            default_url(Some(
                r#"{"gateway_url": "http://127.0.0.1:8080", "pids": {}}"#
            ))
            .ok()
            .as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert!(default_url(Some("{}")).is_err());
        assert!(default_url(Some(r#"{"gateway_url": 80}"#)).is_err());
        assert!(default_url(Some("not json")).is_err());
    }

    #[test]
    fn urls_are_plain_http_without_a_trailing_slash() {
        assert_eq!(
            base_url("http://127.0.0.1:8099/").ok().as_deref(),
            Some("http://127.0.0.1:8099")
        );
        assert_eq!(base_url(" http://gw ").ok().as_deref(), Some("http://gw"));
        assert!(base_url("https://gw").is_err());
        assert!(base_url("gw:80").is_err());
        assert!(base_url("http://").is_err());
    }
}
