//! Biased generators: words and values drawn mostly from tiny vocabularies, so that
//! patterns, keys, names and header values collide often.
//!
//! The byte formats are simple on purpose (seed files can be written by hand):
//!
//! - a [`Topic`] is one count byte `n` (`n % 6` words when `n < 240`, else
//!   `n - 234` words), then per word a selector byte `s`: `s < 224` picks
//!   `VOCAB[s % 7]`; otherwise `(s - 224) % 8` raw bytes follow (which may hold `.`).

use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};
use trackswitch::FieldValue;

use crate::lit;

/// The words most patterns and keys are made of.
pub const VOCAB: [&[u8]; 7] = [b"a", b"b", b"", b"*", b"#", b"ab", b"a*"];

/// A topic pattern or routing key: words from [`VOCAB`] (rarely raw bytes) joined by `.`.
#[derive(Clone, PartialEq, Eq)]
pub struct Topic(pub Vec<u8>);

impl Topic {
    /// Reads one word (see the module docs for the format).
    pub fn word(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
        let s = u8::arbitrary(u)?;
        if s < 224 {
            Ok(VOCAB[(s % 7) as usize].to_vec())
        } else {
            let len = ((s - 224) % 8) as usize;
            let len = len.min(u.len());
            Ok(u.bytes(len)?.to_vec())
        }
    }
}

impl<'a> Arbitrary<'a> for Topic {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u8::arbitrary(u)?;
        let words = if n < 240 { n % 6 } else { n - 234 } as usize;
        let mut out = Vec::new();
        for i in 0..words {
            if i > 0 {
                out.push(b'.');
            }
            out.extend_from_slice(&Topic::word(u)?);
        }
        Ok(Topic(out))
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&lit::key(&self.0))
    }
}

/// A routing or binding key for the routing table: mostly a [`Topic`], sometimes a
/// queue name (so the default exchange finds queues), sometimes 250..=257 bytes
/// (around AMQP's 255-byte limit).
#[derive(Clone, PartialEq, Eq)]
pub struct TableKey(pub Vec<u8>);

impl<'a> Arbitrary<'a> for TableKey {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let s = u8::arbitrary(u)?;
        Ok(TableKey(match s {
            0..200 => Topic::arbitrary(u)?.0,
            200..248 => format!("q{}", s % 4).into_bytes(),
            _ => vec![b'a'; 250 + (s - 248) as usize],
        }))
    }
}

impl fmt::Debug for TableKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&lit::key(&self.0))
    }
}

/// Reads an integer, mostly from edge values that exist in several widths.
pub fn small_int(u: &mut Unstructured<'_>) -> Result<i128> {
    const EDGES: [i128; 20] = [
        0,
        1,
        -1,
        2,
        127,
        128,
        255,
        256,
        -128,
        -129,
        32767,
        32768,
        65535,
        65536,
        i32::MAX as i128,
        u32::MAX as i128,
        i64::MAX as i128,
        u64::MAX as i128,
        i64::MIN as i128,
        -2,
    ];
    let s = u8::arbitrary(u)?;
    Ok(if s < 200 {
        EDGES[(s % 20) as usize]
    } else if s % 2 == 0 {
        i64::arbitrary(u)?.into()
    } else {
        u64::arbitrary(u)?.into()
    })
}

/// Reads a float, mostly from values where widths and signs matter.
pub fn small_float(u: &mut Unstructured<'_>) -> Result<f64> {
    const EDGES: [f64; 8] = [0.0, -0.0, 1.0, 1.5, 0.1, f64::NAN, f64::INFINITY, 2.0];
    let s = u8::arbitrary(u)?;
    Ok(if s < 200 {
        EDGES[(s % 8) as usize]
    } else {
        f64::arbitrary(u)?
    })
}

/// Strings header values are made of: the `x-match` modes, near misses, numbers.
pub const STRINGS: [&str; 9] = [
    "all",
    "any",
    "all-with-x",
    "any-with-x",
    "1",
    "a",
    "",
    "ALL",
    "any ",
];

fn small_bytes(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let s = u8::arbitrary(u)?;
    if s < 224 {
        Ok(STRINGS[(s % 9) as usize].as_bytes().to_vec())
    } else {
        let len = ((s - 224) % 8) as usize;
        let len = len.min(u.len());
        Ok(u.bytes(len)?.to_vec())
    }
}

/// Header and argument names: the interesting ones, rarely anything.
pub const NAMES: [&str; 7] = ["x-match", "a", "b", "x-a", "x-", "A", "x-match "];

/// Reads a header or argument name.
pub fn name(u: &mut Unstructured<'_>) -> Result<String> {
    let s = u8::arbitrary(u)?;
    if s < 240 {
        Ok(NAMES[(s % 7) as usize].to_string())
    } else {
        Ok(String::from_utf8_lossy(&small_bytes(u)?).into_owned())
    }
}

/// Reads a field value of any type, `depth` levels of arrays and tables at most.
pub fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<FieldValue> {
    use FieldValue as F;
    let tag = u8::arbitrary(u)? % 21;
    Ok(match tag {
        0 => F::Boolean(bool::arbitrary(u)?),
        1 => F::ShortShortInt(small_int(u)? as i8),
        2 => F::ShortShortUInt(small_int(u)? as u8),
        3 => F::ShortInt(small_int(u)? as i16),
        4 => F::ShortUInt(small_int(u)? as u16),
        5 => F::LongInt(small_int(u)? as i32),
        6 => F::LongUInt(small_int(u)? as u32),
        7 => F::LongLongInt(small_int(u)? as i64),
        8 => F::LongLongUInt(small_int(u)? as u64),
        9 => F::Float(small_float(u)? as f32),
        10 => F::Double(small_float(u)?),
        11 => F::Decimal {
            scale: u8::arbitrary(u)? % 3,
            value: small_int(u)? as u32,
        },
        12 => F::ShortString(String::from_utf8_lossy(&small_bytes(u)?).into_owned()),
        13 | 19 => F::LongString(small_bytes(u)?),
        14 => F::ByteArray(small_bytes(u)?),
        15 => {
            let n = if depth == 0 { 0 } else { u8::arbitrary(u)? % 4 };
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(value(u, depth - 1)?);
            }
            F::Array(items)
        }
        16 => F::Timestamp(small_int(u)? as u64),
        17 => {
            let n = if depth == 0 { 0 } else { u8::arbitrary(u)? % 3 };
            let mut t = trackswitch::FieldTable::new();
            for _ in 0..n {
                let k = name(u)?;
                t.push(k, value(u, depth - 1)?);
            }
            F::Table(t)
        }
        _ => F::Void,
    })
}
