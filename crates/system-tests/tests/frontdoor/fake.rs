//! A fake api replica on loopback: it answers `/healthz`, records every request it reads (method,
//! path, headers), and answers the others as told — or reads a create whole and then closes the
//! connection without a word, as a replica that dies just after reading a request would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the fake does with a request other than its health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers `202` with `{"backend": name}`.
    Answer,
    /// Reads a POST whole, then closes the connection without answering; answers the rest.
    DropPosts,
}

/// One request as the fake read it; header names in lower case.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body_length: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn headers_named(&self, name: &str) -> usize {
        self.headers.iter().filter(|(key, _)| key == name).count()
    }
}

pub struct FakeBackend {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accept: JoinHandle<()>,
}

impl FakeBackend {
    pub async fn start(name: &'static str, behaviour: Behaviour) -> FakeBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake backend");
        let address = listener.local_addr().expect("the fake's address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let accept = tokio::spawn(async move {
            // Held here, so stopping the accept loop also ends every connection.
            let mut connections = JoinSet::new();
            while let Ok((connection, _)) = listener.accept().await {
                connections.spawn(serve(connection, name, behaviour, Arc::clone(&record)));
                while connections.try_join_next().is_some() {}
            }
        });
        FakeBackend {
            address,
            seen,
            accept,
        }
    }

    /// The requests read so far, health checks left out.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|seen| seen.path != "/healthz")
            .cloned()
            .collect()
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Serves one connection: one request, then the connection closes (`connection: close`).
async fn serve(
    mut connection: TcpStream,
    name: &'static str,
    behaviour: Behaviour,
    record: Arc<Mutex<Vec<Seen>>>,
) {
    let Some(seen) = read_request(&mut connection).await else {
        return;
    };
    let is_health = seen.path == "/healthz";
    let is_post = seen.method == "POST";
    record
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(seen);
    if behaviour == Behaviour::DropPosts && is_post && !is_health {
        // The request was read whole, so the close is a plain FIN, not a reset: to the gateway
        // the backend may have acted on it.
        let _ = connection.shutdown().await;
        return;
    }
    let body = if is_health {
        "ok".to_owned()
    } else {
        format!("{{\"backend\":\"{name}\"}}")
    };
    let status = if is_health { "200 OK" } else { "202 Accepted" };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-backend-instance: {name}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = connection.write_all(answer.as_bytes()).await;
    let _ = connection.shutdown().await;
}

/// Reads one request with a `content-length` body (or none); `None` when the peer leaves first.
async fn read_request(connection: &mut TcpStream) -> Option<Seen> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut buffer))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let body_length: usize = headers
        .iter()
        .find(|(key, _)| key == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    while received.len() < head_end + body_length {
        let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut buffer))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..read]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body_length,
    })
}
