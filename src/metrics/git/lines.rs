//! Line counts as `git diff --numstat` makes them: lines are split at `\n` and
//! compared with their terminator, so a change of a file's final newline or of
//! CRLF to LF changes the line; binary is git's rule (a NUL in the first 8000 bytes).

use gix::diff::blob::{Algorithm, Diff, InternedInput};

/// How far git looks for a NUL to call a file binary (`FIRST_FEW_BYTES`).
const FIRST_FEW_BYTES: usize = 8000;

/// Whether git's content check calls `data` binary.
pub fn looks_binary(data: &[u8]) -> bool {
    data[..data.len().min(FIRST_FEW_BYTES)].contains(&0)
}

/// The lines of `data` as xdiff counts them: a last line without `\n` counts too.
pub fn count(data: &[u8]) -> u32 {
    let newlines = memchr_count(data);
    let partial = u32::from(data.last().is_some_and(|&b| b != b'\n'));
    newlines + partial
}

fn memchr_count(data: &[u8]) -> u32 {
    // Chunked so the compiler vectorises the comparison.
    let mut n = 0u32;
    let mut chunks = data.chunks_exact(64);
    for chunk in &mut chunks {
        n += chunk.iter().filter(|&&b| b == b'\n').count() as u32;
    }
    n + chunks.remainder().iter().filter(|&&b| b == b'\n').count() as u32
}

/// The algorithm of `diff.algorithm` (git's default: myers). `patience` has no
/// equivalent here and is reported as unsupported by the caller.
pub fn algorithm(name: Option<&str>) -> Option<Algorithm> {
    match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("myers") | Some("default") => Some(Algorithm::Myers),
        Some("minimal") => Some(Algorithm::MyersMinimal),
        Some("histogram") => Some(Algorithm::Histogram),
        _ => None,
    }
}

/// Diffs text blobs, reusing its buffers.
pub struct Differ {
    algorithm: Algorithm,
    diff: Diff,
}

impl Differ {
    pub fn new(algorithm: Algorithm) -> Differ {
        Differ {
            algorithm,
            diff: Diff::default(),
        }
    }

    /// Lines (added, removed) from `old` to `new`, both text.
    pub fn counts(&mut self, old: &[u8], new: &[u8]) -> (u32, u32) {
        if old == new {
            return (0, 0);
        }
        if old.is_empty() || new.is_empty() {
            return (count(new), count(old));
        }
        let input = InternedInput::new(ByteLines(old), ByteLines(new));
        self.diff.compute_with(
            self.algorithm,
            &input.before,
            &input.after,
            input.interner.num_tokens(),
        );
        (self.diff.count_additions(), self.diff.count_removals())
    }
}

/// Lines with their `\n`: what xdiff compares.
#[derive(Clone, Copy)]
struct ByteLines<'a>(&'a [u8]);

impl<'a> gix::diff::blob::TokenSource for ByteLines<'a> {
    type Token = &'a [u8];
    type Tokenizer = LineIter<'a>;

    fn tokenize(&self) -> Self::Tokenizer {
        LineIter(self.0)
    }

    fn estimate_tokens(&self) -> u32 {
        // A guess is enough: it sizes the interner.
        (self.0.len() / 32 + 1) as u32
    }
}

struct LineIter<'a>(&'a [u8]);

impl<'a> Iterator for LineIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let end = self
            .0
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.0.len(), |i| i + 1);
        let (line, rest) = self.0.split_at(end);
        self.0 = rest;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_git() {
        assert_eq!(count(b""), 0);
        assert_eq!(count(b"a"), 1);
        assert_eq!(count(b"a\n"), 1);
        assert_eq!(count(b"a\nb"), 2);
        let mut d = Differ::new(Algorithm::Myers);
        // The final newline: one line removed, one added.
        assert_eq!(d.counts(b"a\nb", b"a\nb\n"), (1, 1));
        assert_eq!(d.counts(b"a\nb\n", b"a\nb"), (1, 1));
        // CRLF to LF changes every line.
        assert_eq!(d.counts(b"a\r\nb\r\n", b"a\nb\n"), (2, 2));
        assert_eq!(d.counts(b"", b"x\ny"), (2, 0));
        assert_eq!(d.counts(b"x\n", b""), (0, 1));
        assert_eq!(d.counts(b"x\n", b"x\n"), (0, 0));
    }

    #[test]
    fn binary_is_a_nul_in_the_first_8000_bytes() {
        assert!(looks_binary(b"a\0b"));
        let mut late = vec![b'a'; 8000];
        late.push(0);
        assert!(!looks_binary(&late));
        late[7999] = 0;
        assert!(looks_binary(&late));
    }
}

#[cfg(test)]
mod against_git {
    use super::*;
    use gix::diff::blob::Algorithm;

    /// A small deterministic generator (no dependency for the tests).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    /// A file from a small alphabet of lines (many repeats, as in real code:
    /// blank lines, braces), then a version with runs replaced, inserted and deleted.
    fn pair(seed: u64, lines: usize, alphabet: u64, edits: usize) -> (Vec<u8>, Vec<u8>) {
        let mut rng = Lcg(seed);
        let mut old: Vec<String> = (0..lines)
            .map(|_| format!("line {}\n", rng.next() % alphabet))
            .collect();
        if seed % 3 == 0 {
            old.last_mut().map(|l| l.pop());
        }
        let mut new = old.clone();
        for _ in 0..edits {
            let at = (rng.next() as usize) % (new.len() + 1);
            let run = 1 + (rng.next() as usize) % 40;
            match rng.next() % 3 {
                0 => {
                    let end = (at + run).min(new.len());
                    new.drain(at..end);
                }
                1 => {
                    for k in 0..run {
                        new.insert(
                            at.min(new.len()),
                            format!("new {} {k}\n", rng.next() % alphabet),
                        );
                    }
                }
                _ => {
                    for k in at..(at + run).min(new.len()) {
                        new[k] = format!("line {}\n", rng.next() % (alphabet * 2));
                    }
                }
            }
        }
        (old.concat().into_bytes(), new.concat().into_bytes())
    }

    fn git_at_least(major: u32, minor: u32) -> bool {
        let out = std::process::Command::new("git")
            .arg("--version")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut numbers = text
            .split_whitespace()
            .nth(2)
            .unwrap_or("0.0")
            .split('.')
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        found >= (major, minor)
    }

    fn git_numstat(old: &[u8], new: &[u8], minimal: bool) -> (u32, u32) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, old).unwrap();
        std::fs::write(&b, new).unwrap();
        let mut cmd = std::process::Command::new("git");
        cmd.args([
            "-c",
            "diff.algorithm=myers",
            "diff",
            "--no-index",
            "--numstat",
        ]);
        if minimal {
            cmd.arg("--minimal");
        }
        let out = cmd.arg(&a).arg(&b).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut parts = text.split('\t');
        let added = parts.next().unwrap_or("0").parse().unwrap_or(0);
        let removed = parts.next().unwrap_or("0").parse().unwrap_or(0);
        (added, removed)
    }

    /// Big rewrites with many repeated lines take xdiff's heuristics (the
    /// cleanup of multi-match runs, the snake sampling, the cost cut): Myers
    /// is not minimal there, and only xdiff's own corner cutting gives git's counts.
    #[test]
    fn counts_equal_gits_on_big_rewrites() {
        let mut differing = Vec::new();
        let cases = [
            (200, 8, 20),
            (3000, 40, 150),
            (6000, 300, 400),
            (5000, 2000, 60),
            (8000, 12, 300),
        ];
        // `--minimal` lost the multi-match cleanup in git 2.50.
        let modes: &[bool] = if git_at_least(2, 50) {
            &[false, true]
        } else {
            &[false]
        };
        for (n, (lines, alphabet, edits)) in cases.into_iter().enumerate() {
            for seed in 0..3u64 {
                let seed = seed * 101 + n as u64;
                let (old, new) = pair(seed, lines, alphabet, edits);
                for &minimal in modes {
                    let algorithm = if minimal {
                        Algorithm::MyersMinimal
                    } else {
                        Algorithm::Myers
                    };
                    let ours = Differ::new(algorithm).counts(&old, &new);
                    let git = git_numstat(&old, &new, minimal);
                    if ours != git {
                        differing.push((lines, alphabet, edits, seed, minimal, ours, git));
                    }
                }
            }
        }
        assert!(differing.is_empty(), "{differing:?}");
    }
}
