//! `git okr okr propose|list|show|approve|reject|apply` (and `git okr propose|apply`).
//!
//! Every step is one state commit carrying `Okr-Action`, `Okr-Actor`, `Okr-Proposal` and
//! the KRs/objectives it touches. Permissions are read from the current state only.

use super::files::normalize;
use super::output::colour_diff;
use crate::cli::{ApplyArgs, OkrCommand, ProposalListArgs, ProposeArgs};
use crate::ctx::{load_permissions, okr_texts, require_initialized};
use crate::ctx::{Actor, Ctx};
use crate::model::permissions::Permissions;
use crate::model::proposal::{
    diff_summary, proposal_path, Change, LifecycleStep, Proposal, ProposalStatus, PROPOSALS_DIR,
};
use crate::model::yaml_error;
use crate::model::Refused;
use crate::proposal::history;
use crate::proposal::{check_agent, effect, effect_on_moved_base, new_id, parse_set, Texts};
use crate::store::{Changes, Commit, CommitMessage, Snapshot, Step};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;

pub fn run(ctx: &Ctx, cmd: OkrCommand) -> Result<()> {
    match cmd {
        OkrCommand::Propose(args) => journaled(ctx, "propose", None, || propose(ctx, args)),
        OkrCommand::List(args) => list(ctx, args),
        OkrCommand::Show(args) => show(ctx, &args.id, args.json),
        OkrCommand::Approve(args) => decide(ctx, &args.id, ProposalStatus::Approved, None),
        OkrCommand::Reject(args) => {
            decide(ctx, &args.id, ProposalStatus::Rejected, Some(args.reason))
        }
        OkrCommand::Apply(args) => {
            let subject = args.id.clone().or(args.proposal.clone());
            journaled(ctx, "apply", subject.as_deref(), || apply_cmd(ctx, args))
        }
    }
}

/// Run an attempt; when it is refused or fails (and so leaves no commit), note it in
/// this clone's journal before passing the error on.
fn journaled(
    ctx: &Ctx,
    action: &str,
    subject: Option<&str>,
    attempt: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let result = attempt();
    if let Err(e) = &result {
        let entry = crate::audit::journal::Entry::of(action, &ctx.actor.id(), subject, e);
        if let Err(journal_error) = crate::audit::journal::record(&ctx.store, &entry) {
            eprintln!("warning: could not journal the {action} attempt: {journal_error:#}");
        }
    }
    result
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The structured changes the command line asks for (files are read here, once).
fn requested_changes(args: &ProposeArgs) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for set in &args.set {
        changes.push(parse_set(set)?);
    }
    let file = match &args.file {
        Some(f) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            Some((f, text))
        }
        None => None,
    };
    if let (Some(objective), Some((f, text))) = (&args.add_kr, &file) {
        let kr: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| yaml_error(&f.display().to_string(), e))?;
        changes.push(Change::AddKr {
            objective: objective.clone(),
            kr,
        });
    }
    for id in &args.remove {
        changes.push(Change::Remove { id: id.clone() });
    }
    if let (None, Some((f, text))) = (&args.add_kr, &file) {
        let path = match &args.path {
            Some(p) => normalize(p)?,
            None => {
                let name = f
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| anyhow!("{}: no file name", f.display()))?;
                format!("okrs/{name}")
            }
        };
        changes.push(Change::PutFile {
            path,
            content: text.clone(),
        });
    }
    if let Some(dir) = &args.from {
        changes.extend(files_from(dir)?);
    }
    if changes.is_empty() {
        bail!("nothing to propose: give --set ID.FIELD=VALUE, --add-kr OBJECTIVE --file KR.yml, --remove ID, --file OKRS.yml or --from DIR");
    }
    Ok(changes)
}

/// OKRchestra's `okr propose --from DIR`: every `*.yml` in DIR, proposed as
/// `okrs/<name>` whole, in one proposal.
fn files_from(dir: &std::path::Path) -> Result<Vec<Change>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && (name.ends_with(".yml") || name.ends_with(".yaml")) {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("{}: no *.yml files to propose", dir.display());
    }
    let mut changes = Vec::new();
    for name in names {
        let path = normalize(&format!("okrs/{name}"))?;
        let file = dir.join(&name);
        let content = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        changes.push(Change::PutFile { path, content });
    }
    Ok(changes)
}

fn okr_map(snap: &Snapshot<'_>) -> Result<Texts> {
    Ok(okr_texts(snap)?.into_iter().collect())
}

/// `Okr-Proposal`, `Okr-KR` and `Okr-Objective` trailers of a proposal's commits.
fn with_ids(
    mut msg: CommitMessage,
    id: &str,
    krs: &[String],
    objectives: &[String],
) -> CommitMessage {
    msg = msg.trailer("Okr-Proposal", id);
    for kr in krs {
        msg = msg.trailer("Okr-KR", kr);
    }
    for objective in objectives {
        msg = msg.trailer("Okr-Objective", objective);
    }
    msg
}

fn propose(ctx: &Ctx, args: ProposeArgs) -> Result<()> {
    let reason = match (args.reason.as_deref().map(str::trim), &args.from) {
        (Some(r), _) if !r.is_empty() => r.to_string(),
        // OKRchestra's note was optional; say at least where the files came from.
        (None, Some(dir)) => format!("proposed from {}", dir.display()),
        _ => bail!("--reason must say why the change is needed"),
    };
    crate::model::ids::check_line(&reason).map_err(|e| anyhow!("--reason {e}"))?;
    let requested = requested_changes(&args)?;
    let p = propose_changes(ctx, &requested, &reason)?;
    println!("Proposed {} ({})", p.id, p.summary());
    for change in &p.changes {
        println!("  {change}");
    }
    println!(
        "Review with `git okr okr show {}`; a person approves with `git okr okr approve {}`",
        p.id, p.id
    );
    Ok(())
}

/// Commit a proposal of `requested` by `ctx.actor`, with every check `okr propose` makes
/// (validation of the result, agent permissions). The MCP server proposes through here too.
pub(super) fn propose_changes(ctx: &Ctx, requested: &[Change], reason: &str) -> Result<Proposal> {
    let reason = reason.trim().to_string();
    if reason.is_empty() {
        bail!("--reason must say why the change is needed");
    }
    let created = now_text();
    let today = chrono::Utc::now().date_naive();
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        // Read (and so validate) the permissions even for people: a broken file must be loud.
        let perms = load_permissions(snap)?;
        let effect = effect(&okr_map(snap)?, requested)?;
        if effect.files.is_empty() {
            bail!("the proposal changes nothing: the OKR files already say this");
        }
        if let Actor::Agent(agent) = &ctx.actor {
            check_agent(&perms, agent, &effect.owners)?;
        }
        let taken = proposal_ids(snap)?;
        let id = new_id(today, |id| taken.iter().any(|t| t == id));
        let proposal = Proposal {
            id: id.clone(),
            proposer: ctx.actor.id(),
            created: created.clone(),
            base: snap.tip().map(|t| t.to_string()).unwrap_or_default(),
            reason: reason.clone(),
            changes: effect.changes.clone(),
            krs: effect.krs.iter().cloned().collect(),
            objectives: effect.objectives.iter().cloned().collect(),
            lifecycle: vec![LifecycleStep {
                status: ProposalStatus::Proposed,
                by: ctx.actor.id(),
                at: created.clone(),
                reason: None,
            }],
            files: effect.files.clone(),
        };
        let mut changes = Changes::new();
        changes.write(proposal_path(&id), proposal.render()?);
        let body = std::iter::once(reason.clone())
            .chain(std::iter::once(String::new()))
            .chain(proposal.changes.iter().map(|c| format!("- {c}")))
            .collect::<Vec<_>>()
            .join("\n");
        let message = ctx
            .message(
                format!("okr: propose {id} ({})", proposal.summary()),
                "propose",
            )
            .body(body);
        let message = with_ids(message, &id, &proposal.krs, &proposal.objectives);
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: proposal,
        }))
    })?;
    Ok(outcome.value().clone())
}

/// The ids of every proposal on the state, sorted.
pub(super) fn proposal_ids(snap: &Snapshot<'_>) -> Result<Vec<String>> {
    Ok(snap
        .list(PROPOSALS_DIR)?
        .iter()
        .filter_map(|p| {
            p.strip_prefix(PROPOSALS_DIR)?
                .strip_suffix(".yml")
                .map(String::from)
        })
        .collect())
}

/// The proposal named by `given`: its exact id, or a unique prefix of one.
pub(super) fn load(snap: &Snapshot<'_>, given: &str) -> Result<Proposal> {
    let ids = proposal_ids(snap)?;
    let id = if ids.iter().any(|i| i == given) {
        given.to_string()
    } else {
        let matches: Vec<&String> = ids
            .iter()
            .filter(|i| !given.is_empty() && i.starts_with(given))
            .collect();
        match matches.as_slice() {
            [one] => one.to_string(),
            [] => bail!("no proposal {given:?} on refs/okr/state (see `git okr okr list`)"),
            many => bail!(
                "{given:?} names {} proposals ({}); give more of the id",
                many.len(),
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    let path = proposal_path(&id);
    let text = snap
        .read_text(&path)?
        .ok_or_else(|| anyhow!("{path}: missing"))?;
    let proposal = Proposal::parse(&path, &text)?;
    if proposal.id != id {
        bail!("{path}: its id says {:?}", proposal.id);
    }
    Ok(proposal)
}

/// The proposal named by `given` with its proposer and lifecycle taken from history
/// (the file's own claims are never trusted; see `proposal::history`).
pub(super) fn load_settled(ctx: &Ctx, snap: &Snapshot<'_>, given: &str) -> Result<Proposal> {
    let mut p = load(snap, given)?;
    history::derive(&ctx.store, snap.tip())?.settle(&mut p)?;
    Ok(p)
}

/// People approve and apply (those in `approvers`, or anyone when the list is empty);
/// agents never do.
fn require_approver(ctx: &Ctx, perms: &Permissions, verb: &str) -> Result<()> {
    may_approve(ctx, perms, verb)
}

fn may_approve(ctx: &Ctx, perms: &Permissions, verb: &str) -> Result<()> {
    match &ctx.actor {
        Actor::Agent(agent) => Err(Refused(format!(
            "agent {agent} may not {verb} proposals: agents never approve or apply (a person must)"
        ))
        .into()),
        Actor::Daemon { .. } => Err(Refused(format!(
            "the daemon may not {verb} proposals: only a person approves or applies"
        ))
        .into()),
        Actor::Person { name, email } => {
            if !perms.may_approve(name, email) {
                return Err(Refused(format!(
                    "{email} may not {verb} proposals: not among the approvers in okrs/permissions.yml ({})",
                    perms.approvers.join(", ")
                ))
                .into());
            }
            Ok(())
        }
    }
}

/// Approve or reject: one lifecycle step. Proposers may also withdraw (reject) their own.
fn decide(ctx: &Ctx, given: &str, to: ProposalStatus, reason: Option<String>) -> Result<()> {
    let reason = reason.map(|r| r.trim().to_string());
    if reason.as_deref() == Some("") {
        bail!("--reason must say why the proposal is rejected");
    }
    if let Some(r) = &reason {
        crate::model::ids::check_line(r).map_err(|e| anyhow!("--reason {e}"))?;
    }
    let at = now_text();
    let outcome = ctx.store.transact(|snap| {
        let (changes, message, id) = decide_step(ctx, snap, given, to, reason.clone(), &at)?;
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: id,
        }))
    })?;
    let id = outcome.value();
    match to {
        ProposalStatus::Approved => {
            println!("Approved {id}; apply it with `git okr okr apply {id}`")
        }
        _ => println!("Rejected {id}"),
    }
    Ok(())
}

/// The commit that approves or rejects proposal `given` on `snap`.
fn decide_step(
    ctx: &Ctx,
    snap: &Snapshot<'_>,
    given: &str,
    to: ProposalStatus,
    reason: Option<String>,
    at: &str,
) -> Result<(Changes, CommitMessage, String)> {
    let verb = if to == ProposalStatus::Approved {
        "approve"
    } else {
        "reject"
    };
    require_initialized(snap)?;
    let perms = load_permissions(snap)?;
    let mut p = load_settled(ctx, snap, given)?;
    let withdrawing = to == ProposalStatus::Rejected && p.proposer == ctx.actor.id();
    if !withdrawing {
        require_approver(ctx, &perms, verb)?;
    }
    if !p.status().may_become(to) {
        bail!(
            "{} is {}; only a proposed proposal can be {verb}d",
            p.id,
            p.status()
        );
    }
    p.lifecycle.push(LifecycleStep {
        status: to,
        by: ctx.actor.id(),
        at: at.to_string(),
        reason: reason.clone(),
    });
    let mut changes = Changes::new();
    changes.write(proposal_path(&p.id), p.render()?);
    let mut message = ctx.message(format!("okr: {verb} {}", p.id), verb);
    if let Some(r) = &reason {
        message = message.body(r.clone());
    }
    let message = with_ids(message, &p.id, &p.krs, &p.objectives);
    Ok((changes, message, p.id.clone()))
}

/// `apply ID`, `apply --proposal ID|DIR`, and with `--i-understand` approve and apply at once.
fn apply_cmd(ctx: &Ctx, args: ApplyArgs) -> Result<()> {
    let given = match (&args.id, &args.proposal) {
        (Some(id), _) => id.clone(),
        (None, Some(p)) => okrchestra_proposal(p),
        (None, None) => bail!("name the proposal to apply"),
    };
    if args.i_understand {
        approve_and_apply(ctx, &given)
    } else {
        apply(ctx, &given)
    }
}

/// An OKRchestra proposal folder (`artifacts/proposals/20260118-100000-agent`) → the id
/// `init --from` gave it; anything else is taken as an id.
fn okrchestra_proposal(given: &str) -> String {
    let name = given
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(given);
    let day = name
        .get(..8)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    match day {
        Some(day) if given.contains('/') || !name.starts_with("P-") => {
            let created = format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..8]);
            crate::migrate::artifacts::proposal_id(&created, name)
        }
        _ => name.to_string(),
    }
}

/// A person approving and applying in one step: an approve commit (unless it is already
/// approved) and the apply commit, moved onto the ref together.
fn approve_and_apply(ctx: &Ctx, given: &str) -> Result<()> {
    let at = now_text();
    let (head, (id, summary)) = ctx.store.transact_chain(|snap, chain| {
        require_initialized(snap)?;
        if load_settled(ctx, snap, given)?.status() == ProposalStatus::Proposed {
            let (changes, message, _) =
                decide_step(ctx, snap, given, ProposalStatus::Approved, None, &at)?;
            chain.commit(&changes, &message, None)?;
        }
        let approved = ctx.store.snapshot_at(chain.head())?;
        let (changes, message, value) = apply_step(ctx, &approved, given, &at)?;
        chain.commit(&changes, &message, None)?;
        Ok(value)
    })?;
    match head {
        Some(commit) => println!(
            "Approved and applied {id} ({summary}) at {}",
            commit.to_hex_with_len(7)
        ),
        None => println!("Applied {id} ({summary})"),
    }
    Ok(())
}

fn apply(ctx: &Ctx, given: &str) -> Result<()> {
    let at = now_text();
    let outcome = ctx.store.transact(|snap| {
        let (changes, message, value) = apply_step(ctx, snap, given, &at)?;
        Ok(Step::Commit(Commit {
            changes,
            message,
            value,
        }))
    })?;
    let (id, summary) = outcome.value();
    match outcome.commit_id() {
        Some(commit) => println!("Applied {id} ({summary}) at {}", commit.to_hex_with_len(7)),
        None => println!("Applied {id} ({summary})"),
    }
    Ok(())
}

/// The commit that applies approved proposal `given` to the OKR files of `snap`.
fn apply_step(
    ctx: &Ctx,
    snap: &Snapshot<'_>,
    given: &str,
    at: &str,
) -> Result<(Changes, CommitMessage, (String, String))> {
    require_initialized(snap)?;
    let perms = load_permissions(snap)?;
    require_approver(ctx, &perms, "apply")?;
    let mut p = load_settled(ctx, snap, given)?;
    let last = p.lifecycle.last().cloned();
    match p.status() {
        ProposalStatus::Approved => {}
        ProposalStatus::Proposed => bail!(
            "{} is not approved yet: a person runs `git okr okr approve {}` first",
            p.id,
            p.id
        ),
        status => {
            let step = last.expect("a parsed proposal has a lifecycle");
            let why = step.reason.map(|r| format!(": {r}")).unwrap_or_default();
            bail!(
                "{} cannot be applied: it was {status} by {} at {}{why}",
                p.id,
                step.by,
                step.at
            );
        }
    }
    let base_id = gix::ObjectId::from_hex(p.base.as_bytes()).map_err(|_| {
        anyhow!(
            "{}: base {:?} is not a commit id",
            proposal_path(&p.id),
            p.base
        )
    })?;
    let base_snap = ctx.store.snapshot_at(Some(base_id)).with_context(|| {
        format!(
            "reading the base commit {} of {}",
            &p.base[..p.base.len().min(7)],
            p.id
        )
    })?;
    let effect = effect_on_moved_base(&okr_map(&base_snap)?, &okr_map(snap)?, &p.changes)
        .with_context(|| format!("cannot apply {}", p.id))?;
    // The proposer's rights are judged by today's permissions, not those of the day it proposed.
    if let Some(agent) = p.proposer.strip_prefix("agent:") {
        check_agent(&perms, agent, &effect.owners)
            .with_context(|| format!("cannot apply {}", p.id))?;
    }
    p.lifecycle.push(LifecycleStep {
        status: ProposalStatus::Applied,
        by: ctx.actor.id(),
        at: at.to_string(),
        reason: None,
    });
    let mut changes = Changes::new();
    for f in &effect.files {
        changes.write(f.path.clone(), effect.after[&f.path].clone());
    }
    changes.write(proposal_path(&p.id), p.render()?);
    let summary = if effect.files.is_empty() {
        "no OKR file changes".to_string()
    } else {
        diff_summary(&effect.files)
    };
    let mut body = vec![p.reason.clone(), String::new()];
    body.extend(
        effect
            .files
            .iter()
            .map(|f| format!("{} +{} -{}", f.path, f.added, f.removed)),
    );
    if effect.files.is_empty() {
        body.push("The OKR files already held these changes.".into());
    }
    let message = ctx
        .message(format!("okr: apply {} ({summary})", p.id), "apply")
        .body(body.join("\n"));
    let krs: Vec<String> = effect.krs.iter().cloned().collect();
    let objectives: Vec<String> = effect.objectives.iter().cloned().collect();
    let message = with_ids(message, &p.id, &krs, &objectives);
    Ok((changes, message, (p.id.clone(), summary)))
}

fn list(ctx: &Ctx, args: ProposalListArgs) -> Result<()> {
    let status = match &args.status {
        Some(s) => Some(ProposalStatus::parse(s.trim()).ok_or_else(|| {
            let all: Vec<&str> = ProposalStatus::ALL.iter().map(|s| s.as_str()).collect();
            anyhow!(
                "--status {s:?} is not a proposal status ({})",
                all.join(", ")
            )
        })?),
        None => None,
    };
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let mut proposals = Vec::new();
    let history = history::derive(&ctx.store, snap.tip())?;
    for id in proposal_ids(&snap)? {
        let mut p = load(&snap, &id)?;
        // A file no propose commit made is not a proposal; say so, list the others.
        if let Err(e) = history.settle(&mut p) {
            eprintln!("warning: {e:#}");
            continue;
        }
        if status.is_none_or(|s| p.status() == s) {
            proposals.push(p);
        }
    }
    proposals.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
    let mut out = std::io::stdout().lock();
    if args.json {
        let rows: Vec<serde_json::Value> =
            proposals.iter().map(|p| proposal_json(p, false)).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    if proposals.is_empty() {
        writeln!(
            out,
            "No proposals{}",
            status
                .map(|s| format!(" in status {s}"))
                .unwrap_or_default()
        )?;
    }
    for p in &proposals {
        writeln!(
            out,
            "{}  {:<8}  {:<24}  {}  {}",
            p.id,
            p.status().as_str(),
            p.proposer,
            p.created,
            p.reason.lines().next().unwrap_or("")
        )?;
    }
    Ok(())
}

/// The JSON of `okr list --json` (one element) and `okr show --json` (with diffs).
fn proposal_json(p: &Proposal, with_diffs: bool) -> serde_json::Value {
    let files: Vec<serde_json::Value> = p
        .files
        .iter()
        .map(|f| {
            let mut file =
                serde_json::json!({"path": f.path, "added": f.added, "removed": f.removed});
            if with_diffs {
                file["diff"] = serde_json::Value::String(f.diff.clone());
            }
            file
        })
        .collect();
    serde_json::json!({
        "id": p.id, "status": p.status().as_str(), "proposer": p.proposer, "created": p.created,
        "base": p.base, "reason": p.reason, "krs": p.krs, "objectives": p.objectives,
        "changes": p.changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "files": files,
        "lifecycle": p.lifecycle,
    })
}

fn show(ctx: &Ctx, given: &str, json: bool) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let p = load_settled(ctx, &snap, given)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&proposal_json(&p, true))?
        );
        return Ok(());
    }
    let mut out = String::new();
    out.push_str(&format!("proposal  {}  [{}]\n", p.id, p.status()));
    out.push_str(&format!(
        "proposer  {}\ncreated   {}\nbase      {}\nreason    {}\n",
        p.proposer,
        p.created,
        p.base.chars().take(12).collect::<String>(),
        p.reason
    ));
    out.push_str("changes\n");
    for c in &p.changes {
        out.push_str(&format!("  {c}\n"));
    }
    out.push_str("lifecycle\n");
    for s in &p.lifecycle {
        let why = s
            .reason
            .as_deref()
            .map(|r| format!("  ({r})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<8}  {}  {}{why}\n",
            s.status.as_str(),
            s.by,
            s.at
        ));
    }
    out.push_str(&format!("files     {}\n\n", p.summary()));
    for f in &p.files {
        out.push_str(&colour_diff(&f.diff));
    }
    anstream::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
