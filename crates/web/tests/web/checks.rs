//! Money checked before it moves: every row checked before anything is published, control
//! totals per currency (equal to a recomputation in SQL once ingested), expected totals that
//! stop a file unpublished, and the policy for invalid rows. Real stack, real ingester.

use std::collections::BTreeMap;

use payments_domain::demo::demo_users;
use payments_imports::ImportStatus;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::{named, spawn_app, App};

const HEADER: &str = "username_sender,username_receiver,amount,currency,transaction_date,status";

/// A CSV file of `rows` under the import header.
pub(crate) fn csv(rows: &[String]) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text.into_bytes()
}

fn payment(sender: usize, receiver: usize, amount: &str, currency: &str) -> String {
    let users = demo_users();
    format!(
        "{},{},{amount},{currency},2025-07-07 01:03:41 UTC,completed",
        users[sender].username, users[receiver].username
    )
}

/// `POST /api/imports` with the file and extra form fields (they come first, as in the form).
async fn upload_with(app: &App, bytes: Vec<u8>, fields: &[(&str, &str)]) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("checked.csv")
        .mime_str("text/csv")
        .expect("mime");
    let response = app
        .client
        .post(app.url("/api/imports"))
        .multipart(form.part("file", part))
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// `currency → (rows, amount)` of one list of totals as the API shows it.
fn figures(totals: &Value) -> BTreeMap<String, (u64, Decimal)> {
    totals
        .as_array()
        .expect("totals are a list")
        .iter()
        .map(|t| {
            (
                t["currency"].as_str().expect("currency").to_owned(),
                (
                    t["rows"].as_u64().expect("rows"),
                    t["amount"]
                        .as_str()
                        .expect("amount")
                        .parse()
                        .expect("decimal"),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_split_the_file_and_the_ingested_ones_equal_sql() {
    let app = spawn_app(1 << 20).await;
    let rows = vec![
        payment(0, 1, "10.50", "USD"),
        payment(1, 2, "9000.00", "USD"),
        payment(0, 1, "10.50", "USD"),
        payment(2, 3, "5.25", "eur"),
        format!(
            "nobody,{},7.00,USD,2025-07-07 01:03:41 UTC,completed",
            demo_users()[1].username
        ),
        payment(3, 4, "abc", "EUR"),
        payment(4, 5, "1.00", "PHP"),
    ];
    let (code, report) = upload_with(&app, csv(&rows), &[]).await;
    assert_eq!(code, 201, "{report}");
    assert_eq!(report["summary"]["invalid_rows"], 2, "{report}");
    let id = report["id"].as_str().expect("id").to_owned();
    let done = app.wait_done(&id).await;
    assert_eq!(
        (done["invalid"].as_i64(), done["published"].as_i64()),
        (Some(2), Some(4))
    );
    assert_eq!(done["rejected"], 0, "nothing invalid was published: {done}");

    let totals = &done["totals"];
    let usd = |t: &str| figures(&totals[t]).get("USD").copied();
    let d = |s: &str| s.parse::<Decimal>().expect("decimal");
    assert_eq!(usd("file"), Some((4, d("9028.00"))));
    assert_eq!(usd("unique"), Some((3, d("9017.50"))));
    assert_eq!(usd("suspicious"), Some((1, d("9000.00"))));
    assert_eq!(usd("invalid"), Some((1, d("7.00"))));
    assert_eq!(usd("publishable"), Some((2, d("9010.50"))));
    assert_eq!(figures(&totals["file"])["EUR"].0, 2, "eur counts as EUR");
    assert_eq!(
        totals["file"][0]["invalid_amounts"], 1,
        "abc is no amount: {totals}"
    );

    // Ingested equals what was publishable, and equals the data recounted here.
    assert_eq!(
        figures(&totals["ingested"]),
        figures(&totals["publishable"])
    );
    let recount: Vec<(String, i64, Decimal)> = sqlx::query_as(
        "SELECT c.currency, count(*), sum(t.amount) FROM transactions t
           JOIN currencies c USING (currency_id)
          WHERE t.import_id = $1::uuid GROUP BY 1 ORDER BY 1",
    )
    .bind(&id)
    .fetch_all(&app.db.pool)
    .await
    .expect("recount");
    let recount: BTreeMap<String, (u64, Decimal)> = recount
        .into_iter()
        .map(|(c, n, sum)| (c, (n as u64, sum)))
        .collect();
    assert_eq!(figures(&totals["ingested"]), recount);

    // The result page shows the totals table and every refused row with its reason.
    let (code, page) = app.page(&format!("/imports/{id}")).await;
    assert_eq!(code, 200);
    assert!(
        page.contains("id=\"totals\"") && page.contains("9010.50"),
        "{page}"
    );
    assert!(page.contains("is not a known user") && page.contains("never published"));

    // Every row that did not land, with why: the two refused rows, not the repeat of row 1;
    // a row the ingester rejected (as it would record one) too.
    sqlx::query("DELETE FROM transactions WHERE import_id = $1::uuid AND import_row = 7")
        .bind(&id)
        .execute(&app.db.pool)
        .await
        .expect("row 7 never landed");
    sqlx::query(
        "INSERT INTO rejected_events (topic, partition, kafka_offset, payload, payload_bytes,
                                      reason, import_id, row_number)
         VALUES ('t', 0, 0, '\\x7b7d', 2, 'refused by PostgreSQL', $1::uuid, 7)",
    )
    .bind(&id)
    .execute(&app.db.pool)
    .await
    .expect("a rejection");
    let (code, listed) = app.page(&format!("/imports/{id}/not-landed.csv")).await;
    assert_eq!(code, 200);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(
        lines[0],
        "row_number,reason,username_sender,username_receiver,amount,currency,transaction_date,status"
    );
    let rows: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(rows, ["5", "6", "7"], "{listed}");
    assert!(
        lines[1].contains("not a known user") && lines[1].contains("nobody"),
        "{listed}"
    );
    assert!(
        lines[2].contains("amount") && lines[2].contains("abc"),
        "{listed}"
    );
    assert!(lines[3].contains("refused by PostgreSQL"), "{listed}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_expected_total_publishes_nothing_and_says_by_how_much() {
    let app = spawn_app(1 << 20).await;
    let rows = vec![payment(0, 1, "10.00", "USD"), payment(1, 2, "2.50", "EUR")];
    let (code, report) = upload_with(
        &app,
        csv(&rows),
        &[("expected_totals", "USD=1:10.00, EUR=2.00")],
    )
    .await;
    assert_eq!(code, 422, "{report}");
    assert_eq!(report["status"], named(ImportStatus::Failed));
    let message = report["message"].as_str().expect("message");
    assert!(
        message.contains("EUR: expected 2.00") && message.contains("difference 0.50"),
        "{message}"
    );
    assert!(!message.contains("USD"), "USD agrees: {message}");
    let id = report["id"].as_str().expect("id");
    let status = app.status(id).await;
    assert_eq!(status["failure"], "totals_mismatch");
    assert_eq!(status["published"], 0);
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 0);

    // Right totals: published.
    let (code, report) = upload_with(
        &app,
        csv(&rows),
        &[("expected_totals", "USD=1:10.00,EUR=2.50")],
    )
    .await;
    assert_eq!(code, 201, "{report}");
    app.wait_done(report["id"].as_str().expect("id")).await;
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 2);

    // Unreadable expected totals are refused before the file is read.
    let (code, report) = upload_with(&app, csv(&rows), &[("expected_totals", "USD")]).await;
    assert_eq!(code, 400, "{report}");
    assert!(report["error"]
        .as_str()
        .unwrap_or_default()
        .contains("CURRENCY=AMOUNT"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_only_invalid_rows_publishes_nothing_and_lists_every_reason() {
    let app = spawn_app(1 << 20).await;
    let users = demo_users();
    let rows = vec![
        format!(
            "nobody,{},1.00,USD,2025-07-07 01:03:41 UTC,completed",
            users[1].username
        ),
        payment(0, 1, "\"1,000.00\"", "USD"),
        payment(0, 1, "abc", "USD"),
        payment(0, 1, "5.00", "XYZ"),
        format!(
            "{},{},5.00,USD,yesterday,completed",
            users[0].username, users[1].username
        ),
        format!(
            "{},{},5.00,USD,2025-07-07 01:03:41 UTC,lost",
            users[0].username, users[1].username
        ),
    ];
    let (code, report) = upload_with(&app, csv(&rows), &[]).await;
    assert_eq!(code, 422, "{report}");
    assert_eq!(report["status"], named(ImportStatus::Failed));
    let invalid = report["summary"]["invalid"]
        .as_array()
        .expect("invalid rows");
    let listed: Vec<u64> = invalid
        .iter()
        .map(|r| r["row"].as_u64().expect("row"))
        .collect();
    assert_eq!(listed, [1, 2, 3, 4, 5, 6]);
    let reasons: Vec<String> = invalid
        .iter()
        .map(|r| {
            r["reasons"].as_array().expect("reasons")[0]
                .as_str()
                .expect("text")
                .to_owned()
        })
        .collect();
    for (row, words) in [
        (0, "not a known user"),
        (1, "amount"),
        (2, "amount"),
        (3, "currency"),
        (4, "transaction_date"),
        (5, "status"),
    ] {
        assert!(
            reasons[row].contains(words),
            "row {}: {}",
            row + 1,
            reasons[row]
        );
    }
    let status = app.status(report["id"].as_str().expect("id")).await;
    assert_eq!(status["failure"], "invalid_rows");
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_policy_publishes_nothing_while_any_row_is_invalid() {
    let app = spawn_app(1 << 20).await;
    let rows = vec![payment(0, 1, "1.00", "USD"), payment(0, 1, "abc", "USD")];
    let (code, report) = upload_with(&app, csv(&rows), &[("invalid_rows", "hold_file")]).await;
    assert_eq!(code, 422, "{report}");
    assert!(report["message"]
        .as_str()
        .unwrap_or_default()
        .contains("holds the whole file"));
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 0);

    // Held: every row is listed to correct, the valid one with why it did not land either.
    let held = report["id"].as_str().expect("id");
    let (code, listed) = app.page(&format!("/imports/{held}/not-landed.csv")).await;
    assert_eq!(code, 200);
    let lines: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("1,held: other rows failed the checks"),
        "{listed}"
    );
    assert!(lines[1].starts_with("2,\"`amount`"), "{listed}");

    // The default publishes the valid row only.
    let (code, report) = upload_with(&app, csv(&rows), &[]).await;
    assert_eq!(code, 201, "{report}");
    let done = app.wait_done(report["id"].as_str().expect("id")).await;
    assert_eq!(
        (done["published"].as_i64(), done["ingested"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 1);
    app.stop().await;
}

/// The reject round trip: the rows that did not land are downloaded, corrected and uploaded
/// as a correction of the import; only those rows land, once (under the ids of the rows they
/// replace), and a row that had landed cannot be "corrected".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_reject_file_lands_only_the_fixed_rows_once() {
    let app = spawn_app(1 << 20).await;
    let users = demo_users();
    let rows = vec![
        payment(0, 1, "10.00", "USD"),
        format!(
            "nobody,{},20.00,USD,2025-07-07 01:03:41 UTC,completed",
            users[1].username
        ),
        payment(1, 2, "abc", "USD"),
        payment(2, 3, "40.00", "USD"),
    ];
    let (_, report) = upload_with(&app, csv(&rows), &[]).await;
    let original = report["id"].as_str().expect("id").to_owned();
    let sha = report["summary"]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    app.wait_done(&original).await;

    let (_, page) = app.page(&format!("/imports/{original}")).await;
    assert!(
        page.contains(&format!("/imports/new?corrects={original}")),
        "{page}"
    );
    let (_, listed) = app
        .page(&format!("/imports/{original}/not-landed.csv"))
        .await;
    let fixed = listed
        .replace("nobody", &users[5].username)
        .replace(",abc,", ",30.00,");
    // Also an attempt to change row 1, which landed.
    let fixed = format!(
        "{fixed}1,,{},{},99.00,USD,2025-07-07 01:03:41 UTC,completed\n",
        users[0].username, users[1].username
    );
    let (code, report) =
        upload_with(&app, fixed.clone().into_bytes(), &[("corrects", &original)]).await;
    assert_eq!(code, 201, "{report}");
    let correction = report["id"].as_str().expect("id").to_owned();
    let done = app.wait_done(&correction).await;
    assert_eq!(done["corrects_import_id"], original.as_str());
    assert_eq!(
        (done["published"].as_i64(), done["invalid"].as_i64()),
        (Some(2), Some(1))
    );
    let refused = &report["summary"]["invalid"][0];
    assert_eq!(refused["row"], 3, "{report}");
    assert!(refused["reasons"][0]
        .as_str()
        .unwrap_or_default()
        .contains("row 1 of the corrected import"));
    // Under the ids of the rows they replace.
    for row in [2, 3] {
        let id = payments_domain::event::import_transaction_id(&sha, row);
        let import: String = sqlx::query_scalar(
            "SELECT import_id::text FROM transactions WHERE transaction_id = $1",
        )
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .expect("the corrected row landed");
        assert_eq!(import, correction);
    }
    let (_, listed) = app
        .page(&format!("/imports/{original}/not-landed.csv"))
        .await;
    assert_eq!(
        listed.lines().count(),
        1,
        "nothing is missing any more: {listed}"
    );
    let (_, page) = app.page(&format!("/imports/{correction}")).await;
    assert!(
        page.contains(&format!("href=\"/imports/{original}\"")),
        "{page}"
    );
    let (_, form) = app.page(&format!("/imports/new?corrects={original}")).await;
    assert!(
        form.contains(&format!("value=\"{original}\"")),
        "prefilled: {form}"
    );

    // Again, or corrected differently: nothing lands twice.
    let (_, again) = upload_with(&app, fixed.into_bytes(), &[("corrects", &original)]).await;
    assert!(again["first_import"].is_object(), "{again}");
    let other = format!(
        "row_number,{HEADER}\n2,{},{},21.00,USD,2025-07-07 01:03:41 UTC,completed\n",
        users[5].username, users[1].username
    );
    let (code, other) = upload_with(&app, other.into_bytes(), &[("corrects", &original)]).await;
    assert_eq!(code, 422, "row 2 landed with the first correction: {other}");
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 4);

    // Only an import's own rows can be corrected.
    let (code, body) = upload_with(&app, csv(&rows), &[("corrects", &correction)]).await;
    assert_eq!(code, 422, "{body}");
    app.stop().await;
}
