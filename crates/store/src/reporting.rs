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
/// The password never reaches PostgreSQL: its SCRAM-SHA-256 verifier does (what PostgreSQL would
/// store anyway). Name and verifier never become part of the SQL text: they travel as bind
/// parameters into transaction-local settings, and the DO block quotes them with
/// `format('%I', '%L')`, so neither can inject SQL. (Should the generated ALTER ROLE fail,
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
                set_config('payments.login_verifier', $2, true)",
    )
    .bind(name)
    .bind(scram_sha256_verifier(password.expose_secret()))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DO $$
         DECLARE
             login    text := current_setting('payments.login_role');
             verifier text := current_setting('payments.login_verifier');
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
             EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', login, verifier);
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

/// PostgreSQL's SCRAM-SHA-256 verifier of `password` (what `pg_authid.rolpassword` stores), with
/// a fresh random salt and PostgreSQL's default 4096 iterations. Sent instead of the password,
/// so the server never sees the password itself, not even in a log line.
pub fn scram_sha256_verifier(password: &str) -> String {
    use rand::Rng;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    scram_sha256_verifier_with(password, &salt, 4096)
}

/// [`scram_sha256_verifier`] with a given salt and iteration count (RFC 5802, RFC 7677), as
/// PostgreSQL computes it: the password SASLprep-normalised when that succeeds, as is otherwise.
#[doc(hidden)]
pub fn scram_sha256_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    type HmacSha256 = Hmac<Sha256>;
    let mac = |key: &[u8], parts: &[&[u8]]| -> [u8; 32] {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        let mut mac = match HmacSha256::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts any key length"),
        };
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    };
    let prepared = stringprep::saslprep(password)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| password.to_owned());
    let key = prepared.as_bytes();
    // Hi(): PBKDF2-HMAC-SHA-256 with one output block.
    let mut u = mac(key, &[salt, &1u32.to_be_bytes()]);
    let mut salted = u;
    for _ in 1..iterations {
        u = mac(key, &[&u]);
        for (s, b) in salted.iter_mut().zip(u) {
            *s ^= b;
        }
    }
    let client_key = mac(&salted, &[b"Client Key"]);
    let stored_key = Sha256::digest(client_key);
    let server_key = mac(&salted, &[b"Server Key"]);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}
