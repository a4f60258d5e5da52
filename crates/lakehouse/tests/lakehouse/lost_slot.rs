//! A stopped replicator's slot keeps WAL (and says so); past `max_slot_wal_keep_size` the
//! slot is lost, PostgreSQL keeps its disk, and the replicator notices, rebuilds the slot from
//! a new snapshot and makes the lake equal to PostgreSQL again, changes made while it was
//! stopped included.

use std::time::Duration;

use payments_lakehouse::slot_status;
use payments_testkit::wait_for;

use crate::harness::{insert_payments, Lake, SERVER_SETTINGS};

const KEEP: i64 = 64 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_slot_is_noticed_and_rebuilt_from_a_new_snapshot() {
    let _alone = SERVER_SETTINGS.write().await;
    let lake = Lake::create().await;
    let db = &lake.db.pool;
    insert_payments(db, 100).await;
    let running = lake.start().await;
    lake.wait_until_equal().await;
    running.stop().await;

    sqlx::query("ALTER SYSTEM SET max_slot_wal_keep_size = '64MB'")
        .execute(db)
        .await
        .expect("lower max_slot_wal_keep_size (the tests connect as a superuser)");
    sqlx::query("SELECT pg_reload_conf()")
        .execute(db)
        .await
        .expect("reload");

    // Changes while the replicator is stopped: only a new snapshot can bring them.
    let missed = insert_payments(db, 250).await;
    sqlx::query("UPDATE transactions SET suspicious = true WHERE transaction_id = ANY($1)")
        .bind(&missed[..10])
        .execute(db)
        .await
        .expect("update");
    let before = slot_status(db, &lake.slot)
        .await
        .expect("slot")
        .expect("slot exists");

    // About 100 MB of WAL in a table nobody replicates, then checkpoints remove old segments.
    sqlx::query(
        "CREATE TABLE filler AS SELECT g, repeat(md5(g::text), 30) AS pad FROM generate_series(1, 100000) g",
    )
    .execute(db)
    .await
    .expect("write WAL");
    let retained = slot_status(db, &lake.slot)
        .await
        .expect("slot")
        .and_then(|s| s.retained_wal_bytes)
        .unwrap_or(0);
    assert!(
        retained > before.retained_wal_bytes.unwrap_or(0) + KEEP / 2,
        "the stopped slot keeps the new WAL: {retained} bytes"
    );
    wait_for("the slot to be lost", Duration::from_secs(60), || async {
        sqlx::query("SELECT pg_switch_wal()")
            .execute(db)
            .await
            .ok()?;
        sqlx::query("CHECKPOINT").execute(db).await.ok()?;
        let status = slot_status(db, &lake.slot).await.ok()??;
        (status.wal_status.as_deref() == Some("lost")).then_some(())
    })
    .await;
    sqlx::query("ALTER SYSTEM RESET max_slot_wal_keep_size")
        .execute(db)
        .await
        .expect("reset");
    sqlx::query("SELECT pg_reload_conf()")
        .execute(db)
        .await
        .expect("reload");
    sqlx::query("DROP TABLE filler")
        .execute(db)
        .await
        .expect("drop filler");

    let running = lake.start().await;
    lake.wait_until_equal().await;
    // The tables equal PostgreSQL's once the snapshot is copied, a moment before the backfill
    // is recorded and counted (a CI run under load read the counter between the two).
    wait_for(
        "the backfill to be counted",
        Duration::from_secs(30),
        || async { (running.metric("payments_replicator_backfills_total") >= 1.0).then_some(()) },
    )
    .await;
    assert_eq!(
        running.metric("payments_replicator_backfills_total"),
        1.0,
        "the lost slot was rebuilt from a snapshot"
    );
    assert_eq!(running.metric("payments_replicator_slot_ok"), 1.0);
    let status = slot_status(db, &lake.slot)
        .await
        .expect("slot")
        .expect("slot exists");
    assert_ne!(status.wal_status.as_deref(), Some("lost"));
    running.stop().await;
    lake.assert_equal().await;
    lake.assert_change_logs_have_no_duplicates().await;
    lake.finish().await;
}
