//! Errors: one type per failing operation, each with its AMQP reply code.
//!
//! Lookups never fail (no match is an empty result); only building does: parsing a
//! pattern, declaring or deleting an exchange or queue, binding, and publishing to an
//! exchange that cannot take the message.

use std::fmt;

/// AMQP 0-9-1 reply code 403 ACCESS_REFUSED.
pub const ACCESS_REFUSED: u16 = 403;
/// AMQP 0-9-1 reply code 404 NOT_FOUND.
pub const NOT_FOUND: u16 = 404;
/// AMQP 0-9-1 reply code 406 PRECONDITION_FAILED.
pub const PRECONDITION_FAILED: u16 = 406;

/// A binding key that [`Pattern::new`](crate::topic::Pattern::new) refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is longer than the structure accepts.
    TooLong {
        /// Length of the refused pattern, in bytes.
        len: usize,
        /// The largest accepted length.
        max: usize,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::TooLong { len, max } => {
                write!(f, "pattern of {len} bytes is longer than {max} bytes")
            }
        }
    }
}

impl std::error::Error for PatternError {}

/// Which kind of object an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// An exchange.
    Exchange,
    /// A queue.
    Queue,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Exchange => "exchange",
            ObjectKind::Queue => "queue",
        })
    }
}

/// Why a declare (exchange or queue) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeclareError {
    /// The name is reserved (`amq.` prefix, or the default exchange `""`): 403.
    AccessRefused {
        /// What was declared.
        kind: ObjectKind,
        /// The refused name.
        name: String,
    },
    /// The object exists with other properties: 406.
    Inequivalent {
        /// What was declared.
        kind: ObjectKind,
        /// Its name.
        name: String,
        /// The property that differs.
        property: &'static str,
    },
    /// The name is empty (queues) or longer than 255 bytes: 406.
    InvalidName {
        /// What was declared.
        kind: ObjectKind,
        /// Length of the name, in bytes.
        len: usize,
    },
    /// The exchange type is not one of direct, fanout, topic, headers: 406.
    UnknownType {
        /// The refused type name.
        name: String,
    },
}

impl DeclareError {
    /// The AMQP reply code (403 or 406); a channel error.
    pub fn reply_code(&self) -> u16 {
        match self {
            DeclareError::AccessRefused { .. } => ACCESS_REFUSED,
            _ => PRECONDITION_FAILED,
        }
    }
}

impl fmt::Display for DeclareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclareError::AccessRefused { kind, name } if name.is_empty() => {
                write!(f, "operation not permitted on the default {kind}")
            }
            DeclareError::AccessRefused { kind, name } => {
                write!(f, "{kind} name '{name}' contains reserved prefix 'amq.*'")
            }
            DeclareError::Inequivalent {
                kind,
                name,
                property,
            } => write!(f, "inequivalent arg '{property}' for {kind} '{name}'"),
            DeclareError::InvalidName { kind, len: 0 } => write!(f, "empty {kind} name"),
            DeclareError::InvalidName { kind, len } => {
                write!(f, "{kind} name of {len} bytes is longer than 255 bytes")
            }
            DeclareError::UnknownType { name } => write!(f, "unknown exchange type '{name}'"),
        }
    }
}

impl std::error::Error for DeclareError {}

/// Why a delete (exchange or queue) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteError {
    /// The object may not be deleted (`amq.*` exchanges, the default exchange): 403.
    AccessRefused {
        /// What was deleted.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// `if_unused` was given and the exchange is the source of a binding: 406.
    InUse {
        /// What was deleted.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
}

impl DeleteError {
    /// The AMQP reply code (403 or 406); a channel error.
    pub fn reply_code(&self) -> u16 {
        match self {
            DeleteError::AccessRefused { .. } => ACCESS_REFUSED,
            DeleteError::InUse { .. } => PRECONDITION_FAILED,
        }
    }
}

impl fmt::Display for DeleteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeleteError::AccessRefused { kind, name } if name.is_empty() => {
                write!(f, "operation not permitted on the default {kind}")
            }
            DeleteError::AccessRefused { kind, name } => {
                write!(f, "operation not permitted on {kind} '{name}'")
            }
            DeleteError::InUse { kind, name } => write!(f, "{kind} '{name}' in use"),
        }
    }
}

impl std::error::Error for DeleteError {}

/// Why a bind or unbind was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindError {
    /// The source exchange or the destination does not exist: 404.
    NotFound {
        /// What is missing.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// Binding to or from the default exchange: 403.
    AccessRefused {
        /// The exchange's name (empty for the default exchange).
        name: String,
    },
    /// The binding key is longer than 255 bytes: 406.
    KeyTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The topic binding key has more `#` words than the table allows: 406.
    TooManyHashes {
        /// Number of `#` words in the key.
        count: usize,
        /// The table's limit.
        max: usize,
    },
    /// The arguments are invalid for this exchange (e.g. a bad `x-match`): 406.
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// The topic binding key breaks the table's dialect (an MQTT filter with `#` not
    /// last, a NATS subject with an empty token...): 406.
    InvalidKey {
        /// The rule broken, as the dialect's specification words it.
        reason: String,
    },
}

impl BindError {
    /// The AMQP reply code (403, 404 or 406); a channel error.
    pub fn reply_code(&self) -> u16 {
        match self {
            BindError::NotFound { .. } => NOT_FOUND,
            BindError::AccessRefused { .. } => ACCESS_REFUSED,
            _ => PRECONDITION_FAILED,
        }
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::NotFound { kind, name } => write!(f, "no {kind} '{name}'"),
            BindError::AccessRefused { .. } => {
                write!(f, "operation not permitted on the default exchange")
            }
            BindError::KeyTooLong { len } => {
                write!(f, "binding key of {len} bytes is longer than 255 bytes")
            }
            BindError::TooManyHashes { count, max } => write!(
                f,
                "binding key has {count} '#' words; at most {max} are allowed"
            ),
            BindError::InvalidArgument { reason } => write!(f, "invalid arg: {reason}"),
            BindError::InvalidKey { reason } => write!(f, "invalid binding key: {reason}"),
        }
    }
}

impl std::error::Error for BindError {}

/// Why a message could not be routed at all (as opposed to routing nowhere, which is
/// an empty result).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// The exchange does not exist: 404.
    NotFound {
        /// Its name.
        name: String,
    },
    /// The exchange is internal and cannot take publishes: 403.
    Internal {
        /// Its name.
        name: String,
    },
    /// The routing key is longer than 255 bytes: 406.
    KeyTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A `CC` or `BCC` header is not an array of strings: 406 (CONFORMANCE R06).
    ///
    /// RabbitMQ 3.x refuses a `CC`/`BCC` that is not an array but silently skips
    /// non-string elements inside one; this table refuses both, so a publisher learns
    /// that some of its keys were not used.
    InvalidCc {
        /// `"CC"` or `"BCC"`.
        header: &'static str,
    },
}

impl RouteError {
    /// The AMQP reply code (403, 404 or 406); a channel error.
    pub fn reply_code(&self) -> u16 {
        match self {
            RouteError::NotFound { .. } => NOT_FOUND,
            RouteError::Internal { .. } => ACCESS_REFUSED,
            _ => PRECONDITION_FAILED,
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::NotFound { name } => write!(f, "no exchange '{name}'"),
            RouteError::Internal { name } => {
                write!(f, "cannot publish to internal exchange '{name}'")
            }
            RouteError::KeyTooLong { len } => {
                write!(f, "routing key of {len} bytes is longer than 255 bytes")
            }
            RouteError::InvalidCc { header } => {
                write!(f, "invalid '{header}' header: expected an array of strings")
            }
        }
    }
}

impl std::error::Error for RouteError {}
