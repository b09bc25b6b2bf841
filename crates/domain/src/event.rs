use serde::{Deserialize, Serialize};

use crate::{FileCoverage, TaskId, ValidationStatus, Verdict};

/// How far a task has come: `completed` of `total` units, and a percentage.
///
/// In JSON its three fields sit at the top level of an event: `"progress": 40, "completed": 2,
/// "total": 5`, the names the original tool's clients read.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "`progress` is a percentage and `completed` of `total` units are done.")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProgressFields")]
pub struct Progress {
    #[serde(rename = "progress")]
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    percent: u8,
    completed: u32,
    total: u32,
}

#[derive(Deserialize)]
struct ProgressFields {
    progress: u8,
    completed: u32,
    total: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    #[error("progress {0} is over 100")]
    PercentOver100(u8),
    #[error("completed {completed} is more than total {total}")]
    CompletedOverTotal { completed: u32, total: u32 },
}

impl TryFrom<ProgressFields> for Progress {
    type Error = ProgressError;

    fn try_from(fields: ProgressFields) -> Result<Self, Self::Error> {
        Progress::new(fields.percent_checked()?, fields.completed, fields.total)
    }
}

impl ProgressFields {
    fn percent_checked(&self) -> Result<u8, ProgressError> {
        if self.progress > 100 {
            Err(ProgressError::PercentOver100(self.progress))
        } else {
            Ok(self.progress)
        }
    }
}

impl Progress {
    pub fn new(percent: u8, completed: u32, total: u32) -> Result<Progress, ProgressError> {
        if percent > 100 {
            return Err(ProgressError::PercentOver100(percent));
        }
        if completed > total {
            return Err(ProgressError::CompletedOverTotal { completed, total });
        }
        Ok(Progress {
            percent,
            completed,
            total,
        })
    }

    /// Progress through the units, scaled into the band `from..=to` of the bar (the parse takes the
    /// first few percent, the generation most of the rest).
    pub fn of_units(
        completed: u32,
        total: u32,
        from: u8,
        to: u8,
    ) -> Result<Progress, ProgressError> {
        let (from, to) = (from.min(100), to.min(100).max(from.min(100)));
        let span = u32::from(to - from);
        // No units at all counts as the whole band done.
        let done = (span * completed.min(total))
            .checked_div(total)
            .unwrap_or(span);
        let percent = u8::try_from(u32::from(from) + done).unwrap_or(100);
        Progress::new(percent, completed, total)
    }

    /// Progress of a task through its units, as every service shows it: parsing takes the first
    /// 5 % of the bar, the units the band up to 95 %, checking and assembly the rest.
    pub fn of_task_units(completed: u32, total: u32) -> Progress {
        Progress::of_units(completed, total, 5, 95).unwrap_or_else(|_| Progress::start())
    }

    pub fn start() -> Progress {
        Progress {
            percent: 0,
            completed: 0,
            total: 0,
        }
    }

    pub fn percent(&self) -> u8 {
        self.percent
    }

    pub fn completed(&self) -> u32 {
        self.completed
    }

    pub fn total(&self) -> u32 {
        self.total
    }
}

/// A testable unit as announced by `parsing_completed`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSummary {
    pub name: String,
    /// A `UnitKind`'s name.
    #[cfg_attr(feature = "openapi", schema(value_type = UnitKind))]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub container: Option<String>,
    /// The unit's first line, 1-based.
    pub line: u32,
}

/// What kind of callable a unit is. Types (classes, structs, records, traits) are not units of
/// their own: they appear as the `container` of the units inside them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A free function (including Python module functions, Go functions, exported arrow functions).
    Function,
    /// A function that belongs to a type: a method, a Go method with a receiver, a C++ member
    /// defined in or out of its class, a Rust function in an `impl` or `trait` block.
    Method,
    /// A constructor: Python `__init__`, Java/C# constructors, C++ `Foo::Foo`, JS/TS
    /// `constructor`, a C# positional record's parameter list.
    Constructor,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Function => "function",
            UnitKind::Method => "method",
            UnitKind::Constructor => "constructor",
        }
    }
}

/// One step of a task's progress, as sent to live clients. `seq` orders a task's events and is the
/// SSE event id, so a client can resume after the last one it saw. It only grows, but neither
/// from 1 nor by one: it follows Redis's clock, so it keeps growing when Redis forgets a counter.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "One step of a task. `seq` orders the task's events: each is larger than \
            the one before, but the numbers are neither consecutive nor from 1 (a synthesised \
            event, sent without an SSE `id:`, repeats the last number seen); `progress` is a \
            percentage and `completed` of `total` units are done."
    )
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub task_id: TaskId,
    pub seq: u64,
    #[serde(flatten)]
    pub progress: Progress,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The event vocabulary of the original tool, plus `cancelled`, `heartbeat` and what running the
/// tests finds (`validating`, `test_result`, `coverage`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A worker took the task (the attempt counts from 1).
    Started {
        /// From 1.
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        attempt: u32,
    },
    /// The source was parsed into units.
    ParsingCompleted { units: Vec<UnitSummary> },
    /// A unit's tests are being written: unit `completed + 1` of `total`.
    Generating { unit: String },
    /// A unit's tests.
    Result {
        unit: String,
        /// The unit's tests.
        code: String,
    },
    /// Something went wrong with one unit, but the task goes on.
    Warning {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        unit: Option<String>,
    },
    /// A unit's tests are being built and run: round 1 is the model's first answer, each later
    /// round an answer to the failure of the one before. Round 0 is the offline generator running
    /// the source file's code, before any test, to find the calls its tests pin.
    Validating {
        /// The unit whose tests run, or the file's name when the delivered file runs as a whole
        /// (or, in round 0, the source file being explored).
        unit: String,
        /// 1 for the model's first answer; each later round answers the failure of the one
        /// before; 0 for the offline generator's run of the code itself.
        #[cfg_attr(feature = "openapi", schema(minimum = 0))]
        round: u32,
    },
    /// What running a unit's tests found.
    TestResult {
        unit: String,
        verdict: Verdict,
        /// Whether the tests are in the delivered file.
        kept: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        reason: Option<String>,
        /// Lines of the source only these tests covered.
        #[serde(default)]
        added_lines: u32,
    },
    /// Coverage of the source file by the tests delivered (sent once, before `completed`), or
    /// why the tests were not run.
    Coverage {
        status: ValidationStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        coverage: Option<FileCoverage>,
    },
    /// The task failed.
    Error { code: String, message: String },
    /// The task succeeded; the assembled file is the task's result.
    Completed { file_name: String, tests: u32 },
    /// The task was cancelled.
    Cancelled { reason: String },
    /// Nothing new; the stream is alive.
    Heartbeat {},
}

impl EventKind {
    /// The name of the event, as in SSE's `event:` field.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::ParsingCompleted { .. } => "parsing_completed",
            EventKind::Generating { .. } => "generating",
            EventKind::Result { .. } => "result",
            EventKind::Warning { .. } => "warning",
            EventKind::Validating { .. } => "validating",
            EventKind::TestResult { .. } => "test_result",
            EventKind::Coverage { .. } => "coverage",
            EventKind::Error { .. } => "error",
            EventKind::Completed { .. } => "completed",
            EventKind::Cancelled { .. } => "cancelled",
            EventKind::Heartbeat {} => "heartbeat",
        }
    }

    /// Whether nothing follows this event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EventKind::Error { .. } | EventKind::Completed { .. } | EventKind::Cancelled { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn task() -> TaskId {
        TaskId::from_uuid(Uuid::from_u128(7))
    }

    #[test]
    fn events_use_the_original_names_and_flat_progress() {
        let event = Event {
            task_id: task(),
            seq: 3,
            progress: Progress::of_units(2, 5, 10, 90).expect("valid"),
            kind: EventKind::Generating { unit: "add".into() },
        };
        let json = serde_json::to_value(&event).expect("serialises");
        assert_eq!(json["event"], "generating");
        assert_eq!(json["progress"], 42);
        assert_eq!(json["completed"], 2);
        assert_eq!(json["total"], 5);
        assert_eq!(json["unit"], "add");
        assert_eq!(
            serde_json::from_value::<Event>(json).expect("parses"),
            event
        );
    }

    #[test]
    fn refuses_impossible_progress() {
        assert!(Progress::new(101, 0, 0).is_err());
        assert!(Progress::new(50, 3, 2).is_err());
        let json = r#"{"task_id":"00000000-0000-0000-0000-000000000007","seq":1,"progress":20,"completed":9,"total":2,"event":"heartbeat"}"#;
        assert!(serde_json::from_str::<Event>(json).is_err());
    }

    #[test]
    fn only_error_completed_and_cancelled_end_a_stream() {
        assert!(
            EventKind::Cancelled {
                reason: "user".into()
            }
            .is_terminal()
        );
        assert!(!EventKind::Heartbeat {}.is_terminal());
        assert!(
            !EventKind::Warning {
                message: "x".into(),
                unit: None
            }
            .is_terminal()
        );
    }

    fn any_kind() -> impl Strategy<Value = EventKind> {
        let text = "\\PC{0,16}";
        prop_oneof![
            (1u32..5).prop_map(|attempt| EventKind::Started { attempt }),
            proptest::collection::vec((text, text, proptest::option::of(text), 0u32..9999), 0..4)
                .prop_map(|units| EventKind::ParsingCompleted {
                    units: units
                        .into_iter()
                        .map(|(name, kind, container, line)| UnitSummary {
                            name,
                            kind,
                            container,
                            line
                        })
                        .collect()
                }),
            text.prop_map(|unit| EventKind::Generating { unit }),
            (text, text).prop_map(|(unit, code)| EventKind::Result { unit, code }),
            (text, proptest::option::of(text))
                .prop_map(|(message, unit)| EventKind::Warning { message, unit }),
            (text, text).prop_map(|(code, message)| EventKind::Error { code, message }),
            (text, 0u32..50)
                .prop_map(|(file_name, tests)| EventKind::Completed { file_name, tests }),
            text.prop_map(|reason| EventKind::Cancelled { reason }),
            Just(EventKind::Heartbeat {}),
            (text, 1u32..5).prop_map(|(unit, round)| EventKind::Validating { unit, round }),
            (
                text,
                0usize..8,
                any::<bool>(),
                proptest::option::of(text),
                0u32..50
            )
                .prop_map(|(unit, verdict, kept, reason, added_lines)| {
                    EventKind::TestResult {
                        unit,
                        verdict: Verdict::ALL[verdict],
                        kept,
                        reason,
                        added_lines,
                    }
                }),
            (0u32..100, 0u32..100).prop_map(|(covered, extra)| EventKind::Coverage {
                status: ValidationStatus::Validated,
                reason: None,
                coverage: Some(FileCoverage {
                    lines_total: covered + extra,
                    lines_covered: covered,
                    branches_total: None,
                    branches_covered: None,
                    covered_lines: (1..=covered).collect(),
                    uncovered_lines: Vec::new(),
                }),
            }),
        ]
    }

    proptest! {
        #[test]
        fn every_event_round_trips(kind in any_kind(), seq in any::<u64>(), completed in 0u32..20, extra in 0u32..20) {
            let total = completed + extra;
            let event = Event {
                task_id: task(),
                seq,
                progress: Progress::of_units(completed, total, 10, 90).expect("valid"),
                kind,
            };
            let json = serde_json::to_string(&event).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<Event>(&json).expect("parses"), event);
        }

        #[test]
        fn unit_progress_stays_in_its_band(completed in 0u32..100, total in 0u32..100, from in 0u8..=100, to in 0u8..=100) {
            let completed = completed.min(total);
            let progress = Progress::of_units(completed, total, from, to).expect("valid");
            prop_assert!(progress.percent() >= from.min(to.max(from)));
            prop_assert!(progress.percent() <= to.max(from));
        }

        #[test]
        fn parsing_arbitrary_json_never_panics(input in "\\PC{0,200}") {
            let _ = serde_json::from_str::<Event>(&input);
        }
    }
}
