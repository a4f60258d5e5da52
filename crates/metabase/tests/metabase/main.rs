//! `payments metabase-setup` against an HTTP stand-in for Metabase's REST API (`standin`), and
//! the read-only reporting role against the real PostgreSQL (`reader`).

mod reader;
mod standin;
