//! Property: for every key, `TopicTrie` (pattern i -> value i), `reference::NaiveTable`,
//! `reference::matches` and `reference::RegexMatcher` give the same set of pattern
//! indices.
#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::reference::{self, NaiveTable, RegexMatcher};
use trackswitch::topic::{Pattern, TopicTrie};
use trackswitch_fuzz::input::Topic;

const MAX_PATTERNS: usize = 64;

thread_local! {
    /// Compiled regexes by pattern: compiling dominates an execution otherwise, and the
    /// same small patterns come back all the time. Bounded: cleared when full.
    /// Shared with `Rc`, not cloned: a cloned `Regex` starts with a cold search cache.
    static REGEXES: RefCell<HashMap<Vec<u8>, Rc<RegexMatcher>>> = RefCell::new(HashMap::new());
}

fn regex(pattern: &[u8]) -> Rc<RegexMatcher> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(m) = cache.get(pattern) {
            return Rc::clone(m);
        }
        if cache.len() >= 4096 {
            cache.clear();
        }
        let m = Rc::new(RegexMatcher::new(pattern).expect("small patterns compile"));
        cache.insert(pattern.to_vec(), Rc::clone(&m));
        m
    })
}
const MAX_KEYS: usize = 64;

/// One count byte, that many patterns, then keys until the input runs out.
struct Input {
    patterns: Vec<Topic>,
    keys: Vec<Topic>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u8::arbitrary(u)? as usize;
        let mut patterns = Vec::new();
        for _ in 0..n {
            patterns.push(Topic::arbitrary(u)?);
        }
        let mut keys = Vec::new();
        while !u.is_empty() && keys.len() <= MAX_KEYS {
            keys.push(Topic::arbitrary(u)?);
        }
        Ok(Input { patterns, keys })
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[Topic]| {
            v.iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "let patterns = [{}];", list(&self.patterns))?;
        write!(f, "let keys = [{}];", list(&self.keys))
    }
}

fuzz_target!(|input: Input| -> Corpus {
    if input.patterns.len() > MAX_PATTERNS || input.keys.len() > MAX_KEYS {
        return Corpus::Reject;
    }
    let patterns: Vec<Pattern> = input
        .patterns
        .iter()
        .map(|p| Pattern::new(&p.0).expect("short patterns are valid"))
        .collect();
    let mut trie = TopicTrie::new();
    let mut naive = NaiveTable::new();
    for (i, p) in patterns.iter().enumerate() {
        assert!(trie.insert(p, i), "value {i} is new");
        assert!(naive.insert(p, i));
    }
    trie.check_invariants();
    let regexes: Vec<Rc<RegexMatcher>> = patterns.iter().map(|p| regex(p.as_bytes())).collect();
    let mut out = Vec::new();
    for key in &input.keys {
        let key = key.0.as_slice();
        out.clear();
        trie.route_into(key, &mut out);
        out.sort_unstable();
        let mut by_table = naive.route(key);
        by_table.sort_unstable();
        let by_rules: Vec<usize> = (0..patterns.len())
            .filter(|&i| reference::matches(patterns[i].as_bytes(), key))
            .collect();
        let by_regex: Vec<usize> = (0..patterns.len())
            .filter(|&i| regexes[i].matches(key))
            .collect();
        let by_pattern: Vec<usize> = (0..patterns.len())
            .filter(|&i| patterns[i].matches(key))
            .collect();
        let show = |v: &[usize]| {
            v.iter()
                .map(|&i| format!("{i}:{}", patterns[i]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let key_lit = trackswitch_fuzz::lit::bytes(key);
        assert_eq!(
            by_rules,
            by_regex,
            "reference::matches vs RegexMatcher on key {key_lit}: [{}] vs [{}]",
            show(&by_rules),
            show(&by_regex)
        );
        assert_eq!(
            by_rules, by_table,
            "reference::matches vs NaiveTable on key {key_lit}"
        );
        assert_eq!(
            by_rules,
            out,
            "reference::matches vs TopicTrie on key {key_lit}: [{}] vs [{}]",
            show(&by_rules),
            show(&out)
        );
        assert_eq!(
            by_rules,
            by_pattern,
            "reference::matches vs Pattern::matches on key {key_lit}: [{}] vs [{}]",
            show(&by_rules),
            show(&by_pattern)
        );
    }
    Corpus::Keep
});
