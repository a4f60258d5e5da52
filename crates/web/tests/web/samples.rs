//! The committed sample files through the HTTP API, then through the ingester.

use std::collections::HashMap;

use serde_json::Value;
use tokio::io::AsyncReadExt;

use payments_imports::ImportStatus;

use crate::{named, spawn_app};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(payments_testkit::repo_root().join("csvs").join(name)).expect("sample file")
}

/// What the file holds, worked out independently of the importer: row numbers of every
/// occurrence of a repeated row, and of unique rows above 8000 or paying oneself.
fn expected(bytes: &[u8]) -> (usize, Vec<u64>, Vec<u64>) {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for row in &rows {
        *seen.entry(row).or_default() += 1;
    }
    let duplicates = (1..=rows.len() as u64)
        .filter(|n| seen[rows[*n as usize - 1]] > 1)
        .collect();
    let mut first = std::collections::HashSet::new();
    let suspicious = rows
        .iter()
        .enumerate()
        .filter(|(_, row)| first.insert(**row))
        .filter(|(_, row)| {
            let cells: Vec<&str> = row.split(',').collect();
            cells[2].parse::<f64>().unwrap() > 8000.0 || cells[0] == cells[1]
        })
        .map(|(i, _)| i as u64 + 1)
        .collect();
    (seen.len(), duplicates, suspicious)
}

fn rows_of(list: &Value) -> Vec<u64> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|d| d["row"].as_u64().expect("row"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sample_file_lands_exactly_once_with_its_flags() {
    let app = spawn_app(64 * 1024 * 1024).await;
    for name in payments_csv::SAMPLE_FILES {
        let bytes = sample(name);
        let (unique, duplicates, suspicious) = expected(&bytes);
        let (status, report) = app.upload(name, bytes.clone()).await;
        assert_eq!(status, 201, "{name}: {report}");
        assert_eq!(
            report["status"],
            named(ImportStatus::Published),
            "{name}: {report}"
        );
        assert!(report["message"]
            .as_str()
            .unwrap()
            .starts_with("File uploaded successfully!"));
        let summary = &report["summary"];
        assert_eq!(summary["unique"].as_u64(), Some(unique as u64), "{name}");
        assert_eq!(
            rows_of(&summary["duplicates"]),
            duplicates,
            "{name}: duplicates"
        );
        assert_eq!(
            rows_of(&summary["suspicious"]),
            suspicious,
            "{name}: suspicious"
        );

        // The original bytes, unchanged, under the original's naming.
        // `<stem>_<YYYYmmdd_HHMMSS>_<8 hex of the import id>.csv`.
        let key = report["object_key"].as_str().expect("object key");
        let stem = name.trim_end_matches(".csv");
        let id_prefix = &report["id"].as_str().expect("id")[..8];
        assert!(
            key.starts_with(&format!("{stem}_"))
                && key.ends_with(&format!("_{id_prefix}.csv"))
                && key.len() == stem.len() + 29,
            "{key}"
        );
        let mut stored = Vec::new();
        app.objects
            .get(key)
            .await
            .expect("object")
            .read_to_end(&mut stored)
            .await
            .expect("read");
        assert!(
            stored == bytes,
            "{name}: the stored object is the uploaded file"
        );

        let id = report["id"].as_str().unwrap();
        let done = app.wait_done(id).await;
        assert_eq!(done["published"].as_u64(), Some(unique as u64));
        assert_eq!(
            done["ingested"].as_u64(),
            Some(unique as u64),
            "{name}: every unique row is a transaction"
        );
        assert_eq!(done["rejected"].as_u64(), Some(0));
        let flagged = app
            .count(&format!(
                "SELECT count(*) FROM transactions WHERE import_id = '{id}' AND suspicious"
            ))
            .await;
        assert_eq!(
            flagged,
            suspicious.len() as i64,
            "{name}: suspicious flag stored on the rows"
        );
    }
    let total: usize = payments_csv::SAMPLE_FILES
        .iter()
        .map(|n| expected(&sample(n)).0)
        .sum();
    assert_eq!(
        app.count("SELECT count(*) FROM transactions").await,
        total as i64
    );

    // The importer's /metrics, from the same crate as every role's.
    let (code, metrics) = app.page("/metrics").await;
    assert_eq!(code, 200);
    let uploads = payments_csv::SAMPLE_FILES.len();
    let rows: usize = payments_csv::SAMPLE_FILES
        .iter()
        .map(|n| String::from_utf8_lossy(&sample(n)).lines().skip(1).count())
        .sum();
    let bytes: usize = payments_csv::SAMPLE_FILES
        .iter()
        .map(|n| sample(n).len())
        .sum();
    for line in [
        format!("payments_importer_uploads_total {uploads}"),
        format!("payments_importer_rows_total {rows}"),
        format!("payments_importer_bytes_total {bytes}"),
        format!("payments_importer_publish_seconds_count {uploads}"),
    ] {
        assert!(metrics.contains(&line), "{line}: {metrics}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploading_the_same_bytes_again_creates_nothing_and_says_so() {
    let app = spawn_app(64 * 1024 * 1024).await;
    let bytes = sample("regular_transactions.csv");
    let (_, first) = app.upload("regular_transactions.csv", bytes.clone()).await;
    app.wait_done(first["id"].as_str().unwrap()).await;
    let before = app.count("SELECT count(*) FROM transactions").await;

    let (status, second) = app.upload("renamed.csv", bytes).await;
    assert_eq!(status, 201);
    assert_eq!(second["status"], named(ImportStatus::Done));
    assert_eq!(second["first_import"]["id"], first["id"], "{second}");
    let message = second["message"].as_str().unwrap();
    assert!(
        message.contains("already imported, as regular_transactions.csv of ")
            && message.contains("no new transactions"),
        "{message}"
    );
    let after = app.count("SELECT count(*) FROM transactions").await;
    assert_eq!(after, before, "no new transactions");
    let owned = app
        .count(&format!(
            "SELECT count(*) FROM transactions WHERE import_id = '{}'",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(owned, before, "the first import still owns its rows");
    let (_, page) = app
        .page(&format!("/imports/{}", second["id"].as_str().unwrap()))
        .await;
    assert!(
        page.contains("already imported"),
        "the result page says so too"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_show_the_tables_and_history() {
    let app = spawn_app(64 * 1024 * 1024).await;
    let (_, report) = app
        .upload(
            "suspicious_duplicated_transactions.csv",
            sample("suspicious_duplicated_transactions.csv"),
        )
        .await;
    let id = report["id"].as_str().unwrap();
    app.wait_done(id).await;
    let (status, page) = app.page(&format!("/imports/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<table id=\"duplicates\">") && page.contains("<table id=\"suspicious\">")
    );
    assert!(page.contains("sender pays themselves") && page.contains("amount above threshold"));
    let (_, history) = app.page("/imports").await;
    assert!(history.contains("suspicious_duplicated_transactions.csv"));
    let (_, home) = app.page("/").await;
    assert!(home.contains("Upload a CSV"));
    let download = app
        .client
        .get(app.url(&format!("/imports/{id}/duplicates.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = download.text().await.unwrap();
    assert!(csv.starts_with("row,same_as_row,username_sender"));
    app.stop().await;
}

/// Every handled upload reaches the import hook (in a cluster it creates the PaymentImport),
/// with its report and whether it was a dry run, before the answer is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_hook_sees_every_upload_before_the_answer() {
    use std::sync::{Arc, Mutex};
    /// Import id, dry run, stored object key.
    type Call = (String, bool, Option<String>);
    let seen: Arc<Mutex<Vec<Call>>> = Arc::default();
    let record = seen.clone();
    let hook: payments_web::ImportHook = Arc::new(move |report, dry_run| {
        let record = record.clone();
        Box::pin(async move {
            record
                .lock()
                .expect("lock")
                .push((report.id.to_string(), dry_run, report.object_key));
        })
    });
    let app = crate::spawn_app_with_hook(1024 * 1024, Some(hook)).await;
    let (status, body) = app
        .upload(
            "regular_transactions.csv",
            sample("regular_transactions.csv"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let calls = seen.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, id);
    assert!(!calls[0].1, "not a dry run");
    assert!(calls[0].2.is_some(), "the stored object's key");
    app.wait_done(&id).await;
    app.stop().await;
}
