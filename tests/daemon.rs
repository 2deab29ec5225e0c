//! `git okr daemon`: schedules on the state ref, the scheduler, and service units.

mod common;

use common::{stderr, TestRepo};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OKRS: &str = common::fixtures::ONE_KR;

fn setup() -> TestRepo {
    TestRepo::with_state(&[("okrs/org.yml", OKRS)])
}

fn okr_dir(repo: &TestRepo) -> std::path::PathBuf {
    repo.path().join(".git/okr")
}

/// The daemon in the background, its stderr in a file; no notification service reachable.
fn spawn_daemon(repo: &TestRepo, log: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_git-okr"));
    cmd.current_dir(repo.path())
        .args(["daemon", "run"])
        .env_remove("OKR_AGENT")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in repo.env() {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn measure_commits(repo: &TestRepo) -> usize {
    repo.git(&[
        "log",
        "--format=%(trailers:key=Okr-Action,valueonly)",
        "refs/okr/state",
    ])
    .lines()
    .filter(|l| l.trim() == "measure")
    .count()
}

/// The id `daemon schedule` printed ("Scheduled job ID: …").
fn scheduled_id(out: &str) -> String {
    out.strip_prefix("Scheduled job ")
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("no job id in {out:?}"))
        .to_string()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn daemon_picks_up_a_per_second_schedule_measures_and_stops_on_sigterm() {
    let repo = setup();
    repo.ok(&["metric", "set", "manual.x", "5"]);
    let stderr_file = repo.home.path().join("daemon.stderr");
    // Started with nothing scheduled: the schedule below must be picked up without a restart.
    let mut daemon = spawn_daemon(&repo, &stderr_file);
    wait_until("the daemon to start", Duration::from_secs(5), || {
        std::fs::read_to_string(okr_dir(&repo).join("daemon.log"))
            .is_ok_and(|l| l.contains("daemon started"))
    });

    // A second daemon is refused and names the first.
    let err = repo.fails(&["daemon", "run"]);
    assert!(
        err.contains("another git-okr daemon is running")
            && err.contains(&format!("pid {}", daemon.id())),
        "{err}"
    );

    let id = scheduled_id(&repo.ok(&[
        "daemon",
        "schedule",
        "--cron",
        "* * * * * *",
        "--job",
        "kr_measure",
    ]));
    wait_until("a first measurement", Duration::from_secs(5), || {
        measure_commits(&repo) >= 1
    });
    repo.ok(&["metric", "set", "manual.x", "7"]);
    wait_until("a second measurement", Duration::from_secs(5), || {
        measure_commits(&repo) >= 2
    });
    assert!(repo.state_file("okrs/org.yml").contains("current: 7"));

    let killed = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(okr_dir(&repo).join("daemon.log")).unwrap();
    assert!(log.contains("daemon stopped on signal"), "{log}");
    assert!(
        log.contains(&format!("job {id} (kr_measure) done in")),
        "{log}"
    );
    // not_started -> in_progress on the first measurement: noticed, and logged without a notification service.
    assert!(
        log.contains("notice: 🚀 KR in progress: KR-1.1: KR-1.1 5/100"),
        "{log}"
    );
    // The same lines went to stderr.
    let err = std::fs::read_to_string(&stderr_file).unwrap();
    assert!(err.contains("daemon stopped on signal"), "{err}");
    // The lock is free again.
    repo.ok(&["daemon", "run", "--once"]);
}

/// `daemon run --once` with no notification service; returns its log (stderr).
fn run_once(repo: &TestRepo) -> String {
    let out = repo
        .okr()
        .args(["daemon", "run", "--once"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

#[test]
fn once_runs_only_due_jobs() {
    let repo = setup();
    repo.ok(&["metric", "set", "manual.x", "5"]);
    let every_second = scheduled_id(&repo.ok(&[
        "daemon",
        "schedule",
        "--cron",
        "* * * * * *",
        "--job",
        "kr_measure",
    ]));
    // Yearly, on 1 January: scheduled just now, so not due.
    let yearly = scheduled_id(&repo.ok(&[
        "daemon",
        "schedule",
        "--cron",
        "@yearly",
        "--job",
        "kr_measure",
        "--",
        "--rev",
        "HEAD",
    ]));
    std::thread::sleep(Duration::from_millis(1100));
    let before = measure_commits(&repo);
    let log = run_once(&repo);
    assert_eq!(measure_commits(&repo), before + 1);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(okr_dir(&repo).join("daemon-state.json")).unwrap(),
    )
    .unwrap();
    assert!(
        state["jobs"][&every_second]["last_run"].is_string(),
        "{state}"
    );
    assert_eq!(state["jobs"][&every_second]["last_exit"], 0, "{state}");
    assert!(state["jobs"][&yearly]["last_run"].is_null(), "{state}");
    assert!(
        log.contains(&format!("job {every_second} (kr_measure) runs"))
            && !log.contains(&format!("job {yearly}")),
        "{log}"
    );

    let listed: serde_json::Value =
        serde_json::from_str(&repo.ok(&["daemon", "jobs", "--json"])).unwrap();
    assert_eq!(listed[1]["id"], yearly.as_str());
    assert_eq!(listed[1]["due"], false);
    assert!(
        listed[1]["next_run"].as_str().unwrap().contains("-01-01T"),
        "{listed}"
    );
    assert!(listed[0]["last_run"].is_string());
}

#[test]
fn schedule_and_unschedule_are_audited_commits() {
    let repo = setup();
    let out = repo.ok(&[
        "daemon",
        "schedule",
        "--cron",
        "0 9 * * 1-5",
        "--job",
        "kr_measure",
        "--tz",
        "Europe/Paris",
    ]);
    let id = scheduled_id(&out);
    assert!(
        id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "ids are unique across clones, not 1, 2, 3: {id}"
    );
    assert!(
        out.starts_with(&format!(
            "Scheduled job {id}: kr_measure at \"0 9 * * 1-5\" (Europe/Paris)"
        )),
        "{out}"
    );
    assert!(
        out.contains("Next run: ") && out.contains(" 09:00:00 +0"),
        "{out}"
    );
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        msg.contains("Okr-Action: schedule\n") && msg.contains(&format!("Okr-Job: {id}\n")),
        "{msg}"
    );
    let jobs = repo.state_file("daemon/jobs.yml");
    assert!(
        jobs.contains("cron: 0 9 * * 1-5") && jobs.contains("tz: Europe/Paris"),
        "{jobs}"
    );
    let table = repo.ok(&["daemon", "jobs"]);
    assert!(
        table.contains("Europe/Paris") && table.contains("09:00:00 +0"),
        "{table}"
    );

    // A unique prefix names the job.
    repo.ok(&["daemon", "unschedule", &id[..4]]);
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        msg.contains("Okr-Action: unschedule\n") && msg.contains(&format!("Okr-Job: {id}\n")),
        "{msg}"
    );
    assert!(!repo.state_file("daemon/jobs.yml").contains("kr_measure"));
    let err = repo.fails(&["daemon", "unschedule", &id]);
    assert!(err.contains(&format!("no scheduled job \"{id}\"")), "{err}");
}

#[test]
fn bad_cron_and_unknown_jobs_are_rejected_with_nothing_written() {
    let repo = setup();
    let tip = repo.state_tip();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--cron", "0 25 * * *", "--job", "kr_measure"],
            "hour field \"25\": 25 is out of range 0-23",
        ),
        (
            &["--cron", "0 9 * * 8", "--job", "kr_measure"],
            "day-of-week field \"8\"",
        ),
        (
            &["--cron", "0 9 * *", "--job", "kr_measure"],
            "has 4 fields",
        ),
        (
            &["--cron", "@daily", "--job", "coffee"],
            "unknown job \"coffee\"; jobs: kr_measure",
        ),
        (
            &[
                "--cron",
                "@daily",
                "--job",
                "kr_measure",
                "--tz",
                "Mars/Olympus",
            ],
            "Mars/Olympus",
        ),
        (
            &["--cron", "@daily", "--job", "kr_measure", "--", "--nope"],
            "--nope",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["daemon", "schedule"];
        full.extend_from_slice(args);
        let err = repo.fails(&full);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(repo.state_tip(), tip, "{args:?} wrote something");
    }
    // An edited jobs.yml is checked the same way.
    let content = repo.home.path().join("jobs.content");
    std::fs::write(
        &content,
        "jobs:\n- id: a\n  job: kr_measure\n  cron: 0 9 * * 9\n",
    )
    .unwrap();
    let editor = repo.home.path().join("editor.sh");
    std::fs::write(
        &editor,
        format!("#!/bin/sh\ncp '{}' \"$1\"\n", content.display()),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = repo
        .okr()
        .args(["edit", "daemon/jobs.yml"])
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("day-of-week field \"9\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(repo.state_tip(), tip);
}

/// A plist as nested JSON values: dict, array, string, true/false, integer.
fn parse_plist(xml: &str) -> serde_json::Value {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<(String, serde_json::Value, Option<String>)> = Vec::new();
    let mut text = String::new();
    let mut root = None;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let v = match name.as_str() {
                    "dict" => serde_json::json!({}),
                    "array" => serde_json::json!([]),
                    _ => serde_json::Value::Null,
                };
                stack.push((name, v, None));
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let name = String::from_utf8(r.to_vec()).unwrap();
                text.push_str(match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unknown entity {other}"),
                });
            }
            Event::Empty(e) => {
                let v = match e.name().as_ref() {
                    b"true" => serde_json::Value::Bool(true),
                    b"false" => serde_json::Value::Bool(false),
                    other => panic!("unexpected <{}/>", String::from_utf8_lossy(other)),
                };
                add(&mut stack, v, &mut root);
            }
            Event::End(_) => {
                let (name, v, _) = stack.pop().unwrap();
                let v = match name.as_str() {
                    "string" => serde_json::Value::String(std::mem::take(&mut text)),
                    "integer" => serde_json::json!(text.parse::<i64>().unwrap()),
                    "key" => {
                        let key = std::mem::take(&mut text);
                        stack.last_mut().unwrap().2 = Some(key);
                        continue;
                    }
                    "dict" | "array" => v,
                    "plist" => {
                        root = root.or(Some(v));
                        continue;
                    }
                    other => panic!("unexpected <{other}>"),
                };
                add(&mut stack, v, &mut root);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    fn add(
        stack: &mut [(String, serde_json::Value, Option<String>)],
        v: serde_json::Value,
        root: &mut Option<serde_json::Value>,
    ) {
        match stack.last_mut() {
            Some((name, parent, key)) if name == "dict" => {
                let k = key.take().expect("a value in a dict follows a <key>");
                parent.as_object_mut().unwrap().insert(k, v);
            }
            Some((name, parent, _)) if name == "array" => parent.as_array_mut().unwrap().push(v),
            Some((name, _, _)) if name == "plist" => *root = Some(v),
            _ => panic!("value outside a container"),
        }
    }
    root.expect("a plist holds one value")
}

#[test]
fn launchd_plist_parses_and_runs_the_daemon_for_this_repo() {
    let repo = setup();
    let plist = repo.ok(&["daemon", "launchd"]);
    let v = parse_plist(&plist);
    let repo_path = repo.path().canonicalize().unwrap().display().to_string();
    assert!(
        v["Label"]
            .as_str()
            .unwrap()
            .starts_with("dev.git-okr.daemon."),
        "{v}"
    );
    let args: Vec<&str> = v["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args[0].ends_with("git-okr"), "{args:?}");
    assert_eq!(&args[1..], ["-C", repo_path.as_str(), "daemon", "run"]);
    assert_eq!(v["RunAtLoad"], true);
    assert_eq!(v["WorkingDirectory"], repo_path.as_str());
    assert!(v["StandardErrorPath"]
        .as_str()
        .unwrap()
        .ends_with(".git/okr/daemon.launchd.log"));

    let out = repo.ok(&["daemon", "launchd", "--install"]);
    let installed = repo
        .home
        .path()
        .join("Library/LaunchAgents")
        .join(format!("{}.plist", v["Label"].as_str().unwrap()));
    assert!(out.contains(&installed.display().to_string()), "{out}");
    assert_eq!(std::fs::read_to_string(installed).unwrap(), plist);
}

#[test]
fn systemd_unit_is_a_valid_user_service() {
    let repo = setup();
    let out = repo.ok(&["daemon", "systemd", "--install"]);
    let dir = repo.home.path().join(".config/systemd/user");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(out.contains(&file.display().to_string()), "{out}");
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("git-okr-") && name.ends_with(".service"),
        "{name}"
    );
    let unit = std::fs::read_to_string(&file).unwrap();
    assert_eq!(unit, repo.ok(&["daemon", "systemd"]));

    // Sections and keys, as systemd reads them.
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in unit
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else {
            let (k, v) = line.split_once('=').expect("key=value");
            keys.push((section.clone(), k.to_string(), v.to_string()));
        }
    }
    let get = |s: &str, k: &str| {
        keys.iter()
            .find(|(sec, key, _)| sec == s && key == k)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_else(|| panic!("[{s}] {k} missing:\n{unit}"))
    };
    let repo_path = repo.path().canonicalize().unwrap().display().to_string();
    let exec = get("Service", "ExecStart");
    assert!(
        exec.ends_with(&format!("\" -C \"{repo_path}\" daemon run")),
        "{exec}"
    );
    assert_eq!(get("Service", "KillSignal"), "SIGTERM");
    assert_eq!(get("Install", "WantedBy"), "default.target");

    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify: {}",
            stderr(&out)
        );
    }
}

/// A plan, and a per-second `plan_run` job for it with `adapter`, due by the time this returns.
fn schedule_plan_run(repo: &TestRepo, adapter: &str) {
    repo.ok(&["plan", "generate"]);
    let plans = repo.ok(&["show", "plans"]);
    let plan = plans
        .lines()
        .next()
        .expect("a plan was committed")
        .to_string();
    repo.ok(&[
        "daemon",
        "schedule",
        "--cron",
        "* * * * * *",
        "--job",
        "plan_run",
        "--",
        "--adapter",
        adapter,
        &plan,
    ]);
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn agent_jobs_from_the_shared_ref_need_local_consent() {
    let repo = setup();
    schedule_plan_run(&repo, "codex");
    let before = repo.state_tip();
    let log = run_once(&repo);
    assert!(
        log.contains("(plan_run) skipped: it starts coding agents"),
        "{log}"
    );
    assert!(log.contains("okr.daemon.allowAgents"), "{log}");
    assert_eq!(repo.state_tip(), before, "no run was recorded");
}

#[test]
fn a_plan_run_by_the_daemon_notifies_once() {
    let repo = setup();
    repo.git(&["config", "okr.daemon.allowAgents", "true"]);
    repo.git(&["config", "okr.adapter.broken.command", "false"]);
    schedule_plan_run(&repo, "broken");
    let log = run_once(&repo);
    assert!(log.contains("(plan_run) failed"), "{log}");
    // The daemon's notice, logged; the job itself showed none (its stderr is in the log).
    assert_eq!(log.matches("Plan failed").count(), 1, "{log}");
    assert!(log.contains("notice: ⚠️ Plan failed"), "{log}");
    assert!(!log.contains("no desktop notification"), "{log}");
}

#[test]
fn jobs_scheduled_in_two_clones_both_survive_sync() {
    let origin = TestRepo::bare();
    let alice = setup();
    alice.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
    alice.ok(&["sync"]);
    let bob = TestRepo::new();
    bob.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
    bob.ok(&["sync"]);
    let a = scheduled_id(&alice.ok(&[
        "daemon",
        "schedule",
        "--cron",
        "@daily",
        "--job",
        "kr_measure",
    ]));
    let b = scheduled_id(&bob.ok(&[
        "daemon", "schedule", "--cron", "@hourly", "--job", "sync", "--", "origin",
    ]));
    assert_ne!(a, b);
    alice.ok(&["sync"]);
    let out = bob.ok(&["sync"]);
    assert!(!out.contains("conflict"), "{out}");
    alice.ok(&["sync"]);
    for repo in [&alice, &bob] {
        let listed: serde_json::Value =
            serde_json::from_str(&repo.ok(&["daemon", "jobs", "--json"])).unwrap();
        let mut ids: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap())
            .collect();
        ids.sort();
        let mut want = vec![a.as_str(), b.as_str()];
        want.sort();
        assert_eq!(ids, want);
    }
}

/// The daemon in the background until dropped (then SIGTERM, and waited for).
struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_daemon(repo: &TestRepo) -> Running {
    let child = spawn_daemon(repo, &repo.home.path().join("daemon.stderr"));
    wait_until("the daemon to watch", Duration::from_secs(60), || {
        std::fs::read_to_string(okr_dir(repo).join("daemon.log"))
            .is_ok_and(|l| l.contains("daemon started"))
    });
    Running { child }
}

fn daemon_commits(repo: &TestRepo) -> Vec<String> {
    let log = repo.git(&["log", "--format=%H%x00%B%x01", "refs/okr/state"]);
    log.split('\u{1}')
        .filter(|c| c.contains("Okr-Actor: daemon"))
        .map(str::to_string)
        .collect()
}

#[test]
fn events_trigger_jobs_with_who_and_why_recorded_and_never_loop() {
    let repo = setup();
    repo.ok(&["metric", "set", "manual.x", "5"]);
    // Measuring rewrites okrs/org.yml (current, status): on okrs_changed it must still not
    // trigger itself.
    let measure = scheduled_id(&repo.ok(&[
        "daemon",
        "schedule",
        "--on",
        "metrics_recorded,okrs_changed,branch_moved,plan_created",
        "--job",
        "kr_measure",
    ]));
    let daemon = start_daemon(&repo);

    // metrics_recorded
    let before = repo.state_tip().unwrap();
    repo.ok(&["metric", "set", "manual.x", "7"]);
    let after = repo.state_tip().unwrap();
    wait_until(
        "a measurement after metric set",
        Duration::from_secs(60),
        || daemon_commits(&repo).len() == 1,
    );
    let c = &daemon_commits(&repo)[0];
    assert!(repo.state_file("okrs/org.yml").contains("current: 7"));
    assert!(c.contains("Okr-Action: measure"), "{c}");
    assert!(c.contains(&format!("Okr-Job: {measure}")), "{c}");
    assert!(
        c.contains(&format!(
            "Okr-Trigger: event metrics_recorded refs/okr/state {}..{}",
            &before[..7],
            &after[..7]
        )),
        "{c}"
    );
    assert!(c.contains("Okr-Clone: "), "{c}");
    assert!(c.contains(common::AUTHOR_EMAIL), "{c}");

    // No loop: its own commit changed okrs/ but does not run it again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(daemon_commits(&repo).len(), 1, "the job triggered itself");

    // branch_moved: a commit on the measured branch.
    repo.ok(&["metric", "set", "manual.x", "9"]);
    wait_until("the second measurement", Duration::from_secs(60), || {
        daemon_commits(&repo).len() == 2
    });
    repo.write("more.txt", "x");
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "more"]);
    wait_until(
        "a run after the branch moved",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(okr_dir(&repo).join("daemon.log")).is_ok_and(|l| {
                l.contains("(event branch_moved main") || l.contains("(event branch_moved HEAD")
            })
        },
    );
    drop(daemon);

    // Found by the audit as the daemon's.
    let audit = repo.ok(&["audit", "--actor", "daemon", "--json"]);
    let events: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "measure"),
        "{audit}"
    );
    // And journaled locally.
    let status = repo.ok(&["daemon", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let kinds: Vec<String> = status["journal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        kinds.contains(&"job finished".to_string())
            && kinds.contains(&"daemon stopped".to_string()),
        "{status}"
    );
    assert_eq!(status["running"], false);
    let local = repo.ok(&["audit", "--local"]);
    assert!(
        local.contains("daemon") && local.contains("finished job"),
        "{local}"
    );
}

#[test]
fn lifecycle_start_status_enqueue_logs_stop_install_uninstall() {
    let repo = setup();
    let out = repo.ok(&["daemon", "status"]);
    assert!(out.contains("Daemon: not running"), "{out}");
    let out = repo.ok(&["daemon", "start"]);
    assert!(
        out.contains("Started the daemon in the background (pid "),
        "{out}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&repo.ok(&["daemon", "status", "--json"])).unwrap();
    assert_eq!(status["running"], true, "{status}");
    let pid = status["pid"].as_i64().unwrap();
    assert!(repo.ok(&["daemon", "start"]).contains("already running"));

    // A one-off run, picked up by the running daemon.
    let before = measure_commits(&repo);
    let out = repo.ok(&["daemon", "enqueue", "kr_measure", "--", "--rev", "HEAD"]);
    assert!(
        out.contains(&format!("the daemon (pid {pid}) picks it up")),
        "{out}"
    );
    wait_until("the enqueued measurement", Duration::from_secs(60), || {
        measure_commits(&repo) > before
    });
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        msg.contains(&format!(
            "Okr-Trigger: enqueued by {}",
            common::AUTHOR_EMAIL
        )),
        "{msg}"
    );
    let err = repo.fails(&["daemon", "enqueue", "sync", "--", "--setup"]);
    assert!(err.contains("--setup is not allowed"), "{err}");
    let err = repo.fails(&["daemon", "enqueue", "kr_measure", "--at", "soon"]);
    assert!(err.contains("--at \"soon\""), "{err}");

    let logs = repo.ok(&["daemon", "logs", "-n", "3"]);
    assert_eq!(logs.lines().count(), 3, "{logs}");
    assert!(repo
        .ok(&["daemon", "logs", "-n", "100"])
        .contains("daemon started"));

    let out = repo.ok(&["daemon", "stop"]);
    assert!(
        out.contains(&format!("Stopped the daemon (pid {pid})")),
        "{out}"
    );
    assert!(repo.ok(&["daemon", "status"]).contains("not running"));
    assert!(repo.ok(&["daemon", "stop"]).contains("not running"));

    // install/uninstall with a temporary HOME: exactly the file written goes.
    let config = repo.home.path().join(".config");
    let out = repo.ok(&["daemon", "install", "--no-start"]);
    let written: Vec<_> = walk(repo.home.path());
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(out.contains(&written[0].display().to_string()), "{out}");
    assert!(
        written[0].starts_with(&config) || written[0].to_string_lossy().contains("LaunchAgents")
    );
    assert!(repo
        .fails(&["daemon", "install", "--no-start"])
        .contains("already installed"));
    let out = repo.ok(&["daemon", "uninstall"]);
    assert!(
        out.contains(&format!("Removed {}", written[0].display())),
        "{out}"
    );
    assert!(!written[0].exists());
    assert!(repo
        .ok(&["daemon", "uninstall"])
        .contains("Nothing to uninstall"));
}

/// Every file under `dir` except the test's own daemon stderr file.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if !p.ends_with("daemon.stderr") && !p.ends_with(".gitconfig") {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_default_schedule_measures_on_events_and_runs_each_new_plan_once() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let jobs = repo.ok(&["daemon", "jobs"]);
    for (id, when, args) in [
        (
            "measure-daily",
            "0 2 * * *, on metrics_recorded,okrs_changed",
            "",
        ),
        ("plan-weekly", "0 9 * * 1", "--likely-to-miss"),
        ("run-weekly", "15 9 * * 1", "latest --if-not-run"),
    ] {
        let line = jobs
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id}: {jobs}"));
        assert!(line.contains(when) && line.ends_with(args), "{line}");
    }
    let log = || std::fs::read_to_string(okr_dir(&repo).join("daemon.log")).unwrap_or_default();

    // Whenever metrics are recorded: a measurement, as the default job.
    let daemon = start_daemon(&repo);
    repo.ok(&["metric", "set", "manual.x", "5"]);
    wait_until("the default measurement", Duration::from_secs(60), || {
        daemon_commits(&repo)
            .iter()
            .any(|c| c.contains("Okr-Job: measure-daily") && c.contains("Okr-Action: measure"))
    });
    // The Monday run starts agents only where this clone allows it.
    repo.ok(&["daemon", "enqueue", "run-weekly"]);
    wait_until("the refused run", Duration::from_secs(60), || {
        log().contains("(plan_run) skipped: it starts coding agents")
    });
    drop(daemon);

    repo.git(&["config", "okr.daemon.allowAgents", "true"]);
    repo.git(&["config", "okr.adapter.default", "mock"]);
    repo.ok(&["plan", "generate"]);
    let runs = |repo: &TestRepo| {
        daemon_commits(repo)
            .iter()
            .filter(|c| c.contains("Okr-Job: run-weekly") && c.contains("Okr-Action: plan-run"))
            .count()
    };
    let daemon = start_daemon(&repo);
    repo.ok(&["daemon", "enqueue", "run-weekly"]);
    wait_until("the newest plan's run", Duration::from_secs(60), || {
        runs(&repo) == 1
    });
    // Next Monday, no new plan: nothing runs again.
    let finished = |l: &str| l.matches("(plan_run) done in").count();
    let before = finished(&log());
    repo.ok(&["daemon", "enqueue", "run-weekly"]);
    wait_until("the second Monday", Duration::from_secs(60), || {
        finished(&log()) > before
    });
    drop(daemon);
    assert_eq!(runs(&repo), 1, "the plan ran once: {}", log());
}
