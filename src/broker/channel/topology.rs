//! The topology methods of a channel: declaring, binding, unbinding, purging and
//! deleting exchanges and queues (AMQP's `exchange.*` and `queue.*`), each checked
//! against the user's permissions and run under the channel's error rule (a refusal
//! closes the channel). The vhost does the work; this file owns only the AMQP-facing
//! checks and the channel side. It does not touch deliveries or confirms.

use super::super::access::{Perm, Resource};
use super::super::error::BrokerError;
use super::super::options::{ExchangeDeclare, QueueDeclare, QueueDeclareOk};
use super::super::sync::lock;
use super::{Channel, REPLY_TO};
use crate::{Destination, FieldTable};

impl Channel {
    /// `exchange.declare`: declares an exchange of `kind` (`direct`, `fanout`,
    /// `topic`, `headers`), or checks an existing one.
    ///
    /// # Errors
    ///
    /// 404 (passive, missing), 403 (`amq.` prefix, default exchange), 406 (unknown
    /// type, inequivalent redeclare, bad `alternate-exchange`).
    pub fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        options: &ExchangeDeclare,
    ) -> Result<(), BrokerError> {
        self.shared.run(|s| {
            s.vhost()
                .exchange_declare(name, kind, options, s.conn.who())
        })
    }

    /// `exchange.delete`. Deleting a missing exchange is fine.
    ///
    /// # Errors
    ///
    /// 403 (default or `amq.*` exchange; no configure permission), 406 (`if_unused`
    /// and it has bindings).
    pub fn exchange_delete(&self, name: &str, if_unused: bool) -> Result<(), BrokerError> {
        self.shared.run(|s| {
            // The default and `amq.*` exchanges are refused before permissions.
            if !name.is_empty() && !name.starts_with("amq.") {
                s.conn
                    .who()
                    .check(Perm::Configure, Resource::Exchange, name)?;
            }
            s.vhost().exchange_delete(name, if_unused)
        })
    }

    /// `exchange.bind`: routes what `source` matches with `key` on to `destination`.
    ///
    /// # Errors
    ///
    /// 404 (either exchange missing), 403 (default exchange), 406 (bad key or
    /// arguments).
    pub fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        arguments: &FieldTable,
    ) -> Result<(), BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            s.check_bind(Resource::Exchange, destination, source)?;
            let to = Destination::Exchange(destination);
            s.vhost()
                .bind(conn, source, to, key, arguments, false)
                .map(|_| ())
        })
    }

    /// `exchange.unbind`; returns whether a binding was removed. As in RabbitMQ
    /// 3.10.8 it is idempotent: a missing source, destination or binding gives
    /// `Ok(false)` (CONFORMANCE E04).
    ///
    /// # Errors
    ///
    /// 403 (default exchange).
    pub fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        arguments: &FieldTable,
    ) -> Result<bool, BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            s.check_bind(Resource::Exchange, destination, source)?;
            let to = Destination::Exchange(destination);
            s.vhost().bind(conn, source, to, key, arguments, true)
        })
    }

    /// `queue.declare`: declares a queue (an empty name gets a server-generated
    /// `amq.gen-...` name), or checks an existing one; returns its name and counts.
    /// The channel remembers the name for later empty queue names.
    ///
    /// # Errors
    ///
    /// 404 (passive, missing), 405 (another connection's exclusive queue, or other
    /// exclusivity), 406 (inequivalent durable, auto-delete or arguments; invalid
    /// arguments), 403 (`amq.` prefix).
    pub fn queue_declare(
        &self,
        name: &str,
        options: &QueueDeclare,
    ) -> Result<QueueDeclareOk, BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            if name == REPLY_TO {
                // The direct reply-to pseudo-queue declares as RabbitMQ 3.10.8's does.
                return Ok(QueueDeclareOk {
                    queue: REPLY_TO.into(),
                    message_count: 0,
                    consumer_count: 1,
                });
            }
            let who = s.conn.who();
            let ok = if name.is_empty() && !options.passive {
                s.vhost().queue_declare(conn, "", options, true, who)?
            } else {
                // A passive declare names its queue: `''` is not the last declared
                // one (RabbitMQ 3.10.8: 404 "no queue ''").
                s.vhost().queue_declare(conn, name, options, false, who)?
            };
            if options.exclusive && !options.passive {
                s.conn.own_queue(&ok.queue);
            }
            lock(&s.state).last_queue = Some(ok.queue.clone());
            Ok(ok)
        })
    }

    /// `queue.bind`.
    ///
    /// # Errors
    ///
    /// 404 (queue or exchange missing), 403 (default exchange), 405 (another
    /// connection's exclusive queue), 406 (bad key or arguments).
    pub fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        arguments: &FieldTable,
    ) -> Result<(), BrokerError> {
        self.bind_queue(queue, exchange, key, arguments, false)
            .map(|_| ())
    }

    /// `queue.unbind`; returns whether a binding was removed. As in RabbitMQ 3.10.8
    /// it is idempotent: a missing queue, exchange or binding gives `Ok(false)`
    /// (CONFORMANCE E04).
    ///
    /// # Errors
    ///
    /// 403 (default exchange), 405 (another connection's exclusive queue), 404 for
    /// an empty queue name on a channel that declared none.
    pub fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        arguments: &FieldTable,
    ) -> Result<bool, BrokerError> {
        self.bind_queue(queue, exchange, key, arguments, true)
    }

    /// `queue.bind` (`unbind = false`) or `queue.unbind`.
    fn bind_queue(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        arguments: &FieldTable,
        unbind: bool,
    ) -> Result<bool, BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            let queue = s.queue_name(queue)?;
            s.check_bind(Resource::Queue, &queue, exchange)?;
            let to = Destination::Queue(&queue);
            s.vhost().bind(conn, exchange, to, key, arguments, unbind)
        })
    }

    /// `queue.purge`: removes the ready messages (not the unacked ones); returns how
    /// many.
    ///
    /// # Errors
    ///
    /// 404 (missing), 405 (another connection's exclusive queue).
    pub fn queue_purge(&self, queue: &str) -> Result<u32, BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            let queue = s.queue_name(queue)?;
            s.conn.who().check(Perm::Read, Resource::Queue, &queue)?;
            let cell = s.vhost().queue_for(conn, &queue)?;
            Ok(cell.purge().min(u64::from(u32::MAX)) as u32)
        })
    }

    /// `queue.delete`: deletes a queue, its messages and bindings, and cancels its
    /// consumers; returns its ready message count. A missing queue gives 0.
    ///
    /// # Errors
    ///
    /// 405 (another connection's exclusive queue), 406 (`if_unused` with consumers,
    /// `if_empty` with ready messages).
    pub fn queue_delete(
        &self,
        queue: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<u32, BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            let queue = s.queue_name(queue)?;
            s.conn
                .who()
                .check(Perm::Configure, Resource::Queue, &queue)?;
            s.vhost().queue_delete(conn, &queue, if_unused, if_empty)
        })
    }
}
