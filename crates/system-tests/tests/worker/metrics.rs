//! `/metrics` holds to `prometheus/METRICS.md`, both ways.

use std::time::Duration;

use serde_json::json;
use simulator::Behaviour;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use telemetry::documented::undocumented_or_missing;

use crate::helpers::{StackOptions, stack};

#[sqlx::test(migrations = false)]
async fn every_exported_metric_is_documented_and_every_documented_one_exported(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // The model-labelled families get their first series from a call: a task whose model fails,
    // is retried, and hands over to its fallback touches every one of them.
    let options = StackOptions {
        max_retries: 1,
        with_fallback: true,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    stack
        .simulator
        .set_script([Behaviour::status(503), Behaviour::status(503)]);
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": "def double(x: int) -> int:\n    return 2 * x\n", "filename": "d.py", "model": "simulator" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let text = stack.first_worker_metrics_when_idle(1).await;
    let problems = undocumented_or_missing("worker", &text);
    assert!(problems.is_empty(), "{problems:#?}\nin:\n{text}");
    for line in [
        "aiut_worker_claims_total{outcome=\"reclaimed\"} 0\n",
        "aiut_worker_task_outcomes_total{outcome=\"lease_lost\"} 0\n",
        "aiut_worker_model_retries_total{model=\"simulator\",reason=\"server_error\"} 1\n",
        "aiut_worker_model_fallbacks_total{model=\"simulator\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(
        text.contains(&format!(
            "aiut_build_info{{service=\"worker\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );

    // The check can fail: a family the documentation lacks, or one it has that is gone.
    let extra = text.replace(
        "# EOF",
        "# TYPE aiut_worker_surprise counter\naiut_worker_surprise_total 1\n# EOF",
    );
    assert_eq!(
        undocumented_or_missing("worker", &extra),
        ["`aiut_worker_surprise_total` (counter) is exported but not documented"]
    );
    let renamed = text.replace(
        "# TYPE aiut_worker_capacity gauge",
        "# TYPE aiut_worker_capacity counter",
    );
    assert_eq!(
        undocumented_or_missing("worker", &renamed),
        [
            "`aiut_worker_capacity_total` (counter) is exported but not documented",
            "`aiut_worker_capacity` is documented but not exported",
        ]
    );
    stack.stop().await;
}
