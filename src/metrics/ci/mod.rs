//! CI metrics: test results (JUnit XML), line coverage (LCOV, Cobertura) and
//! build outcomes, recorded by `git okr ci ingest` and read by `kr measure`.
//!
//! `metrics/ci_report.json` holds the latest CI report:
//!
//! ```json
//! {"schema_version": 1, "generated_at": "2026-01-18T09:00:00Z", "commit": "<HEAD id>",
//!  "metrics": {"test_count": 120, "tests_passed": 118, "tests_failed": 1, "tests_skipped": 1,
//!              "tests_errored": 0, "coverage": 87.5, "lines_covered": 875, "lines_total": 1000},
//!  "build": "success", "sources": ["junit: target/nextest/ci/junit.xml"], "failed_tests": ["…"]}
//! ```
//!
//! As in OKRchestra, every numeric key of that file, flat or under `metrics`,
//! becomes the metric `ci.<key>` (`schema_version` excepted), so a report
//! written by other tools works too. `metrics/ci_history.jsonl` gets one line
//! per ingest; `ci.build_success_rate` is computed from it.

pub mod cobertura;
pub mod junit;
pub mod lcov;
mod xml;

use crate::model::definitions::{parse_date, Definitions};
use crate::model::snapshot::MetricPoint;
use crate::store::Snapshot;
use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use cobertura::CoberturaLines;
use junit::TestCounts;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const REPORT_FILE: &str = "metrics/ci_report.json";
pub const HISTORY_FILE: &str = "metrics/ci_history.jsonl";
pub const SCHEMA_VERSION: u64 = 1;
/// At most this many failed test names are kept in the report.
const MAX_FAILED_NAMES: usize = 100;

/// Metrics this module defines, with their units (any other numeric key has none).
const UNITS: &[(&str, &str)] = &[
    ("test_count", "count"),
    ("tests_passed", "count"),
    ("tests_failed", "count"),
    ("tests_skipped", "count"),
    ("tests_errored", "count"),
    ("coverage", "percent"),
    ("lines_covered", "count"),
    ("lines_total", "count"),
    ("build_success_rate", "percent"),
    // OKRchestra's CI provider calls these ratios (0-1); its reports carry them.
    ("pass_rate_30d", "ratio"),
    ("success_rate_30d", "ratio"),
];

/// Covered and coverable lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCoverage {
    pub covered: u64,
    pub valid: u64,
}

impl LineCoverage {
    /// Percent of lines covered (0–100); `None` when there are no lines.
    pub fn percent(&self) -> Option<f64> {
        (self.valid > 0).then(|| round4(self.covered as f64 * 100.0 / self.valid as f64))
    }
}

/// The outcome of one CI build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Success,
    Failure,
}

impl Build {
    pub fn parse(s: &str) -> Option<Build> {
        match s {
            "success" => Some(Build::Success),
            "failure" => Some(Build::Failure),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Build::Success => "success",
            Build::Failure => "failure",
        }
    }
}

/// Collects the inputs of one `ci ingest` and turns them into a report.
#[derive(Debug, Default)]
pub struct ReportBuilder {
    tests: Option<TestCounts>,
    lines: Option<LineCoverage>,
    /// A coverage file that only gave a percentage: (file, percent).
    rate_only: Option<(String, f64)>,
    coverage_files: Vec<String>,
    extra: Vec<(String, f64)>,
    build: Option<Build>,
    sources: Vec<String>,
}

impl ReportBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a JUnit XML file; several files add up.
    pub fn junit(&mut self, file: &str, text: &str) -> Result<&mut Self> {
        let counts = junit::parse(file, text)?;
        self.tests
            .get_or_insert_with(TestCounts::default)
            .add(counts);
        self.sources.push(format!("junit: {file}"));
        Ok(self)
    }

    /// Add an LCOV tracefile; line totals of several coverage files add up.
    pub fn lcov(&mut self, file: &str, text: &str) -> Result<&mut Self> {
        let lines = lcov::parse(file, text)?;
        self.add_lines(file, lines)?;
        self.sources.push(format!("lcov: {file}"));
        Ok(self)
    }

    /// Add a Cobertura XML report.
    pub fn cobertura(&mut self, file: &str, text: &str) -> Result<&mut Self> {
        match cobertura::parse(file, text)? {
            CoberturaLines::Counts(lines) => self.add_lines(file, lines)?,
            CoberturaLines::Rate(percent) => {
                if let Some(other) = self.coverage_files.first() {
                    bail!("{file} gives only line-rate, which cannot be combined with the line counts of {other}");
                }
                self.rate_only = Some((file.to_string(), round4(percent)));
                self.coverage_files.push(file.to_string());
            }
        }
        self.sources.push(format!("cobertura: {file}"));
        Ok(self)
    }

    fn add_lines(&mut self, file: &str, lines: LineCoverage) -> Result<()> {
        if let Some((other, _)) = &self.rate_only {
            bail!("{other} gives only line-rate, which cannot be combined with the line counts of {file}");
        }
        let total = self.lines.get_or_insert_with(LineCoverage::default);
        total.covered += lines.covered;
        total.valid += lines.valid;
        self.coverage_files.push(file.to_string());
        Ok(())
    }

    /// Merge a ci_report.json of one's own (OKRchestra's or another tool's): its
    /// numeric keys, flat or under `metrics`; values parsed from the other
    /// inputs win. Its `build` ("success"/"failure") is used unless one is given.
    pub fn json(&mut self, file: &str, text: &str) -> Result<&mut Self> {
        let value = parse_json(file, text)?;
        self.extra.extend(numeric_metrics(file, &value)?);
        if self.build.is_none() {
            self.build = report_build(file, &value)?;
        }
        self.sources.push(format!("json: {file}"));
        Ok(self)
    }

    pub fn build(&mut self, build: Build) -> &mut Self {
        self.build = Some(build);
        self
    }

    /// The report, stamped with when it was made and the commit it is about.
    pub fn finish(&self, generated_at: DateTime<Utc>, commit: Option<String>) -> CiReport {
        let mut metrics: Vec<(String, f64)> = Vec::new();
        let mut failed_tests = Vec::new();
        if let Some(t) = &self.tests {
            metrics.extend([
                ("test_count".to_string(), t.total as f64),
                ("tests_passed".to_string(), t.passed as f64),
                ("tests_failed".to_string(), (t.failed + t.errored) as f64),
                ("tests_skipped".to_string(), t.skipped as f64),
                ("tests_errored".to_string(), t.errored as f64),
            ]);
            failed_tests = t.failures.iter().take(MAX_FAILED_NAMES).cloned().collect();
        }
        if let Some(lines) = self.lines {
            if let Some(p) = lines.percent() {
                metrics.push(("coverage".into(), p));
            }
            metrics.push(("lines_covered".into(), lines.covered as f64));
            metrics.push(("lines_total".into(), lines.valid as f64));
        }
        if let Some((_, percent)) = &self.rate_only {
            metrics.push(("coverage".into(), *percent));
        }
        for (key, value) in &self.extra {
            if !metrics.iter().any(|(k, _)| k == key) {
                metrics.push((key.clone(), *value));
            }
        }
        CiReport {
            generated_at: generated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            commit,
            metrics,
            build: self.build,
            sources: self.sources.clone(),
            failed_tests,
        }
    }
}

/// One CI report, as written to `metrics/ci_report.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct CiReport {
    pub generated_at: String,
    pub commit: Option<String>,
    /// Metric keys without the `ci.` prefix, in report order.
    pub metrics: Vec<(String, f64)>,
    pub build: Option<Build>,
    pub sources: Vec<String>,
    pub failed_tests: Vec<String>,
}

impl CiReport {
    pub fn value(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn metrics_json(&self) -> Map<String, Value> {
        self.metrics
            .iter()
            .map(|(k, v)| (k.clone(), number(*v)))
            .collect()
    }

    /// The pretty JSON of `metrics/ci_report.json`.
    pub fn to_json(&self) -> String {
        let mut doc = Map::new();
        doc.insert("schema_version".into(), json!(SCHEMA_VERSION));
        doc.insert("generated_at".into(), json!(self.generated_at));
        if let Some(c) = &self.commit {
            doc.insert("commit".into(), json!(c));
        }
        doc.insert("metrics".into(), Value::Object(self.metrics_json()));
        if let Some(b) = self.build {
            doc.insert("build".into(), json!(b.as_str()));
        }
        doc.insert("sources".into(), json!(self.sources));
        if !self.failed_tests.is_empty() {
            doc.insert("failed_tests".into(), json!(self.failed_tests));
        }
        let mut text =
            serde_json::to_string_pretty(&Value::Object(doc)).expect("JSON values serialize");
        text.push('\n');
        text
    }

    /// The line appended to `metrics/ci_history.jsonl` (newline included). Each call
    /// gets a new random `build_id`: two builds in the same second with the same commit
    /// and outcome stay two lines, through every merge.
    pub fn history_line(&self) -> String {
        use rand::Rng;
        let mut doc = Map::new();
        doc.insert("generated_at".into(), json!(self.generated_at));
        doc.insert(
            "build_id".into(),
            json!(format!("{:016x}", rand::rng().random::<u64>())),
        );
        if let Some(c) = &self.commit {
            doc.insert("commit".into(), json!(c));
        }
        if let Some(b) = self.build {
            doc.insert("build".into(), json!(b.as_str()));
        }
        doc.insert("metrics".into(), Value::Object(self.metrics_json()));
        let mut line = Value::Object(doc).to_string();
        line.push('\n');
        line
    }

    /// For commit subjects: `120 tests, 87.5% coverage, build success`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.value("test_count") {
            parts.push(format!(
                "{} test{}",
                fmt(n),
                if n == 1.0 { "" } else { "s" }
            ));
        }
        if let Some(c) = self.value("coverage") {
            parts.push(format!("{}% coverage", fmt(round2(c))));
        }
        if let Some(b) = self.build {
            parts.push(format!("build {}", b.as_str()));
        }
        if parts.is_empty() {
            let n = self.metrics.len();
            parts.push(format!("{n} metric{}", if n == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }
}

/// One line of `metrics/ci_history.jsonl`, as far as the build rate needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub generated_at: Option<String>,
    pub build: Option<Build>,
}

/// Parse `metrics/ci_history.jsonl`; a broken line is an error naming it.
pub fn parse_history(file: &str, text: &str) -> Result<Vec<HistoryEntry>> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let here = format!("{file}:{}", i + 1);
        let value: Value = serde_json::from_str(line).map_err(|e| anyhow!("{here}: {e}"))?;
        if !value.is_object() {
            bail!("{here}: expected a JSON object per line");
        }
        let generated_at = value
            .get("generated_at")
            .and_then(Value::as_str)
            .map(str::to_string);
        out.push(HistoryEntry {
            generated_at,
            build: report_build(&here, &value)?,
        });
    }
    Ok(out)
}

/// The build success rate over the last `window` builds, in percent (0–100).
/// Ingests without a build result do not count.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRate {
    /// Percent of successful builds, 0–100.
    pub percent: f64,
    /// Builds counted (≤ window).
    pub builds: usize,
    pub window: u32,
    /// When the latest counted build was recorded.
    pub latest: Option<String>,
}

pub fn build_success_rate(history: &[HistoryEntry], window: u32) -> Option<BuildRate> {
    let builds: Vec<&HistoryEntry> = history.iter().filter(|e| e.build.is_some()).collect();
    let last = &builds[builds.len().saturating_sub(window as usize)..];
    if last.is_empty() {
        return None;
    }
    let ok = last
        .iter()
        .filter(|e| e.build == Some(Build::Success))
        .count();
    Some(BuildRate {
        percent: round4(ok as f64 * 100.0 / last.len() as f64),
        builds: last.len(),
        window,
        latest: last.last().and_then(|e| e.generated_at.clone()),
    })
}

/// The build rate from the history on the state ref, if any build was recorded.
pub fn build_rate_on(snap: &Snapshot<'_>, defs: &Definitions) -> Result<Option<BuildRate>> {
    let Some(text) = snap.read_text(HISTORY_FILE)? else {
        return Ok(None);
    };
    Ok(build_success_rate(
        &parse_history(HISTORY_FILE, &text)?,
        defs.build_window(),
    ))
}

/// The CI metric points for `kr measure`: `ci.<key>` for every numeric key of
/// `metrics/ci_report.json` (flat or under `metrics`) — among them
/// `ci.test_count`, `ci.tests_passed`, `ci.tests_failed`, `ci.tests_skipped`,
/// `ci.coverage` (percent of lines) — and `ci.build_success_rate` (percent
/// 0–100 of successful builds among the last `build_window` ones recorded in
/// `metrics/ci_history.jsonl`). No report and no builds: no points. A corrupt
/// file is an error naming it. `now` stamps a report that has no `generated_at`.
pub fn points(
    snap: &Snapshot<'_>,
    defs: &Definitions,
    now: DateTime<Utc>,
) -> Result<Vec<MetricPoint>> {
    points_with_report(snap, defs, now, None)
}

/// Like [`points`], with `report` (the text of a ci_report.json about to be recorded)
/// standing in for the state's.
pub fn points_with_report(
    snap: &Snapshot<'_>,
    defs: &Definitions,
    now: DateTime<Utc>,
    report: Option<&str>,
) -> Result<Vec<MetricPoint>> {
    let mut points = Vec::new();
    let report = match report {
        Some(text) => Some(text.to_string()),
        None => snap.read_text(REPORT_FILE)?,
    };
    if let Some(text) = report {
        let value = parse_json(REPORT_FILE, &text)?;
        let timestamp = match value.get("generated_at") {
            None | Some(Value::Null) => now.to_rfc3339_opts(SecondsFormat::Secs, true),
            Some(Value::String(s)) => parse_date(s)
                .map_err(|e| anyhow!("{REPORT_FILE}: generated_at: {e}"))?
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            Some(other) => bail!("{REPORT_FILE}: generated_at: expected a date, found {other}"),
        };
        for (key, value) in numeric_metrics(REPORT_FILE, &value)? {
            points.push(point(&key, value, &timestamp, REPORT_FILE, BTreeMap::new()));
        }
    }
    if let Some(rate) = build_rate_on(snap, defs)? {
        let timestamp = match &rate.latest {
            Some(t) => parse_date(t)
                .map_err(|e| anyhow!("{HISTORY_FILE}: generated_at: {e}"))?
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            None => now.to_rfc3339_opts(SecondsFormat::Secs, true),
        };
        let dims = BTreeMap::from([
            ("builds".to_string(), rate.builds.to_string()),
            ("window".to_string(), rate.window.to_string()),
        ]);
        // Counted from the history, this replaces a build_success_rate a report may carry.
        points.retain(|p| p.key != "ci.build_success_rate");
        points.push(point(
            "build_success_rate",
            rate.percent,
            &timestamp,
            HISTORY_FILE,
            dims,
        ));
    }
    Ok(points)
}

fn point(
    key: &str,
    value: f64,
    timestamp: &str,
    evidence: &str,
    dimensions: BTreeMap<String, String>,
) -> MetricPoint {
    MetricPoint {
        key: format!("ci.{key}"),
        value,
        unit: UNITS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, u)| u.to_string()),
        timestamp: timestamp.to_string(),
        source: "ci".into(),
        evidence: vec![evidence.to_string()],
        dimensions,
    }
}

fn parse_json(file: &str, text: &str) -> Result<Value> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| anyhow!("{file}:{}: {e}", e.line()))?;
    if !value.is_object() {
        bail!("{file}: expected a JSON object");
    }
    Ok(value)
}

/// OKRchestra's rule: every numeric key, flat or under `metrics`, is a CI metric.
/// `metrics` may also be a list of `{key, value}` (the manual.yml shape). Keys may
/// carry the `ci.` prefix already; names that are not metric keys are skipped, as
/// are non-numbers. Under `metrics` wins over flat.
pub fn numeric_metrics(file: &str, value: &Value) -> Result<Vec<(String, f64)>> {
    let Some(obj) = value.as_object() else {
        bail!("{file}: expected a JSON object")
    };
    let mut out: Vec<(String, f64)> = Vec::new();
    // A key that is not a metric key is refused, naming it: dropping it silently would
    // make a KR on it read "no value" with no hint why.
    let mut put = |key: &str, v: f64| -> Result<()> {
        let short = key.strip_prefix("ci.").unwrap_or(key);
        if crate::model::manual::validate_key(short).is_err() {
            bail!(
                "{file}: key {} is not a metric key (dotted words like coverage or ci.flaky_count)",
                crate::model::ids::shown(key)
            );
        }
        match out.iter_mut().find(|(k, _)| k == short) {
            Some(slot) => slot.1 = v,
            None => out.push((short.to_string(), v)),
        }
        Ok(())
    };
    for (key, v) in obj {
        if key == "schema_version" || key == "metrics" {
            continue;
        }
        if let Some(n) = v.as_f64() {
            put(key, n)?;
        }
    }
    // Under `metrics`, a number is a metric; a note (`"notes": "nightly"`, a flag) is
    // skipped as OKRchestra's reports carry them; but a string that starts like a
    // number and is not one (`"12abc"`, `"85 %"`) is a broken value, named.
    let mut metric = |key: &str, v: &Value| -> Result<()> {
        match v {
            Value::Number(_) => put(key, v.as_f64().unwrap_or_default()),
            Value::String(text) if looks_numeric(text) => bail!(
                "{file}: metrics: {} is {v}, not a number",
                crate::model::ids::shown(key)
            ),
            _ => Ok(()),
        }
    };
    match obj.get("metrics") {
        Some(Value::Object(metrics)) => {
            for (key, v) in metrics {
                metric(key, v)?;
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let key = item
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("{file}: metrics[{i}]: no \"key\" string"))?;
                metric(key, item.get("value").unwrap_or(&Value::Null))?;
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Whether a string starts like a number (a digit, or a sign or point before one).
fn looks_numeric(text: &str) -> bool {
    let t = text.trim_start();
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    let t = t.strip_prefix('.').unwrap_or(t);
    t.starts_with(|c: char| c.is_ascii_digit())
}

/// The `build` field of a report or history line: absent, "success" or "failure".
fn report_build(here: &str, value: &Value) -> Result<Option<Build>> {
    match value.get("build") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Build::parse(s)
            .map(Some)
            .ok_or_else(|| anyhow!("{here}: build: {s:?} is neither \"success\" nor \"failure\"")),
        Some(other) => bail!("{here}: build: expected \"success\" or \"failure\", found {other}"),
    }
}

/// Whole numbers as JSON integers (`120`, not `120.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn fmt(v: f64) -> String {
    crate::model::fmt_num(v)
}

#[cfg(test)]
mod tests;
