//! RabbitMQ tutorial 3, "Publish/Subscribe", in process: a fanout exchange `logs`,
//! each subscriber with its own server-named exclusive queue; every subscriber gets
//! every message, and a subscriber's queue goes when its connection closes.
//!
//! Run: `cargo run --example pubsub_fanout`

use trackswitch::FieldTable;
use trackswitch::broker::{
    Broker, ConsumeOptions, ExchangeDeclare, Message, PublishOptions, QueueDeclare,
};

fn main() {
    let broker = Broker::new();
    let emitter = broker.connect_default();
    let ech = emitter.open_channel().expect("open channel");
    ech.exchange_declare("logs", "fanout", &ExchangeDeclare::default())
        .expect("declare exchange");

    let mut subscribers = Vec::new();
    for _ in 0..3 {
        let conn = broker.connect_default();
        let ch = conn.open_channel().expect("open channel");
        // An empty name: the broker names the queue (amq.gen-...).
        let q = ch
            .queue_declare("", &QueueDeclare::exclusive())
            .expect("declare");
        assert!(q.queue.starts_with("amq.gen-"));
        ch.queue_bind(&q.queue, "logs", "", &FieldTable::new())
            .expect("bind");
        let consumer = ch
            .consume(&q.queue, &ConsumeOptions::no_ack())
            .expect("consume");
        subscribers.push((conn, ch, consumer));
    }

    for line in ["info: started", "warning: disk 80%", "error: disk full"] {
        let p = ech
            .publish("logs", "", Message::new(line), PublishOptions::default())
            .expect("publish");
        assert_eq!(p.queues, 3, "a fanout reaches every bound queue");
    }
    for (i, (_, _, consumer)) in subscribers.iter().enumerate() {
        let got: Vec<String> = (0..3)
            .map(|_| String::from_utf8_lossy(consumer.recv().expect("log").body()).into_owned())
            .collect();
        println!("subscriber {i} got {got:?}");
        assert_eq!(
            got,
            ["info: started", "warning: disk 80%", "error: disk full"]
        );
    }

    // Subscribers leave: their exclusive queues are deleted; publishing reaches no one.
    subscribers.clear();
    assert!(broker.queues("/").expect("vhost").is_empty());
    let p = ech
        .publish(
            "logs",
            "",
            Message::new("nobody listens"),
            PublishOptions::default(),
        )
        .expect("publish");
    assert_eq!(p.queues, 0);
    println!("after the subscribers left, their queues are gone");
}
