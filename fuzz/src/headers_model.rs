//! A naive headers exchange, written from the rules (CONFORMANCE R03, DESIGN decision 5)
//! without looking at the library's matcher.

use trackswitch::{FieldTable, FieldValue};

/// A value reduced to what headers matching compares.
#[derive(Debug, PartialEq)]
enum Norm {
    Bool(bool),
    /// Every integer width, and timestamps (seconds, no x1000).
    Int(i128),
    /// Both float widths; compared with IEEE `==` (NaN never equal, -0 == 0).
    Float(f64),
    /// Compared as (scale, unscaled value), as RabbitMQ compares the term.
    Decimal(u8, u32),
    /// Short strings, long strings and byte arrays.
    Bytes(Vec<u8>),
    Array(Vec<Norm>),
    Table(Vec<(String, Norm)>),
    Void,
}

fn norm(v: &FieldValue) -> Norm {
    use FieldValue as F;
    match v {
        F::Boolean(b) => Norm::Bool(*b),
        F::ShortShortInt(x) => Norm::Int(i128::from(*x)),
        F::ShortShortUInt(x) => Norm::Int(i128::from(*x)),
        F::ShortInt(x) => Norm::Int(i128::from(*x)),
        F::ShortUInt(x) => Norm::Int(i128::from(*x)),
        F::LongInt(x) => Norm::Int(i128::from(*x)),
        F::LongUInt(x) => Norm::Int(i128::from(*x)),
        F::LongLongInt(x) => Norm::Int(i128::from(*x)),
        F::LongLongUInt(x) => Norm::Int(i128::from(*x)),
        F::Timestamp(x) => Norm::Int(i128::from(*x)),
        F::Float(x) => Norm::Float(f64::from(*x)),
        F::Double(x) => Norm::Float(*x),
        F::Decimal { scale, value } => Norm::Decimal(*scale, *value),
        F::ShortString(s) => Norm::Bytes(s.as_bytes().to_vec()),
        F::LongString(b) | F::ByteArray(b) => Norm::Bytes(b.clone()),
        F::Array(a) => Norm::Array(a.iter().map(norm).collect()),
        F::Table(t) => Norm::Table(t.iter().map(|(k, v)| (k.to_string(), norm(v))).collect()),
        F::Void => Norm::Void,
        #[allow(unreachable_patterns)]
        _ => Norm::Void,
    }
}

/// Whether two values are the same value, as headers matching sees them.
pub fn same(a: &FieldValue, b: &FieldValue) -> bool {
    norm(a) == norm(b)
}

/// The last entry named `name` (later duplicates win).
fn last<'t>(t: &'t FieldTable, name: &str) -> Option<&'t FieldValue> {
    let mut found = None;
    for (n, v) in t.iter() {
        if n == name {
            found = Some(v);
        }
    }
    found
}

/// `x-match` is not one of the four mode strings (a 406 at bind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidXMatch;

/// How a binding combines its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `all` (the default).
    All,
    /// `any`.
    Any,
    /// `all-with-x`.
    AllWithX,
    /// `any-with-x`.
    AnyWithX,
}

/// The binding's mode; `Err` when `x-match` is not one of the four strings.
pub fn mode(args: &FieldTable) -> Result<Mode, InvalidXMatch> {
    let Some(v) = last(args, "x-match") else {
        return Ok(Mode::All);
    };
    let text: &[u8] = match v {
        FieldValue::ShortString(s) => s.as_bytes(),
        FieldValue::LongString(b) => b,
        _ => return Err(InvalidXMatch),
    };
    match text {
        b"all" => Ok(Mode::All),
        b"any" => Ok(Mode::Any),
        b"all-with-x" => Ok(Mode::AllWithX),
        b"any-with-x" => Ok(Mode::AnyWithX),
        _ => Err(InvalidXMatch),
    }
}

/// Whether a binding with `args` matches a message with `headers`; `Err` when the
/// binding's `x-match` is invalid.
pub fn matches(args: &FieldTable, headers: &FieldTable) -> Result<bool, InvalidXMatch> {
    let mode = mode(args)?;
    let with_x = matches!(mode, Mode::AllWithX | Mode::AnyWithX);
    // Distinct names, first occurrence order; each takes its last value.
    let mut names: Vec<&str> = Vec::new();
    for (n, _) in args.iter() {
        if n == "x-match" || (!with_x && n.starts_with("x-")) {
            continue;
        }
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut hits = 0;
    for n in &names {
        let want = last(args, n).expect("the name is in the table");
        let hit = match last(headers, n) {
            None => false,
            Some(have) => matches!(want, FieldValue::Void) || same(want, have),
        };
        if hit {
            hits += 1;
        }
    }
    Ok(match mode {
        Mode::All | Mode::AllWithX => hits == names.len(),
        Mode::Any | Mode::AnyWithX => hits > 0,
    })
}
