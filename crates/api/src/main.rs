use anyhow::Context;
use api::{Application, Settings, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("cannot load the configuration")?;
    telemetry::init(&settings.log);
    let application = Application::build(settings)
        .await
        .context("cannot start the api")?;
    application.run_until_stopped().await
}
