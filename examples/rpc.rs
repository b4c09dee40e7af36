//! RabbitMQ tutorial 6, "RPC", in process: a server consumes `rpc_queue` and replies
//! to each request's `reply_to` queue with the request's `correlation_id`; the client
//! declares an exclusive callback queue and matches replies by correlation id.
//!
//! Run: `cargo run --example rpc`

use std::thread;
use std::time::Duration;

use trackswitch::broker::{Broker, ConsumeOptions, Message, PublishOptions, QueueDeclare};

fn fib(n: u64) -> u64 {
    (0..n).fold((0, 1), |(a, b), _| (b, a + b)).0
}

fn main() {
    let broker = Broker::new();
    let setup = broker.connect_default();
    setup
        .open_channel()
        .expect("open channel")
        .queue_declare("rpc_queue", &QueueDeclare::default())
        .expect("declare");

    let server_broker = broker.clone();
    let server = thread::spawn(move || {
        let conn = server_broker.connect_default();
        let ch = conn.open_channel().expect("open channel");
        ch.qos(0, 1, false).expect("qos");
        let requests = ch
            .consume("rpc_queue", &ConsumeOptions::default())
            .expect("consume");
        let mut served = 0;
        while let Ok(req) = requests.recv_timeout(Duration::from_secs(2)) {
            let n: u64 = std::str::from_utf8(req.body())
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let props = &req.message().properties;
            let mut reply = Message::new(fib(n).to_string());
            reply.properties.correlation_id = props.correlation_id.clone();
            let to = props.reply_to.clone().expect("requests carry reply_to");
            ch.publish("", &to, reply, PublishOptions::default())
                .expect("reply");
            req.ack().expect("ack");
            served += 1;
            if served == 5 {
                break;
            }
        }
        served
    });

    let client = broker.connect_default();
    let ch = client.open_channel().expect("open channel");
    let callback = ch
        .queue_declare("", &QueueDeclare::exclusive())
        .expect("declare");
    let replies = ch
        .consume(&callback.queue, &ConsumeOptions::no_ack())
        .expect("consume");
    for n in [10u64, 20, 30, 1, 0] {
        let id = format!("req-{n}");
        let mut m = Message::new(n.to_string());
        m.properties.reply_to = Some(callback.queue.clone());
        m.properties.correlation_id = Some(id.clone());
        ch.publish("", "rpc_queue", m, PublishOptions::default())
            .expect("request");
        let reply = replies
            .recv_timeout(Duration::from_secs(5))
            .expect("a reply");
        assert_eq!(
            reply.message().properties.correlation_id.as_deref(),
            Some(id.as_str())
        );
        let value: u64 = std::str::from_utf8(reply.body())
            .expect("utf-8")
            .parse()
            .expect("number");
        println!("fib({n}) = {value}");
        assert_eq!(value, fib(n));
    }
    assert_eq!(server.join().expect("server"), 5);
}
