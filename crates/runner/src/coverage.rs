//! Coverage of the file under test, as each language's tool reports it, in one shape.

use std::collections::BTreeSet;

use domain::FileCoverage;

/// Coverage of the source file by one run: the figures, and which lines and branches, so that
/// what a test adds to the tests kept before it can be told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measured {
    /// Executable lines, and those that ran.
    pub lines: BTreeSet<u32>,
    pub covered: BTreeSet<u32>,
    /// Branches by an id stable between runs of the same source (`line:arm`); `None` where the
    /// tool does not measure branches.
    pub branches: Option<BTreeSet<String>>,
    pub covered_branches: BTreeSet<String>,
    /// The tool's own branch figures (total, covered), where its way of counting differs from
    /// counting the ids (coverage.py leaves some arcs of generator expressions out). A merge drops
    /// them: they describe one run.
    pub reported_branches: Option<(u32, u32)>,
}

impl Measured {
    /// The figures, as the task shows them.
    pub fn summary(&self) -> FileCoverage {
        let count = |set: &BTreeSet<u32>| u32::try_from(set.len()).unwrap_or(u32::MAX);
        let count_ids = |set: &BTreeSet<String>| u32::try_from(set.len()).unwrap_or(u32::MAX);
        FileCoverage {
            lines_total: count(&self.lines),
            lines_covered: count(&self.covered),
            branches_total: self
                .reported_branches
                .map(|(total, _)| total)
                .or_else(|| self.branches.as_ref().map(count_ids)),
            branches_covered: self
                .reported_branches
                .map(|(_, covered)| covered)
                .or_else(|| {
                    self.branches
                        .as_ref()
                        .map(|_| count_ids(&self.covered_branches))
                }),
            covered_lines: self.covered.iter().copied().collect(),
            uncovered_lines: self.lines.difference(&self.covered).copied().collect(),
        }
    }

    /// Adds what `other` covered.
    pub fn merge(&mut self, other: &Measured) {
        self.reported_branches = None;
        self.lines.extend(other.lines.iter().copied());
        self.covered.extend(other.covered.iter().copied());
        match (&mut self.branches, &other.branches) {
            (Some(mine), Some(theirs)) => mine.extend(theirs.iter().cloned()),
            (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
            _ => {}
        }
        self.covered_branches
            .extend(other.covered_branches.iter().cloned());
    }

    /// Lines and branches `other` covers that this does not.
    pub fn gained_by(&self, other: &Measured) -> (Vec<u32>, u32) {
        let lines = other.covered.difference(&self.covered).copied().collect();
        let branches = other
            .covered_branches
            .difference(&self.covered_branches)
            .count();
        (lines, u32::try_from(branches).unwrap_or(u32::MAX))
    }
}

/// An lcov tracefile's record for the file whose path ends with `file_name` (`SF:`, `DA:`,
/// `BRDA:`), as node's test runner, c8 and gcovr write it.
pub fn from_lcov(report: &str, file_name: &str) -> Option<Measured> {
    let mut measured: Option<Measured> = None;
    let mut in_file = false;
    for line in report.lines() {
        let line = line.trim();
        if let Some(path) = line.strip_prefix("SF:") {
            in_file = path_matches(path, file_name);
            if in_file && measured.is_none() {
                measured = Some(Measured::default());
            }
            continue;
        }
        if line == "end_of_record" {
            in_file = false;
            continue;
        }
        let Some(current) = measured.as_mut().filter(|_| in_file) else {
            continue;
        };
        if let Some(data) = line.strip_prefix("DA:") {
            let mut fields = data.split(',');
            let (Some(number), Some(hits)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u32>() else {
                continue;
            };
            current.lines.insert(number);
            if hits.parse::<u64>().is_ok_and(|hits| hits > 0) {
                current.covered.insert(number);
            }
        } else if let Some(data) = line.strip_prefix("BRDA:") {
            let fields: Vec<&str> = data.split(',').collect();
            if fields.len() < 4 {
                continue;
            }
            let id = format!("{}:{}:{}", fields[0], fields[1], fields[2]);
            current
                .branches
                .get_or_insert_with(BTreeSet::new)
                .insert(id.clone());
            if fields[3].parse::<u64>().is_ok_and(|taken| taken > 0) {
                current.covered_branches.insert(id);
            }
        }
    }
    measured
}

/// JaCoCo's XML report, for the source file named `file_name` (`<sourcefile name="Money.java">`
/// with a `<line nr= mi= ci= mb= cb=>` per line with code). JaCoCo counts a line's branches but not
/// which of them ran, so a line's covered branches are numbered first (`line:0`, `line:1`, …).
pub fn from_jacoco_xml(report: &str, file_name: &str) -> Option<Measured> {
    // The report names its DTD, which is not fetched: only the document is read.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let document = roxmltree::Document::parse_with_options(report, options).ok()?;
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    let mut measured: Option<Measured> = None;
    let source_files = document
        .descendants()
        .filter(|node| node.has_tag_name("sourcefile") && node.attribute("name") == Some(base));
    for source_file in source_files {
        let current = measured.get_or_insert_with(Measured::default);
        for line in source_file
            .children()
            .filter(|node| node.has_tag_name("line"))
        {
            let number = |name: &str| {
                line.attribute(name)
                    .and_then(|value| value.parse::<u32>().ok())
            };
            let Some(nr) = number("nr") else {
                continue;
            };
            current.lines.insert(nr);
            if number("ci").unwrap_or(0) > 0 {
                current.covered.insert(nr);
            }
            let missed_branches = number("mb").unwrap_or(0);
            let covered_branches = number("cb").unwrap_or(0);
            let branches = current.branches.get_or_insert_with(BTreeSet::new);
            for arm in 0..missed_branches + covered_branches {
                let id = format!("{nr}:{arm}");
                branches.insert(id.clone());
                if arm < covered_branches {
                    current.covered_branches.insert(id);
                }
            }
        }
    }
    measured
}

/// gcovr's JSON report (`gcovr --json`), for the file named `file_name`: lines that are code and
/// not excluded, and each line's branches by their place on the line.
pub fn from_gcovr_json(report: &str, file_name: &str) -> Option<Measured> {
    let parsed: serde_json::Value = serde_json::from_str(report).ok()?;
    let file = parsed.get("files")?.as_array()?.iter().find(|file| {
        file.get("file")
            .and_then(|name| name.as_str())
            .is_some_and(|name| path_matches(name, file_name))
    })?;
    let mut measured = Measured {
        branches: Some(BTreeSet::new()),
        ..Measured::default()
    };
    for line in file.get("lines")?.as_array()? {
        let flag = |name: &str| line.get(name).and_then(|value| value.as_bool()) == Some(true);
        if flag("gcovr/noncode") || flag("gcovr/excluded") {
            continue;
        }
        let Some(number) = line
            .get("line_number")
            .and_then(|value| value.as_u64())
            .and_then(|value| u32::try_from(value).ok())
        else {
            continue;
        };
        measured.lines.insert(number);
        if line.get("count").and_then(|value| value.as_u64()) > Some(0) {
            measured.covered.insert(number);
        }
        let branches = line.get("branches").and_then(|value| value.as_array());
        for (arm, branch) in branches.into_iter().flatten().enumerate() {
            let id = format!("{number}:{arm}");
            measured
                .branches
                .get_or_insert_with(BTreeSet::new)
                .insert(id.clone());
            if branch.get("count").and_then(|value| value.as_u64()) > Some(0) {
                measured.covered_branches.insert(id);
            }
        }
    }
    Some(measured)
}

/// Whether a report's path names the file under test (reports give absolute or relative paths).
pub(crate) fn path_matches(path: &str, file_name: &str) -> bool {
    let path = path.trim();
    path == file_name
        || path.ends_with(&format!("/{file_name}"))
        || path
            .strip_prefix("file://")
            .is_some_and(|rest| rest.ends_with(&format!("/{file_name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcov_records_of_other_files_are_ignored() {
        let report = "TN:\nSF:/work/other.js\nDA:1,1\nend_of_record\nSF:/work/cart.js\nDA:1,1\nDA:2,0\nDA:3,4\nBRDA:2,0,0,1\nBRDA:2,0,1,0\nBRDA:5,1,0,-\nend_of_record\n";
        let measured = from_lcov(report, "cart.js").expect("cart.js is in the report");
        assert_eq!(measured.lines, BTreeSet::from([1, 2, 3]));
        assert_eq!(measured.covered, BTreeSet::from([1, 3]));
        let summary = measured.summary();
        assert_eq!((summary.lines_covered, summary.lines_total), (2, 3));
        assert_eq!(summary.uncovered_lines, vec![2]);
        assert_eq!(
            (summary.branches_covered, summary.branches_total),
            (Some(1), Some(3))
        );
        assert!(from_lcov(report, "absent.js").is_none());
    }

    #[test]
    fn jacoco_xml_gives_the_source_files_lines_and_branch_counts() {
        let report = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd"><report name="tests"><package name="com/example/bank"><sourcefile name="MoneyTest.java"><line nr="3" mi="0" ci="4" mb="0" cb="0"/></sourcefile><sourcefile name="Money.java"><line nr="8" mi="0" ci="8" mb="0" cb="0"/><line nr="18" mi="0" ci="5" mb="1" cb="1"/><line nr="44" mi="4" ci="0" mb="2" cb="0"/><counter type="LINE" missed="1" covered="2"/></sourcefile></package></report>"#;
        let measured = from_jacoco_xml(report, "Money.java").expect("Money.java is in the report");
        let summary = measured.summary();
        assert_eq!((summary.lines_covered, summary.lines_total), (2, 3));
        assert_eq!(summary.uncovered_lines, vec![44]);
        assert_eq!(
            (summary.branches_covered, summary.branches_total),
            (Some(1), Some(4))
        );
        assert!(measured.covered_branches.contains("18:0"));
        assert!(from_jacoco_xml(report, "Other.java").is_none());
        assert!(from_jacoco_xml("<report", "Money.java").is_none());
    }

    #[test]
    fn gcovr_json_leaves_out_lines_without_code() {
        let report = r#"{"files": [
            {"file": "other.cpp", "lines": [{"line_number": 1, "count": 1, "branches": []}]},
            {"file": "geometry.cpp", "lines": [
                {"line_number": 3, "count": 0, "gcovr/noncode": true, "branches": []},
                {"line_number": 8, "count": 2, "gcovr/noncode": false, "branches": [
                    {"count": 1, "fallthrough": true, "throw": false},
                    {"count": 0, "fallthrough": false, "throw": false}]},
                {"line_number": 9, "count": 0, "gcovr/noncode": false, "branches": []},
                {"line_number": 10, "count": 5, "gcovr/excluded": true, "branches": []}]}]}"#;
        let measured = from_gcovr_json(report, "geometry.cpp").expect("geometry.cpp is there");
        let summary = measured.summary();
        assert_eq!((summary.lines_covered, summary.lines_total), (1, 2));
        assert_eq!(
            (summary.branches_covered, summary.branches_total),
            (Some(1), Some(2))
        );
        assert!(from_gcovr_json(report, "absent.cpp").is_none());
    }

    #[test]
    fn what_a_test_adds_is_what_the_kept_ones_lacked() {
        let mut kept = Measured {
            lines: BTreeSet::from([1, 2, 3, 4]),
            covered: BTreeSet::from([1, 2]),
            branches: Some(BTreeSet::from(["2:0".to_owned(), "2:1".to_owned()])),
            covered_branches: BTreeSet::from(["2:0".to_owned()]),
            reported_branches: None,
        };
        let next = Measured {
            lines: BTreeSet::from([1, 2, 3, 4]),
            covered: BTreeSet::from([1, 3]),
            branches: Some(BTreeSet::from(["2:0".to_owned(), "2:1".to_owned()])),
            covered_branches: BTreeSet::from(["2:1".to_owned()]),
            reported_branches: None,
        };
        assert_eq!(kept.gained_by(&next), (vec![3], 1));
        kept.merge(&next);
        assert_eq!(kept.gained_by(&next), (vec![], 0));
        assert_eq!(kept.summary().lines_covered, 3);
    }
}
