//! Conformance rows X01 and X03 (`shared/CONFORMANCE.md`): thread safety of the public
//! handles, and bounded buffering for slow consumers. X02 is `tests/broker_stress.rs`.

#![cfg(feature = "broker")]

mod broker_common2;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use broker_common2::*;
use trackswitch::broker::{
    BUFFER_CAP, Broker, Channel, Connection, ConsumeOptions, Consumer, Delivery,
};

// ----- X01 Send + Sync -----

fn send_sync<T: Send + Sync>() {}

#[test]
fn c_x01_handles_are_send_and_sync() {
    send_sync::<Broker>();
    send_sync::<Connection>();
    send_sync::<Channel>();
    send_sync::<Consumer>();
    send_sync::<Delivery>();
}

#[test]
fn c_x01_producers_and_consumers_on_many_threads() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    let conn = Arc::new(conn);
    let total = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + PATIENCE;
    let consumers: Vec<_> = (0..3)
        .map(|i| {
            let conn = Arc::clone(&conn);
            let total = Arc::clone(&total);
            thread::spawn(move || {
                let ch = conn.open_channel().unwrap();
                ch.qos(0, 5, false).unwrap();
                let c = consume(&ch, "q", &format!("c{i}"));
                let mut n = 0;
                // Until all 900 are acked by someone.
                while total.load(Ordering::SeqCst) < 900 {
                    assert!(Instant::now() < deadline, "consumers stalled");
                    if let Ok(d) = c.recv_timeout(Duration::from_millis(20)) {
                        d.ack().unwrap();
                        total.fetch_add(1, Ordering::SeqCst);
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    // A Channel shared by publisher threads.
    let ch = Arc::new(ch);
    let publishers: Vec<_> = (0..3)
        .map(|t| {
            let ch = Arc::clone(&ch);
            thread::spawn(move || {
                for i in 0..300 {
                    publish(&ch, "q", &format!("{t}-{i}"));
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    let total: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, 900);
    assert_eq!(counts(&b, "q"), (0, 0, 0));
}

// ----- X03 bounded buffers -----

/// Publishes `n` messages from another thread while checking, after every publish,
/// that the consumer `tag` holds at most `max_buffered` undelivered messages and
/// `max_unacked` unsettled ones; returns the checks made.
fn publish_checking(
    b: &Broker,
    ch: Arc<Channel>,
    queue: &'static str,
    n: usize,
    tag: &str,
    max_buffered: u32,
    max_unacked: u32,
) {
    let done = Arc::new(AtomicBool::new(false));
    let publisher = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for i in 0..n {
                publish(&ch, queue, &format!("m{i}"));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut checks = 0;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let c = consumer_info(b, tag).expect("the consumer exists");
        assert!(c.buffered <= max_buffered, "{c:?}");
        assert!(c.unacked <= max_unacked, "{c:?}");
        checks += 1;
        if finished {
            break;
        }
        thread::yield_now();
    }
    publisher.join().unwrap();
    assert!(checks > 0);
}

#[test]
fn c_x03_prefetch_bounds_a_slow_consumer() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 10, false).unwrap();
    let c = consume(&ch, "q", "slow");
    let ch = Arc::new(ch);
    publish_checking(&b, Arc::clone(&ch), "q", 2000, "slow", 10, 10);
    let q = queue_info(&b, "q").unwrap();
    assert_eq!((q.ready, q.unacked), (1990, 10));
    // Taking messages without acking does not let more in.
    let held: Vec<_> = (0..10).map(|_| recv(&c)).collect();
    assert_nothing(&c);
    let info = consumer_info(&b, "slow").unwrap();
    assert_eq!((info.buffered, info.unacked), (0, 10));
    // Acking lets exactly as many in.
    ch.ack(held[3].delivery_tag(), true).unwrap();
    let info = consumer_info(&b, "slow").unwrap();
    assert_eq!((info.buffered, info.unacked), (4, 10));
    assert_eq!(counts(&b, "q").0, 1986);
}

#[test]
fn c_x03_prefetch_above_buffer_cap_still_buffers_at_most_buffer_cap() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let prefetch = (BUFFER_CAP * 2) as u16;
    ch.qos(0, prefetch, false).unwrap();
    let c = consume(&ch, "q", "slow");
    let ch = Arc::new(ch);
    publish_checking(
        &b,
        Arc::clone(&ch),
        "q",
        1000,
        "slow",
        BUFFER_CAP,
        BUFFER_CAP,
    );
    assert_eq!(counts(&b, "q").0, 1000 - u64::from(BUFFER_CAP));
    // Reading (without acking) refills the buffer up to the prefetch.
    let mut held = Vec::new();
    for _ in 0..prefetch {
        held.push(recv(&c));
        let info = consumer_info(&b, "slow").unwrap();
        assert!(info.buffered <= BUFFER_CAP, "{info:?}");
        assert!(info.unacked <= u32::from(prefetch), "{info:?}");
    }
    assert_nothing(&c);
    assert_eq!(counts(&b, "q").0, 1000 - u64::from(prefetch));
}

#[test]
fn c_x03_no_ack_consumer_buffers_at_most_buffer_cap() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let c = ch
        .consume(
            "q",
            &ConsumeOptions {
                tag: "fast".into(),
                ..ConsumeOptions::no_ack()
            },
        )
        .unwrap();
    let ch = Arc::new(ch);
    publish_checking(&b, Arc::clone(&ch), "q", 2000, "fast", BUFFER_CAP, 0);
    assert_eq!(counts(&b, "q").0, 2000 - u64::from(BUFFER_CAP));
    // Draining the buffer brings the rest, BUFFER_CAP at a time, in order.
    for i in 0..2000 {
        let d = recv(&c);
        assert_eq!(text(&d), format!("m{i}"));
        assert!(consumer_info(&b, "fast").unwrap().buffered <= BUFFER_CAP);
    }
    assert_eq!(counts(&b, "q"), (0, 0, 1));
}

#[test]
fn c_x03_unlimited_prefetch_buffers_at_most_buffer_cap() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let _c = consume(&ch, "q", "slow");
    let ch = Arc::new(ch);
    publish_checking(
        &b,
        Arc::clone(&ch),
        "q",
        1000,
        "slow",
        BUFFER_CAP,
        BUFFER_CAP,
    );
    assert_eq!(counts(&b, "q").0, 1000 - u64::from(BUFFER_CAP));
}

#[test]
fn c_x03_memory_is_released_when_messages_are_settled() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let body = "x".repeat(1000);
    publish(&ch, "q", &body);
    // A message costs its body and then some (properties, bookkeeping).
    let one = b.memory_used();
    assert!((1000..2000).contains(&one), "{one}");
    for _ in 1..50 {
        publish(&ch, "q", &body);
    }
    assert_eq!(b.memory_used(), 50 * one);
    ch.qos(0, 10, false).unwrap();
    let c = consume(&ch, "q", "c");
    // Held by the consumer, still counted.
    assert_eq!(b.memory_used(), 50 * one);
    for _ in 0..50 {
        recv(&c).ack().unwrap();
    }
    assert_eq!(b.memory_used(), 0);
}

// ----- D01 under concurrency -----

#[test]
fn c_d01_concurrent_exclusive_consume_admits_one() {
    for round in 0..200 {
        let (b, conn, ch) = setup();
        declare(&ch, "q");
        let conn = Arc::new(conn);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let (conn, barrier) = (Arc::clone(&conn), Arc::clone(&barrier));
                thread::spawn(move || {
                    let ch = conn.open_channel().unwrap();
                    // Both exclusive, or one exclusive and one plain.
                    let o = ConsumeOptions {
                        exclusive: i == 0 || round % 2 == 0,
                        ..ConsumeOptions::default()
                    };
                    barrier.wait();
                    let r = ch.consume("q", &o);
                    r.map(|c| (c, ch))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert_eq!(e.reply_code(), 403, "{e}");
            }
        }
        assert_eq!(counts(&b, "q").2, 1, "round {round}");
    }
}

#[test]
fn c_d01_concurrent_consumes_with_one_tag_on_a_channel_admit_one() {
    for round in 0..200 {
        let (b, conn, ch) = setup();
        declare(&ch, "q");
        let ch = Arc::new(ch);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (ch, barrier) = (Arc::clone(&ch), Arc::clone(&barrier));
                thread::spawn(move || {
                    let o = ConsumeOptions {
                        tag: "same".into(),
                        ..ConsumeOptions::default()
                    };
                    barrier.wait();
                    ch.consume("q", &o)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(
            !failed.is_empty(),
            "round {round}: both consumes took the tag"
        );
        // The 530 closed the connection (and so the winner's consumer).
        assert!(failed.iter().all(|e| e.reply_code() == 530), "{failed:?}");
        assert!(!conn.is_open());
        assert_eq!(counts(&b, "q").2, 0, "round {round}");
    }
}

/// Regression: a consume racing with its channel's close could add a consumer the
/// close had already ended, which then stranded messages in its buffer.
#[test]
fn c_d10_consume_racing_channel_close_leaves_no_consumer() {
    for round in 0..300 {
        let (b, conn, ch) = setup();
        declare(&ch, "q");
        let victim = Arc::new(conn.open_channel().unwrap());
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let consumer = {
            let (victim, barrier) = (Arc::clone(&victim), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                victim.consume("q", &ConsumeOptions::default())
            })
        };
        barrier.wait();
        victim.close();
        let result = consumer.join().unwrap();
        publish_n(&ch, "q", 3);
        assert_eq!(counts(&b, "q"), (3, 0, 0), "round {round}: {result:?}");
        if let Err(e) = result {
            assert!(e.is_closed(), "round {round}: {e}");
        }
    }
}
