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

pub fn run(task: &str, args: &[String]) -> anyhow::Result<bool> {
    let rest: Vec<&str> = args.iter().map(String::as_str).collect();
    match task {
        "deploy" => {
            let ok = compose(&["up", "--detach", "--build", "--wait"])?;
            if ok {
                println!(
                    "AIunittest is running: http://127.0.0.1/ (Grafana http://127.0.0.1:3000, Prometheus http://127.0.0.1:9090)"
                );
            }
            Ok(ok)
        }
        "stop" => compose(&["down", "--timeout", "30"]),
        "restart" => {
            let services: Vec<&str> = if rest.is_empty() {
                ROLLING_ORDER.to_vec()
            } else {
                rest
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
        "status" => compose(&["ps", "--all"]),
        "logs" => {
            let mut arguments = vec!["logs", "--tail", "100"];
            arguments.extend(rest);
            compose(&arguments)
        }
        "health" => {
            if !compose(&["ps"])? {
                return Ok(false);
            }
            crate::health::run(&["--url".into(), "http://127.0.0.1:80".into()])
        }
        other => anyhow::bail!("{other} has no --compose form"),
    }
}
