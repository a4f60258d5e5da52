//! `payments`: one binary, one subcommand per role.

use clap::Parser;

mod args;
mod cli;
mod commands;
mod shutdown;
mod telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let _telemetry = telemetry::init(&cli.log_format, cli.role());
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "payments failed");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
