//! One import of each outcome, through the real stack: each result page's banner has the words
//! and the style (CSS class) of what happened, and no page shows a raw RFC 3339 time, a
//! literal backtick, "1 rows", or another import's bare id where its name should be.

use serde_json::Value;

use payments_domain::demo::demo_users;
use payments_imports::ImportStatus;

use crate::checks::csv;
use crate::{named, spawn_app_with, App};

fn payment(amount: &str) -> String {
    let users = demo_users();
    format!(
        "{},{},{amount},USD,2025-07-07 01:03:41 UTC,completed",
        users[0].username, users[1].username
    )
}

/// `POST /api/imports` as `user` with extra form fields; the report.
pub(crate) async fn upload_as(
    app: &App,
    user: &str,
    name: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> Value {
    let mut form = reqwest::multipart::Form::new();
    for (field, value) in fields {
        form = form.text(field.to_string(), value.to_string());
    }
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("text/csv")
        .expect("mime");
    let response = app
        .client
        .post(app.url("/api/imports"))
        .header("X-Forwarded-User", user)
        .multipart(form.part("file", part))
        .send()
        .await
        .expect("upload");
    response.json().await.expect("json")
}

/// The text a reader sees: the page without its tags (and so without attribute values), its
/// spaces collapsed.
pub(crate) fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first machine timestamp in `text` (`2026-12-03T00:19`…), if any.
pub(crate) fn rfc3339_in(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd";
    (0..bytes.len().saturating_sub(shape.len() - 1)).find_map(|start| {
        let fits = shape.iter().enumerate().all(|(i, want)| {
            let got = bytes[start + i];
            match want {
                b'd' => got.is_ascii_digit(),
                other => got == *other,
            }
        });
        fits.then(|| &text[start..start + shape.len()])
    })
}

/// "1 rows", "1 invalid amounts", "1 duplicates": a count of one with a plural noun.
pub(crate) fn plural_one_in(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(3).find_map(|w| {
        let one = w[0].trim_start_matches(['(', '·']) == "1";
        let noun = if w[1] == "invalid" { w[2] } else { w[1] };
        let noun = noun.trim_end_matches([',', '.', ')', ';', ':']);
        (one && ["rows", "amounts", "duplicates", "imports", "days"].contains(&noun))
            .then(|| w.join(" "))
    })
}

/// Every page a person reads, checked for machine text.
pub(crate) fn assert_reads_well(path: &str, html: &str) {
    let text = visible_text(html);
    assert!(
        rfc3339_in(&text).is_none(),
        "{path} shows a raw time {:?}",
        rfc3339_in(&text)
    );
    assert!(!text.contains('`'), "{path} shows a backtick: {text}");
    assert_eq!(plural_one_in(&text), None, "{path}");
}

/// The banner of an import's page: (class attribute, visible text).
fn banner(html: &str) -> (String, String) {
    let start = html
        .find("<section id=\"outcome\"")
        .expect("the page has a banner");
    let section = &html[start..];
    let section = &section[..section.find("</section>").expect("banner ends")];
    let class = section
        .split("class=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("class")
        .to_owned();
    (class, visible_text(section))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_has_its_own_banner_and_every_page_reads_as_words() {
    let app = spawn_app_with(crate::trusting_localhost(false), None).await;
    let regular = payments_csv::sample_csv("regular_transactions.csv")
        .expect("a sample")
        .into_bytes();
    let landed = upload_as(&app, "alice", "landed.csv", regular.clone(), &[]).await;
    let landed_id = landed["id"].as_str().expect("id").to_owned();
    let landed_rows = app.wait_done(&landed_id).await["ingested"]
        .as_i64()
        .expect("rows");

    let some_failed = upload_as(
        &app,
        "alice",
        "some-failed.csv",
        csv(&[payment("10.00"), payment("abc")]),
        &[],
    )
    .await;
    let some_failed_id = some_failed["id"].as_str().expect("id").to_owned();
    app.wait_done(&some_failed_id).await;

    let held = upload_as(
        &app,
        "alice",
        "held.csv",
        csv(&[payment("11.00"), payment("12.00")]),
        &[("require_approval", "1")],
    )
    .await;
    assert_eq!(
        held["status"],
        named(ImportStatus::AwaitingApproval),
        "{held}"
    );

    let nothing = upload_as(
        &app,
        "alice",
        "nothing.csv",
        csv(&[payment("13.00"), payment("abc")]),
        &[("invalid_rows", "hold_file")],
    )
    .await;
    assert_eq!(nothing["status"], named(ImportStatus::Failed), "{nothing}");

    let header =
        "username_sender,username_receiver,amount,currency,transaction_date,status,extra\n";
    let failed = upload_as(
        &app,
        "alice",
        "failed.csv",
        format!("{header}{},x\n", payment("14.00")).into_bytes(),
        &[],
    )
    .await;
    assert_eq!(failed["status"], named(ImportStatus::Failed), "{failed}");

    let again = upload_as(&app, "bob", "again.csv", regular, &[]).await;
    assert!(again["first_import"].is_object(), "{again}");

    // (import, class, headline, words the details carry)
    let cases: [(&Value, &str, &str, &[String]); 6] = [
        (
            &landed,
            "outcome-ok",
            "All rows landed",
            &[format!("All {landed_rows} rows landed")],
        ),
        (
            &some_failed,
            "outcome-partial",
            "Some rows failed the checks",
            &[
                "1 row landed.".into(),
                "1 row failed the checks and was not sent".into(),
            ],
        ),
        (
            &held,
            "outcome-held",
            "Rows held for approval",
            &["nothing is published until someone other than alice approves it".into()],
        ),
        (
            &nothing,
            "outcome-nothing",
            "Nothing published",
            &["1 row failed the checks and the policy holds the whole file".into()],
        ),
        (
            &failed,
            "outcome-failed",
            "Import failed",
            &["The file was not imported: the header is wrong".into()],
        ),
        (
            &again,
            "outcome-nothing",
            "Nothing published",
            &["This file was already imported, as landed.csv of ".into()],
        ),
    ];
    for (report, class, headline, words) in cases {
        let id = report["id"].as_str().expect("id");
        let path = format!("/imports/{id}");
        let (status, html) = app.page(&path).await;
        assert_eq!(status, 200, "{path}");
        let (shown_class, text) = banner(&html);
        assert_eq!(shown_class, format!("outcome {class}"), "{path}: {text}");
        assert!(text.contains(headline), "{path}: {text}");
        for word in words {
            assert!(text.contains(word.as_str()), "{path}: {word:?} in {text}");
        }
        assert_reads_well(&path, &html);
        // The timeline names its steps with their times.
        assert!(html.contains("id=\"timeline\""), "{path}");
    }

    // The failed rows are listed with their values, the field name as code.
    let (_, html) = app.page(&format!("/imports/{some_failed_id}")).await;
    let invalid = &html[html.find("<table id=\"invalid\">").expect("invalid rows")..];
    let invalid = &invalid[..invalid.find("</table>").expect("table ends")];
    assert!(invalid.contains("<code>amount</code>"), "{invalid}");
    assert!(
        invalid.contains("<td class=\"num\">abc</td>"),
        "the value: {invalid}"
    );
    assert!(
        invalid.contains(&format!("<td>{}</td>", demo_users()[0].username)),
        "{invalid}"
    );

    // The earlier import is named by its file and time, not its id.
    let (_, html) = app
        .page(&format!("/imports/{}", again["id"].as_str().expect("id")))
        .await;
    assert!(
        html.contains(&format!("href=\"/imports/{landed_id}\">landed.csv of ")),
        "{html}"
    );
    assert!(
        !visible_text(&html).contains(&landed_id),
        "no bare id shown"
    );

    // The decision and the timeline in words; then every other page.
    let held_id = held["id"].as_str().expect("id");
    let (code, body) = crate::approval::api_decide(&app, held_id, "reject", Some("bob")).await;
    assert_eq!(code, 200, "{body}");
    let (_, html) = app.page(&format!("/imports/{held_id}")).await;
    let record = &html[html.find("id=\"decision-record\"").expect("decision shown")..];
    let record = visible_text(&record[..record.find("</p>").expect("ends")]);
    assert!(
        record.contains("Rejected by bob")
            && record.contains("UTC")
            && record.contains("amounts look wrong"),
        "{record}"
    );
    assert_reads_well("rejected import", &html);
    for path in [
        "/",
        "/imports/new",
        "/imports",
        "/imports?status=failed",
        "/approvals",
        "/dashboard",
        "/dashboard?range=7d",
    ] {
        let (status, html) = app.page(path).await;
        assert_eq!(status, 200, "{path}");
        assert_reads_well(path, &html);
    }
    // A date range counts only what happened in it: today's imports, not the payments of
    // July 2025 they carried; every question is still answered.
    let (_, week) = app.page("/dashboard?range=7d").await;
    assert!(!week.contains("could not be answered"), "{week}");
    let charts = crate::dashboard::charts_on(&week);
    assert_eq!(
        charts["payments-per-day"], None,
        "no payment in the last 7 days"
    );
    assert_eq!(charts["recent-imports"], Some(6), "the six imports: {week}");
    let (_, all) = app.page("/dashboard?range=all").await;
    assert!(crate::dashboard::charts_on(&all)["payments-per-day"].is_some());
    let (status, _) = app.page("/dashboard?range=forever").await;
    assert_eq!(status, 400);
    let (_, history) = app.page("/imports").await;
    assert!(
        history.contains("<time datetime=\"") && history.contains(" UTC</time>"),
        "times in the history are <time> elements with readable text"
    );
    app.stop().await;
}

#[test]
fn the_checks_catch_what_they_look_for() {
    assert_eq!(
        rfc3339_in("at 2026-12-03T00:19:43.357870Z"),
        Some("2026-12-03T00:19")
    );
    assert_eq!(
        rfc3339_in("3 Dec 2026, 00:19 UTC; 2025-07-07 01:03:41 UTC"),
        None
    );
    assert_eq!(
        visible_text("<time datetime=\"2026-12-03T00:19:43Z\">3 Dec</time>").trim(),
        "3 Dec"
    );
    assert_eq!(
        plural_one_in("USD 1 rows · 9.00").as_deref(),
        Some("1 rows ·")
    );
    assert_eq!(
        plural_one_in("(1 invalid amounts)").as_deref(),
        Some("(1 invalid amounts)")
    );
    assert_eq!(plural_one_in("11 rows, 1 row, 2 rows"), None);
}
