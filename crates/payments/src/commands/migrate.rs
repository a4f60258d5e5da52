//! `payments migrate`: applies the migrations and seeds the demo users, then exits.

use anyhow::Context;
use clap::Args;

use crate::args::{until_available, DatabaseArgs, StartupArgs};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// Do not insert the demo users.
    #[arg(long, env = "PAYMENTS_NO_DEMO_USERS")]
    pub(crate) no_demo_users: bool,
    #[command(flatten)]
    pub(crate) startup: StartupArgs,
}

pub async fn exec(args: MigrateArgs) -> anyhow::Result<()> {
    let pool = args.database.pool("payments-migrate")?;
    until_available("applying migrations", args.startup.timeout, || {
        payments_store::migrate(&pool)
    })
    .await?;
    if !args.no_demo_users {
        let added = payments_store::seed_demo_users(&pool)
            .await
            .context("seeding demo users")?;
        tracing::info!(added, "demo users seeded");
    }
    tracing::info!("database is up to date");
    Ok(())
}
