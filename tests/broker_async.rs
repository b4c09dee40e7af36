//! Async consumers (rows D and X01 of `shared/CONFORMANCE.md`): [`Consumer`] as a
//! `futures_core::Stream` and through `poll_recv`, under tokio and under a minimal
//! hand-written executor (a thread-parking `block_on`), with publishers on other
//! threads.

#![cfg(feature = "broker")]

mod broker_common2;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use broker_common2::*;
use futures_core::Stream;
use trackswitch::broker::{CancelReason, Channel, Consumer, Delivery};

/// The next item of the consumer's stream (a tiny `StreamExt::next`).
fn next(c: &mut Consumer) -> impl Future<Output = Option<Delivery>> + '_ {
    poll_fn(move |cx| Pin::new(&mut *c).poll_next(cx))
}

// ----- a minimal executor -----

/// Wakes a parked thread, and counts wakes.
struct ThreadWaker {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `fut` to completion on this thread, parking while it is pending; panics if it
/// takes longer than [`PATIENCE`] (a lost wake-up would otherwise hang the test).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    }));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let now = Instant::now();
        assert!(now < deadline, "block_on: the future was never woken");
        // Spurious unparks are fine: the future is polled again.
        thread::park_timeout(deadline - now);
    }
}

fn counting_waker() -> (Arc<ThreadWaker>, Waker) {
    let w = Arc::new(ThreadWaker {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    });
    (Arc::clone(&w), Waker::from(w))
}

/// Publishes `m0` .. `m{n-1}` to `queue` from a new thread, pausing now and then so
/// the consumer often finds its buffer empty.
fn publisher(ch: Arc<Channel>, queue: &'static str, n: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for i in 0..n {
            publish(&ch, queue, &format!("m{i}"));
            if i % 50 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
    })
}

// ----- hand-written executor -----

#[test]
fn c_x01_poll_recv_under_block_on_with_publisher_thread() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 7, false).unwrap();
    let consumer = consume(&ch, "q", "c");
    let ch = Arc::new(ch);
    let p = publisher(Arc::clone(&ch), "q", 600);
    for i in 0..600 {
        let d = block_on(poll_fn(|cx| consumer.poll_recv(cx))).expect("the consumer is live");
        assert_eq!(text(&d), format!("m{i}"));
        assert!(!d.redelivered());
        d.ack().unwrap();
    }
    p.join().unwrap();
    assert_eq!(counts(&b, "q"), (0, 0, 1));
}

#[test]
fn c_x01_stream_under_block_on_with_publisher_thread() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    let mut consumer = ch
        .consume("q", &trackswitch::broker::ConsumeOptions::no_ack())
        .unwrap();
    let ch = Arc::new(ch);
    let p = publisher(Arc::clone(&ch), "q", 500);
    let got = block_on(async {
        let mut got = Vec::new();
        while got.len() < 500 {
            got.push(text(&next(&mut consumer).await.expect("live")));
        }
        got
    });
    p.join().unwrap();
    assert_eq!(got, (0..500).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[test]
fn c_x01_pending_poll_is_woken_by_a_publish() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    let consumer = consume(&ch, "q", "c");
    let (w, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(consumer.poll_recv(&mut cx).is_pending());
    assert_eq!(w.wakes.load(Ordering::SeqCst), 0);
    let ch = Arc::new(ch);
    publisher(Arc::clone(&ch), "q", 1).join().unwrap();
    assert!(
        w.wakes.load(Ordering::SeqCst) >= 1,
        "a publish wakes the poller"
    );
    match consumer.poll_recv(&mut cx) {
        Poll::Ready(Some(d)) => assert_eq!(text(&d), "m0"),
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[test]
fn c_x01_latest_waker_is_the_one_woken() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    let consumer = consume(&ch, "q", "c");
    let (w1, waker1) = counting_waker();
    let (w2, waker2) = counting_waker();
    assert!(
        consumer
            .poll_recv(&mut Context::from_waker(&waker1))
            .is_pending()
    );
    assert!(
        consumer
            .poll_recv(&mut Context::from_waker(&waker2))
            .is_pending()
    );
    publish(&ch, "q", "x");
    assert_eq!(w2.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(
        w1.wakes.load(Ordering::SeqCst),
        0,
        "a replaced waker is not woken"
    );
}

#[test]
fn c_x01_stream_ends_when_cancelled_from_another_thread() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    let mut consumer = consume(&ch, "q", "c");
    let ch = Arc::new(ch);
    let canceller = {
        let ch = Arc::clone(&ch);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            assert!(ch.cancel("c").unwrap());
        })
    };
    assert!(block_on(next(&mut consumer)).is_none());
    canceller.join().unwrap();
    assert_eq!(consumer.cancel_reason(), Some(CancelReason::Cancelled));
    // Ended streams stay ended.
    assert!(block_on(next(&mut consumer)).is_none());
}

#[test]
fn c_x01_stream_ends_when_the_channel_closes() {
    let (_b, conn, ch) = setup();
    declare(&ch, "q");
    let ch1 = conn.open_channel().unwrap();
    let consumer = consume(&ch1, "q", "c");
    let (w, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(consumer.poll_recv(&mut cx).is_pending());
    ch1.close();
    assert!(
        w.wakes.load(Ordering::SeqCst) >= 1,
        "the end wakes the poller"
    );
    assert!(matches!(consumer.poll_recv(&mut cx), Poll::Ready(None)));
    assert_eq!(consumer.cancel_reason(), Some(CancelReason::ChannelClosed));
}

#[test]
fn c_x01_stream_ends_when_the_queue_is_deleted() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    let mut consumer = consume(&ch, "q", "c");
    let ch = Arc::new(ch);
    let deleter = {
        let ch = Arc::clone(&ch);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            ch.queue_delete("q", false, false).unwrap();
        })
    };
    assert!(block_on(next(&mut consumer)).is_none());
    deleter.join().unwrap();
    assert_eq!(consumer.cancel_reason(), Some(CancelReason::QueueDeleted));
}

// ----- tokio -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_x01_stream_under_tokio_with_publisher_thread() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 5, false).unwrap();
    let mut consumer = consume(&ch, "q", "c");
    let ch = Arc::new(ch);
    let p = publisher(Arc::clone(&ch), "q", 800);
    for i in 0..800 {
        let d = tokio::time::timeout(PATIENCE, next(&mut consumer))
            .await
            .expect("a delivery in time")
            .expect("the consumer is live");
        assert_eq!(text(&d), format!("m{i}"));
        d.ack().unwrap();
    }
    p.join().unwrap();
    assert_eq!(counts(&b, "q"), (0, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_x01_many_consumer_tasks_under_tokio() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    let conn = Arc::new(conn);
    let total = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + PATIENCE;
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let ch = conn.open_channel().unwrap();
            ch.qos(0, 3, false).unwrap();
            let mut consumer = consume(&ch, "q", &format!("c{i}"));
            let total = Arc::clone(&total);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                // Until every message has been seen by some task.
                while total.load(Ordering::SeqCst) < 1000 {
                    assert!(Instant::now() < deadline, "consumers stalled");
                    let tick = Duration::from_millis(50);
                    if let Ok(d) = tokio::time::timeout(tick, next(&mut consumer)).await {
                        let d = d.expect("the consumer is live");
                        seen.push(text(&d));
                        d.ack().unwrap();
                        total.fetch_add(1, Ordering::SeqCst);
                    }
                }
                drop(ch);
                seen
            })
        })
        .collect();
    let ch = Arc::new(ch);
    let p = publisher(Arc::clone(&ch), "q", 1000);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("consumer task"));
    }
    p.join().unwrap();
    all.sort();
    let mut want: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(all, want, "each message consumed exactly once");
    assert_eq!(counts(&b, "q"), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_x01_stream_ends_under_tokio_when_channel_closes() {
    let (_b, conn, _ch) = setup();
    let ch1 = Arc::new(conn.open_channel().unwrap());
    declare(&ch1, "q");
    let mut consumer = consume(&ch1, "q", "c");
    let closer = {
        let ch1 = Arc::clone(&ch1);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            ch1.close();
        })
    };
    let end = tokio::time::timeout(PATIENCE, next(&mut consumer))
        .await
        .expect("the end wakes the task");
    assert!(end.is_none());
    closer.join().unwrap();
}
