//! Holds a service's `/metrics` output to `prometheus/METRICS.md`, both ways: every family the
//! service exports is documented for it with the same type, and every family documented for it is
//! exported. Each service's tests run this against the real service.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the documentation of every metric lives in the repository.
pub fn metrics_doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../prometheus/METRICS.md")
}

/// The metric families of an OpenMetrics text, by the name a query uses (a counter's with
/// `_total`), with their type.
pub fn scraped_families(text: &str) -> BTreeMap<String, String> {
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

/// The families `doc` documents for `service`, with their type: the rows of its tables
/// (`| metric | type | labels | services | meaning |`) whose services cell names the service.
pub fn documented_families(doc: &str, service: &str) -> BTreeMap<String, String> {
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

/// What differs between a scrape of `service` and `doc`; empty when they agree.
pub fn differences(doc: &str, service: &str, scraped: &str) -> Vec<String> {
    let documented = documented_families(doc, service);
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

/// [`differences`] against the repository's `prometheus/METRICS.md`.
pub fn undocumented_or_missing(service: &str, scraped: &str) -> Vec<String> {
    let path = metrics_doc_path();
    match std::fs::read_to_string(&path) {
        Ok(doc) => differences(&doc, service, scraped),
        Err(error) => vec![format!("cannot read {}: {error}", path.display())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
| Metric | Type | Labels | Services | Meaning |
|---|---|---|---|---|
| `aiut_a_total` | counter | `k` = `x` \\| `y` | api, worker | A |
| `aiut_b` | gauge | | worker | B |
| `aiut_c_seconds` | histogram | | api | C |
";

    #[test]
    fn a_scrape_that_matches_has_no_differences() {
        let scraped =
            "# TYPE aiut_a counter\naiut_a_total 1\n# TYPE aiut_c_seconds histogram\n# EOF\n";
        assert!(differences(DOC, "api", scraped).is_empty());
    }

    #[test]
    fn extra_missing_and_mistyped_families_are_named() {
        let scraped = "# TYPE aiut_a gauge\n# TYPE aiut_z gauge\n# EOF\n";
        assert_eq!(
            differences(DOC, "worker", scraped),
            [
                "`aiut_a` (gauge) is exported but not documented",
                "`aiut_z` (gauge) is exported but not documented",
                "`aiut_a_total` is documented but not exported",
                "`aiut_b` is documented but not exported",
            ]
        );
        let mistyped = "# TYPE aiut_c_seconds gauge\n# TYPE aiut_a counter\n";
        assert_eq!(
            differences(DOC, "api", mistyped),
            ["`aiut_c_seconds` is exported as a gauge, documented as a histogram"]
        );
    }

    #[test]
    fn the_repository_documentation_is_found() {
        assert!(metrics_doc_path().is_file());
    }
}
