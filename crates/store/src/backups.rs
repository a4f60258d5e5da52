//! How well the database is protected: PostgreSQL's WAL archiver (`pg_stat_archiver`) and the
//! newest completed base backup (`base_backups`, which the chart's backup container records).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::Result;

/// The archiver's counters and the newest base backup, as last read.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BackupHealth {
    /// Whether `archive_mode` is on (otherwise nothing is archived and the rest says little).
    pub archiving: bool,
    /// WAL files archived since the statistics were last reset (a restore resets them).
    pub archived_count: i64,
    /// Failed attempts to archive a WAL file, since the same reset.
    pub failed_count: i64,
    /// The name of the last file archived: a WAL segment, or a `.history`/`.backup` file.
    pub last_archived_wal: Option<String>,
    pub last_archived_time: Option<DateTime<Utc>>,
    pub last_failed_time: Option<DateTime<Utc>>,
    /// Where the server writes WAL now, in bytes from `0/0`.
    pub current_lsn: i64,
    pub wal_segment_size: i64,
    /// When the newest base backup with status DONE ended; `None` if there is none.
    pub last_base_backup_end: Option<DateTime<Utc>>,
}

impl BackupHealth {
    /// Bytes of WAL written since the end of the last archived segment: what a lost volume
    /// would take with it. `None` when not archiving, or when the last file archived was not a
    /// segment (the next segment says again).
    pub fn unarchived_bytes(&self) -> Option<i64> {
        if !self.archiving {
            return None;
        }
        let end = segment_end(self.last_archived_wal.as_deref()?, self.wal_segment_size)?;
        Some((self.current_lsn - end).max(0))
    }
}

/// The LSN at which a WAL segment's file ends: its name is the timeline, then the high 32 bits
/// of the LSN, then the segment number within them (`000000010000000A00000003`), all in hex.
fn segment_end(name: &str, segment_size: i64) -> Option<i64> {
    if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) || segment_size <= 0 {
        return None;
    }
    let high = i64::from_str_radix(&name[8..16], 16).ok()?;
    let segment = i64::from_str_radix(&name[16..24], 16).ok()?;
    high.checked_mul(1 << 32)?
        .checked_add(segment.checked_add(1)?.checked_mul(segment_size)?)
}

/// Reads the archiver's statistics and the newest completed base backup. Needs no privilege:
/// `pg_stat_archiver` and the WAL position are readable by every role.
pub async fn backup_health(pool: &PgPool) -> Result<BackupHealth> {
    let health = sqlx::query_as::<_, BackupHealth>(
        "SELECT current_setting('archive_mode') <> 'off' AS archiving,
                a.archived_count, a.failed_count, a.last_archived_wal,
                a.last_archived_time, a.last_failed_time,
                (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8 AS current_lsn,
                (SELECT setting::int8 FROM pg_settings WHERE name = 'wal_segment_size')
                    AS wal_segment_size,
                (SELECT max(end_time) FROM base_backups WHERE status = 'DONE')
                    AS last_base_backup_end
           FROM pg_stat_archiver a",
    )
    .fetch_one(pool)
    .await?;
    Ok(health)
}

/// A replication slot of this database (the lakehouse replicator's), as PostgreSQL reports it:
/// a slot nobody reads keeps WAL on the database's disk until `max_slot_wal_keep_size`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReplicationSlot {
    pub slot_name: String,
    /// Whether a reader is connected.
    pub active: bool,
    /// `reserved`, `extended`, `unreserved`, or `lost` (its WAL is gone).
    pub wal_status: Option<String>,
    /// Bytes of WAL kept for it: the current position minus its restart position.
    pub retained_bytes: Option<i64>,
}

impl ReplicationSlot {
    pub fn lost(&self) -> bool {
        self.wal_status.as_deref() == Some("lost")
    }
}

/// The replication slots of the connected database.
pub async fn replication_slots(pool: &PgPool) -> Result<Vec<ReplicationSlot>> {
    let slots = sqlx::query_as::<_, ReplicationSlot>(
        "SELECT slot_name::text, active, wal_status,
                (pg_current_wal_lsn() - restart_lsn)::int8 AS retained_bytes
           FROM pg_replication_slots
          WHERE database = current_database()
          ORDER BY slot_name",
    )
    .fetch_all(pool)
    .await?;
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT: i64 = 16 << 20;

    fn health(last: Option<&str>, current_lsn: i64) -> BackupHealth {
        BackupHealth {
            archiving: true,
            archived_count: 1,
            failed_count: 0,
            last_archived_wal: last.map(str::to_owned),
            last_archived_time: None,
            last_failed_time: None,
            current_lsn,
            wal_segment_size: SEGMENT,
            last_base_backup_end: None,
        }
    }

    #[test]
    fn a_segment_ends_where_the_next_begins() {
        assert_eq!(
            segment_end("000000010000000000000000", SEGMENT),
            Some(SEGMENT)
        );
        assert_eq!(
            segment_end("000000010000000000000003", SEGMENT),
            Some(4 * SEGMENT)
        );
        // The high half counts 4 GiB; the timeline does not move the position.
        assert_eq!(
            segment_end("00000002000000060000008E", SEGMENT),
            Some(6 * (1 << 32) + 0x8F * SEGMENT)
        );
    }

    #[test]
    fn history_and_backup_files_are_not_segments() {
        assert_eq!(segment_end("00000002.history", SEGMENT), None);
        assert_eq!(
            segment_end("000000010000000000000002.00000028.backup", SEGMENT),
            None
        );
        assert_eq!(segment_end("00000001000000000000000G", SEGMENT), None);
    }

    #[test]
    fn unarchived_bytes_are_written_past_the_last_archived_segment() {
        let h = health(Some("000000010000000000000003"), 4 * SEGMENT + 100);
        assert_eq!(h.unarchived_bytes(), Some(100));
        // A segment archived past where the statistics' reading of the position was.
        let h = health(Some("000000010000000000000005"), 4 * SEGMENT);
        assert_eq!(h.unarchived_bytes(), Some(0));
    }

    #[test]
    fn nothing_is_said_without_archiving_or_a_segment() {
        let mut h = health(Some("000000010000000000000003"), 4 * SEGMENT);
        h.archiving = false;
        assert_eq!(h.unarchived_bytes(), None);
        assert_eq!(health(None, 4 * SEGMENT).unarchived_bytes(), None);
        assert_eq!(
            health(Some("00000002.history"), 4 * SEGMENT).unarchived_bytes(),
            None
        );
    }
}
