//! The import plan: [`Plan::check`] checks a read [`Document`] against the broker's
//! current state and against itself without changing anything; [`Plan::apply`] then
//! declares what it holds.
//!
//! Owns the checks that need more than one value: required fields, vhost and user
//! references (listed in the file or already in the broker), users' hashing
//! algorithms, permission regexes (the broker's own compiler), reserved and default
//! names, the queue arguments (the broker's own check, CONFORMANCE Q05), quorum queues'
//! flags, `x-match` of headers bindings, that each binding's source and destination is
//! in the file or the broker; the warnings and their order; the order of declaration
//! (vhosts, users, permissions, exchanges, queues, bindings).
//!
//! May not touch the JSON text (`format` reads it) or broker internals: `check` reads
//! the broker through its public listings only, and `apply` declares through ordinary
//! [`Connection`]s, one per vhost, as a client would.

use std::collections::{BTreeSet, HashMap};

use super::format::{self, DestinationType, Document, QueueType, Shape, required};
use super::{DefinitionsError, ImportReport, Res, invalid};
use crate::broker::access::check_regex;
use crate::broker::args::QueueArgs;
use crate::broker::error::NOT_FOUND;
use crate::broker::{
    Broker, BrokerError, Channel, ConnectOptions, Connection, ExchangeDeclare, Permissions,
    QueueDeclare, UserRecord,
};
use crate::{ExchangeKind, FieldTable, FieldValue};

/// Top-level sections the broker has no equivalent for, and why.
const IGNORED_SECTIONS: &[(&str, &str)] = &[
    ("topic_permissions", "topic permissions are not supported"),
    ("parameters", "runtime parameters are not supported"),
    ("global_parameters", "global parameters are not supported"),
    ("policies", "policies are not supported"),
];

/// Permissions to set.
struct PermissionDef {
    path: String,
    user: String,
    vhost: String,
    permissions: Permissions,
}

/// An exchange to declare.
struct ExchangeDef {
    path: String,
    vhost: String,
    name: String,
    kind: ExchangeKind,
    options: ExchangeDeclare,
}

/// A queue to declare.
struct QueueDef {
    path: String,
    vhost: String,
    name: String,
    options: QueueDeclare,
}

/// A binding to make.
struct BindingDef {
    path: String,
    vhost: String,
    source: String,
    destination: String,
    to_exchange: bool,
    routing_key: String,
    arguments: FieldTable,
}

impl BindingDef {
    fn describe(&self) -> String {
        format!(
            "binding of {} '{}' to exchange '{}' with routing key '{}' in vhost '{}'",
            if self.to_exchange {
                "exchange"
            } else {
                "queue"
            },
            self.destination,
            self.source,
            self.routing_key,
            self.vhost
        )
    }
}

/// What the broker holds before the import, plus what the file declares.
#[derive(Default)]
struct Known {
    vhosts: BTreeSet<String>,
    users: BTreeSet<String>,
    /// (vhost, name) -> kind.
    exchanges: HashMap<(String, String), ExchangeKind>,
    /// (vhost, name) -> exclusive (a connection owns it).
    queues: HashMap<(String, String), bool>,
}

impl Known {
    fn of(broker: &Broker) -> Known {
        let mut k = Known {
            users: broker.users().into_iter().map(|u| u.name).collect(),
            ..Known::default()
        };
        for v in broker.vhosts() {
            for x in broker.exchanges(&v).unwrap_or_default() {
                k.exchanges.insert((v.clone(), x.name), x.kind);
            }
            for q in broker.queues(&v).unwrap_or_default() {
                k.queues.insert((v.clone(), q.name), q.exclusive);
            }
            k.vhosts.insert(v);
        }
        k
    }

    /// The `vhost` field of the object at `path`: present and known.
    fn vhost(&self, vhost: Option<format::Name>, path: &str) -> Res<String> {
        let v = required(vhost, path, "vhost")?.0;
        if !self.vhosts.contains(&v) {
            return Err(invalid(
                format!("{path}.vhost"),
                format!("unknown vhost '{v}' (neither in vhosts nor in the broker)"),
            ));
        }
        Ok(v)
    }
}

/// Warnings for an object's unknown fields, in name order.
fn warn_unknown<V>(
    path: &str,
    unknown: &std::collections::BTreeMap<String, V>,
    warnings: &mut Vec<String>,
) {
    for key in unknown.keys() {
        warnings.push(format!("{path}.{key}: unknown field, ignored"));
    }
}

/// Everything an import will do, checked.
pub(super) struct Plan {
    warnings: Vec<String>,
    new_vhosts: Vec<String>,
    users: Vec<UserRecord>,
    permissions: Vec<PermissionDef>,
    exchanges: Vec<ExchangeDef>,
    queues: Vec<QueueDef>,
    bindings: Vec<BindingDef>,
}

impl Plan {
    /// Checks `doc` against `broker` and itself; changes nothing.
    ///
    /// # Errors
    ///
    /// [`DefinitionsError::Invalid`] for the first problem, with its place.
    pub(super) fn check(broker: &Broker, doc: Document) -> Res<Plan> {
        let mut known = Known::of(broker);
        let mut plan = Plan {
            warnings: Vec::new(),
            new_vhosts: Vec::new(),
            users: Vec::new(),
            permissions: Vec::new(),
            exchanges: Vec::new(),
            queues: Vec::new(),
            bindings: Vec::new(),
        };
        for (key, value) in &doc.other {
            match IGNORED_SECTIONS.iter().find(|(s, _)| s == key) {
                Some((_, why)) => match value {
                    Shape::Array(0) => {}
                    Shape::Array(n) => plan.warnings.push(format!(
                        "{key}: {n} {} ignored ({why})",
                        if *n == 1 { "entry" } else { "entries" }
                    )),
                    Shape::Object(_) | Shape::Scalar => {
                        plan.warnings.push(format!("{key}: ignored ({why})"));
                    }
                },
                None => plan
                    .warnings
                    .push(format!("{key}: unknown section, ignored")),
            }
        }
        plan.check_vhosts(doc.vhosts.0, &mut known)?;
        plan.check_users(doc.users.0, &mut known)?;
        plan.check_permissions(doc.permissions.0, &known)?;
        plan.check_exchanges(doc.exchanges.0, &mut known)?;
        plan.check_queues(doc.queues.0, &mut known)?;
        plan.check_bindings(doc.bindings.0, &known)?;
        Ok(plan)
    }

    fn check_vhosts(&mut self, vhosts: Vec<format::Vhost>, known: &mut Known) -> Res<()> {
        for (i, v) in vhosts.into_iter().enumerate() {
            let path = format!("vhosts[{i}]");
            let name = required(v.name, &path, "name")?.0;
            if name.is_empty() {
                return Err(invalid(format!("{path}.name"), "empty vhost name"));
            }
            if v.limits.is_some_and(Shape::is_set) {
                self.warnings.push(format!(
                    "{path}.limits: vhost limits are not supported, ignored"
                ));
            }
            warn_unknown(&path, &v.unknown, &mut self.warnings);
            if known.vhosts.insert(name.clone()) {
                self.new_vhosts.push(name);
            }
        }
        Ok(())
    }

    fn check_users(&mut self, users: Vec<format::User>, known: &mut Known) -> Res<()> {
        for (i, u) in users.into_iter().enumerate() {
            let path = format!("users[{i}]");
            let name = required(u.name, &path, "name")?.0;
            if u.password.is_some() {
                return Err(invalid(
                    format!("{path}.password"),
                    "plaintext passwords are not imported; give password_hash",
                ));
            }
            let password_hash = required(u.password_hash, &path, "password_hash")?.0;
            let hashing_algorithm = match u.hashing_algorithm {
                None => UserRecord::SHA256.to_owned(),
                Some(format::Text(a)) if UserRecord::ALGORITHMS.contains(&a.as_str()) => a,
                Some(format::Text(a)) => {
                    return Err(invalid(
                        format!("{path}.hashing_algorithm"),
                        format!(
                            "unknown hashing algorithm '{a}' (expected one of {})",
                            UserRecord::ALGORITHMS.join(", ")
                        ),
                    ));
                }
            };
            if u.limits.is_some_and(Shape::is_set) {
                self.warnings.push(format!(
                    "{path}.limits: user limits are not supported, ignored"
                ));
            }
            warn_unknown(&path, &u.unknown, &mut self.warnings);
            known.users.insert(name.clone());
            self.users.push(UserRecord {
                name,
                password_hash,
                hashing_algorithm,
                tags: u.tags.0,
            });
        }
        Ok(())
    }

    fn check_permissions(
        &mut self,
        permissions: Vec<format::Permission>,
        known: &Known,
    ) -> Res<()> {
        for (i, p) in permissions.into_iter().enumerate() {
            let path = format!("permissions[{i}]");
            let user = required(p.user, &path, "user")?.0;
            if !known.users.contains(&user) {
                return Err(invalid(
                    format!("{path}.user"),
                    format!("unknown user '{user}' (neither in users nor in the broker)"),
                ));
            }
            let vhost = known.vhost(p.vhost, &path)?;
            let regex = |value: Option<format::Text>, field: &str| {
                let pattern = required(value, &path, field)?.0;
                check_regex(&pattern).map_err(|reason| {
                    invalid(
                        format!("{path}.{field}"),
                        format!("invalid regex '{pattern}': {reason}"),
                    )
                })?;
                Ok::<_, DefinitionsError>(pattern)
            };
            let permissions = Permissions {
                configure: regex(p.configure, "configure")?,
                write: regex(p.write, "write")?,
                read: regex(p.read, "read")?,
            };
            warn_unknown(&path, &p.unknown, &mut self.warnings);
            self.permissions.push(PermissionDef {
                path,
                user,
                vhost,
                permissions,
            });
        }
        Ok(())
    }

    fn check_exchanges(&mut self, exchanges: Vec<format::Exchange>, known: &mut Known) -> Res<()> {
        for (i, x) in exchanges.into_iter().enumerate() {
            let path = format!("exchanges[{i}]");
            let name = required(x.name, &path, "name")?.0;
            let vhost = known.vhost(x.vhost, &path)?;
            let kind = required(x.kind, &path, "type")?.0;
            let durable = required(x.durable, &path, "durable")?.0;
            if name.is_empty() {
                return Err(invalid(
                    format!("{path}.name"),
                    "the default exchange cannot be declared",
                ));
            }
            let key = (vhost.clone(), name.clone());
            if name.starts_with("amq.") && !known.exchanges.contains_key(&key) {
                return Err(invalid(
                    format!("{path}.name"),
                    "exchange names starting with 'amq.' are reserved",
                ));
            }
            let mut arguments = FieldTable::new();
            for (k, v) in x.arguments.0.iter() {
                if k == "alternate-exchange" {
                    if !matches!(v, FieldValue::LongString(_)) {
                        return Err(invalid(
                            format!("{path}.arguments.{k}"),
                            "expected a string",
                        ));
                    }
                    arguments.push(k, v.clone());
                } else {
                    self.warnings.push(format!(
                        "{path}.arguments.{k}: not kept (the broker reads only alternate-exchange), ignored"
                    ));
                }
            }
            warn_unknown(&path, &x.unknown, &mut self.warnings);
            known.exchanges.insert(key, kind);
            self.exchanges.push(ExchangeDef {
                path,
                vhost,
                name,
                kind,
                options: ExchangeDeclare {
                    passive: false,
                    durable,
                    auto_delete: x.auto_delete.0,
                    internal: x.internal.0,
                    arguments,
                },
            });
        }
        Ok(())
    }

    fn check_queues(&mut self, queues: Vec<format::Queue>, known: &mut Known) -> Res<()> {
        for (i, q) in queues.into_iter().enumerate() {
            let path = format!("queues[{i}]");
            let name = required(q.name, &path, "name")?.0;
            let vhost = known.vhost(q.vhost, &path)?;
            let durable = required(q.durable, &path, "durable")?.0;
            let auto_delete = q.auto_delete.0;
            let mut arguments = q.arguments.0;
            if q.kind == Some(QueueType::Quorum) && !arguments.contains("x-queue-type") {
                arguments.insert("x-queue-type", FieldValue::from("quorum"));
            }
            QueueArgs::parse(&arguments)
                .map_err(|e| invalid(format!("{path}.arguments.{}", e.name), e.reason))?;
            let quorum = matches!(
                arguments.get("x-queue-type").and_then(FieldValue::as_bytes),
                Some(b"quorum")
            );
            if quorum && !durable {
                return Err(invalid(
                    format!("{path}.durable"),
                    "quorum queues are durable",
                ));
            }
            if quorum && auto_delete {
                return Err(invalid(
                    format!("{path}.auto_delete"),
                    "quorum queues are not auto-delete",
                ));
            }
            if name.is_empty() {
                return Err(invalid(format!("{path}.name"), "empty queue name"));
            }
            let key = (vhost.clone(), name.clone());
            match known.queues.get(&key) {
                Some(true) => {
                    return Err(invalid(
                        format!("{path}.name"),
                        format!(
                            "queue '{name}' in vhost '{vhost}' exists as an exclusive queue of a connection"
                        ),
                    ));
                }
                Some(false) => {}
                None if name.starts_with("amq.") => {
                    return Err(invalid(
                        format!("{path}.name"),
                        "queue names starting with 'amq.' are reserved",
                    ));
                }
                None => {}
            }
            warn_unknown(&path, &q.unknown, &mut self.warnings);
            known.queues.insert(key, false);
            self.queues.push(QueueDef {
                path,
                vhost,
                name,
                options: QueueDeclare {
                    passive: false,
                    durable,
                    exclusive: false,
                    auto_delete,
                    arguments,
                },
            });
        }
        Ok(())
    }

    fn check_bindings(&mut self, bindings: Vec<format::Binding>, known: &Known) -> Res<()> {
        for (i, b) in bindings.into_iter().enumerate() {
            let path = format!("bindings[{i}]");
            let vhost = known.vhost(b.vhost, &path)?;
            let source = required(b.source, &path, "source")?.0;
            let destination = required(b.destination, &path, "destination")?.0;
            let to_exchange = required(b.destination_type, &path, "destination_type")?
                == DestinationType::Exchange;
            let binding = BindingDef {
                path: path.clone(),
                vhost,
                source,
                destination,
                to_exchange,
                routing_key: b.routing_key.0,
                arguments: b.arguments.0,
            };
            let missing = |field: &str, what: &str, name: &str| {
                invalid(
                    format!("{path}.{field}"),
                    format!(
                        "{}: no {what} '{name}' in vhost '{}' (neither in the definitions nor in the broker)",
                        binding.describe(),
                        binding.vhost
                    ),
                )
            };
            if binding.source.is_empty() || (to_exchange && binding.destination.is_empty()) {
                return Err(invalid(
                    path.clone(),
                    format!(
                        "{}: the default exchange cannot be bound",
                        binding.describe()
                    ),
                ));
            }
            let Some(&kind) = known
                .exchanges
                .get(&(binding.vhost.clone(), binding.source.clone()))
            else {
                return Err(missing("source", "exchange", &binding.source));
            };
            let dest_key = (binding.vhost.clone(), binding.destination.clone());
            if to_exchange && !known.exchanges.contains_key(&dest_key) {
                return Err(missing("destination", "exchange", &binding.destination));
            }
            if !to_exchange {
                match known.queues.get(&dest_key) {
                    None => return Err(missing("destination", "queue", &binding.destination)),
                    Some(true) => {
                        return Err(invalid(
                            format!("{path}.destination"),
                            format!(
                                "{}: the queue is exclusive to a connection",
                                binding.describe()
                            ),
                        ));
                    }
                    Some(false) => {}
                }
            }
            if kind == ExchangeKind::Headers {
                let m = binding.arguments.get("x-match");
                if m.is_some_and(|m| {
                    !matches!(m, FieldValue::LongString(s)
                        if [&b"all"[..], b"any", b"all-with-x", b"any-with-x"].contains(&&s[..]))
                }) {
                    return Err(invalid(
                        format!("{path}.arguments.x-match"),
                        "expected one of 'all', 'any', 'all-with-x', 'any-with-x'",
                    ));
                }
            }
            warn_unknown(&path, &b.unknown, &mut self.warnings);
            self.bindings.push(binding);
        }
        Ok(())
    }

    /// Applies the plan: vhosts, exchanges, queues, bindings.
    ///
    /// # Errors
    ///
    /// [`DefinitionsError::Refused`] for the first object the broker refuses; what was
    /// applied before it stays.
    pub(super) fn apply(self, broker: &Broker) -> Res<ImportReport> {
        let mut report = ImportReport {
            warnings: self.warnings,
            ..ImportReport::default()
        };
        for v in &self.new_vhosts {
            if broker.add_vhost(v) {
                report.vhosts += 1;
            }
        }
        for u in self.users {
            broker.add_user(u);
            report.users += 1;
        }
        for p in self.permissions {
            // Checked; only a concurrent delete of the user or vhost refuses.
            broker
                .set_permissions(&p.user, &p.vhost, p.permissions)
                .map_err(|e| {
                    refused(
                        &p.path,
                        format!("permissions of user '{}' in vhost '{}'", p.user, p.vhost),
                        BrokerError::channel(NOT_FOUND, e.to_string()),
                    )
                })?;
            report.permissions += 1;
        }
        let mut sessions = Sessions {
            broker,
            open: HashMap::new(),
        };
        for x in &self.exchanges {
            let object = format!("exchange '{}' in vhost '{}'", x.name, x.vhost);
            sessions
                .channel(&x.vhost)
                .and_then(|ch| ch.exchange_declare(&x.name, x.kind.as_str(), &x.options))
                .map_err(|error| refused(&x.path, object, error))?;
            report.exchanges += 1;
        }
        for q in &self.queues {
            let object = format!("queue '{}' in vhost '{}'", q.name, q.vhost);
            sessions
                .channel(&q.vhost)
                .and_then(|ch| ch.queue_declare(&q.name, &q.options).map(|_| ()))
                .map_err(|error| refused(&q.path, object, error))?;
            report.queues += 1;
        }
        for b in &self.bindings {
            sessions
                .channel(&b.vhost)
                .and_then(|ch| {
                    if b.to_exchange {
                        ch.exchange_bind(&b.destination, &b.source, &b.routing_key, &b.arguments)
                    } else {
                        ch.queue_bind(&b.destination, &b.source, &b.routing_key, &b.arguments)
                    }
                })
                .map_err(|error| refused(&b.path, b.describe(), error))?;
            report.bindings += 1;
        }
        Ok(report)
    }
}

fn refused(path: &str, object: String, error: BrokerError) -> DefinitionsError {
    DefinitionsError::Refused {
        path: path.to_owned(),
        object,
        error,
    }
}

/// One connection and channel per vhost, opened when first needed.
struct Sessions<'b> {
    broker: &'b Broker,
    open: HashMap<String, (Connection, Channel)>,
}

impl Sessions<'_> {
    fn channel(&mut self, vhost: &str) -> Result<&Channel, BrokerError> {
        if !self.open.contains_key(vhost) {
            // The broker's own connection: permissions do not apply to an import.
            let conn = self.broker.connect_unchecked(ConnectOptions {
                vhost: vhost.to_owned(),
                client_name: Some("definitions import".into()),
                ..ConnectOptions::default()
            })?;
            let ch = conn.open_channel()?;
            self.open.insert(vhost.to_owned(), (conn, ch));
        }
        Ok(&self.open[vhost].1)
    }
}
