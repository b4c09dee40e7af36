//! Criterion benches of the whole routing table: route through a topic exchange (W1, W2),
//! a fanout exchange with many queues (W6), bind + unbind under churn (W7), and routes
//! from 1 and 2 threads while a writer churns 1:10 (W7 keys), through
//! `SharedRoutingTable` and through a `RwLock<RoutingTable>`.

#[allow(unreachable_pub, dead_code)] // shared with the report example; each uses a subset
mod common;

use std::hint::black_box;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::workloads;
use common::{OursTable, OursTrie, Router, check};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use trackswitch::{
    Destination, ExchangeKind, FieldTable, RouteResult, RoutingTable, SharedRoutingTable,
};

fn timing() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn route(c: &mut Criterion) {
    let sizes: &[usize] = if timing() {
        &[1_000, 100_000, 1_000_000]
    } else {
        &[1_000]
    };
    let mut g = c.benchmark_group("table/route");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &n in sizes {
        for w in [workloads::w1(n, 1), workloads::w2(n, 2)] {
            let table = OursTable::build(&w);
            check("table", &table, &OursTrie::build(&w), &w, 64);
            g.throughput(Throughput::Elements(w.keys.len() as u64));
            let mut out = Vec::new();
            g.bench_function(BenchmarkId::new(format!("ours/{}", w.id), n), |b| {
                b.iter(|| {
                    for (i, key) in w.keys.iter().enumerate() {
                        out.clear();
                        table.route(i, black_box(key), &mut out);
                        black_box(&out);
                    }
                })
            });
        }
    }
    g.finish();
}

/// W6: a fanout exchange with `n` queues; one route emits every queue once.
fn fanout(c: &mut Criterion) {
    let n: u32 = if timing() { 1_000_000 } else { 1_000 };
    let mut table = RoutingTable::new();
    table
        .declare_exchange("fan", ExchangeKind::Fanout, &Default::default())
        .unwrap();
    let none = FieldTable::new();
    for i in 0..n {
        let q = format!("q{i}");
        table.declare_queue(&q).unwrap();
        table
            .bind("fan", Destination::Queue(&q), "", &none)
            .unwrap();
    }
    let mut result = RouteResult::new();
    table.route_into("fan", "k", None, &mut result).unwrap();
    assert_eq!(result.len(), n as usize);
    let mut g = c.benchmark_group("table/fanout");
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(u64::from(n)));
    g.bench_function(BenchmarkId::new("ours", n), |b| {
        b.iter(|| {
            table
                .route_into("fan", black_box("k"), None, &mut result)
                .unwrap();
            black_box(result.len())
        })
    });
    let ids: Vec<u32> = (0..n).collect();
    let mut out = Vec::with_capacity(n as usize);
    g.bench_function(BenchmarkId::new("floor/emit", n), |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&ids));
            black_box(out.len())
        })
    });
    g.finish();
}

/// W7: bind + unbind one random binding at a time through the table.
fn churn(c: &mut Criterion) {
    let n = if timing() { 250_000 } else { 10_000 };
    let w = workloads::w7(n, 7);
    let mut table = OursTable::build(&w);
    let names: Vec<String> = w.bindings.iter().map(|(_, id)| format!("q{id}")).collect();
    let none = FieldTable::new();
    let mut rng = workloads::Rng::new(11);
    let mut g = c.benchmark_group("table/bind_unbind");
    g.throughput(Throughput::Elements(2));
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.bench_function(BenchmarkId::new("ours", n), |b| {
        b.iter(|| {
            let i = rng.below(w.bindings.len() as u64) as usize;
            let dest = Destination::Queue(&names[i]);
            assert!(
                table
                    .table
                    .unbind("x", dest, &w.bindings[i].0, &none)
                    .unwrap()
            );
            assert!(
                table
                    .table
                    .bind("x", dest, &w.bindings[i].0, &none)
                    .unwrap()
            );
        })
    });
    g.finish();
    table.table.check_invariants();
}

/// `threads` readers route `iters` W7 keys each while a writer unbinds or binds one
/// binding (alternately, one change per update) for every ten routes done; the time
/// until every reader is done.
fn contended(
    threads: usize,
    iters: u64,
    keys: &workloads::KeyArena,
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

/// Routes/s from 1 and 2 threads with a writer churning 1:10, `SharedRoutingTable`
/// beside the `RwLock`-wrapped table (per iteration: one route per thread).
fn concurrent(c: &mut Criterion) {
    let n = if timing() { 250_000 } else { 10_000 };
    let w = workloads::w7(n, 7);
    let names: Vec<String> = w.bindings.iter().map(|(_, id)| format!("q{id}")).collect();
    let base = OursTable::build(&w).table;
    let shared = SharedRoutingTable::new(base.clone());
    let locked = RwLock::new(base);
    // The binding the `i`th write changes: writes 2k and 2k+1 unbind and rebind one.
    let target = |i: u64| {
        let b = (i / 2).wrapping_mul(2_654_435_761) as usize % w.bindings.len();
        (b, i % 2 == 0)
    };
    let none = FieldTable::new();
    let mut g = c.benchmark_group("table/concurrent_route");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function(BenchmarkId::new(format!("shared/{threads}t"), n), |b| {
            b.iter_custom(|iters| {
                contended(
                    threads,
                    iters,
                    &w.keys,
                    &|k, out| shared.route_into("x", k, None, out).unwrap(),
                    &|i| {
                        let (b, unbind) = target(i);
                        let (key, q) = (w.bindings[b].0.clone(), names[b].clone());
                        shared.update(move |t| {
                            let none = FieldTable::new();
                            let d = Destination::Queue(&q);
                            if unbind {
                                t.unbind("x", d, &key, &none).unwrap()
                            } else {
                                t.bind("x", d, &key, &none).unwrap()
                            }
                        });
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new(format!("rwlock/{threads}t"), n), |b| {
            b.iter_custom(|iters| {
                contended(
                    threads,
                    iters,
                    &w.keys,
                    &|k, out| {
                        locked
                            .read()
                            .unwrap()
                            .route_into("x", k, None, out)
                            .unwrap()
                    },
                    &|i| {
                        let (b, unbind) = target(i);
                        let d = Destination::Queue(&names[b]);
                        let mut t = locked.write().unwrap();
                        if unbind {
                            t.unbind("x", d, &w.bindings[b].0, &none).unwrap();
                        } else {
                            t.bind("x", d, &w.bindings[b].0, &none).unwrap();
                        }
                    },
                )
            })
        });
    }
    g.finish();
    shared.check_invariants();
    // The cost of an update without readers: unbind + rebind of one binding in one
    // update, each applied to both copies, and the swap.
    let mut g = c.benchmark_group("table/shared_update");
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(2));
    let mut i = 0u64;
    g.bench_function(BenchmarkId::new("unbind+bind", n), |b| {
        b.iter(|| {
            let (b, _) = target(2 * i);
            i += 1;
            let (key, q) = (w.bindings[b].0.clone(), names[b].clone());
            shared.update(move |t| {
                let none = FieldTable::new();
                let d = Destination::Queue(&q);
                t.unbind("x", d, &key, &none).unwrap();
                t.bind("x", d, &key, &none).unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, route, fanout, churn, concurrent);
criterion_main!(benches);
