//! [`BrokerError`]: every refusal of the broker, with its AMQP reply code and scope.

use std::fmt;

/// What an error closes, as in AMQP: a channel error closes the channel it happened
/// on (the connection survives); a connection error closes the whole connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The channel is closed; its connection and other channels go on.
    Channel,
    /// The connection and all its channels are closed.
    Connection,
}

/// An error of a broker operation.
///
/// It carries the AMQP reply code ([`reply_code`](Self::reply_code)), what it closes
/// ([`scope`](Self::scope)) and RabbitMQ's reply text (`NOT_FOUND - no queue 'x' in
/// vhost '/'`), so a wire server maps it without guessing. Once a channel is closed,
/// every further call on it fails with an error for which
/// [`is_closed`](Self::is_closed) is true and which repeats the original cause.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::{Broker, QueueDeclare, Scope};
///
/// let broker = Broker::new();
/// let conn = broker.connect_default();
/// let ch = conn.open_channel().unwrap();
/// let err = ch.queue_declare("missing", &QueueDeclare::passive()).unwrap_err();
/// assert_eq!(err.reply_code(), 404);
/// assert_eq!(err.scope(), Scope::Channel);
/// assert_eq!(err.to_string(), "NOT_FOUND - no queue 'missing' in vhost '/'");
/// // The channel error closed the channel.
/// let again = ch.queue_declare("q", &QueueDeclare::default()).unwrap_err();
/// assert!(again.is_closed());
/// assert_eq!(again.reply_code(), 404);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerError {
    code: u16,
    scope: Scope,
    /// The text after the reply code's name.
    text: String,
    /// The error is "this channel or connection was already closed by `text`".
    closed: bool,
}

/// CHANNEL_ERROR / CONNECTION_FORCED: the broker closed it (shutdown).
pub(crate) const CONNECTION_FORCED: u16 = 320;
/// NO_ROUTE: an unroutable mandatory message.
pub(crate) const NO_ROUTE: u16 = 312;
pub(crate) const ACCESS_REFUSED: u16 = 403;
pub(crate) const NOT_FOUND: u16 = 404;
pub(crate) const RESOURCE_LOCKED: u16 = 405;
pub(crate) const PRECONDITION_FAILED: u16 = 406;
pub(crate) const CHANNEL_ERROR: u16 = 504;
pub(crate) const NOT_ALLOWED: u16 = 530;
pub(crate) const NOT_IMPLEMENTED: u16 = 540;

/// RabbitMQ's name of a reply code.
pub(crate) fn code_name(code: u16) -> &'static str {
    match code {
        200 => "OK",
        311 => "CONTENT_TOO_LARGE",
        312 => "NO_ROUTE",
        313 => "NO_CONSUMERS",
        320 => "CONNECTION_FORCED",
        402 => "INVALID_PATH",
        403 => "ACCESS_REFUSED",
        404 => "NOT_FOUND",
        405 => "RESOURCE_LOCKED",
        406 => "PRECONDITION_FAILED",
        501 => "FRAME_ERROR",
        502 => "SYNTAX_ERROR",
        503 => "COMMAND_INVALID",
        504 => "CHANNEL_ERROR",
        505 => "UNEXPECTED_FRAME",
        506 => "RESOURCE_ERROR",
        530 => "NOT_ALLOWED",
        540 => "NOT_IMPLEMENTED",
        541 => "INTERNAL_ERROR",
        _ => "ERROR",
    }
}

impl BrokerError {
    /// A channel error with `code` and `text` (without the code's name).
    pub(crate) fn channel(code: u16, text: impl Into<String>) -> BrokerError {
        BrokerError {
            code,
            scope: Scope::Channel,
            text: text.into(),
            closed: false,
        }
    }

    /// A connection error with `code` and `text`.
    pub(crate) fn connection(code: u16, text: impl Into<String>) -> BrokerError {
        BrokerError {
            code,
            scope: Scope::Connection,
            text: text.into(),
            closed: false,
        }
    }

    /// The same cause, reported for a call on what it already closed.
    pub(crate) fn as_closed(&self) -> BrokerError {
        BrokerError {
            closed: true,
            ..self.clone()
        }
    }

    /// Appends RabbitMQ's ` in vhost '...'` to a 404's text.
    pub(crate) fn in_vhost(mut self, vhost: &str) -> BrokerError {
        if self.code == NOT_FOUND && !self.text.contains(" in vhost '") {
            self.text.push_str(&format!(" in vhost '{vhost}'"));
        }
        self
    }

    /// The AMQP reply code: 403, 404, 405, 406 (channel errors), 320, 504, 530, 540
    /// (connection errors), ...
    pub fn reply_code(&self) -> u16 {
        self.code
    }

    /// Whether the error closed the channel or the whole connection.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// RabbitMQ's reply text: the code's name, ` - `, and what went wrong, e.g.
    /// `NOT_FOUND - no queue 'x' in vhost '/'`. This is what a wire server sends in
    /// `Channel.Close` or `Connection.Close`.
    pub fn reply_text(&self) -> String {
        format!("{} - {}", code_name(self.code), self.text)
    }

    /// Whether this reports a call on a channel or connection that an earlier error
    /// (or a close) had already closed; the code and text are that earlier cause.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            let what = match self.scope {
                Scope::Channel => "channel",
                Scope::Connection => "connection",
            };
            write!(f, "{what} closed: ")?;
        }
        write!(f, "{} - {}", code_name(self.code), self.text)
    }
}

impl std::error::Error for BrokerError {}

/// The table's errors are channel errors with their own codes.
macro_rules! from_table_error {
    ($($t:ty),*) => {$(
        impl From<$t> for BrokerError {
            fn from(e: $t) -> BrokerError {
                BrokerError::channel(e.reply_code(), e.to_string())
            }
        }
    )*};
}
from_table_error!(
    crate::DeclareError,
    crate::DeleteError,
    crate::BindError,
    crate::RouteError
);
