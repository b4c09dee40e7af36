//! Criterion benches of the in-process broker (target T7): publish -> route -> enqueue
//! -> deliver -> ack of 16-byte bodies through a topic exchange, 1 and 1,000 queues, 1
//! and 2 threads, beside the floor `floor/channel_hop` (a bare crossbeam channel) in
//! the same group; `ours/1q+permissions` is `ours/1q` with access control on (every
//! publish checked against a regex grant).

#[allow(unreachable_pub, dead_code)] // shared with the report example
mod common;

use std::time::Duration;

use common::broker::{Setup, broker_one_thread, broker_two_threads, channel_hop};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn timing() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn publish_deliver_ack(c: &mut Criterion) {
    // Messages per timed iteration.
    let n: u64 = if timing() { 10_000 } else { 200 };
    let mut g = c.benchmark_group("broker/publish");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(n));
    for threads in [1usize, 2] {
        g.bench_function(
            BenchmarkId::new("floor/channel_hop", format!("{threads}t")),
            |b| b.iter_custom(|iters| (0..iters).map(|_| channel_hop(n, threads)).sum()),
        );
        for (queues, permissions) in [(1usize, false), (1, true), (1_000, false)] {
            // Prefetch 0 on two threads (the consumer keeps up through its buffer),
            // 1 on one thread (each message is acked before the next is published).
            let prefetch = if threads == 1 { 1 } else { 0 };
            let mut setup = Setup::new(queues, prefetch);
            let mut name = format!("ours/{queues}q");
            if permissions {
                setup = setup.with_permissions();
                name.push_str("+permissions");
            }
            let id = BenchmarkId::new(name, format!("{threads}t"));
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| match threads {
                            1 => broker_one_thread(&setup, n),
                            _ => broker_two_threads(&setup, n),
                        })
                        .sum()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, publish_deliver_ack);
criterion_main!(benches);
