//! `POST /api/users`: the original platform's users export loads (a bad row named, the rest
//! landing), its users' payments then pass validation, and only `text/csv` is taken.

use serde_json::Value;

use crate::{spawn_app, spawn_app_with, App};

const MARCOS: &str = "46262ec5-3785-4148-b23a-721d2e78a9cc";
const ANA: &str = "5b0f3c9e-8d7a-4c1b-9e2f-0a1b2c3d4e5f";

async fn post_users(app: &App, content_type: &str, body: String) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/users"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_users_export_loads_and_its_payments_then_validate() {
    let app = spawn_app(1024 * 1024).await;
    let export = format!(
        "user_id,name,username,user_creation_date,email,active\n\
         {MARCOS},Marcos Pampuch,marcos2349,2025-01-01 12:34:45,marcos2349@gmail.com,True\n\
         0b9c6f3e-2f4d-4a43-9a53-000000000002,No Email,noemail,2025-01-02 10:00:00,noemail.example.com,True\n\
         {ANA},Ana Lima,ana77,2024-12-31 23:59:59,ana77@example.com,False\n"
    );
    let (status, summary) = post_users(&app, "text/csv; charset=utf-8", export).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["rows"], 3, "{summary}");
    assert_eq!(summary["added"], 2, "{summary}");
    assert_eq!(summary["invalid"][0]["row"], 2, "{summary}");
    let reason = summary["invalid"][0]["reason"].as_str().expect("a reason");
    assert!(reason.contains("`email` has no '@'"), "{reason}");
    assert_eq!(
        app.count_bound(
            "SELECT count(*) FROM users WHERE user_id = $1::uuid AND active",
            MARCOS
        )
        .await,
        1
    );
    assert_eq!(
        app.count_bound(
            "SELECT count(*) FROM users WHERE user_id = $1::uuid AND NOT active",
            ANA
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE username = 'noemail'")
            .await,
        0
    );

    // The original platform's payments between them now pass validation and land (the
    // ingester looks at its users again for an imported row that names one it has not seen).
    let payments = "username_sender,username_receiver,amount,currency,transaction_date,status\n\
                    marcos2349,ana77,12.50,USD,2025-07-07 01:03:41 UTC,completed\n";
    let (status, report) = app
        .upload("original.csv", payments.as_bytes().to_vec())
        .await;
    assert_eq!(status, 201, "{report}");
    app.wait_done(report["id"].as_str().expect("id")).await;
    assert_eq!(
        app.count_bound(
            "SELECT count(*) FROM transactions WHERE sender_id = $1::uuid",
            MARCOS
        )
        .await,
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_header_a_form_and_an_oversized_body_are_refused() {
    let app = spawn_app(64 * 1024).await;
    let (status, answer) =
        post_users(&app, "text/csv", "username,name,phone\nx,X,1\n".into()).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown column \"phone\"")),
        "{answer}"
    );
    let (status, _) = post_users(
        &app,
        "application/x-www-form-urlencoded",
        "username,name,email\nx,X,x@example.com\n".into(),
    )
    .await;
    assert_eq!(status, 415);
    let mut big = String::from("username,name,email\n");
    let mut n = 0;
    while big.len() < 100 * 1024 {
        big.push_str(&format!("user{n},User {n},user{n}@example.com\n"));
        n += 1;
    }
    let (status, answer) = post_users(&app, "text/csv", big).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE username LIKE 'user%' OR username = 'x'")
            .await,
        0,
        "a refused file loads nothing"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_users_files_are_refused_when_identities_are_required() {
    let config = crate::trusting_localhost(true);
    let app = spawn_app_with(config, None).await;
    let csv = "username,name,email\nzoe,Zoe,zoe@example.com\n";
    let (status, _) = post_users(&app, "text/csv", csv.into()).await;
    assert_eq!(status, 401);
    let response = app
        .client
        .post(app.url("/api/users"))
        .header("content-type", "text/csv")
        .header("x-forwarded-user", "alice")
        .body(csv)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE username = 'zoe'")
            .await,
        1
    );
    app.stop().await;
}
