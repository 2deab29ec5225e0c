//! OKRchestra's audit event names and the actions they correspond to here.
//!
//! OKRchestra logs `<command>_started` / `<command>_finished` pairs (and a few
//! standalone events) into `audit/audit.sqlite`; git-okr records one commit per
//! change with an `Okr-Action` trailer. `git okr audit --action` accepts either name,
//! and `init --from` imports OKRchestra's events as commits with these actions.

/// OKRchestra command (the part before `_started`/`_finished`) → our action.
const COMMANDS: &[(&str, &str)] = &[
    ("workspace_init", "init"),
    ("kr_measure", "measure"),
    ("kr_score", "score"),
    ("plan_generate", "plan-generate"),
    ("plan_run", "plan-run"),
    ("plan_item", "plan-run"),
    ("plan_execute", "plan-run"),
    ("okr_propose", "propose"),
    ("okr_apply", "apply"),
    ("agent_run", "agent-run"),
];

/// Standalone events → our action.
const STANDALONE: &[(&str, &str)] = &[
    ("kr_status_auto_updated", ACTION_STATUS_CHANGE),
    ("job_started", "job"),
    ("job_succeeded", "job"),
    ("job_failed", "job"),
];

use super::event::ACTION_STATUS_CHANGE;

/// The action recorded for an imported OKRchestra status update (its status change is
/// an `Okr-Status` trailer, which gives the `status-change` event).
pub const ACTION_STATUS_UPDATE: &str = "status-update";

/// An imported OKRchestra event that failed (its payload carried an `error`).
pub const ACTION_FAILED: &str = "failed";

/// The command part and phase of an event name: `kr_measure_finished` → (`kr_measure`, `finished`).
pub fn split_event(name: &str) -> Option<(&str, &str)> {
    ["started", "finished"].into_iter().find_map(|phase| {
        name.strip_suffix(phase)
            .and_then(|base| base.strip_suffix('_'))
            .map(|base| (base, phase))
    })
}

/// The action an OKRchestra event name corresponds to, if it is one (`None` for names
/// that are already ours, or unknown).
pub fn action_for_event(name: &str) -> Option<&'static str> {
    if let Some((_, action)) = STANDALONE.iter().find(|(n, _)| *n == name) {
        return Some(action);
    }
    if let Some((base, _)) = split_event(name) {
        if let Some((_, action)) = COMMANDS.iter().find(|(n, _)| *n == base) {
            return Some(action);
        }
        if base.starts_with("daemon") {
            return Some("daemon");
        }
    }
    if name.starts_with("daemon_") {
        return Some("daemon");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_okrchestra_names() {
        assert_eq!(action_for_event("kr_measure_finished"), Some("measure"));
        assert_eq!(action_for_event("kr_measure_started"), Some("measure"));
        assert_eq!(action_for_event("okr_propose_finished"), Some("propose"));
        assert_eq!(action_for_event("okr_apply_finished"), Some("apply"));
        assert_eq!(action_for_event("plan_run_finished"), Some("plan-run"));
        assert_eq!(
            action_for_event("plan_generate_started"),
            Some("plan-generate")
        );
        assert_eq!(
            action_for_event("kr_status_auto_updated"),
            Some("status-change")
        );
        assert_eq!(action_for_event("daemon_stopped"), Some("daemon"));
        assert_eq!(action_for_event("daemon_install_finished"), Some("daemon"));
        assert_eq!(action_for_event("job_failed"), Some("job"));
        assert_eq!(action_for_event("measure"), None);
        assert_eq!(action_for_event("nonsense_finished"), None);
        assert_eq!(split_event("a_b_started"), Some(("a_b", "started")));
        assert_eq!(split_event("started"), None);
    }
}
