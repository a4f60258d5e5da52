//! The duplicates and suspicious lists as CSV files.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::SharedState;

/// Bytes gathered before a piece of a streamed download is sent.
const CHUNK: usize = 64 * 1024;

/// A cell a spreadsheet would run as a formula gets a leading `'`, so opening a downloaded file
/// cannot execute what an uploader wrote.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// One CSV record, its cells neutralised.
fn csv_line(cells: &[String]) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(cells.iter().map(|c| neutralise(c)))?;
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
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

/// Every row of an import that did not land, with why, streamed as it is read from the
/// stored copy: `row_number,reason` and the six columns, to correct and upload again.
pub async fn not_landed(State(state): State<SharedState>, Path(id): Path<Uuid>) -> Response {
    match state.pipeline.status(id).await {
        Ok(_) => {}
        Err(payments_imports::PipelineError::NotFound(_)) => {
            return StatusCode::NOT_FOUND.into_response()
        }
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    let (chunks, body) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let pipeline = state.pipeline.clone();
    tokio::spawn(async move {
        let header: Vec<String> = ["row_number", "reason"]
            .into_iter()
            .chain(payments_csv::COLUMNS)
            .map(str::to_owned)
            .collect();
        let buffer = Arc::new(Mutex::new(csv_line(&header).unwrap_or_default()));
        let (out, sender) = (buffer.clone(), chunks.clone());
        // Runs on the pipeline's blocking thread: it may wait for the client to read.
        let sink = move |row: payments_imports::Unlanded| -> std::io::Result<()> {
            let mut cells = vec![row.row.to_string(), row.reason];
            cells.extend(values(&row.values));
            let line = csv_line(&cells)?;
            let mut buffer = out
                .lock()
                .map_err(|_| std::io::Error::other("the download's buffer broke"))?;
            buffer.extend_from_slice(&line);
            if buffer.len() >= CHUNK {
                let chunk = std::mem::take(&mut *buffer);
                sender
                    .blocking_send(Ok(Bytes::from(chunk)))
                    .map_err(|_| std::io::Error::other("the download was cancelled"))?;
            }
            Ok(())
        };
        let last = match pipeline.unlanded(id, sink).await {
            Ok(_) => buffer
                .lock()
                .map(|mut b| Bytes::from(std::mem::take(&mut *b)))
                .map_err(|_| std::io::Error::other("the download's buffer broke")),
            Err(e) => {
                // The client only sees the download break off: say why where operators look.
                tracing::warn!(import = %id, error = %e, "the not-landed download broke off");
                Err(std::io::Error::other(e.to_string()))
            }
        };
        let _ = chunks.send(last).await;
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"not-landed-{id}.csv\""),
            ),
        ],
        Body::from_stream(ReceiverStream::new(body)),
    )
        .into_response()
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
