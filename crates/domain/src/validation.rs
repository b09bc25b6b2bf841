//! What running the generated tests found: per test, per file, and for the task as a whole.
//!
//! The worker's runner fills these in; the api shows them as they are, the event stream sends them
//! as they happen, and the UI draws them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How far a request wants its tests checked before they are delivered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    /// Parse only: the tests are not built or run.
    Syntax,
    /// Build, run, run again and measure coverage (the default).
    #[default]
    Run,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown validation `{0}`; expected \"run\" or \"syntax\"")]
pub struct UnknownValidationMode(pub String);

impl ValidationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationMode::Syntax => "syntax",
            ValidationMode::Run => "run",
        }
    }
}

impl fmt::Display for ValidationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ValidationMode {
    type Err = UnknownValidationMode;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input.trim().to_ascii_lowercase().as_str() {
            "run" => Ok(ValidationMode::Run),
            "syntax" => Ok(ValidationMode::Syntax),
            _ => Err(UnknownValidationMode(crate::echo(input))),
        }
    }
}

/// Which passing tests are delivered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepPolicy {
    /// Only tests that cover something the tests kept before them did not (the default).
    #[default]
    Covering,
    /// Every test that passed reliably; those adding no coverage are marked.
    Passing,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown keep policy `{0}`; expected \"covering\" or \"passing\"")]
pub struct UnknownKeepPolicy(pub String);

impl KeepPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            KeepPolicy::Covering => "covering",
            KeepPolicy::Passing => "passing",
        }
    }
}

impl FromStr for KeepPolicy {
    type Err = UnknownKeepPolicy;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input.trim().to_ascii_lowercase().as_str() {
            "covering" => Ok(KeepPolicy::Covering),
            "passing" => Ok(KeepPolicy::Passing),
            _ => Err(UnknownKeepPolicy(crate::echo(input))),
        }
    }
}

/// What became of one unit's tests.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Built, passed every run and added coverage: delivered.
    Passed,
    /// Built and passed every run but covered nothing the kept tests did not.
    NoNewCoverage,
    /// Passed some runs and failed others.
    Flaky,
    /// Built but failed, after every round of feedback.
    Failed,
    /// Did not build (compile or import error), after every round of feedback.
    BuildFailed,
    /// A sandbox limit stopped it (time, memory, processes, output).
    LimitExceeded,
    /// The source cannot run alone: it needs a module that is not there.
    MissingModule,
    /// Not run: no sandbox, no toolchain for the language, offline scaffolds, or `validate:
    /// "syntax"`.
    NotRun,
}

impl Verdict {
    pub const ALL: [Verdict; 8] = [
        Verdict::Passed,
        Verdict::NoNewCoverage,
        Verdict::Flaky,
        Verdict::Failed,
        Verdict::BuildFailed,
        Verdict::LimitExceeded,
        Verdict::MissingModule,
        Verdict::NotRun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::NoNewCoverage => "no_new_coverage",
            Verdict::Flaky => "flaky",
            Verdict::Failed => "failed",
            Verdict::BuildFailed => "build_failed",
            Verdict::LimitExceeded => "limit_exceeded",
            Verdict::MissingModule => "missing_module",
            Verdict::NotRun => "not_run",
        }
    }

    /// Whether the test built (it may still have failed).
    pub fn built(self) -> bool {
        matches!(
            self,
            Verdict::Passed | Verdict::NoNewCoverage | Verdict::Flaky | Verdict::Failed
        )
    }

    /// Whether the test passed every run.
    pub fn passed_reliably(self) -> bool {
        matches!(self, Verdict::Passed | Verdict::NoNewCoverage)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One unit's tests after the runner.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    /// The unit the tests are for, as in `parsing_completed`.
    pub unit: String,
    pub verdict: Verdict,
    /// Whether the tests are in the delivered file.
    pub kept: bool,
    /// Model answers it took (1 when the first answer was kept).
    pub rounds: u32,
    /// Runs after the first pass, and how many of them passed too.
    pub reruns: u32,
    pub rerun_passes: u32,
    /// Why it was not kept, or what was wrong: the first lines of the tool's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Lines of the source file only this test (of those kept before it) covered.
    #[serde(default)]
    pub added_lines: Vec<u32>,
    /// Branches it added, where the tool measures branches.
    #[serde(default)]
    pub added_branches: u32,
    /// Whether the test asserts anything (a test with no assertion is flagged, not trusted).
    pub has_assertion: bool,
}

/// Coverage of the file under test.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCoverage {
    pub lines_total: u32,
    pub lines_covered: u32,
    /// Absent where the tool does not measure branches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches_total: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches_covered: Option<u32>,
    /// 1-based line numbers of the source file.
    pub covered_lines: Vec<u32>,
    pub uncovered_lines: Vec<u32>,
}

impl FileCoverage {
    /// Line coverage in percent, one decimal; 0 for a file with no executable line.
    pub fn line_percent(&self) -> f64 {
        percent(self.lines_covered, self.lines_total)
    }

    pub fn branch_percent(&self) -> Option<f64> {
        Some(percent(self.branches_covered?, self.branches_total?))
    }
}

fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (f64::from(part) * 1000.0 / f64::from(whole)).round() / 10.0
}

/// How far the delivered file was checked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationStatus {
    /// Built, run, run again and measured: every delivered test passed.
    Validated,
    /// Parsed only, because the request asked for `validate: "syntax"`.
    SyntaxOnly,
    /// Not run, and `reason` says why (no sandbox, no toolchain, offline scaffolds).
    NotRun,
    /// The tests did not pass: none of them (the task failed, and `tests` says why each was
    /// left out), or each on its own but not the delivered file as a whole; `reason` says which.
    Failed,
}

impl ValidationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Validated => "validated",
            ValidationStatus::SyntaxOnly => "syntax_only",
            ValidationStatus::NotRun => "not_run",
            ValidationStatus::Failed => "failed",
        }
    }
}

/// What the runner found for a task.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub status: ValidationStatus,
    /// Why the tests were not run, in words a user reads (`not run: no sandbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The tools that ran the tests (`pytest + coverage.py`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Per unit, in source order, kept or not.
    #[serde(default)]
    pub tests: Vec<TestReport>,
    /// Coverage of the source file by the delivered tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<FileCoverage>,
    /// Sandbox runs the validation took.
    #[serde(default)]
    pub runs: u32,
}

impl Validation {
    /// Tests that were not run, for the reason given.
    pub fn not_run(reason: impl Into<String>) -> Validation {
        Validation {
            status: ValidationStatus::NotRun,
            reason: Some(reason.into()),
            tool: None,
            tests: Vec::new(),
            coverage: None,
            runs: 0,
        }
    }

    pub fn syntax_only() -> Validation {
        Validation {
            status: ValidationStatus::SyntaxOnly,
            reason: Some(
                "validate: \"syntax\" was asked for: the tests were parsed, not run".into(),
            ),
            tool: None,
            tests: Vec::new(),
            coverage: None,
            runs: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_refuse() {
        assert_eq!("run".parse::<ValidationMode>(), Ok(ValidationMode::Run));
        assert_eq!(
            " Syntax ".parse::<ValidationMode>(),
            Ok(ValidationMode::Syntax)
        );
        let error = "lint".parse::<ValidationMode>().expect_err("unknown");
        assert!(error.to_string().contains("\"syntax\""), "{error}");
        assert_eq!(ValidationMode::default(), ValidationMode::Run);
    }

    #[test]
    fn verdicts_name_themselves_as_they_serialise() {
        for verdict in Verdict::ALL {
            let json = serde_json::to_string(&verdict).expect("serialises");
            assert_eq!(json, format!("\"{}\"", verdict.as_str()));
        }
        assert!(Verdict::Failed.built() && !Verdict::Failed.passed_reliably());
        assert!(!Verdict::BuildFailed.built());
        assert!(Verdict::NoNewCoverage.passed_reliably());
        assert!(!Verdict::Flaky.passed_reliably());
    }

    #[test]
    fn percentages_round_to_one_decimal() {
        let coverage = FileCoverage {
            lines_total: 3,
            lines_covered: 2,
            branches_total: Some(0),
            branches_covered: Some(0),
            ..FileCoverage::default()
        };
        assert_eq!(coverage.line_percent(), 66.7);
        assert_eq!(coverage.branch_percent(), Some(0.0));
        assert_eq!(FileCoverage::default().branch_percent(), None);
    }
}
