//! The crate graph's rules (ARCHITECTURE.md, "Bird's-eye view"), held against the graph Cargo
//! resolves, dev-dependencies included: a new dependency that breaks one fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Package name → the names of the packages it depends on (every kind), from `cargo metadata`.
fn resolved_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository root");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let name_of: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|package| Some((package["id"].as_str()?, package["name"].as_str()?)))
        .collect();
    metadata["resolve"]["nodes"]
        .as_array()
        .expect("the resolved nodes")
        .iter()
        .filter_map(|node| {
            let name = name_of.get(node["id"].as_str()?)?;
            let dependencies = node["deps"]
                .as_array()?
                .iter()
                .filter_map(|dependency| name_of.get(dependency["pkg"].as_str()?))
                .map(|name| (*name).to_owned())
                .collect();
            Some(((*name).to_owned(), dependencies))
        })
        .collect()
}

/// Everything `package` reaches, itself excluded.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, package: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut next: Vec<&str> = vec![package];
    while let Some(current) = next.pop() {
        for dependency in graph.get(current).into_iter().flatten() {
            if seen.insert(dependency.clone()) {
                next.push(dependency);
            }
        }
    }
    seen
}

#[test]
fn the_crate_graph_keeps_its_rules() {
    let graph = resolved_graph();
    // The graph holds dev-dependencies too (the system tests link the api only as one).
    assert!(reach(&graph, "aiut-system-tests").contains("aiut-api"));
    assert!(reach(&graph, "aiut-api").contains("sqlx"));
    let mut broken = Vec::new();
    let mut forbid = |package: &str, forbidden: &[&str]| {
        let reached = reach(&graph, package);
        for name in forbidden {
            if reached.contains(*name) {
                broken.push(format!("{package} reaches {name}"));
            }
        }
    };
    let services = ["aiut-api", "aiut-worker", "aiut-gateway", "aiut-simulator"];
    // No service links another service's library.
    for service in services {
        let others: Vec<&str> = services.iter().copied().filter(|s| *s != service).collect();
        forbid(service, &others);
    }
    // The gateway links no storage, not even for its tests.
    forbid("aiut-gateway", &["aiut-store", "sqlx", "redis"]);
    // The pure crates do no IO.
    for pure in ["aiut-domain", "aiut-codegen"] {
        forbid(pure, &["tokio", "sqlx", "redis", "reqwest", "aiut-service"]);
    }
    // The runner runs user code in a sandbox: it reaches no storage, no network client and no
    // service, so nothing it runs can be handed a connection by mistake.
    forbid(
        "aiut-runner",
        &["aiut-store", "sqlx", "redis", "reqwest", "aiut-codegen"],
    );
    forbid("aiut-runner", &services);
    // The forge crate reaches the internet with a user's token: only the api (browsing, a batch's
    // clone, its pull request's push) may link it; the worker runs a batch's tests among the files
    // the api stored, and never holds a token.
    for package in [
        "aiut-worker",
        "aiut-runner",
        "aiut-gateway",
        "aiut-simulator",
        "aiut-store",
    ] {
        forbid(package, &["aiut-forge"]);
    }
    forbid("aiut-forge", &services);
    forbid(
        "aiut-forge",
        &["aiut-store", "aiut-runner", "aiut-codegen", "sqlx", "redis"],
    );
    // Of the services, only the worker runs tests.
    for service in ["aiut-api", "aiut-gateway", "aiut-simulator"] {
        forbid(service, &["aiut-runner"]);
    }
    // The operations tooling drives the services as processes; it links none of them. It may
    // link the runner (a library, for `bench generation`'s in-process sandbox measurement), so
    // the runner must link no service either.
    forbid("xtask", &services);
    forbid("aiut-ops", &services);
    // Only the system tests link the services, and nothing links the system tests.
    for (package, dependencies) in &graph {
        if dependencies.contains("aiut-system-tests") {
            broken.push(format!("{package} depends on aiut-system-tests"));
        }
        if package != "aiut-system-tests"
            && let Some(service) = services.iter().find(|s| dependencies.contains(**s))
        {
            broken.push(format!("{package} links the {service} library"));
        }
    }
    assert!(
        broken.is_empty(),
        "the crate graph breaks its rules:\n  {}",
        broken.join("\n  ")
    );
}
