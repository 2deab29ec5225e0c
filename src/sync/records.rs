//! Merging records: snapshots, the CI report and history, manual metrics, proposals,
//! plans and runs. Records carry their own time or lifecycle, which decides.

use super::merger::{cmp_time, MergeConflict, Merger, Pick, Side};
use crate::model::manual::{ManualMetric, ManualMetrics};
use crate::model::proposal::{Proposal, ProposalStatus};
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// Later `field` wins; equal times fall back to the bytes so every clone decides alike.
pub fn later_of(path: &str, o: &[u8], t: &[u8], field: &str, m: &mut Merger) -> Result<Pick> {
    let time = |bytes: &[u8], side: &str| -> Result<String> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| anyhow!("{path} ({side}): not JSON: {e}"))?;
        Ok(v.get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    };
    let (to, tt) = (time(o, "ours")?, time(t, "theirs")?);
    let ours_wins = match cmp_time(&to, &tt) {
        Ordering::Equal => o >= t,
        ord => ord == Ordering::Greater,
    };
    let (side, when) = if ours_wins {
        (Side::Ours, &to)
    } else {
        (Side::Theirs, &tt)
    };
    m.note(format!("{path}: later {field} wins ({when})"));
    Ok(side.into())
}

/// `ci_history.jsonl`: every build of both sides, ordered by `generated_at`. Lines are
/// builds (each has its own `build_id`), so a line is kept as many times as the side
/// that has it most often holds it: a build both sides share counts once, two builds
/// that happen to read alike (old lines without an id) stay two.
pub fn union_lines(path: &str, o: &[u8], t: &[u8]) -> Result<Pick> {
    let mut counts: Vec<BTreeMap<&str, usize>> = Vec::new();
    for bytes in [o, t] {
        let text = std::str::from_utf8(bytes).map_err(|_| anyhow!("{path}: not UTF-8"))?;
        let mut side: BTreeMap<&str, usize> = BTreeMap::new();
        for line in text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
        {
            *side.entry(line).or_default() += 1;
        }
        counts.push(side);
    }
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut kept: BTreeMap<&str, usize> = BTreeMap::new();
    for side in &counts {
        for (line, n) in side {
            let have = kept.entry(line).or_default();
            if *n <= *have {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .map_err(|e| anyhow!("{path}: a line is not JSON: {e}"))?;
            let at = v
                .get("generated_at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for _ in *have..*n {
                lines.push((at.clone(), line.to_string()));
            }
            *have = *n;
        }
    }
    lines.sort_by(|a, b| cmp_time(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
    let mut out = String::new();
    for (_, line) in lines {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(Pick::New(out.into_bytes()))
}

/// `metrics/manual.yml`, key by key against the base: a key changed on both sides keeps
/// the later `timestamp`; a key added on either side is kept; a key removed on one side
/// and changed on the other is kept (nothing recorded is lost). A key here is a metric's
/// key with its dimensions (`value_key`), unique in a valid file; each side is looked up
/// through a map, so the merge is linear in the number of metrics.
pub fn merge_manual(
    path: &str,
    base: Option<&[u8]>,
    o: &[u8],
    t: &[u8],
    m: &mut Merger,
) -> Result<Pick> {
    let parse = |b: &[u8]| ManualMetrics::parse(path, &String::from_utf8_lossy(b));
    let b = base.map(parse).transpose()?.unwrap_or_default();
    let (o, t) = (parse(o)?, parse(t)?);
    let (bs, os, ts) = (by_value_key(&b), by_value_key(&o), by_value_key(&t));
    // Ours in its order, then what only theirs has, in theirs' order.
    let keys = o
        .metrics
        .iter()
        .chain(
            t.metrics
                .iter()
                .filter(|x| !os.contains_key(&x.value_key())),
        )
        .map(ManualMetric::value_key);
    let mut out = ManualMetrics::default();
    for key in keys {
        let (bm, om, tm) = (
            bs.get(&key).copied(),
            os.get(&key).copied(),
            ts.get(&key).copied(),
        );
        let pick: Option<&ManualMetric> = if om == tm || tm == bm {
            om
        } else if om == bm {
            tm
        } else {
            match (om, tm) {
                (Some(x), Some(y)) => {
                    let (xt, yt) = (
                        x.timestamp.as_deref().unwrap_or_default(),
                        y.timestamp.as_deref().unwrap_or_default(),
                    );
                    let ours_wins = match cmp_time(xt, yt) {
                        Ordering::Equal => serde_yaml::to_string(x)? >= serde_yaml::to_string(y)?,
                        ord => ord == Ordering::Greater,
                    };
                    m.note(format!("{path}: {key}: later timestamp wins"));
                    Some(if ours_wins { x } else { y })
                }
                (x, y) => x.or(y),
            }
        };
        if let Some(metric) = pick {
            out.metrics.push(metric.clone());
        }
    }
    Ok(Pick::New(out.render()?.into_bytes()))
}

/// Each metric by its key with dimensions (the first of a key, should a file repeat one).
fn by_value_key(m: &ManualMetrics) -> HashMap<String, &ManualMetric> {
    let mut out = HashMap::with_capacity(m.metrics.len());
    for x in &m.metrics {
        out.entry(x.value_key()).or_insert(x);
    }
    out
}

/// How far a proposal has come: applied > approved | rejected > proposed.
fn rank(s: ProposalStatus) -> u8 {
    match s {
        ProposalStatus::Proposed => 0,
        ProposalStatus::Approved | ProposalStatus::Rejected => 1,
        ProposalStatus::Applied => 2,
    }
}

/// The same proposal changed on both sides: the more advanced lifecycle wins (an
/// applied proposal's change is already in the OKR files); approved on one side and
/// rejected on the other is a conflict. The same status reached twice keeps the first
/// decision (earlier last step).
pub fn merge_proposal(path: &str, o: &[u8], t: &[u8], m: &mut Merger) -> Result<Pick> {
    let parse = |b: &[u8]| Proposal::parse(path, &String::from_utf8_lossy(b));
    let (po, pt) = (parse(o)?, parse(t)?);
    let (so, st) = (po.status(), pt.status());
    if rank(so) != rank(st) {
        let side = if rank(so) > rank(st) {
            Side::Ours
        } else {
            Side::Theirs
        };
        m.note(format!(
            "{path}: {} wins over {}",
            so.max_by_rank(st),
            so.min_by_rank(st)
        ));
        return Ok(side.into());
    }
    if so != st {
        return Ok(m
            .conflict(MergeConflict {
                file: path.into(),
                id: po.id.clone(),
                field: "status".into(),
                base: "proposed".into(),
                ours: so.to_string(),
                theirs: st.to_string(),
            })
            .into());
    }
    let last = |p: &Proposal| p.lifecycle.last().map(|s| s.at.clone()).unwrap_or_default();
    let ours_wins = match cmp_time(&last(&po), &last(&pt)) {
        Ordering::Equal => o <= t,
        ord => ord == Ordering::Less,
    };
    m.note(format!(
        "{path}: {so} on both sides; the first decision stands"
    ));
    Ok(if ours_wins { Side::Ours } else { Side::Theirs }.into())
}

trait ByRank {
    fn max_by_rank(self, other: Self) -> Self;
    fn min_by_rank(self, other: Self) -> Self;
}

impl ByRank for ProposalStatus {
    fn max_by_rank(self, other: Self) -> Self {
        if rank(self) >= rank(other) {
            self
        } else {
            other
        }
    }
    fn min_by_rank(self, other: Self) -> Self {
        if rank(self) >= rank(other) {
            other
        } else {
            self
        }
    }
}

/// Plans and runs have unique ids and are written once, so both sides changing the same
/// file is rare: a finished run (`completed`, `failed`, `cancelled`) wins over one that
/// is not; anything else conflicts.
pub fn merge_run_or_plan(path: &str, o: &[u8], t: &[u8], m: &mut Merger) -> Result<Pick> {
    let status = |b: &[u8]| -> Option<String> {
        let v: Value = serde_json::from_slice(b).ok()?;
        v.get("status")?.as_str().map(str::to_string)
    };
    let finished =
        |s: &Option<String>| matches!(s.as_deref(), Some("completed" | "failed" | "cancelled"));
    let (so, st) = (status(o), status(t));
    if finished(&so) != finished(&st) {
        m.note(format!("{path}: the finished run wins"));
        return Ok(if finished(&so) {
            Side::Ours
        } else {
            Side::Theirs
        }
        .into());
    }
    Ok(m.conflict(MergeConflict {
        file: path.into(),
        id: String::new(),
        field: "(whole file)".into(),
        base: "-".into(),
        ours: so.unwrap_or_else(|| "changed".into()),
        theirs: st.unwrap_or_else(|| "changed differently".into()),
    })
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::merger::Resolution;

    fn merged(base: &str, ours: &str, theirs: &str) -> String {
        let mut m = Merger::new(Resolution::Stop);
        let pick = merge_manual(
            "metrics/manual.yml",
            Some(base.as_bytes()),
            ours.as_bytes(),
            theirs.as_bytes(),
            &mut m,
        )
        .unwrap();
        assert!(m.conflicts.is_empty());
        match pick {
            Pick::New(bytes) => String::from_utf8(bytes).unwrap(),
            _ => panic!("a manual merge writes the merged file"),
        }
    }

    #[test]
    fn metrics_are_merged_by_key_and_dimensions() {
        let base =
            "metrics:\n- key: a\n  value: 1\n- key: d\n  value: 1\n  dimensions: {team: x}\n";
        // Ours changes the dimensioned value; theirs adds another dimension set and a key.
        let ours =
            "metrics:\n- key: a\n  value: 1\n- key: d\n  value: 2\n  dimensions: {team: x}\n";
        let theirs = "metrics:\n- key: a\n  value: 1\n- key: d\n  value: 1\n  dimensions: {team: x}\n- key: d\n  value: 7\n  dimensions: {team: y}\n- key: b\n  value: 3\n";
        let out = ManualMetrics::parse("m", &merged(base, ours, theirs)).unwrap();
        let got: Vec<(String, f64)> = out
            .metrics
            .iter()
            .map(|m| (m.value_key(), m.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".to_string(), 1.0),
                ("d{team=x}".to_string(), 2.0),
                ("d{team=y}".to_string(), 7.0),
                ("b".to_string(), 3.0),
            ]
        );
    }
}
