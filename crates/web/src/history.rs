//! The history of imports and the approvals queue: server-side filters, keyset paging on
//! (created_at, id), for the pages (`/imports`, `/approvals`) and the API (`GET /api/imports`,
//! in `api.rs`).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use minijinja::context;
use minijinja::value::Serde;
use payments_imports::{holds_rows_only, Import, ImportStatus, ImportTotals};
use payments_store::{HistoryOrder, ImportCursor, ImportFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{PageError, WebError};
use crate::identity::Viewer;
use crate::resource::ImportResource;
use crate::SharedState;

/// Imports per page of the history and of the queue.
const PAGE_SIZE: i64 = 50;
/// The API's default and largest page.
pub(crate) const API_PAGE_SIZE: i64 = 100;
const API_MAX_PAGE_SIZE: i64 = 500;
/// Longest filter text kept (identities and file names are shorter in the database).
const MAX_FILTER_CHARS: usize = 1024;

/// The history's query string, as the form and the API send it; empty values are unset.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    /// A status, or several separated by commas.
    status: Option<String>,
    started_by: Option<String>,
    decided_by: Option<String>,
    /// A day (`2026-12-03`, from its start, UTC) or an instant (RFC 3339).
    from: Option<String>,
    /// A day (up to its end, UTC) or an instant (before it).
    to: Option<String>,
    /// Text the file name contains, ignoring case.
    file: Option<String>,
    /// `newest` (default) or `oldest`.
    order: Option<String>,
    /// Where the previous page ended.
    after: Option<String>,
    /// `true`: only imports the caller may decide (API; the page is `/approvals`).
    decidable: Option<String>,
    /// API page size.
    limit: Option<String>,
}

/// A request the history cannot answer, with why (400).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadFilter(pub(crate) String);

/// The filter a query asks for, and the query's own values to link the next page with.
#[derive(Debug)]
pub(crate) struct Filters {
    pub(crate) filter: ImportFilter,
    /// (name, value) of every filter given, in a fixed order, without the cursor.
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) decidable: bool,
}

fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(MAX_FILTER_CHARS).collect())
}

impl HistoryQuery {
    pub(crate) fn filters(&self) -> Result<Filters, BadFilter> {
        let mut filter = ImportFilter::default();
        let mut params = Vec::new();
        if let Some(text) = given(&self.status) {
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let status = name.parse::<ImportStatus>().map_err(|_| {
                    BadFilter(format!(
                        "status {name:?} is not one of {}",
                        ImportStatus::ALL.map(ImportStatus::as_str).join(", ")
                    ))
                })?;
                if !filter.statuses.contains(&status) {
                    filter.statuses.push(status);
                }
            }
            params.push(("status", text));
        }
        if let Some(by) = given(&self.started_by) {
            filter.started_by = Some(by.clone());
            params.push(("started_by", by));
        }
        if let Some(by) = given(&self.decided_by) {
            filter.decided_by = Some(by.clone());
            params.push(("decided_by", by));
        }
        if let Some(text) = given(&self.from) {
            filter.created_from = Some(instant(&text, Bound::From)?);
            params.push(("from", text));
        }
        if let Some(text) = given(&self.to) {
            filter.created_before = Some(instant(&text, Bound::To)?);
            params.push(("to", text));
        }
        if let Some(text) = given(&self.file) {
            filter.file_name_contains = Some(text.clone());
            params.push(("file", text));
        }
        match given(&self.order).as_deref() {
            None | Some("newest") => {}
            Some("oldest") => {
                filter.order = HistoryOrder::OldestFirst;
                params.push(("order", "oldest".into()));
            }
            Some(other) => {
                return Err(BadFilter(format!(
                    "order {other:?} is neither newest nor oldest"
                )))
            }
        }
        let decidable = match given(&self.decidable).as_deref() {
            None | Some("false") => false,
            Some("true") => {
                params.push(("decidable", "true".into()));
                true
            }
            Some(other) => {
                return Err(BadFilter(format!(
                    "decidable {other:?} is neither true nor false"
                )))
            }
        };
        if let Some(text) = given(&self.after) {
            filter.after = Some(
                parse_cursor(&text)
                    .ok_or_else(|| BadFilter(format!("after {text:?} is not a page cursor")))?,
            );
        }
        Ok(Filters {
            filter,
            params,
            decidable,
        })
    }

    pub(crate) fn limit(&self) -> Result<i64, BadFilter> {
        match given(&self.limit) {
            None => Ok(API_PAGE_SIZE),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=API_MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    BadFilter(format!(
                        "limit {text:?} is not a number from 1 to {API_MAX_PAGE_SIZE}"
                    ))
                }),
        }
    }
}

#[derive(Clone, Copy)]
enum Bound {
    From,
    To,
}

/// A day means its whole day in UTC (`to` includes it); an RFC 3339 instant means itself.
fn instant(text: &str, bound: Bound) -> Result<DateTime<Utc>, BadFilter> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = match bound {
            Bound::From => Some(day),
            Bound::To => day.succ_opt(),
        };
        if let Some(start) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(Utc.from_utc_datetime(&start));
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            BadFilter(format!(
                "{text:?} is neither a day (2026-12-03) nor an RFC 3339 time"
            ))
        })
}

/// `<microseconds since 1970>.<id>`: exact (PostgreSQL keeps microseconds) and URL-safe.
pub(crate) fn cursor_text(cursor: ImportCursor) -> String {
    format!(
        "{}.{}",
        cursor.created_at.timestamp_micros(),
        cursor.id.simple()
    )
}

fn parse_cursor(text: &str) -> Option<ImportCursor> {
    let (micros, id) = text.split_once('.')?;
    Some(ImportCursor {
        created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: id.parse().ok()?,
    })
}

/// `name=value&…`, each part percent-encoded.
fn query_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One page of imports: at most `limit`, and where the next page starts when there is one.
pub(crate) async fn page_of(
    state: &SharedState,
    filter: &ImportFilter,
    limit: i64,
) -> Result<(Vec<Import>, Option<ImportCursor>), payments_store::StoreError> {
    // One more than asked tells whether there is a next page.
    let mut imports = payments_store::list_imports(&state.db, filter, limit + 1).await?;
    let more = imports.len() as i64 > limit;
    imports.truncate(limit as usize);
    let next = more
        .then(|| imports.last().map(ImportCursor::after))
        .flatten();
    Ok((imports, next))
}

/// The link to the page after `next`, with the same filters.
pub(crate) fn next_link(
    path: &str,
    params: &[(&'static str, String)],
    next: ImportCursor,
) -> String {
    let mut params = params.to_vec();
    params.push(("after", cursor_text(next)));
    format!("{path}?{}", query_string(&params))
}

/// One import as a row of the history or the queue.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    import: ImportResource,
    /// The status as words.
    status_text: String,
    /// Rows waiting for a decision.
    held: i64,
    /// Why it failed, waits, or was rejected, when it did.
    why: Option<String>,
    /// Its detail: the failure's message, the rejection's note.
    why_detail: Option<String>,
    /// Per currency, rows and amount an approval would publish (the queue).
    to_approve: Vec<payments_imports::CurrencyTotal>,
}

pub(crate) fn status_text(status: ImportStatus) -> String {
    status.as_str().replace('_', " ")
}

impl Listed {
    fn new(import: Import, totals: Option<&ImportTotals>) -> Listed {
        let c = import.counts;
        let awaiting = import.status == ImportStatus::AwaitingApproval;
        let held = match () {
            _ if !awaiting => 0,
            _ if holds_rows_only(&import.approval_reasons) => c.cross_file_duplicates,
            _ => (c.unique - c.invalid).max(0),
        };
        let (why, why_detail) = match import.status {
            ImportStatus::Failed => (
                Some(
                    import
                        .failure
                        .map_or("failed", crate::timeline::failure_words)
                        .to_owned(),
                ),
                payments_imports::outcome::failure_detail(&import),
            ),
            ImportStatus::AwaitingApproval => (
                Some(
                    import
                        .approval_reasons
                        .iter()
                        .map(|r| r.describe())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                None,
            ),
            ImportStatus::Rejected => (
                Some(format!(
                    "rejected by {}",
                    import.decided_by.as_deref().unwrap_or("a second person")
                )),
                import.decision_note.clone(),
            ),
            _ => (None, None),
        };
        let to_approve = match totals {
            Some(t) if holds_rows_only(&import.approval_reasons) => t.held.currencies().to_vec(),
            Some(t) => t.publishable.currencies().to_vec(),
            None => Vec::new(),
        };
        Listed {
            status_text: status_text(import.status),
            held,
            why,
            why_detail: why_detail.map(|d| shortened(&d)),
            to_approve,
            import: ImportResource::from(&import),
        }
    }
}

/// Longest detail shown in a list; the import's page has all of it.
const MAX_DETAIL_CHARS: usize = 160;

fn shortened(text: &str) -> String {
    if text.chars().count() <= MAX_DETAIL_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_DETAIL_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The statuses the filter offers, as (value, words).
fn status_choices() -> Vec<(&'static str, String)> {
    ImportStatus::ALL
        .into_iter()
        .map(|s| (s.as_str(), status_text(s)))
        .collect()
}

/// `GET /imports`: the history page with its filters and paging.
pub async fn history(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let filters = query.filters().map_err(|BadFilter(message)| {
        WebError::bad_request(format!("The filter cannot be used: {message}."))
            .on_page("Filter not understood")
    })?;
    let (imports, next) = page_of(&state, &filters.filter, PAGE_SIZE)
        .await
        .map_err(|e| WebError::unavailable(e.to_string()).on_page("Imports unavailable"))?;
    let imports: Vec<Listed> = imports.into_iter().map(|i| Listed::new(i, None)).collect();
    let form: BTreeMap<&str, &str> = filters
        .params
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let nav = state.nav(&viewer).await;
    Ok(state.render(
        "imports.html",
        context! {
            links => Serde(&state.config.links),
            nav => Serde(nav),
            section => "imports",
            imports => Serde(imports),
            form => Serde(form),
            statuses => status_choices(),
            filtered => !filters.params.is_empty(),
            paged => filters.filter.after.is_some(),
            first_page => format!("/imports?{}", query_string(&filters.params)),
            next => next.map(|n| next_link("/imports", &filters.params, n)),
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    after: Option<String>,
}

/// A page of the queue, each import with what an approval would publish.
async fn queue_page(
    state: &SharedState,
    filter: &ImportFilter,
) -> Result<(Vec<Listed>, Option<ImportCursor>), payments_store::StoreError> {
    let (imports, next) = page_of(state, filter, PAGE_SIZE).await?;
    let ids: Vec<Uuid> = imports.iter().map(|i| i.id).collect();
    let totals: BTreeMap<Uuid, ImportTotals> = payments_store::analysed_totals(&state.db, &ids)
        .await?
        .into_iter()
        .collect();
    let listed = imports
        .into_iter()
        .map(|import| {
            let to_approve = totals.get(&import.id);
            Listed::new(import, to_approve)
        })
        .collect();
    Ok((listed, next))
}

/// `GET /approvals`: the imports the viewer may approve or reject, oldest first (a queue), with
/// why each waits and what an approval would publish.
pub async fn approvals(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(query): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let nav = state.nav(&viewer).await;
    let Some(me) = viewer.0.clone() else {
        return Ok(state.render(
            "approvals.html",
            context! {
                links => Serde(&state.config.links),
                nav => Serde(nav),
                section => "approvals",
                anonymous => true,
                imports => Serde(Vec::<Listed>::new()),
            },
        ));
    };
    let after = match given(&query.after) {
        Some(text) => Some(parse_cursor(&text).ok_or_else(|| {
            WebError::bad_request("The page link is not valid; start from the first page.")
                .on_page("Approvals unavailable")
        })?),
        None => None,
    };
    let filter = ImportFilter {
        decidable_by: Some(me),
        order: HistoryOrder::OldestFirst,
        after,
        ..ImportFilter::default()
    };
    let (imports, next) = queue_page(&state, &filter)
        .await
        .map_err(|e| WebError::unavailable(e.to_string()).on_page("Approvals unavailable"))?;
    Ok(state.render(
        "approvals.html",
        context! {
            links => Serde(&state.config.links),
            nav => Serde(nav),
            section => "approvals",
            anonymous => false,
            imports => Serde(imports),
            paged => after.is_some(),
            next => next.map(|n| format!("/approvals?after={}", cursor_text(n))),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HistoryQuery {
        let object = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), serde_json::Value::from(*value)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(object)).expect("a query")
    }

    #[test]
    fn cursors_round_trip_to_the_microsecond() {
        let cursor = ImportCursor {
            created_at: DateTime::from_timestamp_micros(1_796_257_183_357_870).expect("time"),
            id: Uuid::new_v4(),
        };
        assert_eq!(parse_cursor(&cursor_text(cursor)), Some(cursor));
        assert_eq!(parse_cursor("nonsense"), None);
        assert_eq!(parse_cursor("12.not-a-uuid"), None);
    }

    #[test]
    fn days_cover_their_whole_day_and_instants_themselves() {
        let filters = query(&[("from", "2026-12-01"), ("to", "2026-12-03")])
            .filters()
            .expect("filters");
        assert_eq!(
            filters.filter.created_from,
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(
            filters.filter.created_before,
            Some(Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap())
        );
        let filters = query(&[("to", "2026-12-03T10:00:00+01:00")])
            .filters()
            .expect("filters");
        assert_eq!(
            filters.filter.created_before,
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap())
        );
    }

    #[test]
    fn statuses_are_checked_and_empty_fields_ignored() {
        let filters = query(&[
            ("status", "awaiting_approval,failed"),
            ("file", " "),
            ("started_by", ""),
        ])
        .filters()
        .expect("filters");
        assert_eq!(
            filters.filter.statuses,
            [ImportStatus::AwaitingApproval, ImportStatus::Failed]
        );
        assert_eq!(filters.filter.file_name_contains, None);
        assert_eq!(
            filters.params,
            [("status", "awaiting_approval,failed".to_owned())]
        );
        assert!(query(&[("status", "lost")]).filters().is_err());
        assert!(query(&[("order", "sideways")]).filters().is_err());
        assert!(query(&[("from", "yesterday")]).filters().is_err());
    }

    #[test]
    fn the_next_link_keeps_the_filters() {
        let cursor = ImportCursor {
            created_at: DateTime::from_timestamp_micros(5).expect("time"),
            id: Uuid::nil(),
        };
        assert_eq!(
            next_link("/imports", &[("file", "a b&c".to_owned())], cursor),
            format!("/imports?file=a%20b%26c&after=5.{}", Uuid::nil().simple())
        );
    }
}
