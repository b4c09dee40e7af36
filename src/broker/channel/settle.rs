//! Settlement on a channel: delivery tags and the unacked deliveries they name, ack,
//! nack, reject and recover, and the prefetch credit they give back (CONFORMANCE D07
//! to D09). A transactional channel holds what it takes ([`tx`](super::tx)).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::{Channel, ChannelShared, Taken};
use crate::broker::error::{BrokerError, NOT_IMPLEMENTED, PRECONDITION_FAILED};
use crate::broker::queue::{Entry, QueueCell};
use crate::broker::sync::lock;

impl ChannelShared {
    /// Takes the unacked deliveries `tag` names (`multiple`: every one up to it; tag 0
    /// with `multiple`: all). 406 if the tag is unknown (nothing taken).
    pub(super) fn take_unacked(&self, tag: u64, multiple: bool) -> Result<Taken, BrokerError> {
        let mut st = lock(&self.state);
        if multiple && tag == 0 {
            return Ok(Taken::Many(st.unacked.drain(..).collect()));
        }
        let Ok(i) = st.unacked.binary_search_by_key(&tag, |u| u.tag) else {
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!("unknown delivery tag {tag}"),
            ));
        };
        if multiple {
            Ok(Taken::Many(st.unacked.drain(..=i).collect()))
        } else {
            Ok(Taken::One(st.unacked.remove(i).expect("found above")))
        }
    }

    /// Settles deliveries: ack (`requeue == None`), requeue, or reject/nack without
    /// requeue (dead-letter or drop).
    pub(super) fn settle(&self, taken: Taken, requeue: Option<bool>) {
        let taken = match taken {
            Taken::One(u) => {
                // The common case, without allocating.
                if let Some(c) = &u.consumer {
                    c.release(1);
                }
                if let Some(q) = u.queue {
                    let one = std::iter::once(u.entry);
                    match requeue {
                        None => q.settle(one, false),
                        Some(true) => q.requeue(one),
                        Some(false) => q.settle(one, true),
                    }
                }
                self.after_settle();
                return;
            }
            Taken::Many(v) => v,
        };
        // Return credit first, so dispatch below can use it.
        for u in &taken {
            if let Some(c) = &u.consumer {
                c.release(1);
            }
        }
        // Group by queue, keeping tag order within each.
        let mut groups: Vec<(Arc<QueueCell>, Vec<Entry>)> = Vec::new();
        for u in taken {
            let Some(q) = u.queue else { continue };
            match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, &q)) {
                Some((_, v)) => v.push(u.entry),
                None => groups.push((q, vec![u.entry])),
            }
        }
        for (q, entries) in groups {
            match requeue {
                None => q.settle(entries, false),
                Some(true) => q.requeue(entries),
                Some(false) => q.settle(entries, true),
            }
        }
        self.after_settle();
    }

    /// After credit came back.
    pub(super) fn after_settle(&self) {
        if self.credit.limit.load(Relaxed) != 0 {
            // Channel-wide credit came back.
            self.poke_consumed_queues();
        }
    }

    /// Lets every queue this channel consumes from dispatch again (the channel-wide
    /// credit changed). The queues are collected first: the channel's lock is a leaf.
    pub(super) fn poke_consumed_queues(&self) {
        let queues: Vec<Arc<QueueCell>> = lock(&self.state)
            .consumers
            .values()
            .map(|(_, q)| Arc::clone(q))
            .collect();
        for q in queues {
            q.poke();
        }
    }

    pub(crate) fn ack(this: &Arc<Self>, tag: u64, multiple: bool) -> Result<(), BrokerError> {
        this.run(|s| {
            let taken = s.take_unacked(tag, multiple)?;
            if s.in_tx() {
                s.hold_settle(taken, None);
            } else {
                s.settle(taken, None);
            }
            Ok(())
        })
    }

    pub(crate) fn nack(
        this: &Arc<Self>,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<(), BrokerError> {
        this.run(|s| {
            let taken = s.take_unacked(tag, multiple)?;
            if s.in_tx() {
                s.hold_settle(taken, Some(requeue));
            } else {
                s.settle(taken, Some(requeue));
            }
            Ok(())
        })
    }
}

impl Channel {
    /// `basic.ack`: acknowledges delivery `tag` (`multiple`: and every earlier one;
    /// tag 0 with `multiple`: everything outstanding).
    ///
    /// # Errors
    ///
    /// 406 for an unknown or already settled tag (nothing is settled, and the channel
    /// closes as in AMQP).
    pub fn ack(&self, tag: u64, multiple: bool) -> Result<(), BrokerError> {
        ChannelShared::ack(&self.shared, tag, multiple)
    }

    /// `basic.nack`: requeues (to the original position, marked redelivered) or
    /// dead-letters / drops delivery `tag` (`multiple` as for [`ack`](Self::ack)).
    ///
    /// # Errors
    ///
    /// 406 for an unknown or already settled tag.
    pub fn nack(&self, tag: u64, multiple: bool, requeue: bool) -> Result<(), BrokerError> {
        ChannelShared::nack(&self.shared, tag, multiple, requeue)
    }

    /// `basic.reject`: [`nack`](Self::nack) of one delivery.
    ///
    /// # Errors
    ///
    /// 406 for an unknown or already settled tag.
    pub fn reject(&self, tag: u64, requeue: bool) -> Result<(), BrokerError> {
        ChannelShared::nack(&self.shared, tag, false, requeue)
    }

    /// `basic.recover`: requeues every unacked delivery of the channel (redelivered).
    ///
    /// # Errors
    ///
    /// 540 (connection error) for `requeue = false`, as RabbitMQ.
    pub fn recover(&self, requeue: bool) -> Result<(), BrokerError> {
        self.shared.run(|s| {
            if !requeue {
                return Err(BrokerError::connection(NOT_IMPLEMENTED, "requeue=false"));
            }
            let taken = s.take_unacked(0, true)?;
            s.settle(taken, Some(true));
            Ok(())
        })
    }

    /// Number of unacked deliveries on this channel.
    pub fn unacked_count(&self) -> usize {
        lock(&self.shared.state).unacked.len()
    }
}
