//! Routing through a [`RoutingTable`]: the work list, alternate exchanges, CC/BCC and
//! de-duplication.

use std::hash::BuildHasher;

use super::{Dest, Index, MAX_NAME_LEN, QueueId, RoutingTable};
use crate::bitset::DestSet;
use crate::error::RouteError;
use crate::field::{FieldTable, FieldValue};
use crate::headers::HeaderIndex;

/// Where one message goes: each queue once. Reusable across routes, so steady-state
/// routing allocates nothing.
///
/// # Examples
///
/// ```
/// use trackswitch::{Destination, FieldTable, RouteResult, RoutingTable};
///
/// let mut table = RoutingTable::new();
/// table.declare_queue("q")?;
/// let none = FieldTable::new();
/// table.bind("amq.topic", Destination::Queue("q"), "a.*", &none)?;
/// table.bind("amq.topic", Destination::Queue("q"), "#", &none)?;
///
/// let mut routed = RouteResult::with_binding_keys();
/// table.route_into("amq.topic", "a.b", None, &mut routed)?;
/// assert_eq!(routed.len(), 1); // two bindings match, one copy
/// let keys: Vec<&[u8]> = routed.binding_keys().map(|(_, k)| k).collect();
/// assert_eq!(keys, [&b"#"[..], b"a.*"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RouteResult {
    /// The queues reached, in order of discovery, each once.
    queues: Vec<QueueId>,
    /// Ids of `queues`.
    seen: DestSet,
    /// Exchanges already put on the work list for this message.
    visited: DestSet,
    /// Exchanges still to evaluate.
    work: Vec<u32>,
    /// Whether to record which binding keys matched each queue.
    record_keys: bool,
    /// (queue, binding key) pairs; sorted and de-duplicated after each route.
    binding_keys: Vec<(QueueId, Box<[u8]>)>,
}

impl RouteResult {
    /// An empty result.
    pub fn new() -> RouteResult {
        RouteResult::default()
    }

    /// An empty result that also records, for each queue reached, the binding keys that
    /// matched on the bindings leading to it (as MQTT 5 subscription identifiers do).
    pub fn with_binding_keys() -> RouteResult {
        RouteResult {
            record_keys: true,
            ..RouteResult::default()
        }
    }

    /// The queues reached, each once, in order of discovery.
    pub fn queues(&self) -> &[QueueId] {
        &self.queues
    }

    /// Number of queues reached.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// Whether the message reached no queue (it is unroutable).
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Whether the message reached `queue`.
    pub fn contains(&self, queue: QueueId) -> bool {
        self.seen.contains(queue.0)
    }

    /// The (queue, binding key) pairs that matched, sorted, each once; empty unless the
    /// result was made with [`with_binding_keys`](Self::with_binding_keys).
    pub fn binding_keys(&self) -> impl Iterator<Item = (QueueId, &[u8])> + '_ {
        self.binding_keys.iter().map(|(q, k)| (*q, &**k))
    }

    /// Forgets the last route (keeps the capacity).
    pub fn clear(&mut self) {
        self.queues.clear();
        self.seen.clear();
        self.visited.clear();
        self.work.clear();
        self.binding_keys.clear();
    }

    #[inline]
    fn emit(&mut self, dest: Dest, key: &[u8]) {
        let id = dest.id();
        if dest.is_exchange() {
            if self.visited.insert(id) {
                self.work.push(id);
            }
        } else {
            if self.seen.insert(id) {
                self.queues.push(QueueId(id));
            }
            if self.record_keys {
                self.binding_keys.push((QueueId(id), key.into()));
            }
        }
    }
}

/// Collects the keys of a `CC` or `BCC` header.
fn push_cc<'h>(
    headers: &'h FieldTable,
    name: &'static str,
    out: &mut Vec<&'h [u8]>,
) -> Result<(), RouteError> {
    match headers.get(name) {
        None => Ok(()),
        Some(FieldValue::Array(keys)) => {
            for k in keys {
                let k = k.as_bytes().ok_or(RouteError::InvalidCc { header: name })?;
                out.push(k);
            }
            Ok(())
        }
        Some(_) => Err(RouteError::InvalidCc { header: name }),
    }
}

impl<S: BuildHasher + Clone> RoutingTable<S> {
    /// Routes a message published to `exchange` with `routing_key` and optional
    /// `headers` (used by headers exchanges, and for the `CC` and `BCC` keys) into `out`,
    /// which is cleared first.
    ///
    /// Each exchange reached is evaluated at most once (so cycles of
    /// exchange-to-exchange bindings end); one whose own bindings yield no destination
    /// hands the message to its alternate exchange when that exists; `CC` and `BCC`
    /// keys route like the routing key at every exchange; each queue appears once.
    /// No match is not an error: `out` is then empty.
    ///
    /// # Errors
    ///
    /// - [`RouteError::NotFound`] (404): no such exchange;
    /// - [`RouteError::Internal`] (403): the exchange is internal;
    /// - [`RouteError::KeyTooLong`] (406): a routing key over 255 bytes;
    /// - [`RouteError::InvalidCc`] (406): a `CC` or `BCC` header that is not an array
    ///   of strings.
    pub fn route_into(
        &self,
        exchange: &str,
        routing_key: impl AsRef<[u8]>,
        headers: Option<&FieldTable>,
        out: &mut RouteResult,
    ) -> Result<(), RouteError> {
        out.clear();
        let key = routing_key.as_ref();
        if key.len() > MAX_NAME_LEN {
            return Err(RouteError::KeyTooLong { len: key.len() });
        }
        let Some(start) = self.exchange_by_name(exchange.as_bytes()) else {
            return Err(RouteError::NotFound {
                name: exchange.into(),
            });
        };
        if self.exchange_slot(start).options.internal {
            return Err(RouteError::Internal {
                name: exchange.into(),
            });
        }
        // Allocates only for a message with CC or BCC keys.
        let mut extra: Vec<&[u8]> = Vec::new();
        if let Some(h) = headers {
            push_cc(h, "CC", &mut extra)?;
            push_cc(h, "BCC", &mut extra)?;
        }
        let empty = FieldTable::new();
        let mut header_index = None;
        out.visited.insert(start);
        out.work.push(start);
        while let Some(x) = out.work.pop() {
            let xe = self.exchange_slot(x);
            let keys = std::iter::once(key).chain(extra.iter().copied());
            let mut any = false;
            match &xe.index {
                None => {
                    // The default exchange: every queue by its name.
                    for k in keys {
                        if let Some(q) = self.queue_by_name(k) {
                            any = true;
                            out.emit(Dest::queue(q), k);
                        }
                    }
                }
                Some(Index::Direct(d)) => {
                    for k in keys {
                        for b in d.get(k) {
                            any = true;
                            out.emit(b.dest, k);
                        }
                    }
                }
                Some(Index::Topic(t)) => {
                    for k in keys {
                        t.route_with(k, |pattern, values| {
                            any = true;
                            for b in values {
                                out.emit(b.dest, pattern);
                            }
                        });
                    }
                }
                Some(Index::Fanout {
                    bindings,
                    queues,
                    exchanges,
                    ..
                }) => {
                    any = !bindings.is_empty();
                    if out.record_keys {
                        for (k, b) in bindings.iter() {
                            out.emit(b.dest, k);
                        }
                    } else {
                        let RouteResult {
                            seen, queues: q, ..
                        } = &mut *out;
                        seen.union_new(queues, |id| q.push(QueueId(id)));
                        for id in exchanges.iter() {
                            out.emit(Dest::exchange(id), b"");
                        }
                    }
                }
                Some(Index::Headers { list, .. }) => {
                    let index = header_index
                        .get_or_insert_with(|| HeaderIndex::new(headers.unwrap_or(&empty)));
                    for h in list {
                        if h.matcher.matches_in(index) {
                            any = true;
                            out.emit(h.bound.dest, &h.key);
                        }
                    }
                }
            }
            if !any {
                let alternate = xe.options.alternate_exchange.as_deref();
                if let Some(ae) = alternate.and_then(|n| self.exchange_by_name(n.as_bytes())) {
                    if out.visited.insert(ae) {
                        out.work.push(ae);
                    }
                }
            }
        }
        if out.record_keys {
            out.binding_keys.sort_unstable();
            out.binding_keys.dedup();
        }
        Ok(())
    }

    /// Routes a message into a new [`RouteResult`]; see
    /// [`route_into`](Self::route_into), which reuses one.
    ///
    /// # Errors
    ///
    /// As [`route_into`](Self::route_into).
    pub fn route(
        &self,
        exchange: &str,
        routing_key: impl AsRef<[u8]>,
        headers: Option<&FieldTable>,
    ) -> Result<RouteResult, RouteError> {
        let mut out = RouteResult::new();
        self.route_into(exchange, routing_key, headers, &mut out)?;
        Ok(out)
    }
}
