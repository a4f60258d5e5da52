//! The CSV analyser on arbitrary bytes: it may refuse a file (`Err`) but must never panic, and a
//! file it accepts must add up. Every 16th input (by length) is also analysed with a tiny
//! in-memory budget so the spill-to-disk path is fuzzed too and must agree with the in-memory one.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use payments_csv::{Analysis, Options, Summary};
use payments_domain::demo::{demo_users, CURRENCIES};
use payments_domain::ReferenceData;

fn check(summary: &Summary) {
    assert_eq!(summary.unique + summary.duplicate_rows, summary.rows);
    assert!(summary.suspicious_rows <= summary.unique);
    assert!(summary.suspicious.len() as u64 <= summary.suspicious_rows);
    assert!(summary.duplicates.iter().all(|d| d.first_row <= d.row));
}

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    let Ok((summary, _)) = Analysis::new(&options).run(data) else {
        return;
    };
    check(&summary);

    let refs = ReferenceData::new(
        demo_users().into_iter().map(|u| (u.user_id, u.username)),
        CURRENCIES.iter().map(|(c, a, _)| (*c, (*a).to_owned())),
    );
    let now: DateTime<Utc> = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let (dry, _) = Analysis::new(&options)
        .checked(&refs, now)
        .run(data)
        .expect("a checked analysis refused a file the plain one accepted");
    check(&dry);
    assert_eq!(
        (dry.rows, dry.unique, dry.suspicious_rows, &dry.duplicates),
        (
            summary.rows,
            summary.unique,
            summary.suspicious_rows,
            &summary.duplicates
        )
    );
    assert!(dry.invalid_rows <= dry.unique);

    if data.len().is_multiple_of(16) {
        let spilling = Options {
            memory_rows: 2,
            ..Options::default()
        };
        let (spilled, _) = Analysis::new(&spilling)
            .run(data)
            .expect("spilling refused a file the analysis accepted");
        assert_eq!(spilled, summary);
    }
});
