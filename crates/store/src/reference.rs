use payments_domain::ReferenceData;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// Reads users and currencies into memory for validation.
pub async fn load_reference_data(pool: &PgPool) -> Result<ReferenceData> {
    let users: Vec<(Uuid, String)> = sqlx::query_as("SELECT user_id, username FROM users")
        .fetch_all(pool)
        .await?;
    let currencies: Vec<(i32, String)> =
        sqlx::query_as("SELECT currency_id, currency::text FROM currencies")
            .fetch_all(pool)
            .await?;
    Ok(ReferenceData::new(users, currencies))
}

/// Active user ids and currency codes, for the generator.
pub async fn load_participants(pool: &PgPool) -> Result<(Vec<Uuid>, Vec<i32>)> {
    let users: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM users WHERE active ORDER BY username")
            .fetch_all(pool)
            .await?;
    let currencies: Vec<i32> =
        sqlx::query_scalar("SELECT currency_id FROM currencies ORDER BY currency_id")
            .fetch_all(pool)
            .await?;
    Ok((users, currencies))
}
