//! A proposal's lifecycle as a fact of history, not of file content.
//!
//! `proposals/<id>.yml` is a file anyone with push access (or an agent during a run) can
//! write, including a `lifecycle` that says `approved`. So decisions never read it: the
//! lifecycle is derived from the commits that touched the file, in history order —
//! a `propose` commit that created it, then `approve` / `reject` / `apply` commits — and
//! a step counts only when its actor was allowed to take it at that point:
//!
//! - approve and apply: a person (never `agent:…`) whose `Okr-Actor` is the commit's
//!   committer email and who is among `approvers` in `okrs/permissions.yml` as it was
//!   just before that commit (an empty list lets every person approve);
//! - reject: such an approver, or the proposer withdrawing their own proposal;
//! - every step must follow the lifecycle's edges (`proposed → approved | rejected`,
//!   `approved → applied`).
//!
//! Commits that touched the file any other way, or claimed a step they could not take,
//! are listed as ignored so `okr show` can say why.

use crate::model::okrs::PERMISSIONS_FILE;
use crate::model::permissions::Permissions;
use crate::model::proposal::{LifecycleStep, ProposalStatus, PROPOSALS_DIR};
use crate::store::{parse_trailers, FolderChange, Store};
use anyhow::Result;
use gix::ObjectId;
use std::collections::{BTreeMap, HashMap};

/// The derived lifecycle of one proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    /// The `Okr-Actor` of the propose commit.
    pub proposer: String,
    /// The steps that counted, the first being `proposed`.
    pub steps: Vec<LifecycleStep>,
    /// The commit of each step.
    pub commits: Vec<ObjectId>,
    /// Commits that touched the file without counting, and why.
    pub ignored: Vec<String>,
}

impl Lifecycle {
    pub fn status(&self) -> ProposalStatus {
        self.steps
            .last()
            .map(|s| s.status)
            .unwrap_or(ProposalStatus::Proposed)
    }
}

/// What the history says about the proposals of a state: the derived lifecycle of each
/// proposal that has a propose commit, and the files that have none.
#[derive(Debug, Default)]
pub struct History {
    pub lifecycles: BTreeMap<String, Lifecycle>,
    /// Proposal ids whose file no propose commit created, with the commits that wrote it.
    pub unproposed: BTreeMap<String, Vec<String>>,
}

/// Derive every proposal's lifecycle from the history of `tip`.
///
/// The candidate step commits come from the audit mirror (which follows the ref
/// incrementally, so this costs a query, not a walk of every state commit); each is
/// then checked against the objects themselves. Without a usable mirror, the history
/// is walked.
pub fn derive(store: &Store, tip: Option<ObjectId>) -> Result<History> {
    let Some(tip) = tip else {
        return Ok(History::default());
    };
    let folder = PROPOSALS_DIR.trim_end_matches('/');
    let changes = match mirrored_candidates(store, tip) {
        Ok(Some(candidates)) => {
            let mut changes = Vec::new();
            for commit in candidates {
                // One commit may name several proposals (an import).
                let message = store.message_of(commit)?;
                for id in proposal_ids_named(&message) {
                    if let Some(change) = store.change_of(commit, folder, &format!("{id}.yml"))? {
                        changes.push(change);
                    }
                }
            }
            changes
        }
        _ => store.folder_history(tip, folder)?,
    };
    derive_from(store, &changes)
}

/// Every valid proposal id in a message's `Okr-Proposal` trailers, in order.
fn proposal_ids_named(message: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (k, v) in parse_trailers(message) {
        if k == "Okr-Proposal" && crate::model::proposal::is_proposal_id(&v) && !ids.contains(&v) {
            ids.push(v);
        }
    }
    ids
}

/// The commits the audit mirror of `tip` records as proposal steps, parents before
/// children; `None` when the mirror is not at `tip`.
fn mirrored_candidates(store: &Store, tip: ObjectId) -> Result<Option<Vec<ObjectId>>> {
    let okr_dir = store.okr_dir()?;
    let rows = crate::db::with_db(&okr_dir, |conn| {
        crate::audit::follow::follow(store.repo(), conn, Some(tip), false)?;
        // One read transaction: the tip check and the rows see the same mirror.
        let tx = conn.transaction()?;
        let mirrored = crate::db::meta_get(&tx, crate::audit::schema::TIP_KEY)?;
        if mirrored.as_deref() != Some(tip.to_string().as_str()) {
            return Ok(None);
        }
        let mut stmt = tx.prepare(
            "SELECT commit_id, proposal FROM audit_events
             WHERE derived = 0 AND proposal IS NOT NULL
               AND action IN ('propose', 'approve', 'reject', 'apply')
             ORDER BY seq, id",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(rows))
    })?;
    let Some(rows) = rows else {
        return Ok(None);
    };
    let mut out: Vec<ObjectId> = Vec::new();
    for (commit, _) in rows {
        if let Ok(commit) = ObjectId::from_hex(commit.as_bytes()) {
            if !out.contains(&commit) {
                out.push(commit);
            }
        }
    }
    Ok(Some(out))
}

/// Run the lifecycle rules over changes to proposal files, in history order.
fn derive_from(store: &Store, changes: &[FolderChange]) -> Result<History> {
    let mut perms = PermissionsAt::new(store);
    let mut history = History::default();
    for change in changes {
        for (name, before, after) in &change.files {
            let Some(id) = name.strip_suffix(".yml") else {
                continue;
            };
            step(
                &mut history,
                &mut perms,
                change,
                id,
                before.is_none() && after.is_some(),
            )?;
        }
    }
    Ok(history)
}

/// One commit that touched `proposals/<id>.yml`: count it as a step, or note why not.
fn step(
    history: &mut History,
    perms: &mut PermissionsAt<'_>,
    change: &FolderChange,
    id: &str,
    created: bool,
) -> Result<()> {
    let trailers = parse_trailers(&change.message);
    let trailer = |key: &str| {
        trailers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (action, actor) = (trailer("Okr-Action"), trailer("Okr-Actor"));
    let short = change.commit.to_hex_with_len(7).to_string();
    let said = format!(
        "commit {short} ({} by {})",
        or_none(&action),
        or_none(&actor)
    );
    let names_it = proposal_ids_named(&change.message).iter().any(|n| n == id);
    let step_status = match action.as_str() {
        "propose" => Some(ProposalStatus::Proposed),
        "approve" => Some(ProposalStatus::Approved),
        "reject" => Some(ProposalStatus::Rejected),
        "apply" => Some(ProposalStatus::Applied),
        _ => None,
    };
    let Some(to) = step_status.filter(|_| names_it) else {
        ignore(history, id, format!("{said}: not a proposal step"));
        return Ok(());
    };
    let at = rfc3339(change.time);
    if to == ProposalStatus::Proposed && !trailer("Okr-Import").is_empty() {
        return imported(history, perms, store_of(perms), change, id, &actor, &said);
    }
    if to == ProposalStatus::Proposed {
        if history.lifecycles.contains_key(id) || !created {
            ignore(history, id, format!("{said}: proposed twice"));
        } else if actor.is_empty() || !actor_is_committer(&actor, change) {
            ignore(
                history,
                id,
                format!("{said}: its Okr-Actor is not its committer"),
            );
        } else {
            history.unproposed.remove(id);
            history.lifecycles.insert(
                id.to_string(),
                Lifecycle {
                    proposer: actor.clone(),
                    steps: vec![LifecycleStep {
                        status: to,
                        by: actor,
                        at,
                        reason: None,
                    }],
                    commits: vec![change.commit],
                    ignored: Vec::new(),
                },
            );
        }
        return Ok(());
    }
    let Some(life) = history.lifecycles.get(id) else {
        ignore(history, id, format!("{said}: before any propose commit"));
        return Ok(());
    };
    if !life.status().may_become(to) {
        let why = format!("{said}: the proposal was {} then", life.status());
        ignore(history, id, why);
        return Ok(());
    }
    let withdrawing = to == ProposalStatus::Rejected && actor == life.proposer;
    let refusal = if withdrawing {
        None
    } else {
        approver_refusal(perms, change, &actor)?
    };
    if let Some(why) = refusal {
        ignore(history, id, format!("{said}: {why}"));
        return Ok(());
    }
    let reason = (to == ProposalStatus::Rejected)
        .then(|| body_of(&change.message))
        .flatten();
    if let Some(life) = history.lifecycles.get_mut(id) {
        life.steps.push(LifecycleStep {
            status: to,
            by: actor,
            at,
            reason,
        });
        life.commits.push(change.commit);
    }
    Ok(())
}

fn store_of<'s>(perms: &PermissionsAt<'s>) -> &'s Store {
    perms.store
}

/// A proposal brought in by an import (`Okr-Import`, OKRchestra's proposals): its file's
/// own proposer and lifecycle count, because a person allowed to approve made the
/// import commit and so vouches for them. Anyone else's import counts for nothing.
fn imported(
    history: &mut History,
    perms: &mut PermissionsAt<'_>,
    store: &Store,
    change: &FolderChange,
    id: &str,
    actor: &str,
    said: &str,
) -> Result<()> {
    let created = change
        .files
        .iter()
        .find(|(name, _, _)| name.strip_suffix(".yml") == Some(id))
        .and_then(|(_, before, after)| before.is_none().then_some(*after).flatten());
    let Some(blob) = created else {
        ignore(
            history,
            id,
            format!("{said}: an import that did not create the file"),
        );
        return Ok(());
    };
    if history.lifecycles.contains_key(id) {
        ignore(history, id, format!("{said}: proposed twice"));
        return Ok(());
    }
    if let Some(why) = approver_refusal(perms, change, actor)? {
        ignore(
            history,
            id,
            format!("{said}: an import by someone who may not approve: {why}"),
        );
        return Ok(());
    }
    let path = format!("{PROPOSALS_DIR}{id}.yml");
    let text = String::from_utf8_lossy(&store.read_blob(blob)?).into_owned();
    let claimed = match crate::model::proposal::Proposal::parse(&path, &text) {
        Ok(p) => p,
        Err(e) => {
            ignore(history, id, format!("{said}: {e:#}"));
            return Ok(());
        }
    };
    history.unproposed.remove(id);
    history.lifecycles.insert(
        id.to_string(),
        Lifecycle {
            proposer: claimed.proposer.clone(),
            commits: vec![change.commit; claimed.lifecycle.len()],
            steps: claimed.lifecycle,
            ignored: Vec::new(),
        },
    );
    Ok(())
}

/// Why `actor` could not approve, reject or apply in `change`, if it could not.
fn approver_refusal(
    perms: &mut PermissionsAt<'_>,
    change: &FolderChange,
    actor: &str,
) -> Result<Option<String>> {
    if actor.is_empty() {
        return Ok(Some("no Okr-Actor".into()));
    }
    if actor.starts_with("agent:") {
        return Ok(Some("agents never approve, reject or apply".into()));
    }
    if !actor_is_committer(actor, change) {
        return Ok(Some(format!(
            "its Okr-Actor is not its committer ({})",
            change.committer_email
        )));
    }
    let rules = match perms.before(change)? {
        Ok(rules) => rules,
        Err(e) => {
            return Ok(Some(format!(
                "{PERMISSIONS_FILE} was unreadable then ({e})"
            )))
        }
    };
    if !rules.may_approve(&change.committer_name, actor) {
        return Ok(Some(format!(
            "{actor} was not among the approvers in {PERMISSIONS_FILE} then"
        )));
    }
    Ok(None)
}

fn actor_is_committer(actor: &str, change: &FolderChange) -> bool {
    actor.starts_with("agent:") || actor.eq_ignore_ascii_case(&change.committer_email)
}

fn ignore(history: &mut History, id: &str, why: String) {
    match history.lifecycles.get_mut(id) {
        Some(life) => life.ignored.push(why),
        None => history
            .unproposed
            .entry(id.to_string())
            .or_default()
            .push(why),
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "?"
    } else {
        s
    }
}

/// The paragraph after the subject, unless it is the trailer block (a reject's reason).
fn body_of(message: &str) -> Option<String> {
    let paragraphs: Vec<&str> = message.trim().split("\n\n").collect();
    if paragraphs.len() < 3 {
        return None;
    }
    let body = paragraphs[1..paragraphs.len() - 1].join(" ");
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    (!body.is_empty()).then_some(body)
}

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `okrs/permissions.yml` as it was in a commit's parent, parsed once per version.
struct PermissionsAt<'s> {
    store: &'s Store,
    parsed: HashMap<Option<Vec<u8>>, std::result::Result<Permissions, String>>,
}

impl<'s> PermissionsAt<'s> {
    fn new(store: &'s Store) -> Self {
        PermissionsAt {
            store,
            parsed: HashMap::new(),
        }
    }

    fn before(
        &mut self,
        change: &FolderChange,
    ) -> Result<std::result::Result<Permissions, String>> {
        let bytes = match change.parent {
            Some(parent) => self.store.file_at(parent, PERMISSIONS_FILE)?,
            None => None,
        };
        if let Some(found) = self.parsed.get(&bytes) {
            return Ok(found.clone());
        }
        let text = String::from_utf8_lossy(bytes.as_deref().unwrap_or_default()).into_owned();
        let parsed = Permissions::parse(PERMISSIONS_FILE, &text).map_err(|e| format!("{e:#}"));
        self.parsed.insert(bytes, parsed.clone());
        Ok(parsed)
    }
}

impl History {
    /// Replace the claims of a proposal file (its `proposer` and `lifecycle`) with what
    /// history says; a file no propose commit created is refused.
    pub fn settle(&self, p: &mut crate::model::proposal::Proposal) -> Result<()> {
        let Some(life) = self.lifecycles.get(&p.id) else {
            let why = self
                .unproposed
                .get(&p.id)
                .map(|w| format!(" ({})", w.join("; ")))
                .unwrap_or_default();
            anyhow::bail!(
                "{}: no propose commit created {PROPOSALS_DIR}{}.yml{why}; git-okr does not act on it",
                p.id,
                p.id
            );
        };
        p.proposer = life.proposer.clone();
        p.lifecycle = life.steps.clone();
        Ok(())
    }
}
