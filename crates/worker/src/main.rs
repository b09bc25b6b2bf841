use anyhow::Context;
use worker::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("cannot load the configuration")?;
    api::telemetry::init(&settings.log);
    let application = Application::build(settings)
        .await
        .context("cannot start the worker")?;
    application.run_until_stopped().await
}
