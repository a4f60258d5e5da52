//! The Overview dashboard's questions, defined once: `payments metabase-setup` turns each into a
//! Metabase native question and the web app's `/dashboard` runs the same SQL and draws it.
//!
//! Every query is read-only and runs under the read-only reporting role (`payments_reader`,
//! which cannot see `users.password_hash`). The shape is fixed per [`Display`]: for charts the
//! first column is the label (a date or text) and the second the value; a [`Display::Table`]
//! may have any columns; a [`Display::Scalar`] returns one row with one number.

use serde::Serialize;

/// How a question is drawn; the names are Metabase's card `display` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Display {
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

impl Display {
    /// Metabase's `display` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Display::Line => "line",
            Display::Bar => "bar",
            Display::Row => "row",
            Display::Pie => "pie",
            Display::Table => "table",
            Display::Scalar => "scalar",
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
    pub display: Display,
    pub sql: &'static str,
}

/// The Overview dashboard, in reading order.
pub const OVERVIEW: &[Question] = &[
    Question {
        slug: "payments-per-day",
        name: "Payments per day",
        description: "Number of payments by transaction date.",
        display: Display::Line,
        sql: "SELECT date_trunc('day', transaction_date)::date AS day, count(*) AS payments\n\
              FROM transactions\n\
              GROUP BY 1\n\
              ORDER BY 1",
    },
    Question {
        slug: "volume-per-day",
        name: "Volume per day",
        description: "Sum of amounts by transaction date, all currencies at face value.",
        display: Display::Line,
        sql: "SELECT date_trunc('day', transaction_date)::date AS day, sum(amount) AS volume\n\
              FROM transactions\n\
              GROUP BY 1\n\
              ORDER BY 1",
    },
    Question {
        slug: "volume-by-currency",
        name: "Volume by currency",
        description: "Sum of amounts per currency.",
        display: Display::Bar,
        sql: "SELECT c.currency, sum(t.amount) AS volume\n\
              FROM transactions t\n\
              JOIN currencies c USING (currency_id)\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC",
    },
    Question {
        slug: "payments-by-status",
        name: "Payments by status",
        description: "Pending, completed and failed payments.",
        display: Display::Pie,
        sql: "SELECT status, count(*) AS payments\n\
              FROM transactions\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC",
    },
    Question {
        slug: "top-senders",
        name: "Top senders",
        description: "The ten users who sent the most payments.",
        display: Display::Row,
        sql: "SELECT u.username AS sender, count(*) AS payments\n\
              FROM transactions t\n\
              JOIN users u ON u.user_id = t.sender_id\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 10",
    },
    Question {
        slug: "top-receivers",
        name: "Top receivers",
        description: "The ten users who received the most payments.",
        display: Display::Row,
        sql: "SELECT u.username AS receiver, count(*) AS payments\n\
              FROM transactions t\n\
              JOIN users u ON u.user_id = t.receiver_id\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 10",
    },
    Question {
        slug: "suspicious-payments",
        name: "Suspicious payments",
        description: "Payments over the threshold or to oneself.",
        display: Display::Scalar,
        sql: "SELECT count(*) AS suspicious\n\
              FROM transactions\n\
              WHERE suspicious",
    },
    Question {
        slug: "latest-suspicious",
        name: "Latest suspicious payments",
        description: "The twenty most recent suspicious payments.",
        display: Display::Table,
        sql: "SELECT t.transaction_date, s.username AS sender, r.username AS receiver,\n\
              t.amount, c.currency, t.status, t.source\n\
              FROM transactions t\n\
              JOIN users s ON s.user_id = t.sender_id\n\
              JOIN users r ON r.user_id = t.receiver_id\n\
              JOIN currencies c USING (currency_id)\n\
              WHERE t.suspicious\n\
              ORDER BY t.transaction_date DESC\n\
              LIMIT 20",
    },
    Question {
        slug: "rejected-by-reason",
        name: "Rejected records by reason",
        description: "Records the ingester refused, by the reason's kind.",
        display: Display::Row,
        sql: "SELECT split_part(reason, ':', 1) AS reason, count(*) AS rejected\n\
              FROM rejected_events\n\
              GROUP BY 1\n\
              ORDER BY 2 DESC, 1\n\
              LIMIT 20",
    },
    Question {
        slug: "recent-imports",
        name: "Recent imports",
        description: "The fifty latest imports with their counts and who started them.",
        display: Display::Table,
        sql:
            "SELECT created_at, file_name, coalesce(started_by, '') AS started_by, status, rows,\n\
              unique_rows, duplicates, suspicious, published\n\
              FROM imports\n\
              ORDER BY created_at DESC\n\
              LIMIT 50",
    },
];
