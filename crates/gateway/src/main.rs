use anyhow::Context;
use gateway::{Settings, build_server, parse_args, telemetry};

fn main() -> anyhow::Result<()> {
    let upgrade = parse_args(std::env::args().skip(1))?;
    let settings = Settings::load().context("cannot load the configuration")?;
    telemetry::init(&settings.log);
    // Pingora owns its runtimes, so there is no `#[tokio::main]`; this blocks until shut down.
    build_server(settings, upgrade)
        .context("cannot start the gateway")?
        .run_forever()
}
