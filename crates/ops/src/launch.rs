//! The one way this crate starts a service, whether a deployed one or a bench's: the program with
//! its input closed, an environment it cannot pick up by accident, and its output in a log.

use std::ffi::OsStr;
use std::fmt::Display;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

/// `program` with its input closed and every inherited variable that `is_configuration` names
/// removed: a service is configured by what its caller sets, never by a stray variable of the
/// operator's shell.
pub fn command(program: impl AsRef<OsStr>, is_configuration: impl Fn(&str) -> bool) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if is_configuration(&name.to_string_lossy()) {
            command.env_remove(&name);
        }
    }
    command
}

/// Keeps every inherited variable (nginx reads none of ours).
pub fn inherits_everything(_name: &str) -> bool {
    false
}

/// Sends the command's output and errors to `log`.
pub fn log_to(command: &mut Command, log: fs::File) -> anyhow::Result<&mut Command> {
    let for_errors = log.try_clone().context("cannot share the log file")?;
    Ok(command.stdout(log).stderr(for_errors))
}

/// Opens (appending) a log file, creating its folder.
pub fn open_log(path: &Path) -> anyhow::Result<fs::File> {
    if let Some(folder) = path.parent() {
        fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Creates (emptying) a log file.
pub fn create_log(path: &Path) -> anyhow::Result<fs::File> {
    fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

/// Starts the command; the error names `what` was started.
pub fn start(command: &mut Command, what: impl Display) -> anyhow::Result<Child> {
    command
        .spawn()
        .with_context(|| format!("cannot start {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_sees_only_the_configuration_it_is_given() {
        let mut command = command("/bin/sh", |name| name == "HOME");
        command.args(["-c", "echo \"[${HOME:-}][$AIUT_GIVEN]\""]);
        command.env("AIUT_GIVEN", "yes");
        let output = command.output().expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "[][yes]\n");
    }
}
