//! `git okr sync`, `git okr pull`, `git okr push`: see `crate::sync`.

use crate::cli::{PullArgs, PushArgs, SyncArgs};
use crate::ctx::Ctx;
use crate::store::CommitMessage;
use crate::sync::merger::{Conflict, Resolution};
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
) -> impl Fn(&[String], &[Conflict]) -> CommitMessage + 'a {
    move |notes, settled| {
        let mut body: Vec<String> = notes.to_vec();
        let side = if resolution == Resolution::Theirs {
            "theirs"
        } else {
            "ours"
        };
        body.extend(settled.iter().map(|c| format!("settled with {side}: {c}")));
        CommitMessage::new(format!("okr: sync with {} (merge)", remote.name))
            .body(body.join("\n"))
            .trailer("Okr-Action", "sync-merge")
            .trailer("Okr-Actor", ctx.actor.id())
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
            let side = if resolution == Resolution::Theirs {
                "theirs"
            } else {
                "ours"
            };
            for c in settled {
                println!("  settled with {side}: {c}");
            }
        }
    }
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
    let res = resolution(&args.pull);
    let report = sync::sync(&ctx.store, &remote, res, &merge_message(ctx, &remote, res))?;
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
        (true, Some(tip)) => println!("Pushed refs/okr/state to {} ({})", remote.name, short(tip)),
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
    print_merge(&remote, &result, res);
    Ok(())
}

pub fn push(ctx: &Ctx, args: PushArgs) -> Result<()> {
    let remote = sync::resolve_remote(&ctx.store, args.remote.as_deref())?;
    match sync::push_only(&ctx.store, &remote)? {
        (tip, true) => println!("Pushed refs/okr/state to {} ({})", remote.name, short(tip)),
        (_, false) => println!("{} is up to date", remote.name),
    }
    Ok(())
}
