//! The message log's files: segments of publish records (`NNNNNNNNNN.seg`) and, beside
//! each, the settlements of its messages (`NNNNNNNNNN.acks`: acked, delivered, moved).
//!
//! A segment is deleted (then its ack file) once every message in it is settled, so
//! an ack never outlives the message it settles and a deleted file never brings
//! anything back. Reading a damaged file keeps every record before and after the
//! damage that can still be found: a record whose length is plausible but whose
//! checksum fails is skipped; a torn or implausible length ends that file. This file
//! knows the layout; [`super`] decides what to write and when.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::codec::{self, FRAME_HEADER, Framed, MAX_PAYLOAD, Malformed, Put, Reader};
use crate::FieldValue;
use crate::broker::Properties;

/// The first bytes of a segment and of an ack file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"TSWSEG01";
pub(crate) const ACKS_MAGIC: &[u8; 8] = b"TSWACK01";

/// Where a message's record is: its segment and byte offset there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Loc {
    pub(crate) seg: u32,
    pub(crate) off: u32,
}

pub(crate) fn segment_path(dir: &Path, seg: u32) -> PathBuf {
    dir.join(format!("{seg:010}.seg"))
}

pub(crate) fn acks_path(dir: &Path, seg: u32) -> PathBuf {
    dir.join(format!("{seg:010}.acks"))
}

/// A message as its publish record holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MessageRecord {
    pub(crate) qid: u64,
    pub(crate) seq: u64,
    /// Returns counted by a quorum queue.
    pub(crate) returns: u32,
    /// Absolute expiry, ms since the Unix epoch.
    pub(crate) deadline: Option<u64>,
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    pub(crate) properties: Properties,
    pub(crate) bcc: Option<FieldValue>,
    pub(crate) body_len: u64,
}

/// What a publish record is written from (borrowed from the queue entry).
#[derive(Debug)]
pub(crate) struct PublishOf<'a> {
    pub(crate) qid: u64,
    pub(crate) seq: u64,
    pub(crate) returns: u32,
    pub(crate) deadline: Option<u64>,
    pub(crate) exchange: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) properties: &'a Properties,
    pub(crate) bcc: Option<&'a FieldValue>,
    pub(crate) body: &'a [u8],
}

const PUBLISH: u8 = 1;

pub(crate) fn encode_publish(out: &mut Vec<u8>, p: &PublishOf<'_>) -> usize {
    codec::frame(out, |b| {
        b.u8(PUBLISH);
        b.u64(p.qid);
        b.u64(p.seq);
        b.u32(p.returns);
        b.u64(p.deadline.map_or(0, |d| d.max(1)));
        b.str(p.exchange);
        b.str(p.routing_key);
        b.properties(p.properties);
        match p.bcc {
            None => b.u8(0),
            Some(v) => {
                b.u8(1);
                b.value(v);
            }
        }
        b.bytes(p.body);
    })
}

/// Decodes a publish record's payload; the body is returned as a slice of it.
pub(crate) fn decode_publish(payload: &[u8]) -> Result<(MessageRecord, &[u8]), Malformed> {
    let mut r = Reader::new(payload);
    if r.u8()? != PUBLISH {
        return Err(Malformed);
    }
    let qid = r.u64()?;
    let seq = r.u64()?;
    let returns = r.u32()?;
    let deadline = match r.u64()? {
        0 => None,
        d => Some(d),
    };
    let exchange = r.string()?;
    let routing_key = r.string()?;
    let properties = r.properties()?;
    let bcc = match r.u8()? {
        0 => None,
        1 => Some(r.value()?),
        _ => return Err(Malformed),
    };
    let body = r.bytes()?;
    if !r.is_empty() {
        return Err(Malformed);
    }
    Ok((
        MessageRecord {
            qid,
            seq,
            returns,
            deadline,
            exchange,
            routing_key,
            properties,
            bcc,
            body_len: body.len() as u64,
        },
        body,
    ))
}

/// A settlement in an ack file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Gone for good (acked, dropped, dead-lettered elsewhere).
    Acked,
    /// Handed to a consumer: it comes back redelivered.
    Delivered,
    /// Requeued at the back of a quorum queue: new position, returns counted.
    Moved { seq: u64, returns: u32 },
}

pub(crate) fn encode_mark(out: &mut Vec<u8>, off: u32, mark: Mark) {
    codec::frame(out, |b| match mark {
        Mark::Acked => {
            b.u8(1);
            b.u32(off);
        }
        Mark::Delivered => {
            b.u8(2);
            b.u32(off);
        }
        Mark::Moved { seq, returns } => {
            b.u8(3);
            b.u32(off);
            b.u64(seq);
            b.u32(returns);
        }
    });
}

fn decode_mark(payload: &[u8]) -> Result<(u32, Mark), Malformed> {
    let mut r = Reader::new(payload);
    let kind = r.u8()?;
    let off = r.u32()?;
    let mark = match kind {
        1 => Mark::Acked,
        2 => Mark::Delivered,
        3 => Mark::Moved {
            seq: r.u64()?,
            returns: r.u32()?,
        },
        _ => return Err(Malformed),
    };
    if !r.is_empty() {
        return Err(Malformed);
    }
    Ok((off, mark))
}

/// A message found live in the log.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) record: MessageRecord,
    pub(crate) loc: Loc,
    pub(crate) delivered: bool,
}

/// What reading the log found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Live messages by queue id, in log order.
    pub(crate) queues: HashMap<u64, Vec<Found>>,
    /// Every segment number seen.
    pub(crate) segments: Vec<u32>,
    /// What was damaged, one line each.
    pub(crate) damage: Vec<String>,
}

/// Reads records one at a time from a file, never allocating more than what is left
/// in it.
struct RecordReader {
    file: io::BufReader<File>,
    pos: u64,
    len: u64,
    buf: Vec<u8>,
}

enum Next {
    Record(u64),
    End,
    Torn(u64),
    Corrupt { at: u64, resumed: bool },
}

impl RecordReader {
    fn open(path: &Path, magic: &[u8; 8]) -> io::Result<Result<RecordReader, String>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut file = io::BufReader::with_capacity(256 * 1024, file);
        let mut head = [0u8; 8];
        if len < 8 {
            return Ok(Err(format!("{} bytes, no header", len)));
        }
        file.read_exact(&mut head)?;
        if &head != magic {
            return Ok(Err("not a trackswitch file (bad header)".into()));
        }
        Ok(Ok(RecordReader {
            file,
            pos: 8,
            len,
            buf: Vec::new(),
        }))
    }

    /// The next record (its payload in `self.buf`) and its offset.
    fn next(&mut self) -> io::Result<Next> {
        let at = self.pos;
        let left = self.len - self.pos;
        if left == 0 {
            return Ok(Next::End);
        }
        if left < FRAME_HEADER as u64 {
            return Ok(Next::Torn(at));
        }
        let mut head = [0u8; FRAME_HEADER];
        self.file.read_exact(&mut head)?;
        let len = u32::from_le_bytes(head[0..4].try_into().expect("4")) as u64;
        if len > MAX_PAYLOAD as u64 {
            return Ok(Next::Corrupt { at, resumed: false });
        }
        if len > left - FRAME_HEADER as u64 {
            return Ok(Next::Torn(at));
        }
        self.buf.clear();
        self.buf.resize(len as usize, 0);
        self.file.read_exact(&mut self.buf)?;
        self.pos += FRAME_HEADER as u64 + len;
        let mut whole = head.to_vec();
        whole.extend_from_slice(&self.buf);
        match codec::read_frame(&whole) {
            Framed::Record(..) => Ok(Next::Record(at)),
            _ => Ok(Next::Corrupt { at, resumed: true }),
        }
    }
}

/// Reads every segment and ack file in `dir`: the live messages (not acked, and of a
/// queue `live_qid` accepts) and what was damaged. Files it cannot make sense of are
/// reported, never fatal; only an I/O error reading the directory is.
pub(crate) fn scan(dir: &Path, live_qid: impl Fn(u64) -> bool) -> io::Result<Scan> {
    let mut segments = Vec::new();
    let mut orphan_acks = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u32>().ok())
        {
            segments.push(n);
        } else if let Some(n) = name
            .strip_suffix(".acks")
            .and_then(|n| n.parse::<u32>().ok())
        {
            orphan_acks.push(n);
        }
    }
    segments.sort_unstable();
    let mut scan = Scan::default();
    for &seg in &segments {
        scan_segment(dir, seg, &live_qid, &mut scan)?;
    }
    // An ack file whose segment is gone (deleted just before a crash) settles nothing.
    for n in orphan_acks {
        if segments.binary_search(&n).is_err() {
            let _ = fs::remove_file(acks_path(dir, n));
        }
    }
    scan.segments = segments;
    Ok(scan)
}

fn scan_segment(
    dir: &Path,
    seg: u32,
    live_qid: &impl Fn(u64) -> bool,
    scan: &mut Scan,
) -> io::Result<()> {
    let path = segment_path(dir, seg);
    let mut found: BTreeMap<u32, Found> = BTreeMap::new();
    let mut reader = match RecordReader::open(&path, SEGMENT_MAGIC)? {
        Ok(r) => r,
        Err(why) => {
            scan.damage
                .push(format!("segment {seg:010}: {why}; nothing in it was read"));
            return Ok(());
        }
    };
    let mut skipped = 0usize;
    loop {
        match reader.next()? {
            Next::End => break,
            Next::Record(at) => match decode_publish(&reader.buf) {
                Ok((record, _)) => {
                    if live_qid(record.qid) {
                        let loc = Loc {
                            seg,
                            off: at as u32,
                        };
                        found.insert(
                            loc.off,
                            Found {
                                record,
                                loc,
                                delivered: false,
                            },
                        );
                    }
                }
                Err(Malformed) => skipped += 1,
            },
            Next::Corrupt { resumed: true, .. } => skipped += 1,
            Next::Corrupt { at, resumed: false } => {
                scan.damage.push(format!(
                    "segment {seg:010}: unreadable record at byte {at}; the {} bytes from there were dropped",
                    reader.len - at
                ));
                break;
            }
            Next::Torn(at) => {
                scan.damage.push(format!(
                    "segment {seg:010}: torn write at byte {at} ({} bytes) dropped",
                    reader.len - at
                ));
                break;
            }
        }
    }
    if skipped > 0 {
        scan.damage.push(format!(
            "segment {seg:010}: {skipped} corrupt record(s) skipped (their messages are lost)"
        ));
    }
    let acks = acks_path(dir, seg);
    if acks.exists() {
        match RecordReader::open(&acks, ACKS_MAGIC)? {
            Err(why) => scan.damage.push(format!(
                "acks {seg:010}: {why}; its messages come back unacked"
            )),
            Ok(mut r) => loop {
                match r.next()? {
                    Next::End => break,
                    Next::Record(_) => {
                        if let Ok((off, mark)) = decode_mark(&r.buf) {
                            match mark {
                                Mark::Acked => {
                                    found.remove(&off);
                                }
                                Mark::Delivered => {
                                    if let Some(f) = found.get_mut(&off) {
                                        f.delivered = true;
                                    }
                                }
                                Mark::Moved { seq, returns } => {
                                    if let Some(f) = found.get_mut(&off) {
                                        f.record.seq = seq;
                                        f.record.returns = returns;
                                        f.delivered = true;
                                    }
                                }
                            }
                        }
                    }
                    Next::Corrupt { resumed: true, .. } => {}
                    Next::Corrupt { resumed: false, .. } | Next::Torn(_) => {
                        // Settlements are written without a sync: a torn end loses a
                        // few, whose messages are delivered again (at least once).
                        break;
                    }
                }
            },
        }
    }
    for f in found.into_values() {
        scan.queues.entry(f.record.qid).or_default().push(f);
    }
    Ok(())
}

/// Reads the body of the record at `off` of an open segment (page-in).
pub(crate) fn read_body(file: &File, off: u32) -> io::Result<bytes::Bytes> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; FRAME_HEADER];
    file.read_exact_at(&mut head, u64::from(off))?;
    let len = u32::from_le_bytes(head[0..4].try_into().expect("4")) as usize;
    let size = file.metadata()?.len();
    if len > MAX_PAYLOAD || u64::from(off) + (FRAME_HEADER + len) as u64 > size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad record length",
        ));
    }
    let mut whole = vec![0u8; FRAME_HEADER + len];
    file.read_exact_at(&mut whole, u64::from(off))?;
    let Framed::Record(payload, _) = codec::read_frame(&whole) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "checksum mismatch",
        ));
    };
    let (_, body) = decode_publish(payload)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "malformed record"))?;
    Ok(bytes::Bytes::copy_from_slice(body))
}
