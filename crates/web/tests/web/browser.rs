//! The upload page and the dashboard in a real browser: Debian's headless Chromium driven by
//! playwright-core.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use payments_store::ImportStatus;

use crate::{named, spawn_app};

const SETUP: &str = "the browser test needs Debian's chromium and playwright-core: \
     run `scripts/test` (it installs both), or `apt-get install chromium` and \
     `npm ci --prefix crates/web/tests/browser`";

/// The browser reported no console error and no Content-Security-Policy violation: the pages
/// work under the app's strict policy (no inline script or style anywhere).
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

    let app = spawn_app(64 * 1024 * 1024).await;
    let csv = payments_testkit::repo_root().join("csvs/suspicious_duplicated_transactions.csv");
    // A test artifact, kept under the target directory.
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-upload.png");
    let _ = std::fs::remove_file(&screenshot);
    let base = app.url("");
    let output = tokio::task::spawn_blocking({
        let screenshot = screenshot.clone();
        move || {
            Command::new("node")
                .current_dir(&dir)
                .env("CHROMIUM", chromium)
                .arg("upload.mjs")
                .arg(base)
                .arg(csv)
                .arg(&screenshot)
                .output()
        }
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
    let shown: Value = serde_json::from_slice(output.stdout.trim_ascii()).expect("the page report");
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

    let app = spawn_app(64 * 1024 * 1024).await;
    crate::dashboard::land_sample_data(&app).await;
    // A test artifact, kept under the target directory.
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let base = app.url("");
    let output = tokio::task::spawn_blocking({
        let screenshot = screenshot.clone();
        move || {
            Command::new("node")
                .current_dir(&dir)
                .env("CHROMIUM", chromium)
                .arg("dashboard.mjs")
                .arg(base)
                .arg(&screenshot)
                .output()
        }
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
    let shown: Value = serde_json::from_slice(output.stdout.trim_ascii()).expect("the page report");
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
