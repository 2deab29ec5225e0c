//! `git okr kr measure` and `git okr kr score`.

use super::output::{paint_grade, table};
use crate::cli::{MeasureArgs, ScoreArgs};
use crate::ctx::Ctx;
use crate::ctx::{load_definitions, load_manual, load_okrs, require_initialized};
use crate::measure::{
    assess, latest_snapshot, latest_values, merge_points, same_measurement, Assessment,
    StatusChange,
};
use crate::model::fmt_num;
use crate::model::okrs::OkrSet;
use crate::model::proposal::Change;
use crate::model::snapshot::{snapshot_path, MetricPoint, Snapshot};
use crate::score::score;
use crate::store::{Changes, Commit, Snapshot as StateView, Step};
use anyhow::{anyhow, Result};
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap};

/// What a measurement did, for printing after the transaction.
#[derive(Default)]
struct Measured {
    assessment: Assessment,
    snapshot_path: String,
    /// Set when nothing changed since this earlier snapshot.
    unchanged_since: Option<String>,
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
    let as_of = chrono::Local::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let measured_commit = resolve_commit(ctx, args.rev.as_deref())?;
    // Expensive, and a function of the repository rather than of the state: collected once,
    // outside the transaction that may re-run.
    let defs = load_definitions(&start)?;
    let repo_points = crate::metrics::git::points(&ctx.store, &defs, args.rev.as_deref(), now)?;
    let outcome = ctx.store.transact(|snap| {
        let mut set = load_okrs(snap)?;
        let mut points = repo_points.clone();
        points.extend(crate::metrics::ci::points(
            snap,
            &load_definitions(snap)?,
            now,
        )?);
        points.extend(manual_points(snap)?);
        let points = merge_points(points);
        let values: BTreeMap<String, f64> =
            points.iter().map(|p| (p.key.clone(), p.value)).collect();
        let assessment = assess(&set, &values);
        let path = snapshot_path(&as_of);
        let snapshot = Snapshot {
            schema_version: 1,
            as_of: as_of.clone(),
            measured_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            commit: measured_commit.clone(),
            points,
            key_results: assessment.key_results.clone(),
        };
        if let Some((last_path, last)) = latest_snapshot(snap)? {
            if assessment.changes.is_empty() && same_measurement(&last, &snapshot) {
                return Ok(Step::Nothing(Measured {
                    assessment,
                    snapshot_path: path,
                    unchanged_since: Some(last_path),
                }));
            }
        }
        let sources: HashMap<&str, &str> = snapshot
            .points
            .iter()
            .map(|p| (p.key.as_str(), p.source.as_str()))
            .collect();
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
        let mut changes = Changes::new();
        // Edit the lines that changed when the layout allows, so people's comments survive.
        let edited = |doc: &crate::model::okrs::OkrDoc| {
            edits
                .get(&doc.path)
                .and_then(|e| crate::proposal::edited_text(&doc.text, e, true, doc.value()))
        };
        for (file, text) in set.changed_texts(edited)? {
            changes.write(file, text);
        }
        changes.write(
            path.clone(),
            serde_json::to_string_pretty(&snapshot)? + "\n",
        );
        let message = measure_message(ctx, &assessment, &path);
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: Measured {
                assessment,
                snapshot_path: path,
                unchanged_since: None,
            },
        }))
    })?;
    print_measured(outcome.value(), args.json, args.hook)
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
            .map(|kr| (kr.kr_id.clone(), kr.metric_key.clone(), kr.current))
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
    if json {
        let out = serde_json::json!({
            "committed": m.unchanged_since.is_none(),
            "snapshot": m.unchanged_since.as_deref().unwrap_or(&m.snapshot_path),
            "status_changes": a.changes.iter().map(|c| serde_json::json!({
                "kr_id": c.kr_id, "from": c.from, "to": c.to, "current": c.current, "target": c.target})).collect::<Vec<_>>(),
            "regressions": a.regressions.iter().map(|(k, c, t)| serde_json::json!({"kr_id": k, "current": c, "target": t})).collect::<Vec<_>>(),
            "no_value": a.missing.iter().map(|(k, m)| serde_json::json!({"kr_id": k, "metric_key": m})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for c in &a.changes {
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
        None => println!("Wrote snapshot: {}", m.snapshot_path),
    }
    Ok(())
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

/// Manual metrics as points.
pub fn manual_points(snap: &StateView<'_>) -> Result<Vec<MetricPoint>> {
    Ok(load_manual(snap)?
        .metrics
        .into_iter()
        .map(|m| MetricPoint {
            key: m.key,
            value: m.value,
            unit: m.unit,
            timestamp: m.timestamp.unwrap_or_default(),
            source: "manual".into(),
            evidence: m.evidence,
            dimensions: Default::default(),
        })
        .collect())
}

pub fn score_cmd(ctx: &Ctx, args: ScoreArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let set = load_okrs(&snap)?;
    let scopes = score(&set, &latest_values(&snap)?);
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
            Some(score) => println!("{}", paint_grade(&line, score)),
            None => println!("{line}"),
        }
    }
    Ok(())
}
