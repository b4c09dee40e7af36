//! `trackswitch serve`'s users and listeners as RabbitMQ users set them: `--user
//! NAME:PASSWORD`, the default-user environment variables (ours and RabbitMQ's), guest
//! replaced by them, and `localhost` bound on every loopback address it names. Each
//! server listens on port 0 and every wait is bounded.
#![cfg(feature = "server")]

mod amqp_common;

use amqp_common::*;
use lapin::{Connection, ConnectionProperties};
use trackswitch::amqp::{Server, ServerConfig};
use trackswitch::broker::Broker;

async fn login(addr: &str, user: &str, password: &str) -> Result<(), String> {
    let uri = format!("amqp://{user}:{password}@{addr}/%2f");
    match within(Connection::connect(&uri, ConnectionProperties::default())).await {
        Ok(conn) => {
            within(conn.close(200, s("bye")))
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_flags_replace_guest() {
    let (_serve, addr) = serve(&[
        "--user",
        "rabbitmqlogin:rabbitmqpassword",
        "--user",
        "second:pa:ss",
    ]);
    login(&addr, "rabbitmqlogin", "rabbitmqpassword")
        .await
        .expect("the --user user logs in");
    login(&addr, "second", "pa:ss")
        .await
        .expect("the password is what follows the first ':'");
    assert!(login(&addr, "rabbitmqlogin", "wrong").await.is_err());
    assert!(
        login(&addr, "guest", "guest").await.is_err(),
        "guest is not created beside --user"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_user_from_the_environment() {
    for (user, pass) in [
        ("TRACKSWITCH_DEFAULT_USER", "TRACKSWITCH_DEFAULT_PASS"),
        ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"),
    ] {
        let (_serve, addr) = serve_with_env(&[], &[(user, "app"), (pass, "secret")]);
        login(&addr, "app", "secret")
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert!(login(&addr, "guest", "guest").await.is_err(), "{user}");
    }
    // Without any, guest/guest from loopback.
    let (_serve, addr) = serve(&[]);
    login(&addr, "guest", "guest")
        .await
        .expect("guest by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_user_flag_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .args(["serve", "--listen", "127.0.0.1:0", "--user", "nopassword"])
        .output()
        .expect("run trackswitch");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'nopassword' for '--user <NAME:PASSWORD>'"),
        "{err}"
    );
}

/// `--listen localhost:PORT` (the default is `localhost:5672`) binds 127.0.0.1 and,
/// where the machine has IPv6 loopback, ::1, whatever the resolver says; clients reach
/// the broker on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_binds_both_loopback_addresses() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .args(["serve", "--listen", "localhost:0"])
        .env("TRACKSWITCH_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start trackswitch serve");
    let stderr = child.stderr.take().expect("stderr");
    // Killed however the test ends.
    let _child = ServeProcess::from(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("server: {line}");
            if line.contains("listening") {
                let _ = tx.send(line);
            }
        }
    });
    let want_v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let mut addrs = Vec::new();
    for _ in 0..1 + usize::from(want_v6) {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a listening line");
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .expect("addr=")
            .to_owned();
        addrs.push(addr);
    }
    assert!(
        addrs.iter().any(|a| a.starts_with("127.0.0.1:")),
        "{addrs:?}"
    );
    assert_eq!(
        addrs.iter().any(|a| a.starts_with("[::1]:")),
        want_v6,
        "{addrs:?}"
    );
    // The AMQP handshake starts on each (lapin's URIs take no IPv6 literal).
    for a in &addrs {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = within(tokio::net::TcpStream::connect(a.as_str()))
            .await
            .unwrap_or_else(|e| panic!("{a}: {e}"));
        s.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let mut first = [0u8; 11];
        within(s.read_exact(&mut first)).await.unwrap();
        assert_eq!(first[0], 1, "{a}: a method frame");
        assert_eq!(&first[7..11], &[0, 10, 0, 10], "{a}: connection.start");
    }
}

/// A library server binds every address a name resolves to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_binds_every_resolved_address() {
    let both: [std::net::SocketAddr; 2] = [
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.2:0".parse().unwrap(),
    ];
    let server = Server::bind(&both[..], Broker::new(), ServerConfig::default())
        .await
        .expect("bind");
    let addrs = server.local_addrs();
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    let stop = server.shutdown_handle();
    let task = tokio::spawn(server.run());
    for a in &addrs {
        login(&a.to_string(), "guest", "guest")
            .await
            .unwrap_or_else(|e| panic!("{a}: {e}"));
    }
    stop.shutdown();
    within(task).await.unwrap().unwrap();
}
