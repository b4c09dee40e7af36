//! The definitions file format as read: serde types for RabbitMQ's definitions JSON,
//! read by [`read`] (the written form is `export`'s).
//!
//! Owns the shape of the file: its sections and objects with RabbitMQ's field names,
//! each field's JSON type and the message for a wrong one, the checks that need nothing
//! but the value itself (name lengths, exchange, destination and queue types, the two
//! forms of a user's tags), which
//! fields are required, and the keys an object has that its type does not know
//! (`arguments` are `arguments`').
//!
//! May not touch the broker: nothing here reads broker state or declares anything.
//! Checks that need the broker or another part of the file (vhost and user references,
//! reserved names, queue arguments, permission regexes, the ends of a binding) are
//! `plan`'s.
//!
//! # How a wrong value is named
//!
//! [`read`] parses twice. First into nothing, only to learn that the text is JSON
//! within serde_json's recursion limit (128): a failure there is
//! [`DefinitionsError::Json`], whatever the document's shape. Then into the typed
//! [`Document`] through `serde_path_to_error`, which records where deserialising
//! stopped (`queues[3].arguments`). The leaf types below read every JSON kind
//! themselves (`deserialize_any`) and fail with this crate's own message ("expected a
//! boolean"); the path and that message make [`DefinitionsError::Invalid`]. Required
//! fields are `Option`s that a present `null` does not fill ([`present`]), so that
//! `"durable": null` is "expected a boolean" and an absent one is "missing", with the
//! field in the path either way ([`required`]).
//!
//! Type errors are found in document order, before any check of `plan`: a file with a
//! wrong type anywhere fails on that, even if an earlier object names an unknown vhost.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_path_to_error::Segment;

use super::arguments::{Arguments, Json};
use super::{DefinitionsError, Res, invalid};
use crate::{ExchangeKind, MAX_NAME_LEN};

/// The RabbitMQ release whose definitions format the export follows.
pub(super) const RABBITMQ_FORMAT_VERSION: &str = "3.10.8";

// ----- reading -----

/// Reads definitions JSON into the typed [`Document`].
///
/// # Errors
///
/// [`DefinitionsError::Json`] for text that is not JSON or nests deeper than 128;
/// [`DefinitionsError::Invalid`] for JSON of the wrong shape, with the place.
pub(super) fn read(json: &str) -> Res<Document> {
    serde_json::from_str::<Syntax>(json).map_err(|e| DefinitionsError::Json {
        message: e.to_string(),
    })?;
    let mut de = serde_json::Deserializer::from_str(json);
    let mut track = serde_path_to_error::Track::new();
    match Root::deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track)) {
        Ok(Root(document)) => Ok(document),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(invalid(path_text(&track.path()), message_of(&e)))
        }
        // Not reached: the first pass parsed the same text.
        Err(e) => Err(DefinitionsError::Json {
            message: e.to_string(),
        }),
    }
}

/// `queues[3].arguments.x-max-length`; empty for the whole document.
fn path_text(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

/// serde_json's message without the position it appends (the path says where).
fn message_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&at) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// A required field's value, or `{object}.{field}: missing`.
pub(super) fn required<T>(value: Option<T>, object: &str, field: &str) -> Res<T> {
    value.ok_or_else(|| invalid(format!("{object}.{field}"), "missing"))
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option` field: a present
/// value is read as `T` (so `null` is a wrong type, not `None`); an absent one is `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Any JSON, read through `deserialize_any` at every level so that serde_json's
/// recursion limit applies (its way of skipping a value has none).
struct Syntax;

impl<'de> Deserialize<'de> for Syntax {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Syntax, D::Error> {
        d.deserialize_any(SyntaxVisitor)
    }
}

struct SyntaxVisitor;

impl<'de> Visitor<'de> for SyntaxVisitor {
    type Value = Syntax;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Syntax, A::Error> {
        while seq.next_element::<Syntax>()?.is_some() {}
        Ok(Syntax)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Syntax, A::Error> {
        while map.next_entry::<IgnoredAny, Syntax>()?.is_some() {}
        Ok(Syntax)
    }
}

// ----- the leaf types: each reads every JSON kind itself -----

/// A JSON value's kind, as messages name it ("found an array").
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Null => "null",
            Kind::Boolean => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        })
    }
}

/// A type read from any JSON kind: it overrides the kinds it takes; every other kind
/// fails with [`wrong`](Leaf::wrong)'s message.
pub(super) trait Leaf<'de>: Sized {
    /// The message for a value of kind `found`: "expected a boolean".
    fn wrong(found: Kind) -> String;

    fn boolean<E: de::Error>(_: bool) -> Result<Self, E> {
        Err(E::custom(Self::wrong(Kind::Boolean)))
    }

    fn signed<E: de::Error>(_: i64) -> Result<Self, E> {
        Err(E::custom(Self::wrong(Kind::Number)))
    }

    fn unsigned<E: de::Error>(_: u64) -> Result<Self, E> {
        Err(E::custom(Self::wrong(Kind::Number)))
    }

    fn float<E: de::Error>(_: f64) -> Result<Self, E> {
        Err(E::custom(Self::wrong(Kind::Number)))
    }

    fn string<E: de::Error>(_: &str) -> Result<Self, E> {
        Err(E::custom(Self::wrong(Kind::String)))
    }

    fn null<E: de::Error>() -> Result<Self, E> {
        Err(E::custom(Self::wrong(Kind::Null)))
    }

    fn array<A: SeqAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(de::Error::custom(Self::wrong(Kind::Array)))
    }

    fn object<A: MapAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(de::Error::custom(Self::wrong(Kind::Object)))
    }
}

/// Reads a [`Leaf`] (its `Deserialize`).
fn leaf<'de, D: Deserializer<'de>, T: Leaf<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(LeafVisitor(PhantomData))
}

struct LeafVisitor<T>(PhantomData<T>);

impl<'de, T: Leaf<'de>> Visitor<'de> for LeafVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only for kinds JSON does not have: each JSON kind has its method below.
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::boolean(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::signed(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::unsigned(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::float(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::string(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        T::null()
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        T::null()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::array(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }
}

/// Implements `Deserialize` for [`Leaf`] types.
macro_rules! deserialize_leaf {
    ($($ty:ident $(<$p:ident>)?),* $(,)?) => {$(
        impl<'de $(, $p: Deserialize<'de>)?> Deserialize<'de> for $ty $(<$p>)? {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                leaf(d)
            }
        }
    )*};
}

deserialize_leaf!(
    Root,
    Object<T>,
    Section<T>,
    Flag,
    Name,
    Text,
    Tags,
    ExchangeType,
    QueueType,
    DestinationType,
    Arguments,
    Json,
    Shape,
);

/// The document: a JSON object.
struct Root(Document);

impl<'de> Leaf<'de> for Root {
    fn wrong(found: Kind) -> String {
        format!("expected a JSON object, found {found}")
    }

    fn object<A: MapAccess<'de>>(map: A) -> Result<Root, A::Error> {
        Document::deserialize(MapAccessDeserializer::new(map)).map(Root)
    }
}

/// An element of a section: a JSON object read as the derived `T`.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Leaf<'de> for Object<T> {
    fn wrong(found: Kind) -> String {
        format!("expected an object, found {found}")
    }

    fn object<A: MapAccess<'de>>(map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object)
    }
}

/// A section the broker reads: an array of objects (absent: empty).
#[derive(Debug)]
pub(super) struct Section<T>(pub(super) Vec<T>);

impl<T> Default for Section<T> {
    fn default() -> Section<T> {
        Section(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Leaf<'de> for Section<T> {
    fn wrong(found: Kind) -> String {
        format!("expected an array, found {found}")
    }

    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Section<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(Object(v)) = seq.next_element::<Object<T>>()? {
            out.push(v);
        }
        Ok(Section(out))
    }
}

/// A boolean field.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Flag(pub(super) bool);

impl Leaf<'_> for Flag {
    fn wrong(_: Kind) -> String {
        "expected a boolean".into()
    }

    fn boolean<E: de::Error>(v: bool) -> Result<Flag, E> {
        Ok(Flag(v))
    }
}

/// A name, vhost or routing key: a string of at most 255 bytes (an AMQP short string).
#[derive(Debug, Clone, Default)]
pub(super) struct Name(pub(super) String);

impl Leaf<'_> for Name {
    fn wrong(_: Kind) -> String {
        "expected a string".into()
    }

    fn string<E: de::Error>(v: &str) -> Result<Name, E> {
        if v.len() > MAX_NAME_LEN {
            return Err(E::custom(format!("longer than {MAX_NAME_LEN} bytes")));
        }
        Ok(Name(v.to_owned()))
    }
}

/// A string of any length: a user name, a password hash, a permission regex.
#[derive(Debug, Clone, Default)]
pub(super) struct Text(pub(super) String);

impl Leaf<'_> for Text {
    fn wrong(_: Kind) -> String {
        "expected a string".into()
    }

    fn string<E: de::Error>(v: &str) -> Result<Text, E> {
        Ok(Text(v.to_owned()))
    }
}

/// A user's `tags`: an array of strings (RabbitMQ 3.10's exports) or one
/// comma-separated string (older exports); absent: none.
#[derive(Debug, Clone, Default)]
pub(super) struct Tags(pub(super) Vec<String>);

impl<'de> Leaf<'de> for Tags {
    fn wrong(_: Kind) -> String {
        "expected an array of strings or a comma-separated string".into()
    }

    fn string<E: de::Error>(v: &str) -> Result<Tags, E> {
        Ok(Tags(
            v.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }

    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Tags, A::Error> {
        let mut out = Vec::new();
        while let Some(Text(t)) = seq.next_element::<Text>()? {
            out.push(t);
        }
        Ok(Tags(out))
    }
}

/// An exchange's `type`: one of the four kinds.
#[derive(Debug, Clone, Copy)]
pub(super) struct ExchangeType(pub(super) ExchangeKind);

impl Leaf<'_> for ExchangeType {
    fn wrong(_: Kind) -> String {
        "expected a string".into()
    }

    fn string<E: de::Error>(v: &str) -> Result<ExchangeType, E> {
        v.parse()
            .map(ExchangeType)
            .map_err(|_| E::custom(format!("unknown exchange type '{v}'")))
    }
}

/// A queue's `type`, which RabbitMQ's exports write beside the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueueType {
    /// `classic`.
    Classic,
    /// `quorum`: the same as the argument `x-queue-type: quorum`.
    Quorum,
}

impl Leaf<'_> for QueueType {
    fn wrong(_: Kind) -> String {
        "expected a string".into()
    }

    fn string<E: de::Error>(v: &str) -> Result<QueueType, E> {
        match v {
            "classic" => Ok(QueueType::Classic),
            "quorum" => Ok(QueueType::Quorum),
            "stream" => Err(E::custom(
                "streams are not supported by trackswitch (classic and quorum queues are)",
            )),
            other => Err(E::custom(format!("unsupported queue type '{other}'"))),
        }
    }
}

/// A binding's `destination_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DestinationType {
    /// `queue`.
    Queue,
    /// `exchange`.
    Exchange,
}

impl DestinationType {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DestinationType::Queue => "queue",
            DestinationType::Exchange => "exchange",
        }
    }
}

impl Serialize for DestinationType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Leaf<'_> for DestinationType {
    fn wrong(_: Kind) -> String {
        "expected a string".into()
    }

    fn string<E: de::Error>(v: &str) -> Result<DestinationType, E> {
        match v {
            "queue" => Ok(DestinationType::Queue),
            "exchange" => Ok(DestinationType::Exchange),
            other => Err(E::custom(format!(
                "expected 'queue' or 'exchange', found '{other}'"
            ))),
        }
    }
}

/// A value read only for its shape: an ignored section (policies, ...), whose
/// entries the warning counts, or a vhost's `limits`, of which the warning says whether
/// any is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// An array of this many entries.
    Array(usize),
    /// An object of this many entries.
    Object(usize),
    /// A string, number, boolean or `null`.
    Scalar,
}

impl Shape {
    /// Whether it holds anything: not an empty array or object.
    pub(super) fn is_set(self) -> bool {
        !matches!(self, Shape::Array(0) | Shape::Object(0))
    }
}

impl<'de> Leaf<'de> for Shape {
    // Every JSON kind is taken; this is for none.
    fn wrong(found: Kind) -> String {
        format!("unexpected {found}")
    }

    fn boolean<E: de::Error>(_: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn signed<E: de::Error>(_: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn unsigned<E: de::Error>(_: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn float<E: de::Error>(_: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn string<E: de::Error>(_: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn null<E: de::Error>() -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Shape, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Shape::Array(n))
    }

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Shape, A::Error> {
        let mut n = 0;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Shape::Object(n))
    }
}

// ----- the document, read -----

/// A definitions file, read. Sections the broker has no equivalent for and unknown ones
/// land in `other`, by name.
#[derive(Debug, Deserialize)]
pub(super) struct Document {
    #[serde(default)]
    pub(super) vhosts: Section<Vhost>,
    #[serde(default)]
    pub(super) users: Section<User>,
    #[serde(default)]
    pub(super) permissions: Section<Permission>,
    #[serde(default)]
    pub(super) exchanges: Section<Exchange>,
    #[serde(default)]
    pub(super) queues: Section<Queue>,
    #[serde(default)]
    pub(super) bindings: Section<Binding>,
    // Read only for their version strings; any value is accepted.
    #[serde(default, rename = "rabbit_version")]
    _rabbit_version: IgnoredAny,
    #[serde(default, rename = "rabbitmq_version")]
    _rabbitmq_version: IgnoredAny,
    #[serde(default, rename = "product_name")]
    _product_name: IgnoredAny,
    #[serde(default, rename = "product_version")]
    _product_version: IgnoredAny,
    /// Every other top-level key, sorted.
    #[serde(flatten)]
    pub(super) other: BTreeMap<String, Shape>,
}

/// An entry of `vhosts`.
#[derive(Debug, Deserialize)]
pub(super) struct Vhost {
    #[serde(default, deserialize_with = "present")]
    pub(super) name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) limits: Option<Shape>,
    // What RabbitMQ writes about a vhost that the broker has no use for.
    #[serde(default, rename = "metadata")]
    _metadata: IgnoredAny,
    #[serde(default, rename = "description")]
    _description: IgnoredAny,
    #[serde(default, rename = "tags")]
    _tags: IgnoredAny,
    #[serde(default, rename = "tracing")]
    _tracing: IgnoredAny,
    #[serde(default, rename = "default_queue_type")]
    _default_queue_type: IgnoredAny,
    /// Unknown fields, sorted.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, IgnoredAny>,
}

/// An entry of `users`.
#[derive(Debug, Deserialize)]
pub(super) struct User {
    #[serde(default, deserialize_with = "present")]
    pub(super) name: Option<Text>,
    #[serde(default, deserialize_with = "present")]
    pub(super) password_hash: Option<Text>,
    #[serde(default, deserialize_with = "present")]
    pub(super) hashing_algorithm: Option<Text>,
    #[serde(default)]
    pub(super) tags: Tags,
    #[serde(default, deserialize_with = "present")]
    pub(super) limits: Option<Shape>,
    /// A plaintext password (RabbitMQ's import hashes it): refused by `plan`.
    #[serde(default, deserialize_with = "present")]
    pub(super) password: Option<Shape>,
    /// Unknown fields, sorted.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, IgnoredAny>,
}

/// An entry of `permissions`.
#[derive(Debug, Deserialize)]
pub(super) struct Permission {
    #[serde(default, deserialize_with = "present")]
    pub(super) user: Option<Text>,
    #[serde(default, deserialize_with = "present")]
    pub(super) vhost: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) configure: Option<Text>,
    #[serde(default, deserialize_with = "present")]
    pub(super) write: Option<Text>,
    #[serde(default, deserialize_with = "present")]
    pub(super) read: Option<Text>,
    /// Unknown fields, sorted.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, IgnoredAny>,
}

/// An entry of `exchanges`.
#[derive(Debug, Deserialize)]
pub(super) struct Exchange {
    #[serde(default, deserialize_with = "present")]
    pub(super) name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) vhost: Option<Name>,
    #[serde(default, deserialize_with = "present", rename = "type")]
    pub(super) kind: Option<ExchangeType>,
    #[serde(default, deserialize_with = "present")]
    pub(super) durable: Option<Flag>,
    #[serde(default)]
    pub(super) auto_delete: Flag,
    #[serde(default)]
    pub(super) internal: Flag,
    #[serde(default)]
    pub(super) arguments: Arguments,
    /// Unknown fields, sorted.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, IgnoredAny>,
}

/// An entry of `queues`.
#[derive(Debug, Deserialize)]
pub(super) struct Queue {
    #[serde(default, deserialize_with = "present")]
    pub(super) name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) vhost: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) durable: Option<Flag>,
    #[serde(default)]
    pub(super) auto_delete: Flag,
    #[serde(default)]
    pub(super) arguments: Arguments,
    #[serde(default, deserialize_with = "present", rename = "type")]
    pub(super) kind: Option<QueueType>,
    /// Unknown fields, sorted.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, IgnoredAny>,
}

/// An entry of `bindings`.
#[derive(Debug, Deserialize)]
pub(super) struct Binding {
    #[serde(default, deserialize_with = "present")]
    pub(super) source: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) vhost: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) destination: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub(super) destination_type: Option<DestinationType>,
    #[serde(default)]
    pub(super) routing_key: Name,
    #[serde(default)]
    pub(super) arguments: Arguments,
    // RabbitMQ's identity of a binding (routing key and arguments hashed).
    #[serde(default, rename = "properties_key")]
    _properties_key: IgnoredAny,
    /// Unknown fields, sorted.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, IgnoredAny>,
}

#[cfg(test)]
mod tests {
    use super::super::arguments::ValueOut;
    use super::super::export::Export;
    use super::*;
    use crate::{FieldTable, FieldValue};

    fn to_json(v: &FieldValue) -> String {
        serde_json::to_string(&ValueOut(v)).unwrap()
    }

    fn from_json(json: &str) -> FieldValue {
        serde_json::from_str::<Json>(json).unwrap().0
    }

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
            assert_eq!(from_json(&to_json(&v)), v, "{v:?}");
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
            (FieldValue::Float(f32::INFINITY), "null"),
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
            assert_eq!(to_json(&v), json, "{v:?}");
        }
    }

    #[test]
    fn json_objects_become_sorted_tables_the_last_duplicate_kept() {
        let v = from_json(r#"{"b": 1, "a": {"y": 1, "x": 2, "y": 3}, "b": 2.5}"#);
        let FieldValue::Table(t) = v else {
            panic!("{v:?}")
        };
        let names: Vec<&str> = t.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(t.get("b"), Some(&FieldValue::Double(2.5)));
        let Some(FieldValue::Table(a)) = t.get("a") else {
            panic!("{t:?}")
        };
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("y"), Some(&FieldValue::LongLongInt(3)));
    }

    /// The message is serde_json's `Display` without its position suffix; this guards
    /// that suffix's form.
    #[test]
    fn messages_lose_only_their_position() {
        let e = serde_json::from_str::<Flag>("\n  \"yes\"").unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 7));
        assert_eq!(message_of(&e), "expected a boolean");
    }

    #[test]
    fn the_export_order_is_alphabetical() {
        let json = serde_json::to_string(&Export::new()).unwrap();
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            json,
            format!(
                r#"{{"bindings":[],"exchanges":[],"global_parameters":[],"parameters":[],"permissions":[],"policies":[],"product_name":"trackswitch","product_version":"{version}","queues":[],"rabbit_version":"3.10.8","rabbitmq_version":"3.10.8","topic_permissions":[],"users":[],"vhosts":[]}}"#
            )
        );
    }
}
