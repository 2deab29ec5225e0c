//! `git okr metric set` (the simplest write) and `metric list`.

use crate::cli::{JsonArgs, MetricSetArgs};
use crate::ctx::Ctx;
use crate::ctx::{load_manual, require_initialized};
use crate::model::fmt_num;
use crate::model::manual::{validate_key, ManualMetric, ManualMetrics, MANUAL_FILE};
use crate::store::{Changes, Commit, Step};
use anyhow::{anyhow, Result};

pub fn set(ctx: &Ctx, args: MetricSetArgs) -> Result<()> {
    validate_key(&args.key)?;
    let value: f64 = args
        .value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| anyhow!("VALUE {:?} is not a number", args.value))?;
    let shown = format!(
        "{} = {}{}",
        args.key,
        fmt_num(value),
        args.unit
            .as_deref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default()
    );
    for (what, value) in args
        .unit
        .iter()
        .map(|u| ("--unit", u))
        .chain(args.evidence.iter().map(|e| ("--evidence", e)))
    {
        crate::model::ids::check_line(value).map_err(|e| anyhow!("{what} {e}"))?;
    }
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        let text = snap.read_text(MANUAL_FILE)?.unwrap_or_default();
        let (mut manual, tree) = ManualMetrics::parse_with_tree(MANUAL_FILE, &text)?;
        // A new value without --unit keeps the unit the metric already has.
        let unit = args
            .unit
            .clone()
            .or_else(|| manual.get(&args.key).and_then(|m| m.unit.clone()));
        let new_text = manual.upsert_in_text(
            &text,
            tree,
            ManualMetric {
                key: args.key.clone(),
                value,
                unit,
                evidence: args.evidence.clone(),
                timestamp: Some(
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                source: Some(ctx.actor.id()),
                dimensions: Default::default(),
            },
        )?;
        let mut changes = Changes::new();
        changes.write(MANUAL_FILE, new_text);
        let message = ctx
            .message(format!("okr: metric set {shown}"), "metric-set")
            .trailer("Okr-Metric", &args.key)
            .trailer("Okr-Value", fmt_num(value));
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: (),
        }))
    })?;
    match outcome.commit_id() {
        Some(id) => println!("Set {shown} at {}", id.to_hex_with_len(7)),
        None => println!("{shown} is already recorded; nothing to commit"),
    }
    Ok(())
}

pub fn list(ctx: &Ctx, args: JsonArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let latest = crate::measure::latest_snapshot(&snap)?;
    let manual = load_manual(&snap)?;
    let rows = crate::metrics::current::current_metrics(latest.as_ref(), &manual, MANUAL_FILE);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("No metrics yet: run `git okr kr measure` or `git okr metric set KEY VALUE`");
        return Ok(());
    }
    let mut table = vec![["KEY", "VALUE", "UNIT", "SOURCE", "WHEN"]
        .map(String::from)
        .to_vec()];
    table.extend(rows.iter().map(|r| {
        vec![
            r.key.clone(),
            fmt_num(r.value),
            r.unit.clone().unwrap_or_default(),
            r.source.clone(),
            r.when.clone().unwrap_or_else(|| "-".into()),
        ]
    }));
    for line in super::output::table(&table) {
        println!("{line}");
    }
    Ok(())
}
