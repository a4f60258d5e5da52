//! Engines that are not ours read the lake and agree with PostgreSQL: DuckDB with its Delta
//! extension and the Python `deltalake` package return the same per-currency counts and
//! exact sums as a query on the live database.

use std::collections::BTreeMap;
use std::process::Command;

use payments_testkit::repo_root;
use serde_json::Value;

use crate::harness::{insert_payments, Lake, SERVER_SETTINGS};

/// The readers' Python, from `scripts/lake-readers` (installs them on first use).
fn python() -> String {
    let output = Command::new(repo_root().join("scripts/lake-readers"))
        .arg("python")
        .output()
        .expect("run scripts/lake-readers");
    assert!(
        output.status.success(),
        "scripts/lake-readers could not install DuckDB and deltalake (needs the package registry):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn read_with(engine: &str, lake: &Lake) -> Value {
    let root = lake.location.root.as_str().trim_end_matches('/').to_owned();
    let mut command = Command::new(python());
    command
        .arg(repo_root().join("tools/lake-readers/per_currency.py"))
        .arg(engine)
        .arg(&root);
    for (key, value) in &lake.location.storage {
        command.env(key, value);
    }
    let output = command.output().expect("run the reader");
    assert!(
        output.status.success(),
        "{engine} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the reader prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_and_deltalake_read_the_same_totals_as_postgres() {
    let _shared = SERVER_SETTINGS.read().await;
    let lake = Lake::create().await;
    let db = &lake.db.pool;
    insert_payments(db, 400).await;
    let running = lake.start().await;
    let ids = insert_payments(db, 600).await;
    sqlx::query("UPDATE transactions SET amount = amount * 2 WHERE transaction_id = ANY($1)")
        .bind(&ids[..200])
        .execute(db)
        .await
        .expect("update");
    lake.wait_until_equal().await;
    running.stop().await;

    let rows: Vec<(i32, i64, String)> = sqlx::query_as(
        "SELECT currency_id, count(*), sum(amount)::text FROM transactions GROUP BY currency_id",
    )
    .fetch_all(db)
    .await
    .expect("totals");
    let expected: BTreeMap<String, Value> = rows
        .into_iter()
        .map(|(currency, count, sum)| {
            (
                currency.to_string(),
                serde_json::json!({"count": count, "sum": sum}),
            )
        })
        .collect();
    let expected = serde_json::to_value(expected).expect("json");
    assert_eq!(read_with("duckdb", &lake), expected, "DuckDB");
    assert_eq!(read_with("deltalake", &lake), expected, "deltalake");
    lake.finish().await;
}
