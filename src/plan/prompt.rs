//! The text handed to agents. Guardrails always come first, verbatim, so no task
//! wording can push them out of view. Agents are never told to run `kr measure`
//! (OKRchestra did, tripping its own "no edits to okrs/" guardrail).

use crate::model::fmt_num;
use crate::model::plan::{KrContext, Plan, Task, TASKS_SCHEMA};

fn guardrails(plan: &Plan) -> String {
    let mut out = String::from("# Guardrails (read these first; they bind you)\n\n");
    for text in [&plan.guardrails.standards, &plan.guardrails.values] {
        if !text.trim().is_empty() {
            out.push_str(text.trim());
            out.push_str("\n\n");
        }
    }
    out.push_str(
        "In short: do not edit refs/okr/state or create okrs/ files; to change an objective or \
         key result run `git okr okr propose --set ID.FIELD=VALUE --reason \"why\"` (your \
         identity is already set in OKR_AGENT; a person reviews it). Do not run \
         `git okr kr measure`: measurement happens in hooks, CI and the daemon.\n\n",
    );
    out
}

fn kr_context(kr: &KrContext) -> String {
    let current = kr
        .current
        .map(fmt_num)
        .unwrap_or_else(|| "not measured".into());
    let mut out = format!(
        "- {} ({}): {}\n  objective {}: {}\n  metric {}: baseline {}, current {}, target {} ({}, gap {}), status {}, owner {}\n",
        kr.kr_id,
        kr.direction,
        kr.description,
        kr.objective_id,
        kr.objective,
        kr.metric_key,
        fmt_num(kr.baseline),
        current,
        fmt_num(kr.target),
        kr.direction,
        fmt_num(kr.gap),
        kr.status,
        kr.owner.as_deref().unwrap_or("none"),
    );
    for e in &kr.evidence {
        let e = match e {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("  evidence: {e}\n"));
    }
    out
}

/// The prompt for one task of a plan run.
pub fn task_prompt(plan: &Plan, task: &Task, in_place: bool) -> String {
    let mut out = guardrails(plan);
    if let Some(role) = &plan.agent_role {
        out.push_str(&format!(
            "# Your role

{}

",
            role.trim()
        ));
    }
    out.push_str("# Key result this task serves\n\n");
    if let Some(kr) = plan.key_results.iter().find(|k| k.kr_id == task.kr_id) {
        out.push_str(&kr_context(kr));
    }
    out.push_str(&format!(
        "\n# Task {} of plan {}: {}\n\n{}\n\n## Done when\n\n{}\n\nMetric expected to move: {}\n\n",
        task.id,
        plan.plan_id,
        task.title,
        task.instructions.trim(),
        task.acceptance_check.trim(),
        task.metric_key
    ));
    out.push_str(if in_place {
        "Work in the current directory (the repository's work tree). "
    } else {
        "Work in the current directory: a git worktree of this repository on a branch of its \
         own (commit your work there as you go; what you leave uncommitted is committed for \
         you at the end). "
    });
    out.push_str(
        "End with your final report, a JSON object and nothing else: \
         {\"status\": \"done\" | \"blocked\" | \"failed\", \"summary\": \"what you changed, \
         what you verified, what you could not do\"} (the schema is printed by `git okr plan \
         result-schema`; when OKR_RESULT_FILE is set, write the report to that file).\n",
    );
    out
}

/// The prompt asking an agent for a plan's tasks, as JSON in `TASKS_SCHEMA`.
pub fn planning_prompt(plan: &Plan) -> String {
    let mut out = guardrails(plan);
    out.push_str("# Key results to plan for\n\n");
    for kr in &plan.key_results {
        out.push_str(&kr_context(kr));
    }
    out.push_str(
        "\n# What to answer\n\nLook at this repository and break the work that moves these key \
         results into small tasks a coding agent can do one at a time. Each task needs concrete \
         instructions for this repository, an acceptance check a reviewer or CI can run, the KR \
         it serves and the metric it should move. Tasks must respect the guardrails: never ask \
         for direct edits of OKRs or metrics, and never ask to run `git okr kr measure`.\n\n\
         Answer with JSON only, matching this JSON Schema:\n\n",
    );
    out.push_str(TASKS_SCHEMA);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::Guardrails;

    fn plan() -> Plan {
        Plan {
            schema_version: 1,
            plan_id: "p".into(),
            created_at: String::new(),
            created_by: String::new(),
            generator: "builtin".into(),
            owner: None,
            base: None,
            agent_role: Some("software_engineer".into()),
            key_results: vec![],
            guardrails: Guardrails {
                standards: "STANDARDS".into(),
                values: "VALUES".into(),
            },
            tasks: vec![Task {
                id: "T1".into(),
                kr_id: "KR-1".into(),
                title: "do it".into(),
                instructions: "INSTRUCTIONS".into(),
                acceptance_check: "CHECK".into(),
                metric_key: "m".into(),
            }],
        }
    }

    #[test]
    fn guardrails_come_first_and_measure_is_never_asked_for() {
        let p = plan();
        let text = task_prompt(&p, &p.tasks[0], false);
        assert!(text.find("STANDARDS").unwrap() < text.find("INSTRUCTIONS").unwrap());
        assert!(text.find("VALUES").unwrap() < text.find("INSTRUCTIONS").unwrap());
        assert!(text.contains("Do not run `git okr kr measure`"));
        assert!(!text.contains("\nRun `git okr kr measure`"));
    }
}
