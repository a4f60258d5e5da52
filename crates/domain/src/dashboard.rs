//! The Overview dashboard's questions, defined once: `payments metabase-setup` turns each into a
//! Metabase native question and the web app's `/dashboard` runs the same SQL (through
//! `payments_store::dashboard`) and draws it. They are the dashboard's definitions, not storage:
//! this module holds their words, their SQL text and how each is drawn; nothing here runs them.
//!
//! Every query is read-only: Metabase runs them under the read-only reporting role
//! (`payments_reader`, which cannot see `users.password_hash`). The shape is fixed per
//! [`Visualization`]: for charts the first column is the label (a date or text) and the second the
//! value; a [`Visualization::Table`] may have any columns; a [`Visualization::Scalar`] returns one
//! row with one number. No rows means "no data yet".
//!
//! Totals over all payments sum `daily_payment_totals` and `user_payment_totals`, which
//! triggers keep exact as rows land (migration `payment_totals`; a key may have several rows
//! until they are compacted, so every question sums per key): a few thousand rows whatever
//! the size of `transactions`, so every question stays within its budget after years of data.
//! Such a question also has its scan of `transactions` ([`Question::sql_in_range`]) for the
//! web dashboard's date ranges; a test holds both to the same answer over all time.

use serde::Serialize;

/// How a question is drawn; the names are Metabase's card `display` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visualization {
    /// A value over time: label is a date.
    Line,
    /// Vertical bars per label.
    Bar,
    /// Horizontal bars per label (long labels such as reasons or user names).
    Row,
    /// Shares of a whole.
    Pie,
    /// Rows as they are.
    Table,
    /// One number.
    Scalar,
}

impl Visualization {
    /// Metabase's `display` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Visualization::Line => "line",
            Visualization::Bar => "bar",
            Visualization::Row => "row",
            Visualization::Pie => "pie",
            Visualization::Table => "table",
            Visualization::Scalar => "scalar",
        }
    }
}

/// One question of the Overview dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// Stable identifier (URLs, element ids, tests).
    pub slug: &'static str,
    /// The card's title, also how `metabase-setup` finds it again.
    pub name: &'static str,
    /// One sentence shown under the title.
    pub description: &'static str,
    pub display: Visualization,
    /// The question over all time (Metabase runs this).
    pub sql: &'static str,
    /// The same question for a date range, where it differs: the totals have no time finer
    /// than a day (and none per user), so a range reads `transactions` through its
    /// `transaction_date` index instead; a short range reads few rows. `None`: `sql` serves.
    pub sql_in_range: Option<&'static str>,
}

/// The Overview dashboard, in reading order.
pub const OVERVIEW: &[Question] = &[
    Question {
        slug: "payments-per-day",
        name: "Payments per day",
        description: "Number of payments by transaction date.",
        display: Visualization::Line,
        sql: "SELECT day, sum(payments)::int8 AS payments\n\
              FROM daily_payment_totals\n\
              GROUP BY 1\n\
              HAVING sum(payments) > 0\n\
              ORDER BY 1",
        sql_in_range: Some(
            "SELECT (transaction_date AT TIME ZONE 'UTC')::date AS day, count(*) AS payments\n\
              FROM transactions\n\
              GROUP BY 1\n\
              ORDER BY 1",
        ),
    },
    Question {
        slug: "volume-per-day",
        name: "Volume per day",
        description: "Sum of amounts by transaction date, all currencies at face value.",
        display: Visualization::Line,
        sql: "SELECT day, sum(volume) AS volume\n\
              FROM daily_payment_totals\n\
              GROUP BY 1\n\
              HAVING sum(payments) > 0\n\
              ORDER BY 1",
        sql_in_range: Some(
            "SELECT (transaction_date AT TIME ZONE 'UTC')::date AS day, sum(amount) AS volume\n\
              FROM transactions\n\
              GROUP BY 1\n\
              ORDER BY 1",
        ),
    },
    Question {
        slug: "volume-by-currency",
        name: "Volume by currency",
        description: "Sum of amounts per currency.",
        display: Visualization::Bar,
        sql: "SELECT c.currency, sum(t.volume) AS volume\n\
              FROM daily_payment_totals t\n\
              JOIN currencies c USING (currency_id)\n\
              GROUP BY 1\n\
              HAVING sum(t.payments) > 0\n\
              ORDER BY 2 DESC",
        sql_in_range: Some(
            "SELECT c.currency, sum(t.amount) AS volume\n\
              FROM transactions t\n\
              JOIN currencies c USING (currency_id)\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC",
        ),
    },
    Question {
        slug: "payments-by-status",
        name: "Payments by status",
        description: "Pending, completed and failed payments.",
        display: Visualization::Pie,
        sql: "SELECT status, sum(payments)::int8 AS payments\n\
              FROM daily_payment_totals\n\
              GROUP BY 1\n\
              HAVING sum(payments) > 0\n\
              ORDER BY 2 DESC",
        sql_in_range: Some(
            "SELECT status, count(*) AS payments\n\
              FROM transactions\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC",
        ),
    },
    Question {
        slug: "top-senders",
        name: "Top senders",
        description: "The ten users who sent the most payments.",
        display: Visualization::Row,
        sql: "SELECT u.username AS sender, t.payments\n\
              FROM (SELECT user_id, sum(sent)::int8 AS payments\n\
                    FROM user_payment_totals\n\
                    GROUP BY 1\n\
                    HAVING sum(sent) > 0) t\n\
              JOIN users u USING (user_id)\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 10",
        sql_in_range: Some(
            "SELECT u.username AS sender, count(*) AS payments\n\
              FROM transactions t\n\
              JOIN users u ON u.user_id = t.sender_id\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 10",
        ),
    },
    Question {
        slug: "top-receivers",
        name: "Top receivers",
        description: "The ten users who received the most payments.",
        display: Visualization::Row,
        sql: "SELECT u.username AS receiver, t.payments\n\
              FROM (SELECT user_id, sum(received)::int8 AS payments\n\
                    FROM user_payment_totals\n\
                    GROUP BY 1\n\
                    HAVING sum(received) > 0) t\n\
              JOIN users u USING (user_id)\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 10",
        sql_in_range: Some(
            "SELECT u.username AS receiver, count(*) AS payments\n\
              FROM transactions t\n\
              JOIN users u ON u.user_id = t.receiver_id\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 10",
        ),
    },
    Question {
        slug: "suspicious-payments",
        name: "Suspicious payments",
        description: "Payments over the threshold or to oneself.",
        display: Visualization::Scalar,
        sql: "SELECT coalesce(sum(suspicious), 0)::int8 AS suspicious\n\
              FROM daily_payment_totals",
        sql_in_range: Some(
            "SELECT count(*) AS suspicious\n\
              FROM transactions\n\
              WHERE suspicious",
        ),
    },
    Question {
        slug: "latest-suspicious",
        name: "Latest suspicious payments",
        description: "The twenty most recent suspicious payments.",
        display: Visualization::Table,
        sql: "SELECT t.transaction_date, s.username AS sender, r.username AS receiver,\n\
              t.amount, c.currency, t.status, t.source\n\
              FROM transactions t\n\
              JOIN users s ON s.user_id = t.sender_id\n\
              JOIN users r ON r.user_id = t.receiver_id\n\
              JOIN currencies c USING (currency_id)\n\
              WHERE t.suspicious\n\
              ORDER BY t.transaction_date DESC\n\
              LIMIT 20",
        sql_in_range: None,
    },
    Question {
        slug: "rejected-by-reason",
        name: "Rejected records by reason",
        description: "Records the ingester refused, by the reason's kind.",
        display: Visualization::Row,
        sql: "SELECT split_part(reason, ':', 1) AS reason, count(*) AS rejected\n\
              FROM rejected_events\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 20",
        sql_in_range: None,
    },
    Question {
        slug: "recent-imports",
        name: "Recent imports",
        description: "The fifty latest imports with their counts and who started them.",
        display: Visualization::Table,
        sql:
            "SELECT created_at, file_name, coalesce(started_by, '') AS started_by, status, rows,\n\
              unique_rows, duplicates, suspicious, published\n\
              FROM imports\n\
              ORDER BY created_at DESC\n\
              LIMIT 50",
        sql_in_range: None,
    },
];
