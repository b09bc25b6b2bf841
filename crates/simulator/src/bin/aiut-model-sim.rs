//! The OpenAI-compatible model simulator, for tests, load tests and demos: settings from the
//! defaults, the TOML file named by `AIUT_SIM_CONFIG`, then `AIUT_SIM_*` variables; serves until
//! SIGINT or SIGTERM. See [`simulator`].

use anyhow::Context;
use simulator::{Simulator, SimulatorConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = SimulatorConfig::load().context("cannot load the simulator configuration")?;
    let traces = simulator::init_telemetry(&config);
    let listen = config.listen.clone();
    let simulator = Simulator::bind(config, &listen)
        .await
        .context("cannot start the model simulator")?;
    let ran = simulator.run_until_stopped().await;
    traces.shutdown();
    ran
}
