//! A virtual host: its routing table, its queues, publishing and dead-lettering.
//!
//! The topology (a [`RoutingTable`] and the queue cells by table id) is a
//! [`DoubleBuffer`], the engine of [`SharedRoutingTable`](crate::SharedRoutingTable):
//! publishing and dead-lettering load the current copy without a lock (publishers never
//! wait for each other or for a writer); declaring, binding and deleting take turns
//! changing the other copy through [`Writing::apply`] (each change is made again to the
//! first copy at the next write) and publish it. A thread never writes while it holds a
//! loaded copy (the writer would wait for it). Each queue has its own lock (see
//! [`queue`](super::queue) for the lock order). Publishing and dead-lettering are in
//! `publish`.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};

use super::access::{Perm, Resource, Who};
use super::args::{QueueArgs, QueueType, check_equivalent, queue_type};
use super::clock::Timer;
use super::deadletter::DeadLetter;
use super::error::{ACCESS_REFUSED, BrokerError, NOT_FOUND, PRECONDITION_FAILED, RESOURCE_LOCKED};
use super::queue::{Persist, QueueCell, QueueConfig, QueueHost};
use super::store::defs::{BindingDef, ExchangeDef, Op, QueueDef};
use super::store::{Store, SyncPoint};
use super::{ExchangeDeclare, QueueDeclare, QueueDeclareOk, Returned};
use crate::table::{DoubleBuffer, Writing};
use crate::{Destination, ExchangeKind, ExchangeOptions, FieldTable, RoutingTable, TableOptions};

mod publish;

/// The routing table and the queues it names.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    pub(crate) table: RoutingTable,
    /// Queue cells by table id. Invariant: `queues[id]` is `Some` exactly for the
    /// table's live queue ids.
    pub(crate) queues: Vec<Option<Arc<QueueCell>>>,
}

impl Topology {
    /// The queue named `name`, as clients see queues: direct reply-to pseudo-queues
    /// are not there.
    pub(crate) fn queue(&self, name: &str) -> Option<&Arc<QueueCell>> {
        self.any_queue(name).filter(|q| !q.config.reply_to)
    }

    /// The queue or pseudo-queue named `name`.
    fn any_queue(&self, name: &str) -> Option<&Arc<QueueCell>> {
        let id = self.table.queue_id(name)?;
        self.queues.get(id.index()).and_then(Option::as_ref)
    }

    /// Whether `name` is a direct reply-to pseudo-queue.
    fn is_reply_to(&self, name: &str) -> bool {
        self.any_queue(name).is_some_and(|q| q.config.reply_to)
    }
}

/// Counters of a vhost.
#[derive(Debug, Default)]
pub(crate) struct VhostStats {
    pub(crate) published: AtomicU64,
    pub(crate) unroutable: AtomicU64,
    pub(crate) returned: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
}

/// A virtual host.
#[derive(Debug)]
pub(crate) struct VhostInner {
    pub(crate) name: String,
    /// Publishing loads it without a lock ([`DoubleBuffer`]: two copies, one writer at a
    /// time changes the other and publishes it).
    pub(crate) topo: DoubleBuffer<Topology>,
    pub(crate) timer: Arc<Timer>,
    pub(crate) memory: Arc<AtomicU64>,
    pub(crate) stats: VhostStats,
    pub(crate) this: Weak<VhostInner>,
    /// The broker's data directory, if it has one.
    pub(crate) store: Option<VhostStore>,
}

/// What a vhost of a broker with a data directory needs of it.
#[derive(Debug, Clone)]
pub(crate) struct VhostStore {
    pub(crate) store: Store,
    /// See [`Persist::page_above`].
    pub(crate) page_above: u64,
}

/// What a publish did.
#[derive(Debug)]
pub(crate) enum Routed {
    /// Delivered to `queues` queues; `refused` of them refused it (`reject-publish`).
    /// `synced`: the store's point its confirm waits for (written to a durable queue).
    Queues {
        queues: usize,
        refused: usize,
        synced: Option<SyncPoint>,
    },
    /// Routed nowhere; the message comes back when it was mandatory.
    Unroutable(Option<Box<Returned>>),
}

fn not_found(kind: &str, name: &str, vhost: &str) -> BrokerError {
    BrokerError::channel(NOT_FOUND, format!("no {kind} '{name}' in vhost '{vhost}'"))
}

pub(crate) fn locked(name: &str, vhost: &str) -> BrokerError {
    BrokerError::channel(
        RESOURCE_LOCKED,
        format!(
            "cannot obtain exclusive access to locked queue '{name}' in vhost '{vhost}'. \
             It could be originally declared on another connection or the exclusive \
             property value does not match that of the original declaration."
        ),
    )
}

impl QueueHost for VhostInner {
    fn delete_queue(&self, cell: &Arc<QueueCell>) {
        self.delete_queue_cell(cell);
    }

    fn publish_dead_letters(&self, work: Vec<DeadLetter>) {
        self.dead_letter(work);
    }
}

impl VhostInner {
    pub(crate) fn new(
        name: &str,
        table_options: TableOptions,
        timer: Arc<Timer>,
        memory: Arc<AtomicU64>,
        store: Option<VhostStore>,
    ) -> Arc<VhostInner> {
        Arc::new_cyclic(|this| VhostInner {
            name: name.into(),
            topo: DoubleBuffer::new(Topology {
                table: RoutingTable::with_options(table_options),
                queues: Vec::new(),
            }),
            timer,
            memory,
            stats: VhostStats::default(),
            this: this.clone(),
            store,
        })
    }

    // ----- the store -----

    /// Records a change of the durable definitions (nothing without a data
    /// directory). A failed write is a connection error (541): the change was made in
    /// memory but is not on disk.
    fn record(&self, op: impl FnOnce() -> Op) -> Result<(), BrokerError> {
        let Some(s) = &self.store else { return Ok(()) };
        s.store.record(op()).map_err(|e| {
            BrokerError::connection(
                541,
                format!("INTERNAL_ERROR - cannot write the data directory's definitions: {e}"),
            )
        })
    }

    /// After a change that can auto-delete exchanges (unbind, queue or exchange
    /// deletion): records the deletion of durable auto-delete exchanges that went.
    fn record_cascades(&self, t: &Topology) -> Result<(), BrokerError> {
        let Some(s) = &self.store else { return Ok(()) };
        let gone: Vec<String> = s.store.with_defs(|d| {
            d.vhosts.get(&self.name).map_or_else(Vec::new, |v| {
                v.exchanges
                    .iter()
                    .filter(|(n, x)| x.auto_delete && t.table.exchange(n).is_none())
                    .map(|(n, _)| n.clone())
                    .collect()
            })
        });
        for name in gone {
            self.record(|| Op::ExchangeDel {
                vhost: self.name.clone(),
                name,
            })?;
        }
        Ok(())
    }

    /// Whether a binding's destination is kept by the store.
    fn durable_dest(t: &Topology, dest: Destination<'_>) -> bool {
        match dest {
            Destination::Queue(q) => t.queue(q).is_some_and(|c| c.persist.is_some()),
            Destination::Exchange(x) => t.table.exchange(x).is_some_and(|x| x.options.durable),
        }
    }

    /// Whether a queue declared with these options is kept by the store: durable and
    /// not exclusive (RabbitMQ 3.10.8 stores an exclusive queue as non-durable). A
    /// durable auto-delete queue is kept until its last consumer goes, as RabbitMQ
    /// keeps it (one that never had a consumer survives every restart).
    pub(crate) fn persisted(&self, o: &QueueDeclare) -> bool {
        self.store.is_some() && o.durable && !o.exclusive
    }

    fn err(&self, e: impl Into<BrokerError>) -> BrokerError {
        e.into().in_vhost(&self.name)
    }

    // ----- exchanges -----

    /// Declares (or checks) an exchange; `who` is checked as RabbitMQ 3.10.8 does:
    /// configure after the type and the default exchange, then, for a new exchange
    /// with an alternate, read on it and write on the alternate.
    pub(crate) fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        o: &ExchangeDeclare,
        who: Who<'_>,
    ) -> Result<(), BrokerError> {
        if o.passive {
            // The default exchange is refused before it is looked up (E05).
            if name.is_empty() {
                return Err(self.err(crate::DeclareError::AccessRefused {
                    kind: crate::ObjectKind::Exchange,
                    name: String::new(),
                }));
            }
            let t = self.topo.load();
            return match t.table.exchange(name) {
                Some(_) => Ok(()),
                None => Err(not_found("exchange", name, &self.name)),
            };
        }
        let kind: ExchangeKind = kind.parse().map_err(|e| self.err(e))?;
        // The default exchange is refused by the table, before permissions.
        if !name.is_empty() {
            who.check(Perm::Configure, Resource::Exchange, name)?;
        }
        let alternate_exchange = match o.arguments.get("alternate-exchange") {
            None => None,
            Some(v) => match v.as_bytes().map(std::str::from_utf8) {
                Some(Ok(s)) => Some(s.to_owned()),
                _ => {
                    return Err(BrokerError::channel(
                        PRECONDITION_FAILED,
                        format!(
                            "invalid arg 'alternate-exchange' for exchange '{name}' in vhost '{}': not a string",
                            self.name
                        ),
                    ));
                }
            },
        };
        let options = ExchangeOptions {
            durable: o.durable,
            auto_delete: o.auto_delete,
            internal: o.internal,
            alternate_exchange,
        };
        let mut t = self.topo.write();
        if let Some(ae) = &options.alternate_exchange {
            // A new exchange (an `amq.` one is refused first).
            if t.table.exchange(name).is_none() && !name.starts_with("amq.") {
                who.check(Perm::Read, Resource::Exchange, name)?;
                who.check(Perm::Write, Resource::Exchange, ae)?;
            }
        }
        let new = t.table.exchange(name).is_none();
        let owned = name.to_owned();
        t.apply(move |t| t.table.declare_exchange(&owned, kind, &options))
            .map_err(|e| self.err(e))?;
        if new && o.durable {
            self.record(|| Op::Exchange {
                vhost: self.name.clone(),
                name: name.into(),
                def: ExchangeDef {
                    kind: kind.to_string(),
                    auto_delete: o.auto_delete,
                    internal: o.internal,
                    arguments: o.arguments.clone(),
                },
            })?;
        }
        Ok(())
    }

    pub(crate) fn exchange_delete(&self, name: &str, if_unused: bool) -> Result<(), BrokerError> {
        let mut t = self.topo.write();
        let durable = t.table.exchange(name).is_some_and(|x| x.options.durable);
        let owned = name.to_owned();
        match t.apply(move |t| t.table.delete_exchange(&owned, if_unused)) {
            Ok(existed) => {
                if existed && durable {
                    self.record(|| Op::ExchangeDel {
                        vhost: self.name.clone(),
                        name: name.into(),
                    })?;
                }
                self.record_cascades(&t)
            }
            // RabbitMQ 3.10.8's words for the `amq.*` exchanges.
            Err(crate::DeleteError::AccessRefused { name, .. }) if !name.is_empty() => {
                Err(BrokerError::channel(
                    ACCESS_REFUSED,
                    format!(
                        "deletion of system exchange '{name}' in vhost '{}' not allowed",
                        self.name
                    ),
                ))
            }
            // RabbitMQ 3.10.8 names the vhost (compared over AMQP with pika).
            Err(crate::DeleteError::InUse { name, .. }) => Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!("exchange '{name}' in vhost '{}' in use", self.name),
            )),
            Err(e) => Err(self.err(e)),
        }
    }

    // ----- bindings -----

    /// Binds (`unbind == false`) or unbinds; `conn` is the caller's connection (for
    /// exclusive queues). Returns whether the binding was added or removed.
    ///
    /// Unbinding is idempotent as in RabbitMQ 3.10.8 (CONFORMANCE E04): a missing
    /// source, destination or binding answers `false`, not 404. The default exchange
    /// is refused (403) either way.
    pub(crate) fn bind(
        &self,
        conn: u64,
        source: &str,
        dest: Destination<'_>,
        key: &str,
        args: &FieldTable,
        unbind: bool,
    ) -> Result<bool, BrokerError> {
        let mut t = self.topo.write();
        if let Destination::Queue(q) = dest {
            if t.is_reply_to(q) {
                return match unbind {
                    true => Ok(false),
                    false => Err(not_found("queue", q, &self.name)),
                };
            }
            if let Some(cell) = t.queue(q) {
                if cell.is_exclusive_to_other(conn) {
                    return Err(locked(q, &self.name));
                }
            }
        }
        let durable = self.store.is_some()
            && t.table.exchange(source).is_some_and(|x| x.options.durable)
            && Self::durable_dest(&t, dest);
        let binding = || {
            let (to_queue, name) = match dest {
                Destination::Queue(q) => (true, q),
                Destination::Exchange(x) => (false, x),
            };
            BindingDef::new(source, to_queue, name, key, args)
        };
        let (to_queue, to) = match dest {
            Destination::Queue(q) => (true, q.to_owned()),
            Destination::Exchange(x) => (false, x.to_owned()),
        };
        let (from, k, a) = (source.to_owned(), key.to_owned(), args.clone());
        let change = move |t: &mut Topology| {
            let d = match to_queue {
                true => Destination::Queue(&to),
                false => Destination::Exchange(&to),
            };
            match unbind {
                false => t.table.bind(&from, d, &k, &a),
                true => t.table.unbind(&from, d, &k, &a),
            }
        };
        if !unbind {
            let added = t.apply(change).map_err(|e| self.err(e))?;
            if added && durable {
                self.record(|| Op::Bind {
                    vhost: self.name.clone(),
                    binding: binding(),
                })?;
            }
            return Ok(added);
        }
        let removed = match t.apply(change) {
            Err(crate::BindError::NotFound { .. }) => false,
            r => r.map_err(|e| self.err(e))?,
        };
        if removed && durable {
            self.record(|| Op::Unbind {
                vhost: self.name.clone(),
                binding: binding(),
            })?;
            self.record_cascades(&t)?;
        }
        Ok(removed)
    }

    // ----- queues -----

    /// Declares (or checks) a queue; `name` is already resolved, or ignored when
    /// `generated` (the broker picks a free `amq.gen-` name). Not passive, `who` is
    /// checked as RabbitMQ 3.10.8 does: configure on the (generated) name, except
    /// that a new `amq.` name is refused first; then, for a new queue with a
    /// dead-letter exchange, read on it and write on that exchange.
    pub(crate) fn queue_declare(
        &self,
        conn: u64,
        name: &str,
        o: &QueueDeclare,
        generated: bool,
        who: Who<'_>,
    ) -> Result<QueueDeclareOk, BrokerError> {
        let mut t = self.topo.write();
        let mut generated_name;
        let mut name = name;
        if generated {
            loop {
                generated_name = format!("amq.gen-{}", super::channel::random_suffix());
                if t.table.queue_id(&generated_name).is_none() {
                    break;
                }
            }
            name = &generated_name;
        }
        let existing = t.queue(name).map(Arc::clone);
        if !o.passive && (generated || existing.is_some() || !name.starts_with("amq.")) {
            who.check(Perm::Configure, Resource::Queue, name)?;
        }
        if let Some(cell) = existing {
            drop(t);
            return self.redeclare(conn, &cell, o);
        }
        if o.passive {
            return Err(not_found("queue", name, &self.name));
        }
        if t.is_reply_to(name) {
            return Err(self.err(crate::DeclareError::AccessRefused {
                kind: crate::ObjectKind::Queue,
                name: name.into(),
            }));
        }
        // A dead-letter exchange of the wrong type is refused later, before this.
        let dlx = o.arguments.get("x-dead-letter-exchange");
        if let Some(dlx) = dlx.and_then(crate::FieldValue::as_bytes) {
            who.check(Perm::Read, Resource::Queue, name)?;
            who.check_bytes(Perm::Write, Resource::Exchange, dlx)?;
        }
        let kind = queue_type(&o.arguments).map_err(|e| e.for_queue(name, &self.name))?;
        if kind != QueueType::Classic {
            self.check_replicated(name, kind, o, generated)?;
        }
        let args = QueueArgs::parse(&o.arguments).map_err(|e| e.for_queue(name, &self.name))?;
        let owned = name.to_owned();
        let id = if generated {
            t.apply(move |t| t.table.declare_generated_queue(&owned))
                .expect("a free amq.gen- name")
        } else {
            t.apply(move |t| t.table.declare_queue(&owned))
                .map_err(|e| self.err(e))?
        };
        let config = QueueConfig {
            durable: o.durable,
            auto_delete: o.auto_delete,
            owner: o.exclusive.then_some(conn),
            arguments: o.arguments.clone(),
            args,
            reply_to: false,
        };
        let qid = match &self.store {
            Some(s) if self.persisted(o) => Some(s.store.new_qid()),
            _ => None,
        };
        self.add_cell(&mut t, id, name, config, qid);
        if let Some(qid) = qid {
            self.record(|| Op::Queue {
                vhost: self.name.clone(),
                name: name.into(),
                def: QueueDef {
                    qid,
                    auto_delete: o.auto_delete,
                    arguments: o.arguments.clone(),
                },
            })?;
        }
        Ok(QueueDeclareOk {
            queue: name.into(),
            message_count: 0,
            consumer_count: 0,
        })
    }

    /// Re-creates a durable queue from the data directory (no checks, nothing
    /// recorded: the broker is being rebuilt).
    pub(crate) fn recover_queue(
        &self,
        name: &str,
        qid: u64,
        auto_delete: bool,
        arguments: &FieldTable,
    ) -> Result<Arc<QueueCell>, BrokerError> {
        let args = QueueArgs::parse(arguments).map_err(|e| e.for_queue(name, &self.name))?;
        let mut t = self.topo.write();
        let owned = name.to_owned();
        let id = t
            .apply(move |t| t.table.declare_queue(&owned))
            .map_err(|e| self.err(e))?;
        let config = QueueConfig {
            durable: true,
            auto_delete,
            owner: None,
            arguments: arguments.clone(),
            args,
            reply_to: false,
        };
        Ok(self.add_cell(&mut t, id, name, config, Some(qid)))
    }

    /// A quorum queue (or a stream, which is refused later) has a client-chosen name
    /// and is durable, not exclusive and not auto-delete: RabbitMQ 3.10.8's checks, in
    /// its order.
    fn check_replicated(
        &self,
        name: &str,
        kind: QueueType,
        o: &QueueDeclare,
        generated: bool,
    ) -> Result<(), BrokerError> {
        if generated {
            let module = match kind {
                QueueType::Stream => "rabbit_stream_queue",
                _ => "rabbit_quorum_queue",
            };
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!("Cannot declare a server-named queue for type {module}"),
            ));
        }
        let refused = if o.auto_delete {
            "auto-delete"
        } else if o.exclusive {
            "exclusive-owner"
        } else if !o.durable {
            "non-durable"
        } else {
            return Ok(());
        };
        Err(BrokerError::channel(
            PRECONDITION_FAILED,
            format!(
                "invalid property '{refused}' for queue '{name}' in vhost '{}'",
                self.name
            ),
        ))
    }

    /// Creates the queue cell for table id `id`.
    fn add_cell(
        &self,
        t: &mut Writing<'_, Topology>,
        id: crate::QueueId,
        name: &str,
        config: QueueConfig,
        qid: Option<u64>,
    ) -> Arc<QueueCell> {
        let persist = match (&self.store, qid) {
            (Some(s), Some(qid)) => Some(Persist {
                store: s.store.clone(),
                qid,
                page_above: s.page_above,
                wall_base: self.timer.clock().wall_base(),
            }),
            _ => None,
        };
        let cell = QueueCell::new(
            name,
            config,
            self.this.clone() as Weak<dyn QueueHost>,
            Arc::clone(&self.timer),
            Arc::clone(&self.memory),
            persist,
        );
        let i = id.index();
        let installed = Arc::clone(&cell);
        t.apply(move |t| {
            if t.queues.len() <= i {
                t.queues.resize(i + 1, None);
            }
            t.queues[i] = Some(Arc::clone(&installed));
        });
        cell
    }

    /// Makes a direct reply-to pseudo-queue (`amq.rabbitmq.reply-to.<token>`) for a
    /// consumer of connection `conn`: exclusive to it, deleted with its consumer.
    pub(crate) fn reply_to_queue(&self, conn: u64) -> Arc<QueueCell> {
        let mut t = self.topo.write();
        loop {
            let name = format!(
                "{}.{}",
                super::channel::REPLY_TO,
                super::channel::random_suffix()
            );
            let owned = name.clone();
            let Some(id) = t.apply(move |t| t.table.declare_generated_queue(&owned)) else {
                continue;
            };
            let config = QueueConfig {
                durable: false,
                auto_delete: true,
                owner: Some(conn),
                arguments: FieldTable::new(),
                args: QueueArgs::default(),
                reply_to: true,
            };
            return self.add_cell(&mut t, id, &name, config, None);
        }
    }

    fn redeclare(
        &self,
        conn: u64,
        cell: &Arc<QueueCell>,
        o: &QueueDeclare,
    ) -> Result<QueueDeclareOk, BrokerError> {
        let c = &cell.config;
        if cell.is_exclusive_to_other(conn) || (!o.passive && c.owner.is_some() != o.exclusive) {
            return Err(locked(&cell.name, &self.name));
        }
        if !o.passive {
            for (what, have, want) in [
                ("durable", c.durable, o.durable),
                ("auto_delete", c.auto_delete, o.auto_delete),
            ] {
                if have != want {
                    return Err(BrokerError::channel(
                        PRECONDITION_FAILED,
                        format!(
                            "inequivalent arg '{what}' for queue '{}' in vhost '{}': \
                             received '{want}' but current is '{have}'",
                            cell.name, self.name
                        ),
                    ));
                }
            }
            check_equivalent(&c.arguments, &o.arguments, &cell.name, &self.name)?;
        }
        let (ready, consumers) = {
            let mut st = super::sync::lock(&cell.state);
            cell.touch(&mut st);
            (st.ready_count, st.consumers.len())
        };
        Ok(QueueDeclareOk {
            queue: cell.name.to_string(),
            message_count: ready.min(u64::from(u32::MAX)) as u32,
            consumer_count: consumers.min(u32::MAX as usize) as u32,
        })
    }

    /// The queue `name`, for consume, get, purge (not for publish: exclusivity does
    /// not stop publishers).
    pub(crate) fn queue_for(&self, conn: u64, name: &str) -> Result<Arc<QueueCell>, BrokerError> {
        let t = self.topo.load();
        let cell = t
            .queue(name)
            .ok_or_else(|| not_found("queue", name, &self.name))?;
        if cell.is_exclusive_to_other(conn) {
            return Err(locked(name, &self.name));
        }
        Ok(Arc::clone(cell))
    }

    /// Deletes a queue by name (`queue.delete`); returns its ready message count.
    pub(crate) fn queue_delete(
        &self,
        conn: u64,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<u32, BrokerError> {
        let cell = {
            let t = self.topo.load();
            match t.queue(name) {
                None => return Ok(0),
                Some(c) => Arc::clone(c),
            }
        };
        if cell.is_exclusive_to_other(conn) {
            return Err(locked(name, &self.name));
        }
        let (ready, consumers) = cell.counts();
        if if_unused && consumers > 0 {
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!("queue '{name}' in vhost '{}' in use", self.name),
            ));
        }
        if if_empty && ready > 0 {
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!("queue '{name}' in vhost '{}' not empty", self.name),
            ));
        }
        Ok(self.delete_queue_cell(&cell).min(u64::from(u32::MAX)) as u32)
    }

    /// Deletes this very queue (if it is still the one under its name): removes it
    /// and its bindings from the table (which may auto-delete exchanges), drops its
    /// messages and ends its consumers. Returns its ready message count.
    pub(crate) fn delete_queue_cell(&self, cell: &Arc<QueueCell>) -> u64 {
        {
            let mut t = self.topo.write();
            let Some(id) = t.table.queue_id(&cell.name) else {
                return 0;
            };
            let same = t.queues[id.index()]
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, cell));
            if !same {
                return 0;
            }
            let name = cell.name.to_string();
            t.apply(move |t| {
                t.table.delete_queue(&name);
                t.queues[id.index()] = None;
            });
            if cell.persist.is_some() {
                // A failed write of the deletion cannot stop the deletion (expiry and
                // auto-delete have no one to tell): the queue comes back at restart.
                let _ = self.record(|| Op::QueueDel {
                    vhost: self.name.clone(),
                    name: cell.name.to_string(),
                });
            }
            let _ = self.record_cascades(&t);
        }
        cell.mark_deleted()
    }

    /// Deletes every queue owned by connection `conn` (it closed).
    pub(crate) fn delete_exclusive(&self, conn: u64) {
        let owned: Vec<Arc<QueueCell>> = {
            let t = self.topo.load();
            t.queues
                .iter()
                .flatten()
                .filter(|q| q.config.owner == Some(conn))
                .cloned()
                .collect()
        };
        for q in owned {
            self.delete_queue_cell(&q);
        }
    }
}

/// ACCESS_REFUSED for exclusive consumers (used by channels).
pub(crate) fn in_exclusive_use(queue: &str, vhost: &str) -> BrokerError {
    BrokerError::channel(
        ACCESS_REFUSED,
        format!("queue '{queue}' in vhost '{vhost}' in exclusive use"),
    )
}
