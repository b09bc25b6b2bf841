use std::time::Duration;

use serde_json::json;
use simulator::Behaviour;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{StackOptions, read_events, slow_simulator, stack};

const ONE_UNIT: &str = "def double(x: int) -> int:\n    return 2 * x\n";

#[sqlx::test(migrations = false)]
async fn a_rate_limit_then_an_answer_succeeds_with_the_retry_recorded(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    stack
        .simulator
        .set_script([Behaviour::rate_limited(0), Behaviour::Answer]);
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": ONE_UNIT, "filename": "d.py", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["provider_retries"], 1, "{task}");
    assert_eq!(task["attempts"], 1);
    assert_eq!(stack.simulator.stats().by_status.get(&429), Some(&1));
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_cut_stream_is_retried(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    stack
        .simulator
        .set_script([Behaviour::Cut, Behaviour::Answer]);
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": ONE_UNIT, "filename": "d.py", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["provider_retries"], 1, "{task}");
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_refused_key_fails_at_once_with_a_clear_message(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    stack.simulator.set_script([Behaviour::status(401)]);
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": ONE_UNIT, "filename": "d.py", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"]["code"], "provider_auth", "{task}");
    let message = task["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("401") && message.contains("key"),
        "{message}"
    );
    assert_eq!(task["attempts"], 1, "a refused key is not retried");
    assert!(task["result"].is_null(), "no placeholder result: {task}");
    assert_eq!(stack.simulator.stats().requests, 1);
    let frames = read_events(
        &stack.client,
        &stack.url(&format!("/api/tasks/{id}/events")),
        None,
        Duration::from_secs(10),
    )
    .await;
    let last = frames.last().expect("events");
    assert_eq!(last.event, "error");
    assert_eq!(last.data["code"], "provider_auth");
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_hanging_model_times_out_is_retried_and_fails(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let options = StackOptions {
        model_timeout_secs: 1,
        max_retries: 1,
        max_attempts: 2,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    stack.simulator.set_script([
        Behaviour::Hang,
        Behaviour::Hang,
        Behaviour::Hang,
        Behaviour::Hang,
    ]);
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": ONE_UNIT, "filename": "d.py", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["attempts"], 2, "every attempt was used: {task}");
    assert_eq!(task["provider_retries"], 2, "one retry per attempt: {task}");
    let message = task["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("did not finish within 1 s"), "{message}");
    assert_eq!(stack.simulator.stats().requests, 4);
    assert!(task["result"].is_null());
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn answers_that_never_parse_are_dropped_and_never_stored_as_tests(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let broken = "```python\ndef test_double(:\n    assert double(2) ==\n```";
    stack
        .simulator
        .set_script([Behaviour::reply(broken), Behaviour::reply(broken)]);
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": ONE_UNIT, "filename": "d.py", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"]["code"], "no_valid_tests", "{task}");
    assert_eq!(
        stack.simulator.stats().requests,
        2,
        "one retry with the parse errors"
    );
    let frames = read_events(
        &stack.client,
        &stack.url(&format!("/api/tasks/{id}/events")),
        None,
        Duration::from_secs(10),
    )
    .await;
    let events: Vec<&str> = frames.iter().map(|frame| frame.event.as_str()).collect();
    assert!(events.contains(&"warning"), "{events:?}");
    assert_eq!(events.last(), Some(&"error"));
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_unit_that_cannot_be_fixed_is_left_out_with_a_warning(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // One unit at a time, so the scripted answers go to the units in order.
    let options = StackOptions {
        unit_concurrency: 1,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let broken = "```python\ndef test_x(:\n```";
    // The first unit gets two broken answers; the second a good one.
    stack.simulator.set_script([
        Behaviour::reply(broken),
        Behaviour::reply(broken),
        Behaviour::Answer,
    ]);
    let source = "def first(x):\n    return x\n\n\ndef second(y):\n    return y\n";
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": source, "filename": "two.py", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let warnings = task["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{task}");
    assert_eq!(warnings[0]["unit"], "first");
    let code = task["result"]["code"].as_str().unwrap_or_default();
    assert!(
        code.contains("second") && !code.contains("test_x"),
        "{code}"
    );
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_model_that_keeps_failing_hands_over_to_its_fallback(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let options = StackOptions {
        max_retries: 1,
        with_fallback: true,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    // Both calls to `simulator` fail; the next call, to `backup`, is answered.
    stack
        .simulator
        .set_script([Behaviour::status(503), Behaviour::status(503)]);
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": ONE_UNIT, "filename": "d.py", "model": "simulator", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["model"], "simulator");
    assert_eq!(
        task["model_used"], "backup",
        "the fallback wrote the tests: {task}"
    );
    assert_eq!(task["provider_retries"], 1);
    assert_eq!(stack.simulator.stats().requests, 3);
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn waiting_for_a_busy_models_slot_does_not_count_against_its_timeout(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // One call at a time, each taking 1.2 s, a 2 s timeout, three units side by side: the third
    // unit waits 2.4 s for the slot, and its call still has its whole 2 s.
    let options = StackOptions {
        simulator: slow_simulator(1_200, 0.0),
        workers: 0,
        unit_concurrency: 3,
        model_timeout_secs: 2,
        ..StackOptions::default()
    };
    let mut stack = stack(pool_options, connect, options).await;
    for model in &mut stack.worker_settings.models.models {
        model.max_concurrency = 1;
    }
    stack.start_worker("one-slot").await;
    let source =
        "def a(x):\n    return x\n\n\ndef b(x):\n    return x\n\n\ndef c(x):\n    return x\n";
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": source, "filename": "three.py", "model": "simulator", "validate": "syntax" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["provider_retries"], 0, "no call timed out: {task}");
    assert_eq!(stack.simulator.stats().requests, 3, "one call per unit");
    stack.stop().await;
}
