//! Property: insert / remove / route on a `TopicTrie` in the NATS dialect behaves like a
//! list of (subject, value) pairs matched with `reference::nats_matches` (NATS subjects:
//! `*` one token, `>` one or more, last only); `NatsSubject::new` agrees with
//! `reference::nats_subject_is_valid`, and `NatsSubject::matches` with the reference.
//! See `src/dialect_ops.rs`.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::reference;
use trackswitch::topic::{Nats, NatsSubject};
use trackswitch_fuzz::dialect_ops::{Case, MAX_OPS, Ops, run};

struct NatsCase;

impl Case for NatsCase {
    type D = Nats;
    const VOCAB: &'static [&'static [u8]] = &[b"a", b"b", b"", b"*", b">", b"a*", b" ", b">a"];
    const PARSE: &'static str = "NatsSubject::new";
    const DIALECT: &'static str = "Nats";
    fn parse(bytes: &[u8]) -> Option<NatsSubject> {
        NatsSubject::new(bytes).ok()
    }
    fn reference_valid(bytes: &[u8]) -> bool {
        reference::nats_subject_is_valid(bytes)
    }
    fn reference_matches(pattern: &[u8], key: &[u8]) -> bool {
        reference::nats_matches(pattern, key)
    }
    fn pattern_matches(pattern: &NatsSubject, key: &[u8]) -> bool {
        pattern.matches(key)
    }
}

fuzz_target!(|ops: Ops<NatsCase>| -> Corpus {
    if ops.0.len() > MAX_OPS {
        return Corpus::Reject;
    }
    run(&ops);
    Corpus::Keep
});
