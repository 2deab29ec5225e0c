//! `git okr status`: the overview a person looks at first.

use super::output::paint_grade;
use crate::cli::StatusArgs;
use crate::ctx::Ctx;
use crate::ctx::{load_okrs, require_initialized};
use crate::measure::latest_snapshot;
use crate::measure::{is_regression, reached};
use crate::model::fmt_num;
use crate::model::okrs::Status;
use crate::score::by_scope;
use anyhow::Result;

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    if !snap.is_initialized() {
        if let Some((remote, url)) = crate::sync::unpulled_remote_state(&ctx.store)? {
            anyhow::bail!(
                "refs/okr/state does not exist here yet, but {} ({url}) has it: run `git okr pull`",
                remote.name
            );
        }
    }
    require_initialized(&snap)?;
    let all = load_okrs(&snap)?;
    let cycles = crate::ctx::load_cycles(&snap)?;
    crate::rhythm::check_objective_cycles(&all, &cycles)?;
    let now = chrono::Utc::now();
    let view = crate::rhythm::View::choose(
        &cycles,
        args.cycle.as_deref(),
        chrono::Local::now().date_naive(),
    )?;
    let set = view.okrs(&all);
    let checkins = crate::ctx::load_checkins(&snap)?;
    let by_kr = crate::rhythm::by_kr(&checkins);
    // The newest snapshot is read once: it gives the values and the "last measured" line.
    let last = latest_snapshot(&snap)?;
    let values = last.as_ref().map(|(_, s)| s.values()).unwrap_or_default();
    let mut scopes = by_scope(&set, &values);
    crate::rhythm::annotate(&mut scopes, &by_kr);
    let mut attention = attention(&set, &values);
    attention.extend(
        crate::rhythm::quiet_krs(&set, &cycles, &by_kr, now)
            .into_iter()
            .map(|q| Attention {
                kr_id: Some(q.kr_id.clone()),
                metric_key: Some(q.metric_key.clone()),
                target: Some(q.target),
                days: Some(q.days),
                since: q.last.clone(),
                command: Some(format!("git okr kr checkin {} --confidence N", q.kr_id)),
                ..Attention::new("stale", q.describe())
            }),
    );
    let forecasts = crate::report::recent_forecasts(&snap, &set)?;
    attention.extend(
        forecasts
            .iter()
            .filter(|(_, f)| f.likely_to_miss)
            .map(|(kr, f)| Attention {
                kr_id: Some(kr.clone()),
                value: Some(f.projected),
                target: Some(f.target),
                due: Some(f.due.to_string()),
                ..Attention::new("likely_to_miss", f.describe(kr))
            }),
    );
    attention.extend(waiting_proposals(&snap)?);
    if args.json {
        let out = serde_json::json!({
            "state": snap.tip().map(|t| t.to_string()),
            "cycle": view.cycle().map(|c| serde_json::json!({"id": c.id, "start": c.start.to_string(), "end": c.end.to_string()})),
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
    match view.cycle() {
        Some(c) => {
            let left = (c.end - now.date_naive()).num_days();
            let when = match left {
                l if l < 0 => "ended".to_string(),
                0 => "last day".to_string(),
                l => format!("{l} days left"),
            };
            println!("Cycle {} ({} to {}, {when})", c.id, c.start, c.end);
        }
        None => println!("All cycles"),
    }
    for scope in &scopes {
        println!();
        anstream::println!(
            "{}",
            paint_grade(&format!("{} {:.2}", scope.scope, scope.score), scope.score)
        );
        for o in &scope.objectives {
            anstream::println!(
                "{}",
                paint_grade(
                    &format!("  {} {}  {:.2}", o.objective_id, o.objective, o.score),
                    o.score
                )
            );
            for k in &o.key_results {
                let current = k.current.map(fmt_num).unwrap_or_else(|| "-".into());
                let confidence = k
                    .confidence
                    .map(|c| format!("  confidence {}", fmt_num(c)))
                    .unwrap_or_default();
                println!(
                    "    {:<10} {:<12} {}/{}  {:.2}  {}{confidence}",
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
        for item in &attention {
            println!("  {}", item.message);
        }
    }
    Ok(())
}

/// Something a person should look at, as `status --json` gives it: `kind` says what
/// (blocked, at_risk, regressed, no_value, reached, likely_to_miss, stale, proposals_proposed,
/// proposals_approved), `message` is the line `status` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Attention {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kr_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    /// `stale`: whole days without a check-in or measured change, and the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// The command that helps, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    pub(super) message: String,
}

impl Attention {
    fn new(kind: &'static str, message: String) -> Attention {
        Attention {
            kind,
            kr_id: None,
            metric_key: None,
            value: None,
            target: None,
            due: None,
            count: None,
            days: None,
            since: None,
            command: None,
            message,
        }
    }

    fn about_kr(
        kind: &'static str,
        kr: &crate::model::okrs::KeyResult,
        message: String,
    ) -> Attention {
        Attention {
            kr_id: Some(kr.kr_id.clone()),
            metric_key: Some(kr.metric_key.clone()),
            target: Some(kr.target),
            ..Attention::new(kind, message)
        }
    }
}

/// KRs a person should look at: blocked, at risk, regressed, or without a value.
pub(super) fn attention(
    set: &crate::model::okrs::OkrSet,
    values: &std::collections::BTreeMap<String, f64>,
) -> Vec<Attention> {
    let mut out = Vec::new();
    for k in set.krs() {
        let kr = k.kr;
        let value = values.get(&kr.value_key()).copied().or(kr.current);
        let item = match (kr.status, value) {
            (Status::Blocked, _) => {
                Attention::about_kr("blocked", kr, format!("{} is {}", kr.kr_id, kr.status))
            }
            (Status::AtRisk, _) => {
                Attention::about_kr("at_risk", kr, format!("{} is {}", kr.kr_id, kr.status))
            }
            (_, None) => Attention::about_kr(
                "no_value",
                kr,
                format!("{} has no value for {}", kr.kr_id, kr.metric_key),
            ),
            (_, Some(v)) if is_regression(kr, v) => Attention {
                value: Some(v),
                ..Attention::about_kr(
                    "regressed",
                    kr,
                    format!(
                        "{} regressed: {}/{}",
                        kr.kr_id,
                        fmt_num(v),
                        fmt_num(kr.target)
                    ),
                )
            },
            (Status::NotStarted | Status::InProgress, Some(v)) if reached(kr, v) => Attention {
                value: Some(v),
                command: Some("git okr kr measure".into()),
                ..Attention::about_kr(
                    "reached",
                    kr,
                    format!("{} reached its target; run `git okr kr measure`", kr.kr_id),
                )
            },
            _ => continue,
        };
        out.push(item);
    }
    out
}

/// Proposals a person still has to act on.
pub(super) fn waiting_proposals(snap: &crate::store::Snapshot<'_>) -> Result<Vec<Attention>> {
    use crate::model::proposal::ProposalStatus;
    let (mut proposed, mut approved) = (0, 0);
    // Statuses come from history, never from what a proposal file says of itself.
    let history = crate::proposal::history::derive(snap.store(), snap.tip())?;
    let present = super::proposals::proposal_ids(snap)?;
    for life in present.iter().filter_map(|id| history.lifecycles.get(id)) {
        match life.status() {
            ProposalStatus::Proposed => proposed += 1,
            ProposalStatus::Approved => approved += 1,
            _ => {}
        }
    }
    let mut out = Vec::new();
    if proposed > 0 {
        let command = "git okr okr list --status proposed";
        out.push(Attention {
            count: Some(proposed),
            command: Some(command.into()),
            ..Attention::new(
                "proposals_proposed",
                format!("{proposed} proposal(s) wait for review: {command}"),
            )
        });
    }
    if approved > 0 {
        let command = "git okr okr list --status approved";
        out.push(Attention {
            count: Some(approved),
            command: Some(command.into()),
            ..Attention::new(
                "proposals_approved",
                format!("{approved} approved proposal(s) not applied yet: {command}"),
            )
        });
    }
    Ok(out)
}
