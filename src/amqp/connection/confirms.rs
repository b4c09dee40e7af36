//! Publisher confirms on the wire (CONFORMANCE P03): acks decided by publishes are
//! coalesced per channel into one `basic.ack` with `multiple`, written at the next flush
//! (after the deliveries that flush carries); a nack writes the run before it first.

use super::{Conn, Fault};
use crate::amqp::method::Reply;

/// Consecutive acked publish sequence numbers `first..=last` of one channel.
#[derive(Debug, Clone, Copy)]
pub(super) struct AckRun {
    channel: u16,
    first: u64,
    last: u64,
}

impl Conn {
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
