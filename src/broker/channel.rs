//! Channels: delivery tags, unacknowledged messages, prefetch, confirms, consumers,
//! and every AMQP method a client calls: this file holds the channel's state, `get`,
//! `publish` and confirms; `topology` the exchange and queue methods, `consume`
//! consumers, `settle` acks, nacks and rejects, `tx` transactions, `reply_to` direct
//! reply-to.
//!
//! A channel error closes the channel as in AMQP: its unacked messages are requeued,
//! its consumers cancelled, and every later call fails with the original cause
//! ([`BrokerError::is_closed`]). A connection error closes the whole connection.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;

use super::access::{Perm, Resource};
use super::connection::ConnShared;
use super::consumer::{CancelReason, ChannelCredit, ConsumerShared};
use super::error::{BrokerError, NOT_FOUND, NOT_IMPLEMENTED, PRECONDITION_FAILED};
use super::message::Message;
use super::options::{GetOk, PublishOptions, Published};
use super::queue::{Entry, QueueCell};
use super::sync::lock;
use super::vhost::{Routed, VhostInner};

mod consume;
mod delivery;
mod reply_to;
mod settle;
mod topology;
mod tx;

pub use delivery::{Consumer, Delivery};
pub(crate) use reply_to::REPLY_TO;

/// (prefetch, global prefetch, unacked, consumers with their queue names, confirm mode)
/// of a channel, for introspection.
pub(crate) type Snapshot = (u16, u32, usize, Vec<(Arc<ConsumerShared>, Arc<str>)>, bool);

/// Deliveries taken for settling.
#[derive(Debug)]
enum Taken {
    One(Unacked),
    Many(Vec<Unacked>),
}

/// A delivery waiting for its ack.
#[derive(Debug)]
struct Unacked {
    tag: u64,
    entry: Entry,
    /// `None` once the queue is gone (settling is then a no-op).
    queue: Option<Arc<QueueCell>>,
    /// The consumer whose prefetch credit it holds (`None` for `get`).
    consumer: Option<Arc<ConsumerShared>>,
}

#[derive(Debug)]
struct ChanState {
    /// The next delivery tag (tags start at 1).
    next_tag: u64,
    /// Unsettled deliveries in tag order.
    unacked: VecDeque<Unacked>,
    consumers: HashMap<Arc<str>, (Arc<ConsumerShared>, Arc<QueueCell>)>,
    /// Per-consumer prefetch for consumers created from now on; 0 = unlimited.
    prefetch: u16,
    confirm: bool,
    /// The last publish sequence number in confirm mode.
    seq: u64,
    /// A confirm nack since the last `wait_for_confirms`.
    nacked: bool,
    /// The latest store point a confirm of this channel waits for.
    last_sync: Option<super::SyncPoint>,
    /// The last queue this channel declared (for empty queue names).
    last_queue: Option<String>,
    /// The direct reply-to pseudo-queue this channel consumes (see [`reply_to`]).
    reply_queue: Option<Arc<str>>,
    /// `Some` once `tx.select` was called: the operations held until commit, in
    /// order (see [`tx`]).
    tx: Option<Vec<tx::TxOp>>,
    closed: Option<BrokerError>,
}

/// A channel's shared state: the [`Channel`] handle, its consumers and deliveries
/// point to it.
pub(crate) struct ChannelShared {
    pub(crate) id: u32,
    pub(crate) conn: Arc<ConnShared>,
    pub(crate) credit: Arc<ChannelCredit>,
    state: Mutex<ChanState>,
    /// Fast check of `state.closed.is_some()`.
    closed: AtomicBool,
    /// Fast check of `state.confirm`.
    confirm: AtomicBool,
    /// Set by `tx.select` (never cleared): publishes and settlements check it without
    /// taking the state lock. `state.tx` is the truth (a closed channel's is `None`).
    tx: AtomicBool,
}

impl fmt::Debug for ChannelShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("connection", &self.conn.id)
            .field("id", &self.id)
            .field("closed", &self.closed.load(Relaxed))
            .finish()
    }
}

/// A random name suffix (`amq.gen-...`, `amq.ctag-...`): 128 bits from the OS's
/// random source in 22 characters of URL-safe base64, as RabbitMQ's.
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let mut x = u128::from_le_bytes(bytes);
    (0..22)
        .map(|_| {
            let c = ALPHABET[(x & 63) as usize] as char;
            x >>= 6;
            c
        })
        .collect()
}

impl ChannelShared {
    pub(crate) fn new(id: u32, conn: Arc<ConnShared>) -> Arc<ChannelShared> {
        Arc::new(ChannelShared {
            id,
            conn,
            credit: Arc::new(ChannelCredit::default()),
            state: Mutex::new(ChanState {
                next_tag: 1,
                unacked: VecDeque::new(),
                consumers: HashMap::new(),
                prefetch: 0,
                confirm: false,
                seq: 0,
                nacked: false,
                last_sync: None,
                last_queue: None,
                reply_queue: None,
                tx: None,
                closed: None,
            }),
            closed: AtomicBool::new(false),
            confirm: AtomicBool::new(false),
            tx: AtomicBool::new(false),
        })
    }

    fn vhost(&self) -> &VhostInner {
        &self.conn.vhost
    }

    /// Fails if the channel is closed.
    fn check_open(&self) -> Result<(), BrokerError> {
        if self.closed.load(Relaxed) {
            if let Some(cause) = &lock(&self.state).closed {
                return Err(cause.as_closed());
            }
        }
        Ok(())
    }

    /// Applies an error's scope: a channel error closes this channel, a connection
    /// error the connection. Returns the error.
    fn fail(self: &Arc<Self>, e: BrokerError) -> BrokerError {
        match e.scope() {
            super::Scope::Channel => self.close_with(e.clone()),
            super::Scope::Connection => self.conn.close_with(e.clone()),
        }
        e
    }

    /// Runs a method: fails fast on a closed channel, applies the scope of an error.
    fn run<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&Arc<Self>) -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        self.check_open()?;
        f(self).map_err(|e| self.fail(e))
    }

    /// Resolves an empty queue name to the channel's last declared queue.
    fn queue_name(&self, name: &str) -> Result<String, BrokerError> {
        if !name.is_empty() {
            return Ok(name.into());
        }
        lock(&self.state).last_queue.clone().ok_or_else(|| {
            BrokerError::channel(NOT_FOUND, "no previously declared queue".to_string())
        })
    }

    /// The permission checks of a bind or unbind, in RabbitMQ's order: write on the
    /// destination, then (unless the default exchange is an end: that refusal comes
    /// first) read on the source exchange.
    fn check_bind(
        &self,
        kind: Resource,
        destination: &str,
        source: &str,
    ) -> Result<(), BrokerError> {
        let who = self.conn.who();
        who.check(Perm::Write, kind, destination)?;
        let default_end =
            source.is_empty() || (kind == Resource::Exchange && destination.is_empty());
        if !default_end {
            who.check(Perm::Read, Resource::Exchange, source)?;
        }
        Ok(())
    }

    /// Records a delivery taken by the application: assigns the next delivery tag
    /// and, with manual ack, remembers it. `None` if the channel has closed meanwhile
    /// (the message goes back to its queue).
    pub(crate) fn register(
        &self,
        entry: Entry,
        queue: Option<Arc<QueueCell>>,
        consumer: Option<&Arc<ConsumerShared>>,
        no_ack: bool,
    ) -> Option<u64> {
        let mut st = lock(&self.state);
        if st.closed.is_some() {
            drop(st);
            if let Some(q) = queue {
                if no_ack {
                    q.restore(entry);
                } else {
                    if let Some(c) = consumer {
                        c.release(1);
                    }
                    q.requeue(vec![entry]);
                }
            }
            return None;
        }
        let tag = st.next_tag;
        // A direct reply-to delivery takes no tag of its own: RabbitMQ 3.10.8 hands
        // it the channel's next tag without using it up.
        if !queue.as_ref().is_some_and(|q| q.config.reply_to) {
            st.next_tag += 1;
        }
        if !no_ack {
            st.unacked.push_back(Unacked {
                tag,
                entry,
                queue,
                consumer: consumer.cloned(),
            });
        }
        Some(tag)
    }

    /// Closes the channel with `cause`: requeues unacked messages, cancels consumers.
    pub(crate) fn close_with(&self, cause: BrokerError) {
        let (unacked, consumers, held) = {
            let mut st = lock(&self.state);
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(cause);
            self.closed.store(true, Relaxed);
            (
                std::mem::take(&mut st.unacked),
                std::mem::take(&mut st.consumers),
                st.tx.take().unwrap_or_default(),
            )
        };
        for (_, (c, q)) in consumers {
            q.remove_consumer(&c, CancelReason::ChannelClosed);
        }
        // Held transactional work is discarded: its deliveries were unacked.
        self.undo(held, true);
        self.settle(Taken::Many(unacked.into()), Some(true));
        self.conn.forget_channel(self.id);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// (prefetch, global prefetch, unacked, consumers, confirm) for introspection.
    pub(crate) fn info(&self) -> Snapshot {
        let (prefetch, unacked, mut consumers, confirm) = {
            let st = lock(&self.state);
            let consumers: Vec<_> = st
                .consumers
                .values()
                .map(|(c, q)| (Arc::clone(c), Arc::from(&*q.name)))
                .collect();
            (st.prefetch, st.unacked.len(), consumers, st.confirm)
        };
        // Consumers of deleted queues are cancelled (checked once the channel's lock,
        // a leaf, is released).
        consumers.retain(|(c, _)| c.ended() != Some(CancelReason::QueueDeleted));
        (
            prefetch,
            self.credit.limit.load(Relaxed),
            unacked,
            consumers,
            confirm,
        )
    }
}

/// A channel of a [`Connection`](super::Connection): where a client declares, binds,
/// publishes, consumes and acknowledges.
///
/// Every method takes `&self`; the channel is `Send + Sync`. Dropping it closes it
/// (unacked messages are requeued, consumers cancelled).
///
/// With access control on ([`Broker::set_access_control`](super::Broker::set_access_control)),
/// the methods that need a permission (declares, deletes, binds, publish, consume,
/// get, purge: the table on [`Broker::set_permissions`](super::Broker::set_permissions))
/// also fail with 403 ACCESS_REFUSED, a channel error, before their other checks
/// look anything up.
///
/// # Examples
///
/// ```
/// use trackswitch::FieldTable;
/// use trackswitch::broker::{Broker, ExchangeDeclare, Message, PublishOptions, QueueDeclare};
///
/// let broker = Broker::new();
/// let conn = broker.connect_default();
/// let ch = conn.open_channel().unwrap();
/// ch.exchange_declare("logs", "topic", &ExchangeDeclare::default()).unwrap();
/// ch.queue_declare("errors", &QueueDeclare::default()).unwrap();
/// ch.queue_bind("errors", "logs", "*.error", &FieldTable::new()).unwrap();
/// let p = ch.publish("logs", "db.error", Message::new("disk full"), PublishOptions::default()).unwrap();
/// assert_eq!(p.queues, 1);
/// let got = ch.get("errors", true).unwrap().unwrap();
/// assert_eq!(got.delivery.body(), b"disk full");
/// assert_eq!(got.message_count, 0);
/// ```
pub struct Channel {
    pub(crate) shared: Arc<ChannelShared>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.close();
    }
}

fn closed_by_application() -> BrokerError {
    BrokerError::channel(200, "closed by the application")
}

impl Channel {
    /// The channel's number within its connection (from 1).
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// Whether the channel is still open.
    pub fn is_open(&self) -> bool {
        !self.shared.is_closed()
    }

    /// Closes the channel: requeues its unacked messages (marked redelivered) and
    /// cancels its consumers. Closing twice is fine.
    pub fn close(&self) {
        self.shared.close_with(closed_by_application());
    }

    /// Why the channel closed, once it has.
    pub fn close_reason(&self) -> Option<BrokerError> {
        lock(&self.shared.state).closed.clone()
    }

    pub(super) fn conn_id(&self) -> u64 {
        self.shared.conn.id
    }

    /// `basic.get`: the next ready message and how many are left, or `None` for an
    /// empty queue. Ignores prefetch. With `no_ack = false` the delivery takes a
    /// delivery tag like a consumer delivery.
    ///
    /// # Errors
    ///
    /// 404 (missing queue), 405 (another connection's exclusive queue).
    pub fn get(&self, queue: &str, no_ack: bool) -> Result<Option<GetOk>, BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            let queue = s.queue_name(queue)?;
            s.conn.who().check(Perm::Read, Resource::Queue, &queue)?;
            let cell = s.vhost().queue_for(conn, &queue)?;
            let Some((entry, left)) = cell.get(no_ack) else {
                return Ok(None);
            };
            // A quorum queue's get always names the delivery count (0 the first time).
            let msg = entry.delivered_message(cell.config.args.quorum);
            let redelivered = entry.redelivered;
            let Some(tag) = s.register(entry, Some(cell), None, no_ack) else {
                return Err(s.check_open().expect_err("register fails only when closed"));
            };
            Ok(Some(GetOk {
                delivery: Delivery {
                    msg,
                    tag,
                    redelivered,
                    consumer_tag: None,
                    channel: Arc::clone(s),
                },
                message_count: left.min(u64::from(u32::MAX)) as u32,
            }))
        })
    }

    /// `basic.publish`: routes a message through `exchange` into every queue it
    /// reaches (one copy per queue, in publish order per channel).
    ///
    /// Returns the confirm (in confirm mode) and, for a mandatory message that
    /// reached no queue, the message itself. A non-mandatory unroutable message is
    /// dropped (and counted). On a transactional channel the publish is checked and
    /// held: `queues` is 0, and a return comes from [`tx_commit`](Self::tx_commit).
    /// A `reply_to` of `amq.rabbitmq.reply-to` is rewritten to this channel's direct
    /// reply-to address.
    ///
    /// # Errors
    ///
    /// 404 (missing exchange), 403 (internal exchange), 406 (message over the size
    /// limit, invalid `expiration`, malformed `CC`/`BCC`, key over 255 bytes, a
    /// direct reply-to `reply_to` without its consumer), 540 (connection error:
    /// `immediate`).
    pub fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: Message,
        options: PublishOptions,
    ) -> Result<Published, BrokerError> {
        // Moved once, into the stored message (it is a few hundred bytes).
        let mut message = message;
        self.shared.run(|s| {
            if options.immediate {
                return Err(BrokerError::connection(NOT_IMPLEMENTED, "immediate=true"));
            }
            let max = s.conn.broker.max_message_size;
            if message.body.len() > max {
                return Err(BrokerError::channel(
                    PRECONDITION_FAILED,
                    format!(
                        "message size {} is larger than configured max size {max}",
                        message.body.len()
                    ),
                ));
            }
            // Cached per thread: no lock and no regex in the common case.
            s.conn.who().check_publish(exchange)?;
            s.rewrite_reply_to(&mut message)?;
            if s.in_tx() {
                // Checked now, routed at commit.
                s.vhost().check_publish(exchange, routing_key, &message)?;
                s.hold_publish(exchange, routing_key, message, options.mandatory);
                return Ok(Published {
                    seq: None,
                    ack: true,
                    queues: 0,
                    returned: None,
                    synced: None,
                });
            }
            let routed =
                s.vhost()
                    .publish(exchange, routing_key, &mut message, options.mandatory)?;
            let (ack, queues, returned, synced) = match routed {
                Routed::Queues {
                    queues,
                    refused,
                    synced,
                } => (refused == 0, queues, None, synced),
                Routed::Unroutable(r) => (true, 0, r, None),
            };
            if ack && !s.confirm.load(Relaxed) {
                return Ok(Published {
                    seq: None,
                    ack,
                    queues,
                    returned,
                    synced,
                });
            }
            let mut st = lock(&s.state);
            let seq = st.confirm.then(|| {
                st.seq += 1;
                st.seq
            });
            if !ack {
                st.nacked = true;
            }
            if let Some(p) = &synced {
                st.last_sync = Some(match st.last_sync.take() {
                    Some(q) => q.max(p.clone()),
                    None => p.clone(),
                });
            }
            Ok(Published {
                seq,
                ack,
                queues,
                returned,
                synced,
            })
        })
    }

    /// `confirm.select`: from now on every publish gets a sequence number and a
    /// confirm ([`Published::seq`], [`Published::ack`]).
    ///
    /// # Errors
    ///
    /// 406 on a transactional channel (`cannot switch from tx to confirm mode`).
    pub fn confirm_select(&self) -> Result<(), BrokerError> {
        self.shared.run(|s| {
            let mut st = lock(&s.state);
            if st.tx.is_some() {
                return Err(BrokerError::channel(
                    PRECONDITION_FAILED,
                    "cannot switch from tx to confirm mode",
                ));
            }
            st.confirm = true;
            drop(st);
            s.confirm.store(true, Relaxed);
            Ok(())
        })
    }

    /// Waits for the confirms of every publish so far (they are decided when
    /// `publish` returns; with a data directory, those of persistent messages in
    /// durable queues are sent once on disk, which this waits for) and reports
    /// whether all were acks since the last call.
    ///
    /// # Errors
    ///
    /// 406 if the channel is not in confirm mode.
    pub fn wait_for_confirms(&self) -> Result<bool, BrokerError> {
        self.shared.check_open()?;
        let mut st = lock(&self.shared.state);
        if !st.confirm {
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                "channel is not in confirm mode",
            ));
        }
        let sync = st.last_sync.take();
        let all_acked = !std::mem::take(&mut st.nacked);
        drop(st);
        if let Some(p) = sync {
            p.wait();
        }
        Ok(all_acked)
    }
}
