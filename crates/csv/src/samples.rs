//! Deterministic sample files in the shape of the original platform's, naming the project's own
//! demo users, so demos and tests never depend on anyone else's data.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use payments_domain::demo::{demo_users, CURRENCIES};
use payments_domain::time::format_csv_timestamp;
use payments_domain::validate::Status;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::COLUMNS;

pub const HUGE: &str = "huge_load_transactions.csv";
pub const SUSPICIOUS_DUPLICATED: &str = "suspicious_duplicated_transactions.csv";
pub const SUSPICIOUS: &str = "suspicious_transactions.csv";
pub const REGULAR: &str = "regular_transactions.csv";

/// Every sample file name, in the order [`sample_csvs`] writes them.
pub const SAMPLE_FILES: [&str; 4] = [HUGE, SUSPICIOUS_DUPLICATED, SUSPICIOUS, REGULAR];

/// Writes the four sample files into `dir` (created if needed) and returns their paths.
/// The bytes are the same on every run and machine: the RNG is seeded and the output is
/// plain ASCII with LF line endings.
pub fn sample_csvs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    SAMPLE_FILES
        .iter()
        .map(|name| {
            let path = dir.join(name);
            fs::write(&path, sample_csv(name).unwrap_or_default())?;
            Ok(path)
        })
        .collect()
}

/// The content of one sample file, or `None` for an unknown name.
pub fn sample_csv(name: &str) -> Option<String> {
    let mut gen = Generator::new(name);
    let rows: Vec<Row> = match name {
        HUGE => gen.unique_rows(2000, 100..=1_000_000, 3),
        REGULAR => gen.unique_rows(40, 100..=800_000, 90),
        SUSPICIOUS => gen.unique_rows(12, 800_001..=7_500_000, 90),
        SUSPICIOUS_DUPLICATED => gen.suspicious_duplicated(),
        _ => return None,
    };
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for row in rows {
        out.push_str(&row.line());
        out.push('\n');
    }
    Some(out)
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Row {
    sender: String,
    receiver: String,
    cents: u64,
    currency: &'static str,
    date: DateTime<Utc>,
    status: &'static str,
}

impl Row {
    fn line(&self) -> String {
        format!(
            "{},{},{}.{:02},{},{},{}",
            self.sender,
            self.receiver,
            self.cents / 100,
            self.cents % 100,
            self.currency,
            format_csv_timestamp(self.date),
            self.status
        )
    }
}

struct Generator {
    rng: StdRng,
    users: Vec<String>,
    clock: DateTime<Utc>,
}

impl Generator {
    fn new(name: &str) -> Self {
        // One seed per file, so changing one file's recipe leaves the others byte-identical.
        let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Generator {
            rng: StdRng::seed_from_u64(seed),
            users: demo_users().into_iter().map(|u| u.username).collect(),
            clock: Utc
                .with_ymd_and_hms(2025, 7, 7, 1, 3, 41)
                .single()
                .unwrap_or_default(),
        }
    }

    /// A row between two different users; the clock moves on by up to `max_step` seconds.
    fn row(&mut self, cents: std::ops::RangeInclusive<u64>, max_step: i64) -> Row {
        let sender = self.rng.random_range(0..self.users.len());
        let mut receiver = self.rng.random_range(0..self.users.len() - 1);
        if receiver >= sender {
            receiver += 1;
        }
        self.clock += TimeDelta::seconds(self.rng.random_range(0..=max_step));
        Row {
            sender: self.users[sender].clone(),
            receiver: self.users[receiver].clone(),
            cents: self.rng.random_range(cents),
            currency: CURRENCIES[self.rng.random_range(0..CURRENCIES.len())].1,
            date: self.clock,
            status: Status::ALL[self.rng.random_range(0..Status::ALL.len())].as_str(),
        }
    }

    fn unique_rows(
        &mut self,
        count: usize,
        cents: std::ops::RangeInclusive<u64>,
        max_step: i64,
    ) -> Vec<Row> {
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(count);
        while rows.len() < count {
            let row = self.row(cents.clone(), max_step);
            if seen.insert(row.clone()) {
                rows.push(row);
            }
        }
        rows
    }

    /// 24 distinct rows (every third above 8000, one self-payment) and 6 exact repeats:
    /// row 2 twice more, rows 5, 10, 17 and 24 once more.
    fn suspicious_duplicated(&mut self) -> Vec<Row> {
        let mut base = Vec::with_capacity(24);
        for i in 0..24 {
            let cents = if i % 3 == 2 {
                800_001..=9_000_000
            } else {
                100..=800_000
            };
            base.push(self.row(cents, 60));
        }
        base[10].receiver = base[10].sender.clone();
        let mut rows = Vec::with_capacity(30);
        rows.extend_from_slice(&base[..12]);
        rows.push(base[1].clone());
        rows.extend_from_slice(&base[12..18]);
        rows.push(base[4].clone());
        rows.push(base[9].clone());
        rows.extend_from_slice(&base[18..]);
        rows.push(base[1].clone());
        rows.push(base[15].clone());
        rows.push(base[20].clone());
        rows
    }
}

/// A large deterministic file in the samples' shape for benchmarks and load tests: `rows` data
/// rows (about 66 bytes each), one in 200 an exact repeat of a recent row, amounts up to 10000.
/// Written as it is generated, so a 1 GiB file needs no memory.
pub fn write_large_csv<W: io::Write>(mut out: W, rows: usize) -> io::Result<()> {
    let users: Vec<String> = crate::samples::demo_usernames();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    out.write_all(b"username_sender,username_receiver,amount,currency,transaction_date,status\n")?;
    let mut recent: Vec<String> = Vec::with_capacity(256);
    for i in 0..rows {
        if i > 0 && next() % 200 == 0 {
            let line = &recent[(next() as usize) % recent.len()];
            out.write_all(line.as_bytes())?;
            continue;
        }
        let r = next();
        let sender = (r % 30) as usize;
        let receiver = (sender + 1 + (r >> 8) as usize % 29) % 30;
        let cents = 100 + (r >> 16) % 1_000_000;
        let second = i as u64 % 86_400;
        let line = format!(
            "{},{},{}.{:02},{},2025-07-07 {:02}:{:02}:{:02} UTC,{}\n",
            users[sender],
            users[receiver],
            cents / 100,
            cents % 100,
            payments_domain::demo::CURRENCIES[(r >> 40) as usize % 5].1,
            second / 3600,
            second / 60 % 60,
            second % 60,
            Status::ALL[(r >> 50) as usize % 3].as_str()
        );
        out.write_all(line.as_bytes())?;
        if recent.len() < 256 {
            recent.push(line);
        } else {
            recent[i % 256] = line;
        }
    }
    out.flush()
}

/// [`write_large_csv`] into memory.
pub fn large_csv(rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 66 + 100);
    // Writing to a Vec cannot fail.
    let _ = write_large_csv(&mut out, rows);
    out
}

fn demo_usernames() -> Vec<String> {
    payments_domain::demo::demo_users()
        .into_iter()
        .map(|u| u.username)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Analysis, Options, Suspicion};

    fn committed_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../csvs")
    }

    /// The committed `csvs/` must be exactly what the generator writes; regenerate with
    /// `cargo run -p payments-csv --example sample-csvs -- csvs`.
    #[test]
    fn committed_samples_match_the_generator() {
        let dir = tempfile::tempdir().unwrap();
        let written = sample_csvs(dir.path()).unwrap();
        assert_eq!(written.len(), 4);
        for name in SAMPLE_FILES {
            let fresh = fs::read(dir.path().join(name)).unwrap();
            let committed = fs::read(committed_dir().join(name)).unwrap_or_else(|e| {
                panic!("csvs/{name} is missing ({e}); regenerate the sample files")
            });
            assert!(
                fresh == committed,
                "csvs/{name} differs from the generator's output; regenerate the sample files"
            );
        }
    }

    #[test]
    fn samples_are_stable_and_shaped_like_the_originals() {
        let users: HashSet<String> = demo_users().into_iter().map(|u| u.username).collect();
        for name in SAMPLE_FILES {
            let text = sample_csv(name).unwrap();
            assert_eq!(Some(text.clone()), sample_csv(name), "{name}");
            let summary = Analysis::new(&Options::default())
                .run(text.as_bytes())
                .map(|(summary, _)| summary)
                .unwrap();
            for line in text.lines().skip(1) {
                let cells: Vec<&str> = line.split(',').collect();
                assert!(
                    users.contains(cells[0]) && users.contains(cells[1]),
                    "{line}"
                );
                assert!(cells[4].ends_with(" UTC"), "{line}");
            }
            match name {
                HUGE => {
                    assert_eq!((summary.rows, summary.unique), (2000, 2000));
                    assert!(summary.suspicious_rows > 100);
                }
                REGULAR => {
                    assert_eq!((summary.rows, summary.unique), (40, 40));
                    assert_eq!(summary.suspicious_rows, 0);
                }
                SUSPICIOUS => {
                    assert_eq!((summary.rows, summary.unique), (12, 12));
                    assert_eq!(summary.suspicious_rows, 12);
                }
                SUSPICIOUS_DUPLICATED => {
                    assert_eq!(
                        (summary.rows, summary.unique, summary.duplicate_rows),
                        (30, 24, 6)
                    );
                    let rows: Vec<(u64, u64)> = summary
                        .duplicates
                        .iter()
                        .map(|d| (d.row, d.first_row))
                        .collect();
                    assert_eq!(
                        rows,
                        [
                            (2, 2),
                            (5, 5),
                            (10, 10),
                            (13, 2),
                            (17, 17),
                            (20, 5),
                            (21, 10),
                            (24, 24),
                            (28, 2),
                            (29, 17),
                            (30, 24)
                        ]
                    );
                    assert!(summary
                        .suspicious
                        .iter()
                        .any(|s| s.reasons.contains(&Suspicion::SelfPayment)));
                    assert_eq!(summary.suspicious_rows, 9);
                }
                _ => unreachable!(),
            }
        }
    }
}
