//! What running a unit's tests decides: the verdict of one run, what the model is told when it
//! must try again, and which passing tests are delivered (those that add coverage, in source
//! order, or every reliable one when the request keeps them all).

use domain::{FileCoverage, KeepPolicy, TestReport, Validation, ValidationStatus, Verdict};
use runner::{Measured, Outcome, RunReport};

/// Why a task's tests are not run at all, decided once before its units are written.
#[derive(Debug, Clone)]
pub enum Checking {
    /// Build, run, run again and measure each unit's tests.
    Run,
    /// Not run, and the record that says why.
    Skip(Validation),
}

/// A unit's tests after the runner: the verdict of their last round.
#[derive(Debug, Clone)]
pub struct UnitCheck {
    pub verdict: Verdict,
    pub rounds: u32,
    pub reruns: u32,
    pub rerun_passes: u32,
    pub reason: Option<String>,
    pub coverage: Option<Measured>,
    pub has_assertion: bool,
    /// Sandboxed commands its rounds took.
    pub runs: u32,
}

/// The verdict of one run.
pub fn verdict_of(report: &RunReport) -> Verdict {
    match &report.outcome {
        Outcome::Passed if report.rerun_passes < report.reruns => Verdict::Flaky,
        Outcome::Passed => Verdict::Passed,
        Outcome::Failed => Verdict::Failed,
        Outcome::BuildFailed => Verdict::BuildFailed,
        Outcome::LimitExceeded(_) => Verdict::LimitExceeded,
        Outcome::MissingModule(_) => Verdict::MissingModule,
        Outcome::NotRun(_) => Verdict::NotRun,
    }
}

/// What the model is told happened, when another answer can do better; `None` when it cannot
/// (the tests passed, or the source itself cannot run here).
pub fn feedback_for(report: &RunReport) -> Option<String> {
    match &report.outcome {
        Outcome::Passed if report.rerun_passes < report.reruns => Some(format!(
            "passed on some runs and failed on others ({} of {} runs passed): do not depend on time, randomness or ordering",
            report.rerun_passes + 1,
            report.reruns + 1
        )),
        Outcome::Passed | Outcome::MissingModule(_) | Outcome::NotRun(_) => None,
        Outcome::Failed => Some("failed".to_owned()),
        Outcome::BuildFailed => Some("did not build".to_owned()),
        Outcome::LimitExceeded(limit) => Some(format!("were stopped by {limit}")),
    }
}

/// The first lines of a run's output that say what went wrong, for a test's `reason`.
pub fn reason_of(report: &RunReport) -> Option<String> {
    match &report.outcome {
        Outcome::Passed if report.rerun_passes == report.reruns => None,
        Outcome::MissingModule(module) => Some(format!("could not run: missing module {module}")),
        Outcome::NotRun(reason) => Some(reason.clone()),
        Outcome::LimitExceeded(limit) => Some(format!("stopped by {limit}")),
        _ => Some(summary_lines(&report.output)),
    }
}

/// A few telling lines of a tool's output: those naming an error or an assertion, else the last.
fn summary_lines(output: &str) -> String {
    const WANTED: usize = 6;
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect();
    let telling: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            [
                "error",
                "assert",
                "expected",
                "fail",
                "panicked",
                "exception",
                "cannot",
                "undefined",
            ]
            .iter()
            .any(|word| lower.contains(word))
        })
        .take(WANTED)
        .collect();
    let chosen = if telling.is_empty() {
        lines[lines.len().saturating_sub(WANTED)..].to_vec()
    } else {
        telling
    };
    let text = chosen.join("\n");
    if text.chars().count() > 1_000 {
        let cut: String = text.chars().take(1_000).collect();
        format!("{cut}…")
    } else if text.is_empty() {
        "no output".to_owned()
    } else {
        text
    }
}

/// One unit as the selection sees it.
pub struct Candidate<'a> {
    pub unit: &'a str,
    pub check: &'a UnitCheck,
}

/// Per unit, in source order: whether it is delivered, and its report. A reliably passing test
/// is kept when it covers a line or branch the tests kept before it did not; otherwise it is
/// `no_new_coverage`, kept only under [`KeepPolicy::Passing`].
pub fn select(candidates: &[Candidate<'_>], keep: KeepPolicy) -> Vec<TestReport> {
    let mut covered = Measured::default();
    candidates
        .iter()
        .map(|candidate| {
            let check = candidate.check;
            let mut verdict = check.verdict;
            let mut kept = false;
            let mut added_lines = Vec::new();
            let mut added_branches = 0;
            let mut reason = check.reason.clone();
            if verdict.passed_reliably() {
                let measured = check.coverage.clone().unwrap_or_default();
                let (lines, branches) = covered.gained_by(&measured);
                if lines.is_empty() && branches == 0 {
                    verdict = Verdict::NoNewCoverage;
                    kept = keep == KeepPolicy::Passing;
                    reason = Some(
                        "passes, but covers no line or branch that the tests kept before it do not"
                            .to_owned(),
                    );
                } else {
                    kept = true;
                    covered.merge(&measured);
                    added_lines = lines;
                    added_branches = branches;
                }
            }
            if kept && !check.has_assertion {
                reason = Some("no assertion: the test calls the code but checks nothing".into());
            }
            TestReport {
                unit: candidate.unit.to_owned(),
                verdict,
                kept,
                rounds: check.rounds,
                reruns: check.reruns,
                rerun_passes: check.rerun_passes,
                reason,
                added_lines,
                added_branches,
                has_assertion: check.has_assertion,
            }
        })
        .collect()
}

/// A task's record when its delivered file was run as a whole.
pub fn validated(tests: Vec<TestReport>, whole: &RunReport, runs: u32) -> Validation {
    let verdict = verdict_of(whole);
    let passed = verdict == Verdict::Passed;
    Validation {
        status: if passed {
            ValidationStatus::Validated
        } else {
            ValidationStatus::Failed
        },
        reason: (!passed).then(|| {
            let how = if verdict == Verdict::Flaky {
                format!(
                    "passed {} of its {} runs",
                    whole.rerun_passes + 1,
                    whole.reruns + 1
                )
            } else {
                "did not pass".to_owned()
            };
            format!(
                "each test passed on its own, also when run again, but the delivered file {how} as a whole: {}",
                reason_of(whole).unwrap_or_default()
            )
        }),
        tool: whole.tool.map(str::to_owned),
        tests,
        coverage: whole.coverage.as_ref().map(Measured::summary),
        runs,
    }
}

/// A kept test that failed when run alone again, after the delivered file failed: it passed its
/// first runs by chance, so it is flaky and left out.
pub fn left_out_when_run_again(report: &mut TestReport, run: &RunReport) {
    let runs = if run.outcome == Outcome::Passed {
        format!("{} of {} runs passed", run.rerun_passes + 1, run.reruns + 1)
    } else {
        "its first run failed".to_owned()
    };
    report.verdict = Verdict::Flaky;
    report.kept = false;
    report.added_lines = Vec::new();
    report.added_branches = 0;
    report.reason = Some(format!(
        "passed its first runs, but failed when run again alone after the delivered file failed ({runs}): {}",
        reason_of(run).unwrap_or_default()
    ));
}

/// `3 units: 2 failed, 1 did not build` — why nothing could be delivered.
pub fn nothing_passed(tests: &[TestReport]) -> String {
    let mut counts: Vec<(Verdict, usize)> = Vec::new();
    for test in tests {
        match counts
            .iter_mut()
            .find(|(verdict, _)| *verdict == test.verdict)
        {
            Some((_, count)) => *count += 1,
            None => counts.push((test.verdict, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(verdict, count)| format!("{count} {}", describe(*verdict)))
        .collect();
    let first_reason = tests
        .iter()
        .find_map(|test| test.reason.as_deref())
        .map(|reason| {
            format!(
                "; first reason: {}",
                reason.lines().next().unwrap_or(reason)
            )
        })
        .unwrap_or_default();
    format!(
        "no test passed when run ({} units: {}){first_reason}",
        tests.len(),
        parts.join(", ")
    )
}

fn describe(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "passed",
        Verdict::NoNewCoverage => "added no coverage",
        Verdict::Flaky => "flaky",
        Verdict::Failed => "failed",
        Verdict::BuildFailed => "did not build",
        Verdict::LimitExceeded => "hit a limit",
        Verdict::MissingModule => "need a missing module",
        Verdict::NotRun => "not run",
    }
}

/// Line coverage as a ratio, for the metrics.
pub fn line_ratio(coverage: &FileCoverage) -> f64 {
    if coverage.lines_total == 0 {
        return 0.0;
    }
    f64::from(coverage.lines_covered) / f64::from(coverage.lines_total)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;

    fn measured(covered: &[u32]) -> Measured {
        Measured {
            lines: (1..=10).collect(),
            covered: covered.iter().copied().collect(),
            branches: None,
            covered_branches: BTreeSet::new(),
            reported_branches: None,
        }
    }

    fn check(verdict: Verdict, covered: &[u32]) -> UnitCheck {
        UnitCheck {
            verdict,
            rounds: 1,
            reruns: 2,
            rerun_passes: 2,
            reason: None,
            coverage: Some(measured(covered)),
            has_assertion: true,
            runs: 2,
        }
    }

    fn report(outcome: Outcome, reruns: u32, rerun_passes: u32, output: &str) -> RunReport {
        RunReport {
            outcome,
            output: output.to_owned(),
            coverage: None,
            reruns,
            rerun_passes,
            commands: 1,
            queued: Duration::ZERO,
            sandboxed: Duration::ZERO,
            total: Duration::ZERO,
            tool: Some("pytest + coverage.py"),
            in_checkout: false,
        }
    }

    #[test]
    fn a_test_covering_nothing_new_is_dropped_unless_every_passing_test_is_kept() {
        let first = check(Verdict::Passed, &[1, 2, 3]);
        let duplicate = check(Verdict::Passed, &[1, 2]);
        let more = check(Verdict::Passed, &[1, 4]);
        let failed = check(Verdict::Failed, &[]);
        let candidates = [
            Candidate {
                unit: "a",
                check: &first,
            },
            Candidate {
                unit: "a_again",
                check: &duplicate,
            },
            Candidate {
                unit: "b",
                check: &more,
            },
            Candidate {
                unit: "c",
                check: &failed,
            },
        ];
        let reports = select(&candidates, KeepPolicy::Covering);
        let kept: Vec<bool> = reports.iter().map(|report| report.kept).collect();
        assert_eq!(kept, [true, false, true, false]);
        assert_eq!(reports[1].verdict, Verdict::NoNewCoverage);
        assert_eq!(reports[0].added_lines, [1, 2, 3]);
        assert_eq!(reports[2].added_lines, [4]);
        assert_eq!(reports[3].verdict, Verdict::Failed);
        let reports = select(&candidates, KeepPolicy::Passing);
        let kept: Vec<bool> = reports.iter().map(|report| report.kept).collect();
        assert_eq!(kept, [true, true, true, false]);
        assert_eq!(reports[1].verdict, Verdict::NoNewCoverage);
    }

    #[test]
    fn verdicts_and_feedback_follow_the_run() {
        let flaky = report(Outcome::Passed, 2, 1, "");
        assert_eq!(verdict_of(&flaky), Verdict::Flaky);
        assert!(
            feedback_for(&flaky)
                .expect("asks again")
                .contains("2 of 3 runs")
        );
        let passed = report(Outcome::Passed, 2, 2, "");
        assert_eq!(verdict_of(&passed), Verdict::Passed);
        assert_eq!(feedback_for(&passed), None);
        let missing = report(Outcome::MissingModule("requests".into()), 0, 0, "");
        assert_eq!(
            feedback_for(&missing),
            None,
            "another answer cannot install a module"
        );
        assert_eq!(
            reason_of(&missing).as_deref(),
            Some("could not run: missing module requests")
        );
        let failed = report(
            Outcome::Failed,
            0,
            0,
            "collected 1 item\n\nE   assert 2 == 3\n1 failed in 0.01s\n",
        );
        assert_eq!(feedback_for(&failed).as_deref(), Some("failed"));
        assert_eq!(
            reason_of(&failed).as_deref(),
            Some("E   assert 2 == 3\n1 failed in 0.01s")
        );
    }

    #[test]
    fn nothing_passed_counts_each_verdict() {
        let reports = select(
            &[
                Candidate {
                    unit: "a",
                    check: &check(Verdict::Failed, &[]),
                },
                Candidate {
                    unit: "b",
                    check: &check(Verdict::Failed, &[]),
                },
                Candidate {
                    unit: "c",
                    check: &check(Verdict::BuildFailed, &[]),
                },
            ],
            KeepPolicy::Covering,
        );
        assert_eq!(
            nothing_passed(&reports),
            "no test passed when run (3 units: 2 failed, 1 did not build)"
        );
    }

    #[test]
    fn a_file_that_fails_a_rerun_is_not_validated_and_says_how_often_it_passed() {
        let reports = select(
            &[Candidate {
                unit: "a",
                check: &check(Verdict::Passed, &[1]),
            }],
            KeepPolicy::Covering,
        );
        let steady = validated(reports.clone(), &report(Outcome::Passed, 2, 2, ""), 4);
        assert_eq!(steady.status, ValidationStatus::Validated);
        assert_eq!(steady.reason, None);
        let wavering = validated(
            reports,
            &report(Outcome::Passed, 2, 1, "FAILED test_a - assert 0.79 < 0.5"),
            4,
        );
        assert_eq!(wavering.status, ValidationStatus::Failed);
        let reason = wavering.reason.expect("a reason");
        assert!(reason.contains("passed 2 of its 3 runs"), "{reason}");
        assert!(reason.contains("assert 0.79 < 0.5"), "{reason}");
    }

    #[test]
    fn a_kept_test_failing_when_run_again_is_left_out_as_flaky() {
        let mut reports = select(
            &[Candidate {
                unit: "a",
                check: &check(Verdict::Passed, &[1, 2]),
            }],
            KeepPolicy::Covering,
        );
        let kept = &mut reports[0];
        assert!(kept.kept && !kept.added_lines.is_empty());
        left_out_when_run_again(kept, &report(Outcome::Passed, 6, 4, "assert 0.91 < 0.5"));
        assert_eq!(kept.verdict, Verdict::Flaky);
        assert!(!kept.kept);
        assert!(kept.added_lines.is_empty());
        let reason = kept.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("5 of 7 runs passed"), "{reason}");
        assert!(reason.contains("assert 0.91 < 0.5"), "{reason}");

        let mut failed_at_once = reports[0].clone();
        left_out_when_run_again(
            &mut failed_at_once,
            &report(Outcome::Failed, 0, 0, "AssertionError"),
        );
        assert!(
            failed_at_once
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("its first run failed")
        );
    }
}
