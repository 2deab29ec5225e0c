//! Unified diffs of the OKR files a proposal touches (made with `similar`), and their colours.

use super::Texts;
use crate::model::proposal::FileDiff;
use similar::{ChangeTag, TextDiff};

/// One `FileDiff` per file whose text differs between `before` and `after`, by path.
pub fn file_diffs(before: &Texts, after: &Texts) -> Vec<FileDiff> {
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter_map(|path| {
            let old = before.get(path);
            let new = after.get(path);
            (old != new).then(|| file_diff(path, old.map(String::as_str), new.map(String::as_str)))
        })
        .collect()
}

/// The diff of one file; `None` is a file that does not exist on that side (`/dev/null`).
pub fn file_diff(path: &str, old: Option<&str>, new: Option<&str>) -> FileDiff {
    let diff = TextDiff::from_lines(old.unwrap_or(""), new.unwrap_or(""));
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let a = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".into()
    };
    let b = if new.is_some() {
        format!("b/{path}")
    } else {
        "/dev/null".into()
    };
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string();
    FileDiff {
        path: path.to_string(),
        added,
        removed,
        diff: text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_with_headers_and_counts() {
        let d = file_diff("okrs/org.yml", Some("a: 1\nb: 2\n"), Some("a: 1\nb: 3\n"));
        assert_eq!((d.added, d.removed), (1, 1));
        assert!(
            d.diff
                .starts_with("--- a/okrs/org.yml\n+++ b/okrs/org.yml\n@@ -1,2 +1,2 @@\n"),
            "{}",
            d.diff
        );
        assert!(d.diff.contains("-b: 2\n+b: 3\n"), "{}", d.diff);
        let new = file_diff("okrs/t.yml", None, Some("x: 1\n"));
        assert!(
            new.diff.starts_with("--- /dev/null\n+++ b/okrs/t.yml\n"),
            "{}",
            new.diff
        );
    }
}
