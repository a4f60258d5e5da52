//! The upload page and the dashboard in a real browser: Debian's headless Chromium driven by
//! playwright-core.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use payments_imports::ImportStatus;

use crate::history::{expected, seed, SEEDED};
use crate::outcomes::upload_as;
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
    // Every row of the sample is valid: the banner says so in words and style.
    assert_eq!(shown["outcome"], "all_landed", "{shown}");
    assert_eq!(shown["outcomeClass"], "outcome outcome-ok", "{shown}");
    assert!(
        shown["message"]
            .as_str()
            .unwrap_or_default()
            .contains("All rows landed"),
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
        let expected: Vec<&str> = payments_domain::dashboard::OVERVIEW
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

/// Where the browser tests write their screenshots (under the target directory, not committed).
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-pages");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Every page at 1280×800 and at 390×844, as bob: none scrolls sideways, axe-core finds no
/// serious or critical violation (the dashboard included), the text has no machine time or
/// backtick, the first Tab reaches the skip link; a screenshot of each is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_laptop_and_a_phone_and_passes_axe() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    crate::dashboard::land_sample_data(&app).await;
    let payment = |amount: &str| {
        let users = payments_domain::demo::demo_users();
        format!(
            "{},{},{amount},USD,2025-07-07 01:03:41 UTC,completed",
            users[2].username, users[3].username
        )
    };
    let file = |amounts: &[&str]| {
        crate::checks::csv(&amounts.iter().map(|a| payment(a)).collect::<Vec<_>>())
    };
    let some_failed = upload_as(
        &app,
        "alice",
        "some-failed.csv",
        file(&["21.00", "abc"]),
        &[],
    )
    .await;
    let held = upload_as(
        &app,
        "alice",
        "held-for-approval.csv",
        file(&["22.00", "23.00"]),
        &[("require_approval", "1")],
    )
    .await;
    let nothing = upload_as(
        &app,
        "alice",
        "nothing-published.csv",
        file(&["24.00", "abc"]),
        &[("invalid_rows", "hold_file")],
    )
    .await;
    let failed = upload_as(
        &app,
        "alice",
        "failed.csv",
        format!(
            "username_sender,username_receiver,amount,currency,transaction_date,status,extra\n{},x\n",
            payment("25.00")
        )
        .into_bytes(),
        &[],
    )
    .await;
    let id = |report: &Value| report["id"].as_str().expect("id").to_owned();
    app.wait_done(&id(&some_failed)).await;
    let landed: String = sqlx::query_scalar(
        "SELECT id::text FROM imports WHERE file_name = 'suspicious_duplicated_transactions.csv'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("a landed sample");
    let unknown = "00000000-0000-0000-0000-000000000000";
    let pages: Vec<(&str, String)> = vec![
        ("home", "/".into()),
        ("upload", "/imports/new".into()),
        ("history", "/imports".into()),
        (
            "history-filtered",
            "/imports?status=failed&order=oldest".into(),
        ),
        ("approvals", "/approvals".into()),
        ("result-all-landed", format!("/imports/{landed}")),
        (
            "result-some-failed",
            format!("/imports/{}", id(&some_failed)),
        ),
        ("result-held", format!("/imports/{}", id(&held))),
        (
            "result-nothing-published",
            format!("/imports/{}", id(&nothing)),
        ),
        ("result-failed", format!("/imports/{}", id(&failed))),
        ("dashboard", "/dashboard".into()),
        ("dashboard-7d", "/dashboard?range=7d".into()),
        ("error", format!("/imports/{unknown}")),
    ];
    let list: Vec<Value> = pages
        .iter()
        .map(|(name, path)| serde_json::json!({ "name": name, "path": path }))
        .collect();
    let dir = screenshots();
    let shown = run_script(
        "tour.mjs",
        vec![
            app.url(""),
            "bob".into(),
            dir.display().to_string(),
            Value::from(list).to_string(),
        ],
    )
    .await;
    assert_eq!(shown["violations"], Value::Array(vec![]), "CSP: {shown}");
    let errors: Vec<&Value> = shown["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|e| {
            !e.as_str()
                .is_some_and(|e| e.starts_with("404 ") && e.contains(unknown))
        })
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let results = shown["results"].as_array().expect("results");
    assert_eq!(results.len(), pages.len() * 2, "every page at both sizes");
    for page in results {
        let what = format!("{} at {} px", page["path"], page["width"]);
        let expected_status = if page["name"] == "error" { 404 } else { 200 };
        assert_eq!(page["status"], expected_status, "{what}");
        assert_eq!(page["overflow"], false, "{what} scrolls sideways: {page}");
        assert_eq!(page["axe"], Value::Array(vec![]), "{what}: axe: {page}");
        assert_eq!(page["rawTimes"], Value::Array(vec![]), "{what}: {page}");
        assert_eq!(page["backticks"], false, "{what}: {page}");
        assert_eq!(page["skipLink"], true, "{what}: the first Tab stop: {page}");
        let png = std::fs::read(page["screenshot"].as_str().expect("path")).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{what}: a PNG");
    }
    println!("screenshots: {}", dir.display());
    app.stop().await;
}

/// 250 imports in the browser at both sizes: every page of the history once, in order; the
/// filter form (keyboard-submitted) lists exactly what SQL selects; bob's approvals queue and
/// its count are exactly the imports he may decide, none of his own; nothing scrolls sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_filters_and_pages_250_imports_and_the_queue_is_bobs() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    seed(&app).await;
    let filters = serde_json::json!({
        "status": "done",
        "started_by": "carol",
        "file": "usd",
        "from": "2026-11-05",
        "to": "2026-11-20",
        "order": "oldest",
    });
    let shown = run_script(
        "history.mjs",
        vec![app.url(""), "bob".into(), filters.to_string()],
    )
    .await;
    assert_no_complaints(&shown);
    let all = expected(&app, "true", "DESC").await;
    assert_eq!(all.len(), SEEDED);
    let filtered = expected(
        &app,
        "status = 'done' AND started_by = 'carol' AND file_name ILIKE '%usd%'
         AND created_at >= '2026-11-05T00:00:00Z' AND created_at < '2026-11-21T00:00:00Z'",
        "ASC",
    )
    .await;
    assert!(filtered.len() > 1, "the filters select some imports");
    let decidable = expected(
        &app,
        "status = 'awaiting_approval' AND started_by <> 'bob'
         AND (decided_by IS NULL OR decided_by = 'bob')",
        "ASC",
    )
    .await;
    let bobs = expected(&app, "started_by = 'bob'", "ASC").await;
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("ids")
            .iter()
            .map(|id| id.as_str().expect("id").to_owned())
            .collect()
    };
    let report = shown["report"].as_array().expect("report");
    assert_eq!(report.len(), 2, "both screen sizes");
    for screen in report {
        let width = &screen["width"];
        assert_eq!(screen["firstPage"], 50, "{width}: a page of 50");
        assert_eq!(
            ids(&screen["all"]),
            all,
            "{width}: every import once, newest first"
        );
        assert_eq!(
            ids(&screen["filtered"]),
            filtered,
            "{width}: {}",
            screen["filteredQuery"]
        );
        let queue = ids(&screen["approvals"]);
        assert_eq!(queue, decidable, "{width}: bob's queue");
        assert!(
            queue.iter().all(|id| !bobs.contains(id)),
            "{width}: none of his own"
        );
        assert_eq!(
            screen["badge"],
            Value::from(decidable.len().to_string()),
            "{width}: the navigation counts them"
        );
        assert_eq!(
            screen["overflowing"],
            Value::Array(vec![]),
            "{width}: {screen}"
        );
    }
    app.stop().await;
}
