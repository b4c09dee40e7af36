//! Conformance rows E01-E04 (exchanges) of `shared/CONFORMANCE.md`, against the
//! public API of `trackswitch::broker`.

mod broker_common;

use broker_common::*;
use trackswitch::FieldTable;
use trackswitch::broker::{Broker, ExchangeDeclare, QueueDeclare};

fn auto_delete() -> ExchangeDeclare {
    ExchangeDeclare {
        auto_delete: true,
        ..ExchangeDeclare::default()
    }
}

// ----- E01 declare -----

#[test]
fn c_e01_unknown_type_is_406() {
    let env = Env::new();
    for kind in ["foo", "Direct", "", "x-consistent-hash"] {
        let ch = env.ch();
        expect_channel_error(
            &env.conn,
            &ch,
            ch.exchange_declare("x", kind, &ExchangeDeclare::default()),
            406,
        );
        assert!(!env.exchange_exists("x"));
    }
    let ch = env.ch();
    for kind in ["direct", "fanout", "topic", "headers"] {
        declare_x(&ch, &format!("x-{kind}"), kind);
    }
}

#[test]
fn c_e01_passive_missing_is_404() {
    let env = Env::new();
    let ch = env.ch();
    let err = expect_channel_error(
        &env.conn,
        &ch,
        ch.exchange_declare("missing", "direct", &ExchangeDeclare::passive()),
        404,
    );
    assert_eq!(
        err.reply_text(),
        "NOT_FOUND - no exchange 'missing' in vhost '/'"
    );
    assert!(!env.exchange_exists("missing"), "passive never creates");
    // Passive on an existing one succeeds whatever the other fields say.
    let ch = env.ch();
    declare_x(&ch, "x", "topic");
    let o = ExchangeDeclare {
        passive: true,
        durable: true,
        auto_delete: true,
        internal: true,
        arguments: table(&[("alternate-exchange", ls("other"))]),
    };
    ch.exchange_declare("x", "fanout", &o).unwrap();
    ch.exchange_declare("amq.topic", "topic", &ExchangeDeclare::passive())
        .unwrap();
}

#[test]
fn c_e01_redeclare_must_match() {
    let env = Env::new();
    let base = ExchangeDeclare {
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: table(&[("alternate-exchange", ls("ae"))]),
        passive: false,
    };
    let ch = env.ch();
    ch.exchange_declare("x", "direct", &base).unwrap();
    // The same again is fine; unknown arguments do not matter.
    ch.exchange_declare("x", "direct", &base).unwrap();
    let mut extra = base.clone();
    extra.arguments.insert("x-unknown", 1);
    ch.exchange_declare("x", "direct", &extra).unwrap();
    let variants: Vec<(&str, &str, ExchangeDeclare)> = vec![
        ("type", "fanout", base.clone()),
        (
            "durable",
            "direct",
            ExchangeDeclare {
                durable: false,
                ..base.clone()
            },
        ),
        (
            "auto_delete",
            "direct",
            ExchangeDeclare {
                auto_delete: true,
                ..base.clone()
            },
        ),
        (
            "internal",
            "direct",
            ExchangeDeclare {
                internal: true,
                ..base.clone()
            },
        ),
        (
            "alternate-exchange",
            "direct",
            ExchangeDeclare {
                arguments: table(&[("alternate-exchange", ls("other"))]),
                ..base.clone()
            },
        ),
        (
            "alternate-exchange",
            "direct",
            ExchangeDeclare {
                arguments: FieldTable::new(),
                ..base.clone()
            },
        ),
    ];
    for (what, kind, o) in variants {
        let ch = env.ch();
        let err = expect_channel_error(&env.conn, &ch, ch.exchange_declare("x", kind, &o), 406);
        assert!(
            err.reply_text().starts_with("PRECONDITION_FAILED"),
            "{what}: {err}"
        );
    }
    // Nothing changed.
    let x = env
        .broker
        .exchanges("/")
        .unwrap()
        .into_iter()
        .find(|x| x.name == "x")
        .unwrap();
    assert!(x.durable && !x.auto_delete && !x.internal);
    assert_eq!(x.alternate_exchange.as_deref(), Some("ae"));
    // A non-string alternate-exchange is refused.
    let ch = env.ch();
    let bad = ExchangeDeclare {
        arguments: table(&[("alternate-exchange", trackswitch::FieldValue::LongInt(1))]),
        ..ExchangeDeclare::default()
    };
    expect_channel_error(
        &env.conn,
        &ch,
        ch.exchange_declare("y", "direct", &bad),
        406,
    );
}

// ----- E02 auto-delete -----

#[test]
fn c_e02_auto_delete_when_last_source_binding_goes() {
    let env = Env::new();
    let ch = env.ch();
    ch.exchange_declare("ad", "direct", &auto_delete()).unwrap();
    declare_q(&ch, "q1");
    declare_q(&ch, "q2");
    bind(&ch, "q1", "ad", "a");
    bind(&ch, "q2", "ad", "b");
    ch.queue_unbind("q1", "ad", "a", &FieldTable::new())
        .unwrap();
    assert!(env.exchange_exists("ad"), "one binding left");
    ch.queue_unbind("q2", "ad", "b", &FieldTable::new())
        .unwrap();
    assert!(!env.exchange_exists("ad"), "last binding gone");
    // Exchange-to-exchange bindings as source count too.
    ch.exchange_declare("ad2", "fanout", &auto_delete())
        .unwrap();
    declare_x(&ch, "dest", "fanout");
    bind_x(&ch, "dest", "ad2", "");
    ch.exchange_unbind("dest", "ad2", "", &FieldTable::new())
        .unwrap();
    assert!(!env.exchange_exists("ad2"));
    assert!(env.exchange_exists("dest"));
}

#[test]
fn c_e02_auto_delete_via_queue_deletion() {
    let env = Env::new();
    let ch = env.ch();
    ch.exchange_declare("ad", "fanout", &auto_delete()).unwrap();
    declare_q(&ch, "q");
    bind(&ch, "q", "ad", "");
    ch.queue_delete("q", false, false).unwrap();
    assert!(!env.exchange_exists("ad"));
    // An exclusive queue deleted with its connection does it too.
    ch.exchange_declare("ad3", "fanout", &auto_delete())
        .unwrap();
    let other = env.broker.connect_default();
    let och = other.open_channel().unwrap();
    och.queue_declare("excl", &QueueDeclare::exclusive())
        .unwrap();
    och.queue_bind("excl", "ad3", "", &FieldTable::new())
        .unwrap();
    drop(och);
    assert!(env.exchange_exists("ad3"));
    other.close();
    assert!(!env.queue_exists("excl"));
    assert!(!env.exchange_exists("ad3"));
    // A destination exchange deleted removes the source binding too.
    ch.exchange_declare("ad4", "fanout", &auto_delete())
        .unwrap();
    declare_x(&ch, "d4", "fanout");
    bind_x(&ch, "d4", "ad4", "");
    ch.exchange_delete("d4", false).unwrap();
    assert!(!env.exchange_exists("ad4"));
}

#[test]
fn c_e02_never_auto_deleted_without_a_source_binding() {
    let env = Env::new();
    let ch = env.ch();
    ch.exchange_declare("ad", "fanout", &auto_delete()).unwrap();
    declare_q(&ch, "q");
    // Unbinding something that was never bound does not delete it.
    ch.queue_unbind("q", "ad", "", &FieldTable::new()).unwrap();
    assert!(env.exchange_exists("ad"));
    // Being the destination of a binding does not count.
    declare_x(&ch, "src", "fanout");
    bind_x(&ch, "ad", "src", "");
    ch.exchange_unbind("ad", "src", "", &FieldTable::new())
        .unwrap();
    assert!(env.exchange_exists("ad"));
    // Publishing to it is fine.
    assert_eq!(send(&ch, "ad", "", "m").queues, 0);
    assert!(env.exchange_exists("ad"));
    // A non-auto-delete exchange stays after its last binding.
    declare_x(&ch, "plain", "fanout");
    bind(&ch, "q", "plain", "");
    ch.queue_unbind("q", "plain", "", &FieldTable::new())
        .unwrap();
    assert!(env.exchange_exists("plain"));
}

// ----- E03 delete -----

#[test]
fn c_e03_delete_missing_is_fine() {
    let env = Env::new();
    let ch = env.ch();
    ch.exchange_delete("missing", false).unwrap();
    ch.exchange_delete("missing", true).unwrap();
    assert!(ch.is_open());
}

#[test]
fn c_e03_if_unused_with_source_binding_is_406() {
    let env = Env::new();
    let setup = env.ch();
    declare_x(&setup, "x", "direct");
    declare_q(&setup, "q");
    bind(&setup, "q", "x", "k");
    let ch = env.ch();
    let err = expect_channel_error(&env.conn, &ch, ch.exchange_delete("x", true), 406);
    assert!(err.reply_text().contains("'x'"), "{err}");
    assert!(env.exchange_exists("x"));
    assert_eq!(send(&setup, "x", "k", "still").queues, 1);
    // An exchange-to-exchange binding as source counts.
    declare_x(&setup, "y", "direct");
    declare_x(&setup, "z", "direct");
    bind_x(&setup, "z", "y", "k");
    let ch = env.ch();
    expect_channel_error(&env.conn, &ch, ch.exchange_delete("y", true), 406);
    // Being only a destination does not: z is "unused".
    setup.exchange_delete("z", true).unwrap();
    assert!(!env.exchange_exists("z"));
    // Without bindings, if_unused deletes.
    declare_x(&setup, "w", "direct");
    setup.exchange_delete("w", true).unwrap();
    assert!(!env.exchange_exists("w"));
}

#[test]
fn c_e03_delete_removes_bindings_as_source_and_destination() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "up", "fanout");
    declare_x(&ch, "x", "fanout");
    declare_q(&ch, "q");
    bind_x(&ch, "x", "up", "");
    bind(&ch, "q", "x", "");
    assert_eq!(send(&ch, "up", "", "before").queues, 1);
    drain(&ch, "q");
    ch.exchange_delete("x", false).unwrap();
    assert!(!env.exchange_exists("x"));
    assert!(
        env.bindings().iter().all(|(s, d, _)| s != "x" && d != "x"),
        "{:?}",
        env.bindings()
    );
    assert_eq!(send(&ch, "up", "", "after").queues, 0);
    // Redeclaring does not bring the bindings back.
    declare_x(&ch, "x", "fanout");
    assert_eq!(send(&ch, "up", "", "again").queues, 0);
    assert_eq!(send(&ch, "x", "", "again").queues, 0);
    assert!(drain(&ch, "q").is_empty());
    // The queue itself is untouched.
    assert!(env.queue_exists("q"));
}

// ----- E04 bind / unbind -----

#[test]
fn c_e04_bind_with_missing_source_or_destination_is_404() {
    let env = Env::new();
    let setup = env.ch();
    declare_x(&setup, "x", "direct");
    declare_q(&setup, "q");
    let none = FieldTable::new();
    type Call = fn(
        &trackswitch::broker::Channel,
        &FieldTable,
    ) -> Result<(), trackswitch::broker::BrokerError>;
    let calls: [(&str, Call); 4] = [
        ("no queue", |c, a| c.queue_bind("nq", "x", "k", a)),
        ("no exchange", |c, a| c.queue_bind("q", "nx", "k", a)),
        ("no exchange", |c, a| c.exchange_bind("nx", "x", "k", a)),
        ("no exchange", |c, a| c.exchange_bind("x", "nx", "k", a)),
    ];
    for (i, (what, call)) in calls.into_iter().enumerate() {
        let ch = env.ch();
        let err = expect_channel_error(&env.conn, &ch, call(&ch, &none), 404);
        assert!(err.reply_text().contains(what), "call {i}: {err}");
        assert!(
            err.reply_text().ends_with("in vhost '/'"),
            "call {i}: {err}"
        );
    }
    assert!(env.bindings().is_empty() || env.bindings().iter().all(|(s, _, _)| s.is_empty()));
}

/// RabbitMQ 3.10.8 answers unbind-ok when the queue, an exchange or the binding is
/// missing (aio-pika's RPC unbinds after auto-delete removed both ends); the channel
/// stays open and nothing else changes.
#[test]
fn c_e04_unbind_with_missing_ends_is_ok() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "x", "direct");
    declare_q(&ch, "q");
    ch.queue_bind("q", "x", "k", &FieldTable::new()).unwrap();
    let none = FieldTable::new();
    type Call = fn(
        &trackswitch::broker::Channel,
        &FieldTable,
    ) -> Result<bool, trackswitch::broker::BrokerError>;
    let calls: [(&str, Call); 7] = [
        ("queue missing", |c, a| c.queue_unbind("nq", "x", "k", a)),
        ("exchange missing", |c, a| c.queue_unbind("q", "nx", "k", a)),
        ("both missing", |c, a| c.queue_unbind("nq", "nx", "k", a)),
        ("binding missing", |c, a| {
            c.queue_unbind("q", "x", "other", a)
        }),
        ("destination missing", |c, a| {
            c.exchange_unbind("nx", "x", "k", a)
        }),
        ("source missing", |c, a| {
            c.exchange_unbind("x", "nx", "k", a)
        }),
        ("binding missing", |c, a| {
            c.exchange_unbind("x", "x", "k", a)
        }),
    ];
    for (what, call) in calls {
        assert_eq!(call(&ch, &none), Ok(false), "{what}");
        assert!(ch.is_open(), "{what}");
    }
    assert_eq!(ch.queue_unbind("q", "x", "k", &none), Ok(true));
    assert_eq!(ch.queue_unbind("q", "x", "k", &none), Ok(false));
    // Both ends gone (auto-delete), then the unbind a client library still sends.
    ch.exchange_delete("x", false).unwrap();
    ch.queue_delete("q", false, false).unwrap();
    assert_eq!(ch.queue_unbind("q", "x", "k", &none), Ok(false));
    assert!(ch.is_open());
}

#[test]
fn c_e04_destination_exclusive_queue_of_other_connection_is_405() {
    let broker = Broker::new();
    let owner = broker.connect_default();
    let och = owner.open_channel().unwrap();
    och.queue_declare("mine", &QueueDeclare::exclusive())
        .unwrap();
    och.exchange_declare("x", "direct", &ExchangeDeclare::default())
        .unwrap();
    let other = broker.connect_default();
    let none = FieldTable::new();
    let ch = other.open_channel().unwrap();
    expect_channel_error(&other, &ch, ch.queue_bind("mine", "x", "k", &none), 405);
    let ch = other.open_channel().unwrap();
    expect_channel_error(&other, &ch, ch.queue_unbind("mine", "x", "k", &none), 405);
    // The owner binds; the other connection can publish through it.
    och.queue_bind("mine", "x", "k", &none).unwrap();
    let ch = other.open_channel().unwrap();
    assert_eq!(send(&ch, "x", "k", "m").queues, 1);
    assert!(och.get("mine", true).unwrap().is_some());
}

#[test]
fn c_e04_duplicate_bind_is_idempotent() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "x", "direct");
    declare_x(&ch, "y", "direct");
    declare_q(&ch, "q");
    declare_q(&ch, "qy");
    for _ in 0..3 {
        bind(&ch, "q", "x", "k");
        bind_x(&ch, "y", "x", "k");
    }
    bind(&ch, "qy", "y", "k");
    let count = |s: &str, d: &str| {
        env.bindings()
            .iter()
            .filter(|(bs, bd, _)| bs == s && bd == d)
            .count()
    };
    assert_eq!(count("x", "q"), 1);
    assert_eq!(count("x", "y"), 1);
    assert_eq!(send(&ch, "x", "k", "m").queues, 2);
    assert_eq!(drain(&ch, "q"), ["m"]);
    assert_eq!(drain(&ch, "qy"), ["m"]);
    // One unbind removes it.
    ch.queue_unbind("q", "x", "k", &FieldTable::new()).unwrap();
    assert_eq!(count("x", "q"), 0);
    // Different arguments make a different binding.
    let a1 = table(&[("a", ls("1"))]);
    ch.queue_bind("q", "x", "k", &a1).unwrap();
    ch.queue_bind("q", "x", "k", &FieldTable::new()).unwrap();
    assert_eq!(count("x", "q"), 2);
    assert_eq!(send(&ch, "x", "k", "once").queues, 2);
    assert_eq!(drain(&ch, "q"), ["once"]);
}

#[test]
fn c_e04_unbinding_what_does_not_exist_is_ok() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "x", "direct");
    declare_x(&ch, "y", "direct");
    declare_q(&ch, "q");
    bind(&ch, "q", "x", "k");
    ch.queue_unbind("q", "x", "other", &FieldTable::new())
        .unwrap();
    ch.queue_unbind("q", "x", "k", &table(&[("a", ls("1"))]))
        .unwrap();
    ch.exchange_unbind("y", "x", "k", &FieldTable::new())
        .unwrap();
    assert!(ch.is_open());
    assert_eq!(send(&ch, "x", "k", "m").queues, 1, "the real binding stays");
}

// ----- E05 the default exchange, declared passively -----

/// RabbitMQ 3.10.8 refuses the default exchange before it looks it up: a passive
/// declare of `""` is 403 like an active one, not declare-ok.
#[test]
fn c_e05_passive_declare_of_the_default_exchange_is_403() {
    let env = Env::new();
    for passive in [true, false] {
        let ch = env.ch();
        let o = ExchangeDeclare {
            passive,
            ..ExchangeDeclare::default()
        };
        let err = expect_channel_error(&env.conn, &ch, ch.exchange_declare("", "direct", &o), 403);
        assert_eq!(
            err.to_string(),
            "ACCESS_REFUSED - operation not permitted on the default exchange",
            "passive {passive}"
        );
    }
    // Other exchanges declare passively as before.
    let ch = env.ch();
    ch.exchange_declare("amq.direct", "", &ExchangeDeclare::passive())
        .unwrap();
}

/// R02 in RabbitMQ 3.10.8's words: deleting a system exchange.
#[test]
fn c_r02_deleting_a_system_exchange_is_403_in_rabbitmq_words() {
    let env = Env::new();
    let ch = env.ch();
    let err = expect_channel_error(&env.conn, &ch, ch.exchange_delete("amq.direct", false), 403);
    assert_eq!(
        err.to_string(),
        "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed"
    );
}
