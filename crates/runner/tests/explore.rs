//! The explorers run user code in the sandbox: they find calls that reach the code's branches,
//! report values that read back, see through time and randomness, and are contained when the
//! code is hostile.

mod common;

use std::time::{Duration, Instant};

use common::{corpus, runner, toolchain_runner};
use domain::Language;
use domain::observed::{Case, Exploration, ExploreRequest, Outcome, UnitRef};
use runner::{ExploreJob, Runner};

fn ask(
    source: &str,
    module: &str,
    units: &[(&str, Option<&str>)],
    budget_ms: u64,
) -> ExploreRequest {
    ExploreRequest {
        source: source.to_owned(),
        module: module.to_owned(),
        units: units
            .iter()
            .map(|(name, container)| UnitRef {
                name: (*name).to_owned(),
                container: container.map(str::to_owned),
            })
            .collect(),
        budget_ms,
        call_timeout_ms: 500,
        max_cases_per_unit: 8,
        seed: 7,
    }
}

async fn explore(
    runner: &Runner,
    language: Language,
    file: &str,
    source: &str,
    request: &ExploreRequest,
) -> Exploration {
    let report = runner
        .explore(&ExploreJob {
            language,
            source_file_name: file,
            source,
            request,
            checkout: None,
        })
        .await;
    report
        .exploration
        .unwrap_or_else(|reason| panic!("no exploration of {file}: {reason}"))
}

fn cases<'e>(exploration: &'e Exploration, name: &str, container: Option<&str>) -> &'e [Case] {
    &exploration
        .unit(name, container)
        .unwrap_or_else(|| panic!("`{name}` not explored: {exploration:#?}"))
        .cases
}

fn returned(case: &Case) -> Option<&str> {
    match &case.outcome {
        Outcome::Returned { value, .. } => Some(value),
        _ => None,
    }
}

#[tokio::test]
async fn python_calls_reach_the_branches_and_their_values_read_back() {
    let runner = toolchain_runner().await;
    let source = corpus("python/text_utils.py");
    let units = [("slugify", None), ("truncate", None)];
    let request = ask("text_utils.py", "text_utils", &units, 10_000);
    let exploration = explore(
        &runner,
        Language::Python,
        "text_utils.py",
        &source,
        &request,
    )
    .await;
    assert!(exploration.imported, "{exploration:#?}");
    for (name, _) in units {
        let found = cases(&exploration, name, None);
        assert!(!found.is_empty(), "{name}: {exploration:#?}");
        for case in found {
            if let Some(value) = returned(case) {
                assert!(!value.is_empty(), "{case:?}");
            }
        }
    }
    // The same request gives the same calls: the explorer's choices are seeded.
    let again = explore(
        &runner,
        Language::Python,
        "text_utils.py",
        &source,
        &request,
    )
    .await;
    assert_eq!(again.units, exploration.units);
}

#[tokio::test]
async fn python_time_and_randomness_are_not_pinned_and_errors_are() {
    let runner = toolchain_runner().await;
    let source = "\
import random
import time


def stamp() -> float:
    return time.time()


def roll(sides: int = 6) -> int:
    return random.randint(1, sides)


def ratio(a: int, b: int) -> float:
    if b == 0:
        raise ValueError(\"b must not be zero\")
    return a / b
";
    let units = [("stamp", None), ("roll", None), ("ratio", None)];
    let request = ask("clock.py", "clock", &units, 8_000);
    let exploration = explore(&runner, Language::Python, "clock.py", source, &request).await;
    for name in ["stamp", "roll"] {
        assert!(
            cases(&exploration, name, None)
                .iter()
                .any(|case| matches!(case.outcome, Outcome::ReturnedUnstable { .. })),
            "{exploration:#?}"
        );
        for case in cases(&exploration, name, None) {
            assert!(
                !matches!(case.outcome, Outcome::Returned { .. }),
                "{name} varies between runs, so no value of it is asserted: {case:?}"
            );
        }
    }
    let ratio = cases(&exploration, "ratio", None);
    assert!(
        ratio.iter().any(|case| matches!(
            &case.outcome,
            Outcome::Raised { type_name, builtin: true, .. } if type_name == "ValueError"
        )),
        "{ratio:#?}"
    );
    assert!(
        ratio.iter().any(|case| returned(case).is_some()),
        "{ratio:#?}"
    );
}

#[tokio::test]
async fn python_methods_get_objects_built_through_their_constructors() {
    let runner = toolchain_runner().await;
    let source = "\
class EmptyError(Exception):
    pass


class Stack:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(\"capacity must be positive\")
        self.capacity = capacity
        self.items = []

    def push(self, item: int) -> None:
        if len(self.items) >= self.capacity:
            raise OverflowError(\"full\")
        self.items.append(item)

    def pop(self) -> int:
        if not self.items:
            raise EmptyError(\"empty\")
        return self.items.pop()
";
    let units = [
        ("__init__", Some("Stack")),
        ("push", Some("Stack")),
        ("pop", Some("Stack")),
    ];
    let request = ask("stack.py", "stack", &units, 8_000);
    let exploration = explore(&runner, Language::Python, "stack.py", source, &request).await;
    let pop = cases(&exploration, "pop", Some("Stack"));
    assert!(
        pop.iter().any(|case| matches!(
            &case.outcome,
            Outcome::Raised { type_name, builtin: false, .. } if type_name == "EmptyError"
        )),
        "popping an empty stack raises the file's own error: {pop:#?}"
    );
    assert!(
        pop.iter().any(|case| returned(case).is_some()
            && case
                .receiver
                .as_ref()
                .is_some_and(|receiver| !receiver.calls.is_empty())),
        "a pop after a push returns what was pushed: {pop:#?}"
    );
    let init = cases(&exploration, "__init__", Some("Stack"));
    assert!(
        init.iter().any(|case| matches!(&case.outcome, Outcome::ReturnedObject { fields, .. } if fields.iter().any(|field| field.name == "capacity"))),
        "{init:#?}"
    );
}

#[tokio::test]
async fn javascript_and_typescript_are_explored_through_node() {
    let runner = toolchain_runner().await;
    let source = "\
export function clamp(value, low, high) {
  if (low > high) throw new RangeError('low is above high');
  if (value < low) return low;
  if (value > high) return high;
  return value;
}
";
    let request = ask("clamp.mjs", "./clamp.mjs", &[("clamp", None)], 8_000);
    let exploration = explore(
        &runner,
        Language::Javascript,
        "lib/clamp.mjs",
        source,
        &request,
    )
    .await;
    let clamp = cases(&exploration, "clamp", None);
    assert!(clamp.len() >= 3, "each branch is reached: {clamp:#?}");
    assert!(clamp.iter().any(|case| matches!(&case.outcome, Outcome::Raised { type_name, .. } if type_name == "RangeError")));

    let typed = "\
export class Counter {
  private count = 0;
  constructor(public readonly step: number) {}
  add(times: number): number {
    if (times < 0) throw new Error('negative');
    this.count += this.step * times;
    return this.count;
  }
}
";
    let request = ask(
        "counter.ts",
        "./counter",
        &[("constructor", Some("Counter")), ("add", Some("Counter"))],
        8_000,
    );
    let exploration = explore(&runner, Language::Typescript, "counter.ts", typed, &request).await;
    assert!(exploration.imported, "{exploration:#?}");
    assert!(
        !cases(&exploration, "add", Some("Counter")).is_empty(),
        "{exploration:#?}"
    );
}

#[tokio::test]
async fn a_source_that_cannot_be_imported_says_why() {
    let runner = runner().await;
    let source = "import numpy_that_is_not_here\n\ndef f(x):\n    return x\n";
    let request = ask("needs.py", "needs", &[("f", None)], 3_000);
    let exploration = explore(&runner, Language::Python, "needs.py", source, &request).await;
    assert!(!exploration.imported);
    let error = exploration.error.unwrap_or_default();
    assert!(error.contains("numpy_that_is_not_here"), "{error}");
}

#[tokio::test]
async fn hostile_code_explored_sees_no_secrets_no_network_and_cannot_outlive_its_budget() {
    let runner = runner().await;
    let source = "\
import os
import socket


def environment() -> list:
    return sorted(os.environ)


def reach(port: int = 5432) -> bool:
    with socket.create_connection(('127.0.0.1', port), timeout=1):
        return True


def spin(n: int) -> int:
    while n >= 0:
        n = n
    return n
";
    let started = Instant::now();
    let request = ask(
        "hostile.py",
        "hostile",
        &[("environment", None), ("reach", None), ("spin", None)],
        4_000,
    );
    let exploration = explore(&runner, Language::Python, "hostile.py", source, &request).await;
    assert!(
        started.elapsed() < Duration::from_secs(19),
        "the sandbox's wall clock bounds the explorer: {:?}",
        started.elapsed()
    );
    // The test process has CARGO_* and many more variables; the code sees only the sandbox's.
    let allowed = [
        "HOME",
        "LANG",
        "LC_CTYPE",
        "PATH",
        "PWD",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
        "PYTHONPATH",
        "TMPDIR",
    ];
    let seen = cases(&exploration, "environment", None);
    assert!(!seen.is_empty(), "{exploration:#?}");
    for case in seen {
        let value = returned(case).unwrap_or_else(|| panic!("{case:?}"));
        for name in value
            .trim_matches(['[', ']'])
            .split(", ")
            .filter(|name| !name.is_empty())
        {
            assert!(
                allowed.contains(&name.trim_matches('\'')),
                "{name} reached the code: {value}"
            );
        }
    }
    for case in cases(&exploration, "reach", None) {
        assert!(
            matches!(case.outcome, Outcome::Raised { .. }),
            "no connection can be made: {case:?}"
        );
    }
    for case in cases(&exploration, "spin", None) {
        assert!(
            matches!(
                case.outcome,
                Outcome::Returned { .. } | Outcome::Raised { .. }
            ),
            "only calls that ended are kept: {case:?}"
        );
    }
}

#[tokio::test]
async fn a_python_file_is_explored_among_its_repository_files() {
    let runner = toolchain_runner().await;
    let source = "from shop.tax import rate\n\n\ndef total(price):\n    if price < 0:\n        \
                  raise ValueError('negative')\n    return price * (1 + rate())\n";
    let checkout = domain::Checkout {
        files: vec![
            domain::CheckoutFile {
                path: "shop/__init__.py".into(),
                contents: String::new(),
            },
            domain::CheckoutFile {
                path: "shop/tax.py".into(),
                contents: "def rate():\n    return 0.5\n".into(),
            },
        ],
        left_out: 0,
    };
    let request = ask("shop/cart.py", "shop.cart", &[("total", None)], 10_000);
    let job = |checkout| ExploreJob {
        language: Language::Python,
        source_file_name: "shop/cart.py",
        source,
        request: &request,
        checkout,
    };
    let alone = runner.explore(&job(None)).await.exploration;
    assert!(
        alone
            .as_ref()
            .map_or(true, |exploration| !exploration.imported),
        "alone, `shop.tax` is not there: {alone:?}"
    );
    let among = runner
        .explore(&job(Some(&checkout)))
        .await
        .exploration
        .expect("explored");
    assert!(among.imported, "{among:#?}");
    let found = cases(&among, "total", None);
    assert!(
        found.iter().any(|case| returned(case).is_some()),
        "a call returned, with the sibling's rate: {among:#?}"
    );
}
