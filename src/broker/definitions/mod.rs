//! Definitions: the broker's topology as RabbitMQ's definitions JSON (the format of
//! `rabbitmqctl export_definitions` / `import_definitions` and of the management
//! API's `GET /api/definitions`). The format, the import order, what is checked and
//! what is ignored are documented on [`Broker::import_definitions`] and
//! [`Broker::export_definitions`].
//!
//! This module owns the public API: the two methods, [`DefinitionsError`] and
//! [`ImportReport`], and the export's choice of what to write (which exchanges, queues
//! and bindings, in which order). It may not read or write JSON itself, nor check or
//! declare anything for an import; it hands those to its parts:
//!
//! - `format`: the serde types of the file, both directions, and the checks of a value
//!   on its own (types, lengths, names of types); knows nothing of the broker;
//! - `plan`: an import checked against the broker's state and against itself without
//!   changing anything, then applied through ordinary connections.
//!
//! An import runs in three steps: `format::read` parses the text into typed structs,
//! `Plan::check` checks them, `Plan::apply` declares.

use std::collections::BTreeSet;
use std::fmt;

use super::{Broker, BrokerError};

mod arguments;
#[cfg(feature = "management")]
pub(crate) use arguments::{table_from_json, table_to_json};
mod export;
mod format;
mod plan;

use arguments::Arguments;
use export::{
    BindingOut, EmptyObject, ExchangeOut, Export, PermissionOut, QueueOut, UserOut, VhostOut,
};
use format::DestinationType;

type Res<T> = Result<T, DefinitionsError>;

fn invalid(path: impl Into<String>, message: impl Into<String>) -> DefinitionsError {
    DefinitionsError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// Why [`Broker::import_definitions`] refused a file.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::{Broker, DefinitionsError};
///
/// let broker = Broker::new();
/// let json = r#"{"queues": [{"name": "q", "vhost": "/", "durable": "yes"}]}"#;
/// let err = broker.import_definitions(json).unwrap_err();
/// assert!(matches!(err, DefinitionsError::Invalid { .. }));
/// assert_eq!(err.path(), Some("queues[0].durable"));
/// assert_eq!(err.to_string(), "queues[0].durable: expected a boolean");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefinitionsError {
    /// The text is not JSON, or nests deeper than serde_json's recursion limit (128).
    /// Nothing was changed.
    Json {
        /// serde_json's message, with line and column.
        message: String,
    },
    /// The JSON does not describe valid definitions. Nothing was changed.
    Invalid {
        /// Where: `queues[3].arguments.x-max-length`; empty for the whole document.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The broker refused an object while the definitions were applied. Objects
    /// applied before it stay declared.
    Refused {
        /// The object's place in the file: `queues[3]`.
        path: String,
        /// The object: `queue 'q' in vhost '/'`.
        object: String,
        /// The broker's refusal.
        error: BrokerError,
    },
}

impl DefinitionsError {
    /// Where in the file the problem is (`None` for malformed JSON).
    pub fn path(&self) -> Option<&str> {
        match self {
            DefinitionsError::Json { .. } => None,
            DefinitionsError::Invalid { path, .. } | DefinitionsError::Refused { path, .. } => {
                Some(path)
            }
        }
    }
}

impl fmt::Display for DefinitionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefinitionsError::Json { message } => write!(f, "invalid JSON: {message}"),
            DefinitionsError::Invalid { path, message } if path.is_empty() => {
                write!(f, "definitions: {message}")
            }
            DefinitionsError::Invalid { path, message } => write!(f, "{path}: {message}"),
            DefinitionsError::Refused {
                path,
                object,
                error,
            } => write!(f, "{path}: {object}: {error}"),
        }
    }
}

impl std::error::Error for DefinitionsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DefinitionsError::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// What [`Broker::import_definitions`] did.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::Broker;
///
/// let broker = Broker::new();
/// let report = broker
///     .import_definitions(r#"{"vhosts": [{"name": "/"}, {"name": "dev"}], "policies": [{}]}"#)
///     .unwrap();
/// assert_eq!(report.vhosts, 1); // `/` existed
/// assert_eq!(report.warnings, ["policies: 1 entry ignored (policies are not supported)"]);
/// ```
///
/// With the `serde` feature, a map of its fields by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ImportReport {
    /// What was ignored: unsupported sections, unknown fields, exchange arguments the
    /// broker does not keep.
    pub warnings: Vec<String>,
    /// Exchanges declared (or found equivalent).
    pub exchanges: usize,
    /// Queues declared (or found equivalent).
    pub queues: usize,
    /// Bindings made (binding twice is idempotent).
    pub bindings: usize,
    /// Virtual hosts created (listed ones that existed are not counted).
    pub vhosts: usize,
    /// Users added or replaced.
    pub users: usize,
    /// Permissions set (one per user and vhost).
    pub permissions: usize,
}

impl Broker {
    /// The broker's topology as RabbitMQ definitions JSON, pretty-printed, in the
    /// format [`import_definitions`](Self::import_definitions) reads.
    ///
    /// It holds every vhost; its exchanges except the default one and the `amq.*`
    /// ones (as RabbitMQ); its non-exclusive queues (as RabbitMQ); its bindings except
    /// those of exclusive queues; sorted by vhost and name. It holds the user store's
    /// users (sorted by name; RabbitMQ 3.10.8's fields `hashing_algorithm`, `limits`,
    /// always `{}`, `name`, `password_hash`, `tags`) and their permissions (sorted by
    /// vhost, then user; `configure`, `read`, `user`, `vhost`, `write`). The sections
    /// the broker has no equivalent for (topic permissions, policies, ...) are written
    /// empty;
    /// `rabbit_version` and `rabbitmq_version` name the RabbitMQ release whose format
    /// this follows (3.10.8), `product_name` and `product_version` this crate.
    ///
    /// Deviations from RabbitMQ 3.10.8's `rabbitmqctl export_definitions`, found by
    /// running it: that leaves internal exchanges out (while keeping their bindings,
    /// so its output does not import back) and writes no `internal` field; this export
    /// keeps internal exchanges and writes `internal`, as the management API's format
    /// does. The broker keeps no exchange argument but `alternate-exchange`, so no
    /// other is exported.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::broker::{Broker, ExchangeDeclare, QueueDeclare};
    /// use trackswitch::FieldTable;
    ///
    /// let broker = Broker::new();
    /// let conn = broker.connect_default();
    /// let ch = conn.open_channel().unwrap();
    /// ch.exchange_declare("logs", "topic", &ExchangeDeclare::default()).unwrap();
    /// ch.queue_declare("errors", &QueueDeclare::default()).unwrap();
    /// ch.queue_bind("errors", "logs", "*.error", &FieldTable::new()).unwrap();
    ///
    /// let json = broker.export_definitions();
    /// assert!(json.contains(r#""routing_key": "*.error""#));
    /// assert!(!json.contains("amq.topic")); // pre-declared exchanges are not exported
    ///
    /// // The export imports into another broker.
    /// let copy = Broker::new();
    /// let report = copy.import_definitions(&json).unwrap();
    /// assert_eq!((report.exchanges, report.queues, report.bindings), (1, 1, 1));
    /// ```
    pub fn export_definitions(&self) -> String {
        let mut doc = Export::new();
        for user in self.users() {
            for (vhost, p) in self.permissions(&user.name) {
                doc.permissions.push(PermissionOut {
                    configure: p.configure,
                    read: p.read,
                    user: user.name.clone(),
                    vhost,
                    write: p.write,
                });
            }
            doc.users.push(UserOut {
                hashing_algorithm: user.hashing_algorithm,
                limits: EmptyObject,
                name: user.name,
                password_hash: user.password_hash,
                tags: user.tags,
            });
        }
        // RabbitMQ's order: by vhost, then user.
        doc.permissions
            .sort_by(|a, b| (&a.vhost, &a.user).cmp(&(&b.vhost, &b.user)));
        for vhost in self.vhosts() {
            doc.vhosts.push(VhostOut {
                name: vhost.clone(),
            });
            // A vhost deleted meanwhile is left out.
            let (Ok(xs), Ok(qs), Ok(bs)) = (
                self.exchanges(&vhost),
                self.queues(&vhost),
                self.bindings(&vhost),
            ) else {
                continue;
            };
            let mut xs: Vec<_> = xs
                .into_iter()
                .filter(|x| !x.name.is_empty() && !x.name.starts_with("amq."))
                .collect();
            xs.sort_by(|a, b| a.name.cmp(&b.name));
            doc.exchanges.extend(xs.into_iter().map(|x| {
                let mut arguments = crate::FieldTable::new();
                if let Some(ae) = x.alternate_exchange {
                    arguments.insert("alternate-exchange", ae);
                }
                ExchangeOut {
                    arguments: Arguments(arguments),
                    auto_delete: x.auto_delete,
                    durable: x.durable,
                    internal: x.internal,
                    name: x.name,
                    kind: x.kind,
                    vhost: vhost.clone(),
                }
            }));
            let exclusive: BTreeSet<String> = qs
                .iter()
                .filter(|q| q.exclusive)
                .map(|q| q.name.clone())
                .collect();
            let mut qs: Vec<_> = qs.into_iter().filter(|q| !q.exclusive).collect();
            qs.sort_by(|a, b| a.name.cmp(&b.name));
            doc.queues.extend(qs.into_iter().map(|q| QueueOut {
                arguments: Arguments(q.arguments),
                auto_delete: q.auto_delete,
                durable: q.durable,
                name: q.name,
                vhost: vhost.clone(),
            }));
            let mut bs: Vec<BindingOut> = bs
                .into_iter()
                .filter(|b| {
                    !b.source.is_empty()
                        && (b.destination_is_exchange || !exclusive.contains(&b.destination))
                })
                .map(|b| BindingOut {
                    arguments: Arguments(b.arguments),
                    destination: b.destination,
                    destination_type: if b.destination_is_exchange {
                        DestinationType::Exchange
                    } else {
                        DestinationType::Queue
                    },
                    routing_key: b.routing_key,
                    source: b.source,
                    vhost: vhost.clone(),
                })
                .collect();
            bs.sort_by_cached_key(BindingOut::sort_key);
            doc.bindings.extend(bs);
        }
        doc.to_json()
    }

    /// Declares the vhosts, users, permissions, exchanges, queues and bindings of
    /// RabbitMQ definitions JSON: the output of `rabbitmqctl export_definitions`, of the
    /// management API or of [`export_definitions`](Self::export_definitions).
    ///
    /// # Format
    ///
    /// One JSON object with the sections `rabbit_version`, `rabbitmq_version`,
    /// `product_name`, `product_version`, `users`, `vhosts`, `permissions`,
    /// `topic_permissions`, `parameters`, `global_parameters`, `policies`, `queues`,
    /// `exchanges` and `bindings`. The objects read:
    ///
    /// - vhost: `{"name"}`;
    /// - user: `{"name", "password_hash", "hashing_algorithm", "tags"}` (`tags` an
    ///   array of strings or, as older exports write it, one comma-separated string;
    ///   `hashing_algorithm` one of RabbitMQ's three, default
    ///   `rabbit_password_hashing_sha256`; a plaintext `password` is refused);
    /// - permission: `{"user", "vhost", "configure", "write", "read"}` (the regexes of
    ///   [`set_permissions`](Self::set_permissions));
    /// - exchange: `{"name", "vhost", "type", "durable", "auto_delete", "internal",
    ///   "arguments"}`;
    /// - queue: `{"name", "vhost", "durable", "auto_delete", "arguments"}` (and `type`,
    ///   which `rabbitmqctl` 3.10 writes: `classic`, or `quorum` for
    ///   `x-queue-type: quorum`);
    /// - binding: `{"source", "vhost", "destination", "destination_type" (`queue` or
    ///   `exchange`), "routing_key", "arguments"}`.
    ///
    /// `name`, `vhost`, `durable`, `type`, `source`, `destination`,
    /// `destination_type`, `password_hash`, `user`, `configure`, `write` and `read`
    /// are required; `auto_delete` and `internal` default to false, `routing_key` to
    /// `""`, `arguments` to `{}`, `tags` to none.
    ///
    /// Arguments become [`FieldTable`](crate::FieldTable)s: JSON integers `LongLongInt`
    /// (above `i64`: `LongLongUInt`), other numbers `Double`, strings `LongString`,
    /// booleans `Boolean`, arrays `Array`, objects `Table`, `null` `Void`; entries sorted
    /// by name, the last value of a repeated name kept. Elsewhere a field given twice
    /// in one object is an error.
    ///
    /// # What happens
    ///
    /// 1. Everything is checked before anything changes. First the JSON, then each
    ///    field's type, names of at most 255 bytes and exchange, queue and destination
    ///    types, in the order of the file; then, section by section (vhosts, users,
    ///    permissions, exchanges, queues, bindings), required fields, hashing
    ///    algorithms, permission regexes, names (not the default exchange, no new
    ///    `amq.` names), the queue arguments of CONFORMANCE row Q05, `x-match` of
    ///    headers bindings, vhost and user references (listed in the file or already
    ///    in the broker), and that each binding's source and destination is in the
    ///    file or already in the broker.
    /// 2. The listed vhosts are added; then the users (replacing the hash and tags of
    ///    a user of the same name) and their permissions; then every exchange, every
    ///    queue and every binding is declared, in that order, through an ordinary
    ///    [`Connection`](super::Connection) per vhost (the broker's own: permissions
    ///    do not apply to it), so bindings may name exchanges that come later in the
    ///    file. Importing users and permissions does not turn access control on (see
    ///    [`set_access_control`](Self::set_access_control)).
    ///
    /// If the broker still refuses an object in step 2 (an exchange or queue that
    /// exists with other properties, a binding key the table's options refuse, a
    /// concurrent delete), the import stops there: **what was declared before it
    /// stays declared** (AMQP has no transactions over topology). Every declare is
    /// idempotent, so running a corrected file again is safe.
    ///
    /// Sections without an equivalent here (topic permissions, parameters, global
    /// parameters, policies, vhost and user limits), unknown sections, unknown fields
    /// and exchange arguments other than `alternate-exchange` are ignored, each with a
    /// line in [`ImportReport::warnings`].
    ///
    /// # Errors
    ///
    /// - [`DefinitionsError::Json`]: not JSON; nothing changed.
    /// - [`DefinitionsError::Invalid`]: a wrong type, a missing field, a bad name,
    ///   argument, hashing algorithm or regex, an unknown vhost or user, a binding
    ///   whose source or destination is neither in the file nor in the broker;
    ///   nothing changed.
    /// - [`DefinitionsError::Refused`]: the broker refused a declare or bind (e.g. a
    ///   queue that exists with other arguments); what was applied before stays.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::broker::{Broker, Message, PublishOptions, QueueDeclare};
    ///
    /// let json = r#"{
    ///   "bindings": [{"source": "logs", "vhost": "/", "destination": "errors",
    ///                 "destination_type": "queue", "routing_key": "*.error", "arguments": {}}],
    ///   "queues": [{"name": "errors", "vhost": "/", "durable": true, "auto_delete": false,
    ///               "arguments": {"x-max-length": 1000}}],
    ///   "exchanges": [{"name": "logs", "vhost": "/", "type": "topic", "durable": true,
    ///                  "auto_delete": false, "internal": false, "arguments": {}}]
    /// }"#;
    /// let broker = Broker::new();
    /// let report = broker.import_definitions(json).unwrap();
    /// assert_eq!((report.exchanges, report.queues, report.bindings), (1, 1, 1));
    ///
    /// let conn = broker.connect_default();
    /// let ch = conn.open_channel().unwrap();
    /// let _ = ch.publish("logs", "db.error", Message::new("disk full"), PublishOptions::default())
    ///     .unwrap();
    /// assert_eq!(ch.queue_declare("errors", &QueueDeclare::passive()).unwrap().message_count, 1);
    ///
    /// // Wrong types are reported with their place, before anything changes.
    /// let err = broker
    ///     .import_definitions(r#"{"queues": [{"name": "q", "vhost": "/", "durable": true,
    ///                             "arguments": {"x-max-length": "ten"}}]}"#)
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "queues[0].arguments.x-max-length: expected an integer");
    /// ```
    pub fn import_definitions(&self, json: &str) -> Result<ImportReport, DefinitionsError> {
        let doc = format::read(json)?;
        plan::Plan::check(self, doc)?.apply(self)
    }
}
