//! The one check of every tree git-okr reads, exports, merges or moves `refs/okr/state` to.
//!
//! A state tree may come from a teammate's clone, crafted with plain git plumbing, and
//! git does not check fetched trees unless `transfer.fsckObjects` is on. So each path is
//! checked the way git's `verify_path` checks paths before it writes a work tree (no
//! empty, `.`, `..` or `.git` components, including the spellings NTFS and HFS+ treat as
//! `.git`), against the documented layout of the ref, and against size limits; entries
//! must be plain files and folders (no symlinks, no submodules).

use gix::ObjectId;
use std::collections::HashSet;
use std::sync::Mutex;

/// Files a state tree may hold (snapshots, runs and proposals add up over years).
pub const MAX_FILES: usize = 200_000;
/// Bytes one state file may hold (run logs are capped far below; CI reports are the big ones).
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;
/// Folders deep: the layout's deepest file is `runs/RUN/TASK/prompt.md`.
pub const MAX_DEPTH: usize = 3;
/// Bytes of one path component (most file systems stop at 255).
pub const MAX_NAME_BYTES: usize = 255;

/// Why a tree was refused; every variant names the offending path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("path {path:?}: {why}")]
    Path { path: String, why: String },
    #[error("{path}: a {kind}; only files and folders may be on refs/okr/state")]
    Kind { path: String, kind: &'static str },
    #[error("{path}: not a place in the layout of refs/okr/state (see README, \"Layout of refs/okr/state\")")]
    Layout { path: String },
    #[error("{path}: {size} bytes, more than the {max} a state file may hold")]
    TooBig { path: String, size: u64, max: u64 },
    #[error("more than {max} files (at {path})")]
    TooManyFiles { path: String, max: usize },
    #[error("could not read the tree at {path:?}: {why}")]
    Unreadable { path: String, why: String },
}

impl TreeError {
    /// The path the error is about.
    pub fn path(&self) -> &str {
        match self {
            TreeError::Path { path, .. }
            | TreeError::Kind { path, .. }
            | TreeError::Layout { path }
            | TreeError::TooBig { path, .. }
            | TreeError::TooManyFiles { path, .. }
            | TreeError::Unreadable { path, .. } => path,
        }
    }
}

/// Code points HFS+ ignores when comparing names, so `.g\u{200c}it` is `.git` there
/// (the list git's `is_hfs_dotgit` skips).
fn is_hfs_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff)
}

/// Whether a name is `.git` on some file system: any case, HFS+ ignorable code points,
/// NTFS trailing dots and spaces, NTFS alternate streams (`.git::$INDEX_ALLOCATION`)
/// and the 8.3 short name `git~1`.
pub fn is_dotgit_disguise(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| !is_hfs_ignorable(*c))
        .collect::<String>()
        .to_ascii_lowercase();
    let stream_free = folded.split(':').next().unwrap_or("");
    let trimmed = stream_free.trim_end_matches(['.', ' ']);
    trimmed == ".git" || trimmed == "git~1"
}

/// Check one path component: what git's `verify_path` refuses, plus a conservative
/// character set (state paths are made from ids, dates and fixed names).
pub fn check_component(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("has an empty component".into());
    }
    if name == "." || name == ".." {
        return Err(format!("has a `{name}` component"));
    }
    if is_dotgit_disguise(name) {
        return Err(format!(
            "has a component {name:?} that is `.git` on some file system"
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "has a component longer than {MAX_NAME_BYTES} bytes"
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_safe_name_char(*c)) {
        return Err(format!(
            "has a component with the character {:?} (U+{:04X}); names use A-Z a-z 0-9 . _ - + @",
            c, c as u32
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(format!(
            "has a component {name:?} starting with `{}`",
            &name[..1]
        ));
    }
    Ok(())
}

fn is_safe_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@')
}

/// Check a whole `/`-separated state path: relative, every component safe.
pub fn check_path(path: &str) -> Result<(), TreeError> {
    let refuse = |why: String| TreeError::Path {
        path: path.to_string(),
        why,
    };
    if path.starts_with('/') {
        return Err(refuse("is absolute".into()));
    }
    if path.contains('\0') {
        return Err(refuse("holds a NUL byte".into()));
    }
    if path.contains('\\') {
        return Err(refuse("holds a backslash".into()));
    }
    for component in path.split('/') {
        check_component(component).map_err(refuse)?;
    }
    Ok(())
}

/// Whether a file path is one of the places the README's layout documents.
pub fn in_layout(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["okrs", _] | ["culture", _] => true,
        ["metrics", "manual.yml" | "definitions.yml" | "ci_report.json" | "ci_history.jsonl"] => {
            true
        }
        ["metrics", "snapshots", name] => name.ends_with(".json"),
        ["proposals", name] => name.ends_with(".yml"),
        ["plans", _date, name] => name.ends_with(".json"),
        ["runs", _run, _file] => true,
        ["runs", _run, _task, "prompt.md" | "report.json" | "transcript.log"] => true,
        ["daemon", "jobs.yml"] => true,
        ["checkins", day, name] => is_day(day) && is_checkin_name(name),
        ["grades", name] => name.strip_suffix(".json").is_some_and(is_cycle_id),
        _ => false,
    }
}

/// Whether a folder path can lead to a place in the layout.
fn folder_in_layout(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    matches!(
        parts.as_slice(),
        ["okrs"
            | "culture"
            | "metrics"
            | "proposals"
            | "plans"
            | "runs"
            | "daemon"
            | "checkins"
            | "grades"]
            | ["metrics", "snapshots"]
            | ["plans", _]
            | ["runs", _]
            | ["runs", _, _]
    ) || matches!(parts.as_slice(), ["checkins", day] if is_day(day))
}

/// `YYYY-MM-DD`, a real day (check-ins are filed by day).
fn is_day(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// A check-in's name: `HHMMSS-xxxxxxxx.json` (time and 8 random hex digits).
fn is_checkin_name(name: &str) -> bool {
    let Some((time, hex)) = name.strip_suffix(".json").and_then(|s| s.split_once('-')) else {
        return false;
    };
    time.len() == 6
        && time.bytes().all(|b| b.is_ascii_digit())
        && hex.len() == 8
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A cycle id as it names `grades/<id>.json`: 1-64 of `A-Z a-z 0-9 . _ -`, starting
/// with a letter or digit, no `..` (the same rule `okrs/cycles.yml` is checked by).
fn is_cycle_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !id.contains("..")
}

/// Check one file path as a write would create it (the transaction checks its changes).
pub fn check_file_path(path: &str) -> Result<(), TreeError> {
    check_path(path)?;
    if !in_layout(path) {
        return Err(TreeError::Layout { path: path.into() });
    }
    Ok(())
}

/// Remembers subtrees already found valid, so reading the state many times (or every
/// commit of a history, where most subtrees do not change) checks each subtree once.
/// Trees found valid are also kept in a file (`.git/okr/verified`), so the next command
/// does not check the same trees again: with 500 OKR files that is 500 object headers to
/// read, a third of a `metric set`.
#[derive(Default)]
pub struct Verified {
    trees: Mutex<HashSet<(ObjectId, String)>>,
    kept: Option<std::path::PathBuf>,
    /// Trees found valid by this process, not yet in the file.
    fresh: Mutex<Vec<(ObjectId, String)>>,
}

/// The first line of the file of kept trees: the rules that verified them. Another line
/// (an older git-okr's rules) and the file is not used.
const KEPT_HEADER: &str = concat!("git-okr verified trees v1 ", env!("CARGO_PKG_VERSION"));
/// Trees kept; past this many lines the file is cut to the newest `KEPT_AFTER_CUT`.
const KEPT_MAX: usize = 1024;
const KEPT_AFTER_CUT: usize = 256;

impl Verified {
    /// Verified trees remembered in `file` too (a local file, written only by git-okr;
    /// a line that is not a tree id is ignored).
    pub fn kept_in(file: std::path::PathBuf) -> Verified {
        let mut trees = HashSet::new();
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if lines.next() == Some(KEPT_HEADER) {
                for line in lines {
                    let (id, prefix) = line.split_once(' ').unwrap_or((line, ""));
                    if let Ok(id) = ObjectId::from_hex(id.as_bytes()) {
                        trees.insert((id, prefix.to_string()));
                    }
                }
            }
        }
        Verified {
            trees: Mutex::new(trees),
            kept: Some(file),
            fresh: Mutex::default(),
        }
    }

    /// Write the trees this process found valid to the file. Failing to is no error: the
    /// next command checks them again.
    fn keep_fresh(&self) {
        let Some(file) = &self.kept else {
            return;
        };
        let fresh = self
            .fresh
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        if !fresh.is_empty() {
            let _ = append_kept(file, &fresh);
        }
    }

    fn contains(&self, id: ObjectId, prefix: &str) -> bool {
        self.trees
            .lock()
            .map(|set| set.contains(&(id, prefix.to_string())))
            .unwrap_or(false)
    }
    fn insert(&self, id: ObjectId, prefix: &str) {
        if let Ok(mut set) = self.trees.lock() {
            set.insert((id, prefix.to_string()));
        }
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.push((id, prefix.to_string()));
        }
    }
}

/// Append `trees` to the file of kept trees (a new or another version's file starts
/// over; a long one is cut to its newest lines).
fn append_kept(file: &std::path::Path, trees: &[(ObjectId, String)]) -> std::io::Result<()> {
    use std::io::Write;
    let added: String = trees
        .iter()
        .map(|(id, prefix)| format!("{id} {prefix}\n"))
        .collect();
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.first() != Some(&KEPT_HEADER) || lines.len() > KEPT_MAX {
        let newest = if lines.first() == Some(&KEPT_HEADER) {
            &lines[lines.len() - KEPT_AFTER_CUT..]
        } else {
            &[][..]
        };
        let dir = file.parent().unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut out = tempfile::NamedTempFile::new_in(dir)?;
        writeln!(out, "{KEPT_HEADER}")?;
        for line in newest {
            writeln!(out, "{line}")?;
        }
        out.write_all(added.as_bytes())?;
        out.persist(file).map_err(|e| e.error)?;
        return Ok(());
    }
    // One short append: concurrent commands each add their lines whole.
    let mut f = std::fs::OpenOptions::new().append(true).open(file)?;
    f.write_all(added.as_bytes())
}

/// Check every entry of the root tree `root`; the first problem found is returned.
pub fn verify_tree(
    repo: &gix::Repository,
    root: ObjectId,
    verified: &Verified,
) -> Result<(), TreeError> {
    let mut files = 0usize;
    verify_subtree(repo, root, "", 0, verified, &mut files)?;
    verified.keep_fresh();
    Ok(())
}

fn verify_subtree(
    repo: &gix::Repository,
    id: ObjectId,
    prefix: &str,
    depth: usize,
    verified: &Verified,
    files: &mut usize,
) -> Result<(), TreeError> {
    if verified.contains(id, prefix) {
        return Ok(());
    }
    let unreadable = |why: String| TreeError::Unreadable {
        path: if prefix.is_empty() {
            "/".into()
        } else {
            prefix.to_string()
        },
        why,
    };
    let tree = repo.find_tree(id).map_err(|e| unreadable(e.to_string()))?;
    // Decoded once, so the entries can be walked while sub-trees are looked up.
    let decoded = tree.decode().map_err(|e| unreadable(e.to_string()))?;
    for entry in &decoded.entries {
        let name = std::str::from_utf8(entry.filename).map_err(|_| TreeError::Path {
            path: format!("{prefix}{}", String::from_utf8_lossy(entry.filename)),
            why: "is not UTF-8".into(),
        })?;
        let path = format!("{prefix}{name}");
        check_path(&path)?;
        let mode = entry.mode;
        if mode.is_tree() {
            if depth >= MAX_DEPTH || !folder_in_layout(&path) {
                return Err(TreeError::Layout { path });
            }
            let sub = entry.oid.to_owned();
            verify_subtree(repo, sub, &format!("{path}/"), depth + 1, verified, files)?;
            continue;
        }
        if mode.is_link() {
            return Err(TreeError::Kind {
                path,
                kind: "symbolic link",
            });
        }
        if mode.is_commit() {
            return Err(TreeError::Kind {
                path,
                kind: "submodule (gitlink)",
            });
        }
        if !(mode.is_blob() || mode.is_executable()) {
            return Err(TreeError::Kind {
                path,
                kind: "entry of unknown kind",
            });
        }
        if !in_layout(&path) {
            return Err(TreeError::Layout { path });
        }
        *files += 1;
        if *files > MAX_FILES {
            return Err(TreeError::TooManyFiles {
                path,
                max: MAX_FILES,
            });
        }
        let size = repo
            .find_header(entry.oid.to_owned())
            .map_err(|e| TreeError::Unreadable {
                path: path.clone(),
                why: e.to_string(),
            })?
            .size();
        if size > MAX_BLOB_BYTES {
            return Err(TreeError::TooBig {
                path,
                size,
                max: MAX_BLOB_BYTES,
            });
        }
    }
    verified.insert(id, prefix);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotgit_in_every_disguise() {
        for name in [
            ".git",
            ".GIT",
            ".Git",
            "git~1",
            "GIT~1",
            ".git.",
            ".git ",
            ".git. . ",
            ".git::$INDEX_ALLOCATION",
            ".g\u{200c}it",
            "\u{feff}.git",
            ".gi\u{206a}t",
        ] {
            assert!(is_dotgit_disguise(name), "{name:?}");
            assert!(check_component(name).is_err(), "{name:?}");
        }
        for name in ["git", ".gitx", "gitx~1", "org.yml"] {
            assert!(!is_dotgit_disguise(name), "{name:?}");
        }
    }

    #[test]
    fn components_git_refuses() {
        for path in [
            "",
            "/etc/passwd",
            "okrs//org.yml",
            "okrs/./org.yml",
            "../x",
            "okrs/..",
            "okrs/a\\b.yml",
            "okrs/a\0.yml",
            "okrs/a\nb.yml",
            "okrs/-x.yml",
            "okrs/.hidden",
            "okrs/\u{202e}lmy.yml",
        ] {
            assert!(check_path(path).is_err(), "{path:?}");
        }
        let long = format!("okrs/{}.yml", "a".repeat(300));
        assert!(check_path(&long).is_err());
        check_path("plans/2026-01-18/p-1.json").unwrap();
        check_path("okrs/team+x@y.yml").unwrap();
    }

    #[test]
    fn the_layout() {
        for path in [
            "okrs/org.yml",
            "okrs/permissions.yml",
            "okrs/schema.md",
            "culture/values.md",
            "metrics/manual.yml",
            "metrics/definitions.yml",
            "metrics/ci_report.json",
            "metrics/ci_history.jsonl",
            "metrics/snapshots/2026-01-18.json",
            "proposals/P-20261124-a1b2c3.yml",
            "plans/2026-01-18/p.json",
            "runs/r-1/result.json",
            "runs/r-1/T1.stdout",
            "runs/r-1/T1/prompt.md",
            "runs/r-1/T1/report.json",
            "runs/r-1/T1/transcript.log",
            "daemon/jobs.yml",
            "okrs/cycles.yml",
            "checkins/2026-11-30/101500-0a1b2c3d.json",
            "grades/2026-Q4.json",
            "grades/FY2027.H1.json",
        ] {
            check_file_path(path).unwrap();
        }
        for path in [
            "README",
            "okrs/sub/org.yml",
            "metrics/other.yml",
            "proposals/x.json",
            "plans/p.json",
            "runs/r/x/y",
            "runs/r/T1/other.md",
            "runs/r/T1/x/prompt.md",
            "daemon/other.yml",
            "hooks/pre-push",
            "checkins/KR-1.1.json",
            "checkins/2026-11-31/101500-0a1b2c3d.json",
            "checkins/2026-11-30/note.json",
            "checkins/2026-11-30/x/101500-0a1b2c3d.json",
            "grades/2026-Q4.yml",
            "grades/_x.json",
            "grades/a/b.json",
        ] {
            assert!(
                matches!(check_file_path(path), Err(TreeError::Layout { .. })),
                "{path}"
            );
        }
    }

    #[test]
    fn trees_found_valid_are_kept_for_the_next_command_by_these_rules_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("okr").join("verified");
        let id = |n: u8| ObjectId::from_bytes_or_panic(&[n; 20]);
        append_kept(&file, &[(id(1), String::new()), (id(2), "okrs/".into())]).unwrap();
        append_kept(&file, &[(id(3), "metrics/".into())]).unwrap();
        let kept = Verified::kept_in(file.clone());
        assert!(kept.contains(id(1), "") && kept.contains(id(2), "okrs/"));
        assert!(kept.contains(id(3), "metrics/"));
        // A tree is kept with its place: the same tree elsewhere is checked again.
        assert!(!kept.contains(id(2), "") && !kept.contains(id(4), ""));
        // Lines that are not tree ids are ignored; another version's file is not used.
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("{text}not an id\n")).unwrap();
        assert!(Verified::kept_in(file.clone()).contains(id(1), ""));
        std::fs::write(
            &file,
            text.replace(KEPT_HEADER, "git-okr verified trees v0"),
        )
        .unwrap();
        assert!(!Verified::kept_in(file.clone()).contains(id(1), ""));
        // That file starts over; a long one is cut to its newest lines.
        append_kept(&file, &[(id(5), String::new())]).unwrap();
        let many: Vec<(ObjectId, String)> =
            (0..KEPT_MAX).map(|n| (id(6), format!("p{n}/"))).collect();
        append_kept(&file, &many).unwrap();
        append_kept(&file, &[(id(7), String::new())]).unwrap();
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert_eq!(lines, 1 + KEPT_AFTER_CUT + 1);
        let kept = Verified::kept_in(file);
        assert!(kept.contains(id(7), "") && !kept.contains(id(5), ""));
    }
}
