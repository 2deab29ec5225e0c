//! Delivery (DORA) metrics against values computed here, independently, from
//! `git for-each-ref`, `git rev-list`, `git log` and `git diff-tree` output.

mod common;

use common::TestRepo;
use std::collections::BTreeMap;

const DAY: i64 = 86_400;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A repository whose history is dated relative to now.
struct History {
    repo: TestRepo,
    now: i64,
}

impl History {
    fn new() -> History {
        History {
            repo: TestRepo::new(),
            now: now(),
        }
    }

    fn git_at(&self, args: &[&str], author: (i64, &str), committer: i64) -> String {
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(self.repo.path()).args(args);
        for (k, v) in self.repo.env() {
            cmd.env(k, v);
        }
        let at = |(days, tz): (i64, &str)| format!("@{} {tz}", self.now + days);
        cmd.env("GIT_AUTHOR_DATE", at(author));
        cmd.env("GIT_COMMITTER_DATE", at((committer, "+0000")));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A commit changing `path`, authored `author` seconds from now in time zone `tz`
    /// and committed `committer` seconds from now.
    fn commit(&self, path: &str, msg: &str, author: (i64, &str), committer: i64) -> String {
        let old = std::fs::read_to_string(self.repo.path().join(path)).unwrap_or_default();
        self.repo.write(path, format!("{old}{msg}\n"));
        self.repo.git(&["add", "-A"]);
        self.git_at(&["commit", "-q", "-m", msg], author, committer);
        self.repo.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn annotated_tag(&self, name: &str, at: i64, target: &str) {
        self.git_at(&["tag", "-a", "-m", name, name, target], (at, "+0000"), at);
    }
}

/// What the test expects, from git's own output.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    deployments: f64,
    per_week: f64,
    lead_p50: Option<f64>,
    lead_p90: Option<f64>,
    cfr: Option<f64>,
    restore_p50: Option<f64>,
}

struct Deploy {
    commit: String,
    time: i64,
    hidden: Vec<String>,
}

/// `v*` tags from `git for-each-ref`: tagger date, else the commit's committer date;
/// tags on one commit are one deployment at the earliest time; non-commits skipped.
fn tag_deployments(repo: &TestRepo) -> Vec<Deploy> {
    let out = repo.git(&[
        "for-each-ref",
        "--format=%(refname:short)|%(objecttype)|%(objectname)|%(*objecttype)|%(*objectname)|%(taggerdate:unix)|%(committerdate:unix)",
        "refs/tags/",
    ]);
    let mut by_commit: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if !f[0].starts_with('v') {
            continue;
        }
        let (commit, time) = match (f[1], f[3]) {
            ("commit", _) => (f[2].to_string(), f[6].parse::<i64>().unwrap()),
            ("tag", "commit") => (f[4].to_string(), f[5].parse::<i64>().unwrap()),
            _ => continue,
        };
        let e = by_commit.entry(commit).or_insert((time, f[0].to_string()));
        if (time, f[0]) < (e.0, e.1.as_str()) {
            *e = (time, f[0].to_string());
        }
    }
    let mut list: Vec<(i64, String, String)> =
        by_commit.into_iter().map(|(c, (t, n))| (t, n, c)).collect();
    list.sort();
    let mut earlier = Vec::new();
    let mut out = Vec::new();
    for (time, _, commit) in list {
        out.push(Deploy {
            commit: commit.clone(),
            time,
            hidden: earlier.clone(),
        });
        earlier.push(commit);
    }
    out
}

/// One line per commit of `tip` not reachable from `hidden`, kept when it changes
/// something under `paths` (compared with its first parent): (id, merge?, author
/// time, whole message).
fn range(
    repo: &TestRepo,
    tip: &str,
    hidden: &[String],
    paths: &[&str],
) -> Vec<(String, bool, i64, String)> {
    let mut args = vec!["rev-list".to_string(), tip.to_string()];
    if !hidden.is_empty() {
        args.push("--not".into());
        args.extend(hidden.iter().cloned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ids = repo.git(&args);
    let mut out = Vec::new();
    for id in ids.lines() {
        let info = repo.git(&["log", "-1", "--format=%P%x00%at%x00%B", id]);
        let f: Vec<&str> = info.splitn(3, '\0').collect();
        let parents: Vec<&str> = f[0].split_whitespace().collect();
        if !paths.is_empty() {
            let touched = match parents.first() {
                Some(p) => {
                    let mut a = vec!["diff-tree", "--quiet", p, id, "--"];
                    a.extend_from_slice(paths);
                    !repo.git_output(&a).status.success()
                }
                None => {
                    let mut a = vec!["ls-tree", id, "--"];
                    a.extend_from_slice(paths);
                    !repo.git(&a).is_empty()
                }
            };
            if !touched {
                continue;
            }
        }
        out.push((
            id.to_string(),
            parents.len() > 1,
            f[1].parse().unwrap(),
            f[2].to_string(),
        ));
    }
    out
}

fn median_like(mut v: Vec<f64>, p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = p * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

fn expected(
    repo: &TestRepo,
    deps: &[Deploy],
    tip: &str,
    since: i64,
    until: i64,
    paths: &[&str],
    hotfix: &str,
) -> Expected {
    let hotfix = regex::Regex::new(hotfix).unwrap();
    let ranges: Vec<_> = deps
        .iter()
        .map(|d| range(repo, &d.commit, &d.hidden, paths))
        .collect();
    let counts = |i: usize| paths.is_empty() || !ranges[i].is_empty();
    let all: Vec<String> = deps.iter().map(|d| d.commit.clone()).collect();
    let tail = range(repo, tip, &all, paths);
    let mut e = Expected::default();
    let (mut lead, mut restore, mut failed) = (Vec::new(), Vec::new(), 0.0);
    for i in 0..deps.len() {
        if !counts(i) || deps[i].time < since || deps[i].time > until {
            continue;
        }
        e.deployments += 1.0;
        for (_, merge, at, _) in &ranges[i] {
            if !merge {
                lead.push((deps[i].time - at).max(0) as f64 / 3600.0);
            }
        }
        let next = (i + 1..deps.len()).find(|&j| counts(j));
        let mut after: Vec<&(String, bool, i64, String)> = ranges
            [i + 1..next.map_or(deps.len(), |n| n + 1)]
            .iter()
            .flatten()
            .collect();
        if next.is_none() {
            after.extend(tail.iter());
        }
        let fails = after.iter().any(|(_, _, _, msg)| {
            hotfix.is_match(msg.lines().next().unwrap_or(""))
                || msg.split("This reverts commit ").skip(1).any(|rest| {
                    let sha: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                    sha.len() >= 7 && ranges[i].iter().any(|(id, ..)| id.starts_with(&sha))
                })
        });
        if fails {
            failed += 1.0;
            if let Some(n) = next {
                restore.push((deps[n].time - deps[i].time) as f64 / 3600.0);
            }
        }
    }
    e.per_week = e.deployments / ((until - since) as f64 / (7.0 * 86_400.0));
    e.lead_p50 = median_like(lead.clone(), 0.5);
    e.lead_p90 = median_like(lead, 0.9);
    e.cfr = (e.deployments > 0.0).then(|| failed * 100.0 / e.deployments);
    e.restore_p50 = median_like(restore, 0.5);
    e
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The points of the newest snapshot, by key.
fn measured(repo: &TestRepo) -> BTreeMap<String, f64> {
    repo.ok(&["kr", "measure"]);
    let list = repo.git(&[
        "ls-tree",
        "--name-only",
        "refs/okr/state",
        "metrics/snapshots/",
    ]);
    let newest = list.lines().last().expect("a snapshot");
    let json: serde_json::Value =
        serde_json::from_str(&repo.git(&["show", &format!("refs/okr/state:{newest}")])).unwrap();
    json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_string(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Measure, and check every metric of the last 30 days' tag deployments against git's
/// (`hotfix`: the hotfix pattern); returns git's values.
fn check_last_30_days(h: &History, hotfix: &str) -> Expected {
    let points = measured(&h.repo);
    let deps = tag_deployments(&h.repo);
    let e = expected(
        &h.repo,
        &deps,
        "HEAD",
        h.now - 30 * DAY,
        h.now + 120,
        &[],
        hotfix,
    );
    assert_points_match(&points, &e);
    e
}

/// Every delivery metric but the weekly rate equals the value computed from git.
fn assert_points_match(points: &BTreeMap<String, f64>, e: &Expected) {
    assert_point(points, "git.deployments", Some(e.deployments));
    assert_point(points, "git.lead_time_hours_p50", e.lead_p50);
    assert_point(points, "git.lead_time_hours_p90", e.lead_p90);
    assert_point(points, "git.change_failure_rate", e.cfr);
    assert_point(points, "git.time_to_restore_hours_p50", e.restore_p50);
}

fn assert_point(points: &BTreeMap<String, f64>, key: &str, want: Option<f64>) {
    assert_eq!(
        points.get(key).copied(),
        want.map(round),
        "{key}: {points:?}"
    );
}

const OKRS: &str = "objectives:\n  - objective_id: OBJ-1\n    objective: Deliver\n    key_results:\n      - kr_id: KR-1.1\n        description: deploy weekly\n        metric_key: git.deploys_per_week\n        baseline: 0\n        target: 1\n        status: not_started\n";

fn init_state(repo: &TestRepo, definitions: &str) {
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("okrs")).unwrap();
    std::fs::create_dir_all(ws.path().join("metrics")).unwrap();
    std::fs::write(ws.path().join("okrs/org.yml"), OKRS).unwrap();
    std::fs::write(ws.path().join("metrics/definitions.yml"), definitions).unwrap();
    repo.ok(&["init", "--from", ws.path().to_str().unwrap()]);
}

#[test]
fn tags_merges_reverts_and_hotfixes_equal_what_git_shows() {
    let h = History::new();
    let repo = &h.repo;
    h.commit("src/a.rs", "root", (-60 * DAY, "+0900"), -60 * DAY);
    let b = h.commit("src/a.rs", "b", (-50 * DAY, "+0000"), -50 * DAY);
    repo.git(&["tag", "v0.9", &b]); // lightweight, outside the window
    h.commit("src/a.rs", "c", (-26 * DAY, "-0700"), -25 * DAY);
    let d = h.commit("src/b.rs", "d", (-24 * DAY - 3600, "+0530"), -24 * DAY);
    h.annotated_tag("v1.0", -23 * DAY, &d);
    repo.git(&["tag", "v1.0.0", &d]); // same commit, earlier (committer) time
    repo.git(&["tag", "other-1", &d]); // does not match v*
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]).trim().to_string();
    repo.git(&["tag", "vtree", &tree]); // not a commit
    repo.git(&["checkout", "-q", "-b", "feature"]);
    h.commit("docs/guide.md", "e", (-22 * DAY, "+0100"), -22 * DAY);
    h.commit("src/c.rs", "f", (-21 * DAY, "+0100"), -21 * DAY);
    repo.git(&["checkout", "-q", "main"]);
    h.git_at(
        &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
        (-20 * DAY, "+0000"),
        -20 * DAY,
    );
    h.git_at(
        &["revert", "--no-edit", &d],
        (-19 * DAY, "+0200"),
        -19 * DAY,
    );
    let g = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    h.annotated_tag("v1.1", -18 * DAY, &g);
    let hf = h.commit(
        "src/a.rs",
        "Hotfix: crash on start",
        (-15 * DAY, "+0000"),
        -15 * DAY,
    );
    h.annotated_tag("v1.2", -14 * DAY, &hf);
    let i = h.commit("docs/guide.md", "i", (-10 * DAY, "-0300"), -10 * DAY);
    repo.git(&["tag", "v1.3", &i]);
    h.git_at(&["revert", "--no-edit", &i], (-5 * DAY, "+0000"), -5 * DAY);

    let since_q = chrono::DateTime::from_timestamp(h.now - 20 * DAY, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    init_state(
        repo,
        &format!(
            "deployments:\n  tag_pattern: \"v*\"\ngit:\n  - key: git.deployments.src\n    stat: deployments\n    paths: [src/]\n  - key: git.lead_time.src\n    stat: lead_time_hours_p90\n    paths: [src/]\n  - key: git.cfr.recent\n    stat: change_failure_rate\n    since: {since_q}\n  - key: git.restore.src\n    stat: time_to_restore_hours_p50\n    paths: [src]\n"
        ),
    );
    let points = measured(repo);
    let deps = tag_deployments(repo);
    assert_eq!(
        deps.len(),
        5,
        "v0.9, v1.0 (= v1.0.0), v1.1, v1.2, v1.3; the tree is skipped"
    );
    let until = h.now + 120; // the measurement ran a moment after `now`
    let all = expected(
        repo,
        &deps,
        "HEAD",
        h.now - 30 * DAY,
        until,
        &[],
        "(?i)hotfix",
    );
    assert_eq!(all.deployments, 4.0);
    assert_eq!(
        all.cfr,
        Some(75.0),
        "v1.0 reverted, v1.1 hotfixed, v1.3 reverted after"
    );
    assert_points_match(&points, &all);
    let per_week = points["git.deploys_per_week"];
    assert!(
        (per_week - round(all.per_week)).abs() <= 0.01,
        "{per_week} vs {}",
        all.per_week
    );

    let src = expected(
        repo,
        &deps,
        "HEAD",
        h.now - 30 * DAY,
        until,
        &["src/"],
        "(?i)hotfix",
    );
    assert_point(&points, "git.deployments.src", Some(src.deployments));
    assert_point(&points, "git.lead_time.src", src.lead_p90);
    let src_file_or_dir = expected(
        repo,
        &deps,
        "HEAD",
        h.now - 30 * DAY,
        until,
        &["src"],
        "(?i)hotfix",
    );
    assert_point(&points, "git.restore.src", src_file_or_dir.restore_p50);
    let since = chrono::NaiveDate::parse_from_str(&since_q, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    let recent = expected(repo, &deps, "HEAD", since, until, &[], "(?i)hotfix");
    assert_point(&points, "git.cfr.recent", recent.cfr);

    // A new deployment moves the metrics, and the cache does not hide it.
    let k = h.commit("src/d.rs", "k", (-2 * DAY, "+0000"), -2 * DAY);
    h.annotated_tag("v1.4", -DAY, &k);
    let points = measured(repo);
    let deps = tag_deployments(repo);
    let all = expected(
        repo,
        &deps,
        "HEAD",
        h.now - 30 * DAY,
        until,
        &[],
        "(?i)hotfix",
    );
    assert_eq!(all.deployments, 5.0);
    assert_point(&points, "git.deployments", Some(5.0));
    assert_point(&points, "git.change_failure_rate", all.cfr);
    assert_point(&points, "git.time_to_restore_hours_p50", all.restore_p50);
    assert_point(&points, "git.lead_time_hours_p90", all.lead_p90);
}

#[test]
fn a_deployment_branch_deploys_each_first_parent_commit() {
    let h = History::new();
    let repo = &h.repo;
    h.commit("app.txt", "root", (-40 * DAY, "+0000"), -40 * DAY);
    repo.git(&["checkout", "-q", "-b", "production"]);
    repo.git(&["checkout", "-q", "main"]);
    let mut deploy_days = Vec::new();
    for (n, day) in [(1, -25), (2, -15), (3, -6)] {
        h.commit(
            "app.txt",
            &format!("work {n}a"),
            (day * DAY - 7200, "+0200"),
            day * DAY - 7200,
        );
        h.commit(
            "app.txt",
            &format!("work {n}b"),
            (day * DAY - 3600, "-0500"),
            day * DAY - 3600,
        );
        repo.git(&["checkout", "-q", "production"]);
        h.git_at(
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                &format!("Deploy {n}"),
                "main",
            ],
            (day * DAY, "+0000"),
            day * DAY,
        );
        deploy_days.push(day);
        if n == 2 {
            h.commit(
                "config.txt",
                "HOTFIX config",
                (-14 * DAY, "+0000"),
                -14 * DAY,
            );
        }
        repo.git(&["checkout", "-q", "main"]);
    }
    init_state(repo, "deployments:\n  branch: production\n");
    let points = measured(repo);

    // Oracle: first-parent commits of production in the window, each shipping what its
    // first parent did not have.
    let out = repo.git(&["log", "--first-parent", "--format=%H %ct", "production"]);
    let mut deps: Vec<Deploy> = out
        .lines()
        .map(|l| {
            let (c, t) = l.split_once(' ').unwrap();
            let parent = repo.git_output(&["rev-parse", "--verify", "-q", &format!("{c}^1")]);
            Deploy {
                commit: c.to_string(),
                time: t.parse().unwrap(),
                hidden: String::from_utf8_lossy(&parent.stdout)
                    .split_whitespace()
                    .map(String::from)
                    .collect(),
            }
        })
        .filter(|d| d.time >= h.now - 30 * DAY)
        .collect();
    deps.reverse();
    let e = expected(
        repo,
        &deps,
        "HEAD",
        h.now - 30 * DAY,
        h.now + 120,
        &[],
        "(?i)hotfix",
    );
    assert_eq!(e.deployments, 4.0, "three merges and the hotfix commit");
    assert_point(&points, "git.deployments", Some(e.deployments));
    assert_point(&points, "git.lead_time_hours_p50", e.lead_p50);
    assert_point(&points, "git.change_failure_rate", e.cfr);
    assert_eq!(e.cfr, Some(25.0), "deploy 2 was followed by a hotfix");
    assert_point(&points, "git.time_to_restore_hours_p50", e.restore_p50);
}

#[test]
fn no_deployments_mean_zero_and_no_rates_and_bad_definitions_are_refused() {
    let repo = TestRepo::with_commit();
    init_state(&repo, "deployments:\n  tag_pattern: \"release-*\"\n");
    let points = measured(&repo);
    assert_eq!(points.get("git.deployments"), Some(&0.0));
    assert_eq!(points.get("git.deploys_per_week"), Some(&0.0));
    assert!(!points.contains_key("git.lead_time_hours_p50"));
    assert!(!points.contains_key("git.change_failure_rate"));

    let other = TestRepo::with_commit();
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("okrs")).unwrap();
    std::fs::create_dir_all(ws.path().join("metrics")).unwrap();
    std::fs::write(ws.path().join("okrs/org.yml"), OKRS).unwrap();
    std::fs::write(
        ws.path().join("metrics/definitions.yml"),
        "deployments:\n  tag_pattern: \"v*\"\n  hotfix_pattern: \"(unclosed\"\n",
    )
    .unwrap();
    let err = other.fails(&["init", "--from", ws.path().to_str().unwrap()]);
    assert!(
        err.contains("metrics/definitions.yml:3: deployments: hotfix_pattern"),
        "{err}"
    );
    assert_eq!(other.state_tip(), None);
}

/// Tags on a maintenance branch beside the main line, a tag made late on an old commit,
/// and new commits after the newest tag that revert a maintenance fix: every metric
/// equals git's view, measured cold, warm, and after new commits.
#[test]
fn tags_on_several_branches_and_late_tags_equal_what_git_shows() {
    let h = History::new();
    let repo = &h.repo;
    h.commit("src/a.rs", "root", (-29 * DAY, "+0000"), -29 * DAY);
    let old = h.commit("src/a.rs", "old work", (-28 * DAY, "+0000"), -28 * DAY);
    let one = h.commit("src/a.rs", "release 1", (-27 * DAY, "+0000"), -27 * DAY);
    h.annotated_tag("v1.0", -26 * DAY, &one);
    repo.git(&["checkout", "-q", "-b", "maint"]);
    // A hotfix: it fails the deployment before v1.0.1 (v0.5), and a tail that wrongly
    // held it (maint is merged after v2.0) would fail v2.0 too.
    let fix = h.commit(
        "src/fix.rs",
        "Hotfix for 1.0",
        (-20 * DAY, "+0300"),
        -20 * DAY,
    );
    h.annotated_tag("v1.0.1", -19 * DAY, &fix);
    repo.git(&["checkout", "-q", "main"]);
    h.commit("src/b.rs", "feature", (-18 * DAY, "-0400"), -18 * DAY);
    let two = h.commit("src/b.rs", "release 2", (-12 * DAY, "+0000"), -12 * DAY);
    h.annotated_tag("v2.0", -11 * DAY, &two);
    // Tagged late, on a commit v1.0 already shipped: it ships nothing.
    h.annotated_tag("v0.5", -25 * DAY, &old);
    h.git_at(
        &["merge", "-q", "--no-ff", "-m", "Merge maint", "maint"],
        (-9 * DAY, "+0000"),
        -9 * DAY,
    );
    init_state(repo, "deployments:\n  tag_pattern: \"v*\"\n");

    let check = || check_last_30_days(&h, "(?i)hotfix");
    let cold = check();
    assert_eq!(cold.deployments, 4.0, "v1.0, v0.5, v1.0.1, v2.0");
    assert_eq!(cold.cfr, Some(25.0), "v0.5, followed by v1.0.1's hotfix");
    assert_eq!(check(), cold, "warm, from the cache");
    // After the newest tag: reverting v1.0's release does not fail it (v0.5 came
    // next); reverting v2.0's release does.
    h.git_at(&["revert", "--no-edit", &one], (-DAY, "+0000"), -DAY);
    assert_eq!(check().cfr, Some(25.0));
    h.git_at(
        &["revert", "--no-edit", &two],
        (-DAY / 2, "+0000"),
        -DAY / 2,
    );
    assert_eq!(check().cfr, Some(50.0));
}

/// The caches (each tag's commit and time, each deployment's commits, their ids) never
/// hide a change git shows: tags moved, deleted and made again with another date, ids
/// missing from the cache, history rewritten, and definitions changed by a teammate.
#[test]
fn the_caches_follow_tags_history_and_definitions_as_they_change() {
    let h = History::new();
    let repo = &h.repo;
    h.commit("src/a.rs", "root", (-29 * DAY, "+0000"), -29 * DAY);
    let a = h.commit("src/a.rs", "a", (-28 * DAY, "+0100"), -28 * DAY);
    repo.git(&["tag", "v1", &a]);
    let b = h.commit("src/b.rs", "b", (-20 * DAY, "+0000"), -20 * DAY);
    h.annotated_tag("v2", -19 * DAY, &b);
    let c = h.commit("src/c.rs", "c", (-12 * DAY, "-0500"), -12 * DAY);
    h.annotated_tag("v3", -11 * DAY, &c);
    h.git_at(&["revert", "--no-edit", &c], (-5 * DAY, "+0000"), -5 * DAY);
    let revert_c = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    init_state(repo, "deployments:\n  tag_pattern: \"v*\"\n");

    let check = |hotfix: &str| check_last_30_days(&h, hotfix);
    let mut last = check("(?i)hotfix");
    assert_eq!(
        (last.deployments, last.cfr),
        (3.0, Some(100.0 / 3.0)),
        "v3 reverted"
    );
    let changed = |before: &Expected, what: &str, hotfix: &str| {
        let now = check(hotfix);
        assert_ne!(&now, before, "{what} changes the metrics");
        now
    };

    // Moved onto the revert, v3 ships it: nothing fails any more.
    repo.git(&["tag", "-f", "v3", &revert_c]);
    last = changed(&last, "moving a tag", "(?i)hotfix");
    assert_eq!(last.cfr, Some(0.0));

    repo.git(&["tag", "-d", "v2"]);
    last = changed(&last, "deleting a tag", "(?i)hotfix");
    assert_eq!(last.deployments, 2.0);

    // The same commit, tagged again a day later: only the deployment's time moves.
    repo.git(&["tag", "-d", "v1"]);
    h.annotated_tag("v1", -27 * DAY, &a);
    last = changed(&last, "a tag made again with another date", "(?i)hotfix");

    // With every range's ids gone from the cache, a revert of b (shipped by v3) is
    // still matched: the range is walked again.
    let db = rusqlite::Connection::open(repo.path().join(".git/okr/audit.sqlite")).unwrap();
    let dropped = db.execute("DELETE FROM delivery_ids", []).unwrap();
    assert!(dropped >= 2, "ids were cached for each range: {dropped}");
    drop(db);
    h.git_at(&["revert", "--no-edit", &b], (-2 * DAY, "+0000"), -2 * DAY);
    last = changed(&last, "a revert after the newest tag", "(?i)hotfix");
    assert_eq!(last.cfr, Some(50.0), "v3 reverted");

    // History rewritten under the newest tag.
    repo.git(&["reset", "-q", "--hard", &b]);
    h.commit("src/d.rs", "d", (-10 * DAY, "+0000"), -10 * DAY);
    let e = h.commit("src/e.rs", "e", (-9 * DAY, "+0000"), -9 * DAY);
    repo.git(&["tag", "-f", "v3", &e]);
    last = changed(&last, "rewritten history", "(?i)hotfix");
    assert_eq!(last.cfr, Some(0.0));

    // A teammate's new hotfix pattern names d, which came after v1.
    repo.forge_state_file(
        "metrics/definitions.yml",
        b"deployments:\n  tag_pattern: \"v*\"\n  hotfix_pattern: \"^d$\"\n",
        "definitions: hotfix pattern",
    );
    last = changed(&last, "a new hotfix pattern", "^d$");
    assert_eq!(last.cfr, Some(50.0), "v1 followed by d");

    // Windows move as time passes: the same definitions with a later `since`, then
    // with an earlier `until`, are other windows, whatever was measured before.
    let at = |t: i64| {
        chrono::DateTime::from_timestamp(h.now + t, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let window = |since: i64, until: i64| {
        let def = |key: &str, stat: &str| {
            format!(
                "  - key: {key}\n    stat: {stat}\n    since: {}\n    until: {}\n",
                at(since),
                at(until)
            )
        };
        let definitions = format!(
            "deployments:\n  tag_pattern: \"v*\"\n  hotfix_pattern: \"^d$\"\ngit:\n{}{}",
            def("git.window.cfr", "change_failure_rate"),
            def("git.window.lead", "lead_time_hours_p50")
        );
        repo.forge_state_file(
            "metrics/definitions.yml",
            definitions.as_bytes(),
            "definitions: a window",
        );
        let points = measured(repo);
        let deps = tag_deployments(repo);
        let e = expected(
            repo,
            &deps,
            "HEAD",
            h.now + since,
            h.now + until,
            &[],
            "^d$",
        );
        assert_point(&points, "git.window.cfr", e.cfr);
        assert_point(&points, "git.window.lead", e.lead_p50);
        e
    };
    assert_eq!(window(-28 * DAY, DAY).cfr, Some(50.0), "v1 and v3");
    assert_eq!(window(-20 * DAY, DAY).cfr, Some(0.0), "v3 alone");
    assert_eq!(window(-28 * DAY, -15 * DAY).cfr, Some(100.0), "v1 alone");
}
