//! The broker's disk store (a data directory): durable definitions and persistent
//! messages of durable queues, as RabbitMQ keeps them.
//!
//! # Layout
//!
//! - `LOCK`: held (`flock`) by the broker that has the directory open; a second one
//!   refuses to start.
//! - `defs.log`: the durable definitions ([`defs`]), an operation log rewritten as a
//!   snapshot at open.
//! - `messages/NNNNNNNNNN.seg`: append-only segments of publish records (one per
//!   message and durable queue), `messages/NNNNNNNNNN.acks` their settlements
//!   ([`log`]). Every record is length-prefixed and CRC-32 checked ([`codec`]).
//!
//! # Writes and syncs (group commit)
//!
//! Queues append records to an in-memory batch under the store's lock, in their own
//! order (each queue appends under its own lock). One writer thread takes the whole
//! batch, writes it (one `write` per file), then, if it held publishes, syncs
//! `defs.log` and the segments it wrote (`fdatasync`) and advances the synced point:
//! every publisher whose record was in the batch shares that one sync, and the
//! publishes that arrive meanwhile form the next batch. A confirm (and `tx.commit-ok`)
//! waits for its [`SyncPoint`]. Settlements (acks, deliveries) are written within a
//! batch but never wait for a sync: after a crash, a message acked just before it may
//! come back, marked redelivered (at-least-once). Definitions are written at once by
//! the caller (a declare that returned survives a crash of the process) and synced
//! with the next batch.
//!
//! # Invariants
//!
//! - A segment's live count is the number of its records whose message is still in a
//!   queue (ready, unacked or in a consumer's buffer). It is deleted only at zero and
//!   never while it is the one being appended to; its ack file after it.
//! - The synced point never passes the end of what was written and synced; a failed
//!   write or sync leaves it where it was (nothing unwritten is confirmed) and the
//!   batch is retried.
//! - Queue ids are never reused ([`defs::Defs::next_qid`]).
//!
//! `codec` is the record encoding, `defs` the definitions log, `log` the message
//! files' layout and recovery, `writer` the writer thread. The store knows nothing of
//! channels, connections or routing: queues call it.

pub(crate) mod codec;
pub(crate) mod defs;
pub(crate) mod log;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use defs::{Defs, DefsLog, Op};
pub(crate) use log::{Loc, Mark, PublishOf};

use super::sync::lock;

/// A new segment is started once the current one holds this many bytes.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// How often free disk space is checked.
const DISK_CHECK: Duration = Duration::from_secs(1);

/// Why a data directory could not be opened.
#[derive(Debug)]
pub enum StoreError {
    /// Another broker (or `trackswitch serve`) has the directory open.
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// Reading or writing the directory failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { dir } => write!(
                f,
                "the data directory {} is in use by another trackswitch broker (its LOCK file is held)",
                dir.display()
            ),
            StoreError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { error, .. } => Some(error),
            StoreError::Locked { .. } => None,
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// What opening a data directory found (see [`Broker::recovery`](super::Broker::recovery)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The data directory.
    pub dir: PathBuf,
    /// Durable queues recovered, all vhosts.
    pub queues: usize,
    /// Persistent messages recovered into them.
    pub messages: u64,
    /// Damaged records or files, one line each, with what was lost; empty when the
    /// store was intact.
    pub damage: Vec<String>,
    /// How long opening took.
    pub took: Duration,
}

/// Counters of a broker's store (see [`Broker::store_info`](super::Broker::store_info)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreInfo {
    /// Syncs (`fdatasync`) of message segments so far.
    pub syncs: u64,
    /// Publish records written (one per persistent message and durable queue).
    pub records: u64,
    /// Bytes written to segments and ack files.
    pub bytes_written: u64,
    /// Segment files on disk.
    pub segments: usize,
    /// Whether publishers should be blocked: free disk below the limit, or a write
    /// failed and is being retried.
    pub disk_alarm: bool,
}

/// A point in the message log: synced once every record appended before it is on
/// stable storage. A [`Future`] (no runtime needed) and a blocking [`wait`](Self::wait).
#[derive(Clone)]
pub struct SyncPoint {
    inner: Arc<Inner>,
    ticket: u64,
}

impl fmt::Debug for SyncPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncPoint")
            .field("ticket", &self.ticket)
            .field("synced", &self.is_synced())
            .finish()
    }
}

/// Two points are equal when they are the same point of the same store.
impl PartialEq for SyncPoint {
    fn eq(&self, other: &SyncPoint) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.ticket == other.ticket
    }
}

impl Eq for SyncPoint {}

impl SyncPoint {
    /// Whether it is on stable storage.
    pub fn is_synced(&self) -> bool {
        self.inner.synced.load(Acquire) >= self.ticket
    }

    /// Blocks until it is on stable storage.
    pub fn wait(&self) {
        let mut g = lock(&self.inner.state);
        while !self.is_synced() {
            g = self
                .inner
                .progress
                .wait(g)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// The later of two points.
    pub(crate) fn max(self, other: SyncPoint) -> SyncPoint {
        if other.ticket > self.ticket {
            other
        } else {
            self
        }
    }
}

impl Future for SyncPoint {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_synced() {
            return Poll::Ready(());
        }
        lock(&self.inner.wakers).push(cx.waker().clone());
        if self.is_synced() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// The append side: what the writer has not taken yet, and the segments' counts.
#[derive(Debug, Default)]
struct State {
    /// The segment being appended to, and its length with what is pending.
    seg: u32,
    seg_len: u64,
    /// Bytes ever appended to segments: a publish's ticket is this after it.
    appended: u64,
    /// Pending segment bytes, by segment, in order.
    chunks: Vec<(u32, Vec<u8>)>,
    /// Pending ack-file records, by segment.
    marks: BTreeMap<u32, Vec<u8>>,
    /// Publishes are pending: the batch needs a sync.
    needs_sync: bool,
    /// Live messages per segment (see the invariants).
    live: BTreeMap<u32, u64>,
    /// Segments to delete (settled, not current).
    doomed: Vec<u32>,
    /// The writer is to stop once everything is written and synced.
    shutdown: bool,
    /// A sync was asked for (`Store::sync`), with or without publishes.
    sync_asked: bool,
}

struct Inner {
    dir: PathBuf,
    messages: PathBuf,
    state: Mutex<State>,
    /// Wakes the writer.
    work: Condvar,
    /// Signalled after every batch written (and synced).
    progress: Condvar,
    synced: AtomicU64,
    /// Segment position written so far: `seg << 32 | end offset`.
    written: AtomicU64,
    wakers: Mutex<Vec<Waker>>,
    defs: Mutex<DefsLog>,
    /// Recording is off while the broker is rebuilt from the store.
    quiet: AtomicBool,
    /// Read handles of segments, for page-in.
    readers: Mutex<HashMap<u32, Arc<File>>>,
    disk_free_limit: u64,
    /// Free disk under the limit.
    low_disk: AtomicBool,
    /// The last write or sync failed (being retried).
    failing: AtomicBool,
    syncs: AtomicU64,
    /// Bytes appended and not yet written (they count as broker memory).
    pending: AtomicU64,
    records: AtomicU64,
    bytes_written: AtomicU64,
    segments: AtomicU64,
    /// Held while the directory is open; [`Store::close`] releases it (the lock goes
    /// with the file).
    lock_file: Mutex<Option<File>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// An open data directory (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// What [`Store::open`] hands the broker to rebuild itself from.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) store: Store,
    pub(crate) defs: Defs,
    pub(crate) messages: HashMap<u64, Vec<log::Found>>,
    pub(crate) damage: Vec<String>,
    /// Nothing was there before (a new directory).
    pub(crate) fresh: bool,
    /// The last broker on the directory closed it (no crash).
    pub(crate) clean: bool,
}

impl Store {
    /// Opens (or creates) a data directory: takes its lock, reads the definitions and
    /// the live messages, deletes settled segments, starts a new segment and the
    /// writer thread.
    pub(crate) fn open(dir: &Path, disk_free_limit: u64) -> Result<Opened, StoreError> {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        match rustix::fs::flock(
            &lock_file,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        ) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(io_at(&lock_path)(e.into())),
        }
        let messages = dir.join("messages");
        fs::create_dir_all(&messages).map_err(io_at(&messages))?;
        // Written by `close` once everything is synced; gone while the directory is
        // open, so a crash leaves none.
        let clean_path = dir.join("CLEAN");
        let clean = clean_path.exists();
        if clean {
            fs::remove_file(&clean_path).map_err(io_at(&clean_path))?;
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_at(dir))?;
        }
        let defs_path = dir.join("defs.log");
        let mut defs = Defs::default();
        let mut damage = Vec::new();
        let fresh = match fs::read(&defs_path) {
            Ok(bytes) => {
                let d = defs::replay(&bytes, &mut defs);
                if d.bad_header {
                    damage.push(format!(
                        "defs.log: no valid header ({} bytes); every definition in it was lost",
                        bytes.len()
                    ));
                } else if d.dropped_bytes > 0 {
                    damage.push(format!(
                        "defs.log: the last {} bytes were torn or unreadable and were dropped",
                        d.dropped_bytes
                    ));
                }
                if d.skipped > 0 {
                    damage.push(format!(
                        "defs.log: {} corrupt record(s) skipped (definitions changes lost)",
                        d.skipped
                    ));
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(io_at(&defs_path)(e)),
        };
        let live_qids: std::collections::HashSet<u64> = defs
            .vhosts
            .values()
            .flat_map(|v| v.queues.values().map(|q| q.qid))
            .collect();
        let scan = log::scan(&messages, |q| live_qids.contains(&q)).map_err(io_at(&messages))?;
        damage.extend(scan.damage);
        let mut live: BTreeMap<u32, u64> = BTreeMap::new();
        for f in scan.queues.values().flatten() {
            *live.entry(f.loc.seg).or_default() += 1;
        }
        // Settled segments go now.
        for &seg in &scan.segments {
            if !live.contains_key(&seg) {
                let p = log::segment_path(&messages, seg);
                fs::remove_file(&p).map_err(io_at(&p))?;
                let _ = fs::remove_file(log::acks_path(&messages, seg));
            }
        }
        let seg = scan.segments.last().map_or(1, |s| s + 1);
        let defs_log = DefsLog::create(dir, defs.clone()).map_err(io_at(&defs_path))?;
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            messages,
            state: Mutex::new(State {
                seg,
                seg_len: 0,
                live,
                ..State::default()
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            synced: AtomicU64::new(0),
            written: AtomicU64::new(u64::from(seg) << 32),
            wakers: Mutex::new(Vec::new()),
            defs: Mutex::new(defs_log),
            quiet: AtomicBool::new(false),
            readers: Mutex::new(HashMap::new()),
            disk_free_limit,
            low_disk: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            lock_file: Mutex::new(Some(lock_file)),
        });
        inner.check_disk();
        let worker = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("trackswitch-store".into())
            .spawn(move || writer::Writer::new(worker).run())
            .map_err(io_at(dir))?;
        Ok(Opened {
            store: Store {
                inner,
                writer: Arc::new(Mutex::new(Some(handle))),
            },
            defs,
            messages: scan.queues,
            damage,
            fresh,
            clean,
        })
    }

    /// Turns recording of definitions off (while the broker is rebuilt) or on.
    pub(crate) fn set_quiet(&self, quiet: bool) {
        self.inner.quiet.store(quiet, Relaxed);
    }

    /// Records a change of the durable definitions: written now, synced with the next
    /// batch.
    pub(crate) fn record(&self, op: Op) -> io::Result<()> {
        if self.inner.quiet.load(Relaxed) {
            return Ok(());
        }
        lock(&self.inner.defs).record(op)
    }

    /// The durable definitions as recorded.
    pub(crate) fn with_defs<R>(&self, f: impl FnOnce(&Defs) -> R) -> R {
        f(&lock(&self.inner.defs).defs)
    }

    /// A fresh queue id.
    pub(crate) fn new_qid(&self) -> u64 {
        let mut d = lock(&self.inner.defs);
        let id = d.defs.next_qid.max(1);
        d.defs.next_qid = id + 1;
        id
    }

    /// Appends a publish record; returns where it is and the point to sync for it.
    pub(crate) fn publish(&self, p: &PublishOf<'_>) -> (Loc, SyncPoint) {
        let mut st = lock(&self.inner.state);
        if st.seg_len >= SEGMENT_BYTES {
            let old = st.seg;
            st.seg += 1;
            st.seg_len = 0;
            if st.live.get(&old).copied().unwrap_or(0) == 0 {
                st.live.remove(&old);
                st.doomed.push(old);
            }
        }
        let seg = st.seg;
        if st.seg_len == 0 {
            st.chunks.push((seg, log::SEGMENT_MAGIC.to_vec()));
            st.seg_len = log::SEGMENT_MAGIC.len() as u64;
            self.inner
                .pending
                .fetch_add(log::SEGMENT_MAGIC.len() as u64, Relaxed);
        } else if st.chunks.last().is_none_or(|(s, _)| *s != seg) {
            st.chunks.push((seg, Vec::new()));
        }
        let off = st.seg_len as u32;
        let chunk = &mut st.chunks.last_mut().expect("pushed").1;
        let before = chunk.len();
        let n = log::encode_publish(chunk, p) as u64;
        let added = (chunk.len() - before) as u64;
        self.inner.pending.fetch_add(added, Relaxed);
        st.seg_len += n;
        st.appended += n;
        *st.live.entry(seg).or_default() += 1;
        self.inner.records.fetch_add(1, Relaxed);
        let was_idle = !st.needs_sync && st.marks.is_empty();
        st.needs_sync = true;
        let ticket = st.appended;
        drop(st);
        if was_idle {
            self.inner.work.notify_one();
        }
        (
            Loc { seg, off },
            SyncPoint {
                inner: Arc::clone(&self.inner),
                ticket,
            },
        )
    }

    /// Appends a settlement of the message at `loc`; an `Acked` one also takes it
    /// off its segment's live count.
    pub(crate) fn mark(&self, loc: Loc, mark: Mark) {
        let mut st = lock(&self.inner.state);
        if mark == Mark::Acked && st.release(loc.seg, &self.inner.pending) {
            // The segment goes: its marks need not be written.
            self.notify_locked(st);
            return;
        }
        let was_idle = !st.needs_sync && st.marks.is_empty();
        let buf = st.marks.entry(loc.seg).or_default();
        let before = buf.len();
        log::encode_mark(buf, loc.off, mark);
        let added = (buf.len() - before) as u64;
        self.inner.pending.fetch_add(added, Relaxed);
        drop(st);
        if was_idle {
            self.inner.work.notify_one();
        }
    }

    /// Takes a message off its segment's live count without writing anything (its
    /// queue was deleted: the definitions say its messages are gone).
    pub(crate) fn forget(&self, loc: Loc) {
        let mut st = lock(&self.inner.state);
        if st.release(loc.seg, &self.inner.pending) {
            self.notify_locked(st);
        }
    }

    fn notify_locked(&self, st: std::sync::MutexGuard<'_, State>) {
        drop(st);
        self.inner.work.notify_one();
    }

    /// Reads a paged-out body back (waiting for its record to be written first).
    pub(crate) fn read_body(&self, loc: Loc) -> io::Result<bytes::Bytes> {
        let pos = (u64::from(loc.seg) << 32) | u64::from(loc.off);
        {
            let mut g = lock(&self.inner.state);
            while self.inner.written.load(Acquire) <= pos {
                if self.inner.failing.load(Relaxed) {
                    return Err(io::Error::other("the store's writes are failing"));
                }
                g = self.inner.wait_progress(g);
            }
        }
        let file = {
            let mut r = lock(&self.inner.readers);
            match r.get(&loc.seg) {
                Some(f) => Arc::clone(f),
                None => {
                    let f = Arc::new(File::open(log::segment_path(
                        &self.inner.messages,
                        loc.seg,
                    ))?);
                    r.insert(loc.seg, Arc::clone(&f));
                    f
                }
            }
        };
        log::read_body(&file, loc.off)
    }

    /// Writes and syncs everything appended so far; blocks until done.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let ticket = {
            let mut st = lock(&self.inner.state);
            st.sync_asked = true;
            st.appended
        };
        self.inner.work.notify_one();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut g = lock(&self.inner.state);
        while g.sync_asked || self.inner.synced.load(Acquire) < ticket {
            if Instant::now() > deadline {
                return Err(io::Error::other("the store did not sync within 30 s"));
            }
            g = self.inner.wait_progress(g);
        }
        Ok(())
    }

    /// Whether publishers should be blocked (see [`StoreInfo::disk_alarm`]).
    /// Bytes appended and not yet written to the directory.
    pub(crate) fn pending_bytes(&self) -> u64 {
        self.inner.pending.load(Relaxed)
    }

    pub(crate) fn disk_alarm(&self) -> bool {
        self.inner.low_disk.load(Relaxed) || self.inner.failing.load(Relaxed)
    }

    pub(crate) fn info(&self) -> StoreInfo {
        StoreInfo {
            syncs: self.inner.syncs.load(Relaxed),
            records: self.inner.records.load(Relaxed),
            bytes_written: self.inner.bytes_written.load(Relaxed),
            segments: lock(&self.inner.state).live.len(),
            disk_alarm: self.disk_alarm(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Stops the writer once everything is written and synced (the broker closes).
    pub(crate) fn close(&self) {
        lock(&self.inner.state).shutdown = true;
        self.inner.work.notify_one();
        if let Some(h) = lock(&self.writer).take() {
            let _ = h.join();
            // Everything is written and synced (the writer stops only then), unless
            // its writes were failing: then the next open treats it as a crash.
            if !self.inner.failing.load(Relaxed) {
                let clean = self.inner.dir.join("CLEAN");
                if File::create(&clean).and_then(|f| f.sync_all()).is_ok() {
                    let _ = File::open(&self.inner.dir).and_then(|d| d.sync_all());
                }
            }
        }
        lock(&self.inner.lock_file).take();
    }
}

impl State {
    /// One message of `seg` is settled; returns whether the segment is now doomed
    /// (its pending marks are dropped: `pending` loses their bytes).
    fn release(&mut self, seg: u32, pending: &AtomicU64) -> bool {
        let Some(n) = self.live.get_mut(&seg) else {
            return false;
        };
        *n = n.saturating_sub(1);
        if *n == 0 && seg != self.seg {
            self.live.remove(&seg);
            if let Some(m) = self.marks.remove(&seg) {
                pending.fetch_sub(m.len() as u64, Relaxed);
            }
            self.doomed.push(seg);
            return true;
        }
        false
    }
}

impl Inner {
    /// Waits for the writer's next batch (100 ms at most: callers re-check).
    fn wait_progress<'a>(
        &self,
        g: std::sync::MutexGuard<'a, State>,
    ) -> std::sync::MutexGuard<'a, State> {
        self.progress
            .wait_timeout(g, Duration::from_millis(100))
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }

    fn check_disk(&self) {
        if self.disk_free_limit == 0 {
            self.low_disk.store(false, Relaxed);
            return;
        }
        if let Ok(s) = rustix::fs::statvfs(&self.dir) {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            self.low_disk.store(free < self.disk_free_limit, Relaxed);
        }
    }

    fn wake(&self) {
        self.progress.notify_all();
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for w in wakers {
            w.wake();
        }
    }
}
