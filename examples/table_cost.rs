//! The routing table's own cost: W7 bind + unbind at 250k bindings, for the trie alone
//! and for the whole table, and heap bytes per binding at 1M W1 bindings, trie and
//! table. The same measurements as T5 and T6 of `bench_report`, alone, for profiling:
//!
//! ```sh
//! cargo run --release --example table_cost
//! perf record -g target/release/examples/table_cost --churn-only  # the table's churn, 9 s
//! ```

#[allow(unreachable_pub, dead_code)] // shared with the benches; each uses a subset
#[path = "../benches/common/mod.rs"]
mod common;
#[path = "../benches/common/counting.rs"]
mod counting;

use std::time::Duration;

use common::workloads::{self, Rng};
use common::{OursTable, OursTrie, churn};
use counting::measured;

fn main() {
    let churn_only = std::env::args().any(|a| a == "--churn-only");
    let mut rng = Rng::new(11);
    let w = workloads::w7(250_000, 7);
    if churn_only {
        let ns = churn::table_ns_per_op(&w, &mut rng, Duration::from_secs(3), 3);
        println!("W7 250k table: {ns:.0} ns per op, {:.2}M ops/s", 1e3 / ns);
        return;
    }
    let (budget, rounds) = (Duration::from_millis(200), 5);
    let trie = churn::trie_ns_per_op(&w, &mut rng, budget, rounds);
    let table = churn::table_ns_per_op(&w, &mut rng, budget, rounds);
    println!(
        "W7 250k bind or unbind: trie {trie:.0} ns ({:.2}M ops/s), table {table:.0} ns ({:.2}M ops/s)",
        1e3 / trie,
        1e3 / table
    );
    let w = workloads::w1(1_000_000, 1);
    let (built, trie_bytes) = measured(|| OursTrie::build(&w));
    drop(built);
    let (built, table_bytes) = measured(|| OursTable::build(&w));
    drop(built);
    println!(
        "W1 1M heap bytes per binding: trie {:.1}, table {:.1}",
        trie_bytes as f64 / w.size as f64,
        table_bytes as f64 / w.size as f64
    );
}
