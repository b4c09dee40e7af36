//! The writer task: owns the socket's write half, behind a queue bounded in bytes.
//!
//! The connection task hands it finished frames ([`Outbox::send`]); the writer writes
//! them in order, each under the write timeout, and sends a heartbeat whenever it has
//! been idle for half the heartbeat interval. [`Outbox::wait_room`] is the
//! backpressure: the connection takes deliveries from the broker only while fewer than
//! `limit` bytes wait to be written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc};
use tokio::time::timeout;

use super::codec;

/// What the connection task tells the writer.
#[derive(Debug)]
enum Out {
    Bytes(Vec<u8>),
    /// Send a heartbeat after this long without writing (`None`: never).
    Heartbeat(Option<Duration>),
}

/// State shared by the connection task and the writer.
#[derive(Debug, Default)]
struct Gauge {
    /// Bytes handed to the writer and not yet written.
    queued: AtomicUsize,
    /// The writer has stopped (socket error, stall or end).
    closed: AtomicBool,
    drained: Notify,
}

/// The connection task's side of the writer.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Out>,
    gauge: Arc<Gauge>,
    limit: usize,
}

/// The write half of a client's byte stream (TCP, or TLS over TCP).
pub(crate) type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// The writer is gone: the socket is dead or stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterGone;

impl Outbox {
    /// Spawns the writer task for `wr`.
    pub(crate) fn spawn(
        wr: WriteHalf,
        limit: usize,
        write_timeout: Duration,
    ) -> (Outbox, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(64);
        let gauge = Arc::new(Gauge::default());
        let task = tokio::spawn(write_loop(wr, rx, Arc::clone(&gauge), write_timeout));
        (Outbox { tx, gauge, limit }, task)
    }

    /// Waits until fewer than `limit` bytes are queued (or the writer is gone).
    pub(crate) async fn wait_room(&self) {
        loop {
            let drained = self.gauge.drained.notified();
            if self.has_room() || self.gauge.closed.load(SeqCst) {
                return;
            }
            drained.await;
        }
    }

    /// Whether fewer than `limit` bytes are queued.
    pub(crate) fn has_room(&self) -> bool {
        self.gauge.queued.load(SeqCst) < self.limit
    }

    /// Queues bytes for writing, after waiting for room.
    pub(crate) async fn send(&self, bytes: Vec<u8>) -> Result<(), WriterGone> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.wait_room().await;
        if self.gauge.closed.load(SeqCst) {
            return Err(WriterGone);
        }
        self.gauge.queued.fetch_add(bytes.len(), SeqCst);
        self.tx
            .send(Out::Bytes(bytes))
            .await
            .map_err(|_| WriterGone)
    }

    /// Sets the heartbeat interval (seconds, 0 = off): the writer sends a heartbeat
    /// after half of it without other writes.
    pub(crate) async fn set_heartbeat(&self, seconds: u16) -> Result<(), WriterGone> {
        let idle = (seconds > 0).then(|| Duration::from_millis(u64::from(seconds) * 500));
        self.tx
            .send(Out::Heartbeat(idle))
            .await
            .map_err(|_| WriterGone)
    }

    /// Whether the writer has stopped.
    pub(crate) fn is_closed(&self) -> bool {
        self.gauge.closed.load(SeqCst)
    }
}

async fn write_loop(
    mut wr: WriteHalf,
    mut rx: mpsc::Receiver<Out>,
    gauge: Arc<Gauge>,
    write_timeout: Duration,
) {
    let mut idle: Option<Duration> = None;
    let mut heartbeat = Vec::new();
    codec::write_heartbeat(&mut heartbeat);
    loop {
        let next = match idle {
            Some(d) => match timeout(d, rx.recv()).await {
                Ok(next) => next,
                Err(_) => match timeout(write_timeout, wr.write_all(&heartbeat)).await {
                    Ok(Ok(())) => continue,
                    _ => break,
                },
            },
            None => rx.recv().await,
        };
        match next {
            None => break,
            Some(Out::Heartbeat(d)) => idle = d,
            Some(Out::Bytes(b)) => {
                let ok = matches!(timeout(write_timeout, wr.write_all(&b)).await, Ok(Ok(())));
                gauge.queued.fetch_sub(b.len(), SeqCst);
                gauge.drained.notify_waiters();
                if !ok {
                    break;
                }
            }
        }
    }
    gauge.closed.store(true, SeqCst);
    gauge.drained.notify_waiters();
    rx.close();
    let _ = timeout(Duration::from_secs(1), wr.shutdown()).await;
}
