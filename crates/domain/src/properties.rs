//! Property tests of the parts that read untrusted input (the fuzz targets in `fuzz/` explore
//! the same code far longer; these run in every `cargo test`, so case counts stay modest).

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::demo::{demo_users, CURRENCIES};
use crate::event::{ImportEvent, StreamEvent};
use crate::money::MAX_AMOUNT;
use crate::object_key::{object_key, MAX_KEY_BYTES};
use crate::time::format_csv_timestamp;
use crate::validate::{validate, Payment, Source, Status};
use crate::ReferenceData;

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

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the keys of either wire format and arbitrary values: gets past the JSON
/// checks into the per-field validation.
fn keyed_object() -> impl Strategy<Value = Value> {
    let keys = prop::sample::subsequence(
        vec![
            "transaction_id",
            "sender_id",
            "receiver_id",
            "amount",
            "currency_code",
            "timestamp",
            "status",
            "username_sender",
            "username_receiver",
            "currency",
            "transaction_date",
            "source_file",
            "import_id",
            "row_number",
            "suspicious",
        ],
        0..=15,
    );
    (keys, prop::collection::vec(json_value(), 15)).prop_map(|(keys, values)| {
        Value::Object(
            keys.into_iter()
                .zip(values)
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    })
}

fn check_outcome(result: Result<Payment, crate::Rejection>) {
    match result {
        Ok(p) => {
            assert!(p.amount > Decimal::ZERO && p.amount <= MAX_AMOUNT);
            assert!(p.transaction_date <= now() + TimeDelta::days(1));
        }
        // A refusal always says why.
        Err(r) => assert!(!r.problems.is_empty() && !r.reason().is_empty()),
    }
}

/// A valid amount: 0.01 ..= MAX_AMOUNT, in cents.
fn cents() -> impl Strategy<Value = Decimal> {
    (1i64..=9_999_999_999).prop_map(|c| Decimal::new(c, 2).normalize())
}

/// An instant between 2000 and `now`, to the second.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800i64..=1_767_225_600).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validation_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for origin in [Source::Stream, Source::Import] {
            check_outcome(validate(&bytes, origin, &refs(), now()));
        }
    }

    #[test]
    fn validation_never_panics_on_json(value in prop_oneof![json_value(), keyed_object()]) {
        let bytes = serde_json::to_vec(&value).unwrap();
        for origin in [Source::Stream, Source::Import] {
            check_outcome(validate(&bytes, origin, &refs(), now()));
        }
    }

    #[test]
    fn a_valid_stream_event_round_trips(
        id in any::<u128>(),
        sender in 0usize..30,
        receiver in 0usize..30,
        amount in cents(),
        currency in 0usize..CURRENCIES.len(),
        at in instant(),
        status in status(),
    ) {
        let users = demo_users();
        let event = StreamEvent {
            transaction_id: Uuid::from_u128(id),
            sender_id: users[sender].user_id,
            receiver_id: users[receiver].user_id,
            amount,
            currency_code: CURRENCIES[currency].0,
            timestamp: at.to_rfc3339(),
            status: status.as_str().to_owned(),
        };
        let payload = serde_json::to_vec(&event).unwrap();
        let payment = validate(&payload, Source::Stream, &refs(), now()).unwrap();
        prop_assert_eq!(payment, Payment {
            transaction_id: event.transaction_id,
            sender_id: event.sender_id,
            receiver_id: event.receiver_id,
            amount,
            currency_code: event.currency_code,
            transaction_date: at,
            status,
            source: Source::Stream,
            import_id: None,
            import_row: None,
            suspicious: false,
        });
    }

    #[test]
    fn a_valid_import_event_round_trips(
        ids in any::<(u128, u128)>(),
        sender in 0usize..30,
        receiver in 0usize..30,
        amount in cents(),
        currency in 0usize..CURRENCIES.len(),
        lower_case in any::<bool>(),
        at in instant(),
        status in status(),
        row in 1u64..=i64::MAX as u64,
        suspicious in any::<bool>(),
    ) {
        let users = demo_users();
        let alpha = CURRENCIES[currency].1;
        let event = ImportEvent {
            username_sender: users[sender].username.clone(),
            username_receiver: users[receiver].username.clone(),
            amount: amount.to_string(),
            currency: if lower_case { alpha.to_lowercase() } else { alpha.to_owned() },
            transaction_date: format_csv_timestamp(at),
            status: status.as_str().to_owned(),
            source_file: "f.csv".to_owned(),
            import_id: Uuid::from_u128(ids.0),
            row_number: row,
            transaction_id: Uuid::from_u128(ids.1),
            suspicious,
        };
        let payload = serde_json::to_vec(&event).unwrap();
        let payment = validate(&payload, Source::Import, &refs(), now()).unwrap();
        prop_assert_eq!(payment, Payment {
            transaction_id: event.transaction_id,
            sender_id: users[sender].user_id,
            receiver_id: users[receiver].user_id,
            amount,
            currency_code: CURRENCIES[currency].0,
            transaction_date: at,
            status,
            source: Source::Import,
            import_id: Some(event.import_id),
            import_row: Some(row as i64),
            suspicious,
        });
    }

    #[test]
    fn object_keys_stay_in_the_bucket(
        // Biased towards the characters of path tricks, plus anything else.
        name in r"([./\\]|\.\.|[\x00-\x1f]|\PC){0,300}",
        seconds in -8_000_000_000_000i64..8_000_000_000_000,
    ) {
        let at = DateTime::from_timestamp(seconds, 0).unwrap_or_default();
        let key = object_key(&name, at);
        let stem = key.strip_suffix(".csv").unwrap();
        prop_assert!(!key.starts_with('/'));
        prop_assert!(!key.split('/').any(|s| s == ".." || s == "."));
        prop_assert!(!stem.contains(['/', '\\', '.']), "{key:?}");
        prop_assert!(!key.chars().any(char::is_control), "{key:?}");
        prop_assert!(!key.is_empty() && key.len() <= MAX_KEY_BYTES, "{key:?}");
    }
}
