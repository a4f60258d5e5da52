//! The upload page and the dashboard in a real browser: Debian's headless Chromium driven by
//! playwright-core.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use payments_store::ImportStatus;

use crate::{named, spawn_app, spawn_app_with};

const SETUP: &str = "the browser test needs Debian's chromium and playwright-core: \
     run `scripts/test` (it installs both), or `apt-get install chromium` and \
     `npm ci --prefix crates/web/tests/browser`";

/// The browser reported no console error and no Content-Security-Policy violation: the pages
/// work under the app's strict policy (no inline script or style anywhere).
/// Runs `node SCRIPT ARGS…` from the browser test directory with Debian's Chromium, and returns
/// the JSON report the script prints.
async fn run_script(script: &str, args: Vec<String>) -> Value {
    let dir = payments_testkit::repo_root().join("crates/web/tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        PathBuf::from(&chromium).exists(),
        "{chromium} is missing; {SETUP}"
    );
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing; {SETUP}"
    );
    let script = script.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&dir)
            .env("CHROMIUM", chromium)
            .arg(script)
            .args(args)
            .output()
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| panic!("running node failed ({e}); {SETUP}"));
    assert!(
        output.status.success(),
        "browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(output.stdout.trim_ascii()).expect("the page report")
}

fn assert_no_complaints(shown: &Value) {
    assert_eq!(
        shown["violations"],
        Value::Array(vec![]),
        "Content-Security-Policy violations: {shown}"
    );
    assert_eq!(
        shown["errors"],
        Value::Array(vec![]),
        "console errors: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploading_through_the_page_shows_both_tables_and_reaches_done() {
    let app = spawn_app(64 * 1024 * 1024).await;
    let csv = payments_testkit::repo_root().join("csvs/suspicious_duplicated_transactions.csv");
    // A test artifact, kept under the target directory.
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-upload.png");
    let _ = std::fs::remove_file(&screenshot);
    let shown = run_script(
        "upload.mjs",
        vec![
            app.url(""),
            csv.display().to_string(),
            screenshot.display().to_string(),
        ],
    )
    .await;
    assert_no_complaints(&shown);
    assert_eq!(
        shown["scriptRan"], true,
        "the upload page's script ran: {shown}"
    );
    assert_eq!(shown["status"], named(ImportStatus::Done), "{shown}");
    assert!(
        shown["message"]
            .as_str()
            .unwrap_or_default()
            .contains("File uploaded successfully!"),
        "{shown}"
    );
    assert!(
        shown["duplicates"].as_u64().unwrap_or(0) > 0,
        "the duplicates table has rows: {shown}"
    );
    assert!(
        shown["suspicious"].as_u64().unwrap_or(0) > 0,
        "the suspicious table has rows: {shown}"
    );
    assert_eq!(shown["published"], shown["ingested"], "{shown}");
    let png = std::fs::read(&screenshot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    println!("screenshot: {}", screenshot.display());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_chromium_draws_every_chart_and_refreshes() {
    let app = spawn_app(64 * 1024 * 1024).await;
    crate::dashboard::land_sample_data(&app).await;
    // A test artifact, kept under the target directory.
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let shown = run_script(
        "dashboard.mjs",
        vec![app.url(""), screenshot.display().to_string()],
    )
    .await;
    assert_eq!(shown["status"], 200, "{shown}");
    assert_no_complaints(&shown);
    assert!(
        shown["navigation"]
            .as_array()
            .is_some_and(|links| links.contains(&Value::from("/dashboard"))),
        "{shown}"
    );
    for when in ["first", "refreshed"] {
        let charts = shown[when].as_array().expect("charts");
        let slugs: Vec<&str> = charts.iter().filter_map(|c| c["slug"].as_str()).collect();
        let expected: Vec<&str> = payments_store::dashboard::OVERVIEW
            .iter()
            .map(|q| q.slug)
            .collect();
        assert_eq!(slugs, expected, "{when}: every question, in order");
        for chart in charts {
            let points = chart["points"].as_u64().unwrap_or(0);
            assert!(points > 0, "{when}: {chart} has data");
            assert_eq!(
                chart["drawn"].as_u64(),
                Some(points),
                "{when}: as many marks drawn as counted: {chart}"
            );
            assert_eq!(chart["empty"], false, "{when}: {chart}");
            assert_eq!(chart["failed"], false, "{when}: {chart}");
            assert_eq!(chart["visible"], true, "{when}: {chart}");
        }
    }
    let png = std::fs::read(&screenshot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    println!("screenshot: {}", screenshot.display());
    app.stop().await;
}

/// Approve and reject on the result page, in Chromium, as two identities the trusted proxy
/// names: the uploader's own approval is refused, a second person's publishes, a rejection is
/// final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_on_the_result_page() {
    let config = crate::trusting_localhost(false);
    let app = spawn_app_with(config, None).await;
    let csvs = payments_testkit::repo_root().join("csvs");
    let shown = run_script(
        "approve.mjs",
        vec![
            app.url(""),
            csvs.join("regular_transactions.csv").display().to_string(),
            csvs.join("suspicious_duplicated_transactions.csv")
                .display()
                .to_string(),
        ],
    )
    .await;
    assert_eq!(shown["violations"], Value::Array(vec![]), "{shown}");
    assert_eq!(
        shown["errors"],
        Value::Array(vec![]),
        "bob's pages: {shown}"
    );
    assert_eq!(
        shown["waiting"],
        named(ImportStatus::AwaitingApproval),
        "{shown}"
    );
    assert_eq!(shown["approvalShown"], true, "{shown}");
    assert_eq!(shown["aliceRefused"], true, "{shown}");
    let alice_errors = shown["aliceErrors"].as_array().expect("errors");
    assert!(
        alice_errors.len() == 1
            && alice_errors[0]
                .as_str()
                .unwrap_or_default()
                .starts_with("403"),
        "alice's only error is her refused approval: {shown}"
    );
    assert_eq!(shown["approved"], named(ImportStatus::Done), "{shown}");
    assert_eq!(shown["decidedBy"], "bob", "{shown}");
    assert_eq!(shown["rejected"], named(ImportStatus::Rejected), "{shown}");
    let record = shown["rejectionShown"].as_str().unwrap_or_default();
    assert!(
        record.contains("Rejected by bob") && record.contains("not ours"),
        "{shown}"
    );
    let rejected: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transactions t JOIN imports i ON i.id = t.import_id
          WHERE i.status = 'rejected'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("count");
    assert_eq!(rejected, 0, "the rejected import published nothing");
    app.stop().await;
}
