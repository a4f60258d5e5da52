//! The same payment in two uploads at once, through two importer processes on one database:
//! each payment is reserved by the first import to reach it, so the other holds it ("seen in
//! import X, row N") whether or not the first has landed, and it lands once; a second identity
//! may still approve it as a second transaction. An importer killed after reserving and before
//! publishing blocks nothing for longer than the reservation lease.

use std::collections::BTreeMap;
use std::time::Duration;

use payments_domain::demo::demo_users;
use payments_testkit::{topic_record_count, wait_for};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::faults::Setup;
use crate::{count, kill, CAUGHT_UP_TIMEOUT, SERIAL};
use crate::{wait_ready, Roles};

const ROUNDS: usize = 50;
/// Payments both files of a round carry.
const SHARED: usize = 3;
/// Payments only one file of a round carries.
const OWN: usize = 2;

const HEADER: &str = "username_sender,username_receiver,amount,currency,transaction_date,status";

/// One payment, told apart from every other in the test by its amount.
fn payment(amount: &str) -> String {
    let users = demo_users();
    format!(
        "{},{},{amount},USD,2025-08-01 10:00:00 UTC,completed",
        users[2].username, users[3].username
    )
}

/// The amounts of round `round`: shared, first file's own, second file's own.
fn amounts(round: usize) -> [Vec<String>; 3] {
    let of = |base: usize, n: usize| (0..n).map(|k| format!("{}.{k:02}", base + round)).collect();
    [of(1000, SHARED), of(2000, OWN), of(3000, OWN)]
}

fn csv(amounts: &[&String]) -> Vec<u8> {
    let mut text = String::from(HEADER);
    for amount in amounts {
        text.push('\n');
        text.push_str(&payment(amount));
    }
    text.push('\n');
    text.into_bytes()
}

async fn upload(addr: &str, user: &str, name: &str, body: reqwest::Body) -> Value {
    let part = reqwest::multipart::Part::stream(body)
        .file_name(name.to_owned())
        .mime_str("text/csv")
        .expect("mime");
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/imports"))
        .header("X-Forwarded-User", user)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body
}

/// An approval as `user`: the status code and the answer.
async fn decide(addr: &str, id: &str, user: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/imports/{id}/approve"))
        .header("X-Forwarded-User", user)
        .send()
        .await
        .expect("decision");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// How many transactions carry each amount.
async fn landed_by_amount(pool: &sqlx::PgPool) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT amount::text, count(*) FROM transactions GROUP BY amount")
            .fetch_all(pool)
            .await
            .expect("transactions");
    rows.into_iter().collect()
}

/// Per round, two importers receive two files sharing three payments at the same moment (which
/// request starts first alternates): one import publishes all five of its payments, the other
/// holds exactly the three shared ones, each naming the first import and its row, and
/// publishes its own two. Every payment lands once; a second identity's approval of a hold
/// lands those three as second transactions, the uploader's own approval is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_importers_given_the_same_payments_at_once_land_each_once() {
    let _serial = SERIAL.lock().await;
    let setup = Setup::new("concurrent").await;
    let trusted = [("PAYMENTS_TRUSTED_PROXIES", "127.0.0.1/32")];
    let (first, first_addr) = setup.spawn("importer", &trusted, "concurrent-importer-1");
    let (second, second_addr) = setup.spawn("importer", &trusted, "concurrent-importer-2");
    let _processes = Roles(vec![
        first,
        second,
        setup.spawn_ingester("concurrent-ingester"),
    ]);
    wait_ready(&first_addr, "the first importer to be ready").await;
    wait_ready(&second_addr, "the second importer to be ready").await;

    // (the import that held, who uploaded it, the shared amounts)
    let mut holds = Vec::new();
    for round in 0..ROUNDS {
        let [shared, own_a, own_b] = amounts(round);
        // The shared payments are rows 1-3 of the first file and rows 3-5 of the second.
        let file_a = csv(&shared.iter().chain(&own_a).collect::<Vec<_>>());
        let file_b = csv(&own_b.iter().chain(&shared).collect::<Vec<_>>());
        let a = upload(&first_addr, "alice", "a.csv", file_a.into());
        let b = upload(&second_addr, "bob", "b.csv", file_b.into());
        let (a, b) = if round % 2 == 0 {
            tokio::join!(a, b)
        } else {
            let (b, a) = tokio::join!(b, a);
            (a, b)
        };
        let held = |r: &Value| r["summary"]["cross_file_duplicates"].as_u64().unwrap_or(0);
        let (winner, loser, loser_by, shared_rows_of_winner) = match (held(&a), held(&b)) {
            (0, n) if n == SHARED as u64 => (&a, &b, "bob", [1, 2, 3]),
            (n, 0) if n == SHARED as u64 => (&b, &a, "alice", [3, 4, 5]),
            other => panic!("round {round}: held {other:?}, expected one import to hold all {SHARED} shared payments and the other none\n{a}\n{b}"),
        };
        assert_eq!(winner["status"], "published", "round {round}: {winner}");
        assert_eq!(
            loser["status"], "awaiting_approval",
            "round {round}: {loser}"
        );
        let listed = loser["summary"]["cross_file"].as_array().expect("listed");
        let seen: Vec<(String, u64)> = listed
            .iter()
            .map(|d| {
                (
                    d["seen_import_id"].as_str().unwrap_or_default().to_owned(),
                    d["seen_row"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let winner_id = winner["id"].as_str().expect("id").to_owned();
        assert_eq!(
            seen,
            shared_rows_of_winner
                .iter()
                .map(|row| (winner_id.clone(), *row))
                .collect::<Vec<_>>(),
            "round {round}: each held row names the other import and its row"
        );
        holds.push((
            loser["id"].as_str().expect("id").to_owned(),
            loser_by,
            shared,
        ));
    }

    let total = (ROUNDS * (SHARED + 2 * OWN)) as i64;
    wait_for(
        "every published payment to land",
        CAUGHT_UP_TIMEOUT,
        || async {
            count(&setup.db.pool, "SELECT count(*) FROM transactions")
                .await
                .filter(|n| *n >= total)
        },
    )
    .await;
    let landed = landed_by_amount(&setup.db.pool).await;
    let twice: Vec<_> = landed.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "payments landed more than once: {twice:?}"
    );
    assert_eq!(landed.len() as i64, total);

    // A hold is released only by a second identity, and then lands as second transactions.
    let (held_import, uploader, shared) = &holds[0];
    let (status, answer) = decide(&first_addr, held_import, uploader).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = decide(&second_addr, held_import, "carol").await;
    assert_eq!(status, 200, "{answer}");
    wait_for(
        "the approved payments to land",
        CAUGHT_UP_TIMEOUT,
        || async {
            count(&setup.db.pool, "SELECT count(*) FROM transactions")
                .await
                .filter(|n| *n >= total + SHARED as i64)
        },
    )
    .await;
    let landed = landed_by_amount(&setup.db.pool).await;
    for amount in shared {
        assert_eq!(
            landed.get(amount),
            Some(&2),
            "{amount} approved as a second payment"
        );
    }
    assert_eq!(
        landed.values().sum::<i64>(),
        total + SHARED as i64,
        "nothing else landed"
    );
    // A done import's payments landed: its reservations went with the step to done, so the
    // table holds only imports in flight.
    wait_for("imports to be done", CAUGHT_UP_TIMEOUT, || async {
        count(
            &setup.db.pool,
            "SELECT count(*) FROM imports WHERE status = 'done'",
        )
        .await
        .filter(|n| *n >= ROUNDS as i64)
    })
    .await;
    assert_eq!(
        count(
            &setup.db.pool,
            "SELECT count(*) FROM payment_reservations r
               JOIN imports i ON i.id = r.import_id WHERE i.status = 'done'"
        )
        .await,
        Some(0),
        "reservations of done imports are released"
    );
    setup.finish().await;
}

/// An importer is killed while it reads an upload, after it reserved its first batch of payments
/// and before it published any: the import it leaves behind holds them only until its lease
/// runs out; the next import of those payments fails it as abandoned, reserves them itself and
/// publishes, and each lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_importers_reservations_block_nothing_past_the_lease() {
    let _serial = SERIAL.lock().await;
    let setup = Setup::new("abandoned").await;
    let lease = [("PAYMENTS_RESERVATION_LEASE", "2s")];
    let (mut dying, dying_addr) = setup.spawn("importer", &lease, "abandoned-importer-1");
    wait_ready(&dying_addr, "the first importer to be ready").await;

    // The upload's first 6,000 rows, sent as one chunk of a chunked multipart request by hand
    // (RFC 9112 §7.1), then nothing more until the importer is gone.
    let csv = payments_csv::samples::large_csv(6_000);
    let mut part = b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n".to_vec();
    part.extend_from_slice(&csv);
    let mut stalled = tokio::net::TcpStream::connect(&dying_addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/imports HTTP/1.1\r\nHost: {dying_addr}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARYX\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        part.len()
    );
    stalled.write_all(head.as_bytes()).await.expect("head");
    stalled.write_all(&part).await.expect("rows");
    stalled.write_all(b"\r\n").await.expect("chunk end");
    wait_for(
        "the first import to reserve its first batch",
        CAUGHT_UP_TIMEOUT,
        || async {
            count(&setup.db.pool, "SELECT count(*) FROM payment_reservations")
                .await
                // 5,000 rows, fewer payments: the file repeats about one row in 200.
                .filter(|n| *n >= 4_000)
        },
    )
    .await;
    kill(&mut dying);
    drop(stalled);
    let (status, started): (String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT status, publish_started_at FROM imports")
            .fetch_one(&setup.db.pool)
            .await
            .expect("the first import");
    assert_eq!((status.as_str(), started), ("received", None));
    assert_eq!(
        topic_record_count(&setup.topics.import),
        0,
        "nothing was published"
    );

    // Past the lease, an import of the same payments on another importer takes them.
    let (next, next_addr) = setup.spawn("importer", &lease, "abandoned-importer-2");
    let _processes = Roles(vec![next, setup.spawn_ingester("abandoned-ingester")]);
    wait_ready(&next_addr, "the second importer to be ready").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = upload(&next_addr, "bob", "again.csv", csv.into()).await;
    assert_eq!(report["status"], "published", "{report}");
    assert_eq!(report["summary"]["cross_file_duplicates"], 0, "{report}");
    let (failure,): (Option<String>,) =
        sqlx::query_as("SELECT failure FROM imports WHERE id <> $1::uuid")
            .bind(report["id"].as_str().expect("id"))
            .fetch_one(&setup.db.pool)
            .await
            .expect("the abandoned import");
    assert_eq!(failure.as_deref(), Some("abandoned"));

    let published = report["published"]
        .as_i64()
        .or_else(|| report["summary"]["unique"].as_i64())
        .expect("published");
    wait_for("the payments to land", CAUGHT_UP_TIMEOUT, || async {
        count(&setup.db.pool, "SELECT count(*) FROM transactions")
            .await
            .filter(|n| *n >= published)
    })
    .await;
    let twice = count(
        &setup.db.pool,
        "SELECT count(*) FROM (SELECT 1 FROM transactions
          GROUP BY sender_id, receiver_id, amount, currency_id, transaction_date, status
         HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(twice, Some(0), "each payment landed once");
    assert_eq!(
        count(&setup.db.pool, "SELECT count(*) FROM transactions").await,
        Some(published)
    );
    setup.finish().await;
}
