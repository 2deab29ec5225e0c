//! `git okr status`: the overview a person looks at first.

use super::output::paint_grade;
use crate::cli::StatusArgs;
use crate::ctx::Ctx;
use crate::ctx::{load_okrs, require_initialized};
use crate::measure::latest_snapshot;
use crate::measure::{is_regression, reached};
use crate::model::fmt_num;
use crate::model::okrs::Status;
use crate::score::score;
use anyhow::Result;

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let set = load_okrs(&snap)?;
    // The newest snapshot is read once: it gives the values and the "last measured" line.
    let last = latest_snapshot(&snap)?;
    let values = last.as_ref().map(|(_, s)| s.values()).unwrap_or_default();
    let scopes = score(&set, &values);
    let mut attention = attention(&set, &values);
    let forecasts = crate::report::recent_forecasts(&snap, &set)?;
    attention.extend(
        forecasts
            .iter()
            .filter(|(_, f)| f.likely_to_miss)
            .map(|(kr, f)| f.describe(kr)),
    );
    attention.extend(waiting_proposals(&snap)?);
    if args.json {
        let out = serde_json::json!({
            "state": snap.tip().map(|t| t.to_string()),
            "last_snapshot": last.as_ref().map(|(p, s)| serde_json::json!({"path": p, "measured_at": s.measured_at})),
            "scopes": scopes,
            "attention": attention,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let tip = snap
        .tip()
        .map(|t| t.to_hex_with_len(7).to_string())
        .unwrap_or_default();
    match &last {
        Some((path, s)) => println!(
            "refs/okr/state at {tip}; last measured {} ({path})",
            s.measured_at
        ),
        None => println!("refs/okr/state at {tip}; never measured (run `git okr kr measure`)"),
    }
    for scope in &scopes {
        println!();
        println!(
            "{}",
            paint_grade(&format!("{} {:.2}", scope.scope, scope.score), scope.score)
        );
        for o in &scope.objectives {
            println!(
                "{}",
                paint_grade(
                    &format!("  {} {}  {:.2}", o.objective_id, o.objective, o.score),
                    o.score
                )
            );
            for k in &o.key_results {
                let current = k.current.map(fmt_num).unwrap_or_else(|| "-".into());
                println!(
                    "    {:<10} {:<12} {}/{}  {:.2}  {}",
                    k.kr_id,
                    k.status.as_str(),
                    current,
                    fmt_num(k.target),
                    k.score,
                    k.metric_key
                );
            }
        }
    }
    if !attention.is_empty() {
        println!();
        println!("Needs attention:");
        for line in &attention {
            println!("  {line}");
        }
    }
    Ok(())
}

/// KRs a person should look at: blocked, at risk, regressed, or without a value.
pub(super) fn attention(
    set: &crate::model::okrs::OkrSet,
    values: &std::collections::BTreeMap<String, f64>,
) -> Vec<String> {
    let mut out = Vec::new();
    for k in set.krs() {
        let kr = k.kr;
        let value = values.get(&kr.value_key()).copied().or(kr.current);
        match (kr.status, value) {
            (Status::Blocked | Status::AtRisk, _) => {
                out.push(format!("{} is {}", kr.kr_id, kr.status))
            }
            (_, None) => out.push(format!("{} has no value for {}", kr.kr_id, kr.metric_key)),
            (_, Some(v)) if is_regression(kr, v) => out.push(format!(
                "{} regressed: {}/{}",
                kr.kr_id,
                fmt_num(v),
                fmt_num(kr.target)
            )),
            (Status::NotStarted | Status::InProgress, Some(v)) if reached(kr, v) => out.push(
                format!("{} reached its target; run `git okr kr measure`", kr.kr_id),
            ),
            _ => {}
        }
    }
    out
}

/// Proposals a person still has to act on.
pub(super) fn waiting_proposals(snap: &crate::store::Snapshot<'_>) -> Result<Vec<String>> {
    use crate::model::proposal::ProposalStatus;
    let (mut proposed, mut approved) = (0, 0);
    for id in super::proposals::proposal_ids(snap)? {
        match super::proposals::load(snap, &id)?.status() {
            ProposalStatus::Proposed => proposed += 1,
            ProposalStatus::Approved => approved += 1,
            _ => {}
        }
    }
    let mut out = Vec::new();
    if proposed > 0 {
        out.push(format!(
            "{proposed} proposal(s) wait for review: git okr okr list --status proposed"
        ));
    }
    if approved > 0 {
        out.push(format!(
            "{approved} approved proposal(s) not applied yet: git okr okr list --status approved"
        ));
    }
    Ok(out)
}
