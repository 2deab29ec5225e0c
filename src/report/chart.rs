//! One SVG line chart per KR: its value over time against baseline and target,
//! status changes marked on the line, and the forecast's trend to the due date.
//! Output is XML-clean (every element closed, text escaped) so the page parses as XHTML.

use super::forecast::Forecast;
use super::{esc, SeriesPoint};
use crate::model::fmt_num;
use chrono::NaiveDate;
use std::fmt::Write;

/// At most this many points are drawn (plus first/last and status changes): more than
/// the chart's width in pixels would only make the file big.
pub const MAX_POINTS: usize = 300;

const W: f64 = 660.0;
const H: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 84.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

pub struct ChartInput<'a> {
    pub kr_id: &'a str,
    pub points: &'a [SeriesPoint],
    pub baseline: f64,
    pub target: f64,
    pub forecast: Option<&'a Forecast>,
}

pub fn status_colour(status: &str) -> &'static str {
    match status {
        "achieved" => "#15803d",
        "in_progress" => "#2563eb",
        "at_risk" => "#d97706",
        "blocked" => "#dc2626",
        _ => "#6b7280",
    }
}

/// Indices of the points to draw, oldest first: all of them up to `max`; beyond that the
/// lowest and highest point of each of `max / 2` equal buckets (so spikes survive), plus
/// the first, the last and every point where `keep` is true.
pub fn downsample(values: &[f64], keep: &[bool], max: usize) -> Vec<usize> {
    let n = values.len();
    if n <= max {
        return (0..n).collect();
    }
    let buckets = (max / 2).max(1);
    let mut out: Vec<usize> = vec![0, n - 1];
    out.extend((0..n).filter(|&i| keep.get(i).copied().unwrap_or(false)));
    for b in 0..buckets {
        let (start, end) = (b * n / buckets, ((b + 1) * n / buckets).min(n));
        if start >= end {
            continue;
        }
        let by = |cmp: fn(&f64, &f64) -> bool| {
            (start..end).fold(start, |best, i| {
                if cmp(&values[i], &values[best]) {
                    i
                } else {
                    best
                }
            })
        };
        out.push(by(|a, b| a < b));
        out.push(by(|a, b| a > b));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Round steps (1, 2, 5 × 10ⁿ) for about `count` grid lines over [lo, hi].
fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let raw = (hi - lo) / count as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut out = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && out.len() < 20 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// A number for an axis label: short, no float noise.
fn label(v: f64) -> String {
    let rounded = (v * 1000.0).round() / 1000.0;
    if rounded.abs() >= 100_000.0 {
        format!("{:.3e}", rounded)
    } else {
        fmt_num(rounded)
    }
}

pub fn render(c: &ChartInput<'_>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{} over time">"#,
        esc(c.kr_id)
    );
    if c.points.is_empty() {
        let _ = write!(
            s,
            r##"<rect x="0.5" y="0.5" width="{}" height="{}" rx="6" fill="#f9fafb" stroke="#e5e7eb"/><text x="{}" y="{}" text-anchor="middle" class="empty">no measurements yet: run git okr kr measure</text></svg>"##,
            W - 1.0,
            H - 1.0,
            W / 2.0,
            H / 2.0
        );
        return s;
    }
    let first = c.points[0].date;
    let last = c.points[c.points.len() - 1].date;
    let end = c.forecast.map(|f| f.due.max(last)).unwrap_or(last);
    let (x0, x1) = if end > first {
        (first, end)
    } else {
        (first - chrono::Days::new(1), end + chrono::Days::new(1))
    };
    let values: Vec<f64> = c.points.iter().map(|p| p.value).collect();
    let keep: Vec<bool> = c.points.iter().map(|p| p.changed_from.is_some()).collect();
    let drawn = downsample(&values, &keep, MAX_POINTS);

    let mut lo = c.baseline.min(c.target);
    let mut hi = c.baseline.max(c.target);
    for &i in &drawn {
        lo = lo.min(values[i]);
        hi = hi.max(values[i]);
    }
    // A projection somewhat beyond the data widens the axis; a wild one would squash
    // the measurements into a line, so it is clipped at the edge and labelled instead.
    if let Some(f) = c.forecast {
        let room = (hi - lo).max(lo.abs().max(1.0) * 0.1) * 0.5;
        lo = lo.min(f.projected.max(lo - room));
        hi = hi.max(f.projected.min(hi + room));
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.1
    };
    let (lo, hi) = (lo - pad, hi + pad);

    let span = (x1 - x0).num_days() as f64;
    let x = |d: NaiveDate| LEFT + (d - x0).num_days() as f64 / span * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);

    // Grid and value axis.
    for t in ticks(lo, hi, 4) {
        let yt = y(t);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yt:.1}" y2="{yt:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            yt + 4.0,
            esc(&label(t)),
        );
    }
    // Date axis: start and end, and the due date when it is further.
    let mut dates = vec![(x0, "start"), (last.max(x0), "end")];
    if let Some(f) = c.forecast {
        if f.due > last {
            dates.push((f.due, "end"));
        }
    }
    let mut placed: Vec<f64> = Vec::new();
    for (d, anchor) in dates {
        let xd = x(d);
        if placed.iter().any(|p| (p - xd).abs() < 80.0) {
            continue;
        }
        placed.push(xd);
        let _ = write!(
            s,
            r#"<text class="axis" x="{xd:.1}" y="{:.1}" text-anchor="{anchor}">{d}</text>"#,
            H - 10.0
        );
    }
    let _ = write!(
        s,
        r#"<line class="axisline" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/>"#,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
    // Baseline and target.
    for (v, class, name) in [
        (c.baseline, "baseline", "baseline"),
        (c.target, "target", "target"),
    ] {
        let yv = y(v);
        let _ = write!(
            s,
            r#"<line class="{class}" x1="{LEFT}" x2="{:.1}" y1="{yv:.1}" y2="{yv:.1}"/><text class="{class}-label" x="{:.1}" y="{:.1}">{name} {}</text>"#,
            W - RIGHT,
            W - RIGHT + 4.0,
            yv + 4.0,
            esc(&fmt_num(v)),
        );
    }
    // The forecast's trend, from the latest measurement's date to the due date, drawn
    // inside the plot area only; the projected value is written beside its end.
    if let Some(f) = c.forecast {
        let from = f.projected - f.slope_per_day * (f.due - last).num_days() as f64;
        let class = if f.likely_to_miss {
            "trend miss"
        } else {
            "trend ok"
        };
        let clip = format!(
            "plot-{}",
            esc(c.kr_id).replace(|ch: char| !ch.is_ascii_alphanumeric(), "-")
        );
        let (py, clipped) = if f.projected > hi {
            (TOP + 10.0, Some("↑ "))
        } else if f.projected < lo {
            (H - BOTTOM - 4.0, Some("↓ "))
        } else {
            (y(f.projected) - 6.0, None)
        };
        let _ = write!(
            s,
            r#"<clipPath id="{clip}"><rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}"/></clipPath><line class="due" x1="{xd:.1}" x2="{xd:.1}" y1="{TOP}" y2="{:.1}"/><g clip-path="url(#{clip})"><line class="{class}" x1="{:.1}" y1="{:.1}" x2="{xd:.1}" y2="{:.1}"><title>trend {}/day, projected {} on {}</title></line><circle class="{class}" cx="{xd:.1}" cy="{:.1}" r="3.5"/></g><text class="{class} projected" x="{:.1}" y="{py:.1}" text-anchor="end" data-clipped="{}">{}projected {}</text>"#,
            W - RIGHT - LEFT,
            H - BOTTOM - TOP,
            H - BOTTOM,
            x(last),
            y(from),
            y(f.projected),
            esc(&label(f.slope_per_day)),
            esc(&label(f.projected)),
            f.due,
            y(f.projected),
            x(f.due) - 6.0,
            clipped.is_some(),
            clipped.unwrap_or(""),
            esc(&fmt_num((f.projected * 100.0).round() / 100.0)),
            xd = x(f.due),
        );
    }
    // The values.
    let coords: Vec<String> = drawn
        .iter()
        .map(|&i| format!("{:.1},{:.1}", x(c.points[i].date), y(values[i])))
        .collect();
    let _ = write!(
        s,
        r#"<polyline class="value" data-points="{}" points="{}"/>"#,
        drawn.len(),
        coords.join(" ")
    );
    let lastp = &c.points[c.points.len() - 1];
    let _ = write!(
        s,
        r#"<circle class="latest" cx="{:.1}" cy="{:.1}" r="4"><title>{}: {}</title></circle>"#,
        x(lastp.date),
        y(lastp.value),
        lastp.date,
        esc(&fmt_num(lastp.value))
    );
    for p in c.points.iter().filter(|p| p.changed_from.is_some()) {
        let to = p.status.as_deref().unwrap_or("");
        let _ = write!(
            s,
            r##"<circle class="change" cx="{:.1}" cy="{:.1}" r="5.5" fill="#ffffff" stroke="{}" stroke-width="2.5"><title>{}: {} -&gt; {} at {}</title></circle>"##,
            x(p.date),
            y(p.value),
            status_colour(to),
            p.date,
            esc(p.changed_from.as_deref().unwrap_or("")),
            esc(to),
            esc(&fmt_num(p.value))
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_bounds_the_count_and_keeps_extremes_and_marks() {
        let n = 5000;
        let mut values: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
        values[1234] = 1000.0;
        values[4321] = -1000.0;
        let mut keep = vec![false; n];
        keep[2500] = true;
        let idx = downsample(&values, &keep, MAX_POINTS);
        assert!(idx.len() <= MAX_POINTS + 3, "{}", idx.len());
        for must in [0, n - 1, 1234, 4321, 2500] {
            assert!(idx.contains(&must), "{must} dropped");
        }
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            downsample(&values[..10], &keep, MAX_POINTS),
            (0..10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(0.0, 100.0, 4), vec![0.0, 50.0, 100.0]);
        assert_eq!(ticks(-0.3, 1.1, 4), vec![0.0, 0.5, 1.0]);
    }
}
