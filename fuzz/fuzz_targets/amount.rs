//! The amount parsers (CSV text and JSON number) on arbitrary text: an error or an exact amount
//! that fits `numeric(10,2)`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use payments_domain::money::{amount_from_json, parse_amount, MAX_AMOUNT};
use rust_decimal::Decimal;

fn check(amount: Decimal) {
    assert!(amount > Decimal::ZERO, "{amount}");
    assert!(amount <= MAX_AMOUNT, "{amount}");
    assert!(amount.scale() <= 2, "{amount}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(amount) = parse_amount(text) {
        check(amount);
        // The normalised amount is what gets stored; it must read back as itself.
        assert_eq!(parse_amount(&amount.to_string()), Ok(amount));
    }
    if let Ok(number) = serde_json::from_str::<serde_json::Number>(text) {
        if let Ok(amount) = amount_from_json(&number) {
            check(amount);
        }
    }
});
