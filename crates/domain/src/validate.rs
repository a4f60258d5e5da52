//! Turns one raw record into a [`Payment`] or a [`Rejection`] that says exactly what is wrong.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::{IMPORT_OPTIONAL_KEYS, IMPORT_REQUIRED_KEYS, STREAM_KEYS};
use crate::fields::ImportFields;
use crate::money::{self, shorten, AmountError};
use crate::reference::ReferenceData;
use crate::time::{parse_timestamp, TimestampError};

/// Records larger than this are refused before parsing; no valid record comes close.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest text accepted in any field (usernames, file names, statuses, ...).
pub const MAX_TEXT_BYTES: usize = 512;

/// `transactions.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Completed,
    Failed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Completed, Status::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Where a record came from: its topic, and so its wire format; stored as
/// `transactions.source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `payments-events`: ids and numeric currency codes.
    Stream,
    /// `import-payments-events`: usernames and alphabetic currency codes.
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stream => "stream",
            Source::Import => "import",
        }
    }
}

/// A validated payment, ready to be written to `transactions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub transaction_id: Uuid,
    pub sender_id: Uuid,
    pub receiver_id: Uuid,
    pub amount: Decimal,
    pub currency_code: i32,
    pub transaction_date: DateTime<Utc>,
    pub status: Status,
    pub source: Source,
    pub import_id: Option<Uuid>,
    pub import_row: Option<i64>,
    pub suspicious: bool,
}

/// One thing wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    TooLarge {
        bytes: usize,
    },
    NotUtf8 {
        valid_up_to: usize,
    },
    NotJson(String),
    NotObject(&'static str),
    MissingKey(&'static str),
    UnknownKey(String),
    WrongType {
        key: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    TooLong {
        key: &'static str,
        bytes: usize,
    },
    BadUuid {
        key: &'static str,
        value: String,
    },
    UnknownUser {
        key: &'static str,
        value: String,
    },
    UnknownCurrency(String),
    BadStatus(String),
    BadAmount(AmountError),
    BadTimestamp {
        key: &'static str,
        error: TimestampError,
    },
    BadRowNumber(String),
}

/// The kind of a refusal, without its details: few values, for metrics and grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    TooLarge,
    NotUtf8,
    NotJson,
    NotObject,
    MissingKey,
    UnknownKey,
    WrongType,
    TooLong,
    BadUuid,
    UnknownUser,
    UnknownCurrency,
    BadStatus,
    BadAmount,
    BadTimestamp,
    BadRowNumber,
    /// Valid, but PostgreSQL refused the row (a constraint checked only there).
    Database,
}

impl RejectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::TooLarge => "too_large",
            RejectKind::NotUtf8 => "not_utf8",
            RejectKind::NotJson => "not_json",
            RejectKind::NotObject => "not_object",
            RejectKind::MissingKey => "missing_key",
            RejectKind::UnknownKey => "unknown_key",
            RejectKind::WrongType => "wrong_type",
            RejectKind::TooLong => "too_long",
            RejectKind::BadUuid => "bad_uuid",
            RejectKind::UnknownUser => "unknown_user",
            RejectKind::UnknownCurrency => "unknown_currency",
            RejectKind::BadStatus => "bad_status",
            RejectKind::BadAmount => "bad_amount",
            RejectKind::BadTimestamp => "bad_timestamp",
            RejectKind::BadRowNumber => "bad_row_number",
            RejectKind::Database => "database",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Invalid {
    pub fn kind(&self) -> RejectKind {
        match self {
            Invalid::TooLarge { .. } => RejectKind::TooLarge,
            Invalid::NotUtf8 { .. } => RejectKind::NotUtf8,
            Invalid::NotJson(_) => RejectKind::NotJson,
            Invalid::NotObject(_) => RejectKind::NotObject,
            Invalid::MissingKey(_) => RejectKind::MissingKey,
            Invalid::UnknownKey(_) => RejectKind::UnknownKey,
            Invalid::WrongType { .. } => RejectKind::WrongType,
            Invalid::TooLong { .. } => RejectKind::TooLong,
            Invalid::BadUuid { .. } => RejectKind::BadUuid,
            Invalid::UnknownUser { .. } => RejectKind::UnknownUser,
            Invalid::UnknownCurrency(_) => RejectKind::UnknownCurrency,
            Invalid::BadStatus(_) => RejectKind::BadStatus,
            Invalid::BadAmount(_) => RejectKind::BadAmount,
            Invalid::BadTimestamp { .. } => RejectKind::BadTimestamp,
            Invalid::BadRowNumber(_) => RejectKind::BadRowNumber,
        }
    }

    /// Whether reloading users and currencies might make the record valid.
    pub fn is_reference_miss(&self) -> bool {
        matches!(
            self,
            Invalid::UnknownUser { .. } | Invalid::UnknownCurrency(_)
        )
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::TooLarge { bytes } => {
                write!(
                    f,
                    "record is {bytes} bytes, over the limit of {MAX_PAYLOAD_BYTES}"
                )
            }
            Invalid::NotUtf8 { valid_up_to } => {
                write!(
                    f,
                    "record is not valid UTF-8 (invalid byte at offset {valid_up_to})"
                )
            }
            Invalid::NotJson(e) => write!(f, "record is not valid JSON: {e}"),
            Invalid::NotObject(kind) => write!(f, "record is a JSON {kind}, expected an object"),
            Invalid::MissingKey(key) => write!(f, "missing key `{key}`"),
            Invalid::UnknownKey(key) => write!(f, "unknown key `{}`", shorten(key)),
            Invalid::WrongType { key, expected, got } => {
                write!(f, "`{key}` must be {expected}, got {got}")
            }
            Invalid::TooLong { key, bytes } => {
                write!(
                    f,
                    "`{key}` is {bytes} bytes long, over the limit of {MAX_TEXT_BYTES}"
                )
            }
            Invalid::BadUuid { key, value } => write!(f, "`{key}` is not a UUID: {value:?}"),
            Invalid::UnknownUser { key, value } => {
                write!(f, "`{key}` is not a known user: {value:?}")
            }
            Invalid::UnknownCurrency(value) => write!(f, "unknown currency: {value:?}"),
            Invalid::BadStatus(value) => write!(
                f,
                "`status` must be one of pending, completed, failed, got {value:?}"
            ),
            Invalid::BadAmount(e) => write!(f, "`amount` {e}"),
            Invalid::BadTimestamp { key, error } => write!(f, "`{key}` {error}"),
            Invalid::BadRowNumber(value) => {
                write!(f, "`row_number` must be a positive integer, got {value}")
            }
        }
    }
}

/// Why a record was refused, with the import it belongs to when that could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub problems: Vec<Invalid>,
    pub import_id: Option<Uuid>,
    pub row_number: Option<i64>,
}

impl Rejection {
    fn single(problem: Invalid) -> Self {
        Rejection {
            problems: vec![problem],
            import_id: None,
            row_number: None,
        }
    }

    /// All problems, `; `-separated.
    pub fn reason(&self) -> String {
        self.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn is_reference_miss(&self) -> bool {
        self.problems.iter().any(Invalid::is_reference_miss)
    }

    /// The first problem's kind: a refused record counts once. (Validation builds a rejection
    /// only from at least one problem; the fallback is never reached.)
    pub fn kind(&self) -> RejectKind {
        self.problems
            .first()
            .map_or(RejectKind::NotObject, Invalid::kind)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason())
    }
}

/// Validates one raw record in the wire format of its `source` against the reference data.
/// `now` bounds how far in the future a timestamp may lie.
pub fn validate(
    payload: &[u8],
    source: Source,
    refs: &ReferenceData,
    now: DateTime<Utc>,
) -> Result<Payment, Rejection> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Rejection::single(Invalid::TooLarge {
            bytes: payload.len(),
        }));
    }
    let text = std::str::from_utf8(payload).map_err(|e| {
        Rejection::single(Invalid::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Rejection::single(Invalid::NotJson(e.to_string())))?;
    let Value::Object(map) = value else {
        return Err(Rejection::single(Invalid::NotObject(kind(&value))));
    };
    let mut fields = Fields {
        map: &map,
        problems: Vec::new(),
    };
    match source {
        Source::Stream => fields.stream(refs, now),
        Source::Import => fields.import(refs, now),
    }
}

/// The six payment fields of an import row, checked from their text exactly as [`validate`]
/// checks them in an `import-payments-events` record (same problems, same order): what the
/// importer runs on every row before publishing, without building and parsing JSON. The ids,
/// row number and file name a record also carries are the importer's own and always valid.
/// Empty when the row is valid.
pub fn check_import_fields(
    fields: &ImportFields<'_>,
    refs: &ReferenceData,
    now: DateTime<Utc>,
) -> Vec<Invalid> {
    check_import_row(fields, refs, now)
        .err()
        .unwrap_or_default()
}

/// [`check_import_fields`] in the same single pass, also yielding the valid row's
/// [`Fingerprint`]: the importer checks a row and learns what payment it is at once.
pub fn check_import_row(
    fields: &ImportFields<'_>,
    refs: &ReferenceData,
    now: DateTime<Utc>,
) -> Result<Fingerprint, Vec<Invalid>> {
    let ImportFields {
        username_sender: sender,
        username_receiver: receiver,
        amount,
        currency,
        transaction_date,
        status,
    } = *fields;
    let mut problems = Vec::new();
    let sender_id = checked(&mut problems, "username_sender", sender, |t| {
        known_username("username_sender", t, refs)
    });
    let receiver_id = checked(&mut problems, "username_receiver", receiver, |t| {
        known_username("username_receiver", t, refs)
    });
    // An amount's text is not length-checked: text too long is no amount, and says so.
    let amount = money::parse_amount(amount)
        .map_err(|e| problems.push(Invalid::BadAmount(e)))
        .ok();
    let currency_code = checked(&mut problems, "currency", currency, |t| {
        known_currency(t, refs)
    });
    let transaction_date = checked(&mut problems, "transaction_date", transaction_date, |t| {
        timestamp("transaction_date", t, now)
    });
    let status = checked(&mut problems, "status", status, status_of);
    // Every part is there exactly when no problem was found.
    let fingerprint = || {
        Some(Fingerprint {
            sender_id: sender_id?,
            receiver_id: receiver_id?,
            amount: amount?,
            currency_code: currency_code?,
            transaction_date: transaction_date?,
            status: status?,
        })
    };
    match fingerprint() {
        Some(fingerprint) if problems.is_empty() => Ok(fingerprint),
        _ => Err(problems),
    }
}

/// A text field's value by `rule`, unless it is too long; a problem is pushed either way.
fn checked<T>(
    problems: &mut Vec<Invalid>,
    key: &'static str,
    text: &str,
    rule: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Option<T> {
    if let Some(problem) = too_long(key, text) {
        problems.push(problem);
        return None;
    }
    rule(text).map_err(|problem| problems.push(problem)).ok()
}

/// What makes two payments the same payment, whichever file or row they came from: sender,
/// receiver, amount, currency, transaction date and status. Two files holding a row with equal
/// fingerprints would move the same money twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub sender_id: Uuid,
    pub receiver_id: Uuid,
    pub amount: Decimal,
    pub currency_code: i32,
    pub transaction_date: DateTime<Utc>,
    pub status: Status,
}

// One rule per field, shared by the JSON records and the importer's rows.

/// Text longer than any real value.
fn too_long(key: &'static str, text: &str) -> Option<Invalid> {
    (text.len() > MAX_TEXT_BYTES).then_some(Invalid::TooLong {
        key,
        bytes: text.len(),
    })
}

fn known_username(key: &'static str, name: &str, refs: &ReferenceData) -> Result<Uuid, Invalid> {
    refs.user_id(name).ok_or_else(|| Invalid::UnknownUser {
        key,
        value: shorten(name),
    })
}

fn known_currency(alpha: &str, refs: &ReferenceData) -> Result<i32, Invalid> {
    refs.currency_code(alpha)
        .ok_or_else(|| Invalid::UnknownCurrency(shorten(alpha)))
}

fn timestamp(key: &'static str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
    parse_timestamp(text, now).map_err(|error| Invalid::BadTimestamp { key, error })
}

fn status_of(text: &str) -> Result<Status, Invalid> {
    Status::parse(text).ok_or_else(|| Invalid::BadStatus(shorten(text)))
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    problems: Vec<Invalid>,
}

impl<'a> Fields<'a> {
    fn stream(&mut self, refs: &ReferenceData, now: DateTime<Utc>) -> Result<Payment, Rejection> {
        self.check_keys(&STREAM_KEYS, &[]);
        let transaction_id = self.uuid("transaction_id");
        let sender_id = self.known_user_id("sender_id", refs);
        let receiver_id = self.known_user_id("receiver_id", refs);
        let amount = self
            .number("amount")
            .and_then(|n| self.amount(money::amount_from_json(n)));
        let currency_code = self.integer("currency_code").and_then(|code| {
            match i32::try_from(code).ok().filter(|c| refs.has_currency(*c)) {
                Some(c) => Some(c),
                None => self.fail(Invalid::UnknownCurrency(code.to_string())),
            }
        });
        let transaction_date = self.timestamp("timestamp", now);
        let status = self.status();
        match (
            transaction_id,
            sender_id,
            receiver_id,
            amount,
            currency_code,
            transaction_date,
            status,
        ) {
            (
                Some(transaction_id),
                Some(sender_id),
                Some(receiver_id),
                Some(amount),
                Some(currency_code),
                Some(transaction_date),
                Some(status),
            ) if self.problems.is_empty() => Ok(Payment {
                transaction_id,
                sender_id,
                receiver_id,
                amount,
                currency_code,
                transaction_date,
                status,
                source: Source::Stream,
                import_id: None,
                import_row: None,
                suspicious: false,
            }),
            _ => Err(self.rejection(None, None)),
        }
    }

    fn import(&mut self, refs: &ReferenceData, now: DateTime<Utc>) -> Result<Payment, Rejection> {
        // Read the import's identity first so even a broken row is attributed to its import.
        let import_id = self.uuid("import_id");
        let row_number = self.row_number();
        self.check_keys(&IMPORT_REQUIRED_KEYS, &IMPORT_OPTIONAL_KEYS);
        let transaction_id = self.uuid("transaction_id");
        let sender_id = self.known_username("username_sender", refs);
        let receiver_id = self.known_username("username_receiver", refs);
        let map = self.map;
        let amount = match map.get("amount") {
            Some(Value::String(text)) => self.amount(money::parse_amount(text)),
            Some(Value::Number(n)) => self.amount(money::amount_from_json(n)),
            Some(other) => self.fail(Invalid::WrongType {
                key: "amount",
                expected: "a decimal string or a number",
                got: kind(other),
            }),
            None => None,
        };
        let currency_code = self
            .text("currency")
            .and_then(|alpha| self.ok(known_currency(alpha, refs)));
        let transaction_date = self.timestamp("transaction_date", now);
        let status = self.status();
        let _source_file = self.text("source_file");
        let suspicious = match map.get("suspicious") {
            None => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => self.fail(Invalid::WrongType {
                key: "suspicious",
                expected: "a boolean",
                got: kind(other),
            }),
        };
        match (
            import_id,
            row_number,
            transaction_id,
            sender_id,
            receiver_id,
            amount,
            currency_code,
            transaction_date,
            status,
            suspicious,
        ) {
            (
                Some(import_id),
                Some(row),
                Some(transaction_id),
                Some(sender_id),
                Some(receiver_id),
                Some(amount),
                Some(currency_code),
                Some(transaction_date),
                Some(status),
                Some(suspicious),
            ) if self.problems.is_empty() => Ok(Payment {
                transaction_id,
                sender_id,
                receiver_id,
                amount,
                currency_code,
                transaction_date,
                status,
                source: Source::Import,
                import_id: Some(import_id),
                import_row: Some(row),
                suspicious,
            }),
            _ => Err(self.rejection(import_id, row_number)),
        }
    }

    fn rejection(&mut self, import_id: Option<Uuid>, row_number: Option<i64>) -> Rejection {
        Rejection {
            problems: std::mem::take(&mut self.problems),
            import_id,
            row_number,
        }
    }

    fn fail<T>(&mut self, problem: Invalid) -> Option<T> {
        self.problems.push(problem);
        None
    }

    fn check_keys(&mut self, required: &[&'static str], optional: &[&'static str]) {
        for key in self.map.keys() {
            if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
                self.problems.push(Invalid::UnknownKey(key.clone()));
            }
        }
        for key in required {
            if !self.map.contains_key(*key) {
                self.problems.push(Invalid::MissingKey(key));
            }
        }
    }

    /// A string field; a missing key was already reported by `check_keys`.
    fn text(&mut self, key: &'static str) -> Option<&'a str> {
        let map = self.map;
        match map.get(key) {
            None => None,
            Some(Value::String(s)) => match too_long(key, s) {
                Some(problem) => self.fail(problem),
                None => Some(s.as_str()),
            },
            Some(other) => self.fail(Invalid::WrongType {
                key,
                expected: "a string",
                got: kind(other),
            }),
        }
    }

    fn number(&mut self, key: &'static str) -> Option<&'a serde_json::Number> {
        let map = self.map;
        match map.get(key) {
            None => None,
            Some(Value::Number(n)) => Some(n),
            Some(other) => self.fail(Invalid::WrongType {
                key,
                expected: "a number",
                got: kind(other),
            }),
        }
    }

    fn integer(&mut self, key: &'static str) -> Option<i64> {
        let map = self.map;
        match map.get(key) {
            None => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Some(i),
                None => self.fail(Invalid::WrongType {
                    key,
                    expected: "an integer",
                    got: "fractional or huge number",
                }),
            },
            Some(other) => self.fail(Invalid::WrongType {
                key,
                expected: "an integer",
                got: kind(other),
            }),
        }
    }

    fn uuid(&mut self, key: &'static str) -> Option<Uuid> {
        let text = self.text(key)?;
        match Uuid::try_parse(text) {
            Ok(id) => Some(id),
            Err(_) => {
                let value = shorten(text);
                self.fail(Invalid::BadUuid { key, value })
            }
        }
    }

    fn known_user_id(&mut self, key: &'static str, refs: &ReferenceData) -> Option<Uuid> {
        let id = self.uuid(key)?;
        if refs.has_user(&id) {
            Some(id)
        } else {
            self.fail(Invalid::UnknownUser {
                key,
                value: id.to_string(),
            })
        }
    }

    fn known_username(&mut self, key: &'static str, refs: &ReferenceData) -> Option<Uuid> {
        let name = self.text(key)?;
        self.ok(known_username(key, name, refs))
    }

    fn ok<T>(&mut self, checked: Result<T, Invalid>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(problem) => self.fail(problem),
        }
    }

    fn amount(&mut self, parsed: Result<Decimal, AmountError>) -> Option<Decimal> {
        match parsed {
            Ok(amount) => Some(amount),
            Err(e) => self.fail(Invalid::BadAmount(e)),
        }
    }

    fn timestamp(&mut self, key: &'static str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let text = self.text(key)?;
        self.ok(timestamp(key, text, now))
    }

    fn status(&mut self) -> Option<Status> {
        let text = self.text("status")?;
        self.ok(status_of(text))
    }

    fn row_number(&mut self) -> Option<i64> {
        let map = self.map;
        match map.get("row_number") {
            None => None,
            Some(Value::Number(n)) => match n.as_i64().filter(|r| *r >= 1) {
                Some(r) => Some(r),
                None => self.fail(Invalid::BadRowNumber(n.to_string())),
            },
            Some(other) => self.fail(Invalid::WrongType {
                key: "row_number",
                expected: "an integer",
                got: kind(other),
            }),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{demo_users, CURRENCIES};
    use serde_json::json;

    fn refs() -> ReferenceData {
        ReferenceData::new(
            demo_users().into_iter().map(|u| (u.user_id, u.username)),
            CURRENCIES
                .iter()
                .map(|(code, alpha, _)| (*code, (*alpha).to_owned())),
        )
    }

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn stream(overrides: Value) -> Vec<u8> {
        let users = demo_users();
        let mut event = json!({
            "transaction_id": "0b8f9a2e-54c1-4d0f-9d7a-4c3b2a1f0e9d",
            "sender_id": users[0].user_id,
            "receiver_id": users[1].user_id,
            "amount": 1729.15,
            "currency_code": 608,
            "timestamp": "2025-07-07T01:03:41Z",
            "status": "pending",
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                event.as_object_mut().unwrap().remove(k);
            } else {
                event[k] = v.clone();
            }
        }
        serde_json::to_vec(&event).unwrap()
    }

    #[test]
    fn a_valid_stream_event_becomes_a_payment() {
        let payment = validate(&stream(json!({})), Source::Stream, &refs(), now()).unwrap();
        assert_eq!(payment.amount.to_string(), "1729.15");
        assert_eq!(payment.currency_code, 608);
        assert_eq!(payment.status, Status::Pending);
        assert_eq!(payment.source, Source::Stream);
        assert_eq!(payment.import_id, None);
    }

    #[test]
    fn every_problem_is_reported() {
        let rejection = validate(
            &stream(json!({"amount": "12", "status": "done", "currency_code": null, "x": 1})),
            Source::Stream,
            &refs(),
            now(),
        )
        .unwrap_err();
        let reason = rejection.reason();
        assert!(reason.contains("unknown key `x`"), "{reason}");
        assert!(reason.contains("missing key `currency_code`"), "{reason}");
        assert!(
            reason.contains("`amount` must be a number, got string"),
            "{reason}"
        );
        assert!(reason.contains("`status` must be one of"), "{reason}");
        assert!(!rejection.is_reference_miss());
    }

    #[test]
    fn unknown_users_are_reference_misses() {
        let rejection = validate(
            &stream(json!({"sender_id": "00000000-0000-4000-8000-000000000000"})),
            Source::Stream,
            &refs(),
            now(),
        )
        .unwrap_err();
        assert!(rejection.is_reference_miss());
        assert!(rejection
            .reason()
            .contains("`sender_id` is not a known user"));
    }

    #[test]
    fn import_rows_resolve_usernames_and_keep_their_identity() {
        let users = demo_users();
        let row = json!({
            "username_sender": users[3].username,
            "username_receiver": users[4].username,
            "amount": "9000.10",
            "currency": "usd",
            "transaction_date": "2025-07-07 01:03:41 UTC",
            "status": "failed",
            "source_file": "a.csv",
            "import_id": "7d1c4a52-3f6e-4b8a-9c2d-1e0f5a6b7c8d",
            "row_number": 12,
            "transaction_id": "0b8f9a2e-54c1-4d0f-9d7a-4c3b2a1f0e9d",
            "suspicious": true,
        });
        let payment = validate(
            &serde_json::to_vec(&row).unwrap(),
            Source::Import,
            &refs(),
            now(),
        )
        .unwrap();
        assert_eq!(payment.sender_id, users[3].user_id);
        assert_eq!(payment.currency_code, 840);
        assert_eq!(payment.import_row, Some(12));
        assert!(payment.suspicious);

        let mut bad = row.clone();
        bad["amount"] = json!("-1");
        let rejection = validate(
            &serde_json::to_vec(&bad).unwrap(),
            Source::Import,
            &refs(),
            now(),
        )
        .unwrap_err();
        assert_eq!(rejection.row_number, Some(12));
        assert_eq!(
            rejection.import_id.map(|u| u.to_string()).as_deref(),
            Some("7d1c4a52-3f6e-4b8a-9c2d-1e0f5a6b7c8d")
        );
    }

    #[test]
    fn structural_failures_are_named() {
        let r = refs();
        let reason = |bytes: &[u8]| {
            validate(bytes, Source::Stream, &r, now())
                .unwrap_err()
                .reason()
        };
        assert!(reason(b"\xff").contains("not valid UTF-8"));
        assert!(reason(b"{").contains("not valid JSON"));
        assert!(reason(b"[]").contains("JSON array"));
        assert!(reason(&vec![b' '; MAX_PAYLOAD_BYTES + 1]).contains("over the limit"));
    }
}
