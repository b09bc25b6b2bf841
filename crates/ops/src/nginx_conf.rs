//! nginx-compat/nginx.conf made fit to run here: its marked sections (`# BEGIN name` …
//! `# END name`) replaced by this machine's addresses and folders, everything else as committed,
//! so what runs is the configuration nginx users get. The section primitives are public: the
//! test kit's nginx (`aiut-system-tests`) rewrites the same file with its own choices.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

/// The committed nginx configuration, relative to the workspace root.
pub const NGINX_CONF: &str = "nginx-compat/nginx.conf";

/// The byte range of the body of the section `# BEGIN name` … `# END name`: from the line after
/// the BEGIN marker to the start of the END marker's line.
pub fn section_bounds(config: &str, name: &str) -> anyhow::Result<(usize, usize)> {
    let begin = format!("# BEGIN {name}\n");
    let end = format!("# END {name}");
    let start = config
        .find(&begin)
        .with_context(|| format!("{NGINX_CONF} has no `# BEGIN {name}` marker"))?
        + begin.len();
    let end_at = start
        + config[start..]
            .find(&end)
            .with_context(|| format!("{NGINX_CONF} has no `{end}` marker"))?;
    let stop = config[..end_at]
        .rfind('\n')
        .map_or(start, |newline| newline + 1);
    Ok((start, stop.max(start)))
}

/// `config` with the body of the section `name` replaced by `body`.
pub fn replace_section(config: &str, name: &str, body: &str) -> anyhow::Result<String> {
    let (start, stop) = section_bounds(config, name)?;
    Ok(format!("{}{body}\n{}", &config[..start], &config[stop..]))
}

/// The names of every marked section, in order.
fn section_names(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|line| line.trim().strip_prefix("# BEGIN "))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// One `server` line per address, with the parameters (`max_fails`, `fail_timeout`, …) of the
/// section's first committed `server` line.
fn server_lines(section: &str, addresses: &[SocketAddr]) -> anyhow::Result<String> {
    let first = section
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("server "))
        .context("an upstream section of nginx.conf has no `server` line")?;
    let parameters: Vec<&str> = first
        .trim_end_matches(';')
        .split_whitespace()
        .skip(2)
        .collect();
    Ok(addresses
        .iter()
        .map(|address| {
            let mut words = vec!["server".to_owned(), address.to_string()];
            words.extend(parameters.iter().map(|word| (*word).to_owned()));
            format!("{};", words.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The committed configuration with its marked sections replaced for a run in `folder`: every
/// `upstream-servers*` section lists `upstreams`, the server listens on `listen` alone, the
/// process writes only in `folder`, and `trusted` (a network) is exempt from the rate limits.
pub fn for_run(
    committed: &str,
    folder: &Path,
    listen: SocketAddr,
    upstreams: &[SocketAddr],
    trusted: &str,
) -> anyhow::Result<String> {
    let folder = folder.display();
    // No `user`: nginx started by root runs its workers as `nobody`, and as its caller otherwise.
    let mut config = replace_section(
        committed,
        "runtime",
        &format!("pid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;"),
    )?;
    config = replace_section(
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
    )?;
    let upstream_sections: Vec<String> = section_names(&config)
        .into_iter()
        .filter(|name| name.starts_with("upstream-servers"))
        .collect();
    anyhow::ensure!(
        !upstream_sections.is_empty(),
        "{NGINX_CONF} has no `# BEGIN upstream-servers` section"
    );
    for name in upstream_sections {
        let (start, stop) = section_bounds(&config, &name)?;
        let servers = server_lines(&config[start..stop], upstreams)?;
        config = replace_section(&config, &name, &servers)?;
    }
    config = replace_section(&config, "listen", &format!("listen {listen};"))?;
    replace_section(&config, "trusted-networks", &format!("{trusted} 1;"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "\
# BEGIN runtime
user www-data;
# END runtime
http {
    # BEGIN http-paths
    access_log /var/log/nginx/access.log;
    # END http-paths
    upstream api {
        least_conn;
        # BEGIN upstream-servers
        server api1:8888 max_fails=3 fail_timeout=30s;
        server api2:8888 max_fails=3 fail_timeout=30s;
        # END upstream-servers
        keepalive 32;
    }
    upstream api_post {
        # BEGIN upstream-servers-post
        server api1:8888 max_fails=3 fail_timeout=30s;
        # END upstream-servers-post
    }
    geo $trusted_client {
        default 0;
        # BEGIN trusted-networks
        10.0.0.0/8 1;
        # END trusted-networks
    }
    server {
        # BEGIN listen
        listen 80 default_server;
        listen [::]:80 default_server;
        # END listen
    }
}
";

    #[test]
    fn rewrites_the_marked_sections_of_nginx_conf() {
        let addresses: Vec<SocketAddr> = ["127.0.0.1:4001", "127.0.0.1:4002", "127.0.0.1:4003"]
            .iter()
            .map(|text| text.parse().expect("an address"))
            .collect();
        let listen: SocketAddr = "127.0.0.1:5000".parse().expect("an address");
        let config = for_run(
            CONF,
            Path::new("/tmp/x"),
            listen,
            &addresses,
            "127.0.0.1/32",
        )
        .expect("rewritten");
        let servers = "server 127.0.0.1:4001 max_fails=3 fail_timeout=30s;\n\
                       server 127.0.0.1:4002 max_fails=3 fail_timeout=30s;\n\
                       server 127.0.0.1:4003 max_fails=3 fail_timeout=30s;\n";
        // Both upstream sections list the three replicas, with the committed parameters.
        assert_eq!(config.matches(servers).count(), 2, "{config}");
        assert!(!config.contains("api1:8888"));
        assert!(config.contains("listen 127.0.0.1:5000;\n        # END listen"));
        assert!(!config.contains("listen 80"));
        assert!(config.contains("127.0.0.1/32 1;\n        # END trusted-networks"));
        assert!(!config.contains("10.0.0.0/8"));
        assert!(!config.contains("user www-data"));
        assert!(config.contains("error_log /tmp/x/error.log warn;"));
        assert!(config.contains("access_log /tmp/x/access.log;"));
        // What is outside the sections stays.
        assert!(config.contains("keepalive 32;") && config.contains("least_conn;"));
        assert!(config.contains("# BEGIN upstream-servers-post\n"));
    }

    #[test]
    fn a_missing_section_is_an_error() {
        let listen: SocketAddr = "127.0.0.1:5000".parse().expect("an address");
        let without_listen = CONF.replace("# BEGIN listen", "# listen");
        assert!(
            for_run(
                &without_listen,
                Path::new("/tmp/x"),
                listen,
                &[listen],
                "127.0.0.1/32"
            )
            .is_err()
        );
        assert!(server_lines("keepalive 32;\n", &[listen]).is_err());
    }
}
