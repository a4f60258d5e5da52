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

/// Splits one-change-per-key `folded` into the keys new to the table, whose final rows can be
/// appended, the rest, which need a MERGE, and the new keys deleted again (`gone`). A key is
/// new when its first change in `changes` (commit order, each applied once: the versions skip
/// what a table holds) is an insert: the row did not exist in PostgreSQL, so it is not in the
/// lake either. A new key whose last change deletes it goes to `gone` (it never reaches the
/// table); one with a value the change did not carry (`Cell::Unchanged`) goes to the MERGE,
/// which keeps the table's.
pub fn split_new_keys(
    changes: &[Change],
    folded: Vec<Change>,
    keys: &[usize],
) -> (Vec<Change>, Vec<Change>, Vec<Change>) {
    let key_of = |change: &Change| -> Vec<Cell> {
        keys.iter()
            .map(|&i| change.cells.get(i).cloned().unwrap_or(Cell::Null))
            .collect()
    };
    let mut first: std::collections::HashMap<Vec<Cell>, Op> = std::collections::HashMap::new();
    for change in changes {
        first.entry(key_of(change)).or_insert(change.op);
    }
    let (mut new, mut known, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for change in folded {
        let inserted_here = first.get(&key_of(&change)) == Some(&Op::Insert);
        if !inserted_here || change.cells.contains(&Cell::Unchanged) {
            known.push(change);
        } else if change.op == Op::Delete {
            gone.push(change);
        } else {
            new.push(change);
        }
    }
    (new, known, gone)
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
    fn keys_first_inserted_in_the_batch_are_appended_the_others_merged() {
        let changes = [
            // New, then updated: appended as updated.
            change(Op::Insert, 1, &[text("new"), text("v1")]),
            change(Op::Update, 2, &[text("new"), text("v2")]),
            // Already in the table: merged.
            change(Op::Update, 2, &[text("old"), text("v2")]),
            // Deleted and inserted again: the first change is a delete, so merged.
            change(Op::Delete, 2, &[text("back"), Cell::Null]),
            change(Op::Insert, 3, &[text("back"), text("v3")]),
            // Inserted and deleted within the batch: neither.
            change(Op::Insert, 3, &[text("gone"), text("v1")]),
            change(Op::Delete, 4, &[text("gone"), Cell::Null]),
            // An old key's delete: merged.
            change(Op::Delete, 4, &[text("dropped"), Cell::Null]),
        ];
        let folded = last_per_key(&changes, &[0]);
        let (new, known, gone) = split_new_keys(&changes, folded, &[0]);
        assert_eq!(new, vec![change(Op::Update, 2, &[text("new"), text("v2")])]);
        assert_eq!(
            gone,
            vec![change(Op::Delete, 4, &[text("gone"), Cell::Null])]
        );
        let known: Vec<(&Cell, Op)> = known.iter().map(|c| (&c.cells[0], c.op)).collect();
        assert_eq!(
            known,
            vec![
                (&text("old"), Op::Update),
                (&text("back"), Op::Insert),
                (&text("dropped"), Op::Delete),
            ]
        );
    }

    #[test]
    fn a_new_row_missing_a_value_goes_to_the_merge() {
        // Cannot happen from PostgreSQL (an insert sends every value), but an appended row
        // must never hold the marker.
        let changes = [change(Op::Insert, 1, &[text("k"), Cell::Unchanged])];
        let (new, known, gone) = split_new_keys(&changes, changes.to_vec(), &[0]);
        assert!(new.is_empty() && gone.is_empty());
        assert_eq!(known.len(), 1);
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
