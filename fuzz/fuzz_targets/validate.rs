//! The event validator on arbitrary bytes, as both topics' records: a payment or a rejection
//! with at least one reason, never a panic; an accepted payment respects the invariants the
//! database relies on.
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use libfuzzer_sys::fuzz_target;
use payments_domain::demo::{demo_users, CURRENCIES};
use payments_domain::money::MAX_AMOUNT;
use payments_domain::{validate, ReferenceData, Source};
use rust_decimal::Decimal;

fn refs() -> &'static ReferenceData {
    static REFS: OnceLock<ReferenceData> = OnceLock::new();
    REFS.get_or_init(|| {
        ReferenceData::new(
            demo_users().into_iter().map(|u| (u.user_id, u.username)),
            CURRENCIES.iter().map(|(c, a, _)| (*c, (*a).to_owned())),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let now: DateTime<Utc> = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    for source in [Source::Stream, Source::Import] {
        match validate(data, source, refs(), now) {
            Ok(payment) => {
                assert!(payment.amount > Decimal::ZERO && payment.amount <= MAX_AMOUNT);
                assert!(payment.amount.scale() <= 2);
                assert!(payment.transaction_date <= now + TimeDelta::days(1));
                assert!(refs().has_user(&payment.sender_id));
                assert!(refs().has_user(&payment.receiver_id));
                assert!(refs().has_currency(payment.currency_code));
                match source {
                    Source::Stream => assert_eq!(payment.source, Source::Stream),
                    Source::Import => {
                        assert_eq!(payment.source, Source::Import);
                        assert!(payment.import_row.is_some_and(|r| r > 0));
                    }
                }
            }
            Err(rejection) => {
                assert!(!rejection.problems.is_empty());
                // Reasons are shown to people and stored: rendering them must not panic either.
                let _ = rejection.reason();
            }
        }
    }
});
