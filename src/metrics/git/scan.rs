//! Reading the commits the cache does not know yet, on both cores when there
//! are many, with a progress bar when it takes a while.

use super::cache::Cached;
use super::graph::Graph;
use super::stats::{CommitStats, Job, Scanner};
use anyhow::{anyhow, Result};
use gix::ObjectId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Below this many commits a second thread costs more than it saves.
const PARALLEL_FROM: usize = 200;
const THREADS: usize = 2;
/// Decoded objects kept per thread: a commit's trees are its child's parent trees.
const OBJECT_CACHE_BYTES: usize = 4 * 1024 * 1024;
/// Delta bases kept per thread (unless `core.deltaBaseCacheLimit` says otherwise):
/// gix's default keeps only 64 entries, which made a cold scan ~2-3x slower.
const PACK_CACHE_BYTES: usize = 48 * 1024 * 1024;
/// A scan shorter than this shows no progress bar.
const PROGRESS_AFTER: Duration = Duration::from_millis(500);

/// The commits of `graph` that the cache has no stats for, newest first.
pub fn missing(graph: &Graph, cached: &Cached) -> Vec<Job> {
    graph
        .nodes
        .iter()
        .filter(|n| !cached.commits.contains_key(&n.id))
        .map(|n| Job {
            id: n.id,
            parent: n.parents.first().map(|&p| graph.nodes[p].id),
            merge: n.parents.len() > 1,
        })
        .collect()
}

/// Read every job; the result holds exactly one entry per job.
pub fn scan(
    repo: &gix::Repository,
    jobs: &[Job],
    progress: bool,
) -> Result<Vec<(ObjectId, CommitStats)>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let done = AtomicUsize::new(0);
    let threads = if jobs.len() >= PARALLEL_FROM {
        THREADS
    } else {
        1
    };
    // Contiguous chunks: neighbouring commits share trees and pack deltas.
    let chunk = jobs.len().div_ceil(threads);
    let sync = repo.clone().into_sync();
    let pack_cache_configured = repo
        .config_snapshot()
        .integer("core.deltaBaseCacheLimit")
        .is_some()
        || std::env::var_os("GIX_PACK_CACHE_MEMORY").is_some();
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let (sync, done) = (&sync, &done);
                s.spawn(move || -> Result<Vec<(ObjectId, CommitStats)>> {
                    let mut repo = sync.to_thread_local();
                    repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
                    if !pack_cache_configured {
                        repo.objects.set_pack_cache(|| {
                            Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
                                PACK_CACHE_BYTES,
                            ))
                        });
                    }
                    let mut scanner = Scanner::new(&repo)?;
                    let mut out = Vec::with_capacity(part.len());
                    for job in part {
                        out.push((job.id, scanner.scan(job)?));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(out)
                })
            })
            .collect();
        watch(&handles, &done, jobs.len(), progress);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a history scan thread panicked"))?
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let out: Vec<_> = results.into_iter().flatten().collect();
    if out.len() != jobs.len() {
        return Err(anyhow!(
            "internal error: scanned {} of {} commits",
            out.len(),
            jobs.len()
        ));
    }
    Ok(out)
}

/// Wait for the threads, drawing a bar on stderr once the scan has taken a moment.
fn watch<T>(
    handles: &[std::thread::ScopedJoinHandle<'_, T>],
    done: &AtomicUsize,
    total: usize,
    progress: bool,
) {
    use std::io::IsTerminal;
    let show = progress && std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if show && bar.is_none() && start.elapsed() >= PROGRESS_AFTER {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} {bar:40} {pos}/{len} commits ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message("Reading history");
            bar = Some(b);
        }
        if let Some(b) = &bar {
            b.set_position(done.load(Ordering::Relaxed) as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}
