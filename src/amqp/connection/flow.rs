//! Flow control of one connection: the memory watermark over what the broker holds
//! plus the unfinished publishes of every connection, and the broker's disk alarm
//! (free disk under `disk_free_limit`, or the store's writes failing),
//! `connection.blocked` / `connection.unblocked`, and the in-flight body accounting
//! behind it.
//!
//! As RabbitMQ 3.10.8 does (compared on a node with `set_vm_memory_high_watermark`):
//! while memory is over the watermark, a connection that publishes (a `basic.publish`,
//! a content header or a body frame) stops being read after that frame, and is told
//! `connection.blocked` if it asked for the capability; connections that only consume
//! and ack go on being read. Reading resumes (with `connection.unblocked`) once memory
//! is back under the watermark.
//!
//! A blocked connection's frames are not processed, but the socket is still read into
//! the frame reader (at most two frames) so that a close and the client's heartbeats
//! are seen. Once the reader is full the server does not read at all and cannot see
//! heartbeats: the frame loop does not count that time as silence, and the silence
//! clock restarts when the connection is unblocked. This file owns `Conn::blocked`, `Conn::blocked_sent` and
//! `Conn::inflight`; it never touches channels or consumers.

use std::sync::atomic::Ordering::Relaxed;

use super::{Conn, Fault, close};
use crate::amqp::method::Reply;

impl Conn {
    /// Whether memory in use is at or over the watermark (never, with watermark 0):
    /// what the broker holds plus unfinished publishes on every connection.
    pub(super) fn over_watermark(&self) -> bool {
        let watermark = self.shared.config.limits.memory_high_watermark;
        (watermark != 0 && self.shared.memory_in_use() >= watermark)
            || self.shared.broker.disk_alarm()
    }

    /// After a publish frame: over the watermark, stop reading this connection and
    /// tell the client if it listens for `connection.blocked`.
    pub(super) fn block_if_over(&mut self) -> Result<(), Fault> {
        if self.blocked || !self.over_watermark() {
            return Ok(());
        }
        self.blocked = true;
        tracing::debug!(peer = %self.peer, "memory watermark reached; not reading this publisher");
        if self.caps.connection_blocked && !self.blocked_sent {
            // RabbitMQ 3.10.8's reasons.
            let reason = if self.shared.broker.disk_alarm() {
                "low on disk"
            } else {
                "low on memory"
            };
            self.emit(
                0,
                &Reply::Blocked {
                    reason: reason.into(),
                },
            )?;
            self.blocked_sent = true;
        }
        Ok(())
    }

    /// Resumes a blocked connection once memory is under the watermark. Returns
    /// whether it did (the caller restarts its heartbeat clock and drains the frames
    /// it had read before blocking).
    pub(super) fn unblock_if_under(&mut self) -> Result<bool, Fault> {
        if !self.blocked || self.over_watermark() {
            return Ok(false);
        }
        self.blocked = false;
        if self.blocked_sent {
            self.blocked_sent = false;
            self.emit(0, &Reply::Unblocked)?;
        }
        Ok(true)
    }

    /// Records that this connection's half-received bodies went from `before` to
    /// `after` bytes, here and in the server-wide total; refuses a connection whose
    /// own total passes [`Conn::inflight_limit`] (RabbitMQ's 506).
    pub(super) fn account_inflight(&mut self, before: usize, after: usize) -> Result<(), Fault> {
        // Most frames (methods, single-frame messages) hold nothing before or after:
        // no write to the server-wide counter, which every connection shares.
        if before == after {
            return Ok(());
        }
        self.inflight = self.inflight - before + after;
        if after > before {
            self.shared
                .inflight
                .fetch_add((after - before) as u64, Relaxed);
        } else {
            self.shared
                .inflight
                .fetch_sub((before - after) as u64, Relaxed);
        }
        if self.inflight > self.inflight_limit() {
            return Err(close(
                506,
                format!(
                    "RESOURCE_ERROR - more than {} bytes of unfinished publishes",
                    self.inflight_limit()
                ),
                (60, 40),
            ));
        }
        Ok(())
    }

    /// Most body bytes of unfinished publishes a connection may hold across its
    /// channels: two maximum-size messages (one channel needs one).
    fn inflight_limit(&self) -> usize {
        usize::try_from(self.shared.config.limits.max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
    }
}
