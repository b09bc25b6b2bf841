use anyhow::Context;
use worker::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("cannot load the configuration")?;
    let traces = worker::init_telemetry(&settings.log);
    let application = Application::build(settings)
        .await
        .context("cannot start the worker")?;
    let ran = application.run_until_stopped().await;
    // The spans of the last tasks are still waiting in the batch.
    traces.shutdown();
    ran
}
