//! Property: insert / remove / route on a `TopicTrie` in the MQTT dialect behaves like a
//! list of (filter, value) pairs matched with `reference::mqtt_matches` (MQTT 3.1.1 / 5
//! section 4.7); `MqttFilter::new` agrees with `reference::mqtt_filter_is_valid`, and
//! `MqttFilter::matches` with the reference. See `src/dialect_ops.rs`.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::reference;
use trackswitch::topic::{Mqtt, MqttFilter};
use trackswitch_fuzz::dialect_ops::{Case, MAX_OPS, Ops, run};

struct MqttCase;

impl Case for MqttCase {
    type D = Mqtt;
    const VOCAB: &'static [&'static [u8]] = &[b"a", b"b", b"", b"+", b"#", b"$a", b"$", b"a+"];
    const PARSE: &'static str = "MqttFilter::new";
    const DIALECT: &'static str = "Mqtt";
    fn parse(bytes: &[u8]) -> Option<MqttFilter> {
        MqttFilter::new(bytes).ok()
    }
    fn reference_valid(bytes: &[u8]) -> bool {
        reference::mqtt_filter_is_valid(bytes)
    }
    fn reference_matches(pattern: &[u8], key: &[u8]) -> bool {
        reference::mqtt_matches(pattern, key)
    }
    fn pattern_matches(pattern: &MqttFilter, key: &[u8]) -> bool {
        pattern.matches(key)
    }
}

fuzz_target!(|ops: Ops<MqttCase>| -> Corpus {
    if ops.0.len() > MAX_OPS {
        return Corpus::Reject;
    }
    run(&ops);
    Corpus::Keep
});
