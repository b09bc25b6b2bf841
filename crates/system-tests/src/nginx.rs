//! Real nginx running the committed `nginx-compat/nginx.conf`, whose marked sections
//! (`# BEGIN name` … `# END name`) are replaced by this machine's addresses and paths.
//!
//! The sections are found and replaced by `ops::nginx_conf`, which deployments use too; what
//! this one writes into them differs on purpose: the pid file goes on the command line (`-g`), the error log is at
//! `info`, each committed `server` line keeps its own parameters and their number must match the
//! replicas', and no network may be trusted at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ops::nginx_conf;

use crate::processes::{Process, log_file};

/// The committed nginx configuration: the file the tests run is the file users get.
const NGINX_CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../nginx-compat/nginx.conf");

/// The nginx binary: Debian's path, else the first `nginx` on `PATH`. Missing nginx is a
/// failure, never a skip: CI installs it.
pub fn binary() -> PathBuf {
    let debian = PathBuf::from("/usr/sbin/nginx");
    if debian.is_file() {
        return debian;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|folder| folder.join("nginx"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "nginx is not installed: the front-door tests run against real nginx too; \
                 install it with `apt-get install nginx-light`"
            )
        })
}

/// The committed configuration with its marked sections replaced for a run in `folder`.
pub fn config(
    folder: &Path,
    listen: SocketAddr,
    upstreams: &[SocketAddr],
    trust_loopback: bool,
) -> String {
    let committed = std::fs::read_to_string(NGINX_CONF)
        .unwrap_or_else(|error| panic!("cannot read {NGINX_CONF}: {error}"));
    let folder = folder.display();
    let config = replace_section(
        &committed,
        "runtime",
        &format!("error_log {folder}/error.log info;"),
    );
    let config = replace_section(
        &config,
        "http-paths",
        &format!(
            "access_log {folder}/access.log;\n\
             client_body_temp_path {folder}/body;\n\
             proxy_temp_path {folder}/proxy;\n\
             fastcgi_temp_path {folder}/fastcgi;\n\
             uwsgi_temp_path {folder}/uwsgi;\n\
             scgi_temp_path {folder}/scgi;"
        ),
    );
    let mut config = config;
    for name in ["upstream-servers", "upstream-servers-post"] {
        let servers = section(&config, name);
        config = replace_section(&config, name, &with_addresses(&servers, upstreams));
    }
    let config = replace_section(&config, "listen", &format!("listen {listen};"));
    let trusted = if trust_loopback {
        "127.0.0.1/32 1;"
    } else {
        ""
    };
    replace_section(&config, "trusted-networks", trusted)
}

/// The `server` lines of the upstream section with their addresses replaced in order, keeping
/// their parameters (`max_fails`, `fail_timeout`) as committed.
fn with_addresses(servers: &str, addresses: &[SocketAddr]) -> String {
    let lines: Vec<&str> = servers
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("server "))
        .collect();
    assert_eq!(
        lines.len(),
        addresses.len(),
        "nginx.conf's upstream section has {} servers, the test runs {} replicas",
        lines.len(),
        addresses.len()
    );
    lines
        .iter()
        .zip(addresses)
        .map(|(line, address)| {
            let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            words[1] = address.to_string();
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn section(config: &str, name: &str) -> String {
    let (start, stop) =
        nginx_conf::section_bounds(config, name).unwrap_or_else(|error| panic!("{error:#}"));
    config[start..stop].to_owned()
}

fn replace_section(config: &str, name: &str, body: &str) -> String {
    nginx_conf::replace_section(config, name, body).unwrap_or_else(|error| panic!("{error:#}"))
}

fn arguments(folder: &Path) -> Vec<String> {
    vec![
        "-p".into(),
        format!("{}/", folder.display()),
        "-c".into(),
        folder.join("nginx.conf").display().to_string(),
        "-g".into(),
        format!("daemon off; pid {};", folder.join("nginx.pid").display()),
    ]
}

/// Writes the configuration for `folder` and runs `nginx -t` on it: its status and output.
pub fn check(
    folder: &Path,
    listen: SocketAddr,
    upstreams: &[SocketAddr],
    trust_loopback: bool,
) -> (std::process::ExitStatus, String) {
    let config = config(folder, listen, upstreams, trust_loopback);
    std::fs::write(folder.join("nginx.conf"), config).expect("write nginx.conf");
    let output = Command::new(binary())
        .arg("-t")
        .args(arguments(folder))
        .stdin(Stdio::null())
        .output()
        .expect("run nginx -t");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

pub fn start(
    folder: &Path,
    address: SocketAddr,
    upstreams: &[SocketAddr],
    trust_loopback: bool,
) -> Process {
    let (status, output) = check(folder, address, upstreams, trust_loopback);
    assert!(status.success(), "nginx -t fails:\n{output}");
    let child = Command::new(binary())
        .args(arguments(folder))
        .stdin(Stdio::null())
        .stdout(log_file(folder, "stdout.log"))
        .stderr(log_file(folder, "stderr.log"))
        .spawn()
        .expect("start nginx");
    // TERM through nginx itself: the master takes its workers down; a killed master would not.
    let mut stop_command = Command::new(binary());
    stop_command.args(arguments(folder)).args(["-s", "stop"]);
    Process::new(child, Some(stop_command))
}
