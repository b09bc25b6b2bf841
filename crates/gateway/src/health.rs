//! Active health checks: a plain HTTP/1.1 GET of the health path on every backend, every interval.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::backends::Registry;

/// Whether `GET path` on `address` answers 2xx within `timeout`.
pub async fn probe(address: SocketAddr, path: &str, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, probe_status(address, path))
        .await
        .ok()
        .and_then(Result::ok)
        .is_some_and(|status| (200..300).contains(&status))
}

async fn probe_status(address: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: aiut-gateway-health\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    // The status line is all that is needed: "HTTP/1.1 200 OK".
    let mut head = Vec::with_capacity(64);
    let mut buffer = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    parse_status(&head).ok_or_else(|| std::io::Error::other("no HTTP status line"))
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|byte| *byte == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// The background service running the checks.
pub struct HealthChecker {
    pub registry: Arc<Registry>,
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
}

impl HealthChecker {
    /// Checks every backend once, all at the same time.
    pub async fn check_all(&self) {
        let mut probes = JoinSet::new();
        for address in self.registry.addresses() {
            let path = self.path.clone();
            let timeout = self.timeout;
            probes.spawn(async move { (address, probe(address, &path, timeout).await) });
        }
        while let Some(result) = probes.join_next().await {
            if let Ok((address, passed)) = result {
                self.registry.record_health(address, passed, Instant::now());
            }
        }
        self.registry.publish_all(Instant::now());
    }
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            self.check_all().await;
            tokio::select! {
                _ = shutdown.changed() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\nx: y"),
            Some(503)
        );
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    async fn one_shot_server(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        address
    }

    #[tokio::test]
    async fn probes_answer_by_status_and_time() {
        let timeout = Duration::from_millis(500);
        let ok = one_shot_server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        assert!(probe(ok, "/healthz", timeout).await);
        let failing = one_shot_server("HTTP/1.1 503 Unavailable\r\n\r\n").await;
        assert!(!probe(failing, "/healthz", timeout).await);
        // Accepts but never answers: the timeout decides.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let silent = listener.local_addr().expect("address");
        let started = Instant::now();
        assert!(!probe(silent, "/healthz", Duration::from_millis(200)).await);
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
        assert!(!probe(silent, "/healthz", timeout).await, "refused");
    }
}
