//! `trackswitch perf`: a load generator for any AMQP 0-9-1 server, in the spirit of
//! RabbitMQ's PerfTest and LavinMQ's lavinmqperf. Producers and consumers each have a
//! connection of their own and speak raw, pipelined frames (`wire`): a producer builds
//! many publishes into one buffer and writes it at once, a consumer acks what each
//! read brought with one `multiple` ack. Bodies carry their send time, so consumers
//! measure end-to-end latency. Bounded by `--count` or `--duration`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use super::Failure;

#[path = "perf/wire.rs"]
mod wire;

use wire::{Conn, Target};

/// `trackswitch perf`'s flags.
#[derive(clap::Args, Debug)]
pub(super) struct Args {
    /// The server: amqp://USER:PASSWORD@HOST:PORT/VHOST (vhost `/` as %2f or empty);
    /// HOST is an address or localhost
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/")]
    url: String,
    /// Producer connections
    #[arg(long, short = 'x', default_value_t = 1)]
    producers: u32,
    /// Consumer connections (0: publish only)
    #[arg(long, short = 'y', default_value_t = 1)]
    consumers: u32,
    /// Body size in bytes (at least 16: the send time and a sequence number)
    #[arg(long, short = 's', default_value_t = 16, value_parser = clap::value_parser!(u32).range(16..=16 * 1024 * 1024))]
    size: u32,
    /// Messages per second per producer (0: as fast as the server takes them)
    #[arg(long, short = 'r', default_value_t = 0)]
    rate: u64,
    /// Publisher confirms with at most N unconfirmed messages per producer (0: no
    /// confirms)
    #[arg(long, short = 'c', value_name = "N", default_value_t = 0)]
    confirm: u32,
    /// Consumers take messages with no-ack (the server considers them acked on send)
    #[arg(long, short = 'a')]
    auto_ack: bool,
    /// Unacked messages a consumer may hold (basic.qos prefetch-count)
    #[arg(long, short = 'q', default_value_t = 1000)]
    prefetch: u16,
    /// Persistent messages (delivery_mode 2) to durable queues
    #[arg(long, short = 'f')]
    persistent: bool,
    /// Exchange type: direct, fanout or topic ("" default exchange with direct and
    /// one queue)
    #[arg(long, short = 't', default_value = "direct", value_parser = ["direct", "fanout", "topic"])]
    exchange_type: String,
    /// Bindings per consumer queue on a topic exchange: one that matches the routing
    /// key and N-1 that do not (a trie of that size on the server's path)
    #[arg(long, short = 'b', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    bindings: u32,
    /// Routing key of every publish
    #[arg(long, short = 'k', default_value = "perf.key")]
    routing_key: String,
    /// Each consumer gets a queue of its own (every consumer receives every message;
    /// with fanout always); otherwise they share one
    #[arg(long)]
    queue_per_consumer: bool,
    /// Messages per producer (the run ends when every one is consumed)
    #[arg(long, short = 'C', conflicts_with = "duration")]
    count: Option<u64>,
    /// Seconds to publish for (default 10 without --count); consumers then drain
    #[arg(long, short = 'z')]
    duration: Option<u64>,
    /// Consumers subscribe only once every message is published (and confirmed): the
    /// publish and the consume phases are measured apart (rates and, with
    /// --server-pid, the server's CPU per publish and per delivery)
    #[arg(long, requires = "count")]
    backlog: bool,
    /// Leave the queues and the exchange behind
    #[arg(long)]
    keep: bool,
    /// The server's process id on this machine: its CPU time per message is reported
    /// (from /proc)
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Print the summary as one JSON object on stdout
    #[arg(long)]
    json: bool,
    /// No progress lines
    #[arg(long)]
    quiet: bool,
}

/// Counts every task updates.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    confirmed: AtomicU64,
    nacked: AtomicU64,
    received: AtomicU64,
    /// When the last message came in (nanoseconds since the epoch; 0: none yet):
    /// receive rates end there, not when the last consumer noticed it was done.
    last_received_ns: AtomicU64,
    /// Woken when the expected count is reached, so idle consumers stop at once.
    all_received: Notify,
}

/// End-to-end latencies: 16 sub-buckets per power of two of nanoseconds (at most 6%
/// off), merged from every consumer at the end.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    n: u64,
}

impl Histogram {
    const SUB: u32 = 16;

    fn new() -> Histogram {
        Histogram {
            counts: vec![0; 64 * Self::SUB as usize],
            n: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < u64::from(Self::SUB) {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - 4;
        let sub = (v >> shift) as u32 & (Self::SUB - 1);
        ((msb - 3) * Self::SUB + sub) as usize
    }

    fn lower(i: usize) -> u64 {
        let (band, sub) = (i as u32 / Self::SUB, i as u32 % Self::SUB);
        if band == 0 {
            return u64::from(sub);
        }
        let msb = band + 3;
        (1u64 << msb) | (u64::from(sub) << (msb - 4))
    }

    fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.n += 1;
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
    }

    /// The `q` quantile in microseconds.
    fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::lower(i) as f64 / 1000.0);
            }
        }
        None
    }
}

fn parse_url(url: &str) -> Result<Target, Failure> {
    let bad = |why: &str| Failure::input(format!("--url {url}: {why}"));
    let rest = url
        .strip_prefix("amqp://")
        .ok_or_else(|| bad("must start with amqp://"))?;
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("guest:guest", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, vhost) = rest.split_once('/').unwrap_or((rest, ""));
    let vhost = match vhost {
        "" | "%2f" | "%2F" => "/".to_string(),
        v => v.replace("%2f", "/").replace("%2F", "/"),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
        None => (hostport, 5672),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = match host {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h
            .parse()
            .map_err(|_| bad("HOST must be an IP address or localhost"))?,
    };
    Ok(Target {
        addr: std::net::SocketAddr::new(ip, port).to_string(),
        user: user.into(),
        password: password.into(),
        vhost,
    })
}

/// What the run measured.
#[derive(serde::Serialize)]
struct Summary {
    producers: u32,
    consumers: u32,
    size: u32,
    confirm: u32,
    persistent: bool,
    exchange_type: String,
    bindings: u32,
    seconds: f64,
    sent: u64,
    confirmed: u64,
    nacked: u64,
    received: u64,
    send_rate: f64,
    receive_rate: f64,
    latency_p50_us: Option<f64>,
    latency_p99_us: Option<f64>,
    latency_p999_us: Option<f64>,
    latency_max_us: Option<f64>,
    perf_cpu_us_per_msg: Option<f64>,
    server_cpu_us_per_msg: Option<f64>,
    /// With --backlog: the consume phase alone.
    backlog: bool,
    consume_seconds: Option<f64>,
    server_cpu_us_per_publish: Option<f64>,
    server_cpu_us_per_delivery: Option<f64>,
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) / 100.0)
}

pub(super) fn run(args: Args) -> Result<(), Failure> {
    let target = parse_url(&args.url)?;
    if args.producers == 0 && args.consumers == 0 {
        return Err(Failure::input(
            "nothing to do: --producers 0 and --consumers 0",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal(format!("cannot start the runtime: {e}")))?;
    let summary = runtime.block_on(drive(&args, target))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).map_err(|e| Failure::internal(e.to_string()))?
        );
    } else {
        print_summary(&summary);
    }
    Ok(())
}

fn print_summary(s: &Summary) {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} us"));
    println!(
        "{} producers, {} consumers, {} B, confirm {}, {}{} exchange{}",
        s.producers,
        s.consumers,
        s.size,
        s.confirm,
        if s.persistent { "persistent, " } else { "" },
        s.exchange_type,
        if s.bindings > 1 {
            format!(", {} bindings per queue", s.bindings)
        } else {
            String::new()
        }
    );
    println!(
        "sent {} ({:.0} msgs/s), confirmed {}, nacked {}, received {} ({:.0} msgs/s) in {:.2} s",
        s.sent, s.send_rate, s.confirmed, s.nacked, s.received, s.receive_rate, s.seconds
    );
    println!(
        "latency p50 {}, p99 {}, p99.9 {}, max {}",
        f(s.latency_p50_us),
        f(s.latency_p99_us),
        f(s.latency_p999_us),
        f(s.latency_max_us)
    );
    if let (Some(p), Some(d)) = (s.server_cpu_us_per_publish, s.server_cpu_us_per_delivery) {
        println!(
            "backlog: consumed in {:.2} s; server CPU {p:.2} us per publish, {d:.2} us per delivery",
            s.consume_seconds.unwrap_or(0.0)
        );
    }
    if let Some(c) = s.perf_cpu_us_per_msg {
        print!("perf CPU {c:.2} us/msg");
        if let Some(sc) = s.server_cpu_us_per_msg {
            print!(", server CPU {sc:.2} us/msg");
        }
        println!();
    }
}

fn io_fail(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::input(format!("{what}: {e}"))
}

/// Opens a connection, or fails within 10 s.
async fn open(target: &Target) -> Result<Conn, Failure> {
    match tokio::time::timeout(Duration::from_secs(10), Conn::open(target)).await {
        Ok(r) => r.map_err(io_fail("connect")),
        Err(_) => Err(Failure::input(format!(
            "connect to {}: no handshake within 10 s",
            target.addr
        ))),
    }
}

async fn drive(args: &Args, target: Target) -> Result<Summary, Failure> {
    let tag = format!(
        "{:08x}",
        std::process::id() ^ (Instant::now().elapsed().subsec_nanos())
    );
    let exchange = format!("perf.{tag}.{}", args.exchange_type);
    let per_consumer = args.queue_per_consumer || args.exchange_type == "fanout";
    let queues: Vec<String> = if args.consumers == 0 {
        Vec::new()
    } else if per_consumer {
        (0..args.consumers)
            .map(|i| format!("perf.{tag}.q{i}"))
            .collect()
    } else {
        vec![format!("perf.{tag}.q")]
    };
    // Topology, on a connection of its own.
    let mut admin = open(&target).await?;
    admin
        .exchange_declare(&exchange, &args.exchange_type, args.persistent)
        .await
        .map_err(io_fail("exchange.declare"))?;
    for q in &queues {
        admin
            .queue_declare(q, args.persistent)
            .await
            .map_err(io_fail("queue.declare"))?;
        admin
            .queue_bind(q, &exchange, &args.routing_key)
            .await
            .map_err(io_fail("queue.bind"))?;
        if args.exchange_type == "topic" && args.bindings > 1 {
            let others: Vec<String> = (1..args.bindings)
                .map(|i| format!("perf.{i}.{tag}.*"))
                .collect();
            admin
                .queue_bind_many(q, &exchange, &others)
                .await
                .map_err(io_fail("queue.bind"))?;
        }
    }
    let counters = Arc::new(Counters::default());
    let stop_publishing = Arc::new(AtomicBool::new(false));
    let producers_done = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let epoch = t0;
    let copies = if per_consumer {
        u64::from(args.consumers)
    } else {
        1
    };
    let expected = args
        .count
        .map(|c| c * u64::from(args.producers) * copies.max(u64::from(args.consumers > 0)));
    // Consumers first, so nothing published goes unrouted (the queues exist already,
    // so --backlog subscribes them after publishing).
    let start_consumers = || async {
        let mut consumers = Vec::new();
        for i in 0..args.consumers {
            let queue = queues[if per_consumer { i as usize } else { 0 }].clone();
            let mut c = open(&target).await?;
            c.qos(args.prefetch).await.map_err(io_fail("basic.qos"))?;
            c.consume(&queue, args.auto_ack)
                .await
                .map_err(io_fail("basic.consume"))?;
            let counters = Arc::clone(&counters);
            let done = Arc::clone(&producers_done);
            let auto_ack = args.auto_ack;
            consumers.push(tokio::spawn(consume(
                c, counters, done, epoch, auto_ack, expected,
            )));
        }
        Ok::<_, Failure>(consumers)
    };
    let mut consumers = if args.backlog {
        Vec::new()
    } else {
        start_consumers().await?
    };
    let cpu0 = cpu_seconds("self");
    let server0 = args.server_pid.and_then(|p| cpu_seconds(&p.to_string()));
    let started = Instant::now();
    let mut producers = Vec::new();
    for i in 0..args.producers {
        let c = open(&target).await?;
        let job = Produce {
            exchange: exchange.clone(),
            key: args.routing_key.clone(),
            size: args.size as usize,
            rate: args.rate,
            window: u64::from(args.confirm),
            persistent: args.persistent,
            count: args.count,
            id: u64::from(i),
        };
        producers.push(tokio::spawn(produce(
            c,
            job,
            Arc::clone(&counters),
            Arc::clone(&stop_publishing),
            epoch,
        )));
    }
    let duration = Duration::from_secs(args.duration.unwrap_or(10));
    let progress = !args.quiet && !args.json;
    let tty = std::io::stderr().is_terminal();
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        let all_done = producers.iter().all(|p| p.is_finished());
        if all_done {
            break;
        }
        if args.count.is_none() && started.elapsed() >= duration {
            stop_publishing.store(true, Relaxed);
        }
        // Bounded: a count run gets at most 10 minutes; producers a server keeps
        // blocked are given up 30 s after that.
        let limit = match args.count {
            Some(_) => Duration::from_secs(600),
            None => duration,
        };
        if started.elapsed() > limit {
            stop_publishing.store(true, Relaxed);
        }
        if started.elapsed() > limit + Duration::from_secs(30) {
            for p in &producers {
                p.abort();
            }
            break;
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => { continue; }
        }
        if progress {
            let (sent, recv) = (counters.sent.load(Relaxed), counters.received.load(Relaxed));
            let dt = last.0.elapsed().as_secs_f64().max(1e-9);
            let line = format!(
                "time {:.0} s, sent {:.0} msgs/s, received {:.0} msgs/s, confirmed {}",
                started.elapsed().as_secs_f64(),
                (sent - last.1) as f64 / dt,
                (recv - last.2) as f64 / dt,
                counters.confirmed.load(Relaxed)
            );
            if tty {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
            last = (Instant::now(), sent, recv);
        }
    }
    let mut failure = None;
    for p in producers {
        match p.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(format!("producer: {e}"))),
            Err(e) => failure = failure.or(Some(format!("producer: {e}"))),
        }
    }
    let send_seconds = started.elapsed().as_secs_f64();
    let server_published = args.server_pid.and_then(|p| cpu_seconds(&p.to_string()));
    let consume_started = Instant::now();
    if args.backlog && failure.is_none() {
        consumers = start_consumers().await?;
    }
    producers_done.store(true, Relaxed);
    let mut hist = Histogram::new();
    for c in consumers {
        match tokio::time::timeout(Duration::from_secs(60), c).await {
            Ok(Ok(Ok(h))) => hist.merge(&h),
            Ok(Ok(Err(e))) => failure = failure.or(Some(format!("consumer: {e}"))),
            Ok(Err(e)) => failure = failure.or(Some(format!("consumer: {e}"))),
            Err(_) => failure = failure.or(Some("consumer: not drained within 60 s".into())),
        }
    }
    // Receiving ends with the last message.
    let (seconds, consume_seconds) = match counters.last_received_ns.load(Relaxed) {
        0 => (
            started.elapsed().as_secs_f64(),
            consume_started.elapsed().as_secs_f64(),
        ),
        ns => {
            let at = epoch + Duration::from_nanos(ns);
            (
                at.saturating_duration_since(started).as_secs_f64(),
                at.saturating_duration_since(consume_started).as_secs_f64(),
            )
        }
    };
    if progress && tty {
        eprintln!();
    }
    let cpu1 = cpu_seconds("self");
    let server1 = args.server_pid.and_then(|p| cpu_seconds(&p.to_string()));
    if !args.keep {
        for q in &queues {
            let _ = admin.queue_delete(q).await;
        }
        let _ = admin.exchange_delete(&exchange).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), admin.close()).await;
    if let Some(f) = failure {
        return Err(Failure::internal(f));
    }
    let sent = counters.sent.load(Relaxed);
    let received = counters.received.load(Relaxed);
    let ops = (sent + received).max(1) as f64;
    let per_msg = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some((b - a) * 1e6 / ops),
        _ => None,
    };
    let phase = |a: Option<f64>, b: Option<f64>, n: u64| match (args.backlog, a, b) {
        (true, Some(a), Some(b)) if n > 0 => Some((b - a) * 1e6 / n as f64),
        _ => None,
    };
    Ok(Summary {
        producers: args.producers,
        consumers: args.consumers,
        size: args.size,
        confirm: args.confirm,
        persistent: args.persistent,
        exchange_type: args.exchange_type.clone(),
        bindings: args.bindings,
        seconds,
        sent,
        confirmed: counters.confirmed.load(Relaxed),
        nacked: counters.nacked.load(Relaxed),
        received,
        send_rate: sent as f64 / send_seconds.max(1e-9),
        receive_rate: received as f64
            / if args.backlog {
                consume_seconds
            } else {
                seconds
            }
            .max(1e-9),
        latency_p50_us: hist.quantile_us(0.5),
        latency_p99_us: hist.quantile_us(0.99),
        latency_p999_us: hist.quantile_us(0.999),
        latency_max_us: hist.quantile_us(1.0),
        perf_cpu_us_per_msg: per_msg(cpu0, cpu1),
        server_cpu_us_per_msg: per_msg(server0, server1),
        backlog: args.backlog,
        consume_seconds: args.backlog.then_some(consume_seconds),
        server_cpu_us_per_publish: phase(server0, server_published, sent),
        server_cpu_us_per_delivery: phase(server_published, server1, received),
    })
}

/// One producer's job.
struct Produce {
    exchange: String,
    key: String,
    size: usize,
    rate: u64,
    window: u64,
    persistent: bool,
    count: Option<u64>,
    id: u64,
}

/// Publishes in batches of up to 64 KB per write; with confirms, keeps at most
/// `window` unconfirmed (a reader task counts the acks).
async fn produce(
    mut c: Conn,
    job: Produce,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    epoch: Instant,
) -> std::io::Result<()> {
    if job.window > 0 {
        c.confirm_select().await?;
    }
    let Conn {
        mut rd,
        mut wr,
        frame_max,
    } = c;
    let confirmed = Arc::new(AtomicU64::new(0));
    let wake = Arc::new(Notify::new());
    let failed = Arc::new(Mutex::new(None::<String>));
    let synced = Arc::new(AtomicBool::new(false));
    let reader = {
        let (confirmed, wake, counters, failed, synced) = (
            Arc::clone(&confirmed),
            Arc::clone(&wake),
            Arc::clone(&counters),
            Arc::clone(&failed),
            Arc::clone(&synced),
        );
        tokio::spawn(async move {
            let mut highest = 0u64;
            loop {
                if let Err(e) = rd.fill().await {
                    *failed.lock().unwrap() = Some(e.to_string());
                    wake.notify_one();
                    return;
                }
                loop {
                    let f = match rd.next() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            *failed.lock().unwrap() = Some(e.to_string());
                            wake.notify_one();
                            return;
                        }
                    };
                    if f.ids() == (60, 11) {
                        synced.store(true, Relaxed);
                        wake.notify_one();
                    } else if let Some((tag, multiple, ack)) = wire::confirm_of(&f) {
                        let n = if multiple {
                            tag.saturating_sub(highest)
                        } else {
                            1
                        };
                        highest = highest.max(tag);
                        if ack {
                            counters.confirmed.fetch_add(n, Relaxed);
                        } else {
                            counters.nacked.fetch_add(n, Relaxed);
                        }
                        confirmed.fetch_add(n, Relaxed);
                        wake.notify_one();
                    } else if matches!(f.ids(), (10, 50) | (20, 40)) {
                        *failed.lock().unwrap() = Some(wire::closed(f.payload).to_string());
                        wake.notify_one();
                        return;
                    }
                }
            }
        })
    };
    let mut body = vec![0u8; job.size];
    let mut out = Vec::with_capacity(96 * 1024);
    let mut seq = 0u64;
    let started = Instant::now();
    let limit = job.count.unwrap_or(u64::MAX);
    while seq < limit && !stop.load(Relaxed) {
        if let Some(e) = failed.lock().unwrap().take() {
            reader.abort();
            return Err(std::io::Error::other(e));
        }
        // How many may go now: the window, the rate, the batch.
        let mut room = limit - seq;
        if job.window > 0 {
            let inflight = seq - confirmed.load(Relaxed);
            if inflight >= job.window {
                let _ = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
                continue;
            }
            room = room.min(job.window - inflight);
        }
        if job.rate > 0 {
            let due = (started.elapsed().as_secs_f64() * job.rate as f64) as u64 + 1;
            if due <= seq {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            room = room.min(due - seq);
        }
        out.clear();
        let mut batch = 0;
        while room > 0 && out.len() < 64 * 1024 {
            let now = epoch.elapsed().as_nanos() as u64;
            body[0..8].copy_from_slice(&now.to_be_bytes());
            body[8..16].copy_from_slice(&((job.id << 40) | seq).to_be_bytes());
            wire::publish(
                &mut out,
                frame_max,
                &job.exchange,
                &job.key,
                job.persistent,
                &body,
            );
            seq += 1;
            room -= 1;
            batch += 1;
        }
        wr.write_all(&out).await?;
        counters.sent.fetch_add(batch, Relaxed);
    }
    // Wait (bounded) for the last confirms; without confirms, for the reply to a
    // basic.qos sent after the last publish, so the send rate is what the server took,
    // not what the socket buffers held.
    let deadline = Instant::now() + Duration::from_secs(30);
    if job.window == 0 {
        out.clear();
        wire::qos(&mut out, 0);
        wr.write_all(&out).await?;
        while !synced.load(Relaxed) && Instant::now() < deadline {
            if let Some(e) = failed.lock().unwrap().take() {
                reader.abort();
                return Err(std::io::Error::other(e));
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
        }
    } else {
        while confirmed.load(Relaxed) < seq && Instant::now() < deadline {
            if let Some(e) = failed.lock().unwrap().take() {
                reader.abort();
                return Err(std::io::Error::other(e));
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
        }
    }
    reader.abort();
    let _ = wr.shutdown().await;
    Ok(())
}

/// Consumes until the expected count arrived, or the producers are done and nothing
/// came for a second; acks each read's deliveries with one `multiple` ack.
async fn consume(
    mut c: Conn,
    counters: Arc<Counters>,
    producers_done: Arc<AtomicBool>,
    epoch: Instant,
    auto_ack: bool,
    expected: Option<u64>,
) -> std::io::Result<Histogram> {
    let mut hist = Histogram::new();
    let mut last_tag = 0u64;
    let mut acked = 0u64;
    // The body's first 8 bytes arrive in its first body frame.
    let mut want_time = false;
    let mut out = Vec::new();
    loop {
        let all_in = counters.all_received.notified();
        tokio::pin!(all_in);
        all_in.as_mut().enable();
        if expected.is_some_and(|e| counters.received.load(Relaxed) >= e) {
            break;
        }
        let read = tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(1), c.rd.fill()) => r,
            () = &mut all_in => break,
        };
        match read {
            Ok(r) => r?,
            Err(_) => {
                if producers_done.load(Relaxed) && expected.is_none() {
                    break;
                }
                if producers_done.load(Relaxed)
                    && expected.is_some_and(|e| counters.received.load(Relaxed) >= e)
                {
                    break;
                }
                continue;
            }
        }
        while let Some(f) = c.rd.next()? {
            if let Some(tag) = wire::deliver_tag(&f) {
                last_tag = tag;
                want_time = true;
            } else if wire::body_size(&f).is_some() {
            } else if f.kind == wire::BODY && want_time {
                want_time = false;
                if let Some(t) = f.payload.get(0..8) {
                    let sent = u64::from_be_bytes(t.try_into().expect("8 bytes"));
                    let now = epoch.elapsed().as_nanos() as u64;
                    hist.record(now.saturating_sub(sent));
                }
                let n = counters.received.fetch_add(1, Relaxed) + 1;
                let now = epoch.elapsed().as_nanos() as u64;
                counters.last_received_ns.fetch_max(now.max(1), Relaxed);
                if expected == Some(n) {
                    counters.all_received.notify_waiters();
                }
            } else if matches!(f.ids(), (10, 50) | (20, 40)) {
                return Err(wire::closed(f.payload));
            }
        }
        if !auto_ack && last_tag > acked {
            out.clear();
            wire::ack(&mut out, last_tag, true);
            c.wr.write_all(&out).await?;
            acked = last_tag;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
    Ok(hist)
}
