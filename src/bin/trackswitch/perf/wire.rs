//! The few AMQP 0-9-1 frames `trackswitch perf` speaks, written and read by hand: the
//! client half of the handshake, declares, publish (method, header and body frames
//! into one buffer), consume, ack, confirms. Frames are built into a caller's buffer
//! so that one socket write carries many; a reader buffer yields every complete frame
//! of each read.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub(super) const METHOD: u8 = 1;
pub(super) const HEADER: u8 = 2;
pub(super) const BODY: u8 = 3;
const HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;

/// The largest frame this client proposes (the server may ask for less).
const FRAME_MAX: u32 = 131_072;

fn bad(text: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text.into())
}

/// Appends one frame whose payload `f` writes.
pub(super) fn frame(out: &mut Vec<u8>, kind: u8, channel: u16, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    f(out);
    let size = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    out.push(FRAME_END);
}

pub(super) fn method(
    out: &mut Vec<u8>,
    channel: u16,
    class: u16,
    id: u16,
    args: impl FnOnce(&mut Vec<u8>),
) {
    frame(out, METHOD, channel, |p| {
        p.extend_from_slice(&class.to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        args(p);
    });
}

/// `basic.qos` on channel 1 (prefetch-count only). A producer sends one after its last
/// publish: the reply comes once the server has taken every publish before it.
pub(super) fn qos(out: &mut Vec<u8>, prefetch: u16) {
    method(out, 1, 60, 10, |p| {
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&prefetch.to_be_bytes());
        p.push(0);
    });
}

pub(super) fn short(p: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(255)];
    p.push(b.len() as u8);
    p.extend_from_slice(b);
}

fn long(p: &mut Vec<u8>, b: &[u8]) {
    p.extend_from_slice(&(b.len() as u32).to_be_bytes());
    p.extend_from_slice(b);
}

fn empty_table(p: &mut Vec<u8>) {
    p.extend_from_slice(&0u32.to_be_bytes());
}

/// `basic.publish` with its content: method, header and body frames (the body split
/// at `frame_max`).
pub(super) fn publish(
    out: &mut Vec<u8>,
    frame_max: u32,
    exchange: &str,
    key: &str,
    persistent: bool,
    body: &[u8],
) {
    method(out, 1, 60, 40, |p| {
        p.extend_from_slice(&[0, 0]);
        short(p, exchange);
        short(p, key);
        p.push(0);
    });
    frame(out, HEADER, 1, |p| {
        p.extend_from_slice(&60u16.to_be_bytes());
        p.extend_from_slice(&0u16.to_be_bytes());
        p.extend_from_slice(&(body.len() as u64).to_be_bytes());
        if persistent {
            p.extend_from_slice(&0x1000u16.to_be_bytes()); // delivery-mode
            p.push(2);
        } else {
            p.extend_from_slice(&0u16.to_be_bytes());
        }
    });
    let room = (frame_max as usize).saturating_sub(8).max(1);
    for chunk in body.chunks(room) {
        frame(out, BODY, 1, |p| p.extend_from_slice(chunk));
    }
}

/// `basic.ack` of `tag` (and, `multiple`, every tag before it).
pub(super) fn ack(out: &mut Vec<u8>, tag: u64, multiple: bool) {
    method(out, 1, 60, 80, |p| {
        p.extend_from_slice(&tag.to_be_bytes());
        p.push(u8::from(multiple));
    });
}

/// A frame read back: its type, channel and payload.
#[derive(Debug)]
pub(super) struct Frame<'a> {
    pub(super) kind: u8,
    pub(super) payload: &'a [u8],
}

impl Frame<'_> {
    /// A method frame's class and method ids.
    pub(super) fn ids(&self) -> (u16, u16) {
        match self.payload {
            [a, b, c, d, ..] if self.kind == METHOD => {
                (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))
            }
            _ => (0, 0),
        }
    }
}

/// A connection's read side: a buffer that yields each complete frame.
pub(super) struct Reader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Reader {
    fn new(rd: OwnedReadHalf) -> Reader {
        Reader {
            rd,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Reads once more from the socket (at least one byte, or an error at the end).
    pub(super) async fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grow = self.buf.len();
            self.buf.resize(grow * 2, 0);
        }
        let n = self.rd.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(())
    }

    /// The next complete frame in the buffer, if any (heartbeats skipped).
    pub(super) fn next(&mut self) -> io::Result<Option<Frame<'_>>> {
        loop {
            let b = &self.buf[self.start..self.end];
            if b.len() < 7 {
                return Ok(None);
            }
            let size = u32::from_be_bytes([b[3], b[4], b[5], b[6]]) as usize;
            if size > 16 * 1024 * 1024 {
                return Err(bad(format!("a frame of {size} bytes")));
            }
            if b.len() < size + 8 {
                return Ok(None);
            }
            if b[7 + size] != FRAME_END {
                return Err(bad("a frame without its end octet"));
            }
            let kind = b[0];
            let at = self.start;
            self.start += size + 8;
            if kind == HEARTBEAT {
                continue;
            }
            return Ok(Some(Frame {
                kind,
                payload: &self.buf[at + 7..at + 7 + size],
            }));
        }
    }

    /// Reads until a method frame `(class, id)` arrives; a close is an error with its
    /// text. Other frames before it are skipped.
    pub(super) async fn expect(&mut self, want: (u16, u16)) -> io::Result<Vec<u8>> {
        loop {
            while let Some(f) = self.next()? {
                let ids = f.ids();
                if ids == want {
                    return Ok(f.payload[4..].to_vec());
                }
                if ids == (10, 50) || ids == (20, 40) {
                    return Err(closed(f.payload));
                }
            }
            self.fill().await?;
        }
    }
}

/// The error a `connection.close` or `channel.close` payload stands for.
pub(super) fn closed(payload: &[u8]) -> io::Error {
    let code = payload
        .get(4..6)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let text = payload
        .get(6)
        .and_then(|&n| payload.get(7..7 + usize::from(n)))
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default();
    io::Error::other(format!("the server closed with {code}: {text}"))
}

/// An open connection with channel 1 open.
pub(super) struct Conn {
    pub(super) rd: Reader,
    pub(super) wr: OwnedWriteHalf,
    pub(super) frame_max: u32,
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) addr: String,
    pub(super) user: String,
    pub(super) password: String,
    pub(super) vhost: String,
}

impl Conn {
    /// Connects, logs in (PLAIN), tunes (no heartbeats), opens the vhost and channel 1.
    pub(super) async fn open(t: &Target) -> io::Result<Conn> {
        let stream = TcpStream::connect(&t.addr).await?;
        stream.set_nodelay(true)?;
        let (rd, mut wr) = stream.into_split();
        let mut rd = Reader::new(rd);
        wr.write_all(b"AMQP\x00\x00\x09\x01").await?;
        rd.expect((10, 10)).await?;
        let mut out = Vec::new();
        method(&mut out, 0, 10, 11, |p| {
            empty_table(p);
            short(p, "PLAIN");
            let mut resp = vec![0];
            resp.extend_from_slice(t.user.as_bytes());
            resp.push(0);
            resp.extend_from_slice(t.password.as_bytes());
            long(p, &resp);
            short(p, "en_US");
        });
        wr.write_all(&out).await?;
        let tune = rd.expect((10, 30)).await?;
        if tune.len() < 8 {
            return Err(bad("a short connection.tune"));
        }
        let channel_max = u16::from_be_bytes([tune[0], tune[1]]);
        let server_max = u32::from_be_bytes([tune[2], tune[3], tune[4], tune[5]]);
        let frame_max = if server_max == 0 {
            FRAME_MAX
        } else {
            server_max.min(FRAME_MAX)
        };
        let mut out = Vec::new();
        method(&mut out, 0, 10, 31, |p| {
            p.extend_from_slice(&channel_max.to_be_bytes());
            p.extend_from_slice(&frame_max.to_be_bytes());
            p.extend_from_slice(&0u16.to_be_bytes());
        });
        method(&mut out, 0, 10, 40, |p| {
            short(p, &t.vhost);
            short(p, "");
            p.push(0);
        });
        method(&mut out, 1, 20, 10, |p| short(p, ""));
        wr.write_all(&out).await?;
        rd.expect((10, 41)).await?;
        rd.expect((20, 11)).await?;
        Ok(Conn { rd, wr, frame_max })
    }

    /// Sends `out` and waits for the reply `want`.
    pub(super) async fn call(&mut self, out: &[u8], want: (u16, u16)) -> io::Result<Vec<u8>> {
        self.wr.write_all(out).await?;
        self.rd.expect(want).await
    }

    pub(super) async fn exchange_declare(
        &mut self,
        name: &str,
        kind: &str,
        durable: bool,
    ) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 1, 40, 10, |p| {
            p.extend_from_slice(&[0, 0]);
            short(p, name);
            short(p, kind);
            p.push(if durable { 2 } else { 0 });
            empty_table(p);
        });
        self.call(&out, (40, 11)).await.map(drop)
    }

    pub(super) async fn queue_declare(&mut self, name: &str, durable: bool) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 1, 50, 10, |p| {
            p.extend_from_slice(&[0, 0]);
            short(p, name);
            p.push(if durable { 2 } else { 0 });
            empty_table(p);
        });
        self.call(&out, (50, 11)).await.map(drop)
    }

    pub(super) async fn queue_bind(
        &mut self,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 1, 50, 20, |p| {
            p.extend_from_slice(&[0, 0]);
            short(p, queue);
            short(p, exchange);
            short(p, key);
            p.push(0);
            empty_table(p);
        });
        self.call(&out, (50, 21)).await.map(drop)
    }

    /// Pipelines many binds and waits for all their replies.
    pub(super) async fn queue_bind_many(
        &mut self,
        queue: &str,
        exchange: &str,
        keys: &[String],
    ) -> io::Result<()> {
        for chunk in keys.chunks(1000) {
            let mut out = Vec::new();
            for key in chunk {
                method(&mut out, 1, 50, 20, |p| {
                    p.extend_from_slice(&[0, 0]);
                    short(p, queue);
                    short(p, exchange);
                    short(p, key);
                    p.push(0);
                    empty_table(p);
                });
            }
            self.wr.write_all(&out).await?;
            for _ in chunk {
                self.rd.expect((50, 21)).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn queue_delete(&mut self, name: &str) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 1, 50, 40, |p| {
            p.extend_from_slice(&[0, 0]);
            short(p, name);
            p.push(0);
        });
        self.call(&out, (50, 41)).await.map(drop)
    }

    pub(super) async fn exchange_delete(&mut self, name: &str) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 1, 40, 20, |p| {
            p.extend_from_slice(&[0, 0]);
            short(p, name);
            p.push(0);
        });
        self.call(&out, (40, 21)).await.map(drop)
    }

    pub(super) async fn confirm_select(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 1, 85, 10, |p| p.push(0));
        self.call(&out, (85, 11)).await.map(drop)
    }

    pub(super) async fn qos(&mut self, prefetch: u16) -> io::Result<()> {
        let mut out = Vec::new();
        qos(&mut out, prefetch);
        self.call(&out, (60, 11)).await.map(drop)
    }

    pub(super) async fn consume(&mut self, queue: &str, no_ack: bool) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 1, 60, 20, |p| {
            p.extend_from_slice(&[0, 0]);
            short(p, queue);
            short(p, "");
            p.push(if no_ack { 2 } else { 0 });
            empty_table(p);
        });
        self.call(&out, (60, 21)).await.map(drop)
    }

    /// Closes the connection politely (bounded by the caller).
    pub(super) async fn close(mut self) -> io::Result<()> {
        let mut out = Vec::new();
        method(&mut out, 0, 10, 50, |p| {
            p.extend_from_slice(&200u16.to_be_bytes());
            short(p, "perf done");
            p.extend_from_slice(&[0, 0, 0, 0]);
        });
        self.wr.write_all(&out).await?;
        self.rd.expect((10, 51)).await.map(drop)
    }
}

/// `basic.ack` or `basic.nack` from the server: (delivery tag, multiple, ack).
pub(super) fn confirm_of(f: &Frame<'_>) -> Option<(u64, bool, bool)> {
    let ack = match f.ids() {
        (60, 80) => true,
        (60, 120) => false,
        _ => return None,
    };
    let p = f.payload.get(4..13)?;
    let tag = u64::from_be_bytes(p[0..8].try_into().ok()?);
    Some((tag, p[8] & 1 != 0, ack))
}

/// `basic.deliver`'s delivery tag.
pub(super) fn deliver_tag(f: &Frame<'_>) -> Option<u64> {
    if f.ids() != (60, 60) {
        return None;
    }
    let p = &f.payload[4..];
    let n = usize::from(*p.first()?);
    let at = 1 + n;
    Some(u64::from_be_bytes(p.get(at..at + 8)?.try_into().ok()?))
}

/// A content header's body size.
pub(super) fn body_size(f: &Frame<'_>) -> Option<u64> {
    (f.kind == HEADER).then_some(())?;
    Some(u64::from_be_bytes(f.payload.get(4..12)?.try_into().ok()?))
}
