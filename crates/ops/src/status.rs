//! `cargo xtask status`: one line per service — pid, port, health, uptime, memory. Exits non-zero
//! when a service is down or unhealthy.

use std::time::Duration;

use crate::stack::{probe, process, state};

pub fn run() -> anyhow::Result<bool> {
    let state_dir = state::state_dir();
    let Some(deployment) = state::load(&state_dir)? else {
        println!("nothing is deployed here; start it with `cargo xtask deploy`");
        return Ok(false);
    };
    println!(
        "deployment at {} ({} build)",
        deployment.gateway_url, deployment.profile
    );
    println!(
        "{:<18} {:>7} {:>6}  {:<10} {:>9} {:>10}",
        "SERVICE", "PID", "PORT", "HEALTH", "UPTIME", "MEMORY"
    );
    let now = state::now();
    let mut all_well = true;
    for service in &deployment.services {
        let alive = service.pid.is_some_and(process::is_alive);
        let health = if !alive {
            "down".to_owned()
        } else {
            match probe::check(&service.health, Duration::from_secs(2)) {
                Ok(()) => "healthy".to_owned(),
                Err(_) => "unhealthy".to_owned(),
            }
        };
        all_well &= health == "healthy";
        let uptime = match (alive, service.started_at) {
            (true, Some(started)) => process::format_uptime(now.saturating_sub(started)),
            _ => "-".into(),
        };
        let memory = service
            .pid
            .filter(|_| alive)
            .and_then(process::resident_kib)
            .map_or("-".into(), process::format_memory);
        println!(
            "{:<18} {:>7} {:>6}  {:<10} {:>9} {:>10}",
            service.name,
            service
                .pid
                .filter(|_| alive)
                .map_or("-".into(), |pid| pid.to_string()),
            service.port.map_or("-".into(), |port| port.to_string()),
            health,
            uptime,
            memory
        );
    }
    if !all_well {
        println!("\nnot every service is healthy: `cargo xtask logs <service>` tells why");
    }
    Ok(all_well)
}
