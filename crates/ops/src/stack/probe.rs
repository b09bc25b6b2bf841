//! Is it up? HTTP, Postgres and Redis probes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Health;

/// `Ok` when healthy, else what went wrong in a few words.
pub fn check(health: &Health, timeout: Duration) -> Result<(), String> {
    match health {
        Health::Http { url } => http_ok(url, timeout).map(|_| ()),
        Health::Postgres { pg_isready, port } => {
            let status = Command::new(pg_isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-t", &timeout.as_secs().max(1).to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|error| format!("cannot run {}: {error}", pg_isready.display()))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("not accepting connections on port {port}"))
            }
        }
        Health::Redis { port, password } => redis_ping(
            "127.0.0.1",
            *port,
            password.as_ref().map(super::secrets::Secret::expose),
            timeout,
        ),
    }
}

/// A GET answered 2xx; returns the body.
pub fn http_ok(url: &str, timeout: Duration) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|error| error.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

/// Sends `PING` (after `AUTH` when a password is given) and expects `+PONG`.
pub fn redis_ping(
    host: &str,
    port: u16,
    password: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let address: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|error| format!("bad address {host}:{port}: {error}"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| format!("cannot connect: {error}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|error| error.to_string())?;
    let mut request = String::new();
    if let Some(password) = password {
        request.push_str(&resp_command(&["AUTH", password]));
    }
    request.push_str(&resp_command(&["PING"]));
    stream
        .write_all(request.as_bytes())
        .map_err(|error| format!("cannot send: {error}"))?;
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 256];
    let expected_lines = if password.is_some() { 2 } else { 1 };
    while answer.iter().filter(|&&byte| byte == b'\n').count() < expected_lines {
        let read = stream
            .read(&mut buffer)
            .map_err(|error| format!("no answer: {error}"))?;
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    let answer = String::from_utf8_lossy(&answer);
    match answer.lines().last() {
        Some("+PONG") => Ok(()),
        Some(other) => Err(format!("answered {other:?}")),
        None => Err("closed the connection".into()),
    }
}

fn resp_command(parts: &[&str]) -> String {
    let mut command = format!("*{}\r\n", parts.len());
    for part in parts {
        command.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_commands_are_length_prefixed() {
        assert_eq!(resp_command(&["PING"]), "*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            resp_command(&["AUTH", "pässword"]),
            "*2\r\n$4\r\nAUTH\r\n$9\r\npässword\r\n"
        );
    }

    #[test]
    fn the_local_redis_answers_and_a_closed_port_does_not() {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let authority = url.trim_start_matches("redis://").trim_end_matches('/');
        let port = authority
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or(6379);
        redis_ping("127.0.0.1", port, None, Duration::from_secs(2)).expect("Redis answers PING");
        let closed = crate::ports::free_loopback_port().expect("a port");
        assert!(redis_ping("127.0.0.1", closed, None, Duration::from_secs(1)).is_err());
    }
}
