//! A corpus of malformed records interleaved with valid ones.

use std::time::Duration;

use payments_domain::demo::demo_users;
use payments_testkit::{produce, producer, wait_for};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::spawn_app;

fn valid_stream_event() -> Map<String, Value> {
    let users = demo_users();
    let Value::Object(map) = json!({
        "transaction_id": Uuid::new_v4(),
        "sender_id": users[2].user_id,
        "receiver_id": users[3].user_id,
        "amount": 1234.56,
        "currency_code": 840,
        "timestamp": "2025-07-07T01:03:41+00:00",
        "status": "completed",
    }) else {
        unreachable!()
    };
    map
}

fn with(key: &str, value: Value) -> Vec<u8> {
    let mut event = valid_stream_event();
    event.insert(key.to_owned(), value);
    serde_json::to_vec(&event).unwrap()
}

fn without(key: &str) -> Vec<u8> {
    let mut event = valid_stream_event();
    event.remove(key);
    serde_json::to_vec(&event).unwrap()
}

fn import_row(key: &str, value: Option<Value>) -> Vec<u8> {
    let users = demo_users();
    let mut row = json!({
        "username_sender": users[4].username,
        "username_receiver": users[5].username,
        "amount": "250.00",
        "currency": "EUR",
        "transaction_date": "2025-07-07 01:03:41 UTC",
        "status": "pending",
        "source_file": "corpus.csv",
        "import_id": "7d1c4a52-3f6e-4b8a-9c2d-1e0f5a6b7c8d",
        "row_number": 7,
        "transaction_id": Uuid::new_v4(),
    });
    let object = row.as_object_mut().unwrap();
    match value {
        Some(value) => object.insert(key.to_owned(), value),
        None => object.remove(key),
    };
    serde_json::to_vec(&row).unwrap()
}

/// payload, payload_bytes, reason, import_id, row_number
type StoredRejection = (Vec<u8>, i32, String, Option<Uuid>, Option<i64>);

/// (topic is import?, payload, what the reason must say)
fn corpus() -> Vec<(bool, Vec<u8>, &'static str)> {
    let huge = "x".repeat(1024 * 1024);
    let mut cases: Vec<(bool, Vec<u8>, &'static str)> = vec![
        (false, b"{\"transaction_id\": ".to_vec(), "not valid JSON"),
        (false, b"".to_vec(), "not valid JSON"),
        (
            false,
            b"[1, 2, 3]".to_vec(),
            "JSON array, expected an object",
        ),
        (
            false,
            b"\"just a string\"".to_vec(),
            "JSON string, expected an object",
        ),
        (false, b"null".to_vec(), "JSON null, expected an object"),
        (false, b"42".to_vec(), "JSON number, expected an object"),
        (false, b"{\"amount\": 1e400}".to_vec(), "not valid JSON"),
        (
            false,
            b"{\"status\": \"\xff\xfe completed\"}".to_vec(),
            "not valid UTF-8",
        ),
        (
            false,
            with("transaction_id", json!(12345)),
            "`transaction_id` must be a string, got number",
        ),
        (
            false,
            with("sender_id", Value::Null),
            "`sender_id` must be a string, got null",
        ),
        (
            false,
            with("receiver_id", json!({"id": 1})),
            "`receiver_id` must be a string, got object",
        ),
        (
            false,
            with("amount", json!("100.00")),
            "`amount` must be a number, got string",
        ),
        (
            false,
            with("amount", json!([100])),
            "`amount` must be a number, got array",
        ),
        (
            false,
            with("currency_code", json!("840")),
            "`currency_code` must be an integer, got string",
        ),
        (
            false,
            with("currency_code", json!(840.5)),
            "`currency_code` must be an integer",
        ),
        (
            false,
            with("timestamp", json!(1751850221)),
            "`timestamp` must be a string, got number",
        ),
        (
            false,
            with("status", json!(true)),
            "`status` must be a string, got boolean",
        ),
        (
            false,
            with("extra", json!("surprise")),
            "unknown key `extra`",
        ),
        (
            false,
            with("sender_id", json!(Uuid::new_v4())),
            "`sender_id` is not a known user",
        ),
        (
            false,
            with("receiver_id", json!(Uuid::new_v4())),
            "`receiver_id` is not a known user",
        ),
        (
            false,
            with("transaction_id", json!("not-a-uuid")),
            "`transaction_id` is not a UUID",
        ),
        (
            false,
            with("currency_code", json!(999)),
            "unknown currency: \"999\"",
        ),
        (
            false,
            with("status", json!("refunded")),
            "`status` must be one of pending, completed, failed",
        ),
        (
            false,
            with("status", json!("COMPLETED")),
            "`status` must be one of",
        ),
        (false, with("amount", json!(0)), "must be greater than zero"),
        (
            false,
            with("amount", json!(-5.5)),
            "must be greater than zero",
        ),
        (
            false,
            with("amount", json!(100000000)),
            "exceeds the maximum",
        ),
        (
            false,
            with("amount", json!(12.345)),
            "more than 2 decimal places",
        ),
        (
            false,
            with("timestamp", json!("yesterday")),
            "`timestamp` is not an ISO-8601",
        ),
        (
            false,
            with("timestamp", json!("2025-07-07T01:03:41")),
            "`timestamp` is not an ISO-8601",
        ),
        (
            false,
            with("timestamp", json!("2025-02-30 10:00:00 UTC")),
            "`timestamp` is not an ISO-8601",
        ),
        (
            false,
            with("timestamp", json!("2999-01-01T00:00:00Z")),
            "more than a day in the future",
        ),
        (
            false,
            with("status", json!("completed'); DROP TABLE transactions; --")),
            "`status` must be one of",
        ),
        (
            false,
            with("transaction_id", json!("'; DELETE FROM users; --")),
            "`transaction_id` is not a UUID",
        ),
        (
            false,
            with("status", json!(huge)),
            "over the limit of 65536",
        ),
        (
            true,
            import_row(
                "username_sender",
                Some(json!("robert'); DROP TABLE users;--")),
            ),
            "`username_sender` is not a known user",
        ),
        (
            true,
            import_row("currency", Some(json!("XYZ"))),
            "unknown currency: \"XYZ\"",
        ),
        (
            true,
            import_row("amount", Some(json!("12,50"))),
            "`amount` is not a decimal number",
        ),
        (
            true,
            import_row("import_id", None),
            "missing key `import_id`",
        ),
        (
            true,
            import_row("row_number", Some(json!(0))),
            "`row_number` must be a positive integer",
        ),
        (
            true,
            import_row("surprise", Some(json!(1))),
            "unknown key `surprise`",
        ),
    ];
    for key in payments_domain::event::STREAM_KEYS {
        let reason: &'static str = Box::leak(format!("missing key `{key}`").into_boxed_str());
        cases.push((false, without(key), reason));
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_are_rejected_with_a_reason_and_valid_ones_land() {
    let app = spawn_app().await;
    let corpus = corpus();
    assert!(corpus.len() >= 30, "the corpus covers at least 30 cases");
    let producer = producer();
    let mut valid_ids = Vec::new();
    for (import, payload, _) in &corpus {
        let topic = if *import {
            &app.import_topic
        } else {
            &app.stream_topic
        };
        let valid = valid_stream_event();
        valid_ids.push(valid["transaction_id"].as_str().unwrap().to_owned());
        // Malformed and valid alternate on the same partition (same key), so they share batches.
        let key = Some("corpus".to_owned());
        produce(&producer, topic, [(key.clone(), payload.clone())]).await;
        produce(
            &producer,
            &app.stream_topic,
            [(key, serde_json::to_vec(&valid).unwrap())],
        )
        .await;
    }
    app.wait_caught_up().await;

    assert_eq!(
        app.count("SELECT count(*) FROM transactions").await,
        valid_ids.len() as i64,
        "only valid records land"
    );
    let landed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transactions WHERE transaction_id::text = ANY($1)",
    )
    .bind(&valid_ids)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(landed, valid_ids.len() as i64, "every valid record lands");

    let rejected: Vec<StoredRejection> = sqlx::query_as(
        "SELECT payload, payload_bytes, reason, import_id, row_number FROM rejected_events",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        rejected.len(),
        corpus.len(),
        "one rejection per malformed record"
    );
    for (import, payload, expected) in &corpus {
        let stored_prefix = &payload[..payload.len().min(1024 * 1024)];
        let row = rejected
            .iter()
            .find(|r| r.0 == stored_prefix && r.1 as usize == payload.len())
            .unwrap_or_else(|| {
                panic!(
                    "no rejection stored for {:?}",
                    String::from_utf8_lossy(&payload[..payload.len().min(80)])
                )
            });
        assert!(
            row.2.contains(expected),
            "reason {:?} should say {expected:?}",
            row.2
        );
        if *import && !expected.contains("import_id") {
            assert_eq!(
                row.3.map(|u| u.to_string()).as_deref(),
                Some("7d1c4a52-3f6e-4b8a-9c2d-1e0f5a6b7c8d")
            );
            if !expected.contains("row_number") {
                assert_eq!(row.4, Some(7), "import rejections carry the row number");
            }
        }
    }

    // Still running and still correct after all of that.
    let health = app.ingester.as_ref().unwrap().health.clone();
    wait_for(
        "the ingester to be ready",
        Duration::from_secs(30),
        || async { health.is_ready().then_some(()) },
    )
    .await;
    let after = valid_stream_event();
    produce(
        &producer,
        &app.stream_topic,
        [(None, serde_json::to_vec(&after).unwrap())],
    )
    .await;
    app.wait_caught_up().await;
    assert_eq!(
        app.count("SELECT count(*) FROM transactions").await,
        valid_ids.len() as i64 + 1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        30,
        "injection strings were data, not SQL"
    );
    app.stop().await;
}
