//! `git okr ci ingest`: parse CI outputs and record them in one state commit.

use crate::cli::CiIngestArgs;
use crate::ctx::Ctx;
use crate::ctx::{load_definitions, require_initialized};
use crate::metrics::ci::{
    build_success_rate, parse_history, Build, CiReport, ReportBuilder, HISTORY_FILE, REPORT_FILE,
};
use crate::model::fmt_num;
use crate::store::{Changes, Commit, Step};
use anyhow::{anyhow, Context, Result};
use std::path::Path;

pub fn ingest(ctx: &Ctx, args: CiIngestArgs) -> Result<()> {
    require_initialized(&ctx.store.snapshot()?)?;
    let mut builder = ReportBuilder::new();
    for file in &args.junit {
        builder.junit(&shown(file), &read_input(file)?)?;
    }
    for file in &args.lcov {
        builder.lcov(&shown(file), &read_input(file)?)?;
    }
    for file in &args.cobertura {
        builder.cobertura(&shown(file), &read_input(file)?)?;
    }
    if let Some(file) = &args.json {
        builder.json(&shown(file), &read_input(file)?)?;
    }
    if let Some(build) = args.build.as_deref() {
        builder.build(
            Build::parse(build).ok_or_else(|| anyhow!("--build must be success or failure"))?,
        );
    }
    let head = ctx.store.repo().head_id().ok().map(|id| id.to_string());
    let report = builder.finish(chrono::Utc::now(), head);

    let line = report.history_line();
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        let defs = load_definitions(snap)?;
        let mut history = snap.read_text(HISTORY_FILE)?.unwrap_or_default();
        if !history.is_empty() && !history.ends_with('\n') {
            history.push('\n');
        }
        history.push_str(&line);
        let rate = build_success_rate(&parse_history(HISTORY_FILE, &history)?, defs.build_window());
        let mut changes = Changes::new();
        changes.write(REPORT_FILE, report.to_json());
        changes.write(HISTORY_FILE, history);
        let message = ctx
            .message(
                format!("okr: ci ingest ({})", report.summary()),
                "ci-ingest",
            )
            .trailer("Okr-File", REPORT_FILE)
            .trailer("Okr-File", HISTORY_FILE);
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: rate,
        }))
    })?;

    print_summary(&report);
    if let Some(rate) = outcome.value() {
        println!(
            "Build success rate: {}% over the last {} build{} (window {})",
            fmt_num(rate.percent),
            rate.builds,
            if rate.builds == 1 { "" } else { "s" },
            rate.window
        );
    }
    match outcome.commit_id() {
        Some(id) => println!(
            "Recorded {REPORT_FILE} and {HISTORY_FILE} at {}",
            id.to_hex_with_len(7)
        ),
        None => println!("{REPORT_FILE} already holds this report; nothing to commit"),
    }
    Ok(())
}

fn print_summary(report: &CiReport) {
    let v = |k: &str| report.value(k);
    if let Some(total) = v("test_count") {
        let mut line = format!("Tests: {}", fmt_num(total));
        if let (Some(passed), Some(failed), Some(skipped)) =
            (v("tests_passed"), v("tests_failed"), v("tests_skipped"))
        {
            let errored = v("tests_errored").filter(|e| *e > 0.0);
            let errors = errored
                .map(|e| format!(", {} of them errors", fmt_num(e)))
                .unwrap_or_default();
            line += &format!(
                " ({} passed, {} failed{errors}, {} skipped)",
                fmt_num(passed),
                fmt_num(failed),
                fmt_num(skipped)
            );
        }
        println!("{line}");
    }
    if let Some(coverage) = v("coverage") {
        let lines = match (v("lines_covered"), v("lines_total")) {
            (Some(c), Some(t)) => format!(" ({} of {})", fmt_num(c), fmt_num(t)),
            _ => String::new(),
        };
        println!(
            "Coverage: {}% of lines{lines}",
            fmt_num((coverage * 100.0).round() / 100.0)
        );
    } else if let Some(0.0) = v("lines_total") {
        println!("Coverage: no coverable lines found");
    }
    let known = [
        "test_count",
        "tests_passed",
        "tests_failed",
        "tests_skipped",
        "tests_errored",
        "coverage",
        "lines_covered",
        "lines_total",
    ];
    let others: Vec<String> = report
        .metrics
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, val)| format!("ci.{k} = {}", fmt_num(*val)))
        .collect();
    if !others.is_empty() {
        println!("Other metrics: {}", others.join(", "));
    }
    if let Some(build) = report.build {
        println!("Build: {}", build.as_str());
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// The text of an input file; a missing or non-UTF-8 file is an error naming it.
fn read_input(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{}: not valid UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    // Some Windows tools start their XML with a byte order mark.
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}
