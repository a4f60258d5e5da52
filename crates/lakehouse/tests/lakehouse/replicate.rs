//! What PostgreSQL committed is what the lake holds: backfill, then inserts, updates, deletes,
//! an out-of-line value an update leaves alone, and transactions committing out of start
//! order; across a restart the lake converges without a duplicate change.

use std::time::Duration;

use payments_lakehouse::{read, slot_status};
use payments_testkit::wait_for;
use uuid::Uuid;

use crate::harness::{insert_payments, Lake, SERVER_SETTINGS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_lands_once_and_the_lake_equals_postgres() {
    let _shared = SERVER_SETTINGS.read().await;
    let lake = Lake::create().await;
    let db = &lake.db.pool;
    // Before the replicator: copied by the backfill from the slot's snapshot.
    let early = insert_payments(db, 300).await;

    let running = lake.start().await;
    lake.wait_until_equal().await;
    assert_eq!(running.metric("payments_replicator_backfills_total"), 1.0);

    // Inserts, updates of existing payments (amount, suspicious), a rejected event and its
    // deletion, an import whose 40 kB error is stored out of line and then left alone by an
    // update.
    let late = insert_payments(db, 500).await;
    sqlx::query(
        "UPDATE transactions SET amount = amount + 0.01, suspicious = true, status = 'failed'
          WHERE transaction_id = ANY($1)",
    )
    .bind(&early[..100])
    .execute(db)
    .await
    .expect("update");
    for offset in 0..5 {
        sqlx::query(
            "INSERT INTO rejected_events (topic, partition, kafka_offset, payload, payload_bytes, reason)
             VALUES ('payments', 0, $1, '\\x00ff'::bytea, 2, 'invalid amount')",
        )
        .bind(offset as i64)
        .execute(db)
        .await
        .expect("rejected event");
    }
    sqlx::query("DELETE FROM rejected_events WHERE kafka_offset = 4")
        .execute(db)
        .await
        .expect("delete");
    let import = Uuid::new_v4();
    let long_error: String = (0..1250)
        .map(|i| format!("{:032x}", Uuid::new_v4().as_u128() ^ i))
        .collect();
    sqlx::query(
        "INSERT INTO imports (id, file_name, status, error, failure)
         VALUES ($1, 'big.csv', 'failed', $2, 'invalid_file')",
    )
    .bind(import)
    .bind(&long_error)
    .execute(db)
    .await
    .expect("import");
    sqlx::query("UPDATE imports SET file_name = 'renamed.csv' WHERE id = $1")
        .bind(import)
        .execute(db)
        .await
        .expect("update import");

    // Two transactions that commit in the opposite order to how they started.
    let mut first = db.begin().await.expect("begin");
    let mut second = db.begin().await.expect("begin");
    sqlx::query("UPDATE transactions SET amount = 1.23 WHERE transaction_id = $1")
        .bind(late[0])
        .execute(&mut *first)
        .await
        .expect("first");
    sqlx::query("UPDATE transactions SET amount = 4.56 WHERE transaction_id = $1")
        .bind(late[1])
        .execute(&mut *second)
        .await
        .expect("second");
    second.commit().await.expect("commit second");
    first.commit().await.expect("commit first");

    lake.wait_until_equal().await;
    lake.assert_equal().await;

    // A restart resumes where the slot was acknowledged; nothing is applied twice.
    running.stop().await;
    let more = insert_payments(db, 200).await;
    sqlx::query(
        "UPDATE transactions SET suspicious = NOT suspicious WHERE transaction_id = ANY($1)",
    )
    .bind(&more[..50])
    .execute(db)
    .await
    .expect("update");
    let running = lake.start().await;
    lake.wait_until_equal().await;
    assert_eq!(
        running.metric("payments_replicator_backfills_total"),
        0.0,
        "a resumed slot is not copied again"
    );
    // While it runs, the slot is acknowledged up to what the lake holds (seconds, not the
    // minutes pg_walstream's own 128-message rhythm took under a light load): the slot
    // releases its WAL as the lake advances.
    wait_for(
        "the slot's confirmed position to reach the lake's",
        Duration::from_secs(10),
        || async {
            let stored = read::stored_position(&lake.location, &lake.slot)
                .await
                .ok()?;
            let status = slot_status(db, &lake.slot).await.ok()??;
            (stored.is_some() && status.confirmed_flush == stored).then_some(())
        },
    )
    .await;
    running.stop().await;
    lake.assert_equal().await;
    lake.assert_change_logs_have_no_duplicates().await;

    // The change log holds every change: 300 copied + 500 + 200 inserted, 100 + 50 + 2
    // updated (the two out-of-order updates).
    let counts = read::query(
        &lake.location,
        &["transactions_changes"],
        "SELECT _op, count(*) FROM transactions_changes GROUP BY _op ORDER BY _op",
    )
    .await
    .expect("change log");
    let counts: Vec<(String, String)> = counts
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("insert".to_owned(), "700".to_owned()),
            ("snapshot".to_owned(), "300".to_owned()),
            ("update".to_owned(), "152".to_owned())
        ]
    );

    // The slot's confirmed position is the last position the lake holds.
    let status = slot_status(db, &lake.slot)
        .await
        .expect("slot")
        .expect("slot exists");
    let stored = read::stored_position(&lake.location, &lake.slot)
        .await
        .expect("stored position");
    assert_eq!(status.confirmed_flush, stored);
    for table in lake.tables().await {
        for version in read::stored_versions(&lake.location, &lake.slot, &table.name)
            .await
            .expect("versions")
        {
            assert!(
                version <= stored,
                "{}: {version:?} > {stored:?}",
                table.name
            );
        }
    }
    lake.finish().await;
}
