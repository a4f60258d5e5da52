//! The backups' health against a real PostgreSQL: barman-cloud's catalog recorded by the SQL
//! function the chart's backup container calls, and what `backup_health` reads back.

use chrono::{TimeZone, Utc};
use payments_store::backup_health;
use payments_testkit::TestDb;
use serde_json::json;

/// One backup as `barman-cloud-backup-list --format json` (barman 3.4,
/// `barman/clients/cloud_backup_list.py` and `BackupInfo.to_json`) prints it: times by
/// Python's `ctime()`, the size in bytes.
fn listed(id: &str, status: &str, begin: &str, end: &str) -> serde_json::Value {
    json!({
        "backup_id": id, "status": status, "begin_time": begin, "end_time": end,
        "begin_wal": "000000010000000000000002", "end_wal": "000000010000000000000003",
        "size": 31_457_280, "timeline": 1, "mode": "concurrent", "server_name": "cloud"
    })
}

#[tokio::test]
async fn the_newest_completed_backup_is_the_one_that_counts() {
    let db = TestDb::create_with(false).await;
    let catalog = json!({"backups_list": [
        listed("20261201T020000", "DONE", "Tue Dec  1 02:00:00 2026", "Tue Dec  1 02:03:10 2026"),
        listed("20261202T020000", "DONE", "Wed Dec  2 02:00:00 2026", "Wed Dec  2 02:04:05 2026"),
        // Started later and never finished: not a backup one can restore.
        listed("20261203T020000", "FAILED", "Thu Dec  3 02:00:00 2026", "Thu Dec  3 02:00:09 2026"),
    ]});
    let recorded: i32 = sqlx::query_scalar("SELECT record_base_backups('payments', $1)")
        .bind(&catalog)
        .fetch_one(&db.pool)
        .await
        .expect("record the catalog");
    assert_eq!(recorded, 3);

    let health = backup_health(&db.pool).await.expect("backup health");
    assert_eq!(
        health.last_base_backup_end,
        Utc.with_ymd_and_hms(2026, 12, 2, 2, 4, 5).single()
    );
    let size: i64 = sqlx::query_scalar(
        "SELECT size_bytes FROM base_backups WHERE backup_id = '20261202T020000'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("size");
    assert_eq!(size, 31_457_280);
    db.drop_database().await;
}

#[tokio::test]
async fn a_catalog_replaces_the_one_recorded_before() {
    let db = TestDb::create_with(false).await;
    let record = |server: &'static str, catalog: serde_json::Value| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i32>("SELECT record_base_backups($1, $2)")
                .bind(server)
                .bind(catalog)
                .fetch_one(&pool)
                .await
        }
    };
    let old = json!({"backups_list": [
        listed("20261201T020000", "DONE", "Tue Dec  1 02:00:00 2026", "Tue Dec  1 02:03:10 2026"),
    ]});
    record("payments", old).await.expect("record");
    // Restored from `payments`, the database now archives as `payments-restored`, which has
    // no completed backup yet: the old server's backups must not pass for this one's.
    let new = json!({"backups_list": [
        listed("20261203T120000", "STARTED", "Thu Dec  3 12:00:00 2026", "Thu Dec  3 12:00:00 2026"),
    ]});
    record("payments-restored", new).await.expect("record");
    let servers: Vec<String> = sqlx::query_scalar("SELECT DISTINCT server FROM base_backups")
        .fetch_all(&db.pool)
        .await
        .expect("servers");
    assert_eq!(servers, ["payments-restored"]);
    let health = backup_health(&db.pool).await.expect("backup health");
    assert_eq!(health.last_base_backup_end, None);

    let err = record("payments", json!({"backups": []}))
        .await
        .expect_err("not a catalog");
    assert!(
        err.to_string().contains("backups_list"),
        "the refusal names what is missing: {err}"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_server_that_does_not_archive_says_so() {
    let db = TestDb::create_with(false).await;
    // The test stack's PostgreSQL runs with archive_mode off.
    let health = backup_health(&db.pool).await.expect("backup health");
    assert!(!health.archiving, "{health:?}");
    assert_eq!(health.unarchived_bytes(), None);
    assert!(health.current_lsn > 0, "{health:?}");
    assert_eq!(health.wal_segment_size, 16 << 20);
    db.drop_database().await;
}
