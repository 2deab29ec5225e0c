//! Rename (and copy) detection as git's `diffcore-rename` does it for `git log`
//! without `-M`/`-C` options, so that the pairs, and with them `--numstat`, are
//! git's: exact renames first (same blob, preferring an unused source with the
//! same file name), then files whose name is unique among both the remaining
//! sources and destinations at 75% similarity, then the candidate matrix at the
//! minimum score (50% by default) unless it exceeds `diff.renameLimit`².
//! Similarity is git's: 64-byte-or-line chunks hashed and counted
//! (`diffcore-delta`), never a line diff.

use anyhow::Result;
use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::EntryMode;
use gix::ObjectId;
use std::rc::Rc;

/// Git's `MAX_SCORE`: 100% similarity.
pub const MAX_SCORE: u32 = 60_000;
/// Git's default minimum similarity for a rename: 50%.
pub const DEFAULT_SCORE: u32 = 30_000;
/// Git's default `diff.renameLimit`.
pub const DEFAULT_LIMIT: u64 = 1000;
const CANDIDATES_PER_DST: usize = 4;
const HASHBASE: u32 = 107_927;

/// One side of a file pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub id: ObjectId,
    pub mode: EntryMode,
    pub path: BString,
}

/// A changed path: an addition (`old` is `None`), a deletion (`new` is `None`),
/// a modification, or after detection a rename or copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub old: Option<Side>,
    pub new: Option<Side>,
    /// Set for a detected rename (`Some(false)`) or copy (`Some(true)`).
    pub copy: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    Off,
    Renames,
    Copies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub detect: Detect,
    pub min_score: u32,
    /// `diff.renameLimit`; 0 = unlimited.
    pub limit: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            detect: Detect::Renames,
            min_score: DEFAULT_SCORE,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// What rename detection needs to know about blobs.
pub trait Contents {
    fn size(&mut self, side: &Side) -> Result<u64>;
    /// Git's chunk hashes of the blob, sorted by hash, counts summed per hash.
    fn spans(&mut self, side: &Side) -> Result<Rc<Vec<(u32, u32)>>>;
}

/// Git's `hash_chars`: chunks end at `\n` or after 64 bytes; in text, the CR of a CRLF is skipped.
pub fn span_hashes(data: &[u8], is_text: bool) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(data.len() / 32 + 1);
    let (mut n, mut accum1, mut accum2) = (0u32, 0u32, 0u32);
    for (i, &byte) in data.iter().enumerate() {
        let c = u32::from(byte);
        if is_text && byte == b'\r' && data.get(i + 1) == Some(&b'\n') {
            continue;
        }
        let old_1 = accum1;
        accum1 = (accum1 << 7) ^ (accum2 >> 25);
        accum2 = (accum2 << 7) ^ (old_1 >> 25);
        accum1 = accum1.wrapping_add(c);
        n += 1;
        if n < 64 && byte != b'\n' {
            continue;
        }
        out.push((accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE, n));
        n = 0;
        accum1 = 0;
        accum2 = 0;
    }
    if n > 0 {
        out.push((accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE, n));
    }
    out.sort_unstable_by_key(|s| s.0);
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(out.len());
    for (h, c) in out {
        match merged.last_mut() {
            Some(last) if last.0 == h => last.1 += c,
            _ => merged.push((h, c)),
        }
    }
    merged
}

/// Git's `diffcore_count_changes`: bytes of `dst` copied from `src`.
fn copied(src: &[(u32, u32)], dst: &[(u32, u32)]) -> u64 {
    let (mut d, mut sc) = (0usize, 0u64);
    for &(hash, src_cnt) in src {
        while d < dst.len() && dst[d].0 < hash {
            d += 1;
        }
        let mut dst_cnt = 0;
        if d < dst.len() && dst[d].0 == hash {
            dst_cnt = dst[d].1;
            d += 1;
        }
        sc += u64::from(src_cnt.min(dst_cnt));
    }
    sc
}

/// Git's `S_ISREG`: a file, executable or not (no symlinks, no submodules).
fn is_regular(mode: EntryMode) -> bool {
    use gix::objs::tree::EntryKind;
    matches!(mode.kind(), EntryKind::Blob | EntryKind::BlobExecutable)
}

/// Git's `basename_same`: the same file name after the last `/`.
fn basename_same(a: &[u8], b: &[u8]) -> bool {
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        i -= 1;
        j -= 1;
        if a[i] != b[j] {
            return false;
        }
        if a[i] == b'/' {
            return true;
        }
    }
    (i == 0 || a[i - 1] == b'/') && (j == 0 || b[j - 1] == b'/')
}

fn basename(path: &[u8]) -> &[u8] {
    path.rfind_byte(b'/').map_or(path, |i| &path[i + 1..])
}

/// Git's `estimate_similarity`.
fn similarity(contents: &mut dyn Contents, src: &Side, dst: &Side, min_score: u32) -> Result<u32> {
    if !is_regular(src.mode) || !is_regular(dst.mode) {
        return Ok(0);
    }
    let (s, d) = (contents.size(src)?, contents.size(dst)?);
    let (max, base) = (s.max(d), s.min(d));
    let delta = max - base;
    if max * u64::from(MAX_SCORE - min_score) < delta * u64::from(MAX_SCORE) {
        return Ok(0);
    }
    if d == 0 {
        return Ok(0);
    }
    let copied = copied(&contents.spans(src)?, &contents.spans(dst)?);
    Ok((copied * u64::from(MAX_SCORE) / max) as u32)
}

#[derive(Clone, Copy, Debug)]
struct Score {
    src: usize,
    /// `None`: an empty slot.
    dst: Option<usize>,
    score: u32,
    name_score: i32,
}

/// Git's `score_compare`: > 0 when `a` sorts after `b`.
fn score_compare(a: &Score, b: &Score) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.dst, b.dst) {
        (None, None) => Equal,
        (None, Some(_)) => Greater,
        (Some(_), None) => Less,
        _ if a.score == b.score => b.name_score.cmp(&a.name_score),
        _ => b.score.cmp(&a.score),
    }
}

fn record_if_better(m: &mut [Score], o: Score) {
    let mut worst = 0;
    for i in 1..m.len() {
        if score_compare(&m[i], &m[worst]).is_gt() {
            worst = i;
        }
    }
    if score_compare(&m[worst], &o).is_gt() {
        m[worst] = o;
    }
}

/// Pair additions with deletions (and, for copies, modified files) as git does.
/// `pairs` must be in git's order (by path); renamed pairs stay at their
/// destination's place and consumed deletions disappear.
pub fn detect(
    pairs: &mut Vec<Pair>,
    settings: &Settings,
    contents: &mut dyn Contents,
) -> Result<()> {
    if settings.detect == Detect::Off {
        return Ok(());
    }
    let copies = settings.detect == Detect::Copies;
    // Per pair: how often its old side is used as a source (git's `rename_used`).
    let mut used = vec![0u32; pairs.len()];
    let mut dsts = Vec::new();
    let mut srcs = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        match (&p.old, &p.new) {
            (None, Some(_)) => dsts.push(i),
            (Some(_), None) => srcs.push(i),
            (Some(_), Some(_)) if copies => {
                used[i] += 1;
                srcs.push(i);
            }
            _ => {}
        }
    }
    if dsts.is_empty() || srcs.is_empty() {
        return Ok(());
    }
    let old = |pairs: &[Pair], i: usize| pairs[i].old.clone().expect("a source");
    let new = |pairs: &[Pair], i: usize| pairs[i].new.clone().expect("a destination");
    // Per destination (index into `dsts`): the source pair it was matched with.
    let mut matched: Vec<Option<usize>> = vec![None; dsts.len()];

    // Exact renames: the same blob, preferring unused sources with the same name.
    let mut by_id: gix::hashtable::HashMap<ObjectId, Vec<usize>> = Default::default();
    for &s in &srcs {
        by_id.entry(old(pairs, s).id).or_default().push(s);
    }
    for (d, &dst) in dsts.iter().enumerate() {
        let target = new(pairs, dst);
        let Some(candidates) = by_id.get(&target.id) else {
            continue;
        };
        let (mut best, mut best_score, mut budget) = (None, -1i32, 100);
        for &s in candidates {
            let source = pairs[s].old.as_ref().expect("a source");
            if (!is_regular(source.mode) || !is_regular(target.mode)) && source.mode != target.mode
            {
                continue;
            }
            if used[s] > 0 && !copies {
                continue;
            }
            let score =
                i32::from(used[s] == 0) + i32::from(basename_same(&source.path, &target.path));
            if score > best_score {
                best = Some(s);
                best_score = score;
                if score == 2 {
                    break;
                }
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
        if let Some(s) = best {
            matched[d] = Some(s);
            used[s] += 1;
        }
    }

    if settings.min_score < MAX_SCORE {
        if !copies {
            srcs.retain(|&s| used[s] == 0);
            let min_basename = settings.min_score + (MAX_SCORE - settings.min_score) / 2;
            basename_matches(
                pairs,
                &srcs,
                &dsts,
                &mut matched,
                &mut used,
                min_basename,
                contents,
            )?;
            srcs.retain(|&s| used[s] == 0);
        }
        let open: Vec<usize> = (0..dsts.len()).filter(|&d| matched[d].is_none()).collect();
        let too_many = settings.limit > 0
            && (open.len() as u64) * (srcs.len() as u64) > settings.limit * settings.limit;
        if !open.is_empty() && !srcs.is_empty() && !too_many {
            let mut mx = Vec::with_capacity(open.len() * CANDIDATES_PER_DST);
            for &d in &open {
                let two = new(pairs, dsts[d]);
                let mut m = [Score {
                    src: 0,
                    dst: None,
                    score: 0,
                    name_score: 0,
                }; CANDIDATES_PER_DST];
                for &s in &srcs {
                    let one = old(pairs, s);
                    let score = similarity(contents, &one, &two, settings.min_score)?;
                    record_if_better(
                        &mut m,
                        Score {
                            src: s,
                            dst: Some(d),
                            score,
                            name_score: i32::from(basename_same(&one.path, &two.path)),
                        },
                    );
                }
                mx.extend_from_slice(&m);
            }
            mx.sort_by(score_compare);
            for pass_copies in [false, true] {
                if pass_copies && !copies {
                    break;
                }
                for entry in &mx {
                    let Some(d) = entry.dst else { break };
                    if entry.score < settings.min_score {
                        break;
                    }
                    if matched[d].is_some() || (!pass_copies && used[entry.src] > 0) {
                        continue;
                    }
                    matched[d] = Some(entry.src);
                    used[entry.src] += 1;
                }
            }
        }
    }

    // Write back: destinations take their source; used deletions go away; the
    // last destination of a deleted source is its rename, earlier ones copies.
    for (d, &dst) in dsts.iter().enumerate() {
        if let Some(s) = matched[d] {
            pairs[dst].old = pairs[s].old.clone();
        }
    }
    let mut left = used.clone();
    for (d, &dst) in dsts.iter().enumerate() {
        if let Some(s) = matched[d] {
            left[s] -= 1;
            let same_path = pairs[dst].old.as_ref().map(|o| &o.path)
                == pairs[dst].new.as_ref().map(|n| &n.path);
            pairs[dst].copy = if same_path { None } else { Some(left[s] > 0) };
        }
    }
    let mut i = 0;
    pairs.retain(|p| {
        let keep = !(p.new.is_none() && used[i] > 0);
        i += 1;
        keep
    });
    Ok(())
}

/// Git's `find_basename_matches`: a source and a destination whose file name is
/// unique among the remaining sources and among the open destinations.
#[allow(clippy::too_many_arguments)]
fn basename_matches(
    pairs: &[Pair],
    srcs: &[usize],
    dsts: &[usize],
    matched: &mut [Option<usize>],
    used: &mut [u32],
    min_score: u32,
    contents: &mut dyn Contents,
) -> Result<()> {
    use std::collections::HashMap;
    let mut sources: HashMap<&[u8], Option<usize>> = HashMap::new();
    for &s in srcs {
        let base = basename(&pairs[s].old.as_ref().expect("a source").path);
        sources
            .entry(base)
            .and_modify(|e| *e = None)
            .or_insert(Some(s));
    }
    let mut dests: HashMap<&[u8], Option<usize>> = HashMap::new();
    for (d, &dst) in dsts.iter().enumerate() {
        if matched[d].is_some() {
            continue;
        }
        let base = basename(&pairs[dst].new.as_ref().expect("a destination").path);
        dests
            .entry(base)
            .and_modify(|e| *e = None)
            .or_insert(Some(d));
    }
    for &s in srcs {
        let one = pairs[s].old.as_ref().expect("a source");
        let base = basename(&one.path);
        let (Some(Some(src)), Some(Some(d))) = (sources.get(base), dests.get(base)) else {
            continue;
        };
        if matched[*d].is_some() {
            continue;
        }
        let two = pairs[dsts[*d]].new.as_ref().expect("a destination");
        let score = similarity(contents, one, two, min_score)?;
        if score < min_score {
            continue;
        }
        matched[*d] = Some(*src);
        used[*src] += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames_compare_like_git() {
        assert!(basename_same(b"a/b/c.txt", b"x/c.txt"));
        assert!(basename_same(b"c.txt", b"x/c.txt"));
        assert!(!basename_same(b"a/bc.txt", b"x/c.txt"));
        assert!(!basename_same(b"a/c.txt", b"c.txtx"));
        assert_eq!(basename(b"a/b/c"), b"c");
        assert_eq!(basename(b"c"), b"c");
    }

    #[test]
    fn chunks_end_at_newlines_or_64_bytes() {
        let spans = span_hashes(b"a\nb\na\n", true);
        assert_eq!(spans.iter().map(|s| s.1).sum::<u32>(), 6);
        assert_eq!(spans.len(), 2);
        // CR of a CRLF is ignored in text, not in binary.
        assert_eq!(span_hashes(b"a\r\n", true), span_hashes(b"a\n", true));
        assert_ne!(span_hashes(b"a\r\n", false), span_hashes(b"a\n", false));
        let long = vec![b'x'; 130];
        let counts: Vec<u32> = span_hashes(&long, true).iter().map(|s| s.1).collect();
        assert_eq!(counts.iter().sum::<u32>(), 130);
    }
}
