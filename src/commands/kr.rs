//! `git okr kr measure` and `git okr kr score`.

use super::output::{paint_grade, table};
use crate::cli::{MeasureArgs, ScoreArgs};
use crate::ctx::Ctx;
use crate::ctx::{load_definitions, load_manual, load_okrs, require_initialized};
use crate::measure::{
    assess, latest_snapshot, latest_values, merge_points, same_measurement, values_of, Assessment,
    StatusChange,
};
use crate::metrics::ci::REPORT_FILE;
use crate::model::fmt_num;
use crate::model::manual::{ManualMetric, ManualMetrics, MANUAL_FILE};
use crate::model::okrs::OkrSet;
use crate::model::proposal::Change;
use crate::model::snapshot::{snapshot_path, MetricPoint, MetricSnapshot};
use crate::score::by_scope;
use crate::store::{Changes, Commit, Snapshot, Step};
use anyhow::{anyhow, bail, Result};
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap};

/// What a measurement did, for printing after the transaction.
#[derive(Default)]
struct Measured {
    assessment: Assessment,
    snapshot_path: String,
    /// Set when nothing changed since this earlier snapshot.
    unchanged_since: Option<String>,
    /// A backdated measurement that left the KRs' statuses alone.
    backfill: bool,
}

pub fn measure(ctx: &Ctx, args: MeasureArgs) -> Result<()> {
    if args.hook {
        let warning = crate::hooks::measure_from_hook(&ctx.store, || measure_now(ctx, &args))?;
        if let Some(e) = warning {
            eprintln!(
                "git-okr: warning: measurement failed: {e:#}\n  (not stopping git; `git config {} true` would)",
                crate::hooks::STRICT_KEY
            );
        }
        return Ok(());
    }
    measure_now(ctx, &args)
}

fn measure_now(ctx: &Ctx, args: &MeasureArgs) -> Result<()> {
    let start = ctx.store.snapshot()?;
    require_initialized(&start)?;
    let now = chrono::Utc::now();
    let as_of = crate::measure::as_of(args.as_of.as_deref(), chrono::Local::now())?;
    let at = as_of.at;
    let day = as_of.day();
    let measured_commit = measured_commit(ctx, args.rev.as_deref(), &as_of)?;
    // Expensive, and a function of the repository rather than of the state: collected once,
    // outside the transaction that may re-run.
    let defs = load_definitions(&start)?;
    let (rev, when) = match (&measured_commit, as_of.backdated) {
        (Some(commit), true) => (Some(commit.as_str()), at),
        _ => (args.rev.as_deref(), now),
    };
    let start_set = load_okrs(&start)?;
    let used: std::collections::HashSet<String> =
        start_set.krs().map(|k| k.kr.metric_key.clone()).collect();
    // The set parsed here serves the transaction's first attempt when the state has not
    // moved meanwhile (the same tip has the same files): one parse of the OKR files.
    let mut preloaded = Some((start.tip(), start_set));
    let repo_points = match (&measured_commit, as_of.backdated) {
        // Nothing was on the branch yet that day.
        (None, true) => Vec::new(),
        _ => {
            // Blobs are diffed only when some key result uses a line metric; the
            // other built-in git metrics (no diffs) are always in the snapshot.
            let needs = crate::metrics::git::Needs {
                builtins: true,
                ..crate::metrics::git::Needs::of(used.iter().map(String::as_str))
            };
            let git = crate::metrics::git::points(&ctx.store, &defs, rev, when, needs)?;
            for u in &git.unavailable {
                eprintln!("{}", describe_unavailable(u));
            }
            let mut points = git.points;
            points.extend(crate::metrics::delivery::points(
                &ctx.store,
                &defs,
                rev,
                when,
                |key| used.contains(key),
            )?);
            points
        }
    };
    let recorded = Recorded::read(args, now, resolve_commit(ctx, None)?)?;
    let outcome = ctx.store.transact(|snap| {
        // CI and manual values as the state recorded them by then.
        let then = match (as_of.backdated, snap.tip()) {
            (true, Some(tip)) => ctx
                .store
                .snapshot_at(ctx.store.first_parent_at_or_before(tip, at.timestamp())?)?,
            _ => ctx.store.snapshot_at(snap.tip())?,
        };
        let mut set = match preloaded.take() {
            Some((tip, set)) if tip == snap.tip() => set,
            _ => load_okrs(snap)?,
        };
        let mut points = repo_points.clone();
        let mut changes = Changes::new();
        if then.is_initialized() {
            points.extend(crate::metrics::ci::points_with_report(
                &then,
                &load_definitions(&then)?,
                at,
                recorded.ci_report.as_deref(),
            )?);
            let mut manual = load_manual(&then)?;
            if let Some(given) = &recorded.manual {
                for metric in &given.metrics {
                    manual.upsert(ManualMetric {
                        timestamp: metric
                            .timestamp
                            .clone()
                            .or_else(|| Some(recorded.at.clone())),
                        source: metric.source.clone().or_else(|| Some(ctx.actor.id())),
                        ..metric.clone()
                    });
                }
                changes.write(MANUAL_FILE, manual.render()?);
            }
            if let Some(report) = &recorded.ci_report {
                changes.write(REPORT_FILE, report.clone());
            }
            points.extend(manual_points_of(
                manual,
                &at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ));
        }
        let points = merge_points(points);
        let values: BTreeMap<String, f64> = values_of(&points);
        let latest = latest_snapshot(snap)?;
        let moves =
            crate::measure::moves_statuses(&as_of, latest.as_ref().map(|(p, _)| p.as_str()));
        if !moves {
            let earlier = crate::measure::snapshot_on_or_before(
                snap,
                as_of.date.pred_opt().unwrap_or(as_of.date),
            )?;
            let okrs_then = load_okrs(&then).ok().filter(|_| then.is_initialized());
            crate::measure::statuses_then(
                &mut set,
                earlier.as_ref().map(|(_, s)| s),
                okrs_then.as_ref(),
            );
        }
        let assessment = assess(&set, &values);
        let path = snapshot_path(&day);
        let snapshot = MetricSnapshot {
            schema_version: 1,
            as_of: day.clone(),
            measured_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            commit: measured_commit.clone(),
            points,
            key_results: assessment.key_results.clone(),
        };
        // Today: nothing new since the latest snapshot is not worth a commit. Another day:
        // only the same day's snapshot can make this one redundant.
        let compare_with = if as_of.backdated {
            snap.read_text(&path)?
                .map(|text| {
                    serde_json::from_str::<MetricSnapshot>(&text).map(|s| (path.clone(), s))
                })
                .transpose()
                .map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?
        } else {
            latest
        };
        if let Some((last_path, last)) = compare_with {
            if (assessment.changes.is_empty() || !moves)
                && changes.is_empty()
                && same_measurement(&last, &snapshot)
            {
                return Ok(Step::Nothing(Measured {
                    assessment,
                    snapshot_path: path,
                    unchanged_since: Some(last_path),
                    backfill: !moves,
                }));
            }
        }
        if moves {
            // Each point's source by value key and by bare key, the first point of a key
            // winning (as a search from the top would find it).
            let mut sources: HashMap<String, &str> = HashMap::new();
            for p in &snapshot.points {
                sources.entry(p.value_key()).or_insert(p.source.as_str());
                sources.entry(p.key.clone()).or_insert(p.source.as_str());
            }
            let evidence_of = |key: &str| -> String {
                let source = sources.get(key).copied().unwrap_or("");
                let commit = measured_commit
                    .as_deref()
                    .map(|c| format!(" commit={}", &c[..c.len().min(12)]))
                    .unwrap_or_default();
                format!(
                    "{path} {key}={} source={source}{commit}",
                    fmt_num(values[key])
                )
            };
            let edits = record_in_okrs(
                &mut set,
                &assessment,
                &values,
                &snapshot.measured_at,
                &evidence_of,
            )?;
            // Edit the lines that changed when the layout allows, so people's comments survive.
            let edited = |doc: &crate::model::okrs::OkrDoc| {
                edits
                    .get(&doc.path)
                    .and_then(|e| crate::proposal::edited_text(&doc.text, e, true, doc.value()))
            };
            for (file, text) in set.changed_texts(edited)? {
                changes.write(file, text);
            }
        }
        changes.write(
            path.clone(),
            serde_json::to_string_pretty(&snapshot)? + "\n",
        );
        let mut message = if moves {
            measure_message(ctx, &assessment, &path)
        } else {
            // A backfill records what the day looked like; it changes no status, so it
            // carries no Okr-Status trailers (the audit would read them as changes).
            ctx.message(format!("okr: measure as of {day} (backfill)"), "measure")
                .trailer("Okr-Snapshot", &path)
        };
        if as_of.backdated {
            message = message.trailer("Okr-As-Of", &day);
        }
        // Values recorded by this same commit (`--ci-report`, `--manual`).
        for recorded_file in [REPORT_FILE, MANUAL_FILE] {
            if changes.paths().any(|p| p == recorded_file) {
                message = message.trailer("Okr-File", recorded_file);
            }
        }
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: Measured {
                assessment,
                snapshot_path: path,
                unchanged_since: None,
                backfill: !moves,
            },
        }))
    })?;
    print_measured(outcome.value(), args.json, args.hook)
}

/// `warning: git.lines_added unavailable: commit 0cbe539… needs object b8f93ba…, which this clone lacks`.
fn describe_unavailable(u: &crate::metrics::git::Unavailable) -> String {
    let others = match u.commits {
        0 | 1 => String::new(),
        n => format!(" (and {} more commits)", n - 1),
    };
    format!(
        "warning: {} not measured: commit {} needs object {}, which this clone lacks and could not fetch{others}",
        u.keys.join(", "),
        u.commit,
        u.object
    )
}

/// Set `current`/`last_updated` where the value moved, and status + evidence where it changed.
/// Returns the same edits as field changes per file, so the files can be edited as text.
fn record_in_okrs(
    set: &mut OkrSet,
    assessment: &Assessment,
    values: &BTreeMap<String, f64>,
    measured_at: &str,
    evidence_of: &dyn Fn(&str) -> String,
) -> Result<BTreeMap<String, Vec<Change>>> {
    let status_changes: HashMap<&str, &StatusChange> = assessment
        .changes
        .iter()
        .map(|c| (c.kr_id.as_str(), c))
        .collect();
    let mut edits: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    for doc in &mut set.docs {
        let krs: Vec<(String, String, Option<f64>)> = doc
            .file
            .objectives
            .iter()
            .flat_map(|o| &o.key_results)
            .map(|kr| (kr.kr_id.clone(), kr.value_key(), kr.current))
            .collect();
        let file = doc.path.clone();
        for (kr_id, metric_key, old_current) in krs {
            let Some(&value) = values.get(&metric_key) else {
                continue;
            };
            let mut fields: Vec<(&str, Value)> = Vec::new();
            if old_current != Some(value) {
                fields.push(("current", number(value)));
                fields.push(("last_updated", Value::String(measured_at.to_string())));
            }
            let change = status_changes.get(kr_id.as_str());
            if fields.is_empty() && change.is_none() {
                continue;
            }
            let kr = doc
                .kr_value_mut(&kr_id)
                .ok_or_else(|| anyhow!("{file}: {kr_id} vanished while measuring"))?;
            if let Some(change) = change {
                fields.push(("status", Value::String(change.to.to_string())));
                let mut evidence = match kr.get("evidence") {
                    Some(Value::Sequence(items)) => items.clone(),
                    _ => Vec::new(),
                };
                evidence.push(Value::String(evidence_of(&metric_key)));
                fields.push(("evidence", Value::Sequence(evidence)));
            }
            for (field, value) in fields {
                kr.insert(field.into(), value.clone());
                edits.entry(file.clone()).or_default().push(Change::Set {
                    id: kr_id.clone(),
                    field: field.to_string(),
                    value,
                });
            }
        }
    }
    Ok(edits)
}

/// A YAML number as people write it: integers without `.0`.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::Number((v as i64).into())
    } else {
        Value::Number(v.into())
    }
}

fn measure_message(ctx: &Ctx, a: &Assessment, snapshot: &str) -> crate::store::CommitMessage {
    let n = a.changes.len();
    let subject = match n {
        0 => "okr: measure (no status change)".to_string(),
        1 => "okr: measure (1 status change)".to_string(),
        n => format!("okr: measure ({n} status changes)"),
    };
    let mut body: Vec<String> = a.changes.iter().map(|c| c.describe()).collect();
    body.extend(a.regressions.iter().map(|(kr, cur, target)| {
        format!("regression: {kr} {}/{}", fmt_num(*cur), fmt_num(*target))
    }));
    let mut msg = ctx
        .message(subject, "measure")
        .body(body.join("\n"))
        .trailer("Okr-Snapshot", snapshot);
    for c in &a.changes {
        msg = msg
            .trailer("Okr-KR", &c.kr_id)
            .trailer("Okr-Status", c.describe());
    }
    for (kr, cur, target) in &a.regressions {
        msg = msg.trailer(
            "Okr-Regression",
            format!("{kr} {}/{}", fmt_num(*cur), fmt_num(*target)),
        );
    }
    msg
}

fn print_measured(m: &Measured, json: bool, hook: bool) -> Result<()> {
    let a = &m.assessment;
    // A backfill's statuses are the day's, in its snapshot; no KR's status moved.
    let changes: &[crate::measure::StatusChange] = if m.backfill { &[] } else { &a.changes };
    if json {
        let out = serde_json::json!({
            "committed": m.unchanged_since.is_none(),
            "snapshot": m.unchanged_since.as_deref().unwrap_or(&m.snapshot_path),
            "backfill": m.backfill,
            "status_changes": changes.iter().map(|c| serde_json::json!({
                "kr_id": c.kr_id, "from": c.from, "to": c.to, "current": c.current, "target": c.target})).collect::<Vec<_>>(),
            "regressions": a.regressions.iter().map(|(k, c, t)| serde_json::json!({"kr_id": k, "current": c, "target": t})).collect::<Vec<_>>(),
            "no_value": a.missing.iter().map(|(k, m)| serde_json::json!({"kr_id": k, "metric_key": m})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for c in changes {
        println!("Status updated: {}", c.describe());
    }
    if hook {
        return Ok(()); // a hook speaks only of status changes
    }
    for (kr, cur, target) in &a.regressions {
        println!(
            "Regression: {kr} is achieved but measures {}/{}",
            fmt_num(*cur),
            fmt_num(*target)
        );
    }
    for (kr, key) in &a.missing {
        println!("No value: {kr} (metric {key}); status unchanged");
    }
    match &m.unchanged_since {
        Some(last) => println!("No change since {last}; nothing committed"),
        None if m.backfill => println!(
            "Wrote snapshot: {} (backfill: KR statuses left as they are)",
            m.snapshot_path
        ),
        None => println!("Wrote snapshot: {}", m.snapshot_path),
    }
    Ok(())
}

/// The snapshot `--snapshot` names — a day, a state path, or a file on disk — else the latest.
fn chosen_snapshot(
    snap: &Snapshot<'_>,
    given: Option<&str>,
) -> Result<Option<(String, MetricSnapshot)>> {
    let Some(given) = given else {
        return latest_snapshot(snap);
    };
    let state_path = if chrono::NaiveDate::parse_from_str(given, "%Y-%m-%d").is_ok() {
        snapshot_path(given)
    } else {
        given.trim_start_matches("./").to_string()
    };
    let (shown, text) = match snap.read_text(&state_path)? {
        Some(text) => (state_path, text),
        None => {
            let file = std::path::Path::new(given);
            if !file.is_file() {
                bail!("--snapshot {given}: no such snapshot on refs/okr/state ({state_path}) nor file");
            }
            let text =
                std::fs::read_to_string(file).map_err(|e| anyhow!("--snapshot {given}: {e}"))?;
            (given.to_string(), text)
        }
    };
    let parsed: MetricSnapshot =
        serde_json::from_str(&text).map_err(|e| anyhow!("{shown}:{}: {e}", e.line()))?;
    Ok(Some((shown, parsed)))
}

/// The commit a measurement looks at: `--rev` (else HEAD), or for a backdated one its
/// last commit on its first-parent line by the end of that day.
fn measured_commit(
    ctx: &Ctx,
    rev: Option<&str>,
    as_of: &crate::measure::AsOf,
) -> Result<Option<String>> {
    let tip = resolve_commit(ctx, rev)?;
    match (tip, as_of.backdated) {
        (Some(tip), true) => {
            let id = gix::ObjectId::from_hex(tip.as_bytes())?;
            Ok(ctx
                .store
                .first_parent_at_or_before(id, as_of.at.timestamp())?
                .map(|id| id.to_string()))
        }
        (tip, _) => Ok(tip),
    }
}

/// The commit a measurement looks at: `--rev`, else HEAD (none in an empty repository).
fn resolve_commit(ctx: &Ctx, rev: Option<&str>) -> Result<Option<String>> {
    let repo = ctx.store.repo();
    match rev {
        Some(rev) => {
            let id = repo
                .rev_parse_single(rev)
                .map_err(|e| anyhow!("--rev {rev}: {}", crate::store::gix_error(e)))?;
            Ok(Some(id.to_string()))
        }
        None => Ok(repo.head_id().ok().map(|id| id.to_string())),
    }
}

/// What `--ci-report` and `--manual` bring to record with a measurement, read and
/// checked before anything is written.
struct Recorded {
    /// The ci_report.json to write (ours, rendered from the given report).
    ci_report: Option<String>,
    manual: Option<ManualMetrics>,
    /// When they were recorded (RFC 3339).
    at: String,
}

impl Recorded {
    fn read(
        args: &MeasureArgs,
        now: chrono::DateTime<chrono::Utc>,
        head: Option<String>,
    ) -> Result<Recorded> {
        let read = |file: &std::path::Path| -> Result<(String, String)> {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|e| anyhow!("{shown}: {e}"))?;
            Ok((shown, text))
        };
        let ci_report = match &args.ci_report {
            Some(file) => {
                let (shown, text) = read(file)?;
                let mut builder = crate::metrics::ci::ReportBuilder::new();
                builder.json(&shown, &text)?;
                Some(builder.finish(now, head).to_json())
            }
            None => None,
        };
        let manual = match &args.manual {
            Some(file) => {
                let (shown, text) = read(file)?;
                Some(ManualMetrics::parse(&shown, &text)?)
            }
            None => None,
        };
        Ok(Recorded {
            ci_report,
            manual,
            at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// Manual metrics as points; `recorded_at` (RFC 3339) stands in for a missing timestamp.
fn manual_points_of(manual: ManualMetrics, recorded_at: &str) -> Vec<MetricPoint> {
    let recorded_at = recorded_at.to_string();
    manual
        .metrics
        .into_iter()
        .map(|m| MetricPoint {
            key: m.key,
            value: m.value,
            unit: m.unit,
            // A value without its own time was recorded no later than the state holding it.
            timestamp: m.timestamp.unwrap_or_else(|| recorded_at.clone()),
            source: "manual".into(),
            evidence: m.evidence,
            dimensions: m.dimensions,
        })
        .collect()
}

pub fn score(ctx: &Ctx, args: ScoreArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let all = load_okrs(&snap)?;
    let cycles = crate::ctx::load_cycles(&snap)?;
    crate::rhythm::check_objective_cycles(&all, &cycles)?;
    let view = crate::rhythm::View::choose(
        &cycles,
        args.cycle.as_deref(),
        chrono::Local::now().date_naive(),
    )?;
    let set = view.okrs(&all);
    let chosen = chosen_snapshot(&snap, args.snapshot.as_deref())?;
    let values = match (&chosen, &args.snapshot) {
        (Some((_, s)), _) => s.values(),
        (None, _) => latest_values(&snap)?,
    };
    let mut scopes = by_scope(&set, &values);
    let checkins = crate::ctx::load_checkins(&snap)?;
    crate::rhythm::annotate(&mut scopes, &crate::rhythm::by_kr(&checkins));
    if let Some(file) = &args.output {
        let (path, snapshot) = chosen
            .as_ref()
            .ok_or_else(|| anyhow!("no snapshot to score yet: run `git okr kr measure` first"))?;
        let report = crate::score::okrchestra_report(&set, snapshot, path);
        std::fs::write(file, serde_json::to_string_pretty(&report)? + "\n")
            .map_err(|e| anyhow!("writing {}: {e}", file.display()))?;
        if !args.json {
            println!(
                "Wrote score report: {} (as of {})",
                file.display(),
                report.as_of
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scopes)?);
        return Ok(());
    }
    let mut rows = vec![vec![
        "KR".to_string(),
        "CURRENT".into(),
        "TARGET".into(),
        "SCORE".into(),
        "STATUS".into(),
    ]];
    let mut grades = vec![None];
    for scope in &scopes {
        for o in &scope.objectives {
            for k in &o.key_results {
                rows.push(vec![
                    format!("  {}", k.kr_id),
                    k.current.map(fmt_num).unwrap_or_else(|| "-".into()),
                    fmt_num(k.target),
                    format!("{:.2}", k.score),
                    k.status.to_string(),
                ]);
                grades.push(Some(k.score));
            }
            rows.push(vec![
                format!("{} {}", o.objective_id, o.objective),
                String::new(),
                String::new(),
                format!("{:.2}", o.score),
                String::new(),
            ]);
            grades.push(Some(o.score));
        }
        rows.push(vec![
            format!("scope {}", scope.scope),
            String::new(),
            String::new(),
            format!("{:.2}", scope.score),
            String::new(),
        ]);
        grades.push(Some(scope.score));
    }
    for (line, grade) in table(&rows).into_iter().zip(grades) {
        match grade {
            Some(score) => anstream::println!("{}", paint_grade(&line, score)),
            None => println!("{line}"),
        }
    }
    Ok(())
}
