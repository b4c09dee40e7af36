//! Per-user vhost permissions on the wire: `ServerConfig::permissions` through lapin
//! and raw frames. The codes, texts and class/method ids are what RabbitMQ 3.10.8
//! answered in the same situations (`docs/probes/probe_permissions.py`, findings in
//! `docs/rabbitmq-3.10.8-wire-facts.md`, "Permissions"). Each test starts its own
//! server on `127.0.0.1:0`; every wait is bounded.
#![cfg(feature = "server")]

mod amqp_common;

use amqp_common::raw::{frames, ids, method, read_to_end, read_until, short};
use amqp_common::*;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use trackswitch::amqp::{ServerConfig, User, UserPermissions};
use trackswitch::broker::{Permissions, UserRecord};

/// guest (all on `/`), and `app` / `pw` with `app`'s permissions on `/`; the vhost
/// `staging`, where nobody has permissions.
async fn server(app: Permissions) -> TestServer {
    let grant = |user: &str, permissions: Permissions| UserPermissions {
        user: user.into(),
        vhost: "/".into(),
        permissions,
    };
    TestServer::with_config(ServerConfig {
        users: vec![User::guest(), User::new("app", "pw")],
        vhosts: vec!["staging".into()],
        permissions: Some(vec![grant("guest", Permissions::all()), grant("app", app)]),
        ..ServerConfig::default()
    })
    .await
}

async fn connect_as(server: &TestServer, user: &str, vhost: &str) -> lapin::Result<Connection> {
    let uri = format!(
        "amqp://{user}:pw@{}/{}",
        server.addr,
        vhost.replace('/', "%2f")
    );
    within(Connection::connect(&uri, ConnectionProperties::default())).await
}

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.expect("channel")
}

/// The code and text of a channel or connection error.
fn reply(e: &lapin::Error) -> (u16, String) {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(e) => (e.get_id(), e.get_message().to_string()),
        other => panic!("not a protocol error: {other:?}"),
    }
}

fn refused(kind: &str, name: &str, user: &str) -> (u16, String) {
    (
        403,
        format!(
            "ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user '{user}'"
        ),
    )
}

async fn declare(ch: &Channel, queue: &str) -> lapin::Result<()> {
    within(ch.queue_declare(
        s(queue),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vhost_access_is_refused_on_connection_open() {
    let server = server(Permissions::all()).await;
    let e = connect_as(&server, "app", "staging").await.unwrap_err();
    assert_eq!(
        reply(&e),
        (
            530,
            "NOT_ALLOWED - access to vhost 'staging' refused for user 'app'".into()
        )
    );
    // A missing vhost is reported as before, whoever asks.
    let e = connect_as(&server, "app", "nosuch").await.unwrap_err();
    assert_eq!(
        reply(&e),
        (530, "NOT_ALLOWED - vhost nosuch not found".into())
    );
    // Where it has permissions, it opens.
    let conn = connect_as(&server, "app", "/").await.unwrap();
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// The refusal on the wire: Connection.Close(530, text, 10, 40), then the server
/// closes the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vhost_refusal_frames_are_rabbitmqs() {
    let server = server(Permissions::all()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(&handshake_as("app", "pw", "staging"))
        .await
        .unwrap();
    let got = read_to_end(&mut s).await;
    let close = frames(&got)
        .into_iter()
        .find(|(t, c, p)| *t == 1 && *c == 0 && ids(p) == (10, 50))
        .expect("a Connection.Close");
    let text = "NOT_ALLOWED - access to vhost 'staging' refused for user 'app'";
    let mut want = 530u16.to_be_bytes().to_vec();
    want.extend(short(text));
    want.extend([0, 10, 0, 40]);
    assert_eq!(close.2[4..], want[..]);
    server.stop().await;
}

/// A refused queue.declare on the wire: Channel.Close(403, text, 50, 10) on its
/// channel; the connection stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_frames_close_the_channel_with_the_methods_ids() {
    let server = server(Permissions::new("^app\\.", ".*", ".*")).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut bytes = handshake_as("app", "pw", "/");
    bytes.extend(method(1, 20, 10, &short("")));
    bytes.extend(amqp_common::raw::declare_queue(1, "other"));
    s.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    let fs = read_until(&mut s, &mut got, |fs| {
        fs.iter()
            .any(|(t, c, p)| *t == 1 && *c == 1 && ids(p) == (20, 40))
    })
    .await;
    let (_, _, close) = fs
        .iter()
        .find(|(t, c, p)| *t == 1 && *c == 1 && ids(p) == (20, 40))
        .unwrap();
    let text = "ACCESS_REFUSED - access to queue 'other' in vhost '/' refused for user 'app'";
    let mut want = 403u16.to_be_bytes().to_vec();
    want.extend(short(text));
    want.extend([0, 50, 0, 10]);
    assert_eq!(close[4..], want[..]);
    assert!(
        !fs.iter().any(|(_, c, p)| *c == 0 && ids(p) == (10, 50)),
        "no Connection.Close"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_is_refused_on_declare_and_delete() {
    let server = server(Permissions::new("^app\\.", ".*", ".*")).await;
    let conn = connect_as(&server, "app", "/").await.unwrap();
    let ch = channel(&conn).await;
    let e = declare(&ch, "other").await.unwrap_err();
    assert_eq!(reply(&e), refused("queue", "other", "app"));
    // The channel is closed, the connection is not.
    assert!(declare(&ch, "app.q").await.is_err());
    let ch = channel(&conn).await;
    declare(&ch, "app.q").await.unwrap();
    // Server-named queues are `amq.gen-...`, which `^app\.` does not allow.
    let e = declare(&ch, "").await.unwrap_err();
    let (code, text) = reply(&e);
    assert_eq!(code, 403);
    assert!(
        text.starts_with("ACCESS_REFUSED - access to queue 'amq.gen-")
            && text.ends_with("' in vhost '/' refused for user 'app'"),
        "{text}"
    );
    let ch = channel(&conn).await;
    let e = within(ch.exchange_declare(
        s("logs"),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap_err();
    assert_eq!(reply(&e), refused("exchange", "logs", "app"));
    let ch = channel(&conn).await;
    let e = within(ch.queue_delete(s("q-missing"), QueueDeleteOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(reply(&e), refused("queue", "q-missing", "app"));
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// RabbitMQ closes the channel with 403 on a refused publish, in confirm mode too
/// (no nack).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_is_refused_on_publish_with_and_without_confirms() {
    let server = server(Permissions::new(".*", "^app\\.", ".*")).await;
    let conn = connect_as(&server, "app", "/").await.unwrap();

    // Without confirms: the channel closes; the next method sees it.
    let ch = channel(&conn).await;
    declare(&ch, "q").await.unwrap();
    within(ch.basic_publish(
        s(""),
        s("q"),
        BasicPublishOptions::default(),
        b"m",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    let e = declare(&ch, "q").await.unwrap_err();
    match e.kind() {
        // On a loaded machine lapin may take the Channel.Close before it sends the
        // declare; it then reports the closed channel, not the close's reply (the
        // confirm case below checks the reply).
        lapin::ErrorKind::InvalidChannelState(..) => assert!(!ch.status().connected()),
        _ => assert_eq!(reply(&e), refused("exchange", "amq.default", "app")),
    }

    // With confirms: the confirm fails with the channel's close.
    let ch = channel(&conn).await;
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let confirm = within(ch.basic_publish(
        s("amq.direct"),
        s("k"),
        BasicPublishOptions::default(),
        b"m",
        BasicProperties::default(),
    ))
    .await;
    let e = match confirm {
        Ok(pending) => within(pending).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(reply(&e), refused("exchange", "amq.direct", "app"));
    assert!(!ch.status().connected());

    // An allowed exchange takes the publish, confirmed (binding needs write on the
    // queue too).
    let ch = channel(&conn).await;
    declare(&ch, "app.q").await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    within(ch.exchange_declare(
        s("app.x"),
        lapin::ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.queue_bind(
        s("app.q"),
        s("app.x"),
        s(""),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let c = publish_confirmed(&ch, "app.x", "", b"m", BasicProperties::default(), false).await;
    assert!(matches!(c, Confirmation::Ack(None)), "{c:?}");
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_is_refused_on_consume_get_and_purge() {
    let server = server(Permissions::new(".*", ".*", "^app\\.")).await;
    let conn = connect_as(&server, "app", "/").await.unwrap();
    let ch = channel(&conn).await;
    declare(&ch, "q").await.unwrap();
    let e = within(ch.basic_consume(
        s("q"),
        s(""),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap_err();
    assert_eq!(reply(&e), refused("queue", "q", "app"));
    let ch = channel(&conn).await;
    let e = within(ch.basic_get(s("q"), BasicGetOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(reply(&e), refused("queue", "q", "app"));
    let ch = channel(&conn).await;
    let e = within(ch.queue_purge(s("q"), QueuePurgeOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(reply(&e), refused("queue", "q", "app"));
    // Before the lookup: a missing queue is 403, not 404.
    let ch = channel(&conn).await;
    let e = within(ch.basic_get(s("q-missing"), BasicGetOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(reply(&e), refused("queue", "q-missing", "app"));
    // An allowed queue is consumed.
    let ch = channel(&conn).await;
    declare(&ch, "app.q").await.unwrap();
    within(ch.basic_consume(
        s("app.q"),
        s(""),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// Binding needs write on the destination, then read on the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_check_write_on_the_destination_then_read_on_the_source() {
    let server = server(Permissions::new(".*", "^q-", "^x-")).await;
    let conn = connect_as(&server, "app", "/").await.unwrap();
    let ch = channel(&conn).await;
    for q in ["q-1", "app-q"] {
        declare(&ch, q).await.unwrap();
    }
    for x in ["x-1", "x2"] {
        within(ch.exchange_declare(
            s(x),
            lapin::ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    let bind = |ch: Channel, q: &'static str, x: &'static str| async move {
        within(ch.queue_bind(
            s(q),
            s(x),
            s("k"),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
    };
    bind(ch.clone(), "q-1", "x-1").await.unwrap();
    let e = bind(ch, "app-q", "x-1").await.unwrap_err();
    assert_eq!(reply(&e), refused("queue", "app-q", "app"));
    let e = bind(channel(&conn).await, "q-1", "x2").await.unwrap_err();
    assert_eq!(reply(&e), refused("exchange", "x2", "app"));
    // exchange.bind: the destination `x2` is not writable.
    let ch = channel(&conn).await;
    let e = within(ch.exchange_bind(
        s("x2"),
        s("x-1"),
        s("k"),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap_err();
    assert_eq!(reply(&e), refused("exchange", "x2", "app"));
    // Unbinding checks the same, before anything is looked up.
    let ch = channel(&conn).await;
    let e = within(ch.queue_unbind(s("q-1"), s("missing"), s("k"), FieldTable::default()))
        .await
        .unwrap_err();
    assert_eq!(reply(&e), refused("exchange", "missing", "app"));
    within(conn.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// A user with all permissions (guest here) sees no difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permitted_user_is_unaffected() {
    let server = server(Permissions::new("", "", "")).await;
    let conn = server.connect("").await;
    let ch = channel(&conn).await;
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    declare(&ch, "work").await.unwrap();
    for i in 0..10u8 {
        let c = publish_confirmed(&ch, "", "work", &[i], BasicProperties::default(), false).await;
        assert!(matches!(c, Confirmation::Ack(None)), "{c:?}");
    }
    let mut consumer = within(ch.basic_consume(
        s("work"),
        s(""),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for i in 0..10u8 {
        let d = next(&mut consumer).await.unwrap().unwrap();
        assert_eq!(d.data, [i]);
    }
    within(ch.queue_delete(s("work"), QueueDeleteOptions::default()))
        .await
        .unwrap();
    // `app` (all denied) opens `/` and nothing else.
    let app = connect_as(&server, "app", "/").await.unwrap();
    let ch = channel(&app).await;
    let e = declare(&ch, "mine").await.unwrap_err();
    assert_eq!(reply(&e), refused("queue", "mine", "app"));
    within(conn.close(200, s("bye"))).await.unwrap();
    within(app.close(200, s("bye"))).await.unwrap();
    server.stop().await;
}

/// Without `permissions` in the configuration every configured user may do
/// everything in every vhost, as before permissions existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permissions_every_user_has_every_vhost() {
    let server = TestServer::with_config(ServerConfig {
        users: vec![User::new("app", "pw")],
        vhosts: vec!["staging".into()],
        ..ServerConfig::default()
    })
    .await;
    for vhost in ["/", "staging"] {
        let conn = connect_as(&server, "app", vhost).await.unwrap();
        let ch = channel(&conn).await;
        declare(&ch, "anything").await.unwrap();
        within(conn.close(200, s("bye"))).await.unwrap();
    }
    assert_eq!(
        server.broker.permissions("app"),
        [
            ("/".to_string(), Permissions::all()),
            ("staging".to_string(), Permissions::all())
        ]
    );
    server.stop().await;
}

/// Logins are checked against the broker's user store: a user added to it (e.g. by
/// a definitions import) logs in; its permissions apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_the_brokers_store_log_in() {
    let server = server(Permissions::all()).await;
    let hash = trackswitch::amqp::hash_password("pw", [1, 2, 3, 4]);
    server.broker.add_user(UserRecord::new("late", hash));
    assert!(
        connect_as(&server, "late", "/").await.is_err(),
        "no permissions yet"
    );
    server
        .broker
        .set_permissions("late", "/", Permissions::new("", ".*", ""))
        .unwrap();
    let conn = connect_as(&server, "late", "/").await.unwrap();
    let ch = channel(&conn).await;
    let e = declare(&ch, "q").await.unwrap_err();
    assert_eq!(reply(&e), refused("queue", "q", "late"));
    within(conn.close(200, s("bye"))).await.unwrap();
    // A hash of another algorithm cannot be verified: the login is refused.
    let mut other = UserRecord::new("sha512", trackswitch::amqp::hash_password("pw", [0; 4]));
    other.hashing_algorithm = "rabbit_password_hashing_sha512".into();
    server.broker.add_user(other);
    server
        .broker
        .set_permissions("sha512", "/", Permissions::all())
        .unwrap();
    assert!(connect_as(&server, "sha512", "/").await.is_err());
    server.stop().await;
}

/// Header, Start-Ok (PLAIN `user`/`password`), Tune-Ok, Open of `vhost`.
fn handshake_as(user: &str, password: &str, vhost: &str) -> Vec<u8> {
    let mut out = b"AMQP\x00\x00\x09\x01".to_vec();
    let mut start_ok = vec![0, 0, 0, 0];
    start_ok.extend(short("PLAIN"));
    let response = format!("\0{user}\0{password}");
    start_ok.extend_from_slice(&(response.len() as u32).to_be_bytes());
    start_ok.extend_from_slice(response.as_bytes());
    start_ok.extend(short("en_US"));
    out.extend(method(0, 10, 11, &start_ok));
    let mut tune_ok = 0u16.to_be_bytes().to_vec();
    tune_ok.extend_from_slice(&4096u32.to_be_bytes());
    tune_ok.extend_from_slice(&0u16.to_be_bytes());
    out.extend(method(0, 10, 31, &tune_ok));
    let mut open = short(vhost);
    open.extend([0, 0]);
    out.extend(method(0, 10, 40, &open));
    out
}
