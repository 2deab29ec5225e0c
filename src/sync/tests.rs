//! Unit tests of the merge by meaning.

use super::merge::{merge_states, Merged};
use super::merger::{Merger, Resolution};
use crate::model::proposal::{Change, LifecycleStep, Proposal, ProposalStatus};
use std::collections::BTreeMap;

type Files = BTreeMap<String, Vec<u8>>;

fn files(pairs: &[(&str, &str)]) -> Files {
    pairs
        .iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect()
}

fn merge(b: &Files, o: &Files, t: &Files, res: Resolution) -> (BTreeMap<String, String>, Merger) {
    let mut m = Merger::new(res);
    let load = |k: &Vec<u8>| Ok(k.clone());
    let out = merge_states(b, o, t, &load, &mut m).unwrap();
    let texts = out
        .into_iter()
        .map(|(p, f)| {
            let bytes = match f {
                Merged::Kept(k) | Merged::New(k) => k,
            };
            (p, String::from_utf8(bytes).unwrap())
        })
        .collect();
    (texts, m)
}

const ORG: &str = "okrs/org.yml";

fn okr(fields: &str) -> String {
    format!(
        "scope: org\nobjectives:\n- objective_id: OBJ-1\n  objective: Ship\n  key_results:\n  - kr_id: KR-1.1\n    metric_key: ci.test_count\n    baseline: 0\n{fields}"
    )
}

fn base_okr() -> String {
    okr("    target: 100\n    status: not_started\n    evidence: []\n")
}

fn kr_of(text: &str) -> serde_yaml::Value {
    let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    v["objectives"][0]["key_results"][0].clone()
}

#[test]
fn different_fields_merge_and_the_same_field_conflicts() {
    let b = files(&[(ORG, &base_okr())]);
    let o = files(&[(ORG, &base_okr().replace("target: 100", "target: 120"))]);
    let t = files(&[(
        ORG,
        &base_okr().replace("objective: Ship", "objective: Ship it"),
    )]);
    let (out, m) = merge(&b, &o, &t, Resolution::Stop);
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    let v: serde_yaml::Value = serde_yaml::from_str(&out[ORG]).unwrap();
    assert_eq!(v["objectives"][0]["objective"].as_str(), Some("Ship it"));
    assert_eq!(kr_of(&out[ORG])["target"].as_f64(), Some(120.0));

    let t = files(&[(ORG, &base_okr().replace("target: 100", "target: 150"))]);
    let (_, m) = merge(&b, &o, &t, Resolution::Stop);
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(
        m.conflicts[0].to_string(),
        "okrs/org.yml: KR-1.1 target: base 100, ours 120, theirs 150"
    );
    let (out, m) = merge(&b, &o, &t, Resolution::Theirs);
    assert!(m.conflicts.is_empty() && m.settled.len() == 1);
    assert_eq!(kr_of(&out[ORG])["target"].as_f64(), Some(150.0));
    let (out, _) = merge(&b, &o, &t, Resolution::Ours);
    assert_eq!(kr_of(&out[ORG])["target"].as_f64(), Some(120.0));
}

#[test]
fn status_follows_its_precedence_and_readings_the_later_update() {
    let b = files(&[(ORG, &base_okr())]);
    let o = files(&[(ORG, &okr("    target: 100\n    status: at_risk\n    evidence: []\n    current: 50\n    last_updated: 2026-01-01T10:00:00Z\n"))]);
    let t = files(&[(ORG, &okr("    target: 100\n    status: achieved\n    evidence: [snap-2]\n    current: 100\n    last_updated: 2026-01-01T11:00:00Z\n"))]);
    for (o, t) in [(&o, &t), (&t, &o)] {
        let (out, m) = merge(&b, o, t, Resolution::Stop);
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        let kr = kr_of(&out[ORG]);
        assert_eq!(
            kr["status"].as_str(),
            Some("at_risk"),
            "a person's flag survives"
        );
        assert_eq!(kr["current"].as_f64(), Some(100.0));
        assert_eq!(kr["last_updated"].as_str(), Some("2026-01-01T11:00:00Z"));
        assert_eq!(kr["evidence"].as_sequence().unwrap().len(), 1);
    }
    let status = |s: &str| files(&[(ORG, &base_okr().replace("not_started", s))]);
    let (out, _) = merge(
        &b,
        &status("achieved"),
        &status("in_progress"),
        Resolution::Stop,
    );
    assert_eq!(kr_of(&out[ORG])["status"].as_str(), Some("achieved"));
    let (out, _) = merge(&b, &status("at_risk"), &status("blocked"), Resolution::Stop);
    assert_eq!(kr_of(&out[ORG])["status"].as_str(), Some("blocked"));
}

#[test]
fn evidence_lists_are_united() {
    let with = |items: &str| {
        files(&[(
            ORG,
            &base_okr().replace("evidence: []", &format!("evidence: [{items}]")),
        )])
    };
    let (out, _) = merge(&with("a"), &with("a, b"), &with("a, c"), Resolution::Stop);
    let kr = kr_of(&out[ORG]);
    let ev: Vec<&str> = kr["evidence"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ev, ["a", "b", "c"]);
}

const KR2: &str =
    "  - kr_id: KR-1.2\n    metric_key: git.commits\n    baseline: 0\n    target: 10\n";
const KR3: &str =
    "  - kr_id: KR-1.3\n    metric_key: git.commits\n    baseline: 0\n    target: 20\n";

#[test]
fn krs_added_and_removed_on_either_side() {
    let b = files(&[(ORG, &base_okr())]);
    let (out, m) = merge(
        &b,
        &files(&[(ORG, &(base_okr() + KR2))]),
        &files(&[(ORG, &(base_okr() + KR3))]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty());
    assert!(out[ORG].contains("KR-1.2") && out[ORG].contains("KR-1.3"));

    // Removed on one side, only measured on the other: removed.
    let with2 = base_okr() + KR2;
    let measured = with2.replace(
        "target: 10\n",
        "target: 10\n    current: 4\n    status: in_progress\n",
    );
    let (out, m) = merge(
        &files(&[(ORG, &with2)]),
        &files(&[(ORG, &base_okr())]),
        &files(&[(ORG, &measured)]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert!(!out[ORG].contains("KR-1.2"));

    // Removed on one side, its target changed on the other: a conflict.
    let retargeted = with2.replace("target: 10\n", "target: 12\n");
    let (_, m) = merge(
        &files(&[(ORG, &with2)]),
        &files(&[(ORG, &base_okr())]),
        &files(&[(ORG, &retargeted)]),
        Resolution::Stop,
    );
    assert_eq!(m.conflicts.len(), 1);
    assert!(m.conflicts[0]
        .to_string()
        .contains("KR-1.2 (removed on one side, changed on the other)"));
    let (out, _) = merge(
        &files(&[(ORG, &with2)]),
        &files(&[(ORG, &base_okr())]),
        &files(&[(ORG, &retargeted)]),
        Resolution::Theirs,
    );
    assert!(out[ORG].contains("target: 12"));
}

#[test]
fn a_merge_that_does_not_validate_is_a_conflict() {
    let team = "okrs/team.yml";
    let team_base = "scope: team\nobjectives:\n- objective_id: OBJ-2\n  key_results: []\n";
    let b = files(&[(ORG, &base_okr()), (team, team_base)]);
    // Both sides add KR-1.2, in different files: each side is valid, together they are not.
    let o = files(&[(ORG, &(base_okr() + KR2)), (team, team_base)]);
    let t = files(&[
        (ORG, &base_okr()),
        (
            team,
            &team_base.replace("key_results: []", &format!("key_results:\n{KR2}")),
        ),
    ]);
    let (_, m) = merge(&b, &o, &t, Resolution::Stop);
    assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
    assert!(
        m.conflicts[0].to_string().contains("duplicate kr_id"),
        "{}",
        m.conflicts[0]
    );
    let (out, _) = merge(&b, &o, &t, Resolution::Theirs);
    assert_eq!(out[ORG], base_okr());
    assert!(out[team].contains("KR-1.2"));
}

#[test]
fn manual_metrics_merge_key_by_key() {
    let f = "metrics/manual.yml";
    let metric =
        |k: &str, v: u32, ts: &str| format!("- key: {k}\n  value: {v}\n  timestamp: {ts}\n");
    let b = files(&[(
        f,
        &format!(
            "metrics:\n{}{}",
            metric("a", 1, "2026-01-01T00:00:00Z"),
            metric("gone", 1, "2026-01-01T00:00:00Z")
        ),
    )]);
    let o = files(&[(
        f,
        &format!(
            "metrics:\n{}{}",
            metric("a", 2, "2026-01-02T00:00:00Z"),
            metric("o", 5, "2026-01-02T00:00:00Z")
        ),
    )]);
    let t = files(&[(
        f,
        &format!(
            "metrics:\n{}{}{}",
            metric("a", 3, "2026-01-03T00:00:00Z"),
            metric("gone", 1, "2026-01-01T00:00:00Z"),
            metric("t", 6, "2026-01-02T00:00:00Z")
        ),
    )]);
    for (o, t) in [(&o, &t), (&t, &o)] {
        let (out, m) = merge(&b, o, t, Resolution::Stop);
        assert!(m.conflicts.is_empty());
        let parsed = crate::model::manual::ManualMetrics::parse(f, &out[f]).unwrap();
        assert_eq!(parsed.get("a").unwrap().value, 3.0, "later timestamp wins");
        assert!(parsed.get("o").is_some() && parsed.get("t").is_some());
        assert!(
            parsed.get("gone").is_none(),
            "removed on one side, unchanged on the other"
        );
    }
}

#[test]
fn snapshots_and_ci_reports_keep_the_later_one_on_every_clone() {
    let f = "metrics/snapshots/2026-01-01.json";
    let snap = |at: &str, v: u32| {
        format!("{{\"as_of\":\"2026-01-01\",\"measured_at\":\"{at}\",\"points\":[{v}]}}")
    };
    let b = files(&[(f, &snap("2026-01-01T08:00:00Z", 0))]);
    let o = files(&[(f, &snap("2026-01-01T09:00:00+01:00", 1))]);
    let t = files(&[(f, &snap("2026-01-01T08:30:00Z", 2))]);
    let (out, _) = merge(&b, &o, &t, Resolution::Stop);
    assert!(out[f].contains("[2]"), "08:30Z is later than 09:00+01:00");
    let (out2, _) = merge(&b, &t, &o, Resolution::Stop);
    assert_eq!(out, out2);
    // Same time: both clones still pick the same one.
    let o = files(&[(f, &snap("2026-01-01T09:00:00Z", 1))]);
    let t = files(&[(f, &snap("2026-01-01T09:00:00Z", 2))]);
    assert_eq!(
        merge(&b, &o, &t, Resolution::Stop).0,
        merge(&b, &t, &o, Resolution::Stop).0
    );
    // Created on both sides (no base): the later one.
    let r = "metrics/ci_report.json";
    let rep = |at: &str| format!("{{\"generated_at\":\"{at}\"}}");
    let (out, _) = merge(
        &Files::new(),
        &files(&[(r, &rep("2026-01-02T00:00:00Z"))]),
        &files(&[(r, &rep("2026-01-01T00:00:00Z"))]),
        Resolution::Stop,
    );
    assert!(out[r].contains("01-02"));
}

#[test]
fn ci_history_is_the_union_in_time_order() {
    let f = "metrics/ci_history.jsonl";
    let line = |at: &str| format!("{{\"generated_at\":\"{at}\",\"build\":\"success\"}}\n");
    let b = files(&[(f, &line("2026-01-01T00:00:00Z"))]);
    let o = files(&[(
        f,
        &(line("2026-01-01T00:00:00Z") + &line("2026-01-03T00:00:00Z")),
    )]);
    let t = files(&[(
        f,
        &(line("2026-01-01T00:00:00Z") + &line("2026-01-02T00:00:00Z")),
    )]);
    let (out, _) = merge(&b, &o, &t, Resolution::Stop);
    let days: Vec<&str> = out[f].lines().map(|l| &l[25..27]).collect();
    assert_eq!(days, ["01", "02", "03"]);
    assert_eq!(out, merge(&b, &t, &o, Resolution::Stop).0);
}

#[test]
fn ci_history_keeps_builds_that_read_alike() {
    let f = "metrics/ci_history.jsonl";
    let same =
        "{\"generated_at\":\"2026-01-02T00:00:00Z\",\"commit\":\"abc\",\"build\":\"success\"}\n";
    let first = "{\"generated_at\":\"2026-01-01T00:00:00Z\",\"build\":\"failure\"}\n";
    let b = files(&[(f, first)]);
    // Ours recorded two builds alike in one second; theirs one more alike.
    let o = files(&[(f, &format!("{first}{same}{same}"))]);
    let t = files(&[(f, &format!("{first}{same}"))]);
    let (out, _) = merge(&b, &o, &t, Resolution::Stop);
    assert_eq!(out[f].lines().count(), 3, "{}", out[f]);
    assert_eq!(out[f].matches("abc").count(), 2);
}

fn proposal(statuses: &[ProposalStatus]) -> String {
    Proposal {
        id: "P-20261124-a1b2c3".into(),
        proposer: "agent:codex".into(),
        created: "2026-11-24T10:00:00Z".into(),
        base: "0".repeat(40),
        reason: "r".into(),
        changes: vec![Change::Remove {
            id: "KR-2.1".into(),
        }],
        krs: vec![],
        objectives: vec![],
        lifecycle: statuses
            .iter()
            .enumerate()
            .map(|(i, s)| LifecycleStep {
                status: *s,
                by: "alice@example.com".into(),
                at: format!("2026-11-24T1{i}:00:00Z"),
                reason: None,
            })
            .collect(),
        files: vec![],
    }
    .render()
    .unwrap()
}

#[test]
fn proposals_keep_the_more_advanced_lifecycle() {
    use ProposalStatus::*;
    let f = "proposals/P-20261124-a1b2c3.yml";
    let b = files(&[(f, &proposal(&[Proposed]))]);
    let applied = files(&[(f, &proposal(&[Proposed, Approved, Applied]))]);
    let approved = files(&[(f, &proposal(&[Proposed, Approved]))]);
    let rejected = files(&[(f, &proposal(&[Proposed, Rejected]))]);
    let (out, m) = merge(&b, &approved, &applied, Resolution::Stop);
    assert!(m.conflicts.is_empty());
    assert!(out[f].contains("applied"));
    let (_, m) = merge(&b, &approved, &rejected, Resolution::Stop);
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(
        m.conflicts[0].to_string(),
        "proposals/P-20261124-a1b2c3.yml: P-20261124-a1b2c3 status: base proposed, ours approved, theirs rejected"
    );
    let (out, _) = merge(&b, &approved, &rejected, Resolution::Theirs);
    assert!(out[f].contains("rejected"));
    // New proposals on both sides: a union.
    let g = "proposals/P-20261124-ffffff.yml";
    let (out, _) = merge(
        &Files::new(),
        &files(&[(f, "x")]),
        &files(&[(g, "y")]),
        Resolution::Stop,
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn jobs_merge_by_id() {
    let f = "daemon/jobs.yml";
    let b = "jobs:\n- id: measure\n  schedule: 0 9 * * *\n";
    let o = "jobs:\n- id: measure\n  schedule: 0 9 * * *\n- id: report\n  schedule: '@daily'\n";
    let t = "jobs:\n- id: measure\n  schedule: 0 10 * * *\n";
    let (out, m) = merge(
        &files(&[(f, b)]),
        &files(&[(f, o)]),
        &files(&[(f, t)]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty());
    assert!(
        out[f].contains("0 10 * * *") && out[f].contains("report"),
        "{}",
        out[f]
    );
    let t2 = "jobs:\n- id: measure\n  schedule: 0 11 * * *\n";
    let o2 = "jobs:\n- id: measure\n  schedule: 0 8 * * *\n";
    let (_, m) = merge(
        &files(&[(f, b)]),
        &files(&[(f, o2)]),
        &files(&[(f, t2)]),
        Resolution::Stop,
    );
    assert_eq!(m.conflicts[0].to_string(), "daemon/jobs.yml: measure schedule: base \"0 9 * * *\", ours \"0 8 * * *\", theirs \"0 11 * * *\"");
}

#[test]
fn jobs_added_in_two_clones_are_both_kept() {
    let f = "daemon/jobs.yml";
    let b = "jobs: []\n";
    let o = "jobs:\n- id: 3fa94c2e\n  job: kr_measure\n  cron: '@daily'\n";
    let t = "jobs:\n- id: 71c0d9aa\n  job: sync\n  cron: '@hourly'\n";
    let (out, m) = merge(
        &files(&[(f, b)]),
        &files(&[(f, o)]),
        &files(&[(f, t)]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert!(
        out[f].contains("3fa94c2e") && out[f].contains("71c0d9aa"),
        "{}",
        out[f]
    );
    // Old sequential ids: both clones scheduled a job 1. Both survive, whichever side
    // merges, and every resolution keeps them (no conflict to settle).
    let o = "jobs:\n- id: '1'\n  job: kr_measure\n  cron: '@daily'\n";
    let t = "jobs:\n- id: '1'\n  job: sync\n  cron: '@hourly'\n";
    for res in [Resolution::Stop, Resolution::Ours, Resolution::Theirs] {
        let (ab, m) = merge(&files(&[(f, b)]), &files(&[(f, o)]), &files(&[(f, t)]), res);
        let (ba, _) = merge(&files(&[(f, b)]), &files(&[(f, t)]), &files(&[(f, o)]), res);
        assert!(m.conflicts.is_empty());
        let jobs = crate::model::jobs::Jobs::parse(f, &ab[f]).unwrap();
        let mut kinds: Vec<&str> = jobs.jobs.iter().map(|j| j.job.as_str()).collect();
        kinds.sort();
        assert_eq!(kinds, ["kr_measure", "sync"], "{}", ab[f]);
        let ids = |text: &str| {
            let mut v: Vec<(String, String)> = crate::model::jobs::Jobs::parse(f, text)
                .unwrap()
                .jobs
                .into_iter()
                .map(|j| (j.job, j.id))
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids(&ab[f]), ids(&ba[f]), "the same ids whoever merges");
        assert!(
            m.notes.iter().any(|n| n.contains("kept both")),
            "{:?}",
            m.notes
        );
    }
}

#[test]
fn other_files_merge_whole() {
    let f = "culture/values.md";
    let b = files(&[(f, "base\n")]);
    let (out, m) = merge(
        &b,
        &files(&[(f, "base\n")]),
        &files(&[(f, "theirs\n")]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty());
    assert_eq!(out[f], "theirs\n");
    let (_, m) = merge(
        &b,
        &files(&[(f, "ours\n")]),
        &files(&[(f, "theirs\n")]),
        Resolution::Stop,
    );
    assert_eq!(
        m.conflicts[0].to_string(),
        "culture/values.md: (whole file): base -, ours changed, theirs changed differently"
    );
    let (out, m) = merge(
        &b,
        &Files::new(),
        &files(&[(f, "theirs\n")]),
        Resolution::Stop,
    );
    assert_eq!(m.conflicts.len(), 1, "deleted vs changed");
    assert_eq!(out.get(f), None);
    // A record deleted on one side and changed on the other is kept.
    let s = "metrics/snapshots/2026-01-01.json";
    let (out, m) = merge(
        &files(&[(s, "{}")]),
        &Files::new(),
        &files(&[(s, "{\"a\":1}")]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty());
    assert_eq!(out[s], "{\"a\":1}");
}

#[test]
fn checkins_are_records_never_conflicts() {
    let a = "checkins/2026-11-30/100000-0000000a.json";
    let b_ = "checkins/2026-11-30/100500-0000000b.json";
    let early = r#"{"kr_id": "KR-1.1", "at": "2026-11-30T10:00:00.000Z", "confidence": 0.3}"#;
    let late = r#"{"kr_id": "KR-1.1", "at": "2026-11-30T10:05:00.000Z", "confidence": 0.9}"#;
    // Each side's own check-ins: both kept.
    let (out, m) = merge(
        &files(&[]),
        &files(&[(a, early)]),
        &files(&[(b_, late)]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert_eq!(out.len(), 2);
    // One name, two contents (git-okr never writes that): the later one, no conflict.
    let (out, m) = merge(
        &files(&[]),
        &files(&[(a, late)]),
        &files(&[(a, early)]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert_eq!(out[a], late);
    // Deleted on one side, changed on the other: kept.
    let (out, m) = merge(
        &files(&[(a, early)]),
        &files(&[]),
        &files(&[(a, late)]),
        Resolution::Stop,
    );
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert_eq!(out[a], late);
}
