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
//! it. The server listens on `127.0.0.1:0`; everything has a hard timeout.
#![cfg(feature = "server")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod amqp_common;

use amqp_common::serve;

/// The clients the scenarios were compared with on RabbitMQ 3.10.8, pinned.
const CLIENTS: [&str; 2] = ["pika==1.4.4", "aiormq==7.2.4"];

/// Runs `cmd` to completion; panics with `what` and its output if it fails.
fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python interpreter with the pinned clients: a virtual environment of the test's
/// own under `target/tmp`, made (and the clients installed with pip) on first use.
fn python_with_clients() -> PathBuf {
    let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if let Err(e) = Command::new(&base).arg("--version").output() {
        panic!(
            "the interop test needs Python 3.11+: install python3 (or set PYTHON=/path/to/python3): {e}"
        );
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv");
    let python = venv.join("bin").join("python3");
    let marker = venv.join(format!(
        "installed-{}",
        CLIENTS.join("-").replace("==", "-")
    ));
    if marker.exists() {
        eprintln!("interop: {} from {}", CLIENTS.join(", "), venv.display());
        return python;
    }
    eprintln!(
        "interop: first run: installing {} with pip into {}",
        CLIENTS.join(", "),
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    let mut make = Command::new(&base);
    make.args(["-m", "venv"]).arg(&venv);
    run(make, &format!("{base} -m venv"));
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .args(CLIENTS);
    run(pip, "pip install of the interop clients");
    std::fs::write(&marker, CLIENTS.join("\n")).expect("mark the environment complete");
    python
}

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
