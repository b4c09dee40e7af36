//! One client connection: handshake, then a loop over socket reads, consumer
//! deliveries, timers and shutdown. The task owns all the connection's channel state;
//! the writer task (see [`writer`](super::writer)) owns the socket's write half.

use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::Shared;
use super::auth;
use super::codec::{self, PROTOCOL_HEADER};
use super::content::{Content, ContentAssembler, ContentError, Step};
use super::method::Publish;
use super::method::{Method, Reply};
use super::reader::{Frame, FrameReader, MIN_FRAME_MAX, ReadError};
use super::writer::Outbox;
use crate::broker::{
    self, BrokerError, CancelReason, ConnectOptions, Delivery, Message, PublishOptions, Scope,
};
use crate::{FieldTable, FieldValue};

mod methods;

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
    blocked_sent: bool,
    /// Body bytes of half-received publishes, all channels (each assembler's
    /// `buffered()`); at most [`Conn::inflight_limit`].
    inflight: usize,
    /// Publisher confirms decided and not yet written, at most one run per channel:
    /// they go out coalesced (one `basic.ack` with `multiple`) at the next flush.
    confirms: Vec<AckRun>,
}

/// Consecutive acked publish sequence numbers `first..=last` of one channel.
#[derive(Debug, Clone, Copy)]
struct AckRun {
    channel: u16,
    first: u64,
    last: u64,
}

/// Serves one accepted socket until it closes.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let limits = &shared.config.limits;
    let (out, writer) = Outbox::spawn(wr, limits.connection_buffer, limits.write_timeout);
    let mut conn = Conn {
        peer,
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
        blocked_sent: false,
        inflight: 0,
        confirms: Vec::new(),
        shared,
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let deadline = Instant::now() + conn.shared.config.limits.handshake_timeout;
    let fault = match conn.handshake(&mut rd, &mut buf, deadline).await {
        Ok(()) => {
            tracing::info!(peer = %conn.peer, user = %conn.user, vhost = %conn.vhost, "connection opened");
            conn.run(&mut rd, &mut buf, shutdown).await
        }
        Err(f) => f,
    };
    conn.finish(&mut rd, &mut buf, fault).await;
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
        rd: &mut OwnedReadHalf,
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
    async fn read_some(&mut self, rd: &mut OwnedReadHalf, buf: &mut [u8]) -> Result<(), Fault> {
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

    /// A handshake frame: a method on channel 0 (heartbeats are skipped).
    async fn handshake_method(
        &mut self,
        rd: &mut OwnedReadHalf,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<Method, Fault> {
        loop {
            match self.read_frame(rd, buf, deadline).await? {
                Frame::Heartbeat(0) => {}
                Frame::Method(0, Method::ConnectionClose { .. }) => {
                    self.emit(0, &Reply::ConnectionCloseOk)?;
                    return Err(Fault::Done);
                }
                Frame::Method(0, m) => return Ok(m),
                _ => {
                    return Err(close(
                        504,
                        "CHANNEL_ERROR - expected a method on channel 0 during the handshake",
                        (0, 0),
                    ));
                }
            }
        }
    }

    async fn handshake(
        &mut self,
        rd: &mut OwnedReadHalf,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<(), Fault> {
        // The protocol header. Frames a client pipelines after it wait in the reader.
        loop {
            match self.reader.read_header() {
                Ok(true) => break,
                Ok(false) => {}
                Err(_) => {
                    let _ = self.out.send(PROTOCOL_HEADER.to_vec()).await;
                    return Err(Fault::Io("bad protocol header"));
                }
            }
            match timeout_at(deadline, self.read_some(rd, buf)).await {
                Err(_) => return Err(Fault::Io("handshake timed out")),
                Ok(r) => r?,
            }
        }
        let limits = self.shared.config.limits.clone();
        self.emit(
            0,
            &Reply::Start {
                server_properties: server_properties(),
                mechanisms: "PLAIN AMQPLAIN".into(),
                locales: "en_US".into(),
            },
        )?;
        self.flush().await?;

        let Method::StartOk {
            client_properties,
            mechanism,
            response,
            ..
        } = self.handshake_method(rd, buf, deadline).await?
        else {
            return Err(close(
                503,
                "COMMAND_INVALID - expected connection.start-ok",
                (10, 11),
            ));
        };
        self.caps = client_caps(&client_properties);
        let credentials = match mechanism.as_str() {
            "PLAIN" => auth::parse_plain(&response),
            "AMQPLAIN" => codec::decode_amqplain(&response),
            _ => None,
        };
        let user = credentials.as_ref().and_then(|(name, pass)| {
            self.shared.config.users.iter().find(|u| {
                u.name == *name
                    && u.check_password(pass)
                    && (!u.loopback_only || self.peer.ip().is_loopback())
            })
        });
        let Some(user) = user else {
            let name = credentials.map(|(n, _)| n).unwrap_or_default();
            tracing::warn!(peer = %self.peer, user = %name, mechanism = %mechanism, "login refused");
            if self.caps.authentication_failure_close {
                return Err(close(
                    403,
                    format!(
                        "ACCESS_REFUSED - Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
                    ),
                    (10, 11),
                ));
            }
            return Err(Fault::Io("login refused"));
        };
        self.user = user.name.clone();
        let connection_name = match client_properties.get("connection_name") {
            Some(FieldValue::LongString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(FieldValue::ShortString(s)) => Some(s.clone()),
            _ => None,
        };

        self.emit(
            0,
            &Reply::Tune {
                channel_max: limits.channel_max,
                frame_max: limits.frame_max,
                heartbeat: limits.heartbeat,
            },
        )?;
        self.flush().await?;
        let Method::TuneOk {
            channel_max,
            frame_max,
            heartbeat,
        } = self.handshake_method(rd, buf, deadline).await?
        else {
            return Err(close(
                503,
                "COMMAND_INVALID - expected connection.tune-ok",
                (10, 31),
            ));
        };
        let frame_max = if frame_max == 0 {
            limits.frame_max
        } else {
            frame_max.min(limits.frame_max)
        };
        if frame_max < MIN_FRAME_MAX {
            return Err(close(
                530,
                format!("NOT_ALLOWED - frame_max={frame_max} < {MIN_FRAME_MAX} min size"),
                (10, 31),
            ));
        }
        self.frame_max = frame_max;
        self.reader.set_frame_max(frame_max);
        self.channel_max = if channel_max == 0 {
            limits.channel_max
        } else {
            channel_max.min(limits.channel_max)
        };
        self.heartbeat = heartbeat;
        self.out
            .set_heartbeat(heartbeat)
            .await
            .map_err(|_| Fault::Io("write failed"))?;

        let Method::ConnectionOpen { vhost } = self.handshake_method(rd, buf, deadline).await?
        else {
            return Err(close(
                503,
                "COMMAND_INVALID - expected connection.open",
                (10, 40),
            ));
        };
        let options = ConnectOptions {
            vhost: vhost.clone(),
            user: self.user.clone(),
            peer: Some(self.peer),
            client_name: connection_name,
        };
        match self.shared.broker.connect(options) {
            Ok(c) => self.broker = Some(c),
            Err(e) => return Err(close(e.reply_code(), e.reply_text(), (10, 40))),
        }
        self.vhost = vhost;
        self.emit(0, &Reply::OpenOk)?;
        self.flush().await
    }

    async fn run(
        &mut self,
        rd: &mut OwnedReadHalf,
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
            // Two heartbeat intervals without a byte from the client: it is gone.
            let silent_until = (self.heartbeat > 0)
                .then(|| last_read + Duration::from_secs(2 * u64::from(self.heartbeat)));
            let room = self.reader.room().min(buf.len());
            let result = tokio::select! {
                r = rd.read(&mut buf[..room]) => match r {
                    Err(_) => Err(Fault::Io("read failed")),
                    Ok(0) => Err(Fault::Io("closed by peer")),
                    Ok(n) => {
                        last_read = Instant::now();
                        self.reader.push(&buf[..n]);
                        self.drain_frames().await
                    }
                },
                ev = next_event(&self.out, &mut self.subs, &mut self.rotate) => self.on_event(ev).await,
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

/// The next delivery (or ended consumer), polled only while the writer has room.
async fn next_event(out: &Outbox, subs: &mut [Sub], rotate: &mut usize) -> Event {
    out.wait_room().await;
    poll_fn(|cx| poll_subs(subs, rotate, cx)).await
}

fn poll_subs(subs: &mut [Sub], rotate: &mut usize, cx: &mut Context<'_>) -> Poll<Event> {
    let n = subs.len();
    for k in 0..n {
        let i = (*rotate + k) % n;
        match subs[i].consumer.poll_recv(cx) {
            Poll::Ready(Some(d)) => {
                *rotate = (i + 1) % n;
                return Poll::Ready(Event::Delivery(subs[i].channel, d));
            }
            Poll::Ready(None) => return Poll::Ready(Event::Ended(i)),
            Poll::Pending => {}
        }
    }
    Poll::Pending
}

/// Start's server properties, with the capabilities that are implemented.
fn server_properties() -> FieldTable {
    let mut caps = FieldTable::new();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "consumer_priorities",
        "direct_reply_to",
    ] {
        caps.insert(cap, FieldValue::Boolean(true));
    }
    let mut t = FieldTable::new();
    t.insert("product", FieldValue::LongString(b"trackswitch".to_vec()));
    t.insert(
        "version",
        FieldValue::LongString(env!("CARGO_PKG_VERSION").as_bytes().to_vec()),
    );
    t.insert("platform", FieldValue::LongString(b"Rust".to_vec()));
    t.insert(
        "information",
        FieldValue::LongString(b"embedded AMQP 0-9-1 broker".to_vec()),
    );
    t.insert("capabilities", FieldValue::Table(caps));
    t
}

fn client_caps(props: &FieldTable) -> Caps {
    let Some(FieldValue::Table(caps)) = props.get("capabilities") else {
        return Caps::default();
    };
    let on = |name: &str| matches!(caps.get(name), Some(FieldValue::Boolean(true)));
    Caps {
        consumer_cancel_notify: on("consumer_cancel_notify"),
        connection_blocked: on("connection.blocked"),
        authentication_failure_close: on("authentication_failure_close"),
    }
}

impl Conn {
    /// Handles every complete frame in the reader, then flushes the replies.
    async fn drain_frames(&mut self) -> Result<(), Fault> {
        while let Some(frame) = self.next_frame().await? {
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
                let before = open.content.buffered();
                let accepted = open.content.accept(frame);
                self.inflight = self.inflight - before + open.content.buffered();
                if self.inflight > self.inflight_limit() {
                    return Err(close(
                        506,
                        format!(
                            "RESOURCE_ERROR - more than {} bytes of unfinished publishes",
                            self.inflight_limit()
                        ),
                        (60, 40),
                    ));
                }
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
                    Step::Complete(content) => self.publish(channel, *content).await,
                    Step::Method(m) => self.on_method(channel, m),
                };
                match result {
                    Ok(()) => Ok(()),
                    Err(Failure::Channel(f)) => self.channel_fault(channel, f),
                    Err(Failure::Connection(f)) => Err(f),
                }
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
        self.subs.retain(|s| s.channel != channel);
        if let Some(Chan::Open(open)) = self.channels.remove(&channel) {
            self.inflight -= open.content.buffered();
            open.broker.close();
        }
        Ok(())
    }

    /// Most body bytes of unfinished publishes a connection may hold across its
    /// channels: two maximum-size messages (one channel needs one).
    fn inflight_limit(&self) -> usize {
        usize::try_from(self.shared.config.limits.max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
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

    async fn publish(&mut self, channel: u16, content: Content) -> Result<(), Failure> {
        let Content {
            publish:
                Publish {
                    exchange,
                    routing_key,
                    mandatory,
                    immediate,
                },
            properties,
            body,
        } = content;
        self.wait_for_memory().await?;
        let ids = (60, 40);
        let message = Message {
            properties,
            body: body.into(),
        };
        let published = self
            .channel(channel)?
            .publish(
                &exchange,
                &routing_key,
                message,
                PublishOptions {
                    mandatory,
                    immediate,
                },
            )
            .map_err(|e| broker_failure(&e, ids))?;
        if let Some(r) = &published.returned {
            self.emit_return(channel, r)?;
        }
        if let Some(seq) = published.seq {
            self.confirm(channel, seq, published.ack)?;
        }
        Ok(())
    }

    /// Records the confirm of publish `seq` on `channel`. Acks are coalesced into a
    /// run written at the next flush (CONFORMANCE P03); a nack first writes the run
    /// before it, then itself, so the client sees them in sequence order.
    fn confirm(&mut self, channel: u16, seq: u64, ack: bool) -> Result<(), Fault> {
        let at = self.confirms.iter().position(|r| r.channel == channel);
        if ack {
            match at.map(|i| &mut self.confirms[i]) {
                Some(run) if run.last + 1 == seq => run.last = seq,
                Some(_) => {
                    self.emit_confirms_of(channel)?;
                    self.confirms.push(AckRun {
                        channel,
                        first: seq,
                        last: seq,
                    });
                }
                None => self.confirms.push(AckRun {
                    channel,
                    first: seq,
                    last: seq,
                }),
            }
            return Ok(());
        }
        self.emit_confirms_of(channel)?;
        self.emit(
            channel,
            &Reply::Nack {
                delivery_tag: seq,
                multiple: false,
                requeue: false,
            },
        )
    }

    /// Writes the pending ack runs: one `basic.ack` per channel, `multiple` when it
    /// covers more than one publish.
    fn emit_confirms(&mut self) -> Result<(), Fault> {
        if self.confirms.is_empty() {
            return Ok(());
        }
        let runs = std::mem::take(&mut self.confirms);
        for run in &runs {
            self.emit_run(run)?;
        }
        // Keep the allocation.
        self.confirms = runs;
        self.confirms.clear();
        Ok(())
    }

    /// Writes `channel`'s pending ack run, if any.
    fn emit_confirms_of(&mut self, channel: u16) -> Result<(), Fault> {
        match self.confirms.iter().position(|r| r.channel == channel) {
            Some(i) => {
                let run = self.confirms.swap_remove(i);
                self.emit_run(&run)
            }
            None => Ok(()),
        }
    }

    fn emit_run(&mut self, run: &AckRun) -> Result<(), Fault> {
        self.emit(
            run.channel,
            &Reply::Ack {
                delivery_tag: run.last,
                multiple: run.last > run.first,
            },
        )
    }

    /// `basic.return` of an unroutable mandatory message.
    fn emit_return(&mut self, channel: u16, r: &broker::Returned) -> Result<(), Fault> {
        let reply = Reply::Return {
            reply_code: r.reply_code,
            reply_text: r.reply_text.clone(),
            exchange: r.exchange.clone(),
            routing_key: r.routing_key.clone(),
        };
        self.emit_content(channel, &reply, &r.message)
    }

    /// Above the memory watermark: tell the client (if it listens) and hold its
    /// publishes until memory drops, as RabbitMQ's `connection.blocked`.
    async fn wait_for_memory(&mut self) -> Result<(), Fault> {
        let watermark = self.shared.config.limits.memory_high_watermark;
        if watermark == 0 || self.shared.broker.memory_used() < watermark {
            return Ok(());
        }
        if self.caps.connection_blocked && !self.blocked_sent {
            self.emit(
                0,
                &Reply::Blocked {
                    reason: "low on memory".into(),
                },
            )?;
            self.blocked_sent = true;
        }
        self.flush().await?;
        while self.shared.broker.memory_used() >= watermark {
            if self.out.is_closed() {
                return Err(Fault::Io("write failed"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.on_tick().await
    }

    async fn on_tick(&mut self) -> Result<(), Fault> {
        if let Some(c) = &self.broker {
            if let Some(reason) = c.close_reason() {
                return Err(close(reason.reply_code(), reason.reply_text(), (0, 0)));
            }
        }
        let watermark = self.shared.config.limits.memory_high_watermark;
        if self.blocked_sent && (watermark == 0 || self.shared.broker.memory_used() < watermark) {
            self.blocked_sent = false;
            self.emit(0, &Reply::Unblocked)?;
            self.flush().await?;
        }
        if self.out.is_closed() {
            return Err(Fault::Io("write failed"));
        }
        Ok(())
    }

    async fn on_event(&mut self, ev: Event) -> Result<(), Fault> {
        match ev {
            Event::Delivery(channel, d) => {
                self.emit_delivery(channel, &d)?;
                self.take_ready()?;
            }
            Event::Ended(i) => self.on_ended(i)?,
        }
        self.flush().await
    }

    /// Builds the deliveries that are ready now, without waiting, up to a batch.
    fn take_ready(&mut self) -> Result<(), Fault> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while self.pending.len() < DELIVERY_BATCH {
            match poll_subs(&mut self.subs, &mut self.rotate, &mut cx) {
                Poll::Ready(Event::Delivery(channel, d)) => self.emit_delivery(channel, &d)?,
                Poll::Ready(Event::Ended(i)) => self.on_ended(i)?,
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    fn emit_delivery(&mut self, channel: u16, d: &Delivery) -> Result<(), Fault> {
        let reply = Reply::Deliver {
            consumer_tag: d.consumer_tag().unwrap_or_default().to_owned(),
            delivery_tag: d.delivery_tag(),
            redelivered: d.redelivered(),
            exchange: d.exchange().to_owned(),
            routing_key: d.routing_key().to_owned(),
        };
        self.emit_content(channel, &reply, d.message())
    }

    fn on_ended(&mut self, i: usize) -> Result<(), Fault> {
        let sub = self.subs.swap_remove(i);
        if sub.consumer.cancel_reason() == Some(CancelReason::QueueDeleted)
            && self.caps.consumer_cancel_notify
            && matches!(self.channels.get(&sub.channel), Some(Chan::Open(_)))
        {
            self.emit(
                sub.channel,
                &Reply::Cancel {
                    consumer_tag: sub.tag,
                },
            )?;
        }
        if let Some(c) = &self.broker {
            if let Some(reason) = c.close_reason() {
                return Err(close(reason.reply_code(), reason.reply_text(), (0, 0)));
            }
        }
        Ok(())
    }

    /// Cancels the connection's consumers, closes its channels and its broker
    /// connection (unacked messages are requeued, exclusive queues deleted).
    fn release(&mut self) {
        self.subs.clear();
        self.channels.clear();
        if let Some(c) = self.broker.take() {
            c.close();
        }
    }

    /// Reads and discards until the client closes the socket, for at most
    /// `close_linger`.
    async fn linger(&mut self, rd: &mut OwnedReadHalf, buf: &mut [u8]) {
        let deadline = Instant::now() + self.shared.config.limits.close_linger;
        while let Ok(Ok(n)) = timeout_at(deadline, rd.read(buf)).await {
            if n == 0 {
                break;
            }
        }
    }

    /// Ends the connection: Close (if owed) and a short wait for Close-Ok, discarding
    /// everything else; then the broker connection closes (requeueing unacked messages).
    async fn finish(&mut self, rd: &mut OwnedReadHalf, buf: &mut [u8], fault: Fault) {
        let reason = match &fault {
            Fault::Close { code, text, .. } => format!("{code} {text}"),
            Fault::Done => "closed by client".to_owned(),
            Fault::Io(why) => (*why).to_owned(),
        };
        let client_closed = matches!(fault, Fault::Done);
        if let Fault::Close {
            code,
            text,
            class_id,
            method_id,
        } = fault
        {
            let reply = Reply::ConnectionClose {
                reply_code: code,
                reply_text: text,
                class_id,
                method_id,
            };
            // Replies owed before the error (e.g. open-ok for every channel pipelined
            // before the one over channel_max) go out first.
            if self.emit(0, &reply).is_ok() && self.flush().await.is_ok() {
                let deadline = Instant::now() + self.shared.config.limits.close_linger;
                loop {
                    match self.read_frame(rd, buf, deadline).await {
                        Ok(Frame::Method(0, Method::ConnectionCloseOk)) | Err(_) => break,
                        Ok(Frame::Method(0, Method::ConnectionClose { .. })) => {
                            let _ = self.emit(0, &Reply::ConnectionCloseOk);
                            break;
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
        if client_closed {
            // The client said Close: its channels are gone now (unacked messages
            // requeued), close-ok goes out, and the client closes the socket. What it
            // wrote meanwhile is read and discarded, for at most `close_linger`.
            self.release();
            if self.flush().await.is_ok() {
                self.linger(rd, buf).await;
            }
        }
        let _ = self.flush().await;
        self.release();
        if self.user.is_empty() {
            tracing::debug!(peer = %self.peer, reason = %reason, "connection refused");
        } else {
            tracing::info!(peer = %self.peer, user = %self.user, reason = %reason, "connection closed");
        }
    }
}
