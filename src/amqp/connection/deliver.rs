//! Deliveries of one connection: consumers polled in turn while the writer has room,
//! each delivery written as basic.deliver with its content, a batch of the ready ones
//! taken at once, and consumers that end (a deleted queue cancels with basic.cancel
//! for clients that take it). Owns `Conn::subs` and `Conn::rotate`; reaches the broker
//! only through its consumers.

use std::future::poll_fn;
use std::task::{Context, Poll};

use super::{Chan, Conn, DELIVERY_BATCH, Event, Fault, Sub, close};
use crate::amqp::codec;
use crate::amqp::method::Reply;
use crate::amqp::writer::Outbox;
use crate::broker::{CancelReason, Delivery};

/// The next delivery (or ended consumer), polled only while the writer has room.
pub(super) async fn next_event(out: &Outbox, subs: &mut [Sub], rotate: &mut usize) -> Event {
    out.wait_room().await;
    poll_fn(|cx| poll_subs(subs, rotate, cx)).await
}

fn poll_subs(subs: &mut [Sub], rotate: &mut usize, cx: &mut Context<'_>) -> Poll<Event> {
    let n = subs.len();
    for k in 0..n {
        let i = (*rotate + k) % n;
        match subs[i].consumer.poll_recv(cx) {
            Poll::Ready(Some(d)) => {
                *rotate = (i + 1) % n;
                return Poll::Ready(Event::Delivery(subs[i].channel, d));
            }
            Poll::Ready(None) => return Poll::Ready(Event::Ended(i)),
            Poll::Pending => {}
        }
    }
    Poll::Pending
}

impl Conn {
    pub(super) async fn on_event(&mut self, ev: Event) -> Result<(), Fault> {
        match ev {
            Event::Delivery(channel, d) => {
                self.emit_delivery(channel, &d)?;
                self.take_ready()?;
            }
            Event::Ended(i) => self.on_ended(i)?,
        }
        self.flush().await
    }

    /// Builds the deliveries that are ready now, without waiting, up to a batch.
    pub(super) fn take_ready(&mut self) -> Result<(), Fault> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while self.pending.len() < DELIVERY_BATCH {
            match poll_subs(&mut self.subs, &mut self.rotate, &mut cx) {
                Poll::Ready(Event::Delivery(channel, d)) => self.emit_delivery(channel, &d)?,
                Poll::Ready(Event::Ended(i)) => self.on_ended(i)?,
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    /// basic.deliver and the content, written straight into the buffer (no `Reply`,
    /// no owned strings: `codec::write_deliver`).
    fn emit_delivery(&mut self, channel: u16, d: &Delivery) -> Result<(), Fault> {
        codec::write_deliver(
            &mut self.pending,
            channel,
            d.consumer_tag().unwrap_or_default(),
            d.delivery_tag(),
            d.redelivered(),
            d.exchange(),
            d.routing_key(),
        );
        self.emit_body(channel, d.message())
    }

    fn on_ended(&mut self, i: usize) -> Result<(), Fault> {
        let sub = self.subs.swap_remove(i);
        if sub.consumer.cancel_reason() == Some(CancelReason::QueueDeleted)
            && self.caps.consumer_cancel_notify
            && matches!(self.channels.get(&sub.channel), Some(Chan::Open(_)))
        {
            self.emit(
                sub.channel,
                &Reply::Cancel {
                    consumer_tag: sub.tag,
                },
            )?;
        }
        if let Some(c) = &self.broker {
            if let Some(reason) = c.close_reason() {
                return Err(close(reason.reply_code(), reason.reply_text(), (0, 0)));
            }
        }
        Ok(())
    }
}
