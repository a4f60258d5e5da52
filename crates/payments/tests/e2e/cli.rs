//! Money checks from the command line, as processes against the real stack: `payments import
//! --expect` stops a file whose control totals differ (nothing published, the difference per
//! currency printed), prints the totals otherwise; `--require-approval` holds an import until
//! `payments approve` by someone else publishes it (the uploader's own approval refused);
//! `payments reject` is final.

use payments_testkit::{create_topics, unique_name, TestDb};

use crate::run_payments as payments;
use crate::stack_env;

/// The import's id from `payments import`'s output (`import id: …`).
fn import_id(printed: &str) -> String {
    printed
        .split("import id: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no import id in: {printed}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_totals_and_approval_from_the_command_line() {
    let db = TestDb::create().await;
    let topic = unique_name("import-payments-events");
    create_topics(&[&topic], 3).await;
    let mut env = stack_env(&db.url, &unique_name("files-imported"));
    env.extend([
        ("PAYMENTS_IMPORT_TOPIC", topic.clone()),
        ("USER", "alice".to_owned()),
    ]);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("{}.csv", unique_name("cli-checks")));
    let text = payments_csv::sample_csv(payments_csv::samples::REGULAR).expect("a sample");
    std::fs::write(&file, &text).expect("sample file");
    let file = file.to_string_lossy().into_owned();
    let totals = payments_csv::Analysis::new(&payments_csv::Options::default())
        .run(text.as_bytes())
        .expect("the sample is well-formed")
        .0
        .totals
        .file;
    let right: Vec<String> = totals
        .currencies()
        .iter()
        .map(|t| format!("{}={}:{}", t.currency, t.rows, t.amount))
        .collect();
    let first = &totals.currencies()[0];
    let wrong = right.join(",").replacen(
        &format!("={}:", first.rows),
        &format!("={}:", first.rows + 1),
        1,
    );

    // Totals that differ: refused, nothing published, the difference printed.
    let (ok, printed) = payments(&["import", &file, "--expect", &wrong], &env);
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("control totals differ") && printed.contains(&first.currency),
        "{printed}"
    );
    assert_eq!(payments_testkit::topic_record_count(&topic), 0);

    // Right totals, but held for approval: the totals are printed, nothing published yet.
    let (ok, printed) = payments(
        &[
            "import",
            &file,
            "--expect",
            &right.join(","),
            "--require-approval",
        ],
        &env,
    );
    assert!(ok, "{printed}");
    assert!(printed.contains("awaiting_approval"), "{printed}");
    assert!(printed.contains("totals, file"), "{printed}");
    let id = import_id(&printed);
    assert_eq!(payments_testkit::topic_record_count(&topic), 0);

    // Alice (the uploader, $USER) cannot approve; bob can.
    let (ok, printed) = payments(&["approve", &id], &env);
    assert!(!ok && printed.contains("second person"), "{printed}");
    assert_eq!(payments_testkit::topic_record_count(&topic), 0);
    let (ok, printed) = payments(&["approve", &id, "--as", "bob"], &env);
    assert!(ok && printed.contains("Approved by bob"), "{printed}");
    let rows = totals.rows() as i64;
    assert_eq!(payments_testkit::topic_record_count(&topic), rows);

    // Another upload of alice's, rejected by bob: final, nothing more published.
    std::fs::write(dir.join("other.csv"), format!("{text}\n")).expect("other file");
    let other = dir.join("other.csv").to_string_lossy().into_owned();
    let (ok, printed) = payments(&["import", &other, "--require-approval"], &env);
    assert!(ok, "{printed}");
    let second = import_id(&printed);
    let (ok, printed) = payments(
        &["reject", &second, "--as", "bob", "--reason", "sent twice"],
        &env,
    );
    assert!(
        ok && printed.contains("Rejected by bob: sent twice"),
        "{printed}"
    );
    let (ok, printed) = payments(&["approve", &second, "--as", "carol"], &env);
    assert!(!ok && printed.contains("rejected"), "{printed}");
    assert_eq!(payments_testkit::topic_record_count(&topic), rows);
    db.drop_database().await;
}
