//! The layers of the crate, checked: data flows one way, topic -> table -> broker (and
//! its store) -> amqp -> management -> bin, and inside the broker vhost -> queue -> consumer buffer,
//! with the store below the queue. A lower layer never names a higher one.
//!
//! The check reads the sources: in each file of a layer (its `#[cfg(test)]` module and
//! comments left out), no path names a higher layer's module (`::vhost`, `channel::`)
//! and no code names a higher layer's types (`VhostInner`, `ChannelShared`).

use std::fs;
use std::path::{Path, PathBuf};

/// A layer: the files it holds, and what none of them may name.
struct Layer {
    name: &'static str,
    /// Paths under `src/`: a file, or a directory (all of its `.rs` files).
    files: &'static [&'static str],
    /// Module names that may not appear as a path segment.
    modules: &'static [&'static str],
    /// Type names that may not appear at all.
    types: &'static [&'static str],
}

/// What the queue and the consumer buffer sit below: the channel and its handles, the
/// connection, the vhost, the broker.
const ABOVE_THE_QUEUE: &[&str] = &[
    "ChannelShared",
    "Channel",
    "ConnShared",
    "Connection",
    "VhostInner",
    "Consumer",
    "Delivery",
    "Broker",
];

const LAYERS: &[Layer] = &[
    Layer {
        name: "topic (the trie)",
        files: &["topic"],
        modules: &["table", "broker", "amqp", "management"],
        types: &["RoutingTable", "Broker"],
    },
    Layer {
        name: "table (routing table and its indexes)",
        files: &[
            "table",
            "bitset.rs",
            "direct.rs",
            "exact.rs",
            "field.rs",
            "headers.rs",
            "small.rs",
            "text.rs",
            "error.rs",
            "reference.rs",
        ],
        modules: &["broker", "amqp", "management"],
        types: &["Broker"],
    },
    Layer {
        name: "broker",
        files: &["broker"],
        modules: &["amqp", "management"],
        types: &["Server", "Management"],
    },
    Layer {
        name: "broker store (below the queue)",
        files: &["broker/store"],
        modules: &[
            "queue",
            "consumer",
            "channel",
            "connection",
            "vhost",
            "durable",
        ],
        types: &[
            "QueueCell",
            "ConsumerShared",
            "ChannelShared",
            "Channel",
            "ConnShared",
            "Connection",
            "VhostInner",
            "Broker",
        ],
    },
    Layer {
        name: "broker queue (below the vhost and the channel)",
        files: &["broker/queue.rs", "broker/queue"],
        modules: &["channel", "connection", "vhost"],
        types: ABOVE_THE_QUEUE,
    },
    Layer {
        name: "broker consumer buffer (below the channel)",
        files: &["broker/consumer.rs"],
        modules: &["channel", "connection", "vhost"],
        types: ABOVE_THE_QUEUE,
    },
    Layer {
        name: "amqp (the wire server)",
        files: &["amqp"],
        modules: &["management"],
        types: &["Management"],
    },
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            rust_files(&p, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The code of a file: its test module and comments dropped.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every identifier with whether a `::` touches it (a path segment).
fn idents(code: &str) -> Vec<(&str, bool, usize)> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if is_ident(b[i] as char) {
            let start = i;
            while i < b.len() && is_ident(b[i] as char) {
                i += 1;
            }
            let before = code[..start].trim_end().ends_with("::");
            let after = code[i..].trim_start().starts_with("::");
            let line = code[..start].matches('\n').count() + 1;
            out.push((&code[start..i], before || after, line));
        } else {
            i += 1;
        }
    }
    out
}

fn violations(layer: &Layer, src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for f in layer.files {
        let p = src.join(f);
        assert!(
            p.exists(),
            "layer {}: {} is missing",
            layer.name,
            p.display()
        );
        rust_files(&p, &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let code = code(&text);
        for (id, in_path, line) in idents(&code) {
            if (in_path && layer.modules.contains(&id)) || layer.types.contains(&id) {
                let rel = file.strip_prefix(src).unwrap().display().to_string();
                found.push(format!("{}: src/{rel}:{line} names `{id}`", layer.name));
            }
        }
    }
    found
}

#[test]
fn no_layer_names_a_higher_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found: Vec<String> = LAYERS.iter().flat_map(|l| violations(l, &src)).collect();
    assert!(found.is_empty(), "upward references:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_an_upward_reference() {
    // What the check would say of a queue file that reached into the vhost, or a
    // store file that named a queue through a grouped import.
    let hits = |layer: &Layer, text: &str| -> Vec<String> {
        idents(&code(text))
            .into_iter()
            .filter(|(id, p, _)| (*p && layer.modules.contains(id)) || layer.types.contains(id))
            .map(|(id, _, _)| id.to_string())
            .collect()
    };
    assert_eq!(
        hits(
            &LAYERS[4],
            "use super::vhost::VhostInner;\n// a comment naming Channel\n"
        ),
        ["vhost", "VhostInner"]
    );
    assert_eq!(
        hits(
            &LAYERS[3],
            "use super::super::{queue::Entry, message::Stored};\n"
        ),
        ["queue"]
    );
}
