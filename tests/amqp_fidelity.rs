//! Wire fidelity through lapin: transactions, idempotent unbind, large messages and
//! the configured size limit, the default exchange declared passively, direct
//! reply-to, pipelined confirms and quorum queues. Each expected result is what
//! RabbitMQ 3.10.8 does in the same scenario (see docs/rabbitmq-3.10.8-wire-facts.md).
//! Each test starts its own server on `127.0.0.1:0`; every wait is bounded.
#![cfg(feature = "server")]

mod amqp_common;

use amqp_common::*;
use lapin::Confirmation;
use lapin::options::*;
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.expect("channel")
}

async fn declare(ch: &Channel, queue: &str) {
    within(ch.queue_declare(
        s(queue),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("queue.declare");
}

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    let confirm = within(ch.basic_publish(
        s(exchange),
        s(key),
        BasicPublishOptions::default(),
        body,
        props,
    ))
    .await
    .expect("publish");
    // Without confirm mode it resolves at once (nothing was requested).
    within(confirm).await.expect("publish written");
}

async fn ready(ch: &Channel, queue: &str) -> u32 {
    within(ch.queue_declare(
        s(queue),
        QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("passive declare")
    .message_count()
}

/// T01, T02 through a client: held publishes and acks, commit, rollback, and the 406
/// for a commit on a channel that never selected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_t01_t02_transactions() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    declare(&ch, "tx").await;
    within(ch.tx_select()).await.expect("tx.select");
    for body in [&b"one"[..], b"two"] {
        publish(&ch, "", "tx", body, BasicProperties::default()).await;
    }
    assert_eq!(ready(&ch, "tx").await, 0, "held until commit");
    within(ch.tx_commit()).await.expect("tx.commit");
    assert_eq!(ready(&ch, "tx").await, 2);
    publish(&ch, "", "tx", b"never", BasicProperties::default()).await;
    within(ch.tx_rollback()).await.expect("tx.rollback");
    within(ch.tx_commit()).await.expect("empty commit");
    assert_eq!(ready(&ch, "tx").await, 2, "rolled back");

    // An ack inside the transaction is held: rolled back, the message stays unacked;
    // committed, it is gone.
    let got = within(ch.basic_get(s("tx"), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(got.delivery.data, b"one");
    within(got.delivery.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.tx_rollback()).await.unwrap();
    within(got.delivery.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(ready(&ch, "tx").await, 1);

    // T02: a commit without select closes only that channel, with RabbitMQ's text.
    let plain = channel(&conn).await;
    let err = within(plain.tx_commit()).await.unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(
        err.to_string().contains("channel is not transactional"),
        "{err}"
    );
    let confirm = channel(&conn).await;
    within(confirm.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let err = within(confirm.tx_select()).await.unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(conn.status().connected());
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// E04: aio-pika's RPC pattern unbinds after auto-delete removed both ends; RabbitMQ
/// 3.10.8 answers unbind-ok and so do we.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_e04_unbind_after_both_ends_are_gone() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    let none = FieldTable::default;
    within(ch.exchange_declare(
        s("x"),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        none(),
    ))
    .await
    .unwrap();
    declare(&ch, "q").await;
    within(ch.queue_bind(s("q"), s("x"), s("k"), QueueBindOptions::default(), none()))
        .await
        .unwrap();
    within(ch.exchange_delete(s("x"), ExchangeDeleteOptions::default()))
        .await
        .unwrap();
    within(ch.queue_delete(s("q"), QueueDeleteOptions::default()))
        .await
        .unwrap();
    within(ch.queue_unbind(s("q"), s("x"), s("k"), none()))
        .await
        .expect("queue.unbind-ok");
    within(ch.exchange_unbind(
        s("gone"),
        s("x"),
        s("k"),
        ExchangeUnbindOptions::default(),
        none(),
    ))
    .await
    .expect("exchange.unbind-ok");
    assert!(ch.status().connected());
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// E05: a passive declare of the default exchange is 403 on the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_e05_passive_declare_of_the_default_exchange() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    let err = within(ch.exchange_declare(
        s(""),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap_err();
    assert_eq!(reply_code(&err), Some(403), "{err}");
    assert!(conn.status().connected());
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// A 17 MiB message (over the old 16 MiB limit, under RabbitMQ 3.10.8's 128 MiB)
/// makes the round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seventeen_mib_message_round_trip() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    declare(&ch, "big").await;
    let body: Vec<u8> = (0..17 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let c = publish_confirmed(&ch, "", "big", &body, BasicProperties::default(), false).await;
    assert!(matches!(c, Confirmation::Ack(None)), "{c:?}");
    let got = within(ch.basic_get(s("big"), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("the message");
    assert!(got.delivery.data == body, "the body arrives intact");
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// `limits.max_message_size` in `--config` reaches the broker: a limit raised above
/// the broker's default admits a message over it, one lowered refuses what is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_message_size_reaches_the_broker() {
    let dir = std::env::temp_dir().join(format!("trackswitch-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    let over = trackswitch::broker::DEFAULT_MAX_MESSAGE_SIZE + 1;
    std::fs::write(
        &config,
        format!("{{\"limits\": {{\"max_message_size\": {}}}}}", over),
    )
    .unwrap();
    let (_serve, addr) = serve(&["--config", config.to_str().unwrap()]);
    let conn = within(Connection::connect(
        &format!("amqp://guest:guest@{addr}/%2f"),
        ConnectionProperties::default(),
    ))
    .await
    .unwrap();
    let ch = channel(&conn).await;
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    declare(&ch, "big").await;
    let body = vec![7u8; over];
    let c = publish_confirmed(&ch, "", "big", &body, BasicProperties::default(), false).await;
    assert!(matches!(c, Confirmation::Ack(None)), "{c:?}");
    assert_eq!(ready(&ch, "big").await, 1);
    // One byte more than the configured limit: 406 on the channel.
    let body = vec![7u8; over + 1];
    let confirm = within(ch.basic_publish(
        s(""),
        s("big"),
        BasicPublishOptions::default(),
        &body,
        BasicProperties::default(),
    ))
    .await;
    let refused = match confirm {
        Err(e) => reply_code(&e),
        Ok(c) => match within(c).await {
            Err(e) => reply_code(&e),
            Ok(c) => panic!("expected 406, got {c:?}"),
        },
    };
    assert_eq!(refused, Some(406));
    let _ = within(conn.close(200, s("bye"))).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// D11: an RPC over direct reply-to, through lapin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_d11_direct_reply_to_round_trip() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let client = channel(&conn).await;
    declare(&client, "rpc").await;
    let mut replies = within(client.basic_consume(
        s("amq.rabbitmq.reply-to"),
        s(""),
        BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("consume amq.rabbitmq.reply-to");
    let request = BasicProperties::default()
        .with_reply_to(s("amq.rabbitmq.reply-to"))
        .with_correlation_id(s("42"));
    publish(&client, "", "rpc", b"ping", request).await;

    // The server side, on another connection.
    let other = server.connect("").await;
    let worker = channel(&other).await;
    let req = within(worker.basic_get(s("rpc"), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("the request");
    let address = req
        .delivery
        .properties
        .reply_to()
        .clone()
        .expect("reply_to")
        .to_string();
    assert!(address.starts_with("amq.rabbitmq.reply-to."), "{address}");
    let reply = BasicProperties::default().with_correlation_id(s("42"));
    publish(&worker, "", &address, b"pong", reply).await;

    let d = next(&mut replies)
        .await
        .expect("a reply")
        .expect("a delivery");
    assert_eq!(d.data, b"pong");
    assert_eq!(d.routing_key.as_str(), address);
    assert_eq!(
        d.properties
            .correlation_id()
            .as_ref()
            .map(ShortString::as_str),
        Some("42")
    );

    // Misuse: consuming it with acks is 406.
    let ch = channel(&conn).await;
    let err = within(ch.basic_consume(
        s("amq.rabbitmq.reply-to"),
        s(""),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    within(other.close(200, s("bye"))).await.unwrap();
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// P03 through lapin: 500 pipelined publishes are all confirmed, whatever the server
/// coalesces (lapin resolves `multiple` acks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_p03_pipelined_confirms_all_resolve() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    declare(&ch, "many").await;
    let mut confirms = Vec::new();
    for i in 0..500u32 {
        confirms.push(
            within(ch.basic_publish(
                s(""),
                s("many"),
                BasicPublishOptions::default(),
                &i.to_be_bytes(),
                BasicProperties::default(),
            ))
            .await
            .unwrap(),
        );
    }
    for c in confirms {
        assert!(matches!(within(c).await.unwrap(), Confirmation::Ack(None)));
    }
    assert_eq!(ready(&ch, "many").await, 500);
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// Q11 through lapin: a quorum queue declared as RabbitMQ 4 applications do, a
/// delivery limit, `x-delivery-count` on redeliveries; a non-durable one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_q11_quorum_queue_with_a_delivery_limit() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    let mut args = FieldTable::default();
    args.insert(
        s("x-queue-type"),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    args.insert(s("x-delivery-limit"), lapin::types::AMQPValue::LongInt(1));
    within(ch.queue_declare(
        s("qq"),
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        args.clone(),
    ))
    .await
    .expect("a durable quorum queue declares");
    publish(&ch, "", "qq", b"job", BasicProperties::default()).await;
    let mut counts = Vec::new();
    for _ in 0..2 {
        let got = within(ch.basic_get(s("qq"), BasicGetOptions::default()))
            .await
            .unwrap()
            .expect("the job");
        let count = got
            .delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-delivery-count").cloned());
        counts.push(count);
        within(got.delivery.nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        }))
        .await
        .unwrap();
    }
    assert_eq!(
        counts,
        [
            Some(lapin::types::AMQPValue::LongInt(0)),
            Some(lapin::types::AMQPValue::LongInt(1))
        ]
    );
    // The second return is over the limit of 1: the message is dropped.
    assert_eq!(ready(&ch, "qq").await, 0);
    let err = within(ch.queue_declare(s("qq2"), QueueDeclareOptions::default(), args))
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(err.to_string().contains("non-durable"), "{err}");
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// A client that writes its Close behind queued publishes (as amqplib does) gets
/// close-ok after every one of them was handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_behind_queued_publishes() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    declare(&ch, "behind").await;
    for i in 0..1000u32 {
        let _confirm = within(ch.basic_publish(
            s(""),
            s("behind"),
            BasicPublishOptions::default(),
            &i.to_be_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    within(conn.close(200, s("bye")))
        .await
        .expect("close-ok after the publishes");
    let q = server.broker.queues("/").unwrap();
    assert_eq!(q.iter().find(|q| q.name == "behind").unwrap().ready, 1000);
    server.stop().await;
}
