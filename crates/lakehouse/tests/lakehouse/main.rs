//! The replicator against the real local stack: PostgreSQL with `wal_level = logical`, the S3
//! server, Delta tables written and read back. Each test has its own database, slot and bucket.

mod harness;
mod lost_slot;
mod readers;
mod replicate;
