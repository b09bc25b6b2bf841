//! Starting the deployed processes detached from the shell, signalling them, and reading what
//! `/proc` says about them.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::process::{Pid, Signal};

use super::ServiceRecord;

/// Variables removed from the inherited environment of every service: the record's own `env`
/// says everything the service is meant to see.
fn is_configuration_variable(name: &str) -> bool {
    name.starts_with("AIUT_")
        || name.starts_with("OTEL_")
        || name == "DATABASE_URL"
        || name == "REDIS_URL"
}

/// The service's program with its arguments, its environment (the record's own, over the
/// inherited one cleared of configuration variables) and its user; output and process group are
/// the caller's to choose.
pub fn command(service: &ServiceRecord) -> Command {
    let mut command = Command::new(&service.program);
    command.args(&service.args).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_configuration_variable) {
            command.env_remove(&name);
        }
    }
    command.envs(&service.env);
    if let Some((uid, gid)) = service.run_as {
        command.uid(uid).gid(gid);
    }
    command
}

/// Opens (appending) a log file, creating its folder.
pub fn open_log(path: &std::path::Path) -> anyhow::Result<fs::File> {
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

/// Starts the service in a process group of its own (so `stop` reaches its children too and a
/// Ctrl-C in the deploying shell does not), output appended to its log.
pub fn spawn(service: &ServiceRecord) -> anyhow::Result<Child> {
    let log = open_log(&service.log)?;
    command(service)
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} ({})",
                service.name,
                service.program.display()
            )
        })
}

/// Whether the process exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_fields(&stat).is_some_and(|fields| fields.first() != Some(&"Z")),
        Err(_) => false,
    }
}

/// The fields after the command name (which may hold spaces and parentheses): field 3 (state)
/// is the first.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().collect())
}

/// Signals the process group the service leads (it was started as the leader of one).
pub fn signal_group(pid: u32, signal: Signal) -> anyhow::Result<()> {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        anyhow::bail!("{pid} is not a process id");
    };
    match rustix::process::kill_process_group(pid, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot signal process group {pid:?}")),
    }
}

/// Signals one process (not its group).
pub fn signal_process(pid: u32, signal: Signal) -> anyhow::Result<()> {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        anyhow::bail!("{pid} is not a process id");
    };
    match rustix::process::kill_process(pid, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot signal process {pid:?}")),
    }
}

/// The live processes of a process group, found in `/proc`.
pub fn group_members(group: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat_fields(&stat).is_some_and(|fields| {
                    // fields[0] is the state, fields[2] the process group.
                    fields.first() != Some(&"Z")
                        && fields.get(2) == Some(&group.to_string().as_str())
                })
            })
        })
        .collect()
}

/// Waits until no process of the group is left, up to `limit`; whether they are all gone.
pub fn wait_group_gone(group: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !is_alive(group) && group_members(group).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits up to `limit` for the group to leave after it was asked to; then kills it. Whether none
/// of it is left.
pub fn wait_gone_or_kill(name: &str, group: u32, limit: Duration) -> bool {
    if wait_group_gone(group, limit) {
        return true;
    }
    println!(
        "    {name} did not stop within {} s: killing it",
        limit.as_secs()
    );
    let _ = signal_group(group, Signal::KILL);
    if wait_group_gone(group, Duration::from_secs(5)) {
        return true;
    }
    eprintln!("    {name} (pid {group}) is still running");
    false
}

/// Resident memory in KiB (`VmRSS`).
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Human-friendly duration: `42s`, `5m 03s`, `2h 10m`, `3d 4h`.
pub fn format_uptime(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        3_600..86_400 => format!("{}h {:02}m", seconds / 3_600, seconds % 3_600 / 60),
        _ => format!("{}d {}h", seconds / 86_400, seconds % 86_400 / 3_600),
    }
}

/// Human-friendly memory: `812 KiB`, `23.4 MiB`, `1.20 GiB`.
pub fn format_memory(kib: u64) -> String {
    match kib {
        0..1_024 => format!("{kib} KiB"),
        1_024..1_048_576 => format!("{:.1} MiB", kib as f64 / 1_024.0),
        _ => format!("{:.2} GiB", kib as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1";
        let fields = stat_fields(stat).expect("fields");
        assert_eq!(fields[0], "S");
        assert_eq!(fields[2], "4242");
    }

    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        assert!(is_alive(std::process::id()));
        assert!(!is_alive(u32::MAX - 1));
        assert!(resident_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }

    #[test]
    fn only_the_deployment_variables_are_dropped() {
        assert!(is_configuration_variable("AIUT_SERVER__PORT"));
        assert!(is_configuration_variable("DATABASE_URL"));
        assert!(is_configuration_variable("REDIS_URL"));
        assert!(is_configuration_variable("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(!is_configuration_variable("PATH"));
        assert!(!is_configuration_variable("OPENAI_API_KEY"));
    }

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(format_uptime(42), "42s");
        assert_eq!(format_uptime(303), "5m 03s");
        assert_eq!(format_uptime(7_800), "2h 10m");
        assert_eq!(format_uptime(273_600), "3d 4h");
        assert_eq!(format_memory(812), "812 KiB");
        assert_eq!(format_memory(23_962), "23.4 MiB");
        assert_eq!(format_memory(1_258_292), "1.20 GiB");
    }

    #[test]
    fn a_started_group_is_signalled_and_gone() {
        let folder = std::env::temp_dir().join(format!("aiut-process-{}", std::process::id()));
        let service = ServiceRecord {
            name: "sleeper".into(),
            kind: super::super::Kind::Exporter,
            program: "sh".into(),
            // A child that outlives its parent's exit, as a careless service might leave.
            args: vec!["-c".into(), "sleep 30 & sleep 30".into()],
            env: Default::default(),
            run_as: None,
            port: None,
            health: super::super::Health::Redis { port: 1 },
            log: folder.join("sleeper.log"),
            pid: None,
            started_at: None,
        };
        let mut child = spawn(&service).expect("spawn");
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(200));
        assert!(group_members(pid).len() >= 2, "the shell and its sleeps");
        signal_group(pid, Signal::TERM).expect("signal");
        let _ = child.wait();
        assert!(wait_group_gone(pid, Duration::from_secs(5)));
        let _ = fs::remove_dir_all(folder);
    }
}
