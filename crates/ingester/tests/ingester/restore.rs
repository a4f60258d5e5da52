//! The stream after a database restore: the offsets stored with the rows say where each
//! partition resumes, whatever the group's offsets in Kafka say; records Kafka deleted before
//! they were applied are refused, named, and never skipped.

use std::time::Duration;

use payments_domain::demo::demo_users;
use payments_stream::rdkafka::admin::AdminOptions;
use payments_stream::rdkafka::{Offset, TopicPartitionList};
use payments_testkit::{produce, producer, wait_for, TestDb};
use serde_json::json;
use uuid::Uuid;

use crate::{http_get, spawn_app};

fn events(count: usize) -> Vec<(Option<String>, Vec<u8>)> {
    let users = demo_users();
    (0..count)
        .map(|i| {
            let event = json!({
                "transaction_id": Uuid::new_v4(),
                "sender_id": users[0].user_id,
                "receiver_id": users[1].user_id,
                "amount": 10.0 + i as f64,
                "currency_code": 978,
                "timestamp": "2025-07-07T01:03:41Z",
                "status": "completed",
            });
            // One key: every record in one partition, so offsets are counted in one place.
            (
                Some("one-partition".to_owned()),
                event.to_string().into_bytes(),
            )
        })
        .collect()
}

/// The stream topic's partition holding the records, and the database's next offset in it.
async fn stored_offset(pool: &sqlx::PgPool, topic: &str) -> (i32, i64) {
    sqlx::query_as("SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1")
        .bind(topic)
        .fetch_one(pool)
        .await
        .expect("the database stored the partition's offset")
}

/// A database restored to before the ingester applied anything (here: a new one) has no
/// offsets; the group's offsets in Kafka say everything was consumed. The ingester follows the
/// database and replays the whole stream, so no payment is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_lost_applied_records_replays_them_from_kafka() {
    let mut app = spawn_app().await;
    produce(&producer(), &app.stream_topic, events(20)).await;
    app.wait_caught_up().await;
    app.stop_ingester().await;

    let lost = std::mem::replace(&mut app.db, TestDb::create().await);
    lost.drop_database().await;
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 0);
    app.start_ingester().await;
    app.wait_caught_up().await;
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 20);
    assert_eq!(stored_offset(&app.db.pool, &app.stream_topic).await.1, 20);
    app.stop().await;
}

/// Records the database needs that Kafka has deleted (retention) make the ingester refuse the
/// partition: not ready, a metric with the missing count, the gap named in `/readyz` and the
/// log; nothing after the gap is applied as if it followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_before_they_were_applied_are_refused_not_skipped() {
    let mut app = spawn_app().await;
    produce(&producer(), &app.stream_topic, events(10)).await;
    app.wait_caught_up().await;
    let (partition, next) = stored_offset(&app.db.pool, &app.stream_topic).await;
    assert_eq!(next, 10);
    app.stop_ingester().await;

    // Ten more records while the ingester is down; Kafka then deletes offsets below 15, as
    // retention would, so 10..14 were never applied and are gone.
    produce(&producer(), &app.stream_topic, events(10)).await;
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(&app.stream_topic, partition, Offset::Offset(15))
        .expect("offset");
    let deleted = payments_testkit::kafka("ingester-test")
        .admin()
        .expect("admin client")
        .delete_records(&before, &AdminOptions::new())
        .await
        .expect("delete records");
    assert_eq!(
        deleted.elements()[0].offset(),
        Offset::Offset(15),
        "Kafka's oldest record is now 15"
    );

    app.start_ingester().await;
    let ingester = app.ingester.as_ref().expect("ingester");
    let health = ingester.health.clone();
    let refused = wait_for(
        "the ingester to refuse the partition",
        Duration::from_secs(60),
        || async { Some(health.refused()).filter(|r| !r.is_empty()) },
    )
    .await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    let text = refused[0].to_string();
    for part in [
        format!("{}[{partition}]", app.stream_topic),
        "needs offset 10 next".into(),
        "oldest retained record is 15".into(),
        "5 records were deleted".into(),
    ] {
        assert!(text.contains(&part), "{part}: {text}");
    }
    assert!(!health.is_ready());

    let addr = ingester.http_addr.expect("http addr");
    let readyz = http_get(addr, "/readyz").await;
    assert!(readyz.starts_with("HTTP/1.1 503"), "{readyz}");
    assert!(readyz.contains("refused_partitions"), "{readyz}");
    assert!(readyz.contains("needs offset 10 next"), "{readyz}");
    let metrics = http_get(addr, "/metrics").await;
    let gauge = format!(
        "payments_ingester_offset_gap_records{{topic=\"{}\",partition=\"{partition}\"}} 5",
        app.stream_topic
    );
    assert!(metrics.contains(&gauge), "{gauge}: {metrics}");

    // The partition is not read: the database still holds the ten applied records and its
    // offset stays at the gap, so nothing after it counts as applied.
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 10);
    assert_eq!(
        stored_offset(&app.db.pool, &app.stream_topic).await,
        (partition, 10)
    );
    app.stop().await;
}

/// The database restored under a running ingester (here: back to before it applied anything),
/// with no new record to bring a batch: the ingester notices the database's offsets behind
/// what it committed and reads every partition again from them, so the records the restore
/// lost land again, and new ones after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restored_under_a_running_ingester_is_caught_up_from_kafka() {
    let app = spawn_app().await;
    produce(&producer(), &app.stream_topic, events(10)).await;
    app.wait_caught_up().await;
    let (partition, _) = stored_offset(&app.db.pool, &app.stream_topic).await;

    // What a restore to before the first batch leaves: no payments, the offsets at 0.
    sqlx::query("DELETE FROM transactions")
        .execute(&app.db.pool)
        .await
        .expect("delete");
    sqlx::query("UPDATE consumer_offsets SET next_offset = 0")
        .execute(&app.db.pool)
        .await
        .expect("rewind");

    // No new record: the ingester notices by itself and reads the ten again.
    wait_for(
        "the ten payments again",
        Duration::from_secs(60),
        || async { (app.count("SELECT count(*) FROM transactions").await == 10).then_some(()) },
    )
    .await;
    assert_eq!(
        stored_offset(&app.db.pool, &app.stream_topic).await,
        (partition, 10)
    );
    // And what comes next lands after them.
    produce(&producer(), &app.stream_topic, events(10)).await;
    app.wait_caught_up().await;
    wait_for("all 20 payments", Duration::from_secs(60), || async {
        (app.count("SELECT count(*) FROM transactions").await == 20).then_some(())
    })
    .await;
    let health = app.ingester.as_ref().expect("ingester").health.clone();
    assert!(health.metrics.database_behind.get() >= 1);
    wait_for("ready again", Duration::from_secs(30), || async {
        health.is_ready().then_some(())
    })
    .await;
    app.stop().await;
}
