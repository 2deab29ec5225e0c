//! Sharing `refs/okr/state` between clones through any git remote.
//!
//! Like git-bug with its entities: the remote's state is fetched into a tracking ref
//! (`refs/okr-remotes/REMOTE/state`, never the local ref), merged into the local ref
//! (fast-forward when one side contains the other, else a two-parent merge commit whose
//! tree is merged by meaning, see `merge`), and the result is pushed with a lease on the
//! remote tip that was merged, so a remote that moved meanwhile refuses the push and the
//! whole cycle runs again. gix cannot push, so transport (fetch and push) runs the `git`
//! binary; everything else uses gix.

pub mod merge;
pub mod merger;
mod okrs;
mod records;

use crate::store::{CommitMessage, Store};
use anyhow::{anyhow, bail, Context, Result};
use gix::ObjectId;
use merge::{merge_states, Merged};
use merger::{Merger, Resolution};
use std::collections::BTreeMap;
use std::process::Command;

/// Why a sync stopped without changing anything, when the two sides disagree: the
/// caller (and the exit code) tells these apart from other failures.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Fields changed both ways to different values, and no `--ours`/`--theirs` was given.
    #[error("{}", conflicts_message(remote, conflicts))]
    Conflicts {
        remote: String,
        conflicts: Vec<merger::MergeConflict>,
    },
    /// The two state refs share no commit.
    #[error(
        "refs/okr/state and {remote}'s refs/okr/state have no common history (the remote's was rewritten or made by another `git okr init`); \
         nothing was merged and your ref is untouched.\n\
         Compare them: git log --oneline refs/okr/state {tracking}\n\
         To take the remote's: git update-ref refs/okr/state {tracking}\n\
         To replace the remote's with yours: git push --force {remote} refs/okr/state"
    )]
    Unrelated { remote: String, tracking: String },
    /// The remote's state ref has commits this clone does not have.
    #[error(
        "{remote} refused the push ({why}): its refs/okr/state has changes you do not have; \
         run `git okr sync {remote}` to merge them and push"
    )]
    PushRejected { remote: String, why: String },
}

fn conflicts_message(remote: &str, conflicts: &[merger::MergeConflict]) -> String {
    let lines: Vec<String> = conflicts.iter().map(|c| format!("  {c}")).collect();
    format!(
        "{n} conflict{s} between your refs/okr/state and {remote}'s; nothing was changed:\n{lines}\n\
         Settle them with `--ours` (keep yours) or `--theirs` (take {remote}'s), or change one side and sync again.",
        n = conflicts.len(),
        s = if conflicts.len() == 1 { "" } else { "s" },
        lines = lines.join("\n")
    )
}

/// How many fetch → merge → push rounds a sync tries while the remote keeps moving.
const MAX_ROUNDS: u32 = 8;

/// A remote to sync with: a configured remote's name, or a URL/path given directly.
#[derive(Debug, Clone)]
pub struct Remote {
    /// What the user named (and what `git fetch`/`git push` get).
    pub name: String,
    /// Whether it is a configured remote (only those can get refspecs with `--setup`).
    pub configured: bool,
    /// `refs/okr-remotes/<slug>/state`.
    pub tracking: String,
    /// `refs/okr-remotes/<slug>/`, where the remote's `refs/okr/*` are kept.
    prefix: String,
}

impl Remote {
    fn new(name: &str, configured: bool) -> Remote {
        // A URL or path becomes a ref-safe slug.
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let slug = slug.trim_matches(|c| c == '.' || c == '_').to_string();
        let prefix = format!(
            "refs/okr-remotes/{}/",
            if slug.is_empty() { "remote" } else { &slug }
        );
        Remote {
            name: name.to_string(),
            configured,
            tracking: format!("{prefix}state"),
            prefix,
        }
    }

    /// The fetch refspec that brings every `refs/okr/*` of the remote into tracking refs
    /// (a wildcard, so a remote without the ref is not an error).
    pub fn fetch_refspec(&self) -> String {
        format!("+refs/okr/*:{}*", self.prefix)
    }
}

/// The remote named on the command line, else the current branch's `branch.<b>.remote`,
/// else `origin`.
pub fn resolve_remote(store: &Store, arg: Option<&str>) -> Result<Remote> {
    let repo = store.repo();
    let names: Vec<String> = repo.remote_names().iter().map(|n| n.to_string()).collect();
    if let Some(arg) = arg {
        // Never a value git could read as an option (`--upload-pack=…`), even after `--`.
        if arg.starts_with('-') || arg.is_empty() || arg.chars().any(char::is_control) {
            bail!("{arg:?} is not a remote name, URL or path (it must not be empty, start with '-' or hold control characters)");
        }
        if names.iter().any(|n| n == arg) {
            return Ok(Remote::new(arg, true));
        }
        if arg.contains(['/', ':', '\\']) || std::path::Path::new(arg).exists() {
            return Ok(Remote::new(arg, false));
        }
        bail!(
            "no remote named {arg:?} ({}); name a configured remote, a URL or a path",
            if names.is_empty() {
                "this repository has no remotes".to_string()
            } else {
                format!("remotes: {}", names.join(", "))
            }
        );
    }
    let branch = repo
        .head_name()
        .ok()
        .flatten()
        .map(|n| n.shorten().to_string());
    if let Some(b) = &branch {
        let config = repo.config_snapshot();
        if let Some(r) = config.string(format!("branch.{b}.remote").as_str()) {
            let r = r.to_string();
            if names.contains(&r) {
                return Ok(Remote::new(&r, true));
            }
        }
    }
    if names.iter().any(|n| n == "origin") {
        return Ok(Remote::new("origin", true));
    }
    bail!(
        "no remote to sync with: {} and there is no remote named origin; add one (`git remote add origin URL`) or name it: git okr sync REMOTE",
        match &branch {
            Some(b) => format!("branch {b} has no branch.{b}.remote"),
            None => "HEAD is not on a branch".to_string(),
        }
    )
}

/// Run `git` in the repository; returns (success, stdout, stderr).
fn git(store: &Store, args: &[&str]) -> Result<(bool, String, String)> {
    let out = Command::new("git")
        .current_dir(store.git_cwd())
        .args(args)
        .env(crate::env_vars::HOOK_GUARD, "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .context("running git (is it installed and on PATH?)")?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Fetch the remote's `refs/okr/*` into its tracking refs; the remote's state tip, if any.
pub fn fetch(store: &Store, remote: &Remote) -> Result<Option<ObjectId>> {
    let spec = remote.fetch_refspec();
    let (ok, _, err) = git(
        store,
        &[
            "fetch",
            "--quiet",
            "--prune",
            "--no-write-fetch-head",
            "--no-tags",
            // Values after `--`: a remote is never read as an option.
            "--",
            &remote.name,
            &spec,
        ],
    )?;
    if !ok {
        bail!(
            "could not fetch from {}: {}\nnothing was changed",
            remote.name,
            err.trim().replace('\n', "; ")
        );
    }
    store.ref_tip(&remote.tracking)
}

/// What a push did.
#[derive(Debug, PartialEq)]
pub enum Pushed {
    Done,
    /// The remote already had this commit.
    UpToDate,
    /// The remote refused: it moved since `expected`, or the push was not a fast-forward.
    Rejected(String),
}

/// Push `tip` to the remote's `refs/okr/state`. With `lease`, only if the remote still
/// points at that value (`None`: the ref must not exist there); without, git's own
/// fast-forward rule applies.
pub fn push(
    store: &Store,
    remote: &Remote,
    tip: ObjectId,
    lease: Option<Option<ObjectId>>,
) -> Result<Pushed> {
    let refspec = format!("{tip}:{}", crate::store::STATE_REF);
    let lease_arg = lease.map(|l| {
        format!(
            "--force-with-lease={}:{}",
            crate::store::STATE_REF,
            l.map(|id| id.to_string()).unwrap_or_default()
        )
    });
    let mut args = vec!["push", "--porcelain", "--verbose"];
    if let Some(l) = &lease_arg {
        args.push(l);
    }
    // Values after `--`: a remote is never read as an option.
    args.extend(["--", remote.name.as_str(), refspec.as_str()]);
    let (ok, out, err) = git(store, &args)?;
    if ok {
        store.set_ref(&remote.tracking, tip, "pushed")?;
        // `--porcelain --verbose`: `=` flags a ref that was already up to date.
        return Ok(if out.lines().any(|l| l.starts_with("=\t")) {
            Pushed::UpToDate
        } else {
            Pushed::Done
        });
    }
    // `--porcelain`: `!<TAB>from:to<TAB>[rejected] (why)` for a refused ref.
    if let Some(line) = out
        .lines()
        .find(|l| l.starts_with('!') && l.contains(crate::store::STATE_REF))
    {
        let why = line.rsplit('\t').next().unwrap_or(line).trim().to_string();
        return Ok(Pushed::Rejected(why));
    }
    bail!(
        "could not push to {}: {}",
        remote.name,
        format!("{}{}", err.trim(), out.trim()).replace('\n', "; ")
    )
}

/// What merging the remote's state into the local ref did.
#[derive(Debug)]
pub enum MergeResult {
    /// The remote has no state.
    RemoteEmpty,
    UpToDate,
    /// The local ref contains the remote's: nothing to merge.
    LocalAhead,
    FastForward {
        from: Option<ObjectId>,
        to: ObjectId,
    },
    Merge {
        id: ObjectId,
        notes: Vec<String>,
        settled: Vec<merger::MergeConflict>,
    },
}

/// Merge `remote_tip` into `refs/okr/state` (compare-and-swap; re-run if the local ref
/// moved meanwhile). Conflicts stop it with the local ref untouched.
pub fn merge_remote(
    store: &Store,
    remote: &Remote,
    remote_tip: Option<ObjectId>,
    resolution: Resolution,
    message: &dyn Fn(&[String], &[merger::MergeConflict]) -> CommitMessage,
) -> Result<MergeResult> {
    let Some(theirs) = remote_tip else {
        return Ok(MergeResult::RemoteEmpty);
    };
    // A teammate's tree may be crafted: nothing of it is merged, and the ref never
    // moves to it, unless every path in it is one git-okr would write itself.
    if let Err(e) = store.verify_commit(theirs) {
        bail!(
            "refused {}'s refs/okr/state at commit {}: {e}; nothing was merged and your refs/okr/state was not changed (ask whoever wrote that commit to remove the path)",
            remote.name,
            theirs.to_hex_with_len(12)
        );
    }
    let mut last = None;
    for _ in 0..20 {
        let local = store.tip()?;
        let result = match local {
            None => store.move_ref(None, theirs, "sync: fast-forward").map(|_| {
                MergeResult::FastForward {
                    from: None,
                    to: theirs,
                }
            }),
            Some(ours) if ours == theirs => return Ok(MergeResult::UpToDate),
            Some(ours) => match store.merge_base(ours, theirs)? {
                None => {
                    return Err(SyncError::Unrelated {
                        remote: remote.name.clone(),
                        tracking: remote.tracking.clone(),
                    }
                    .into())
                }
                Some(base) if base == theirs => return Ok(MergeResult::LocalAhead),
                Some(base) if base == ours => store
                    .move_ref(Some(ours), theirs, "sync: fast-forward")
                    .map(|_| MergeResult::FastForward {
                        from: Some(ours),
                        to: theirs,
                    }),
                Some(base) => {
                    let (id, notes, settled) =
                        merge_commit(store, remote, base, ours, theirs, resolution, message)?;
                    store
                        .move_ref(Some(ours), id, "sync: merge")
                        .map(|_| MergeResult::Merge { id, notes, settled })
                }
            },
        };
        match result {
            Ok(r) => return Ok(r),
            // The local ref moved (a measurement, the daemon): merge again on the new tip.
            Err(e) if store.tip()? != local => last = Some(e),
            Err(e) => return Err(e.context("updating refs/okr/state")),
        }
    }
    Err(anyhow!(
        "refs/okr/state kept moving while merging; try again ({})",
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// Write the merge commit of `ours` and `theirs` (not moving any ref).
fn merge_commit(
    store: &Store,
    remote: &Remote,
    base: ObjectId,
    ours: ObjectId,
    theirs: ObjectId,
    resolution: Resolution,
    message: &dyn Fn(&[String], &[merger::MergeConflict]) -> CommitMessage,
) -> Result<(ObjectId, Vec<String>, Vec<merger::MergeConflict>)> {
    let (b, o, t) = (
        store.file_ids(base)?,
        store.file_ids(ours)?,
        store.file_ids(theirs)?,
    );
    let mut m = Merger::new(resolution);
    let load = |id: &ObjectId| store.read_blob(*id);
    let merged = merge_states(&b, &o, &t, &load, &mut m)?;
    if !m.conflicts.is_empty() {
        return Err(SyncError::Conflicts {
            remote: remote.name.clone(),
            conflicts: m.conflicts,
        }
        .into());
    }
    let mut files: BTreeMap<String, ObjectId> = BTreeMap::new();
    for (path, f) in merged {
        let id = match f {
            Merged::Kept(id) => id,
            Merged::New(bytes) => store.write_blob(&bytes)?,
        };
        files.insert(path, id);
    }
    let tree = store.write_tree_of(&files)?;
    let id = store.write_commit(tree, vec![ours, theirs], &message(&m.notes, &m.settled))?;
    Ok((id, m.notes, m.settled))
}

/// What a whole sync did.
#[derive(Debug)]
pub struct SyncReport {
    pub merge: MergeResult,
    /// Whether the remote's ref was updated.
    pub pushed: bool,
    /// Push attempts refused because the remote moved.
    pub retries: u32,
    pub tip: Option<ObjectId>,
}

/// fetch → merge → push, again while the remote keeps moving (bounded).
pub fn sync(
    store: &Store,
    remote: &Remote,
    resolution: Resolution,
    message: &dyn Fn(&[String], &[merger::MergeConflict]) -> CommitMessage,
) -> Result<SyncReport> {
    let mut retries = 0;
    let mut last_refusal = String::new();
    for _ in 0..MAX_ROUNDS {
        let remote_tip = fetch(store, remote)?;
        let merge = merge_remote(store, remote, remote_tip, resolution, message)?;
        let Some(local) = store.tip()? else {
            bail!(
                "neither this repository nor {} has refs/okr/state: run `git okr init` first",
                remote.name
            );
        };
        if Some(local) == remote_tip {
            return Ok(SyncReport {
                merge,
                pushed: false,
                retries,
                tip: Some(local),
            });
        }
        match push(store, remote, local, Some(remote_tip))? {
            Pushed::Done | Pushed::UpToDate => {
                return Ok(SyncReport {
                    merge,
                    pushed: true,
                    retries,
                    tip: Some(local),
                })
            }
            Pushed::Rejected(why) => {
                retries += 1;
                last_refusal = why;
                // Racing clones spread out so one of them wins each round.
                use rand::Rng;
                let cap = 25u64 << retries.min(5);
                std::thread::sleep(std::time::Duration::from_millis(
                    rand::rng().random_range(0..=cap),
                ));
            }
        }
    }
    bail!(
        "{}'s refs/okr/state kept moving: the push was refused {MAX_ROUNDS} times (last: {last_refusal}). \
         Nothing is lost: your refs/okr/state holds everything merged so far; run `git okr sync` again.",
        remote.name
    )
}

/// Push only: refused unless it is a fast-forward on the remote.
/// Returns the tip and whether the remote changed.
pub fn push_only(store: &Store, remote: &Remote) -> Result<(ObjectId, bool)> {
    let Some(local) = store.tip()? else {
        bail!("no refs/okr/state to push: run `git okr init` or `git okr pull` first");
    };
    match push(store, remote, local, None)? {
        Pushed::Done => Ok((local, true)),
        Pushed::UpToDate => Ok((local, false)),
        Pushed::Rejected(why) => Err(SyncError::PushRejected {
            remote: remote.name.clone(),
            why,
        }
        .into()),
    }
}

/// What `--setup` changed.
pub struct Setup {
    pub added: Vec<(String, String)>,
    pub present: Vec<(String, String)>,
}

/// Add refspecs so plain `git fetch` (and with `push_too`, `git push`) carry `refs/okr/*`.
/// The git config file is edited with `git config`, as a person would.
pub fn setup(store: &Store, remote: &Remote, push_too: bool) -> Result<Setup> {
    if !remote.configured {
        bail!("--setup needs a configured remote, not a URL or path ({}); add it with `git remote add NAME URL`", remote.name);
    }
    let get = |key: &str| -> Result<Vec<String>> {
        let (_, out, _) = git(store, &["config", "--get-all", "--", key])?;
        Ok(out.lines().map(str::to_string).collect())
    };
    let mut wanted = vec![(
        format!("remote.{}.fetch", remote.name),
        remote.fetch_refspec(),
    )];
    if push_too {
        let key = format!("remote.{}.push", remote.name);
        // A configured push refspec replaces git's default push of the current branch,
        // so `HEAD` (the current branch to the same name) comes first.
        if get(&key)?.is_empty() {
            wanted.push((key.clone(), "HEAD".to_string()));
        }
        wanted.push((key, format!("{0}:{0}", crate::store::STATE_REF)));
    }
    let mut report = Setup {
        added: Vec::new(),
        present: Vec::new(),
    };
    for (key, value) in wanted {
        if get(&key)?.contains(&value) {
            report.present.push((key, value));
            continue;
        }
        let (ok, _, err) = git(store, &["config", "--add", "--", &key, &value])?;
        if !ok {
            bail!("git config --add {key} {value} failed: {}", err.trim());
        }
        report.added.push((key, value));
    }
    Ok(report)
}

#[cfg(test)]
mod tests;

/// Where a remote points: its configured `remote.<name>.url`, else the name itself
/// (a URL or path given on the command line).
pub fn remote_url(store: &Store, remote: &Remote) -> String {
    if remote.configured {
        let config = store.repo().config_snapshot();
        if let Some(url) = config.string(format!("remote.{}.url", remote.name).as_str()) {
            return url.to_string();
        }
    }
    remote.name.clone()
}

/// Whether this clone ever fetched from or pushed to the remote's state.
pub fn ever_synced(store: &Store, remote: &Remote) -> Result<bool> {
    Ok(store.ref_tip(&remote.tracking)?.is_some())
}

/// The remote's `refs/okr/state` as `git ls-remote` sees it (one look, no fetch).
pub fn remote_state_tip(store: &Store, remote: &Remote) -> Result<Option<ObjectId>> {
    let (ok, out, err) = git(
        store,
        &["ls-remote", "--", &remote.name, crate::store::STATE_REF],
    )?;
    if !ok {
        bail!(
            "could not look at {}: {}",
            remote.name,
            err.trim().replace('\n', "; ")
        );
    }
    let line = out
        .lines()
        .find(|l| l.split('\t').nth(1) == Some(crate::store::STATE_REF));
    match line.and_then(|l| l.split('\t').next()) {
        Some(hex) => Ok(Some(ObjectId::from_hex(hex.trim().as_bytes()).map_err(
            |e| anyhow::anyhow!("{}: bad object id {hex:?}: {e}", remote.name),
        )?)),
        None => Ok(None),
    }
}

/// A team's state this clone does not have yet: the default remote (when one is
/// configured) already has `refs/okr/state`. Used by `init` and `status` on first use,
/// so nobody starts an unrelated history. A remote that cannot be reached says nothing.
pub fn unpulled_remote_state(store: &Store) -> Result<Option<(Remote, String)>> {
    if store.tip()?.is_some() || store.repo().remote_names().is_empty() {
        return Ok(None);
    }
    let Ok(remote) = resolve_remote(store, None) else {
        return Ok(None);
    };
    match remote_state_tip(store, &remote) {
        Ok(Some(_)) => {
            let url = remote_url(store, &remote);
            Ok(Some((remote, url)))
        }
        _ => Ok(None),
    }
}

/// What `sync --dry-run` found: nothing is fetched, merged or pushed.
#[derive(Debug, PartialEq)]
pub enum DryRun {
    /// Neither side has a state.
    NothingAnywhere,
    /// Only the remote has one: sync would fetch it; nothing to push.
    WouldFetch {
        theirs: ObjectId,
    },
    /// The remote has no state: sync would publish ours (these commits, newest first).
    WouldPublish {
        ours: ObjectId,
        commits: Vec<(ObjectId, String)>,
    },
    UpToDate {
        tip: ObjectId,
    },
    /// The remote's tip is in our history: sync would push these commits, newest first.
    WouldPush {
        ours: ObjectId,
        theirs: ObjectId,
        commits: Vec<(ObjectId, String)>,
    },
    /// The remote has commits we lack: sync would fetch and merge them, then push.
    WouldMerge {
        ours: ObjectId,
        theirs: ObjectId,
    },
}

/// Look at the remote once (`git ls-remote`) and say what `sync` would do.
pub fn dry_run(store: &Store, remote: &Remote) -> Result<DryRun> {
    let theirs = remote_state_tip(store, remote)?;
    let ours = store.tip()?;
    Ok(match (ours, theirs) {
        (None, None) => DryRun::NothingAnywhere,
        (None, Some(theirs)) => DryRun::WouldFetch { theirs },
        (Some(ours), None) => DryRun::WouldPublish {
            ours,
            commits: commits_between(store, ours, None)?,
        },
        (Some(ours), Some(theirs)) if ours == theirs => DryRun::UpToDate { tip: ours },
        (Some(ours), Some(theirs)) => {
            let known = store.repo().find_object(theirs).is_ok();
            if known && store.merge_base(ours, theirs)? == Some(theirs) {
                DryRun::WouldPush {
                    ours,
                    theirs,
                    commits: commits_between(store, ours, Some(theirs))?,
                }
            } else {
                DryRun::WouldMerge { ours, theirs }
            }
        }
    })
}

/// The commits reachable from `tip` but not from `hidden`, newest first, with subjects.
fn commits_between(
    store: &Store,
    tip: ObjectId,
    hidden: Option<ObjectId>,
) -> Result<Vec<(ObjectId, String)>> {
    let repo = store.repo();
    let walk = repo.rev_walk([tip]).with_hidden(hidden);
    let mut out = Vec::new();
    for info in walk.all().map_err(crate::store::gix_error)? {
        let id = info
            .map_err(|e| anyhow::anyhow!("walking refs/okr/state: {e}"))?
            .id;
        let commit = repo.find_commit(id).map_err(crate::store::gix_error)?;
        let subject = commit
            .message_raw_sloppy()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        out.push((id, subject));
    }
    Ok(out)
}
