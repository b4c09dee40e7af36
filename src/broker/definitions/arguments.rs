//! `arguments` of queues, exchanges and bindings: a JSON object as a [`FieldTable`],
//! both directions (reading through `format`'s leaf machinery, for its messages).
//!
//! Owns the conversion rules only; where arguments sit in the file is `format`'s and
//! `export`'s.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::{self, MapAccess, SeqAccess};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::format::{Kind, Leaf};
use crate::{FieldTable, FieldValue};

/// `arguments`: a JSON object as a [`FieldTable`] (absent: empty), both directions.
///
/// Reading: integers become `LongLongInt` (above `i64`: `LongLongUInt`), other numbers
/// `Double`, strings `LongString`, booleans `Boolean`, arrays `Array`, objects `Table`,
/// `null` `Void`. Entries are sorted by name, and a repeated name keeps its last value
/// (as the hand-written reader this replaced did).
///
/// Writing: every integer width and timestamps as JSON integers, floats and decimals
/// as numbers (NaN and infinities as `null`), strings and byte arrays as strings (bytes
/// that are not UTF-8 replaced by U+FFFD), `Void` as `null`; entries sorted by name,
/// the last of a repeated name (the one lookups see).
#[derive(Debug, Clone, Default)]
pub(super) struct Arguments(pub(super) FieldTable);

impl<'de> Leaf<'de> for Arguments {
    fn wrong(_: Kind) -> String {
        "expected an object".into()
    }

    fn object<A: MapAccess<'de>>(map: A) -> Result<Arguments, A::Error> {
        json_table(map).map(Arguments)
    }
}

/// The entries of a JSON object, sorted, the last of a repeated name kept.
fn json_table<'de, A: MapAccess<'de>>(mut map: A) -> Result<FieldTable, A::Error> {
    let mut entries = BTreeMap::new();
    while let Some((k, Json(v))) = map.next_entry::<String, Json>()? {
        entries.insert(k, v);
    }
    Ok(entries.into_iter().collect())
}

/// Any JSON value as a [`FieldValue`] (see [`Arguments`]). Recursion is bounded by
/// serde_json's limit (128), checked again by [`read`]'s first pass.
pub(super) struct Json(pub(super) FieldValue);

impl<'de> Leaf<'de> for Json {
    // Every JSON kind is a field value; this is for none.
    fn wrong(found: Kind) -> String {
        format!("unexpected {found}")
    }

    fn boolean<E: de::Error>(v: bool) -> Result<Json, E> {
        Ok(Json(FieldValue::Boolean(v)))
    }

    fn signed<E: de::Error>(v: i64) -> Result<Json, E> {
        Ok(Json(FieldValue::LongLongInt(v)))
    }

    fn unsigned<E: de::Error>(v: u64) -> Result<Json, E> {
        Ok(Json(match i64::try_from(v) {
            Ok(i) => FieldValue::LongLongInt(i),
            Err(_) => FieldValue::LongLongUInt(v),
        }))
    }

    fn float<E: de::Error>(v: f64) -> Result<Json, E> {
        Ok(Json(FieldValue::Double(v)))
    }

    fn string<E: de::Error>(v: &str) -> Result<Json, E> {
        Ok(Json(FieldValue::from(v)))
    }

    fn null<E: de::Error>() -> Result<Json, E> {
        Ok(Json(FieldValue::Void))
    }

    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(Json(v)) = seq.next_element::<Json>()? {
            out.push(v);
        }
        Ok(Json(FieldValue::Array(out)))
    }

    fn object<A: MapAccess<'de>>(map: A) -> Result<Json, A::Error> {
        json_table(map).map(|t| Json(FieldValue::Table(t)))
    }
}

/// A field table as a JSON object (see [`Arguments`]).
struct TableOut<'a>(&'a FieldTable);

impl Serialize for TableOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Later duplicates replace earlier ones, as lookups see them.
        let entries: BTreeMap<&str, &FieldValue> = self.0.iter().collect();
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, &ValueOut(v))?;
        }
        map.end()
    }
}

/// A field value as JSON (see [`Arguments`]).
pub(super) struct ValueOut<'a>(pub(super) &'a FieldValue);

impl Serialize for ValueOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn float<S: Serializer>(s: S, v: f64) -> Result<S::Ok, S::Error> {
            if v.is_finite() {
                s.serialize_f64(v)
            } else {
                s.serialize_unit()
            }
        }
        match self.0 {
            FieldValue::Boolean(b) => s.serialize_bool(*b),
            FieldValue::ShortShortInt(n) => s.serialize_i64((*n).into()),
            FieldValue::ShortShortUInt(n) => s.serialize_u64((*n).into()),
            FieldValue::ShortInt(n) => s.serialize_i64((*n).into()),
            FieldValue::ShortUInt(n) => s.serialize_u64((*n).into()),
            FieldValue::LongInt(n) => s.serialize_i64((*n).into()),
            FieldValue::LongUInt(n) => s.serialize_u64((*n).into()),
            FieldValue::LongLongInt(n) => s.serialize_i64(*n),
            FieldValue::LongLongUInt(n) | FieldValue::Timestamp(n) => s.serialize_u64(*n),
            FieldValue::Float(x) => float(s, f64::from(*x)),
            FieldValue::Double(x) => float(s, *x),
            FieldValue::Decimal { scale, value } => {
                float(s, f64::from(*value) / 10f64.powi(i32::from(*scale)))
            }
            FieldValue::ShortString(v) => s.serialize_str(v),
            FieldValue::LongString(b) | FieldValue::ByteArray(b) => {
                s.serialize_str(&String::from_utf8_lossy(b))
            }
            FieldValue::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&ValueOut(v))?;
                }
                seq.end()
            }
            FieldValue::Table(t) => TableOut(t).serialize(s),
            FieldValue::Void => s.serialize_unit(),
        }
    }
}

impl Serialize for Arguments {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TableOut(&self.0).serialize(s)
    }
}

/// A field table as the JSON object RabbitMQ's management API and definitions write
/// (see [`Arguments`]), for the management listener.
#[cfg(feature = "management")]
pub(crate) fn table_to_json(table: &FieldTable) -> serde_json::Value {
    serde_json::to_value(TableOut(table)).unwrap_or_default()
}

/// A JSON object read as [`Arguments`] are (absent or `null`: empty), for the
/// management listener; the error says what is wrong where.
#[cfg(feature = "management")]
pub(crate) fn table_from_json(value: &serde_json::Value) -> Result<FieldTable, String> {
    use serde::Deserialize;
    if value.is_null() {
        return Ok(FieldTable::new());
    }
    Arguments::deserialize(value)
        .map(|a| a.0)
        .map_err(|e| e.to_string())
}
