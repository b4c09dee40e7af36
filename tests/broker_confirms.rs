//! Conformance rows P01-P02 (`shared/CONFORMANCE.md`): publisher confirms, through the
//! public broker API only.

#![cfg(feature = "broker")]

mod broker_common2;

use broker_common2::*;
use trackswitch::broker::{ExchangeDeclare, Message, PublishOptions};
use trackswitch::{FieldTable, FieldValue};

fn send(
    ch: &trackswitch::broker::Channel,
    exchange: &str,
    key: &str,
    body: &str,
) -> trackswitch::broker::Published {
    ch.publish(
        exchange,
        key,
        Message::new(body.to_string()),
        PublishOptions::default(),
    )
    .expect("publish")
}

// ----- P01 confirm.select -----

#[test]
fn c_p01_sequence_numbers_per_channel_from_1() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    // Before confirm.select: no sequence numbers, and no confirms to wait for.
    assert_eq!(send(&ch, "", "q", "before").seq, None);
    let e = ch.wait_for_confirms().unwrap_err();
    assert_channel_error(&e, 406);
    let ch = conn.open_channel().unwrap();
    ch.confirm_select().unwrap();
    // Selecting twice is fine and does not restart the numbering.
    let seqs: Vec<Option<u64>> = (0..3)
        .map(|i| send(&ch, "", "q", &format!("{i}")).seq)
        .collect();
    ch.confirm_select().unwrap();
    assert_eq!(seqs, [Some(1), Some(2), Some(3)]);
    assert_eq!(send(&ch, "", "q", "x").seq, Some(4));
    // Every publish is confirmed, including unroutable ones.
    assert_eq!(send(&ch, "", "nowhere", "y").seq, Some(5));
    assert!(ch.wait_for_confirms().unwrap());
    let info = b.channels().into_iter().find(|c| c.id == ch.id()).unwrap();
    assert!(info.confirm);
    // Another channel numbers from 1.
    let other = conn.open_channel().unwrap();
    other.confirm_select().unwrap();
    assert_eq!(send(&other, "", "q", "z").seq, Some(1));
    assert_eq!(send(&ch, "", "q", "w").seq, Some(6));
}

#[test]
fn c_p01_each_publish_acked_once_when_enqueued() {
    let (b, _conn, ch) = setup();
    declare(&ch, "q");
    ch.confirm_select().unwrap();
    for i in 1..=20u64 {
        let p = send(&ch, "", "q", &format!("m{i}"));
        assert_eq!((p.seq, p.ack, p.queues), (Some(i), true, 1));
        assert!(p.returned.is_none());
    }
    // Routing is synchronous: an acked message is in the queue.
    assert_eq!(counts(&b, "q").0, 20);
    assert!(ch.wait_for_confirms().unwrap());
}

#[test]
fn c_p01_reject_publish_is_a_nack() {
    let (b, _conn, ch) = setup();
    declare_with(
        &ch,
        "small",
        args([
            ("x-max-length", FieldValue::from(1)),
            ("x-overflow", FieldValue::from("reject-publish")),
        ]),
    );
    ch.confirm_select().unwrap();
    let p = send(&ch, "", "small", "first");
    assert!(p.ack);
    assert!(ch.wait_for_confirms().unwrap());
    let p = send(&ch, "", "small", "second");
    assert_eq!((p.seq, p.ack, p.queues), (Some(2), false, 1));
    assert!(
        !ch.wait_for_confirms().unwrap(),
        "a nack since the last wait"
    );
    // Reported once: the next wait sees only what came after.
    assert!(ch.wait_for_confirms().unwrap());
    assert_eq!(counts(&b, "small").0, 1);
    // Room again: acked.
    ch.get("small", true).unwrap().unwrap();
    let p = send(&ch, "", "small", "third");
    assert_eq!((p.seq, p.ack), (Some(3), true));
    assert!(ch.is_open(), "a refusal is not an error");
}

#[test]
fn c_p01_nack_when_one_of_several_queues_refuses() {
    let (b, _conn, ch) = setup();
    ch.exchange_declare("fan", "fanout", &ExchangeDeclare::default())
        .unwrap();
    declare_with(
        &ch,
        "full",
        args([
            ("x-max-length", FieldValue::from(0)),
            ("x-overflow", FieldValue::from("reject-publish")),
        ]),
    );
    declare(&ch, "open");
    for q in ["full", "open"] {
        ch.queue_bind(q, "fan", "", &FieldTable::new()).unwrap();
    }
    ch.confirm_select().unwrap();
    let p = send(&ch, "fan", "", "m");
    assert_eq!((p.seq, p.ack, p.queues), (Some(1), false, 2));
    // The other queue still got it.
    assert_eq!(counts(&b, "open").0, 1);
    assert_eq!(counts(&b, "full").0, 0);
}

#[test]
fn c_p01_reject_publish_dlx_is_a_nack_and_dead_letters() {
    let (b, _conn, ch) = setup();
    ch.exchange_declare("dlx", "fanout", &ExchangeDeclare::default())
        .unwrap();
    declare(&ch, "dead");
    ch.queue_bind("dead", "dlx", "", &FieldTable::new())
        .unwrap();
    declare_with(
        &ch,
        "small",
        args([
            ("x-max-length", FieldValue::from(0)),
            ("x-overflow", FieldValue::from("reject-publish-dlx")),
            ("x-dead-letter-exchange", FieldValue::from("dlx")),
        ]),
    );
    ch.confirm_select().unwrap();
    let p = send(&ch, "", "small", "m");
    assert_eq!((p.seq, p.ack), (Some(1), false));
    assert_eq!(counts(&b, "dead").0, 1);
}

#[test]
fn c_p01_drop_head_overflow_is_acked() {
    let (b, _conn, ch) = setup();
    declare_with(&ch, "small", args([("x-max-length", FieldValue::from(1))]));
    ch.confirm_select().unwrap();
    assert!(send(&ch, "", "small", "a").ack);
    assert!(
        send(&ch, "", "small", "b").ack,
        "drop-head accepts the new message"
    );
    assert!(ch.wait_for_confirms().unwrap());
    let g = ch.get("small", true).unwrap().unwrap();
    assert_eq!(text(&g.delivery), "b");
    assert_eq!(queue_info(&b, "small").unwrap().dropped, 1);
}

#[test]
fn c_p01_confirms_from_many_threads_are_unique() {
    let (b, conn, ch) = setup();
    declare(&ch, "q");
    ch.confirm_select().unwrap();
    let ch = std::sync::Arc::new(ch);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let ch = std::sync::Arc::clone(&ch);
            std::thread::spawn(move || {
                (0..250)
                    .map(|i| {
                        let p = send(&ch, "", "q", &format!("{t}-{i}"));
                        assert!(p.ack);
                        p.seq.expect("confirm mode")
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("publisher thread"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=1000).collect::<Vec<u64>>());
    assert_eq!(counts(&b, "q").0, 1000);
    drop(conn);
}

// ----- P02 unroutable messages -----

#[test]
fn c_p02_unroutable_is_acked() {
    let (_b, _conn, ch) = setup();
    ch.exchange_declare("x", "direct", &ExchangeDeclare::default())
        .unwrap();
    ch.confirm_select().unwrap();
    let p = send(&ch, "x", "no-binding", "lost");
    assert_eq!((p.seq, p.ack, p.queues), (Some(1), true, 0));
    assert!(p.returned.is_none(), "not mandatory: dropped");
    assert!(ch.wait_for_confirms().unwrap());
}

#[test]
fn c_p02_unroutable_mandatory_is_returned_then_acked() {
    let (_b, _conn, ch) = setup();
    ch.exchange_declare("x", "topic", &ExchangeDeclare::default())
        .unwrap();
    ch.confirm_select().unwrap();
    let mut m = Message::new("back to sender");
    m.properties.message_id = Some("id-1".into());
    m.properties.content_type = Some("text/plain".into());
    let p = ch
        .publish("x", "a.b", m.clone(), PublishOptions::mandatory())
        .unwrap();
    assert_eq!((p.seq, p.ack, p.queues), (Some(1), true, 0));
    let r = p
        .returned
        .expect("a mandatory unroutable message comes back");
    assert_eq!(r.reply_code, 312);
    assert_eq!(r.reply_text, "NO_ROUTE");
    assert_eq!((r.exchange.as_str(), r.routing_key.as_str()), ("x", "a.b"));
    assert_eq!(r.message, m);
    assert!(ch.wait_for_confirms().unwrap());
    // A routable mandatory message is not returned.
    declare(&ch, "q");
    let p = ch
        .publish("", "q", Message::new("ok"), PublishOptions::mandatory())
        .unwrap();
    assert_eq!((p.seq, p.ack, p.queues), (Some(2), true, 1));
    assert!(p.returned.is_none());
}

#[test]
fn c_p02_mandatory_without_confirms_still_returns() {
    let (_b, _conn, ch) = setup();
    let p = ch
        .publish(
            "",
            "missing-queue",
            Message::new("m"),
            PublishOptions::mandatory(),
        )
        .unwrap();
    assert_eq!((p.seq, p.ack, p.queues), (None, true, 0));
    assert_eq!(p.returned.expect("returned").reply_code, 312);
}
