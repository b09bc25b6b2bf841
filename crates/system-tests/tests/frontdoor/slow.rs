//! A TCP forwarder that makes the backend behind it slow: every chunk of an answer waits before it
//! is passed on, so each response arrives late while requests pass at once.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct SlowForwarder {
    pub address: SocketAddr,
    accept: JoinHandle<()>,
}

impl SlowForwarder {
    pub async fn start(backend: SocketAddr, delay: Duration) -> SlowForwarder {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the forwarder");
        let address = listener.local_addr().expect("the forwarder's address");
        let accept = tokio::spawn(async move {
            // Held here, so stopping the accept loop also ends every forwarded connection.
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(forward(client, backend, delay));
                while connections.try_join_next().is_some() {}
            }
        });
        SlowForwarder { address, accept }
    }
}

impl Drop for SlowForwarder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(client: TcpStream, backend: SocketAddr, delay: Duration) {
    let Ok(upstream) = TcpStream::connect(backend).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let requests = async move {
        let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
        let _ = upstream_write.shutdown().await;
    };
    let answers = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match upstream_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    tokio::time::sleep(delay).await;
                    if client_write.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(requests, answers);
}
