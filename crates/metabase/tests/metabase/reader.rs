//! The reporting role against a real PostgreSQL: every Overview question runs as the login role
//! `metabase-setup` creates, and that role can neither write nor read password hashes.

use std::str::FromStr;

use chrono::{Duration, Utc};
use payments_domain::dashboard::OVERVIEW;
use payments_domain::demo::demo_users;
use payments_domain::{Payment, Source, Status};
use payments_store::{
    create_import, ensure_reader_login, write_batch, Batch, LoginRole, NewImport, Record,
    RecordOutcome,
};
use payments_testkit::{unique_name, TestDb};
use secrecy::SecretString;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use uuid::Uuid;

/// Users (seeded by the test database), transactions (one suspicious), a rejected record and an
/// import: something for every question to show.
async fn seed(pool: &PgPool) {
    let users = demo_users();
    let payment = |i: usize, suspicious: bool| Payment {
        transaction_id: Uuid::new_v4(),
        sender_id: users[i % users.len()].user_id,
        receiver_id: users[(i + 1) % users.len()].user_id,
        amount: rust_decimal::Decimal::from(100 + i as i64),
        currency_code: if i.is_multiple_of(2) { 840 } else { 978 },
        transaction_date: Utc::now() - Duration::days(i as i64),
        status: Status::ALL[i % Status::ALL.len()],
        source: Source::Stream,
        import_id: None,
        import_row: None,
        suspicious,
    };
    let mut records: Vec<Record> = (0..6)
        .map(|i| Record {
            topic: "payments-events".into(),
            partition: 0,
            offset: i as i64,
            outcome: RecordOutcome::Valid(payment(i, i == 0)),
        })
        .collect();
    records.push(Record {
        topic: "payments-events".into(),
        partition: 0,
        offset: 6,
        outcome: RecordOutcome::Rejected {
            payload: b"{}".to_vec(),
            reason: "invalid_json: expected value".into(),
            kind: payments_domain::validate::RejectKind::NotJson,
            import_id: None,
            row_number: None,
            reference_miss: false,
        },
    });
    let outcome = write_batch(pool, &unique_name("seed"), &Batch { records })
        .await
        .expect("seed batch");
    assert_eq!((outcome.upserted, outcome.rejected), (6, 1));
    create_import(
        pool,
        &NewImport {
            id: Uuid::new_v4(),
            file_name: "payments.csv".into(),
            suspicious_threshold: 8000.into(),
            dry_run: false,
            started_by: Some("ops@example.com".into()),
            expected_totals: None,
            corrects: None,
        },
    )
    .await
    .expect("import");
}

/// A pool connected as `role` to the test database.
async fn connect_as(db: &TestDb, role: &str, password: &str) -> PgPool {
    let options = PgConnectOptions::from_str(&db.url)
        .expect("test database URL")
        .username(role)
        .password(password);
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("connecting as {role}: {e}"))
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

#[tokio::test]
async fn the_reader_runs_every_question_and_nothing_else() {
    let db = TestDb::create().await;
    seed(&db.pool).await;
    let role = unique_name("metabase").replace('-', "_");
    let password = unique_name("pw");
    let secret = SecretString::from(password.clone());

    // Several Jobs at once (a retried one overlapping the next) must all succeed.
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (pool, role, secret) = (db.pool.clone(), role.clone(), secret.clone());
            tokio::spawn(async move { ensure_reader_login(&pool, &role, &secret).await })
        })
        .collect();
    for run in runs {
        run.await.expect("task").expect("ensure the login role");
    }
    assert_eq!(
        ensure_reader_login(&db.pool, &role, &secret)
            .await
            .expect("again"),
        LoginRole::Existing
    );

    let reader = connect_as(&db, &role, &password).await;
    let (superuser, member): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper, pg_has_role(current_user, 'payments_reader', 'MEMBER')
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&reader)
    .await
    .expect("own role");
    assert!(
        !superuser && member,
        "superuser {superuser}, member {member}"
    );

    for question in OVERVIEW {
        let rows = sqlx::query(question.sql)
            .fetch_all(&reader)
            .await
            .unwrap_or_else(|e| panic!("{} as the reader: {e}", question.name));
        assert!(!rows.is_empty(), "{} returned no rows", question.name);
    }

    let insert = sqlx::query(
        "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount, currency_id,
                                   transaction_date, status)
         SELECT gen_random_uuid(), user_id, user_id, 1, 840, now(), 'pending' FROM users LIMIT 1",
    )
    .execute(&reader)
    .await
    .expect_err("the reader cannot write");
    assert_eq!(sqlstate(&insert).as_deref(), Some("42501"), "{insert}");
    let hash = sqlx::query("SELECT password_hash FROM users")
        .fetch_all(&reader)
        .await
        .expect_err("the reader cannot read password hashes");
    assert_eq!(sqlstate(&hash).as_deref(), Some("42501"), "{hash}");
    let usernames: Vec<String> = sqlx::query_scalar("SELECT username FROM users")
        .fetch_all(&reader)
        .await
        .expect("the reader reads user names");
    assert_eq!(usernames.len(), demo_users().len());

    // A table nobody granted (or a grant too many) shows here: the migration that adds a table
    // decides what the reader sees, since there are no default privileges.
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname,
                has_table_privilege('payments_reader', c.oid, 'SELECT'),
                has_table_privilege('payments_reader', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v')
         ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("tables");
    assert!(tables.len() > 5, "{tables:?}");
    for (table, select, write) in &tables {
        assert!(!write, "the reader may write {table}");
        assert_eq!(*select, table != "users", "SELECT on {table}");
    }

    reader.close().await;
    db.drop_database().await;
    let admin = PgPool::connect(&payments_testkit::stack().admin_url)
        .await
        .expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&admin)
        .await
        .expect("drop the test's login role");
}

#[tokio::test]
async fn a_login_role_that_may_do_more_than_read_is_refused() {
    let db = TestDb::create_with(false).await;
    let role = unique_name("powerful").replace('-', "_");
    let admin = PgPool::connect(&payments_testkit::stack().admin_url)
        .await
        .expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN CREATEDB"
    )))
    .execute(&admin)
    .await
    .expect("create a role that can create databases");
    let error = ensure_reader_login(&db.pool, &role, &SecretString::from("pw-never-shown"))
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("may do more than read"), "{message}");
    assert!(!message.contains("pw-never-shown"), "{message}");
    db.drop_database().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&admin)
        .await
        .expect("drop the test's role");
}

/// `(salt, iterations)` of a stored SCRAM-SHA-256 verifier.
fn salt_of(verifier: &str) -> (Vec<u8>, u32) {
    use base64::Engine;
    let rest = verifier
        .strip_prefix("SCRAM-SHA-256$")
        .unwrap_or_else(|| panic!("not a SCRAM verifier: {verifier}"));
    let (iterations, rest) = rest.split_once(':').expect("iterations");
    let (salt, _) = rest.split_once('$').expect("salt");
    (
        base64::engine::general_purpose::STANDARD
            .decode(salt)
            .expect("base64 salt"),
        iterations.parse().expect("iteration count"),
    )
}

async fn stored_verifier(admin: &PgPool, role: &str) -> String {
    sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
        .bind(role)
        .fetch_one(admin)
        .await
        .expect("pg_authid (the admin URL is a superuser)")
}

/// The verifier sent instead of the password is the one PostgreSQL computes itself, so the role
/// logs in with the password (the local stack trusts every login, so logging in proves nothing).
#[tokio::test]
async fn the_password_is_sent_as_the_verifier_postgresql_would_store() {
    let db = TestDb::create_with(false).await;
    let admin = PgPool::connect(&payments_testkit::stack().admin_url)
        .await
        .expect("admin");
    sqlx::query("SET password_encryption = 'scram-sha-256'")
        .execute(&admin)
        .await
        .expect("scram");
    for password in ["Tr0ub4dor-3", "pässwörd \u{FB01}ne"] {
        let role = unique_name("scram").replace('-', "_");
        // PostgreSQL hashes a plain password itself.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}'"
        )))
        .execute(&admin)
        .await
        .expect("create role");
        let theirs = stored_verifier(&admin, &role).await;
        let (salt, iterations) = salt_of(&theirs);
        assert_eq!(
            payments_store::scram_sha256_verifier_with(password, &salt, iterations),
            theirs,
            "{password:?}"
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
            .execute(&admin)
            .await
            .expect("drop role");

        // ensure_reader_login stores a verifier of the password, never the password.
        let role = unique_name("metabase").replace('-', "_");
        ensure_reader_login(&db.pool, &role, &SecretString::from(password))
            .await
            .expect("login role");
        let ours = stored_verifier(&admin, &role).await;
        let (salt, iterations) = salt_of(&ours);
        assert_eq!(iterations, 4096);
        assert_eq!(
            payments_store::scram_sha256_verifier_with(password, &salt, iterations),
            ours
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
            .execute(&admin)
            .await
            .expect("drop role");
    }
    db.drop_database().await;
}
