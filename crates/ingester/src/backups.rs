//! The backups' health on `/metrics`. The ingester is the role always connected to the
//! database, so it reads PostgreSQL's archiver statistics, the newest recorded base backup and
//! the replication slots (the lakehouse replicator's: what a stopped replicator keeps on the
//! disk is seen even while it is stopped) and exports them; the chart's alerts watch them
//! (`monitoring.prometheusRule`).

use std::sync::Arc;
use std::time::Duration;

use payments_runtime::{Counter, EncodeLabelSet, Gauge};
use payments_store::{BackupHealth, PgPool, ReplicationSlot};
use tokio_util::sync::CancellationToken;

use crate::Health;

/// How often the statistics are read: cheap (one small query), and finer than any alert.
pub(crate) const INTERVAL: Duration = Duration::from_secs(15);

payments_runtime::metrics! {
    /// How well the database is protected, as last read from it.
    pub struct BackupMetrics in "payments_postgresql" {
        /// Whether PostgreSQL archives its WAL (archive_mode is on).
        wal_archiving: Gauge,
        /// WAL files archived (pg_stat_archiver.archived_count).
        wal_archived: Counter,
        /// Failed attempts to archive a WAL file (pg_stat_archiver.failed_count).
        wal_archive_failures: Counter,
        /// When the last WAL file was archived, in seconds since the epoch; 0 if never.
        wal_last_archived_timestamp_seconds: Gauge,
        /// When archiving a WAL file last failed, in seconds since the epoch; 0 if never.
        wal_last_archive_failure_timestamp_seconds: Gauge,
        /// Bytes of WAL written past the last archived segment: what the archive lacks now.
        wal_unarchived_bytes: Gauge,
        /// When the newest completed base backup ended, in seconds since the epoch; 0 if none is recorded.
        base_backup_last_completed_timestamp_seconds: Gauge,
        /// Bytes of WAL a replication slot keeps on the database's disk.
        replication_slot_retained_wal_bytes: Family<SlotLabels, Gauge>,
        /// Whether a reader is connected to a replication slot.
        replication_slot_active: Family<SlotLabels, Gauge>,
        /// Whether a replication slot lost its WAL (past max_slot_wal_keep_size): its reader must rebuild.
        replication_slot_lost: Family<SlotLabels, Gauge>,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlotLabels {
    pub slot: String,
}

/// Exports the slots read now; a slot no longer there is removed from the metrics.
pub(crate) fn export_slots(slots: &[ReplicationSlot], metrics: &BackupMetrics) {
    metrics.replication_slot_retained_wal_bytes.clear();
    metrics.replication_slot_active.clear();
    metrics.replication_slot_lost.clear();
    for slot in slots {
        let labels = SlotLabels {
            slot: slot.slot_name.clone(),
        };
        metrics
            .replication_slot_retained_wal_bytes
            .get_or_create(&labels)
            .set(slot.retained_bytes.unwrap_or(0));
        metrics
            .replication_slot_active
            .get_or_create(&labels)
            .set(i64::from(slot.active));
        metrics
            .replication_slot_lost
            .get_or_create(&labels)
            .set(i64::from(slot.lost()));
    }
}

/// A Prometheus counter that follows one of PostgreSQL's cumulative counts: PostgreSQL's count
/// restarts from zero when its statistics are reset (a restore, say); the counter never goes
/// back, it grows by what the count grew since it was last read.
#[derive(Debug, Default)]
struct Following {
    last: Option<i64>,
}

impl Following {
    /// How much to add to the counter for the count read now.
    fn advance(&mut self, now: i64) -> u64 {
        let now = now.max(0);
        let grown = match self.last {
            Some(last) if now >= last => now - last,
            // The first reading, or the count was reset: all of it is new.
            _ => now,
        };
        self.last = Some(now);
        u64::try_from(grown).unwrap_or(0)
    }
}

/// What was read last, to turn PostgreSQL's counts into counters.
#[derive(Debug, Default)]
pub(crate) struct Exporter {
    archived: Following,
    failed: Following,
}

impl Exporter {
    pub(crate) fn export(&mut self, read: &BackupHealth, metrics: &BackupMetrics) {
        metrics.wal_archiving.set(i64::from(read.archiving));
        inc(
            &metrics.wal_archived,
            self.archived.advance(read.archived_count),
        );
        inc(
            &metrics.wal_archive_failures,
            self.failed.advance(read.failed_count),
        );
        let seconds = |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or(0, |t| t.timestamp());
        metrics
            .wal_last_archived_timestamp_seconds
            .set(seconds(read.last_archived_time));
        metrics
            .wal_last_archive_failure_timestamp_seconds
            .set(seconds(read.last_failed_time));
        if let Some(bytes) = read.unarchived_bytes() {
            metrics.wal_unarchived_bytes.set(bytes);
        }
        metrics
            .base_backup_last_completed_timestamp_seconds
            .set(seconds(read.last_base_backup_end));
    }
}

fn inc(counter: &Counter, by: u64) {
    if by > 0 {
        counter.inc_by(by);
    }
}

/// Reads the backups' health every `INTERVAL` until shutdown. A failed read changes nothing:
/// the writers report the database's outages.
pub(crate) async fn watch(pool: PgPool, health: Arc<Health>, shutdown: CancellationToken) {
    let mut exporter = Exporter::default();
    loop {
        match payments_store::backup_health(&pool).await {
            Ok(read) => exporter.export(&read, &health.backups),
            Err(e) => tracing::debug!(error = %e, "reading the backups' health failed"),
        }
        match payments_store::replication_slots(&pool).await {
            Ok(slots) => export_slots(&slots, &health.backups),
            Err(e) => tracing::debug!(error = %e, "reading the replication slots failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reading_counts_in_full() {
        assert_eq!(Following::default().advance(7), 7);
    }

    #[test]
    fn later_readings_add_what_grew() {
        let mut f = Following::default();
        f.advance(7);
        assert_eq!(f.advance(7), 0);
        assert_eq!(f.advance(10), 3);
    }

    #[test]
    fn a_reset_count_adds_all_it_counted_since() {
        let mut f = Following::default();
        f.advance(10);
        assert_eq!(f.advance(2), 2);
        assert_eq!(f.advance(5), 3);
    }

    #[test]
    fn slots_are_exported_by_name_and_a_dropped_one_goes() {
        let metrics = BackupMetrics::default();
        let slot = |name: &str, status: &str, bytes: i64| ReplicationSlot {
            slot_name: name.into(),
            active: false,
            wal_status: Some(status.into()),
            retained_bytes: Some(bytes),
        };
        export_slots(&[slot("a", "reserved", 10), slot("b", "lost", 0)], &metrics);
        let get = |family: &payments_runtime::Family<SlotLabels, Gauge>, s: &str| {
            family.get_or_create(&SlotLabels { slot: s.into() }).get()
        };
        assert_eq!(get(&metrics.replication_slot_retained_wal_bytes, "a"), 10);
        assert_eq!(get(&metrics.replication_slot_lost, "b"), 1);
        export_slots(&[slot("a", "reserved", 20)], &metrics);
        let mut registry = payments_runtime::Registry::default();
        metrics.register(&mut registry);
        let text = payments_runtime::render(&registry);
        assert!(
            text.contains("replication_slot_retained_wal_bytes{slot=\"a\"} 20"),
            "{text}"
        );
        assert!(!text.contains("slot=\"b\""), "{text}");
    }

    #[test]
    fn exported_values_follow_the_reading() {
        let metrics = BackupMetrics::default();
        let mut exporter = Exporter::default();
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0);
        let mut read = BackupHealth {
            archiving: true,
            archived_count: 4,
            failed_count: 0,
            last_archived_wal: Some("000000010000000000000003".into()),
            last_archived_time: at(1_000),
            last_failed_time: None,
            current_lsn: (4 << 24) + 10,
            wal_segment_size: 16 << 20,
            last_base_backup_end: at(900),
        };
        exporter.export(&read, &metrics);
        read.failed_count = 3;
        read.last_failed_time = at(1_100);
        exporter.export(&read, &metrics);
        assert_eq!(metrics.wal_archiving.get(), 1);
        assert_eq!(metrics.wal_archived.get(), 4);
        assert_eq!(metrics.wal_archive_failures.get(), 3);
        assert_eq!(metrics.wal_last_archived_timestamp_seconds.get(), 1_000);
        assert_eq!(
            metrics.wal_last_archive_failure_timestamp_seconds.get(),
            1_100
        );
        assert_eq!(metrics.wal_unarchived_bytes.get(), 10);
        assert_eq!(
            metrics.base_backup_last_completed_timestamp_seconds.get(),
            900
        );
    }
}
