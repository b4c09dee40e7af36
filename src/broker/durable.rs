//! A broker with a data directory: rebuilding it from the store at open, and what it
//! tells of the store ([`Broker::recovery`], [`Broker::sync`], [`Broker::store_info`],
//! [`Broker::disk_alarm`]). The store itself (`store`) knows nothing of the broker;
//! this file is where the two meet.

use std::sync::Arc;
use std::time::Instant;

use super::access::Who;
use super::message::{Message, Stored};
use super::queue::Recovered;
use super::store::{Opened, Recovery, StoreInfo};
use super::{Broker, ExchangeDeclare};
use crate::Destination;

/// Rebuilds `broker` (new, empty, with the store attached) from what the store
/// read; returns the report.
pub(super) fn rebuild(broker: &Broker, opened: Opened, started: Instant) -> Recovery {
    let Opened {
        store,
        defs,
        mut messages,
        mut damage,
        fresh,
        clean,
    } = opened;
    let mut report = Recovery {
        dir: store.dir().to_path_buf(),
        ..Recovery::default()
    };
    // A new directory, or one whose definitions were all lost: the default vhost.
    if fresh || defs.vhosts.is_empty() {
        broker.add_vhost("/");
    }
    if fresh {
        report.took = started.elapsed();
        return report;
    }
    store.set_quiet(true);
    let unchecked = |vhost: &'static str| Who {
        access: None,
        user: "",
        vhost,
        conn: 0,
    };
    for (vname, v) in &defs.vhosts {
        broker.add_vhost(vname);
        let Some(vhost) = broker.vhost(vname) else {
            continue;
        };
        for (name, x) in &v.exchanges {
            let o = ExchangeDeclare {
                durable: true,
                auto_delete: x.auto_delete,
                internal: x.internal,
                arguments: x.arguments.clone(),
                ..ExchangeDeclare::default()
            };
            if let Err(e) = vhost.exchange_declare(name, &x.kind, &o, unchecked("")) {
                damage.push(format!(
                    "vhost '{vname}': exchange '{name}' not recovered: {e}"
                ));
            }
        }
        for (name, q) in &v.queues {
            let cell = match vhost.recover_queue(name, q.qid, q.auto_delete, &q.arguments) {
                Ok(c) => c,
                Err(e) => {
                    damage.push(format!(
                        "vhost '{vname}': queue '{name}' not recovered: {e}"
                    ));
                    continue;
                }
            };
            report.queues += 1;
            let found = messages.remove(&q.qid).unwrap_or_default();
            // After a crash RabbitMQ 3.10.8 cannot tell which messages of a classic
            // queue were delivered: all come back redelivered (a quorum queue's
            // log knows).
            let all_redelivered = !clean && !cell.config.args.quorum;
            report.messages += found.len() as u64;
            let recovered = found
                .into_iter()
                .map(|f| {
                    let r = f.record;
                    let message = Message {
                        properties: r.properties,
                        body: bytes::Bytes::new(),
                    };
                    let stored = Stored::new(
                        r.exchange.as_str().into(),
                        r.routing_key.as_str().into(),
                        message,
                        r.bcc.map(Box::new),
                        &broker.inner.memory,
                    );
                    Recovered {
                        seq: r.seq,
                        msg: Arc::new(stored),
                        len: r.body_len,
                        loc: f.loc,
                        deadline: r.deadline,
                        redelivered: f.delivered || all_redelivered,
                        returns: r.returns,
                    }
                })
                .collect();
            cell.recover(recovered);
        }
        for b in &v.bindings {
            let dest = if b.to_queue {
                Destination::Queue(&b.dest)
            } else {
                Destination::Exchange(&b.dest)
            };
            if let Err(e) = vhost.bind(0, &b.source, dest, &b.key, &b.arguments(), false) {
                damage.push(format!(
                    "vhost '{vname}': binding '{}' -> '{}' ('{}') not recovered: {e}",
                    b.source, b.dest, b.key
                ));
            }
        }
    }
    for u in defs.users.values() {
        broker.inner.access.add_user(u.clone());
    }
    for ((user, vhost), p) in &defs.permissions {
        if broker.vhost(vhost).is_some() {
            let _ = broker.inner.access.set(user, vhost, p.clone());
        }
    }
    store.set_quiet(false);
    report.damage = damage;
    report.took = started.elapsed();
    report
}

impl Broker {
    /// What opening the data directory found: queues and messages recovered and any
    /// damage (`None` without a data directory).
    pub fn recovery(&self) -> Option<&Recovery> {
        self.inner.recovery.as_ref()
    }

    /// Writes and syncs everything the store holds so far (settlements included);
    /// returns once it is on stable storage. Without a data directory, does nothing.
    ///
    /// # Errors
    ///
    /// The store's writes are failing (e.g. the disk is full) for more than 30 s.
    pub fn sync(&self) -> std::io::Result<()> {
        match &self.inner.store {
            Some(s) => s.sync(),
            None => Ok(()),
        }
    }

    /// The store's counters (`None` without a data directory).
    pub fn store_info(&self) -> Option<StoreInfo> {
        self.inner.store.as_ref().map(super::store::Store::info)
    }

    /// Whether publishers should be held back because of the disk: free space under
    /// [`disk_free_limit`](super::BrokerBuilder::disk_free_limit), or the store's
    /// writes failing (being retried). Always false without a data directory.
    pub fn disk_alarm(&self) -> bool {
        self.inner
            .store
            .as_ref()
            .is_some_and(super::store::Store::disk_alarm)
    }
}
