//! Rust: the built-in test harness (`rustc --test`), with LLVM's source-based coverage of the
//! source file (`-C instrument-coverage`, then `llvm-profdata` and `llvm-cov` of the LLVM rustc is
//! built on). Debian's `rustc-web` and `llvm-22`.
//!
//! The tests are a child module of the source, as generated tests expect (`use super::*;` reaches
//! private items): the source is the crate root, with the test file declared at its end, which
//! leaves the source's line numbers as they are. Only the tests of that module run, not the
//! source's own.

use std::io;
use std::path::Path;

use super::{Plan, Toolchain, plain_name, shell_quote, test_binary};
use crate::sandbox::Command;
use crate::{Job, Measured};

pub(crate) struct Rust;

const RUSTC: &str = "/usr/bin/rustc";
const PROFDATA: &str = "/usr/bin/llvm-profdata-22";
const LLVM_COV: &str = "/usr/bin/llvm-cov-22";
/// The test file's module in the source, and so the prefix of every test's name.
const MODULE: &str = "generated_tests";
const PROFILE: &str = "tests.profraw";
const REPORT: &str = "coverage.lcov";

impl Rust {
    /// rustc links with `cc`, a link through /etc/alternatives.
    fn toolchain(command: Command) -> Command {
        command.read_only("/etc/alternatives")
    }
}

impl Toolchain for Rust {
    fn tool(&self) -> &'static str {
        "rustc --test + llvm-cov"
    }

    fn probe(&self) -> Command {
        Rust::toolchain(Command::shell(format!(
            "{RUSTC} --version >/dev/null && {PROFDATA} --version >/dev/null && \
             {LLVM_COV} --version >/dev/null && cc --version >/dev/null"
        )))
    }

    fn install_hint(&self) -> &'static str {
        "Rust's tests need rustc and the llvm-profdata and llvm-cov of its LLVM (Debian: rustc-web \
         llvm-22 gcc)"
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        let binary = test_binary(dir);
        let source = plain_name(job.source_file_name)?;
        let test = plain_name(job.test_file_name)?;
        if test.contains(['"', '\\']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{test}` cannot be named in a #[path] attribute"),
            ));
        }
        let mut root = job.source.to_owned();
        if !root.ends_with('\n') {
            root.push('\n');
        }
        root.push_str(&format!(
            "\n#[cfg(test)]\n#[path = \"{test}\"]\nmod {MODULE};\n"
        ));
        std::fs::write(dir.join(source), root)?;
        std::fs::write(dir.join(test), job.test_code)?;
        let build = Command::new([
            RUSTC,
            "--test",
            "--edition",
            "2021",
            // The source's own `deny` lints are its authors' business, not the tests'.
            "--cap-lints",
            "allow",
            "-C",
            "instrument-coverage",
            "-C",
            "debuginfo=0",
            "-o",
            binary,
            source,
        ]);
        let filter = format!("{MODULE}::");
        let source_path = shell_quote(&format!("/work/{source}"));
        let with_coverage = format!(
            "LLVM_PROFILE_FILE=/work/{PROFILE} {binary} {filter}; status=$?; \
             {PROFDATA} merge -sparse {PROFILE} -o tests.profdata >/dev/null 2>&1 && \
             {LLVM_COV} export -format=lcov -instr-profile=tests.profdata {binary} {source_path} \
             > {REPORT} 2>/dev/null; exit $status"
        );
        Ok(Plan {
            build: Some(Rust::toolchain(build)),
            run_with_coverage: Command::shell(with_coverage),
            run: Command::new([binary, filter.as_str()])
                .env("LLVM_PROFILE_FILE", "/tmp/rerun.profraw"),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let report = std::fs::read_to_string(dir.join(REPORT)).ok()?;
        crate::coverage::from_lcov(&report, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        missing_crate(output, job.source_file_name, job.source)
    }
}

/// How rustc names a crate (or a module's file) it cannot find, before the name in backquotes.
const MISSING_CRATE: &[&str] = &[
    "use of unresolved module or unlinked crate `",
    "use of undeclared crate or module `",
    "cannot find module or crate `",
    "can't find crate for `",
    "you might be missing a crate named `",
    "unresolved import `",
    "file not found for module `",
];

/// The first crate (or module file) rustc could not find in an error located in the source file,
/// when the source names it (`use serde::Deserialize;`, `serde::Serialize`, `extern crate serde;`,
/// `mod parser;`).
fn missing_crate(output: &str, source_file_name: &str, source: &str) -> Option<String> {
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in output.lines() {
        if line.starts_with("error") || blocks.is_empty() {
            blocks.push(Vec::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push(line);
        }
    }
    blocks.into_iter().find_map(|block| {
        let location = block
            .iter()
            .find_map(|line| line.trim_start().strip_prefix("--> "))?;
        let file = location.split(':').next()?;
        if !crate::coverage::path_matches(file, source_file_name) {
            return None;
        }
        block.iter().find_map(|line| {
            MISSING_CRATE.iter().find_map(|pattern| {
                let start = line.find(pattern)? + pattern.len();
                let name: String = line[start..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let is_crate = !name.is_empty()
                    && !matches!(
                        name.as_str(),
                        "crate" | "self" | "super" | "std" | "core" | "alloc"
                    );
                (is_crate && names_crate(source, &name)).then_some(name)
            })
        })
    })
}

/// Whether `source` names the crate `name` as a path's first segment or in `extern crate`, or
/// declares a module `name` in a file of its own (`mod name;`).
fn names_crate(source: &str, name: &str) -> bool {
    let path = format!("{name}::");
    let extern_crate = format!("extern crate {name}");
    let module_file = format!("mod {name};");
    source.match_indices(&path).any(|(at, _)| {
        !source[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    }) || source.contains(&extern_crate)
        || source.contains(&module_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "error[E0432]: unresolved import `serde`\n --> client.rs:3:5\n  |\n\
                          3 | use serde::Deserialize;\n  |     ^^^^^ use of unresolved module or \
                          unlinked crate `serde`\n\nerror[E0433]: cannot find module or crate \
                          `tokio` in this scope\n  --> client_test.rs:7:3\n";

    #[test]
    fn the_missing_crate_is_one_the_source_uses() {
        let source = "use std::time::Duration;\nuse serde::Deserialize;\n";
        assert_eq!(
            missing_crate(OUTPUT, "client.rs", source).as_deref(),
            Some("serde")
        );
        assert_eq!(missing_crate(OUTPUT, "other.rs", source), None);
        assert_eq!(
            missing_crate(
                "error[E0432]: unresolved import `crate::absent`\n --> client.rs:1:5\n",
                "client.rs",
                "use crate::absent;"
            ),
            None
        );
        assert!(names_crate("#[derive(thiserror::Error)]", "thiserror"));
        assert!(!names_crate("use my_serde::x;", "serde"));
        assert!(names_crate("extern crate rand;", "rand"));
        assert_eq!(
            missing_crate(
                "error[E0583]: file not found for module `parser`\n --> client.rs:1:1\n",
                "client.rs",
                "pub mod parser;\n"
            )
            .as_deref(),
            Some("parser")
        );
    }
}
