//! RabbitMQ tutorial 5, "Topics", in process: a topic exchange `topic_logs` with
//! routing keys `<facility>.<severity>`; one consumer binds `*.critical`, another
//! `kern.*`, a third `#` (everything). Each message reaches each queue at most once.
//!
//! Run: `cargo run --example topic_routing`

use trackswitch::FieldTable;
use trackswitch::broker::{Broker, ExchangeDeclare, Message, PublishOptions, QueueDeclare};

fn main() {
    let broker = Broker::new();
    let conn = broker.connect_default();
    let ch = conn.open_channel().expect("open channel");
    ch.exchange_declare("topic_logs", "topic", &ExchangeDeclare::default())
        .expect("declare exchange");
    let bindings: [(&str, &[&str]); 3] = [
        ("critical", &["*.critical"]),
        ("kernel", &["kern.*"]),
        ("all", &["#", "kern.#"]), // two bindings that overlap: still one copy
    ];
    for (queue, keys) in bindings {
        ch.queue_declare(queue, &QueueDeclare::default())
            .expect("declare");
        for key in keys {
            ch.queue_bind(queue, "topic_logs", key, &FieldTable::new())
                .expect("bind");
        }
    }

    let published = [
        ("kern.critical", "A critical kernel error"),
        ("kern.info", "kernel booted"),
        ("cron.critical", "cron died"),
        ("auth.info.extra", "three words"),
        ("", "empty key"),
    ];
    for (key, body) in published {
        ch.publish(
            "topic_logs",
            key,
            Message::new(body),
            PublishOptions::default(),
        )
        .expect("publish");
    }

    let drain = |queue: &str| -> Vec<String> {
        let mut keys = Vec::new();
        while let Some(g) = ch.get(queue, true).expect("get") {
            keys.push(g.delivery.routing_key().to_string());
        }
        keys
    };
    let critical = drain("critical");
    let kernel = drain("kernel");
    let all = drain("all");
    println!("*.critical got {critical:?}\nkern.* got {kernel:?}\n# got {all:?}");
    assert_eq!(critical, ["kern.critical", "cron.critical"]);
    assert_eq!(kernel, ["kern.critical", "kern.info"]);
    // `#` matches every key, the empty one too; `kern.#` overlapping adds no copy.
    assert_eq!(
        all,
        [
            "kern.critical",
            "kern.info",
            "cron.critical",
            "auth.info.extra",
            ""
        ]
    );
}
