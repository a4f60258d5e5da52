//! Where a newly assigned partition resumes: from the offset the database says comes next,
//! checked against the offsets Kafka still retains. A database restored from a backup knows
//! exactly which records it has applied, so the stream replays what the restore lost — unless
//! Kafka no longer has those records, and then the partition is refused, never skipped.

use std::fmt;

/// The offsets a partition holds: `low` is its oldest retained record, `high` the next to be
/// written (Kafka's low and high watermarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    pub low: i64,
    pub high: i64,
}

/// What to do with a partition just assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Read from this offset: the next record the database needs, still retained.
    At(i64),
    /// The database has applied nothing from this partition: read from its oldest record
    /// (not from the group's offsets in Kafka, which a restored database may be behind).
    Beginning,
    /// Refuse: records the database needs were deleted by Kafka before they were applied.
    Gap { needed: i64, oldest_retained: i64 },
    /// Refuse: the database applied records past the partition's end (the topic was
    /// recreated, or the broker lost records); new records at those offsets would be skipped
    /// as already applied.
    Ahead { needed: i64, end: i64 },
}

impl Resume {
    /// From the database's next offset (if it has one) and what Kafka retains (if known:
    /// without it the database's offset is used as it is).
    pub fn decide(next_in_database: Option<i64>, retained: Option<Retained>) -> Resume {
        match (next_in_database, retained) {
            (None, _) => Resume::Beginning,
            (Some(needed), Some(r)) if needed < r.low => Resume::Gap {
                needed,
                oldest_retained: r.low,
            },
            (Some(needed), Some(r)) if needed > r.high => Resume::Ahead {
                needed,
                end: r.high,
            },
            (Some(needed), _) => Resume::At(needed),
        }
    }

    /// How many records a refused partition cannot account for (0 when it is read).
    pub fn missing_records(self) -> i64 {
        match self {
            Resume::At(_) | Resume::Beginning => 0,
            Resume::Gap {
                needed,
                oldest_retained,
            } => oldest_retained - needed,
            Resume::Ahead { needed, end } => needed - end,
        }
    }
}

/// A partition the ingester will not read, and why, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub topic: String,
    pub partition: i32,
    pub resume: Resume,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (topic, partition) = (&self.topic, self.partition);
        match self.resume {
            Resume::Gap {
                needed,
                oldest_retained,
            } => write!(
                f,
                "{topic}[{partition}] is not read: the database needs offset {needed} next, but \
                 Kafka's oldest retained record is {oldest_retained}; {} records were deleted \
                 before they were applied (a restore older than the topic's retention?). See \
                 docs/operations.md, \"The stream after a restore\".",
                oldest_retained - needed
            ),
            Resume::Ahead { needed, end } => write!(
                f,
                "{topic}[{partition}] is not read: the database has applied up to offset {} but \
                 the partition ends at {end}; the topic was recreated or lost records, and its \
                 new records would be skipped as applied. See docs/operations.md, \"The stream \
                 after a restore\".",
                needed - 1
            ),
            Resume::At(_) | Resume::Beginning => {
                write!(f, "{topic}[{partition}] is read")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETAINED: Retained = Retained {
        low: 100,
        high: 250,
    };

    #[test]
    fn a_retained_offset_is_read_from() {
        assert_eq!(Resume::decide(Some(100), Some(RETAINED)), Resume::At(100));
        assert_eq!(Resume::decide(Some(180), Some(RETAINED)), Resume::At(180));
    }

    #[test]
    fn caught_up_is_read_from_the_end() {
        assert_eq!(Resume::decide(Some(250), Some(RETAINED)), Resume::At(250));
    }

    #[test]
    fn nothing_applied_reads_from_the_oldest_record() {
        assert_eq!(Resume::decide(None, Some(RETAINED)), Resume::Beginning);
        assert_eq!(Resume::decide(None, None), Resume::Beginning);
    }

    #[test]
    fn a_needed_record_already_deleted_is_a_gap() {
        let resume = Resume::decide(Some(40), Some(RETAINED));
        assert_eq!(
            resume,
            Resume::Gap {
                needed: 40,
                oldest_retained: 100
            }
        );
        assert_eq!(resume.missing_records(), 60);
    }

    #[test]
    fn an_empty_partition_whose_records_were_all_deleted_is_a_gap() {
        let emptied = Retained {
            low: 250,
            high: 250,
        };
        assert_eq!(Resume::decide(Some(250), Some(emptied)), Resume::At(250));
        assert_eq!(
            Resume::decide(Some(249), Some(emptied)).missing_records(),
            1
        );
    }

    #[test]
    fn applied_past_the_end_is_refused() {
        let resume = Resume::decide(Some(300), Some(RETAINED));
        assert_eq!(
            resume,
            Resume::Ahead {
                needed: 300,
                end: 250
            }
        );
        assert_eq!(resume.missing_records(), 50);
        let recreated = Retained { low: 0, high: 0 };
        assert_eq!(
            Resume::decide(Some(1), Some(recreated)).missing_records(),
            1
        );
    }

    #[test]
    fn unknown_watermarks_keep_the_databases_offset() {
        assert_eq!(Resume::decide(Some(7), None), Resume::At(7));
    }

    #[test]
    fn a_refusal_names_the_partition_the_offsets_and_the_count() {
        let gap = Refusal {
            topic: "payments-events".into(),
            partition: 2,
            resume: Resume::decide(Some(40), Some(RETAINED)),
        };
        let text = gap.to_string();
        for part in ["payments-events[2]", "offset 40", "is 100", "60 records"] {
            assert!(text.contains(part), "{text}");
        }
        let ahead = Refusal {
            topic: "t".into(),
            partition: 0,
            resume: Resume::decide(Some(300), Some(RETAINED)),
        };
        assert!(ahead
            .to_string()
            .contains("up to offset 299 but the partition ends at 250"));
    }
}
