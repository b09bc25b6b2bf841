//! Where user code runs: a fresh work directory, an unprivileged user, no network, a read-only
//! view of the system, a private /tmp, and limits on CPU, wall clock, memory, processes and
//! output. On a limit the whole process tree is killed and the limit is named.
//!
//! [`Bubblewrap`] is the one implementation: `bwrap` (Debian's `bubblewrap`) for the namespaces
//! and mounts, `prlimit` for per-process limits, and a cgroup (v1 or v2, where the worker may
//! write one) for memory and the number of processes.

mod bubblewrap;
mod cgroup;

pub use bubblewrap::Bubblewrap;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use service::sections::SandboxLimits as Limits;

/// The limit that stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    CpuTime,
    WallClock,
    Memory,
    Processes,
    Output,
    FileSize,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::CpuTime => "the CPU time limit",
            Limit::WallClock => "the wall-clock limit",
            Limit::Memory => "the memory limit",
            Limit::Processes => "the process limit",
            Limit::Output => "the output limit",
            Limit::FileSize => "the file size limit",
        })
    }
}

/// One command to run in a sandbox.
#[derive(Debug, Clone, Default)]
pub struct Command {
    /// The program, as a path inside the sandbox, and its arguments.
    pub argv: Vec<String>,
    /// The only environment the command sees (besides `PATH`, `HOME`, `TMPDIR` and `LANG`).
    pub env: BTreeMap<String, String>,
    /// Host paths the command may read, at the same place inside (toolchains outside `/usr`).
    pub read_only: Vec<PathBuf>,
    /// Whether `RLIMIT_AS` may stand in for memory where no cgroup can be made. Runtimes that
    /// reserve much more address space than they use (the JVM, Go, node) say no.
    pub address_space_limit_ok: bool,
}

impl Command {
    pub fn new<I, S>(argv: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command {
            argv: argv.into_iter().map(Into::into).collect(),
            address_space_limit_ok: true,
            ..Command::default()
        }
    }

    /// `sh -c script` inside the sandbox.
    pub fn shell(script: impl Into<String>) -> Command {
        Command::new(["/bin/sh".to_owned(), "-c".to_owned(), script.into()])
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Command {
        self.env.insert(key.to_owned(), value.into());
        self
    }

    pub fn read_only(mut self, path: impl Into<PathBuf>) -> Command {
        self.read_only.push(path.into());
        self
    }

    pub fn no_address_space_limit(mut self) -> Command {
        self.address_space_limit_ok = false;
        self
    }
}

/// How a sandboxed command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The exit code; `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// The limit that stopped it, if one did.
    pub limit: Option<Limit>,
    /// stdout then stderr, cut at the output limit.
    pub output: String,
    /// From start to the end of the whole tree.
    pub wall: Duration,
}

impl Execution {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && self.limit.is_none()
    }
}

/// Why a sandbox cannot run anything here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("no sandbox: {0}")]
    Unavailable(String),
    #[error("the sandbox could not start the command: {0}")]
    Spawn(String),
}

/// Runs commands in a work directory, contained.
#[async_trait::async_trait]
pub trait Sandbox: Send + Sync {
    /// What contains the commands, for logs and the health page (`bubblewrap 0.8 + cgroup v1`).
    fn describe(&self) -> String;

    /// Runs `command` with `work_dir` as its only writable directory (at `/work` inside).
    async fn execute(
        &self,
        command: &Command,
        work_dir: &Path,
        limits: &Limits,
    ) -> Result<Execution, SandboxError>;

    /// Makes `path` (a new work directory) the sandbox user's, so the command can write there.
    fn hand_over(&self, path: &Path) -> std::io::Result<()>;
}
