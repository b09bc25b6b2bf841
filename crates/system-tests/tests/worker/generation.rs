use std::time::Duration;

use codegen::Syntax;
use domain::Language;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{
    GO_SOURCE, JAVA_SOURCE, PYTHON_SOURCE, StackOptions, read_events, slow_simulator, stack,
};

/// The events of one task, heartbeats aside, by name.
fn names(frames: &[crate::helpers::SseFrame]) -> Vec<String> {
    frames
        .iter()
        .filter(|frame| frame.event != "heartbeat")
        .map(|frame| frame.event.clone())
        .collect()
}

/// `started`, `parsing_completed`, then for each unit `generating`, a `validating` per round of
/// running its tests, and its `result` (units are written side by side, so theirs may
/// interleave); then a `test_result` per unit, a `validating` of the whole test file (after which
/// a unit that fails when run again gets a second `test_result`, left out), `coverage` and
/// `completed`.
fn assert_story(frames: &[crate::helpers::SseFrame], units: usize, test_file: &str) {
    let story: Vec<&crate::helpers::SseFrame> = frames
        .iter()
        .filter(|frame| frame.event != "heartbeat")
        .collect();
    let names: Vec<&str> = story.iter().map(|frame| frame.event.as_str()).collect();
    assert_eq!(&names[..2], ["started", "parsing_completed"], "{names:?}");
    assert_eq!(
        &names[names.len() - 2..],
        ["coverage", "completed"],
        "{names:?}"
    );
    let middle = &story[2..story.len() - 2];
    let mut started_units = std::collections::HashSet::new();
    let mut finished_units = std::collections::HashSet::new();
    let mut judged_units = std::collections::HashSet::new();
    let mut whole_file_run = false;
    for frame in middle {
        let unit = frame.data["unit"].as_str().expect("a unit").to_owned();
        match frame.event.as_str() {
            "generating" => assert!(started_units.insert(unit), "{names:?}"),
            "validating" if unit == test_file => {
                assert_eq!(
                    judged_units.len(),
                    units,
                    "the file runs after every verdict: {names:?}"
                );
                whole_file_run = true;
            }
            "validating" => {
                assert!(
                    started_units.contains(&unit) && !finished_units.contains(&unit),
                    "{names:?}"
                );
                assert!(
                    frame.data["round"]
                        .as_u64()
                        .is_some_and(|round| (1..=3).contains(&round))
                );
            }
            "result" => {
                assert!(
                    started_units.contains(&unit),
                    "a result before its generating: {unit}"
                );
                assert!(finished_units.insert(unit), "{names:?}");
            }
            // A unit whose test failed when the file was run again, then alone (a loaded
            // machine's wall-clock limit can do it): its verdict is corrected once, as left out.
            "test_result" if whole_file_run => {
                assert!(judged_units.contains(&unit), "{names:?}");
                assert_eq!(frame.data["kept"], false, "{}", frame.data);
            }
            "test_result" => {
                assert_eq!(
                    finished_units.len(),
                    units,
                    "verdicts come after every result: {names:?}"
                );
                assert!(frame.data["verdict"].is_string(), "{}", frame.data);
                assert!(judged_units.insert(unit), "{names:?}");
            }
            other => panic!("unexpected event {other} in {names:?}"),
        }
    }
    assert_eq!(finished_units.len(), units);
    assert_eq!(judged_units.len(), units);
    assert!(whole_file_run, "{names:?}");
    let coverage = &story[story.len() - 2].data;
    assert_eq!(coverage["status"], "validated", "{coverage}");
    assert!(
        coverage["coverage"]["lines_covered"]
            .as_u64()
            .is_some_and(|covered| covered > 0),
        "{coverage}"
    );
}

async fn generates_and_streams(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
    language: Language,
    file_name: &str,
    source: &str,
    units: usize,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let client = &stack.client;
    let id = stack
        .submit(
            client,
            json!({ "source": source, "filename": file_name, "model": "simulator" }),
        )
        .await;
    let frames = read_events(
        client,
        &stack.url(&format!("/api/tasks/{id}/events")),
        None,
        Duration::from_secs(60),
    )
    .await;

    assert_story(&frames, units, &language.test_file_name(file_name));
    let numbered: Vec<u64> = frames.iter().filter_map(|frame| frame.id).collect();
    assert!(
        numbered.windows(2).all(|pair| pair[0] < pair[1]),
        "event ids rise: {numbered:?}"
    );
    let percents: Vec<u64> = frames
        .iter()
        .filter_map(|frame| frame.data["progress"].as_u64())
        .collect();
    assert!(
        percents.windows(2).all(|pair| pair[0] <= pair[1]),
        "progress never goes back: {percents:?}"
    );
    let parsed = &frames[1].data;
    assert_eq!(
        parsed["units"].as_array().map(Vec::len),
        Some(units),
        "{parsed}"
    );
    let last = frames.last().expect("a last event");
    assert_eq!(last.data["progress"], 100);

    let task = stack.task(client, &id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["attempts"], 1);
    // Every unit has a verdict; the delivered tests are the kept ones, each of which passed.
    let reports = task["validation"]["tests"]
        .as_array()
        .expect("per-unit verdicts");
    assert_eq!(reports.len(), units, "{task}");
    let kept: Vec<&serde_json::Value> = reports
        .iter()
        .filter(|report| report["kept"] == true)
        .collect();
    assert!(!kept.is_empty(), "{task}");
    for report in &kept {
        assert!(
            ["passed", "no_new_coverage"].contains(&report["verdict"].as_str().unwrap_or_default()),
            "{report}"
        );
    }
    assert_eq!(last.data["tests"], kept.len());
    let code = task["result"]["code"].as_str().expect("the result code");
    let test_file = task["result"]["file_name"].as_str().expect("a file name");
    assert_eq!(test_file, language.test_file_name(file_name));
    let issues = codegen::syntax_issues(Syntax::of(language, test_file), code);
    assert!(issues.is_empty(), "the result parses: {issues:?}\n{code}");
    assert_eq!(
        task["result"]["units"].as_array().map(Vec::len),
        Some(kept.len()),
        "per-unit tests are kept"
    );
    assert!(
        task["tokens"]["completion"].as_i64().unwrap_or(0) > 0,
        "{task}"
    );

    let download = client
        .get(stack.url(&format!("/api/tasks/{id}/download")))
        .send()
        .await
        .expect("download answers");
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.contains(test_file.rsplit('/').next().unwrap_or(test_file)),
        "{disposition}"
    );
    assert_eq!(download.text().await.expect("a body"), code);

    // The same request again is answered from the result cache, without a model call.
    let calls = stack.simulator.stats().requests;
    let again = client
        .post(stack.url("/api/tasks"))
        .json(&json!({ "source": source, "filename": file_name, "model": "simulator" }))
        .send()
        .await
        .expect("the api answers");
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.expect("JSON");
    assert_eq!(again["cache_hit"], true, "{again}");
    assert_eq!(again["result"]["code"], code);
    assert_eq!(stack.simulator.stats().requests, calls);

    // A late joiner gets the whole story replayed, and one that saw the first three events
    // gets only the rest.
    let replayed = read_events(
        client,
        &stack.url(&format!("/api/tasks/{id}/events")),
        None,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(names(&replayed), names(&frames));
    let resumed = read_events(
        client,
        &stack.url(&format!("/api/tasks/{id}/events")),
        numbered.get(2).copied(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(names(&resumed), names(&frames)[3..].to_vec());
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_python_task_streams_every_event_and_its_result_parses(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    generates_and_streams(
        pool_options,
        connect,
        Language::Python,
        "inventory/stock.py",
        PYTHON_SOURCE,
        3,
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn a_java_task_streams_every_event_and_its_result_parses(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    generates_and_streams(
        pool_options,
        connect,
        Language::Java,
        "src/main/java/com/example/util/Calculator.java",
        JAVA_SOURCE,
        2,
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn a_go_task_streams_every_event_and_its_result_parses(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    generates_and_streams(
        pool_options,
        connect,
        Language::Go,
        "mathx/mathx.go",
        GO_SOURCE,
        2,
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn the_offline_model_writes_tests_by_running_the_code_without_calling_a_model(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let client = &stack.client;
    let id = stack
        .submit(
            client,
            json!({ "source": PYTHON_SOURCE, "filename": "inventory/stock.py", "model": "offline" }),
        )
        .await;
    let task = stack
        .wait_until_finished(client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let code = task["result"]["code"].as_str().expect("code");
    assert!(code.contains("from inventory.stock import"), "{code}");
    assert!(!code.contains("skip"), "real tests, not scaffolds: {code}");
    assert!(code.contains("assert "), "{code}");
    assert_eq!(task["validation"]["status"], "validated", "{task}");
    assert_eq!(stack.simulator.stats().requests, 0, "no model was asked");
    assert_eq!(task["tokens"]["completion"], 0);
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_running_task_is_cancelled_within_a_second(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Each answer takes ten seconds to start: the task is surely mid-call when cancelled.
    let options = StackOptions {
        simulator: slow_simulator(10_000, 0.0),
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let client = &stack.client;
    let id = stack
        .submit(
            client,
            json!({ "source": PYTHON_SOURCE, "filename": "stock.py", "model": "simulator", "validate": "syntax" }),
        )
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stack.simulator.stats().requests == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the model was never called"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = std::time::Instant::now();
    let response = client
        .delete(stack.url(&format!("/api/tasks/{id}")))
        .send()
        .await
        .expect("cancel answers");
    assert_eq!(
        response.status(),
        202,
        "a running task's cancel is accepted"
    );
    let task = stack
        .wait_until_finished(client, &id, Duration::from_secs(5))
        .await;
    let took = asked.elapsed();
    assert_eq!(task["status"], "cancelled", "{task}");
    // The model's first token would take 10 s: well under that, the call was cut mid-flight
    // (a bound of its own, so a loaded machine's scheduling does not decide the test).
    assert!(took < Duration::from_secs(5), "cancelled after {took:?}");
    let frames = read_events(
        client,
        &stack.url(&format!("/api/tasks/{id}/events")),
        None,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        frames.last().map(|frame| frame.event.as_str()),
        Some("cancelled")
    );
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn the_worker_reports_what_it_did_in_its_metrics(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let client = &stack.client;
    let id = stack
        .submit(
            client,
            json!({ "source": GO_SOURCE, "filename": "mathx/mathx.go", "model": "simulator", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded");
    let port = stack.worker_metrics_ports()[0];
    let metrics = stack.first_worker_metrics_when_idle(1).await;
    for expected in [
        "aiut_worker_claims_total{outcome=\"new\"} 1",
        "aiut_worker_task_outcomes_total{outcome=\"succeeded\"} 1",
        "aiut_worker_task_duration_seconds_count{outcome=\"succeeded\"} 1",
        "aiut_worker_model_requests_total{model=\"simulator\",outcome=\"ok\"} 2",
        "aiut_worker_model_time_to_first_token_seconds_count{model=\"simulator\"} 2",
        "aiut_worker_model_request_duration_seconds_count{model=\"simulator\"} 2",
        "aiut_worker_tasks_in_flight 0",
        "aiut_worker_capacity 8",
    ] {
        assert!(
            metrics.contains(expected),
            "missing `{expected}` in:\n{metrics}"
        );
    }
    let completion_tokens = metrics
        .lines()
        .find(|line| {
            line.starts_with("aiut_worker_model_tokens_total")
                && line.contains("kind=\"completion\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<u64>().ok())
        .expect("completion tokens counted");
    assert_eq!(
        Some(completion_tokens as i64),
        task["tokens"]["completion"].as_i64(),
        "the metric and the task agree"
    );
    let health: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("healthz answers")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["capacity"], 8);
    stack.stop().await;
}

/// The operator's `cache.result_ttl_secs` is the one section both the api and the worker read, so
/// a fresh result lands in the cache with the operator's lifetime, not a compiled-in one.
#[sqlx::test(migrations = false)]
async fn an_operators_cache_ttl_reaches_the_results_a_worker_stores(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const OPERATORS_TTL_SECS: u64 = 4_321;
    let options = StackOptions {
        workers: 0,
        ..StackOptions::default()
    };
    let mut stack = stack(pool_options, connect, options).await;
    let default_ttl = service::sections::CacheSettings::default().result_ttl_secs;
    assert_ne!(OPERATORS_TTL_SECS, default_ttl);
    stack.worker_settings.cache.result_ttl_secs = OPERATORS_TTL_SECS;
    stack.start_worker("worker-ttl").await;
    let client = &stack.client;
    let id = stack
        .submit(
            client,
            json!({ "source": PYTHON_SOURCE, "filename": "ttl.py", "model": "offline" }),
        )
        .await;
    let task = stack
        .wait_until_finished(client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");

    let cache_key: String = sqlx::query_scalar("select cache_key from tasks where id = $1::uuid")
        .bind(&id)
        .fetch_one(&stack.pool)
        .await
        .expect("the task's cache key");
    let cache_key = domain::CacheKey::from_stored(&cache_key).expect("a stored cache key");
    let redis = redis::Client::open(crate::helpers::redis_url()).expect("a Redis URL");
    let mut connection = redis
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let ttl: i64 = redis::cmd("TTL")
        .arg(store::keys::result(&stack.prefix, &cache_key))
        .query_async(&mut connection)
        .await
        .expect("TTL");
    let operators = i64::try_from(OPERATORS_TTL_SECS).expect("small");
    assert!(
        (operators - 60..=operators).contains(&ttl),
        "the cached result lives {ttl} s; the operator asked for {OPERATORS_TTL_SECS} s \
         (the compiled-in default is {default_ttl} s)"
    );
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_running_task_shows_its_progress_on_the_row(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // One unit at a time, each answer taking 700 ms to start: the task runs for a few seconds,
    // unit by unit, and the row must say how far it is while it runs (not 0 until the end).
    let options = StackOptions {
        simulator: slow_simulator(700, 0.0),
        unit_concurrency: 1,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let client = &stack.client;
    let source = "def a(x):\n    return x\n\n\ndef b(x):\n    return x\n\n\ndef c(x):\n    return x\n\n\ndef d(x):\n    return x\n";
    let id = stack
        .submit(
            client,
            json!({ "source": source, "filename": "four.py", "model": "simulator", "validate": "syntax" }),
        )
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let progress = loop {
        let task = stack.task(client, &id).await;
        let completed = task["progress"]["completed"].as_u64().unwrap_or(0);
        let total = task["progress"]["total"].as_u64().unwrap_or(0);
        if task["status"] == "running" && total == 4 && (1..4).contains(&completed) {
            break task["progress"].clone();
        }
        assert_ne!(
            task["status"], "succeeded",
            "ended before any progress was seen: {task}"
        );
        assert!(std::time::Instant::now() < deadline, "{task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(progress["percent"].as_u64().unwrap_or(0) > 0, "{progress}");
    let task = stack
        .wait_until_finished(client, &id, Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["progress"]["completed"], 4, "{task}");
    stack.stop().await;
}
