//! Loopback ports for services a test starts.

use std::sync::atomic::{AtomicU16, Ordering};

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Ports handed out by [`lasting_port`], below Linux's ephemeral range (32768 and up), which
/// outgoing connections draw from.
const LASTING_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// The next candidate of [`lasting_port`]; starts at an offset of this process's id, so test
/// binaries that run one after the other do not walk the same ports.
static NEXT_LASTING: AtomicU16 = AtomicU16::new(0);

/// A loopback port free now and outside the ephemeral range, for a service that is killed and
/// started again on the same port: a port from [`free_port`] may meanwhile be taken by any
/// outgoing connection of another test, one from here only by another bind.
pub fn lasting_port() -> u16 {
    let span = LASTING_PORTS.end - LASTING_PORTS.start;
    let offset = u16::try_from(std::process::id() % u32::from(span)).unwrap_or(0);
    for _ in 0..span {
        let step = NEXT_LASTING.fetch_add(1, Ordering::Relaxed);
        let port = LASTING_PORTS.start + (offset.wrapping_add(step) % span);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LASTING_PORTS:?}")
}
