//! The read-only reporting role: login roles that join `payments_reader` (created by the
//! migrations), for Metabase.

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::{Result, StoreError};

/// The group role the migrations create: SELECT on every table, `users` without its password
/// hash, no writes.
pub const READER_ROLE: &str = "payments_reader";

/// Whether [`ensure_reader_login`] had to create the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRole {
    Created,
    Existing,
}

/// Creates or updates the LOGIN role `name` with `password` and makes it a member of
/// [`READER_ROLE`]; an existing role that may do more than read (superuser, CREATEROLE...) is
/// refused. Idempotent and safe when several processes run it at once. The caller needs
/// CREATEROLE (and, from PostgreSQL 16, ADMIN on `payments_reader`, which its creator has).
///
/// The name and password never become part of the SQL text: they travel as bind parameters into
/// transaction-local settings, and the DO block quotes them with `format('%I', '%L')`, so neither
/// can inject SQL and statement logging sees no password. (Should the generated ALTER ROLE fail,
/// PostgreSQL's context quotes it: the error returned keeps only the message.)
pub async fn ensure_reader_login(
    pool: &PgPool,
    name: &str,
    password: &SecretString,
) -> Result<LoginRole> {
    let mut tx = pool.begin().await?;
    // Two runs altering the same role at once fail with "tuple concurrently updated"; this
    // serialises runs on one database (advisory locks are per database: runs against different
    // databases are rare and a failed attempt is retried by the caller).
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('payments.login_role'), hashtext($1))")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let existed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "SELECT set_config('payments.login_role', $1, true),
                set_config('payments.login_password', $2, true)",
    )
    .bind(name)
    .bind(password.expose_secret())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DO $$
         DECLARE
             login    text := current_setting('payments.login_role');
             password text := current_setting('payments.login_password');
         BEGIN
             BEGIN
                 IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = login) THEN
                     EXECUTE format('CREATE ROLE %I LOGIN', login);
                 END IF;
             EXCEPTION
                 -- Created by a concurrent run in the meantime.
                 WHEN duplicate_object OR unique_violation THEN NULL;
             END;
             -- Attributes are not set here: since PostgreSQL 16 a CREATEROLE owner may not even
             -- name SUPERUSER or BYPASSRLS. A role with powers beyond reading is refused instead.
             IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = login
                        AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb
                             OR rolreplication)) THEN
                 RAISE EXCEPTION 'role % may do more than read; Metabase must connect read-only',
                     login USING ERRCODE = 'insufficient_privilege';
             END IF;
             EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', login, password);
             EXECUTE format('GRANT payments_reader TO %I', login);
         END
         $$",
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(db) => StoreError::Role(format!(
            "{} (SQLSTATE {})",
            db.message(),
            db.code().unwrap_or_default()
        )),
        other => StoreError::Database(other),
    })?;
    tx.commit().await?;
    Ok(if existed {
        LoginRole::Existing
    } else {
        LoginRole::Created
    })
}
