//! `git okr kr checkin` and `git okr cycle list|close|start`: the OKR rhythm.

use super::output::table;
use crate::cli::{CheckinArgs, CycleCloseArgs, CycleCommand, CycleStartArgs, JsonArgs, StaleArgs};
use crate::ctx::{
    load_checkins, load_cycles, load_grades, load_manual, load_okrs, require_initialized, Ctx,
};
use crate::model::checkin::{check_confidence, checkin_path, Checkin};
use crate::model::cycles::{check_cycle_id, with_cycle_added, Cycle, CYCLES_FILE};
use crate::model::fmt_num;
use crate::model::grades::{grades_path, Grades};
use crate::model::ids::{check_line, MAX_LINE_LEN};
use crate::model::manual::{ManualMetric, MANUAL_FILE};
use crate::model::okrs::Status;
use crate::model::proposal::Change;
use crate::rhythm::{self, Closing};
use crate::store::{Changes, Commit, Snapshot, Step};
use anyhow::{anyhow, bail, Result};
use chrono::{NaiveDate, SecondsFormat, Utc};
use serde_yaml::Value;

pub fn run(ctx: &Ctx, cmd: CycleCommand) -> Result<()> {
    match cmd {
        CycleCommand::List(args) => list(ctx, args),
        CycleCommand::Close(args) => close(ctx, args),
        CycleCommand::Start(args) => start(ctx, args),
    }
}

/// What `kr checkin` was asked to record, checked before the state is read.
struct Asked {
    kr_id: String,
    confidence: f64,
    note: Option<String>,
    value: Option<f64>,
    status: Option<Status>,
}

impl Asked {
    fn of(args: &CheckinArgs) -> Result<Asked> {
        let confidence: f64 = args.confidence.trim().parse().map_err(|_| {
            anyhow!(
                "--confidence {:?} is not a number from 0 to 1",
                args.confidence
            )
        })?;
        check_confidence(confidence).map_err(|e| anyhow!("--confidence {e}"))?;
        let note = args
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from);
        if let Some(n) = &note {
            check_line(n).map_err(|e| anyhow!("--note {e}"))?;
            if n.chars().count() > MAX_LINE_LEN {
                bail!("--note is longer than {MAX_LINE_LEN} characters");
            }
        }
        let value = match &args.value {
            Some(v) => Some(
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| anyhow!("--value {v:?} is not a number"))?,
            ),
            None => None,
        };
        let status = match &args.status {
            Some(s) => {
                Some(Status::parse(s).ok_or_else(|| anyhow!("--status {s:?} is not a status"))?)
            }
            None => None,
        };
        Ok(Asked {
            kr_id: args.kr.trim().to_string(),
            confidence,
            note,
            value,
            status,
        })
    }
}

/// What a check-in recorded, for printing.
struct CheckedIn {
    checkin: Checkin,
    path: String,
    previous: Option<f64>,
    status_change: Option<(Status, Status)>,
}

/// Metrics git-okr measures itself; a check-in does not override them.
fn is_measured(metric_key: &str) -> bool {
    metric_key.starts_with("git.") || metric_key.starts_with("ci.")
}

pub fn checkin(ctx: &Ctx, args: CheckinArgs) -> Result<()> {
    let asked = Asked::of(&args)?;
    let now = Utc::now();
    // Milliseconds, so two check-ins of the same second keep their order.
    let at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let suffix: u32 = rand::random();
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        let mut set = load_okrs(snap)?;
        let cycles = load_cycles(snap)?;
        rhythm::check_objective_cycles(&set, &cycles)?;
        let k = set.find_kr(&asked.kr_id).ok_or_else(|| {
            anyhow!(
                "{} is not a key result in the OKR files (okrs/*.yml)",
                asked.kr_id
            )
        })?;
        let cycle = k.objective.cycle.clone();
        if let Some(c) = &cycle {
            if load_grades(snap, c)?.is_some() {
                bail!(
                    "{} belongs to cycle {c}, which is closed ({}): a closed cycle takes no check-ins",
                    asked.kr_id,
                    grades_path(c)
                );
            }
        }
        let (file, objective_id) = (k.doc.path.clone(), k.objective.objective_id.clone());
        let (metric_key, dimensions, old_status) =
            (k.kr.metric_key.clone(), k.kr.dimensions.clone(), k.kr.status);
        let previous = load_checkins(snap)?
            .iter()
            .rev()
            .find(|c| c.kr_id == asked.kr_id)
            .map(|c| c.confidence)
            .or(k.kr.confidence);
        let mut changes = Changes::new();
        let mut fields: Vec<(&str, Value)> = Vec::new();
        if let Some(v) = asked.value {
            if is_measured(&metric_key) {
                bail!(
                    "--value: {} is measured from {metric_key} by `git okr kr measure`; a check-in can only give values of manual metrics",
                    asked.kr_id
                );
            }
            let mut manual = load_manual(snap)?;
            let unit = manual.get(&metric_key).and_then(|m| m.unit.clone());
            manual.upsert(ManualMetric {
                key: metric_key.clone(),
                value: v,
                unit,
                evidence: vec![format!("check-in of {}", asked.kr_id)],
                timestamp: Some(at.clone()),
                source: Some(ctx.actor.id()),
                dimensions: dimensions.clone(),
            });
            changes.write(MANUAL_FILE, manual.render()?);
            fields.push(("current", number(v)));
            fields.push(("last_updated", Value::String(at.clone())));
        }
        let status_change = asked
            .status
            .filter(|s| *s != old_status)
            .map(|s| (old_status, s));
        if let Some((_, to)) = status_change {
            fields.push(("status", Value::String(to.as_str().into())));
        }
        if !fields.is_empty() {
            let doc = set.doc_mut(&file).expect("the KR's file is in the set");
            let kr = doc
                .kr_value_mut(&asked.kr_id)
                .ok_or_else(|| anyhow!("{file}: {} is not a mapping", asked.kr_id))?;
            let mut edits = Vec::new();
            for (field, value) in fields {
                kr.insert(field.into(), value.clone());
                edits.push(Change::Set {
                    id: asked.kr_id.clone(),
                    field: field.into(),
                    value,
                });
            }
            for (path, rendered) in set.rendered_changes()? {
                let doc = set
                    .docs
                    .iter()
                    .find(|d| d.path == path)
                    .expect("a changed file is in the set");
                let text = crate::proposal::edited_text(&doc.text, &edits, true, doc.value())
                    .unwrap_or(rendered);
                changes.write(path, text);
            }
        }
        let checkin = Checkin {
            schema_version: 1,
            kr_id: asked.kr_id.clone(),
            at: at.clone(),
            by: ctx.actor.id(),
            confidence: asked.confidence,
            note: asked.note.clone(),
            value: asked.value,
            status: asked.status,
            cycle,
        };
        let path = checkin_path(now, suffix);
        changes.write(path.clone(), checkin.render()?);
        let mut message = ctx
            .message(
                format!(
                    "okr: check-in {} confidence {}",
                    asked.kr_id,
                    fmt_num(asked.confidence)
                ),
                "checkin",
            )
            .body(asked.note.clone().unwrap_or_default())
            .trailer("Okr-KR", &asked.kr_id)
            .trailer("Okr-Objective", &objective_id)
            .trailer(
                "Okr-Checkin",
                format!("{} confidence {}", asked.kr_id, fmt_num(asked.confidence)),
            );
        if let Some(note) = &asked.note {
            message = message.trailer("Okr-Note", note);
        }
        if let Some(v) = asked.value {
            message = message
                .trailer("Okr-Metric", &metric_key)
                .trailer("Okr-Value", fmt_num(v));
        }
        if let Some((from, to)) = status_change {
            message = message.trailer("Okr-Status", format!("{} {from} -> {to}", asked.kr_id));
        }
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: CheckedIn {
                checkin,
                path,
                previous,
                status_change,
            },
        }))
    })?;
    let done = outcome.value();
    if args.json {
        let out = serde_json::json!({
            "path": done.path,
            "commit": outcome.commit_id().map(|c| c.to_string()),
            "checkin": done.checkin,
            "previous_confidence": done.previous,
            "status_change": done.status_change.map(|(f, t)| serde_json::json!({"from": f, "to": t})),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let c = &done.checkin;
    let was = done
        .previous
        .map(|p| format!(" (was {})", fmt_num(p)))
        .unwrap_or_default();
    let note = c
        .note
        .as_deref()
        .map(|n| format!(": {n}"))
        .unwrap_or_default();
    println!(
        "Checked in on {}: confidence {}{was}{note}",
        c.kr_id,
        fmt_num(c.confidence)
    );
    if let Some(v) = c.value {
        println!("Value: {}", fmt_num(v));
    }
    if let Some((from, to)) = done.status_change {
        println!("Status: {from} -> {to}");
    }
    let commit = outcome
        .commit_id()
        .map(|c| c.to_hex_with_len(7).to_string())
        .unwrap_or_default();
    println!("Wrote {} at {commit}", done.path);
    Ok(())
}

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::Number((v as i64).into())
    } else {
        Value::Number(v.into())
    }
}

/// `kr stale`: the KRs nobody checked in on or measured for too long, by owner. The
/// daemon's `checkin_reminder` job runs it and notifies each owner.
pub fn stale(ctx: &Ctx, args: StaleArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let all = load_okrs(&snap)?;
    let cycles = load_cycles(&snap)?;
    rhythm::check_objective_cycles(&all, &cycles)?;
    let view = rhythm::View::choose(
        &cycles,
        args.cycle.as_deref(),
        chrono::Local::now().date_naive(),
    )?;
    let set = view.okrs(&all);
    let checkins = load_checkins(&snap)?;
    let quiet = rhythm::quiet_krs(&set, &cycles, &rhythm::by_kr(&checkins), Utc::now());
    let reminders = rhythm::reminders(&set, quiet);
    if args.json {
        let out = serde_json::json!({
            "stale_after_days": cycles.stale_after_days,
            "owners": reminders.iter().map(|r| serde_json::json!({
                "owner": r.owner,
                "krs": r.krs.iter().map(|q| serde_json::json!({
                    "kr_id": q.kr_id, "days": q.days, "since": q.last, "message": q.describe(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if reminders.is_empty() {
        println!(
            "Every KR had a check-in or a measured change in the last {} days",
            cycles.stale_after_days
        );
        return Ok(());
    }
    for r in &reminders {
        println!("{}:", r.owner.as_deref().unwrap_or("(no owner)"));
        for q in &r.krs {
            println!("  {}", q.describe());
        }
    }
    Ok(())
}

/// One row of `cycle list`.
#[derive(serde::Serialize)]
struct CycleRow {
    id: String,
    start: String,
    end: String,
    /// Listed in okrs/cycles.yml (else a calendar quarter).
    listed: bool,
    current: bool,
    closed: bool,
    objectives: usize,
}

fn list(ctx: &Ctx, args: JsonArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let set = load_okrs(&snap)?;
    let cycles = load_cycles(&snap)?;
    rhythm::check_objective_cycles(&set, &cycles)?;
    let today = chrono::Local::now().date_naive();
    let current = cycles.containing(today);
    let mut all: Vec<Cycle> = cycles.listed.clone();
    let used = set.objectives().filter_map(|(_, o)| o.cycle.clone());
    for id in used.chain(std::iter::once(current.id.clone())) {
        if !all.iter().any(|c| c.id == id) {
            all.push(cycles.get(&id).expect("checked above"));
        }
    }
    all.sort_by_key(|c| (c.start, c.id.clone()));
    let mut rows = Vec::new();
    for c in all {
        rows.push(CycleRow {
            objectives: set
                .objectives()
                .filter(|(_, o)| o.cycle.as_deref() == Some(c.id.as_str()))
                .count(),
            closed: load_grades(&snap, &c.id)?.is_some(),
            current: c.id == current.id,
            start: c.start.to_string(),
            end: c.end.to_string(),
            listed: c.listed,
            id: c.id,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut lines = vec![["CYCLE", "START", "END", "OBJECTIVES", "STATE"]
        .map(String::from)
        .to_vec()];
    for r in &rows {
        let state = match (r.closed, r.current) {
            (true, _) => "closed",
            (false, true) => "current",
            _ => "",
        };
        lines.push(vec![
            r.id.clone(),
            r.start.clone(),
            r.end.clone(),
            r.objectives.to_string(),
            state.to_string(),
        ]);
    }
    for line in table(&lines) {
        println!("{line}");
    }
    Ok(())
}

/// The values a cycle is graded with: its last snapshot by its end (today's latest
/// while it runs).
fn values_for(
    snap: &Snapshot<'_>,
    cycle: &Cycle,
    today: NaiveDate,
) -> Result<(Option<String>, std::collections::BTreeMap<String, f64>)> {
    let found = if cycle.end < today {
        crate::measure::snapshot_on_or_before(snap, cycle.end)?
    } else {
        crate::measure::latest_snapshot(snap)?
    };
    Ok(match found {
        Some((path, s)) => (Some(path), s.values()),
        None => (None, Default::default()),
    })
}

fn close(ctx: &Ctx, args: CycleCloseArgs) -> Result<()> {
    let id = args.cycle.trim().to_string();
    check_cycle_id(&id).map_err(|e| anyhow!("cycle {e}"))?;
    let now = Utc::now();
    let today = chrono::Local::now().date_naive();
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        let set = load_okrs(snap)?;
        let cycles = load_cycles(snap)?;
        rhythm::check_objective_cycles(&set, &cycles)?;
        let cycle = cycles.require(&id)?;
        if let Some(done) = load_grades(snap, &id)? {
            if !args.reopen {
                bail!(
                    "cycle {id} is already closed ({}, by {} at {}); `git okr cycle close {id} --reopen` grades it again",
                    grades_path(&id),
                    done.closed_by,
                    done.closed_at
                );
            }
        }
        let (snapshot, values) = values_for(snap, &cycle, today)?;
        let checkins = load_checkins(snap)?;
        let by_kr = rhythm::by_kr(&checkins);
        let grades = rhythm::grade(
            &set,
            &Closing {
                cycle: &cycle,
                values: &values,
                checkins: &by_kr,
                snapshot,
                closed_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
                closed_by: ctx.actor.id(),
            },
        )?;
        let mut changes = Changes::new();
        changes.write(grades_path(&id), grades.render()?);
        let verb = if args.reopen { "regrade" } else { "close" };
        let mut message = ctx
            .message(
                format!(
                    "okr: {verb} cycle {id} ({} objectives graded)",
                    grades.objectives.len()
                ),
                "cycle-close",
            )
            .trailer("Okr-Cycle", &id)
            .trailer("Okr-File", grades_path(&id));
        for o in &grades.objectives {
            message = message.trailer("Okr-Objective", &o.objective_id).trailer(
                "Okr-Grade",
                format!("{} {:.2} {}", o.objective_id, o.grade, o.commitment.as_str()),
            );
            for k in &o.key_results {
                message = message
                    .trailer("Okr-KR", &k.kr_id)
                    .trailer("Okr-Grade", format!("{} {:.2}", k.kr_id, k.grade));
            }
        }
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: grades,
        }))
    })?;
    let grades = outcome.value();
    if args.json {
        println!("{}", serde_json::to_string_pretty(grades)?);
        return Ok(());
    }
    print_grades(grades);
    let commit = outcome
        .commit_id()
        .map(|c| c.to_hex_with_len(7).to_string())
        .unwrap_or_default();
    println!("Wrote {} at {commit}", grades_path(&grades.cycle));
    Ok(())
}

fn print_grades(g: &Grades) {
    println!("Cycle {} ({} to {}) graded:", g.cycle, g.start, g.end);
    let mut rows = vec![["", "GRADE", "EXPECTED", "VALUE", "TARGET", ""]
        .map(String::from)
        .to_vec()];
    for o in &g.objectives {
        rows.push(vec![
            format!("{} {}", o.objective_id, o.objective),
            format!("{:.2}", o.grade),
            format!("{:.1} {}", o.expected, o.commitment.as_str()),
            String::new(),
            String::new(),
            if o.on_target { "on target" } else { "below" }.into(),
        ]);
        for k in &o.key_results {
            rows.push(vec![
                format!("  {}", k.kr_id),
                format!("{:.2}", k.grade),
                String::new(),
                k.value.map(fmt_num).unwrap_or_else(|| "-".into()),
                fmt_num(k.target),
                k.status.to_string(),
            ]);
        }
    }
    for line in table(&rows) {
        println!("{line}");
    }
}

/// The cycle `cycle start` names: given dates, else a listed cycle or a quarter.
fn new_cycle(args: &CycleStartArgs, listed: &crate::model::cycles::Cycles) -> Result<Cycle> {
    let id = args.cycle.trim();
    check_cycle_id(id).map_err(|e| anyhow!("cycle {e}"))?;
    let day = |flag: &str, v: &str| {
        NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .map_err(|_| anyhow!("--{flag} {v:?} is not a date (YYYY-MM-DD)"))
    };
    match (&args.start, &args.end) {
        (Some(s), Some(e)) => {
            let (start, end) = (day("start", s)?, day("end", e)?);
            if end < start {
                bail!("--end {end} is before --start {start}");
            }
            if let Some(known) = listed.listed.iter().find(|c| c.id == id) {
                if (known.start, known.end) != (start, end) {
                    bail!(
                        "cycle {id} is already listed in {CYCLES_FILE} as {} to {}",
                        known.start,
                        known.end
                    );
                }
            }
            Ok(Cycle {
                id: id.to_string(),
                start,
                end,
                listed: true,
            })
        }
        _ => listed.get(id).ok_or_else(|| {
            anyhow!("cycle {id:?} is not a quarter (YYYY-Qn): give its --start and --end")
        }),
    }
}

fn start(ctx: &Ctx, args: CycleStartArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let cycles = load_cycles(&snap)?;
    let cycle = new_cycle(&args, &cycles)?;
    // What to carry is worked out before anything is written.
    let carry = if args.carry {
        let set = load_okrs(&snap)?;
        rhythm::check_objective_cycles(&set, &cycles)?;
        let from = match &args.from {
            Some(f) => cycles.require(f.trim())?,
            None => rhythm::previous_cycle(&cycles, &cycle)
                .ok_or_else(|| anyhow!("no cycle before {}", cycle.id))?,
        };
        if from.id == cycle.id {
            bail!("--from {}: a cycle cannot carry into itself", from.id);
        }
        let grades = load_grades(&snap, &from.id)?.ok_or_else(|| {
            anyhow!(
                "cycle {} is not closed yet: `git okr cycle close {}` grades it first (the carried KRs start from its closing values)",
                from.id,
                from.id
            )
        })?;
        let changes = rhythm::carry_changes(&set, &grades, &cycle)?;
        // The proposal must hold before a new cycle is written for it.
        let texts = crate::ctx::okr_texts(&snap)?.into_iter().collect();
        crate::proposal::effect(&texts, &changes)?;
        Some((from, changes))
    } else {
        None
    };
    if cycle.listed && !cycles.listed.iter().any(|c| c.id == cycle.id) {
        if let Some(other) = cycles.overlapping(&cycle) {
            bail!(
                "cycle {} ({} to {}) overlaps cycle {} ({} to {}) in {CYCLES_FILE}",
                cycle.id,
                cycle.start,
                cycle.end,
                other.id,
                other.start,
                other.end
            );
        }
        let outcome = ctx.store.transact(|snap| {
            let text = snap.read_text(CYCLES_FILE)?.unwrap_or_default();
            let new = with_cycle_added(&text, &cycle)?;
            // Checked as every reader will check it (a teammate may have added an overlapping one).
            crate::model::cycles::Cycles::parse(CYCLES_FILE, &new)?;
            let mut changes = Changes::new();
            changes.write(CYCLES_FILE, new);
            let message = ctx
                .message(
                    format!(
                        "okr: start cycle {} ({} to {})",
                        cycle.id, cycle.start, cycle.end
                    ),
                    "cycle-start",
                )
                .trailer("Okr-Cycle", &cycle.id)
                .trailer("Okr-File", CYCLES_FILE);
            Ok(Step::Commit(Commit {
                changes,
                message,
                value: (),
            }))
        })?;
        let commit = outcome
            .commit_id()
            .map(|c| c.to_hex_with_len(7).to_string())
            .unwrap_or_default();
        println!(
            "Started cycle {} ({} to {}) in {CYCLES_FILE} at {commit}",
            cycle.id, cycle.start, cycle.end
        );
    } else {
        println!(
            "Cycle {} runs {} to {}{}; objectives join it with `cycle: {}`",
            cycle.id,
            cycle.start,
            cycle.end,
            if cycle.listed {
                format!(" (listed in {CYCLES_FILE})")
            } else {
                " (a calendar quarter)".to_string()
            },
            cycle.id
        );
    }
    let Some((from, changes)) = carry else {
        return Ok(());
    };
    let reason = format!(
        "carry the unfinished key results of cycle {} into {}",
        from.id, cycle.id
    );
    let p = super::proposals::propose_changes(ctx, &changes, &reason)?;
    println!("Proposed {} ({})", p.id, p.summary());
    for change in &p.changes {
        if let Change::AddObjective { objective, .. } = change {
            let krs: Vec<&str> = objective
                .get("key_results")
                .and_then(Value::as_sequence)
                .map(|l| l.iter().filter_map(|k| k.get("kr_id")?.as_str()).collect())
                .unwrap_or_default();
            println!("  {change}: {}", krs.join(", "));
        } else {
            println!("  {change}");
        }
    }
    println!(
        "Review with `git okr okr show {}`; a person approves with `git okr okr approve {}` and applies with `git okr apply {}`",
        p.id, p.id, p.id
    );
    Ok(())
}
