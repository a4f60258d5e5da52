//! Answers to dashboard questions: every column type the questions use decodes, and the
//! questions only read.

use chrono::{NaiveDate, TimeZone, Utc};
use payments_domain::dashboard::{Question, Visualization, OVERVIEW};
use payments_store::dashboard::{answer, answer_since, compact_totals, Cell};
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
        sql_in_range: None,
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

    // Every question kept in totals against its own scan of `transactions` (the form a date
    // range uses) over all time: with the totals as appended, then folded, then appended to
    // again after the fold.
    assert_eq!(totals_match_scans(&db.pool).await, 7);
    let folded = compact_totals(&db.pool).await.expect("compact");
    assert!(folded > 0, "the writers' rows were folded");
    let pending: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM daily_payment_totals WHERE pending)
              + (SELECT count(*) FROM user_payment_totals WHERE pending)",
    )
    .fetch_one(&db.pool)
    .await
    .expect("pending");
    assert_eq!(pending, 0, "nothing pending after the fold");
    assert_eq!(compact_totals(&db.pool).await.expect("compact"), 0);
    assert_eq!(totals_match_scans(&db.pool).await, 7);
    sqlx::query(insert)
        .bind(9000)
        .execute(&db.pool)
        .await
        .expect("insert after the fold");
    assert_eq!(totals_match_scans(&db.pool).await, 7);
    db.drop_database().await;
}

/// Compares every question kept in totals with its scan of `transactions` over all time;
/// returns how many it compared.
async fn totals_match_scans(pool: &sqlx::PgPool) -> usize {
    let long_ago = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let mut compared = 0;
    for q in OVERVIEW.iter().filter(|q| q.sql_in_range.is_some()) {
        // Sorted: two groups of equal count may come in either order.
        let rows = |mut rows: Vec<Vec<Cell>>| {
            rows.sort_by_key(|row| format!("{row:?}"));
            rows
        };
        let from_totals = rows(answer(pool, q).await.expect(q.slug).rows);
        let from_scan = rows(
            answer_since(pool, q, Some(long_ago))
                .await
                .expect(q.slug)
                .rows,
        );
        assert!(!from_scan.is_empty(), "{}: the scan found rows", q.slug);
        assert_eq!(from_totals, from_scan, "{}", q.slug);
        compared += 1;
    }
    compared
}

/// The totals are appended, never updated in place: a transaction left open on a payment (an
/// operator's session, a slow batch) holds up no other writer of the same day, and a fold
/// meanwhile neither waits for it nor loses its change.
#[tokio::test]
async fn an_open_transaction_holds_up_no_other_writer_of_its_day() {
    let db = TestDb::create().await;
    let insert = "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount,
                         currency_id, transaction_date, status)
                  SELECT gen_random_uuid(), s.user_id, r.user_id, 10, 840,
                         TIMESTAMPTZ '2026-03-01 12:00+00', 'completed'
                    FROM (SELECT user_id FROM users ORDER BY username LIMIT 1) s,
                         (SELECT user_id FROM users ORDER BY username OFFSET 1 LIMIT 1) r";
    sqlx::query(insert)
        .execute(&db.pool)
        .await
        .expect("first payment");
    compact_totals(&db.pool).await.expect("compact");

    let mut open = db.pool.begin().await.expect("begin");
    sqlx::query("UPDATE transactions SET suspicious = true")
        .execute(&mut *open)
        .await
        .expect("update in the open transaction");
    // Without the append, this waited for `open` to end: the lock timeout turns a wait
    // into a failure instead of a hung test.
    let mut other = db.pool.begin().await.expect("begin");
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *other)
        .await
        .expect("lock timeout");
    sqlx::query(insert)
        .execute(&mut *other)
        .await
        .expect("a second payment of the same day while the first is held");
    other.commit().await.expect("commit the second");
    compact_totals(&db.pool)
        .await
        .expect("compact beside the open transaction");
    open.commit().await.expect("commit the first");

    let suspicious = OVERVIEW
        .iter()
        .find(|q| q.slug == "suspicious-payments")
        .expect("question");
    assert_eq!(
        answer(&db.pool, suspicious).await.expect("answer").rows,
        vec![vec![Cell::Int(1)]]
    );
    assert_eq!(totals_match_scans(&db.pool).await, 7);
    compact_totals(&db.pool).await.expect("compact");
    assert_eq!(totals_match_scans(&db.pool).await, 7);
    db.drop_database().await;
}
