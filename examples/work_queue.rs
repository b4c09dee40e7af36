//! RabbitMQ tutorial 2, "Work queues", in process: a durable task queue shared by two
//! workers with prefetch 1 and manual acks, so a busy worker gets no new task until it
//! acks, and a worker that dies (its channel closes) hands its task back.
//!
//! Run: `cargo run --example work_queue`

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use trackswitch::broker::{Broker, ConsumeOptions, Message, PublishOptions, QueueDeclare};

fn main() {
    let broker = Broker::new();
    let producer = broker.connect_default();
    let ch = producer.open_channel().expect("open channel");
    let durable = QueueDeclare {
        durable: true,
        ..QueueDeclare::default()
    };
    ch.queue_declare("task_queue", &durable).expect("declare");
    for i in 0..10 {
        let mut m = Message::new(format!("task {i}"));
        m.properties.delivery_mode = Some(2); // persistent, as the tutorial marks it
        ch.publish("", "task_queue", m, PublishOptions::default())
            .expect("publish");
    }

    // A worker that takes one task and dies before acking: its task is redelivered.
    {
        let crashing = broker.connect_default();
        let wch = crashing.open_channel().expect("open channel");
        wch.qos(0, 1, false).expect("qos");
        let c = wch
            .consume("task_queue", &ConsumeOptions::default())
            .expect("consume");
        let d = c.recv().expect("a task");
        assert_eq!(d.body(), b"task 0");
        println!(
            "crashing worker took {:?} and died",
            String::from_utf8_lossy(d.body())
        );
    } // connection closed: task 0 goes back to the head of the queue

    let done = thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let broker = broker.clone();
                s.spawn(move || {
                    let conn = broker.connect_default();
                    let wch = conn.open_channel().expect("open channel");
                    wch.qos(0, 1, false).expect("qos"); // fair dispatch
                    let c = wch
                        .consume("task_queue", &ConsumeOptions::default())
                        .expect("consume");
                    let mut mine = Vec::new();
                    while let Ok(d) = c.recv_timeout(Duration::from_millis(500)) {
                        let task = String::from_utf8_lossy(d.body()).into_owned();
                        if task == "task 0" {
                            assert!(
                                d.redelivered(),
                                "the crashed worker's task comes back redelivered"
                            );
                        }
                        println!("worker {w} did {task}");
                        d.ack().expect("ack");
                        mine.push(task);
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect::<Vec<_>>()
    });
    let unique: BTreeSet<_> = done.iter().cloned().collect();
    assert_eq!(done.len(), 10, "every task done once");
    assert_eq!(unique.len(), 10);
    let q = &broker.queues("/").expect("vhost")[0];
    assert_eq!((q.ready, q.unacked), (0, 0));
    println!("all 10 tasks done, none lost, none twice");
}
