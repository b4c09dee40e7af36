//! Durability of `trackswitch serve` (CONFORMANCE S01-S05 on the wire): `kill -9` while
//! publishers wait for confirms loses no confirmed message and invents none; two
//! servers on one data directory; the default data directory and `--in-memory`; low
//! disk blocks publishers. Servers listen on `127.0.0.1:0`; rounds and waits are
//! bounded.
#![cfg(feature = "server")]

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable as LapinTable;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use trackswitch::amqp::{Limits, ServerConfig};
use trackswitch::broker::Broker;

mod amqp_common;

use amqp_common::netns::{WAIT_FOR_PORTS, netns_switch};
use amqp_common::python::python_with_clients;
use amqp_common::raw::*;
use amqp_common::{s, serve, within};

fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-durability-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn connect(addr: &str) -> Connection {
    within(Connection::connect(
        &format!("amqp://guest:guest@{addr}/%2f"),
        ConnectionProperties::default(),
    ))
    .await
    .expect("connect")
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// What the publisher of one round did.
#[derive(Default)]
struct Ledger {
    /// Ids published (whatever became of them).
    published: HashSet<u64>,
    /// Ids the server confirmed (acks).
    confirmed: HashSet<u64>,
    /// Ids a consumer took and acked before the crash (they may come back: acks are
    /// not synced, delivery is at least once).
    acked: HashSet<u64>,
}

/// Publishes persistent messages (their ids as bodies) with confirms, 64 in flight,
/// until the connection fails; a second channel takes and acks some.
async fn publish_until_killed(addr: String, next: u64, ledger: Arc<Mutex<Ledger>>) {
    let conn = connect(&addr).await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.queue_declare(s("crash"), durable(), LapinTable::default()))
        .await
        .unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let taker = within(conn.create_channel()).await.unwrap();
    let mut window = VecDeque::new();
    let props = BasicProperties::default().with_delivery_mode(2);
    for id in next.. {
        ledger.lock().unwrap().published.insert(id);
        let Ok(Ok(confirm)) = tokio::time::timeout(
            Duration::from_secs(5),
            ch.basic_publish(
                s(""),
                s("crash"),
                BasicPublishOptions::default(),
                id.to_string().as_bytes(),
                props.clone(),
            ),
        )
        .await
        else {
            return;
        };
        window.push_back((id, confirm));
        if window.len() >= 64 {
            let (id, confirm) = window.pop_front().expect("full");
            match tokio::time::timeout(Duration::from_secs(5), confirm).await {
                Ok(Ok(Confirmation::Ack(_))) => {
                    ledger.lock().unwrap().confirmed.insert(id);
                }
                _ => return,
            }
        }
        if id % 10 == 0 {
            let got = tokio::time::timeout(
                Duration::from_secs(5),
                taker.basic_get(s("crash"), BasicGetOptions::default()),
            )
            .await;
            if let Ok(Ok(Some(m))) = got {
                let taken: u64 = std::str::from_utf8(&m.delivery.data)
                    .unwrap()
                    .parse()
                    .unwrap();
                if m.delivery
                    .acker
                    .ack(BasicAckOptions::default())
                    .await
                    .is_err()
                {
                    return;
                }
                ledger.lock().unwrap().acked.insert(taken);
            }
        }
    }
}

/// S03: three rounds of publishing with confirms, each ended by `kill -9` once some
/// hundreds more are confirmed; then every confirmed message that was not acked is
/// there, every message there was published, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_s03_kill_9_loses_no_confirmed_message_and_invents_none() {
    let dir = data_dir("kill9");
    let dir_arg = dir.to_str().unwrap().to_string();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut next = 0u64;
    for round in 0..3u64 {
        let (server, addr) = serve(&["--data-dir", &dir_arg]);
        let target = ledger.lock().unwrap().confirmed.len() + 300 + 200 * round as usize;
        let task = tokio::spawn(publish_until_killed(addr, next, Arc::clone(&ledger)));
        let deadline = Instant::now() + Duration::from_secs(60);
        while ledger.lock().unwrap().confirmed.len() < target {
            assert!(
                Instant::now() < deadline,
                "round {round}: too few confirms in 60 s"
            );
            assert!(!task.is_finished(), "round {round}: the publisher stopped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(server); // SIGKILL, then wait for it
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        next = ledger
            .lock()
            .unwrap()
            .published
            .iter()
            .max()
            .map_or(0, |m| m + 1);
    }
    let (_server, addr) = serve(&["--data-dir", &dir_arg]);
    let conn = connect(&addr).await;
    let ch = within(conn.create_channel()).await.unwrap();
    let mut there = Vec::new();
    while let Some(m) = within(ch.basic_get(s("crash"), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
    {
        there.push(
            std::str::from_utf8(&m.delivery.data)
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    let l = ledger.lock().unwrap();
    let set: HashSet<u64> = there.iter().copied().collect();
    assert_eq!(set.len(), there.len(), "a message came back twice");
    let invented: Vec<_> = set.difference(&l.published).collect();
    assert!(invented.is_empty(), "never published: {invented:?}");
    let lost: Vec<_> = l
        .confirmed
        .difference(&l.acked)
        .filter(|id| !set.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} confirmed messages lost: {lost:?}",
        lost.len()
    );
    assert!(l.confirmed.len() >= 1_200);
    drop(l);
    drop(conn);
    drop(_server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `trackswitch serve ARGS` in `cwd` and returns its stderr lines up to the
/// listening line (or its exit), and the process (killed on drop).
fn start_logged(cwd: &Path, args: &[&str]) -> (amqp_common::ServeProcess, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .current_dir(cwd)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--management",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("TRACKSWITCH_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start trackswitch serve");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("server: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let done = line.contains("listening") || line.contains("error");
        lines.push(line);
        if done {
            break;
        }
    }
    (child.into(), lines)
}

#[test]
fn the_default_data_directory_is_made_in_the_working_directory_and_logged() {
    let cwd = data_dir("default");
    std::fs::create_dir_all(&cwd).unwrap();
    let (server, lines) = start_logged(&cwd, &[]);
    assert!(cwd.join("trackswitch-data").join("defs.log").exists());
    assert!(
        lines
            .iter()
            .any(|l| l.contains("data directory opened") && l.contains("trackswitch-data")),
        "{lines:?}"
    );
    // A second server on the same directory refuses to start, and says why.
    let out = Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .current_dir(&cwd)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--management",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another trackswitch broker"),
        "{err}"
    );
    drop(server);
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn in_memory_keeps_nothing_and_says_so() {
    let cwd = data_dir("in-memory");
    std::fs::create_dir_all(&cwd).unwrap();
    let (server, lines) = start_logged(&cwd, &["--in-memory"]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("nothing is kept across restarts")),
        "{lines:?}"
    );
    assert!(!cwd.join("trackswitch-data").exists());
    drop(server);
    std::fs::remove_dir_all(&cwd).unwrap();
}

/// S05: free disk under `disk_free_limit` blocks a publisher with
/// `connection.blocked` ("low on disk"), after its publish, as RabbitMQ's disk alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_s05_low_disk_blocks_publishers() {
    let dir = data_dir("low-disk");
    let broker = Broker::builder()
        .data_dir(&dir)
        .disk_free_limit(u64::MAX)
        .open()
        .unwrap();
    let config = ServerConfig {
        limits: Limits {
            disk_free_limit: u64::MAX,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (addr, _broker, stop, task) = start_with(broker, config).await;
    let mut publisher = TcpStream::connect(addr).await.unwrap();
    let mut bytes = handshake_blocked_capable(131_072, 0);
    bytes.extend(channel_open(1));
    bytes.extend(declare_queue(1, "q"));
    bytes.extend(publish(1, "q", None, b"m", 1));
    publisher.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    read_until(&mut publisher, &mut got, |fs| {
        fs.iter()
            .any(|(kind, ch, p)| *kind == 1 && *ch == 0 && ids(p) == (10, 60))
    })
    .await;
    let blocked = frames(&got)
        .into_iter()
        .find(|(kind, ch, p)| *kind == 1 && *ch == 0 && ids(p) == (10, 60))
        .unwrap();
    assert!(
        blocked.2.windows(11).any(|w| w == b"low on disk"),
        "{:?}",
        String::from_utf8_lossy(&blocked.2)
    );
    stop.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `tests/python/durability.py ARGS` (pika) to its end (bounded), returns whether
/// it passed and its output.
fn durability_py(python: &Path, args: &[&str]) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/durability.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run durability.py");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status.success(), text);
        }
        assert!(
            Instant::now() < deadline,
            "durability.py {args:?} within 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// S01 and S02 as RabbitMQ 3.10.8 answers them (the same script passes against it, a
/// node stopped and started, see `docs/rabbitmq-3.10.8-wire-facts.md` section 14):
/// setup, SIGTERM (the server closes its connections, syncs and exits 0), start on the
/// same directory, check.
#[test]
fn c_s01_s02_graceful_restart_keeps_what_rabbitmq_keeps() {
    let python = python_with_clients();
    let dir = data_dir("py-graceful");
    let dir_arg = dir.to_str().unwrap().to_string();
    let state = dir.with_extension("state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let (mut server, addr) = serve(&["--data-dir", &dir_arg]);
    let url = format!("amqp://guest:guest@{addr}/");
    let (ok, out) = durability_py(
        &python,
        &["--phase", "setup", "--url", &url, "--state", &state_arg],
    );
    assert!(ok, "setup failed:\n{out}");
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = server
        .wait_for_exit(Duration::from_secs(30))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
    check_after_restart(&python, &dir, &state, "graceful");
}

/// Starts the server again on `dir` and runs the check phase for a `restart`
/// (`graceful` or `kill`); cleans up after it.
fn check_after_restart(python: &Path, dir: &Path, state: &Path, restart: &str) {
    let (_server, addr) = serve(&["--data-dir", dir.to_str().unwrap()]);
    let url = format!("amqp://guest:guest@{addr}/");
    let state_arg = state.to_str().unwrap();
    let (ok, out) = durability_py(
        python,
        &[
            "--phase",
            "check",
            "--restart",
            restart,
            "--url",
            &url,
            "--state",
            state_arg,
        ],
    );
    assert!(ok, "check failed:\n{out}");
    eprintln!("{out}");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(state);
}

/// The same across `kill -9` while the setup's client is still connected (m1
/// unacked, a consumer on the auto-delete queue): after the crash every message of a
/// classic queue is redelivered, and the auto-delete queue whose consumer never left
/// is still there, as RabbitMQ 3.10.8 answers.
#[test]
fn c_s01_s02_kill_9_keeps_what_rabbitmq_keeps() {
    let python = python_with_clients();
    let dir = data_dir("py-kill");
    let dir_arg = dir.to_str().unwrap().to_string();
    let state = dir.with_extension("state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let (server, addr) = serve(&["--data-dir", &dir_arg]);
    let url = format!("amqp://guest:guest@{addr}/");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/durability.py");
    let mut setup = Command::new(&python)
        .args([
            script, "--phase", "setup", "--json", "--hold", "60", "--url", &url, "--state",
            &state_arg,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run durability.py");
    // Its result line comes before the hold.
    let stdout = setup.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("setup reports");
    assert!(line.contains("\"failed\": 0"), "setup failed: {line}");
    drop(server); // SIGKILL with the client connected
    let _ = setup.kill();
    let _ = setup.wait();
    check_after_restart(&python, &dir, &state, "kill");
}

/// Publishes 4 KB persistent messages to the durable queue `full` with confirms, one
/// at a time, printing `published ID` before and `confirmed ID` after each, until the
/// connection fails or 4,000 went out.
const FILL_DISK: &str = r#"
import pika, sys
url = "amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=0"
c = pika.BlockingConnection(pika.URLParameters(url))
ch = c.channel()
ch.queue_declare("full", durable=True)
ch.confirm_delivery()
for i in range(4000):
    print("published", i, flush=True)
    try:
        ch.basic_publish("", "full", str(i).encode().ljust(4096, b" "),
                         pika.BasicProperties(delivery_mode=2))
    except Exception as e:
        print("stopped", type(e).__name__, flush=True)
        break
    print("confirmed", i, flush=True)
"#;

/// Takes every message of `full`, printing `recovered ID` for each.
const DRAIN_FULL: &str = r#"
import pika
c = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
ch = c.channel()
while True:
    m, props, body = ch.basic_get("full", auto_ack=True)
    if m is None:
        break
    print("recovered", int(body.decode().strip()), flush=True)
"#;

/// S05: the data directory on a 4 MiB tmpfs (a private mount and network namespace;
/// nothing leaves it) fills up while a publisher waits for each confirm: the failed
/// write confirms nothing and blocks the publisher; after `kill -9` and room made,
/// every confirmed message is there and none that was not published.
#[test]
fn c_s05_a_full_disk_never_confirms_unwritten_data() {
    if !netns_switch("c_s05_a_full_disk_never_confirms_unwritten_data") {
        return;
    }
    let python = python_with_clients();
    let dir = data_dir("enospc");
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
set -eu
ip link set lo up
mkdir -p disk
mount -t tmpfs -o size=4m tmpfs disk
printf '{"limits": {"disk_free_limit": 0}}' > cfg.json
"$BIN" serve --listen 127.0.0.1:5672 --data-dir disk/data --config cfg.json 2> server1.log &
s=$!
"$PY" -c "$WAIT" 127.0.0.1:5672 > /dev/null
# The publisher waits for each confirm; once the disk is full none comes (the write
# failed), so it stalls: stop when its output stops growing for 2 s.
"$PY" -c "$FILL" > fill.out 2>&1 &
p=$!
last=-1
while :; do
    sleep 2
    n=$(wc -l < fill.out)
    [ "$n" = "$last" ] && break
    last=$n
done
df -k disk | tail -1 | sed 's/^/full: /'
kill -9 $s; wait $s 2> /dev/null || true
wait $p 2> /dev/null || true
mount -o remount,size=64m disk
"$BIN" serve --listen 127.0.0.1:5672 --data-dir disk/data --config cfg.json 2> server2.log &
s=$!
"$PY" -c "$WAIT" 127.0.0.1:5672 > /dev/null
"$PY" -c "$DRAIN" > drain.out
kill $s; wait $s 2> /dev/null || true
cat fill.out drain.out
sed 's/^/server1: /' server1.log | tail -5
sed 's/^/server2: /' server2.log | grep -i 'torn\|damage\|opened' || true
"#;
    let out = Command::new("timeout")
        .args([
            "150",
            "unshare",
            "--net",
            "--mount",
            "--map-root-user",
            "sh",
            "-c",
            script,
        ])
        .env("BIN", env!("CARGO_BIN_EXE_trackswitch"))
        .env("PY", &python)
        .env("WAIT", WAIT_FOR_PORTS)
        .env("FILL", FILL_DISK)
        .env("DRAIN", DRAIN_FULL)
        .current_dir(&dir)
        .output()
        .expect("run unshare (util-linux) for private mount and network namespaces");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the namespace script failed:\n{text}");
    let ids = |what: &str| -> HashSet<u64> {
        text.lines()
            .filter_map(|l| l.strip_prefix(what))
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    };
    let (published, confirmed, recovered) =
        (ids("published "), ids("confirmed "), ids("recovered "));
    assert!(
        confirmed.len() >= 100,
        "{} confirmed:\n{text}",
        confirmed.len()
    );
    assert!(
        confirmed.len() < published.len(),
        "the disk never filled:\n{text}"
    );
    eprintln!(
        "published {}, confirmed {}, recovered {}; {}",
        published.len(),
        confirmed.len(),
        recovered.len(),
        text.lines()
            .filter(|l| l.starts_with("full:") || l.contains("torn"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let lost: Vec<_> = confirmed.difference(&recovered).collect();
    assert!(lost.is_empty(), "confirmed but lost: {lost:?}\n{text}");
    let invented: Vec<_> = recovered.difference(&published).collect();
    assert!(invented.is_empty(), "never published: {invented:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
