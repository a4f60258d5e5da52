//! `/dashboard`: the Overview's questions ([`OVERVIEW`]) answered on the server and drawn as
//! inline SVG, so a local run without Metabase shows the data.
//!
//! Drawn by hand rather than with `plotters`: the charts are rectangles, circles and a polyline,
//! so this module computes their geometry as plain data and the minijinja templates write the
//! SVG. Every label (user names, file names, rejection reasons) then goes through the
//! templates' auto-escaping like any other page value, instead of through a finished SVG string
//! that would have to be marked safe; and the build gets no font stack.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use futures::StreamExt;
use minijinja::context;
use minijinja::value::Serde;
use payments_domain::dashboard::{Question, Visualization, OVERVIEW};
use payments_store::dashboard::{answer_since, Answer, Cell};
use serde::{Deserialize, Serialize};

use crate::error::{PageError, WebError};
use crate::identity::Viewer;
use crate::SharedState;

/// How often the page re-fetches its charts.
pub(crate) const REFRESH_SECONDS: u64 = 10;

// Drawn small and scaled to the box: at 420 units wide a chart's 13 px text reads at about
// 14 px in a column of the 1280 px layout and 10 px on a 390 px phone.
const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 220.0;
// The plot area inside a line or bar chart: room for the value ticks left, labels below.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;
/// Row charts: label column width and height per row.
const ROW_LABEL: f64 = 150.0;
const ROW_HEIGHT: f64 = 26.0;
/// Donut radius and ring width.
const RADIUS: f64 = 62.0;
const RING: f64 = 28.0;
/// Width of one character of a tick label (13 px text), to keep labels apart.
const CHAR_WIDTH: f64 = 7.5;
/// Space kept between two time labels.
const LABEL_GAP: f64 = 12.0;
const PALETTE: [&str; 8] = [
    "#2457c5", "#15803d", "#b45309", "#b91c1c", "#7c3aed", "#0e7490", "#be185d", "#4d7c0f",
];

/// Which rows the charts count, by their time (a payment's transaction date, a rejection's,
/// an import's start): `?range=24h|7d|30d|all`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Range {
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
    #[default]
    #[serde(rename = "all")]
    All,
}

impl Range {
    const ALL: [Range; 4] = [Range::Day, Range::Week, Range::Month, Range::All];

    fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::All => "all",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Range::Day => "Last 24 hours",
            Range::Week => "Last 7 days",
            Range::Month => "Last 30 days",
            Range::All => "All time",
        }
    }

    fn length(self) -> Option<Duration> {
        match self {
            Range::Day => Some(Duration::hours(24)),
            Range::Week => Some(Duration::days(7)),
            Range::Month => Some(Duration::days(30)),
            Range::All => None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    range: Option<String>,
}

/// The range asked for; an unknown one is refused rather than silently widened.
fn range_of(query: &DashboardQuery) -> Result<Range, String> {
    match query.range.as_deref().map(str::trim) {
        None | Some("") => Ok(Range::All),
        Some(text) => Range::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| format!("The range {text:?} is not one of 24h, 7d, 30d or all.")),
    }
}

#[derive(Serialize)]
struct RangeChoice {
    value: &'static str,
    words: &'static str,
    current: bool,
}

/// `GET /dashboard`: the whole page.
pub async fn page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    let range = range_of(&query)
        .map_err(|message| WebError::bad_request(message).on_page("Dashboard unavailable"))?;
    let charts = charts(&state, range, Utc::now()).await;
    let nav = state.nav(&viewer).await;
    let ranges: Vec<RangeChoice> = Range::ALL
        .into_iter()
        .map(|r| RangeChoice {
            value: r.as_str(),
            words: r.words(),
            current: r == range,
        })
        .collect();
    let page = state.render(
        "dashboard.html",
        context! {
            links => Serde(&state.config.links),
            nav => Serde(nav),
            section => "dashboard",
            charts => Serde(charts),
            ranges => Serde(ranges),
            range => range.as_str(),
            range_words => range.words(),
            refresh_seconds => REFRESH_SECONDS,
        },
    );
    Ok(no_store(page))
}

/// `GET /dashboard/charts`: only the charts, which the page's script swaps in.
pub async fn fragment(
    State(state): State<SharedState>,
    Query(query): Query<DashboardQuery>,
) -> Response {
    let range = match range_of(&query) {
        Ok(range) => range,
        Err(message) => {
            let mut response = axum::response::IntoResponse::into_response(message);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    let charts = charts(&state, range, Utc::now()).await;
    no_store(state.render(
        "dashboard_charts.html",
        context! { charts => Serde(charts) },
    ))
}

/// Always the current answers, never a cached copy. (The Content-Security-Policy and the other
/// security headers come from the app-wide layer, [`crate::security`].)
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Questions answered at once: enough to make a page quick, few enough to leave pooled
/// connections for uploads.
const CONCURRENT_QUESTIONS: usize = 4;

/// Every question answered for `range` (a few at a time, each on its own pooled connection),
/// then drawn.
async fn charts(state: &SharedState, range: Range, now: DateTime<Utc>) -> Vec<Chart> {
    let pool = &state.db;
    let since = range.length().map(|length| now - length);
    // The futures are built up front: a closure inside the stream would make the handler's
    // future fail the Send check for all lifetimes (a known rustc limitation).
    let pending: Vec<_> = OVERVIEW
        .iter()
        .map(|q| answer_since(pool, q, since))
        .collect();
    let answers: Vec<_> = futures::stream::iter(pending)
        .buffered(CONCURRENT_QUESTIONS)
        .collect()
        .await;
    OVERVIEW
        .iter()
        .zip(answers)
        .map(|(question, answer)| match answer {
            Ok(answer) => Chart::new(question, &answer, since.map(|since| (since, now))),
            Err(e) => {
                tracing::error!(question = question.slug, error = %e, "dashboard question failed");
                Chart::failed(question)
            }
        })
        .collect()
}

/// One question as the templates draw it.
#[derive(Debug, Serialize)]
pub(crate) struct Chart {
    slug: &'static str,
    name: &'static str,
    description: &'static str,
    display: &'static str,
    /// Marks drawn: points, bars, slices, table rows, 1 for a number; 0 shows "No data yet".
    marks: usize,
    failed: bool,
    body: Option<Body>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Body {
    Line(LineChart),
    Bars(BarChart),
    Rows(RowChart),
    Pie(PieChart),
    Scalar(Scalar),
    Table(Table),
}

impl Chart {
    /// `span`: the range's first and last instant, which a time axis then covers whole.
    fn new(
        question: &Question,
        answer: &Answer,
        span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Chart {
        let body = if answer.is_empty() {
            None
        } else {
            match question.display {
                Visualization::Line => LineChart::new(
                    &pairs(answer),
                    span.map(|(from, to)| (day_number(from), day_number(to))),
                )
                .map(Body::Line),
                Visualization::Bar => BarChart::new(&pairs(answer)).map(Body::Bars),
                Visualization::Row => RowChart::new(&pairs(answer)).map(Body::Rows),
                Visualization::Pie => PieChart::new(&pairs(answer)).map(Body::Pie),
                Visualization::Scalar => Scalar::new(answer).map(Body::Scalar),
                Visualization::Table => Some(Body::Table(Table::new(answer))),
            }
        };
        let marks = match &body {
            None => 0,
            Some(Body::Line(c)) => c.points.len(),
            Some(Body::Bars(c)) => c.bars.len(),
            Some(Body::Rows(c)) => c.rows.len(),
            Some(Body::Pie(c)) => c.slices.len(),
            Some(Body::Scalar(_)) => 1,
            Some(Body::Table(t)) => t.rows.len(),
        };
        Chart::drawn(question, marks, body)
    }

    fn failed(question: &Question) -> Chart {
        Chart {
            failed: true,
            ..Chart::drawn(question, 0, None)
        }
    }

    fn drawn(question: &Question, marks: usize, body: Option<Body>) -> Chart {
        Chart {
            slug: question.slug,
            name: question.name,
            description: question.description,
            display: question.display.as_str(),
            marks,
            failed: false,
            body,
        }
    }
}

/// A chart's (label, value) pairs: first column and second, as the shape rules in
/// `payments_domain::dashboard` fix them; rows without a number are left out.
fn pairs(answer: &Answer) -> Vec<(&Cell, f64)> {
    answer
        .rows
        .iter()
        .filter_map(|row| Some((row.first()?, row.get(1)?.as_f64()?)))
        .collect()
}

/// A text label as drawn; SVG coordinates are rounded to 0.1 px.
#[derive(Debug, Serialize)]
struct Label {
    x: f64,
    y: f64,
    /// `text-anchor`: start, middle or end.
    anchor: &'static str,
    text: String,
}

/// The value axis: from 0 (or a round number below, for negative values) to a round number
/// at or above the largest value, in round steps.
#[derive(Debug, PartialEq)]
struct Scale {
    low: f64,
    high: f64,
    step: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64> + Clone) -> Scale {
        let max = values.clone().fold(0.0, f64::max);
        let min = values.fold(0.0, f64::min);
        // At most about four steps; all zeros still get an axis from 0 to 1.
        let step = match round_up((max - min) / 4.0) {
            step if step > 0.0 => step,
            _ => 1.0,
        };
        let low = (min / step).floor() * step;
        let high = ((max / step).ceil() * step).max(low + step);
        Scale { low, high, step }
    }

    /// 0 at `low`, 1 at `high`.
    fn share(&self, value: f64) -> f64 {
        (value - self.low) / (self.high - self.low)
    }

    fn ticks(&self) -> Vec<f64> {
        let steps = ((self.high - self.low) / self.step).round() as u32;
        (0..=steps)
            .map(|i| self.low + self.step * f64::from(i))
            .collect()
    }
}

/// The next number of the form 1, 2, 2.5 or 5 × 10ⁿ at or above `value` (0 stays 0).
fn round_up(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 0.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|step| step * magnitude >= value)
        .unwrap_or(10.0);
    step * magnitude
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Horizontal value grid lines with their labels, for line and bar charts.
fn grid(scale: &Scale) -> Vec<Label> {
    let plot = HEIGHT - TOP - BOTTOM;
    scale
        .ticks()
        .into_iter()
        .map(|tick| Label {
            x: LEFT - 6.0,
            y: round(TOP + (1.0 - scale.share(tick)) * plot),
            anchor: "end",
            text: compact(tick),
        })
        .collect()
}

fn y_of(scale: &Scale, value: f64) -> f64 {
    round(TOP + (1.0 - scale.share(value)) * (HEIGHT - TOP - BOTTOM))
}

/// 1234567 → "1.23M": tick labels stay short.
fn compact(value: f64) -> String {
    let (scaled, suffix) = match value.abs() {
        a if a >= 1e9 => (value / 1e9, "G"),
        a if a >= 1e6 => (value / 1e6, "M"),
        a if a >= 1e3 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    let text = format!("{scaled:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

/// A value as shown next to a mark: amounts to the cent, counts whole.
fn value_text(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// At most `max` characters, with an ellipsis when cut; the full text stays in the mark's title.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[derive(Debug, Serialize)]
struct Point {
    x: f64,
    y: f64,
    /// Label and value, the mark's accessible title.
    title: String,
}

/// A value over time: a polyline with a dot per point, so a single point still shows.
#[derive(Debug, Serialize)]
struct LineChart {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    bottom: f64,
    grid: Vec<Label>,
    points: Vec<Point>,
    /// `x,y x,y …` for the polyline.
    path: String,
    x_labels: Vec<Label>,
}

/// A time as a fractional day number (days since the common era), the time axis's unit.
fn day_number(at: DateTime<Utc>) -> f64 {
    let seconds = at.timestamp().rem_euclid(86_400) as f64;
    f64::from(at.date_naive().num_days_from_ce()) + seconds / 86_400.0
}

/// A cell as a point in time on the axis, when it is one.
fn time_of(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Date(d) => Some(f64::from(d.num_days_from_ce())),
        Cell::Timestamp(t) => Some(day_number(*t)),
        _ => None,
    }
}

/// A label as a person reads it: dates and times in words, names a reason quotes in
/// backticks in typographic quotes (a tooltip has no markup), the rest as it is.
fn label_text(cell: &Cell) -> String {
    match cell {
        Cell::Date(d) => d.format("%-d %b %Y").to_string(),
        Cell::Timestamp(t) => crate::present::readable(*t),
        Cell::Text(text) => parts(text, usize::MAX)
            .into_iter()
            .map(|p| {
                if p.code {
                    format!("‘{}’", p.text)
                } else {
                    p.text
                }
            })
            .collect(),
        other => other.to_string(),
    }
}

/// A label's text with a reason's backticks kept, for [`parts`].
fn raw_label(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => text.clone(),
        other => label_text(other),
    }
}

/// A piece of a drawn label: names a reason quotes in backticks are drawn as code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Part {
    text: String,
    code: bool,
}

/// `text` split at its backticks into plain and code pieces (a backtick without its pair is
/// dropped), cut to `max` characters in all with an ellipsis.
fn parts(text: &str, max: usize) -> Vec<Part> {
    let pieces: Vec<&str> = text.split('`').collect();
    let paired = pieces.len() % 2 == 1;
    let mut left = max;
    let mut out: Vec<Part> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if piece.is_empty() {
            continue;
        }
        let code = i % 2 == 1 && (paired || i + 1 < pieces.len());
        let length = piece.chars().count();
        if length < left || (length == left && i + 1 == pieces.len()) {
            left -= length;
            out.push(Part {
                text: (*piece).to_owned(),
                code,
            });
            continue;
        }
        let mut cut: String = piece.chars().take(left.saturating_sub(1)).collect();
        cut.push('…');
        out.push(Part { text: cut, code });
        break;
    }
    out
}

/// The distance between two labelled ticks of a time axis, calendar-aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TickStep {
    Days(u32),
    Months(u32),
    Years(u32),
}

impl TickStep {
    /// Finest first.
    const ALL: [TickStep; 15] = [
        TickStep::Days(1),
        TickStep::Days(2),
        TickStep::Days(7),
        TickStep::Days(14),
        TickStep::Months(1),
        TickStep::Months(2),
        TickStep::Months(3),
        TickStep::Months(6),
        TickStep::Years(1),
        TickStep::Years(2),
        TickStep::Years(5),
        TickStep::Years(10),
        TickStep::Years(25),
        TickStep::Years(50),
        TickStep::Years(100),
    ];

    /// The shortest distance between two of its ticks, in days.
    fn min_days(self) -> f64 {
        match self {
            TickStep::Days(n) => f64::from(n),
            TickStep::Months(n) => 28.0 * f64::from(n),
            TickStep::Years(n) => 365.0 * f64::from(n),
        }
    }

    fn format(self) -> &'static str {
        match self {
            TickStep::Days(_) => "%-d %b",
            TickStep::Months(_) => "%b %Y",
            TickStep::Years(_) => "%Y",
        }
    }

    /// The longest label it writes, in characters ("30 Sep", "Sep 2026", "2026").
    fn label_chars(self) -> f64 {
        match self {
            TickStep::Days(_) => 6.0,
            TickStep::Months(_) => 8.0,
            TickStep::Years(_) => 4.0,
        }
    }

    /// Whether `day` is one of its ticks: Mondays for weeks, the 1st of a month, 1 January.
    fn ticks_on(self, day: NaiveDate) -> bool {
        let n = |step: u32| i64::from(step.max(1));
        match self {
            TickStep::Days(7) => day.weekday() == chrono::Weekday::Mon,
            TickStep::Days(14) => {
                day.weekday() == chrono::Weekday::Mon
                    && (i64::from(day.num_days_from_ce()) / 7).rem_euclid(2) == 0
            }
            TickStep::Days(step) => i64::from(day.num_days_from_ce()).rem_euclid(n(step)) == 0,
            TickStep::Months(step) => {
                day.day() == 1 && i64::from(day.month0()).rem_euclid(n(step)) == 0
            }
            TickStep::Years(step) => {
                day.ordinal() == 1 && i64::from(day.year()).rem_euclid(n(step)) == 0
            }
        }
    }
}

/// The labelled ticks of a time axis over day numbers `first..=last` drawn `plot` units wide
/// from `left`: the finest calendar step whose labels stay apart, so no two labels overlap
/// whatever the dates; each label whole inside the picture.
fn time_ticks(first: f64, last: f64, left: f64, plot: f64) -> Vec<Label> {
    let y = HEIGHT - BOTTOM + 18.0;
    let span = last - first;
    if span <= 0.0 {
        return NaiveDate::from_num_days_from_ce_opt(first.floor() as i32)
            .map(|day| Label {
                x: round(left + plot / 2.0),
                y,
                anchor: "middle",
                text: day.format("%-d %b %Y").to_string(),
            })
            .into_iter()
            .collect();
    }
    let per_day = plot / span;
    let Some(step) = TickStep::ALL
        .into_iter()
        .find(|s| s.min_days() * per_day >= s.label_chars() * CHAR_WIDTH + LABEL_GAP)
    else {
        return Vec::new();
    };
    let half = step.label_chars() * CHAR_WIDTH / 2.0;
    (first.ceil() as i32..=last.floor() as i32)
        .filter_map(NaiveDate::from_num_days_from_ce_opt)
        .filter(|day| step.ticks_on(*day))
        .map(|day| {
            let x = round(left + (f64::from(day.num_days_from_ce()) - first) * per_day);
            Label {
                x,
                y,
                anchor: "middle",
                text: day.format(step.format()).to_string(),
            }
        })
        .filter(|label| label.x - half >= 0.0 && label.x + half <= WIDTH)
        .collect()
}

impl LineChart {
    /// `domain`: the day numbers the time axis covers (the range asked for); the data's own
    /// first and last otherwise.
    fn new(pairs: &[(&Cell, f64)], domain: Option<(f64, f64)>) -> Option<LineChart> {
        if pairs.is_empty() {
            return None;
        }
        let scale = Scale::new(pairs.iter().map(|(_, v)| *v));
        // Dates sit at their distance in time; other labels evenly.
        let timed = pairs.iter().all(|(label, _)| time_of(label).is_some());
        let positions: Vec<f64> = pairs
            .iter()
            .enumerate()
            .map(|(i, (label, _))| time_of(label).filter(|_| timed).unwrap_or(i as f64))
            .collect();
        let data_first = positions.iter().copied().fold(f64::INFINITY, f64::min);
        let data_last = positions.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (first, last) = match domain {
            Some((from, to)) if timed => (from.min(data_first), to.max(data_last)),
            _ => (data_first, data_last),
        };
        let plot = WIDTH - LEFT - RIGHT;
        let x_of = |p: f64| {
            if last > first {
                round(LEFT + (p - first) / (last - first) * plot)
            } else {
                round(LEFT + plot / 2.0)
            }
        };
        let points: Vec<Point> = pairs
            .iter()
            .zip(&positions)
            .map(|((label, value), p)| Point {
                x: x_of(*p),
                y: y_of(&scale, *value),
                title: format!("{}: {}", label_text(label), value_text(*value)),
            })
            .collect();
        let path = points
            .iter()
            .map(|p| format!("{},{}", p.x, p.y))
            .collect::<Vec<_>>()
            .join(" ");
        let x_labels = if timed {
            time_ticks(first, last, LEFT, plot)
        } else {
            // Not a time axis: the first and the last label.
            let n = pairs.len();
            let mut picks = vec![0, n - 1];
            picks.dedup();
            picks
                .into_iter()
                .map(|i| Label {
                    x: points[i].x,
                    y: HEIGHT - BOTTOM + 18.0,
                    anchor: match i {
                        _ if n == 1 => "middle",
                        0 => "start",
                        _ => "end",
                    },
                    text: short(&label_text(pairs[i].0), 16),
                })
                .collect()
        };
        Some(LineChart {
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: WIDTH - RIGHT,
            bottom: y_of(&scale, scale.low.max(0.0)),
            grid: grid(&scale),
            points,
            path,
            x_labels,
        })
    }
}

#[derive(Debug, Serialize)]
struct Bar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    color: &'static str,
    title: String,
    label: Label,
    /// The label's text as drawn, in pieces (field names as code).
    label_parts: Vec<Part>,
    value: Label,
}

/// Vertical bars per label.
#[derive(Debug, Serialize)]
struct BarChart {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    bottom: f64,
    grid: Vec<Label>,
    bars: Vec<Bar>,
}

impl BarChart {
    fn new(pairs: &[(&Cell, f64)]) -> Option<BarChart> {
        if pairs.is_empty() {
            return None;
        }
        let scale = Scale::new(pairs.iter().map(|(_, v)| *v));
        let slot = (WIDTH - LEFT - RIGHT) / pairs.len() as f64;
        let zero = y_of(&scale, 0.0);
        let bars = pairs
            .iter()
            .enumerate()
            .map(|(i, (label, value))| {
                let top = y_of(&scale, *value);
                let x = LEFT + slot * i as f64;
                let center = round(x + slot / 2.0);
                Bar {
                    x: round(x + slot * 0.15),
                    y: top.min(zero),
                    width: round(slot * 0.7),
                    // A value of 0 still gets a sliver, so the bar is visibly there.
                    height: round((zero - top).abs().max(1.0)),
                    color: PALETTE[0],
                    title: format!("{}: {}", label_text(label), value_text(*value)),
                    label: Label {
                        x: center,
                        y: HEIGHT - BOTTOM + 18.0,
                        anchor: "middle",
                        text: short(&label_text(label), (slot / CHAR_WIDTH).max(3.0) as usize),
                    },
                    label_parts: parts(&raw_label(label), (slot / CHAR_WIDTH).max(3.0) as usize),
                    value: Label {
                        x: center,
                        y: top.min(zero) - 4.0,
                        anchor: "middle",
                        text: compact(*value),
                    },
                }
            })
            .collect();
        Some(BarChart {
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: WIDTH - RIGHT,
            bottom: zero,
            grid: grid(&scale),
            bars,
        })
    }
}

/// Horizontal bars with their labels on the left: long labels (reasons, user names) fit.
#[derive(Debug, Serialize)]
struct RowChart {
    width: f64,
    height: f64,
    rows: Vec<Bar>,
}

impl RowChart {
    fn new(pairs: &[(&Cell, f64)]) -> Option<RowChart> {
        if pairs.is_empty() {
            return None;
        }
        let max = pairs.iter().map(|(_, v)| *v).fold(0.0, f64::max);
        // Room after the longest bar for its value.
        let room = WIDTH - ROW_LABEL - 64.0;
        let rows = pairs
            .iter()
            .enumerate()
            .map(|(i, (label, value))| {
                let y = 4.0 + ROW_HEIGHT * i as f64;
                let width = if max > 0.0 {
                    (value.max(0.0) / max * room).max(1.0)
                } else {
                    1.0
                };
                let middle = round(y + ROW_HEIGHT / 2.0 + 4.0);
                Bar {
                    x: ROW_LABEL,
                    y: round(y + 3.0),
                    width: round(width),
                    height: ROW_HEIGHT - 6.0,
                    color: PALETTE[1],
                    title: format!("{}: {}", label_text(label), value_text(*value)),
                    label: Label {
                        x: ROW_LABEL - 8.0,
                        y: middle,
                        anchor: "end",
                        text: short(&label_text(label), 18),
                    },
                    label_parts: parts(&raw_label(label), 18),
                    value: Label {
                        x: round(ROW_LABEL + width + 6.0),
                        y: middle,
                        anchor: "start",
                        text: value_text(*value),
                    },
                }
            })
            .collect();
        Some(RowChart {
            width: WIDTH,
            height: round(8.0 + ROW_HEIGHT * pairs.len() as f64),
            rows,
        })
    }
}

#[derive(Debug, Serialize)]
struct Slice {
    color: &'static str,
    /// `stroke-dasharray` and `stroke-dashoffset` of the ring's circle: a slice is a dash.
    dash: String,
    offset: f64,
    title: String,
    /// Legend entry.
    label: Label,
    swatch_y: f64,
}

/// Shares of a whole as a donut: each slice is a dash on one circle, so a single slice of 100 %
/// is simply the full ring (no arc special case).
#[derive(Debug, Serialize)]
struct PieChart {
    width: f64,
    height: f64,
    cx: f64,
    cy: f64,
    radius: f64,
    ring: f64,
    legend_x: f64,
    slices: Vec<Slice>,
}

impl PieChart {
    fn new(pairs: &[(&Cell, f64)]) -> Option<PieChart> {
        let shown: Vec<_> = pairs.iter().filter(|(_, v)| *v > 0.0).collect();
        let total: f64 = shown.iter().map(|(_, v)| v).sum();
        if shown.is_empty() || total <= 0.0 {
            return None;
        }
        let circumference = 2.0 * std::f64::consts::PI * RADIUS;
        let (cx, cy) = (RADIUS + RING, RADIUS + RING);
        let legend_x = cx * 2.0 + 20.0;
        let mut start = 0.0;
        let slices = shown
            .iter()
            .enumerate()
            .map(|(i, (label, value))| {
                let share = value / total;
                let length = share * circumference;
                let slice = Slice {
                    color: PALETTE[i % PALETTE.len()],
                    dash: format!("{} {}", round(length), round(circumference - length)),
                    offset: round(-start),
                    title: format!(
                        "{}: {} ({:.1} %)",
                        label_text(label),
                        value_text(*value),
                        share * 100.0
                    ),
                    label: Label {
                        x: legend_x + 22.0,
                        y: 24.0 + 24.0 * i as f64,
                        anchor: "start",
                        text: format!(
                            "{}: {} ({:.0} %)",
                            short(&label_text(label), 12),
                            value_text(*value),
                            share * 100.0
                        ),
                    },
                    swatch_y: 12.0 + 24.0 * i as f64,
                };
                start += length;
                slice
            })
            .collect();
        Some(PieChart {
            width: WIDTH,
            height: (cy * 2.0).max(24.0 * shown.len() as f64 + 16.0),
            cx,
            cy,
            radius: RADIUS,
            ring: RING,
            legend_x,
            slices,
        })
    }
}

/// One big number.
#[derive(Debug, Serialize)]
struct Scalar {
    width: f64,
    height: f64,
    text: String,
}

impl Scalar {
    fn new(answer: &Answer) -> Option<Scalar> {
        let cell = answer.rows.first()?.first()?;
        let text = match cell.as_f64() {
            Some(value) => value_text(value),
            None => cell.to_string(),
        };
        Some(Scalar {
            width: WIDTH,
            height: 110.0,
            text,
        })
    }
}

/// One cell of a table: its text, or the instant it is (the template writes a time).
#[derive(Debug, Serialize)]
struct TableCell {
    text: String,
    at: Option<DateTime<Utc>>,
}

/// Rows as they are, with readable column headers.
#[derive(Debug, Serialize)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<TableCell>>,
}

impl Table {
    fn new(answer: &Answer) -> Table {
        let cell = |cell: &Cell| TableCell {
            text: label_text(cell),
            at: match cell {
                Cell::Timestamp(t) => Some(*t),
                _ => None,
            },
        };
        Table {
            columns: answer.columns.iter().map(|c| c.replace('_', " ")).collect(),
            rows: answer
                .rows
                .iter()
                .map(|row| row.iter().map(cell).collect())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_axes_end_on_round_numbers() {
        assert_eq!(round_up(0.0), 0.0);
        assert_eq!(round_up(1.0), 1.0);
        assert_eq!(round_up(7.0), 10.0);
        assert_eq!(round_up(1234.0), 2000.0);
        assert_eq!(round_up(2100.0), 2500.0);
        assert_eq!(compact(2500.0), "2.5k");
        assert_eq!(compact(625.0), "625");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(1_250_000.0), "1.25M");
    }

    #[test]
    fn value_ticks_are_round_steps() {
        let scale = Scale::new([2010.0, 3.0].into_iter());
        assert_eq!(scale.ticks(), vec![0.0, 1000.0, 2000.0, 3000.0]);
        let scale = Scale::new([0.0].into_iter());
        assert_eq!(scale.ticks(), vec![0.0, 1.0]);
        let scale = Scale::new([-5.0, 5.0].into_iter());
        assert_eq!((scale.low, scale.high), (-5.0, 5.0));
    }

    #[test]
    fn a_single_point_is_drawn_in_the_middle() {
        let day = Cell::Date(chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        let chart = LineChart::new(&[(&day, 3.0)], None).unwrap();
        assert_eq!(chart.points.len(), 1);
        assert_eq!(
            chart.points[0].x,
            round(LEFT + (WIDTH - LEFT - RIGHT) / 2.0)
        );
        assert_eq!(chart.points[0].title, "30 Nov 2026: 3");
        assert_eq!(chart.x_labels.len(), 1);
        assert_eq!(chart.x_labels[0].text, "30 Nov 2026");
    }

    fn day(y: i32, m: u32, d: u32) -> Cell {
        Cell::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    /// Left and right edge of each label, as drawn (13 px text).
    fn extents(labels: &[Label]) -> Vec<(f64, f64)> {
        labels
            .iter()
            .map(|l| {
                let width = l.text.chars().count() as f64 * CHAR_WIDTH;
                match l.anchor {
                    "start" => (l.x, l.x + width),
                    "end" => (l.x - width, l.x),
                    _ => (l.x - width / 2.0, l.x + width / 2.0),
                }
            })
            .collect()
    }

    #[test]
    fn time_labels_never_overlap_whatever_the_dates() {
        // Uneven dates (the case), a few days, weeks, months, years, a century.
        let cases: Vec<Vec<Cell>> = vec![
            vec![
                day(2025, 7, 1),
                day(2025, 7, 2),
                day(2025, 7, 3),
                day(2025, 9, 30),
            ],
            vec![day(2026, 11, 28), day(2026, 11, 29), day(2026, 12, 3)],
            vec![day(2026, 1, 1), day(2026, 2, 15)],
            vec![day(2025, 7, 7), day(2026, 12, 3)],
            vec![day(2019, 3, 1), day(2026, 12, 3)],
            vec![day(1926, 1, 1), day(2026, 12, 3)],
        ];
        for dates in cases {
            let pairs: Vec<(&Cell, f64)> = dates.iter().map(|d| (d, 1.0)).collect();
            let chart = LineChart::new(&pairs, None).unwrap();
            let spans = extents(&chart.x_labels);
            assert!(
                spans.len() >= 2,
                "{dates:?}: labelled: {:?}",
                chart.x_labels
            );
            for pair in spans.windows(2) {
                assert!(
                    pair[0].1 + 4.0 <= pair[1].0,
                    "{dates:?}: {:?}",
                    chart.x_labels
                );
            }
            for (left, right) in spans {
                assert!(left >= 0.0 && right <= WIDTH, "{dates:?}: inside");
            }
        }
    }

    #[test]
    fn a_range_is_covered_whole_with_ticks_chosen_for_it() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 3, 12, 0, 0).unwrap();
        let week = (day_number(now - Duration::days(7)), day_number(now));
        let pairs = [(&day(2026, 12, 1), 4.0)];
        let chart = LineChart::new(&pairs, Some(week)).unwrap();
        let texts: Vec<&str> = chart.x_labels.iter().map(|l| l.text.as_str()).collect();
        // Days for a week: the axis spans the whole week, not just the one day with data.
        assert!(texts.len() >= 3, "{texts:?}");
        assert!(
            texts
                .iter()
                .all(|t| t.ends_with(" Nov") || t.ends_with(" Dec")),
            "{texts:?}"
        );
        assert!(chart.points[0].x > LEFT + 100.0 && chart.points[0].x < WIDTH - RIGHT - 50.0);
        let year = (day_number(now - Duration::days(365)), day_number(now));
        let chart = LineChart::new(&pairs, Some(year)).unwrap();
        assert!(
            chart.x_labels.iter().all(|l| l.text.len() == 8),
            "months for a year: {:?}",
            chart.x_labels
        );
    }

    #[test]
    fn one_slice_is_the_whole_ring() {
        let status = Cell::Text("completed".into());
        let chart = PieChart::new(&[(&status, 5.0)]).unwrap();
        let circumference = round(2.0 * std::f64::consts::PI * RADIUS);
        assert_eq!(chart.slices[0].dash, format!("{circumference} 0"));
    }

    #[test]
    fn quoted_names_are_drawn_as_code_and_cut_with_the_rest() {
        let part = |text: &str, code| Part {
            text: text.to_owned(),
            code,
        };
        assert_eq!(
            parts("missing key `currency_code`", 40),
            [part("missing key ", false), part("currency_code", true)]
        );
        assert_eq!(
            parts("missing key `currency_code`", 16),
            [part("missing key ", false), part("cur…", true)]
        );
        assert_eq!(
            parts("a lone ` tick", 40),
            [part("a lone ", false), part(" tick", false)]
        );
        assert_eq!(
            label_text(&Cell::Text("`amount` must be a number".into())),
            "‘amount’ must be a number"
        );
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(short("abcdef", 4), "abc…");
        assert_eq!(short("abc", 4), "abc");
    }
}
