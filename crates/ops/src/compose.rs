//! `--compose`: the same operations on the containerised stack, through `docker compose` with
//! the repository's `docker-compose.yml` and `deployment/.env`.

use std::process::Command;

use anyhow::Context;

/// The services a rolling restart goes through, one at a time.
const ROLLING_ORDER: [&str; 3] = ["worker", "api", "gateway"];

fn compose(args: &[&str]) -> anyhow::Result<bool> {
    let root = crate::project_root();
    let env_file = root.join("deployment").join(".env");
    anyhow::ensure!(
        env_file.is_file(),
        "{} is missing: copy deployment/.env.example to deployment/.env and fill in the \
         passwords it asks for",
        env_file.display()
    );
    let version = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .context("docker is not installed (install Docker Engine with its compose plugin)")?;
    anyhow::ensure!(
        version.status.success(),
        "`docker compose` is not available: install the Docker compose plugin, or deploy \
         natively with `cargo xtask deploy`"
    );
    let mut command = Command::new("docker");
    command
        .current_dir(&root)
        .args(["compose", "-f", "docker-compose.yml", "--env-file"])
        .arg(&env_file)
        .args(args);
    println!("==> docker compose {}", args.join(" "));
    let status = command.status().context("cannot run docker compose")?;
    Ok(status.success())
}

/// `deploy --compose`: builds the images and starts the stack, waiting until it is healthy.
pub fn deploy() -> anyhow::Result<bool> {
    let ok = compose(&["up", "--detach", "--build", "--wait"])?;
    if ok {
        println!(
            "AIunittest is running: http://127.0.0.1/ (Grafana http://127.0.0.1:3000, Prometheus http://127.0.0.1:9090)"
        );
    }
    Ok(ok)
}

/// `stop --compose`; the native options (`--timeout`, `--purge`) do not apply.
pub fn stop() -> anyhow::Result<bool> {
    compose(&["down", "--timeout", "30"])
}

/// `restart --compose [service…]`: one service at a time, each healthy again before the next.
pub fn restart(services: &[String]) -> anyhow::Result<bool> {
    let services: Vec<&str> = if services.is_empty() {
        ROLLING_ORDER.to_vec()
    } else {
        services.iter().map(String::as_str).collect()
    };
    for service in services {
        if !compose(&["restart", "--timeout", "30", service])? {
            return Ok(false);
        }
        if !compose(&["up", "--detach", "--wait", "--no-deps", service])? {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn status() -> anyhow::Result<bool> {
    compose(&["ps", "--all"])
}

/// `logs --compose [service] [-f] [-n N]`: the last 100 lines unless `-n` says otherwise.
pub fn logs(args: &crate::logs::LogArgs) -> anyhow::Result<bool> {
    let lines = args.lines.map(|lines| lines.to_string());
    let mut arguments = vec!["logs", "--tail", "100"];
    arguments.extend(args.service.as_deref());
    if args.follow {
        arguments.push("-f");
    }
    if let Some(lines) = &lines {
        arguments.extend(["-n", lines]);
    }
    compose(&arguments)
}

/// `health --compose`: the containers' states, then the native health checks through the
/// published gateway.
pub fn health() -> anyhow::Result<bool> {
    if !compose(&["ps"])? {
        return Ok(false);
    }
    crate::health::run(&crate::health::HealthArgs {
        url: Some("http://127.0.0.1:80".into()),
    })
}
