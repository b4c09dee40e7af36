//! `trackswitch serve`'s users and listeners as RabbitMQ users set them: `--user
//! NAME:PASSWORD`, the default-user environment variables (ours and RabbitMQ's), guest
//! replaced by them, and `localhost` bound on every loopback address it names; the
//! permissions a config file gives (or, without its `permissions` key, the defaults:
//! the default user all on `/` as RabbitMQ's, listed users everything) and its errors.
//! Each server listens on port 0 and every wait is bounded.
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
        .args([
            "serve",
            "--in-memory",
            "--listen",
            "127.0.0.1:0",
            "--management",
            "127.0.0.1:0",
            "--user",
            "nopassword",
        ])
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
        .args([
            "serve",
            "--in-memory",
            "--listen",
            "localhost:0",
            "--management",
            "127.0.0.1:0",
        ])
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

// ----- permissions -----

/// Writes `text` to a fresh file in the temp directory; returns its path.
fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("trackswitch-perms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Opens `vhost` as `user` and declares `queue`: Ok, or the error's text.
async fn declare_as(addr: &str, user: &str, vhost: &str, queue: &str) -> Result<(), String> {
    let uri = format!("amqp://{user}:pw@{addr}/{}", vhost.replace('/', "%2f"));
    let conn = within(Connection::connect(&uri, ConnectionProperties::default()))
        .await
        .map_err(|e| e.to_string())?;
    let ch = within(conn.create_channel())
        .await
        .map_err(|e| e.to_string())?;
    let r = within(ch.queue_declare(
        s(queue),
        lapin::options::QueueDeclareOptions::default(),
        lapin::types::FieldTable::default(),
    ))
    .await
    .map(drop)
    .map_err(|e| e.to_string());
    let _ = within(conn.close(200, s("bye"))).await;
    r
}

fn assert_refused(r: Result<(), String>, text: &str) {
    let e = r.expect_err(text);
    assert!(e.contains(text), "{e}");
}

/// Without a config file: the default user has all permissions on `/` and nothing
/// elsewhere (RabbitMQ's default user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_user_gets_slash_only() {
    let defs = temp_file(
        "topology.json",
        r#"{"vhosts": [{"name": "staging"}],
            "queues": [{"name": "q", "vhost": "staging", "durable": true}]}"#,
    );
    let (_serve, addr) = serve_with_env(
        &["--definitions", &defs],
        &[
            ("TRACKSWITCH_DEFAULT_USER", "boss"),
            ("TRACKSWITCH_DEFAULT_PASS", "pw"),
        ],
    );
    declare_as(&addr, "boss", "/", "anything").await.unwrap();
    assert_refused(
        declare_as(&addr, "boss", "staging", "q").await,
        "NOT_ALLOWED - access to vhost 'staging' refused for user 'boss'",
    );
}

/// A config file that lists users but no permissions: every user everywhere, as
/// before permissions existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_users_without_permissions_have_every_vhost() {
    let config = temp_file(
        "users.json",
        r#"{"users": [{"name": "app", "password": "pw"}], "vhosts": ["staging"]}"#,
    );
    let (_serve, addr) = serve(&["--config", &config, "--user", "extra:pw"]);
    for user in ["app", "extra"] {
        for vhost in ["/", "staging"] {
            declare_as(&addr, user, vhost, "anything")
                .await
                .unwrap_or_else(|e| panic!("{user} {vhost}: {e}"));
        }
    }
}

/// With a `permissions` key: exactly what it lists; the default user keeps `/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permissions_key_is_exact() {
    let config = temp_file(
        "permissions.json",
        r#"{"users": [{"name": "app", "password": "pw"}, {"name": "nobody", "password": "pw"}],
            "vhosts": ["staging"],
            "permissions": [
              {"user": "app", "vhost": "staging", "configure": "^app\\.", "write": ".*", "read": ".*"}
            ]}"#,
    );
    let (_serve, addr) = serve(&["--config", &config, "--user", "boss:pw"]);
    declare_as(&addr, "app", "staging", "app.q").await.unwrap();
    assert_refused(
        declare_as(&addr, "app", "staging", "other").await,
        "ACCESS_REFUSED - access to queue 'other' in vhost 'staging' refused for user 'app'",
    );
    assert_refused(
        declare_as(&addr, "app", "/", "app.q").await,
        "NOT_ALLOWED - access to vhost '/' refused for user 'app'",
    );
    assert_refused(
        declare_as(&addr, "nobody", "/", "q").await,
        "NOT_ALLOWED - access to vhost '/' refused for user 'nobody'",
    );
    declare_as(&addr, "boss", "/", "q").await.unwrap();
    assert_refused(
        declare_as(&addr, "boss", "staging", "q").await,
        "NOT_ALLOWED - access to vhost 'staging' refused for user 'boss'",
    );
}

/// Users and permissions from `--definitions` log in and apply; they replace the
/// default guest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_bring_users_and_permissions() {
    let hash = trackswitch::amqp::hash_password("pw", [9, 8, 7, 6]);
    let defs = temp_file(
        "users-defs.json",
        &format!(
            r#"{{"users": [{{"name": "app", "password_hash": "{hash}",
                           "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}}],
                "permissions": [{{"user": "app", "vhost": "/", "configure": "^app",
                                  "write": ".*", "read": ".*"}}]}}"#
        ),
    );
    let (_serve, addr) = serve(&["--definitions", &defs]);
    declare_as(&addr, "app", "/", "app-q").await.unwrap();
    assert_refused(
        declare_as(&addr, "app", "/", "q").await,
        "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'app'",
    );
    assert!(
        login(&addr, "guest", "guest").await.is_err(),
        "no default guest"
    );
}

/// Runs `trackswitch serve` with `args` until it exits (at most 30 s); returns its
/// status and stderr.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .args([
            "serve",
            "--in-memory",
            "--listen",
            "127.0.0.1:0",
            "--management",
            "127.0.0.1:0",
        ])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trackswitch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("trackswitch serve {args:?} did not exit");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn bad_permissions_are_input_errors() {
    for (name, text, message) in [
        (
            "bad-regex.json",
            r#"{"permissions": [{"user": "guest", "vhost": "/", "configure": "(", "write": "", "read": ""}]}"#,
            "invalid server configuration: permissions[0].configure: invalid regex '(': unclosed group at line 1 column 65",
        ),
        (
            "unknown-user.json",
            r#"{"permissions": [{"user": "ghost", "vhost": "/", "configure": "", "write": "", "read": ""}]}"#,
            "invalid server configuration: permissions[0]: user 'ghost' does not exist",
        ),
        (
            "unknown-vhost.json",
            r#"{"vhosts": ["a"], "permissions": [{"user": "guest", "vhost": "b", "configure": "", "write": "", "read": ""}]}"#,
            "invalid server configuration: permissions[0]: vhost 'b' does not exist",
        ),
        (
            "missing-read.json",
            r#"{"permissions": [{"user": "guest", "vhost": "/", "configure": "", "write": ""}]}"#,
            "invalid server configuration: permissions[0]: missing field `read`",
        ),
    ] {
        let path = temp_file(name, text);
        let (status, err) = run_to_exit(&["--config", &path]);
        assert_eq!(status, Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("trackswitch: {path}: {message}")),
            "{name}: {err}"
        );
    }
}
