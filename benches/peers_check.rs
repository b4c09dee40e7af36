//! Checks that the peer matchers of `benches/common/peers.rs` answer exactly as
//! `trackswitch::reference` does, before anyone times them.
//!
//! Runs random patterns and keys over the alphabet `a b c * #`, edge cases (empty words,
//! characters the peers treat specially) and small instances of the workload shapes of
//! `shared/BENCHMARKS.md`; prints, per suite and peer, how much the peer could express
//! and whether every answer matched; exits with status 1 on any mismatch.
//!
//! `cargo bench --bench peers_check`, or as part of `cargo test --benches`.

#[path = "common/peers.rs"]
mod peers;

use std::process::ExitCode;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// rand's seeded ChaCha8 generator: the same inputs every run, on every platform.
struct Rng(ChaCha8Rng);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// `len` words drawn from `alphabet`, joined by `.`.
    fn words(&mut self, alphabet: &[&str], len: usize) -> String {
        (0..len)
            .map(|_| self.pick(alphabet))
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// The input of one check: patterns (pattern i is binding i) and keys.
struct Suite {
    name: &'static str,
    patterns: Vec<String>,
    keys: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// 300 patterns and 300 keys of 0-5 words over `a b c * #`.
fn random(rng: &mut Rng) -> Suite {
    let alphabet = ["a", "b", "c", "*", "#"];
    let mut draw = |n| -> Vec<String> {
        (0..n)
            .map(|_| {
                let len = rng.below(6);
                rng.words(&alphabet, len)
            })
            .collect()
    };
    let patterns = draw(300);
    let keys = draw(300);
    Suite {
        name: "random a b c * #",
        patterns,
        keys,
    }
}

/// Empty words, the empty string, and words each peer reads specially.
fn edges() -> Suite {
    let special = [
        "", ".", "a.", ".a", "a..b", "+", "a.+", ">", "a.>", "@x", "a.@x", "$x", "a.$x", "a*",
        "#a", "##", "a/b", "a?", "*", "#",
    ];
    let mut patterns = strings(&special);
    patterns.extend(strings(&[
        "#.#",
        "#.*",
        "*.#",
        "#.*.#",
        "*.*.#",
        "a.#",
        "#.a",
        "a.#.b",
        "a.*.#.*.b",
        "#.#.#",
        "*.",
        ".*",
        ".#",
        "#.",
        "a.#.",
        "*.*",
        "a.*",
        "*.a",
    ]));
    let mut keys = strings(&special);
    keys.extend(strings(&[
        "a", "b", "a.b", "a.b.c", "a.a", "a.*", "a.#", "*.*", "#.#", "..", "a.b.", "a.+.b",
        "a.>.b", "x.y.z.w",
    ]));
    Suite {
        name: "edge cases",
        patterns,
        keys,
    }
}

/// W1: `tenant{t}.dev{d}.metric{m}`, some twice; keys with misses.
fn w1() -> Suite {
    let mut patterns = Vec::new();
    let mut keys = Vec::new();
    for t in 0..3 {
        for d in 0..4 {
            for m in 0..6 {
                let k = format!("tenant{t}.dev{d}.metric{m}");
                if m < 4 {
                    for _ in 0..1 + (t + d + m) % 2 {
                        patterns.push(k.clone());
                    }
                }
                keys.push(k);
            }
        }
    }
    Suite {
        name: "W1 exact-heavy",
        patterns,
        keys,
    }
}

/// W2: IoT mixed.
fn w2() -> Suite {
    let mut patterns = vec!["devices.*.temperature".to_owned(), "#.alarm".to_owned()];
    let mut keys = Vec::new();
    for id in 0..40 {
        if id < 30 {
            patterns.push(format!("devices.{id}.temperature"));
        }
        if id % 10 == 3 {
            patterns.push(format!("devices.{id}.#"));
        }
        for metric in ["temperature", "humidity"] {
            keys.push(format!("devices.{id}.{metric}"));
            keys.push(format!("devices.{id}.{metric}.alarm"));
        }
    }
    Suite {
        name: "W2 IoT mixed",
        patterns,
        keys,
    }
}

/// W3: EMQX's bench, `device.{id}.*.{num}.#` against 10-word keys.
fn w3() -> Suite {
    let mut patterns = Vec::new();
    let mut keys = Vec::new();
    for id in 0..20 {
        for num in 0..5 {
            patterns.push(format!("device.{id}.*.{num}.#"));
            keys.push(format!("device.{id}.foo.{num}.bar.1.2.3.4.5"));
        }
        keys.push(format!("device.{id}.foo.9.bar.1.2.3.4.5"));
    }
    Suite {
        name: "W3 EMQX",
        patterns,
        keys,
    }
}

/// W4: NATS's bench, literals over 8 tokens at depth 1-5 plus three wildcards.
fn w4(rng: &mut Rng) -> Suite {
    let tokens = [
        "synadia",
        "nats",
        "jetstream",
        "nkeys",
        "jwt",
        "deny",
        "auth",
        "drain",
    ];
    let mut patterns = strings(&["cloud.#", "cloud.nats.component.#", "cloud.*.*.nkeys.*"]);
    let mut keys = Vec::new();
    for _ in 0..200 {
        let depth = 1 + rng.below(5);
        patterns.push(rng.words(&tokens, depth));
        let depth = 1 + rng.below(5);
        keys.push(rng.words(&tokens, depth));
        let depth = rng.below(5);
        keys.push(
            format!("cloud.{}", rng.words(&tokens, depth))
                .trim_end_matches('.')
                .to_owned(),
        );
    }
    keys.extend(strings(&[
        "cloud",
        "cloud.nats.component",
        "cloud.a.b.nkeys.c",
    ]));
    Suite {
        name: "W4 NATS",
        patterns,
        keys,
    }
}

/// W5: `#`-heavy: 1-3 `#` anywhere, one 15-`#` pattern, long keys, keys of literal `*`
/// and `#` words against `*`-chains.
fn w5(rng: &mut Rng) -> Suite {
    let words = ["a", "b", "c"];
    let mut patterns = Vec::new();
    for _ in 0..150 {
        let mut w: Vec<&str> = (0..rng.below(6)).map(|_| rng.pick(&words)).collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(w.len() + 1);
            w.insert(at, "#");
        }
        patterns.push(w.join("."));
    }
    patterns.push(["#.a"; 15].join("."));
    for n in [1, 5, 20] {
        patterns.push(vec!["*"; n].join("."));
    }
    let mut keys: Vec<String> = (0..60)
        .map(|_| {
            let len = 8 + rng.below(25);
            rng.words(&words, len)
        })
        .collect();
    keys.push(["a"; 31].join("."));
    keys.push(["*"; 20].join("."));
    keys.push(["#"; 20].join("."));
    keys.push(["*"; 5].join("."));
    Suite {
        name: "W5 #-heavy",
        patterns,
        keys,
    }
}

/// W6: one key matched by many bindings, and a fanout-like `#`.
fn w6() -> Suite {
    let shapes = ["fan.out", "fan.*", "#.out", "fan.#", "#", "*.out", "*.*"];
    let patterns = (0..350)
        .map(|i| shapes[i % shapes.len()].to_owned())
        .collect();
    let keys = strings(&["fan.out", "fan.in", "fan", "out", "x.fan.out"]);
    Suite {
        name: "W6 fan-out",
        patterns,
        keys,
    }
}

/// W8: `foo.bar.baz.{n}` plus wildcards, distinct keys.
fn w8() -> Suite {
    let mut patterns: Vec<String> = (0..200).map(|n| format!("foo.bar.baz.{n}")).collect();
    for n in 0..10 {
        patterns.push(format!("foo.*.baz.{n}"));
        patterns.push(format!("foo.bar.*.{}", n * 7));
        patterns.push(format!("#.{}", n * 13));
    }
    patterns.push("foo.#".to_owned());
    let keys = (0..300).map(|n| format!("foo.bar.baz.{}", n * 3)).collect();
    Suite {
        name: "W8 cache-hostile",
        patterns,
        keys,
    }
}

/// W9: `*`-patterns of depth 16-64 against 64-word keys.
fn w9(rng: &mut Rng) -> Suite {
    let words = ["a", "b"];
    let keys: Vec<String> = (0..20).map(|_| rng.words(&words, 64)).collect();
    let mut patterns = Vec::new();
    for i in 0..100 {
        let depth = if i % 4 == 0 { 64 } else { 16 + rng.below(49) };
        let base: Vec<&str> = keys[i % keys.len()].split('.').take(depth).collect();
        let p: Vec<&str> = base
            .iter()
            .map(|&w| if rng.below(3) == 0 { w } else { "*" })
            .collect();
        patterns.push(p.join("."));
    }
    Suite {
        name: "W9 deep keys",
        patterns,
        keys,
    }
}

fn main() -> ExitCode {
    let mut rng = Rng::new(0x7472_6163_6b73_7769);
    let suites = [
        random(&mut rng),
        edges(),
        w1(),
        w2(),
        w3(),
        w4(&mut rng),
        w5(&mut rng),
        w6(),
        w8(),
        w9(&mut rng),
    ];
    let mut failed = false;
    for suite in &suites {
        println!(
            "{}: {} patterns, {} keys",
            suite.name,
            suite.patterns.len(),
            suite.keys.len()
        );
        for check in peers::check_against_reference(&suite.patterns, &suite.keys) {
            println!("  {check}");
            failed |= !check.passed();
        }
    }
    if failed {
        println!("peers_check: some peer disagrees with trackswitch::reference");
        ExitCode::FAILURE
    } else {
        println!("peers_check: every supported answer equals trackswitch::reference");
        ExitCode::SUCCESS
    }
}
