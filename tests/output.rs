//! The lines people and scripts read, as snapshots: `kr measure`'s output, error messages,
//! and the shapes of `--json` output. A wording or field change shows up here as a diff to
//! review; accept an intended one with `SNAPSHOTS=overwrite cargo test --test output`.
//! `[..]` in a snapshot stands for the parts that change from run to run (dates, ids).

mod common;

use common::TestRepo;
use serde_json::Value;
use snapbox::{assert_data_eq, file};

const OKRS: &str = common::fixtures::THREE_KRS_ONE_BLOCKED;

fn measured_repo() -> TestRepo {
    let repo = TestRepo::with_state(&[("okrs/org.yml", OKRS)]);
    repo.ok(&["metric", "set", "ci.test_count", "42"]);
    repo.ok(&["metric", "set", "manual.latency_ms", "190"]);
    repo
}

/// The JSON's shape: every scalar replaced by its type, arrays by their distinct element
/// shapes. Field names and nesting are what scripts depend on; values vary.
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => Value::from("null"),
        Value::Bool(_) => Value::from("bool"),
        Value::Number(_) => Value::from("number"),
        Value::String(_) => Value::from("string"),
        Value::Array(items) => {
            let mut shapes: Vec<Value> = Vec::new();
            for s in items.iter().map(shape) {
                if !shapes.contains(&s) {
                    shapes.push(s);
                }
            }
            Value::Array(shapes)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
    }
}

fn json_shape(out: &str) -> String {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    serde_json::to_string_pretty(&shape(&v)).unwrap() + "\n"
}

#[test]
fn kr_measure_output() {
    let repo = measured_repo();
    assert_data_eq!(
        repo.ok(&["kr", "measure"]),
        file!["snapshots/kr_measure.txt"]
    );
    // Nothing new: the second measurement says so.
    assert_data_eq!(
        repo.ok(&["kr", "measure"]),
        file!["snapshots/kr_measure_unchanged.txt"]
    );
}

#[test]
fn error_messages() {
    let repo = TestRepo::with_commit();
    let mut errors = String::new();
    let mut record = |what: &str, code: i32, args: &[&str]| {
        let err = repo.fails_with(code, args);
        errors.push_str(&format!("$ git okr {}  # {what}\n{err}\n", args.join(" ")));
    };
    record("no state yet", 1, &["status"]);
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("okrs")).unwrap();
    std::fs::write(
        ws.path().join("okrs/org.yml"),
        OKRS.replace("kr_id: KR-1.2", "kr_id: KR-1.1"),
    )
    .unwrap();
    let from = ws.path().to_str().unwrap().to_string();
    record("a duplicate id", 1, &["init", "--from", &from]);
    std::fs::write(ws.path().join("okrs/org.yml"), "objectives: [\n").unwrap();
    record("broken YAML", 1, &["init", "--from", &from]);
    repo.ok(&["init"]);
    record("an unknown KR", 1, &["kr", "history", "KR-9.9"]);
    record(
        "a bad cron",
        1,
        &[
            "daemon",
            "schedule",
            "--cron",
            "0 9 * *",
            "--job",
            "kr_measure",
        ],
    );
    record("a usage error", 2, &["kr", "measure", "--no-such-flag"]);
    assert_data_eq!(
        errors.replace(&from, "[WORKSPACE]"),
        file!["snapshots/errors.txt"]
    );
}

#[test]
fn json_shapes() {
    let repo = measured_repo();
    repo.ok(&["kr", "measure"]);
    assert_data_eq!(
        json_shape(&repo.ok(&["status", "--json"])),
        file!["snapshots/status.json.shape"]
    );
    assert_data_eq!(
        json_shape(&repo.ok(&["kr", "score", "--json"])),
        file!["snapshots/kr_score.json.shape"]
    );
    assert_data_eq!(
        json_shape(&repo.ok(&["audit", "--json"])),
        file!["snapshots/audit.json.shape"]
    );
}
