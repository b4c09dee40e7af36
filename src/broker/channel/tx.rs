//! Transactions (`tx.select`, `tx.commit`, `tx.rollback`, CONFORMANCE T01, T02), as
//! RabbitMQ runs them on a channel.
//!
//! After `tx.select`, a publish is checked when it is made (the exchange exists and
//! takes publishes, size, `expiration`, `CC`/`BCC`: the same errors at the same time
//! as without a transaction) and then held; an ack, nack or reject takes its
//! deliveries off the channel's unacked list at once (an unknown tag is a 406 then)
//! and is held too. `tx.commit` applies everything held, in order: publishes are
//! routed and enqueued (mandatory returns come back from the commit), settlements
//! reach their queues. `tx.rollback` drops the held publishes and puts the held
//! deliveries back on the unacked list: the messages stay unacked. A channel that
//! closes with held work drops the publishes and requeues the deliveries with the rest
//! of its unacked messages.
//!
//! Held message bodies count toward the broker's memory (the server's watermark), so a
//! transaction that is never committed cannot grow without the publisher being held.

use std::sync::atomic::Ordering::Relaxed;

use super::{Channel, ChannelShared, Taken, Unacked};
use crate::broker::error::{BrokerError, PRECONDITION_FAILED};
use crate::broker::message::Message;
use crate::broker::options::Returned;
use crate::broker::sync::lock;
use crate::broker::vhost::Routed;

/// One held operation of a transaction.
#[derive(Debug)]
pub(super) enum TxOp {
    /// Boxed: a message is a few hundred bytes, a settlement a few words.
    Publish(Box<HeldPublish>),
    /// Deliveries taken off the unacked list: ack (`requeue == None`), requeue, or
    /// reject/nack without requeue.
    Settle {
        taken: Vec<Unacked>,
        requeue: Option<bool>,
    },
}

/// A publish held until commit.
#[derive(Debug)]
pub(super) struct HeldPublish {
    exchange: String,
    routing_key: String,
    message: Message,
    mandatory: bool,
}

impl TxOp {
    /// Body bytes it holds (counted in the broker's memory).
    fn held_bytes(&self) -> u64 {
        match self {
            TxOp::Publish(p) => p.message.footprint(),
            TxOp::Settle { .. } => 0,
        }
    }
}

fn taken_vec(taken: Taken) -> Vec<Unacked> {
    match taken {
        Taken::One(u) => vec![u],
        Taken::Many(v) => v,
    }
}

impl ChannelShared {
    /// Whether the channel is transactional (`tx.select` was called): one atomic
    /// load, no lock, on the publish and ack paths.
    pub(crate) fn in_tx(&self) -> bool {
        self.tx.load(Relaxed)
    }

    /// Holds a checked publish until commit.
    pub(super) fn hold_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: Message,
        mandatory: bool,
    ) {
        let op = TxOp::Publish(Box::new(HeldPublish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            message,
            mandatory,
        }));
        self.vhost().memory.fetch_add(op.held_bytes(), Relaxed);
        self.hold(op);
    }

    /// Holds a settlement until commit.
    pub(super) fn hold_settle(&self, taken: Taken, requeue: Option<bool>) {
        self.hold(TxOp::Settle {
            taken: taken_vec(taken),
            requeue,
        });
    }

    fn hold(&self, op: TxOp) {
        let mut st = lock(&self.state);
        match &mut st.tx {
            Some(ops) => ops.push(op),
            // The channel left tx mode meanwhile (it closed): undo at once.
            None => {
                drop(st);
                self.undo(vec![op], true);
            }
        }
    }

    /// Undoes held operations: publishes are dropped; taken deliveries go back on the
    /// unacked list (`requeue == false`, a rollback) or to their queues (`true`, the
    /// channel closed).
    pub(super) fn undo(&self, ops: Vec<TxOp>, requeue: bool) {
        let mut back = Vec::new();
        for op in ops {
            self.vhost().memory.fetch_sub(op.held_bytes(), Relaxed);
            if let TxOp::Settle { taken, .. } = op {
                back.extend(taken);
            }
        }
        if back.is_empty() {
            return;
        }
        if requeue {
            self.settle(Taken::Many(back), Some(true));
            return;
        }
        let mut st = lock(&self.state);
        if st.closed.is_some() {
            drop(st);
            self.settle(Taken::Many(back), Some(true));
            return;
        }
        for u in back {
            let i = st.unacked.partition_point(|x| x.tag < u.tag);
            st.unacked.insert(i, u);
        }
    }
}

fn not_transactional() -> BrokerError {
    BrokerError::channel(PRECONDITION_FAILED, "channel is not transactional")
}

impl Channel {
    /// `tx.select`: makes the channel transactional. From now on its publishes, acks,
    /// nacks and rejects are held until [`tx_commit`](Self::tx_commit) (see
    /// [`Channel`]'s transaction notes in the [module docs](crate::broker)). Selecting
    /// twice is fine.
    ///
    /// # Errors
    ///
    /// 406 on a channel in confirm mode (`cannot switch from confirm to tx mode`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::broker::{Broker, Message, PublishOptions, QueueDeclare};
    ///
    /// let broker = Broker::new();
    /// let conn = broker.connect_default();
    /// let ch = conn.open_channel().unwrap();
    /// ch.queue_declare("jobs", &QueueDeclare::default()).unwrap();
    /// ch.tx_select().unwrap();
    /// ch.publish("", "jobs", Message::new("a"), PublishOptions::default()).unwrap();
    /// assert!(ch.get("jobs", true).unwrap().is_none()); // held
    /// ch.tx_commit().unwrap();
    /// assert_eq!(ch.get("jobs", true).unwrap().unwrap().delivery.body(), b"a");
    ///
    /// ch.publish("", "jobs", Message::new("b"), PublishOptions::default()).unwrap();
    /// ch.tx_rollback().unwrap(); // "b" never reaches the queue
    /// assert!(ch.get("jobs", true).unwrap().is_none());
    /// ```
    pub fn tx_select(&self) -> Result<(), BrokerError> {
        self.shared.run(|s| {
            let mut st = lock(&s.state);
            if st.confirm {
                return Err(BrokerError::channel(
                    PRECONDITION_FAILED,
                    "cannot switch from confirm to tx mode",
                ));
            }
            st.tx.get_or_insert_with(Vec::new);
            s.tx.store(true, Relaxed);
            Ok(())
        })
    }

    /// `tx.commit`: applies the held publishes and settlements in the order they were
    /// made; returns the held mandatory publishes that reached no queue (for
    /// `basic.return`, in publish order). The channel stays transactional. With a
    /// data directory it returns once the persistent messages it put in durable
    /// queues are on stable storage.
    ///
    /// # Errors
    ///
    /// 406 if the channel is not transactional.
    pub fn tx_commit(&self) -> Result<Vec<Returned>, BrokerError> {
        let (returned, synced) = self.tx_commit_unsynced()?;
        if let Some(p) = synced {
            p.wait();
        }
        Ok(returned)
    }

    /// [`tx_commit`](Self::tx_commit) without waiting for the disk: also returns the
    /// point to wait for before `tx.commit-ok` (the wire server awaits it).
    pub(crate) fn tx_commit_unsynced(
        &self,
    ) -> Result<(Vec<Returned>, Option<crate::broker::SyncPoint>), BrokerError> {
        self.shared.run(|s| {
            let mut synced: Option<crate::broker::SyncPoint> = None;
            let ops = {
                let mut st = lock(&s.state);
                std::mem::take(st.tx.as_mut().ok_or_else(not_transactional)?)
            };
            let mut returned = Vec::new();
            for op in ops {
                s.vhost().memory.fetch_sub(op.held_bytes(), Relaxed);
                match op {
                    TxOp::Publish(p) => {
                        let HeldPublish {
                            exchange,
                            routing_key,
                            mut message,
                            mandatory,
                        } = *p;
                        // Checked when it was published; an exchange deleted since
                        // leaves it unroutable.
                        match s
                            .vhost()
                            .publish(&exchange, &routing_key, &mut message, mandatory)
                        {
                            Ok(Routed::Unroutable(Some(r))) => returned.push(*r),
                            Ok(Routed::Queues {
                                synced: Some(p), ..
                            }) => {
                                synced = Some(match synced.take() {
                                    Some(q) => q.max(p),
                                    None => p,
                                });
                            }
                            Ok(_) => {}
                            Err(_) if mandatory => returned.push(Returned {
                                reply_code: crate::broker::error::NO_ROUTE,
                                reply_text: "NO_ROUTE".into(),
                                exchange,
                                routing_key,
                                message,
                            }),
                            Err(_) => {}
                        }
                    }
                    TxOp::Settle { taken, requeue } => s.settle(Taken::Many(taken), requeue),
                }
            }
            Ok((returned, synced))
        })
    }

    /// `tx.rollback`: drops the held publishes (they never reach a queue) and the held
    /// settlements (their deliveries stay unacked). The channel stays transactional.
    ///
    /// # Errors
    ///
    /// 406 if the channel is not transactional.
    pub fn tx_rollback(&self) -> Result<(), BrokerError> {
        self.shared.run(|s| {
            let ops = {
                let mut st = lock(&s.state);
                std::mem::take(st.tx.as_mut().ok_or_else(not_transactional)?)
            };
            s.undo(ops, false);
            Ok(())
        })
    }

    /// Whether the channel is transactional.
    pub fn is_transactional(&self) -> bool {
        self.shared.in_tx()
    }
}
