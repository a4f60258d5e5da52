//! `/dashboard`: the Overview's questions drawn from real data, hostile labels escaped, an empty
//! database shown as such.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use payments_domain::dashboard::{Visualization, OVERVIEW};
use payments_store::{Batch, Record, RecordOutcome};
use tokio_util::sync::CancellationToken;

use crate::{named, spawn_app, App};
use payments_imports::ImportStatus;

/// Stream events the generator sends; a quarter of them malformed, so some are rejected.
const EVENTS: u64 = 60;

/// The repo's sample files uploaded through the app and the generator's events ingested: data
/// for every Overview question.
pub async fn land_sample_data(app: &App) {
    for name in payments_csv::SAMPLE_FILES {
        let bytes = std::fs::read(payments_testkit::repo_root().join("csvs").join(name))
            .expect("sample file");
        let (status, report) = app.upload(name, bytes).await;
        assert_eq!(status, 201, "{name}: {report}");
        let done = app.wait_done(report["id"].as_str().expect("id")).await;
        assert_eq!(done["status"], named(ImportStatus::Done), "{done}");
    }
    let config = payments_generator::GeneratorConfig {
        topic: app.stream_topic.clone(),
        rate: Some(500.0),
        count: Some(EVENTS),
        invalid_ratio: 0.25,
        seed: Some(13),
        ..Default::default()
    };
    let sent = payments_generator::run(
        config,
        app.db.pool.clone(),
        payments_testkit::producer(),
        CancellationToken::new(),
    )
    .await
    .expect("generator runs");
    assert_eq!(sent, EVENTS, "the broker took every event");
    payments_testkit::wait_for(
        "the generator's events to land",
        Duration::from_secs(120),
        || async {
            let landed: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM transactions WHERE source = 'stream') \
                 + (SELECT count(*) FROM rejected_events WHERE topic = $1)",
            )
            .bind(&app.stream_topic)
            .fetch_one(&app.db.pool)
            .await
            .expect("count landed events");
            (landed >= EVENTS as i64).then_some(())
        },
    )
    .await;
}

/// Each question's element on the page: slug → its marks (`None` when it shows no data).
pub fn charts_on(page: &str) -> BTreeMap<String, Option<u64>> {
    page.split("data-question=\"")
        .skip(1)
        .map(|rest| {
            let slug = rest.split('"').next().unwrap_or_default().to_owned();
            let tag = rest.split('>').next().unwrap_or_default();
            let marks = tag
                .split("data-points=\"")
                .nth(1)
                .and_then(|n| n.split('"').next())
                .map(|n| n.parse().expect("a count"));
            (slug, marks)
        })
        .collect()
}

/// The HTML of one question's figure.
fn figure<'a>(page: &'a str, slug: &str) -> &'a str {
    let start = page
        .find(&format!("data-question=\"{slug}\""))
        .unwrap_or_else(|| panic!("{slug} is on the page"));
    let rest = &page[start..];
    &rest[..rest.find("</figure>").expect("figure ends")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_overview_question_shows_data_after_imports_and_stream_events() {
    let app = spawn_app(64 * 1024 * 1024).await;
    land_sample_data(&app).await;

    for path in ["/dashboard", "/dashboard/charts"] {
        let (status, page) = app.page(path).await;
        assert_eq!(status, 200, "{path}: {page}");
        let charts = charts_on(&page);
        let slugs: Vec<&str> = OVERVIEW.iter().map(|q| q.slug).collect();
        assert_eq!(
            charts.keys().map(String::as_str).collect::<Vec<_>>(),
            {
                let mut sorted = slugs.clone();
                sorted.sort_unstable();
                sorted
            },
            "{path}: every question once"
        );
        for question in OVERVIEW {
            let marks = charts[question.slug];
            assert!(
                marks.is_some_and(|n| n > 0),
                "{path}: {} has data: {}",
                question.slug,
                figure(&page, question.slug)
            );
            let html = figure(&page, question.slug);
            assert!(!html.contains("No data yet"), "{html}");
            assert!(!html.contains("could not be answered"), "{html}");
            let drawn = match question.display {
                Visualization::Table => "<table",
                _ => "<svg",
            };
            assert!(html.contains(drawn), "{}: {html}", question.slug);
        }
    }
    let (_, page) = app.page("/dashboard").await;
    // Three currencies at least in the samples and the generator's events; every status.
    assert!(charts_on(&page)["volume-by-currency"] >= Some(3), "{page}");
    assert_eq!(charts_on(&page)["payments-by-status"], Some(3), "{page}");
    assert_eq!(charts_on(&page)["top-senders"], Some(10), "{page}");
    assert!(
        page.contains("huge_load_transactions.csv"),
        "recent imports list the files"
    );
    assert!(
        page.contains("href=\"/dashboard\""),
        "the navigation links the dashboard"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_file_names_usernames_and_reasons_come_back_escaped() {
    let app = spawn_app(1024 * 1024).await;
    let username = "'\"><svg onload=alert(2)>";
    let file_name = "<img src=x onerror=alert(1)>.csv";
    let reason = "<script>alert(3)</script>";
    sqlx::query(
        "INSERT INTO users (user_id, name, username, email) VALUES ($1, 'Mallory', $2, 'm@example.org')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(username)
    .execute(&app.db.pool)
    .await
    .expect("a user with a hostile name");
    // The ingester reloads its users on a miss at most once a second after its start; under
    // load the upload could otherwise arrive inside that second and be rejected.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let receiver = &payments_domain::demo::demo_users()[0].username;
    let quoted = format!("\"{}\"", username.replace('"', "\"\""));
    // Above the threshold: the payment also shows in the suspicious table.
    let csv = format!(
        "username_sender,username_receiver,amount,currency,transaction_date,status\n\
         {quoted},{receiver},9000.00,USD,2025-07-07 01:03:41 UTC,completed\n"
    );
    let (status, report) = app.upload(file_name, csv.into_bytes()).await;
    assert_eq!(status, 201, "{report}");
    let done = app.wait_done(report["id"].as_str().expect("id")).await;
    assert_eq!(done["ingested"].as_u64(), Some(1), "{done}");
    // A rejection as the ingester writes it, with the hostile text as its reason.
    let rejected = Batch {
        records: vec![Record {
            topic: Arc::from("hostile-reasons"),
            partition: 0,
            offset: 0,
            outcome: RecordOutcome::Rejected {
                payload: b"{}".to_vec(),
                reason: reason.to_owned(),
                kind: payments_domain::validate::RejectKind::NotJson,
                import_id: None,
                row_number: None,
                reference_miss: false,
            },
        }],
    };
    payments_store::write_batch(&app.db.pool, "hostile-test", &rejected)
        .await
        .expect("rejection written");

    let (status, page) = app.page("/dashboard").await;
    assert_eq!(status, 200, "{page}");
    for raw in [
        username,
        file_name,
        reason,
        "<svg onload",
        "<img src",
        "<script>",
    ] {
        assert!(!page.contains(raw), "{raw} reaches the page unescaped");
    }
    for (slug, shown) in [
        ("top-senders", "&lt;svg onload=alert(2)&gt;"),
        ("latest-suspicious", "&lt;svg onload=alert(2)&gt;"),
        ("recent-imports", "&lt;img src=x onerror=alert(1)&gt;.csv"),
        ("rejected-by-reason", "&lt;script&gt;alert(3)&lt;"),
    ] {
        let html = figure(&page, slug);
        assert!(html.contains(shown), "{slug} shows it escaped: {html}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_database_shows_no_data_yet() {
    let app = spawn_app(1024 * 1024).await;
    let response = app
        .client
        .get(app.url("/dashboard"))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(response.status().as_u16(), 200);
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "the dashboard's policy allows only same-origin scripts: {csp}"
    );
    let page = response.text().await.expect("page");
    assert!(
        !page.contains("<script>"),
        "no inline script on the dashboard: {page}"
    );
    assert!(page.contains("<script src=\"/static/dashboard.js\">"));
    let charts = charts_on(&page);
    assert_eq!(charts.len(), OVERVIEW.len(), "{page}");
    for question in OVERVIEW {
        let html = figure(&page, question.slug);
        assert!(!html.contains("could not be answered"), "{html}");
        if question.display == Visualization::Scalar {
            // A count of nothing is a real answer: 0.
            assert_eq!(charts[question.slug], Some(1), "{html}");
            assert!(html.contains(">0</text>"), "{html}");
        } else {
            assert_eq!(charts[question.slug], None, "{html}");
            assert!(html.contains("No data yet"), "{html}");
        }
    }

    let script = app
        .client
        .get(app.url("/static/dashboard.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status().as_u16(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let (status, fragment) = app.page("/dashboard/charts").await;
    assert_eq!(status, 200);
    assert!(
        !fragment.contains("<html"),
        "the refresh gets only the charts"
    );
    assert_eq!(charts_on(&fragment), charts);
    app.stop().await;
}
