//! The `replicate` role: every committed change of the platform's tables, read from
//! PostgreSQL logical replication (`pgoutput`), lands exactly once and in commit order in Delta
//! Lake tables on the object store: a current-state table per PostgreSQL table and an
//! append-only change log beside it. See docs/lakehouse.md.

pub mod batch;
pub mod catalog;
pub mod change;
pub mod delta;
pub mod error;
pub mod health;
pub mod heap;
pub mod read;
pub mod replicator;
pub mod source;
pub mod upkeep;

pub use catalog::PUBLICATION;
pub use delta::{DeltaLocation, S3Access};
pub use error::{LakehouseError, Result};
pub use replicator::{slot_status, start, Replicator, ReplicatorConfig, SlotStatus};
pub use upkeep::UpkeepConfig;
