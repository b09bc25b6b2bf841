use anyhow::Context;
use gateway::{Settings, build_server, parse_args, telemetry};
use pingora::server::RunArgs;

/// mimalloc rather than the system allocator: a request makes a few dozen short-lived
/// allocations across the proxy's threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let upgrade = parse_args(std::env::args().skip(1))?;
    let settings = Settings::load().context("cannot load the configuration")?;
    let traces = telemetry::init(&settings.log);
    // Pingora owns its runtimes, so there is no `#[tokio::main]`; this blocks until the server
    // has shut down (after a signal's grace period, or once its sockets went to a successor).
    telemetry::keep(traces);
    build_server(settings, upgrade)
        .context("cannot start the gateway")?
        .run(RunArgs::default());
    // The spans of the last requests are still waiting in the batch.
    telemetry::finish();
    Ok(())
}
