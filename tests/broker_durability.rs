//! Conformance rows S01-S05 (`shared/CONFORMANCE.md`) through the library: a broker with
//! a data directory is closed (dropped: everything written and synced) or abandoned
//! and opened again; what RabbitMQ 3.10.8 keeps comes back and what it drops does not.
//! The same scenarios against RabbitMQ (a node stopped and started) are in
//! `tests/python/durability.py` and `docs/rabbitmq-3.10.8-wire-facts.md`.

#![cfg(feature = "broker")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use trackswitch::broker::{
    Broker, Channel, Connection, ConsumeOptions, ExchangeDeclare, ManualClock, Message,
    Permissions, PublishOptions, QueueDeclare, StoreError, UserRecord,
};
use trackswitch::{FieldTable, FieldValue};

/// A fresh directory for one test.
fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("durability-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A channel with its connection (a dropped connection closes its channels).
struct Ch {
    ch: Channel,
    _conn: Connection,
}

impl std::ops::Deref for Ch {
    type Target = Channel;

    fn deref(&self) -> &Channel {
        &self.ch
    }
}

fn channel(broker: &Broker) -> Ch {
    let conn = broker.connect_default();
    Ch {
        ch: conn.open_channel().unwrap(),
        _conn: conn,
    }
}

fn open(dir: &Path) -> Broker {
    Broker::builder()
        .data_dir(dir)
        .open()
        .expect("open the data directory")
}

fn durable() -> QueueDeclare {
    QueueDeclare {
        durable: true,
        ..QueueDeclare::default()
    }
}

fn persistent(body: &str) -> Message {
    let mut m = Message::new(body.to_string());
    m.properties.delivery_mode = Some(2);
    m
}

fn publish(ch: &Channel, exchange: &str, key: &str, m: Message) {
    ch.publish(exchange, key, m, PublishOptions::default())
        .expect("publish");
}

/// Every ready message of `queue`, taken with no-ack: (body, redelivered).
fn drain(broker: &Broker, queue: &str) -> Vec<(String, bool)> {
    let ch = channel(broker);
    let mut out = Vec::new();
    while let Some(g) = ch.get(queue, true).unwrap() {
        out.push((
            String::from_utf8(g.delivery.body().to_vec()).unwrap(),
            g.delivery.redelivered(),
        ));
    }
    out
}

fn exists(broker: &Broker, queue: &str) -> bool {
    let ch = channel(broker);
    ch.queue_declare(
        queue,
        &QueueDeclare {
            passive: true,
            ..QueueDeclare::default()
        },
    )
    .is_ok()
}

fn exchange_exists(broker: &Broker, name: &str) -> bool {
    let ch = channel(broker);
    ch.exchange_declare(name, "direct", &ExchangeDeclare::passive())
        .is_ok()
}

// ----- S01 definitions -----

#[test]
fn c_s01_durable_definitions_survive_and_the_rest_does_not() {
    let dir = data_dir("s01");
    {
        let broker = open(&dir);
        assert!(broker.add_vhost("staging"));
        broker.add_user(UserRecord::new("app", "hash"));
        broker
            .set_permissions("app", "staging", Permissions::new("^app\\.", ".*", ".*"))
            .unwrap();
        let conn = broker.connect_default();
        let ch = conn.open_channel().unwrap();
        let mut ae = FieldTable::new();
        ae.insert("alternate-exchange", "alt");
        let dx = ExchangeDeclare {
            durable: true,
            ..ExchangeDeclare::default()
        };
        ch.exchange_declare("alt", "fanout", &dx).unwrap();
        ch.exchange_declare(
            "events",
            "topic",
            &ExchangeDeclare {
                arguments: ae,
                ..dx.clone()
            },
        )
        .unwrap();
        ch.exchange_declare("fleeting", "direct", &ExchangeDeclare::default())
            .unwrap();
        let mut args = FieldTable::new();
        args.insert("x-max-priority", 5);
        args.insert("x-message-ttl", 600_000);
        ch.queue_declare(
            "kept",
            &QueueDeclare {
                arguments: args,
                ..durable()
            },
        )
        .unwrap();
        ch.queue_declare("unrouted", &durable()).unwrap();
        ch.queue_declare("transient", &QueueDeclare::default())
            .unwrap();
        ch.queue_declare(
            "exclusive",
            &QueueDeclare {
                exclusive: true,
                ..durable()
            },
        )
        .unwrap();
        let auto_delete = QueueDeclare {
            auto_delete: true,
            ..durable()
        };
        // RabbitMQ 3.10.8 keeps a durable auto-delete queue until its last consumer
        // goes: one never consumed survives, one whose consumer left does not.
        ch.queue_declare("autodelete-idle", &auto_delete).unwrap();
        ch.queue_declare("autodelete", &auto_delete).unwrap();
        ch.consume("autodelete", &ConsumeOptions::default())
            .unwrap()
            .cancel();
        ch.queue_bind("kept", "events", "a.*", &FieldTable::new())
            .unwrap();
        ch.queue_bind("unrouted", "alt", "", &FieldTable::new())
            .unwrap();
        ch.queue_bind("transient", "events", "a.*", &FieldTable::new())
            .unwrap();
        ch.queue_bind("kept", "fleeting", "f", &FieldTable::new())
            .unwrap();
        ch.exchange_bind("events", "amq.direct", "a.e2e", &FieldTable::new())
            .unwrap();
        // A crash, not a clean close: the definitions were written when declared.
        abandon(broker, ch);
    }
    // The abandoned broker still holds the lock in this process; a crash releases
    // it. Take it over the way a new process would find it: release it by hand.
    release_lock_of_abandoned(&dir);
    let broker = open(&dir);
    assert_eq!(
        broker.vhosts(),
        vec!["/".to_string(), "staging".to_string()]
    );
    assert!(broker.user("app").is_some());
    assert_eq!(
        broker.permissions("app"),
        vec![(
            "staging".to_string(),
            Permissions::new("^app\\.", ".*", ".*")
        )]
    );
    assert!(exchange_exists(&broker, "events"));
    assert!(exchange_exists(&broker, "alt"));
    assert!(!exchange_exists(&broker, "fleeting"));
    assert!(exists(&broker, "kept"));
    assert!(exists(&broker, "unrouted"));
    assert!(exists(&broker, "autodelete-idle"));
    for gone in ["transient", "exclusive", "autodelete"] {
        assert!(!exists(&broker, gone), "{gone} must not survive");
    }
    let ch = channel(&broker);
    // Arguments kept: the same declare passes, another one is 406.
    let mut args = FieldTable::new();
    args.insert("x-max-priority", 5);
    args.insert("x-message-ttl", 600_000);
    ch.queue_declare(
        "kept",
        &QueueDeclare {
            arguments: args,
            ..durable()
        },
    )
    .unwrap();
    let mut other = FieldTable::new();
    other.insert("x-max-priority", 9);
    let e = ch
        .queue_declare(
            "kept",
            &QueueDeclare {
                arguments: other,
                ..durable()
            },
        )
        .unwrap_err();
    assert_eq!(e.reply_code(), 406);
    let ch = channel(&broker);
    // The bindings between durable ends route; the alternate exchange is kept.
    publish(&ch, "events", "a.b", Message::new("topic"));
    publish(&ch, "amq.direct", "a.e2e", Message::new("e2e"));
    publish(&ch, "events", "nomatch", Message::new("alternate"));
    assert_eq!(drain(&broker, "kept").len(), 2);
    assert_eq!(drain(&broker, "unrouted").len(), 1);
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A broker left as a crash leaves it: never closed, its deliveries unsettled. Its
/// writer is given time to write what it holds (a process that dies loses only what
/// was not yet handed to the OS; the kill -9 tests of the server cover that), then
/// everything is leaked so that nothing of it runs a close.
fn abandon<T>(broker: Broker, rest: T) {
    broker.sync().unwrap();
    std::mem::forget((broker, rest));
}

/// A process that crashed holds no lock. Within one test process the abandoned
/// broker's lock is still held by its open file (`flock` locks belong to the open
/// file): the test removes the file, and the next open locks a new one.
fn release_lock_of_abandoned(dir: &Path) {
    std::fs::remove_file(dir.join("LOCK")).unwrap();
}

#[test]
fn c_s01_deletions_are_kept_and_names_reused_start_empty() {
    let dir = data_dir("s01-delete");
    {
        let broker = open(&dir);
        let ch = channel(&broker);
        ch.queue_declare("q", &durable()).unwrap();
        ch.exchange_declare(
            "x",
            "direct",
            &ExchangeDeclare {
                durable: true,
                auto_delete: true,
                ..ExchangeDeclare::default()
            },
        )
        .unwrap();
        ch.queue_bind("q", "x", "k", &FieldTable::new()).unwrap();
        publish(&ch, "", "q", persistent("old"));
        // Deleting the queue auto-deletes the exchange (its last binding).
        ch.queue_delete("q", false, false).unwrap();
        assert!(!exchange_exists(&broker, "x"));
        ch.queue_declare("q", &durable()).unwrap();
        publish(&ch, "", "q", persistent("new"));
        assert!(broker.add_vhost("gone"));
        assert!(broker.delete_vhost("gone"));
        broker.add_user(UserRecord::new("temp", "h"));
        assert!(broker.delete_user("temp"));
    }
    let broker = open(&dir);
    assert!(!exchange_exists(&broker, "x"));
    assert_eq!(drain(&broker, "q"), vec![("new".to_string(), false)]);
    assert_eq!(broker.vhosts(), vec!["/".to_string()]);
    assert!(broker.user("temp").is_none());
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_broker_on_one_directory_is_refused() {
    let dir = data_dir("lock");
    let first = open(&dir);
    match Broker::builder().data_dir(&dir).open() {
        Err(StoreError::Locked { dir: d }) => assert_eq!(d, dir),
        other => panic!("expected Locked, got {other:?}"),
    }
    let e = Broker::builder().data_dir(&dir).open().unwrap_err();
    assert!(
        e.to_string()
            .contains("in use by another trackswitch broker"),
        "{e}"
    );
    drop(first);
    // Released with the first.
    drop(open(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- S02 messages -----

#[test]
fn c_s02_persistent_messages_keep_properties_order_and_positions() {
    let dir = data_dir("s02");
    {
        let broker = open(&dir);
        let ch = channel(&broker);
        ch.queue_declare("q", &durable()).unwrap();
        let mut h = FieldTable::new();
        h.insert("h", "v");
        h.insert("n", 7);
        let mut m1 = persistent("m1").with_headers(h.clone());
        m1.properties.content_type = Some("text/plain".into());
        m1.properties.correlation_id = Some("c1".into());
        m1.properties.message_id = Some("id1".into());
        m1.properties.timestamp = Some(1_700_000_000);
        m1.properties.app_id = Some("app".into());
        m1.properties.kind = Some("t".into());
        publish(&ch, "", "q", m1);
        let mut m2 = Message::new("m2");
        m2.properties.delivery_mode = Some(1);
        publish(&ch, "", "q", m2);
        for b in ["m3", "m4", "m5"] {
            publish(&ch, "", "q", persistent(b));
        }
        // m1 and m3 delivered; m3 requeued (back at its position), m1 left unacked.
        let c = ch
            .consume("q", &ConsumeOptions::default())
            .expect("consume");
        let d1 = c.recv().unwrap();
        let _d2 = c.recv().unwrap();
        let d3 = c.recv().unwrap();
        assert_eq!(d3.body(), b"m3");
        d3.nack(true).unwrap();
        assert_eq!(d1.body(), b"m1");
        // Abandoned with m1 (and m2, m4, m5 in the consumer's hands) unacked.
        abandon(broker, (c, d1, ch));
    }
    release_lock_of_abandoned(&dir);
    let broker = open(&dir);
    let ch = channel(&broker);
    let got = ch.get("q", true).unwrap().unwrap();
    let m = got.delivery.message();
    assert_eq!(got.delivery.body(), b"m1");
    assert!(
        got.delivery.redelivered(),
        "unacked at the crash: redelivered"
    );
    assert_eq!(m.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(m.properties.correlation_id.as_deref(), Some("c1"));
    assert_eq!(m.properties.message_id.as_deref(), Some("id1"));
    assert_eq!(m.properties.timestamp, Some(1_700_000_000));
    assert_eq!(m.properties.app_id.as_deref(), Some("app"));
    assert_eq!(m.properties.kind.as_deref(), Some("t"));
    assert_eq!(m.properties.delivery_mode, Some(2));
    let h = m.properties.headers.as_ref().unwrap();
    assert_eq!(h.get("h"), Some(&FieldValue::from("v")));
    assert_eq!(h.get("n").and_then(FieldValue::as_int), Some(7));
    // After a crash every message of a classic queue comes back redelivered, as in
    // RabbitMQ 3.10.8 (it cannot tell which were delivered).
    let rest = drain(&broker, "q");
    let want: Vec<(String, bool)> = ["m3", "m4", "m5"]
        .iter()
        .map(|b| (b.to_string(), true))
        .collect();
    assert_eq!(rest, want, "the transient m2 is gone, order kept");
    drop((ch, broker));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn c_s02_never_delivered_is_not_redelivered_and_acked_is_gone() {
    let dir = data_dir("s02-acks");
    {
        let broker = open(&dir);
        let ch = channel(&broker);
        ch.queue_declare("q", &durable()).unwrap();
        for i in 0..10 {
            publish(&ch, "", "q", persistent(&format!("m{i}")));
        }
        for _ in 0..4 {
            let g = ch.get("q", false).unwrap().unwrap();
            g.delivery.ack().unwrap();
        }
    }
    let broker = open(&dir);
    assert_eq!(broker.recovery().unwrap().messages, 6);
    let got = drain(&broker, "q");
    let want: Vec<(String, bool)> = (4..10).map(|i| (format!("m{i}"), false)).collect();
    assert_eq!(got, want);
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn c_s02_priorities_x_death_and_quorum_returns_survive() {
    let dir = data_dir("s02-more");
    {
        let broker = open(&dir);
        let ch = channel(&broker);
        let mut prio = FieldTable::new();
        prio.insert("x-max-priority", 5);
        ch.queue_declare(
            "prio",
            &QueueDeclare {
                arguments: prio,
                ..durable()
            },
        )
        .unwrap();
        for (b, p) in [("p1", 1), ("p5", 5), ("p3", 3)] {
            publish(&ch, "", "prio", persistent(b).with_priority(p));
        }
        let mut dlx = FieldTable::new();
        dlx.insert("x-dead-letter-exchange", "");
        dlx.insert("x-dead-letter-routing-key", "dead");
        ch.queue_declare(
            "src",
            &QueueDeclare {
                arguments: dlx,
                ..durable()
            },
        )
        .unwrap();
        ch.queue_declare("dead", &durable()).unwrap();
        publish(&ch, "", "src", persistent("dl1"));
        let g = ch.get("src", false).unwrap().unwrap();
        g.delivery.reject(false).unwrap();
        let mut qq = FieldTable::new();
        qq.insert("x-queue-type", "quorum");
        ch.queue_declare(
            "qq",
            &QueueDeclare {
                arguments: qq,
                ..durable()
            },
        )
        .unwrap();
        publish(&ch, "", "qq", persistent("q1"));
        publish(&ch, "", "qq", persistent("q2"));
        // q1 comes back once: to the back, counted.
        let g = ch.get("qq", false).unwrap().unwrap();
        g.delivery.nack(true).unwrap();
    }
    let broker = open(&dir);
    let bodies = |q| -> Vec<String> { drain(&broker, q).into_iter().map(|(b, _)| b).collect() };
    assert_eq!(bodies("prio"), ["p5", "p3", "p1"]);
    assert!(bodies("src").is_empty());
    let ch = channel(&broker);
    let g = ch.get("dead", true).unwrap().unwrap();
    assert_eq!(g.delivery.body(), b"dl1");
    let h = g.delivery.message().properties.headers.clone().unwrap();
    let Some(FieldValue::Array(deaths)) = h.get("x-death") else {
        panic!("x-death kept: {h:?}");
    };
    let FieldValue::Table(d) = &deaths[0] else {
        panic!()
    };
    assert_eq!(d.get("reason"), Some(&FieldValue::from("rejected")));
    assert_eq!(d.get("queue"), Some(&FieldValue::from("src")));
    let g = ch.get("qq", true).unwrap().unwrap();
    assert_eq!(g.delivery.body(), b"q2");
    let g = ch.get("qq", true).unwrap().unwrap();
    assert_eq!(g.delivery.body(), b"q1");
    let count = g
        .delivery
        .message()
        .properties
        .headers
        .as_ref()
        .and_then(|h| h.get("x-delivery-count"))
        .and_then(FieldValue::as_int);
    assert_eq!(count, Some(1));
    drop((ch, broker));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn c_s02_ttl_deadlines_are_absolute() {
    let dir = data_dir("s02-ttl");
    {
        let broker = Broker::builder()
            .clock(ManualClock::new())
            .data_dir(&dir)
            .open()
            .unwrap();
        let ch = channel(&broker);
        ch.queue_declare("q", &durable()).unwrap();
        publish(&ch, "", "q", persistent("short").with_expiration(3_000));
        publish(&ch, "", "q", persistent("long").with_expiration(3_600_000));
    }
    // The second broker's clock starts 10 s later in wall time: the short TTL passed
    // while it was down.
    let clock = ManualClock::new();
    let broker = Broker::builder()
        .clock(clock.clone())
        .data_dir(&dir)
        .open()
        .unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(drain(&broker, "q"), vec![("long".to_string(), false)]);
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- S03 confirms mean on disk -----

#[test]
fn c_s03_confirms_wait_for_the_sync_and_publishers_share_syncs() {
    let dir = data_dir("s03");
    let broker = open(&dir);
    let ch = channel(&broker);
    ch.queue_declare("q", &durable()).unwrap();
    ch.queue_declare("plain", &QueueDeclare::default()).unwrap();
    ch.confirm_select().unwrap();
    let p = ch
        .publish("", "q", persistent("x"), PublishOptions::default())
        .unwrap();
    let point = p
        .synced
        .expect("a persistent message in a durable queue waits");
    point.wait();
    assert!(point.is_synced());
    assert!(broker.store_info().unwrap().syncs >= 1);
    // Transient messages, and any message in a non-durable queue, wait for nothing.
    let t = ch
        .publish("", "q", Message::new("t"), PublishOptions::default())
        .unwrap();
    assert!(t.synced.is_none());
    let t = ch
        .publish("", "plain", persistent("p"), PublishOptions::default())
        .unwrap();
    assert!(t.synced.is_none());
    // Eight publishers, 200 confirmed messages each: far fewer syncs than messages.
    let before = broker.store_info().unwrap().syncs;
    std::thread::scope(|s| {
        for t in 0..8 {
            let broker = broker.clone();
            s.spawn(move || {
                let ch = channel(&broker);
                ch.confirm_select().unwrap();
                for i in 0..200 {
                    let p = ch
                        .publish(
                            "",
                            "q",
                            persistent(&format!("{t}-{i}")),
                            PublishOptions::default(),
                        )
                        .unwrap();
                    assert!(p.ack);
                    p.synced.unwrap().wait();
                }
                assert!(ch.wait_for_confirms().unwrap());
            });
        }
    });
    let syncs = broker.store_info().unwrap().syncs - before;
    assert!(
        syncs < 1600,
        "{syncs} syncs for 1600 messages: no group commit"
    );
    // tx.commit returns once synced.
    let tx = channel(&broker);
    tx.tx_select().unwrap();
    tx.publish("", "q", persistent("in tx"), PublishOptions::default())
        .unwrap();
    tx.tx_commit().unwrap();
    drop((ch, tx, broker));
    let broker = open(&dir);
    assert_eq!(broker.recovery().unwrap().messages, 1 + 1600 + 1);
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- S04 damage -----

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("messages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

fn write_ten(dir: &Path) {
    let broker = open(dir);
    let ch = channel(&broker);
    ch.queue_declare("q", &durable()).unwrap();
    for i in 0..10 {
        publish(&ch, "", "q", persistent(&format!("message {i}")));
    }
}

#[test]
fn c_s04_a_torn_tail_is_dropped_and_reported() {
    let dir = data_dir("s04-torn");
    write_ten(&dir);
    let seg = segments(&dir).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 5).unwrap();
    let broker = open(&dir);
    let r = broker.recovery().unwrap();
    assert_eq!(r.messages, 9);
    assert_eq!(r.damage.len(), 1, "{:?}", r.damage);
    assert!(r.damage[0].contains("torn write"), "{:?}", r.damage);
    let got: Vec<String> = drain(&broker, "q").into_iter().map(|(b, _)| b).collect();
    assert_eq!(
        got,
        (0..9).map(|i| format!("message {i}")).collect::<Vec<_>>()
    );
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn c_s04_a_corrupt_record_in_the_middle_is_skipped_and_the_rest_loads() {
    let dir = data_dir("s04-corrupt");
    write_ten(&dir);
    let seg = segments(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    // Flip a byte of "message 4"'s body.
    let at = bytes
        .windows(9)
        .position(|w| w == b"message 4")
        .expect("the body is in the segment");
    bytes[at + 8] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    // And tear the definitions log's end (a snapshot was written at open: its tail
    // is the last binding or queue; nothing is lost that the snapshot before kept).
    let broker = open(&dir);
    let r = broker.recovery().unwrap();
    assert_eq!(r.messages, 9);
    assert!(
        r.damage
            .iter()
            .any(|d| d.contains("1 corrupt record(s) skipped")),
        "{:?}",
        r.damage
    );
    let got: Vec<String> = drain(&broker, "q").into_iter().map(|(b, _)| b).collect();
    let want: Vec<String> = (0..10)
        .filter(|&i| i != 4)
        .map(|i| format!("message {i}"))
        .collect();
    assert_eq!(got, want);
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn c_s04_garbage_files_never_panic() {
    let dir = data_dir("s04-garbage");
    write_ten(&dir);
    std::fs::write(
        dir.join("messages").join("0000000099.seg"),
        b"not a segment",
    )
    .unwrap();
    std::fs::write(dir.join("messages").join("0000000098.seg"), b"").unwrap();
    let mut defs = std::fs::read(dir.join("defs.log")).unwrap();
    defs.extend_from_slice(&[0xff; 7]);
    std::fs::write(dir.join("defs.log"), &defs).unwrap();
    let broker = open(&dir);
    let r = broker.recovery().unwrap();
    assert_eq!(r.messages, 10);
    assert!(
        r.damage.iter().any(|d| d.contains("defs.log")),
        "{:?}",
        r.damage
    );
    assert!(
        r.damage.iter().any(|d| d.contains("0000000099")),
        "{:?}",
        r.damage
    );
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- S05 bigger than memory, disk limits -----

#[test]
fn c_s05_bodies_beyond_the_threshold_live_on_disk() {
    let dir = data_dir("s05-paging");
    let broker = Broker::builder()
        .data_dir(&dir)
        .page_bodies_above(1 << 20)
        .open()
        .unwrap();
    let ch = channel(&broker);
    ch.queue_declare("q", &durable()).unwrap();
    let body = |i: u32| -> Vec<u8> { (0..64 * 1024).map(|j| (i as usize + j) as u8).collect() };
    for i in 0..200 {
        let mut m = Message::new(body(i));
        m.properties.delivery_mode = Some(2);
        publish(&ch, "", "q", m);
    }
    // 12.5 MiB of bodies; memory holds the first MiB or so and the entries once the
    // store's writer has caught up (records not yet written count as memory, and on a
    // loaded machine the writer may lag the publisher by megabytes for a while).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut used = broker.memory_used();
    while used >= 3 << 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        used = broker.memory_used();
    }
    assert!(used < 3 << 20, "{used} bytes in memory");
    let c = ch.consume("q", &ConsumeOptions::default()).unwrap();
    for i in 0..200 {
        let d = c.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(d.body(), &body(i)[..], "message {i}");
        d.ack().unwrap();
    }
    drop((c, ch, broker));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn c_s05_free_disk_under_the_limit_raises_the_alarm() {
    let dir = data_dir("s05-disk");
    let broker = Broker::builder()
        .data_dir(&dir)
        .disk_free_limit(u64::MAX)
        .open()
        .unwrap();
    assert!(broker.disk_alarm());
    assert!(broker.store_info().unwrap().disk_alarm);
    drop(broker);
    let broker = Broker::builder().data_dir(&dir).open().unwrap();
    assert!(
        !broker.disk_alarm(),
        "50 MB free in the test machine's target dir"
    );
    drop(broker);
    assert!(!Broker::new().disk_alarm());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settled_segments_are_deleted() {
    let dir = data_dir("compaction");
    let broker = open(&dir);
    let ch = channel(&broker);
    ch.queue_declare("q", &durable()).unwrap();
    // 40 MiB through a queue: three segments or more, deleted once consumed.
    let body = vec![7u8; 256 * 1024];
    for _ in 0..160 {
        let mut m = Message::new(body.clone());
        m.properties.delivery_mode = Some(2);
        publish(&ch, "", "q", m);
        let g = ch.get("q", false).unwrap().unwrap();
        g.delivery.ack().unwrap();
    }
    broker.sync().unwrap();
    let on_disk = segments(&dir).len();
    assert!(on_disk <= 2, "{on_disk} segments left");
    // Everything written and settled: nothing is held for the directory any more.
    assert_eq!(broker.memory_used(), 0);
    drop((ch, broker));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Found by `store_recovery`: a definitions log lost entirely (truncated to nothing)
/// left a broker without vhosts; it gets the default vhost, as a new directory does,
/// and the loss is reported.
#[test]
fn c_s04_lost_definitions_still_give_the_default_vhost() {
    let dir = data_dir("s04-defs-lost");
    write_ten(&dir);
    std::fs::write(dir.join("defs.log"), b"").unwrap();
    let broker = open(&dir);
    assert_eq!(broker.vhosts(), vec!["/".to_string()]);
    let r = broker.recovery().unwrap();
    assert_eq!(r.queues, 0, "the queue's definition was lost with the log");
    assert_eq!(r.messages, 0);
    assert!(
        r.damage
            .iter()
            .any(|d| d.contains("defs.log: no valid header")),
        "{:?}",
        r.damage
    );
    drop(broker);
    // What the broker wrote since is kept as usual.
    let broker = open(&dir);
    assert_eq!(broker.vhosts(), vec!["/".to_string()]);
    drop(broker);
    std::fs::remove_dir_all(&dir).unwrap();
}
