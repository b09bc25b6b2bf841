//! What the users saw, summed up and judged: the figures, the spread over the backends, the
//! thresholds, and how they are shown (a table, JSON, the progress line).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::client::{millis, percentile_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Read,
    Generate,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Generate => "generate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What is counted: `HTTP 429`, `transport (timeout)`, `task failed`, …
    pub kind: String,
    /// One example of it, to show.
    pub example: String,
}

/// One finished request.
pub struct Record {
    pub kind: Kind,
    pub latency: Duration,
    pub result: Result<(), Failure>,
    /// The replica named in the answer's `X-Backend-Instance`.
    pub backend: Option<String>,
}

/// Everything the users saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Latencies of the successful requests, by kind.
    latencies: BTreeMap<Kind, Vec<Duration>>,
    /// Every finished request, by kind.
    requests: BTreeMap<Kind, usize>,
    /// Failure kind → how many and one example.
    failures: BTreeMap<String, (usize, String)>,
    /// Answers per replica.
    backends: BTreeMap<String, usize>,
    /// Answers without the header: from the gateway itself (`/health`, its own errors), or
    /// none at all.
    without_backend: usize,
}

impl Tally {
    pub fn add(&mut self, record: Record) {
        *self.requests.entry(record.kind).or_default() += 1;
        match record.result {
            Ok(()) => self
                .latencies
                .entry(record.kind)
                .or_default()
                .push(record.latency),
            Err(failure) => {
                self.failures
                    .entry(failure.kind)
                    .or_insert((0, failure.example))
                    .0 += 1;
            }
        }
        match record.backend {
            Some(backend) => *self.backends.entry(backend).or_default() += 1,
            None => self.without_backend += 1,
        }
    }

    pub fn absorb(&mut self, other: Tally) {
        for (kind, latencies) in other.latencies {
            self.latencies.entry(kind).or_default().extend(latencies);
        }
        for (kind, count) in other.requests {
            *self.requests.entry(kind).or_default() += count;
        }
        for (kind, (count, example)) in other.failures {
            self.failures.entry(kind).or_insert((0, example)).0 += count;
        }
        for (backend, count) in other.backends {
            *self.backends.entry(backend).or_default() += count;
        }
        self.without_backend += other.without_backend;
    }

    /// A user's thread died: its requests are lost, which must not pass unnoticed.
    pub fn user_panicked(&mut self) {
        self.failures
            .entry("user thread panicked".to_owned())
            .or_insert((0, "its requests are not counted".to_owned()))
            .0 += 1;
    }

    pub fn summary(&self, wall: Duration) -> Summary {
        let all: Vec<Duration> = self.latencies.values().flatten().copied().collect();
        let successes = all.len();
        let failures: usize = self.failures.values().map(|(count, _)| count).sum();
        let requests = successes + failures;
        Summary {
            requests,
            successes,
            failures,
            success_rate: if requests == 0 {
                0.0
            } else {
                100.0 * successes as f64 / requests as f64
            },
            wall,
            qps: requests as f64 / wall.as_secs_f64().max(1e-9),
            latency: Latency::of(all),
            by_kind: self
                .requests
                .iter()
                .map(|(kind, count)| {
                    let latencies = self.latencies.get(kind).cloned().unwrap_or_default();
                    (*kind, *count, Latency::of(latencies))
                })
                .collect(),
            failures_by_kind: self.failures.clone(),
            backends: self.backends.clone(),
            without_backend: self.without_backend,
        }
    }
}

/// Latency figures in milliseconds (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(mut latencies: Vec<Duration>) -> Latency {
        latencies.sort_unstable();
        let total: Duration = latencies.iter().sum();
        Latency {
            count: latencies.len(),
            mean: if latencies.is_empty() {
                0.0
            } else {
                millis(total) / latencies.len() as f64
            },
            p50: percentile_ms(&latencies, 0.50),
            p95: percentile_ms(&latencies, 0.95),
            p99: percentile_ms(&latencies, 0.99),
            max: latencies.last().copied().map_or(0.0, millis),
        }
    }
}

#[derive(Debug)]
pub struct Summary {
    pub requests: usize,
    pub successes: usize,
    pub failures: usize,
    /// In percent; 0 when nothing finished.
    pub success_rate: f64,
    pub wall: Duration,
    /// Finished requests (successful or not) per second of wall time.
    pub qps: f64,
    /// Over the successful requests.
    pub latency: Latency,
    /// Per kind: finished requests and the latency of the successful ones.
    pub by_kind: Vec<(Kind, usize, Latency)>,
    pub failures_by_kind: BTreeMap<String, (usize, String)>,
    pub backends: BTreeMap<String, usize>,
    pub without_backend: usize,
}

/// Whether the answers were spread evenly over the backends.
#[derive(Debug, PartialEq)]
pub struct Balance {
    pub balanced: bool,
    /// The even share: answers with the header over the backends that answered.
    pub even_share: f64,
    /// Why it is not balanced; empty when it is.
    pub problems: Vec<String>,
}

/// Balanced when at least two backends answered (and at least as many as the gateway said were
/// available, when it said), and every backend's count is within ±`tolerance_percent` % of the
/// even share: |count − total/n| ≤ tolerance/100 × total/n.
pub fn balance_verdict(
    counts: &BTreeMap<String, usize>,
    tolerance_percent: f64,
    expected_backends: Option<usize>,
) -> Balance {
    let answered = counts.len();
    let total: usize = counts.values().sum();
    let even_share = if answered == 0 {
        0.0
    } else {
        total as f64 / answered as f64
    };
    let mut problems = Vec::new();
    let required = expected_backends.unwrap_or(0).max(2);
    if answered < required {
        problems.push(match expected_backends {
            Some(expected) if expected >= 2 => {
                format!("{answered} backend(s) answered, but the gateway has {expected} available")
            }
            _ => format!("{answered} backend(s) answered; balancing needs at least 2"),
        });
    }
    if answered > 0 {
        let allowed = tolerance_percent / 100.0 * even_share;
        for (backend, &count) in counts {
            let off = count as f64 - even_share;
            if off.abs() > allowed {
                problems.push(format!(
                    "{backend}: {count} answers, {:+.1} % off the even share of {even_share:.1} (allowed ±{tolerance_percent} %)",
                    100.0 * off / even_share
                ));
            }
        }
    }
    Balance {
        balanced: problems.is_empty(),
        even_share,
        problems,
    }
}

pub struct Thresholds {
    /// Percent.
    pub min_success: f64,
    pub max_mean_ms: f64,
    /// `None`: not checked.
    pub min_qps: Option<f64>,
    /// `Some` with `--test-lb`: the balance verdict is checked.
    pub balance_tolerance: Option<f64>,
}

/// One threshold's result.
#[derive(Debug, PartialEq)]
pub struct Check {
    pub name: &'static str,
    /// `None`: not checked.
    pub passed: Option<bool>,
    pub detail: String,
}

pub fn check(summary: &Summary, thresholds: &Thresholds, balance: &Balance) -> Vec<Check> {
    let mut checks = vec![
        Check {
            name: "success rate",
            passed: Some(summary.requests > 0 && summary.success_rate >= thresholds.min_success),
            detail: if summary.requests == 0 {
                "no request finished".to_owned()
            } else {
                format!(
                    "{:.2} % (at least {} %)",
                    summary.success_rate, thresholds.min_success
                )
            },
        },
        Check {
            name: "mean latency",
            passed: Some(summary.latency.mean <= thresholds.max_mean_ms),
            detail: format!(
                "{:.1} ms (at most {} ms)",
                summary.latency.mean, thresholds.max_mean_ms
            ),
        },
    ];
    checks.push(match thresholds.min_qps {
        Some(min_qps) => Check {
            name: "QPS",
            passed: Some(summary.qps >= min_qps),
            detail: format!("{:.1} (at least {min_qps})", summary.qps),
        },
        None => Check {
            name: "QPS",
            passed: None,
            detail: format!(
                "{:.1} (not checked for tasks, which take seconds; --min-qps checks it)",
                summary.qps
            ),
        },
    });
    checks.push(match thresholds.balance_tolerance {
        Some(tolerance) => Check {
            name: "balance",
            passed: Some(balance.balanced),
            detail: if balance.balanced {
                format!(
                    "{} backends, each within ±{tolerance} % of {:.1}",
                    summary.backends.len(),
                    balance.even_share
                )
            } else {
                balance.problems.join("; ")
            },
        },
        None => Check {
            name: "balance",
            passed: None,
            detail: "not checked (--test-lb checks it)".to_owned(),
        },
    });
    checks
}

/// What the run was, for the report.
pub struct Context<'a> {
    pub url: &'a str,
    pub scenario: &'a str,
    pub users: usize,
    pub requests_per_user: Option<usize>,
    pub duration: Option<Duration>,
    pub model: Option<&'a str>,
    pub test_lb: bool,
    pub expected_backends: Option<usize>,
}

fn share(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * count as f64 / total as f64
    }
}

pub fn to_table(
    context: &Context<'_>,
    summary: &Summary,
    balance: &Balance,
    checks: &[Check],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "loadtest {} — scenario {}, {} users (one session each), {}{}\n",
        context.url,
        context.scenario,
        context.users,
        match (context.requests_per_user, context.duration) {
            (Some(requests), Some(duration)) => format!(
                "{requests} requests each or {:.1} s, whichever first",
                duration.as_secs_f64()
            ),
            (Some(requests), None) => format!("{requests} requests each"),
            (None, Some(duration)) => format!("for {:.1} s", duration.as_secs_f64()),
            (None, None) => String::new(),
        },
        context
            .model
            .map(|model| format!(", model {model}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "requests       {:>10}", summary.requests);
    let _ = writeln!(out, "successes      {:>10}", summary.successes);
    let _ = writeln!(out, "failures       {:>10}", summary.failures);
    for (kind, (count, example)) in &summary.failures_by_kind {
        let _ = writeln!(out, "  {count:>6} × {kind} (e.g. {example})");
    }
    let _ = writeln!(out, "success rate   {:>10.2} %", summary.success_rate);
    let _ = writeln!(out, "wall time      {:>10.2} s", summary.wall.as_secs_f64());
    let _ = writeln!(out, "QPS            {:>10.1}", summary.qps);
    let _ = writeln!(
        out,
        "\n{:<10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency ms", "ok", "mean", "p50", "p95", "p99", "max"
    );
    let mut row = |name: &str, latency: &Latency| {
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            name, latency.count, latency.mean, latency.p50, latency.p95, latency.p99, latency.max
        );
    };
    row("all", &summary.latency);
    if summary.by_kind.len() > 1 {
        for (kind, _, latency) in &summary.by_kind {
            row(kind.name(), latency);
        }
    }

    let with_header: usize = summary.backends.values().sum();
    let _ = writeln!(
        out,
        "\n{:<24} {:>8} {:>8} {:>10}",
        "backend", "answers", "share", "vs even"
    );
    for (backend, &count) in &summary.backends {
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>7.1}% {:>+9.1}%",
            backend,
            count,
            share(count, with_header),
            if balance.even_share > 0.0 {
                100.0 * (count as f64 - balance.even_share) / balance.even_share
            } else {
                0.0
            }
        );
    }
    if summary.backends.is_empty() {
        let _ = writeln!(out, "(no answer named its backend)");
    }
    if summary.without_backend > 0 {
        let _ = writeln!(
            out,
            "{:<24} {:>8}   (answered by the gateway itself, e.g. /health, or not at all)",
            "no X-Backend-Instance", summary.without_backend
        );
    }
    if context.test_lb {
        let available = context
            .expected_backends
            .map(|count| format!("; the gateway had {count} available"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "balance: {}{available}",
            if balance.balanced {
                "balanced"
            } else {
                "NOT balanced"
            }
        );
    }

    let _ = writeln!(out, "\nthresholds");
    for check in checks {
        let mark = match check.passed {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => "-   ",
        };
        let _ = writeln!(out, "  {mark} {:<13} {}", check.name, check.detail);
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|check| check.passed == Some(false))
        .map(|check| check.name)
        .collect();
    let _ = writeln!(
        out,
        "result: {}",
        if failed.is_empty() {
            "PASSED".to_owned()
        } else {
            format!("FAILED ({})", failed.join(", "))
        }
    );
    out
}

pub fn to_json(
    context: &Context<'_>,
    summary: &Summary,
    balance: &Balance,
    checks: &[Check],
    thresholds: &Thresholds,
) -> String {
    let latency = |latency: &Latency| {
        serde_json::json!({
            "count": latency.count,
            "mean_ms": latency.mean,
            "p50_ms": latency.p50,
            "p95_ms": latency.p95,
            "p99_ms": latency.p99,
            "max_ms": latency.max,
        })
    };
    let with_header: usize = summary.backends.values().sum();
    let backends: serde_json::Map<String, serde_json::Value> = summary
        .backends
        .iter()
        .map(|(backend, &count)| {
            (
                backend.clone(),
                serde_json::json!({"count": count, "share_percent": share(count, with_header)}),
            )
        })
        .collect();
    let by_kind: serde_json::Map<String, serde_json::Value> = summary
        .by_kind
        .iter()
        .map(|(kind, requests, figures)| {
            (
                kind.name().to_owned(),
                serde_json::json!({"requests": requests, "latency": latency(figures)}),
            )
        })
        .collect();
    let failures: serde_json::Map<String, serde_json::Value> = summary
        .failures_by_kind
        .iter()
        .map(|(kind, (count, example))| {
            (
                kind.clone(),
                serde_json::json!({"count": count, "example": example}),
            )
        })
        .collect();
    let threshold_results: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|check| {
            (
                check.name.to_owned(),
                serde_json::json!({"passed": check.passed, "detail": check.detail}),
            )
        })
        .collect();
    serde_json::json!({
        "url": context.url,
        "scenario": context.scenario,
        "users": context.users,
        "requests_per_user": context.requests_per_user,
        "duration_secs": context.duration.map(|duration| duration.as_secs_f64()),
        "model": context.model,
        "requests": summary.requests,
        "successes": summary.successes,
        "failures": summary.failures,
        "failures_by_kind": failures,
        "success_rate_percent": summary.success_rate,
        "wall_secs": summary.wall.as_secs_f64(),
        "qps": summary.qps,
        "latency": latency(&summary.latency),
        "by_kind": by_kind,
        "backends": backends,
        "without_backend_header": summary.without_backend,
        "balance": {
            "tested": context.test_lb,
            "balanced": balance.balanced,
            "even_share": balance.even_share,
            "tolerance_percent": thresholds.balance_tolerance,
            "gateway_available_backends": context.expected_backends,
            "problems": balance.problems,
        },
        "thresholds": {
            "min_success_percent": thresholds.min_success,
            "max_mean_ms": thresholds.max_mean_ms,
            "min_qps": thresholds.min_qps,
            "results": threshold_results,
        },
        "passed": checks.iter().all(|check| check.passed != Some(false)),
    })
    .to_string()
}

/// The progress line: a bar (by requests when they are counted, else by time), the requests
/// done and failed, the rate and the time so far.
pub fn progress_line(
    done: usize,
    failed: usize,
    planned: Option<usize>,
    elapsed: Duration,
    duration: Option<Duration>,
) -> String {
    const WIDTH: usize = 30;
    let by_requests = planned.map(|planned| done as f64 / planned.max(1) as f64);
    let by_time = duration.map(|duration| elapsed.as_secs_f64() / duration.as_secs_f64());
    // With both bounds, whichever is further along ends the run first.
    let fraction = match (by_requests, by_time) {
        (Some(requests), Some(time)) => requests.max(time),
        (Some(fraction), None) | (None, Some(fraction)) => fraction,
        (None, None) => 0.0,
    }
    .clamp(0.0, 1.0);
    let filled = ((fraction * WIDTH as f64).round() as usize).min(WIDTH);
    let counted = match planned {
        Some(planned) => format!("{done}/{planned}"),
        None => done.to_string(),
    };
    format!(
        "[{}{}] {:>3.0}%  {counted} requests, {failed} failed, {:.1} req/s, {:.1} s",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        fraction * 100.0,
        done as f64 / elapsed.as_secs_f64().max(1e-9),
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, ms: u64, failure: Option<&str>, backend: Option<&str>) -> Record {
        Record {
            kind,
            latency: Duration::from_millis(ms),
            result: match failure {
                None => Ok(()),
                Some(kind) => Err(Failure {
                    kind: kind.into(),
                    example: "e".into(),
                }),
            },
            backend: backend.map(str::to_owned),
        }
    }

    fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs
            .iter()
            .map(|(name, count)| ((*name).to_owned(), *count))
            .collect()
    }

    #[test]
    fn sums_up_what_the_users_saw() {
        let mut first = Tally::default();
        for ms in 1..=8 {
            first.add(record(Kind::Read, ms, None, Some("api-1")));
        }
        first.add(record(Kind::Read, 5000, Some("HTTP 429"), None));
        let mut second = Tally::default();
        second.add(record(Kind::Generate, 40, None, Some("api-2")));
        second.add(record(Kind::Generate, 2, Some("HTTP 429"), Some("api-2")));
        second.add(record(Kind::Read, 3, Some("transport (timeout)"), None));
        first.absorb(second);
        let summary = first.summary(Duration::from_secs(2));
        assert_eq!(
            (summary.requests, summary.successes, summary.failures),
            (12, 9, 3)
        );
        assert!((summary.success_rate - 75.0).abs() < 1e-9);
        // Failed requests count in QPS, not in latency.
        assert!((summary.qps - 6.0).abs() < 1e-9);
        assert!((summary.latency.mean - 76.0 / 9.0).abs() < 1e-9);
        assert!((summary.latency.max - 40.0).abs() < 1e-9);
        assert!((summary.latency.p50 - 5.0).abs() < 1e-9);
        assert_eq!(summary.failures_by_kind["HTTP 429"].0, 2);
        assert_eq!(summary.failures_by_kind["transport (timeout)"].0, 1);
        assert_eq!(summary.backends, counts(&[("api-1", 8), ("api-2", 2)]));
        assert_eq!(summary.without_backend, 2);
        let kinds: Vec<(Kind, usize, usize)> = summary
            .by_kind
            .iter()
            .map(|(kind, requests, latency)| (*kind, *requests, latency.count))
            .collect();
        assert_eq!(kinds, vec![(Kind::Read, 10, 8), (Kind::Generate, 2, 1)]);
    }

    #[test]
    fn nothing_finished_is_no_success() {
        let mut tally = Tally::default();
        let summary = tally.summary(Duration::ZERO);
        assert_eq!(summary.requests, 0);
        assert!(summary.success_rate.abs() < 1e-9);
        tally.user_panicked();
        assert_eq!(tally.summary(Duration::from_secs(1)).failures, 1);
    }

    #[test]
    fn balance_allows_the_tolerance_and_no_more() {
        // Even share 100; ±15 % allows 85..=115.
        let verdict = |pairs: &[(&str, usize)]| balance_verdict(&counts(pairs), 15.0, None);
        assert!(verdict(&[("a", 100), ("b", 100), ("c", 100)]).balanced);
        assert!(verdict(&[("a", 115), ("b", 100), ("c", 85)]).balanced);
        let unbalanced = verdict(&[("a", 116), ("b", 100), ("c", 84)]);
        assert!(!unbalanced.balanced);
        assert_eq!(unbalanced.problems.len(), 2, "{:?}", unbalanced.problems);
        assert!(unbalanced.problems[0].starts_with("a: 116 answers, +16.0 %"));
        assert!((unbalanced.even_share - 100.0).abs() < 1e-9);
    }

    #[test]
    fn balance_needs_two_backends_and_all_that_the_gateway_has() {
        let one = balance_verdict(&counts(&[("a", 300)]), 15.0, None);
        assert!(!one.balanced);
        assert!(one.problems[0].contains("at least 2"));
        assert!(!balance_verdict(&BTreeMap::new(), 15.0, None).balanced);
        let two = counts(&[("a", 150), ("b", 150)]);
        assert!(balance_verdict(&two, 15.0, None).balanced);
        assert!(balance_verdict(&two, 15.0, Some(2)).balanced);
        // The gateway's one available backend does not lower the bar below two.
        assert!(balance_verdict(&two, 15.0, Some(1)).balanced);
        assert!(!balance_verdict(&counts(&[("a", 300)]), 15.0, Some(1)).balanced);
        let missing = balance_verdict(&two, 15.0, Some(3));
        assert!(!missing.balanced);
        assert!(missing.problems[0].contains("3 available"));
    }

    fn summary(success_rate: f64, mean: f64, qps: f64) -> Summary {
        Summary {
            requests: 100,
            successes: success_rate as usize,
            failures: 100 - success_rate as usize,
            success_rate,
            wall: Duration::from_secs(1),
            qps,
            latency: Latency {
                count: 100,
                mean,
                p50: mean,
                p95: mean,
                p99: mean,
                max: mean,
            },
            by_kind: Vec::new(),
            failures_by_kind: BTreeMap::new(),
            backends: counts(&[("a", 50), ("b", 50)]),
            without_backend: 0,
        }
    }

    fn verdicts(checks: &[Check]) -> Vec<(&'static str, Option<bool>)> {
        checks
            .iter()
            .map(|check| (check.name, check.passed))
            .collect()
    }

    #[test]
    fn thresholds_say_which_failed() {
        let thresholds = Thresholds {
            min_success: 99.0,
            max_mean_ms: 2000.0,
            min_qps: Some(100.0),
            balance_tolerance: Some(15.0),
        };
        let balanced = Balance {
            balanced: true,
            even_share: 50.0,
            problems: Vec::new(),
        };
        assert_eq!(
            verdicts(&check(
                &summary(99.0, 2000.0, 100.0),
                &thresholds,
                &balanced
            )),
            vec![
                ("success rate", Some(true)),
                ("mean latency", Some(true)),
                ("QPS", Some(true)),
                ("balance", Some(true)),
            ]
        );
        let unbalanced = Balance {
            balanced: false,
            even_share: 50.0,
            problems: vec!["a: too many".into()],
        };
        let failed = check(&summary(98.0, 2000.5, 99.9), &thresholds, &unbalanced);
        assert_eq!(
            verdicts(&failed),
            vec![
                ("success rate", Some(false)),
                ("mean latency", Some(false)),
                ("QPS", Some(false)),
                ("balance", Some(false)),
            ]
        );
        assert_eq!(failed[3].detail, "a: too many");
        let unchecked = Thresholds {
            min_qps: None,
            balance_tolerance: None,
            ..thresholds
        };
        assert_eq!(
            verdicts(&check(&summary(100.0, 1.0, 0.1), &unchecked, &unbalanced)),
            vec![
                ("success rate", Some(true)),
                ("mean latency", Some(true)),
                ("QPS", None),
                ("balance", None),
            ]
        );
        let mut empty = summary(100.0, 0.0, 0.0);
        empty.requests = 0;
        assert_eq!(
            check(&empty, &unchecked, &balanced)[0].passed,
            Some(false),
            "no request is not a 100 % success"
        );
    }

    #[test]
    fn the_json_holds_the_figures_and_the_verdict() {
        let context = Context {
            url: "http://gw",
            scenario: "read",
            users: 2,
            requests_per_user: Some(50),
            duration: None,
            model: None,
            test_lb: true,
            expected_backends: Some(2),
        };
        let thresholds = Thresholds {
            min_success: 99.0,
            max_mean_ms: 2000.0,
            min_qps: Some(100.0),
            balance_tolerance: Some(15.0),
        };
        let summary = summary(100.0, 3.0, 50.0);
        let balance = balance_verdict(&summary.backends, 15.0, Some(2));
        let checks = check(&summary, &thresholds, &balance);
        let json: serde_json::Value =
            serde_json::from_str(&to_json(&context, &summary, &balance, &checks, &thresholds))
                .unwrap_or_default();
        assert_eq!(json["requests"], 100);
        assert_eq!(json["backends"]["a"]["count"], 50);
        assert_eq!(json["backends"]["b"]["share_percent"], 50.0);
        assert_eq!(json["balance"]["balanced"], true);
        assert_eq!(json["thresholds"]["results"]["QPS"]["passed"], false);
        assert_eq!(json["passed"], false);
        let table = to_table(&context, &summary, &balance, &checks);
        assert!(table.contains("FAIL QPS"), "{table}");
        assert!(table.contains("result: FAILED (QPS)"), "{table}");
        assert!(table.contains("balance: balanced"), "{table}");
    }

    #[test]
    fn the_progress_bar_follows_requests_or_time() {
        let line = progress_line(50, 1, Some(200), Duration::from_secs(2), None);
        assert!(
            line.starts_with("[########----------------------]  25%"),
            "{line}"
        );
        assert!(
            line.contains("50/200 requests, 1 failed, 25.0 req/s, 2.0 s"),
            "{line}"
        );
        let timed = progress_line(
            10,
            0,
            None,
            Duration::from_secs(15),
            Some(Duration::from_secs(30)),
        );
        assert!(timed.contains(" 50%  10 requests"), "{timed}");
        // With both bounds, the one further along: 10 % of the requests, 50 % of the time.
        let both = progress_line(
            10,
            0,
            Some(100),
            Duration::from_secs(15),
            Some(Duration::from_secs(30)),
        );
        assert!(both.contains(" 50%  10/100 requests"), "{both}");
        let over = progress_line(10, 0, Some(5), Duration::from_secs(1), None);
        assert!(
            over.starts_with(&format!("[{}] 100%", "#".repeat(30))),
            "{over}"
        );
    }
}
