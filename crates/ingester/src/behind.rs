//! Noticing a database restored under a running ingester: its stored offsets fall behind what
//! this process committed (offsets only move forward, so nothing else makes them).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use payments_store::{CommittedOffsets, PgPool, StoreError, StoredOffset};
use tokio_util::sync::CancellationToken;

/// The next offset of each partition as this process's writers committed it.
pub(crate) type Committed = Arc<Mutex<CommittedOffsets>>;

/// What the writers committed so far (empty if the lock was poisoned: no check, no harm).
pub(crate) fn snapshot(committed: &Committed) -> CommittedOffsets {
    committed.lock().map(|c| c.clone()).unwrap_or_default()
}

/// The first partition whose stored offset is behind what was committed there (a partition
/// with no stored offset at all counts as 0), as the error that says so.
pub(crate) fn behind(committed: &CommittedOffsets, stored: &[StoredOffset]) -> Option<StoreError> {
    payments_store::database_behind(committed, |topic, partition| {
        Some(
            stored
                .iter()
                .find(|s| s.topic == topic && s.partition == partition)
                .map_or(0, |s| s.next_offset),
        )
    })
}

/// Compares the database's offsets with the committed ones every `interval` until `round`
/// ends; when the database is behind, ends `round` and returns why. A quiet stream brings no
/// batch that would notice, so this does.
pub(crate) async fn watch(
    pool: PgPool,
    group: String,
    topics: Vec<String>,
    committed: Committed,
    interval: Duration,
    round: CancellationToken,
) -> Option<StoreError> {
    loop {
        tokio::select! {
            _ = round.cancelled() => return None,
            _ = tokio::time::sleep(interval) => {}
        }
        // The snapshot first: a commit after it only moves the stored offsets further ahead.
        let ours = snapshot(&committed);
        if ours.is_empty() {
            continue;
        }
        let Ok(stored) = payments_store::load_offsets(&pool, &group, &topics).await else {
            // The database away: the writers report it; look again next time.
            continue;
        };
        if let Some(found) = behind(&ours, &stored) {
            round.cancel();
            return Some(found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(entries: &[(&str, i32, i64)]) -> CommittedOffsets {
        entries
            .iter()
            .map(|(t, p, o)| ((Arc::from(*t), *p), *o))
            .collect()
    }

    fn stored(entries: &[(&str, i32, i64)]) -> Vec<StoredOffset> {
        entries
            .iter()
            .map(|(t, p, o)| StoredOffset {
                topic: (*t).to_owned(),
                partition: *p,
                next_offset: *o,
            })
            .collect()
    }

    #[test]
    fn equal_or_ahead_is_not_behind() {
        let ours = committed(&[("a", 0, 10), ("a", 1, 5)]);
        assert!(behind(&ours, &stored(&[("a", 0, 10), ("a", 1, 7)])).is_none());
    }

    #[test]
    fn a_stored_offset_below_the_committed_one_is_behind() {
        let ours = committed(&[("a", 0, 10), ("a", 1, 5)]);
        let found = behind(&ours, &stored(&[("a", 0, 10), ("a", 1, 3)]));
        assert!(
            matches!(
                found,
                Some(StoreError::DatabaseBehind {
                    partition: 1,
                    stored: 3,
                    committed: 5,
                    ..
                })
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_partition_missing_from_the_database_is_behind() {
        let ours = committed(&[("a", 0, 10)]);
        assert!(behind(&ours, &stored(&[])).is_some());
    }

    #[test]
    fn nothing_committed_is_never_behind() {
        assert!(behind(&CommittedOffsets::new(), &stored(&[("a", 0, 3)])).is_none());
    }
}
