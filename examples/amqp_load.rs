//! A bounded AMQP 0-9-1 load generator (target T8): publish without and with
//! confirms, then consume with manual acks, over N connections, against any server on
//! loopback. Prints msgs/s per phase, so `trackswitch serve` and a RabbitMQ can be
//! measured back to back with the same loader.
//!
//! ```text
//! cargo run --release --example amqp_load -- --url amqp://guest:guest@127.0.0.1:5672/%2f \
//!     [--connections 4] [--messages 200000] [--size 16] [--seconds 60]
//! ```
//!
//! Each connection publishes `messages / connections` messages of `size` bytes to its
//! own queue (`amqp_load-<run>-<i>`) through the default exchange, in each publish
//! phase; the consume phase drains them all (prefetch 500, one ack per message).
//! Every phase stops after `--seconds` and reports what it did by then. Only
//! loopback URLs are accepted.

use std::time::{Duration, Instant};

use futures_core::Stream;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// A bounded AMQP 0-9-1 load generator: publish, publish with confirms, consume.
#[derive(clap::Parser)]
#[command(name = "amqp_load")]
struct Args {
    /// The server (loopback only)
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// Connections, each with its own queue
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    connections: u16,
    /// Messages per phase, over all connections
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    messages: u32,
    /// Body size in bytes
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(0..=1 << 20))]
    size: u32,
    /// Bound on each phase
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
}

fn parse() -> Result<Args, String> {
    let a = <Args as clap::Parser>::parse();
    let host = a
        .url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.rsplit('@').next())
        .unwrap_or("");
    if !(host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")) {
        return Err(format!("refusing a non-loopback URL: {}", a.url));
    }
    Ok(a)
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

fn s(text: &str) -> ShortString {
    text.into()
}

async fn open(url: &str) -> Result<(Connection, Channel), lapin::Error> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    Ok((conn, ch))
}

/// Publishes `n` messages to `queue`; with `confirms`, keeps at most 1,000
/// unconfirmed. Returns how many were published (and confirmed) before `deadline`.
async fn publish(
    ch: &Channel,
    queue: &str,
    n: usize,
    size: usize,
    confirms: bool,
    deadline: Instant,
) -> Result<usize, lapin::Error> {
    let body = vec![b'x'; size];
    let mut pending = std::collections::VecDeque::new();
    let mut done = 0;
    for _ in 0..n {
        if Instant::now() >= deadline {
            break;
        }
        let confirm = ch
            .basic_publish(
                s(""),
                s(queue),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await?;
        if confirms {
            pending.push_back(confirm);
            if pending.len() >= 1_000 {
                pending.pop_front().expect("non-empty").await?;
                done += 1;
            }
        } else {
            done += 1;
        }
    }
    while let Some(c) = pending.pop_front() {
        c.await?;
        done += 1;
    }
    Ok(done)
}

/// Waits until `queue` holds `n` messages (the server has taken every publish).
async fn settled(
    ch: &Channel,
    queue: &str,
    n: usize,
    deadline: Instant,
) -> Result<(), lapin::Error> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    while Instant::now() < deadline {
        let q = ch
            .queue_declare(s(queue), passive, FieldTable::default())
            .await?;
        if q.message_count() as usize >= n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn consume(
    ch: &Channel,
    queue: &str,
    n: usize,
    deadline: Instant,
) -> Result<usize, lapin::Error> {
    ch.basic_qos(500, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            s(queue),
            s(""),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut got = 0;
    while got < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, next(&mut consumer)).await {
            Ok(Some(Ok(d))) => {
                d.ack(BasicAckOptions::default()).await?;
                got += 1;
            }
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(got)
}

struct Phase {
    name: &'static str,
    messages: usize,
    seconds: f64,
}

async fn run(a: &Args) -> Result<Vec<Phase>, lapin::Error> {
    let run_id = std::process::id();
    let per = (a.messages / u32::from(a.connections)) as usize;
    let mut links = Vec::new();
    for i in 0..a.connections {
        let (conn, ch) = open(&a.url).await?;
        let q = format!("amqp_load-{run_id}-{i}");
        ch.queue_declare(s(&q), QueueDeclareOptions::default(), FieldTable::default())
            .await?;
        links.push((conn, ch, q));
    }
    let mut phases = Vec::new();
    let mut queued = vec![0usize; links.len()];
    for (name, confirms) in [("publish", false), ("publish + confirms", true)] {
        if confirms {
            for (_, ch, _) in &links {
                ch.confirm_select(ConfirmSelectOptions::default()).await?;
            }
        }
        let start = Instant::now();
        let deadline = start + Duration::from_secs(a.seconds);
        let counts = futures_join(links.iter().map(|(_, ch, q)| {
            let ch = ch.clone();
            let q = q.clone();
            let size = a.size as usize;
            tokio::spawn(async move {
                let n = publish(&ch, &q, per, size, confirms, deadline).await?;
                Ok::<usize, lapin::Error>(n)
            })
        }))
        .await?;
        // Without confirms, publishing ends when the bytes are written: wait until
        // the server has queued them all, so the rate is the server's.
        for (((_, ch, q), n), held) in links.iter().zip(&counts).zip(&mut queued) {
            *held += n;
            settled(ch, q, *held, deadline).await?;
        }
        phases.push(Phase {
            name,
            messages: counts.iter().sum(),
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    // Consumers on fresh channels (the publish channels are in confirm mode now).
    let mut consumers = Vec::new();
    for ((conn, _, q), &n) in links.iter().zip(&queued) {
        consumers.push((conn.create_channel().await?, q.clone(), n));
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.seconds);
    let counts = futures_join(
        consumers
            .into_iter()
            .map(|(ch, q, n)| tokio::spawn(async move { consume(&ch, &q, n, deadline).await })),
    )
    .await?;
    phases.push(Phase {
        name: "consume + ack",
        messages: counts.iter().sum(),
        seconds: start.elapsed().as_secs_f64(),
    });
    for (conn, ch, q) in links {
        let _ = ch.queue_delete(s(&q), QueueDeleteOptions::default()).await;
        let _ = conn.close(200, s("bye")).await;
    }
    Ok(phases)
}

/// Awaits every task; the first error wins.
async fn futures_join<T>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<Result<T, lapin::Error>>>,
) -> Result<Vec<T>, lapin::Error> {
    let mut out = Vec::new();
    for t in tasks.collect::<Vec<_>>() {
        out.push(t.await.expect("load task panicked")?);
    }
    Ok(out)
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("amqp_load: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(&a)) {
        Ok(phases) => {
            println!(
                "| phase | connections | messages | seconds | msgs/s |\n|---|---|---|---|---|"
            );
            for p in phases {
                println!(
                    "| {} | {} | {} | {:.2} | {:.0} |",
                    p.name,
                    a.connections,
                    p.messages,
                    p.seconds,
                    p.messages as f64 / p.seconds
                );
            }
        }
        Err(e) => {
            eprintln!("amqp_load: {e}");
            std::process::exit(1);
        }
    }
}
