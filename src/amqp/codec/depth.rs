//! The nesting check that runs before `amq-protocol` parses a payload: its field-table
//! parser recurses once per level, so a hostile frame could overflow the stack.

use super::MAX_TABLE_DEPTH;

/// A forward-only reader over a payload, for [`check_depth`].
pub(super) struct Cursor<'a>(pub(super) &'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn short_string(&mut self) -> Option<()> {
        let n = self.u8()?;
        self.take(usize::from(n)).map(drop)
    }
    fn sized(&mut self) -> Option<Cursor<'a>> {
        let n = self.u32()?;
        self.take(usize::try_from(n).ok()?).map(Cursor)
    }
}

/// How deep the field tables at the cursor nest, `Err` past [`MAX_TABLE_DEPTH`].
/// Malformed input ends the walk quietly (`Ok`): the real parser reports it.
pub(super) fn table_depth(c: &mut Cursor<'_>, depth: usize) -> Result<(), String> {
    if depth > MAX_TABLE_DEPTH {
        return Err(format!(
            "FRAME_ERROR - field tables nested deeper than {MAX_TABLE_DEPTH}"
        ));
    }
    let Some(mut inner) = c.sized() else {
        return Ok(());
    };
    while !inner.0.is_empty() {
        if inner.short_string().is_none() {
            return Ok(());
        }
        if !value_depth(&mut inner, depth)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Skips one field value; `Ok(false)` when the input is malformed.
fn value_depth(c: &mut Cursor<'_>, depth: usize) -> Result<bool, String> {
    let Some(kind) = c.u8() else { return Ok(false) };
    let skip = match kind {
        b't' | b'b' | b'B' => 1,
        b's' | b'U' | b'u' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'L' | b'l' | b'd' | b'T' => 8,
        b'V' => 0,
        b'S' | b'x' => return Ok(c.sized().is_some()),
        b'F' => {
            table_depth(c, depth + 1)?;
            return Ok(true);
        }
        b'A' => {
            if depth + 1 > MAX_TABLE_DEPTH {
                return Err(format!(
                    "FRAME_ERROR - field tables nested deeper than {MAX_TABLE_DEPTH}"
                ));
            }
            let Some(mut inner) = c.sized() else {
                return Ok(false);
            };
            while !inner.0.is_empty() {
                if !value_depth(&mut inner, depth + 1)? {
                    return Ok(true);
                }
            }
            return Ok(true);
        }
        _ => return Ok(false),
    };
    Ok(c.take(skip).is_some())
}

/// Field layout before the arguments table of each method that carries one.
#[derive(Clone, Copy)]
enum Field {
    U16,
    U8,
    Short,
}

/// Refuses method payloads whose field tables nest too deeply.
pub(super) fn check_depth(payload: &[u8], class_id: u16, method_id: u16) -> Result<(), String> {
    use Field::{Short, U8, U16};
    let prefix: &[Field] = match (class_id, method_id) {
        (10, 11) => &[],                                        // connection.start-ok
        (40, 10) => &[U16, Short, Short, U8],                   // exchange.declare
        (40, 30) | (40, 40) => &[U16, Short, Short, Short, U8], // exchange.bind / unbind
        (50, 10) => &[U16, Short, U8],                          // queue.declare
        (50, 20) => &[U16, Short, Short, Short, U8],            // queue.bind
        (50, 50) => &[U16, Short, Short, Short],                // queue.unbind
        (60, 20) => &[U16, Short, Short, U8],                   // basic.consume
        _ => return Ok(()),
    };
    let mut c = Cursor(&payload[4..]);
    for field in prefix {
        let ok = match field {
            U16 => c.u16().map(drop),
            U8 => c.u8().map(drop),
            Short => c.short_string(),
        };
        if ok.is_none() {
            return Ok(());
        }
    }
    table_depth(&mut c, 1)
}

/// Refuses content headers whose `headers` table nests too deeply.
pub(super) fn check_header_depth(payload: &[u8]) -> Result<(), String> {
    let mut c = Cursor(payload);
    let Some(flags) = c.take(12).and_then(|_| c.u16()) else {
        return Ok(());
    };
    for bit in [15, 14] {
        if flags & (1 << bit) != 0 && c.short_string().is_none() {
            return Ok(());
        }
    }
    if flags & (1 << 13) != 0 {
        return table_depth(&mut c, 1);
    }
    Ok(())
}
