//! One module per subcommand, each with its own arguments and `exec` (as cargo's commands).

pub mod controller;
pub mod crd;
pub mod decide;
pub mod generator;
pub mod import;
pub mod importer;
pub mod ingester;
pub mod metabase_setup;
pub mod migrate;
pub mod replicate;
pub mod sample_csvs;
pub mod users;
