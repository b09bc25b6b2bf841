//! The kit the whole-system tests share (dev-only; nothing but this crate's tests uses it):
//!
//! - [`binary`] — a service binary built beside the test;
//! - [`ports`] — free loopback ports;
//! - [`processes`] — services as child processes: temporary folders, clean commands, logs,
//!   stopping;
//! - [`gateway`] — the gateway binary's configuration file and command;
//! - [`nginx`] — real nginx on the committed `nginx-compat/nginx.conf`, rewritten for a run;
//! - [`redis`] — the machine's Redis, key prefixes per test, removing a test's keys;
//! - [`postgres`] — the test database as a URL;
//! - [`sse`] — reading server-sent events;
//! - [`in_process`] — api replicas, workers and the simulator in the test's own process.
//!
//! The services' binaries are found beside the test binary (`target/<profile>/`), where
//! `cargo build --workspace --bins` puts them (`cargo xtask test` runs it before the tests); a test
//! run on this crate alone must build them first.

use std::path::PathBuf;

pub mod gateway;
pub mod in_process;
pub mod nginx;
pub mod ports;
pub mod postgres;
pub mod processes;
pub mod redis;
pub mod sse;

/// The path of one of the workspace's binaries (`aiut-gateway`, `aiut-worker`, …), built by the
/// same `cargo test` run. Panics with what to do when it is missing: a test cannot go on
/// without it.
pub fn binary(name: &str) -> PathBuf {
    let found = std::env::current_exe().ok().and_then(|test| {
        // target/<profile>/deps/<test> → target/<profile>/<name>
        let profile_dir = test.parent()?.parent()?.to_path_buf();
        let candidate = profile_dir.join(name);
        candidate.is_file().then_some(candidate)
    });
    match found {
        Some(path) => path,
        None => panic!(
            "the {name} binary is not built beside this test; run `cargo build --bins` \
             first, or the tests through `cargo xtask test`"
        ),
    }
}
