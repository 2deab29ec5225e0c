//! `git okr init`: the state tree (README "Layout of refs/okr/state") in one commit.

use super::daemon::check_job_args;
use super::validate::validate_file;
use crate::cli::InitArgs;
use crate::ctx::Ctx;
use crate::model::okrs::is_okr_file;
use crate::model::proposal::proposal_path;
use crate::store::{Changes, Commit, Step};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The files a new state starts with: the worked example of OKRchestra's README.
const TEMPLATE: &[(&str, &str)] = &[
    ("okrs/org.yml", include_str!("../templates/org.yml")),
    (
        "okrs/permissions.yml",
        include_str!("../templates/permissions.yml"),
    ),
    ("okrs/schema.md", include_str!("../templates/schema.md")),
    ("culture/values.md", include_str!("../templates/values.md")),
    (
        "culture/standards.md",
        include_str!("../templates/standards.md"),
    ),
    (
        "metrics/manual.yml",
        include_str!("../templates/manual.yml"),
    ),
    (
        "metrics/definitions.yml",
        include_str!("../templates/definitions.yml"),
    ),
    // The daemon's default schedule, which a team keeps or removes.
    ("daemon/jobs.yml", include_str!("../templates/jobs.yml")),
];

pub fn run(ctx: &Ctx, args: InitArgs) -> Result<()> {
    if !args.force {
        if let Some((remote, url)) = crate::sync::unpulled_remote_state(&ctx.store)? {
            bail!(
                "{} ({url}) already has refs/okr/state: run `git okr pull` to get your team's state instead of starting an unrelated history (`git okr init --force` starts one anyway)",
                remote.name
            );
        }
    }
    if let Some(template) = &args.template {
        // OKRchestra's only template; ours is the same worked example.
        if template != "minimal" {
            bail!("unknown template {template:?} (there is one: minimal)");
        }
    }
    match &args.from {
        Some(dir) => import(ctx, dir, args.force),
        None => {
            let files = TEMPLATE
                .iter()
                .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
                .collect();
            init_with(ctx, files, String::new(), args.force)
        }
    }
}

/// Refuse to replace an existing state unless asked to.
fn check_force(snap: &crate::store::Snapshot<'_>, force: bool) -> Result<()> {
    if let Some(tip) = snap.tip() {
        if !force {
            bail!(
                "refs/okr/state already exists (at {}); use `git okr init --force` to replace its files",
                tip.to_hex_with_len(7)
            );
        }
    }
    Ok(())
}

/// The changes that make the state hold exactly `files`.
fn replace_all(
    snap: &crate::store::Snapshot<'_>,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Changes> {
    let mut changes = Changes::new();
    for old in snap.list("")? {
        if !files.contains_key(&old) {
            changes.remove(old);
        }
    }
    for (path, bytes) in files {
        changes.write(path.clone(), bytes.clone());
    }
    Ok(changes)
}

fn init_with(
    ctx: &Ctx,
    files: BTreeMap<String, Vec<u8>>,
    origin: String,
    force: bool,
) -> Result<()> {
    let count = files.len();
    let outcome = ctx.store.transact(|snap| {
        check_force(snap, force)?;
        let changes = replace_all(snap, &files)?;
        let message = ctx
            .message(format!("okr: init{origin}"), "init")
            .body(format!("{count} files"));
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: (),
        }))
    })?;
    match outcome.commit_id() {
        Some(id) => {
            println!(
                "Initialized refs/okr/state with {count} files{origin} at {}",
                id.to_hex_with_len(7)
            );
            print_next_steps();
        }
        None => println!("refs/okr/state already holds exactly these files; nothing to commit"),
    }
    Ok(())
}

/// What a new user does next; nothing has left this clone yet.
fn print_next_steps() {
    println!();
    println!("Next:");
    println!("  git okr edit okrs/org.yml      # your objectives and key results");
    println!(
        "  git okr kr measure             # measure them now (and daily: git okr hooks install)"
    );
    println!("  git okr status                 # scores and what needs attention");
    println!("  git okr sync --dry-run         # what sharing would push, and where");
    println!("Nothing is shared until you run `git okr sync` or `git okr push`.");
}

/// Import an OKRchestra workspace: its audit events as commits with their own times and
/// actors, then one commit with every file, then one with its proposals (based on
/// that commit) — all in one update of the ref.
fn import(ctx: &Ctx, dir: &Path, force: bool) -> Result<()> {
    let mut ws = crate::migrate::read_workspace(dir)?;
    let context = || format!("importing {}", dir.display());
    let okr_texts: Vec<(String, String)> = ws
        .files
        .iter()
        .filter(|(p, _)| is_okr_file(p) || *p == crate::model::cycles::CYCLES_FILE)
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    // The OKR files are validated together, once (each alone would parse them all again).
    let mut okrs_checked = false;
    for (path, bytes) in &ws.files {
        if is_okr_file(path) {
            if okrs_checked {
                continue;
            }
            okrs_checked = true;
        }
        validate_file(path, bytes, &okr_texts, check_job_args).with_context(context)?;
    }
    for proposal in &ws.proposals {
        for (path, content) in &proposal.files {
            validate_file(path, content.as_bytes(), &okr_texts, check_job_args).with_context(
                || format!("{}: artifacts/proposals/{}", context(), proposal.folder),
            )?;
        }
    }
    // The template fills in what the workspace lacks, except OKRs and the schedule: an
    // imported workspace runs only the jobs it brought.
    let filled = |p: &str| !is_okr_file(p) && p != crate::model::jobs::JOBS_FILE;
    for (path, text) in TEMPLATE.iter().filter(|(p, _)| filled(p)) {
        ws.files
            .entry(path.to_string())
            .or_insert_with(|| text.as_bytes().to_vec());
    }
    let origin = format!(" from {}", dir.display());
    let okr_map: BTreeMap<String, String> = okr_texts
        .into_iter()
        .filter(|(p, _)| is_okr_file(p))
        .collect();
    let (head, ()) = ctx.store.transact_chain(|snap, chain| {
        check_force(snap, force)?;
        for event in &ws.history {
            let mut changes = Changes::new();
            if let Some(path) = &event.snapshot {
                if let Some(bytes) = ws.files.get(path) {
                    changes.write(path.clone(), bytes.clone());
                }
            }
            chain.commit(&changes, &event.message, Some(&event.stamp))?;
        }
        let changes = replace_all(snap, &ws.files)?;
        let message = ctx
            .message(format!("okr: init{origin}"), "init")
            .body(format!(
                "{} files, {} plans, {} runs, {} audit events",
                ws.files.len(),
                ws.plans,
                ws.runs,
                ws.history.len()
            ));
        let base = chain.commit(&changes, &message, None)?;
        if !ws.proposals.is_empty() {
            let mut changes = Changes::new();
            // `Okr-Import`: the person importing vouches for the lifecycles the files
            // carry (OKRchestra's approvals and applications); see proposal::history.
            let mut message = ctx
                .message(
                    format!("okr: import {} OKRchestra proposals", ws.proposals.len()),
                    "propose",
                )
                .trailer("Okr-Import", "okrchestra");
            for p in &ws.proposals {
                let proposal = p.to_proposal(&base.to_string(), &okr_map);
                changes.write(proposal_path(&proposal.id), proposal.render()?);
                message = message.trailer("Okr-Proposal", &proposal.id);
            }
            chain.commit(&changes, &message, None)?;
        }
        Ok(())
    })?;
    let head = head.ok_or_else(|| anyhow!("the import wrote nothing"))?;
    println!(
        "Initialized refs/okr/state with {} files{origin} at {}",
        ws.files.len(),
        head.to_hex_with_len(7)
    );
    println!(
        "Imported {} plans, {} runs, {} proposals, {} audit events (as commits with their original times and actors)",
        ws.plans,
        ws.runs,
        ws.proposals.len(),
        ws.history.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_valid() {
        let okrs: Vec<(String, String)> = TEMPLATE
            .iter()
            .filter(|(p, _)| is_okr_file(p))
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for (path, text) in TEMPLATE {
            validate_file(path, text.as_bytes(), &okrs, check_job_args).unwrap();
        }
    }

    #[test]
    fn importable_paths() {
        use crate::migrate::is_importable;
        assert!(is_importable("okrs/team-platform.yml"));
        assert!(is_importable("metrics/snapshots/2026-01-18.json"));
        assert!(is_importable("culture/values.md"));
        assert!(!is_importable("audit/audit.sqlite"));
        assert!(!is_importable("metrics/snapshots/old/x.json"));
    }
}
