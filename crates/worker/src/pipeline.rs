//! One attempt at one task: parse, ask for each unit's tests, check them, assemble the file.
//!
//! The pipeline publishes the events of the work itself (`parsing_completed`, `generating`,
//! `result`, `warning`); the runner publishes `started` and the ending, after the database has it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::TryStreamExt;

use codegen::scaffold::Flavor;
use codegen::{Syntax, Target, Unit};
use domain::{EventKind, ModelId, ModelKind, Progress};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::events::Publisher;
use crate::metrics::Metrics;
use crate::provider::{CallReport, Models, ProviderError};
use store::queue::ClaimedTask;

/// Parsing takes the first few percent of the bar; assembly the last few.
const PARSED_PERCENT: u8 = 5;
const GENERATED_PERCENT: u8 = 95;

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
}

/// How an attempt ended without a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// Another attempt cannot do better.
    Fatal { code: &'static str, message: String },
    /// Another attempt may succeed (the model kept failing).
    Retryable { code: &'static str, message: String },
    /// The control was thrown; its reason says why.
    Stopped,
}

/// What the units of one task share while they are written side by side.
struct UnitContext<'a> {
    target: &'a Target<'a>,
    offline: bool,
    total: u32,
    /// Units finished so far, for the progress of each event.
    done: AtomicU32,
    /// Retries and tokens of every unit's model calls, answered or not.
    spent: Mutex<CallReport>,
}

/// One unit's outcome: its tests, or why it was left out, and the model that answered.
struct UnitOutcome<'u> {
    unit: &'u Unit,
    name: String,
    code: Result<String, String>,
    model_used: Option<ModelId>,
}

pub struct Pipeline<'a> {
    pub task: &'a ClaimedTask,
    /// Units of this task written at once.
    pub unit_concurrency: usize,
    pub models: &'a Models,
    pub publisher: &'a Publisher,
    pub metrics: &'a Metrics,
    pub control: &'a TaskControl,
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
        let context = UnitContext {
            target: &target,
            offline,
            total,
            done: AtomicU32::new(0),
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
        let outcomes = collected?;

        let mut model_used = task.model.clone();
        let mut pieces = Vec::new();
        let mut unit_results = Vec::new();
        let mut warnings = Vec::new();
        for outcome in outcomes {
            if let Some(model) = outcome.model_used {
                model_used = model;
            }
            match outcome.code {
                Ok(code) => {
                    unit_results.push(json!({
                        "name": outcome.name,
                        "kind": outcome.unit.kind.as_str(),
                        "container": outcome.unit.container,
                        "start_line": outcome.unit.start_line,
                        "end_line": outcome.unit.end_line,
                        "code": code,
                    }));
                    pieces.push(code);
                }
                Err(message) => {
                    warnings.push(json!({ "unit": outcome.name, "message": message }));
                }
            }
        }
        if pieces.is_empty() {
            return Err(Halt::Fatal {
                code: "no_valid_tests",
                message: format!(
                    "none of the {total} units got tests that parse as {}",
                    target.language.display_name()
                ),
            });
        }
        let tests = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
        let assembled =
            codegen::assemble::assemble(&target, &pieces).map_err(|error| Halt::Fatal {
                code: "assembly_failed",
                message: format!("the unit tests could not be merged into one file: {error}"),
            })?;
        let issues = codegen::syntax_issues(target.test_syntax(), &assembled.code);
        if let Some(first) = issues.first() {
            return Err(Halt::Fatal {
                code: "assembly_failed",
                message: format!("the merged test file does not parse ({first})"),
            });
        }
        Ok(Generated {
            file_name: assembled.file_name,
            code: assembled.code,
            units: serde_json::Value::Array(unit_results),
            warnings: serde_json::Value::Array(warnings),
            tests,
            total_units: total,
            model_used,
        })
    }

    /// One unit: `generating`, then its tests (`result`) or the reason it is left out (`warning`).
    async fn generate_unit<'u>(
        &self,
        context: &UnitContext<'_>,
        unit: &'u Unit,
    ) -> Result<UnitOutcome<'u>, Halt> {
        let target = context.target;
        let name = unit.qualified_name(separator(target.language));
        self.publish(
            progress(context.done.load(Ordering::Relaxed), context.total),
            EventKind::Generating { unit: name.clone() },
        )
        .await;
        let mut report = CallReport::default();
        let mut model_used = None;
        let code = if context.offline {
            Ok(codegen::scaffold::unit_tests(
                target,
                unit,
                Flavor::Scaffold,
            ))
        } else {
            let asked = self
                .ask_for_unit(target, unit, &mut report, &mut model_used)
                .await;
            if let Ok(mut spent) = context.spent.lock() {
                spent.add(&report);
            }
            asked?
        };
        let done = context.done.fetch_add(1, Ordering::Relaxed) + 1;
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
        self.publish(progress(done, context.total), event).await;
        Ok(UnitOutcome {
            unit,
            name,
            code,
            model_used,
        })
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
        report: &mut CallReport,
        model_used: &mut Option<ModelId>,
    ) -> Result<Result<String, String>, Halt> {
        let test_syntax: Syntax = target.test_syntax();
        let mut previous_issues: Option<String> = None;
        for round in 0..2 {
            let prompt = codegen::prompt::for_unit(
                target,
                unit,
                previous_issues
                    .as_deref()
                    .map(codegen::prompt::Feedback::Syntax)
                    .as_ref(),
            );
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

    async fn publish(&self, progress: Progress, kind: EventKind) {
        self.publisher.publish(self.task.id, progress, kind).await;
    }
}

fn separator(language: domain::Language) -> &'static str {
    match language {
        domain::Language::Cpp | domain::Language::Rust => "::",
        _ => ".",
    }
}

/// Progress through the units, in the generation band of the bar.
pub fn progress(done: u32, total: u32) -> Progress {
    Progress::of_units(done, total, PARSED_PERCENT, GENERATED_PERCENT)
        .unwrap_or_else(|_| Progress::start())
}
