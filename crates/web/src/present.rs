//! How values read to a person on the pages: times, counts with their noun, and reasons with
//! their field names set apart. The JSON API and the downloads keep the machine forms
//! (RFC 3339, the reasons' text as the checks wrote it).

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::{Environment, Value};
pub(crate) use payments_domain::words::{count, readable};

/// The exact instant, for a tooltip: "Thursday 3 December 2026, 00:19:43.357 UTC".
pub(crate) fn exact(at: DateTime<Utc>) -> String {
    at.format("%A %-d %B %Y, %H:%M:%S%.3f UTC").to_string()
}

/// How long ago, for times within the last week ("4 min ago"); older or future times get none.
pub(crate) fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
    let seconds = (now - at).num_seconds();
    // A clock a little ahead of the database's still reads as now.
    if seconds < -60 {
        return None;
    }
    Some(match seconds {
        ..60 => "just now".to_owned(),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        86_400..604_800 => format!("{} ago", count(seconds / 86_400, "day")),
        _ => return None,
    })
}

/// Text escaped for HTML, attributes included.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

/// A reason as HTML: the names the checks quote in backticks (`` `amount` must be…``) become
/// `<code>` elements, everything else is escaped text. A backtick without its pair is dropped.
pub(crate) fn reason_html(text: &str) -> String {
    let pieces: Vec<&str> = text.split('`').collect();
    let paired = pieces.len() % 2 == 1;
    let mut html = String::with_capacity(text.len() + 16);
    for (i, piece) in pieces.iter().enumerate() {
        let quoted = i % 2 == 1 && (paired || i + 1 < pieces.len());
        if quoted && !piece.is_empty() {
            html.push_str("<code>");
            html.push_str(&escape(piece));
            html.push_str("</code>");
        } else {
            html.push_str(&escape(piece));
        }
    }
    html
}

/// A time as HTML: the readable UTC time in a `<time>` element carrying the exact instant
/// (`datetime`, RFC 3339) and a tooltip, then how long ago for recent ones. `/static/time.js`
/// may rewrite the text in the reader's own time zone.
pub(crate) fn time_html(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let mut html = format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        escape(&exact(at)),
        escape(&readable(at)),
    );
    if let Some(ago) = ago(at, now) {
        html.push_str(&format!(" <span class=\"ago\">({})</span>", escape(&ago)));
    }
    html
}

/// An instant as the templates get it: serialised by chrono as RFC 3339.
fn parse(value: &str) -> Result<DateTime<Utc>, minijinja::Error> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("{value:?} is not a time: {e}"),
            )
        })
}

/// The filters every template may use:
/// - `when`: an instant (or none) as [`time_html`];
/// - `day`: an instant as its readable UTC time, without markup (attributes, titles);
/// - `count(noun)`: a number with its noun, singular or plural;
/// - `reason`: a reason's text as [`reason_html`].
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("when", |value: Option<String>| -> Result<Value, _> {
        Ok(match value {
            Some(text) => Value::from_safe_string(time_html(parse(&text)?, Utc::now())),
            None => Value::from(""),
        })
    });
    env.add_filter("readable", |value: String| -> Result<String, _> {
        Ok(readable(parse(&value)?))
    });
    env.add_filter("count", |n: i64, noun: String| count(n, &noun));
    env.add_filter("reason", |text: Option<String>| {
        Value::from_safe_string(reason_html(text.as_deref().unwrap_or_default()))
    });
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 0, 19, 43).unwrap()
            + chrono::Duration::microseconds(357_870)
    }

    #[test]
    fn times_read_in_utc_with_the_zone_named() {
        assert_eq!(readable(at()), "3 Dec 2026, 00:19 UTC");
        assert_eq!(exact(at()), "Thursday 3 December 2026, 00:19:43.357 UTC");
    }

    #[test]
    fn recent_times_say_how_long_ago() {
        let minutes = |m| at() + chrono::Duration::minutes(m);
        assert_eq!(ago(at(), at()).as_deref(), Some("just now"));
        assert_eq!(ago(at(), minutes(4)).as_deref(), Some("4 min ago"));
        assert_eq!(ago(at(), minutes(61)).as_deref(), Some("1 h ago"));
        assert_eq!(ago(at(), minutes(60 * 24)).as_deref(), Some("1 day ago"));
        assert_eq!(
            ago(at(), minutes(60 * 24 * 3)).as_deref(),
            Some("3 days ago")
        );
        assert_eq!(ago(at(), minutes(60 * 24 * 8)), None);
        assert_eq!(ago(minutes(5), at()), None, "the future");
    }

    #[test]
    fn the_time_element_carries_the_exact_instant() {
        let html = time_html(at(), at() + chrono::Duration::minutes(4));
        assert_eq!(
            html,
            "<time datetime=\"2026-12-03T00:19:43.357870Z\" \
             title=\"Thursday 3 December 2026, 00:19:43.357 UTC\">3 Dec 2026, 00:19 UTC</time> \
             <span class=\"ago\">(4 min ago)</span>"
        );
    }

    #[test]
    fn quoted_names_become_code_and_the_rest_is_escaped() {
        assert_eq!(
            reason_html("`amount` must be a number, got \"<b>\""),
            "<code>amount</code> must be a number, got &quot;&lt;b&gt;&quot;"
        );
        assert_eq!(
            reason_html("`<script>` and `x`"),
            "<code>&lt;script&gt;</code> and <code>x</code>"
        );
        assert_eq!(reason_html("a lone ` tick"), "a lone  tick");
        assert_eq!(reason_html("no names"), "no names");
    }
}
