//! Conformance rows Q01-Q10 (queues) of `shared/CONFORMANCE.md`, against the public
//! API of `trackswitch::broker`.

mod broker_common;

use broker_common::*;
use trackswitch::broker::{
    Broker, CancelReason, ConsumeOptions, ExchangeDeclare, QueueDeclare, RecvError, TryRecvError,
};
use trackswitch::{FieldTable, FieldValue};

// ----- Q01 server-named queues and the last declared name -----

#[test]
fn c_q01_empty_name_is_server_named() {
    let env = Env::new();
    let ch = env.ch();
    let a = ch.queue_declare("", &QueueDeclare::default()).unwrap();
    let b = ch.queue_declare("", &QueueDeclare::exclusive()).unwrap();
    for ok in [&a, &b] {
        assert!(ok.queue.starts_with("amq.gen-"), "{}", ok.queue);
        assert!(ok.queue.len() > "amq.gen-".len());
        assert_eq!((ok.message_count, ok.consumer_count), (0, 0));
        assert!(env.queue_exists(&ok.queue));
    }
    assert_ne!(a.queue, b.queue);
    // The generated name works like any other.
    assert_eq!(send(&ch, "", &a.queue, "m").queues, 1);
    assert_eq!(drain(&ch, &a.queue), ["m"]);
}

#[test]
fn c_q01_empty_name_means_last_declared_queue() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "x", "fanout");
    declare_q(&ch, "first");
    let last = ch
        .queue_declare("", &QueueDeclare::default())
        .unwrap()
        .queue;
    // bind
    ch.queue_bind("", "x", "", &FieldTable::new()).unwrap();
    assert_eq!(send(&ch, "x", "", "1").queues, 1);
    assert_eq!(env.ready(&last), 1);
    assert_eq!(env.ready("first"), 0);
    // get
    let g = ch.get("", true).unwrap().unwrap();
    assert_eq!(g.delivery.body(), b"1");
    // purge
    send(&ch, "x", "", "2");
    send(&ch, "x", "", "3");
    assert_eq!(ch.queue_purge("").unwrap(), 2);
    // consume
    let c = ch.consume("", &ConsumeOptions::no_ack()).unwrap();
    assert_eq!(c.queue(), last);
    send(&ch, "x", "", "4");
    assert_eq!(c.try_recv().unwrap().body(), b"4");
    drop(c);
    send(&ch, "", &last, "5");
    // unbind
    ch.queue_unbind("", "x", "", &FieldTable::new()).unwrap();
    assert_eq!(send(&ch, "x", "", "6").queues, 0);
    // delete
    assert_eq!(ch.queue_delete("", false, false).unwrap(), 1);
    assert!(!env.queue_exists(&last));
    assert!(env.queue_exists("first"));
    // A named declare becomes the last one.
    declare_q(&ch, "named");
    send(&ch, "", "named", "7");
    assert_eq!(ch.get("", true).unwrap().unwrap().delivery.body(), b"7");
}

#[test]
fn c_q01_empty_name_without_declared_queue_is_404() {
    let env = Env::new();
    let setup = env.ch();
    declare_x(&setup, "x", "fanout");
    // Another channel's declaration does not count: the name is per channel.
    declare_q(&setup, "elsewhere");
    let none = FieldTable::new();
    type Call = fn(
        &trackswitch::broker::Channel,
        &FieldTable,
    ) -> Result<(), trackswitch::broker::BrokerError>;
    let calls: [Call; 6] = [
        |c, a| c.queue_bind("", "x", "", a).map(drop),
        |c, _| c.consume("", &ConsumeOptions::default()).map(drop),
        |c, _| c.get("", true).map(drop),
        |c, _| c.queue_purge("").map(drop),
        |c, _| c.queue_delete("", false, false).map(drop),
        |c, _| c.queue_declare("", &QueueDeclare::passive()).map(drop),
    ];
    for (i, call) in calls.into_iter().enumerate() {
        let ch = env.ch();
        let err = expect_channel_error(&env.conn, &ch, call(&ch, &none), 404);
        assert!(err.reply_text().starts_with("NOT_FOUND"), "call {i}: {err}");
    }
    assert!(env.queue_exists("elsewhere"));
}

// ----- Q02 amq. prefix -----

#[test]
fn c_q02_amq_prefix_is_403_on_creation_only() {
    let env = Env::new();
    for name in ["amq.foo", "amq.", "amq.gen-mine"] {
        let ch = env.ch();
        let err = expect_channel_error(
            &env.conn,
            &ch,
            ch.queue_declare(name, &QueueDeclare::default()),
            403,
        );
        assert!(err.reply_text().contains(name), "{err}");
        assert!(!env.queue_exists(name));
    }
    // Existing amq.* queues (server-named) can be redeclared, checked and used.
    let ch = env.ch();
    let name = ch
        .queue_declare("", &QueueDeclare::default())
        .unwrap()
        .queue;
    let other = env.ch();
    other
        .queue_declare(&name, &QueueDeclare::default())
        .unwrap();
    other
        .queue_declare(&name, &QueueDeclare::passive())
        .unwrap();
    bind(&other, &name, "amq.fanout", "");
    assert_eq!(send(&other, "amq.fanout", "", "m").queues, 1);
    assert_eq!(drain(&other, &name), ["m"]);
    assert_eq!(other.queue_purge(&name).unwrap(), 0);
    assert_eq!(other.queue_delete(&name, false, false).unwrap(), 0);
    // Names that merely contain the prefix are fine.
    declare_q(&other, "amq");
    declare_q(&other, "AMQ.foo");
    declare_q(&other, "my.amq.foo");
}

// ----- Q03 passive declare -----

#[test]
fn c_q03_passive_missing_is_404() {
    let env = Env::new();
    let ch = env.ch();
    let err = expect_channel_error(
        &env.conn,
        &ch,
        ch.queue_declare("missing", &QueueDeclare::passive()),
        404,
    );
    assert_eq!(
        err.reply_text(),
        "NOT_FOUND - no queue 'missing' in vhost '/'"
    );
    assert!(!env.queue_exists("missing"));
}

#[test]
fn c_q03_passive_other_connections_exclusive_is_405() {
    let broker = Broker::new();
    let owner = broker.connect_default();
    let och = owner.open_channel().unwrap();
    och.queue_declare("mine", &QueueDeclare::exclusive())
        .unwrap();
    let other = broker.connect_default();
    let ch = other.open_channel().unwrap();
    let err = expect_channel_error(
        &other,
        &ch,
        ch.queue_declare("mine", &QueueDeclare::passive()),
        405,
    );
    assert!(err.reply_text().starts_with("RESOURCE_LOCKED"), "{err}");
    // The owner can.
    och.queue_declare("mine", &QueueDeclare::passive()).unwrap();
}

#[test]
fn c_q03_passive_returns_ready_and_consumer_counts() {
    let env = Env::new();
    let ch = env.ch();
    declare_q(&ch, "q");
    for i in 0..5 {
        send(&ch, "", "q", &i.to_string());
    }
    let ok = ch.queue_declare("q", &QueueDeclare::passive()).unwrap();
    assert_eq!(
        (ok.queue.as_str(), ok.message_count, ok.consumer_count),
        ("q", 5, 0)
    );
    // An unacked get is not ready.
    let g = ch.get("q", false).unwrap().unwrap();
    let ok = ch.queue_declare("q", &QueueDeclare::passive()).unwrap();
    assert_eq!((ok.message_count, ok.consumer_count), (4, 0));
    // Consumers: messages buffered for them are not ready either.
    let cch = env.ch();
    cch.qos(0, 1, false).unwrap();
    let c1 = cch.consume("q", &ConsumeOptions::default()).unwrap();
    let c2 = cch.consume("q", &ConsumeOptions::default()).unwrap();
    let ok = ch.queue_declare("q", &QueueDeclare::passive()).unwrap();
    assert_eq!((ok.message_count, ok.consumer_count), (2, 2));
    drop(c1);
    let ok = ch.queue_declare("q", &QueueDeclare::passive()).unwrap();
    assert_eq!(ok.consumer_count, 1);
    drop(c2);
    g.delivery.ack().unwrap();
    // A non-passive redeclare returns the counts too.
    let ok = ch.queue_declare("q", &QueueDeclare::default()).unwrap();
    assert_eq!(ok.consumer_count, 0);
}

// ----- Q04 redeclare -----

#[test]
fn c_q04_exclusivity_is_checked_first() {
    let broker = Broker::new();
    let owner = broker.connect_default();
    let och = owner.open_channel().unwrap();
    och.queue_declare("ex", &QueueDeclare::exclusive()).unwrap();
    let other = broker.connect_default();
    // Another connection: 405 even when durable and arguments differ too.
    let ch = other.open_channel().unwrap();
    let mismatched = QueueDeclare {
        durable: true,
        exclusive: true,
        auto_delete: false,
        arguments: table(&[("x-max-length", FieldValue::LongInt(1))]),
        passive: false,
    };
    expect_channel_error(&other, &ch, ch.queue_declare("ex", &mismatched), 405);
    let ch = other.open_channel().unwrap();
    expect_channel_error(
        &other,
        &ch,
        ch.queue_declare("ex", &QueueDeclare::exclusive()),
        405,
    );
    // The owner redeclaring it as non-exclusive: 405 too.
    let ch = owner.open_channel().unwrap();
    let plain = QueueDeclare {
        auto_delete: true,
        ..QueueDeclare::default()
    };
    expect_channel_error(&owner, &ch, ch.queue_declare("ex", &plain), 405);
    // A non-exclusive queue redeclared as exclusive: 405 before the durable check.
    let ch = owner.open_channel().unwrap();
    ch.queue_declare("shared", &QueueDeclare::default())
        .unwrap();
    let excl_durable = QueueDeclare {
        exclusive: true,
        durable: true,
        ..QueueDeclare::default()
    };
    expect_channel_error(&owner, &ch, ch.queue_declare("shared", &excl_durable), 405);
    // The owner with matching options: fine.
    och.queue_declare("ex", &QueueDeclare::exclusive()).unwrap();
}

#[test]
fn c_q04_durable_and_auto_delete_must_match() {
    let env = Env::new();
    let ch = env.ch();
    let durable = QueueDeclare {
        durable: true,
        ..QueueDeclare::default()
    };
    ch.queue_declare("q", &durable).unwrap();
    ch.queue_declare("q", &durable).unwrap();
    let ch = env.ch();
    // Both differ: durable is reported (checked before auto-delete and arguments).
    let both = QueueDeclare {
        auto_delete: true,
        arguments: table(&[("x-message-ttl", FieldValue::LongInt(5))]),
        ..QueueDeclare::default()
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("q", &both), 406);
    assert!(err.reply_text().contains("'durable'"), "{err}");
    let ch = env.ch();
    let ad = QueueDeclare {
        durable: true,
        auto_delete: true,
        arguments: table(&[("x-message-ttl", FieldValue::LongInt(5))]),
        ..QueueDeclare::default()
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("q", &ad), 406);
    assert!(err.reply_text().contains("'auto_delete'"), "{err}");
    assert!(env.queue_info("q").unwrap().durable);
}

#[test]
fn c_q04_known_arguments_must_be_equivalent() {
    let env = Env::new();
    let ch = env.ch();
    let known = [
        ("x-message-ttl", FieldValue::LongInt(1000)),
        ("x-max-length", FieldValue::LongInt(10)),
        ("x-dead-letter-exchange", ls("dlx")),
        ("x-max-priority", FieldValue::LongInt(5)),
    ];
    declare_q_args(&ch, "q", &known);
    // Integer widths compare equal; order does not matter.
    let widened = [
        ("x-max-priority", FieldValue::ShortShortUInt(5)),
        ("x-max-length", FieldValue::LongLongInt(10)),
        ("x-message-ttl", FieldValue::ShortInt(1000)),
        (
            "x-dead-letter-exchange",
            FieldValue::ShortString("dlx".into()),
        ),
    ];
    declare_q_args(&ch, "q", &widened);
    // A different value, a missing one and an extra one: 406 each.
    let cases: Vec<Vec<(&str, FieldValue)>> = vec![
        {
            let mut v = known.to_vec();
            v[0].1 = FieldValue::LongInt(2000);
            v
        },
        known[1..].to_vec(),
        {
            let mut v = known.to_vec();
            v.push(("x-expires", FieldValue::LongInt(60_000)));
            v
        },
        {
            let mut v = known.to_vec();
            v[2].1 = ls("other");
            v
        },
    ];
    for args in cases {
        let ch = env.ch();
        let err = expect_channel_error(
            &env.conn,
            &ch,
            ch.queue_declare("q", &with_args(&args)),
            406,
        );
        assert!(err.reply_text().contains("inequivalent arg"), "{err}");
    }
}

#[test]
fn c_q04_unknown_arguments_are_ignored() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(
        &ch,
        "q",
        &[("x-custom", ls("a")), ("whatever", FieldValue::LongInt(1))],
    );
    declare_q_args(&ch, "q", &[("x-custom", ls("b"))]);
    declare_q(&ch, "q");
    declare_q_args(&ch, "q", &[("x-other", FieldValue::Boolean(true))]);
    assert!(ch.is_open());
}

// ----- Q05 argument validation -----

#[test]
fn c_q05_invalid_arguments_are_406() {
    let env = Env::new();
    let max = 315_360_000_000i64;
    let bad: Vec<Vec<(&str, FieldValue)>> = vec![
        vec![("x-message-ttl", FieldValue::LongInt(-1))],
        vec![("x-message-ttl", FieldValue::LongLongInt(max + 1))],
        vec![("x-message-ttl", ls("1000"))],
        vec![("x-expires", FieldValue::LongInt(0))],
        vec![("x-expires", FieldValue::LongInt(-5))],
        vec![("x-expires", FieldValue::LongLongInt(max + 1))],
        vec![("x-expires", FieldValue::Boolean(true))],
        vec![("x-max-length", FieldValue::LongInt(-1))],
        vec![("x-max-length", ls("10"))],
        vec![("x-max-length-bytes", FieldValue::LongInt(-1))],
        vec![("x-max-length-bytes", FieldValue::Double(1.0))],
        vec![("x-overflow", ls("drop-tail"))],
        vec![("x-overflow", ls("Reject-Publish"))],
        vec![("x-overflow", FieldValue::LongInt(1))],
        vec![("x-dead-letter-routing-key", ls("rk"))],
        vec![("x-max-priority", FieldValue::LongInt(256))],
        vec![("x-max-priority", FieldValue::LongInt(-1))],
        vec![("x-single-active-consumer", ls("true"))],
        vec![("x-single-active-consumer", FieldValue::LongInt(1))],
    ];
    for args in bad {
        let ch = env.ch();
        let err = expect_channel_error(
            &env.conn,
            &ch,
            ch.queue_declare("q", &with_args(&args)),
            406,
        );
        let text = err.reply_text();
        assert!(
            text.contains("invalid arg") && text.contains(args[0].0),
            "{args:?}: {text}"
        );
        assert!(!env.queue_exists("q"), "{args:?}");
    }
}

#[test]
fn c_q05_valid_arguments_at_the_bounds() {
    let env = Env::new();
    let ch = env.ch();
    let max = 315_360_000_000i64;
    let good: Vec<Vec<(&str, FieldValue)>> = vec![
        vec![("x-message-ttl", FieldValue::LongInt(0))],
        vec![("x-message-ttl", FieldValue::LongLongInt(max))],
        vec![("x-expires", FieldValue::LongInt(1))],
        vec![("x-expires", FieldValue::LongLongInt(max))],
        vec![("x-max-length", FieldValue::LongInt(0))],
        vec![("x-max-length-bytes", FieldValue::LongInt(0))],
        vec![("x-overflow", ls("drop-head"))],
        vec![("x-overflow", ls("reject-publish"))],
        vec![("x-overflow", ls("reject-publish-dlx"))],
        vec![("x-dead-letter-exchange", ls("dlx"))],
        vec![
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls("rk")),
        ],
        vec![("x-max-priority", FieldValue::LongInt(0))],
        vec![("x-max-priority", FieldValue::LongInt(255))],
        vec![("x-single-active-consumer", FieldValue::Boolean(true))],
        vec![("x-single-active-consumer", FieldValue::Boolean(false))],
    ];
    for (i, args) in good.into_iter().enumerate() {
        let name = format!("q{i}");
        ch.queue_declare(&name, &with_args(&args))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
}

// ----- Q06 exclusive -----

#[test]
fn c_q06_exclusive_queue_is_deleted_with_its_connection() {
    let broker = Broker::new();
    let owner = broker.connect_default();
    let och = owner.open_channel().unwrap();
    och.queue_declare("ex", &QueueDeclare::exclusive()).unwrap();
    let not_ad = QueueDeclare {
        exclusive: true,
        ..QueueDeclare::default()
    };
    och.queue_declare("ex2", &not_ad).unwrap();
    send(&och, "", "ex", "m");
    // Closing a channel does not delete it.
    och.close();
    let watcher_conn = broker.connect_default();
    let watcher = watcher_conn.open_channel().unwrap();
    let names = || -> Vec<String> {
        broker
            .queues("/")
            .unwrap()
            .into_iter()
            .map(|q| q.name)
            .collect()
    };
    assert!(names().contains(&"ex".to_string()));
    owner.close();
    assert!(names().is_empty(), "{:?}", names());
    expect_channel_error(
        &watcher_conn,
        &watcher,
        watcher.queue_declare("ex", &QueueDeclare::passive()),
        404,
    );
    // Dropping the connection handle closes it too.
    let owner = broker.connect_default();
    owner
        .open_channel()
        .unwrap()
        .queue_declare("ex3", &QueueDeclare::exclusive())
        .unwrap();
    drop(owner);
    assert!(names().is_empty());
}

#[test]
fn c_q06_other_connections_get_405() {
    let broker = Broker::new();
    let owner = broker.connect_default();
    let och = owner.open_channel().unwrap();
    // Not auto-delete: the owner's consumer below must not delete it.
    let exclusive = QueueDeclare {
        exclusive: true,
        ..QueueDeclare::default()
    };
    och.queue_declare("ex", &exclusive).unwrap();
    och.exchange_declare("x", "fanout", &ExchangeDeclare::default())
        .unwrap();
    let other = broker.connect_default();
    let none = FieldTable::new();
    type Call = fn(
        &trackswitch::broker::Channel,
        &FieldTable,
    ) -> Result<(), trackswitch::broker::BrokerError>;
    let calls: [(&str, Call); 7] = [
        ("consume", |c, _| {
            c.consume("ex", &ConsumeOptions::default()).map(drop)
        }),
        ("get", |c, _| c.get("ex", true).map(drop)),
        ("purge", |c, _| c.queue_purge("ex").map(drop)),
        ("delete", |c, _| {
            c.queue_delete("ex", false, false).map(drop)
        }),
        ("bind", |c, a| c.queue_bind("ex", "x", "", a)),
        ("unbind", |c, a| {
            c.queue_unbind("ex", "x", "", a).map(|_| ())
        }),
        ("passive", |c, _| {
            c.queue_declare("ex", &QueueDeclare::passive()).map(drop)
        }),
    ];
    for (what, call) in calls {
        let ch = other.open_channel().unwrap();
        let err = expect_channel_error(&other, &ch, call(&ch, &none), 405);
        assert!(err.reply_text().contains("'ex'"), "{what}: {err}");
    }
    assert!(broker.queues("/").unwrap().iter().any(|q| q.name == "ex"));
    // Publishing to it is allowed, directly or through an exchange.
    och.queue_bind("ex", "x", "", &none).unwrap();
    let ch = other.open_channel().unwrap();
    assert_eq!(send(&ch, "", "ex", "direct").queues, 1);
    assert_eq!(send(&ch, "x", "", "fanout").queues, 1);
    assert_eq!(drain(&och, "ex"), ["direct", "fanout"]);
    // Every call works for the owner, on any of its channels.
    let och2 = owner.open_channel().unwrap();
    let c = och2.consume("ex", &ConsumeOptions::no_ack()).unwrap();
    drop(c);
    assert_eq!(och2.queue_purge("ex").unwrap(), 0);
    assert_eq!(och2.queue_delete("ex", false, false).unwrap(), 0);
}

// ----- Q07 auto-delete -----

fn auto_delete_q() -> QueueDeclare {
    QueueDeclare {
        auto_delete: true,
        ..QueueDeclare::default()
    }
}

#[test]
fn c_q07_auto_delete_after_last_consumer() {
    let env = Env::new();
    let ch = env.ch();
    ch.queue_declare("ad", &auto_delete_q()).unwrap();
    let c1 = ch.consume("ad", &ConsumeOptions::default()).unwrap();
    let c2 = ch.consume("ad", &ConsumeOptions::default()).unwrap();
    drop(c1);
    assert!(env.queue_exists("ad"), "one consumer left");
    assert!(ch.cancel(c2.tag()).unwrap());
    assert!(!env.queue_exists("ad"));
    // The last consumer going with its channel counts too.
    let ch = env.ch();
    ch.queue_declare("ad2", &auto_delete_q()).unwrap();
    let cch = env.ch();
    let _c = cch.consume("ad2", &ConsumeOptions::default()).unwrap();
    cch.close();
    assert!(!env.queue_exists("ad2"));
}

#[test]
fn c_q07_never_consumed_is_never_auto_deleted() {
    let env = Env::new();
    let ch = env.ch();
    ch.queue_declare("ad", &auto_delete_q()).unwrap();
    send(&ch, "", "ad", "1");
    send(&ch, "", "ad", "2");
    // get alone never auto-deletes, with or without ack.
    let g = ch.get("ad", false).unwrap().unwrap();
    g.delivery.ack().unwrap();
    assert!(ch.get("ad", true).unwrap().is_some());
    assert!(ch.get("ad", true).unwrap().is_none());
    assert!(env.queue_exists("ad"));
    // Cancelling an unknown tag changes nothing.
    assert!(!ch.cancel("nobody").unwrap());
    assert!(env.queue_exists("ad"));
}

// ----- Q08 queue expiry -----

#[test]
fn c_q08_unused_queue_expires() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-expires", FieldValue::LongInt(1000))]);
    env.advance(999);
    assert!(env.queue_exists("q"));
    env.advance(1);
    assert!(!env.queue_exists("q"));
    // Its bindings went too.
    assert!(env.bindings().iter().all(|(_, d, _)| d != "q"));
}

#[test]
fn c_q08_use_resets_expiry() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-expires", FieldValue::LongInt(1000))]);
    // get (even on an empty queue) resets.
    env.advance(600);
    assert!(ch.get("q", true).unwrap().is_none());
    env.advance(600);
    assert!(env.queue_exists("q"));
    // redeclare resets (active and passive).
    declare_q_args(&ch, "q", &[("x-expires", FieldValue::LongInt(1000))]);
    env.advance(600);
    ch.queue_declare("q", &QueueDeclare::passive()).unwrap();
    env.advance(600);
    assert!(env.queue_exists("q"));
    // A consumer keeps it alive for any time.
    let c = ch.consume("q", &ConsumeOptions::default()).unwrap();
    env.advance(10_000);
    assert!(env.queue_exists("q"));
    // The timer starts again when the last consumer goes.
    drop(c);
    env.advance(999);
    assert!(env.queue_exists("q"));
    env.advance(1);
    assert!(!env.queue_exists("q"));
}

#[test]
fn c_q08_publishing_does_not_count_as_use() {
    let env = Env::new();
    let ch = env.ch();
    declare_q_args(&ch, "q", &[("x-expires", FieldValue::LongInt(1000))]);
    for _ in 0..4 {
        env.advance(300);
        if env.queue_exists("q") {
            send(&ch, "", "q", "m");
        }
    }
    assert!(!env.queue_exists("q"));
}

#[test]
fn c_q08_expired_queue_messages_are_not_dead_lettered() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "dlx", "fanout");
    declare_q(&ch, "dead");
    bind(&ch, "dead", "dlx", "");
    declare_q_args(
        &ch,
        "q",
        &[
            ("x-expires", FieldValue::LongInt(1000)),
            ("x-dead-letter-exchange", ls("dlx")),
        ],
    );
    send(&ch, "", "q", "1");
    send(&ch, "", "q", "2");
    env.advance(1000);
    assert!(!env.queue_exists("q"));
    assert_eq!(env.ready("dead"), 0);
    assert_eq!(env.broker.memory_used(), 0);
}

// ----- Q09 delete -----

#[test]
fn c_q09_delete_missing_returns_zero() {
    let env = Env::new();
    let ch = env.ch();
    assert_eq!(ch.queue_delete("missing", false, false).unwrap(), 0);
    assert_eq!(ch.queue_delete("missing", true, true).unwrap(), 0);
    assert!(ch.is_open());
}

#[test]
fn c_q09_if_unused_with_consumers_is_406() {
    let env = Env::new();
    let setup = env.ch();
    declare_q(&setup, "q");
    let c = setup.consume("q", &ConsumeOptions::default()).unwrap();
    let ch = env.ch();
    let err = expect_channel_error(&env.conn, &ch, ch.queue_delete("q", true, false), 406);
    assert!(err.reply_text().contains("in use"), "{err}");
    assert!(env.queue_exists("q"));
    drop(c);
    let ch = env.ch();
    assert_eq!(ch.queue_delete("q", true, false).unwrap(), 0);
}

#[test]
fn c_q09_if_empty_with_ready_messages_is_406() {
    let env = Env::new();
    let setup = env.ch();
    declare_q(&setup, "q");
    send(&setup, "", "q", "m");
    let ch = env.ch();
    let err = expect_channel_error(&env.conn, &ch, ch.queue_delete("q", false, true), 406);
    assert!(err.reply_text().contains("not empty"), "{err}");
    assert_eq!(env.ready("q"), 1);
    // Unacked messages are not ready: if_empty deletes.
    let g = setup.get("q", false).unwrap().unwrap();
    assert_eq!(setup.queue_delete("q", false, true).unwrap(), 0);
    assert!(!env.queue_exists("q"));
    // Settling after the delete is harmless.
    g.delivery.ack().unwrap();
    // A delivery holds its message until it is dropped.
    drop(g);
    assert_eq!(env.broker.memory_used(), 0);
}

#[test]
fn c_q09_delete_returns_count_removes_bindings_and_cancels_consumers() {
    let env = Env::new();
    let ch = env.ch();
    ch.exchange_declare(
        "ad",
        "fanout",
        &ExchangeDeclare {
            auto_delete: true,
            ..ExchangeDeclare::default()
        },
    )
    .unwrap();
    declare_x(&ch, "keep", "direct");
    declare_q(&ch, "q");
    bind(&ch, "q", "ad", "");
    bind(&ch, "q", "keep", "k");
    for i in 0..3 {
        send(&ch, "", "q", &i.to_string());
    }
    // One delivered and unacked on a consumer's channel: not counted.
    let cch = env.ch();
    cch.qos(0, 1, false).unwrap();
    let tagged = ConsumeOptions {
        tag: "t1".into(),
        ..ConsumeOptions::default()
    };
    let c = cch.consume("q", &tagged).unwrap();
    let d = c.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(d.body(), b"0");
    assert_eq!(ch.queue_delete("q", false, false).unwrap(), 2);
    assert!(!env.queue_exists("q"));
    assert!(env.bindings().iter().all(|(_, dst, _)| dst != "q"));
    assert!(
        !env.exchange_exists("ad"),
        "auto-delete exchange lost its last binding"
    );
    assert!(env.exchange_exists("keep"));
    // The consumer is cancelled with a notification; its channel stays open.
    assert_eq!(
        c.recv().unwrap_err(),
        RecvError {
            reason: CancelReason::QueueDeleted
        }
    );
    assert_eq!(c.cancel_reason(), Some(CancelReason::QueueDeleted));
    assert!(matches!(
        c.try_recv(),
        Err(TryRecvError::Ended(CancelReason::QueueDeleted))
    ));
    assert!(cch.is_open());
    d.ack().unwrap();
    assert_eq!(env.broker.consumers().len(), 0);
    assert_eq!(
        env.broker
            .channels()
            .iter()
            .map(|c| c.consumers)
            .sum::<usize>(),
        0
    );
    // A new queue of that name starts empty and unbound; the consumer tag is free.
    declare_q(&ch, "q");
    assert_eq!(send(&ch, "keep", "k", "x").queues, 0);
    assert_eq!(env.ready("q"), 0);
    let again = cch
        .consume("q", &tagged)
        .expect("the cancelled consumer's tag is free");
    assert_eq!(again.tag(), "t1");
    drop(c);
    assert_eq!(
        env.broker.consumers().len(),
        1,
        "dropping the old handle leaves the new one"
    );
}

// ----- Q10 purge -----

#[test]
fn c_q10_purge_removes_ready_only() {
    let env = Env::new();
    let ch = env.ch();
    declare_q(&ch, "q");
    for i in 0..4 {
        send(&ch, "", "q", &i.to_string());
    }
    let g = ch.get("q", false).unwrap().unwrap();
    assert_eq!(ch.queue_purge("q").unwrap(), 3);
    assert_eq!(env.ready("q"), 0);
    assert_eq!(env.queue_info("q").unwrap().unacked, 1);
    assert_eq!(ch.queue_purge("q").unwrap(), 0);
    // The unacked message survives and can be requeued.
    g.delivery.nack(true).unwrap();
    assert_eq!(env.ready("q"), 1);
    let again = ch.get("q", true).unwrap().unwrap();
    assert_eq!(again.delivery.body(), b"0");
    assert!(again.delivery.redelivered());
    // The queue and its bindings are untouched.
    bind(&ch, "q", "amq.direct", "k");
    send(&ch, "amq.direct", "k", "after");
    assert_eq!(ch.queue_purge("q").unwrap(), 1);
    assert_eq!(send(&ch, "amq.direct", "k", "still bound").queues, 1);
    drop((g, again));
    // Only the last message is held: its body and its bookkeeping.
    let held = env.broker.memory_used();
    assert!((11..1024).contains(&held), "{held}");
    // Missing: 404.
    let ch = env.ch();
    expect_channel_error(&env.conn, &ch, ch.queue_purge("missing"), 404);
}

#[test]
fn c_q10_purge_with_waiting_consumer_keeps_buffered_deliveries() {
    let env = Env::new();
    let ch = env.ch();
    declare_q(&ch, "q");
    let cch = env.ch();
    cch.qos(0, 2, false).unwrap();
    let c = cch.consume("q", &ConsumeOptions::default()).unwrap();
    for i in 0..5 {
        send(&ch, "", "q", &i.to_string());
    }
    // Two went to the consumer (prefetch 2): only three are ready.
    assert_eq!(ch.queue_purge("q").unwrap(), 3);
    let a = c.try_recv().unwrap();
    let b = c.try_recv().unwrap();
    assert_eq!((a.body(), b.body()), (&b"0"[..], &b"1"[..]));
    assert!(matches!(c.try_recv(), Err(TryRecvError::Empty)));
    a.ack().unwrap();
    b.ack().unwrap();
}

/// A passive declare names its queue: `''` is not the last declared queue (RabbitMQ
/// 3.10.8 answers 404 "no queue ''" even after a declare on the channel).
#[test]
fn c_q01_passive_declare_of_empty_name_is_404() {
    let env = Env::new();
    let ch = env.ch();
    declare_q(&ch, "last");
    let err = expect_channel_error(
        &env.conn,
        &ch,
        ch.queue_declare("", &QueueDeclare::passive()),
        404,
    );
    assert_eq!(err.to_string(), "NOT_FOUND - no queue '' in vhost '/'");
}

// ----- Q11 quorum queues -----

fn quorum(extra: &[(&str, FieldValue)]) -> QueueDeclare {
    let mut arguments = table(&[("x-queue-type", ls("quorum"))]);
    for (k, v) in extra {
        arguments.insert(*k, v.clone());
    }
    QueueDeclare {
        durable: true,
        arguments,
        ..QueueDeclare::default()
    }
}

#[test]
fn c_q11_quorum_queues_declare_durable_only() {
    let env = Env::new();
    let ch = env.ch();
    let ok = ch.queue_declare("qq", &quorum(&[])).unwrap();
    assert_eq!(ok.queue, "qq");
    // Redeclared the same way: fine; as a classic queue: inequivalent.
    ch.queue_declare("qq", &quorum(&[])).unwrap();
    let err = expect_channel_error(
        &env.conn,
        &ch,
        ch.queue_declare(
            "qq",
            &QueueDeclare {
                durable: true,
                ..QueueDeclare::default()
            },
        ),
        406,
    );
    assert!(err.reply_text().contains("x-queue-type"), "{err}");
    for (what, o) in [
        (
            "non-durable",
            QueueDeclare {
                durable: false,
                ..quorum(&[])
            },
        ),
        (
            "exclusive-owner",
            QueueDeclare {
                exclusive: true,
                ..quorum(&[])
            },
        ),
        (
            "auto-delete",
            QueueDeclare {
                auto_delete: true,
                ..quorum(&[])
            },
        ),
    ] {
        let ch = env.ch();
        let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("q2", &o), 406);
        assert_eq!(
            err.to_string(),
            format!("PRECONDITION_FAILED - invalid property '{what}' for queue 'q2' in vhost '/'")
        );
    }
    // Arguments quorum queues refuse (RabbitMQ 3.10.8's texts); others they take.
    for name in ["x-max-priority", "x-queue-mode", "x-queue-master-locator"] {
        let ch = env.ch();
        let args = [(name, FieldValue::LongInt(5))];
        let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("q3", &quorum(&args)), 406);
        assert_eq!(
            err.to_string(),
            format!(
                "PRECONDITION_FAILED - invalid arg '{name}' for queue 'q3' in vhost '/' of queue type rabbit_quorum_queue"
            )
        );
    }
    let ch = env.ch();
    let taken = [
        ("x-overflow", ls("reject-publish-dlx")),
        ("x-delivery-limit", ls("three")),
        ("x-foo", ls("bar")),
        ("x-message-ttl", FieldValue::LongInt(1000)),
    ];
    ch.queue_declare("q4", &quorum(&taken)).unwrap();
    // A server-named quorum queue, an unknown type.
    let ch = env.ch();
    let o = QueueDeclare {
        durable: true,
        ..quorum(&[])
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("", &o), 406);
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_quorum_queue"
    );
    let ch = env.ch();
    let o = QueueDeclare {
        durable: true,
        arguments: table(&[("x-queue-type", ls("bogus"))]),
        ..QueueDeclare::default()
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("b", &o), 406);
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'b' in vhost '/': \"unsupported queue type 'bogus'\""
    );
    // Streams: the declare properties are checked first, as RabbitMQ does; then our
    // refusal.
    let ch = env.ch();
    let o = QueueDeclare {
        durable: false,
        arguments: table(&[("x-queue-type", ls("stream"))]),
        ..QueueDeclare::default()
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("s", &o), 406);
    assert!(
        err.reply_text().contains("invalid property 'non-durable'"),
        "{err}"
    );
    let ch = env.ch();
    let o = QueueDeclare {
        durable: true,
        arguments: table(&[("x-queue-type", ls("stream"))]),
        ..QueueDeclare::default()
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("s", &o), 406);
    assert!(
        err.reply_text().contains("streams are not supported"),
        "{err}"
    );
    assert!(!env.queue_exists("q2") && !env.queue_exists("q3") && !env.queue_exists("s"));
    // Redeclares: `classic` named or not is the same; quorum against none is not.
    let ch = env.ch();
    let o = QueueDeclare {
        arguments: table(&[("x-queue-type", ls("classic"))]),
        ..QueueDeclare::default()
    };
    ch.queue_declare("c", &o).unwrap();
    ch.queue_declare("c", &QueueDeclare::default()).unwrap();
    let err = expect_channel_error(
        &env.conn,
        &ch,
        ch.queue_declare(
            "qq",
            &QueueDeclare {
                durable: true,
                ..QueueDeclare::default()
            },
        ),
        406,
    );
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'qq' in vhost '/': \
         received none but current is the value 'quorum' of type 'longstr'"
    );
}

#[test]
fn c_q11_delivery_count_and_limit() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "dlx", "fanout");
    declare_q(&ch, "dead");
    bind(&ch, "dead", "dlx", "");
    let o = quorum(&[
        ("x-delivery-limit", FieldValue::LongInt(2)),
        ("x-dead-letter-exchange", ls("dlx")),
    ]);
    ch.queue_declare("qq", &o).unwrap();
    ch.publish(
        "",
        "qq",
        trackswitch::broker::Message::new("m"),
        Default::default(),
    )
    .unwrap();
    let c = ch.consume("qq", &ConsumeOptions::default()).unwrap();
    // First delivery: no header; each return adds one to x-delivery-count.
    let mut counts = Vec::new();
    for _ in 0..3 {
        let d = c.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        let count = d
            .message()
            .properties
            .headers
            .as_ref()
            .and_then(|h| h.get("x-delivery-count"))
            .and_then(FieldValue::as_int);
        counts.push(count);
        d.nack(true).unwrap();
    }
    assert_eq!(counts, [None, Some(1), Some(2)]);
    // The third return is over the limit of 2: dead-lettered with reason
    // delivery_limit, not delivered again.
    assert!(matches!(c.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(env.ready("qq"), 0);
    let dead = ch.get("dead", true).unwrap().expect("dead-lettered");
    let headers = dead.delivery.message().properties.headers.clone().unwrap();
    assert!(
        headers.get("x-delivery-count").is_none(),
        "not stored in the message"
    );
    let Some(FieldValue::Array(deaths)) = headers.get("x-death") else {
        panic!("x-death: {headers:?}")
    };
    let Some(FieldValue::Table(death)) = deaths.first() else {
        panic!("{deaths:?}")
    };
    assert_eq!(
        death.get("reason").and_then(FieldValue::as_bytes),
        Some(&b"delivery_limit"[..])
    );
}

/// Quorum queues put returned messages at the back (RabbitMQ 3.10.8; classic queues
/// put them back in place), and `basic.get` names the delivery count from 0.
#[test]
fn c_q11_returns_go_to_the_back_and_get_counts_from_0() {
    let env = Env::new();
    let ch = env.ch();
    ch.queue_declare("qq", &quorum(&[])).unwrap();
    for body in ["m1", "m2", "m3"] {
        ch.publish(
            "",
            "qq",
            trackswitch::broker::Message::new(body),
            Default::default(),
        )
        .unwrap();
    }
    let count = |d: &trackswitch::broker::Delivery| {
        d.message()
            .properties
            .headers
            .as_ref()
            .and_then(|h| h.get("x-delivery-count"))
            .and_then(FieldValue::as_int)
    };
    let first = ch.get("qq", false).unwrap().unwrap().delivery;
    assert_eq!((first.body(), count(&first)), (&b"m1"[..], Some(0)));
    first.reject(true).unwrap();
    let mut order = Vec::new();
    while let Some(ok) = ch.get("qq", true).unwrap() {
        let d = ok.delivery;
        order.push((String::from_utf8_lossy(d.body()).into_owned(), count(&d)));
    }
    assert_eq!(
        order,
        [
            ("m2".to_string(), Some(0)),
            ("m3".to_string(), Some(0)),
            ("m1".to_string(), Some(1))
        ]
    );
}

/// Q05 in RabbitMQ 3.10.8's words: each refused argument's text as the real node sent
/// it (docs/probes, `probe_quorum.py` and the argument probe of the wire facts).
#[test]
fn c_q05_refusals_in_rabbitmq_words() {
    let env = Env::new();
    let cases: &[(&str, FieldValue, &str)] = &[
        (
            "x-max-priority",
            FieldValue::LongInt(256),
            ": {max_value_exceeded,256}",
        ),
        (
            "x-max-priority",
            FieldValue::LongInt(-1),
            ": {value_negative,-1}",
        ),
        (
            "x-message-ttl",
            FieldValue::LongLongInt(315_360_000_001),
            ": {value_too_large,315360000001}",
        ),
        (
            "x-expires",
            FieldValue::LongInt(-5),
            ": {value_negative,-5}",
        ),
        ("x-expires", FieldValue::LongInt(0), ": {value_zero,0}"),
        (
            "x-max-length",
            ls("abc"),
            ": \"expected integer, got longstr\"",
        ),
        (
            "x-single-active-consumer",
            ls("x"),
            ": {unacceptable_type,longstr}",
        ),
        (
            "x-max-length-bytes",
            FieldValue::LongInt(-1),
            ": {value_negative,-1}",
        ),
        ("x-overflow", ls("bogus"), ": invalid_overflow"),
        (
            "x-overflow",
            FieldValue::LongInt(5),
            ": {unacceptable_type,signedint}",
        ),
        (
            "x-queue-type",
            FieldValue::LongInt(1),
            ": {unacceptable_type,signedint}",
        ),
    ];
    for (i, (name, value, tail)) in cases.iter().enumerate() {
        let ch = env.ch();
        let q = format!("a{i}");
        let o = QueueDeclare {
            arguments: table(&[(name, value.clone())]),
            ..QueueDeclare::default()
        };
        let err = expect_channel_error(&env.conn, &ch, ch.queue_declare(&q, &o), 406);
        assert_eq!(
            err.to_string(),
            format!(
                "PRECONDITION_FAILED - invalid arg '{name}' for queue '{q}' in vhost '/'{tail}"
            )
        );
    }
    let ch = env.ch();
    let o = QueueDeclare {
        arguments: table(&[("x-dead-letter-exchange", FieldValue::LongInt(5))]),
        ..QueueDeclare::default()
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("d", &o), 406);
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'd' in vhost '/'"
    );
    let ch = env.ch();
    let o = QueueDeclare {
        arguments: table(&[("x-dead-letter-routing-key", ls("k"))]),
        ..QueueDeclare::default()
    };
    let err = expect_channel_error(&env.conn, &ch, ch.queue_declare("r", &o), 406);
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue 'r' in vhost '/': routing_key_but_no_dlx_defined"
    );
}
