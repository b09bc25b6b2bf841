//! `cargo xtask stop`: every service of the deployment, gracefully, then forced after a timeout;
//! nothing is left running.

use std::time::Duration;

use rustix::process::Signal;

use crate::stack::{Deployment, Kind, process, state};

pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let mut timeout = Duration::from_secs(30);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--timeout" => {
                let value = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--timeout needs seconds"))?;
                timeout = Duration::from_secs(value.parse().map_err(|_| {
                    anyhow::anyhow!("--timeout takes whole seconds, not {value:?}")
                })?);
            }
            other => anyhow::bail!("stop: unknown option {other:?}"),
        }
    }
    let state_dir = state::state_dir();
    let Some(mut deployment) = state::load(&state_dir)? else {
        println!(
            "nothing is deployed here ({} has no state.json)",
            state_dir.display()
        );
        return Ok(true);
    };
    let clean = stop_services(&mut deployment, timeout);
    if clean {
        state::remove(&state_dir)?;
        println!(
            "stopped; nothing left running (logs and data stay in {})",
            state_dir.display()
        );
    } else {
        state::save(&state_dir, &deployment)?;
    }
    Ok(clean)
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
fn stop_signal(kind: Kind) -> Signal {
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
            if !process::wait_group_gone(pid, timeout) {
                println!(
                    "    {} did not stop within {} s: killing it",
                    service.name,
                    timeout.as_secs()
                );
                let _ = process::signal_group(pid, Signal::KILL);
                if !process::wait_group_gone(pid, Duration::from_secs(5)) {
                    eprintln!("    {} (pid {pid}) is still running", service.name);
                    clean = false;
                    continue;
                }
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
    fn the_front_door_stops_first_and_the_data_last() {
        assert!(phase(Kind::Gateway) < phase(Kind::Api));
        assert!(phase(Kind::Api) < phase(Kind::Worker));
        assert!(phase(Kind::Worker) < phase(Kind::Postgres));
        assert!(phase(Kind::Exporter) < phase(Kind::Redis));
        assert_eq!(stop_signal(Kind::Postgres), Signal::INT);
        assert_eq!(stop_signal(Kind::Api), Signal::TERM);
    }
}
