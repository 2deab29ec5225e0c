//! OKR change proposals end to end: permissions, lifecycle, apply on a moved base,
//! refusals and bad input, against the real binary on real repositories.

mod common;

use common::{stderr, TestRepo};

const ORG_OWNER: &str = "team-backend";

fn repo() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo
}

/// `git okr ARGS` as agent `agent` (via `--agent`).
fn as_agent(agent: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec!["--agent".to_string(), agent.to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The proposal id printed by `propose`.
fn proposed_id(stdout: &str) -> String {
    let id = stdout
        .strip_prefix("Proposed ")
        .and_then(|s| s.split_whitespace().next())
        .expect(stdout);
    assert!(
        id.starts_with("P-") && id.len() == "P-20261124-abcdef".len(),
        "{stdout}"
    );
    id.to_string()
}

fn propose(repo: &TestRepo, args: &[&str]) -> String {
    let mut all = vec!["okr", "propose"];
    all.extend_from_slice(args);
    proposed_id(&repo.ok(&all))
}

/// Write a file straight onto refs/okr/state with git plumbing (no validation), as a
/// teammate's hand edit or a broken import could.
fn put_raw(repo: &TestRepo, path: &str, content: &str) {
    let src = repo.home.path().join("raw-content");
    std::fs::write(&src, content).unwrap();
    let blob = repo
        .git(&["hash-object", "-w", src.to_str().unwrap()])
        .trim()
        .to_string();
    let index = repo.home.path().join("raw-index");
    let git_idx = |args: &[&str]| {
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(repo.path())
            .args(args)
            .env("GIT_INDEX_FILE", &index);
        for (k, v) in repo.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git_idx(&["read-tree", "refs/okr/state"]);
    git_idx(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("100644,{blob},{path}"),
    ]);
    let tree = git_idx(&["write-tree"]);
    let commit = repo.git(&[
        "commit-tree",
        &tree,
        "-p",
        "refs/okr/state",
        "-m",
        &format!("raw edit of {path}"),
    ]);
    repo.git(&["update-ref", "refs/okr/state", commit.trim()]);
}

/// Run a command that must fail with exit status 1; check the ref did not move and the
/// error is one line.
fn refused(repo: &TestRepo, args: &[&str]) -> String {
    fails_with(repo, ERROR, args)
}

/// Exit statuses (README "Exit codes").
const ERROR: i32 = 1;
const CONFLICT: i32 = 3;
const REFUSED: i32 = 4;

/// `refused` with the exit status the failure must have.
fn fails_with(repo: &TestRepo, code: i32, args: &[&str]) -> String {
    let before = repo.state_tip();
    let err = repo.fails_with(code, args);
    assert_eq!(
        repo.state_tip(),
        before,
        "the ref moved on a refused command {args:?}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one clear error line expected: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// Every commit message of the state ref, newest first.
fn messages(repo: &TestRepo) -> Vec<String> {
    repo.git(&["log", "--format=%B%x00", "refs/okr/state"])
        .split('\0')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

fn trailer_values(message: &str, key: &str) -> Vec<String> {
    message
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}: ")))
        .map(String::from)
        .collect()
}

#[test]
fn permission_matrix() {
    let repo = repo();
    let set = [
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=120",
        "--reason",
        "raise the bar",
    ];
    let agent = |name: &str| as_agent(name, &set);

    // The template's rule: agent team-backend may propose for owner team-backend.
    repo.ok(&strs(&agent("team-backend")));

    // An agent unknown under default_policy: deny.
    let err = fails_with(&repo, REFUSED, &strs(&agent("stranger")));
    assert!(
        err.contains(
            "agent stranger may not propose changes to OBJ-1 (KR-1.1) owned by team-backend"
        ),
        "{err}"
    );
    assert!(err.contains("rule `default_policy: deny`"), "{err}");

    // OKR_AGENT works like --agent.
    let before = repo.state_tip();
    let out = repo
        .okr()
        .env("OKR_AGENT", "stranger")
        .args(set)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("agent stranger may not"),
        "{}",
        stderr(&out)
    );
    assert_eq!(repo.state_tip(), before);

    // A person always may.
    repo.ok(&set);

    // An agent listed for another owner, and an unknown agent, under allow.
    put_raw(
        &repo,
        "okrs/permissions.yml",
        "default_policy: allow\npermissions:\n  - agent: team-web\n    can_propose_for:\n      - owner: team-web\n",
    );
    let err = fails_with(&repo, REFUSED, &strs(&agent("team-web")));
    assert!(
        err.contains(
            "agent team-web may not propose changes to OBJ-1 (KR-1.1) owned by team-backend"
        ),
        "{err}"
    );
    assert!(
        err.contains("is listed but not for owner team-backend"),
        "{err}"
    );
    repo.ok(&strs(&agent("stranger")));

    // Under deny, an agent listed for another owner.
    put_raw(
        &repo,
        "okrs/permissions.yml",
        "default_policy: deny\npermissions:\n  - agent: team-web\n    can_propose_for:\n      - owner: team-web\n",
    );
    let err = fails_with(&repo, REFUSED, &strs(&agent("team-web")));
    assert!(
        err.contains("owned by team-backend") && err.contains("default_policy: deny"),
        "{err}"
    );

    // OKRchestra's code form: the owner itself, and agents it delegates to.
    put_raw(
        &repo,
        "okrs/permissions.yml",
        "permissions:\n  read: [all]\n  write: [owner_id_match, delegated_explicitly]\ndelegations:\n  team-backend: [codex]\n",
    );
    repo.ok(&strs(&agent("codex")));
    repo.ok(&strs(&agent(ORG_OWNER)));
    let err = fails_with(&repo, REFUSED, &strs(&agent("claude")));
    assert!(
        err.contains(
            "agent claude may not propose changes to OBJ-1 (KR-1.1) owned by team-backend"
        ),
        "{err}"
    );

    // A KR the agent adds to someone else's objective needs that owner too, even when the
    // agent makes itself the KR's owner (owner_id_match alone would let it in).
    repo.write(
        "kr.yml",
        "kr_id: KR-1.2\nmetric_key: git.commits\nbaseline: 0\ntarget: 50\nowner_id: claude\n",
    );
    let add_kr = [
        "okr", "propose", "--add-kr", "OBJ-1", "--file", "kr.yml", "--reason", "r",
    ];
    let err = fails_with(&repo, REFUSED, &strs(&as_agent("claude", &add_kr)));
    assert!(
        err.contains("agent claude may not propose changes to OBJ-1 owned by team-backend"),
        "{err}"
    );
    let err = fails_with(&repo, REFUSED, &strs(&as_agent("codex", &add_kr)));
    assert!(
        err.contains("agent codex may not propose changes to OBJ-1 (KR-1.2) owned by claude"),
        "{err}"
    );
    repo.write(
        "kr.yml",
        "kr_id: KR-1.2\nmetric_key: git.commits\nbaseline: 0\ntarget: 50\n",
    );
    repo.ok(&strs(&as_agent("codex", &add_kr)));
    assert_eq!(
        repo.ok(&["okr", "list", "--status", "proposed"])
            .lines()
            .count(),
        6
    );
}

#[test]
fn whole_lifecycle_with_trailers() {
    let repo = repo();
    let untouched = repo.user_visible_state();
    let id = proposed_id(&repo.ok(&strs(&as_agent(
        ORG_OWNER,
        &[
            "propose",
            "--set",
            "KR-1.1.target=120",
            "--set",
            "OBJ-1.objective=Ship it well",
            "--reason",
            "raise the bar",
        ],
    ))));
    let file = repo.state_file(&format!("proposals/{id}.yml"));
    assert!(file.contains("proposer: agent:team-backend"), "{file}");
    assert!(file.contains("value: 120\n"), "typed as a number: {file}");
    assert!(
        file.contains("--- a/okrs/org.yml") && file.contains("+        target: 120"),
        "{file}"
    );

    let list = repo.ok(&["okr", "list"]);
    assert!(
        list.starts_with(&format!("{id}  proposed  agent:team-backend")),
        "{list}"
    );
    // Not a terminal: a plain diff, no colours.
    let shown = repo.ok(&["okr", "show", &id]);
    assert!(
        shown.contains("-        target: 100\n+        target: 120\n") && !shown.contains('\x1b'),
        "{shown}"
    );
    // The diff is of the lines that change: the template's comments survive.
    assert!(shown.contains("files     okrs/org.yml +2 -2"), "{shown}");

    repo.ok(&["okr", "approve", &id[..10]]);
    assert!(repo
        .ok(&["okr", "list", "--status", "approved"])
        .contains(&id));
    assert_eq!(
        repo.ok(&["okr", "list", "--status", "proposed"]).trim(),
        "No proposals in status proposed"
    );

    let before = messages(&repo).len();
    let out = repo.ok(&["apply", &id]);
    assert!(
        out.starts_with(&format!("Applied {id} (okrs/org.yml +2 -2)")),
        "{out}"
    );
    assert_eq!(messages(&repo).len(), before + 1, "apply is one commit");
    let touched = repo.git(&["show", "--name-only", "--format=", "refs/okr/state"]);
    assert_eq!(
        touched.lines().collect::<Vec<_>>(),
        vec!["okrs/org.yml".to_string(), format!("proposals/{id}.yml")]
    );
    let org = repo.state_file("okrs/org.yml");
    assert!(
        org.contains("target: 120") && org.contains("objective: Ship it well"),
        "{org}"
    );
    assert!(
        org.starts_with("# Organization OKRs."),
        "comments kept: {org}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&repo.ok(&["okr", "list", "--json"])).unwrap();
    let steps: Vec<(&str, &str)> = json[0]["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["status"].as_str().unwrap(), s["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("proposed", "agent:team-backend"),
            ("approved", common::AUTHOR_EMAIL),
            ("applied", common::AUTHOR_EMAIL)
        ]
    );
    assert_eq!(json[0]["status"], "applied");

    // Every step is a commit with its action, actor, proposal and the ids it touches.
    let msgs = messages(&repo);
    let expect = [
        ("apply", common::AUTHOR_EMAIL),
        ("approve", common::AUTHOR_EMAIL),
        ("propose", "agent:team-backend"),
    ];
    for (msg, (action, actor)) in msgs.iter().zip(expect) {
        assert_eq!(trailer_values(msg, "Okr-Action"), vec![action], "{msg}");
        assert_eq!(trailer_values(msg, "Okr-Actor"), vec![actor], "{msg}");
        assert_eq!(
            trailer_values(msg, "Okr-Proposal"),
            vec![id.clone()],
            "{msg}"
        );
        assert_eq!(trailer_values(msg, "Okr-KR"), vec!["KR-1.1"], "{msg}");
        assert_eq!(trailer_values(msg, "Okr-Objective"), vec!["OBJ-1"], "{msg}");
    }
    assert!(msgs[0].contains("okrs/org.yml +2 -2"), "{}", msgs[0]);
    assert_eq!(trailer_values(&msgs[3], "Okr-Action"), vec!["init"]);
    assert_eq!(
        repo.user_visible_state(),
        untouched,
        "work tree, index, HEAD and branches untouched"
    );
}

#[test]
fn reject_and_withdraw() {
    let repo = repo();
    let id = propose(&repo, &["--set", "KR-1.1.target=120", "--reason", "r"]);
    refused(&repo, &["okr", "reject", &id, "--reason", " "]);
    repo.ok(&["okr", "reject", &id, "--reason", "too ambitious"]);
    let msg = &messages(&repo)[0];
    assert_eq!(trailer_values(msg, "Okr-Action"), vec!["reject"]);
    assert!(msg.contains("too ambitious"));
    let err = refused(&repo, &["okr", "apply", &id]);
    assert!(
        err.contains(&format!(
            "{id} cannot be applied: it was rejected by alice@example.com"
        )),
        "{err}"
    );
    assert!(err.contains(": too ambitious"), "{err}");
    let err = refused(&repo, &["okr", "approve", &id]);
    assert!(
        err.contains("is rejected; only a proposed proposal can be approved"),
        "{err}"
    );

    // An agent may withdraw its own proposal, not another's.
    let mine = proposed_id(&repo.ok(&strs(&as_agent(
        ORG_OWNER,
        &["propose", "--set", "KR-1.1.target=90", "--reason", "r"],
    ))));
    let other = propose(&repo, &["--set", "KR-1.1.target=80", "--reason", "r"]);
    let err = fails_with(
        &repo,
        REFUSED,
        &strs(&as_agent(
            ORG_OWNER,
            &["okr", "reject", &other, "--reason", "no"],
        )),
    );
    assert!(
        err.contains("agent team-backend may not reject proposals"),
        "{err}"
    );
    repo.ok(&strs(&as_agent(
        ORG_OWNER,
        &["okr", "reject", &mine, "--reason", "withdrawn"],
    )));
    assert!(repo
        .ok(&["okr", "list", "--status", "rejected"])
        .contains(&mine));
}

#[test]
fn only_approved_proposals_apply_once() {
    let repo = repo();
    let id = propose(&repo, &["--set", "KR-1.1.target=120", "--reason", "r"]);
    let err = refused(&repo, &["okr", "apply", &id]);
    assert!(err.contains("is not approved yet"), "{err}");
    repo.ok(&["okr", "approve", &id]);
    repo.ok(&["okr", "apply", &id]);
    let err = refused(&repo, &["okr", "apply", &id]);
    assert!(
        err.contains("cannot be applied: it was applied by alice@example.com"),
        "{err}"
    );
    let err = refused(&repo, &["okr", "apply", "P-20000101-abcdef"]);
    assert!(err.contains("no proposal \"P-20000101-abcdef\""), "{err}");
}

#[test]
fn agents_never_approve_or_apply() {
    let repo = repo();
    let id = proposed_id(&repo.ok(&strs(&as_agent(
        ORG_OWNER,
        &["propose", "--set", "KR-1.1.target=120", "--reason", "r"],
    ))));
    let err = fails_with(
        &repo,
        REFUSED,
        &strs(&as_agent(ORG_OWNER, &["okr", "approve", &id])),
    );
    assert!(
        err.contains("agent team-backend may not approve proposals"),
        "{err}"
    );
    repo.ok(&["okr", "approve", &id]);
    let err = fails_with(&repo, REFUSED, &strs(&as_agent(ORG_OWNER, &["apply", &id])));
    assert!(
        err.contains("agent team-backend may not apply proposals"),
        "{err}"
    );
}

#[test]
fn approvers_list_decides_who_approves() {
    let repo = repo();
    let perms = repo
        .state_file("okrs/permissions.yml")
        .replace("# approvers:", "approvers: [bob@example.com] #");
    put_raw(&repo, "okrs/permissions.yml", &perms);
    let id = propose(&repo, &["--set", "KR-1.1.target=120", "--reason", "r"]);
    let err = fails_with(&repo, REFUSED, &["okr", "approve", &id]);
    assert!(
        err.contains("alice@example.com may not approve proposals: not among the approvers"),
        "{err}"
    );
    let bob = |args: &[&str]| {
        let out = repo
            .okr()
            .env("GIT_COMMITTER_EMAIL", "bob@example.com")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    bob(&["okr", "approve", &id]);
    fails_with(&repo, REFUSED, &["okr", "apply", &id]);
    bob(&["okr", "apply", &id]);
    assert_eq!(
        trailer_values(&messages(&repo)[0], "Okr-Actor"),
        vec!["bob@example.com"]
    );
}

#[test]
fn apply_on_a_moved_base_without_conflict() {
    let repo = repo();
    let first = propose(&repo, &["--set", "KR-1.1.target=120", "--reason", "r"]);
    repo.ok(&["okr", "approve", &first]);
    // Meanwhile another field of the same KR, and a hand edit elsewhere, land.
    let second = propose(&repo, &["--set", "KR-1.1.confidence=0.9", "--reason", "r"]);
    repo.ok(&["okr", "approve", &second]);
    repo.ok(&["okr", "apply", &second]);
    repo.ok(&["metric", "set", "manual.x", "3"]);
    repo.ok(&["okr", "apply", &first]);
    let org = repo.state_file("okrs/org.yml");
    assert!(
        org.contains("target: 120") && org.contains("confidence: 0.9"),
        "{org}"
    );
}

#[test]
fn apply_on_a_moved_base_with_a_conflict() {
    let repo = repo();
    let first = propose(&repo, &["--set", "KR-1.1.target=120", "--reason", "r"]);
    repo.ok(&["okr", "approve", &first]);
    let second = propose(&repo, &["--set", "KR-1.1.target=130", "--reason", "r"]);
    repo.ok(&["okr", "approve", &second]);
    repo.ok(&["okr", "apply", &second]);
    let err = fails_with(&repo, CONFLICT, &["okr", "apply", &first]);
    assert!(
        err.contains("conflict: KR-1.1.target changed since the proposal's base: was 100, is now 130, the proposal sets 120"),
        "{err}"
    );
    assert!(
        repo.ok(&["okr", "list", "--status", "approved"])
            .contains(&first),
        "still approved"
    );
    // The same value reached by another route is no conflict.
    let third = propose(&repo, &["--set", "KR-1.1.target=140", "--reason", "r"]);
    repo.ok(&["okr", "approve", &third]);
    put_raw(
        &repo,
        "okrs/org.yml",
        &repo
            .state_file("okrs/org.yml")
            .replace("target: 130", "target: 140"),
    );
    let out = repo.ok(&["okr", "apply", &third]);
    assert!(out.contains("no OKR file changes"), "{out}");
}

#[test]
fn permissions_are_read_from_the_current_state_only() {
    let repo = repo();
    repo.write("permissions.yml", "default_policy: allow\n");
    for args in [
        vec![
            "okr",
            "propose",
            "--file",
            "permissions.yml",
            "--reason",
            "r",
        ],
        vec![
            "okr",
            "propose",
            "--file",
            "permissions.yml",
            "--path",
            "okrs/permissions.yml",
            "--reason",
            "r",
        ],
    ] {
        let err = fails_with(&repo, REFUSED, &args);
        assert!(
            err.contains("a proposal may not change okrs/permissions.yml"),
            "{err}"
        );
        let err = fails_with(&repo, REFUSED, &strs(&as_agent(ORG_OWNER, &args)));
        assert!(
            err.contains("a proposal may not change okrs/permissions.yml"),
            "{err}"
        );
    }
    // Rights revoked after proposing are revoked for apply too.
    let id = proposed_id(&repo.ok(&strs(&as_agent(
        ORG_OWNER,
        &["propose", "--set", "KR-1.1.target=120", "--reason", "r"],
    ))));
    repo.ok(&["okr", "approve", &id]);
    put_raw(
        &repo,
        "okrs/permissions.yml",
        "default_policy: deny\npermissions: []\n",
    );
    let err = fails_with(&repo, REFUSED, &["okr", "apply", &id]);
    assert!(
        err.contains(&format!(
            "cannot apply {id}: agent team-backend may not propose changes to OBJ-1 (KR-1.1)"
        )),
        "{err}"
    );
}

#[test]
fn whole_files_and_removals() {
    let repo = repo();
    repo.write(
        "team-x.yml",
        "# Team X\nscope: team\nowner_id: team-x\nobjectives:\n  - objective_id: OBJ-X\n    objective: X\n    key_results:\n      - kr_id: KR-X.1\n        metric_key: git.commits\n        baseline: 0\n        target: 10\n",
    );
    let id = propose(&repo, &["--file", "team-x.yml", "--reason", "new team"]);
    repo.ok(&["okr", "approve", &id]);
    repo.ok(&["okr", "apply", &id]);
    assert!(repo.state_file("okrs/team-x.yml").starts_with("# Team X\n"));
    assert!(trailer_values(&messages(&repo)[0], "Okr-KR").contains(&"KR-X.1".to_string()));

    // The same file under another name duplicates its ids.
    let err = refused(
        &repo,
        &[
            "okr",
            "propose",
            "--file",
            "team-x.yml",
            "--path",
            "okrs/platform.yml",
            "--reason",
            "r",
        ],
    );
    assert!(
        err.contains("okrs/team-x.yml") && err.contains("duplicate objective_id \"OBJ-X\""),
        "{err}"
    );
    let err = refused(
        &repo,
        &[
            "okr",
            "propose",
            "--file",
            "team-x.yml",
            "--path",
            "culture/values.md",
            "--reason",
            "r",
        ],
    );
    assert!(
        err.contains("culture/values.md: a proposal can only write OKR files"),
        "{err}"
    );

    let id = propose(&repo, &["--remove", "KR-X.1", "--reason", "done with it"]);
    repo.ok(&["okr", "approve", &id]);
    repo.ok(&["apply", &id]);
    assert!(!repo.state_file("okrs/team-x.yml").contains("KR-X.1"));
}

#[test]
fn bad_input_is_one_clear_error_and_writes_nothing() {
    let repo = repo();
    let propose = |extra: &[&str]| {
        let mut args = vec!["okr", "propose", "--reason", "r"];
        args.extend_from_slice(extra);
        refused(&repo, &args)
    };
    let err = propose(&["--set", "KR-9.9.target=1"]);
    assert!(
        err.contains("no key result or objective \"KR-9.9\""),
        "{err}"
    );
    let err = propose(&["--set", "KR-1.1.targt=1"]);
    assert!(err.contains("KR KR-1.1 has no field \"targt\""), "{err}");
    let err = propose(&["--set", "KR-1.1.target=lots"]);
    assert!(
        err.contains("KR-1.1.target: \"lots\" is not a number"),
        "{err}"
    );
    let err = propose(&["--set", "KR-1.1.status=done"]);
    assert!(
        err.contains("KR-1.1.status: \"done\" is not a status"),
        "{err}"
    );
    let err = propose(&["--set", "KR-1.1.confidence=2"]);
    assert!(err.contains("confidence 2 is outside 0..1"), "{err}");
    let err = propose(&["--remove", "KR-7"]);
    assert!(err.contains("\"KR-7\""), "{err}");
    let err = propose(&["--set", "KR-1.1.target=100"]);
    assert!(err.contains("the proposal changes nothing"), "{err}");
    let err = propose(&[]);
    assert!(err.contains("nothing to propose"), "{err}");

    repo.write(
        "dup.yml",
        "kr_id: KR-1.1\nmetric_key: m\nbaseline: 0\ntarget: 1\n",
    );
    let err = propose(&["--add-kr", "OBJ-1", "--file", "dup.yml"]);
    assert!(err.contains("duplicate kr_id \"KR-1.1\""), "{err}");
    repo.write(
        "team.yml",
        "scope: team\nobjectives:\n  - objective_id: OBJ-1\n    objective: again\n",
    );
    let err = propose(&["--file", "team.yml"]);
    assert!(err.contains("duplicate objective_id \"OBJ-1\""), "{err}");
    repo.write("bad.yml", "scope: team\nobjectives: [\n");
    let err = propose(&["--file", "bad.yml"]);
    assert!(err.contains("bad.yml"), "{err}");

    put_raw(&repo, "okrs/permissions.yml", "default_policy: maybe\n");
    let err = propose(&["--set", "KR-1.1.target=120"]);
    assert!(err.starts_with("error: okrs/permissions.yml:1:"), "{err}");
    assert!(repo
        .git(&["ls-tree", "-r", "--name-only", "refs/okr/state"])
        .lines()
        .all(|p| !p.starts_with("proposals/")));
}

#[test]
fn a_proposal_with_a_mangled_base_shows_and_cannot_apply() {
    let repo = repo();
    let id = propose(&repo, &["--set", "KR-1.1.target=120", "--reason", "r"]);
    repo.ok(&["okr", "approve", &id]);
    let path = format!("proposals/{id}.yml");
    let text = repo.state_file(&path);
    let base = text
        .lines()
        .find_map(|l| l.strip_prefix("base: "))
        .unwrap()
        .to_string();
    // A multi-byte character across the 12th byte, as a teammate's hand edit could leave.
    put_raw(&repo, &path, &text.replace(&base, "abcdefghijké"));
    let out = repo.ok(&["okr", "show", &id]);
    assert!(out.contains("base      abcdefghijké\n"), "{out}");
    let tip = repo.state_tip();
    let err = refused(&repo, &["okr", "apply", &id]);
    assert!(err.contains("is not a commit id"), "{err}");
    assert_eq!(repo.state_tip(), tip);
}
