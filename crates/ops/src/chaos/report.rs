//! What a scenario found, which of it must be zero, when the stack had recovered, and the table and
//! JSON that say so. Pure: the run fills a [`ScenarioReport`] in, this judges and prints it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// What a request of the load was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// `GET /api/languages` or `GET /api/queue`.
    Read,
    /// `POST /api/tasks` without an `Idempotency-Key`.
    Create,
    /// `POST /api/generate-test`, which waits for the task's end.
    Wait,
}

/// One finished request, its times in seconds from the start of the scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    pub kind: RequestKind,
    pub started: f64,
    pub ended: f64,
    /// Served as asked; a wait whose task failed on the model side was served too.
    pub served: bool,
}

/// Requests of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    pub sent: usize,
    pub failed: usize,
}

/// Failed requests of one kind of failure, with one example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failures {
    pub kind: String,
    pub count: usize,
    pub example: String,
}

/// Everything one scenario found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    /// What was done, with its timings.
    pub fault: String,
    /// The fault could not be injected or undone as planned.
    pub fault_problems: Vec<String>,
    /// From the start of the load to the end of the settle wait.
    pub seconds: f64,
    pub reads: Count,
    pub creates: Count,
    pub waits: Count,
    /// The failed requests by kind (`create: HTTP 502`, `read: transport (connection reset)`).
    pub failures: Vec<Failures>,
    /// Tasks whose id a client was given.
    pub tasks_created: usize,
    /// Ids given to a client that are not in the table or that their owner can no longer see,
    /// each with the reason.
    pub lost: Vec<String>,
    /// Sources with more than one row, with the count.
    pub duplicated: Vec<String>,
    /// Rows of this scenario not ended when the settle wait was over.
    pub stuck: Vec<String>,
    /// Clients that followed a task's event stream.
    pub streams: usize,
    /// Stream clients that never saw their task's terminal event, each with the reason.
    pub streams_without_end: Vec<String>,
    /// How the scenario's tasks ended: `succeeded`, `failed: <code>`, `cancelled`.
    pub outcomes: BTreeMap<String, usize>,
    /// Rows made by a create whose client was told it failed.
    pub rows_of_refused_creates: usize,
    /// From the fault to the first moment after which every service is healthy and reads and
    /// creates succeed again; `None` when that never came within the run.
    pub recovery_secs: Option<f64>,
}

impl ScenarioReport {
    pub fn failed_requests(&self) -> usize {
        self.reads.failed + self.creates.failed + self.waits.failed
    }

    /// The counts that must be zero and are not, and anything else that fails the scenario.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .fault_problems
            .iter()
            .map(|problem| format!("fault: {problem}"))
            .collect();
        let counts = [
            (self.failed_requests(), "failed request", "failed requests"),
            (self.lost.len(), "lost task", "lost tasks"),
            (self.duplicated.len(), "duplicated task", "duplicated tasks"),
            (self.stuck.len(), "stuck task", "stuck tasks"),
            (
                self.streams_without_end.len(),
                "stream client without its task's end",
                "stream clients without their task's end",
            ),
        ];
        for (count, one, many) in counts {
            match count {
                0 => {}
                1 => problems.push(format!("1 {one}")),
                _ => problems.push(format!("{count} {many}")),
            }
        }
        if self.recovery_secs.is_none() {
            problems.push("not recovered within the run".into());
        }
        problems
    }

    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }

    /// The outcomes in a few words: `38 succeeded, 2 failed: provider_error`.
    pub fn outcomes_line(&self) -> String {
        if self.outcomes.is_empty() {
            return "none".into();
        }
        self.outcomes
            .iter()
            .map(|(outcome, count)| format!("{count} {outcome}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The first moment, in seconds after `fault_at`, from which the stack was whole again: every
/// health sample from then on healthy, no request failing after it, and a read and a create
/// started after it that succeeded. `None` when it never was within the samples and requests.
pub fn recovery(fault_at: f64, health: &[(f64, bool)], requests: &[Timed]) -> Option<f64> {
    let after_fault: Vec<&(f64, bool)> = health.iter().filter(|(at, _)| *at >= fault_at).collect();
    if after_fault.last().is_some_and(|(_, healthy)| !healthy) {
        return None;
    }
    // The first healthy sample after the last unhealthy one.
    let healthy_from = match after_fault.iter().rposition(|(_, healthy)| !healthy) {
        Some(last_bad) => after_fault.get(last_bad + 1).map(|(at, _)| *at)?,
        None => fault_at,
    };
    let counted = |kind: RequestKind| matches!(kind, RequestKind::Read | RequestKind::Create);
    let last_failure = requests
        .iter()
        .filter(|request| counted(request.kind) && !request.served && request.ended >= fault_at)
        .map(|request| request.ended)
        .fold(fault_at, f64::max);
    let whole_from = healthy_from.max(last_failure);
    let first_served = |kind: RequestKind| {
        requests
            .iter()
            .filter(|request| request.kind == kind && request.served)
            .filter(|request| request.started >= whole_from)
            .map(|request| request.ended)
            .fold(None, |first: Option<f64>, ended| {
                Some(first.map_or(ended, |first| first.min(ended)))
            })
    };
    let read = first_served(RequestKind::Read)?;
    let create = first_served(RequestKind::Create)?;
    Some(read.max(create) - fault_at)
}

/// One line per scenario, then what failed and how the tasks ended, scenario by scenario.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut text = String::new();
    let header = [
        "SCENARIO", "READS", "CREATES", "WAITS", "TASKS", "LOST", "DUP", "STUCK", "NO END",
        "RECOVERY", "VERDICT",
    ];
    let rows: Vec<[String; 11]> = reports
        .iter()
        .map(|report| {
            let count = |count: Count| format!("{}/{}", count.sent, count.failed);
            [
                report.scenario.clone(),
                count(report.reads),
                count(report.creates),
                count(report.waits),
                report.tasks_created.to_string(),
                report.lost.len().to_string(),
                report.duplicated.len().to_string(),
                report.stuck.len().to_string(),
                format!("{}/{}", report.streams_without_end.len(), report.streams),
                report
                    .recovery_secs
                    .map_or_else(|| "never".to_owned(), |secs| format!("{secs:.1} s")),
                if report.passed() { "ok" } else { "FAIL" }.to_owned(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut line = String::new();
        for (column, cell) in cells.iter().enumerate() {
            let width = widths[column];
            if column == 0 {
                let _ = write!(line, "{cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        line.trim_end().to_owned()
    };
    text.push_str(&line(header.to_vec()));
    text.push('\n');
    for row in &rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
        text.push('\n');
    }
    text.push_str(
        "(READS, CREATES, WAITS: sent/failed; TASKS: ids given to clients; \
         NO END: stream clients that never saw their task end/streams followed)\n",
    );
    for report in reports {
        let _ = writeln!(text, "\n{} — {}", report.scenario, report.fault);
        let _ = writeln!(
            text,
            "  tasks ended: {} ({:.0} s in all)",
            report.outcomes_line(),
            report.seconds
        );
        if report.rows_of_refused_creates > 0 {
            let _ = writeln!(
                text,
                "  rows made by creates answered with an error: {}",
                report.rows_of_refused_creates
            );
        }
        for failure in &report.failures {
            let _ = writeln!(
                text,
                "  failed: {} × {} (e.g. {})",
                failure.count, failure.kind, failure.example
            );
        }
        let lists = [
            ("lost", &report.lost),
            ("duplicated", &report.duplicated),
            ("stuck", &report.stuck),
            ("stream without end", &report.streams_without_end),
        ];
        for (what, list) in lists {
            for entry in list.iter().take(5) {
                let _ = writeln!(text, "  {what}: {entry}");
            }
            if list.len() > 5 {
                let _ = writeln!(text, "  {what}: … and {} more", list.len() - 5);
            }
        }
        let problems = report.problems();
        if problems.is_empty() {
            let _ = writeln!(text, "  verdict: ok");
        } else {
            let _ = writeln!(text, "  verdict: FAIL ({})", problems.join(", "));
        }
    }
    text
}

/// The reports as one JSON object: each scenario with its problems and verdict, and the run's.
pub fn to_json(reports: &[ScenarioReport]) -> serde_json::Value {
    let scenarios: Vec<serde_json::Value> = reports
        .iter()
        .map(|report| {
            let mut value = serde_json::to_value(report).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("problems".into(), serde_json::json!(report.problems()));
                object.insert("passed".into(), serde_json::json!(report.passed()));
            }
            value
        })
        .collect();
    serde_json::json!({
        "passed": reports.iter().all(ScenarioReport::passed),
        "scenarios": scenarios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> ScenarioReport {
        ScenarioReport {
            scenario: "api-kill".into(),
            fault: "killed api-1".into(),
            seconds: 21.0,
            reads: Count {
                sent: 400,
                failed: 0,
            },
            creates: Count {
                sent: 30,
                failed: 0,
            },
            waits: Count { sent: 3, failed: 0 },
            tasks_created: 30,
            streams: 30,
            outcomes: BTreeMap::from([
                ("succeeded".into(), 31),
                ("failed: provider_error".into(), 2),
            ]),
            recovery_secs: Some(3.25),
            ..ScenarioReport::default()
        }
    }

    #[test]
    fn a_clean_scenario_passes_and_each_must_be_zero_count_fails_it() {
        assert!(clean().passed(), "{:?}", clean().problems());
        type Spoil = fn(&mut ScenarioReport);
        let spoil: [(&str, Spoil); 9] = [
            ("failed request", |r| r.reads.failed = 1),
            ("failed requests", |r| r.creates.failed = 2),
            ("failed request", |r| r.waits.failed = 1),
            ("lost task", |r| r.lost.push("a: 404".into())),
            ("duplicated task", |r| r.duplicated.push("m ×2".into())),
            ("stuck task", |r| r.stuck.push("a running".into())),
            ("stream client without its task's end", |r| {
                r.streams_without_end.push("a".into());
            }),
            ("not recovered", |r| r.recovery_secs = None),
            ("fault: ", |r| r.fault_problems.push("cannot start".into())),
        ];
        for (said, spoil) in spoil {
            let mut report = clean();
            spoil(&mut report);
            assert!(!report.passed(), "{said}");
            assert!(
                report
                    .problems()
                    .iter()
                    .any(|problem| problem.contains(said)),
                "{said} in {:?}",
                report.problems()
            );
        }
    }

    #[test]
    fn tasks_failed_by_the_model_and_refused_creates_rows_do_not_fail_a_scenario() {
        let mut report = clean();
        report.outcomes.insert("failed: provider_error".into(), 20);
        report.rows_of_refused_creates = 1;
        assert!(report.passed());
        assert_eq!(
            report.outcomes_line(),
            "20 failed: provider_error, 31 succeeded"
        );
    }

    #[test]
    fn the_table_has_a_row_per_scenario_and_says_what_failed() {
        let mut failing = clean();
        failing.scenario = "worker-kill".into();
        failing.creates.failed = 3;
        failing.failures.push(Failures {
            kind: "create: HTTP 502".into(),
            count: 3,
            example: "bad_gateway".into(),
        });
        failing.streams_without_end = vec!["t1: 404".into(); 7];
        failing.recovery_secs = None;
        let text = table(&[clean(), failing]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SCENARIO"), "{text}");
        assert!(lines[0].ends_with("VERDICT"), "{text}");
        assert!(lines[1].starts_with("api-kill "), "{text}");
        assert!(
            lines[1].contains("400/0") && lines[1].contains("3.2 s"),
            "{text}"
        );
        assert!(lines[1].ends_with("ok"), "{text}");
        assert!(lines[2].starts_with("worker-kill"), "{text}");
        assert!(
            lines[2].contains("30/3") && lines[2].contains("7/30"),
            "{text}"
        );
        assert!(
            lines[2].contains("never") && lines[2].ends_with("FAIL"),
            "{text}"
        );
        // Right-aligned cells: every row ends where the header does.
        assert_eq!(lines[1].chars().count(), lines[0].chars().count(), "{text}");
        assert_eq!(lines[2].chars().count(), lines[0].chars().count(), "{text}");
        assert!(
            text.contains("failed: 3 × create: HTTP 502 (e.g. bad_gateway)"),
            "{text}"
        );
        assert!(text.contains("stream without end: … and 2 more"), "{text}");
        assert!(
            text.contains(
                "verdict: FAIL (3 failed requests, 7 stream clients without their task's end, \
                 not recovered within the run)"
            ),
            "{text}"
        );
        assert!(
            text.contains("tasks ended: 2 failed: provider_error, 31 succeeded"),
            "{text}"
        );
    }

    #[test]
    fn the_json_carries_every_count_and_the_verdicts() {
        let mut failing = clean();
        failing.lost.push("t: not in the table".into());
        let json = to_json(&[clean(), failing]);
        assert_eq!(json["passed"], false);
        assert_eq!(json["scenarios"][0]["passed"], true);
        assert_eq!(json["scenarios"][0]["reads"]["sent"], 400);
        assert_eq!(json["scenarios"][0]["recovery_secs"], 3.25);
        assert_eq!(json["scenarios"][1]["lost"][0], "t: not in the table");
        assert_eq!(json["scenarios"][1]["problems"][0], "1 lost task");
        assert_eq!(to_json(&[clean()])["passed"], true);
    }

    fn timed(kind: RequestKind, started: f64, ended: f64, served: bool) -> Timed {
        Timed {
            kind,
            started,
            ended,
            served,
        }
    }

    #[test]
    fn recovery_waits_for_health_the_last_failure_and_a_served_read_and_create() {
        use RequestKind::{Create, Read};
        let health = [
            (3.0, true),
            (4.5, false),
            (5.0, false),
            (5.5, true),
            (6.0, true),
        ];
        let requests = [
            timed(Read, 4.0, 4.1, true),
            timed(Create, 4.6, 4.9, false),
            timed(Read, 5.0, 5.2, true),
            timed(Read, 5.4, 5.6, true),
            timed(Read, 5.6, 5.7, true),
            timed(Create, 5.8, 6.4, true),
        ];
        // Healthy again at 5.5; the failure ended at 4.9; the first read started from 5.5 ends
        // at 5.7 and the first create at 6.4.
        let secs = recovery(4.0, &health, &requests).expect("recovered");
        assert!((secs - 2.4).abs() < 1e-9, "{secs}");

        // Nothing went wrong: recovered as soon as a read and a create were served.
        let calm = [(4.5, true), (5.0, true)];
        let secs = recovery(4.0, &calm, &requests[2..]).expect("recovered");
        assert!((secs - 2.4).abs() < 1e-9, "{secs}");

        // Unhealthy at the last look, or no create served since: not recovered.
        assert_eq!(recovery(4.0, &[(5.0, true), (6.0, false)], &requests), None);
        assert_eq!(recovery(4.0, &health, &requests[..5]), None);
        // A failure after the fault moves the point past it.
        let mut late = requests.to_vec();
        late.push(timed(Read, 6.5, 6.6, false));
        assert_eq!(recovery(4.0, &health, &late), None);
        late.push(timed(Read, 6.7, 6.8, true));
        late.push(timed(Create, 6.7, 7.0, true));
        let secs = recovery(4.0, &health, &late).expect("recovered");
        assert!((secs - 3.0).abs() < 1e-9, "{secs}");
        // Failed waits do not count: a task may fail on the model side by design.
        let mut waits = requests.to_vec();
        waits.push(timed(RequestKind::Wait, 6.5, 9.0, false));
        assert_eq!(
            recovery(4.0, &health, &waits),
            recovery(4.0, &health, &requests)
        );
    }
}
