//! The durable definitions: vhosts, durable exchanges and queues, bindings between
//! durable ends, users and permissions, as a log of operations (`defs.log`) and the
//! in-memory state they add up to ([`Defs`]).
//!
//! Every operation is recorded explicitly, cascades included (an auto-delete
//! exchange that goes with its last binding is an [`Op::ExchangeDel`] of its own), so
//! replaying the log never needs the routing table's rules. At open the log is
//! rewritten as a snapshot of the state (a new file, synced, renamed over the old
//! one), and again whenever it holds four times more records than the state. This
//! file knows nothing of messages, queues' contents, channels or connections.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::codec::{self, Framed, Malformed, Put, Reader};
use crate::FieldTable;
use crate::broker::{Permissions, UserRecord};

/// The first bytes of `defs.log`.
const MAGIC: &[u8; 8] = b"TSWDEF01";

/// A durable exchange.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExchangeDef {
    pub(crate) kind: String,
    pub(crate) auto_delete: bool,
    pub(crate) internal: bool,
    pub(crate) arguments: FieldTable,
}

/// A durable queue, with its store id (its messages' key in the message log).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueDef {
    pub(crate) qid: u64,
    /// RabbitMQ keeps a durable auto-delete queue until its last consumer goes.
    pub(crate) auto_delete: bool,
    pub(crate) arguments: FieldTable,
}

/// A binding between durable ends; `args` encoded (for order and equality).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct BindingDef {
    pub(crate) source: String,
    pub(crate) to_queue: bool,
    pub(crate) dest: String,
    pub(crate) key: String,
    pub(crate) args: Vec<u8>,
}

impl BindingDef {
    pub(crate) fn new(
        source: &str,
        to_queue: bool,
        dest: &str,
        key: &str,
        args: &FieldTable,
    ) -> BindingDef {
        let mut a = Vec::new();
        a.table(args);
        BindingDef {
            source: source.into(),
            to_queue,
            dest: dest.into(),
            key: key.into(),
            args: a,
        }
    }

    /// The binding's arguments.
    pub(crate) fn arguments(&self) -> FieldTable {
        Reader::new(&self.args).table().unwrap_or_default()
    }
}

/// One vhost's durable objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VhostDefs {
    pub(crate) exchanges: BTreeMap<String, ExchangeDef>,
    pub(crate) queues: BTreeMap<String, QueueDef>,
    pub(crate) bindings: BTreeSet<BindingDef>,
}

/// Everything durable but messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Defs {
    pub(crate) vhosts: BTreeMap<String, VhostDefs>,
    pub(crate) users: BTreeMap<String, UserRecord>,
    /// (user, vhost) -> permissions.
    pub(crate) permissions: BTreeMap<(String, String), Permissions>,
    /// The next queue store id: ids are never reused, so a queue declared again under
    /// a deleted one's name never sees its messages.
    pub(crate) next_qid: u64,
}

/// A change to the durable definitions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Vhost(String),
    VhostDel(String),
    Exchange {
        vhost: String,
        name: String,
        def: ExchangeDef,
    },
    ExchangeDel {
        vhost: String,
        name: String,
    },
    Queue {
        vhost: String,
        name: String,
        def: QueueDef,
    },
    QueueDel {
        vhost: String,
        name: String,
    },
    Bind {
        vhost: String,
        binding: BindingDef,
    },
    Unbind {
        vhost: String,
        binding: BindingDef,
    },
    User(UserRecord),
    UserDel(String),
    Permissions {
        user: String,
        vhost: String,
        permissions: Permissions,
    },
    PermissionsDel {
        user: String,
        vhost: String,
    },
    NextQid(u64),
}

impl Defs {
    /// Applies an operation (what replay and recording both do).
    pub(crate) fn apply(&mut self, op: &Op) {
        match op {
            Op::Vhost(v) => {
                self.vhosts.entry(v.clone()).or_default();
            }
            Op::VhostDel(v) => {
                self.vhosts.remove(v);
                self.permissions.retain(|(_, pv), _| pv != v);
            }
            Op::Exchange { vhost, name, def } => {
                if let Some(v) = self.vhosts.get_mut(vhost) {
                    v.exchanges.insert(name.clone(), def.clone());
                }
            }
            Op::ExchangeDel { vhost, name } => {
                if let Some(v) = self.vhosts.get_mut(vhost) {
                    v.exchanges.remove(name);
                    v.bindings
                        .retain(|b| b.source != *name && (b.to_queue || b.dest != *name));
                }
            }
            Op::Queue { vhost, name, def } => {
                self.next_qid = self.next_qid.max(def.qid + 1);
                if let Some(v) = self.vhosts.get_mut(vhost) {
                    v.queues.insert(name.clone(), def.clone());
                }
            }
            Op::QueueDel { vhost, name } => {
                if let Some(v) = self.vhosts.get_mut(vhost) {
                    v.queues.remove(name);
                    v.bindings.retain(|b| !(b.to_queue && b.dest == *name));
                }
            }
            Op::Bind { vhost, binding } => {
                if let Some(v) = self.vhosts.get_mut(vhost) {
                    v.bindings.insert(binding.clone());
                }
            }
            Op::Unbind { vhost, binding } => {
                if let Some(v) = self.vhosts.get_mut(vhost) {
                    v.bindings.remove(binding);
                }
            }
            Op::User(u) => {
                self.users.insert(u.name.clone(), u.clone());
            }
            Op::UserDel(u) => {
                self.users.remove(u);
                self.permissions.retain(|(pu, _), _| pu != u);
            }
            Op::Permissions {
                user,
                vhost,
                permissions,
            } => {
                self.permissions
                    .insert((user.clone(), vhost.clone()), permissions.clone());
            }
            Op::PermissionsDel { user, vhost } => {
                self.permissions.remove(&(user.clone(), vhost.clone()));
            }
            Op::NextQid(n) => self.next_qid = self.next_qid.max(*n),
        }
    }

    /// The operations that rebuild this state from nothing (the snapshot).
    pub(crate) fn ops(&self) -> Vec<Op> {
        let mut ops = vec![Op::NextQid(self.next_qid)];
        for (vname, v) in &self.vhosts {
            ops.push(Op::Vhost(vname.clone()));
            for (name, def) in &v.exchanges {
                ops.push(Op::Exchange {
                    vhost: vname.clone(),
                    name: name.clone(),
                    def: def.clone(),
                });
            }
            for (name, def) in &v.queues {
                ops.push(Op::Queue {
                    vhost: vname.clone(),
                    name: name.clone(),
                    def: def.clone(),
                });
            }
            for b in &v.bindings {
                ops.push(Op::Bind {
                    vhost: vname.clone(),
                    binding: b.clone(),
                });
            }
        }
        for u in self.users.values() {
            ops.push(Op::User(u.clone()));
        }
        for ((user, vhost), p) in &self.permissions {
            ops.push(Op::Permissions {
                user: user.clone(),
                vhost: vhost.clone(),
                permissions: p.clone(),
            });
        }
        ops
    }

    /// How many records the snapshot takes.
    fn size(&self) -> usize {
        1 + self.users.len()
            + self.permissions.len()
            + self
                .vhosts
                .values()
                .map(|v| 1 + v.exchanges.len() + v.queues.len() + v.bindings.len())
                .sum::<usize>()
    }
}

fn encode(out: &mut Vec<u8>, op: &Op) {
    codec::frame(out, |b| match op {
        Op::Vhost(v) => {
            b.u8(1);
            b.str(v);
        }
        Op::VhostDel(v) => {
            b.u8(2);
            b.str(v);
        }
        Op::Exchange { vhost, name, def } => {
            b.u8(3);
            b.str(vhost);
            b.str(name);
            b.str(&def.kind);
            b.u8(u8::from(def.auto_delete));
            b.u8(u8::from(def.internal));
            b.table(&def.arguments);
        }
        Op::ExchangeDel { vhost, name } => {
            b.u8(4);
            b.str(vhost);
            b.str(name);
        }
        Op::Queue { vhost, name, def } => {
            b.u8(5);
            b.str(vhost);
            b.str(name);
            b.u64(def.qid);
            b.u8(u8::from(def.auto_delete));
            b.table(&def.arguments);
        }
        Op::QueueDel { vhost, name } => {
            b.u8(6);
            b.str(vhost);
            b.str(name);
        }
        Op::Bind { vhost, binding } | Op::Unbind { vhost, binding } => {
            b.u8(if matches!(op, Op::Bind { .. }) { 7 } else { 8 });
            b.str(vhost);
            b.str(&binding.source);
            b.u8(u8::from(binding.to_queue));
            b.str(&binding.dest);
            b.str(&binding.key);
            b.bytes(&binding.args);
        }
        Op::User(u) => {
            b.u8(9);
            b.str(&u.name);
            b.str(&u.password_hash);
            b.str(&u.hashing_algorithm);
            b.u32(u.tags.len() as u32);
            for t in &u.tags {
                b.str(t);
            }
        }
        Op::UserDel(u) => {
            b.u8(10);
            b.str(u);
        }
        Op::Permissions {
            user,
            vhost,
            permissions,
        } => {
            b.u8(11);
            b.str(user);
            b.str(vhost);
            b.str(&permissions.configure);
            b.str(&permissions.write);
            b.str(&permissions.read);
        }
        Op::PermissionsDel { user, vhost } => {
            b.u8(12);
            b.str(user);
            b.str(vhost);
        }
        Op::NextQid(n) => {
            b.u8(13);
            b.u64(*n);
        }
    });
}

fn decode(payload: &[u8]) -> Result<Op, Malformed> {
    let mut r = Reader::new(payload);
    let op = match r.u8()? {
        1 => Op::Vhost(r.string()?),
        2 => Op::VhostDel(r.string()?),
        3 => Op::Exchange {
            vhost: r.string()?,
            name: r.string()?,
            def: ExchangeDef {
                kind: r.string()?,
                auto_delete: r.bool()?,
                internal: r.bool()?,
                arguments: r.table()?,
            },
        },
        4 => Op::ExchangeDel {
            vhost: r.string()?,
            name: r.string()?,
        },
        5 => Op::Queue {
            vhost: r.string()?,
            name: r.string()?,
            def: QueueDef {
                qid: r.u64()?,
                auto_delete: r.bool()?,
                arguments: r.table()?,
            },
        },
        6 => Op::QueueDel {
            vhost: r.string()?,
            name: r.string()?,
        },
        k @ (7 | 8) => {
            let vhost = r.string()?;
            let binding = BindingDef {
                source: r.string()?,
                to_queue: r.bool()?,
                dest: r.string()?,
                key: r.string()?,
                args: r.bytes()?.to_vec(),
            };
            // The arguments must decode too.
            Reader::new(&binding.args).table()?;
            if k == 7 {
                Op::Bind { vhost, binding }
            } else {
                Op::Unbind { vhost, binding }
            }
        }
        9 => {
            let name = r.string()?;
            let password_hash = r.string()?;
            let hashing_algorithm = r.string()?;
            let n = r.u32()?;
            let mut tags = Vec::new();
            for _ in 0..n {
                tags.push(r.string()?);
            }
            let mut u = UserRecord::new(name, password_hash);
            u.hashing_algorithm = hashing_algorithm;
            u.tags = tags;
            Op::User(u)
        }
        10 => Op::UserDel(r.string()?),
        11 => Op::Permissions {
            user: r.string()?,
            vhost: r.string()?,
            permissions: Permissions {
                configure: r.string()?,
                write: r.string()?,
                read: r.string()?,
            },
        },
        12 => Op::PermissionsDel {
            user: r.string()?,
            vhost: r.string()?,
        },
        13 => Op::NextQid(r.u64()?),
        _ => return Err(Malformed),
    };
    if !r.is_empty() {
        return Err(Malformed);
    }
    Ok(op)
}

/// What reading `defs.log` found wrong (the rest was applied).
#[derive(Debug, Default)]
pub(crate) struct DefsDamage {
    /// Records skipped: their checksum or contents were wrong.
    pub(crate) skipped: usize,
    /// Bytes dropped from a torn or unreadable end.
    pub(crate) dropped_bytes: usize,
    /// The file does not start with its header (empty, or not a definitions log):
    /// nothing in it was read.
    pub(crate) bad_header: bool,
}

/// Replays a definitions log's bytes into `defs`.
pub(crate) fn replay(bytes: &[u8], defs: &mut Defs) -> DefsDamage {
    let mut damage = DefsDamage::default();
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        damage.dropped_bytes = bytes.len();
        damage.bad_header = true;
        return damage;
    };
    loop {
        match codec::read_frame(rest) {
            Framed::End => break,
            Framed::Record(payload, used) => {
                match decode(payload) {
                    Ok(op) => defs.apply(&op),
                    Err(Malformed) => damage.skipped += 1,
                }
                rest = &rest[used..];
            }
            Framed::Corrupt { skip: Some(n) } => {
                damage.skipped += 1;
                rest = &rest[n..];
            }
            Framed::Torn | Framed::Corrupt { skip: None } => {
                damage.dropped_bytes = rest.len();
                break;
            }
        }
    }
    damage
}

/// The open definitions log: appends operations, rewrites itself as a snapshot.
#[derive(Debug)]
pub(crate) struct DefsLog {
    path: PathBuf,
    file: File,
    /// Records in the file.
    records: usize,
    pub(crate) defs: Defs,
    /// Written since the last sync.
    pub(crate) dirty: bool,
}

impl DefsLog {
    /// Writes `defs` as a fresh snapshot at `dir/defs.log` and opens it for appending.
    pub(crate) fn create(dir: &Path, defs: Defs) -> io::Result<DefsLog> {
        let path = dir.join("defs.log");
        let mut log = DefsLog {
            file: write_snapshot(&path, &defs)?,
            records: defs.size(),
            path,
            defs,
            dirty: false,
        };
        log.file.flush()?;
        Ok(log)
    }

    /// Applies and appends an operation (written, not yet synced).
    pub(crate) fn record(&mut self, op: Op) -> io::Result<()> {
        self.defs.apply(&op);
        let mut buf = Vec::new();
        encode(&mut buf, &op);
        self.file.write_all(&buf)?;
        self.records += 1;
        self.dirty = true;
        if self.records > 4 * self.defs.size() + 1024 {
            self.file = write_snapshot(&self.path, &self.defs)?;
            self.records = self.defs.size();
            self.dirty = false;
        }
        Ok(())
    }

    /// Makes what was written durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Writes `defs` to `path` atomically (temporary file, sync, rename, directory
/// sync); returns the file open for appending.
fn write_snapshot(path: &Path, defs: &Defs) -> io::Result<File> {
    let tmp = path.with_extension("log.new");
    let mut buf = MAGIC.to_vec();
    for op in defs.ops() {
        encode(&mut buf, &op);
    }
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Op> {
        let mut args = FieldTable::new();
        args.insert("x-max-priority", 5);
        vec![
            Op::Vhost("/".into()),
            Op::Exchange {
                vhost: "/".into(),
                name: "x".into(),
                def: ExchangeDef {
                    kind: "topic".into(),
                    auto_delete: false,
                    internal: false,
                    arguments: FieldTable::new(),
                },
            },
            Op::Queue {
                vhost: "/".into(),
                name: "q".into(),
                def: QueueDef {
                    qid: 3,
                    auto_delete: false,
                    arguments: args.clone(),
                },
            },
            Op::Bind {
                vhost: "/".into(),
                binding: BindingDef::new("x", true, "q", "a.*", &args),
            },
            Op::User(UserRecord::new("u", "h")),
            Op::Permissions {
                user: "u".into(),
                vhost: "/".into(),
                permissions: Permissions::all(),
            },
        ]
    }

    #[test]
    fn ops_round_trip_and_replay() {
        let mut buf = MAGIC.to_vec();
        let mut want = Defs::default();
        for op in sample() {
            encode(&mut buf, &op);
            let mut one = Vec::new();
            encode(&mut one, &op);
            let Framed::Record(p, _) = codec::read_frame(&one) else {
                panic!()
            };
            assert_eq!(decode(p).unwrap(), op);
            want.apply(&op);
        }
        let mut got = Defs::default();
        let d = replay(&buf, &mut got);
        assert_eq!((d.skipped, d.dropped_bytes), (0, 0));
        assert_eq!(got, want);
        assert_eq!(got.next_qid, 4);
        // The snapshot rebuilds the same state.
        let mut again = Defs::default();
        for op in want.ops() {
            again.apply(&op);
        }
        assert_eq!(again, want);
        // Deleting the queue takes its binding.
        got.apply(&Op::QueueDel {
            vhost: "/".into(),
            name: "q".into(),
        });
        assert!(got.vhosts["/"].bindings.is_empty());
        // A torn tail loses only itself.
        let mut torn = Defs::default();
        let d = replay(&buf[..buf.len() - 3], &mut torn);
        assert!(d.dropped_bytes > 0);
        assert_eq!(torn.users.len(), 1);
        assert!(torn.permissions.is_empty());
    }
}
