//! `cargo xtask test`: what a developer runs before pushing and what CI runs (`.ci/run`).
//!
//! fmt, clippy and the tests run one after the other; every step runs even when an earlier one
//! failed, so one CI run reports everything that is wrong. The last line of output is always
//! `test summary: N passed, M failed[, K skipped]`, and a run that executed no test at all fails:
//! a green build with zero tests usually means the tests were not found, not that all is well.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use ops::{DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, env_or, project_root, redact_password};

/// `test`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct TestArgs {
    /// skip cargo fmt and cargo clippy
    #[arg(long = "no-lint", action = clap::ArgAction::SetFalse)]
    pub lint: bool,
    /// handed to `cargo test` as they are
    #[arg(last = true, value_name = "CARGO TEST ARGS")]
    pub cargo_test_args: Vec<String>,
}

/// Test counts, summed over every test binary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }

    fn summary_line(&self) -> String {
        let mut line = format!(
            "test summary: {} passed, {} failed",
            self.passed, self.failed
        );
        if self.ignored > 0 {
            line.push_str(&format!(", {} skipped", self.ignored));
        }
        line
    }
}

pub fn run(options: &TestArgs) -> anyhow::Result<bool> {
    let root = project_root();
    let mut failed_steps: Vec<&str> = Vec::new();

    if options.lint {
        if !run_step(&root, &["fmt", "--all", "--", "--check"])? {
            failed_steps.push("fmt");
        }
        let clippy = [
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ];
        if !run_step(&root, &clippy)? {
            failed_steps.push("clippy");
        }
    }

    let (database_url, database_url_set) = env_or("DATABASE_URL", DEFAULT_DATABASE_URL);
    let (redis_url, redis_url_set) = env_or("REDIS_URL", DEFAULT_REDIS_URL);
    for (name, value, set) in [
        ("DATABASE_URL", &database_url, database_url_set),
        ("REDIS_URL", &redis_url, redis_url_set),
    ] {
        let origin = if set {
            "from the environment"
        } else {
            "default"
        };
        println!("tests use {name}={} ({origin})", redact_password(value));
    }

    // The whole-system tests run the services' own binaries, found beside the test binaries;
    // `cargo test` builds a package's binaries only when that package has integration tests.
    if !run_step(&root, &["build", "--workspace", "--bins"])? {
        failed_steps.push("build");
    }

    let test_args = cargo_test_args(&options.cargo_test_args);
    println!("==> cargo {}", test_args.join(" "));
    let mut command = ops::cargo_command();
    command
        .args(&test_args)
        .current_dir(&root)
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", &redis_url);
    let (tests_succeeded, counts) = run_and_count_tests(command)?;
    if !tests_succeeded {
        failed_steps.push("test");
    }

    if !failed_steps.is_empty() {
        println!("failed steps: {}", failed_steps.join(", "));
    }
    if counts.passed == 0 {
        println!("no test passed: the run found no tests, or none could run");
    }
    // The last line, on purpose: CI and people read it first.
    println!("{}", counts.summary_line());
    Ok(failed_steps.is_empty() && counts.passed > 0 && counts.failed == 0)
}

/// Announces and runs one `cargo` command with the terminal as its output.
fn run_step(root: &Path, args: &[&str]) -> anyhow::Result<bool> {
    println!("==> cargo {}", args.join(" "));
    let status = ops::cargo_command()
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run `cargo {}`", args.join(" ")))?;
    Ok(status.success())
}

/// `cargo test --workspace --all-targets --no-fail-fast` plus the caller's arguments. The caller
/// choosing packages (`-p`) or targets (`--lib`) replaces the corresponding default, since cargo
/// would otherwise ignore `-p` next to `--workspace` and refuse `--doc` next to `--all-targets`.
fn cargo_test_args(passed: &[String]) -> Vec<String> {
    // Only the part before a nested `--` is cargo's; the rest is for the test harness.
    let cargo_part = passed
        .iter()
        .position(|arg| arg == "--")
        .map_or(passed, |end| &passed[..end]);
    let has_flag = |flags: &[&str]| {
        cargo_part.iter().any(|arg| {
            flags.iter().any(|flag| {
                arg == flag
                    || arg
                        .strip_prefix(flag)
                        .is_some_and(|rest| rest.starts_with('='))
            })
        })
    };
    // `-pNAME` is `-p NAME`.
    let chooses_packages = has_flag(&["-p", "--package", "--workspace", "--all"])
        || cargo_part
            .iter()
            .any(|arg| arg.starts_with("-p") && arg.len() > 2);
    let chooses_targets = has_flag(&[
        "--lib",
        "--bin",
        "--bins",
        "--test",
        "--tests",
        "--example",
        "--examples",
        "--bench",
        "--benches",
        "--doc",
        "--all-targets",
    ]);

    let mut args = vec!["test".to_owned()];
    if !chooses_packages {
        args.push("--workspace".to_owned());
    }
    if !chooses_targets {
        args.push("--all-targets".to_owned());
    }
    // Run every test binary even after one fails, so the summary counts every failure.
    args.push("--no-fail-fast".to_owned());
    args.extend(passed.iter().cloned());
    args
}

/// Runs `cargo test`, copying its output to ours as it comes while reading the counts from the
/// harness's `test result:` lines. Cargo's own progress goes to stderr, which is left alone.
fn run_and_count_tests(mut command: Command) -> anyhow::Result<(bool, Counts)> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run `cargo test`")?;
    let mut output = child
        .stdout
        .take()
        .context("cargo test's output was not captured")?;
    let mut terminal = std::io::stdout();
    let mut counts = Counts::default();
    let mut chunk = [0u8; 8192];
    // Bytes of the line not finished yet: chunks are copied out at once (a slow test shows
    // `test name ...` while it runs), lines are parsed once whole.
    let mut pending_line: Vec<u8> = Vec::new();
    loop {
        let read = match output.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("cannot read cargo test's output"),
        };
        terminal.write_all(&chunk[..read])?;
        terminal.flush()?;
        pending_line.extend_from_slice(&chunk[..read]);
        while let Some(end) = pending_line.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending_line.drain(..=end).collect();
            if let Some(found) = parse_result_line(&String::from_utf8_lossy(&line)) {
                counts.add(found);
            }
        }
    }
    if let Some(found) = parse_result_line(&String::from_utf8_lossy(&pending_line)) {
        counts.add(found);
    }
    let status = child.wait().context("cannot wait for cargo test")?;
    Ok((status.success(), counts))
}

/// Reads `test result: ok. 3 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; ...`.
fn parse_result_line(line: &str) -> Option<Counts> {
    let line = strip_ansi_escapes(line);
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_verdict, tallies) = rest.split_once(". ")?;
    let mut counts = Counts::default();
    let mut saw_passed = false;
    for tally in tallies.split(';') {
        let mut words = tally.split_whitespace();
        let (Some(number), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match kind {
            "passed" => {
                counts.passed = number;
                saw_passed = true;
            }
            "failed" => counts.failed = number,
            "ignored" => counts.ignored = number,
            _ => {}
        }
    }
    saw_passed.then_some(counts)
}

/// Drops colour codes (`ESC [ ... letter`), in case someone passes `-- --color always`.
fn strip_ansi_escapes(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for code in chars.by_ref() {
                if code.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn reads_result_lines() {
        assert_eq!(
            parse_result_line(
                "test result: ok. 12 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.31s\n"
            ),
            Some(Counts {
                passed: 12,
                failed: 0,
                ignored: 2
            })
        );
        assert_eq!(
            parse_result_line(
                "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"
            ),
            Some(Counts {
                passed: 3,
                failed: 1,
                ignored: 0
            })
        );
        assert_eq!(
            parse_result_line("\u{1b}[32mtest result: ok\u{1b}[0m. 1 passed; 0 failed; 0 ignored"),
            Some(Counts {
                passed: 1,
                failed: 0,
                ignored: 0
            })
        );
        assert_eq!(parse_result_line("test it_works ... ok"), None);
        assert_eq!(parse_result_line("running 3 tests"), None);
    }

    #[test]
    fn summary_names_skipped_only_when_some_were() {
        let mut counts = Counts {
            passed: 5,
            failed: 1,
            ignored: 0,
        };
        assert_eq!(counts.summary_line(), "test summary: 5 passed, 1 failed");
        counts.ignored = 2;
        assert_eq!(
            counts.summary_line(),
            "test summary: 5 passed, 1 failed, 2 skipped"
        );
    }

    #[test]
    fn caller_arguments_replace_the_matching_defaults() {
        assert_eq!(
            cargo_test_args(&[]),
            strings(&["test", "--workspace", "--all-targets", "--no-fail-fast"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["-p", "aiut-domain"])),
            strings(&[
                "test",
                "--all-targets",
                "--no-fail-fast",
                "-p",
                "aiut-domain"
            ])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--doc", "--", "--test", "x"])),
            strings(&[
                "test",
                "--workspace",
                "--no-fail-fast",
                "--doc",
                "--",
                "--test",
                "x"
            ])
        );
        // After a nested `--` the words are the harness's, even when they look like cargo's.
        assert_eq!(
            cargo_test_args(&strings(&["--", "-p"])),
            strings(&[
                "test",
                "--workspace",
                "--all-targets",
                "--no-fail-fast",
                "--",
                "-p"
            ])
        );
    }
}
