//! Users and currencies the validation resolves names and ids against.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

/// A snapshot of the `users` and `currencies` tables, small enough to keep in memory.
#[derive(Debug, Clone, Default)]
pub struct ReferenceData {
    users_by_name: HashMap<String, Uuid>,
    user_ids: HashSet<Uuid>,
    currency_codes: HashSet<i32>,
    currencies_by_alpha: HashMap<String, i32>,
}

impl ReferenceData {
    pub fn new(
        users: impl IntoIterator<Item = (Uuid, String)>,
        currencies: impl IntoIterator<Item = (i32, String)>,
    ) -> Self {
        let mut data = Self::default();
        for (id, username) in users {
            data.user_ids.insert(id);
            data.users_by_name.insert(username, id);
        }
        for (code, alpha) in currencies {
            data.currency_codes.insert(code);
            data.currencies_by_alpha
                .insert(alpha.to_ascii_uppercase(), code);
        }
        data
    }

    pub fn has_user(&self, id: &Uuid) -> bool {
        self.user_ids.contains(id)
    }

    pub fn user_id(&self, username: &str) -> Option<Uuid> {
        self.users_by_name.get(username).copied()
    }

    pub fn has_currency(&self, code: i32) -> bool {
        self.currency_codes.contains(&code)
    }

    /// Currency codes in files are case-insensitive (`usd` = `USD`).
    pub fn currency_code(&self, alpha: &str) -> Option<i32> {
        if let Some(code) = self.currencies_by_alpha.get(alpha) {
            return Some(*code);
        }
        self.currencies_by_alpha
            .get(&alpha.to_ascii_uppercase())
            .copied()
    }

    pub fn user_count(&self) -> usize {
        self.user_ids.len()
    }

    pub fn currency_count(&self) -> usize {
        self.currency_codes.len()
    }
}
