//! Reassembling a published message from its method, header and body frames.
//!
//! One [`ContentAssembler`] per channel. `basic.publish` starts a message; the next frame
//! on that channel must be its content header, whose `body_size` is checked against the
//! message-size limit before anything is buffered; body frames follow until `body_size`
//! bytes have arrived (none for an empty body). Any other frame in between is a 505
//! UNEXPECTED_FRAME connection error. The body buffer grows with the bytes actually
//! received, never with what a header announces.

use super::method::{ContentHeader, Method, Publish};
use super::reader::Frame;

/// RabbitMQ 3.10.8's default `max_message_size`: 128 MiB.
#[cfg(test)]
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: u64 = crate::broker::DEFAULT_MAX_MESSAGE_SIZE as u64;

/// A complete published message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Content {
    pub(crate) publish: Publish,
    /// The header frame as read (its box kept: the properties are a few hundred bytes
    /// and are moved out once, into the broker's message).
    pub(crate) header: Box<ContentHeader>,
    pub(crate) body: Vec<u8>,
}

/// What a frame amounted to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// A method other than `basic.publish`, for the caller to handle.
    Method(Method),
    /// Part of a message; nothing to do yet.
    Pending,
    /// The last frame of a message.
    Complete(Content),
}

/// A protocol violation found while assembling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContentError {
    /// Closes the channel (406: message too large); the publish's ids are 60/40.
    Channel { code: u16, text: String },
    /// Closes the connection (505 UNEXPECTED_FRAME).
    Connection { code: u16, text: String },
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    Header(Publish),
    /// Invariant: `body.len() < body_size` and `body.capacity() <= body_size`.
    Body {
        publish: Publish,
        header: Box<ContentHeader>,
        body: Vec<u8>,
    },
}

/// Per-channel message reassembly; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct ContentAssembler {
    state: State,
    max_message_size: u64,
}

fn unexpected(text: &str) -> ContentError {
    ContentError::Connection {
        code: 505,
        text: format!("UNEXPECTED_FRAME - {text}"),
    }
}

impl ContentAssembler {
    /// An idle assembler refusing bodies over `max_message_size` bytes.
    pub(crate) fn new(max_message_size: u64) -> ContentAssembler {
        ContentAssembler {
            state: State::Idle,
            max_message_size,
        }
    }

    /// Whether a message is half-received.
    #[cfg(test)]
    pub(crate) fn in_progress(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Body bytes held (allocated) for the message in progress.
    pub(crate) fn buffered(&self) -> usize {
        match &self.state {
            State::Body { body, .. } => body.capacity(),
            _ => 0,
        }
    }

    /// Drops a half-received message.
    #[cfg(test)]
    pub(crate) fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// Feeds the next frame of this channel. On error the assembler is idle again.
    pub(crate) fn accept(&mut self, frame: Frame) -> Result<Step, ContentError> {
        let result = self.step(frame);
        if result.is_err() {
            self.state = State::Idle;
        }
        result
    }

    fn step(&mut self, frame: Frame) -> Result<Step, ContentError> {
        match (std::mem::take(&mut self.state), frame) {
            (State::Idle, Frame::Method(_, Method::Publish(p))) => {
                self.state = State::Header(p);
                Ok(Step::Pending)
            }
            (State::Idle, Frame::Method(_, m)) => Ok(Step::Method(m)),
            (State::Idle, Frame::Header(..) | Frame::Body(..)) => Err(unexpected(
                "expected method frame, got non method frame instead",
            )),
            (State::Header(publish), Frame::Header(_, header)) => {
                if header.class_id != 60 {
                    return Err(unexpected(&format!(
                        "expected content header for class 60, got class {}",
                        header.class_id
                    )));
                }
                if header.body_size > self.max_message_size {
                    return Err(ContentError::Channel {
                        code: 406,
                        text: format!(
                            "PRECONDITION_FAILED - message size {} is larger than configured max size {}",
                            header.body_size, self.max_message_size
                        ),
                    });
                }
                if header.body_size == 0 {
                    return Ok(Step::Complete(Content {
                        publish,
                        header,
                        body: Vec::new(),
                    }));
                }
                self.state = State::Body {
                    publish,
                    header,
                    body: Vec::new(),
                };
                Ok(Step::Pending)
            }
            (State::Header(_), _) => Err(unexpected(
                "expected content header for class 60, got non content header frame instead",
            )),
            (
                State::Body {
                    publish,
                    header,
                    mut body,
                },
                Frame::Body(_, chunk),
            ) => {
                let body_size = header.body_size;
                let received = body.len() as u64 + chunk.len() as u64;
                if received > body_size {
                    return Err(unexpected(&format!(
                        "content body larger than the announced {body_size} bytes"
                    )));
                }
                if body.is_empty() {
                    // The usual single-frame body moves in without a copy.
                    body = chunk;
                } else {
                    if body.capacity() - body.len() < chunk.len() {
                        // Geometric growth, capped at the announced size (bounded by the
                        // message-size limit, and reached only as bytes arrive).
                        let want = (body.len() + chunk.len())
                            .max(body.capacity().saturating_mul(2))
                            .min(body_size as usize);
                        body.reserve_exact(want - body.len());
                    }
                    body.extend_from_slice(&chunk);
                }
                if received == body_size {
                    return Ok(Step::Complete(Content {
                        publish,
                        header,
                        body,
                    }));
                }
                self.state = State::Body {
                    publish,
                    header,
                    body,
                };
                Ok(Step::Pending)
            }
            (State::Body { .. }, _) => Err(unexpected(
                "expected content body, got non content body frame instead",
            )),
            (_, Frame::Heartbeat(_)) => unreachable_heartbeat(),
        }
    }
}

/// Heartbeats never reach an assembler (the connection handles them), but a stray one
/// is treated like any other out-of-place frame.
fn unreachable_heartbeat() -> Result<Step, ContentError> {
    Err(unexpected("heartbeat frame on a channel"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::method::Properties;

    fn publish() -> Frame {
        Frame::Method(
            1,
            Method::Publish(Publish {
                exchange: String::new(),
                routing_key: "q".into(),
                mandatory: false,
                immediate: false,
            }),
        )
    }

    fn header(body_size: u64) -> Frame {
        Frame::Header(
            1,
            Box::new(ContentHeader {
                class_id: 60,
                body_size,
                properties: Properties::default(),
            }),
        )
    }

    fn body(bytes: &[u8]) -> Frame {
        Frame::Body(1, bytes.to_vec())
    }

    fn code(r: Result<Step, ContentError>) -> u16 {
        match r {
            Err(ContentError::Channel { code, .. } | ContentError::Connection { code, .. }) => code,
            Ok(step) => panic!("no error: {step:?}"),
        }
    }

    #[test]
    fn empty_body_has_no_body_frame() {
        let mut a = ContentAssembler::new(10);
        assert_eq!(a.accept(publish()), Ok(Step::Pending));
        let Ok(Step::Complete(c)) = a.accept(header(0)) else {
            panic!()
        };
        assert!(c.body.is_empty());
        assert!(!a.in_progress());
    }

    #[test]
    fn bodies_assemble_across_frames() {
        let mut a = ContentAssembler::new(100);
        a.accept(publish()).unwrap();
        a.accept(header(6)).unwrap();
        assert_eq!(a.accept(body(b"ab")), Ok(Step::Pending));
        assert_eq!(a.accept(body(b"")), Ok(Step::Pending));
        assert_eq!(a.accept(body(b"cd")), Ok(Step::Pending));
        assert!(a.buffered() <= 6);
        let Ok(Step::Complete(c)) = a.accept(body(b"ef")) else {
            panic!()
        };
        assert_eq!(c.body, b"abcdef");
        assert_eq!(c.publish.routing_key, "q");
        // Other methods pass through when idle.
        assert_eq!(
            a.accept(Frame::Method(1, Method::TxSelect)),
            Ok(Step::Method(Method::TxSelect))
        );
    }

    #[test]
    fn too_large_is_a_channel_error_before_buffering() {
        let mut a = ContentAssembler::new(DEFAULT_MAX_MESSAGE_SIZE);
        a.accept(publish()).unwrap();
        let r = a.accept(header(DEFAULT_MAX_MESSAGE_SIZE + 1));
        assert!(
            matches!(r, Err(ContentError::Channel { code: 406, .. })),
            "{r:?}"
        );
        assert_eq!(a.buffered(), 0);
        assert!(!a.in_progress());
    }

    #[test]
    fn out_of_order_frames_are_505() {
        let cases: [(&str, Vec<Frame>); 7] = [
            ("header without publish", vec![header(1)]),
            ("body without publish", vec![body(b"x")]),
            (
                "method instead of header",
                vec![publish(), Frame::Method(1, Method::TxSelect)],
            ),
            ("body instead of header", vec![publish(), body(b"x")]),
            (
                "publish instead of body",
                vec![publish(), header(2), body(b"x"), publish()],
            ),
            ("body too long", vec![publish(), header(2), body(b"xyz")]),
            (
                "header for another class",
                vec![
                    publish(),
                    Frame::Header(
                        1,
                        Box::new(ContentHeader {
                            class_id: 50,
                            body_size: 0,
                            properties: Properties::default(),
                        }),
                    ),
                ],
            ),
        ];
        for (name, frames) in cases {
            let mut a = ContentAssembler::new(100);
            let (last, init) = frames.split_last().unwrap();
            for f in init {
                a.accept(f.clone())
                    .unwrap_or_else(|e| panic!("{name}: early {e:?}"));
            }
            assert_eq!(code(a.accept(last.clone())), 505, "{name}");
            assert!(!a.in_progress(), "{name}");
        }
    }

    #[test]
    fn reset_drops_a_half_received_message() {
        let mut a = ContentAssembler::new(100);
        a.accept(publish()).unwrap();
        a.accept(header(10)).unwrap();
        a.accept(body(b"abc")).unwrap();
        assert!(a.in_progress());
        a.reset();
        assert!(!a.in_progress());
        assert_eq!(a.buffered(), 0);
    }
}
