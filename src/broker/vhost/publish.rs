//! Publishing and dead-lettering: routes through the current topology (loaded
//! without a lock) and enqueues into the queues it names.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::{Routed, VhostInner};
use crate::RouteResult;
use crate::broker::Returned;
use crate::broker::deadletter::{DeadLetter, is_cycle};
use crate::broker::error::{BrokerError, PRECONDITION_FAILED};
use crate::broker::message::{Message, Stored, parse_expiration};
use crate::broker::queue::{Effects, Enqueued};

thread_local! {
    /// Routing scratch space: steady-state publishing allocates no route result.
    static ROUTE: RefCell<RouteResult> = RefCell::new(RouteResult::new());
}

impl VhostInner {
    /// Checks a publish without routing it anywhere (a transaction holds it until
    /// commit): the same errors as [`publish`](Self::publish).
    pub(crate) fn check_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &Message,
    ) -> Result<(), BrokerError> {
        message_ttl(message)?;
        let mut route = RouteResult::new();
        self.topo
            .load()
            .table
            .route_into(
                exchange,
                routing_key,
                message.properties.headers.as_ref(),
                &mut route,
            )
            .map_err(|e| self.err(e))
    }

    /// Routes and enqueues a message.
    pub(crate) fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &mut Message,
        mandatory: bool,
    ) -> Result<Routed, BrokerError> {
        let ttl = message_ttl(message)?;
        self.stats.published.fetch_add(1, Relaxed);
        let mut fx = Effects::default();
        let routed = ROUTE.with(|cell| {
            let mut fresh;
            let mut borrowed = cell.try_borrow_mut();
            let route: &mut RouteResult = match &mut borrowed {
                Ok(r) => r,
                Err(_) => {
                    fresh = RouteResult::new();
                    &mut fresh
                }
            };
            let t = self.topo.load();
            t.table
                .route_into(
                    exchange,
                    routing_key,
                    message.properties.headers.as_ref(),
                    route,
                )
                .map_err(|e| self.err(e))?;
            if route.is_empty() {
                return Ok::<_, BrokerError>(None);
            }
            // BCC keys route but are not delivered.
            let bcc = match &mut message.properties.headers {
                Some(h) if h.contains("BCC") => h.remove("BCC").map(Box::new),
                _ => None,
            };
            let stored = Arc::new(Stored::new(
                exchange.into(),
                routing_key.into(),
                std::mem::take(message),
                bcc,
                &self.memory,
            ));
            let mut refused = 0;
            for q in route.queues() {
                let cell = t.queues[q.index()].as_ref().expect("routed queue is live");
                if cell.enqueue(Arc::clone(&stored), ttl, &mut fx) == Enqueued::Refused {
                    refused += 1;
                }
            }
            Ok(Some((route.len(), refused)))
        })?;
        let synced = fx.synced.take();
        self.dead_letter(fx.dead);
        Ok(match routed {
            Some((queues, refused)) => Routed::Queues {
                queues,
                refused,
                synced,
            },
            None => {
                self.stats.unroutable.fetch_add(1, Relaxed);
                Routed::Unroutable(mandatory.then(|| {
                    self.stats.returned.fetch_add(1, Relaxed);
                    Box::new(Returned {
                        reply_code: crate::broker::error::NO_ROUTE,
                        reply_text: "NO_ROUTE".into(),
                        exchange: exchange.into(),
                        routing_key: routing_key.into(),
                        message: std::mem::take(message),
                    })
                }))
            }
        })
    }

    /// Publishes dead letters to their exchanges (and whatever those produce in
    /// turn), dropping cycles without a rejection and letters whose exchange is
    /// missing.
    pub(crate) fn dead_letter(&self, work: Vec<DeadLetter>) {
        if work.is_empty() {
            return;
        }
        let mut route = RouteResult::new();
        let mut fx = Effects::default();
        // First in, first out: a batch (expired heads, a multiple nack) is dead-lettered
        // in queue order.
        let mut work: std::collections::VecDeque<DeadLetter> = work.into();
        while let Some(dl) = work.pop_front() {
            let stored = Arc::new(dl.message(self.timer.clock().wall_seconds(), &self.memory));
            let keys = dl.keys();
            let headers = stored.message.properties.headers.as_ref();
            // Without an x-dead-letter-routing-key the original BCC keys route too.
            let with_bcc;
            let route_headers = match &stored.bcc {
                Some(bcc) => {
                    let mut h = headers.cloned().unwrap_or_default();
                    h.insert("BCC", (**bcc).clone());
                    with_bcc = h;
                    Some(&with_bcc)
                }
                None => headers,
            };
            {
                let t = self.topo.load();
                // A missing (or internal) dead-letter exchange drops the message.
                if t.table
                    .route_into(&dl.exchange, &keys[0], route_headers, &mut route)
                    .is_err()
                {
                    continue;
                }
                for q in route.queues() {
                    let cell = t.queues[q.index()].as_ref().expect("routed queue is live");
                    if is_cycle(headers, &cell.name) {
                        continue;
                    }
                    self.stats.dead_lettered.fetch_add(1, Relaxed);
                    cell.enqueue(Arc::clone(&stored), None, &mut fx);
                }
            }
            work.extend(fx.dead.drain(..));
        }
    }
}

/// A message's `expiration` in ms (406 if it is not a valid one).
fn message_ttl(message: &Message) -> Result<Option<u64>, BrokerError> {
    match &message.properties.expiration {
        None => Ok(None),
        Some(s) => match parse_expiration(s) {
            Some(ms) => Ok(Some(ms)),
            None => Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!("invalid expiration '{s}'"),
            )),
        },
    }
}
