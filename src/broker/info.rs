//! Introspection: what a management view shows, read without stopping traffic
//! (each list takes the locks it reads one at a time, briefly).
//!
//! With the `serde` feature (which `broker` enables) every info type is a map of its
//! fields by name, as the structs spell them: kinds as RabbitMQ's names (`"topic"`),
//! overflow as its argument value (`"reject-publish"`), arguments as a
//! [`FieldTable`] (typed values), addresses as `"127.0.0.1:5672"` and times as serde's
//! `{"secs_since_epoch", "nanos_since_epoch"}`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use super::error::{BrokerError, NOT_FOUND};
use super::sync::lock;
use super::{Broker, Overflow};
use crate::{Destination, ExchangeKind, FieldTable};

/// A virtual host's counters, as [`Broker::vhost_info`] reports them.
///
/// With the `serde` feature, a map of its fields by name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VhostInfo {
    /// Its name.
    pub name: String,
    /// Exchanges, the default and `amq.*` ones included.
    pub exchanges: usize,
    /// Queues.
    pub queues: usize,
    /// Bindings.
    pub bindings: usize,
    /// Messages published to it (accepted by routing, routable or not).
    pub published: u64,
    /// Published messages that reached no queue (dropped, or returned if mandatory).
    pub unroutable: u64,
    /// Unroutable mandatory messages returned to their publisher.
    pub returned: u64,
    /// Dead letters enqueued (one per queue reached).
    pub dead_lettered: u64,
}

/// A connection, as [`Broker::connections`] lists it.
///
/// With the `serde` feature, a map of its fields by name; `peer` as `"127.0.0.1:5672"`,
/// `connected_at` as serde's `{"secs_since_epoch", "nanos_since_epoch"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnectionInfo {
    /// Its id.
    pub id: u64,
    /// Its vhost.
    pub vhost: String,
    /// The user it connected as.
    pub user: String,
    /// The client's address, if known.
    pub peer: Option<SocketAddr>,
    /// The client's connection name, if given.
    pub client_name: Option<String>,
    /// Open channels.
    pub channels: usize,
    /// When it connected.
    pub connected_at: SystemTime,
    /// The server's address it connected to, if known.
    pub local: Option<SocketAddr>,
    /// The client's properties (product, version, platform, capabilities, ...).
    pub client_properties: FieldTable,
    /// Over TLS.
    pub tls: bool,
    /// The authentication mechanism it logged in with (`"PLAIN"`; empty if none).
    pub auth_mechanism: String,
    /// The negotiated frame size limit (0: none).
    pub frame_max: u32,
    /// The negotiated channel limit (0: none).
    pub channel_max: u16,
    /// The negotiated heartbeat interval in seconds (0: none).
    pub heartbeat: u16,
}

/// A channel, as [`Broker::channels`] lists it.
///
/// With the `serde` feature, a map of its fields by name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChannelInfo {
    /// Its connection's id.
    pub connection: u64,
    /// Its number within the connection.
    pub id: u32,
    /// Per-consumer prefetch for new consumers (0 = unlimited).
    pub prefetch_count: u16,
    /// Channel-wide prefetch (`global = true`; 0 = none).
    pub global_prefetch_count: u32,
    /// Unacknowledged deliveries.
    pub unacked: usize,
    /// Consumers.
    pub consumers: usize,
    /// In confirm mode.
    pub confirm: bool,
    /// In transaction mode (`tx.select`).
    pub transactional: bool,
}

/// An exchange, as [`Broker::exchanges`] lists it.
///
/// With the `serde` feature, a map of its fields by name; `kind` as RabbitMQ's name
/// (`"topic"`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExchangeInfo {
    /// Its name (`""` for the default exchange).
    pub name: String,
    /// Its kind.
    pub kind: ExchangeKind,
    /// Durable flag (recorded only).
    pub durable: bool,
    /// Auto-delete flag.
    pub auto_delete: bool,
    /// Internal flag.
    pub internal: bool,
    /// Its `alternate-exchange`, if any.
    pub alternate_exchange: Option<String>,
}

/// A queue, as [`Broker::queues`] lists it.
///
/// With the `serde` feature, a map of its fields by name; `arguments` as a
/// [`FieldTable`] (typed values), `overflow` as its argument value (`"drop-head"`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueueInfo {
    /// Its name.
    pub name: String,
    /// Durable flag (recorded only).
    pub durable: bool,
    /// Auto-delete flag.
    pub auto_delete: bool,
    /// Owned by a connection.
    pub exclusive: bool,
    /// The arguments it was declared with.
    pub arguments: FieldTable,
    /// What it does when full.
    pub overflow: Overflow,
    /// Ready messages.
    pub ready: u64,
    /// Body bytes of ready messages.
    pub ready_bytes: u64,
    /// Delivered, not yet settled.
    pub unacked: u64,
    /// Consumers.
    pub consumers: usize,
    /// Messages enqueued since it was declared.
    pub published: u64,
    /// Deliveries (consumers and `get`), redeliveries included.
    pub delivered: u64,
    /// Acknowledged deliveries.
    pub acked: u64,
    /// Redeliveries.
    pub redelivered: u64,
    /// Messages that left without a delivery (expired, overflow, rejected, refused).
    pub dropped: u64,
}

/// A binding, as [`Broker::bindings`] lists it.
///
/// With the `serde` feature, a map of its fields by name; `arguments` as a
/// [`FieldTable`] (typed values).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BindingInfo {
    /// The source exchange.
    pub source: String,
    /// The destination's name.
    pub destination: String,
    /// Whether the destination is an exchange (else a queue).
    pub destination_is_exchange: bool,
    /// The binding key.
    pub routing_key: String,
    /// The binding's arguments.
    pub arguments: FieldTable,
}

/// A consumer, as [`Broker::consumers`] lists it.
///
/// With the `serde` feature, a map of its fields by name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConsumerInfo {
    /// Its queue.
    pub queue: String,
    /// Its tag.
    pub tag: String,
    /// Its connection's id.
    pub connection: u64,
    /// Its channel's number.
    pub channel: u32,
    /// No-ack consumer.
    pub no_ack: bool,
    /// Exclusive consumer.
    pub exclusive: bool,
    /// Its prefetch (0 = unlimited).
    pub prefetch_count: u32,
    /// Its `x-priority`.
    pub priority: i32,
    /// Manual-ack deliveries it holds, buffered or handed out.
    pub unacked: u32,
    /// Messages in its buffer, not handed out yet.
    pub buffered: u32,
}

fn no_vhost(name: &str) -> BrokerError {
    BrokerError::channel(NOT_FOUND, format!("no vhost '{name}'"))
}

impl Broker {
    /// A virtual host's sizes and counters.
    ///
    /// # Errors
    ///
    /// 404 for an unknown vhost.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::broker::{Broker, Message, PublishOptions};
    ///
    /// let broker = Broker::new();
    /// let conn = broker.connect_default();
    /// let ch = conn.open_channel().unwrap();
    /// let _ = ch.publish("amq.topic", "nobody.listens", Message::new("x"), PublishOptions::default());
    /// let v = broker.vhost_info("/").unwrap();
    /// assert_eq!((v.published, v.unroutable, v.returned), (1, 1, 0));
    /// ```
    pub fn vhost_info(&self, vhost: &str) -> Result<VhostInfo, BrokerError> {
        let v = self.vhost(vhost).ok_or_else(|| no_vhost(vhost))?;
        let (exchanges, queues, bindings) = {
            let t = v.topo.load();
            (
                t.table.exchange_count(),
                // Direct reply-to pseudo-queues are not queues to clients.
                t.queues
                    .iter()
                    .flatten()
                    .filter(|q| !q.config.reply_to)
                    .count(),
                t.table.binding_count(),
            )
        };
        Ok(VhostInfo {
            name: v.name.clone(),
            exchanges,
            queues,
            bindings,
            published: v.stats.published.load(Relaxed),
            unroutable: v.stats.unroutable.load(Relaxed),
            returned: v.stats.returned.load(Relaxed),
            dead_lettered: v.stats.dead_lettered.load(Relaxed),
        })
    }

    /// Open connections, by id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.listed_connections()
            .into_iter()
            .map(|c| ConnectionInfo {
                id: c.id,
                vhost: c.vhost.name.clone(),
                user: c.user.clone(),
                peer: c.peer,
                client_name: c.details.client_name.clone(),
                channels: c.channel_count(),
                connected_at: c.connected_at,
                local: c.details.local,
                client_properties: c.details.client_properties.clone(),
                tls: c.details.tls,
                auth_mechanism: c.details.auth_mechanism.clone(),
                frame_max: c.details.frame_max,
                channel_max: c.details.channel_max,
                heartbeat: c.details.heartbeat,
            })
            .collect()
    }

    /// Open channels of every connection.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        let mut out = Vec::new();
        for c in self.listed_connections() {
            for ch in c.channels() {
                let (prefetch, global, unacked, consumers, confirm) = ch.info();
                out.push(ChannelInfo {
                    connection: c.id,
                    id: ch.id,
                    prefetch_count: prefetch,
                    global_prefetch_count: global,
                    unacked,
                    consumers: consumers.len(),
                    confirm,
                    transactional: ch.in_tx(),
                });
            }
        }
        out
    }

    /// Consumers of every channel.
    pub fn consumers(&self) -> Vec<ConsumerInfo> {
        let mut out = Vec::new();
        for c in self.listed_connections() {
            for ch in c.channels() {
                for (con, queue) in ch.info().3 {
                    out.push(ConsumerInfo {
                        queue: queue.to_string(),
                        tag: con.tag.to_string(),
                        connection: c.id,
                        channel: ch.id,
                        no_ack: con.no_ack,
                        exclusive: con.exclusive,
                        prefetch_count: con.prefetch,
                        priority: con.priority,
                        unacked: con.in_flight.load(Relaxed),
                        buffered: con.buffered(),
                    });
                }
            }
        }
        out
    }

    /// The exchanges of a vhost.
    ///
    /// # Errors
    ///
    /// 404 for an unknown vhost.
    pub fn exchanges(&self, vhost: &str) -> Result<Vec<ExchangeInfo>, BrokerError> {
        let v = self.vhost(vhost).ok_or_else(|| no_vhost(vhost))?;
        let t = v.topo.load();
        Ok(t.table
            .exchanges()
            .map(|x| ExchangeInfo {
                name: x.name.into(),
                kind: x.kind,
                durable: x.options.durable,
                auto_delete: x.options.auto_delete,
                internal: x.options.internal,
                alternate_exchange: x.options.alternate_exchange.clone(),
            })
            .collect())
    }

    /// The queues of a vhost, with their counters.
    ///
    /// # Errors
    ///
    /// 404 for an unknown vhost.
    pub fn queues(&self, vhost: &str) -> Result<Vec<QueueInfo>, BrokerError> {
        let v = self.vhost(vhost).ok_or_else(|| no_vhost(vhost))?;
        let cells: Vec<_> = v
            .topo
            .load()
            .queues
            .iter()
            .flatten()
            .filter(|q| !q.config.reply_to)
            .cloned()
            .collect();
        Ok(cells
            .iter()
            .map(|q| {
                let st = lock(&q.state);
                QueueInfo {
                    name: q.name.to_string(),
                    durable: q.config.durable,
                    auto_delete: q.config.auto_delete,
                    exclusive: q.config.owner.is_some(),
                    arguments: q.config.arguments.clone(),
                    overflow: q.config.args.overflow,
                    ready: st.ready_count,
                    ready_bytes: st.ready_bytes,
                    unacked: st.unacked,
                    consumers: st.consumers.len(),
                    published: q.stats.published.load(Relaxed),
                    delivered: q.stats.delivered.load(Relaxed),
                    acked: q.stats.acked.load(Relaxed),
                    redelivered: q.stats.redelivered.load(Relaxed),
                    dropped: q.stats.dropped.load(Relaxed),
                }
            })
            .collect())
    }

    /// The bindings of a vhost.
    ///
    /// # Errors
    ///
    /// 404 for an unknown vhost.
    pub fn bindings(&self, vhost: &str) -> Result<Vec<BindingInfo>, BrokerError> {
        let v = self.vhost(vhost).ok_or_else(|| no_vhost(vhost))?;
        let t = v.topo.load();
        Ok(t.table
            .bindings()
            .map(|b| {
                let (destination, destination_is_exchange) = match b.destination {
                    Destination::Queue(q) => (q.to_string(), false),
                    Destination::Exchange(x) => (x.to_string(), true),
                };
                BindingInfo {
                    source: b.source.into(),
                    destination,
                    destination_is_exchange,
                    routing_key: String::from_utf8_lossy(b.key).into_owned(),
                    arguments: b.arguments.clone(),
                }
            })
            .collect())
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::FieldValue;

    fn round_trip<T>(value: &T) -> String
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
        json
    }

    #[test]
    fn info_types_round_trip_through_json() {
        let mut arguments = FieldTable::new();
        arguments.insert("x-max-length", FieldValue::LongLongInt(10));
        round_trip(&VhostInfo {
            name: "/".into(),
            exchanges: 7,
            queues: 1,
            bindings: 2,
            published: 3,
            unroutable: 1,
            returned: 0,
            dead_lettered: 0,
        });
        let json = round_trip(&ConnectionInfo {
            id: 1,
            vhost: "/".into(),
            user: "guest".into(),
            peer: Some("127.0.0.1:5672".parse().unwrap()),
            client_name: None,
            channels: 1,
            connected_at: UNIX_EPOCH + Duration::new(1_700_000_000, 5),
            local: Some("127.0.0.1:5672".parse().unwrap()),
            client_properties: FieldTable::new(),
            tls: false,
            auth_mechanism: "PLAIN".into(),
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
        });
        assert!(json.contains(r#""peer":"127.0.0.1:5672""#), "{json}");
        assert!(
            json.contains(
                r#""connected_at":{"secs_since_epoch":1700000000,"nanos_since_epoch":5}"#
            ),
            "{json}"
        );
        round_trip(&ChannelInfo {
            connection: 1,
            id: 1,
            prefetch_count: 10,
            global_prefetch_count: 0,
            unacked: 2,
            consumers: 1,
            confirm: true,
            transactional: false,
        });
        let json = round_trip(&ExchangeInfo {
            name: "logs".into(),
            kind: ExchangeKind::Topic,
            durable: true,
            auto_delete: false,
            internal: false,
            alternate_exchange: Some("ae".into()),
        });
        assert!(json.contains(r#""kind":"topic""#), "{json}");
        let json = round_trip(&QueueInfo {
            name: "q".into(),
            durable: true,
            auto_delete: false,
            exclusive: false,
            arguments: arguments.clone(),
            overflow: Overflow::RejectPublishDlx,
            ready: 1,
            ready_bytes: 5,
            unacked: 0,
            consumers: 0,
            published: 1,
            delivered: 0,
            acked: 0,
            redelivered: 0,
            dropped: 0,
        });
        assert!(
            json.contains(r#""overflow":"reject-publish-dlx""#),
            "{json}"
        );
        assert!(json.contains(r#""arguments":{"x-max-length":{"LongLongInt":10}}"#));
        round_trip(&BindingInfo {
            source: "logs".into(),
            destination: "q".into(),
            destination_is_exchange: false,
            routing_key: "*.error".into(),
            arguments,
        });
        round_trip(&ConsumerInfo {
            queue: "q".into(),
            tag: "ctag".into(),
            connection: 1,
            channel: 1,
            no_ack: false,
            exclusive: false,
            prefetch_count: 0,
            priority: -1,
            unacked: 0,
            buffered: 0,
        });
    }

    #[test]
    fn overflow_is_its_argument_value() {
        for o in [
            Overflow::DropHead,
            Overflow::RejectPublish,
            Overflow::RejectPublishDlx,
        ] {
            assert_eq!(round_trip(&o), format!("\"{}\"", o.as_str()));
        }
    }
}
