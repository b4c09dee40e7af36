//! The store's writer thread: takes each batch of appended records, writes it (one
//! `write` per file, resumed where it stopped after an error), syncs when the batch
//! held publishes (the group commit), advances the written and synced points, deletes
//! settled segments, and checks free disk. It owns the open segment and ack files.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::time::{Duration, Instant};

use super::{DISK_CHECK, Inner, lock, log};

/// The writer thread's side: open files and what it took from the store's `State`.
pub(super) struct Writer {
    inner: Arc<Inner>,
    files: HashMap<u32, File>,
    ack_files: HashMap<u32, File>,
    last_disk_check: Instant,
    /// Bytes of the current batch already written, per file (segment: `false`, ack
    /// file: `true`): a batch retried after an error resumes where it stopped.
    progress: HashMap<(bool, u32), usize>,
    /// A segment was created since the directory was last synced.
    dir_dirty: bool,
}

/// One batch taken from the state.
struct Batch {
    chunks: Vec<(u32, Vec<u8>)>,
    marks: BTreeMap<u32, Vec<u8>>,
    doomed: Vec<u32>,
    sync: bool,
    ticket: u64,
    /// Segment position at the batch's end.
    end: u64,
    sync_asked: bool,
    /// Bytes of chunks and marks (counted in `Inner::pending` until written).
    bytes: u64,
}

impl Writer {
    pub(super) fn new(inner: Arc<Inner>) -> Writer {
        Writer {
            inner,
            files: HashMap::new(),
            ack_files: HashMap::new(),
            last_disk_check: Instant::now(),
            progress: HashMap::new(),
            dir_dirty: false,
        }
    }

    pub(super) fn run(mut self) {
        let mut retry: Option<Batch> = None;
        let mut failures = 0u32;
        loop {
            let batch = match retry.take() {
                Some(b) => b,
                None => match self.take() {
                    Some(b) => b,
                    None => {
                        // Closing: settlements written without a sync are synced too.
                        if self.sync_all().is_err() {
                            self.inner.failing.store(true, Relaxed);
                        }
                        return;
                    }
                },
            };
            match self.write(&batch) {
                Ok(()) => {
                    failures = 0;
                    self.inner.pending.fetch_sub(batch.bytes, Relaxed);
                    self.inner.failing.store(false, Relaxed);
                    if batch.sync_asked {
                        lock(&self.inner.state).sync_asked = false;
                    }
                    self.inner.wake();
                }
                Err(_) => {
                    // ENOSPC, EIO: nothing of this batch is confirmed; publishers are
                    // blocked (disk alarm) and the batch is written again. What was
                    // written of it before the error is rewritten from where it
                    // stopped (`write` keeps count), so the log stays contiguous.
                    self.inner.failing.store(true, Relaxed);
                    self.inner.wake();
                    failures += 1;
                    // A broker closing gives up after 5 s: what was confirmed is on
                    // disk; the rest was never confirmed.
                    if failures > 25 && lock(&self.inner.state).shutdown {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    retry = Some(batch);
                    continue;
                }
            }
            if self.last_disk_check.elapsed() >= DISK_CHECK {
                self.last_disk_check = Instant::now();
                self.inner.check_disk();
            }
        }
    }

    /// Waits for work and takes it; `None` once shut down with nothing left.
    fn take(&mut self) -> Option<Batch> {
        let mut st = lock(&self.inner.state);
        loop {
            let pending = !st.chunks.is_empty()
                || !st.marks.is_empty()
                || !st.doomed.is_empty()
                || st.sync_asked;
            if pending {
                break;
            }
            if st.shutdown {
                return None;
            }
            let (g, _) = self
                .inner
                .work
                .wait_timeout(st, DISK_CHECK)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st = g;
            if self.last_disk_check.elapsed() >= DISK_CHECK {
                self.last_disk_check = Instant::now();
                self.inner.check_disk();
            }
        }
        let bytes = st.chunks.iter().map(|c| c.1.len() as u64).sum::<u64>()
            + st.marks.values().map(|m| m.len() as u64).sum::<u64>();
        let batch = Batch {
            bytes,
            chunks: std::mem::take(&mut st.chunks),
            marks: std::mem::take(&mut st.marks),
            doomed: std::mem::take(&mut st.doomed),
            sync: std::mem::take(&mut st.needs_sync) || st.sync_asked,
            ticket: st.appended,
            end: (u64::from(st.seg) << 32) | st.seg_len,
            sync_asked: st.sync_asked,
        };
        Some(batch)
    }

    fn write(&mut self, b: &Batch) -> io::Result<()> {
        let dir = self.inner.messages.clone();
        let mut touched = Vec::new();
        for (seg, bytes) in &b.chunks {
            let f = match self.files.entry(*seg) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    self.dir_dirty = true;
                    self.inner.segments.fetch_add(1, Relaxed);
                    v.insert(
                        OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(log::segment_path(&dir, *seg))?,
                    )
                }
            };
            write_from(f, bytes, self.progress.entry((false, *seg)).or_default())?;
            self.inner
                .bytes_written
                .fetch_add(bytes.len() as u64, Relaxed);
            if !touched.contains(seg) {
                touched.push(*seg);
            }
        }
        for (seg, bytes) in &b.marks {
            if b.doomed.contains(seg) {
                continue;
            }
            let f = match self.ack_files.entry(*seg) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let mut f = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(log::acks_path(&dir, *seg))?;
                    if f.metadata()?.len() == 0 {
                        f.write_all(log::ACKS_MAGIC)?;
                    }
                    v.insert(f)
                }
            };
            write_from(f, bytes, self.progress.entry((true, *seg)).or_default())?;
            self.inner
                .bytes_written
                .fetch_add(bytes.len() as u64, Relaxed);
        }
        self.inner.written.store(b.end, Release);
        if b.sync {
            lock(&self.inner.defs).sync()?;
            for seg in &touched {
                if let Some(f) = self.files.get(seg) {
                    f.sync_data()?;
                }
            }
            self.sync_dir_if_new_files()?;
            self.inner.syncs.fetch_add(1, Relaxed);
            self.inner.synced.fetch_max(b.ticket, Release);
        }
        if b.sync_asked {
            self.sync_all()?;
        }
        for seg in &b.doomed {
            self.files.remove(seg);
            self.ack_files.remove(seg);
            lock(&self.inner.readers).remove(seg);
            let _ = fs::remove_file(log::segment_path(&dir, *seg));
            let _ = fs::remove_file(log::acks_path(&dir, *seg));
        }
        self.progress.clear();
        Ok(())
    }
}

impl Writer {
    /// Syncs every open segment and ack file and the definitions.
    fn sync_all(&mut self) -> io::Result<()> {
        lock(&self.inner.defs).sync()?;
        for f in self.files.values().chain(self.ack_files.values()) {
            f.sync_data()?;
        }
        self.sync_dir_if_new_files()
    }

    /// Syncs the messages directory once new segment files are in it (their names
    /// must survive a crash too).
    fn sync_dir_if_new_files(&mut self) -> io::Result<()> {
        if self.dir_dirty {
            File::open(&self.inner.messages)?.sync_all()?;
            self.dir_dirty = false;
        }
        Ok(())
    }
}

/// Writes `bytes[*done..]` to `f`, counting what each `write` took in `done`, so
/// that after an error the rest can be written without repeating anything.
fn write_from(f: &mut File, bytes: &[u8], done: &mut usize) -> io::Result<()> {
    while *done < bytes.len() {
        match f.write(&bytes[*done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
