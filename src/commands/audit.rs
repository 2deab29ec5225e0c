//! `git okr audit [filters]`, `git okr audit rebuild` and `git okr kr history KR`:
//! questions answered from the SQLite mirror, which follows the ref first.

use crate::audit::event::KNOWN_ACTIONS;
use crate::audit::query::{self, Filter, HistoryPoint};
use crate::audit::{self, Event};
use crate::cli::{AuditArgs, AuditCommand, KrHistoryArgs};
use crate::ctx::load_okrs;
use crate::ctx::Ctx;
use crate::model::fmt_num;
use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Local, NaiveDate, TimeZone};
use std::io::{BufWriter, Write};

pub fn audit(ctx: &Ctx, args: AuditArgs) -> Result<()> {
    // `--local` is `audit journal` (the daemon's runs, refusals, failed applies).
    let journal = match &args.command {
        Some(AuditCommand::Journal(j)) => Some((j.limit, j.json)),
        _ if args.local => Some((args.limit, args.json)),
        _ => None,
    };
    if let Some((limit, json)) = journal {
        let entries = audit::journal::entries(&ctx.store, limit)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&entries)?);
            return Ok(());
        }
        for e in entries {
            let when = Local
                .timestamp_opt(e.time, 0)
                .single()
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            println!(
                "{when}  {}  {} {} {}  {}",
                e.actor,
                e.outcome,
                e.action,
                e.subject.as_deref().unwrap_or("-"),
                e.message
            );
        }
        return Ok(());
    }
    if let Some(AuditCommand::Rebuild) = args.command {
        let r = audit::rebuild(&ctx.store)?;
        println!(
            "Rebuilt the audit mirror: {} commits, {} events, {} snapshot values in {:.2}s ({:.0} commits/s)",
            r.commits,
            r.events,
            r.values,
            r.elapsed.as_secs_f64(),
            r.commits_per_second()
        );
        return Ok(());
    }
    let filter = Filter {
        kr: args.kr.clone(),
        objective: args.objective.clone(),
        actor: args.actor.clone(),
        // OKRchestra's event names (`kr_measure_finished`, …) mean the actions they became.
        action: args.action.as_deref().map(|a| {
            audit::okrchestra::action_for_event(a)
                .map(str::to_string)
                .unwrap_or_else(|| a.to_string())
        }),
        since: args
            .since
            .as_deref()
            .map(|d| parse_date("since", d, false))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|d| parse_date("until", d, true))
            .transpose()?,
        limit: args.limit,
        full_messages: args.json,
    };
    let (events, actions, kr_known, objective_known) = audit::with_mirror(&ctx.store, |conn| {
        let events = query::events(conn, &filter)?;
        let actions = match &filter.action {
            Some(a) if !KNOWN_ACTIONS.contains(&a.as_str()) && events.is_empty() => {
                Some(query::recorded_actions(conn)?)
            }
            _ => None,
        };
        let kr_known = match &filter.kr {
            Some(kr) if events.is_empty() => query::kr_is_recorded(conn, kr)?,
            _ => true,
        };
        let objective_known = match &filter.objective {
            Some(o) if events.is_empty() => query::objective_is_recorded(conn, o)?,
            _ => true,
        };
        Ok((events, actions, kr_known, objective_known))
    })?;
    if let (Some(action), Some(recorded)) = (&filter.action, actions) {
        if !recorded.contains(action) {
            let mut valid: Vec<String> = KNOWN_ACTIONS
                .iter()
                .map(|a| a.to_string())
                .chain(recorded)
                .collect();
            valid.sort();
            valid.dedup();
            bail!(
                "unknown --action {action:?}; valid actions: {}",
                valid.join(", ")
            );
        }
    }
    if !kr_known || !objective_known {
        let okrs = load_okrs(&ctx.store.snapshot()?)?;
        if let Some(kr) = filter
            .kr
            .as_deref()
            .filter(|kr| !kr_known && okrs.find_kr(kr).is_none())
        {
            bail!("{kr} is not a key result in the current OKRs and refs/okr/state has no events about it");
        }
        if let Some(o) = filter
            .objective
            .as_deref()
            .filter(|o| !objective_known && okrs.find_objective(o).is_none())
        {
            bail!("{o} is not an objective in the current OKRs and refs/okr/state has no events about it");
        }
    }
    if args.json {
        let rows: Vec<serde_json::Value> = events.iter().map(event_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if events.is_empty() {
        println!("No audit events match.");
    } else {
        quiet_pipe(print_events(&events))?;
    }
    Ok(())
}

fn event_json(e: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(e).expect("events serialize");
    if let Some(map) = v.as_object_mut() {
        map.insert("date".into(), date_time(e.time).to_rfc3339().into());
    }
    v
}

/// A reader that went away (`| head`) is not an error.
fn quiet_pipe(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn print_events(events: &[Event]) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let actor_w = events
        .iter()
        .map(|e| e.actor.chars().count())
        .max()
        .unwrap_or(0);
    let action_w = events.iter().map(|e| e.action.len()).max().unwrap_or(0);
    for e in events {
        let summary = e.message.lines().next().unwrap_or("");
        writeln!(
            out,
            "{}  {}  {:actor_w$}  {:action_w$}  {}",
            date_time(e.time).format("%Y-%m-%d %H:%M"),
            &e.commit[..e.commit.len().min(7)],
            e.actor,
            e.action,
            summary
        )?;
    }
    out.flush()
}

pub fn kr_history(ctx: &Ctx, args: KrHistoryArgs) -> Result<()> {
    let kr = args.kr.trim().to_string();
    let (points, recorded) = audit::with_mirror(&ctx.store, |conn| {
        let points = query::kr_history(conn, &kr)?;
        let recorded = !points.is_empty() || query::kr_is_recorded(conn, &kr)?;
        Ok((points, recorded))
    })?;
    if !recorded && load_okrs(&ctx.store.snapshot()?)?.find_kr(&kr).is_none() {
        bail!(
            "{kr} is not a key result in the current OKRs and refs/okr/state has no history of it"
        );
    }
    if args.json {
        let out = serde_json::json!({
            "kr": kr,
            "points": points.iter().map(|p| {
                let mut v = serde_json::to_value(p).expect("points serialize");
                v.as_object_mut().expect("object").insert("date".into(), date_time(p.time).to_rfc3339().into());
                v
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    quiet_pipe(print_history(&kr, &points))
}

fn print_history(kr: &str, points: &[HistoryPoint]) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    if points.is_empty() {
        writeln!(
            out,
            "{kr}: no measurements, check-ins or status changes recorded yet"
        )?;
        return out.flush();
    }
    let range = match (values.first(), values.last()) {
        (Some(a), Some(b)) => format!(", value {} -> {}", fmt_num(*a), fmt_num(*b)),
        _ => String::new(),
    };
    writeln!(out, "{kr}: {} points{range}", points.len())?;
    if !values.is_empty() {
        writeln!(out, "{}", sparkline(&values, 60))?;
    }
    for p in points {
        let status = match (&p.from, &p.status) {
            (Some(from), Some(to)) => format!("{from} -> {to}"),
            (None, Some(s)) => s.clone(),
            _ => String::new(),
        };
        let status = if p.regression {
            format!("{status} (regression)")
        } else {
            status
        };
        let value = p.value.map(fmt_num).unwrap_or_else(|| "-".into());
        let score = p
            .score
            .map(|s| format!("{s:.2}"))
            .unwrap_or_else(|| "-".into());
        let status = match p.confidence {
            Some(c) if status.is_empty() => format!("confidence {}", fmt_num(c)),
            Some(c) => format!("confidence {}, {status}", fmt_num(c)),
            None => status,
        };
        let source = match (&p.path, &p.note) {
            (Some(path), _) => path.clone(),
            (None, Some(note)) => format!("{}: {note}", p.source.as_str()),
            (None, None) => p.source.as_str().to_string(),
        };
        writeln!(
            out,
            "{}  {}  value {value:>8}  score {score:>4}  {status:<28}  {source}",
            date_time(p.time).format("%Y-%m-%d %H:%M"),
            &p.commit[..p.commit.len().min(7)],
        )?;
    }
    out.flush()
}

/// Values as ▁▂▃▄▅▆▇█, at most `width` characters (later values win in a squeezed bucket).
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let n = values.len();
    let picked: Vec<f64> = if n <= width {
        values.to_vec()
    } else {
        (0..width)
            .map(|b| values[(b + 1) * n / width - 1])
            .collect()
    };
    let min = picked.iter().copied().fold(f64::INFINITY, f64::min);
    let max = picked.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    picked
        .iter()
        .map(|v| {
            if max > min {
                BARS[(((v - min) / (max - min)) * 7.0).round() as usize]
            } else {
                BARS[3]
            }
        })
        .collect()
}

fn date_time(secs: i64) -> DateTime<Local> {
    Local.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// `YYYY-MM-DD` (local midnight; with `end_of_day` the next midnight) or RFC 3339.
fn parse_date(flag: &str, text: &str, end_of_day: bool) -> Result<i64> {
    let bad = || {
        anyhow!("--{flag} {text:?} is not a date: expected YYYY-MM-DD or an RFC 3339 time such as 2026-01-18T12:00:00Z")
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.timestamp() + i64::from(end_of_day));
    }
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| bad())?;
    let day = if end_of_day {
        day.succ_opt().ok_or_else(bad)?
    } else {
        day
    };
    let midnight = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
    Ok(Local
        .from_local_datetime(&midnight)
        .earliest()
        .ok_or_else(bad)?
        .timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_and_squeezes() {
        assert_eq!(sparkline(&[0.0, 7.0], 10), "▁█");
        assert_eq!(sparkline(&[1.0, 1.0], 10), "▄▄");
        assert_eq!(
            sparkline(&(0..100).map(f64::from).collect::<Vec<_>>(), 10)
                .chars()
                .count(),
            10
        );
    }

    #[test]
    fn dates_are_checked() {
        assert!(parse_date("since", "2026-01-18", false).is_ok());
        let e = parse_date("since", "2026-13-01", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--since \"2026-13-01\" is not a date"), "{e}");
        assert_eq!(
            parse_date("until", "2026-01-18T00:00:00Z", true).unwrap(),
            1768694401
        );
    }
}
