//! The command line: one subcommand per role, each in its own module under `commands/` with
//! its own arguments. Every flag has a `PAYMENTS_*` variable; flags win over variables,
//! variables over defaults.

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands::*;
use crate::commands::{
    controller::ControllerArgs, decide::DecideArgs, generator::GeneratorArgs, import::ImportArgs,
    importer::ImporterArgs, ingester::IngesterArgs, metabase_setup::MetabaseSetupArgs,
    migrate::MigrateArgs, replicate::ReplicateArgs, sample_csvs::SampleCsvsArgs,
    users::UsersCommand,
};

#[derive(Debug, Parser)]
#[command(
    name = "payments",
    version,
    about = "Payments ingestion platform: one binary, a subcommand per role."
)]
pub struct Cli {
    /// Log output format.
    #[arg(
        long,
        env = "PAYMENTS_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply database migrations and seed the demo users, then exit.
    Migrate(MigrateArgs),
    /// Consume both topics and write every record exactly once to PostgreSQL.
    Ingester(IngesterArgs),
    /// Publish synthetic payment events.
    Generator(GeneratorArgs),
    /// Serve the upload web app and the JSON API.
    Importer(ImporterArgs),
    /// Import one CSV file from the command line, printing the same summary as the web app.
    Import(ImportArgs),
    /// Load users (add, update, deactivate) from a CSV file.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Approve an import that awaits approval: it is checked again and published. The
    /// approver must not be who started it.
    Approve(DecideArgs),
    /// Reject an import that awaits approval: nothing of it is ever published.
    Reject(DecideArgs),
    /// Write the deterministic sample CSV files into a directory.
    SampleCsvs(SampleCsvsArgs),
    /// Reconcile PaymentImport resources: run each import and report it in the status.
    Controller(ControllerArgs),
    /// Print the PaymentImport CustomResourceDefinition as YAML.
    Crd,
    /// Give Metabase a read-only database login and set it up: admin, the payments database,
    /// the Overview questions and dashboard. Converges: running it again changes nothing.
    MetabaseSetup(MetabaseSetupArgs),
    /// Copy every committed change of the platform's tables into Delta Lake tables on the
    /// object store (the lakehouse), exactly once, in commit order.
    Replicate(ReplicateArgs),
}

/// `PAYMENTS_HTTP_ADDR` was once read by every role, so one setting reached all of them and
/// two roles on one machine fought over one port. Each role now has its own variable; a
/// leftover setting is refused instead of silently ignored.
fn refuse_shared_http_addr(own: Option<&str>) -> anyhow::Result<()> {
    match (own, std::env::var_os("PAYMENTS_HTTP_ADDR")) {
        (Some(own), Some(_)) => anyhow::bail!(
            "PAYMENTS_HTTP_ADDR is no longer read (it reached every role); set {own} (or --http-addr) instead"
        ),
        _ => Ok(()),
    }
}

/// The variable naming a role's HTTP address, for the roles that serve one.
fn http_addr_var(role: &str) -> Option<&'static str> {
    match role {
        "importer" => Some("PAYMENTS_IMPORTER_ADDR"),
        "ingester" => Some("PAYMENTS_INGESTER_ADDR"),
        "controller" => Some("PAYMENTS_CONTROLLER_ADDR"),
        "generator" => Some("PAYMENTS_GENERATOR_ADDR"),
        "replicate" => Some("PAYMENTS_REPLICATE_ADDR"),
        _ => None,
    }
}

impl Cli {
    /// The subcommand's name, for logs and traces.
    pub fn role(&self) -> &'static str {
        match self.command {
            Command::Migrate(_) => "migrate",
            Command::Ingester(_) => "ingester",
            Command::Generator(_) => "generator",
            Command::Importer(_) => "importer",
            Command::Import(_) => "import",
            Command::Approve(_) => "approve",
            Command::Reject(_) => "reject",
            Command::Users(_) => "users",
            Command::SampleCsvs(_) => "sample-csvs",
            Command::Controller(_) => "controller",
            Command::Crd => "crd",
            Command::MetabaseSetup(_) => "metabase-setup",
            Command::Replicate(_) => "replicate",
        }
    }

    pub async fn run(self) -> anyhow::Result<()> {
        refuse_shared_http_addr(http_addr_var(self.role()))?;
        match self.command {
            Command::Migrate(args) => migrate::exec(args).await,
            Command::Ingester(args) => ingester::exec(args).await,
            Command::Generator(args) => generator::exec(args).await,
            Command::Importer(args) => importer::exec(args).await,
            Command::Import(args) => import::exec(args).await,
            Command::Users(command) => users::exec(command).await,
            Command::Approve(args) => decide::exec(args, true).await,
            Command::Reject(args) => decide::exec(args, false).await,
            Command::SampleCsvs(args) => sample_csvs::exec(args),
            Command::Controller(args) => controller::exec(args).await,
            Command::Crd => crd::exec(),
            Command::MetabaseSetup(args) => metabase_setup::exec(args).await,
            Command::Replicate(args) => replicate::exec(args).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Each serving role reads its own variable and has its own default port, so the roles run
    /// side by side on one machine and one override never reaches another role.
    #[test]
    fn every_role_has_its_own_http_address() {
        let command = Cli::command();
        let roles = [
            ("importer", "PAYMENTS_IMPORTER_ADDR", "0.0.0.0:8080"),
            ("ingester", "PAYMENTS_INGESTER_ADDR", "0.0.0.0:8081"),
            ("controller", "PAYMENTS_CONTROLLER_ADDR", "0.0.0.0:8082"),
            ("generator", "PAYMENTS_GENERATOR_ADDR", "0.0.0.0:8083"),
            ("replicate", "PAYMENTS_REPLICATE_ADDR", "0.0.0.0:8084"),
        ];
        for (role, var, default) in roles {
            let sub = command.find_subcommand(role).expect(role);
            let arg = sub
                .get_arguments()
                .find(|a| a.get_id() == "http_addr")
                .expect("--http-addr");
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(var), "{role}");
            let defaults: Vec<_> = arg.get_default_values().iter().collect();
            assert_eq!(defaults, [default], "{role}");
            assert_eq!(http_addr_var(role), Some(var), "{role}");
        }
        assert_eq!(http_addr_var("crd"), None);
        assert_eq!(http_addr_var("migrate"), None);
    }
}
