//! Hand-written AMQP 0-9-1 frames for the wire tests: a server on `127.0.0.1:0`, frame
//! builders, a pipelined handshake and frame parsing, every wait bounded by [`LIMIT`].

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use trackswitch::amqp::{Server, ServerConfig, ShutdownHandle};
use trackswitch::broker::Broker;

use super::LIMIT;

/// A server with `config` on `127.0.0.1:0`, running: its address, broker, stop handle
/// and task.
pub(crate) async fn start(
    config: ServerConfig,
) -> (
    std::net::SocketAddr,
    Broker,
    ShutdownHandle,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    start_with(Broker::new(), config).await
}

/// [`start`] with a broker of the test's own (e.g. with a data directory).
pub(crate) async fn start_with(
    broker: Broker,
    config: ServerConfig,
) -> (
    std::net::SocketAddr,
    Broker,
    ShutdownHandle,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let server = Server::bind("127.0.0.1:0", broker.clone(), config)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let stop = server.shutdown_handle();
    (addr, broker, stop, tokio::spawn(server.run()))
}

pub(crate) fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&channel.to_be_bytes());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f.push(0xCE);
    f
}

pub(crate) fn method(channel: u16, class: u16, id: u16, args: &[u8]) -> Vec<u8> {
    let mut p = class.to_be_bytes().to_vec();
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(args);
    frame(1, channel, &p)
}

pub(crate) fn short(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// Header, Start-Ok (PLAIN guest/guest), Tune-Ok, Open: a pipelined handshake.
pub(crate) fn handshake(frame_max: u32) -> Vec<u8> {
    handshake_with(table(&[]), frame_max, 0)
}

/// Everything the server sends until it closes the socket.
pub(crate) async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = timeout(LIMIT, stream.read_to_end(&mut got))
        .await
        .expect("server closes in time");
    got
}

/// The reply code of the first Connection.Close in `bytes`.
pub(crate) fn close_code(bytes: &[u8]) -> Option<u16> {
    let mut rest = bytes;
    if rest.starts_with(b"AMQP") {
        return None;
    }
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
        let payload = rest.get(7..7 + size)?;
        if rest[0] == 1 && payload.len() >= 6 && payload[..4] == [0, 10, 0, 50] {
            return Some(u16::from_be_bytes([payload[4], payload[5]]));
        }
        rest = &rest[8 + size..];
    }
    None
}

/// Every frame in `bytes` (after an optional protocol header): (type, channel,
/// payload). A partial last frame is left out.
pub(crate) fn frames(bytes: &[u8]) -> Vec<(u8, u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
        let Some(payload) = rest.get(7..7 + size) else {
            break;
        };
        out.push((
            rest[0],
            u16::from_be_bytes([rest[1], rest[2]]),
            payload.to_vec(),
        ));
        rest = rest.get(8 + size..).unwrap_or_default();
    }
    out
}

/// (class, method) of a method frame's payload.
pub(crate) fn ids(payload: &[u8]) -> (u16, u16) {
    (
        u16::from_be_bytes([payload[0], payload[1]]),
        u16::from_be_bytes([payload[2], payload[3]]),
    )
}

/// Reads until `done` holds for the frames so far (or panics after [`LIMIT`]).
pub(crate) async fn read_until(
    s: &mut TcpStream,
    got: &mut Vec<u8>,
    done: impl Fn(&[(u8, u16, Vec<u8>)]) -> bool,
) -> Vec<(u8, u16, Vec<u8>)> {
    let mut buf = vec![0u8; 64 * 1024];
    timeout(LIMIT, async {
        loop {
            let fs = frames(got);
            if done(&fs) {
                return fs;
            }
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "the server closed the connection early");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the expected frames in time")
}

/// `queue.declare` (plain), `basic.publish` of an empty body to the default exchange,
/// `basic.consume` (no-ack) on `channel`.
pub(crate) fn declare_queue(channel: u16, queue: &str) -> Vec<u8> {
    let mut args = vec![0, 0];
    args.extend(short(queue));
    args.push(0); // passive, durable, exclusive, auto-delete, nowait
    args.extend(0u32.to_be_bytes()); // arguments
    method(channel, 50, 10, &args)
}

pub(crate) fn publish_empty(channel: u16, key: &str) -> Vec<u8> {
    let mut args = vec![0, 0];
    args.extend(short(""));
    args.extend(short(key));
    args.push(0);
    let mut out = method(channel, 60, 40, &args);
    let mut header = 60u16.to_be_bytes().to_vec();
    header.extend(0u16.to_be_bytes()); // weight
    header.extend(0u64.to_be_bytes()); // body size: no body frame follows
    header.extend(0u16.to_be_bytes()); // no properties
    out.extend(frame(2, channel, &header));
    out
}

pub(crate) fn consume_no_ack(channel: u16, queue: &str) -> Vec<u8> {
    let mut args = vec![0, 0];
    args.extend(short(queue));
    args.extend(short("c"));
    args.push(0b10); // no-ack
    args.extend(0u32.to_be_bytes());
    method(channel, 60, 20, &args)
}

/// A field-table entry holding a boolean.
fn bool_field(name: &str, value: bool) -> Vec<u8> {
    let mut v = short(name);
    v.push(b't');
    v.push(u8::from(value));
    v
}

/// A field table (length-prefixed) of `entries`.
pub(crate) fn table(entries: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = entries.concat();
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend(body);
    v
}

/// A long-string field-table entry.
pub(crate) fn string_field(name: &str, value: &[u8]) -> Vec<u8> {
    let mut v = short(name);
    v.push(b'S');
    v.extend((value.len() as u32).to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// A pipelined handshake as guest with `heartbeat` seconds, announcing the
/// `connection.blocked` capability.
pub(crate) fn handshake_blocked_capable(frame_max: u32, heartbeat: u16) -> Vec<u8> {
    let capabilities = table(&[bool_field("connection.blocked", true)]);
    let mut props = short("capabilities");
    props.push(b'F');
    props.extend(capabilities);
    handshake_with(table(&[props]), frame_max, heartbeat)
}

/// Header, Start-Ok (`client_properties`, PLAIN guest/guest), Tune-Ok, Open.
fn handshake_with(client_properties: Vec<u8>, frame_max: u32, heartbeat: u16) -> Vec<u8> {
    let mut out = b"AMQP\x00\x00\x09\x01".to_vec();
    let mut start_ok = client_properties;
    start_ok.extend(short("PLAIN"));
    let response = b"\0guest\0guest";
    start_ok.extend_from_slice(&(response.len() as u32).to_be_bytes());
    start_ok.extend_from_slice(response);
    start_ok.extend(short("en_US"));
    out.extend(method(0, 10, 11, &start_ok));
    let mut tune_ok = 0u16.to_be_bytes().to_vec();
    tune_ok.extend_from_slice(&frame_max.to_be_bytes());
    tune_ok.extend_from_slice(&heartbeat.to_be_bytes());
    out.extend(method(0, 10, 31, &tune_ok));
    let mut open = short("/");
    open.extend([0, 0]);
    out.extend(method(0, 10, 40, &open));
    out
}

/// A heartbeat frame.
pub(crate) fn heartbeat() -> Vec<u8> {
    frame(8, 0, &[])
}

/// `basic.publish` to the default exchange with routing key `key`, a content header
/// (with `headers`, a length-prefixed field table, if given) and `body` in one frame
/// (announcing `announced` bytes: more than `body.len()` leaves the message
/// unfinished).
pub(crate) fn publish(
    channel: u16,
    key: &str,
    headers: Option<&[u8]>,
    body: &[u8],
    announced: u64,
) -> Vec<u8> {
    publish_to(channel, "", key, headers, body, announced)
}

/// [`publish`] to `exchange`.
pub(crate) fn publish_to(
    channel: u16,
    exchange: &str,
    key: &str,
    headers: Option<&[u8]>,
    body: &[u8],
    announced: u64,
) -> Vec<u8> {
    let mut args = vec![0, 0];
    args.extend(short(exchange));
    args.extend(short(key));
    args.push(0);
    let mut out = method(channel, 60, 40, &args);
    let mut header = 60u16.to_be_bytes().to_vec();
    header.extend(0u16.to_be_bytes()); // weight
    header.extend(announced.to_be_bytes());
    match headers {
        Some(t) => {
            header.extend(0x2000u16.to_be_bytes()); // the headers property
            header.extend_from_slice(t);
        }
        None => header.extend(0u16.to_be_bytes()),
    }
    out.extend(frame(2, channel, &header));
    if !body.is_empty() {
        out.extend(frame(3, channel, body));
    }
    out
}

/// A body frame.
pub(crate) fn body_frame(channel: u16, body: &[u8]) -> Vec<u8> {
    frame(3, channel, body)
}

/// `channel.open` on `channel`.
pub(crate) fn channel_open(channel: u16) -> Vec<u8> {
    method(channel, 20, 10, &short(""))
}

/// `queue.bind` of `queue` to `exchange` with `key` on `channel`.
pub(crate) fn bind_queue(channel: u16, queue: &str, exchange: &str, key: &str) -> Vec<u8> {
    let mut args = vec![0, 0];
    args.extend(short(queue));
    args.extend(short(exchange));
    args.extend(short(key));
    args.push(0);
    args.extend(0u32.to_be_bytes());
    method(channel, 50, 20, &args)
}
