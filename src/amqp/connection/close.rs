//! The end of a connection: the Close owed (and a short wait for close-ok), or, after
//! the client's Close, close-ok and a bounded linger while the client closes the
//! socket; then the broker connection closes (unacked messages are requeued).

use super::ReadHalf;
use tokio::io::AsyncReadExt;
use tokio::time::{Instant, timeout_at};

use super::{Conn, Fault};
use crate::amqp::method::{Method, Reply};
use crate::amqp::reader::Frame;

impl Conn {
    /// Cancels the connection's consumers, closes its channels and its broker
    /// connection (unacked messages are requeued, exclusive queues deleted).
    pub(super) fn release(&mut self) {
        self.subs.clear();
        self.channels.clear();
        if let Some(c) = self.broker.take() {
            c.close();
        }
    }

    /// Reads and discards until the client closes the socket, for at most
    /// `close_linger`.
    pub(super) async fn linger(&mut self, rd: &mut ReadHalf, buf: &mut [u8]) {
        let deadline = Instant::now() + self.shared.config.limits.close_linger;
        while let Ok(Ok(n)) = timeout_at(deadline, rd.read(buf)).await {
            if n == 0 {
                break;
            }
        }
    }

    /// Ends the connection: Close (if owed) and a short wait for Close-Ok, discarding
    /// everything else; then the broker connection closes (requeueing unacked messages).
    pub(super) async fn finish(&mut self, rd: &mut ReadHalf, buf: &mut [u8], fault: Fault) {
        let reason = match &fault {
            Fault::Close { code, text, .. } => format!("{code} {text}"),
            Fault::Done => "closed by client".to_owned(),
            Fault::Io(why) => (*why).to_owned(),
        };
        let client_closed = matches!(fault, Fault::Done);
        if let Fault::Close {
            code,
            text,
            class_id,
            method_id,
        } = fault
        {
            let reply = Reply::ConnectionClose {
                reply_code: code,
                reply_text: text,
                class_id,
                method_id,
            };
            // Replies owed before the error (e.g. open-ok for every channel pipelined
            // before the one over channel_max, confirms decided) go out first: nothing
            // follows the Close (found by fuzzing: pending confirms were flushed after
            // it).
            let _ = self.emit_confirms();
            if self.emit(0, &reply).is_ok() && self.flush().await.is_ok() {
                let deadline = Instant::now() + self.shared.config.limits.close_linger;
                loop {
                    match self.read_frame(rd, buf, deadline).await {
                        Ok(Frame::Method(0, Method::ConnectionCloseOk)) | Err(_) => break,
                        Ok(Frame::Method(0, Method::ConnectionClose { .. })) => {
                            let _ = self.emit(0, &Reply::ConnectionCloseOk);
                            break;
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
        if client_closed {
            // The client said Close: its channels are gone now (unacked messages
            // requeued), close-ok goes out, and the client closes the socket. What it
            // wrote meanwhile is read and discarded, for at most `close_linger`.
            self.release();
            if self.flush().await.is_ok() {
                self.linger(rd, buf).await;
            }
        }
        let _ = self.flush().await;
        self.release();
        if self.user.is_empty() {
            tracing::debug!(peer = %self.peer, reason = %reason, "connection refused");
        } else {
            tracing::info!(peer = %self.peer, user = %self.user, reason = %reason, "connection closed");
        }
    }
}
