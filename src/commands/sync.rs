//! `git okr sync`, `git okr pull`, `git okr push`: see `crate::sync`.

use crate::cli::{PullArgs, PushArgs, SyncArgs};
use crate::ctx::Ctx;
use crate::store::CommitMessage;
use crate::sync::merger::{MergeConflict, Resolution};
use crate::sync::{self, MergeResult, Remote};
use anyhow::Result;

fn resolution(args: &PullArgs) -> Resolution {
    if args.ours {
        Resolution::Ours
    } else if args.theirs {
        Resolution::Theirs
    } else {
        Resolution::Stop
    }
}

/// The merge commit's message: what was decided by meaning, and what was settled how.
fn merge_message<'a>(
    ctx: &'a Ctx,
    remote: &'a Remote,
    resolution: Resolution,
) -> impl Fn(&[String], &[MergeConflict]) -> CommitMessage + 'a {
    move |notes, settled| {
        let mut body: Vec<String> = notes.to_vec();
        let side = if resolution == Resolution::Theirs {
            "theirs"
        } else {
            "ours"
        };
        body.extend(settled.iter().map(|c| format!("settled with {side}: {c}")));
        ctx.actor
            .sign(
                CommitMessage::new(format!("okr: sync with {} (merge)", remote.name))
                    .body(body.join("\n"))
                    .trailer("Okr-Action", "sync-merge"),
            )
            .trailer("Okr-Remote", &remote.name)
    }
}

fn short(id: gix::ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}

fn print_merge(remote: &Remote, result: &MergeResult, resolution: Resolution) {
    match result {
        MergeResult::RemoteEmpty => println!("{} has no refs/okr/state yet", remote.name),
        MergeResult::UpToDate => println!("Already up to date with {}", remote.name),
        MergeResult::LocalAhead => println!("Nothing new from {}", remote.name),
        MergeResult::FastForward { from, to } => println!(
            "Fast-forwarded refs/okr/state {}..{} from {}",
            from.map(short).unwrap_or_else(|| "(none)".into()),
            short(*to),
            remote.name
        ),
        MergeResult::Merge { id, notes, settled } => {
            println!("Merged {}'s refs/okr/state at {}", remote.name, short(*id));
            for n in notes {
                println!("  {n}");
            }
            let side = side_name(resolution);
            for c in settled {
                println!("  settled with {side}: {c}");
            }
        }
    }
}

fn side_name(resolution: Resolution) -> &'static str {
    if resolution == Resolution::Theirs {
        "theirs"
    } else {
        "ours"
    }
}

/// `{"result": "fast_forward", "from": …, "to": …}` and the like, for `--json`.
fn merge_json(result: &MergeResult, resolution: Resolution) -> serde_json::Value {
    use serde_json::json;
    match result {
        MergeResult::RemoteEmpty => json!({"result": "remote_empty"}),
        MergeResult::UpToDate => json!({"result": "up_to_date"}),
        MergeResult::LocalAhead => json!({"result": "local_ahead"}),
        MergeResult::FastForward { from, to } => json!({
            "result": "fast_forward",
            "from": from.map(|f| f.to_string()),
            "to": to.to_string(),
        }),
        MergeResult::Merge { id, notes, settled } => json!({
            "result": "merge",
            "commit": id.to_string(),
            "notes": notes,
            "settled": settled.iter().map(|c| json!({
                "file": c.file, "id": c.id, "field": c.field,
                "base": c.base, "ours": c.ours, "theirs": c.theirs,
                "kept": side_name(resolution),
            })).collect::<Vec<_>>(),
        }),
    }
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn sync(ctx: &Ctx, args: SyncArgs) -> Result<()> {
    let remote = sync::resolve_remote(&ctx.store, args.pull.remote.as_deref())?;
    if args.setup {
        let done = sync::setup(&ctx.store, &remote, args.push_too)?;
        for (k, v) in &done.added {
            println!("Added {k} = {v}");
        }
        for (k, v) in &done.present {
            println!("Already set: {k} = {v}");
        }
        println!(
            "Plain `git fetch {}` now brings its state into {}; merge it with `git okr pull`.",
            remote.name, remote.tracking
        );
        if args.push_too {
            println!(
                "remote.{0}.push replaces git's default push: plain `git push {0}` now pushes the current branch (HEAD) and refs/okr/state, nothing else.",
                remote.name
            );
        }
        return Ok(());
    }
    if args.dry_run {
        return dry_run(ctx, &remote, args.pull.json);
    }
    let first = !sync::ever_synced(&ctx.store, &remote)?;
    let res = resolution(&args.pull);
    let report = sync::sync(&ctx.store, &remote, res, &merge_message(ctx, &remote, res))?;
    if args.pull.json {
        return print_json(&serde_json::json!({
            "remote": remote.name,
            "merge": merge_json(&report.merge, res),
            "pushed": report.pushed,
            "retries": report.retries,
            "tip": report.tip.map(|t| t.to_string()),
        }));
    }
    print_merge(&remote, &report.merge, res);
    if report.retries > 0 {
        println!(
            "{} moved during the sync; fetched and merged again ({} time{})",
            remote.name,
            report.retries,
            if report.retries == 1 { "" } else { "s" }
        );
    }
    match (report.pushed, report.tip) {
        (true, Some(tip)) => println!("{}", pushed_line(ctx, &remote, tip, first)),
        _ => println!("{} is up to date", remote.name),
    }
    Ok(())
}

pub fn pull(ctx: &Ctx, args: PullArgs) -> Result<()> {
    let remote = sync::resolve_remote(&ctx.store, args.remote.as_deref())?;
    let res = resolution(&args);
    let tip = sync::fetch(&ctx.store, &remote)?;
    let result = sync::merge_remote(
        &ctx.store,
        &remote,
        tip,
        res,
        &merge_message(ctx, &remote, res),
    )?;
    if args.json {
        return print_json(&serde_json::json!({
            "remote": remote.name,
            "merge": merge_json(&result, res),
        }));
    }
    print_merge(&remote, &result, res);
    Ok(())
}

pub fn push(ctx: &Ctx, args: PushArgs) -> Result<()> {
    let remote = sync::resolve_remote(&ctx.store, args.remote.as_deref())?;
    let first = !sync::ever_synced(&ctx.store, &remote)?;
    let (tip, pushed) = sync::push_only(&ctx.store, &remote)?;
    if args.json {
        return print_json(&serde_json::json!({
            "remote": remote.name,
            "pushed": pushed,
            "tip": tip.to_string(),
        }));
    }
    match (tip, pushed) {
        (tip, true) => println!("{}", pushed_line(ctx, &remote, tip, first)),
        (_, false) => println!("{} is up to date", remote.name),
    }
    Ok(())
}

/// `Pushed refs/okr/state to origin (abc1234)`; the first time, where that is.
fn pushed_line(ctx: &Ctx, remote: &Remote, tip: gix::ObjectId, first: bool) -> String {
    if first {
        format!(
            "Pushed refs/okr/state to {} at {} ({}): the first time from this clone",
            remote.name,
            sync::remote_url(&ctx.store, remote),
            short(tip)
        )
    } else {
        format!("Pushed refs/okr/state to {} ({})", remote.name, short(tip))
    }
}

fn dry_run(ctx: &Ctx, remote: &Remote, json: bool) -> Result<()> {
    use sync::DryRun;
    let url = sync::remote_url(&ctx.store, remote);
    let plan = sync::dry_run(&ctx.store, remote)?;
    let commit_list = |commits: &[(gix::ObjectId, String)]| -> Vec<serde_json::Value> {
        commits
            .iter()
            .map(|(id, subject)| serde_json::json!({"commit": id.to_string(), "subject": subject}))
            .collect()
    };
    if json {
        use serde_json::json;
        let (action, detail) = match &plan {
            DryRun::NothingAnywhere => ("nothing", json!({})),
            DryRun::WouldFetch { theirs } => ("fetch", json!({"theirs": theirs.to_string()})),
            DryRun::WouldPublish { ours, commits } => (
                "publish",
                json!({"ours": ours.to_string(), "commits": commit_list(commits)}),
            ),
            DryRun::UpToDate { tip } => (
                "up_to_date",
                json!({"ours": tip.to_string(), "theirs": tip.to_string()}),
            ),
            DryRun::WouldPush {
                ours,
                theirs,
                commits,
            } => (
                "push",
                json!({"ours": ours.to_string(), "theirs": theirs.to_string(), "commits": commit_list(commits)}),
            ),
            DryRun::WouldMerge { ours, theirs } => (
                "merge_and_push",
                json!({"ours": ours.to_string(), "theirs": theirs.to_string()}),
            ),
        };
        let mut out = json!({"remote": remote.name, "url": url, "action": action});
        if let (Some(out), Some(detail)) = (out.as_object_mut(), detail.as_object()) {
            out.extend(detail.clone());
        }
        return print_json(&out);
    }
    let name = &remote.name;
    let list = |commits: &[(gix::ObjectId, String)]| {
        const SHOWN: usize = 20;
        for (id, subject) in commits.iter().take(SHOWN) {
            println!("  {} {subject}", short(*id));
        }
        if commits.len() > SHOWN {
            println!("  … and {} more", commits.len() - SHOWN);
        }
    };
    match &plan {
        DryRun::NothingAnywhere => {
            println!("Neither this clone nor {name} ({url}) has refs/okr/state: nothing to sync")
        }
        DryRun::WouldFetch { theirs } => println!(
            "Would fetch refs/okr/state ({}) from {name} ({url}); nothing to push",
            short(*theirs)
        ),
        DryRun::WouldPublish { ours, commits } => {
            println!(
                "Would publish refs/okr/state ({}, {} commit{}) to {name} ({url}), which has none yet:",
                short(*ours),
                commits.len(),
                if commits.len() == 1 { "" } else { "s" }
            );
            list(commits);
        }
        DryRun::UpToDate { tip } => {
            println!("Up to date with {name} ({url}) at {}; nothing to push", short(*tip))
        }
        DryRun::WouldPush { ours, theirs, commits } => {
            println!(
                "Would push refs/okr/state {}..{} ({} commit{}) to {name} ({url}):",
                short(*theirs),
                short(*ours),
                commits.len(),
                if commits.len() == 1 { "" } else { "s" }
            );
            list(commits);
        }
        DryRun::WouldMerge { ours, theirs } => println!(
            "Would fetch {name}'s refs/okr/state ({}) from {url}, merge it with yours ({}), and push the result to {name}",
            short(*theirs),
            short(*ours)
        ),
    }
    println!("Nothing was fetched, committed or pushed.");
    Ok(())
}
