//! A batch over a repository: a Python project whose modules import each other, served by a git
//! server and a stand-in GitHub of the test's own. Its tests are written by the simulator, run
//! among the repository's files and pass — where the same file alone says "missing module" — and
//! the delivered archive passes when someone else runs it in a clone of the repository; the pull
//! request puts them on a new branch and leaves `main` alone.

use std::io::Read;
use std::time::{Duration, Instant};

use forge::testing::apis::{self, GOOD_TOKEN};
use forge::testing::git_server::GitServer;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{StackOptions, by_hand, scratch, stack};

const UNITS_PY: &str = "\
GRAMS_PER_UNIT = {\"g\": 1, \"kg\": 1000, \"lb\": 454}


def to_grams(amount, unit):
    if unit not in GRAMS_PER_UNIT:
        raise ValueError(f\"unknown unit {unit}\")
    return amount * GRAMS_PER_UNIT[unit]
";

const PRICING_PY: &str = "\
from inventory.units import to_grams


def price_per_kilo(price, amount, unit):
    grams = to_grams(amount, unit)
    if grams == 0:
        return 0.0
    return round(price * 1000 / grams, 2)
";

const STOCK_PY: &str = "\
from inventory.units import to_grams
from .pricing import price_per_kilo


def total_grams(items):
    return sum(to_grams(amount, unit) for amount, unit in items)


def cheapest(offers):
    best = None
    for name, price, amount, unit in offers:
        per_kilo = price_per_kilo(price, amount, unit)
        if best is None or per_kilo < best[1]:
            best = (name, per_kilo)
    return best
";

fn project() -> Vec<(&'static str, &'static str)> {
    vec![
        ("README.md", "# inventory\n"),
        ("inventory/__init__.py", ""),
        ("inventory/units.py", UNITS_PY),
        ("inventory/pricing.py", PRICING_PY),
        ("inventory/stock.py", STOCK_PY),
    ]
}

async fn batch(stack: &crate::helpers::Stack, id: &str) -> Value {
    stack
        .client
        .get(stack.url(&format!("/api/batches/{id}")))
        .send()
        .await
        .expect("the api answers")
        .json()
        .await
        .expect("JSON")
}

/// A repository served by a git server of the test's own, seen through a stand-in GitHub whose
/// token the stack's session holds.
struct Served {
    git: GitServer,
    github: apis::MockApi,
    commits: Vec<String>,
}

async fn serve(stack: &crate::helpers::Stack, name: &str, files: &[(&str, &str)]) -> Served {
    let git = GitServer::start("x-access-token", GOOD_TOKEN).await;
    let commits = git.create_repo(name, &[files]);
    let github = apis::github_with_git(&git.base).await;
    let kept = stack
        .client
        .post(stack.url("/api/git/token"))
        .json(&json!({"forge": "github", "base_url": github.base, "token": GOOD_TOKEN}))
        .send()
        .await
        .expect("the api answers");
    assert_eq!(kept.status(), 200);
    Served {
        git,
        github,
        commits,
    }
}

/// A stack whose api may reach the loopback git server and stand-in forges.
async fn loopback_stack(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) -> crate::helpers::Stack {
    stack(
        pool_options,
        connect,
        StackOptions {
            loopback_forges: true,
            ..StackOptions::default()
        },
    )
    .await
}

/// `POST /api/batches` with `body`, which must be created; answers the batch.
async fn create_batch(stack: &crate::helpers::Stack, body: &Value) -> Value {
    let created = stack
        .client
        .post(stack.url("/api/batches"))
        .json(body)
        .send()
        .await
        .expect("the api answers");
    let status = created.status();
    let created: Value = created.json().await.expect("JSON");
    assert_eq!(status, 201, "{created}");
    created
}

/// Polls the batch until every file has ended; fails the test after `within`.
async fn finished_batch(stack: &crate::helpers::Stack, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let view = batch(stack, id).await;
        if view["status"] == "finished" {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "the batch did not finish: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_multi_module_project_gets_tests_that_pass_inside_it(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = loopback_stack(pool_options, connect).await;
    let Served {
        git,
        github,
        commits,
    } = serve(&stack, "acme/inventory", &project()).await;
    let created = create_batch(
        &stack,
        &json!({"repo": "acme/inventory", "path": "inventory", "model": "simulator"}),
    )
    .await;
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        created["files"].as_array().map(Vec::len),
        Some(3),
        "{created}"
    );

    // The same file alone cannot import its siblings.
    let alone = stack
        .submit(
            &stack.client,
            json!({"source": STOCK_PY, "filename": "inventory/stock.py", "model": "simulator"}),
        )
        .await;

    let view = finished_batch(&stack, &id, Duration::from_secs(300)).await;
    for file in view["files"].as_array().expect("files") {
        assert_eq!(file["status"], "succeeded", "{file}");
        let validation = &file["validation"];
        assert_eq!(validation["status"], "validated", "{file}");
        assert!(
            validation["coverage"]["lines_covered"].as_u64() > Some(0),
            "{file}"
        );
        let kept = validation["tests"]
            .as_array()
            .expect("verdicts")
            .iter()
            .filter(|test| test["kept"] == true)
            .count();
        assert!(kept > 0, "{file}");
    }
    let stock = view["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|file| file["path"] == "inventory/stock.py")
        .expect("stock.py's task");
    assert_eq!(stock["test_path"], "tests/test_stock.py");

    let alone = stack
        .wait_until_finished(&stack.client, &alone, Duration::from_secs(180))
        .await;
    let verdicts: Vec<&str> = alone["validation"]["tests"]
        .as_array()
        .expect("verdicts")
        .iter()
        .filter_map(|test| test["verdict"].as_str())
        .collect();
    assert!(
        !verdicts.is_empty() && verdicts.iter().all(|verdict| *verdict == "missing_module"),
        "alone, the file's tests cannot import its siblings: {alone}"
    );

    // Someone else unpacks the archive in a clone of the repository and runs the tests.
    let archive = stack
        .client
        .get(stack.url(&format!("/api/batches/{id}/archive")))
        .send()
        .await
        .expect("the api answers");
    assert_eq!(archive.status(), 200);
    let bytes = archive.bytes().await.expect("the archive");
    let clone = scratch("repository");
    by_hand(
        &clone,
        "git",
        &[
            "clone",
            "--quiet",
            &git.bare("acme/inventory").display().to_string(),
            ".",
        ],
    );
    let mut unpacked = Vec::new();
    let mut tarball = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_ref()));
    for entry in tarball.entries().expect("a tar.gz") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").display().to_string();
        let mut code = String::new();
        entry.read_to_string(&mut code).expect("text");
        let target = clone.join(&path);
        std::fs::create_dir_all(target.parent().expect("a folder")).expect("folders");
        std::fs::write(&target, code).expect("the test file");
        unpacked.push(path);
    }
    unpacked.sort();
    assert_eq!(
        unpacked,
        [
            "tests/test_pricing.py",
            "tests/test_stock.py",
            "tests/test_units.py"
        ]
    );
    let output = by_hand(
        &clone,
        "/usr/bin/python3",
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
    );
    assert!(output.contains("passed"), "{output}");
    assert!(!output.contains("failed"), "{output}");

    // The pull request: a new branch from the commit, main untouched.
    let opened = stack
        .client
        .post(stack.url(&format!("/api/batches/{id}/pull-request")))
        .json(&json!({}))
        .send()
        .await
        .expect("the api answers");
    let status = opened.status();
    let opened: Value = opened.json().await.expect("JSON");
    assert_eq!(status, 201, "{opened}");
    let branch = opened["branch"].as_str().expect("a branch");
    assert_eq!(
        git.in_bare("acme/inventory", &["rev-parse", "main"]).trim(),
        commits[0]
    );
    let listed = git.in_bare("acme/inventory", &["ls-tree", "-r", "--name-only", branch]);
    for path in &unpacked {
        assert!(
            listed.lines().any(|line| line == path),
            "{path} in {listed}"
        );
    }
    let pull = github
        .requests()
        .into_iter()
        .find(|request| request.method == "POST")
        .expect("the pull request");
    let description = pull.body.expect("a body")["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.contains("`inventory/stock.py` | `tests/test_stock.py` |"),
        "{description}"
    );
    let _ = std::fs::remove_dir_all(&clone);
    stack.stop().await;
}

/// With no model at all, the offline generator explores each file among the repository's files
/// and pins what its calls did: the pinned tests pass there too.
#[sqlx::test(migrations = false)]
async fn the_offline_generator_explores_a_repository_file_among_its_siblings(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = loopback_stack(pool_options, connect).await;
    let _served = serve(&stack, "acme/inventory", &project()).await;
    let created = create_batch(
        &stack,
        &json!({"repo": "acme/inventory", "path": "inventory/stock.py", "model": "offline"}),
    )
    .await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let view = finished_batch(&stack, &id, Duration::from_secs(180)).await;
    let file = &view["files"][0];
    assert_eq!(file["status"], "succeeded", "{file}");
    assert_eq!(file["validation"]["status"], "validated", "{file}");
    let passed = file["validation"]["tests"]
        .as_array()
        .expect("verdicts")
        .iter()
        .filter(|test| test["kept"] == true && test["verdict"] == "passed")
        .count();
    assert!(passed > 0, "{file}");
    stack.stop().await;
}

/// A batch over any repository on this machine, for a look at what a real project gets:
/// `AIUT_DEMO_REPOSITORY=<folder> AIUT_DEMO_PATH=<folder or file in it> cargo test -p
/// aiut-system-tests --test worker repository::a_real_project -- --ignored --nocapture`, with
/// `AIUT_DEMO_LANGUAGE` and `AIUT_DEMO_FRAMEWORK` to choose them (else they are detected).
/// The folder's text files are committed to a git server of the test's own and served through
/// the stand-in GitHub; the table of files, verdicts and coverage, the pull request's branch and
/// description, and the delivered tests run by hand in a clone are printed.
#[sqlx::test(migrations = false)]
#[ignore = "a look at a real project, given by AIUT_DEMO_REPOSITORY"]
#[allow(clippy::print_stdout, reason = "its table is printed for the reader")]
async fn a_real_project(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let Ok(folder) = std::env::var("AIUT_DEMO_REPOSITORY") else {
        panic!("set AIUT_DEMO_REPOSITORY to a folder holding a project");
    };
    let path = std::env::var("AIUT_DEMO_PATH").unwrap_or_default();
    let root = std::path::PathBuf::from(&folder);
    let mut files: Vec<(String, String)> = Vec::new();
    let mut folders = vec![root.clone()];
    while let Some(next) = folders.pop() {
        for entry in std::fs::read_dir(&next).expect("a folder").flatten() {
            let entry_path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "__pycache__" {
                continue;
            }
            if entry_path.is_dir() {
                folders.push(entry_path);
            } else if let Ok(text) = std::fs::read_to_string(&entry_path) {
                let relative = entry_path
                    .strip_prefix(&root)
                    .expect("inside")
                    .display()
                    .to_string();
                files.push((relative, text));
            }
        }
    }
    files.sort();
    let stack = stack(
        pool_options,
        connect,
        StackOptions {
            loopback_forges: true,
            max_queued_per_session: 100,
            concurrency: 8,
            ..StackOptions::default()
        },
    )
    .await;
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let Served {
        git,
        github,
        commits,
    } = serve(&stack, "demo/project", &borrowed).await;
    let started = Instant::now();
    let mut request = json!({"repo": "demo/project", "path": path, "model": "simulator"});
    for (variable, field) in [
        ("AIUT_DEMO_LANGUAGE", "language"),
        ("AIUT_DEMO_FRAMEWORK", "framework"),
    ] {
        if let Ok(value) = std::env::var(variable) {
            request[field] = json!(value);
        }
    }
    let created = create_batch(&stack, &request).await;
    let id = created["id"].as_str().expect("an id").to_owned();
    println!(
        "batch {id}: {} files from {} text files of {folder} at {}",
        created["files"].as_array().map_or(0, Vec::len),
        files.len(),
        &commits[0][..12]
    );
    for skipped in created["skipped"].as_array().into_iter().flatten() {
        println!("  skipped {}: {}", skipped["path"], skipped["reason"]);
    }
    let view = finished_batch(&stack, &id, Duration::from_secs(3600)).await;
    println!("finished in {:.0} s", started.elapsed().as_secs_f64());
    println!("| source | tests | status | kept / written | verdicts | lines | branches |");
    println!("|---|---|---|---|---|---|---|");
    for file in view["files"].as_array().expect("files") {
        let validation = &file["validation"];
        let tests = validation["tests"].as_array().cloned().unwrap_or_default();
        let mut verdicts: Vec<(String, usize)> = Vec::new();
        for test in &tests {
            let verdict = test["verdict"].as_str().unwrap_or("?").to_owned();
            match verdicts.iter_mut().find(|(known, _)| *known == verdict) {
                Some((_, count)) => *count += 1,
                None => verdicts.push((verdict, 1)),
            }
        }
        let coverage = &validation["coverage"];
        println!(
            "| `{}` | `{}` | {} | {} / {} | {} | {}/{} | {}/{} |",
            file["path"].as_str().unwrap_or(""),
            file["test_path"].as_str().unwrap_or(""),
            file["status"].as_str().unwrap_or(""),
            tests.iter().filter(|test| test["kept"] == true).count(),
            tests.len(),
            verdicts
                .iter()
                .map(|(verdict, count)| format!("{count} {verdict}"))
                .collect::<Vec<_>>()
                .join(", "),
            coverage["lines_covered"],
            coverage["lines_total"],
            coverage["branches_covered"],
            coverage["branches_total"],
        );
    }
    // Why the first file that delivered nothing failed, in the tool's own words.
    if let Some(failed) = view["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|file| file["status"] != "succeeded")
    {
        let reason = failed["validation"]["tests"][0]["reason"]
            .as_str()
            .or(failed["error"].as_str())
            .unwrap_or("");
        println!("why `{}` failed:", failed["path"].as_str().unwrap_or(""));
        for line in reason.lines().take(20) {
            println!("    {line}");
        }
    }
    // And one reason of each other verdict a test was left out for.
    let mut told: Vec<String> = Vec::new();
    for test in view["files"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|file| {
            file["validation"]["tests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
    {
        let verdict = test["verdict"].as_str().unwrap_or("").to_owned();
        if ["passed", "no_new_coverage"].contains(&verdict.as_str()) || told.contains(&verdict) {
            continue;
        }
        println!(
            "a test left out as {verdict}, `{}`:",
            test["unit"].as_str().unwrap_or("")
        );
        for line in test["reason"].as_str().unwrap_or("").lines().take(8) {
            println!("    {line}");
        }
        told.push(verdict);
    }
    let archive = stack
        .client
        .get(stack.url(&format!("/api/batches/{id}/archive")))
        .send()
        .await
        .expect("the api answers");
    if archive.status() == 200 {
        let bytes = archive.bytes().await.expect("the archive");
        let scratch_dir = scratch("demo");
        // A Go module is run by hand as Debian builds one offline: in GOPATH mode, at its module
        // path, with Debian's Go packages (testify among them) beside it.
        let go_module = files
            .iter()
            .find(|(path, _)| path == "go.mod")
            .and_then(|(_, text)| {
                text.lines()
                    .find_map(|line| line.strip_prefix("module "))
                    .map(|module| module.trim().trim_matches('"').to_owned())
            });
        let clone = match &go_module {
            Some(module) => scratch_dir.join("src").join(module),
            None => scratch_dir.clone(),
        };
        std::fs::create_dir_all(&clone).expect("the clone's folder");
        by_hand(
            &clone,
            "git",
            &[
                "clone",
                "--quiet",
                &git.bare("demo/project").display().to_string(),
                ".",
            ],
        );
        let mut tarball = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_ref()));
        tarball.unpack(&clone).expect("unpacked");
        let output = if go_module.is_some() {
            let gopath = format!("GOPATH={}:/usr/share/gocode", scratch_dir.display());
            let cache = format!("GOCACHE={}", scratch_dir.join(".cache").display());
            by_hand(
                &clone,
                "/usr/bin/env",
                &[
                    "GO111MODULE=off",
                    "GOFLAGS=",
                    &gopath,
                    &cache,
                    "/usr/bin/go",
                    "test",
                    "-count=1",
                    "-cover",
                    "./...",
                ],
            )
        } else {
            by_hand(
                &clone,
                "/usr/bin/python3",
                &["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            )
        };
        println!(
            "the tests run by hand in a clone with the archive unpacked: {}",
            output.lines().last().unwrap_or("")
        );
        let _ = std::fs::remove_dir_all(&scratch_dir);
    }
    let opened = stack
        .client
        .post(stack.url(&format!("/api/batches/{id}/pull-request")))
        .json(&json!({}))
        .send()
        .await
        .expect("the api answers");
    let opened: Value = opened.json().await.expect("JSON");
    println!("pull request: {opened}");
    if let Some(branch) = opened["branch"].as_str() {
        println!(
            "{}",
            git.in_bare(
                "demo/project",
                &["log", "--stat", "--format=%H %s", "-1", branch]
            )
        );
        if let Some(pull) = github.requests().into_iter().find(|r| r.method == "POST") {
            println!(
                "{}",
                pull.body.expect("a body")["body"].as_str().unwrap_or("")
            );
        }
    }
    stack.stop().await;
}
