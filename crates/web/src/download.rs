//! The duplicates and suspicious lists as CSV files.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::SharedState;

/// A cell a spreadsheet would run as a formula gets a leading `'`, so opening a downloaded file
/// cannot execute what an uploader wrote.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

fn csv_response(name: &str, rows: Vec<Vec<String>>) -> Response {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        if writer
            .write_record(row.iter().map(|c| neutralise(c)))
            .is_err()
        {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    match writer.into_inner() {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn values(v: &payments_csv::CsvRow) -> Vec<String> {
    vec![
        v.username_sender.clone(),
        v.username_receiver.clone(),
        v.amount.clone(),
        v.currency.clone(),
        v.transaction_date.clone(),
        v.status.clone(),
    ]
}

pub async fn duplicates(State(state): State<SharedState>, Path(id): Path<Uuid>) -> Response {
    let Ok(Some(summary)) = state.pipeline.summary(id).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut rows = vec![["row", "same_as_row"]
        .iter()
        .chain(payments_csv::COLUMNS.iter())
        .map(|s| s.to_string())
        .collect()];
    for d in &summary.duplicates {
        let mut row = vec![d.row.to_string(), d.first_row.to_string()];
        row.extend(values(&d.values));
        rows.push(row);
    }
    csv_response(&format!("duplicates-{id}.csv"), rows)
}

pub async fn suspicious(State(state): State<SharedState>, Path(id): Path<Uuid>) -> Response {
    let Ok(Some(summary)) = state.pipeline.summary(id).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut rows = vec![["row", "why"]
        .iter()
        .chain(payments_csv::COLUMNS.iter())
        .map(|s| s.to_string())
        .collect()];
    for s in &summary.suspicious {
        let why = crate::pages::why(&s.reasons);
        let mut row = vec![s.row.to_string(), why];
        row.extend(values(&s.values));
        rows.push(row);
    }
    csv_response(&format!("suspicious-{id}.csv"), rows)
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-1+2"), "'-1+2");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("alice"), "alice");
        assert_eq!(neutralise("1500.00"), "1500.00");
    }
}
