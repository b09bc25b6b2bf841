//! Starting the deployed processes detached from the shell, signalling them, and waiting until
//! they are gone.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::process::{Pid, Signal};

use super::{Kind, ServiceRecord};
use crate::launch;

/// Variables removed from the inherited environment of every service: the record's own `env`
/// says everything the service is meant to see.
fn is_configuration_variable(name: &str) -> bool {
    name.starts_with("AIUT_")
        || name.starts_with("OTEL_")
        || name == "DATABASE_URL"
        || name == "REDIS_URL"
}

/// The provider key variables of the built-in model registry and of the registry in the
/// deployment's configuration (an operator's `--config` may name others). Only the workers call
/// models: an api replica offers what the live workers announce, so it is never given a key.
fn provider_keys(service: &ServiceRecord) -> Vec<String> {
    let deployed = service
        .env
        .get("AIUT_CONFIG")
        .and_then(|path| deployed_registry(std::path::Path::new(path)));
    std::iter::once(domain::ModelRegistry::default())
        .chain(deployed)
        .flat_map(|registry| registry.models)
        .filter_map(|spec| spec.api_key_env)
        .collect()
}

/// The `[models]` section of a deployment's configuration file, when it has a readable one.
fn deployed_registry(path: &std::path::Path) -> Option<domain::ModelRegistry> {
    let table: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
    table.get("models")?.clone().try_into().ok()
}

/// The service's program with its arguments, its environment (the record's own, over the
/// inherited one cleared of configuration variables, and of provider keys for an api replica)
/// and its user; output and process group are the caller's to choose.
pub fn command(service: &ServiceRecord) -> Command {
    let withheld = if service.kind == Kind::Api {
        provider_keys(service)
    } else {
        Vec::new()
    };
    let mut command = launch::command(&service.program, |name| {
        is_configuration_variable(name) || withheld.iter().any(|key| key == name)
    });
    command.args(&service.args).envs(&service.env);
    if let Some((uid, gid)) = service.run_as {
        command.uid(uid).gid(gid);
    }
    command
}

/// Starts the service in a process group of its own (so `stop` reaches its children too and a
/// Ctrl-C in the deploying shell does not), output appended to its console log.
pub fn spawn(service: &ServiceRecord) -> anyhow::Result<Child> {
    let mut command = command(service);
    launch::log_to(&mut command, launch::open_log(&service.console_log())?)?.process_group(0);
    launch::start(
        &mut command,
        format_args!("{} ({})", service.name, service.program.display()),
    )
}

// What `/proc` says about them, for the commands that used to find it here.
pub use crate::procfs::{group_members, is_alive, resident_kib};

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
    fn only_the_deployment_variables_are_dropped() {
        assert!(is_configuration_variable("AIUT_SERVER__PORT"));
        assert!(is_configuration_variable("DATABASE_URL"));
        assert!(is_configuration_variable("REDIS_URL"));
        assert!(is_configuration_variable("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(!is_configuration_variable("PATH"));
        assert!(!is_configuration_variable("OPENAI_API_KEY"));
    }

    #[test]
    fn the_api_replicas_are_kept_from_every_registrys_keys() {
        let folder = std::env::temp_dir().join(format!("aiut-keys-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("folder");
        let config = folder.join("aiunittest.toml");
        std::fs::write(
            &config,
            "[[models.registry]]\nid = \"local\"\nkind = \"openai\"\n\
             base_url = \"http://127.0.0.1:11434/v1\"\napi_key_env = \"LOCAL_LLM_KEY\"\n",
        )
        .expect("write");
        let api = ServiceRecord {
            name: "api-1".into(),
            kind: Kind::Api,
            program: "true".into(),
            args: Vec::new(),
            env: [(
                "AIUT_CONFIG".to_owned(),
                config.to_string_lossy().into_owned(),
            )]
            .into(),
            run_as: None,
            port: None,
            health: super::super::Health::Redis {
                port: 1,
                password: None,
            },
            log: folder.join("api-1.log"),
            pid: None,
            started_at: None,
        };
        let withheld = provider_keys(&api);
        assert!(
            withheld.contains(&"OPENAI_API_KEY".to_owned()),
            "the built-in registry's"
        );
        assert!(
            withheld.contains(&"LOCAL_LLM_KEY".to_owned()),
            "the deployed registry's"
        );
        assert!(!withheld.contains(&"PATH".to_owned()));
        let _ = std::fs::remove_dir_all(folder);
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
            health: super::super::Health::Redis {
                port: 1,
                password: None,
            },
            log: folder.join("sleeper.log"),
            pid: None,
            started_at: None,
        };
        let mut child = spawn(&service).expect("spawn");
        let pid = child.id();
        // The shell forks its sleeps when it is scheduled: look until they are there, within a
        // bound, rather than after a fixed pause a busy machine may outlast.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while group_members(pid).len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(group_members(pid).len() >= 2, "the shell and its sleeps");
        signal_group(pid, Signal::TERM).expect("signal");
        let _ = child.wait();
        assert!(wait_group_gone(pid, Duration::from_secs(5)));
        let _ = std::fs::remove_dir_all(folder);
    }
}
