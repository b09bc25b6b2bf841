//! The two front doors under test, started as child processes on free loopback ports: the
//! gateway binary, and real nginx with the committed `nginx-compat/nginx.conf`, whose marked
//! sections (`# BEGIN name` … `# END name`) are replaced by this machine's addresses and paths.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::replicas::Replicas;

/// The committed nginx configuration: the file the tests run is the file users get.
const NGINX_CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../nginx-compat/nginx.conf");

/// The longest a front door may take to answer its `/health` after start.
const START_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gateway,
    Nginx,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Gateway => "gateway",
            Kind::Nginx => "nginx",
        })
    }
}

/// A running front door. Dropping it stops the process and removes its folder.
pub struct FrontDoor {
    pub kind: Kind,
    pub address: SocketAddr,
    process: Process,
    folder: TempFolder,
}

impl FrontDoor {
    /// Starts `kind` over `upstreams` and waits until its own `/health` answers. With
    /// `trust_loopback`, 127.0.0.1 (the test's client) is exempt from the rate limits.
    pub async fn start(kind: Kind, upstreams: &[SocketAddr], trust_loopback: bool) -> FrontDoor {
        let folder = TempFolder::new(&format!("aiut-frontdoor-{kind}"));
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let process = match kind {
            Kind::Gateway => start_gateway(&folder.path, address, upstreams, trust_loopback),
            Kind::Nginx => start_nginx(&folder.path, address, upstreams, trust_loopback),
        };
        let mut front_door = FrontDoor {
            kind,
            address,
            process,
            folder,
        };
        front_door.wait_for_health().await;
        front_door
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn wait_for_health(&mut self) {
        let client = crate::client();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.process.exited() {
                panic!(
                    "{} exited at start ({status}); its log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            if let Ok(response) = client.get(self.url("/health")).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}'s /health did not answer 200 within {START_TIMEOUT:?}; its log:\n{}",
                self.kind,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most `within`) until plain requests through the front door have reached every
    /// one of `instances`; uses `/healthz`, which no rate limit counts.
    pub async fn wait_until_serving(&self, instances: &[String], within: Duration) -> Duration {
        let client = crate::client();
        let started = tokio::time::Instant::now();
        let mut seen: Vec<String> = Vec::new();
        while !instances.iter().all(|instance| seen.contains(instance)) {
            assert!(
                started.elapsed() < within,
                "through {}, only {seen:?} of {instances:?} answered within {within:?}",
                self.kind
            );
            if let Ok(response) = client.get(self.url("/healthz")).send().await
                && let Some(instance) = crate::backend_of(&response)
                && !seen.contains(&instance)
            {
                seen.push(instance);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    /// The process's output so far (nginx's error log, the gateway's stderr).
    pub fn log(&self) -> String {
        let mut log = String::new();
        for name in ["error.log", "stdout.log", "stderr.log"] {
            if let Ok(text) = std::fs::read_to_string(self.folder.path.join(name))
                && !text.is_empty()
            {
                log.push_str(&format!("--- {name}\n{}\n", tail(&text, 60)));
            }
        }
        log
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        self.process.stop();
        if std::thread::panicking() {
            eprintln!("{} log at the failure:\n{}", self.kind, self.log());
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A folder of its own under the system's temporary folder, removed on drop.
pub struct TempFolder {
    pub path: PathBuf,
}

impl TempFolder {
    pub fn new(prefix: &str) -> TempFolder {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        // nginx started as root runs its workers as `nobody`; they write request bodies here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .expect("open the temporary folder to nginx's workers");
        TempFolder { path }
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process stopped on drop: with `stop_command` first when there is one (nginx's master
/// must take its workers down with it), then killed if still running after 5 s.
struct Process {
    child: Child,
    stop_command: Option<Command>,
}

impl Process {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Some(command) = self.stop_command.as_mut() {
            let _ = command.stdout(Stdio::null()).stderr(Stdio::null()).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if self.exited().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_file(folder: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(folder.join(name)).expect("create a log file")
}

fn start_gateway(
    folder: &Path,
    address: SocketAddr,
    upstreams: &[SocketAddr],
    trust_loopback: bool,
) -> Process {
    let upstreams: Vec<String> = upstreams
        .iter()
        .map(|upstream| format!("\"{upstream}\""))
        .collect();
    let trusted = if trust_loopback {
        "\"127.0.0.1/32\""
    } else {
        ""
    };
    // Everything else keeps its default, which mirrors nginx-compat/nginx.conf.
    let config = format!(
        "[gateway]\n\
         listen = \"{address}\"\n\
         metrics_listen = \"127.0.0.1:{metrics}\"\n\
         upstreams = [{upstreams}]\n\
         upgrade_sock = \"{folder}/upgrade.sock\"\n\
         [gateway.rate_limit]\n\
         trusted_networks = [{trusted}]\n\
         [log]\n\
         filter = \"info\"\n",
        metrics = free_port(),
        upstreams = upstreams.join(", "),
        folder = folder.display(),
    );
    let config_path = folder.join("gateway.toml");
    std::fs::write(&config_path, config).expect("write the gateway's configuration");
    let mut command = Command::new(system_tests::binary("aiut-gateway"));
    // Only the file configures it; an AIUT_ variable of the developer's shell would not.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AIUT_") {
            command.env_remove(name);
        }
    }
    let child = command
        .env("AIUT_CONFIG", &config_path)
        .current_dir(folder)
        .stdin(Stdio::null())
        .stdout(log_file(folder, "stdout.log"))
        .stderr(log_file(folder, "stderr.log"))
        .spawn()
        .expect("start the gateway binary");
    Process {
        child,
        stop_command: None,
    }
}

/// The nginx binary: Debian's path, else the first `nginx` on `PATH`. Missing nginx is a
/// failure, never a skip: CI installs it.
pub fn nginx_binary() -> PathBuf {
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
pub fn nginx_config(
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

fn section_bounds(config: &str, name: &str) -> (usize, usize) {
    let begin = format!("# BEGIN {name}\n");
    let end = format!("# END {name}");
    let start = config
        .find(&begin)
        .unwrap_or_else(|| panic!("nginx.conf has no `{begin}` marker"))
        + begin.len();
    let stop = start
        + config[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("nginx.conf has no `{end}` marker"));
    // The section ends where the END marker's line starts.
    let stop = config[..stop]
        .rfind('\n')
        .map_or(start, |newline| newline + 1);
    (start, stop.max(start))
}

fn section(config: &str, name: &str) -> String {
    let (start, stop) = section_bounds(config, name);
    config[start..stop].to_owned()
}

fn replace_section(config: &str, name: &str, body: &str) -> String {
    let (start, stop) = section_bounds(config, name);
    format!("{}{body}\n{}", &config[..start], &config[stop..])
}

fn nginx_arguments(folder: &Path) -> Vec<String> {
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
pub fn nginx_check(
    folder: &Path,
    listen: SocketAddr,
    upstreams: &[SocketAddr],
    trust_loopback: bool,
) -> (std::process::ExitStatus, String) {
    let config = nginx_config(folder, listen, upstreams, trust_loopback);
    std::fs::write(folder.join("nginx.conf"), config).expect("write nginx.conf");
    let output = Command::new(nginx_binary())
        .arg("-t")
        .args(nginx_arguments(folder))
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

fn start_nginx(
    folder: &Path,
    address: SocketAddr,
    upstreams: &[SocketAddr],
    trust_loopback: bool,
) -> Process {
    let (status, output) = nginx_check(folder, address, upstreams, trust_loopback);
    assert!(status.success(), "nginx -t fails:\n{output}");
    let child = Command::new(nginx_binary())
        .args(nginx_arguments(folder))
        .stdin(Stdio::null())
        .stdout(log_file(folder, "stdout.log"))
        .stderr(log_file(folder, "stderr.log"))
        .spawn()
        .expect("start nginx");
    // TERM through nginx itself: the master takes its workers down; a killed master would not.
    let mut stop_command = Command::new(nginx_binary());
    stop_command
        .args(nginx_arguments(folder))
        .args(["-s", "stop"]);
    Process {
        child,
        stop_command: Some(stop_command),
    }
}

/// The replicas' instance ids, for `wait_until_serving`.
pub fn all_instances() -> Vec<String> {
    (0..crate::replicas::REPLICAS)
        .map(Replicas::instance_id)
        .collect()
}
