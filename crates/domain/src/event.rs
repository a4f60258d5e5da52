//! The two record formats on the wire (version 1).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use uuid::Uuid;

/// A record of topic `payments-events`: exactly these keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamEvent {
    pub transaction_id: Uuid,
    pub sender_id: Uuid,
    pub receiver_id: Uuid,
    /// A JSON number, as the original platform sends it.
    #[serde(serialize_with = "amount_as_number")]
    pub amount: Decimal,
    /// ISO 4217 numeric code.
    pub currency_code: i32,
    /// RFC 3339 with offset.
    pub timestamp: String,
    pub status: String,
}

/// A record of topic `import-payments-events`: one unique row of an uploaded CSV, with the
/// import's identity so the ingester can attribute it and a deterministic `transaction_id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportEvent {
    pub username_sender: String,
    pub username_receiver: String,
    /// The decimal text from the file, kept as text so no precision is lost on the way.
    pub amount: String,
    pub currency: String,
    pub transaction_date: String,
    pub status: String,
    pub source_file: String,
    pub import_id: Uuid,
    /// 1-based data row number in the file (the header is row 0).
    pub row_number: u64,
    pub transaction_id: Uuid,
    pub suspicious: bool,
}

pub const STREAM_KEYS: [&str; 7] = [
    "transaction_id",
    "sender_id",
    "receiver_id",
    "amount",
    "currency_code",
    "timestamp",
    "status",
];

pub const IMPORT_REQUIRED_KEYS: [&str; 10] = [
    "username_sender",
    "username_receiver",
    "amount",
    "currency",
    "transaction_date",
    "status",
    "source_file",
    "import_id",
    "row_number",
    "transaction_id",
];

pub const IMPORT_OPTIONAL_KEYS: [&str; 1] = ["suspicious"];

/// The `transaction_id` of an imported row: a UUID v5 of the file's SHA-256 and the row number,
/// so re-delivering a row or re-uploading the same bytes can never create a second transaction.
pub fn import_transaction_id(file_sha256_hex: &str, row_number: u64) -> Uuid {
    Uuid::new_v5(
        &crate::demo::NAMESPACE,
        format!("import-row:{file_sha256_hex}:{row_number}").as_bytes(),
    )
}

fn amount_as_number<S: Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    // Amounts fit numeric(10,2): at most 10 significant digits, exact in an f64 and printed
    // back in shortest form by serde_json.
    match amount.to_f64() {
        Some(f) => serializer.serialize_f64(f),
        None => Err(serde::ser::Error::custom("amount not representable")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_event_serialises_amount_as_number() {
        let event = StreamEvent {
            transaction_id: Uuid::nil(),
            sender_id: Uuid::nil(),
            receiver_id: Uuid::nil(),
            amount: "1729.15".parse().unwrap(),
            currency_code: 840,
            timestamp: "2025-07-07T01:03:41Z".into(),
            status: "pending".into(),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains("\"amount\":1729.15"), "{json}");
    }

    #[test]
    fn import_ids_are_deterministic() {
        let a = import_transaction_id("ab", 1);
        assert_eq!(a, import_transaction_id("ab", 1));
        assert_ne!(a, import_transaction_id("ab", 2));
        assert_ne!(a, import_transaction_id("ac", 1));
    }
}
