//! Loading users from CSV: both layouts, per-row reasons for bad and conflicting rows, the rest
//! landing, deactivation keeping history.

use payments_csv::users::{HeaderProblem, UserProblem};
use payments_domain::demo::{demo_users, derived_user_id};
use payments_store::{import_users, StoreError, UsersImport};
use payments_testkit::TestDb;
use uuid::Uuid;

const MARCOS: &str = "46262ec5-3785-4148-b23a-721d2e78a9cc";
const ANA: &str = "5b0f3c9e-8d7a-4c1b-9e2f-0a1b2c3d4e5f";

async fn load(db: &TestDb, csv: &str) -> UsersImport {
    import_users(&db.pool, std::io::Cursor::new(csv.to_owned().into_bytes()))
        .await
        .expect("a readable file")
}

type UserColumns = (Uuid, String, String, String, bool);

async fn user(db: &TestDb, username: &str) -> Option<UserColumns> {
    sqlx::query_as("SELECT user_id, name, username, email, active FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&db.pool)
        .await
        .expect("query")
}

#[tokio::test]
async fn the_original_export_loads_and_reloads_unchanged() {
    let db = TestDb::create().await;
    let export = format!(
        "user_id,name,username,user_creation_date,email,active\n\
         {MARCOS},Marcos Pampuch,marcos2349,2025-01-01 12:34:45,marcos2349@gmail.com,True\n\
         not-a-uuid,Broken Row,broken,2025-01-01 12:34:45,broken@example.com,True\n\
         {ANA},Ana Lima,ana77,2024-12-31 23:59:59,ana77@example.com,False\n"
    );
    let first = load(&db, &export).await;
    assert_eq!(
        (first.rows, first.added, first.updated, first.unchanged),
        (3, 2, 0, 0),
        "{first:?}"
    );
    assert_eq!(first.invalid.len(), 1);
    assert_eq!(first.invalid[0].row, 2);
    assert_eq!(
        first.invalid[0].reason,
        UserProblem::UserId("not-a-uuid".into())
    );
    let marcos = user(&db, "marcos2349").await.expect("loaded");
    assert_eq!(marcos.0, MARCOS.parse::<Uuid>().unwrap());
    assert!(marcos.4);
    assert!(!user(&db, "ana77").await.expect("loaded").4, "inactive");
    let created: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT user_creation_date FROM users WHERE username = 'marcos2349'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        created,
        "2025-01-01T12:34:45Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );

    let again = load(&db, &export).await;
    assert_eq!((again.added, again.updated, again.unchanged), (0, 0, 2));
    db.drop_database().await;
}

#[tokio::test]
async fn changes_update_and_deactivation_keeps_the_users_payments() {
    let db = TestDb::create().await;
    let header = "user_id,name,username,user_creation_date,email,active";
    load(
        &db,
        &format!(
            "{header}\n{MARCOS},Marcos Pampuch,marcos2349,2025-01-01 12:34:45,marcos2349@gmail.com,True\n\
             {ANA},Ana Lima,ana77,2024-12-31 23:59:59,ana77@example.com,True\n"
        ),
    )
    .await;
    let payment = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount, currency_id, transaction_date, status)
         VALUES ($1, $2, $3, 10, 840, now(), 'completed')",
    )
    .bind(payment)
    .bind(ANA.parse::<Uuid>().unwrap())
    .bind(MARCOS.parse::<Uuid>().unwrap())
    .execute(&db.pool)
    .await
    .unwrap();

    let changed = load(
        &db,
        &format!(
            "{header}\n{MARCOS},Marcos P. Pampuch,marcos2349,2025-01-01 12:34:45,marcos@example.org,True\n\
             {ANA},Ana Lima,ana77,2024-12-31 23:59:59,ana77@example.com,false\n"
        ),
    )
    .await;
    assert_eq!(
        (changed.updated, changed.deactivated, changed.invalid.len()),
        (1, 1, 0),
        "{changed:?}"
    );
    let marcos = user(&db, "marcos2349").await.unwrap();
    assert_eq!(
        (marcos.1.as_str(), marcos.3.as_str()),
        ("Marcos P. Pampuch", "marcos@example.org")
    );
    assert!(!user(&db, "ana77").await.unwrap().4);
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transactions WHERE transaction_id = $1")
            .bind(payment)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(kept, 1, "a deactivated user's payments stay");
    db.drop_database().await;
}

#[tokio::test]
async fn the_short_form_matches_by_username_and_conflicts_are_reported_per_row() {
    let db = TestDb::create().await;
    let demo = &demo_users()[0];
    let other = &demo_users()[1];
    let csv = format!(
        "username,name,email,active\n\
         newbie,New Bie,newbie@example.com,\n\
         {},Renamed Demo,{},\n\
         thief,Email Thief,{},\n\
         later,Later User,later@example.com,no\n",
        demo.username, demo.email, other.email
    );
    let summary = load(&db, &csv).await;
    assert_eq!(
        (summary.rows, summary.added, summary.updated),
        (4, 2, 1),
        "{summary:?}"
    );
    assert_eq!(summary.invalid.len(), 1);
    assert_eq!(summary.invalid[0].row, 3);
    assert_eq!(
        summary.invalid[0].reason,
        UserProblem::EmailTaken(other.email.clone())
    );
    assert!(summary.invalid[0]
        .reason
        .to_string()
        .contains("belongs to another user"));
    assert_eq!(
        user(&db, "newbie").await.unwrap().0,
        derived_user_id("newbie")
    );
    let renamed = user(&db, &demo.username).await.unwrap();
    assert_eq!(
        (renamed.0, renamed.1.as_str()),
        (demo.user_id, "Renamed Demo")
    );
    assert!(user(&db, "thief").await.is_none());
    assert!(!user(&db, "later").await.unwrap().4, "added inactive");

    // A username another user_id already has.
    let taken = load(
        &db,
        &format!(
            "user_id,username,name,email\n{},{},Impostor,impostor@example.com\n",
            Uuid::new_v4(),
            other.username
        ),
    )
    .await;
    assert_eq!(
        taken.invalid.first().map(|i| &i.reason),
        Some(&UserProblem::UsernameTaken(other.username.clone()))
    );
    db.drop_database().await;
}

#[tokio::test]
async fn an_unusable_header_loads_nothing() {
    let db = TestDb::create_with(false).await;
    let refused = import_users(
        &db.pool,
        std::io::Cursor::new(b"username,name,email,phone\nx,X,x@example.com,1\n".to_vec()),
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::UsersHeader(HeaderProblem::Unknown(ref c))) if c == "phone"),
        "{refused:?}"
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
    db.drop_database().await;
}
