//! Adapters that run our bindings and routing keys through the peer topic matchers of
//! `shared/BENCHMARKS.md`, and a check of their answers against `trackswitch::reference`.
//!
//! Included with `#[path = "common/peers.rs"] mod peers;` by benches and examples, so it
//! names nothing from the including crate. Items are `pub(crate)`: `pub` in a private
//! module of a bench binary trips `unreachable_pub`, and CI denies warnings.
//!
//! Every adapter implements [`Peer`]:
//!
//! - [`Peer::translate`] rewrites one of our AMQP patterns (words split on `.`, `*` one
//!   word, `#` zero or more words anywhere, the empty pattern zero words) into the peer's
//!   syntax: one or more peer patterns whose union matches exactly the same keys, or
//!   `None` when the peer cannot express it;
//! - [`Peer::translate_key`] / [`Peer::prepare_key`] do the same for a routing key
//!   (`None` for keys the peer cannot take or would read as something else);
//! - [`Peer::build`] inserts every binding (`(pattern, id)`), and panics on a pattern
//!   that does not translate: call it only when [`Peer::supports`] says yes;
//! - [`Peer::route`] appends the ids of the bindings matching a prepared key.
//!
//! All three translations first rewrite each run of adjacent wildcard words as its `*`
//! words followed by one `#` when the run holds any (`#.*.#` -> `*.#`, `#.#` -> `#`).
//! That is exact in AMQP: a run of k `*` and at least one `#` takes any k or more words,
//! whatever the order. It lets the MQTT and NATS peers take `#.*` and `#.#`, and it is
//! zenoh's own canonical form (`**/*` is not a valid key expression, `*/**` is).

use std::collections::BTreeSet;
use std::fmt;

use quill::{Pattern as QuillPattern, Registry, Topic};
use topiq_broker::trie::TopicTrie as TopiqTrie;
use topiq_core::SubscriptionId;
use zenoh_keyexpr::keyexpr_tree::{
    IKeyExprTree, IKeyExprTreeMut, IKeyExprTreeNode, IKeyExprTreeNodeMut, KeBoxTree,
};
use zenoh_keyexpr::{OwnedKeyExpr, keyexpr};

/// A peer topic matcher seen through our syntax and our binding ids.
pub(crate) trait Peer: Sized {
    /// A routing key made ready for [`route`](Self::route), outside the timed loop.
    type Key;

    /// The peer's name, for reports.
    fn name() -> &'static str;

    /// Our pattern as peer patterns whose union is equivalent, or `None` when the peer
    /// cannot express it exactly.
    fn translate(pattern: &str) -> Option<Vec<String>>;

    /// Our routing key in the peer's syntax, or `None` when the peer cannot take it
    /// or would read part of it as something other than a literal word.
    fn translate_key(key: &str) -> Option<String>;

    /// Whether every pattern translates, i.e. whether [`build`](Self::build) may be
    /// called with them.
    fn supports<S: AsRef<str>>(patterns: &[S]) -> bool {
        patterns
            .iter()
            .all(|p| Self::translate(p.as_ref()).is_some())
    }

    /// The peer's matcher holding every `(pattern, binding id)`.
    ///
    /// # Panics
    ///
    /// When a pattern does not translate (nothing is skipped silently).
    fn build(bindings: &[(String, u32)]) -> Self;

    /// Translates and parses `key` as far as the benchmark rules allow outside the
    /// timed loop; `None` when [`translate_key`](Self::translate_key) refuses it.
    fn prepare_key(key: &str) -> Option<Self::Key>;

    /// Appends the ids of the bindings matching `key` to `out` (not cleared first).
    fn route(&self, key: &Self::Key, out: &mut Vec<u32>);
}

/// One word of a pattern after [`canonical`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word<'a> {
    Literal(&'a str),
    Star,
    Hash,
}

/// The words of a pattern or key: the empty string is zero words, anything else is
/// split on every `.`.
fn split_words(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('.').collect()
    }
}

/// The words of `pattern`, each run of wildcards rewritten as its `*` words followed by
/// one `#` if the run had any.
fn canonical(pattern: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let (mut stars, mut hash) = (0, false);
    let flush = |out: &mut Vec<Word<'_>>, stars: &mut usize, hash: &mut bool| {
        out.extend(std::iter::repeat_n(Word::Star, *stars));
        if *hash {
            out.push(Word::Hash);
        }
        (*stars, *hash) = (0, false);
    };
    for w in split_words(pattern) {
        match w {
            "*" => stars += 1,
            "#" => hash = true,
            literal => {
                flush(&mut out, &mut stars, &mut hash);
                out.push(Word::Literal(literal));
            }
        }
    }
    flush(&mut out, &mut stars, &mut hash);
    out
}

/// Whether the only `#` of `words`, if any, is the last word.
fn hash_last_only(words: &[Word<'_>]) -> bool {
    let n = words.len();
    words
        .iter()
        .enumerate()
        .all(|(i, w)| *w != Word::Hash || i + 1 == n)
}

// ---------------------------------------------------------------------------------------
// zenoh-keyexpr

/// `zenoh-keyexpr`'s `KeBoxTree`: `**` takes zero or more chunks anywhere, so it is the
/// one peer with a full `#`.
///
/// Translation: `.` -> `/`, `*` -> `*`, `#` -> `**`, wildcard runs canonical. Refused,
/// because a key expression cannot hold them: the empty pattern or key (zero chunks),
/// empty words, words containing `/` `*` `$` `#` `?` (other than the wildcard words of
/// a pattern), and words starting with `@` (verbatim chunks, which `*` and `**` do not
/// match). Routing asks for the nodes whose key expression includes the key
/// (`nodes_including`); each node's weight lists the binding ids that translate to it.
#[derive(Debug)]
pub(crate) struct Zenoh {
    tree: KeBoxTree<Vec<u32>>,
}

/// Whether `word` is a plain zenoh chunk (no wildcard, no verbatim marker).
fn zenoh_literal(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with('@')
        && !word
            .bytes()
            .any(|b| matches!(b, b'/' | b'*' | b'$' | b'#' | b'?'))
}

impl Peer for Zenoh {
    type Key = OwnedKeyExpr;

    fn name() -> &'static str {
        "zenoh-keyexpr"
    }

    fn translate(pattern: &str) -> Option<Vec<String>> {
        let words = canonical(pattern);
        if words.is_empty() {
            return None;
        }
        let mut chunks = Vec::with_capacity(words.len());
        for w in words {
            chunks.push(match w {
                Word::Literal(l) if zenoh_literal(l) => l,
                Word::Literal(_) => return None,
                Word::Star => "*",
                Word::Hash => "**",
            });
        }
        let ke = chunks.join("/");
        keyexpr::new(ke.as_str()).ok()?;
        Some(vec![ke])
    }

    fn translate_key(key: &str) -> Option<String> {
        let words = split_words(key);
        if words.is_empty() || !words.iter().all(|w| zenoh_literal(w)) {
            return None;
        }
        let ke = words.join("/");
        keyexpr::new(ke.as_str()).ok()?;
        Some(ke)
    }

    fn build(bindings: &[(String, u32)]) -> Self {
        let mut tree: KeBoxTree<Vec<u32>> = KeBoxTree::new();
        for (pattern, id) in bindings {
            for ke in translated::<Self>(pattern) {
                let ke = OwnedKeyExpr::try_from(ke).expect("translate checked the key expression");
                let node = tree.node_mut_or_create(&ke);
                match node.weight_mut() {
                    Some(ids) => ids.push(*id),
                    None => {
                        node.insert_weight(vec![*id]);
                    }
                }
            }
        }
        Zenoh { tree }
    }

    fn prepare_key(key: &str) -> Option<OwnedKeyExpr> {
        OwnedKeyExpr::try_from(Self::translate_key(key)?).ok()
    }

    fn route(&self, key: &OwnedKeyExpr, out: &mut Vec<u32>) {
        for node in self.tree.nodes_including(key) {
            if let Some(ids) = node.weight() {
                out.extend_from_slice(ids);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// quill-pubsub

/// `quill-pubsub`'s `Registry` (MQTT semantics), with `.` as its delimiter.
///
/// Translation: `*` -> `+`, `#` -> `#` when it is the last word after canonicalising
/// (its `a.#` matches `a`, as AMQP's does). Refused: `#` before another literal
/// (`a.#.b`), the empty pattern or key, empty words (quill rejects them), and a
/// literal word `+` (it would become a wildcard). Key words `+` `#` `*` are literal to
/// quill, so keys keep them. [`route`](Peer::route) parses the key (`Topic::parse_with`),
/// as `BENCHMARKS.md` asks, then takes `Registry::matching`.
#[derive(Debug)]
pub(crate) struct Quill {
    registry: Registry<u32>,
}

impl Peer for Quill {
    /// The key in quill's syntax (unchanged); it is parsed in the timed loop.
    type Key = String;

    fn name() -> &'static str {
        "quill-pubsub"
    }

    fn translate(pattern: &str) -> Option<Vec<String>> {
        let words = canonical(pattern);
        if words.is_empty() || !hash_last_only(&words) {
            return None;
        }
        let mut segments = Vec::with_capacity(words.len());
        for w in words {
            segments.push(match w {
                Word::Literal(l) if !l.is_empty() && l != "+" => l,
                Word::Literal(_) => return None,
                Word::Star => "+",
                Word::Hash => "#",
            });
        }
        let pattern = segments.join(".");
        QuillPattern::parse_with(&pattern, '.').ok()?;
        Some(vec![pattern])
    }

    fn translate_key(key: &str) -> Option<String> {
        Topic::parse_with(key, '.').ok()?;
        Some(key.to_owned())
    }

    fn build(bindings: &[(String, u32)]) -> Self {
        let registry = Registry::new();
        for (pattern, id) in bindings {
            for p in translated::<Self>(pattern) {
                let p = QuillPattern::parse_with(&p, '.').expect("translate parsed the pattern");
                registry.subscribe(p, *id);
            }
        }
        Quill { registry }
    }

    fn prepare_key(key: &str) -> Option<String> {
        Self::translate_key(key)
    }

    fn route(&self, key: &String, out: &mut Vec<u32>) {
        let topic = Topic::parse_with(key, '.').expect("prepare_key parsed the key");
        out.extend(self.registry.matching(&topic));
    }
}

// ---------------------------------------------------------------------------------------
// topiq-broker

/// `topiq-broker`'s `trie::TopicTrie` (NATS semantics: `*` one token, `>` last and one
/// or more tokens; no subject validation).
///
/// Translation: `*` -> `*`; a pattern ending in `#` (after canonicalising) becomes two,
/// `p.#` -> {`p`, `p.>`}, and `#` alone becomes {`>`}. Refused: `#` before another
/// literal (`a.#.b`), a literal word `>`. Empty words work (topiq splits exactly as we
/// do), except that it reads the empty key as one empty word, not zero: `*` would match
/// it, so the empty key is refused (and `#` needs no `""` pattern beside `>`). Key
/// words `*` `>` `#` are looked up as literals, so keys keep them.
#[derive(Debug)]
pub(crate) struct Topiq {
    trie: TopiqTrie,
}

impl Peer for Topiq {
    /// The key in topiq's syntax (unchanged).
    type Key = String;

    fn name() -> &'static str {
        "topiq-broker"
    }

    fn translate(pattern: &str) -> Option<Vec<String>> {
        let mut words = canonical(pattern);
        if !hash_last_only(&words) {
            return None;
        }
        let tail = words.last() == Some(&Word::Hash);
        if tail {
            words.pop();
        }
        let mut tokens = Vec::with_capacity(words.len());
        for w in words {
            tokens.push(match w {
                Word::Literal(">") => return None,
                Word::Literal(l) => l,
                Word::Star => "*",
                Word::Hash => unreachable!("only the last word can be `#`, and it was taken"),
            });
        }
        let prefix = tokens.join(".");
        Some(match (tail, tokens.is_empty()) {
            (false, _) => vec![prefix],
            (true, true) => vec![">".to_owned()],
            (true, false) => vec![format!("{prefix}.>"), prefix],
        })
    }

    fn translate_key(key: &str) -> Option<String> {
        (!key.is_empty()).then(|| key.to_owned())
    }

    fn build(bindings: &[(String, u32)]) -> Self {
        let mut trie = TopiqTrie::new();
        for (pattern, id) in bindings {
            for p in translated::<Self>(pattern) {
                trie.insert(&p, SubscriptionId(u64::from(*id)));
            }
        }
        Topiq { trie }
    }

    fn prepare_key(key: &str) -> Option<String> {
        Self::translate_key(key)
    }

    fn route(&self, key: &String, out: &mut Vec<u32>) {
        // The ids were u32 on the way in.
        out.extend(self.trie.matches(key).into_iter().map(|sid| sid.0 as u32));
    }
}

/// `P::translate(pattern)`, for `build`: a refused pattern is a caller error.
fn translated<P: Peer>(pattern: &str) -> Vec<String> {
    P::translate(pattern).unwrap_or_else(|| {
        panic!(
            "{}: pattern {pattern:?} cannot be expressed; check Peer::supports before build",
            P::name()
        )
    })
}

// ---------------------------------------------------------------------------------------
// The check against the reference

/// One peer's answers for one list of patterns and keys, compared with
/// `trackswitch::reference::matches`.
#[derive(Debug)]
// A timing bench includes this file for the adapters only; the checker is for
// `benches/peers_check.rs` and for whatever checks answers before timing.
#[allow(dead_code)]
pub(crate) struct PeerCheck {
    /// [`Peer::name`].
    pub(crate) peer: &'static str,
    /// Patterns given, and how many of them the peer can express.
    pub(crate) patterns: usize,
    pub(crate) patterns_supported: usize,
    /// Keys given, and how many of them the peer can take.
    pub(crate) keys: usize,
    pub(crate) keys_supported: usize,
    /// Matches expected over the supported patterns and keys (the peer found the same).
    pub(crate) expected_matches: usize,
    /// Routes where the peer returned some binding id more than once (not a mismatch:
    /// answers are compared as sets).
    pub(crate) routes_with_duplicates: usize,
    /// Routes whose set of ids differed from the reference.
    pub(crate) mismatched_routes: usize,
    /// The first few mismatches, each minimised.
    pub(crate) mismatches: Vec<Mismatch>,
}

/// A minimised disagreement between a peer and the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
// See `PeerCheck`.
#[allow(dead_code)]
pub(crate) struct Mismatch {
    /// Our pattern and key.
    pub(crate) pattern: String,
    pub(crate) key: String,
    /// Whether the peer matched, and whether the reference does.
    pub(crate) peer: bool,
    pub(crate) expected: bool,
    /// False when the pattern alone does not reproduce it (it needs the other bindings).
    pub(crate) alone: bool,
}

// See `PeerCheck`.
#[allow(dead_code)]
impl PeerCheck {
    /// Whether every answer equalled the reference.
    pub(crate) fn passed(&self) -> bool {
        self.mismatched_routes == 0
    }
}

impl fmt::Display for PeerCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<14} patterns {:>4}/{:<4} keys {:>4}/{:<4} matches {:>6}  ",
            self.peer,
            self.patterns_supported,
            self.patterns,
            self.keys_supported,
            self.keys,
            self.expected_matches,
        )?;
        if self.mismatched_routes == 0 {
            write!(f, "all answers equal the reference")?;
        } else {
            write!(f, "{} routes DIFFER", self.mismatched_routes)?;
        }
        if self.routes_with_duplicates > 0 {
            write!(f, " ({} routes repeat an id)", self.routes_with_duplicates)?;
        }
        for m in &self.mismatches {
            write!(
                f,
                "\n    pattern {:?} key {:?}: peer {}, expected {}{}",
                m.pattern,
                m.key,
                m.peer,
                m.expected,
                if m.alone {
                    ""
                } else {
                    " (only beside the other bindings)"
                },
            )?;
        }
        Ok(())
    }
}

/// Runs every peer over `patterns` (pattern i is binding i) and `keys`, comparing each
/// route, as a set of binding ids, with `trackswitch::reference::matches` restricted to
/// the patterns the peer supports. Keys the peer cannot take are skipped and counted.
///
/// Returns one [`PeerCheck`] per peer rather than panicking, so a caller can print all
/// of them; [`PeerCheck::passed`] tells whether a peer agreed everywhere.
// See `PeerCheck`.
#[allow(dead_code)]
pub(crate) fn check_against_reference<S: AsRef<str>>(patterns: &[S], keys: &[S]) -> Vec<PeerCheck> {
    let patterns: Vec<&str> = patterns.iter().map(AsRef::as_ref).collect();
    let keys: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
    // expected[k]: the ids of every pattern matching key k.
    let expected: Vec<Vec<u32>> = keys
        .iter()
        .map(|k| {
            (0..patterns.len() as u32)
                .filter(|&i| reference(patterns[i as usize], k))
                .collect()
        })
        .collect();
    vec![
        check_peer::<Zenoh>(&patterns, &keys, &expected),
        check_peer::<Quill>(&patterns, &keys, &expected),
        check_peer::<Topiq>(&patterns, &keys, &expected),
    ]
}

/// How many mismatches [`PeerCheck`] keeps.
const KEEP_MISMATCHES: usize = 5;

fn reference(pattern: &str, key: &str) -> bool {
    trackswitch::reference::matches(pattern.as_bytes(), key.as_bytes())
}

fn check_peer<P: Peer>(patterns: &[&str], keys: &[&str], expected: &[Vec<u32>]) -> PeerCheck {
    let bindings: Vec<(String, u32)> = patterns
        .iter()
        .zip(0u32..)
        .filter(|(p, _)| P::translate(p).is_some())
        .map(|(p, id)| ((*p).to_owned(), id))
        .collect();
    let kept: Vec<&str> = bindings.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        P::supports(&kept),
        "translate gave different answers for one pattern"
    );
    let supported: BTreeSet<u32> = bindings.iter().map(|&(_, id)| id).collect();
    let peer = P::build(&bindings);
    let mut check = PeerCheck {
        peer: P::name(),
        patterns: patterns.len(),
        patterns_supported: bindings.len(),
        keys: keys.len(),
        keys_supported: 0,
        expected_matches: 0,
        routes_with_duplicates: 0,
        mismatched_routes: 0,
        mismatches: Vec::new(),
    };
    let mut out = Vec::new();
    for (key, expected) in keys.iter().zip(expected) {
        let Some(prepared) = P::prepare_key(key) else {
            continue;
        };
        check.keys_supported += 1;
        out.clear();
        peer.route(&prepared, &mut out);
        let got: BTreeSet<u32> = out.iter().copied().collect();
        if got.len() != out.len() {
            check.routes_with_duplicates += 1;
        }
        let want: BTreeSet<u32> = expected
            .iter()
            .copied()
            .filter(|id| supported.contains(id))
            .collect();
        check.expected_matches += want.len();
        if got == want {
            continue;
        }
        check.mismatched_routes += 1;
        for &id in got.symmetric_difference(&want) {
            if check.mismatches.len() == KEEP_MISMATCHES {
                break;
            }
            let m = minimise::<P>(patterns[id as usize], key, got.contains(&id));
            if !check.mismatches.contains(&m) {
                check.mismatches.push(m);
            }
        }
    }
    check
}

/// The peer's answer for `pattern` bound alone, or `None` if it cannot take both.
fn alone<P: Peer>(pattern: &str, key: &str) -> Option<bool> {
    P::translate(pattern)?;
    let key = P::prepare_key(key)?;
    let mut out = Vec::new();
    P::build(&[(pattern.to_owned(), 0)]).route(&key, &mut out);
    Some(!out.is_empty())
}

/// `s` without its word `i`.
fn without_word(s: &str, i: usize) -> String {
    let mut words = split_words(s);
    words.remove(i);
    words.join(".")
}

/// Shrinks a disagreement word by word (from the pattern, the key, or both) while the
/// pattern bound alone still reproduces it.
fn minimise<P: Peer>(pattern: &str, key: &str, peer_in_table: bool) -> Mismatch {
    let differs = |p: &str, k: &str| alone::<P>(p, k).is_some_and(|got| got != reference(p, k));
    if !differs(pattern, key) {
        return Mismatch {
            pattern: pattern.to_owned(),
            key: key.to_owned(),
            peer: peer_in_table,
            expected: reference(pattern, key),
            alone: false,
        };
    }
    let (mut p, mut k) = (pattern.to_owned(), key.to_owned());
    'shrink: loop {
        for i in 0..split_words(&p).len() {
            let q = without_word(&p, i);
            if differs(&q, &k) {
                p = q;
                continue 'shrink;
            }
        }
        for i in 0..split_words(&k).len() {
            let q = without_word(&k, i);
            if differs(&p, &q) {
                k = q;
                continue 'shrink;
            }
        }
        // A word from each, for a literal of the pattern matched by one of the key.
        for i in 0..split_words(&p).len() {
            for j in 0..split_words(&k).len() {
                let (q, l) = (without_word(&p, i), without_word(&k, j));
                if differs(&q, &l) {
                    (p, k) = (q, l);
                    continue 'shrink;
                }
            }
        }
        break;
    }
    let expected = reference(&p, &k);
    Mismatch {
        pattern: p,
        key: k,
        peer: !expected,
        expected,
        alone: true,
    }
}
