//! The AMQP server against lapin, a real client: every client operation, large bodies
//! over small frames, heartbeats, channel errors, returns and confirms. Each test
//! starts its own server on `127.0.0.1:0` and every wait is bounded.
#![cfg(feature = "server")]

use std::time::Duration;

use lapin::Confirmation;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};

mod amqp_common;

use amqp_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_operation() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();

    // Exchanges: declare (two kinds), exchange-to-exchange bind and unbind.
    let none = FieldTable::default;
    within(ch.exchange_declare(
        s("logs"),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        none(),
    ))
    .await
    .unwrap();
    within(ch.exchange_declare(
        s("fan"),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        none(),
    ))
    .await
    .unwrap();
    within(ch.exchange_bind(
        s("fan"),
        s("logs"),
        s("eu.#"),
        ExchangeBindOptions::default(),
        none(),
    ))
    .await
    .unwrap();

    // Queues: declare (named and server-named), bind, unbind.
    let q = within(ch.queue_declare(s("work"), QueueDeclareOptions::default(), none()))
        .await
        .unwrap();
    assert_eq!(q.name().as_str(), "work");
    let anon = within(ch.queue_declare(
        s(""),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        none(),
    ))
    .await
    .unwrap();
    assert!(
        anon.name().as_str().starts_with("amq.gen-"),
        "{}",
        anon.name()
    );
    within(ch.queue_bind(
        s("work"),
        s("fan"),
        s(""),
        QueueBindOptions::default(),
        none(),
    ))
    .await
    .unwrap();
    within(ch.queue_bind(
        anon.name().clone(),
        s("logs"),
        s("us.*"),
        QueueBindOptions::default(),
        none(),
    ))
    .await
    .unwrap();

    // Publish through logs -> fan -> work with properties, confirmed.
    let mut headers = FieldTable::default();
    headers.insert(s("trace"), AMQPValue::LongString("abc".into()));
    let props = BasicProperties::default()
        .with_content_type(s("text/plain"))
        .with_message_id(s("m-1"))
        .with_headers(headers.clone())
        .with_delivery_mode(2);
    for i in 0..3 {
        let c = publish_confirmed(
            &ch,
            "logs",
            "eu.sport",
            format!("msg {i}").as_bytes(),
            props.clone(),
            false,
        )
        .await;
        assert!(matches!(c, Confirmation::Ack(None)), "{c:?}");
    }
    // basic.get with ack; properties survive the round trip.
    let got = within(ch.basic_get(s("work"), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(got.delivery.data, b"msg 0");
    assert_eq!(got.message_count, 2);
    assert_eq!(
        got.delivery
            .properties
            .message_id()
            .as_ref()
            .map(ShortString::as_str),
        Some("m-1")
    );
    assert_eq!(got.delivery.properties.headers().as_ref(), Some(&headers));
    within(got.delivery.ack(BasicAckOptions::default()))
        .await
        .unwrap();

    // Consume with prefetch 1; reject one (requeued), nack it, recover, ack.
    within(ch.basic_qos(1, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer =
        within(ch.basic_consume(s("work"), s(""), BasicConsumeOptions::default(), none()))
            .await
            .unwrap();
    assert!(
        !consumer.tag().as_str().is_empty(),
        "the server generates a tag"
    );
    let d = next(&mut consumer).await.expect("delivery").expect("ok");
    assert_eq!(d.data, b"msg 1");
    within(d.reject(BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    let d = next(&mut consumer).await.expect("delivery").expect("ok");
    assert_eq!(d.data, b"msg 1");
    assert!(d.redelivered);
    within(d.nack(BasicNackOptions {
        requeue: true,
        multiple: false,
    }))
    .await
    .unwrap();
    let d = next(&mut consumer).await.expect("delivery").expect("ok");
    assert_eq!(d.data, b"msg 1");
    within(ch.basic_recover(BasicRecoverOptions { requeue: true }))
        .await
        .unwrap();
    let d = next(&mut consumer).await.expect("delivery").expect("ok");
    assert_eq!(d.data, b"msg 1");
    within(d.ack(BasicAckOptions::default())).await.unwrap();
    let d = next(&mut consumer).await.expect("delivery").expect("ok");
    assert_eq!(d.data, b"msg 2");
    within(d.ack(BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    within(ch.basic_cancel(consumer.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();

    // Purge, unbind, delete.
    publish_confirmed(&ch, "fan", "", b"x", BasicProperties::default(), false).await;
    assert_eq!(
        within(ch.queue_purge(s("work"), QueuePurgeOptions::default()))
            .await
            .unwrap(),
        1
    );
    within(ch.queue_unbind(s("work"), s("fan"), s(""), none()))
        .await
        .unwrap();
    within(ch.exchange_unbind(
        s("fan"),
        s("logs"),
        s("eu.#"),
        ExchangeUnbindOptions::default(),
        none(),
    ))
    .await
    .unwrap();
    publish_confirmed(
        &ch,
        "logs",
        "eu.x",
        b"dropped",
        BasicProperties::default(),
        false,
    )
    .await;
    let empty = within(ch.basic_get(s("work"), BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(empty.is_none());
    assert_eq!(
        within(ch.queue_delete(s("work"), QueueDeleteOptions::default()))
            .await
            .unwrap(),
        0
    );
    within(ch.exchange_delete(s("fan"), ExchangeDeleteOptions::default()))
        .await
        .unwrap();

    within(ch.close(200, s("bye"))).await.unwrap();
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_megabyte_bodies_over_4096_byte_frames() {
    let server = TestServer::start().await;
    let conn = server.connect("?frame_max=4096").await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    within(ch.queue_declare(
        s("big"),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let bodies: Vec<Vec<u8>> = (0..3u8)
        .map(|i| (0..1_000_000u32).map(|j| (j as u8) ^ i).collect())
        .collect();
    for b in &bodies {
        let c = publish_confirmed(&ch, "", "big", b, BasicProperties::default(), false).await;
        assert!(c.is_ack());
    }
    let mut consumer = within(ch.basic_consume(
        s("big"),
        s("c"),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for b in &bodies {
        let d = next(&mut consumer).await.expect("delivery").expect("ok");
        assert_eq!(d.data.len(), b.len());
        assert!(d.data == *b, "body differs");
    }
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_an_idle_connection_open() {
    let server = TestServer::start().await;
    let conn = server.connect("?heartbeat=1").await;
    let ch = within(conn.create_channel()).await.unwrap();
    // Idle for several heartbeat intervals: both sides must keep beating.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(conn.status().connected());
    within(ch.queue_declare(
        s("hb"),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!(server.broker.connections().len(), 1);
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_errors_close_only_the_channel() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let other = server.connect("").await;
    let none = FieldTable::default;

    // 404: passive declare of a missing queue.
    let ch = within(conn.create_channel()).await.unwrap();
    let e = within(ch.queue_declare(
        s("missing"),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        none(),
    ))
    .await
    .unwrap_err();
    assert_eq!(reply_code(&e), Some(404), "{e}");
    assert!(e.to_string().contains("no queue 'missing'"), "{e}");
    assert!(
        within(ch.queue_declare(s("x"), QueueDeclareOptions::default(), none()))
            .await
            .is_err(),
        "channel closed"
    );

    // 405: another connection's exclusive queue.
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.queue_declare(
        s("mine"),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        none(),
    ))
    .await
    .unwrap();
    let och = within(other.create_channel()).await.unwrap();
    let e = within(och.basic_consume(s("mine"), s(""), BasicConsumeOptions::default(), none()))
        .await
        .unwrap_err();
    assert_eq!(reply_code(&e), Some(405), "{e}");

    // 406: inequivalent redeclare.
    let e = within(ch.queue_declare(
        s("mine"),
        QueueDeclareOptions {
            durable: true,
            exclusive: true,
            ..Default::default()
        },
        none(),
    ))
    .await
    .unwrap_err();
    assert_eq!(reply_code(&e), Some(406), "{e}");

    // 404 on publish to a missing exchange (confirm mode surfaces it).
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let confirm = within(ch.basic_publish(
        s("nope"),
        s("k"),
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    assert!(within(confirm).await.is_err());

    // The connections survive: a fresh channel works.
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.queue_declare(s("after"), QueueDeclareOptions::default(), none()))
        .await
        .unwrap();
    assert!(conn.status().connected() && other.status().connected());
    within(conn.close(200, s("bye"))).await.unwrap();
    within(other.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_delivery_tag_is_406() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.basic_ack(99, BasicAckOptions::default()))
        .await
        .unwrap();
    // The server's Close arrives asynchronously. If it is still in flight, the next
    // synchronous call fails with it (406); if lapin has already taken it, the call
    // fails because the channel is closing. Either way the channel is gone and the
    // connection is not.
    let e = within(ch.queue_declare(
        s("q"),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap_err();
    match reply_code(&e) {
        Some(code) => assert_eq!(code, 406, "{e}"),
        None => assert!(
            matches!(e.kind(), lapin::ErrorKind::InvalidChannelState(..)),
            "{e}"
        ),
    }
    assert!(conn.status().connected());
    let ch2 = within(conn.create_channel()).await.unwrap();
    within(ch2.queue_declare(
        s("q"),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_unroutable_message_comes_back_with_its_properties() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let props = BasicProperties::default()
        .with_message_id(s("ret-7"))
        .with_correlation_id(s("c"));
    let c = publish_confirmed(&ch, "amq.direct", "nobody", b"lost", props, true).await;
    let Confirmation::Ack(Some(returned)) = c else {
        panic!("expected ack with return: {c:?}")
    };
    assert_eq!(returned.reply_code, 312);
    assert_eq!(returned.delivery.data, b"lost");
    assert_eq!(
        returned
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(ShortString::as_str),
        Some("ret-7")
    );
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_queue_cancels_its_consumers() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.queue_declare(
        s("doomed"),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut consumer = within(ch.basic_consume(
        s("doomed"),
        s("c1"),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let admin = within(conn.create_channel()).await.unwrap();
    within(admin.queue_delete(s("doomed"), QueueDeleteOptions::default()))
        .await
        .unwrap();
    // lapin advertises consumer_cancel_notify: the server's Basic.Cancel ends the stream.
    assert!(next(&mut consumer).await.is_none());
    // lapin answers with Basic.Cancel-Ok; the channel and connection go on.
    within(ch.queue_declare(
        s("after"),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_clients_with_320() {
    let server = TestServer::start().await;
    let conn = server.connect("").await;
    let _ch = within(conn.create_channel()).await.unwrap();
    server.stop().await;
    within(async {
        while conn.status().connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused() {
    let server = TestServer::start().await;
    let uri = format!("amqp://guest:wrong@{}/%2f", server.addr);
    let r = within(Connection::connect(&uri, ConnectionProperties::default())).await;
    assert!(r.is_err());
    let uri = format!("amqp://guest:guest@{}/nosuchvhost", server.addr);
    let r = within(Connection::connect(&uri, ConnectionProperties::default())).await;
    assert!(r.is_err());
    server.stop().await;
}
