//! Free TCP ports for the processes this crate starts: a port from a preferred range for a
//! deployment (its services keep them, so they should be recognisable), or any loopback port the
//! system hands out for a short-lived bench process.

use std::net::TcpListener;

use anyhow::Context;

/// Whether nothing listens on the port, on loopback or on all addresses.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok() && TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The first free port from `start` on that is not in `taken`.
pub fn free_port(start: u16, taken: &[u16]) -> anyhow::Result<u16> {
    (start..=u16::MAX)
        .find(|port| !taken.contains(port) && port_is_free(*port))
        .ok_or_else(|| anyhow::anyhow!("no free port from {start} on"))
}

/// [`free_port`], then added to `taken` so that the next service gets another.
pub fn claim_free_port(start: u16, taken: &mut Vec<u16>) -> anyhow::Result<u16> {
    let port = free_port(start, taken)?;
    taken.push(port);
    Ok(port)
}

/// A loopback port nobody listens on now, chosen by the system; the caller's process binds it a
/// moment later.
pub fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_not_free_and_is_skipped() {
        let listener = TcpListener::bind(("0.0.0.0", 0)).expect("bind");
        let port = listener.local_addr().expect("address").port();
        assert!(!port_is_free(port));
        let next = free_port(port, &[]).expect("a free port");
        assert_ne!(next, port);
        let beyond = free_port(next, &[next]).expect("a free port");
        assert!(beyond > next);
        let mut taken = vec![next];
        let claimed = claim_free_port(next, &mut taken).expect("a free port");
        assert!(claimed > next && taken == [next, claimed]);
    }
}
