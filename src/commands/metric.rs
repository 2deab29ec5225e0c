//! `git okr metric set`: the simplest write.

use crate::cli::MetricSetArgs;
use crate::ctx::Ctx;
use crate::ctx::{load_manual, require_initialized};
use crate::model::fmt_num;
use crate::model::manual::{validate_key, ManualMetric, MANUAL_FILE};
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
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        let mut manual = load_manual(snap)?;
        // A new value without --unit keeps the unit the metric already has.
        let unit = args
            .unit
            .clone()
            .or_else(|| manual.get(&args.key).and_then(|m| m.unit.clone()));
        manual.upsert(ManualMetric {
            key: args.key.clone(),
            value,
            unit,
            evidence: args.evidence.clone(),
            timestamp: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            source: Some(ctx.actor.id()),
            dimensions: Default::default(),
        });
        let mut changes = Changes::new();
        changes.write(MANUAL_FILE, manual.render()?);
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
