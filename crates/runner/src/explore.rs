//! Exploring a source file: an explorer script (`crates/runner/explore/`, one per language) runs
//! in the sandbox, calls each unit with candidate inputs, keeps the calls that reach new lines and
//! branches, and reports what they returned or raised ([`domain::observed`]). The offline
//! generator writes its tests from that report.
//!
//! The explorer runs the user's code, so it runs only here, under the same sandbox and limits as
//! the tests; it writes its report after every unit, so a run a limit kills still reports the
//! units it finished.

use std::path::Path;
use std::time::{Duration, Instant};

use domain::Language;
use domain::observed::{Exploration, ExploreRequest};

use crate::lang::javascript::NODE_TOOLS;
use crate::lang::{python, relative_path, write_checkout, write_file};
use crate::sandbox::{Command, Limits, Sandbox};
use crate::{Runner, first_line};

/// The Python explorer: standard library only, so it runs wherever the tests do.
const PYTHON_EXPLORER: &str = include_str!("../explore/python.py");
/// The JavaScript and TypeScript explorer: node's built-ins only.
const JAVASCRIPT_EXPLORER: &str = include_str!("../explore/javascript.mjs");

/// Where the explorer, its request and its report sit inside the work directory.
const FOLDER: &str = ".aiut-explore";

/// Seconds the sandbox allows beyond the explorer's own budget: start-up, import, the last call.
const MARGIN_SECS: u64 = 15;

/// The source to explore and what to ask of it.
#[derive(Debug, Clone, Copy)]
pub struct ExploreJob<'a> {
    pub language: Language,
    pub source_file_name: &'a str,
    pub source: &'a str,
    pub request: &'a ExploreRequest,
    /// The repository's files the source is explored among (its imports of siblings resolve).
    pub checkout: Option<&'a domain::Checkout>,
}

/// What exploring found, and what it cost.
#[derive(Debug, Clone)]
pub struct ExploreReport {
    /// The explorer's report, or why there is none.
    pub exploration: Result<Exploration, String>,
    /// Time waiting for a run slot, and in all.
    pub queued: Duration,
    pub total: Duration,
}

/// Whether `language` has an explorer.
pub fn explorable(language: Language) -> bool {
    explorer(language).is_some()
}

/// The explorer's script and file name for `language`.
fn explorer(language: Language) -> Option<(&'static str, &'static str)> {
    match language {
        Language::Python => Some((PYTHON_EXPLORER, "explore.py")),
        Language::Javascript | Language::Typescript => Some((JAVASCRIPT_EXPLORER, "explore.mjs")),
        _ => None,
    }
}

impl Runner {
    /// Runs `job`'s explorer in the sandbox, within the request's budget.
    pub async fn explore(&self, job: &ExploreJob<'_>) -> ExploreReport {
        let started = Instant::now();
        let failed = |reason: String| ExploreReport {
            exploration: Err(reason),
            queued: Duration::ZERO,
            total: started.elapsed(),
        };
        let Some((script, script_name)) = explorer(job.language) else {
            return failed(format!(
                "{} code cannot be explored here",
                job.language.display_name()
            ));
        };
        let sandbox = match &self.sandbox {
            Ok(sandbox) => sandbox.clone(),
            Err(reason) => return failed(format!("no sandbox ({reason})")),
        };
        let Some(slot) = self.slot().await else {
            return failed("the runner is shutting down".to_owned());
        };
        let queued = started.elapsed();
        let exploration = match self.work_dir() {
            Ok(dir) => {
                explore_in(
                    sandbox.as_ref(),
                    job,
                    script,
                    script_name,
                    dir.path(),
                    &self.settings.limits,
                )
                .await
            }
            Err(error) => Err(format!("no work directory ({error})")),
        };
        drop(slot);
        ExploreReport {
            exploration,
            queued,
            total: started.elapsed(),
        }
    }
}

async fn explore_in(
    sandbox: &dyn Sandbox,
    job: &ExploreJob<'_>,
    script: &str,
    script_name: &str,
    dir: &Path,
    limits: &Limits,
) -> Result<Exploration, String> {
    let written = |error: std::io::Error| format!("the files could not be written ({error})");
    let mut request = job.request.clone();
    // Python imports the file by its dotted path, so it keeps its folders; node's tests sit
    // beside the file and import it by its base name, except among its repository's files,
    // where it keeps its place.
    let python_path = match job.checkout {
        Some(checkout) => {
            write_checkout(checkout, dir);
            python::module_path(checkout)
        }
        None => "/work",
    };
    request.source = match job.language {
        _ if job.checkout.is_some() => relative_path(job.source_file_name)
            .map_err(written)?
            .display()
            .to_string(),
        Language::Python => relative_path(job.source_file_name)
            .map_err(written)?
            .display()
            .to_string(),
        _ => crate::lang::plain_name(job.source_file_name)
            .map_err(written)?
            .to_owned(),
    };
    write_file(dir, &request.source, job.source).map_err(written)?;
    let folder = dir.join(FOLDER);
    std::fs::create_dir_all(&folder).map_err(written)?;
    std::fs::write(folder.join(script_name), script).map_err(written)?;
    let request_text = serde_json::to_string(&request).map_err(|error| error.to_string())?;
    std::fs::write(folder.join("request.json"), request_text).map_err(written)?;
    sandbox
        .hand_over(dir)
        .map_err(|error| format!("the work directory could not be handed over ({error})"))?;

    let inside = format!("/work/{FOLDER}");
    let arguments = format!("{inside}/{script_name} {inside}/request.json {inside}/result.json");
    let command = match job.language {
        Language::Python => Command::shell(format!("/usr/bin/python3 {arguments}"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONPATH", python_path),
        _ => {
            let loader = if job.language == Language::Typescript
                || request.source.ends_with(".jsx")
                || request.source.ends_with(".tsx")
            {
                format!("--import {NODE_TOOLS}/tsx/dist/loader.mjs ")
            } else {
                String::new()
            };
            Command::shell(format!("/usr/bin/node {loader}{arguments}"))
                .env("NODE_ENV", "test")
                .no_address_space_limit()
        }
    };
    let budget_secs = request.budget_ms.div_ceil(1000);
    let limits = Limits {
        wall_secs: limits.wall_secs.min(budget_secs + MARGIN_SECS),
        cpu_secs: limits.cpu_secs.min(budget_secs + MARGIN_SECS),
        ..limits.clone()
    };
    let execution = sandbox
        .execute(&command, dir, &limits)
        .await
        .map_err(|error| error.to_string())?;
    // The report is written after every unit: what a killed run finished still counts.
    match std::fs::read_to_string(folder.join("result.json")) {
        Ok(text) => serde_json::from_str::<Exploration>(&text)
            .map_err(|error| format!("the explorer's report does not read ({error})")),
        Err(_) => Err(match execution.limit {
            Some(limit) => format!("the explorer was stopped by {limit} before its first report"),
            None => format!(
                "the explorer ended without a report ({})",
                first_line(&execution.output)
            ),
        }),
    }
}
