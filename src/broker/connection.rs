//! Connections: channels, exclusive queues, identity.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use super::access::Who;
use super::channel::{Channel, ChannelShared};
use super::error::{BrokerError, CHANNEL_ERROR};
use super::sync::lock;
use super::vhost::VhostInner;
use super::{BrokerInner, ConnectOptions};

#[derive(Debug, Default)]
struct ConnState {
    channels: BTreeMap<u32, Weak<ChannelShared>>,
    next_channel: u32,
    closed: Option<BrokerError>,
    /// Names of the exclusive queues this connection declared.
    exclusive: Vec<String>,
}

/// A connection's shared state.
pub(crate) struct ConnShared {
    pub(crate) id: u64,
    pub(crate) broker: Arc<BrokerInner>,
    pub(crate) vhost: Arc<VhostInner>,
    pub(crate) user: String,
    pub(crate) peer: Option<SocketAddr>,
    /// What it was opened with, for introspection (`vhost` and `user` are the fields
    /// above; here they are empty).
    pub(crate) details: ConnectOptions,
    pub(crate) connected_at: SystemTime,
    /// Whether permissions apply to it (false for the broker's own connections).
    checked: bool,
    state: Mutex<ConnState>,
    closed: AtomicBool,
    /// Left out of introspection (the management API's own connections).
    pub(crate) unlisted: bool,
}

impl fmt::Debug for ConnShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("vhost", &self.vhost.name)
            .field("user", &self.user)
            .field("peer", &self.peer)
            .finish()
    }
}

impl ConnShared {
    pub(crate) fn new(
        id: u64,
        broker: Arc<BrokerInner>,
        vhost: Arc<VhostInner>,
        mut details: ConnectOptions,
        checked: bool,
        unlisted: bool,
    ) -> Arc<ConnShared> {
        let user = std::mem::take(&mut details.user);
        details.vhost = String::new();
        Arc::new(ConnShared {
            id,
            broker,
            vhost,
            user,
            peer: details.peer,
            details,
            connected_at: SystemTime::now(),
            checked,
            state: Mutex::new(ConnState {
                next_channel: 1,
                ..ConnState::default()
            }),
            closed: AtomicBool::new(false),
            unlisted,
        })
    }

    /// Whom its operations are checked for.
    pub(crate) fn who(&self) -> Who<'_> {
        Who {
            access: self.checked.then_some(&self.broker.access),
            user: &self.user,
            vhost: &self.vhost.name,
            conn: self.id,
        }
    }

    pub(crate) fn own_queue(&self, name: &str) {
        let mut st = lock(&self.state);
        if !st.exclusive.iter().any(|q| q == name) {
            st.exclusive.push(name.into());
        }
    }

    pub(crate) fn forget_channel(&self, id: u32) {
        lock(&self.state).channels.remove(&id);
    }

    /// Closes the connection: every channel (requeue, cancel), then its exclusive
    /// queues (which may auto-delete exchanges).
    pub(crate) fn close_with(&self, cause: BrokerError) {
        let channels = {
            let mut st = lock(&self.state);
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(cause.clone());
            self.closed.store(true, Relaxed);
            std::mem::take(&mut st.channels)
        };
        for ch in channels.values().filter_map(Weak::upgrade) {
            ch.close_with(cause.clone());
        }
        self.vhost.delete_exclusive(self.id);
        self.broker.forget_connection(self.id);
    }

    pub(crate) fn channel_count(&self) -> usize {
        lock(&self.state).channels.len()
    }

    pub(crate) fn channels(&self) -> Vec<Arc<ChannelShared>> {
        lock(&self.state)
            .channels
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }
}

/// A client connection to a [`Broker`](super::Broker)'s virtual host.
///
/// It owns the exclusive queues it declares. Dropping it (or [`close`](Self::close))
/// closes every channel (unacked messages are requeued, consumers cancelled) and
/// deletes its exclusive queues, as a TCP connection closing does in RabbitMQ.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::{Broker, QueueDeclare};
///
/// let broker = Broker::new();
/// let a = broker.connect_default();
/// let b = broker.connect_default();
/// let ch_a = a.open_channel().unwrap();
/// ch_a.queue_declare("mine", &QueueDeclare::exclusive()).unwrap();
/// let ch_b = b.open_channel().unwrap();
/// let err = ch_b.queue_declare("mine", &QueueDeclare::passive()).unwrap_err();
/// assert_eq!(err.reply_code(), 405);
/// drop(a); // closes the connection: its exclusive queue goes
/// let ch_b = b.open_channel().unwrap();
/// assert_eq!(ch_b.queue_declare("mine", &QueueDeclare::passive()).unwrap_err().reply_code(), 404);
/// ```
pub struct Connection {
    pub(crate) shared: Arc<ConnShared>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

impl Connection {
    /// The connection's id, unique within its broker.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The virtual host it is connected to.
    pub fn vhost(&self) -> &str {
        &self.shared.vhost.name
    }

    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        !self.shared.is_closed()
    }

    /// Why it closed, once it has (a connection error of one of its channels, or a
    /// close).
    pub fn close_reason(&self) -> Option<BrokerError> {
        lock(&self.shared.state).closed.clone()
    }

    /// Opens a channel.
    ///
    /// # Errors
    ///
    /// The connection is closed (the error repeats why).
    pub fn open_channel(&self) -> Result<Channel, BrokerError> {
        let mut st = lock(&self.shared.state);
        if let Some(cause) = &st.closed {
            return Err(cause.as_closed());
        }
        let id = st.next_channel;
        st.next_channel = st
            .next_channel
            .checked_add(1)
            .ok_or_else(|| BrokerError::channel(CHANNEL_ERROR, "channel numbers exhausted"))?;
        let ch = ChannelShared::new(id, Arc::clone(&self.shared));
        st.channels.insert(id, Arc::downgrade(&ch));
        Ok(Channel { shared: ch })
    }

    /// Closes the connection (see the type's docs). Closing twice is fine.
    pub fn close(&self) {
        self.shared
            .close_with(BrokerError::connection(200, "closed by the application"));
    }

    /// Closes the connection with a reason (e.g. 320 CONNECTION_FORCED at shutdown);
    /// channels and later calls report it.
    pub fn close_with(&self, reply_code: u16, text: &str) {
        self.shared
            .close_with(BrokerError::connection(reply_code, text));
    }
}
