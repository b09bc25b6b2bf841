//! The sandbox made of `bwrap`, `prlimit`, `setpriv` and a cgroup.
//!
//! The command line, outside in:
//! `sh` (joins the run's cgroup, then execs) → `setpriv` (drops to the sandbox user, when the
//! worker is root) → `bwrap` (new user, pid, network, IPC, UTS and mount namespaces; `/usr`
//! read-only; a private `/tmp`, `/proc` and `/dev`; the work directory at `/work`; an empty
//! environment) → `prlimit` (CPU seconds, file size, no core dumps) → the command.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::cgroup::{Cgroups, RunGroup};
use super::{Command, Execution, Limit, Limits, Sandbox, SandboxError};

/// The user commands run as when the worker is root: `nobody`, which owns nothing.
pub const SANDBOX_UID: u32 = 65534;
const PATH: &str = "/usr/bin:/bin";
/// The private /tmp: enough for a compiler's temporary files, not for filling the disk.
const TMP_BYTES: u64 = 256 * 1024 * 1024;

/// The bubblewrap sandbox, as found on this machine.
#[derive(Debug)]
pub struct Bubblewrap {
    bwrap: PathBuf,
    version: String,
    /// Present when the worker is root: commands drop to this user first.
    drop_to: Option<u32>,
    cgroups: Option<Cgroups>,
}

/// Numbers the cgroups of every sandbox in this process, so that no two runs share one.
static RUNS: AtomicU64 = AtomicU64::new(0);

impl Bubblewrap {
    /// The sandbox, or why there is none: `bwrap` missing, or unable to make its namespaces here.
    pub async fn detect(bwrap: &Path) -> Result<Bubblewrap, SandboxError> {
        let version = tokio::process::Command::new(bwrap)
            .arg("--version")
            .env_clear()
            .output()
            .await
            .map_err(|error| {
                SandboxError::Unavailable(format!(
                    "{} cannot be started ({error}); install Debian's bubblewrap",
                    bwrap.display()
                ))
            })?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let root = rustix::process::geteuid().is_root();
        let sandbox = Bubblewrap {
            bwrap: bwrap.to_owned(),
            version,
            drop_to: root.then_some(SANDBOX_UID),
            cgroups: if root { Cgroups::detect() } else { None },
        };
        // A command that must run, and a network that must not be there.
        // One directory per probe: several sandboxes may be probed at once in one process.
        let probe_dir = std::env::temp_dir().join(format!(
            "aiut-sandbox-probe-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&probe_dir)
            .map_err(|error| SandboxError::Unavailable(format!("no work directory: {error}")))?;
        sandbox
            .hand_over(&probe_dir)
            .map_err(|error| SandboxError::Unavailable(format!("no work directory: {error}")))?;
        let probe = sandbox
            .execute(
                &Command::new(["/bin/sh", "-c", "test -w /work && test ! -e /etc/hostname"]),
                &probe_dir,
                &Limits::default(),
            )
            .await;
        let _ = std::fs::remove_dir_all(&probe_dir);
        match probe {
            Ok(execution) if execution.succeeded() => Ok(sandbox),
            Ok(execution) => Err(SandboxError::Unavailable(format!(
                "{} could not set up its namespaces here: {}",
                sandbox.version,
                execution.output.trim()
            ))),
            Err(error) => Err(SandboxError::Unavailable(error.to_string())),
        }
    }

    fn arguments(&self, command: &Command, work_dir: &Path, limits: &Limits) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        if let Some(uid) = self.drop_to {
            args.extend(
                [
                    "/usr/bin/setpriv",
                    &format!("--reuid={uid}"),
                    &format!("--regid={uid}"),
                    "--clear-groups",
                    "--",
                ]
                .map(str::to_owned),
            );
        }
        args.push(self.bwrap.display().to_string());
        let fixed = [
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ];
        args.extend(fixed.map(str::to_owned));
        args.extend([
            "--size".into(),
            TMP_BYTES.to_string(),
            "--tmpfs".into(),
            "/tmp".into(),
        ]);
        for path in &command.read_only {
            let path = path.display().to_string();
            args.extend(["--ro-bind-try".into(), path.clone(), path]);
        }
        args.extend([
            "--bind".into(),
            work_dir.display().to_string(),
            "/work".into(),
            "--chdir".into(),
            "/work".into(),
        ]);
        let mut env = vec![
            ("PATH".to_owned(), PATH.to_owned()),
            ("HOME".to_owned(), "/work".to_owned()),
            ("TMPDIR".to_owned(), "/tmp".to_owned()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ];
        env.extend(command.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (key, value) in env {
            args.extend(["--setenv".into(), key, value]);
        }
        args.push("--".into());
        args.push("/usr/bin/prlimit".into());
        // SIGXCPU at the soft limit names the limit; SIGKILL a second later if it is ignored.
        args.push(format!("--cpu={}:{}", limits.cpu_secs, limits.cpu_secs + 1));
        args.push(format!(
            "--fsize={0}:{0}",
            limits.output_bytes.max(64 * 1024 * 1024)
        ));
        args.push("--core=0:0".into());
        args.push("--nofile=1024:1024".into());
        if self.cgroups.is_none() && command.address_space_limit_ok {
            let bytes = limits.memory_mib.saturating_mul(1024 * 1024);
            args.push(format!("--as={bytes}:{bytes}"));
        }
        args.push("--".into());
        args.extend(command.argv.iter().cloned());
        args
    }
}

#[async_trait::async_trait]
impl Sandbox for Bubblewrap {
    fn describe(&self) -> String {
        let user = match self.drop_to {
            Some(uid) => format!("uid {uid}"),
            None => "the worker's own uid".to_owned(),
        };
        let memory = match &self.cgroups {
            Some(cgroups) => cgroups.version().to_owned(),
            None => "rlimits (no writable cgroup)".to_owned(),
        };
        format!("{} as {user}, limits by {memory}", self.version)
    }

    async fn execute(
        &self,
        command: &Command,
        work_dir: &Path,
        limits: &Limits,
    ) -> Result<Execution, SandboxError> {
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let group: Option<RunGroup> = match &self.cgroups {
            Some(cgroups) => Some(
                cgroups
                    .create(&format!("run-{}-{run}", std::process::id()), limits)
                    .map_err(|error| SandboxError::Spawn(format!("no cgroup: {error}")))?,
            ),
            None => None,
        };
        let args = self.arguments(command, work_dir, limits);
        let mut process = match &group {
            // The shell joins the group and becomes the sandbox: nothing of the command runs
            // outside it, even for a moment.
            Some(group) => {
                let joins: Vec<String> = group
                    .procs_files()
                    .iter()
                    .map(|file| format!("echo $$ > '{}'", file.display()))
                    .collect();
                let mut process = tokio::process::Command::new("/bin/sh");
                process
                    .arg("-c")
                    .arg(format!("{} && exec \"$@\"", joins.join(" && ")))
                    .arg("sh")
                    .args(&args);
                process
            }
            None => {
                let mut process = tokio::process::Command::new(&args[0]);
                process.args(&args[1..]);
                process
            }
        };
        process
            .env_clear()
            .env("PATH", PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = process
            .spawn()
            .map_err(|error| SandboxError::Spawn(format!("{}: {error}", self.bwrap.display())))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let wall = Duration::from_secs(limits.wall_secs);
        let finished = tokio::time::timeout(wall, async {
            let (out, err, overflow) = collect(stdout, stderr, limits.output_bytes).await;
            if overflow {
                return (None, out, err, Some(Limit::Output));
            }
            let status = child.wait().await.ok();
            (status, out, err, None)
        })
        .await;
        let (status, out, err, mut limit) = match finished {
            Ok(done) => done,
            Err(_) => (None, Vec::new(), Vec::new(), Some(Limit::WallClock)),
        };
        if status.is_none() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        if let Some(group) = group {
            group.kill_all();
            limit = limit.or_else(|| group.limit_hit());
            group.remove();
        }
        let exit_code = status.and_then(|status| status.code());
        let signal = status.and_then(|status| status.signal());
        // bwrap reports a command killed by a signal as 128 + the signal's number.
        let signal = signal.or_else(|| exit_code.filter(|code| *code > 128).map(|code| code - 128));
        limit = limit.or(match signal {
            Some(24) => Some(Limit::CpuTime),
            Some(25) => Some(Limit::FileSize),
            _ => None,
        });
        let mut output = String::from_utf8_lossy(&out).into_owned();
        if !err.is_empty() {
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&String::from_utf8_lossy(&err));
        }
        Ok(Execution {
            exit_code,
            limit,
            output,
            wall: started.elapsed(),
        })
    }

    fn hand_over(&self, path: &Path) -> std::io::Result<()> {
        let Some(uid) = self.drop_to else {
            return Ok(());
        };
        chown_tree(path, uid)
    }
}

fn chown_tree(path: &Path, uid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// stdout and stderr, read side by side until both end or together pass `cap` bytes.
async fn collect(
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
    cap: u64,
) -> (Vec<u8>, Vec<u8>, bool) {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut stdout = stdout;
    let mut stderr = stderr;
    let mut out_buf = [0u8; 8192];
    let mut err_buf = [0u8; 8192];
    loop {
        if stdout.is_none() && stderr.is_none() {
            return (out, err, false);
        }
        tokio::select! {
            read = async { stdout.as_mut()?.read(&mut out_buf).await.ok() }, if stdout.is_some() => {
                match read {
                    Some(n) if n > 0 => out.extend_from_slice(&out_buf[..n]),
                    _ => stdout = None,
                }
            }
            read = async { stderr.as_mut()?.read(&mut err_buf).await.ok() }, if stderr.is_some() => {
                match read {
                    Some(n) if n > 0 => err.extend_from_slice(&err_buf[..n]),
                    _ => stderr = None,
                }
            }
        }
        if out.len() + err.len() > cap {
            out.truncate(cap.min(out.len()));
            let room = cap.saturating_sub(out.len());
            err.truncate(room.min(err.len()));
            return (out, err, true);
        }
    }
}
