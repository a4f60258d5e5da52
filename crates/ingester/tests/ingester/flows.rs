use std::time::Duration;

use chrono::{DateTime, Utc};
use payments_domain::demo::demo_users;
use payments_generator::GeneratorConfig;
use payments_testkit::{produce, producer, read_topic, wait_for};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{http_get, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_events_become_rows_with_the_published_values() {
    let app = spawn_app().await;
    let config = GeneratorConfig {
        topic: app.stream_topic.clone(),
        rate: Some(2000.0),
        count: Some(300),
        seed: Some(7),
        ..GeneratorConfig::default()
    };
    let sent = payments_generator::run(config, app.db.pool.clone(), producer(), Default::default())
        .await
        .expect("generator runs");
    assert_eq!(sent, 300);
    app.wait_caught_up().await;

    let published = read_topic(&app.stream_topic);
    assert_eq!(published.len(), 300);
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 300);
    assert_eq!(app.count("SELECT count(*) FROM rejected_events").await, 0);
    for payload in published {
        let event: Value = serde_json::from_slice(&payload).expect("generator publishes JSON");
        let id: Uuid = event["transaction_id"].as_str().unwrap().parse().unwrap();
        let row: (Uuid, Uuid, Decimal, i32, DateTime<Utc>, String, String) = sqlx::query_as(
            "SELECT sender_id, receiver_id, amount, currency_id, transaction_date, status, source
             FROM transactions WHERE transaction_id = $1",
        )
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .expect("row for every published event");
        assert_eq!(row.0.to_string(), event["sender_id"].as_str().unwrap());
        assert_eq!(row.1.to_string(), event["receiver_id"].as_str().unwrap());
        assert_ne!(row.0, row.1, "sender and receiver differ");
        assert_eq!(
            row.2.to_string().parse::<f64>().unwrap(),
            event["amount"].as_f64().unwrap()
        );
        assert!(row.2 >= Decimal::new(50_000, 2) && row.2 <= Decimal::new(1_000_000, 2));
        assert_eq!(i64::from(row.3), event["currency_code"].as_i64().unwrap());
        let published_at: DateTime<Utc> = event["timestamp"].as_str().unwrap().parse().unwrap();
        assert_eq!(row.4, published_at);
        assert_eq!(row.5, event["status"].as_str().unwrap());
        assert_eq!(row.6, "stream");
    }
    app.stop().await;
}

fn stream_event(id: Uuid, status: &str, amount: f64) -> Vec<u8> {
    let users = demo_users();
    serde_json::to_vec(&json!({
        "transaction_id": id,
        "sender_id": users[0].user_id,
        "receiver_id": users[1].user_id,
        "amount": amount,
        "currency_code": 978,
        "timestamp": "2025-07-07T01:03:41Z",
        "status": status,
    }))
    .unwrap()
}

async fn timestamps(pool: &sqlx::PgPool, id: Uuid) -> (String, DateTime<Utc>, DateTime<Utc>) {
    sqlx::query_as(
        "SELECT status, created_at, modified_at FROM transactions WHERE transaction_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("transaction row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_reusing_a_transaction_id_updates_the_row() {
    let app = spawn_app().await;
    let producer = producer();
    let id = Uuid::new_v4();
    let key = Some(id.to_string());
    produce(
        &producer,
        &app.stream_topic,
        [(key.clone(), stream_event(id, "pending", 1500.25))],
    )
    .await;
    app.wait_caught_up().await;
    let (status, created, modified) = timestamps(&app.db.pool, id).await;
    assert_eq!(status, "pending");

    produce(
        &producer,
        &app.stream_topic,
        [(key.clone(), stream_event(id, "completed", 1500.25))],
    )
    .await;
    app.wait_caught_up().await;
    let (status, created_after, modified_after) = timestamps(&app.db.pool, id).await;
    assert_eq!(status, "completed");
    assert_eq!(created_after, created, "created_at never moves");
    assert!(
        modified_after > modified,
        "modified_at moves forward on a real update"
    );

    // The identical record again changes nothing, not even modified_at.
    produce(
        &producer,
        &app.stream_topic,
        [(key, stream_event(id, "completed", 1500.25))],
    )
    .await;
    app.wait_caught_up().await;
    let (_, _, modified_replay) = timestamps(&app.db.pool, id).await;
    assert_eq!(modified_replay, modified_after);
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_one_batch_the_last_record_of_a_transaction_wins() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let key = Some(id.to_string());
    // Same key, so same partition and order; all three land in one batch.
    let records =
        ["pending", "failed", "completed"].map(|s| (key.clone(), stream_event(id, s, 99.5)));
    produce(&producer(), &app.stream_topic, records).await;
    app.wait_caught_up().await;
    let (status, _, _) = timestamps(&app.db.pool, id).await;
    assert_eq!(status, "completed");
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 1);
    app.stop().await;
}

/// A user added just after the ingester loaded its users: an imported row naming them (the
/// importer checked it against the database) makes the ingester look again at once, not a
/// second later, so the row lands instead of being rejected as naming an unknown user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_row_naming_a_just_added_user_lands() {
    let app = spawn_app().await;
    let users = demo_users();
    // A stream event naming an unknown id makes the ingester load its users just now.
    let mut unknown: Value =
        serde_json::from_slice(&stream_event(Uuid::new_v4(), "completed", 5.0))
            .expect("stream event");
    unknown["sender_id"] = json!(Uuid::new_v4());
    let producer = producer();
    produce(
        &producer,
        &app.stream_topic,
        [(None, serde_json::to_vec(&unknown).unwrap())],
    )
    .await;
    // Right after that load (its rejection is committed after it), well within a second.
    while app.count("SELECT count(*) FROM rejected_events").await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    sqlx::query(
        "INSERT INTO users (user_id, name, username, email) VALUES ($1, 'New Comer', 'newcomer', 'new@example.com')",
    )
    .bind(Uuid::new_v4())
    .execute(&app.db.pool)
    .await
    .expect("a new user");
    let import_id = Uuid::new_v4();
    let id = payments_domain::event::import_transaction_id("f00d", 1);
    let payload = json!({
        "username_sender": "newcomer",
        "username_receiver": users[1].username,
        "amount": "12.50",
        "currency": "USD",
        "transaction_date": "2025-07-07 01:03:41 UTC",
        "status": "completed",
        "source_file": "new.csv",
        "import_id": import_id,
        "row_number": 1,
        "transaction_id": id,
    });
    produce(
        &producer,
        &app.import_topic,
        [(Some(id.to_string()), serde_json::to_vec(&payload).unwrap())],
    )
    .await;
    app.wait_caught_up().await;
    assert_eq!(
        app.count("SELECT count(*) FROM rejected_events").await,
        1,
        "only the unknown id of the stream"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM transactions t JOIN users u ON u.user_id = t.sender_id WHERE u.username = 'newcomer'")
            .await,
        1
    );
    app.stop().await;
}

/// The importer's suspicious rules on the stream: above the threshold (8000 by default,
/// strictly) or paid to oneself lands flagged; everything still lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_payments_above_the_threshold_or_to_oneself_land_flagged() {
    let app = spawn_app().await;
    let users = demo_users();
    let event = |id: Uuid, receiver: Uuid, amount: f64| {
        let mut event: Value =
            serde_json::from_slice(&stream_event(id, "completed", amount)).expect("stream event");
        event["receiver_id"] = json!(receiver);
        (Some(id.to_string()), serde_json::to_vec(&event).unwrap())
    };
    let (above, at, to_self) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    produce(
        &producer(),
        &app.stream_topic,
        [
            event(above, users[1].user_id, 8000.01),
            event(at, users[1].user_id, 8000.0),
            event(to_self, users[0].user_id, 12.5),
        ],
    )
    .await;
    app.wait_caught_up().await;
    let flagged: Vec<(Uuid, bool)> =
        sqlx::query_as("SELECT transaction_id, suspicious FROM transactions")
            .fetch_all(&app.db.pool)
            .await
            .expect("transactions");
    let flag = |id: Uuid| flagged.iter().find(|(t, _)| *t == id).map(|(_, s)| *s);
    assert_eq!(flag(above), Some(true), "8000.01 is above the threshold");
    assert_eq!(flag(at), Some(false), "8000.00 is not above it");
    assert_eq!(flag(to_self), Some(true), "a payment to oneself");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_rows_land_with_their_import_identity() {
    let app = spawn_app().await;
    let users = demo_users();
    let import_id = Uuid::new_v4();
    let rows: Vec<(Option<String>, Vec<u8>)> = (1..=20u64)
        .map(|row| {
            let id = payments_domain::event::import_transaction_id("cafe", row);
            let payload = json!({
                "username_sender": users[row as usize % 30].username,
                "username_receiver": users[(row as usize + 1) % 30].username,
                "amount": format!("{}.{:02}", 8000 + row, row),
                "currency": "brl",
                "transaction_date": "2025-07-07 01:03:41 UTC",
                "status": "completed",
                "source_file": "sample.csv",
                "import_id": import_id,
                "row_number": row,
                "transaction_id": id,
                "suspicious": row % 2 == 0,
            });
            (Some(id.to_string()), serde_json::to_vec(&payload).unwrap())
        })
        .collect();
    // Delivered twice: a re-delivered row never becomes a second transaction.
    produce(&producer(), &app.import_topic, rows.clone()).await;
    produce(&producer(), &app.import_topic, rows).await;
    app.wait_caught_up().await;
    let (count, suspicious, brl): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE suspicious), count(*) FILTER (WHERE currency_id = 986)
         FROM transactions WHERE import_id = $1 AND source = 'import'",
    )
    .bind(import_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((count, suspicious, brl), (20, 10, 20));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_tell_the_truth() {
    let app = spawn_app().await;
    let addr = app
        .ingester
        .as_ref()
        .and_then(|i| i.http_addr)
        .expect("http addr");
    // Ready once the database answered and the consumer is connected.
    produce(
        &producer(),
        &app.stream_topic,
        [(None, stream_event(Uuid::new_v4(), "pending", 10.0))],
    )
    .await;
    app.wait_caught_up().await;
    let health = app.ingester.as_ref().unwrap().health.clone();
    wait_for("readiness", Duration::from_secs(30), || async {
        health.is_ready().then_some(())
    })
    .await;
    let body = http_get(addr, "/readyz").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"ready\":true"), "{body}");
    let metrics = http_get(addr, "/metrics").await;
    assert!(
        metrics.contains("payments_ingester_transactions_upserted_total 1"),
        "{metrics}"
    );
    // Served by the same crate as every role's: batch latency and size as histograms.
    assert!(
        metrics.contains("application/openmetrics-text"),
        "{metrics}"
    );
    for histogram in [
        "payments_ingester_batch_seconds_count",
        "payments_ingester_batch_records_count",
    ] {
        assert!(metrics.contains(histogram), "{histogram}: {metrics}");
    }
    assert!(http_get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    app.stop().await;
}
