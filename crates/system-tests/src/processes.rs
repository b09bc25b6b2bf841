//! Services run as child processes: a folder of their own for configuration and logs, a command
//! that sees none of the developer's service variables, and stopping them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A folder of its own under the system's temporary folder, removed on drop.
pub struct TempFolder {
    pub path: PathBuf,
}

impl TempFolder {
    /// `<tmp>/<prefix>-<uuid>`, writable by everyone: nginx started as root runs its workers as
    /// `nobody`, and they write request bodies there.
    pub fn new(prefix: &str) -> TempFolder {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .expect("open the temporary folder to nginx's workers");
        TempFolder { path }
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A command for `program` without any variable of this process's environment whose name
/// starts with one of `prefixes` (`AIUT_`, `OTEL_`): only what the test sets configures it.
pub fn clean_command(program: &Path, prefixes: &[&str]) -> Command {
    let mut command = Command::new(program);
    for (variable, _) in std::env::vars_os() {
        let name = variable.to_string_lossy();
        if prefixes.iter().any(|prefix| name.starts_with(prefix)) {
            command.env_remove(&variable);
        }
    }
    command
}

/// A new log file `name` in `folder`.
pub fn log_file(folder: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(folder.join(name)).expect("create a log file")
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A child process, stopped by [`Process::stop`]: with `stop_command` first when there is one
/// (nginx's master must take its workers down with it), then killed if still running after 5 s.
pub struct Process {
    child: Child,
    stop_command: Option<Command>,
}

impl Process {
    pub fn new(child: Child, stop_command: Option<Command>) -> Process {
        Process {
            child,
            stop_command,
        }
    }

    /// Its exit status once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Some(command) = self.stop_command.as_mut() {
            let _ = command.stdout(Stdio::null()).stderr(Stdio::null()).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if self.exited().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` every 50 ms until it answers 2xx; false when `within` passed first.
pub async fn answers_within(client: &reqwest::Client, url: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
