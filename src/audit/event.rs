//! From one commit of `refs/okr/state` to its audit events.
//!
//! The mapping (also in the README, "Audit"):
//! - Every commit gives one **action event**: `action` is its `Okr-Action`
//!   trailer; a commit with `Okr-*` trailers but no `Okr-Action` gets `unknown`,
//!   and a commit with no `Okr-*` trailer at all (made by hand or another tool)
//!   gets `foreign`. `actor` is `Okr-Actor`, else the commit author's email.
//!   `kr` / `objective` list every `Okr-KR` / `Okr-Objective` (joined by ", ";
//!   each one is also indexed on its own so `--kr` finds it), `proposal`,
//!   `plan`, `run`, `metric` take the first `Okr-Proposal`, `Okr-Plan`,
//!   `Okr-Run`, `Okr-Metric`, `value` is `Okr-Value` when it is a number, and
//!   `message` is the whole commit message.
//! - Each `Okr-Status: KR from -> to (value/target)` trailer adds a
//!   **`status-change` event** for that KR: `from`/`to` statuses, `value` the
//!   measured value, `message` the trailer text. A malformed one is kept with
//!   what could be read (at least the KR id) rather than dropped.
//! - Each `Okr-Regression: KR value/target` trailer adds a **`regression`
//!   event** (an achieved KR measured below its target).
//!
//! Status and regression events share the commit's id, parent, time and actor.

use crate::store::parse_trailers;
use serde::Serialize;

pub const ACTION_STATUS_CHANGE: &str = "status-change";
pub const ACTION_REGRESSION: &str = "regression";
pub const ACTION_RUN_CREDIT: &str = "run-credit";
pub const ACTION_UNKNOWN: &str = "unknown";
pub const ACTION_FOREIGN: &str = "foreign";

/// The actions git-okr's commands write, plus the ones the audit derives.
/// `--action` accepts these and any other action found on the ref.
pub const KNOWN_ACTIONS: &[&str] = &[
    "init",
    "edit",
    "metric-set",
    "ci-ingest",
    "measure",
    "propose",
    "approve",
    "reject",
    "apply",
    "plan-generate",
    "plan-run",
    "schedule",
    "unschedule",
    "sync-merge",
    "checkin",
    "cycle-close",
    "cycle-start",
    // Imported from OKRchestra's audit log (`init --from`): see `okrchestra`.
    "score",
    "status-update",
    "failed",
    "agent-run",
    "daemon",
    "job",
    ACTION_STATUS_CHANGE,
    ACTION_REGRESSION,
    ACTION_RUN_CREDIT,
    ACTION_UNKNOWN,
    ACTION_FOREIGN,
];

/// One row of the audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub commit: String,
    /// First parent (`None` for the root commit).
    pub parent: Option<String>,
    /// Committer time, seconds since the Unix epoch.
    pub time: i64,
    pub actor: String,
    pub action: String,
    pub objective: Option<String>,
    pub kr: Option<String>,
    pub proposal: Option<String>,
    pub plan: Option<String>,
    pub run: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub value: Option<f64>,
    pub metric: Option<String>,
    /// The whole commit message (a derived event: its trailer's text). Queries fill it
    /// with only the first line unless `Filter::full_messages` is set.
    pub message: String,
    /// Every KR / objective id this event is about (indexed for `--kr` / `--objective`).
    #[serde(skip)]
    pub krs: Vec<String>,
    #[serde(skip)]
    pub objectives: Vec<String>,
}

/// What a commit carries besides its message.
pub struct CommitInfo<'a> {
    pub id: &'a str,
    pub parent: Option<&'a str>,
    pub time: i64,
    pub author_email: &'a str,
    pub message: &'a str,
}

/// The events of one commit: its action event first, then one per status change / regression.
pub fn events_of(c: &CommitInfo<'_>) -> Vec<Event> {
    let trailers = parse_trailers(c.message);
    let all = |key: &str| -> Vec<String> {
        trailers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let first = |key: &str| all(key).into_iter().next().filter(|v| !v.is_empty());
    let has_okr = trailers
        .iter()
        .any(|(k, _)| k.len() > 4 && k[..4].eq_ignore_ascii_case("okr-"));
    let action = match first("Okr-Action") {
        Some(a) => a,
        None if has_okr => ACTION_UNKNOWN.to_string(),
        None => ACTION_FOREIGN.to_string(),
    };
    let actor = first("Okr-Actor").unwrap_or_else(|| c.author_email.to_string());
    let krs = all("Okr-KR");
    let objectives = all("Okr-Objective");
    let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
    let base = Event {
        commit: c.id.to_string(),
        parent: c.parent.map(str::to_string),
        time: c.time,
        actor,
        action,
        objective: joined(&objectives),
        kr: joined(&krs),
        proposal: first("Okr-Proposal"),
        plan: first("Okr-Plan"),
        run: first("Okr-Run"),
        from: None,
        to: None,
        value: first("Okr-Value").and_then(|v| parse_num(&v)),
        metric: first("Okr-Metric"),
        message: c.message.trim_end().to_string(),
        krs,
        objectives,
    };
    // A derived event copies only the commit's identity from the base event: not its
    // message or id lists, which hold every trailer (a measure of 10,000 KRs writes
    // 10,000 of them, and a copy per derived event made following it quadratic).
    let derived = |action: &str, text: String, kr: Option<String>| Event {
        commit: base.commit.clone(),
        parent: base.parent.clone(),
        time: base.time,
        actor: base.actor.clone(),
        action: action.to_string(),
        kr: kr.clone(),
        krs: kr.into_iter().collect(),
        objective: None,
        objectives: Vec::new(),
        proposal: None,
        plan: None,
        run: None,
        from: None,
        to: None,
        metric: None,
        value: None,
        message: text,
    };
    let mut out = Vec::new();
    for text in all("Okr-Status") {
        let s = parse_status(&text);
        out.push(Event {
            from: s.from,
            to: s.to,
            value: s.value,
            ..derived(ACTION_STATUS_CHANGE, text.clone(), s.kr)
        });
    }
    for text in all("Okr-Regression") {
        let mut words = text.split_whitespace();
        let kr = words.next().map(str::to_string);
        let value = words
            .next()
            .and_then(|v| parse_num(v.split('/').next().unwrap_or("")));
        out.push(Event {
            value,
            ..derived(ACTION_REGRESSION, text.clone(), kr)
        });
    }
    for text in all("Okr-Credit") {
        let s = parse_status(&text);
        out.push(Event {
            value: s.to.as_deref().and_then(parse_num),
            from: s.from,
            to: s.to,
            run: base.run.clone(),
            ..derived(ACTION_RUN_CREDIT, text.clone(), s.kr)
        });
    }
    out.insert(0, base);
    out
}

#[derive(Debug, Default, PartialEq)]
pub struct StatusLine {
    pub kr: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub value: Option<f64>,
}

/// Parse `KR-1.1 not_started -> achieved (102/100)`; missing parts stay `None`.
pub fn parse_status(text: &str) -> StatusLine {
    let (head, paren) = match text.split_once('(') {
        Some((h, p)) => (h, Some(p.trim_end().trim_end_matches(')'))),
        None => (text, None),
    };
    let mut words = head.split_whitespace();
    let kr = words.next().map(str::to_string);
    let rest: Vec<&str> = words.collect();
    let (from, to) = match rest.as_slice() {
        [from, "->", to] => (Some(from.to_string()), Some(to.to_string())),
        ["->", to] => (None, Some(to.to_string())),
        _ => (None, None),
    };
    let value = paren.and_then(|p| parse_num(p.split('/').next().unwrap_or("")));
    StatusLine {
        kr,
        from,
        to,
        value,
    }
}

fn parse_num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(message: &str) -> CommitInfo<'_> {
        CommitInfo {
            id: "c1",
            parent: Some("c0"),
            time: 10,
            author_email: "bob@example.com",
            message,
        }
    }

    #[test]
    fn a_measure_commit_gives_one_event_per_status_change() {
        let msg = "okr: measure (2 status changes)\n\nbody\n\nOkr-Action: measure\nOkr-Actor: agent:daemon\nOkr-Snapshot: metrics/snapshots/2026-01-18.json\nOkr-Status: KR-1.1 not_started -> achieved (102/100)\nOkr-Status: KR-1.2 in_progress -> achieved (7.5/5)\nOkr-KR: KR-1.1\nOkr-KR: KR-1.2\n";
        let ev = events_of(&info(msg));
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].action, "measure");
        assert_eq!(ev[0].actor, "agent:daemon");
        assert_eq!(ev[0].kr.as_deref(), Some("KR-1.1, KR-1.2"));
        assert_eq!(ev[0].krs, vec!["KR-1.1", "KR-1.2"]);
        assert_eq!(ev[1].action, "status-change");
        assert_eq!(ev[1].kr.as_deref(), Some("KR-1.1"));
        assert_eq!(
            (ev[1].from.as_deref(), ev[1].to.as_deref(), ev[1].value),
            (Some("not_started"), Some("achieved"), Some(102.0))
        );
        assert_eq!(ev[2].value, Some(7.5));
        assert_eq!(ev[2].actor, "agent:daemon");
    }

    #[test]
    fn a_measured_run_credits_each_kr_it_worked_on() {
        let msg = "okr: plan run p (1 passed)\n\nOkr-Action: plan-run\nOkr-Actor: alice@example.com\nOkr-Run: run-1\nOkr-KR: KR-1.1\nOkr-Credit: KR-1.1 40 -> 55 (T1, T2)\nOkr-Credit: KR-2.1 none -> 3\n";
        let ev = events_of(&info(msg));
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[1].action, "run-credit");
        assert_eq!(ev[1].kr.as_deref(), Some("KR-1.1"));
        assert_eq!(ev[1].run.as_deref(), Some("run-1"));
        assert_eq!(
            (ev[1].from.as_deref(), ev[1].to.as_deref(), ev[1].value),
            (Some("40"), Some("55"), Some(55.0))
        );
        assert_eq!(ev[1].message, "KR-1.1 40 -> 55 (T1, T2)");
        assert_eq!(
            (ev[2].from.as_deref(), ev[2].value),
            (Some("none"), Some(3.0))
        );
        // Hostile text is kept as read, never an error.
        let ev = events_of(&info("x\n\nOkr-Action: plan-run\nOkr-Credit: ->\n"));
        assert_eq!(ev[1].action, "run-credit");
        assert_eq!(ev[1].value, None);
    }

    #[test]
    fn foreign_and_unknown_commits_are_plain_events() {
        let ev = events_of(&info("hand-made fix\n\nno trailers here"));
        assert_eq!(
            (ev.len(), ev[0].action.as_str(), ev[0].actor.as_str()),
            (1, "foreign", "bob@example.com")
        );
        let ev = events_of(&info("x\n\nOkr-KR: KR-1.1"));
        assert_eq!(ev[0].action, "unknown");
    }

    #[test]
    fn malformed_status_keeps_what_it_can() {
        assert_eq!(
            parse_status("KR-1.1 garbage"),
            StatusLine {
                kr: Some("KR-1.1".into()),
                ..Default::default()
            }
        );
        assert_eq!(parse_status(""), StatusLine::default());
        let r = events_of(&info(
            "s\n\nOkr-Action: measure\nOkr-Regression: KR-1.1 95/100",
        ));
        assert_eq!(
            (r[1].action.as_str(), r[1].value),
            ("regression", Some(95.0))
        );
    }
}
