//! Control totals: per currency, how many rows and how much money. The one shape of these
//! figures from the analyser to the `PaymentImport` status; amounts are exact decimals
//! (serialised as strings, never floats).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{parse_amount, shorten};
use crate::words::count;

/// Distinct currencies a total keeps apart; a hostile file with more shares one bucket
/// ([`OTHER_CURRENCIES`]) so the totals stay small whatever the file holds.
pub const MAX_CURRENCIES: usize = 64;
/// The bucket of currencies beyond [`MAX_CURRENCIES`].
pub const OTHER_CURRENCIES: &str = "(other)";

/// One currency's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CurrencyTotal {
    /// As written in the file, trimmed and upper-cased (`usd` counts as `USD`).
    pub currency: String,
    pub rows: u64,
    /// Sum of the rows' valid amounts.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub amount: Decimal,
    /// Rows whose amount is not a valid amount (not in `amount`); they cannot land.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invalid_amounts: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Figures per currency, in currency order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Totals(Vec<CurrencyTotal>);

impl Totals {
    pub fn new(mut currencies: Vec<CurrencyTotal>) -> Totals {
        currencies.sort_by(|a, b| a.currency.cmp(&b.currency));
        Totals(currencies)
    }

    pub fn currencies(&self) -> &[CurrencyTotal] {
        &self.0
    }

    pub fn get(&self, currency: &str) -> Option<&CurrencyTotal> {
        self.0.iter().find(|t| t.currency == currency)
    }

    pub fn rows(&self) -> u64 {
        self.0.iter().map(|t| t.rows).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Totals {
    /// `USD 12 rows 1234.50, EUR 1 row 9.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no rows");
        }
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let plural = if t.rows == 1 { "" } else { "s" };
            write!(f, "{} {} row{plural} {}", t.currency, t.rows, t.amount)?;
            if t.invalid_amounts > 0 {
                write!(f, " ({} invalid amounts)", t.invalid_amounts)?;
            }
        }
        Ok(())
    }
}

/// An import's control totals: the file as sent, then what the analysis made of it, then what
/// landed (counted from the transactions, filled in when the import is read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportTotals {
    /// Every data row, duplicates included: what a sender's control total covers.
    pub file: Totals,
    /// The first occurrence of each distinct row.
    pub unique: Totals,
    /// Unique rows flagged suspicious (published flagged, unless held).
    pub suspicious: Totals,
    /// Unique rows refused at analysis (never published).
    pub invalid: Totals,
    /// Unique rows that pass every check: what is published.
    pub publishable: Totals,
    /// Of those, the rows held back as cross-file duplicates until a second identity approves.
    pub held: Totals,
    /// Transactions stored from this import.
    pub ingested: Totals,
}

/// The figures of one row a total counts: its currency (normalised) and its amount, when valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFigures<'a> {
    currency: Cow<'a, str>,
    amount: Option<Decimal>,
}

impl<'a> RowFigures<'a> {
    pub fn of(currency: &'a str, amount: &str) -> Self {
        let trimmed = currency.trim();
        // Most files already write `USD`: no allocation then.
        let currency = if trimmed.len() <= 64 && !trimmed.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Borrowed(trimmed)
        } else {
            Cow::Owned(normalise(trimmed))
        };
        RowFigures {
            currency,
            amount: parse_amount(amount).ok(),
        }
    }
}

/// Adds rows up as they are read.
#[derive(Debug, Clone, Default)]
pub struct TotalsBuilder(BTreeMap<String, CurrencyTotal>);

impl TotalsBuilder {
    /// Counts `times` rows with these figures.
    pub fn add(&mut self, row: &RowFigures<'_>, times: u64) {
        self.update(&row.currency, |total| {
            total.rows += times;
            match row.amount {
                // At most 2^62 rows of at most 10^8 each: far below Decimal's range.
                Some(v) => total.amount = total.amount.saturating_add(v * Decimal::from(times)),
                None => total.invalid_amounts += times,
            }
        });
    }

    /// Takes back `times` rows added before with the same figures (repeats of a row).
    pub fn remove(&mut self, row: &RowFigures<'_>, times: u64) {
        self.update(&row.currency, |total| {
            total.rows = total.rows.saturating_sub(times);
            match row.amount {
                Some(v) => total.amount = total.amount.saturating_sub(v * Decimal::from(times)),
                None => total.invalid_amounts = total.invalid_amounts.saturating_sub(times),
            }
        });
    }

    pub fn build(self) -> Totals {
        Totals::new(
            self.0
                .into_values()
                .filter(|t| t.rows > 0)
                .map(|mut t| {
                    // Money reads as cents: 0.20, not 0.2.
                    t.amount.rescale(2);
                    t
                })
                .collect(),
        )
    }

    fn update(&mut self, currency: &str, change: impl FnOnce(&mut CurrencyTotal)) {
        let key = if self.0.contains_key(currency) || self.0.len() < MAX_CURRENCIES {
            currency
        } else {
            OTHER_CURRENCIES
        };
        match self.0.get_mut(key) {
            Some(total) => change(total),
            None => change(
                self.0
                    .entry(key.to_owned())
                    .or_insert_with(|| CurrencyTotal {
                        currency: key.to_owned(),
                        rows: 0,
                        amount: Decimal::ZERO,
                        invalid_amounts: 0,
                    }),
            ),
        }
    }
}

fn normalise(currency: &str) -> String {
    shorten(&currency.trim().to_ascii_uppercase())
}

/// What the sender says a file holds, per currency: rows and amount. A currency missing here
/// is expected to be absent from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExpectedTotals(pub Vec<ExpectedTotal>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExpectedTotal {
    pub currency: String,
    /// When given, the row count must match too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub amount: Decimal,
}

/// One currency whose figures differ from what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalsDifference {
    pub currency: String,
    pub expected_rows: Option<u64>,
    pub actual_rows: u64,
    pub expected_amount: Decimal,
    pub actual_amount: Decimal,
}

impl fmt::Display for TotalsDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {:.2}", self.currency, self.expected_amount)?;
        if let Some(rows) = self.expected_rows {
            write!(f, " in {}", count(rows, "row"))?;
        }
        write!(
            f,
            ", the file has {:.2} in {} (difference {:.2})",
            self.actual_amount,
            count(self.actual_rows, "row"),
            self.actual_amount - self.expected_amount
        )
    }
}

impl ExpectedTotals {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every currency where `actual` differs (rows, when expected, or amount), in currency
    /// order; empty when they agree.
    pub fn differences(&self, actual: &Totals) -> Vec<TotalsDifference> {
        let mut currencies: Vec<String> = actual
            .currencies()
            .iter()
            .map(|t| t.currency.clone())
            .chain(self.0.iter().map(|e| normalise(&e.currency)))
            .collect();
        currencies.sort();
        currencies.dedup();
        currencies
            .into_iter()
            .filter_map(|currency| {
                let expected = self.0.iter().find(|e| normalise(&e.currency) == currency);
                let found = actual.get(&currency);
                let (actual_rows, actual_amount) =
                    found.map_or((0, Decimal::ZERO), |t| (t.rows, t.amount));
                let unreadable = found.is_some_and(|t| t.invalid_amounts > 0);
                let expected_rows = expected.and_then(|e| e.rows);
                let expected_amount = expected.map_or(Decimal::ZERO, |e| e.amount);
                let agree = !unreadable
                    && actual_amount == expected_amount
                    && expected_rows.is_none_or(|rows| rows == actual_rows)
                    && (expected.is_some() || actual_rows == 0);
                (!agree).then_some(TotalsDifference {
                    currency,
                    expected_rows,
                    actual_rows,
                    expected_amount,
                    actual_amount,
                })
            })
            .collect()
    }
}

/// Why expected totals could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected totals {text:?}: {reason} (write CURRENCY=AMOUNT or CURRENCY=ROWS:AMOUNT, separated by commas, e.g. USD=12:1234.50,EUR=99.00)")]
pub struct ExpectedTotalsError {
    text: String,
    reason: String,
}

impl FromStr for ExpectedTotals {
    type Err = ExpectedTotalsError;

    /// `USD=12:1234.50, EUR=99.00`: per currency the amount, optionally preceded by the rows.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| ExpectedTotalsError {
            text: shorten(text),
            reason,
        };
        let mut out: Vec<ExpectedTotal> = Vec::new();
        for part in text
            .split([',', ';'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (currency, figures) = part
                .split_once('=')
                .ok_or_else(|| fail(format!("{:?} has no '='", shorten(part))))?;
            let currency = normalise(currency);
            if currency.is_empty() {
                return Err(fail(format!("{:?} names no currency", shorten(part))));
            }
            let (rows, amount) = match figures.split_once(':') {
                Some((rows, amount)) => (
                    Some(rows.trim().parse::<u64>().map_err(|_| {
                        fail(format!(
                            "{currency}: {:?} is not a row count",
                            shorten(rows)
                        ))
                    })?),
                    amount,
                ),
                None => (None, figures),
            };
            let amount = Decimal::from_str_exact(amount.trim()).map_err(|_| {
                fail(format!(
                    "{currency}: {:?} is not an amount",
                    shorten(amount)
                ))
            })?;
            if out.iter().any(|e| e.currency == currency) {
                return Err(fail(format!("{currency} is given twice")));
            }
            out.push(ExpectedTotal {
                currency,
                rows,
                amount,
            });
        }
        Ok(ExpectedTotals(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(rows: &[(&str, &str)]) -> Totals {
        let mut b = TotalsBuilder::default();
        for (currency, amount) in rows {
            b.add(&RowFigures::of(currency, amount), 1);
        }
        b.build()
    }

    #[test]
    fn adds_per_currency_exactly_and_takes_repeats_back() {
        let mut b = TotalsBuilder::default();
        for (c, a) in [
            ("USD", "0.10"),
            ("usd ", "0.20"),
            ("EUR", "5"),
            ("EUR", "abc"),
        ] {
            b.add(&RowFigures::of(c, a), 1);
        }
        b.remove(&RowFigures::of("USD", "0.10"), 1);
        let t = b.build();
        assert_eq!(
            t.get("USD").map(|t| (t.rows, t.amount)),
            Some((1, Decimal::new(20, 2)))
        );
        let eur = t.get("EUR").expect("EUR");
        assert_eq!(
            (eur.rows, eur.amount, eur.invalid_amounts),
            (2, Decimal::new(5, 0), 1)
        );
        assert_eq!(
            t.to_string(),
            "EUR 2 rows 5.00 (1 invalid amounts), USD 1 row 0.20"
        );
    }

    #[test]
    fn a_hostile_number_of_currencies_shares_one_bucket() {
        let mut b = TotalsBuilder::default();
        for i in 0..1000 {
            b.add(&RowFigures::of(&format!("C{i}"), "1"), 1);
        }
        let t = b.build();
        assert_eq!(t.currencies().len(), MAX_CURRENCIES + 1);
        assert_eq!(t.rows(), 1000);
        assert_eq!(
            t.get(OTHER_CURRENCIES).map(|t| t.rows),
            Some(1000 - MAX_CURRENCIES as u64)
        );
    }

    #[test]
    fn expected_totals_parse_and_compare() {
        let expected: ExpectedTotals = "usd=2:0.30, EUR=5".parse().expect("parses");
        let actual = totals(&[("USD", "0.10"), ("USD", "0.20"), ("EUR", "5.00")]);
        assert!(expected.differences(&actual).is_empty());

        let short = totals(&[("USD", "0.10"), ("EUR", "5.00"), ("PHP", "1")]);
        let diffs = expected.differences(&short);
        let names: Vec<&str> = diffs.iter().map(|d| d.currency.as_str()).collect();
        assert_eq!(names, ["PHP", "USD"]);
        assert_eq!(
            diffs[1].to_string(),
            "USD: expected 0.30 in 2 rows, the file has 0.10 in 1 row (difference -0.20)"
        );

        for bad in ["USD", "USD=x", "=1", "USD=1:2:3", "USD=1,USD=2"] {
            let e = bad.parse::<ExpectedTotals>().expect_err(bad);
            assert!(e.to_string().contains("CURRENCY=AMOUNT"), "{e}");
        }
        assert!("".parse::<ExpectedTotals>().expect("empty").is_empty());
    }
}

/// What an import does with rows that fail the checks at analysis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvalidRowsPolicy {
    /// Publish the valid rows; the invalid ones are listed and never published.
    #[default]
    PublishValid,
    /// Publish nothing while any row is invalid: the file is corrected and sent again whole.
    HoldFile,
}

impl InvalidRowsPolicy {
    pub const ALL: [InvalidRowsPolicy; 2] =
        [InvalidRowsPolicy::PublishValid, InvalidRowsPolicy::HoldFile];

    pub fn as_str(self) -> &'static str {
        match self {
            InvalidRowsPolicy::PublishValid => "publish_valid",
            InvalidRowsPolicy::HoldFile => "hold_file",
        }
    }
}

impl fmt::Display for InvalidRowsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvalidRowsPolicy {
    type Err = String;

    /// `publish_valid`/`hold_file`, or with dashes.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not publish_valid or hold_file"))
    }
}
