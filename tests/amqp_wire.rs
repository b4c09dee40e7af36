//! The AMQP server against hand-written bytes: protocol header negotiation, frame
//! errors, and backpressure toward a consumer that stops reading. Each test starts its
//! own server on `127.0.0.1:0`; every wait is bounded.
#![cfg(feature = "server")]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use trackswitch::amqp::{Limits, ServerConfig};
use trackswitch::broker::{Broker, Message, PublishOptions, QueueDeclare};

mod amqp_common;

use amqp_common::LIMIT;
use amqp_common::raw::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_protocol_header_gets_ours_back() {
    let (addr, _broker, stop, task) = start(ServerConfig::default()).await;
    for bad in [&b"AMQP\x01\x01\x00\x09"[..], b"GET / HTTP/1.1\r\n\r\n"] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(bad).await.unwrap();
        assert_eq!(read_to_end(&mut s).await, b"AMQP\x00\x00\x09\x01");
    }
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_errors_close_the_connection_with_501_or_505() {
    let (addr, _broker, stop, task) = start(ServerConfig::default()).await;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "frame larger than frame_max",
            vec![3, 0, 1, 0x10, 0, 0, 0],
            501,
        ),
        (
            "bad frame end",
            {
                let mut f = frame(8, 0, &[]);
                f[7] = 0;
                f
            },
            501,
        ),
        ("body without publish", frame(3, 1, b"x"), 505),
        ("heartbeat on a channel", frame(8, 1, &[]), 505),
    ];
    for (name, bad, code) in cases {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut bytes = handshake(4096);
        bytes.extend(method(1, 20, 10, &short("")));
        bytes.extend(bad);
        s.write_all(&bytes).await.unwrap();
        let got = read_to_end(&mut s).await;
        assert_eq!(close_code(&got), Some(code), "{name}");
    }
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_consumer_leaves_messages_in_the_queue() {
    let config = ServerConfig {
        limits: Limits {
            connection_buffer: 64 * 1024,
            write_timeout: Duration::from_secs(2),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (addr, broker, stop, task) = start(config).await;
    let conn = broker.connect_default();
    let ch = conn.open_channel().unwrap();
    ch.queue_declare("flood", &QueueDeclare::default()).unwrap();
    const COUNT: usize = 3000;
    let body = vec![7u8; 10_000];
    for _ in 0..COUNT {
        let _ = ch
            .publish(
                "",
                "flood",
                Message::new(body.clone()),
                PublishOptions::default(),
            )
            .unwrap();
    }

    // A client that consumes without acks and then never reads.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    let mut bytes = handshake(4096);
    bytes.extend(method(1, 20, 10, &short("")));
    let mut consume = vec![0, 0];
    consume.extend(short("flood"));
    consume.extend(short("stalled"));
    consume.extend([2, 0, 0, 0, 0]); // no_ack, empty arguments
    bytes.extend(method(1, 60, 20, &consume));
    s.write_all(&bytes).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let ready = |b: &Broker| {
        b.queues("/")
            .unwrap()
            .iter()
            .find(|q| q.name == "flood")
            .map_or(0, |q| q.ready)
    };
    let left = ready(&broker);
    // Socket buffers, the writer queue (64 KiB) and the consumer's buffer hold a few
    // hundred messages at most; the rest must still be in the queue.
    assert!(
        left > (COUNT / 2) as u64,
        "only {left} of {COUNT} left: no backpressure"
    );

    // The write stalls past the write timeout: the server drops the connection, and
    // the consumer's buffered messages go back to the queue.
    timeout(LIMIT, async {
        while broker.connections().len() > 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("stalled connection not dropped: {:?}", broker.connections()));
    drop(s);
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_deadline_drops_silent_clients() {
    let config = ServerConfig {
        limits: Limits {
            handshake_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (addr, _broker, stop, task) = start(config).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
    let got = read_to_end(&mut s).await; // Start, then the server gives up
    assert!(got.len() > 8, "Start was sent");
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_publishes_are_bounded_per_connection() {
    let config = ServerConfig {
        limits: Limits {
            max_message_size: 100_000,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (addr, _broker, stop, task) = start(config).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut bytes = handshake(4096);
    // Three channels, each with 90 kB of a 100 kB message: over twice the message size.
    for ch in 1..=3u16 {
        bytes.extend(method(ch, 20, 10, &short("")));
        let mut publish = vec![0, 0];
        publish.extend(short(""));
        publish.extend(short("q"));
        publish.push(0);
        bytes.extend(method(ch, 60, 40, &publish));
        let mut header = vec![0, 60, 0, 0];
        header.extend_from_slice(&100_000u64.to_be_bytes());
        header.extend([0, 0]);
        bytes.extend(frame(2, ch, &header));
        for _ in 0..45 {
            bytes.extend(frame(3, ch, &[1u8; 2000]));
        }
    }
    s.write_all(&bytes).await.unwrap();
    let got = read_to_end(&mut s).await;
    assert_eq!(close_code(&got), Some(506));
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

/// The reply code of the first Channel.Close on `channel` in `bytes`.
fn channel_close_code(bytes: &[u8], channel: u16) -> Option<u16> {
    let mut rest = bytes;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
        let payload = rest.get(7..7 + size)?;
        let on = u16::from_be_bytes([rest[1], rest[2]]);
        if rest[0] == 1 && on == channel && payload.len() >= 6 && payload[..4] == [0, 20, 0, 40] {
            return Some(u16::from_be_bytes([payload[4], payload[5]]));
        }
        rest = rest.get(8 + size..)?;
    }
    None
}

/// An unknown delivery tag closes the channel with 406 (CONFORMANCE D08), not the
/// connection: seen on the wire, without a client's asynchronous close handling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_delivery_tag_closes_the_channel_with_406() {
    let (addr, _broker, stop, task) = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut bytes = handshake(4096);
    bytes.extend(method(1, 20, 10, &short("")));
    let mut ack = 99u64.to_be_bytes().to_vec();
    ack.push(0); // multiple = false
    bytes.extend(method(1, 60, 80, &ack));
    s.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let code = timeout(LIMIT, async {
        loop {
            if let Some(code) = channel_close_code(&got, 1) {
                return code;
            }
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "the server closed the connection");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a Channel.Close in time");
    assert_eq!(code, 406);
    assert_eq!(close_code(&got), None, "the connection stays open");
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

/// A client-initiated close (RabbitMQ 3.10.8, checked on the real node): the server
/// handles every frame written before the Close, answers close-ok, and leaves the
/// TCP close to the client; it closes the socket itself only after `close_linger`.
/// amqplib writes its Close behind queued publishes and waits for this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_close_gets_close_ok_and_the_socket_stays_for_the_client() {
    let config = ServerConfig {
        limits: Limits {
            close_linger: Duration::from_secs(1),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (addr, broker, stop, task) = start(config).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut bytes = handshake(4096);
    bytes.extend(method(1, 20, 10, &short("")));
    bytes.extend(declare_queue(1, "q"));
    for _ in 0..50 {
        bytes.extend(publish_empty(1, "q"));
    }
    let mut close = 200u16.to_be_bytes().to_vec();
    close.extend(short("bye"));
    close.extend([0, 0, 0, 0]);
    bytes.extend(method(0, 10, 50, &close));
    s.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, |fs| {
        fs.iter()
            .any(|(t, c, p)| *t == 1 && *c == 0 && ids(p) == (10, 51))
    })
    .await;
    let ready: u64 = broker.queues("/").unwrap().iter().map(|q| q.ready).sum();
    assert_eq!(ready, 50, "every publish before the Close was handled");
    // The server does not close first: a short read finds the socket open.
    let mut buf = [0u8; 64];
    assert!(
        timeout(Duration::from_millis(300), s.read(&mut buf))
            .await
            .is_err(),
        "the socket stays open after close-ok"
    );
    // What the client writes now is read and discarded.
    s.write_all(&method(1, 20, 10, &short(""))).await.unwrap();
    // A client that never closes is closed after close_linger.
    let rest = read_to_end(&mut s).await;
    assert!(rest.is_empty(), "nothing after close-ok: {rest:?}");
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

/// channel_max limits how many channels are open, not their numbers (RabbitMQ
/// 3.10.8): channel 65535 opens under channel_max 4, and the open that would make
/// five is 530, after the four open-ok owed for the pipelined opens before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_max_counts_open_channels_and_owed_replies_go_first() {
    let config = ServerConfig {
        limits: Limits {
            channel_max: 4,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (addr, _broker, stop, task) = start(config).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut bytes = handshake(4096);
    for channel in [65535, 7, 300, 2, 9] {
        bytes.extend(method(channel, 20, 10, &short("")));
    }
    s.write_all(&bytes).await.unwrap();
    let got = read_to_end(&mut s).await;
    let fs = frames(&got);
    let opened: Vec<u16> = fs
        .iter()
        .filter(|(t, _, p)| *t == 1 && ids(p) == (20, 11))
        .map(|(_, c, _)| *c)
        .collect();
    assert_eq!(opened, [65535, 7, 300, 2]);
    let close = fs
        .iter()
        .position(|(t, c, p)| *t == 1 && *c == 0 && ids(p) == (10, 50))
        .expect("a Connection.Close");
    let last_open = fs
        .iter()
        .rposition(|(t, _, p)| *t == 1 && ids(p) == (20, 11))
        .unwrap();
    assert!(
        last_open < close,
        "open-ok owed before the error go out first"
    );
    let payload = &fs[close].2;
    assert_eq!(u16::from_be_bytes([payload[4], payload[5]]), 530);
    let len = payload[6] as usize;
    assert_eq!(
        std::str::from_utf8(&payload[7..7 + len]).unwrap(),
        "NOT_ALLOWED - number of channels opened (4) has reached the negotiated channel_max (4)"
    );
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

/// CONFORMANCE P03: publishes pipelined in one write get coalesced confirms (one
/// `basic.ack` with `multiple` for many), and a consumer on the same connection gets
/// each message's `basic.deliver` before the confirm that covers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_p03_confirms_coalesce_and_follow_the_deliveries() {
    const N: u64 = 200;
    let (addr, _broker, stop, task) = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut bytes = handshake(4096);
    bytes.extend(method(1, 20, 10, &short("")));
    bytes.extend(method(1, 85, 10, &[0])); // confirm.select
    bytes.extend(declare_queue(1, "q"));
    bytes.extend(consume_no_ack(1, "q"));
    s.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, |fs| {
        fs.iter().any(|(t, _, p)| *t == 1 && ids(p) == (60, 21))
    })
    .await;
    let mut publishes = Vec::new();
    for _ in 0..N {
        publishes.extend(publish_empty(1, "q"));
    }
    s.write_all(&publishes).await.unwrap();
    let acked = |p: &[u8]| u64::from_be_bytes(p[4..12].try_into().unwrap());
    let fs = read_until(&mut s, &mut got, |fs| {
        fs.iter()
            .any(|(t, _, p)| *t == 1 && ids(p) == (60, 80) && acked(p) == N)
    })
    .await;
    let mut delivered = 0u64;
    let mut acks = 0;
    let mut multiple = 0;
    for (t, _, p) in &fs {
        if *t != 1 {
            continue;
        }
        match ids(p) {
            (60, 60) => delivered += 1,
            (60, 80) => {
                acks += 1;
                multiple += usize::from(p[12] & 1 == 1);
                assert!(
                    acked(p) <= delivered,
                    "the confirm of {} came before its delivery ({delivered} delivered)",
                    acked(p)
                );
            }
            (60, 120) => panic!("no publish was refused"),
            _ => {}
        }
    }
    assert_eq!(delivered, N);
    assert!(acks < N / 2, "{acks} acks for {N} pipelined publishes");
    assert!(multiple > 0, "coalesced acks carry multiple");
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

/// T01 on the wire: a mandatory publish held in a transaction is returned at commit,
/// before commit-ok, and not before the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_t01_held_mandatory_publish_returns_before_commit_ok() {
    let (addr, _broker, stop, task) = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut bytes = handshake(4096);
    bytes.extend(method(1, 20, 10, &short("")));
    bytes.extend(method(1, 90, 10, &[])); // tx.select
    let mut args = vec![0, 0];
    args.extend(short("amq.direct"));
    args.extend(short("nobody"));
    args.push(0b01); // mandatory
    bytes.extend(method(1, 60, 40, &args));
    let mut header = 60u16.to_be_bytes().to_vec();
    header.extend(0u16.to_be_bytes());
    header.extend(0u64.to_be_bytes());
    header.extend(0u16.to_be_bytes());
    bytes.extend(frame(2, 1, &header));
    s.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, |fs| {
        fs.iter().any(|(t, _, p)| *t == 1 && ids(p) == (90, 11))
    })
    .await;
    // Nothing comes back before the commit.
    let mut buf = [0u8; 1024];
    if let Ok(n) = timeout(Duration::from_millis(200), s.read(&mut buf)).await {
        got.extend_from_slice(&buf[..n.unwrap()]);
    }
    assert!(
        !frames(&got)
            .iter()
            .any(|(t, _, p)| *t == 1 && ids(p) == (60, 50)),
        "a held publish is not returned before the commit"
    );
    s.write_all(&method(1, 90, 20, &[])).await.unwrap(); // tx.commit
    let fs = read_until(&mut s, &mut got, |fs| {
        fs.iter().any(|(t, _, p)| *t == 1 && ids(p) == (90, 21))
    })
    .await;
    let ret = fs
        .iter()
        .position(|(t, _, p)| *t == 1 && ids(p) == (60, 50))
        .expect("basic.return");
    let ok = fs
        .iter()
        .position(|(t, _, p)| *t == 1 && ids(p) == (90, 21))
        .unwrap();
    assert!(ret < ok, "the return comes before commit-ok");
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}
