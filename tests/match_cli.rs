//! Black-box tests of `trackswitch match`: the RabbitMQ oracle's recorded cases in
//! `tests/data/rabbit/` (recorded from RabbitMQ 3.10.8 by `shared/tools/rabbit/oracle.py`;
//! see the README there), plus stdin input, defaults, lone surrogates and error exits.

#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_trackswitch");

/// Runs the binary with `args`, feeding it `stdin`.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trackswitch");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    // The binary may exit before reading everything (e.g. on a usage error).
    let _ = pipe.write_all(stdin);
    drop(pipe);
    child.wait_with_output().expect("wait for trackswitch")
}

/// Runs `trackswitch match` with `args` and `stdin`, expecting success; returns the
/// output object.
fn run_match(args: &[&str], stdin: &[u8]) -> Value {
    let out = run(args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    let value: Value = serde_json::from_slice(&out.stdout).expect("output is JSON");
    let fields: Vec<&str> = value
        .as_object()
        .expect("output is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields.len(),
        3,
        "fields {fields:?}: matches, rejected_patterns, rejected_keys"
    );
    value
}

/// The `index` of each entry of `value[field]`; checks each has an `error` text.
fn rejected(value: &Value, field: &str) -> Vec<u64> {
    let list = value[field].as_array().expect("rejected_* is an array");
    list.iter()
        .map(|r| {
            let error = r["error"].as_str().unwrap_or_default();
            assert!(!error.is_empty(), "{field} entry without an error: {r}");
            r["index"].as_u64().expect("index is a number")
        })
        .collect()
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rabbit")
}

/// The cases in `tests/data/rabbit/`: (name, input path, recorded answer).
fn oracle_cases() -> Vec<(String, PathBuf, Value)> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(data_dir()).expect("tests/data/rabbit exists") {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        if stem.ends_with(".expected") {
            continue;
        }
        let expected_path = path.with_file_name(format!("{stem}.expected.json"));
        let expected = std::fs::read(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let expected = blank_surrogates(&expected);
        let expected = serde_json::from_slice(&expected).expect("recorded answer is JSON");
        cases.push((stem.to_owned(), path, expected));
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// `json` with every surrogate escape (`\uD800` to `\uDFFF`) replaced by `\uFFFD`.
///
/// The recorded answers echo the refused patterns and keys, lone surrogates included,
/// and `serde_json` refuses those; only indices and match lists are compared, so the
/// echoed strings may be blanked.
fn blank_surrogates(json: &[u8]) -> Vec<u8> {
    let mut out = json.to_vec();
    let mut i = 0;
    while i < out.len() {
        if out[i] != b'\\' {
            i += 1;
            continue;
        }
        let unit = out
            .get(i + 2..i + 6)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok());
        if out.get(i + 1) == Some(&b'u') && unit.is_some_and(|u| (0xD800..=0xDFFF).contains(&u)) {
            out[i + 2..i + 6].copy_from_slice(b"FFFD");
            i += 6;
        } else {
            i += 2; // an escape: skip the escaped byte, which may be a backslash
        }
    }
    out
}

#[test]
fn match_agrees_with_rabbitmq() {
    let cases = oracle_cases();
    assert!(
        cases.len() >= 5,
        "expected the oracle cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for (name, path, expected) in &cases {
        let path = path.to_str().expect("UTF-8 path");
        let got = run_match(&["match", path], b"");
        for field in ["rejected_patterns", "rejected_keys"] {
            if rejected(&got, field) != rejected(expected, field) {
                failures.push(format!(
                    "{name}: {field}: got {}, RabbitMQ {}",
                    got[field], expected[field]
                ));
            }
        }
        let (got, want) = (&got["matches"], &expected["matches"]);
        let (got_list, want_list) = (got.as_array(), want.as_array());
        match (got_list, want_list) {
            (Some(g), Some(w)) if g.len() == w.len() => {
                for (k, (g, w)) in g.iter().zip(w).enumerate() {
                    if g != w {
                        failures.push(format!("{name}: key {k}: got {g}, RabbitMQ {w}"));
                    }
                }
            }
            _ => failures.push(format!("{name}: matches: got {got}, RabbitMQ {want}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn match_reads_stdin() {
    let hand = data_dir().join("hand.json");
    let input = std::fs::read(&hand).expect("hand.json");
    let from_file = run_match(&["match", hand.to_str().expect("UTF-8 path")], b"");
    for args in [&["match"][..], &["match", "-"]] {
        let got = run_match(args, &input);
        assert_eq!(got, from_file, "{args:?}");
    }
}

#[test]
fn match_defaults_to_topic() {
    let input = br##"{"patterns": ["a.*", "#", "a.b"], "keys": ["a.b", "", "a.*"]}"##;
    let got = run_match(&["match"], input);
    let want: Value = serde_json::from_str(
        r#"{"matches": [[0, 1, 2], [1], [0, 1]], "rejected_patterns": [], "rejected_keys": []}"#,
    )
    .expect("JSON");
    assert_eq!(got, want);
}

/// A lone surrogate escape makes just that string unencodable (as the oracle reports
/// it); a genuine U+FDD0, an escaped backslash before `u` and surrogate pairs are fine.
#[test]
fn match_rejects_lone_surrogates_only() {
    let input = r#"{
        "patterns": ["\ufdd0", "\ud800", "\uFDD0\uD800x", "\ud83d\ude00", "\\ud800",
                     "\udc00", "\ud800\ud800\udc00", "\ud800\n"],
        "keys": ["\ufdd0", "\ud800", "\ud83d\ude00", "😀", "\\ud800", "\ud800\u0041"]
    }"#;
    let got = run_match(&["match"], input.as_bytes());
    assert_eq!(rejected(&got, "rejected_patterns"), [1, 2, 5, 6, 7]);
    assert_eq!(rejected(&got, "rejected_keys"), [1, 5]);
    let want: Value = serde_json::from_str("[[0], null, [3], [3], [4], null]").expect("JSON");
    assert_eq!(got["matches"], want);
}

/// Invalid input: exit status 2, nothing on stdout, one line on stderr.
#[test]
fn match_refuses_bad_input() {
    let bad: &[&str] = &[
        r#"{"patterns": ["a"], "keys": ["a"]"#,
        "",
        "[]",
        r#"{"patterns": ["a"], "keys": ["a"]} x"#,
        r#"{"patterns": "a", "keys": []}"#,
        r#"{"patterns": [1], "keys": []}"#,
        r#"{"patterns": [], "keys": [null]}"#,
        r#"{"patterns": []}"#,
        r#"{"patterns": [], "keys": [], "exchange_type": "headers"}"#,
        r#"{"patterns": [], "keys": [], "exchange_type": 1}"#,
        r#"{"patterns": [], "keys": [], "comment": "extra"}"#,
        r#"{"patterns": ["\u00"], "keys": []}"#,
    ];
    for input in bad {
        let out = run(&["match"], input.as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{input}: {stderr}");
        assert!(out.stdout.is_empty(), "{input}");
        assert_eq!(stderr.lines().count(), 1, "{input}: {stderr}");
        assert!(stderr.starts_with("trackswitch: "), "{input}: {stderr}");
    }
    let out = run(&["match", "tests/data/rabbit/no-such-case.json"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
}

/// Help and usage errors are clap's: help on stdout with status 0, a usage error on
/// stderr with status 2 and nothing on stdout.
#[test]
fn help_and_usage_errors() {
    for (args, want) in [
        (&["--help"][..], "Usage: trackswitch <COMMAND>"),
        (&["help"], "Usage: trackswitch <COMMAND>"),
        (&["-h"], "Usage: trackswitch <COMMAND>"),
        (&["match", "--help"], "Usage: trackswitch match [FILE]"),
        (&["help", "match"], "Usage: trackswitch match [FILE]"),
    ] {
        let out = run(args, b"");
        assert!(out.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(want), "{args:?}: {stdout}");
    }
    for (args, want) in [
        (&[][..], "Usage: trackswitch <COMMAND>"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["match", "--bogus"], "Usage: trackswitch match [FILE]"),
        (
            &["match", "a.json", "b.json"],
            "unexpected argument 'b.json'",
        ),
    ] {
        let out = run(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
