//! `payments replicate` killed with SIGKILL 20 times while the platform works (stream inserts,
//! upserts of existing payments, an import, rejected events, transactions that commit out of
//! start order): afterwards every Delta current-state table equals its PostgreSQL table row
//! for row, no change log holds a change twice, and the position stored in the lake is the
//! slot's confirmed position.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use payments_domain::demo::demo_users;
use payments_lakehouse::{read, slot_status, DeltaLocation, S3Access, PUBLICATION};
use payments_testkit::{
    applied_records, create_topics, produce, producer, quick_ingester, stack, start_ingester,
    unique_name, wait_for, TestDb,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{free_addr, kill, spawn_role, wait_ready, CAUGHT_UP_TIMEOUT, SERIAL};

const KILLS: usize = 20;

fn location(bucket: &str) -> DeltaLocation {
    let s = stack();
    DeltaLocation::s3(
        bucket,
        "payments",
        S3Access {
            endpoint: Some(&s.s3_endpoint),
            region: &s.s3_region,
            access_key: &s.s3_access_key,
            secret_key: &s.s3_secret_key,
        },
    )
    .expect("lake location")
}

fn spawn_replicator(database_url: &str, bucket: &str, slot: &str, addr: &str) -> Child {
    let s = stack();
    spawn_role(
        "replicate",
        &[
            ("PAYMENTS_DATABASE_URL", database_url),
            ("PAYMENTS_S3_ENDPOINT", &s.s3_endpoint),
            ("PAYMENTS_S3_REGION", &s.s3_region),
            ("PAYMENTS_S3_ACCESS_KEY", &s.s3_access_key),
            ("PAYMENTS_S3_SECRET_KEY", &s.s3_secret_key),
            ("PAYMENTS_LAKE_BUCKET", bucket),
            ("PAYMENTS_REPLICATION_SLOT", slot),
            ("PAYMENTS_REPLICATE_ADDR", addr),
            ("PAYMENTS_REPLICATE_LINGER", "200ms"),
            ("PAYMENTS_REPLICATE_HEARTBEAT", "1s"),
            ("PAYMENTS_MAX_BACKOFF", "1s"),
        ],
        "lakehouse-crash",
    )
}

/// Stream events: new payments, and now and then a new amount for an earlier one (an upsert).
fn stream_events(
    earlier: &mut Vec<Uuid>,
    n: usize,
    rng: &mut impl rand::Rng,
) -> Vec<(Option<String>, Vec<u8>)> {
    let users = demo_users();
    (0..n)
        .map(|i| {
            let id = if !earlier.is_empty() && rng.random_range(0..10) == 0 {
                earlier[rng.random_range(0..earlier.len())]
            } else {
                let id = Uuid::new_v4();
                earlier.push(id);
                id
            };
            let currency_code = [840, 978, 608, 344, 986][i % 5];
            // A JSON number (the stream's schema); two decimals print back exactly.
            let amount: f64 = format!(
                "{}.{:02}",
                rng.random_range(1..9999),
                rng.random_range(0..100)
            )
            .parse()
            .expect("amount");
            let status = ["pending", "completed", "failed"][i % 3];
            let payload = json!({
                "transaction_id": id,
                "sender_id": users[i % 30].user_id,
                "receiver_id": users[(i + 1) % 30].user_id,
                "amount": amount,
                "currency_code": currency_code,
                "timestamp": "2026-11-07T01:03:41Z",
                "status": status,
            });
            (
                Some(id.to_string()),
                serde_json::to_vec(&payload).expect("json"),
            )
        })
        .collect()
}

fn import_rows(import_id: Uuid, from: usize, n: usize) -> Vec<(Option<String>, Vec<u8>)> {
    let users = demo_users();
    (from..from + n)
        .map(|row| {
            let id = payments_domain::event::import_transaction_id("lake-crash", row as u64);
            let payload = json!({
                "username_sender": users[row % 30].username,
                "username_receiver": users[(row + 7) % 30].username,
                "amount": format!("{}.{:02}", row % 9000 + 1, row % 100),
                "currency": "USD",
                "transaction_date": "2026-10-07 01:03:41 UTC",
                "status": "completed",
                "source_file": "lake-crash.csv",
                "import_id": import_id,
                "row_number": row + 1,
                "transaction_id": id,
            });
            (
                Some(id.to_string()),
                serde_json::to_vec(&payload).expect("json"),
            )
        })
        .collect()
}

/// The platform at work until `stop`: events and import rows through Kafka to the ingester,
/// and pairs of transactions that commit in the opposite order to their start.
async fn workload(
    db: sqlx::PgPool,
    stream_topic: String,
    import_topic: String,
    produced: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let producer = producer();
    // A seeded generator: the thread's own cannot be held across the awaits of a spawned task.
    let mut rng = StdRng::seed_from_u64(Uuid::new_v4().as_u64_pair().0);
    let mut ids = Vec::new();
    let import_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO imports (id, file_name, status) VALUES ($1, 'lake-crash.csv', 'received')",
    )
    .bind(import_id)
    .execute(&db)
    .await
    .expect("import row");
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut events = stream_events(&mut ids, 400, &mut rng);
        if round % 3 == 0 {
            events.push((None, format!("{{\"bad\": {round}}}").into_bytes()));
        }
        produced.fetch_add(events.len(), Ordering::Relaxed);
        produce(&producer, &stream_topic, events).await;
        if round % 4 == 0 {
            let rows = import_rows(import_id, round * 100, 300);
            produced.fetch_add(rows.len(), Ordering::Relaxed);
            produce(&producer, &import_topic, rows).await;
            sqlx::query("UPDATE imports SET rows = rows + 300, unique_rows = unique_rows + 300, published = published + 300, updated_at = now() WHERE id = $1")
                .bind(import_id)
                .execute(&db)
                .await
                .expect("import progress");
        }
        // Overlapping transactions on payments already there, committed out of start order.
        if ids.len() > 100 {
            let (a, b) = (ids[rng.random_range(0..100)], ids[rng.random_range(0..100)]);
            if let (Ok(mut first), Ok(mut second)) = (db.begin().await, db.begin().await) {
                let _ = sqlx::query(
                    "UPDATE transactions SET suspicious = NOT suspicious WHERE transaction_id = $1",
                )
                .bind(a)
                .execute(&mut *first)
                .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = sqlx::query("UPDATE transactions SET amount = amount + 0.01 WHERE transaction_id = $1 AND transaction_id <> $2")
                    .bind(b)
                    .bind(a)
                    .execute(&mut *second)
                    .await;
                let _ = second.commit().await;
                let _ = first.commit().await;
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn terminate(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    child.wait().expect("reap the replicator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkills_of_the_replicator_lose_and_duplicate_nothing() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let bucket = unique_name("lake");
    payments_testkit::object_store(&bucket)
        .ensure_bucket()
        .await
        .expect("bucket");
    let slot = format!("lake_{}", Uuid::new_v4().simple());
    let stream_topic = unique_name("lake-stream");
    let import_topic = unique_name("lake-import");
    create_topics(&[&stream_topic, &import_topic], 3).await;
    let shutdown = CancellationToken::new();
    let _ingester = start_ingester(
        quick_ingester(&stream_topic, &import_topic),
        db.pool.clone(),
        "lake-crash",
        shutdown.clone(),
    )
    .await;

    let produced = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let work = tokio::spawn(workload(
        db.pool.clone(),
        stream_topic.clone(),
        import_topic.clone(),
        produced.clone(),
        stop.clone(),
    ));

    let mut rng = rand::rng();
    for _ in 0..KILLS {
        let mut child = spawn_replicator(&db.url, &bucket, &slot, &free_addr());
        let alive = Duration::from_millis(rng.random_range(300..3000));
        tokio::time::sleep(alive).await;
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "the replicator exited on its own (see lakehouse-crash.log)"
        );
        kill(&mut child);
    }
    stop.store(true, Ordering::Relaxed);
    work.await.expect("workload");
    let total = produced.load(Ordering::Relaxed) as i64;
    wait_for(
        "the ingester to apply every record",
        CAUGHT_UP_TIMEOUT,
        || async { applied_records(&db.pool).await.filter(|n| *n >= total) },
    )
    .await;

    let addr = free_addr();
    let mut child = spawn_replicator(&db.url, &bucket, &slot, &addr);
    wait_ready(&addr, "the replicator after the kills").await;
    let lake = location(&bucket);
    let tables = payments_lakehouse::catalog::published_tables(&db.pool, PUBLICATION)
        .await
        .expect("tables");
    wait_for(
        "the lake to equal PostgreSQL",
        CAUGHT_UP_TIMEOUT,
        || async {
            read::lake_equals_postgres(&db.pool, &lake, &tables)
                .await
                .ok()
                .filter(|equal| *equal)
                .map(|_| ())
        },
    )
    .await;
    terminate(&mut child);
    shutdown.cancel();

    for table in &tables {
        let expected = read::postgres_rows(&db.pool, table)
            .await
            .expect("postgres");
        let actual = read::lake_rows(&lake, table).await.expect("lake");
        assert_eq!(actual, expected, "{} equals PostgreSQL", table.name);
        let duplicates = read::duplicate_changes(&lake, table)
            .await
            .expect("change log");
        assert_eq!(
            duplicates,
            Vec::<read::TextRow>::new(),
            "duplicate changes of {}",
            table.name
        );
    }
    // The workload's kinds of change all reached the change logs: stream inserts, updates of
    // existing payments (upserts, the out-of-order pairs), import rows, rejected events.
    let kinds = read::query(
        &lake,
        &["transactions_changes", "rejected_events_changes"],
        "SELECT 'transactions ' || _op || ' ' || CASE WHEN import_id IS NULL THEN 'stream' ELSE 'import' END, count(*)
           FROM transactions_changes GROUP BY 1
         UNION ALL SELECT 'rejected_events ' || _op, count(*) FROM rejected_events_changes GROUP BY 1",
    )
    .await
    .expect("change kinds");
    let kinds: HashMap<String, i64> = kinds
        .into_iter()
        .map(|row| {
            let n = row[1].as_deref().and_then(|n| n.parse().ok()).unwrap_or(0);
            (row[0].clone().unwrap_or_default(), n)
        })
        .collect();
    for kind in [
        "transactions insert stream",
        "transactions update stream",
        "transactions insert import",
        "rejected_events insert",
    ] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {kinds:?}"
        );
    }

    let status = slot_status(&db.pool, &slot)
        .await
        .expect("slot")
        .expect("slot");
    let position = read::stored_position(&lake, &slot).await.expect("position");
    assert_eq!(
        status.confirmed_flush, position,
        "the slot's confirmed position is the position stored in the lake"
    );
    for table in &tables {
        for version in read::stored_versions(&lake, &slot, &table.name)
            .await
            .expect("versions")
        {
            assert!(
                version.is_some() && version <= position,
                "{}: {version:?}",
                table.name
            );
        }
    }

    payments_testkit::drop_replication_slot(&db.pool, &slot).await;
    db.drop_database().await;
}
