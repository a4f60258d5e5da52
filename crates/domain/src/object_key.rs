//! Object keys of uploaded files: the sanitising of a browser-sent file name, pure so it can be
//! fuzzed and property-tested without the S3 client (`payments-objectstore` re-exports it).

use chrono::{DateTime, Utc};

/// Longest stem kept from a file name; the whole key stays under [`MAX_KEY_BYTES`].
const MAX_STEM_CHARS: usize = 100;
/// Upper bound of a key's length: the stem, `_`, a timestamp (a year may have up to 6 digits
/// and a sign) and `.csv`.
pub const MAX_KEY_BYTES: usize = MAX_STEM_CHARS + 1 + 18 + 4;

/// The original platform's naming, `<stem>_<YYYYmmdd_HHMMSS>.csv`, from a file name a browser
/// sent: any directory part is dropped and only `[A-Za-z0-9._-]` is kept, so a name such as
/// `../../x.csv` can never address anything outside the bucket's top level.
pub fn object_key(file_name: &str, at: DateTime<Utc>) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = base
        .strip_suffix(".csv")
        .or_else(|| base.strip_suffix(".CSV"))
        .unwrap_or(base);
    let mut clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    clean = clean.trim_matches('_').to_owned();
    clean.truncate(MAX_STEM_CHARS);
    if clean.is_empty() {
        clean.push_str("upload");
    }
    format!("{clean}_{}.csv", at.format("%Y%m%d_%H%M%S"))
}

/// The key of one import's stored copy: [`object_key`] with the first 8 hex digits of the
/// import's id, `<stem>_<YYYYmmdd_HHMMSS>_<8 hex>.csv`. Without them two uploads of one file
/// name in the same second would share a key, and the second would overwrite the first's copy.
pub fn import_object_key(file_name: &str, at: DateTime<Utc>, import_id: uuid::Uuid) -> String {
    let key = object_key(file_name, at);
    let stem = key.strip_suffix(".csv").unwrap_or(&key);
    let id = import_id.simple().to_string();
    format!("{stem}_{}.csv", &id[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2025-07-07T01:03:41Z".parse().unwrap()
    }

    #[test]
    fn keys_follow_the_original_naming() {
        assert_eq!(
            object_key("huge_load_transactions.csv", at()),
            "huge_load_transactions_20250707_010341.csv"
        );
    }

    #[test]
    fn keys_cannot_escape_the_bucket() {
        assert_eq!(object_key("../../x.csv", at()), "x_20250707_010341.csv");
        assert_eq!(
            object_key("..\\..\\evil.csv", at()),
            "evil_20250707_010341.csv"
        );
        assert_eq!(
            object_key("/etc/passwd", at()),
            "passwd_20250707_010341.csv"
        );
        assert_eq!(object_key("..", at()), "upload_20250707_010341.csv");
        assert_eq!(object_key("", at()), "upload_20250707_010341.csv");
        assert_eq!(
            object_key("my file (1).csv", at()),
            "my_file__1_20250707_010341.csv"
        );
        assert_eq!(
            object_key("<script>.csv", at()),
            "script_20250707_010341.csv"
        );
        let long = "a".repeat(1000);
        assert!(object_key(&long, at()).len() < 130);
    }

    #[test]
    fn two_imports_of_one_name_in_one_second_have_two_keys() {
        let first = uuid::Uuid::parse_str("0123456789abcdef0123456789abcdef").unwrap();
        let second = uuid::Uuid::parse_str("fedcba9876543210fedcba9876543210").unwrap();
        assert_eq!(
            import_object_key("a.csv", at(), first),
            "a_20250707_010341_01234567.csv"
        );
        assert_ne!(
            import_object_key("a.csv", at(), first),
            import_object_key("a.csv", at(), second)
        );
        let long = "a".repeat(1000);
        assert!(import_object_key(&long, at(), first).len() <= 130);
    }
}
