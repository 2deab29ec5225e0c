//! Forecasts: the least-squares line through a KR's recent values, projected to
//! its objective's due date. Advice only: nothing here changes a status.

use chrono::NaiveDate;
use serde::Serialize;

/// How many of the latest measurements the trend is fitted to: about two weeks of
/// daily snapshots, so the line follows the current pace rather than the whole history.
pub const RECENT_POINTS: usize = 14;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub due: NaiveDate,
    /// The trend's value on the due date.
    pub projected: f64,
    pub target: f64,
    /// Change per day of the fitted line.
    pub slope_per_day: f64,
    /// How many measurements the line was fitted to.
    pub points: usize,
    /// The projection falls short of the target, in the KR's direction.
    pub likely_to_miss: bool,
}

impl Forecast {
    /// `KR-1.2 likely to miss: projected 180 by 2026-12-31 (target 200)`
    pub fn describe(&self, kr_id: &str) -> String {
        format!(
            "{kr_id} {}: projected {} by {} (target {})",
            if self.likely_to_miss {
                "likely to miss"
            } else {
                "on track"
            },
            crate::model::fmt_num(round_for_display(self.projected)),
            self.due,
            crate::model::fmt_num(self.target)
        )
    }
}

/// Two decimals are plenty for a projection; more would pretend to a precision it lacks.
fn round_for_display(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Project `history` (date, value; oldest first) to `due`. `None` with fewer than two
/// measurements on different days among the recent ones, or when `due` lies before
/// the latest measurement (the date has passed: the value itself is the outcome).
pub fn forecast(
    history: &[(NaiveDate, f64)],
    due: NaiveDate,
    baseline: f64,
    target: f64,
) -> Option<Forecast> {
    let recent = &history[history.len().saturating_sub(RECENT_POINTS)..];
    let last = recent.last()?.0;
    if due < last {
        return None;
    }
    let origin = recent.first()?.0;
    let xs: Vec<f64> = recent
        .iter()
        .map(|(d, _)| (*d - origin).num_days() as f64)
        .collect();
    let ys: Vec<f64> = recent.iter().map(|(_, v)| *v).collect();
    let (slope, intercept) = least_squares(&xs, &ys)?;
    let projected = intercept + slope * (due - origin).num_days() as f64;
    // A flat KR (target = baseline) is reached at or above its target, as it is scored.
    let increasing = target >= baseline;
    let likely_to_miss = if increasing {
        projected < target
    } else {
        projected > target
    };
    Some(Forecast {
        due,
        projected,
        target,
        slope_per_day: slope,
        points: recent.len(),
        likely_to_miss,
    })
}

/// (slope, intercept) of the least-squares line; `None` when all x are equal.
pub fn least_squares(xs: &[f64], ys: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len() as f64;
    if xs.len() < 2 || xs.len() != ys.len() {
        return None;
    }
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn daily(start: &str, values: &[f64]) -> Vec<(NaiveDate, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (d(start) + chrono::Days::new(i as u64), *v))
            .collect()
    }

    #[test]
    fn exact_line_projects_exactly() {
        // 10 per day from 0 on Jan 1: Jan 31 is day 30 → 300.
        let h = daily("2026-01-01", &[0.0, 10.0, 20.0, 30.0]);
        let f = forecast(&h, d("2026-01-31"), 0.0, 200.0).unwrap();
        assert!((f.projected - 300.0).abs() < 1e-9);
        assert!(!f.likely_to_miss);
        let f = forecast(&h, d("2026-01-11"), 0.0, 200.0).unwrap();
        assert!((f.projected - 100.0).abs() < 1e-9);
        assert!(f.likely_to_miss);
        assert_eq!(
            f.describe("KR-1"),
            "KR-1 likely to miss: projected 100 by 2026-01-11 (target 200)"
        );
    }

    #[test]
    fn decreasing_krs_miss_when_the_projection_stays_above_target() {
        // latency 300 → 200: falling 2 per day from 300, 20 days later 260.
        let h = daily("2026-01-01", &[300.0, 298.0, 296.0]);
        let f = forecast(&h, d("2026-01-21"), 300.0, 200.0).unwrap();
        assert!((f.projected - 260.0).abs() < 1e-9);
        assert!(f.likely_to_miss);
        let f = forecast(&h, d("2026-03-12"), 300.0, 200.0).unwrap();
        assert!(!f.likely_to_miss, "{f:?}");
    }

    #[test]
    fn needs_two_days_and_a_future_due_date() {
        assert_eq!(forecast(&[], d("2026-01-01"), 0.0, 1.0), None);
        let one = daily("2026-01-01", &[5.0]);
        assert_eq!(forecast(&one, d("2026-02-01"), 0.0, 1.0), None);
        let h = daily("2026-01-01", &[1.0, 2.0, 3.0]);
        assert_eq!(forecast(&h, d("2026-01-02"), 0.0, 10.0), None);
        let same_day = [(d("2026-01-01"), 1.0), (d("2026-01-01"), 2.0)];
        assert_eq!(forecast(&same_day, d("2026-02-01"), 0.0, 10.0), None);
    }

    #[test]
    fn only_recent_points_count() {
        // A flat start followed by RECENT_POINTS days rising 1/day: the old flat part is ignored.
        let mut values = vec![0.0; 50];
        values.extend((1..=RECENT_POINTS).map(|i| i as f64));
        let h = daily("2026-01-01", &values);
        let last = h.last().unwrap().0;
        let f = forecast(&h, last + chrono::Days::new(10), 0.0, 100.0).unwrap();
        assert!((f.slope_per_day - 1.0).abs() < 1e-9);
        assert_eq!(f.points, RECENT_POINTS);
    }
}
