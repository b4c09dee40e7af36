//! [`SharedRoutingTable`]: a [`RoutingTable`] that any number of threads route through
//! without a lock while one writer at a time changes it (feature `shared`), and its
//! engine, [`DoubleBuffer`], which the broker's topology uses too.

use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use hashbrown::DefaultHashBuilder;

use super::RoutingTable;
use crate::{FieldTable, RouteError, RouteResult};

/// A change, kept to be made again to the second copy.
type Change<T> = Box<dyn Fn(&mut T) + Send>;

/// Two copies of a `T`: readers load the current one without a lock; one writer at a
/// time changes the other through [`Writing`] and publishes it (see
/// [`SharedRoutingTable`]'s docs).
/// The engine of [`SharedRoutingTable`] and of the broker's topology.
pub(crate) struct DoubleBuffer<T> {
    current: ArcSwap<T>,
    writer: Mutex<Spare<T>>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for DoubleBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoubleBuffer")
            .field("current", &self.current.load())
            .finish_non_exhaustive()
    }
}

/// The writer's side: the copy readers are not given, and what it lacks.
struct Spare<T> {
    /// The copy to write next; readers that loaded it before it was swapped out may
    /// still hold it.
    copy: Arc<T>,
    /// Changes published in the current copy and not yet made to `copy`, in order.
    behind: Vec<Change<T>>,
    /// A writer panicked while changing `copy`: rebuild it from the current one.
    torn: bool,
}

impl<T: Clone> DoubleBuffer<T> {
    /// Two copies of `value` (it is cloned once).
    pub(crate) fn new(value: T) -> Self {
        DoubleBuffer {
            writer: Mutex::new(Spare {
                copy: Arc::new(value.clone()),
                behind: Vec::new(),
                torn: false,
            }),
            current: ArcSwap::from_pointee(value),
        }
    }

    /// The current copy.
    pub(crate) fn load(&self) -> Guard<Arc<T>> {
        self.current.load()
    }

    /// Starts changing the other copy (writers take turns): waits until the readers
    /// still using it are done, brings it up to date, and hands it out; the changes
    /// are published when the [`Writing`] is dropped.
    pub(crate) fn write(&self) -> Writing<'_, T> {
        let mut spare = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.torn {
            spare.copy = Arc::new(T::clone(&self.current.load()));
            spare.behind.clear();
        }
        while Arc::get_mut(&mut spare.copy).is_none() {
            std::thread::yield_now();
        }
        // Torn until the writing is over: a panic leaves the copy half-changed.
        spare.torn = true;
        let Spare { copy, behind, .. } = &mut *spare;
        let target = Arc::get_mut(copy).expect("no reader holds the spare copy");
        for change in behind.drain(..) {
            change(target);
        }
        Writing {
            buffer: self,
            spare,
            log: Vec::new(),
        }
    }
}

/// The other copy of a [`DoubleBuffer`], being changed by one writer: reads through it
/// see the changes made so far; dropping it publishes them (unless the thread is
/// panicking: then nothing is published and the copy is rebuilt by the next writer).
pub(crate) struct Writing<'a, T: Clone> {
    buffer: &'a DoubleBuffer<T>,
    spare: std::sync::MutexGuard<'a, Spare<T>>,
    /// The changes made, for the other copy.
    log: Vec<Change<T>>,
}

impl<T: Clone> Writing<'_, T> {
    /// Makes a change: `f` on this copy now, and again on the other copy after the
    /// publication. `f` must be a function of the copy alone (no randomness, no side
    /// effects elsewhere), so that both copies end up equal.
    pub(crate) fn apply<R>(&mut self, f: impl Fn(&mut T) -> R + Send + 'static) -> R {
        let target = Arc::get_mut(&mut self.spare.copy).expect("no reader holds the spare copy");
        let out = f(target);
        self.log.push(Box::new(move |t| {
            let _ = f(t);
        }));
        out
    }
}

impl<T: Clone> Deref for Writing<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.spare.copy
    }
}

impl<T: Clone> Drop for Writing<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // torn: the next writer rebuilds the copy
        }
        if !self.log.is_empty() {
            let old = self.buffer.current.swap(Arc::clone(&self.spare.copy));
            self.spare.copy = old;
            self.spare.behind = std::mem::take(&mut self.log);
        }
        self.spare.torn = false;
    }
}

/// A [`RoutingTable`] shared by threads: routes never take a lock or wait for a
/// writer; updates are applied by one writer at a time and are visible to the next
/// route, in order.
///
/// # How it works
///
/// Two copies of the table, as in the left-right technique, published through
/// [`arc_swap`]: readers load the current copy (a few atomic operations, never a lock,
/// never a wait); a writer (one at a time, behind a mutex) applies its update to the
/// other copy, swaps it in, and keeps the copy it swapped out as the next one to write,
/// remembering the update. Before the next update it waits for the readers still on
/// that copy to leave (readers never wait for a writer; a writer waits for readers
/// that started before its previous swap), replays the remembered updates on it, then
/// applies the new one. Every update is applied twice and nothing is ever copied after
/// [`new`](Self::new): a batch of 10,000 binds in one update is 20,000
/// binds of work and one swap, and an update of one bind costs two binds and one swap.
///
/// Invariants (checked by the tests):
/// - both copies hold the same table after each update's replay: an update must be a
///   function of the table alone (the same calls on equal tables give equal tables;
///   every method of [`RoutingTable`] is deterministic);
/// - an update is visible to every route that loads the table after
///   [`update`](Self::update) returns, and updates become visible in the
///   order they were made (one writer at a time);
/// - memory: two tables, always.
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
    inner: DoubleBuffer<RoutingTable<S>>,
}

impl<S: BuildHasher + Clone> std::fmt::Debug for SharedRoutingTable<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.inner.load();
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
        SharedRoutingTable {
            inner: DoubleBuffer::new(table),
        }
    }

    /// The current table, for routing and reading (see [`TableSnapshot`]).
    pub fn load(&self) -> TableSnapshot<S> {
        TableSnapshot(self.inner.load())
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
        self.inner
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
        self.inner.write().apply(f)
    }

    /// Checks the invariants: the current copy's own
    /// ([`RoutingTable::check_invariants`]), and that the other copy, brought up to
    /// date (it waits for the routes still using it), holds the same exchanges,
    /// queues (with their ids) and bindings.
    ///
    /// # Panics
    ///
    /// If a copy breaks its invariants or the copies differ.
    pub fn check_invariants(&self) {
        let w = self.inner.write();
        let current = self.inner.load();
        current.check_invariants();
        w.check_invariants();
        assert_eq!(listing(&current), listing(&w), "the two copies differ");
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
