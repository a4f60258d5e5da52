//! The suspicious-payment rules, one copy for imported rows and stream events: a payment is
//! stored with `suspicious = true` (and still lands) when one of them holds.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The amount above which a payment is suspicious unless configured otherwise.
pub const DEFAULT_THRESHOLD: Decimal = Decimal::from_parts(8000, 0, 0, false, 0);

/// Why a payment is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suspicion {
    /// The amount is strictly greater than the threshold.
    AmountAboveThreshold,
    /// Sender and receiver are the same user.
    SelfPayment,
}

/// Which rules a payment breaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suspicions {
    amount: bool,
    self_payment: bool,
}

impl Suspicions {
    /// `amount` is `None` when it could not be read: not suspicious here, the validation
    /// rejects it with its own reason.
    pub fn of<U: PartialEq + ?Sized>(
        sender: &U,
        receiver: &U,
        amount: Option<Decimal>,
        threshold: Decimal,
    ) -> Self {
        Suspicions {
            amount: amount.is_some_and(|a| a > threshold),
            self_payment: sender == receiver,
        }
    }

    pub fn any(self) -> bool {
        self.amount || self.self_payment
    }

    pub fn list(self) -> Vec<Suspicion> {
        let mut list = Vec::with_capacity(2);
        if self.amount {
            list.push(Suspicion::AmountAboveThreshold);
        }
        if self.self_payment {
            list.push(Suspicion::SelfPayment);
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_above_the_threshold_or_to_oneself() {
        let t = DEFAULT_THRESHOLD;
        assert!(!Suspicions::of("a", "b", Some(t), t).any());
        assert_eq!(
            Suspicions::of("a", "b", Some(t + Decimal::new(1, 2)), t).list(),
            [Suspicion::AmountAboveThreshold]
        );
        assert_eq!(
            Suspicions::of("a", "a", None, t).list(),
            [Suspicion::SelfPayment]
        );
        assert!(!Suspicions::of("a", "b", None, t).any());
    }
}
