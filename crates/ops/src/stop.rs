//! `cargo xtask stop`: every service of the deployment, gracefully, then forced after a timeout;
//! nothing is left running.

use std::time::Duration;

use rustix::process::Signal;

use crate::stack::{Deployment, Kind, process, state};

/// `stop`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StopArgs {
    /// how long each service may take to stop before it is killed
    #[arg(long, value_name = "S", default_value = "30", value_parser = crate::cli::seconds)]
    pub timeout: Duration,
    /// also delete the state folder (logs, configuration, binaries, the private Postgres and
    /// Redis data and their passwords)
    #[arg(long)]
    pub purge: bool,
}

pub fn run(args: &StopArgs) -> anyhow::Result<bool> {
    let StopArgs { timeout, purge } = *args;
    let state_dir = state::state_dir();
    let Some(mut deployment) = state::load(&state_dir)? else {
        println!(
            "nothing is deployed here ({} has no state.json)",
            state_dir.display()
        );
        return Ok(true);
    };
    let clean = stop_services(&mut deployment, timeout);
    if clean && purge {
        for folder in postgres_data_outside(&deployment, &state_dir) {
            remove_folder(&folder)?;
        }
        remove_folder(&state_dir)?;
        println!("stopped; nothing left running, and the state, logs and data are deleted");
    } else if clean {
        state::remove(&state_dir)?;
        println!(
            "stopped; nothing left running (logs and data stay in {}; `stop --purge` deletes them)",
            state_dir.display()
        );
    } else {
        state::save(&state_dir, &deployment)?;
    }
    Ok(clean)
}

/// A private Postgres cluster kept outside the state folder (see `stack::data`), with the folder
/// made for it.
fn postgres_data_outside(
    deployment: &Deployment,
    state_dir: &std::path::Path,
) -> Vec<std::path::PathBuf> {
    deployment
        .services
        .iter()
        .filter(|service| service.kind == Kind::Postgres)
        .filter_map(|service| {
            let at = service.args.iter().position(|arg| arg == "-D")?;
            let data = std::path::PathBuf::from(service.args.get(at + 1)?);
            if data.starts_with(state_dir) {
                return None;
            }
            // `/var/tmp/aiunittest-<tag>/postgres`: the tagged folder goes too.
            let parent = data.parent()?;
            let tagged = parent
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("aiunittest-"));
            Some(if tagged { parent.to_path_buf() } else { data })
        })
        .collect()
}

fn remove_folder(folder: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(folder) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => {
            Err(anyhow::Error::new(error).context(format!("cannot delete {}", folder.display())))
        }
    }
}

/// The order of stopping: the front door first, so no new work arrives; the data last.
fn phase(kind: Kind) -> u8 {
    match kind {
        Kind::Gateway => 0,
        Kind::Api => 1,
        Kind::Worker | Kind::Simulator => 2,
        Kind::Prometheus | Kind::Exporter => 3,
        Kind::Redis | Kind::Postgres => 4,
    }
}

/// The signal asking a service to stop: Postgres' fast shutdown (SIGTERM would wait for every
/// client to leave), SIGTERM for the rest.
pub fn stop_signal(kind: Kind) -> Signal {
    match kind {
        Kind::Postgres => Signal::INT,
        _ => Signal::TERM,
    }
}

/// Stops every recorded service, phase by phase; whether none is left. Processes that outlive
/// the timeout are killed, with their whole process group.
pub fn stop_services(deployment: &mut Deployment, timeout: Duration) -> bool {
    let mut clean = true;
    for current in 0..=4 {
        let in_phase: Vec<usize> = (0..deployment.services.len())
            .filter(|&index| phase(deployment.services[index].kind) == current)
            .collect();
        for &index in &in_phase {
            let service = &deployment.services[index];
            if let Some(pid) = service.pid
                && (process::is_alive(pid) || !process::group_members(pid).is_empty())
            {
                println!("    stopping {} (pid {pid})", service.name);
                if let Err(error) = process::signal_group(pid, stop_signal(service.kind)) {
                    eprintln!("    {}: {error:#}", service.name);
                }
            }
        }
        for &index in &in_phase {
            let service = &mut deployment.services[index];
            let Some(pid) = service.pid else {
                continue;
            };
            if !process::wait_gone_or_kill(&service.name, pid, timeout) {
                clean = false;
                continue;
            }
            service.pid = None;
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_finds_a_cluster_kept_outside_the_state_folder() {
        use crate::stack::{Health, ServiceRecord};
        let postgres = |data: &str| ServiceRecord {
            name: "postgres".into(),
            kind: Kind::Postgres,
            program: "/usr/lib/postgresql/15/bin/postgres".into(),
            args: vec!["-D".into(), data.into(), "-p".into(), "54329".into()],
            env: Default::default(),
            run_as: None,
            port: Some(54329),
            health: Health::Redis {
                port: 1,
                password: None,
            },
            log: "/dev/null".into(),
            pid: None,
            started_at: None,
        };
        let deployment = |data: &str| Deployment {
            gateway_url: String::new(),
            gateway_metrics_url: String::new(),
            prometheus_url: None,
            profile: "release".into(),
            database: String::new(),
            redis: String::new(),
            deployed_at: 0,
            services: vec![postgres(data)],
        };
        let state = std::path::Path::new("/srv/app/.aiut");
        assert!(postgres_data_outside(&deployment("/srv/app/.aiut/postgres"), state).is_empty());
        assert_eq!(
            postgres_data_outside(
                &deployment("/var/tmp/aiunittest-0123456789ab/postgres"),
                state
            ),
            [std::path::PathBuf::from("/var/tmp/aiunittest-0123456789ab")]
        );
    }

    #[test]
    fn the_front_door_stops_first_and_the_data_last() {
        assert!(phase(Kind::Gateway) < phase(Kind::Api));
        assert!(phase(Kind::Api) < phase(Kind::Worker));
        assert!(phase(Kind::Worker) < phase(Kind::Postgres));
        assert!(phase(Kind::Exporter) < phase(Kind::Redis));
        assert_eq!(stop_signal(Kind::Postgres), Signal::INT);
        assert_eq!(stop_signal(Kind::Api), Signal::TERM);
    }
}
