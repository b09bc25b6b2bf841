//! C++: GoogleTest (with GoogleMock), built by g++ with gcov's instrumentation, and line and branch
//! coverage of the source file by gcovr. Debian's `g++`, `libgtest-dev`, `libgmock-dev`, `gcovr`.
//!
//! A header under test is included by the test. A `.cpp` source is compiled beside the test, or
//! only through the test when the test includes it; either way its `main` is renamed, so that
//! GoogleTest's runs. A test that includes the header a `.cpp` source would have (`x.h` for
//! `x.cpp`, the name generated tests guess) gets one that includes the source, when the source
//! does not include such a header itself.

use std::io;
use std::path::Path;

use super::{Plan, Toolchain, plain_name, shell_quote, test_binary};
use crate::sandbox::Command;
use crate::{Job, Measured};

pub(crate) struct Cpp;

const GXX: &str = "/usr/bin/g++";
const GCOVR: &str = "/usr/bin/gcovr";
const REPORT: &str = "gcovr.json";
/// What `main` is renamed to: the source's own `main`, and a test's, give way to GoogleTest's.
const RENAMED_MAIN: &str = "-Dmain=aiut_source_main";
const HEADER_EXTENSIONS: &[&str] = &["h", "hh", "hpp", "hxx", "h++", "inl", "ipp"];

impl Toolchain for Cpp {
    fn tool(&self) -> &'static str {
        "GoogleTest + gcovr"
    }

    fn probe(&self) -> Command {
        Command::shell(format!(
            "{GXX} --version >/dev/null && {GCOVR} --version >/dev/null && \
             test -r /usr/include/gtest/gtest.h && test -r /usr/include/gmock/gmock.h"
        ))
    }

    fn install_hint(&self) -> &'static str {
        "C++ tests need g++, GoogleTest and gcovr (Debian: g++ libgtest-dev libgmock-dev gcovr)"
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        let binary = test_binary(dir);
        let source = plain_name(job.source_file_name)?;
        let test = plain_name(job.test_file_name)?;
        std::fs::write(dir.join(source), job.source)?;
        std::fs::write(dir.join(test), job.test_code)?;
        let included = includes(job.test_code);
        let mut units = vec![test];
        if !is_header(source) {
            let (stem, _) = source.rsplit_once('.').unwrap_or((source, ""));
            let own_headers = includes(job.source);
            let guessed = included.iter().find(|header| {
                is_header(header)
                    && header
                        .rsplit_once('.')
                        .is_some_and(|(name, _)| name == stem)
                    && plain_name(header).is_ok()
                    && **header != test
                    && !own_headers.contains(header)
            });
            if let Some(header) = guessed {
                std::fs::write(
                    dir.join(header),
                    format!("#pragma once\n#include \"{source}\"\n"),
                )?;
            } else if !included.contains(&source) {
                units.insert(0, source);
            }
        }
        let mut gxx: Vec<String> = [GXX, "-O0", "-g", "--coverage", "-pthread", "-I."]
            .map(str::to_owned)
            .to_vec();
        gxx.push(RENAMED_MAIN.to_owned());
        gxx.extend(units.iter().map(|unit| (*unit).to_owned()));
        gxx.extend(["-o", binary, "-lgmock", "-lgtest_main", "-lgtest"].map(str::to_owned));
        let filter = shell_quote(&format!("/work/{}$", regex_escape(source)));
        let with_coverage = format!(
            "{binary}; status=$?; {GCOVR} --root /work --filter {filter} \
             --exclude-throw-branches --json --output {REPORT} >/dev/null 2>&1; exit $status"
        );
        Ok(Plan {
            build: Some(Command::new(gxx)),
            run_with_coverage: Command::shell(with_coverage),
            // Reruns count their own runs elsewhere, leaving the measured run's counts alone.
            run: Command::new([binary]).env("GCOV_PREFIX", "/tmp/rerun"),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let report = std::fs::read_to_string(dir.join(REPORT)).ok()?;
        crate::coverage::from_gcovr_json(&report, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        missing_header(output, job.source_file_name)
    }
}

fn is_header(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, extension)| HEADER_EXTENSIONS.contains(&extension))
}

/// The files `code` includes with quotes (`#include "x.h"`), as written.
fn includes(code: &str) -> Vec<&str> {
    code.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix('#')?.trim_start();
            let rest = rest
                .strip_prefix("include")?
                .trim_start()
                .strip_prefix('"')?;
            rest.split_once('"').map(|(name, _)| name)
        })
        .collect()
}

/// A file name as a regular expression that matches only it.
fn regex_escape(name: &str) -> String {
    let mut escaped = String::new();
    for c in name.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '/') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The header g++ could not find for the source file itself
/// (`inventory.cpp:1:10: fatal error: inventory.h: No such file or directory`).
fn missing_header(output: &str, source_file_name: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let (location, message) = line.split_once(": fatal error: ")?;
        let file = location.split(':').next()?;
        if !crate::coverage::path_matches(file, source_file_name) {
            return None;
        }
        let header = message.strip_suffix(": No such file or directory")?;
        Some(header.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_missing_for_the_test_is_not_the_sources() {
        let output = "In file included from geometry_test.cpp:1:\n\
                      inventory.cpp:1:10: fatal error: inventory.h: No such file or directory\n";
        assert_eq!(
            missing_header(output, "inventory.cpp").as_deref(),
            Some("inventory.h")
        );
        assert_eq!(
            missing_header(
                "inventory_test.cpp:2:10: fatal error: inventory.h: No such file or directory",
                "inventory.cpp"
            ),
            None
        );
    }

    #[test]
    fn quoted_includes_are_read_and_file_names_escaped() {
        let code = "#include <vector>\n  # include \"geometry.h\"\n#include\"x.hpp\" // x\n";
        assert_eq!(includes(code), ["geometry.h", "x.hpp"]);
        assert!(is_header("matrix.hpp") && !is_header("geometry.cpp"));
        assert_eq!(regex_escape("a+b.cpp"), "a\\+b\\.cpp");
    }
}
