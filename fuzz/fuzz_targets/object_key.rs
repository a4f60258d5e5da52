//! The object-key sanitiser on arbitrary file names and instants: the key stays inside the
//! bucket's top level whatever the browser sent.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use payments_domain::object_key::{object_key, MAX_KEY_BYTES};

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose the instant, the rest is the file name.
    let (seconds, name) = match data.split_first_chunk::<8>() {
        Some((head, rest)) => (i64::from_le_bytes(*head), rest),
        None => (0, data),
    };
    let at = DateTime::from_timestamp(seconds, 0).unwrap_or_default();
    let name = String::from_utf8_lossy(name);
    let key = object_key(&name, at);
    assert!(!key.is_empty());
    assert!(key.len() <= MAX_KEY_BYTES, "{} bytes: {key:?}", key.len());
    assert!(!key.starts_with('/'), "{key:?}");
    assert!(!key.contains('/') && !key.contains('\\'), "{key:?}");
    assert!(
        !key.split('/')
            .any(|segment| segment == ".." || segment == "."),
        "{key:?}"
    );
    assert!(!key.contains(".."), "{key:?}");
    assert!(!key.chars().any(char::is_control), "{key:?}");
    assert!(key.ends_with(".csv"), "{key:?}");
});
