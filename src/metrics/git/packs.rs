//! Trees and blobs read from the repository's pack files by the scan itself,
//! keeping every object a delta chain passes through, as git's delta base
//! cache does.
//!
//! gix's pack cache keeps the objects asked for, never the whole object at
//! the root of a delta chain: a pack stores a file's newest version whole and
//! its older versions as deltas against it, so reading the older versions
//! inflated the newest again for each of them. On git/git's history that was
//! ~5 GB inflated for a cold measure; keeping the bases too halves it.
//!
//! Packs are read with `pread`, not mapped: a mapped pack's pages count in the
//! process's resident memory for as long as it runs, and trees and blobs are
//! most of a pack; what that saves pays for a bigger cache. Objects that are
//! not in a pack (loose ones, or in a pack that appeared after the scan
//! began) are read by gix, past its object cache.

use anyhow::{anyhow, bail, Context, Result};
use gix::odb::pack::data::entry::Header;
use gix::odb::pack::{data, index};
use gix::ObjectId;
use std::cell::RefCell;
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::rc::Rc;

/// The packs of a repository and of its alternates, shared by the scan threads.
#[derive(Default)]
pub struct Packs {
    packs: Vec<Pack>,
    /// Objects `git replace` stands others in for: left to gix, which follows
    /// the replacement as git does.
    replaced: HashSet<ObjectId>,
}

struct Pack {
    index: index::File,
    data: std::fs::File,
    path: PathBuf,
    /// Where the entries end: the pack's length less its trailing checksum.
    end: u64,
}

impl Packs {
    /// The packs of `repo`'s object directory and its alternates. A pack that
    /// cannot be opened is left out: its objects are read through gix, which
    /// reports what is wrong with it.
    pub fn open(repo: &gix::Repository) -> Packs {
        let objects = repo.objects.store_ref().path().to_owned();
        let cwd = std::env::current_dir().unwrap_or_default();
        let alternates = gix::odb::alternate::resolve(objects.clone(), &cwd).unwrap_or_default();
        let hash = repo.object_hash();
        let mut packs = Vec::new();
        for dir in std::iter::once(objects).chain(alternates) {
            let Ok(entries) = std::fs::read_dir(dir.join("pack")) else {
                continue;
            };
            let mut indexes: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "idx"))
                .collect();
            indexes.sort();
            packs.extend(indexes.iter().filter_map(|i| Pack::open(i, hash)));
        }
        let replaced = repo
            .objects
            .store_ref()
            .replacements()
            .map(|(from, _)| from)
            .collect();
        Packs { packs, replaced }
    }

    /// Which pack holds `id`, and where.
    fn locate(&self, id: &gix::oid) -> Option<(u32, u64)> {
        if self.replaced.contains(id) {
            return None;
        }
        self.packs.iter().enumerate().find_map(|(n, pack)| {
            let at = pack.index.lookup(id)?;
            Some((n as u32, pack.index.pack_offset_at_index(at)))
        })
    }
}

impl Pack {
    fn open(idx: &std::path::Path, hash: gix::hash::Kind) -> Option<Pack> {
        let path = idx.with_extension("pack");
        let index = index::File::at(idx, hash).ok()?;
        let data = std::fs::File::open(&path).ok()?;
        let len = data.metadata().ok()?.len();
        let end = len.checked_sub(hash.len_in_bytes() as u64)?;
        Some(Pack {
            index,
            data,
            path,
            end,
        })
    }
}

/// An object as read: its kind and data.
pub type Object = (gix::object::Kind, Rc<Vec<u8>>);

/// What a thread's reads keep: resolved objects by (pack, offset), least
/// recently used first out once they weigh more than the cap.
type Kept = clru::CLruCache<(u32, u64), Object, std::hash::RandomState, ByLength>;

struct ByLength;

impl clru::WeightScale<(u32, u64), Object> for ByLength {
    fn weight(&self, _: &(u32, u64), value: &Object) -> usize {
        value.1.len()
    }
}

/// Bytes read from a pack at once, at least: the entries of a delta chain lie
/// close together, so one read often serves several of them.
const WINDOW: usize = 4 * 1024;
/// Windows kept per thread.
const WINDOWS: usize = 8;
/// The longest entry header: a 64-bit size, then a 64-bit offset or a SHA-256.
const HEADER_BYTES: usize = 10 + 32;

/// Reads objects for one thread.
pub struct PackReader<'p> {
    repo: &'p gix::Repository,
    packs: &'p Packs,
    kept: Kept,
    inflate: gix::zlib::Decompress,
    windows: Windows,
    /// The deltas of the chain being resolved, newest first: (offset, instructions).
    chain: Vec<(u64, Vec<u8>)>,
    /// Instruction buffers to reuse.
    spare: Vec<Vec<u8>>,
}

impl<'p> PackReader<'p> {
    /// `cache_bytes`: how much resolved data to keep for the next reads.
    pub fn new(repo: &'p gix::Repository, packs: &'p Packs, cache_bytes: usize) -> PackReader<'p> {
        let cap = NonZeroUsize::new(cache_bytes.max(1)).unwrap_or(NonZeroUsize::MIN);
        PackReader {
            repo,
            packs,
            kept: Kept::with_config(clru::CLruCacheConfig::new(cap).with_scale(ByLength)),
            inflate: gix::zlib::Decompress::new(),
            windows: Windows::default(),
            chain: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// The object `id`, or `None` when the repository does not have it.
    pub fn read(&mut self, id: &gix::oid) -> Result<Option<Object>> {
        let Some((pack, offset)) = self.packs.locate(id) else {
            return self.read_by_gix(id);
        };
        let path = &self.packs.packs[pack as usize].path;
        self.resolve(pack, offset)
            .with_context(|| format!("reading {id} at offset {offset} of {}", path.display()))
            .map(Some)
    }

    /// An object in no pack of ours, read by gix past the object cache (which
    /// holds the commits).
    fn read_by_gix(&self, id: &gix::oid) -> Result<Option<Object>> {
        let mut buf = Vec::new();
        let store: &gix::odb::store::Handle<_> = &self.repo.objects;
        let found = gix::odb::pack::Find::try_find_cached(
            store,
            id,
            &mut buf,
            &mut gix::odb::pack::cache::Never,
        )
        .map_err(|e| anyhow!("reading {id}: {e}"))?;
        Ok(found.map(|(d, _)| (d.kind, Rc::new(d.data.to_vec()))))
    }

    fn resolve(&mut self, pack: u32, offset: u64) -> Result<Object> {
        for (_, delta) in self.chain.drain(..) {
            self.spare.push(delta);
        }
        // Down the chain to an object kept or stored whole, inflating each delta.
        let mut at = offset;
        let (kind, mut base) = loop {
            if let Some(kept) = self.kept.get(&(pack, at)) {
                break kept.clone();
            }
            let mut out = self.spare.pop().unwrap_or_default();
            let entry = self
                .entry(pack, at, &mut out)
                .with_context(|| match at == offset {
                    true => "its entry".to_string(),
                    false => format!("its delta base at offset {at}"),
                })?;
            match entry {
                Entry::Delta { base } => {
                    if self.chain.len() >= MAX_CHAIN {
                        bail!("a delta chain longer than {MAX_CHAIN}");
                    }
                    self.chain.push((at, out));
                    at = base;
                }
                Entry::Whole(kind) => break self.keep(pack, at, kind, out),
            }
        };
        // Up again, keeping every object made on the way (the next reads of
        // this file's versions start from them).
        while let Some((at, delta)) = self.chain.pop() {
            let mut out = Vec::new();
            apply(&base, &delta, &mut out)?;
            self.spare.push(delta);
            base = self.keep(pack, at, kind, out).1;
        }
        Ok((kind, base))
    }

    fn keep(&mut self, pack: u32, at: u64, kind: gix::object::Kind, data: Vec<u8>) -> Object {
        let object = (kind, Rc::new(data));
        // One big object would push out everything else.
        if object.1.len() <= self.kept.capacity() / 4 {
            let _ = self.kept.put_with_weight((pack, at), object.clone());
        }
        object
    }

    /// Inflates the entry at `at` into `out`: an object, or a delta's instructions.
    fn entry(&mut self, pack: u32, at: u64, out: &mut Vec<u8>) -> Result<Entry> {
        let p = &self.packs.packs[pack as usize];
        let bytes = self
            .windows
            .at(self.packs, pack, at, HEADER_BYTES, WINDOW)?;
        let header = data::Entry::from_bytes(bytes, at, p.index.object_hash())
            .map_err(|e| anyhow!("{e}"))?;
        let entry = match header.header {
            Header::OfsDelta { base_distance } => Entry::Delta {
                base: header
                    .checked_base_pack_offset(base_distance)
                    .ok_or_else(|| anyhow!("a delta whose base lies before the pack"))?,
            },
            Header::RefDelta { base_id } => Entry::Delta {
                base: self.in_same_pack(pack, &base_id)?,
            },
            Header::Blob => Entry::Whole(gix::object::Kind::Blob),
            Header::Tree => Entry::Whole(gix::object::Kind::Tree),
            Header::Commit => Entry::Whole(gix::object::Kind::Commit),
            Header::Tag => Entry::Whole(gix::object::Kind::Tag),
        };
        let size = usize::try_from(header.decompressed_size)?;
        // zlib makes at most ~1032 bytes of one: a bigger size is a lie, and
        // would be a lot of memory to zero before inflating fails.
        let compressed = available(p, header.data_offset)?;
        if size / MAX_INFLATION > compressed {
            bail!("an entry of {size} bytes in the {compressed} bytes left of the pack");
        }
        out.clear();
        out.try_reserve_exact(size)
            .map_err(|_| anyhow!("an entry of {size} bytes does not fit in memory"))?;
        out.resize(size, 0);
        self.inflate_into(pack, header.data_offset, out)?;
        Ok(entry)
    }

    fn in_same_pack(&self, pack: u32, base: &ObjectId) -> Result<u64> {
        let index = &self.packs.packs[pack as usize].index;
        let at = index
            .lookup(base)
            .ok_or_else(|| anyhow!("the delta base {base} is not in the same pack"))?;
        Ok(index.pack_offset_at_index(at))
    }

    /// Inflates the stream starting at `from` until `out` is full.
    fn inflate_into(&mut self, pack: u32, from: u64, out: &mut [u8]) -> Result<()> {
        use gix::zlib::{FlushDecompress, Status};
        self.inflate.reset();
        let mut pos = from;
        loop {
            let (in_before, written) = (self.inflate.total_in(), self.inflate.total_out() as usize);
            // What is left to inflate takes about half as many compressed bytes.
            let guess = (out.len() - written) / 2 + HEADER_BYTES;
            let input = self.windows.at(self.packs, pack, pos, 1, guess)?;
            let status = self
                .inflate
                .decompress(input, &mut out[written..], FlushDecompress::None)
                .map_err(|e| anyhow!("inflating: {e}"))?;
            let consumed = self.inflate.total_in() - in_before;
            pos += consumed;
            let now = self.inflate.total_out() as usize;
            if status == Status::StreamEnd {
                self.windows.forget_big();
                if now != out.len() {
                    bail!("{now} bytes inflated where the entry says {}", out.len());
                }
                return Ok(());
            }
            if consumed == 0 && now == written {
                bail!("a compressed stream longer than its entry says");
            }
        }
    }
}

/// The last bytes read from the packs: (pack, offset, bytes), newest last.
#[derive(Default)]
struct Windows {
    held: Vec<(u32, u64, Vec<u8>)>,
}

impl Windows {
    /// Lets go of the windows read for one big entry.
    fn forget_big(&mut self) {
        self.held.retain(|(_, _, bytes)| bytes.capacity() <= WINDOW);
    }

    /// The bytes of pack `n` from `at` on, at least `min` of them unless the
    /// pack ends sooner, as far as a window goes; a new window holds `want`
    /// bytes, or [`WINDOW`] if that is more.
    fn at(&mut self, packs: &Packs, n: u32, at: u64, min: usize, want: usize) -> Result<&[u8]> {
        let pack = &packs.packs[n as usize];
        let left = available(pack, at)?;
        if left == 0 {
            bail!("the pack ends inside an entry");
        }
        let need = min.min(left) as u64;
        let held = self.held.iter().rposition(|(p, start, bytes)| {
            *p == n && *start <= at && at + need <= start + bytes.len() as u64
        });
        let i = match held {
            Some(i) => i,
            None => {
                let mut bytes = if self.held.len() >= WINDOWS {
                    self.held.remove(0).2
                } else {
                    Vec::with_capacity(WINDOW)
                };
                bytes.resize(want.max(WINDOW).min(left), 0);
                pack.data.read_exact_at(&mut bytes, at)?;
                self.held.push((n, at, bytes));
                self.held.len() - 1
            }
        };
        let (_, start, bytes) = &self.held[i];
        Ok(&bytes[(at - start) as usize..])
    }
}

enum Entry {
    Whole(gix::object::Kind),
    Delta { base: u64 },
}

/// The scan's objects for gix's tree diff, read by a [`PackReader`].
pub struct Objects<'a, 'p>(pub &'a RefCell<PackReader<'p>>);

#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
struct ReadError(anyhow::Error);

impl gix::objs::Find for Objects<'_, '_> {
    fn try_find<'b>(
        &self,
        id: &gix::oid,
        buffer: &'b mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'b>>> {
        let read = self
            .0
            .borrow_mut()
            .read(id)
            .map_err(|e| gix::Error::from_error(ReadError(e)))?;
        Ok(read.map(|(kind, data)| {
            buffer.clear();
            buffer.extend_from_slice(&data);
            gix::objs::Data::new(buffer, kind, id.kind())
        }))
    }
}

/// How many bytes zlib can make of one, at most (deflate's limit is 1032).
const MAX_INFLATION: usize = 1032;
/// How many bytes one byte of delta instructions can make, at most (a copy of
/// 64 KiB takes one command byte).
const MAX_DELTA_GROWTH: usize = 0x10000;

/// Longer chains than git writes (its `--depth` is 50 by default, 4095 at most).
const MAX_CHAIN: usize = 10_000;

/// Bytes of entries from `at` to the pack's end.
fn available(pack: &Pack, at: u64) -> Result<usize> {
    let left = pack
        .end
        .checked_sub(at)
        .ok_or_else(|| anyhow!("an offset past the pack's end"))?;
    Ok(usize::try_from(left).unwrap_or(usize::MAX))
}

/// Applies git's delta `delta` to `base`, into `out`.
fn apply(base: &[u8], delta: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let (base_size, delta) = size(delta)?;
    let (result_size, mut delta) = size(delta)?;
    if base_size != base.len() as u64 {
        bail!(
            "a delta for a base of {base_size} bytes applied to {}",
            base.len()
        );
    }
    let result_size = usize::try_from(result_size)?;
    if result_size / MAX_DELTA_GROWTH > delta.len() {
        bail!(
            "a delta of {} bytes that says it makes {result_size}",
            delta.len()
        );
    }
    out.clear();
    out.try_reserve_exact(result_size)
        .map_err(|_| anyhow!("an object of {result_size} bytes does not fit in memory"))?;
    while let Some((&cmd, rest)) = delta.split_first() {
        delta = rest;
        if cmd & 0x80 != 0 {
            // Copy from the base: which offset and size bytes follow is in the
            // command's low bits, little-endian.
            let mut field = |bits: u8, bytes: usize| -> Result<usize> {
                let mut v = 0usize;
                for i in 0..bytes {
                    if bits & (1 << i) != 0 {
                        let (&b, rest) = delta
                            .split_first()
                            .ok_or_else(|| anyhow!("a truncated delta"))?;
                        delta = rest;
                        v |= usize::from(b) << (8 * i);
                    }
                }
                Ok(v)
            };
            let offset = field(cmd & 0x0f, 4)?;
            let size = match field((cmd >> 4) & 0x07, 3)? {
                0 => 0x10000,
                n => n,
            };
            let copy = offset
                .checked_add(size)
                .and_then(|end| base.get(offset..end))
                .ok_or_else(|| anyhow!("a delta copies past its base's end"))?;
            out.extend_from_slice(copy);
        } else if cmd != 0 {
            let n = usize::from(cmd);
            if n > delta.len() {
                bail!("a truncated delta");
            }
            out.extend_from_slice(&delta[..n]);
            delta = &delta[n..];
        } else {
            bail!("a delta with the reserved command 0");
        }
        if out.len() > result_size {
            bail!("a delta that makes more than the {result_size} bytes it says");
        }
    }
    if out.len() != result_size {
        bail!(
            "a delta that makes {} bytes where it says {result_size}",
            out.len()
        );
    }
    Ok(())
}

/// A delta's size header (7 bits a byte, little-endian) and what follows it.
fn size(delta: &[u8]) -> Result<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in delta.iter().enumerate() {
        if i >= 10 {
            break;
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, &delta[i + 1..]));
        }
    }
    bail!("a delta's size header is truncated")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_copy_and_insert_as_git_writes_them() {
        let base = b"hello, world\n".to_vec();
        // base 13, result 19: copy 7 bytes at 0, insert "there\n", copy "world\n" at 7.
        let delta = [
            13, 19, 0x90, 7, 6, b't', b'h', b'e', b'r', b'e', b' ', 0x91, 7, 6,
        ];
        let mut out = Vec::new();
        apply(&base, &delta, &mut out).unwrap();
        assert_eq!(out, b"hello, there world\n"[..19].to_vec());
    }

    #[test]
    fn broken_deltas_are_errors_not_panics() {
        let base = b"0123456789".to_vec();
        let mut out = Vec::new();
        for delta in [
            &[10u8, 5, 0x91, 8, 5][..],                       // copies past the base
            &[9, 1, 1, b'x'][..],                             // wrong base size
            &[10, 3, 5, b'a'][..],                            // insert longer than the delta
            &[10, 1, 0][..],                                  // reserved command
            &[10, 2, 1, b'a'][..],                            // makes less than it says
            &[10][..],                                        // no result size
            &[10, 1, 0x91][..],                               // copy without its bytes
            &[10, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, b'a'][..], // claims 4 GiB
        ] {
            assert!(apply(&base, delta, &mut out).is_err(), "{delta:?}");
        }
    }
}
