//! Property: a broker opens any damage done to its data directory without a panic or
//! an allocation the files' sizes do not bound, and recovers a valid prefix.
//!
//! Each run writes a real store (a durable queue and 1 to 40 persistent messages with
//! bodies and headers from the input; some acked, one batch of them dead-lettered to
//! a second durable queue), closes it, then damages it as the input says: truncates
//! a file (a segment, an ack file or `defs.log`) at any length, flips bits anywhere,
//! appends or writes garbage files. Then it opens the directory and checks:
//!
//! - opening succeeds (damage is reported, never fatal) and never panics;
//! - every message recovered was published, bodies and headers intact, in publish
//!   order, each once (checksums catch flips; nothing is invented);
//! - with only the message segment truncated, exactly the messages whose records lie
//!   wholly before the cut come back (a valid prefix), minus the acked ones;
//! - a torn record is always reported (a cut between two records looks like a
//!   shorter log, and a flip in a settled record may change nothing, so an empty
//!   report is not required of those).
//!
//! The directory is under /dev/shm when there is one (syncs cost nothing there).
#![no_main]

use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::FieldTable;
use trackswitch::broker::{Broker, ConnectOptions, Message, PublishOptions, QueueDeclare};

#[derive(Debug, Arbitrary)]
enum Damage {
    /// Truncate file `file` (index into the sorted file list) to `at` (mod its length+1).
    Truncate { file: u8, at: u32 },
    /// Flip `mask` at byte `at` (mod length) of file `file`.
    Flip { file: u8, at: u32, mask: u8 },
    /// Append bytes to file `file`.
    Append { file: u8, bytes: Vec<u8> },
    /// Write a file of garbage under messages/ named like a segment or an ack file.
    Garbage { seg: u8, acks: bool, bytes: Vec<u8> },
}

#[derive(Debug, Arbitrary)]
struct Input {
    bodies: Vec<Vec<u8>>,
    /// Ack every message whose index has this bit pattern (index % 4 == ack_mod).
    ack_mod: u8,
    dead_letter: bool,
    damage: Vec<Damage>,
}

fn dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("trackswitch-fuzz-store-{}", std::process::id()))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![dir.join("defs.log")];
    if let Ok(rd) = std::fs::read_dir(dir.join("messages")) {
        let mut m: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        m.sort();
        v.extend(m);
    }
    v.retain(|p| p.exists());
    v
}

fn message(i: usize, body: &[u8]) -> Message {
    let mut h = FieldTable::new();
    h.insert("i", i as i64);
    let mut m = Message::new(body.to_vec()).with_headers(h);
    m.properties.delivery_mode = Some(2);
    m
}

/// Offsets where each record of a segment ends (the segment format: an 8-byte header,
/// then `len: u32 LE, crc: u32 LE, payload`).
fn record_ends(seg: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 8;
    while at + 8 <= seg.len() {
        let len = u32::from_le_bytes(seg[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
        if at > seg.len() {
            break;
        }
        ends.push(at);
    }
    ends
}

fuzz_target!(|data: &[u8]| -> Corpus {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return Corpus::Reject;
    };
    if input.bodies.is_empty() || input.bodies.len() > 40 || input.damage.len() > 8 {
        return Corpus::Reject;
    }
    if input.bodies.iter().any(|b| b.len() > 4096) {
        return Corpus::Reject;
    }
    let dir = dir();
    let _ = std::fs::remove_dir_all(&dir);
    let durable = QueueDeclare {
        durable: true,
        ..QueueDeclare::default()
    };
    let n = input.bodies.len();
    let acked = |i: usize| input.ack_mod < 4 && i % 4 == usize::from(input.ack_mod);
    {
        let broker = Broker::builder().data_dir(&dir).open().expect("a new directory opens");
        let conn = broker.connect_default();
        let ch = conn.open_channel().unwrap();
        let mut args = FieldTable::new();
        args.insert("x-dead-letter-exchange", "");
        args.insert("x-dead-letter-routing-key", "dead");
        ch.queue_declare(
            "q",
            &QueueDeclare {
                arguments: args,
                ..durable.clone()
            },
        )
        .unwrap();
        ch.queue_declare("dead", &durable).unwrap();
        for (i, b) in input.bodies.iter().enumerate() {
            ch.publish("", "q", message(i, b), PublishOptions::default())
                .unwrap();
        }
        // Take every message in order; ack the chosen ones, requeue the rest (back to
        // their places), or dead-letter them all.
        let mut tags = Vec::new();
        for i in 0..n {
            let g = ch.get("q", false).unwrap().expect("published");
            if acked(i) {
                g.delivery.ack().unwrap();
            } else {
                tags.push(g.delivery);
            }
        }
        for d in tags {
            if input.dead_letter {
                d.reject(false).unwrap();
            } else {
                d.nack(true).unwrap();
            }
        }
    }
    let live: Vec<usize> = (0..n).filter(|&i| !acked(i)).collect();
    // The only segment, before damage: where each record ends (publishes, then the
    // dead letters' copies, in order).
    let segs: Vec<PathBuf> = files(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(segs.len(), 1, "a small store has one segment");
    let seg_bytes = std::fs::read(&segs[0]).unwrap();
    let ends = record_ends(&seg_bytes);
    let mut only_seg_truncated = None;
    let mut other_damage = false;
    for d in &input.damage {
        let list = files(&dir);
        match d {
            Damage::Truncate { file, at } => {
                let p = &list[usize::from(*file) % list.len()];
                let len = std::fs::metadata(p).unwrap().len();
                let to = u64::from(*at) % (len + 1);
                std::fs::OpenOptions::new().write(true).open(p).unwrap().set_len(to).unwrap();
                if *p == segs[0] && to < len {
                    let cut = only_seg_truncated.map_or(to, |c: u64| c.min(to));
                    only_seg_truncated = Some(cut);
                } else if to < len {
                    other_damage = true;
                }
            }
            Damage::Flip { file, at, mask } => {
                let p = &list[usize::from(*file) % list.len()];
                let mut b = std::fs::read(p).unwrap();
                if !b.is_empty() && *mask != 0 {
                    let i = *at as usize % b.len();
                    b[i] ^= mask;
                    std::fs::write(p, &b).unwrap();
                    other_damage = true;
                }
            }
            Damage::Append { file, bytes } => {
                let p = &list[usize::from(*file) % list.len()];
                let mut b = std::fs::read(p).unwrap();
                b.extend_from_slice(bytes);
                std::fs::write(p, &b).unwrap();
                if !bytes.is_empty() {
                    other_damage = true;
                }
            }
            Damage::Garbage { seg, acks, bytes } => {
                let name = format!("{:010}.{}", seg, if *acks { "acks" } else { "seg" });
                std::fs::write(dir.join("messages").join(name), bytes).unwrap();
                other_damage = true;
            }
        }
    }
    let broker = Broker::builder()
        .data_dir(&dir)
        .open()
        .expect("a damaged directory still opens");
    let report = broker.recovery().expect("a data directory").clone();
    let mut got: Vec<(String, usize, Vec<u8>)> = Vec::new();
    // Damaged definitions may have lost the vhost (its record skipped).
    let conn = broker.connect(ConnectOptions::default());
    let ch = conn.as_ref().ok().and_then(|c| c.open_channel().ok());
    for q in ["q", "dead"] {
        let Some(ch) = &ch else { break };
        let Ok(_) = ch.queue_declare(
            q,
            &QueueDeclare {
                passive: true,
                ..QueueDeclare::default()
            },
        ) else {
            continue;
        };
        while let Some(g) = ch.get(q, true).unwrap() {
            let m = g.delivery.message();
            let i = m
                .properties
                .headers
                .as_ref()
                .and_then(|h| h.get("i"))
                .and_then(trackswitch::FieldValue::as_int)
                .expect("the header is intact") as usize;
            got.push((q.to_string(), i, m.body.to_vec()));
        }
    }
    // Nothing invented, intact, each once, in order per queue.
    let mut seen = std::collections::BTreeSet::new();
    for (q, i, body) in &got {
        assert!(*i < n, "message {i} was never published");
        assert_eq!(body, &input.bodies[*i], "message {i} intact");
        // A damaged ack file may bring an acked message back (at least once), not
        // otherwise.
        assert!(other_damage || live.contains(i), "message {i} was acked");
        assert!(seen.insert((q.clone(), *i)), "message {i} twice in {q}");
    }
    for q in ["q", "dead"] {
        let order: Vec<usize> = got.iter().filter(|g| g.0 == q).map(|g| g.1).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{q}: order {order:?}");
    }
    if !other_damage {
        let kept = match only_seg_truncated {
            // Records wholly before the cut; the first `n` are the publishes to q,
            // the rest the dead letters' copies (of the live ones, in order).
            Some(cut) => ends.iter().filter(|&&e| e as u64 <= cut).count(),
            None => ends.len(),
        };
        let want: Vec<usize> = if input.dead_letter {
            // Publishes to q were all settled (acked or dead-lettered): what is
            // there is the prefix of the dead letters' records that survived.
            live.iter().copied().take(kept.saturating_sub(n)).collect()
        } else {
            live.iter().copied().filter(|&i| i < kept).collect()
        };
        let have: Vec<usize> = got.iter().map(|g| g.1).collect();
        assert_eq!(have, want, "a valid prefix ({kept} of {} records)", ends.len());
        // A cut between two records looks like a shorter log (no format can tell);
        // one through a record is torn and reported.
        let torn = only_seg_truncated
            .is_some_and(|cut| cut != 8 && !ends.iter().any(|&e| e as u64 == cut));
        if torn {
            assert!(!report.damage.is_empty(), "a torn record is reported");
        }
    }
    drop((ch, conn, broker));
    let _ = std::fs::remove_dir_all(&dir);
    Corpus::Keep
});
