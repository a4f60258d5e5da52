//! Property tests of the analyser over generated files (the `csv_analyse` fuzz target explores
//! arbitrary bytes far longer; these run in every `cargo test`, so case counts stay modest).

use std::collections::HashSet;

use proptest::prelude::*;

use crate::{Analysis, Options, COLUMNS};

/// A value from a small pool, so distinct rows collide by chance as well as on purpose; some
/// need quoting (comma, quote, newline) and some are not ASCII.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ada5231",
            "bruno4150",
            "",
            " ",
            "10.00",
            "9000.01",
            "USD"
        ])
        .prop_map(str::to_owned),
        r#"[a-z0-9 ,"\né.]{0,6}"#,
    ]
}

fn row() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(value(), COLUMNS.len())
}

/// Distinct-or-not rows, then some of them repeated at random places.
fn rows() -> impl Strategy<Value = Vec<Vec<String>>> {
    (
        prop::collection::vec(row(), 1..40),
        prop::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
            0..20,
        ),
    )
        .prop_map(|(mut rows, copies)| {
            for (from, to) in copies {
                let copy = rows[from.index(rows.len())].clone();
                let at = to.index(rows.len() + 1);
                rows.insert(at, copy);
            }
            rows
        })
}

fn write(rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    writer.write_record(COLUMNS).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.into_inner().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn unique_plus_duplicates_is_rows(rows in rows(), spill in any::<bool>()) {
        let bytes = write(&rows);
        // A tiny memory budget sends the same file through the spill-to-disk path.
        let options = Options {
            memory_rows: if spill { 3 } else { Options::default().memory_rows },
            ..Options::default()
        };
        let summary = Analysis::new(&options).run(bytes.as_slice()).map(|(summary, _)| summary).unwrap();
        let distinct: HashSet<&Vec<String>> = rows.iter().collect();
        prop_assert_eq!(summary.rows, rows.len() as u64);
        prop_assert_eq!(summary.unique + summary.duplicate_rows, summary.rows);
        prop_assert_eq!(summary.unique, distinct.len() as u64);
        // Every listed duplicate points at an earlier, identical first occurrence.
        for d in &summary.duplicates {
            prop_assert!(d.first_row <= d.row);
            prop_assert_eq!(&rows[(d.row - 1) as usize], &rows[(d.first_row - 1) as usize]);
        }
    }
}

/// A field for the row checks: valid values, each way of being wrong, and noise.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ada5231",
            "bruno4150",
            "nobody",
            "10.00",
            "1e3",
            "-5",
            "1,000.00",
            "0.001",
            "99999999999",
            "USD",
            "usd",
            "XYZ",
            "2025-07-07 01:03:41 UTC",
            "2025-07-07T01:03:41Z",
            "2999-01-01T00:00:00Z",
            "yesterday",
            "completed",
            "lost",
            "",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9 .:-]{0,12}",
        "x{500,520}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The importer's row checks say exactly what the ingester says of the same row as a
    /// record: the same problems, in the same order.
    #[test]
    fn row_checks_agree_with_the_ingester(fields in prop::collection::vec(field(), 6)) {
        let values = payments_domain::ImportFields::from_columns(std::array::from_fn(|i| fields[i].as_str()));
        let refs = crate::tests::reference();
        let now: chrono::DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let import = crate::ImportRef {
            import_id: uuid::Uuid::from_u128(1),
            source_file: "f.csv",
            sha256_hex: "00",
            corrects: None,
        };
        let record = serde_json::to_vec(&crate::analyse::event(&import, 1, &values, false, None)).unwrap();
        let ingester = payments_domain::validate(&record, payments_domain::Source::Import, &refs, now)
            .err()
            .map(|r| r.problems.iter().map(ToString::to_string).collect::<Vec<_>>());
        prop_assert_eq!(crate::row_problems(&values, &refs, now), ingester);
    }
}
