//! Time: the broker's clock (the system's, or a [`ManualClock`] for tests) and the
//! timer that expires messages and queues without anyone polling.
//!
//! The timer is a min-heap of (deadline, task). With the system clock a reaper thread
//! sleeps on a condition variable until the earliest deadline (forever when the heap
//! is empty, so an idle broker uses no CPU); with a manual clock,
//! [`ManualClock::advance`] runs every task that fell due, on the caller's thread,
//! before it returns, so tests are exact and instant.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::queue::QueueCell;
use super::sync::lock;

/// A clock that only moves when told to, for tests of TTLs and expiry.
///
/// Give it to [`BrokerBuilder::clock`](super::BrokerBuilder::clock); then
/// [`advance`](Self::advance) moves time and runs every expiry that fell due before it
/// returns.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackswitch::FieldTable;
/// use trackswitch::broker::{Broker, ManualClock, Message, PublishOptions, QueueDeclare};
///
/// let clock = ManualClock::new();
/// let broker = Broker::builder().clock(clock.clone()).build();
/// let conn = broker.connect_default();
/// let ch = conn.open_channel().unwrap();
/// let mut args = FieldTable::new();
/// args.insert("x-message-ttl", 1000);
/// ch.queue_declare("q", &QueueDeclare { arguments: args, ..QueueDeclare::default() }).unwrap();
/// ch.publish("", "q", Message::new("m"), PublishOptions::default()).unwrap();
/// clock.advance(Duration::from_millis(999));
/// assert_eq!(ch.queue_declare("q", &QueueDeclare::passive()).unwrap().message_count, 1);
/// clock.advance(Duration::from_millis(1));
/// assert_eq!(ch.queue_declare("q", &QueueDeclare::passive()).unwrap().message_count, 0);
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    /// Milliseconds since the clock was made.
    now: Mutex<u64>,
    /// Wall-clock time (ms since the Unix epoch) at `now == 0`, for `x-death` times.
    wall_base: u64,
    /// The timers of the brokers that use this clock.
    timers: Mutex<Vec<Weak<Timer>>>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now_ms", &self.now_ms())
            .finish()
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock at time zero (wall time: now).
    pub fn new() -> ManualClock {
        ManualClock {
            inner: Arc::new(ManualInner {
                now: Mutex::new(0),
                wall_base: wall_ms(),
                timers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Time since the clock was made.
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }

    fn now_ms(&self) -> u64 {
        *lock(&self.inner.now)
    }

    /// Moves time forward and, before returning, runs every expiry (message TTL,
    /// queue expiry) that fell due, in deadline order.
    pub fn advance(&self, by: Duration) {
        let target = {
            let mut now = lock(&self.inner.now);
            *now = now.saturating_add(by.as_millis().min(u128::from(u64::MAX)) as u64);
            *now
        };
        let timers: Vec<Arc<Timer>> = {
            let mut list = lock(&self.inner.timers);
            list.retain(|t| t.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for t in timers {
            t.run_due(target);
        }
    }

    fn register(&self, timer: &Arc<Timer>) {
        lock(&self.inner.timers).push(Arc::downgrade(timer));
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where a broker's time comes from.
#[derive(Clone)]
pub(crate) enum ClockSource {
    System { start: Instant, wall_base: u64 },
    Manual(ManualClock),
}

impl fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockSource::System { .. } => f.write_str("System"),
            ClockSource::Manual(m) => m.fmt(f),
        }
    }
}

impl ClockSource {
    pub(crate) fn system() -> ClockSource {
        ClockSource::System {
            start: Instant::now(),
            wall_base: wall_ms(),
        }
    }

    /// Milliseconds since the broker's epoch (monotonic).
    pub(crate) fn now(&self) -> u64 {
        match self {
            ClockSource::System { start, .. } => start.elapsed().as_millis() as u64,
            ClockSource::Manual(m) => m.now_ms(),
        }
    }

    /// Wall-clock ms at the broker's epoch: broker time + this = ms since the Unix
    /// epoch (the store keeps TTL deadlines as absolute times).
    pub(crate) fn wall_base(&self) -> u64 {
        match self {
            ClockSource::System { wall_base, .. } => *wall_base,
            ClockSource::Manual(m) => m.inner.wall_base,
        }
    }

    /// Wall-clock seconds since the Unix epoch (for `x-death` times).
    pub(crate) fn wall_seconds(&self) -> u64 {
        let base = match self {
            ClockSource::System { wall_base, .. } => *wall_base,
            ClockSource::Manual(m) => m.inner.wall_base,
        };
        (base + self.now()) / 1000
    }
}

/// Something the timer does at a deadline.
#[derive(Debug, Clone)]
pub(crate) enum Task {
    /// Expire messages at the head of a queue whose deadline passed.
    Head(Weak<QueueCell>),
    /// Delete a queue if it stayed unused for its `x-expires`.
    Expires(Weak<QueueCell>),
}

impl Task {
    fn run(self, now: u64) {
        match self {
            Task::Head(q) => {
                if let Some(q) = q.upgrade() {
                    q.expire_head(now);
                }
            }
            Task::Expires(q) => {
                if let Some(q) = q.upgrade() {
                    q.check_expiry(now);
                }
            }
        }
    }
}

struct Entry {
    at: u64,
    seq: u64,
    task: Task,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct TimerState {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// The reaper thread exists (system clock only).
    reaper: bool,
    shutdown: bool,
}

/// The broker's timer.
pub(crate) struct Timer {
    clock: ClockSource,
    state: Mutex<TimerState>,
    wake: Condvar,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("Timer")
            .field("clock", &self.clock)
            .field("pending", &s.heap.len())
            .finish()
    }
}

impl Timer {
    pub(crate) fn new(clock: ClockSource) -> Arc<Timer> {
        let t = Arc::new(Timer {
            clock: clock.clone(),
            state: Mutex::new(TimerState::default()),
            wake: Condvar::new(),
        });
        if let ClockSource::Manual(m) = &clock {
            m.register(&t);
        }
        t
    }

    pub(crate) fn clock(&self) -> &ClockSource {
        &self.clock
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Runs `task` at `at` (ms on the broker's clock), or as soon as possible if that
    /// has passed.
    pub(crate) fn schedule(self: &Arc<Self>, at: u64, task: Task) {
        let mut s = lock(&self.state);
        if s.shutdown {
            return;
        }
        s.seq += 1;
        let seq = s.seq;
        let earliest = s.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        s.heap.push(Reverse(Entry { at, seq, task }));
        match self.clock {
            ClockSource::Manual(_) => {
                // Due already (a TTL of 0): run it now, as the reaper would.
                if at <= self.clock.now() {
                    drop(s);
                    self.run_due(self.clock.now());
                }
            }
            ClockSource::System { .. } => {
                if !s.reaper {
                    s.reaper = true;
                    let weak = Arc::downgrade(self);
                    let spawned = std::thread::Builder::new()
                        .name("trackswitch-timer".into())
                        .spawn(move || reaper(weak));
                    if spawned.is_err() {
                        // No thread: expiry then happens on the next operation that
                        // touches the queue (dispatch skips expired messages).
                        s.reaper = false;
                    }
                } else if earliest {
                    self.wake.notify_one();
                }
            }
        }
    }

    /// Runs every task due at `now`, in deadline order (manual clock).
    fn run_due(&self, now: u64) {
        loop {
            let task = {
                let mut s = lock(&self.state);
                match s.heap.peek() {
                    Some(Reverse(e)) if e.at <= now => s.heap.pop().map(|Reverse(e)| e.task),
                    _ => None,
                }
            };
            match task {
                Some(t) => t.run(now),
                None => break,
            }
        }
    }

    /// Stops the reaper thread (the broker is gone).
    pub(crate) fn shutdown(&self) {
        let mut s = lock(&self.state);
        s.shutdown = true;
        s.heap.clear();
        self.wake.notify_all();
    }
}

/// The reaper thread: sleeps until the earliest deadline, runs what is due.
fn reaper(timer: Weak<Timer>) {
    loop {
        let Some(t) = timer.upgrade() else { return };
        let task = {
            let mut s = lock(&t.state);
            loop {
                if s.shutdown {
                    return;
                }
                let now = t.clock.now();
                match s.heap.peek() {
                    Some(Reverse(e)) if e.at <= now => {
                        break s.heap.pop().map(|Reverse(e)| (e.task, now));
                    }
                    Some(Reverse(e)) => {
                        let wait = Duration::from_millis(e.at - now);
                        s = t
                            .wake
                            .wait_timeout(s, wait)
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .0;
                    }
                    None => {
                        s = t
                            .wake
                            .wait(s)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                }
            }
        };
        drop(t);
        if let Some((task, now)) = task {
            task.run(now);
        }
    }
}
