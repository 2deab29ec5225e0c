//! `git okr report --html FILE [--open]`: the HTML report. Writing FILE is its only write.

use crate::cli::ReportArgs;
use crate::ctx::Ctx;
use crate::ctx::{load_okrs, require_initialized};
use crate::report::{gather, html};
use anyhow::{Context, Result};

pub fn run(ctx: &Ctx, args: ReportArgs) -> Result<()> {
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
    let mut graded = Vec::new();
    let mut ids: Vec<String> = match view.cycle() {
        Some(c) => vec![c.id.clone()],
        None => all
            .objectives()
            .filter_map(|(_, o)| o.cycle.clone())
            .collect(),
    };
    ids.sort();
    ids.dedup();
    for id in ids {
        graded.extend(crate::ctx::load_grades(&snap, &id)?);
    }
    let rhythm = crate::report::Rhythm {
        cycle: view.cycle().cloned(),
        checkins: crate::ctx::load_checkins(&snap)?,
        grades: graded,
    };
    let report = gather(&snap, &set, status_events(ctx)?, rhythm)?;
    let page = html::render(&report);
    std::fs::write(&args.html, page).with_context(|| format!("writing {}", args.html.display()))?;
    println!("Wrote report: {}", args.html.display());
    if args.open {
        open(&args.html);
    }
    Ok(())
}

/// Best effort: hand the file to the desktop's opener; say so when there is none.
fn open(path: &std::path::Path) {
    let openers: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else {
        &["xdg-open", "open"]
    };
    for opener in openers {
        let spawned = std::process::Command::new(opener)
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if spawned.is_ok() {
            println!("Opening it with {opener}");
            return;
        }
    }
    println!(
        "Could not open it: no {} found; open {} yourself",
        openers.join(" or "),
        path.display()
    );
}

/// Every status change the history recorded (`Okr-Status` trailers), from the audit mirror.
fn status_events(ctx: &Ctx) -> Result<Vec<crate::report::StatusChange>> {
    use crate::audit::{self, event::ACTION_STATUS_CHANGE, query};
    let filter = query::Filter {
        action: Some(ACTION_STATUS_CHANGE.to_string()),
        ..Default::default()
    };
    let events = audit::with_mirror(&ctx.store, |conn| query::events(conn, &filter))?;
    Ok(events
        .into_iter()
        .filter_map(|e| {
            Some(crate::report::StatusChange {
                time: e.time,
                kr: e.kr?,
                from: e.from.unwrap_or_default(),
                to: e.to.unwrap_or_default(),
                value: e.value,
                actor: e.actor,
            })
        })
        .collect())
}
