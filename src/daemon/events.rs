//! Which events a move of `refs/okr/state` or of the measured branch was, decided cheaply:
//! the state trees of consecutive commits are compared by the ids of a few entries
//! (`okrs`, `plans`, and three files under `metrics`), never by reading files or walking
//! all of history. Only the commits the ref gained are looked at (its first-parent chain
//! back to the old tip, a bounded number of them).
//!
//! A commit this clone's daemon made while running job X (trailers `Okr-Actor: daemon`,
//! `Okr-Clone: <this clone>`, `Okr-Job: X`) does not trigger X again: a job never
//! triggers itself in a loop.

use crate::model::jobs::Event;
use crate::store::{gix_error, parse_trailers, Store};
use anyhow::Result;
use gix::ObjectId;

/// How many commits the state ref may gain in one move before its events are decided by
/// comparing the old and new trees directly (e.g. a sync that brought a week of work).
const MAX_WALK: usize = 64;

/// Files under `metrics/` whose change means metrics or CI results were recorded (the
/// snapshots measurement writes are not among them).
const RECORDED: [&str; 3] = ["manual.yml", "ci_report.json", "ci_history.jsonl"];

/// One event, and the job whose own commit caused it (that job is not triggered by it).
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub event: Event,
    pub by_job: Option<String>,
}

/// The ids that tell the events apart, of one state tree.
#[derive(Debug, Default, PartialEq)]
struct Marks {
    okrs: Option<ObjectId>,
    plans: Option<ObjectId>,
    recorded: [Option<ObjectId>; 3],
}

fn marks(store: &Store, commit: Option<ObjectId>) -> Result<Marks> {
    let Some(commit) = commit else {
        return Ok(Marks::default());
    };
    let repo = store.repo();
    let tree = store.tree_of(commit)?;
    let entries = entries_of(repo, tree)?;
    let get = |name: &str| entries.iter().find(|(n, _)| n == name).map(|(_, id)| *id);
    let mut recorded = [None; 3];
    if let Some(metrics) = get("metrics") {
        let inner = entries_of(repo, metrics).unwrap_or_default();
        for (slot, name) in recorded.iter_mut().zip(RECORDED) {
            *slot = inner.iter().find(|(n, _)| n == name).map(|(_, id)| *id);
        }
    }
    Ok(Marks {
        okrs: get("okrs"),
        plans: get("plans"),
        recorded,
    })
}

fn entries_of(repo: &gix::Repository, tree: ObjectId) -> Result<Vec<(String, ObjectId)>> {
    let tree = repo.find_tree(tree).map_err(gix_error)?;
    let decoded = tree.decode().map_err(gix_error)?;
    Ok(decoded
        .entries
        .iter()
        .map(|e| (e.filename.to_string(), e.oid.to_owned()))
        .collect())
}

fn compare(before: &Marks, after: &Marks) -> Vec<Event> {
    let mut out = Vec::new();
    if before.okrs != after.okrs && after.okrs.is_some() {
        out.push(Event::OkrsChanged);
    }
    if before.recorded != after.recorded && after.recorded.iter().any(Option::is_some) {
        out.push(Event::MetricsRecorded);
    }
    if before.plans != after.plans && after.plans.is_some() {
        out.push(Event::PlanCreated);
    }
    out
}

/// The job a commit was made by, if this clone's daemon made it.
fn own_job(store: &Store, commit: ObjectId, clone_id: &str) -> Option<String> {
    let c = store.repo().find_commit(commit).ok()?;
    let message = c.message_raw().ok()?.to_string();
    let trailers = parse_trailers(&message);
    let get = |k: &str| {
        trailers
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let clone = get("Okr-Clone")?.split_whitespace().next()?;
    (get("Okr-Actor") == Some("daemon") && clone == clone_id)
        .then(|| get("Okr-Job").map(str::to_string))
        .flatten()
}

fn first_parent(store: &Store, commit: ObjectId) -> Result<Option<ObjectId>> {
    let c = store.repo().find_commit(commit).map_err(gix_error)?;
    let parent = c.parent_ids().next().map(|id| id.detach());
    Ok(parent)
}

/// The events of the state ref moving from `old` to `new`.
pub fn state_moved(
    store: &Store,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    clone_id: &str,
) -> Result<Vec<Fired>> {
    let Some(new) = new else {
        return Ok(Vec::new());
    };
    // The first-parent chain back to `old`, newest first.
    let mut chain = Vec::new();
    let mut at = Some(new);
    while at != old {
        let Some(c) = at else { break };
        if chain.len() == MAX_WALK {
            break;
        }
        let parent = first_parent(store, c)?;
        chain.push((c, parent));
        at = parent;
    }
    let mut out: Vec<Fired> = Vec::new();
    let mut add = |event: Event, by_job: Option<String>| {
        let f = Fired { event, by_job };
        if !out.contains(&f) {
            out.push(f);
        }
    };
    if at != old {
        // Not reached (a rewritten ref, a long sync): compare the two trees; nobody's own.
        for e in compare(&marks(store, old)?, &marks(store, Some(new))?) {
            add(e, None);
        }
        return Ok(out);
    }
    for (commit, parent) in chain {
        let by = own_job(store, commit, clone_id);
        for e in compare(&marks(store, parent)?, &marks(store, Some(commit))?) {
            add(e, by.clone());
        }
    }
    Ok(out)
}

/// The measured branch: `branch:` of `metrics/definitions.yml`, else HEAD; with the id it
/// points at now.
pub fn measured_branch(store: &Store) -> Option<(String, ObjectId)> {
    let name = store
        .snapshot()
        .ok()
        .and_then(|s| crate::ctx::load_definitions(&s).ok())
        .and_then(|d| d.branch)
        .unwrap_or_else(|| "HEAD".to_string());
    let id = store
        .repo()
        .rev_parse_single(name.as_str())
        .ok()?
        .object()
        .ok()?
        .peel_to_commit()
        .ok()?
        .id;
    Some((name, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_compare_by_entry() {
        let id = |b: u8| Some(ObjectId::from_bytes_or_panic(&[b; 20]));
        let base = Marks {
            okrs: id(1),
            plans: None,
            recorded: [id(2), None, None],
        };
        assert!(compare(&base, &base).is_empty());
        let okrs = Marks {
            okrs: id(3),
            ..Marks {
                ..base_clone(&base)
            }
        };
        assert_eq!(compare(&base, &okrs), [Event::OkrsChanged]);
        let ci = Marks {
            recorded: [id(2), id(4), None],
            plans: id(5),
            ..base_clone(&base)
        };
        assert_eq!(
            compare(&base, &ci),
            [Event::MetricsRecorded, Event::PlanCreated]
        );
    }

    fn base_clone(m: &Marks) -> Marks {
        Marks {
            okrs: m.okrs,
            plans: m.plans,
            recorded: m.recorded,
        }
    }
}
