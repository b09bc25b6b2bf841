//! One attempt at one task: parse, ask for each unit's tests, check them, assemble the file.
//!
//! The pipeline publishes the events of the work itself (`parsing_completed`, `generating`,
//! `result`, `warning`); the runner publishes `started` and the ending, after the database has it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::TryStreamExt;

use codegen::prompt::Feedback;
use codegen::scaffold::Flavor;
use codegen::{Syntax, Target, Unit};
use domain::observed::Exploration;
use domain::{
    EventKind, ModelId, ModelKind, Progress, Validation, ValidationMode, ValidationStatus, Verdict,
};
use runner::{ExploreJob, Job, RunReport, Runner};
use serde_json::json;
use service::sections::ValidationSettings;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::events::Publisher;
use crate::metrics::Metrics;
use crate::progress::ProgressBook;
use crate::provider::{CallReport, Models, ProviderError};
use crate::validation::{self, Candidate, Checking, UnitCheck};
use store::queue::ClaimedTask;

/// Why a running task was stopped from outside its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `DELETE /api/tasks/{id}`.
    CancelRequested,
    /// Another worker holds the task now.
    LeaseLost,
    /// This worker is shutting down and its grace period ran out.
    Shutdown,
}

/// A running task's off switch, and why it was thrown.
#[derive(Debug, Default)]
pub struct TaskControl {
    token: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl TaskControl {
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Stops the task; the first reason given is the one that counts.
    pub fn stop(&self, reason: StopReason) {
        if let Ok(mut slot) = self.reason.lock() {
            slot.get_or_insert(reason);
        }
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason.lock().ok().and_then(|slot| *slot)
    }
}

/// The assembled result of an attempt.
#[derive(Debug, Clone)]
pub struct Generated {
    pub file_name: String,
    pub code: String,
    /// Per unit: name, kind, container, lines and its tests.
    pub units: serde_json::Value,
    pub warnings: serde_json::Value,
    pub tests: u32,
    pub total_units: u32,
    pub model_used: ModelId,
    /// What running the tests found, or why they were not run.
    pub validation: Validation,
}

/// How an attempt ended without a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// Another attempt cannot do better.
    Fatal { code: &'static str, message: String },
    /// Another attempt may succeed (the model kept failing).
    Retryable { code: &'static str, message: String },
    /// Every unit's tests were run and none passed: the task fails, with the verdicts kept.
    NothingPassed {
        message: String,
        validation: Box<Validation>,
    },
    /// The control was thrown; its reason says why.
    Stopped,
}

/// What the units of one task share while they are written side by side.
struct UnitContext<'a> {
    target: &'a Target<'a>,
    offline: bool,
    /// What running the units showed, for the offline generator's pinned tests.
    explored: Option<&'a Exploration>,
    checking: &'a Checking,
    total: u32,
    /// Units finished so far, for the progress of each event.
    done: AtomicU32,
    /// Held while a unit's event is published, so that events leave in the order of their counts.
    publishing: tokio::sync::Mutex<()>,
    /// Retries and tokens of every unit's model calls, answered or not.
    spent: Mutex<CallReport>,
}

/// One unit's outcome: its tests, or why it was left out, and the model that answered.
struct UnitOutcome<'u> {
    unit: &'u Unit,
    name: String,
    code: Result<String, String>,
    model_used: Option<ModelId>,
    /// What running the tests found, when they were run.
    check: Option<UnitCheck>,
}

/// What the model is told about the tests it wrote last.
struct RunFeedback {
    tests: String,
    what: String,
    output: String,
}

pub struct Pipeline<'a> {
    pub task: &'a ClaimedTask,
    /// Units of this task written at once.
    pub unit_concurrency: usize,
    pub models: &'a Models,
    pub publisher: &'a Publisher,
    pub metrics: &'a Metrics,
    pub control: &'a TaskControl,
    pub runner: &'a Runner,
    pub validation: &'a ValidationSettings,
    /// Where the units done so far are noted, to be written on the task's row under this
    /// worker's lease, so that `GET /api/tasks/{id}`, heartbeats and clients without Redis see
    /// the task progress.
    pub progress: &'a ProgressBook,
    /// For a task of a repository batch: where its tests go, and the repository's files they run
    /// among.
    pub in_repository: Option<RepositoryRun<'a>>,
}

/// A task's tests run in its repository.
#[derive(Clone, Copy)]
pub struct RepositoryRun<'a> {
    pub test_path: &'a str,
    pub checkout: &'a domain::Checkout,
}

impl Pipeline<'_> {
    pub async fn run(&self, report: &mut CallReport) -> Result<Generated, Halt> {
        let task = self.task;
        let target = Target {
            language: task.language,
            framework: task.framework,
            file_name: &task.file_name,
            source: &task.source,
        };
        let units = self.parse(&target).await?;
        let total = u32::try_from(units.len()).unwrap_or(u32::MAX);
        self.record_progress(0, total);
        self.publish(
            progress(0, total),
            EventKind::ParsingCompleted {
                units: units.iter().map(Unit::summary).collect(),
            },
        )
        .await;

        let spec = self.models.spec(&task.model).ok_or_else(|| Halt::Fatal {
            code: "unknown_model",
            message: format!("model `{}` is not in this worker's registry", task.model),
        })?;
        let offline = spec.kind == ModelKind::Offline;
        let explored = if offline {
            self.explore(&target, &units).await?
        } else {
            Err(String::new())
        };
        let checking = self.checking(offline, explored.as_ref().err()).await;
        let context = UnitContext {
            target: &target,
            offline,
            explored: explored.as_ref().ok(),
            checking: &checking,
            total,
            done: AtomicU32::new(0),
            publishing: tokio::sync::Mutex::new(()),
            spent: Mutex::new(CallReport::default()),
        };
        // Units are written side by side, up to `unit_concurrency` of a task at once (the
        // model's own limit still applies); the outcomes come back in source order, and the
        // first halt stops the units still running.
        // Made up front, so the stream's type does not hold a closure over borrowed units.
        let pending: Vec<_> = units
            .iter()
            .map(|unit| Ok::<_, Halt>(self.generate_unit(&context, unit)))
            .collect();
        let collected: Result<Vec<UnitOutcome<'_>>, Halt> = futures::stream::iter(pending)
            .try_buffered(self.unit_concurrency.max(1))
            .try_collect()
            .await;
        // What the model calls cost counts whether the task goes on or halts here.
        if let Ok(spent) = context.spent.lock() {
            report.add(&spent);
        }
        let mut outcomes = collected?;

        let mut model_used = task.model.clone();
        for outcome in &outcomes {
            if let Some(model) = &outcome.model_used {
                model_used = model.clone();
            }
        }
        let mut delivered = match &checking {
            Checking::Skip(validation) => Delivery::unchecked(&outcomes, validation.clone()),
            Checking::Run if context.explored.is_some() => {
                match self.pinned_as_one(&target, &outcomes, total).await? {
                    Some(delivered) => delivered,
                    None => {
                        self.check_each(&context, &mut outcomes).await?;
                        self.choose(&target, &outcomes, total).await?
                    }
                }
            }
            Checking::Run => self.choose(&target, &outcomes, total).await?,
        };
        if delivered.pieces.is_empty() {
            if let Some(reports) = delivered.reports {
                return Err(Halt::NothingPassed {
                    message: validation::nothing_passed(&reports),
                    validation: Box::new(Validation {
                        status: ValidationStatus::Failed,
                        reason: Some("no test passed when run".to_owned()),
                        tool: None,
                        tests: reports,
                        coverage: None,
                        runs: delivered.runs,
                    }),
                });
            }
            return Err(Halt::Fatal {
                code: "no_valid_tests",
                message: format!(
                    "none of the {total} units got tests that parse as {}",
                    target.language.display_name()
                ),
            });
        }
        let pinned = context.explored.is_some();
        let mut assembled = assemble_file(&target, &delivered.pieces, pinned)?;
        let validation = match delivered.reports.take() {
            Some(mut reports) => {
                let mut whole = match delivered.whole.take() {
                    Some(whole) => whole,
                    None => {
                        self.run_whole(
                            &target,
                            &assembled.file_name,
                            &assembled.code,
                            self.validation.reruns,
                            total,
                        )
                        .await?
                    }
                };
                let mut runs = delivered.runs + whole.commands;
                if validation::verdict_of(&whole) != Verdict::Passed {
                    let (dropped, spent) = self
                        .settle(&target, &mut delivered, &mut reports, total)
                        .await?;
                    runs += spent;
                    if dropped > 0 && !delivered.pieces.is_empty() {
                        assembled = assemble_file(&target, &delivered.pieces, pinned)?;
                        whole = self
                            .run_whole(
                                &target,
                                &assembled.file_name,
                                &assembled.code,
                                self.validation.reruns,
                                total,
                            )
                            .await?;
                        runs += whole.commands;
                    }
                }
                if delivered.pieces.is_empty() {
                    return Err(Halt::NothingPassed {
                        message: validation::nothing_passed(&reports),
                        validation: Box::new(Validation {
                            status: ValidationStatus::Failed,
                            reason: Some(
                                "every test that passed on its own failed when run again"
                                    .to_owned(),
                            ),
                            tool: whole.tool.map(str::to_owned),
                            tests: reports,
                            coverage: None,
                            runs,
                        }),
                    });
                }
                let validation = validation::validated(reports, &whole, runs);
                if let Some(coverage) = &validation.coverage {
                    self.metrics
                        .delivered_coverage(target.language, validation::line_ratio(coverage));
                }
                validation
            }
            None => delivered.validation,
        };
        let tests = u32::try_from(delivered.pieces.len()).unwrap_or(u32::MAX);
        self.publish(
            progress(total, total),
            EventKind::Coverage {
                status: validation.status,
                reason: validation.reason.clone(),
                coverage: validation.coverage.clone(),
            },
        )
        .await;
        Ok(Generated {
            file_name: assembled.file_name,
            code: assembled.code,
            units: serde_json::Value::Array(delivered.unit_results),
            warnings: serde_json::Value::Array(delivered.warnings),
            tests,
            total_units: total,
            model_used,
            validation,
        })
    }

    /// After the delivered file failed as a whole: each kept unit's tests are run alone
    /// [`SETTLE_RUNS_PER_RERUN`] times as often as before, and those that fail now are left out
    /// as flaky (a test that passed its first runs by chance). Returns how many were left out and
    /// the sandboxed commands spent.
    async fn settle(
        &self,
        target: &Target<'_>,
        delivered: &mut Delivery,
        reports: &mut [domain::TestReport],
        total: u32,
    ) -> Result<(usize, u32), Halt> {
        let reruns = self.validation.reruns.max(1) * SETTLE_RUNS_PER_RERUN;
        let test_file_name = target.test_file_name();
        let mut spent = 0;
        let mut failing = Vec::new();
        for (index, code) in delivered.pieces.iter().enumerate() {
            let run = self
                .run_tests(target, &test_file_name, code, reruns)
                .await?;
            spent += run.commands;
            if validation::verdict_of(&run) != Verdict::Passed {
                failing.push((index, run));
            }
        }
        let dropped = failing.len();
        for (index, run) in failing.into_iter().rev() {
            delivered.pieces.remove(index);
            let result = delivered.unit_results.remove(index);
            let unit = result["name"].as_str().unwrap_or_default();
            let Some(report) = reports
                .iter_mut()
                .find(|report| report.kept && report.unit == unit)
            else {
                continue;
            };
            validation::left_out_when_run_again(report, &run);
            tracing::info!(task_id = %self.task.id, unit, "a kept test failed when run again and is left out");
            delivered
                .warnings
                .push(left_out_warning(&report.unit, report));
            self.publish(
                progress(total, total),
                EventKind::TestResult {
                    unit: report.unit.clone(),
                    verdict: report.verdict,
                    kept: false,
                    reason: report.reason.clone(),
                    added_lines: 0,
                },
            )
            .await;
        }
        Ok((dropped, spent))
    }

    /// Whether this task's tests are run, decided before any unit is written. `unexplored` is
    /// why an offline task's code could not be explored (so it gets skipped scaffolds).
    async fn checking(&self, offline: bool, unexplored: Option<&String>) -> Checking {
        let task = self.task;
        if task.validate == ValidationMode::Syntax {
            return Checking::Skip(Validation::syntax_only());
        }
        if offline && let Some(reason) = unexplored {
            return Checking::Skip(Validation::not_run(format!(
                "not run: offline scaffolds are skipped by design until their placeholders are filled in ({reason})"
            )));
        }
        match self.runner.unavailable(task.language, task.framework).await {
            Some(reason) => {
                // Counted as a run that did not happen, so "nothing runs here" shows on the
                // dashboards and alerts.
                self.metrics.runner_not_run(task.language);
                Checking::Skip(Validation::not_run(reason))
            }
            None => Checking::Run,
        }
    }

    /// The offline generator's first step: the units run in the sandbox with candidate inputs.
    /// `Err` says why there is nothing to write pinned tests from (the task then gets skipped
    /// scaffolds); a stop halts.
    async fn explore(
        &self,
        target: &Target<'_>,
        units: &[Unit],
    ) -> Result<Result<Exploration, String>, Halt> {
        if !codegen::pinned::supported(target.language) || !runner::explorable(target.language) {
            return Ok(Err(format!(
                "the offline generator does not run {} code yet",
                target.language.display_name()
            )));
        }
        if let Err(reason) = self.runner.sandbox() {
            return Ok(Err(format!("no sandbox to run the code in: {reason}")));
        }
        let settings = self.validation;
        let request = codegen::pinned::explore_request(
            target,
            units,
            settings.explore_secs.saturating_mul(1000),
            settings.explore_call_timeout_ms,
            settings.explore_cases_per_unit,
        );
        let job = ExploreJob {
            language: target.language,
            source_file_name: target.file_name.as_str(),
            source: target.source,
            request: &request,
            checkout: self.in_repository.map(|run| run.checkout),
        };
        self.publish(
            progress(0, u32::try_from(units.len()).unwrap_or(u32::MAX)),
            EventKind::Validating {
                unit: target.file_name.as_str().to_owned(),
                round: 0,
            },
        )
        .await;
        let report = tokio::select! {
            report = self.runner.explore(&job) => report,
            () = self.control.token().cancelled() => return Err(Halt::Stopped),
        };
        self.metrics.explored(target.language, &report);
        let exploration = report.exploration.and_then(|exploration| {
            if !exploration.imported {
                return Err(format!(
                    "the source could not be imported: {}",
                    exploration.error.as_deref().unwrap_or("no reason given")
                ));
            }
            if exploration.cases() == 0 {
                return Err(
                    "no call of any unit returned or raised within the time allowed".to_owned(),
                );
            }
            Ok(exploration)
        });
        match &exploration {
            Ok(found) => {
                tracing::info!(task_id = %self.task.id, cases = found.cases(), seconds = report.total.as_secs_f64(), "code explored")
            }
            Err(reason) => tracing::info!(task_id = %self.task.id, %reason, "code not explored"),
        }
        Ok(exploration)
    }

    /// The tests that are delivered, in source order, after every unit's tests were run.
    async fn choose<'u>(
        &self,
        target: &Target<'_>,
        outcomes: &[UnitOutcome<'u>],
        total: u32,
    ) -> Result<Delivery, Halt> {
        let checked: Vec<(&UnitOutcome<'u>, &UnitCheck)> = outcomes
            .iter()
            .filter_map(|outcome| Some((outcome, outcome.check.as_ref()?)))
            .collect();
        let candidates: Vec<Candidate<'_>> = checked
            .iter()
            .map(|(outcome, check)| Candidate {
                unit: &outcome.name,
                check,
            })
            .collect();
        let reports = validation::select(&candidates, self.task.keep);
        let mut delivery = Delivery {
            runs: checked.iter().map(|(_, check)| check.runs).sum(),
            ..Delivery::default()
        };
        for ((outcome, _), report) in checked.iter().zip(&reports) {
            self.metrics.test_verdict(
                target.language,
                &self.task.model,
                report.verdict,
                report.kept,
                report.rounds,
            );
            self.publish(
                progress(total, total),
                EventKind::TestResult {
                    unit: report.unit.clone(),
                    verdict: report.verdict,
                    kept: report.kept,
                    reason: report.reason.clone(),
                    added_lines: u32::try_from(report.added_lines.len()).unwrap_or(u32::MAX),
                },
            )
            .await;
            let Ok(code) = &outcome.code else {
                continue;
            };
            if report.kept {
                delivery
                    .unit_results
                    .push(unit_result(outcome, code, Some(report.verdict)));
                delivery.pieces.push(code.clone());
            } else {
                delivery
                    .warnings
                    .push(left_out_warning(&outcome.name, report));
            }
        }
        for outcome in outcomes {
            if let Err(message) = &outcome.code {
                delivery
                    .warnings
                    .push(json!({ "unit": outcome.name, "message": message }));
            }
        }
        if delivery.pieces.is_empty()
            && let Some(missing) = reports
                .iter()
                .find(|report| report.verdict == Verdict::MissingModule)
        {
            // The source cannot run here: the tests are delivered as written, for the user to
            // run where the module exists, and the task says they were not run.
            let reason = missing.reason.clone().unwrap_or_else(|| {
                "could not run: a module the source needs is missing".to_owned()
            });
            return Ok(Delivery::unchecked(
                outcomes,
                Validation {
                    tests: reports,
                    ..Validation::not_run(reason)
                },
            ));
        }
        delivery.reports = Some(reports);
        Ok(delivery)
    }

    /// Runs the assembled file (`validating`, named by its file name).
    async fn run_whole(
        &self,
        target: &Target<'_>,
        file_name: &str,
        code: &str,
        reruns: u32,
        total: u32,
    ) -> Result<RunReport, Halt> {
        self.publish(
            progress(total, total),
            EventKind::Validating {
                unit: file_name.to_owned(),
                round: 1,
            },
        )
        .await;
        self.run_tests(target, file_name, code, reruns).await
    }

    /// Runs a test file against the task's source, unless the task is stopped meanwhile.
    async fn run_tests(
        &self,
        target: &Target<'_>,
        test_file_name: &str,
        code: &str,
        reruns: u32,
    ) -> Result<RunReport, Halt> {
        // In a repository, the tests go where its conventions put them, among its files.
        let (test_file_name, checkout) = match self.in_repository {
            Some(run) => (run.test_path, Some(run.checkout)),
            None => (test_file_name, None),
        };
        let job = Job {
            language: target.language,
            framework: target.framework,
            source_file_name: target.file_name.as_str(),
            source: target.source,
            test_file_name,
            test_code: code,
            checkout,
        };
        self.metrics.runner_state(self.runner);
        let run = tokio::select! {
            report = self.runner.run(&job, reruns) => report,
            () = self.control.token().cancelled() => return Err(Halt::Stopped),
        };
        self.metrics.runner_run(target.language, &run, self.runner);
        Ok(run)
    }

    /// One unit: `generating`, then its tests (`result`) or the reason it is left out (`warning`).
    async fn generate_unit<'u>(
        &self,
        context: &UnitContext<'_>,
        unit: &'u Unit,
    ) -> Result<UnitOutcome<'u>, Halt> {
        let target = context.target;
        let name = unit.qualified_name(codegen::name_separator(target.language));
        self.publish_unit_event(context, EventKind::Generating { unit: name.clone() })
            .await;
        let mut report = CallReport::default();
        let mut model_used = None;
        let mut check = None;
        let code = if let Some(explored) = context.explored {
            Pipeline::pin(context, unit, &name, explored)
        } else if context.offline {
            Ok(codegen::scaffold::unit_tests(
                target,
                unit,
                Flavor::Scaffold,
            ))
        } else {
            let written = self
                .write_and_run(context, unit, &name, &mut report, &mut model_used)
                .await;
            if let Ok(mut spent) = context.spent.lock() {
                spent.add(&report);
            }
            let (code, checked) = written?;
            check = checked;
            code
        };
        context.done.fetch_add(1, Ordering::Relaxed);
        let event = match &code {
            Ok(code) => EventKind::Result {
                unit: name.clone(),
                code: code.clone(),
            },
            Err(message) => {
                self.metrics.unit_dropped();
                EventKind::Warning {
                    message: message.clone(),
                    unit: Some(name.clone()),
                }
            }
        };
        self.publish_unit_event(context, event).await;
        Ok(UnitOutcome {
            unit,
            name,
            code,
            model_used,
            check,
        })
    }

    /// A unit's tests from the model, and when the task's tests are run, the rounds of running
    /// them and telling the model what failed, until they pass or the rounds run out.
    async fn write_and_run(
        &self,
        context: &UnitContext<'_>,
        unit: &Unit,
        name: &str,
        report: &mut CallReport,
        model_used: &mut Option<ModelId>,
    ) -> Result<(Result<String, String>, Option<UnitCheck>), Halt> {
        let target = context.target;
        let rounds = self.validation.max_rounds.max(1);
        let mut feedback: Option<RunFeedback> = None;
        let mut last: Option<(String, UnitCheck)> = None;
        let mut runs = 0;
        for round in 1..=rounds {
            let asked = self
                .ask_for_unit(target, unit, feedback.as_ref(), report, model_used)
                .await?;
            let code = match asked {
                Ok(code) => code,
                // An answer that does not parse after a round of feedback: the last answer that
                // did parse (and its verdict) stands.
                Err(message) => {
                    return Ok(match last {
                        Some((code, check)) => (Ok(code), Some(check)),
                        None => (Err(message), None),
                    });
                }
            };
            if !matches!(context.checking, Checking::Run) {
                return Ok((Ok(code), None));
            }
            let (check, run) = self.check_unit(context, name, &code, round, runs).await?;
            runs = check.runs;
            let what = validation::feedback_for(&run);
            tracing::info!(task_id = %self.task.id, unit = %unit.name, round, verdict = %check.verdict, "tests run");
            match what {
                Some(what) if round < rounds => {
                    feedback = Some(RunFeedback {
                        tests: code.clone(),
                        what,
                        output: run.output.clone(),
                    });
                    last = Some((code, check));
                }
                _ => return Ok((Ok(code), Some(check))),
            }
        }
        Ok(match last {
            Some((code, check)) => (Ok(code), Some(check)),
            None => (
                Err(format!("no tests were written for `{}`", unit.name)),
                None,
            ),
        })
    }

    /// Runs one unit's tests (`validating`), with `runs_before` sandboxed runs already spent on
    /// the unit.
    async fn check_unit(
        &self,
        context: &UnitContext<'_>,
        name: &str,
        code: &str,
        round: u32,
        runs_before: u32,
    ) -> Result<(UnitCheck, RunReport), Halt> {
        let target = context.target;
        self.publish_unit_event(
            context,
            EventKind::Validating {
                unit: name.to_owned(),
                round,
            },
        )
        .await;
        let test_file_name = target.test_file_name();
        let run = self
            .run_tests(target, &test_file_name, code, self.validation.reruns)
            .await?;
        let check = UnitCheck {
            runs: runs_before + run.commands,
            verdict: validation::verdict_of(&run),
            rounds: round,
            reruns: run.reruns,
            rerun_passes: run.rerun_passes,
            reason: validation::reason_of(&run),
            coverage: run.coverage.clone(),
            has_assertion: codegen::has_assertion(target.language, code),
        };
        Ok((check, run))
    }

    /// The offline generator's tests of one unit: its observed calls pinned. A unit no call
    /// reached is left out, with the explorer's reason. They are run later, all in one file first
    /// ([`Pipeline::pinned_as_one`]).
    fn pin(
        context: &UnitContext<'_>,
        unit: &Unit,
        name: &str,
        explored: &Exploration,
    ) -> Result<String, String> {
        let found = explored.unit(&unit.name, unit.container.as_deref());
        let cases = found
            .map(|found| found.cases.as_slice())
            .unwrap_or_default();
        codegen::pinned::unit_tests(context.target, unit, cases).ok_or_else(|| {
            let why = found
                .and_then(|found| found.note.clone())
                .unwrap_or_else(|| {
                    "no call of it returned or raised in the time allowed".to_owned()
                });
            format!("no test for `{name}`: {why}")
        })
    }

    /// Pinned tests come from calls already replayed in the sandbox, so they are run as one file
    /// first: when it passes every run, every unit's tests are kept and that run is the task's.
    /// `None` sends them through the usual way, unit by unit.
    async fn pinned_as_one(
        &self,
        target: &Target<'_>,
        outcomes: &[UnitOutcome<'_>],
        total: u32,
    ) -> Result<Option<Delivery>, Halt> {
        let pieces: Vec<String> = outcomes
            .iter()
            .filter_map(|outcome| outcome.code.clone().ok())
            .collect();
        let Ok(assembled) = codegen::assemble::assemble(target, &pieces) else {
            return Ok(None);
        };
        let code = codegen::pinned::header(target.language) + &assembled.code;
        let whole = self
            .run_whole(
                target,
                &assembled.file_name,
                &code,
                self.validation.reruns,
                total,
            )
            .await?;
        if validation::verdict_of(&whole) != Verdict::Passed {
            tracing::info!(task_id = %self.task.id, verdict = %validation::verdict_of(&whole), "pinned tests run unit by unit");
            return Ok(None);
        }
        let mut delivery = Delivery {
            runs: whole.commands,
            ..Delivery::default()
        };
        let mut reports = Vec::new();
        for outcome in outcomes {
            let code = match &outcome.code {
                Ok(code) => code,
                Err(message) => {
                    delivery
                        .warnings
                        .push(json!({ "unit": outcome.name, "message": message }));
                    continue;
                }
            };
            let report = domain::TestReport {
                unit: outcome.name.clone(),
                verdict: Verdict::Passed,
                kept: true,
                rounds: 1,
                reruns: whole.reruns,
                rerun_passes: whole.rerun_passes,
                reason: None,
                added_lines: Vec::new(),
                added_branches: 0,
                has_assertion: codegen::has_assertion(target.language, code),
            };
            self.metrics
                .test_verdict(target.language, &self.task.model, Verdict::Passed, true, 1);
            self.publish(
                progress(total, total),
                EventKind::TestResult {
                    unit: report.unit.clone(),
                    verdict: Verdict::Passed,
                    kept: true,
                    reason: None,
                    added_lines: 0,
                },
            )
            .await;
            delivery
                .unit_results
                .push(unit_result(outcome, code, Some(Verdict::Passed)));
            delivery.pieces.push(code.clone());
            reports.push(report);
        }
        delivery.reports = Some(reports);
        // The run just made is the delivered file's: it is not run again.
        delivery.runs = 0;
        delivery.whole = Some(whole);
        Ok(Some(delivery))
    }

    /// Runs each unit's tests on its own, for the units not run yet.
    async fn check_each(
        &self,
        context: &UnitContext<'_>,
        outcomes: &mut [UnitOutcome<'_>],
    ) -> Result<(), Halt> {
        for outcome in outcomes.iter_mut() {
            if outcome.check.is_some() {
                continue;
            }
            if let Ok(code) = &outcome.code {
                let (check, _) = self.check_unit(context, &outcome.name, code, 1, 0).await?;
                outcome.check = Some(check);
            }
        }
        Ok(())
    }

    async fn parse(&self, target: &Target<'_>) -> Result<Vec<Unit>, Halt> {
        let syntax = target.source_syntax();
        let source = self.task.source.clone();
        let parsed = tokio::task::spawn_blocking(move || codegen::parse_units(syntax, &source))
            .await
            .map_err(|error| Halt::Retryable {
                code: "parser_crashed",
                message: format!("the parser stopped: {error}"),
            })?;
        parsed.map_err(|error| Halt::Fatal {
            code: "no_testable_unit",
            message: error.to_string(),
        })
    }

    /// The unit's tests from the model: `Ok(Ok(code))`, or `Ok(Err(why))` when the answers did not
    /// parse even after one retry with the parse errors in the prompt (the unit is dropped with a
    /// warning), or a halt for the whole task.
    async fn ask_for_unit(
        &self,
        target: &Target<'_>,
        unit: &Unit,
        run_feedback: Option<&RunFeedback>,
        report: &mut CallReport,
        model_used: &mut Option<ModelId>,
    ) -> Result<Result<String, String>, Halt> {
        let test_syntax: Syntax = target.test_syntax();
        let mut previous_issues: Option<String> = None;
        for round in 0..2 {
            let feedback = match (&previous_issues, run_feedback) {
                (Some(issues), _) => Some(Feedback::Syntax(issues)),
                (None, Some(run)) => Some(Feedback::Run {
                    tests: &run.tests,
                    what: &run.what,
                    output: &run.output,
                }),
                (None, None) => None,
            };
            let prompt = codegen::prompt::for_unit(target, unit, feedback.as_ref());
            let asking = tracing::info_span!("model.ask", unit = %unit.name, round);
            let (answer, model) = self
                .models
                .ask(&self.task.model, &prompt, self.control.token(), report)
                .instrument(asking)
                .await
                .map_err(|error| match error {
                    ProviderError::Cancelled => Halt::Stopped,
                    ProviderError::Fatal { code, message } => Halt::Fatal { code, message },
                    ProviderError::Retryable { message, .. } => Halt::Retryable {
                        code: "model_unavailable",
                        message,
                    },
                })?;
            *model_used = Some(model);
            let Some(code) = codegen::extract::code_from_answer(&answer.text, target.language)
            else {
                previous_issues = Some("the answer contained no code".to_owned());
                continue;
            };
            let issues = codegen::syntax_issues(test_syntax, &code);
            if issues.is_empty() {
                return Ok(Ok(code));
            }
            let listed: Vec<String> = issues.iter().map(ToString::to_string).collect();
            tracing::info!(task_id = %self.task.id, unit = %unit.name, round, "generated tests do not parse");
            previous_issues = Some(listed.join("\n"));
        }
        Ok(Err(format!(
            "the tests written for `{}` do not parse, even after a second try ({}); the unit is left out",
            unit.name,
            previous_issues
                .as_deref()
                .and_then(|issues| issues.lines().next())
                .unwrap_or("no code in the answer")
        )))
    }

    /// Publishes a unit's event with the units done so far. Units run side by side, so their
    /// events are published one at a time, each reading the count under the lock: the bar never
    /// goes back. A unit's ending (its tests or its warning) also writes the count on the row.
    async fn publish_unit_event(&self, context: &UnitContext<'_>, kind: EventKind) {
        let _in_order = context.publishing.lock().await;
        let done = context.done.load(Ordering::Relaxed);
        let unit_ended = matches!(kind, EventKind::Result { .. } | EventKind::Warning { .. });
        self.publish(progress(done, context.total), kind).await;
        if unit_ended {
            self.record_progress(done, context.total);
        }
    }

    /// Units done, for the task's row; written with the next batch, best effort like the events.
    fn record_progress(&self, done: u32, total: u32) {
        self.progress.note(store::queue::UnitsDone {
            task: self.task.id,
            attempt: self.task.attempt,
            done,
            total,
        });
    }

    async fn publish(&self, progress: Progress, kind: EventKind) {
        self.publisher.publish(self.task.id, progress, kind).await;
    }
}

/// What a task delivers: the tests to assemble, per unit what became of them, and how they
/// were checked.
struct Delivery {
    pieces: Vec<String>,
    unit_results: Vec<serde_json::Value>,
    warnings: Vec<serde_json::Value>,
    /// Per unit, when the tests were run (the whole file is run next).
    reports: Option<Vec<domain::TestReport>>,
    /// When they were not run: why.
    validation: Validation,
    /// Sandboxed runs so far.
    runs: u32,
    /// The delivered file's run, when it was made already.
    whole: Option<RunReport>,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            pieces: Vec::new(),
            unit_results: Vec::new(),
            warnings: Vec::new(),
            reports: None,
            validation: Validation::not_run("not run"),
            runs: 0,
            whole: None,
        }
    }
}

impl Delivery {
    /// Every unit whose tests parse, as written: nothing was run.
    fn unchecked(outcomes: &[UnitOutcome<'_>], validation: Validation) -> Delivery {
        let mut delivery = Delivery {
            validation,
            ..Delivery::default()
        };
        for outcome in outcomes {
            match &outcome.code {
                Ok(code) => {
                    // A unit that was run keeps its verdict (a missing module); the rest were not.
                    let reported = delivery
                        .validation
                        .tests
                        .iter()
                        .find(|test| test.unit == outcome.name)
                        .map(|test| test.verdict);
                    let verdict = (delivery.validation.status != ValidationStatus::SyntaxOnly)
                        .then(|| reported.unwrap_or(Verdict::NotRun));
                    delivery
                        .unit_results
                        .push(unit_result(outcome, code, verdict));
                    delivery.pieces.push(code.clone());
                }
                Err(message) => delivery
                    .warnings
                    .push(json!({ "unit": outcome.name, "message": message })),
            }
        }
        delivery
    }
}

/// The warning of a unit whose tests ran but are not delivered: the verdict and why.
fn left_out_warning(unit: &str, report: &domain::TestReport) -> serde_json::Value {
    json!({
        "unit": unit,
        "message": format!(
            "left out ({}): {}",
            report.verdict,
            report.reason.as_deref().unwrap_or("see the test's report")
        ),
    })
}

fn unit_result(
    outcome: &UnitOutcome<'_>,
    code: &str,
    verdict: Option<Verdict>,
) -> serde_json::Value {
    let mut result = json!({
        "name": outcome.name,
        "kind": outcome.unit.kind.as_str(),
        "container": outcome.unit.container,
        "start_line": outcome.unit.start_line,
        "end_line": outcome.unit.end_line,
        "code": code,
    });
    if let (Some(verdict), Some(fields)) = (verdict, result.as_object_mut()) {
        fields.insert("verdict".to_owned(), json!(verdict));
    }
    result
}

/// How many times more a kept unit's tests are rerun, alone, when the delivered file failed.
const SETTLE_RUNS_PER_RERUN: u32 = 3;

/// The delivered file from its pieces, with the pinned header when they are pinned tests; it
/// must parse.
fn assemble_file(
    target: &Target<'_>,
    pieces: &[String],
    pinned: bool,
) -> Result<codegen::assemble::Assembled, Halt> {
    let mut assembled =
        codegen::assemble::assemble(target, pieces).map_err(|error| Halt::Fatal {
            code: "assembly_failed",
            message: format!("the unit tests could not be merged into one file: {error}"),
        })?;
    if pinned {
        // Pinned tests say what they are before anything else.
        assembled.code = codegen::pinned::header(target.language) + &assembled.code;
    }
    let issues = codegen::syntax_issues(target.test_syntax(), &assembled.code);
    if let Some(first) = issues.first() {
        return Err(Halt::Fatal {
            code: "assembly_failed",
            message: format!("the merged test file does not parse ({first})"),
        });
    }
    Ok(assembled)
}

/// Progress through the units, in the generation band of the bar.
pub fn progress(done: u32, total: u32) -> Progress {
    Progress::of_task_units(done, total)
}
