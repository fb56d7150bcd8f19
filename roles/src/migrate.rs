//! `sagaflow migrate`: applies one database's migrations (the saga database or a service's).

use crate::open_store;
use anyhow::Context;

/// Flags of `sagaflow migrate`.
#[derive(clap::Args, Debug, Clone)]
pub struct MigrateArgs {
    /// The database to migrate (created if missing).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// Whose schema: saga (the engine), user, payment or order.
    #[arg(long = "for", env = "SAGAFLOW_MIGRATE_FOR", default_value = "saga")]
    pub target: String,
}

/// `sagaflow migrate`: applies one database's migrations.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    match args.target.as_str() {
        "saga" => {
            open_store(&args.database_url, 1).await?;
        }
        other => {
            let service: services::Service = other
                .parse()
                .with_context(|| format!("--for {other}: use saga, user, payment or order"))?;
            services::connect_and_migrate(service, &args.database_url, 1).await?;
        }
    }
    println!("migrated {} ({})", args.database_url, args.target);
    Ok(())
}
