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
