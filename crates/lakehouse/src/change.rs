//! A committed change as the replicator carries it: the operation, where it was committed
//! (commit LSN, position in its transaction, commit time) and the row in PostgreSQL's text
//! format, one cell per published column.

use chrono::{DateTime, Utc};

/// A WAL position (log sequence number) as a number: `0/16B3748` is `0x16B3748`.
pub type Lsn = u64;

/// `X/Y`, as PostgreSQL writes an LSN.
pub fn lsn_text(lsn: Lsn) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// What happened to a row. `Snapshot` is a row copied by a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Snapshot,
    Insert,
    Update,
    Delete,
}

impl Op {
    /// The word stored in the change log's `_op` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Snapshot => "snapshot",
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// One column's value as PostgreSQL sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cell {
    Null,
    /// The text output of the type (`12.50`, `2026-12-04 10:15:03.123+00`, `t`, `\x00ff`).
    Text(String),
    /// An out-of-line (TOAST) value an UPDATE did not touch: PostgreSQL does not send it, so the
    /// row keeps the value it has.
    Unchanged,
}

/// One change of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub op: Op,
    pub commit_lsn: Lsn,
    /// Position of the change in its transaction (from 0).
    pub seq: u32,
    pub commit_time: DateTime<Utc>,
    /// One cell per published column, in the table's column order.
    pub cells: Vec<Cell>,
}

/// A committed transaction: its changes, each with the index of its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub commit_lsn: Lsn,
    pub commit_time: DateTime<Utc>,
    pub changes: Vec<(usize, Change)>,
}

/// The last change of each row among `changes` (in commit order), with the cells a later
/// UPDATE left unchanged taken from the earlier change: what MERGE applies, since it takes
/// at most one source row per key.
pub fn last_per_key<'a>(
    changes: impl IntoIterator<Item = &'a Change>,
    key_columns: &[usize],
) -> Vec<Change> {
    let mut index: std::collections::HashMap<Vec<Cell>, usize> = std::collections::HashMap::new();
    let mut folded: Vec<Change> = Vec::new();
    for change in changes {
        let key: Vec<Cell> = key_columns
            .iter()
            .map(|&i| change.cells.get(i).cloned().unwrap_or(Cell::Null))
            .collect();
        match index.get(&key) {
            Some(&at) => {
                let earlier = std::mem::replace(&mut folded[at], change.clone());
                if change.op == Op::Update && earlier.op != Op::Delete {
                    for (cell, old) in folded[at].cells.iter_mut().zip(earlier.cells) {
                        if *cell == Cell::Unchanged {
                            *cell = old;
                        }
                    }
                }
            }
            None => {
                index.insert(key, folded.len());
                folded.push(change.clone());
            }
        }
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(op: Op, lsn: Lsn, cells: &[Cell]) -> Change {
        Change {
            op,
            commit_lsn: lsn,
            seq: 0,
            commit_time: DateTime::UNIX_EPOCH,
            cells: cells.to_vec(),
        }
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    #[test]
    fn lsn_is_written_as_postgresql_writes_it() {
        assert_eq!(lsn_text(0x16B3748), "0/16B3748");
        assert_eq!(lsn_text((3 << 32) | 0x10), "3/10");
    }

    #[test]
    fn the_last_change_of_a_key_wins_and_keeps_unchanged_cells() {
        let changes = [
            change(Op::Insert, 1, &[text("a"), text("long text"), text("1")]),
            change(Op::Insert, 1, &[text("b"), text("x"), text("1")]),
            change(Op::Update, 2, &[text("a"), Cell::Unchanged, text("2")]),
            change(Op::Delete, 3, &[text("b"), Cell::Null, Cell::Null]),
        ];
        let folded = last_per_key(&changes, &[0]);
        assert_eq!(folded.len(), 2);
        assert_eq!(
            folded[0],
            change(Op::Update, 2, &[text("a"), text("long text"), text("2")])
        );
        assert_eq!(folded[1].op, Op::Delete);
    }

    #[test]
    fn an_update_after_a_delete_keeps_its_unchanged_cells_unchanged() {
        let changes = [
            change(Op::Delete, 1, &[text("a"), Cell::Null]),
            change(Op::Update, 2, &[text("a"), Cell::Unchanged]),
        ];
        let folded = last_per_key(&changes, &[0]);
        assert_eq!(
            folded,
            vec![change(Op::Update, 2, &[text("a"), Cell::Unchanged])]
        );
    }
}
