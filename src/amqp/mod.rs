//! An AMQP 0-9-1 server for the embedded [broker](crate::broker) (feature `server`).
//!
//! Unmodified clients (pika, aiormq, lapin) talk to the broker over TCP as if it were
//! RabbitMQ 3.10.8: handshake with PLAIN or AMQPLAIN, heartbeats, channels, every method
//! of the exchange, queue, basic, confirm and tx classes, publisher confirms (coalesced
//! with `multiple`), mandatory returns, direct reply-to, consumer-cancel notifications
//! and `connection.blocked`. With the `tls` feature, listeners can speak TLS (`amqps`,
//! [`Server::listen_tls`] with a [`TlsConfig`]), optionally verifying client
//! certificates, which log in with the EXTERNAL mechanism.
//!
//! # Example
//!
//! ```no_run
//! use trackswitch::amqp::{Server, ServerConfig};
//! use trackswitch::broker::Broker;
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::bind("127.0.0.1:5672", Broker::new(), ServerConfig::default()).await?;
//! let stop = server.shutdown_handle();
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     stop.shutdown();
//! });
//! server.run().await
//! # }
//! ```
//!
//! # How it is built
//!
//! One tokio task per connection owns all of that connection's channel state (no
//! locks); a writer task per connection owns the socket's write half behind a queue
//! bounded in bytes. The connection task selects over socket reads, consumer
//! deliveries (taken from the broker only while the writer queue has room: that is the
//! backpressure toward the broker's per-consumer buffers), a heartbeat deadline, a
//! timer and shutdown.
//!
//! - `codec`: the only user of `amq-protocol`; payloads in and out.
//! - `reader`: framing: bytes in arbitrary chunks, frames out, sizes checked before
//!   anything is buffered; memory bounded by two frames.
//! - `content`: per-channel reassembly of publish + header + body frames, the
//!   message-size limit checked on the header.
//! - `connection`, `writer`: the two tasks of a connection.
//! - `tls` (feature `tls`): TLS configuration, the TLS handshake in the connection's
//!   task, and the client certificate's common name for EXTERNAL.
//!
//! # Limits
//!
//! See [`Limits`]: frame_max, channel_max, message size, connections, handshake
//! deadline, bytes queued per connection, write timeout, memory watermark. Nothing a
//! client sends makes the server panic or allocate without bound.
//!
//! # Deviations from RabbitMQ
//!
//! - `channel.flow active=false` closes the connection with 540 NOT_IMPLEMENTED, as
//!   RabbitMQ 3.10.8 does; so do `basic.recover requeue=false` and `immediate`.
//! - A publish held in a transaction is routed at `tx.commit` (RabbitMQ routes it when
//!   it is published and delivers at commit): a binding changed between the two
//!   decides differently.
//! - Above the memory watermark a connection that publishes is held whole (its
//!   consumers' acks included) until memory drops, as RabbitMQ's blocked readers.
//! - TLS listeners always offer EXTERNAL (RabbitMQ does once `auth_mechanisms` lists
//!   it and rabbitmq_auth_mechanism_ssl is enabled), and EXTERNAL's user name is the
//!   certificate's subject common name (RabbitMQ's `ssl_cert_login_from =
//!   common_name`; its default, the whole distinguished name, is not offered).

pub(crate) mod auth;
mod codec;
mod config;
mod connection;
mod content;
#[doc(hidden)]
pub mod fuzz;
mod method;
mod reader;
#[cfg(feature = "tls")]
mod tls;
mod writer;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use auth::{User, hash_password};
pub use config::{ConfigError, Limits, ServerConfig, UserPermissions};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsConfigBuilder, TlsError, TlsVerify};

use crate::broker::Broker;

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) broker: Broker,
    pub(crate) config: ServerConfig,
    /// Body bytes of half-received publishes on every connection.
    inflight: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// What the memory watermark is checked against: the broker's accounting plus
    /// unfinished publishes.
    pub(crate) fn memory_in_use(&self) -> u64 {
        self.broker.memory_used() + self.inflight.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A bound socket and, on an `amqps` listener, what it serves TLS with.
struct Listener {
    tcp: TcpListener,
    #[cfg(feature = "tls")]
    tls: Option<TlsConfig>,
}

impl Listener {
    fn plain(tcp: TcpListener) -> Listener {
        Listener {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        return false;
    }
}

/// An AMQP 0-9-1 server bound to TCP addresses, plain or TLS (see the
/// [module docs](self)).
pub struct Server {
    /// One per address the bind addresses resolved to (`localhost`: 127.0.0.1 and
    /// ::1), in the order they were bound. Invariant: not empty.
    listeners: Vec<Listener>,
    shared: Arc<Shared>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.local_addrs())
            .field("limits", &self.shared.config.limits)
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Server`]: connections get Close 320 CONNECTION_FORCED, and
/// [`Server::run`] returns once they are gone (or after a grace period).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Asks the server to stop. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

impl Server {
    /// Binds a listener on every address `addr` resolves to (`localhost:5672`: both
    /// 127.0.0.1 and ::1, as RabbitMQ) and loads the configuration into `broker`: its
    /// vhosts, its users (into the broker's user store, which logins are checked
    /// against), their permissions ([`ServerConfig::permissions`]), and turns the
    /// broker's access control on
    /// ([`AccessControl::Enforced`](crate::broker::AccessControl)).
    ///
    /// # Errors
    ///
    /// `InvalidInput` with a [`ConfigError`] for a `permissions` entry naming a user or
    /// vhost that does not exist, or with a regex that does not compile (checked
    /// before anything is bound or changed); the address resolves to nothing, or none
    /// of its addresses can be bound (the first error is returned; addresses that bind
    /// are kept).
    pub async fn bind(
        addr: impl ToSocketAddrs,
        broker: Broker,
        config: ServerConfig,
    ) -> io::Result<Server> {
        auth::check(&broker, &config)?;
        let listeners = bind_all(addr).await?;
        Ok(Server::new(
            listeners.into_iter().map(Listener::plain).collect(),
            broker,
            config,
        ))
    }

    /// Like [`Server::bind`], but every listener speaks TLS (`amqps`) with `tls`.
    /// More listeners, plain or TLS, can be added with [`Server::listen_tls`].
    ///
    /// # Errors
    ///
    /// As [`Server::bind`].
    #[cfg(feature = "tls")]
    pub async fn bind_tls(
        addr: impl ToSocketAddrs,
        tls: TlsConfig,
        broker: Broker,
        config: ServerConfig,
    ) -> io::Result<Server> {
        auth::check(&broker, &config)?;
        let listeners = bind_all(addr).await?;
        Ok(Server::new(
            listeners
                .into_iter()
                .map(|tcp| Listener {
                    tcp,
                    tls: Some(tls.clone()),
                })
                .collect(),
            broker,
            config,
        ))
    }

    /// Adds TLS (`amqps`) listeners on every address `addr` resolves to and returns
    /// their addresses (useful after binding port 0). Each accepted connection does
    /// its TLS handshake in its own task, within the handshake deadline
    /// ([`Limits::handshake_timeout`], shared with the AMQP handshake that follows),
    /// and counts toward [`Limits::max_connections`]. On TLS connections Start offers
    /// `PLAIN AMQPLAIN EXTERNAL`; EXTERNAL logs in as the configured user named by the
    /// client certificate's subject common name (see [`TlsVerify`]).
    ///
    /// # Examples
    ///
    /// See [`TlsConfig`].
    ///
    /// # Errors
    ///
    /// As [`Server::bind`].
    #[cfg(feature = "tls")]
    pub async fn listen_tls(
        &mut self,
        addr: impl ToSocketAddrs,
        tls: TlsConfig,
    ) -> io::Result<Vec<SocketAddr>> {
        let bound = bind_all(addr).await?;
        let addrs = bound.iter().filter_map(|l| l.local_addr().ok()).collect();
        self.listeners.extend(bound.into_iter().map(|tcp| Listener {
            tcp,
            tls: Some(tls.clone()),
        }));
        Ok(addrs)
    }

    /// A server on `listeners`; the configuration (checked by `auth::check`) is
    /// loaded into the broker: vhosts, users, permissions.
    fn new(listeners: Vec<Listener>, broker: Broker, config: ServerConfig) -> Server {
        auth::load(&broker, &config);
        let (tx, _) = watch::channel(false);
        Server {
            listeners,
            shared: Arc::new(Shared {
                broker,
                config,
                inflight: Default::default(),
            }),
            shutdown: Arc::new(tx),
        }
    }

    /// The first bound address (useful after binding port 0).
    ///
    /// # Errors
    ///
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners[0].tcp.local_addr()
    }

    /// Every bound address, plain and TLS.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.tcp.local_addr().ok())
            .collect()
    }

    /// The broker behind the server.
    pub fn broker(&self) -> &Broker {
        &self.shared.broker
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.shutdown))
    }

    /// What every connection shares, for the management listener.
    #[cfg(feature = "management")]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Whether [`ShutdownHandle::shutdown`] was called, for the management listener.
    #[cfg(feature = "management")]
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Accepts and serves connections until [`ShutdownHandle::shutdown`].
    ///
    /// # Errors
    ///
    /// None at present: accept errors (e.g. out of file descriptors) are logged and
    /// retried after a pause.
    pub async fn run(self) -> io::Result<()> {
        let limits = self.shared.config.limits.clone();
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut tasks = JoinSet::new();
        let mut stop = self.shutdown.subscribe();
        for l in &self.listeners {
            if let Ok(addr) = l.tcp.local_addr() {
                if l.is_tls() {
                    tracing::info!(%addr, tls = true, "listening");
                } else {
                    tracing::info!(%addr, "listening");
                }
            }
        }
        loop {
            tokio::select! {
                () = async { let _ = stop.wait_for(|&s| s).await; } => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = accept_any(&self.listeners) => match accepted {
                    Ok((stream, peer, index)) => {
                        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                            tracing::warn!(%peer, max = limits.max_connections, "connection limit reached; refusing");
                            drop(stream);
                            continue;
                        };
                        let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
                        let shared = Arc::clone(&self.shared);
                        let rx = self.shutdown.subscribe();
                        let _ = stream.set_nodelay(true);
                        #[cfg(feature = "tls")]
                        if let Some(tls) = &self.listeners[index].tls {
                            // The TLS handshake runs in the connection's task, not here.
                            let tls = tls.clone();
                            tasks.spawn(async move {
                                tls::serve(tls, stream, peer, deadline, shared, rx).await;
                                drop(permit);
                            });
                            continue;
                        }
                        #[cfg(not(feature = "tls"))]
                        let _ = index; // only TLS listeners need to know which one
                        let local = stream.local_addr().unwrap_or(peer);
                        let (rd, wr) = stream.into_split();
                        let accepted = connection::Accepted { peer, local, deadline, tls: None };
                        tasks.spawn(async move {
                            connection::serve(Box::new(rd), Box::new(wr), accepted, shared, rx).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(self.listeners);
        // Connections got 320 and wait a little for Close-Ok; give them that long.
        let grace = limits.close_linger + Duration::from_secs(2);
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tasks.abort_all();
        }
        // With a data directory: what the store holds (acks too) is written and
        // synced before the server says it stopped.
        let broker = self.shared.broker.clone();
        match tokio::task::spawn_blocking(move || broker.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot sync the data directory"),
            Err(e) => tracing::error!(error = %e, "cannot sync the data directory"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// A listener on every address `addr` resolves to (each once); the addresses that
/// cannot be bound are logged and skipped.
///
/// # Errors
///
/// Nothing resolved, or nothing could be bound (the first error).
async fn bind_all(addr: impl ToSocketAddrs) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut first_error = None;
    let mut seen = Vec::new();
    for a in tokio::net::lookup_host(addr).await? {
        if seen.contains(&a) {
            continue;
        }
        seen.push(a);
        match TcpListener::bind(a).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                tracing::warn!(addr = %a, error = %e, "cannot listen");
                first_error.get_or_insert(e);
            }
        }
    }
    if listeners.is_empty() {
        return Err(first_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "the address resolves to nothing",
            )
        }));
    }
    Ok(listeners)
}

/// The next connection on any of `listeners`, with the listener's index.
async fn accept_any(
    listeners: &[Listener],
) -> io::Result<(tokio::net::TcpStream, SocketAddr, usize)> {
    std::future::poll_fn(|cx| {
        for (i, l) in listeners.iter().enumerate() {
            if let std::task::Poll::Ready(r) = l.tcp.poll_accept(cx) {
                return std::task::Poll::Ready(r.map(|(stream, peer)| (stream, peer, i)));
            }
        }
        std::task::Poll::Pending
    })
    .await
}
