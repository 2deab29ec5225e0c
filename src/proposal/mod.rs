//! OKR change proposals: applying structured changes to the OKR files, the diff people
//! review, the permissions an agent needs, and the conflict check of `apply`.
//!
//! Everything here is a pure function of file texts; the commands read the state and
//! commit through the store.

mod diff;
mod edit;
mod fields;
pub mod history;
mod sets;

pub use diff::{file_diff, file_diffs};
pub use edit::{apply_changes_with, edited_text, parse_set};
#[cfg(test)]
use fields::owners_of_change;
pub use fields::{
    conflicts, field_changes, flatten, flatten_changes, flatten_with, owners_of_keys, touched,
    touched_ids, touched_ids_of, Owned, Trees,
};

use crate::model::permissions::Permissions;
use crate::model::proposal::{is_proposal_id, Change, FileDiff};
use crate::model::Refused;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// OKR files by state path.
pub type Texts = BTreeMap<String, String>;

/// The effect of a proposal's changes on a set of OKR files.
#[derive(Debug, Clone)]
pub struct Effect {
    /// Every OKR file's text after the changes.
    pub after: Texts,
    /// The changes with typed values.
    pub changes: Vec<Change>,
    /// The files that differ, with their unified diffs.
    pub files: Vec<FileDiff>,
    pub krs: BTreeSet<String>,
    pub objectives: BTreeSet<String>,
    /// Who owns what the changes touch (for the permission check).
    pub owners: BTreeSet<Owned>,
}

/// Apply `changes` to `before`, validate the result and describe what changed.
pub fn effect(before: &Texts, changes: &[Change]) -> Result<Effect> {
    with_edits_checked_aside(|trees| effect_with(trees, before, changes))
}

/// Run `work` while each edited file's parse is checked on another thread (parsing a
/// large OKR file is most of a proposal's cost; this way it overlaps the rest). If an
/// edit did not mean exactly the tree it was taken for, `work` runs again checking each
/// edit before going on (such an edit then becomes a re-serialized file).
fn with_edits_checked_aside<T>(work: impl Fn(&mut Trees) -> Result<T>) -> Result<T> {
    let mut trees = Trees::checking_aside();
    let out = work(&mut trees);
    if trees.confirm() {
        out
    } else {
        work(&mut Trees::default())
    }
}

/// `effect`, each text parsed at most once through `trees`; only the files that change,
/// and in them only the objectives and KRs that change, are compared field by field.
fn effect_with(trees: &mut Trees, before: &Texts, changes: &[Change]) -> Result<Effect> {
    match sets::effect_of_sets(trees, before, changes)? {
        Some(effect) => Ok(effect),
        None => effect_of_any(trees, before, changes),
    }
}

/// `effect_with` for any changes: every changed file's tree is copied, edited and
/// compared item by item with the old one.
fn effect_of_any(trees: &mut Trees, before: &Texts, changes: &[Change]) -> Result<Effect> {
    let (after, changes) = apply_changes_with(trees, before, changes)?;
    let (fb, fa) = flatten_changes(trees, before, &after)?;
    let keys = touched(&fb, &fa);
    let (krs, objectives) = touched_ids_of(&keys, &fb, &fa);
    Ok(Effect {
        files: file_diffs(before, &after),
        owners: owners_of_keys(&keys, &fb, &fa),
        after,
        changes,
        krs,
        objectives,
    })
}

/// Refuse unless `agent` may propose for every owner in `owners`. The refusal names the
/// agent, the objective, its owner and the rule that refused.
pub fn check_agent(perms: &Permissions, agent: &str, owners: &BTreeSet<Owned>) -> Result<()> {
    for owned in owners {
        let decision = perms.may_propose(agent, owned.owner.as_deref());
        if !decision.allowed {
            let owner = match &owned.owner {
                Some(o) => format!("owned by {o}"),
                None => "which has no owner_id".to_string(),
            };
            return Err(Refused(format!(
                "agent {agent} may not propose changes to {} {owner} (refused by okrs/permissions.yml rule `{}`)",
                owned.what,
                decision.rule
            ))
            .into());
        }
    }
    Ok(())
}

/// An approved proposal no longer applies: something it changes was changed since.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApplyConflict(pub String);

/// Re-apply an approved proposal on today's files `now`. Stops with a conflict naming the
/// field when something it changes was changed since `base` (the files at its base
/// commit) to another value; otherwise returns the effect on `now`.
pub fn effect_on_moved_base(base: &Texts, now: &Texts, changes: &[Change]) -> Result<Effect> {
    with_edits_checked_aside(|trees| effect_on_moved_base_with(trees, base, now, changes))
}

fn effect_on_moved_base_with(
    trees: &mut Trees,
    base: &Texts,
    now: &Texts,
    changes: &[Change],
) -> Result<Effect> {
    if base == now {
        // Nothing changed since the base: nothing can conflict.
        return effect_with(trees, now, changes).map_err(|e| {
            anyhow::anyhow!("the proposal no longer applies to its own base commit: {e:#}")
        });
    }
    let (proposed, _) = apply_changes_with(trees, base, changes).map_err(|e| {
        anyhow::anyhow!("the proposal no longer applies to its own base commit: {e:#}")
    })?;
    let whole_files: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::PutFile { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    let found = conflicts(
        &flatten_with(trees, base)?,
        &flatten_with(trees, &proposed)?,
        &flatten_with(trees, now)?,
        &whole_files,
    );
    if let Some(first) = found.first() {
        let more = match found.len() {
            1 => String::new(),
            n => format!(
                " (and {} more: {})",
                n - 1,
                found[1..]
                    .iter()
                    .map(|c| c.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(ApplyConflict(format!(
            "conflict: {first}{more}; nothing applied (propose the change again on the current state)"
        ))
        .into());
    }
    // A file written whole that changed since base only in comments or layout would lose that too.
    for path in &whole_files {
        if now.get(path) != base.get(path) && now.get(path) != proposed.get(path) {
            return Err(ApplyConflict(format!(
                "conflict: {path} changed since the proposal's base (comments or layout); nothing applied"
            ))
            .into());
        }
    }
    effect_with(trees, now, changes)
        .map_err(|e| anyhow::anyhow!("the proposal is no longer valid on the current state: {e:#}"))
}

/// A new proposal id: `P-YYYYMMDD-` and 6 random hex digits, not one of `taken`.
pub fn new_id(date: chrono::NaiveDate, taken: impl Fn(&str) -> bool) -> String {
    use rand::Rng;
    loop {
        let id = format!(
            "P-{}-{:06x}",
            date.format("%Y%m%d"),
            rand::rng().random_range(0..0x100_0000u32)
        );
        debug_assert!(is_proposal_id(&id));
        if !taken(&id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "scope: org\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship\n    owner_id: team-backend\n    key_results:\n      - kr_id: KR-1.1\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n";

    fn texts(t: &str) -> Texts {
        [("okrs/org.yml".to_string(), t.to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn refusals_name_agent_objective_owner_and_rule() {
        let perms = Permissions::parse("p", "default_policy: deny\npermissions:\n  - agent: web\n    can_propose_for:\n      - owner: team-web\n").unwrap();
        let e = effect(&texts(ORG), &[parse_set("KR-1.1.target=120").unwrap()]).unwrap();
        let err = check_agent(&perms, "web", &e.owners)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "agent web may not propose changes to OBJ-1 (KR-1.1) owned by team-backend (refused by okrs/permissions.yml rule `default_policy: deny`)"
        );
        let perms = Permissions::parse("p", "default_policy: deny\npermissions:\n  - agent: be\n    can_propose_for:\n      - owner: team-backend\n").unwrap();
        check_agent(&perms, "be", &e.owners).unwrap();
    }

    #[test]
    fn an_edit_taken_on_trust_that_does_not_hold_is_redone_checking_each_edit() {
        let tree = |yaml: &str| serde_yaml::from_str::<serde_yaml::Value>(yaml).unwrap();
        let mut right = Trees::checking_aside();
        right.expect("a: 1\nb: [x]\n", tree("{a: 1, b: [x]}"));
        assert!(right.confirm());
        let mut wrong = Trees::checking_aside();
        wrong.expect("a: 1\n", tree("a: 2"));
        assert!(!wrong.confirm());
        // A wrong expectation makes the work run again with trees that check first.
        let out = with_edits_checked_aside(|trees| {
            if trees.checks_aside() {
                trees.expect("a: 1\n", tree("a: 2"));
                Ok("taken on trust")
            } else {
                Ok("checked first")
            }
        });
        assert_eq!(out.unwrap(), "checked first");
    }

    #[test]
    fn checking_aside_gives_what_checking_first_gives() {
        let commented = ORG.replace("target: 100", "target: 100 # agreed in review");
        for (text, change) in [
            (ORG.to_string(), "KR-1.1.target=120"),
            (commented.clone(), "KR-1.1.target=130"),
            (commented, "OBJ-1.objective=Ship: now"),
        ] {
            let change = [parse_set(change).unwrap()];
            let aside = effect(&texts(&text), &change).unwrap();
            let first = effect_with(&mut Trees::default(), &texts(&text), &change).unwrap();
            assert_eq!(aside.after, first.after);
            assert_eq!(aside.files, first.files);
            assert_eq!(aside.krs, first.krs);
            assert_eq!(aside.owners, first.owners);
        }
    }

    #[test]
    fn moved_base() {
        let change = [parse_set("KR-1.1.target=120").unwrap()];
        let renamed = ORG.replace("objective: Ship", "objective: Ship it");
        let e = effect_on_moved_base(&texts(ORG), &texts(&renamed), &change).unwrap();
        assert!(
            e.after["okrs/org.yml"].contains("objective: Ship it")
                && e.after["okrs/org.yml"].contains("target: 120")
        );
        let err = effect_on_moved_base(
            &texts(ORG),
            &texts(&ORG.replace("target: 100", "target: 90")),
            &change,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "conflict: KR-1.1.target changed since the proposal's base: was 100, is now 90"
            ),
            "{err}"
        );
    }

    /// The example org file beside a team file `team`.
    fn org_and_team(team: &str) -> Texts {
        [
            ("okrs/org.yml".to_string(), ORG.to_string()),
            ("okrs/team.yml".to_string(), team.to_string()),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn comparing_only_what_changed_finds_what_comparing_everything_finds() {
        let team = "scope: team\nowner_id: team-web\nobjectives:\n  - objective_id: OBJ-W\n    objective: Web\n    key_results:\n      - kr_id: KR-W.1\n        metric_key: w\n        owner_id: carol\n        baseline: 0\n        target: 5\n  - objective_id: OBJ-X\n    key_results: []\n";
        let before = org_and_team(team);
        let kr: serde_yaml::Value =
            serde_yaml::from_str("kr_id: KR-1.2\nmetric_key: m\nbaseline: 1\ntarget: 2\n").unwrap();
        let batches: Vec<Vec<Change>> = vec![
            vec![parse_set("KR-1.1.target=120").unwrap()],
            vec![
                parse_set("KR-W.1.owner_id=dave").unwrap(),
                parse_set("OBJ-1.owner_id=team-web").unwrap(),
            ],
            vec![Change::AddKr {
                objective: "OBJ-1".into(),
                kr,
            }],
            vec![Change::Remove {
                id: "KR-W.1".into(),
            }],
            vec![Change::Remove { id: "OBJ-X".into() }],
            // OBJ-X moves from the team file to the org file.
            vec![
                Change::Remove { id: "OBJ-X".into() },
                Change::PutFile {
                    path: "okrs/org.yml".into(),
                    content: format!("{ORG}  - objective_id: OBJ-X\n    key_results: []\n"),
                },
            ],
        ];
        for changes in batches {
            let e = effect(&before, &changes).unwrap();
            let (fb, fa) = (flatten(&before).unwrap(), flatten(&e.after).unwrap());
            let (krs, objectives) = touched_ids(&fb, &fa);
            assert_eq!(e.krs, krs, "{changes:?}");
            assert_eq!(e.objectives, objectives, "{changes:?}");
            assert_eq!(e.owners, owners_of_change(&fb, &fa), "{changes:?}");
            assert!(!e.krs.is_empty() || !e.objectives.is_empty(), "{changes:?}");
        }
    }

    #[test]
    fn field_sets_have_the_effect_the_general_path_finds() {
        let team = "scope: team\nowner_id: team-web\nobjectives:\n  - objective_id: OBJ-W\n    objective: Web\n    key_results:\n      - kr_id: KR-W.1\n        metric_key: w\n        owner_id: carol\n        description: |\n          target: 5\n        baseline: 0\n        target: 5\n";
        let before = org_and_team(team);
        let batches: &[&[&str]] = &[
            &["KR-1.1.target=120"],
            &[
                "KR-1.1.target=120",
                "OBJ-1.objective=Ship: now",
                "KR-1.1.baseline=7",
            ],
            &["KR-W.1.owner_id=dave", "OBJ-1.owner_id=team-web"],
            // A KR whose block holds a look-alike line, set twice.
            &["KR-W.1.target=9", "KR-W.1.target=10"],
            // A new field (a line added), a value as it already is.
            &["KR-1.1.unit=ms", "KR-1.1.target=100"],
            &["KR-1.1.status=at_risk"],
            // Errors: no such item, no such field, a bad value, an invalid result.
            &["KR-9.9.target=1"],
            &["KR-1.1.colour=red"],
            &["KR-1.1.target=lots"],
            &["KR-1.1.target=0"],
        ];
        for batch in batches {
            let changes: Vec<Change> = batch.iter().map(|c| parse_set(c).unwrap()).collect();
            let fast = sets::effect_of_sets(&mut Trees::default(), &before, &changes)
                .map(|e| e.expect("field sets take the fast path"));
            let general = effect_of_any(&mut Trees::default(), &before, &changes);
            match (fast, general) {
                (Ok(fast), Ok(general)) => {
                    assert_eq!(fast.after, general.after, "{batch:?}");
                    assert_eq!(fast.changes, general.changes, "{batch:?}");
                    assert_eq!(fast.files, general.files, "{batch:?}");
                    assert_eq!(fast.krs, general.krs, "{batch:?}");
                    assert_eq!(fast.objectives, general.objectives, "{batch:?}");
                    assert_eq!(fast.owners, general.owners, "{batch:?}");
                }
                (Err(fast), Err(general)) => {
                    assert_eq!(fast.to_string(), general.to_string(), "{batch:?}")
                }
                (fast, general) => panic!("{batch:?}: {:?} vs {:?}", fast.err(), general.err()),
            }
        }
        // Anything but field sets goes the general way.
        let remove = [Change::Remove {
            id: "KR-W.1".into(),
        }];
        assert!(
            sets::effect_of_sets(&mut Trees::default(), &before, &remove)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn ids_are_fresh() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let id = new_id(date, |_| false);
        assert!(id.starts_with("P-20261124-") && is_proposal_id(&id), "{id}");
    }
}
