//! The gateway binary as a test runs it: a configuration file of its own in the test's folder,
//! read through `AIUT_CONFIG` alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ports::free_port;
use crate::processes::clean_command;

/// What a test sets in the gateway's configuration; everything else keeps its default, which
/// mirrors `nginx-compat/nginx.conf`. The three texts are TOML lines, each ending in a newline.
pub struct GatewayConfig<'a> {
    pub listen: SocketAddr,
    pub upstreams: &'a [SocketAddr],
    /// More keys of `[gateway]`.
    pub gateway: &'a str,
    /// The keys of `[gateway.rate_limit]`.
    pub rate_limit: &'a str,
    /// The keys of `[log]`.
    pub log: &'a str,
}

/// Writes `folder/gateway.toml`: `config`, metrics on a free loopback port, the upgrade socket in
/// `folder`. Returns its path.
pub fn write_config(folder: &Path, config: &GatewayConfig<'_>) -> PathBuf {
    let upstreams: Vec<String> = config
        .upstreams
        .iter()
        .map(|upstream| format!("\"{upstream}\""))
        .collect();
    let text = format!(
        "[gateway]\n\
         listen = \"{listen}\"\n\
         metrics_listen = \"127.0.0.1:{metrics}\"\n\
         upstreams = [{upstreams}]\n\
         upgrade_sock = \"{folder}/upgrade.sock\"\n\
         {gateway}\
         [gateway.rate_limit]\n\
         {rate_limit}\
         [log]\n\
         {log}",
        listen = config.listen,
        metrics = free_port(),
        upstreams = upstreams.join(", "),
        folder = folder.display(),
        gateway = config.gateway,
        rate_limit = config.rate_limit,
        log = config.log,
    );
    let path = folder.join("gateway.toml");
    std::fs::write(&path, text).expect("write the gateway's configuration");
    path
}

/// The gateway binary configured by `config_path` alone (no `AIUT_` variable of the developer's
/// shell), run in `folder`.
pub fn command(config_path: &Path, folder: &Path) -> Command {
    let mut command = clean_command(&crate::binary("aiut-gateway"), &["AIUT_"]);
    command.env("AIUT_CONFIG", config_path).current_dir(folder);
    command
}
