//! Cross-file duplicates: a file sharing rows with an earlier, landed file holds exactly those
//! rows (listed with the import and row they were seen in) and publishes the rest; a second
//! identity approves them (they land) or rejects them (they never do). Real stack, real ingester.

use std::time::Duration;

use payments_domain::demo::demo_users;
use payments_imports::ImportStatus;
use serde_json::Value;

use crate::approval::api_decide;
use crate::checks::csv;
use crate::{named, spawn_app_with, App};

/// A payment of `amount` USD from demo user `sender` to `receiver`, on day `day` of July 2025.
fn payment(sender: usize, receiver: usize, amount: &str, day: u32) -> String {
    let users = demo_users();
    format!(
        "{},{},{amount},USD,2025-07-{day:02} 01:03:41 UTC,completed",
        users[sender].username, users[receiver].username
    )
}

async fn upload_as(app: &App, user: &str, name: &str, bytes: Vec<u8>) -> Value {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("text/csv")
        .expect("mime");
    let response = app
        .client
        .post(app.url("/api/imports"))
        .header("X-Forwarded-User", user)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 201);
    response.json().await.expect("json")
}

/// Waits until every published row of import `id` is accounted for, whatever its status.
async fn wait_accounted(app: &App, id: &str) -> Value {
    payments_testkit::wait_for(
        "the published rows to be ingested",
        Duration::from_secs(120),
        || async {
            let s = app.status(id).await;
            let published = s["published"].as_i64().unwrap_or(-1);
            let landed = s["ingested"].as_i64().unwrap_or(0) + s["rejected"].as_i64().unwrap_or(0);
            (landed == published).then_some(s)
        },
    )
    .await
}

/// The first file (5 payments) lands; the second shares its rows 2 and 4 and has 3 payments of
/// its own, one differing from a first-file row only by its date.
async fn two_files(app: &App) -> (String, Value) {
    let first = csv(&[
        payment(0, 1, "10.00", 1),
        payment(1, 2, "20.00", 2),
        payment(2, 3, "30.00", 3),
        payment(3, 4, "40.50", 4),
        payment(4, 0, "50.00", 5),
    ]);
    let report = upload_as(app, "alice", "monday.csv", first).await;
    let first_id = report["id"].as_str().expect("id").to_owned();
    assert_eq!(app.wait_done(&first_id).await["ingested"], 5);

    let second = csv(&[
        payment(0, 2, "11.00", 6),
        // Row 2 of the first file, written differently: the same payment.
        payment(1, 2, "20", 2),
        payment(2, 3, "30.00", 9),
        payment(3, 4, "40.50", 4),
        payment(4, 1, "12.00", 7),
    ]);
    let report = upload_as(app, "alice", "tuesday.csv", second).await;
    (first_id, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sharing_rows_with_an_earlier_file_holds_exactly_those_rows_until_approved() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    let (first_id, report) = two_files(&app).await;
    let id = report["id"].as_str().expect("id").to_owned();
    assert_eq!(
        report["status"],
        named(ImportStatus::AwaitingApproval),
        "{report}"
    );
    let summary = &report["summary"];
    assert_eq!(summary["cross_file_duplicates"], 2, "{report}");
    let held: Vec<(u64, String, u64)> = summary["cross_file"]
        .as_array()
        .expect("cross_file")
        .iter()
        .map(|c| {
            (
                c["row"].as_u64().expect("row"),
                c["seen_import_id"].as_str().expect("seen").to_owned(),
                c["seen_row"].as_u64().expect("seen_row"),
            )
        })
        .collect();
    assert_eq!(
        held,
        vec![(2, first_id.clone(), 2), (4, first_id.clone(), 4)],
        "exactly the shared rows, each with where it was seen"
    );
    // Listed as written in this file (`20`, not the first file's `20.00`).
    let listed = &summary["cross_file"][0]["values"];
    assert_eq!(
        (&listed["amount"], &listed["username_sender"]),
        (
            &Value::from("20"),
            &Value::from(demo_users()[1].username.clone())
        ),
        "{report}"
    );
    assert_eq!(summary["cross_file"][1]["values"]["amount"], "40.50");
    assert_eq!(summary["totals"]["held"][0]["amount"], "60.50", "{report}");
    assert!(report["message"]
        .as_str()
        .unwrap_or_default()
        .contains("someone other than alice"));

    // The other three rows land; the held two do not.
    let status = wait_accounted(&app, &id).await;
    assert_eq!(status["status"], named(ImportStatus::AwaitingApproval));
    assert_eq!(status["approval_reasons"][0], "cross_file_duplicates");
    assert_eq!(status["published"], 3, "{status}");
    assert_eq!(status["ingested"], 3, "{status}");
    let landed_rows = |id: String| {
        let app = &app;
        async move {
            let rows: Vec<i64> = sqlx::query_scalar(
                "SELECT import_row FROM transactions WHERE import_id = $1::text::uuid ORDER BY 1",
            )
            .bind(id)
            .fetch_all(&app.db.pool)
            .await
            .expect("rows");
            rows
        }
    };
    assert_eq!(landed_rows(id.clone()).await, vec![1, 3, 5]);
    assert_eq!(
        payments_testkit::topic_record_count(&app.import_topic),
        5 + 3
    );

    // What did not land: exactly the held rows, each with where its payment was seen.
    let (_, listed) = app.page(&format!("/imports/{id}/not-landed.csv")).await;
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows[0].starts_with("2,") && rows[1].starts_with("4,"),
        "{listed}"
    );
    assert!(
        rows.iter()
            .all(|r| r.contains(&format!("the same payment landed from import {first_id}"))),
        "{listed}"
    );
    let (code, page) = app.page(&format!("/imports/{id}")).await;
    assert_eq!(code, 200);
    assert!(page.contains("id=\"cross-file\"") && page.contains(&first_id));

    // The uploader may not approve; a second identity does, and only the held rows publish.
    let (code, body) = api_decide(&app, &id, "approve", Some("alice")).await;
    assert_eq!(code, 403, "{body}");
    let (code, body) = api_decide(&app, &id, "approve", Some("bob")).await;
    assert_eq!(code, 200, "{body}");
    let done = app.wait_done(&id).await;
    assert_eq!(done["published"], 5, "{done}");
    assert_eq!(done["ingested"], 5, "{done}");
    assert_eq!(done["decided_by"], "bob");
    assert_eq!(done["cross_file_duplicates"], 2);
    assert_eq!(landed_rows(id.clone()).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        payments_testkit::topic_record_count(&app.import_topic),
        5 + 5
    );
    let (_, listed) = app.page(&format!("/imports/{id}/not-landed.csv")).await;
    assert_eq!(listed.lines().count(), 1, "nothing left out: {listed}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_cross_file_duplicates_never_land_and_the_rest_does() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    let (_, report) = two_files(&app).await;
    let id = report["id"].as_str().expect("id").to_owned();
    wait_accounted(&app, &id).await;
    let (code, body) = api_decide(&app, &id, "reject", Some("bob")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], named(ImportStatus::Rejected), "{body}");

    // Rejected is final: approving afterwards changes nothing.
    let (code, _) = api_decide(&app, &id, "approve", Some("carol")).await;
    assert_eq!(code, 409);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = app.status(&id).await;
    assert_eq!(status["ingested"], 3, "{status}");
    assert_eq!(status["published"], 3, "{status}");
    let (_, page) = app.page(&format!("/imports/{id}")).await;
    assert!(
        page.contains(
            "The 2 rows held as cross-file duplicates were not published; the other 3 rows were."
        ),
        "{page}"
    );
    assert_eq!(
        payments_testkit::topic_record_count(&app.import_topic),
        5 + 3
    );
    let total = app.count("SELECT count(*) FROM transactions").await;
    assert_eq!(total, 8);
    let (_, listed) = app.page(&format!("/imports/{id}/not-landed.csv")).await;
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows.iter()
            .all(|r| r.contains("rejected by bob") && r.contains("the same payment landed")),
        "{listed}"
    );
    app.stop().await;
}

/// More matches than the importer keeps in memory (10,000): the rest wait on disk and come
/// back whole, so every one is held, counted in the held totals, and lands once approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_cross_file_duplicates_than_kept_in_memory_are_all_held_and_totalled() {
    const SHARED: usize = 12_000;
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    // Distinct payments (by amount), 1.00 to 120.99 USD.
    let cents = |i: usize| 100 + i as i64;
    let shared: Vec<String> = (0..SHARED)
        .map(|i| {
            let amount = format!("{}.{:02}", cents(i) / 100, cents(i) % 100);
            payment(i % 5, (i + 1) % 5, &amount, 1 + (i % 28) as u32)
        })
        .collect();
    let report = upload_as(&app, "alice", "big-monday.csv", csv(&shared)).await;
    let first_id = report["id"].as_str().expect("id").to_owned();
    assert_eq!(app.wait_done(&first_id).await["ingested"], SHARED as i64);

    // The same payments after one of its own: other bytes, every payment shared but row 1.
    let mut second = vec![payment(0, 1, "999.99", 28)];
    second.extend(shared.iter().cloned());
    let report = upload_as(&app, "alice", "big-tuesday.csv", csv(&second)).await;
    let id = report["id"].as_str().expect("id").to_owned();
    let summary = &report["summary"];
    assert_eq!(
        report["status"],
        named(ImportStatus::AwaitingApproval),
        "{}",
        report["message"]
    );
    assert_eq!(summary["cross_file_duplicates"], SHARED);
    let listed = summary["cross_file"].as_array().expect("cross_file");
    assert_eq!(listed.len(), 10_000, "the list is capped");
    assert_eq!(summary["lists_truncated"], true);
    assert_eq!(
        (&listed[0]["row"], &listed[0]["seen_row"]),
        (&Value::from(2), &Value::from(1))
    );
    let held_total: i64 = (0..SHARED).map(cents).sum();
    assert_eq!(
        summary["totals"]["held"][0]["amount"],
        format!("{}.{:02}", held_total / 100, held_total % 100),
        "the held total counts the rows that waited on disk too"
    );

    let (code, body) = api_decide(&app, &id, "approve", Some("bob")).await;
    assert_eq!(code, 200, "{body}");
    let done = app.wait_done(&id).await;
    assert_eq!(done["published"], SHARED as i64 + 1, "{done}");
    assert_eq!(done["ingested"], SHARED as i64 + 1, "{done}");
}
