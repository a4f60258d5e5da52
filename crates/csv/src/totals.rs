//! The control totals of an analysis, summed as the domain's `TotalsBuilder` sums them (same
//! currency keys, same first-64-currencies rule, same figures) but cheaply per row: a plain
//! amount (`1234.50`) is summed as integer cents without a decimal parse, and a row's currency
//! finds its total through a small cache instead of a map keyed by string.

use std::borrow::Cow;

use payments_domain::money::{parse_amount, shorten};
use payments_domain::totals::{MAX_CURRENCIES, OTHER_CURRENCIES};
use payments_domain::{CurrencyTotal, ImportFields, ImportTotals, Totals};
use rust_decimal::Decimal;

use crate::spill::{INVALID, SUSPICIOUS};
use crate::summary::CsvRow;

/// The amount of a plain amount text in cents: digits without a leading zero (or one `0`), then
/// optionally `.` and one or two digits, positive and at most 99,999,999.99. Such a text is
/// exactly what `parse_amount` accepts with that value (and what the suspicion rule reads the
/// same way); any other text (`None`) takes the decimal parse.
pub(crate) fn plain_cents(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (whole, fraction) = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => (&bytes[..dot], Some(&bytes[dot + 1..])),
        None => (bytes, None),
    };
    if whole.is_empty() || whole.len() > 8 || (whole.len() > 1 && whole[0] == b'0') {
        return None;
    }
    let mut cents = 0i64;
    for &b in whole {
        if !b.is_ascii_digit() {
            return None;
        }
        cents = cents * 10 + i64::from(b - b'0');
    }
    cents *= 100;
    match fraction {
        None => {}
        Some(&[d]) if d.is_ascii_digit() => cents += i64::from(d - b'0') * 10,
        Some(&[d, e]) if d.is_ascii_digit() && e.is_ascii_digit() => {
            cents += i64::from(d - b'0') * 10 + i64::from(e - b'0');
        }
        Some(_) => return None,
    }
    (cents > 0).then_some(cents)
}

/// A row's amount as a total counts it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Figure {
    Cents(i64),
    /// Not plain: `parse_amount`'s value, `None` when invalid.
    Decimal(Option<Decimal>),
}

impl Figure {
    pub(crate) fn of(amount: &str, cents: Option<i64>) -> Figure {
        match cents {
            Some(cents) => Figure::Cents(cents),
            None => Figure::Decimal(parse_amount(amount).ok()),
        }
    }
}

/// The key `RowFigures::of` files a currency under.
fn currency_key(currency: &str) -> Cow<'_, str> {
    let trimmed = currency.trim();
    if trimmed.len() <= 64 && !trimmed.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Borrowed(trimmed)
    } else {
        Cow::Owned(shorten(&trimmed.to_ascii_uppercase()))
    }
}

#[derive(Debug, Default, Clone)]
struct Sums {
    rows: u64,
    cents: i128,
    amount: Decimal,
    invalid: u64,
}

/// One total: at most [`MAX_CURRENCIES`] currencies and the shared bucket, so a linear search
/// is bounded.
#[derive(Debug, Default)]
struct Builder(Vec<(String, Sums)>);

impl Builder {
    fn slot(&mut self, key: &str) -> usize {
        if let Some(at) = self.0.iter().position(|(k, _)| k == key) {
            return at;
        }
        let key = if self.0.len() < MAX_CURRENCIES {
            key
        } else {
            OTHER_CURRENCIES
        };
        match self.0.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.0.push((key.to_owned(), Sums::default()));
                self.0.len() - 1
            }
        }
    }

    fn build(self) -> Totals {
        Totals::new(
            self.0
                .into_iter()
                .filter(|(_, sums)| sums.rows > 0)
                .map(|(currency, sums)| {
                    // Within 2^62 rows of at most 10^10 cents each: always in range.
                    let cents =
                        Decimal::try_from_i128_with_scale(sums.cents, 2).unwrap_or(Decimal::MAX);
                    let mut amount = cents.saturating_add(sums.amount);
                    // Money reads as cents: 0.20, not 0.2.
                    amount.rescale(2);
                    CurrencyTotal {
                        currency,
                        rows: sums.rows,
                        amount,
                        invalid_amounts: sums.invalid,
                    }
                })
                .collect(),
        )
    }
}

const FILE: usize = 0;
const UNIQUE: usize = 1;
const SUSPICIOUS_TOTAL: usize = 2;
const INVALID_TOTAL: usize = 3;
const PUBLISHABLE: usize = 4;
const NOT_FOUND: usize = usize::MAX;
/// Currency texts remembered with their slots; a file rarely has more, and beyond them a row
/// costs the key and a bounded search, as before.
const CACHED: usize = 32;

/// The control totals of one analysis: every row goes in as it is read, repeats are taken
/// back once duplicates are resolved.
#[derive(Default)]
pub(crate) struct TotalsBuilders {
    totals: [Builder; 5],
    /// A currency as written, and its slot in each total once known.
    cache: Vec<(String, [usize; 5])>,
}

impl TotalsBuilders {
    pub(crate) fn add(&mut self, fields: &ImportFields<'_>, figure: Figure, flags: u64) {
        self.change(fields.currency, flags, true, |sums| {
            sums.rows += 1;
            match figure {
                Figure::Cents(cents) => sums.cents += i128::from(cents),
                // At most 2^62 rows of at most 10^8 each: far below Decimal's range.
                Figure::Decimal(Some(v)) => sums.amount = sums.amount.saturating_add(v),
                Figure::Decimal(None) => sums.invalid += 1,
            }
        });
    }

    pub(crate) fn remove_repeats(&mut self, values: &CsvRow, repeats: u64, flags: u64) {
        let figure = Figure::of(&values.amount, plain_cents(&values.amount));
        self.change(&values.currency, flags, false, |sums| {
            sums.rows = sums.rows.saturating_sub(repeats);
            match figure {
                Figure::Cents(cents) => sums.cents -= i128::from(cents) * i128::from(repeats),
                Figure::Decimal(Some(v)) => {
                    sums.amount = sums.amount.saturating_sub(v * Decimal::from(repeats));
                }
                Figure::Decimal(None) => sums.invalid = sums.invalid.saturating_sub(repeats),
            }
        });
    }

    /// Applies `change` to the totals a row with these flags counts in, and to the file's when
    /// `file` (rows are added to it, never taken back).
    fn change(
        &mut self,
        currency: &str,
        flags: u64,
        file: bool,
        mut change: impl FnMut(&mut Sums),
    ) {
        let mut which = [NOT_FOUND; 5];
        let mut n = 0;
        let mut mark = |total: usize| {
            which[n] = total;
            n += 1;
        };
        if file {
            mark(FILE);
        }
        mark(UNIQUE);
        if flags & SUSPICIOUS != 0 {
            mark(SUSPICIOUS_TOTAL);
        }
        if flags & INVALID != 0 {
            mark(INVALID_TOTAL);
        } else {
            mark(PUBLISHABLE);
        }
        let cached = match self.cache.iter().position(|(c, _)| c == currency) {
            Some(at) => Some(at),
            None if self.cache.len() < CACHED => {
                self.cache.push((currency.to_owned(), [NOT_FOUND; 5]));
                Some(self.cache.len() - 1)
            }
            None => None,
        };
        for &total in &which[..n] {
            let slot = match cached.map(|at| self.cache[at].1[total]) {
                Some(slot) if slot != NOT_FOUND => slot,
                _ => {
                    // A slot never moves once a currency has one (or has fallen to the shared
                    // bucket of a full total), so it can be remembered.
                    let slot = self.totals[total].slot(&currency_key(currency));
                    if let Some(at) = cached {
                        self.cache[at].1[total] = slot;
                    }
                    slot
                }
            };
            change(&mut self.totals[total].0[slot].1);
        }
    }

    pub(crate) fn build(self) -> ImportTotals {
        let [file, unique, suspicious, invalid, publishable] = self.totals;
        ImportTotals {
            file: file.build(),
            unique: unique.build(),
            suspicious: suspicious.build(),
            invalid: invalid.build(),
            publishable: publishable.build(),
            held: Default::default(),
            ingested: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use payments_domain::{RowFigures, TotalsBuilder};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_amounts_in_cents() {
        for (text, cents) in [
            ("1", Some(100)),
            ("0.5", Some(50)),
            ("12.34", Some(1234)),
            ("99999999.99", Some(9_999_999_999)),
            ("0", None),
            ("0.00", None),
            ("01.00", None),
            ("1.", None),
            (".5", None),
            ("1.234", None),
            ("100000000", None),
            (" 1.00", None),
            ("-1.00", None),
            ("1e3", None),
        ] {
            assert_eq!(plain_cents(text), cents, "{text}");
        }
    }

    fn amount() -> impl Strategy<Value = String> {
        prop_oneof![
            r"[0-9]{1,9}(\.[0-9]{0,3})?",
            prop::sample::select(vec![
                "0", "0.00", "-5", " 12.50 ", "1e2", "abc", "", "00.10", "7.1", "9000.01"
            ])
            .prop_map(str::to_owned),
        ]
    }

    fn currency() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["USD", "usd", " EUR", "brl ", "", "(other)"])
                .prop_map(str::to_owned),
            // Enough distinct ones to fill a total past its 64 currencies.
            r"[A-Z]{1,2}",
            r"[a-z]{70}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every plain amount reads the same as through `parse_amount` and the suspicion rule.
        #[test]
        fn plain_is_what_the_parsers_read(text in amount()) {
            if let Some(cents) = plain_cents(&text) {
                let value = Decimal::new(cents, 2);
                prop_assert_eq!(parse_amount(&text).ok(), Some(value));
                prop_assert_eq!(Decimal::from_str(&text).ok(), Some(value));
            }
        }

        /// The same totals as the domain's `TotalsBuilder`, rows added then repeats taken back.
        #[test]
        fn same_totals_as_the_domain(
            rows in prop::collection::vec((currency(), amount(), 0u64..4), 1..400),
            repeats in prop::collection::vec((any::<prop::sample::Index>(), 1u64..3), 0..20),
        ) {
            let flag_bits = |f: u64| ((f & 1) * SUSPICIOUS) | ((f >> 1) * INVALID);
            let mut ours = TotalsBuilders::default();
            let mut theirs: [TotalsBuilder; 5] = Default::default();
            let by_flags = |theirs: &mut [TotalsBuilder; 5], flags: u64, change: &mut dyn FnMut(&mut TotalsBuilder)| {
                if flags & SUSPICIOUS != 0 {
                    change(&mut theirs[2]);
                }
                if flags & INVALID != 0 {
                    change(&mut theirs[3]);
                } else {
                    change(&mut theirs[4]);
                }
            };
            for (currency, amount, f) in &rows {
                let fields = ImportFields { currency, amount, ..Default::default() };
                ours.add(&fields, Figure::of(amount, plain_cents(amount)), flag_bits(*f));
                let row = RowFigures::of(currency, amount);
                theirs[0].add(&row, 1);
                theirs[1].add(&row, 1);
                by_flags(&mut theirs, flag_bits(*f), &mut |t| t.add(&row, 1));
            }
            for (at, times) in repeats {
                let (currency, amount, f) = &rows[at.index(rows.len())];
                let values = CsvRow {
                    username_sender: String::new(),
                    username_receiver: String::new(),
                    amount: amount.clone(),
                    currency: currency.clone(),
                    transaction_date: String::new(),
                    status: String::new(),
                };
                ours.remove_repeats(&values, times, flag_bits(*f));
                let row = RowFigures::of(currency, amount);
                theirs[1].remove(&row, times);
                by_flags(&mut theirs, flag_bits(*f), &mut |t| t.remove(&row, times));
            }
            let [file, unique, suspicious, invalid, publishable] = theirs;
            let expected = ImportTotals {
                file: file.build(),
                unique: unique.build(),
                suspicious: suspicious.build(),
                invalid: invalid.build(),
                publishable: publishable.build(),
                ..Default::default()
            };
            let ours = ours.build();
            // Equal as text too: amounts carry the same scale.
            prop_assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
            prop_assert_eq!(ours, expected);
        }
    }
}
