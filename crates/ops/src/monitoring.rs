//! `cargo xtask monitoring`: proves the monitoring of a running deployment against its real
//! Prometheus. It drives traffic and tasks through the gateway, waits for the scrapes, then checks
//! that every target is up, that every alert rule is loaded and evaluates cleanly, that every
//! PromQL expression of the Grafana dashboards and of `prometheus/alerts.yml` parses and runs, that
//! every dashboard query returns data, and that every `aiut_` metric scraped is documented in
//! `prometheus/METRICS.md`. Exits non-zero on any failure, naming it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use crate::stack::state;

/// The jobs a native deployment with Prometheus and the Debian exporters scrapes.
const EXPECTED_JOBS: [&str; 7] = [
    "gateway",
    "api",
    "worker",
    "node",
    "postgres",
    "redis",
    "prometheus",
];

/// What Grafana would put in place of its variables; the dashboards use no others.
const GRAFANA_VARIABLES: [(&str, &str); 3] = [
    ("$__rate_interval", "1m"),
    ("$__range", "1h"),
    ("$__interval", "15s"),
];

/// One PromQL expression and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub origin: String,
    pub expr: String,
}

/// `monitoring`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct MonitoringArgs {
    /// the Prometheus to check [default: the deployment's]
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// the gateway the traffic goes through [default: the deployment's, else
    /// http://127.0.0.1:80]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// check without driving traffic first
    #[arg(long = "no-traffic", action = clap::ArgAction::SetFalse)]
    pub traffic: bool,
}

pub fn run(args: &MonitoringArgs) -> anyhow::Result<bool> {
    let MonitoringArgs {
        prometheus,
        url: gateway,
        traffic,
    } = args.clone();
    let deployment = state::load(&state::state_dir())?;
    let prometheus = prometheus
        .or_else(|| deployment.as_ref().and_then(|d| d.prometheus_url.clone()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no Prometheus: deploy with Prometheus installed (apt-get install prometheus \
                 prometheus-node-exporter prometheus-postgres-exporter \
                 prometheus-redis-exporter), or name one with --prometheus"
            )
        })?;
    let prometheus = prometheus.trim_end_matches('/').to_owned();
    let gateway = gateway
        .or_else(|| deployment.as_ref().map(|d| d.gateway_url.clone()))
        .unwrap_or_else(|| "http://127.0.0.1:80".into());
    let gateway = gateway.trim_end_matches('/').to_owned();
    let root = crate::project_root();
    let client = Prometheus::new(&prometheus);

    let mut failures = Vec::new();
    println!("==> scrape targets at {prometheus}");
    if let Err(problem) = wait_for_targets(&client, Duration::from_secs(60)) {
        failures.push(problem);
    }

    if traffic {
        println!("==> traffic through {gateway}");
        drive_traffic(&gateway)?;
        // Two scrapes and a rule evaluation after the last request (native: every 5 s).
        let settle = Duration::from_secs(15);
        println!("    waiting {} s for the scrapes", settle.as_secs());
        std::thread::sleep(settle);
    }

    println!("==> alert rules");
    let alerts_file = root.join("prometheus").join("alerts.yml");
    let alerts_text = std::fs::read_to_string(&alerts_file)
        .with_context(|| format!("cannot read {}", alerts_file.display()))?;
    let rule_queries = match loaded_rules(&client, &alerts_text) {
        Ok(queries) => queries,
        Err(problem) => {
            failures.push(problem);
            Vec::new()
        }
    };
    for query in &rule_queries {
        if let Err(problem) = client.query(&query.expr) {
            failures.push(format!("{}: {problem}", query.origin));
        }
    }
    println!("    {} rules evaluated", rule_queries.len());

    println!("==> dashboard queries");
    let dashboards = dashboard_queries(&root.join("grafana").join("dashboards"))?;
    let mut empty = 0;
    for query in &dashboards {
        let expr = match substitute_variables(&query.expr) {
            Ok(expr) => expr,
            Err(problem) => {
                failures.push(format!("{}: {problem}", query.origin));
                continue;
            }
        };
        match client.query(&expr) {
            Ok(0) => {
                empty += 1;
                failures.push(format!("{}: no data for {expr}", query.origin));
            }
            Ok(series) => println!("    ok  {:>3} series  {}", series, query.origin),
            Err(problem) => failures.push(format!("{}: {problem}", query.origin)),
        }
    }
    println!(
        "    {} queries, {} with data, {} empty",
        dashboards.len(),
        dashboards.len() - empty,
        empty
    );

    println!("==> metric documentation");
    let documented = std::fs::read_to_string(root.join("prometheus").join("METRICS.md"))
        .context("cannot read prometheus/METRICS.md")?;
    let scraped = client.metric_names()?;
    let undocumented = undocumented_metrics(&scraped, &documented);
    for name in &undocumented {
        failures.push(format!(
            "{name} is scraped but not in prometheus/METRICS.md"
        ));
    }
    println!(
        "    {} aiut_ metrics scraped, {} undocumented",
        scraped.iter().filter(|n| n.starts_with("aiut_")).count(),
        undocumented.len()
    );

    if failures.is_empty() {
        println!("monitoring: every target up, every rule and dashboard query checked");
        return Ok(true);
    }
    println!("\n{} problem(s):", failures.len());
    for failure in &failures {
        println!("  FAIL {failure}");
    }
    Ok(false)
}

/// A mixed load (reads, tasks followed over their event streams), a cache hit and a task
/// followed to its download: every kind of series the dashboards show gets samples.
fn drive_traffic(gateway: &str) -> anyhow::Result<()> {
    let args: crate::loadtest::LoadtestArgs = crate::cli::parse_args(&[
        "--url",
        gateway,
        "--scenario",
        "mixed",
        "--users",
        "8",
        "--requests",
        "30",
        "--min-qps",
        "0",
        "--max-mean-ms",
        "60000",
    ])?;
    if !crate::loadtest::run(&args)? {
        anyhow::bail!("the load test through {gateway} failed");
    }
    let source = format!(
        "# monitoring check {}\ndef add(a, b):\n    return a + b\n",
        state::now()
    );
    for attempt in ["first run", "cache hit"] {
        let outcome = crate::health::run_task(gateway, &source, "monitoring_check.py")
            .map_err(|problem| anyhow::anyhow!("task ({attempt}): {problem}"))?;
        println!("    task ({attempt}): {outcome}");
    }
    Ok(())
}

fn wait_for_targets(client: &Prometheus, timeout: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let problems = match client.targets() {
            Ok(targets) => target_problems(&targets),
            Err(problem) => vec![problem],
        };
        if problems.is_empty() {
            println!("    every target up ({})", EXPECTED_JOBS.join(", "));
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(problems.join("; "));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// A scrape target as `/api/v1/targets` lists it.
#[derive(Debug, Clone)]
pub struct Target {
    pub job: String,
    pub url: String,
    pub health: String,
    pub last_error: String,
}

/// Every expected job has targets, and every target is up.
pub fn target_problems(targets: &[Target]) -> Vec<String> {
    let mut problems = Vec::new();
    for job in EXPECTED_JOBS {
        if !targets.iter().any(|target| target.job == job) {
            problems.push(format!("no target for job {job}"));
        }
    }
    for target in targets.iter().filter(|target| target.health != "up") {
        problems.push(format!(
            "{} target {} is {} ({})",
            target.job, target.url, target.health, target.last_error
        ));
    }
    problems
}

/// The rules Prometheus loaded, checked against `alerts.yml`: every alert of the file is loaded
/// and its last evaluation went well. Returns each rule's expression, to run it again.
fn loaded_rules(client: &Prometheus, alerts_yml: &str) -> Result<Vec<Query>, String> {
    let body = client.get("/api/v1/rules", &[])?;
    let mut queries = Vec::new();
    let mut loaded = BTreeSet::new();
    let mut problems = Vec::new();
    for group in body["data"]["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["name"].as_str().unwrap_or("?").to_owned();
            let health = rule["health"].as_str().unwrap_or("?");
            if health == "err" {
                problems.push(format!("rule {name}: {}", rule["lastError"]));
            }
            if let Some(expr) = rule["query"].as_str() {
                queries.push(Query {
                    origin: format!("alerts.yml {name}"),
                    expr: expr.to_owned(),
                });
            }
            loaded.insert(name);
        }
    }
    for alert in alert_names(alerts_yml) {
        if !loaded.contains(&alert) {
            problems.push(format!(
                "alert {alert} of prometheus/alerts.yml is not loaded"
            ));
        }
    }
    if problems.is_empty() {
        Ok(queries)
    } else {
        Err(problems.join("; "))
    }
}

/// The names of the alerting rules of an alerts file (`- alert: Name` lines).
pub fn alert_names(alerts_yml: &str) -> Vec<String> {
    alerts_yml
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().trim_matches('"').to_owned())
        .collect()
}

/// Every PromQL expression of every dashboard in `folder`, rows' nested panels included.
pub fn dashboard_queries(folder: &Path) -> anyhow::Result<Vec<Query>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot list {}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut queries = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let dashboard: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        let name = file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        collect_panel_queries(&name, &dashboard, &mut queries);
    }
    Ok(queries)
}

fn collect_panel_queries(dashboard: &str, node: &Value, queries: &mut Vec<Query>) {
    for panel in node["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("untitled");
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                queries.push(Query {
                    origin: format!(
                        "{dashboard} \"{title}\" {}",
                        target["refId"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_owned(),
                });
            }
        }
        collect_panel_queries(dashboard, panel, queries);
    }
}

/// Puts values in place of Grafana's variables; any other `$` is an error, since a query with an
/// unknown variable cannot be checked.
pub fn substitute_variables(expr: &str) -> Result<String, String> {
    let mut text = expr.to_owned();
    for (variable, value) in GRAFANA_VARIABLES {
        text = text.replace(variable, value);
    }
    match text.find('$') {
        None => Ok(text),
        Some(at) => Err(format!(
            "unknown variable at {:?}",
            text[at..].chars().take(20).collect::<String>()
        )),
    }
}

/// Scraped `aiut_` names that METRICS.md does not mention; a histogram's `_bucket`, `_sum` and
/// `_count` series count as documented when its base name is.
pub fn undocumented_metrics(scraped: &[String], documented: &str) -> Vec<String> {
    let words = metric_words(documented);
    scraped
        .iter()
        .filter(|name| name.starts_with("aiut_"))
        .filter(|name| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            !words.contains(name.as_str()) && !words.contains(base)
        })
        .cloned()
        .collect()
}

/// Every `aiut_…` word of a text.
pub fn metric_words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("aiut_"))
        .collect()
}

/// Prometheus' HTTP API.
struct Prometheus {
    base: String,
    agent: ureq::Agent,
}

impl Prometheus {
    fn new(base: &str) -> Prometheus {
        Prometheus {
            base: base.to_owned(),
            agent: crate::client::new_agent(Duration::from_secs(20)),
        }
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let mut request = self.agent.get(&format!("{}{path}", self.base));
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        let mut response = request.call().map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| error.to_string())?;
        let body: Value = serde_json::from_str(&text)
            .map_err(|_| format!("HTTP {status}: {}", crate::client::snippet(&text)))?;
        if body["status"] != "success" {
            return Err(format!(
                "HTTP {status} {}: {}",
                body["errorType"].as_str().unwrap_or("error"),
                body["error"].as_str().unwrap_or("?")
            ));
        }
        Ok(body)
    }

    /// Runs an instant query; the number of series (or 1 for a scalar) it returned.
    fn query(&self, expr: &str) -> Result<usize, String> {
        let body = self.get("/api/v1/query", &[("query", expr)])?;
        let data = &body["data"];
        Ok(match data["resultType"].as_str() {
            Some("vector" | "matrix") => data["result"].as_array().map_or(0, Vec::len),
            Some("scalar" | "string") => 1,
            _ => 0,
        })
    }

    fn targets(&self) -> Result<Vec<Target>, String> {
        let body = self.get("/api/v1/targets", &[("state", "active")])?;
        Ok(body["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|target| Target {
                job: target["labels"]["job"].as_str().unwrap_or("?").to_owned(),
                url: target["scrapeUrl"].as_str().unwrap_or("?").to_owned(),
                health: target["health"].as_str().unwrap_or("?").to_owned(),
                last_error: target["lastError"].as_str().unwrap_or("").to_owned(),
            })
            .collect())
    }

    fn metric_names(&self) -> anyhow::Result<Vec<String>> {
        let body = self
            .get("/api/v1/label/__name__/values", &[])
            .map_err(|problem| anyhow::anyhow!("metric names: {problem}"))?;
        Ok(body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_variables_are_replaced_and_unknown_ones_refused() {
        assert_eq!(
            substitute_variables("rate(x[$__rate_interval]) + increase(y[$__range])").as_deref(),
            Ok("rate(x[1m]) + increase(y[1h])")
        );
        assert!(substitute_variables("up{job=\"$job\"}").is_err());
    }

    #[test]
    fn queries_are_found_in_rows_and_panels() {
        let folder = std::env::temp_dir().join(format!("aiut-dash-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("temp folder");
        std::fs::write(
            folder.join("a.json"),
            r#"{"panels": [
                {"title": "top", "targets": [{"refId": "A", "expr": "up"}]},
                {"type": "row", "title": "r", "panels": [
                    {"title": "inner", "targets": [{"refId": "B", "expr": "sum(up)"}]}]}
            ]}"#,
        )
        .expect("write");
        std::fs::write(folder.join("notes.txt"), "not a dashboard").expect("write");
        let queries = dashboard_queries(&folder).expect("reads");
        std::fs::remove_dir_all(&folder).ok();
        let exprs: Vec<&str> = queries.iter().map(|q| q.expr.as_str()).collect();
        assert_eq!(exprs, ["up", "sum(up)"]);
        assert_eq!(queries[1].origin, "a.json \"inner\" B");
    }

    #[test]
    fn alert_names_come_from_alert_lines() {
        let yml = "groups:\n  - name: g\n    rules:\n      - alert: One\n        expr: up\n      - record: job:up\n      - alert: \"Two\"\n";
        assert_eq!(alert_names(yml), ["One", "Two"]);
    }

    #[test]
    fn histogram_series_count_as_documented_by_their_base_name() {
        let doc = "| `aiut_x_seconds` | histogram |\n| aiut_y_total | counter |";
        let scraped: Vec<String> = [
            "aiut_x_seconds_bucket",
            "aiut_x_seconds_count",
            "aiut_y_total",
            "aiut_z",
            "up",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(undocumented_metrics(&scraped, doc), ["aiut_z"]);
    }

    #[test]
    fn every_expected_job_must_have_an_up_target() {
        let target = |job: &str, health: &str| Target {
            job: job.into(),
            url: format!("http://127.0.0.1/{job}"),
            health: health.into(),
            last_error: String::new(),
        };
        let all: Vec<Target> = EXPECTED_JOBS.iter().map(|job| target(job, "up")).collect();
        assert!(target_problems(&all).is_empty());
        let mut one_down = all.clone();
        one_down[1].health = "down".into();
        assert_eq!(target_problems(&one_down).len(), 1);
        let missing: Vec<Target> = all.into_iter().filter(|t| t.job != "redis").collect();
        assert_eq!(target_problems(&missing), ["no target for job redis"]);
    }
}
