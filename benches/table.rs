//! Criterion benches of the whole routing table: route through a topic exchange (W1, W2),
//! a fanout exchange with many queues (W6), bind + unbind under churn (W7), and routes
//! from 1 and 2 threads while a writer churns 1:10 (W7 keys), through
//! `SharedRoutingTable` and through a `RwLock<RoutingTable>`.

#[allow(unreachable_pub, dead_code)] // shared with the report example; each uses a subset
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::concurrent::Contenders;
use common::workloads;
use common::{OursTable, OursTrie, Router, check};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use trackswitch::{Destination, ExchangeKind, FieldTable, RouteResult, RoutingTable};

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

/// Routes/s from 1 and 2 threads with a writer churning 1:10, `SharedRoutingTable`
/// beside the `RwLock`-wrapped table (per iteration: one route per thread).
fn concurrent(c: &mut Criterion) {
    let n = if timing() { 250_000 } else { 10_000 };
    let both = Contenders::new(n);
    let mut g = c.benchmark_group("table/concurrent_route");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function(BenchmarkId::new(format!("shared/{threads}t"), n), |b| {
            b.iter_custom(|iters| both.run_shared(threads, iters))
        });
        g.bench_function(BenchmarkId::new(format!("rwlock/{threads}t"), n), |b| {
            b.iter_custom(|iters| both.run_locked(threads, iters))
        });
    }
    g.finish();
    both.shared.check_invariants();
    // The cost of an update without readers: unbind + rebind of one binding in one
    // update, each applied to both copies, and the swap.
    let mut g = c.benchmark_group("table/shared_update");
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(2));
    g.bench_function(BenchmarkId::new("unbind+bind", n), |b| {
        b.iter(|| both.update_pair())
    });
    g.finish();
}

criterion_group!(benches, route, fanout, churn, concurrent);
criterion_main!(benches);
