//! `payments approve` and `payments reject`: a second identity's decision on an import that
//! awaits approval; prints what became of it.

use clap::Args;

use crate::args::PipelineArgs;

#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    pub(crate) pipeline: PipelineArgs,
    /// The import's id (shown by `payments import`, the result page and the API).
    pub(crate) id: uuid::Uuid,
    /// Who decides, as recorded and shown; default: the OS user (`$USER`). Must not be who
    /// started the import.
    #[arg(long = "as", value_name = "NAME")]
    pub(crate) by: Option<String>,
    /// Why (kept with a rejection).
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

/// `payments approve` / `payments reject`.
pub async fn exec(args: DecideArgs, approve: bool) -> anyhow::Result<()> {
    let by = args
        .by
        .or_else(|| std::env::var("USER").ok())
        .filter(|name| !name.trim().is_empty());
    let pipeline = args.pipeline.pipeline("payments-csv").await?;
    let message = if approve {
        pipeline.approve(args.id, by.as_deref()).await?.message
    } else {
        let import = pipeline
            .reject(args.id, by.as_deref(), args.reason.as_deref())
            .await?;
        pipeline.outcome(&import).await?.message()
    };
    println!("{message}");
    Ok(())
}
