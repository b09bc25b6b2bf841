//! `--compose`: the same operations on the containerised stack, through Docker Compose v2 with
//! the repository's `docker-compose.yml` and `deployment/.env` (or the file `AIUT_COMPOSE_ENV_FILE`
//! names).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

/// The services a rolling restart goes through, one at a time.
const ROLLING_ORDER: [&str; 3] = ["worker", "api", "gateway"];

/// Names another variables file than `deployment/.env` (a CI check runs its own stack with one).
pub const ENV_FILE_VARIABLE: &str = "AIUT_COMPOSE_ENV_FILE";

/// The variables file compose reads: `AIUT_COMPOSE_ENV_FILE`, else `deployment/.env`.
fn env_file() -> PathBuf {
    match std::env::var_os(ENV_FILE_VARIABLE) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => crate::project_root().join("deployment").join(".env"),
    }
}

/// How Compose v2 is run here: the Docker CLI's plugin (`docker compose`) or, without it, the
/// standalone binary (`docker-compose`) of the same release line.
fn compose_program() -> anyhow::Result<(&'static str, &'static [&'static str])> {
    let answers = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if answers("docker", &["compose", "version"]) {
        return Ok(("docker", &["compose"]));
    }
    if answers("docker-compose", &["version"]) {
        return Ok(("docker-compose", &[]));
    }
    anyhow::bail!(
        "Docker Compose v2 is not available (neither `docker compose` nor `docker-compose`): \
         install Docker Engine with its compose plugin, or deploy natively with `cargo xtask deploy`"
    )
}

fn compose(args: &[&str]) -> anyhow::Result<bool> {
    let root = crate::project_root();
    let env_file = env_file();
    anyhow::ensure!(
        env_file.is_file(),
        "{} is missing: copy deployment/.env.example to deployment/.env and fill in the \
         passwords it asks for",
        env_file.display()
    );
    let (program, subcommand) = compose_program()?;
    let mut command = Command::new(program);
    command
        .current_dir(&root)
        .args(subcommand)
        .args(["-f", "docker-compose.yml", "--env-file"])
        .arg(&env_file)
        .args(args);
    println!("==> {program} {} {}", subcommand.join(" "), args.join(" "));
    let status = command
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    Ok(status.success())
}

/// A variable as compose sees it: from the environment, which wins, else from the variables file.
fn variable(name: &str, env_file: &Path) -> Option<String> {
    if let Ok(value) = std::env::var(name)
        && !value.is_empty()
    {
        return Some(value);
    }
    let text = std::fs::read_to_string(env_file).ok()?;
    env_file_value(&text, name)
}

/// `NAME=value` from a compose variables file; quotes around the value are dropped.
fn env_file_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("export ").unwrap_or(line).split_once('='))
        .filter(|(key, _)| key.trim() == name)
        .map(|(_, value)| {
            let value = value.trim();
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value)
                .to_owned()
        })
        .next_back()
        .filter(|value| !value.is_empty())
}

/// The URL on this host of a port published as `port` or `address:port` (a compose port
/// variable such as `HTTP_PORT`); an address that listens everywhere is reached on loopback.
fn published_url(published: &str) -> String {
    let (address, port) = match published.rsplit_once(':') {
        Some((address, port)) => (address.trim_matches(['[', ']']), port),
        None => ("", published),
    };
    let host = match address {
        "" | "0.0.0.0" | "::" => "127.0.0.1".to_owned(),
        address if address.contains(':') => format!("[{address}]"),
        address => address.to_owned(),
    };
    format!("http://{host}:{port}")
}

/// Where the stack publishes `variable` (`HTTP_PORT`, …), `default` when it is unset.
fn url_of(variable_name: &str, default: &str) -> String {
    let published = variable(variable_name, &env_file()).unwrap_or_else(|| default.to_owned());
    published_url(&published)
}

/// `deploy --compose`: builds the images (unless `--no-build`: the images must exist, as when
/// they were built from prebuilt binaries) and starts the stack, waiting until it is healthy.
pub fn deploy(build: bool) -> anyhow::Result<bool> {
    let mut args = vec!["up", "--detach", "--wait"];
    if build {
        args.push("--build");
    }
    let ok = compose(&args)?;
    if ok {
        println!(
            "AIunittest is running: {}/ (Prometheus {}, Grafana {})",
            url_of("HTTP_PORT", "80"),
            url_of("PROMETHEUS_PORT", "9090"),
            url_of("GRAFANA_PORT", "3000"),
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
    let lines = args
        .lines
        .map_or_else(|| "100".to_owned(), |lines| lines.to_string());
    let mut arguments = vec!["logs", "--tail", lines.as_str()];
    if args.follow {
        arguments.push("-f");
    }
    arguments.extend(args.service.as_deref());
    compose(&arguments)
}

/// `health --compose [--url U]`: the containers' states, then the gateway's health and a task
/// through it, at `--url` or where the stack publishes it (`HTTP_PORT`); a native deployment that
/// may also run here is not looked at.
pub fn health(args: &crate::health::HealthArgs) -> anyhow::Result<bool> {
    if !compose(&["ps"])? {
        return Ok(false);
    }
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| url_of("HTTP_PORT", "80"));
    Ok(crate::health::run_through_gateway(&url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_port_is_reached_on_this_host() {
        assert_eq!(published_url("80"), "http://127.0.0.1:80");
        assert_eq!(published_url("127.0.0.1:18080"), "http://127.0.0.1:18080");
        assert_eq!(published_url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(published_url("192.0.2.7:80"), "http://192.0.2.7:80");
        assert_eq!(published_url("[::1]:8080"), "http://[::1]:8080");
    }

    #[test]
    fn the_variables_file_is_read_as_compose_reads_it() {
        let text = "# HTTP_PORT=1\nHTTP_PORT=80\nPROMETHEUS_PORT='127.0.0.1:9090'\n\
                    export GRAFANA_PORT=\"3001\"\nEMPTY=\nHTTP_PORT=8081\n";
        assert_eq!(env_file_value(text, "HTTP_PORT").as_deref(), Some("8081"));
        assert_eq!(
            env_file_value(text, "PROMETHEUS_PORT").as_deref(),
            Some("127.0.0.1:9090")
        );
        assert_eq!(
            env_file_value(text, "GRAFANA_PORT").as_deref(),
            Some("3001")
        );
        assert_eq!(env_file_value(text, "EMPTY"), None);
        assert_eq!(env_file_value(text, "MISSING"), None);
    }
}
