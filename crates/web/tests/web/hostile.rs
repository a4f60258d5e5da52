//! Malformed and hostile uploads: each gets a clear error or a safe rendering, and a refused
//! file publishes nothing.

use payments_imports::ImportStatus;

use crate::{named, spawn_app};

const HEADER: &str = "username_sender,username_receiver,amount,currency,transaction_date,status";

fn row(sender: &str) -> String {
    let users = payments_domain::demo::demo_users();
    format!(
        "{sender},{},150.00,USD,2025-07-07 01:03:41 UTC,completed",
        users[1].username
    )
}

fn valid_row() -> String {
    row(&payments_domain::demo::demo_users()[0].username)
}

/// (file name, bytes, what the error must say)
fn refused_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = valid_row();
    let long_field = "x".repeat(2000);
    let wide_header: Vec<String> = (0..70).map(|i| format!("c{i}")).collect();
    vec![
        ("empty.csv", Vec::new(), "empty"),
        ("only-newline.csv", b"\n".to_vec(), ""),
        ("header-only.csv", format!("{HEADER}\n").into_bytes(), "no data rows"),
        ("binary.csv", vec![0x89, b'P', b'N', b'G', 0, 0, 0x1a, 0xff, 0xfe, 0, 1, 2, 3], ""),
        ("zip.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec(), ""),
        ("missing-column.csv", format!("username_sender,username_receiver,amount,currency,transaction_date\n{}\n", "a,b,1,USD,2025-07-07 01:03:41 UTC").into_bytes(), "status"),
        ("unknown-column.csv", format!("{HEADER},note\n{good},hello\n").into_bytes(), "note"),
        ("repeated-column.csv", format!("{HEADER},status\n{good},completed\n").into_bytes(), "status"),
        ("wide.csv", format!("{}\n", wide_header.join(",")).into_bytes(), "columns"),
        ("semicolons.csv", format!("{}\n{}\n", HEADER.replace(',', ";"), good.replace(',', ";")).into_bytes(), "username_sender"),
        ("json.csv", b"{\"username_sender\": \"ada\"}\n".to_vec(), ""),
        ("short-row.csv", format!("{HEADER}\n{good}\n{good}\nada,bob,1\n").into_bytes(), "row 3"),
        ("long-row.csv", format!("{HEADER}\n{good},extra\n").into_bytes(), "row 1"),
        ("unterminated.csv", format!("{HEADER}\n{good}\n\"ada,bob,1,USD,2025-07-07 01:03:41 UTC,completed\n").into_bytes(), "row 2"),
        ("bad-utf8.csv", [format!("{HEADER}\n{good}\n{good}\n{good}\n").into_bytes(), b"ada\xff\xfe,bob,1,USD,2025-07-07 01:03:41 UTC,completed\n".to_vec()].concat(), "row 4"),
        ("huge-field.csv", format!("{HEADER}\n{}\n", row(&long_field)).into_bytes(), "row 1"),
        ("nul-header.csv", format!("username_sender\0,username_receiver,amount,currency,transaction_date,status\n{good}\n").into_bytes(), ""),
        ("bom-missing-column.csv", [b"\xef\xbb\xbf".to_vec(), b"username_sender,amount\nada,1\n".to_vec()].concat(), "username_receiver"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_files_get_a_clear_error_and_publish_nothing() {
    let app = spawn_app(1024 * 1024).await;
    let files = refused_files();
    for (name, bytes, says) in &files {
        let (status, report) = app.upload(name, bytes.clone()).await;
        assert_eq!(status, 422, "{name}: {report}");
        assert_eq!(report["status"], named(ImportStatus::Failed), "{name}");
        let message = report["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("The file was not imported: "),
            "{name}: {message}"
        );
        assert!(
            message.contains(says),
            "{name}: {message:?} should mention {says:?}"
        );
        let id = report["id"].as_str().unwrap();
        let view = app.status(id).await;
        assert_eq!(view["status"], named(ImportStatus::Failed));
        assert_eq!(view["published"], 0);
    }
    assert_eq!(
        payments_testkit::topic_record_count(&app.import_topic),
        0,
        "nothing of a refused file is published"
    );
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM imports WHERE status = $1")
            .bind(ImportStatus::Failed)
            .fetch_one(&app.db.pool)
            .await
            .expect("count"),
        files.len() as i64
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_content_is_rendered_safely() {
    let app = spawn_app(1024 * 1024).await;
    let script = "<script>alert(1)</script>";
    let formula = "=HYPERLINK(\"http://evil.example\")";
    // Each twice, so they also show in the duplicates table; then a good row.
    let body = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n{}\n",
        row(script),
        row(script),
        row(formula),
        row(formula),
        valid_row()
    );
    let (status, report) = app.upload("../../x.csv", body.into_bytes()).await;
    assert_eq!(status, 201, "{report}");
    let key = report["object_key"].as_str().unwrap();
    assert!(
        key.starts_with("x_") && !key.contains('/') && !key.contains(".."),
        "{key}"
    );
    assert_eq!(
        app.objects.list("").await.unwrap(),
        vec![key.to_owned()],
        "stored at the bucket's top level"
    );

    let id = report["id"].as_str().unwrap();
    let done = app.wait_done(id).await;
    assert_eq!(
        (
            done["ingested"].as_u64(),
            done["invalid"].as_u64(),
            done["rejected"].as_u64()
        ),
        (Some(1), Some(2), Some(0)),
        "the two bad rows are refused before publishing: {done}"
    );
    let (_, page) = app.page(&format!("/imports/{id}")).await;
    assert!(
        !page.contains(script),
        "a script from the file never reaches the page unescaped"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;"),
        "it is shown, escaped"
    );
    assert!(
        page.contains("is not a known user"),
        "the rejected rows are listed with their reason"
    );

    let csv = app
        .client
        .get(app.url(&format!("/imports/{id}/duplicates.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("'=HYPERLINK"),
        "formulas are neutralised in downloads: {csv}"
    );
    assert!(!csv.contains(",=HYPERLINK"), "{csv}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_limit_gets_413_and_the_form_needs_its_token() {
    let app = spawn_app(64 * 1024).await;
    let mut big = format!("{HEADER}\n");
    while big.len() < 200 * 1024 {
        big.push_str(&valid_row());
        big.push('\n');
    }
    let (status, body) = app.upload("big.csv", big.into_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than the upload limit"),
        "{body}"
    );

    // The browser form without the token from the upload page is refused.
    let part = reqwest::multipart::Part::bytes(format!("{HEADER}\n{}\n", valid_row()).into_bytes())
        .file_name("a.csv");
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", "forged")
        .part("file", part);
    let response = app
        .client
        .post(app.url("/imports"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // With the cookie and token the upload page hands out, it goes through (303 to the result).
    let form_page = app
        .client
        .get(app.url("/imports/new"))
        .send()
        .await
        .unwrap();
    let cookie = form_page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = form_page.text().await.unwrap();
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let part = reqwest::multipart::Part::bytes(format!("{HEADER}\n{}\n", valid_row()).into_bytes())
        .file_name("a.csv");
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .part("file", part);
    let response = app
        .client
        .post(app.url("/imports"))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/imports/"));
    assert_eq!(payments_testkit::topic_record_count(&app.import_topic), 1);
    app.stop().await;
}
