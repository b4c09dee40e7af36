//! Property: any bytes either parse into a `Pattern` whose `Display` parses back to an
//! equal pattern (UTF-8 input; non-UTF-8 input is escaped as `\xNN`, so there the bytes
//! round-trip instead), or give an error; never a panic.
#![no_main]

use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::topic::{Pattern, Word};

/// The pattern bytes, optionally behind a run of `a` that takes the length to within
/// a few bytes of `Pattern::MAX_LEN` (so the length limit is fuzzed too).
///
/// Format: one byte `p`; `p >= 250` means a run of `MAX_LEN - 260 + (p - 250)` bytes
/// `a` comes first (with a short tail that reaches either side of the limit); the
/// rest of the input is the pattern.
struct Input {
    pad: usize,
    bytes: Vec<u8>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let p = u8::arbitrary(u)?;
        let pad = if p >= 250 {
            Pattern::MAX_LEN - 260 + (p - 250) as usize
        } else {
            0
        };
        Ok(Input {
            pad,
            bytes: u.bytes(u.len())?.to_vec(),
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}

impl Input {
    fn pattern_bytes(&self) -> Vec<u8> {
        let mut b = vec![b'a'; self.pad];
        b.extend_from_slice(&self.bytes);
        b
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pad > 0 {
            write!(
                f,
                "let bytes = [vec![b'a'; {}], {}.to_vec()].concat();",
                self.pad,
                trackswitch_fuzz::lit::bytes(&self.bytes)
            )
        } else {
            write!(
                f,
                "let bytes = {};",
                trackswitch_fuzz::lit::key(&self.bytes)
            )
        }
    }
}

fuzz_target!(|input: Input| -> Corpus {
    if input.bytes.len() > 512 {
        return Corpus::Reject;
    }
    let bytes = input.pattern_bytes();
    let p = match Pattern::new(&bytes) {
        Ok(p) => p,
        Err(e) => {
            assert!(
                bytes.len() > Pattern::MAX_LEN,
                "refused a pattern of {} bytes: {e}",
                bytes.len()
            );
            let _ = e.to_string();
            return Corpus::Keep;
        }
    };
    assert!(
        bytes.len() <= Pattern::MAX_LEN,
        "accepted {} bytes",
        bytes.len()
    );
    assert_eq!(
        p.as_bytes(),
        bytes.as_slice(),
        "as_bytes changed the pattern"
    );
    if input.pad > 0 {
        // Near the limit only the limit is checked: walking 64 KiB of bytes through the
        // instrumented formatting code would cost milliseconds per execution.
        return Corpus::Keep;
    }
    let shown = p.to_string();
    let _ = format!("{p:?}");
    match std::str::from_utf8(&bytes) {
        Ok(text) => {
            assert_eq!(shown, text, "Display of UTF-8 is not byte for byte");
            let back: Pattern = shown.parse().expect("Display output parses");
            assert_eq!(back, p, "Display does not round-trip");
            assert_eq!(Pattern::try_from(text).as_ref(), Ok(&p));
        }
        Err(_) => {
            assert!(shown.contains("\\x"), "an invalid byte is shown as \\xNN");
            assert_eq!(Pattern::new(p.as_bytes()).as_ref(), Ok(&p));
            assert_eq!(Pattern::try_from(bytes.as_slice()).as_ref(), Ok(&p));
        }
    }
    // The word view agrees with splitting on every `.` (empty pattern: zero words).
    let words: Vec<Word<'_>> = p.words().collect();
    let expected = if bytes.is_empty() {
        0
    } else {
        bytes.iter().filter(|&&b| b == b'.').count() + 1
    };
    assert_eq!(words.len(), expected, "word count");
    assert_eq!(p.word_count(), expected, "word_count()");
    assert_eq!(
        p.hash_count(),
        words.iter().filter(|w| **w == Word::Hash).count()
    );
    assert_eq!(
        p.is_exact(),
        words.iter().all(|w| matches!(w, Word::Literal(_)))
    );
    Corpus::Keep
});
