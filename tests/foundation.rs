//! The foundation: init, show, export, edit, metric set, on real repositories.

mod common;

use common::{stderr, TestRepo};
use std::os::unix::fs::PermissionsExt;

fn count_state_commits(repo: &TestRepo) -> usize {
    repo.git(&["rev-list", "--count", "refs/okr/state"])
        .trim()
        .parse()
        .unwrap()
}

/// An EDITOR that replaces the file with `content` (written next to the repo).
fn editor_writing(repo: &TestRepo, name: &str, content: &str) -> String {
    let src = repo.home.path().join(format!("{name}.content"));
    std::fs::write(&src, content).unwrap();
    let script = repo.home.path().join(name);
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncp '{}' \"$1\"\n", src.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

#[test]
fn init_creates_the_state_tree_in_one_commit() {
    let repo = TestRepo::with_commit();
    let out = repo.ok(&["init"]);
    assert!(
        out.starts_with("Initialized refs/okr/state with 8 files"),
        "{out}"
    );
    assert_eq!(count_state_commits(&repo), 1);
    let listing = repo.ok(&["show"]);
    let expected = "culture/standards.md\nculture/values.md\ndaemon/jobs.yml\nmetrics/definitions.yml\nmetrics/manual.yml\nokrs/org.yml\nokrs/permissions.yml\nokrs/schema.md\n";
    assert_eq!(listing, expected);
    assert_eq!(
        repo.git(&["ls-tree", "-r", "--name-only", "refs/okr/state"]),
        expected
    );
    let org = repo.state_file("okrs/org.yml");
    assert!(org.contains("kr_id: KR-1.1") && org.contains("metric_key: ci.test_count"));
    assert_eq!(repo.ok(&["show", "okrs/org.yml"]), org);
    assert_eq!(
        repo.ok(&["show", "okrs/schema.md"]),
        repo.state_file("okrs/schema.md")
    );
    let json: Vec<String> = serde_json::from_str(&repo.ok(&["show", "okrs", "--json"])).unwrap();
    assert_eq!(
        json,
        ["okrs/org.yml", "okrs/permissions.yml", "okrs/schema.md"]
    );
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        msg.contains("Okr-Action: init\nOkr-Actor: alice@example.com"),
        "{msg}"
    );
    let author = repo.git(&["log", "-1", "--format=%an <%ae>", "refs/okr/state"]);
    assert_eq!(author.trim(), "Alice Example <alice@example.com>");
}

#[test]
fn every_command_leaves_work_tree_index_and_head_alone() {
    let repo = TestRepo::with_commit();
    repo.write("untracked.txt", "u\n");
    repo.write("README.md", "modified but not staged\n");
    repo.write("staged.txt", "s\n");
    repo.git(&["add", "staged.txt"]);
    let before = repo.user_visible_state();
    let export = tempfile::tempdir().unwrap();
    let editor = editor_writing(
        &repo,
        "ed",
        &repo_template_org().replace("target: 100", "target: 120"),
    );
    repo.ok(&["init"]);
    repo.ok(&["show"]);
    repo.ok(&["show", "okrs/org.yml"]);
    repo.ok(&["metric", "set", "manual.x", "1"]);
    repo.ok(&["export", export.path().to_str().unwrap()]);
    repo.okr()
        .args(["edit", "okrs/org.yml"])
        .env("EDITOR", &editor)
        .assert()
        .success();
    repo.fails(&["init"]);
    repo.fails(&["show", "nope.yml"]);
    assert_eq!(before, repo.user_visible_state());
}

fn repo_template_org() -> String {
    let repo = TestRepo::new();
    repo.ok(&["init"]);
    repo.state_file("okrs/org.yml")
}

#[test]
fn init_refuses_twice_unless_forced_and_keeps_history() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo.ok(&["metric", "set", "manual.a", "3"]);
    let tip = repo.state_tip();
    let err = repo.fails(&["init"]);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(repo.state_tip(), tip);
    repo.ok(&["init", "--force"]);
    assert_eq!(count_state_commits(&repo), 3);
    assert_eq!(repo.state_file("metrics/manual.yml"), "metrics: []\n");
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    let out = repo
        .okr()
        .current_dir(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .arg("init")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("error: not a git repository"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = repo.fails(&["-C", "/definitely/not/here", "show"]);
    assert!(
        err.contains("no such directory: /definitely/not/here"),
        "{err}"
    );
}

#[test]
fn works_in_an_empty_and_in_a_bare_repository() {
    for repo in [TestRepo::new(), TestRepo::bare()] {
        repo.ok(&["init"]);
        repo.ok(&[
            "metric",
            "set",
            "manual.velocity",
            "12.5",
            "--unit",
            "points",
        ]);
        let manual = repo.ok(&["show", "metrics/manual.yml"]);
        assert!(
            manual.contains("key: manual.velocity") && manual.contains("value: 12.5"),
            "{manual}"
        );
        assert_eq!(count_state_commits(&repo), 2);
    }
    // No branch was created by any of it.
    let repo = TestRepo::new();
    repo.ok(&["init"]);
    assert_eq!(
        repo.git(&["for-each-ref", "--format=%(refname)"]),
        "refs/okr/state\n"
    );
}

#[test]
fn workspace_and_dash_c_pick_the_repository() {
    let repo = TestRepo::with_commit();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = repo.path().to_str().unwrap();
    repo.okr()
        .current_dir(elsewhere.path())
        .args(["--workspace", path, "init"])
        .assert()
        .success();
    let out = repo
        .okr()
        .current_dir(elsewhere.path())
        .args(["-C", path, "show", "okrs/org.yml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(common::stdout(&out), repo.state_file("okrs/org.yml"));
}

#[test]
fn metric_set_records_value_unit_evidence_and_trailers() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let out = repo.ok(&[
        "metric",
        "set",
        "ci.test_count",
        "85",
        "--unit",
        "count",
        "--evidence",
        "ci run 42",
        "--evidence",
        "junit.xml",
    ]);
    assert!(out.starts_with("Set ci.test_count = 85 count"), "{out}");
    repo.ok(&["metric", "set", "ci.test_count", "102"]);
    repo.ok(&["metric", "set", "manual.drift", "-3.5"]);
    let manual: serde_yaml::Value =
        serde_yaml::from_str(&repo.state_file("metrics/manual.yml")).unwrap();
    let metrics = manual["metrics"].as_sequence().unwrap();
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[0]["value"].as_f64(), Some(102.0));
    assert_eq!(metrics[1]["value"].as_f64(), Some(-3.5));
    let log = repo.git(&["log", "--format=%B", "refs/okr/state"]);
    assert!(
        log.contains("Okr-Metric: ci.test_count\nOkr-Value: 85\n"),
        "{log}"
    );
    assert!(log.contains("Okr-Value: 102\n"), "{log}");
}

#[test]
fn metric_set_needs_init_and_valid_input() {
    let repo = TestRepo::with_commit();
    let err = repo.fails(&["metric", "set", "manual.x", "1"]);
    assert!(err.contains("run `git okr init` first"), "{err}");
    assert_eq!(repo.state_tip(), None);
    repo.ok(&["init"]);
    let tip = repo.state_tip();
    for (args, needle) in [
        (vec!["metric", "set", "manual.x", "lots"], "is not a number"),
        (vec!["metric", "set", "bad key", "1"], "invalid metric key"),
        (vec!["metric", "set", "manual.x", "NaN"], "is not a number"),
    ] {
        let err = repo.fails(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(repo.state_tip(), tip);
}

#[test]
fn export_writes_the_state_files() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("copy");
    repo.ok(&["export", target.to_str().unwrap()]);
    for path in [
        "okrs/org.yml",
        "culture/standards.md",
        "metrics/definitions.yml",
    ] {
        assert_eq!(
            std::fs::read_to_string(target.join(path)).unwrap(),
            repo.state_file(path)
        );
    }
}

#[test]
fn edit_commits_valid_content_with_a_diff_summary() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let org = repo.state_file("okrs/org.yml");
    let editor = editor_writing(
        &repo,
        "ed",
        &org.replace("target: 100", "target: 120\n        unit: tests"),
    );
    let out = repo
        .okr()
        .args(["edit", "okrs/org.yml"])
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        common::stdout(&out).starts_with("Committed okrs/org.yml (+2 -1)"),
        "{}",
        common::stdout(&out)
    );
    assert!(repo.state_file("okrs/org.yml").contains("target: 120"));
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        msg.starts_with("okr: edit okrs/org.yml (+2 -1)") && msg.contains("Okr-File: okrs/org.yml"),
        "{msg}"
    );
    // VISUAL wins over EDITOR; an unchanged file commits nothing.
    let same = editor_writing(&repo, "same", &repo.state_file("okrs/org.yml"));
    let tip = repo.state_tip();
    let out = repo
        .okr()
        .args(["edit", "okrs/org.yml"])
        .env("VISUAL", &same)
        .env("EDITOR", "false")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(common::stdout(&out), "No changes to okrs/org.yml\n");
    assert_eq!(repo.state_tip(), tip);
}

#[test]
fn edit_rejects_invalid_content_and_keeps_it() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let tip = repo.state_tip();
    let org = repo.state_file("okrs/org.yml");
    let cases = [
        (
            org.replace("status: not_started", "status: done"),
            "okrs/org.yml:14:",
        ),
        (org.replace("target: 100", "target: [1"), "okrs/org.yml:"),
        (
            org.replace("target: 100", "target: 100\n        weight: -1"),
            "weight -1 must be a number >= 0",
        ),
        (org.replace("baseline: 0", "baseline: zero"), "baseline"),
    ];
    for (content, needle) in cases {
        let editor = editor_writing(&repo, "bad", &content);
        let out = repo
            .okr()
            .args(["edit", "okrs/org.yml"])
            .env("EDITOR", &editor)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains(needle) && err.contains("nothing committed"),
            "{needle}: {err}"
        );
        assert_eq!(repo.state_tip(), tip);
    }
    let kept = repo.path().join(".git/okr/rejected-edit-okrs_org.yml");
    assert!(std::fs::read_to_string(kept)
        .unwrap()
        .contains("baseline: zero"));
    // An editor that fails commits nothing either.
    let out = repo
        .okr()
        .args(["edit", "okrs/org.yml"])
        .env("EDITOR", "false")
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("the editor"));
    assert_eq!(repo.state_tip(), tip);
}

/// An OKRchestra workspace folder as its users have it.
fn workspace(org: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for d in [
        "okrs",
        "culture",
        "metrics/snapshots",
        "artifacts/plans",
        "audit",
    ] {
        std::fs::create_dir_all(p.join(d)).unwrap();
    }
    std::fs::write(p.join("okrs/org.yml"), org).unwrap();
    std::fs::write(
        p.join("okrs/team-platform.yml"),
        "scope: team\nowner_id: team-platform\nobjectives:\n  - objective_id: OBJ-T1\n    objective: Faster builds\n    key_results:\n      - kr_id: KR-T1.1\n        description: build minutes\n        metric_key: manual.build_minutes\n        baseline: 30\n        target: 10\n        status: in_progress\n        owner_id: team-platform\n        confidence: 0.5\n        evidence: [\"ci:dashboard\"]\n        current: 22\n        last_updated: 2026-01-10\n",
    )
    .unwrap();
    std::fs::write(
        p.join("okrs/permissions.yml"),
        "permissions:\n  read: [all]\n  write: [owner_id_match, delegated_explicitly]\ndelegations:\n  team-platform: [codex]\n",
    )
    .unwrap();
    std::fs::write(p.join("culture/values.md"), "# Our values\n").unwrap();
    std::fs::write(
        p.join("metrics/manual.yml"),
        "metrics:\n  - key: manual.build_minutes\n    value: 22\n    unit: min\n",
    )
    .unwrap();
    std::fs::write(
        p.join("metrics/snapshots/2026-01-18.json"),
        r#"{"schema_version":1,"as_of":"2026-01-18","points":[]}"#,
    )
    .unwrap();
    // OKRchestra's audit log is imported as history (tests/okrchestra.rs); here it is absent.
    dir
}

const OKRCHESTRA_ORG: &str = "objectives:\n  - objective_id: OBJ-1\n    objective: Ship production-ready feature\n    key_results:\n      - kr_id: KR-1.1\n        description: Complete 100 unit tests\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n        status: not_started\n";

#[test]
fn init_from_imports_an_okrchestra_workspace() {
    let ws = workspace(OKRCHESTRA_ORG);
    let repo = TestRepo::with_commit();
    let out = repo.ok(&["init", "--from", ws.path().to_str().unwrap()]);
    assert!(out.contains("from "), "{out}");
    let files = repo.ok(&["show"]);
    for f in [
        "okrs/org.yml",
        "okrs/team-platform.yml",
        "okrs/permissions.yml",
        "okrs/schema.md",
        "culture/values.md",
        "culture/standards.md",
        "metrics/manual.yml",
        "metrics/snapshots/2026-01-18.json",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} missing from {files}");
    }
    assert!(!files.contains("audit"), "{files}");
    assert_eq!(repo.state_file("okrs/org.yml"), OKRCHESTRA_ORG);
    assert_eq!(repo.state_file("culture/values.md"), "# Our values\n");
}

#[test]
fn init_from_rejects_bad_workspaces_with_the_file_named() {
    let not_utf8 = {
        let ws = workspace(OKRCHESTRA_ORG);
        std::fs::write(
            ws.path().join("okrs/team-platform.yml"),
            b"objectives: [\xff\xfe]\n",
        )
        .unwrap();
        ws
    };
    let cases: Vec<(tempfile::TempDir, &str)> = vec![
        (workspace("objectives:\n  - objective_id: OBJ-1\n    key_results: [\n"), "okrs/org.yml:"),
        (workspace(&OKRCHESTRA_ORG.replace("target: 100", "target: \"a lot\"")), "okrs/org.yml:9:"),
        (workspace(&OKRCHESTRA_ORG.replace("status: not_started", "status: done")), "unknown variant `done`"),
        (workspace(&format!("{OKRCHESTRA_ORG}      - kr_id: KR-1.1\n        metric_key: x\n        baseline: 0\n        target: 5\n")), "okrs/org.yml:11: duplicate kr_id \"KR-1.1\""),
        (workspace(&OKRCHESTRA_ORG.replace("        metric_key: ci.test_count\n", "")), "missing field `metric_key`"),
        (not_utf8, "okrs/team-platform.yml: not valid UTF-8"),
        (
            {
                let ws = workspace(OKRCHESTRA_ORG);
                std::fs::write(ws.path().join("metrics/snapshots/2026-01-18.json"), r#"{"as_of":"2026-01-18","points":[]}"#).unwrap();
                ws
            },
            "metrics/snapshots/2026-01-18.json:1: missing field `schema_version`",
        ),
    ];
    for (ws, needle) in cases {
        let repo = TestRepo::with_commit();
        let err = repo.fails(&["init", "--from", ws.path().to_str().unwrap()]);
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(err.starts_with("error: importing "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_eq!(repo.state_tip(), None);
    }
    let repo = TestRepo::with_commit();
    let err = repo.fails(&["init", "--from", "/no/such/workspace"]);
    assert!(err.contains("/no/such/workspace: no such folder"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = repo.fails(&["init", "--from", empty.path().to_str().unwrap()]);
    assert!(err.contains("not an OKRchestra workspace"), "{err}");
    assert_eq!(repo.state_tip(), None);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            // Each writer runs its 25 sets in a shell loop, all 8 at once.
            let bin = assert_cmd::cargo::cargo_bin("git-okr");
            let mut sh = std::process::Command::new("sh");
            sh.current_dir(repo.path()).env_remove("OKR_AGENT").arg("-c").arg(format!(
                "for i in $(seq 1 25); do '{}' metric set manual.w{w} \"$i\" >/dev/null || exit 1; done",
                bin.display()
            ));
            for (k, v) in repo.env() {
                sh.env(k, v);
            }
            sh.spawn().unwrap()
        })
        .collect();
    for mut w in writers {
        assert!(w.wait().unwrap().success());
    }
    assert_eq!(count_state_commits(&repo), 201);
    let log = repo.git(&[
        "log",
        "--format=%(trailers:key=Okr-Metric,valueonly)%(trailers:key=Okr-Value,valueonly)",
        "refs/okr/state",
    ]);
    for w in 0..8 {
        for i in 1..=25 {
            assert!(
                log.contains(&format!("manual.w{w}\n{i}\n")),
                "manual.w{w} = {i} missing"
            );
        }
    }
    let manual = repo.state_file("metrics/manual.yml");
    for w in 0..8 {
        assert!(
            manual.contains(&format!("key: manual.w{w}\n  value: 25\n")),
            "{manual}"
        );
    }
    let fsck = repo.git_output(&["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
}

#[test]
fn edit_refuses_records_git_okr_writes_itself() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo.ok(&["metric", "set", "manual.x", "1"]);
    let out = repo.ok(&[
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=120",
        "--reason",
        "more tests",
    ]);
    let listing = repo.ok(&["show", "proposals"]);
    let proposal = listing.lines().next().expect(&out).to_string();
    // A valid lifecycle step, so only the refusal stands between it and the ref.
    let approved = repo.state_file(&proposal).replace(
        "\nfiles:\n",
        "\n- status: approved\n  by: agent:sneaky\n  at: 2026-11-24T16:21:34Z\nfiles:\n",
    );
    assert!(approved.contains("agent:sneaky"));
    let editor = editor_writing(&repo, "approve", &approved);
    let tip = repo.state_tip();
    let cases = [
        (
            proposal.as_str(),
            "git okr okr propose/approve/reject/apply",
        ),
        ("plans/2026-01-18/p.json", "git okr plan generate"),
        ("runs/r-1/result.json", "git okr plan run"),
        ("metrics/snapshots/2026-01-18.json", "git okr kr measure"),
        ("metrics/ci_report.json", "git okr ci ingest"),
        ("metrics/ci_history.jsonl", "git okr ci ingest"),
    ];
    for (path, writer) in cases {
        let out = repo
            .okr()
            .args(["edit", path])
            .env("EDITOR", &editor)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{path}");
        let err = stderr(&out);
        assert!(
            err.contains(path) && err.contains(writer) && err.lines().count() == 1,
            "{path}: {err}"
        );
        assert_eq!(repo.state_tip(), tip, "{path}");
    }
    assert!(repo.state_file(&proposal).contains("status: proposed"));
    // Files people own stay editable.
    let manual = editor_writing(&repo, "manual", "metrics: []\n");
    repo.okr()
        .args(["edit", "metrics/manual.yml"])
        .env("EDITOR", &manual)
        .assert()
        .success();
    assert_ne!(repo.state_tip(), tip);
}

#[test]
fn exit_codes_tell_usage_from_errors() {
    let repo = TestRepo::with_commit();
    let usage = repo.fails_with(2, &["status", "--no-such-option"]);
    assert!(usage.contains("--no-such-option"), "{usage}");
    // An uninitialized state is an ordinary error.
    let err = repo.fails_with(1, &["status"]);
    assert!(err.contains("run `git okr init` first"), "{err}");
    repo.ok(&["init"]);
    repo.ok(&["status"]);
}
