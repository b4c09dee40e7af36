//! Ours in the MQTT and NATS dialects, built from a workload through the same pattern
//! translations as the peers that speak those syntaxes natively: quill-pubsub's (MQTT,
//! levels then split on `/` instead of quill's `.`) and topiq-broker's (NATS). Keys are
//! translated before timing, as the peers' are.

use hashbrown::DefaultHashBuilder;
use trackswitch::topic::{Dialect, Mqtt, MqttFilter, Nats, NatsSubject, TopicTrie};

use super::Router;
use super::peers::{Peer, Quill, Topiq};
use super::workloads::Workload;

/// A trie in dialect `D` with the workload's keys in that dialect's syntax.
pub struct OursDialect<D: Dialect> {
    trie: TopicTrie<u32, DefaultHashBuilder, D>,
    /// Key `i` of the workload, translated.
    keys: Vec<Box<[u8]>>,
}

impl OursDialect<Mqtt> {
    /// The workload as MQTT filters and topic names, or why it cannot be expressed.
    pub fn mqtt(w: &Workload) -> Result<Self, String> {
        let mut trie = TopicTrie::with_dialect(Mqtt);
        for (p, id) in &w.bindings {
            let translated = Quill::translate(p)
                .filter(|_| !p.contains('/'))
                .ok_or_else(|| format!("cannot express pattern {p:?}"))?;
            for t in translated {
                let f = MqttFilter::new(t.replace('.', "/")).map_err(|e| e.to_string())?;
                trie.insert(&f, *id);
            }
        }
        let mut keys = Vec::with_capacity(w.keys.len());
        for k in w.keys.iter() {
            if k.contains(&b'/') {
                return Err(format!("key {:?} holds a '/'", String::from_utf8_lossy(k)));
            }
            let k: Vec<u8> = k
                .iter()
                .map(|&b| if b == b'.' { b'/' } else { b })
                .collect();
            MqttFilter::check_topic_name(&k).map_err(|e| e.to_string())?;
            keys.push(k.into_boxed_slice());
        }
        Ok(OursDialect { trie, keys })
    }
}

impl OursDialect<Nats> {
    /// The workload as NATS subjects, or why it cannot be expressed.
    pub fn nats(w: &Workload) -> Result<Self, String> {
        let mut trie = TopicTrie::with_dialect(Nats);
        for (p, id) in &w.bindings {
            let translated =
                Topiq::translate(p).ok_or_else(|| format!("cannot express pattern {p:?}"))?;
            for t in translated {
                let s = NatsSubject::new(&t).map_err(|e| e.to_string())?;
                trie.insert(&s, *id);
            }
        }
        let mut keys = Vec::with_capacity(w.keys.len());
        for k in w.keys.iter() {
            NatsSubject::check_literal(k).map_err(|e| e.to_string())?;
            keys.push(k.into());
        }
        Ok(OursDialect { trie, keys })
    }
}

impl<D: Dialect> Router for OursDialect<D> {
    #[inline]
    fn route(&self, i: usize, _key: &[u8], out: &mut Vec<u32>) {
        self.trie.route_into(&self.keys[i], out);
    }
}
