//! One cgroup per sandboxed command: a memory limit and a process limit for the whole tree, a
//! record of which one was hit, and a way to kill every process still in it.
//!
//! cgroup v1 (separate `memory` and `pids` hierarchies) and v2 (one unified hierarchy) are both
//! handled; a worker that may write neither gets `None` from [`Cgroups::detect`] and the sandbox
//! falls back to per-process rlimits.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Limit, Limits};

const ROOT: &str = "/sys/fs/cgroup";
/// The parent of every run's group.
const PARENT: &str = "aiunittest";

#[derive(Debug, Clone)]
pub(crate) enum Cgroups {
    V1 { memory: PathBuf, pids: PathBuf },
    V2 { parent: PathBuf },
}

impl Cgroups {
    /// The hierarchy this process may create groups in, if any.
    pub(crate) fn detect() -> Option<Cgroups> {
        let root = Path::new(ROOT);
        let v1 = Cgroups::V1 {
            memory: root.join("memory").join(PARENT),
            pids: root.join("pids").join(PARENT),
        };
        if root.join("memory/memory.limit_in_bytes").exists() && v1.prepare().is_ok() {
            return Some(v1);
        }
        let v2 = Cgroups::V2 {
            parent: root.join(PARENT),
        };
        if root.join("cgroup.controllers").exists() && v2.prepare().is_ok() {
            return Some(v2);
        }
        None
    }

    pub(crate) fn version(&self) -> &'static str {
        match self {
            Cgroups::V1 { .. } => "cgroup v1",
            Cgroups::V2 { .. } => "cgroup v2",
        }
    }

    /// Makes the parent groups and proves a child can be made and removed.
    fn prepare(&self) -> io::Result<()> {
        match self {
            Cgroups::V1 { memory, pids } => {
                fs::create_dir_all(memory)?;
                fs::create_dir_all(pids)?;
            }
            Cgroups::V2 { parent } => {
                fs::create_dir_all(parent)?;
                // Controllers must be enabled on the way down; already enabled is fine.
                let _ = fs::write(
                    Path::new(ROOT).join("cgroup.subtree_control"),
                    "+memory +pids",
                );
                fs::write(parent.join("cgroup.subtree_control"), "+memory +pids")?;
            }
        }
        // A name of its own: sandboxes made at the same time (tests side by side, two workers)
        // each probe, and one removing a shared probe would fail another's, which would then
        // fall back to rlimits.
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let probe_name = format!(
            "probe-{}-{}",
            std::process::id(),
            PROBES.fetch_add(1, Ordering::Relaxed)
        );
        let probe = self.create(&probe_name, &Limits::default())?;
        probe.remove();
        Ok(())
    }

    /// A new group for one command, with `limits` applied.
    pub(crate) fn create(&self, name: &str, limits: &Limits) -> io::Result<RunGroup> {
        let memory_bytes = limits.memory_mib.saturating_mul(1024 * 1024).to_string();
        let processes = limits.processes.to_string();
        match self {
            Cgroups::V1 { memory, pids } => {
                let memory_dir = memory.join(name);
                let pids_dir = pids.join(name);
                fs::create_dir_all(&memory_dir)?;
                fs::create_dir_all(&pids_dir)?;
                let group = RunGroup {
                    dirs: vec![memory_dir.clone(), pids_dir.clone()],
                    v2: false,
                };
                fs::write(memory_dir.join("memory.limit_in_bytes"), &memory_bytes)?;
                // Swap counts too where the kernel accounts it; without it, the limit is RAM only.
                let _ = fs::write(
                    memory_dir.join("memory.memsw.limit_in_bytes"),
                    &memory_bytes,
                );
                fs::write(pids_dir.join("pids.max"), &processes)?;
                Ok(group)
            }
            Cgroups::V2 { parent } => {
                let dir = parent.join(name);
                fs::create_dir_all(&dir)?;
                let group = RunGroup {
                    dirs: vec![dir.clone()],
                    v2: true,
                };
                fs::write(dir.join("memory.max"), &memory_bytes)?;
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                fs::write(dir.join("pids.max"), &processes)?;
                Ok(group)
            }
        }
    }
}

/// The group of one command.
#[derive(Debug)]
pub(crate) struct RunGroup {
    dirs: Vec<PathBuf>,
    v2: bool,
}

impl RunGroup {
    /// The files a process writes its pid to, to join the group.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// The limit the group enforced, if it had to.
    pub(crate) fn limit_hit(&self) -> Option<Limit> {
        let (memory_events, pids_events) = if self.v2 {
            let dir = self.dirs.first()?;
            (dir.join("memory.events"), dir.join("pids.events"))
        } else {
            let memory = self.dirs.first()?;
            let pids = self.dirs.get(1)?;
            (memory.join("memory.oom_control"), pids.join("pids.events"))
        };
        if counter(&memory_events, "oom_kill") > 0 {
            return Some(Limit::Memory);
        }
        if counter(&pids_events, "max") > 0 {
            return Some(Limit::Processes);
        }
        None
    }

    /// Kills every process still in the group, until none is left (a fork bomb keeps forking
    /// while it is being killed, so one pass is not enough).
    pub(crate) fn kill_all(&self) {
        for _ in 0..100 {
            let pids = self.members();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn members(&self) -> Vec<i32> {
        self.procs_files()
            .iter()
            .filter_map(|file| fs::read_to_string(file).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|line| line.trim().parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Kills what is left and removes the group (an empty group is only its directory). Also
    /// done on drop, so a run cancelled halfway leaves nothing behind.
    pub(crate) fn remove(self) {}
}

impl Drop for RunGroup {
    fn drop(&mut self) {
        self.kill_all();
        for dir in &self.dirs {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// `key N` from a cgroup events file; 0 when absent.
fn counter(file: &Path, key: &str) -> u64 {
    fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (name, value) = line.split_once(' ')?;
                (name == key).then(|| value.trim().parse().ok()).flatten()
            })
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sandboxes made side by side each find the cgroups (none falls back to rlimits because
    /// another removed its probe). Where this process may not write cgroups there is nothing to
    /// find, and nothing to check.
    #[test]
    fn sandboxes_made_at_once_all_find_the_cgroups() {
        if Cgroups::detect().is_none() {
            eprintln!("no writable cgroup hierarchy here");
            return;
        }
        let found: Vec<bool> = std::thread::scope(|scope| {
            let finders: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| (0..25).all(|_| Cgroups::detect().is_some())))
                .collect();
            finders
                .into_iter()
                .map(|finder| finder.join().unwrap_or(false))
                .collect()
        });
        assert!(found.iter().all(|&found| found), "{found:?}");
    }

    #[test]
    fn counters_are_read_by_name() {
        let dir = std::env::temp_dir().join(format!("aiut-cgroup-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("events");
        fs::write(&file, "oom 2\noom_kill 1\nmax 0\n").expect("write");
        assert_eq!(counter(&file, "oom_kill"), 1);
        assert_eq!(counter(&file, "oom"), 2);
        assert_eq!(counter(&file, "max"), 0);
        assert_eq!(counter(&file, "absent"), 0);
        assert_eq!(counter(&dir.join("missing"), "max"), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
