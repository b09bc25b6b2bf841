//! The listening socket of an HTTP service, with a queue of accepted connections deep enough for
//! a burst of clients.
//!
//! `TcpListener::bind` (tokio's, as the standard library's) asks for a backlog of 128. When a
//! thousand clients connect at once and the accept loop is a moment behind (the cores are busy),
//! the kernel's accept queue overflows: handshakes complete on the client's side and their
//! requests are sent, but the server drops the final ACKs (`ListenOverflows` in
//! `/proc/net/netstat`), and a connection whose handshake the server gives up on is answered
//! with a reset when its data comes. A deeper queue lets the burst wait to be accepted instead.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel may hold completed for the accept loop (it caps this at
/// `net.core.somaxconn`, 4096 by default since Linux 5.4).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` (`host:port`, the first address it resolves to) with [`LISTEN_BACKLOG`].
pub async fn bind(address: &str) -> io::Result<TcpListener> {
    let mut last_error = None;
    for resolved in tokio::net::lookup_host(address).await? {
        match bind_one(resolved) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{address} resolves to no address"),
        )
    }))
}

fn bind_one(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted service rebinds its port at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_a_loopback_port_and_accepts() {
        let listener = bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("an address");
        assert!(address.ip().is_loopback() && address.port() != 0);
        let (connected, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(address), listener.accept());
        assert!(connected.is_ok() && accepted.is_ok());
        assert!(bind("no such host.invalid:0").await.is_err());
    }
}
