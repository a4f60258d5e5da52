//! The `imports` table against the real PostgreSQL of the local stack, one fresh database per test.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use payments_domain::demo::demo_users;
use payments_domain::event::import_transaction_id;
use payments_domain::import::{ImportCounts, ImportFailure, ImportStatus};
use payments_domain::validate::RejectKind;
use payments_domain::{Payment, Source, Status};
use payments_store::{
    create_import, finalise_imports, find_by_sha256, get_import, mark_done, mark_failed,
    mark_published, mark_stored, recent_imports, set_counts, write_batch, Batch, NewImport, Record,
    RecordOutcome, StoredFile,
};
use payments_testkit::TestDb;
use rust_decimal::Decimal;
use uuid::Uuid;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn new_import(file_name: &str) -> NewImport {
    NewImport {
        id: Uuid::new_v4(),
        file_name: file_name.to_owned(),
        suspicious_threshold: Decimal::from(8000),
        dry_run: false,
        started_by: Some("ops@example.com".into()),
        expected_totals: None,
        corrects: None,
    }
}

fn stored<'a>(key: &'a str, sha256: &'a str, first_import_id: Option<Uuid>) -> StoredFile<'a> {
    StoredFile {
        object_key: key,
        sha256,
        size_bytes: if key.starts_with("regular") { 2616 } else { 10 },
        first_import_id,
    }
}

fn valid(import_id: Uuid, row: i64, offset: i64) -> Record {
    let users = demo_users();
    Record {
        topic: Arc::from("import-payments-events"),
        partition: 0,
        offset,
        outcome: RecordOutcome::Valid(Payment {
            transaction_id: import_transaction_id(SHA, row as u64),
            sender_id: users[0].user_id,
            receiver_id: users[1].user_id,
            amount: Decimal::new(1234, 2),
            currency_code: 840,
            transaction_date: Utc.with_ymd_and_hms(2025, 7, 7, 1, 3, 41).single().unwrap(),
            status: Status::Completed,
            source: Source::Import,
            import_id: Some(import_id),
            import_row: Some(row),
            suspicious: false,
        }),
    }
}

fn rejected(import_id: Uuid, row: i64, offset: i64) -> Record {
    Record {
        topic: Arc::from("import-payments-events"),
        partition: 0,
        offset,
        outcome: RecordOutcome::Rejected {
            payload: b"{}".to_vec(),
            reason: "`username_sender` is not a known user".into(),
            kind: RejectKind::UnknownUser,
            import_id: Some(import_id),
            row_number: Some(row),
            reference_miss: true,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_moves_forward_and_counts_its_rows_from_the_data() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    let new = new_import("regular_transactions.csv");
    let id = new.id;

    let created = create_import(pool, &new).await.unwrap();
    assert_eq!(created.status, ImportStatus::Received);
    assert_eq!(created.suspicious_threshold, Decimal::from(8000));
    let progress = get_import(pool, id).await.unwrap().unwrap();
    assert_eq!((progress.counts.ingested, progress.counts.rejected), (0, 0));
    assert!(get_import(pool, Uuid::new_v4()).await.unwrap().is_none());

    let key = "regular_transactions_20251125_214500.csv";
    assert!(mark_stored(pool, id, &stored(key, SHA, None))
        .await
        .unwrap());
    let resumed = create_import(pool, &new).await.unwrap();
    assert_eq!(
        (resumed.status, resumed.object_key.as_deref()),
        (ImportStatus::Stored, Some(key)),
        "creating an existing import (a resumed one) returns it unchanged"
    );
    assert!(
        !mark_stored(pool, id, &stored(key, SHA, None))
            .await
            .unwrap(),
        "only once"
    );
    let counts = ImportCounts {
        rows: 6,
        unique: 5,
        duplicates: 1,
        suspicious: 1,
        ..ImportCounts::default()
    };
    assert!(set_counts(pool, id, &counts).await.unwrap());
    assert!(mark_published(pool, id, 5).await.unwrap());
    assert!(
        !mark_stored(pool, id, &stored(key, SHA, None))
            .await
            .unwrap(),
        "never backwards"
    );

    // Rows 1-3 become transactions; row 4 is rejected twice (a redelivery), counted once.
    let batch = Batch {
        records: vec![
            valid(id, 1, 0),
            valid(id, 2, 1),
            valid(id, 3, 2),
            rejected(id, 4, 3),
            rejected(id, 4, 4),
        ],
    };
    write_batch(pool, "test-group", &batch).await.unwrap();
    let progress = get_import(pool, id).await.unwrap().unwrap();
    assert_eq!((progress.counts.ingested, progress.counts.rejected), (3, 1));
    assert_eq!(progress.counts.published, 5);
    assert_eq!(progress.object_key.as_deref(), Some(key));
    assert_eq!(progress.sha256.as_deref(), Some(SHA));
    assert!(!progress.is_complete());
    assert!(finalise_imports(pool).await.unwrap().is_empty());

    // Row 4 is stored after all (users reloaded) and row 5 arrives: every row accounted for.
    let batch = Batch {
        records: vec![valid(id, 4, 5), valid(id, 5, 6)],
    };
    write_batch(pool, "test-group", &batch).await.unwrap();
    let progress = get_import(pool, id).await.unwrap().unwrap();
    assert_eq!((progress.counts.ingested, progress.counts.rejected), (5, 0));
    assert!(progress.is_complete());
    assert_eq!(finalise_imports(pool).await.unwrap(), [id]);
    assert!(finalise_imports(pool).await.unwrap().is_empty());
    let done = get_import(pool, id).await.unwrap().unwrap();
    assert_eq!(done.status, ImportStatus::Done);
    assert!(done.updated_at >= done.created_at);

    // Final states are final.
    assert!(
        !mark_failed(pool, id, ImportFailure::PlatformUnavailable, "late")
            .await
            .unwrap()
    );
    assert!(!set_counts(pool, id, &ImportCounts::default())
        .await
        .unwrap());
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bytes_are_found_at_their_first_import() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    assert!(find_by_sha256(pool, SHA).await.unwrap().is_none());

    // Stored but never published: not a previous import.
    let only_stored = new_import("a.csv");
    create_import(pool, &only_stored).await.unwrap();
    mark_stored(pool, only_stored.id, &stored("a.csv", SHA, None))
        .await
        .unwrap();
    // A dry run publishes nothing: not a previous import either.
    let mut dry = new_import("a.csv");
    dry.dry_run = true;
    create_import(pool, &dry).await.unwrap();
    mark_stored(pool, dry.id, &stored("a.csv", SHA, None))
        .await
        .unwrap();
    mark_done(pool, dry.id).await.unwrap();
    assert!(find_by_sha256(pool, SHA).await.unwrap().is_none());

    let first = new_import("a.csv");
    create_import(pool, &first).await.unwrap();
    mark_stored(pool, first.id, &stored("a_1.csv", SHA, None))
        .await
        .unwrap();
    mark_published(pool, first.id, 0).await.unwrap();
    let second = new_import("copy of a.csv");
    create_import(pool, &second).await.unwrap();
    let earlier = find_by_sha256(pool, SHA).await.unwrap().unwrap();
    assert_eq!(earlier.id, first.id);
    mark_stored(pool, second.id, &stored("a_2.csv", SHA, Some(earlier.id)))
        .await
        .unwrap();
    // Nothing to publish: the re-upload is done at once.
    mark_done(pool, second.id).await.unwrap();
    assert_eq!(
        find_by_sha256(pool, SHA).await.unwrap().unwrap().id,
        first.id,
        "still the earliest"
    );
    let again = get_import(pool, second.id).await.unwrap().unwrap();
    assert_eq!(again.first_import_id, Some(first.id));

    let history = recent_imports(pool, 10, None).await.unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].id, second.id, "newest first");
    let older = recent_imports(pool, 10, Some(history[1].created_at))
        .await
        .unwrap();
    assert!(older.iter().all(|p| p.created_at < history[1].created_at));
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_refuses_inconsistent_rows() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    let new = new_import("b.csv");
    create_import(pool, &new).await.unwrap();

    let bad_sha = mark_stored(pool, new.id, &stored("b.csv", "not-a-sha", None)).await;
    assert!(bad_sha.unwrap_err().is_data_error());
    let bad_counts = ImportCounts {
        rows: 3,
        unique: 1,
        duplicates: 1,
        ..ImportCounts::default()
    };
    assert!(set_counts(pool, new.id, &bad_counts)
        .await
        .unwrap_err()
        .is_data_error());
    // Cannot become stored-like without its bytes' identity.
    assert!(mark_published(pool, new.id, 0)
        .await
        .unwrap_err()
        .is_data_error());

    // Failing always records why.
    assert!(
        mark_failed(pool, new.id, ImportFailure::InvalidFile, "refused")
            .await
            .unwrap()
    );
    let failed = get_import(pool, new.id).await.unwrap().unwrap();
    assert_eq!(failed.status, ImportStatus::Failed);
    assert_eq!(failed.failure, Some(ImportFailure::InvalidFile));
    assert_eq!(failed.error.as_deref(), Some("refused"));
    db.drop_database().await;
}
