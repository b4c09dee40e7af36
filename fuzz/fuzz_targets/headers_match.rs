//! Property: `HeadersMatch` agrees with a naive x-match written from the rules
//! (`trackswitch_fuzz::headers_model`): all / any / all-with-x / any-with-x, `x-match`
//! never matched, `x-` names ignored in all / any, void = presence, last duplicate wins,
//! values by value across integer widths; an invalid `x-match` errors in both.
#![no_main]

use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::{FieldTable, HeadersMatch, XMatch};
use trackswitch_fuzz::headers_model::{self, Mode};
use trackswitch_fuzz::{input, lit};

const MAX_ENTRIES: usize = 40;

/// A field table: one count byte (at most `MAX_ENTRIES` accepted; past 16 headers the
/// library switches to a hashed index), then (name, value) pairs.
struct Table(FieldTable);

impl<'a> Arbitrary<'a> for Table {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u8::arbitrary(u)?;
        // Mostly small tables; sometimes past the hashed-index threshold.
        let n = if n < 192 { n % 6 } else { n - 192 };
        let mut t = FieldTable::new();
        for _ in 0..n {
            let name = input::name(u)?;
            let value = input::value(u, 2)?;
            t.push(name, value);
        }
        Ok(Table(t))
    }
}

#[derive(Arbitrary)]
struct Input {
    args: Table,
    headers: Table,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let args = {};", lit::table(&self.args.0))?;
        write!(f, "let headers = {};", lit::table(&self.headers.0))
    }
}

fuzz_target!(|input: Input| -> Corpus {
    let (args, headers) = (&input.args.0, &input.headers.0);
    if args.len() > MAX_ENTRIES || headers.len() > MAX_ENTRIES {
        return Corpus::Reject;
    }
    let got = HeadersMatch::new(args);
    let want = headers_model::matches(args, headers);
    match (&got, want) {
        (Ok(m), Ok(want)) => {
            let mode = match m.mode() {
                XMatch::All => Mode::All,
                XMatch::Any => Mode::Any,
                XMatch::AllWithX => Mode::AllWithX,
                XMatch::AnyWithX => Mode::AnyWithX,
            };
            assert_eq!(Ok(mode), headers_model::mode(args), "x-match mode");
            assert_eq!(m.matches(headers), want, "matches()");
        }
        (Err(e), Err(headers_model::InvalidXMatch)) => {
            assert_eq!(e.reply_code(), 406, "invalid x-match is 406");
            let _ = e.to_string();
        }
        _ => panic!("HeadersMatch::new gave {got:?}, the model says {want:?}"),
    }
    // same_value agrees with the model on every pair of values seen.
    let values: Vec<_> = args.iter().chain(headers.iter()).map(|(_, v)| v).collect();
    for a in &values {
        for b in &values {
            assert_eq!(
                a.same_value(b),
                headers_model::same(a, b),
                "same_value({}, {})",
                lit::value(a),
                lit::value(b)
            );
        }
    }
    Corpus::Keep
});
