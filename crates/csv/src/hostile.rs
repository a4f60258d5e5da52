//! The hostile-input corpus `csvs/hostile/`: every file there must have its verdict in
//! `csvs/hostile/expected.json` (accepted with its counts, or refused with the place and reason),
//! and the analyser must reach exactly that verdict.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use payments_domain::demo::{demo_users, CURRENCIES};
use payments_domain::ReferenceData;
use serde_json::{json, Map, Value};

use crate::{Analysis, Options};

const MANIFEST: &str = "expected.json";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../csvs/hostile")
}

/// What the analyser makes of `bytes`, in the manifest's shape. Accepted files also go through
/// the dry run (demo users and currencies, a fixed `now`) so rows the ingester would refuse one
/// by one (bad amounts, unknown users, future dates) are counted too.
fn verdict(bytes: &[u8]) -> Value {
    let options = Options::default();
    match Analysis::new(&options)
        .run(bytes)
        .map(|(summary, _)| summary)
    {
        Ok(summary) => {
            let refs = ReferenceData::new(
                demo_users().into_iter().map(|u| (u.user_id, u.username)),
                CURRENCIES
                    .iter()
                    .map(|(code, alpha, _)| (*code, (*alpha).to_owned())),
            );
            let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
            let dry = Analysis::new(&options)
                .checked(&refs, now)
                .run(bytes)
                .map(|(summary, _)| summary)
                .unwrap();
            assert_eq!(
                (
                    dry.rows,
                    dry.unique,
                    dry.duplicate_rows,
                    dry.suspicious_rows
                ),
                (
                    summary.rows,
                    summary.unique,
                    summary.duplicate_rows,
                    summary.suspicious_rows
                )
            );
            json!({
                "verdict": "accepted",
                "rows": summary.rows,
                "unique": summary.unique,
                "duplicates": summary.duplicate_rows,
                "suspicious": summary.suspicious_rows,
                "invalid": dry.invalid_rows,
                "invalid_rows": dry.invalid.iter().map(|r| r.row).collect::<Vec<_>>(),
            })
        }
        Err(e) => json!({
            "verdict": "refused",
            "at": e.location().map(|l| l.to_string()),
            "reason": e.to_string(),
        }),
    }
}

#[test]
fn every_hostile_file_gets_its_expected_verdict() {
    let manifest: Value = serde_json::from_slice(
        &fs::read(dir().join(MANIFEST)).expect("csvs/hostile/expected.json"),
    )
    .expect("csvs/hostile/expected.json is JSON");
    let expected: &Map<String, Value> = manifest["files"].as_object().expect("a `files` object");
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name != MANIFEST {
            files.insert(name, fs::read(&path).unwrap());
        }
    }
    assert!(
        files.len() >= 20,
        "the corpus lost files: {:?}",
        files.keys()
    );

    let mut problems = Vec::new();
    for (name, bytes) in &files {
        let actual = verdict(bytes);
        match expected.get(name) {
            None => problems.push(format!("{name}: no expected verdict; it gets {actual}")),
            Some(want) => {
                // `why` documents the file for people; the rest must match exactly.
                let mut want = want.clone();
                want.as_object_mut().unwrap().remove("why");
                if want != actual {
                    problems.push(format!("{name}: expected {want}, got {actual}"));
                }
            }
        }
    }
    for name in expected.keys() {
        if !files.contains_key(name) {
            problems.push(format!("{name}: in the manifest but not in csvs/hostile/"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
