//! `/metrics` holds to `prometheus/METRICS.md`, both ways.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use telemetry::documented::undocumented_or_missing;

use crate::helpers::*;

#[sqlx::test(migrations = false)]
async fn every_exported_metric_is_documented_and_every_documented_one_exported(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    // The request families get their first series from a request.
    json_with_status(app.get("/healthz").await, 200).await;
    let text = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("a metrics body");
    let problems = undocumented_or_missing("api", &text);
    assert!(problems.is_empty(), "{problems:#?}\nin:\n{text}");
    assert!(
        text.contains("aiut_dependency_up{dependency=\"postgres\"} 1\n")
            && text.contains("aiut_dependency_up{dependency=\"redis\"} 1\n"),
        "both dependencies are up from the first scrape:\n{text}"
    );
    assert!(
        text.contains("aiut_db_pool_max_connections 10\n"),
        "the pool's own maximum:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "aiut_build_info{{service=\"api\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );

    // The check can fail: a family the documentation lacks, or one it has that is gone.
    let extra = text.replace(
        "# EOF",
        "# TYPE aiut_surprise gauge\naiut_surprise 1\n# EOF",
    );
    let problems = undocumented_or_missing("api", &extra);
    assert_eq!(
        problems,
        ["`aiut_surprise` (gauge) is exported but not documented"]
    );
    let without_uptime = text.replace(
        "# TYPE aiut_dependency_up gauge",
        "# TYPE aiut_dependency_down gauge",
    );
    let problems = undocumented_or_missing("api", &without_uptime);
    assert_eq!(
        problems,
        [
            "`aiut_dependency_down` (gauge) is exported but not documented",
            "`aiut_dependency_up` is documented but not exported",
        ]
    );
    app.stop().await;
}
