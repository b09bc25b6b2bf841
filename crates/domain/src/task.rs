use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A task's identifier: a UUID (version 7, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Uuid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a task id (expected a UUID such as 0190b7c2-7d3e-7c4a-9a41-2f1c3b5d6e7f)")]
pub struct TaskIdError(pub String);

impl TaskId {
    pub fn from_uuid(uuid: Uuid) -> TaskId {
        TaskId(uuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = TaskIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        // Only the canonical hyphenated form: ids are handed out by us, in that form.
        if input.len() != 36 {
            return Err(TaskIdError(truncate(input)));
        }
        Uuid::try_parse(input)
            .map(TaskId)
            .map_err(|_| TaskIdError(truncate(input)))
    }
}

fn truncate(input: &str) -> String {
    input.chars().take(64).collect()
}

/// Where a task is in its life. Moves between states only through [`TaskStatus::transition`].
///
/// ```text
/// queued ──► running ──► succeeded | failed | cancelled
///    │          │
///    │          └──► queued   (lease released or expired: another worker takes it over)
///    └──► cancelled
/// ```
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "queued → running → succeeded | failed | cancelled; a queued task may be \
            cancelled, and a running one whose lease ends goes back to queued."
    )
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a task cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: TaskStatus,
    pub to: TaskStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task status `{0}`; expected queued, running, succeeded, failed or cancelled")]
pub struct UnknownStatus(pub String);

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }

    pub fn can_become(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        matches!(
            (self, to),
            (Queued, Running)
                | (Queued, Cancelled)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Cancelled)
                | (Running, Queued)
        )
    }

    /// The state after a move to `to`, or the reason the move is illegal.
    pub fn transition(self, to: TaskStatus) -> Result<TaskStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = UnknownStatus;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == input)
            .ok_or_else(|| UnknownStatus(truncate(input)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_happy_path_is_legal() {
        let status = TaskStatus::Queued;
        let status = status.transition(TaskStatus::Running).expect("claim");
        let status = status.transition(TaskStatus::Succeeded).expect("finish");
        assert!(status.is_terminal());
    }

    #[test]
    fn terminal_states_are_final() {
        for from in [
            TaskStatus::Succeeded,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ] {
            for to in TaskStatus::ALL {
                assert_eq!(
                    from.transition(to),
                    Err(IllegalTransition { from, to }),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn a_queued_task_cannot_finish_without_running() {
        assert!(
            TaskStatus::Queued
                .transition(TaskStatus::Succeeded)
                .is_err()
        );
        assert!(TaskStatus::Queued.transition(TaskStatus::Failed).is_err());
        assert!(TaskStatus::Queued.transition(TaskStatus::Queued).is_err());
        assert!(TaskStatus::Running.transition(TaskStatus::Running).is_err());
    }

    #[test]
    fn rejects_non_canonical_ids() {
        assert!("not-a-uuid".parse::<TaskId>().is_err());
        assert!(
            "0190b7c27d3e7c4a9a412f1c3b5d6e7f"
                .parse::<TaskId>()
                .is_err()
        );
        assert!(
            "0190b7c2-7d3e-7c4a-9a41-2f1c3b5d6e7f"
                .parse::<TaskId>()
                .is_ok()
        );
    }

    fn any_status() -> impl Strategy<Value = TaskStatus> {
        (0usize..5).prop_map(|index| TaskStatus::ALL[index])
    }

    proptest! {
        #[test]
        fn status_round_trips(status in any_status()) {
            prop_assert_eq!(status.as_str().parse::<TaskStatus>(), Ok(status));
            let json = serde_json::to_string(&status).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<TaskStatus>(&json).expect("deserialises"), status);
        }

        #[test]
        fn any_walk_ends_or_stays_legal(moves in proptest::collection::vec(any_status(), 0..20)) {
            let mut status = TaskStatus::Queued;
            for to in moves {
                match status.transition(to) {
                    Ok(next) => {
                        prop_assert!(!status.is_terminal());
                        status = next;
                    }
                    Err(error) => prop_assert_eq!(error, IllegalTransition { from: status, to }),
                }
            }
        }

        #[test]
        fn id_round_trips(bytes in any::<[u8; 16]>()) {
            let id = TaskId::from_uuid(Uuid::from_bytes(bytes));
            prop_assert_eq!(id.to_string().parse::<TaskId>(), Ok(id));
        }

        #[test]
        fn id_parsing_never_panics(input in ".{0,50}") {
            let _ = input.parse::<TaskId>();
            let _ = input.parse::<TaskStatus>();
        }
    }
}
