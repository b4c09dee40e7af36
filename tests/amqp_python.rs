//! Real Python clients against the `trackswitch serve` binary: the pika (blocking) and
//! aiormq scenarios of `tests/python/interop.py` (publish/consume with manual ack,
//! prefetch, nack with requeue, confirms, mandatory return, topic routing, exclusive
//! queues and channel errors, the seed's aiormq consumer fed by a pika publisher,
//! transactions, idempotent unbind, a 17 MiB message, the default exchange declared,
//! channel numbers against channel_max, quorum queues with a delivery limit, direct
//! reply-to and pipelined confirms).
//! The same script against RabbitMQ 3.10.8 observes the same results (see the README).
//!
//! Needs only `python3` (3.11 or later; `PYTHON` names another interpreter): on first
//! use the test makes a virtual environment under `target/tmp/interop-venv` and
//! installs the pinned clients there with pip (one log line says so); later runs reuse
//! it. The server listens on `127.0.0.1:0`; everything has a hard timeout. With the
//! `tls` feature the same clients connect over `amqps` too (`tests/python/tls.py`).
#![cfg(feature = "server")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod amqp_common;

use amqp_common::netns::{WAIT_FOR_PORTS, netns_switch};
use amqp_common::python::python_with_clients;
use amqp_common::serve;

#[test]
fn pika_and_aiormq_scenarios() {
    let python = python_with_clients();
    let (_server, addr) = serve(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/interop.py");
    let mut child = Command::new(&python)
        .args([script, "--url", &format!("amqp://guest:guest@{addr}/")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run interop.py");
    // interop.py kills itself after 240 s; this is the outer bound.
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("interop: {line}");
            all.push_str(&line);
            all.push('\n');
        }
        let _ = tx.send(all);
    });
    let output = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("interop.py finishes within 300 s");
    let status = child.wait().expect("interop.py exit status");
    assert!(
        status.success() && output.contains("17 passed, 0 failed"),
        "interop scenarios failed:\n{output}"
    );
}

/// pika and aiormq over `amqps` (`tests/python/tls.py`) against `serve --tls-listen`
/// with certificates made here (rcgen): PLAIN without and with a client certificate,
/// EXTERNAL with one (pika's `ExternalCredentials`; aiormq's `auth=external` with an
/// `ssl.SSLContext` and with the files in the URL), and EXTERNAL refused without one.
#[cfg(feature = "tls")]
#[test]
fn pika_and_aiormq_over_tls() {
    use amqp_common::serve_tls;
    use amqp_common::tls::Pki;

    let python = python_with_clients();
    let pki = Pki::new("python");
    let client = pki.client("app");
    let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_string();
    let (ca, cert, key) = (path(&pki.ca), path(&client.cert), path(&client.key));
    let (server_cert, server_key) = (path(&pki.server_cert), path(&pki.server_key));
    let (_server, _plain, tls) = serve_tls(&[
        "--user",
        "app:app-secret",
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        &server_cert,
        "--tls-key",
        &server_key,
        "--tls-ca",
        &ca,
        "--tls-verify",
        "verify_peer",
    ]);
    let port = tls.rsplit(':').next().expect("a port");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/tls.py");
    let child = Command::new(&python)
        .arg(script)
        .args(["--host", "127.0.0.1", "--port", port])
        .args(["--ca", &ca, "--cert", &cert, "--key", &key])
        .args(["--user", "app:app-secret"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tls.py");
    // tls.py kills itself after 120 s; this is the outer bound.
    let (ok, out) = finish(child, "tls", Duration::from_secs(150));
    assert!(
        ok && out.contains("8 passed, 0 failed"),
        "TLS scenarios failed:\n{out}"
    );
}

/// Runs the shell `script` (with `args` as `$1`...) in a private network namespace of
/// its own (`unshare --net --map-root-user`: its own loopback, nothing leaves it), in
/// `dir`, for at most 120 s; returns whether it succeeded and its output.
fn in_private_network(
    script: &str,
    dir: &Path,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &std::ffi::OsStr)],
) -> (bool, String) {
    let child = Command::new("timeout")
        .args([
            "120",
            "unshare",
            "--net",
            "--map-root-user",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare (util-linux) for a private network namespace");
    finish(child, "netns", Duration::from_secs(150))
}

/// The seed's URL: its user and password, `localhost`, the default port.
const SEED_URL: &str = "amqp://rabbitmqlogin:rabbitmqpassword@localhost/";

/// `tests/python/seed/` holds the seed's consumer and publisher byte for byte, as
/// `../shared/tools/rabbit/` keeps them; where that directory is beside the repository
/// (CI), the copies are checked equal to it.
fn seed_script(name: &str) -> String {
    let ours = format!("{}/tests/python/seed/{name}", env!("CARGO_MANIFEST_DIR"));
    let shared = format!(
        "{}/../shared/tools/rabbit/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    match std::fs::read(&shared) {
        Ok(theirs) => assert!(
            std::fs::read(&ours).expect("the seed script") == theirs,
            "{ours} differs from {shared}: the seed's scripts are kept unchanged"
        ),
        Err(_) => eprintln!("seed: {shared} is not here; running the copy in tests/python/seed"),
    }
    ours
}

/// Waits for `child` with a bound; returns its exit status and its whole output.
fn finish(mut child: std::process::Child, what: &str, limit: Duration) -> (bool, String) {
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        let what = what.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("{what}: {line}");
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let deadline = std::time::Instant::now() + limit;
    let mut all = String::new();
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        all.push_str(&line);
        all.push('\n');
    }
    if std::time::Instant::now() >= deadline {
        let _ = child.kill();
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    (ok, all)
}

/// The seed's aiormq consumer, unchanged, receives and acks what the seed's pika
/// publisher sends to `serve --user rabbitmqlogin:rabbitmqpassword`; the URL is the
/// seed's with this server's port (the private-network test below uses it exactly).
#[test]
fn seed_consumer_unchanged() {
    let python = python_with_clients();
    let (_server, addr) = serve(&["--user", "rabbitmqlogin:rabbitmqpassword"]);
    let port = addr.rsplit(':').next().expect("a port");
    let url = SEED_URL.replace("localhost/", &format!("localhost:{port}/"));
    let mut consumer = Command::new(&python)
        .arg(seed_script("seed_consumer.py"))
        .args(["--url", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run seed_consumer.py");
    // Publish once the consumer says it consumes (the publisher is mandatory).
    let mut lines = BufReader::new(consumer.stdout.take().expect("stdout")).lines();
    let ready = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(ready, "consumer ready", "the consumer did not start");
    let publisher = Command::new(&python)
        .arg(seed_script("seed_publisher.py"))
        .args(["--url", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run seed_publisher.py");
    let (published, out) = finish(publisher, "publisher", Duration::from_secs(60));
    assert!(published, "the seed's publisher failed:\n{out}");
    let mut received = Vec::new();
    for line in lines.map_while(Result::ok) {
        eprintln!("consumer: {line}");
        received.push(line);
    }
    let status = consumer.wait().expect("consumer exit status");
    assert!(status.success(), "the seed's consumer failed: {received:?}");
    assert_eq!(
        received,
        [
            " [x] Received message b'Hello World! #1'",
            " [x] Received message b'Hello World! #2'",
            " [x] Received message b'Hello World! #3'",
            "received 3 messages",
        ]
    );
    // Acked, not requeued at close: the queue is empty.
    let left = Command::new(&python)
        .args(["-c", LEFT_IN_TEST_QUEUE, &url])
        .output()
        .expect("count what is left");
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "left in test_queue: 0"
    );
}

/// Prints `test_queue`'s ready count (argv[1] is the URL).
const LEFT_IN_TEST_QUEUE: &str = "import sys, pika
c = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
print('left in test_queue:', c.channel().queue_declare('test_queue', passive=True).method.message_count)
c.close()";

/// The seed's story exactly as a newcomer runs it, in a private network namespace (its
/// own loopback, so port 5672 is free and nothing leaves it): `trackswitch serve --user
/// rabbitmqlogin:rabbitmqpassword` with its default listener, the seed's consumer at
/// the seed's URL, `localhost` answered on 127.0.0.1 and ::1. Needs `unshare` and
/// `ip` (util-linux, iproute2) and user namespaces: runs with
/// `TRACKSWITCH_TEST_NETNS=1` (`.ci/run` sets it).
#[test]
fn seed_url_in_a_private_network() {
    if !netns_switch("seed_url_in_a_private_network") {
        return;
    }
    let python = python_with_clients();
    let script = r#"
set -eu
ip link set lo up
# The seed's command as a new user runs it (the default data directory, here in
# this test's working directory), from an empty directory every run.
rm -rf trackswitch-data
"$1" serve --user rabbitmqlogin:rabbitmqpassword 2> server.log &
server=$!
trap 'kill $server 2>/dev/null; sed "s/^/server: /" server.log' EXIT
"$2" -c "$WAIT" 127.0.0.1:5672 ::1:5672
: > consumer.out
"$2" "$3" --url "$5" > consumer.out &
consumer=$!
i=0
until grep -q "consumer ready" consumer.out; do
    i=$((i+1)); [ $i -lt 300 ] || { echo "consumer not ready"; cat consumer.out; exit 1; }
    sleep 0.1
done
"$2" "$4" --url "$5"
wait $consumer
cat consumer.out
"$2" -c "$6" "$5"
"#;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seed-netns");
    std::fs::create_dir_all(&dir).expect("a working directory");
    let _ = std::fs::remove_file(dir.join("consumer.out"));
    let (ok, out) = in_private_network(
        script,
        &dir,
        &[
            env!("CARGO_BIN_EXE_trackswitch").as_ref(),
            python.as_os_str(),
            seed_script("seed_consumer.py").as_ref(),
            seed_script("seed_publisher.py").as_ref(),
            SEED_URL.as_ref(),
            LEFT_IN_TEST_QUEUE.as_ref(),
        ],
        &[
            ("TRACKSWITCH_LOG", "info".as_ref()),
            ("WAIT", WAIT_FOR_PORTS.as_ref()),
        ],
    );
    assert!(ok, "the seed's story in a private network failed:\n{out}");
    for want in [
        "listening on 127.0.0.1",
        "listening on ::1",
        " [x] Sent b'Hello World! #3'",
        " [x] Received message b'Hello World! #1'",
        " [x] Received message b'Hello World! #3'",
        "received 3 messages",
        "listening addr=127.0.0.1:5672",
        "listening addr=[::1]:5672",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    assert!(
        out.contains("left in test_queue: 0"),
        "messages left in test_queue:\n{out}"
    );
}

/// Logs in with pika as argv[2]:argv[3] at argv[1] (host:port); prints `ok USER` or
/// `refused USER`.
const TRY_LOGIN: &str = "import sys, pika
host, port = sys.argv[1].rsplit(':', 1)
p = pika.ConnectionParameters(host, int(port), credentials=pika.PlainCredentials(sys.argv[2], sys.argv[3]), connection_attempts=1, socket_timeout=5)
try:
    pika.BlockingConnection(p).close()
    print('ok', sys.argv[2])
except pika.exceptions.ProbableAuthenticationError:
    print('refused', sys.argv[2])";

/// Issue 12, finding 4: `loopback_users` (default `["guest"]`) holds users to loopback
/// by name, whoever defines them, as RabbitMQ does. In a private network namespace
/// (nothing leaves it), the server listens on 10.200.0.1, an address added to the
/// namespace's own `lo`, so a client there connects from a non-loopback address.
/// Runs with `TRACKSWITCH_TEST_NETNS=1` (`.ci/run` sets it).
#[test]
fn guest_is_held_to_loopback_by_name() {
    if !netns_switch("guest_is_held_to_loopback_by_name") {
        return;
    }
    let python = python_with_clients();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loopback-users");
    std::fs::create_dir_all(&dir).expect("a working directory");
    let configs = [
        (
            "listed.json",
            r#"{"users": [{"name": "guest", "password": "guest"}, {"name": "app", "password": "pw"}]}"#,
        ),
        (
            "opened.json",
            r#"{"users": [{"name": "guest", "password": "guest"}], "loopback_users": []}"#,
        ),
        (
            "app-held.json",
            r#"{"users": [{"name": "app", "password": "pw"}], "loopback_users": ["app"]}"#,
        ),
    ];
    for (name, text) in configs {
        std::fs::write(dir.join(name), text).expect("write a config");
    }
    let script = r#"
set -eu
ip link set lo up
ip addr add 10.200.0.1/32 dev lo
run() {
    "$1" serve --in-memory --listen "$3" --config "$2" 2> server.log &
    server=$!
    "$PY" -c "$WAIT" "$3" > /dev/null
    shift 3
    for cred in "$@"; do
        "$PY" -c "$LOGIN" "$ADDR" "${cred%%:*}" "${cred#*:}" | sed "s/^/$CASE: /"
    done
    kill $server; wait $server 2>/dev/null || true
}
ADDR=10.200.0.1:5672
CASE=listed run "$BIN" listed.json "$ADDR" guest:guest app:pw
CASE=opened run "$BIN" opened.json "$ADDR" guest:guest
CASE=app-held run "$BIN" app-held.json "$ADDR" app:pw
ADDR=127.0.0.1:5673
CASE=loopback run "$BIN" listed.json "$ADDR" guest:guest
"#;
    let (ok, out) = in_private_network(
        script,
        &dir,
        &[],
        &[
            ("BIN", env!("CARGO_BIN_EXE_trackswitch").as_ref()),
            ("PY", python.as_os_str()),
            ("LOGIN", TRY_LOGIN.as_ref()),
            ("WAIT", WAIT_FOR_PORTS.as_ref()),
        ],
    );
    assert!(ok, "the loopback_users scenarios failed:\n{out}");
    for want in [
        "listed: refused guest",
        "listed: ok app",
        "opened: ok guest",
        "app-held: refused app",
        "loopback: ok guest",
    ] {
        assert!(out.lines().any(|l| l == want), "no {want:?} in:\n{out}");
    }
}
