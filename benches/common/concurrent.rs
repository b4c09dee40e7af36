//! Routing from reader threads while a writer churns (W7 keys and bindings):
//! `SharedRoutingTable` beside a `RwLock<RoutingTable>`, the same work for both. Used by
//! the criterion bench `table/concurrent_route` and by the report.

use std::hint::black_box;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use trackswitch::{Destination, FieldTable, RouteResult, RoutingTable, SharedRoutingTable};

use super::OursTable;
use super::workloads::{self, KeyArena, Workload};

/// `threads` readers route `iters` keys each while `write(i)` is called for the `i`th
/// change of the run, one for every ten routes done; the time until every reader is done.
pub fn contended(
    threads: usize,
    iters: u64,
    keys: &KeyArena,
    route: &(dyn Fn(&[u8], &mut RouteResult) + Sync),
    write: &(dyn Fn(u64) + Sync),
) -> Duration {
    let routed = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut writes = 0u64;
            while !done.load(Ordering::Relaxed) {
                if routed.load(Ordering::Relaxed) / 10 > writes {
                    write(writes);
                    writes += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        let readers: Vec<_> = (0..threads)
            .map(|t| {
                let routed = &routed;
                s.spawn(move || {
                    let mut out = RouteResult::new();
                    for i in 0..iters {
                        let k = keys.get((i as usize * 7 + t * 131) % keys.len());
                        route(black_box(k), &mut out);
                        black_box(out.len());
                        if i % 64 == 63 {
                            routed.fetch_add(64, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for r in readers {
            r.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    start.elapsed()
}

/// The W7 table at `n` bindings twice: shared and behind a lock.
pub struct Contenders {
    w: Workload,
    names: Vec<String>,
    pub shared: SharedRoutingTable,
    pub locked: RwLock<RoutingTable>,
    /// The next write of each table, across runs: a run may stop between an unbind and
    /// its rebind, and the next one must go on from there.
    shared_writes: AtomicU64,
    locked_writes: AtomicU64,
}

impl Contenders {
    pub fn new(n: usize) -> Contenders {
        let w = workloads::w7(n, 7);
        let names = w.bindings.iter().map(|(_, id)| format!("q{id}")).collect();
        let base = OursTable::build(&w).table;
        Contenders {
            w,
            names,
            shared: SharedRoutingTable::new(base.clone()),
            locked: RwLock::new(base),
            shared_writes: AtomicU64::new(0),
            locked_writes: AtomicU64::new(0),
        }
    }

    /// The binding the `i`th write changes: writes 2k and 2k+1 unbind and rebind one.
    fn target(&self, i: u64) -> (String, String, bool) {
        let b = (i / 2).wrapping_mul(2_654_435_761) as usize % self.w.bindings.len();
        (
            self.w.bindings[b].0.clone(),
            self.names[b].clone(),
            i % 2 == 0,
        )
    }

    /// Readers route through the shared table while its writer makes one change per
    /// update.
    pub fn run_shared(&self, threads: usize, iters: u64) -> Duration {
        contended(
            threads,
            iters,
            &self.w.keys,
            &|k, out| self.shared.route_into("x", k, None, out).unwrap(),
            &|_| {
                let i = self.shared_writes.fetch_add(1, Ordering::Relaxed);
                let (key, q, unbind) = self.target(i);
                self.shared.update(move |t| change(t, &key, &q, unbind));
            },
        )
    }

    /// The same through the `RwLock`: a read lock per route, the write lock per change.
    pub fn run_locked(&self, threads: usize, iters: u64) -> Duration {
        contended(
            threads,
            iters,
            &self.w.keys,
            &|k, out| {
                let t = self.locked.read().unwrap();
                t.route_into("x", k, None, out).unwrap()
            },
            &|_| {
                let i = self.locked_writes.fetch_add(1, Ordering::Relaxed);
                let (key, q, unbind) = self.target(i);
                change(&mut self.locked.write().unwrap(), &key, &q, unbind);
            },
        )
    }

    /// One shared update without readers: unbind and rebind one binding (each applied
    /// to both copies) and the swap.
    pub fn update_pair(&self) {
        let mut i = self.shared_writes.load(Ordering::Relaxed);
        if i % 2 == 1 {
            // A run stopped after an unbind: rebind first.
            let (key, q, _) = self.target(i);
            self.shared.update(move |t| change(t, &key, &q, false));
            i += 1;
        }
        let (key, q, _) = self.target(i);
        self.shared.update(move |t| {
            change(t, &key, &q, true);
            change(t, &key, &q, false);
        });
        self.shared_writes.store(i + 2, Ordering::Relaxed);
    }
}

fn change(t: &mut RoutingTable, key: &str, queue: &str, unbind: bool) {
    let (none, d) = (FieldTable::new(), Destination::Queue(queue));
    let changed = if unbind {
        t.unbind("x", d, key, &none)
    } else {
        t.bind("x", d, key, &none)
    };
    assert!(changed.unwrap(), "each write changes its binding");
}
