//! The management listener (feature `management`): RabbitMQ 3.10.8's management HTTP
//! API, a web UI and Prometheus metrics for a running [`Server`].
//!
//! - `/api/...`: the paths, methods, status codes, JSON field names and error bodies
//!   of RabbitMQ's management plugin for what trackswitch has (overview, vhosts,
//!   connections and channels (closing a connection), consumers, exchanges, queues
//!   (purge, get), bindings, publish, definitions export and import, users,
//!   permissions, health checks, aliveness test), with its `sort`, `sort_reverse`,
//!   `columns` and pagination parameters, so `rabbitmqadmin`, HTTP API clients and
//!   scripts work unchanged. Observed facts: `docs/rabbitmq-3.10.8-management-facts.md`.
//! - `/`: the web UI, bundled into the binary (nothing is fetched from elsewhere).
//! - `/metrics` and `/metrics/per-object`: the Prometheus text format with the metric
//!   names of RabbitMQ's `rabbitmq_prometheus` plugin (unauthenticated, as that
//!   plugin's endpoint).
//!
//! HTTP basic authentication against the broker's users, with RabbitMQ's rules: a
//! wrong user or password is 401, `guest` (RabbitMQ's `loopback_users`) only from a
//! loopback address, and the user must be tagged `management`, `policymaker`,
//! `monitoring` or `administrator`. Credentials are read from the `Authorization`
//! header only, never from a cookie, and no CORS headers are sent, so another site
//! cannot act through a logged-in browser. Request bodies are limited to
//! [`MAX_BODY`] bytes (RabbitMQ's default). Listing handlers run on blocking threads,
//! off the tasks that move messages.
//!
//! # Example
//!
//! ```no_run
//! use trackswitch::amqp::{Server, ServerConfig};
//! use trackswitch::broker::Broker;
//! use trackswitch::management::Management;
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::bind("127.0.0.1:5672", Broker::new(), ServerConfig::default()).await?;
//! let management = Management::bind("127.0.0.1:15672", &server).await?;
//! tokio::spawn(management.run()); // ends when the server is shut down
//! server.run().await
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

use crate::amqp::{Server, Shared};
use crate::broker::Broker;

mod api;
mod auth;
mod error;
mod metrics;
mod query;
mod rates;
mod routes;
mod shapes;
mod ui;

use error::{ApiError, ApiResult};

/// The largest request body taken (RabbitMQ's `management.http.max_body_size`
/// default, 10,000,000 bytes); a larger one is refused with 400.
pub const MAX_BODY: usize = 10_000_000;

/// What every request handler shares.
struct App {
    shared: Arc<Shared>,
    /// The AMQP listeners' addresses (the overview's `listeners`).
    amqp: Vec<SocketAddr>,
    /// This listener's address.
    http: SocketAddr,
    rates: Mutex<rates::Rates>,
}

impl App {
    fn broker(&self) -> &Broker {
        &self.shared.broker
    }

    fn rates(&self) -> std::sync::MutexGuard<'_, rates::Rates> {
        self.rates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A bound management listener (see the [module docs](self)).
pub struct Management {
    listener: TcpListener,
    app: Arc<App>,
    stop: watch::Receiver<bool>,
}

impl fmt::Debug for Management {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Management")
            .field("local_addr", &self.app.http)
            .finish_non_exhaustive()
    }
}

impl Management {
    /// Binds the management listener for `server` (its broker, users and
    /// configuration) to `addr`.
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn bind(addr: impl ToSocketAddrs, server: &Server) -> io::Result<Management> {
        let listener = TcpListener::bind(addr).await?;
        let http = listener.local_addr()?;
        let app = Arc::new(App {
            shared: Arc::clone(server.shared()),
            amqp: server.local_addrs(),
            http,
            rates: Mutex::new(rates::Rates::default()),
        });
        Ok(Management {
            listener,
            app,
            stop: server.stop_signal(),
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.app.http
    }

    /// Serves requests until the server is shut down.
    ///
    /// # Errors
    ///
    /// None at present: connection errors end only their connection.
    pub async fn run(self) -> io::Result<()> {
        let Management {
            listener,
            app,
            mut stop,
        } = self;
        // Not "listening": that word marks the AMQP listeners in the log.
        tracing::info!(http = %app.http, "management API, web UI and metrics");
        let sampler = tokio::spawn(sample_rates(Arc::clone(&app)));
        let router: Router = routes::router(Arc::clone(&app));
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|&s| s).await;
            })
            .await;
        sampler.abort();
        result
    }
}

/// Samples the broker's counters for the rates, every [`rates::INTERVAL`].
async fn sample_rates(app: Arc<App>) {
    let mut tick = tokio::time::interval(rates::INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let app = Arc::clone(&app);
        let _ = tokio::task::spawn_blocking(move || {
            let counts = rates::collect(app.broker());
            app.rates().update(counts);
        })
        .await;
    }
}

/// A JSON response (`application/json`, `cache-control: no-cache`, as RabbitMQ).
fn json(value: &serde_json::Value) -> Response {
    json_text(value.to_string())
}

/// JSON already serialised.
fn json_text(text: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        text,
    )
        .into_response()
}

/// Reads a request body, at most [`MAX_BODY`] bytes.
async fn read_body(body: Body) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::bad_request("Exceeded HTTP request body size limit"))
}

/// Runs `f` on a blocking thread (listings and imports: work proportional to the
/// broker's size stays off the tasks that move messages).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("handler failed: {e}")))
}
