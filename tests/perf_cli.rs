//! `trackswitch perf` against `trackswitch serve` (on `127.0.0.1:0`): it moves the
//! messages it is asked to and reports them, for each exchange type, with confirms,
//! persistent and with many topic bindings; its `--help` documents every flag; the
//! comparison script (`docs/perf/compare.py`, needs `python3` or `PYTHON`) runs and
//! plots. Every run is bounded by its count (and perf's own limits).
#![cfg(feature = "server")]

use std::process::Command;

mod amqp_common;

use amqp_common::serve;

/// Runs `trackswitch perf --json ARGS` against `addr`; its summary.
fn perf(addr: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .args([
            "perf",
            "--json",
            "--url",
            &format!("amqp://guest:guest@{addr}/"),
        ])
        .args(args)
        .output()
        .expect("run trackswitch perf");
    assert!(
        out.status.success(),
        "perf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn perf_moves_and_reports_every_message() {
    let (_server, addr) = serve(&[]);
    // Two producers with confirms, two consumers sharing a queue.
    let v = perf(
        &addr,
        &[
            "--count",
            "3000",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--confirm",
            "100",
        ],
    );
    assert_eq!(count(&v, "sent"), 6000);
    assert_eq!(count(&v, "confirmed"), 6000);
    assert_eq!(count(&v, "received"), 6000);
    assert!(v["latency_p50_us"].as_f64().unwrap() > 0.0);
    assert!(v["latency_p999_us"].as_f64().unwrap() >= v["latency_p50_us"].as_f64().unwrap());
    // Fanout: every consumer gets every message.
    let v = perf(
        &addr,
        &[
            "--count",
            "1000",
            "--consumers",
            "3",
            "--exchange-type",
            "fanout",
        ],
    );
    assert_eq!(count(&v, "sent"), 1000);
    assert_eq!(count(&v, "received"), 3000);
    // Topic with 500 bindings per queue, auto-ack, a rate limit.
    let v = perf(
        &addr,
        &[
            "--count",
            "500",
            "-t",
            "topic",
            "-b",
            "500",
            "--auto-ack",
            "--rate",
            "5000",
        ],
    );
    assert_eq!(count(&v, "received"), 500);
    assert_eq!(v["bindings"], 500);
    // Publish only.
    let v = perf(
        &addr,
        &["--count", "2000", "--consumers", "0", "--confirm", "50"],
    );
    assert_eq!(count(&v, "confirmed"), 2000);
    assert_eq!(count(&v, "received"), 0);
}

#[test]
fn perf_backlog_measures_publish_and_consume_apart() {
    let (server, addr) = serve(&[]);
    let v = perf(
        &addr,
        &[
            "--count",
            "3000",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--confirm",
            "100",
            "--backlog",
            "--server-pid",
            &server.id().to_string(),
        ],
    );
    assert_eq!(count(&v, "sent"), 6000);
    assert_eq!(count(&v, "confirmed"), 6000);
    assert_eq!(count(&v, "received"), 6000);
    assert_eq!(v["backlog"], true);
    assert!(v["consume_seconds"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["server_cpu_us_per_publish"].as_f64().is_some(), "{v}");
    assert!(v["server_cpu_us_per_delivery"].as_f64().is_some(), "{v}");
    // Without --backlog the phases are not apart.
    let v = perf(&addr, &["--count", "100"]);
    assert_eq!(v["backlog"], false);
    assert!(v["server_cpu_us_per_delivery"].is_null(), "{v}");
    // --backlog needs a count.
    let out = Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .args([
            "perf",
            "--backlog",
            "--url",
            &format!("amqp://guest:guest@{addr}/"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn compare_script_runs_both_servers_and_plots() {
    // docs/perf/compare.py with two trackswitch servers in the places of "ours" and
    // "rabbit": one short scenario, then --plot-only redraws from the JSON it wrote.
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let (a, a_addr) = serve(&[]);
    let (b, b_addr) = serve(&[]);
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("perf-compare");
    let _ = std::fs::remove_dir_all(&out_dir);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/perf/compare.py");
    let run = |extra: &[&str]| {
        let out = Command::new(&python)
            .arg(script)
            .args(["--perf", env!("CARGO_BIN_EXE_trackswitch")])
            .args(["--out", out_dir.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("run {python}: {e}"));
        assert!(
            out.status.success(),
            "compare.py {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&[
        "--ours",
        &format!("amqp://guest:guest@{a_addr}/"),
        "--ours-pid",
        &a.id().to_string(),
        "--rabbit",
        &format!("amqp://guest:guest@{b_addr}/"),
        "--rabbit-pid",
        &b.id().to_string(),
        "--count",
        "2000",
        "--quick",
        "--only",
        "end-to-end 1c",
    ]);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("perf-report.json")).unwrap()).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    for side in ["trackswitch", "rabbitmq"] {
        assert_eq!(count(&rows[0][side], "received"), 2000, "{side}: {json}");
    }
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("| end-to-end 1c |"))
            .count(),
        1
    );
    let svg = std::fs::read_to_string(out_dir.join("perf-report.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("end-to-end 1c"),
        "{svg}"
    );
    std::fs::remove_file(out_dir.join("perf-report.svg")).unwrap();
    assert_eq!(run(&["--plot-only"]), table);
    assert!(out_dir.join("perf-report.svg").exists());
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn perf_persistent_with_a_data_directory() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("perf-persistent");
    let _ = std::fs::remove_dir_all(&dir);
    let (server, addr) = serve(&["--data-dir", dir.to_str().unwrap()]);
    let v = perf(
        &addr,
        &[
            "--count",
            "2000",
            "--persistent",
            "--confirm",
            "200",
            "--size",
            "1024",
            "--server-pid",
            &server.id().to_string(),
        ],
    );
    assert_eq!(count(&v, "confirmed"), 2000);
    assert_eq!(count(&v, "received"), 2000);
    assert!(v["server_cpu_us_per_msg"].as_f64().is_some(), "{v}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn perf_refuses_bad_input_with_status_2() {
    for args in [
        &["--url", "http://x/"][..],
        &["--url", "amqp://guest:guest@example.com:5672/"],
        &["--size", "8"],
        &["--count", "5", "--duration", "3"],
        &["--exchange-type", "headers"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_trackswitch"))
            .arg("perf")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn perf_help_documents_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_trackswitch"))
        .args(["perf", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--url",
        "--producers",
        "--consumers",
        "--size",
        "--rate",
        "--confirm",
        "--auto-ack",
        "--prefetch",
        "--persistent",
        "--exchange-type",
        "--bindings",
        "--routing-key",
        "--queue-per-consumer",
        "--count",
        "--backlog",
        "--duration",
        "--keep",
        "--server-pid",
        "--json",
        "--quiet",
    ] {
        let line = help
            .lines()
            .find(|l| {
                let l = l.trim_start();
                l.starts_with(&format!("{flag} ")) || l.contains(&format!(", {flag} "))
            })
            .unwrap_or_else(|| panic!("{flag} missing from:\n{help}"));
        // A description follows the flag (and its value name).
        let words = line
            .split_whitespace()
            .filter(|w| !w.starts_with('-') && !w.starts_with('<'));
        assert!(words.count() >= 3, "{flag} is not described: {line}");
    }
}
