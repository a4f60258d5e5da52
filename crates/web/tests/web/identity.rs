//! Who started an upload: believed from the authenticating proxy's header only when the
//! connection comes from a trusted proxy address; `--require-identity` refuses anonymous uploads.

use payments_web::WebConfig;

use crate::spawn_app_with;

const SAMPLE: &str = "regular_transactions.csv";

fn sample() -> Vec<u8> {
    payments_csv::sample_csv(SAMPLE)
        .expect("a sample")
        .into_bytes()
}

async fn upload_as(app: &crate::App, user: Option<&str>) -> (u16, serde_json::Value) {
    let part = reqwest::multipart::Part::bytes(sample())
        .file_name(SAMPLE)
        .mime_str("text/csv")
        .expect("mime");
    let mut request = app
        .client
        .post(app.url("/api/imports"))
        .multipart(reqwest::multipart::Form::new().part("file", part));
    if let Some(user) = user {
        request = request.header("X-Forwarded-User", user);
    }
    let response = request.send().await.expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_uploader_and_anonymous_uploads_are_refused_when_required() {
    let config = crate::trusting_localhost(true);
    let app = spawn_app_with(config, None).await;

    let (status, _) = upload_as(&app, None).await;
    assert_eq!(status, 401, "an anonymous upload is refused");
    let imports: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(imports, 0, "a refused upload records nothing");

    let (status, report) = upload_as(&app, Some("alice@example.com")).await;
    assert_eq!(status, 201, "{report}");
    let id = report["id"].as_str().expect("id");
    let shown = app.status(id).await;
    assert_eq!(shown["started_by"], "alice@example.com", "{shown}");
    let page = app
        .client
        .get(app.url(&format!("/imports/{id}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("alice@example.com"), "{page}");
    let history = app
        .client
        .get(app.url("/imports"))
        .send()
        .await
        .expect("history")
        .text()
        .await
        .expect("html");
    assert!(
        history.contains("<td data-label=\"Started by\">alice@example.com</td>"),
        "{history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_header_from_an_untrusted_address_is_ignored() {
    // No trusted proxy: any client could have set the header.
    let app = spawn_app_with(WebConfig::default(), None).await;
    let (status, report) = upload_as(&app, Some("mallory")).await;
    assert_eq!(status, 201, "{report}");
    let shown = app.status(report["id"].as_str().expect("id")).await;
    assert!(shown["started_by"].is_null(), "{shown}");
}
