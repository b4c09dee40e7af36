//! Conformance rows T01-T02 (`shared/CONFORMANCE.md`): transactions, through the
//! public broker API only. The expected behaviour is RabbitMQ 3.10.8's (compared on
//! the wire in `tests/amqp_lapin.rs` and `tests/python/interop.py`).

#![cfg(feature = "broker")]

mod broker_common2;

use broker_common2::*;
use trackswitch::broker::{Message, PublishOptions};

fn get_body(ch: &trackswitch::broker::Channel, queue: &str) -> Option<String> {
    ch.get(queue, true)
        .expect("get")
        .map(|ok| text(&ok.delivery))
}

// ----- T01 select, commit, rollback -----

#[test]
fn c_t01_publishes_are_held_until_commit_in_order() {
    let (broker, _conn, ch) = setup();
    declare(&ch, "q");
    ch.tx_select().unwrap();
    assert!(ch.is_transactional());
    for body in ["a", "b", "c"] {
        let p = ch
            .publish("", "q", Message::new(body), PublishOptions::default())
            .unwrap();
        assert_eq!((p.seq, p.queues, p.returned.is_none()), (None, 0, true));
    }
    assert_eq!(
        counts(&broker, "q").0,
        0,
        "nothing reaches the queue before commit"
    );
    assert!(ch.tx_commit().unwrap().is_empty());
    assert_eq!(counts(&broker, "q").0, 3);
    let got: Vec<_> = std::iter::from_fn(|| get_body(&ch, "q")).collect();
    assert_eq!(got, ["a", "b", "c"]);
    // The channel stays transactional: the next publish is held again.
    publish_held(&ch, "q", "d");
    assert_eq!(counts(&broker, "q").0, 0);
    ch.tx_commit().unwrap();
    assert_eq!(get_body(&ch, "q").as_deref(), Some("d"));
}

fn publish_held(ch: &trackswitch::broker::Channel, queue: &str, body: &str) {
    ch.publish(
        "",
        queue,
        Message::new(body.to_string()),
        PublishOptions::default(),
    )
    .expect("held publish");
}

#[test]
fn c_t01_rollback_discards_held_publishes() {
    let (broker, _conn, ch) = setup();
    declare(&ch, "q");
    ch.tx_select().unwrap();
    publish_held(&ch, "q", "gone");
    let before = broker.memory_used();
    assert!(before >= 4, "held bodies count toward memory");
    ch.tx_rollback().unwrap();
    assert_eq!(broker.memory_used(), 0);
    ch.tx_commit().unwrap();
    assert_eq!(
        counts(&broker, "q").0,
        0,
        "a rolled-back publish never arrives"
    );
}

#[test]
fn c_t01_acks_are_held_and_rollback_leaves_them_unacked() {
    let (broker, _conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 3);
    let c = consume(&ch, "q", "c");
    let ds: Vec<_> = (0..3).map(|_| recv(&c)).collect();
    ch.tx_select().unwrap();
    ds[0].ack().unwrap();
    ds[2].reject(false).unwrap();
    // Held: the deliveries left the channel's unacked list, the queue still counts
    // them unacked.
    assert_eq!(ch.unacked_count(), 1);
    assert_eq!(counts(&broker, "q").1, 3);
    // An unknown tag fails at once, as RabbitMQ's ack inside a transaction.
    let err = ch.ack(ds[0].delivery_tag(), false).unwrap_err();
    assert_channel_error(&err, 406);
    assert!(!ch.is_open());

    // Again, and this time roll back: the messages stay unacked, then settle later.
    let (broker, _conn, ch) = setup();
    declare(&ch, "q");
    publish_n(&ch, "q", 3);
    let c = consume(&ch, "q", "c");
    let ds: Vec<_> = (0..3).map(|_| recv(&c)).collect();
    ch.tx_select().unwrap();
    ch.ack(ds[1].delivery_tag(), true).unwrap(); // m0 and m1
    assert_eq!(ch.unacked_count(), 1);
    ch.tx_rollback().unwrap();
    assert_eq!(
        ch.unacked_count(),
        3,
        "rolled-back acks leave the messages unacked"
    );
    assert_eq!(counts(&broker, "q").1, 3);
    // The same tags can be acked (and committed) afterwards.
    ch.ack(ds[2].delivery_tag(), true).unwrap();
    ch.tx_commit().unwrap();
    assert_eq!(ch.unacked_count(), 0);
    assert_eq!(counts(&broker, "q"), (0, 0, 1));
}

#[test]
fn c_t01_commit_applies_publishes_and_settlements_in_order() {
    let (broker, _conn, ch) = setup();
    declare(&ch, "q");
    publish(&ch, "q", "old");
    let c = consume(&ch, "q", "c");
    let d = recv(&c);
    ch.tx_select().unwrap();
    publish_held(&ch, "q", "new");
    d.nack(true).unwrap(); // requeue
    ch.tx_commit().unwrap();
    // In order: "new" is enqueued (and, the consumer having room, delivered) before
    // the nack puts "old" back, marked redelivered.
    let a = recv(&c);
    let b = recv(&c);
    assert_eq!((text(&a), a.redelivered()), ("new".into(), false));
    assert_eq!((text(&b), b.redelivered()), ("old".into(), true));
    a.ack().unwrap();
    b.ack().unwrap();
    ch.tx_commit().unwrap();
    assert_eq!(counts(&broker, "q"), (0, 0, 1));
}

#[test]
fn c_t01_mandatory_returns_come_from_the_commit() {
    let (_broker, _conn, ch) = setup();
    declare(&ch, "q");
    ch.tx_select().unwrap();
    let p = ch
        .publish(
            "amq.direct",
            "nowhere",
            Message::new("lost"),
            PublishOptions::mandatory(),
        )
        .unwrap();
    assert!(p.returned.is_none(), "nothing comes back before the commit");
    ch.publish("", "q", Message::new("kept"), PublishOptions::mandatory())
        .unwrap();
    let returned = ch.tx_commit().unwrap();
    assert_eq!(returned.len(), 1);
    assert_eq!(returned[0].reply_code, 312);
    assert_eq!(returned[0].routing_key, "nowhere");
    assert_eq!(&returned[0].message.body[..], b"lost");
    assert_eq!(get_body(&ch, "q").as_deref(), Some("kept"));
}

#[test]
fn c_t01_publish_errors_come_at_the_publish() {
    let (_broker, conn, ch) = setup();
    ch.tx_select().unwrap();
    let err = ch
        .publish("missing", "k", Message::new("x"), PublishOptions::default())
        .unwrap_err();
    assert_channel_error(&err, 404);
    assert_channel_closed_by(&conn, &ch, 404);
}

#[test]
fn c_t01_closing_discards_held_work_and_requeues_held_deliveries() {
    let (broker, conn, ch) = setup();
    declare(&ch, "q");
    publish(&ch, "q", "m");
    let c = consume(&ch, "q", "c");
    let d = recv(&c);
    ch.tx_select().unwrap();
    d.ack().unwrap();
    publish_held(&ch, "q", "never");
    ch.close();
    // The held ack is forgotten: the message is back, redelivered; the held publish
    // never arrives.
    let other = conn.open_channel().unwrap();
    let again = other.get("q", true).unwrap().expect("requeued");
    assert_eq!(
        (text(&again.delivery), again.delivery.redelivered()),
        ("m".into(), true)
    );
    assert!(other.get("q", true).unwrap().is_none());
    // Deliveries hold their message until they are dropped.
    drop((d, again));
    assert_eq!(broker.memory_used(), 0);
}

// ----- T02 mode errors -----

#[test]
fn c_t02_commit_or_rollback_without_select_is_406() {
    for commit in [true, false] {
        let (_broker, conn, ch) = setup();
        let err = if commit {
            ch.tx_commit().unwrap_err()
        } else {
            ch.tx_rollback().unwrap_err()
        };
        assert_channel_error(&err, 406);
        assert_eq!(
            err.to_string(),
            "PRECONDITION_FAILED - channel is not transactional"
        );
        assert_channel_closed_by(&conn, &ch, 406);
    }
}

#[test]
fn c_t02_tx_and_confirm_modes_exclude_each_other() {
    let (_broker, conn, ch) = setup();
    ch.tx_select().unwrap();
    ch.tx_select().unwrap(); // twice is fine
    let err = ch.confirm_select().unwrap_err();
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - cannot switch from tx to confirm mode"
    );
    assert_channel_closed_by(&conn, &ch, 406);

    let ch = conn.open_channel().unwrap();
    ch.confirm_select().unwrap();
    let err = ch.tx_select().unwrap_err();
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - cannot switch from confirm to tx mode"
    );
    assert_channel_closed_by(&conn, &ch, 406);
}
