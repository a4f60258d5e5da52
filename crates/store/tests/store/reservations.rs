//! Reservations against a real PostgreSQL: the first import to reserve a payment owns it,
//! another sees it as "seen in import X, row N"; what was never published is released when the
//! import fails, is rejected or is abandoned; what may have been published is kept.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use payments_domain::demo::demo_users;
use payments_domain::import::{ApprovalReason, ImportFailure, ImportStatus};
use payments_domain::{Fingerprint, Status};
use payments_store::{
    create_import, decide, find_landed_elsewhere, fingerprint_key, get_import,
    mark_awaiting_approval, mark_failed, mark_stored, release_abandoned, reserve, save_held_rows,
    start_publishing, Decision, NewImport, OwnImport, SeenBefore, StoredFile,
};
use payments_testkit::TestDb;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// A payment told apart by its amount (`"20"` and `"20.00"` are the same payment).
fn payment(amount: &str) -> Fingerprint {
    let users = demo_users();
    Fingerprint {
        sender_id: users[0].user_id,
        receiver_id: users[1].user_id,
        amount: amount.parse::<Decimal>().expect("amount"),
        currency_code: 840,
        transaction_date: Utc
            .with_ymd_and_hms(2025, 8, 1, 10, 0, 0)
            .single()
            .expect("date"),
        status: Status::Completed,
    }
}

async fn import(pool: &PgPool, started_by: &str) -> Uuid {
    let id = Uuid::new_v4();
    create_import(
        pool,
        &NewImport {
            id,
            file_name: "payments.csv".into(),
            suspicious_threshold: Decimal::from(8000),
            dry_run: false,
            started_by: Some(started_by.into()),
            expected_totals: None,
            corrects: None,
        },
    )
    .await
    .expect("import");
    id
}

async fn store(pool: &PgPool, id: Uuid) {
    let sha = format!("{:064x}", id.as_u128());
    let file = StoredFile {
        object_key: "payments.csv",
        sha256: &sha,
        size_bytes: 10,
        first_import_id: None,
    };
    assert!(mark_stored(pool, id, &file).await.expect("stored"));
}

fn own(id: Uuid) -> OwnImport {
    OwnImport { id, corrects: None }
}

fn seen(row: u64, seen_import_id: Uuid, seen_row: u64) -> SeenBefore {
    SeenBefore {
        row,
        seen_import_id,
        seen_row,
    }
}

#[tokio::test]
async fn the_first_import_to_reserve_a_payment_owns_it() {
    let db = TestDb::create().await;
    let (a, b) = (
        import(&db.pool, "alice").await,
        import(&db.pool, "bob").await,
    );
    let first = [(1, payment("10.00")), (2, payment("20"))];
    assert_eq!(reserve(&db.pool, own(a), &first).await.expect("a"), []);
    // Row 3 is row 2's payment written with cents; row 4 is new.
    let second = [(3, payment("20.00")), (4, payment("30.00"))];
    assert_eq!(
        reserve(&db.pool, own(b), &second).await.expect("b"),
        [seen(3, a, 2)]
    );
    // Reserving again is harmless: own reservations are not "seen elsewhere".
    assert_eq!(reserve(&db.pool, own(a), &first).await.expect("again"), []);
    // A dry run sees both owners and reserves nothing.
    let dry = import(&db.pool, "carol").await;
    let everything = [(1, payment("10")), (2, payment("30")), (3, payment("40"))];
    assert_eq!(
        find_landed_elsewhere(&db.pool, own(dry), &everything)
            .await
            .expect("dry run"),
        [seen(1, a, 1), seen(2, b, 4)]
    );
    let reserved: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_reservations")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(reserved, 3);
    db.drop_database().await;
}

#[tokio::test]
async fn a_correction_treats_what_its_original_reserved_as_its_own() {
    let db = TestDb::create().await;
    let original = import(&db.pool, "alice").await;
    reserve(&db.pool, own(original), &[(2, payment("10.00"))])
        .await
        .expect("original");
    let correction = import(&db.pool, "alice").await;
    let as_correction = OwnImport {
        id: correction,
        corrects: Some(original),
    };
    assert_eq!(
        reserve(&db.pool, as_correction, &[(1, payment("10.00"))])
            .await
            .expect("correction"),
        []
    );
    db.drop_database().await;
}

#[tokio::test]
async fn what_was_never_published_is_released_what_may_have_been_is_kept() {
    let db = TestDb::create().await;
    let later = import(&db.pool, "zoe").await;
    let taken = |amount: &'static str| {
        let pool = db.pool.clone();
        async move {
            !reserve(&pool, own(later), &[(1, payment(amount))])
                .await
                .expect("later")
                .is_empty()
        }
    };

    // Failed before publishing: released in the same transaction.
    let failed_early = import(&db.pool, "alice").await;
    reserve(&db.pool, own(failed_early), &[(1, payment("1.00"))])
        .await
        .expect("reserve");
    mark_failed(
        &db.pool,
        failed_early,
        ImportFailure::TotalsMismatch,
        "totals",
    )
    .await
    .expect("failed");
    assert!(!taken("1.00").await, "released");

    // Failed after publishing started: its rows may be on their way, so they stay reserved.
    let failed_late = import(&db.pool, "alice").await;
    reserve(&db.pool, own(failed_late), &[(1, payment("2.00"))])
        .await
        .expect("reserve");
    store(&db.pool, failed_late).await;
    assert!(start_publishing(&db.pool, failed_late)
        .await
        .expect("start"));
    mark_failed(
        &db.pool,
        failed_late,
        ImportFailure::PlatformUnavailable,
        "broker",
    )
    .await
    .expect("failed");
    assert!(taken("2.00").await, "kept");

    // A whole-file hold rejected: nothing was published, all released.
    let rejected = import(&db.pool, "alice").await;
    reserve(&db.pool, own(rejected), &[(1, payment("3.00"))])
        .await
        .expect("reserve");
    store(&db.pool, rejected).await;
    mark_awaiting_approval(&db.pool, rejected, &[ApprovalReason::SuspiciousRows], 0)
        .await
        .expect("held");
    decide(&db.pool, rejected, Decision::Reject, "bob", None)
        .await
        .expect("rejected");
    assert!(!taken("3.00").await, "released");

    // A cross-file hold rejected: the rest published and stays reserved, the held row goes.
    let rows_held = import(&db.pool, "alice").await;
    reserve(
        &db.pool,
        own(rows_held),
        &[(1, payment("4.00")), (2, payment("5.00"))],
    )
    .await
    .expect("reserve");
    store(&db.pool, rows_held).await;
    save_held_rows(&db.pool, rows_held, &[seen(2, failed_late, 1)])
        .await
        .expect("held rows");
    assert!(start_publishing(&db.pool, rows_held).await.expect("start"));
    mark_awaiting_approval(
        &db.pool,
        rows_held,
        &[ApprovalReason::CrossFileDuplicates],
        0,
    )
    .await
    .expect("held");
    decide(&db.pool, rows_held, Decision::Reject, "bob", None)
        .await
        .expect("rejected");
    assert!(taken("4.00").await, "published row kept");
    assert!(!taken("5.00").await, "held row released");
    db.drop_database().await;
}

#[tokio::test]
async fn an_import_idle_past_the_lease_before_publishing_is_abandoned() {
    let db = TestDb::create().await;
    let idle = import(&db.pool, "alice").await;
    reserve(&db.pool, own(idle), &[(1, payment("1.00"))])
        .await
        .expect("reserve");
    let publishing = import(&db.pool, "alice").await;
    reserve(&db.pool, own(publishing), &[(1, payment("2.00"))])
        .await
        .expect("reserve");
    store(&db.pool, publishing).await;
    assert!(start_publishing(&db.pool, publishing).await.expect("start"));

    let lease = Duration::from_secs(1);
    assert!(release_abandoned(&db.pool, Duration::from_secs(3600))
        .await
        .expect("none yet")
        .is_empty());
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    // Only the import that never started publishing.
    assert_eq!(
        release_abandoned(&db.pool, lease).await.expect("abandoned"),
        [idle]
    );
    let view = get_import(&db.pool, idle)
        .await
        .expect("import")
        .expect("exists");
    assert_eq!(
        (view.status, view.failure),
        (ImportStatus::Failed, Some(ImportFailure::Abandoned))
    );
    // Its importer, were it only slow, may no longer publish.
    assert!(!start_publishing(&db.pool, idle).await.expect("fenced"));
    let next = import(&db.pool, "bob").await;
    assert_eq!(
        reserve(
            &db.pool,
            own(next),
            &[(1, payment("1.00")), (2, payment("2.00"))]
        )
        .await
        .expect("next"),
        [seen(2, publishing, 1)],
        "the abandoned import's payment is free, the publishing one's is not"
    );
    db.drop_database().await;
}

/// Binds a fingerprint's six columns, in table order, to the next six parameters.
macro_rules! bind_fingerprint {
    ($query:expr, $p:expr) => {
        $query
            .bind($p.sender_id)
            .bind($p.receiver_id)
            .bind($p.amount)
            .bind($p.currency_code)
            .bind($p.transaction_date)
            .bind($p.status.as_str())
    };
}

/// The importer's reservation key is the database's `payment_fingerprint_key` (which the
/// migration used to convert reservations in flight), amounts of any scale and dates to the
/// microsecond included; `"20"` and `"20.00"` share one key, other payments do not.
#[tokio::test]
async fn the_importers_key_is_the_databases() {
    let db = TestDb::create().await;
    let mut payments = vec![
        payment("20"),
        payment("20.00"),
        payment("0.01"),
        payment("1234567.891"),
    ];
    let mut later = payment("20");
    later.transaction_date = Utc
        .with_ymd_and_hms(1969, 12, 31, 23, 59, 59)
        .single()
        .expect("date")
        + chrono::Duration::microseconds(123_456);
    later.status = Status::Pending;
    payments.push(later);
    let mut swapped = payment("20");
    std::mem::swap(&mut swapped.sender_id, &mut swapped.receiver_id);
    swapped.currency_code = 978;
    payments.push(swapped);
    for p in &payments {
        let in_sql: i64 = bind_fingerprint!(
            sqlx::query_scalar("SELECT payment_fingerprint_key($1, $2, $3, $4, $5, $6)"),
            p
        )
        .fetch_one(&db.pool)
        .await
        .expect("key in SQL");
        assert_eq!(fingerprint_key(p), in_sql, "{p:?}");
    }
    assert_eq!(fingerprint_key(&payments[0]), fingerprint_key(&payments[1]));
    let mut keys: Vec<i64> = payments[1..].iter().map(fingerprint_key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(
        keys.len(),
        payments.len() - 1,
        "distinct payments, distinct keys"
    );
}

/// Migration 18 changed the reservation key: what imports in flight had reserved by the whole
/// fingerprint stays reserved, under the key the importer now computes.
#[tokio::test]
async fn reservations_in_flight_survive_the_change_of_key() {
    let db = TestDb::migrated_up_to(20261203000017).await;
    let a = import(&db.pool, "alice").await;
    let p = payment("20.50");
    bind_fingerprint!(
        sqlx::query(
            "INSERT INTO payment_reservations (sender_id, receiver_id, amount, currency_id,
                                               transaction_date, status, import_id, row_number)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 3)",
        ),
        p
    )
    .bind(a)
    .execute(&db.pool)
    .await
    .expect("a reservation made before migration 18");
    payments_store::migrate(&db.pool).await.expect("migrate");
    let b = import(&db.pool, "bob").await;
    assert_eq!(
        reserve(&db.pool, own(b), &[(1, payment("20.5"))])
            .await
            .expect("b"),
        [seen(1, a, 3)],
        "bob's import meets alice's reservation"
    );
    db.drop_database().await;
}
