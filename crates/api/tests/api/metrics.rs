//! `/metrics` holds to `prometheus/METRICS.md`, both ways.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

/// The metric families of an OpenMetrics text, by the name a query uses (a counter's with `_total`),
/// with their type.
fn scraped_families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| {
            let name = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            (name, kind.to_owned())
        })
        .collect()
}

/// The families `prometheus/METRICS.md` documents for `service`, with their type: the rows of its
/// tables whose Services column names the service.
fn documented_families(service: &str) -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prometheus/METRICS.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    doc.lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| {
            // `\|` separates label values inside a cell.
            let cells: Vec<String> = line
                .replace("\\|", "/")
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect();
            let (name, kind, services) = (cells.get(1)?, cells.get(2)?, cells.get(4)?);
            services
                .split(',')
                .any(|listed| listed.trim() == service)
                .then(|| (name.trim_matches('`').to_owned(), kind.clone()))
        })
        .collect()
}

/// What differs between a scrape and the documentation of `service`; empty when they agree.
fn undocumented_or_missing(service: &str, scraped: &str) -> Vec<String> {
    let documented = documented_families(service);
    let scraped = scraped_families(scraped);
    let mut problems = Vec::new();
    for (name, kind) in &scraped {
        match documented.get(name) {
            None => problems.push(format!("`{name}` ({kind}) is exported but not documented")),
            Some(documented) if documented != kind => problems.push(format!(
                "`{name}` is exported as a {kind}, documented as a {documented}"
            )),
            Some(_) => {}
        }
    }
    for name in documented.keys() {
        if !scraped.contains_key(name) {
            problems.push(format!("`{name}` is documented but not exported"));
        }
    }
    problems
}

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
