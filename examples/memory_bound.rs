//! The memory bound of `trackswitch serve`, measured: floods a server (a child process)
//! under a memory watermark and reports its peak RSS, for four shapes of flood and two
//! watermarks, then fits `RSS <= watermark x F + C` per shape.
//!
//! ```text
//! cargo build --release --bin trackswitch
//! cargo run --release --example memory_bound -- [--watermarks 64,256] [--seconds 20]
//! ```
//!
//! - `small-body`: 4 publishers, 16-byte bodies, one queue, no consumer;
//! - `header-heavy`: 4 publishers, empty bodies with 60 KB of headers;
//! - `many-queue`: 4 publishers, 1 KB bodies to a fanout bound to 1,000 queues;
//! - `unfinished`: 64 connections each announcing a 32 MiB body and sending it slowly,
//!   never finishing.
//!
//! A flood stops when every publisher has been sent `connection.blocked` (then runs two
//! more seconds) or after `--seconds`. RSS is the server's `VmHWM` (peak resident set)
//! from `/proc`; Linux only. Loopback only, every wait bounded.

#[allow(dead_code, unreachable_pub)] // shared with the wire tests; this uses a subset
#[path = "../tests/amqp_common/raw.rs"]
mod raw;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use raw::*;

/// Bound of every single wait in the raw helpers.
const LIMIT: Duration = Duration::from_secs(30);

/// Measures the memory bound of `trackswitch serve` under floods.
#[derive(clap::Parser)]
#[command(name = "memory_bound")]
struct Args {
    /// The server binary
    #[arg(long, default_value = "target/release/trackswitch")]
    server: String,
    /// Watermarks to measure at, MiB, comma-separated (two or more for the fit)
    #[arg(long, default_value = "64,256", value_delimiter = ',')]
    watermarks: Vec<u64>,
    /// Most seconds a flood runs
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=300))]
    seconds: u64,
}

#[derive(Clone, Copy)]
enum Shape {
    SmallBody,
    HeaderHeavy,
    ManyQueue,
    Unfinished,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::SmallBody => "small-body",
            Shape::HeaderHeavy => "header-heavy",
            Shape::ManyQueue => "many-queue",
            Shape::Unfinished => "unfinished",
        }
    }

    fn publishers(self) -> usize {
        match self {
            Shape::Unfinished => 64,
            _ => 4,
        }
    }
}

/// A server child process; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(bin: &str, watermark: u64) -> Server {
        let dir = std::env::temp_dir().join(format!("memory_bound-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let config = dir.join(format!("config-{watermark}.json"));
        std::fs::write(
            &config,
            format!(
                r#"{{"limits": {{"memory_high_watermark": {watermark}, "max_connections": 200}}}}"#
            ),
        )
        .expect("write the config");
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--in-memory",
                "--listen",
                "127.0.0.1:0",
                "--management",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config)
            .env("TRACKSWITCH_LOG", "warn,trackswitch=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} (cargo build --release --bin trackswitch): {e}")
            });
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("addr=") {
                    let addr = line[at + 5..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(LIMIT)
            .expect("the server reports its address");
        Server { child, addr }
    }

    /// The server's peak resident set so far, bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

/// Opens a publisher: handshake (announcing `connection.blocked`) and channel 1, with
/// `setup` frames; returns it once channel 1 is open and `setup` is answered.
async fn open(addr: &str, setup: &[u8], answers: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut bytes = handshake_blocked_capable(131_072, 0);
    bytes.extend(channel_open(1));
    bytes.extend_from_slice(setup);
    s.write_all(&bytes).await.expect("write");
    let mut got = Vec::new();
    read_until(&mut s, &mut got, |fs| {
        fs.iter().filter(|(k, ch, _)| *k == 1 && *ch == 1).count() > answers
    })
    .await;
    s
}

/// Runs one flood; returns the server's peak RSS.
async fn flood(bin: &str, shape: Shape, watermark: u64, seconds: u64) -> u64 {
    let server = Server::start(bin, watermark);
    let addr = server.addr.clone();
    // Topology first, from a connection of its own.
    match shape {
        Shape::ManyQueue => {
            let mut setup = Vec::new();
            for i in 0..1000 {
                setup.extend(declare_queue(1, &format!("q{i}")));
                setup.extend(bind_queue(1, &format!("q{i}"), "amq.fanout", ""));
            }
            drop(open(&addr, &setup, 2000).await);
        }
        _ => drop(open(&addr, &declare_queue(1, "q"), 1).await),
    }
    let blocked = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..shape.publishers() {
        let s = open(&addr, &[], 0).await;
        let (mut rd, mut wr) = s.into_split();
        let blocked = Arc::clone(&blocked);
        // Reader: counts this connection once it is told connection.blocked.
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            while let Ok(Ok(n)) = tokio::time::timeout_at(deadline.into(), rd.read(&mut buf)).await
            {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if frames(&got)
                    .iter()
                    .any(|(k, ch, p)| *k == 1 && *ch == 0 && ids(p) == (10, 60))
                {
                    blocked.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                if got.len() > 1 << 20 {
                    got.clear();
                }
            }
        }));
        // Writer: publishes until the deadline (the server stops reading when blocked).
        tasks.push(tokio::spawn(async move {
            let batch = match shape {
                Shape::SmallBody => {
                    let one = publish(1, "q", None, &[b'b'; 16], 16);
                    one.repeat(1000)
                }
                Shape::HeaderHeavy => {
                    let t = table(&[string_field("pad", &[b'h'; 60_000])]);
                    publish(1, "q", Some(&t), &[], 0).repeat(4)
                }
                Shape::ManyQueue => {
                    publish_to(1, "amq.fanout", "", None, &[b'b'; 1024], 1024).repeat(64)
                }
                Shape::Unfinished => {
                    let mut start = publish(1, "q", None, &[], 32 << 20);
                    start.extend(body_frame(1, &[b'u'; 128 * 1024 - 8]));
                    start
                }
            };
            let more = body_frame(1, &[b'u'; 128 * 1024 - 8]);
            let mut sent = 0;
            loop {
                let bytes = match shape {
                    // 32 MiB is 256 frames: stop short of finishing.
                    Shape::Unfinished if sent >= 250 => break,
                    Shape::Unfinished if sent > 0 => &more,
                    _ => &batch,
                };
                sent += 1;
                match tokio::time::timeout_at(deadline.into(), wr.write_all(bytes)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
                if matches!(shape, Shape::Unfinished) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            drop(wr);
        }));
    }
    let mut peak = 0;
    let mut all_blocked_at = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(server.peak_rss());
        if blocked.load(Ordering::Relaxed) == shape.publishers() {
            let at = *all_blocked_at.get_or_insert_with(Instant::now);
            if at.elapsed() > Duration::from_secs(2) {
                break;
            }
        }
    }
    peak = peak.max(server.peak_rss());
    for t in tasks {
        t.abort();
    }
    eprintln!(
        "{} at {} MiB: {} of {} publishers blocked, peak RSS {:.0} MiB",
        shape.name(),
        watermark >> 20,
        blocked.load(Ordering::Relaxed),
        shape.publishers(),
        peak as f64 / (1 << 20) as f64
    );
    peak
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let watermarks: Vec<u64> = args.watermarks.iter().map(|m| m << 20).collect();
    println!("| flood | watermark | peak RSS | RSS / watermark |\n|---|---|---|---|");
    let mut fits = Vec::new();
    for shape in [
        Shape::SmallBody,
        Shape::HeaderHeavy,
        Shape::ManyQueue,
        Shape::Unfinished,
    ] {
        let mut points = Vec::new();
        for &w in &watermarks {
            let rss = rt.block_on(flood(&args.server, shape, w, args.seconds));
            println!(
                "| {} | {} MiB | {:.0} MiB | {:.2} |",
                shape.name(),
                w >> 20,
                rss as f64 / (1 << 20) as f64,
                rss as f64 / w as f64
            );
            points.push((w as f64, rss as f64));
        }
        if let (Some(&(w1, r1)), Some(&(w2, r2))) = (points.first(), points.last()) {
            if w2 > w1 {
                let f = (r2 - r1) / (w2 - w1);
                fits.push((shape.name(), f, r1 - f * w1));
            }
        }
    }
    println!("\n| flood | F | C |\n|---|---|---|");
    for (name, f, c) in &fits {
        println!("| {name} | {f:.2} | {:.0} MiB |", c / (1 << 20) as f64);
    }
    if let Some(f) = fits.iter().map(|x| x.1).reduce(f64::max) {
        let c = fits.iter().map(|x| x.2).fold(0.0f64, f64::max);
        println!(
            "\nbound over these floods: RSS <= watermark x {f:.2} + {:.0} MiB",
            c / (1 << 20) as f64
        );
    }
}
