//! Conformance rows D01-D10 (`shared/CONFORMANCE.md`): consumers, prefetch, delivery
//! tags, settling, requeue and closing, through the public broker API only.

#![cfg(feature = "broker")]

mod broker_common2;

use broker_common2::*;
use trackswitch::FieldValue;
use trackswitch::broker::{
    CancelReason, ConsumeOptions, ExchangeDeclare, QueueDeclare, RecvError, TryRecvError,
};

// ----- D01 basic.consume -----

#[test]
fn c_d01_consume_missing_queue_is_404_channel_error() {
    let (_b, conn, ch) = setup();
    let e = ch
        .consume("nope", &ConsumeOptions::default())
        .expect_err("no such queue");
    assert_channel_error(&e, 404);
    assert!(e.reply_text().contains("no queue 'nope'"), "{e}");
    assert_channel_closed_by(&conn, &ch, 404);
}

#[test]
fn c_d01_empty_tag_gets_server_tag() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let c1 = ch.consume("q", &ConsumeOptions::default()).unwrap();
    let c2 = ch.consume("q", &ConsumeOptions::default()).unwrap();
    assert!(c1.tag().starts_with("amq.ctag-"), "{}", c1.tag());
    assert!(c2.tag().len() > "amq.ctag-".len());
    assert_ne!(c1.tag(), c2.tag());
    assert_eq!(c1.queue(), "q");
    let mut tags: Vec<String> = b.consumers().into_iter().map(|c| c.tag).collect();
    tags.sort();
    let mut want = vec![c1.tag().to_string(), c2.tag().to_string()];
    want.sort();
    assert_eq!(tags, want);
    // The tag is the one deliveries carry.
    publish(&ch, "q", "x");
    let d = recv(&c1);
    assert_eq!(d.consumer_tag(), Some(c1.tag()));
}

#[test]
fn c_d01_reused_tag_on_channel_is_530_connection_error() {
    let (b, conn, ch) = setup();
    let other = conn.open_channel().unwrap();
    declare(&ch, "q");
    let _c = consume(&ch, "q", "dup");
    // The same tag on another channel is fine.
    let _on_other = consume(&other, "q", "dup");
    let e = ch
        .consume(
            "q",
            &ConsumeOptions {
                tag: "dup".into(),
                ..ConsumeOptions::default()
            },
        )
        .expect_err("tag in use on this channel");
    assert_connection_error(&e, 530);
    assert!(e.reply_text().contains("dup"), "{e}");
    // A connection error closes every channel of the connection.
    assert_connection_closed_by(&conn, &ch, 530);
    assert!(!other.is_open());
    let later = other.get("q", true).expect_err("other channel closed too");
    assert!(later.is_closed() && later.reply_code() == 530, "{later}");
    // Its consumers are gone.
    assert!(b.consumers().is_empty());
    // The broker is fine.
    let conn2 = b.connect_default();
    let ch2 = conn2.open_channel().unwrap();
    assert_eq!(
        ch2.queue_declare("q", &QueueDeclare::passive())
            .unwrap()
            .consumer_count,
        0
    );
}

#[test]
fn c_d01_exclusive_consume_on_queue_with_consumers_is_403() {
    let (_b, conn, ch) = setup();
    declare(&ch, "q");
    let _c = consume(&ch, "q", "plain");
    let ch2 = conn.open_channel().unwrap();
    let e = ch2
        .consume(
            "q",
            &ConsumeOptions {
                exclusive: true,
                ..ConsumeOptions::default()
            },
        )
        .expect_err("queue has a consumer");
    assert_channel_error(&e, 403);
    assert_channel_closed_by(&conn, &ch2, 403);
    // The first channel is untouched.
    assert!(ch.is_open());
}

#[test]
fn c_d01_nobody_joins_an_exclusive_consumer() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    let excl = ch
        .consume(
            "q",
            &ConsumeOptions {
                tag: "excl".into(),
                exclusive: true,
                ..ConsumeOptions::default()
            },
        )
        .expect("exclusive consume on a queue without consumers");
    assert!(consumer_info(&b, "excl").unwrap().exclusive);
    // Not from another connection (non-exclusive or exclusive), ...
    let conn2 = b.connect_default();
    let ch2 = conn2.open_channel().unwrap();
    let e = ch2.consume("q", &ConsumeOptions::default()).unwrap_err();
    assert_channel_error(&e, 403);
    assert_channel_closed_by(&conn2, &ch2, 403);
    let ch3 = conn2.open_channel().unwrap();
    let e = ch3
        .consume(
            "q",
            &ConsumeOptions {
                exclusive: true,
                ..ConsumeOptions::default()
            },
        )
        .unwrap_err();
    assert_channel_error(&e, 403);
    // ... nor on the same channel (the error closes that channel, which cancels the
    // exclusive consumer).
    let e = ch.consume("q", &ConsumeOptions::default()).unwrap_err();
    assert_channel_error(&e, 403);
    assert!(!ch.is_open());
    assert_eq!(excl.cancel_reason(), Some(CancelReason::ChannelClosed));
    // Once the exclusive consumer is gone, others may join.
    assert_eq!(counts(&b, "q").2, 0);
    let ch4 = conn.open_channel().unwrap();
    let _c = consume(&ch4, "q", "after");
    assert_eq!(counts(&b, "q").2, 1);
}

#[test]
fn c_d01_exclusive_consumer_cancelled_lets_others_join() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let _excl = ch
        .consume(
            "q",
            &ConsumeOptions {
                tag: "excl".into(),
                exclusive: true,
                ..ConsumeOptions::default()
            },
        )
        .unwrap();
    assert!(ch.cancel("excl").unwrap());
    let _c = consume(&ch, "q", "next");
    assert_eq!(counts(&b, "q").2, 1);
}

// ----- D02 round-robin and consumer priorities -----

#[test]
fn c_d02_round_robin_among_equal_priority() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    let cs: Vec<_> = (0..3)
        .map(|i| consume(&ch, "q", &format!("c{i}")))
        .collect();
    publish_n(&ch, "q", 9);
    let got: Vec<Vec<String>> = cs.iter().map(|c| bodies(&drain(c))).collect();
    assert_eq!(got[0], ["m0", "m3", "m6"]);
    assert_eq!(got[1], ["m1", "m4", "m7"]);
    assert_eq!(got[2], ["m2", "m5", "m8"]);
}

#[test]
fn c_d02_round_robin_skips_consumers_without_credit() {
    let (_b, conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 1, false).unwrap();
    let a = consume(&ch, "q", "a");
    let ch2 = conn.open_channel().unwrap();
    let b2 = consume(&ch2, "q", "b");
    publish_n(&ch, "q", 4);
    let da = drain(&a);
    let db = drain(&b2);
    assert_eq!(bodies(&da), ["m0"]);
    assert_eq!(bodies(&db), ["m1", "m2", "m3"]);
}

#[test]
fn c_d02_higher_priority_consumers_first_while_they_have_room() {
    let (_b, conn, ch) = setup();
    declare(&ch, "q");
    let low = consume_with(
        &ch,
        "q",
        "low",
        args([("x-priority", FieldValue::from(-1))]),
    );
    let mid = consume(&ch, "q", "mid");
    let ch_high = conn.open_channel().unwrap();
    ch_high.qos(0, 2, false).unwrap();
    let high = consume_with(
        &ch_high,
        "q",
        "high",
        args([("x-priority", FieldValue::from(10))]),
    );
    // `mid` has no prefetch: once `high` is full, everything goes to `mid`; `low`
    // gets nothing while a higher consumer has room.
    publish_n(&ch, "q", 5);
    let dh = drain(&high);
    assert_eq!(bodies(&dh), ["m0", "m1"]);
    assert_eq!(bodies(&drain(&mid)), ["m2", "m3", "m4"]);
    assert_nothing(&low);
    // Room again: `high` gets the next one.
    dh[0].ack().unwrap();
    publish(&ch, "q", "m5");
    assert_eq!(bodies(&drain(&high)), ["m5"]);
    assert_nothing(&mid);
    // With `mid` gone and `high` full, `low` gets messages.
    drop(mid);
    publish(&ch, "q", "m6");
    assert_eq!(bodies(&drain(&low)), ["m6"]);
}

#[test]
fn c_d02_invalid_priority_is_406() {
    let (_b, conn, ch) = setup();
    declare(&ch, "q");
    let e = ch
        .consume(
            "q",
            &ConsumeOptions {
                arguments: args([("x-priority", FieldValue::from("high"))]),
                ..ConsumeOptions::default()
            },
        )
        .unwrap_err();
    assert_channel_error(&e, 406);
    assert_channel_closed_by(&conn, &ch, 406);
}

// ----- D03 single active consumer -----

fn sac_queue(ch: &trackswitch::broker::Channel, name: &str) {
    declare_with(
        ch,
        name,
        args([("x-single-active-consumer", FieldValue::from(true))]),
    );
}

#[test]
fn c_d03_single_active_consumer_first_gets_everything() {
    let (b, conn, ch) = setup();
    sac_queue(&ch, "q");
    let first = consume(&ch, "q", "first");
    let ch2 = conn.open_channel().unwrap();
    let second = consume(&ch2, "q", "second");
    publish_n(&ch, "q", 4);
    assert_eq!(bodies(&drain(&first)), ["m0", "m1", "m2", "m3"]);
    assert_nothing(&second);
    assert_eq!(counts(&b, "q").2, 2);
}

#[test]
fn c_d03_cancel_promotes_next_consumer() {
    let (_b, conn, ch) = setup();
    sac_queue(&ch, "q");
    ch.qos(0, 1, false).unwrap();
    let first = consume(&ch, "q", "first");
    let ch2 = conn.open_channel().unwrap();
    let second = consume(&ch2, "q", "second");
    let ch3 = conn.open_channel().unwrap();
    let third = consume(&ch3, "q", "third");
    publish_n(&ch, "q", 3);
    let d0 = recv(&first);
    assert_eq!(text(&d0), "m0");
    // Prefetch 1 on the active consumer: the others still wait.
    assert_nothing(&second);
    assert_nothing(&third);
    assert!(ch.cancel("first").unwrap());
    // The next in line is promoted and gets the rest; m0 stays unacked on `ch`.
    assert_eq!(bodies(&drain(&second)), ["m1", "m2"]);
    assert_nothing(&third);
    assert_eq!(ch.unacked_count(), 1);
    d0.ack().unwrap();
    assert_nothing(&second);
}

#[test]
fn c_d03_channel_close_promotes_next_and_requeues() {
    let (_b, conn, ch) = setup();
    sac_queue(&ch, "q");
    let ch1 = conn.open_channel().unwrap();
    let first = consume(&ch1, "q", "first");
    let second = consume(&ch, "q", "second");
    publish_n(&ch, "q", 3);
    let got = drain(&first);
    assert_eq!(bodies(&got), ["m0", "m1", "m2"]);
    ch1.close();
    let again = drain(&second);
    assert_eq!(bodies(&again), ["m0", "m1", "m2"]);
    assert!(again.iter().all(|d| d.redelivered()));
    assert_eq!(
        first.recv().unwrap_err(),
        RecvError {
            reason: CancelReason::ChannelClosed
        }
    );
}

#[test]
fn c_d03_exclusive_consume_on_sac_queue_is_403() {
    let (_b, conn, ch) = setup();
    sac_queue(&ch, "q");
    // Even with no consumer at all.
    let e = ch
        .consume(
            "q",
            &ConsumeOptions {
                exclusive: true,
                ..ConsumeOptions::default()
            },
        )
        .unwrap_err();
    assert_channel_error(&e, 403);
    assert_channel_closed_by(&conn, &ch, 403);
}

// ----- D04 prefetch -----

#[test]
fn c_d04_prefetch_applies_to_consumers_created_after() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let before = consume(&ch, "q", "before");
    ch.qos(0, 2, false).unwrap();
    let limited = consume(&ch, "q", "limited");
    ch.qos(0, 3, false).unwrap();
    // `limited` keeps 2, `before` stays unlimited.
    assert_eq!(consumer_info(&b, "before").unwrap().prefetch_count, 0);
    assert_eq!(consumer_info(&b, "limited").unwrap().prefetch_count, 2);
    drop(before);
    publish_n(&ch, "q", 6);
    let got = drain(&limited);
    assert_eq!(bodies(&got), ["m0", "m1"]);
    assert_eq!(counts(&b, "q").0, 4);
    let info = b.channels().into_iter().find(|c| c.id == ch.id()).unwrap();
    assert_eq!(info.prefetch_count, 3);
    assert_eq!(info.global_prefetch_count, 0);
    let later = consume(&ch, "q", "later");
    assert_eq!(bodies(&drain(&later)), ["m2", "m3", "m4"]);
    // Acking one frees one slot.
    got[0].ack().unwrap();
    assert_eq!(bodies(&drain(&limited)), ["m5"]);
}

#[test]
fn c_d04_prefetch_zero_is_unlimited() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 5, false).unwrap();
    ch.qos(0, 0, false).unwrap();
    let c = consume(&ch, "q", "c");
    publish_n(&ch, "q", 300);
    // More than any buffer holds at once: the consumer keeps reading.
    let mut got = Vec::new();
    for _ in 0..300 {
        got.push(recv(&c));
    }
    assert_eq!(text(&got[299]), "m299");
    assert_eq!(ch.unacked_count(), 300);
    assert_eq!(counts(&b, "q"), (0, 300, 1));
}

#[test]
fn c_d04_global_prefetch_is_shared_by_the_channels_consumers() {
    let (b, conn, ch) = setup();
    declare(&ch, "q1");
    declare(&ch, "q2");
    ch.qos(0, 3, true).unwrap();
    let a = consume(&ch, "q1", "a");
    let c = consume(&ch, "q2", "c");
    publish_n(&ch, "q1", 2);
    publish_n(&ch, "q2", 5);
    let da = drain(&a);
    let dc = drain(&c);
    assert_eq!(da.len() + dc.len(), 3, "the channel holds 3 at most");
    assert_eq!(da.len(), 2);
    assert_eq!(ch.unacked_count(), 3);
    let info = b.channels().into_iter().find(|x| x.id == ch.id()).unwrap();
    assert_eq!(info.global_prefetch_count, 3);
    // Acking on q1 frees room for q2's consumer.
    da[0].ack().unwrap();
    da[1].ack().unwrap();
    assert_eq!(drain(&c).len(), 2);
    // Another channel is not limited by it.
    let ch2 = conn.open_channel().unwrap();
    declare(&ch2, "q3");
    let other = consume(&ch2, "q3", "other");
    publish_n(&ch2, "q3", 5);
    assert_eq!(drain(&other).len(), 5);
}

#[test]
fn c_d04_global_and_per_consumer_prefetch_both_apply() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 1, false).unwrap();
    ch.qos(0, 5, true).unwrap();
    let a = consume(&ch, "q", "a");
    let c = consume(&ch, "q", "c");
    publish_n(&ch, "q", 6);
    // Each consumer is held to 1 even though the channel allows 5.
    assert_eq!(drain(&a).len(), 1);
    assert_eq!(drain(&c).len(), 1);
}

#[test]
fn c_d04_raising_global_prefetch_reaches_existing_consumers() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 1, true).unwrap();
    let a = consume(&ch, "q", "a");
    publish_n(&ch, "q", 4);
    assert_eq!(drain(&a).len(), 1);
    ch.qos(0, 3, true).unwrap();
    assert_eq!(drain(&a).len(), 2);
    ch.qos(0, 0, true).unwrap();
    assert_eq!(drain(&a).len(), 1);
}

#[test]
fn c_d04_no_ack_deliveries_do_not_count() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    declare(&ch, "auto");
    ch.qos(0, 1, true).unwrap();
    ch.qos(0, 1, false).unwrap();
    let manual = consume(&ch, "q", "manual");
    let auto = ch
        .consume("auto", &ConsumeOptions::no_ack())
        .expect("no-ack consume");
    publish_n(&ch, "q", 2);
    publish_n(&ch, "auto", 5);
    // The no-ack consumer ignores both limits and takes no room from the manual one.
    assert_eq!(drain(&auto).len(), 5);
    assert_eq!(drain(&manual).len(), 1);
    assert_eq!(ch.unacked_count(), 1);
}

#[test]
fn c_d04_get_ignores_prefetch() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 1, false).unwrap();
    ch.qos(0, 1, true).unwrap();
    let c = consume(&ch, "q", "c");
    publish_n(&ch, "q", 4);
    assert_eq!(bodies(&drain(&c)), ["m0"]);
    // The consumer and the channel are full; get still fetches, with manual ack.
    let g1 = ch.get("q", false).unwrap().unwrap();
    let g2 = ch.get("q", false).unwrap().unwrap();
    assert_eq!((text(&g1.delivery), g1.message_count), ("m1".into(), 2));
    assert_eq!((text(&g2.delivery), g2.message_count), ("m2".into(), 1));
    assert_eq!(ch.unacked_count(), 3);
    // Get deliveries hold no prefetch room: acking them gives the consumer nothing.
    g1.delivery.ack().unwrap();
    g2.delivery.ack().unwrap();
    assert_nothing(&c);
    assert_eq!(counts(&b, "q").0, 1);
}

#[test]
fn c_d04_prefetch_size_is_540() {
    let (_b, conn, ch) = setup();
    let e = ch.qos(4096, 1, false).unwrap_err();
    assert_connection_error(&e, 540);
    assert_connection_closed_by(&conn, &ch, 540);
}

// ----- D05 basic.cancel -----

#[test]
fn c_d05_cancel_unknown_tag_is_fine() {
    let (_b, _conn, ch) = setup();
    assert!(!ch.cancel("no-such-consumer").unwrap());
    assert!(ch.is_open());
}

#[test]
fn c_d05_no_deliveries_after_cancel_and_unacked_stay() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let c = consume(&ch, "q", "c");
    publish_n(&ch, "q", 5);
    let d0 = recv(&c);
    let d1 = recv(&c);
    assert_eq!(consumer_info(&b, "c").unwrap().buffered, 3);
    assert!(ch.cancel("c").unwrap());
    // The buffered messages went back to the queue, undelivered.
    assert_eq!(
        c.try_recv().unwrap_err(),
        TryRecvError::Ended(CancelReason::Cancelled)
    );
    assert_eq!(c.cancel_reason(), Some(CancelReason::Cancelled));
    assert_eq!(counts(&b, "q"), (3, 2, 0));
    assert!(consumer_info(&b, "c").is_none());
    publish(&ch, "q", "m5");
    assert!(c.try_recv().is_err());
    // Its two deliveries stay unacked on the channel and can be settled.
    assert_eq!(ch.unacked_count(), 2);
    d1.ack().unwrap();
    d0.reject(true).unwrap();
    let g = ch.get("q", true).unwrap().unwrap();
    assert_eq!(text(&g.delivery), "m0");
    assert!(g.delivery.redelivered());
    let g = ch.get("q", true).unwrap().unwrap();
    assert_eq!(text(&g.delivery), "m2");
    assert!(
        !g.delivery.redelivered(),
        "never handed out, so not redelivered"
    );
    // Cancelling again is an unknown tag: fine.
    assert!(!ch.cancel("c").unwrap());
}

#[test]
fn c_d05_dropping_the_consumer_cancels_it() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    let c = consume(&ch, "q", "c");
    publish_n(&ch, "q", 2);
    let d = recv(&c);
    c.cancel();
    assert_eq!(counts(&b, "q"), (1, 1, 0));
    d.ack().unwrap();
    assert_eq!(counts(&b, "q"), (1, 0, 0));
}

// ----- D06 basic.get -----

#[test]
fn c_d06_get_returns_message_and_count_left() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    assert!(ch.get("q", false).unwrap().is_none());
    publish_n(&ch, "q", 3);
    let g = ch.get("q", true).unwrap().unwrap();
    assert_eq!((text(&g.delivery), g.message_count), ("m0".into(), 2));
    assert_eq!(g.delivery.consumer_tag(), None);
    assert_eq!(g.delivery.routing_key(), "q");
    assert_eq!(g.delivery.exchange(), "");
    assert_eq!(ch.unacked_count(), 0, "no-ack get leaves nothing to settle");
    let g = ch.get("q", false).unwrap().unwrap();
    assert_eq!((text(&g.delivery), g.message_count), ("m1".into(), 1));
    assert_eq!(ch.unacked_count(), 1);
    assert_eq!(counts(&b, "q"), (1, 1, 0));
    g.delivery.ack().unwrap();
    assert_eq!(counts(&b, "q"), (1, 0, 0));
    let g = ch.get("q", false).unwrap().unwrap();
    assert_eq!(g.message_count, 0);
    assert!(ch.get("q", false).unwrap().is_none());
    // Missing queue: 404, a channel error.
    let e = ch.get("nope", false).unwrap_err();
    assert_channel_error(&e, 404);
    assert_channel_closed_by(&conn, &ch, 404);
    // The unacked get went back to the queue when the channel closed.
    assert_eq!(counts(&b, "q"), (1, 0, 0));
}

// ----- D07 delivery tags -----

#[test]
fn c_d07_tags_per_channel_from_1_shared_by_consumers_and_get() {
    let (_b, conn, ch) = setup();
    declare(&ch, "q");
    declare(&ch, "g");
    declare(&ch, "auto");
    publish_n(&ch, "g", 3);
    let g = ch.get("g", false).unwrap().unwrap();
    assert_eq!(g.delivery.delivery_tag(), 1);
    let c = consume(&ch, "q", "c");
    publish(&ch, "q", "x");
    assert_eq!(recv(&c).delivery_tag(), 2);
    // No-ack deliveries take tags too.
    let g = ch.get("g", true).unwrap().unwrap();
    assert_eq!(g.delivery.delivery_tag(), 3);
    let auto = ch.consume("auto", &ConsumeOptions::no_ack()).unwrap();
    publish(&ch, "auto", "y");
    assert_eq!(recv(&auto).delivery_tag(), 4);
    publish(&ch, "q", "z");
    assert_eq!(recv(&c).delivery_tag(), 5);
    // Another channel counts from 1.
    let ch2 = conn.open_channel().unwrap();
    let g = ch2.get("g", false).unwrap().unwrap();
    assert_eq!(g.delivery.delivery_tag(), 1);
    // Redeliveries get new tags.
    g.delivery.reject(true).unwrap();
    let again = ch2.get("g", false).unwrap().unwrap();
    assert_eq!(again.delivery.delivery_tag(), 2);
    assert!(again.delivery.redelivered());
}

// ----- D08 ack, nack, reject -----

#[test]
fn c_d08_ack_single_and_multiple() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 5);
    let ds: Vec<_> = (0..5)
        .map(|_| ch.get("q", false).unwrap().unwrap().delivery)
        .collect();
    let tags: Vec<u64> = ds.iter().map(|d| d.delivery_tag()).collect();
    assert_eq!(tags, [1, 2, 3, 4, 5]);
    ch.ack(2, false).unwrap();
    assert_eq!(ch.unacked_count(), 4);
    // multiple: 1 and 3 (2 is already settled).
    ch.ack(3, true).unwrap();
    assert_eq!(ch.unacked_count(), 2);
    ds[4].ack().unwrap();
    assert_eq!(ch.unacked_count(), 1);
    let q = queue_info(&b, "q").unwrap();
    assert_eq!((q.ready, q.unacked, q.acked), (0, 1, 4));
}

#[test]
fn c_d08_multiple_with_tag_0_means_everything() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    // Nothing outstanding: fine.
    ch.ack(0, true).unwrap();
    publish_n(&ch, "q", 6);
    for _ in 0..3 {
        ch.get("q", false).unwrap().unwrap();
    }
    ch.ack(0, true).unwrap();
    assert_eq!(ch.unacked_count(), 0);
    assert_eq!(counts(&b, "q"), (3, 0, 0));
    for _ in 0..3 {
        ch.get("q", false).unwrap().unwrap();
    }
    ch.nack(0, true, true).unwrap();
    assert_eq!(counts(&b, "q"), (3, 0, 0));
    let g = ch.get("q", false).unwrap().unwrap();
    assert!(g.delivery.redelivered());
    assert_eq!(text(&g.delivery), "m3");
    ch.nack(0, true, false).unwrap();
    assert_eq!(counts(&b, "q"), (2, 0, 0));
    assert_eq!(queue_info(&b, "q").unwrap().dropped, 1);
    assert!(ch.is_open());
}

#[test]
fn c_d08_nack_multiple_and_reject() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 4);
    let ds: Vec<_> = (0..4)
        .map(|_| ch.get("q", false).unwrap().unwrap().delivery)
        .collect();
    // nack multiple without requeue: tags 1 and 2 dropped.
    ch.nack(2, true, false).unwrap();
    // reject without requeue: tag 4 dropped.
    ch.reject(4, false).unwrap();
    assert_eq!(ch.unacked_count(), 1);
    let q = queue_info(&b, "q").unwrap();
    assert_eq!((q.ready, q.unacked, q.dropped), (0, 1, 3));
    ds[2].nack(true).unwrap();
    assert_eq!(counts(&b, "q"), (1, 0, 0));
}

#[test]
fn c_d08_unknown_tag_is_406_and_nothing_settled() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 3);
    for _ in 0..3 {
        ch.get("q", false).unwrap().unwrap();
    }
    // Tag 9 was never delivered: nothing is acked, not even with `multiple`.
    let e = ch.ack(9, true).unwrap_err();
    assert_channel_error(&e, 406);
    assert!(e.reply_text().contains("unknown delivery tag 9"), "{e}");
    // The channel closed: its three deliveries were requeued, none acked.
    let q = queue_info(&b, "q").unwrap();
    assert_eq!((q.ready, q.unacked, q.acked), (3, 0, 0));
    assert_channel_closed_by(&conn, &ch, 406);
}

#[test]
fn c_d08_already_settled_tag_is_406() {
    for (name, settle) in [
        ("ack", 0),
        ("nack", 1),
        ("reject", 2),
        ("ack multiple", 3),
        ("nack multiple", 4),
    ] {
        let (b, conn, ch) = setup();
        declare(&ch, "q");
        publish_n(&ch, "q", 3);
        let d1 = ch.get("q", false).unwrap().unwrap().delivery;
        let _d2 = ch.get("q", false).unwrap().unwrap().delivery;
        d1.ack().unwrap();
        let e = match settle {
            0 => ch.ack(1, false),
            1 => ch.nack(1, false, true),
            2 => d1.reject(false),
            3 => ch.ack(1, true),
            _ => ch.nack(1, true, false),
        }
        .expect_err(name);
        assert_channel_error(&e, 406);
        // Tag 2 was not settled by the failed call: the close requeued it.
        let q = queue_info(&b, "q").unwrap();
        assert_eq!(
            (q.ready, q.unacked, q.acked, q.dropped),
            (2, 0, 1, 0),
            "{name}"
        );
        assert_channel_closed_by(&conn, &ch, 406);
    }
}

#[test]
fn c_d08_tag_0_without_multiple_and_no_ack_tags_are_unknown() {
    let (_b, conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 1);
    ch.get("q", false).unwrap().unwrap();
    let e = ch.ack(0, false).unwrap_err();
    assert_channel_error(&e, 406);
    assert_channel_closed_by(&conn, &ch, 406);

    let ch = conn.open_channel().unwrap();
    let g = ch.get("q", true).unwrap().unwrap();
    let e = g.delivery.ack().unwrap_err();
    assert_channel_error(&e, 406);
    assert_channel_closed_by(&conn, &ch, 406);
}

#[test]
fn c_d08_settling_frees_prefetch_for_dispatch() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 2, false).unwrap();
    let c = consume(&ch, "q", "c");
    publish_n(&ch, "q", 6);
    let first = drain(&c);
    assert_eq!(bodies(&first), ["m0", "m1"]);
    ch.ack(first[1].delivery_tag(), true).unwrap();
    let next = drain(&c);
    assert_eq!(bodies(&next), ["m2", "m3"]);
    next[0].reject(false).unwrap();
    assert_eq!(bodies(&drain(&c)), ["m4"]);
}

// ----- D09 requeue -----

#[test]
fn c_d09_requeue_goes_to_original_position_redelivered() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 6);
    let ds: Vec<_> = (0..4)
        .map(|_| ch.get("q", false).unwrap().unwrap().delivery)
        .collect();
    ds[2].reject(true).unwrap(); // m2
    ds[0].nack(true).unwrap(); // m0
    // Queue: m0 m2 m4 m5.
    let order: Vec<(String, bool)> = (0..4)
        .map(|_| {
            let g = ch.get("q", true).unwrap().unwrap();
            (text(&g.delivery), g.delivery.redelivered())
        })
        .collect();
    assert_eq!(
        order,
        [
            ("m0".into(), true),
            ("m2".into(), true),
            ("m4".into(), false),
            ("m5".into(), false)
        ]
    );
    // m1 and m3 requeued together with multiple: back in order.
    ch.nack(ds[3].delivery_tag(), true, true).unwrap();
    let again: Vec<String> = (0..2)
        .map(|_| text(&ch.get("q", true).unwrap().unwrap().delivery))
        .collect();
    assert_eq!(again, ["m1", "m3"]);
}

#[test]
fn c_d09_requeue_to_a_consumer_keeps_order() {
    let (_b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.qos(0, 3, false).unwrap();
    let c = consume(&ch, "q", "c");
    publish_n(&ch, "q", 5);
    let got = drain(&c);
    assert_eq!(bodies(&got), ["m0", "m1", "m2"]);
    // Requeue m1: it goes back before m3 and, with room again, straight back.
    got[1].nack(true).unwrap();
    let again = drain(&c);
    assert_eq!(bodies(&again), ["m1"]);
    assert!(again[0].redelivered());
    // Requeue everything: back in publish order, before m3.
    ch.nack(0, true, true).unwrap();
    let again = drain(&c);
    assert_eq!(bodies(&again), ["m0", "m1", "m2"]);
    assert!(again.iter().all(|d| d.redelivered()));
    ch.ack(0, true).unwrap();
    let last = drain(&c);
    assert_eq!(bodies(&last), ["m3", "m4"]);
    assert!(last.iter().all(|d| !d.redelivered()));
}

#[test]
fn c_d09_recover_requeues_everything_unacked() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 4);
    let _ds: Vec<_> = (0..3)
        .map(|_| ch.get("q", false).unwrap().unwrap().delivery)
        .collect();
    ch.ack(2, false).unwrap();
    ch.recover(true).unwrap();
    assert_eq!(ch.unacked_count(), 0);
    assert_eq!(counts(&b, "q"), (3, 0, 0));
    let order: Vec<(String, bool)> = (0..3)
        .map(|_| {
            let g = ch.get("q", true).unwrap().unwrap();
            (text(&g.delivery), g.delivery.redelivered())
        })
        .collect();
    assert_eq!(
        order,
        [
            ("m0".into(), true),
            ("m2".into(), true),
            ("m3".into(), false)
        ]
    );
    // Nothing outstanding: recover is fine.
    ch.recover(true).unwrap();
}

#[test]
fn c_d09_recover_without_requeue_is_540() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 1);
    ch.get("q", false).unwrap().unwrap();
    let e = ch.recover(false).unwrap_err();
    assert_connection_error(&e, 540);
    assert_connection_closed_by(&conn, &ch, 540);
    // The close requeued the delivery.
    assert_eq!(counts(&b, "q"), (1, 0, 0));
}

#[test]
fn c_d09_channel_and_connection_close_requeue_redelivered() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 4);
    let ch1 = conn.open_channel().unwrap();
    ch1.get("q", false).unwrap().unwrap(); // m0
    ch1.close();
    let conn2 = b.connect_default();
    let ch2 = conn2.open_channel().unwrap();
    ch2.get("q", false).unwrap().unwrap(); // m0 again
    ch2.get("q", false).unwrap().unwrap(); // m1
    drop(conn2); // the connection's close requeues its channels' deliveries
    assert!(!ch2.is_open());
    assert_eq!(counts(&b, "q"), (4, 0, 0));
    let order: Vec<(String, bool)> = (0..4)
        .map(|_| {
            let g = ch.get("q", true).unwrap().unwrap();
            (text(&g.delivery), g.delivery.redelivered())
        })
        .collect();
    assert_eq!(
        order,
        [
            ("m0".into(), true),
            ("m1".into(), true),
            ("m2".into(), false),
            ("m3".into(), false)
        ]
    );
}

// ----- D10 closing channels and connections -----

#[test]
fn c_d10_channel_close_requeues_and_cancels() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    let ch1 = conn.open_channel().unwrap();
    ch1.qos(0, 1, false).unwrap();
    let c = consume(&ch1, "q", "c");
    publish_n(&ch, "q", 3);
    let d0 = recv(&c);
    let g = ch1.get("q", false).unwrap().unwrap();
    assert_eq!(text(&g.delivery), "m1");
    assert_eq!(counts(&b, "q"), (1, 2, 1));
    ch1.close();
    assert!(!ch1.is_open());
    assert_eq!(
        ch1.close_reason().unwrap().reply_code(),
        200,
        "closed by the application"
    );
    assert_eq!(c.recv().unwrap_err().reason, CancelReason::ChannelClosed);
    assert_eq!(counts(&b, "q"), (3, 0, 0));
    assert!(b.consumers().is_empty());
    // Settling on the closed channel fails, naming the close.
    let e = d0.ack().unwrap_err();
    assert!(e.is_closed(), "{e}");
    assert_eq!(e.reply_code(), 200);
    // Closing again is fine; the connection is open.
    ch1.close();
    assert!(conn.is_open());
    let ch2 = conn.open_channel().unwrap();
    let c2 = consume(&ch2, "q", "c");
    let again = drain(&c2);
    assert_eq!(bodies(&again), ["m0", "m1", "m2"]);
    assert!(again[0].redelivered());
}

#[test]
fn c_d10_dropping_a_channel_closes_it() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 2);
    {
        let ch1 = conn.open_channel().unwrap();
        let c = consume(&ch1, "q", "c");
        let _d = recv(&c);
        std::mem::forget(c); // the channel's drop alone must cancel it
    }
    assert_eq!(counts(&b, "q"), (2, 0, 0));
    assert!(b.consumers().is_empty());
    assert_eq!(b.channels().len(), 1);
}

#[test]
fn c_d10_channel_error_requeues_and_cancels() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    let ch1 = conn.open_channel().unwrap();
    let c = consume(&ch1, "q", "c");
    publish_n(&ch, "q", 2);
    let _d0 = recv(&c);
    assert_channel_error(&ch1.ack(77, false).unwrap_err(), 406);
    assert_eq!(c.recv().unwrap_err().reason, CancelReason::ChannelClosed);
    assert_eq!(counts(&b, "q"), (2, 0, 0));
    assert!(ch.is_open());
}

#[test]
fn c_d10_connection_close_closes_channels_and_deletes_exclusive_queues() {
    let b = trackswitch::broker::Broker::new();
    let admin = b.connect_default();
    let ach = admin.open_channel().unwrap();
    declare(&ach, "shared");
    ach.queue_declare(
        "ad",
        &QueueDeclare {
            auto_delete: true,
            ..QueueDeclare::default()
        },
    )
    .unwrap();
    ach.exchange_declare(
        "x.ad",
        "fanout",
        &ExchangeDeclare {
            auto_delete: true,
            ..ExchangeDeclare::default()
        },
    )
    .unwrap();

    let conn = b.connect_default();
    let ch1 = conn.open_channel().unwrap();
    let ch2 = conn.open_channel().unwrap();
    ch1.queue_declare("excl", &QueueDeclare::exclusive())
        .unwrap();
    ch1.queue_bind("excl", "x.ad", "", &trackswitch::FieldTable::new())
        .unwrap();
    let c_shared = consume(&ch1, "shared", "s");
    let c_ad = consume(&ch2, "ad", "ad");
    let c_excl = consume(&ch2, "excl", "e");
    publish_n(&ach, "shared", 2);
    publish_n(&ach, "ad", 1);
    let _held = recv(&c_shared);
    let _held2 = recv(&c_ad);
    assert_eq!(b.connections().len(), 2);

    conn.close();
    assert!(!conn.is_open());
    assert!(!ch1.is_open() && !ch2.is_open());
    for c in [&c_shared, &c_ad, &c_excl] {
        let r = c.recv().unwrap_err().reason;
        assert!(
            matches!(r, CancelReason::ChannelClosed | CancelReason::QueueDeleted),
            "{r:?}"
        );
    }
    assert_eq!(c_shared.cancel_reason(), Some(CancelReason::ChannelClosed));
    // Unacked messages went back.
    assert_eq!(counts(&b, "shared"), (2, 0, 0));
    // The exclusive queue is gone, and with it the auto-delete exchange's last
    // binding; the auto-delete queue lost its last consumer.
    assert!(queue_info(&b, "excl").is_none());
    assert!(queue_info(&b, "ad").is_none());
    assert!(
        b.exchanges("/").unwrap().iter().all(|x| x.name != "x.ad"),
        "the auto-delete exchange went with its last binding"
    );
    assert!(b.consumers().is_empty());
    assert_eq!(b.connections().len(), 1);
    assert!(ach.is_open());
    let e = ach
        .queue_declare("excl", &QueueDeclare::passive())
        .unwrap_err();
    assert_channel_error(&e, 404);
}

#[test]
fn c_d10_dropping_a_connection_closes_it() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 1);
    {
        let conn = b.connect_default();
        let ch1 = conn.open_channel().unwrap();
        ch1.queue_declare("mine", &QueueDeclare::exclusive())
            .unwrap();
        ch1.get("q", false).unwrap().unwrap();
        std::mem::forget(ch1); // the connection's drop alone must close it
    }
    assert_eq!(counts(&b, "q"), (1, 0, 0));
    assert!(queue_info(&b, "mine").is_none());
    assert_eq!(b.connections().len(), 1);
}
