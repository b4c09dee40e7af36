//! Conformance rows M01-M06 (TTL, limits, dead letters, priorities, order) of
//! `shared/CONFORMANCE.md`, against the public API of `trackswitch::broker`.
//!
//! Time is a `ManualClock`: expiries run inside `advance`, so every deadline is exact.

mod broker_common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_common::*;
use trackswitch::FieldValue;
use trackswitch::broker::{Channel, ConsumeOptions, Message, TryRecvError};

fn int(n: i64) -> FieldValue {
    FieldValue::LongLongInt(n)
}

/// Declares `dlq` bound to a fresh fanout exchange `dlx`.
fn dead_letter_sink(ch: &Channel, dlx: &str, dlq: &str) {
    declare_x(ch, dlx, "fanout");
    declare_q(ch, dlq);
    bind(ch, dlq, dlx, "");
}

fn last_reason(m: &Message) -> String {
    text(header(m, "x-last-death-reason").expect("x-last-death-reason"))
}

/// The x-death entries of a message.
fn deaths(m: &Message) -> Vec<trackswitch::FieldTable> {
    match header(m, "x-death") {
        Some(FieldValue::Array(a)) => a
            .iter()
            .map(|e| match e {
                FieldValue::Table(t) => t.clone(),
                other => panic!("x-death entry is not a table: {other:?}"),
            })
            .collect(),
        other => panic!("no x-death array: {other:?}"),
    }
}

fn field<'t>(t: &'t trackswitch::FieldTable, name: &str) -> &'t FieldValue {
    t.get(name)
        .unwrap_or_else(|| panic!("no '{name}' in {t:?}"))
}

fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ----- M01 TTL -----

#[test]
fn c_m01_queue_ttl_expires_exactly() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-message-ttl", int(1000))]);
    send(&ch, "", "q", "a");
    env.advance(400);
    send(&ch, "", "q", "b");
    env.advance(599);
    assert_eq!(env.ready("q"), 2);
    env.advance(1);
    assert_eq!(env.ready("q"), 1, "a expired at 1000");
    env.advance(399);
    assert_eq!(env.ready("q"), 1);
    env.advance(1);
    assert_eq!(env.ready("q"), 0, "b expired at 1400");
    assert!(get(&ch, "q").is_none());
    assert_eq!(env.broker.memory_used(), 0);
}

#[test]
fn c_m01_lower_of_queue_and_message_ttl_applies() {
    let env = Env::new();
    let ch = env.ch();
    for (q, args) in [
        ("ttl", vec![("x-message-ttl", int(1000))]),
        ("plain", vec![]),
    ] {
        declare_q_args(&ch, q, &args);
    }
    // Separate queues, so each message is at its head.
    for (q, exp) in [("ttl", 500u64), ("plain", 300)] {
        publish(&ch, "", q, Message::new("m").with_expiration(exp));
    }
    declare_q_args(&ch, "ttl2", &[("x-message-ttl", int(1000))]);
    publish(&ch, "", "ttl2", Message::new("m").with_expiration(2000));
    env.advance(299);
    assert_eq!(
        (env.ready("ttl"), env.ready("plain"), env.ready("ttl2")),
        (1, 1, 1)
    );
    env.advance(1);
    assert_eq!(env.ready("plain"), 0, "per-message 300");
    env.advance(200);
    assert_eq!(env.ready("ttl"), 0, "per-message 500 < queue 1000");
    env.advance(499);
    assert_eq!(env.ready("ttl2"), 1);
    env.advance(1);
    assert_eq!(env.ready("ttl2"), 0, "queue 1000 < per-message 2000");
    // The delivered message keeps its expiration property.
    publish(&ch, "", "plain", Message::new("m").with_expiration(5000));
    let g = get(&ch, "plain").unwrap();
    assert_eq!(
        g.delivery.message().properties.expiration.as_deref(),
        Some("5000")
    );
}

#[test]
fn c_m01_deadline_is_kept_across_requeue() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-message-ttl", int(1000))]);
    send(&ch, "", "q", "m");
    env.advance(500);
    let g = ch.get("q", false).unwrap().unwrap();
    env.advance(400);
    g.delivery.nack(true).unwrap();
    assert_eq!(env.ready("q"), 1);
    env.advance(99);
    assert_eq!(env.ready("q"), 1, "the deadline did not restart at requeue");
    env.advance(1);
    assert_eq!(env.ready("q"), 0);
    // Requeued after its deadline passed while unacked: never delivered again.
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(
        &ch,
        "q2",
        &[
            ("x-message-ttl", int(1000)),
            ("x-dead-letter-exchange", ls("dlx")),
        ],
    );
    send(&ch, "", "q2", "late");
    let cch = env.ch();
    let c = cch.consume("q2", &ConsumeOptions::default()).unwrap();
    let d = c.try_recv().unwrap();
    env.advance(5000);
    assert_eq!(env.ready("dlq"), 0, "unacked messages do not expire");
    drop(c);
    cch.close(); // requeues d
    assert_eq!(env.ready("q2"), 0);
    assert!(get(&ch, "q2").is_none());
    let dead = get(&ch, "dlq").expect("dead-lettered as expired");
    assert_eq!(last_reason(dead.delivery.message()), "expired");
    assert!(d.ack().is_err(), "its channel is closed");
}

#[test]
fn c_m01_expired_messages_are_removed_at_the_head() {
    let env = Env::new();
    let ch = env.ch();
    declare_q(&ch, "q");
    send(&ch, "", "q", "a");
    publish(&ch, "", "q", Message::new("b").with_expiration(100));
    send(&ch, "", "q", "c");
    env.advance(200);
    // b expired but is not at the head: still counted.
    assert_eq!(env.ready("q"), 3);
    let g = ch.get("q", true).unwrap().unwrap();
    assert_eq!(g.delivery.body(), b"a");
    // Checked against RabbitMQ 3.10.8's basic.get: the count is taken after the expired
    // head (b) is dropped.
    assert_eq!(g.message_count, 1);
    assert_eq!(env.ready("q"), 1);
    assert_eq!(drain(&ch, "q"), ["c"]);
}

#[test]
fn c_m01_expired_messages_are_never_delivered() {
    let env = Env::new();
    let ch = env.ch();
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(
        &ch,
        "q",
        &[
            ("x-message-ttl", int(1000)),
            ("x-dead-letter-exchange", ls("dlx")),
        ],
    );
    let cch = env.ch();
    cch.qos(0, 1, false).unwrap();
    let c = cch.consume("q", &ConsumeOptions::default()).unwrap();
    send(&ch, "", "q", "1");
    send(&ch, "", "q", "2");
    send(&ch, "", "q", "3");
    let first = c.try_recv().unwrap();
    env.advance(1000);
    // 2 and 3 expired while the consumer was full: dead-lettered, not delivered.
    first.ack().unwrap();
    assert!(matches!(c.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(drain(&ch, "dlq"), ["2", "3"]);
    // A consumer attaching late and get see nothing either.
    send(&ch, "", "q", "4");
    drop(c);
    env.advance(1000);
    let c2 = cch.consume("q", &ConsumeOptions::default()).unwrap();
    assert!(matches!(c2.try_recv(), Err(TryRecvError::Empty)));
    assert!(get(&ch, "q").is_none());
    assert_eq!(drain(&ch, "dlq"), ["4"]);
}

#[test]
fn c_m01_expired_at_head_is_dead_lettered_or_dropped() {
    let env = Env::new();
    let ch = env.ch();
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(&ch, "with_dlx", &[("x-dead-letter-exchange", ls("dlx"))]);
    declare_q(&ch, "without");
    publish(&ch, "", "with_dlx", Message::new("d").with_expiration(10));
    publish(&ch, "", "without", Message::new("x").with_expiration(10));
    env.advance(10);
    assert_eq!(env.ready("with_dlx"), 0);
    assert_eq!(env.ready("without"), 0);
    let g = get(&ch, "dlq").unwrap();
    assert_eq!(g.delivery.body(), b"d");
    assert_eq!(last_reason(g.delivery.message()), "expired");
    // A delivery holds its message until it is dropped.
    drop(g);
    assert_eq!(env.broker.memory_used(), 0);
}

#[test]
fn c_m01_ttl_zero_delivers_now_or_expires() {
    let env = Env::new();
    let ch = env.ch();
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(
        &ch,
        "q0",
        &[
            ("x-message-ttl", int(0)),
            ("x-dead-letter-exchange", ls("dlx")),
        ],
    );
    declare_q_args(&ch, "pm", &[("x-dead-letter-exchange", ls("dlx"))]);
    // Nobody waiting: expired at once (dead-lettered), without any time passing.
    send(&ch, "", "q0", "nobody");
    publish(&ch, "", "pm", Message::new("nobody-pm").with_expiration(0));
    assert_eq!((env.ready("q0"), env.ready("pm")), (0, 0));
    assert!(get(&ch, "q0").is_none());
    assert_eq!(drain(&ch, "dlq"), ["nobody", "nobody-pm"]);
    // A waiting consumer gets it.
    let cch = env.ch();
    cch.qos(0, 1, false).unwrap();
    let c = cch.consume("q0", &ConsumeOptions::default()).unwrap();
    let cp = cch.consume("pm", &ConsumeOptions::default()).unwrap();
    send(&ch, "", "q0", "waiting");
    publish(&ch, "", "pm", Message::new("waiting-pm").with_expiration(0));
    let d = c.try_recv().unwrap();
    assert_eq!(d.body(), b"waiting");
    assert_eq!(cp.try_recv().unwrap().body(), b"waiting-pm");
    // The consumer is full (prefetch 1): the next one expires.
    send(&ch, "", "q0", "full");
    assert_eq!(env.ready("q0"), 0);
    d.ack().unwrap();
    assert!(matches!(c.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(drain(&ch, "dlq"), ["full"]);
}

// ----- M02 length limits -----

#[test]
fn c_m02_drop_head_by_count() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-max-length", int(2))]);
    declare_q_args(&ch, "zero", &[("x-max-length", int(0))]);
    for i in 1..=4 {
        let p = send(&ch, "", "q", &i.to_string());
        assert!(p.ack, "drop-head accepts every message");
    }
    assert_eq!(drain(&ch, "q"), ["3", "4"]);
    send(&ch, "", "zero", "gone");
    assert_eq!(env.ready("zero"), 0);
    assert_eq!(env.broker.memory_used(), 0);
}

#[test]
fn c_m02_drop_head_dead_letters_with_maxlen() {
    let env = Env::new();
    let ch = env.ch();
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(
        &ch,
        "q",
        &[
            ("x-max-length", int(1)),
            ("x-dead-letter-exchange", ls("dlx")),
        ],
    );
    send(&ch, "", "q", "1");
    send(&ch, "", "q", "2");
    let g = get(&ch, "dlq").unwrap();
    assert_eq!(g.delivery.body(), b"1");
    assert_eq!(last_reason(g.delivery.message()), "maxlen");
    assert_eq!(drain(&ch, "q"), ["2"]);
}

#[test]
fn c_m02_max_length_bytes_counts_body_sizes() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-max-length-bytes", int(10))]);
    send(&ch, "", "q", "aaaa");
    send(&ch, "", "q", "bbbb");
    assert_eq!(env.queue_info("q").unwrap().ready_bytes, 8);
    send(&ch, "", "q", "cc");
    assert_eq!(env.ready("q"), 3, "exactly at the limit");
    send(&ch, "", "q", "d");
    assert_eq!(env.queue_info("q").unwrap().ready_bytes, 7);
    assert_eq!(drain(&ch, "q"), ["bbbb", "cc", "d"]);
    // A message larger than the limit alone: enqueued, then dropped.
    send(&ch, "", "q", "01234567890");
    assert_eq!(env.ready("q"), 0);
    // Properties and headers do not count.
    let m = Message::new("0123456789").with_headers(table(&[("big", ls(&"h".repeat(100)))]));
    publish(&ch, "", "q", m);
    assert_eq!(env.ready("q"), 1);
}

#[test]
fn c_m02_limits_count_ready_messages_only() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-max-length", int(1))]);
    send(&ch, "", "q", "1");
    let unacked = ch.get("q", false).unwrap().unwrap();
    send(&ch, "", "q", "2");
    let info = env.queue_info("q").unwrap();
    assert_eq!(
        (info.ready, info.unacked),
        (1, 1),
        "the unacked one does not count"
    );
    send(&ch, "", "q", "3");
    assert_eq!(drain(&ch, "q"), ["3"]);
    unacked.delivery.ack().unwrap();
    // Bytes likewise.
    declare_q_args(
        &ch,
        "qb",
        &[
            ("x-max-length-bytes", int(4)),
            ("x-overflow", ls("reject-publish")),
        ],
    );
    send(&ch, "", "qb", "aaaa");
    let held = ch.get("qb", false).unwrap().unwrap();
    assert!(send(&ch, "", "qb", "bbbb").ack);
    assert!(!send(&ch, "", "qb", "c").ack);
    held.delivery.ack().unwrap();
}

#[test]
fn c_m02_reject_publish_nacks_and_other_queues_still_get_it() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "fan", "fanout");
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(
        &ch,
        "full",
        &[
            ("x-max-length", int(1)),
            ("x-overflow", ls("reject-publish")),
            // reject-publish never dead-letters, even with a dead-letter exchange.
            ("x-dead-letter-exchange", ls("dlx")),
        ],
    );
    declare_q(&ch, "other");
    bind(&ch, "full", "fan", "");
    bind(&ch, "other", "fan", "");
    ch.confirm_select().unwrap();
    let p1 = send(&ch, "fan", "", "1");
    assert_eq!((p1.seq, p1.ack, p1.queues), (Some(1), true, 2));
    assert!(ch.wait_for_confirms().unwrap());
    let p2 = send(&ch, "fan", "", "2");
    assert_eq!((p2.seq, p2.ack), (Some(2), false), "a confirm nack");
    assert_eq!(p2.queues, 2, "refusing queues are counted");
    assert!(p2.returned.is_none());
    assert!(!ch.wait_for_confirms().unwrap());
    assert!(ch.wait_for_confirms().unwrap(), "reported once");
    // Direct to the full queue: nack too.
    let p3 = send(&ch, "", "full", "3");
    assert_eq!((p3.seq, p3.ack, p3.queues), (Some(3), false, 1));
    assert_eq!(drain(&ch, "other"), ["1", "2"]);
    assert_eq!(drain(&ch, "full"), ["1"], "the queue kept its head");
    assert_eq!(env.ready("dlq"), 0);
    // With room again, accepted.
    let p4 = send(&ch, "fan", "", "4");
    assert_eq!((p4.seq, p4.ack), (Some(4), true));
    assert_eq!(drain(&ch, "full"), ["4"]);
    assert!(ch.is_open());
}

#[test]
fn c_m02_reject_publish_dlx_refuses_and_dead_letters() {
    let env = Env::new();
    let ch = env.ch();
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(
        &ch,
        "q",
        &[
            ("x-max-length", int(1)),
            ("x-overflow", ls("reject-publish-dlx")),
            ("x-dead-letter-exchange", ls("dlx")),
        ],
    );
    ch.confirm_select().unwrap();
    assert!(send(&ch, "", "q", "kept").ack);
    let p = send(&ch, "", "q", "refused");
    assert_eq!((p.seq, p.ack), (Some(2), false));
    assert_eq!(drain(&ch, "q"), ["kept"]);
    let g = get(&ch, "dlq").unwrap();
    assert_eq!(g.delivery.body(), b"refused");
    assert_eq!(last_reason(g.delivery.message()), "maxlen");
    let d = &deaths(g.delivery.message())[0];
    assert_eq!(text(field(d, "queue")), "q");
    // Without a dead-letter exchange it is just refused.
    declare_q_args(
        &ch,
        "q2",
        &[
            ("x-max-length-bytes", int(3)),
            ("x-overflow", ls("reject-publish-dlx")),
        ],
    );
    assert!(!send(&ch, "", "q2", "four").ack);
    assert_eq!(env.ready("q2"), 0);
}

// ----- M03 dead-lettering -----

#[test]
fn c_m03_reject_and_nack_without_requeue_dead_letter() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "dlx", "direct");
    declare_q(&ch, "dlq");
    // No dead-letter routing key: the original key ("q") routes it.
    bind(&ch, "dlq", "dlx", "q");
    declare_q_args(&ch, "q", &[("x-dead-letter-exchange", ls("dlx"))]);
    for i in 1..=5 {
        send(&ch, "", "q", &i.to_string());
    }
    let c = ch.get("q", false).unwrap().unwrap().delivery;
    c.reject(false).unwrap();
    let c = ch.get("q", false).unwrap().unwrap().delivery;
    c.nack(false).unwrap();
    let a = ch.get("q", false).unwrap().unwrap().delivery;
    let b = ch.get("q", false).unwrap().unwrap().delivery;
    ch.nack(b.delivery_tag(), true, false).unwrap();
    let _ = a;
    // Requeue: not dead-lettered.
    let r = ch.get("q", false).unwrap().unwrap().delivery;
    r.reject(true).unwrap();
    assert_eq!(env.ready("q"), 1);
    let got: Vec<(String, String, String)> = std::iter::from_fn(|| get(&ch, "dlq"))
        .map(|g| {
            let d = g.delivery;
            (
                String::from_utf8_lossy(d.body()).into_owned(),
                d.exchange().to_string(),
                last_reason(d.message()),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = ["1", "2", "3", "4"]
        .iter()
        .map(|b| (b.to_string(), "dlx".to_string(), "rejected".to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn c_m03_dead_letter_routing_key_replaces_the_keys() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "dlx", "direct");
    declare_q(&ch, "by_rk");
    declare_q(&ch, "by_orig");
    declare_q(&ch, "by_cc");
    bind(&ch, "by_rk", "dlx", "rk");
    bind(&ch, "by_orig", "dlx", "orig");
    bind(&ch, "by_cc", "dlx", "cc1");
    declare_x(&ch, "src", "direct");
    declare_q_args(
        &ch,
        "q",
        &[
            ("x-dead-letter-exchange", ls("dlx")),
            ("x-dead-letter-routing-key", ls("rk")),
        ],
    );
    bind(&ch, "q", "src", "orig");
    let h = table(&[("CC", strs(&["cc1"]))]);
    publish(&ch, "src", "orig", Message::new("m").with_headers(h));
    ch.get("q", false)
        .unwrap()
        .unwrap()
        .delivery
        .reject(false)
        .unwrap();
    assert_eq!((env.ready("by_orig"), env.ready("by_cc")), (0, 0));
    let d = get(&ch, "by_rk").unwrap().delivery;
    assert_eq!((d.exchange(), d.routing_key()), ("dlx", "rk"));
    // As RabbitMQ (checked against 3.10.8): with a dead-letter routing key the CC
    // header is removed and its keys do not route.
    assert!(
        header(d.message(), "CC").is_none(),
        "{:?}",
        d.message().properties.headers
    );
}

#[test]
fn c_m03_original_keys_route_the_dead_letter() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "dlx", "direct");
    declare_q(&ch, "by_orig");
    declare_q(&ch, "by_cc");
    bind(&ch, "by_orig", "dlx", "orig");
    bind(&ch, "by_cc", "dlx", "cc1");
    declare_x(&ch, "src", "direct");
    declare_q_args(&ch, "q", &[("x-dead-letter-exchange", ls("dlx"))]);
    bind(&ch, "q", "src", "orig");
    let h = table(&[("CC", strs(&["cc1"]))]);
    publish(&ch, "src", "orig", Message::new("m").with_headers(h));
    ch.get("q", false)
        .unwrap()
        .unwrap()
        .delivery
        .reject(false)
        .unwrap();
    let d = get(&ch, "by_orig").unwrap().delivery;
    assert_eq!((d.exchange(), d.routing_key()), ("dlx", "orig"));
    assert_eq!(header(d.message(), "CC"), Some(&strs(&["cc1"])));
    assert_eq!(drain(&ch, "by_cc"), ["m"]);
}

/// Checked on RabbitMQ 3.10.8 (by the conformance session, with pika): a dead letter
/// without `x-dead-letter-routing-key` is routed with the original BCC keys too, and
/// BCC is still not delivered.
#[test]
fn c_m03_original_bcc_keys_route_the_dead_letter() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "dlx", "direct");
    declare_q(&ch, "by_bcc");
    bind(&ch, "by_bcc", "dlx", "secret");
    declare_x(&ch, "src", "direct");
    declare_q_args(&ch, "q", &[("x-dead-letter-exchange", ls("dlx"))]);
    bind(&ch, "q", "src", "orig");
    let h = table(&[("BCC", strs(&["secret"]))]);
    publish(&ch, "src", "orig", Message::new("m").with_headers(h));
    let got = ch.get("q", false).unwrap().unwrap().delivery;
    assert_eq!(header(got.message(), "BCC"), None, "BCC is not delivered");
    got.reject(false).unwrap();
    let d = get(&ch, "by_bcc").unwrap().delivery;
    assert_eq!(d.body(), b"m");
    assert_eq!(header(d.message(), "BCC"), None);
    // With a dead-letter routing key, BCC keys no longer apply.
    declare_q_args(
        &ch,
        "q2",
        &[
            ("x-dead-letter-exchange", ls("dlx")),
            ("x-dead-letter-routing-key", ls("other")),
        ],
    );
    let h = table(&[("BCC", strs(&["secret"]))]);
    publish(&ch, "", "q2", Message::new("m2").with_headers(h));
    ch.get("q2", false)
        .unwrap()
        .unwrap()
        .delivery
        .reject(false)
        .unwrap();
    assert!(drain(&ch, "by_bcc").is_empty());
}

#[test]
fn c_m03_missing_dead_letter_exchange_drops() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-dead-letter-exchange", ls("missing"))]);
    declare_q_args(
        &ch,
        "t",
        &[
            ("x-dead-letter-exchange", ls("missing")),
            ("x-message-ttl", int(10)),
        ],
    );
    send(&ch, "", "q", "m");
    send(&ch, "", "t", "m");
    ch.get("q", false)
        .unwrap()
        .unwrap()
        .delivery
        .reject(false)
        .unwrap();
    env.advance(10);
    assert!(ch.is_open());
    assert_eq!((env.ready("q"), env.ready("t")), (0, 0));
    assert_eq!(env.broker.memory_used(), 0);
}

#[test]
fn c_m03_cycle_without_rejection_is_dropped() {
    let env = Env::new();
    let ch = env.ch();
    // A queue dead-lettering to itself through the default exchange, by expiry.
    declare_q_args(
        &ch,
        "self",
        &[
            ("x-message-ttl", int(100)),
            ("x-dead-letter-exchange", ls("")),
        ],
    );
    send(&ch, "", "self", "m");
    env.advance(100);
    assert_eq!(env.ready("self"), 0);
    // Two queues by expiry: q1 -> q2 -> (q1: dropped).
    for (q, next) in [("q1", "q2"), ("q2", "q1")] {
        declare_q_args(
            &ch,
            q,
            &[
                ("x-message-ttl", int(100)),
                ("x-dead-letter-exchange", ls("")),
                ("x-dead-letter-routing-key", ls(next)),
            ],
        );
    }
    send(&ch, "", "q1", "m");
    env.advance(100);
    assert_eq!((env.ready("q1"), env.ready("q2")), (0, 1));
    env.advance(100);
    assert_eq!((env.ready("q1"), env.ready("q2")), (0, 0));
    // By overflow: a queue of length 0 dead-lettering to itself.
    declare_q_args(
        &ch,
        "full",
        &[("x-max-length", int(0)), ("x-dead-letter-exchange", ls(""))],
    );
    send(&ch, "", "full", "m");
    assert_eq!(env.ready("full"), 0);
    // A fanout that reaches the cycling queue and another one: only the cycling
    // copy is dropped.
    declare_x(&ch, "fan", "fanout");
    declare_q(&ch, "witness");
    bind(&ch, "witness", "fan", "");
    declare_q_args(
        &ch,
        "loop",
        &[
            ("x-message-ttl", int(100)),
            ("x-dead-letter-exchange", ls("fan")),
        ],
    );
    bind(&ch, "loop", "fan", "");
    send(&ch, "", "loop", "m");
    env.advance(100);
    assert_eq!((env.ready("loop"), env.ready("witness")), (0, 1));
    // Only the witness's message is held: a 1-byte body, its x-death headers and its
    // bookkeeping.
    let held = env.broker.memory_used();
    assert!((1..4096).contains(&held), "{held}");
    assert_eq!(ch.queue_purge("witness").unwrap(), 1);
    assert_eq!(env.broker.memory_used(), 0);
}

#[test]
fn c_m03_cycle_with_rejection_continues() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-dead-letter-exchange", ls(""))]);
    send(&ch, "", "q", "m");
    for round in 1..=3 {
        let d = ch.get("q", false).unwrap().unwrap().delivery;
        d.reject(false).unwrap();
        assert_eq!(env.ready("q"), 1, "round {round}");
    }
    let g = get(&ch, "q").unwrap();
    let ds = deaths(g.delivery.message());
    assert_eq!(ds.len(), 1);
    assert_eq!(field(&ds[0], "count").as_int(), Some(3));
    // Expiry, then a rejection, in a two-queue loop: the rejection lets it go on.
    declare_q_args(
        &ch,
        "a",
        &[
            ("x-message-ttl", int(100)),
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls("b")),
        ],
    );
    declare_q_args(
        &ch,
        "b",
        &[
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls("a")),
        ],
    );
    send(&ch, "", "a", "loop");
    env.advance(100);
    assert_eq!((env.ready("a"), env.ready("b")), (0, 1));
    ch.get("b", false)
        .unwrap()
        .unwrap()
        .delivery
        .reject(false)
        .unwrap();
    assert_eq!(
        (env.ready("a"), env.ready("b")),
        (1, 0),
        "rejected into a again"
    );
    env.advance(100);
    assert_eq!(
        (env.ready("a"), env.ready("b")),
        (0, 1),
        "the loop had a rejection"
    );
    let g = get(&ch, "b").unwrap();
    let ds = deaths(g.delivery.message());
    let summary: Vec<(String, String, i128)> = ds
        .iter()
        .map(|d| {
            (
                text(field(d, "queue")),
                text(field(d, "reason")),
                field(d, "count").as_int().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a".to_string(), "expired".to_string(), 2),
            ("b".to_string(), "rejected".to_string(), 1)
        ]
    );
}

// ----- M04 x-death -----

#[test]
fn c_m04_x_death_history() {
    let env = Env::new();
    let ch = env.ch();
    let t0 = wall_secs();
    declare_x(&ch, "src", "direct");
    declare_x(&ch, "dlx1", "fanout");
    declare_q_args(&ch, "q1", &[("x-dead-letter-exchange", ls("dlx1"))]);
    bind(&ch, "q1", "src", "k");
    declare_q_args(
        &ch,
        "q2",
        &[
            ("x-message-ttl", int(1000)),
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls("q3")),
        ],
    );
    bind(&ch, "q2", "dlx1", "");
    declare_q_args(&ch, "q3", &[("x-dead-letter-exchange", ls(""))]);
    let mut m = Message::new("body");
    m.properties.expiration = Some("5000".into());
    m.properties.content_type = Some("text/plain".into());
    m.properties.headers = Some(table(&[("CC", strs(&["cc1"])), ("app", ls("x"))]));
    publish(&ch, "src", "k", m);

    // 1. Rejected in q1.
    ch.get("q1", false)
        .unwrap()
        .unwrap()
        .delivery
        .reject(false)
        .unwrap();
    let t1 = wall_secs();
    let g = ch.get("q2", false).unwrap().unwrap();
    let msg = g.delivery.message().clone();
    assert_eq!(
        (g.delivery.exchange(), g.delivery.routing_key()),
        ("dlx1", "k")
    );
    assert_eq!(msg.properties.expiration, None, "expiration removed");
    assert_eq!(msg.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(header(&msg, "app"), Some(&ls("x")));
    assert_eq!(header(&msg, "CC"), Some(&strs(&["cc1"])));
    let ds = deaths(&msg);
    assert_eq!(ds.len(), 1);
    let first = &ds[0];
    assert_eq!(field(first, "count").as_int(), Some(1));
    assert_eq!(text(field(first, "reason")), "rejected");
    assert_eq!(text(field(first, "queue")), "q1");
    assert_eq!(text(field(first, "exchange")), "src");
    assert_eq!(field(first, "routing-keys"), &strs(&["k", "cc1"]));
    assert_eq!(text(field(first, "original-expiration")), "5000");
    let FieldValue::Timestamp(time1) = *field(first, "time") else {
        panic!("time is a timestamp: {first:?}");
    };
    assert!((t0..=t1).contains(&time1), "{t0} <= {time1} <= {t1}");
    for (name, want) in [
        ("x-first-death-reason", "rejected"),
        ("x-first-death-queue", "q1"),
        ("x-first-death-exchange", "src"),
        ("x-last-death-reason", "rejected"),
        ("x-last-death-queue", "q1"),
        ("x-last-death-exchange", "src"),
    ] {
        assert_eq!(
            header(&msg, name).map(text).as_deref(),
            Some(want),
            "{name}"
        );
    }
    g.delivery.nack(true).unwrap(); // back to q2, deadline kept

    // 2. Expired in q2 (1000 ms after it entered q2), on to q3 by the routing key.
    env.advance(1000);
    let g = ch.get("q3", false).unwrap().unwrap();
    let msg = g.delivery.message().clone();
    assert_eq!(
        (g.delivery.exchange(), g.delivery.routing_key()),
        ("", "q3")
    );
    assert!(
        header(&msg, "CC").is_none(),
        "removed with a dead-letter routing key"
    );
    let ds = deaths(&msg);
    assert_eq!(ds.len(), 2);
    let second = &ds[0];
    assert_eq!(field(second, "count").as_int(), Some(1));
    assert_eq!(text(field(second, "reason")), "expired");
    assert_eq!(text(field(second, "queue")), "q2");
    assert_eq!(text(field(second, "exchange")), "dlx1");
    assert_eq!(field(second, "routing-keys"), &strs(&["k", "cc1"]));
    assert!(second.get("original-expiration").is_none(), "{second:?}");
    let FieldValue::Timestamp(time2) = *field(second, "time") else {
        panic!("time is a timestamp");
    };
    assert!(
        time2 >= time1 && time2 <= wall_secs() + 2,
        "{time1} {time2}"
    );
    assert_eq!(&ds[1], first, "the older entry is unchanged");
    for (name, want) in [
        ("x-first-death-reason", "rejected"),
        ("x-first-death-queue", "q1"),
        ("x-first-death-exchange", "src"),
        ("x-last-death-reason", "expired"),
        ("x-last-death-queue", "q2"),
        ("x-last-death-exchange", "dlx1"),
    ] {
        assert_eq!(
            header(&msg, name).map(text).as_deref(),
            Some(want),
            "{name}"
        );
    }

    // 3. Rejected in q3, twice (back into q3 through the default exchange).
    g.delivery.reject(false).unwrap();
    env.advance(5000);
    let g = ch.get("q3", false).unwrap().unwrap();
    let ds3 = deaths(g.delivery.message());
    assert_eq!(ds3.len(), 3);
    let third = ds3[0].clone();
    assert_eq!(text(field(&third, "queue")), "q3");
    assert_eq!(text(field(&third, "reason")), "rejected");
    assert_eq!(text(field(&third, "exchange")), "");
    assert_eq!(field(&third, "routing-keys"), &strs(&["q3"]));
    assert_eq!(field(&third, "count").as_int(), Some(1));
    g.delivery.reject(false).unwrap();
    let g = get(&ch, "q3").unwrap();
    let msg = g.delivery.message().clone();
    let ds = deaths(&msg);
    assert_eq!(ds.len(), 3, "one entry per (queue, reason)");
    assert_eq!(field(&ds[0], "count").as_int(), Some(2));
    // Everything else in the entry is from its first occurrence (time included).
    let mut expect = third.clone();
    expect.insert("count", field(&ds[0], "count").clone());
    assert_eq!(ds[0], expect);
    assert_eq!(ds[1], *second);
    assert_eq!(ds[2], *first);
    assert_eq!(
        header(&msg, "x-first-death-queue").map(text).as_deref(),
        Some("q1")
    );
    assert_eq!(
        header(&msg, "x-last-death-queue").map(text).as_deref(),
        Some("q3")
    );
    assert_eq!(
        header(&msg, "x-last-death-reason").map(text).as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header(&msg, "x-last-death-exchange").map(text).as_deref(),
        Some("")
    );
}

#[test]
fn c_m04_repeated_death_moves_to_the_front() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(
        &ch,
        "a",
        &[
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls("b")),
        ],
    );
    declare_q_args(
        &ch,
        "b",
        &[
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls("a")),
        ],
    );
    send(&ch, "", "a", "m");
    for q in ["a", "b", "a"] {
        ch.get(q, false)
            .unwrap()
            .unwrap()
            .delivery
            .reject(false)
            .unwrap();
    }
    let g = get(&ch, "b").unwrap();
    let ds = deaths(g.delivery.message());
    let order: Vec<(String, i128)> = ds
        .iter()
        .map(|d| (text(field(d, "queue")), field(d, "count").as_int().unwrap()))
        .collect();
    assert_eq!(order, [("a".to_string(), 2), ("b".to_string(), 1)]);
    let m = g.delivery.message();
    assert_eq!(
        header(m, "x-first-death-queue").map(text).as_deref(),
        Some("a")
    );
    assert_eq!(
        header(m, "x-last-death-queue").map(text).as_deref(),
        Some("a")
    );
}

#[test]
fn c_m04_per_message_expiration_is_kept_in_x_death() {
    let env = Env::new();
    let ch = env.ch();
    dead_letter_sink(&ch, "dlx", "dlq");
    declare_q_args(&ch, "q", &[("x-dead-letter-exchange", ls("dlx"))]);
    publish(&ch, "", "q", Message::new("m").with_expiration(250));
    env.advance(250);
    assert_eq!(env.ready("q"), 0);
    // The dead letter has no expiration left: it stays in its new queue.
    env.advance(10_000);
    assert_eq!(env.ready("dlq"), 1);
    let g = get(&ch, "dlq").unwrap();
    let m = g.delivery.message();
    assert_eq!(m.properties.expiration, None);
    let d = &deaths(m)[0];
    assert_eq!(text(field(d, "reason")), "expired");
    assert_eq!(text(field(d, "original-expiration")), "250");
}

// ----- M05 priorities -----

#[test]
fn c_m05_higher_priority_first() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-max-priority", int(10))]);
    let msgs: [(&str, Option<u8>); 6] = [
        ("none", None),
        ("p1", Some(1)),
        ("p5a", Some(5)),
        ("p0", Some(0)),
        ("p5b", Some(5)),
        ("p10", Some(10)),
    ];
    for (body, p) in msgs {
        let mut m = Message::new(body);
        m.properties.priority = p;
        publish(&ch, "", "q", m);
    }
    // Missing priority is 0: "none" and "p0" keep publish order.
    assert_eq!(drain(&ch, "q"), ["p10", "p5a", "p5b", "p1", "none", "p0"]);
}

#[test]
fn c_m05_above_maximum_counts_as_maximum() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-max-priority", int(3))]);
    for (body, p) in [("low", 1), ("a3", 3), ("b9", 9), ("c3", 3), ("d255", 255)] {
        publish(&ch, "", "q", Message::new(body).with_priority(p));
    }
    assert_eq!(drain(&ch, "q"), ["a3", "b9", "c3", "d255", "low"]);
    // The property is delivered unchanged.
    publish(&ch, "", "q", Message::new("x").with_priority(9));
    let g = get(&ch, "q").unwrap();
    assert_eq!(g.delivery.message().properties.priority, Some(9));
    // Without x-max-priority, priorities are ignored (FIFO).
    declare_q(&ch, "fifo");
    for (body, p) in [("1", 1), ("9", 9), ("5", 5)] {
        publish(&ch, "", "fifo", Message::new(body).with_priority(p));
    }
    assert_eq!(drain(&ch, "fifo"), ["1", "9", "5"]);
}

#[test]
fn c_m05_priorities_among_ready_messages_for_consumers() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-max-priority", int(5))]);
    let cch = env.ch();
    cch.qos(0, 1, false).unwrap();
    let c = cch.consume("q", &ConsumeOptions::default()).unwrap();
    // The first goes to the waiting consumer at once, whatever its priority.
    publish(&ch, "", "q", Message::new("first-low").with_priority(0));
    for (body, p) in [("low", 1), ("high", 5), ("mid", 3)] {
        publish(&ch, "", "q", Message::new(body).with_priority(p));
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        let d = c.recv_timeout(Duration::from_secs(10)).unwrap();
        got.push(String::from_utf8_lossy(d.body()).into_owned());
        d.ack().unwrap();
    }
    assert_eq!(got, ["first-low", "high", "mid", "low"]);
    // A requeued message goes back among its priority level, in its place.
    drop(c);
    for (body, p) in [("h1", 5), ("h2", 5), ("l", 1)] {
        publish(&ch, "", "q", Message::new(body).with_priority(p));
    }
    let h1 = ch.get("q", false).unwrap().unwrap();
    h1.delivery.nack(true).unwrap();
    assert_eq!(drain(&ch, "q"), ["h1", "h2", "l"]);
}

// ----- M06 publish order -----

#[test]
fn c_m06_publish_order_per_channel() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "fan", "fanout");
    declare_x(&ch, "top", "topic");
    let queues = ["q1", "q2", "q3"];
    for q in queues {
        declare_q(&ch, q);
        bind(&ch, q, "fan", "");
        bind(&ch, q, "top", "#");
    }
    // Through different exchanges, interleaved: each queue sees publish order.
    let mut want = Vec::new();
    for i in 0..300 {
        let body = i.to_string();
        match i % 3 {
            0 => send(&ch, "fan", "", &body),
            1 => send(&ch, "top", "a.b", &body),
            _ => {
                let h = table(&[("CC", strs(&["q2", "q3"]))]);
                publish(&ch, "", "q1", Message::new(body.clone()).with_headers(h))
            }
        };
        want.push(body);
    }
    for q in queues {
        assert_eq!(drain(&ch, q), want, "{q}");
    }
    // A consumer sees the same order.
    let cch = env.ch();
    let c = cch.consume("q1", &ConsumeOptions::no_ack()).unwrap();
    for i in 0..300 {
        send(&ch, "fan", "", &i.to_string());
    }
    for i in 0..300 {
        let d = c.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(d.body(), i.to_string().as_bytes());
    }
}

#[test]
fn c_m06_order_per_channel_with_concurrent_publishers() {
    let env = Env::new();
    let setup = env.ch();
    declare_x(&setup, "fan", "fanout");
    for q in ["a", "b"] {
        declare_q(&setup, q);
        bind(&setup, q, "fan", "");
    }
    std::thread::scope(|s| {
        for p in 0..3 {
            let ch = env.ch();
            s.spawn(move || {
                for i in 0..200 {
                    send(&ch, "fan", "", &format!("{p}:{i}"));
                }
            });
        }
    });
    for q in ["a", "b"] {
        let got = drain(&setup, q);
        assert_eq!(got.len(), 600);
        for p in 0..3 {
            let seq: Vec<u32> = got
                .iter()
                .filter_map(|b| b.strip_prefix(&format!("{p}:")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(seq, (0..200).collect::<Vec<_>>(), "publisher {p} in {q}");
        }
    }
}
