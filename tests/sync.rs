//! Sync between clones through a bare remote, with the real binary: convergence in every
//! order, conflicts and their settling, broken remotes, push races, pull/push, --setup.

mod common;

use common::{stderr, stdout, TestRepo};
use std::collections::BTreeSet;

/// A clone of `remote` in a fresh directory, with its own isolated home.
fn clone_of(remote: &TestRepo) -> TestRepo {
    let repo = TestRepo {
        dir: tempfile::tempdir().unwrap(),
        home: tempfile::tempdir().unwrap(),
    };
    repo.git(&["clone", "-q", remote.path().to_str().unwrap(), "."]);
    repo
}

fn tree(repo: &TestRepo) -> String {
    repo.git(&["rev-parse", "refs/okr/state^{tree}"])
        .trim()
        .to_string()
}

fn remote_tip(remote: &TestRepo) -> Option<String> {
    remote.state_tip()
}

/// A bare remote and `n` clones; the first has run `init` and synced, the others synced.
fn network(n: usize) -> (TestRepo, Vec<TestRepo>) {
    let remote = TestRepo::bare();
    let clones: Vec<TestRepo> = (0..n).map(|_| clone_of(&remote)).collect();
    clones[0].ok(&["init"]);
    let out = clones[0].ok(&["sync"]);
    assert!(out.contains("origin has no refs/okr/state yet"), "{out}");
    assert!(out.contains("Pushed refs/okr/state to origin"), "{out}");
    for c in &clones[1..] {
        let out = c.ok(&["sync"]);
        assert!(out.contains("Fast-forwarded refs/okr/state"), "{out}");
    }
    (remote, clones)
}

fn proposal_id(stdout: &str) -> String {
    stdout
        .strip_prefix("Proposed ")
        .and_then(|s| s.split_whitespace().next())
        .expect(stdout)
        .to_string()
}

/// Propose, approve and (optionally) apply a change; returns the proposal id.
fn change(repo: &TestRepo, set: &str, apply: bool) -> String {
    let id = proposal_id(&repo.ok(&["okr", "propose", "--set", set, "--reason", "sync test"]));
    repo.ok(&["okr", "approve", &id]);
    if apply {
        repo.ok(&["okr", "apply", &id]);
    }
    id
}

fn proposals(repo: &TestRepo) -> BTreeSet<String> {
    repo.git(&["ls-tree", "--name-only", "refs/okr/state:proposals/"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn manual(repo: &TestRepo) -> serde_yaml::Value {
    serde_yaml::from_str(&repo.state_file("metrics/manual.yml")).unwrap()
}

fn manual_value(repo: &TestRepo, key: &str) -> Option<f64> {
    manual(repo)["metrics"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["key"].as_str() == Some(key))
        .and_then(|m| m["value"].as_f64())
}

fn kr(repo: &TestRepo, kr_id: &str) -> serde_yaml::Value {
    let org: serde_yaml::Value = serde_yaml::from_str(&repo.state_file("okrs/org.yml")).unwrap();
    org["objectives"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|o| o["key_results"].as_sequence().unwrap().iter())
        .find(|k| k["kr_id"].as_str() == Some(kr_id))
        .cloned()
        .unwrap()
}

fn second_passes() {
    // Timestamps have whole seconds: make "later" unambiguous.
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// Work done on three clones before any of them syncs.
struct Work {
    ids: Vec<String>,
}

fn concurrent_work(c: &[TestRepo]) -> Work {
    // Clone 0: a manual metric, a CI build, a measurement, an applied proposal.
    c[0].ok(&["metric", "set", "manual.shared", "1"]);
    c[0].ok(&["metric", "set", "manual.zero", "10"]);
    c[0].ok(&["ci", "ingest", "--build", "success"]);
    c[0].ok(&["kr", "measure"]);
    let a = change(
        &c[0],
        "KR-1.1.description=Complete 100 fast unit tests",
        true,
    );
    // Clone 1: the KR's metric reaches its target, measured; an approved proposal.
    c[1].ok(&["metric", "set", "ci.test_count", "120"]);
    c[1].ok(&["metric", "set", "manual.one", "11"]);
    c[1].ok(&["kr", "measure"]);
    let b = change(&c[1], "KR-1.1.confidence=0.9", false);
    // Clone 2, a second later: the same manual key as clone 0 (later wins), a failed build.
    second_passes();
    c[2].ok(&["metric", "set", "manual.shared", "3"]);
    c[2].ok(&["ci", "ingest", "--build", "failure"]);
    c[2].ok(&["kr", "measure"]);
    let p = proposal_id(&c[2].ok(&[
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=110",
        "--reason",
        "r",
    ]));
    Work { ids: vec![a, b, p] }
}

fn check_nothing_lost(repo: &TestRepo, work: &Work) {
    let ids: BTreeSet<String> = work.ids.iter().map(|id| format!("{id}.yml")).collect();
    assert_eq!(proposals(repo), ids);
    let status_of = |id: &str| {
        let p: serde_yaml::Value =
            serde_yaml::from_str(&repo.state_file(&format!("proposals/{id}.yml"))).unwrap();
        p["lifecycle"].as_sequence().unwrap().last().unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status_of(&work.ids[0]), "applied");
    assert_eq!(status_of(&work.ids[1]), "approved");
    assert_eq!(status_of(&work.ids[2]), "proposed");
    assert_eq!(manual_value(repo, "manual.shared"), Some(3.0));
    assert_eq!(manual_value(repo, "manual.zero"), Some(10.0));
    assert_eq!(manual_value(repo, "manual.one"), Some(11.0));
    assert_eq!(manual_value(repo, "ci.test_count"), Some(120.0));
    let k = kr(repo, "KR-1.1");
    assert_eq!(
        k["description"].as_str(),
        Some("Complete 100 fast unit tests")
    );
    assert_eq!(k["status"].as_str(), Some("achieved"), "{k:?}");
    assert_eq!(k["current"].as_f64(), Some(120.0), "{k:?}");
    let history = repo.state_file("metrics/ci_history.jsonl");
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(
        history.lines().next().unwrap().contains("success"),
        "{history}"
    );
    let report = repo.state_file("metrics/ci_report.json");
    assert!(
        report.contains("\"failure\""),
        "the later report wins: {report}"
    );
    let snapshots = repo.git(&[
        "ls-tree",
        "--name-only",
        "refs/okr/state:metrics/snapshots/",
    ]);
    assert_eq!(snapshots.lines().count(), 1, "{snapshots}");
    let merged = repo.git(&["log", "--format=%H", "--merges", "refs/okr/state"]);
    assert!(
        !merged.trim().is_empty(),
        "a merge commit records both histories"
    );
}

#[test]
fn concurrent_work_on_three_clones_converges_in_every_order() {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let (remote, c) = network(3);
        let work = concurrent_work(&c);
        for round in 0..2 {
            for &i in &order {
                let out = c[i].run(&["sync"]);
                assert!(
                    out.status.success(),
                    "order {order:?} round {round} clone {i}: {}",
                    stderr(&out)
                );
            }
        }
        let trees: BTreeSet<String> = c.iter().map(tree).collect();
        assert_eq!(trees.len(), 1, "order {order:?}: clones differ");
        assert_eq!(
            remote.git(&["rev-parse", "refs/okr/state^{tree}"]).trim(),
            tree(&c[0])
        );
        for repo in &c {
            check_nothing_lost(repo, &work);
        }
        // The merge commit says what it is.
        let msg = c[0].git(&["log", "-1", "--merges", "--format=%B", "refs/okr/state"]);
        assert!(msg.starts_with("okr: sync with origin (merge)"), "{msg}");
        assert!(msg.contains("Okr-Action: sync-merge"), "{msg}");
        assert!(msg.contains("Okr-Remote: origin"), "{msg}");
        assert!(
            msg.contains(&format!("Okr-Actor: {}", common::AUTHOR_EMAIL)),
            "{msg}"
        );
    }
}

#[test]
fn a_definition_conflict_is_reported_and_settled_with_ours_or_theirs() {
    let (remote, c) = network(3);
    change(&c[0], "KR-1.1.target=120", true);
    change(&c[1], "KR-1.1.target=150", true);
    change(&c[2], "KR-1.1.target=200", true);
    c[0].ok(&["sync"]);

    let before = c[1].state_tip();
    let err = c[1].fails_with(3, &["sync"]);
    assert!(
        err.contains("1 conflict between your refs/okr/state and origin's"),
        "{err}"
    );
    assert!(
        err.contains("okrs/org.yml: KR-1.1 target: base 100, ours 150, theirs 120"),
        "{err}"
    );
    assert!(err.contains("--ours") && err.contains("--theirs"), "{err}");
    assert_eq!(c[1].state_tip(), before, "the local ref is untouched");
    assert_eq!(kr(&c[1], "KR-1.1")["target"].as_f64(), Some(150.0));

    let out = c[1].ok(&["sync", "--theirs"]);
    assert!(
        out.contains("settled with theirs: okrs/org.yml: KR-1.1 target"),
        "{out}"
    );
    assert_eq!(kr(&c[1], "KR-1.1")["target"].as_f64(), Some(120.0));
    assert_eq!(proposals(&c[1]).len(), 2, "both proposals are kept");

    let err = c[2].fails(&["pull"]);
    assert!(err.contains("ours 200, theirs 120"), "{err}");
    let out = c[2].ok(&["sync", "--ours"]);
    assert!(out.contains("settled with ours"), "{out}");
    assert_eq!(kr(&c[2], "KR-1.1")["target"].as_f64(), Some(200.0));
    let body = c[2].git(&["log", "-1", "--format=%b", "refs/okr/state"]);
    assert!(
        body.contains(
            "settled with ours: okrs/org.yml: KR-1.1 target: base 100, ours 200, theirs 120"
        ),
        "{body}"
    );

    for repo in &c {
        repo.ok(&["sync"]);
    }
    assert_eq!(kr(&c[0], "KR-1.1")["target"].as_f64(), Some(200.0));
    assert_eq!(proposals(&c[0]).len(), 3);
    assert_eq!(tree(&c[0]), tree(&c[1]));
    assert_eq!(remote.state_tip(), c[1].state_tip());
}

#[test]
fn different_fields_of_one_kr_merge_without_conflict() {
    let (_remote, c) = network(2);
    change(&c[0], "KR-1.1.target=120", true);
    change(&c[1], "KR-1.1.owner_id=team-frontend", true);
    c[0].ok(&["sync"]);
    let out = c[1].ok(&["sync"]);
    assert!(out.contains("Merged origin's refs/okr/state"), "{out}");
    let k = kr(&c[1], "KR-1.1");
    assert_eq!(k["target"].as_f64(), Some(120.0));
    assert_eq!(k["owner_id"].as_str(), Some("team-frontend"));
}

#[test]
fn unreachable_remotes_fail_clearly_and_change_nothing() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo.ok(&["metric", "set", "manual.kept", "1"]);
    let tip = repo.state_tip();
    repo.git(&["remote", "add", "gone", "/nonexistent/okr-remote.git"]);
    let err = repo.fails(&["sync", "gone"]);
    assert!(err.contains("could not fetch from gone"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    let err = repo.fails(&["sync", "/does/not/exist"]);
    assert!(
        err.contains("could not fetch from /does/not/exist"),
        "{err}"
    );
    let err = repo.fails(&["push", "gone"]);
    assert!(err.contains("could not push to gone"), "{err}");
    assert_eq!(repo.state_tip(), tip);
    assert_eq!(manual_value(&repo, "manual.kept"), Some(1.0));
}

#[test]
fn without_a_remote_the_message_says_what_to_do() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let err = repo.fails(&["sync"]);
    assert!(err.contains("no remote to sync with"), "{err}");
    assert!(
        err.contains("branch main has no branch.main.remote"),
        "{err}"
    );
    let err = repo.fails(&["sync", "upstream"]);
    assert!(err.contains("no remote named \"upstream\""), "{err}");
}

#[test]
fn the_branch_remote_is_the_default() {
    let remote = TestRepo::bare();
    let repo = TestRepo::with_commit();
    repo.git(&["remote", "add", "team", remote.path().to_str().unwrap()]);
    repo.git(&["config", "branch.main.remote", "team"]);
    repo.ok(&["init"]);
    let out = repo.ok(&["sync"]);
    assert!(out.contains("Pushed refs/okr/state to team"), "{out}");
    assert_eq!(remote.state_tip(), repo.state_tip());
    assert!(
        repo.git(&["rev-parse", "refs/okr-remotes/team/state"])
            .trim()
            == repo.state_tip().unwrap()
    );
}

#[test]
fn a_rewritten_remote_ref_is_refused_and_nothing_is_lost() {
    let (remote, c) = network(2);
    // Someone replaced the remote's state with an unrelated history.
    let other = clone_of(&remote);
    // `--force`: init refuses to start an unrelated history when origin has a state.
    other.ok(&["init", "--force"]);
    // (Two inits in the same second make the same commit: give this one its own root.)
    let tree = other.git(&["rev-parse", "refs/okr/state^{tree}"]);
    let root = other.git(&["commit-tree", tree.trim(), "-m", "okr: init (rewritten)"]);
    other.git(&["update-ref", "refs/okr/state", root.trim()]);
    other.git(&[
        "push",
        "-q",
        "--force",
        "origin",
        "refs/okr/state:refs/okr/state",
    ]);
    let rewritten = remote_tip(&remote);

    c[0].ok(&["metric", "set", "manual.mine", "7"]);
    let tip = c[0].state_tip();
    let err = c[0].fails_with(3, &["sync"]);
    assert!(err.contains("no common history"), "{err}");
    assert!(err.contains("your ref is untouched"), "{err}");
    assert!(
        err.contains("git update-ref refs/okr/state refs/okr-remotes/origin/state"),
        "{err}"
    );
    assert_eq!(c[0].state_tip(), tip);
    assert_eq!(manual_value(&c[0], "manual.mine"), Some(7.0));
    assert_eq!(
        remote_tip(&remote),
        rewritten,
        "the remote is untouched too"
    );
    let err = c[1].fails_with(3, &["pull"]);
    assert!(err.contains("no common history"), "{err}");
}

#[test]
fn a_push_refused_because_the_remote_moved_is_retried() {
    let (remote, c) = network(2);
    c[0].ok(&["metric", "set", "manual.first", "1"]);
    c[1].ok(&["metric", "set", "manual.second", "2"]);
    // While clone 0 pushes, clone 1 pushes first (from clone 0's pre-push hook, once).
    let bin = assert_cmd::cargo::cargo_bin("git-okr");
    let marker = c[0].home.path().join("raced");
    let hook = c[0].path().join(".git/hooks/pre-push");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n[ \"$GIT_OKR_HOOK\" = 1 ] || exit 1\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\nif [ ! -e '{m}' ]; then touch '{m}'; cd '{b}' && '{bin}' push >/dev/null || exit 1; fi\nexit 0\n",
            m = marker.display(),
            b = c[1].path().display(),
            bin = bin.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = c[0].ok(&["sync"]);
    assert!(marker.exists(), "the race happened");
    assert!(
        out.contains("origin moved during the sync; fetched and merged again (1 time)"),
        "{out}"
    );
    assert!(out.contains("Pushed refs/okr/state to origin"), "{out}");
    assert_eq!(remote.state_tip(), c[0].state_tip());
    c[1].ok(&["sync"]);
    for repo in &c {
        assert_eq!(manual_value(repo, "manual.first"), Some(1.0));
        assert_eq!(manual_value(repo, "manual.second"), Some(2.0));
    }
    assert_eq!(tree(&c[0]), tree(&c[1]));
}

#[test]
fn clones_syncing_at_the_same_time_all_end_up_merged() {
    let (remote, c) = network(3);
    for (i, repo) in c.iter().enumerate() {
        repo.ok(&["metric", "set", &format!("manual.clone{i}"), &i.to_string()]);
    }
    let children: Vec<_> = c
        .iter()
        .map(|repo| {
            let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("git-okr"));
            cmd.current_dir(repo.path()).arg("sync");
            for (k, v) in repo.env() {
                cmd.env(k, v);
            }
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    for repo in &c {
        repo.ok(&["sync"]);
    }
    let trees: BTreeSet<String> = c.iter().map(tree).collect();
    assert_eq!(trees.len(), 1);
    assert_eq!(remote.state_tip(), c[2].state_tip());
    for i in 0..3 {
        assert_eq!(
            manual_value(&c[0], &format!("manual.clone{i}")),
            Some(i as f64)
        );
    }
}

#[test]
fn push_refuses_a_non_fast_forward_and_pull_merges() {
    let (remote, c) = network(2);
    c[0].ok(&["metric", "set", "manual.a", "1"]);
    c[0].ok(&["push"]);
    c[1].ok(&["metric", "set", "manual.b", "2"]);
    let before = remote.state_tip();
    let err = c[1].fails_with(3, &["push"]);
    assert!(err.contains("origin refused the push"), "{err}");
    assert!(err.contains("run `git okr sync origin`"), "{err}");
    assert_eq!(remote.state_tip(), before);
    let out = c[1].ok(&["pull"]);
    assert!(out.contains("Merged origin's refs/okr/state"), "{out}");
    assert_eq!(remote.state_tip(), before, "pull does not push");
    let out = c[1].ok(&["push"]);
    assert!(out.contains("Pushed refs/okr/state to origin"), "{out}");
    assert_eq!(remote.state_tip(), c[1].state_tip());
    assert_eq!(c[1].ok(&["push"]).trim(), "origin is up to date");
    let out = c[0].ok(&["pull"]);
    assert!(out.starts_with("Fast-forwarded"), "{out}");
    assert_eq!(c[0].ok(&["pull"]).trim(), "Already up to date with origin");
}

#[test]
fn setup_adds_refspecs_once_and_push_too_keeps_the_branch_pushed() {
    let remote = TestRepo::bare();
    let repo = TestRepo::with_commit();
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    repo.ok(&["init"]);
    let out = repo.ok(&["sync", "--setup"]);
    assert!(
        out.contains("Added remote.origin.fetch = +refs/okr/*:refs/okr-remotes/origin/*"),
        "{out}"
    );
    let out = repo.ok(&["sync", "--setup"]);
    assert!(out.contains("Already set: remote.origin.fetch"), "{out}");
    let fetch = repo.git(&["config", "--get-all", "remote.origin.fetch"]);
    assert_eq!(fetch.matches("refs/okr-remotes").count(), 1, "{fetch}");
    assert!(
        fetch.contains("+refs/heads/*:refs/remotes/origin/*"),
        "the default stays: {fetch}"
    );
    // A remote without the ref: the wildcard keeps plain fetch working.
    repo.git(&["fetch", "-q", "origin"]);
    assert!(repo.fails(&["sync", "--push-too"]).contains("--setup"));

    let out = repo.ok(&["sync", "--setup", "--push-too"]);
    assert!(out.contains("Added remote.origin.push = HEAD"), "{out}");
    assert!(
        out.contains("Added remote.origin.push = refs/okr/state:refs/okr/state"),
        "{out}"
    );
    assert!(out.contains("replaces git's default push"), "{out}");
    repo.git(&["push", "-q", "origin"]);
    assert_eq!(remote.state_tip(), repo.state_tip());
    assert_eq!(
        remote.git(&["rev-parse", "refs/heads/main"]),
        repo.git(&["rev-parse", "refs/heads/main"]),
        "plain git push still pushes the branch"
    );
    // And plain fetch now carries the state.
    let other = clone_of(&remote);
    other.ok(&["sync", "--setup"]);
    other.git(&["fetch", "-q", "origin"]);
    assert_eq!(
        other
            .git(&["rev-parse", "refs/okr-remotes/origin/state"])
            .trim(),
        repo.state_tip().unwrap()
    );
    assert!(other.ok(&["pull"]).starts_with("Fast-forwarded"));
}

#[test]
fn syncing_before_anyone_initialized_says_so() {
    let remote = TestRepo::bare();
    let c = clone_of(&remote);
    let err = c.fails(&["sync"]);
    assert!(err.contains("run `git okr init` first"), "{err}");
    assert!(c.state_tip().is_none());
}
