//! AIunittest's developer and operator tasks, in Rust rather than shell scripts (the xtask pattern).
//! `cargo xtask test` is the development task, kept here; every other task is an operations
//! command of `aiut-ops` (crates/ops), parsed by the same clap definitions.

// Printing is what this binary is for: its output is the interface.
#![allow(clippy::print_stdout)]

mod test;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use ops::cli;

/// AIunittest's developer and operator tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", before_help = cli::OPERATIONS_NOTE)]
struct Xtask {
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// cargo fmt --check, cargo clippy -D warnings, cargo test; ends with one line `test summary:
    /// N passed, M failed[, K skipped]`
    Test(test::TestArgs),
    #[command(flatten)]
    Operations(cli::Command),
}

fn main() -> ExitCode {
    let xtask = match cli::parse_or_exit_code::<Xtask>() {
        Ok(xtask) => xtask,
        Err(code) => return code,
    };
    let outcome = match xtask.task {
        Some(Task::Test(args)) => test::run(&args),
        Some(Task::Operations(command)) => command.run(),
        None => Xtask::command()
            .print_help()
            .map(|()| true)
            .map_err(Into::into),
    };
    cli::exit_code(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Xtask, clap::Error> {
        Xtask::try_parse_from(std::iter::once("xtask").chain(line.split_whitespace()))
    }

    #[test]
    fn the_parser_is_consistent() {
        Xtask::command().debug_assert();
    }

    /// `cargo xtask test` as README.md and .ci/run call it, and every operations command through
    /// the same parser (their meaning is checked in `ops::cli`).
    #[test]
    fn every_documented_invocation_parses() {
        let Ok(Xtask {
            task: Some(Task::Test(args)),
        }) = parse("test")
        else {
            panic!("test")
        };
        assert!(args.lint && args.cargo_test_args.is_empty());
        let Ok(Xtask {
            task: Some(Task::Test(args)),
        }) = parse("test --no-lint -- -p aiut-domain")
        else {
            panic!("test --no-lint")
        };
        assert!(!args.lint);
        assert_eq!(args.cargo_test_args, ["-p", "aiut-domain"]);
        // A nested `--` belongs to the test harness, and is passed on as it is.
        let Ok(Xtask {
            task: Some(Task::Test(args)),
        }) = parse("test -- --doc -- --test x")
        else {
            panic!("test with a nested --")
        };
        assert_eq!(args.cargo_test_args, ["--doc", "--", "--test", "x"]);
        assert!(parse("test -p aiut-domain").is_err());

        for line in [
            "deploy",
            "deploy --with-simulator --simulator-latency-ms 1000 --trust 127.0.0.1/32",
            "deploy --no-build --no-install",
            "deploy --compose",
            "status",
            "health",
            "logs api -f",
            "restart",
            "restart --build",
            "stop",
            "stop --purge",
            "monitoring",
            "loadtest --users 50 --requests 60 --test-lb --min-success 100",
            "loadtest --scenario generate --users 10 --requests 3 --min-success 100",
            "loadtest --users 8 --duration 75s --requests 1000000 --min-success 100 --min-qps 0 --json",
            "bench api",
            "bench gateway",
            "bench generation --language python --reruns 5",
        ] {
            assert!(
                matches!(
                    parse(line),
                    Ok(Xtask {
                        task: Some(Task::Operations(_))
                    })
                ),
                "{line}"
            );
        }
        assert!(matches!(parse(""), Ok(Xtask { task: None })));
    }
}
