//! [`SharedRoutingTable`]: a [`RoutingTable`] that any number of threads route through
//! without a lock while one writer at a time changes it (feature `shared`).
//!
//! # How it works
//!
//! Two copies of the table, as in the left-right technique, published through
//! [`arc_swap`]: readers load the current copy (a few atomic operations, never a lock,
//! never a wait); a writer (one at a time, behind a mutex) applies its update to the
//! other copy, swaps it in, and keeps the copy it swapped out as the next one to write,
//! remembering the update. Before the next update it waits for the readers still on
//! that copy to leave (readers never wait for a writer; a writer waits for readers
//! that started before its previous swap), replays the remembered updates on it, then
//! applies the new one. Every update is applied twice and nothing is ever copied after
//! [`new`](SharedRoutingTable::new): a batch of 10,000 binds in one update is 20,000
//! binds of work and one swap, and an update of one bind costs two binds and one swap.
//!
//! Invariants (checked by the tests):
//! - both copies hold the same table after each update's replay: an update must be a
//!   function of the table alone (the same calls on equal tables give equal tables;
//!   every method of [`RoutingTable`] is deterministic);
//! - an update is visible to every route that loads the table after
//!   [`update`](SharedRoutingTable::update) returns, and updates become visible in the
//!   order they were made (one writer at a time);
//! - memory: two tables, always.

use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use hashbrown::DefaultHashBuilder;

use super::RoutingTable;
use crate::{FieldTable, RouteError, RouteResult};

/// An update kept for replay on the other copy.
type Replay<S> = Box<dyn Fn(&mut RoutingTable<S>) + Send>;

/// A [`RoutingTable`] shared by threads: routes never take a lock or wait for a
/// writer; updates are applied by one writer at a time and are visible to the next
/// route, in order (see the [module docs](self) for how).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trackswitch::{Destination, ExchangeKind, FieldTable, RouteResult, RoutingTable, SharedRoutingTable};
///
/// let shared = Arc::new(SharedRoutingTable::new(RoutingTable::new()));
/// // One update: a batch, applied and published at once.
/// shared.update(|t| {
///     t.declare_exchange("logs", ExchangeKind::Topic, &Default::default()).unwrap();
///     for q in ["errors", "all"] {
///         t.declare_queue(q).unwrap();
///     }
///     t.bind("logs", Destination::Queue("errors"), "*.error", &FieldTable::new()).unwrap();
///     t.bind("logs", Destination::Queue("all"), "#", &FieldTable::new()).unwrap();
/// });
///
/// let reader = Arc::clone(&shared);
/// let routed = std::thread::spawn(move || {
///     let mut out = RouteResult::new();
///     reader.route_into("logs", "db.error", None, &mut out).unwrap();
///     out.len()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(routed, 2);
///
/// // An update's result comes back; a failed step fails only itself.
/// let bound = shared.update(|t| t.bind("logs", Destination::Queue("nope"), "x", &FieldTable::new()));
/// assert_eq!(bound.unwrap_err().reply_code(), 404);
/// assert_eq!(shared.load().binding_count(), 2);
/// ```
pub struct SharedRoutingTable<S = DefaultHashBuilder> {
    current: ArcSwap<RoutingTable<S>>,
    writer: Mutex<Writer<S>>,
}

/// The writer's side: the copy readers are not given, and what it lacks.
struct Writer<S> {
    /// The copy to write next; readers that loaded it before it was swapped out may
    /// still hold it.
    spare: Arc<RoutingTable<S>>,
    /// Updates applied to the current copy and not yet to `spare`, in order.
    behind: Vec<Replay<S>>,
    /// An update panicked while applied to `spare`: rebuild it from the current copy.
    torn: bool,
}

impl<S: BuildHasher + Clone> std::fmt::Debug for SharedRoutingTable<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.current.load();
        f.debug_struct("SharedRoutingTable")
            .field("exchanges", &t.exchange_count())
            .field("queues", &t.queue_count())
            .field("bindings", &t.binding_count())
            .finish_non_exhaustive()
    }
}

/// A loaded table: routes and reads through it see one version of the table, however
/// many updates happen meanwhile. Hold it briefly: a writer's next update waits until
/// the snapshots of the copy it writes are dropped.
pub struct TableSnapshot<S = DefaultHashBuilder>(Guard<Arc<RoutingTable<S>>>);

impl<S> Deref for TableSnapshot<S> {
    type Target = RoutingTable<S>;

    fn deref(&self) -> &RoutingTable<S> {
        &self.0
    }
}

impl<S: BuildHasher + Clone> std::fmt::Debug for TableSnapshot<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSnapshot")
            .field("bindings", &self.binding_count())
            .finish_non_exhaustive()
    }
}

impl<S> SharedRoutingTable<S>
where
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    /// Shares `table` (it is cloned once, for the second copy).
    pub fn new(table: RoutingTable<S>) -> Self {
        let spare = Arc::new(table.clone());
        SharedRoutingTable {
            current: ArcSwap::from_pointee(table),
            writer: Mutex::new(Writer {
                spare,
                behind: Vec::new(),
                torn: false,
            }),
        }
    }

    /// The current table, for routing and reading (see [`TableSnapshot`]).
    pub fn load(&self) -> TableSnapshot<S> {
        TableSnapshot(self.current.load())
    }

    /// Routes through the current table, as [`RoutingTable::route_into`]: no lock, no
    /// wait.
    ///
    /// # Errors
    ///
    /// As [`RoutingTable::route_into`].
    pub fn route_into(
        &self,
        exchange: &str,
        routing_key: impl AsRef<[u8]>,
        headers: Option<&FieldTable>,
        out: &mut RouteResult,
    ) -> Result<(), RouteError> {
        self.current
            .load()
            .route_into(exchange, routing_key, headers, out)
    }

    /// Applies `f` (any number of changes: one batch) and publishes the result to
    /// every later route, returning what `f` returned. `f` runs twice, on each copy,
    /// and must be a function of the table alone (no randomness, no side effects
    /// elsewhere): the second run must do to the second copy what the first did to the
    /// first. Writers take turns; a writer waits until the routes still using the copy
    /// it writes have finished (never the other way round).
    ///
    /// If `f` panics, the update is not published and the panic goes on; the next
    /// update first rebuilds the copy it was writing from the current one.
    pub fn update<R>(&self, f: impl Fn(&mut RoutingTable<S>) -> R + Send + 'static) -> R {
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Writer {
            spare,
            behind,
            torn,
        } = &mut *guard;
        if *torn {
            *spare = Arc::new(RoutingTable::clone(&self.current.load()));
            behind.clear();
        }
        // The routes still on the spare copy hold references to it: wait them out.
        while Arc::get_mut(spare).is_none() {
            std::thread::yield_now();
        }
        let table = Arc::get_mut(spare).expect("no reader holds the spare copy");
        // Until this update is through: a panic in `f` leaves the copy half-written.
        *torn = true;
        for replay in behind.drain(..) {
            replay(table);
        }
        let result = f(table);
        *torn = false;
        let old = self.current.swap(Arc::clone(spare));
        *spare = old;
        behind.push(Box::new(move |t| {
            let _ = f(t);
        }));
        result
    }
}

impl<S> SharedRoutingTable<S>
where
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    /// Checks the invariants: the current copy's own
    /// ([`RoutingTable::check_invariants`]), and that the other copy, brought up to
    /// date (it waits for the routes still using it), holds the same exchanges,
    /// queues (with their ids) and bindings.
    ///
    /// # Panics
    ///
    /// If a copy breaks its invariants or the copies differ.
    pub fn check_invariants(&self) {
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Writer {
            spare,
            behind,
            torn,
        } = &mut *guard;
        if *torn {
            return; // rebuilt at the next update
        }
        while Arc::get_mut(spare).is_none() {
            std::thread::yield_now();
        }
        let table = Arc::get_mut(spare).expect("no reader holds the spare copy");
        *torn = true;
        for replay in behind.drain(..) {
            replay(table);
        }
        *torn = false;
        let current = self.current.load();
        current.check_invariants();
        spare.check_invariants();
        assert_eq!(listing(&current), listing(spare), "the two copies differ");
    }
}

/// Everything a table holds, in a comparable order.
type Listing = (Vec<String>, Vec<(usize, String)>, Vec<String>);

fn listing<S: BuildHasher + Clone>(t: &RoutingTable<S>) -> Listing {
    let mut exchanges: Vec<String> = t.exchanges().map(|x| format!("{x:?}")).collect();
    exchanges.sort();
    let mut queues: Vec<(usize, String)> = t
        .queues()
        .map(|(id, n)| (id.index(), n.to_owned()))
        .collect();
    queues.sort();
    let mut bindings: Vec<String> = t.bindings().map(|b| format!("{b:?}")).collect();
    bindings.sort();
    (exchanges, queues, bindings)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::{Destination, ExchangeKind};

    #[test]
    fn readers_see_every_update_in_order_while_a_writer_runs() {
        let shared = Arc::new(SharedRoutingTable::new(RoutingTable::new()));
        shared.update(|t| {
            t.declare_exchange("x", ExchangeKind::Direct, &Default::default())
                .unwrap();
        });
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut out = RouteResult::new();
                    let mut seen = 0;
                    while !stop.load(Ordering::Relaxed) {
                        // Queue `k{i}` is bound with key `k{i}` only after `k{i-1}`:
                        // a reader never sees a later binding without the earlier ones.
                        let t = shared.load();
                        let n = t.binding_count();
                        for i in 0..n {
                            t.route_into("x", format!("k{i}"), None, &mut out).unwrap();
                            assert_eq!(out.len(), 1, "binding {i} of {n}");
                        }
                        assert!(n >= seen, "bindings never go backwards");
                        seen = n;
                    }
                    seen
                })
            })
            .collect();
        for i in 0..200 {
            shared.update(move |t| {
                let q = format!("k{i}");
                t.declare_queue(&q).unwrap();
                t.bind("x", Destination::Queue(&q), &q, &FieldTable::new())
                    .unwrap();
            });
            let mut out = RouteResult::new();
            shared
                .route_into("x", format!("k{i}"), None, &mut out)
                .unwrap();
            assert_eq!(out.len(), 1, "visible once update returns");
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        shared.check_invariants();
        assert_eq!(shared.load().binding_count(), 200);
    }

    #[test]
    fn a_panicking_update_is_not_published_and_the_copy_is_rebuilt() {
        let shared = SharedRoutingTable::new(RoutingTable::new());
        shared.update(|t| {
            t.declare_queue("kept").unwrap();
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shared.update(|t| {
                t.declare_queue("half").unwrap();
                panic!("boom");
            })
        }));
        assert!(r.is_err());
        assert!(shared.load().queue_id("half").is_none());
        shared.update(|t| {
            t.declare_queue("after").unwrap();
        });
        shared.check_invariants();
        let t = shared.load();
        assert!(t.queue_id("kept").is_some() && t.queue_id("after").is_some());
        assert!(t.queue_id("half").is_none());
    }
}
