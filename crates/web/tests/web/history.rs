//! The history at scale: 250 imports written straight into the database (every status, three
//! uploaders, decisions, dry runs, a spread of days and names), then the JSON API's filters
//! and cursor paging checked against SQL written here, independently of the app's queries.

use std::collections::BTreeSet;

use serde_json::Value;
use uuid::Uuid;

use crate::{spawn_app_with, App};

pub(crate) const SEEDED: usize = 250;

/// Writes `SEEDED` imports: import `n` (1-based) was started by `PEOPLE[n % 3]`, two hours and
/// thirteen minutes after the previous one from 1 November 2026, named `batch-NNN-usd.csv` (or
/// `-eur` for every fourth); its status cycles through done, failed (rows failed the checks),
/// awaiting approval, rejected by the next person, published, a dry run, and awaiting approval
/// already approved by the next person (publishing unfinished).
pub(crate) async fn seed(app: &App) {
    sqlx::query(
        "INSERT INTO imports (id, file_name, sha256, status, failure, error, started_by,
                              approval_reasons, decided_by, decided_at, decision_note, dry_run,
                              rows, unique_rows, duplicates, invalid, published, created_at,
                              updated_at)
         SELECT gen_random_uuid(),
                format('batch-%s-%s.csv', lpad(n::text, 3, '0'),
                       CASE WHEN n % 4 = 0 THEN 'eur' ELSE 'usd' END),
                encode(sha256(n::text::bytea), 'hex'),
                kind,
                CASE WHEN kind = 'failed' THEN 'invalid_rows' END,
                CASE WHEN kind = 'failed' THEN '`amount` must be a number, got \"abc\"' END,
                (ARRAY['alice', 'bob', 'carol'])[n % 3 + 1],
                CASE WHEN kind IN ('awaiting_approval', 'rejected') THEN ARRAY['requested']
                     ELSE ARRAY[]::text[] END,
                CASE WHEN kind = 'rejected' OR (kind = 'awaiting_approval' AND n % 10 = 9)
                     THEN (ARRAY['alice', 'bob', 'carol'])[(n + 1) % 3 + 1] END,
                CASE WHEN kind = 'rejected' OR (kind = 'awaiting_approval' AND n % 10 = 9)
                     THEN at + interval '1 hour' END,
                CASE WHEN kind = 'rejected' THEN 'not ours' END,
                n % 10 = 8,
                10, 10, 0,
                CASE WHEN kind = 'failed' THEN 3 ELSE 0 END,
                CASE WHEN kind IN ('done', 'published') AND n % 10 <> 8 THEN 10 ELSE 0 END,
                at, at
           FROM generate_series(1, $1) AS n,
                LATERAL (SELECT timestamptz '2026-11-01 00:00:00+00'
                                + n * interval '2 hours 13 minutes' AS at,
                                (ARRAY['done', 'done', 'done', 'done', 'failed',
                                       'awaiting_approval', 'rejected', 'published', 'done',
                                       'awaiting_approval'])[n % 10 + 1] AS kind) s",
    )
    .bind(SEEDED as i32)
    .execute(&app.db.pool)
    .await
    .expect("250 imports");
}

/// Ids of the imports `condition` selects, in the history's order (`ASC` or `DESC`).
pub(crate) async fn expected(app: &App, condition: &str, direction: &str) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id::text FROM imports WHERE {condition}
          ORDER BY created_at {direction}, id {direction}"
    )))
    .fetch_all(&app.db.pool)
    .await
    .expect("expected ids")
}

/// `GET path` as `user`: status and JSON body.
async fn get(app: &App, path: &str, user: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = app.client.get(app.url(path));
    if let Some(user) = user {
        request = request.header("X-Forwarded-User", user);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let link = response
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, response.json().await.expect("json"), link)
}

/// Every import the API lists from `path` on, following `next` to the end: ids in order.
async fn walk(app: &App, path: &str, user: Option<&str>) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut next = Some(path.to_owned());
    while let Some(path) = next {
        let (status, body, link) = get(app, &path, user).await;
        assert_eq!(status, 200, "{path}: {body}");
        pages += 1;
        ids.extend(
            body["imports"]
                .as_array()
                .expect("imports")
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_owned()),
        );
        next = body["next"].as_str().map(str::to_owned);
        assert_eq!(
            link,
            next.as_ref().map(|n| format!("<{n}>; rel=\"next\"")),
            "the Link header names the same next page"
        );
        if let Some(next) = &next {
            assert_eq!(
                next.split("after=").nth(1),
                body["next_cursor"].as_str(),
                "the cursor is the next link's"
            );
        }
        assert!(pages <= SEEDED, "paging ends");
    }
    (ids, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_filters_and_pages_250_imports_by_cursor() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    seed(&app).await;

    // Everything, 40 at a time: each import once, newest first; the oldest first too.
    let (all, pages) = walk(&app, "/api/imports?limit=40", None).await;
    assert_eq!(all, expected(&app, "true", "DESC").await);
    assert_eq!(pages, SEEDED.div_ceil(40));
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), SEEDED);
    let (oldest, _) = walk(&app, "/api/imports?order=oldest&limit=100", None).await;
    assert_eq!(oldest, expected(&app, "true", "ASC").await);

    // Each filter, and several at once, against SQL written here.
    for (query, condition) in [
        ("status=awaiting_approval", "status = 'awaiting_approval'"),
        ("status=failed,rejected", "status IN ('failed', 'rejected')"),
        ("started_by=carol", "started_by = 'carol'"),
        ("decided_by=alice", "decided_by = 'alice'"),
        ("file=EUR", "file_name LIKE '%eur%'"),
        ("file=batch-1", "file_name LIKE 'batch-1%'"),
        (
            "from=2026-11-10&to=2026-11-12",
            "created_at >= '2026-11-10T00:00:00Z' AND created_at < '2026-11-13T00:00:00Z'",
        ),
        (
            "from=2026-11-10T06:00:00%2B01:00&to=2026-11-11T00:00:00Z",
            "created_at >= '2026-11-10T05:00:00Z' AND created_at < '2026-11-11T00:00:00Z'",
        ),
        (
            "status=done&started_by=bob&file=usd&from=2026-11-05",
            "status = 'done' AND started_by = 'bob' AND file_name LIKE '%usd%'
             AND created_at >= '2026-11-05T00:00:00Z'",
        ),
    ] {
        let want = expected(&app, condition, "DESC").await;
        assert!(!want.is_empty(), "{query} matches something");
        let (got, _) = walk(&app, &format!("/api/imports?{query}&limit=7"), None).await;
        assert_eq!(got, want, "{query}");
    }
    // LIKE's wildcards are text like any other.
    let (got, _) = walk(&app, "/api/imports?file=%25", None).await;
    assert!(got.is_empty(), "no file name contains a percent sign");

    // What bob may decide: awaiting, started by someone else, not decided by someone else.
    let (decidable, _) = walk(&app, "/api/imports?decidable=true&limit=9", Some("bob")).await;
    let want = expected(
        &app,
        "status = 'awaiting_approval' AND started_by <> 'bob'
         AND (decided_by IS NULL OR decided_by = 'bob')",
        "DESC",
    )
    .await;
    assert_eq!(decidable, want);
    let own = expected(&app, "started_by = 'bob'", "DESC").await;
    assert!(
        decidable.iter().all(|id| !own.contains(id)),
        "none of his own"
    );
    let (status, body, _) = get(&app, "/api/imports?decidable=true", None).await;
    assert_eq!(status, 401, "anonymous: {body}");

    // Unusable filters are refused with why.
    for query in [
        "status=lost",
        "order=sideways",
        "from=yesterday",
        "after=nonsense",
        "limit=0",
        "limit=501",
    ] {
        let (status, body, _) = get(&app, &format!("/api/imports?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].is_string(), "{query}: {body}");
    }

    // The page filters the same way.
    let (status, page) = app.page("/imports?status=rejected&started_by=alice").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = page
        .split("data-import=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let want = expected(&app, "status = 'rejected' AND started_by = 'alice'", "DESC").await;
    assert_eq!(listed, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(page.contains("rejected by bob"), "why, in the list");
    let (status, _) = app.page("/imports?status=lost").await;
    assert_eq!(status, 400);

    // The timeline of one import in the API: its steps with RFC 3339 times.
    let rejected = &want[0];
    let (_, view, _) = get(&app, &format!("/api/imports/{rejected}"), None).await;
    let steps: Vec<&str> = view["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|s| s["step"].as_str().expect("step"))
        .collect();
    assert_eq!(
        steps,
        ["received", "stored", "awaiting_approval", "rejected"]
    );
    let decided = &view["timeline"][3];
    assert_eq!(
        (&decided["by"], &decided["detail"]),
        (&Value::from("bob"), &Value::from("not ours"))
    );
    let at = decided["at"].as_str().expect("at");
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    assert!(Uuid::parse_str(rejected).is_ok());
    app.stop().await;
}
