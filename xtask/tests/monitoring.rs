//! Static checks of the monitoring files: `prometheus/prometheus.yml` and `prometheus/alerts.yml`
//! through Debian's `promtool` (config, rules, and the rule unit tests of `prometheus/tests`),
//! the rule tests' coverage (every alert fires in one case and stays silent in another), and the
//! Grafana dashboards' structure and metric names against `prometheus/METRICS.md`. Whether every
//! query returns data is proven against a live deployment by `cargo xtask monitoring`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository")
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs promtool; its output when it fails. A missing promtool fails the test, naming the fix.
fn promtool(args: &[&str], dir: &Path) -> Result<String, String> {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}); install it with `apt-get install prometheus`")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiut-monitoring-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).expect("temp folder");
    dir
}

#[test]
fn promtool_accepts_the_compose_configuration_and_its_rules() {
    let out = promtool(
        &["check", "config", "prometheus.yml"],
        &repo_root().join("prometheus"),
    )
    .unwrap_or_else(|e| panic!("promtool check config failed:\n{e}"));
    assert!(
        out.contains("1 rule files found"),
        "the compose configuration loads alerts.yml:\n{out}"
    );
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let out = promtool(
        &["check", "rules", "alerts.yml"],
        &repo_root().join("prometheus"),
    )
    .unwrap_or_else(|e| panic!("promtool check rules failed:\n{e}"));
    let count = alert_names(&read("prometheus/alerts.yml")).len();
    assert!(out.contains(&format!("{count} rules found")), "{out}");
}

#[test]
fn the_rule_unit_tests_pass() {
    promtool(
        &["test", "rules", "tests/alerts.test.yml"],
        &repo_root().join("prometheus"),
    )
    .unwrap_or_else(|e| panic!("promtool test rules failed:\n{e}"));
}

/// The rule tests can fail: the same tests against rules with one threshold moved do.
#[test]
fn the_rule_unit_tests_catch_a_changed_threshold() {
    let dir = temp_dir("mutant");
    let alerts = read("prometheus/alerts.yml");
    let mutated = alerts.replace("> 0.80\n        for: 5m", "> 0.95\n        for: 5m");
    assert_ne!(
        alerts, mutated,
        "the CPU threshold is where the test expects"
    );
    std::fs::write(dir.join("alerts.yml"), mutated).expect("write");
    std::fs::write(
        dir.join("tests/alerts.test.yml"),
        read("prometheus/tests/alerts.test.yml"),
    )
    .expect("write");
    let outcome = promtool(&["test", "rules", "tests/alerts.test.yml"], &dir);
    std::fs::remove_dir_all(&dir).ok();
    let output = outcome.expect_err("a moved threshold must fail the rule tests");
    assert!(output.contains("HighCpuUsage"), "{output}");
}

fn alert_names(alerts_yml: &str) -> Vec<String> {
    let doc: Yaml = serde_yaml_ng::from_str(alerts_yml).expect("alerts.yml is YAML");
    doc["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|rule| rule["alert"].as_str().map(str::to_owned))
        .collect()
}

fn alert_exprs(alerts_yml: &str) -> Vec<(String, String)> {
    let doc: Yaml = serde_yaml_ng::from_str(alerts_yml).expect("alerts.yml is YAML");
    doc["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|rule| {
            Some((
                rule["alert"].as_str()?.to_owned(),
                rule["expr"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Alerts of `alerts_yml` without a test case where they fire, or without one where they stay
/// silent.
fn untested_alerts(alerts_yml: &str, tests_yml: &str) -> Vec<String> {
    let tests: Yaml = serde_yaml_ng::from_str(tests_yml).expect("the rule tests are YAML");
    // alert -> (fires somewhere, silent somewhere)
    let mut seen: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for case in tests["tests"].as_sequence().into_iter().flatten() {
        for check in case["alert_rule_test"].as_sequence().into_iter().flatten() {
            let Some(name) = check["alertname"].as_str() else {
                continue;
            };
            let fires = check["exp_alerts"]
                .as_sequence()
                .is_some_and(|alerts| !alerts.is_empty());
            let entry = seen.entry(name.to_owned()).or_default();
            if fires {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    }
    let mut problems = Vec::new();
    for alert in alert_names(alerts_yml) {
        match seen.get(&alert) {
            Some((true, true)) => {}
            Some((true, false)) => problems.push(format!("{alert}: no test where it is silent")),
            Some((false, _)) => problems.push(format!("{alert}: no test where it fires")),
            None => problems.push(format!("{alert}: no test")),
        }
    }
    problems
}

#[test]
fn every_alert_is_tested_firing_and_silent() {
    let problems = untested_alerts(
        &read("prometheus/alerts.yml"),
        &read("prometheus/tests/alerts.test.yml"),
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn an_alert_without_a_silent_case_is_caught() {
    let alerts = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n      - alert: B\n        expr: up == 2\n";
    let tests = "tests:\n  - alert_rule_test:\n      - alertname: A\n        exp_alerts:\n          - exp_labels: {}\n";
    assert_eq!(
        untested_alerts(alerts, tests),
        ["A: no test where it is silent", "B: no test"]
    );
}

fn dashboards() -> Vec<(String, Value)> {
    let folder = repo_root().join("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("grafana/dashboards")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("read");
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect()
}

/// Every panel of a dashboard, rows' nested panels included.
fn panels(node: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    for panel in node["panels"].as_array().into_iter().flatten() {
        found.push(panel);
        found.extend(panels(panel));
    }
    found
}

/// Problems of one dashboard: identity, layout, datasource, queries and their variables.
fn dashboard_problems(name: &str, dashboard: &Value, datasource_uid: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["uid", "title"] {
        if dashboard[key].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{name}: no {key}"));
        }
    }
    let mut ids = BTreeSet::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("untitled");
        let Some(id) = panel["id"].as_u64() else {
            problems.push(format!("{name} \"{title}\": no id"));
            continue;
        };
        if !ids.insert(id) {
            problems.push(format!("{name} \"{title}\": id {id} used twice"));
        }
        if !panel["gridPos"].is_object() {
            problems.push(format!("{name} \"{title}\": no gridPos"));
        }
        if panel["type"] == "row" {
            continue;
        }
        if panel["datasource"]["uid"] != datasource_uid {
            problems.push(format!(
                "{name} \"{title}\": datasource {} is not the provisioned {datasource_uid:?}",
                panel["datasource"]
            ));
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("{name} \"{title}\": no query"));
        }
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or("");
            if expr.trim().is_empty() {
                problems.push(format!("{name} \"{title}\": an empty query"));
            }
            let unknown = expr
                .replace("$__rate_interval", "")
                .replace("$__range", "")
                .replace("$__interval", "");
            if unknown.contains('$') {
                problems.push(format!(
                    "{name} \"{title}\": a variable no dashboard defines in {expr}"
                ));
            }
        }
    }
    problems
}

fn provisioned_datasource_uid() -> String {
    let doc: Yaml =
        serde_yaml_ng::from_str(&read("grafana/provisioning/datasources/prometheus.yml"))
            .expect("datasource YAML");
    doc["datasources"][0]["uid"]
        .as_str()
        .expect("the datasource has a uid")
        .to_owned()
}

#[test]
fn the_three_dashboards_are_well_formed() {
    let uid = provisioned_datasource_uid();
    let all = dashboards();
    let names: Vec<&str> = all.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["infrastructure.json", "overview.json", "tasks.json"]
    );
    let mut uids = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, dashboard) in &all {
        problems.extend(dashboard_problems(name, dashboard, &uid));
        assert!(
            uids.insert(dashboard["uid"].to_string()),
            "{name}: uid reused"
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_broken_dashboard_is_caught() {
    let broken: Value = serde_json::json!({
        "uid": "x", "title": "x",
        "panels": [
            {"id": 1, "title": "a", "type": "timeseries", "gridPos": {},
             "datasource": {"uid": "other"}, "targets": [{"expr": "up{job=\"$job\"}"}]},
            {"id": 1, "title": "b", "type": "row", "gridPos": {}, "panels": [
                {"id": 3, "title": "c", "type": "stat", "gridPos": {},
                 "datasource": {"uid": "prometheus"}, "targets": []}]}
        ]
    });
    let problems = dashboard_problems("broken.json", &broken, "prometheus");
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

/// `aiut_` names a query uses, with a histogram's series suffixes taken off.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("aiut_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

fn documented() -> BTreeSet<String> {
    read("prometheus/METRICS.md")
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("aiut_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn dashboards_and_alerts_use_only_documented_metrics() {
    let documented = documented();
    let mut used = BTreeSet::new();
    for (_, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                used.extend(metric_names(target["expr"].as_str().unwrap_or("")));
            }
        }
    }
    for (_, expr) in alert_exprs(&read("prometheus/alerts.yml")) {
        used.extend(metric_names(&expr));
    }
    assert!(used.len() > 20, "the queries name our metrics: {used:?}");
    let missing: Vec<&String> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "used but not in prometheus/METRICS.md: {missing:?}"
    );
}

#[test]
fn histogram_suffixes_are_taken_off_metric_names() {
    assert_eq!(
        metric_names("histogram_quantile(0.9, rate(aiut_a_seconds_bucket[1m])) / aiut_b_total"),
        BTreeSet::from(["aiut_a_seconds".to_owned(), "aiut_b_total".to_owned()])
    );
}
