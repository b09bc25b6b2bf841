//! `cargo xtask health`: every service's own probe, Postgres and Redis as the api sees them, and
//! one real task through the gateway, from submission to the downloaded test file. Exits non-zero
//! on any failure.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stack::{Kind, probe, process, state};

/// How long the end-to-end task may take (the offline model answers in well under a second; a
/// hosted model may take a while).
const TASK_TIMEOUT: Duration = Duration::from_secs(120);

/// `health`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HealthArgs {
    /// a running stack's gateway [default: the deployment's]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

pub fn run(args: &HealthArgs) -> anyhow::Result<bool> {
    let url = &args.url;
    let deployment = state::load(&state::state_dir())?;
    let gateway_url = match (url, &deployment) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(deployment)) => deployment.gateway_url.clone(),
        (None, None) => anyhow::bail!(
            "nothing is deployed here; deploy with `cargo xtask deploy`, or name a running \
             stack with --url"
        ),
    };
    Ok(check(&gateway_url, deployment.as_ref()))
}

/// The gateway and one task through it only: a stack this machine's state does not describe
/// (`health --compose`), whatever native deployment may also run here.
pub fn run_through_gateway(gateway_url: &str) -> bool {
    check(gateway_url.trim_end_matches('/'), None)
}

/// The native deployment's services when there is one, then the gateway and a task through it.
fn check(gateway_url: &str, deployment: Option<&state::Deployment>) -> bool {
    let gateway_url = gateway_url.to_owned();
    let mut failures = 0;
    let mut report = |what: &str, outcome: Result<String, String>| match outcome {
        Ok(detail) => println!("ok    {what:<22} {detail}"),
        Err(detail) => {
            failures += 1;
            println!("FAIL  {what:<22} {detail}");
        }
    };

    if let Some(deployment) = deployment {
        for service in &deployment.services {
            let outcome = match service.pid {
                Some(pid) if process::is_alive(pid) => {
                    probe::check(&service.health, Duration::from_secs(3))
                        .map(|()| format!("pid {pid}"))
                }
                Some(pid) => Err(format!("pid {pid} is not running")),
                None => Err("not started".into()),
            };
            report(&service.name, outcome);
        }
        if let Some(api) = deployment.services.iter().find(|s| s.kind == Kind::Api)
            && let crate::stack::Health::Http { url } = &api.health
        {
            let (postgres, redis) = dependencies(url);
            report("postgres (via api)", postgres);
            report("redis (via api)", redis);
        }
    }
    report(
        "gateway /health",
        probe::http_ok(&format!("{gateway_url}/health"), Duration::from_secs(3))
            .map(|_| gateway_url.clone()),
    );
    report("task through gateway", one_task(&gateway_url));
    if failures > 0 {
        println!("\n{failures} check(s) failed");
    }
    failures == 0
}

/// Postgres and Redis as one api replica's `/readyz` reports them.
fn dependencies(readyz: &str) -> (Result<String, String>, Result<String, String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let body = agent
        .get(readyz)
        .call()
        .map_err(|error| error.to_string())
        .and_then(|mut response| read_json(&mut response));
    let check = |name: &str| match &body {
        Err(error) => Err(format!("the api did not answer: {error}")),
        Ok(body) => {
            let check = &body["checks"][name];
            if check["ok"].as_bool() == Some(true) {
                Ok(check["latency_ms"]
                    .as_f64()
                    .map_or_else(|| "reachable".to_owned(), |ms| format!("{ms:.1} ms")))
            } else {
                Err(check.to_string())
            }
        }
    };
    (check("postgres"), check("redis"))
}

/// Submits a small Python file through the gateway and follows it to its test file.
fn one_task(gateway_url: &str) -> Result<String, String> {
    // A fresh source each time, so the result cache does not answer and a worker really runs.
    let source = format!(
        "# health check {}\ndef add(a, b):\n    return a + b\n",
        state::now()
    );
    run_task(gateway_url, &source, "health_check.py")
}

/// Submits `source` through the gateway, follows the task until it succeeds and downloads its
/// test file; the source must define `add`. Returns a line describing the result.
pub fn run_task(gateway_url: &str, source: &str, filename: &str) -> Result<String, String> {
    let started = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(15)))
        .http_status_as_error(false)
        .build()
        .into();
    let body = serde_json::json!({"source": source, "filename": filename});
    let mut response = agent
        .post(&format!("{gateway_url}/api/tasks"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .map_err(|error| format!("submit: {error}"))?;
    let status = response.status().as_u16();
    let created: Value = read_json(&mut response)
        .map_err(|error| format!("submit: HTTP {status}, unreadable answer: {error}"))?;
    if status != 202 && status != 200 {
        return Err(format!("submit: HTTP {status} {created}"));
    }
    let id = created["id"]
        .as_str()
        .ok_or("submit: no task id")?
        .to_owned();
    let task = loop {
        let mut response = agent
            .get(&format!("{gateway_url}/api/tasks/{id}"))
            .call()
            .map_err(|error| format!("poll: {error}"))?;
        let task: Value = read_json(&mut response).map_err(|error| format!("poll: {error}"))?;
        match task["status"].as_str() {
            Some("succeeded") => break task,
            Some("failed" | "cancelled") => {
                return Err(format!(
                    "task {id} ended {}: {}",
                    task["status"], task["error"]
                ));
            }
            _ if started.elapsed() > TASK_TIMEOUT => {
                return Err(format!(
                    "task {id} still {} after {} s (are the workers running?)",
                    task["status"],
                    TASK_TIMEOUT.as_secs()
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let mut download = agent
        .get(&format!("{gateway_url}/api/tasks/{id}/download"))
        .call()
        .map_err(|error| format!("download: {error}"))?;
    let download_status = download.status().as_u16();
    let file = download
        .body_mut()
        .read_to_string()
        .map_err(|error| format!("download: {error}"))?;
    if download_status != 200 || !file.contains("add") {
        return Err(format!(
            "download: HTTP {download_status}, {} bytes",
            file.len()
        ));
    }
    Ok(format!(
        "{} by {} in {:.1} s, {} bytes",
        task["test_file_name"].as_str().unwrap_or("test file"),
        task["model_used"]
            .as_str()
            .or(task["model"].as_str())
            .unwrap_or("?"),
        started.elapsed().as_secs_f64(),
        file.len()
    ))
}

fn read_json(response: &mut ureq::http::Response<ureq::Body>) -> Result<Value, String> {
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|error| error.to_string())?;
    serde_json::from_str(&text).map_err(|error| error.to_string())
}
