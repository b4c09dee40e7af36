//! A small timing loop for the report (criterion does the timing in `cargo bench`):
//! route every key in order, repeat until a time budget is spent, keep the best of a few
//! rounds (the least disturbed by a shared, noisy machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::Router;
use super::workloads::KeyArena;

/// Nanoseconds per routed key, or `None` if even a first pass over `probe` keys took
/// longer than `limit` (the contender goes superlinear here).
pub fn ns_per_key<R: Router + ?Sized>(
    r: &R,
    keys: &KeyArena,
    budget: Duration,
    rounds: usize,
    limit: Duration,
) -> Option<f64> {
    let mut out = Vec::with_capacity(1024);
    // Warm up, and bail out on contenders far too slow to time in the budget.
    let probe = keys.len().min(16);
    let start = Instant::now();
    for i in 0..probe {
        out.clear();
        r.route(i, black_box(keys.get(i)), &mut out);
        black_box(&out);
        if start.elapsed() > limit {
            return None;
        }
    }
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let mut n = 0u64;
        let start = Instant::now();
        'timed: loop {
            for (i, key) in keys.iter().enumerate() {
                out.clear();
                r.route(i, black_box(key), &mut out);
                black_box(&out);
                n += 1;
                if n % 64 == 0 && start.elapsed() >= budget {
                    break 'timed;
                }
            }
            if start.elapsed() >= budget {
                break;
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        best = best.min(ns);
    }
    Some(best)
}

/// Nanoseconds per call of `f`, best of `rounds`, each run until `budget` is spent.
pub fn ns_per_op(mut f: impl FnMut(u64), budget: Duration, rounds: usize) -> f64 {
    let mut best = f64::INFINITY;
    let mut i = 0u64;
    for _ in 0..rounds {
        let mut n = 0u64;
        let start = Instant::now();
        while n % 256 != 0 || start.elapsed() < budget {
            f(i);
            i += 1;
            n += 1;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}
