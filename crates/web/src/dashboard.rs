//! `/dashboard`: the Overview's questions ([`OVERVIEW`]) answered on the server and drawn as
//! inline SVG, so a local run without Metabase shows the data.
//!
//! Drawn by hand rather than with `plotters`: the charts are rectangles, circles and a polyline,
//! so this module computes their geometry as plain data and the minijinja templates write the
//! SVG. Every label (user names, file names, rejection reasons) then goes through the
//! templates' auto-escaping like any other page value, instead of through a finished SVG string
//! that would have to be marked safe; and the build gets no font stack.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use chrono::Datelike;
use futures::StreamExt;
use minijinja::context;
use payments_store::dashboard::{answer, Answer, Cell, Display, Question, OVERVIEW};
use serde::Serialize;

use crate::SharedState;

/// How often the page re-fetches its charts.
pub(crate) const REFRESH_SECONDS: u64 = 10;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 240.0;
// The plot area inside a line or bar chart: room for the value ticks left, labels below.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
/// Row charts: label column width and height per row.
const ROW_LABEL: f64 = 200.0;
const ROW_HEIGHT: f64 = 26.0;
/// Donut radius and ring width.
const RADIUS: f64 = 80.0;
const RING: f64 = 36.0;
const PALETTE: [&str; 8] = [
    "#2457c5", "#15803d", "#b45309", "#b91c1c", "#7c3aed", "#0e7490", "#be185d", "#4d7c0f",
];

/// `GET /dashboard`: the whole page.
pub async fn page(State(state): State<SharedState>) -> Response {
    let charts = charts(&state).await;
    let page = state.render(
        "dashboard.html",
        context! { links => &state.config.links, charts, refresh_seconds => REFRESH_SECONDS },
    );
    no_store(page)
}

/// `GET /dashboard/charts`: only the charts, which the page's script swaps in.
pub async fn fragment(State(state): State<SharedState>) -> Response {
    let charts = charts(&state).await;
    no_store(state.render("dashboard_charts.html", context! { charts }))
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

/// Every question answered (a few at a time, each on its own pooled connection), then drawn.
async fn charts(state: &SharedState) -> Vec<Chart> {
    let pool = state.pipeline.pool();
    // The futures are built up front: a closure inside the stream would make the handler's
    // future fail the Send check for all lifetimes (a known rustc limitation).
    let pending: Vec<_> = OVERVIEW.iter().map(|q| answer(pool, q)).collect();
    let answers: Vec<_> = futures::stream::iter(pending)
        .buffered(CONCURRENT_QUESTIONS)
        .collect()
        .await;
    OVERVIEW
        .iter()
        .zip(answers)
        .map(|(question, answer)| match answer {
            Ok(answer) => Chart::new(question, &answer),
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
    fn new(question: &Question, answer: &Answer) -> Chart {
        let body = if answer.is_empty() {
            None
        } else {
            match question.display {
                Display::Line => LineChart::new(&pairs(answer)).map(Body::Line),
                Display::Bar => BarChart::new(&pairs(answer)).map(Body::Bars),
                Display::Row => RowChart::new(&pairs(answer)).map(Body::Rows),
                Display::Pie => PieChart::new(&pairs(answer)).map(Body::Pie),
                Display::Scalar => Scalar::new(answer).map(Body::Scalar),
                Display::Table => Some(Body::Table(Table::new(answer))),
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
/// `payments_store::dashboard` fix them; rows without a number are left out.
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

impl LineChart {
    fn new(pairs: &[(&Cell, f64)]) -> Option<LineChart> {
        if pairs.is_empty() {
            return None;
        }
        let scale = Scale::new(pairs.iter().map(|(_, v)| *v));
        // Dates sit at their distance in time; other labels evenly.
        let positions: Vec<f64> = pairs
            .iter()
            .enumerate()
            .map(|(i, (label, _))| match label {
                Cell::Date(d) => f64::from(d.num_days_from_ce()),
                Cell::Timestamp(t) => t.timestamp() as f64 / 86_400.0,
                _ => i as f64,
            })
            .collect();
        let first = positions.iter().copied().fold(f64::INFINITY, f64::min);
        let last = positions.iter().copied().fold(f64::NEG_INFINITY, f64::max);
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
                title: format!("{label}: {}", value_text(*value)),
            })
            .collect();
        let path = points
            .iter()
            .map(|p| format!("{},{}", p.x, p.y))
            .collect::<Vec<_>>()
            .join(" ");
        // First, last and two between: enough to read the time axis without overlaps.
        let n = pairs.len();
        let mut picks = vec![0, n / 3, 2 * n / 3, n - 1];
        picks.dedup();
        let x_labels = picks
            .into_iter()
            .map(|i| Label {
                x: points[i].x,
                y: HEIGHT - BOTTOM + 18.0,
                // The outermost labels grow inwards, so they stay inside the picture.
                anchor: match i {
                    _ if n == 1 => "middle",
                    0 => "start",
                    i if i == n - 1 => "end",
                    _ => "middle",
                },
                text: short(&pairs[i].0.to_string(), 16),
            })
            .collect();
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
                    title: format!("{label}: {}", value_text(*value)),
                    label: Label {
                        x: center,
                        y: HEIGHT - BOTTOM + 18.0,
                        anchor: "middle",
                        text: short(&label.to_string(), (slot / 8.0).max(3.0) as usize),
                    },
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
        let room = WIDTH - ROW_LABEL - 72.0;
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
                    title: format!("{label}: {}", value_text(*value)),
                    label: Label {
                        x: ROW_LABEL - 8.0,
                        y: middle,
                        anchor: "end",
                        text: short(&label.to_string(), 26),
                    },
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
        let legend_x = cx * 2.0 + 32.0;
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
                    title: format!("{label}: {} ({:.1} %)", value_text(*value), share * 100.0),
                    label: Label {
                        x: legend_x + 22.0,
                        y: 24.0 + 24.0 * i as f64,
                        anchor: "start",
                        text: format!(
                            "{}: {} ({:.0} %)",
                            short(&label.to_string(), 24),
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

/// Rows as they are, with readable column headers.
#[derive(Debug, Serialize)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(answer: &Answer) -> Table {
        Table {
            columns: answer.columns.iter().map(|c| c.replace('_', " ")).collect(),
            rows: answer
                .rows
                .iter()
                .map(|row| row.iter().map(Cell::to_string).collect())
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
        let chart = LineChart::new(&[(&day, 3.0)]).unwrap();
        assert_eq!(chart.points.len(), 1);
        assert_eq!(
            chart.points[0].x,
            round(LEFT + (WIDTH - LEFT - RIGHT) / 2.0)
        );
        assert_eq!(chart.points[0].title, "2026-11-30: 3");
    }

    #[test]
    fn one_slice_is_the_whole_ring() {
        let status = Cell::Text("completed".into());
        let chart = PieChart::new(&[(&status, 5.0)]).unwrap();
        let circumference = round(2.0 * std::f64::consts::PI * RADIUS);
        assert_eq!(chart.slices[0].dash, format!("{circumference} 0"));
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(short("abcdef", 4), "abc…");
        assert_eq!(short("abc", 4), "abc");
    }
}
