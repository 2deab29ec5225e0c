//! First use as a new teammate meets it: a fresh clone of a team that already shares
//! refs/okr/state, the quick start's publishing steps, and what `edit` leaves for audit.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

/// A clone of `remote` in a fresh directory, with its own isolated home.
fn clone_of(remote: &TestRepo) -> TestRepo {
    let repo = TestRepo {
        dir: tempfile::tempdir().unwrap(),
        home: tempfile::tempdir().unwrap(),
    };
    repo.git(&["clone", "-q", remote.path().to_str().unwrap(), "."]);
    repo
}

/// A bare remote that already holds a team's state (pushed by a first clone).
fn team_remote() -> TestRepo {
    let remote = TestRepo::bare();
    let first = TestRepo::with_commit();
    first.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    first.git(&["push", "-q", "origin", "main"]);
    first.ok(&["init"]);
    first.ok(&["sync"]);
    assert!(remote.state_tip().is_some());
    remote
}

#[test]
fn a_fresh_clone_is_told_to_pull_not_to_init() {
    let remote = team_remote();
    let clone = clone_of(&remote);
    let url = remote.path().to_str().unwrap();
    let status = clone.run(&["status"]);
    assert_eq!(status.status.code(), Some(1));
    let err = stderr(&status);
    assert!(
        err.contains(&format!("origin ({url}) has it: run `git okr pull`")),
        "{err}"
    );
    let init = clone.run(&["init"]);
    assert!(!init.status.success());
    let err = stderr(&init);
    assert!(
        err.contains(&format!(
            "origin ({url}) already has refs/okr/state: run `git okr pull`"
        )),
        "{err}"
    );
    assert_eq!(clone.state_tip(), None, "no unrelated history was started");
    clone.ok(&["pull"]);
    assert_eq!(clone.state_tip(), remote.state_tip());
    assert!(clone.ok(&["status"]).starts_with("refs/okr/state at"));
}

#[test]
fn without_a_team_state_init_and_status_behave_as_before() {
    // A remote without refs/okr/state, and one that does not exist at all.
    let remote = TestRepo::bare();
    let repo = TestRepo::with_commit();
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    let err = repo.fails(&["status"]);
    assert!(err.contains("run `git okr init` first"), "{err}");
    let out = repo.ok(&["init"]);
    assert!(out.contains("\nNext:\n"), "{out}");
    assert!(out.contains("git okr sync --dry-run"), "{out}");
    assert!(
        out.contains("Nothing is shared until you run `git okr sync`"),
        "{out}"
    );
    assert_eq!(remote.state_tip(), None, "init publishes nothing");
    let gone = TestRepo::with_commit();
    gone.git(&["remote", "add", "origin", "/nonexistent/remote.git"]);
    let err = gone.fails(&["status"]);
    assert!(err.contains("run `git okr init` first"), "{err}");
    gone.ok(&["init"]);
}

#[test]
fn sync_dry_run_says_what_would_go_where_and_changes_nothing() {
    let remote = TestRepo::bare();
    let url = remote.path().to_str().unwrap().to_string();
    let repo = TestRepo::with_commit();
    repo.git(&["remote", "add", "origin", &url]);
    let out = repo.ok(&["sync", "--dry-run"]);
    assert!(
        out.starts_with(&format!("Neither this clone nor origin ({url})")),
        "{out}"
    );
    repo.ok(&["init"]);
    let out = repo.ok(&["sync", "--dry-run"]);
    assert!(
        out.starts_with(&format!(
            "Would publish refs/okr/state ({}, 1 commit) to origin ({url}), which has none yet:",
            &repo.state_tip().unwrap()[..7]
        )),
        "{out}"
    );
    assert!(out.contains("okr: init"), "{out}");
    assert!(
        out.ends_with("Nothing was fetched, committed or pushed.\n"),
        "{out}"
    );
    assert_eq!(remote.state_tip(), None);
    assert!(
        repo.git(&["for-each-ref", "refs/okr-remotes"]).is_empty(),
        "nothing fetched"
    );
    // The first real push names where it went.
    let out = repo.ok(&["sync"]);
    assert!(
        out.contains(&format!("Pushed refs/okr/state to origin at {url} (")),
        "{out}"
    );
    assert!(out.contains("the first time from this clone"), "{out}");
    repo.ok(&["metric", "set", "manual.x", "1"]);
    let tip = repo.state_tip();
    let before = remote.state_tip().unwrap();
    let out = repo.ok(&["sync", "--dry-run"]);
    assert!(
        out.starts_with(&format!("Would push refs/okr/state {}..", &before[..7])),
        "{out}"
    );
    assert!(out.contains("(1 commit) to origin"), "{out}");
    assert!(out.contains("okr: metric set manual.x = 1"), "{out}");
    let json: Value = serde_json::from_str(&repo.ok(&["sync", "--dry-run", "--json"])).unwrap();
    assert_eq!(json["action"], "push");
    assert_eq!(json["url"], url.as_str());
    assert_eq!(json["theirs"], before.as_str());
    assert_eq!(json["commits"].as_array().unwrap().len(), 1);
    assert_eq!(remote.state_tip().unwrap(), before);
    assert_eq!(repo.state_tip(), tip);
    // Later pushes are short.
    let out = repo.ok(&["push"]);
    assert!(
        out.starts_with("Pushed refs/okr/state to origin (") && !out.contains("first time"),
        "{out}"
    );
    let out = repo.ok(&["sync", "--dry-run"]);
    assert!(out.starts_with("Up to date with origin"), "{out}");
    // Someone else pushed: dry run says it would merge.
    let other = clone_of(&remote);
    other.ok(&["pull"]);
    other.ok(&["metric", "set", "manual.y", "2"]);
    other.ok(&["push"]);
    repo.ok(&["metric", "set", "manual.z", "3"]);
    let out = repo.ok(&["sync", "--dry-run"]);
    assert!(
        out.starts_with("Would fetch origin's refs/okr/state"),
        "{out}"
    );
    assert!(out.contains("merge it with yours"), "{out}");
    let bad = repo.run(&["sync", "--dry-run", "--ours"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn daemon_schedule_says_nothing_runs_yet() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let out = repo.ok(&[
        "daemon",
        "schedule",
        "--cron",
        "0 9 * * 1-5",
        "--job",
        "kr_measure",
    ]);
    assert!(
        out.contains("Nothing runs until a daemon does: `git okr daemon run`"),
        "{out}"
    );
    assert!(out.contains("`git okr daemon install`"), "{out}");
}

#[test]
fn edit_commits_name_the_krs_and_fields_they_change() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let org = repo.state_file("okrs/org.yml");
    assert!(org.contains("target: 100"));
    let edited = org.replacen("target: 100", "target: 120", 1);
    let content = repo.home.path().join("org.yml");
    std::fs::write(&content, edited).unwrap();
    let editor = repo.home.path().join("ed.sh");
    std::fs::write(
        &editor,
        format!("#!/bin/sh\ncp '{}' \"$1\"\n", content.display()),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = repo
        .okr()
        .args(["edit", "okrs/org.yml"])
        .env("GIT_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("Committed okrs/org.yml (+1 -1)"));
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(msg.contains("Okr-KR: KR-1.1\n"), "{msg}");
    assert!(
        msg.contains("Okr-Change: KR-1.1 target 100 -> 120\n"),
        "{msg}"
    );
    let trailers = repo.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Okr-Change,valueonly)",
        "refs/okr/state",
    ]);
    assert_eq!(
        trailers.trim(),
        "KR-1.1 target 100 -> 120",
        "git reads it as a trailer"
    );
    // audit --kr answers who changed the target.
    let events: Vec<Value> =
        serde_json::from_str(&repo.ok(&["audit", "--kr", "KR-1.1", "--action", "edit", "--json"]))
            .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], "alice@example.com");
    assert!(events[0]["message"]
        .as_str()
        .unwrap()
        .contains("KR-1.1 target 100 -> 120"));
    // Editing a file that is not an OKR file adds no KR trailers.
    let manual = repo.state_file("metrics/manual.yml");
    std::fs::write(&content, format!("{manual}\n# note\n")).unwrap();
    let out = repo
        .okr()
        .args(["edit", "metrics/manual.yml"])
        .env("GIT_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        !msg.contains("Okr-KR") && !msg.contains("Okr-Change"),
        "{msg}"
    );
}
