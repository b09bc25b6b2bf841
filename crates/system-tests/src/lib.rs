//! What the whole-system tests share. The services' binaries are found beside the test binary
//! (`target/<profile>/`), where `cargo test --workspace --all-targets` (what `cargo xtask test`
//! runs) builds them; a test run on this crate alone must build them first.

use std::path::PathBuf;

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
