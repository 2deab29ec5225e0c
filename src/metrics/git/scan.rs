//! Reading the commits the cache does not know yet, on both cores when there
//! are many, with a progress bar when it takes a while.

use super::cache::{Cached, LineState};
use super::graph::Graph;
use super::packs::Packs;
use super::stats::{CommitStats, DiffConfig, ScanJob, Scanner};
use anyhow::{anyhow, Result};
use gix::ObjectId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Below this many commits a second thread costs more than it saves.
const PARALLEL_FROM: usize = 16;
const THREADS: usize = 2;
/// Commits kept per thread by gix (which reads the commits): a commit's first
/// parent is often the next job.
const OBJECT_CACHE_BYTES: usize = 1024 * 1024;
/// Trees and blobs kept per thread by the scan's own pack reader, unless
/// `core.deltaBaseCacheLimit` says otherwise. On git/git a cold measure takes
/// ~28 s of CPU with 12 MiB, ~25 s with 32 and ~23 s with 64; 32 keeps the
/// peak heap near 180 MiB (the packs themselves are not mapped, see `packs`).
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Commits a thread takes at a time: contiguous runs keep the neighbouring
/// commits' trees and deltas in its caches; several runs per thread let a
/// thread that finishes early take work from the rest (the two halves of a
/// history are rarely equally heavy).
const RUNS_PER_THREAD: usize = 8;
const SMALLEST_RUN: usize = 256;
/// Results a thread hands over at once.
const SEND_EVERY: usize = 64;
/// A scan shorter than this shows no progress bar.
const PROGRESS_AFTER: Duration = Duration::from_millis(500);

/// How to read commits.
pub struct Settings {
    pub config: DiffConfig,
    /// Diff blobs for line counts (else only authors are read).
    pub lines: bool,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

/// The commits of `graph` that the cache has no stats for (or no line stats,
/// when `lines`), newest first.
pub fn missing(graph: &Graph, cached: &Cached, lines: bool) -> Vec<ScanJob> {
    graph
        .nodes
        .iter()
        .filter(|n| {
            !n.external
                && match cached.commits.get(&n.id) {
                    None => true,
                    Some(c) => lines && c.lines != LineState::Known,
                }
        })
        .map(|n| ScanJob {
            id: n.id,
            parent: n.parents.first().map(|&p| graph.nodes[p].id),
            merge: n.parents.len() > 1,
        })
        .collect()
}

/// Read every job, handing each result to `sink` on this thread (the threads
/// stream them through a bounded channel, so memory stays flat however long the
/// history); `sink` sees exactly one result per job.
pub fn scan(
    repo: &gix::Repository,
    jobs: &[ScanJob],
    settings: &Settings,
    sink: &mut dyn FnMut(ObjectId, CommitStats) -> Result<()>,
) -> Result<()> {
    scan_during(repo, jobs, settings, sink, &mut || Ok(()))
}

/// [`scan`], running `during` on this thread while the scan threads start reading
/// (the results are handed to `sink` after it returns).
pub fn scan_during(
    repo: &gix::Repository,
    jobs: &[ScanJob],
    settings: &Settings,
    sink: &mut dyn FnMut(ObjectId, CommitStats) -> Result<()>,
    during: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let progress = settings.progress;
    if jobs.is_empty() {
        return during();
    }
    let threads = if jobs.len() >= PARALLEL_FROM {
        THREADS
    } else {
        1
    };
    // Short scans (a warm measure's new commits) still give each thread a few runs.
    let run = (jobs.len() / (threads * RUNS_PER_THREAD))
        .max(SMALLEST_RUN)
        .min(jobs.len().div_ceil(threads * 4));
    let runs: Vec<&[ScanJob]> = jobs.chunks(run).collect();
    let next_run = std::sync::atomic::AtomicUsize::new(0);
    let sync = repo.clone().into_sync();
    let configured_limit = repo
        .config_snapshot()
        .integer("core.deltaBaseCacheLimit")
        .filter(|n| *n >= 0);
    let cache_bytes = configured_limit.map_or(CACHE_BYTES, |n| n as usize);
    // Without line counts no tree or blob is read.
    let packs = match settings.lines {
        true => Packs::open(repo),
        false => Packs::default(),
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(ObjectId, CommitStats)>>(64);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (sync, tx, stop, packs) = (&sync, tx.clone(), &stop, &packs);
                let (runs, next_run) = (&runs, &next_run);
                s.spawn(move || -> Result<()> {
                    let mut repo = sync.to_thread_local();
                    repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
                    let mut scanner = Scanner::new(
                        &repo,
                        packs,
                        settings.config.clone(),
                        settings.lines,
                        cache_bytes,
                    )?;
                    while let Some(part) = runs.get(next_run.fetch_add(1, Ordering::Relaxed)) {
                        for group in part.chunks(SEND_EVERY) {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            let mut out = Vec::with_capacity(group.len());
                            for job in group {
                                out.push((job.id, scanner.scan(job)?));
                            }
                            if tx.send(out).is_err() {
                                return Ok(());
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        drop(tx);
        let received = during().and_then(|()| receive(&rx, jobs.len(), progress, sink));
        if received.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(rx);
        for h in handles {
            h.join()
                .map_err(|_| anyhow!("a history scan thread panicked"))??;
        }
        let received = received?;
        if received != jobs.len() {
            return Err(anyhow!(
                "internal error: scanned {received} of {} commits",
                jobs.len()
            ));
        }
        Ok(())
    })
}

/// Hand the results to `sink` as they come, drawing a bar on stderr once the scan
/// has taken a moment. Returns how many results arrived.
fn receive(
    rx: &std::sync::mpsc::Receiver<Vec<(ObjectId, CommitStats)>>,
    total: usize,
    progress: bool,
    sink: &mut dyn FnMut(ObjectId, CommitStats) -> Result<()>,
) -> Result<usize> {
    use std::io::IsTerminal;
    let show = progress && std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut done = 0;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(batch) => {
                done += batch.len();
                for (id, stats) in batch {
                    sink(id, stats)?;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
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
            b.set_position(done as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(done)
}
