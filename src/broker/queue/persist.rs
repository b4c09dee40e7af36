//! A queue's side of the store: writing its persistent messages' records, settling
//! them, paging bodies out and in, and taking recovered messages back. The store
//! itself (`broker::store`) knows nothing of queues; queue operations call these under
//! the queue's lock.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::{ENTRY_BYTES, Effects, Entry, QueueCell};
use crate::broker::message::StoredRef;
use crate::broker::store::{Loc, Mark, PublishOf, Store, SyncPoint};
use crate::broker::sync::lock;

/// A durable queue's place in the store.
#[derive(Debug)]
pub(crate) struct Persist {
    pub(crate) store: Store,
    /// The queue's id in the store (its messages' key).
    pub(crate) qid: u64,
    /// Above this many bytes of broker memory, new persistent messages keep their
    /// bodies on disk only (paged out).
    pub(crate) page_above: u64,
    /// Broker clock ms to wall ms (TTL deadlines are stored as absolute times).
    pub(crate) wall_base: u64,
}

/// A message recovered from the store, for [`QueueCell::recover`].
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) seq: u64,
    pub(crate) msg: StoredRef,
    pub(crate) len: u64,
    pub(crate) loc: Loc,
    /// Absolute (wall ms) deadline.
    pub(crate) deadline: Option<u64>,
    pub(crate) redelivered: bool,
    pub(crate) returns: u32,
}

impl QueueCell {
    /// Writes a new entry to the store if it is a persistent message of a durable
    /// queue; pages its body out when memory is over the threshold. Returns the
    /// point to sync for it.
    pub(super) fn persist_entry(&self, e: &mut Entry) -> Option<SyncPoint> {
        let p = self.persist.as_ref()?;
        if !e.msg.is_persistent() {
            return None;
        }
        let (loc, point) = p.store.publish(&PublishOf {
            qid: p.qid,
            seq: e.seq,
            returns: e.returns,
            deadline: e.deadline.map(|d| d.saturating_add(p.wall_base)),
            exchange: &e.msg.exchange,
            routing_key: &e.msg.routing_key,
            properties: &e.msg.message.properties,
            bcc: e.msg.bcc.as_deref(),
            body: &e.msg.message.body,
        });
        e.loc = Some(loc);
        self.page_out_if_over(p, e);
        Some(point)
    }

    /// Drops the body of an entry whose record holds it from memory while memory is
    /// over the paging threshold.
    fn page_out_if_over(&self, p: &Persist, e: &mut Entry) {
        if e.loc.is_some() && !e.paged && e.len > 0 && self.memory.load(Relaxed) > p.page_above {
            e.msg = Arc::new(e.msg.with_body(bytes::Bytes::new()));
            e.paged = true;
        }
    }

    /// Records a settlement of an entry in the store (nothing for an entry it does
    /// not hold). `Acked` on a deleted queue only releases the record: the
    /// definitions already say the queue's messages are gone.
    ///
    /// Invariant: an entry's record is released once. `Acked` takes the entry's
    /// `loc`, so a second settlement of the same entry writes nothing.
    pub(super) fn settled(&self, e: &mut Entry, mark: Mark) {
        let loc = if mark == Mark::Acked {
            e.loc.take()
        } else {
            e.loc
        };
        if let (Some(p), Some(loc)) = (&self.persist, loc) {
            p.store.mark(loc, mark);
        }
    }

    /// An entry of a deleted queue is gone (see [`settled`](Self::settled)).
    pub(super) fn forgotten(&self, e: &mut Entry) {
        if let (Some(p), Some(loc)) = (&self.persist, e.loc.take()) {
            p.store.forget(loc);
        }
    }

    /// An entry acked in the store when it went to a no-ack consumer comes back to
    /// the queue (its consumer ended before handing it out): written again.
    pub(super) fn persist_again(&self, e: &mut Entry) {
        if e.loc.is_none() && self.persist.is_some() {
            let _ = self.persist_entry(e);
        }
    }

    /// A requeued entry whose body is on disk too drops it from memory again while
    /// memory is over the paging threshold.
    pub(super) fn page_out_again(&self, e: &mut Entry) {
        if let Some(p) = &self.persist {
            self.page_out_if_over(p, e);
        }
    }

    /// Reads a paged-out body back; false (and the message is dropped, counted) if
    /// the store cannot give it.
    pub(super) fn load(&self, e: &mut Entry) -> bool {
        if !e.paged {
            return true;
        }
        let (Some(p), Some(loc)) = (&self.persist, e.loc) else {
            return false;
        };
        match p.store.read_body(loc) {
            Ok(body) => {
                e.msg = Arc::new(e.msg.with_body(body));
                e.paged = false;
                true
            }
            Err(_) => {
                self.stats.dropped.fetch_add(1, Relaxed);
                e.loc = None;
                p.store.mark(loc, Mark::Acked);
                false
            }
        }
    }

    /// Puts recovered messages in (the queue is new and has no consumers): their
    /// bodies stay on disk until delivered.
    pub(crate) fn recover(self: &Arc<Self>, mut msgs: Vec<Recovered>) {
        let Some(p) = &self.persist else { return };
        msgs.sort_by_key(|m| m.seq);
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            for m in msgs {
                let deadline = m.deadline.map(|d| d.saturating_sub(p.wall_base));
                if deadline.is_some() {
                    st.ttl_seen = true;
                }
                let e = Entry {
                    seq: m.seq,
                    level: self.level_of(&m.msg),
                    msg: m.msg,
                    deadline,
                    redelivered: m.redelivered,
                    returns: m.returns,
                    len: m.len,
                    loc: Some(m.loc),
                    paged: m.len > 0,
                };
                st.next_seq = st.next_seq.max(m.seq + 1);
                self.memory.fetch_add(ENTRY_BYTES, Relaxed);
                st.push_back(e);
            }
            let now = self.now_if_ttl(&st);
            self.expire(&mut st, now, &mut fx);
        }
        self.finish(fx);
    }
}
