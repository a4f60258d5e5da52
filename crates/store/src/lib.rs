//! PostgreSQL access for every role. All SQL of the platform lives in this crate and is
//! parameterised; batch writes are set-based (`unnest` of arrays), never row at a time.

mod backups;
mod cross_file;
pub mod dashboard;
mod error;
mod imports;
mod ingest;
mod pool;
mod reference;
mod reporting;
mod users;

pub use backups::{backup_health, replication_slots, BackupHealth, ReplicationSlot};
pub use cross_file::{
    find_landed_elsewhere, fingerprint_key, held_rows, imports_of_file, release_abandoned,
    release_reservations, reserve, save_held_rows, OwnImport, SeenBefore,
};
pub use error::{Result, StoreError};
pub use imports::{
    corrected_transactions, count_imports_by_status, create_import, decide, finalise_imports,
    find_by_sha256, get_import, import_rejections, load_analysis, mark_awaiting_approval,
    mark_done, mark_failed, mark_published, mark_stored, recent_imports, rejected_not_landed,
    save_analysis, set_counts, start_publishing, Decided, Decision, Import, NewImport, StoredFile,
};
// The history's filters and paging, an import's timeline, names and totals for lists.
pub use imports::{
    analysed_totals, count_decidable, import_names, import_steps, list_imports, HistoryOrder,
    ImportCursor, ImportFilter, ImportName, ImportSteps,
};
pub use ingest::{
    database_behind, load_offsets, write_batch, write_batch_after, write_batch_via, Batch,
    BatchOutcome, CommittedOffsets, Record, RecordOutcome, StoredOffset, WritePath,
};
pub use pool::{connect, migrate, seed_demo_users, ConnectOptions};
pub use reference::{load_participants, load_reference_data};
pub use reporting::{
    ensure_reader_login, scram_sha256_verifier, scram_sha256_verifier_with, LoginRole, READER_ROLE,
};
pub use users::{import_users, InvalidUser, UsersImport};

pub use sqlx::PgPool;
