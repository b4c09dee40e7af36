//! `amqps`: the server's TLS listeners against lapin (rustls, ring) and hand-made TLS
//! and TCP clients. lapin publishes and consumes without and with a client
//! certificate, logs in with EXTERNAL as the certificate's common name, and is refused
//! without a certificate, with an unknown name and with a certificate of another CA;
//! a plain AMQP client on the TLS port and a stalled TLS handshake are dropped
//! without disturbing anyone else. Every certificate is made here (rcgen); servers
//! listen on `127.0.0.1:0` and every wait is bounded.
#![cfg(feature = "tls")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::*;
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trackswitch::amqp::{Limits, Server, ServerConfig, ShutdownHandle, TlsConfig, TlsVerify, User};
use trackswitch::broker::Broker;

mod amqp_common;

use amqp_common::tls::{ClientCert, Pki};
use amqp_common::*;

/// A server with a plain and a TLS listener.
struct TlsServer {
    plain: SocketAddr,
    tls: SocketAddr,
    broker: Broker,
    stop: ShutdownHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TlsServer {
    async fn start(pki: &Pki, verify: TlsVerify, limits: Limits) -> TlsServer {
        let tls = TlsConfig::builder(&pki.server_cert, &pki.server_key)
            .client_ca(&pki.ca)
            .verify(verify)
            .build()
            .expect("the test certificates load");
        let config = ServerConfig {
            users: vec![User::guest(), User::new("app", "app-secret")],
            limits,
            ..ServerConfig::default()
        };
        let broker = Broker::new();
        let mut server = Server::bind("127.0.0.1:0", broker.clone(), config)
            .await
            .expect("bind");
        let plain = server.local_addr().expect("addr");
        let tls = server
            .listen_tls("127.0.0.1:0", tls)
            .await
            .expect("bind tls")[0];
        let stop = server.shutdown_handle();
        let task = tokio::spawn(server.run());
        TlsServer {
            plain,
            tls,
            broker,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.shutdown();
        within(self.task).await.expect("join").expect("run");
    }

    /// lapin over `amqps://` trusting `pki`'s CA, with `client` as its identity.
    async fn lapin(
        &self,
        pki: &Pki,
        userinfo: &str,
        query: &str,
        client: Option<&ClientCert>,
    ) -> lapin::Result<Connection> {
        let uri = format!("amqps://{userinfo}{}/%2f{query}", self.tls);
        let config = OwnedTLSConfig {
            identity: client.map(|c| OwnedIdentity::PKCS8 {
                pem: c.cert_pem.clone().into_bytes(),
                key: c.key_pem.clone().into_bytes(),
            }),
            cert_chain: Some(pki.ca_pem.clone()),
        };
        let runtime = lapin::runtime::default_runtime().expect("lapin's tokio runtime");
        within(Connection::connect_with_config(
            &uri,
            ConnectionProperties::default(),
            config,
            runtime,
        ))
        .await
    }

    /// The users of the broker's open connections.
    fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = self
            .broker
            .connections()
            .into_iter()
            .map(|c| c.user)
            .collect();
        users.sort();
        users
    }
}

/// Declares an exclusive queue, publishes `body` to it with a confirm, consumes it
/// back and closes the channel.
async fn round_trip(conn: &Connection, queue: &str, body: &[u8]) {
    let ch = within(conn.create_channel()).await.expect("channel");
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .expect("confirm.select");
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..QueueDeclareOptions::default()
    };
    within(ch.queue_declare(s(queue), exclusive, FieldTable::default()))
        .await
        .expect("queue.declare");
    let mut consumer = within(ch.basic_consume(
        s(queue),
        s(""),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("basic.consume");
    let confirm = publish_confirmed(&ch, "", queue, body, BasicProperties::default(), false).await;
    assert!(confirm.is_ack(), "{confirm:?}");
    let d = next(&mut consumer)
        .await
        .expect("a delivery")
        .expect("delivery ok");
    assert_eq!(d.data.len(), body.len());
    assert!(d.data == body, "the body came back unchanged");
    within(d.ack(BasicAckOptions::default()))
        .await
        .expect("ack");
    // Closed here, not when dropped: a dropped channel's close races a connection
    // close that follows (lapin then fails it with "invalid channel state: Closing").
    within(ch.close(200, s("bye")))
        .await
        .expect("channel.close");
}

/// The error of a connection attempt that must fail.
fn refusal(r: lapin::Result<Connection>) -> lapin::Error {
    match r {
        Ok(_) => panic!("the connection was accepted"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapin_without_a_client_certificate() {
    let pki = Pki::new("lapin-plain");
    for verify in [TlsVerify::None, TlsVerify::VerifyPeer] {
        let server = TlsServer::start(&pki, verify, Limits::default()).await;
        let conn = server
            .lapin(&pki, "app:app-secret@", "", None)
            .await
            .expect("amqps with PLAIN");
        // 256 KiB: many frames, many TLS records.
        let body: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        round_trip(&conn, "tls-plain", &body).await;
        assert_eq!(server.users(), ["app"], "{verify}");
        within(conn.close(200, s("bye"))).await.expect("close");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_tls_makes_a_tls_only_server() {
    let pki = Pki::new("bind-tls");
    let tls = TlsConfig::builder(&pki.server_cert, &pki.server_key)
        .build()
        .expect("the test certificates load");
    let broker = Broker::new();
    let server = Server::bind_tls("127.0.0.1:0", tls, broker.clone(), ServerConfig::default())
        .await
        .expect("bind_tls");
    let addr = server.local_addr().expect("addr");
    assert_eq!(server.local_addrs(), [addr]);
    let stop = server.shutdown_handle();
    let task = tokio::spawn(server.run());
    let uri = format!("amqps://guest:guest@{addr}/%2f");
    let config = OwnedTLSConfig {
        identity: None,
        cert_chain: Some(pki.ca_pem.clone()),
    };
    let runtime = lapin::runtime::default_runtime().expect("lapin's tokio runtime");
    let conn = within(Connection::connect_with_config(
        &uri,
        ConnectionProperties::default(),
        config,
        runtime,
    ))
    .await
    .expect("amqps to a TLS-only server");
    round_trip(&conn, "tls-only", b"only tls").await;
    // Plain AMQP on it is not served.
    let plain = within(Connection::connect(
        &format!("amqp://guest:guest@{addr}/%2f"),
        ConnectionProperties::default(),
    ))
    .await;
    assert!(plain.is_err(), "plain AMQP was served on a TLS listener");
    within(conn.close(200, s("bye"))).await.expect("close");
    stop.shutdown();
    within(task).await.expect("join").expect("run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapin_with_a_client_certificate_logs_in_with_external() {
    let pki = Pki::new("lapin-external");
    let app = pki.client("app");
    for verify in [TlsVerify::VerifyPeer, TlsVerify::FailIfNoPeerCert] {
        let server = TlsServer::start(&pki, verify, Limits::default()).await;
        // No user in the URL: the certificate's common name is the user.
        let conn = server
            .lapin(&pki, "", "?auth_mechanism=external", Some(&app))
            .await
            .expect("EXTERNAL as app");
        round_trip(&conn, "tls-external", b"by certificate").await;
        assert_eq!(server.users(), ["app"], "{verify}");
        // A certificate does not stop PLAIN: its own user, password checked.
        let plain = server
            .lapin(&pki, "guest:guest@", "", Some(&app))
            .await
            .expect("PLAIN with a certificate");
        round_trip(&plain, "tls-plain-with-cert", b"by password").await;
        assert_eq!(server.users(), ["app", "guest"], "{verify}");
        within(conn.close(200, s("bye"))).await.expect("close");
        within(plain.close(200, s("bye"))).await.expect("close");
        server.stop().await;
    }
}

/// RabbitMQ's refusal: Close 403 with the mechanism's name, the reason only logged.
const EXTERNAL_REFUSED: &str = "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_is_refused_without_a_certificate_or_a_known_name() {
    let pki = Pki::new("external-refused");
    let server = TlsServer::start(&pki, TlsVerify::VerifyPeer, Limits::default()).await;
    let nobody = pki.client("nobody");
    let no_cn = pki.client("");
    for (what, client) in [
        ("no certificate", None),
        ("a name that is no user", Some(&nobody)),
        ("a certificate without a common name", Some(&no_cn)),
    ] {
        let e = refusal(
            server
                .lapin(&pki, "", "?auth_mechanism=external", client)
                .await,
        );
        assert_eq!(reply_code(&e), Some(403), "{what}: {e}");
        assert!(e.to_string().contains(EXTERNAL_REFUSED), "{what}: {e}");
    }
    // On the plain listener EXTERNAL is not offered: as RabbitMQ, the connection is
    // dropped without a Close.
    let uri = format!("amqp://{}/%2f?auth_mechanism=external", server.plain);
    let e = refusal(within(Connection::connect(&uri, ConnectionProperties::default())).await);
    assert_eq!(reply_code(&e), None, "plain listener: {e}");
    assert!(server.users().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_if_no_peer_cert_refuses_clients_without_a_verified_certificate() {
    let pki = Pki::new("fail-if-no-peer-cert");
    let other_ca = Pki::new("other-ca");
    let foreign = other_ca.client("app");
    let server = TlsServer::start(&pki, TlsVerify::FailIfNoPeerCert, Limits::default()).await;
    for (what, client) in [("no certificate", None), ("another CA's", Some(&foreign))] {
        let r = server.lapin(&pki, "app:app-secret@", "", client).await;
        assert!(r.is_err(), "{what}: accepted");
    }
    // Under verify_peer a foreign certificate fails too; no certificate is let in.
    let peer = TlsServer::start(&pki, TlsVerify::VerifyPeer, Limits::default()).await;
    let r = peer
        .lapin(&pki, "app:app-secret@", "", Some(&foreign))
        .await;
    assert!(r.is_err(), "verify_peer accepted another CA's certificate");
    assert!(server.users().is_empty() && peer.users().is_empty());
    // The listener still serves a good client.
    let good = server
        .lapin(
            &pki,
            "",
            "?auth_mechanism=external",
            Some(&pki.client("app")),
        )
        .await
        .expect("a verified certificate");
    round_trip(&good, "after-refusals", b"still serving").await;
    within(good.close(200, s("bye"))).await.expect("close");
    server.stop().await;
    peer.stop().await;
}

/// Reads what the server sends until it closes; `None` if it has not by `limit`.
async fn read_until_closed<S: AsyncRead + Unpin>(s: &mut S, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    match tokio::time::timeout(limit, s.read_to_end(&mut got)).await {
        Ok(_) => Some(got),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_amqp_on_the_tls_port_is_dropped() {
    let pki = Pki::new("plain-on-tls");
    let server = TlsServer::start(&pki, TlsVerify::VerifyPeer, Limits::default()).await;
    for bytes in [&b"AMQP\x00\x00\x09\x01"[..], b"GET / HTTP/1.1\r\n\r\n"] {
        let mut s = TcpStream::connect(server.tls).await.expect("connect");
        s.write_all(bytes).await.expect("write");
        let got = read_until_closed(&mut s, LIMIT)
            .await
            .expect("the server closes in time");
        // At most a TLS alert record (content type 21), never AMQP.
        assert!(got.is_empty() || got[0] == 21, "{got:?}");
    }
    let conn = server
        .lapin(&pki, "guest:guest@", "", None)
        .await
        .expect("the server still serves TLS");
    round_trip(&conn, "after-plain", b"fine").await;
    within(conn.close(200, s("bye"))).await.expect("close");
    server.stop().await;
}

/// The first 5 bytes of a TLS record that promises 512 more: a handshake that stalls.
const STALLED_RECORD: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_dropped_after_the_handshake_timeout() {
    let pki = Pki::new("stalled");
    let timeout = Duration::from_secs(3);
    let limits = Limits {
        handshake_timeout: timeout,
        ..Limits::default()
    };
    let server = TlsServer::start(&pki, TlsVerify::VerifyPeer, limits).await;
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(server.tls).await.expect("connect");
    let mut partial = TcpStream::connect(server.tls).await.expect("connect");
    partial.write_all(STALLED_RECORD).await.expect("write");
    // Meanwhile others are accepted and served: the handshake is not on the accept loop.
    let conn = server
        .lapin(&pki, "guest:guest@", "", None)
        .await
        .expect("a TLS client beside the stalled ones");
    round_trip(&conn, "beside-stalled", b"not blocked").await;
    let served = t0.elapsed();
    for s in [&mut silent, &mut partial] {
        let got = read_until_closed(s, LIMIT)
            .await
            .expect("the stalled handshake is dropped");
        assert!(got.is_empty() || got[0] == 21, "{got:?}");
    }
    let dropped = t0.elapsed();
    assert!(
        dropped >= timeout - Duration::from_millis(200),
        "dropped after {dropped:?}, before the {timeout:?} deadline"
    );
    assert!(
        served < dropped,
        "the TLS client ({served:?}) waited for the stalled ones ({dropped:?})"
    );
    within(conn.close(200, s("bye"))).await.expect("close");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_count_toward_max_connections() {
    let pki = Pki::new("max-connections");
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let server = TlsServer::start(&pki, TlsVerify::None, limits).await;
    // One connection in its TLS handshake holds the only slot...
    let mut first = TcpStream::connect(server.tls).await.expect("connect");
    first.write_all(STALLED_RECORD).await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ... so the next is closed at once, well before the 10 s handshake deadline.
    for addr in [server.tls, server.plain] {
        let mut second = TcpStream::connect(addr).await.expect("connect");
        let got = read_until_closed(&mut second, Duration::from_secs(5))
            .await
            .expect("refused at once");
        assert!(got.is_empty(), "{got:?}");
    }
    // Once it goes, its slot is free again.
    drop(first);
    let deadline = Instant::now() + LIMIT;
    let conn = loop {
        match server.lapin(&pki, "guest:guest@", "", None).await {
            Ok(conn) => break conn,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the slot was not freed: {e}"),
        }
    };
    round_trip(&conn, "freed", b"slot").await;
    within(conn.close(200, s("bye"))).await.expect("close");
    server.stop().await;
}

/// A TLS connection to `addr` trusting `pki`'s CA, without a client certificate: a
/// raw stream for hand-written frames.
async fn raw_tls(pki: &Pki, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&pki.ca).expect("CA file") {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    within(connector.connect(name, tcp))
        .await
        .expect("TLS handshake")
}

/// The mechanisms of the Start frame the server sends on `stream`.
async fn start_mechanisms<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S) -> String {
    stream
        .write_all(b"AMQP\x00\x00\x09\x01")
        .await
        .expect("header");
    let mut head = [0u8; 7];
    within(stream.read_exact(&mut head))
        .await
        .expect("frame header");
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    let mut payload = vec![0u8; size + 1];
    within(stream.read_exact(&mut payload))
        .await
        .expect("frame payload");
    assert_eq!(&payload[..4], &[0, 10, 0, 10], "connection.start");
    // version-major, version-minor, server-properties (a table), mechanisms.
    let props = u32::from_be_bytes([payload[6], payload[7], payload[8], payload[9]]) as usize;
    let at = 10 + props;
    let len = u32::from_be_bytes([
        payload[at],
        payload[at + 1],
        payload[at + 2],
        payload[at + 3],
    ]) as usize;
    String::from_utf8(payload[at + 4..at + 4 + len].to_vec()).expect("UTF-8 mechanisms")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_offers_external_on_tls_connections_only() {
    let pki = Pki::new("mechanisms");
    let server = TlsServer::start(&pki, TlsVerify::VerifyPeer, Limits::default()).await;
    let mut plain = TcpStream::connect(server.plain).await.expect("connect");
    assert_eq!(start_mechanisms(&mut plain).await, "PLAIN AMQPLAIN");

    // As RabbitMQ with rabbitmq_auth_mechanism_ssl: offered with a certificate or
    // without (then refused at start-ok).
    let mut tls = raw_tls(&pki, server.tls).await;
    assert_eq!(start_mechanisms(&mut tls).await, "PLAIN AMQPLAIN EXTERNAL");
    server.stop().await;
}

/// Start-ok with `mechanism`, an empty response and the `authentication_failure_close`
/// capability; then everything the server sends until it closes.
async fn start_ok_then_close<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    mechanism: &str,
) -> Vec<u8> {
    let short = |s: &str| [&[s.len() as u8][..], s.as_bytes()].concat();
    let table = |entries: &[u8]| [&(entries.len() as u32).to_be_bytes()[..], entries].concat();
    let caps = table(&[&short("authentication_failure_close")[..], b"t", &[1]].concat());
    let props = table(&[&short("capabilities")[..], b"F", &caps].concat());
    let mut payload = vec![0, 10, 0, 11];
    payload.extend(props);
    payload.extend(short(mechanism));
    payload.extend(0u32.to_be_bytes());
    payload.extend(short("en_US"));
    let mut frame = vec![1, 0, 0];
    frame.extend((payload.len() as u32).to_be_bytes());
    frame.extend(payload);
    frame.push(0xce);
    stream.write_all(&frame).await.expect("start-ok");
    read_until_closed(stream, LIMIT)
        .await
        .expect("the server closes in time")
}

/// The reply code, text, class and method of the Connection.Close that `bytes` start
/// with.
fn connection_close(bytes: &[u8]) -> Option<(u16, String, u16, u16)> {
    let p = bytes.get(7..)?;
    if bytes[0] != 1 || p.get(..4)? != [0, 10, 0, 50] {
        return None;
    }
    let code = u16::from_be_bytes([p[4], p[5]]);
    let len = usize::from(p[6]);
    let text = String::from_utf8(p.get(7..7 + len)?.to_vec()).ok()?;
    let ids = p.get(7 + len..11 + len)?;
    let class = u16::from_be_bytes([ids[0], ids[1]]);
    let method = u16::from_be_bytes([ids[2], ids[3]]);
    Some((code, text, class, method))
}

/// As RabbitMQ 3.10.8 (docs/probes/probe_tls.py): a refused login (EXTERNAL without
/// a certificate; PLAIN with a bad response) is Close 403 with class and method 0; a
/// mechanism that was not offered (EXTERNAL on plain TCP, an unknown one) is dropped
/// without a Close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_on_the_wire() {
    let pki = Pki::new("refusals");
    let server = TlsServer::start(&pki, TlsVerify::VerifyPeer, Limits::default()).await;
    for (mechanism, close) in [
        ("EXTERNAL", None),
        ("FOO", None),
        (
            "PLAIN",
            Some((403, EXTERNAL_REFUSED.replace("EXTERNAL", "PLAIN"), 0, 0)),
        ),
    ] {
        let mut plain = TcpStream::connect(server.plain).await.expect("connect");
        start_mechanisms(&mut plain).await;
        let got = start_ok_then_close(&mut plain, mechanism).await;
        assert_eq!(connection_close(&got), close, "{mechanism}: {got:?}");
        if close.is_none() {
            assert_eq!(got, b"", "{mechanism}");
        }
    }

    let mut tls = raw_tls(&pki, server.tls).await;
    start_mechanisms(&mut tls).await;
    let got = start_ok_then_close(&mut tls, "EXTERNAL").await;
    assert_eq!(
        connection_close(&got),
        Some((403, EXTERNAL_REFUSED.to_string(), 0, 0)),
        "{got:?}"
    );
    server.stop().await;
}

#[test]
fn tls_config_errors_name_the_file_and_the_problem() {
    let pki = Pki::new("config-errors");
    let other = Pki::new("config-errors-other");
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").expect("write");
    let truncated = pki.dir.join("truncated.pem");
    let ca_text = std::fs::read_to_string(&pki.ca).expect("CA");
    std::fs::write(&truncated, &ca_text[..ca_text.len() / 2]).expect("write");
    let missing = pki.dir.join("missing.pem");
    let build = |cert: &std::path::Path, key: &std::path::Path| TlsConfig::builder(cert, key);
    let cases = [
        (build(&missing, &pki.server_key).build(), "cannot read"),
        (
            build(&garbage, &pki.server_key).build(),
            "no PEM certificate",
        ),
        (build(&truncated, &pki.server_key).build(), "bad PEM"),
        (
            build(&pki.server_cert, &pki.server_cert).build(),
            "no PEM private key",
        ),
        (
            build(&pki.server_cert, &other.server_key).build(),
            "does not match the certificate",
        ),
        (
            build(&pki.server_cert, &pki.server_key)
                .verify(TlsVerify::VerifyPeer)
                .build(),
            "needs a client CA file",
        ),
        (
            build(&pki.server_cert, &pki.server_key)
                .client_ca(&garbage)
                .build(),
            "no PEM certificate",
        ),
    ];
    for (result, needle) in cases {
        let e = result.expect_err(needle).to_string();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
        assert!(e.starts_with("invalid TLS configuration: "), "{e}");
    }
    let missing_name = missing.display().to_string();
    let e = build(&missing, &pki.server_key).build().unwrap_err();
    assert!(e.to_string().contains(&missing_name), "{e}");
    // Defaults: verify_peer with a client CA, none without.
    let with_ca = build(&pki.server_cert, &pki.server_key)
        .client_ca(&pki.ca)
        .build()
        .expect("loads");
    assert_eq!(with_ca.verify(), TlsVerify::VerifyPeer);
    let without = build(&pki.server_cert, &pki.server_key)
        .build()
        .expect("loads");
    assert_eq!(without.verify(), TlsVerify::None);
    assert_eq!(
        "sometimes".parse::<TlsVerify>().unwrap_err().to_string(),
        "invalid TLS configuration: unknown verification mode \"sometimes\" (expected none, verify_peer or fail_if_no_peer_cert)"
    );
}

#[test]
fn tls_types_are_send_and_sync() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<TlsConfig>();
    check::<TlsVerify>();
    check::<trackswitch::amqp::TlsError>();
    check::<trackswitch::amqp::TlsConfigBuilder>();
}

#[test]
fn serve_tls_flags_are_checked_before_anything_starts() {
    let pki = Pki::new("serve-flags");
    let path = |p: &std::path::Path| p.to_str().expect("UTF-8 path").to_string();
    let (cert, key) = (path(&pki.server_cert), path(&pki.server_key));
    let missing = path(&pki.dir.join("missing.pem"));
    let cases: [(&[&str], &str); 5] = [
        (
            &["--tls-listen", "127.0.0.1:0"],
            "required arguments were not provided",
        ),
        (
            &["--tls-cert", &cert, "--tls-key", &key],
            "--tls-listen <ADDR>",
        ),
        (
            &[
                "--tls-listen",
                "127.0.0.1:0",
                "--tls-cert",
                &missing,
                "--tls-key",
                &key,
            ],
            "trackswitch: invalid TLS configuration: cannot read",
        ),
        (
            &[
                "--tls-listen",
                "127.0.0.1:0",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-verify",
                "verify_peer",
            ],
            "verification mode verify_peer needs a client CA file",
        ),
        (
            &[
                "--tls-listen",
                "127.0.0.1:0",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-verify",
                "sometimes",
            ],
            "invalid value 'sometimes' for '--tls-verify <MODE>'",
        ),
    ];
    for (args, needle) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trackswitch"))
            .args([
                "serve",
                "--in-memory",
                "--listen",
                "127.0.0.1:0",
                "--management",
                "127.0.0.1:0",
            ])
            .args(args)
            .output()
            .expect("run trackswitch");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
}
