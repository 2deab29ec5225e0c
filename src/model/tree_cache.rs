//! `.git/okr/trees/`: the YAML trees of state file texts parsed before, by the text's
//! blob id, so a command reads a large OKR file's tree from compact JSON instead of
//! parsing its YAML again. Parsing is the cost of every command on a big OKR set
//! (10,000 key results: ~120 ms of YAML against ~20 ms of JSON).
//!
//! The cache is a local convenience, never the truth: a file that cannot be read or
//! decoded is a miss and the text is parsed. It is keyed by the text's own hash, so an
//! entry can only ever answer for the very text it was made from, whatever the ref says.
//! Only trees that JSON holds exactly are kept (no YAML tags, only string keys, only
//! finite numbers); anything else is parsed each time.

use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The folder under `.git/okr/`.
pub const TREES_DIR: &str = "trees";
/// The first line of every entry: what wrote it. Another line is a miss.
const HEADER: &[u8] = b"git-okr yaml tree v1 serde_yaml-0.9\n";
/// The folder is trimmed to `KEEP_BYTES`, oldest entries first, once it holds more.
const MAX_BYTES: u64 = 64 * 1024 * 1024;
const KEEP_BYTES: u64 = 48 * 1024 * 1024;

/// How often the folder's size is looked at, and the file that says when it last was.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
const TRIM_MARKER: &str = "last-trimmed";

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Use `okr_dir/trees/` for this process (the command line turns it on once it knows the
/// repository; without it every text is parsed).
pub fn enable(okr_dir: &Path) {
    let _ = DIR.set(okr_dir.join(TREES_DIR));
}

/// `parse_yaml::<Value>(path, text)`, from the cache when this text was parsed before.
pub fn parse(path: &str, text: &str) -> anyhow::Result<Value> {
    if let Some(tree) = get(text) {
        return Ok(tree);
    }
    let tree = super::parse_yaml(path, text)?;
    put(text, &tree);
    Ok(tree)
}

/// Keep `tree` as the tree of `text`, known without parsing it (an edit proven to mean
/// it), on another thread: the command goes on, and `finish_writes` waits for it before
/// the process ends.
pub fn remember_behind(text: String, tree: std::sync::Arc<Value>) {
    if DIR.get().is_none() {
        return;
    }
    let writer = std::thread::spawn(move || put(&text, &tree));
    if let Ok(mut pending) = PENDING.lock() {
        pending.push(writer);
    }
}

/// Wait for the entries `remember_behind` is still writing (a process ending under a
/// writer would leave its temporary file behind).
pub fn finish_writes() {
    let pending = PENDING
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default();
    for writer in pending {
        let _ = writer.join();
    }
}

static PENDING: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// The typed view of `text` read straight from its kept tree, when one is kept and the
/// type accepts it (no YAML tree is built: a reader of a large OKR set needs only this).
pub fn typed<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    let bytes = std::fs::read(entry_path(text)?).ok()?;
    serde_json::from_slice(bytes.strip_prefix(HEADER)?).ok()
}

/// The tree `text` parsed to before, if it is kept.
fn get(text: &str) -> Option<Value> {
    let path = entry_path(text)?;
    let bytes = std::fs::read(&path).ok()?;
    let tree = bytes
        .strip_prefix(HEADER)
        .and_then(|json| serde_json::from_slice(json).ok());
    if tree.is_none() {
        // Damaged or another version's: drop it so this parse writes a good one.
        let _ = std::fs::remove_file(&path);
    }
    tree
}

/// Keep `tree`, the parse of `text`, when JSON holds it exactly. Failing to write is not
/// an error: the next command parses again.
fn put(text: &str, tree: &Value) {
    let Some(path) = entry_path(text) else {
        return;
    };
    if path.exists() || !json_exact(tree) {
        return;
    }
    let _ = write(&path, tree);
}

fn entry_path(text: &str) -> Option<PathBuf> {
    let dir = DIR.get()?;
    let id = gix::objs::compute_hash(
        gix::hash::Kind::Sha1,
        gix::objs::Kind::Blob,
        text.as_bytes(),
    )
    .ok()?;
    Some(dir.join(format!("{id}.json")))
}

fn write(path: &Path, tree: &Value) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut bytes = HEADER.to_vec();
    serde_json::to_writer(&mut bytes, tree).map_err(std::io::Error::other)?;
    // Written aside and renamed: a reader never sees half an entry.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, &bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    trim(dir)
}

/// Remove the oldest entries once the folder holds more than `MAX_BYTES`. Looked at by
/// the first write of a process only, and only when no process looked in the last
/// `TRIM_EVERY` (the folder's marker file says when): a measurement that changes 500 files
/// writes 500 entries, and a folder of thousands takes longer to list than a small command.
fn trim(dir: &Path) -> std::io::Result<()> {
    static TRIMMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TRIMMED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let marker = dir.join(TRIM_MARKER);
    let recent = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < TRIM_EVERY));
    if recent {
        return Ok(());
    }
    std::fs::write(&marker, b"")?;
    let mut entries = Vec::new();
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += meta.len();
        entries.push((meta.modified()?, meta.len(), entry.path()));
    }
    if total <= MAX_BYTES {
        return Ok(());
    }
    entries.sort();
    for (_, len, path) in entries {
        if total <= KEEP_BYTES {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
    Ok(())
}

/// Whether `tree` comes back from JSON as the same tree: JSON has no tags, no keys but
/// strings and no NaN or infinity.
fn json_exact(tree: &Value) -> bool {
    match tree {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        Value::Sequence(items) => items.iter().all(json_exact),
        Value::Mapping(map) => map.iter().all(|(k, v)| k.is_string() && json_exact(v)),
        Value::Tagged(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn json_holds_plain_trees_exactly_and_others_are_refused() {
        let plain = tree("a: [1, -2, 0.1, 1e300, 18446744073709551615, x, null, true]\nb: {c: d}");
        assert!(json_exact(&plain));
        let back: Value = serde_json::from_str(&serde_json::to_string(&plain).unwrap()).unwrap();
        assert_eq!(back, plain);
        for odd in [
            "a: .nan",
            "a: .inf",
            "a: !tag x",
            "1: x",
            "? [a]\n: b",
            "a: {1: x}",
        ] {
            assert!(
                !json_exact(&tree(odd)),
                "{odd} would not come back the same"
            );
        }
    }

    #[test]
    fn floats_come_back_to_the_bit() {
        for x in [
            0.1f64,
            1.0 / 3.0,
            2.2250738585072014e-308,
            123456.789e-7,
            -0.0,
        ] {
            let v = Value::from(x);
            let back: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
            assert_eq!(back.as_f64().map(f64::to_bits), Some(x.to_bits()), "{x}");
        }
    }
}
