//! The handshake of a connection: protocol header, Start / Start-Ok (PLAIN and
//! AMQPLAIN against the broker's user store), Tune / Tune-Ok, Open / Open-Ok (the
//! broker checks the user's access to the vhost), all under a deadline; and the properties and capabilities exchanged on the way. It opens the
//! broker connection; it knows nothing of channels.

use super::ReadHalf;
use tokio::time::{Instant, timeout_at};

use super::{Caps, Conn, Fault, PeerCert, close};
use crate::amqp::auth;
use crate::amqp::codec::{self, PROTOCOL_HEADER};
use crate::amqp::method::{Method, Reply};
use crate::amqp::reader::{Frame, MIN_FRAME_MAX};
use crate::broker::ConnectOptions;
use crate::{FieldTable, FieldValue};

impl Conn {
    /// A handshake frame: a method on channel 0 (heartbeats are skipped).
    pub(super) async fn handshake_method(
        &mut self,
        rd: &mut ReadHalf,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<Method, Fault> {
        loop {
            match self.read_frame(rd, buf, deadline).await? {
                Frame::Heartbeat(0) => {}
                Frame::Method(0, Method::ConnectionClose { .. }) => {
                    self.emit(0, &Reply::ConnectionCloseOk)?;
                    return Err(Fault::Done);
                }
                Frame::Method(0, m) => return Ok(m),
                _ => {
                    return Err(close(
                        504,
                        "CHANNEL_ERROR - expected a method on channel 0 during the handshake",
                        (0, 0),
                    ));
                }
            }
        }
    }

    pub(super) async fn handshake(
        &mut self,
        rd: &mut ReadHalf,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<(), Fault> {
        // The protocol header. Frames a client pipelines after it wait in the reader.
        loop {
            match self.reader.read_header() {
                Ok(true) => break,
                Ok(false) => {}
                Err(_) => {
                    let _ = self.out.send(PROTOCOL_HEADER.to_vec()).await;
                    return Err(Fault::Io("bad protocol header"));
                }
            }
            match timeout_at(deadline, self.read_some(rd, buf)).await {
                Err(_) => return Err(Fault::Io("handshake timed out")),
                Ok(r) => r?,
            }
        }
        let limits = self.shared.config.limits.clone();
        // EXTERNAL on every TLS connection, with a certificate or without, as RabbitMQ
        // with rabbitmq_auth_mechanism_ssl: without one it is refused at start-ok.
        // RabbitMQ 3.10.8's order varies from boot to boot; EXTERNAL was always last.
        let mechanisms = if self.tls.is_some() {
            "PLAIN AMQPLAIN EXTERNAL"
        } else {
            "PLAIN AMQPLAIN"
        };
        self.emit(
            0,
            &Reply::Start {
                server_properties: server_properties(),
                mechanisms: mechanisms.into(),
                locales: "en_US".into(),
            },
        )?;
        self.flush().await?;

        let Method::StartOk {
            client_properties,
            mechanism,
            response,
            ..
        } = self.handshake_method(rd, buf, deadline).await?
        else {
            return Err(close(
                503,
                "COMMAND_INVALID - expected connection.start-ok",
                (10, 11),
            ));
        };
        self.caps = client_caps(&client_properties);
        let user = match self.login(&mechanism, &response) {
            Ok(user) => user,
            Err(refusal) => {
                tracing::warn!(
                    peer = %self.peer,
                    user = %refusal.user,
                    mechanism = %mechanism,
                    reason = %refusal.reason,
                    "login refused"
                );
                // RabbitMQ: a mechanism it did not offer is a protocol error, closed
                // without a Close; a refused login is Close 403 (class and method 0)
                // to clients that can take it.
                if refusal.offered && self.caps.authentication_failure_close {
                    return Err(close(
                        403,
                        format!(
                            "ACCESS_REFUSED - Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
                        ),
                        (0, 0),
                    ));
                }
                return Err(Fault::Io("login refused"));
            }
        };
        self.user = user;
        let connection_name = match client_properties.get("connection_name") {
            Some(FieldValue::LongString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(FieldValue::ShortString(s)) => Some(s.clone()),
            _ => None,
        };

        self.emit(
            0,
            &Reply::Tune {
                channel_max: limits.channel_max,
                frame_max: limits.frame_max,
                heartbeat: limits.heartbeat,
            },
        )?;
        self.flush().await?;
        let Method::TuneOk {
            channel_max,
            frame_max,
            heartbeat,
        } = self.handshake_method(rd, buf, deadline).await?
        else {
            return Err(close(
                503,
                "COMMAND_INVALID - expected connection.tune-ok",
                (10, 31),
            ));
        };
        let frame_max = if frame_max == 0 {
            limits.frame_max
        } else {
            frame_max.min(limits.frame_max)
        };
        if frame_max < MIN_FRAME_MAX {
            return Err(close(
                530,
                format!("NOT_ALLOWED - frame_max={frame_max} < {MIN_FRAME_MAX} min size"),
                (10, 31),
            ));
        }
        self.frame_max = frame_max;
        self.reader.set_frame_max(frame_max);
        self.channel_max = if channel_max == 0 {
            limits.channel_max
        } else {
            channel_max.min(limits.channel_max)
        };
        self.heartbeat = heartbeat;
        self.out
            .set_heartbeat(heartbeat)
            .await
            .map_err(|_| Fault::Io("write failed"))?;

        let Method::ConnectionOpen { vhost } = self.handshake_method(rd, buf, deadline).await?
        else {
            return Err(close(
                503,
                "COMMAND_INVALID - expected connection.open",
                (10, 40),
            ));
        };
        let options = ConnectOptions {
            vhost: vhost.clone(),
            user: self.user.clone(),
            peer: Some(self.peer),
            client_name: connection_name,
            local: Some(self.local),
            client_properties,
            tls: self.tls.is_some(),
            auth_mechanism: mechanism,
            frame_max: self.frame_max,
            channel_max: self.channel_max,
            heartbeat: self.heartbeat,
        };
        match self.shared.broker.connect(options) {
            Ok(c) => self.broker = Some(c),
            Err(e) => return Err(close(e.reply_code(), e.reply_text(), (10, 40))),
        }
        self.vhost = vhost;
        self.emit(0, &Reply::OpenOk)?;
        self.flush().await
    }
}

/// Why a login was refused, for the log (the client is told only the mechanism).
struct Refusal {
    user: String,
    reason: String,
    /// Whether the mechanism was one Start offered.
    offered: bool,
}

fn refused(user: &str, reason: impl Into<String>) -> Refusal {
    Refusal {
        user: user.to_owned(),
        reason: reason.into(),
        offered: true,
    }
}

/// A mechanism Start did not offer, in RabbitMQ's words.
fn not_offered(reason: String) -> Refusal {
    Refusal {
        user: String::new(),
        reason,
        offered: false,
    }
}

impl Conn {
    /// The configured user that start-ok's `mechanism` and `response` log in as.
    ///
    /// PLAIN and AMQPLAIN check the password; EXTERNAL (offered on TLS only) takes
    /// the user named by the verified client certificate's common name, without a
    /// password, as RabbitMQ's `rabbit_auth_mechanism_ssl` with `ssl_cert_login_from
    /// = common_name` (its refusal reasons are RabbitMQ's too). `loopback_only` users
    /// are refused from other addresses whatever the mechanism.
    fn login(&self, mechanism: &str, response: &[u8]) -> Result<String, Refusal> {
        let (name, password) = match mechanism {
            "PLAIN" => auth::parse_plain(response)
                .map(|(n, p)| (n, Some(p)))
                .ok_or_else(|| refused("", "malformed PLAIN response"))?,
            "AMQPLAIN" => codec::decode_amqplain(response)
                .map(|(n, p)| (n, Some(p)))
                .ok_or_else(|| refused("", "malformed AMQPLAIN response"))?,
            "EXTERNAL" => match &self.tls {
                None => {
                    return Err(not_offered(
                        "invalid authentication mechanism 'EXTERNAL'".into(),
                    ));
                }
                Some(PeerCert::Absent) => {
                    return Err(refused(
                        "",
                        "connection peer presented no TLS (x.509) certificate",
                    ));
                }
                Some(PeerCert::NoName) => return Err(refused("", "no name found")),
                Some(PeerCert::Name(name)) => (name.clone(), None),
            },
            other => {
                return Err(not_offered(format!(
                    "unknown authentication mechanism '{other}'"
                )));
            }
        };
        auth::login(
            &self.shared.broker,
            &self.shared.config,
            &name,
            password.as_deref(),
            self.peer.ip(),
        )
        .map(|u| u.name)
        .map_err(|reason| refused(&name, reason))
    }
}

/// Start's server properties, with the capabilities that are implemented.
fn server_properties() -> FieldTable {
    let mut caps = FieldTable::new();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "consumer_priorities",
        "direct_reply_to",
    ] {
        caps.insert(cap, FieldValue::Boolean(true));
    }
    let mut t = FieldTable::new();
    t.insert("product", FieldValue::LongString(b"trackswitch".to_vec()));
    t.insert(
        "version",
        FieldValue::LongString(env!("CARGO_PKG_VERSION").as_bytes().to_vec()),
    );
    t.insert("platform", FieldValue::LongString(b"Rust".to_vec()));
    t.insert(
        "information",
        FieldValue::LongString(b"embedded AMQP 0-9-1 broker".to_vec()),
    );
    t.insert("capabilities", FieldValue::Table(caps));
    t
}

fn client_caps(props: &FieldTable) -> Caps {
    let Some(FieldValue::Table(caps)) = props.get("capabilities") else {
        return Caps::default();
    };
    let on = |name: &str| matches!(caps.get(name), Some(FieldValue::Boolean(true)));
    Caps {
        consumer_cancel_notify: on("consumer_cancel_notify"),
        connection_blocked: on("connection.blocked"),
        authentication_failure_close: on("authentication_failure_close"),
    }
}
