//! `--json` on the read commands (one documented shape each), the list commands
//! `metric list` and `plan list|show`, and `--json` refused where it would do nothing.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;

fn json(repo: &TestRepo, args: &[&str]) -> Value {
    let out = repo.ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn initialized() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo
}

#[test]
fn metric_list_shows_every_key_with_value_unit_source_and_time() {
    let repo = initialized();
    let empty = repo.ok(&["metric", "list"]);
    assert!(empty.starts_with("No metrics yet"), "{empty}");
    assert_eq!(
        json(&repo, &["metric", "list", "--json"]),
        serde_json::json!([])
    );
    repo.ok(&["metric", "set", "ci.test_count", "85"]);
    repo.ok(&["kr", "measure"]);
    repo.ok(&["metric", "set", "manual.latency", "290", "--unit", "ms"]);
    let rows = json(&repo, &["metric", "list", "--json"]);
    let rows = rows.as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by key");
    assert!(keys.contains(&"git.commits"), "{keys:?}");
    let latency = rows.iter().find(|r| r["key"] == "manual.latency").unwrap();
    assert_eq!(latency["value"], 290.0);
    assert_eq!(latency["unit"], "ms");
    assert_eq!(latency["source"], "manual:alice@example.com");
    assert_eq!(latency["file"], "metrics/manual.yml");
    assert!(latency["when"].as_str().unwrap().contains('T'));
    let tests = rows.iter().find(|r| r["key"] == "ci.test_count").unwrap();
    assert_eq!(tests["value"], 85.0);
    assert!(tests["file"]
        .as_str()
        .unwrap()
        .starts_with("metrics/snapshots/"));
    let text = repo.ok(&["metric", "list"]);
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("KEY") && header.contains("SOURCE") && header.ends_with("WHEN"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("manual.latency") && l.contains("290") && l.contains(" ms ")),
        "{text}"
    );
}

#[test]
fn status_json_gives_attention_as_structured_items() {
    let repo = initialized();
    repo.ok(&[
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=120",
        "--reason",
        "more",
    ]);
    let status = json(&repo, &["status", "--json"]);
    let items = status["attention"].as_array().unwrap();
    let no_value = items
        .iter()
        .find(|i| i["kind"] == "no_value")
        .expect("a KR without value");
    assert_eq!(no_value["kr_id"], "KR-1.1");
    assert_eq!(no_value["metric_key"], "ci.test_count");
    assert!(no_value["message"]
        .as_str()
        .unwrap()
        .contains("has no value"));
    let waiting = items
        .iter()
        .find(|i| i["kind"] == "proposals_proposed")
        .unwrap();
    assert_eq!(waiting["count"], 1);
    assert_eq!(waiting["command"], "git okr okr list --status proposed");
    // The text output prints the same messages.
    let text = repo.ok(&["status"]);
    assert!(
        text.contains(no_value["message"].as_str().unwrap()),
        "{text}"
    );
}

#[test]
fn okr_show_json_has_the_list_fields_and_diffs() {
    let repo = initialized();
    let out = repo.ok(&[
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=120",
        "--reason",
        "more",
    ]);
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let shown = json(&repo, &["okr", "show", &id, "--json"]);
    let listed = json(&repo, &["okr", "list", "--json"]);
    for field in [
        "id", "status", "proposer", "created", "reason", "changes", "krs",
    ] {
        assert_eq!(shown[field], listed[0][field], "{field}");
    }
    assert_eq!(shown["changes"][0], "set KR-1.1.target = 120");
    let diff = shown["files"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-  target: 100")
            || diff.contains("+    target: 120")
            || diff.contains("120"),
        "{diff}"
    );
    assert!(
        listed[0]["files"][0].get("diff").is_none(),
        "list stays short"
    );
}

#[test]
fn hooks_status_json() {
    let repo = initialized();
    let before = json(&repo, &["hooks", "status", "--json"]);
    assert_eq!(before["strict"], false);
    let hooks = before["hooks"].as_array().unwrap();
    assert!(hooks.iter().all(|h| h["state"] == "absent"), "{before}");
    assert!(before["folder"].as_str().unwrap().ends_with("hooks"));
    repo.ok(&["hooks", "install"]);
    let after = json(&repo, &["hooks", "status", "--json"]);
    let names: Vec<&str> = after["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pre-push") && names.contains(&"post-merge"),
        "{after}"
    );
    assert!(
        after["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "installed" && h["current"] == true),
        "{after}"
    );
}

#[test]
fn sync_pull_push_json() {
    let remote = TestRepo::bare();
    let repo = initialized();
    let url = remote.path().to_str().unwrap().to_string();
    repo.git(&["remote", "add", "origin", &url]);
    let pushed = json(&repo, &["push", "--json"]);
    assert_eq!(pushed["remote"], "origin");
    assert_eq!(pushed["pushed"], true);
    assert_eq!(pushed["tip"].as_str().unwrap(), repo.state_tip().unwrap());
    let again = json(&repo, &["push", "--json"]);
    assert_eq!(again["pushed"], false);
    let pulled = json(&repo, &["pull", "--json"]);
    assert_eq!(pulled["merge"]["result"], "up_to_date");
    repo.ok(&["metric", "set", "manual.x", "1"]);
    let synced = json(&repo, &["sync", "--json"]);
    assert_eq!(synced["merge"]["result"], "local_ahead");
    assert_eq!(synced["pushed"], true);
    assert_eq!(synced["retries"], 0);
    assert_eq!(synced["tip"].as_str().unwrap(), remote.state_tip().unwrap());
    // A second clone fast-forwards.
    let other = TestRepo::with_commit();
    other.git(&["remote", "add", "origin", &url]);
    let ff = json(&other, &["pull", "--json"]);
    assert_eq!(ff["merge"]["result"], "fast_forward");
    assert_eq!(ff["merge"]["from"], Value::Null);
    assert_eq!(
        ff["merge"]["to"].as_str().unwrap(),
        remote.state_tip().unwrap()
    );
}

#[test]
fn plan_list_and_show() {
    let repo = initialized();
    assert!(repo.ok(&["plan", "list"]).starts_with("No plans yet"));
    let made = json(&repo, &["plan", "generate", "--kr-id", "KR-1.1", "--json"]);
    let id = made["plan_id"].as_str().unwrap().to_string();
    let list = json(&repo, &["plan", "list", "--json"]);
    assert_eq!(list[0]["plan_id"], id.as_str());
    assert_eq!(list[0]["key_results"], serde_json::json!(["KR-1.1"]));
    assert_eq!(list[0]["runs"], serde_json::json!([]));
    assert!(list[0]["tasks"].as_u64().unwrap() >= 1);
    let text = repo.ok(&["plan", "list"]);
    assert!(
        text.lines().nth(1).unwrap().starts_with(&id) && text.contains("never run"),
        "{text}"
    );
    let shown = json(&repo, &["plan", "show", &id, "--json"]);
    assert_eq!(shown["plan"]["plan_id"], id.as_str());
    assert_eq!(shown["path"], made["path"]);
    let text = repo.ok(&["plan", "show", &id]);
    assert!(text.starts_with(&format!("plan       {id}\n")), "{text}");
    assert!(text.contains("done when: "), "{text}");
    let err = repo.fails(&["plan", "show", "plan-nope"]);
    assert!(err.contains("no plan \"plan-nope\""), "{err}");
}

#[test]
fn plan_list_survives_a_broken_plan_file() {
    let repo = initialized();
    // Written as a hostile teammate would: straight onto the ref with git plumbing.
    repo.forge_state_file(
        "plans/2026-01-18/plan-broken.json",
        br#"{ not json"#,
        "broken",
    );
    let text = repo.ok(&["plan", "list"]);
    assert!(
        text.contains("plan-broken") && text.contains("unreadable"),
        "{text}"
    );
    let list = json(&repo, &["plan", "list", "--json"]);
    assert!(
        list[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("plans/2026-01-18/plan-broken.json:1:"),
        "{list}"
    );
}

#[test]
fn json_is_refused_where_it_would_do_nothing() {
    let repo = initialized();
    let tip = repo.state_tip();
    let out = repo.run(&["show", "okrs/org.yml", "--json"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("okrs/org.yml is a file: --json lists the files of a folder"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    assert_eq!(repo.state_tip(), tip);
    // A folder lists as JSON.
    let listed: Vec<String> = serde_json::from_str(&repo.ok(&["show", "okrs", "--json"])).unwrap();
    assert!(listed.contains(&"okrs/org.yml".to_string()));
}
