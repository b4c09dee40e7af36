//! An in-process AMQP 0-9-1 broker with RabbitMQ's semantics, on top of
//! [`RoutingTable`](crate::RoutingTable).
//!
//! # Overview
//!
//! - [`Broker`]: cheap to clone, `Send + Sync`; holds virtual hosts (`/` by default).
//! - [`Connection`]: a client's session in one vhost; owns its exclusive queues.
//! - [`Channel`]: declares, binds, publishes, consumes and settles; delivery tags,
//!   prefetch and confirms are per channel.
//! - [`Consumer`]: a subscription; blocking, non-blocking or async
//!   ([`futures_core::Stream`], no runtime needed) receive.
//! - [`Delivery`]: a received message, acked, nacked or rejected.
//!
//! - [`Permissions`], [`UserRecord`]: RabbitMQ's per-user vhost permissions and the
//!   user store, checked once [`Broker::set_access_control`] turns them on.
//!
//! Inside, data flows one way: connection -> channel (with the [`Consumer`] and
//! [`Delivery`] handles) -> vhost (topology and routing) -> queue -> consumer buffer,
//! with the store (`data_dir`) below the queue. A queue reaches its vhost only through
//! the small interface the vhost implements, and the buffer never sees the channel;
//! `tests/layers.rs` checks the sources for upward references.
//!
//! Queues are classic RabbitMQ queues: FIFO with requeue to the original position,
//! per-queue and per-message TTL, queue expiry, length limits with the three overflow
//! modes, dead-lettering with `x-death`, priorities, single active consumer, consumer
//! priorities and exclusive consumers. Quorum queues (`x-queue-type: quorum`) declare
//! with RabbitMQ 3.10.8's rules, put returned messages at the back and count
//! deliveries (`x-delivery-count`, `x-delivery-limit`). Channels also run
//! transactions ([`Channel::tx_select`]) and direct reply-to (consume
//! `amq.rabbitmq.reply-to`). `shared/CONFORMANCE.md` lists the behaviours row by
//! row; the tests are named after its rows.
//!
//! # Permissions
//!
//! A broker checks nothing by default ([`AccessControl::Unrestricted`]). With
//! [`AccessControl::Enforced`] (the wire server turns it on), a connection opens a
//! vhost only if its user ([`ConnectOptions::user`]) has permissions there, and every
//! declare, delete, bind, publish, consume, get and purge checks RabbitMQ's configure,
//! write or read regex, in RabbitMQ 3.10.8's order and with its texts (the table is on
//! [`Broker::set_permissions`]). Users and permissions round-trip through
//! definitions.
//!
//! # Transactions
//!
//! After [`Channel::tx_select`], publishes, acks, nacks and rejects on that channel are
//! held and take effect at [`Channel::tx_commit`], in order (a publish is checked when
//! it is made: the same errors, at the same time, as without a transaction);
//! [`Channel::tx_rollback`] drops the held publishes and leaves the held deliveries
//! unacked; a channel that closes drops its held work (its deliveries are requeued).
//! Held bodies count toward [`Broker::memory_used`].
//!
//! # Example: a work queue
//!
//! ```
//! use trackswitch::broker::{Broker, ConsumeOptions, Message, PublishOptions, QueueDeclare};
//!
//! let broker = Broker::new();
//! let conn = broker.connect_default();
//! let ch = conn.open_channel().unwrap();
//! ch.queue_declare("tasks", &QueueDeclare::default()).unwrap();
//! for i in 0..3 {
//!     ch.publish("", "tasks", Message::new(format!("task {i}")), PublishOptions::default())
//!         .unwrap();
//! }
//!
//! let worker = conn.open_channel().unwrap();
//! worker.qos(0, 1, false).unwrap(); // one unacked message at a time
//! let consumer = worker.consume("tasks", &ConsumeOptions::default()).unwrap();
//! let first = consumer.recv().unwrap();
//! assert_eq!(first.body(), b"task 0");
//! // Prefetch 1: nothing more until the first is acked.
//! assert!(consumer.try_recv().is_err());
//! first.ack().unwrap();
//! assert_eq!(consumer.recv().unwrap().body(), b"task 1");
//! ```
//!
//! # Delivery semantics
//!
//! - A publish reaches each queue at most once and enters queues in publish order
//!   per channel; when `publish` returns, the message is enqueued (routing is
//!   synchronous), so confirms are decided by then.
//! - Unroutable messages are dropped and counted, or returned when mandatory.
//! - A requeued message (nack, reject, recover, channel or connection close) goes back
//!   to its original position (the back, in a quorum queue) and is redelivered with
//!   `redelivered = true`.
//! - A consumer never holds more than its prefetch (and at most [`BUFFER_CAP`])
//!   undelivered messages: the rest waits in the queue for other consumers.
//!
//! # Concurrency
//!
//! Publishing takes the vhost's topology lock for reading only and each queue's own
//! lock in turn, so publishers on many threads do not serialise on one lock; locks
//! are always taken in one order (topology, queue, consumer buffer; channel state and
//! the user store are leaves), so no sequence of operations deadlocks. A publish under
//! access control finds its grant in a per-thread cache: no lock, no regex.
//!
//! # Time
//!
//! TTLs and queue expiry run on a timer thread that sleeps until the next deadline
//! (an idle broker uses no CPU). Tests use a [`ManualClock`]: time moves only when
//! told, and expiries run before [`ManualClock::advance`] returns.

mod access;
mod args;
mod channel;
mod clock;
mod connection;
mod consumer;
mod deadletter;
mod definitions;
mod durable;

mod error;
mod info;
mod message;
mod options;
mod queue;
mod store;
mod sync;
mod vhost;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock, Weak};

#[cfg(feature = "server")]
pub(crate) use access::check_regex;
pub use access::{AccessControl, Permissions, PermissionsError, UserRecord};
pub use args::Overflow;
pub use channel::{Channel, Consumer, Delivery};
pub use clock::ManualClock;
pub use connection::Connection;
pub use consumer::{BUFFER_CAP, CancelReason, RecvError, RecvTimeoutError, TryRecvError};

pub use definitions::{DefinitionsError, ImportReport};
#[cfg(feature = "management")]
pub(crate) use definitions::{table_from_json, table_to_json};
pub use error::{BrokerError, Scope};
pub use info::{
    BindingInfo, ChannelInfo, ConnectionInfo, ConsumerInfo, ExchangeInfo, QueueInfo, VhostInfo,
};
pub use message::{Message, Properties};
pub use options::{
    ConsumeOptions, ExchangeDeclare, GetOk, PublishOptions, Published, QueueDeclare,
    QueueDeclareOk, Returned,
};
pub use store::{Recovery, StoreError, StoreInfo, SyncPoint};

use crate::{FieldTable, TableOptions};
use access::Access;
use clock::{ClockSource, Timer};
use connection::ConnShared;
use error::NOT_ALLOWED;
use sync::{lock, read, write};
use vhost::VhostInner;

/// The default largest message body: 128 MiB (134217728 bytes), RabbitMQ 3.10.8's
/// `max_message_size`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 128 * 1024 * 1024;

/// The default free-disk threshold: 50 MB (50,000,000 bytes), RabbitMQ 3.10.8's
/// `disk_free_limit`.
pub const DEFAULT_DISK_FREE_LIMIT: u64 = 50_000_000;

/// The broker's shared state.
pub(crate) struct BrokerInner {
    vhosts: RwLock<BTreeMap<String, Arc<VhostInner>>>,
    timer: Arc<Timer>,
    /// Body bytes held by queues (ready and unacked), all vhosts.
    memory: Arc<AtomicU64>,
    pub(crate) max_message_size: usize,
    table_options: TableOptions,
    connections: Mutex<BTreeMap<u64, Weak<ConnShared>>>,
    next_connection: AtomicU64,
    /// Users and permissions (after `vhosts` in the lock order).
    pub(crate) access: Access,
    /// The data directory, if the broker has one.
    pub(crate) store: Option<store::Store>,
    /// See [`BrokerBuilder::page_bodies_above`].
    page_above: u64,
    /// What opening the data directory found.
    recovery: Option<Recovery>,
}

impl fmt::Debug for BrokerInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("vhosts", &read(&self.vhosts).keys().collect::<Vec<_>>())
            .field("memory", &self.memory.load(Relaxed))
            .field("max_message_size", &self.max_message_size)
            .finish()
    }
}

impl Drop for BrokerInner {
    fn drop(&mut self) {
        self.timer.shutdown();
        // Everything appended is written and synced before the directory closes.
        if let Some(s) = &self.store {
            s.close();
        }
    }
}

impl BrokerInner {
    pub(crate) fn forget_connection(&self, id: u64) {
        lock(&self.connections).remove(&id);
    }
}

/// An in-process AMQP 0-9-1 broker (see the [module docs](self)).
///
/// # Examples
///
/// ```
/// use trackswitch::broker::Broker;
///
/// let broker = Broker::new();
/// assert_eq!(broker.vhosts(), vec!["/".to_string()]);
/// let conn = broker.connect_default();
/// assert_eq!(conn.vhost(), "/");
/// ```
#[derive(Clone, Debug)]
pub struct Broker {
    inner: Arc<BrokerInner>,
}

impl Default for Broker {
    fn default() -> Broker {
        Broker::new()
    }
}

/// Options of a new [`Broker`].
#[derive(Debug, Clone)]
pub struct BrokerBuilder {
    clock: Option<ManualClock>,
    max_message_size: usize,
    table_options: TableOptions,
    data_dir: Option<std::path::PathBuf>,
    disk_free_limit: u64,
    page_above: u64,
}

impl BrokerBuilder {
    /// Uses a manual clock (tests of TTL and expiry) instead of the system's.
    pub fn clock(mut self, clock: ManualClock) -> BrokerBuilder {
        self.clock = Some(clock);
        self
    }

    /// The largest message body accepted (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`], 128 MiB); larger publishes get 406.
    pub fn max_message_size(mut self, bytes: usize) -> BrokerBuilder {
        self.max_message_size = bytes;
        self
    }

    /// Options of every vhost's routing table (e.g. RabbitMQ 4.3.5's `#` limit).
    pub fn table_options(mut self, options: TableOptions) -> BrokerBuilder {
        self.table_options = options;
        self
    }

    /// Keeps what RabbitMQ keeps in this directory (created if missing): vhosts,
    /// durable exchanges and queues, bindings between durable ends, users and
    /// permissions, and persistent messages of durable queues; see
    /// [`open`](Self::open). Without it the broker keeps nothing.
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> BrokerBuilder {
        self.data_dir = Some(dir.into());
        self
    }

    /// Free disk space (bytes) under which [`Broker::disk_alarm`] is on (RabbitMQ's
    /// `disk_free_limit`, default 50 MB = 50,000,000 bytes); 0 turns the check off.
    /// Only with a data directory.
    pub fn disk_free_limit(mut self, bytes: u64) -> BrokerBuilder {
        self.disk_free_limit = bytes;
        self
    }

    /// Above this much broker memory ([`Broker::memory_used`]), a persistent
    /// message entering a durable queue keeps its body on disk only and is read back
    /// when delivered (RabbitMQ's paging, its classic queues v2). Default: never.
    /// Only with a data directory.
    pub fn page_bodies_above(mut self, bytes: u64) -> BrokerBuilder {
        self.page_above = bytes;
        self
    }

    /// Builds the broker, with the vhost `/` (or, with a data directory, what it
    /// holds; see [`open`](Self::open)).
    ///
    /// # Panics
    ///
    /// If a data directory was given and cannot be opened; [`open`](Self::open)
    /// returns that error instead.
    pub fn build(self) -> Broker {
        match self.open() {
            Ok(b) => b,
            Err(e) => panic!("cannot open the data directory: {e}"),
        }
    }

    /// Builds the broker; with a [`data_dir`](Self::data_dir), opens it first: takes
    /// its lock, reads what it holds (a damaged record is skipped and reported in
    /// [`Broker::recovery`], never fatal) and rebuilds vhosts, exchanges, queues,
    /// bindings, users, permissions and messages from it. A new directory starts
    /// with the vhost `/`.
    ///
    /// ```
    /// use trackswitch::broker::{Broker, Message, PublishOptions, QueueDeclare};
    ///
    /// let dir = std::env::temp_dir().join(format!("trackswitch-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let durable = QueueDeclare { durable: true, ..QueueDeclare::default() };
    /// {
    ///     let broker = Broker::builder().data_dir(&dir).open()?;
    ///     let conn = broker.connect_default();
    ///     let ch = conn.open_channel()?;
    ///     ch.queue_declare("jobs", &durable)?;
    ///     let mut m = Message::new("kept");
    ///     m.properties.delivery_mode = Some(2); // persistent
    ///     ch.publish("", "jobs", m, PublishOptions::default())?;
    /// } // closed: everything is written and synced
    /// let broker = Broker::builder().data_dir(&dir).open()?;
    /// assert_eq!(broker.recovery().unwrap().messages, 1);
    /// let conn = broker.connect_default();
    /// let ch = conn.open_channel()?;
    /// let got = ch.get("jobs", true)?.expect("the message survived");
    /// assert_eq!(got.delivery.body(), b"kept");
    /// # drop((ch, conn, broker));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] if another broker has the directory open,
    /// [`StoreError::Io`] if it cannot be read or written.
    pub fn open(self) -> Result<Broker, StoreError> {
        let clock = match self.clock {
            Some(m) => ClockSource::Manual(m),
            None => ClockSource::system(),
        };
        let started = std::time::Instant::now();
        let opened = match &self.data_dir {
            Some(dir) => Some(store::Store::open(dir, self.disk_free_limit)?),
            None => None,
        };
        let mut inner = BrokerInner {
            vhosts: RwLock::new(BTreeMap::new()),
            timer: Timer::new(clock),
            memory: Arc::new(AtomicU64::new(0)),
            max_message_size: self.max_message_size,
            table_options: self.table_options,
            connections: Mutex::new(BTreeMap::new()),
            next_connection: AtomicU64::new(1),
            access: Access::new(),
            store: opened.as_ref().map(|o| o.store.clone()),
            page_above: self.page_above,
            recovery: None,
        };
        let Some(opened) = opened else {
            let broker = Broker {
                inner: Arc::new(inner),
            };
            broker.add_vhost("/");
            return Ok(broker);
        };
        inner.recovery = Some(Recovery {
            dir: opened.store.dir().to_path_buf(),
            ..Recovery::default()
        });
        let broker = Broker {
            inner: Arc::new(inner),
        };
        let recovery = durable::rebuild(&broker, opened, started);
        // The report is written once, before anyone else holds the broker.
        let mut inner = broker.inner;
        if let Some(r) = Arc::get_mut(&mut inner) {
            r.recovery = Some(recovery);
        }
        Ok(Broker { inner })
    }
}

/// Who connects, to which vhost (see [`Broker::connect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The virtual host (default `/`).
    pub vhost: String,
    /// The user name: whose permissions apply (with
    /// [`AccessControl::Enforced`]) and what introspection shows. Authentication is
    /// the wire server's job.
    pub user: String,
    /// The client's address, for introspection.
    pub peer: Option<SocketAddr>,
    /// The client's connection name, for introspection.
    pub client_name: Option<String>,
    /// The server's address the client connected to, for introspection.
    pub local: Option<SocketAddr>,
    /// What the client said of itself (AMQP `client-properties`: product, version,
    /// platform, capabilities, ...), for introspection.
    pub client_properties: FieldTable,
    /// Over TLS, for introspection.
    pub tls: bool,
    /// The authentication mechanism it logged in with (`"PLAIN"`), for introspection.
    pub auth_mechanism: String,
    /// The negotiated frame size limit (0: none), for introspection.
    pub frame_max: u32,
    /// The negotiated channel limit (0: none), for introspection.
    pub channel_max: u16,
    /// The negotiated heartbeat interval in seconds (0: none), for introspection.
    pub heartbeat: u16,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            vhost: "/".into(),
            user: "guest".into(),
            peer: None,
            client_name: None,
            local: None,
            client_properties: FieldTable::new(),
            tls: false,
            auth_mechanism: String::new(),
            frame_max: 0,
            channel_max: 0,
            heartbeat: 0,
        }
    }
}

impl Broker {
    /// A broker with the vhost `/`, the system clock and default limits.
    pub fn new() -> Broker {
        Broker::builder().build()
    }

    /// A builder for other options.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder {
            clock: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            table_options: TableOptions::default(),
            data_dir: None,
            disk_free_limit: DEFAULT_DISK_FREE_LIMIT,
            page_above: u64::MAX,
        }
    }

    /// Adds a virtual host (with its default and `amq.*` exchanges); returns false if
    /// it existed.
    pub fn add_vhost(&self, name: &str) -> bool {
        let mut v = write(&self.inner.vhosts);
        if v.contains_key(name) {
            return false;
        }
        let vhost = VhostInner::new(
            name,
            self.inner.table_options.clone(),
            Arc::clone(&self.inner.timer),
            Arc::clone(&self.inner.memory),
            self.inner.store.as_ref().map(|s| vhost::VhostStore {
                store: s.clone(),
                page_above: self.inner.page_above,
            }),
        );
        v.insert(name.into(), vhost);
        if let Some(s) = &self.inner.store {
            let _ = s.record(store::defs::Op::Vhost(name.into()));
        }
        true
    }

    /// Deletes a virtual host: closes its connections (320), drops its queues and
    /// every user's permissions there. Returns false if it did not exist.
    pub fn delete_vhost(&self, name: &str) -> bool {
        let vhost = {
            let mut vhosts = write(&self.inner.vhosts);
            let Some(vhost) = vhosts.remove(name) else {
                return false;
            };
            // Under the map's lock: a concurrent set_permissions sees the vhost or
            // none of its grants survive.
            self.inner.access.clear_vhost(name);
            if let Some(s) = &self.inner.store {
                let _ = s.record(store::defs::Op::VhostDel(name.into()));
            }
            vhost
        };
        for c in self.live_connections() {
            if Arc::ptr_eq(&c.vhost, &vhost) {
                c.close_with(BrokerError::connection(
                    error::CONNECTION_FORCED,
                    format!("vhost '{name}' is deleted"),
                ));
            }
        }
        let cells: Vec<_> = vhost.topo.load().queues.iter().flatten().cloned().collect();
        for q in cells {
            vhost.delete_queue_cell(&q);
        }
        true
    }

    /// Closes the connection of that id (as [`ConnectionInfo::id`] lists it) with a
    /// connection error, e.g. 320 CONNECTION_FORCED from an operator: its channels and
    /// later calls report it, and a wire connection sends the client `connection.close`
    /// with it (`reply_text` is the code's name and `text`: `CONNECTION_FORCED -
    /// maintenance`). Returns false if no such connection is open.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::broker::Broker;
    ///
    /// let broker = Broker::new();
    /// let conn = broker.connect_default();
    /// assert!(broker.close_connection(conn.id(), 320, "maintenance"));
    /// let reason = conn.close_reason().unwrap();
    /// assert_eq!(reason.reply_text(), "CONNECTION_FORCED - maintenance");
    /// assert!(!broker.close_connection(conn.id(), 320, "again"));
    /// ```
    pub fn close_connection(&self, id: u64, reply_code: u16, text: &str) -> bool {
        match self.listed_connections().into_iter().find(|c| c.id == id) {
            Some(c) if !c.is_closed() => {
                c.close_with(BrokerError::connection(reply_code, text));
                true
            }
            _ => false,
        }
    }

    /// The names of the virtual hosts, sorted.
    pub fn vhosts(&self) -> Vec<String> {
        read(&self.inner.vhosts).keys().cloned().collect()
    }

    pub(crate) fn vhost(&self, name: &str) -> Option<Arc<VhostInner>> {
        read(&self.inner.vhosts).get(name).cloned()
    }

    /// Opens a connection.
    ///
    /// # Errors
    ///
    /// 530 NOT_ALLOWED (connection error) for an unknown vhost (`vhost x not found`)
    /// and, with [`AccessControl::Enforced`], for a user without permissions in the
    /// vhost (`access to vhost 'x' refused for user 'u'`), RabbitMQ's texts in its
    /// order.
    pub fn connect(&self, options: ConnectOptions) -> Result<Connection, BrokerError> {
        self.open_connection(options, true, false)
    }

    /// Opens a connection that permissions apply to but introspection does not list
    /// (the management API's, which acts for its user).
    #[cfg(feature = "management")]
    pub(crate) fn connect_unlisted(
        &self,
        options: ConnectOptions,
    ) -> Result<Connection, BrokerError> {
        self.open_connection(options, true, true)
    }

    /// Opens a connection that permissions do not apply to (the broker's own, e.g. a
    /// definitions import's).
    pub(crate) fn connect_unchecked(
        &self,
        options: ConnectOptions,
    ) -> Result<Connection, BrokerError> {
        self.open_connection(options, false, false)
    }

    fn open_connection(
        &self,
        options: ConnectOptions,
        checked: bool,
        unlisted: bool,
    ) -> Result<Connection, BrokerError> {
        let vhost = self.vhost(&options.vhost).ok_or_else(|| {
            BrokerError::connection(NOT_ALLOWED, format!("vhost {} not found", options.vhost))
        })?;
        if checked && !self.inner.access.may_open(&options.user, &options.vhost) {
            return Err(BrokerError::connection(
                NOT_ALLOWED,
                format!(
                    "access to vhost '{}' refused for user '{}'",
                    options.vhost, options.user
                ),
            ));
        }
        let id = self.inner.next_connection.fetch_add(1, Relaxed);
        let shared = ConnShared::new(
            id,
            Arc::clone(&self.inner),
            vhost,
            options,
            checked,
            unlisted,
        );
        lock(&self.inner.connections).insert(id, Arc::downgrade(&shared));
        Ok(Connection { shared })
    }

    /// Opens a connection to `/` as `guest`.
    ///
    /// # Panics
    ///
    /// If that is refused: the vhost `/` was deleted, or with
    /// [`AccessControl::Enforced`] `guest` has no permissions on `/`.
    pub fn connect_default(&self) -> Connection {
        self.connect(ConnectOptions::default())
            .expect("the vhost / exists and guest may open it")
    }

    /// The largest message body this broker accepts (see
    /// [`BrokerBuilder::max_message_size`]).
    pub fn max_message_size(&self) -> usize {
        self.inner.max_message_size
    }

    /// Bytes the broker's messages hold: each message once, however many queues hold
    /// it (its body, properties and headers, its names, its own allocation), plus the
    /// bookkeeping of each queue entry (ready and unacked), plus uncommitted
    /// transactions' publishes, plus records for the data directory not yet written
    /// (a disk slower than the publishers shows here). What a memory watermark
    /// compares; the server adds the bodies of unfinished publishes.
    ///
    /// ```
    /// use trackswitch::broker::{Broker, Message, PublishOptions, QueueDeclare};
    ///
    /// let broker = Broker::new();
    /// let conn = broker.connect_default();
    /// let ch = conn.open_channel()?;
    /// ch.queue_declare("q", &QueueDeclare::default())?;
    /// ch.publish("", "q", Message::new(vec![0u8; 1000]), PublishOptions::default())?;
    /// let used = broker.memory_used();
    /// assert!(used > 1000, "the body and then some");
    /// ch.queue_purge("q")?;
    /// assert_eq!(broker.memory_used(), 0);
    /// # Ok::<(), trackswitch::broker::BrokerError>(())
    /// ```
    pub fn memory_used(&self) -> u64 {
        self.inner.memory.load(Relaxed)
            + self
                .inner
                .store
                .as_ref()
                .map_or(0, store::Store::pending_bytes)
    }

    /// The open connections introspection lists.
    fn listed_connections(&self) -> Vec<Arc<ConnShared>> {
        let mut all = self.live_connections();
        all.retain(|c| !c.unlisted);
        all
    }

    fn live_connections(&self) -> Vec<Arc<ConnShared>> {
        lock(&self.inner.connections)
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }
}
