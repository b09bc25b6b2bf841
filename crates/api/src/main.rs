use anyhow::Context;
use api::{Application, Settings};
use store::db;

const USAGE: &str = "usage: aiut-api [migrate]\n  \
    (no argument)  serve the api\n  \
    migrate        create the database when missing, apply the migrations, and exit\n\
    everything else is configured by aiunittest.toml or AIUT_* variables";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let migrate_only = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("migrate") => true,
        Some("-h" | "--help") => {
            eprintln!("{USAGE}");
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
    };
    let settings = Settings::load().context("cannot load the configuration")?;
    let traces = api::init_telemetry(&settings.log);
    if migrate_only {
        // Deployments migrate once, before any replica starts; replicas still migrate at start
        // (under an advisory lock), finding nothing left to do.
        settings.validate()?;
        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool).await?;
        tracing::info!("migrations applied");
        return Ok(());
    }
    let application = Application::build(settings)
        .await
        .context("cannot start the api")?;
    let ran = application.run_until_stopped().await;
    // The spans of the last requests are still waiting in the batch.
    traces.shutdown();
    ran
}
