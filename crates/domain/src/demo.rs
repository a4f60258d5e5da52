//! Reference data the platform seeds: the five currencies and a deterministic set of demo users.
//! Generated here rather than copied from anywhere, so every environment and every sample file
//! agrees on the same names and ids.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

/// Namespace of every name-based id the platform derives (UUID v5).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_2c4e_9a7b_4e0a_8c55_3d1f_0b9e_7a21);

/// The id of a user loaded without one (`payments users import` with only a username): a UUID v5
/// of the username, so loading the same list into another environment gives the same ids.
pub fn derived_user_id(username: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("user:{username}").as_bytes())
}

/// ISO 4217 numeric code, alphabetic code, name.
pub const CURRENCIES: [(i32, &str, &str); 5] = [
    (840, "USD", "US Dollar"),
    (978, "EUR", "Euro"),
    (608, "PHP", "Philippine Peso"),
    (344, "HKD", "Hong Kong Dollar"),
    (986, "BRL", "Brazilian Real"),
];

const FIRST: [&str; 10] = [
    "Ada", "Bruno", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonas",
];
const LAST: [&str; 3] = ["Okafor", "Lindqvist", "Moreau"];

/// One demo user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    pub user_id: Uuid,
    pub name: String,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub active: bool,
}

/// The 30 demo users: `username` is the lower-cased first name and a 4-digit number derived from
/// the position, `user_id` a UUID v5 of the username, e-mail on the reserved `example.com` domain.
pub fn demo_users() -> Vec<DemoUser> {
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 9, 0, 0)
        .single()
        .unwrap_or_default();
    LAST.iter()
        .flat_map(|last| FIRST.iter().map(move |first| (*first, *last)))
        .enumerate()
        .map(|(i, (first, last))| {
            let i = i as u32;
            let number = 1000 + (i * 7919 + 4231) % 9000;
            let username = format!("{}{number}", first.to_lowercase());
            DemoUser {
                user_id: Uuid::new_v5(&NAMESPACE, format!("demo-user:{username}").as_bytes()),
                name: format!("{first} {last}"),
                email: format!("{username}@example.com"),
                username,
                created_at: start
                    + TimeDelta::days(i64::from(i))
                    + TimeDelta::minutes(i64::from(i * 37 % 600)),
                active: true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn demo_users_are_unique_and_stable() {
        let users = demo_users();
        assert_eq!(users.len(), 30);
        let names: HashSet<_> = users.iter().map(|u| &u.username).collect();
        let ids: HashSet<_> = users.iter().map(|u| u.user_id).collect();
        assert_eq!(names.len(), 30);
        assert_eq!(ids.len(), 30);
        assert_eq!(users, demo_users());
        assert!(users.iter().all(|u| u.email.ends_with("@example.com")));
    }

    #[test]
    fn derived_user_ids_depend_only_on_the_username() {
        assert_eq!(derived_user_id("marcos2349"), derived_user_id("marcos2349"));
        assert_ne!(derived_user_id("marcos2349"), derived_user_id("Marcos2349"));
        // Not a demo user's id, so a loaded user cannot collide with a seeded one.
        let demo = &demo_users()[0];
        assert_ne!(derived_user_id(&demo.username), demo.user_id);
    }
}
