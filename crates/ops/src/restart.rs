//! `cargo xtask restart [service…] [--build]`: a rolling restart, one process at a time, so the
//! stack keeps answering. An api replica is stopped (it closes its listener first and drains, and
//! the gateway retries elsewhere), started again, and must be back in the gateway's rotation
//! before the next one goes; a worker releases what it cannot finish; the gateway hands its
//! listening sockets to its successor (Pingora's upgrade), so no connection is refused.

use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::deploy;

/// How long the gateway may take to notice a stopped replica: a health-check interval (2 s) and
/// a check's timeout, with room to spare.
const GATEWAY_NOTICE: Duration = Duration::from_secs(10);
/// The gateway's `upgrade_drain_secs` and a margin.
const OLD_GATEWAY_DRAIN: Duration = Duration::from_secs(160);
use crate::stack::{Deployment, Kind, process, state};

/// `restart`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RestartArgs {
    /// services to restart: a name such as `api-2` or a kind such as `api` [default: the api
    /// replicas, the workers, then the gateway]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// build and deploy fresh binaries first: a zero-downtime upgrade
    #[arg(long)]
    pub build: bool,
    /// how long each service may take to stop before it is killed
    #[arg(long, value_name = "S", default_value = "45", value_parser = crate::cli::seconds)]
    pub timeout: Duration,
}

/// The services to restart, in order: by default the api replicas, the workers, then the
/// gateway; named ones (a name or a kind such as `api`) in deployment order.
fn chosen(deployment: &Deployment, names: &[String]) -> anyhow::Result<Vec<String>> {
    let rolling = |kind: Kind| matches!(kind, Kind::Api | Kind::Worker | Kind::Gateway);
    if names.is_empty() {
        let mut order: Vec<&crate::stack::ServiceRecord> = deployment
            .services
            .iter()
            .filter(|s| rolling(s.kind))
            .collect();
        order.sort_by_key(|s| match s.kind {
            Kind::Api => 0,
            Kind::Worker => 1,
            _ => 2,
        });
        return Ok(order.into_iter().map(|s| s.name.clone()).collect());
    }
    let mut picked = Vec::new();
    for name in names {
        let matches: Vec<String> = deployment
            .select(name)
            .into_iter()
            .map(|s| s.name.clone())
            .collect();
        anyhow::ensure!(
            !matches.is_empty(),
            "no service {name:?} in this deployment"
        );
        picked.extend(matches);
    }
    Ok(picked)
}

pub fn run(args: &RestartArgs) -> anyhow::Result<bool> {
    let state_dir = state::state_dir();
    let Some(mut deployment) = state::load(&state_dir)? else {
        anyhow::bail!("nothing is deployed here; start it with `cargo xtask deploy`");
    };
    let names = chosen(&deployment, &args.services)?;
    if args.build {
        let root = crate::project_root();
        println!("==> building ({})", deployment.profile);
        deploy::build(&root, &deployment.profile)?;
        deploy::install_binaries(&root, &deployment.profile, &state_dir.join("bin"))?;
    }
    let started = Instant::now();
    let replicas = deployment
        .services
        .iter()
        .filter(|s| s.kind == Kind::Api)
        .count();
    for name in &names {
        let Some(service) = deployment.service(name).cloned() else {
            continue;
        };
        println!("==> {name}");
        match service.kind {
            Kind::Gateway => upgrade_gateway(&mut deployment, &state_dir, name)?,
            _ => {
                if let Some(pid) = service.pid.filter(|&pid| process::is_alive(pid)) {
                    process::signal_group(pid, crate::stop::stop_signal(service.kind))?;
                    anyhow::ensure!(
                        process::wait_gone_or_kill(name, pid, args.timeout),
                        "{name} (pid {pid}) cannot be stopped, so it cannot be restarted"
                    );
                }
                let backend = service.port.map(|port| format!("127.0.0.1:{port}"));
                if let (Kind::Api, Some(backend)) = (service.kind, &backend) {
                    // Let the gateway's health check see the replica down: a check that passes
                    // after a failing one brings it straight back into rotation, where an
                    // ejection for the requests it refused while away would otherwise last.
                    if !deploy::wait_backend(
                        &deployment.gateway_url,
                        backend,
                        false,
                        GATEWAY_NOTICE,
                    ) {
                        println!("    (the gateway did not report {backend} down)");
                    }
                }
                let mut fresh = service.clone();
                fresh.pid = None;
                deploy::launch(&mut deployment, &state_dir, fresh)?;
                deploy::wait_healthy(&deployment, name)?;
                if let (Kind::Api, Some(backend)) = (service.kind, &backend) {
                    print!("    {:<18} ", "back in rotation");
                    anyhow::ensure!(
                        deploy::wait_backend(
                            &deployment.gateway_url,
                            backend,
                            true,
                            Duration::from_secs(60)
                        ),
                        "the gateway has not taken {name} ({backend}) back after 60 s"
                    );
                    println!("yes");
                    deploy::wait_backends_healthy(&deployment.gateway_url, replicas)?;
                }
            }
        }
    }
    println!(
        "restarted {} service(s) in {:.1} s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(true)
}

/// Starts a new gateway that takes the listening sockets over, then asks the old one to hand them
/// across and finish its requests (SIGQUIT).
fn upgrade_gateway(
    deployment: &mut Deployment,
    state_dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<()> {
    let Some(old) = deployment.service(name).cloned() else {
        return Ok(());
    };
    let old_pid = old.pid.filter(|&pid| process::is_alive(pid));
    let mut successor = old.clone();
    if old_pid.is_some() {
        successor.args = vec!["--upgrade".into()];
    }
    let child = process::spawn(&successor)?;
    let new_pid = child.id();
    if let Some(old_pid) = old_pid {
        // The successor waits on the upgrade socket for the listeners; give it a moment to
        // bind it before the old one is told to send them.
        std::thread::sleep(Duration::from_millis(1_000));
        anyhow::ensure!(
            process::is_alive(new_pid),
            "the new gateway exited at start\n{}",
            deploy::service_log_tail(&old, 20)
        );
        process::signal_process(old_pid, Signal::QUIT)?;
        // The old gateway answers the requests it has (a `generate-test` wait among them, up to
        // its `upgrade_drain_secs`, 150 s) and exits as soon as none is left.
        process::wait_gone_or_kill("the old gateway", old_pid, OLD_GATEWAY_DRAIN);
    }
    let Some(record) = deployment.service_mut(name) else {
        return Ok(());
    };
    record.pid = Some(new_pid);
    record.started_at = Some(state::now());
    record.args = Vec::new();
    state::save(state_dir, deployment)?;
    deploy::wait_healthy(deployment, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Health, ServiceRecord};

    fn deployment() -> Deployment {
        let service = |name: &str, kind| ServiceRecord {
            name: name.into(),
            kind,
            program: "/bin/true".into(),
            args: Vec::new(),
            env: Default::default(),
            run_as: None,
            port: None,
            health: Health::Redis {
                port: 1,
                password: None,
            },
            log: "/dev/null".into(),
            pid: None,
            started_at: None,
        };
        Deployment {
            gateway_url: "http://127.0.0.1:80".into(),
            gateway_metrics_url: String::new(),
            prometheus_url: None,
            profile: "release".into(),
            database: String::new(),
            redis: String::new(),
            deployed_at: 0,
            services: vec![
                service("postgres", Kind::Postgres),
                service("api-1", Kind::Api),
                service("api-2", Kind::Api),
                service("worker-1", Kind::Worker),
                service("gateway", Kind::Gateway),
            ],
        }
    }

    #[test]
    fn by_default_the_replicas_then_the_workers_then_the_gateway_restart() {
        let order = chosen(&deployment(), &[]).expect("an order");
        assert_eq!(order, ["api-1", "api-2", "worker-1", "gateway"]);
        let named = chosen(&deployment(), &["api".into(), "postgres".into()]).expect("names");
        assert_eq!(named, ["api-1", "api-2", "postgres"]);
        assert!(chosen(&deployment(), &["nginx".into()]).is_err());
    }

    #[test]
    fn options_are_parsed() {
        let parse = crate::cli::parse_args::<RestartArgs>;
        let parsed = parse(&["api-1", "--build", "--timeout", "5"]).expect("valid");
        assert_eq!(parsed.services, ["api-1"]);
        assert!(parsed.build);
        assert_eq!(parsed.timeout, Duration::from_secs(5));
        assert!(parse(&["--timeout", "soon"]).is_err());
        assert_eq!(
            parse(&[]).expect("defaults").timeout,
            Duration::from_secs(45)
        );
    }
}
