//! [`TopicTrie`]: many topic patterns, matched against a key at once.
//!
//! # How it works
//!
//! Exact patterns (no `*` or `#` word) live in one flat hash keyed by the whole
//! pattern, so a key that only exact patterns can match costs one hash and one probe.
//!
//! Wildcard patterns live in a trie of words, stored as a `Vec` arena with `u32`
//! indices. Literal children are found in a per-node hash table by the word's hash,
//! computed once per key word with the trie's seeded hasher; `*` and `#` children sit in
//! dedicated slots. For `a.*.c`, `a.#` and `#.b`:
//!
//! ```text
//!          root
//!        a/    \#
//!       (1)    (4)#        (n)# : reached by a `#` edge, absorbs words
//!      */  \#     \b
//!     (2)  (5)#   (6)=#.b
//!    c/     =a.#
//!   (3)=a.*.c
//! ```
//!
//! Matching runs the trie as an NFA. The live set starts as the root and its `#`-closure
//! (the chain of `#` children, each matching zero words). For every key word, each live
//! node moves to its literal child for that word, to its `*` child, and stays where it is
//! if it was reached by `#`; each new node brings its `#`-closure along. The set is
//! de-duplicated after every word, so it never holds a node twice and a key costs
//! O(words x live nodes) probes, however many `#` the patterns hold: never exponential.
//! At the end, the live nodes that end a pattern are the matches, each once.
//!
//! Dialects ([`Dialect`]) change only the edges a pattern spells and a check made once
//! per key: an MQTT filter's `+` and `#` are the `*` and `#` edges (its `#` is always a
//! sink), a NATS subject's `>` is a `*` edge then a `#` edge; MQTT keys starting with `$`
//! skip the root's wildcard edges, and keys that are not valid topic names or subjects
//! match nothing. The AMQP walk is the same code as before dialects: its checks are
//! constants.
//!
//! Removal walks the pattern's path and prunes every node left with no pattern, no
//! child and no wildcard slot, so churn leaks nothing.

use std::cell::RefCell;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::dialect::{Amqp, Dialect, split_on};
use super::pattern::Word;
use crate::exact::ExactMap;
use crate::small::{SmallBytes, Values};

/// "No node" in a wildcard slot or parent link.
const NONE: u32 = u32::MAX;
/// The root of the wildcard trie; it always exists.
const ROOT: u32 = 0;
/// The smallest free list worth compacting.
const COMPACT_MIN: usize = 1024;
/// "Any number of words" in `Node::max_rest`.
const UNBOUNDED: u32 = u32::MAX;

/// A pattern and the values bound to it.
#[derive(Debug, Clone)]
struct Terminal<V, P> {
    pattern: P,
    /// Distinct.
    values: Values<V>,
}

#[derive(Debug, Clone)]
struct Node<V, P> {
    /// Literal word -> child index; hashed with the trie's hasher over the word bytes.
    /// Never holds the words `*` or `#`.
    children: HashTable<(SmallBytes, u32)>,
    /// Child reached by a `*` word, or `NONE`.
    star: u32,
    /// Child reached by a `#` word, or `NONE`.
    hash: u32,
    /// Parent index (`NONE` for the root and for free nodes).
    parent: u32,
    /// Whether the edge from the parent is `#` (such a node absorbs key words).
    absorbs: bool,
    /// A lower bound on the key words a pattern below (or at) this node still needs
    /// after this node: every terminal below needs at least this many. Lowered on
    /// insert, never raised on remove (a stale bound only prunes less).
    min_rest: u32,
    /// An upper bound on the key words a pattern below this node can still take;
    /// `UNBOUNDED` when a `#` may lie below. Raised on insert, never lowered on remove.
    max_rest: u32,
    /// The pattern ending here, if any; its path from the root spells it.
    terminal: Option<Box<Terminal<V, P>>>,
}

impl<V, P> Node<V, P> {
    fn new(parent: u32, absorbs: bool) -> Self {
        Node {
            children: HashTable::new(),
            star: NONE,
            hash: NONE,
            parent,
            absorbs,
            min_rest: UNBOUNDED,
            max_rest: 0,
            terminal: None,
        }
    }

    /// A node that leads nowhere and ends no pattern; only the root may be one.
    fn is_empty(&self) -> bool {
        self.is_leaf() && self.terminal.is_none()
    }

    /// No edge leaves this node.
    fn is_leaf(&self) -> bool {
        self.children.is_empty() && self.star == NONE && self.hash == NONE
    }

    /// A `#` node with nothing below: its pattern matches whatever words follow, so the
    /// walk records it as matched instead of carrying it along.
    fn is_sink(&self) -> bool {
        self.absorbs && self.is_leaf()
    }

    /// Whether a pattern at or below this node can take `rest` more key words.
    #[inline]
    fn admits(&self, rest: u32) -> bool {
        self.min_rest <= rest && rest <= self.max_rest
    }
}

/// Scratch of one walk.
#[derive(Debug, Default)]
struct Live {
    /// Live states before the current word.
    cur: Vec<u32>,
    /// Live states after it.
    next: Vec<u32>,
    /// `#` sinks reached: matched whatever follows.
    done: Vec<u32>,
}

thread_local! {
    /// Reusable live sets for routing, so steady-state routing allocates nothing.
    static LIVE: RefCell<Live> = const { RefCell::new(Live { cur: Vec::new(), next: Vec::new(), done: Vec::new() }) };
}

/// Topic patterns -> values, matched against routing keys with `*` and `#`.
///
/// Several values may be bound to one pattern; a (pattern, value) pair is stored once.
/// Routing a key returns the values of every pattern that matches it, each pattern
/// once (a value bound under two matching patterns appears twice: de-duplicating
/// destinations is the caller's choice, see [`DestSet`](crate::DestSet)).
///
/// The syntax is the dialect `D`: [`Amqp`] by default ([`Pattern`](super::Pattern)s),
/// or [`Mqtt`](super::Mqtt) ([`MqttFilter`](super::MqttFilter)s) and
/// [`Nats`](super::Nats) ([`NatsSubject`](super::NatsSubject)s) through
/// [`with_dialect`](TopicTrie::with_dialect).
///
/// # Examples
///
/// ```
/// use trackswitch::topic::{Pattern, TopicTrie};
///
/// let mut trie = TopicTrie::new();
/// trie.insert(&Pattern::new("eu.*.free_user")?, "eu-free");
/// trie.insert(&Pattern::new("ru.#")?, "ru");
/// trie.insert(&Pattern::new("*.culture.*")?, "culture");
/// trie.insert(&Pattern::new("#")?, "all");
///
/// let mut hits = trie.route("eu.culture.free_user");
/// hits.sort();
/// assert_eq!(hits, ["all", "culture", "eu-free"]);
///
/// let mut out = Vec::new(); // reusable: routing into it allocates nothing once warm
/// trie.route_into("ru.sport.premium", &mut out);
/// out.sort();
/// assert_eq!(out, ["all", "ru"]);
/// # Ok::<(), trackswitch::PatternError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TopicTrie<V, S = DefaultHashBuilder, D: Dialect = Amqp> {
    /// Patterns with no wildcard word, keyed by their bytes. Its hasher also hashes
    /// literal words for every node's `children`.
    exact: ExactMap<D::Pattern, V, S>,
    /// The wildcard trie; `nodes[ROOT]` always exists. A node is either reachable from
    /// the root (and then non-empty unless it is the root) or on `free`.
    nodes: Vec<Node<V, D::Pattern>>,
    /// Indices of unused nodes, reused before the arena grows.
    free: Vec<u32>,
    /// Number of (pattern, value) pairs in the trie (not counting `exact`).
    wild_len: usize,
    /// Free-list length at which the next tail compaction is tried.
    compact_at: usize,
    /// The dialect (a zero-sized type: its rules are resolved at compile time).
    dialect: D,
}

impl<V, S: Default, D: Dialect> Default for TopicTrie<V, S, D> {
    fn default() -> Self {
        TopicTrie::with_dialect_and_hasher(D::default(), S::default())
    }
}

impl<V> TopicTrie<V> {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<V, S> TopicTrie<V, S> {
    /// An empty trie hashing words with `hasher` (any [`BuildHasher`]; the default is
    /// [`DefaultHashBuilder`](crate::DefaultHashBuilder), foldhash seeded at random).
    ///
    /// ```
    /// use trackswitch::DefaultHashBuilder;
    /// use trackswitch::topic::{Pattern, TopicTrie};
    ///
    /// let mut trie = TopicTrie::with_hasher(DefaultHashBuilder::default());
    /// trie.insert(&Pattern::new("a.*")?, 1);
    /// assert_eq!(trie.route("a.b"), [1]);
    /// # Ok::<(), trackswitch::PatternError>(())
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        TopicTrie::with_dialect_and_hasher(Amqp, hasher)
    }
}

impl<V, D: Dialect> TopicTrie<V, DefaultHashBuilder, D> {
    /// An empty trie speaking `dialect`: [`Amqp`] (what [`new`](TopicTrie::new)
    /// makes), [`Mqtt`](super::Mqtt) or [`Nats`](super::Nats).
    ///
    /// ```
    /// use trackswitch::topic::{Nats, NatsSubject, TopicTrie};
    ///
    /// let mut trie = TopicTrie::with_dialect(Nats);
    /// trie.insert(&NatsSubject::new("*.bar.>")?, 1);
    /// assert_eq!(trie.route("foo.bar.baz"), [1]);
    /// assert!(trie.route("foo.bar").is_empty());
    /// # Ok::<(), trackswitch::topic::NatsSubjectError>(())
    /// ```
    pub fn with_dialect(dialect: D) -> Self {
        TopicTrie::with_dialect_and_hasher(dialect, DefaultHashBuilder::default())
    }
}

impl<V, S, D: Dialect> TopicTrie<V, S, D> {
    /// An empty trie speaking `dialect` and hashing words with `hasher`.
    pub fn with_dialect_and_hasher(dialect: D, hasher: S) -> Self {
        TopicTrie {
            exact: ExactMap::with_hasher(hasher),
            nodes: vec![Node::new(NONE, false)],
            free: Vec::new(),
            wild_len: 0,
            compact_at: COMPACT_MIN,
            dialect,
        }
    }

    /// The trie's dialect.
    pub fn dialect(&self) -> D {
        self.dialect
    }

    /// The trie's hasher.
    pub fn hasher(&self) -> &S {
        self.exact.hasher()
    }
}

impl<V, S: BuildHasher, D: Dialect> TopicTrie<V, S, D> {
    /// Number of (pattern, value) pairs.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wild_len
    }

    /// Whether the trie holds no pair.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of distinct patterns.
    pub fn pattern_count(&self) -> usize {
        self.exact.key_count() + self.iter_terminals().count()
    }

    /// Removes every pattern.
    pub fn clear(&mut self) {
        self.exact.clear();
        self.nodes.clear();
        self.nodes.push(Node::new(NONE, false));
        self.free.clear();
        self.wild_len = 0;
        self.compact_at = COMPACT_MIN;
    }

    fn word_hash(&self, word: &[u8]) -> u64 {
        self.exact.hasher().hash_one(word)
    }

    fn alloc(&mut self, parent: u32, absorbs: bool) -> u32 {
        let node = Node::new(parent, absorbs);
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            let i = u32::try_from(self.nodes.len()).expect("fewer than 2^32 - 1 trie nodes");
            assert!(i != NONE, "fewer than 2^32 - 1 trie nodes");
            self.nodes.push(node);
            i
        }
    }

    /// The child of `node` along `word`, if any.
    fn child(&self, node: u32, word: Word<'_>) -> Option<u32> {
        let n = &self.nodes[node as usize];
        let c = match word {
            Word::Star => n.star,
            Word::Hash => n.hash,
            Word::Literal(w) => {
                let h = self.word_hash(w);
                n.children
                    .find(h, |(k, _)| **k == *w)
                    .map_or(NONE, |&(_, c)| c)
            }
        };
        (c != NONE).then_some(c)
    }

    /// The child of `node` along `word`, created if missing.
    fn child_or_insert(&mut self, node: u32, word: Word<'_>) -> u32 {
        if let Some(c) = self.child(node, word) {
            return c;
        }
        let c = self.alloc(node, word == Word::Hash);
        let hasher = self.exact.hasher();
        let n = &mut self.nodes[node as usize];
        match word {
            Word::Star => n.star = c,
            Word::Hash => n.hash = c,
            Word::Literal(w) => {
                let h = hasher.hash_one(w);
                n.children
                    .insert_unique(h, (SmallBytes::new(w), c), |(k, _)| hasher.hash_one(&**k));
            }
        }
        c
    }

    /// Binds `value` to `pattern`. Returns false (changing nothing) if that pair is
    /// already present. Costs O(words of the pattern).
    pub fn insert(&mut self, pattern: &D::Pattern, value: V) -> bool
    where
        V: PartialEq,
    {
        self.insert_bytes(pattern.as_ref(), value)
    }

    /// [`insert`](Self::insert) for pattern bytes the caller has checked; stores a copy
    /// of them only for a pattern not yet present.
    pub(crate) fn insert_bytes(&mut self, pattern: &[u8], value: V) -> bool
    where
        V: PartialEq,
    {
        if D::is_exact(pattern) {
            return self
                .exact
                .insert(pattern, || D::from_checked(pattern), value);
        }
        let words: Vec<Word<'_>> = D::edges(pattern).collect();
        // rest[d]: (fewest, most) key words a pattern at the node of depth d still takes.
        let mut rest = vec![(0u32, 0u32); words.len() + 1];
        for d in (0..words.len()).rev() {
            let (lo, hi) = rest[d + 1];
            rest[d] = match words[d] {
                Word::Hash => (lo, UNBOUNDED),
                _ => (lo + 1, if hi == UNBOUNDED { UNBOUNDED } else { hi + 1 }),
            };
        }
        // A node reached by `#` absorbs words itself: no upper bound there.
        for d in 1..=words.len() {
            if words[d - 1] == Word::Hash {
                rest[d].1 = UNBOUNDED;
            }
        }
        let mut node = ROOT;
        for (d, &word) in words.iter().enumerate() {
            self.widen(node, rest[d]);
            node = self.child_or_insert(node, word);
        }
        self.widen(node, rest[words.len()]);
        let n = &mut self.nodes[node as usize];
        match &mut n.terminal {
            Some(t) => {
                if !t.values.insert(value) {
                    return false;
                }
            }
            None => {
                n.terminal = Some(Box::new(Terminal {
                    pattern: D::from_checked(pattern),
                    values: Values::One(value),
                }));
            }
        }
        self.wild_len += 1;
        true
    }

    /// Widens a node's bounds to admit a pattern needing `(lo, hi)` more words.
    fn widen(&mut self, node: u32, (lo, hi): (u32, u32)) {
        let n = &mut self.nodes[node as usize];
        n.min_rest = n.min_rest.min(lo);
        n.max_rest = n.max_rest.max(hi);
    }

    /// Unbinds `value` from `pattern`. Returns whether the pair was present. Nodes left
    /// empty are pruned. Costs O(words of the pattern).
    pub fn remove(&mut self, pattern: &D::Pattern, value: &V) -> bool
    where
        V: PartialEq,
    {
        self.remove_bytes(pattern.as_ref(), value)
    }

    /// [`remove`](Self::remove) for pattern bytes.
    pub(crate) fn remove_bytes(&mut self, pattern: &[u8], value: &V) -> bool
    where
        V: PartialEq,
    {
        if D::is_exact(pattern) {
            return self.exact.remove(pattern, value);
        }
        let mut node = ROOT;
        for word in D::edges(pattern) {
            match self.child(node, word) {
                Some(c) => node = c,
                None => return false,
            }
        }
        let n = &mut self.nodes[node as usize];
        let Some(t) = &mut n.terminal else {
            return false;
        };
        match t.values.remove(value) {
            None => return false,
            Some(true) => n.terminal = None,
            Some(false) => {}
        }
        self.wild_len -= 1;
        self.prune(node, pattern);
        true
    }

    /// Frees `node` and its ancestors while they are empty, walking `pattern`'s path
    /// back up (the path ends at `node`).
    fn prune(&mut self, mut node: u32, pattern: &[u8]) {
        let words: Vec<Word<'_>> = D::edges(pattern).collect();
        let mut depth = words.len();
        while node != ROOT && self.nodes[node as usize].is_empty() {
            depth -= 1;
            let parent = self.nodes[node as usize].parent;
            let hasher = self.exact.hasher();
            let p = &mut self.nodes[parent as usize];
            match words[depth] {
                Word::Star => p.star = NONE,
                Word::Hash => p.hash = NONE,
                Word::Literal(w) => {
                    let h = hasher.hash_one(w);
                    let entry = p
                        .children
                        .find_entry(h, |(k, _)| **k == *w)
                        .expect("a pruned node is its parent's child");
                    entry.remove();
                    if p.children.capacity() > 8 && p.children.len() * 4 < p.children.capacity() {
                        p.children.shrink_to_fit(|(k, _)| hasher.hash_one(&**k));
                    }
                }
            }
            let freed = &mut self.nodes[node as usize];
            *freed = Node::new(NONE, false);
            self.free.push(node);
            node = parent;
        }
        // Give memory back when most of the arena is free.
        // Amortised: the free list must double between two attempts, so removal stays
        // O(words) even when the arena's last node stays live.
        if self.free.len() >= self.compact_at && self.free.len() * 2 > self.nodes.len() {
            self.compact_tail();
            self.compact_at = (2 * self.free.len()).max(COMPACT_MIN);
        }
    }

    /// Drops free nodes at the end of the arena.
    fn compact_tail(&mut self) {
        self.free.sort_unstable();
        while self
            .free
            .last()
            .is_some_and(|&f| f as usize + 1 == self.nodes.len())
        {
            self.free.pop();
            self.nodes.pop();
        }
        self.nodes.shrink_to(self.nodes.len().max(64));
    }

    /// Calls `f` with each matching pattern and its values: each pattern once.
    ///
    /// This is the most general routing form; [`route_into`](Self::route_into) and
    /// [`route`](Self::route) are built on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::topic::{Pattern, TopicTrie};
    ///
    /// let mut trie = TopicTrie::new();
    /// trie.insert(&Pattern::new("a.#")?, 1);
    /// trie.insert(&Pattern::new("a.#")?, 2);
    /// let mut seen = Vec::new();
    /// trie.route_with("a.b", |pattern, values| seen.push((pattern.to_string(), values.to_vec())));
    /// assert_eq!(seen, [("a.#".to_string(), vec![1, 2])]);
    /// # Ok::<(), trackswitch::PatternError>(())
    /// ```
    pub fn route_with(&self, key: impl AsRef<[u8]>, mut f: impl FnMut(&D::Pattern, &[V])) {
        let key = key.as_ref();
        // A constant `true` for AMQP; MQTT topic names and NATS subjects are checked
        // once here, never per word.
        if !D::key_is_valid(key) {
            return;
        }
        if let Some(e) = self.exact.get(key) {
            f(&e.key, &e.values);
        }
        if self.wild_len == 0 {
            return;
        }
        LIVE.with(|live| match live.try_borrow_mut() {
            Ok(mut live) => self.walk(key, &mut live, &mut f),
            // Re-entered from `f` on this thread: use fresh buffers.
            Err(_) => self.walk(key, &mut Live::default(), &mut f),
        });
    }

    fn walk(&self, key: &[u8], live: &mut Live, f: &mut impl FnMut(&D::Pattern, &[V])) {
        let Live { cur, next, done } = live;
        cur.clear();
        done.clear();
        // Key words left to read; states whose patterns cannot take that many are pruned.
        let mut rest = if key.is_empty() {
            0
        } else {
            1 + key.iter().filter(|&&b| b == D::SEPARATOR).count() as u32
        };
        let mut words = split_on(D::SEPARATOR, key);
        // A constant `false` for AMQP and NATS.
        if D::DOLLAR_RULE && key.first() == Some(&b'$') {
            // [MQTT-4.7.2-1]: filters starting with a wildcard do not match topic names
            // starting with `$`; only the root's literal edge is taken for the first
            // level.
            let first = words.next().expect("a key starting with `$` has a word");
            rest -= 1;
            if let Some(c) = self.child(ROOT, Word::Literal(first)) {
                self.push_closed(cur, done, c, rest);
            }
        } else {
            self.push_closed(cur, done, ROOT, rest);
        }
        for word in words {
            if cur.is_empty() {
                break;
            }
            rest -= 1;
            next.clear();
            let mut hash = None;
            for &s in cur.iter() {
                let n = &self.nodes[s as usize];
                if !n.children.is_empty() {
                    let h = *hash.get_or_insert_with(|| self.word_hash(word));
                    if let Some(&(_, c)) = n.children.find(h, |(k, _)| **k == *word) {
                        self.push_closed(next, done, c, rest);
                    }
                }
                if n.star != NONE {
                    self.push_closed(next, done, n.star, rest);
                }
                if n.absorbs && n.admits(rest) {
                    // Its `#`-closure is in `cur` already and absorbs by itself.
                    next.push(s);
                }
            }
            if next.len() > 1 {
                next.sort_unstable();
                next.dedup();
            }
            std::mem::swap(cur, next);
        }
        for &s in cur.iter() {
            if let Some(t) = &self.nodes[s as usize].terminal {
                f(&t.pattern, &t.values);
            }
        }
        if done.len() > 1 {
            done.sort_unstable();
            done.dedup();
        }
        for &s in done.iter() {
            let t = self.nodes[s as usize]
                .terminal
                .as_ref()
                .expect("a sink is not empty, so it ends a pattern");
            f(&t.pattern, &t.values);
        }
    }

    /// Adds `node` and the chain of `#` children below it (each matches zero words) to
    /// the live set, skipping states that cannot take `rest` more words, and recording
    /// `#` sinks as matched.
    #[inline]
    fn push_closed(&self, set: &mut Vec<u32>, done: &mut Vec<u32>, mut node: u32, rest: u32) {
        loop {
            let n = &self.nodes[node as usize];
            if n.is_sink() {
                done.push(node);
                break;
            }
            if !n.admits(rest) {
                // Bounds cover everything below, the `#` chain included.
                break;
            }
            set.push(node);
            node = n.hash;
            if node == NONE {
                break;
            }
        }
    }

    /// Appends the values of every pattern matching `key` to `out` (not cleared first).
    ///
    /// Allocates nothing once `out` and this thread's scratch have grown to size.
    #[inline]
    pub fn route_into(&self, key: impl AsRef<[u8]>, out: &mut Vec<V>)
    where
        V: Clone,
    {
        self.route_with(key, |_, values| out.extend_from_slice(values));
    }

    /// The values of every pattern matching `key`, in a new vector.
    pub fn route(&self, key: impl AsRef<[u8]>) -> Vec<V>
    where
        V: Clone,
    {
        let mut out = Vec::new();
        self.route_into(key, &mut out);
        out
    }

    fn iter_terminals(&self) -> impl Iterator<Item = &Terminal<V, D::Pattern>> + '_ {
        // Free nodes have no terminal, so a scan of the arena sees live ones only.
        self.nodes.iter().filter_map(|n| n.terminal.as_deref())
    }

    /// Every (pattern, value) pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&D::Pattern, &V)> + '_ {
        let exact = self
            .exact
            .iter()
            .flat_map(|e| e.values.iter().map(move |v| (&e.key, v)));
        let wild = self
            .iter_terminals()
            .flat_map(|t| t.values.iter().map(move |v| (&t.pattern, v)));
        exact.chain(wild)
    }

    /// The values bound to exactly this pattern (not the patterns it matches).
    pub fn get(&self, pattern: &D::Pattern) -> &[V] {
        let bytes = pattern.as_ref();
        if D::is_exact(bytes) {
            return self.exact.get(bytes).map_or(&[][..], |e| &e.values);
        }
        let mut node = ROOT;
        for word in D::edges(bytes) {
            match self.child(node, word) {
                Some(c) => node = c,
                None => return &[],
            }
        }
        self.nodes[node as usize]
            .terminal
            .as_ref()
            .map_or(&[][..], |t| &t.values)
    }

    /// Number of nodes in use in the wildcard trie, the root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Checks the structure's invariants (for tests and fuzzing).
    ///
    /// # Panics
    ///
    /// If an invariant is broken: an empty node left in the trie, a node reachable
    /// twice or not at all, a wrong parent link or `#` flag, a pattern stored at a node
    /// whose path does not spell it, an exact pattern in the trie (or a wildcard one in
    /// the flat hash), a duplicate value, or a wrong count.
    pub fn check_invariants(&self)
    where
        V: PartialEq,
    {
        self.exact.check_invariants();
        for e in self.exact.iter() {
            assert!(
                D::is_exact(e.key.as_ref()),
                "wildcard pattern in the exact map"
            );
        }
        let mut seen = vec![false; self.nodes.len()];
        // (node, edges of the path to it)
        let mut stack: Vec<(u32, Vec<Edge>)> = vec![(ROOT, Vec::new())];
        let mut reachable = 0;
        let mut pairs = 0;
        while let Some((i, path)) = stack.pop() {
            assert!(!seen[i as usize], "node {i} reachable twice");
            seen[i as usize] = true;
            reachable += 1;
            let n = &self.nodes[i as usize];
            assert!(
                i == ROOT || !n.is_empty(),
                "empty node {i} left in the trie"
            );
            if let Some(t) = &n.terminal {
                for (j, v) in t.values.iter().enumerate() {
                    assert!(!t.values[j + 1..].contains(v), "duplicate value");
                }
                pairs += t.values.len();
                let bytes = t.pattern.as_ref();
                assert!(!D::is_exact(bytes), "exact pattern in the trie");
                let spelled: Vec<Edge> = D::edges(bytes).map(Edge::of).collect();
                assert_eq!(spelled, path, "pattern stored at the wrong node");
                assert!(!path.is_empty() || bytes.is_empty());
            }
            let mut visit = |c: u32, edge: Edge, absorbs: bool| {
                let child = &self.nodes[c as usize];
                assert_eq!(child.parent, i, "wrong parent link");
                assert_eq!(child.absorbs, absorbs, "wrong '#' flag");
                let mut p = path.clone();
                p.push(edge);
                stack.push((c, p));
            };
            for (w, c) in n.children.iter() {
                // A one-word pattern spelling this word is that literal (the empty word
                // spells no word at all, and is a literal).
                let as_pattern: Vec<Edge> = D::edges(w).map(Edge::of).collect();
                assert!(
                    w.is_empty() || as_pattern == [Edge::Literal(w.to_vec())],
                    "wildcard word as a literal"
                );
                let found = self.child(i, Word::Literal(w));
                assert_eq!(found, Some(*c), "child not findable by its word");
                visit(*c, Edge::Literal(w.to_vec()), false);
            }
            if n.star != NONE {
                visit(n.star, Edge::Star, false);
            }
            if n.hash != NONE {
                visit(n.hash, Edge::Hash, true);
            }
        }
        assert_eq!(pairs, self.wild_len, "pair count out of date");
        // Every node's length bounds admit every pattern below it.
        for t in self.iter_terminals() {
            let words: Vec<Word<'_>> = D::edges(t.pattern.as_ref()).collect();
            let mut node = ROOT;
            for d in 0..=words.len() {
                let lo = words[d..].iter().filter(|w| **w != Word::Hash).count() as u32;
                let hi =
                    if words[d..].contains(&Word::Hash) || (d > 0 && words[d - 1] == Word::Hash) {
                        UNBOUNDED
                    } else {
                        lo
                    };
                let n = &self.nodes[node as usize];
                assert!(
                    n.min_rest <= lo && hi <= n.max_rest,
                    "length bounds exclude a pattern"
                );
                if d < words.len() {
                    node = self
                        .child(node, words[d])
                        .expect("a terminal's path exists");
                }
            }
        }
        assert_eq!(
            reachable + self.free.len(),
            self.nodes.len(),
            "nodes neither reachable nor free"
        );
        for &f in &self.free {
            assert!(!seen[f as usize], "free node {f} is reachable");
            assert!(self.nodes[f as usize].is_empty(), "free node not reset");
        }
    }
}

/// An owned trie edge, for [`TopicTrie::check_invariants`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Edge {
    Literal(Vec<u8>),
    Star,
    Hash,
}

impl Edge {
    fn of(w: Word<'_>) -> Edge {
        match w {
            Word::Literal(l) => Edge::Literal(l.to_vec()),
            Word::Star => Edge::Star,
            Word::Hash => Edge::Hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::Pattern;

    fn p(s: &str) -> Pattern {
        Pattern::new(s).unwrap()
    }

    #[test]
    fn prunes_on_remove() {
        let mut t = TopicTrie::new();
        t.insert(&p("a.*.#.c"), 1);
        t.insert(&p("a.*.d"), 2);
        assert_eq!(t.node_count(), 6);
        t.check_invariants();
        assert!(t.remove(&p("a.*.#.c"), &1));
        t.check_invariants();
        assert_eq!(t.node_count(), 4);
        assert!(!t.remove(&p("a.*.#.c"), &1));
        assert!(t.remove(&p("a.*.d"), &2));
        t.check_invariants();
        assert_eq!(t.node_count(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn many_hashes_stay_polynomial() {
        let mut t = TopicTrie::new();
        let pat = vec!["#"; 15].join(".") + ".x";
        t.insert(&p(&pat), 1);
        let key = vec!["a"; 30].join(".") + ".x";
        assert_eq!(t.route(&key), [1]);
        let miss = vec!["a"; 31].join(".");
        assert!(t.route(&miss).is_empty());
    }

    #[test]
    fn reentrant_routing_works() {
        let mut t = TopicTrie::new();
        t.insert(&p("a.#"), 1);
        let mut inner = Vec::new();
        t.route_with("a.b", |_, _| inner = t.route("a"));
        assert_eq!(inner, [1]);
    }
}
