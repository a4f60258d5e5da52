//! One line per benchmark figure, printed and (when `PAYMENTS_BENCH_REPORT` names a file)
//! appended to that file as JSON, so `scripts/bench` can print one table and write
//! `docs/benchmarks.md` from every benchmark binary's figures.

use std::io::Write as _;

/// A measured figure next to its baseline from the same run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    /// What was measured, e.g. "ingest 1M events, exactly-once".
    pub figure: String,
    /// The measurement, with its unit.
    pub measured: String,
    /// The baseline measured in the same run, with its unit ("-" when the target is absolute).
    pub baseline: String,
    /// How the measurement compares with the baseline, in the direction the target states.
    pub ratio: Option<f64>,
    /// The target, as the issue states it.
    pub target: String,
    pub met: bool,
    /// Why, when the target is missed, or what the figure includes.
    pub note: String,
}

impl Figure {
    pub fn new(figure: impl Into<String>, measured: impl Into<String>) -> Self {
        Figure {
            figure: figure.into(),
            measured: measured.into(),
            baseline: "-".into(),
            ratio: None,
            target: "-".into(),
            met: true,
            note: String::new(),
        }
    }

    pub fn baseline(mut self, baseline: impl Into<String>, ratio: f64) -> Self {
        self.baseline = baseline.into();
        self.ratio = Some(ratio);
        self
    }

    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.met = met;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    /// Prints the figure and appends it to `$PAYMENTS_BENCH_REPORT`, if set.
    pub fn record(&self) {
        let ratio = self.ratio.map_or("-".to_owned(), |r| format!("{r:.2}x"));
        println!(
            "  {:<44} {:>18}  baseline {:>18}  {:>7}  target {} {}{}",
            self.figure,
            self.measured,
            self.baseline,
            ratio,
            self.target,
            if self.met { "MET" } else { "NOT MET" },
            if self.note.is_empty() {
                String::new()
            } else {
                format!("  ({})", self.note)
            }
        );
        if let Some(path) = std::env::var_os("PAYMENTS_BENCH_REPORT") {
            let line = serde_json::to_string(self).expect("a figure serialises");
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open the benchmark report");
            writeln!(file, "{line}").expect("write the benchmark report");
        }
    }
}

/// A benchmark's size setting: the variable's value, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// p50, p99 and max of `values` (sorted in place), in the values' unit.
pub fn percentiles(values: &mut [f64]) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    [at(0.50), at(0.99), at(1.0)]
}

/// The highest resident set size of process `pid` so far, in MiB (`VmHWM`).
pub fn peak_rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmHWM:")
}

/// The process's anonymous memory now (`RssAnon`), in MiB: its RSS without the pages mapped
/// from files (the binary's code), which the kernel can drop and other processes share.
pub fn anon_rss_mib(pid: u32) -> f64 {
    status_mib(pid, "RssAnon:")
}

/// One kB figure of `/proc/<pid>/status`, in MiB (0 when the process or the field is gone).
fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The machine's CPU time counters (`/proc/stat`), to say how busy every core was between two
/// points of a benchmark.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    pub fn now() -> CpuTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: u64 = fields.iter().sum();
        // idle and iowait
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        CpuTimes {
            busy: total - idle,
            total,
        }
    }

    /// Share (0..=1) of all cores' time spent busy since `self`.
    pub fn busy_since(&self) -> f64 {
        let now = CpuTimes::now();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        now.busy.saturating_sub(self.busy) as f64 / total as f64
    }
}
