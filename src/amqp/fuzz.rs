//! A hook for the `amqp_frames` fuzz target: the inbound pipeline (framing, decoding,
//! content reassembly) on arbitrary bytes, with its memory bounds asserted.

use std::collections::HashMap;

use super::content::{ContentAssembler, Step};
use super::reader::{Frame, FrameReader, MIN_FRAME_MAX};

/// Message-size limit used by [`check_frames`], small so the fuzzer reaches it.
pub const FUZZ_MAX_MESSAGE_SIZE: u64 = 64 * 1024;

/// Feeds `data` to a frame reader in chunks whose sizes cycle through `chunk_sizes`
/// (0 counts as 1), with the reader tuned to `frame_max` (clamped to
/// 4096..=131072) after the protocol header, and each channel's frames to its own
/// content assembler. Returns the number of complete frames read.
///
/// # Panics
///
/// Only when an invariant breaks: the reader holds more than two maximum-size frames,
/// or an assembler more than the message-size limit. Protocol errors end the run
/// quietly, as they end a connection.
pub fn check_frames(data: &[u8], chunk_sizes: &[usize], frame_max: u32) -> usize {
    let mut reader = FrameReader::new();
    let mut tuned = false;
    let mut assemblers: HashMap<u16, ContentAssembler> = HashMap::new();
    let mut frames = 0;
    let mut rest = data;
    let mut sizes = chunk_sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let want = sizes.next().unwrap_or(rest.len()).max(1).min(rest.len());
        let mut piece = &rest[..want];
        rest = &rest[want..];
        while !piece.is_empty() {
            let n = reader.push(piece);
            piece = &piece[n..];
            loop {
                let frame = match reader.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => return frames,
                };
                frames += 1;
                if !tuned {
                    reader.set_frame_max(frame_max.clamp(MIN_FRAME_MAX, 131_072));
                    tuned = true;
                }
                if matches!(frame, Frame::Heartbeat(_)) || frame.channel() == 0 {
                    continue;
                }
                let a = assemblers
                    .entry(frame.channel())
                    .or_insert_with(|| ContentAssembler::new(FUZZ_MAX_MESSAGE_SIZE));
                match a.accept(frame) {
                    Ok(Step::Complete(c)) => {
                        assert!(c.body.len() as u64 <= FUZZ_MAX_MESSAGE_SIZE);
                    }
                    Ok(Step::Method(_) | Step::Pending) => {}
                    Err(_) => return frames,
                }
                assert!(
                    a.buffered() as u64 <= FUZZ_MAX_MESSAGE_SIZE,
                    "assembler over limit"
                );
            }
            assert!(
                reader.buffered() <= reader.capacity(),
                "reader holds {} bytes, bound {}",
                reader.buffered(),
                reader.capacity()
            );
        }
    }
    frames
}

/// What [`check_session`] runs against: a runtime and a server on loopback, made once
/// per process.
struct Harness {
    runtime: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    broker: crate::broker::Broker,
}

/// How long a server may take to close a finished session (generous: a loaded machine
/// must not make it fail).
const SESSION_BOUND: std::time::Duration = std::time::Duration::from_secs(20);

/// The closing linger of [`check_session`]'s server.
const FUZZ_LINGER: std::time::Duration = std::time::Duration::from_millis(100);

/// The flow-control harness's watermark: one stored message blocks its publisher.
const FLOW_WATERMARK: u64 = 1;

impl Harness {
    /// The harness; with `flow`, one whose server blocks publishers as soon as any
    /// message is held ([`FLOW_WATERMARK`]).
    fn get(flow: bool) -> &'static Harness {
        static PLAIN: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
        static FLOW: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
        let cell = if flow { &FLOW } else { &PLAIN };
        cell.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let broker = crate::broker::Broker::builder()
                .max_message_size(FUZZ_MAX_MESSAGE_SIZE as usize)
                .build();
            let config = super::ServerConfig {
                limits: super::Limits {
                    max_message_size: FUZZ_MAX_MESSAGE_SIZE,
                    heartbeat: 0,
                    close_linger: FUZZ_LINGER,
                    handshake_timeout: std::time::Duration::from_secs(5),
                    memory_high_watermark: if flow {
                        FLOW_WATERMARK
                    } else {
                        super::Limits::default().memory_high_watermark
                    },
                    ..super::Limits::default()
                },
                ..super::ServerConfig::default()
            };
            let server = runtime
                .block_on(super::Server::bind("127.0.0.1:0", broker.clone(), config))
                .expect("bind a loopback port");
            let addr = server.local_addr().expect("bound address");
            runtime.spawn(server.run());
            Harness {
                runtime,
                addr,
                broker,
            }
        })
    }
}

/// Purges every queue of `/` (each from a channel of its own: an exclusive queue of
/// another connection refuses, and that closes only its channel). Returns whether any
/// message was purged.
fn purge_all(broker: &crate::broker::Broker) -> bool {
    let Ok(queues) = broker.queues("/") else {
        return false;
    };
    let conn = broker.connect_default();
    let mut purged = 0;
    for q in queues.iter().filter(|q| q.ready > 0) {
        if let Ok(ch) = conn.open_channel() {
            purged += ch.queue_purge(&q.name).unwrap_or(0);
            ch.close();
        }
    }
    conn.close();
    purged > 0
}

fn raw_frame(out: &mut Vec<u8>, kind: u8, channel: u16, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(0xCE);
}

fn raw_short(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// A client's handshake (PLAIN guest/guest, frame_max 4096, heartbeats off, vhost
/// `/`), pipelined.
fn client_handshake() -> Vec<u8> {
    let mut out = super::codec::PROTOCOL_HEADER.to_vec();
    let mut start_ok = vec![0, 10, 0, 11, 0, 0, 0, 0];
    raw_short(&mut start_ok, "PLAIN");
    let response = b"\0guest\0guest";
    start_ok.extend_from_slice(&(response.len() as u32).to_be_bytes());
    start_ok.extend_from_slice(response);
    raw_short(&mut start_ok, "en_US");
    raw_frame(&mut out, 1, 0, &start_ok);
    let mut tune_ok = vec![0, 10, 0, 31, 0, 0];
    tune_ok.extend_from_slice(&4096u32.to_be_bytes());
    tune_ok.extend_from_slice(&0u16.to_be_bytes());
    raw_frame(&mut out, 1, 0, &tune_ok);
    let mut open = vec![0, 10, 0, 40];
    raw_short(&mut open, "/");
    open.extend_from_slice(&[0, 0]);
    raw_frame(&mut out, 1, 0, &open);
    out
}

/// The (class, method) ids of the method frames in `bytes`, in order.
fn server_methods(bytes: &[u8]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
        let Some(payload) = rest.get(7..7 + size) else {
            break;
        };
        if rest[0] == 1 && payload.len() >= 4 {
            out.push((
                u16::from_be_bytes([payload[0], payload[1]]),
                u16::from_be_bytes([payload[2], payload[3]]),
            ));
        }
        rest = rest.get(8 + size..).unwrap_or_default();
    }
    out
}

/// Runs one client session against a real server on loopback: a valid handshake,
/// then `stream` as the client's bytes, then `connection.close`; with `half_close`
/// the client also shuts its write side down, otherwise it waits for the server (a
/// stream that stops inside a frame swallows the Close: after a silence the client
/// shuts its side down).
///
/// # Panics
///
/// When the server breaks a rule of the session's end or of conservation:
/// - after its `close-ok` it sends nothing; after its own `connection.close`, only
///   the close-ok that answers a client's Close;
/// - it closes the socket within a bound once the session is over (after close-ok,
///   its linger);
/// - once the connection is gone, no message is left unacked, and the broker's
///   memory count is zero without ready messages and at least their bytes with some;
///   deleting the vhost brings it to zero (held transactional work, half-received
///   publishes and unacked deliveries are all released).
///
/// With `flow`, the server blocks a publisher as soon as it holds any message (the
/// memory watermark at one byte): the connection's frames wait, unprocessed, while
/// the socket is still read into a bounded buffer. Whenever the session falls silent
/// the harness purges every queue, as a consumer elsewhere would drain them, so the
/// connection is unblocked and goes on.
///
/// Between sessions the vhost `/` is made anew.
pub fn check_session(stream: &[u8], half_close: bool, flow: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::get(flow);
    h.runtime.block_on(async {
        let socket = tokio::net::TcpStream::connect(h.addr)
            .await
            .expect("connect to the fuzz server");
        let mut bytes = client_handshake();
        bytes.extend_from_slice(stream);
        let mut close = vec![0, 10, 0, 50, 0, 200];
        raw_short(&mut close, "bye");
        close.extend_from_slice(&[0, 0, 0, 0]);
        raw_frame(&mut bytes, 1, 0, &close);
        let (mut rd, mut wr) = socket.into_split();
        // Written beside the reads: a server that sends a lot must not block it.
        let mut writer = Some(tokio::spawn(async move {
            // The server may close first (a connection error): write errors are fine.
            let _ = wr.write_all(&bytes).await;
            if half_close {
                let _ = wr.shutdown().await;
            }
            wr
        }));
        let started = tokio::time::Instant::now();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let ended = |got: &[u8]| {
            let methods = server_methods(got);
            methods
                .iter()
                .position(|&m| m == (10, 51) || m == (10, 50))
                .map(|i| (i, methods))
        };
        loop {
            match tokio::time::timeout(FUZZ_LINGER, rd.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => {
                    assert!(
                        started.elapsed() < SESSION_BOUND,
                        "the session neither ended nor closed: {:?}",
                        server_methods(&got)
                    );
                    // Under flow control, silence may be a blocked publisher: free
                    // the memory that blocks it and listen again.
                    if flow && ended(&got).is_none() && purge_all(&h.broker) {
                        continue;
                    }
                    // Silence before the end: the stream stopped inside a frame (our
                    // Close went into its payload). End it from this side.
                    if ended(&got).is_none() {
                        if let Some(w) = writer.take_if(|w| w.is_finished()) {
                            if let Ok(mut wr) = w.await {
                                let _ = wr.shutdown().await;
                            }
                        }
                    }
                }
            }
        }
        // The handshake is valid: the session got past it (else it tests nothing).
        assert!(
            server_methods(&got).contains(&(10, 41)),
            "no connection.open-ok: {:?}",
            server_methods(&got)
        );
        if let Some((i, methods)) = ended(&got) {
            // After its own Close the server answers the client's Close with close-ok
            // (both sides closing at once, as RabbitMQ 3.10.8 does); nothing else.
            let after = &methods[i + 1..];
            let allowed: &[(u16, u16)] = match methods[i] {
                (10, 50) => &[(10, 51)],
                _ => &[],
            };
            assert!(
                after.is_empty() || after == allowed,
                "methods after the connection's end: {:?}",
                &methods[i..]
            );
        }
        if let Some(w) = writer {
            let _ = w.await;
        }
    });
    let deadline = std::time::Instant::now() + SESSION_BOUND;
    while !h.broker.connections().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the broker connection outlived its socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let queues = h.broker.queues("/").expect("vhost /");
    let ready: u64 = queues.iter().map(|q| q.ready_bytes).sum();
    let messages: u64 = queues.iter().map(|q| q.ready).sum();
    for q in &queues {
        assert_eq!(q.unacked, 0, "queue {} keeps unacked messages", q.name);
    }
    // Each ready message is counted for its body and more; with none, nothing is.
    let used = h.broker.memory_used();
    assert!(
        used >= ready + messages && (messages > 0 || used == 0),
        "memory counted ({used}) out of line with the ready messages ({messages}, \
         {ready} body bytes)"
    );
    h.broker.delete_vhost("/");
    h.broker.add_vhost("/");
    // A deleted vhost takes its permissions along: guest gets `/` back.
    h.broker
        .set_permissions("guest", "/", crate::broker::Permissions::all())
        .expect("guest and / exist");
    assert_eq!(
        h.broker.memory_used(),
        0,
        "a deleted vhost releases its memory"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(out: &mut Vec<u8>, channel: u16, class: u16, id: u16, args: &[u8]) {
        let mut p = class.to_be_bytes().to_vec();
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(args);
        raw_frame(out, 1, channel, &p);
    }

    /// A transactional session: publishes and an ack held, rolled back, committed;
    /// a mandatory return at commit; then a channel left with held work.
    pub(super) fn tx_stream() -> Vec<u8> {
        let mut s = Vec::new();
        method(&mut s, 1, 20, 10, &[0]); // channel.open
        let mut declare = vec![0, 0];
        raw_short(&mut declare, "q");
        declare.extend_from_slice(&[0, 0, 0, 0, 0]);
        method(&mut s, 1, 50, 10, &declare);
        method(&mut s, 1, 90, 10, &[]); // tx.select
        for key in ["q", "q", "nowhere"] {
            let mut publish = vec![0, 0];
            raw_short(&mut publish, "");
            raw_short(&mut publish, key);
            publish.push(1); // mandatory
            method(&mut s, 1, 60, 40, &publish);
            let mut header = vec![0, 60, 0, 0];
            header.extend_from_slice(&5u64.to_be_bytes());
            header.extend_from_slice(&[0, 0]);
            raw_frame(&mut s, 2, 1, &header);
            raw_frame(&mut s, 3, 1, b"hello");
        }
        method(&mut s, 1, 90, 20, &[]); // tx.commit
        let mut get = vec![0, 0];
        raw_short(&mut get, "q");
        get.push(0);
        method(&mut s, 1, 60, 70, &get);
        let mut ack = 1u64.to_be_bytes().to_vec();
        ack.push(0);
        method(&mut s, 1, 60, 80, &ack);
        method(&mut s, 1, 90, 30, &[]); // tx.rollback: the delivery stays unacked
        method(&mut s, 1, 60, 70, &get);
        method(&mut s, 1, 60, 80, &ack); // held again, and left so by the close
        method(&mut s, 2, 20, 10, &[0]);
        method(&mut s, 2, 90, 20, &[]); // commit without select: 406 on channel 2
        s
    }

    #[test]
    fn sessions_end_cleanly() {
        let tx = tx_stream();
        for (half_close, flow) in [(false, false), (true, false), (false, true), (true, true)] {
            let check_session = |s: &[u8], half_close| check_session(s, half_close, flow);
            check_session(&tx, half_close);
            // Cut inside a frame: the Close is swallowed, the client ends it.
            check_session(&tx[..tx.len() - 3], half_close);
            check_session(b"\x01\x00\x01garbage", half_close);
            check_session(b"", half_close);
            // The server closes (504, a method on a channel never opened) while the
            // client's Close is on its way: the server answers it with close-ok
            // (found by fuzzing: a harness that allowed nothing after the server's
            // Close failed here).
            let mut unopened = Vec::new();
            method(&mut unopened, 5, 60, 70, &[0, 0, 1, b'q', 0]);
            check_session(&unopened, half_close);
            // Confirms decided, then a connection error in the same read: the acks go
            // before the Close, never after it (found by fuzzing).
            let mut confirmed = Vec::new();
            method(&mut confirmed, 1, 20, 10, &[0]);
            method(&mut confirmed, 1, 85, 10, &[0]);
            let mut publish = vec![0, 0, 0];
            raw_short(&mut publish, "nowhere");
            publish.push(0);
            method(&mut confirmed, 1, 60, 40, &publish);
            let mut header = vec![0, 60, 0, 0];
            header.extend_from_slice(&0u64.to_be_bytes());
            header.extend_from_slice(&[0, 0]);
            raw_frame(&mut confirmed, 2, 1, &header);
            confirmed.extend_from_slice(&unopened);
            check_session(&confirmed, half_close);
        }
    }
}
