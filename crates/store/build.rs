// `sqlx::migrate!` embeds the migrations at compile time; without this, adding one alone would
// not rebuild the crate, and a binary could ship without it.
#[allow(
    clippy::print_stdout,
    reason = "cargo reads a build script's instructions from its stdout"
)]
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
