//! `payments users import FILE`: loads users (add, update, deactivate) from a CSV file.

use std::path::Path;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::args::{until_available, DatabaseArgs, StartupArgs};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add or update the users of a CSV file: the original platform's export
    /// (`user_id,name,username,user_creation_date,email,active`) or `username,name,email`
    /// (optionally `active`). Exits 0 once the file was read, listing every row not loaded;
    /// 1 only when nothing could be loaded (no file, unusable header, database down).
    Import(UsersImportArgs),
}

#[derive(Debug, Args)]
pub struct UsersImportArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// The CSV file.
    pub(crate) file: std::path::PathBuf,
    #[command(flatten)]
    pub(crate) startup: StartupArgs,
}

pub async fn exec(command: UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::Import(args) = command;
    let pool = args.database.pool("payments-users")?;
    // As `payments import`: the schema is brought up to date first.
    until_available("applying migrations", args.startup.timeout, || {
        payments_store::migrate(&pool)
    })
    .await?;
    load(&pool, &args.file).await
}

/// Loads the users of `file` and prints what changed and every row that was not loaded.
async fn load(pool: &payments_store::PgPool, file: &Path) -> anyhow::Result<()> {
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let summary = payments_store::import_users(pool, handle)
        .await
        .with_context(|| format!("loading users from {}", file.display()))?;
    println!(
        "rows {}  added {}  updated {}  deactivated {}  unchanged {}  invalid {}",
        summary.rows,
        summary.added,
        summary.updated,
        summary.deactivated,
        summary.unchanged,
        summary.not_loaded
    );
    for i in &summary.invalid {
        println!("  invalid row {}: {}", i.row, i.reason);
    }
    if summary.not_loaded > summary.invalid.len() as u64 {
        println!("  (the first {} of them listed)", summary.invalid.len());
    }
    Ok(())
}
