//! Prints values as Rust source, for reproductions that paste into a test.

use std::fmt::Write;

use trackswitch::{FieldTable, FieldValue};

/// `b"..."`: a byte-string literal (printable ASCII as is, the rest as `\xNN`).
pub fn bytes(b: &[u8]) -> String {
    let mut s = String::from("b\"");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(c as char),
            _ => write!(s, "\\x{c:02x}").unwrap(),
        }
    }
    s.push('"');
    s
}

/// An expression of type `&[u8]` (a literal, or a `repeat` for long runs).
pub fn key(b: &[u8]) -> String {
    if b.len() > 32 && b.iter().all(|&c| c == b[0]) && b[0].is_ascii_alphanumeric() {
        format!(
            "{:?}.repeat({}).as_bytes()",
            (b[0] as char).to_string(),
            b.len()
        )
    } else {
        format!("{}.as_slice()", bytes(b))
    }
}

/// An expression of type `&str` (a literal, or a `repeat` for long runs).
pub fn name(n: &str) -> String {
    let b = n.as_bytes();
    if b.len() > 32 && b.iter().all(|&c| c == b[0]) && b[0].is_ascii_alphanumeric() {
        format!("&{:?}.repeat({})", (b[0] as char).to_string(), b.len())
    } else {
        format!("{n:?}")
    }
}

/// A `FieldValue` expression.
pub fn value(v: &FieldValue) -> String {
    use FieldValue as F;
    match v {
        F::Boolean(b) => format!("FieldValue::Boolean({b})"),
        F::ShortShortInt(x) => format!("FieldValue::ShortShortInt({x})"),
        F::ShortShortUInt(x) => format!("FieldValue::ShortShortUInt({x})"),
        F::ShortInt(x) => format!("FieldValue::ShortInt({x})"),
        F::ShortUInt(x) => format!("FieldValue::ShortUInt({x})"),
        F::LongInt(x) => format!("FieldValue::LongInt({x})"),
        F::LongUInt(x) => format!("FieldValue::LongUInt({x})"),
        F::LongLongInt(x) => format!("FieldValue::LongLongInt({x})"),
        F::LongLongUInt(x) => format!("FieldValue::LongLongUInt({x})"),
        F::Float(x) if x.is_finite() => format!("FieldValue::Float({x:?}f32)"),
        F::Float(x) => format!("FieldValue::Float(f32::from_bits({:#010x}))", x.to_bits()),
        F::Double(x) if x.is_finite() => format!("FieldValue::Double({x:?}f64)"),
        F::Double(x) => format!("FieldValue::Double(f64::from_bits({:#018x}))", x.to_bits()),
        F::Decimal { scale, value } => {
            format!("FieldValue::Decimal {{ scale: {scale}, value: {value} }}")
        }
        F::ShortString(s) => format!("FieldValue::ShortString({s:?}.into())"),
        F::LongString(b) => format!("FieldValue::LongString({}.to_vec())", bytes(b)),
        F::ByteArray(b) => format!("FieldValue::ByteArray({}.to_vec())", bytes(b)),
        F::Array(a) => {
            let items: Vec<String> = a.iter().map(value).collect();
            format!("FieldValue::Array(vec![{}])", items.join(", "))
        }
        F::Timestamp(x) => format!("FieldValue::Timestamp({x})"),
        F::Table(t) => format!("FieldValue::Table({})", table(t)),
        F::Void => "FieldValue::Void".to_string(),
        // `FieldValue` may grow variants; print what Debug says.
        #[allow(unreachable_patterns)]
        other => format!("/* {other:?} */ FieldValue::Void"),
    }
}

/// A `FieldTable` expression.
pub fn table(t: &FieldTable) -> String {
    if t.is_empty() {
        return "FieldTable::new()".to_string();
    }
    let items: Vec<String> = t
        .iter()
        .map(|(n, v)| format!("({n:?}, {})", value(v)))
        .collect();
    format!("FieldTable::from_iter([{}])", items.join(", "))
}
