//! How numbers and times read in the sentences people are shown, wherever they are shown (web
//! pages, the JSON API's messages, the CLI, the PaymentImport status).

use chrono::{DateTime, Utc};

/// "3 Dec 2026, 00:19 UTC": always UTC, with the zone named, so two people reading the same
/// message read the same time.
pub fn readable(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// `n` and its noun, in the singular for one: "1 row", "2 rows", "0 currencies".
pub fn count(n: impl Into<i128>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

/// The verb after a count: "1 row was", "2 rows were".
pub fn was(n: impl Into<i128>) -> &'static str {
    if n.into() == 1 {
        "was"
    } else {
        "were"
    }
}

/// The plural of an English noun phrase (its last word): "row" → "rows", "currency" →
/// "currencies", "invalid amount" → "invalid amounts".
fn plural(noun: &str) -> String {
    let consonant_y =
        noun.ends_with('y') && !noun[..noun.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u']);
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if noun.ends_with(['s', 'x']) || noun.ends_with("ch") || noun.ends_with("sh") {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "row"), "1 row");
        assert_eq!(count(2, "row"), "2 rows");
        assert_eq!(count(0, "row"), "0 rows");
        assert_eq!(count(1u64, "invalid amount"), "1 invalid amount");
        assert_eq!(count(3, "invalid amount"), "3 invalid amounts");
        assert_eq!(count(2, "currency"), "2 currencies");
        assert_eq!(count(2, "day"), "2 days");
        assert_eq!(count(2, "match"), "2 matches");
    }

    #[test]
    fn times_read_in_utc_to_the_minute() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T00:19:43.357870Z")
            .expect("a time")
            .with_timezone(&Utc);
        assert_eq!(readable(at), "3 Dec 2026, 00:19 UTC");
    }
}
