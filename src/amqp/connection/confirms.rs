//! Publisher confirms on the wire (CONFORMANCE P03): acks decided by publishes are
//! coalesced per channel into one `basic.ack` with `multiple`, written at the next flush
//! (after the deliveries that flush carries); a nack writes the run before it first.
//!
//! A confirm of a persistent message in a durable queue (CONFORMANCE S03) is held
//! until the store has synced it; every confirm decided after it is held behind it,
//! so they reach the client in publish order. Many publishers' confirms are released
//! by one sync (the store's group commit).

use std::collections::VecDeque;

use super::{Conn, Fault};
use crate::amqp::method::Reply;
use crate::broker::SyncPoint;

/// A confirm waiting for the store (or behind one that is).
#[derive(Debug)]
pub(super) struct Held {
    pub(super) channel: u16,
    seq: u64,
    ack: bool,
    synced: Option<SyncPoint>,
}

impl Held {
    fn ready(&self) -> bool {
        self.synced.as_ref().is_none_or(SyncPoint::is_synced)
    }
}

/// Resolves once the first held confirm can go (never, with none held).
pub(super) async fn held_synced(held: &VecDeque<Held>) {
    match held.front() {
        None => std::future::pending().await,
        Some(h) => {
            if let Some(p) = &h.synced {
                p.clone().await;
            }
        }
    }
}

/// Consecutive acked publish sequence numbers `first..=last` of one channel.
#[derive(Debug, Clone, Copy)]
pub(super) struct AckRun {
    channel: u16,
    first: u64,
    last: u64,
}

impl Conn {
    /// Records the confirm of publish `seq`, held while `synced` is not on disk yet
    /// or other confirms are held.
    pub(super) fn confirm_when_synced(
        &mut self,
        channel: u16,
        seq: u64,
        ack: bool,
        synced: Option<SyncPoint>,
    ) -> Result<(), Fault> {
        let held = Held {
            channel,
            seq,
            ack,
            synced,
        };
        if self.held.is_empty() && held.ready() {
            return self.confirm(channel, seq, ack);
        }
        self.held.push_back(held);
        Ok(())
    }

    /// Releases the held confirms whose sync is done, in order, and flushes them.
    pub(super) async fn release_held(&mut self) -> Result<(), Fault> {
        while self.held.front().is_some_and(Held::ready) {
            let h = self.held.pop_front().expect("front exists");
            self.confirm(h.channel, h.seq, h.ack)?;
        }
        self.flush().await
    }

    /// Records the confirm of publish `seq` on `channel`. Acks are coalesced into a
    /// run written at the next flush (CONFORMANCE P03); a nack first writes the run
    /// before it, then itself, so the client sees them in sequence order.
    pub(super) fn confirm(&mut self, channel: u16, seq: u64, ack: bool) -> Result<(), Fault> {
        let at = self.confirms.iter().position(|r| r.channel == channel);
        if ack {
            match at.map(|i| &mut self.confirms[i]) {
                Some(run) if run.last + 1 == seq => run.last = seq,
                Some(_) => {
                    self.emit_confirms_of(channel)?;
                    self.confirms.push(AckRun {
                        channel,
                        first: seq,
                        last: seq,
                    });
                }
                None => self.confirms.push(AckRun {
                    channel,
                    first: seq,
                    last: seq,
                }),
            }
            return Ok(());
        }
        self.emit_confirms_of(channel)?;
        self.emit(
            channel,
            &Reply::Nack {
                delivery_tag: seq,
                multiple: false,
                requeue: false,
            },
        )
    }

    /// Writes the pending ack runs: one `basic.ack` per channel, `multiple` when it
    /// covers more than one publish.
    pub(super) fn emit_confirms(&mut self) -> Result<(), Fault> {
        if self.confirms.is_empty() {
            return Ok(());
        }
        let runs = std::mem::take(&mut self.confirms);
        for run in &runs {
            self.emit_run(run)?;
        }
        // Keep the allocation.
        self.confirms = runs;
        self.confirms.clear();
        Ok(())
    }

    /// Writes `channel`'s pending ack run, if any.
    pub(super) fn emit_confirms_of(&mut self, channel: u16) -> Result<(), Fault> {
        match self.confirms.iter().position(|r| r.channel == channel) {
            Some(i) => {
                let run = self.confirms.swap_remove(i);
                self.emit_run(&run)
            }
            None => Ok(()),
        }
    }

    fn emit_run(&mut self, run: &AckRun) -> Result<(), Fault> {
        self.emit(
            run.channel,
            &Reply::Ack {
                delivery_tag: run.last,
                multiple: run.last > run.first,
            },
        )
    }
}
