//! `aiut-ops`: the operations commands on their own, for a machine that runs AIunittest without a
//! development checkout's `cargo xtask`.

use std::process::ExitCode;

use clap::CommandFactory;
use ops::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match cli::parse_or_exit_code::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Some(command) => cli::exit_code(command.run()),
        None => cli::exit_code(
            Cli::command()
                .print_help()
                .map(|()| true)
                .map_err(Into::into),
        ),
    }
}
