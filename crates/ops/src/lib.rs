//! AIunittest's operations product: the native deployment (`deploy`, `stop`, `restart`, `status`,
//! `logs`, `health`), the same through docker compose, the monitoring check, the load test, the
//! chaos suite and the benchmarks. [`cli`] is the one command-line parser; the `aiut-ops` binary
//! and `cargo xtask` both run it. One module per command.

// Printing is what this crate is for: its output is the interface.
#![allow(clippy::print_stdout)]

mod bench;
mod chaos;
pub mod cli;
mod client;
mod compose;
mod deploy;
mod health;
mod launch;
mod loadtest;
mod logs;
mod monitoring;
pub mod nginx_conf;
mod ports;
mod procfs;
mod restart;
mod stack;
mod status;
mod stop;

use std::path::{Path, PathBuf};

/// The workspace root (this crate is `crates/ops` in it): commands run there whatever folder they
/// were called from.
pub fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// `cargo`, as the one that runs us names it, so toolchain overrides carry over.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The variables `cargo run` gives the program it runs (this one, under `cargo xtask`), which a
/// shell does not have.
const CARGO_RUN_VARIABLES: [&str; 6] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
];

/// A `cargo` command with the environment a shell would give it. Build scripts that watch
/// `CARGO_MANIFEST_DIR` or `CARGO_PKG_NAME` (ring's does) take a value left over from `cargo run`
/// as a change, so a build from `cargo xtask` and one from a shell would rebuild each other's
/// work.
pub fn cargo_command() -> std::process::Command {
    let mut command = std::process::Command::new(cargo());
    for name in CARGO_RUN_VARIABLES {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| name.starts_with("CARGO_PKG_"))
        {
            command.env_remove(name);
        }
    }
    command
}

/// The default URLs when `DATABASE_URL` / `REDIS_URL` are unset: the local services CI starts.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The value of `name`, or `default` when unset or empty; the flag says whether it was set.
pub fn env_or(name: &str, default: &str) -> (String, bool) {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => (value, true),
        _ => (default.to_owned(), false),
    }
}

/// The URL with its password (if any) replaced, fit to print.
pub fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |offset| authority_start + offset);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &authority[..colon],
        &url[authority_start + at..]
    )
}

/// Cargo's target folder: `CARGO_TARGET_DIR` (relative to the root, where cargo runs) when set,
/// else `target` in the project.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_password("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
        assert_eq!(
            redact_password("redis://:pw@127.0.0.1:6379"),
            "redis://:***@127.0.0.1:6379"
        );
        assert_eq!(redact_password("not a url"), "not a url");
    }
}
