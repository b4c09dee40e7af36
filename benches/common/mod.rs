//! Shared by the criterion benches and the `bench_report` example: workloads, floors and
//! contenders behind one routing interface, and the answer check run before timing.

#[cfg(feature = "broker")]
pub mod broker;
pub mod churn;
pub mod concurrent;
pub mod dialects;
pub mod peers;
pub mod timing;
pub mod workloads;

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap};
use trackswitch::reference::{NaiveTable, RegexMatcher};
use trackswitch::topic::{Pattern, TopicTrie};
use trackswitch::{Destination, ExchangeKind, FieldTable, RouteResult, RoutingTable};

use workloads::Workload;

/// Anything that routes a key to binding ids.
pub trait Router {
    /// Appends the binding ids that key number `i` of the workload, `key`, reaches to
    /// `out` (not cleared). Peers route a key they prepared before timing, by index.
    fn route(&self, i: usize, key: &[u8], out: &mut Vec<u32>);
}

/// A peer matcher with every workload key prepared (translated, parsed where the rules
/// allow) before timing.
pub struct PeerRouter<P: peers::Peer> {
    peer: P,
    keys: Vec<P::Key>,
}

impl<P: peers::Peer> PeerRouter<P> {
    /// The peer loaded with the workload, or why it cannot express it (n/a).
    pub fn build(w: &Workload) -> Result<PeerRouter<P>, String> {
        if let Some((p, _)) = w.bindings.iter().find(|(p, _)| P::translate(p).is_none()) {
            return Err(format!("cannot express pattern {p:?}"));
        }
        let mut keys = Vec::with_capacity(w.keys.len());
        for k in w.keys.iter() {
            let k = std::str::from_utf8(k).expect("generated keys are ASCII");
            match P::prepare_key(k) {
                Some(k) => keys.push(k),
                None => return Err(format!("cannot express key {k:?}")),
            }
        }
        Ok(PeerRouter {
            peer: P::build(&w.bindings),
            keys,
        })
    }

    pub fn name(&self) -> &'static str {
        P::name()
    }
}

impl<P: peers::Peer> Router for PeerRouter<P> {
    #[inline]
    fn route(&self, i: usize, _key: &[u8], out: &mut Vec<u32>) {
        self.peer.route(&self.keys[i], out);
    }
}

/// Ours: the topic trie, value = binding id; `S` is its hasher (foldhash by default).
pub struct OursTrie<S = DefaultHashBuilder>(pub TopicTrie<u32, S>);

impl OursTrie {
    pub fn build(w: &Workload) -> OursTrie {
        OursTrie::build_with(w, DefaultHashBuilder::default())
    }
}

impl<S: BuildHasher> OursTrie<S> {
    /// [`OursTrie::build`] with another hasher.
    pub fn build_with(w: &Workload, hasher: S) -> OursTrie<S> {
        let mut t = TopicTrie::with_hasher(hasher);
        for (p, id) in &w.bindings {
            t.insert(&Pattern::new(p).expect("valid pattern"), *id);
        }
        OursTrie(t)
    }
}

impl<S: BuildHasher> Router for OursTrie<S> {
    #[inline]
    fn route(&self, _i: usize, key: &[u8], out: &mut Vec<u32>) {
        self.0.route_into(key, out);
    }
}

/// Ours: the whole routing table (a topic exchange; binding id i is queue `q{i}`), with
/// its de-duplication and result bookkeeping. Routes through `route_into` with a reused
/// result.
pub struct OursTable<S = DefaultHashBuilder> {
    pub table: RoutingTable<S>,
    /// Queue index -> binding id.
    ids: Vec<u32>,
    result: std::cell::RefCell<RouteResult>,
}

impl OursTable {
    pub fn build(w: &Workload) -> OursTable {
        OursTable::build_with(w, DefaultHashBuilder::default())
    }
}

impl<S: BuildHasher + Clone> OursTable<S> {
    /// [`OursTable::build`] with another hasher.
    pub fn build_with(w: &Workload, hasher: S) -> OursTable<S> {
        let mut table = RoutingTable::with_options_and_hasher(Default::default(), hasher);
        table
            .declare_exchange("x", ExchangeKind::Topic, &Default::default())
            .expect("declare");
        let none = FieldTable::new();
        let mut ids = Vec::new();
        let mut name = String::new();
        for (p, id) in &w.bindings {
            name.clear();
            use std::fmt::Write as _;
            let _ = write!(name, "q{id}");
            let q = table.declare_queue(&name).expect("declare queue");
            if ids.len() <= q.index() {
                ids.resize(q.index() + 1, u32::MAX);
            }
            ids[q.index()] = *id;
            table
                .bind("x", Destination::Queue(&name), p, &none)
                .expect("bind");
        }
        OursTable {
            table,
            ids,
            result: std::cell::RefCell::new(RouteResult::new()),
        }
    }
}

impl<S: BuildHasher + Clone> Router for OursTable<S> {
    #[inline]
    fn route(&self, _i: usize, key: &[u8], out: &mut Vec<u32>) {
        let mut r = self.result.borrow_mut();
        self.table
            .route_into("x", key, None, &mut r)
            .expect("keys are short");
        out.extend(r.queues().iter().map(|q| self.ids[q.index()]));
    }
}

/// Floor: one lookup of the whole key in a hash map of the bound keys (same hasher as
/// ours), then copying its ids out. An exact-only router cannot beat it.
pub struct FloorHash(HashMap<Box<[u8]>, Vec<u32>, DefaultHashBuilder>);

impl FloorHash {
    pub fn build(w: &Workload) -> FloorHash {
        let mut m: HashMap<Box<[u8]>, Vec<u32>, DefaultHashBuilder> = HashMap::default();
        for (p, id) in &w.bindings {
            m.entry(p.as_bytes().into()).or_default().push(*id);
        }
        FloorHash(m)
    }
}

impl Router for FloorHash {
    #[inline]
    fn route(&self, _i: usize, key: &[u8], out: &mut Vec<u32>) {
        if let Some(v) = self.0.get(key) {
            out.extend_from_slice(v);
        }
    }
}

/// Floor: finding the word boundaries of the key (memchr over its bytes).
pub struct FloorSplit;

impl Router for FloorSplit {
    #[inline]
    fn route(&self, _i: usize, key: &[u8], out: &mut Vec<u32>) {
        let n = memchr::memchr_iter(b'.', key).count();
        out.push(n as u32);
    }
}

/// Floor: hashing every word of the key with our hasher. A wildcard match cannot beat
/// split + hash_words.
#[derive(Default)]
pub struct FloorHashWords(DefaultHashBuilder);

impl Router for FloorHashWords {
    #[inline]
    fn route(&self, _i: usize, key: &[u8], out: &mut Vec<u32>) {
        let mut acc = 0u64;
        let mut start = 0;
        for dot in memchr::memchr_iter(b'.', key) {
            acc ^= self.0.hash_one(&key[start..dot]);
            start = dot + 1;
        }
        acc ^= self.0.hash_one(&key[start..]);
        out.push(acc as u32);
    }
}

/// Floor: copying `n` destination ids (the cost of emitting a fan-out of that size).
pub struct FloorEmit(pub Vec<u32>);

impl Router for FloorEmit {
    #[inline]
    fn route(&self, _i: usize, _key: &[u8], out: &mut Vec<u32>) {
        out.extend_from_slice(&self.0);
    }
}

/// The naive scan: every binding tested with the reference matcher.
pub struct Naive(pub NaiveTable<u32>);

impl Naive {
    pub fn build(w: &Workload) -> Naive {
        let mut t = NaiveTable::new();
        for (p, id) in &w.bindings {
            t.insert(&Pattern::new(p).expect("valid pattern"), *id);
        }
        Naive(t)
    }
}

impl Router for Naive {
    fn route(&self, _i: usize, key: &[u8], out: &mut Vec<u32>) {
        self.0.route_into(key, out);
    }
}

/// The regex scan: every binding compiled to a regex, all tried.
pub struct RegexScan(pub Vec<(RegexMatcher, u32)>);

impl RegexScan {
    pub fn build(w: &Workload) -> RegexScan {
        RegexScan(
            w.bindings
                .iter()
                .map(|(p, id)| (RegexMatcher::new(p.as_bytes()).expect("regex"), *id))
                .collect(),
        )
    }
}

impl Router for RegexScan {
    fn route(&self, _i: usize, key: &[u8], out: &mut Vec<u32>) {
        for (re, id) in &self.0 {
            if re.matches(key) {
                out.push(*id);
            }
        }
    }
}

/// The answer to `key` as a sorted, de-duplicated set of ids.
pub fn answer(r: &dyn Router, i: usize, key: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    r.route(i, key, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

/// Checks that `r` answers like the reference on the first `sample` keys.
///
/// # Panics
///
/// On the first disagreement, naming the contender and the key.
pub fn check(name: &str, r: &dyn Router, truth: &dyn Router, w: &Workload, sample: usize) {
    let step = (w.keys.len() / sample.max(1)).max(1);
    for i in (0..w.keys.len()).step_by(step).take(sample) {
        let key = w.keys.get(i);
        let got = answer(r, i, key);
        let want = answer(truth, i, key);
        assert_eq!(
            got,
            want,
            "{name} disagrees with ours on {} key {:?}",
            w.id,
            String::from_utf8_lossy(key)
        );
    }
}
