//! The benchmark workloads W1-W9 of `shared/BENCHMARKS.md`, generated from a seeded RNG.
//!
//! Every workload is a list of bindings (pattern, binding id) and a list of query keys in
//! a pseudo-random order, stored in one contiguous arena so every contender pays the
//! same to read them.

use std::fmt::Write as _;

use rand::{Rng as _, RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// rand's ChaCha8 generator, seeded: benchmark inputs are the same for a seed on every
/// platform and release of rand_chacha 0.9 (ChaCha is portable; SmallRng is not).
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n)
    }

    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Keys stored back to back in one buffer.
#[derive(Debug, Clone, Default)]
pub struct KeyArena {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl KeyArena {
    pub fn push(&mut self, key: &[u8]) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(key);
        self.spans.push((start, key.len() as u32));
    }

    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let (s, l) = self.spans[i];
        &self.bytes[s as usize..(s + l) as usize]
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The keys as strings (all generated keys are ASCII).
    pub fn strings(&self) -> Vec<String> {
        self.iter()
            .map(|k| String::from_utf8(k.to_vec()).expect("generated keys are ASCII"))
            .collect()
    }
}

/// One workload at one size.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `W1` .. `W9`, with a variant suffix where a workload has several shapes.
    pub id: String,
    /// What it is, for the report.
    pub name: &'static str,
    /// Number of bindings.
    pub size: usize,
    /// (pattern, binding id); ids are dense from 0, several patterns may share an id
    /// (a queue bound several times).
    pub bindings: Vec<(String, u32)>,
    /// Query keys in pseudo-random order.
    pub keys: KeyArena,
}

impl Workload {
    fn new(id: &str, name: &'static str, bindings: Vec<(String, u32)>, keys: KeyArena) -> Self {
        Workload {
            id: id.to_string(),
            name,
            size: bindings.len(),
            bindings,
            keys,
        }
    }

    /// Whether no pattern has a wildcard word (the hash-lookup floor then answers it).
    pub fn exact_only(&self) -> bool {
        self.bindings
            .iter()
            .all(|(p, _)| !p.split('.').any(|x| x == "*" || x == "#"))
    }

    /// Number of distinct binding ids.
    pub fn id_count(&self) -> usize {
        self.bindings
            .iter()
            .map(|b| b.1 as usize + 1)
            .max()
            .unwrap_or(0)
    }
}

/// How many query keys each workload gets: enough to defeat caches, few enough to build
/// fast.
pub const QUERY_KEYS: usize = 4096;

/// W1 exact-heavy: `tenant{t}.dev{d}.metric{m}`, 1-4 queues each; 70% hits.
pub fn w1(size: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut bindings = Vec::with_capacity(size);
    let mut keys_bound = Vec::new();
    let mut n = 0u64;
    let mut queue = 0u32;
    while bindings.len() < size {
        let (t, d, m) = (n / 10_000, (n / 10) % 1000, n % 10);
        n += 1;
        let key = format!("tenant{t}.dev{d}.metric{m}");
        let queues = 1 + rng.below(4) as usize;
        for _ in 0..queues.min(size - bindings.len()) {
            bindings.push((key.clone(), queue % 65_536));
            queue += 1;
        }
        keys_bound.push(key);
    }
    let mut keys = KeyArena::default();
    for _ in 0..QUERY_KEYS {
        if rng.chance(70) {
            keys.push(keys_bound[rng.below(keys_bound.len() as u64) as usize].as_bytes());
        } else {
            let t = rng.below(1000);
            keys.push(
                format!(
                    "tenant{t}.dev{}.metric{}",
                    rng.below(1000),
                    10 + rng.below(5)
                )
                .as_bytes(),
            );
        }
    }
    Workload::new("W1", "exact-heavy", bindings, keys)
}

/// W2 IoT mixed: exact `devices.{id}.temperature`, plus `devices.*.temperature`,
/// `devices.{id}.#` for 10% of ids, `#.alarm`; keys `devices.{id}.{metric}[.alarm]`.
pub fn w2(size: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut bindings = vec![
        ("devices.*.temperature".to_string(), 0),
        ("#.alarm".to_string(), 1),
    ];
    let mut id = 0u64;
    let mut next = 2u32;
    while bindings.len() < size {
        bindings.push((format!("devices.{id}.temperature"), next));
        next += 1;
        if id % 10 == 0 && bindings.len() < size {
            bindings.push((format!("devices.{id}.#"), next));
            next += 1;
        }
        id += 1;
    }
    let ids = id.max(1);
    let metrics = ["temperature", "humidity", "battery"];
    let mut keys = KeyArena::default();
    for _ in 0..QUERY_KEYS {
        let dev = rng.below(ids + ids / 5 + 1);
        let metric = metrics[rng.below(3) as usize];
        let alarm = if rng.chance(10) { ".alarm" } else { "" };
        keys.push(format!("devices.{dev}.{metric}{alarm}").as_bytes());
    }
    Workload::new("W2", "IoT mixed", bindings, keys)
}

/// W3 EMQX's own benchmark: `device.{id}.*.{num}.#`; 10-word keys
/// `device.{id}.foo.{num}.bar.1.2.3.4.5`, one match each.
pub fn w3(size: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let per_device = 10u64;
    let bindings: Vec<(String, u32)> = (0..size as u64)
        .map(|i| {
            (
                format!("device.{}.*.{}.#", i / per_device, i % per_device),
                i as u32,
            )
        })
        .collect();
    let mut keys = KeyArena::default();
    for _ in 0..QUERY_KEYS {
        let i = rng.below(size as u64);
        keys.push(
            format!(
                "device.{}.foo.{}.bar.1.2.3.4.5",
                i / per_device,
                i % per_device
            )
            .as_bytes(),
        );
    }
    Workload::new("W3", "EMQX bench", bindings, keys)
}

/// W4 NATS's own benchmark: 37,448 literals over 8 tokens at depth 1-5, plus `cloud.#`,
/// `cloud.nats.component.#`, `cloud.*.*.nkeys.*`.
pub fn w4(seed: u64) -> Workload {
    const TOKENS: [&str; 8] = [
        "synadia",
        "nats",
        "jetstream",
        "nkeys",
        "jwt",
        "deny",
        "auth",
        "drain",
    ];
    let mut rng = Rng::new(seed);
    let mut bindings = Vec::new();
    let mut literals = Vec::new();
    for depth in 1..=5u32 {
        for n in 0..8u64.pow(depth) {
            let mut s = String::new();
            let mut x = n;
            for d in 0..depth {
                if d > 0 {
                    s.push('.');
                }
                s.push_str(TOKENS[(x % 8) as usize]);
                x /= 8;
            }
            literals.push(s);
        }
    }
    for (i, l) in literals.iter().enumerate() {
        bindings.push((l.clone(), i as u32));
    }
    let base = literals.len() as u32;
    for (j, p) in ["cloud.#", "cloud.nats.component.#", "cloud.*.*.nkeys.*"]
        .iter()
        .enumerate()
    {
        bindings.push((p.to_string(), base + j as u32));
    }
    let mut keys = KeyArena::default();
    for _ in 0..QUERY_KEYS {
        match rng.below(4) {
            0 => keys.push(b"cloud.nats.component.jwt"),
            1 => keys.push(b"cloud.a.b.nkeys.c"),
            _ => {
                let l = &literals[rng.below(literals.len() as u64) as usize];
                if rng.chance(20) {
                    keys.push(format!("{l}.miss").as_bytes());
                } else {
                    keys.push(l.as_bytes());
                }
            }
        }
    }
    Workload::new("W4", "NATS bench", bindings, keys)
}

/// A word of the W5 vocabulary.
fn w5_word(rng: &mut Rng) -> String {
    format!("w{}", rng.below(50))
}

/// W5 `#`-heavy, adversarial: patterns with 1-3 `#` anywhere (a few with many); 8-32-word
/// keys, mostly misses.
pub fn w5(size: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut bindings = Vec::with_capacity(size);
    for i in 0..size {
        let words = 2 + rng.below(6) as usize;
        let mut parts: Vec<String> = (0..words).map(|_| w5_word(&mut rng)).collect();
        let hashes = if i % 1000 == 0 {
            8
        } else {
            1 + rng.below(3) as usize
        };
        for _ in 0..hashes {
            let at = rng.below(parts.len() as u64 + 1) as usize;
            parts.insert(at, "#".to_string());
        }
        bindings.push((parts.join("."), i as u32));
    }
    let mut keys = KeyArena::default();
    for _ in 0..QUERY_KEYS {
        let words = 8 + rng.below(25) as usize;
        let parts: Vec<String> = (0..words).map(|_| w5_word(&mut rng)).collect();
        keys.push(parts.join(".").as_bytes());
    }
    Workload::new("W5", "#-heavy", bindings, keys)
}

/// W5 single pattern: `#` x `hashes` then `end`, against a 31-word key ending in `end`.
pub fn w5_hashes(hashes: usize) -> Workload {
    let mut parts = vec!["#"; hashes];
    parts.push("end");
    let bindings = vec![(parts.join("."), 0)];
    let mut keys = KeyArena::default();
    keys.push((vec!["w"; 30].join(".") + ".end").as_bytes());
    keys.push((vec!["w"; 31].join(".")).as_bytes());
    let mut w = Workload::new("W5-hashes", "n x # vs 31 words", bindings, keys);
    w.id = format!("W5-{hashes}#");
    w
}

/// W5 literal wildcard words: keys of n literal `*` (or `#`) words against `*`-chains
/// of every length up to n (RabbitMQ 3.10.8 takes 2^n time on these).
pub fn w5_literal_stars(n: usize) -> Workload {
    let bindings = (1..=n)
        .map(|len| (vec!["*"; len].join("."), len as u32 - 1))
        .collect();
    let mut keys = KeyArena::default();
    keys.push(vec!["*"; n].join(".").as_bytes());
    keys.push(vec!["#"; n].join(".").as_bytes());
    let mut w = Workload::new("W5-stars", "literal * keys", bindings, keys);
    w.id = format!("W5-{n}*");
    w
}

/// W6 high fan-out: one key matched by `size` bindings (a mix of exact, `*` and `#`
/// patterns on distinct queues).
pub fn w6(size: usize) -> Workload {
    let shapes = ["fan.out.key", "fan.*.key", "fan.#", "#.key", "*.out.*", "#"];
    let bindings = (0..size)
        .map(|i| (shapes[i % shapes.len()].to_string(), i as u32))
        .collect();
    let mut keys = KeyArena::default();
    keys.push(b"fan.out.key");
    Workload::new("W6", "high fan-out", bindings, keys)
}

/// W7 churn: `size` bindings, 80% exact (`svc{s}.evt{e}`), 20% wildcard.
pub fn w7(size: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let bindings: Vec<(String, u32)> = (0..size)
        .map(|i| {
            let p = if i % 5 == 4 {
                match rng.below(3) {
                    0 => format!("svc{}.*", rng.below(size as u64 / 10 + 1)),
                    1 => format!("svc{}.#", rng.below(size as u64 / 10 + 1)),
                    _ => format!("*.evt{}", rng.below(size as u64 / 10 + 1)),
                }
            } else {
                format!("svc{}.evt{}", i / 10, i % 10)
            };
            (p, i as u32)
        })
        .collect();
    let mut keys = KeyArena::default();
    for _ in 0..QUERY_KEYS {
        let i = rng.below(size as u64 + size as u64 / 4);
        keys.push(format!("svc{}.evt{}", i / 10, i % 10).as_bytes());
    }
    Workload::new("W7", "churn", bindings, keys)
}

/// W8 cache-hostile: 10k `foo.bar.baz.{n}` + 100 wildcards; `keys` distinct keys.
pub fn w8(keys_count: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut bindings: Vec<(String, u32)> = (0..10_000)
        .map(|n| (format!("foo.bar.baz.{n}"), n as u32))
        .collect();
    for j in 0..100u32 {
        let p = match j % 4 {
            0 => format!("foo.*.baz.{j}"),
            1 => format!("foo.bar.#.{j}"),
            2 => format!("#.{j}"),
            _ => format!("foo.bar.*.{}", j + 20_000),
        };
        bindings.push((p, 10_000 + j));
    }
    let mut order: Vec<u64> = (0..keys_count as u64).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut keys = KeyArena::default();
    let mut buf = String::new();
    for n in order {
        buf.clear();
        let _ = write!(buf, "foo.bar.baz.{n}");
        keys.push(buf.as_bytes());
    }
    Workload::new("W8", "cache-hostile", bindings, keys)
}

/// W9 deep keys: `size` `*`-patterns of depth 16-64; 64-word keys.
pub fn w9(size: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let bindings = (0..size)
        .map(|i| {
            let depth = 16 + rng.below(49) as usize;
            let parts: Vec<String> = (0..depth)
                .map(|d| {
                    if rng.chance(30) {
                        "*".to_string()
                    } else {
                        format!("l{}", (d as u64 * 7 + rng.below(4)) % 10)
                    }
                })
                .collect();
            (parts.join("."), i as u32)
        })
        .collect();
    let mut keys = KeyArena::default();
    for _ in 0..QUERY_KEYS {
        let parts: Vec<String> = (0..64)
            .map(|d| format!("l{}", (d as u64 * 7 + rng.below(4)) % 10))
            .collect();
        keys.push(parts.join(".").as_bytes());
    }
    Workload::new("W9", "deep keys", bindings, keys)
}
