//! Maker-checker approval over HTTP: an import needing approval publishes nothing until a
//! second identity approves it (web form with its CSRF token, or the API); the uploader is
//! refused (403); a rejection is final and never publishes. Real stack, real ingester.

use payments_imports::ImportStatus;
use serde_json::Value;

use crate::{named, spawn_app_with, App};

fn sample() -> Vec<u8> {
    payments_csv::sample_csv("regular_transactions.csv")
        .expect("a sample")
        .into_bytes()
}

/// Uploads the sample as `user`, asking for approval.
async fn upload_needing_approval(app: &App, user: &str) -> Value {
    let part = reqwest::multipart::Part::bytes(sample())
        .file_name("approve-me.csv")
        .mime_str("text/csv")
        .expect("mime");
    let form = reqwest::multipart::Form::new()
        .text("require_approval", "1")
        .part("file", part);
    let response = app
        .client
        .post(app.url("/api/imports"))
        .header("X-Forwarded-User", user)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 201);
    response.json().await.expect("json")
}

/// `POST /api/imports/{id}/{action}` as `user` (a rejection with a note).
pub(crate) async fn api_decide(
    app: &App,
    id: &str,
    action: &str,
    user: Option<&str>,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/api/imports/{id}/{action}")));
    if let Some(user) = user {
        request = request.header("X-Forwarded-User", user);
    }
    if action == "reject" {
        request = request.json(&serde_json::json!({ "note": "amounts look wrong" }));
    }
    let response = request.send().await.expect("decision");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_published_until_a_second_identity_approves() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    let report = upload_needing_approval(&app, "alice").await;
    assert_eq!(
        report["status"],
        named(ImportStatus::AwaitingApproval),
        "{report}"
    );
    let id = report["id"].as_str().expect("id").to_owned();
    assert!(report["message"]
        .as_str()
        .unwrap_or_default()
        .contains("someone other than alice"));
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 0);

    // Anonymous, then the uploader herself: refused, still nothing published.
    let (status, body) = api_decide(&app, &id, "approve", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = api_decide(&app, &id, "approve", Some("alice")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 0);
    assert_eq!(
        app.status(&id).await["status"],
        named(ImportStatus::AwaitingApproval)
    );

    // Bob approves: checked again and published, then ingested.
    let (status, body) = api_decide(&app, &id, "approve", Some("bob")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], named(ImportStatus::Published), "{body}");
    let done = app.wait_done(&id).await;
    assert_eq!(done["decided_by"], "bob");
    assert!(done["decided_at"].is_string(), "{done}");
    assert_eq!(done["ingested"], done["published"]);
    let published = payments_testkit::topic_record_count(&app.import_topic);
    assert_eq!(published, done["published"].as_i64().expect("published"));

    // Deciding again, by anyone, changes nothing.
    let (status, _) = api_decide(&app, &id, "reject", Some("carol")).await;
    assert_eq!(status, 409);
    assert_eq!(
        payments_testkit::topic_record_count(&app.import_topic),
        published
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_import_never_publishes_and_the_form_needs_its_token() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    let report = upload_needing_approval(&app, "alice").await;
    let id = report["id"].as_str().expect("id").to_owned();

    // The page offers the decision form with a token bound to a cookie.
    let page = app
        .client
        .get(app.url(&format!("/imports/{id}")))
        .header("X-Forwarded-User", "bob")
        .send()
        .await
        .expect("page");
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the decision form's cookie")
        .to_owned();
    let html = page.text().await.expect("html");
    assert!(html.contains("id=\"approve\"") && html.contains("id=\"reject\""));
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("token")
        .to_owned();
    let post = |token: String, cookie: Option<String>| {
        let mut request = app
            .client
            .post(app.url(&format!("/imports/{id}/decision")))
            .header("X-Forwarded-User", "bob")
            .form(&[
                ("csrf_token", token.as_str()),
                ("decision", "reject"),
                ("note", "amounts look wrong"),
            ]);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    // Without the cookie (a cross-site post): refused.
    let response = post(token.clone(), None).await.expect("post");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        app.status(&id).await["status"],
        named(ImportStatus::AwaitingApproval)
    );

    let response = post(token, Some(cookie)).await.expect("post");
    assert_eq!(response.status().as_u16(), 303, "back to the import's page");
    let rejected = app.status(&id).await;
    assert_eq!(
        rejected["status"],
        named(ImportStatus::Rejected),
        "{rejected}"
    );
    assert_eq!(rejected["decided_by"], "bob");
    assert_eq!(rejected["decision_note"], "amounts look wrong");

    // Final: approving afterwards is refused and nothing is ever published.
    let (status, _) = api_decide(&app, &id, "approve", Some("carol")).await;
    assert_eq!(status, 409);
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 0);
    let (_, page) = app.page(&format!("/imports/{id}")).await;
    assert!(page.contains("Rejected by") && page.contains("amounts look wrong"));
    // Every row is listed as not landed, with why.
    let (_, listed) = app.page(&format!("/imports/{id}/not-landed.csv")).await;
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(
        rows.len() as i64,
        rejected["unique"].as_i64().expect("unique")
    );
    assert!(
        rows.iter()
            .all(|r| r.contains("held: the import was rejected by bob")),
        "{listed}"
    );
    app.stop().await;
}
