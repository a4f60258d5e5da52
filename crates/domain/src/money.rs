//! Amounts as stored in `transactions.amount numeric(10,2)`.

use std::str::FromStr;

use rust_decimal::Decimal;

/// Largest amount `numeric(10,2)` can hold.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 2); // 9_999_999_999 / 100

/// Why a text or number is not a valid amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("is not a decimal number: {0:?}")]
    NotANumber(String),
    #[error("must be greater than zero, got {0}")]
    NotPositive(Decimal),
    #[error("has more than 2 decimal places: {0}")]
    TooPrecise(String),
    #[error("exceeds the maximum of {MAX_AMOUNT} (numeric(10,2)): {0}")]
    TooLarge(String),
}

/// Parses the decimal text of an amount (`1729.15`, `12`, `1e3`) and checks it fits
/// `numeric(10,2)`, is positive and has at most two decimals. Exact: no floating point.
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    let trimmed = text.trim();
    let value = Decimal::from_str_exact(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .map_err(|_| {
            // Distinguish "huge" from "garbage" so the reason is specific.
            if trimmed
                .chars()
                .all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
                && trimmed.chars().any(|c| c.is_ascii_digit())
            {
                AmountError::TooLarge(shorten(trimmed))
            } else {
                AmountError::NotANumber(shorten(trimmed))
            }
        })?;
    check_amount(value, trimmed)
}

fn check_amount(value: Decimal, text: &str) -> Result<Decimal, AmountError> {
    let value = value.normalize();
    if value <= Decimal::ZERO {
        return Err(AmountError::NotPositive(value));
    }
    if value.scale() > 2 {
        return Err(AmountError::TooPrecise(shorten(text)));
    }
    if value > MAX_AMOUNT {
        return Err(AmountError::TooLarge(shorten(text)));
    }
    Ok(value)
}

/// Parses a JSON number. `serde_json` keeps integers exact and prints floats in their shortest
/// round-trip form, so `12.345` is seen as three decimals rather than a binary approximation.
pub fn amount_from_json(number: &serde_json::Number) -> Result<Decimal, AmountError> {
    if let Some(i) = number.as_i64() {
        return check_amount(Decimal::from(i), &i.to_string());
    }
    if let Some(u) = number.as_u64() {
        let text = u.to_string();
        return Decimal::from_str(&text)
            .map_err(|_| AmountError::TooLarge(text.clone()))
            .and_then(|d| check_amount(d, &text));
    }
    parse_amount(&number.to_string())
}

/// Keeps reasons readable when a value is huge or hostile.
pub fn shorten(text: &str) -> String {
    const LIMIT: usize = 64;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_amount_is_numeric_10_2_limit() {
        assert_eq!(MAX_AMOUNT.to_string(), "99999999.99");
    }

    #[test]
    fn parses_valid_amounts() {
        assert_eq!(parse_amount("1729.15").unwrap().to_string(), "1729.15");
        assert_eq!(parse_amount("12").unwrap().to_string(), "12");
        assert_eq!(parse_amount("12.10").unwrap().to_string(), "12.1");
        assert_eq!(parse_amount("99999999.99").unwrap(), MAX_AMOUNT);
        assert_eq!(parse_amount("1e3").unwrap().to_string(), "1000");
    }

    #[test]
    fn rejects_bad_amounts() {
        assert!(matches!(
            parse_amount("0"),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            parse_amount("-5.00"),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            parse_amount("1.234"),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            parse_amount("100000000"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_amount("1e300"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_amount("abc"),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(parse_amount(""), Err(AmountError::NotANumber(_))));
    }

    #[test]
    fn json_numbers_are_exact() {
        let n: serde_json::Number = serde_json::from_str("12.345").unwrap();
        assert!(matches!(
            amount_from_json(&n),
            Err(AmountError::TooPrecise(_))
        ));
        let n: serde_json::Number = serde_json::from_str("1234.56").unwrap();
        assert_eq!(amount_from_json(&n).unwrap().to_string(), "1234.56");
        let n: serde_json::Number = serde_json::from_str("0.1").unwrap();
        assert_eq!(amount_from_json(&n).unwrap().to_string(), "0.1");
        let n: serde_json::Number = serde_json::from_str("18446744073709551615").unwrap();
        assert!(matches!(
            amount_from_json(&n),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn shorten_respects_char_boundaries() {
        let long = "é".repeat(100);
        let short = shorten(&long);
        assert!(short.len() < 100);
        assert!(short.ends_with("(200 bytes)"));
    }
}
