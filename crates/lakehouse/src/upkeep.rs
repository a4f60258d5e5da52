//! Upkeep between batches, in the same process (a second writer would race the replicator):
//! OPTIMIZE compacts the small files each batch adds, VACUUM removes files no table version
//! within the retention still references. Checkpoints and expired-log cleanup are Delta's own
//! post-commit steps (every 100 commits by default).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::delta::TablePair;
use crate::error::Result;
use crate::health::{Metrics, PartitionLabels};

#[derive(Debug, Clone)]
pub struct UpkeepConfig {
    /// How often the tables are compacted and vacuumed.
    pub interval: Duration,
    /// How long a file no longer in the table is kept for readers of older versions (time
    /// travel, long queries). Delta's default is 7 days; shorter is refused below 1 hour.
    pub retention: Duration,
}

impl Default for UpkeepConfig {
    fn default() -> Self {
        UpkeepConfig {
            interval: Duration::from_secs(600),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Compacts and vacuums every table, then counts each partition's files.
pub async fn run(pairs: &mut [TablePair], config: &UpkeepConfig, metrics: &Metrics) -> Result<()> {
    let started = Instant::now();
    for pair in pairs.iter_mut() {
        pair.maintain(config.retention).await?;
        for (table, files) in [
            (pair.table.name.clone(), pair.current_files()?),
            (format!("{}_changes", pair.table.name), pair.log_files()?),
        ] {
            for (partition, count) in files_per_partition(files) {
                metrics
                    .partition_files
                    .get_or_create(&PartitionLabels {
                        table: table.clone(),
                        partition,
                    })
                    .set(count);
            }
        }
    }
    metrics
        .upkeep_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(())
}

/// Data files per partition (`transaction_month=2026-12`; `-` for an unpartitioned table).
pub fn files_per_partition(uris: Vec<String>) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for uri in uris {
        let partition = uri
            .rsplit('/')
            .nth(1)
            .filter(|dir| dir.contains('='))
            .unwrap_or("-")
            .to_owned();
        *counts.entry(partition).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_counted_by_their_partition_directory() {
        let counts = files_per_partition(vec![
            "s3://lake/p/transactions/transaction_month=2026-11/part-1.parquet".into(),
            "s3://lake/p/transactions/transaction_month=2026-12/part-2.parquet".into(),
            "s3://lake/p/transactions/transaction_month=2026-12/part-3.parquet".into(),
            "s3://lake/p/users/part-4.parquet".into(),
        ]);
        assert_eq!(counts["transaction_month=2026-12"], 2);
        assert_eq!(counts["transaction_month=2026-11"], 1);
        assert_eq!(counts["-"], 1);
    }
}
