//! Byte strings that are usually UTF-8 text (topic patterns, AMQP long strings and byte
//! arrays), as serde sees them (feature `serde`).
//!
//! Human-readable formats (JSON) get a string when the bytes are UTF-8 and the bytes
//! (serde's `bytes`, which JSON writes as an array of numbers) when they are not, so
//! every value round-trips; reading takes either. Binary formats always get bytes.
//! Use as `#[serde(with = "crate::text")]` on a `Vec<u8>`.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;

/// Writes `bytes` as a string if they are UTF-8 and the format is human-readable,
/// else as bytes.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(bytes) {
        Ok(s) if serializer.is_human_readable() => serializer.serialize_str(s),
        _ => serializer.serialize_bytes(bytes),
    }
}

/// Reads a string, bytes or (as JSON writes bytes) an array of byte values.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    if deserializer.is_human_readable() {
        deserializer.deserialize_any(TextVisitor)
    } else {
        deserializer.deserialize_byte_buf(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        Ok(v.as_bytes().to_vec())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Vec<u8>, E> {
        Ok(v.into_bytes())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Bytes(#[serde(with = "super")] Vec<u8>);

    #[test]
    fn utf8_is_a_string_other_bytes_an_array() {
        for (bytes, json) in [
            (&b"a.#"[..], r#""a.#""#),
            (&b""[..], r#""""#),
            (&b"a\xff"[..], "[97,255]"),
        ] {
            let v = Bytes(bytes.to_vec());
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            assert_eq!(serde_json::from_str::<Bytes>(json).unwrap(), v);
        }
        assert!(serde_json::from_str::<Bytes>("[256]").is_err());
        assert!(serde_json::from_str::<Bytes>("1").is_err());
    }
}
