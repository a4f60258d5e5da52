//! The store against a real PostgreSQL: migrations, constraints, triggers and the batch write.

mod backups;
mod dashboard;
mod imports;
mod reservations;
mod users;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use payments_domain::demo::demo_users;
use payments_domain::validate::RejectKind;
use payments_domain::{Payment, Source, Status};
use payments_store::{write_batch_via, Batch, Record, RecordOutcome, WritePath};
use payments_testkit::TestDb;
use rust_decimal::Decimal;
use uuid::Uuid;

fn payment(id: Uuid, status: Status, amount: &str) -> Payment {
    let users = demo_users();
    Payment {
        transaction_id: id,
        sender_id: users[0].user_id,
        receiver_id: users[1].user_id,
        amount: amount.parse().unwrap(),
        currency_code: 840,
        transaction_date: "2025-07-07T01:03:41Z".parse().unwrap(),
        status,
        source: Source::Stream,
        import_id: None,
        import_row: None,
        suspicious: false,
    }
}

fn record(partition: i32, offset: i64, outcome: RecordOutcome) -> Record {
    Record {
        topic: Arc::from("t"),
        partition,
        offset,
        outcome,
    }
}

fn rejected(reason: &str) -> RecordOutcome {
    RecordOutcome::Rejected {
        payload: b"{}".to_vec(),
        reason: reason.to_owned(),
        kind: RejectKind::NotJson,
        import_id: None,
        row_number: None,
        reference_miss: false,
    }
}

#[tokio::test]
async fn migrations_are_safe_when_several_processes_start_together() {
    let db = TestDb::create_with(false).await;
    // A second, third... runner against an already migrated database, all at once.
    let runs = (0..4).map(|_| {
        let pool = payments_testkit::pool(&db.url, 2);
        tokio::spawn(async move {
            payments_store::migrate(&pool).await?;
            payments_store::seed_demo_users(&pool).await
        })
    });
    for run in runs {
        run.await.expect("task").expect("migrate and seed");
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let currencies: i64 = sqlx::query_scalar("SELECT count(*) FROM currencies")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((users, currencies), (30, 5));
    db.drop_database().await;
}

/// A migration attempt that fails (here: a database still read-only, as one in recovery is)
/// releases sqlx's migration lock, so the retry fails or succeeds instead of waiting forever.
#[tokio::test]
async fn a_failed_migration_leaves_no_lock_behind() {
    let db = TestDb::create_with(false).await;
    let read_only = |on: bool| {
        format!(
            "ALTER DATABASE {} SET default_transaction_read_only = {on}",
            db.name
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(read_only(true)))
        .execute(&db.pool)
        .await
        .expect("read-only");
    // Two connections: the retry gets the other one while the first stays in the pool.
    let pool = payments_testkit::pool(&db.url, 2);
    for attempt in 1..=3 {
        let migrated =
            tokio::time::timeout(Duration::from_secs(60), payments_store::migrate(&pool))
                .await
                .unwrap_or_else(|_| panic!("attempt {attempt} waits for a lock left behind"));
        let error = migrated.expect_err("a read-only database cannot be migrated");
        assert!(error.to_string().contains("read-only"), "{error}");
    }
    let admin = sqlx::PgPool::connect(&payments_testkit::stack().admin_url)
        .await
        .expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(read_only(false)))
        .execute(&admin)
        .await
        .expect("writable again");
    pool.close().await;
    let pool = payments_testkit::pool(&db.url, 2);
    payments_store::migrate(&pool)
        .await
        .expect("migrates once writable");
    pool.close().await;
    db.drop_database().await;
}

#[tokio::test]
async fn fresh_database_migrates_concurrently() {
    let db = TestDb::create_with(false).await;
    let name = payments_testkit::unique_name("fresh").replace('-', "_");
    let admin = sqlx::PgPool::connect(&payments_testkit::stack().admin_url)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = payments_testkit::with_database(&db.url, &name);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let pool = payments_testkit::pool(&url, 2);
            tokio::spawn(async move { payments_store::migrate(&pool).await })
        })
        .collect();
    for run in runs {
        run.await.expect("task").expect("concurrent migrate");
    }
    let pool = payments_testkit::pool(&url, 1);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(applied >= 2);
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn the_schema_refuses_what_the_domain_refuses() {
    let db = TestDb::create().await;
    let users = demo_users();
    let insert = |amount: &str, status: &str| {
        sqlx::query(
            "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount, currency_id, transaction_date, status)
             VALUES ($1, $2, $3, $4::numeric, 840, now(), $5)",
        )
        .bind(Uuid::new_v4())
        .bind(users[0].user_id)
        .bind(users[1].user_id)
        .bind(amount.to_owned())
        .bind(status.to_owned())
    };
    assert!(insert("10.00", "pending").execute(&db.pool).await.is_ok());
    assert!(
        insert("0", "pending").execute(&db.pool).await.is_err(),
        "amount > 0"
    );
    assert!(
        insert("100000000", "pending")
            .execute(&db.pool)
            .await
            .is_err(),
        "numeric(10,2)"
    );
    assert!(
        insert("10", "refunded").execute(&db.pool).await.is_err(),
        "status check"
    );
    let unknown_user = sqlx::query(
        "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount, currency_id, transaction_date, status)
         VALUES ($1, $2, $2, 1, 840, now(), 'pending')",
    )
    .bind(Uuid::new_v4())
    .bind(Uuid::new_v4())
    .execute(&db.pool)
    .await;
    assert!(unknown_user.is_err(), "foreign key to users");
    let plaintext = sqlx::query("UPDATE users SET password_hash = 'hunter2'")
        .execute(&db.pool)
        .await;
    assert!(plaintext.is_err(), "only hashes are stored");
    db.drop_database().await;
}

async fn row(db: &TestDb, id: Uuid) -> (String, Decimal, DateTime<Utc>, DateTime<Utc>) {
    sqlx::query_as("SELECT status, amount, created_at, modified_at FROM transactions WHERE transaction_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_is_applied_once_and_replays_change_nothing() {
    for path in [WritePath::Staged, WritePath::Unnest] {
        applied_once_and_replays_change_nothing(path).await;
    }
}

async fn applied_once_and_replays_change_nothing(path: WritePath) {
    let db = TestDb::create().await;
    let id = Uuid::new_v4();
    let batch = Batch {
        records: vec![
            record(
                0,
                0,
                RecordOutcome::Valid(payment(id, Status::Pending, "10.50")),
            ),
            record(0, 1, rejected("bad one")),
            record(
                1,
                0,
                RecordOutcome::Valid(payment(id, Status::Completed, "10.50")),
            ),
        ],
    };
    let first = write_batch_via(&db.pool, "g", &batch, path).await.unwrap();
    assert_eq!(
        (first.upserted, first.rejected, first.already_applied),
        (1, 1, 0)
    );
    let (status, _, created, modified) = row(&db, id).await;
    assert_eq!(
        status, "completed",
        "last record of the transaction in the batch wins"
    );

    // The same batch again (a crash before the Kafka commit): nothing happens.
    let replay = write_batch_via(&db.pool, "g", &batch, path).await.unwrap();
    assert_eq!(
        (replay.upserted, replay.rejected, replay.already_applied),
        (0, 0, 3)
    );
    assert_eq!(
        row(&db, id).await,
        (status, "10.50".parse().unwrap(), created, modified)
    );

    // Another consumer group keeps its own offsets; the identical row is still not touched.
    let other = write_batch_via(&db.pool, "other", &batch, path)
        .await
        .unwrap();
    assert_eq!((other.upserted, other.rejected), (0, 0));
    let offsets: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT group_id, partition, next_offset FROM consumer_offsets ORDER BY group_id, partition",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        offsets,
        vec![
            ("g".into(), 0, 2),
            ("g".into(), 1, 1),
            ("other".into(), 0, 2),
            ("other".into(), 1, 1)
        ]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_row_the_database_refuses_becomes_a_rejection_and_the_rest_lands() {
    for path in [WritePath::Staged, WritePath::Unnest] {
        refused_row_becomes_a_rejection(path).await;
    }
}

async fn refused_row_becomes_a_rejection(path: WritePath) {
    let db = TestDb::create().await;
    let good = Uuid::new_v4();
    let orphan = Uuid::new_v4();
    let mut bad = payment(orphan, Status::Failed, "5");
    // Passed validation against a stale cache, but the user no longer exists.
    bad.receiver_id = Uuid::new_v4();
    let batch = Batch {
        records: vec![
            record(
                0,
                10,
                RecordOutcome::Valid(payment(good, Status::Pending, "1.01")),
            ),
            record(0, 11, RecordOutcome::Valid(bad)),
        ],
    };
    let outcome = write_batch_via(&db.pool, "g", &batch, path).await.unwrap();
    assert_eq!((outcome.upserted, outcome.rejected), (1, 1));
    assert_eq!(outcome.refused.len(), 1);
    let reason: String =
        sqlx::query_scalar("SELECT reason FROM rejected_events WHERE kafka_offset = 11")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(reason.starts_with("refused by the database"), "{reason}");
    assert!(reason.contains("foreign key"), "{reason}");
    assert_eq!(row(&db, good).await.0, "pending");
    db.drop_database().await;
}

/// Every column a write path sets, amount as PostgreSQL prints it.
type StoredRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    i32,
    DateTime<Utc>,
    String,
    String,
    Option<Uuid>,
    Option<i64>,
    bool,
);

#[tokio::test]
async fn both_write_paths_store_the_same_rows() {
    let import = Uuid::new_v4();
    let mut records = Vec::new();
    for (i, amount) in ["0.01", "5", "10.50", "12345678.99", "99999999.99", "1000"]
        .into_iter()
        .enumerate()
    {
        let mut p = payment(Uuid::new_v4(), Status::Completed, amount);
        if i % 2 == 0 {
            p.source = Source::Import;
            p.import_id = Some(import);
            p.import_row = Some(i as i64 + 1);
            p.suspicious = true;
        }
        p.transaction_date = "1999-12-31T23:59:59.999999Z".parse().unwrap();
        records.push(record(0, i as i64, RecordOutcome::Valid(p)));
    }
    let batch = Batch { records };
    let mut stored = Vec::new();
    for path in [WritePath::Staged, WritePath::Unnest] {
        let db = TestDb::create().await;
        let outcome = write_batch_via(&db.pool, "g", &batch, path).await.unwrap();
        assert_eq!(outcome.upserted, 6, "{path:?}");
        let rows: Vec<StoredRow> = sqlx::query_as(
            "SELECT transaction_id, sender_id, receiver_id, amount::text, currency_id,
                        transaction_date, status, source, import_id, import_row, suspicious
                 FROM transactions ORDER BY transaction_id",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 6);
        stored.push(rows);
        db.drop_database().await;
    }
    assert_eq!(stored[0], stored[1], "staged and unnest agree");
    assert!(stored[0]
        .iter()
        .any(|r| r.3 == "99999999.99" && r.8 == Some(import)));
}
