//! [`Pattern`] as serde text (feature `serde`): the pattern's string, checked with
//! [`Pattern::new`] when read, so a pattern that is too long is an error. Bytes that are
//! not UTF-8 are written as bytes (see `crate::text`), so every pattern round-trips.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::Pattern;

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::text::serialize(self.as_bytes(), serializer)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pattern, D::Error> {
        let bytes = crate::text::deserialize(deserializer)?;
        Pattern::new(bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_round_trip_as_their_string() {
        for (pattern, json) in [
            (&b"eu.*.#"[..], r#""eu.*.#""#),
            (b"", r#""""#),
            (b"a.\xff", "[97,46,255]"),
        ] {
            let p = Pattern::new(pattern).unwrap();
            assert_eq!(serde_json::to_string(&p).unwrap(), json);
            assert_eq!(serde_json::from_str::<Pattern>(json).unwrap(), p);
        }
    }

    #[test]
    fn a_pattern_too_long_does_not_deserialize() {
        let json = format!("\"{}\"", "a".repeat(Pattern::MAX_LEN + 1));
        let err = serde_json::from_str::<Pattern>(&json).unwrap_err();
        assert!(err.to_string().contains("65535"), "{err}");
        assert!(serde_json::from_str::<Pattern>("7").is_err());
    }
}
