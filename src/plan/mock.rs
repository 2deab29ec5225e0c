//! The built-in `mock` adapter: git-okr itself, run as `git-okr __okr-mock-agent`, acting
//! as a deterministic coding agent for dry runs and for CI. It reads the prompt, prints a
//! few lines, and writes a valid final answer to `OKR_RESULT_FILE`: a task report
//! (`done`, or `failed` with exit 1 for the task ids in `okr.adapter.mock.fail`), or for a
//! planning request one task per key result. For the task ids in `okr.adapter.mock.hang`
//! it waits until it is stopped (to try timeouts and cancellation).

use anyhow::{Context, Result};
use std::io::Read;

/// The hidden first argument that turns `git-okr` into the mock agent.
pub const MOCK_ARG: &str = "__okr-mock-agent";

/// Whether `list` (comma or space separated task ids, or `all`) names `task`.
pub fn names(list: &str, task: &str) -> bool {
    list.split([',', ' '])
        .map(str::trim)
        .any(|t| t == task || t == "all")
}

/// What the mock does for one request; the exit code.
pub fn main() -> Result<u8> {
    let mut prompt = String::new();
    std::io::stdin()
        .read_to_string(&mut prompt)
        .context("reading the prompt")?;
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let result_file = env("OKR_RESULT_FILE");
    if result_file.is_empty() {
        anyhow::bail!("OKR_RESULT_FILE is not set: the mock runs under `git okr plan`");
    }
    let task = env("OKR_TASK_ID");
    let agent = env("OKR_AGENT");
    println!(
        "mock agent {agent}: {} ({} lines of prompt)",
        if task.is_empty() {
            "planning".to_string()
        } else {
            format!("task {task} of plan {}", env("OKR_PLAN_ID"))
        },
        prompt.lines().count()
    );
    if task.is_empty() {
        let answer = planning_answer(&env("OKR_TASK_FILE"))?;
        std::fs::write(&result_file, answer).context("writing the answer")?;
        println!("mock agent: wrote the plan's tasks");
        return Ok(0);
    }
    if names(&env("OKR_MOCK_HANG"), &task) {
        println!("mock agent: hanging as told (okr.adapter.mock.hang)");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let failed = names(&env("OKR_MOCK_FAIL"), &task);
    let report = serde_json::json!({
        "status": if failed { "failed" } else { "done" },
        "summary": if failed {
            format!("mock: task {task} failed as told (okr.adapter.mock.fail)")
        } else {
            format!("mock: task {task} done; nothing was changed")
        },
    });
    std::fs::write(&result_file, report.to_string()).context("writing the report")?;
    println!("mock agent: reported {}", report["status"]);
    Ok(if failed { 1 } else { 0 })
}

/// One task per key result of the plan in `task_file`, in the planning answer's schema.
fn planning_answer(task_file: &str) -> Result<String> {
    let text = std::fs::read_to_string(task_file)
        .with_context(|| format!("reading OKR_TASK_FILE {task_file}"))?;
    let plan: serde_json::Value = serde_json::from_str(&text).context("OKR_TASK_FILE")?;
    let tasks: Vec<serde_json::Value> = plan["key_results"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|kr| {
            serde_json::json!({
                "kr_id": kr["kr_id"],
                "title": format!("Mock task for {}", kr["kr_id"].as_str().unwrap_or("?")),
                "instructions": "Nothing to do: this task comes from the mock adapter.",
                "acceptance_check": "The mock reports done.",
                "metric_key": kr["metric_key"],
            })
        })
        .collect();
    Ok(serde_json::json!({ "tasks": tasks }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_lists() {
        assert!(names("T1,T2", "T2"));
        assert!(names("T1 T2", "T1"));
        assert!(names("all", "T9"));
        assert!(!names("T1", "T11"));
        assert!(!names("", "T1"));
    }
}
