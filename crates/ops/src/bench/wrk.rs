//! wrk as the load generator of the plain-request scenarios of `bench gateway`: one thread of C
//! (which costs far less CPU per request than the bench's own blocking clients, so on a small
//! machine it leaves the cores to what is measured), the same for every target.
//!
//! The request is described by a Lua script written for the run ([`script`]); its `done` hook
//! prints one line of JSON (`AIUT-WRK {...}`) with the counts and latency percentiles, which
//! [`parse_report`] reads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// The marker of the line the script's `done` hook prints.
const REPORT_MARKER: &str = "AIUT-WRK ";

/// The request wrk repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrkRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Failed requests by how they failed (wrk's own categories; `status` is any answer outside
/// 2xx and 3xx).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct WrkErrors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub status: u64,
    pub timeout: u64,
}

impl WrkErrors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.status + self.timeout
    }

    pub fn add(&mut self, other: &WrkErrors) {
        self.connect += other.connect;
        self.read += other.read;
        self.write += other.write;
        self.status += other.status;
        self.timeout += other.timeout;
    }
}

/// What one wrk run measured; latencies in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct WrkRun {
    /// Requests answered (failed ones included).
    pub requests: u64,
    pub duration_us: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub errors: WrkErrors,
}

impl WrkRun {
    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(self.duration_us)
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed().as_secs_f64().max(1e-9)
    }
}

/// wrk, or how to install it.
pub fn binary() -> anyhow::Result<PathBuf> {
    super::find_program("wrk").context(
        "wrk is not installed; the bench drives its plain-request scenarios with it: \
         `apt-get install wrk`",
    )
}

/// `text` as a Lua string literal.
fn lua_string(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for character in text.chars() {
        match character {
            '\\' => literal.push_str("\\\\"),
            '"' => literal.push_str("\\\""),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            other => literal.push(other),
        }
    }
    literal.push('"');
    literal
}

/// The Lua script that makes wrk send `request` and report as [`parse_report`] reads.
pub fn script(request: &WrkRequest) -> String {
    let mut lines = vec![
        format!("wrk.method = {}", lua_string(request.method)),
        format!("wrk.path = {}", lua_string(&request.path)),
    ];
    for (name, value) in &request.headers {
        lines.push(format!(
            "wrk.headers[{}] = {}",
            lua_string(name),
            lua_string(value)
        ));
    }
    if let Some(body) = &request.body {
        lines.push(format!("wrk.body = {}", lua_string(body)));
    }
    lines.push(format!(
        r#"done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{REPORT_MARKER}{{"requests":%d,"duration_us":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f,' ..
    '"errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout))
end"#
    ));
    lines.join("\n") + "\n"
}

/// The figures of wrk's output, from the line the script's `done` hook printed.
pub fn parse_report(output: &str) -> anyhow::Result<WrkRun> {
    let line = output
        .lines()
        .find_map(|line| line.trim().strip_prefix(REPORT_MARKER))
        .with_context(|| format!("wrk printed no report line:\n{output}"))?;
    serde_json::from_str(line).with_context(|| format!("cannot read wrk's report {line:?}"))
}

/// Runs wrk with one thread and `connections` keep-alive connections against `base_url` for
/// `duration`, sending what `script_path` describes.
pub fn run(
    wrk: &Path,
    base_url: &str,
    connections: usize,
    duration: Duration,
    script_path: &Path,
) -> anyhow::Result<WrkRun> {
    let output = Command::new(wrk)
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(script_path)
        .arg(base_url)
        .output()
        .with_context(|| format!("cannot run {}", wrk.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "wrk against {base_url} failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    parse_report(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_string("plain"), "\"plain\"");
        assert_eq!(
            lua_string("say \"hi\"\\\n\tend"),
            "\"say \\\"hi\\\"\\\\\\n\\tend\""
        );
    }

    #[test]
    fn the_script_sets_the_request_and_reports() {
        let text = script(&WrkRequest {
            method: "POST",
            path: "/api/tasks".to_owned(),
            headers: vec![("Idempotency-Key".to_owned(), "k-1".to_owned())],
            body: Some("{\"a\":\"x\\ny\"}".to_owned()),
        });
        assert!(text.contains("wrk.method = \"POST\"\n"), "{text}");
        assert!(text.contains("wrk.path = \"/api/tasks\"\n"), "{text}");
        assert!(
            text.contains("wrk.headers[\"Idempotency-Key\"] = \"k-1\"\n"),
            "{text}"
        );
        assert!(text.contains(r#"wrk.body = "{\"a\":\"x\\ny\"}""#), "{text}");
        assert!(text.contains("done = function"), "{text}");
        let plain = script(&WrkRequest {
            method: "GET",
            path: "/api/languages".to_owned(),
            headers: Vec::new(),
            body: None,
        });
        assert!(!plain.contains("wrk.body"), "{plain}");
    }

    #[test]
    fn reads_the_report_line() {
        let output = "Running 1s test @ http://127.0.0.1:1\n  1 threads and 2 connections\n\
            AIUT-WRK {\"requests\":12000,\"duration_us\":2000000,\"p50_us\":510.0,\"p90_us\":900.5,\
            \"p99_us\":2100.0,\"max_us\":9000.0,\"errors\":{\"connect\":0,\"read\":1,\"write\":0,\
            \"status\":3,\"timeout\":0}}\n";
        let run = parse_report(output).expect("a report");
        assert_eq!(run.requests, 12_000);
        assert!((run.requests_per_second() - 6000.0).abs() < 1e-6);
        assert_eq!(run.p99_us, 2100.0);
        assert_eq!(run.errors.total(), 4);
        assert!(parse_report("Running 1s test\n").is_err());
        assert!(parse_report("AIUT-WRK {\"requests\":1}\n").is_err());
    }
}
