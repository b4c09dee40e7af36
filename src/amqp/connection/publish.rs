//! Publishing on one connection: a complete message from the content assembler goes
//! to the broker on its channel; a mandatory message that routes nowhere comes back as
//! basic.return, and a confirm is recorded for the coalesced acks. Flow control
//! (`flow`) decides when frames are read, not this file.

use super::{Conn, Failure, Fault, broker_failure};
use crate::amqp::content::Content;
use crate::amqp::method::{Publish, Reply};
use crate::broker::{self, Message, PublishOptions};

impl Conn {
    pub(super) fn publish(&mut self, channel: u16, content: Content) -> Result<(), Failure> {
        let Content {
            publish:
                Publish {
                    exchange,
                    routing_key,
                    mandatory,
                    immediate,
                },
            header,
            body,
        } = content;
        let ids = (60, 40);
        let message = Message {
            properties: header.properties,
            body: body.into(),
        };
        let published = self
            .channel(channel)?
            .publish(
                &exchange,
                &routing_key,
                message,
                PublishOptions {
                    mandatory,
                    immediate,
                },
            )
            .map_err(|e| broker_failure(&e, ids))?;
        if let Some(r) = &published.returned {
            self.emit_return(channel, r)?;
        }
        if let Some(seq) = published.seq {
            self.confirm_when_synced(channel, seq, published.ack, published.synced)?;
        }
        Ok(())
    }

    /// `basic.return` of an unroutable mandatory message.
    pub(super) fn emit_return(&mut self, channel: u16, r: &broker::Returned) -> Result<(), Fault> {
        let reply = Reply::Return {
            reply_code: r.reply_code,
            reply_text: r.reply_text.clone(),
            exchange: r.exchange.clone(),
            routing_key: r.routing_key.clone(),
        };
        self.emit_content(channel, &reply, &r.message)
    }
}
