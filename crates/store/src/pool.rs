use std::str::FromStr;
use std::time::Duration;

use payments_domain::demo::{demo_users, DemoUser};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::{Result, StoreError};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `postgres://user:password@host:port/db`; secret because it may carry a password.
    pub url: SecretString,
    pub max_connections: u32,
    /// How long to wait for a free connection (and for the first connection) before failing.
    pub acquire_timeout: Duration,
    /// `application_name` shown in `pg_stat_activity`.
    pub application_name: String,
}

impl ConnectOptions {
    pub fn new(url: SecretString, application_name: &str) -> Self {
        ConnectOptions {
            url,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            application_name: application_name.to_owned(),
        }
    }
}

/// A lazily connecting pool: the process starts even if the database is down and every use
/// retries, so a database outage never kills a role.
pub fn connect(options: &ConnectOptions) -> Result<PgPool> {
    let connect = PgConnectOptions::from_str(options.url.expose_secret())
        .map_err(|e| StoreError::Url(e.to_string()))?
        .application_name(&options.application_name);
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .test_before_acquire(true)
        .connect_lazy_with(connect))
}

/// Applies the embedded migrations. sqlx holds a PostgreSQL advisory lock while migrating, so
/// several processes starting together apply each migration exactly once.
///
/// On one connection of its own, closed when migrating fails: sqlx returns on an error without
/// releasing its session-level lock, and that connection back in the pool would keep it, so
/// the next attempt would wait for the lock forever (seen when a restored database was still
/// read-only).
pub async fn migrate(pool: &PgPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    // `run_direct` is `run` on a connection (sqlx names it the way around `run`'s "Acquire is
    // not general enough" inside spawned futures); no target version, apply rather than skip.
    match sqlx::migrate!("../../migrations")
        .run_direct(None, &mut *conn, false)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) => {
            // Ending the session releases the lock; a failure to close says nothing new.
            let _ = conn.close().await;
            Err(e.into())
        }
    }
}

/// Inserts the generated demo users (idempotent; existing rows are left alone).
pub async fn seed_demo_users(pool: &PgPool) -> Result<u64> {
    let users = demo_users();
    let column = |f: fn(&DemoUser) -> String| users.iter().map(f).collect::<Vec<_>>();
    let inserted = sqlx::query(
        "INSERT INTO users (user_id, name, username, email, user_creation_date, active)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[])
         ON CONFLICT DO NOTHING",
    )
    .bind(users.iter().map(|u| u.user_id).collect::<Vec<_>>())
    .bind(column(|u| u.name.clone()))
    .bind(column(|u| u.username.clone()))
    .bind(column(|u| u.email.clone()))
    .bind(users.iter().map(|u| u.created_at).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.active).collect::<Vec<_>>())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted)
}
