//! One client connection: handshake, then a loop over socket reads, consumer
//! deliveries, timers and shutdown. The task owns all the connection's channel state;
//! the writer task (see [`writer`](super::writer)) owns the socket's write half.
//!
//! This file holds the frame loop and channels; `handshake` the way in, `methods` one
//! arm per channel method, `publish` publishing, `deliver` consumers' deliveries,
//! `confirms` the coalesced publisher confirms, `flow` the memory watermark, `close`
//! the way out. They share the connection's state and reach the broker only
//! through its public handles.

use hashbrown::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::Shared;
use super::codec::{self, PROTOCOL_HEADER};
use super::content::{ContentAssembler, ContentError, Step};
use super::method::{Method, Reply};
use super::reader::{Frame, FrameReader, MIN_FRAME_MAX, ReadError};
use super::writer::Outbox;
use crate::broker::{self, BrokerError, Delivery, Message, Scope};

mod close;
mod confirms;
mod deliver;
mod flow;
mod handshake;
mod methods;
mod publish;

use confirms::{AckRun, Held, held_synced};
use deliver::next_event;

/// Flush built replies once this many bytes are pending.
const FLUSH_AT: usize = 64 * 1024;
/// Take at most this many bytes of deliveries in one batch.
const DELIVERY_BATCH: usize = 64 * 1024;
/// Read buffer size.
const READ_CHUNK: usize = 64 * 1024;

/// Why a connection stops.
#[derive(Debug)]
enum Fault {
    /// Close the connection with this reply.
    Close {
        code: u16,
        text: String,
        class_id: u16,
        method_id: u16,
    },
    /// The client closed it (or said Close): nothing more to send.
    Done,
    /// The socket is dead or stalled: just drop it.
    Io(&'static str),
}

fn close(code: u16, text: impl Into<String>, (class_id, method_id): (u16, u16)) -> Fault {
    Fault::Close {
        code,
        text: text.into(),
        class_id,
        method_id,
    }
}

/// A channel error raised while handling a method.
struct ChannelFault {
    code: u16,
    text: String,
    ids: (u16, u16),
}

/// What handling a channel method can end in.
enum Failure {
    Channel(ChannelFault),
    Connection(Fault),
}

impl From<Fault> for Failure {
    fn from(f: Fault) -> Failure {
        Failure::Connection(f)
    }
}

fn broker_failure(e: &BrokerError, ids: (u16, u16)) -> Failure {
    match e.scope() {
        Scope::Channel => Failure::Channel(ChannelFault {
            code: e.reply_code(),
            text: e.reply_text(),
            ids,
        }),
        Scope::Connection => Failure::Connection(close(e.reply_code(), e.reply_text(), ids)),
    }
}

/// Client capabilities that change what the server sends.
#[derive(Debug, Default, Clone, Copy)]
struct Caps {
    consumer_cancel_notify: bool,
    connection_blocked: bool,
    authentication_failure_close: bool,
}

enum Chan {
    Open(Box<OpenChannel>),
    /// The server sent Channel.Close: discard frames until Close-Ok.
    Closing,
}

struct OpenChannel {
    broker: broker::Channel,
    content: ContentAssembler,
}

/// A consumer and the channel it lives on.
struct Sub {
    channel: u16,
    tag: String,
    consumer: broker::Consumer,
}

/// What the delivery branch produced.
enum Event {
    Delivery(u16, Delivery),
    /// The consumer at this index ended.
    Ended(usize),
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// The server's address the client connected to.
    local: SocketAddr,
    /// `Some` on a TLS connection: what its client certificate says (EXTERNAL).
    tls: Option<PeerCert>,
    out: Outbox,
    /// Frames built and not yet handed to the writer.
    pending: Vec<u8>,
    reader: FrameReader,
    frame_max: u32,
    channel_max: u16,
    heartbeat: u16,
    caps: Caps,
    user: String,
    vhost: String,
    broker: Option<broker::Connection>,
    channels: HashMap<u16, Chan>,
    subs: Vec<Sub>,
    /// Where the next delivery poll starts, for fairness between consumers.
    rotate: usize,
    /// Not read: it published while memory was over the watermark (see `flow`).
    blocked: bool,
    /// `connection.blocked` was sent and `connection.unblocked` is owed.
    blocked_sent: bool,
    /// Body bytes of half-received publishes, all channels (each assembler's
    /// `buffered()`); at most `Conn::inflight_limit`, and part of the server's
    /// `Shared::inflight`.
    inflight: usize,
    /// Publisher confirms decided and not yet written, at most one run per channel:
    /// they go out coalesced (one `basic.ack` with `multiple`) at the next flush.
    confirms: Vec<AckRun>,
    /// Confirms waiting for the store's sync (and every confirm behind them, so that
    /// none overtakes another), in publish order.
    held: std::collections::VecDeque<Held>,
}

/// The read half of a client's byte stream (TCP, or TLS over TCP).
pub(crate) type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

/// What a TLS connection's client proved with its certificate: the input of the
/// EXTERNAL mechanism (RabbitMQ's `rabbit_auth_mechanism_ssl`).
#[derive(Debug, Clone, PartialEq, Eq)]
// Without the `tls` feature nothing makes one.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) enum PeerCert {
    /// No certificate: none was asked for (`verify none`) or the client sent none.
    Absent,
    /// A verified certificate whose subject has no common name.
    NoName,
    /// A verified certificate's subject common names, joined with `,` (RabbitMQ's
    /// `ssl_cert_login_from = common_name`).
    Name(String),
}

/// An accepted connection, before its AMQP handshake.
pub(crate) struct Accepted {
    pub(crate) peer: SocketAddr,
    /// The server's address the client connected to.
    pub(crate) local: SocketAddr,
    /// When the AMQP handshake must be done by (accept + `handshake_timeout`; a TLS
    /// handshake spends part of it).
    pub(crate) deadline: Instant,
    /// `Some` on a TLS connection.
    pub(crate) tls: Option<PeerCert>,
}

/// Serves one accepted connection until it closes: `rd` and `wr` are the two halves
/// of its byte stream.
pub(crate) async fn serve(
    mut rd: ReadHalf,
    wr: super::writer::WriteHalf,
    accepted: Accepted,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let Accepted {
        peer,
        local,
        deadline,
        tls,
    } = accepted;
    let limits = &shared.config.limits;
    let (out, writer) = Outbox::spawn(wr, limits.connection_buffer, limits.write_timeout);
    let mut conn = Conn {
        peer,
        local,
        tls,
        out,
        pending: Vec::new(),
        reader: FrameReader::new(),
        frame_max: MIN_FRAME_MAX,
        channel_max: limits.channel_max,
        heartbeat: 0,
        caps: Caps::default(),
        user: String::new(),
        vhost: String::new(),
        broker: None,
        channels: HashMap::new(),
        subs: Vec::new(),
        rotate: 0,
        blocked: false,
        blocked_sent: false,
        inflight: 0,
        confirms: Vec::new(),
        held: std::collections::VecDeque::new(),
        shared,
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let fault = match conn.handshake(&mut rd, &mut buf, deadline).await {
        Ok(()) => {
            tracing::info!(peer = %conn.peer, user = %conn.user, vhost = %conn.vhost, "connection opened");
            conn.run(&mut rd, &mut buf, shutdown).await
        }
        Err(f) => f,
    };
    conn.finish(&mut rd, &mut buf, fault).await;
    let held = conn.inflight;
    let _ = conn.account_inflight(held, 0);
    let Conn { out, .. } = conn;
    drop(out);
    let _ = writer.await;
}

impl Conn {
    fn emit(&mut self, channel: u16, reply: &Reply) -> Result<(), Fault> {
        codec::write_method(&mut self.pending, channel, reply)
            .map_err(|e| close(541, format!("INTERNAL_ERROR - {}", e.0), (0, 0)))
    }

    fn emit_content(
        &mut self,
        channel: u16,
        reply: &Reply,
        message: &Message,
    ) -> Result<(), Fault> {
        self.emit(channel, reply)?;
        self.emit_body(channel, message)
    }

    /// The content header and body frames of `message`.
    fn emit_body(&mut self, channel: u16, message: &Message) -> Result<(), Fault> {
        codec::write_content(
            &mut self.pending,
            channel,
            &message.properties,
            &message.body,
            self.frame_max,
        )
        .map_err(|e| close(541, format!("INTERNAL_ERROR - {}", e.0), (0, 0)))
    }

    /// Hands everything built to the writer, the coalesced confirms last.
    async fn flush(&mut self) -> Result<(), Fault> {
        self.emit_confirms()?;
        let bytes = std::mem::take(&mut self.pending);
        self.out
            .send(bytes)
            .await
            .map_err(|_| Fault::Io("write failed"))
    }

    async fn maybe_flush(&mut self) -> Result<(), Fault> {
        if self.pending.len() >= FLUSH_AT {
            self.flush_batch().await
        } else {
            Ok(())
        }
    }

    /// Flushes what handling client frames built. A consumer on this connection sees
    /// a message before its publisher's confirm, as with RabbitMQ (P03): what the
    /// publishes made ready is built first.
    async fn flush_batch(&mut self) -> Result<(), Fault> {
        if !self.confirms.is_empty() && !self.subs.is_empty() {
            self.take_ready()?;
        }
        self.flush().await
    }

    /// Reads until one complete frame is available, by `deadline`.
    async fn read_frame(
        &mut self,
        rd: &mut ReadHalf,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<Frame, Fault> {
        loop {
            if let Some(f) = self.next_frame().await? {
                return Ok(f);
            }
            match timeout_at(deadline, self.read_some(rd, buf)).await {
                Err(_) => return Err(Fault::Io("timed out")),
                Ok(r) => r?,
            }
        }
    }

    /// One socket read into the frame reader (only as much as it has room for).
    async fn read_some(&mut self, rd: &mut ReadHalf, buf: &mut [u8]) -> Result<(), Fault> {
        let room = self.reader.room().min(buf.len());
        match rd.read(&mut buf[..room]).await {
            Err(_) => Err(Fault::Io("read failed")),
            Ok(0) => Err(Fault::Io("closed by peer")),
            Ok(n) => {
                let taken = self.reader.push(&buf[..n]);
                debug_assert_eq!(taken, n, "read no more than the reader's room");
                Ok(())
            }
        }
    }

    async fn next_frame(&mut self) -> Result<Option<Frame>, Fault> {
        match self.reader.next_frame() {
            Ok(f) => Ok(f),
            Err(ReadError::ProtocolHeader) => {
                let _ = self.out.send(PROTOCOL_HEADER.to_vec()).await;
                Err(Fault::Io("bad protocol header"))
            }
            Err(ReadError::Frame {
                code,
                text,
                class_id,
                method_id,
            }) => Err(close(code, text, (class_id, method_id))),
        }
    }

    async fn run(
        &mut self,
        rd: &mut ReadHalf,
        buf: &mut [u8],
        mut shutdown: watch::Receiver<bool>,
    ) -> Fault {
        // Frames the client pipelined behind the handshake.
        if let Err(f) = self.drain_frames().await {
            return f;
        }
        let mut last_read = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match self.unblock_if_under() {
                // Reading again: the time spent blocked was not the client's silence.
                Ok(true) => {
                    last_read = Instant::now();
                    if let Err(f) = self.drain_frames().await {
                        return f;
                    }
                }
                Ok(false) => {}
                Err(f) => return f,
            }
            // A blocked connection is still read into the frame reader until that is
            // full (frames wait there unprocessed), so its close and its heartbeats are
            // seen; with the reader full it is not read at all.
            let room = self.reader.room().min(buf.len());
            let reading = room > 0;
            // Two heartbeat intervals without a byte from the client, while it is read:
            // it is gone.
            let silent_until = (reading && self.heartbeat > 0)
                .then(|| last_read + Duration::from_secs(2 * u64::from(self.heartbeat)));
            let result = tokio::select! {
                r = rd.read(&mut buf[..room]), if reading => match r {
                    Err(_) => Err(Fault::Io("read failed")),
                    Ok(0) => Err(Fault::Io("closed by peer")),
                    Ok(n) => {
                        last_read = Instant::now();
                        self.reader.push(&buf[..n]);
                        self.drain_frames().await
                    }
                },
                ev = next_event(&self.out, &mut self.subs, &mut self.rotate) => self.on_event(ev).await,
                () = held_synced(&self.held) => self.release_held().await,
                () = sleep_opt(silent_until) => Err(Fault::Io("missed heartbeats")),
                _ = tick.tick() => self.on_tick().await,
                _ = shutdown.changed() => Err(close(320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'", (0, 0))),
            };
            if let Err(f) = result {
                return f;
            }
        }
    }
}

fn f_ids(f: &Frame) -> (u16, u16) {
    match f {
        Frame::Method(_, m) => m.ids(),
        _ => (0, 0),
    }
}

async fn sleep_opt(until: Option<Instant>) {
    match until {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl Conn {
    /// Handles every complete frame in the reader, then flushes the replies.
    /// Stops early when the connection got blocked: the rest waits in the reader.
    async fn drain_frames(&mut self) -> Result<(), Fault> {
        while !self.blocked {
            let Some(frame) = self.next_frame().await? else {
                break;
            };
            self.on_frame(frame).await?;
            self.maybe_flush().await?;
        }
        self.flush_batch().await
    }

    async fn on_frame(&mut self, frame: Frame) -> Result<(), Fault> {
        let channel = frame.channel();
        if channel == 0 {
            return match frame {
                Frame::Heartbeat(_) => Ok(()),
                Frame::Method(_, Method::ConnectionClose { .. }) => {
                    // Confirms owed go out before close-ok.
                    self.emit_confirms()?;
                    self.emit(0, &Reply::ConnectionCloseOk)?;
                    Err(Fault::Done)
                }
                Frame::Method(_, Method::UpdateSecret { .. }) => {
                    self.emit(0, &Reply::UpdateSecretOk)
                }
                // RabbitMQ 3.10.8's answer to channel.open on channel 0.
                Frame::Method(_, m @ Method::ChannelOpen) => Err(close(
                    504,
                    "CHANNEL_ERROR - unexpected method in connection state running",
                    m.ids(),
                )),
                Frame::Method(_, m) => Err(close(
                    503,
                    "COMMAND_INVALID - method not valid on channel 0 now",
                    m.ids(),
                )),
                Frame::Header(..) | Frame::Body(..) => Err(close(
                    505,
                    "UNEXPECTED_FRAME - content frame on channel 0",
                    (0, 0),
                )),
            };
        }
        if let Frame::Heartbeat(_) = frame {
            return Err(close(
                505,
                format!("UNEXPECTED_FRAME - heartbeat frame on channel {channel}"),
                (0, 0),
            ));
        }
        match self.channels.get_mut(&channel) {
            None => {
                let Frame::Method(_, Method::ChannelOpen) = frame else {
                    return Err(close(
                        504,
                        format!("CHANNEL_ERROR - expected 'channel.open' on channel {channel}"),
                        f_ids(&frame),
                    ));
                };
                // channel_max bounds how many channels are open, not their numbers
                // (RabbitMQ 3.10.8: channel 65535 opens under channel_max 2047).
                if self.channels.len() >= usize::from(self.channel_max) {
                    return Err(close(
                        530,
                        format!(
                            "NOT_ALLOWED - number of channels opened ({}) has reached the negotiated channel_max ({})",
                            self.channels.len(),
                            self.channel_max
                        ),
                        (0, 0),
                    ));
                }
                let conn = self
                    .broker
                    .as_ref()
                    .ok_or_else(|| close(541, "INTERNAL_ERROR - no broker connection", (20, 10)))?;
                let ch = conn
                    .open_channel()
                    .map_err(|e| close(e.reply_code(), e.reply_text(), (20, 10)))?;
                let max = self.shared.config.limits.max_message_size;
                self.channels.insert(
                    channel,
                    Chan::Open(Box::new(OpenChannel {
                        broker: ch,
                        content: ContentAssembler::new(max),
                    })),
                );
                self.emit(channel, &Reply::ChannelOpenOk)
            }
            Some(Chan::Closing) => {
                match frame {
                    Frame::Method(_, Method::ChannelCloseOk) => {
                        self.channels.remove(&channel);
                    }
                    Frame::Method(_, Method::ChannelClose { .. }) => {
                        self.channels.remove(&channel);
                        self.emit(channel, &Reply::ChannelCloseOk)?;
                    }
                    _ => {}
                }
                Ok(())
            }
            Some(Chan::Open(open)) => {
                if let Frame::Method(_, Method::ChannelOpen) = frame {
                    return Err(close(
                        504,
                        "CHANNEL_ERROR - second 'channel.open' seen",
                        (20, 10),
                    ));
                }
                let publishing = matches!(
                    frame,
                    Frame::Method(_, Method::Publish(_)) | Frame::Header(..) | Frame::Body(..)
                );
                let before = open.content.buffered();
                let accepted = open.content.accept(frame);
                let after = open.content.buffered();
                self.account_inflight(before, after)?;
                let step = match accepted {
                    Ok(step) => step,
                    Err(ContentError::Channel { code, text }) => {
                        return self.channel_fault(
                            channel,
                            ChannelFault {
                                code,
                                text,
                                ids: (60, 40),
                            },
                        );
                    }
                    Err(ContentError::Connection { code, text }) => {
                        return Err(close(code, text, (0, 0)));
                    }
                };
                let result = match step {
                    Step::Pending => Ok(()),
                    Step::Complete(content) => self.publish(channel, content),
                    Step::Method(Method::TxCommit) => self.tx_commit(channel).await,
                    Step::Method(m) => self.on_method(channel, m),
                };
                match result {
                    Ok(()) => {}
                    Err(Failure::Channel(f)) => self.channel_fault(channel, f)?,
                    Err(Failure::Connection(f)) => return Err(f),
                }
                // Over the watermark after a publish frame (the message it completed
                // counted): stop processing this connection's frames.
                if publishing {
                    self.block_if_over()?;
                }
                Ok(())
            }
        }
    }

    /// Closes a channel after a channel error: Channel.Close, then wait for Close-Ok.
    fn channel_fault(&mut self, channel: u16, f: ChannelFault) -> Result<(), Fault> {
        tracing::debug!(peer = %self.peer, channel, code = f.code, text = %f.text, "channel error");
        self.drop_channel(channel)?;
        self.channels.insert(channel, Chan::Closing);
        self.emit(
            channel,
            &Reply::ChannelClose {
                reply_code: f.code,
                reply_text: f.text,
                class_id: f.ids.0,
                method_id: f.ids.1,
            },
        )
    }

    /// Forgets a channel: the confirms it is owed are written, its consumers are
    /// cancelled, its unacked messages requeued.
    fn drop_channel(&mut self, channel: u16) -> Result<(), Fault> {
        self.emit_confirms_of(channel)?;
        // Confirms not yet on disk are not sent on a closed channel.
        self.held.retain(|h| h.channel != channel);
        self.subs.retain(|s| s.channel != channel);
        if let Some(Chan::Open(open)) = self.channels.remove(&channel) {
            self.account_inflight(open.content.buffered(), 0)?;
            open.broker.close();
        }
        Ok(())
    }

    fn channel(&self, channel: u16) -> Result<&broker::Channel, Failure> {
        match self.channels.get(&channel) {
            Some(Chan::Open(open)) => Ok(&open.broker),
            _ => Err(Failure::Connection(close(
                504,
                "CHANNEL_ERROR - channel is not open",
                (0, 0),
            ))),
        }
    }

    async fn on_tick(&mut self) -> Result<(), Fault> {
        if let Some(c) = &self.broker {
            if let Some(reason) = c.close_reason() {
                return Err(close(reason.reply_code(), reason.reply_text(), (0, 0)));
            }
        }
        if self.out.is_closed() {
            return Err(Fault::Io("write failed"));
        }
        Ok(())
    }
}
