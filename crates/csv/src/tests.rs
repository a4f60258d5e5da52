//! Behaviour of the analyser on well-formed, malformed and hostile files.

use std::io::{self, Read};

use chrono::{DateTime, Utc};
use payments_domain::demo::{demo_users, CURRENCIES};
use payments_domain::event::import_transaction_id;
use payments_domain::{ImportEvent, ReferenceData};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::in_memory::publish;
use crate::*;

const HEADER: &str = "username_sender,username_receiver,amount,currency,transaction_date,status";

fn users() -> Vec<String> {
    demo_users().into_iter().map(|u| u.username).collect()
}

/// A row between demo users `a` and `b`.
fn row(a: usize, b: usize, amount: &str) -> String {
    let u = users();
    format!(
        "{},{},{amount},USD,2025-07-07 01:03:41 UTC,completed",
        u[a], u[b]
    )
}

fn file(rows: &[String]) -> String {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    text
}

fn run(text: impl AsRef<[u8]>) -> Result<Summary> {
    Analysis::new(&Options::default())
        .run(text.as_ref())
        .map(|(summary, _)| summary)
}

fn events(text: &[u8]) -> Vec<ImportEvent> {
    let sha = sha256_of(text).unwrap().sha256;
    let import = ImportRef {
        import_id: Uuid::from_u128(7),
        source_file: "f.csv",
        sha256_hex: &sha,
        corrects: None,
    };
    let mut out = Vec::new();
    publish(text, &Options::default(), &import, |e| {
        out.push(e);
        Ok::<_, io::Error>(())
    })
    .unwrap();
    out
}

fn malformed_at(result: Result<Summary>) -> (Location, Malformed, String) {
    match result {
        Err(e @ ImportError::Malformed { .. }) => {
            let message = e.to_string();
            match e {
                ImportError::Malformed { at, problem } => (at, problem, message),
                _ => unreachable!(),
            }
        }
        other => panic!("expected a malformed-file error, got {other:?}"),
    }
}

/// Yields one byte per read: every record straddles buffer boundaries.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn reads_a_plain_file() {
    let text = file(&[row(0, 1, "10.00"), row(1, 2, "20.50")]);
    let summary = run(&text).unwrap();
    assert_eq!(
        (summary.rows, summary.unique, summary.duplicate_rows),
        (2, 2, 0)
    );
    assert_eq!(summary.size_bytes, text.len() as u64);
    assert_eq!(summary.sha256, sha256_of(text.as_bytes()).unwrap().sha256);
    assert!(summary.duplicates.is_empty() && summary.suspicious.is_empty());
}

#[test]
fn header_columns_in_any_order_with_spaces_and_bom() {
    let u = users();
    let text = format!(
        "\u{feff} status , amount,currency ,transaction_date,username_receiver,username_sender\r\n\
         failed,12.34,EUR,2025-07-07 01:03:41 UTC,{},{}\r\n",
        u[1], u[0]
    );
    let ev = events(text.as_bytes());
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].username_sender, u[0]);
    assert_eq!(ev[0].username_receiver, u[1]);
    assert_eq!(ev[0].amount, "12.34");
    assert_eq!(ev[0].currency, "EUR");
    assert_eq!(ev[0].status, "failed");
    assert_eq!(ev[0].transaction_date, "2025-07-07 01:03:41 UTC");
    // The digest covers the BOM: it is part of the file's bytes.
    assert_eq!(run(&text).unwrap().size_bytes, text.len() as u64);
}

#[test]
fn crlf_and_lf_give_the_same_rows() {
    let lf = file(&[row(0, 1, "1.00"), row(2, 3, "2.00")]);
    let crlf = lf.replace('\n', "\r\n");
    let a = events(lf.as_bytes());
    let b = events(crlf.as_bytes());
    assert_eq!(a.len(), 2);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.status, y.status);
        assert_eq!(x.amount, y.amount);
        // Different bytes, different identity.
        assert_ne!(x.transaction_id, y.transaction_id);
    }
}

#[test]
fn quoted_fields_with_commas_quotes_and_newlines() {
    let u = users();
    let text = format!(
        "{HEADER}\n\"{}\",{},\"1,000.00\",USD,\"2025-07-07\n01:03:41 UTC\",\"say \"\"hi\"\"\"\n{}\n",
        u[0],
        u[1],
        row(1, 2, "3.00")
    );
    let ev = events(text.as_bytes());
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].username_sender, u[0]);
    assert_eq!(ev[0].amount, "1,000.00");
    assert_eq!(ev[0].transaction_date, "2025-07-07\n01:03:41 UTC");
    assert_eq!(ev[0].status, "say \"hi\"");
    // A quoted newline does not start a row: the next record is row 2.
    assert_eq!(ev[1].row_number, 2);
}

#[test]
fn missing_and_unknown_columns_are_named() {
    let text =
        "username_sender,username_receiver,amt,currency,transaction_date,status\na,b,1,USD,d,s\n";
    let err = run(text).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("missing column `amount`"), "{message}");
    assert!(message.contains("unknown column `amt`"), "{message}");
    assert_eq!(err.location(), Some(Location::Header));

    let text = "username_sender,username_receiver,amount,currency,transaction_date\na,b,1,USD,d\n";
    let message = run(text).unwrap_err().to_string();
    assert!(message.contains("missing column `status`"), "{message}");

    let text = format!("{HEADER},note\na,b,1,USD,d,s,x\n");
    let message = run(text).unwrap_err().to_string();
    assert!(message.contains("unknown column `note`"), "{message}");

    let text = format!("{HEADER},status\na,b,1,USD,d,s,s\n");
    let message = run(text).unwrap_err().to_string();
    assert!(message.contains("repeated column `status`"), "{message}");
}

#[test]
fn empty_and_blank_files_are_rejected() {
    for text in ["", "\n", "\r\n\r\n", "   \n", "\u{feff}"] {
        assert!(
            matches!(run(text), Err(ImportError::Empty)),
            "{text:?}: {:?}",
            run(text)
        );
    }
}

#[test]
fn a_blank_first_line_before_data_is_a_missing_header() {
    let text = format!("  \n{}\n", row(0, 1, "1.00"));
    let message = run(text).unwrap_err().to_string();
    assert!(
        message.contains("missing column `username_sender`"),
        "{message}"
    );
}

#[test]
fn header_only_is_rejected() {
    for text in [
        HEADER.to_owned(),
        format!("{HEADER}\n"),
        format!("{HEADER}\r\n\r\n"),
    ] {
        assert!(
            matches!(run(&text), Err(ImportError::HeaderOnly)),
            "{text:?}"
        );
    }
}

#[test]
fn wrong_field_count_names_the_row() {
    let text = file(&[row(0, 1, "1.00"), row(1, 2, "2.00"), "a,b,c".into()]);
    let (at, problem, message) = malformed_at(run(&text));
    assert_eq!(at, Location::Row(3));
    assert_eq!(
        problem,
        Malformed::FieldCount {
            expected: 6,
            found: 3
        }
    );
    assert!(message.contains("row 3"), "{message}");

    let text = file(&[row(0, 1, "1.00"), format!("{},extra", row(1, 2, "2.00"))]);
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!(at, Location::Row(2));
    assert!(matches!(problem, Malformed::FieldCount { found: 7, .. }));

    // Far more fields than any header may have: stopped without reading them all.
    let text = file(&[row(0, 1, "1.00"), ",".repeat(10_000)]);
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!(at, Location::Row(2));
    assert!(matches!(problem, Malformed::FieldCount { .. }));
}

#[test]
fn unterminated_quote_is_rejected() {
    // At the end of the file: the quote swallows the line ending.
    let u = users();
    let text = format!(
        "{HEADER}\n{}\n{},{},1.00,USD,2025-07-07 01:03:41 UTC,\"completed\n",
        row(0, 1, "1.00"),
        u[1],
        u[2]
    );
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!(
        (at, problem),
        (Location::Row(2), Malformed::UnbalancedQuote)
    );

    // In the middle: the rest of the file becomes one field.
    let text = format!(
        "{HEADER}\n{}\n\"{},{},1.00,USD,2025-07-07 01:03:41 UTC,completed\n{}\n{}\n",
        row(0, 1, "1.00"),
        u[1],
        u[2],
        row(2, 3, "2.00"),
        row(3, 4, "3.00")
    );
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!(
        (at, problem),
        (Location::Row(2), Malformed::UnbalancedQuote)
    );

    // A stray quote inside an unquoted field.
    let text = file(&[row(0, 1, "1.00"), row(1, 2, "2\"00")]);
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!(
        (at, problem),
        (Location::Row(2), Malformed::UnbalancedQuote)
    );

    // An unterminated quote in a large file hits the record limit, still reported as such.
    let text = format!("{HEADER}\n\"{}", "x,".repeat(100_000));
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!(
        (at, problem),
        (Location::Row(1), Malformed::UnbalancedQuote)
    );
}

#[test]
fn invalid_utf8_names_row_and_column() {
    let mut bytes = file(&[row(0, 1, "1.00"), row(1, 2, "2.00")]).into_bytes();
    let mut third = row(2, 3, "3.00").into_bytes();
    third.splice(0..0, [0xC3, 0x28]);
    bytes.extend_from_slice(&third);
    bytes.push(b'\n');
    let (at, problem, message) = malformed_at(run(&bytes));
    assert_eq!(at, Location::Row(3));
    assert_eq!(
        problem,
        Malformed::InvalidUtf8 {
            column: "username_sender".into()
        }
    );
    assert!(
        message.contains("row 3") && message.contains("UTF-8"),
        "{message}"
    );

    // Latin-1 in the header.
    let (at, _, _) = malformed_at(run(b"username_sender,caf\xe9\n"));
    assert_eq!(at, Location::Header);
}

#[test]
fn binary_garbage_is_not_a_csv() {
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00";
    assert!(matches!(
        run(png),
        Err(ImportError::Malformed {
            at: Location::Header,
            ..
        })
    ));

    // Deterministic noise.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..50_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    assert!(run(&noise).is_err());

    // A NUL byte in an otherwise fine row.
    let text = file(&[row(0, 1, "1.00"), row(1, 2, "2.00\u{0}")]);
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!((at, problem), (Location::Row(2), Malformed::Binary));
}

#[test]
fn field_over_the_size_limit() {
    let options = Options {
        max_field_bytes: 64,
        ..Options::default()
    };
    let text = file(&[row(0, 1, "1.00"), row(1, 2, &"9".repeat(65))]);
    match Analysis::new(&options)
        .run(text.as_bytes())
        .map(|(summary, _)| summary)
    {
        Err(ImportError::Malformed {
            at: Location::Row(2),
            problem: Malformed::FieldTooLong { column, bytes, max },
        }) => {
            assert_eq!((column.as_str(), bytes, max), ("amount", 65, 64));
        }
        other => panic!("{other:?}"),
    }
    // Exactly at the limit is fine.
    let text = file(&[row(1, 2, &"9".repeat(64))]);
    assert!(Analysis::new(&options)
        .run(text.as_bytes())
        .map(|(summary, _)| summary)
        .is_ok());

    // Far over the limit: stopped once the record buffer is full, not after reading it all.
    let text = file(&[row(0, 1, &"9".repeat(10 << 20))]);
    let (at, problem, _) = malformed_at(run(&text));
    assert_eq!(at, Location::Row(1));
    assert!(
        matches!(problem, Malformed::FieldTooLong { ref column, .. } if column == "amount"),
        "{problem:?}"
    );
}

#[test]
fn too_many_columns_in_the_header() {
    let header = (0..100)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let text = format!("{header}\n");
    assert!(matches!(
        run(&text),
        Err(ImportError::TooManyColumns { max: 64, .. })
    ));
}

#[test]
fn duplicates_report_every_occurrence_and_keep_the_first() {
    let a = row(0, 1, "1.00");
    let b = row(1, 2, "2.00");
    let c = row(2, 3, "3.00");
    let text = file(&[
        a.clone(),
        b.clone(),
        a.clone(),
        c.clone(),
        a.clone(),
        c.clone(),
    ]);
    let summary = run(&text).unwrap();
    assert_eq!(
        (summary.rows, summary.unique, summary.duplicate_rows),
        (6, 3, 3)
    );
    let listed: Vec<(u64, u64)> = summary
        .duplicates
        .iter()
        .map(|d| (d.row, d.first_row))
        .collect();
    assert_eq!(listed, [(1, 1), (3, 1), (4, 4), (5, 1), (6, 4)]);
    assert_eq!(summary.duplicates[0].values.amount, "1.00");
    let rows: Vec<u64> = events(text.as_bytes())
        .iter()
        .map(|e| e.row_number)
        .collect();
    assert_eq!(rows, [1, 2, 4]);

    // Same values in a different column order are the same row; a different value is not.
    let u = users();
    let reordered = format!(
        "status,currency,amount,transaction_date,username_receiver,username_sender\n\
         completed,USD,1.00,2025-07-07 01:03:41 UTC,{},{}\n\
         completed,USD,1.00,2025-07-07 01:03:41 UTC,{},{}\n\
         completed,USD,1.0,2025-07-07 01:03:41 UTC,{},{}\n",
        u[1], u[0], u[1], u[0], u[1], u[0]
    );
    let summary = run(&reordered).unwrap();
    assert_eq!((summary.unique, summary.duplicate_rows), (2, 1));
}

#[test]
fn lists_are_capped_but_counts_are_exact() {
    let a = row(0, 1, "1.00");
    let rows: Vec<String> = (0..10).map(|_| a.clone()).collect();
    let options = Options {
        max_listed: 4,
        ..Options::default()
    };
    let summary = Analysis::new(&options)
        .run(file(&rows).as_bytes())
        .unwrap()
        .0;
    assert_eq!(summary.duplicate_rows, 9);
    assert_eq!(summary.duplicates.len(), 4);
    assert!(summary.lists_truncated);
}

#[test]
fn suspicious_amount_is_strictly_above_the_threshold() {
    let text = file(&[
        row(0, 1, "8000"),
        row(0, 1, "8000.00"),
        row(0, 1, "8000.01"),
        row(0, 1, "1e4"),
        row(0, 1, "not a number"),
        row(3, 3, "5.00"),
        row(4, 4, "9000.00"),
    ]);
    let summary = run(&text).unwrap();
    let flagged: Vec<(u64, Vec<Suspicion>)> = summary
        .suspicious
        .iter()
        .map(|s| (s.row, s.reasons.clone()))
        .collect();
    assert_eq!(
        flagged,
        [
            (3, vec![Suspicion::AmountAboveThreshold]),
            (4, vec![Suspicion::AmountAboveThreshold]),
            (6, vec![Suspicion::SelfPayment]),
            (
                7,
                vec![Suspicion::AmountAboveThreshold, Suspicion::SelfPayment]
            ),
        ]
    );
    assert_eq!(summary.suspicious_rows, 4);
    // Suspicious rows are still unique and published, with the flag.
    assert_eq!(summary.unique, 7);
    let flags: Vec<bool> = events(text.as_bytes())
        .iter()
        .map(|e| e.suspicious)
        .collect();
    assert_eq!(flags, [false, false, true, true, false, true, true]);

    let options = Options {
        suspicious_threshold: Decimal::from(100_000),
        ..Options::default()
    };
    let summary = Analysis::new(&options)
        .run(text.as_bytes())
        .map(|(summary, _)| summary)
        .unwrap();
    assert_eq!(summary.suspicious_rows, 2, "only the self-payments");
}

#[test]
fn transaction_ids_derive_from_the_bytes_and_the_row() {
    let text = file(&[row(0, 1, "1.00"), row(1, 2, "2.00")]);
    let first = events(text.as_bytes());
    let again = events(text.as_bytes());
    assert_eq!(first, again);
    let sha = sha256_of(text.as_bytes()).unwrap().sha256;
    assert_eq!(first[0].transaction_id, import_transaction_id(&sha, 1));
    assert_eq!(first[1].transaction_id, import_transaction_id(&sha, 2));
    assert_ne!(first[0].transaction_id, first[1].transaction_id);
    assert_eq!(first[0].import_id, Uuid::from_u128(7));
    assert_eq!(first[0].source_file, "f.csv");

    // One more byte (a trailing newline) is another file: all ids change.
    let other = events(format!("{text}\n").as_bytes());
    assert_eq!(other.len(), 2);
    for (a, b) in first.iter().zip(&other) {
        assert_ne!(a.transaction_id, b.transaction_id);
    }
}

#[test]
fn chunk_boundaries_do_not_matter() {
    let u = users();
    let mut rows: Vec<String> = (0..50).map(|i| row(i % 30, (i + 1) % 30, "7.25")).collect();
    rows.push(format!(
        "\"{}\",{},\"9,999.00\",BRL,\"2025-07-07\r\n01:03:41 UTC\",pending",
        u[5], u[6]
    ));
    rows.push(rows[3].clone());
    let text = format!("\u{feff}{}", file(&rows).replace('\n', "\r\n"));
    let whole = run(&text).unwrap();
    let trickled = Analysis::new(&Options::default())
        .run(Trickle(text.as_bytes()))
        .unwrap()
        .0;
    assert_eq!(whole, trickled);
    assert_eq!((whole.rows, whole.unique), (52, 31));
}

#[test]
fn sha256_mismatch_is_detected() {
    let text = file(&[row(0, 1, "1.00")]);
    let wrong = sha256_of(&b"other bytes"[..]).unwrap().sha256;
    let import = ImportRef {
        import_id: Uuid::nil(),
        source_file: "f.csv",
        sha256_hex: &wrong,
        corrects: None,
    };
    let result = publish(text.as_bytes(), &Options::default(), &import, |_| {
        Ok::<_, io::Error>(())
    });
    match result {
        Err(ImportError::Sha256Mismatch { expected, actual }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, sha256_of(text.as_bytes()).unwrap().sha256);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sink_and_read_errors_stop_the_import() {
    let text = file(&[row(0, 1, "1.00"), row(1, 2, "2.00")]);
    let sha = sha256_of(text.as_bytes()).unwrap().sha256;
    let import = ImportRef {
        import_id: Uuid::nil(),
        source_file: "f.csv",
        sha256_hex: &sha,
        corrects: None,
    };
    let mut calls = 0;
    let result = publish(text.as_bytes(), &Options::default(), &import, |_| {
        calls += 1;
        Err(io::Error::other("broker down"))
    });
    assert_eq!(calls, 1);
    assert!(matches!(result, Err(ImportError::Sink(e)) if e.to_string() == "broker down"));

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk gone"))
        }
    }
    assert!(matches!(
        Analysis::new(&Options::default())
            .run(Failing)
            .map(|(summary, _)| summary),
        Err(ImportError::Io(_))
    ));
}

pub(crate) fn reference() -> ReferenceData {
    ReferenceData::new(
        demo_users().into_iter().map(|u| (u.user_id, u.username)),
        CURRENCIES
            .iter()
            .map(|(code, alpha, _)| (*code, (*alpha).to_owned())),
    )
}

#[test]
fn dry_run_lists_rows_the_ingester_would_reject() {
    let u = users();
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let text = file(&[
        row(0, 1, "1.00"),
        format!("nobody,{},1.00,USD,2025-07-07 01:03:41 UTC,pending", u[1]),
        row(1, 2, "12.345"),
        format!("{},{},5.00,USD,yesterday,pending", u[2], u[3]),
        format!("{},{},5.00,XYZ,2025-07-07 01:03:41 UTC,lost", u[2], u[3]),
        row(2, 3, "abc"),
        row(0, 1, "1.00"),
    ]);
    let summary = Analysis::new(&Options::default())
        .checked(&reference(), now)
        .run(text.as_bytes())
        .map(|(summary, _)| summary)
        .unwrap();
    assert_eq!(summary.invalid_rows, 5);
    let rows: Vec<u64> = summary.invalid.iter().map(|r| r.row).collect();
    assert_eq!(
        rows,
        [2, 3, 4, 5, 6],
        "the duplicate row 7 is not published"
    );
    let reasons = |row: u64| {
        summary
            .invalid
            .iter()
            .find(|r| r.row == row)
            .map(|r| r.reasons.join("; "))
            .unwrap_or_default()
    };
    assert!(reasons(2).contains("not a known user") && reasons(2).contains("nobody"));
    assert!(reasons(3).contains("amount"), "{}", reasons(3));
    assert!(reasons(4).contains("transaction_date"), "{}", reasons(4));
    assert!(reasons(5).contains("currency") && reasons(5).contains("status"));
    assert!(reasons(6).contains("amount"));
    assert_eq!(summary.invalid[0].values.username_sender, "nobody");

    // Without a dry run nothing is checked.
    assert_eq!(run(&text).unwrap().invalid_rows, 0);
}

/// Every row checked before anything is published: the invalid rows are left out of the
/// publishing pass, and the totals split the file into what is published and what is not,
/// spilled or not.
#[test]
fn validated_analysis_publishes_only_valid_rows_and_totals_add_up() {
    let u = users();
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let text = file(&[
        row(0, 1, "1.00"),
        format!("nobody,{},2.00,USD,2025-07-07 01:03:41 UTC,pending", u[1]),
        format!("{},{},5.50,eur,2025-07-07 01:03:41 UTC,pending", u[2], u[3]),
        row(2, 3, "\"1,000.00\""),
        row(0, 1, "1.00"),
        format!("nobody,{},2.00,USD,2025-07-07 01:03:41 UTC,pending", u[1]),
        row(1, 2, "9000.00"),
    ]);
    for options in [Options::default(), spilling(100, 1)] {
        let (summary, resolved) = Analysis::new(&options)
            .checked(&reference(), now)
            .run(text.as_bytes())
            .unwrap();
        assert_eq!((summary.unique, summary.invalid_rows), (5, 2));
        let import = ImportRef {
            import_id: Uuid::from_u128(7),
            source_file: "f.csv",
            sha256_hex: &summary.sha256,
            corrects: None,
        };
        let mut rows = Vec::new();
        publish_resolved(text.as_bytes(), &options, &import, &resolved, |e| {
            rows.push(e.row_number);
            Ok::<_, io::Error>(())
        })
        .unwrap();
        assert_eq!(
            rows,
            [1, 3, 7],
            "invalid rows 2 and 4 and the repeats are left out"
        );

        let t = &summary.totals;
        let figures = |totals: &payments_domain::Totals, c: &str| {
            totals
                .get(c)
                .map(|t| (t.rows, t.amount.to_string(), t.invalid_amounts))
        };
        assert_eq!(figures(&t.file, "USD"), Some((6, "9006.00".into(), 1)));
        assert_eq!(figures(&t.file, "EUR"), Some((1, "5.50".into(), 0)));
        assert_eq!(figures(&t.unique, "USD"), Some((4, "9003.00".into(), 1)));
        assert_eq!(figures(&t.invalid, "USD"), Some((2, "2.00".into(), 1)));
        assert_eq!(
            figures(&t.publishable, "USD"),
            Some((2, "9001.00".into(), 0))
        );
        assert_eq!(figures(&t.publishable, "EUR"), Some((1, "5.50".into(), 0)));
        assert_eq!(
            figures(&t.suspicious, "USD"),
            Some((1, "9000.00".into(), 0))
        );
    }
}

#[test]
fn summary_serialises() {
    let text = file(&[row(0, 0, "9000.00"), row(0, 0, "9000.00")]);
    let json = serde_json::to_value(run(&text).unwrap()).unwrap();
    assert_eq!(json["rows"], 2);
    assert_eq!(json["duplicates"][1]["first_row"], 1);
    assert_eq!(json["suspicious"][0]["reasons"][1], "self_payment");
}

/// Thousands of corrupted variants of a sample file: never a panic, and every accepted file's
/// counts add up, whatever the chunking.
#[test]
fn corrupted_files_never_panic() {
    let base = sample_csv(samples::SUSPICIOUS_DUPLICATED)
        .unwrap()
        .into_bytes();
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let refs = reference();
    let options = Options {
        max_field_bytes: 40,
        ..Options::default()
    };
    let mut state = 0x1234_5678_9abc_def1_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let noise = [b'"', b',', b'\n', b'\r', 0, 0xFF, 0xC3, b' ', b'x'];
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = base.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = noise[(next() as usize) % noise.len()],
                1 => bytes.insert(at, noise[(next() as usize) % noise.len()]),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let whole = Analysis::new(&options)
            .checked(&refs, now)
            .run(&bytes[..])
            .map(|(summary, _)| summary);
        let trickled = Analysis::new(&options)
            .run(Trickle(&bytes))
            .map(|(summary, _)| summary);
        match (&whole, &trickled) {
            (Ok(a), Ok(b)) => {
                accepted += 1;
                assert_eq!(a.rows, a.unique + a.duplicate_rows);
                assert_eq!(
                    (a.rows, a.unique, &a.duplicates),
                    (b.rows, b.unique, &b.duplicates)
                );
            }
            (Err(a), Err(b)) => {
                rejected += 1;
                assert_eq!(a.to_string(), b.to_string());
            }
            _ => panic!("chunking changed the outcome: {whole:?} vs {trickled:?}"),
        }
    }
    assert!(
        accepted > 100 && rejected > 100,
        "{accepted} accepted, {rejected} rejected"
    );
}

/// The old single-pass, in-memory path (what [`publish`] still uses): summary and events.
fn in_memory(text: &[u8], options: &Options) -> (Summary, Vec<ImportEvent>) {
    let sha = sha256_of(text).unwrap().sha256;
    let import = ImportRef {
        import_id: Uuid::from_u128(7),
        source_file: "f.csv",
        sha256_hex: &sha,
        corrects: None,
    };
    let mut out = Vec::new();
    let summary = publish(text, options, &import, |e| {
        out.push(e);
        Ok::<_, io::Error>(())
    })
    .unwrap();
    (summary, out)
}

/// The bounded path: an [`Analysis`], then [`publish_resolved`] over the same bytes.
fn bounded(text: &[u8], options: &Options) -> (Summary, Resolved, Vec<ImportEvent>) {
    let (summary, resolved) = Analysis::new(options).run(text).unwrap();
    let import = ImportRef {
        import_id: Uuid::from_u128(7),
        source_file: "f.csv",
        sha256_hex: &summary.sha256,
        corrects: None,
    };
    let mut out = Vec::new();
    let emitted = publish_resolved(text, options, &import, &resolved, |e| {
        out.push(e);
        Ok::<_, io::Error>(())
    })
    .unwrap();
    assert_eq!(emitted, summary.unique);
    (summary, resolved, out)
}

fn spilling(max_listed: usize, memory_rows: usize) -> Options {
    Options {
        max_listed,
        memory_rows,
        spill_dir: Some(std::env::temp_dir()),
        ..Options::default()
    }
}

#[test]
fn many_copies_of_one_row_spilled() {
    let a = row(0, 1, "1.00");
    let mut rows: Vec<String> = (0..50_000).map(|_| a.clone()).collect();
    rows.push(row(1, 2, "2.00"));
    rows.push(a.clone());
    rows.push(row(2, 3, "3.00"));
    let text = file(&rows);
    let options = spilling(100, 1000);
    let (summary, resolved, events) = bounded(text.as_bytes(), &options);
    assert_eq!(
        (summary.rows, summary.unique, summary.duplicate_rows),
        (50_003, 3, 50_000)
    );
    assert!(!resolved.is_duplicate(1));
    assert!((2..=50_000).all(|r| resolved.is_duplicate(r)));
    assert!(!resolved.is_duplicate(50_001));
    assert!(resolved.is_duplicate(50_002));
    assert!(!resolved.is_duplicate(50_003));
    let listed: Vec<(u64, u64)> = summary
        .duplicates
        .iter()
        .map(|d| (d.row, d.first_row))
        .collect();
    assert_eq!(listed, (1..=100).map(|r| (r, 1)).collect::<Vec<_>>());
    assert!(summary.duplicates.iter().all(|d| d.values.amount == "1.00"));
    assert!(summary.lists_truncated);
    let published: Vec<u64> = events.iter().map(|e| e.row_number).collect();
    assert_eq!(published, [1, 50_001, 50_003]);
    assert_eq!(summary, in_memory(text.as_bytes(), &options).0);
}

#[test]
fn suspicious_counts_are_exact_when_suspicious_rows_repeat() {
    let big = row(0, 1, "9000.00");
    let own = row(2, 2, "1.00");
    let plain = row(1, 2, "2.00");
    let other_big = row(3, 4, "8000.01");
    let text = file(&[
        big.clone(),       // 1 suspicious
        big.clone(),       // 2 duplicate
        plain.clone(),     // 3
        own.clone(),       // 4 suspicious
        big.clone(),       // 5 duplicate
        own.clone(),       // 6 duplicate
        other_big.clone(), // 7 suspicious
        plain.clone(),     // 8 duplicate
        other_big.clone(), // 9 duplicate
    ]);
    for (max_listed, memory_rows) in [(10_000, 1 << 18), (10_000, 2), (2, 1), (1, 3), (0, 1)] {
        let options = spilling(max_listed, memory_rows);
        let (summary, _, events) = bounded(text.as_bytes(), &options);
        assert_eq!(summary.suspicious_rows, 3);
        assert_eq!(summary.duplicate_rows, 5);
        let flagged: Vec<u64> = summary.suspicious.iter().map(|s| s.row).collect();
        let expected = [1u64, 4, 7];
        assert_eq!(flagged, expected[..max_listed.min(3)]);
        assert_eq!(summary.lists_truncated, max_listed < 6);
        let suspicious: Vec<u64> = events
            .iter()
            .filter(|e| e.suspicious)
            .map(|e| e.row_number)
            .collect();
        assert_eq!(suspicious, [1, 4, 7]);
        let (old, old_events) = in_memory(text.as_bytes(), &options);
        assert_eq!(summary, old);
        assert_eq!(events, old_events);
    }
}

/// Random files with many repeats, spilled or not, with and without capped lists: the bounded
/// path gives exactly the in-memory path's summary and events; dry runs agree too.
#[test]
fn bounded_and_in_memory_paths_agree_on_random_files() {
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let refs = reference();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let amounts = ["1.00", "8000", "8000.01", "12.345", "abc", "99999"];
    for round in 0..24 {
        let n = 1 + (next() % 3000) as usize;
        let pool = 1 + (next() % 400) as usize;
        let u = users();
        let distinct: Vec<String> = (0..pool)
            .map(|_| {
                let a = (next() % 5) as usize;
                let b = (next() % 5) as usize;
                let amount = amounts[(next() as usize) % amounts.len()];
                let day = 1 + next() % 9;
                format!(
                    "{},{},{amount},USD,2025-07-0{day} 01:03:41 UTC,completed",
                    u[a], u[b]
                )
            })
            .collect();
        let rows: Vec<String> = (0..n)
            .map(|_| distinct[(next() as usize) % pool].clone())
            .collect();
        let text = file(&rows);
        let max_listed = [0, 1, 7, 10_000][round % 4];
        let memory_rows = [1, 5, 64, 1 << 18][(round / 4) % 4];
        let options = spilling(max_listed, memory_rows);
        let (summary, resolved, events) = bounded(text.as_bytes(), &options);
        let (old, old_events) = in_memory(text.as_bytes(), &options);
        assert_eq!(summary, old, "round {round}: {n} rows, pool {pool}");
        assert_eq!(events, old_events, "round {round}");
        assert_eq!(resolved.rows(), summary.rows);
        let dry = Analysis::new(&options)
            .checked(&refs, now)
            .run(text.as_bytes())
            .map(|(summary, _)| summary)
            .unwrap();
        let dry_in_memory = Analysis::new(&spilling(max_listed, 1 << 20))
            .checked(&refs, now)
            .run(text.as_bytes())
            .unwrap()
            .0;
        assert_eq!(dry, dry_in_memory, "round {round}");
        assert_eq!(dry.unique, summary.unique);
        assert!(dry.invalid_rows <= dry.unique);
        assert!(dry.invalid.iter().all(|i| !resolved.is_duplicate(i.row)));
    }
}

#[test]
fn publish_resolved_refuses_another_file() {
    let text = file(&[row(0, 1, "1.00"), row(0, 1, "1.00")]);
    let other = file(&[row(0, 1, "1.00"), row(0, 1, "2.00")]);
    let (summary, resolved) = Analysis::new(&Options::default())
        .run(text.as_bytes())
        .unwrap();
    let import = ImportRef {
        import_id: Uuid::nil(),
        source_file: "f.csv",
        sha256_hex: &summary.sha256,
        corrects: None,
    };
    let result = publish_resolved(
        other.as_bytes(),
        &Options::default(),
        &import,
        &resolved,
        |_| Ok::<_, io::Error>(()),
    );
    assert!(matches!(result, Err(ImportError::Sha256Mismatch { .. })));
    let other_sha = sha256_of(other.as_bytes()).unwrap().sha256;
    let wrong = ImportRef {
        sha256_hex: &other_sha,
        ..import
    };
    let result = publish_resolved(
        other.as_bytes(),
        &Options::default(),
        &wrong,
        &resolved,
        |_| Ok::<_, io::Error>(()),
    );
    assert!(matches!(result, Err(ImportError::Sha256Mismatch { .. })));
}

/// A correction: `row_number` names the corrected file's row; a row's transaction id is that
/// row's, so it lands once however often it is corrected; rows naming a row that may not be
/// corrected, or none, are refused; equal values for two rows are two payments.
#[test]
fn a_correction_replaces_the_rows_it_names() {
    let u = users();
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let line = |row: &str, amount: &str| {
        format!(
            "{row},was wrong,{},{},{amount},USD,2025-07-07 01:03:41 UTC,completed",
            u[0], u[1]
        )
    };
    let text = format!(
        "row_number,reason,{HEADER}\n{}\n{}\n{}\n{}\n{}\n",
        line("4", "1.00"),
        line("9", "1.00"),
        line("2", "3.00"),
        line("x", "1.00"),
        line("5", "abc"),
    );
    let options = Options {
        correction: true,
        ..Options::default()
    };
    let allowed = |row: u64| [2, 4, 5, 9].contains(&row) && row != 2;
    let refs = reference();
    let (summary, resolved) = Analysis::new(&options)
        .checked(&refs, now)
        .corrections(&allowed)
        .run(text.as_bytes())
        .unwrap();
    assert_eq!(
        summary.duplicate_rows, 0,
        "rows 1 and 2 correct two different rows"
    );
    let invalid: Vec<(u64, String)> = summary
        .invalid
        .iter()
        .map(|r| (r.row, r.reasons[0].clone()))
        .collect();
    assert_eq!(invalid.len(), 3, "{invalid:?}");
    assert!(
        invalid[0].1.contains("row 2 of the corrected import"),
        "{invalid:?}"
    );
    assert!(invalid[1].1.contains("`row_number`"), "{invalid:?}");
    assert!(invalid[2].1.contains("amount"), "{invalid:?}");
    let import = ImportRef {
        import_id: Uuid::from_u128(9),
        source_file: "fix.csv",
        sha256_hex: &summary.sha256,
        corrects: Some("c0ffee"),
    };
    let mut events = Vec::new();
    publish_resolved(text.as_bytes(), &options, &import, &resolved, |e| {
        events.push((e.row_number, e.transaction_id));
        Ok::<_, io::Error>(())
    })
    .unwrap();
    let id = payments_domain::event::import_transaction_id;
    assert_eq!(events, [(1, id("c0ffee", 4)), (2, id("c0ffee", 9))]);

    // Without the option the extra columns are unknown ones.
    let e = Analysis::new(&Options::default())
        .run(text.as_bytes())
        .map(|(summary, _)| summary)
        .unwrap_err();
    assert!(e.to_string().contains("row_number"), "{e}");
}

/// The rows' records are kept by a thread of their own: its failure to spill is the analysis'
/// error, and a bad row after many batches still stops the analysis with that row's error
/// (the thread is ended, not waited on forever).
#[test]
fn the_spill_thread_reports_its_error_and_ends_with_the_analysis() {
    let rows = 20_000;
    let good = samples::large_csv(rows);
    let nowhere = Options {
        memory_rows: 1,
        spill_dir: Some(std::env::temp_dir().join("payments-no-such-directory")),
        ..Options::default()
    };
    match Analysis::new(&nowhere).run(&good[..]) {
        Err(ImportError::Scratch(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
        other => panic!(
            "expected the spill's error, got {:?}",
            other.map(|(s, _)| s)
        ),
    }

    // Row 15,000 has a seventh field: many batches have gone to the thread by then.
    let text = String::from_utf8(good).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let bad = format!("{},extra", lines[15_000]);
    lines[15_000] = &bad;
    let bad_file = lines.join("\n") + "\n";
    for memory_rows in [1, 1 << 14, rows + 1] {
        let options = spilling(10, memory_rows);
        let result = Analysis::new(&options).run(bad_file.as_bytes());
        let (at, problem, _) = malformed_at(result.map(|(summary, _)| summary));
        assert_eq!(at, Location::Row(15_000));
        assert!(matches!(problem, Malformed::FieldCount { found: 7, .. }));
    }
}
