//! One state commit on a ref with 10,000 commits of history (goal: median <= 15 ms),
//! beside git's own plumbing doing a comparable write in the same run.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::time::Duration;
use support::*;

const HISTORY: usize = 10_000;
const RUNS: usize = 41;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    okr(repo, &["init"]);
    let tip = git(repo, &["rev-parse", "refs/okr/state"])
        .trim()
        .to_string();
    // 10,000 metric-set commits on top of init, written by fast-import.
    fast_import(repo, |w: &mut dyn Write| {
        for i in 0..HISTORY {
            let manual = format!("metrics:\n- key: manual.bench\n  value: {i}\n");
            let msg = format!("okr: metric set manual.bench = {i}\n\nOkr-Action: metric-set\nOkr-Actor: bench@example.com\nOkr-Metric: manual.bench\nOkr-Value: {i}\n");
            writeln!(w, "commit refs/okr/state").unwrap();
            writeln!(
                w,
                "committer Bench <bench@example.com> {} +0000",
                1_700_000_000 + i
            )
            .unwrap();
            writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
            if i == 0 {
                writeln!(w, "from {tip}").unwrap();
            }
            writeln!(
                w,
                "M 100644 inline metrics/manual.yml\ndata {}\n{manual}",
                manual.len()
            )
            .unwrap();
        }
    });
    let count = git(repo, &["rev-list", "--count", "refs/okr/state"]);
    println!("state ref history: {} commits", count.trim());

    let mut i = 0;
    let ours = samples(RUNS, || {
        i += 1;
        okr(repo, &["metric", "set", "manual.bench", &i.to_string()]);
    });
    // git's floor for the same kind of write: hash a blob, build the tree, commit, CAS the ref.
    let theirs = samples(RUNS, || {
        let script = r#"set -e
blob=$(printf 'metrics: []\n' | git hash-object -w --stdin)
tree=$( (git ls-tree refs/okr/state | grep -v '	metrics$'; printf '040000 tree %s\tmetrics\n' $(printf '100644 blob %s\tmanual.yml\n' $blob | git mktree)) | git mktree)
old=$(git rev-parse refs/okr/state)
new=$(echo bench | git commit-tree $tree -p $old)
git update-ref refs/okr/state $new $old"#;
        let out = cmd("sh", repo).arg("-c").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    report(
        "git okr metric set (one state commit), median",
        median(&ours),
        Duration::from_millis(15),
    );
    println!(
        "{:<48} {:>10}   (6 git plumbing processes)",
        "git hash-object+mktree+commit-tree+update-ref",
        ms(median(&theirs))
    );
    println!(
        "ratio git-okr / git plumbing: {:.2}",
        median(&ours).as_secs_f64() / median(&theirs).as_secs_f64()
    );
}
