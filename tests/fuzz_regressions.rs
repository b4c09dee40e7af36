//! Fuzz findings, one named test each, with a line on what broke (see fuzz/README.md).
//! Reproductions come from the fuzz inputs' `Debug` output, minimised.

use trackswitch::{Destination, FieldTable, RoutingTable};

/// table_ops: binding or unbinding with a missing source and the default exchange as
/// destination answered 404; RabbitMQ refuses the default exchange on either side
/// first (R01, `check_not_default_exchange` before any lookup), so 403.
#[test]
fn bind_refuses_default_exchange_before_lookup() {
    let mut table = RoutingTable::new();
    let none = FieldTable::new();
    let err = table
        .bind("missing", Destination::Exchange(""), "", &none)
        .unwrap_err();
    assert_eq!(err.reply_code(), 403, "bind: {err}");
    let err = table
        .unbind("missing", Destination::Exchange(""), "", &none)
        .unwrap_err();
    assert_eq!(err.reply_code(), 403, "unbind: {err}");
}

/// trie_ops (profiling the Churn op): once more than 1024 trie nodes were free and the
/// arena's last node was still in use, every `remove` called `compact_tail`, which sorted
/// the whole free list and could not shrink the arena: removal cost O(free log free), so
/// churn was quadratic (40 000 removals took 37 s in release). Compaction is now tried
/// only when the free list has doubled. Speed is measured by the churn benchmark (W7),
/// not here; this checks the structure through the same sequence, and that freed nodes
/// are reused rather than leaked.
#[test]
fn trie_remove_with_live_arena_tail_keeps_nodes_bounded() {
    use trackswitch::topic::{Pattern, TopicTrie};

    let n = 5_000;
    let patterns: Vec<Pattern> = (0..n)
        .map(|i| Pattern::new(format!("{i}.*")).unwrap())
        .collect();
    let mut trie = TopicTrie::new();
    for p in &patterns {
        trie.insert(p, 0u8);
    }
    // Allocated last, so the arena's tail stays live while the rest is removed.
    trie.insert(&Pattern::new("tail.*").unwrap(), 1);
    for round in 0..3 {
        for p in &patterns {
            assert!(trie.remove(p, &0), "round {round}");
        }
        trie.check_invariants();
        assert_eq!(trie.len(), 1);
        assert_eq!(trie.node_count(), 3, "root, tail, tail.*");
        for p in &patterns {
            assert!(trie.insert(p, 0));
        }
    }
    assert_eq!(trie.route("7.x"), [0]);
    assert_eq!(trie.route("tail.x"), [1]);
}
