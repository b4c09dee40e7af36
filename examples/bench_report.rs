//! The benchmark report: every workload of `shared/BENCHMARKS.md` in one process, ours
//! beside the floors, the naive scans and the peer crates, as ratios from one run.
//!
//! ```sh
//! cargo run --release --example bench_report                 # quick, about a minute
//! cargo run --release --example bench_report -- --full --json report.json --svg docs/route.svg
//! ```
//!
//! Every contender's answers are checked equal to ours on a sample of keys before it is
//! timed (and ours against the naive reference); a peer that cannot express a workload
//! is `n/a`; a contender too slow to time on a workload is `>limit`.

#[allow(unreachable_pub, dead_code)] // shared with the benches; each uses a subset
#[path = "../benches/common/mod.rs"]
mod common;
#[path = "../benches/common/counting.rs"]
mod counting;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::churn;
use common::concurrent::Contenders;
use common::dialects::OursDialect;
use common::peers::{Quill, Topiq, Zenoh};
use common::timing::{ns_per_key, ns_per_op};
use common::workloads::{self, Rng, Workload};
use common::{
    FloorEmit, FloorHash, FloorHashWords, Naive, OursTable, OursTrie, PeerRouter, RegexScan,
    Router, check,
};
use counting::measured;
use serde_json::{Value, json};

struct Settings {
    full: bool,
    budget: Duration,
    rounds: usize,
    /// A contender whose first 16 keys take longer than this is not timed.
    limit: Duration,
}

/// A progress bar on stderr.
struct Progress {
    done: usize,
    total: usize,
    start: Instant,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.done += 1;
        let width = 30;
        let filled = width * self.done.min(self.total) / self.total.max(1);
        eprint!(
            "\r[{}{}] {:>3}/{} {:>5.1}s {:<40}",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done,
            self.total,
            self.start.elapsed().as_secs_f64(),
            what
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        eprintln!();
    }
}

/// One contender's result on one workload.
struct Timed {
    name: String,
    /// ns per route; `None`: too slow to time here; `Err`: cannot express (n/a).
    ns: Result<Option<f64>, String>,
    /// Heap bytes per binding, when measured.
    bytes_per_binding: Option<f64>,
}

impl Timed {
    fn ns(&self) -> Option<f64> {
        self.ns.as_ref().ok().copied().flatten()
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "ns": self.ns(),
            "status": match &self.ns {
                Ok(Some(_)) => "ok".to_string(),
                Ok(None) => "too slow to time".to_string(),
                Err(e) => format!("n/a: {e}"),
            },
            "bytes_per_binding": self.bytes_per_binding,
        })
    }
}

struct Row {
    workload: String,
    name: &'static str,
    size: usize,
    floor_name: &'static str,
    contenders: Vec<Timed>,
}

impl Row {
    fn get(&self, name: &str) -> Option<&Timed> {
        self.contenders.iter().find(|t| t.name == name)
    }
    fn ns(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Timed::ns)
    }
    fn best_peer(&self) -> Option<(&str, f64)> {
        self.contenders
            .iter()
            .filter(|t| PEERS.contains(&t.name.as_str()))
            .filter_map(|t| t.ns().map(|ns| (t.name.as_str(), ns)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

const PEERS: [&str; 3] = ["zenoh-keyexpr", "quill-pubsub", "topiq-broker"];

fn time<R: Router>(name: &str, r: &R, w: &Workload, s: &Settings) -> Timed {
    Timed {
        name: name.to_string(),
        ns: Ok(ns_per_key(r, &w.keys, s.budget, s.rounds, s.limit)),
        bytes_per_binding: None,
    }
}

/// Times a peer on a workload, after checking its answers against ours.
fn peer<P: common::peers::Peer>(ours: &OursTrie, w: &Workload, s: &Settings, cap: usize) -> Timed {
    let name = P::name();
    if w.size > cap {
        return Timed {
            name: name.to_string(),
            ns: Err(format!("size capped at {cap}")),
            bytes_per_binding: None,
        };
    }
    contender(name, || PeerRouter::<P>::build(w), ours, w, s)
}

/// A contender built (its heap bytes counted), checked against ours and timed; `n/a`
/// with the reason where it cannot express the workload. Ours in another dialect gets
/// the workload translated as the peer of that syntax translates it.
fn contender<R: Router>(
    name: &str,
    build: impl FnOnce() -> Result<R, String>,
    ours: &OursTrie,
    w: &Workload,
    s: &Settings,
) -> Timed {
    let (built, bytes) = measured(build);
    match built {
        Err(e) => Timed {
            name: name.to_string(),
            ns: Err(e),
            bytes_per_binding: None,
        },
        Ok(r) => {
            check(name, &r, ours, w, 64);
            let mut t = time(name, &r, w, s);
            t.bytes_per_binding = Some(bytes as f64 / w.size as f64);
            t
        }
    }
}

/// Runs every contender on one workload.
fn run(w: &Workload, s: &Settings, progress: &mut Progress) -> Row {
    progress.step(&format!("{} {} build", w.id, w.size));
    let (ours, ours_bytes) = measured(|| OursTrie::build(w));
    ours.0.check_invariants();
    // Ours against the naive reference first (a few keys at large sizes).
    let naive = Naive::build(w);
    check(
        "ours",
        &ours,
        &naive,
        w,
        if w.size > 100_000 { 4 } else { 64 },
    );
    let mut contenders = Vec::new();
    let mut t = time("ours", &ours, w, s);
    t.bytes_per_binding = Some(ours_bytes as f64 / w.size as f64);
    contenders.push(t);

    let (table, table_bytes) = measured(|| OursTable::build(w));
    check("ours/table", &table, &ours, w, 64);
    let mut t = time("ours/table", &table, w, s);
    t.bytes_per_binding = Some(table_bytes as f64 / w.size as f64);
    contenders.push(t);
    drop(table);

    // The same trie and table hashing with ahash instead of the default foldhash.
    let trie = OursTrie::build_with(w, ahash::RandomState::new());
    check("ours/ahash", &trie, &ours, w, 64);
    contenders.push(time("ours/ahash", &trie, w, s));
    drop(trie);
    let table = OursTable::build_with(w, ahash::RandomState::new());
    check("ours/table/ahash", &table, &ours, w, 64);
    contenders.push(time("ours/table/ahash", &table, w, s));
    drop(table);

    let exact_only = w.exact_only();
    let (floor, floor_bytes) = measured(|| FloorHash::build(w));
    if exact_only {
        check("floor/hash_lookup", &floor, &ours, w, 64);
    }
    let mut t = time("floor/hash_lookup", &floor, w, s);
    t.bytes_per_binding = Some(floor_bytes as f64 / w.size as f64);
    contenders.push(t);
    drop(floor);
    contenders.push(time("floor/split", &common::FloorSplit, w, s));
    contenders.push(time("floor/hash_words", &FloorHashWords::default(), w, s));
    let fanout = common::answer(&ours, 0, w.keys.get(0)).len();
    if fanout > 16 {
        contenders.push(time(
            "floor/emit",
            &FloorEmit((0..fanout as u32).collect()),
            w,
            s,
        ));
    }
    progress.step(&format!("{} {} naive", w.id, w.size));
    if w.size <= 100_000 {
        contenders.push(time("naive", &naive, w, s));
    }
    drop(naive);
    if w.size <= 10_000 {
        let re = RegexScan::build(w);
        check("regex", &re, &ours, w, 16);
        contenders.push(time("regex", &re, w, s));
    }
    progress.step(&format!("{} {} peers", w.id, w.size));
    contenders.push(peer::<Zenoh>(
        &ours,
        w,
        s,
        if s.full { 1_000_000 } else { 100_000 },
    ));
    contenders.push(peer::<Quill>(&ours, w, s, 1_000_000));
    contenders.push(peer::<Topiq>(&ours, w, s, 1_000_000));
    contenders.push(contender("ours/mqtt", || OursDialect::mqtt(w), &ours, w, s));
    contenders.push(contender("ours/nats", || OursDialect::nats(w), &ours, w, s));
    let floor_name = if exact_only {
        "floor/hash_lookup"
    } else if fanout > 16 {
        "floor/emit"
    } else {
        "floor/hash_words"
    };
    Row {
        workload: w.id.clone(),
        name: w.name,
        size: w.size,
        floor_name,
        contenders,
    }
}

fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "-".into(),
        Some(ns) if ns >= 1e6 => format!("{:.1} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.1} us", ns / 1e3),
        Some(ns) => format!("{ns:.0} ns"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| workload | size | ours | floor | ours/floor | best peer | peer/ours | naive/ours |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let ours = r.ns("ours");
        let floor = r.ns(r.floor_name);
        let peer = r.best_peer();
        let peer_cell = match peer {
            Some((name, ns)) => format!("{} ({name})", fmt_ns(Some(ns))),
            None => {
                let why: Vec<String> = PEERS
                    .iter()
                    .filter_map(|p| r.get(p))
                    .map(|t| match &t.ns {
                        Err(_) => "n/a".to_string(),
                        Ok(None) => ">limit".to_string(),
                        Ok(Some(_)) => String::new(),
                    })
                    .collect();
                format!("none ({})", why.join(", "))
            }
        };
        println!(
            "| {} {} | {} | {} | {} {} | {} | {} | {} | {} |",
            r.workload,
            r.name,
            r.size,
            fmt_ns(ours),
            fmt_ns(floor),
            r.floor_name.trim_start_matches("floor/"),
            ratio(ours, floor),
            peer_cell,
            ratio(peer.map(|p| p.1), ours),
            ratio(r.ns("naive"), ours),
        );
    }
}

fn print_memory(rows: &[Row]) {
    println!("\nHeap bytes per binding (counting allocator; W1 and W2):\n");
    println!(
        "| workload | size | ours | ours/table | floor hash | zenoh-keyexpr | quill-pubsub | topiq-broker |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows
        .iter()
        .filter(|r| r.workload == "W1" || r.workload == "W2")
    {
        let cell = |n: &str| {
            r.get(n)
                .and_then(|t| t.bytes_per_binding)
                .map_or("-".to_string(), |b| format!("{b:.0}"))
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.size,
            cell("ours"),
            cell("ours/table"),
            cell("floor/hash_lookup"),
            cell("zenoh-keyexpr"),
            cell("quill-pubsub"),
            cell("topiq-broker"),
        );
    }
}

fn print_dialects(rows: &[Row]) {
    println!(
        "\nDialects: ours in MQTT and NATS syntax beside the peer that speaks it natively, ns per key, same run (rows where both can express the workload):\n"
    );
    println!(
        "| workload | size | ours (AMQP) | ours/mqtt | quill-pubsub | quill/ours | ours/nats | topiq-broker | topiq/ours |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (mqtt, quill) = (r.ns("ours/mqtt"), r.ns("quill-pubsub"));
        let (nats, topiq) = (r.ns("ours/nats"), r.ns("topiq-broker"));
        if mqtt.is_none() && nats.is_none() {
            continue;
        }
        println!(
            "| {} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.name,
            r.size,
            fmt_ns(r.ns("ours")),
            fmt_ns(mqtt),
            fmt_ns(quill),
            ratio(quill, mqtt),
            fmt_ns(nats),
            fmt_ns(topiq),
            ratio(topiq, nats),
        );
    }
}

/// The default hasher (foldhash, through hashbrown) beside ahash, trie and table.
fn print_hashers(rows: &[Row]) {
    println!("\nHashers: ns per key with foldhash (the default) and ahash, same run:\n");
    println!(
        "| workload | size | trie foldhash | trie ahash | ahash/foldhash | table foldhash | table ahash | ahash/foldhash |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (trie, trie_a) = (r.ns("ours"), r.ns("ours/ahash"));
        let (table, table_a) = (r.ns("ours/table"), r.ns("ours/table/ahash"));
        println!(
            "| {} {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.name,
            r.size,
            fmt_ns(trie),
            fmt_ns(trie_a),
            ratio(trie_a, trie),
            fmt_ns(table),
            fmt_ns(table_a),
            ratio(table_a, table),
        );
    }
}

/// T4: one pattern of n `#` then a literal, against a 31-word key, for n in 1..=15.
fn hashes(s: &Settings) -> Vec<(usize, f64)> {
    (1..=15)
        .map(|n| {
            let w = workloads::w5_hashes(n);
            let ours = OursTrie::build(&w);
            check("ours", &ours, &Naive::build(&w), &w, 2);
            (
                n,
                ns_per_key(&ours, &w.keys, s.budget, s.rounds, s.limit).unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// T5: bind + unbind throughput at `size` bindings, and routing with and without churn.
/// T5's figures.
#[derive(serde::Serialize)]
struct Churn {
    size: usize,
    trie_ops_per_s: f64,
    table_ops_per_s: f64,
    route_ns_without_churn: f64,
    route_during_churn: Vec<DuringChurn>,
}

/// Routing interleaved with churn: `routes_per_churn` routes per churn step.
#[derive(serde::Serialize)]
struct DuringChurn {
    routes_per_churn: usize,
    route_ns: f64,
    ratio: f64,
}

/// Routes from reader threads while a writer churns, shared beside `RwLock`.
#[derive(serde::Serialize)]
struct Concurrent {
    size: usize,
    /// (threads, shared routes/s, RwLock routes/s), each over all readers.
    routes_per_s: Vec<(usize, f64, f64)>,
    /// One shared update of unbind + bind, no readers.
    update_pair_ns: f64,
}

/// W7 at `size`: 1 and 2 reader threads, one change per 10 routes; best of the rounds.
fn concurrent(size: usize, s: &Settings) -> Concurrent {
    let both = Contenders::new(size);
    // Enough routes per run for about the budget at ~1M routes/s per thread.
    let iters = (s.budget.as_secs_f64() * 1e6) as u64;
    let best = |run: &dyn Fn() -> Duration| {
        (0..s.rounds)
            .map(|_| run())
            .min()
            .expect("at least one round")
    };
    let routes_per_s = [1usize, 2]
        .into_iter()
        .map(|threads| {
            let total = (threads as u64 * iters) as f64;
            let shared = best(&|| both.run_shared(threads, iters));
            let locked = best(&|| both.run_locked(threads, iters));
            (
                threads,
                total / shared.as_secs_f64(),
                total / locked.as_secs_f64(),
            )
        })
        .collect();
    both.shared.check_invariants();
    let update_pair_ns = ns_per_op(|_| both.update_pair(), s.budget, s.rounds);
    Concurrent {
        size,
        routes_per_s,
        update_pair_ns,
    }
}

/// One T7 row.
#[derive(serde::Serialize)]
struct BrokerRow {
    queues: usize,
    threads: usize,
    ours_ns_per_msg: f64,
    floor_ns_per_msg: f64,
    ratio: f64,
    msgs_per_s: f64,
}

fn churn(size: usize, s: &Settings) -> Churn {
    let w = workloads::w7(size, 7);
    let mut rng = Rng::new(11);
    // One "op" is an insert or a remove; a step removes a random binding and puts it back.
    let trie_ns_per_op = churn::trie_ns_per_op(&w, &mut rng, s.budget, s.rounds);
    let table_ns_per_op = churn::table_ns_per_op(&w, &mut rng, s.budget, s.rounds);
    let patterns = churn::patterns(&w);
    let mut ours = OursTrie::build(&w);

    let plain = ns_per_key(&ours, &w.keys, s.budget, s.rounds, s.limit).unwrap_or(f64::NAN);
    let mut during = Vec::new();
    for per_churn in [1usize, 10] {
        let mut out = Vec::new();
        let mut k = 0usize;
        let mixed = ns_per_op(
            |step| {
                if step % (per_churn as u64 + 1) == 0 {
                    churn::trie_step(&mut ours, &w, &patterns, &mut rng);
                } else {
                    out.clear();
                    ours.route(k, w.keys.get(k), &mut out);
                    std::hint::black_box(&out);
                    k = (k + 1) % w.keys.len();
                }
            },
            s.budget,
            s.rounds,
        );
        // Per step: per_churn routes and one churn step (two ops); take the churn cost out.
        let steps = per_churn as f64 + 1.0;
        let route_ns = (mixed * steps - 2.0 * trie_ns_per_op) / per_churn as f64;
        during.push(DuringChurn {
            routes_per_churn: per_churn,
            route_ns,
            ratio: route_ns / plain,
        });
    }
    Churn {
        size,
        trie_ops_per_s: 1e9 / trie_ns_per_op,
        table_ops_per_s: 1e9 / table_ns_per_op,
        route_ns_without_churn: plain,
        route_during_churn: during,
    }
}

/// Writes a log-log SVG of route time against binding count, one line per contender.
fn svg(rows: &[Row], workload: &str, path: &str) -> std::io::Result<()> {
    let series = [
        ("ours", "#d62728"),
        ("floor/hash_lookup", "#7f7f7f"),
        ("zenoh-keyexpr", "#1f77b4"),
        ("quill-pubsub", "#2ca02c"),
        ("topiq-broker", "#9467bd"),
        ("naive", "#ff7f0e"),
    ];
    let pts: Vec<&Row> = rows.iter().filter(|r| r.workload == workload).collect();
    let all: Vec<(f64, f64)> = pts
        .iter()
        .flat_map(|r| {
            series
                .iter()
                .filter_map(move |(n, _)| r.ns(n).map(|ns| (r.size as f64, ns)))
        })
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    let (w, h, m) = (640.0, 400.0, 60.0);
    let lx = |v: f64| v.log10();
    let (x0, x1) = (
        all.iter().map(|p| lx(p.0)).fold(f64::MAX, f64::min).floor(),
        all.iter().map(|p| lx(p.0)).fold(f64::MIN, f64::max).ceil(),
    );
    let (y0, y1) = (
        all.iter().map(|p| lx(p.1)).fold(f64::MAX, f64::min).floor(),
        all.iter().map(|p| lx(p.1)).fold(f64::MIN, f64::max).ceil(),
    );
    let sx = |v: f64| m + (lx(v) - x0) / (x1 - x0).max(1.0) * (w - 2.0 * m);
    let sy = |v: f64| h - m - (lx(v) - y0) / (y1 - y0).max(1.0) * (h - 2.0 * m);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{workload}: route time per key vs bindings (log-log)</text>\n",
        w / 2.0
    );
    for e in x0 as i32..=x1 as i32 {
        let x = sx(10f64.powi(e));
        out += &format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">1e{e}</text>\n",
            m,
            h - m,
            h - m + 16.0
        );
    }
    for e in y0 as i32..=y1 as i32 {
        let y = sy(10f64.powi(e));
        let label = fmt_ns(Some(10f64.powi(e)));
        out += &format!(
            "<line x1=\"{m}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>\n",
            w - m,
            m - 4.0,
            y + 4.0
        );
    }
    out += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">bindings</text>\n",
        w / 2.0,
        h - 12.0
    );
    for (i, (name, color)) in series.iter().enumerate() {
        let line: Vec<String> = pts
            .iter()
            .filter_map(|r| {
                r.ns(name)
                    .map(|ns| format!("{:.1},{:.1}", sx(r.size as f64), sy(ns)))
            })
            .collect();
        if line.is_empty() {
            continue;
        }
        out += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            line.join(" ")
        );
        for p in &line {
            let (x, y) = p.split_once(',').expect("formatted above");
            out += &format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{color}\"/>\n");
        }
        let ly = m + 16.0 * i as f64;
        out += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{name}</text>\n",
            w - m - 120.0,
            ly,
            w - m - 105.0,
            ly + 9.0
        );
    }
    out += "</svg>\n";
    std::fs::write(path, out)
}

/// T7: the in-process broker, publish -> route -> enqueue -> deliver -> ack of
/// 16-byte bodies through a topic exchange, beside the floor `channel_hop` (a bare
/// crossbeam channel), 1 and 1,000 queues, 1 and 2 threads. Best of `rounds` batches.
fn broker_rows(s: &Settings) -> Vec<BrokerRow> {
    use common::broker::{Setup, broker_one_thread, broker_two_threads, channel_hop};
    let n: u64 = if s.full { 50_000 } else { 10_000 };
    let best = |f: &dyn Fn() -> Duration| {
        (0..s.rounds.max(3))
            .map(|_| f().as_nanos() as f64 / n as f64)
            .fold(f64::INFINITY, f64::min)
    };
    let mut rows = Vec::new();
    for threads in [1usize, 2] {
        let floor = best(&|| channel_hop(n, threads));
        for queues in [1usize, 1_000] {
            let setup = Setup::new(queues, if threads == 1 { 1 } else { 0 });
            let ours = best(&|| match threads {
                1 => broker_one_thread(&setup, n),
                _ => broker_two_threads(&setup, n),
            });
            rows.push(BrokerRow {
                queues,
                threads,
                ours_ns_per_msg: ours,
                floor_ns_per_msg: floor,
                ratio: ours / floor,
                msgs_per_s: 1e9 / ours,
            });
        }
    }
    rows
}

/// The benchmark report: every workload of shared/BENCHMARKS.md, ours beside the floors
/// and the peers.
#[derive(clap::Parser)]
#[command(name = "bench_report")]
struct Args {
    /// Every size, longer budgets (several minutes)
    #[arg(long)]
    full: bool,
    /// Also write the figures as JSON to FILE
    #[arg(long = "json", value_name = "FILE")]
    json_path: Option<String>,
    /// Also draw the routing figure as SVG to FILE
    #[arg(long = "svg", value_name = "FILE")]
    svg_path: Option<String>,
}

fn main() {
    let Args {
        full,
        json_path,
        svg_path,
    } = clap::Parser::parse();
    let s = if full {
        Settings {
            full,
            budget: Duration::from_millis(200),
            rounds: 5,
            limit: Duration::from_secs(2),
        }
    } else {
        Settings {
            full,
            budget: Duration::from_millis(25),
            rounds: 3,
            limit: Duration::from_millis(300),
        }
    };
    let big = [1_000, 100_000, 1_000_000];
    let mut plan: Vec<Box<dyn Fn() -> Workload>> = Vec::new();
    let w1_sizes: &[usize] = if full {
        &[1_000, 10_000, 100_000, 1_000_000]
    } else {
        &big
    };
    for &n in w1_sizes {
        plan.push(Box::new(move || workloads::w1(n, 1)));
    }
    let sizes: &[usize] = if full { &big } else { &[1_000, 100_000] };
    for &n in sizes {
        plan.push(Box::new(move || workloads::w2(n, 2)));
    }
    for n in [1_000, 80_000] {
        plan.push(Box::new(move || workloads::w3(n, 3)));
    }
    plan.push(Box::new(|| workloads::w4(4)));
    for n in [1_000, 10_000] {
        plan.push(Box::new(move || workloads::w5(n, 5)));
    }
    plan.push(Box::new(|| workloads::w5_literal_stars(20)));
    for n in [10_000, 100_000] {
        plan.push(Box::new(move || workloads::w6(n)));
    }
    let w8_keys = if full { 1_000_000 } else { 100_000 };
    plan.push(Box::new(move || workloads::w8(w8_keys, 8)));
    plan.push(Box::new(|| workloads::w9(10_000, 9)));

    let mut progress = Progress {
        done: 0,
        total: plan.len() * 3 + 5,
        start: Instant::now(),
    };
    let mut rows = Vec::new();
    for make in &plan {
        let w = make();
        rows.push(run(&w, &s, &mut progress));
    }
    progress.step("T4: 1..15 #");
    let t4 = hashes(&s);
    progress.step("T5: churn");
    let t5 = churn(250_000, &s);
    progress.step("concurrent routes");
    let shared = concurrent(250_000, &s);
    progress.step("T7: broker");
    let t7 = broker_rows(&s);
    progress.step("done");
    progress.finish();

    println!(
        "trackswitch benchmark report ({} mode)\n",
        if full { "full" } else { "quick" }
    );
    print_table(&rows);
    print_memory(&rows);
    print_hashers(&rows);
    print_dialects(&rows);
    println!("\nT4: one pattern of n '#' then 'end' against a 31-word key (hit and miss), ours:\n");
    println!("| # words | ns per route |\n|---|---|");
    for (n, ns) in &t4 {
        println!("| {n} | {ns:.0} |");
    }
    println!(
        "\nT5: W7 churn at 250k bindings: trie {:.2}M ops/s, table {:.2}M ops/s (bind or unbind); route {:.0} ns without churn, {:.2}x with 1 route per churn step, {:.2}x with 10",
        t5.trie_ops_per_s / 1e6,
        t5.table_ops_per_s / 1e6,
        t5.route_ns_without_churn,
        t5.route_during_churn[0].ratio,
        t5.route_during_churn[1].ratio,
    );
    println!(
        "\nConcurrent routing, W7 at {}k bindings, a writer making one change (unbind or bind) per 10 routes, routes/s over all readers:\n",
        shared.size / 1000
    );
    println!(
        "| readers | SharedRoutingTable | RwLock<RoutingTable> | shared/rwlock |\n|---|---|---|---|"
    );
    for (threads, ours, locked) in &shared.routes_per_s {
        println!(
            "| {threads} | {:.2}M | {:.2}M | {:.2}x |",
            ours / 1e6,
            locked / 1e6,
            ours / locked
        );
    }
    println!(
        "\nOne SharedRoutingTable update of unbind + bind without readers: {:.1} us",
        shared.update_pair_ns / 1e3
    );
    println!(
        "\nT7: broker in process, publish + route + enqueue + deliver + ack per 16-byte message, beside floor/channel_hop (crossbeam send + recv), same run:\n"
    );
    println!(
        "| queues | threads | ours ns/msg | msgs/s | floor ns/msg | ours/floor |\n|---|---|---|---|---|---|"
    );
    for r in &t7 {
        println!(
            "| {} | {} | {:.0} | {:.2}M | {:.0} | {:.1}x |",
            r.queues,
            r.threads,
            r.ours_ns_per_msg,
            r.msgs_per_s / 1e6,
            r.floor_ns_per_msg,
            r.ratio,
        );
    }
    println!(
        "\nn/a: the peer cannot express the workload's patterns or keys; >limit: too slow to time; capped sizes are listed in the JSON."
    );

    if let Some(path) = json_path {
        let data = json!({
            "mode": if full { "full" } else { "quick" },
            "rows": rows.iter().map(|r| json!({
                "workload": r.workload,
                "name": r.name,
                "size": r.size,
                "floor": r.floor_name,
                "contenders": r.contenders.iter().map(Timed::json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "t4_hashes": t4.iter().map(|(n, ns)| json!({"hashes": n, "ns": ns})).collect::<Vec<_>>(),
            "t5_churn": t5,
            "concurrent": shared,
            "t7_broker": t7,
        });
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&data).expect("serialisable"),
        )
        .unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        eprintln!("wrote {path}");
    }
    if let Some(path) = svg_path {
        svg(&rows, "W1", &path).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        eprintln!("wrote {path}");
    }
}
