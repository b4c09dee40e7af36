//! Definitions: the broker's topology as RabbitMQ's definitions JSON (the format of
//! `rabbitmqctl export_definitions` / `import_definitions` and of the management
//! API's `GET /api/definitions`). The format, the import order, what is checked and
//! what is ignored are documented on [`Broker::import_definitions`] and
//! [`Broker::export_definitions`].
//!
//! An import runs in two steps: [`Plan::parse`] reads and checks the whole document
//! against the broker's current state without changing anything, then
//! [`Plan::apply`] declares through ordinary connections (one per vhost).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_json::{Map, Number, Value};

use super::args::QueueArgs;
use super::{
    Broker, BrokerError, Channel, ConnectOptions, Connection, ExchangeDeclare, QueueDeclare,
};
use crate::{ExchangeKind, FieldTable, FieldValue, MAX_NAME_LEN};

/// The RabbitMQ release whose definitions format the export follows.
const RABBITMQ_FORMAT_VERSION: &str = "3.10.8";

/// Top-level sections read only for their version strings.
const VERSION_SECTIONS: &[&str] = &[
    "rabbit_version",
    "rabbitmq_version",
    "product_name",
    "product_version",
];

/// Top-level sections the broker has no equivalent for, and why.
const IGNORED_SECTIONS: &[(&str, &str)] = &[
    ("users", "users are not supported"),
    ("permissions", "permissions are not supported"),
    ("topic_permissions", "topic permissions are not supported"),
    ("parameters", "runtime parameters are not supported"),
    ("global_parameters", "global parameters are not supported"),
    ("policies", "policies are not supported"),
];

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
///     .import_definitions(r#"{"vhosts": [{"name": "/"}, {"name": "dev"}], "users": [{"name": "guest"}]}"#)
///     .unwrap();
/// assert_eq!(report.vhosts, 1); // `/` existed
/// assert_eq!(report.warnings, ["users: 1 entry ignored (users are not supported)"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}

impl Broker {
    /// The broker's topology as RabbitMQ definitions JSON, pretty-printed, in the
    /// format [`import_definitions`](Self::import_definitions) reads.
    ///
    /// It holds every vhost; its exchanges except the default one and the `amq.*`
    /// ones (as RabbitMQ); its non-exclusive queues (as RabbitMQ); its bindings except
    /// those of exclusive queues; sorted by vhost and name. The sections the broker
    /// has no equivalent for (users, permissions, ...) are written empty;
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
        let mut vhosts = Vec::new();
        let mut exchanges = Vec::new();
        let mut queues = Vec::new();
        let mut bindings = Vec::new();
        for vhost in self.vhosts() {
            vhosts.push(object([("name", Value::from(vhost.as_str()))]));
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
            for x in xs {
                let mut arguments = Map::new();
                if let Some(ae) = x.alternate_exchange {
                    arguments.insert("alternate-exchange".into(), Value::from(ae));
                }
                exchanges.push(object([
                    ("arguments", Value::Object(arguments)),
                    ("auto_delete", Value::from(x.auto_delete)),
                    ("durable", Value::from(x.durable)),
                    ("internal", Value::from(x.internal)),
                    ("name", Value::from(x.name)),
                    ("type", Value::from(x.kind.as_str())),
                    ("vhost", Value::from(vhost.as_str())),
                ]));
            }
            let exclusive: BTreeSet<String> = qs
                .iter()
                .filter(|q| q.exclusive)
                .map(|q| q.name.clone())
                .collect();
            let mut qs: Vec<_> = qs.into_iter().filter(|q| !q.exclusive).collect();
            qs.sort_by(|a, b| a.name.cmp(&b.name));
            for q in qs {
                queues.push(object([
                    ("arguments", table_to_json(&q.arguments)),
                    ("auto_delete", Value::from(q.auto_delete)),
                    ("durable", Value::from(q.durable)),
                    ("name", Value::from(q.name)),
                    ("vhost", Value::from(vhost.as_str())),
                ]));
            }
            let mut bs: Vec<_> = bs
                .into_iter()
                .filter(|b| {
                    !b.source.is_empty()
                        && (b.destination_is_exchange || !exclusive.contains(&b.destination))
                })
                .map(|b| {
                    let kind = if b.destination_is_exchange {
                        "exchange"
                    } else {
                        "queue"
                    };
                    let arguments = table_to_json(&b.arguments);
                    let sort_key = (
                        b.source.clone(),
                        kind,
                        b.destination.clone(),
                        b.routing_key.clone(),
                        arguments.to_string(),
                    );
                    let value = object([
                        ("arguments", arguments),
                        ("destination", Value::from(b.destination)),
                        ("destination_type", Value::from(kind)),
                        ("routing_key", Value::from(b.routing_key)),
                        ("source", Value::from(b.source)),
                        ("vhost", Value::from(vhost.as_str())),
                    ]);
                    (sort_key, value)
                })
                .collect();
            bs.sort_by(|a, b| a.0.cmp(&b.0));
            bindings.extend(bs.into_iter().map(|(_, v)| v));
        }
        let root = object([
            ("bindings", Value::Array(bindings)),
            ("exchanges", Value::Array(exchanges)),
            ("global_parameters", Value::Array(Vec::new())),
            ("parameters", Value::Array(Vec::new())),
            ("permissions", Value::Array(Vec::new())),
            ("policies", Value::Array(Vec::new())),
            ("product_name", Value::from("trackswitch")),
            ("product_version", Value::from(env!("CARGO_PKG_VERSION"))),
            ("queues", Value::Array(queues)),
            ("rabbit_version", Value::from(RABBITMQ_FORMAT_VERSION)),
            ("rabbitmq_version", Value::from(RABBITMQ_FORMAT_VERSION)),
            ("topic_permissions", Value::Array(Vec::new())),
            ("users", Value::Array(Vec::new())),
            ("vhosts", Value::Array(vhosts)),
        ]);
        serde_json::to_string_pretty(&root).expect("a serde_json::Value always serialises")
    }

    /// Declares the vhosts, exchanges, queues and bindings of RabbitMQ definitions JSON:
    /// the output of `rabbitmqctl export_definitions`, of the management API or of
    /// [`export_definitions`](Self::export_definitions).
    ///
    /// # Format
    ///
    /// One JSON object with the sections `rabbit_version`, `rabbitmq_version`,
    /// `product_name`, `product_version`, `users`, `vhosts`, `permissions`,
    /// `topic_permissions`, `parameters`, `global_parameters`, `policies`, `queues`,
    /// `exchanges` and `bindings`. The objects read:
    ///
    /// - vhost: `{"name"}`;
    /// - exchange: `{"name", "vhost", "type", "durable", "auto_delete", "internal",
    ///   "arguments"}`;
    /// - queue: `{"name", "vhost", "durable", "auto_delete", "arguments"}` (and `type`,
    ///   which `rabbitmqctl` 3.10 writes; only `classic`);
    /// - binding: `{"source", "vhost", "destination", "destination_type" (`queue` or
    ///   `exchange`), "routing_key", "arguments"}`.
    ///
    /// `name`, `vhost`, `durable`, `type`, `source`, `destination` and
    /// `destination_type` are required; `auto_delete` and `internal` default to
    /// false, `routing_key` to `""`, `arguments` to `{}`.
    ///
    /// Arguments become [`FieldTable`]s: JSON integers `LongLongInt` (above `i64`:
    /// `LongLongUInt`), other numbers `Double`, strings `LongString`, booleans
    /// `Boolean`, arrays `Array`, objects `Table`, `null` `Void`.
    ///
    /// # What happens
    ///
    /// 1. Everything is checked before anything changes: the JSON, each field's type,
    ///    names (at most 255 bytes, not the default exchange, no new `amq.` names),
    ///    exchange types, the queue arguments of CONFORMANCE row Q05, `x-match` of
    ///    headers bindings, vhost references (listed in `vhosts` or already in the
    ///    broker), and that each binding's source and destination is in the file or
    ///    already in the broker.
    /// 2. The listed vhosts are added; then every exchange, every queue and every
    ///    binding is declared, in that order, through an ordinary [`Connection`] per
    ///    vhost, so bindings may name exchanges that come later in the file.
    ///
    /// If the broker still refuses an object in step 2 (an exchange or queue that
    /// exists with other properties, a binding key the table's options refuse, a
    /// concurrent delete), the import stops there: **what was declared before it
    /// stays declared** (AMQP has no transactions over topology). Every declare is
    /// idempotent, so running a corrected file again is safe.
    ///
    /// Sections without an equivalent here (users, permissions, topic permissions,
    /// parameters, global parameters, policies, vhost limits), unknown sections,
    /// unknown fields and exchange arguments other than `alternate-exchange` are
    /// ignored, each with a line in [`ImportReport::warnings`].
    ///
    /// # Errors
    ///
    /// - [`DefinitionsError::Json`]: not JSON; nothing changed.
    /// - [`DefinitionsError::Invalid`]: a wrong type, a missing field, a bad name or
    ///   argument, an unknown vhost, a binding whose source or destination is neither
    ///   in the file nor in the broker; nothing changed.
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
        let root: Value = serde_json::from_str(json).map_err(|e| DefinitionsError::Json {
            message: e.to_string(),
        })?;
        let plan = Plan::parse(self, &root)?;
        plan.apply(self)
    }
}

// ----- JSON <-> field values -----

/// A JSON object from `(key, value)` pairs.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn table_to_json(table: &FieldTable) -> Value {
    // Later duplicates replace earlier ones, as lookups see them.
    Value::Object(
        table
            .iter()
            .map(|(k, v)| (k.to_owned(), value_to_json(v)))
            .collect(),
    )
}

fn float(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn value_to_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Boolean(b) => Value::from(*b),
        FieldValue::ShortShortInt(n) => Value::from(*n),
        FieldValue::ShortShortUInt(n) => Value::from(*n),
        FieldValue::ShortInt(n) => Value::from(*n),
        FieldValue::ShortUInt(n) => Value::from(*n),
        FieldValue::LongInt(n) => Value::from(*n),
        FieldValue::LongUInt(n) => Value::from(*n),
        FieldValue::LongLongInt(n) => Value::from(*n),
        FieldValue::LongLongUInt(n) | FieldValue::Timestamp(n) => Value::from(*n),
        FieldValue::Float(x) => float(f64::from(*x)),
        FieldValue::Double(x) => float(*x),
        FieldValue::Decimal { scale, value } => {
            float(f64::from(*value) / 10f64.powi(i32::from(*scale)))
        }
        FieldValue::ShortString(s) => Value::from(s.as_str()),
        FieldValue::LongString(b) | FieldValue::ByteArray(b) => {
            Value::from(String::from_utf8_lossy(b).into_owned())
        }
        FieldValue::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        FieldValue::Table(t) => table_to_json(t),
        FieldValue::Void => Value::Null,
    }
}

/// Recursion is bounded: parsed JSON nests at most 128 deep (serde_json's limit).
fn json_to_value(v: &Value) -> FieldValue {
    match v {
        Value::Null => FieldValue::Void,
        Value::Bool(b) => FieldValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                FieldValue::LongLongInt(i)
            } else if let Some(u) = n.as_u64() {
                FieldValue::LongLongUInt(u)
            } else {
                FieldValue::Double(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => FieldValue::LongString(s.as_bytes().to_vec()),
        Value::Array(a) => FieldValue::Array(a.iter().map(json_to_value).collect()),
        Value::Object(m) => FieldValue::Table(json_to_table(m)),
    }
}

fn json_to_table(m: &Map<String, Value>) -> FieldTable {
    m.iter()
        .map(|(k, v)| (k.as_str(), json_to_value(v)))
        .collect()
}

// ----- reading the document -----

type Res<T> = Result<T, DefinitionsError>;

fn invalid(path: impl Into<String>, message: impl Into<String>) -> DefinitionsError {
    DefinitionsError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// `an array`, `a string`, ... for "expected ..." messages.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One JSON object of the file and its path (`queues[3]`).
struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(path: String, v: &'a Value) -> Res<Fields<'a>> {
        match v {
            Value::Object(map) => Ok(Fields { path, map }),
            other => Err(invalid(
                path,
                format!("expected an object, found {}", kind_of(other)),
            )),
        }
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn string(&self, key: &str) -> Res<&'a str> {
        match self.map.get(key) {
            None => Err(invalid(self.at(key), "missing")),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(invalid(self.at(key), "expected a string")),
        }
    }

    /// A string of at most 255 bytes (an AMQP short string).
    fn short(&self, key: &str) -> Res<&'a str> {
        let s = self.string(key)?;
        if s.len() > MAX_NAME_LEN {
            return Err(invalid(
                self.at(key),
                format!("longer than {MAX_NAME_LEN} bytes"),
            ));
        }
        Ok(s)
    }

    fn boolean(&self, key: &str, default: Option<bool>) -> Res<bool> {
        match (self.map.get(key), default) {
            (None, Some(d)) => Ok(d),
            (None, None) => Err(invalid(self.at(key), "missing")),
            (Some(Value::Bool(b)), _) => Ok(*b),
            (Some(_), _) => Err(invalid(self.at(key), "expected a boolean")),
        }
    }

    /// The `arguments` object (absent: empty).
    fn arguments(&self) -> Res<&'a Map<String, Value>> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self.map.get("arguments") {
            None => Ok(EMPTY.get_or_init(Map::new)),
            Some(Value::Object(m)) => Ok(m),
            Some(_) => Err(invalid(self.at("arguments"), "expected an object")),
        }
    }

    fn warn_unknown(&self, known: &[&str], warnings: &mut Vec<String>) {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                warnings.push(format!("{}: unknown field, ignored", self.at(key)));
            }
        }
    }
}

/// The elements of a top-level section (absent: none).
fn section<'a>(root: &'a Map<String, Value>, name: &str) -> Res<&'a [Value]> {
    match root.get(name) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(invalid(
            name,
            format!("expected an array, found {}", kind_of(other)),
        )),
    }
}

/// Checks the queue arguments the broker understands (CONFORMANCE Q05, the broker's
/// own check), so that a bad one is reported before anything changes.
fn check_queue_arguments(f: &Fields<'_>, args: &FieldTable) -> Res<()> {
    QueueArgs::parse(args)
        .map(|_| ())
        .map_err(|e| invalid(format!("{}.arguments.{}", f.path, e.name), e.reason))
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
    /// (vhost, name) -> kind.
    exchanges: HashMap<(String, String), ExchangeKind>,
    /// (vhost, name) -> exclusive (a connection owns it).
    queues: HashMap<(String, String), bool>,
}

impl Known {
    fn of(broker: &Broker) -> Known {
        let mut k = Known::default();
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

    fn vhost(&self, f: &Fields<'_>) -> Res<String> {
        let v = f.short("vhost")?;
        if !self.vhosts.contains(v) {
            return Err(invalid(
                f.at("vhost"),
                format!("unknown vhost '{v}' (neither in vhosts nor in the broker)"),
            ));
        }
        Ok(v.to_owned())
    }
}

/// Everything an import will do, checked.
struct Plan {
    warnings: Vec<String>,
    new_vhosts: Vec<String>,
    exchanges: Vec<ExchangeDef>,
    queues: Vec<QueueDef>,
    bindings: Vec<BindingDef>,
}

impl Plan {
    fn parse(broker: &Broker, root: &Value) -> Res<Plan> {
        let Value::Object(root) = root else {
            return Err(invalid(
                "",
                format!("expected a JSON object, found {}", kind_of(root)),
            ));
        };
        let mut known = Known::of(broker);
        let mut plan = Plan {
            warnings: Vec::new(),
            new_vhosts: Vec::new(),
            exchanges: Vec::new(),
            queues: Vec::new(),
            bindings: Vec::new(),
        };
        for (key, value) in root {
            let key = key.as_str();
            if let Some((_, why)) = IGNORED_SECTIONS.iter().find(|(s, _)| *s == key) {
                match value {
                    Value::Array(a) if a.is_empty() => {}
                    Value::Array(a) => plan.warnings.push(format!(
                        "{key}: {} {} ignored ({why})",
                        a.len(),
                        if a.len() == 1 { "entry" } else { "entries" }
                    )),
                    _ => plan.warnings.push(format!("{key}: ignored ({why})")),
                }
            } else if !VERSION_SECTIONS.contains(&key)
                && !["vhosts", "exchanges", "queues", "bindings"].contains(&key)
            {
                plan.warnings
                    .push(format!("{key}: unknown section, ignored"));
            }
        }
        plan.parse_vhosts(root, &mut known)?;
        plan.parse_exchanges(root, &mut known)?;
        plan.parse_queues(root, &mut known)?;
        plan.parse_bindings(root, &known)?;
        Ok(plan)
    }

    fn parse_vhosts(&mut self, root: &Map<String, Value>, known: &mut Known) -> Res<()> {
        for (i, v) in section(root, "vhosts")?.iter().enumerate() {
            let f = Fields::new(format!("vhosts[{i}]"), v)?;
            let name = f.short("name")?;
            if name.is_empty() {
                return Err(invalid(f.at("name"), "empty vhost name"));
            }
            if let Some(limits) = f.map.get("limits") {
                let empty = match limits {
                    Value::Array(a) => a.is_empty(),
                    Value::Object(m) => m.is_empty(),
                    _ => false,
                };
                if !empty {
                    self.warnings.push(format!(
                        "{}: vhost limits are not supported, ignored",
                        f.at("limits")
                    ));
                }
            }
            f.warn_unknown(
                &[
                    "name",
                    "limits",
                    "metadata",
                    "description",
                    "tags",
                    "tracing",
                    "default_queue_type",
                ],
                &mut self.warnings,
            );
            if known.vhosts.insert(name.to_owned()) {
                self.new_vhosts.push(name.to_owned());
            }
        }
        Ok(())
    }

    fn parse_exchanges(&mut self, root: &Map<String, Value>, known: &mut Known) -> Res<()> {
        for (i, v) in section(root, "exchanges")?.iter().enumerate() {
            let f = Fields::new(format!("exchanges[{i}]"), v)?;
            let name = f.short("name")?;
            let vhost = known.vhost(&f)?;
            let type_name = f.string("type")?;
            let kind: ExchangeKind = type_name.parse().map_err(|_| {
                invalid(f.at("type"), format!("unknown exchange type '{type_name}'"))
            })?;
            let durable = f.boolean("durable", None)?;
            let auto_delete = f.boolean("auto_delete", Some(false))?;
            let internal = f.boolean("internal", Some(false))?;
            let args = f.arguments()?;
            if name.is_empty() {
                return Err(invalid(
                    f.at("name"),
                    "the default exchange cannot be declared",
                ));
            }
            let key = (vhost.clone(), name.to_owned());
            if name.starts_with("amq.") && !known.exchanges.contains_key(&key) {
                return Err(invalid(
                    f.at("name"),
                    "exchange names starting with 'amq.' are reserved",
                ));
            }
            let mut arguments = FieldTable::new();
            for (k, v) in args {
                if k == "alternate-exchange" {
                    if !v.is_string() {
                        return Err(invalid(
                            format!("{}.arguments.{k}", f.path),
                            "expected a string",
                        ));
                    }
                    arguments.push(k.as_str(), json_to_value(v));
                } else {
                    self.warnings.push(format!(
                        "{}.arguments.{k}: not kept (the broker reads only alternate-exchange), ignored",
                        f.path
                    ));
                }
            }
            f.warn_unknown(
                &[
                    "name",
                    "vhost",
                    "type",
                    "durable",
                    "auto_delete",
                    "internal",
                    "arguments",
                ],
                &mut self.warnings,
            );
            known.exchanges.insert(key, kind);
            self.exchanges.push(ExchangeDef {
                path: f.path,
                vhost,
                name: name.to_owned(),
                kind,
                options: ExchangeDeclare {
                    passive: false,
                    durable,
                    auto_delete,
                    internal,
                    arguments,
                },
            });
        }
        Ok(())
    }

    fn parse_queues(&mut self, root: &Map<String, Value>, known: &mut Known) -> Res<()> {
        for (i, v) in section(root, "queues")?.iter().enumerate() {
            let f = Fields::new(format!("queues[{i}]"), v)?;
            let name = f.short("name")?;
            let vhost = known.vhost(&f)?;
            let durable = f.boolean("durable", None)?;
            let auto_delete = f.boolean("auto_delete", Some(false))?;
            let mut arguments = json_to_table(f.arguments()?);
            // RabbitMQ's exports name the type beside the arguments.
            if let Some(t) = f.map.get("type") {
                match t.as_str() {
                    Some("classic") => {}
                    Some("quorum") if !arguments.contains("x-queue-type") => {
                        arguments
                            .insert("x-queue-type", FieldValue::LongString(b"quorum".to_vec()));
                    }
                    Some("quorum") => {}
                    Some("stream") => {
                        return Err(invalid(
                            f.at("type"),
                            "streams are not supported by trackswitch (classic and quorum queues are)",
                        ));
                    }
                    Some(other) => {
                        return Err(invalid(
                            f.at("type"),
                            format!("unsupported queue type '{other}'"),
                        ));
                    }
                    None => return Err(invalid(f.at("type"), "expected a string")),
                }
            }
            check_queue_arguments(&f, &arguments)?;
            let quorum = matches!(
                arguments.get("x-queue-type").and_then(FieldValue::as_bytes),
                Some(b"quorum")
            );
            if quorum && !durable {
                return Err(invalid(f.at("durable"), "quorum queues are durable"));
            }
            if quorum && auto_delete {
                return Err(invalid(
                    f.at("auto_delete"),
                    "quorum queues are not auto-delete",
                ));
            }
            if name.is_empty() {
                return Err(invalid(f.at("name"), "empty queue name"));
            }
            let key = (vhost.clone(), name.to_owned());
            match known.queues.get(&key) {
                Some(true) => {
                    return Err(invalid(
                        f.at("name"),
                        format!(
                            "queue '{name}' in vhost '{vhost}' exists as an exclusive queue of a connection"
                        ),
                    ));
                }
                Some(false) => {}
                None if name.starts_with("amq.") => {
                    return Err(invalid(
                        f.at("name"),
                        "queue names starting with 'amq.' are reserved",
                    ));
                }
                None => {}
            }
            f.warn_unknown(
                &[
                    "name",
                    "vhost",
                    "durable",
                    "auto_delete",
                    "arguments",
                    "type",
                ],
                &mut self.warnings,
            );
            known.queues.insert(key, false);
            self.queues.push(QueueDef {
                path: f.path,
                vhost,
                name: name.to_owned(),
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

    fn parse_bindings(&mut self, root: &Map<String, Value>, known: &Known) -> Res<()> {
        for (i, v) in section(root, "bindings")?.iter().enumerate() {
            let f = Fields::new(format!("bindings[{i}]"), v)?;
            let vhost = known.vhost(&f)?;
            let source = f.short("source")?;
            let destination = f.short("destination")?;
            let to_exchange = match f.string("destination_type")? {
                "queue" => false,
                "exchange" => true,
                other => {
                    return Err(invalid(
                        f.at("destination_type"),
                        format!("expected 'queue' or 'exchange', found '{other}'"),
                    ));
                }
            };
            let routing_key = match f.map.get("routing_key") {
                None => "",
                Some(_) => f.short("routing_key")?,
            };
            let args = f.arguments()?;
            let binding = BindingDef {
                path: f.path.clone(),
                vhost,
                source: source.to_owned(),
                destination: destination.to_owned(),
                to_exchange,
                routing_key: routing_key.to_owned(),
                arguments: json_to_table(args),
            };
            let missing = |path: String, what: &str, name: &str| {
                invalid(
                    path,
                    format!(
                        "{}: no {what} '{name}' in vhost '{}' (neither in the definitions nor in the broker)",
                        binding.describe(),
                        binding.vhost
                    ),
                )
            };
            if source.is_empty() || (to_exchange && destination.is_empty()) {
                return Err(invalid(
                    f.path.clone(),
                    format!(
                        "{}: the default exchange cannot be bound",
                        binding.describe()
                    ),
                ));
            }
            let Some(&kind) = known
                .exchanges
                .get(&(binding.vhost.clone(), source.to_owned()))
            else {
                return Err(missing(f.at("source"), "exchange", source));
            };
            let dest_key = (binding.vhost.clone(), destination.to_owned());
            if to_exchange && !known.exchanges.contains_key(&dest_key) {
                return Err(missing(f.at("destination"), "exchange", destination));
            }
            if !to_exchange {
                match known.queues.get(&dest_key) {
                    None => return Err(missing(f.at("destination"), "queue", destination)),
                    Some(true) => {
                        return Err(invalid(
                            f.at("destination"),
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
                match args.get("x-match") {
                    None => {}
                    Some(Value::String(m))
                        if ["all", "any", "all-with-x", "any-with-x"].contains(&m.as_str()) => {}
                    Some(_) => {
                        return Err(invalid(
                            format!("{}.arguments.x-match", f.path),
                            "expected one of 'all', 'any', 'all-with-x', 'any-with-x'",
                        ));
                    }
                }
            }
            f.warn_unknown(
                &[
                    "source",
                    "vhost",
                    "destination",
                    "destination_type",
                    "routing_key",
                    "arguments",
                    "properties_key",
                ],
                &mut self.warnings,
            );
            self.bindings.push(binding);
        }
        Ok(())
    }

    /// Applies the plan: vhosts, exchanges, queues, bindings.
    fn apply(self, broker: &Broker) -> Res<ImportReport> {
        let mut report = ImportReport {
            warnings: self.warnings,
            ..ImportReport::default()
        };
        for v in &self.new_vhosts {
            if broker.add_vhost(v) {
                report.vhosts += 1;
            }
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
            let conn = self.broker.connect(ConnectOptions {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_round_trip_through_json() {
        let mut inner = FieldTable::new();
        inner.insert("k", "v");
        let values = [
            FieldValue::LongLongInt(-3),
            FieldValue::LongLongUInt(u64::MAX),
            FieldValue::Double(1.5),
            FieldValue::Boolean(true),
            FieldValue::from("text"),
            FieldValue::Void,
            FieldValue::Array(vec![FieldValue::LongLongInt(1), FieldValue::from("a")]),
            FieldValue::Table(inner),
        ];
        for v in values {
            assert_eq!(json_to_value(&value_to_json(&v)), v, "{v:?}");
        }
    }

    #[test]
    fn other_field_values_export_the_obvious_way() {
        let cases = [
            (FieldValue::ShortInt(-2), "-2"),
            (FieldValue::LongUInt(7), "7"),
            (FieldValue::Timestamp(9), "9"),
            (FieldValue::Float(0.5), "0.5"),
            (FieldValue::Double(f64::NAN), "null"),
            (
                FieldValue::Decimal {
                    scale: 2,
                    value: 150,
                },
                "1.5",
            ),
            (FieldValue::ShortString("s".into()), "\"s\""),
            (FieldValue::ByteArray(vec![b'a', 0xff]), "\"a\u{fffd}\""),
        ];
        for (v, json) in cases {
            assert_eq!(value_to_json(&v).to_string(), json, "{v:?}");
        }
    }
}
