//! Criterion benches of topic routing: every workload of `shared/BENCHMARKS.md`, ours
//! (`TopicTrie`) beside the floors, the naive and regex scans and the peer crates, in
//! the same group on the same keys; ours in the MQTT and NATS dialects
//! (`ours/mqtt`, `ours/nats`) sit beside the peers that speak those syntaxes natively
//! (quill-pubsub, topiq-broker). Answers are checked equal to ours before timing, so
//! `cargo test --benches` checks them too (at the smallest sizes).

#[allow(unreachable_pub, dead_code)] // shared with the report example; each uses a subset
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::dialects::OursDialect;
use common::peers::{Quill, Topiq, Zenoh};
use common::timing;
use common::workloads::{self, Workload};
use common::{
    FloorEmit, FloorHash, FloorHashWords, FloorSplit, Naive, OursTrie, PeerRouter, RegexScan,
    Router, check,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Whether criterion is timing (`cargo bench`) rather than testing (`cargo test
/// --benches`, which runs each bench once): tests use the smallest sizes only.
fn timing() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn sizes(all: &[usize]) -> Vec<usize> {
    if timing() {
        all.to_vec()
    } else {
        all[..1].to_vec()
    }
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times `r` over every key of `w`, in one group entry.
fn entry<R: Router>(g: &mut Group<'_>, name: &str, r: &R, w: &Workload) {
    entry_n(g, name, r, w, usize::MAX);
}

/// Times `r` over the first `max_keys` keys of `w` (the scans take microseconds to
/// milliseconds per key: over W8's 1M keys one sample would take minutes).
fn entry_n<R: Router>(g: &mut Group<'_>, name: &str, r: &R, w: &Workload, max_keys: usize) {
    let n = w.keys.len().min(max_keys);
    g.throughput(Throughput::Elements(n as u64));
    let mut out = Vec::with_capacity(1024);
    g.bench_with_input(BenchmarkId::new(name, w.size), w, |b, w| {
        b.iter(|| {
            for (i, key) in w.keys.iter().take(n).enumerate() {
                out.clear();
                r.route(i, black_box(key), &mut out);
                black_box(&out);
            }
        })
    });
}

/// Times a peer on `w`, after checking its answers; skips it (saying why) when it cannot
/// express the workload, is over its size cap, or goes superlinear (16 keys take over
/// 100 ms, so one sample over every key would take minutes).
fn peer<P: common::peers::Peer>(g: &mut Group<'_>, ours: &OursTrie, w: &Workload, cap: usize) {
    if w.size > cap {
        eprintln!(
            "{}: {} {} skipped: size capped at {cap}",
            w.id,
            P::name(),
            w.size
        );
        return;
    }
    match PeerRouter::<P>::build(w) {
        Ok(r) => {
            check(P::name(), &r, ours, w, 64);
            let limit = std::time::Duration::from_millis(100);
            if timing::ns_per_key(&r, &w.keys, Duration::ZERO, 0, limit).is_none() {
                eprintln!(
                    "{}: {} skipped: over {limit:?} for 16 keys",
                    w.id,
                    P::name()
                );
                return;
            }
            // Peers time the same first 4096 keys as every contender's throughput
            // figure (W8 has 1M keys, where a slow peer would take minutes a sample).
            entry_n(g, P::name(), &r, w, 4096);
        }
        Err(e) => eprintln!("{}: {} n/a: {e}", w.id, P::name()),
    }
}

/// Times ours in another dialect on `w`, after checking its answers against ours in
/// AMQP; skips it (saying why) when the dialect cannot express the workload.
fn dialect<R: Router>(
    g: &mut Group<'_>,
    name: &str,
    built: Result<R, String>,
    ours: &OursTrie,
    w: &Workload,
) {
    match built {
        Ok(r) => {
            check(name, &r, ours, w, 64);
            entry(g, name, &r, w);
        }
        Err(e) => eprintln!("{}: {name} n/a: {e}", w.id),
    }
}

fn workload(c: &mut Criterion, w: &Workload) {
    let ours = OursTrie::build(w);
    let naive = Naive::build(w);
    check(
        "ours",
        &ours,
        &naive,
        w,
        if w.size > 100_000 { 4 } else { 64 },
    );
    let mut g = c.benchmark_group(format!("topic/route/{}", w.id));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    entry(&mut g, "ours", &ours, w);
    let exact_only = w.exact_only();
    let floor = FloorHash::build(w);
    if exact_only {
        check("floor/hash_lookup", &floor, &ours, w, 64);
    }
    entry(&mut g, "floor/hash_lookup", &floor, w);
    entry(&mut g, "floor/split", &FloorSplit, w);
    entry(&mut g, "floor/hash_words", &FloorHashWords::default(), w);
    let fanout = common::answer(&ours, 0, w.keys.get(0)).len();
    if fanout > 16 {
        entry(
            &mut g,
            "floor/emit",
            &FloorEmit((0..fanout as u32).collect()),
            w,
        );
    }
    if w.size <= 100_000 {
        entry_n(&mut g, "naive", &naive, w, 256);
    }
    if w.size <= 10_000 {
        let re = RegexScan::build(w);
        check("regex", &re, &ours, w, 16);
        entry_n(&mut g, "regex", &re, w, 256);
    }
    peer::<Zenoh>(&mut g, &ours, w, 100_000);
    peer::<Quill>(&mut g, &ours, w, 1_000_000);
    dialect(&mut g, "ours/mqtt", OursDialect::mqtt(w), &ours, w);
    peer::<Topiq>(&mut g, &ours, w, 1_000_000);
    dialect(&mut g, "ours/nats", OursDialect::nats(w), &ours, w);
    g.finish();
}

fn route(c: &mut Criterion) {
    for n in sizes(&[1_000, 100_000, 1_000_000]) {
        workload(c, &workloads::w1(n, 1));
        workload(c, &workloads::w2(n, 2));
    }
    for n in sizes(&[1_000, 80_000]) {
        workload(c, &workloads::w3(n, 3));
    }
    workload(c, &workloads::w4(4));
    for n in sizes(&[1_000, 10_000]) {
        workload(c, &workloads::w5(n, 5));
    }
    workload(c, &workloads::w5_hashes(15));
    workload(c, &workloads::w5_literal_stars(20));
    for n in sizes(&[10_000, 100_000]) {
        workload(c, &workloads::w6(n));
    }
    workload(
        c,
        &workloads::w8(if timing() { 1_000_000 } else { 10_000 }, 8),
    );
    workload(c, &workloads::w9(if timing() { 10_000 } else { 1_000 }, 9));
}

/// W7: insert + remove of one random binding at a time.
fn churn(c: &mut Criterion) {
    let n = if timing() { 250_000 } else { 10_000 };
    let w = workloads::w7(n, 7);
    let patterns: Vec<_> = w
        .bindings
        .iter()
        .map(|(p, _)| trackswitch::topic::Pattern::new(p).unwrap())
        .collect();
    let mut ours = OursTrie::build(&w);
    let mut rng = workloads::Rng::new(11);
    let mut g = c.benchmark_group("topic/insert_remove");
    g.throughput(Throughput::Elements(2));
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.bench_function(BenchmarkId::new("ours", n), |b| {
        b.iter(|| {
            let i = rng.below(patterns.len() as u64) as usize;
            let id = w.bindings[i].1;
            assert!(ours.0.remove(&patterns[i], &id));
            assert!(ours.0.insert(&patterns[i], id));
        })
    });
    g.finish();
    ours.0.check_invariants();
}

criterion_group!(benches, route, churn);
criterion_main!(benches);
