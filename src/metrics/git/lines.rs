//! Line counts as `git diff --numstat` makes them: lines are split at `\n` and
//! compared with their terminator, so a change of a file's final newline or of
//! CRLF to LF changes the line; binary is git's rule (a NUL in the first 8000 bytes).

use gix::bstr::ByteSlice;
use gix::diff::blob::{Algorithm, Diff, Token};
use gix::hashtable::hash_table::{self, HashTable};

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
///
/// Only the lines between the files' common first and last lines are interned
/// (hashed and looked up), which is most of the cost of a diff: the common
/// ends are found by comparing bytes. They still take part in the diff as
/// tokens, because git's Myers counts how often each changed line occurs in
/// the whole of the other file (`xdl_cleanup_records`), but a common line gets
/// its own token only when it equals some changed line; every other common
/// line shares one token that no changed line has, which changes no count that
/// matters. So the diff sees the same sequences, up to renumbering, as when
/// every line is interned, and gives the same counts for every algorithm.
pub struct Differ {
    algorithm: Algorithm,
    diff: Diff,
    lines: LineTable,
    before: Vec<Token>,
    after: Vec<Token>,
    head: Vec<Token>,
    tail: Vec<Token>,
}

impl Differ {
    pub fn new(algorithm: Algorithm) -> Differ {
        Differ {
            algorithm,
            diff: Diff::default(),
            lines: LineTable::default(),
            before: Vec::new(),
            after: Vec::new(),
            head: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// Lines (added, removed) from `old` to `new`, both text.
    pub fn counts(&mut self, old: &[u8], new: &[u8]) -> (u32, u32) {
        if old == new {
            return (0, 0);
        }
        let (head, tail) = common_ends(old, new);
        let old_middle = &old[head..old.len() - tail];
        let new_middle = &new[head..new.len() - tail];
        // One side has nothing between the common lines: the other's lines
        // there are all added (or removed), whatever the algorithm.
        if old_middle.is_empty() || new_middle.is_empty() {
            return (count(new_middle), count(old_middle));
        }
        self.lines.clear();
        self.before.clear();
        self.after.clear();
        let files = Files { old, new };
        self.lines
            .intern_all(files, Side::Old, head..old.len() - tail, &mut self.before);
        self.lines
            .intern_all(files, Side::New, head..new.len() - tail, &mut self.after);
        self.lines
            .tokens_of_common(files, &old[..head], &mut self.head);
        self.lines
            .tokens_of_common(files, &old[old.len() - tail..], &mut self.tail);
        for side in [&mut self.before, &mut self.after] {
            side.splice(0..0, self.head.iter().copied());
            side.extend_from_slice(&self.tail);
        }
        self.diff.compute_with(
            self.algorithm,
            &self.before,
            &self.after,
            self.lines.num_tokens(),
        );
        (self.diff.count_additions(), self.diff.count_removals())
    }
}

/// The lengths of the common first lines of `old` and `new` (a byte prefix
/// that ends just after a `\n`) and of their common last lines in what follows
/// (a byte suffix that starts at a line start in both, never overlapping the
/// prefix). `old` and `new` differ. These are exactly the lines git's
/// `xdl_trim_ends` (and the token diff's own trimming) would find equal.
fn common_ends(old: &[u8], new: &[u8]) -> (usize, usize) {
    let same = common_prefix_len(old, new);
    // Back off to the end of the last whole line. A line equal in both files
    // without a `\n` would be the last of both, and then they would be equal.
    let head = old[..same]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let (old_rest, new_rest) = (&old[head..], &new[head..]);
    let same = common_suffix_len(old_rest, new_rest);
    let starts_line =
        |rest: &[u8], len: usize| len == rest.len() || rest[rest.len() - len - 1] == b'\n';
    // Forward to the first position that starts a line in both: within the
    // common bytes the two agree, at their border both must start a line.
    let mut tail = same;
    while tail > 0 && !(starts_line(old_rest, tail) && starts_line(new_rest, tail)) {
        tail -= 1;
    }
    (head, tail)
}

/// Compared in chunks so the compiler vectorises it.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn common_suffix_len(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let n = a.len().min(b.len());
    let (la, lb) = (a.len(), b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[la - i - CHUNK..la - i] == b[lb - i - CHUNK..lb - i] {
        i += CHUNK;
    }
    while i < n && a[la - i - 1] == b[lb - i - 1] {
        i += 1;
    }
    i
}

/// The lines of `data` with their `\n` (the last one may have none): what xdiff compares.
fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find_byte(b'\n').map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        Some(line)
    })
}

/// The two files of a diff.
#[derive(Clone, Copy)]
struct Files<'a> {
    old: &'a [u8],
    new: &'a [u8],
}

impl<'a> Files<'a> {
    fn text(self, line: Line) -> &'a [u8] {
        let file = match line.side {
            Side::Old => self.old,
            Side::New => self.new,
        };
        &file[line.start as usize..line.end as usize]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
}

/// Where a token's line is: its file and byte range.
#[derive(Clone, Copy)]
struct Line {
    side: Side,
    start: u32,
    end: u32,
    hash: u64,
}

/// Lines interned to tokens. Token 0 stands for every common line that equals
/// no changed line.
#[derive(Default)]
struct LineTable {
    table: HashTable<u32>,
    lines: Vec<Line>,
    /// Bits set by a cheap key of each changed line: a common line whose key
    /// bit is clear equals no changed line and is not hashed.
    filter: Vec<u64>,
}

const FILTER_BITS: usize = 1 << 16;
const OTHER: Token = Token(0);

impl LineTable {
    fn clear(&mut self) {
        self.table.clear();
        self.lines.clear();
        // Token 0: no line's range, never looked up.
        self.lines.push(Line {
            side: Side::Old,
            start: 0,
            end: 0,
            hash: 0,
        });
        self.filter.clear();
        self.filter.resize(FILTER_BITS / 64, 0);
    }

    fn num_tokens(&self) -> u32 {
        self.lines.len() as u32
    }

    /// Appends the tokens of the lines in `range` of the `side` file, interning new lines.
    fn intern_all(
        &mut self,
        files: Files<'_>,
        side: Side,
        range: std::ops::Range<usize>,
        out: &mut Vec<Token>,
    ) {
        let file = match side {
            Side::Old => files.old,
            Side::New => files.new,
        };
        let mut at = range.start;
        for line in split_lines(&file[range]) {
            let hash = hash_line(line);
            let (start, end) = (at as u32, (at + line.len()) as u32);
            at += line.len();
            let lines = &self.lines;
            let entry = self.table.entry(
                hash,
                |&t| {
                    let l = lines[t as usize];
                    l.hash == hash && files.text(l) == line
                },
                |&t| lines[t as usize].hash,
            );
            let token = match entry {
                hash_table::Entry::Occupied(e) => *e.get(),
                hash_table::Entry::Vacant(e) => {
                    let token = self.lines.len() as u32;
                    e.insert(token);
                    self.lines.push(Line {
                        side,
                        start,
                        end,
                        hash,
                    });
                    let bit = filter_key(line);
                    self.filter[bit / 64] |= 1 << (bit % 64);
                    token
                }
            };
            out.push(Token(token));
        }
    }

    /// The tokens of the lines of `part` (lines common to both files): a changed
    /// line's token, or [`OTHER`].
    fn tokens_of_common(&self, files: Files<'_>, part: &[u8], out: &mut Vec<Token>) {
        out.clear();
        for line in split_lines(part) {
            let bit = filter_key(line);
            if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
                out.push(OTHER);
                continue;
            }
            let hash = hash_line(line);
            let found = self.table.find(hash, |&t| {
                let l = self.lines[t as usize];
                l.hash == hash && files.text(l) == line
            });
            out.push(found.map_or(OTHER, |&t| Token(t)));
        }
    }
}

/// A cheap key of a line for the filter: its length and three of its bytes.
fn filter_key(line: &[u8]) -> usize {
    let n = line.len();
    let key = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(line[0])
        ^ u64::from(line[n / 2]) << 8
        ^ u64::from(line[n - 1]) << 16
        ^ u64::from(line[n.saturating_sub(2)]) << 24;
    (key.wrapping_mul(0xFF51_AFD7_ED55_8CCD) >> 48) as usize
}

/// A fast hash of a line (FxHash over 8-byte words, then mixed), enough for a
/// table that compares the bytes of equal hashes.
fn hash_line(line: &[u8]) -> u64 {
    const K: u64 = 0xF135_7AEA_2E62_A9C5;
    let mut h = line.len() as u64;
    let mut words = line.chunks_exact(8);
    for w in &mut words {
        let word = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        h = (h.rotate_left(26) ^ word).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    let rest = words.remainder();
    last[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(26) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h ^ (h >> 29)
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
    fn common_ends_stop_at_line_boundaries() {
        // Prefix backs off to after the last common `\n`.
        assert_eq!(common_ends(b"a\nbc\n", b"a\nbd\n"), (2, 0));
        // The last line without `\n` differs from the same line with one.
        assert_eq!(common_ends(b"a\nb", b"a\nb\n"), (2, 0));
        assert_eq!(common_ends(b"a\nb\n", b"a\nb"), (2, 0));
        // One file a prefix of the other: everything of the shorter is common.
        assert_eq!(common_ends(b"a\nb\n", b"a\nb\nc\n"), (4, 0));
        assert_eq!(common_ends(b"a\nb", b"a\nb\nc"), (2, 0));
        // The suffix starts a line in both and never overlaps the prefix.
        assert_eq!(common_ends(b"x\na\n", b"y\na\n"), (0, 2));
        assert_eq!(common_ends(b"xa\n", b"ya\n"), (0, 0));
        assert_eq!(common_ends(b"a\n", b"a\na\n"), (2, 0));
        assert_eq!(common_ends(b"a\nb\na\n", b"a\na\n"), (2, 2));
        // CRLF: the CR belongs to the line.
        assert_eq!(common_ends(b"a\r\nb\r\n", b"a\r\nb\n"), (3, 0));
        assert_eq!(common_ends(b"a\r\nb\r\n", b"a\nb\r\n"), (0, 3));
        // Long runs, compared a chunk at a time.
        let long = "0123456789abcdef\n".repeat(10);
        let (a, b) = (format!("{long}x\n{long}"), format!("{long}y\n{long}"));
        assert_eq!(common_ends(a.as_bytes(), b.as_bytes()), (170, 170));
    }

    /// The trimmed diff against interning every line of both files.
    #[test]
    fn counts_equal_a_diff_of_every_line() {
        use gix::diff::blob::InternedInput;
        let mut rng = against_git::Lcg(7);
        let algorithms = [
            Algorithm::Myers,
            Algorithm::MyersMinimal,
            Algorithm::Histogram,
        ];
        for round in 0..400u64 {
            let (old, new) = against_git::pair(
                round,
                20 + (rng.next() % 400) as usize,
                2 + rng.next() % 30,
                1 + (rng.next() % 6) as usize,
            );
            for algorithm in algorithms {
                let mut input = InternedInput::default();
                input.update_before(split_lines(&old));
                input.update_after(split_lines(&new));
                let mut diff = Diff::default();
                diff.compute_with(
                    algorithm,
                    &input.before,
                    &input.after,
                    input.interner.num_tokens(),
                );
                let expected = if old == new {
                    (0, 0)
                } else {
                    (diff.count_additions(), diff.count_removals())
                };
                assert_eq!(
                    Differ::new(algorithm).counts(&old, &new),
                    expected,
                    "round {round}, {algorithm:?}"
                );
            }
        }
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
    pub(super) struct Lcg(pub(super) u64);
    impl Lcg {
        pub(super) fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    /// A file from a small alphabet of lines (many repeats, as in real code:
    /// blank lines, braces), then a version with runs replaced, inserted and deleted.
    pub(super) fn pair(seed: u64, lines: usize, alphabet: u64, edits: usize) -> (Vec<u8>, Vec<u8>) {
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

    /// The edges of trimming the common first and last lines, with git as the oracle.
    #[test]
    fn trimmed_edges_count_as_git_counts() {
        let body = "fn main() {\n    let x = 1;\n}\n\n".repeat(30);
        let cases: Vec<(String, String)> = vec![
            // Final newline added, removed, with the rest the same.
            (format!("{body}last"), format!("{body}last\n")),
            (format!("{body}last\n"), format!("{body}last")),
            // One file a prefix of the other, at a line end and inside a line.
            (body.clone(), format!("{body}more\nlines\n")),
            (format!("{body}more\nlines\n"), body.clone()),
            (format!("{body}par"), format!("{body}partial\n")),
            // Lines inserted or removed in the middle only (an empty middle on one side).
            (format!("{body}{body}"), format!("{body}}}\n\n{body}")),
            (format!("{body}}}\n\n{body}"), format!("{body}{body}")),
            // CRLF to LF on one line, and on every line.
            (
                body.replace('\n', "\r\n"),
                body.replace('\n', "\r\n").replacen("\r\n", "\n", 7),
            ),
            (body.replace('\n', "\r\n"), body.clone()),
            // Changed lines that equal common lines (their counts over the whole file matter).
            (
                format!("{body}x\n{body}"),
                format!("{body}}}\n}}\n\n{body}"),
            ),
            // A file without any newline.
            ("one line".into(), "one line, longer".into()),
            ("".into(), "a\nb".into()),
        ];
        for (i, (old, new)) in cases.iter().enumerate() {
            let ours = Differ::new(Algorithm::Myers).counts(old.as_bytes(), new.as_bytes());
            let git = git_numstat(old.as_bytes(), new.as_bytes(), false);
            assert_eq!(ours, git, "case {i}");
        }
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
