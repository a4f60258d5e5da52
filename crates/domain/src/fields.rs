//! The six payment fields of an import file's row.

/// The columns of an import file, in the order events, hashing and reports use.
pub const COLUMNS: [&str; 6] = [
    "username_sender",
    "username_receiver",
    "amount",
    "currency",
    "transaction_date",
    "status",
];

/// One row of an import file: its six payment fields as written (untrimmed text), by name
/// whatever the order of the file's columns. Borrowed from the reader's buffer, so a row is
/// checked, hashed and summed without copying it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportFields<'a> {
    pub username_sender: &'a str,
    pub username_receiver: &'a str,
    pub amount: &'a str,
    pub currency: &'a str,
    pub transaction_date: &'a str,
    pub status: &'a str,
}

impl<'a> ImportFields<'a> {
    /// The fields from their values in [`COLUMNS`] order: the one place a position becomes a
    /// name.
    pub fn from_columns(values: [&'a str; 6]) -> Self {
        let [username_sender, username_receiver, amount, currency, transaction_date, status] =
            values;
        ImportFields {
            username_sender,
            username_receiver,
            amount,
            currency,
            transaction_date,
            status,
        }
    }

    /// The values in [`COLUMNS`] order (what a row's hash covers).
    pub fn columns(&self) -> [&'a str; 6] {
        [
            self.username_sender,
            self.username_receiver,
            self.amount,
            self.currency,
            self.transaction_date,
            self.status,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_and_names_agree() {
        let fields = ImportFields::from_columns(COLUMNS);
        assert_eq!(fields.username_sender, "username_sender");
        assert_eq!(fields.username_receiver, "username_receiver");
        assert_eq!(fields.amount, "amount");
        assert_eq!(fields.currency, "currency");
        assert_eq!(fields.transaction_date, "transaction_date");
        assert_eq!(fields.status, "status");
        assert_eq!(fields.columns(), COLUMNS);
    }
}
