//! The store's binary encoding: framed, checksummed records and the values inside
//! them (integers, strings, field tables, message properties).
//!
//! A record on disk is `len: u32 LE`, `crc: u32 LE` (CRC-32 of the payload), then
//! `len` payload bytes. A reader never trusts a length: it is checked against the
//! bytes that are there before anything is allocated, so arbitrary files cost at most
//! their own size. This file owns the encoding only; it knows nothing of queues.

use crate::broker::Properties;
use crate::{FieldTable, FieldValue};

/// Bytes before a record's payload: its length and checksum.
pub(crate) const FRAME_HEADER: usize = 8;

/// The largest payload a record may have: a maximum-size message (512 MiB, above
/// any configurable body limit) and its properties.
pub(crate) const MAX_PAYLOAD: usize = 512 * 1024 * 1024 + 16 * 1024 * 1024;

/// Nesting depth of field tables and arrays a reader accepts (the wire codec's
/// bound, so anything the broker took in can be read back).
const MAX_DEPTH: u32 = 64;

/// Appends a framed record whose payload `body` writes; returns the frame's length.
pub(crate) fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    body(out);
    let len = out.len() - start - FRAME_HEADER;
    let crc = crc32fast::hash(&out[start + FRAME_HEADER..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// What reading the next frame of a buffer found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framed<'a> {
    /// A whole record whose checksum matches, and the bytes it took.
    Record(&'a [u8], usize),
    /// No bytes left.
    End,
    /// Fewer bytes than the header or the length promises: a torn write.
    Torn,
    /// The length is impossible, or the checksum does not match. `skip` is the
    /// frame's length when its header is plausible (the next record may follow).
    Corrupt { skip: Option<usize> },
}

/// Reads the frame at the start of `buf`.
pub(crate) fn read_frame(buf: &[u8]) -> Framed<'_> {
    if buf.is_empty() {
        return Framed::End;
    }
    if buf.len() < FRAME_HEADER {
        return Framed::Torn;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Framed::Corrupt { skip: None };
    }
    let Some(payload) = buf.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Framed::Torn;
    };
    if crc32fast::hash(payload) != crc {
        return Framed::Corrupt {
            skip: Some(FRAME_HEADER + len),
        };
    }
    Framed::Record(payload, FRAME_HEADER + len)
}

/// Value writers (little-endian; strings and byte strings length-prefixed).
pub(crate) trait Put {
    fn u8(&mut self, v: u8);
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
    fn bytes(&mut self, v: &[u8]);
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn table(&mut self, t: &FieldTable);
    fn value(&mut self, v: &FieldValue);
    fn properties(&mut self, p: &Properties);
}

impl Put for Vec<u8> {
    fn u8(&mut self, v: u8) {
        self.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.extend_from_slice(v);
    }

    fn table(&mut self, t: &FieldTable) {
        self.u32(t.len() as u32);
        for (k, v) in t.iter() {
            self.str(k);
            self.value(v);
        }
    }

    fn value(&mut self, v: &FieldValue) {
        use FieldValue as V;
        match v {
            V::Boolean(b) => {
                self.u8(b't');
                self.u8(u8::from(*b));
            }
            V::ShortShortInt(x) => {
                self.u8(b'b');
                self.u8(*x as u8);
            }
            V::ShortShortUInt(x) => {
                self.u8(b'B');
                self.u8(*x);
            }
            V::ShortInt(x) => {
                self.u8(b's');
                self.u64(*x as u64);
            }
            V::ShortUInt(x) => {
                self.u8(b'u');
                self.u64(u64::from(*x));
            }
            V::LongInt(x) => {
                self.u8(b'I');
                self.u64(*x as u64);
            }
            V::LongUInt(x) => {
                self.u8(b'i');
                self.u64(u64::from(*x));
            }
            V::LongLongInt(x) => {
                self.u8(b'l');
                self.u64(*x as u64);
            }
            V::LongLongUInt(x) => {
                self.u8(b'L');
                self.u64(*x);
            }
            V::Float(x) => {
                self.u8(b'f');
                self.u32(x.to_bits());
            }
            V::Double(x) => {
                self.u8(b'd');
                self.u64(x.to_bits());
            }
            V::Decimal { scale, value } => {
                self.u8(b'D');
                self.u8(*scale);
                self.u32(*value);
            }
            V::ShortString(s) => {
                self.u8(b'z');
                self.str(s);
            }
            V::LongString(b) => {
                self.u8(b'S');
                self.bytes(b);
            }
            V::ByteArray(b) => {
                self.u8(b'x');
                self.bytes(b);
            }
            V::Array(a) => {
                self.u8(b'A');
                self.u32(a.len() as u32);
                for v in a {
                    self.value(v);
                }
            }
            V::Timestamp(t) => {
                self.u8(b'T');
                self.u64(*t);
            }
            V::Table(t) => {
                self.u8(b'F');
                self.table(t);
            }
            V::Void => self.u8(b'V'),
        }
    }

    fn properties(&mut self, p: &Properties) {
        self.opt_str(p.content_type.as_deref());
        self.opt_str(p.content_encoding.as_deref());
        match &p.headers {
            None => self.u8(0),
            Some(h) => {
                self.u8(1);
                self.table(h);
            }
        }
        for b in [p.delivery_mode, p.priority] {
            match b {
                None => self.u8(0),
                Some(v) => {
                    self.u8(1);
                    self.u8(v);
                }
            }
        }
        self.opt_str(p.correlation_id.as_deref());
        self.opt_str(p.reply_to.as_deref());
        self.opt_str(p.expiration.as_deref());
        self.opt_str(p.message_id.as_deref());
        match p.timestamp {
            None => self.u8(0),
            Some(t) => {
                self.u8(1);
                self.u64(t);
            }
        }
        self.opt_str(p.kind.as_deref());
        self.opt_str(p.user_id.as_deref());
        self.opt_str(p.app_id.as_deref());
        self.opt_str(p.cluster_id.as_deref());
    }
}

/// A value that does not decode: the record is damaged (its checksum matched, so
/// the writer and reader disagree, or the checksum collided).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Reads values from a record's payload; every read is bounds-checked.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.buf.len() {
            return Err(Malformed);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub(crate) fn string(&mut self) -> Result<String, Malformed> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Malformed)
    }

    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, Malformed> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err(Malformed),
        }
    }

    pub(crate) fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed),
        }
    }

    pub(crate) fn table(&mut self) -> Result<FieldTable, Malformed> {
        self.table_at(0)
    }

    fn table_at(&mut self, depth: u32) -> Result<FieldTable, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        let n = self.u32()?;
        let mut t = FieldTable::new();
        for _ in 0..n {
            // Each entry takes at least 5 bytes: a bogus count fails on the bytes.
            let k = self.string()?;
            let v = self.value_at(depth)?;
            t.push(k, v);
        }
        Ok(t)
    }

    pub(crate) fn value(&mut self) -> Result<FieldValue, Malformed> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: u32) -> Result<FieldValue, Malformed> {
        use FieldValue as V;
        Ok(match self.u8()? {
            b't' => V::Boolean(self.bool()?),
            b'b' => V::ShortShortInt(self.u8()? as i8),
            b'B' => V::ShortShortUInt(self.u8()?),
            b's' => V::ShortInt(i16::try_from(self.u64()? as i64).map_err(|_| Malformed)?),
            b'u' => V::ShortUInt(u16::try_from(self.u64()?).map_err(|_| Malformed)?),
            b'I' => V::LongInt(i32::try_from(self.u64()? as i64).map_err(|_| Malformed)?),
            b'i' => V::LongUInt(u32::try_from(self.u64()?).map_err(|_| Malformed)?),
            b'l' => V::LongLongInt(self.u64()? as i64),
            b'L' => V::LongLongUInt(self.u64()?),
            b'f' => V::Float(f32::from_bits(self.u32()?)),
            b'd' => V::Double(f64::from_bits(self.u64()?)),
            b'D' => V::Decimal {
                scale: self.u8()?,
                value: self.u32()?,
            },
            b'z' => V::ShortString(self.string()?),
            b'S' => V::LongString(self.bytes()?.to_vec()),
            b'x' => V::ByteArray(self.bytes()?.to_vec()),
            b'A' => {
                if depth >= MAX_DEPTH {
                    return Err(Malformed);
                }
                let n = self.u32()?;
                // Each value takes at least a byte: no allocation beyond the payload.
                if n as usize > self.buf.len() {
                    return Err(Malformed);
                }
                let mut a = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    a.push(self.value_at(depth + 1)?);
                }
                V::Array(a)
            }
            b'T' => V::Timestamp(self.u64()?),
            b'F' => V::Table(self.table_at(depth + 1)?),
            b'V' => V::Void,
            _ => return Err(Malformed),
        })
    }

    fn opt_u8(&mut self) -> Result<Option<u8>, Malformed> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.u8().map(Some),
            _ => Err(Malformed),
        }
    }

    pub(crate) fn properties(&mut self) -> Result<Properties, Malformed> {
        let content_type = self.opt_string()?;
        let content_encoding = self.opt_string()?;
        let headers = match self.u8()? {
            0 => None,
            1 => Some(self.table()?),
            _ => return Err(Malformed),
        };
        let delivery_mode = self.opt_u8()?;
        let priority = self.opt_u8()?;
        let correlation_id = self.opt_string()?;
        let reply_to = self.opt_string()?;
        let expiration = self.opt_string()?;
        let message_id = self.opt_string()?;
        let timestamp = match self.u8()? {
            0 => None,
            1 => Some(self.u64()?),
            _ => return Err(Malformed),
        };
        Ok(Properties {
            content_type,
            content_encoding,
            headers,
            delivery_mode,
            priority,
            correlation_id,
            reply_to,
            expiration,
            message_id,
            timestamp,
            kind: self.opt_string()?,
            user_id: self.opt_string()?,
            app_id: self.opt_string()?,
            cluster_id: self.opt_string()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut inner = FieldTable::new();
        inner.insert("x", FieldValue::Double(1.5));
        let mut t = FieldTable::new();
        for (k, v) in [
            ("a", FieldValue::Boolean(true)),
            ("b", FieldValue::ShortShortInt(-3)),
            ("c", FieldValue::ShortInt(-300)),
            ("d", FieldValue::LongUInt(7)),
            ("e", FieldValue::LongLongInt(-9)),
            ("f", FieldValue::Float(0.25)),
            ("g", FieldValue::Decimal { scale: 2, value: 5 }),
            ("h", FieldValue::ShortString("s".into())),
            ("i", FieldValue::LongString(vec![0, 255])),
            ("j", FieldValue::ByteArray(vec![1])),
            ("k", FieldValue::Array(vec![FieldValue::Void, 3.into()])),
            ("l", FieldValue::Timestamp(99)),
            ("m", FieldValue::Table(inner)),
        ] {
            t.push(k, v);
        }
        let p = Properties {
            content_type: Some("text/plain".into()),
            headers: Some(t),
            delivery_mode: Some(2),
            priority: Some(4),
            timestamp: Some(1),
            kind: Some("k".into()),
            ..Properties::default()
        };
        let mut out = Vec::new();
        let n = frame(&mut out, |b| b.properties(&p));
        assert_eq!(n, out.len());
        let Framed::Record(payload, used) = read_frame(&out) else {
            panic!("a record");
        };
        assert_eq!(used, out.len());
        let mut r = Reader::new(payload);
        assert_eq!(r.properties().unwrap(), p);
        assert!(r.is_empty());
    }

    #[test]
    fn damage_is_detected() {
        let mut out = Vec::new();
        frame(&mut out, |b| b.str("hello"));
        assert_eq!(read_frame(&out[..out.len() - 1]), Framed::Torn);
        assert_eq!(read_frame(&out[..3]), Framed::Torn);
        let mut flipped = out.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            read_frame(&flipped),
            Framed::Corrupt {
                skip: Some(out.len())
            }
        );
        let mut huge = out.clone();
        huge[3] = 0xff;
        assert_eq!(read_frame(&huge), Framed::Corrupt { skip: None });
        assert_eq!(read_frame(&[]), Framed::End);
    }
}
