//! The timestamp parser on arbitrary text: an error or an instant no more than a day ahead of
//! `now`, never a panic; the CSV form it prints reads back as the same second.
#![no_main]

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use libfuzzer_sys::fuzz_target;
use payments_domain::time::{format_csv_timestamp, parse_timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now: DateTime<Utc> = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    if let Ok(t) = parse_timestamp(text, now) {
        assert!(t <= now + TimeDelta::days(1));
        // Years outside four digits print with a sign, which no input form uses.
        if (1000..=9999).contains(&t.year()) {
            let back = parse_timestamp(&format_csv_timestamp(t), now).expect("own format");
            assert_eq!(back, t.with_nanosecond(0).unwrap());
        }
    }
});
