//! Real Python clients against the `trackswitch serve` binary: the pika (blocking) and
//! aiormq scenarios of `tests/python/interop.py` (publish/consume with manual ack,
//! prefetch, nack with requeue, confirms, mandatory return, topic routing, exclusive
//! queues and channel errors, the seed's aiormq consumer fed by a pika publisher,
//! transactions, idempotent unbind, a 17 MiB message, the default exchange declared,
//! channel numbers against channel_max, quorum queues with a delivery limit, direct
//! reply-to and pipelined confirms).
//! The same script against RabbitMQ 3.10.8 observes the same results (see the README).
//!
//! Needs `python3` with `pika` and `aiormq` (`pip install pika==1.4.4 aiormq==7.2.4`;
//! `.ci/run` installs them). The server listens on `127.0.0.1:0`; everything has a
//! hard timeout.
#![cfg(feature = "server")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod amqp_common;

use amqp_common::serve;

#[test]
fn pika_and_aiormq_scenarios() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let check = Command::new(&python)
        .args(["-c", "import pika, aiormq"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        check.success(),
        "python3 needs pika and aiormq: pip install pika==1.4.4 aiormq==7.2.4"
    );
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
