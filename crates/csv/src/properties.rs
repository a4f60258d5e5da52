//! Property tests of the analyser over generated files (the `csv_analyse` fuzz target explores
//! arbitrary bytes far longer; these run in every `cargo test`, so case counts stay modest).

use std::collections::HashSet;

use proptest::prelude::*;

use crate::{analyse, Options, COLUMNS};

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
        let summary = analyse(bytes.as_slice(), &options).unwrap();
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
