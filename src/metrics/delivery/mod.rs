//! Delivery metrics, the four DORA keys, from local history alone: deployments are
//! tags (or first-parent commits of a deployment branch), and lead time, change
//! failures and restore times follow from the commit graph. README "Delivery
//! metrics" states each definition; this module is that text in code.

mod deployments;
mod ranges;
mod settled;

use crate::metrics::git::resolve;
use crate::model::definitions::{
    parse_date, parse_until, Definitions, DeploymentsDef, GitMetricDef, GitStat,
};
use crate::model::snapshot::MetricPoint;
use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use deployments::Deployment;
use gix::ObjectId;
use ranges::{Kind, Ranges, Shipped};
use settled::Settled;
use std::collections::BTreeMap;

/// The built-in keys, over the 30 days before the measurement.
pub const BUILTIN: [(&str, GitStat); 6] = [
    ("git.deployments", GitStat::Deployments),
    ("git.deploys_per_week", GitStat::DeploysPerWeek),
    ("git.lead_time_hours_p50", GitStat::LeadTimeHoursP50),
    ("git.lead_time_hours_p90", GitStat::LeadTimeHoursP90),
    ("git.change_failure_rate", GitStat::ChangeFailureRate),
    (
        "git.time_to_restore_hours_p50",
        GitStat::TimeToRestoreHoursP50,
    ),
];

const DEFAULT_WINDOW_DAYS: i64 = 30;
const HOUR: f64 = 3600.0;
const WEEK: f64 = 7.0 * 24.0 * HOUR;

/// One window of delivery: deployments made from `since` to `until` (inclusive,
/// seconds), counting only commits under `paths` when there are any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    pub since: i64,
    pub until: i64,
    pub paths: Vec<String>,
}

/// The delivery metrics of one window. `None`: not defined there (no deployment to
/// take a lead time from, no failed deployment that was restored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    pub deployments: u64,
    pub deploys_per_week: f64,
    pub lead_time_hours_p50: Option<f64>,
    pub lead_time_hours_p90: Option<f64>,
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_hours_p50: Option<f64>,
}

impl Delivery {
    /// A window's metrics: its settled part, and `failed` deployments in all.
    fn of(settled: &Settled, failed: u64, window: &Window) -> Delivery {
        let count = settled.deployments;
        let weeks = ((window.until - window.since).max(1)) as f64 / WEEK;
        Delivery {
            deployments: count,
            deploys_per_week: count as f64 / weeks,
            lead_time_hours_p50: settled.lead_time_hours_p50,
            lead_time_hours_p90: settled.lead_time_hours_p90,
            change_failure_rate: (count > 0).then(|| failed as f64 * 100.0 / count as f64),
            time_to_restore_hours_p50: settled.time_to_restore_hours_p50,
        }
    }

    pub fn get(&self, stat: GitStat) -> Option<f64> {
        match stat {
            GitStat::Deployments => Some(self.deployments as f64),
            GitStat::DeploysPerWeek => Some(self.deploys_per_week),
            GitStat::LeadTimeHoursP50 => self.lead_time_hours_p50,
            GitStat::LeadTimeHoursP90 => self.lead_time_hours_p90,
            GitStat::ChangeFailureRate => self.change_failure_rate,
            GitStat::TimeToRestoreHoursP50 => self.time_to_restore_hours_p50,
            _ => None,
        }
    }
}

fn unit(stat: GitStat) -> &'static str {
    match stat {
        GitStat::Deployments => "count",
        GitStat::DeploysPerWeek => "per_week",
        GitStat::ChangeFailureRate => "percent",
        _ => "hours",
    }
}

/// The delivery points of a measurement: the built-in keys (last 30 days) when the
/// definitions have a `deployments:` section or a KR uses one of them (`wanted`), and
/// every definition whose `stat` is a delivery statistic. Nothing is read from the
/// repository when neither asks for them.
pub fn points(
    store: &crate::store::Store,
    defs: &Definitions,
    rev: Option<&str>,
    now: DateTime<Utc>,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<MetricPoint>> {
    let builtin = defs.deployments.is_some() || BUILTIN.iter().any(|(k, _)| wanted(k));
    let own: Vec<&GitMetricDef> = defs.git.iter().filter(|d| d.stat.is_delivery()).collect();
    if !builtin && own.is_empty() {
        return Ok(Vec::new());
    }
    let mut timer = crate::metrics::git::timing::Timer::new();
    let repo = store.repo();
    let main_rev = rev.or(defs.branch.as_deref()).unwrap_or("HEAD");
    if main_rev == "HEAD" && repo.head().map(|h| h.is_unborn()).unwrap_or(false) {
        return Ok(Vec::new());
    }
    let config = defs.deployments.clone().unwrap_or_default();
    let default_window = Window {
        since: (now - chrono::Duration::days(DEFAULT_WINDOW_DAYS)).timestamp(),
        until: now.timestamp(),
        paths: Vec::new(),
    };
    let mut queries: Vec<(Window, String)> = Vec::new();
    if builtin {
        queries.push((default_window.clone(), main_rev.to_string()));
    }
    for def in &own {
        queries.push((
            window_of(def, &default_window)?,
            def.branch.clone().unwrap_or_else(|| main_rev.to_string()),
        ));
    }
    let earliest = queries.iter().map(|(w, _)| w.since).min().unwrap_or(0);
    let kind = match config.branch {
        Some(_) => Kind::Branch,
        None => Kind::Tags,
    };
    let results = crate::db::with_db(&store.okr_dir()?, |conn| {
        ranges::prepare(conn)?;
        timer.lap("delivery: db open");
        let deployments = find_deployments(repo, conn, &config, earliest)?;
        timer.lap("delivery: deployments");
        let ranges = Ranges::new(repo, conn, config.hotfix_pattern())?;
        // Range keys once per set of paths; ranges themselves only for windows the
        // cache does not know, once per set of paths, from the earliest such window's
        // first deployment.
        let mut keys: BTreeMap<&[String], Vec<String>> = BTreeMap::new();
        let mut earliest: BTreeMap<&[String], usize> = BTreeMap::new();
        for (window, _) in &queries {
            let paths = window.paths.as_slice();
            keys.entry(paths)
                .or_insert_with(|| ranges.keys(kind, &deployments, paths));
            let first = first_in(&deployments, window.since);
            let e = earliest.entry(paths).or_insert(first);
            *e = (*e).min(first);
        }
        let mut shipped: BTreeMap<&[String], Shipped> = BTreeMap::new();
        let mut frontier: Option<Vec<ObjectId>> = None;
        // Definitions that differ only in their statistic share one evaluation.
        let mut evaluated: BTreeMap<(&Window, &str), Delivery> = BTreeMap::new();
        let mut results = Vec::with_capacity(queries.len());
        for (window, rev) in &queries {
            if let Some(done) = evaluated.get(&(window, rev.as_str())) {
                results.push(done.clone());
                continue;
            }
            let paths = window.paths.as_slice();
            let of_paths = &keys[paths];
            let first = first_in(&deployments, window.since);
            let end = deployments.partition_point(|d| d.time <= window.until);
            let key = settled::key(kind, of_paths, &deployments, first, end);
            let settled = match settled::cached(conn, &key)? {
                Some(settled) => settled,
                None => {
                    if !shipped.contains_key(paths) {
                        let from = earliest[paths];
                        let read = ranges.shipped(kind, &deployments, of_paths, from, paths)?;
                        shipped.insert(paths, read);
                    }
                    let s = &shipped[paths];
                    let settled = settled::settle(&ranges, s, &deployments, first, end, paths)?;
                    settled::store(conn, &key, &settled)?;
                    settled
                }
            };
            let mut failed = settled.failed;
            if let Some(open) = settled.open {
                let tip = resolve(repo, rev)?;
                if frontier.is_none() {
                    frontier = Some(ranges.frontier(kind, &deployments, of_paths, paths)?);
                }
                let frontier = frontier.as_deref().unwrap_or_default();
                let tail = ranges.tail(frontier, &deployments, tip, paths)?;
                let ids = || match shipped.get(paths) {
                    Some(s) => ranges.ids(s, &deployments, open).map(str::to_string),
                    None => ranges.ids_at(kind, &deployments, &of_paths[open], open, paths),
                };
                failed += u64::from(settled::fails(&[&tail], ids)?);
            }
            let delivery = Delivery::of(&settled, failed, window);
            evaluated.insert((window, rev.as_str()), delivery.clone());
            results.push(delivery);
        }
        timer.lap("delivery: evaluate");
        Ok(results)
    })
    .context("measuring delivery metrics")?;

    let timestamp = now.to_rfc3339();
    let source = describe(&config);
    let point = |key: &str, stat: GitStat, d: &Delivery| {
        d.get(stat).map(|value| MetricPoint {
            key: key.to_string(),
            value: round(value),
            unit: Some(unit(stat).to_string()),
            timestamp: timestamp.clone(),
            source: "git".to_string(),
            evidence: vec![format!("{source}: {} deployment(s)", d.deployments)],
            dimensions: Default::default(),
        })
    };
    let mut out = Vec::new();
    let mut results = results.iter();
    if builtin {
        let d = results.next().expect("one result per query");
        out.extend(BUILTIN.iter().filter_map(|(k, s)| point(k, *s, d)));
    }
    for (def, d) in own.iter().zip(results) {
        out.retain(|p| p.key != def.key);
        out.extend(point(&def.key, def.stat, d));
    }
    Ok(out)
}

/// Values keep two decimals: hours to the minute, rates to a hundredth of a percent.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn describe(config: &DeploymentsDef) -> String {
    match &config.branch {
        Some(b) => format!("deployments: first-parent commits of {b}"),
        None => format!("deployments: tags {}", config.tag_pattern()),
    }
}

fn window_of(def: &GitMetricDef, default: &Window) -> Result<Window> {
    let since = match &def.since {
        Some(s) => parse_date(s)
            .with_context(|| format!("git metric {}: since", def.key))?
            .timestamp(),
        None => default.since,
    };
    let until = match &def.until {
        Some(s) => parse_until(s)
            .with_context(|| format!("git metric {}: until", def.key))?
            .timestamp(),
        None => default.until,
    };
    if until < since {
        return Err(anyhow!("git metric {}: until is before since", def.key));
    }
    Ok(Window {
        since,
        until,
        paths: normalize_paths(&def.paths)?,
    })
}

fn normalize_paths(paths: &[String]) -> Result<Vec<String>> {
    paths
        .iter()
        .map(|p| {
            let trimmed = p.strip_prefix("./").unwrap_or(p);
            let trimmed = if trimmed == "." { "" } else { trimmed };
            if trimmed.starts_with('/') || trimmed.split('/').any(|c| c == "..") {
                return Err(anyhow!(
                    "path {p:?} must be relative to the repository root"
                ));
            }
            Ok(trimmed.to_string())
        })
        .collect()
}

fn find_deployments(
    repo: &gix::Repository,
    conn: &rusqlite::Connection,
    config: &DeploymentsDef,
    since: i64,
) -> Result<Vec<Deployment>> {
    match &config.branch {
        Some(branch) => {
            let tip = resolve(repo, branch).with_context(|| {
                format!(
                    "{}: deployments: branch",
                    crate::model::definitions::DEFINITIONS_FILE
                )
            })?;
            deployments::from_branch(repo, tip, since)
        }
        None => deployments::from_tags(repo, config.tag_pattern(), conn),
    }
}

/// The first deployment at or after `since`: those before a window matter only as what
/// later ones did not ship.
fn first_in(deployments: &[Deployment], since: i64) -> usize {
    deployments
        .iter()
        .position(|d| d.time >= since)
        .unwrap_or(deployments.len())
}

/// The `p` quantile of `values`, interpolating linearly between the two nearest ranks
/// (the median of an even count is the mean of the middle two). It selects instead of
/// sorting (a window can hold every commit of the history), so `values` is reordered.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    let pos = p * last as f64;
    let lo = pos.floor() as usize;
    let (_, &mut low, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    // The next rank is the smallest value above the selected one.
    let high = match pos > lo as f64 {
        true => above.iter().copied().min_by(f64::total_cmp).unwrap_or(low),
        false => low,
    };
    Some(low + (high - low) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        assert_eq!(percentile(&mut [], 0.5), None);
        assert_eq!(percentile(&mut [3.0], 0.9), Some(3.0));
        assert_eq!(percentile(&mut [10.0, 2.0, 3.0, 1.0], 0.5), Some(2.5));
        let p90 = percentile(&mut [3.0, 10.0, 1.0, 2.0], 0.9).unwrap();
        assert!((p90 - 7.9).abs() < 1e-9, "{p90}");
        assert_eq!(percentile(&mut [5.0, 1.0, 3.0], 0.5), Some(3.0));
        // Against sorting, on values with repeats.
        let values: Vec<f64> = (0..1001).map(|i| ((i * 7919) % 613) as f64 / 3.0).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
            let pos = p * (sorted.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            let want = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64);
            assert_eq!(percentile(&mut values.clone(), p), Some(want), "p{p}");
        }
    }
}
