//! The OKR rhythm: which cycle a view shows, check-ins beside the scores, KRs that went
//! quiet, grading a cycle on Google's 0.0–1.0 scale, and carrying what is unfinished
//! into the next cycle as proposal changes. Pure functions of the state's pieces.

use crate::model::checkin::Checkin;
use crate::model::cycles::{Cycle, Cycles, CYCLES_FILE};
use crate::model::grades::{Grades, KrGrade, ObjectiveGrade};
use crate::model::okrs::{Objective, OkrSet, Status};
use crate::model::proposal::Change;
use crate::model::{at, line_of};
use crate::score::{by_scope, ScopeScore};
use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde_yaml::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Which objectives a view shows.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// Every objective (`--cycle all`).
    All,
    /// The objectives of this cycle, and those that belong to no cycle.
    Cycle(Cycle),
}

impl View {
    /// `--cycle ID|all`, else the cycle holding `today`.
    pub fn choose(cycles: &Cycles, arg: Option<&str>, today: NaiveDate) -> Result<View> {
        match arg.map(str::trim) {
            Some("all") => Ok(View::All),
            Some(id) => Ok(View::Cycle(
                cycles.require(id).map_err(|e| anyhow!("--cycle: {e}"))?,
            )),
            None => Ok(View::Cycle(cycles.containing(today))),
        }
    }

    pub fn cycle(&self) -> Option<&Cycle> {
        match self {
            View::All => None,
            View::Cycle(c) => Some(c),
        }
    }

    /// The OKRs this view shows: `set` itself, or a copy without other cycles' objectives.
    pub fn okrs<'s>(&self, set: &'s OkrSet) -> Cow<'s, OkrSet> {
        let View::Cycle(c) = self else {
            return Cow::Borrowed(set);
        };
        let in_cycle = |o: &Objective| o.cycle.as_deref().is_none_or(|id| id == c.id);
        Cow::Owned(OkrSet {
            docs: set.docs.iter().map(|d| d.filtered(in_cycle)).collect(),
        })
    }
}

/// Every objective's `cycle:` must be a listed cycle or a quarter; the error names the line.
pub fn check_objective_cycles(set: &OkrSet, cycles: &Cycles) -> Result<()> {
    for doc in &set.docs {
        for o in &doc.file.objectives {
            let Some(id) = &o.cycle else { continue };
            if cycles.get(id).is_none() {
                bail!(
                    "{}: objective {}: cycle {id:?} is not a quarter (YYYY-Qn) and {CYCLES_FILE} does not list it",
                    at(&doc.path, line_of(&doc.text, "cycle", id, 0)),
                    o.objective_id
                );
            }
        }
    }
    Ok(())
}

/// Check-ins by KR, oldest first.
pub fn by_kr(checkins: &[Checkin]) -> BTreeMap<&str, Vec<&Checkin>> {
    let mut out: BTreeMap<&str, Vec<&Checkin>> = BTreeMap::new();
    for c in checkins {
        out.entry(c.kr_id.as_str()).or_default().push(c);
    }
    out
}

/// Each KR's newest check-in's confidence (`checkins` oldest first).
pub fn last_confidences(checkins: &[Checkin]) -> BTreeMap<String, f64> {
    checkins
        .iter()
        .map(|c| (c.kr_id.clone(), c.confidence))
        .collect()
}

/// Put each KR's last check-in (confidence, when) into its score row.
pub fn annotate(scopes: &mut [ScopeScore], checkins: &BTreeMap<&str, Vec<&Checkin>>) {
    for k in scopes
        .iter_mut()
        .flat_map(|s| s.objectives.iter_mut())
        .flat_map(|o| o.key_results.iter_mut())
    {
        if let Some(last) = checkins.get(k.kr_id.as_str()).and_then(|c| c.last()) {
            k.confidence = Some(last.confidence);
            k.last_checkin = Some(last.at.clone());
        }
    }
}

/// A KR nobody has looked at for too long.
#[derive(Debug, Clone, PartialEq)]
pub struct Quiet {
    pub kr_id: String,
    pub metric_key: String,
    pub target: f64,
    /// The last check-in or measured change (RFC 3339), if there was one.
    pub last: Option<String>,
    /// Whole days since then (or since its cycle started).
    pub days: i64,
}

/// KRs with neither a check-in nor a measured change (`last_updated`) for more than
/// `cycles.stale_after_days`. A KR with neither ever counts from its cycle's start; one
/// without a cycle and without either is not judged. Achieved KRs and KRs of cycles
/// that have ended are left alone.
pub fn quiet_krs(
    set: &OkrSet,
    cycles: &Cycles,
    checkins: &BTreeMap<&str, Vec<&Checkin>>,
    now: DateTime<Utc>,
) -> Vec<Quiet> {
    let limit = i64::from(cycles.stale_after_days);
    let today = now.date_naive();
    let mut out = Vec::new();
    for k in set.krs() {
        if k.kr.status == Status::Achieved {
            continue;
        }
        let cycle = k.objective.cycle.as_deref().and_then(|id| cycles.get(id));
        if cycle.as_ref().is_some_and(|c| c.end < today) {
            continue;
        }
        let checked = checkins
            .get(k.kr.kr_id.as_str())
            .and_then(|c| c.last())
            .and_then(|c| DateTime::parse_from_rfc3339(&c.at).ok());
        let measured =
            k.kr.last_updated
                .as_ref()
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        let last = checked.into_iter().chain(measured).max();
        let since = match (&last, &cycle) {
            (Some(t), _) => t.to_utc(),
            (None, Some(c)) => match c.start.and_hms_opt(0, 0, 0) {
                Some(t) => t.and_utc(),
                None => continue,
            },
            (None, None) => continue,
        };
        let days = (now - since).num_days();
        if days > limit {
            out.push(Quiet {
                kr_id: k.kr.kr_id.clone(),
                metric_key: k.kr.metric_key.clone(),
                target: k.kr.target,
                last: last.map(|t| {
                    t.to_utc()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                }),
                days,
            });
        }
    }
    out
}

impl Quiet {
    /// The line `status` prints.
    pub fn describe(&self) -> String {
        match &self.last {
            Some(_) => format!(
                "{} has had no check-in or measured change for {} days: git okr kr checkin {} --confidence N",
                self.kr_id, self.days, self.kr_id
            ),
            None => format!(
                "{} has had no check-in or measured change this cycle ({} days): git okr kr checkin {} --confidence N",
                self.kr_id, self.days, self.kr_id
            ),
        }
    }
}

/// The quiet KRs of one owner, for the weekly reminder.
#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    /// The KR's `owner_id`, else its objective's, else its file's; `None`: nobody's.
    pub owner: Option<String>,
    pub krs: Vec<Quiet>,
}

/// `quiet` grouped by owner (owners in name order, unowned KRs last).
pub fn reminders(set: &OkrSet, quiet: Vec<Quiet>) -> Vec<Reminder> {
    let mut by_owner: BTreeMap<Option<String>, Vec<Quiet>> = BTreeMap::new();
    for q in quiet {
        let owner = set.find_kr(&q.kr_id).and_then(|k| {
            k.kr.owner_id
                .clone()
                .or_else(|| k.objective.owner_id.clone())
                .or_else(|| k.doc.file.owner_id.clone())
        });
        by_owner.entry(owner).or_default().push(q);
    }
    let mut out: Vec<Reminder> = by_owner
        .into_iter()
        .map(|(owner, krs)| Reminder { owner, krs })
        .collect();
    out.sort_by_key(|r| (r.owner.is_none(), r.owner.clone()));
    out
}

/// What closing a cycle needs besides the OKRs.
pub struct Closing<'a> {
    pub cycle: &'a Cycle,
    pub values: &'a BTreeMap<String, f64>,
    pub checkins: &'a BTreeMap<&'a str, Vec<&'a Checkin>>,
    pub snapshot: Option<String>,
    pub closed_at: String,
    pub closed_by: String,
}

/// Grade every KR of the cycle's objectives with the score formula on its last value
/// (the snapshot's, else the KR's recorded `current`), and each objective as the
/// weighted mean, against 1.0 (committed) or 0.7 (aspirational).
pub fn grade(set: &OkrSet, c: &Closing<'_>) -> Result<Grades> {
    let mut only = set.clone();
    for doc in &mut only.docs {
        doc.file
            .objectives
            .retain(|o| o.cycle.as_deref() == Some(c.cycle.id.as_str()));
    }
    if only.objectives().next().is_none() {
        bail!(
            "no objective belongs to cycle {}: give objectives `cycle: {}` first",
            c.cycle.id,
            c.cycle.id
        );
    }
    let mut objectives = Vec::new();
    for scope in by_scope(&only, c.values) {
        for o in scope.objectives {
            let (_, objective) = only
                .find_objective(&o.objective_id)
                .ok_or_else(|| anyhow!("{} vanished while grading", o.objective_id))?;
            let commitment = objective.commitment.unwrap_or_default();
            let expected = commitment.expected();
            let key_results = o
                .key_results
                .iter()
                .map(|k| KrGrade {
                    kr_id: k.kr_id.clone(),
                    description: k.description.clone(),
                    metric_key: k.metric_key.clone(),
                    baseline: k.baseline,
                    target: k.target,
                    value: k.current,
                    grade: k.score,
                    on_target: k.score >= expected,
                    status: k.status,
                    weight: k.weight,
                    confidence: c
                        .checkins
                        .get(k.kr_id.as_str())
                        .and_then(|l| l.last())
                        .map(|l| l.confidence)
                        .or(k.confidence),
                })
                .collect();
            objectives.push(ObjectiveGrade {
                objective_id: o.objective_id,
                objective: o.objective,
                file: o.file,
                commitment,
                expected,
                grade: o.score,
                on_target: o.score >= expected,
                weight: o.weight,
                key_results,
            });
        }
    }
    Ok(Grades {
        schema_version: 1,
        cycle: c.cycle.id.clone(),
        start: c.cycle.start.to_string(),
        end: c.cycle.end.to_string(),
        closed_at: c.closed_at.clone(),
        closed_by: c.closed_by.clone(),
        snapshot: c.snapshot.clone(),
        objectives,
    })
}

/// The id a carried objective or KR gets in cycle `next`: `KR-1.1` → `KR-1.1@2027-Q1`
/// (an id carried before loses its old cycle: `KR-1.1@2026-Q4` → `KR-1.1@2027-Q1`).
pub fn carried_id(id: &str, next: &str) -> String {
    let base = id.split('@').next().unwrap_or(id);
    format!("{base}@{next}")
}

/// Whether a graded KR is unfinished: below 1.0 and not achieved.
fn unfinished(k: &KrGrade) -> bool {
    k.grade < 1.0 && k.status != Status::Achieved
}

/// The proposal changes that carry the unfinished KRs of a closed cycle into `next`:
/// per objective with one, a copy of the objective as its file has it — every field,
/// unknown ones included — with new ids, `cycle: next`, `carried_from`, a `due` moved
/// to the cycle's end, and only its unfinished KRs, each starting from its closing
/// value (`baseline`, `current`) with status `not_started`.
pub fn carry_changes(set: &OkrSet, grades: &Grades, next: &Cycle) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for og in &grades.objectives {
        let open: BTreeMap<&str, &KrGrade> = og
            .key_results
            .iter()
            .filter(|k| unfinished(k))
            .map(|k| (k.kr_id.as_str(), k))
            .collect();
        if open.is_empty() {
            continue;
        }
        let (doc, _) = set.find_objective(&og.objective_id).ok_or_else(|| {
            anyhow!(
                "{} (graded in {}) is no longer in the OKR files; nothing to carry from it",
                og.objective_id,
                grades.cycle
            )
        })?;
        let original = doc
            .value()
            .get("objectives")
            .and_then(Value::as_sequence)
            .and_then(|list| {
                list.iter().find(|o| {
                    o.get("objective_id").and_then(Value::as_str) == Some(og.objective_id.as_str())
                })
            })
            .and_then(Value::as_mapping)
            .ok_or_else(|| anyhow!("{}: {} is not a mapping", doc.path, og.objective_id))?;
        let mut copy = original.clone();
        let set_field = |m: &mut serde_yaml::Mapping, k: &str, v: Value| {
            m.insert(Value::String(k.into()), v);
        };
        set_field(
            &mut copy,
            "objective_id",
            Value::String(carried_id(&og.objective_id, &next.id)),
        );
        set_field(&mut copy, "cycle", Value::String(next.id.clone()));
        if copy.contains_key("due") {
            set_field(&mut copy, "due", Value::String(next.end.to_string()));
        }
        set_field(
            &mut copy,
            "carried_from",
            Value::String(og.objective_id.clone()),
        );
        let krs = copy
            .get_mut("key_results")
            .and_then(Value::as_sequence_mut)
            .ok_or_else(|| {
                anyhow!(
                    "{}: {}.key_results is not a list",
                    doc.path,
                    og.objective_id
                )
            })?;
        krs.retain(|kr| {
            kr.get("kr_id")
                .and_then(Value::as_str)
                .is_some_and(|id| open.contains_key(id))
        });
        for kr in krs.iter_mut() {
            let Some(map) = kr.as_mapping_mut() else {
                continue;
            };
            let id = map
                .get("kr_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let graded = open[id.as_str()];
            set_field(map, "kr_id", Value::String(carried_id(&id, &next.id)));
            if let Some(v) = graded.value {
                set_field(map, "baseline", number(v));
                set_field(map, "current", number(v));
            }
            set_field(map, "status", Value::String("not_started".into()));
            set_field(map, "carried_from", Value::String(id));
        }
        changes.push(Change::AddObjective {
            path: doc.path.clone(),
            objective: Value::Mapping(copy),
        });
    }
    if changes.is_empty() {
        bail!(
            "every KR of cycle {} was finished; nothing to carry into {}",
            grades.cycle,
            next.id
        );
    }
    Ok(changes)
}

/// Whole numbers as integers (`120`, not `120.0`), as people write them.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        Value::from(n as i64)
    } else {
        Value::from(n)
    }
}

/// The cycle a carry-over starts from: the one holding the day before `next` starts
/// (a listed cycle, else that quarter).
pub fn previous_cycle(cycles: &Cycles, next: &Cycle) -> Option<Cycle> {
    Some(cycles.containing(next.start.pred_opt()?))
}
