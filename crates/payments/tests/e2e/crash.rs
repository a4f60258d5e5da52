use std::time::Duration;

use payments_domain::demo::demo_users;
use payments_testkit::{
    applied_records, create_topics, produce, producer, topic_record_count, unique_name, wait_for,
    TestDb,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    assert_rejected_once, count, free_addr, kill, spawn_ingester, Topics, CAUGHT_UP_TIMEOUT, SERIAL,
};

const STREAM_EVENTS: usize = 150_000;
const IMPORT_ROWS: usize = 50_000;
const BAD_EVENTS: usize = 10;

fn stream_payloads() -> Vec<(Option<String>, Vec<u8>)> {
    let users = demo_users();
    (0..STREAM_EVENTS)
        .map(|i| {
            let id = Uuid::new_v4();
            let currency = [840, 978, 608, 344, 986][i % 5];
            let status = ["pending", "completed", "failed"][i % 3];
            let payload = json!({
                "transaction_id": id,
                "sender_id": users[i % 30].user_id,
                "receiver_id": users[(i + 1) % 30].user_id,
                "amount": 500 + (i % 9500),
                "currency_code": currency,
                "timestamp": "2025-07-07T01:03:41Z",
                "status": status,
            });
            (
                Some(id.to_string()),
                serde_json::to_vec(&payload).expect("json"),
            )
        })
        .collect()
}

fn import_payloads() -> Vec<(Option<String>, Vec<u8>)> {
    let users = demo_users();
    let import_id = Uuid::new_v4();
    (1..=IMPORT_ROWS)
        .map(|row| {
            let id = payments_domain::event::import_transaction_id("crash-test", row as u64);
            let payload = json!({
                "username_sender": users[row % 30].username,
                "username_receiver": users[(row + 7) % 30].username,
                "amount": format!("{}.{:02}", row % 9000 + 1, row % 100),
                "currency": "USD",
                "transaction_date": "2025-07-07 01:03:41 UTC",
                "status": "completed",
                "source_file": "crash.csv",
                "import_id": import_id,
                "row_number": row,
                "transaction_id": id,
            });
            (
                Some(id.to_string()),
                serde_json::to_vec(&payload).expect("json"),
            )
        })
        .collect()
}

/// Kills the ingester twice with SIGKILL while it works through 200,000 events and restarts it:
/// every event ends up applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let topics = Topics {
        stream: unique_name("crash-stream"),
        import: unique_name("crash-import"),
    };
    create_topics(&[&topics.stream, &topics.import], 3).await;

    let producer = producer();
    let mut stream = stream_payloads();
    // A few bad events among the good ones, to check each is rejected exactly once.
    for i in 0..BAD_EVENTS {
        stream.insert(
            i * 10_000 + 5,
            (None, format!("{{\"bad\": {i}}}").into_bytes()),
        );
    }
    produce(&producer, &topics.stream, stream).await;
    produce(&producer, &topics.import, import_payloads()).await;
    let total = topic_record_count(&topics.stream) + topic_record_count(&topics.import);
    assert_eq!(total as usize, STREAM_EVENTS + IMPORT_ROWS + BAD_EVENTS);

    let group = unique_name("crash-group");
    let mut killed_at = Vec::new();
    for threshold in [40_000, 110_000] {
        let mut child = spawn_ingester(&db.url, &group, &topics, &free_addr(), "crash");
        let seen = wait_for("progress before the kill", CAUGHT_UP_TIMEOUT, || {
            assert!(
                child.try_wait().ok().flatten().is_none(),
                "ingester exited on its own"
            );
            async {
                count(&db.pool, "SELECT count(*) FROM transactions")
                    .await
                    .filter(|n| *n >= threshold)
            }
        })
        .await;
        kill(&mut child);
        killed_at.push(seen);
    }
    assert!(
        killed_at
            .iter()
            .all(|n| (*n as usize) < STREAM_EVENTS + IMPORT_ROWS),
        "both kills happened mid-stream: {killed_at:?}"
    );

    let mut child = spawn_ingester(&db.url, &group, &topics, &free_addr(), "crash");
    wait_for(
        "the restarted ingester to commit every record",
        CAUGHT_UP_TIMEOUT,
        || {
            assert!(
                child.try_wait().ok().flatten().is_none(),
                "ingester exited on its own"
            );
            async { applied_records(&db.pool).await.filter(|n| *n >= total) }
        },
    )
    .await;
    kill(&mut child);

    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT transaction_id) FROM transactions")
            .fetch_one(&db.pool)
            .await
            .expect("count");
    assert_eq!(
        rows,
        (STREAM_EVENTS + IMPORT_ROWS) as i64,
        "none lost (killed at {killed_at:?})"
    );
    assert_eq!(distinct, rows, "none duplicated");
    let imported = count(
        &db.pool,
        "SELECT count(*) FROM transactions WHERE source = 'import'",
    )
    .await;
    assert_eq!(imported, Some(IMPORT_ROWS as i64));
    assert_rejected_once(&db.pool, BAD_EVENTS as i64).await;
    db.drop_database().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
