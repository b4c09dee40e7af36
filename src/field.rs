//! AMQP 0-9-1 field values and field tables.
//!
//! These are the typed values of message headers and of the `arguments` of declare,
//! bind and consume methods. They live in the core so that the headers exchange, the
//! broker and the wire server share one representation.
//!
//! Equality (`==`) is *structural*: the same variant with the same contents, floats
//! compared by their bits (so `NaN == NaN` and a table can be a hash key, as binding
//! identity needs). Headers matching uses a different, value-based comparison; see
//! [`FieldValue::same_value`].

use std::fmt;
use std::hash::{Hash, Hasher};

/// One typed AMQP 0-9-1 field value.
///
/// Every type of the 0-9-1 field-value grammar has a variant. The signed/unsigned
/// short-short, short, long and long-long integers keep their width so that a wire
/// server can write back exactly what it read.
///
/// # Examples
///
/// ```
/// use trackswitch::FieldValue;
///
/// let a = FieldValue::LongInt(1);
/// let b = FieldValue::ShortInt(1);
/// assert_ne!(a, b); // structurally different types
/// assert!(a.same_value(&b)); // but the same value, as headers matching sees it
/// assert!(!a.same_value(&FieldValue::Double(1.0)));
/// ```
///
/// With the `serde` feature it is an externally tagged enum named by variant, so the
/// AMQP type survives a round trip: `{"LongInt": 1}`, `{"Decimal": {"scale": 2,
/// "value": 150}}`, `"Void"`. Long strings and byte arrays are a string when they are
/// UTF-8 and the format is human-readable (`{"LongString": "pdf"}`), else bytes (in
/// JSON an array of numbers). JSON has no NaN or infinity: serde_json writes those
/// floats as `null`, which does not read back.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use trackswitch::FieldValue;
///
/// let json = serde_json::to_string(&FieldValue::from("pdf")).unwrap();
/// assert_eq!(json, r#"{"LongString":"pdf"}"#);
/// assert_eq!(serde_json::from_str::<FieldValue>(&json).unwrap(), FieldValue::from("pdf"));
/// # }
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FieldValue {
    /// `t`: boolean.
    Boolean(bool),
    /// `b`: signed 8-bit integer.
    ShortShortInt(i8),
    /// `B`: unsigned 8-bit integer.
    ShortShortUInt(u8),
    /// `s` (RabbitMQ) / `U`: signed 16-bit integer.
    ShortInt(i16),
    /// `u`: unsigned 16-bit integer.
    ShortUInt(u16),
    /// `I`: signed 32-bit integer.
    LongInt(i32),
    /// `i`: unsigned 32-bit integer.
    LongUInt(u32),
    /// `l` (RabbitMQ) / `L`: signed 64-bit integer.
    LongLongInt(i64),
    /// `L` (spec): unsigned 64-bit integer.
    LongLongUInt(u64),
    /// `f`: 32-bit float.
    Float(f32),
    /// `d`: 64-bit float.
    Double(f64),
    /// `D`: decimal, `value / 10^scale`.
    Decimal {
        /// Number of decimal digits after the point.
        scale: u8,
        /// Unscaled value.
        value: u32,
    },
    /// Short string (at most 255 bytes on the wire).
    ShortString(String),
    /// `S`: long string; bytes, not necessarily UTF-8.
    LongString(#[cfg_attr(feature = "serde", serde(with = "crate::text"))] Vec<u8>),
    /// `x`: byte array.
    ByteArray(#[cfg_attr(feature = "serde", serde(with = "crate::text"))] Vec<u8>),
    /// `A`: array of field values.
    Array(Vec<FieldValue>),
    /// `T`: timestamp, seconds since the Unix epoch.
    Timestamp(u64),
    /// `F`: nested field table.
    Table(FieldTable),
    /// `V`: void (no value).
    Void,
}

/// The class of a value for value-based comparison.
enum Class<'a> {
    Bool(bool),
    Int(i128),
    Float(f64),
    Decimal(u8, u32),
    Bytes(&'a [u8]),
    Array(&'a [FieldValue]),
    Table(&'a FieldTable),
    Void,
}

impl FieldValue {
    /// The value as a string, when it is a short or long string.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::FieldValue;
    /// assert_eq!(FieldValue::LongString(b"all".to_vec()).as_bytes(), Some(&b"all"[..]));
    /// assert_eq!(FieldValue::LongInt(3).as_bytes(), None);
    /// ```
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            FieldValue::ShortString(s) => Some(s.as_bytes()),
            FieldValue::LongString(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an integer, whatever its width (timestamps included).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::FieldValue;
    /// assert_eq!(FieldValue::ShortShortUInt(7).as_int(), Some(7));
    /// assert_eq!(FieldValue::Double(7.0).as_int(), None);
    /// ```
    pub fn as_int(&self) -> Option<i128> {
        match self {
            FieldValue::ShortShortInt(v) => Some((*v).into()),
            FieldValue::ShortShortUInt(v) => Some((*v).into()),
            FieldValue::ShortInt(v) => Some((*v).into()),
            FieldValue::ShortUInt(v) => Some((*v).into()),
            FieldValue::LongInt(v) => Some((*v).into()),
            FieldValue::LongUInt(v) => Some((*v).into()),
            FieldValue::LongLongInt(v) => Some((*v).into()),
            FieldValue::LongLongUInt(v) => Some((*v).into()),
            FieldValue::Timestamp(v) => Some((*v).into()),
            _ => None,
        }
    }

    /// The value as a boolean, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    fn class(&self) -> Class<'_> {
        if let Some(i) = self.as_int() {
            return Class::Int(i);
        }
        match self {
            FieldValue::Boolean(b) => Class::Bool(*b),
            FieldValue::Float(f) => Class::Float(f64::from(*f)),
            FieldValue::Double(d) => Class::Float(*d),
            FieldValue::Decimal { scale, value } => Class::Decimal(*scale, *value),
            FieldValue::ShortString(s) => Class::Bytes(s.as_bytes()),
            FieldValue::LongString(b) | FieldValue::ByteArray(b) => Class::Bytes(b),
            FieldValue::Array(a) => Class::Array(a),
            FieldValue::Table(t) => Class::Table(t),
            FieldValue::Void => Class::Void,
            _ => unreachable!("integers are classified above"),
        }
    }

    /// Value-based comparison, as the headers exchange uses it.
    ///
    /// Integers are equal when their numeric values are equal, whatever their width or
    /// signedness (timestamps count as integers); floats (32 or 64 bit) are equal when
    /// their values are equal, and never equal to an integer (`1 != 1.0`); short strings,
    /// long strings and byte arrays are equal when their bytes are; booleans, decimals,
    /// arrays (element by element) and tables (entry by entry, in order) compare by
    /// value; a string is never equal to a number (`"1" != 1`). This is RabbitMQ
    /// 3.13's rule, without its quirk of scaling timestamps by 1000.
    pub fn same_value(&self, other: &FieldValue) -> bool {
        match (self.class(), other.class()) {
            (Class::Bool(a), Class::Bool(b)) => a == b,
            (Class::Int(a), Class::Int(b)) => a == b,
            (Class::Float(a), Class::Float(b)) => a == b,
            (Class::Decimal(sa, va), Class::Decimal(sb, vb)) => sa == sb && va == vb,
            (Class::Bytes(a), Class::Bytes(b)) => a == b,
            (Class::Array(a), Class::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_value(y))
            }
            (Class::Table(a), Class::Table(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.same_value(vb))
            }
            (Class::Void, Class::Void) => true,
            _ => false,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            FieldValue::Boolean(_) => b't',
            FieldValue::ShortShortInt(_) => b'b',
            FieldValue::ShortShortUInt(_) => b'B',
            FieldValue::ShortInt(_) => b'U',
            FieldValue::ShortUInt(_) => b'u',
            FieldValue::LongInt(_) => b'I',
            FieldValue::LongUInt(_) => b'i',
            FieldValue::LongLongInt(_) => b'l',
            FieldValue::LongLongUInt(_) => b'L',
            FieldValue::Float(_) => b'f',
            FieldValue::Double(_) => b'd',
            FieldValue::Decimal { .. } => b'D',
            FieldValue::ShortString(_) => b's',
            FieldValue::LongString(_) => b'S',
            FieldValue::ByteArray(_) => b'x',
            FieldValue::Array(_) => b'A',
            FieldValue::Timestamp(_) => b'T',
            FieldValue::Table(_) => b'F',
            FieldValue::Void => b'V',
        }
    }
}

impl PartialEq for FieldValue {
    fn eq(&self, other: &FieldValue) -> bool {
        use FieldValue as F;
        match (self, other) {
            (F::Boolean(a), F::Boolean(b)) => a == b,
            (F::ShortShortInt(a), F::ShortShortInt(b)) => a == b,
            (F::ShortShortUInt(a), F::ShortShortUInt(b)) => a == b,
            (F::ShortInt(a), F::ShortInt(b)) => a == b,
            (F::ShortUInt(a), F::ShortUInt(b)) => a == b,
            (F::LongInt(a), F::LongInt(b)) => a == b,
            (F::LongUInt(a), F::LongUInt(b)) => a == b,
            (F::LongLongInt(a), F::LongLongInt(b)) => a == b,
            (F::LongLongUInt(a), F::LongLongUInt(b)) => a == b,
            (F::Float(a), F::Float(b)) => a.to_bits() == b.to_bits(),
            (F::Double(a), F::Double(b)) => a.to_bits() == b.to_bits(),
            (
                F::Decimal {
                    scale: sa,
                    value: va,
                },
                F::Decimal {
                    scale: sb,
                    value: vb,
                },
            ) => sa == sb && va == vb,
            (F::ShortString(a), F::ShortString(b)) => a == b,
            (F::LongString(a), F::LongString(b)) => a == b,
            (F::ByteArray(a), F::ByteArray(b)) => a == b,
            (F::Array(a), F::Array(b)) => a == b,
            (F::Timestamp(a), F::Timestamp(b)) => a == b,
            (F::Table(a), F::Table(b)) => a == b,
            (F::Void, F::Void) => true,
            _ => false,
        }
    }
}

impl Eq for FieldValue {}

impl Hash for FieldValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.tag());
        match self {
            FieldValue::Boolean(v) => v.hash(state),
            FieldValue::ShortShortInt(v) => v.hash(state),
            FieldValue::ShortShortUInt(v) => v.hash(state),
            FieldValue::ShortInt(v) => v.hash(state),
            FieldValue::ShortUInt(v) => v.hash(state),
            FieldValue::LongInt(v) => v.hash(state),
            FieldValue::LongUInt(v) => v.hash(state),
            FieldValue::LongLongInt(v) => v.hash(state),
            FieldValue::LongLongUInt(v) => v.hash(state),
            FieldValue::Float(v) => v.to_bits().hash(state),
            FieldValue::Double(v) => v.to_bits().hash(state),
            FieldValue::Decimal { scale, value } => (scale, value).hash(state),
            FieldValue::ShortString(v) => v.hash(state),
            FieldValue::LongString(v) | FieldValue::ByteArray(v) => v.hash(state),
            FieldValue::Array(v) => v.hash(state),
            FieldValue::Timestamp(v) => v.hash(state),
            FieldValue::Table(v) => v.hash(state),
            FieldValue::Void => {}
        }
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> FieldValue {
        FieldValue::LongString(s.as_bytes().to_vec())
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> FieldValue {
        FieldValue::LongString(s.into_bytes())
    }
}

impl From<bool> for FieldValue {
    fn from(b: bool) -> FieldValue {
        FieldValue::Boolean(b)
    }
}

impl From<i32> for FieldValue {
    fn from(v: i32) -> FieldValue {
        FieldValue::LongInt(v)
    }
}

impl From<i64> for FieldValue {
    fn from(v: i64) -> FieldValue {
        FieldValue::LongLongInt(v)
    }
}

impl From<FieldTable> for FieldValue {
    fn from(t: FieldTable) -> FieldValue {
        FieldValue::Table(t)
    }
}

/// An AMQP field table: named, typed values in wire order.
///
/// Entries keep their order and duplicates, as a wire server reads them; lookups
/// ([`get`](FieldTable::get)) see the *last* entry of a name, as RabbitMQ does.
///
/// # Examples
///
/// ```
/// use trackswitch::{FieldTable, FieldValue};
///
/// let mut headers = FieldTable::new();
/// headers.insert("format", "pdf");
/// headers.insert("pages", 12);
/// assert_eq!(headers.get("format"), Some(&FieldValue::from("pdf")));
/// assert_eq!(headers.len(), 2);
/// ```
///
/// With the `serde` feature it is a map from names to [`FieldValue`]s, written in wire
/// order; a repeated name is written as a repeated key and read back as a repeated
/// entry (serde_json does both), so order and duplicates survive a round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldTable {
    /// Entries in wire order; names may repeat (the last one wins on lookup).
    entries: Vec<(String, FieldValue)>,
}

/// What the allocator spends on one heap block beyond its bytes (glibc's header and
/// rounding, about 16 bytes): memory accounting charges it per allocation.
#[cfg(feature = "broker")]
pub(crate) const ALLOC_OVERHEAD: usize = 16;

/// Heap bytes of a buffer of `capacity` bytes (none when empty).
#[cfg(feature = "broker")]
pub(crate) fn heap_of(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else {
        capacity + ALLOC_OVERHEAD
    }
}

#[cfg(feature = "broker")]
impl FieldValue {
    /// Heap bytes this value owns (nested values included), for memory accounting.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            FieldValue::ShortString(s) => heap_of(s.capacity()),
            FieldValue::LongString(v) | FieldValue::ByteArray(v) => heap_of(v.capacity()),
            FieldValue::Array(items) => {
                heap_of(items.capacity() * std::mem::size_of::<FieldValue>())
                    + items.iter().map(FieldValue::heap_bytes).sum::<usize>()
            }
            FieldValue::Table(t) => t.heap_bytes(),
            _ => 0,
        }
    }
}

impl FieldTable {
    /// Heap bytes this table owns (names and nested values included), for memory
    /// accounting.
    #[cfg(feature = "broker")]
    pub(crate) fn heap_bytes(&self) -> usize {
        heap_of(self.entries.capacity() * std::mem::size_of::<(String, FieldValue)>())
            + self
                .entries
                .iter()
                .map(|(k, v)| heap_of(k.capacity()) + v.heap_bytes())
                .sum::<usize>()
    }

    /// An empty table.
    pub fn new() -> FieldTable {
        FieldTable::default()
    }

    /// Appends an entry, keeping any earlier entry of the same name (lookups see the
    /// new one).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<FieldValue>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Sets `name` to `value`, replacing every earlier entry of that name.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<FieldValue>) {
        let name = name.into();
        self.entries.retain(|(n, _)| *n != name);
        self.entries.push((name, value.into()));
    }

    /// Removes every entry named `name`; returns the value that lookups saw.
    pub fn remove(&mut self, name: &str) -> Option<FieldValue> {
        let mut last = None;
        self.entries.retain_mut(|(n, v)| {
            if n == name {
                last = Some(std::mem::replace(v, FieldValue::Void));
                false
            } else {
                true
            }
        });
        last
    }

    /// The last value named `name`.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.entries
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Whether an entry named `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Number of entries, duplicates included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in wire order, duplicates included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> + '_ {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }
}

impl<K: Into<String>, V: Into<FieldValue>> FromIterator<(K, V)> for FieldTable {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> FieldTable {
        FieldTable {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for FieldTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for FieldTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<FieldTable, D::Error> {
        struct Entries;

        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = FieldTable;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of field names to field values")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FieldTable, A::Error> {
                let mut table = FieldTable::new();
                while let Some((name, value)) = map.next_entry::<String, FieldValue>()? {
                    table.push(name, value);
                }
                Ok(table)
            }
        }

        deserializer.deserialize_map(Entries)
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Boolean(b) => write!(f, "{b}"),
            FieldValue::Float(v) => write!(f, "{v:?}"),
            FieldValue::Double(v) => write!(f, "{v:?}"),
            FieldValue::Decimal { scale, value } => write!(f, "{value}e-{scale}"),
            FieldValue::ShortString(s) => write!(f, "{s:?}"),
            FieldValue::LongString(b) | FieldValue::ByteArray(b) => {
                write!(f, "{:?}", String::from_utf8_lossy(b))
            }
            FieldValue::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            FieldValue::Table(t) => {
                f.write_str("{")?;
                for (i, (k, v)) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
            FieldValue::Void => f.write_str("void"),
            other => write!(
                f,
                "{}",
                other.as_int().expect("remaining variants are integers")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_compare_by_value_across_widths() {
        let values = [
            FieldValue::ShortShortInt(1),
            FieldValue::ShortShortUInt(1),
            FieldValue::ShortInt(1),
            FieldValue::ShortUInt(1),
            FieldValue::LongInt(1),
            FieldValue::LongUInt(1),
            FieldValue::LongLongInt(1),
            FieldValue::LongLongUInt(1),
            FieldValue::Timestamp(1),
        ];
        for a in &values {
            for b in &values {
                assert!(a.same_value(b), "{a:?} vs {b:?}");
            }
            assert!(!a.same_value(&FieldValue::Double(1.0)));
            assert!(!a.same_value(&FieldValue::from("1")));
            assert!(!a.same_value(&FieldValue::Boolean(true)));
        }
        assert!(!FieldValue::LongLongInt(-1).same_value(&FieldValue::LongLongUInt(u64::MAX)));
    }

    #[test]
    fn strings_and_floats() {
        assert!(FieldValue::ShortString("a".into()).same_value(&FieldValue::from("a")));
        assert!(FieldValue::Float(1.5).same_value(&FieldValue::Double(1.5)));
        assert!(!FieldValue::Double(f64::NAN).same_value(&FieldValue::Double(f64::NAN)));
        assert_eq!(FieldValue::Double(f64::NAN), FieldValue::Double(f64::NAN));
    }

    /// Every variant, a repeated name and a nested table survive JSON.
    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trip_keeps_types_order_and_duplicates() {
        let mut inner = FieldTable::new();
        inner.push("b", FieldValue::ShortShortUInt(2));
        inner.push("a", FieldValue::Void);
        inner.push("b", FieldValue::ShortShortInt(-2));
        let mut t = FieldTable::new();
        for v in [
            FieldValue::Boolean(true),
            FieldValue::ShortShortInt(-1),
            FieldValue::ShortShortUInt(1),
            FieldValue::ShortInt(-300),
            FieldValue::ShortUInt(300),
            FieldValue::LongInt(-70_000),
            FieldValue::LongUInt(70_000),
            FieldValue::LongLongInt(i64::MIN),
            FieldValue::LongLongUInt(u64::MAX),
            FieldValue::Float(0.5),
            FieldValue::Double(-1.25),
            FieldValue::Decimal {
                scale: 2,
                value: 150,
            },
            FieldValue::ShortString("s".into()),
            FieldValue::LongString(b"text".to_vec()),
            FieldValue::LongString(b"\xff\x00".to_vec()),
            FieldValue::ByteArray(vec![0, 1, 255]),
            FieldValue::Array(vec![FieldValue::Void, FieldValue::from("a")]),
            FieldValue::Timestamp(1_700_000_000),
            FieldValue::Table(inner),
            FieldValue::Void,
        ] {
            t.push("k", v);
        }
        t.push("other", 1);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            serde_json::from_str::<FieldTable>(&json).unwrap(),
            t,
            "{json}"
        );
        assert!(json.starts_with(r#"{"k":{"Boolean":true},"k":{"ShortShortInt":-1}"#));
        assert!(
            json.contains(r#"{"Decimal":{"scale":2,"value":150}}"#),
            "{json}"
        );
        assert!(json.contains(r#"{"LongString":"text"},"k":{"LongString":[255,0]}"#));
        assert!(
            json.ends_with(r#""k":"Void","other":{"LongInt":1}}"#),
            "{json}"
        );
        // A value that does not fit its type is an error, not a wrapped number.
        assert!(serde_json::from_str::<FieldValue>(r#"{"ShortShortUInt":256}"#).is_err());
    }

    #[test]
    fn last_duplicate_wins() {
        let mut t = FieldTable::new();
        t.push("a", 1);
        t.push("b", 2);
        t.push("a", 3);
        assert_eq!(t.get("a"), Some(&FieldValue::LongInt(3)));
        assert_eq!(t.remove("a"), Some(FieldValue::LongInt(3)));
        assert_eq!(t.len(), 1);
    }
}
