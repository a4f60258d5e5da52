//! Answers to dashboard questions: every column type the questions use decodes, and the
//! questions only read.

use chrono::{NaiveDate, TimeZone, Utc};
use payments_domain::dashboard::{Question, Visualization, OVERVIEW};
use payments_store::dashboard::{answer, Cell};
use payments_store::StoreError;
use payments_testkit::TestDb;
use rust_decimal::Decimal;

fn question(sql: &'static str) -> Question {
    Question {
        slug: "test",
        name: "Test",
        description: "A question for the test.",
        display: Visualization::Table,
        sql,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cells_are_decoded_by_their_postgres_type() {
    let db = TestDb::create().await;
    let types = question(
        "SELECT true AS b, 2::int2 AS i2, 4::int4 AS i4, 8::int8 AS i8, 1.5::float8 AS f,
                12.30::numeric(10,2) AS n, 'text'::text AS t, 'USD'::char(3) AS c,
                DATE '2026-11-30' AS d, TIMESTAMPTZ '2026-11-30 01:02:03+00' AS ts,
                NULL::text AS missing",
    );
    let got = answer(&db.pool, &types).await.expect("answer");
    assert_eq!(
        got.columns,
        ["b", "i2", "i4", "i8", "f", "n", "t", "c", "d", "ts", "missing"]
    );
    assert_eq!(
        got.rows,
        vec![vec![
            Cell::Bool(true),
            Cell::Int(2),
            Cell::Int(4),
            Cell::Int(8),
            Cell::Float(1.5),
            Cell::Decimal(Decimal::new(1230, 2)),
            Cell::Text("text".into()),
            Cell::Text("USD".into()),
            Cell::Date(NaiveDate::from_ymd_opt(2026, 11, 30).expect("date")),
            Cell::Timestamp(Utc.with_ymd_and_hms(2026, 11, 30, 1, 2, 3).unwrap()),
            Cell::Null,
        ]]
    );
    assert_eq!(got.rows[0][5].to_string(), "12.30");
    assert_eq!(got.rows[0][9].to_string(), "2026-11-30 01:02:03 UTC");

    let unsupported = question("SELECT '{1,2}'::int4[] AS list");
    assert!(matches!(
        answer(&db.pool, &unsupported).await,
        Err(StoreError::UnsupportedColumn { ref column, .. }) if column == "list"
    ));

    // The transaction is READ ONLY: a question that writes is refused by PostgreSQL.
    let writes = question("INSERT INTO currencies VALUES (1, 'XXX', 'Test') RETURNING currency");
    assert!(answer(&db.pool, &writes).await.is_err());

    // On an empty database every question answers; only the count has a row.
    for q in OVERVIEW {
        let got = answer(&db.pool, q).await.expect(q.slug);
        let expected_rows = usize::from(q.display == Visualization::Scalar);
        assert_eq!(got.rows.len(), expected_rows, "{}", q.slug);
    }
    db.drop_database().await;
}

/// Each question over the totals against the same question over every transaction (the SQL
/// the dashboard ran before the totals existed), after inserts from several connections at
/// once, an upsert that moves payments between groups, and deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_totals_answer_as_a_scan_of_every_transaction_would() {
    let db = TestDb::create().await;
    let insert = "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount,
                         currency_id, transaction_date, status, suspicious)
                  SELECT gen_random_uuid(), s.user_id, r.user_id, (1 + (i * 37) % 900) / 10.0,
                         (ARRAY[840, 978, 608])[1 + i % 3],
                         TIMESTAMPTZ '2026-01-01 22:00+00' + i * interval '7 minutes',
                         (ARRAY['pending', 'completed', 'failed'])[1 + i % 3], i % 11 = 0
                    FROM generate_series($1::int, $1 + 49) i
                    JOIN LATERAL (SELECT user_id FROM users ORDER BY username
                                  OFFSET i % 5 LIMIT 1) s ON true
                    JOIN LATERAL (SELECT user_id FROM users ORDER BY username
                                  OFFSET i % 7 LIMIT 1) r ON true";
    let writers = (0..4).map(|w| {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            for round in 0..5 {
                sqlx::query(insert)
                    .bind(w * 1000 + round * 50)
                    .execute(&pool)
                    .await
                    .expect("insert");
            }
        })
    });
    for writer in writers {
        writer.await.expect("writer");
    }
    // An upsert: some rows new, some moved to another status and amount.
    sqlx::query(
        "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount, currency_id,
                                   transaction_date, status, suspicious)
         SELECT CASE WHEN n % 2 = 0 THEN transaction_id ELSE gen_random_uuid() END, sender_id,
                receiver_id, amount + 1, currency_id, transaction_date + interval '3 hours',
                'failed', NOT suspicious
           FROM (SELECT *, row_number() OVER (ORDER BY transaction_id) AS n
                   FROM transactions) t
          WHERE n % 5 = 0
             ON CONFLICT (transaction_id) DO UPDATE
            SET amount = excluded.amount, status = excluded.status,
                transaction_date = excluded.transaction_date, suspicious = excluded.suspicious",
    )
    .execute(&db.pool)
    .await
    .expect("upsert");
    sqlx::query("DELETE FROM transactions WHERE currency_id = 978 AND status = 'pending'")
        .execute(&db.pool)
        .await
        .expect("delete");

    // The scans, in UTC as the totals count days.
    let scans = [
        "SELECT (transaction_date AT TIME ZONE 'UTC')::date AS day, count(*) AS payments
           FROM transactions GROUP BY 1 ORDER BY 1",
        "SELECT (transaction_date AT TIME ZONE 'UTC')::date AS day, sum(amount) AS volume
           FROM transactions GROUP BY 1 ORDER BY 1",
        "SELECT c.currency, sum(t.amount) AS volume FROM transactions t
           JOIN currencies c USING (currency_id) GROUP BY 1 ORDER BY 2 DESC",
        "SELECT status, count(*) AS payments FROM transactions GROUP BY 1 ORDER BY 2 DESC",
        "SELECT u.username AS sender, count(*) AS payments FROM transactions t
           JOIN users u ON u.user_id = t.sender_id GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        "SELECT u.username AS receiver, count(*) AS payments FROM transactions t
           JOIN users u ON u.user_id = t.receiver_id GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        "SELECT count(*) AS suspicious FROM transactions WHERE suspicious",
    ];
    let slugs = [
        "payments-per-day",
        "volume-per-day",
        "volume-by-currency",
        "payments-by-status",
        "top-senders",
        "top-receivers",
        "suspicious-payments",
    ];
    for (slug, scan) in slugs.iter().zip(scans) {
        let totals = OVERVIEW
            .iter()
            .find(|q| q.slug == *slug)
            .expect("the question exists");
        // Sorted: two groups of equal count may come in either order.
        let rows = |mut rows: Vec<Vec<Cell>>| {
            rows.sort_by_key(|row| format!("{row:?}"));
            rows
        };
        let from_totals = rows(answer(&db.pool, totals).await.expect(slug).rows);
        let from_scan = rows(answer(&db.pool, &question(scan)).await.expect(slug).rows);
        assert!(!from_scan.is_empty(), "{slug}: the scan found rows");
        assert_eq!(from_totals, from_scan, "{slug}");
    }
    db.drop_database().await;
}
