//! Conformance row D11 (`shared/CONFORMANCE.md`): direct reply-to, through the public
//! broker API only. The expected behaviour is RabbitMQ 3.10.8's (compared on the wire
//! in `tests/amqp_lapin.rs` and `tests/python/interop.py`).

#![cfg(feature = "broker")]

mod broker_common2;

use broker_common2::*;
use trackswitch::broker::{ConsumeOptions, Message, PublishOptions, QueueDeclare};

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

fn reply_consumer(ch: &trackswitch::broker::Channel) -> trackswitch::broker::Consumer {
    ch.consume(REPLY_TO, &ConsumeOptions::no_ack())
        .expect("consume amq.rabbitmq.reply-to")
}

/// The reply address of the request waiting in queue `rpc`, as the server side of
/// an RPC reads it.
fn reply_address(server: &trackswitch::broker::Channel) -> String {
    let got = server.get("rpc", true).unwrap().expect("a request");
    let reply_to = got.delivery.message().properties.reply_to.clone();
    reply_to.expect("a reply_to")
}

/// Publishes a request to queue `rpc` that asks for a direct reply.
fn ask(client: &trackswitch::broker::Channel) {
    client
        .publish("", "rpc", request(REPLY_TO), PublishOptions::default())
        .expect("publish a request");
}

fn request(reply_to: &str) -> Message {
    let mut m = Message::new("ping");
    m.properties.reply_to = Some(reply_to.into());
    m.properties.correlation_id = Some("1".into());
    m
}

#[test]
fn c_d11_rpc_round_trip_without_a_queue() {
    let (broker, conn, client) = setup();
    declare(&client, "rpc");
    let replies = reply_consumer(&client);
    ask(&client);

    // The server side sees a routable reply address and answers on its own channel.
    let server = conn.open_channel().unwrap();
    let req = server
        .get("rpc", true)
        .unwrap()
        .expect("the request")
        .delivery;
    let address = req.message().properties.reply_to.clone().unwrap();
    assert!(
        address.starts_with("amq.rabbitmq.reply-to.") && address.len() > REPLY_TO.len() + 1,
        "{address}"
    );
    let mut reply = Message::new("pong");
    reply.properties.correlation_id = Some("1".into());
    let p = server
        .publish("", &address, reply, PublishOptions::mandatory())
        .unwrap();
    assert_eq!(p.queues, 1);
    assert!(p.returned.is_none());

    let got = recv(&replies);
    assert_eq!(text(&got), "pong");
    assert_eq!((got.exchange(), got.routing_key()), ("", address.as_str()));
    assert_eq!(
        got.message().properties.correlation_id.as_deref(),
        Some("1")
    );
    assert!(!got.redelivered());
    // No queue shows: not in listings, not declarable, not bindable.
    assert!(broker.queues("/").unwrap().iter().all(|q| q.name == "rpc"));
    let err = server
        .queue_declare(&address, &QueueDeclare::passive())
        .unwrap_err();
    assert_channel_error(&err, 404);
}

#[test]
fn c_d11_the_pseudo_queue_hides_from_queue_methods() {
    let (_broker, conn, client) = setup();
    let _replies = reply_consumer(&client);
    client
        .publish("", "nowhere", request(REPLY_TO), PublishOptions::default())
        .unwrap();
    // Find the address the way a server would: publish a request to a queue.
    declare(&client, "rpc");
    ask(&client);
    let address = reply_address(&client);
    let ch = conn.open_channel().unwrap();
    assert_eq!(ch.queue_delete(&address, false, false), Ok(0));
    assert_eq!(
        ch.queue_unbind(&address, "amq.direct", "k", &Default::default()),
        Ok(false)
    );
    let err = ch
        .queue_bind(&address, "amq.direct", "k", &Default::default())
        .unwrap_err();
    assert_channel_error(&err, 404);
    let ch = conn.open_channel().unwrap();
    let err = ch.get(&address, true).unwrap_err();
    assert_channel_error(&err, 404);
    let ch = conn.open_channel().unwrap();
    let err = ch
        .queue_declare(&address, &QueueDeclare::default())
        .unwrap_err();
    assert_channel_error(&err, 403);
}

#[test]
fn c_d11_misuse_is_406() {
    let (_broker, conn, ch) = setup();
    // Publishing with reply_to = amq.rabbitmq.reply-to before consuming it.
    declare(&ch, "rpc");
    let err = ch
        .publish("", "rpc", request(REPLY_TO), PublishOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - fast reply consumer does not exist"
    );
    assert_channel_closed_by(&conn, &ch, 406);
    // Consuming it with acks.
    let ch = conn.open_channel().unwrap();
    let err = ch
        .consume(REPLY_TO, &ConsumeOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    );
    assert_channel_closed_by(&conn, &ch, 406);
    // Consuming it twice on one channel.
    let ch = conn.open_channel().unwrap();
    let _first = reply_consumer(&ch);
    let err = ch.consume(REPLY_TO, &ConsumeOptions::no_ack()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PRECONDITION_FAILED - reply consumer already set"
    );
    assert_channel_closed_by(&conn, &ch, 406);
}

#[test]
fn c_d11_a_reply_after_the_consumer_left_is_unroutable() {
    let (broker, conn, client) = setup();
    declare(&client, "rpc");
    let replies = reply_consumer(&client);
    ask(&client);
    let server = conn.open_channel().unwrap();
    let address = reply_address(&server);
    // Cancelling the consumer ends the reply address, and the channel may no longer
    // ask for replies.
    assert_eq!(client.cancel(replies.tag()), Ok(true));
    let p = server
        .publish(
            "",
            &address,
            Message::new("late"),
            PublishOptions::mandatory(),
        )
        .unwrap();
    assert_eq!(p.queues, 0);
    assert_eq!(p.returned.expect("returned").reply_code, 312);
    let err = client
        .publish("", "rpc", request(REPLY_TO), PublishOptions::default())
        .unwrap_err();
    assert_channel_error(&err, 406);
    assert_eq!(broker.queues("/").unwrap().len(), 1);
    // A garbled token routes nowhere either.
    let p = server
        .publish(
            "",
            "amq.rabbitmq.reply-to.garbage",
            Message::new("x"),
            PublishOptions::default(),
        )
        .unwrap();
    assert_eq!(p.queues, 0);
}

#[test]
fn c_d11_closing_the_channel_ends_the_reply_address() {
    let (broker, conn, client) = setup();
    declare(&client, "rpc");
    let _replies = reply_consumer(&client);
    ask(&client);
    let server = conn.open_channel().unwrap();
    let address = reply_address(&server);
    assert_eq!(
        broker.vhost_info("/").unwrap().queues,
        1,
        "pseudo-queues do not count"
    );
    client.close();
    let p = server
        .publish(
            "",
            &address,
            Message::new("late"),
            PublishOptions::default(),
        )
        .unwrap();
    assert_eq!(p.queues, 0, "the reply address ended with its channel");
}

/// A reply takes no delivery tag of its own (RabbitMQ 3.10.8 hands it the channel's
/// next tag without using it up): the channel's other deliveries number as without it.
#[test]
fn c_d11_replies_use_up_no_delivery_tags() {
    let (_broker, conn, client) = setup();
    declare(&client, "rpc");
    declare(&client, "work");
    let replies = reply_consumer(&client);
    ask(&client);
    let server = conn.open_channel().unwrap();
    let address = reply_address(&server);
    for _ in 0..2 {
        server
            .publish("", &address, Message::new("r"), PublishOptions::default())
            .unwrap();
    }
    let tags: Vec<u64> = (0..2).map(|_| recv(&replies).delivery_tag()).collect();
    publish(&client, "work", "w");
    let got = client.get("work", false).unwrap().unwrap().delivery;
    assert_eq!(tags, [1, 1]);
    assert_eq!(got.delivery_tag(), 1);
    got.ack().unwrap();
}
