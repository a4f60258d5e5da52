//! `payments metabase-setup`: gives Metabase a read-only login and sets it up.

use anyhow::Context;
use clap::Args;
use secrecy::SecretString;

use crate::args::{secret, until_available, DatabaseArgs, StartupArgs};

#[derive(Debug, Args)]
pub struct MetabaseSetupArgs {
    // The owner's URL: it creates the read-only login role; Metabase gets the same host and
    // database with that role's credentials instead.
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// Metabase's base URL.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub(crate) metabase_url: String,
    /// E-mail of the Metabase admin (created on first run).
    #[arg(long, env = "PAYMENTS_METABASE_ADMIN_EMAIL")]
    pub(crate) admin_email: String,
    /// Password of the Metabase admin. Never logged.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_ADMIN_PASSWORD",
        hide_env_values = true,
        value_parser = secret
    )]
    pub(crate) admin_password: SecretString,
    /// The read-only login role Metabase connects as (a member of `payments_reader`).
    #[arg(
        long,
        env = "PAYMENTS_METABASE_DB_USER",
        default_value = "payments_metabase"
    )]
    pub(crate) db_user: String,
    /// That role's password. Never logged.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_DB_PASSWORD",
        hide_env_values = true,
        value_parser = secret
    )]
    pub(crate) db_password: SecretString,
    /// Send the database password to Metabase even when nothing else changed: Metabase never
    /// shows the stored one, so a rotated password cannot be noticed otherwise.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_UPDATE_DB_PASSWORD",
        default_value_t = false
    )]
    pub(crate) update_db_password: bool,
    /// The payments database's name in Metabase.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_DATABASE_NAME",
        default_value = "Payments"
    )]
    pub(crate) database_name: String,
    /// Collection holding the questions and the dashboard.
    #[arg(long, env = "PAYMENTS_METABASE_COLLECTION", default_value = "Payments")]
    pub(crate) collection: String,
    /// Name of the dashboard.
    #[arg(long, env = "PAYMENTS_METABASE_DASHBOARD", default_value = "Overview")]
    pub(crate) dashboard: String,
    #[command(flatten)]
    pub(crate) startup: StartupArgs,
}

pub async fn exec(args: MetabaseSetupArgs) -> anyhow::Result<()> {
    let pool = args.database.pool("payments-metabase-setup")?;
    let role = until_available(
        "creating the read-only login role",
        args.startup.timeout,
        || payments_store::ensure_reader_login(&pool, &args.db_user, &args.db_password),
    )
    .await?;
    tracing::info!(role = %args.db_user, ?role, "read-only login role ready");
    let config = payments_metabase::SetupConfig {
        url: args.metabase_url,
        admin_email: args.admin_email,
        admin_password: args.admin_password,
        database: payments_metabase::DatabaseConnection::from_url(
            &args.database.url,
            &args.db_user,
            args.db_password,
        )?,
        database_name: args.database_name,
        collection: args.collection,
        dashboard: args.dashboard,
        update_database_password: args.update_db_password,
        startup_timeout: args.startup.timeout,
    };
    let summary = payments_metabase::setup(&config)
        .await
        .context("setting Metabase up")?;
    print!("{summary}");
    Ok(())
}
