//! What the lapin tests share: a server on `127.0.0.1:0` with its broker, bounded
//! waits, and small helpers.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::future::{Future, poll_fn};
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_core::Stream;
use lapin::options::*;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::time::timeout;
use trackswitch::amqp::{ServerConfig, ShutdownHandle};
use trackswitch::broker::Broker;

pub(crate) mod netns;
pub(crate) mod python;
pub(crate) mod raw;
#[cfg(feature = "tls")]
pub(crate) mod tls;

pub(crate) const LIMIT: Duration = Duration::from_secs(20);

pub(crate) struct TestServer {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) broker: Broker,
    stop: ShutdownHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub(crate) async fn start() -> TestServer {
        TestServer::with_config(ServerConfig::default()).await
    }

    /// A server with `config` (see [`raw::start`]).
    pub(crate) async fn with_config(config: ServerConfig) -> TestServer {
        let (addr, broker, stop, task) = raw::start(config).await;
        TestServer {
            addr,
            broker,
            stop,
            task,
        }
    }

    pub(crate) fn uri(&self, query: &str) -> String {
        format!("amqp://guest:guest@{}/%2f{query}", self.addr)
    }

    pub(crate) async fn connect(&self, query: &str) -> Connection {
        within(Connection::connect(
            &self.uri(query),
            ConnectionProperties::default(),
        ))
        .await
        .expect("connect")
    }

    pub(crate) async fn stop(self) {
        self.stop.shutdown();
        timeout(LIMIT, self.task)
            .await
            .expect("server stops in time")
            .expect("join")
            .expect("run");
    }
}

/// Awaits `f` at most [`LIMIT`].
pub(crate) async fn within<F: Future>(f: F) -> F::Output {
    timeout(LIMIT, f).await.expect("timed out")
}

pub(crate) fn s(text: &str) -> ShortString {
    text.into()
}

pub(crate) async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    within(poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx))).await
}

pub(crate) async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
    mandatory: bool,
) -> Confirmation {
    let options = BasicPublishOptions {
        mandatory,
        ..BasicPublishOptions::default()
    };
    let confirm = within(ch.basic_publish(s(exchange), s(key), options, body, props))
        .await
        .expect("publish");
    within(confirm).await.expect("confirm")
}

/// The reply code of a channel or connection error.
pub(crate) fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(e) => Some(e.get_id()),
        _ => None,
    }
}

/// Kills the server when the test ends, however it ends.
pub(crate) struct ServeProcess(Child);

impl From<Child> for ServeProcess {
    fn from(child: Child) -> ServeProcess {
        ServeProcess(child)
    }
}

impl ServeProcess {
    /// The server's process id.
    pub(crate) fn id(&self) -> u32 {
        self.0.id()
    }

    /// Waits up to `limit` for the server to exit; its exit status, if it did.
    pub(crate) fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `trackswitch serve` with `args` on a free loopback port; returns it and its
/// address.
pub(crate) fn serve(args: &[&str]) -> (ServeProcess, String) {
    serve_with_env(args, &[])
}

/// [`serve`] with environment variables set for the server.
pub(crate) fn serve_with_env(args: &[&str], env: &[(&str, &str)]) -> (ServeProcess, String) {
    let (server, listening) = spawn_serve(args, env);
    let addr = loop {
        match listening.recv_timeout(Duration::from_secs(30)) {
            Ok((addr, false)) => break addr,
            Ok((_, true)) => {}
            Err(_) => panic!("the server reports its address within 30 s"),
        }
    };
    (server, addr)
}

/// [`serve`] with a TLS listener too (`args` name it: `--tls-listen 127.0.0.1:0`,
/// the certificate and key); returns the plain and the TLS address.
pub(crate) fn serve_tls(args: &[&str]) -> (ServeProcess, String, String) {
    let (server, listening) = spawn_serve(args, &[]);
    let (mut plain, mut tls) = (None, None);
    while plain.is_none() || tls.is_none() {
        match listening.recv_timeout(Duration::from_secs(30)) {
            Ok((addr, true)) => tls = tls.or(Some(addr)),
            Ok((addr, false)) => plain = plain.or(Some(addr)),
            Err(_) => panic!("the server reports its plain and TLS addresses within 30 s"),
        }
    }
    (server, plain.expect("plain"), tls.expect("tls"))
}

/// Starts `trackswitch serve --listen 127.0.0.1:0 ARGS`; the receiver gets each
/// loopback address it logs as listening, with whether it is a TLS listener
/// (`listening addr=127.0.0.1:PORT tls=true`).
fn spawn_serve(
    args: &[&str],
    env: &[(&str, &str)],
) -> (ServeProcess, mpsc::Receiver<(String, bool)>) {
    // Nothing kept unless the test names a data directory (tests run side by side;
    // the default directory would be shared).
    let in_memory: &[&str] = if args.contains(&"--data-dir") {
        &[]
    } else {
        &["--in-memory"]
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--management",
            "127.0.0.1:0",
        ])
        .args(in_memory)
        .args(args)
        .envs(env.iter().copied())
        .env("TRACKSWITCH_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trackswitch serve");
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("server: {line}");
                if line.contains("listening") {
                    if let Some(addr) = line
                        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '=')
                        .find(|w| w.starts_with("127.0.0.1:"))
                    {
                        let _ = tx.send((addr.to_string(), line.contains("tls=true")));
                    }
                }
            }
        });
    }
    (ServeProcess(child), rx)
}
